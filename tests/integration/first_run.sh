#!/bin/sh
# The first run, as a user does it: scripts/run with no arguments in a new
# state folder ($TALLY_HOME), where nothing answers at the configured broker.
# It must start a private RabbitMQ node, start tallyd (which creates the
# schema of its new SQLite database itself), print the API's URL and two
# commands; the publish command, run exactly as printed, sends a signed
# sample that the printed read-back command then finds through the API.
# Ctrl-C (SIGINT to the foreground process group, as a terminal sends it)
# stops tallyd and the broker: none of their processes is left, and the
# status is 130 (or 0).
#
# scripts/run uses make check's build tree (TALLY_BUILD=$top_builddir): it
# neither runs scripts/setup nor builds. Ports are free ones, through the
# environment variables scripts/run documents.
set -u
. "$top_srcdir/tests/integration/lib.sh"
"$PY" -c 'import ceilometer.publisher.utils, oslo_messaging' 2>/dev/null ||
	{ echo "SKIP: python3-ceilometer or oslo.messaging missing"; exit 77; }
[ -e "${TALLY_RABBITMQ_SERVER:-/usr/lib/rabbitmq/bin/rabbitmq-server}" ] ||
	command -v rabbitmq-server >/dev/null 2>&1 || { echo "SKIP: no RabbitMQ server"; exit 77; }

home=$work/home
rpid=

fr_cleanup() {
	[ -n "$rpid" ] && kill -TERM "-$rpid" 2>/dev/null
	$RABBIT stop "$home/rabbitmq" >/dev/null 2>&1
	lib_cleanup
}
trap fr_cleanup EXIT


# gone PID: the process does not exist, or is a zombie (nobody reaps the
# broker, reparented to PID 1, in some containers).
gone() {
	[ -z "$1" ] && return 0
	kill -0 "$1" 2>/dev/null || return 0
	case $(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) in
	Z*) return 0 ;;
	esac
	return 1
}

# Arguments still go to tallyd as they are.
TALLY_BUILD=$top_builddir sh "$top_srcdir/scripts/run" --check-config >"$work/check.out" 2>&1 ||
	{ cat "$work/check.out"; fail "scripts/run --check-config failed"; }
grep -q "configuration OK" "$work/check.out" || { cat "$work/check.out"; fail "--check-config output"; }

# The configured broker: a port where nothing listens.
closed=$(free_port)
api_port=$(free_port)
udp_port=$(free_port)
# As an interactive shell starts a foreground job: its own process group
# (to receive the "Ctrl-C" below as a group) and SIGINT at its default (a
# shell starts background commands with SIGINT ignored, and scripts/run
# could not trap it then). The log is named tallyd-* so that fail() prints it.
TALLY_HOME=$home TALLY_BUILD=$top_builddir TALLY_AMQP_URL="amqp://guest:guest@127.0.0.1:$closed/" \
	TALLY_API_PORT=$api_port TALLY_UDP_PORT=$udp_port TALLY_CONTROL_PORT=$(free_port) \
	"$PY" -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setpgid(0, 0)
os.execvp("sh", ["sh"] + sys.argv[1:])' "$top_srcdir/scripts/run" >"$work/tallyd-run.log" 2>&1 &
rpid=$!

wait_log "$work/tallyd-run.log" '^Read it back' 120 "$rpid" scripts/run
[ "$(ps -o pgid= -p "$rpid" | tr -d ' ')" = "$rpid" ] || fail "scripts/run does not lead its process group"
grep -q "starting a private RabbitMQ node" "$work/tallyd-run.log" || fail "scripts/run did not say it starts a broker"
grep -q "created the schema of the new SQLite database $home/tally.db" "$work/tallyd-run.log" ||
	fail "tallyd did not create the schema of its new database"
grep -q "The API .* is http://127.0.0.1:$api_port/" "$work/tallyd-run.log" || fail "the API's URL is not printed"
publish=$(sed -n '/^Publish a signed sample/{n;p;}' "$work/tallyd-run.log")
read_back=$(sed -n '/^Read it back/{n;p;}' "$work/tallyd-run.log")
[ -n "$publish" ] && [ -n "$read_back" ] || fail "the commands are not printed"
echo "publish:$publish"
echo "read back:$read_back"

# The processes to be gone at the end: tallyd and the broker's.
tallyd_pid=$(ps -o pid= --ppid "$rpid" -o comm= | awk '$2 == "tallyd" {print $1}')
[ -n "$tallyd_pid" ] || fail "no tallyd under scripts/run"
# shellcheck disable=SC1091
. "$home/rabbitmq/state"
[ -n "$beam_pid" ] && ! gone "$beam_pid" || fail "the private broker is not running"

sh -c "$publish" || fail "the printed publish command failed"
i=0
until sh -c "$read_back" 2>/dev/null | grep -q '"counter_name": "cpu"'; do
	i=$((i + 1))
	[ $i -le 300 ] || fail "the published sample did not come back through the API within 30 s"
	sleep 0.1
done
echo "the published sample came back through the API"

# Ctrl-C.
kill -INT "-$rpid"
wait_exit "$rpid" 60 "scripts/run did not stop within 60 s of SIGINT"
rpid=
[ $rc -eq 130 ] || [ $rc -eq 0 ] || fail "scripts/run exited with status $rc after SIGINT"
for p in $tallyd_pid $beam_pid $server_pid $epmd_pid; do
	gone "$p" || fail "process $p ($(ps -o args= -p "$p")) still runs after SIGINT"
done
grep -q "SIGINT: stopping\|SIGTERM: stopping" "$work/tallyd-run.log" || fail "tallyd was not stopped by a signal"
left=$(pgrep -f "$work" 2>/dev/null) && fail "processes left: $left"
echo "SIGINT: tallyd and the private broker stopped, status $rc"
exit 0
