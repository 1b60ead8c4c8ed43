#!/usr/bin/python3
"""Compares the oracle's samples (tests/tools/meters_oracle.py) with
definitions/tally-meters', notification by notification, sample by sample,
field by field: name, type, unit, volume, resource_id, project_id, user_id,
timestamp, metadata.

A sample Tally does not hand over ({"skip": reason}) must be one whose
values Tally's sample cannot carry, for that reason and no earlier one
(docs/definitions.md "Meter definitions"); a dropped notification must be
dropped by both. Prints the differences (at most --show) and a summary;
exit status 1 when anything differs.

  meters_compare.py ORACLE.jsonl TALLY.jsonl [--show N]
"""
import argparse
import json
import math
import sys

FIELDS = ('name', 'type', 'unit', 'volume', 'resource_id', 'project_id',
          'user_id', 'timestamp', 'metadata')


def id_ok(v, optional):
    if v is None:
        return optional
    return (isinstance(v, str) and len(v.encode('utf-8', 'surrogatepass')) <= 255
            and (optional or len(v) > 0))


def py_float(v):
    try:
        return float(v)
    except (ValueError, TypeError):
        return None


def expected_skip(s):
    """The reason Tally skips the oracle's sample s, or None (same order as meters.c)."""
    if not id_ok(s['name'], False):
        return 'name'
    if s['type'] not in ('gauge', 'delta', 'cumulative'):
        return 'type'
    if not id_ok(s['unit'], False):
        return 'unit'
    v = s['volume']
    if v is None:
        return 'volume'
    if isinstance(v, (list, dict)):
        return 'volume_type'
    if isinstance(v, str) and py_float(v) is None:
        return 'volume'
    if not math.isfinite(float(v)):
        return 'volume_type'
    if not id_ok(s['resource_id'], False):
        return 'resource_id'
    if not id_ok(s['user_id'], True):
        return 'user_id'
    if not id_ok(s['project_id'], True):
        return 'project_id'
    if s['timestamp'] == 'out-of-range':
        return 'timestamp'
    return None


def canon(v):
    return json.dumps(v, sort_keys=True)


def volume_equal(o, t):
    if isinstance(o, bool):
        return isinstance(t, int) and t == int(o)
    if isinstance(o, int):
        return isinstance(t, int) and t == o
    if isinstance(o, float):
        return isinstance(t, float) and t == o
    if isinstance(o, str):
        return isinstance(t, (int, float)) and float(t) == float(o)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('oracle')
    ap.add_argument('tally')
    ap.add_argument('--show', type=int, default=20)
    a = ap.parse_args()
    with open(a.oracle) as f:
        oracle = [json.loads(x) for x in f if x.strip()]
    with open(a.tally) as f:
        tally = [json.loads(x) for x in f if x.strip()]
    diffs = []
    stats = dict(notifications=0, samples=0, skipped=0, dropped=0, fields=0)

    def diff(n, text):
        diffs.append('notification %d: %s' % (n, text))

    if len(oracle) != len(tally):
        diffs.append('%d notifications from the oracle, %d from tally' % (len(oracle), len(tally)))
    for o, t in zip(oracle, tally):
        n = o['n']
        stats['notifications'] += 1
        if 'drop' in o or 'drop' in t or 'bad' in t:
            if not ('drop' in o and 'drop' in t):
                diff(n, 'oracle %s, tally %s' % (o.get('drop', 'keeps it'),
                                                 t.get('drop', t.get('bad', 'keeps it'))))
            else:
                # When Tally names the Python exception, it must be the oracle's.
                tk, ok_ = t['drop'].split(':')[0], o['drop'].split(':')[0]
                if tk.endswith('Error') and tk != ok_:
                    diff(n, 'dropped for %s by the oracle, %s by tally' % (o['drop'][:200],
                                                                          t['drop'][:200]))
                else:
                    stats['dropped'] += 1
            continue
        os_, ts_ = o['samples'], t['samples']
        if len(os_) != len(ts_):
            diff(n, '%d samples from the oracle, %d from tally: %s / %s' % (
                len(os_), len(ts_), [s.get('name') for s in os_],
                [s.get('name', s.get('skip')) for s in ts_]))
            continue
        for k, (so, st) in enumerate(zip(os_, ts_)):
            want = expected_skip(so)
            if 'skip' in st or want:
                if st.get('skip') != want:
                    diff(n, 'sample %d: oracle %s, tally %s (%s)' % (
                        k, 'expects skip ' + want if want else 'keeps it',
                        'skips ' + st['skip'] if 'skip' in st else 'keeps it', canon(so)[:300]))
                else:
                    stats['skipped'] += 1
                continue
            stats['samples'] += 1
            for f in FIELDS:
                stats['fields'] += 1
                if f == 'volume':
                    same = volume_equal(so[f], st[f])
                elif f == 'metadata':
                    same = canon(so[f]) == canon(st[f])
                else:
                    same = so[f] == st[f]
                if not same:
                    diff(n, 'sample %d (%s): %s: oracle %s, tally %s' % (
                        k, so['name'], f, canon(so[f])[:300], canon(st[f])[:300]))
    for d in diffs[:a.show]:
        print(d)
    if len(diffs) > a.show:
        print('... and %d more differences' % (len(diffs) - a.show))
    print('compared %(notifications)d notifications: %(samples)d samples '
          '(%(fields)d fields) equal, %(skipped)d skipped as expected, '
          '%(dropped)d dropped by both' % stats)
    print('%d differences' % len(diffs))
    return 1 if diffs else 0


if __name__ == '__main__':
    sys.exit(main())
