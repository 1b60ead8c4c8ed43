#!/usr/bin/python3
"""Lines for the JSONPath differential test (tests/integration/jsonpath_oracle.sh).

  gen_jsonpath_docs.py --exprs FILE [--exprs FILE...] --count N --seed S

Prints N generated notification-shaped documents, each as a {"doc": ...}
line followed by one {"expr": ...} line per expression of the FILEs (one
expression a line; blank lines and lines starting with '#' skipped).
The documents use the names the expressions use, at random depths and
with random types: missing keys, nulls, booleans, integers (small, large,
negative), floats (integral, tiny, huge, -0.0), strings (ASCII, Unicode,
numbers as text in Python's int() forms, separators of `split`), lists,
objects, and the lists the definitions filter (metrics, measurements,
glance_metadata, volume_attachment).
"""
import argparse
import json
import random
import re

R = random.Random()
NAMES = []
CPU = ['cpu.frequency', 'cpu.user.time', 'cpu.kernel.time', 'cpu.idle.time',
       'cpu.iowait.time', 'cpu.kernel.percent', 'cpu.idle.percent', 'cpu.user.percent',
       'cpu.iowait.percent', 'cpu.percent']
STRINGS = ['', 'a', 'abc', 'x_y', 'compute.host-1.example', 'é', 'naïve café', '日本語',
           '\U0001F600 smile', 'a#b#c', '#lead', 'trail#', 'a.b.c', '..', 'image_id',
           'cpu.frequency', 'success', 'failure', ' 12 ', '12', '-7', '+5', '1_000', '1__0',
           '\u0661\u0662', '\u00a042\u2003', '3.5', '1e3', '0x10', 'true', 'null', 'n1',
           'tab\there', 'quote"in', 'back\\slash', 'line\nbreak', '\u2028sep',
           '9999999999999999999999', '-9223372036854775808', 'ab' * 40]


def rint():
    return R.choice([0, 1, -1, 2, 3, 7, 100, 1024, -12345, 2 ** 31, 2 ** 53 + 1,
                     2 ** 62, -(2 ** 62), R.randint(-1000, 1000), R.randint(-10 ** 12, 10 ** 12)])


def rfloat():
    return R.choice([0.0, -0.0, 0.5, 1.0, 2.0, -1.5, 1e-05, 0.1, 1e16, 1.5e300,
                     123.456, R.uniform(-1000, 1000), R.random(), float(R.randint(-99, 99)),
                     9007199254740993.0, 1e22])


def scalar():
    k = R.random()
    if k < 0.08:
        return None
    if k < 0.14:
        return R.random() < 0.5
    if k < 0.34:
        return rint()
    if k < 0.52:
        return rfloat()
    return R.choice(STRINGS + NAMES[:20] + CPU)


def value(depth):
    k = R.random()
    if depth > 3 or k < 0.6:
        return scalar()
    if k < 0.8:
        return [value(depth + 1) for _ in range(R.randint(0, 4))]
    return obj(depth + 1, R.randint(0, 5))


def obj(depth, n):
    d = {}
    for _ in range(n):
        d[R.choice(NAMES) if R.random() < 0.85 else R.choice(STRINGS)] = value(depth)
    return d


def metric():
    m = {}
    if R.random() < 0.9:
        m['name'] = R.choice(CPU) if R.random() < 0.8 else scalar()
    for k in ('value', 'timestamp', 'source', 'unit'):
        if R.random() < 0.85:
            m[k] = scalar() if R.random() < 0.85 else value(2)
    return m


def special(key):
    """Values shaped like what the shipped definitions look for."""
    if key == 'metrics':
        if R.random() < 0.85:
            return [metric() if R.random() < 0.9 else value(2) for _ in range(R.randint(0, 6))]
    if key == 'measurements':
        if R.random() < 0.85:
            return [{'metric': ([{'name': scalar(), 'unit': scalar()}
                                 for _ in range(R.randint(0, 3))]
                                if R.random() < 0.85 else value(2)),
                     'result': scalar()} for _ in range(R.randint(0, 3))]
    if key == 'glance_metadata':
        if R.random() < 0.85:
            return [{'key': R.choice(['image_id', 'image_id', 'other', 7, None]),
                     'value': scalar()} for _ in range(R.randint(0, 4))]
    if key == 'volume_attachment':
        return R.choice([[], [{'server_id': scalar()}], [{'server_id': 's1'}, {'x': 1}],
                         None, {'server_id': 'd'}, 'str', 5, [None], [[1]]])
    if key == 'image_meta':
        return {R.choice(['org.openstack__1__architecture', 'org.openstack__1__os_version',
                          'org.openstack__1__os_distro', 'base_image_ref']): scalar()
                for _ in range(R.randint(0, 4))}
    if key in ('name_to_id', 'publisher_id'):
        return R.choice(['a#b', 'pool#backend#x', 'nohash', '#', 'compute.host-1',
                         'compute.host.a.b', 'network', '', scalar()])
    return value(1)


