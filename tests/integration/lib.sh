# tests/integration/lib.sh — shared by the collector tests (sourced).
# Needs top_srcdir and top_builddir (make check exports them).
: "${top_srcdir:?run from make check}" "${top_builddir:?run from make check}"
PY=${PYTHON3_DEBIAN:-/usr/bin/python3}
TALLYD=$top_builddir/tallyd
TALLYCTL=$top_builddir/tallyctl
RABBIT="sh $top_srcdir/scripts/rabbitmq"
tpid=
proxy=

work=$(mktemp -d "${TMPDIR:-/tmp}/tally-it.XXXXXX") || exit 99
lib_cleanup() {
	[ -n "$tpid" ] && kill -9 "$tpid" 2>/dev/null
	[ -n "$proxy" ] && kill "$proxy" 2>/dev/null
	[ -d "$work/gn" ] && "$GN" stop "$work/gn" >/dev/null 2>&1
	$RABBIT stop "$work/rmq" >/dev/null 2>&1
	rm -rf "$work"
}
trap lib_cleanup EXIT

fail() {
	echo "FAIL: $*"
	for f in "$work"/tallyd*.log; do
		[ -f "$f" ] && { echo "---- $f"; tail -n 40 "$f"; }
	done
	exit 1
}

# Skips (77) when RabbitMQ or the Python peers are missing.
need_peers() {
	"$PY" -c 'import ceilometer.publisher.utils, oslo_messaging, msgpack, kombu' 2>/dev/null ||
		{ echo "SKIP: python3-ceilometer, oslo.messaging, msgpack or kombu missing"; exit 77; }
	out=$($RABBIT start "$work/rmq" 2>"$work/rabbit.err")
	rc=$?
	[ $rc -eq 77 ] && { echo "SKIP: no RabbitMQ server"; exit 77; }
	[ $rc -eq 0 ] || { cat "$work/rabbit.err"; echo "FAIL: cannot start RabbitMQ"; exit 1; }
	eval "$out"
}

# free_port: a port free for TCP and UDP on 127.0.0.1, outside the kernel's
# ephemeral range (scripts/free-port says why).
free_port() {
	"$PY" "$top_srcdir/scripts/free-port"
}

# write_conf SECRET UDP_PORT: the test configuration, file dispatcher "out".
write_conf() {
	cat >"$work/tally.yaml" <<CONF
telemetry_secret: "$1"
collector:
  amqp: {urls: ["$TALLY_AMQP_URL"], workers: 2, batch_size: 100, batch_timeout: 0.05}
  udp: {address: "127.0.0.1", port: $2}
  buffer: {path: "$work/buffer", max_size: 512MiB}
  dispatchers: [{name: out, type: file, file_path: "$work/out.log"}]
api: {enabled: false}
control: {port: 0}
log: {level: info}
CONF
}

# wait_log FILE PATTERN SECONDS PID WHAT: waits until FILE has a line that
# matches PATTERN (grep); fails when SECONDS pass first or when the process
# PID (WHAT, for the message) exits.
wait_log() {
	i=0
	until grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le $(($3 * 20)) ] || fail "$5 did not log '$2' within $3 s"
		kill -0 "$4" 2>/dev/null || fail "$5 exited at start"
		sleep 0.05
	done
}

# launch_tallyd N PATTERN: starts tallyd, its log in tallyd-N.log, and waits
# (10 s at most) until the log shows PATTERN.
launch_tallyd() {
	"$TALLYD" -c "$work/tally.yaml" 2>>"$work/tallyd-$1.log" &
	tpid=$!
	wait_log "$work/tallyd-$1.log" "$2" 10 "$tpid" tallyd
}

# start_tallyd N: starts tallyd and waits for its consumers to be up.
start_tallyd() {
	launch_tallyd "$1" "consuming from"
}

# start_tallyd_nobroker N: starts tallyd with no broker to wait for (its AMQP
# input retries a closed port meanwhile).
start_tallyd_nobroker() {
	launch_tallyd "$1" "collector started"
}

# start_amqp_proxy: starts tests/integration/amqp_proxy.py (it loses the
# first acknowledgement) in front of the private RabbitMQ node; its pid in
# $proxy (killed at exit), its port in $pport, its view of the wire in
# $work/proxy.events.
start_amqp_proxy() {
	pport=$(free_port)
	"$PY" "$top_srcdir/tests/integration/amqp_proxy.py" "$pport" "$TALLY_RABBIT_PORT" \
		"$work/proxy.events" >"$work/proxy.out" 2>"$work/proxy.err" &
	proxy=$!
	wait_log "$work/proxy.out" listening 5 "$proxy" amqp_proxy.py
}

