#!/bin/sh
# Issue 15: a real Prometheus (Debian's prometheus, started by
# scripts/prometheus) scrapes the control API's /metrics of a tallyd every
# second with the control token (control.auth token) while oslo.messaging
# publishes 2,000 samples in 200 notifications through a real RabbitMQ, in
# four bursts a little over a scrape interval apart. Then, through
# Prometheus' HTTP API: up{job="tally"} is 1 and was 1 at every scrape;
# tally_input_samples_total{input="amqp"} and
# tally_dispatcher_samples_total{dispatcher="out"} are 2000 in its TSDB, equal
# to tallyd's own /metrics; the input counter was recorded in between during
# the stream and never went down; the dispatch histogram arrived whole. The
# file dispatcher has every sample exactly once. Skips (77) without
# prometheus, curl, RabbitMQ or the Python peers.
set -u
. "$top_srcdir/tests/integration/lib.sh"
PROM="sh $top_srcdir/scripts/prometheus"
prom_cleanup() {
	$PROM stop "$work/prom" >/dev/null 2>&1
	lib_cleanup
}
trap prom_cleanup EXIT

# Before RabbitMQ starts, so that skipping costs nothing (scripts/prometheus
# looks for the server the same way, and exits 77 too).
if [ -n "${TALLY_PROMETHEUS:-}" ]; then
	[ -x "$TALLY_PROMETHEUS" ] || { echo "SKIP: no prometheus at $TALLY_PROMETHEUS"; exit 77; }
elif [ ! -x /usr/bin/prometheus ] && ! command -v prometheus >/dev/null 2>&1; then
	echo "SKIP: prometheus missing (Debian: prometheus)"
	exit 77
fi
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
need_peers

SECRET='prometheus secret'
TOKEN='a-scrape-token-of-some-length'
udp=$(free_port)
write_conf "$SECRET" "$udp"
printf '%s\n' "$TOKEN" >"$work/token"
sed -i "s|^control: {port: 0}|control: {port: 0, auth: token, token_file: \"$work/token\"}|" \
	"$work/tally.yaml"
grep -q 'auth: token' "$work/tally.yaml" || fail "test setup: control.auth token is not configured"

start_tallyd 1
wait_log "$work/tallyd-1.log" "control.*listening on 127.0.0.1 port" 10 "$tpid" tallyd
cport=$(sed -n 's/.*control.*listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$work/tallyd-1.log" | head -n 1)
[ -n "$cport" ] || fail "no control port in tallyd's log"
# Without the token /metrics is refused: up = 1 below means Prometheus sent it.
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$cport/metrics")" = 401 ] ||
	fail "/metrics without the token is not 401"

# Returns once Prometheus has scraped tallyd once.
vars=$($PROM start "$work/prom" "127.0.0.1:$cport" "$work/token" 2>"$work/prom.err")
rc=$?
[ $rc -eq 77 ] && { echo "SKIP: prometheus missing"; exit 77; }
[ $rc -eq 0 ] || { cat "$work/prom.err"; fail "cannot start Prometheus"; }
eval "$vars"

pfail() {
	$PROM logs "$work/prom"
	fail "$@"
}

# prom QUERY: the values of an instant query, space-separated, the series in
# Prometheus' order and a range vector's samples oldest first; "none" when it
# has no series. Exits non-zero (with the answer in prom.json) on an error.
prom() {
	curl -s -m 5 -G --data-urlencode "query=$1" "$TALLY_PROM_URL/api/v1/query" \
		>"$work/prom.json" || return 1
	"$PY" - "$work/prom.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
if j.get('status') != 'success':
    sys.exit(1)
values = []
for series in j['data']['result']:
    if 'value' in series:
        values.append(series['value'][1])
    else:
        values.extend(v for _, v in series['values'])
print(' '.join(values) or 'none')
PY
}

# wait_prom QUERY WANT SECONDS: until the query answers WANT.
wait_prom() {
	i=0
	while :; do
		v=$(prom "$1") || pfail "query $1: $(cat "$work/prom.json")"
		[ "$v" = "$2" ] && return 0
		i=$((i + 1))
		[ $i -le $(($3 * 10)) ] || pfail "$1 is $v after $3 s, want $2"
		sleep 0.1
	done
}

wait_prom 'up{job="tally"}' 1 5
wait_prom 'tally_input_samples_total{input="amqp"}' 0 5

# The stream: 4 x 500 samples, 10 per notification. Each burst takes well
# under a second; the pause after it (the sleep and the next publish.py's
# start-up) is longer than the scrape interval, so scrapes fall in between.
t0=$(date +%s)
: >"$work/samples.jsonl"
for round in 1 2 3 4; do
	"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
		--count 500 --per-message 10 --seed $((40 + round)) --out "$work/samples$round.jsonl" \
		2>"$work/publish.err" || { cat "$work/publish.err"; fail "publish.py failed"; }
	cat "$work/samples$round.jsonl" >>"$work/samples.jsonl"
	[ $round -lt 4 ] && sleep 1.2
done
echo "published 2000 samples in 200 notifications in $(($(date +%s) - t0)) s"

# Once scraped after the stream, the TSDB holds what was published.
wait_prom 'tally_input_samples_total{input="amqp"}' 2000 20
wait_prom 'tally_dispatcher_samples_total{dispatcher="out"}' 2000 20
wait_prom 'up{job="tally"}' 1 5
echo "Prometheus: up 1, input and dispatcher counters 2000, $(($(date +%s) - t0)) s after the stream began"

# The same numbers on tallyd's own /metrics.
curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$cport/metrics" >"$work/metrics" ||
	fail "GET /metrics failed"
grep -q '^tally_input_samples_total{input="amqp"} 2000$' "$work/metrics" ||
	fail "tallyd's /metrics: $(grep 'input_samples_total' "$work/metrics")"
grep -q '^tally_dispatcher_samples_total{dispatcher="out"} 2000$' "$work/metrics" ||
	fail "tallyd's /metrics: $(grep 'dispatcher_samples_total' "$work/metrics")"

# Every scrape since Prometheus started succeeded (the token, the format).
v=$(prom 'min_over_time(up{job="tally"}[10m])') || pfail "min_over_time(up): $(cat "$work/prom.json")"
[ "$v" = 1 ] || pfail "a scrape failed: min_over_time(up) is $v"
# The counter as scraped during the stream: never down, from 0 to 2000, and
# at least two values in between (the stream was seen in progress).
v=$(prom 'tally_input_samples_total{input="amqp"}[10m]') || pfail "range query: $(cat "$work/prom.json")"
"$PY" - "$v" <<'PY' || pfail "the input counter as scraped: $v"
import sys
values = [float(x) for x in sys.argv[1].split()]
if values != sorted(values) or values[0] != 0 or values[-1] != 2000:
    sys.exit(1)
between = sorted(set(x for x in values if 0 < x < 2000))
print('scraped %d times; values during the stream: %s' % (len(values), between))
sys.exit(0 if len(between) >= 2 else 1)
PY
# The dispatch histogram: docs/control.md's 14 bounds and +Inf.
wait_prom 'count(tally_dispatch_duration_seconds_bucket{dispatcher="out"})' 15 5

stop_tallyd
"$PY" "$top_srcdir/tests/integration/check_output.py" "$work/out.log" "$work/samples.jsonl" ||
	fail "out: samples lost or duplicated"
echo "PASS"
