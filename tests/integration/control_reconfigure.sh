#!/bin/sh
# Configuration changes of a running tallyd through its control API
# (docs/control.md), with samples from oslo.messaging through a real
# RabbitMQ: a dispatcher added with start=oldest gets everything the buffer
# holds; a new configuration for a running one (PUT) is swapped in between
# batches; one detached stops holding the buffer and counts what it skips;
# one removed (DELETE) stops; POST /v1/reload and SIGHUP apply the file
# (a changed meter filter, a dispatcher added, another put back as the file
# says; other sections reported as needing a restart; a bad file changes
# nothing); bad bodies are 400 with the key at fault; and the next start
# logs each runtime change it undoes.
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
SECRET='reconfigure secret'
write_conf "$SECRET" "$(free_port)"
# "hold" starts disabled through the API below: its cursor keeps every record in the buffer.
sed -i -e "s|dispatchers: \[.*\]|dispatchers:\n    - {name: out, type: file, file_path: \"$work/out.log\"}\n    - {name: hold, type: file, file_path: \"$work/hold.log\"}|" \
	-e "s|^control: {port: 0}|control: {port: 0, socket: \"$work/control.sock\"}|" "$work/tally.yaml"
grep -q 'name: hold' "$work/tally.yaml" || fail "test setup: hold is not configured"
start_tallyd 1

publish() { # COUNT SEED OUT
	"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
		--count "$1" --per-message 10 --seed "$2" --out "$3" 2>"$work/publish.err" ||
		{ cat "$work/publish.err"; fail "publish.py failed"; }
}
lines() { wc -l 2>/dev/null <"$1" || echo 0; }

req POST /v1/dispatchers/hold/disable; want 200 "disable hold"
publish 200 31 "$work/s1.jsonl"
req POST "/v1/flush?dispatcher=out&wait=20"; want 200 "flush out"

# Added from the oldest record: everything the buffer holds.
printf '{"name": "late", "type": "file", "file_path": "%s/late.log"}' "$work" >"$work/late.json"
req POST "/v1/dispatchers?start=oldest" "$work/late.json"; want 201 "add late"
req POST "/v1/dispatchers?start=oldest" "$work/late.json"; want 409 "add late twice"
req POST "/v1/flush?dispatcher=late&wait=20"; want 200 "flush late"
[ "$(lines "$work/late.log")" -eq 200 ] || fail "late has $(lines "$work/late.log") of the 200 the buffer held"

# Bad bodies: 400 naming what is wrong, nothing added.
printf '{"name": "bad", "type": "file"}' >"$work/b1.json"
req POST /v1/dispatchers "$work/b1.json"; want 400 "a dispatcher without its file_path"
field "j['error']['message']" | grep -q "file_path" || fail "the error does not name file_path: $(cat "$work/body")"
printf '{"name": "bad", "type": "smtp"}' >"$work/b2.json"
req POST /v1/dispatchers "$work/b2.json"; want 400 "an unknown type"
printf '{"name": "bad", ' >"$work/b3.json"
req POST /v1/dispatchers "$work/b3.json"; want 400 "a body that is not JSON"
printf '{"name": "b@d", "type": "file", "file_path": "/tmp/x"}' >"$work/b4.json"
req POST /v1/dispatchers "$work/b4.json"; want 400 "a bad name"
for n in pipeline pipeline.meter_sink.0 pipeline.event.x.1; do
	printf '{"name": "%s", "type": "file", "file_path": "/tmp/x"}' "$n" >"$work/b6.json"
	req POST /v1/dispatchers "$work/b6.json"; want 400 "the name $n of collector.pipeline's own"
	field "j['error']['message']" | grep -q "belong to collector.pipeline" ||
		fail "the error does not say why $n is refused: $(cat "$work/body")"
done
req GET /v1/dispatchers/bad; want 404 "a refused dispatcher exists"

