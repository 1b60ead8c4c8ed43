#!/bin/sh
# The API's availability under hostile clients (issue 21), over a SQLite
# store seeded by api_check.py, with api.request_timeout 2 s and the default
# api.max_connections_per_ip (256):
# - the malformed requests of the issue each get a prompt 4xx (ours in the
#   JSON error shape with a request id) or a close within the request
#   timeout, and are counted in the log;
# - a slowloris of 5,000 connections from 127.0.0.1 (reopened as the server
#   closes them) for 8 s, while requests from 127.0.0.2 keep answering
#   within 1 s.
. "$top_srcdir/tests/integration/api_lib.sh"
HOSTILE="$PY $top_srcdir/tests/tools/hostile_http.py"

# 5,000 sockets in the attacker, as many in tallyd if it let them in.
ulimit -n 16384 2>/dev/null || ulimit -n 12000 || fail "cannot raise the open-file limit"

# One address may not take more than a quarter of the connections.
printf 'api:\n  max_connections: 100\n  max_connections_per_ip: 26\n' >"$work/bad.yaml"
"$TALLYD" --check-config -c "$work/bad.yaml" >/dev/null 2>"$work/bad.err" &&
	fail "--check-config took max_connections_per_ip over max_connections / 4"
grep -q "bad.yaml:3: api.max_connections_per_ip (26) must be 0 (no cap) or at most a quarter" \
	"$work/bad.err" || { cat "$work/bad.err"; fail "--check-config: no file:line error"; }

"$PY" "$top_srcdir/tests/integration/api_check.py" seed "$work/seed.jsonl" || fail "seed"
api_start "sqlite://$work/tally.db" "$work/seed.jsonl" "request_timeout: 2"

$HOSTILE bad "$port" 2 || fail "malformed requests"

$HOSTILE slowloris "$port" 5000 8 >"$work/slowloris.out" 2>&1 &
spid=$!
wait_log "$work/slowloris.out" 'connections opening' 10 "$spid" "the slowloris"
$HOSTILE probe "$port" 6 1.0 || fail "requests of another client were late during the slowloris"
wait "$spid"
cat "$work/slowloris.out"

# Each kind of refusal is counted and logged (rate-limited).
log="$work/tallyd-1.log"
for kind in too_many_arguments header_too_large request_timeout connection_limit bad_http body_too_large; do
	grep -q "refused a request ($kind" "$log" || fail "no refusal of kind $kind in the log"
done
# ... and in the control API's metrics, with the answers by route and code.
cport=$(sed -n 's/.*\[control\] listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$log" | head -n 1)
curl -s "http://127.0.0.1:$cport/metrics" >"$work/metrics" || fail "no metrics from the control API"
for kind in too_many_arguments header_too_large request_timeout connection_limit bad_http body_too_large; do
	grep -q "^tally_api_refused_total{reason=\"$kind\"} [1-9]" "$work/metrics" ||
		fail "metrics: no refusal of kind $kind: $(grep refused_total "$work/metrics")"
done
grep -q '^tally_api_requests_total{route="meters",code="200"} [1-9]' "$work/metrics" &&
	grep -q '^tally_api_request_duration_seconds_count{route="meters"} [1-9]' "$work/metrics" ||
	fail "metrics: no answers counted: $(grep api_request "$work/metrics" | head)"
lines=$(grep -c 'refused a request' "$log")
echo "refusal lines in the log: $lines"
[ "$lines" -le 20 ] || fail "refusals are not rate-limited ($lines lines)"
stop_tallyd
grep 'refused [0-9]* request(s)' "$log"
echo "PASS"
