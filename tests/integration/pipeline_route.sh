#!/bin/sh
# Routing by sink (collector/route.h): a pipeline.yaml with meter_sink ("*",
# no transformers) -> dispatcher://all and cpu_sink (rate_of_change) ->
# dispatcher://rates, and three file dispatchers: "all", "rates" and "idle"
# (no sink publishes to it). Samples of every meter (tests/tools/publish.py,
# with events) and cumulative cpu of 10 resources (publish_cpu.py) go in.
# Then, by message_id and exactly: "all" has every published sample and no
# derived one; "rates" has exactly the cpu_util samples pipeline/
# tally-pipeline-run computes for cpu_sink and no raw one; "idle" has no
# sample; all three have every event (events are not routed). meter_sink
# also publishes to file://$work/pub.log: the file dispatcher created for it
# (pipeline.meter_sink.1) gets what "all" gets and no events. What each was
# not given is counted in its "filtered" (GET /v1/dispatchers). Also: a
# publisher naming no dispatcher is refused by --check-config with file:line.
# Then ceilometer's own form, both sinks publishing to notifier:// (a fresh
# buffer, dispatchers "n1" and "n2", "n3" added at runtime): each of the three gets every raw sample and every cpu_util,
# once, as the original's collector gave each of its dispatchers what the
# agents published to the metering topic; the derived cpu_util is in
# /v1/values and /v1/meters, and a threshold on it raises exactly the alarm
# events its values call for.
# What breaks it: a dispatcher given every record as before (cpu_util in
# "all", raw samples in "rates"), or a route that drops raw samples whose
# source's sink publishes to the dispatcher.
set -u
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/pipeline_lib.sh"
need_peers
RUN=$top_builddir/pipeline/tally-pipeline-run
SECRET='route test secret'
cpu_pipeline all rates
write_conf "$SECRET" "$(free_port)"
sed -i 's/workers: 2,/workers: 1,/' "$work/tally.yaml"
sed -i "s|dispatchers: .*|dispatchers: [{name: all, type: file, file_path: \"$work/all.log\"}, {name: rates, type: file, file_path: \"$work/rates.log\"}, {name: idle, type: file, file_path: \"$work/idle.log\"}]|" \
	"$work/tally.yaml"
printf '%s\n' 'a-control-token-of-some-length' >"$work/token"
sed -i "s|^control: {port: 0}|control: {port: 0, socket: \"$work/control.sock\", auth: token, token_file: \"$work/token\"}|" \
	"$work/tally.yaml"
use_pipeline "$work/tally.yaml"

# A publisher that names no dispatcher: refused with the sink's file:line.
sed 's|dispatcher://rates|dispatcher://nope|' "$work/pipeline.yaml" >"$work/bad.yaml"
sed "s|$work/pipeline.yaml|$work/bad.yaml|" "$work/tally.yaml" >"$work/bad-tally.yaml"
if "$TALLYD" --check-config -c "$work/bad-tally.yaml" >"$work/check.out" 2>&1; then
	fail "--check-config accepted dispatcher://nope"
fi
grep -q "bad.yaml:18: sink cpu_sink: publisher dispatcher://nope: no dispatcher named \"nope\"" \
	"$work/check.out" || { cat "$work/check.out"; fail "no file:line message for dispatcher://nope"; }
# meter_sink publishes to a file:// URL too: a file dispatcher created, pipeline.meter_sink.1.
sed -i "s|^          - dispatcher://all|&\n          - file://$work/pub.log|" "$work/pipeline.yaml"
grep -q "file://$work/pub.log" "$work/pipeline.yaml" || fail "test setup: no file:// publisher"

start_tallyd 0
grep -q 'dispatcher idle: no sink of collector.pipeline publishes to it' "$work/tallyd-0.log" ||
	fail "no warning for the dispatcher no sink publishes to"
"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count 40 --events 7 --out "$work/mixed.jsonl" >"$work/publish.err" 2>&1 ||
	{ cat "$work/publish.err"; fail "publish.py failed"; }
"$PY" "$top_srcdir/tests/tools/publish_cpu.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--resources 10 --rounds 30 --out "$work/cpu.jsonl" >>"$work/publish.err" 2>&1 ||
	{ cat "$work/publish.err"; fail "publish_cpu.py failed"; }

wait_drained 30

# What the route left out is counted as filtered: "all" the derived, "rates" the raw, "idle" both.
curl -s --unix-socket "$work/control.sock" http://tally/v1/dispatchers >"$work/dispatchers.json" ||
	fail "GET /v1/dispatchers failed"
stop_tallyd

cat "$work/mixed.jsonl" "$work/cpu.jsonl" >"$work/in.jsonl"
"$RUN" "$work/pipeline.yaml" <"$work/in.jsonl" >"$work/expected.jsonl" ||
	fail "tally-pipeline-run failed"
"$PY" - "$work" <<'PY' || fail "the dispatchers did not get what their sinks publish"
import json, os, sys
w = sys.argv[1]
def lines(name):
    p = os.path.join(w, name)
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []
want = {'all': set(), 'rates': set()}
for s in lines('expected.jsonl'):
    want['all' if s['_sink'] == 'meter_sink' else 'rates'].add(s['id'])
want['pub'] = want['all']
published = len(lines('in.jsonl'))
ok = len(want['all']) == published and len(want['rates']) > 200
for d in ('all', 'rates', 'idle', 'pub'):
    got = lines(d + '.log')
    samples = [s['message_id'] for s in got if 'counter_name' in s]
    events = [s for s in got if 'event_type' in s]
    names = sorted({s['counter_name'] for s in got if 'counter_name' in s})
    exp = want.get(d, set())
    good = (len(samples) == len(set(samples)) == len(exp) and set(samples) == exp
            and len(events) == (0 if d == 'pub' else 7))
    print('%s: %d samples (%d expected, %d distinct), %d events, meters %s: %s'
          % (d, len(samples), len(exp), len(set(samples)), len(events), ','.join(names),
             'ok' if good else 'WRONG'))
    ok = ok and good
