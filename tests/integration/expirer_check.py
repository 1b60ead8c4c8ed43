#!/usr/bin/python3
"""tally-expirer against a real store (driven by expirer.sh).

    expirer_check.py --backend sqlite|postgresql --url URL --work DIR
                     --expirer PATH --seed PATH

Seeds the store with tests/tools/seed_store (the storage driver's own write
path), then checks, with a fixed --now and a TTL of 3 days:
  - --dry-run counts exactly what goes and changes nothing;
  - a second expirer exits 75 while one runs; SIGINT stops a run (130) and
    the next run finishes the job;
  - the boundaries: a sample (event) exactly at the cut-off stays, one a
    microsecond older goes;
  - orphans: a resource and a meter left without samples go, a living
    resource's first sample time moves, an event type without events goes;
  - expire_samples_only leaves resources and meters;
  - samples written while the expirer runs are all there afterwards;
  - SQLite: the freed pages are given back (auto_vacuum incremental).
"""
import argparse
import datetime
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid

NOW = datetime.datetime(2026, 6, 15, 12, 0, 0)
TTL = 3 * 86400
CUT = NOW - datetime.timedelta(seconds=TTL)
US = datetime.timedelta(microseconds=1)
D = datetime.timedelta(days=1)
H = datetime.timedelta(hours=1)


def fail(msg):
    sys.stderr.write('FAIL: %s\n' % msg)
    sys.exit(1)


def sample(meter, rid, ts, volume=1.0):
    return {'source': 'openstack', 'counter_name': meter, 'counter_type': 'gauge',
            'counter_unit': 'x', 'counter_volume': volume, 'user_id': 'u', 'project_id': 'p',
            'resource_id': rid, 'timestamp': ts.isoformat(),
            'resource_metadata': {'host': 'h-%s' % rid, 'n': volume},
            'message_id': str(uuid.uuid4()), 'message_signature': ''}


def event(etype, ts):
    return {'message_id': str(uuid.uuid4()), 'event_type': etype, 'generated': ts.isoformat(),
            'traits': [['service', 1, 'compute']], 'raw': {}, 'message_signature': ''}


class Store(object):
    def __init__(self, args):
        self.backend = args.backend
        self.url = args.url
        if self.backend == 'sqlite':
            self.path = args.url[len('sqlite://'):]

    def query(self, sql):
        if self.backend == 'sqlite':
            db = sqlite3.connect(self.path, timeout=30)
            try:
                return db.execute(sql).fetchall()
            finally:
                db.close()
        import psycopg2
        db = psycopg2.connect(self.url)
        try:
            cur = db.cursor()
            cur.execute(sql)
            return cur.fetchall()
        finally:
            db.close()

    def one(self, sql):
        return self.query(sql)[0][0]

    def counts(self):
        return {t: self.one('SELECT count(*) FROM %s' % t)
                for t in ('sample', 'resource', 'meter', 'resource_meter', 'event', 'event_type',
                          'trait', 'metadata')}

    def first_sample(self, rid):
        v = self.one("SELECT first_sample_timestamp FROM resource WHERE resource_id = '%s'" % rid)
        if self.backend == 'sqlite':
            return datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=v)
        return v

    def has_resource(self, rid):
        return self.one("SELECT count(*) FROM resource WHERE resource_id = '%s'" % rid) == 1


