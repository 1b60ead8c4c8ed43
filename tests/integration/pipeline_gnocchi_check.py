#!/usr/bin/python3
"""The checks of pipeline_gnocchi.sh: cpu_util derived by the pipeline stage,
read back from a real Gnocchi and through the query API.

The expected cpu_util values are computed here from the published samples
(publish_cpu.py --out), with ceilometer's rate_of_change rules, not by Tally:
per resource, in publish order, a sample after a predecessor gives

    scale * rate, scale = 100.0 / (10**9 * (resource_metadata.cpu_number or 1)),
    rate = Δv / Δt (seconds; Δt = 0 gives 0), Δv = v2 - v1, or v2 when the
    cumulative counter went down (a reset),

at the later sample's timestamp (the scale is evaluated first and multiplies
the rate, as the original's _convert does: same float operations, so values
compare exactly). Then:

 (a) Gnocchi: each instance resource has a cpu_util metric (unit %, the
     definition file's default policy) whose measures at the policy's
     granularity are exactly the expected values, one per block (the
     timestamps are one per block, so a mean is the value itself), and a cpu
     metric holding the raw samples the same way; the resource has the
     attributes of the samples' metadata;
 (b) the query API: /v2/meters/cpu_util?q.field=resource_id&q.op=eq&q.value=R
     gives every expected value exactly once (by timestamp; message ids
     distinct), unit %, type gauge, the input's metadata, user and project;
     /v2/meters/cpu the published raw samples, by message_id and volume.

    pipeline_gnocchi_check.py --samples FILE --gnocchi URL --api URL [--wait SECONDS]
"""
import argparse
import collections
import datetime
import importlib.util
import json
import os
import sys
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('gnocchi_check',
                                              os.path.join(HERE, 'gnocchi_check.py'))
gnocchi_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gnocchi_check)

STEP = gnocchi_check.STEP  # the granularity read, that of ceilometer-low
ADMIN = {'X-Roles': 'admin', 'X-User-Id': 'admin-user', 'X-Project-Id': 'admin-project',
         'Accept': 'application/json'}


def parse_ts(text):
    """A naive ISO timestamp (UTC) as an aware datetime."""
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc)


def expected_rates(samples):
    """{resource_id: [(timestamp, cpu_util)]} by ceilometer's rate_of_change."""
    prev, out = {}, collections.defaultdict(list)
    for s in samples:
        rid, v, t = s['resource_id'], s['counter_volume'], parse_ts(s['timestamp'])
        if rid in prev:
            pv, pt = prev[rid]
            dv = v - pv if pv <= v else v
            dt = (t - pt).total_seconds()
            rate = 1.0 * dv / dt if dt else 0.0
            scale = 100.0 / (10 ** 9 * (s['resource_metadata'].get('cpu_number') or 1))
            out[rid].append((t, scale * rate))
        prev[rid] = (v, t)
    return out


