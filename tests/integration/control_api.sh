#!/bin/sh
# The control API (docs/control.md) of a tallyd with two file dispatchers,
# fed by oslo.messaging through a real RabbitMQ: auth token on TCP and the
# trusted Unix socket; disable/enable (the buffer holds a disabled
# dispatcher's records, it catches up after), flush with wait (200 when
# delivered, 503 naming what is pending), input pause/resume (AMQP: the
# broker keeps the messages; UDP: dropped and counted), restart (a new file
# handle, nothing lost or duplicated), /metrics counters equal to what was
# published, /healthz, /readyz, and 4xx answers to bad requests.
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
SECRET='control secret'
TOKEN='a-control-token-of-some-length'
udp=$(free_port)
write_conf "$SECRET" "$udp"
printf '%s\n' "$TOKEN" >"$work/token"
sed -i -e "s|dispatchers: \[{name: out, type: file, file_path: \"$work/out.log\"}\]|dispatchers: [{name: out, type: file, file_path: \"$work/out.log\"}, {name: two, type: file, file_path: \"$work/two.log\"}]|" \
	-e "s|^control: {port: 0}|control: {port: 0, socket: \"$work/control.sock\", auth: token, token_file: \"$work/token\"}|" \
	"$work/tally.yaml"
grep -q 'name: two' "$work/tally.yaml" || fail "test setup: the second dispatcher is not configured"

# The configuration check: auth none is for loopback addresses only.
printf 'control: {listen: 0.0.0.0, auth: none}\n' >"$work/bad.yaml"
"$TALLYD" --check-config -c "$work/bad.yaml" >/dev/null 2>"$work/bad.err" &&
	fail "--check-config took control.auth none on 0.0.0.0"
grep -q "bad.yaml:1: control.auth none is only allowed on a loopback address" "$work/bad.err" ||
	{ cat "$work/bad.err"; fail "--check-config: no file:line error for auth none"; }

