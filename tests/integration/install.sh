#!/bin/sh
# make install DESTDIR=...: the exact file list at configure's paths (sbin:
# tallyd, tally-expirer; bin: tallyctl; $sysconfdir/tally/tally.yaml with
# this prefix's state folder, mode 0640; the man pages; the systemd units with
# this prefix's programs); the installed tallyd accepts the installed
# tally.yaml and documents its default path; an existing tally.yaml is kept
# by a second install; make uninstall leaves no file behind.
set -u
: "${top_srcdir:?run from make check}" "${top_builddir:?run from make check}"
work=$(mktemp -d "${TMPDIR:-/tmp}/install.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# The make that runs this test must not lend its jobs or flags to this one.
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL ${MAKE:-make} -s -C "$top_builddir" "$@"; }

# configure's directories, expanded.
printf 'tl-dirs:\n\t@echo "prefix=$(prefix) bindir=$(bindir) sbindir=$(sbindir) sysconfdir=$(sysconfdir) localstatedir=$(localstatedir) mandir=$(mandir) unitdir=$(systemdsystemunitdir)"\n' \
	>"$work/dirs.mk"
eval "$(mk -f Makefile -f "$work/dirs.mk" tl-dirs)"
[ -n "$sbindir" ] && [ -n "$sysconfdir" ] || fail "cannot read the directories from the Makefile"
echo "prefix=$prefix sbindir=$sbindir sysconfdir=$sysconfdir localstatedir=$localstatedir unitdir=$unitdir"

D="$work/root"
mk install DESTDIR="$D" >"$work/install.out" 2>&1 || { cat "$work/install.out"; fail "make install"; }

{
	echo "$bindir/tallyctl"
	echo "$sbindir/tallyd"
	echo "$sbindir/tally-expirer"
	echo "$sysconfdir/tally/tally.yaml"
	echo "$mandir/man5/tally.yaml.5"
	echo "$mandir/man8/tallyctl.8"
	echo "$mandir/man8/tally-expirer.8"
	echo "$mandir/man8/tallyd.8"
	if [ -n "$unitdir" ]; then
		echo "$unitdir/tally-expirer.service"
		echo "$unitdir/tally-expirer.timer"
		echo "$unitdir/tallyd.service"
	fi
} | sort >"$work/want"
(cd "$D" && find . -type f -o -type l) | sed 's|^\.||' | sort >"$work/got"
diff -u "$work/want" "$work/got" || fail "the installed files differ from the list (- wanted, + installed)"
[ -d "$D$localstatedir/lib/tally" ] || fail "no $localstatedir/lib/tally folder"
for p in "$bindir/tallyctl" "$sbindir/tallyd" "$sbindir/tally-expirer"; do
	[ -x "$D$p" ] || fail "$p is not executable"
done

conf="$D$sysconfdir/tally/tally.yaml"
[ "$(stat -c %a "$conf")" = 640 ] || fail "tally.yaml has mode $(stat -c %a "$conf"), want 640"
grep -q "^    path: $localstatedir/lib/tally/buffer " "$conf" || fail "tally.yaml: buffer not in $localstatedir/lib/tally"
grep -q "connection: sqlite://$localstatedir/lib/tally/tally.db" "$conf" ||
	fail "tally.yaml: the database is not in $localstatedir/lib/tally"
if [ "$localstatedir" != /var ]; then
	grep -nE "(^|[^A-Za-z0-9_.-])/var/lib/tally" "$conf" && fail "tally.yaml still names /var/lib/tally"
fi
"$D$sbindir/tallyd" --check-config -c "$conf" >"$work/check.out" 2>&1 ||
	{ cat "$work/check.out"; fail "the installed tallyd refuses the installed tally.yaml"; }
grep -qx "$conf: configuration OK" "$work/check.out" || fail "check: $(cat "$work/check.out")"
"$D$sbindir/tallyd" --help | grep -qF "(default: $sysconfdir/tally/tally.yaml)" ||
	fail "tallyd's default configuration is not $sysconfdir/tally/tally.yaml"
"$D$sbindir/tally-expirer" --help | grep -qF "$sysconfdir/tally/tally.yaml" ||
	fail "tally-expirer's default configuration is not $sysconfdir/tally/tally.yaml"

if [ -n "$unitdir" ]; then
	u="$D$unitdir/tallyd.service"
	grep -qx "ExecStart=$sbindir/tallyd -c $sysconfdir/tally/tally.yaml" "$u" ||
		fail "tallyd.service: $(grep ExecStart "$u")"
	grep -qx "ReadWritePaths=-$localstatedir/lib/tally" "$u" || fail "tallyd.service: ReadWritePaths"
	grep -qx "ExecStart=$sbindir/tally-expirer -c $sysconfdir/tally/tally.yaml" \
		"$D$unitdir/tally-expirer.service" || fail "tally-expirer.service: ExecStart"
	# verify the installed units against the installed programs and pages.
	if command -v systemd-analyze >/dev/null 2>&1; then
		mkdir -p "$work/u"
		for f in tallyd.service tally-expirer.service tally-expirer.timer; do
			sed "s|^ExecStart=$sbindir/|ExecStart=$D$sbindir/|" "$D$unitdir/$f" >"$work/u/$f"
		done
		(cd "$work/u" && MANPATH="$D$mandir" systemd-analyze verify ./tallyd.service \
			./tally-expirer.service ./tally-expirer.timer) >"$work/verify" 2>&1 ||
			{ cat "$work/verify"; fail "systemd-analyze verify on the installed units"; }
		[ -s "$work/verify" ] && { cat "$work/verify"; fail "systemd-analyze verify warned"; }
	fi
fi
MANPATH="$D$mandir" man -w tally.yaml >/dev/null 2>&1 || fail "man finds no tally.yaml(5) in $mandir"

# A second install keeps an operator's tally.yaml.
echo "# edited" >>"$conf"
mk install DESTDIR="$D" >"$work/install2.out" 2>&1 || { cat "$work/install2.out"; fail "second make install"; }
tail -n 1 "$conf" | grep -qx "# edited" || fail "a second make install overwrote tally.yaml"

mk uninstall DESTDIR="$D" >"$work/uninstall.out" 2>&1 || { cat "$work/uninstall.out"; fail "make uninstall"; }
left=$(cd "$D" && find . -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left: $left"
echo "install: ok ($(wc -l <"$work/want") files)"
