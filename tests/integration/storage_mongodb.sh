#!/bin/sh
# The storage conformance suite (tests/unit/test_storage) against a real
# MongoDB server, when TALLY_TEST_MONGODB_URL names a fresh, empty database
# on one (mongodb://host:27017/tally_conformance). Debian 12 packages no
# MongoDB server, so without the variable the test is skipped (77) and the
# driver is covered at the wire by mongodb_wire.sh.
set -u
: "${top_srcdir:?run from make check}" "${top_builddir:?run from make check}"
SUITE=$top_builddir/tests/unit/test_storage
if [ -z "${TALLY_TEST_MONGODB_URL:-}" ]; then
	echo "SKIP: TALLY_TEST_MONGODB_URL is not set (no MongoDB server is packaged for Debian 12;" \
		"set it to a fresh database on a server to run the conformance suite)"
	exit 77
fi
TALLY_TEST_STORAGE_URL=$TALLY_TEST_MONGODB_URL "$SUITE"
