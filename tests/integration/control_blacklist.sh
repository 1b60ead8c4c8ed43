#!/bin/sh
# Blacklist rules through the control API (issue 16): samples published by
# oslo.messaging to a real RabbitMQ; a rule of one exact meter and one of a
# resource prefix with two meters drop exactly the samples they match (the
# file dispatcher's output holds exactly the others), counted per rule, in
# /v1/inputs and /metrics; bad input changes nothing; the rules survive a
# restart and still drop; a rule that expires stops dropping and is removed;
# tallyctl blacklist add/list/rm.
#
# The key check (the stored samples are exactly the non-matching ones, and the
# hit counts are exact) breaks when a rule matches too much (a prefix taken as
# exact or the other way round, "cpu" matching "cpu_util") or too little (a
# sample matched only through the second pattern of a list).
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
SECRET='blacklist secret'
write_conf "$SECRET" "$(free_port)"
sed -i -e "s|^control: {port: 0}|control: {port: 0, socket: \"$work/control.sock\"}|" "$work/tally.yaml"
start_tallyd 1

publish() { # OUT: 200 samples, 10 per message, always the same ones (seed 41)
	"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
		--count 200 --per-message 10 --seed 41 --out "$1" 2>"$work/publish.err" ||
		{ cat "$work/publish.err"; fail "publish.py failed"; }
}
flush() { req POST "/v1/flush?wait=20"; want 200 "flush"; }
lines() { wc -l <"$work/out.log"; }
body() { printf '%s' "$1" >"$work/req.json"; }

publish "$work/s.jsonl"
flush
[ "$(lines)" -eq 200 ] || fail "without rules: $(lines) samples stored, want 200"

