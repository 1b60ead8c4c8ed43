#!/bin/sh
# The latest value of each series through the control API (issue 16, in
# progress): samples published by oslo.messaging in two streams, the second
# holding older and newer samples of the same series; GET /v1/values shows
# the newest per (resource, meter) by timestamp, the filters select, one
# series reads alone, DELETE clears.
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
SECRET='values secret'
write_conf "$SECRET" "$(free_port)"
sed -i -e "s|^control: {port: 0}|control: {port: 0, socket: \"$work/control.sock\"}|" "$work/tally.yaml"
start_tallyd 1

publish() { # COUNT SEED OUT
	"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
		--count "$1" --per-message 10 --seed "$2" --out "$3" 2>"$work/publish.err" ||
		{ cat "$work/publish.err"; fail "publish.py failed"; }
}
publish 400 41 "$work/s1.jsonl"
publish 400 42 "$work/s2.jsonl"
req POST "/v1/flush?wait=20"; want 200 "flush"

req GET "/v1/values?limit=1000"; want 200 "GET /v1/values"
"$PY" - "$work/body" "$work/s1.jsonl" "$work/s2.jsonl" <<'PY' || fail "the latest values are not the newest samples"
import datetime, json, sys
got = json.load(open(sys.argv[1]))
want = {}
for path in sys.argv[2:]:
    for line in open(path):
        s = json.loads(line)
        key = (s['resource_id'], s['counter_name'])
        t = datetime.datetime.fromisoformat(s['timestamp'])
        want.setdefault(key, []).append((t, s['counter_volume']))
rows = {(v['resource_id'], v['meter']): v for v in got['values']}
if got['matches'] != len(want) or len(rows) != len(want):
    sys.exit('%d series shown, %d matches, %d published' % (len(rows), got['matches'], len(want)))
bad = 0
for key, samples in want.items():
    newest = max(t for t, _ in samples)
    volumes = [v for t, v in samples if t == newest]  # ties: any of them
    if rows[key]['volume'] not in volumes or rows[key]['updates'] != len(samples):
        bad += 1
        print('series %s: shown %s (%d updates), want one of %s (%d samples)' % (
            key, rows[key]['volume'], rows[key]['updates'], volumes, len(samples)))
print('%d series, newest value each: %d wrong' % (len(want), bad))
sys.exit(1 if bad else 0)
PY

# Filters (shell patterns), one series alone, paging.
cpu=$("$PY" -c "
import json, sys
print(len({json.loads(l)['resource_id'] for f in sys.argv[1:] for l in open(f) if json.loads(l)['counter_name'] == 'cpu'}))" \
	"$work/s1.jsonl" "$work/s2.jsonl")
req GET "/v1/values?meter=cpu&limit=1000"; want 200 "filter by meter"
[ "$(field "j['matches']")" -eq "$cpu" ] || fail "meter=cpu: $(field "j['matches']") matches, want $cpu"
[ "$(field "all(v['meter'] == 'cpu' for v in j['values'])")" = True ] || fail "meter=cpu shows other meters"
req GET "/v1/values?meter=cpu*&source=open*"; want 200 "patterns"
[ "$(field "j['matches'] >= $cpu")" = True ] || fail "meter=cpu*: $(cat "$work/body")"
res=$(field "__import__('urllib.parse').parse.quote(j['values'][0]['resource_id'], safe='')")
req GET "/v1/values/$res/cpu"; want 200 "one series"
[ "$(field "j['meter']")" = cpu ] || fail "one series: $(cat "$work/body")"
req GET "/v1/values/$res/no.such.meter"; want 404 "an unknown series"
req GET "/v1/values?limit=5"; want 200 "a page"
next=$(field "__import__('urllib.parse').parse.quote(j['next_marker'], safe='')")
req GET "/v1/values?limit=5&marker=$next"; want 200 "the next page"
[ "$(field "len(j['values'])")" -eq 5 ] || fail "the next page: $(cat "$work/body")"
req GET "/v1/values?limit=0"; want 400 "limit 0"

req DELETE /v1/values; want 200 "clear"
req GET /v1/values; want 200 "after clear"
[ "$(field "j['matches']")" -eq 0 ] || fail "values after clear: $(cat "$work/body")"
stop_tallyd
echo "PASS"
