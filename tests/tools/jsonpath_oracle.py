#!/usr/bin/python3
"""jsonpath-rw-ext (the parser ceilometer's definitions use) as an oracle.

  jsonpath_oracle.py < LINES

Reads the lines definitions/tally-jsonpath reads ({"doc": D} sets the
document, {"expr": E} evaluates E over it, {"expr": E, "doc": D} alone) and
prints what the original gives, in tally-jsonpath's format:
{"ok": [match, ...]} (each match as compact JSON, floats as repr), or
{"error": "parse"} when ceilometer could not load the expression, or
{"error": "raise"} when find() raises on this document.
Expressions are parsed the way ceilometer's declarative.Definition does:
ExtentedJsonPathParser().parse(text), once per text.
"""
import contextlib
import json
import sys

from jsonpath_rw_ext import parser

PARSER = parser.ExtentedJsonPathParser()
CACHE = {}


def compact(v):
    return json.dumps(v, ensure_ascii=False, separators=(',', ':'))


def main():
    doc = None
    out = sys.stdout
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        rec = json.loads(line)
        if 'expr' not in rec:
            doc = rec['doc']
            continue
        d = rec['doc'] if 'doc' in rec else doc
        text = rec['expr']
        if text not in CACHE:
            try:
                # its Sub operator prints itself on stdout
                with contextlib.redirect_stdout(sys.stderr):
                    CACHE[text] = PARSER.parse(text)
            except Exception as e:  # what makes ceilometer refuse the definition
                CACHE[text] = e
        path = CACHE[text]
        if isinstance(path, Exception):
            out.write(json.dumps({'error': 'parse', 'message': '%s: %s' % (
                type(path).__name__, path)}, ensure_ascii=False) + '\n')
            continue
        try:
            values = [m.value for m in path.find(d)]
        except Exception as e:
            out.write(json.dumps({'error': 'raise', 'message': '%s: %s' % (
                type(e).__name__, e)}, ensure_ascii=False) + '\n')
            continue
        out.write('{"ok": [' + ', '.join(compact(v) for v in values) + ']}\n')


if __name__ == '__main__':
    main()