# A new configuration for out: the next samples go to out2.log.
printf '{"name": "out", "type": "file", "file_path": "%s/out2.log"}' "$work" >"$work/out2.json"
req PUT /v1/dispatchers/out "$work/out2.json"; want 200 "put out"
printf '{"name": "other", "type": "file", "file_path": "%s/x.log"}' "$work" >"$work/b5.json"
req PUT /v1/dispatchers/out "$work/b5.json"; want 400 "a body naming another dispatcher"
req PUT /v1/dispatchers/nosuch "$work/late.json"; want 400 "a body naming another dispatcher (nosuch)"
publish 100 32 "$work/s2.jsonl"
req POST "/v1/flush?dispatcher=out&wait=20"; want 200 "flush out after put"
[ "$(lines "$work/out.log")" -eq 200 ] && [ "$(lines "$work/out2.log")" -eq 100 ] ||
	fail "after put: out.log $(lines "$work/out.log") (want 200), out2.log $(lines "$work/out2.log") (want 100)"

# Detached: hold skips what it has not delivered, and what arrives.
req POST "/v1/dispatchers/hold/disable?detach=true"; want 200 "detach hold"
[ "$(field "j['skipped_now']")" -eq 300 ] || fail "detach skipped: $(cat "$work/body")"
publish 50 33 "$work/s3.jsonl"
req POST "/v1/flush?dispatcher=out&wait=20"; want 200 "flush out after detach"
i=0
until req GET /v1/dispatchers/hold && [ "$(field "j['lag']['records']")" -eq 0 ] &&
	[ "$(field "j['skipped']")" -eq 350 ]; do
	i=$((i + 1)); [ $i -le 60 ] || fail "a detached dispatcher still holds records: $(cat "$work/body")"; sleep 0.1
done
[ "$(lines "$work/hold.log")" -eq 0 ] || fail "a detached dispatcher delivered"

# Removed: late stops.
req DELETE /v1/dispatchers/late; want 200 "delete late"
req GET /v1/dispatchers/late; want 404 "late after delete"
req DELETE /v1/dispatchers/late; want 404 "delete late twice"

# Reload: the file wins for out (back to out.log, now only "cpu"), a new
# dispatcher from the file, the AMQP prefetch reported as needing a restart;
# hold stays detached (a runtime state, not a configuration).
cp "$work/tally.yaml" "$work/tally.yaml.orig"
sed -i -e "s|    - {name: out, type: file, file_path: \"$work/out.log\"}|    - {name: out, type: file, file_path: \"$work/out.log\", meters: [cpu]}\n    - {name: fresh, type: file, file_path: \"$work/fresh.log\"}|" \
	-e 's|batch_size: 100, batch_timeout: 0.05|batch_size: 100, batch_timeout: 0.05, prefetch: 400|' "$work/tally.yaml"
grep -q 'name: fresh' "$work/tally.yaml" && grep -q 'prefetch: 400' "$work/tally.yaml" || fail "test setup: the edited file"
req POST /v1/reload; want 200 "reload"
[ "$(field "(j['added'], j['reconfigured'], j['removed'], j['needs_restart'])")" = "(['fresh'], ['out'], [], ['collector.amqp'])" ] ||
	fail "reload answered: $(cat "$work/body")"
publish 80 34 "$work/s4.jsonl"
req POST "/v1/flush?wait=20"; want 200 "flush after reload"
cpu=$("$PY" -c "import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)['counter_name'] == 'cpu'))" "$work/s4.jsonl")
[ "$(lines "$work/out.log")" -eq $((200 + cpu)) ] || fail "out.log after reload: $(lines "$work/out.log"), want $((200 + cpu)) (cpu only)"
"$PY" -c "
import json, sys
new = [json.loads(l) for l in open(sys.argv[1])][200:]
sys.exit(0 if all(s['counter_name'] == 'cpu' for s in new) else 1)" "$work/out.log" || fail "out got other meters than cpu after the reload"
[ "$(lines "$work/fresh.log")" -eq 80 ] || fail "fresh has $(lines "$work/fresh.log") of 80"

