#!/bin/sh
# The gnocchi dispatcher against a real Gnocchi (scripts/gnocchi: Debian's
# gnocchi-api, seeded by ceilometer's own resource types and archive policies)
# and real ceilometer peers over RabbitMQ: tallyd loads Debian's
# gnocchi_resources.yaml unchanged; samples flow AMQP -> tallyd -> Gnocchi and
# are read back with ?refresh=true value by value; refused, late and
# unhandled samples are dead-lettered or logged; Gnocchi's API is stopped in
# the middle of a stream and started again, and everything arrives
# (gnocchi_check.py has the steps).
. "$top_srcdir/tests/integration/lib.sh"

YAML=/usr/lib/python3/dist-packages/ceilometer/publisher/data/gnocchi_resources.yaml
need_peers
start_gnocchi
# Only the resource types: the dispatcher creates the archive policies of
# the definition file itself, as ceilometer's publisher does.
"$GN" seed-types "$work/gn" >/dev/null || { "$GN" logs "$work/gn"; fail "cannot seed Gnocchi"; }
cp "$YAML" "$work/gnocchi_resources.yaml" || fail "no $YAML (python3-ceilometer)"

# A second dispatcher with its own definitions, one of them naming an archive
# policy Gnocchi does not have: its batch is refused (400) and the dispatcher
# must isolate that resource and deliver the rest.
cat >"$work/custom_resources.yaml" <<YAML
resources:
  - resource_type: generic
    metrics:
      tally.custom.good: {archive_policy_name: ceilometer-low}
      tally.custom.bad: {archive_policy_name: no-such-policy}
  - resource_type: generic
    ignore: true
    metrics: ['tally.custom.ignored*']
YAML
SECRET='gnocchi test secret'
cat >"$work/tally.yaml" <<CONF
telemetry_secret: "$SECRET"
collector:
  amqp: {urls: ["$TALLY_AMQP_URL"], workers: 1, batch_size: 100, batch_timeout: 0.05}
  udp: {address: ""}
  buffer: {path: "$work/buffer", max_size: 256MiB}
  dispatchers:
    - name: gn
      type: gnocchi
      url: "$TALLY_GNOCCHI_URL"
      auth: basic
      user: admin
      filter_project: svc-project
      timeout: 10
      resources_definition_file: "$work/gnocchi_resources.yaml"
    - {name: gn2, type: gnocchi, url: "$TALLY_GNOCCHI_URL", user: admin, meters: ["tally.custom*"],
       resources_definition_file: "$work/custom_resources.yaml"}
api: {enabled: false}
control: {port: 0}
log: {level: info}
CONF
start_tallyd 1
"$PY" "$top_srcdir/tests/integration/gnocchi_check.py" --amqp "$TALLY_AMQP_URL" \
	--secret "$SECRET" --gnocchi "$TALLY_GNOCCHI_URL" --gnocchi-dir "$work/gn" \
	--top "$top_srcdir" --tallyctl "$TALLYCTL" --buffer "$work/buffer" \
	--log "$work/tallyd-1.log" || { "$GN" logs "$work/gn" | tail -n 20; fail "checks failed"; }
grep -q 'created archive policy ceilometer-low' "$work/tallyd-1.log" ||
	fail "the dispatcher did not create the definition file's archive policies"
stop_tallyd
grep 'not sent:' "$work/tallyd-1.log" | tail -n 1
echo "PASS"
