#!/bin/sh
# A private RabbitMQ node (scripts/rabbitmq) receives what ceilometer's
# notifier publisher sends (tests/tools/publish.py, Debian's oslo.messaging and
# ceilometer): 1000 samples in 20 notifications end up as 20 messages in queue
# metering.sample, bound to the topic exchange "ceilometer", with the flags
# oslo declares by default (not durable, not auto-delete, no arguments) — the
# flags tallyd must declare identically. Skips (77) only when rabbitmq-server
# or the Python modules are missing.
set -u

: "${top_srcdir:?run from make check}" "${top_builddir:?run from make check}"
PYTHON3_DEBIAN=${PYTHON3_DEBIAN:-/usr/bin/python3}
RABBITMQ="$top_srcdir/scripts/rabbitmq"
PUBLISH="$top_srcdir/tests/tools/publish.py"

if ! "$PYTHON3_DEBIAN" -c 'import oslo_messaging, kombu, amqp, ceilometer.publisher.utils' 2>/dev/null; then
	echo "SKIP: python3-oslo.messaging or python3-ceilometer is not installed for $PYTHON3_DEBIAN"
	exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tally-rmq.XXXXXX") || exit 99
started=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	[ -n "$started" ] && sh "$RABBITMQ" stop "$work/rmq"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
	echo "FAIL: $*"
	[ -n "$started" ] && sh "$RABBITMQ" logs "$work/rmq"
	exit 1
}

t0=$(date +%s)
vars=$(sh "$RABBITMQ" start "$work/rmq")
rc=$?
if [ "$rc" -eq 77 ]; then
	echo "SKIP: rabbitmq-server is not installed"
	exit 77
fi
started=1
[ "$rc" -eq 0 ] || fail "scripts/rabbitmq start failed ($rc)"
eval "$vars"
echo "node $TALLY_RABBIT_NODE on $TALLY_AMQP_URL, started in $(($(date +%s) - t0)) s"

ctl() {
	sh "$RABBITMQ" ctl "$work/rmq" "$@"
}

"$PYTHON3_DEBIAN" "$PUBLISH" --url "$TALLY_AMQP_URL" --secret 'smoke secret' \
	--count 1000 --per-message 50 --out "$work/samples.jsonl" ||
	fail "publish.py failed"
[ "$(wc -l <"$work/samples.jsonl")" -eq 1000 ] || fail "publish.py --out has not 1000 lines"

# 1. The queue oslo declared: 20 messages, not durable, not auto-delete, no
#    arguments. rabbitmqctl prints booleans as true/false, [] for no arguments.
ctl list_queues -q name messages durable auto_delete arguments >"$work/queues" ||
	fail "rabbitmqctl list_queues failed"
cat "$work/queues"
line=$(grep '^metering\.sample[[:space:]]' "$work/queues") || fail "no queue metering.sample"
# shellcheck disable=SC2086
set -- $line
[ "$2" = 20 ] || fail "metering.sample holds $2 messages, expected 20"
[ "$3" = false ] || fail "metering.sample durable=$3, expected false (oslo amqp_durable_queues)"
[ "$4" = false ] || fail "metering.sample auto_delete=$4, expected false (oslo amqp_auto_delete)"
[ "$5" = "[]" ] || fail "metering.sample arguments=$5, expected none"

# 2. The exchange: "ceilometer", topic, same flags as the queue.
ctl list_exchanges -q name type durable auto_delete internal arguments >"$work/exchanges" ||
	fail "rabbitmqctl list_exchanges failed"
line=$(grep '^ceilometer[[:space:]]' "$work/exchanges") || fail "no exchange ceilometer"
echo "$line"
# shellcheck disable=SC2086
set -- $line
[ "$2 $3 $4 $5 $6" = "topic false false false []" ] ||
	fail "exchange ceilometer is '$2 durable=$3 auto_delete=$4 internal=$5 $6'"

# 3. The binding: exchange ceilometer -> queue metering.sample, key metering.sample.
ctl list_bindings -q source_name destination_name routing_key >"$work/bindings" ||
	fail "rabbitmqctl list_bindings failed"
grep -q '^ceilometer[[:space:]]metering\.sample[[:space:]]metering\.sample$' "$work/bindings" ||
	fail "no binding ceilometer -> metering.sample"

# 4. One message as tallyd will get it: JSON 2.0 envelope, 50 signed samples.
"$PYTHON3_DEBIAN" - "$TALLY_RABBIT_PORT" "$work/samples.jsonl" <<'EOF' || fail "the message is not what oslo sends"
import json, sys
import amqp
port, samples = int(sys.argv[1]), sys.argv[2]
conn = amqp.Connection(host='127.0.0.1:%d' % port, userid='guest', password='guest')
conn.connect()
ch = conn.channel()
msg = ch.basic_get('metering.sample', no_ack=False)
props = msg.properties
print('properties: %s' % json.dumps(props, sort_keys=True))
assert msg.delivery_info['exchange'] == 'ceilometer', msg.delivery_info
assert msg.delivery_info['routing_key'] == 'metering.sample', msg.delivery_info
assert props['content_type'] == 'application/json', props
assert props['content_encoding'] == 'utf-8', props
body = json.loads(msg.body)
assert sorted(body) == ['oslo.message', 'oslo.version'] and body['oslo.version'] == '2.0', body
inner = json.loads(body['oslo.message'])
print('notification keys: %s' % ' '.join(sorted(inner)))
assert inner['event_type'] == 'metering' and inner['priority'] == 'SAMPLE', inner
assert inner['publisher_id'].startswith('telemetry.publisher.'), inner
first = [json.loads(l) for l in open(samples, encoding='utf-8')][:50]
assert inner['payload'] == first, 'payload differs from publish.py --out'
ch.basic_reject(msg.delivery_tag, requeue=True)
conn.close()
EOF

t0=$(date +%s)
started=
sh "$RABBITMQ" stop "$work/rmq" || fail "scripts/rabbitmq stop failed"
echo "node stopped in $(($(date +%s) - t0)) s"
exit 0
