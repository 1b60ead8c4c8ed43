#!/bin/sh
# Event pipelines (collector.event_pipeline, collector/route.h): ceilometer's
# event_pipeline.yaml with two sources: compute.instance.* to sink to_a
# (dispatcher://a and file://$work/pub.log, which creates the events-only
# dispatcher pipeline.event.to_a.1) and ['*', '!compute.*'] to sink everyone
# (notifier://, written "notifier" as the original allows; a transformer
# that is checked and never applied). File dispatchers a, b and c (c with
# events: false), and d added at runtime through the control API. No sample
# pipeline. tests/tools/publish.py publishes 60 samples and 50 events of five
# types, signed as ceilometer does; by message_id and exactly:
#   a    compute.instance.*, volume.*, identity.* events; every sample
#   b, d volume.*, identity.* events (notifier://); every sample
#   c    no event (its own events: false on top of notifier://); every sample
#   pub  compute.instance.* events; no sample
# compute.node.update (excluded from everyone, not selected by instances)
# reaches nobody. What each was not given is counted in its "filtered"
# (GET /v1/dispatchers). --check-config refuses a bad event pipeline with
# file:line (gnocchi://, dispatcher://nope, a bad events list); start-up
# logs the unapplied transformer with its file:line.
# What breaks it: events not routed (b would get compute.instance.*), a
# route ignoring exclusions (b would get compute.node.update), notifier://
# not reaching the runtime-added d, the created dispatcher taking samples,
# or the events: false flag lost under the route.
set -u
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/pipeline_lib.sh"
need_peers
SECRET='event route test secret'
TYPES=compute.instance.create.end,volume.delete.start,compute.node.update,compute.instance.delete.end,identity.user.created
write_conf "$SECRET" "$(free_port)"
sed -i 's/workers: 2,/workers: 1,/' "$work/tally.yaml"
sed -i "s|dispatchers: .*|dispatchers: [{name: a, type: file, file_path: \"$work/a.log\"}, {name: b, type: file, file_path: \"$work/b.log\"}, {name: c, type: file, file_path: \"$work/c.log\", events: false}]|" \
	"$work/tally.yaml"
printf '%s\n' 'a-control-token-of-some-length' >"$work/token"
sed -i "s|^control: {port: 0}|control: {port: 0, socket: \"$work/control.sock\", auth: token, token_file: \"$work/token\"}|" \
	"$work/tally.yaml"
awk -v p="  event_pipeline: \"$work/event_pipeline.yaml\"" '{print} /^collector:/ {print p}' \
	"$work/tally.yaml" >"$work/t" && mv "$work/t" "$work/tally.yaml"
cat >"$work/event_pipeline.yaml" <<YAML
---
sources:
    - name: instances
      events:
          - "compute.instance.*"
      sinks:
          - to_a
    - name: others
      events:
          - "*"
          - "!compute.*"
      sinks:
          - everyone
sinks:
    - name: to_a
      transformers:
      triggers:
      publishers:
          - dispatcher://a
          - file://$work/pub.log
    - name: everyone
      transformers:
          - name: accumulator
            parameters:
                size: 3
      publishers:
          - notifier
YAML

# Bad event pipelines: refused by --check-config with the sink's (or source's) file:line.
check_refused() { # SED_EXPRESSION MESSAGE
	sed "$1" "$work/event_pipeline.yaml" >"$work/bad.yaml"
	sed "s|$work/event_pipeline.yaml|$work/bad.yaml|" "$work/tally.yaml" >"$work/bad-tally.yaml"
	if "$TALLYD" --check-config -c "$work/bad-tally.yaml" >"$work/check.out" 2>&1; then
		fail "--check-config accepted: $1"
	fi
	grep -qF "$2" "$work/check.out" || { cat "$work/check.out"; fail "no message '$2'"; }
}
check_refused 's|dispatcher://a|dispatcher://nope|' \
	"bad.yaml:15: sink to_a: publisher dispatcher://nope: no dispatcher named \"nope\""
