#!/bin/sh
# The control API (docs/control.md) with control.auth keystone against a real
# Keystone (scripts/keystone: Debian's python3-keystone under uwsgi), over
# TCP: no token and a bad token 401; a token with the reader role may read
# (GET /v1/dispatchers) but not change (403 on disable, nothing changed); an
# admin token may disable and enable, and the log names the user; a token
# with neither role 403 even on GET; Keystone stopped: a token tallyd has not
# seen 503, a cached one still answers. The collector runs with a file
# dispatcher and no broker (its AMQP input retries a closed port): the
# dispatchers are what is read and changed here. Samples of two projects
# sent over UDP: a reader (not an admin) sees in /v1/values and /v1/meters
# only its token's project's series; the admin sees all.
. "$top_srcdir/tests/integration/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }

ks_cleanup() {
	"$KS" stop "$work/ks" >/dev/null 2>&1
	lib_cleanup
}
trap ks_cleanup EXIT
start_keystone

# A user with the reader role alone (in project demo). Keystone's bootstrap
# makes admin imply member and member imply reader, so member1's tokens carry
# reader too; the service user "tally" has neither role.
admin=$("$KS" token "$work/ks" admin "$TALLY_KS_ADMIN_PASSWORD" admin) || fail "no admin token"
kcurl() { curl -s -m 20 -H "X-Auth-Token: $admin" -H 'Content-Type: application/json' "$@"; }
jid() { "$PY" -c "import json,sys; print(json.load(sys.stdin)$1)"; }
reader_role=$(kcurl "$TALLY_KS_URL/roles?name=reader" | jid "['roles'][0]['id']") ||
	fail "Keystone has no reader role"
reader_id=$(kcurl -X POST "$TALLY_KS_URL/users" \
	-d '{"user":{"name":"reader1","domain_id":"default","password":"reader1pw"}}' | jid "['user']['id']") ||
	fail "cannot create the user reader1"
code=$(kcurl -o /dev/null -w '%{http_code}' -X PUT \
	"$TALLY_KS_URL/projects/$TALLY_KS_DEMO_PROJECT_ID/users/$reader_id/roles/$reader_role")
[ "$code" = 204 ] || fail "cannot grant reader to reader1: HTTP $code"

closed=$(free_port)
udp=$(free_port)
cat >"$work/tally.yaml" <<CONF
telemetry_secret: "control keystone"
collector:
  amqp: {urls: ["amqp://guest:guest@127.0.0.1:$closed/"], workers: 1}
  udp: {address: "127.0.0.1", port: $udp}
  buffer: {path: "$work/buffer", max_size: 64MiB}
  dispatchers: [{name: out, type: file, file_path: "$work/out.log"}]
api: {enabled: false}
control:
  port: 0
  auth: keystone
  reader_roles: [reader]
  admin_roles: [admin]
  keystone:
    auth_url: "$TALLY_KS_URL"
    username: tally
    password: "$TALLY_KS_SERVICE_PASSWORD"
    project_name: service
    cache_time: 60
