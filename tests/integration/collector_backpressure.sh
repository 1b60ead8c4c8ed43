#!/bin/sh
# Back-pressure and RETRY: the only dispatcher cannot write (its directory
# does not exist yet: RETRY with backoff), the buffer is small (1 MiB), so it
# fills up; tallyd must then stop acknowledging, leaving the rest of the
# stream in RabbitMQ instead of dropping it. Once the directory appears the
# dispatcher catches up and every sample arrives exactly once. The control
# API's notices tell the buffer full and the dispatcher failing, then both back.
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
SECRET='backpressure secret'
write_conf "$SECRET" "$(free_port)"
sed -i -e 's|max_size: 512MiB|max_size: 1MiB|' \
	-e "s|file_path: \"$work/out.log\"|file_path: \"$work/later/out.log\"|" "$work/tally.yaml"
start_tallyd 1

"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count 4000 --per-message 10 --seed 5 --out "$work/samples.jsonl" 2>"$work/publish.err" ||
	{ cat "$work/publish.err"; fail "publish.py failed"; }

# The buffer fills and the broker keeps what tallyd could not take.
i=0
while :; do
	q=$($RABBIT ctl "$work/rmq" list_queues -q name messages 2>/dev/null |
		awk '$1 == "metering.sample" {print $2}')
	grep -q "full" "$work/tallyd-1.log" && [ "${q:-0}" -gt 0 ] && break
	i=$((i + 1))
	[ $i -le 300 ] || fail "no back-pressure: queue ${q:-?} messages, log: $(tail -n 3 "$work/tallyd-1.log")"
	sleep 0.1
done
echo "back-pressure: $q messages held by the broker while the buffer is full"
grep -q "destination failing, retrying" "$work/tallyd-1.log" || fail "the dispatcher did not report RETRY"

# The control API's notices say so too (the buffer is looked at once a second).
cport=$(sed -n 's/.*\[control\] listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$work/tallyd-1.log" | head -n 1)
kinds() { curl -s "http://127.0.0.1:$cport/v1/notifications?limit=1000" |
	"$PY" -c 'import json, sys; print(" ".join(n["kind"] + ":" + n["subject"] for n in json.load(sys.stdin)["notifications"]))'; }
want_notices() { # WHAT KIND:SUBJECT...
	what=$1; shift
	i=0
	while :; do
		got=$(kinds) ok=1
		for k in "$@"; do case " $got " in *" $k "*) ;; *) ok= ;; esac; done
		[ -n "$ok" ] && break
		i=$((i + 1))
		[ $i -le 50 ] || fail "notices $what: want $*, got: $got"
		sleep 0.1
	done
}
want_notices "while full" buffer.full:buffer dispatcher.failing:out

# The destination comes back: everything arrives, once.
mkdir "$work/later"
i=0
while [ "$(wc -l 2>/dev/null <"$work/later/out.log" || echo 0)" -lt 4000 ]; do
	i=$((i + 1))
	[ $i -le 1800 ] || fail "only $(wc -l <"$work/later/out.log") of 4000 samples after the destination came back"
	sleep 0.1
done
want_notices "after the catch-up" buffer.room:buffer dispatcher.recovered:out
[ "$(kinds | tr ' ' '\n' | grep -c '^dispatcher.failing:out$')" -eq 1 ] ||
	fail "dispatcher.failing was posted more than once per failing period: $(kinds)"
stop_tallyd
"$PY" "$top_srcdir/tests/integration/check_output.py" "$work/later/out.log" "$work/samples.jsonl" ||
	fail "samples lost or duplicated under back-pressure"
