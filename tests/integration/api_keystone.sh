#!/bin/sh
# The query API with api.auth keystone against a real Keystone (Debian's
# python3-keystone under uwsgi, scripts/keystone), issuing real tokens: the
# RBAC matrix of docs/compatibility.md §6.1 — admin, a member of the project, a member
# of another project, no token, a bad token, a revoked token, an expired
# token — and Keystone down (503). Tokens live 40 s here, so the expiry and
# the service token's renewal happen during the test.
. "$top_srcdir/tests/integration/lib.sh"

ks_cleanup() {
	"$KS" stop "$work/ks" >/dev/null 2>&1
	lib_cleanup
}
trap ks_cleanup EXIT
start_keystone 40

port=$(free_port)
cat >"$work/tally.yaml" <<CONF
telemetry_secret: "s3cret"
collector: {enabled: false}
storage: {connection: "sqlite://$work/tally.db"}
api:
  listen: 127.0.0.1
  port: $port
  auth: keystone
  keystone:
    auth_url: "$TALLY_KS_URL"
    username: tally
    password: "$TALLY_KS_SERVICE_PASSWORD"
    project_name: service
    cache_time: 2
control: {port: 0}
log: {level: info}
CONF
"$TALLYCTL" -c "$work/tally.yaml" dbsync >/dev/null || fail "dbsync"
launch_tallyd 1 'listening on'

export KS_DIR="$work/ks" KS_SCRIPT="$KS" API_PORT="$port"
"$PY" - <<'PY' || { "$KS" logs "$work/ks" | tail -n 20; fail "checks failed"; }
import json, os, subprocess, sys, time, urllib.request, urllib.error

E = os.environ
base = 'http://127.0.0.1:%s' % E['API_PORT']
DEMO, OTHER = E['TALLY_KS_DEMO_PROJECT_ID'], E['TALLY_KS_OTHER_PROJECT_ID']
failures = []

def ks(*args):
    return subprocess.run([E['KS_SCRIPT']] + list(args), check=True, capture_output=True,
                          text=True).stdout.strip()

def token(user, pw, project):
    return ks('token', E['KS_DIR'], user, pw, project)

def call(method, path, tok=None, body=None):
    h = {'Accept': '*/*', 'User-Agent': 'ceilometerclient.apiclient'}
    if tok is not None:
        h['X-Auth-Token'] = tok
    if body is not None:
        h['Content-Type'] = 'application/json'
    req = urllib.request.Request(base + path, method=method, headers=h,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers), json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.load(e)

def check(what, cond, detail=''):
    print(('ok   ' if cond else 'FAIL ') + what + ('' if cond else ': %s' % (detail,)))
    if not cond:
        failures.append(what)

admin = token('admin', E['TALLY_KS_ADMIN_PASSWORD'], 'admin')
m1 = token('member1', 'member1pw', 'demo')
m2 = token('member2', 'member2pw', 'other')

# The admin posts one sample into each project (an admin may name any project).
ids = {}
for proj in (DEMO, OTHER):
    st, _, echo = call('POST', '/v2/meters/cpu?direct=True', admin,
                       [{'counter_name': 'cpu', 'counter_type': 'gauge', 'counter_unit': 'ns',
                         'counter_volume': 1, 'resource_id': 'r-' + proj, 'project_id': proj}])
    check('admin posts into project %s' % proj, st == 201, (st, echo))
    ids[proj] = echo[0]['message_id'] if st == 201 else None

# No token, a bad token: 401 with WWW-Authenticate naming Keystone.
for name, tok in (('no token', None), ('bad token', 'gAAAAABbogus'), ('empty token', '')):
    st, hdr, body = call('GET', '/v2/samples', tok)
    check(name + ' -> 401', st == 401, (st, body))
    check(name + ' -> WWW-Authenticate', hdr.get('WWW-Authenticate', '').startswith(
        "Keystone uri='%s'" % E['TALLY_KS_URL']), hdr)
    check(name + ' -> request id', hdr.get('X-Openstack-Request-Id', '').startswith('req-'), hdr)

# Admin: everything.
st, _, got = call('GET', '/v2/samples', admin)
check('admin sees both projects', st == 200 and {s['project_id'] for s in got} == {DEMO, OTHER},
      (st, got))
st, _, got = call('GET', '/v2/event_types', admin)
check('admin lists event types', st == 200, (st, got))

