#!/bin/sh
# Issue 21, heartbeats: AMQP workers that stay busy for several heartbeat
# intervals keep their connections, against a private RabbitMQ node.
# heartbeat: 1 (the broker closes a client silent for 2 to 3 s), two workers,
# a 1 MiB buffer whose only dispatcher cannot deliver (its file is a FIFO
# nobody reads yet: its writes block, as a destination that accepts and never
# answers): 3,000 samples fill the buffer and the workers hold the rest
# unacknowledged (back-pressure). Then every sync of the buffer is made slow
# (tests/tools/slow_sync.so, preloaded into tallyd, makes fsync wait 0.25 s,
# as a stalling disk would; LMDB syncs each commit under its writer lock)
# and 20 refused messages arrive at once: each worker dead-letters its share
# one slow commit after another, about 5 s in all, without going back to the
# socket (where librabbitmq would send a heartbeat itself) and without
# acknowledging anything (the buffer is full), so only the workers' own
# heartbeats (keep_alive() in collector/amqp.c) keep the connections open.
# Checked: the same consumers (channels and consumer tags) before and after,
# no lost connection or failed ack in tallyd's log, no missed heartbeats in
# the broker's, each refused message dead-lettered once, and, once the FIFO
# is read, every sample delivered exactly once.
# Back-pressure alone would not show a silent worker: a full buffer is
# retried every 50 ms between waits on the socket, and librabbitmq sends
# heartbeats while it waits.
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
SECRET='heartbeat secret'
HB=1
JUNK=20
SYNC_MS=250
write_conf "$SECRET" "$(free_port)"
sed -i -e 's|max_size: 512MiB|max_size: 1MiB|' \
	-e "s|batch_timeout: 0.05}|batch_timeout: 0.05, heartbeat: $HB}|" \
	-e "s|file_path: \"$work/out.log\"|file_path: \"$work/out.fifo\"|" "$work/tally.yaml"
# The test holds the FIFO open (read and write, so that opening it does not
# block anyone) and reads nothing until the end. tallyd inherits that
# descriptor too; cat, which must see the end of the stream when tallyd
# stops, does not.
mkfifo "$work/out.fifo" || fail "mkfifo failed"
exec 3<>"$work/out.fifo"

# tallyd with the shim, which stalls while $work/slow-sync exists. ASan
# (scripts/test) wants to come first among the libraries: not here.
SHIM=$top_builddir/tests/tools/slow_sync.so
[ -f "$SHIM" ] || fail "$SHIM is not built"
{
	echo '#!/bin/sh'
	echo "LD_PRELOAD='$SHIM' TALLY_SLOW_SYNC='$work/slow-sync' \\"
	echo "	ASAN_OPTIONS=\"\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0\" \\"
	echo "	exec '$TALLYD' \"\$@\""
} >"$work/tallyd"
chmod +x "$work/tallyd"
TALLYD=$work/tallyd
start_tallyd 1
i=0
until [ "$(grep -c 'consuming from' "$work/tallyd-1.log")" -ge 2 ]; do
	i=$((i + 1))
	[ $i -le 200 ] || fail "the second worker did not connect within 10 s"
	sleep 0.05
done

# consumers: tallyd's consumers as the broker sees them (queue, channel
# process, server-made consumer tag); a new connection changes all of them.
consumers() {
	$RABBIT ctl "$work/rmq" list_consumers -q queue_name channel_pid consumer_tag |
		grep amq.ctag | sort
}
dead_letters() {
	"$TALLYCTL" deadletter list --path "$work/buffer" 2>/dev/null | grep -c .
}
broker_fail() {
	$RABBIT logs "$work/rmq" | grep -i -A1 "closing AMQP connection"
	fail "$@"
}

"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count 3000 --per-message 10 --seed 21 --out "$work/samples.jsonl" 2>"$work/publish.err" ||
	{ cat "$work/publish.err"; fail "publish.py failed"; }
wait_log "$work/tallyd-1.log" ": full, " 10 "$tpid" tallyd
# Listed while the busy phase starts (rabbitmqctl takes a second): the
# broker answers long before it could miss two heartbeats.
consumers >"$work/before" &
lpid=$!

echo $SYNC_MS >"$work/slow-sync"
t0=$(date +%s%N)
"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count 0 --garbage $JUNK --garbage-kinds envelope 2>>"$work/publish.err" ||
	{ cat "$work/publish.err"; fail "publish.py failed (refused messages)"; }
i=0
while [ "$(dead_letters)" -lt $JUNK ]; do
	i=$((i + 1))
	[ $i -le 300 ] || fail "only $(dead_letters) of $JUNK refused messages dead-lettered after 30 s"
	kill -0 "$tpid" 2>/dev/null || fail "tallyd exited"
	sleep 0.1
done
busy_ms=$((($(date +%s%N) - t0) / 1000000))
rm "$work/slow-sync"
echo "busy: $JUNK refused messages dead-lettered in $busy_ms ms of $SYNC_MS ms commits (heartbeat $HB s)"
# Shorter than 3 intervals proves nothing: the broker might not have noticed.
[ $busy_ms -ge $((3000 * HB)) ] || fail "the workers were busy only $busy_ms ms"

wait "$lpid"
before=$(cat "$work/before")
[ "$(echo "$before" | grep -c .)" -ge 2 ] || fail "tallyd's consumers not listed: $before"
after=$(consumers)
if grep -E "connection lost|basic.ack failed|closed the consumer|connected again" \
	"$work/tallyd-1.log"; then
	broker_fail "a connection was lost while the workers were busy"
fi
[ "$before" = "$after" ] ||
	broker_fail "the consumers changed (a connection was closed): before:
$before
after:
$after"
if $RABBIT logs "$work/rmq" | grep -i "missed heartbeats"; then
	fail "the broker missed heartbeats"
fi
echo "connections kept: $(echo "$after" | grep -c .) consumers unchanged"

# The destination comes back: every sample arrives once, each refused
# message stays one dead letter.
cat "$work/out.fifo" >"$work/out.log" 3>&- &
cpid=$!
exec 3>&-
wait_lines 3000 20
stop_tallyd
wait "$cpid"
"$PY" "$top_srcdir/tests/integration/check_output.py" "$work/out.log" "$work/samples.jsonl" ||
	fail "samples lost or duplicated"
n=$(dead_letters)
[ "$n" -eq $JUNK ] || fail "$n dead letters for $JUNK refused messages"
echo "ok: connections kept through $busy_ms ms of busy workers, every sample once, $n dead letters"
