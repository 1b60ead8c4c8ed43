#!/bin/sh
# Issue 17 end to end: ceilometer's pipeline.yaml (meter_sink, and cpu_sink
# with the shipped rate_of_change cpu -> cpu_util) publishing to gnocchi://
# and to dispatcher://db, as collector.pipeline of a tallyd that runs the
# query API over the same SQLite store. Cumulative cpu samples of 5
# instances, 20 each at 300 s steps with a random offset in each step
# (tests/tools/publish_cpu.py: ceilometer's notifier code over a private
# RabbitMQ), go in; Gnocchi is a real one (scripts/gnocchi) with Debian's
# gnocchi_resources.yaml, cpu_util added to the instance metrics as the
# file of ceilometer's own pipeline era had it. Then
# pipeline_gnocchi_check.py computes every expected cpu_util itself and
# checks that each one is in Gnocchi's cpu_util metric of its instance
# (?refresh=true, one measure per 5-minute block, value exact), and that the
# query API gives each exactly once with unit % and type gauge, beside every
# raw cpu sample. Nothing may be dead-lettered or left unhandled by Gnocchi.
# What breaks it: derived samples that miss a dispatcher, lose their unit,
# type, metadata (Gnocchi's instance attributes) or user and project, are
# stored twice, or differ from ceilometer's arithmetic.
set -u
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/pipeline_lib.sh"
YAML=/usr/lib/python3/dist-packages/ceilometer/publisher/data/gnocchi_resources.yaml
STEP=300 # ceilometer-low's granularity, the definition file's default policy
RES=5
ROUNDS=20
need_peers
start_gnocchi
"$GN" seed-types "$work/gn" >/dev/null || { "$GN" logs "$work/gn"; fail "cannot seed Gnocchi"; }
[ -r "$YAML" ] || fail "no $YAML (python3-ceilometer)"
sed 's/^      vcpus:$/&\n      cpu_util:/' "$YAML" >"$work/gnocchi_resources.yaml"
grep -q '^      cpu_util:$' "$work/gnocchi_resources.yaml" ||
	fail "test setup: no cpu_util in $YAML"

SECRET='pipeline gnocchi secret'
port=$(free_port)
cpu_pipeline "gnocchi:// db" "gnocchi:// db"
cat >"$work/tally.yaml" <<CONF
telemetry_secret: "$SECRET"
collector:
  pipeline: "$work/pipeline.yaml"
  amqp: {urls: ["$TALLY_AMQP_URL"], workers: 1, batch_size: 100, batch_timeout: 0.05}
  udp: {address: ""}
  buffer: {path: "$work/buffer", max_size: 256MiB}
  dispatchers:
    - {name: gn, type: gnocchi, url: "$TALLY_GNOCCHI_URL", auth: basic, user: admin,
       resources_definition_file: "$work/gnocchi_resources.yaml"}
    - {name: db, type: database}
storage: {connection: "sqlite://$work/tally.db"}
api: {listen: 127.0.0.1, port: $port, auth: trusted-headers}
control: {port: 0}
log: {level: info}
CONF
start_tallyd 1
wait_log "$work/tallyd-1.log" 'listening on' 10 "$tpid" tallyd

# Rounds in the past, each sample in a block of its own (the offset is below STEP).
start=$(($(date +%s) / STEP * STEP - (ROUNDS + 1) * STEP))
"$PY" "$top_srcdir/tests/tools/publish_cpu.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
	--resources $RES --rounds $ROUNDS --start $start --step $STEP --jitter $STEP --instance \
	--out "$work/samples.jsonl" >"$work/publish.err" 2>&1 ||
	{ cat "$work/publish.err"; fail "publish_cpu.py failed"; }
wait_drained 30

"$PY" "$top_srcdir/tests/integration/pipeline_gnocchi_check.py" --samples "$work/samples.jsonl" \
	--gnocchi "$TALLY_GNOCCHI_URL" --api "http://127.0.0.1:$port" ||
	{ "$GN" logs "$work/gn" | tail -n 20; fail "checks failed"; }
"$TALLYCTL" deadletter list --path "$work/buffer" >"$work/dead.jsonl" || fail "deadletter list"
[ -s "$work/dead.jsonl" ] && fail "dead letters: $(head -c 600 "$work/dead.jsonl")"
if grep 'is not handled by Gnocchi' "$work/tallyd-1.log"; then
	fail "a meter of the pipeline did not reach Gnocchi"
fi
stop_tallyd
echo "PASS: cpu_util from ceilometer's pipeline.yaml in Gnocchi and through the query API"
