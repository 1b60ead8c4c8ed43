#!/usr/bin/python3
"""Prints ceilometer-signed messages, one JSON document per line.

Builds realistic samples with ceilometer.sample.Sample and signs them with
ceilometer.publisher.utils.meter_message_from_counter(), and events with
ceilometer.event.models.Event/Trait signed by message_from_event(), using
Debian's python3-ceilometer (19.0.0). The output is deterministic for a given
--seed.

    gen_ceilometer_messages.py --secret S [--count N] [--seed N] [--tamper]
                               [--decode-unicode 19|6]

With --tamper one field of every message is changed after signing
(counter_volume of a sample, event_type of an event), so that no signature
should verify. With --decode-unicode 6 the lists are signed as ceilometer 6.0.0
did under Python 3 (str kept as str, so ['a'] rather than 19.0.0's [b'a']), by
replacing publisher.utils.decode_unicode with 6.0.0's behaviour.
Exits 77 when ceilometer cannot be imported (the test skips).
"""

import argparse
import datetime
import json
import random
import sys
import uuid

try:
    from ceilometer import sample as ceilo_sample
    from ceilometer.event import models as event_models
    from ceilometer.publisher import utils as publisher_utils
except ImportError as exc:  # pragma: no cover - depends on the machine
    sys.stderr.write('python3-ceilometer is not installed: %s\n' % exc)
    sys.exit(77)

FLOATS = [
    0.1, 0.5, 1e-05, 123456789.123, 12.345678901234567, 1e16, 2.5, 0.0, -3.75,
    99.99999999999999, 1.0 / 3, 0.30000000000000004, 1e-07, 6.02214076e23,
    123456789012.5, 42.0, 1e11, 3.14159, 7e-10, 65536.0,
]
INTS = [0, 1, 2, 512, 4096, -1, 2 ** 40, 10 ** 15, 2 ** 62, 123456789]
STRINGS = [
    'café', '日本語', 'naïve', "it's", 'say "hi"', 'back\\slash', 'tab\there',
    'new\nline', 'plain', '', 'emoji \U0001f600', 'nbsp\u00a0x', "both ' and \"",
    'ctrl\x01\x7f', 'm\u00fcnchen-1', 'zero\u200bwidth',
]
METERS = [
    ('cpu', ceilo_sample.TYPE_CUMULATIVE, 'ns'),
    ('cpu_util', ceilo_sample.TYPE_GAUGE, '%'),
    ('memory.usage', ceilo_sample.TYPE_GAUGE, 'MB'),
    ('disk.read.bytes', ceilo_sample.TYPE_CUMULATIVE, 'B'),
    ('network.incoming.bytes.rate', ceilo_sample.TYPE_GAUGE, 'B/s'),
    ('image.download', ceilo_sample.TYPE_DELTA, 'B'),
    ('instance', ceilo_sample.TYPE_GAUGE, 'instance'),
    ('storage.objects.outgoing.bytes', ceilo_sample.TYPE_DELTA, 'B'),
]


def rand_uuid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def rand_time(rng):
    base = datetime.datetime(2016, 3, 1, 12, 0, 0)
    t = base + datetime.timedelta(seconds=rng.randint(0, 10 ** 7),
                                  microseconds=rng.choice([0, rng.randint(0, 999999)]))
    if rng.random() < 0.2:
        return t.replace(tzinfo=datetime.timezone.utc).isoformat()
    return t.isoformat()


def rand_scalar(rng):
    kind = rng.randint(0, 5)
    if kind == 0:
        return rng.choice(FLOATS)
    if kind == 1:
        return rng.choice(INTS)
    if kind == 2:
        return rng.choice([None, True, False])
    return rng.choice(STRINGS)


def rand_list(rng, depth=0):
    out = []
    for _ in range(rng.randint(0, 4)):
        r = rng.random()
        if r < 0.15 and depth < 2:
            out.append(rand_list(rng, depth + 1))
        elif r < 0.3 and depth < 2:
            out.append({'k%d' % i: rand_scalar(rng) for i in range(rng.randint(0, 4))})
        else:
            out.append(rand_scalar(rng))
    if rng.random() < 0.2:
        return tuple(out)
    return out