check_refused 's|- notifier$|- gnocchi://|' \
	"bad.yaml:21: sink everyone: publisher gnocchi://: the gnocchi dispatcher ignores events"
check_refused 's|- notifier$|- kafka://k:9092?topic=events|' \
	"bad.yaml:21: sink everyone: publisher kafka://k:9092?topic=events: not supported in an event pipeline"
check_refused 's|"!compute.\*"|"compute.*"|' \
	"bad.yaml:9: Included events specified with wildcard"
check_refused 's|name: accumulator|name: nope|' "bad.yaml:23: No transformer named nope loaded"
"$TALLYD" --check-config -c "$work/tally.yaml" >"$work/check.out" 2>&1 ||
	{ cat "$work/check.out"; fail "--check-config refused the good event pipeline"; }

start_tallyd 0
grep -q "event_pipeline.yaml:21: event sink everyone: its 1 transformer(s) are checked and not applied" \
	"$work/tallyd-0.log" || fail "no note for the event sink's transformer"
grep -q "dispatcher c: collector.event_pipeline publishes to it, but its events: false" \
	"$work/tallyd-0.log" || fail "no note for c's events: false"
printf '{"name": "d", "type": "file", "file_path": "%s"}' "$work/d.log" >"$work/d.json"
req POST /v1/dispatchers "$work/d.json"
want 201 "add d"
"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count 60 --events 50 --event-types "$TYPES" --out "$work/samples.jsonl" \
	--events-out "$work/events.jsonl" >"$work/publish.err" 2>&1 ||
	{ cat "$work/publish.err"; fail "publish.py failed"; }

# Both queues (samples, events) empty and every cursor at the end.
wait_drained 30
req GET /v1/dispatchers
want 200 "GET /v1/dispatchers"
cp "$work/body" "$work/dispatchers.json"
stop_tallyd

"$PY" - "$work" <<'PY' || fail "the dispatchers did not get what the event pipeline publishes"
import json, os, sys
w = sys.argv[1]
def lines(name):
    p = os.path.join(w, name)
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []
samples = {s['message_id'] for s in lines('samples.jsonl')}
events = {e['message_id']: e['event_type'] for e in lines('events.jsonl')}
types = sorted(set(events.values()))
def of(*prefixes):
    return {m for m, t in events.items() if t.startswith(prefixes)}
inst, rest = of('compute.instance.'), of('volume.', 'identity.')
want = {'a': (samples, inst | rest), 'b': (samples, rest), 'c': (samples, set()),
        'd': (samples, rest), 'pub': (set(), inst)}
ok = len(samples) == 60 and len(events) == 50 and len(types) == 5
ok = ok and len(inst) == 20 and len(rest) == 20
for d, (ws, we) in sorted(want.items()):
    got = lines(d + '.log')
    gs = [x['message_id'] for x in got if 'counter_name' in x]
    ge = [x['message_id'] for x in got if 'event_type' in x]
    good = (len(gs) == len(set(gs)) and set(gs) == ws and
            len(ge) == len(set(ge)) and set(ge) == we)
    print('%s: %d samples (%d expected), %d events (%d expected), types %s: %s'
          % (d, len(gs), len(ws), len(ge), len(we),
             ','.join(sorted({x['event_type'] for x in got if 'event_type' in x})),
             'ok' if good else 'WRONG'))
    ok = ok and good
filtered = {x['name']: x['counters']['filtered']
            for x in json.load(open(os.path.join(w, 'dispatchers.json')))['dispatchers']}
print('filtered:', filtered)
ok = ok and filtered == {'a': 50 - 40, 'b': 50 - 20, 'c': 50, 'd': 50 - 20,
                         'pipeline.event.to_a.1': 60 + 50 - 20}
sys.exit(0 if ok else 1)
PY
echo "PASS: events routed by the event pipeline"
