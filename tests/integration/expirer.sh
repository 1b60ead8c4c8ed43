#!/bin/sh
# tally-expirer against real stores: SQLite and a private PostgreSQL cluster
# (scripts/postgresql), each seeded by the storage driver's own write path;
# expirer_check.py has the steps (dry run, one expirer at a time, SIGINT and
# the next run, concurrent writes, boundaries, orphans, events,
# expire_samples_only, SQLite's space). Then the command line: no TTL keeps
# everything and says so, a bad configuration gives file:line and 2, an
# unreachable store 1.
set -u
: "${top_srcdir:?run from make check}" "${top_builddir:?run from make check}"
PY=${PYTHON3_DEBIAN:-/usr/bin/python3}
PG="sh $top_srcdir/scripts/postgresql"
EXP=$top_builddir/tally-expirer
SEED=$top_builddir/tests/tools/seed_store
work=$(mktemp -d "${TMPDIR:-/tmp}/tally-exp.XXXXXX") || exit 99
cleanup() {
	$PG stop "$work/pg" immediate >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}

mkdir -p "$work/sqlite"
"$PY" "$top_srcdir/tests/integration/expirer_check.py" --backend sqlite \
	--url "sqlite://$work/sqlite/tally.db" --work "$work/sqlite" --expirer "$EXP" \
	--seed "$SEED" || fail "SQLite"

vars=$($PG start "$work/pg" 2>"$work/pg.err") || { cat "$work/pg.err"; fail "cannot start PostgreSQL"; }
eval "$vars"
mkdir -p "$work/postgresql"
"$PY" "$top_srcdir/tests/integration/expirer_check.py" --backend postgresql \
	--url "$TALLY_PG_URL" --work "$work/postgresql" --expirer "$EXP" --seed "$SEED" ||
	{ $PG logs "$work/pg" | tail -n 20; fail "PostgreSQL"; }

# The command line.
printf 'storage:\n  connection: "%s"\n' "$TALLY_PG_URL" >"$work/keep.yaml"
out=$("$EXP" -c "$work/keep.yaml") || fail "no TTL: exit $?"
echo "$out" | grep -q 'samples: kept forever (storage.metering_time_to_live is -1)' &&
	echo "$out" | grep -q 'events: kept forever' || fail "no TTL said: $out"
printf 'storage:\n  metering_time_to_live: soon\n' >"$work/bad.yaml"
"$EXP" -c "$work/bad.yaml" 2>"$work/bad.err"
[ $? -eq 2 ] && grep -q "bad.yaml:2:" "$work/bad.err" || fail "bad config: $(cat "$work/bad.err")"
printf 'storage:\n  connection: "postgresql://tally@127.0.0.1:1/tally"\n  metering_time_to_live: 60\n' >"$work/down.yaml"
"$EXP" -c "$work/down.yaml" 2>"$work/down.err"
[ $? -eq 1 ] && grep -q "cannot open the store" "$work/down.err" ||
	fail "unreachable store: $(cat "$work/down.err")"
echo "ok: no TTL keeps everything; bad configuration 2 with file:line; unreachable store 1"
echo "PASS"
