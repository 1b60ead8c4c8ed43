#!/bin/sh
# The dead letters through the control API (docs/control.md): two http
# dispatchers to a local receiver (tests/tools/http_receiver.py), "web" in
# batch mode and "each" one sample per request, fed by oslo.messaging through
# a real RabbitMQ. While the receiver answers 400 the http dispatcher DROPs
# ("web": whole batches) or refuses single samples ("each"): dead letters with
# the dispatcher as source; a message signed with a wrong secret is an
# input's dead letter. Checked: the paged list (fields, payloads, next); a
# retry while the destination still refuses (502 with its reason, nothing
# removed); a 409 for an input's dead letter; 400 and 404 for bad ids; once
# the receiver answers 200, a retry of one id then of all (tallyctl): every
# sample delivered exactly once, the dispatchers' dead letters gone, the
# input's skipped and counted; drops by id (tallyctl) and by source; who
# made each change is logged.
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }

rpid=
dl_cleanup() {
	[ -n "$rpid" ] && kill "$rpid" 2>/dev/null
	lib_cleanup
}
trap dl_cleanup EXIT
"$PY" "$top_srcdir/tests/tools/http_receiver.py" "$work/rport" "$work/received.jsonl" &
rpid=$!
i=0
until [ -f "$work/rport" ]; do
	i=$((i + 1)); [ $i -le 100 ] || fail "the receiver did not start"; sleep 0.1
done
rport=$(cat "$work/rport")

SECRET='dead letter secret'
udp=$(free_port)
write_conf "$SECRET" "$udp"
sed -i -e "s|dispatchers: \[.*\]|dispatchers: [{name: web, type: http, target: \"http://127.0.0.1:$rport/web\", batch_mode: true, timeout: 5}, {name: each, type: http, target: \"http://127.0.0.1:$rport/each\", timeout: 5}]|" \
	-e "s|^control: {port: 0}|control: {port: 0, socket: \"$work/control.sock\"}|" "$work/tally.yaml"
grep -q 'name: each' "$work/tally.yaml" || fail "test setup: the dispatchers are not configured"

# receiver STATUS COUNT: the receiver answers STATUS to the next COUNT posts (0: 200 again).
receiver() {
	curl -s -o /dev/null -X POST --data "{\"status\": $1, \"count\": $2}" \
		"http://127.0.0.1:$rport/_control" || fail "cannot steer the receiver"
}
# sock METHOD PATH: over the Unix socket; prints the body, the status in $work/status.
sock() {
	curl -s -o "$work/body" -w '%{http_code}' --unix-socket "$work/control.sock" \
		-X "$1" "http://tally$2" >"$work/status"
	cat "$work/body"
}
status() { cat "$work/status"; }
want() { [ "$(status)" = "$1" ] || fail "$2: status $(status), want $1: $(cat "$work/body")"; }
field() { "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($1)" "$work/body"; }
publish() {
	"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" "$@" \
		2>"$work/publish.err" || { cat "$work/publish.err"; fail "publish.py failed"; }
}
# count_dead SOURCE: how many dead letters of SOURCE the API lists (one page of 1000).
count_dead() {
	sock GET "/v1/deadletters?max=1000" >/dev/null
	field "len([d for d in j['deadletters'] if d['source'] == '$1'])"
}

start_tallyd 1
receiver 400 1000
# 20 samples in 2 messages, and 2 messages of 1 sample signed with another secret.
publish --count 20 --per-message 10 --seed 31 --garbage 2 --garbage-kinds signature \
	--out "$work/samples.jsonl"
i=0
until [ "$(count_dead web)" -eq 20 ] && [ "$(count_dead each)" -eq 20 ] &&
	[ "$(count_dead input:amqp)" -eq 2 ]; do
	i=$((i + 1))
	[ $i -le 100 ] || fail "dead letters: $(cut -c1-600 "$work/body")"
	sleep 0.2
done
[ ! -s "$work/received.jsonl" ] || fail "the receiver recorded posts it answered 400"

