#!/bin/sh
# Notifications and time (issue 16): two agents publish through the real
# oslo.messaging to a real RabbitMQ, one with its clock 300 s late, one in
# sync. GET /v1/time flags exactly the late one and GET /v1/notifications
# has one clock.skew notice, for it. A long poll returns as soon as a notice
# comes (and empty after its wait when none does); `tallyctl notifications
# --follow` prints the notices as they come, across a restart of tallyd; a
# waiting poll does not hold tallyd's stop back. Bad arguments: 400 with a
# message, nothing changed.
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
SECRET='time secret'
write_conf "$SECRET" "$(free_port)"
# Three workers: two long polls may wait at once (the follower's and one more).
sed -i -e "s|^control: {port: 0}|control: {port: 0, workers: 3, socket: \"$work/control.sock\"}|" "$work/tally.yaml"
start_tallyd 1
fpid=
trap '[ -n "$fpid" ] && kill "$fpid" 2>/dev/null; lib_cleanup' EXIT

publish() { # HOST OFFSET
	"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
		--count 20 --per-message 10 --host "$1" --time-offset "$2" 2>"$work/publish.err" ||
		{ cat "$work/publish.err"; fail "publish.py failed"; }
}
now() { "$PY" -c 'import time; print(time.monotonic())'; }
# clock_notices: "kind subject" of each clock.* notice, one a line.
clock_notices() {
	req GET "/v1/notifications?limit=1000"; want 200 "GET /v1/notifications"
	field "'\n'.join(n['kind'] + ' ' + n['subject'] for n in j['notifications'] if n['kind'].startswith('clock.'))"
}

# The follower, from the start (it sees every notice below).
"$TALLYCTL" -c "$work/tally.yaml" notifications --follow >"$work/follow.out" 2>"$work/follow.err" &
fpid=$!

publish late-agent -300
publish sync-agent 0
req POST "/v1/flush?wait=20"; want 200 "flush"

req GET /v1/time; want 200 "GET /v1/time"
cp "$work/body" "$work/time.json"
[ "$(field "j['flagged']")" = "['late-agent']" ] || fail "flagged: $(cat "$work/body")"
[ "$(field "[(h['host'], h['samples'], h['flagged']) for h in j['hosts']]")" = \
	"[('late-agent', 20, True), ('sync-agent', 20, False)]" ] || fail "hosts: $(cat "$work/body")"
# Received minus timestamp: 300 s and the trip's time for the late one.
[ "$(field "[299 <= h['p50'] <= 320 for h in j['hosts']]")" = "[True, False]" ] ||
	fail "late-agent's median: $(cat "$work/body")"
[ "$(field "abs(j['hosts'][1]['p50']) < 20 and j['max_skew_seconds'] == 60")" = True ] ||
	fail "sync-agent's median: $(cat "$work/body")"
[ "$(field "type(j['ntp']['synchronised']) is bool and j['sets_clocks'] is False and j['time'].endswith('Z')")" = True ] ||
	fail "clock and ntp: $(cat "$work/body")"

[ "$(clock_notices)" = "clock.skew late-agent" ] || fail "clock notices: $(clock_notices)"
req GET "/v1/notifications?limit=1000"
last=$(field "j['last']")
[ "$(field "j['notifications'][-1]['severity'] + ' ' + str(j['notifications'][-1]['detail']['host']) + ' ' + str(j['next_since'] == j['last'])")" = "warning late-agent True" ] ||
	fail "notice: $(cat "$work/body")"

# A long poll with nothing new returns empty after its wait.
t0=$(now)
req GET "/v1/notifications?since=$last&wait=3"; want 200 "empty long poll"
t1=$(now)
[ "$(field "(j['notifications'], j['waited'], j['last'])")" = "([], True, $last)" ] || fail "empty poll: $(cat "$work/body")"
"$PY" -c "import sys; sys.exit(not 2.8 <= $t1 - $t0 < 5)" || fail "the empty poll took $t0 -> $t1 s, want its 3 s wait"

