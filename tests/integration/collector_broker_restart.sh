#!/bin/sh
# A broker that is down is retried, never fatal: tallyd starts while RabbitMQ
# is stopped, connects once it is up, and reconnects after the broker
# restarts under it. Samples published after each (re)connection arrive once.
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
SECRET='restart secret'
write_conf "$SECRET" "$(free_port)"
$RABBIT stop "$work/rmq" >/dev/null || fail "cannot stop RabbitMQ"

"$TALLYD" -c "$work/tally.yaml" 2>>"$work/tallyd-1.log" &
tpid=$!
wait_log() { # PATTERN SECONDS
	i=0
	until grep -q "$1" "$work/tallyd-1.log"; do
		i=$((i + 1))
		[ $i -le $(($2 * 20)) ] || fail "no '$1' in the log after $2 s"
		kill -0 "$tpid" 2>/dev/null || fail "tallyd exited"
		sleep 0.05
	done
}
wait_log "cannot connect" 20
# The same node comes up (same name, port and data).
$RABBIT start "$work/rmq" >/dev/null || fail "cannot restart RabbitMQ"
wait_log "consuming from" 60
"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count 100 --per-message 10 --seed 1 --out "$work/s1.jsonl" 2>>"$work/publish.err" ||
	fail "publish.py failed"
wait_lines 100 60

# The broker restarts under a running tallyd.
$RABBIT stop "$work/rmq" >/dev/null || fail "cannot stop RabbitMQ"
wait_log "connection lost\|closed the" 30
$RABBIT start "$work/rmq" >/dev/null || fail "cannot restart RabbitMQ"
# Both workers consume again (4 "consuming from" lines in all) before
# publishing: the queues are not durable, they come back with the consumers.
i=0
until [ "$(grep -c "consuming from" "$work/tallyd-1.log")" -ge 4 ]; do
	i=$((i + 1))
	[ $i -le 1200 ] || fail "the workers did not reconnect"
	sleep 0.05
done
"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count 100 --per-message 10 --seed 2 --out "$work/s2.jsonl" 2>>"$work/publish.err" ||
	fail "publish.py failed"
wait_lines 200 60
stop_tallyd
cat "$work/s1.jsonl" "$work/s2.jsonl" >"$work/all.jsonl"
"$PY" "$top_srcdir/tests/integration/check_output.py" "$work/out.log" "$work/all.jsonl" ||
	fail "samples lost or duplicated across broker restarts"
