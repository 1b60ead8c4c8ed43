#!/bin/sh
# The http dispatcher against a real HTTP server (tests/tools/http_receiver.py):
# samples sent to tallyd over UDP are posted one per request to one target and
# as JSON arrays to another (batch_mode), with the configured extra header;
# while the receiver answers 500 nothing is lost (RETRY); a sample it answers
# 400 to is dead-lettered alone, with the status in the reason, and the rest
# go on. No broker: the AMQP input retries a closed port meanwhile.
. "$top_srcdir/tests/integration/lib.sh"

rpid=
http_cleanup() {
	[ -n "$rpid" ] && kill "$rpid" 2>/dev/null
	lib_cleanup
}
trap http_cleanup EXIT
"$PY" -c 'import msgpack' 2>/dev/null || { echo "SKIP: python3-msgpack missing"; exit 77; }
"$PY" "$top_srcdir/tests/tools/http_receiver.py" "$work/rport" "$work/received.jsonl" &
rpid=$!
i=0
until [ -f "$work/rport" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "the receiver did not start"
	sleep 0.1
done
rport=$(cat "$work/rport")
udp=$(free_port)
cat >"$work/tally.yaml" <<CONF
telemetry_secret: ""
collector:
  amqp: {urls: ["amqp://guest:guest@127.0.0.1:1/"]}
  udp: {address: 127.0.0.1, port: $udp}
  buffer: {path: "$work/buffer"}
  dispatchers:
    - {name: each, type: http, target: "http://127.0.0.1:$rport/each", timeout: 2,
       headers: ["X-Auth-Token: t0ken"]}
    - {name: batched, type: http, target: "http://127.0.0.1:$rport/batch", batch_mode: true}
api: {enabled: false}
control: {port: 0}
log: {level: info}
CONF
start_tallyd_nobroker 1

"$PY" - "$udp" "$rport" "$work/received.jsonl" <<'PY' || fail "checks failed"
import json, socket, sys, time, urllib.request
import msgpack
udp, rport, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

def send(ids):
    for i in ids:
        sock.sendto(msgpack.packb({
            'source': 'openstack', 'counter_name': 'cpu', 'counter_type': 'gauge',
            'counter_unit': 'ns', 'counter_volume': i, 'user_id': 'u', 'project_id': 'p',
            'resource_id': 'r%d' % i, 'timestamp': '2026-03-01T12:00:00',
            'resource_metadata': {'i': i}, 'message_id': 'm-%04d' % i,
            'message_signature': ''}), ('127.0.0.1', udp))

def control(status, count, path=None):
    urllib.request.urlopen(urllib.request.Request(
        'http://127.0.0.1:%s/_control' % rport, method='POST',
        data=json.dumps({'status': status, 'count': count, 'path': path}).encode())).read()

def received():
    try:
        rows = [json.loads(l) for l in open(log)]
    except FileNotFoundError:
        return {}, {}
    each = {}
    batch = {}
    for r in rows:
        if r['path'] == '/each':
            each.setdefault(r['body']['message_id'], 0)
            each[r['body']['message_id']] += 1
            assert r['headers'].get('X-Auth-Token') == 't0ken', r['headers']
            assert r['headers'].get('Content-Type') == 'application/json', r['headers']
        else:
            assert isinstance(r['body'], list), r
            for s in r['body']:
                batch.setdefault(s['message_id'], 0)
                batch[s['message_id']] += 1
    return each, batch

def wait_for(ids_each, ids_batch, what):
    for _ in range(300):
        each, batch = received()
        if set(ids_each) <= set(each) and set(ids_batch) <= set(batch):
            return each, batch
        time.sleep(0.1)
    raise SystemExit('FAIL %s: each has %d of %d, batch %d of %d' % (
        what, len(set(ids_each) & set(each)), len(ids_each),
        len(set(ids_batch) & set(batch)), len(ids_batch)))

ids = ['m-%04d' % i for i in range(50)]
send(range(50))
each, batch = wait_for(ids, ids, 'first 50')
assert all(each[i] == 1 for i in ids) and all(batch[i] == 1 for i in ids), (each, batch)
one = [json.loads(l) for l in open(log) if '"/each"' in l][0]['body']
assert one['counter_name'] == 'cpu' and one['resource_metadata'] == {'i': 0}, one
print('ok: 50 samples, one request each and in arrays, with the extra header')

# The receiver fails with 500 for a while: RETRY with backoff, nothing lost.
control(500, 6)
ids2 = ['m-%04d' % i for i in range(50, 80)]
send(range(50, 80))
each, batch = wait_for(ids2, ids2, 'after 500s')
print('ok: 30 samples through six 500 answers')

# A 400 for one request: that sample (per-record mode) is dead-lettered, the others go on.
time.sleep(0.5)
control(400, 1, '/each')
ids3 = ['m-%04d' % i for i in range(80, 90)]
send(range(80, 90))
time.sleep(3)
each, batch = received()
missing = [i for i in ids3 if i not in each]
assert len(missing) == 1, missing
assert all(i in batch for i in ids3), batch
print('ok: one sample refused with 400 (%s), nine delivered' % missing[0])
open(log + '.refused', 'w').write(missing[0])
PY
kill -TERM $tpid
wait $tpid || fail "tallyd did not stop cleanly"
tpid=
refused=$(cat "$work/received.jsonl.refused")
"$TALLYCTL" deadletter list --path "$work/buffer" >"$work/dead.jsonl" || fail "deadletter list"
grep -q "\"source\":\"each\"" "$work/dead.jsonl" && grep "\"source\":\"each\"" "$work/dead.jsonl" |
	grep -q "HTTP 400" && grep "\"source\":\"each\"" "$work/dead.jsonl" | grep -q "$refused" ||
	{ cut -c1-400 "$work/dead.jsonl"; fail "the refused sample is not in the dead-letter store"; }
grep -q 't0ken' "$work/tallyd-1.log" && fail "the header's token reached the log"
echo "PASS"
