#!/bin/sh
# Issue 18: OpenStack services' notifications consumed directly
# (collector.notifications) from a real RabbitMQ, published by
# python3-oslo.messaging's Notifier on the nova and cinder exchanges
# (tests/tools/publish_notifications.py: the payloads of ceilometer's unit
# tests), turned into samples and events by ceilometer's packaged meters.yaml
# and event_definitions.yaml:
#   1. compute.instance.create.end, compute.instance.exists (info and sample
#      priorities), volume.create.end, compute.instance.create.error (error:
#      events only), a volume.create.end whose size is not a number, and a
#      body that is not JSON: the samples and events are those ceilometer's
#      own code makes of the same notifications (meters_oracle.py,
#      events_oracle.py), field by field in the file dispatcher and through
#      the query API (database dispatcher on SQLite); the garbage is one dead
#      letter; the bad volume is counted, not dead-lettered; the samples'
#      signatures pass ceilometer's verify_signature() with telemetry_secret;
#   2. kill -9 of tallyd during a stream of 2,000 notifications (once 300
#      records of it are out), then a restart through amqp_proxy.py, which
#      loses the first acknowledgement so that a committed batch is
#      delivered again: every expected sample is in the store exactly once
#      (the sample ids derive from the notification's message_id).
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
[ -f /usr/lib/python3/dist-packages/ceilometer/data/meters.d/meters.yaml ] ||
	{ echo "SKIP: python3-ceilometer's definitions missing"; exit 77; }
api=$(free_port)
cat >"$work/tally.yaml" <<CONF
telemetry_secret: "notifications secret"
collector:
  amqp: {urls: ["$TALLY_AMQP_URL"], workers: 1, batch_size: 100, batch_timeout: 0.05}
  notifications: {enabled: true, workers: 2, priorities: [info, sample, error]}
  udp: {address: ""}
  buffer: {path: "$work/buffer", max_size: 256MiB}
  dispatchers: [{name: out, type: file, file_path: "$work/out.log"}, {name: db, type: database}]
storage: {connection: "sqlite://$work/tally.db"}
api: {listen: 127.0.0.1, port: $api, auth: trusted-headers}
control: {port: 0, socket: "$work/control.sock", auth: none}
log: {level: info}
CONF
CHECK="$PY $top_srcdir/tests/integration/notifications_check.py"
# until_checked SECONDS ARGS...: notifications_check.py ARGS until it passes (its
# last output printed); 1 when SECONDS pass first.
until_checked() {
	n=$(($1 * 10))
	shift
	until $CHECK "$@" >"$work/check.last" 2>&1; do
		n=$((n - 1))
		[ $n -gt 0 ] || { cat "$work/check.last"; return 1; }
		sleep 0.1
	done
	cat "$work/check.last"
}
"$TALLYD" -c "$work/tally.yaml" --check-config >"$work/check.out" 2>&1 ||
	{ cat "$work/check.out"; fail "--check-config refused the configuration"; }

# A definitions file that does not load is a configuration error with its file:line.
printf -- '---\nmetric:\n  - name: x\n    event_type: a\n    type: gauge\n    unit: u\n    volume:\n      fields: $.payload.x\n      plugin: split\n    resource_id: $.payload.id\n' \
	>"$work/bad_meters.yaml"
sed "s|priorities: \[info, sample, error\]}|priorities: [info], meter_definitions: [\"$work/bad_meters.yaml\"]}|" \
	"$work/tally.yaml" >"$work/bad.yaml"
"$TALLYD" -c "$work/bad.yaml" --check-config >"$work/bad.out" 2>&1 &&
	fail "--check-config accepted a meters file Tally cannot apply"
grep -q "bad_meters.yaml:9: volume: the plugin 'split'" "$work/bad.out" ||
	{ cat "$work/bad.out"; fail "no file:line for the meter definition Tally cannot apply"; }

start_tallyd 1
wait_log "$work/tallyd-1.log" "input:notifications/1\] consuming from" 10 "$tpid" tallyd

# 1. The unit tests' notifications, a bad volume and garbage.
"$PY" "$top_srcdir/tests/tools/publish_notifications.py" --url "$TALLY_AMQP_URL" \
	--out "$work/sent1.jsonl" --bad 2>"$work/publish.err" ||
	{ cat "$work/publish.err"; fail "publish_notifications.py failed"; }
