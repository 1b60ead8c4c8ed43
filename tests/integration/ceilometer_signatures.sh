#!/bin/sh
# Messages signed by the real ceilometer (Debian's python3-ceilometer 19.0.0)
# verify with Tally's signer; tampered ones and a wrong secret do not.
# Skips (77) only when python3-ceilometer is not installed.
set -u

: "${top_srcdir:?run from make check}" "${top_builddir:?run from make check}"
PYTHON3_DEBIAN=${PYTHON3_DEBIAN:-/usr/bin/python3}
GEN="$top_srcdir/tests/data/gen_ceilometer_messages.py"
SIGCHECK="$top_builddir/tests/tools/sigcheck"
SECRET='tally test secret, with é'
COUNT=250

if ! "$PYTHON3_DEBIAN" -c 'import ceilometer.publisher.utils, ceilometer.sample, ceilometer.event.models' 2>/dev/null; then
	echo "SKIP: python3-ceilometer is not installed for $PYTHON3_DEBIAN"
	exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tally-sig.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT

fail() {
	echo "FAIL: $*"
	exit 1
}

# count WORD FILE: lines of FILE that are exactly WORD or start with "WORD ".
count() {
	grep -c -e "^$1\$" -e "^$1 " "$2"
}

"$PYTHON3_DEBIAN" "$GEN" --secret "$SECRET" --count "$COUNT" >"$work/good.jsonl" ||
	fail "the generator failed"
"$PYTHON3_DEBIAN" "$GEN" --secret "$SECRET" --count "$COUNT" --tamper >"$work/tampered.jsonl" ||
	fail "the generator failed (--tamper)"
[ "$(wc -l <"$work/good.jsonl")" -eq "$COUNT" ] || fail "expected $COUNT messages"

# 1. Every genuine message verifies.
"$SIGCHECK" "$SECRET" <"$work/good.jsonl" >"$work/good.out"
rc=$?
ok=$(count ok "$work/good.out")
echo "genuine: $ok/$COUNT verified ($(grep -c '^ok py3$' "$work/good.out") py3," \
	"$(grep -c '^ok py3-bytes$' "$work/good.out") py3-bytes," \
	"$(grep -c '^ok py2$' "$work/good.out") py2)"
if [ "$rc" -ne 0 ] || [ "$ok" -ne "$COUNT" ]; then
	paste -d ' ' "$work/good.out" "$work/good.jsonl" | grep '^bad' | head -5
	fail "genuine messages rejected (sigcheck exit $rc)"
fi

# 2. Every tampered message is rejected.
"$SIGCHECK" "$SECRET" <"$work/tampered.jsonl" >"$work/tampered.out"
rc=$?
bad=$(count bad "$work/tampered.out")
echo "tampered: $bad/$COUNT rejected"
if [ "$rc" -ne 1 ] || [ "$bad" -ne "$COUNT" ]; then
	paste -d ' ' "$work/tampered.out" "$work/tampered.jsonl" | grep '^ok' | head -5
	fail "tampered messages accepted (sigcheck exit $rc)"
fi

# 3. With another secret nothing verifies.
"$SIGCHECK" "wrong secret" <"$work/good.jsonl" >"$work/wrong.out"
rc=$?
bad=$(count bad "$work/wrong.out")
echo "wrong secret: $bad/$COUNT rejected"
[ "$rc" -eq 1 ] && [ "$bad" -eq "$COUNT" ] || fail "messages verified with the wrong secret"

# 4. Lists signed as ceilometer 6.0.0 did under Python 3 (['a'], not [b'a']).
"$PYTHON3_DEBIAN" "$GEN" --secret "$SECRET" --count "$COUNT" --seed 7 --decode-unicode 6 \
	>"$work/legacy.jsonl" || fail "the generator failed (--decode-unicode 6)"
"$SIGCHECK" "$SECRET" <"$work/legacy.jsonl" >"$work/legacy.out"
rc=$?
ok=$(count ok "$work/legacy.out")
echo "6.0.0-style lists: $ok/$COUNT verified"
if [ "$rc" -ne 0 ] || [ "$ok" -ne "$COUNT" ] || grep -q '^ok py3-bytes' "$work/legacy.out"; then
	paste -d ' ' "$work/legacy.out" "$work/legacy.jsonl" | grep -v '^ok py3 {' | head -5
	fail "6.0.0-style messages rejected or matched as b'' lists (sigcheck exit $rc)"
fi

exit 0
