#!/bin/sh
# The collector against a real RabbitMQ node and the real ceilometer peers:
# samples and events published by python3-oslo.messaging's Notifier exactly
# as ceilometer's notifier publisher does, signed by python3-ceilometer;
# UDP msgpack datagrams as ceilometer's udp:// publisher sends them; bad
# input through the broker (garbage, a broken envelope, a wrong signature, an
# oversized message). Everything good reaches the file dispatcher, field by
# field as published; everything bad is counted and dead-lettered and does
# not hold the stream back; SIGTERM stops tallyd with status 0; a restart
# replays nothing twice.
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
SECRET='collector test secret'
udp=$(free_port)
write_conf "$SECRET" "$udp"
start_tallyd 1

# 1. Through the broker: 400 samples in 40 notifications, 20 events, 8 bad messages.
"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count 400 --per-message 10 --events 20 --garbage 8 --seed 11 \
	--out "$work/samples.jsonl" --events-out "$work/events.jsonl" 2>"$work/publish.err" ||
	{ cat "$work/publish.err"; fail "publish.py failed"; }

# 2. Over UDP: 30 samples, one msgpack datagram each, with both string encodings.
"$PY" - "$udp" "$SECRET" "$top_srcdir" >>"$work/samples.jsonl" <<'PYEOF' || fail "UDP sender failed"
import importlib.util, json, random, socket, sys
import msgpack
port, secret, top = int(sys.argv[1]), sys.argv[2], sys.argv[3]
spec = importlib.util.spec_from_file_location('gen', top + '/tests/data/gen_ceilometer_messages.py')
gen = importlib.util.module_from_spec(spec); spec.loader.exec_module(gen)
rng = random.Random(99)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(30):
    m = gen.make_sample(rng, secret)
    s.sendto(msgpack.packb(m, use_bin_type=bool(i % 2)), ('127.0.0.1', port))
    print(json.dumps(m))
PYEOF

wait_lines 450 60
# Let any late duplicate show up before comparing.
sleep 0.5
"$PY" "$top_srcdir/tests/integration/check_output.py" "$work/out.log" "$work/samples.jsonl" \
	"$work/events.jsonl" || fail "the file dispatcher's output differs from what was published"

# 3. The bad messages: 8 dead letters from the AMQP input, each with its reason.
"$TALLYCTL" deadletter list --path "$work/buffer" >"$work/dead.jsonl" || fail "deadletter list"
n=$(grep -c '"source":"input:amqp"' "$work/dead.jsonl")
[ "$n" -eq 8 ] || { cat "$work/dead.jsonl" | cut -c1-300; fail "expected 8 dead letters, got $n"; }
for reason in '"reason":"syntax' '"reason":"bad_envelope\|"reason":"syntax\|"reason":"truncated' \
	'"reason":"bad_signature' '"reason":"too_large'; do
	grep -q "$reason" "$work/dead.jsonl" || fail "no dead letter matching $reason"
done
echo "dead letters: $(cut -d'"' -f16 "$work/dead.jsonl" 2>/dev/null | sort | uniq -c | tr '\n' ' ')"
"$TALLYCTL" buffer stats --path "$work/buffer" >"$work/stats.json" || fail "buffer stats"
grep -q '"lag":0' "$work/stats.json" || fail "dispatcher lag not 0: $(cat "$work/stats.json")"

# 4. SIGTERM: status 0. A restart replays nothing: the cursor was kept.
stop_tallyd
lines=$(wc -l <"$work/out.log")
start_tallyd 2
sleep 1
[ "$(wc -l <"$work/out.log")" -eq "$lines" ] || fail "a restart wrote records again"
# 5. SIGHUP reopens the file (logrotate): new records go to a new file.
mv "$work/out.log" "$work/out.log.1"
kill -HUP "$tpid"
"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--count 5 --per-message 5 --seed 12 --out "$work/more.jsonl" 2>>"$work/publish.err" ||
	fail "publish.py failed"
wait_lines 5 30
stop_tallyd
echo "ok: 400 AMQP samples, 20 events, 30 UDP samples, 8 bad messages, restart, SIGHUP"