def document():
    doc = {}
    payload = {}
    for key in R.sample(NAMES, min(len(NAMES), R.randint(0, 25))):
        if R.random() < 0.7:
            payload[key] = special(key)
    for key in ('metrics', 'measurements', 'glance_metadata', 'volume_attachment',
                'name_to_id', 'host', 'nodename', 'outcome', 'instance_id'):
        if R.random() < 0.5:
            payload[key] = special(key)
    k = R.random()
    doc['payload'] = payload if k < 0.92 else value(2)
    if R.random() < 0.85:
        doc['ctxt'] = {k: scalar() for k in R.sample(
            ['user_id', 'user', 'project_id', 'tenant_id', 'trustor_user_id', 'ctxt'],
            R.randint(0, 5))}
    if R.random() < 0.8:
        doc['publisher_id'] = special('publisher_id')
    if R.random() < 0.8:
        doc['event_type'] = R.choice(['compute.instance.create.end', 'image.upload',
                                      'compute.metrics.update', scalar()])
    for _ in range(R.randint(0, 3)):
        doc[R.choice(NAMES)] = value(1)
    return doc


# Pieces of random expressions (--random-exprs): what the shipped files use and
# what can follow what, so that the parsers' conflict resolutions meet.
PIECES = ['$', '@', 'a', 'b', 'name', 'v', 'l', 's', '.', '.', '.', '..', '|', '[0]', '[*]',
          '[-1]', '[1:]', '[:1]', '(', ')', '+', '-', '*', '1', '2', '-1', '1.5', '"_"', "'x'",
          '`len`', '`this`', '`split(., 0, 1)`', '[?(@.name=n1)]', '[?v>1]', '[?(@.v)]',
          '[?v=1.5]', '[?(@.name!="n2") & v]', ',', ' where ', '[a,b]', '*', ' ', 'true']
SMALL_DOCS = [
    {'a': {'b': 1, 'v': [1, 2]}, 'b': 'x.y', 'name': 'n1', 'v': 6, 's': 'ab.c',
     'l': [{'name': 'n1', 'v': 1}, {'name': 'n2', 'v': '2'}, {'v': None}, {'name': 'n1', 'v': 3.5}]},
    {'a': [{'b': 2}, {'b': 'z'}], 'b': 2.5, 'l': [1, 'n1', [2]], 's': 's', 'v': '12',
     'name': ['n1', 'n2']},
    {'l': {'name': 'n1', 'v': 2}, 'a': None, 'v': [3, 4], 's': ['a.b', 'c'], 'name': {'v': 1}},
]


def rand_path(depth=0):
    k = R.random()
    if depth > 2 or k < 0.45:
        atom = R.choice(['$', '@', 'a', 'b', 'name', 'v', 'l', 's', '*', '`this`', '`len`',
                         "'x'", '"a"', '[0]', '[*]', 'a,b', '`split(., 0, 1)`'])
    elif k < 0.6:
        atom = '(' + rand_expr(depth + 1) + ')'
    else:
        atom = rand_path(depth + 1) + R.choice(['.', '.', '..', '|', ' where ']) + \
            rand_path(depth + 1)
    while R.random() < 0.3:
        atom += R.choice(['[0]', '[*]', '[-1]', '[1:]', '[:1]', '[a,b]', '[?(@.name=n1)]',
                          '[?v>1]', '[?(@.v)]', '[?v=1.5]', '[?(@.name!="n2") & v]',
                          '[?(v=true)]', '[?((@.v<3))]', '.`len`', '.[*]'])
    return atom


def rand_expr(depth=0):
    if R.random() < 0.3 and depth < 3:
        left = R.choice([rand_path(depth + 1), '1', '2', '1.5', '-1'])
        right = R.choice([rand_path(depth + 1), '1', '3', '0.5', '"_"', rand_expr(depth + 1)])
        return left + R.choice([' + ', ' - ', ' * ', '+', '*']) + right
    return rand_path(depth)


def random_exprs(n):
    out = []
    for _ in range(n):
        if R.random() < 0.25:  # token soup: where the parsers' errors meet
            e = ''.join(R.choice(PIECES) for _ in range(R.randint(1, 9))).strip() or '$'
        else:
            e = rand_expr()
        out.append(e)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--exprs', action='append', default=[])
    ap.add_argument('--count', type=int, default=2000)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--random-exprs', type=int, default=0,
                    help='instead: N random expressions over a few small documents')
    a = ap.parse_args()
    R.seed(a.seed)
    if a.random_exprs:
        exprs = random_exprs(a.random_exprs)
        lines = []
        for d in SMALL_DOCS:
            lines.append(json.dumps({'doc': d}, ensure_ascii=False))
            lines.extend(json.dumps({'expr': e}, ensure_ascii=False) for e in exprs)
        print('\n'.join(lines))
        return
    exprs = []
    for path in a.exprs:
        with open(path, encoding='utf-8') as f:
            for line in f:
                line = line.rstrip('\n')
                if line.strip() and not line.startswith('#'):
                    exprs.append(line)
    names = set()
    for e in exprs:
        names.update(re.findall(r'[A-Za-z_][A-Za-z0-9_\-]*', e))
    names -= {'split', 'len', 'this'}
    NAMES.extend(sorted(names))
    out = []
    for _ in range(a.count):
        out.append(json.dumps({'doc': document()}, ensure_ascii=False))
        out.extend(json.dumps({'expr': e}, ensure_ascii=False) for e in exprs)
    print('\n'.join(out))


if __name__ == '__main__':
    main()
