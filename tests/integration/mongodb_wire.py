"""The MongoDB driver at the wire: python3-mockupdb plays the server.

Usage: mongodb_wire.py TOOL TALLYCTL WORKDIR

TOOL is tests/tools/mongo_wire (the driver behind the storage interface);
TALLYCTL runs `tallyctl -c FILE dbsync` on the same server at the end, and
the tallyd beside it stores UDP samples through the database dispatcher
(a refused sample is dead-lettered alone).
The server below keeps just enough state to answer like MongoDB (documents
per collection, the unique key on meter.message_id and event._id, indexes
with their expireAfterSeconds) and logs every command libmongoc sends; the
checks read that log: the exact commands of dbsync, inserts, upserts, TTL
changes and queries, and the driver's answer to duplicate keys, a
NotWritablePrimary, a write-concern timeout, a connection dropped in the
middle of a batch, a malformed reply and a document the server refuses.
Exit 0 when every check passes, 1 with the first failure.
"""
import datetime
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import msgpack

from mockupdb import MockupDB

DB = "tally_test"
T0 = datetime.datetime(2023, 11, 14, 22, 13, 20)


class Fake:
    """A tiny MongoDB: enough state for the driver's commands.

    record=False (bench/mongodb's server) keeps no log and no documents: an
    insert or update is acknowledged with its count at once, nothing refused."""

    def __init__(self, set_name=None, record=True):
        self.set_name = set_name  # a replica set primary, else a standalone
        self.record = record
        self.lock = threading.Lock()
        self.colls = {}  # name -> list of documents
        self.indexes = {}  # name -> {index name: spec}
        self.log = []  # (command name, document)
        self.faults = []  # consumed by inserts into meter
        self.refuse_ids = set()  # message_ids every insert refuses
        self.server = MockupDB(auto_ismaster=False)
        self.server.autoresponds(self.handle)
        self.port = self.server.run()

    def url(self, extra=""):
        return ("mongodb://127.0.0.1:%d/%s?serverSelectionTimeoutMS=2000"
                "&connectTimeoutMS=2000&socketTimeoutMS=3000%s" % (self.port, DB, extra))

    def commands(self, name):
        return [d for n, d in self.log if n == name]

    def handle(self, req):
        doc = req.doc
        name = next(iter(doc))
        lname = name.lower()
        if lname in ("ismaster", "hello"):
            rs = {}
            if self.set_name:
                me = "127.0.0.1:%d" % self.port
                rs = {"setName": self.set_name, "hosts": [me], "me": me, "setVersion": 1,
                      "secondary": False}
            return req.replies(ismaster=True, isWritablePrimary=True, maxWireVersion=9,
                               minWireVersion=0, maxBsonObjectSize=16777216,
                               maxMessageSizeBytes=48000000, maxWriteBatchSize=100000,
                               ok=1, **rs)
        with self.lock:
            if self.record:
                self.log.append((name, doc))
            fn = getattr(self, "cmd_" + name, None)
            if fn is None:
                return req.replies(ok=1)
            return fn(req, doc)

    # --- collections and indexes
    def cmd_create(self, req, doc):
        coll = doc["create"]
        if coll in self.colls:
            return req.command_err(48, "Collection already exists. NS: %s.%s" % (DB, coll))
        self.colls[coll] = []
        self.indexes.setdefault(coll, {"_id_": {"key": {"_id": 1}, "name": "_id_"}})
        return req.replies(ok=1)

    def cmd_createIndexes(self, req, doc):
        coll = doc["createIndexes"]
        self.colls.setdefault(coll, [])
        ix = self.indexes.setdefault(coll, {"_id_": {"key": {"_id": 1}, "name": "_id_"}})
        for spec in doc["indexes"]:
            ix[spec["name"]] = dict(spec)
        return req.replies(ok=1)

    def cmd_listIndexes(self, req, doc):
        coll = doc["listIndexes"]
        if coll not in self.indexes:
            return req.command_err(26, "ns does not exist: %s.%s" % (DB, coll))
        return req.replies(ok=1, cursor={"id": 0, "ns": "%s.%s" % (DB, coll),
                                         "firstBatch": list(self.indexes[coll].values())})

    def cmd_collMod(self, req, doc):
        coll = doc["collMod"]
        key = doc["index"]["keyPattern"]
        for spec in self.indexes.get(coll, {}).values():
            if dict(spec["key"]) == dict(key):
                spec["expireAfterSeconds"] = doc["index"]["expireAfterSeconds"]
                return req.replies(ok=1)
        return req.command_err(27, "cannot find index %r" % (key,))

    def cmd_dropIndexes(self, req, doc):
        self.indexes.get(doc["dropIndexes"], {}).pop(doc["index"], None)
        return req.replies(ok=1)

    # --- writes
    def cmd_insert(self, req, doc):
        coll = doc["insert"]
        docs = doc["documents"]
        if not self.record:
            return req.replies(ok=1, n=len(docs))
        fault = self.faults.pop(0) if coll == "meter" and self.faults else None
        if fault == "notwritable":
            return req.command_err(10107, "not primary", codeName="NotWritablePrimary")
        if fault == "stepdown":
            return req.command_err(189, "primary stepped down", codeName="PrimarySteppedDown")
        if fault == "replchange":
            # per document, as a server in the middle of an election answers
            return req.replies({"ok": 1, "n": 0, "writeErrors": [
                {"index": 0, "code": 11602, "errmsg": "operation was interrupted"}]})
        if fault == "garbage":
            # An OP_MSG that answers another request id with an empty document.
            # (libmongoc 1.23 itself crashes on an OP_MSG with no section, a
            # section longer than the message or an OP_REPLY of zeros: those
            # are not tested here.)
            body = struct.pack("<I", 0) + b"\x00" + struct.pack("<i", 5) + b"\x00"
            op, rt = 2013, req.request_id + 7
            req._client.sendall(struct.pack("<iiii", 16 + len(body), 4242, rt, op) + body)
            return True
        if fault == "malformed":
            # Well-formed BSON, nonsense for an insert reply.
            return req.replies({"ok": 1, "n": "three", "writeErrors": [
                "x", {"index": "0", "code": "E11000"}, {"index": 99999, "code": 2}]})
        if fault == "hangup":
            docs = docs[:len(docs) // 2]  # half stored, then the line drops
        key = "message_id" if coll == "meter" else "_id"
        stored = self.colls.setdefault(coll, [])
        have = {d.get(key) for d in stored}
        n, errors = 0, []
        for i, d in enumerate(docs):
            if (fault == "refuse" and d.get("message_id") == "s-bad") or \
                    d.get("message_id") in self.refuse_ids:
                errors.append({"index": i, "code": 121, "errmsg": "Document failed validation"})
            elif d.get(key) in have:
                errors.append({"index": i, "code": 11000,
                               "errmsg": "E11000 duplicate key error collection: %s.%s "
                                         "index: message_id_idx" % (DB, coll)})
            else:
                stored.append(d)
                have.add(d.get(key))
                n += 1
        if fault == "hangup":
            return req.hangup()
        reply = {"ok": 1, "n": n}
        if errors:
            reply["writeErrors"] = errors
        if fault == "wc":
            reply["writeConcernError"] = {"code": 64, "codeName": "WriteConcernFailed",
                                          "errmsg": "waiting for replication timed out",
                                          "errInfo": {"wtimeout": True}}
        return req.replies(reply)

    def cmd_update(self, req, doc):
        coll = doc["update"]
        n = 0
        for u in doc["updates"]:
            if doc["update"] == "tally_schema":
                self.colls["tally_schema"] = [{"_id": "schema",
                                               "version": u["u"]["$set"]["version"]}]
            n += 1
        self.colls.setdefault(coll, [])
        return req.replies(ok=1, n=n, nModified=n)

    def cmd_delete(self, req, doc):
        return req.replies(ok=1, n=2)

    # --- reads
    def cmd_find(self, req, doc):
        coll = doc["find"]
        docs = self.colls.get(coll, [])
        if coll == "meter":
            docs = docs[:int(doc.get("limit", 0)) or len(docs)]
        return req.replies(ok=1, cursor={"id": 0, "ns": "%s.%s" % (DB, coll),
                                         "firstBatch": docs})

    def cmd_aggregate(self, req, doc):
        coll, p = doc["aggregate"], doc["pipeline"]
        ns = "%s.%s" % (DB, coll)
        if coll == "event":
            if p[0].get("$group"):  # event types
                rows = [{"_id": t} for t in sorted({e["event_type"] for e in
                                                     self.colls.get("event", [])})]
            elif "$group" in p[2]:  # trait types
                rows = [{"_id": {"name": "host", "type": 1}}, {"_id": {"name": "vcpus", "type": 2}}]
            else:  # traits of one name
                rows = [{"t": t} for e in self.colls.get("event", []) for t in e["traits"]
                        if t["trait_name"] == p[2]["$match"]["traits.trait_name"]]
            return req.replies(ok=1, cursor={"id": 0, "ns": ns, "firstBatch": rows})
        if "duration_start" not in p[1].get("$group", {}):
            if "meters" in p[2].get("$group", {}):  # resources
                rows = [{"_id": "inst-1", "user_id": "u1", "project_id": "p1", "source": "s",
                         "metadata": {"%24k": [1, 2]}, "first_sample_timestamp": T0,
                         "last_sample_timestamp": T0 + datetime.timedelta(seconds=40),
                         "meters": ["memory", "cpu"]}]
            else:  # meters
                rows = [{"_id": {"counter_name": "cpu", "counter_type": "cumulative",
                                 "counter_unit": "ns", "resource_id": "inst-1"},
                         "user_id": "u1", "project_id": None, "source": "s"}]
            return req.replies(ok=1, cursor={"id": 0, "ns": ns, "firstBatch": rows})
        row = {"_id": {"unit": "ns", "p": 2.0, "resource_id": "inst-1"}, "count": 3,
               "min": 1.0, "max": 3.0, "sum": 6.0, "avg": 2.0, "stddev": 0.5,
               "card_user": 2, "duration_start": T0 + datetime.timedelta(seconds=125),
               "duration_end": T0 + datetime.timedelta(seconds=170)}
        return req.replies(ok=1, cursor={"id": 0, "ns": "%s.meter" % DB, "firstBatch": [row]})


def sample(mid, resource="inst-1", ts="2023-11-14T22:13:20.123456", vol=1, meta=None):
    return {"counter_name": "cpu", "counter_type": "cumulative", "counter_unit": "ns",
            "counter_volume": vol, "user_id": "u1", "project_id": "p1",
            "resource_id": resource, "timestamp": ts, "source": "openstack",
            "resource_metadata": meta if meta is not None else {"flavor": {"name": "m1.tiny"}},
            "message_id": mid, "message_signature": "sig-" + mid}


def event(mid):
    return {"message_id": mid, "event_type": "compute.instance.create.end",
            "generated": "2023-11-14T22:13:20.5", "raw": {"$k": 1},
            "traits": [["host", 1, "h1"], ["vcpus", 2, 4], ["launched_at", 4,
                                                            "2023-11-14T22:00:00"]]}


class Check:
    def __init__(self, tool, work):
        self.tool, self.work, self.n = tool, work, 0

    def run(self, url, *steps, ttl=None):
        args = [self.tool, url] + (["--ttl", ttl] if ttl else []) + list(steps)
        p = subprocess.run(args, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            fail("%s exited %d: %s\n%s" % (" ".join(steps), p.returncode, p.stderr[-3000:], p.stdout[-3000:]))
        if "runtime error" in p.stderr or "AddressSanitizer" in p.stderr:
            fail("sanitizer: %s" % p.stderr[-3000:])
        return p.stdout.splitlines()

    def file(self, name, batches):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            for b in batches:
                f.write(json.dumps(b) + "\n")
        return path


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def expect(cond, msg, ctx=None):
    if not cond:
        fail(msg + ("\n" + "\n".join(ctx) if ctx else ""))


def lines_with(out, prefix):
    return [l for l in out if l.startswith(prefix)]


def main():
    tool, tallyctl, work = sys.argv[1], sys.argv[2], sys.argv[3]
    fake = Fake()
    c = Check(tool, work)
    c.tallyctl = tallyctl
    try:
        steps(fake, c)
    finally:
        fake.server.stop()
    print("mongodb_wire: all checks passed")


def steps(fake, c):
    url = fake.url()
    # 1. open on an empty database: no schema (-EPROTO names dbsync); dbsync
    #    creates collections, ceilometer's indexes, message_id unique, TTL
    #    indexes, the version; then the schema is accepted.
    out = c.run(url, "schema", "dbsync", "schema", "dbsync", ttl="3600,7200")
    expect(out[0] == "open: rc=0 why=", "open failed", out)
    expect(out[1].startswith("schema: rc=-71 ") and "tallyctl dbsync" in out[1],
           "no schema must be -EPROTO naming dbsync", out)
    expect("schema: rc=0 why=" in out, "schema refused after dbsync", out)
    expect(lines_with(out, "dbsync: rc=") == ["dbsync: rc=0 why="] * 2, "dbsync failed", out)
    expect([d["create"] for d in fake.commands("create")] == ["meter", "resource", "event"] * 2,
           "create commands: %r" % fake.commands("create"))
    ci = {d["createIndexes"]: d["indexes"] for d in fake.commands("createIndexes")
          if len(d["indexes"]) > 1 or "expireAfterSeconds" not in d["indexes"][0]}
    meter = {ix["name"]: ix for ix in ci["meter"]}
    expect(set(meter) == {"meter_idx", "meter_project_idx", "timestamp_idx", "message_id_idx"},
           "meter indexes %r" % meter)
    expect(list(meter["meter_idx"]["key"].items()) ==
           [("resource_id", 1), ("user_id", 1), ("counter_name", 1), ("timestamp", 1)],
           "meter_idx key %r" % meter["meter_idx"])
    expect(meter["message_id_idx"].get("unique") is True and
           dict(meter["message_id_idx"]["key"]) == {"message_id": 1}, "message_id not unique")
    expect(list(meter["timestamp_idx"]["key"].items()) == [("timestamp", -1)], "timestamp_idx")
    res = {ix["name"]: ix for ix in ci["resource"]}
    expect(list(res["resource_user_project_timestamp"]["key"].items()) ==
           [("user_id", -1), ("project_id", -1), ("last_sample_timestamp", -1)],
           "resource index %r" % res)
    expect({ix["name"] for ix in ci["event"]} == {"event_type_idx"}, "event indexes")
    ttl = [d for d in fake.commands("createIndexes") if d["indexes"][0]["name"].endswith("_ttl")]
    got = {(d["createIndexes"], d["indexes"][0]["name"], next(iter(d["indexes"][0]["key"])),
            d["indexes"][0]["expireAfterSeconds"]) for d in ttl}
    expect(got == {("meter", "meter_ttl", "timestamp", 3600),
                   ("resource", "resource_ttl", "last_sample_timestamp", 3600),
                   ("event", "event_ttl", "timestamp", 7200)}, "TTL indexes %r" % got)
    expect(len(ttl) == 3, "the second dbsync must not recreate TTL indexes (%d)" % len(ttl))
    expect(any(l.startswith("dbsync: TTL index meter.meter_ttl created") for l in out),
           "dbsync report", out)
    ups = [d for d in fake.commands("update") if d["update"] == "tally_schema"]
    expect(ups and ups[0]["updates"][0]["q"] == {"_id": "schema"} and
           ups[0]["updates"][0].get("upsert") is True, "schema version upsert %r" % ups)
    # 2. changed TTL -> collMod; TTL off -> the index dropped (update_ttl).
    out = c.run(url, "dbsync", ttl="600,-1")
    mods = fake.commands("collMod")
    expect(sorted((d["collMod"], d["index"]["expireAfterSeconds"]) for d in mods) ==
           [("meter", 600), ("resource", 600)], "collMod %r" % mods)
    expect(dict(mods[0]["index"]["keyPattern"]) in ({"timestamp": 1},
                                                    {"last_sample_timestamp": 1}),
           "collMod keyPattern %r" % mods[0])
    drops = fake.commands("dropIndexes")
    expect([(d["dropIndexes"], d["index"]) for d in drops] == [("event", "event_ttl")],
           "dropIndexes %r" % drops)
    # 3. writes: unordered inserts, duplicates counted, the faults.
    good = [sample("s1", meta={"flavor": {"name": "m1.tiny"}, "$where": {"x.y": 1}}),
            sample("s2", vol=2.5, ts="2023-11-14T22:14:00"), sample("s3", resource="inst-2")]
    f = c.file("samples", [
        good,                                     # stored
        good + [sample("s4")],                    # 3 duplicates, 1 stored
        [sample("s5"), sample("s6")],             # NotWritablePrimary, then stored
        [sample("s%d" % i) for i in range(7, 15)],  # dropped mid-batch, then the rest
        [sample("s15")],                          # garbage on the wire, then stored
        [sample("s19")],                          # a nonsense reply, then stored
        [sample("s16"), sample("s-bad"), sample("s17")],  # one refused
        [sample("s18")],                          # write concern timeout, then a duplicate
        [sample("s20")],                          # PrimarySteppedDown, then stored
        [sample("s21")],                          # InterruptedDueToReplStateChange, then stored
    ])
    fake.faults = [None, None, "notwritable", None, "hangup", None, "garbage", None,
                   "malformed", None, "refuse", "wc", None, "stepdown", None, "replchange",
                   None]
    before = len(fake.log)
    out = c.run(url, "samples=" + f)
    w = lines_with(out, "samples: ")
    print("\n".join(w))
    expect(w[0].startswith("samples: rc=0 stored=3 dups=0 refused=0"), "batch 1", out)
    expect(w[1].startswith("samples: rc=0 stored=1 dups=3 refused=0"), "batch 2 (duplicates)", out)
    expect(w[2].startswith("samples: rc=-11 ") and "not primary" in w[2], "NotWritablePrimary "
           "must be -EAGAIN", out)
    expect(w[3].startswith("samples: rc=0 stored=2 dups=0"), "retry after NotWritablePrimary", out)
    expect(w[4].startswith("samples: rc=-11 "), "a dropped connection must be -EAGAIN", out)
    expect(w[5].startswith("samples: rc=0 stored=4 dups=4 refused=0"),
           "retry after the drop: the half stored comes back as duplicates", out)
    expect(w[6].startswith("samples: rc=-11 "), "a broken message must be -EAGAIN", out)
    expect(w[7].startswith("samples: rc=0 stored=1 dups=0"), "retry after the broken one", out)
    expect(w[8].startswith("samples: rc=-11 ") and "naming no document" in w[8],
           "a nonsense reply must be -EAGAIN", out)
    expect(w[9].startswith("samples: rc=0 stored=1 dups=0"), "retry after the nonsense", out)
    expect(w[10].startswith("samples: rc=0 stored=2 dups=0 refused=1 refused[1] ") and
           "Document failed validation" in w[10], "a refused document alone", out)
    expect(w[11].startswith("samples: rc=-11 ") and "write concern" in w[11],
           "write concern timeout must be -EAGAIN", out)
    expect(w[12].startswith("samples: rc=0 stored=0 dups=1"), "retry after wtimeout", out)
    expect(w[13].startswith("samples: rc=-11 ") and "stepped down" in w[13] and
           w[14].startswith("samples: rc=0 stored=1 dups=0"), "PrimarySteppedDown", out)
    expect(w[15].startswith("samples: rc=-11 ") and "interrupted" in w[15] and
           w[16].startswith("samples: rc=0 stored=1 dups=0"), "InterruptedDueToReplStateChange",
           out)
    expect(len(w) == 17, "attempts: %d" % len(w), out)
    mids = [d["message_id"] for d in fake.colls["meter"]]
    expect(sorted(mids) == sorted(set(mids)), "a sample stored twice")
    expect(set(mids) == {"s%d" % i for i in range(1, 22)}, "samples lost: %r" % sorted(mids))
    ins = [d for n, d in fake.log[before:] if n == "insert" and d["insert"] == "meter"]
    first = ins[0]
    expect(first["ordered"] is False and first["$db"] == DB, "insert not unordered: %r" % first)
    d0 = first["documents"][0]
    expect(list(d0)[:13] == ["counter_name", "counter_type", "counter_unit", "counter_volume",
                             "user_id", "project_id", "resource_id", "timestamp",
                             "resource_metadata", "source", "message_id",
                             "message_signature", "recorded_at"] or
           list(d0)[1:14] == ["counter_name", "counter_type", "counter_unit", "counter_volume",
                              "user_id", "project_id", "resource_id", "timestamp",
                              "resource_metadata", "source", "message_id",
                              "message_signature", "recorded_at"], "sample fields %r" % list(d0))
    expect(d0["timestamp"] == T0.replace(microsecond=123000), "timestamp (ms) %r" % d0["timestamp"])
    expect(d0["resource_metadata"] == {"flavor": {"name": "m1.tiny"}, "%24where": {"x": {"y": 1}}},
           "metadata keys escaped %r" % d0["resource_metadata"])
    expect(d0["counter_volume"] == 1 and first["documents"][1]["counter_volume"] == 2.5, "volume")
    upd = [d for n, d in fake.log[before:] if n == "update" and d["update"] == "resource"]
    expect(upd and upd[0]["ordered"] is True, "resource updates must be one ordered bulk")
    # Two updates per resource of the batch (inst-1: s1 and s2 merged, s2 the latest).
    u = upd[0]["updates"]
    expect(len(u) == 4 and u[0]["q"] == {"_id": "inst-1"} and u[0].get("upsert") is True and
           u[0]["u"] == {"$min": {"first_sample_timestamp": T0.replace(microsecond=123000)},
                         "$max": {"last_sample_timestamp": T0 + datetime.timedelta(seconds=40)},
                         "$addToSet": {"meter": {"counter_name": "cpu",
                                                 "counter_type": "cumulative",
                                                 "counter_unit": "ns"}}} and
           u[1]["q"] == {"_id": "inst-1", "last_sample_timestamp":
                         {"$lte": T0 + datetime.timedelta(seconds=40)}} and
           u[1]["u"]["$set"]["metadata"] == {"flavor": {"name": "m1.tiny"}} and
           u[2]["q"] == {"_id": "inst-2"} and u[3]["u"]["$set"]["metadata"] ==
           {"flavor": {"name": "m1.tiny"}}, "resource upserts %r" % u)
    refused = [d for n, d in fake.log[before:] if n == "update" and d["update"] == "resource" and
               any(x["q"].get("_id") == "inst-1" for x in d["updates"])]
    expect(all(len(d["updates"]) % 2 == 0 for d in refused), "resource bulk shape")
    # events: _id = message_id, traits typed, raw escaped; duplicates counted.
    f = c.file("events", [[event("e1"), event("e2")], [event("e1"), event("e2"), event("e3")]])
    out = c.run(url, "events=" + f)
    w = lines_with(out, "events: ")
    expect(w[0].startswith("events: rc=0 stored=2 dups=0") and
           w[1].startswith("events: rc=0 stored=1 dups=2"), "events", out)
    e = fake.colls["event"][0]
    expect(e["_id"] == "e1" and e["timestamp"] == T0.replace(microsecond=500000) and
           e["traits"][1] == {"trait_name": "vcpus", "trait_type": 2, "trait_value": 4} and
           e["raw"] == {"%24k": 1}, "event document %r" % e)
    # 4. queries: the filters and the pipeline as BSON values.
    before = len(fake.log)
    out = c.run(url, "q-samples", "q-complex", "q-stats")
    finds = [d for n, d in fake.log[before:] if n == "find" and d["find"] == "meter"]
    f0 = finds[0]["filter"]
    expect(f0 == {"counter_name": "cpu", "user_id": None,
                  "timestamp": {"$gte": T0, "$lt": T0 + datetime.timedelta(seconds=600)},
                  "resource_metadata.flavor.name": "m1.tiny",
                  "resource_metadata.%24where": '{"$ne": 1}',
                  "resource_metadata.disk": 512}, "simple filter %r" % f0)
    expect(list(finds[0]["sort"].items()) == [("timestamp", -1), ("_id", -1)] and
           finds[0]["limit"] == 10, "simple sort/limit %r" % finds[0])
    row = lines_with(out, "q-samples: row s1 ")
    expect(row and row[0].endswith('{"flavor":{"name":"m1.tiny"},"$where":{"x":{"y":1}}}'),
           "metadata read back unquoted", out)
    expect("q-samples: end rc=0 why=" in out, "samples cursor end", out)
    f1 = finds[1]["filter"]
    expect(f1 == {"$and": [{"project_id": "p9"}, {"$and": [
        {"counter_name": {"$eq": "cpu"}}, {"resource_id": {"$regex": "^inst-[0-9]+$"}},
        {"$nor": [{"project_id": {"$in": ["p1", "$ne"]}}]}]}]}, "complex filter %r" % f1)
    expect(list(finds[1]["sort"].items()) == [("counter_volume", -1)] and finds[1]["limit"] == 5,
           "complex sort %r" % finds[1])
    agg = [d for n, d in fake.log[before:] if n == "aggregate"]
    expect(len(agg) == 1, "one aggregate for statistics")
    p = agg[0]["pipeline"]
    g = p[1]["$group"]
    expect(p[0] == {"$match": {"counter_name": "cpu", "timestamp": {"$gte": T0}}} and
           g["_id"]["p"] == {"$floor": {"$divide": [{"$subtract": ["$timestamp", T0]}, 60000]}} and
           g["stddev"] == {"$stdDevPop": "$counter_volume"} and
           g["card_user"] == {"$addToSet": "$user_id"} and
           p[2] == {"$addFields": {"card_user": {"$size": "$card_user"}}},
           "statistics pipeline %r" % p)
    st = lines_with(out, "q-stats: row ")
    print("\n".join(lines_with(out, "q-")))
    expect(st == ["q-stats: row ns inst-1 count=3 avg=2 stddev=0.5 users=2 "
                  "start=1700000120000000 end=1700000180000000"], "statistics row", out)
    # meters, resources, events: the pipelines and filters as sent, rows read back.
    before = len(fake.log)
    out = c.run(url, "q-meters", "q-events")
    print("\n".join(lines_with(out, "q-")))
    aggs = [d for n, d in fake.log[before:] if n == "aggregate"]
    mp = aggs[0]["pipeline"]
    expect(aggs[0]["aggregate"] == "meter" and mp[0] == {"$match": {"counter_name": "cpu"}} and
           mp[1] == {"$sort": {"timestamp": -1}} and
           mp[3] == {"$match": {"_id.counter_name": "cpu"}} and mp[-1] == {"$limit": 10} and
           aggs[0].get("allowDiskUse") is True, "meters pipeline %r" % aggs[0])
    rp = aggs[1]["pipeline"]
    expect(rp[0] == {"$match": {"project_id": "p1"}} and
           rp[2]["$group"]["meters"] == {"$addToSet": "$counter_name"}, "resources pipeline %r" % rp)
    expect(lines_with(out, "q-meters: row") == ["q-meters: row cpu 2 ns inst-1 None"], "meter row",
           out)
    expect(lines_with(out, "q-resources: row") ==
           ['q-resources: row inst-1 1700000000000000 1700000040000000 {"$k":[1,2]} cpu memory'],
           "resource row", out)
    ev = [d for n, d in fake.log[before:] if n == "find" and d["find"] == "event"][0]
    expect(ev["filter"] == {"event_type": "compute.instance.create.end", "$and": [
        {"traits": {"$elemMatch": {"trait_name": "vcpus", "trait_value": {"$gte": 2}}}},
        {"$or": [{"traits.trait_name": {"$ne": "project_id"}},
                 {"traits": {"$elemMatch": {"trait_name": "project_id",
                                            "trait_value": {"$eq": "p1"}}}}]}]} and
           list(ev["sort"].items()) == [("timestamp", 1), ("_id", 1)], "events filter %r" % ev)
    rows = lines_with(out, "q-events: row")
    expect(len(rows) == 3 and rows[0] == 'q-events: row e1 compute.instance.create.end '
           '1700000000500000 {"$k":1} host:1:h1 launched_at:4:2023-11-14T22:00:00 vcpus:2:4',
           "event rows", out)
    expect(lines_with(out, "q-types") == ["q-types: compute.instance.create.end"] and
           lines_with(out, "q-trait-types") == ["q-trait-types: host 1", "q-trait-types: vcpus 2"]
           and lines_with(out, "q-traits: launched_at") ==
           ["q-traits: launched_at 4 2023-11-14T22:00:00"] * 3, "types and traits", out)
    # 5. the expirer: TTL indexes checked (they match: no change), orphans removed.
    mods = len(fake.commands("collMod"))
    out = c.run(url, "expire=600", ttl="600,-1")
    expect(lines_with(out, "expire: ") == ["expire: rc=0 samples=0 resources=2 why="],
           "expire", out)
    expect(len(fake.commands("collMod")) == mods, "the expirer changed matching TTL indexes")
    dels = fake.commands("delete")
    expect(dels and list(dels[-1]["deletes"][0]["q"]) == ["last_sample_timestamp"],
           "orphan delete %r" % dels)
    # 6. tallyctl dbsync with a configuration: its TTLs reach the indexes.
    conf = os.path.join(c.work, "tally.yaml")
    with open(conf, "w") as f:
        f.write('storage:\n  connection: "%s"\n  metering_time_to_live: 900\n'
                '  event_time_to_live: 60\n' % url)
    mods = len(fake.commands("collMod"))
    p = subprocess.run([c.tallyctl, "-c", conf, "dbsync"], capture_output=True, text=True,
                       timeout=60)
    expect(p.returncode == 0 and "database 1 (mongodb): ready" in p.stdout,
           "tallyctl dbsync: %d %s %s" % (p.returncode, p.stdout, p.stderr))
    expect(sorted((d["collMod"], d["index"]["expireAfterSeconds"])
                  for d in fake.commands("collMod")[mods:]) == [("meter", 900), ("resource", 900)]
           and fake.commands("createIndexes")[-1]["indexes"][0] ==
           {"key": {"timestamp": 1}, "name": "event_ttl", "expireAfterSeconds": 60},
           "tallyctl dbsync TTLs: %s" % p.stdout)
    expect(url not in p.stdout + p.stderr, "tallyctl printed the URL")
    # 7. tallyd's database dispatcher: samples over UDP stored once, the one the
    #    server refuses dead-lettered alone.
    tallyd = os.path.join(os.path.dirname(c.tallyctl), "tallyd")
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    buf = os.path.join(c.work, "buffer")
    with open(conf, "w") as f:
        f.write('telemetry_secret: ""\ncollector:\n'
                '  amqp: {urls: ["amqp://guest:guest@127.0.0.1:1/"]}\n'
                '  udp: {address: "127.0.0.1", port: %d}\n'
                '  buffer: {path: "%s", max_size: 64MiB}\n'
                '  dispatchers: [{name: db, type: database}]\n'
                'storage: {connection: "%s"}\napi: {enabled: false}\ncontrol: {port: 0}\n'
                % (port, buf, url))
    fake.refuse_ids = {"u-bad"}
    log = open(os.path.join(c.work, "tallyd.log"), "w")
    t = subprocess.Popen([tallyd, "-c", conf], stderr=log)
    try:
        deadline = time.time() + 10
        while "collector started" not in open(log.name).read():
            expect(time.time() < deadline and t.poll() is None,
                   "tallyd did not start: " + open(log.name).read()[-2000:])
            time.sleep(0.05)
        want = {"u%d" % i for i in range(19)}
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for mid in sorted(want) + ["u-bad"]:
            d = sample(mid)
            d["message_signature"] = ""
            s.sendto(msgpack.packb(d), ("127.0.0.1", port))
        deadline = time.time() + 15
        while not want <= {d["message_id"] for d in fake.colls["meter"]}:
            expect(time.time() < deadline, "tallyd did not store the UDP samples: " +
                   open(log.name).read()[-2000:])
            time.sleep(0.1)
        deadline = time.time() + 10
        while True:
            p = subprocess.run([c.tallyctl, "deadletter", "list", "--path", buf],
                               capture_output=True, text=True, timeout=30)
            if "u-bad" in p.stdout or time.time() > deadline:
                break
            time.sleep(0.2)
        dl = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
        expect(len(dl) == 1 and "u-bad" in json.dumps(dl[0]) and
               "Document failed validation" in json.dumps(dl[0]),
               "dead letters: %s %s" % (p.stdout[-2000:], p.stderr[-500:]))
        mids = [d["message_id"] for d in fake.colls["meter"]]
        expect(len(mids) == len(set(mids)) and "u-bad" not in mids, "stored twice or refused")
        print("tallyd: 19 UDP samples stored once, 1 dead-lettered: %s" % dl[0].get("reason", ""))
    finally:
        t.send_signal(signal.SIGTERM)
        try:
            t.wait(10)
        except subprocess.TimeoutExpired:
            t.kill()
            fail("tallyd did not stop on SIGTERM")
        log.close()
    # 8. the write concern: acknowledged on a standalone, majority when the URL
    #    names a replica set, the URL's own w when it says one.
    wcs = [d.get("writeConcern") for d in fake.commands("insert")]
    expect(all(w in (None, {"w": 1}) for w in wcs), "standalone write concern %r" % wcs[:3])
    rs = Fake(set_name="rs0")
    try:
        f = c.file("rs", [[sample("r1")]])
        for extra, want in (("&replicaSet=rs0", {"w": "majority", "wtimeout": 10000}),
                            ("&replicaSet=rs0&w=1", {"w": 1}),
                            ("&replicaSet=rs0&w=majority&wtimeoutMS=2500",
                             {"w": "majority", "wtimeout": 2500})):
            n = len(rs.commands("insert"))
            out = c.run(rs.url(extra), "samples=" + f)
            expect(lines_with(out, "samples: rc=0 "), "replica set write: %r" % out)
            got = rs.commands("insert")[n]
            expect(got.get("writeConcern") == want,
                   "write concern with %s: %r" % (extra, got.get("writeConcern")))
    finally:
        rs.server.stop()
    # 9. a server that is not there: -EAGAIN at open, quickly.
    out = c.run("mongodb://127.0.0.1:1/x?serverSelectionTimeoutMS=300", "schema")
    expect(out[0].startswith("open: rc=-11 "), "unreachable server must be -EAGAIN", out)


if __name__ == "__main__":
    main()
