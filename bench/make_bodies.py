#!/usr/bin/python3
"""Write K message bodies, one per line, as a ceilometer notifier publishes them.

    make_bodies.py --per-message P --count K --secret S [--resources R] > bodies

Each body is an oslo.messaging 2.0 envelope around a notification whose
payload lists P samples built and signed by Debian's python3-ceilometer
(tests/data/gen_ceilometer_messages.py), so bench/ingest measures real
message shapes and real signature checks.

With --resources R (bench/ingest PIPELINE=1) the samples are instead the
series a compute agent polls from R instances, in turn: per instance the
meters that the shipped pipeline.yaml transforms (cumulative cpu in ns,
sometimes reset to near 0; disk and network bytes, requests and packets)
and a few it only passes on, each series one sample per 10-minute poll
(timestamps advancing), resource_metadata with cpu_number. Every
message_id is distinct: write as many bodies as are published (K), so that
no series goes back in time.
"""
import argparse
import datetime
import importlib.util
import json
import os
import random
import sys
import uuid

from oslo_messaging._drivers import common as oslo_common

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    'gen', os.path.join(HERE, '..', 'tests', 'data', 'gen_ceilometer_messages.py'))
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)

# name, type, unit, growth per poll (cumulative) or value range (gauge)
SERIES = [
    ('cpu', 'cumulative', 'ns', 6 * 10 ** 11),
    ('disk.read.bytes', 'cumulative', 'B', 5 * 10 ** 7),
    ('disk.write.bytes', 'cumulative', 'B', 8 * 10 ** 7),
    ('disk.read.requests', 'cumulative', 'request', 4000),
    ('disk.write.requests', 'cumulative', 'request', 6000),
    ('network.incoming.bytes', 'cumulative', 'B', 3 * 10 ** 7),
    ('network.outgoing.bytes', 'cumulative', 'B', 2 * 10 ** 7),
    ('network.incoming.packets', 'cumulative', 'packet', 30000),
    ('network.outgoing.packets', 'cumulative', 'packet', 20000),
    ('memory.usage', 'gauge', 'MB', 2048),
    ('vcpus', 'gauge', 'vcpu', 8),
    ('disk.usage', 'gauge', 'B', 20 * 2 ** 30),
]
RESET = 0.02  # chance that a cpu counter restarts (an instance rebooted)


def series_samples(rng, resources):
    """Endless samples: instance r's meter m at poll k, instances in turn."""
    base = datetime.datetime(2016, 5, 1, 10, 0, 0)
    inst = []
    for r in range(resources):
        vcpus = rng.choice([1, 2, 4, 8])
        inst.append({'id': gen.rand_uuid(rng), 'user': gen.rand_uuid(rng),
                     'project': gen.rand_uuid(rng), 'counters': {},
                     'md': {'cpu_number': vcpus, 'host': 'compute-%d' % (r % 40),
                            'display_name': 'vm-%d' % r, 'status': 'active',
                            'instance_type': 'm1.small', 'image_ref': gen.rand_uuid(rng),
                            'flavor': {'id': '2', 'name': 'm1.small', 'vcpus': vcpus,
                                       'ram': 2048, 'disk': 20, 'ephemeral': 0}}})
    i = 0
    while True:
        r, k = i % resources, i // resources
        name, mtype, unit, step = SERIES[k % len(SERIES)]
        poll = k // len(SERIES)
        it = inst[r]
        if mtype == 'cumulative':
            v = it["counters"].get(name, rng.randrange(step * 1000))
            v = rng.randrange(step) if name == 'cpu' and rng.random() < RESET \
                else v + rng.randrange(step)
            it['counters'][name] = v
        else:
            v = rng.randrange(step)
        t = base + datetime.timedelta(seconds=600 * poll, milliseconds=r)
        s = gen.ceilo_sample.Sample(
            name=name, type=mtype, unit=unit, volume=v, user_id=it['user'],
            project_id=it['project'], resource_id=it['id'],
            timestamp=t.strftime('%Y-%m-%dT%H:%M:%S.%f'), resource_metadata=it['md'],
            source='openstack', id=str(uuid.UUID(int=rng.getrandbits(128), version=4)))
        yield s
        i += 1


ap = argparse.ArgumentParser()
ap.add_argument('--per-message', type=int, default=1)
ap.add_argument('--count', type=int, default=200)
ap.add_argument('--secret', required=True)
ap.add_argument('--resources', type=int, default=0)
args = ap.parse_args()
rng = random.Random(7)
series = series_samples(rng, args.resources) if args.resources > 0 else None
for i in range(args.count):
    if series:
        payload = [gen.publisher_utils.meter_message_from_counter(next(series), args.secret)
                   for _ in range(args.per_message)]
    else:
        payload = [gen.make_sample(rng, args.secret) for _ in range(args.per_message)]
    note = {'message_id': gen.rand_uuid(rng), 'publisher_id': 'telemetry.publisher.compute-1',
            'event_type': 'metering', 'priority': 'SAMPLE', 'payload': payload,
            'timestamp': '2016-03-01 12:00:00.123456', '_unique_id': '%032x' % i}
    sys.stdout.write(json.dumps(oslo_common.serialize_msg(note)) + '\n')
