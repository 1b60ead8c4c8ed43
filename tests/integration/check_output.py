#!/usr/bin/python3
"""Compares what the file dispatcher wrote with what ceilometer published.

    check_output.py OUT_FILE SAMPLES_JSONL [EVENTS_JSONL] [--max-duplicates N]

SAMPLES_JSONL / EVENTS_JSONL hold the published dicts, one per line (as
tests/tools/publish.py --out writes them). Every published sample and event
must be in OUT_FILE exactly once (or up to --max-duplicates extra copies in
all, for crash tests), field by field equal to what ceilometer sent after
Tally's normalization (check_decode.py's rules), and nothing else may be
there. Prints a summary; exit 0 or 1.
"""
import argparse
import collections
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('cd', os.path.join(HERE, 'check_decode.py'))
cd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cd)

ap = argparse.ArgumentParser()
ap.add_argument('out')
ap.add_argument('samples')
ap.add_argument('events', nargs='?')
ap.add_argument('--max-duplicates', type=int, default=0)
ap.add_argument('--quiet-fields', action='store_true', help='only count, do not compare fields')
ap.add_argument('--stored', action='store_true',
                help='OUT_FILE is a store dump (dump_store.py): what a store does not keep '
                '(signatures, monotonic_time) is not compared, traits are compared by name')
args = ap.parse_args()


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


want = {}
for s in load(args.samples):
    want[s['message_id']] = ('sample', s)
if args.events:
    for e in load(args.events):
        want[e['message_id']] = ('event', e)

seen = collections.Counter()
failures = 0
unknown = 0
for got in load(args.out):
    mid = got.get('message_id')
    seen[mid] += 1
    if mid not in want:
        unknown += 1
        continue
    if seen[mid] > 1 or args.quiet_fields:
        continue
    kind, src = want[mid]
    exp = cd.expected_sample(src) if kind == 'sample' else cd.expected_event(src)
    if args.stored:
        exp = dict(exp)
        for key in ('message_signature', 'monotonic_time'):
            exp.pop(key, None)
        if kind == 'event':
            exp['traits'] = sorted(exp['traits'])
    for key in sorted(set(got) | set(exp)):
        if got.get(key) != exp.get(key):
            failures += 1
            if failures <= 10:
                print('FAIL: %s %s: %s = %r, expected %r' % (kind, mid, key, got.get(key),
                                                             exp.get(key)))

missing = [m for m in want if seen[m] == 0]
dups = sum(c - 1 for c in seen.values() if c > 1)
print('published %d, written %d distinct, missing %d, duplicates %d (allowed %d), unknown %d, '
      'field mismatches %d' % (len(want), len([m for m in seen if m in want]), len(missing),
                               dups, args.max_duplicates, unknown, failures))
for m in missing[:5]:
    print('missing: %s' % m)
ok = not missing and not unknown and not failures and dups <= args.max_duplicates
sys.exit(0 if ok else 1)
