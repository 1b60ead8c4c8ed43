#!/bin/sh
# Thresholds (issue 16) end to end, one tallyd with the collector, a SQLite
# database dispatcher, the query API and the control API, fed by
# oslo.messaging through a real RabbitMQ, watched by a real oslo.messaging
# notification listener (tests/tools/notify_listen.py):
#
#  1. bad definitions to every endpoint: 4xx with a message, nothing changed;
#  2. threshold "hot" (cpu_util of vm-* above 80, hysteresis 10): a stream
#     crossing it gives one tally.threshold.alarm event in the database,
#     seen through /v2/events with its traits, and one notification received
#     by the listener; a resource the pattern does not match gives none;
#  3. kill -9 and restart: the alarm is remembered (GET), more samples above
#     the limit and within the hysteresis give no second alarm;
#  4. back to limit - hysteresis: exactly one tally.threshold.ok event and
#     its notification.
#
# What breaks it, e.g.: states not stored with their events (a second alarm
# after the restart), no hysteresis (an ok event at 75), a notification not
# in oslo's format (the listener receives nothing).
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
SECRET='thresholds secret'
lpid=
thr_cleanup() {
	[ -n "$lpid" ] && kill "$lpid" 2>/dev/null && wait "$lpid" 2>/dev/null
	lib_cleanup
}
trap thr_cleanup EXIT

"$PY" "$top_srcdir/tests/tools/notify_listen.py" --url "$TALLY_AMQP_URL" --exchange tally \
	--topic notifications --out "$work/notified.jsonl" --ready "$work/listening" \
	2>"$work/listen.err" &
lpid=$!
i=0
until [ -e "$work/listening" ]; do
	i=$((i + 1))
	[ $i -le 300 ] && kill -0 "$lpid" 2>/dev/null || { cat "$work/listen.err"; fail "the listener did not start"; }
	sleep 0.1
done

port=$(free_port)
cat >"$work/tally.yaml" <<CONF
telemetry_secret: "$SECRET"
collector:
  amqp: {urls: ["$TALLY_AMQP_URL"], workers: 2, batch_size: 100, batch_timeout: 0.05}
  udp: {address: ""}
  buffer: {path: "$work/buffer", max_size: 64MiB}
  dispatchers: [{name: db, type: database}]
storage: {connection: "sqlite://$work/tally.db"}
api: {listen: 127.0.0.1, port: $port, auth: trusted-headers}
control:
  port: 0
  socket: "$work/control.sock"
  notify: {amqp: "$TALLY_AMQP_URL", exchange: tally, topic: notifications}
log: {level: info}
CONF
"$TALLYCTL" -c "$work/tally.yaml" dbsync >"$work/dbsync.out" 2>&1 || { cat "$work/dbsync.out"; fail "dbsync"; }
start_tallyd 1

body() { printf '%s' "$1" >"$work/req.json"; }
count() { req GET /v1/thresholds; want 200 "list"; field "j['count']"; }

# 1. Bad input: each refused with its message, nothing created.
bad() { # STATUS METHOD PATH BODY MESSAGE_PART
	body "$4"
	if [ -n "$4" ]; then req "$2" "$3" "$work/req.json"; else req "$2" "$3"; fi
	want "$1" "$2 $3 $4"
	grep -q "$5" "$work/body" || fail "$2 $3 $4: no '$5' in $(cat "$work/body")"
}
bad 400 POST /v1/thresholds '' 'must be a threshold'
bad 400 POST /v1/thresholds '[1]' 'must be a JSON object'
bad 400 POST /v1/thresholds '{"name": "x", "meter": "cpu_util", "op": "gt"' 'not JSON'
bad 400 POST /v1/thresholds '{"name": "x", "meter": "cpu_util", "op": "above", "value": 1}' 'op must'
bad 400 POST /v1/thresholds '{"name": "x", "meter": "cpu_util", "op": "gt"}' 'are required'
bad 400 POST /v1/thresholds '{"name": "a/b", "meter": "cpu_util", "op": "gt", "value": 1}' 'name must'
bad 400 POST /v1/thresholds '{"name": "x", "meter": "cpu_util", "op": "gt", "value": 1, "hysteresis": -2}' 'hysteresis must'
bad 400 POST /v1/thresholds '{"name": "x", "meter": "cpu_util", "op": "gt", "value": 1, "severity": "bad"}' 'severity must'
bad 400 POST /v1/thresholds '{"name": "x", "meter": "cpu_util", "op": "gt", "value": 1, "extra": 1}' 'unknown key'
bad 400 POST /v1/thresholds "{\"name\": \"x\", \"meter\": \"$(head -c 300 /dev/zero | tr '\0' m)\", \"op\": \"gt\", \"value\": 1}" 'meter must be'
bad 404 PUT /v1/thresholds/nope '{"meter": "cpu_util", "op": "gt", "value": 1}' 'No threshold'
bad 404 DELETE /v1/thresholds/nope '' 'No threshold'
bad 404 GET /v1/thresholds/nope '' 'No threshold'
bad 405 PATCH /v1/thresholds '' 'error'
bad 400 GET '/v1/thresholds?series=x' '' 'series must'
[ "$(count)" -eq 0 ] || fail "a refused request created a threshold: $(cat "$work/body")"

