#!/usr/bin/python3
"""Generates ceilometer samples (JSON lines) for the pipeline differential test.

  gen_pipeline_samples.py --count N --seed S > samples.jsonl

Several resources interleaved at random, each with its own clock: cumulative
counters (cpu in ns, disk and network bytes, requests and packets) with
resets (the counter restarts near 0), repeated timestamps (a time delta of
0) and samples older than their predecessor (out of order); gauges (memory,
memory.usage, in ints and floats); resource_metadata with and without
cpu_number, some empty, some null; timestamps written with Z, an offset,
fractions or none. Volumes stay below 2**53, so that Python's and C's
arithmetic see the same numbers. Deterministic for a seed.
"""
import argparse
import datetime
import json
import random

COUNTERS = [('cpu', 'ns', ''), ('disk.read.bytes', 'B', ''), ('disk.write.requests', 'request', ''),
            ('disk.device.read.bytes', 'B', '-vda'), ('disk.device.write.requests', 'request', '-vda'),
            ('network.incoming.bytes', 'B', '-tap0'), ('network.outgoing.packets', 'packet', '-tap0')]
GAUGES = [('memory', 'MB'), ('memory.usage', 'MB')]


def stamp(rng, t):
    form = rng.randrange(5)
    if form == 0:
        return t.strftime('%Y-%m-%dT%H:%M:%SZ')
    if form == 1:
        return (t + datetime.timedelta(hours=2)).strftime('%Y-%m-%dT%H:%M:%S+02:00')
    if form == 2:
        return t.strftime('%Y-%m-%dT%H:%M:%S.%f')
    if form == 3:
        return t.strftime('%Y-%m-%dT%H:%M:%S')
    return t.isoformat()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--count', type=int, default=10000)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--resources', type=int, default=12)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    base = datetime.datetime(2016, 5, 1, 10, 0, 0)
    res = []
    for i in range(args.resources):
        md = {'flavor': 'm1.small', 'cpu_number': rng.choice([1, 2, 4, 8])}
        if i % 4 == 3:
            md = {'flavor': 'm1.tiny'}           # no cpu_number: "or 1"
        res.append({'id': 'vm%d' % i, 'clock': base + datetime.timedelta(seconds=i),
                    'md': md, 'counters': {}, 'user': 'u%d' % (i % 3),
                    'project': 'p%d' % (i % 2)})
    for n in range(args.count):
        r = rng.choice(res)
        kind = rng.random()
        step = rng.choice([0, 10, 30, 60, 60, 60, 600, 0.5, 1.25])
        r['clock'] += datetime.timedelta(seconds=step)
        t = r['clock']
        if kind < 0.75:
            name, unit, suffix = rng.choice(COUNTERS)
            value = r['counters'].get(name, rng.randrange(0, 10**9))
            value += rng.randrange(0, 6 * 10**10 if name == 'cpu' else 10**6)
            if rng.random() < 0.02:
                value = rng.randrange(0, 10**6)  # a reset
            r['counters'][name] = value
            if rng.random() < 0.02:
                t = t - datetime.timedelta(seconds=rng.choice([1, 5, 120]))  # out of order
            s = {'name': name, 'type': 'cumulative', 'unit': unit, 'volume': value,
                 'resource_id': r['id'] + suffix}
        else:
            name, unit = rng.choice(GAUGES)
            volume = rng.randrange(1, 8192)
            if rng.random() < 0.3:
                volume = volume / 4.0
            s = {'name': name, 'type': 'gauge', 'unit': unit, 'volume': volume,
                 'resource_id': r['id']}
        md = dict(r['md'])
        x = rng.random()
        if x < 0.01:
            md = None
        elif x < 0.03:
            md = {}
        s.update({'user_id': r['user'], 'project_id': r['project'],
                  'timestamp': stamp(rng, t), 'resource_metadata': md,
                  'source': 'openstack', 'id': 'gen-%06d' % n})
        print(json.dumps(s, sort_keys=True))


if __name__ == '__main__':
    main()