class World(object):
    def __init__(self, args):
        self.args = args
        self.store = Store(args)
        self.n = 0

    def conf(self, samples_only=False):
        path = os.path.join(self.args.work, 'expirer.yaml')
        with open(path, 'w') as f:
            f.write('storage:\n  connection: "%s"\n  metering_time_to_live: %d\n'
                    '  event_time_to_live: %d\n  expire_samples_only: %s\n'
                    % (self.args.url, TTL, TTL, 'true' if samples_only else 'false'))
        return path

    def seed(self, items):
        self.n += 1
        path = os.path.join(self.args.work, 'seed-%d.jsonl' % self.n)
        with open(path, 'w') as f:
            for i in range(0, len(items), 500):
                f.write(json.dumps(items[i:i + 500]) + '\n')
        out = subprocess.run([self.args.seed, self.args.url, path], capture_output=True,
                             text=True)
        if out.returncode != 0:
            fail('seed_store: %s %s' % (out.stdout, out.stderr))

    def expirer(self, *extra, samples_only=False, check=True):
        cmd = [self.args.expirer, '-c', self.conf(samples_only), '--now', NOW.isoformat()]
        cmd += list(extra)
        out = subprocess.run(cmd, capture_output=True, text=True)
        if check and out.returncode != 0:
            fail('%s: exit %d: %s %s' % (' '.join(cmd), out.returncode, out.stdout, out.stderr))
        return out

    def start_expirer(self, *extra):
        cmd = [self.args.expirer, '-c', self.conf(), '--now', NOW.isoformat()] + list(extra)
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def main():
    ap = argparse.ArgumentParser()
    for a in ('backend', 'url', 'work', 'expirer', 'seed'):
        ap.add_argument('--' + a, required=True)
    args = ap.parse_args()
    w = World(args)
    st = w.store

    # The data: boundaries, orphans, events, and a bulk of old samples.
    items = [
        sample('cpu', 'r-live', CUT - 5 * D), sample('cpu', 'r-live', CUT - US),
        sample('cpu', 'r-live', CUT), sample('cpu', 'r-live', CUT + H),
        sample('cpu', 'r-gone', CUT - 6 * D), sample('old.only', 'r-gone', CUT - 2 * D),
        sample('mem', 'r-first', CUT - D), sample('mem', 'r-first', CUT + D),
        event('old.type', CUT - 4 * D), event('edge.type', CUT - US), event('edge.type', CUT),
        event('new.type', CUT + H),
    ]
    # In the partition that straddles the cut-off (PostgreSQL: deleted in
    # batches, not dropped), so that an interruption can fall in the middle.
    bulk_old = [sample('bulk', 'bulk-%d' % (i % 100), CUT - 10 * H + i * US * 1000, i)
                for i in range(30000)]
    bulk_new = [sample('bulk', 'bulk-%d' % (i % 100), CUT + H + i * US * 1000, i)
                for i in range(2000)]
    w.seed(items + bulk_old + bulk_new)
    before = st.counts()
    gone = 2 + 2 + 1 + len(bulk_old)

    # 1. Dry run: exact counts, nothing changed.
    out = w.expirer('--dry-run')
    if ('samples: would remove %d ' % gone) not in out.stdout or \
            'events: would remove 2 ' not in out.stdout:
        fail('dry run said: %s' % out.stdout)
    if st.counts() != before:
        fail('the dry run changed the store: %s -> %s' % (before, st.counts()))
    print('ok: dry run counts %d samples and 2 events, changes nothing' % gone)

    # 2. One expirer at a time; an interrupted run; the next finishes.
    a = w.start_expirer('--batch-rows', '200', '--verbose')
    line = a.stderr.readline()  # its first transaction: it holds the lock
    if 'rows removed' not in line:
        a.kill()
        fail('the first expirer printed: %r' % line)
    b = w.expirer(check=False)
    if b.returncode != 75 or 'another tally-expirer is running' not in b.stderr:
        a.kill()
        fail('a second expirer: exit %d: %s' % (b.returncode, b.stderr))
    a.send_signal(signal.SIGINT)
    out, err = a.communicate(timeout=60)
    if a.returncode != 130 or 'interrupted, the next run finishes' not in out:
        fail('interrupted expirer: exit %d: %s %s' % (a.returncode, out, err[-300:]))
    mid = st.one('SELECT count(*) FROM sample')
    if not (before['sample'] - gone < mid < before['sample']):
        fail('after the interruption %d samples, expected between %d and %d'
             % (mid, before['sample'] - gone, before['sample']))
    print('ok: second expirer refused (75); SIGINT stopped the first after %d of %d rows (130)'
          % (before['sample'] - mid, gone))

    # 3. The next run, while samples are written: everything old goes, all new stay.
    fresh = [sample('fresh', 'fresh-%d' % (i % 50), CUT + 2 * H + i * US * 1000, i)
             for i in range(20000)]
    path = os.path.join(args.work, 'fresh.jsonl')
    with open(path, 'w') as f:
        for i in range(0, len(fresh), 200):
            f.write(json.dumps(fresh[i:i + 200]) + '\n')
    writer = subprocess.Popen([args.seed, args.url, path], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    out = w.expirer('--wait', '--batch-rows', '1000', '--duty', '50')
    wout, werr = writer.communicate(timeout=300)
    if writer.returncode != 0:
        fail('the concurrent writer failed: %s %s' % (wout, werr))
    after = st.counts()
    want = before['sample'] - gone + len(fresh)
    if after['sample'] != want:
        fail('%d samples after expiry with concurrent writes, want %d' % (after['sample'], want))
    if st.one("SELECT count(*) FROM sample s JOIN meter m ON m.id = s.meter_id"
              " WHERE m.name = 'fresh'") != len(fresh):
        fail('samples written during the expiry are missing')
    print('ok: the next run finished the job while %d samples were written: %s'
          % (len(fresh), out.stdout.strip().splitlines()[-2]))

    # 4. Boundaries and orphans.
    cpu = st.query("SELECT s.volume FROM sample s JOIN resource r ON r.id = s.resource_ref"
                   " WHERE r.resource_id = 'r-live'")
    if len(cpu) != 2:
        fail('r-live keeps %d samples, want 2 (at the cut-off and after)' % len(cpu))
    if st.has_resource('r-gone'):
        fail('r-gone has no samples left but is still there')
    if not st.has_resource('r-live') or not st.has_resource('r-first'):
        fail('a living resource was removed')
    if st.one("SELECT count(*) FROM meter WHERE name = 'old.only'") != 0:
        fail('meter old.only has no samples left but is still there')
    if st.one("SELECT count(*) FROM resource_meter rm JOIN resource r ON r.id ="
              " rm.resource_ref WHERE r.resource_id = 'r-gone'") != 0:
        fail('meter pairs of r-gone are left')
    fs = st.first_sample('r-first')
    if fs != CUT + D:
        fail('first_sample_timestamp of r-first is %s, want %s' % (fs, CUT + D))
    ev = sorted(r[0] for r in st.query('SELECT et.name FROM event e JOIN event_type et'
                                       ' ON et.id = e.event_type_id'))
    if ev != ['edge.type', 'new.type']:
        fail('events left: %s, want the one at the cut-off and the new one' % ev)
    if st.one("SELECT count(*) FROM event_type WHERE name = 'old.type'") != 0:
        fail('event type old.type has no events left but is still there')
    if st.one('SELECT count(*) FROM trait') != 2:
        fail('%d traits left, want 2' % st.one('SELECT count(*) FROM trait'))
    unref = st.one('SELECT count(*) FROM metadata md WHERE NOT EXISTS (SELECT 1 FROM sample s'
                   ' WHERE s.metadata_id = md.id) AND NOT EXISTS (SELECT 1 FROM resource r'
                   ' WHERE r.metadata_id = md.id)')
    if unref:
        fail('%d metadata documents nothing points to are left' % unref)
    if args.backend == 'postgresql' and st.one('SELECT count(*) FROM tally_expire_candidate'):
        fail('metadata candidates are left after a complete run')
    if st.one('SELECT count(*) FROM metadata') >= before['metadata']:
        fail('no metadata document was removed')
    print('ok: boundaries (the cut-off stays, a microsecond before goes), orphans, events, '
          'metadata')

    # 5. expire_samples_only leaves resources and meters; a full run removes them.
    w.seed([sample('so.meter', 'r-so', CUT - D)])
    w.expirer(samples_only=True)
    if not st.has_resource('r-so') or st.one("SELECT count(*) FROM sample s JOIN meter m"
                                              " ON m.id = s.meter_id WHERE m.name = 'so.meter'"):
        fail('expire_samples_only: the sample should go and the resource stay')
    w.expirer()
    if st.has_resource('r-so') or st.one("SELECT count(*) FROM meter WHERE name = 'so.meter'"):
        fail('the full run after expire_samples_only left r-so or so.meter')
    out = w.expirer()
    if 'samples: 0 removed' not in out.stdout or 'events: 0 removed' not in out.stdout:
        fail('a run with nothing to do said: %s' % out.stdout)
    print('ok: expire_samples_only, then a full run; a run with nothing to do says so')

    # 6. SQLite gives the space back.
    if args.backend == 'sqlite':
        if st.one('PRAGMA auto_vacuum') != 2 or st.one('PRAGMA freelist_count') != 0:
            fail('SQLite: auto_vacuum %s, %s free pages' % (st.one('PRAGMA auto_vacuum'),
                                                           st.one('PRAGMA freelist_count')))
        print('ok: SQLite free pages given back (auto_vacuum incremental, freelist 0)')


if __name__ == '__main__':
    main()
