#!/usr/bin/python3
"""Publishes ceilometer samples and events to RabbitMQ as ceilometer does.

Mirrors ceilometer's notifier publisher (ceilometer/publisher/messaging.py,
Debian's python3-ceilometer 19): an oslo.messaging notification transport
with the "ceilometer" control exchange, a Notifier with driver "messagingv2",
publisher_id "telemetry.publisher.<host>" and topics ["metering"] (events:
["event"]), and one Notifier.sample({}, event_type=<topic>, payload=[...])
per publish_samples() call, whose payload holds every sample of the call
signed by ceilometer.publisher.utils.meter_message_from_counter() (events:
message_from_event()). --per-message K puts K samples in one notification, as
a pipeline that hands K samples to its publisher at once.

    publish.py --url amqp://guest:guest@127.0.0.1:PORT/ [--secret S]
               [--count N] [--per-message K] [--events N] [--event-types T1,T2,...]
               [--seed N] [--out FILE] [--events-out FILE]
               [--garbage N] [--garbage-kinds K1,K2,...] [--oversize BYTES]
               [--durable] [--ha-queues] [--host NAME] [--jobs J]
               [--time-offset SECONDS]

The URL may be amqp:// (as tallyd takes it) or rabbit:// (as oslo does); the
default is $TALLY_AMQP_URL, which scripts/rabbitmq prints. Samples and events
are deterministic for a given --seed (ids, timestamps, volumes, metadata):
sample i is the same whatever --per-message and --jobs are. --time-offset S
gives the samples the current time plus S seconds (S < 0: in the past, an
agent whose clock is late) as timestamps instead (signed after, as ever).
Event i has type T[i % len(T)] of --event-types (default
compute.instance.create.end,volume.delete.start).
--out writes each published sample dict, one JSON object per line, exactly as
it went into the payload; --events-out the same for events. With --jobs 1 the
lines are in publish order.

oslo.messaging publishes with publisher confirms, one round trip per
notification, so one-sample notifications are slow (about 2,000/s here):
--jobs J publishes with J processes, each with its own connection, notification
m from job m % J (the order in the queue is then interleaved).

--garbage N also publishes N bad messages to exchange "ceilometer", routing
key "metering.sample", spread evenly through the stream of good ones, cycling
through --garbage-kinds (default all, in this order):
    garbage    a body of random bytes (content type application/json), raw
    envelope   a 2.0 envelope whose "oslo.message" is not JSON, raw
    signature  a Notifier notification of 1 sample signed with a wrong secret
    oversized  a Notifier notification of 1 correctly signed sample whose
               metadata pads the body to --oversize bytes (default 2 MiB)
The raw ones go through kombu (python3-kombu, oslo's own AMQP library), with
the exchange and queue declared exactly as oslo declares them. None of them
is written to --out.

--durable and --ha-queues set oslo's amqp_durable_queues and rabbit_ha_queues
(the exchange and queue flags change with them: a broker that holds the queue
with other flags refuses the declaration).

Prints one summary line on stderr: what was published and the rate.
Exits 77 when oslo.messaging or ceilometer cannot be imported (tests skip).
"""

import argparse
import datetime
import importlib.util
import json
import os
import random
import socket
import sys
import time
import uuid
from urllib import parse as urlparse

try:
    from oslo_config import cfg
    import oslo_messaging
    from oslo_messaging._drivers import amqp as oslo_amqp
    from oslo_messaging._drivers import impl_rabbit
    from ceilometer import sample as ceilo_sample
    from ceilometer.event import models as event_models
    from ceilometer.publisher import utils as publisher_utils
except ImportError as exc:  # pragma: no cover - depends on the machine
    sys.stderr.write('publish.py: python3-oslo.messaging or python3-ceilometer '
                     'is not installed: %s\n' % exc)
    sys.exit(77)

