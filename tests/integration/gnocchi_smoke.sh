#!/bin/sh
# The Gnocchi test peer (scripts/gnocchi): a real gnocchi-api from Debian's
# packages starts, takes ceilometer's resource types and archive policies,
# answers a batch naming an unknown resource with 400 "Unknown resources"
# (docs/compatibility.md §4.4), accepts it (202) once the resource exists, and gives the
# measure back with ?refresh=true. What the gnocchi dispatcher relies on.
. "$top_srcdir/tests/integration/lib.sh"

start_gnocchi
"$GN" seed "$work/gn" || { "$GN" logs "$work/gn"; fail "cannot seed Gnocchi"; }

"$PY" - "$TALLY_GNOCCHI_URL" <<'PY' || { "$GN" logs "$work/gn" | tail -n 30; fail "checks failed"; }
import base64, json, sys, urllib.error, urllib.request
url = sys.argv[1]
H = {'Authorization': 'Basic ' + base64.b64encode(b'admin:').decode(),
     'Accept': 'application/json', 'Content-Type': 'application/json', 'Connection': 'close'}

def call(method, path, body=None):
    req = urllib.request.Request(url + path, method=method, headers=H,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            t = r.read()
            return r.status, json.loads(t) if t else None
    except urllib.error.HTTPError as e:
        t = e.read()
        return e.code, json.loads(t) if t else None

st, types = call('GET', '/v1/resource_type')
names = {t['name'] for t in types}
assert st == 200 and {'instance', 'instance_disk', 'volume', 'image'} <= names, names
st, aps = call('GET', '/v1/archive_policy')
assert {'ceilometer-low', 'ceilometer-high'} <= {a['name'] for a in aps}, aps
rid = '8a1e5c1a-0000-4000-8000-000000000001'
batch = {rid: {'cpu_util': {'archive_policy_name': 'ceilometer-low', 'unit': '%',
                            'measures': [{'timestamp': '2026-03-01T12:00:00', 'value': 42.0}]}}}
st, body = call('POST', '/v1/batch/resources/metrics/measures?create_metrics=true', batch)
assert st == 400 and body['description']['cause'] == 'Unknown resources', (st, body)
assert body['description']['detail'][0]['resource_id'] == rid, body
st, body = call('POST', '/v1/resource/instance', {
    'id': rid, 'user_id': 'u', 'project_id': 'p', 'flavor_id': '1', 'host': 'h',
    'display_name': 'vm', 'flavor_name': 'm1.tiny'})
assert st == 201, (st, body)
st, body = call('POST', '/v1/batch/resources/metrics/measures?create_metrics=true', batch)
assert st == 202, (st, body)
st, m = call('GET', '/v1/resource/instance/%s/metric/cpu_util/measures?refresh=true' % rid)
assert st == 200 and [x[2] for x in m] == [42.0], (st, m)
print('ok: types and policies seeded; unknown resource 400; created; batch 202; measure read back')
PY
echo "PASS"