# A member: their project only, on every endpoint.
for name, tok, mine, theirs in (('member1', m1, DEMO, OTHER), ('member2', m2, OTHER, DEMO)):
    st, _, got = call('GET', '/v2/samples', tok)
    check(name + ' sees only own samples', st == 200 and [s['project_id'] for s in got] == [mine],
          (st, got))
    st, _, got = call('GET', '/v2/meters', tok)
    check(name + ' sees only own meters', st == 200 and [m['project_id'] for m in got] == [mine],
          (st, got))
    st, _, got = call('GET', '/v2/resources', tok)
    check(name + ' sees only own resources',
          st == 200 and [r['project_id'] for r in got] == [mine], (st, got))
    st, _, got = call('GET', '/v2/meters/cpu/statistics', tok)
    check(name + ' statistics over own samples', st == 200 and len(got) == 1 and
          got[0]['count'] == 1, (st, got))
    st, _, got = call('POST', '/v2/query/samples', tok, {})
    check(name + ' complex query scoped', st == 200 and [s['project_id'] for s in got] == [mine],
          (st, got))
    st, _, got = call('GET', '/v2/samples/' + ids[theirs], tok)
    check(name + ' cannot read a sample of another project by id', st == 404, (st, got))
    st, _, got = call('GET', '/v2/samples/' + ids[mine], tok)
    check(name + ' reads own sample by id', st == 200 and got['id'] == ids[mine], (st, got))
    st, _, got = call('GET', '/v2/resources/r-' + theirs, tok)
    check(name + ' cannot read a resource of another project', st == 404, (st, got))
    st, _, got = call('GET', '/v2/samples?q.field=project_id&q.op=eq&q.type=&q.value=' + theirs,
                      tok)
    check(name + ' asking for another project -> 401', st == 401 and
          got['error_message']['faultstring'] == 'Not Authorized to access project ' + theirs,
          (st, got))
    st, _, got = call('GET', '/v2/event_types', tok)
    check(name + ' event types -> 401', st == 401, (st, got))
    st, _, got = call('POST', '/v2/meters/cpu', tok,
                      [{'counter_name': 'cpu', 'counter_type': 'gauge', 'counter_unit': 'ns',
                        'counter_volume': 1, 'resource_id': 'x', 'project_id': theirs}])
    check(name + ' posting to another project -> 400', st == 400, (st, got))

# X-Auth-Token given twice (issue 21): refused, whichever tokens they are; a lookup takes the
# first, so behind a proxy that appends its own token the client's would win.
import http.client
for name, toks in (('member and admin', (m1, admin)), ('the same token', (admin, admin))):
    conn = http.client.HTTPConnection('127.0.0.1', int(base.rsplit(':', 1)[1]), timeout=30)
    conn.putrequest('GET', '/v2/samples')
    for t in toks:
        conn.putheader('X-Auth-Token', t)
    conn.endheaders()
    r = conn.getresponse()
    body = json.loads(r.read())
    conn.close()
    check('X-Auth-Token twice (%s) -> 400' % name, r.status == 400 and
          'X-Auth-Token was given 2 times' in body['error_message']['faultstring'],
          (r.status, body))

# Revoked: honoured once the cache (cache_time 2 s) lets go.
m1b = token('member1', 'member1pw', 'demo')
st, _, _ = call('GET', '/v2/samples', m1b)
check('fresh member token works', st == 200, st)
ks('revoke', E['KS_DIR'], m1b)
time.sleep(2.5)
st, _, got = call('GET', '/v2/samples', m1b)
check('revoked token -> 401', st == 401, (st, got))

# Expired: tokens live 40 s here; the service token is renewed meanwhile.
late = token('member2', 'member2pw', 'other')
st, _, _ = call('GET', '/v2/samples', late)
check('token before expiry works', st == 200, st)
time.sleep(41)
st, _, got = call('GET', '/v2/samples', late)
check('expired token -> 401', st == 401, (st, got))
fresh = token('member2', 'member2pw', 'other')
st, _, got = call('GET', '/v2/samples', fresh)
check('a new token works after the service token expired', st == 200, (st, got))

# Keystone down: a token the API has not seen cannot be checked: 503.
other = token('member1', 'member1pw', 'demo')
ks('stop', E['KS_DIR'])
st, _, got = call('GET', '/v2/samples', other)
check('keystone down -> 503', st == 503, (st, got))
print('%d failures' % len(failures))
sys.exit(1 if failures else 0)
PY
grep -q 'tally' "$work/tallyd-1.log" && ! grep -E 'gAAAA|tallypw' "$work/tallyd-1.log" >/dev/null ||
	fail "a token or the password reached the log"
stop_tallyd
echo "PASS"