# ceilometer's defaults: [publisher_notifier] metering_topic, event_topic,
# telemetry_driver; ceilometer.messaging.setup()'s control exchange.
EXCHANGE = 'ceilometer'
METERING_TOPIC = 'metering'
EVENT_TOPIC = 'event'
DEFAULT_EVENT_TYPES = ('compute.instance.create.end', 'volume.delete.start')
DRIVER = 'messagingv2'

GARBAGE_KINDS = ('garbage', 'envelope', 'signature', 'oversized')

# The meters of the test data generator, so that both tools describe the same agents.
_spec = importlib.util.spec_from_file_location(
    'gen_ceilometer_messages',
    os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data',
                 'gen_ceilometer_messages.py'))
_gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_gen)
METERS = _gen.METERS
NAMES = ['vm-1', 'café-server', 'web "front"', "db's", '日本語', 'tab\there']
BASE_TIME = datetime.datetime(2016, 3, 1, 12, 0, 0)


def with_scheme(url, scheme):
    parts = urlparse.urlsplit(url)
    return urlparse.urlunsplit((scheme,) + tuple(parts[1:]))


def rand_uuid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class Generator(object):
    """Deterministic ceilometer samples and events for one seed.

    Item i of a kind depends only on (seed, kind, i), so that any job can
    build any slice of the stream.
    """

    def __init__(self, seed, time_offset=None, event_types=DEFAULT_EVENT_TYPES):
        self.seed = seed
        self.time_offset = time_offset
        self.event_types = event_types
        rng = random.Random(seed)
        # A few hundred resources, as a cloud has, rather than one per sample.
        self.resources = [rand_uuid(rng) for _ in range(200)]
        self.projects = [rand_uuid(rng) for _ in range(20)]
        self.users = [rand_uuid(rng) for _ in range(50)]

    def rng(self, kind, i):
        return random.Random('%d/%s/%d' % (self.seed, kind, i))

    def sample(self, i, secret, pad=0, kind='sample'):
        rng = self.rng(kind, i)
        name, mtype, unit = METERS[i % len(METERS)]
        if mtype == ceilo_sample.TYPE_GAUGE:
            volume = round(rng.random() * 100, rng.choice([1, 3, 17]))
        else:
            volume = rng.randint(0, 10 ** 12)
        r = rng.randrange(len(self.resources))
        t = BASE_TIME + datetime.timedelta(seconds=i, microseconds=rng.randint(0, 999999))
        if self.time_offset is not None:
            # An agent's clock: now (naive UTC, as ceilometer's) shifted.
            t = (datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) +
                 datetime.timedelta(seconds=self.time_offset))
        md = {
            'host': 'compute-%d' % (r % 40),
            'display_name': NAMES[r % len(NAMES)],
            'status': 'active',
            'flavor': {'id': str(r % 9 + 1), 'ram': 512 << (r % 4), 'vcpus': r % 8 + 1,
                       'disk': 20, 'ephemeral': 0},
            'image_ref': self.resources[(r * 7) % len(self.resources)],
            'instance_type': 'm1.small',
            'tags': ['a', 'b'] if r % 3 == 0 else [],
            'ratio': r / 7.0,
            'enabled': bool(r % 2),
            'deleted_at': None,
        }
        if pad:
            md['padding'] = 'x' * pad
        s = ceilo_sample.Sample(
            name=name, type=mtype, unit=unit, volume=volume,
            user_id=self.users[r % len(self.users)],
            project_id=self.projects[r % len(self.projects)],
            resource_id=self.resources[r], timestamp=t.isoformat(),
            resource_metadata=md, source='openstack', id=rand_uuid(rng),
            monotonic_time=None if i % 4 == 0 else round(1000 + i * 0.5, 3))
        return publisher_utils.meter_message_from_counter(s, secret)

    def event(self, i, secret):
        rng = self.rng('event', i)
        T = event_models.Trait
        gen = BASE_TIME + datetime.timedelta(seconds=i, microseconds=rng.randint(0, 999999))
        traits = [
            T('service', T.TEXT_TYPE, 'compute.host%d' % (i % 9)),
            T('memory_mb', T.INT_TYPE, rng.choice([512, 2048])),
            T('launched_at', T.DATETIME_TYPE, gen - datetime.timedelta(seconds=30)),
            T('ratio', T.FLOAT_TYPE, rng.random()),
            T('display_name', T.TEXT_TYPE, NAMES[i % len(NAMES)]),
            T('resource_id', T.TEXT_TYPE, self.resources[i % len(self.resources)]),
        ]
        ev = event_models.Event(
            message_id=rand_uuid(rng),
            event_type=self.event_types[i % len(self.event_types)],
            generated=gen, traits=traits, raw={})
        return publisher_utils.message_from_event(ev, secret)


