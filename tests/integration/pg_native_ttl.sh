#!/bin/sh
# storage.native_ttl on a private PostgreSQL with pg_cron (scripts/postgresql
# with TALLY_PG_CRON=1): tallyctl dbsync schedules the job; while tallyd
# writes samples younger and older than the TTL through its API and the
# database dispatcher, the job's command (read from cron.job, as pg_cron
# runs it) expires the store: whole daily partitions past the TTL are
# dropped, old rows, their resources, meters, metadata and old events go,
# and every sample and event younger than the TTL stays. tallyctl status and
# tally-expirer see the job; a changed TTL changes the job; native_ttl false
# removes it; a database pg_cron does not serve, a user who may not create
# the extension and a server without pg_cron get dbsync's note and exit 0.
#
# pg_cron 1.4 (Debian 12) schedules by the minute, so the job's own runs are
# not waited for here; PG_NATIVE_TTL_WAIT_CRON=1 also waits (up to 70 s) for
# one run by pg_cron and checks it in cron.job_run_details and in status.
set -u
. "$top_srcdir/tests/integration/lib.sh"
SEED=$top_builddir/tests/tools/seed_store
EXP=$top_builddir/tally-expirer

nt_cleanup() {
	$PG stop "$work/pg" immediate >/dev/null 2>&1
	$PG stop "$work/plain" immediate >/dev/null 2>&1
	lib_cleanup
}
trap nt_cleanup EXIT

vars=$(TALLY_PG_CRON=1 $PG start "$work/pg" 2>"$work/pg.err")
rc=$?
[ $rc -eq 77 ] && { echo "SKIP: PostgreSQL or pg_cron (postgresql-15-cron) not installed"; exit 77; }
[ $rc -eq 0 ] || { cat "$work/pg.err"; fail "cannot start PostgreSQL with pg_cron"; }
eval "$vars"
q() { $PG psql "$work/pg" -At "$@"; }
CRON_URL=$TALLY_PG_URL

# conf URL NATIVE TTL: tallyd with the API (trusted headers) and a database dispatcher.
api_port=$(free_port)
conf() {
	cat >"$work/tally.yaml" <<CONF
telemetry_secret: "s3cret"
collector:
  amqp: {urls: ["amqp://guest:guest@127.0.0.1:1/"]}
  udp: {address: ""}
  buffer: {path: "$work/buffer"}
  dispatchers: [{name: db, type: database}]
storage:
  connection: "$1"
  metering_time_to_live: $3
  event_time_to_live: $3
  native_ttl: $2
  native_ttl_schedule: "* * * * *"
api: {listen: 127.0.0.1, port: $api_port, auth: trusted-headers}
control: {port: 0, socket: "$work/control.sock"}
log: {level: info}
CONF
}

# ---- Old and young data first (the store's schema comes with it): samples
# 26, 50 and 74 hours old fill daily partitions wholly past a TTL of an
# hour, 61 to 100 minutes old straddle the cut-off, 0 to 50 minutes old stay.
"$PY" - "$work/seed.jsonl" "$work/seed-old.jsonl" <<'PY' || fail "cannot write the seed"
import datetime, json, sys, uuid
now = datetime.datetime.utcnow()
def sample(meter, rid, ts):
    return {'source': 'openstack', 'counter_name': meter, 'counter_type': 'gauge',
            'counter_unit': 'x', 'counter_volume': 1.0, 'user_id': 'u', 'project_id': 'p',
            'resource_id': rid, 'timestamp': ts.isoformat(),
            'resource_metadata': {'host': 'h-%s' % rid},
            'message_id': str(uuid.uuid4()), 'message_signature': ''}
def event(etype, ts):
    return {'message_id': str(uuid.uuid4()), 'event_type': etype, 'generated': ts.isoformat(),
            'traits': [['service', 1, 'compute']], 'raw': {}, 'message_signature': ''}
m = datetime.timedelta(minutes=1)
old = [sample('old.meter', 'old-%d' % (i % 30), now - (26 + 24 * (i % 3)) * 60 * m - i * m)
       for i in range(300)]
old += [sample('edge.meter', 'edge-%d' % (i % 10), now - (61 + i % 40) * m) for i in range(200)]
young = [sample('young.meter', 'young-%d' % (i % 10), now - (i % 50) * m) for i in range(200)]
ev = [event('old.ev', now - (61 + i) * m) for i in range(50)]
ev += [event('young.ev', now - (i % 50) * m) for i in range(50)]
with open(sys.argv[1], 'w') as f:
    for chunk in (old, young, ev):
        f.write(json.dumps(chunk) + '\n')
with open(sys.argv[2], 'w') as f:  # more of the old, for pg_cron's own run
    f.write(json.dumps([dict(s, message_id=str(uuid.uuid4())) for s in old]) + '\n')
