#!/bin/sh
# Issue 15's end-to-end scenario, in one run of tallyd: a database dispatcher
# "db" on a private PostgreSQL (scripts/postgresql), a file dispatcher "out"
# and a second one "side", fed by oslo.messaging through a real RabbitMQ,
# while the control API (over its Unix socket):
#
#  1. disables db in the middle of a stream: out keeps receiving, the
#     database does not;
#  2. enables it again: the database catches up;
#  3. gives out a new file_path (PUT), still during the stream;
#  4. restarts db, then stops PostgreSQL (immediate) while samples flow,
#     restarts db again while it is retrying, and starts PostgreSQL again;
#  5. with the buffer trimmed and side disabled (its cursor holds what
#     arrives), adds "late" with start=oldest: it gets every record the
#     buffer holds;
#  6. detaches side: it skips what it held and what arrives after;
#  7. reloads the file, in which out only takes cpu (and a third path) and
#     late is written down as it was added.
#
# At the end, the database holds every published sample exactly once
# (dump_store.py, compared field by field), out's three files together hold
# each sample it was to get once (the last one cpu only), late everything
# from the oldest record it was added at, side only what came before it was
# disabled. Skips (77) without PostgreSQL or RabbitMQ.
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
command -v psql >/dev/null || { echo "SKIP: psql missing"; exit 77; }
SECRET='scenario secret'
spid=
scenario_cleanup() {
	[ -n "$spid" ] && { touch "$work/stream.stop"; wait "$spid" 2>/dev/null; }
	$PG stop "$work/pg" immediate >/dev/null 2>&1
	lib_cleanup
}
trap scenario_cleanup EXIT
start_postgresql
url=$TALLY_PG_URL

cat >"$work/tally.yaml" <<CONF
telemetry_secret: "$SECRET"
collector:
  amqp: {urls: ["$TALLY_AMQP_URL"], workers: 2, batch_size: 100, batch_timeout: 0.05}
  udp: {address: ""}
  buffer: {path: "$work/buffer", max_size: 512MiB}
  dispatchers:
    - {name: db, type: database}
    - {name: out, type: file, file_path: "$work/out.log"}
    - {name: side, type: file, file_path: "$work/side.log"}
storage: {connection: "$url"}
api: {enabled: false}
control: {port: 0, socket: "$work/control.sock"}
log: {level: info}
CONF
"$TALLYCTL" -c "$work/tally.yaml" dbsync >"$work/dbsync.out" 2>&1 || { cat "$work/dbsync.out"; fail "dbsync failed"; }
start_tallyd 1

lines() { cat "$@" 2>/dev/null | wc -l; }
stored() { psql -X -q -At -d "$url" -c 'SELECT count(*) FROM sample'; }
# until_true SECONDS WHAT COMMAND...: polls COMMAND every 0.1 s.
until_true() {
	n=$(($1 * 10)) what=$2
	shift 2
	until "$@"; do
		n=$((n - 1))
		[ $n -gt 0 ] || fail "$what"
		sleep 0.1
	done
}
publish() { # COUNT SEED OUT
	"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
		--count "$1" --per-message 10 --seed "$2" --out "$3" 2>>"$work/publish.err"
}
# stream_start: publishes 100 samples at a time (seeds 1000, 1001, ...) to
# $work/stream.K.jsonl until stream_stop.
stream_start() {
	(
		k=0
		while [ ! -e "$work/stream.stop" ]; do
			publish 100 $((1000 + k)) "$work/stream.$k.jsonl" || { touch "$work/stream.failed"; exit 1; }
			k=$((k + 1))
		done
	) &
	spid=$!
}
stream_stop() {
	touch "$work/stream.stop"
	wait "$spid"
	spid=
	[ ! -e "$work/stream.failed" ] || { cat "$work/publish.err"; fail "publish.py failed in the stream"; }
	cat "$work"/stream.*.jsonl >"$work/a.jsonl"
}
# consumed N: the AMQP input has taken N samples (then a flush sees them).
consumed() {
	req GET /v1/inputs && [ "$(field "[i['samples'] for i in j['inputs'] if i['name'] == 'amqp'][0]")" -ge "$1" ]
}
# flush NAME: NAME has delivered everything the input took.
flush() {
	req POST "/v1/flush?dispatcher=$1&wait=30"
	want 200 "flush $1"
}
state_is() { req GET "/v1/dispatchers/$1" && [ "$(field "j['state']")" = "$2" ]; }
grown() { [ "$(lines "$@")" -ge "$target" ]; }
buffer_empty() { req GET /v1/buffer && [ "$(field "j['records']")" -eq 0 ]; }
side_skipped() { # N: side holds nothing and skipped N records in all
	req GET /v1/dispatchers/side && [ "$(field "(j['lag']['records'], j['skipped'])")" = "(0, $1)" ]
}


