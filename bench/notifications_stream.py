#!/usr/bin/python3
"""The notification stream of bench/notifications: N notifications of a
cloud's usual mix, as its services send them.

  notifications_stream.py --count N [--seed S] BODIES SENT
  notifications_stream.py --agent-output SAMPLES EVENTS OUT

BODIES gets one line per notification, "EXCHANGE<TAB>BODY", BODY being what
oslo.messaging's Notifier (driver messagingv2) publishes on the service's
exchange with routing key notifications.info: the message built as
Notifier._notify() builds it, a unique id and the packed context added and
the 2.0 envelope made by oslo.messaging's own functions
(amqpdriver._send()). bench/amqp_tool publishes the lines in order.

SENT gets, per notification, the line tests/integration/notifications_check.py
reads ({"priority", "notification": the dict ceilometer's endpoint gets}),
so that the expected samples and events are counted by ceilometer's own code.

The mix (weights below): nova instances (exists, update, create and delete,
compute node metrics), cinder volumes and snapshots, glance images, neutron
ports, networks, routers and floating IPs, keystone authentications (CADF),
heat stacks, swift requests (CADF with measurements), l3 metering, designate
and trove audits, cinder pool capacities; well-formed payloads with the
fields ceilometer's meters.yaml and event_definitions.yaml read.

--agent-output: the agent's file publisher output (SAMPLES: Sample.as_dict()
as JSON; EVENTS: Event.as_dict() as Python's repr, which json.dumps
refuses for its datetimes) into OUT in the file dispatcher's form, which
notifications_check.py reads: one meter message or event per line.
"""
import argparse
import ast
import datetime
import json
import random
import uuid
import warnings

warnings.simplefilter("ignore")

from oslo_messaging._drivers import amqp as rpc_amqp  # noqa: E402
from oslo_messaging._drivers import common as rpc_common  # noqa: E402
from oslo_serialization import jsonutils  # noqa: E402

BASE = datetime.datetime(2026, 12, 1, 8, 0, 0)


def hexid(r):
    return "%032x" % r.getrandbits(128)


def uid(r):
    return str(uuid.UUID(int=r.getrandbits(128), version=4))


def when(i, seconds=0):
    return str(BASE + datetime.timedelta(seconds=i * 0.003 + seconds))


class Cloud(object):
    """A few hundred projects, users, hosts and images to draw from."""

    def __init__(self, r):
        self.r = r
        self.projects = [hexid(r) for _ in range(200)]
        self.users = [hexid(r) for _ in range(600)]
        self.hosts = ["compute-%03d" % i for i in range(100)]
        self.images = [uid(r) for _ in range(40)]
        self.flavors = [("m1.tiny", "1", 512, 1, 1, 0), ("m1.small", "2", 2048, 1, 20, 0),
                        ("m1.medium", "3", 4096, 2, 40, 0), ("m1.large", "4", 8192, 4, 80, 10)]

    def ctxt(self):
        r = self.r
        p, u = r.choice(self.projects), r.choice(self.users)
        return {"user_id": u, "project_id": p, "tenant": p, "user": u,
                "domain": None, "user_domain": "default", "project_domain": "default",
                "is_admin": False, "read_only": False, "show_deleted": False,
                "request_id": "req-" + uid(r), "global_request_id": None,
                "resource_uuid": None, "roles": ["member", "reader"],
                "user_name": "user-%s" % u[:6], "project_name": "project-%s" % p[:6],
                "is_admin_project": True, "service_catalog": [], "auth_token": None}