# The list: fields, payloads, paging.
sock GET "/v1/deadletters" >/dev/null; want 200 "list"
"$PY" - "$work/body" "$work/samples.jsonl" <<'PY' || fail "the list: $(cut -c1-800 "$work/body")"
import json, sys
j = json.load(open(sys.argv[1]))
ids = {json.loads(l)['message_id'] for l in open(sys.argv[2])}
assert j['next'] is None, j['next']
dl = j['deadletters']
assert len(dl) == 42, len(dl)
assert [d['id'] for d in dl] == sorted(d['id'] for d in dl)
for d in dl:
    assert isinstance(d['time'], str) and d['time'][:2] == '20', d
    assert d['size'] > 0, d
    if d['source'] == 'input:amqp':
        assert d['reason'].startswith('bad_signature'), d
        continue
    assert d['source'] in ('web', 'each'), d
    assert d['kind'] == 'sample' and d['payload_format'] == 'json', d
    assert d['payload']['message_id'] in ids, d
    assert 'HTTP 400' in d['reason'], d
for s in ('web', 'each'):
    got = sorted(d['payload']['message_id'] for d in dl if d['source'] == s)
    assert got == sorted(ids), (s, got)
PY
first=$(field "j['deadletters'][0]['id']")
input_id=$(field "[d['id'] for d in j['deadletters'] if d['source'] == 'input:amqp'][0]")
each_id=$(field "[d['id'] for d in j['deadletters'] if d['source'] == 'each'][0]")
sock GET "/v1/deadletters?max=10" >/dev/null; want 200 "first page"
[ "$(field "len(j['deadletters'])")" -eq 10 ] && [ "$(field "j['deadletters'][0]['id']")" -eq "$first" ] ||
	fail "first page: $(cut -c1-300 "$work/body")"
next=$(field "j['next']")
sock GET "/v1/deadletters?from=$next&max=5000" >/dev/null; want 200 "second page (max above the cap)"
[ "$(field "len(j['deadletters'])")" -eq 32 ] && [ "$(field "j['deadletters'][0]['id']")" -eq "$next" ] &&
	[ "$(field "j['next']")" = None ] || fail "second page from $next: $(cut -c1-300 "$work/body")"

# The destination still refuses: 502 with its reason, nothing removed, nothing recorded.
sock POST "/v1/deadletters/all/retry?dispatcher=web" >/dev/null; want 502 "retry while refused"
field "j['error']['message']" | grep -q "0 delivered, 20 kept.*web: POST .*HTTP 400" ||
	fail "the refusal's reason: $(cat "$work/body")"
[ "$(count_dead web)" -eq 20 ] || fail "a refused retry removed dead letters"
"$TALLYCTL" -c "$work/tally.yaml" deadletter retry "$each_id" >/dev/null 2>"$work/ctl.err"
[ $? -eq 1 ] && grep -q "502" "$work/ctl.err" || fail "tallyctl retry refused: not exit 1: $(cat "$work/ctl.err")"

# An input's dead letter has nobody to go to; bad ids and methods.
sock POST "/v1/deadletters/$input_id/retry" >/dev/null; want 409 "retry of an input's dead letter"
field "j['error']['message']" | grep -q "refused by an input (input:amqp)" ||
	fail "409 message: $(cat "$work/body")"
sock POST /v1/deadletters/987654321/retry >/dev/null; want 404 "retry of an unknown id"
sock DELETE /v1/deadletters/987654321 >/dev/null; want 404 "drop of an unknown id"
sock POST /v1/deadletters/abc/retry >/dev/null; want 400 "retry of a bad id"
sock POST /v1/deadletters/0/retry >/dev/null; want 400 "retry of id 0"
sock DELETE /v1/deadletters/-1 >/dev/null; want 400 "drop of a negative id"
sock DELETE /v1/deadletters/99999999999999999999999 >/dev/null; want 400 "drop of an id too large"
sock POST "/v1/deadletters/all/retry?dispatcher=nosuch" >/dev/null; want 404 "retry for an unknown dispatcher"
sock GET "/v1/deadletters?max=0" >/dev/null; want 400 "max 0"
sock GET "/v1/deadletters?from=x" >/dev/null; want 400 "bad from"
sock GET "/v1/deadletters/$first/retry" >/dev/null; want 405 "GET of retry"
sock POST "/v1/deadletters/$first" >/dev/null; want 405 "POST of a dead letter"
sock POST "/v1/deadletters/$first/explode" >/dev/null; want 404 "unknown operation"
[ "$(count_dead web)" -eq 20 ] && [ "$(count_dead each)" -eq 20 ] || fail "bad requests changed the store"

