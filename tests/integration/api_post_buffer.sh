#!/bin/sh
# POST /v2/meters/NAME through a tallyd that runs both roles: the posted
# samples go into the collector's write-ahead buffer and reach every
# dispatcher (a file and a database), signed so that ceilometer's own
# verify_signature (Debian's python3-ceilometer) accepts them; with
# direct=True they go straight to storage and not to the file. They take the
# inputs' path: /v1/values sees them, a blacklist rule drops them. No broker
# is needed: the AMQP input retries a closed port meanwhile.
. "$top_srcdir/tests/integration/lib.sh"

"$PY" -c 'import ceilometer.publisher.utils' 2>/dev/null ||
	{ echo "SKIP: python3-ceilometer missing"; exit 77; }
port=$(free_port)
cat >"$work/tally.yaml" <<CONF
telemetry_secret: "s3cret"
collector:
  amqp: {urls: ["amqp://guest:guest@127.0.0.1:1/"]}
  udp: {address: ""}
  buffer: {path: "$work/buffer"}
  dispatchers:
    - {name: out, type: file, file_path: "$work/out.log"}
    - {name: db, type: database}
storage: {connection: "sqlite://$work/tally.db"}
api: {listen: 127.0.0.1, port: $port, auth: trusted-headers}
control: {port: 0}
log: {level: info}
CONF
"$TALLYCTL" -c "$work/tally.yaml" dbsync >/dev/null || fail "dbsync"
launch_tallyd 1 'listening on'

"$PY" - "$port" "$work/out.log" <<'PY' || fail "checks failed"
import json, sys, time, urllib.request, urllib.error
from ceilometer.publisher import utils

port, out = sys.argv[1], sys.argv[2]
base = 'http://127.0.0.1:%s' % port
H = {'X-Roles': 'member', 'X-User-Id': 'u1', 'X-Project-Id': 'p1',
     'Content-Type': 'application/json', 'Accept': '*/*',
     'User-Agent': 'ceilometerclient.apiclient'}

def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, headers=H,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)

# What the ceilometer CLI's sample-create sends: counter_volume as a string.
posted = [{'counter_name': 'apples', 'counter_type': 'gauge', 'counter_unit': 'instance',
           'counter_volume': '1.5', 'resource_id': 'r1',
           'resource_metadata': {'name1': 'value1', 'flavor.name': 'm1.tiny'},
           'timestamp': '2026-03-01T12:00:00.123456'},
          {'counter_name': 'apples', 'counter_type': 'cumulative', 'counter_unit': 'instance',
           'counter_volume': 7, 'resource_id': 'r2'}]
st, echo = call('POST', '/v2/meters/apples', posted)
assert st == 201, (st, echo)
assert len(echo) == 2
for e in echo:
    assert e['project_id'] == 'p1' and e['user_id'] == 'u1', e
    assert e['source'] == 'p1:openstack', e
    assert 'recorded_at' not in e and len(e['message_id']) == 36, e
assert echo[0]['counter_volume'] == 1.5 and echo[0]['timestamp'] == '2026-03-01T12:00:00.123456'
assert echo[0]['resource_metadata'] == {'name1': 'value1', 'flavor.name': 'm1.tiny'}

# The file dispatcher got them from the buffer, signed.
lines = []
for _ in range(100):
    try:
        lines = [json.loads(l) for l in open(out)]
    except FileNotFoundError:
        pass
    if len(lines) >= 2:
        break
    time.sleep(0.1)
assert len(lines) == 2, lines
by_id = {l['message_id']: l for l in lines}
for e in echo:
    m = by_id[e['message_id']]
    assert utils.verify_signature(m, 's3cret'), m
    for k in ('counter_name', 'counter_type', 'counter_unit', 'resource_id', 'project_id',
              'user_id', 'source', 'timestamp'):
        assert m[k] == e[k], (k, m[k], e[k])
# restore_nesting: "flavor.name" is stored nested.
assert by_id[echo[0]['message_id']]['resource_metadata'] == \
    {'name1': 'value1', 'flavor': {'name': 'm1.tiny'}}

# The database dispatcher got them too: the API reads them back, flattened again.
for _ in range(100):
    st, got = call('GET', '/v2/meters/apples')
    if st == 200 and len(got) == 2:
        break
    time.sleep(0.1)
assert st == 200 and len(got) == 2, (st, got)
old = [g for g in got if g['resource_id'] == 'r1'][0]
assert old['resource_metadata'] == {'name1': 'value1', 'flavor.name': 'm1.tiny'}, old
assert old['counter_volume'] == 1.5

# direct=True: straight to storage, not through the buffer (the file sees nothing new).
st, echo2 = call('POST', '/v2/meters/pears?direct=True',
                 [{'counter_name': 'pears', 'counter_type': 'delta', 'counter_unit': 'kg',
                   'counter_volume': 3, 'resource_id': 'r3', 'project_id': 'p1'}])
assert st == 201, (st, echo2)
st, got = call('GET', '/v2/meters/pears')
assert st == 200 and len(got) == 1 and got[0]['message_id'] == echo2[0]['message_id'], got
time.sleep(0.5)
assert len(open(out).readlines()) == 2

# Posting to another project as a member is refused, as ceilometer did.
st, err = call('POST', '/v2/meters/pears',
               [{'counter_name': 'pears', 'counter_type': 'delta', 'counter_unit': 'kg',
                 'counter_volume': 3, 'resource_id': 'r3', 'project_id': 'p2'}])
assert st == 400 and 'can not post samples to other projects' in \
    err['error_message']['faultstring'], (st, err)
print('ok: posted samples reach the file and the database, signed; direct bypasses the buffer')
PY

# Posted samples take the inputs' path: the latest values see them, and a
# blacklist rule drops those it matches (counted) while the others go on.
cport=$(sed -n 's/.*\[control\] listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$work/tallyd-1.log" | head -n 1)
[ -n "$cport" ] || fail "no control port in the log"
ctl="http://127.0.0.1:$cport"
curl -s "$ctl/v1/values/r1/apples" | grep -q '"volume": 1.5' ||
	fail "the posted sample is not in /v1/values: $(curl -s "$ctl/v1/values/r1/apples")"
curl -s -o "$work/rule" -w '%{http_code}' -X POST -d '{"meters": ["bananas"]}' "$ctl/v1/blacklist" |
	grep -q 201 || fail "blacklist rule: $(cat "$work/rule")"
post() { # METER RESOURCE
	curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-Roles: member' -H 'X-User-Id: u1' \
		-H 'X-Project-Id: p1' -H 'Content-Type: application/json' \
		-d "[{\"counter_name\": \"$1\", \"counter_type\": \"gauge\", \"counter_unit\": \"b\", \"counter_volume\": 1, \"resource_id\": \"$2\"}]" \
		"http://127.0.0.1:$port/v2/meters/$1"
}
[ "$(post bananas r5)" = 201 ] || fail "POST bananas"
[ "$(post apples r6)" = 201 ] || fail "POST apples"
i=0
until [ "$(wc -l <"$work/out.log")" -ge 3 ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.3
[ "$(wc -l <"$work/out.log")" -eq 3 ] || fail "want 3 samples in the file: $(cat "$work/out.log")"
grep -q '"bananas"' "$work/out.log" && fail "a blacklisted posted sample was stored"
curl -s "$ctl/v1/blacklist" | grep -q '"hits": 1' || fail "hits: $(curl -s "$ctl/v1/blacklist")"
echo "ok: posted samples update the latest values; the blacklist drops the matching one"
stop_tallyd
echo "PASS"