def instance(c, i, ctxt, state="active"):
    r = c.r
    name, fid, mem, vcpus, root, eph = r.choice(c.flavors)
    created = when(i, -r.randint(60, 86400 * 30))
    return {"tenant_id": ctxt["project_id"], "user_id": ctxt["user_id"],
            "instance_id": uid(r), "display_name": "vm-%d" % r.randint(1, 99999),
            "hostname": "vm-%d" % i, "host": r.choice(c.hosts), "node": r.choice(c.hosts),
            "reservation_id": "r-%08x" % r.getrandbits(32), "architecture": "x86_64",
            "cell_name": "", "availability_zone": "nova",
            "instance_type": name, "instance_type_id": int(fid) + 5, "instance_flavor_id": fid,
            "memory_mb": mem, "vcpus": vcpus, "root_gb": root, "ephemeral_gb": eph,
            "disk_gb": root + eph, "state": state, "state_description": "", "progress": "",
            "power_state": 1, "created_at": created, "launched_at": when(i, -30),
            "terminated_at": "", "deleted_at": "", "access_ip_v4": "10.0.%d.%d" % (
                r.randint(0, 255), r.randint(1, 254)), "access_ip_v6": None,
            "image_ref_url": "http://glance:9292/images/" + r.choice(c.images),
            "os_type": "linux", "kernel_id": "", "ramdisk_id": "",
            "image_meta": {"base_image_ref": r.choice(c.images), "min_disk": str(root),
                           "container_format": "bare", "disk_format": "qcow2",
                           "org.openstack__1__architecture": "x86_64",
                           "org.openstack__1__os_distro": "debian",
                           "org.openstack__1__os_version": "12"},
            "metadata": {"metering.stack": uid(r)} if r.random() < 0.3 else {},
            "fixed_ips": [{"address": "10.0.0.%d" % r.randint(2, 254), "type": "fixed",
                           "version": 4, "label": "private", "vif_mac": "fa:16:3e:%02x:%02x:%02x"
                           % (r.randrange(256), r.randrange(256), r.randrange(256)),
                           "meta": {}, "floating_ips": []}]}


def nova_exists(c, i, ctxt):
    p = instance(c, i, ctxt)
    p["audit_period_beginning"] = when(i, -3600)
    p["audit_period_ending"] = when(i)
    p["bandwidth"] = {"private": {"bw_in": c.r.randint(0, 10 ** 9), "bw_out": c.r.randint(0, 10 ** 9)}}
    return "nova", "compute.%s" % p["host"], "compute.instance.exists", p


def nova_update(c, i, ctxt):
    p = instance(c, i, ctxt, c.r.choice(["active", "stopped", "resized"]))
    p["old_state"] = "active"
    p["old_task_state"] = None
    p["new_task_state"] = None
    p["audit_period_beginning"] = when(i, -3600)
    p["audit_period_ending"] = when(i)
    return "nova", "compute.%s" % p["host"], "compute.instance.update", p


def nova_create_start(c, i, ctxt):
    p = instance(c, i, ctxt, "building")
    p["launched_at"] = ""
    return "nova", "compute.%s" % p["host"], "compute.instance.create.start", p


def nova_create_end(c, i, ctxt):
    p = instance(c, i, ctxt)
    p["created_at"] = when(i, -c.r.randint(20, 90))
    p["message"] = "Success"
    return "nova", "compute.%s" % p["host"], "compute.instance.create.end", p


def nova_delete_end(c, i, ctxt):
    p = instance(c, i, ctxt, "deleted")
    p["deleted_at"] = p["terminated_at"] = when(i)
    return "nova", "compute.%s" % p["host"], "compute.instance.delete.end", p


def nova_metrics(c, i, ctxt):
    r = c.r
    host = r.choice(c.hosts)
    ts = when(i)
    src = "libvirt.LibvirtDriver"
    metrics = [{"name": "cpu.frequency", "value": 2400, "unit": "MHz"},
               {"name": "cpu.user.time", "value": r.randint(10 ** 12, 10 ** 14), "unit": "ns"},
               {"name": "cpu.kernel.time", "value": r.randint(10 ** 11, 10 ** 13), "unit": "ns"},
               {"name": "cpu.idle.time", "value": r.randint(10 ** 13, 10 ** 15), "unit": "ns"},
               {"name": "cpu.iowait.time", "value": r.randint(10 ** 10, 10 ** 12), "unit": "ns"},
               {"name": "cpu.kernel.percent", "value": r.random() / 10, "unit": "%"},
               {"name": "cpu.idle.percent", "value": r.random(), "unit": "%"},
               {"name": "cpu.user.percent", "value": r.random() / 2, "unit": "%"},
               {"name": "cpu.iowait.percent", "value": r.random() / 20, "unit": "%"},
               {"name": "cpu.percent", "value": r.random(), "unit": "%"}]
    for m in metrics:
        m["timestamp"] = ts
        m["source"] = src
    return "nova", "compute.%s" % host, "compute.metrics.update", {
        "host": host, "host_ip": "192.168.0.%d" % r.randint(2, 254),
        "nodename": host + ".example.org", "metrics": metrics}


