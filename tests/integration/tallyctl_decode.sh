#!/bin/sh
# Real ceilometer messages (samples and events signed by Debian's
# python3-ceilometer, wrapped by python3-oslo.messaging, packed by
# python3-msgpack) decoded by the real tallyctl binary and compared field by
# field with what ceilometer sent. Skips (77) only when those are missing.
set -u
: "${top_srcdir:?run from make check}" "${top_builddir:?run from make check}"
PYTHON3_DEBIAN=${PYTHON3_DEBIAN:-/usr/bin/python3}

if ! "$PYTHON3_DEBIAN" -c 'import ceilometer.publisher.utils, oslo_messaging, msgpack' 2>/dev/null; then
	echo "SKIP: python3-ceilometer, python3-oslo.messaging or python3-msgpack missing"
	exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/tally-decode.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT
"$PYTHON3_DEBIAN" "$top_srcdir/tests/integration/check_decode.py" "$top_builddir/tallyctl" "$work"