start_tallyd 1
wait_log "$work/tallyd-1.log" "control.*listening on 127.0.0.1 port" 10 "$tpid" tallyd
cport=$(sed -n 's/.*control.*listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$work/tallyd-1.log" | head -n 1)
[ -S "$work/control.sock" ] || fail "no control socket"
[ "$(stat -c %a "$work/control.sock")" = 600 ] || fail "the control socket is not mode 0600"

# sock METHOD PATH: over the Unix socket; tcp METHOD PATH [TOKEN]: over TCP.
# Each prints the body and leaves the status in $work/status.
sock() {
	curl -s -o "$work/body" -w '%{http_code}' --unix-socket "$work/control.sock" \
		-X "$1" "http://tally$2" >"$work/status"
	cat "$work/body"
}
tcp() {
	curl -s -o "$work/body" -w '%{http_code}' ${3:+-H "Authorization: Bearer $3"} \
		-X "$1" "http://127.0.0.1:$cport$2" >"$work/status"
	cat "$work/body"
}
status() { cat "$work/status"; }
want() { [ "$(status)" = "$1" ] || fail "$2: status $(status), want $1: $(cat "$work/body")"; }
# field JSON_PATH: a value of the last answer (python expression on j).
field() { "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($1)" "$work/body"; }

tcp GET /healthz >/dev/null; want 200 "/healthz without credentials"
tcp GET /v1 >/dev/null; want 401 "/v1 without a token"
[ "$(field "j['error']['request_id'][:4]")" = "req-" ] || fail "an error without a request id"
tcp GET /v1 wrong-token-of-some-length >/dev/null; want 401 "/v1 with a wrong token"
tcp GET /v1 "$TOKEN" >/dev/null; want 200 "/v1 with the token"
[ "$(field "j['roles']")" = "collector" ] || fail "/v1 roles: $(cat "$work/body")"
[ "$(field "'file' in j['features']['dispatcher_types'] and 'sqlite' in [d['name'] for d in j['features']['storage_drivers']]")" = True ] ||
	fail "/v1 features: $(cat "$work/body")"
sock GET /v1/capabilities >/dev/null; want 200 "/v1/capabilities"
[ "$(field "len(j['signature_variants']) == 3 and 'postgresql' in [d['name'] for d in j['storage_drivers']] and 'POST /v1/reload' in j['operations']")" = True ] ||
	fail "/v1/capabilities: $(cat "$work/body")"
sock GET /v1/dispatchers >/dev/null; want 200 "/v1/dispatchers over the socket"
[ "$(field "[d['name']+':'+d['state'] for d in j['dispatchers']]")" = "['out:running', 'two:running']" ] ||
	fail "dispatchers: $(cat "$work/body")"

# Disabled: "two" holds its place while "out" receives.
sock POST /v1/dispatchers/two/disable >/dev/null; want 200 "disable"
[ "$(field "j['state']")" = disabled ] || fail "not disabled: $(cat "$work/body")"
grep -q "dispatcher two disabled by socket" "$work/tallyd-1.log" || fail "the change is not logged with who made it"
"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count 300 --per-message 10 --seed 21 --out "$work/samples.jsonl" 2>"$work/publish.err" ||
	{ cat "$work/publish.err"; fail "publish.py failed"; }
sock POST "/v1/flush?dispatcher=out&wait=20" >/dev/null; want 200 "flush wait for out"
[ "$(wc -l <"$work/out.log")" -eq 300 ] || fail "out has $(wc -l <"$work/out.log") of 300 after flush"
[ "$(wc -l 2>/dev/null <"$work/two.log" || echo 0)" -eq 0 ] || fail "a disabled dispatcher delivered"
sock GET /v1/dispatchers/two >/dev/null
[ "$(field "j['lag']['records']")" -ge 300 ] || fail "lag of the disabled dispatcher: $(cat "$work/body")"
sock POST "/v1/flush?wait=1" >/dev/null; want 503 "flush wait with a disabled dispatcher"
field "j['error']['message']" | grep -q "two" || fail "the pending dispatcher is not named: $(cat "$work/body")"
sock POST /v1/dispatchers/two/enable >/dev/null; want 200 "enable"
sock POST "/v1/flush?wait=20" >/dev/null; want 200 "flush wait after enable"
[ "$(wc -l <"$work/two.log")" -eq 300 ] || fail "two has $(wc -l <"$work/two.log") of 300 after enable"

# A paused AMQP input leaves the messages with the broker.
sock POST /v1/inputs/amqp/pause >/dev/null; want 200 "pause amqp"
"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count 200 --per-message 10 --seed 22 --out "$work/samples2.jsonl" 2>"$work/publish.err" ||
	{ cat "$work/publish.err"; fail "publish.py failed"; }
sleep 1
[ "$(wc -l <"$work/out.log")" -eq 300 ] || fail "a paused input delivered"
q=$($RABBIT ctl "$work/rmq" list_queues -q name messages 2>/dev/null | awk '$1 == "metering.sample" {print $2}')
[ "${q:-0}" -eq 20 ] || fail "the broker holds ${q:-?} messages while paused, want 20"
sock GET /v1/inputs >/dev/null
[ "$(field "[i['paused'] for i in j['inputs'] if i['name'] == 'amqp'][0]")" = True ] || fail "inputs: $(cat "$work/body")"
sock POST /v1/inputs/amqp/resume >/dev/null; want 200 "resume amqp"
wait_lines 500 20
cat "$work/samples2.jsonl" >>"$work/samples.jsonl"

# Restart: a new file handle; the old file moved away keeps what it had.
mv "$work/out.log" "$work/out.log.1"
sock POST /v1/dispatchers/out/restart >/dev/null; want 200 "restart"
"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count 100 --per-message 10 --seed 23 --out "$work/samples3.jsonl" 2>"$work/publish.err" ||
	{ cat "$work/publish.err"; fail "publish.py failed"; }
sock POST "/v1/flush?wait=20" >/dev/null; want 200 "flush after restart"
[ "$(wc -l <"$work/out.log")" -eq 100 ] || fail "after restart out.log has $(wc -l <"$work/out.log") of 100"
cat "$work/samples3.jsonl" >>"$work/samples.jsonl"
cat "$work/out.log.1" "$work/out.log" >"$work/out.all"

# A paused UDP input drops and counts.
sock POST /v1/inputs/udp/pause >/dev/null; want 200 "pause udp"
"$PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5):
    s.sendto(b"\x80", ("127.0.0.1", int(sys.argv[1])))
' "$udp"
i=0
until sock GET /v1/inputs >/dev/null && [ "$(field "[i['dropped_paused'] for i in j['inputs'] if i['name'] == 'udp'][0]")" -eq 5 ]; do
	i=$((i + 1)); [ $i -le 40 ] || fail "udp dropped_paused: $(cat "$work/body")"; sleep 0.05
done

# Metrics: the counters are what was published.
tcp GET /metrics "$TOKEN" >"$work/metrics"; want 200 "/metrics"
grep -q '^tally_dispatcher_samples_total{dispatcher="two"} 600$' "$work/metrics" ||
	fail "metrics: $(grep 'dispatcher_samples_total' "$work/metrics")"
grep -q '^tally_input_samples_total{input="amqp"} 600$' "$work/metrics" ||
	fail "metrics: $(grep 'input_samples_total' "$work/metrics")"
grep -q '^tally_input_dropped_paused_total{input="udp"} 5$' "$work/metrics" || fail "metrics: udp drops"
grep -q '^tally_dispatch_duration_seconds_count{dispatcher="out"} [1-9]' "$work/metrics" || fail "metrics: no dispatch histogram"
grep -q '^process_resident_memory_bytes [1-9]' "$work/metrics" || fail "metrics: no process RSS"
"$PY" - "$work/metrics" <<'PY' || fail "metrics: not in Prometheus text format"
import re, sys
name = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
sample = re.compile(r'^%s(\{%s="(\\.|[^"\\])*"(,%s="(\\.|[^"\\])*")*\})? [-+0-9.eE]+(Inf)?$' % (name, name, name))
for line in open(sys.argv[1]):
    line = line.rstrip('\n')
    if line.startswith('# HELP ') or line.startswith('# TYPE '):
        continue
    if not sample.match(line):
        sys.exit('bad line: %r' % line)
PY
sock GET /readyz >/dev/null; want 200 "/readyz with udp paused (a pause is the operator's)"
sock POST /v1/inputs/udp/resume >/dev/null; want 200 "resume udp"
tcp GET /readyz >/dev/null; want 200 "/readyz"

# tallyctl, over the socket named in the configuration and over TCP with the token.
"$TALLYCTL" -c "$work/tally.yaml" status >"$work/ctl.out" 2>&1 || fail "tallyctl status: $(cat "$work/ctl.out")"
grep -q "^DISPATCHER" "$work/ctl.out" && grep -q "^two  *file  *running" "$work/ctl.out" &&
	grep -q "^amqp  *running" "$work/ctl.out" || fail "tallyctl status: $(cat "$work/ctl.out")"
"$TALLYCTL" -c "$work/tally.yaml" dispatcher disable two >"$work/ctl.out" 2>&1 || fail "tallyctl disable"
"$TALLYCTL" -c "$work/tally.yaml" dispatcher show two --json >"$work/body" || fail "tallyctl show"
[ "$(field "j['state']")" = disabled ] || fail "tallyctl disable did not disable: $(cat "$work/body")"
"$TALLYCTL" -c "$work/tally.yaml" dispatcher enable two >/dev/null || fail "tallyctl enable"
"$TALLYCTL" -c "$work/tally.yaml" flush --wait 20 >"$work/ctl.out" || fail "tallyctl flush --wait: $(cat "$work/ctl.out")"
"$TALLYCTL" dispatcher list --url "http://127.0.0.1:$cport" --token-file "$work/token" --json >"$work/body" ||
	fail "tallyctl over TCP with the token"
[ "$(field "len(j['dispatchers'])")" = 2 ] || fail "tallyctl dispatcher list: $(cat "$work/body")"
"$TALLYCTL" dispatcher list --url "http://127.0.0.1:$cport" >/dev/null 2>"$work/ctl.err"
[ $? -eq 1 ] && grep -q "401" "$work/ctl.err" || fail "tallyctl without the token: $(cat "$work/ctl.err")"
"$TALLYCTL" -c "$work/tally.yaml" dispatcher show nosuch >/dev/null 2>&1
[ $? -eq 1 ] || fail "tallyctl on an unknown dispatcher: not exit status 1"
"$TALLYCTL" status --url "http://127.0.0.1:$(free_port)" >/dev/null 2>&1
[ $? -eq 3 ] || fail "tallyctl with nobody listening: not exit status 3"
"$TALLYCTL" -c "$work/tally.yaml" metrics | grep -q '^tally_buffer_records ' || fail "tallyctl metrics"
# tallyctl top --count 2: two frames (a line between them, not a terminal), rates from the second.
"$TALLYCTL" -c "$work/tally.yaml" top --count 2 >"$work/top.out" 2>&1 || fail "tallyctl top: $(cat "$work/top.out")"
[ "$(grep -c '^tallyd ' "$work/top.out")" -eq 2 ] && [ "$(grep -c '^--------$' "$work/top.out")" -eq 1 ] &&
	grep -q '^DISPATCHER .* SAMPLES/S ' "$work/top.out" && grep -q '^INPUT .* SAMPLES/S ' "$work/top.out" ||
	fail "tallyctl top --count 2: $(cat "$work/top.out")"
sed -n '1,/^--------$/p' "$work/top.out" | grep -Eq '^two +file +running +- +- +0 ' &&
	sed -n '/^--------$/,$p' "$work/top.out" | grep -Eq '^two +file +running +0\.0 +0\.0 +0 ' &&
	sed -n '/^--------$/,$p' "$work/top.out" | grep -Eq '^amqp +running +[0-9]+\.[0-9] ' ||
	fail "tallyctl top: no rates in the second frame: $(cat "$work/top.out")"

# Bad requests: 4xx with a message, nothing changed.
sock GET /v1/dispatchers/nosuch >/dev/null; want 404 "unknown dispatcher"
sock POST /v1/dispatchers/out/explode >/dev/null; want 404 "unknown operation"
sock POST /v1/inputs/smtp/pause >/dev/null; want 404 "unknown input"
sock POST "/v1/flush?wait=forever" >/dev/null; want 400 "bad wait"
sock DELETE /v1/flush >/dev/null; want 405 "wrong method"
sock GET /v2/nothing >/dev/null; want 404 "unknown path"
curl -s -o "$work/body" -w '%{http_code}' --unix-socket "$work/control.sock" -X POST \
	-H 'Content-Type: application/json' --data-binary @"$TALLYD" "http://tally/v1/flush" >"$work/status"
want 413 "a body over the cap"
sock GET /v1/dispatchers >/dev/null
[ "$(field "[d['state'] for d in j['dispatchers']]")" = "['running', 'running']" ] || fail "states changed by bad requests"

stop_tallyd
"$PY" "$top_srcdir/tests/integration/check_output.py" "$work/out.all" "$work/samples.jsonl" ||
	fail "out: samples lost or duplicated"
"$PY" "$top_srcdir/tests/integration/check_output.py" "$work/two.log" "$work/samples.jsonl" ||
	fail "two: samples lost or duplicated"

# /readyz's failure rule: a dispatcher whose destination is down (an HTTP
# dispatcher to a closed port) fails more than health_max_errors times in
# health_period: 503 naming it, its state backing_off with its last error;
# disabled, it stops failing and the window empties.
closed=$(free_port)
sed -i -e "s|dispatchers: \[.*\]|dispatchers: [{name: down, type: http, target: \"http://127.0.0.1:$closed/\"}]|" \
	-e "s|^control: {|control: {health_period: 2, health_max_errors: 1, |" "$work/tally.yaml"
grep -q 'name: down' "$work/tally.yaml" || fail "test setup: the failing dispatcher is not configured"
start_tallyd 2
"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count 10 --per-message 10 --seed 24 --out "$work/samples4.jsonl" 2>"$work/publish.err" ||
	{ cat "$work/publish.err"; fail "publish.py failed"; }
i=0
until sock GET /readyz >/dev/null && [ "$(status)" = 503 ]; do
	i=$((i + 1)); [ $i -le 100 ] || fail "/readyz stays $(status) with a failing dispatcher"; sleep 0.1
done
field "j['error']['message']" | grep -q "down" || fail "/readyz does not name the failing dispatcher: $(cat "$work/body")"
sock GET /v1/dispatchers/down >/dev/null
[ "$(field "j['state']")" = backing_off ] || fail "state of a failing dispatcher: $(cat "$work/body")"
[ "$(field "j['next_try'] is not None and j['last_error']['message'] != ''")" = True ] ||
	fail "no next try or last error: $(cat "$work/body")"
sock POST /v1/dispatchers/down/disable >/dev/null; want 200 "disable the failing dispatcher"
i=0
until sock GET /readyz >/dev/null && [ "$(status)" = 200 ]; do
	i=$((i + 1)); [ $i -le 100 ] || fail "/readyz stays $(status) after the failing dispatcher was disabled"; sleep 0.1
done
stop_tallyd
echo "PASS"
