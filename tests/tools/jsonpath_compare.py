#!/usr/bin/python3
"""Compares tally-jsonpath's answers with jsonpath_oracle.py's, line by line.

  jsonpath_compare.py INPUT ORACLE_OUT TALLY_OUT [--allow NAME:EXPR_FILE ...]
                      [--allow-int64] [--show N]

Answers are equal when their text is (values and order, floats as repr),
or when both are errors of the same kind ("parse": the definition would
not load; "raise": find() raises on that document). A deliberate
difference is allowed only by name: --allow NAME:FILE lists expressions
(one a line) that Tally refuses at compile time ("parse") while the
original accepts them (constructs Tally does not support, each named in
docs/definitions.md); --allow-int64 accepts Tally's "limit" where the
original computed an integer outside 64 bits. Each allowance used is
counted and printed. Exit 0 when equal, 1 otherwise.
"""
import argparse
import json
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('input')
    ap.add_argument('oracle')
    ap.add_argument('tally')
    ap.add_argument('--allow', action='append', default=[])
    ap.add_argument('--allow-int64', action='store_true')
    ap.add_argument('--show', type=int, default=10)
    a = ap.parse_args()
    allowed = {}
    for spec in a.allow:
        name, path = spec.split(':', 1)
        with open(path, encoding='utf-8') as f:
            for line in f:
                line = line.rstrip('\n')
                if line.strip() and not line.startswith('#'):
                    allowed[line] = name
    used = {}
    exprs = []
    doc = None
    with open(a.input, encoding='utf-8') as f:
        for line in f:
            rec = json.loads(line)
            if 'expr' not in rec:
                doc = rec['doc']
                continue
            exprs.append((rec['expr'], rec.get('doc', doc)))
    with open(a.oracle, encoding='utf-8') as f:
        oracle = [l.rstrip('\n') for l in f]
    with open(a.tally, encoding='utf-8') as f:
        tally = [l.rstrip('\n') for l in f]
    if not (len(exprs) == len(oracle) == len(tally)):
        print('FAIL: %d expressions, %d oracle answers, %d tally answers' % (
            len(exprs), len(oracle), len(tally)))
        return 1
    diffs = 0
    counts = {'ok': 0, 'parse': 0, 'raise': 0, 'matches': 0}
    for (expr, doc), o, t in zip(exprs, oracle, tally):
        oj, tj = json.loads(o), json.loads(t)
        if 'ok' in oj:
            counts['ok'] += 1
            counts['matches'] += len(oj['ok'])
        else:
            counts[oj['error']] += 1
        if o == t or ('error' in oj and oj.get('error') == tj.get('error')):
            continue
        name = None
        if expr in allowed and tj.get('error') == 'parse':
            name = allowed[expr]
        elif (a.allow_int64 and tj.get('error') == 'limit' and 'ok' in oj and
              any(isinstance(v, int) and not isinstance(v, bool) and
                  not -2 ** 63 <= v < 2 ** 63 for v in oj['ok'])):
            name = 'int64'
        if name:
            used[name] = used.get(name, 0) + 1
            continue
        diffs += 1
        if diffs <= a.show:
            print('DIFF %r\n  doc    %s\n  oracle %s\n  tally  %s' % (
                expr, json.dumps(doc, ensure_ascii=False)[:400], o, t))
    print('%d evaluations: %d answered (%d values), %d refused, %d raise; %d differences%s' % (
        len(exprs), counts['ok'], counts['matches'], counts['parse'], counts['raise'], diffs,
        ''.join('; allowed %s: %d' % kv for kv in sorted(used.items()))))
    return 1 if diffs else 0


if __name__ == '__main__':
    sys.exit(main())
