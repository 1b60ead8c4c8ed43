#!/bin/sh
# Crash test: tallyd is killed with SIGKILL three times during a stream of
# 200,000 samples (4,000 notifications of 50, published by oslo.messaging's
# Notifier as ceilometer does) and restarted each time. At the end every
# sample is in the file dispatcher's output, field by field as published, and
# the duplicates are at most the batches in flight at each crash: per crash,
# the deliveries committed but not yet acknowledged (2 workers x batch_size
# 100 x 50 samples) plus the dispatcher's batch written but not yet advanced
# (1,000 records).
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
SECRET='crash test secret'
TOTAL=${CRASH_SAMPLES:-200000}
CRASHES=3
write_conf "$SECRET" "$(free_port)"
start_tallyd 0

"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count "$TOTAL" --per-message 50 --jobs 2 --seed 7 --out "$work/samples.jsonl" \
	2>"$work/publish.err" &
ppid=$!

for k in $(seq 1 $CRASHES); do
	# Let records flow, then kill in the middle of whatever tallyd is doing.
	sleep 2.5
	before=$(wc -l 2>/dev/null <"$work/out.log" || echo 0)
	kill -9 "$tpid"
	wait "$tpid" 2>/dev/null
	echo "crash $k: SIGKILL with $before lines written"
	start_tallyd "$k"
done
wait "$ppid" || { cat "$work/publish.err"; fail "publish.py failed"; }
cat "$work/publish.err"
wait_lines "$TOTAL" 240
# Everything published was consumed: the queue is empty and nothing is pending.
i=0
until [ "$($RABBIT ctl "$work/rmq" list_queues -q name messages 2>/dev/null |
	awk '$1 == "metering.sample" {print $2}')" = 0 ] && [ "$(dispatched)" -gt 0 ] &&
	"$TALLYCTL" buffer stats --path "$work/buffer" | grep -q '"lag":0'; do
	i=$((i + 1))
	[ $i -le 600 ] || fail "the queue or the buffer did not drain"
	sleep 0.1
done
stop_tallyd
allowed=$((CRASHES * (2 * 100 * 50 + 1000)))
"$PY" "$top_srcdir/tests/integration/check_output.py" --max-duplicates "$allowed" \
	"$work/out.log" "$work/samples.jsonl" || fail "samples lost, changed or duplicated beyond the bound"
