#!/bin/sh
# Issue 18: Tally's event definitions against ceilometer's own converter
# (python3-ceilometer's NotificationEventsConverter, run by
# tests/tools/events_oracle.py) on the same notifications: every
# notification dict of ceilometer's event unit tests and 2,500 generated ones
# of the shipped file's event types with random field shapes
# (tests/tools/gen_event_notifications.py), through
#   1. the shipped event_definitions.yaml,
#   2. the same with drop_unmatched_notifications and store_raw info,
#   3. tests/data/events/plugins.yaml (split, bitfield, timedelta, every type,
#      exclusions, brackets, merges) with store_raw error;
# event_type, message_id, generated, every trait (name, dtype, value) in
# order and raw are compared line by line (definitions/tally-events prints
# the oracle's canonical form). What breaks it: e.g. taking the FIRST
# matching definition instead of the last changes hundreds of lines.
set -u
: "${top_srcdir:?run from make check}" "${top_builddir:?run from make check}"
PY=/usr/bin/python3
RUN=$top_builddir/definitions/tally-events
DEFS=/usr/lib/python3/dist-packages/ceilometer/pipeline/data/event_definitions.yaml
"$PY" -c 'import ceilometer.event.converter, stevedore, testtools' 2>/dev/null && [ -f "$DEFS" ] ||
	{ echo "SKIP: the oracle needs python3-ceilometer (ceilometer.event.converter)"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tally-ev.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT
failed=0

"$PY" "$top_srcdir/tests/tools/gen_event_notifications.py" --count 2500 "$DEFS" \
	>"$work/in.jsonl" 2>"$work/gen.err" || { cat "$work/gen.err"; echo "FAIL: generator"; exit 1; }
cat "$work/gen.err"
total=$(wc -l <"$work/in.jsonl")
[ "$total" -ge 2500 ] || { echo "FAIL: only $total notifications"; exit 1; }

# compare NAME DEFS [options]
compare() {
	name=$1 defs=$2
	shift 2
	"$PY" "$top_srcdir/tests/tools/events_oracle.py" "$@" "$defs" <"$work/in.jsonl" \
		>"$work/oracle.jsonl" 2>"$work/oracle.err" ||
		{ tail -5 "$work/oracle.err"; echo "FAIL: $name: oracle"; failed=1; return; }
	"$RUN" "$@" "$defs" <"$work/in.jsonl" >"$work/tally.jsonl" 2>"$work/tally.err" ||
		{ tail -5 "$work/tally.err"; echo "FAIL: $name: tally-events"; failed=1; return; }
	n=$(wc -l <"$work/tally.jsonl")
	events=$(grep -c '"traits"' "$work/tally.jsonl")
	errors=$(grep -c '"error"' "$work/tally.jsonl")
	if [ "$n" -ne "$total" ] || ! cmp -s "$work/oracle.jsonl" "$work/tally.jsonl"; then
		paste -d '\n' "$work/oracle.jsonl" "$work/tally.jsonl" | awk -v name="$name" '
			NR % 2 == 1 { a = $0; next }
			a != $0 { d++; if (d <= 5) { print name ": line " NR / 2 ":\n  oracle: " a "\n  tally:  " $0 } }
			END { print name ": " d + 0 " lines differ" }'
		echo "FAIL: $name"
		failed=1
		return
	fi
	echo "ok: $name: $n notifications, $events events, $errors refused by both, identical"
}

compare shipped "$DEFS"
compare shipped-drop-raw "$DEFS" --drop-unmatched --store-raw info
compare plugins "$top_srcdir/tests/data/events/plugins.yaml" --store-raw error
exit $failed