# dispatched: the records the "out" dispatcher has delivered so far.
dispatched() {
	n=$("$TALLYCTL" buffer stats --path "$work/buffer" 2>/dev/null |
		sed -n 's/.*"name":"out","next_seq":\([0-9]*\).*/\1/p')
	echo $((${n:-1} - 1))
}

# wait_lines N SECONDS: until out.log has at least N lines.
wait_lines() {
	i=0
	while [ "$(wc -l 2>/dev/null <"$work/out.log" || echo 0)" -lt "$1" ]; do
		i=$((i + 1))
		[ $i -le $(($2 * 20)) ] || fail "only $(wc -l 2>/dev/null <"$work/out.log") of $1 lines after $2 s"
		sleep 0.05
	done
}

# wait_exit PID SECONDS MESSAGE: waits until the child PID exits (its status
# in rc), or fails with MESSAGE when SECONDS pass first.
wait_exit() {
	i=0
	while kill -0 "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le $(($2 * 20)) ] || fail "$3"
		sleep 0.05
	done
	wait "$1"
	rc=$?
}

# stop_tallyd: SIGTERM, bounded wait, exit status must be 0.
stop_tallyd() {
	kill -TERM "$tpid"
	wait_exit "$tpid" 20 "tallyd did not stop within 20 s of SIGTERM"
	tpid=
	[ $rc -eq 0 ] || fail "tallyd exited with status $rc after SIGTERM"
}

# start_keystone [TOKEN_SECONDS]: starts a private Keystone in $work/ks
# (scripts/keystone, as $KS; tokens live TOKEN_SECONDS, default 3600) and
# seeds it; its variables (TALLY_KS_*) are exported. Skips (77) when it is
# not installed. The caller's EXIT trap stops it: "$KS" stop "$work/ks".
KS="$top_srcdir/scripts/keystone"
start_keystone() {
	vars=$(TALLY_KS_TOKEN_EXPIRATION=${1:-3600} "$KS" start "$work/ks" 2>"$work/ks.err")
	rc=$?
	[ $rc -eq 77 ] && { echo "SKIP: python3-keystone or uwsgi missing"; exit 77; }
	[ $rc -eq 0 ] || { cat "$work/ks.err"; fail "cannot start Keystone"; }
	eval "$vars"
	vars=$("$KS" seed "$work/ks") || { "$KS" logs "$work/ks"; fail "cannot seed Keystone"; }
	eval "$vars"
}

# The control API over its Unix socket, $work/control.sock:
# req METHOD PATH [BODY_FILE]: the body to $work/body, the status to $work/status;
# want STATUS WHAT: fails unless the last answer had STATUS;
# field EXPRESSION: a Python expression on j, the last answer's JSON, printed.
req() {
	curl -s -o "$work/body" -w '%{http_code}' --unix-socket "$work/control.sock" -X "$1" \
		${3:+-H 'Content-Type: application/json' --data-binary @"$3"} "http://tally$2" >"$work/status"
}
want() { [ "$(cat "$work/status")" = "$1" ] || fail "$2: status $(cat "$work/status"), want $1: $(cat "$work/body")"; }
field() { "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($1)" "$work/body"; }

# start_postgresql: starts a private PostgreSQL cluster in $work/pg
# (scripts/postgresql, as $PG) and exports its variables (TALLY_PG_URL...);
# skips (77) when no server is installed. The caller's EXIT trap stops it:
# $PG stop "$work/pg".
PG="sh $top_srcdir/scripts/postgresql"
start_postgresql() {
	vars=$($PG start "$work/pg" 2>"$work/pg.err")
	rc=$?
	[ $rc -eq 77 ] && { echo "SKIP: no PostgreSQL server"; exit 77; }
	[ $rc -eq 0 ] || { cat "$work/pg.err"; fail "cannot start PostgreSQL"; }
	eval "$vars"
}

# start_gnocchi [KSDIR]: starts a private Gnocchi in $work/gn (scripts/gnocchi,
# as $GN; behind the Keystone of KSDIR, a started and seeded scripts/keystone
# DIR, when given) and exports TALLY_GNOCCHI_URL; skips (77) when gnocchi-api
# or PostgreSQL is not installed. The caller seeds it ("$GN" seed or
# seed-types); lib_cleanup stops it.
GN="$top_srcdir/scripts/gnocchi"
start_gnocchi() {
	vars=$(TALLY_GNOCCHI_KEYSTONE=${1:-} "$GN" start "$work/gn" 2>"$work/gn.err")
	rc=$?
	[ $rc -eq 77 ] && { echo "SKIP: gnocchi-api or PostgreSQL missing"; exit 77; }
	[ $rc -eq 0 ] || { cat "$work/gn.err"; fail "cannot start Gnocchi"; }
	eval "$vars"
}
