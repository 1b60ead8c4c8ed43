#!/usr/bin/python3
"""The oracle of the meter definitions (issue 18): ceilometer's own
ProcessMeterNotifications on notifications read as JSON lines, printed in
the canonical form of definitions/tally-meters.

  meters_oracle.py --defs DIR [--defs DIR...] [--list] < notifications.jsonl
  meters_oracle.py --unit-notifications     (the unit tests' notifications, JSON lines)

Per notification one line: {"n": i, "samples": [...]}, each sample
{"name", "type", "unit", "volume", "resource_id", "project_id", "user_id",
"timestamp" (UTC, six fraction digits, or "out-of-range"), "metadata"} as
build_sample() yields them (values as Python has them, volume untouched);
{"n": i, "drop": "Exception: text"} when build_sample() raises, which the
original's endpoint logs, dropping the notification's samples.
"""
import argparse
import copy
import datetime
import json
import logging
import sys
from unittest import mock


def canon(s):
    d = s.as_dict()
    try:
        ts = datetime.datetime.fromisoformat(d['timestamp'])
        ts = ts.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')
    except (OverflowError, ValueError):
        ts = 'out-of-range'
    return {'name': d['name'], 'type': d['type'], 'unit': d['unit'],
            'volume': d['volume'], 'resource_id': d['resource_id'],
            'project_id': d['project_id'], 'user_id': d['user_id'],
            'timestamp': ts, 'metadata': d['resource_metadata']}


def importable_unit_tests():
    """Lets ceilometer's unit test modules be imported for their data without
    oslotest (not packaged with python3-ceilometer): a stand-in for its test
    base class. Also used by tests/tools/publish_notifications.py."""
    try:
        import oslotest.base  # noqa: F401
    except ImportError:
        import types
        import unittest
        stub = types.ModuleType('oslotest')
        stub.base = types.ModuleType('oslotest.base')
        stub.base.BaseTestCase = unittest.TestCase
        sys.modules['oslotest'] = stub
        sys.modules['oslotest.base'] = stub.base


def unit_notifications():
    """The module-level notifications of ceilometer's meter unit tests, and
    the variants its tests make of them."""
    importable_unit_tests()
    from ceilometer.tests.unit.meter import test_notifications as t
    out = [v for k, v in sorted(vars(t).items())
           if k.isupper() and isinstance(v, dict) and 'event_type' in v]
    ev = copy.deepcopy(t.MIDDLEWARE_EVENT)
    del ev['payload']['measurements'][1]
    out.append(ev)
    ev = copy.deepcopy(t.MIDDLEWARE_EVENT)
    del ev['payload']['measurements']
    out.append(ev)
    ev = copy.deepcopy(t.MIDDLEWARE_EVENT)
    del ev['payload']['measurements'][0]['result']
    out.append(copy.deepcopy(ev))
    del ev['payload']['measurements'][1]['result']
    out.append(ev)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--defs', action='append', default=[])
    ap.add_argument('--list', action='store_true')
    ap.add_argument('--unit-notifications', action='store_true')
    a = ap.parse_args()
    if a.unit_notifications:
        for n in unit_notifications():
            print(json.dumps(n))
        return 0
    from ceilometer.meter import notifications
    from ceilometer import service
    logging.disable(logging.CRITICAL)
    conf = service.prepare_service([], [])
    logging.disable(logging.CRITICAL)
    conf.set_override('meter_definitions_dirs', a.defs, group='meter')
    h = notifications.ProcessMeterNotifications(conf, mock.Mock())
    if a.list:
        for d in h.definitions:
            print(d.cfg['name'])
        return 0
    for i, line in enumerate(l for l in sys.stdin if l.strip()):
        msg = json.loads(line)
        try:
            samples = [canon(s) for s in h.build_sample(msg)]
        except Exception as e:  # the endpoint's "Fail to process notification"
            print(json.dumps({'n': i, 'drop': '%s: %s' % (type(e).__name__, e)}))
            continue
        print(json.dumps({'n': i, 'samples': samples}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
