#!/bin/sh
# The latest value of each series through the control API (issue 16):
# samples published by oslo.messaging in two streams, the second holding
# older and newer samples of the same series; GET /v1/values shows the
# newest per (resource, meter) by timestamp, the filters select, one series
# reads alone, DELETE clears. GET /v1/meters: per meter exactly the samples
# published, the distinct resources the cache holds, the type and unit, the
# rate over the last minute; since and name select; tallyctl meters.
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
t0=$(date +%s)
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

# The meters: exactly what was published.
req GET /v1/meters; want 200 "GET /v1/meters"
"$PY" - "$work/body" "$(($(date +%s) - t0))" "$work/s1.jsonl" "$work/s2.jsonl" <<'PY' || fail "/v1/meters is not what was published"
import json, sys
got = json.load(open(sys.argv[1]))
elapsed = int(sys.argv[2])
want = {}
for path in sys.argv[3:]:
    for line in open(path):
        s = json.loads(line)
        m = want.setdefault(s['counter_name'], {'samples': 0, 'resources': set(),
                                                'type': s['counter_type'], 'unit': s['counter_unit']})
        m['samples'] += 1
        m['resources'].add(s['resource_id'])
rows = {m['name']: m for m in got['meters']}
bad = []
if sorted(rows) != sorted(want) or [m['name'] for m in got['meters']] != sorted(want):
    bad.append('meters %s, want %s (sorted)' % ([m['name'] for m in got['meters']], sorted(want)))
for name, w in want.items():
    m = rows.get(name)
    if not m:
        continue
    if (m['samples'], m['resources'], m['type'], m['unit']) != (w['samples'], len(w['resources']), w['type'], w['unit']):
        bad.append('%s: %s, want samples %d resources %d type %s unit %s' % (
            name, m, w['samples'], len(w['resources']), w['type'], w['unit']))
    # Published within the last minute: the rate is samples / 60.
    if elapsed < 55 and abs(m['rate'] * 60 - w['samples']) > 1e-6:
        bad.append('%s: rate %s, want %s / 60' % (name, m['rate'], w['samples']))
    if not (m['first_seen'] and m['last_seen'] and m['first_seen'] <= m['last_seen']):
        bad.append('%s: first and last seen %s %s' % (name, m['first_seen'], m['last_seen']))
if (got['tracked'], got['untracked'], got['scope'], got['next_marker']) != (len(want), 0, None, None):
    bad.append('tracked %s untracked %s scope %s next %s' % (got['tracked'], got['untracked'], got['scope'], got['next_marker']))
print('%d meters, %d samples: %s' % (len(want), sum(w['samples'] for w in want.values()), bad or 'all exact'))
sys.exit(1 if bad else 0)
PY
n_meters=$(field "len(j['meters'])")
req GET "/v1/meters?name=cpu"; want 200 "meters by name"
[ "$(field "[m['name'] for m in j['meters']]")" = "['cpu']" ] || fail "name=cpu: $(cat "$work/body")"
[ "$(field "j['meters'][0]['resources']")" -eq "$cpu" ] || fail "cpu: resources, want $cpu: $(cat "$work/body")"
req GET "/v1/meters?since=$t0"; want 200 "since (Unix seconds)"
[ "$(field "len(j['meters'])")" -eq "$n_meters" ] || fail "since=$t0: $(cat "$work/body")"
req GET "/v1/meters?since=$(date -u -d @$(($(date +%s) + 3600)) +%Y-%m-%dT%H:%M:%SZ)"; want 200 "since (RFC 3339)"
[ "$(field "len(j['meters'])")" -eq 0 ] || fail "since an hour ahead: $(cat "$work/body")"
req GET "/v1/meters?limit=2"; want 200 "a page of meters"
next=$(field "j['next_marker']")
req GET "/v1/meters?limit=1000&marker=$next"; want 200 "the next page of meters"
[ "$(field "len(j['meters'])")" -eq $((n_meters - 2)) ] || fail "after marker $next: $(cat "$work/body")"
req GET "/v1/meters?since=yesterday"; want 400 "a bad since"
req GET "/v1/meters?limit=10001"; want 400 "limit over the cap"
req POST /v1/meters; want 405 "POST /v1/meters"
"$TALLYCTL" -c "$work/tally.yaml" meters 'cp*' >"$work/tallyctl.out" 2>&1 ||
	fail "tallyctl meters: $(cat "$work/tallyctl.out")"
grep -Eq "^cpu +cumulative +ns +[0-9]+ +$cpu " "$work/tallyctl.out" || fail "tallyctl meters: $(cat "$work/tallyctl.out")"

req DELETE /v1/values; want 200 "clear"
req GET /v1/values; want 200 "after clear"
[ "$(field "j['matches']")" -eq 0 ] || fail "values after clear: $(cat "$work/body")"
# The meters stay (seen since start); the cache holds no series of them any more.
req GET "/v1/meters?name=cpu"; want 200 "meters after clear"
[ "$(field "(j['meters'][0]['resources'], j['meters'][0]['samples'] > 0)")" = "(0, True)" ] ||
	fail "cpu after clear: $(cat "$work/body")"
stop_tallyd
echo "PASS"
