#!/bin/sh
# Back-pressure and RETRY: the only dispatcher cannot write (its directory
# does not exist yet: RETRY with backoff), the buffer is small (1 MiB), so it
# fills up; tallyd must then stop acknowledging, leaving the rest of the
# stream in RabbitMQ instead of dropping it. Once the directory appears the
# dispatcher catches up and every sample arrives exactly once.
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
SECRET='backpressure secret'
write_conf "$SECRET" "$(free_port)"
sed -i -e 's|max_size: 512MiB|max_size: 1MiB|' \
	-e "s|file_path: \"$work/out.log\"|file_path: \"$work/later/out.log\"|" "$work/tally.yaml"
start_tallyd 1

"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count 4000 --per-message 10 --seed 5 --out "$work/samples.jsonl" 2>"$work/publish.err" ||
	{ cat "$work/publish.err"; fail "publish.py failed"; }

# The buffer fills and the broker keeps what tallyd could not take.
i=0
while :; do
	q=$($RABBIT ctl "$work/rmq" list_queues -q name messages 2>/dev/null |
		awk '$1 == "metering.sample" {print $2}')
	grep -q "full" "$work/tallyd-1.log" && [ "${q:-0}" -gt 0 ] && break
	i=$((i + 1))
	[ $i -le 300 ] || fail "no back-pressure: queue ${q:-?} messages, log: $(tail -n 3 "$work/tallyd-1.log")"
	sleep 0.1
done
echo "back-pressure: $q messages held by the broker while the buffer is full"
grep -q "destination failing, retrying" "$work/tallyd-1.log" || fail "the dispatcher did not report RETRY"

# The destination comes back: everything arrives, once.
mkdir "$work/later"
i=0
while [ "$(wc -l 2>/dev/null <"$work/later/out.log" || echo 0)" -lt 4000 ]; do
	i=$((i + 1))
	[ $i -le 1800 ] || fail "only $(wc -l <"$work/later/out.log") of 4000 samples after the destination came back"
	sleep 0.1
done
stop_tallyd
"$PY" "$top_srcdir/tests/integration/check_output.py" "$work/later/out.log" "$work/samples.jsonl" ||
	fail "samples lost or duplicated under back-pressure"