def make_conf(args):
    conf = cfg.ConfigOpts()
    conf(args=[], project='tally-publish', default_config_files=[],
         default_config_dirs=[])
    # What ceilometer.messaging.setup() does.
    oslo_messaging.set_transport_defaults(EXCHANGE)
    group = 'oslo_messaging_rabbit'
    conf.register_opts(impl_rabbit.rabbit_opts, group=group)
    conf.register_opts(oslo_amqp.amqp_opts, group=group)
    conf.set_default('rabbit_qos_prefetch_count', 100, group=group)
    if args.durable:
        conf.set_override('amqp_durable_queues', True, group=group)
    if args.ha_queues:
        conf.set_override('rabbit_ha_queues', True, group=group)
    return conf


class Publisher(object):
    def __init__(self, args):
        self.args = args
        self.conf = make_conf(args)
        self.transport = oslo_messaging.get_notification_transport(
            self.conf, url=with_scheme(args.url, 'rabbit'))
        publisher_id = 'telemetry.publisher.%s' % args.host
        # ceilometer passes retry=None (retry forever) with the default policy.
        self.samples = oslo_messaging.Notifier(
            self.transport, driver=DRIVER, publisher_id=publisher_id,
            topics=[METERING_TOPIC], retry=None)
        self.events = oslo_messaging.Notifier(
            self.transport, driver=DRIVER, publisher_id=publisher_id,
            topics=[EVENT_TOPIC], retry=None)
        self.raw = None

    def publish_samples(self, payload):
        # NotifierPublisher._send(topic, data)
        self.samples.sample({}, event_type=METERING_TOPIC, payload=payload)

    def publish_events(self, payload):
        self.events.sample({}, event_type=EVENT_TOPIC, payload=payload)

    def publish_raw(self, body):
        if self.raw is None:
            self.raw = RawPublisher(self.args)
        self.raw.publish(body)

    def close(self):
        if self.raw is not None:
            self.raw.close()
        self.transport.cleanup()


class RawPublisher(object):
    """Bodies oslo would never send, on the same exchange and routing key."""

    def __init__(self, args):
        import kombu
        self.conn = kombu.Connection(with_scheme(args.url, 'amqp'))
        channel = self.conn.channel()
        durable = bool(args.durable)
        exchange = kombu.Exchange(EXCHANGE, type='topic', durable=durable,
                                  auto_delete=False)
        routing_key = METERING_TOPIC + '.sample'
        queue = kombu.Queue(routing_key, exchange=exchange, routing_key=routing_key,
                            durable=durable, auto_delete=False,
                            queue_arguments={'x-ha-policy': 'all'} if args.ha_queues else None)
        queue(channel).declare()
        self.producer = kombu.Producer(channel, exchange=exchange, routing_key=routing_key)

    def publish(self, body):
        self.producer.publish(body, content_type='application/json',
                              content_encoding='utf-8')

    def close(self):
        self.conn.release()