def rand_metadata(rng):
    md = {
        'host': 'compute-%d' % rng.randint(1, 40),
        'display_name': rng.choice(['vm-1', 'café-server', 'web "front"', "db's"]),
        'flavor': {'id': str(rng.randint(1, 9)), 'ram': rng.choice([512, 2048]),
                   'vcpus': rng.randint(1, 8), 'disk': rng.choice([0, 20, 1.5]),
                   'extra': {'hw:cpu_policy': 'dedicated', 'ratio': rng.choice(FLOATS)}},
        'status': rng.choice(['active', 'building', None]),
        'ephemeral': rng.choice([True, False]),
        'tags': rng.choice([['a', 'b'], [], ['café', 'ünïcode'], [1, 2.5, None]]),
        'empty': {},
    }
    for i in range(rng.randint(0, 6)):
        key = rng.choice(['k%d' % i, 'clé%d' % i, 'Z%d' % i, 'a:b%d' % i])
        r = rng.random()
        if r < 0.25:
            md[key] = rand_list(rng)
        elif r < 0.35:
            md[key] = {'inner': rand_scalar(rng), 'deeper': {'x': rand_scalar(rng)}}
        else:
            md[key] = rand_scalar(rng)
    if rng.random() < 0.3:
        md['fixed_ips'] = [{'subnet_id': rand_uuid(rng), 'ip_address': '10.0.0.%d' % i}
                           for i in range(rng.randint(1, 3))]
    return md


def make_sample(rng, secret):
    name, mtype, unit = rng.choice(METERS)
    volume = rng.choice([rng.choice(FLOATS), rng.choice(INTS), rng.random() * 100,
                         rng.randint(0, 10 ** 9)])
    s = ceilo_sample.Sample(
        name=name, type=mtype, unit=unit, volume=volume,
        user_id=rand_uuid(rng), project_id=rand_uuid(rng),
        resource_id=rand_uuid(rng), timestamp=rand_time(rng),
        resource_metadata=rand_metadata(rng), source=rng.choice([None, 'openstack', 'src-é']),
        id=rand_uuid(rng),
        monotonic_time=rng.choice([None, rng.random() * 1e6]))
    return publisher_utils.meter_message_from_counter(s, secret)


def make_event(rng, secret):
    T = event_models.Trait
    traits = [
        T('service', T.TEXT_TYPE, 'compute.host%d' % rng.randint(1, 9)),
        T('memory_mb', T.INT_TYPE, rng.choice([512, 2048])),
        T('launched_at', T.DATETIME_TYPE,
          datetime.datetime(2016, 3, 1, 11, 59, rng.randint(0, 59), rng.randint(0, 999999))),
        T('ratio', T.FLOAT_TYPE, rng.choice(FLOATS)),
        T('display_name', T.TEXT_TYPE, rng.choice(STRINGS)),
    ]
    rng.shuffle(traits)
    raw = rng.choice([{}, {'payload': {'state': 'active', 'n': rng.randint(0, 9)}}])
    ev = event_models.Event(
        message_id=rand_uuid(rng),
        event_type=rng.choice(['compute.instance.create.end', 'volume.delete.start']),
        generated=datetime.datetime(2016, 3, 1, 12, 0, 0, rng.randint(0, 999999)),
        traits=traits, raw=raw)
    return publisher_utils.message_from_event(ev, secret)


def decode_unicode_6(input):
    """ceilometer 6.0.0's utils.decode_unicode() as it ran on Python 3."""
    if isinstance(input, dict):
        temp = {}
        for key, value in sorted(input.items()):
            temp[decode_unicode_6(key)] = decode_unicode_6(value)
        return temp
    elif isinstance(input, (tuple, list)):
        return [decode_unicode_6(element) for element in input]
    elif isinstance(input, bytes):
        return input.decode('utf-8')
    return input


def tamper(msg):
    if 'counter_volume' in msg:
        v = msg['counter_volume']
        # v + 1 is lost on large floats (1e16 + 1 == 1e16).
        msg['counter_volume'] = v + 1 if v + 1 != v else v * 2 + 1
    else:
        msg['event_type'] += '.tampered'


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--secret', required=True)
    ap.add_argument('--count', type=int, default=250)
    ap.add_argument('--seed', type=int, default=20160301)
    ap.add_argument('--tamper', action='store_true')
    ap.add_argument('--decode-unicode', choices=['19', '6'], default='19')
    args = ap.parse_args()
    if args.decode_unicode == '6':
        publisher_utils.decode_unicode = decode_unicode_6
    rng = random.Random(args.seed)
    for i in range(args.count):
        if i % 5 == 4:
            msg = make_event(rng, args.secret)
        else:
            msg = make_sample(rng, args.secret)
        if args.tamper:
            tamper(msg)
        sys.stdout.write(json.dumps(msg) + '\n')


if __name__ == '__main__':
    main()
