#!/usr/bin/python3
"""Checks what tallyd made of published notifications against ceilometer's
own code run on the same notifications (tests/tools/meters_oracle.py,
tests/tools/events_oracle.py), for tests/integration/notifications_amqp.sh.

  notifications_check.py expect SENT DIR     expected samples and events into DIR
  notifications_check.py file DIR OUT_LOG SECRET  the file dispatcher's output, field by
                                           field, signatures checked by ceilometer's code
  notifications_check.py api DIR PORT        the same through the query API
  notifications_check.py db DIR DB           the SQLite store: every sample and event once

SENT is what tests/tools/publish_notifications.py wrote: per notification
{"priority", "notification"}. As oslo.messaging dispatches them, the
original's sample endpoint serves the info and sample priorities, its event
endpoint info and error.
"""
import datetime
import json
import os
import sqlite3
import subprocess
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(HERE, '..', 'tools')
PY = sys.executable
METERS = '/usr/lib/python3/dist-packages/ceilometer/data/meters.d'
EVENTS = '/usr/lib/python3/dist-packages/ceilometer/pipeline/data/event_definitions.yaml'


def lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def oracle(args, inputs):
    r = subprocess.run([PY] + args, input=''.join(json.dumps(i) + '\n' for i in inputs),
                       capture_output=True, text=True, check=True)
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def expect(sent_path, d):
    sent = lines(sent_path)
    meter_in = [s['notification'] for s in sent if s['priority'] in ('info', 'sample')]
    event_in = [s for s in sent if s['priority'] in ('info', 'error')]
    samples, skipped = [], 0
    for r in oracle([os.path.join(TOOLS, 'meters_oracle.py'), '--defs', METERS], meter_in):
        if 'drop' in r:
            skipped += 1
            continue
        for s in r['samples']:
            # What Tally skips and counts: the original's pipeline drops these.
            try:
                float(s['volume'])
            except (TypeError, ValueError):
                skipped += 1
                continue
            samples.append(s)
    events = [e for e in oracle([os.path.join(TOOLS, 'events_oracle.py'), EVENTS], event_in)
              if 'traits' in e]
    with open(os.path.join(d, 'samples.json'), 'w') as f:
        json.dump(samples, f)
    with open(os.path.join(d, 'events.json'), 'w') as f:
        json.dump(events, f)
    print('expected: %d samples (%d skipped), %d events from %d notifications'
          % (len(samples), skipped, len(events), len(sent)))


def skey(name, resource_id, ts, volume):
    return (name, resource_id, ts[:26], float(volume))


def ts_text(v):
    """A trait's value as the oracle prints it (isoformat drops .000000)."""
    try:
        return datetime.datetime.fromisoformat(v).isoformat()
    except (TypeError, ValueError):
        return v


def compare(what, want, got):
    if want == got:
        return 0
    print('%s differ:' % what)
    for k in sorted(set(want) | set(got), key=repr)[:200]:
        if want.get(k) != got.get(k):
            print('  %r:\n    want %r\n    got  %r' % (k, want.get(k), got.get(k)))
    return 1


def check_file(d, out_log, secret):
    from ceilometer.publisher import utils
    samples = json.load(open(os.path.join(d, 'samples.json')))
    events = json.load(open(os.path.join(d, 'events.json')))
    out = lines(out_log)
    got_s = {}
    got_e = {}
    for r in out:
        if 'counter_name' in r:
            k = skey(r['counter_name'], r['resource_id'], r['timestamp'], r['counter_volume'])
            got_s.setdefault(k, []).append(
                {'type': r['counter_type'], 'unit': r['counter_unit'],
                 'project_id': r['project_id'], 'user_id': r['user_id'],
                 'metadata': r['resource_metadata'],
                 'signed': utils.verify_signature(r, secret)})
        else:
            got_e.setdefault(r['message_id'], []).append(
                {'event_type': r['event_type'],
                 'traits': [[t[0], t[1], ts_text(str(t[2])) if t[1] == 4 else str(t[2])]
                            for t in r['traits']]})
    want_s, want_e = {}, {}
    for s in samples:
        k = skey(s['name'], s['resource_id'], s['timestamp'], s['volume'])
        want_s.setdefault(k, []).append(
            {'type': s['type'], 'unit': s['unit'], 'project_id': s['project_id'],
             'user_id': s['user_id'], 'metadata': s['metadata'], 'signed': True})
    for e in events:
        want_e.setdefault(e['message_id'], []).append(
            {'event_type': e['event_type'],
             'traits': [[t[0], t[1], ts_text(t[2]) if t[1] == 4 else t[2]]
                        for t in e['traits']]})
    bad = compare('samples', want_s, got_s) + compare('events', want_e, got_e)
    print('file: %d samples, %d events %s' % (sum(map(len, got_s.values())),
                                              sum(map(len, got_e.values())),
                                              'differ' if bad else 'as the oracle, field by field'))
    return bad


def get(port, path, project):
    req = urllib.request.Request('http://127.0.0.1:%s%s' % (port, path), headers={
        'X-Roles': 'admin', 'X-User-Id': 'admin', 'X-Project-Id': project})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def check_api(d, port):
    samples = json.load(open(os.path.join(d, 'samples.json')))
    events = json.load(open(os.path.join(d, 'events.json')))
    project = samples[0]['project_id']
    got = get(port, '/v2/samples?limit=10000', project)
    got_s = sorted(skey(s['meter'], s['resource_id'], s['timestamp'], s['volume']) for s in got)
    want_s = sorted(skey(s['name'], s['resource_id'], s['timestamp'], s['volume'])
                    for s in samples)
    got_e = sorted((e['message_id'], e['event_type'], sorted(t['name'] for t in e['traits']))
                   for e in get(port, '/v2/events?limit=10000', project))
    want_e = sorted((e['message_id'], e['event_type'], sorted(t[0] for t in e['traits']))
                    for e in events)
    bad = 0
    if got_s != want_s:
        print('GET /v2/samples: want %r\n got %r' % (want_s, got_s))
        bad = 1
    if got_e != want_e:
        print('GET /v2/events: want %r\n got %r' % (want_e, got_e))
        bad = 1
    print('api: %d samples, %d events %s' % (len(got_s), len(got_e),
                                             'differ' if bad else 'as expected'))
    return bad


def check_db(d, db):
    want = len(json.load(open(os.path.join(d, 'samples.json'))))
    want_e = sorted(e['message_id'] for e in json.load(open(os.path.join(d, 'events.json'))))
    c = sqlite3.connect(db)
    n, distinct = c.execute('select count(*), count(distinct message_id) from sample').fetchone()
    got_e = sorted(r[0] for r in c.execute('select message_id from event'))
    print('store: %d samples, %d distinct ids, %d expected; %d events, %d expected'
          % (n, distinct, want, len(got_e), len(want_e)))
    return 0 if n == distinct == want and got_e == want_e else 1


def main():
    cmd = sys.argv[1]
    if cmd == 'expect':
        expect(sys.argv[2], sys.argv[3])
        return 0
    if cmd == 'file':
        return check_file(sys.argv[2], sys.argv[3], sys.argv[4])
    if cmd == 'api':
        return check_api(sys.argv[2], sys.argv[3])
    if cmd == 'db':
        return check_db(sys.argv[2], sys.argv[3])
    return 2


if __name__ == '__main__':
    sys.exit(main())
