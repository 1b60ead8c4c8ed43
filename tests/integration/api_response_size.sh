#!/bin/sh
# api.max_response_size over a seeded SQLite store: an answer that fits is
# 200 as always; a listing that outgrows the cap in the middle of its rows
# (the answer buffer's sticky error, forced by the limit) answers 500 with
# ceilometer's error_message shape and the request id — never a truncated
# list with 200 — and the log names the request. The server goes on
# answering afterwards.
. "$top_srcdir/tests/integration/api_lib.sh"

# 300 samples of ~0.6 KiB each, of 300 resources: every listing of them all is
# far over 16 KiB.
"$PY" - "$work/seed.jsonl" <<'PY' || fail "seed"
import json, sys
with open(sys.argv[1], 'w') as f:
    for k in range(300):
        f.write(json.dumps({
            'source': 'openstack', 'counter_name': 'cpu_util', 'counter_type': 'gauge',
            'counter_unit': '%', 'counter_volume': k + 0.5, 'user_id': 'u1',
            'project_id': 'p1', 'resource_id': 'r%03d' % k,
            'timestamp': '2026-03-01T12:%02d:%02d' % (k // 60, k % 60),
            'resource_metadata': {'display_name': 'vm-%d' % k, 'disk': k, 'flag': k % 2 == 0,
                                  'nested': {'k': {'x': 'y' * 40}}, 'tags': ['a', 'b']},
            'message_id': 'msg-%04d' % k, 'message_signature': ''}) + '\n')
PY
api_start "sqlite://$work/tally.db" "$work/seed.jsonl" "max_response_size: 16KiB"

"$PY" - "$port" <<'PY' || fail "checks failed"
import json, sys, urllib.error, urllib.request
H = {'X-Roles': 'admin', 'X-User-Id': 'a', 'X-Project-Id': 'p'}

def get(path):
    req = urllib.request.Request('http://127.0.0.1:%s%s' % (sys.argv[1], path), headers=H)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()

st, hdr, body = get('/v2/samples?limit=10')
assert st == 200 and len(json.loads(body)) == 10, (st, body[:200])
for path in ('/v2/samples?limit=300', '/v2/meters/cpu_util?limit=300',
             '/v2/resources?limit=300', '/v2/meters?limit=300'):
    st, hdr, body = get(path)
    print('%s: %d, %d bytes' % (path, st, len(body)))
    assert st == 500, (path, st, body[-200:])
    err = json.loads(body)   # a whole JSON document, not a cut list
    assert list(err) == ['error_message'], err
    em = err['error_message']
    assert em['faultcode'] == 'Server' and em['debuginfo'] is None, em
    assert 'larger than api.max_response_size (16384 bytes)' in em['faultstring'], em
    rid = hdr.get('X-Openstack-Request-Id', '')
    assert rid.startswith('req-'), hdr
    assert hdr.get('Content-Type', '').startswith('application/json'), hdr
    print(rid)
st, hdr, body = get('/v2/resources?limit=5')
assert st == 200 and len(json.loads(body)) == 5, (st, body[:200])
print('ok: over api.max_response_size is a 500 error_message, under it a 200 list')
PY
# The warning of the log names the request.
grep -q 'larger than api.max_response_size (16384 bytes) (req-' "$work/tallyd-1.log" ||
	fail "the log does not name the request of the oversized answer"
stop_tallyd
echo "PASS"