log: {level: info}
CONF
start_tallyd_nobroker 1
wait_log "$work/tallyd-1.log" "control.*listening on 127.0.0.1 port" 10 "$tpid" tallyd
cport=$(sed -n 's/.*control.*listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$work/tallyd-1.log" | head -n 1)

# tcp METHOD PATH [TOKEN]: prints the body, leaves the status in $work/status.
tcp() {
	if [ -n "${3-}" ]; then h="X-Auth-Token: $3"; elif [ -n "${3+set}" ]; then h="X-Auth-Token;"; else h=; fi
	curl -s -m 30 -o "$work/body" -w '%{http_code}' ${h:+-H "$h"} \
		-X "$1" "http://127.0.0.1:$cport$2" >"$work/status"
	cat "$work/body"
}
status() { cat "$work/status"; }
want() { [ "$(status)" = "$1" ] || fail "$2: status $(status), want $1: $(cat "$work/body")"; }
field() { "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($1)" "$work/body"; }
state() {
	tcp GET /v1/dispatchers/out "$admin" >/dev/null; want 200 "read the state as admin"
	field "j['state']"
}
token() { "$KS" token "$work/ks" "$@" || fail "no token for $1"; }

reader=$(token reader1 reader1pw demo)
service=$(token tally "$TALLY_KS_SERVICE_PASSWORD" service)

tcp GET /healthz >/dev/null; want 200 "/healthz without credentials"
tcp GET /v1/dispatchers >/dev/null; want 401 "no token"
[ "$(field "j['error']['request_id'][:4]")" = "req-" ] || fail "an error without a request id"
tcp GET /v1/dispatchers gAAAAABbogus >/dev/null; want 401 "a bad token"
tcp GET /v1/dispatchers "" >/dev/null; want 401 "an empty token"

tcp GET /v1/dispatchers "$reader" >/dev/null; want 200 "GET as reader"
[ "$(field "[d['name'] + ':' + d['state'] for d in j['dispatchers']]")" = "['out:running']" ] ||
	fail "dispatchers as reader: $(cat "$work/body")"
tcp GET /metrics "$reader" >/dev/null; want 200 "/metrics as reader"
tcp POST /v1/dispatchers/out/disable "$reader" >/dev/null; want 403 "disable as reader"
[ "$(state)" = running ] || fail "a reader's refused disable changed the state"
tcp POST /v1/inputs/amqp/pause "$reader" >/dev/null; want 403 "pause as reader"

tcp GET /v1/dispatchers "$service" >/dev/null; want 403 "GET with neither role"
tcp POST /v1/dispatchers/out/disable "$service" >/dev/null; want 403 "disable with neither role"
[ "$(state)" = running ] || fail "a refused disable changed the state"

tcp POST /v1/dispatchers/out/disable "$admin" >/dev/null; want 200 "disable as admin"
[ "$(field "j['state']")" = disabled ] || fail "not disabled: $(cat "$work/body")"
[ "$(state)" = disabled ] || fail "the admin's disable did not hold"
grep -q "dispatcher out disabled by user $TALLY_KS_ADMIN_USER_ID from 127.0.0.1" "$work/tallyd-1.log" ||
	fail "the disable is not logged with the user id"
tcp POST /v1/dispatchers/out/enable "$admin" >/dev/null; want 200 "enable as admin"
[ "$(state)" = running ] || fail "the admin's enable did not hold"
grep -q "dispatcher out enabled by user $TALLY_KS_ADMIN_USER_ID from 127.0.0.1" "$work/tallyd-1.log" ||
	fail "the enable is not logged with the user id"
! grep -q "by user $reader_id" "$work/tallyd-1.log" || fail "a refused change was logged as made"

# tallyctl with a Keystone token in OS_TOKEN, as the OpenStack clients take it.
OS_TOKEN=$reader "$TALLYCTL" dispatcher list --url "http://127.0.0.1:$cport" >"$work/ctl.out" 2>&1 ||
	fail "tallyctl with the reader's OS_TOKEN: $(cat "$work/ctl.out")"
OS_TOKEN=$reader "$TALLYCTL" dispatcher disable out --url "http://127.0.0.1:$cport" \
	>/dev/null 2>"$work/ctl.err"
[ $? -eq 1 ] && grep -q "403" "$work/ctl.err" || fail "tallyctl disable as reader: $(cat "$work/ctl.err")"
OS_TOKEN=$admin "$TALLYCTL" dispatcher disable out --url "http://127.0.0.1:$cport" >/dev/null ||
	fail "tallyctl disable with the admin's OS_TOKEN"
OS_TOKEN=$admin "$TALLYCTL" dispatcher enable out --url "http://127.0.0.1:$cport" >/dev/null ||
	fail "tallyctl enable with the admin's OS_TOKEN"

# Project scope: 5 series of reader1's project (demo: 3 cpu, 2 memory.usage), 4 of another (cpu).
"$PY" - "$udp" "$TALLY_KS_DEMO_PROJECT_ID" "$TALLY_KS_OTHER_PROJECT_ID" "$top_srcdir" <<'PYEOF' ||
import importlib.util, socket, sys
import msgpack
port, a, b, top = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
spec = importlib.util.spec_from_file_location('gen', top + '/tests/data/gen_ceilometer_messages.py')
gen = importlib.util.module_from_spec(spec); spec.loader.exec_module(gen)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
series = [(a, 'a-vm-%d' % i, 'cpu', 'cumulative', 'ns') for i in range(3)] + \
    [(a, 'a-vm-%d' % i, 'memory.usage', 'gauge', 'MB') for i in range(2)] + \
    [(b, 'b-vm-%d' % i, 'cpu', 'cumulative', 'ns') for i in range(4)]
for project, res, name, mtype, unit in series:
    x = gen.ceilo_sample.Sample(name=name, type=mtype, unit=unit, volume=1, user_id='u',
                                project_id=project, resource_id=res,
                                timestamp='2024-05-01T12:00:00', resource_metadata={})
    s.sendto(msgpack.packb(gen.publisher_utils.meter_message_from_counter(x, 'control keystone')),
             ('127.0.0.1', port))
PYEOF
	fail "UDP sender failed"
i=0
until tcp GET /v1/values "$admin" >/dev/null && [ "$(field "j['matches']")" = 9 ]; do
	i=$((i + 1)); [ $i -le 100 ] || fail "the admin does not see the 9 series: $(cat "$work/body")"; sleep 0.1
done
tcp GET /v1/values "$reader" >/dev/null; want 200 "values as reader"
[ "$(field "sorted(v['resource_id'] + '/' + v['meter'] for v in j['values'] if v['project_id'] == '$TALLY_KS_DEMO_PROJECT_ID')")" = \
	"['a-vm-0/cpu', 'a-vm-0/memory.usage', 'a-vm-1/cpu', 'a-vm-1/memory.usage', 'a-vm-2/cpu']" ] &&
	[ "$(field "j['matches']")" = 5 ] || fail "values as reader (project demo only): $(cat "$work/body")"
tcp GET "/v1/values?project=$TALLY_KS_OTHER_PROJECT_ID" "$reader" >/dev/null; want 200 "another project as reader"
[ "$(field "j['matches']")" = 0 ] || fail "a reader sees another project: $(cat "$work/body")"
tcp GET /v1/values/b-vm-0/cpu "$reader" >/dev/null; want 404 "another project's series as reader"
tcp GET /v1/values/a-vm-0/cpu "$reader" >/dev/null; want 200 "its project's series as reader"
tcp GET /v1/meters "$reader" >/dev/null; want 200 "meters as reader"
[ "$(field "([(m['name'], m['resources'], m['samples'], m['rate']) for m in j['meters']], j['scope'])")" = \
	"([('cpu', 3, None, None), ('memory.usage', 2, None, None)], '$TALLY_KS_DEMO_PROJECT_ID')" ] ||
	fail "meters as reader (project demo only): $(cat "$work/body")"
tcp GET /v1/meters "$admin" >/dev/null; want 200 "meters as admin"
[ "$(field "([(m['name'], m['resources'], m['samples']) for m in j['meters']], j['scope'])")" = \
	"([('cpu', 7, 7), ('memory.usage', 2, 2)], None)" ] || fail "meters as admin (all): $(cat "$work/body")"
tcp DELETE /v1/values "$reader" >/dev/null; want 403 "clear as reader"

# Keystone down: a token tallyd has not validated cannot be checked (503);
# one it has (cache_time 60) still answers.
fresh=$(token admin "$TALLY_KS_ADMIN_PASSWORD" admin)
"$KS" stop "$work/ks"
tcp GET /v1/dispatchers "$fresh" >/dev/null; want 503 "a new token with Keystone down"
tcp GET /v1/dispatchers "$reader" >/dev/null; want 200 "a cached token with Keystone down"
tcp GET /v1/dispatchers >/dev/null; want 401 "no token with Keystone down"

! grep -E 'gAAAA|tallypw|reader1pw' "$work/tallyd-1.log" >/dev/null ||
	fail "a token or a password reached the log"
stop_tallyd
echo "PASS"
