#!/usr/bin/python3
"""Notifications for the event definitions' differential test.

    gen_event_notifications.py [--count N] [--seed S] DEFS.yaml > notifications.jsonl

First every notification dict of ceilometer's own event unit tests
(ceilometer/tests/unit/event: the test cases' setUp fixtures and the
endpoint's TEST_NOTICE_* payload), then N generated ones of the event types
of DEFS (wildcards filled in) and a few others, whose payload fields (every
path DEFS names) take random shapes: missing, null, '', strings, unicode,
ints, ints as text, floats, booleans, lists, dicts, good and bad dates.
"""
import argparse
import json
import random
import sys
import unittest
import warnings

warnings.simplefilter("ignore")

import yaml  # noqa: E402


def unit_test_notifications():
    try:
        import oslotest.base  # noqa: F401
    except ImportError:
        # Only the fixtures' dicts are needed: a stand-in for oslotest's
        # base class when python3-oslotest is not installed.
        import types
        import testtools
        mod = types.ModuleType("oslotest.base")
        mod.BaseTestCase = testtools.TestCase
        pkg = types.ModuleType("oslotest")
        pkg.base = mod
        sys.modules["oslotest"] = pkg
        sys.modules["oslotest.base"] = mod
    from ceilometer.tests.unit.event import test_converter, test_endpoint
    out = []
    for cls in (test_converter.TestTraitDefinition, test_converter.TestEventDefinition,
                test_converter.TestNotificationConverter):
        names = unittest.TestLoader().getTestCaseNames(cls)
        case = cls(names[0])
        try:
            case.setUp()
        except Exception as e:  # the fixtures need only the dicts
            print("setUp of %s: %s" % (cls.__name__, e), file=sys.stderr)
        for v in vars(case).values():
            if isinstance(v, dict) and "event_type" in v:
                out.append(v)
        case.doCleanups()
    out.append(test_converter.TestNotificationConverter._create_test_notification(
        "foo", "abc"))
    out.append({'priority': 'info', 'event_type': "foo", 'publisher_id': "1",
                'metadata': {'message_id': "abc",
                             'timestamp': "2013-08-08 21:06:37.803826"}})
    out.append({"ctxt": test_endpoint.TEST_NOTICE_CTXT, "publisher_id": "compute.vagrant-precise",
                "event_type": "compute.instance.create.end",
                "payload": test_endpoint.TEST_NOTICE_PAYLOAD,
                "metadata": test_endpoint.TEST_NOTICE_METADATA})
    return out


DATES = ["2012-05-08 20:23:41", "2012-05-08T20:23:47.985999", "2013-08-08T21:06:37.803826Z",
         "2013-08-08T21:06:37+02:00", "2013-08-08 21:06:37.1234567-05:30", "2013-08-08",
         "20130808T210637", "2013-8-8 1:2:3", "2013", "2013-08", "2013-02-30 00:00:00",
         "2013-08-08T24:00:00", "not a date", "", "2013-08-08T21:06:37,5", "0001-01-01T00:00:00+01:00",
         "9999-12-31T23:59:59-01:00", "2013-08-08T21:06:60", "2013-08-08T21", "2013-08-08 2106",
         "2013-08-08T21:06:37+2400", "2013-08-08T21:06:37+0099"]
# The ones Python parses (and normalizes within years 1..9999).
VALID_DATES = DATES[:7] + DATES[8:10] + [DATES[14], DATES[18], DATES[19]]
WORDS = ["active", "deleted", "host-1", "compute.host-2.example", "node.a.b.c", "x86_64",
         "ünïcödé", "名前", "emoji \U0001F600", "with 'quote'", 'with "dq"', "a\\b",
         "tab\there", "1", "42", " 7 ", "1_000", "-3", "+5", "1.5", "1e3", "nan", "inf", "0x10",
         "image_id", "available", "in-use", "True", "a" * 300, "\u00a0nbsp", "line\nbreak"]


INTS = [0, 7, 512, -3, 2 ** 40, "20", " 12 ", "1_000", "+5", "-0", True, 2.75, "0012"]


