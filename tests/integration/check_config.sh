#!/bin/sh
# tallyd --check-config on the sample configuration and on bad fixtures:
# exit status, the exact "file:line:" of each error and its message; and
# --help, --version, bad usage, a missing file, the API role alone.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
TALLYD="$top_builddir/tallyd"
CONF="$top_srcdir/tests/data/conf"
work=$(mktemp -d "${TMPDIR:-/tmp}/check_config.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT INT TERM
failures=0
checks=0

fail() {
	echo "FAIL: $*"
	echo "--- stdout"
	cat "$work/out"
	echo "--- stderr"
	cat "$work/err"
	echo "---"
	failures=$((failures + 1))
}

# run ARGS...: runs tallyd, keeps stdout, stderr and the status.
run() {
	checks=$((checks + 1))
	"$TALLYD" "$@" >"$work/out" 2>"$work/err"
	status=$?
}

# expect_status N WHAT
expect_status() {
	[ "$status" -eq "$1" ] || fail "$2: exit status $status, expected $1"
}

# expect_in FILE TEXT WHAT: FILE (out or err) holds the fixed string TEXT.
expect_in() {
	grep -F -q -- "$2" "$work/$1" || fail "$3: $1 lacks '$2'"
}

if [ ! -x "$TALLYD" ]; then
	echo "tallyd not built at $TALLYD"
	exit 99
fi

# The sample configuration is valid, and so are the good fixtures.
for f in "$top_srcdir/etc/tally.yaml" "$CONF/good_minimal.yaml" "$CONF/good_full.yaml"; do
	run --check-config -c "$f"
	expect_status 0 "$f"
	expect_in out "$f: configuration OK" "$f"
	[ -s "$work/err" ] && fail "$f: stderr is not empty"
done

# Bad fixtures: file, line, message.
while IFS='|' read -r name line message; do
	[ -n "$name" ] || continue
	f="$CONF/$name"
	run --check-config -c "$f"
	expect_status 1 "$name"
	expect_in err "$f:$line: $message" "$name"
	expect_in err "tallyd: $f: configuration not valid" "$name"
	[ -s "$work/out" ] && fail "$name: stdout is not empty"
done <<'TABLE'
bad_unknown_key.yaml|4|unknown key 'prefech' in collector.amqp (did you mean 'prefetch'?)
bad_range.yaml|4|collector.amqp.prefetch: 0 is below the minimum 1
bad_bool.yaml|2|api.enabled: expected a boolean, got 'yes please'
bad_duplicate_key.yaml|4|duplicate key 'port' (first at line 2)
bad_dispatcher_type.yaml|6|collector.dispatchers[1].type: unknown type 'kafka' (expected one of database, file, http, gnocchi)
bad_dispatcher_name.yaml|5|collector.dispatchers[2].name: duplicate name 'db' (first at line 3)
bad_file_path.yaml|3|collector.dispatchers[0]: missing required key 'file_path'
bad_secret_both.yaml|2|telemetry_secret and telemetry_secret_file are mutually exclusive (telemetry_secret is at line 1)
bad_syntax.yaml|4|YAML syntax error:
bad_size.yaml|4|collector.buffer.max_size: expected a size (bytes, or with a unit: 64KiB, 10MB, 1G), got '1 gigabyte'
bad_connection.yaml|2|storage.connection: unsupported scheme (this version has drivers for postgresql, postgres, postgresql+psycopg2, sqlite, mongodb)
bad_limits.yaml|2|api.default_limit (500) must not exceed api.max_limit (100)
bad_anchor.yaml|1|anchors and aliases are not supported (anchor 'common')
bad_anchor.yaml|3|anchors and aliases are not supported (alias 'common')
bad_enum.yaml|2|log.level: expected one of error, warning, notice, info, debug; got 'loud'
bad_roles.yaml|2|nothing to run: collector.enabled and api.enabled are both false
bad_many.yaml|3|collector.enabled: expected a boolean, got 'maybe'
bad_many.yaml|5|collector.udp.port: 99999 is above the maximum 65535
bad_many.yaml|7|collector.dispatchers[0].type: unknown type 'databse' (expected one of database, file, http, gnocchi)
bad_many.yaml|9|storage.connection: unsupported scheme
bad_many.yaml|11|api.auth: expected one of none, keystone, trusted-headers; got 'ldap'
bad_listen.yaml|4|api.listen: '999.1.1.1' is not an IPv4 or IPv6 address (a host name is not accepted)
bad_amqp_url.yaml|6|collector.amqp.urls[0]: the port is not between 1 and 65535
bad_amqp_url.yaml|7|collector.amqp.urls[1]: the URL names no host
bad_amqp_url.yaml|9|collector.udp.address: 'localhost' is not an IPv4 or IPv6 address
TABLE

# Start-up refuses what --check-config refuses, with the same file:line
# (one validation path): tallyd stops before it opens anything.
for name in bad_listen.yaml bad_amqp_url.yaml; do
	run -c "$CONF/$name"
	expect_status 1 "start with $name"
	expect_in err "$CONF/$name:" "start with $name"
done
grep -q hunter2 "$work/err" && fail "bad_amqp_url.yaml: the password was printed at start"
run --check-config -c "$CONF/bad_amqp_url.yaml"
grep -q hunter2 "$work/err" && fail "bad_amqp_url.yaml: the password was printed"

# A system file given to -c by mistake: refused, and nothing of it is shown
# beyond its first key's name (no line of it, no field after the first).
for f in /etc/passwd /etc/shadow /etc/group; do
	[ -r "$f" ] && [ -s "$f" ] || continue
	run --check-config -c "$f"
	expect_status 1 "$f"
	leak=$(head -n 50 "$f" | cut -d: -f2- | grep -v '^.\{0,5\}$' | grep -F -f - "$work/err" | head -n 1)
	[ -z "$leak" ] || fail "$f: its contents are shown: $leak"
done

# A password in a connection URL is never echoed.
run --check-config -c "$CONF/bad_connection.yaml"
grep -q hunter2 "$work/err" && fail "bad_connection.yaml: the password was printed"
# All five errors of bad_many.yaml are reported, in line order.
run --check-config -c "$CONF/bad_many.yaml"
expect_in err "configuration not valid (5 errors)" "bad_many.yaml"
[ "$(grep -c "^$CONF/bad_many.yaml:" "$work/err")" -eq 5 ] || fail "bad_many.yaml: not 5 errors"
grep "^$CONF/bad_many.yaml:" "$work/err" | cut -d: -f2 | sort -n -c || fail "bad_many.yaml: order"

# A missing file.
run --check-config -c "$work/nonexistent.yaml"
expect_status 1 "missing file"
expect_in err "$work/nonexistent.yaml: cannot read: No such file or directory" "missing file"
# A directory.
run --check-config -c "$work"
expect_status 1 "directory"
expect_in err "$work: cannot read: Is a directory" "directory"
# An unreadable file (root reads everything: only checked for other users).
if [ "$(id -u)" -ne 0 ]; then
	cp "$top_srcdir/etc/tally.yaml" "$work/secret.yaml"
	chmod 000 "$work/secret.yaml"
	run --check-config -c "$work/secret.yaml"
	expect_status 1 "unreadable file"
	expect_in err "$work/secret.yaml: cannot read: Permission denied" "unreadable file"
fi

# --help and --version.
run --help
expect_status 0 "--help"
expect_in out "Usage: tallyd [-c FILE] [--check-config]" "--help"
expect_in out "--check-config" "--help"
expect_in out "/etc/tally/tally.yaml" "--help"
expect_in out "Roles: collector (collector.enabled) and the query API" "--help"
expect_in out "SIGHUP" "--help"
run -h
expect_status 0 "-h"
expect_in out "Usage: tallyd" "-h"
run --version
expect_status 0 "--version"
grep -E -q '^tallyd \(tally\) [0-9]+\.[0-9]+\.[0-9]+' "$work/out" || fail "--version output"
run -V
expect_status 0 "-V"

# Bad usage.
run --no-such-option
expect_status 1 "bad option"
expect_in err "Try 'tallyd --help'" "bad option"
run extra-argument
expect_status 1 "extra argument"
expect_in err "unexpected argument 'extra-argument'" "extra argument"

# Without --check-config: the sample's folders (database, buffer) do not exist here:
# status 3, with the folder named.
run -c "$top_srcdir/etc/tally.yaml"
expect_status 3 "no --check-config"
expect_in err "/var/lib/tally" "no --check-config"
# The API role alone checks its database the same way.
printf 'collector: {enabled: false}\n' >"$work/api_only.yaml"
run -c "$work/api_only.yaml"
expect_status 3 "api only"
expect_in err "/var/lib/tally" "api only"

# ... and an invalid one is still status 1.
run -c "$CONF/bad_range.yaml"
expect_status 1 "no --check-config, bad file"

echo "$checks runs, $failures failures"
[ "$failures" -eq 0 ]
