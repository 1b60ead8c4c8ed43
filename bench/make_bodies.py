#!/usr/bin/python3
"""Write K message bodies, one per line, as a ceilometer notifier publishes them.

    make_bodies.py --per-message P --count K --secret S > bodies

Each body is an oslo.messaging 2.0 envelope around a notification whose
payload lists P samples built and signed by Debian's python3-ceilometer
(tests/data/gen_ceilometer_messages.py), so bench/ingest measures real
message shapes and real signature checks.
"""
import argparse
import importlib.util
import json
import os
import random
import sys

from oslo_messaging._drivers import common as oslo_common

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    'gen', os.path.join(HERE, '..', 'tests', 'data', 'gen_ceilometer_messages.py'))
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)

ap = argparse.ArgumentParser()
ap.add_argument('--per-message', type=int, default=1)
ap.add_argument('--count', type=int, default=200)
ap.add_argument('--secret', required=True)
args = ap.parse_args()
rng = random.Random(7)
for i in range(args.count):
    payload = [gen.make_sample(rng, args.secret) for _ in range(args.per_message)]
    note = {'message_id': gen.rand_uuid(rng), 'publisher_id': 'telemetry.publisher.compute-1',
            'event_type': 'metering', 'priority': 'SAMPLE', 'payload': payload,
            'timestamp': '2016-03-01 12:00:00.123456', '_unique_id': '%032x' % i}
    sys.stdout.write(json.dumps(oslo_common.serialize_msg(note)) + '\n')
