# tests/integration/api_lib.sh — shared by the API tests over seeded stores (sourced).
. "$top_srcdir/tests/integration/lib.sh"

# api_start URL SEED [OPTIONS]: seeds the store at URL with the JSON lines of
# SEED, starts tallyd's API role over it with auth trusted-headers and the
# extra api OPTIONS (YAML flow-map entries, e.g. "max_response_size: 16KiB"),
# and waits until it listens on $port.
api_start() {
	"$top_builddir/tests/tools/seed_store" "$1" "$2" || fail "seed_store"
	port=$(free_port)
	cat >"$work/tally.yaml" <<CONF
telemetry_secret: "s3cret"
collector: {enabled: false}
storage: {connection: "$1"}
api: {listen: 127.0.0.1, port: $port, auth: trusted-headers, workers: 2,
      statement_timeout: ${API_STATEMENT_TIMEOUT:-30}${3:+, $3}}
control: {port: 0}
log: {level: info}
CONF
	launch_tallyd 1 'listening on'
}

# api_run URL [HOOK]: api_start over api_check.py's seed, runs api_check.py,
# then HOOK (a function, with $port set) while tallyd still runs, stops tallyd.
api_run() {
	"$PY" "$top_srcdir/tests/integration/api_check.py" seed "$work/seed.jsonl" || fail "seed"
	api_start "$1" "$work/seed.jsonl"
	"$PY" "$top_srcdir/tests/integration/api_check.py" check "$port" "$work/seed.jsonl" ||
		fail "api_check.py"
	[ -n "${2:-}" ] && "$2"
	stop_tallyd
	echo "PASS"
}
