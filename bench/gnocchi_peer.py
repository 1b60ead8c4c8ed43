#!/usr/bin/python3
"""bench/gnocchi's Python side: the data set, ceilometer's way, and checks.

    gnocchi_peer.py ceilometer --gnocchi URL --tag T --resources R --rounds N
    gnocchi_peer.py publish    --gnocchi URL --tag T --resources R --rounds N
                               --amqp URL --secret S --first K --last K
    gnocchi_peer.py check      --gnocchi URL --tag T --resources R --rounds N

The data set: R instances, each with METRICS (names of ceilometer's own
gnocchi_resources.yaml, resource type instance), one sample per metric per
round, round k stamped base + k * 300 s (one ceilometer-low block each).
Round 0 is the warm-up: it creates the resources and metrics and is not timed.
Resource ids carry the tag, so that the two ways write disjoint resources.

ceilometer: sends rounds 0..N through ceilometer's own GnocchiPublisher
(Debian's python3-ceilometer, ceilometer/publisher/gnocchi.py) the way a
notification agent hands it samples: one publish_samples() call per resource
and round, i.e. one batch request per resource (plus, on first sight, the
"Unknown resources" round trip and the creation). Its oslo.cache is on (an
in-memory dogpile region), ceilometer's best case: resource attributes are
PATCHed only when they change. Prints "measures <n> seconds <t>" for rounds
1..N.

publish: publishes rounds first..last to RabbitMQ as ceilometer's notifier
publisher does (tests/tools/publish.py), 100 samples per notification.

check: reads every metric of every resource back (?refresh=true) and exits 1
unless each has exactly N + 1 measures.
"""
import argparse
import datetime
import importlib.util
import os
import sys
import time
from urllib import parse as urlparse

METRICS = ['cpu', 'memory.usage', 'vcpus', 'disk.root.size', 'memory.resident']
STEP = 300


def samples(args, r, k):
    from ceilometer import sample
    rid = '%s-%05d' % (args.tag, r)
    ts = datetime.datetime.utcfromtimestamp(base(args) + k * STEP).isoformat()
    md = {'host': 'compute-%d' % (r % 16), 'display_name': 'vm-%d' % r,
          'flavor': {'id': str(r % 5 + 1), 'name': 'm1.small'}, 'image_ref': 'img-1'}
    return [sample.Sample(name=m, type='gauge', unit='x', volume=float(r * 10 + k + i),
                          user_id='bench-user', project_id='bench-project', resource_id=rid,
                          timestamp=ts, resource_metadata=md)
            for i, m in enumerate(METRICS)]


def base(args):
    return (int(args.base) // STEP) * STEP


def gnocchi_client(url):
    import keystoneauth1.session
    from gnocchiclient import auth, client
    s = keystoneauth1.session.Session(auth=auth.GnocchiBasicPlugin(user='admin', endpoint=url))
    return client.Client('1', session=s, adapter_options={'connect_retries': 3})


def ceilometer(args):
    from ceilometer import service
    conf = service.prepare_service([], [])
    import oslo_cache
    oslo_cache.configure(conf)  # registers [cache], as the publisher does
    conf.set_override('enabled', True, group='cache')
    conf.set_override('backend', 'dogpile.cache.memory', group='cache')
    from ceilometer.publisher import gnocchi as gp
    gc = gnocchi_client(args.gnocchi)
    gp.gnocchi_client.get_gnocchiclient = lambda conf, request_timeout=None: gc
    import logging
    logging.getLogger('ceilometer').setLevel(logging.WARNING)
    pub = gp.GnocchiPublisher(conf, urlparse.urlparse('gnocchi://'))
    pub.filter_project = None  # no Keystone here: nothing to filter
    for r in range(args.resources):
        pub.publish_samples(samples(args, r, 0))
    t0 = time.monotonic()
    n = 0
    for k in range(1, args.rounds + 1):
        for r in range(args.resources):
            s = samples(args, r, k)
            pub.publish_samples(s)
            n += len(s)
    print('measures %d seconds %.3f' % (n, time.monotonic() - t0))


def publish(args):
    from ceilometer.publisher import utils as publisher_utils
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location('publish', top + '/tests/tools/publish.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    pub = mod.Publisher(argparse.Namespace(url=args.amqp, durable=False, ha_queues=False,
                                           host='bench'))
    batch = []
    for k in range(args.first, args.last + 1):
        for r in range(args.resources):
            for s in samples(args, r, k):
                batch.append(publisher_utils.meter_message_from_counter(s, args.secret))
                if len(batch) == 100:
                    pub.publish_samples(batch)
                    batch = []
    if batch:
        pub.publish_samples(batch)
    pub.close()


def check(args):
    gc = gnocchi_client(args.gnocchi)
    bad = 0
    for r in range(args.resources):
        rid = '%s-%05d' % (args.tag, r)
        for m in METRICS:
            got = gc.metric.get_measures(m, resource_id=rid, refresh=True, granularity=STEP)
            if len(got) != args.rounds + 1:
                bad += 1
                if bad <= 3:
                    sys.stderr.write('%s %s: %d measures, want %d\n'
                                     % (rid, m, len(got), args.rounds + 1))
    if bad:
        sys.stderr.write('check %s: %d metrics incomplete\n' % (args.tag, bad))
        sys.exit(1)
    print('check %s: %d metrics x %d measures, all there' % (args.tag, args.resources * len(METRICS),
                                                             args.rounds + 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('what', choices=['ceilometer', 'publish', 'check'])
    ap.add_argument('--gnocchi', required=True)
    ap.add_argument('--tag', required=True)
    ap.add_argument('--resources', type=int, default=100)
    ap.add_argument('--rounds', type=int, default=10)
    ap.add_argument('--base', type=float, default=time.time() - 86400)
    ap.add_argument('--amqp')
    ap.add_argument('--secret', default='')
    ap.add_argument('--first', type=int, default=0)
    ap.add_argument('--last', type=int, default=0)
    args = ap.parse_args()
    {'ceilometer': ceilometer, 'publish': publish, 'check': check}[args.what](args)


if __name__ == '__main__':
    main()
