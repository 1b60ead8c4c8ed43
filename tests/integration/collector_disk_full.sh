#!/bin/sh
# Disk full (issue 21): the buffer lives on a 2 MiB tmpfs and its only
# dispatcher cannot write yet (its directory does not exist: RETRY), so the
# records fill the file system long before buffer.max_size. tallyd must then
# say "no space left on the buffer's disk" a few times, not once per failed
# commit; retry its commits with backoff; take no sequence numbers for a
# failed commit; and leave the rest of the stream in RabbitMQ. Then room
# comes back (the tmpfs grows) and every sample arrives, once.
# Mounting needs root (or CAP_SYS_ADMIN): skips (77) without it.
set -u
. "$top_srcdir/tests/integration/lib.sh"
COUNT=6000
WINDOW=5 # seconds of a full disk over which the log lines are counted

mkdir "$work/disk"
mount -t tmpfs -o size=2m,mode=0700 tally-test "$work/disk" 2>/dev/null ||
	{ echo "SKIP: cannot mount a tmpfs (needs root)"; exit 77; }
disk_cleanup() {
	if [ -n "$tpid" ]; then
		kill -9 "$tpid" 2>/dev/null
		wait "$tpid" 2>/dev/null
		tpid=
	fi
	umount "$work/disk" 2>/dev/null
	lib_cleanup
}
trap disk_cleanup EXIT
need_peers

SECRET='disk full secret'
write_conf "$SECRET" "$(free_port)"
sed -i -e "s|path: \"$work/buffer\", max_size: 512MiB|path: \"$work/disk/buffer\", max_size: 64MiB|" \
	-e "s|file_path: \"$work/out.log\"|file_path: \"$work/later/out.log\"|" "$work/tally.yaml"
grep -q "$work/disk/buffer" "$work/tally.yaml" || fail "could not edit the configuration"
start_tallyd 1
log=$work/tallyd-1.log

"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count $COUNT --per-message 10 --seed 21 --out "$work/samples.jsonl" 2>"$work/publish.err" ||
	{ cat "$work/publish.err"; fail "publish.py failed"; }

# The disk fills; the failed commits are logged as what they are.
wait_log "$log" "no space left on the buffer.s disk\|append: commit" 30 "$tpid" tallyd

# For WINDOW seconds of a full disk: the buffer's error lines (one per
# failed commit before the fix: "append: commit: Input/output error").
before=$(grep -c '\[buffer\].*\(commit\|disk\)' "$log")
i=0
while [ $i -lt $((WINDOW * 10)) ]; do
	kill -0 "$tpid" 2>/dev/null || fail "tallyd exited while the disk was full"
	sleep 0.1
	i=$((i + 1))
done
lines=$(($(grep -c '\[buffer\].*\(commit\|disk\)' "$log") - before))
q=$($RABBIT ctl "$work/rmq" list_queues -q name messages 2>/dev/null |
	awk '$1 == "metering.sample" {print $2}')
echo "disk full: $lines buffer error lines in $WINDOW s; ${q:-?} messages held by the broker"
grep -q "no space left on the buffer's disk" "$log" || fail "a full disk is not reported as such"
[ "$lines" -le 3 ] || fail "$lines buffer error lines in $WINDOW s of a full disk (at most 3)"
[ "${q:-0}" -gt 0 ] || fail "the broker holds nothing: tallyd acknowledged what it could not store"

# Room again: everything arrives, once, with no sequence numbers burnt.
mount -o remount,size=256m "$work/disk" || fail "cannot grow the tmpfs"
mkdir "$work/later"
i=0
while [ "$(wc -l 2>/dev/null <"$work/later/out.log" || echo 0)" -lt $COUNT ]; do
	i=$((i + 1))
	[ $i -le 600 ] || fail "only $(wc -l <"$work/later/out.log") of $COUNT samples after room came back"
	sleep 0.1
done
wait_log "$log" "the buffer's disk takes writes again" 10 "$tpid" tallyd
failed=$(sed -n "s/.*takes writes again.*(\([0-9]*\) failures not logged.*/\1/p" "$log" | tail -n 1)
seq=$("$TALLYCTL" buffer stats --path "$work/disk/buffer" |
	sed -n 's/.*"name":"out","next_seq":\([0-9]*\).*/\1/p')
seq=$((${seq:-1} - 1))
stop_tallyd
echo "recovered: ${failed:-0} failed commits not logged; last sequence $seq for $COUNT samples"
"$PY" "$top_srcdir/tests/integration/check_output.py" "$work/later/out.log" "$work/samples.jsonl" ||
	fail "samples lost or duplicated after the disk was full"
[ "$seq" -eq $COUNT ] || fail "sequence $seq for $COUNT samples: failed commits took numbers"