# 1. db disabled in the middle of the stream: out keeps receiving, the database does not.
stream_start
target=300
until_true 30 "the stream does not reach out" grown "$work/out.log"
req POST /v1/dispatchers/db/disable; want 200 "disable db"
target=$(($(lines "$work/out.log") + 300))
until_true 30 "out does not keep receiving while db is disabled" grown "$work/out.log"
d0=$(stored)
until sleep 0.5 && [ "$(stored)" -eq "$d0" ]; do d0=$(stored); done # the batch in flight at the disable
target=$((target + 300))
until_true 30 "out does not keep receiving while db is disabled" grown "$work/out.log"
[ "$(stored)" -eq "$d0" ] || fail "the database received while db was disabled ($d0, then $(stored))"
req GET /v1/dispatchers/db
[ "$(field "j['state']")" = disabled ] && [ "$(field "j['lag']['records']")" -gt 0 ] ||
	fail "db while disabled: $(cat "$work/body")"
echo "db disabled: the database stays at $d0 samples while out has $(lines "$work/out.log")"

# 2. Enabled again: it catches up (past what out had delivered before the flush).
req POST /v1/dispatchers/db/enable; want 200 "enable db"
o1=$(lines "$work/out.log")
flush db
[ "$(stored)" -ge "$o1" ] || fail "db did not catch up: $(stored) stored, out had $o1"
echo "db enabled: caught up ($(stored) stored)"

# 3. out to a new path, the stream still going.
printf '{"name": "out", "type": "file", "file_path": "%s/out2.log"}' "$work" >"$work/out2.json"
req PUT /v1/dispatchers/out "$work/out2.json"; want 200 "put out"
target=200
until_true 30 "out2.log does not receive after the PUT" grown "$work/out2.log"

# 4. db restarted, PostgreSQL stopped under load, db restarted again while it
# retries, PostgreSQL started again.
req POST /v1/dispatchers/db/restart; want 200 "restart db"
$PG stop "$work/pg" immediate >/dev/null || fail "cannot stop PostgreSQL"
echo "postgresql: stopped right after the restart of db"
until_true 30 "db does not back off while PostgreSQL is down" state_is db backing_off
grep -q "\[dispatcher:db\] destination failing, retrying" "$work/tallyd-1.log" || fail "db's retry is not logged"
req POST /v1/dispatchers/db/restart; want 200 "restart db while it retries"
target=$(($(lines "$work/out2.log") + 200))
until_true 30 "out does not keep receiving while PostgreSQL is down" grown "$work/out2.log"
vars=$($PG start "$work/pg" 2>"$work/pg.err") || { cat "$work/pg.err"; fail "cannot start PostgreSQL again"; }
echo "postgresql: started again"
target=$(($(lines "$work/out2.log") + 200))
until_true 30 "the stream stopped" grown "$work/out2.log"
stream_stop
total=$(lines "$work/a.jsonl")
until_true 30 "the input did not take the $total samples of the stream" consumed "$total"
for d in db out side; do flush $d; done
[ "$(stored)" -eq "$total" ] || fail "after the outage: $(stored) stored of $total"
req GET /v1/dispatchers/db
[ "$(field "j['counters']['retries']")" -gt 0 ] || fail "db counted no retry: $(cat "$work/body")"
echo "stream: $total samples, all stored"

# 5. side disabled on an empty buffer holds what comes; late, added from the
# oldest record, gets all of it.
until_true 10 "the buffer is not trimmed" buffer_empty
req POST /v1/dispatchers/side/disable; want 200 "disable side"
publish 300 2000 "$work/b.jsonl" || { cat "$work/publish.err"; fail "publish.py failed"; }
total=$((total + 300))
until_true 30 "the input did not take $total samples" consumed "$total"
flush db; flush out
printf '{"name": "late", "type": "file", "file_path": "%s/late.log"}' "$work" >"$work/late.json"
req POST "/v1/dispatchers?start=oldest" "$work/late.json"; want 201 "add late"
flush late
[ "$(lines "$work/late.log")" -eq 300 ] || fail "late has $(lines "$work/late.log") of the 300 the buffer held"

