#!/bin/sh
# The query API over a seeded PostgreSQL store (a private cluster started by
# scripts/postgresql): the same checks as api_sqlite.sh.
. "$top_srcdir/tests/integration/api_lib.sh"
PG="sh $top_srcdir/scripts/postgresql"
pg_cleanup() {
	$PG stop "$work/pg" >/dev/null 2>&1
	lib_cleanup
}
trap pg_cleanup EXIT
vars=$($PG start "$work/pg" 2>"$work/pg.err")
rc=$?
[ $rc -eq 77 ] && { echo "SKIP: no PostgreSQL server"; exit 77; }
[ $rc -eq 0 ] || { cat "$work/pg.err"; fail "cannot start PostgreSQL"; }
eval "$vars"
url=$($PG createdb "$work/pg" api) || fail "createdb"
api_run "$url"
