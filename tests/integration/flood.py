#!/usr/bin/python3
"""Publishes the collector's hostile-input floods of issue 21 and measures them.

    flood.py URL SECRET OUT_LOG fair    [--bad-signatures 600] [--junk 200]
    flood.py URL SECRET OUT_LOG loop    [--junk 100]

Junk is a notification of 10,000 empty items (30 KB). Good samples are signed
by python3-ceilometer (tests/data/gen_ceilometer_messages.py) and wrapped in an
oslo 2.0 envelope as oslo.messaging sends them; every body goes through kombu
to exchange "ceilometer", routing key "metering.sample".

fair: the bad-signature messages (one sample signed with another secret),
then junk and good samples in turn. loop: the junk in a row, then one good
sample. Then it watches OUT_LOG (the file dispatcher's output) for every good
sample's message_id and prints, for each, the time from its publication to
its appearance: "good=N stored=N max_delay_s=X publish_s=Y". Gives up 15 s
after publishing ended. Exit 0 when every good sample was stored.
"""
import importlib.util
import json
import os
import random
import re
import sys
import threading
import time
import uuid

import kombu

url, secret, out_log, mode = sys.argv[1:5]
opts = dict(zip(sys.argv[5::2], sys.argv[6::2]))
top = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
spec = importlib.util.spec_from_file_location(
    'gen', os.path.join(top, 'tests', 'data', 'gen_ceilometer_messages.py'))
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)
rng = random.Random(21)


def envelope(samples):
    msg = {'message_id': str(uuid.UUID(int=rng.getrandbits(128))),
           'publisher_id': 'telemetry.publisher.flood', 'event_type': 'metering',
           'priority': 'SAMPLE', 'payload': samples,
           'timestamp': '2026-12-07 12:00:00.000000'}
    return json.dumps({'oslo.version': '2.0', 'oslo.message': json.dumps(msg)})


def junk(i):
    return json.dumps({'event_type': 'metering', 'n': i, 'payload': [{}] * 10000},
                      separators=(',', ':'))


conn = kombu.Connection(url)
channel = conn.channel()
exchange = kombu.Exchange('ceilometer', type='topic', durable=False, auto_delete=False)
kombu.Queue('metering.sample', exchange=exchange, routing_key='metering.sample',
            durable=False, auto_delete=False)(channel).declare()
producer = kombu.Producer(channel, exchange=exchange, routing_key='metering.sample')
published = {}


def publish(body, good_id=None):
    producer.publish(body, content_type='application/json', content_encoding='utf-8')
    if good_id:
        published[good_id] = time.monotonic()


t0 = time.monotonic()
good = []
if mode == 'fair':
    for _ in range(int(opts.get('--bad-signatures', 600))):
        publish(envelope([gen.make_sample(rng, 'not the secret')]))
    for i in range(int(opts.get('--junk', 200))):
        s = gen.make_sample(rng, secret)
        publish(junk(i))
        publish(envelope([s]), s['message_id'])
        good.append(s['message_id'])
else:
    for i in range(int(opts.get('--junk', 100))):
        publish(junk(i))
    s = gen.make_sample(rng, secret)
    publish(envelope([s]), s['message_id'])
    good.append(s['message_id'])
t_end = time.monotonic()

seen, pos, buf = {}, 0, ''
pat = re.compile(r'"message_id":\s*"([^"]+)"')
while len(seen) < len(good) and time.monotonic() < t_end + 15:
    try:
        with open(out_log) as f:
            f.seek(pos)
            chunk = f.read()
            pos = f.tell()
    except FileNotFoundError:
        chunk = ''
    now = time.monotonic()
    buf += chunk
    lines = buf.split('\n')
    buf = lines.pop()
    for line in lines:
        m = pat.search(line)
        if m and m.group(1) in published and m.group(1) not in seen:
            seen[m.group(1)] = now - published[m.group(1)]
    time.sleep(0.02)
conn.release()
print('good=%d stored=%d max_delay_s=%.3f publish_s=%.3f' % (
    len(good), len(seen), max(seen.values()) if seen else -1, t_end - t0))
sys.exit(0 if len(seen) == len(good) else 1)
