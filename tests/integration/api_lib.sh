# tests/integration/api_lib.sh — shared by api_sqlite.sh and api_postgresql.sh (sourced).
. "$top_srcdir/tests/integration/lib.sh"

# api_run URL [HOOK]: seeds the store at URL, starts tallyd's API role over
# it with auth trusted-headers, runs api_check.py, then HOOK (a function, with
# $port set) while tallyd still runs, stops tallyd.
api_run() {
	"$PY" "$top_srcdir/tests/integration/api_check.py" seed "$work/seed.jsonl" || fail "seed"
	"$top_builddir/tests/tools/seed_store" "$1" "$work/seed.jsonl" || fail "seed_store"
	port=$(free_port)
	cat >"$work/tally.yaml" <<CONF
telemetry_secret: "s3cret"
collector: {enabled: false}
storage: {connection: "$1"}
api: {listen: 127.0.0.1, port: $port, auth: trusted-headers, workers: 2,
      statement_timeout: ${API_STATEMENT_TIMEOUT:-30}}
log: {level: info}
CONF
	"$TALLYD" -c "$work/tally.yaml" 2>>"$work/tallyd-1.log" &
	tpid=$!
	i=0
	until grep -q 'listening on' "$work/tallyd-1.log" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "tallyd did not start"
		kill -0 $tpid 2>/dev/null || fail "tallyd exited"
		sleep 0.1
	done
	"$PY" "$top_srcdir/tests/integration/api_check.py" check "$port" "$work/seed.jsonl" ||
		fail "api_check.py"
	[ -n "${2:-}" ] && "$2"
	kill -TERM $tpid
	wait $tpid || fail "tallyd did not stop cleanly"
	tpid=
	echo "PASS"
}
