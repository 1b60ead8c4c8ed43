#!/usr/bin/python3
"""The gnocchi dispatcher end to end (driven by gnocchi_dispatcher.sh).

Publishes samples to RabbitMQ exactly as ceilometer's notifier publisher does
(tests/tools/publish.py's Publisher, samples signed by python3-ceilometer),
lets tallyd carry them to a real Gnocchi, and reads everything back with
?refresh=true, value by value:

 1. instances (cpu, memory.usage, vcpus), their disks, volumes whose ids hold
    '/', a meter no definition names, samples of the service project, and a
    disk whose resource Gnocchi refuses to create (instance_id missing);
 2. a sample older than its archive policy's back window (refused, late);
 3. a changed attribute (the resource is updated);
 4. Gnocchi's API stopped in the middle of a stream and started again.

    gnocchi_check.py --amqp URL --secret S --gnocchi URL --gnocchi-dir DIR
                     --top DIR --tallyctl PATH --buffer DIR --log FILE
"""
import argparse
import base64
import datetime
import importlib.util
import json
import random
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from ceilometer import sample as ceilo_sample
from ceilometer.publisher import utils as publisher_utils

G = ceilo_sample.TYPE_GAUGE
C = ceilo_sample.TYPE_CUMULATIVE
STEP = 300  # ceilometer-low's granularity: one measure per 5-minute block
SERVICE_PROJECT = 'svc-project'


def fail(msg):
    sys.stderr.write('FAIL: %s\n' % msg)
    sys.exit(1)


class Gnocchi(object):
    def __init__(self, url):
        self.url = url
        self.h = {'Authorization': 'Basic ' + base64.b64encode(b'admin:').decode(),
                  'Accept': 'application/json', 'Connection': 'close'}

    def get(self, path):
        req = urllib.request.Request(self.url + path, headers=self.h)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b'null')
        except urllib.error.HTTPError as e:
            return e.code, None
        except (urllib.error.URLError, ConnectionError):
            return 0, None

    def measures(self, rid, metric):
        st, m = self.get('/v1/resource/generic/%s/metric/%s/measures?refresh=true&granularity=%d'
                         % (urllib.parse.quote(rid, safe=''), metric, STEP))
        if st != 200:
            return None
        return {datetime.datetime.fromisoformat(ts).timestamp(): v for ts, _, v in m}


def measure_diffs(gn, expected, rel_tol=1e-9):
    """How Gnocchi's measures differ from expected, {(rid, metric): {ts: value}}
    (at granularity STEP): a list of one-line differences (rel_tol 0: exact)."""
    out = []
    for (rid, metric), want in sorted(expected.items()):
        got = gn.measures(rid, metric)
        if got is None:
            out.append('%s/%s: no such metric' % (rid, metric))
            continue
        for ts, v in sorted(want.items()):
            if ts not in got:
                out.append('%s/%s: no measure at %s' % (rid, metric, ts))
            elif abs(got[ts] - v) > rel_tol * max(1.0, abs(v)):
                out.append('%s/%s at %s: %r, want %r' % (rid, metric, ts, got[ts], v))
        extra = set(got) - set(want)
        if extra:
            out.append('%s/%s: unexpected measures at %s' % (rid, metric, sorted(extra)))
    return out