def volume(c, i, ctxt, status="available"):
    r = c.r
    v = {"volume_id": uid(r), "tenant_id": ctxt["project_id"], "user_id": ctxt["user_id"],
         "display_name": "volume-%d" % r.randint(1, 99999), "size": r.choice([1, 10, 20, 50, 100]),
         "status": status, "volume_type": r.choice(["lvm", "ceph"]), "availability_zone": "nova",
         "host": "storage-%d@lvm#pool" % r.randint(1, 9), "created_at": when(i, -86400),
         "launched_at": when(i, -86390), "snapshot_id": None, "replication_status": None,
         "glance_metadata": [], "volume_attachment": [], "metadata": []}
    if r.random() < 0.5:
        v["glance_metadata"] = [{"key": "image_id", "value": r.choice(c.images)},
                                {"key": "image_name", "value": "debian-12"}]
    if status == "in-use":
        v["volume_attachment"] = [{"server_id": uid(r), "attach_status": "attached",
                                   "mountpoint": "/dev/vdb"}]
    return v


def cinder_exists(c, i, ctxt):
    p = volume(c, i, ctxt, c.r.choice(["available", "in-use"]))
    p["audit_period_beginning"] = when(i, -3600)
    p["audit_period_ending"] = when(i)
    return "cinder", "volume.storage-1", "volume.exists", p


def cinder_op(c, i, ctxt):
    et, status = c.r.choice([("volume.create.end", "available"), ("volume.delete.end", "deleted"),
                             ("volume.attach.end", "in-use"), ("volume.resize.end", "available")])
    return "cinder", "volume.storage-1", et, volume(c, i, ctxt, status)


def snapshot(c, i, ctxt):
    r = c.r
    return "cinder", "snapshot.storage-1", r.choice(["snapshot.exists", "snapshot.create.end"]), {
        "snapshot_id": uid(r), "volume_id": uid(r), "tenant_id": ctxt["project_id"],
        "user_id": ctxt["user_id"], "display_name": "snap-%d" % i,
        "volume_size": r.choice([1, 10, 20]), "status": "available", "created_at": when(i, -600),
        "deleted": "", "availability_zone": "nova", "metadata": ""}


def cinder_pool(c, i, ctxt):
    r = c.r
    total = r.choice([1000, 2000, 4000])
    return "cinder", "volume.storage-1", "capacity.pool.update", {
        "name_to_id": "storage-%d@lvm#pool" % r.randint(1, 9), "total": total,
        "free": r.uniform(0, total), "allocated": r.uniform(0, total),
        "provisioned": r.uniform(0, total), "virtual_free": r.uniform(0, total),
        "reported_at": when(i)}


def glance(c, i, ctxt):
    r = c.r
    et = r.choice(["image.upload", "image.update", "image.delete"])
    return "glance", "image.localhost", et, {
        "id": r.choice(c.images), "name": "debian-12-%d" % r.randint(1, 99), "owner": ctxt["project_id"],
        "status": "deleted" if et == "image.delete" else "active",
        "size": r.randint(10 ** 8, 4 * 10 ** 9), "virtual_size": None, "checksum": "%032x" % r.getrandbits(128),
        "disk_format": "qcow2", "container_format": "bare", "visibility": "public",
        "protected": False, "min_disk": 0, "min_ram": 0, "created_at": when(i, -86400),
        "updated_at": when(i), "deleted_at": when(i) if et == "image.delete" else None,
        "deleted": et == "image.delete", "tags": [], "properties": {"os_distro": "debian"}}


def glance_send(c, i, ctxt):
    r = c.r
    return "glance", "image.localhost", "image.send", {
        "image_id": r.choice(c.images), "owner_id": r.choice(c.projects),
        "receiver_tenant_id": ctxt["project_id"], "receiver_user_id": ctxt["user_id"],
        "destination_ip": "192.168.0.%d" % r.randint(2, 254), "bytes_sent": r.randint(10 ** 8, 4 * 10 ** 9)}


