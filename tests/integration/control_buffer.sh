#!/bin/sh
# PUT /v1/buffer and when_full: drop_oldest (docs/control.md), through a real
# RabbitMQ fed by oslo.messaging: bad bodies are 400 naming the key (409 for a
# max_size the LMDB map cannot take without a restart) and change nothing; a
# 1 MiB buffer with two file dispatchers, "two" disabled so that its cursor
# holds and the buffer fills, switched to drop_oldest at runtime: the inputs
# keep consuming (the broker's queue drains), "out" gets every sample exactly
# once, "two" gets the rest once and its dropped_full is what it lost, in GET
# /v1/dispatchers and in tally_dispatcher_dropped_full_total; tallyctl buffer
# set.
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
SECRET='buffer secret'
udp=$(free_port)
write_conf "$SECRET" "$udp"
sed -i -e "s|dispatchers: \[{name: out, type: file, file_path: \"$work/out.log\"}\]|dispatchers: [{name: out, type: file, file_path: \"$work/out.log\"}, {name: two, type: file, file_path: \"$work/two.log\"}]|" \
	-e "s|max_size: 512MiB|max_size: 1MiB|" \
	-e "s|^control: {port: 0}|control: {port: 0, socket: \"$work/control.sock\"}|" \
	"$work/tally.yaml"
grep -q 'name: two' "$work/tally.yaml" && grep -q 'max_size: 1MiB' "$work/tally.yaml" ||
	fail "test setup: the configuration was not edited"
start_tallyd 1

# sock METHOD PATH [BODY]: over the Unix socket; prints the body, the status in $work/status.
sock() {
	curl -s -o "$work/body" -w '%{http_code}' --unix-socket "$work/control.sock" \
		-X "$1" ${3:+-H 'Content-Type: application/json' --data-binary "$3"} \
		"http://tally$2" >"$work/status"
	cat "$work/body"
}
status() { cat "$work/status"; }
want() { [ "$(status)" = "$1" ] || fail "$2: status $(status), want $1: $(cat "$work/body")"; }
field() { "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($1)" "$work/body"; }
SETTINGS="(j['max_size'], j['sync'], j['when_full'], j['batch_size'], j['batch_timeout'], j['udp_batch_size'])"

sock GET /v1/buffer >/dev/null; want 200 "GET /v1/buffer"
before=$(field "$SETTINGS")
[ "$before" = "(1048576, 'commit', 'block', 100, 0.05, 500)" ] || fail "settings at start: $before"
[ "$(field "j['max_size_limit']")" -ge 1048576 ] || fail "no max_size_limit: $(cat "$work/body")"

# Bad bodies: 400 naming the key (409 beyond the map), nothing changed.
bad() { # BODY STATUS WORD
	sock PUT /v1/buffer "$1" >/dev/null; want "$2" "PUT $1"
	field "j['error']['message']" | grep -q -- "$3" ||
		fail "PUT $1: the answer does not say '$3': $(cat "$work/body")"
}
bad '{"max_size": "12XB"}' 400 "max_size: expected a size"
bad '{"max_size": "512KiB"}' 400 "max_size: .*below the minimum"
bad '{"sync": "sometimes"}' 400 "sync: expected one of commit, none"
bad '{"when_full": "drop_newest"}' 400 "when_full: expected one of block, drop_oldest"
bad '{"batch_size": 0}' 400 "batch_size: 0 is below the minimum 1"
bad '{"batch_timeout": 100}' 400 "batch_timeout: 100 is above the maximum"
bad '{"batch_size": 1000}' 400 "batch_size (1000) must not exceed collector.amqp.prefetch"
bad '{"colour": "red"}' 400 "colour: not a setting of the buffer"
bad '{"when_full": "drop_oldest", "sync": true}' 400 "sync: expected a number or a short string"
bad '{"when_full": "drop_oldest", "max_size": "1TiB"}' 409 "the map cannot grow while tallyd runs"
bad 'max_size=2MiB' 400 "not valid JSON"
bad '{}' 400 "at least one of"
sock DELETE /v1/buffer >/dev/null; want 405 "DELETE /v1/buffer"
sock GET /v1/buffer >/dev/null
[ "$(field "$SETTINGS")" = "$before" ] || fail "bad bodies changed the settings: $(field "$SETTINGS")"

# "two" disabled: its cursor holds. Under block the buffer would fill and the
# inputs stop; switched to drop_oldest, the oldest records go instead.
sock POST /v1/dispatchers/two/disable >/dev/null; want 200 "disable two"
sock PUT /v1/buffer '{"when_full": "drop_oldest", "batch_size": "50", "batch_timeout": 0.02}' >/dev/null
want 200 "PUT when_full drop_oldest"
[ "$(field "(j['when_full'], j['batch_size'], j['batch_timeout'], j['udp_batch_size'], j['runtime_only'])")" = \
	"('drop_oldest', 50, 0.02, 50, True)" ] || fail "the PUT answer: $(cat "$work/body")"
grep -q "buffer when_full block -> drop_oldest by socket" "$work/tallyd-1.log" ||
	fail "the change is not logged with who made it"