# 6. side detached: it skips what it held and what comes.
req POST "/v1/dispatchers/side/disable?detach=true"; want 200 "detach side"
[ "$(field "j['skipped_now']")" -eq 300 ] || fail "detach side: $(cat "$work/body")"
publish 200 2001 "$work/c.jsonl" || { cat "$work/publish.err"; fail "publish.py failed"; }
total=$((total + 200))
until_true 30 "the input did not take $total samples" consumed "$total"
for d in db out late; do flush $d; done

# 7. The file reloaded: out takes only cpu (into out3.log), late is written
# down as it was added (left alone), side stays detached.
sed -i -e "s|    - {name: out, type: file, file_path: \"$work/out.log\"}|    - {name: out, type: file, file_path: \"$work/out3.log\", meters: [cpu]}|" \
	-e "s|    - {name: side, type: file, file_path: \"$work/side.log\"}|&\n    - {name: late, type: file, file_path: \"$work/late.log\"}|" "$work/tally.yaml"
grep -q 'meters: \[cpu\]' "$work/tally.yaml" && grep -q 'name: late' "$work/tally.yaml" || fail "test setup: the edited file"
req POST /v1/reload; want 200 "reload"
[ "$(field "(j['added'], j['reconfigured'], j['removed'], j['failed'])")" = "([], ['out'], [], [])" ] ||
	fail "reload answered: $(cat "$work/body")"
req GET /v1/dispatchers/side
[ "$(field "(j['state'], j['detached'])")" = "('disabled', True)" ] || fail "side after the reload: $(cat "$work/body")"
publish 400 2002 "$work/d.jsonl" || { cat "$work/publish.err"; fail "publish.py failed"; }
total=$((total + 400))
until_true 30 "the input did not take $total samples" consumed "$total"
for d in db out late; do flush $d; done
until_true 10 "side still holds records, or did not skip 900" side_skipped 900
stop_tallyd

# Every published sample exactly as often as the rules say.
"$PY" -c "
import json, sys
for l in open(sys.argv[1]):
    if json.loads(l)['counter_name'] == 'cpu':
        sys.stdout.write(l)" "$work/d.jsonl" >"$work/d-cpu.jsonl"
[ -s "$work/d-cpu.jsonl" ] || fail "test setup: no cpu sample in the last burst"
cat "$work/a.jsonl" "$work/b.jsonl" "$work/c.jsonl" "$work/d.jsonl" >"$work/all.jsonl"
cat "$work/a.jsonl" "$work/b.jsonl" "$work/c.jsonl" >"$work/out-before.jsonl"
cat "$work/b.jsonl" "$work/c.jsonl" "$work/d.jsonl" >"$work/late.want"
cat "$work/out.log" "$work/out2.log" >"$work/out12.log"
"$PY" "$top_srcdir/tests/integration/dump_store.py" "$url" >"$work/stored.jsonl" || fail "cannot read the store"
echo "database:"
"$PY" "$top_srcdir/tests/integration/check_output.py" --stored "$work/stored.jsonl" "$work/all.jsonl" ||
	fail "database: samples lost, changed or stored twice"
echo "out (out.log, out2.log: until the reload):"
"$PY" "$top_srcdir/tests/integration/check_output.py" "$work/out12.log" "$work/out-before.jsonl" ||
	fail "out before the reload: lost or duplicated"
echo "out (out3.log: cpu only, after the reload):"
"$PY" "$top_srcdir/tests/integration/check_output.py" "$work/out3.log" "$work/d-cpu.jsonl" ||
	fail "out after the reload: lost, duplicated or not filtered"
echo "late:"
"$PY" "$top_srcdir/tests/integration/check_output.py" "$work/late.log" "$work/late.want" ||
	fail "late: lost or duplicated"
echo "side:"
"$PY" "$top_srcdir/tests/integration/check_output.py" "$work/side.log" "$work/a.jsonl" ||
	fail "side: lost or duplicated"
echo "PASS"
