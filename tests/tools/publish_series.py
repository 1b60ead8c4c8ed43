#!/usr/bin/python3
"""Publishes one series of gauge samples, value by value, as ceilometer does.

    publish_series.py --url URL --secret S --meter M --resource R
                      [--project P] [--start EPOCH] [--step SECONDS] VALUE...

Sample k (of the VALUEs, in order) has timestamp start + k * step (UTC) and
goes in a notification of its own, one after the other, signed and sent by
tests/tools/publish.py's Publisher (oslo.messaging's Notifier on the
"ceilometer" exchange, topic "metering"), so that a collector sees them in
order. For thresholds (tests/integration/control_thresholds.sh): values that
cross a limit at known points. Exits 77 without oslo.messaging or ceilometer.
"""

import argparse
import datetime
import importlib.util
import os
import sys
import uuid

_spec = importlib.util.spec_from_file_location(
    'publish', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'publish.py'))
publish = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(publish)  # exits 77 itself without the Python peers


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--url', default=os.environ.get('TALLY_AMQP_URL'))
    ap.add_argument('--secret', default='change this for valid signing')
    ap.add_argument('--meter', required=True)
    ap.add_argument('--resource', required=True)
    ap.add_argument('--project', default='p-thresholds')
    ap.add_argument('--start', type=float, default=1456833600.0, help='first timestamp (epoch)')
    ap.add_argument('--step', type=float, default=1.0)
    ap.add_argument('values', type=float, nargs='+')
    args = ap.parse_args()
    # What publish.Publisher reads of its arguments.
    args.durable = args.ha_queues = False
    args.host = 'thresholds-test'
    pub = publish.Publisher(args)
    for k, v in enumerate(args.values):
        t = datetime.datetime.fromtimestamp(args.start + k * args.step, datetime.timezone.utc)
        s = publish.ceilo_sample.Sample(
            name=args.meter, type=publish.ceilo_sample.TYPE_GAUGE, unit='%', volume=v,
            user_id='u-thresholds', project_id=args.project, resource_id=args.resource,
            timestamp=t.replace(tzinfo=None).isoformat(), resource_metadata={},
            source='openstack', id=str(uuid.uuid4()))
        pub.publish_samples([publish.publisher_utils.meter_message_from_counter(s, args.secret)])
    pub.close()


if __name__ == '__main__':
    sys.exit(main())
