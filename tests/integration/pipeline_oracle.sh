#!/bin/sh
# Issue 17: Tally's transformers against the original's (ceilometer 6.1.5),
# run as an oracle on the same input, compared field by field
# (tests/tools/pipeline_compare.py): every transform example of the oracle,
# then 10,000 generated samples (tests/tools/gen_pipeline_samples.py:
# counters with resets, gauges, missing and null metadata, interleaved
# resources) through the shipped pipeline.yaml and through
# tests/data/pipeline/all_transformers.yaml (every transformer).
#
# The oracle is found through TALLY_CEILOMETER_ORACLE (a directory), else
# as */reference/oracles/ceilometer-transformers in the parents of the
# source tree (up to 3 levels); without it the test is skipped.
#
# Deliberate differences (docs/pipelines.md "Differences") are named here:
#   rate-key-collision (example 02), aggregator-renamed-gauge (example 16),
#   arithmetic-operand-timestamp (all_transformers: memory_util_sink).
# tally-pipeline-run --restore-every saves, rebuilds and restores the state
# as a restart would: the output must not change.
# What breaks it: any change to a transformer's arithmetic, e.g. dropping
# the counter-reset rule of rate_of_change, makes the generated run differ
# in hundreds of records.
set -u
: "${top_srcdir:?run from make check}" "${top_builddir:?run from make check}"
PY=/usr/bin/python3
RUN=$top_builddir/pipeline/tally-pipeline-run
CMP="$PY $top_srcdir/tests/tools/pipeline_compare.py"

oracle=${TALLY_CEILOMETER_ORACLE:-}
if [ -z "$oracle" ]; then
	dir=$(cd "$top_srcdir/.." && pwd)
	for level in 1 2 3; do
		for cand in "$dir"/*/reference/oracles/ceilometer-transformers; do
			[ -f "$cand/run_oracle.py" ] && { oracle=$cand; break 2; }
		done
		dir=$(dirname "$dir")
	done
fi
[ -n "$oracle" ] && [ -f "$oracle/run_oracle.py" ] ||
	{ echo "SKIP: the ceilometer transformer oracle was not found (set TALLY_CEILOMETER_ORACLE)"; exit 77; }
"$PY" -c 'import oslo_utils, oslo_config, oslo_log, stevedore, yaml, iso8601' 2>/dev/null ||
	{ echo "SKIP: the oracle needs python3-oslo.* and python3-yaml"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tally-pl.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT
failed=0

# compare NAME CONFIG INPUT [transform options] -- [compare options]
compare() {
	name=$1 cfg=$2 input=$3
	shift 3
	topts= copts=
	while [ $# -gt 0 ] && [ "$1" != -- ]; do topts="$topts $1"; shift; done
	[ $# -gt 0 ] && shift
	copts="$*"
	# shellcheck disable=SC2086
	"$PY" "$oracle/run_oracle.py" transform "$cfg" --samples "$input" --logs none $topts \
		>"$work/oracle.jsonl" 2>"$work/oracle.err" || { cat "$work/oracle.err"; echo "FAIL: $name: oracle"; failed=1; return; }
	# shellcheck disable=SC2086
	"$RUN" $topts ${tally_extra:-} "$cfg" <"$input" >"$work/tally.jsonl" 2>"$work/tally.err" ||
		{ tail -5 "$work/tally.err"; echo "FAIL: $name: tally-pipeline-run"; failed=1; return; }
	# shellcheck disable=SC2086
	if out=$($CMP "$work/oracle.jsonl" "$work/tally.jsonl" --input-ids "$input" $copts); then
		echo "ok   $name: $(echo "$out" | tr '\n' ' ')"
	else
		echo "$out"
		echo "FAIL: $name"
		failed=1
	fi
}

ex=$oracle/examples
n_examples=0
for d in "$ex"/*/; do
	d=${d%/}
	case=$(basename "$d")
	grep -q '^transform ' "$d/cmd" 2>/dev/null || continue
	while read -r verb cfg opts; do
		[ "$verb" = transform ] || continue
		# the oracle's own log option is not ours
		opts=$(echo "$opts" | sed -e 's/--logs inline//')
		allow=
		case $case in
		02-*) allow="--allow-oracle-only 12:rate-key-collision" ;;
		16-*) allow="--allow-tally-only 2:aggregator-renamed-gauge --allow-tally-only 4:aggregator-renamed-gauge --allow-empty" ;;
		esac
		# shellcheck disable=SC2086
		compare "$case $opts" "$d/$cfg" "$d/input.jsonl" $opts -- $allow
		n_examples=$((n_examples + 1))
	done <"$d/cmd"
done
[ "$n_examples" -ge 15 ] || { echo "FAIL: only $n_examples oracle examples ran"; failed=1; }

"$PY" "$top_srcdir/tests/tools/gen_pipeline_samples.py" --count 10000 --seed 7 >"$work/gen.jsonl" ||
	{ echo "FAIL: generator"; exit 1; }
compare "shipped pipeline.yaml, 10000 samples" "$oracle/upstream/etc/ceilometer/pipeline.yaml" \
	"$work/gen.jsonl"
compare "all_transformers.yaml, 10000 samples" "$top_srcdir/tests/data/pipeline/all_transformers.yaml" \
	"$work/gen.jsonl" -- --allow-timestamp memory_util_sink:arithmetic-operand-timestamp
compare "all_transformers.yaml, explicit batches" "$top_srcdir/tests/data/pipeline/all_transformers.yaml" \
	"$work/gen.jsonl" --batch explicit -- --allow-timestamp memory_util_sink:arithmetic-operand-timestamp
# The state saved and restored into new transformers every 3 batches (as a
# restart would): the same output.
tally_extra="--restore-every 3"
compare "all_transformers.yaml, state restored every 3 batches" \
	"$top_srcdir/tests/data/pipeline/all_transformers.yaml" "$work/gen.jsonl" \
	-- --allow-timestamp memory_util_sink:arithmetic-operand-timestamp
compare "shipped pipeline.yaml, state restored every 3 batches" \
	"$oracle/upstream/etc/ceilometer/pipeline.yaml" "$work/gen.jsonl"
exit $failed
