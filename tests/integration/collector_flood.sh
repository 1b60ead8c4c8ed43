#!/bin/sh
# Issue 21, collector cost per bad input, against a private RabbitMQ node.
# 1. fair: 600 messages with a bad signature, then 200 messages of 10,000
#    empty items (30 KB) interleaved with 200 good samples. Every good sample
#    is stored less than 1 s after it was published; each junk message is ONE
#    dead letter (its count, first reasons, body); the dead-letter quota
#    (32 MiB / 8 = 4 MiB, less than the junk) evicts junk, and every
#    bad-signature dead letter remains.
# 2. loop: 100 junk messages in a row, then a good sample, with a 2 s
#    heartbeat: the sample is stored within 5 s, no connection is lost, no
#    ack fails (nothing is redelivered), and SIGTERM stops tallyd within 5 s.
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
SECRET='flood secret'
write_conf "$SECRET" "$(free_port)"
sed -i -e 's|max_size: 512MiB|max_size: 32MiB|' \
	-e 's|batch_timeout: 0.05}|batch_timeout: 0.05, heartbeat: 2}|' "$work/tally.yaml"
start_tallyd 1
FLOOD="$PY $top_srcdir/tests/integration/flood.py $TALLY_AMQP_URL"

# 1. fair
out=$($FLOOD "$SECRET" "$work/out.log" fair 2>"$work/flood.err") ||
	{ cat "$work/flood.err"; fail "fair: good samples not stored: $out"; }
echo "fair: $out"
delay=$(echo "$out" | sed -n 's/.*max_delay_s=\([0-9.]*\).*/\1/p')
awk "BEGIN {exit !($delay < 1)}" || fail "fair: a good sample waited ${delay} s (>= 1 s)"
# Every junk message is dead-lettered (once) before tallyd stops.
i=0
until "$TALLYCTL" deadletter list --path "$work/buffer" >"$work/dead.jsonl" 2>/dev/null &&
	[ "$(grep -c '"items_refused":10000' "$work/dead.jsonl")" -ge 1 ] &&
	[ "$(grep -c '"reason":"bad_signature' "$work/dead.jsonl")" -ge 600 ]; do
	i=$((i + 1))
	[ $i -le 100 ] || fail "fair: dead letters missing: $(grep -c . "$work/dead.jsonl") listed"
	sleep 0.1
done
sig=$(grep -c '"reason":"bad_signature' "$work/dead.jsonl")
junk=$(grep -c '"items_refused":10000' "$work/dead.jsonl")
all=$(grep -c . "$work/dead.jsonl")
echo "fair: dead letters: $all ($sig bad_signature, $junk junk of 10,000 items each)"
[ "$sig" -eq 600 ] || fail "fair: $sig bad-signature dead letters remain, not 600"
[ "$junk" -le 200 ] && [ "$all" -eq $((sig + junk)) ] || fail "fair: unexpected dead letters"
grep -q '"reason":"unknown_format: 10000 of 10000 items refused; #0 unknown_format: item 0' \
	"$work/dead.jsonl" || fail "fair: the aggregated reason is not as expected"

# 2. loop
out=$($FLOOD "$SECRET" "$work/out.log" loop 2>>"$work/flood.err") ||
	{ cat "$work/flood.err"; fail "loop: the good sample was not stored: $out"; }
echo "loop: $out"
delay=$(echo "$out" | sed -n 's/.*max_delay_s=\([0-9.]*\).*/\1/p')
awk "BEGIN {exit !($delay < 5)}" || fail "loop: the good sample waited ${delay} s (>= 5 s)"
if grep -E "connection lost|basic.ack failed|closed the consumer" "$work/tallyd-1.log"; then
	fail "loop: a connection was lost"
fi
t0=$(date +%s%N)
kill -TERM "$tpid"
wait_exit "$tpid" 5 "tallyd did not stop within 5 s of SIGTERM"
tpid=
[ $rc -eq 0 ] || fail "tallyd exited with status $rc after SIGTERM"
echo "SIGTERM: stopped in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
echo "ok: good samples not delayed by junk, one dead letter per junk message, fair quota, no loop"
