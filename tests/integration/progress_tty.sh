#!/bin/sh
# Progress of long work (common/progress.h): tallyctl dbsync, tally-expirer
# and tallyctl import-ceilometer draw a progress line on stderr when it is a
# terminal (util-linux's script -qc gives them one): \r-redrawn, with the
# count, a rate and the elapsed time, then a final line; piped (cron) they
# say nothing on stderr and their summaries on stdout are unchanged;
# TALLY_PROGRESS=0 silences a terminal too. dbsync runs on SQLite and, when a
# PostgreSQL server is installed, on a private cluster (migrations, partitions).
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
[ -n "${PYTHON3_DEBIAN:-}" ] || { echo "run from make check"; exit 99; }
command -v script >/dev/null 2>&1 || { echo "no script(1) (util-linux)"; exit 77; }
TALLYCTL="$top_builddir/tallyctl"
EXPIRER="$top_builddir/tally-expirer"
SEED="$top_builddir/tests/tools/seed_store"
[ -x "$SEED" ] || { echo "tests/tools/seed_store not built"; exit 99; }
work=$(mktemp -d "${TMPDIR:-/tmp}/progress_tty.XXXXXX") || exit 99
PG="sh $top_srcdir/scripts/postgresql"
trap '$PG stop "$work/pg" immediate >/dev/null 2>&1; rm -rf "$work"' EXIT INT TERM
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# on_tty OUT CMD: runs the shell command CMD with a terminal for its
# stdin, stdout and stderr (stdout sent to /dev/null by CMD itself when
# only stderr is to be seen); OUT gets what the terminal showed.
on_tty() {
	out=$1
	shift
	script -qec "$*" /dev/null </dev/null >"$out" 2>&1
}

# has FILE TEXT WHAT
has() {
	grep -F -q -- "$2" "$1" || { fail "$3: lacks '$2'"; cat -A "$1" | head -20; }
}

cat >"$work/tally.yaml" <<EOC
storage:
  connection: "sqlite://$work/t.db"
  metering_time_to_live: 3600
  event_time_to_live: 3600
EOC

# ---- tallyctl dbsync
on_tty "$work/dbsync.tty" "'$TALLYCTL' -c '$work/tally.yaml' dbsync >/dev/null"
has "$work/dbsync.tty" "$(printf '\r')dbsync database 1 [" "dbsync on a terminal"
has "$work/dbsync.tty" "steps/s, 0:00:00 elapsed" "dbsync on a terminal"
has "$work/dbsync.tty" "dbsync database 1: 1 steps in" "dbsync final line"
grep -q "applied" "$work/dbsync.tty" && fail "dbsync: stdout was /dev/null, yet 'applied' shows"
"$TALLYCTL" -c "$work/tally.yaml" dbsync >"$work/dbsync.out" 2>"$work/dbsync.err" ||
	fail "dbsync piped: exit status"
[ -s "$work/dbsync.err" ] && { fail "dbsync piped: stderr not empty"; cat -A "$work/dbsync.err"; }
has "$work/dbsync.out" "database 1 (sqlite): ready" "dbsync piped stdout"

# ---- tallyctl dbsync on PostgreSQL: migrations, then partitions (skipped without a server;
# about 4 s)
vars=$($PG start "$work/pg" 2>"$work/pg.err")
rc=$?
if [ $rc -eq 0 ]; then
	eval "$vars"
	on_tty "$work/pg.tty" "'$TALLYCTL' dbsync --connection '$TALLY_PG_URL' >/dev/null"
	has "$work/pg.tty" "$(printf '\r')dbsync database 1 [" "PostgreSQL dbsync on a terminal"
	grep -E -q "dbsync database 1: [0-9]+ steps in [0-9.]+ s \([0-9]+ steps/s\), ready" "$work/pg.tty" ||
		fail "PostgreSQL dbsync final line"
	"$TALLYCTL" dbsync --connection "$TALLY_PG_URL" >"$work/pg.out" 2>"$work/pg.err2" ||
		fail "PostgreSQL dbsync piped: exit status"
	[ -s "$work/pg.err2" ] && fail "PostgreSQL dbsync piped: stderr not empty"
	has "$work/pg.out" "database 1 (postgresql): ready" "PostgreSQL dbsync piped stdout"
	$PG stop "$work/pg" immediate >/dev/null 2>&1