N=6000
"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count $N --per-message 10 --seed 31 --out "$work/samples.jsonl" 2>"$work/publish.err" ||
	{ cat "$work/publish.err"; fail "publish.py failed"; }
wait_lines $N 60
sock POST "/v1/flush?dispatcher=out&wait=20" >/dev/null; want 200 "flush out"
q=$($RABBIT ctl "$work/rmq" list_queues -q name messages 2>/dev/null | awk '$1 == "metering.sample" {print $2}')
[ "${q:-x}" = 0 ] || fail "the broker still holds ${q:-?} messages: the inputs blocked"
sock GET /v1/buffer >/dev/null
dropped=$(field "j['dropped_full']")
[ "$dropped" -gt 0 ] || fail "nothing was dropped: $(cat "$work/body")"
[ "$(field "j['used_bytes'] <= j['max_size'] and j['rejected_full'] == 0")" = True ] ||
	fail "the buffer refused appends or is over its size: $(cat "$work/body")"
sock GET /v1/dispatchers >/dev/null
lost=$(field "[d['counters']['dropped_full'] for d in j['dispatchers'] if d['name'] == 'two'][0]")
[ "$(field "[d['counters']['dropped_full'] for d in j['dispatchers'] if d['name'] == 'out'][0]")" = 0 ] ||
	fail "out lost records: $(cat "$work/body")"
[ "$lost" = "$dropped" ] || fail "two lost $lost, the buffer dropped $dropped"
grep -q "full (when_full: drop_oldest): dropped [0-9]* oldest records" "$work/tallyd-1.log" ||
	fail "the drops are not logged"
curl -s --unix-socket "$work/control.sock" http://tally/metrics >"$work/metrics"
grep -q "^tally_dispatcher_dropped_full_total{dispatcher=\"two\"} $lost\$" "$work/metrics" ||
	fail "metrics: $(grep dropped_full "$work/metrics")"
grep -q '^tally_dispatcher_dropped_full_total{dispatcher="out"} 0$' "$work/metrics" ||
	fail "metrics: $(grep dropped_full "$work/metrics")"

# "two" resumes from where the drops left it: the rest, each once.
sock POST /v1/dispatchers/two/enable >/dev/null; want 200 "enable two"
sock POST "/v1/flush?wait=20" >/dev/null; want 200 "flush after enable"

# tallyctl buffer set, over the socket of the configuration.
"$TALLYCTL" -c "$work/tally.yaml" buffer set when_full=block sync=none >"$work/ctl.out" 2>&1 ||
	fail "tallyctl buffer set: $(cat "$work/ctl.out")"
grep -q "max_size 1048576 (up to 1048576 without a restart), sync none, when_full block" "$work/ctl.out" ||
	fail "tallyctl buffer set: $(cat "$work/ctl.out")"
"$TALLYCTL" -c "$work/tally.yaml" buffer set max_size=2MiB >/dev/null 2>"$work/ctl.err"
[ $? -eq 1 ] && grep -q "409: max_size 2097152 is beyond" "$work/ctl.err" || fail "tallyctl buffer set max_size=2MiB: $(cat "$work/ctl.err")"
"$TALLYCTL" -c "$work/tally.yaml" buffer set sync=sometimes >/dev/null 2>"$work/ctl.err"
[ $? -eq 1 ] && grep -q "400: sync: expected one of" "$work/ctl.err" || fail "tallyctl buffer set sync=sometimes: $(cat "$work/ctl.err")"
"$TALLYCTL" -c "$work/tally.yaml" buffer set sync >/dev/null 2>&1
[ $? -eq 2 ] || fail "tallyctl buffer set without =: not exit status 2"
"$TALLYCTL" -c "$work/tally.yaml" buffer stats >"$work/ctl.out" 2>&1 || fail "tallyctl buffer stats after the change"
sock GET /v1/buffer >/dev/null
[ "$(field "(j['sync'], j['when_full'])")" = "('none', 'block')" ] || fail "after tallyctl: $(cat "$work/body")"
stop_tallyd

"$PY" "$top_srcdir/tests/integration/check_output.py" "$work/out.log" "$work/samples.jsonl" ||
	fail "out: samples lost or duplicated"
"$PY" - "$work/two.log" "$work/samples.jsonl" "$lost" <<'PY' || fail "two: not the rest of the samples, each once"
import json, sys
got = [json.loads(l)['message_id'] for l in open(sys.argv[1]) if l.strip()]
sent = [json.loads(l)['message_id'] for l in open(sys.argv[2]) if l.strip()]
lost = int(sys.argv[3])
if len(got) != len(set(got)):
    sys.exit('two: duplicates')
if not set(got) <= set(sent):
    sys.exit('two: samples that were not sent')
if len(got) + lost != len(sent):
    sys.exit('two: %d delivered + %d dropped != %d sent' % (len(got), lost, len(sent)))
print('two: %d delivered, %d dropped, of %d' % (len(got), lost, len(sent)))
PY
echo "PASS"
