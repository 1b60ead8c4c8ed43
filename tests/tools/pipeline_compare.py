#!/usr/bin/python3
"""Compares tally-pipeline-run's output with the ceilometer oracle's, field by field.

  pipeline_compare.py ORACLE_OUT TALLY_OUT [--allow-oracle-only BATCH:NAME ...]
                      [--allow-tally-only BATCH:NAME ...]

Both files are JSON lines as run_oracle.py prints them. The oracle's log,
exception and command records are ignored. Records are compared in order:
metadata (_batch, _line, _phase, _pipeline, _sink), every sample field;
volumes as numbers, equal to the last bit (so to the last printed digit;
50 and 50.0 are equal); timestamps as instants (the oracle prints the input
text, Tally the normalized UTC form); ids equal unless the oracle made a
new sample (its sequential 00000000-0000-0000-0000-... ids), where Tally's
derived id must be new too. A deliberate difference is allowed by naming
the batch whose records only one side has, or (--allow-timestamp
SINK:NAME) another timestamp in one sink; each is reported by name.
Exit 0 when equal, 1 otherwise (the first differences are printed).
"""
import datetime
import json
import math
import sys

SEQ_PREFIX = '00000000-0000-0000-0000-'


def records(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            if any(k in rec for k in ('_log', '_cmd', '_rc', '_exception')):
                continue
            out.append(rec)
    return out


def instant(text):
    t = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t


def same_volume(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    fa, fb = float(a), float(b)
    if math.isnan(fa) or math.isnan(fb):
        return math.isnan(fa) and math.isnan(fb)
    return fa == fb


def diff(o, t, input_ids, later_ts, used):
    why = []
    for k in ('_batch', '_line', '_phase', '_pipeline', '_sink', 'name', 'unit', 'type',
              'resource_id', 'user_id', 'project_id', 'resource_metadata', 'source'):
        if k in o and o.get(k) != t.get(k):
            why.append('%s: oracle %r, tally %r' % (k, o.get(k), t.get(k)))
    if not same_volume(o['volume'], t['volume']):
        why.append('volume: oracle %r, tally %r' % (o['volume'], t['volume']))
    if (later_ts and o.get('_sink') == later_ts[0] and
            instant(t['timestamp']) != instant(o['timestamp'])):
        used[later_ts[1]] = used.get(later_ts[1], 0) + 1
    elif instant(o['timestamp']) != instant(t['timestamp']):
        why.append('timestamp: oracle %r, tally %r' % (o['timestamp'], t['timestamp']))
    if o['id'].startswith(SEQ_PREFIX):
        if t['id'] in input_ids:
            why.append('id: a new sample, but tally kept an input id %r' % t['id'])
    elif o['id'] != t['id']:
        why.append('id: oracle %r, tally %r' % (o['id'], t['id']))
    return why


def without_allowed(recs, batches, used):
    """The records of recs outside the batches allowed on this side only (counted in used)."""
    kept = []
    for r in recs:
        name = batches.get(r.get('_batch'))
        if name:
            used[name] = used.get(name, 0) + 1
        else:
            kept.append(r)
    return kept


def main(argv):
    allow = {'oracle': {}, 'tally': {}}
    allow_empty = '--allow-empty' in argv
    argv = [a for a in argv if a != '--allow-empty']
    args = []
    i = 0
    while i < len(argv):
        if argv[i] in ('--allow-oracle-only', '--allow-tally-only'):
            batch, name = argv[i + 1].split(':', 1)
            allow['oracle' if 'oracle' in argv[i] else 'tally'][int(batch)] = name
            i += 2
        elif argv[i] == '--allow-timestamp':
            sink, name = argv[i + 1].split(':', 1)
            allow['later_ts'] = (sink, name)
            i += 2
        elif argv[i] == '--input-ids':
            args.append(('ids', argv[i + 1]))
            i += 2
        else:
            args.append(('file', argv[i]))
            i += 1
    files = [v for k, v in args if k == 'file']
    input_ids = set()
    for k, v in args:
        if k == 'ids':
            with open(v) as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith('#'):
                        d = json.loads(line)
                        for s in d.get('_batch', [d]) if isinstance(d, dict) else []:
                            if isinstance(s, dict) and 'id' in s:
                                input_ids.add(s['id'])
    oracle, tally = records(files[0]), records(files[1])
    used = {}
    kept_o = without_allowed(oracle, allow['oracle'], used)
    kept_t = without_allowed(tally, allow['tally'], used)
    errors = []
    for n, (o, t) in enumerate(zip(kept_o, kept_t)):
        why = diff(o, t, input_ids, allow.get('later_ts'), used)
        if why:
            errors.append('record %d (batch %s): %s' % (n + 1, o.get('_batch'),
                                                         '; '.join(why)))
    if len(kept_o) != len(kept_t):
        errors.append('oracle published %d samples, tally %d' % (len(kept_o), len(kept_t)))
        m = min(len(kept_o), len(kept_t))
        extra = kept_o[m:m + 1] or kept_t[m:m + 1]
        errors.append('first unmatched: %s' % json.dumps(extra[0]) if extra else '')
    if not kept_o and not kept_t and not allow_empty:
        errors.append('no sample published on either side')
    declared = set(allow['oracle'].values()) | set(allow['tally'].values())
    if 'later_ts' in allow:
        declared.add(allow['later_ts'][1])
    for name in sorted(declared):
        if name not in used:
            errors.append('declared difference %s did not show' % name)
    for name, count in sorted(used.items()):
        print('deliberate difference %s: %d record(s)' % (name, count))
    print('compared %d records' % min(len(kept_o), len(kept_t)))
    for e in errors[:20]:
        print('DIFF ' + e)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