def bad_message(kind, gen, args, index):
    """Returns (raw body, None) or (None, notification payload)."""
    rng = gen.rng('bad', index)
    if kind == 'garbage':
        n = rng.randint(1, 512)
        return bytes(rng.getrandbits(8) for _ in range(n)), None
    if kind == 'envelope':
        body = json.dumps({'oslo.version': '2.0',
                           'oslo.message': '{"payload": [ not json %d' % index})
        return body.encode('utf-8'), None
    if kind == 'signature':
        return None, [gen.sample(index, args.secret + ' but wrong', kind='bad-signature')]
    if kind == 'oversized':
        return None, [gen.sample(index, args.secret, pad=args.oversize, kind='oversized')]
    raise ValueError(kind)


def run_job(args, job, kinds, out_path, events_out_path):
    """Publishes this job's share: notification m when m % jobs == job.

    Returns (samples, notifications, events, event notifications, bad kinds).
    """
    gen = Generator(args.seed, args.time_offset, args.event_types)
    pub = Publisher(args)
    out = open(out_path, 'w', encoding='utf-8') if out_path else None
    events_out = open(events_out_path, 'w', encoding='utf-8') if events_out_path else None
    per = args.per_message
    n_msgs = (args.count + per - 1) // per
    # Bad message b goes just before good notification after(b), evenly spread
    # through the stream; those after the last one are job 0's.
    bad_before = {}
    for b in range(args.garbage):
        m = (b + 1) * n_msgs // (args.garbage + 1)
        bad_before.setdefault(min(m, n_msgs), []).append(b)
    bad_done = {k: 0 for k in GARBAGE_KINDS}

    def publish_bad(m):
        for b in bad_before.get(m, ()):
            kind = kinds[b % len(kinds)]
            body, payload = bad_message(kind, gen, args, b)
            if body is not None:
                pub.publish_raw(body)
            else:
                pub.publish_samples(payload)
            bad_done[kind] += 1

    counts = [0, 0, 0, 0]
    for m in range(job, n_msgs, args.jobs):
        publish_bad(m)
        first = m * per
        payload = [gen.sample(i, args.secret) for i in range(first, min(first + per, args.count))]
        pub.publish_samples(payload)
        counts[0] += len(payload)
        counts[1] += 1
        if out is not None:
            out.write(''.join(json.dumps(s) + '\n' for s in payload))
    if job == 0:
        publish_bad(n_msgs)
    n_ev_msgs = (args.events + per - 1) // per
    for m in range(job, n_ev_msgs, args.jobs):
        first = m * per
        payload = [gen.event(i, args.secret) for i in range(first, min(first + per, args.events))]
        pub.publish_events(payload)
        counts[2] += len(payload)
        counts[3] += 1
        if events_out is not None:
            events_out.write(''.join(json.dumps(e) + '\n' for e in payload))
    pub.close()
    for f in (out, events_out):
        if f is not None:
            f.close()
    return counts + [bad_done]


def job_main(job, args, kinds, out_path, events_out_path, result_path):
    counts = run_job(args, job, kinds, out_path, events_out_path)
    with open(result_path, 'w') as f:
        json.dump(counts, f)