mkdir "$work/exp1"
$CHECK expect "$work/sent1.jsonl" "$work/exp1" || fail "the oracles failed"
want=$($PY -c "import json,sys; print(len(json.load(open(sys.argv[1]))) + len(json.load(open(sys.argv[2]))))" \
	"$work/exp1/samples.json" "$work/exp1/events.json")
wait_lines "$want" 30
sleep 0.3 # anything extra would show now
$CHECK file "$work/exp1" "$work/out.log" "notifications secret" || fail "the file dispatcher's output is not the oracle's"
until_checked 5 api "$work/exp1" "$api" ||
	fail "the query API does not answer the oracle's samples and events"
"$TALLYCTL" deadletter list --path "$work/buffer" >"$work/dead.jsonl" || fail "deadletter list"
[ "$(grep -c '"source":"input:notifications"' "$work/dead.jsonl")" -eq 1 ] ||
	{ cut -c1-300 "$work/dead.jsonl"; fail "expected one dead letter of the notification input"; }
grep -q '"reason":"syntax' "$work/dead.jsonl" || fail "the garbage's dead letter has no syntax reason"
req GET /v1/inputs
want 200 "GET /v1/inputs"
[ "$(field "[i for i in j['inputs'] if i['name'] == 'notifications'][0]['skipped_by_reason']['volume']")" = 1 ] ||
	fail "the bad volume was not counted: $(cat "$work/body")"
[ "$(field "[i for i in j['inputs'] if i['name'] == 'notifications'][0]['skipped_by_reason']['event_dropped']")" = 1 ] ||
	fail "the bad volume's event was not counted as dropped: $(cat "$work/body")"
req POST /v1/inputs/notifications/pause
want 200 "pause the notification input"
req POST /v1/inputs/notifications/resume
want 200 "resume the notification input"
curl -s --unix-socket "$work/control.sock" http://tally/metrics >"$work/metrics"
grep -q 'tally_input_skipped_total{input="notifications",reason="volume"} 1' "$work/metrics" ||
	{ grep skipped "$work/metrics"; fail "/metrics lacks the skipped volume"; }

# 2. kill -9 during a stream of 2,000 notifications; restart; every sample once.
"$PY" "$top_srcdir/tests/tools/publish_notifications.py" --url "$TALLY_AMQP_URL" \
	--out "$work/sent2.jsonl" --stream 2000 --seed 7 2>>"$work/publish.err" &
ppid=$!
wait_lines $((want + 300)) 30
kill -0 "$ppid" 2>/dev/null || fail "the stream ended before the kill: nothing was tested"
kill -9 "$tpid"
wait "$tpid" 2>/dev/null
echo "SIGKILL during the stream with $(wc -l <"$work/out.log") lines written"
# The restarted tallyd reaches the broker through amqp_proxy.py, which loses
# its first acknowledgement (after that batch was committed) and closes that
# connection: the broker delivers the batch again, and only ids derived from
# the notifications' message_ids keep its samples from being stored twice.
start_amqp_proxy
sed -i "s|urls: \[\"$TALLY_AMQP_URL\"\]|urls: [\"amqp://guest:guest@127.0.0.1:$pport/\"]|" "$work/tally.yaml"
grep -q "127.0.0.1:$pport/" "$work/tally.yaml" || fail "the configuration was not edited"
start_tallyd 2
wait_log "$work/proxy.events" "^dropped " 20 "$proxy" amqp_proxy.py
wait_log "$work/proxy.events" " redelivered=1$" 20 "$proxy" amqp_proxy.py
echo "an acknowledgement lost, its batch redelivered: $(grep -c ' redelivered=1$' "$work/proxy.events") deliveries"
wait "$ppid" || { cat "$work/publish.err"; fail "publish_notifications.py --stream failed"; }
cat "$work/sent1.jsonl" "$work/sent2.jsonl" >"$work/sent.jsonl"
mkdir "$work/exp"
$CHECK expect "$work/sent.jsonl" "$work/exp" || fail "the oracles failed"
until_checked 30 db "$work/exp" "$work/tally.db" ||
	fail "the store does not hold every expected sample once"
stop_tallyd
echo "ok: oracle's samples and events in the file and the API, 1 dead letter, 1 skipped volume, kill -9 during 2,000 notifications and a committed batch redelivered: 0 lost, 0 duplicated"