# A long poll returns as soon as a notice comes: a late agent publishes while it waits.
(curl -s -o "$work/poll.json" --unix-socket "$work/control.sock" \
	"http://tally/v1/notifications?since=$last&wait=25"; now >"$work/poll.end") &
ppid=$!
sleep 0.5
# A third poll finds no worker to wait in (one always stays free): answered at once.
t0=$(now)
req GET "/v1/notifications?since=$last&wait=3"; want 200 "a poll beyond the cap"
[ "$(field "(j['notifications'], j['waited'])")" = "([], False)" ] || fail "poll beyond the cap: $(cat "$work/body")"
"$PY" -c "import sys; sys.exit(not $(now) - $t0 < 2)" || fail "a poll beyond the cap waited"
publish late-two -300
tpub=$(now)
wait_exit "$ppid" 25 "the long poll did not return"
# Well before its 25 s wait (the notice itself comes after ingest judges the
# host, at most a second after its samples; loaded CI machines are slow).
"$PY" -c "import sys; sys.exit(not $(cat "$work/poll.end") - $tpub < 5)" ||
	fail "the long poll returned $(cat "$work/poll.end") s, the notice was posted before $tpub s"
"$PY" - "$work/poll.json" <<'PY' || fail "the long poll's answer: $(cat "$work/poll.json")"
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit([(n['kind'], n['subject']) for n in j['notifications']] != [('clock.skew', 'late-two')])
PY

# Bad input: 400 with a message, nothing changed.
for q in "since=abc" "since=-1" "wait=-1" "wait=10000" "wait=x" "limit=0" "limit=1001" "follow=1"; do
	req GET "/v1/notifications?$q"; want 400 "GET /v1/notifications?$q"
	[ -n "$(field "j['error']['message']")" ] || fail "$q: no message"
done
req GET "/v1/time?x=1"; want 400 "GET /v1/time?x=1"
req POST /v1/time; want 405 "POST /v1/time"
req DELETE /v1/notifications; want 405 "DELETE /v1/notifications"
req GET /v1/notifications/1; want 404 "GET /v1/notifications/1"
req GET "/v1/notifications?limit=1000"
[ "$(field "j['last']")" -eq $((last + 1)) ] || fail "a bad request changed the notices: $(cat "$work/body")"
req GET /v1/time
[ "$(field "j['flagged']")" = "['late-agent', 'late-two']" ] || fail "after bad requests: $(cat "$work/body")"

# A poll waiting does not hold the stop back; the follower waits for the restart.
curl -s -o /dev/null --unix-socket "$work/control.sock" "http://tally/v1/notifications?since=1000&wait=60" &
sleep 0.5
t0=$(now)
stop_tallyd
"$PY" -c "import sys; sys.exit(not $(now) - $t0 < 5)" || fail "tallyd took more than 5 s to stop with a poll waiting"
start_tallyd 2
publish late-three -300
i=0
until grep -q "clock.skew late-three" "$work/follow.out"; do
	i=$((i + 1))
	[ $i -le 100 ] || fail "tallyctl --follow did not print late-three's notice after the restart: $(cat "$work/follow.out" "$work/follow.err")"
	sleep 0.1
done
kill "$fpid"; fpid=
[ "$(grep -c ' clock\.' "$work/follow.out")" -eq 3 ] || fail "follower: $(cat "$work/follow.out")"
grep -q "warning clock.skew late-agent the clock of late-agent looks off by" "$work/follow.out" ||
	fail "follower's line: $(cat "$work/follow.out")"
grep -q "restarted" "$work/follow.err" || fail "the follower did not see the restart: $(cat "$work/follow.err")"
"$TALLYCTL" -c "$work/tally.yaml" time >"$work/ctl.out" || fail "tallyctl time: $(cat "$work/ctl.out")"
grep -q "sync the clock of: late-three" "$work/ctl.out" || fail "tallyctl time: $(cat "$work/ctl.out")"
stop_tallyd
echo "PASS"
