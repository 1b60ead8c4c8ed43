#!/bin/sh
# Issue 18: Tally's meter definitions (definitions/meters.c) against the
# original's own code, ceilometer 19's ProcessMeterNotifications from
# Debian's python3-ceilometer, run as an oracle on the same notifications
# (tests/tools/meters_oracle.py) and compared field by field, in order
# (tests/tools/meters_compare.py):
#  1. the definitions kept, in the order they are applied (files sorted,
#     definitions reversed, duplicates and refused ones skipped), for the
#     shipped meters.yaml and tests/data/meters/extra/ (two files);
#  2. every notification of the oracle's unit tests plus 2,500 generated
#     ones (tests/tools/gen_meter_notifications.py) through the shipped file;
#  3. the same unit-test notifications plus 2,000 generated ones of the
#     extra event types through tests/data/meters/extra/ (lookup, user
#     metadata, constants, timedelta, anchors and merge keys).
# Samples Tally does not hand over must be the ones its sample cannot carry
# (docs/definitions.md "Meter definitions"); dropped notifications must be
# dropped by both. What breaks it: e.g. keeping metadata values that are
# not None but false makes run 2 differ in hundreds of notifications.
set -u
: "${top_srcdir:?run from make check}" "${top_builddir:?run from make check}"
PY=${PYTHON3_DEBIAN:-/usr/bin/python3}
RUN=$top_builddir/definitions/tally-meters
T=$top_srcdir/tests/tools
CEILO=$("$PY" -c 'import os, ceilometer; print(os.path.dirname(ceilometer.__file__))' 2>/dev/null)
[ -n "$CEILO" ] && [ -f "$CEILO/meter/notifications.py" ] && [ -f "$CEILO/data/meters.d/meters.yaml" ] ||
	{ echo "SKIP: python3-ceilometer (the oracle) is not installed"; exit 77; }
"$PY" -c 'import jsonpath_rw_ext, oslo_config, stevedore, yaml' 2>/dev/null ||
	{ echo "SKIP: the oracle needs python3-jsonpath-rw-ext, python3-oslo.config, python3-stevedore"; exit 77; }
SHIPPED=$CEILO/data/meters.d
EXTRA=$top_srcdir/tests/data/meters/extra

work=$(mktemp -d "${TMPDIR:-/tmp}/tally-meters.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT
failed=0

# 1. what is loaded, in order
for defs in "$SHIPPED" "$EXTRA"; do
	"$PY" "$T/meters_oracle.py" --defs "$defs" --list >"$work/o.list" 2>"$work/o.err" ||
		{ cat "$work/o.err"; echo "FAIL: oracle --list $defs"; failed=1; continue; }
	"$RUN" --list "$defs" >"$work/t.list" 2>"$work/t.err" ||
		{ cat "$work/t.err"; echo "FAIL: tally-meters --list $defs"; failed=1; continue; }
	if diff "$work/o.list" "$work/t.list" >"$work/diff"; then
		echo "ok: $defs: the same $(wc -l <"$work/t.list") definitions in the same order"
	else
		cat "$work/diff"
		echo "FAIL: $defs: the definitions kept differ"
		failed=1
	fi
done
# The refused definitions of extra/ are logged with file:line.
grep -q 'extra/a.yaml:[0-9]*: error loading meter definition bad.type: Invalid type foo' "$work/t.err" ||
	{ cat "$work/t.err"; echo "FAIL: the refused definition is not logged with file:line"; failed=1; }

# compare NAME DEFS NOTIFICATIONS
compare() {
	"$PY" "$T/meters_oracle.py" --defs "$2" <"$3" >"$work/o.jsonl" 2>"$work/o.err" ||
		{ tail -5 "$work/o.err"; echo "FAIL: $1: oracle"; failed=1; return; }
	"$RUN" "$2" <"$3" >"$work/t.jsonl" 2>"$work/t.err" ||
		{ tail -5 "$work/t.err"; echo "FAIL: $1: tally-meters"; failed=1; return; }
	if "$PY" "$T/meters_compare.py" "$work/o.jsonl" "$work/t.jsonl" >"$work/cmp"; then
		echo "ok: $1: $(head -1 "$work/cmp")"
	else
		cat "$work/cmp"
		echo "FAIL: $1"
		failed=1
	fi
}

"$PY" "$T/meters_oracle.py" --unit-notifications >"$work/unit.jsonl" ||
	{ echo "FAIL: the unit tests' notifications"; exit 1; }
n_unit=$(wc -l <"$work/unit.jsonl")
[ "$n_unit" -ge 5 ] || { echo "FAIL: only $n_unit notifications from the unit tests"; failed=1; }
"$PY" "$T/gen_meter_notifications.py" --seed 18 --count 2500 >"$work/gen.jsonl" || exit 99
cat "$work/unit.jsonl" "$work/gen.jsonl" >"$work/shipped.jsonl"
compare "shipped meters.yaml" "$SHIPPED" "$work/shipped.jsonl"
"$PY" "$T/gen_meter_notifications.py" --seed 7 --count 2000 --extra >"$work/genx.jsonl" || exit 99
cat "$work/unit.jsonl" "$work/genx.jsonl" >"$work/extra.jsonl"
compare "tests/data/meters/extra" "$EXTRA" "$work/extra.jsonl"

# The same input twice gives the same ids (derived from the message_id).
"$RUN" "$SHIPPED" <"$work/unit.jsonl" >"$work/a.jsonl" 2>/dev/null
"$RUN" "$SHIPPED" <"$work/unit.jsonl" >"$work/b.jsonl" 2>/dev/null
if cmp -s "$work/a.jsonl" "$work/b.jsonl" && grep -q '"id":"[0-9a-f-]\{36\}"' "$work/a.jsonl"; then
	echo "ok: sample ids are derived from the notification, the same on a second run"
else
	echo "FAIL: sample ids differ between two runs"
	failed=1
fi
[ $failed -eq 0 ] && echo "PASS: meter definitions equal to ceilometer's on $(($(wc -l <"$work/shipped.jsonl") + $(wc -l <"$work/extra.jsonl"))) notifications"
exit $failed