PY
"$SEED" "$CRON_URL" "$work/seed.jsonl" >"$work/seed.out" 2>&1 || fail "seed: $(cat "$work/seed.out")"

cat >"$work/old_parts.sql" <<'SQL'
SELECT count(*) FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid
 CROSS JOIN LATERAL regexp_match(pg_get_expr(k.relpartbound, k.oid),
 'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)') AS m
 WHERE i.inhparent = 'sample'::regclass
 AND m[2]::timestamp <= (now() AT TIME ZONE 'UTC') - interval '1 hour';
SQL
parts=$(q -f "$work/old_parts.sql") || fail "cannot list partitions"
[ "$parts" -ge 2 ] || fail "the seed made $parts partitions wholly past the TTL, want 2 or more"
echo "seeded: $(cat "$work/seed.out"); $parts daily partitions wholly past the TTL"

# ---- dbsync schedules the job.
conf "$CRON_URL" true 3600
"$TALLYCTL" -c "$work/tally.yaml" dbsync >"$work/dbsync.out" 2>&1 || fail "dbsync: $(cat "$work/dbsync.out")"
grep -q "^native TTL: pg_cron job [0-9]*, schedule '\* \* \* \* \*', runs CALL tally_native_expire(3600, 3600, false, 10000)$" \
	"$work/dbsync.out" || fail "dbsync did not schedule the job: $(cat "$work/dbsync.out")"
job=$(q -c "SELECT jobid || ' ' || active || ' ' || schedule FROM cron.job WHERE jobname = 'tally_native_ttl'")
case $job in
*" true * * * * *") ;;
*) fail "cron.job: '$job'" ;;
esac
jobid=${job%% *}
cmd=$(q -c "SELECT command FROM cron.job WHERE jobid = $jobid")
echo "ok: dbsync scheduled job $jobid: $cmd"

# tally-expirer leaves the store to the job.
"$EXP" -c "$work/tally.yaml" >"$work/exp.out" 2>&1 || fail "tally-expirer: $(cat "$work/exp.out")"
grep -q "^samples: expired inside the database by native TTL (job $jobid," "$work/exp.out" &&
	grep -q "^events: expired inside the database by native TTL" "$work/exp.out" ||
	fail "tally-expirer on a native TTL store: $(cat "$work/exp.out")"
[ "$(q -c "SELECT count(*) FROM sample WHERE \"timestamp\" < (now() AT TIME ZONE 'UTC') - interval '1 hour'")" = 500 ] ||
	fail "tally-expirer removed samples itself"
echo "ok: tally-expirer says the job does it and removes nothing"

# ---- tallyd writes young and old samples while the job runs.
launch_tallyd 1 'listening on'
"$PY" - "$api_port" "$work" <<'PY' >"$work/writer.out" 2>&1 &
import datetime, json, sys, time, urllib.request
port, work = sys.argv[1], sys.argv[2]
H = {'X-Roles': 'admin', 'X-User-Id': 'u1', 'X-Project-Id': 'p1',
     'Content-Type': 'application/json'}
young, old = [], []
end = time.time() + 7
i = 0
while time.time() < end:
    now = datetime.datetime.utcnow()
    body = []
    for k in range(20):
        i += 1
        age = datetime.timedelta(minutes=(i % 50)) if k % 2 == 0 else \
            datetime.timedelta(minutes=61 + i % 40)
        body.append({'counter_name': 'live.meter', 'counter_type': 'gauge',
                     'counter_unit': 'x', 'counter_volume': i,
                     'resource_id': ('live-young-%d' if k % 2 == 0 else 'live-old-%d') % (i % 7),
                     'timestamp': (now - age).isoformat()})
    req = urllib.request.Request('http://127.0.0.1:%s/v2/meters/live.meter' % port,
                                 method='POST', headers=H, data=json.dumps(body).encode())
    with urllib.request.urlopen(req) as r:
        assert r.status == 201, r.status
        for s in json.load(r):
            (young if s['resource_id'].startswith('live-young') else old).append(s['message_id'])
    time.sleep(0.02)
open(work + '/young.ids', 'w').write(''.join(x + '\n' for x in young))
print('posted %d young, %d old' % (len(young), len(old)))
PY
wpid=$!
runs=0
# Meanwhile the procedure runs with batches of 7 rows (every loop goes round);
# the job's own command comes last.
small=$(echo "$cmd" | sed 's/, 10000)$/, 7)/')
while kill -0 "$wpid" 2>/dev/null; do
	sleep 1.5
	q -c "$small" >>"$work/calls.out" 2>&1 || fail "$small failed: $(cat "$work/calls.out")"
	runs=$((runs + 1))
