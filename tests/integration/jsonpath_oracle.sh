#!/bin/sh
# Issue 18: Tally's JSONPath engine (definitions/jsonpath.c) against
# jsonpath-rw-ext, the parser ceilometer's meter and event definitions use
# (Debian's python3-jsonpath-rw-ext), on the same lines
# (tests/tools/jsonpath_oracle.py, definitions/tally-jsonpath), compared
# answer by answer: values and their order, floats as Python's repr, and
# which expressions fail to load or raise (tests/tools/jsonpath_compare.py).
#   1. every JSONPath of ceilometer's meters.yaml and event_definitions.yaml
#      (tests/data/definitions/shipped_jsonpaths.txt; checked against the
#      installed files when python3-ceilometer is there) over 2,000
#      generated notifications (tests/tools/gen_jsonpath_docs.py);
#   2. the corner cases of tests/data/definitions/jsonpath_corners.txt over
#      300 more;
#   3. 1,500 random expressions over three small documents.
# Deliberate differences, named (docs/definitions.md "JSONPath"):
#   unsupported — the expressions of tests/data/definitions/jsonpath_unsupported.txt,
#     which Tally refuses at compile time;
#   int64 — an integer result outside 64 bits is Tally's limit error.
# What breaks it: any change of the dialect, e.g. making arithmetic
# left-associative or '|' bind looser than '.', fails hundreds of answers.
# Skipped (77) without python3-jsonpath-rw-ext.
set -u
: "${top_srcdir:?run from make check}" "${top_builddir:?run from make check}"
PY=${PYTHON3_DEBIAN:-/usr/bin/python3}
RUN=$top_builddir/definitions/tally-jsonpath
TOOLS=$top_srcdir/tests/tools
DATA=$top_srcdir/tests/data/definitions

"$PY" -c 'import jsonpath_rw_ext.parser' 2>/dev/null ||
	{ echo "SKIP: python3-jsonpath-rw-ext is not installed (apt-get install python3-jsonpath-rw-ext)"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tally-jp.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT
failed=0

# The list must hold every path of the installed files (ceilometer passes
# the values of name, type and unit through the parser too).
if "$PY" -c 'import ceilometer, yaml' 2>/dev/null; then
	"$PY" - "$DATA/shipped_jsonpaths.txt" <<'PYEOF' || failed=1
import os, sys, yaml, ceilometer
base = os.path.dirname(ceilometer.__file__)
listed = set(l.rstrip('\n') for l in open(sys.argv[1], encoding='utf-8'))
def paths(cfg):
    f = cfg['fields'] if isinstance(cfg, dict) else cfg
    if isinstance(f, list):  # as ceilometer's declarative.Definition joins them
        f = f[0] if len(f) == 1 else '|'.join('(%s)' % p for p in f)
    return [] if isinstance(f, int) else [f]
found = ['ctxt.user_id|ctxt.user', 'ctxt.project_id|ctxt.tenant_id']
meters = yaml.safe_load(open(os.path.join(base, 'data/meters.d/meters.yaml')))
for m in meters['metric']:
    for k in ('name', 'type', 'volume', 'unit', 'timestamp', 'user_id', 'project_id',
              'resource_id'):
        if m.get(k) is not None:
            found += paths(m[k])
    for v in m.get('metadata', {}).values():
        found += paths(v)
    if m.get('user_metadata'):
        found += paths(m['user_metadata'])
for e in yaml.safe_load(open(os.path.join(base, 'pipeline/data/event_definitions.yaml'))):
    for v in e.get('traits', {}).values():
        found += paths(v)
missing = sorted(set(found) - listed)
if missing:
    print('FAIL: paths of the installed definitions missing from the list: %r' % missing)
    sys.exit(1)
print('ok   the list holds the %d paths of the installed definitions' % len(set(found)))
PYEOF
else
	echo "note: python3-ceilometer is not installed: the list is not checked against its files"
fi

# compare NAME INPUT [compare options]
compare() {
	name=$1 input=$2
	shift 2
	"$PY" "$TOOLS/jsonpath_oracle.py" <"$input" >"$work/oracle.out" 2>"$work/oracle.err" ||
		{ tail -5 "$work/oracle.err"; echo "FAIL: $name: oracle"; failed=1; return; }
	"$RUN" <"$input" >"$work/tally.out" 2>"$work/tally.err" ||
		{ tail -5 "$work/tally.err"; echo "FAIL: $name: tally-jsonpath"; failed=1; return; }
	if out=$("$PY" "$TOOLS/jsonpath_compare.py" "$input" "$work/oracle.out" "$work/tally.out" "$@"); then
		echo "ok   $name: $out"
	else
		echo "$out"
		echo "FAIL: $name"
		failed=1
	fi
}

n=$(grep -c . "$DATA/shipped_jsonpaths.txt")
[ "$n" -ge 250 ] || { echo "FAIL: only $n shipped paths listed"; failed=1; }
"$PY" "$TOOLS/gen_jsonpath_docs.py" --exprs "$DATA/shipped_jsonpaths.txt" --count 2000 --seed 18 \
	>"$work/shipped.jsonl" || { echo "FAIL: generator"; exit 1; }
compare "$n shipped paths x 2000 notifications" "$work/shipped.jsonl" --allow-int64

"$PY" "$TOOLS/gen_jsonpath_docs.py" --exprs "$DATA/jsonpath_corners.txt" --count 300 --seed 19 \
	>"$work/corners.jsonl" || { echo "FAIL: generator"; exit 1; }
compare "corner cases x 300 notifications" "$work/corners.jsonl" --allow-int64 \
	--allow "unsupported:$DATA/jsonpath_unsupported.txt"

"$PY" "$TOOLS/gen_jsonpath_docs.py" --random-exprs 1500 --seed 20 >"$work/random.jsonl" ||
	{ echo "FAIL: generator"; exit 1; }
compare "1500 random expressions x 3 documents" "$work/random.jsonl" --allow-int64
exit $failed