def block(t):
    return float(int(t.timestamp()) // STEP * STEP)


def check_gnocchi(gn, samples, want):
    """(a): a list of one-line differences, empty when all is there."""
    exp = collections.defaultdict(dict)
    for s in samples:
        exp[(s['resource_id'], 'cpu')][block(parse_ts(s['timestamp']))] = float(s['counter_volume'])
    for rid, rates in want.items():
        exp[(rid, 'cpu_util')] = {block(t): v for t, v in rates}
    crowded = [k for k, e in exp.items() if len(e) != len(want[k[0]]) + (k[1] == 'cpu')]
    if crowded:
        return ['%s/%s: two samples in one block of %d s (test setup)' % (crowded[0] + (STEP,))]
    return gnocchi_check.measure_diffs(gn, exp, rel_tol=0)


def api_get(api, path):
    req = urllib.request.Request(api + path, headers=ADMIN)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def by_resource(api, meter, rid):
    q = urllib.parse.urlencode({'q.field': 'resource_id', 'q.op': 'eq', 'q.value': rid})
    return api_get(api, '/v2/meters/%s?%s' % (meter, q))


def check_api(api, samples, want):
    """(b): a list of one-line differences."""
    diffs = []
    published = collections.defaultdict(dict)
    meta = {}
    for s in samples:
        published[s['resource_id']][s['message_id']] = s['counter_volume']
        meta[s['resource_id']] = s['resource_metadata']
    for rid in sorted(want):
        got = by_resource(api, 'cpu_util', rid)
        ids = [g['message_id'] for g in got]
        if len(ids) != len(set(ids)):
            diffs.append('%s: cpu_util message ids repeated' % rid)
        seen = collections.Counter(parse_ts(g['timestamp']) for g in got)
        exp = dict(want[rid])
        for t, v in want[rid]:
            if seen[t] != 1:
                diffs.append('%s: cpu_util at %s %d times, want once' % (rid, t, seen[t]))
        for g in got:
            t = parse_ts(g['timestamp'])
            if t not in exp:
                diffs.append('%s: unexpected cpu_util at %s: %r' % (rid, t, g['counter_volume']))
            elif g['counter_volume'] != exp[t]:
                diffs.append('%s: cpu_util at %s: %r, want %r'
                             % (rid, t, g['counter_volume'], exp[t]))
            if (g['counter_unit'], g['counter_type']) != ('%', 'gauge'):
                diffs.append('%s: cpu_util unit %r, type %r, want %%, gauge'
                             % (rid, g['counter_unit'], g['counter_type']))
            md = g['resource_metadata']
            if (md.get('host'), md.get('display_name'), md.get('cpu_number')) != (
                    meta[rid]['host'], meta[rid]['display_name'], str(meta[rid]['cpu_number'])):
                diffs.append('%s: cpu_util without the input metadata: %s' % (rid, md))
            if (g['user_id'], g['project_id']) != ('u-stage', 'p-stage'):
                diffs.append('%s: cpu_util user %s, project %s' % (rid, g['user_id'],
                                                                   g['project_id']))
        raw = {g['message_id']: g['counter_volume'] for g in by_resource(api, 'cpu', rid)}
        if raw != published[rid]:
            diffs.append('%s: raw cpu: %d samples, %d published, %d differ'
                         % (rid, len(raw), len(published[rid]),
                            len(set(raw.items()) ^ set(published[rid].items()))))
    return diffs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--samples', required=True)
    ap.add_argument('--gnocchi', required=True)
    ap.add_argument('--api', required=True)
    ap.add_argument('--wait', type=float, default=20.0)
    args = ap.parse_args()
    samples = [json.loads(line) for line in open(args.samples)]
    want = expected_rates(samples)
    n = sum(len(v) for v in want.values())
    resets = 0
    last = {}
    for s in samples:
        resets += s['resource_id'] in last and s['counter_volume'] < last[s['resource_id']]
        last[s['resource_id']] = s['counter_volume']
    if n != len(samples) - len(want):
        sys.exit('FAIL: %d rates expected of %d samples of %d resources' % (n, len(samples),
                                                                            len(want)))
    print('expected: %d cpu_util of %d resources (%d counter resets), from %d samples'
          % (n, len(want), resets, len(samples)))

    gn = gnocchi_check.Gnocchi(args.gnocchi)
    deadline = time.time() + args.wait
    while True:
        diffs = check_gnocchi(gn, samples, want)
        if not diffs or time.time() > deadline:
            break
        time.sleep(1)
    if diffs:
        sys.exit('FAIL: Gnocchi: %d differences, first: %s' % (len(diffs), '; '.join(diffs[:5])))
    rid = sorted(want)[0]
    st, r = gn.get('/v1/resource/instance/%s' % rid)
    md = [s for s in samples if s['resource_id'] == rid][-1]['resource_metadata']
    attrs = {'host': md['host'], 'display_name': md['display_name'],
             'flavor_id': md['flavor']['id'], 'flavor_name': md['instance_type'],
             'user_id': 'u-stage', 'project_id': 'p-stage'}
    if st != 200 or any(r.get(k) != v for k, v in attrs.items()):
        sys.exit('FAIL: Gnocchi resource %s: %s %s, want %s' % (rid, st, r, attrs))
    st, m = gn.get('/v1/metric/%s' % r['metrics']['cpu_util'])
    if st != 200 or m['unit'] != '%' or m['archive_policy']['name'] != 'ceilometer-low':
        sys.exit('FAIL: Gnocchi metric cpu_util: %s %s' % (st, m))
    print('ok: Gnocchi: every cpu_util value exact, one per %d s block, and every raw cpu, of '
          '%d instance resources (attributes from the metadata, cpu_util unit %%)'
          % (STEP, len(want)))

    diffs = check_api(args.api, samples, want)
    if diffs:
        sys.exit('FAIL: query API: %d differences, first: %s' % (len(diffs), '; '.join(diffs[:5])))
    print('ok: query API: every cpu_util value exactly once (unit %%, gauge, the input '
          'metadata) and the %d raw cpu samples, by resource' % len(samples))


if __name__ == '__main__':
    main()
