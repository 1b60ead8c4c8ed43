#!/bin/sh
# The gnocchi dispatcher with auth: keystone against a Gnocchi behind a real
# Keystone (scripts/keystone, tokens that live 30 s; scripts/gnocchi with
# auth_mode keystone, keystonemiddleware validating tokens): samples sent
# over UDP reach Gnocchi with the service user's token, and samples sent
# after the first token has expired still do, without a single 401 (the
# token is renewed before it expires).
. "$top_srcdir/tests/integration/lib.sh"

gk_cleanup() {
	"$KS" stop "$work/ks" >/dev/null 2>&1
	lib_cleanup
}
trap gk_cleanup EXIT
"$PY" -c 'import msgpack, keystoneauth1, gnocchiclient' 2>/dev/null ||
	{ echo "SKIP: python3-msgpack, keystoneauth1 or gnocchiclient missing"; exit 77; }
start_keystone 30
start_gnocchi "$work/ks"
"$GN" seed "$work/gn" >/dev/null || { "$GN" logs "$work/gn"; fail "cannot seed Gnocchi"; }

udp=$(free_port)
cat >"$work/tally.yaml" <<CONF
telemetry_secret: ""
collector:
  amqp: {urls: ["amqp://guest:guest@127.0.0.1:1/"]}
  udp: {address: 127.0.0.1, port: $udp}
  buffer: {path: "$work/buffer"}
  dispatchers:
    - name: gn
      type: gnocchi
      url: "$TALLY_GNOCCHI_URL"
      auth: keystone
      filter_project: no-such-project
      resources_definition_file: /usr/lib/python3/dist-packages/ceilometer/publisher/data/gnocchi_resources.yaml
      keystone:
        auth_url: "$TALLY_KS_URL"
        username: tally
        password: "$TALLY_KS_SERVICE_PASSWORD"
        project_name: service
api: {enabled: false}
control: {port: 0}
log: {level: info}
CONF
start_tallyd_nobroker 1

"$PY" - "$udp" "$TALLY_GNOCCHI_URL" "$TALLY_KS_URL" "$(cat "$work/ks/admin.pw")" <<'PY' ||
import datetime, socket, sys, time, uuid
import msgpack
import keystoneauth1.session
from keystoneauth1.identity import v3
from gnocchiclient import client
udp, url, ks, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
admin = client.Client('1', session=keystoneauth1.session.Session(auth=v3.Password(
    auth_url=ks, username='admin', password=pw, project_name='admin',
    user_domain_name='Default', project_domain_name='Default'),
    additional_headers={'Connection': 'close'}),
    adapter_options={'connect_retries': 3, 'endpoint_override': url})
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t0 = (int(time.time()) // 300) * 300 - 3000
rids = [str(uuid.uuid4()) for _ in range(5)]

def send(k):
    for i, rid in enumerate(rids):
        sock.sendto(msgpack.packb({
            'source': 'openstack', 'counter_name': 'memory.usage', 'counter_type': 'gauge',
            'counter_unit': 'MB', 'counter_volume': 100 * k + i, 'user_id': 'u',
            'project_id': 'p', 'resource_id': rid,
            'timestamp': datetime.datetime.utcfromtimestamp(t0 + 300 * k).isoformat(),
            'resource_metadata': {'host': 'h', 'display_name': 'vm', 'flavor_id': '1',
                                  'instance_type': 'm1.tiny'},
            'message_id': str(uuid.uuid4()), 'message_signature': ''}), ('127.0.0.1', udp))

def wait(k, seconds):
    deadline = time.time() + seconds
    while True:
        try:
            got = [[m[2] for m in admin.metric.get_measures('memory.usage', resource_id=rid,
                                                            refresh=True, granularity=300)]
                   for rid in rids]
        except Exception as e:
            got = str(e)
        want = [[100 * j + i for j in range(k + 1)] for i in range(len(rids))]
        if got == want:
            return
        if time.time() > deadline:
            sys.exit('after %d s: %s, want %s' % (seconds, got, want))
        time.sleep(0.5)

start = time.time()
send(0)
wait(0, 60)
r = admin.resource.get('instance', rids[0])
print('ok: measures stored with the service token (creator %s)' % r['creator'])
time.sleep(max(0, 35 - (time.time() - start)))  # past the first token's 30 s
send(1)
wait(1, 60)
print('ok: measures stored after the first token expired (%.0f s in)' % (time.time() - start))
PY
	{ "$GN" logs "$work/gn" | tail -n 20; fail "checks failed"; }
grep -q '=> generated.*(HTTP/1.1 401)' "$work/gn/api.log" &&
	fail "Gnocchi answered 401: the token was not renewed in time"
echo "PASS"