def rand_value(r, datelike=False, kind=None):
    """A value for a field; kind (the trait's type) makes valid values likelier."""
    k = r.random()
    if kind == "int" and k < 0.9:
        return r.choice(INTS)
    if kind == "float" and k < 0.9:
        return r.choice(INTS + ["1.5", "1e3", " -2.5e-3 ", "inf", "nan", "1_0.5", 3.14])
    if kind == "datetime" and k < 0.93:
        return r.choice(VALID_DATES + [""])
    if datelike and k < 0.6:
        return r.choice(DATES)
    if k < 0.08:
        return None
    if k < 0.40:
        return r.choice(WORDS)
    if k < 0.55:
        return r.randint(-10, 10 ** 6)
    if k < 0.62:
        return r.choice([0.5, 1.0, 2.5e-7, 1e15, -3.25, 123456.789])
    if k < 0.66:
        return r.choice([True, False])
    if k < 0.73:
        return [rand_value(r) for _ in range(r.randint(0, 3))]
    if k < 0.78:
        return {"k%d" % i: rand_value(r) for i in range(r.randint(0, 2))}
    if k < 0.85:
        return r.choice(DATES)
    return "%s-%d" % (r.choice(["id", "uuid", "name"]), r.randint(0, 9999))


def set_path(d, path, value):
    keys = path.split(".")
    for k in keys[:-1]:
        nxt = d.get(k)
        if not isinstance(nxt, dict):
            nxt = d[k] = {}
        d = nxt
    d[keys[-1]] = value


def collect(defs):
    """The event types of defs, and each plain field path with the type of a trait using it."""
    types, paths = [], {}
    for d in defs:
        et = d["event_type"]
        for t in ([et] if isinstance(et, str) else et):
            if not t.startswith("!"):
                types.append(t)
        for cfg in d["traits"].values():
            f = cfg.get("fields") if isinstance(cfg, dict) else cfg
            kind = cfg.get("type") if isinstance(cfg, dict) else None
            for p in ([f] if isinstance(f, str) else f if isinstance(f, list) else []):
                if isinstance(p, str) and all(c.isalnum() or c in "._" for c in p):
                    if paths.get(p) is None:
                        paths[p] = kind
    return types, sorted(paths.items())


def fill(r, t):
    out = ""
    for c in t:
        if c == "*":
            out += r.choice(["start", "end", "create.end", "", "x.y", "exists"])
        elif c == "?":
            out += r.choice("abcde")
        else:
            out += c
    return out


def generated(r, defs, n):
    types, paths = collect(defs)
    extra = ["bogus.notification.from.mars", "identity.authenticate", "Compute.instance.update",
             "volume.exists", "objectstore.http.request", "dns.domain.exists",
             "orchestration.stack.create.end", "image.upload", "port.create.end"]
    for i in range(n):
        et = fill(r, r.choice(types)) if r.random() < 0.85 else r.choice(extra)
        payload, ctxt = {}, {}
        for p, kind in paths:
            if r.random() < 0.45:
                continue
            datelike = any(w in p for w in ("_at", "Time", "period", "timestamp"))
            target = payload if p.startswith("payload.") else ctxt if p.startswith("ctxt.") else None
            if target is None:
                continue
            set_path(target, p.split(".", 1)[1], rand_value(r, datelike, kind))
        if r.random() < 0.4:
            payload["glance_metadata"] = [{"key": r.choice(["image_id", "other"]),
                                           "value": rand_value(r)} for _ in range(r.randint(0, 3))]
        if r.random() < 0.4:
            payload["volume_attachment"] = [{"server_id": rand_value(r)}
                                            for _ in range(r.randint(0, 2))]
        if r.random() < 0.3:
            payload["image_meta"] = {"org.openstack__1__architecture": rand_value(r),
                                     "org.openstack__1__os_distro": rand_value(r)}
        meta = {"message_id": "msg-%06d" % i,
                "timestamp": r.choice(VALID_DATES) if r.random() < 0.95 else r.choice(DATES)}
        if r.random() < 0.01:
            del meta["timestamp"]
        n = {"event_type": et, "payload": payload, "metadata": meta, "ctxt": ctxt}
        k = r.random()
        if k < 0.85:
            n["publisher_id"] = r.choice(["compute.host-%d" % r.randint(1, 9), "network.ctl",
                                          "image", "identity.keystone-1.example.org",
                                          "ünï.cödé-x"])
        elif k < 0.9:
            n["publisher_id"] = r.randint(0, 9)
        if r.random() < 0.05:
            n["payload"] = r.choice([None, [payload], "text"])
        if r.random() < 0.1:
            n = {"priority": r.choice(["info", "error", "INFO"]), "notification": n}
        yield n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=2500)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--no-unit-tests", action="store_true")
    ap.add_argument("defs")
    a = ap.parse_args()
    with open(a.defs) as f:
        defs = yaml.safe_load(f)
    r = random.Random(a.seed)
    out = [] if a.no_unit_tests else unit_test_notifications()
    print("%d notifications from the unit tests" % len(out), file=sys.stderr)
    out.extend(generated(r, defs, a.count))
    for n in out:
        print(json.dumps(n, ensure_ascii=False))


if __name__ == "__main__":
    main()