# A bad file changes nothing, and says why with file:line.
cp "$work/tally.yaml" "$work/tally.yaml.good"
printf 'collector:\n  dispatchers: [{name: out, type: file}]\n' >"$work/tally.yaml"
req POST /v1/reload; want 400 "reload of a bad file"
field "j['errors'][0]" | grep -q "tally.yaml:2: .*file_path" || fail "reload errors: $(cat "$work/body")"
req GET /v1/dispatchers/fresh; want 200 "fresh after a bad reload"
cp "$work/tally.yaml.good" "$work/tally.yaml"

# SIGHUP reloads too: a dispatcher added to the file appears.
sed -i "s|    - {name: fresh, type: file, file_path: \"$work/fresh.log\"}|&\n    - {name: viahup, type: file, file_path: \"$work/viahup.log\"}|" "$work/tally.yaml"
kill -HUP "$tpid"
i=0
until req GET /v1/dispatchers/viahup && [ "$(cat "$work/status")" = 200 ]; do
	i=$((i + 1)); [ $i -le 50 ] || fail "SIGHUP did not add viahup"; sleep 0.1
done
grep -q "configuration reloaded by SIGHUP" "$work/tallyd-1.log" || fail "the SIGHUP reload is not logged"
stop_tallyd

# Every published sample exactly once where it belongs.
cat "$work/s1.jsonl" "$work/s2.jsonl" "$work/s3.jsonl" >"$work/late.want" # until it was removed
cat "$work/out.log" "$work/out2.log" >"$work/out.all"
cat "$work/s1.jsonl" "$work/s2.jsonl" "$work/s3.jsonl" >"$work/out.want"
"$PY" -c "
import json, sys
for l in open(sys.argv[1]):
    if json.loads(l)['counter_name'] == 'cpu':
        sys.stdout.write(l)" "$work/s4.jsonl" >>"$work/out.want"
"$PY" "$top_srcdir/tests/integration/check_output.py" "$work/out.all" "$work/out.want" || fail "out: lost or duplicated"
"$PY" "$top_srcdir/tests/integration/check_output.py" "$work/late.log" "$work/late.want" || fail "late: lost or duplicated"
"$PY" "$top_srcdir/tests/integration/check_output.py" "$work/fresh.log" "$work/s4.jsonl" || fail "fresh: lost or duplicated"

# The next start says which runtime changes it undoes.
start_tallyd 2
for what in "dispatcher hold disabled by socket" "dispatcher late added by socket" \
	"dispatcher out reconfigured by socket" "dispatcher hold detached by socket" \
	"dispatcher late removed by socket"; do
	grep -q "is undone (the configuration file holds): .*$what" "$work/tallyd-2.log" ||
		fail "the restart does not say it undoes: $what"
done

# The same through tallyctl (YAML on standard input).
printf 'name: extra\ntype: file\nfile_path: "%s/extra.log"\n' "$work" |
	"$TALLYCTL" -c "$work/tally.yaml" dispatcher add - --start oldest >"$work/ctl.out" 2>&1 ||
	fail "tallyctl dispatcher add: $(cat "$work/ctl.out")"
req GET /v1/dispatchers/extra; want 200 "extra added by tallyctl"
printf 'name: extra\ntype: file\n' | "$TALLYCTL" -c "$work/tally.yaml" dispatcher set extra - \
	>/dev/null 2>"$work/ctl.err"
[ $? -eq 1 ] && grep -q "file_path" "$work/ctl.err" || fail "tallyctl dispatcher set with a bad body: $(cat "$work/ctl.err")"
"$TALLYCTL" -c "$work/tally.yaml" dispatcher detach extra >/dev/null || fail "tallyctl dispatcher detach"
"$TALLYCTL" -c "$work/tally.yaml" dispatcher rm extra >/dev/null || fail "tallyctl dispatcher rm"
req GET /v1/dispatchers/extra; want 404 "extra after tallyctl rm"
"$TALLYCTL" -c "$work/tally.yaml" reload >"$work/body" || fail "tallyctl reload"
[ "$(field "j['applied']")" = True ] || fail "tallyctl reload: $(cat "$work/body")"
stop_tallyd
echo "PASS"
