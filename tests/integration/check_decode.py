#!/usr/bin/python3
"""End-to-end decoding check: real ceilometer messages through tallyctl decode.

Builds samples and events with Debian's python3-ceilometer (signed by its own
publisher utilities, tests/data/gen_ceilometer_messages.py), puts them on the
wire the way each publisher does -- oslo.messaging's 2.0 envelope
(serialize_msg) and the bare 1.0 dict, telemetry.polling {"samples": [...]},
RPC record_metering_data casts, and UDP msgpack datagrams with both string
encodings -- runs `tallyctl -c CONF decode` on every body and compares the
decoded output with the originals field by field, timestamps normalized to
naive UTC as ceilometer's database dispatcher does.

    check_decode.py TALLYCTL WORKDIR

Exit status 0 when everything matches, 1 otherwise, 77 when the Python
dependencies are missing.
"""

import datetime
import importlib.util
import json
import os
import subprocess
import sys

try:
    import msgpack
    from oslo_messaging._drivers import common as oslo_common
except ImportError as exc:  # pragma: no cover - depends on the machine
    sys.stderr.write('missing dependency: %s\n' % exc)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = 'tally decode secret'


def load_generator():
    path = os.path.join(HERE, '..', 'data', 'gen_ceilometer_messages.py')
    spec = importlib.util.spec_from_file_location('gen', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def norm_time(text):
    """ceilometer: parse ISO-8601, convert to UTC, drop the zone, microseconds."""
    t = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
    if t.tzinfo is not None:
        t = t.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return t.strftime('%Y-%m-%dT%H:%M:%S.%f')


def expected_sample(s):
    e = dict(s)
    e['timestamp'] = norm_time(s['timestamp'])
    e['resource_metadata'] = s['resource_metadata'] or {}
    if e.get('monotonic_time') is None:
        e.pop('monotonic_time', None)
    return e


def expected_event(ev):
    traits = []
    for name, dtype, value in ev['traits']:
        if dtype == 2:
            value = int(value)
        elif dtype == 3:
            value = float(value)
        elif dtype == 4:
            value = norm_time(value)
        else:
            value = str(value)[:255]
        traits.append([name, dtype, value])
    return {'message_id': ev['message_id'], 'event_type': ev['event_type'],
            'generated': norm_time(ev['generated']), 'traits': traits,
            'raw': ev.get('raw') or {}, 'message_signature': ev['message_signature']}


def notification(event_type, payload):
    return {'message_id': 'a3a0b6a8-7b8e-4b55-9d39-0d7c3c1b3a11',
            'publisher_id': 'telemetry.publisher.compute-1', 'event_type': event_type,
            'priority': 'SAMPLE', 'payload': payload,
            'timestamp': '2016-03-01 12:00:00.123456', '_unique_id': '0' * 32,
            '_context_user': None, '_context_is_admin': True}


def main():
    tallyctl, work = sys.argv[1], sys.argv[2]
    gen = load_generator()
    import random
    rng = random.Random(42)
    # Through JSON once, as any receiver sees them (tuples become lists).
    samples = json.loads(json.dumps([gen.make_sample(rng, SECRET) for _ in range(120)]))
    events = json.loads(json.dumps([gen.make_event(rng, SECRET) for _ in range(30)]))

    conf = os.path.join(work, 'tally.yaml')
    with open(conf, 'w') as f:
        f.write('telemetry_secret: "%s"\n' % SECRET)

    # (file name, body bytes, msgpack?, expected samples, expected events)
    cases = []

    def add(name, body, expect_s=(), expect_e=(), mp=False):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        path = os.path.join(work, name)
        with open(path, 'wb') as f:
            f.write(data)
        cases.append((path, mp, list(expect_s), list(expect_e)))

    for i in range(0, 100, 25):
        chunk = samples[i:i + 25]
        add('notify-v2-%d.json' % i,
            oslo_common.serialize_msg(notification('metering', chunk)), chunk)
    add('notify-v1.json', notification('metering', samples[100:105]), samples[100:105])
    add('polling.json', oslo_common.serialize_msg(
        notification('telemetry.polling', {'samples': samples[105:110]})), samples[105:110])
    add('rpc.json', oslo_common.serialize_msg(
        {'method': 'record_metering_data', 'version': '1.0', 'args': {'data': samples[110:115]},
         '_unique_id': '1' * 32}), samples[110:115])
    add('events.json', oslo_common.serialize_msg(notification('event', events)), (), events)
    for j, s in enumerate(samples[115:120]):
        add('udp-raw-%d.msgpack' % j, msgpack.packb(s, use_bin_type=False), [s], mp=True)
        add('udp-bin-%d.msgpack' % j, msgpack.packb(s, use_bin_type=True), [s], mp=True)

    failures = 0
    checked = 0
    for path, mp, exp_s, exp_e in cases:
        cmd = [tallyctl, '-c', conf, 'decode'] + (['--msgpack'] if mp else []) + [path]
        proc = subprocess.run(cmd, capture_output=True)
        if proc.returncode != 0:
            print('FAIL: %s: exit %d: %s %s' % (path, proc.returncode, proc.stdout[:2000],
                                                proc.stderr[:2000]))
            failures += 1
            continue
        out = json.loads(proc.stdout)
        if len(out['samples']) != len(exp_s) or len(out['events']) != len(exp_e):
            print('FAIL: %s: %d samples, %d events; expected %d, %d' % (
                path, len(out['samples']), len(out['events']), len(exp_s), len(exp_e)))
            failures += 1
            continue
        for got, src in zip(out['samples'], exp_s):
            want = expected_sample(src)
            for key in sorted(set(got) | set(want)):
                checked += 1
                if got.get(key) != want.get(key):
                    print('FAIL: %s: sample %s: %s = %r, expected %r' % (
                        path, src['message_id'], key, got.get(key), want.get(key)))
                    failures += 1
        for got, src in zip(out['events'], exp_e):
            want = expected_event(src)
            for key in sorted(set(got) | set(want)):
                checked += 1
                if got.get(key) != want.get(key):
                    print('FAIL: %s: event %s: %s = %r, expected %r' % (
                        path, src['message_id'], key, got.get(key), want.get(key)))
                    failures += 1

    # A wrong secret: every item is rejected as bad_signature, nothing decoded.
    wrong = os.path.join(work, 'wrong.yaml')
    with open(wrong, 'w') as f:
        f.write('telemetry_secret: "not the secret"\n')
    proc = subprocess.run([tallyctl, '-c', wrong, 'decode', cases[0][0]], capture_output=True)
    out = json.loads(proc.stdout)
    if proc.returncode != 1 or out['samples'] or \
            {r['error'] for r in out['rejects']} != {'bad_signature'} or \
            len(out['rejects']) != 25:
        print('FAIL: wrong secret: exit %d, %d samples, rejects %s' % (
            proc.returncode, len(out['samples']), out['rejects'][:2]))
        failures += 1

    print('%d bodies, %d samples, %d events, %d fields compared, %d failures' % (
        len(cases), len(samples), len(events), checked, failures))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
