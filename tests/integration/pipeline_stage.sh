#!/bin/sh
# The pipeline stage (collector/stage.h), exactly once across crashes: tallyd
# with collector.pipeline computing cpu_util by rate_of_change (ceilometer's
# shipped cpu_sink), one AMQP worker (the samples of a resource in order) and
# a file dispatcher. tests/tools/publish_cpu.py publishes cumulative cpu
# samples of 20 resources for 300 rounds while tallyd is killed with SIGKILL
# three times and restarted. Then the distinct cpu_util samples in the file
# (by message_id: the file gets at-least-once delivery, so replays may repeat
# lines) must be exactly those pipeline/tally-pipeline-run computes on the
# published stream, value for value: none missing, none extra.
# What breaks it: a stage that moved its cursor apart from its state (a
# restart with an old state misses rates or computes them from the wrong
# predecessor), or that re-ran a redelivered sample (a rate of 0, a new id).
set -u
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/pipeline_lib.sh"
need_peers
RUN=$top_builddir/pipeline/tally-pipeline-run
SECRET='stage test secret'
RES=20
ROUNDS=${STAGE_ROUNDS:-300}
cpu_pipeline out out
write_conf "$SECRET" "$(free_port)"
sed -i 's/workers: 2,/workers: 1,/' "$work/tally.yaml"
use_pipeline "$work/tally.yaml"
start_tallyd 0

"$PY" "$top_srcdir/tests/tools/publish_cpu.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--resources $RES --rounds "$ROUNDS" --pause 0.03 --out "$work/samples.jsonl" \
	2>"$work/publish.err" &
ppid=$!
for k in 1 2 3; do
	sleep 2
	kill -9 "$tpid"
	wait "$tpid" 2>/dev/null
	echo "crash $k: SIGKILL with $(wc -l <"$work/out.log" 2>/dev/null || echo 0) lines written"
	start_tallyd "$k"
done
wait "$ppid" || { cat "$work/publish.err"; fail "publish_cpu.py failed"; }
total=$((RES * ROUNDS))
[ "$(wc -l <"$work/samples.jsonl")" -eq "$total" ] || fail "published $(wc -l <"$work/samples.jsonl") of $total"

wait_drained 60
stop_tallyd

"$RUN" --no-meta "$work/pipeline.yaml" <"$work/samples.jsonl" >"$work/expected.jsonl" ||
	fail "tally-pipeline-run failed"
"$PY" - "$work/expected.jsonl" "$work/out.log" "$total" <<'PY' || fail "cpu_util differs from tally-pipeline-run"
import json, sys
want = {}
for line in open(sys.argv[1]):
    s = json.loads(line)
    if s['name'] == 'cpu_util':
        want[s['id']] = s['volume']
got, lines, cpu = {}, 0, set()
for line in open(sys.argv[2]):
    s = json.loads(line)
    if s.get('counter_name') == 'cpu':
        cpu.add(s['message_id'])
    if s.get('counter_name') != 'cpu_util':
        continue
    lines += 1
    v = s['counter_volume']
    if got.setdefault(s['message_id'], v) != v:
        sys.exit('%s: two values, %r and %r' % (s['message_id'], got[s['message_id']], v))
missing = sorted(set(want) - set(got))
extra = sorted(set(got) - set(want))
wrong = [i for i in want if i in got and got[i] != want[i]]
print('cpu samples stored: %d distinct of %s published; cpu_util: %d expected, %d distinct '
      'stored (%d lines), %d missing, %d extra, %d wrong'
      % (len(cpu), sys.argv[3], len(want), len(got), lines, len(missing), len(extra), len(wrong)))
for i in (missing[:3] + extra[:3] + wrong[:3]):
    print('  ', i, want.get(i), got.get(i))
ok = len(want) > int(sys.argv[3]) * 9 // 10 and not missing and not extra and not wrong
ok = ok and len(cpu) == int(sys.argv[3])
sys.exit(0 if ok else 1)
PY
grep -h 'redelivered sample' "$work"/tallyd-*.log | tail -1
echo "PASS: cpu_util exactly once across 3 SIGKILLs"