def concat(parts, path):
    with open(path, 'w', encoding='utf-8') as out:
        for part in parts:
            with open(part, encoding='utf-8') as f:
                out.write(f.read())
            os.unlink(part)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--url', default=os.environ.get('TALLY_AMQP_URL'),
                    help='broker URL (default: $TALLY_AMQP_URL)')
    ap.add_argument('--secret', default='change this for valid signing',
                    help="telemetry_secret (default: ceilometer's)")
    ap.add_argument('--count', type=int, default=100, help='samples to publish')
    ap.add_argument('--per-message', type=int, default=1,
                    help='samples (and events) per notification')
    ap.add_argument('--events', type=int, default=0, help='events to publish')
    ap.add_argument('--event-types', default=','.join(DEFAULT_EVENT_TYPES),
                    help='event i has the type i %% N of this list')
    ap.add_argument('--seed', type=int, default=20160301)
    ap.add_argument('--out', help='write the published samples here, one JSON per line')
    ap.add_argument('--events-out', help='write the published events here')
    ap.add_argument('--garbage', type=int, default=0, help='bad messages to publish')
    ap.add_argument('--garbage-kinds', default=','.join(GARBAGE_KINDS))
    ap.add_argument('--oversize', type=int, default=2 << 20,
                    help='body size of "oversized" messages (bytes)')
    ap.add_argument('--durable', action='store_true', help='amqp_durable_queues = True')
    ap.add_argument('--ha-queues', action='store_true', help='rabbit_ha_queues = True')
    ap.add_argument('--host', default=socket.gethostname(),
                    help='[DEFAULT] host, in the publisher_id')
    ap.add_argument('--time-offset', type=float, default=None,
                    help='timestamps: now plus SECONDS (default: fixed ones in 2016)')
    ap.add_argument('--jobs', type=int, default=1,
                    help='publishing processes, each with its own connection')
    args = ap.parse_args()
    if not args.url:
        ap.error('--url is required (or set TALLY_AMQP_URL)')
    if min(args.count, args.events, args.garbage) < 0 or min(args.per_message, args.jobs) < 1:
        ap.error('counts must be >= 0, --per-message and --jobs >= 1')
    args.event_types = tuple(t for t in args.event_types.split(',') if t)
    if not args.event_types:
        ap.error('--event-types needs at least one type')
    kinds = [k for k in args.garbage_kinds.split(',') if k]
    for k in kinds:
        if k not in GARBAGE_KINDS:
            ap.error('unknown garbage kind %r (known: %s)' % (k, ', '.join(GARBAGE_KINDS)))
    if args.garbage and not kinds:
        ap.error('--garbage needs at least one kind')

    start = time.monotonic()
    if args.jobs == 1:
        results = [run_job(args, 0, kinds, args.out, args.events_out)]
    else:
        # One forked process per job; each writes its own part of --out, and
        # the parts are joined in job order (not publish order) at the end.
        import multiprocessing
        import tempfile
        tmp = tempfile.mkdtemp(prefix='tally-publish.')
        procs, parts = [], []
        for j in range(args.jobs):
            part = {'out': args.out and '%s/out.%d' % (tmp, j),
                    'ev': args.events_out and '%s/ev.%d' % (tmp, j),
                    'res': '%s/res.%d' % (tmp, j)}
            p = multiprocessing.get_context('fork').Process(
                target=job_main, args=(j, args, kinds, part['out'], part['ev'], part['res']))
            p.start()
            procs.append(p)
            parts.append(part)
        failed = False
        for p in procs:
            p.join()
            failed = failed or p.exitcode != 0
        if failed:
            sys.stderr.write('publish.py: a publishing job failed\n')
            sys.exit(1)
        results = []
        for part in parts:
            with open(part['res']) as f:
                results.append(json.load(f))
            os.unlink(part['res'])
        if args.out:
            concat([p['out'] for p in parts], args.out)
        if args.events_out:
            concat([p['ev'] for p in parts], args.events_out)
        os.rmdir(tmp)
    secs = time.monotonic() - start

    n, msgs, ev, ev_msgs = (sum(r[i] for r in results) for i in range(4))
    bad = {k: sum(r[4][k] for r in results) for k in GARBAGE_KINDS}
    line = ('publish.py: %d samples in %d notifications' % (n, msgs))
    if args.events:
        line += ', %d events in %d notifications' % (ev, ev_msgs)
    if args.garbage:
        line += ', bad: ' + ', '.join('%s %d' % (k, bad[k]) for k in GARBAGE_KINDS if bad[k])
    line += ' in %.2f s (%d job%s): %.0f samples/s, %.0f notifications/s' % (
        secs, args.jobs, 's' if args.jobs > 1 else '',
        n / secs if secs else 0, (msgs + ev_msgs + args.garbage) / secs if secs else 0)
    sys.stderr.write(line + '\n')


if __name__ == '__main__':
    main()
