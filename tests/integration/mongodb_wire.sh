#!/bin/sh
# The MongoDB storage driver at the wire (issue 19): no MongoDB server is
# packaged for Debian 12, so python3-mockupdb plays the server and
# mongodb_wire.py checks the commands libmongoc sends for dbsync
# (collections, ceilometer's indexes, message_id unique, TTL indexes with
# expireAfterSeconds, collMod, dropIndexes, the schema version), unordered
# inserts, resource upserts, event inserts, the find filters and the
# statistics pipeline, and the driver's answers to duplicate keys,
# NotWritablePrimary, a write-concern timeout, a connection dropped
# mid-batch, malformed replies and a refused document. The driver runs in
# tests/tools/mongo_wire; then tallyctl dbsync applies a configuration's
# TTLs, and tallyd's database dispatcher stores UDP samples, the one the
# server refuses dead-lettered alone. Skipped (77) without python3-mockupdb.
# About 5 s.
set -u
: "${top_srcdir:?run from make check}" "${top_builddir:?run from make check}"
PY=${PYTHON3_DEBIAN:-/usr/bin/python3}
TOOL=$top_builddir/tests/tools/mongo_wire
if ! "$PY" -c 'import mockupdb' 2>/dev/null; then
	echo "SKIP: python3-mockupdb is not installed for $PY (scripts/setup installs it)"
	exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/tally-mongo.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT
"$PY" "$top_srcdir/tests/integration/mongodb_wire.py" "$TOOL" "$top_builddir/tallyctl" "$work"
