#!/usr/bin/python3
"""Publishes cumulative cpu samples of several resources, round by round.

    publish_cpu.py --url URL --secret S --resources R --rounds N
                   [--pause SECONDS] [--seed K] [--start EPOCH] [--step SECONDS]
                   [--jitter SECONDS] [--instance] --out samples.jsonl

Round k publishes one notification holding the cpu sample of every resource
(oslo.messaging's Notifier, as tests/tools/publish.py's Publisher), with
timestamp start + step k s (defaults 2016-03-01 and 10 s), plus, with
--jitter J, a random offset in [0, J) s in whole milliseconds per sample: a
counter in ns that grows by a random amount and now and then restarts from a
small value (a reset), resource_metadata cpu_number 1 to 4. --instance adds
what nova's compute agent puts in an instance's metadata and Gnocchi's
"instance" resource type requires (host, display_name, flavor,
instance_type, image_ref). --out gets every published sample, in publish
order, as one JSON line (the meter message without its signature): the input
of pipeline/tally-pipeline-run, the reference for the pipeline tests
(tests/integration/pipeline_*.sh). Exits 77 without the Python peers.
"""

import argparse
import datetime
import json
import os
import random
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import publish  # noqa: E402 (exits 77 itself without the Python peers)


def metadata(r, instance):
    md = {'cpu_number': r % 4 + 1}
    if instance:
        md.update({'host': 'compute-%d' % (r % 3), 'display_name': 'vm-%03d' % r,
                   'flavor': {'id': str(r % 4 + 1), 'name': 'm1.f%d' % (r % 4 + 1),
                              'vcpus': r % 4 + 1},
                   'instance_type': 'm1.f%d' % (r % 4 + 1),
                   'image_ref': str(uuid.UUID(int=r + 1)), 'status': 'active'})
    return md


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--url', default=os.environ.get('TALLY_AMQP_URL'))
    ap.add_argument('--secret', default='change this for valid signing')
    ap.add_argument('--resources', type=int, default=20)
    ap.add_argument('--rounds', type=int, default=100)
    ap.add_argument('--pause', type=float, default=0.0, help='seconds between rounds')
    ap.add_argument('--seed', type=int, default=17)
    ap.add_argument('--start', type=float, default=1456833600.0, help='epoch of round 0')
    ap.add_argument('--step', type=float, default=10.0, help='seconds between rounds')
    ap.add_argument('--jitter', type=float, default=0.0, help='random offset per sample, s')
    ap.add_argument('--instance', action='store_true', help="an instance's metadata")
    ap.add_argument('--out', required=True)
    args = ap.parse_args()
    args.durable = args.ha_queues = False
    args.host = 'stage-test'
    rng = random.Random(args.seed)
    pub = publish.Publisher(args)
    t0 = datetime.datetime.fromtimestamp(args.start, datetime.timezone.utc)
    counters = [rng.randint(0, 10 ** 12) for _ in range(args.resources)]
    with open(args.out, 'w') as out:
        for k in range(args.rounds):
            payload = []
            for r in range(args.resources):
                ms = rng.randrange(int(args.jitter * 1000)) if args.jitter else 0
                t = t0 + datetime.timedelta(seconds=args.step * k, milliseconds=ms)
                if rng.random() < 0.02:
                    counters[r] = rng.randint(0, 10 ** 9)  # a reset
                else:
                    counters[r] += rng.randint(0, 4 * 10 ** 10)
                s = publish.ceilo_sample.Sample(
                    name='cpu', type=publish.ceilo_sample.TYPE_CUMULATIVE, unit='ns',
                    volume=counters[r], user_id='u-stage', project_id='p-stage',
                    resource_id='vm-%03d' % r,
                    timestamp=t.replace(tzinfo=None).isoformat(),
                    resource_metadata=metadata(r, args.instance),
                    source='openstack', id=str(uuid.UUID(int=rng.getrandbits(128))))
                m = publish.publisher_utils.meter_message_from_counter(s, args.secret)
                payload.append(m)
                line = {k2: v for k2, v in m.items() if k2 != 'message_signature'}
                out.write(json.dumps(line, sort_keys=True) + '\n')
            out.flush()
            pub.publish_samples(payload)
            if args.pause:
                time.sleep(args.pause)
    pub.close()


if __name__ == '__main__':
    sys.exit(main())
