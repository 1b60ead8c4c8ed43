#!/bin/sh
# The man pages: each renders with groff -ww (every warning on) without a
# message; tally.yaml(5) documents exactly the keys of tallyd --list-keys, in
# its order, in the scdoc source (with their defaults, ranges and help) and
# in the rendered page; and, with scdoc,
# the committed pages are what their sources give.
set -u
: "${top_srcdir:?run from make check}" "${top_builddir:?run from make check}"
PY=${PYTHON3_DEBIAN:-/usr/bin/python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/man_pages.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

command -v groff >/dev/null 2>&1 || { echo "SKIP: groff not installed"; exit 77; }

pages="tallyd.8 tallyctl.8 tally-expirer.8 tally.yaml.5"
for p in $pages; do
	# A page rebuilt in the build tree (an edited source) wins, as at install.
	f="$top_builddir/man/$p"
	[ -f "$f" ] || f="$top_srcdir/man/$p"
	LC_ALL=C.UTF-8 groff -ww -man -Tutf8 "$f" >"$work/$p.txt" 2>"$work/$p.err"
	rc=$?
	[ $rc -eq 0 ] || fail "$p: groff exit status $rc"
	if [ -s "$work/$p.err" ]; then
		cat "$work/$p.err"
		fail "$p: groff -ww warned"
	fi
	[ "$(wc -l <"$work/$p.txt")" -gt 40 ] || fail "$p: rendered to $(wc -l <"$work/$p.txt") lines"
	for s in NAME SYNOPSIS DESCRIPTION "EXIT STATUS" FILES EXAMPLES "SEE ALSO"; do
		sed 's/.\x08//g' "$work/$p.txt" | grep -q "^$s" || \
			[ "$p" = tally.yaml.5 -a "$s" = "EXIT STATUS" ] || fail "$p: no $s section"
	done
	if command -v man >/dev/null 2>&1; then
		MANWIDTH=80 man -l "$f" >/dev/null 2>"$work/$p.man" || fail "$p: man -l failed"
		[ -s "$work/$p.man" ] && { cat "$work/$p.man"; fail "$p: man -l warned"; }
	fi
	if command -v scdoc >/dev/null 2>&1; then
		scdoc <"$top_srcdir/man/$p.scd" >"$work/$p.gen" || fail "$p: scdoc failed"
		# The .TH line holds the day the page was made.
		grep -v '^\.TH ' "$work/$p.gen" >"$work/$p.gen1"
		grep -v '^\.TH ' "$f" >"$work/$p.cur"
		cmp -s "$work/$p.gen1" "$work/$p.cur" ||
			fail "$p: not what scdoc makes of $p.scd (run make)"
	fi
done

# Every option of --help is in the page.
for prog in tallyd tallyctl tally-expirer; do
	"$top_builddir/$prog" --help >"$work/$prog.help" || fail "$prog --help"
	grep -o -- '--[a-z][a-z-]*' "$work/$prog.help" | sort -u | while read -r o; do
		sed 's/.\x08//g; s/‐/-/g' "$work/$prog.8.txt" | grep -q -- "$o" ||
			echo "$prog(8) lacks $o"
	done >"$work/$prog.missing"
	[ -s "$work/$prog.missing" ] && { cat "$work/$prog.missing"; fail "$prog(8) misses options"; }
done

# The keys of the schema, against the source and the rendered page.
"$top_builddir/tallyd" --list-keys >"$work/keys" || fail "tallyd --list-keys"
[ "$(wc -l <"$work/keys")" -gt 100 ] || fail "tallyd --list-keys: $(wc -l <"$work/keys") keys"
"$PY" "$top_srcdir/man/conf_keys.py" --check "$top_srcdir/man/tally.yaml.5.scd" <"$work/keys" ||
	fail "tally.yaml.5.scd and the schema differ"
f="$top_builddir/man/tally.yaml.5"
[ -f "$f" ] || f="$top_srcdir/man/tally.yaml.5"
MANWIDTH=200 LC_ALL=C.UTF-8 groff -man -Tutf8 -rLL=200n "$f" 2>/dev/null | sed 's/.\x08//g' \
	>"$work/tally.yaml.5.plain"
"$PY" "$top_srcdir/man/conf_keys.py" --check "$work/tally.yaml.5.plain" <"$work/keys" ||
	fail "the rendered tally.yaml(5) and the schema differ"

# The test can fail: a key the schema lacks, a missing one and a wrong
# default are caught.
sed 's/^\*log\.level\*/*log.levels*/' "$top_srcdir/man/tally.yaml.5.scd" >"$work/bad.scd"
"$PY" "$top_srcdir/man/conf_keys.py" --check "$work/bad.scd" <"$work/keys" >"$work/bad.out" &&
	fail "a renamed key was not noticed"
grep -q "log.levels, which the schema does not have" "$work/bad.out" &&
	grep -q "key log.level of the schema is not documented" "$work/bad.out" ||
	{ cat "$work/bad.out"; fail "the renamed key's messages"; }

sed 's/^\*api\.port\* (int; default 8777;/*api.port* (int; default 8778;/' \
	"$top_srcdir/man/tally.yaml.5.scd" >"$work/bad2.scd"
cmp -s "$work/bad2.scd" "$top_srcdir/man/tally.yaml.5.scd" && fail "api.port's entry not found"
"$PY" "$top_srcdir/man/conf_keys.py" --check "$work/bad2.scd" <"$work/keys" >"$work/bad2.out" &&
	fail "a wrong default was not noticed"
grep -q "api.port: type, default, range or help differ" "$work/bad2.out" ||
	{ cat "$work/bad2.out"; fail "the wrong default's message"; }

[ $failures -eq 0 ] || exit 1
echo "man pages: ok"
