#!/bin/sh
# The PostgreSQL storage driver against a private cluster (scripts/postgresql):
#  1. the storage conformance suite (tests/unit/test_storage) on a fresh database;
#  2. check_schema on an empty database names `tallyctl dbsync`; dbsync twice
#     (the second is a no-op) and two dbsyncs at once on a fresh database;
#  3. partitions ahead of now and on demand (far past, far future, over rows
#     already in sample_default, an hourly width beside daily ones),
#     idempotent replays across partitions;
#  4. a record the database refuses: flagged, the rest of its batch stored;
#  5. events and traits, duplicates counted; every read entry point streams;
#     resource_meter rows written only when a pair changes, expired by the
#     absence of samples, rewritten after an expiry (two writers);
#  6. the server stopped (pg_ctl -m fast) while a writer streams: -EAGAIN,
#     then after a restart the same batches replay and every sample is
#     stored exactly once;
#  7. expiry drops whole partitions, deletes in the edge one, removes orphans.
# Skipped (77) when no PostgreSQL server is installed. Prints the server log
# on failure. About 20 s.
set -u
: "${top_srcdir:?run from make check}" "${top_builddir:?run from make check}"
PG="sh $top_srcdir/scripts/postgresql"
CHECK=$top_builddir/tests/tools/pg_check
SUITE=$top_builddir/tests/unit/test_storage
wpid=

work=$(mktemp -d "${TMPDIR:-/tmp}/tally-pg.XXXXXX") || exit 99
cleanup() {
	[ -n "$wpid" ] && kill -9 "$wpid" 2>/dev/null
	$PG stop "$work/pg" immediate >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	for f in "$work"/*.out; do
		[ -s "$f" ] && { echo "---- $f"; tail -n 30 "$f"; }
	done
	$PG logs "$work/pg"
	exit 1
}

out=$($PG start "$work/pg" 2>"$work/start.err")
rc=$?
[ $rc -eq 77 ] && { echo "SKIP: no PostgreSQL server installed"; exit 77; }
[ $rc -eq 0 ] || { cat "$work/start.err"; echo "FAIL: cannot start PostgreSQL"; exit 1; }
eval "$out"

newdb() {
	$PG createdb "$work/pg" "$1" 2>>"$work/createdb.out" || fail "createdb $1"
}

# 1. The conformance suite, when it is built (it is another module's test).
if [ -x "$SUITE" ]; then
	url=$(newdb conformance)
	TALLY_TEST_STORAGE_URL=$url "$SUITE" >"$work/suite.out" 2>&1 ||
		fail "the conformance suite failed on PostgreSQL"
	echo "conformance suite: $(grep -c '^\[       OK' "$work/suite.out") tests passed"
else
	echo "note: $SUITE not built; conformance suite not run"
fi

# 2. Schema checks.
url=$(newdb empty)
"$CHECK" "$url" empty >"$work/empty.out" 2>&1 || fail "check_schema on an empty database"
"$CHECK" "$url" dbsync >"$work/dbsync1.out" 2>&1 || fail "first dbsync"
grep -qx 'applied 001_initial' "$work/dbsync1.out" &&
	grep -qx 'applied 002_expiry_indexes' "$work/dbsync1.out" || fail "first dbsync report"
"$CHECK" "$url" dbsync >"$work/dbsync2.out" 2>&1 || fail "second dbsync"
grep -qx 'schema is up to date at version 2' "$work/dbsync2.out" || fail "second dbsync report"
url=$(newdb twice)
"$CHECK" "$url" dbsync >"$work/dbsync-a.out" 2>&1 &
pa=$!
"$CHECK" "$url" dbsync >"$work/dbsync-b.out" 2>&1 &
pb=$!
wait $pa || fail "concurrent dbsync A"
wait $pb || fail "concurrent dbsync B"
n=$(cat "$work/dbsync-a.out" "$work/dbsync-b.out" | grep -cx 'applied 001_initial')
[ "$n" -eq 1 ] || fail "concurrent dbsyncs applied the migration $n times"
[ "$($PG psql "$work/pg" -d twice -tAc 'SELECT count(*) FROM tally_schema_migrations')" = 2 ] ||
	fail "tally_schema_migrations rows"
echo "schema: ok"

# 3-5. Partitions, refused records, events.
url=$(newdb checks)
"$CHECK" "$url" dbsync >/dev/null 2>&1 || fail "dbsync"
for c in partitions refused events reads; do
	"$CHECK" "$url" $c >"$work/$c.out" 2>&1 || fail "$c"
	cat "$work/$c.out"
done

# 5b. resource_meter: written when a pair changes, expired by its samples, two writers.
url=$(newdb pairs)
"$CHECK" "$url" dbsync >/dev/null 2>&1 || fail "dbsync"
"$CHECK" "$url" pairs >"$work/pairs.out" 2>&1 || fail "pairs"
cat "$work/pairs.out"

# 6. The server stops while a writer streams, then comes back.
url=$(newdb restart)
"$CHECK" "$url" dbsync >/dev/null 2>&1 || fail "dbsync"
TOTAL=8000
"$CHECK" "$url" writer $TOTAL >"$work/writer.out" 2>&1 &
wpid=$!
i=0
until [ "$(grep -c '^progress' "$work/writer.out")" -ge 10 ]; do
	i=$((i + 1))
	[ $i -le 600 ] || fail "the writer made no progress"
	kill -0 "$wpid" 2>/dev/null || fail "the writer exited early"
	sleep 0.05
done
$PG stop "$work/pg" fast || fail "pg_ctl stop"
i=0
until grep -q '^EAGAIN' "$work/writer.out"; do
	i=$((i + 1))
	[ $i -le 600 ] || fail "the writer saw no -EAGAIN with the server down"
	sleep 0.05
done
sleep 1
$PG start "$work/pg" >/dev/null 2>"$work/restart.out" || fail "restart"
wait "$wpid" || { wpid=; fail "the writer failed"; }
wpid=
tail -n 1 "$work/writer.out"
got=$($PG psql "$work/pg" -d restart -tAc \
	"SELECT count(*) || ' ' || count(DISTINCT message_id) FROM sample")
[ "$got" = "$TOTAL $TOTAL" ] || fail "after the restart: count, distinct = $got, expected $TOTAL"
echo "restart: $TOTAL samples stored exactly once"

# 7. Expiry (on the database of step 5's events, which it expires too).
url=$(newdb expire)
"$CHECK" "$url" dbsync >/dev/null 2>&1 || fail "dbsync"
"$CHECK" "$url" events >/dev/null 2>&1 || fail "events before expiry"
"$CHECK" "$url" expire >"$work/expire.out" 2>&1 || fail "expire"
cat "$work/expire.out"
exit 0