# Fixed: one id, then all of them through tallyctl.
receiver 200 0
sock POST "/v1/deadletters/$each_id/retry" >/dev/null; want 200 "retry of one id"
[ "$(field "(j['retried'], j['kept'], j['source'])")" = "(1, 0, 'each')" ] || fail "retry of one: $(cat "$work/body")"
grep -q "retry of dead letter $each_id requested by socket" "$work/tallyd-1.log" || fail "the retry is not logged with who asked"
[ "$(count_dead each)" -eq 19 ] || fail "the retried dead letter is still there"
"$TALLYCTL" -c "$work/tally.yaml" deadletter retry all >"$work/ctl.out" 2>&1 ||
	fail "tallyctl deadletter retry all: $(cat "$work/ctl.out")"
grep -q "dead letters: 39 delivered, skipped 2 refused by an input" "$work/ctl.out" ||
	fail "tallyctl retry all said: $(cat "$work/ctl.out")"
[ "$(count_dead web)" -eq 0 ] && [ "$(count_dead each)" -eq 0 ] && [ "$(count_dead input:amqp)" -eq 2 ] ||
	fail "after retry all: $(cut -c1-600 "$work/body")"
"$PY" - "$work/received.jsonl" "$work/samples.jsonl" <<'PY' || fail "deliveries after the retries"
import json, sys
ids = sorted(json.loads(l)['message_id'] for l in open(sys.argv[2]))
web, each = [], []
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r['path'] == '/web':
        web += [s['message_id'] for s in r['body']]
    else:
        each.append(r['body']['message_id'])
assert sorted(web) == ids, ('web', sorted(web))
assert sorted(each) == ids, ('each', sorted(each))
PY
sock POST /v1/deadletters/all/retry >/dev/null; want 200 "retry with nothing left"
[ "$(field "(j['retried'], j['skipped']['input'])")" = "(0, 2)" ] || fail "second retry all: $(cat "$work/body")"

# Drops: one by id (tallyctl), the rest by source.
"$TALLYCTL" -c "$work/tally.yaml" deadletter drop "$input_id" >"$work/ctl.out" 2>&1 ||
	fail "tallyctl deadletter drop: $(cat "$work/ctl.out")"
grep -q "dead letter $input_id: 1 dropped" "$work/ctl.out" || fail "tallyctl drop said: $(cat "$work/ctl.out")"
grep -q "dead letter $input_id dropped by socket" "$work/tallyd-1.log" || fail "the drop is not logged with who"
"$TALLYCTL" -c "$work/tally.yaml" deadletter drop "$input_id" >/dev/null 2>&1
[ $? -eq 1 ] || fail "tallyctl drop of a dropped id: not exit 1"
"$TALLYCTL" -c "$work/tally.yaml" deadletter retry >/dev/null 2>&1
[ $? -eq 2 ] || fail "tallyctl deadletter retry without an id: not exit 2"
"$TALLYCTL" -c "$work/tally.yaml" deadletter retry 5 --dispatcher web >/dev/null 2>&1
[ $? -eq 2 ] || fail "tallyctl retry of an id with --dispatcher: not exit 2"
sock DELETE "/v1/deadletters/all?source=web" >/dev/null; want 200 "drop of another source"
[ "$(field "j['dropped']")" -eq 0 ] || fail "drop of web: $(cat "$work/body")"
sock DELETE "/v1/deadletters/all?source=input:amqp" >/dev/null; want 200 "drop by source"
[ "$(field "j['dropped']")" -eq 1 ] || fail "drop by source: $(cat "$work/body")"
sock GET /v1/deadletters >/dev/null
[ "$(field "len(j['deadletters'])")" -eq 0 ] || fail "dead letters left: $(cat "$work/body")"
# The list still works while a dispatcher is disabled; a retry for it is refused.
sock POST /v1/dispatchers/web/disable >/dev/null; want 200 "disable"
sock POST "/v1/deadletters/all/retry?dispatcher=web" >/dev/null; want 409 "retry for a disabled dispatcher"
stop_tallyd
echo "PASS"
