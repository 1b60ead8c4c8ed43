#!/bin/sh
# Issue 21, redeliveries: a refused message that the broker delivers again
# after it was dead-lettered is acknowledged without a second dead letter,
# against a private RabbitMQ node.
# tallyd (one worker) reaches the broker through tests/integration/
# amqp_proxy.py, which loses the first acknowledgement: tallyd dead-letters a
# sample signed with the wrong secret, commits and acknowledges it; the proxy
# drops that basic.ack and closes the connection, so the broker requeues the
# message and delivers it again, flagged redelivered, on tallyd's next
# connection. tallyd must find it in its digest cache of refused messages
# (tl_ingest_seen_before(), collector/ingest.c) and acknowledge it unread:
# the proxy sees the redelivery and its ack go through, the queue ends
# empty, the dead-letter store holds ONE dead letter; then a good sample
# arrives as usual.
# The cache is only asked about deliveries flagged redelivered (a message
# published twice is two messages: two dead letters), so the redelivery must
# be a real one. The proxy's view of the wire shows it, and tallyd's count of
# them is in the control API's metrics (tally_input_redelivered_refused_total).
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
SECRET='redelivery secret'
write_conf "$SECRET" "$(free_port)"
start_amqp_proxy
sed -i "s|urls: \[\"$TALLY_AMQP_URL\"\], workers: 2|urls: [\"amqp://guest:guest@127.0.0.1:$pport/\"], workers: 1|" \
	"$work/tally.yaml"
grep -q "127.0.0.1:$pport/\"\], workers: 1" "$work/tally.yaml" || fail "the configuration was not edited"
start_tallyd 1

proxy_fail() {
	echo "---- proxy events"
	cat "$work/proxy.events" "$work/proxy.err"
	fail "$@"
}
"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count 0 --garbage 1 --garbage-kinds signature 2>"$work/publish.err" ||
	{ cat "$work/publish.err"; fail "publish.py failed (bad signature)"; }
wait_log "$work/proxy.events" "^dropped 1 tag=1$" 10 "$proxy" amqp_proxy.py
# Dead-lettered before the acknowledgement was sent, and after.
"$TALLYCTL" deadletter list --path "$work/buffer" >"$work/dead1.jsonl" ||
	fail "tallyctl deadletter list failed"
wait_log "$work/tallyd-1.log" "connected again" 10 "$tpid" tallyd
wait_log "$work/proxy.events" "^deliver 2 tag=1 redelivered=1$" 10 "$proxy" amqp_proxy.py
wait_log "$work/proxy.events" "^ack 2 tag=1 " 10 "$proxy" amqp_proxy.py
echo "redelivered and acknowledged: $(tr '\n' ';' <"$work/proxy.events")"

# The broker took the acknowledgement: nothing is left in the queue.
i=0
until $RABBIT ctl "$work/rmq" list_queues -q name messages |
	awk '$1 == "metering.sample" {found = 1; n = $2} END {exit !(found && n == 0)}'; do
	i=$((i + 1))
	[ $i -le 5 ] || proxy_fail "metering.sample still holds the message: $($RABBIT ctl "$work/rmq" list_queues -q name messages messages_unacknowledged)"
	sleep 0.2
done
"$TALLYCTL" deadletter list --path "$work/buffer" >"$work/dead.jsonl" ||
	fail "tallyctl deadletter list failed"
n=$(grep -c . "$work/dead.jsonl")
[ "$n" -eq 1 ] && [ "$(grep -c . "$work/dead1.jsonl")" -eq 1 ] ||
	fail "$n dead letters for one refused message delivered twice:
$(cat "$work/dead.jsonl")"
grep -q '"reason":"bad_signature' "$work/dead.jsonl" ||
	fail "the dead letter is not a bad signature: $(cat "$work/dead.jsonl")"
if grep -E "basic.ack failed" "$work/tallyd-1.log"; then
	fail "an ack failed on the new connection"
fi
# tallyd counts the redelivery it acknowledged unread (the control API's metrics).
cport=$(sed -n 's/.*control.*listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$work/tallyd-1.log" | head -n 1)
curl -s "http://127.0.0.1:$cport/metrics" >"$work/metrics" || fail "no metrics from the control API"
grep -q '^tally_input_redelivered_refused_total{input="amqp"} 1$' "$work/metrics" ||
	fail "redeliveries counted: $(grep redelivered "$work/metrics")"

# The input goes on as usual.
"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count 1 --seed 7 --out "$work/samples.jsonl" 2>>"$work/publish.err" ||
	{ cat "$work/publish.err"; fail "publish.py failed (good sample)"; }
wait_lines 1 10
stop_tallyd
"$PY" "$top_srcdir/tests/integration/check_output.py" "$work/out.log" "$work/samples.jsonl" ||
	fail "the good sample was lost or duplicated"
echo "ok: one dead letter for a refused message delivered twice, the redelivery acknowledged"
