#!/bin/sh
# The query API over a seeded PostgreSQL store (a private cluster started by
# scripts/postgresql): the same checks as api_sqlite.sh. Then a query that
# cannot finish (the sample table locked by another session) must answer 503
# with a faultstring once api.statement_timeout (2 s here) has passed, and
# the server must answer normally as soon as the lock is gone.
. "$top_srcdir/tests/integration/api_lib.sh"
pg_cleanup() {
	$PG stop "$work/pg" >/dev/null 2>&1
	lib_cleanup
}
trap pg_cleanup EXIT
start_postgresql
url=$($PG createdb "$work/pg" api) || fail "createdb"

slow_query() {
	"$PY" - "$url" "$port" <<'PY' || fail "slow query"
import json, subprocess, sys, time, urllib.error, urllib.request
url, port = sys.argv[1:3]
H = {'X-Roles': 'admin', 'X-User-Id': 'a', 'X-Project-Id': 'p'}
locker = subprocess.Popen(['psql', '-X', '-q', url, '-c',
                           'BEGIN; LOCK TABLE sample IN ACCESS EXCLUSIVE MODE; '
                           'SELECT pg_sleep(6); COMMIT;'], stdout=subprocess.DEVNULL)
time.sleep(1)
def get(path):
    req = urllib.request.Request('http://127.0.0.1:%s%s' % (port, path), headers=H)
    t = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.load(r), time.monotonic() - t
    except urllib.error.HTTPError as e:
        return e.code, json.load(e), time.monotonic() - t
st, body, took = get('/v2/samples?limit=7')
print('while locked: %d after %.1f s: %s' % (st, took, body))
assert st == 503 and 'faultstring' in body['error_message'], body
assert 1.5 <= took < 10, took
st, body, took = get('/v2/capabilities')
assert st == 200, (st, body)   # the server still answers what needs no lock
locker.wait()
st, body, took = get('/v2/samples?limit=7')
print('after the lock: %d, %d samples' % (st, len(body)))
assert st == 200 and len(body) == 7, (st, body)
PY
}
API_STATEMENT_TIMEOUT=2 api_run "$url" slow_query