filtered = {x['name']: x['counters']['filtered']
            for x in json.load(open(os.path.join(w, 'dispatchers.json')))['dispatchers']}
print('filtered:', filtered)
ok = ok and filtered == {'all': len(want['rates']), 'rates': published,
                         'idle': published + len(want['rates']),
                         'pipeline.meter_sink.1': len(want['rates']) + 7}
ok = ok and 'cpu_util' not in {s.get('counter_name') for s in lines('all.log')
                               if s['message_id'] not in want['all']}
sys.exit(0 if ok else 1)
PY

# notifier:// stands for every dispatcher of collector.dispatchers.
sed -i 's|dispatcher://all|notifier://|; s|dispatcher://rates|notifier://|; \|file://|d' "$work/pipeline.yaml"
grep -q 'dispatcher://\|file://' "$work/pipeline.yaml" && fail "test setup: publishers left"
# A polling key, as the shipped file has: accepted, and a note says it does nothing here.
sed -i 's|^    - name: meter_source$|&\n      interval: 600|' "$work/pipeline.yaml"
rm -rf "$work/buffer"
sed -i "s|dispatchers: .*|dispatchers: [{name: n1, type: file, file_path: \"$work/n1.log\"}, {name: n2, type: file, file_path: \"$work/n2.log\"}]|" \
	"$work/tally.yaml"
start_tallyd 1
grep -q 'no sink of collector.pipeline publishes' "$work/tallyd-1.log" &&
	fail "a dispatcher left out under notifier://"
grep -q 'pipeline.yaml:[0-9]*: source meter_source: interval ignored: polling' "$work/tallyd-1.log" ||
	fail "no note that interval is ignored"
printf '{"name": "n3", "type": "file", "file_path": "%s"}' "$work/n3.log" >"$work/n3.json"
req POST /v1/dispatchers "$work/n3.json"
want 201 "add n3"
# A threshold on the derived meter: evaluated on what the stage derives.
printf '{"name": "busy", "meter": "cpu_util", "op": "gt", "value": 100}' >"$work/busy.json"
req POST /v1/thresholds "$work/busy.json"
want 201 "add a threshold on cpu_util"
"$PY" "$top_srcdir/tests/tools/publish_cpu.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--resources 5 --rounds 20 --out "$work/cpu2.jsonl" >>"$work/publish.err" 2>&1 ||
	{ cat "$work/publish.err"; fail "publish_cpu.py failed"; }
wait_drained 30
# The derived samples in the control API's views, as the inputs' samples are.
req GET /v1/values/vm-003/cpu_util; want 200 "the latest cpu_util of vm-003"
cp "$work/body" "$work/value.json"
req GET '/v1/meters?name=cpu_util'; want 200 "the meter cpu_util"
cp "$work/body" "$work/meter.json"
stop_tallyd
"$RUN" "$work/pipeline.yaml" <"$work/cpu2.jsonl" >"$work/expected2.jsonl" ||
	fail "tally-pipeline-run failed"
"$PY" - "$work" <<'PY' || fail "the derived samples did not reach the values, meters or thresholds"
import json, os, sys
w = sys.argv[1]
rates = [json.loads(l) for l in open(os.path.join(w, 'expected2.jsonl'))]
rates = [s for s in rates if s['name'] == 'cpu_util']
last = [s for s in rates if s['resource_id'] == 'vm-003'][-1]
value = json.load(open(os.path.join(w, 'value.json')))
meter = [m for m in json.load(open(os.path.join(w, 'meter.json')))['meters'] if m['name'] == 'cpu_util']
# Alarms: a series' first sample past the limit, or a crossing from ok.
alarms = 0
for r in sorted({s['resource_id'] for s in rates}):
    state = None
    for s in rates:
        if s['resource_id'] != r:
            continue
        up = s['volume'] > 100
        alarms += up and state != 'alarm'
        state = 'alarm' if up else 'ok'
events = [e for e in map(json.loads, open(os.path.join(w, 'n1.log')))
          if e.get('event_type') == 'tally.threshold.alarm']
print('vm-003 cpu_util %r (want %r); meter %s; alarm events %d (want %d)'
      % (value['volume'], last['volume'], meter, len(events), alarms))
ok = (value['volume'] == last['volume'] and len(meter) == 1 and
      meter[0]['samples'] == len(rates) and meter[0]['unit'] == '%' and
      alarms > 0 and len(events) == alarms)
sys.exit(0 if ok else 1)
PY
"$PY" - "$work" <<'PY' || fail "notifier:// did not reach every dispatcher"
import json, os, sys
w = sys.argv[1]
def lines(name):
    p = os.path.join(w, name)
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []
exp = [s['id'] for s in lines('expected2.jsonl')]
raw = [s for s in exp if s in {x['message_id'] for x in lines('cpu2.jsonl')}]
ok = len(exp) == len(set(exp)) and len(raw) == 100 and len(exp) - len(raw) > 80
for d in ('n1', 'n2', 'n3'):
    got = [s['message_id'] for s in lines(d + '.log') if 'counter_name' in s]
    good = sorted(got) == sorted(exp)
    print('%s: %d samples (%d expected): %s' % (d, len(got), len(exp), 'ok' if good else 'WRONG'))
    ok = ok and good
sys.exit(0 if ok else 1)
PY
echo "PASS: routed by sink"