done
wait "$wpid" || fail "writer: $(cat "$work/writer.out")"
echo "$(cat "$work/writer.out"); meanwhile the procedure ran $runs times in batches of 7"
i=0
until "$TALLYCTL" buffer stats --path "$work/buffer" 2>/dev/null | grep -q '"name":"db","next_seq":[0-9]*,"lag":0'; do
	i=$((i + 1))
	[ $i -le 200 ] || fail "the database dispatcher did not catch up"
	sleep 0.1
done
"$TALLYCTL" -c "$work/tally.yaml" status >"$work/status.out" 2>&1 || fail "status: $(cat "$work/status.out")"
grep -q "^native TTL (samples and events): job $jobid, schedule '\* \* \* \* \*', runs CALL" "$work/status.out" ||
	fail "status does not show the job: $(cat "$work/status.out")"
q -c "$cmd" >>"$work/calls.out" 2>&1 || fail "the job's command failed: $(cat "$work/calls.out")"

# ---- Counts: nothing past the TTL, everything younger.
cat >"$work/counts.sql" <<SQL
CREATE TEMP TABLE y (id text);
\\copy y FROM '$work/young.ids'
SELECT (SELECT count(*) FROM sample WHERE "timestamp" < (now() AT TIME ZONE 'UTC') - interval '1 hour')
 || ' ' || (SELECT count(*) FROM y) || ' ' || (SELECT count(*) FROM y JOIN sample s ON s.message_id = y.id)
 || ' ' || (SELECT count(*) FROM sample s JOIN meter m ON m.id = s.meter_id WHERE m.name = 'young.meter')
 || ' ' || (SELECT count(*) FROM resource WHERE resource_id LIKE 'old-%' OR resource_id LIKE 'edge-%' OR resource_id LIKE 'live-old-%')
 || ' ' || (SELECT count(*) FROM resource WHERE resource_id LIKE 'young-%') || '+'
 || (SELECT count(*) FROM resource WHERE resource_id LIKE 'live-young-%')
 || ' ' || (SELECT count(*) FROM meter WHERE name IN ('old.meter', 'edge.meter'))
 || ' ' || (SELECT count(*) FROM event e JOIN event_type t ON t.id = e.event_type_id WHERE t.name = 'old.ev')
 || ' ' || (SELECT count(*) FROM event e JOIN event_type t ON t.id = e.event_type_id WHERE t.name = 'young.ev')
 || ' ' || (SELECT count(*) FROM metadata md WHERE NOT EXISTS (SELECT 1 FROM resource r WHERE r.metadata_id = md.id)
            AND NOT EXISTS (SELECT 1 FROM sample s WHERE s.metadata_id = md.id));
SQL
counts=$(q -f "$work/counts.sql") || fail "cannot count"
set -- $counts
[ "$1" = 0 ] || fail "$1 samples past the TTL are left"
[ "$2" -gt 0 ] && [ "$3" = "$2" ] || fail "$3 of the $2 young samples tallyd wrote are stored"
[ "$4" = 200 ] || fail "$4 of the 200 young seeded samples are left"
[ "$5" = 0 ] || fail "$5 resources with only expired samples are left"
case $6 in 10+[1-9]*) ;; *) fail "young resources left (seeded 10 + tallyd's): $6" ;; esac
[ "$7" = 0 ] || fail "$7 meters with only expired samples are left"
[ "$8" = 0 ] || fail "$8 expired events are left"
[ "$9" = 50 ] || fail "$9 of the 50 young events are left"
[ "${10}" = 0 ] || fail "${10} metadata documents nothing points to are left"
parts=$(q -f "$work/old_parts.sql")
[ "$parts" = 0 ] || fail "$parts partitions wholly past the TTL are left"
echo "ok: no sample, partition, resource, meter, metadata or event past the TTL is left;" \
	"all $2 young samples from tallyd, 200 seeded young samples, resources ($6) and 50 events stay"
stop_tallyd

if [ "${PG_NATIVE_TTL_WAIT_CRON:-0}" = 1 ]; then
	"$SEED" "$CRON_URL" "$work/seed-old.jsonl" >"$work/seed.out" 2>&1 || fail "seed: $(cat "$work/seed.out")"
	t0=$(q -c "SELECT now()") # a run that starts after the seed is in
	[ "$(q -f "$work/old_parts.sql")" -ge 2 ] || fail "no partition past the TTL before pg_cron's run"
	i=0
	until [ "$(q -c "SELECT count(*) FROM cron.job_run_details WHERE jobid = $jobid AND status = 'succeeded' AND start_time > '$t0'")" -gt 0 ]; do
		i=$((i + 1))
		[ $i -le 140 ] || fail "pg_cron did not run the job within 70 s: $(q -c 'SELECT * FROM cron.job_run_details')"
		sleep 0.5
	done
	"$TALLYCTL" -c "$work/tally.yaml" status >"$work/status.out" 2>&1
	grep -q "^native TTL (samples and events): job $jobid, .*; last run [0-9T:Z-]* succeeded" "$work/status.out" ||
		fail "status after pg_cron's run: $(cat "$work/status.out")"
	set -- $(q -f "$work/counts.sql")
	[ "$1" = 0 ] && [ "$3" = "$2" ] && [ "$(q -f "$work/old_parts.sql")" = 0 ] ||
		fail "after pg_cron's run: $*"
	echo "ok: pg_cron ran the job ($(grep '^native TTL' "$work/status.out"));" \
		"it expired 500 more old samples and their partitions, no young one"