# tallyctl's front end: add, list, a bad value refused before sending, rm.
ctl() { "$TALLYCTL" -c "$work/tally.yaml" threshold "$@" >"$work/ctl.out" 2>&1; }
ctl add cold --meter cpu_util --op lt --value=5 --resource 'vm-*' --severity moderate ||
	fail "tallyctl threshold add: $(cat "$work/ctl.out")"
ctl list && grep -q '^cold  *cpu_util  *lt  *5 vm-\*  *moderate' "$work/ctl.out" ||
	fail "tallyctl threshold list: $(cat "$work/ctl.out")"
ctl add x --meter cpu_util --op lt --value five; [ $? -eq 2 ] || fail "--value five: $(cat "$work/ctl.out")"
ctl add cold --meter cpu_util --op lt --value 5; [ $? -eq 1 ] || fail "add twice: $(cat "$work/ctl.out")"
ctl rm cold || fail "tallyctl threshold rm: $(cat "$work/ctl.out")"
[ "$(count)" -eq 0 ] || fail "after tallyctl threshold rm: $(cat "$work/body")"

body '{"name": "hot", "meter": "cpu_util", "resource": "vm-*", "op": "gt", "value": 80, "hysteresis": 10, "severity": "critical"}'
req POST /v1/thresholds "$work/req.json"; want 201 "POST hot"
[ "$(field "(j['name'], j['series_count'], j['op'], j['value'])")" = "('hot', 0, 'gt', 80)" ] || fail "POST answer: $(cat "$work/body")"
bad 409 POST /v1/thresholds "$(cat "$work/req.json")" 'already called hot'
bad 400 PUT /v1/thresholds/hot '{"name": "cold", "meter": "cpu_util", "op": "gt", "value": 1}' "not hot"
req GET /v1/thresholds/hot; want 200 "GET hot after the bad PUT"
[ "$(field "j['value']")" = 80 ] || fail "a refused PUT changed hot: $(cat "$work/body")"

# 2. A stream that crosses the limit (90) and one the pattern does not match.
T0=$(($(date +%s) - 600))
series() { # RESOURCE START_OFFSET VALUES...
	r=$1 off=$2
	shift 2
	"$PY" "$top_srcdir/tests/tools/publish_series.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
		--meter cpu_util --resource "$r" --start $((T0 + off)) "$@" 2>>"$work/publish.err" ||
		{ cat "$work/publish.err"; fail "publish_series.py failed"; }
}
flush() { req POST "/v1/flush?wait=30"; want 200 "flush"; }
series vm-1 0 50 60 90 95
series db-1 0 99 99
flush

api() { # PATH: the query API's answer to $work/api.json
	curl -s -o "$work/api.json" -H 'X-Roles: admin' -H 'X-User-Id: u1' -H 'X-Project-Id: p1' \
		"http://127.0.0.1:$port$1" || fail "the query API does not answer"
}
events() { # TYPE: how many events of TYPE /v2/events lists
	api "/v2/events?q.field=event_type&q.op=eq&q.value=$1&limit=100"
	"$PY" -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$work/api.json"
}
# The database gets the event from the dispatcher: wait for it (the flush waited for it already).
[ "$(events tally.threshold.alarm)" -eq 1 ] || fail "alarm events: $(cat "$work/api.json")"
"$PY" - "$work/api.json" <<'PY' || fail "the alarm event's traits"
import json, sys
ev = json.load(open(sys.argv[1]))[0]
t = {x['name']: x['value'] for x in ev['traits']}
want = {'threshold': 'hot', 'resource': 'vm-1', 'meter': 'cpu_util', 'severity': 'critical',
        'state': 'alarm', 'previous': 'ok'}