class World(object):
    def __init__(self, args):
        spec = importlib.util.spec_from_file_location('publish', args.top + '/tests/tools/publish.py')
        self.pub_mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.pub_mod)
        ns = argparse.Namespace(url=args.amqp, durable=False, ha_queues=False, host='gn-test')
        self.pub = self.pub_mod.Publisher(ns)
        self.secret = args.secret
        self.gn = Gnocchi(args.gnocchi)
        self.args = args
        self.rng = random.Random(6)
        self.t0 = (int(time.time()) // STEP) * STEP - 20 * STEP
        self.expected = {}  # (rid, metric) -> {ts: value}
        self.user = str(uuid.uuid4())
        self.project = str(uuid.uuid4())

    def sample(self, name, mtype, unit, volume, rid, ts, md, project=None):
        s = ceilo_sample.Sample(
            name=name, type=mtype, unit=unit, volume=volume, user_id=self.user,
            project_id=project or self.project, resource_id=rid,
            timestamp=datetime.datetime.utcfromtimestamp(ts).isoformat(),
            resource_metadata=md, source='openstack', id=str(uuid.uuid4()))
        return publisher_utils.meter_message_from_counter(s, self.secret)

    def expect(self, rid, metric, ts, value):
        self.expected.setdefault((rid.replace('/', '_'), metric), {})[float(ts)] = float(value)

    def publish(self, msgs, per=10):
        self.rng.shuffle(msgs)
        for i in range(0, len(msgs), per):
            self.pub.publish_samples(msgs[i:i + per])

    def missing(self):
        """What Gnocchi does not have yet: a list of one-line differences."""
        return measure_diffs(self.gn, self.expected)

    def wait_all(self, what, seconds):
        deadline = time.time() + seconds
        while True:
            miss = self.missing()
            if not miss:
                return
            if time.time() > deadline:
                fail('%s: %d differences after %d s, first: %s'
                     % (what, len(miss), seconds, '; '.join(miss[:5])))
            time.sleep(1)

    def dead_letters(self):
        out = subprocess.run([self.args.tallyctl, 'deadletter', 'list', '--path', self.args.buffer],
                             capture_output=True, text=True, check=True).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def wait_dead(self, n, seconds, source='gn'):
        deadline = time.time() + seconds
        while True:
            d = [x for x in self.dead_letters() if x['source'] == source]
            if len(d) >= n:
                return d
            if time.time() > deadline:
                fail('%d dead letters from the dispatcher, want %d: %s' % (len(d), n, d))
            time.sleep(0.2)

    def log(self):
        with open(self.args.log, errors='replace') as f:
            return f.read()


def instance_md(i, host=None):
    return {'host': host or 'compute-%d' % (i % 3), 'display_name': 'vm-%d "é"' % i,
            'flavor': {'id': str(i % 4 + 1), 'name': 'm1.small'}, 'instance_type': 'm1.small',
            'image_ref': str(uuid.UUID(int=i + 1)), 'status': 'active'}


def main():
    ap = argparse.ArgumentParser()
    for a in ('amqp', 'secret', 'gnocchi', 'gnocchi-dir', 'top', 'tallyctl', 'buffer', 'log'):
        ap.add_argument('--' + a, required=True)
    args = ap.parse_args()
    w = World(args)
    gn = w.gn
    t0 = w.t0
    inst = [str(uuid.uuid4()) for _ in range(12)]

    # 1. The first stream.
    msgs = []
    for i, rid in enumerate(inst):
        for k in range(3):
            ts = t0 + k * STEP + w.rng.randint(0, 299)
            cpu = 10 ** 9 * (i + 1) + k * 7
            mem = round(w.rng.random() * 4096, 3)
            msgs.append(w.sample('cpu', C, 'ns', cpu, rid, ts, instance_md(i)))
            msgs.append(w.sample('memory.usage', G, 'MB', mem, rid, ts, instance_md(i)))
            msgs.append(w.sample('vcpus', G, 'vcpu', i % 4 + 1, rid, ts, instance_md(i)))
            w.expect(rid, 'cpu', (ts // STEP) * STEP, cpu)
            w.expect(rid, 'memory.usage', (ts // STEP) * STEP, mem)
            w.expect(rid, 'vcpus', (ts // STEP) * STEP, i % 4 + 1)
            disk = '%s-vda' % rid
            rb = w.rng.randint(0, 10 ** 12)
            msgs.append(w.sample('disk.device.read.bytes', C, 'B', rb, disk, ts,
                                 {'instance_id': rid, 'disk_name': 'vda'}))
            w.expect(disk, 'disk.device.read.bytes', (ts // STEP) * STEP, rb)
    for v in range(4):
        rid = 'vol/%d/%s' % (v, uuid.uuid4().hex[:8])
        for k in range(2):
            ts = t0 + k * STEP
            msgs.append(w.sample('volume.size', G, 'GB', 10 * (v + 1) + k, rid, ts,
                                 {'display_name': 'volume %d' % v}))
            w.expect(rid, 'volume.size', ts, 10 * (v + 1) + k)
    vol0 = [k[0] for k in w.expected if k[0].startswith('vol_0_')][0]
    for k in range(5):
        msgs.append(w.sample('tally.unknown.meter', G, 'x', k, inst[0], t0 + k, {}))
    svc = str(uuid.uuid4())
    for k in range(3):
        msgs.append(w.sample('memory.usage', G, 'MB', k, svc, t0 + k * STEP, instance_md(0),
                             project=SERVICE_PROJECT))
    bad = str(uuid.uuid4())
    msgs.append(w.sample('disk.device.read.bytes', C, 'B', 1, bad, t0, {'disk_name': 'vdb'}))
    w.publish(msgs)
    w.wait_all('first stream', 120)
    n = sum(len(v) for v in w.expected.values())
    if 'Gnocchi unavailable' in w.log():
        # Regression: every resource a 400 "Unknown resources" lists is created
        # in one round, not one per retry.
        fail('the first stream needed retries: %s' % [l for l in w.log().splitlines()
                                                     if 'Gnocchi unavailable' in l][:1])
    print('ok: %d measures of %d metrics read back value by value' % (n, len(w.expected)))

    # Attributes came from the samples' metadata, through ceilometer's paths.
    st, r = gn.get('/v1/resource/instance/%s' % inst[5])
    want = {'host': 'compute-2', 'display_name': 'vm-5 "é"', 'flavor_id': '2',
            'flavor_name': 'm1.small', 'image_ref': str(uuid.UUID(int=6))}
    if st != 200 or any(r.get(k) != v for k, v in want.items()):
        fail('instance %s: %s %s, want %s' % (inst[5], st, r, want))
    if r['user_id'] != w.user or r['project_id'] != w.project:
        fail('instance user/project: %s' % r)
    st, r = gn.get('/v1/resource/instance_disk/%s-vda' % inst[5])
    if st != 200 or r.get('instance_id') != inst[5] or r.get('name') != 'vda':
        fail('disk: %s %s' % (st, r))
    st, r = gn.get('/v1/resource/volume/%s' % vol0)
    if st != 200 or r.get('display_name') != 'volume 0':
        fail('volume %s (its id had /): %s %s' % (vol0, st, r))
    st, r = gn.get('/v1/resource/instance/%s' % inst[0])
    if r['metrics'].get('cpu') is None:
        fail('cpu metric missing: %s' % r)
    st, m = gn.get('/v1/metric/%s' % r['metrics']['cpu'])
    if m['archive_policy']['name'] != 'ceilometer-low-rate' or m['unit'] != 'ns':
        fail('cpu metric: policy %s unit %s' % (m['archive_policy']['name'], m['unit']))
    st, m = gn.get('/v1/metric/%s' % r['metrics']['memory.usage'])
    if m['archive_policy']['name'] != 'ceilometer-low' or m['unit'] != 'MB':
        fail('memory.usage metric: %s' % m)
    if 'tally.unknown.meter' in r['metrics']:
        fail('a meter no definition names reached Gnocchi')
    print('ok: attributes from metadata paths, ids with / made safe, policies and units per metric')

    # Nothing of the service project; the refused resource dead-lettered alone.
    if gn.get('/v1/resource/generic/%s' % svc)[0] != 404:
        fail('a sample of the service project reached Gnocchi')
    if gn.get('/v1/resource/generic/%s' % bad)[0] != 404:
        fail('the resource without instance_id exists')
    dead = w.wait_dead(1, 30)
    if len(dead) != 1 or bad not in dead[0].get('payload', '') or 'HTTP 400' not in dead[0]['reason']:
        fail('dead letters: %s' % dead)
    log = w.log()
    if log.count('metric tally.unknown.meter is not handled by Gnocchi') != 1:
        fail('the unknown meter was not logged exactly once')
    print('ok: service project filtered; refused resource dead-lettered (%s); unknown meter '
          'logged once' % dead[0]['reason'][:60])

    # A batch Gnocchi refuses for one resource (an archive policy it does not
    # have): that resource alone is dead-lettered, the others are stored.
    msgs = []
    good = ['custom-%d' % i for i in range(6)]
    for i, rid in enumerate(good):
        msgs.append(w.sample('tally.custom.good', G, 'x', i + 0.5, rid, t0, {}))
        msgs.append(w.sample('tally.custom.ignored.%d' % i, G, 'x', i, rid, t0, {}))
        w.expect(rid, 'tally.custom.good', t0, i + 0.5)
    for k in range(2):
        msgs.append(w.sample('tally.custom.bad', G, 'x', k, 'custom-bad', t0 + k * STEP, {}))
    w.publish(msgs, per=len(msgs))
    w.wait_all('custom definitions', 60)
    dead2 = w.wait_dead(2, 30, source='gn2')
    if len(dead2) != 2 or any('custom-bad' not in d.get('payload', '') or
                              'no-such-policy' not in d['reason'] for d in dead2):
        fail('gn2 dead letters: %s' % dead2)
    if gn.get('/v1/resource/generic/custom-0')[1]['metrics'].keys() != {'tally.custom.good'}:
        fail('ignored meters reached Gnocchi')
    print('ok: a batch refused for one resource: that one dead-lettered (%s), %d others stored'
          % (dead2[0]['reason'][:70], len(good)))

    # 2. Late: before the block of the newest measure (back_window 0) -> refused.
    late_ts = t0 - 3 * STEP
    w.publish([w.sample('memory.usage', G, 'MB', 1.0, inst[0], late_ts, instance_md(0))])
    dead = w.wait_dead(2, 30)
    late = [d for d in dead if 'late' in d['reason']]
    if len(late) != 1 or 'ceilometer-low' not in late[0]['reason']:
        fail('late sample: %s' % dead)
    if 'late samples so far' not in w.log():
        fail('the late sample was not logged')
    print('ok: late sample refused and logged: %s' % late[0]['reason'][:90])

    # 3. An attribute changes: the resource is updated.
    ts = t0 + 3 * STEP
    w.publish([w.sample('memory.usage', G, 'MB', 77.5, inst[1], ts,
                        instance_md(1, host='moved-host'))])
    w.expect(inst[1], 'memory.usage', ts, 77.5)
    deadline = time.time() + 30
    while gn.get('/v1/resource/instance/%s' % inst[1])[1].get('host') != 'moved-host':
        if time.time() > deadline:
            fail('host attribute not updated')
        time.sleep(0.3)
    st, hist = gn.get('/v1/resource/instance/%s/history' % inst[1])
    if len(hist) != 2:
        fail('%d revisions of %s: attributes sent when they had not changed' % (len(hist), inst[1]))
    print('ok: changed attribute updated (%d revisions)' % len(hist))

    # 4. Gnocchi stops in the middle of a stream, then comes back.
    before = [w.sample('memory.usage', G, 'MB', 100 + i, rid, t0 + 4 * STEP, instance_md(i))
              for i, rid in enumerate(inst)]
    for i, rid in enumerate(inst):
        w.expect(rid, 'memory.usage', t0 + 4 * STEP, 100 + i)
    w.publish(before)
    n_dead = len(w.dead_letters())
    subprocess.run([args.top + '/scripts/gnocchi', 'stop-api', args.gnocchi_dir], check=True)
    newcomer = str(uuid.uuid4())
    during = []
    for i, rid in enumerate(inst + [newcomer]):
        for k in (5, 6):
            v = 1000 * k + i
            during.append(w.sample('memory.usage', G, 'MB', v, rid, t0 + k * STEP, instance_md(i)))
            w.expect(rid, 'memory.usage', t0 + k * STEP, v)
    w.publish(during, per=5)
    deadline = time.time() + 30
    while 'Gnocchi unavailable' not in w.log():
        if time.time() > deadline:
            fail('tallyd did not notice that Gnocchi was down')
        time.sleep(0.2)
    time.sleep(2)
    subprocess.run([args.top + '/scripts/gnocchi', 'start-api', args.gnocchi_dir], check=True,
                   stdout=subprocess.DEVNULL)
    w.wait_all('after the outage', 120)
    if len(w.dead_letters()) != n_dead:
        fail('dead letters changed during the outage: %s' % w.dead_letters())
    n = sum(len(v) for v in w.expected.values())
    print('ok: Gnocchi down mid-stream and back: all %d measures there, nothing dead-lettered'
          % n)
    w.pub.close()


if __name__ == '__main__':
    main()
