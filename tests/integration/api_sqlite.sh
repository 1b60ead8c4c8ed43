#!/bin/sh
# The query API over a seeded SQLite store: tests/integration/api_check.py
# compares every endpoint's answer, error and RBAC case with the reference.
. "$top_srcdir/tests/integration/api_lib.sh"
api_run "sqlite://$work/tally.db"