# Rules from what was published: rule 2's resources are the first character of
# the first sample's resource as a prefix, and one exact resource of another
# first character that has samples of rule 2's meters.
set -- $("$PY" -c "
import json, sys
sent = [json.loads(l) for l in open(sys.argv[1])]
p = sent[0]['resource_id'][:1]
print(p, [s['resource_id'] for s in sent if not s['resource_id'].startswith(p) and
          s['counter_name'] in ('cpu_util', 'memory.usage')][0])" "$work/s.jsonl")
prefix=$1 exact=$2
body '{"meters": ["cpu"]}'
req POST /v1/blacklist "$work/req.json"; want 201 "add rule 1"
[ "$(field "(j['id'], j['meters'], j['hits'], j['expires'], j['who'])")" = "('bl-1', ['cpu'], 0, None, 'socket')" ] ||
	fail "rule 1 as answered: $(cat "$work/body")"
body "{\"resources\": [\"$prefix*\", \"$exact\"], \"meters\": [\"cpu_util\", \"memory.usage\"]}"
req POST /v1/blacklist "$work/req.json"; want 201 "add rule 2"

# check FROM_LINE PHASE: the lines of out.log from FROM_LINE on are exactly the
# published samples that no rule matches (by message_id, as a multiset), and
# the hits of bl-1 and bl-2 are PHASE times their matches.
check() {
	req GET /v1/blacklist; want 200 "GET /v1/blacklist"
	cp "$work/body" "$work/rules.json"
	"$PY" - "$work/s.jsonl" "$work/out.log" "$1" "$2" "$prefix" "$work/rules.json" "$exact" <<'PY' || fail "blacklist check (phase $2)"
import collections, json, sys
sent = [json.loads(l) for l in open(sys.argv[1])]
out = [json.loads(l) for l in open(sys.argv[2])][int(sys.argv[3]):]
phase, prefix = int(sys.argv[4]), sys.argv[5]
rules = {r['id']: r for r in json.load(open(sys.argv[6]))['rules']}
r1 = [s for s in sent if s['counter_name'] == 'cpu']
r2 = [s for s in sent if (s['resource_id'].startswith(prefix) or s['resource_id'] == sys.argv[7])
      and s['counter_name'] in ('cpu_util', 'memory.usage')]
drop = {s['message_id'] for s in r1 + r2}
want = collections.Counter(s['message_id'] for s in sent if s['message_id'] not in drop)
got = collections.Counter(s['message_id'] for s in out)
print('published %d: rule 1 matches %d, rule 2 %d; stored %d, want %d' % (len(sent), len(r1), len(r2), len(out), sum(want.values())))
if not r1 or not any(s['resource_id'].startswith(prefix) for s in r2) or \
        not any(s['resource_id'] == sys.argv[7] for s in r2):
    sys.exit('the data has no sample for a rule: the test proves nothing')
if got != want:
    sys.exit('stored samples differ: %d extra, %d missing' % (sum((got - want).values()), sum((want - got).values())))
if (rules['bl-1']['hits'], rules['bl-2']['hits']) != (phase * len(r1), phase * len(r2)):
    sys.exit('hits %d and %d, want %d and %d' % (rules['bl-1']['hits'], rules['bl-2']['hits'], phase * len(r1), phase * len(r2)))
print('%d %d' % (len(r1), len(r2)), file=open(sys.argv[6] + '.counts', 'w'))
PY
}

publish "$work/s.jsonl"
flush
check 200 1
read -r n1 n2 <"$work/rules.json.counts"
req GET /v1/inputs; want 200 "GET /v1/inputs"
[ "$(field "[i['blacklisted'] for i in j['inputs'] if i['name'] == 'amqp'][0]")" -eq $((n1 + n2)) ] ||
	fail "inputs: blacklisted is not $((n1 + n2)): $(cat "$work/body")"
req GET /metrics; want 200 "GET /metrics"
grep -qx "tally_input_blacklisted_total{input=\"amqp\"} $((n1 + n2))" "$work/body" ||
	fail "metrics: $(grep blacklisted "$work/body")"
req GET /v1/deadletters; want 200 "dead letters"
[ "$(field "len(j['deadletters'])")" -eq 0 ] || fail "blacklisted samples were dead-lettered"

# Bad input: 4xx with a message each, and the rules unchanged.
req GET /v1/blacklist; cp "$work/body" "$work/before.json"
long=$("$PY" -c "print('x' * 256)")
many=$("$PY" -c "import json; print(json.dumps({'meters': ['m%d' % i for i in range(1001)]}))")
for case in "400|{" "400|{}" "400|[\"cpu\"]" "400|{\"meters\": []}" "400|{\"meters\": \"cpu\"}" \
	"400|{\"meters\": [1]}" "400|{\"meters\": [\"$long\"]}" "400|{\"meters\": [\"\"]}" \
	"400|{\"meters\": [\"a*b\"]}" "400|{\"meters\": [\"x\"], \"hosts\": [\"y\"]}" \
	"400|{\"meters\": [\"x\"], \"expires\": \"tomorrow\"}" \
	"400|{\"meters\": [\"x\"], \"expires\": -5}" \
	"400|{\"meters\": [\"x\"], \"expires\": \"2001-01-01T00:00:00Z\"}" \
	"400|{\"meters\": [\"x\"], \"expires\": true}" "400|$many"; do
	body "${case#*|}"
	req POST /v1/blacklist "$work/req.json"; want "${case%%|*}" "POST ${case#*|}"
	[ -n "$(field "j['error']['message']")" ] || fail "no message for ${case#*|}"
done
body '{}'; req POST /v1/blacklist "$work/req.json"
field "j['error']['message']" | grep -q "drop every sample" || fail "empty rule: $(cat "$work/body")"
"$PY" -c "print('{\"meters\": [\"' + 'x' * (1100 * 1024) + '\"]}')" >"$work/req.json"
req POST /v1/blacklist "$work/req.json"; want 413 "a body over 1 MiB"
req DELETE /v1/blacklist/bl-99; want 404 "DELETE an unknown id"
req DELETE /v1/blacklist/nonsense; want 404 "DELETE a bad id"
req GET /v1/blacklist/bl-99; want 404 "GET an unknown id"
req PUT /v1/blacklist; want 405 "PUT"
req DELETE /v1/blacklist; want 405 "DELETE without an id"
req GET /v1/blacklist; want 200 "GET after the bad input"
cmp -s "$work/body" "$work/before.json" || fail "bad input changed the rules: $(cat "$work/body")"

# A restart: the rules are loaded and still drop (hits start again from 0).
stop_tallyd
start_tallyd 2
grep -q "2 rule(s) loaded" "$work/tallyd-2.log" || fail "the restart did not load 2 rules"
req GET /v1/blacklist/bl-2; want 200 "bl-2 after the restart"
[ "$(field "(j['hits'], j['meters'])")" = "(0, ['cpu_util', 'memory.usage'])" ] || fail "bl-2 after the restart: $(cat "$work/body")"
from=$(lines)
publish "$work/s.jsonl"
flush
check "$from" 1

# A rule that expires: it drops until then, then it is removed and drops nothing.
project=$("$PY" -c "
import json, sys
for l in open(sys.argv[1]):
    s = json.loads(l)
    if s['counter_name'] not in ('cpu', 'cpu_util', 'memory.usage'):
        print(s['project_id']); break" "$work/s.jsonl")
body "{\"projects\": [\"$project\"], \"expires\": 8}"
req POST /v1/blacklist "$work/req.json"; want 201 "add an expiring rule"
[ "$(field "(j['id'], j['expires'] is not None, j['expired'])")" = "('bl-3', True, False)" ] || fail "bl-3: $(cat "$work/body")"
from=$(lines)
publish "$work/s.jsonl"
flush
req GET /v1/blacklist/bl-3; want 200 "bl-3"
n3=$(field "j['hits']")
[ "$n3" -gt 0 ] || fail "the expiring rule dropped nothing"
[ $(($(lines) - from)) -eq $((200 - n1 - n2 - n3)) ] || fail "with bl-3: $(($(lines) - from)) stored, want $((200 - n1 - n2 - n3))"
wait_log "$work/tallyd-2.log" "rule bl-3 expired ($n3 hit(s))" 15 "$tpid" tallyd
req GET /v1/blacklist/bl-3; want 404 "bl-3 after it expired"
from=$(lines)
publish "$work/s.jsonl"
flush
check "$from" 3

# tallyctl.
"$TALLYCTL" -c "$work/tally.yaml" blacklist add --meter zzz --source 'open*' --expires 3600 \
	>"$work/ctl.out" 2>&1 || fail "tallyctl blacklist add: $(cat "$work/ctl.out")"
grep -q "added blacklist rule bl-4" "$work/ctl.out" || fail "tallyctl add said: $(cat "$work/ctl.out")"
"$TALLYCTL" -c "$work/tally.yaml" blacklist list >"$work/ctl.out" 2>&1 || fail "tallyctl blacklist list"
grep -q "^bl-4 .*meters=zzz sources=open\*" "$work/ctl.out" || fail "tallyctl list: $(cat "$work/ctl.out")"
"$TALLYCTL" -c "$work/tally.yaml" blacklist rm bl-4 >"$work/ctl.out" 2>&1 || fail "tallyctl rm: $(cat "$work/ctl.out")"
"$TALLYCTL" -c "$work/tally.yaml" blacklist rm bl-4 >"$work/ctl.out" 2>&1
[ $? -eq 1 ] || fail "tallyctl rm of a removed rule did not fail"
"$TALLYCTL" -c "$work/tally.yaml" blacklist add >"$work/ctl.out" 2>&1
[ $? -eq 2 ] || fail "tallyctl add without a pattern is not a usage error"
req GET /v1/blacklist; want 200 "GET at the end"
[ "$(field "[r['id'] for r in j['rules']]")" = "['bl-1', 'bl-2']" ] || fail "rules at the end: $(cat "$work/body")"
stop_tallyd
echo "PASS"