def neutron(c, i, ctxt):
    r = c.r
    kind = r.choice(["port", "port", "port", "network", "router", "floatingip"])
    op = r.choice(["create", "update", "delete"])
    obj = {"id": uid(r), "name": "%s-%d" % (kind, r.randint(1, 9999)), "tenant_id": ctxt["project_id"],
           "project_id": ctxt["project_id"], "status": "ACTIVE", "admin_state_up": True,
           "created_at": when(i, -60) + "Z", "updated_at": when(i) + "Z", "revision_number": 3,
           "description": "", "tags": []}
    if kind == "port":
        obj.update({"network_id": uid(r), "mac_address": "fa:16:3e:00:%02x:%02x" % (r.randrange(256), r.randrange(256)),
                    "fixed_ips": [{"subnet_id": uid(r), "ip_address": "10.0.0.%d" % r.randint(2, 254)}],
                    "device_id": uid(r), "device_owner": "compute:nova", "binding:host_id": r.choice(c.hosts),
                    "binding:vif_type": "ovs", "security_groups": [uid(r)]})
    elif kind == "floatingip":
        obj.update({"floating_ip_address": "172.24.4.%d" % r.randint(2, 254), "router_id": uid(r),
                    "port_id": uid(r), "fixed_ip_address": "10.0.0.%d" % r.randint(2, 254)})
    payload = {kind + "_id": obj["id"]} if op == "delete" else {kind: obj}
    return "neutron", "network.controller-1", "%s.%s.end" % (kind, op), payload


def keystone(c, i, ctxt):
    r = c.r
    u = r.choice(c.users)
    outcome = "success" if r.random() < 0.95 else "failure"
    return "keystone", "identity.controller-1", "identity.authenticate", {
        "typeURI": "http://schemas.dmtf.org/cloud/audit/1.0/event", "id": uid(r),
        "eventTime": when(i).replace(" ", "T") + "+0000", "action": "authenticate",
        "eventType": "activity", "outcome": outcome,
        "initiator": {"typeURI": "service/security/account/user", "id": u, "name": "user-" + u[:6],
                      "host": {"agent": "python-keystoneclient", "address": "10.1.0.%d" % r.randint(2, 254)},
                      "user_id": u},
        "target": {"typeURI": "service/security/account/user", "id": uid(r)},
        "observer": {"typeURI": "service/security", "id": uid(r)},
        "requestPath": "/v3/auth/tokens"}


def heat(c, i, ctxt):
    r = c.r
    et = r.choice(["orchestration.stack.create.end", "orchestration.stack.update.end",
                   "orchestration.stack.delete.end"])
    sid = uid(r)
    return "heat", "orchestration.controller-1", et, {
        "tenant_id": ctxt["project_id"], "user_id": ctxt["user_id"], "stack_name": "stack-%d" % i,
        "name": "stack-%d" % i, "stack_identity": "arn:openstack:heat::%s:stacks/stack-%d/%s"
        % (ctxt["project_id"], i, sid), "state": "COMPLETE", "state_reason": "Stack complete",
        "create_at": when(i, -120) + "Z", "updated_at": when(i) + "Z"}


def swift(c, i, ctxt):
    r = c.r
    return "swift", "ceilometermiddleware", "objectstore.http.request", {
        "typeURI": "http://schemas.dmtf.org/cloud/audit/1.0/event", "id": uid(r),
        "eventTime": when(i).replace(" ", "T") + "+00:00", "action": r.choice(["read", "update"]),
        "eventType": "activity", "outcome": "success",
        "initiator": {"typeURI": "service/security/account/user", "id": ctxt["user_id"],
                      "project_id": ctxt["project_id"]},
        "target": {"typeURI": "service/storage/object", "id": ctxt["project_id"],
                   "action": "public", "metadata": {"path": "/v1/AUTH_%s/c/o%d" % (ctxt["project_id"], i),
                                                    "version": "1", "container": "c", "object": "o%d" % i}},
        "observer": {"id": "target"},
        "measurements": [{"result": r.randint(0, 10 ** 7),
                          "metric": {"metricId": uid(r), "unit": "B", "name": "storage.objects.outgoing.bytes"}},
                         {"result": 1, "metric": {"metricId": uid(r), "unit": "request",
                                                  "name": "storage.api.request"}}]}


def l3_meter(c, i, ctxt):
    r = c.r
    return "neutron", "metering.controller-1", "l3.meter", {
        "first_update": 1, "bytes": r.randint(0, 10 ** 8), "label_id": uid(r),
        "tenant_id": ctxt["project_id"], "time": 60, "pkts": r.randint(0, 10 ** 5),
        "last_update": 61, "host": "network-1"}