bad = {k: (t.get(k), v) for k, v in want.items() if t.get(k) != v}
if bad or float(t['value']) != 90 or float(t['limit']) != 80:
    sys.exit('traits %s: wrong %s' % (t, bad))
PY
req GET /v1/thresholds/hot; want 200 "GET hot"
[ "$(field "[(s['resource_id'], s['state'], float(s['value'])) for s in j['series']]")" = "[('vm-1', 'alarm', 95.0)]" ] ||
	fail "hot's series: $(cat "$work/body")"

notified() { # EVENT_TYPE: notifications of that type the listener received
	"$PY" -c "import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)['event_type'] == sys.argv[2]))" \
		"$work/notified.jsonl" "$1" 2>/dev/null || echo 0
}
wait_notified() { # TYPE N
	i=0
	until [ "$(notified "$1")" -ge "$2" ]; do
		i=$((i + 1))
		[ $i -le 150 ] || fail "the listener got $(notified "$1") $1, want $2: $(cat "$work/listen.err")"
		sleep 0.1
	done
}
wait_notified tally.threshold.alarm 1
"$PY" - "$work/notified.jsonl" "$(hostname)" <<'PY' || fail "the notification"
import json, sys
n = json.loads(open(sys.argv[1]).readline())
p = n['payload']
assert n['publisher_id'] == 'tally.' + sys.argv[2], n
assert (p['threshold'], p['resource'], p['meter'], p['value'], p['limit'], p['severity']) == \
    ('hot', 'vm-1', 'cpu_util', 90, 80, 'critical'), n
assert n['metadata']['message_id'] and n['metadata']['timestamp'], n
PY

# 3. kill -9, restart: the alarm holds; above the limit and within the hysteresis: no new event.
kill -9 "$tpid"
wait "$tpid" 2>/dev/null
tpid=
start_tallyd 2
req GET /v1/thresholds/hot; want 200 "GET hot after the restart"
[ "$(field "[(s['resource_id'], s['state']) for s in j['series'] if s['state'] != 'insufficient data']")" = "[('vm-1', 'alarm')]" ] ||
	fail "the alarm was not remembered: $(cat "$work/body")"
series vm-1 10 97 85 71
flush
[ "$(events tally.threshold.alarm)" -eq 1 ] || fail "a second alarm after the restart: $(cat "$work/api.json")"
[ "$(events tally.threshold.ok)" -eq 0 ] || fail "ok within the hysteresis: $(cat "$work/api.json")"

# 4. Down to limit - hysteresis (70), then lower: exactly one ok.
series vm-1 20 70 40 30
flush
[ "$(events tally.threshold.ok)" -eq 1 ] || fail "ok events: $(cat "$work/api.json")"
[ "$(events tally.threshold.alarm)" -eq 1 ] || fail "alarm events at the end: $(cat "$work/api.json")"
wait_notified tally.threshold.ok 1
sleep 0.5
[ "$(notified tally.threshold.alarm)" -eq 1 ] && [ "$(notified tally.threshold.ok)" -eq 1 ] ||
	fail "notifications: $(cat "$work/notified.jsonl")"
req GET /v1/thresholds/hot; want 200 "GET hot at the end"
[ "$(field "[(s['resource_id'], s['state'], float(s['value'])) for s in j['series']]")" = "[('vm-1', 'ok', 30.0)]" ] ||
	fail "hot at the end: $(cat "$work/body")"
curl -s --unix-socket "$work/control.sock" http://tally/metrics >"$work/metrics"
grep -q '^tally_threshold_notifications_total{result="published"} 1$' "$work/metrics" ||
	fail "metrics: $(grep threshold "$work/metrics")"

# A new limit keeps the state; DELETE removes it for good (also after a restart).
body '{"meter": "cpu_util", "resource": "vm-*", "op": "gt", "value": 100}'
req PUT /v1/thresholds/hot "$work/req.json"; want 200 "PUT hot"
[ "$(field "(j['value'], j['series_count'], j['severity'])")" = "(100, 1, 'low')" ] || fail "PUT: $(cat "$work/body")"
req DELETE /v1/thresholds/hot; want 200 "DELETE hot"
stop_tallyd
start_tallyd 3
[ "$(count)" -eq 0 ] || fail "hot is back after DELETE and a restart: $(cat "$work/body")"
stop_tallyd
echo "PASS"