elif [ $rc -eq 77 ]; then
	echo "no PostgreSQL server: its dbsync is not checked"
else
	cat "$work/pg.err"
	fail "cannot start PostgreSQL"
fi

# ---- tally-expirer: 3,000 samples of 2020, all past the TTL
"$PYTHON3_DEBIAN" - "$work/seed.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], 'w') as f:
    for b in range(6):
        items = []
        for i in range(500):
            n = b * 500 + i
            items.append({
                'counter_name': 'cpu', 'counter_type': 'cumulative', 'counter_unit': 'ns',
                'counter_volume': n, 'user_id': 'u', 'project_id': 'p',
                'resource_id': 'r%d' % (n % 7), 'timestamp': '2020-01-01T00:%02d:%02d' % (n // 60 % 60, n % 60),
                'resource_metadata': {}, 'source': 'openstack',
                'message_id': 'm%06d' % n, 'message_signature': 'x'})
        f.write(json.dumps(items) + '\n')
PY
seed() {
	"$SEED" "sqlite://$work/t.db" "$work/seed.jsonl" >/dev/null 2>"$work/seed.err" ||
		{ fail "seed_store"; cat "$work/seed.err"; }
}
seed
on_tty "$work/expirer.tty" "'$EXPIRER' -c '$work/tally.yaml' --batch-rows 500 >/dev/null"
has "$work/expirer.tty" "$(printf '\r')samples [" "expirer on a terminal"
has "$work/expirer.tty" "rows/s" "expirer on a terminal"
has "$work/expirer.tty" "elapsed" "expirer on a terminal"
has "$work/expirer.tty" "samples: 3000 rows in" "expirer final line"
has "$work/expirer.tty" "), removed" "expirer final line"
seed
"$EXPIRER" -c "$work/tally.yaml" --batch-rows 500 >"$work/expirer.out" 2>"$work/expirer.err" ||
	fail "expirer piped: exit status"
[ -s "$work/expirer.err" ] && { fail "expirer piped: stderr not empty"; cat -A "$work/expirer.err"; }
has "$work/expirer.out" "samples: 3000 removed before" "expirer piped stdout"
# TALLY_PROGRESS=0: quiet on a terminal too
seed
on_tty "$work/expirer0.tty" "TALLY_PROGRESS=0 '$EXPIRER' -c '$work/tally.yaml' >/dev/null"
[ -s "$work/expirer0.tty" ] && { fail "TALLY_PROGRESS=0: output on the terminal"; cat -A "$work/expirer0.tty"; }

# ---- tallyctl import-ceilometer
CONF="$top_srcdir/tests/data/import/debian12-ceilometer.conf"
on_tty "$work/import.tty" "'$TALLYCTL' import-ceilometer '$CONF' >/dev/null"
has "$work/import.tty" "$(printf '\r')import-ceilometer " "import on a terminal"
has "$work/import.tty" "lines/s" "import on a terminal"
has "$work/import.tty" "import-ceilometer: 1100 lines in" "import final line"
has "$work/import.tty" "options carried over, 1 not" "import final line"
"$TALLYCTL" import-ceilometer "$CONF" >"$work/import.out" 2>"$work/import.err" || fail "import piped"
[ -s "$work/import.err" ] && { fail "import piped: stderr not empty"; cat -A "$work/import.err"; }
has "$work/import.out" "collector:" "import piped stdout"

echo "$failures failures"
[ "$failures" -eq 0 ]