def audit(c, i, ctxt):
    r = c.r
    if r.random() < 0.5:
        return "dns", "dns.central-1", "dns.domain.exists", {
            "id": uid(r), "tenant_id": ctxt["project_id"], "name": "example%d.org." % i,
            "email": "admin@example.org", "ttl": 3600, "serial": r.randint(1, 10 ** 9), "status": "ACTIVE",
            "pool_id": uid(r), "created_at": when(i, -86400), "updated_at": None, "deleted_at": None,
            "audit_period_beginning": when(i, -3600), "audit_period_ending": when(i)}
    return "trove", "trove.taskmanager-1", "trove.instance.exists", {
        "instance_id": uid(r), "tenant_id": ctxt["project_id"], "user_id": ctxt["user_id"],
        "instance_name": "db-%d" % i, "instance_type": "m1.small", "instance_type_id": "2",
        "nova_instance_id": uid(r), "state": "active", "service_id": "mysql", "launched_at": when(i, -86400),
        "created_at": when(i, -86400), "region": "RegionOne", "availability_zone": "nova",
        "audit_period_beginning": when(i, -3600), "audit_period_ending": when(i), "volume_size": 5,
        "nova_instance_type_id": "2"}


# (weight, builder): per 100 notifications.
MIX = [(20, nova_exists), (10, nova_update), (4, nova_create_start), (4, nova_create_end),
       (3, nova_delete_end), (5, nova_metrics), (10, cinder_exists), (5, cinder_op), (3, snapshot),
       (1, cinder_pool), (4, glance), (2, glance_send), (11, neutron), (10, keystone), (2, heat),
       (3, swift), (2, l3_meter), (1, audit)]


def literal(node):
    """A value of an Event.as_dict() repr: literals, datetime.datetime(...) calls."""
    if isinstance(node, ast.Call) and ast.unparse(node.func) == "datetime.datetime":
        return datetime.datetime(*[ast.literal_eval(x) for x in node.args]).isoformat()
    if isinstance(node, ast.Dict):
        return {literal(k): literal(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.List):
        return [literal(x) for x in node.elts]
    return ast.literal_eval(node)


def utc_text(ts):
    """A sample's timestamp as tests/tools/meters_oracle.py writes it (the
    agent writes its own text: "+00:00" and no microseconds when they are 0)."""
    t = datetime.datetime.fromisoformat(ts)
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def agent_output(samples, events, out):
    with open(out, "w") as f:
        for line in open(samples):
            s = json.loads(line)
            f.write(json.dumps({"counter_name": s["name"], "counter_type": s["type"],
                                "counter_unit": s["unit"], "counter_volume": s["volume"],
                                "resource_id": s["resource_id"], "project_id": s["project_id"],
                                "user_id": s["user_id"], "timestamp": utc_text(s["timestamp"]),
                                "resource_metadata": s["resource_metadata"]}) + "\n")
        for line in open(events):
            e = literal(ast.parse(line, mode="eval").body)
            f.write(json.dumps({"message_id": e["message_id"], "event_type": e["event_type"],
                                "traits": [[t["name"], t["dtype"], t["value"]] for t in e["traits"]]})
                    + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--agent-output", action="store_true")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    if a.agent_output:
        agent_output(*a.files)
        return
    bodies, sent_path = a.files
    r = random.Random(a.seed)
    c = Cloud(r)
    builders = [b for w, b in MIX for _ in range(w)]
    with open(bodies, "w") as bodies, open(sent_path, "w") as sent:
        for i in range(a.count):
            ctxt = c.ctxt()
            exchange, publisher_id, event_type, payload = r.choice(builders)(c, i, ctxt)
            msg = dict(message_id=uid(r), publisher_id=publisher_id, event_type=event_type,
                       priority="INFO", payload=payload, timestamp=when(i))
            rpc_amqp._add_unique_id(msg)
            rpc_amqp.pack_context(msg, ctxt)
            body = jsonutils.dumps(rpc_common.serialize_msg(msg))
            bodies.write("%s\t%s\n" % (exchange, body))
            seen = dict(ctxt)
            seen["client_timeout"] = None  # oslo's unpack_context() adds it
            sent.write(json.dumps({"priority": "info", "notification": {
                "ctxt": seen, "publisher_id": publisher_id, "event_type": event_type,
                "payload": payload, "metadata": {"message_id": msg["message_id"],
                                                 "timestamp": msg["timestamp"]}}}) + "\n")


if __name__ == "__main__":
    main()