fi

# ---- A changed TTL changes the job; native_ttl false removes it.
conf "$CRON_URL" true 7200
"$TALLYCTL" -c "$work/tally.yaml" dbsync >"$work/dbsync.out" 2>&1 || fail "dbsync: $(cat "$work/dbsync.out")"
[ "$(q -c "SELECT jobid || ' ' || command FROM cron.job WHERE jobname = 'tally_native_ttl'")" = \
	"$jobid CALL tally_native_expire(7200, 7200, false, 10000)" ] ||
	fail "a changed TTL: $(q -c 'SELECT jobid, command FROM cron.job')"
conf "$CRON_URL" false 7200
"$TALLYCTL" -c "$work/tally.yaml" dbsync >"$work/dbsync.out" 2>&1 || fail "dbsync: $(cat "$work/dbsync.out")"
grep -q "^native TTL: pg_cron job $jobid removed; tally-expirer from cron expires this store$" "$work/dbsync.out" ||
	fail "native_ttl false: $(cat "$work/dbsync.out")"
[ "$(q -c "SELECT (SELECT count(*) FROM cron.job) + (SELECT count(*) FROM pg_proc WHERE proname = 'tally_native_expire')")" = 0 ] ||
	fail "the job or the procedure is still there"
echo "ok: a changed TTL changes job $jobid; native_ttl false removes it and the procedure"

# ---- A database pg_cron does not serve, and a server without pg_cron.
other=$($PG createdb "$work/pg" other) || fail "createdb other"
conf "$other" true 3600
"$TALLYCTL" -c "$work/tally.yaml" dbsync >"$work/dbsync.out" 2>&1 || fail "dbsync, other database: $(cat "$work/dbsync.out")"
grep -q "^native TTL: not available: pg_cron runs jobs in database tally (cron.database_name), not in this one; tally-expirer from cron stays the way to expire this store$" \
	"$work/dbsync.out" || fail "other database: $(cat "$work/dbsync.out")"
# A user who may not read the server's settings nor create the extension.
q -c "CREATE ROLE tu LOGIN" -c "CREATE DATABASE tudb OWNER tu" >/dev/null || fail "cannot create a user"
conf "postgresql://tu@127.0.0.1:$TALLY_PG_PORT/tudb" true 3600
"$TALLYCTL" -c "$work/tally.yaml" dbsync >"$work/dbsync.out" 2>&1 || fail "dbsync, unprivileged: $(cat "$work/dbsync.out")"
grep -q "^native TTL: not available: cannot create the extension pg_cron: .*; tally-expirer from cron stays the way to expire this store$" \
	"$work/dbsync.out" || fail "unprivileged user: $(cat "$work/dbsync.out")"
vars=$($PG start "$work/plain" 2>"$work/plain.err") || { cat "$work/plain.err"; fail "cannot start a plain PostgreSQL"; }
eval "$vars"
conf "$TALLY_PG_URL" true 3600
"$TALLYCTL" -c "$work/tally.yaml" dbsync >"$work/dbsync.out" 2>&1 || fail "dbsync without pg_cron: exit $?: $(cat "$work/dbsync.out")"
grep -q "^native TTL: not available: pg_cron is not loaded by the server (shared_preload_libraries = 'pg_cron' in postgresql.conf, then a restart); tally-expirer from cron stays the way to expire this store$" \
	"$work/dbsync.out" && grep -q "ready" "$work/dbsync.out" || fail "without pg_cron: $(cat "$work/dbsync.out")"
"$EXP" -c "$work/tally.yaml" >"$work/exp.out" 2>&1 || fail "tally-expirer without pg_cron: $(cat "$work/exp.out")"
grep -q "^samples: 0 removed before" "$work/exp.out" || fail "tally-expirer without pg_cron: $(cat "$work/exp.out")"
echo "ok: another database, a user who may not create the extension and a server without pg_cron:" \
	"dbsync says so and exits 0; tally-expirer expires"
echo "PASS"
