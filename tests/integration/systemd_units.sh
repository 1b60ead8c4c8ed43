#!/bin/sh
# systemd: the units pass systemd-analyze verify with no message (paths
# filled in with this build's programs); tallyd speaks sd_notify to a real
# datagram listener: READY=1 once the UDP input is bound and the buffer open,
# RELOADING=1 then READY=1 around SIGHUP, WATCHDOG=1 at half WATCHDOG_USEC,
# STOPPING=1 on SIGTERM; and to an abstract socket name ('@...').
set -u
. "$top_srcdir/tests/integration/lib.sh"

# ---- the units
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$work/units" "$work/man/man8" "$work/man/man5"
	for u in tallyd.service tally-expirer.service; do
		sed -e "s|@sbindir@|$top_builddir|g" -e "s|@sysconfdir@|/etc|g" \
			-e "s|@localstatedir@|/var|g" "$top_srcdir/systemd/$u.in" >"$work/units/$u"
		grep -q '@[a-z]*@' "$work/units/$u" && fail "$u: a @variable@ is left"
	done
	cp "$top_srcdir/systemd/tally-expirer.timer" "$work/units/"
	# verify checks Documentation=man:... pages: ours, from the source tree.
	cp "$top_srcdir"/man/*.8 "$work/man/man8/"
	cp "$top_srcdir"/man/*.5 "$work/man/man5/"
	(cd "$work/units" && MANPATH="$work/man" systemd-analyze verify \
		./tallyd.service ./tally-expirer.service ./tally-expirer.timer) >"$work/verify.out" 2>&1
	rc=$?
	cat "$work/verify.out"
	[ $rc -eq 0 ] || fail "systemd-analyze verify: exit status $rc"
	[ -s "$work/verify.out" ] && fail "systemd-analyze verify printed messages"
	# The settings the service promises (a typo'd key is only a warning above).
	for kv in Type=notify ExecReload=/bin/kill\ -HUP\ \$MAINPID Restart=on-failure User=tally \
		ProtectSystem=strict ReadWritePaths=-/var/lib/tally NoNewPrivileges=yes PrivateTmp=yes \
		CapabilityBoundingSet=; do
		grep -qx "$kv" "$work/units/tallyd.service" || fail "tallyd.service lacks $kv"
	done
	grep -qx "OnCalendar=daily" "$work/units/tally-expirer.timer" &&
		grep -q "^RandomizedDelaySec=" "$work/units/tally-expirer.timer" ||
		fail "tally-expirer.timer: not daily with a randomized delay"
	echo "units verified"
else
	echo "systemd-analyze not installed: units not verified"
fi

# ---- sd_notify
udp=$(free_port)
amqp=$(free_port) # nothing listens there: the AMQP input retries meanwhile
cat >"$work/tally.yaml" <<CONF
telemetry_secret: ""
collector:
  amqp: {urls: ["amqp://guest:guest@127.0.0.1:$amqp/"]}
  udp: {address: "127.0.0.1", port: $udp}
  buffer: {path: "$work/buffer", max_size: 64MiB}
  dispatchers: [{name: out, type: file, file_path: "$work/out.log"}]
api: {enabled: false}
control: {port: 0}
CONF

# notify_run N SOCKET [WATCHDOG_USEC]: starts the listener on SOCKET and tallyd
# with NOTIFY_SOCKET=SOCKET (pid in tpid), and waits for READY=1 (10 s).
notify_run() {
	: >"$work/notify-$1.txt"
	"$PY" "$top_srcdir/tests/integration/sd_notify_listen.py" "$2" "$work/notify-$1.txt" \
		"$udp" "$work/buffer" >"$work/listen-$1.out" 2>&1 &
	lpid=$!
	wait_log "$work/listen-$1.out" listening 5 "$lpid" sd_notify_listen.py
	if [ -n "${3:-}" ]; then
		NOTIFY_SOCKET=$2 WATCHDOG_USEC=$3 "$TALLYD" -c "$work/tally.yaml" 2>>"$work/tallyd-$1.log" &
	else
		NOTIFY_SOCKET=$2 "$TALLYD" -c "$work/tally.yaml" 2>>"$work/tallyd-$1.log" &
	fi
	tpid=$!
	wait_log "$work/notify-$1.txt" '^READY=1' 10 "$tpid" tallyd
	grep -q '^CHECK ok' "$work/notify-$1.txt" || fail "$(grep CHECK "$work/notify-$1.txt")"
}

# notify_stop N: SIGTERM; STOPPING=1 must arrive and tallyd exit 0.
notify_stop() {
	stop_tallyd
	grep -q '^STOPPING=1' "$work/notify-$1.txt" || fail "no STOPPING=1 after SIGTERM"
	kill "$lpid" 2>/dev/null
	wait "$lpid" 2>/dev/null
}

# A socket path, a reload and the watchdog (every 0.15 s at WATCHDOG_USEC=0.3 s).
notify_run 1 "$work/notify.sock" 300000
grep -q "collector started" "$work/tallyd-1.log" || fail "READY=1 before the collector started"
kill -HUP "$tpid"
i=0
until [ "$(grep -c '^READY=1' "$work/notify-1.txt")" -ge 2 ]; do
	i=$((i + 1))
	[ $i -le 200 ] || fail "no READY=1 after the SIGHUP reload"
	sleep 0.05
done
sed -n '/^RELOADING=1|MONOTONIC_USEC=[0-9]*$/,$p' "$work/notify-1.txt" | grep -q '^READY=1' ||
	fail "no RELOADING=1 (with MONOTONIC_USEC) before the second READY=1"
sleep 1
n=$(grep -c '^WATCHDOG=1$' "$work/notify-1.txt")
[ "$n" -ge 4 ] || fail "$n WATCHDOG=1 in more than a second at WATCHDOG_USEC=300000"
notify_stop 1
cat "$work/notify-1.txt"

# An abstract name, no watchdog: READY=1 and STOPPING=1 only.
rm -rf "$work/buffer"
notify_run 2 "@tally-test-$$"
sleep 0.5
notify_stop 2
grep -q WATCHDOG "$work/notify-2.txt" && fail "WATCHDOG=1 without WATCHDOG_USEC"
cat "$work/notify-2.txt"

# Outside systemd (no NOTIFY_SOCKET) nothing changes: covered by every other test.
echo "sd_notify: ok"
