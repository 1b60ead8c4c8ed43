#!/usr/bin/python3
"""jsonpath-rw-ext (the parser ceilometer's definitions use) as an oracle.

  jsonpath_oracle.py < LINES

Reads the lines definitions/tally-jsonpath reads ({"doc": D} sets the
document, {"expr": E} evaluates E over it, {"expr": E, "doc": D} alone) and
prints what the original gives, in tally-jsonpath's format:
{"ok": [match, ...], "paths": [path, ...]} (each match as compact JSON,
floats as repr; each path as ceilometer joins it for trait plugins), or
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


def get_path(match):
    """The steps of a match's path as ceilometer's Definition._get_path gives them."""
    if match.context is not None:
        for element in get_path(match.context):
            yield element
        yield str(match.path)


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
            matches = path.find(d)
        except Exception as e:
            out.write(json.dumps({'error': 'raise', 'message': '%s: %s' % (
                type(e).__name__, e)}, ensure_ascii=False) + '\n')
            continue
        out.write('{"ok": [' + ', '.join(compact(m.value) for m in matches) + '], "paths": [' +
                  ', '.join(json.dumps('.'.join(get_path(m)), ensure_ascii=False)
                            for m in matches) + ']}\n')


if __name__ == '__main__':
    main()
