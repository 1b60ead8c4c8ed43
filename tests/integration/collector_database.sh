#!/bin/sh
# The database dispatcher end to end: ceilometer's Notifier publishes samples
# and events to a private RabbitMQ node, tallyd stores them through the
# database dispatcher, and what the store holds (read with the store's own
# tools, tests/integration/dump_store.py) is compared field by field with
# what was published. Every sample and event must be stored exactly once,
# even though tallyd is killed with SIGKILL in the middle of the stream (the
# buffer replays its batch: storage is idempotent on message_id).
#
# SQLite always; PostgreSQL too when its server is installed, with the
# database stopped for several seconds while samples flow (nothing lost,
# nothing twice) and a schema check at start. tallyd creates the schema of a
# new SQLite file itself; a PostgreSQL database needs tallyctl dbsync first.
set -u
. "$top_srcdir/tests/integration/lib.sh"
need_peers
SECRET='database test secret'
TOTAL=${DB_SAMPLES:-20000}
EVENTS=${DB_EVENTS:-500}
PG="sh $top_srcdir/scripts/postgresql"
pg_started=

db_cleanup() {
	[ -n "$pg_started" ] && $PG stop "$work/pg" >/dev/null 2>&1
	lib_cleanup
}
trap db_cleanup EXIT

# db_conf URL: storage.connection is URL; one database dispatcher "db" uses it.
db_conf() {
	cat >"$work/tally.yaml" <<CONF
telemetry_secret: "$SECRET"
collector:
  amqp: {urls: ["$TALLY_AMQP_URL"], workers: 2, batch_size: 100, batch_timeout: 0.05}
  udp: {address: ""}
  buffer: {path: "$work/buffer", max_size: 512MiB}
  dispatchers: [{name: db, type: database}]
storage: {connection: "$1"}
api: {enabled: false}
control: {port: 0}
log: {level: info}
CONF
}

# drained: the queues are empty and the "db" cursor has caught up.
wait_drained() {
	i=0
	until [ "$($RABBIT ctl "$work/rmq" list_queues -q name messages 2>/dev/null |
		awk '$1 == "metering.sample" || $1 == "event.sample" {n += $2} END {print n + 0}')" = 0 ] &&
		"$TALLYCTL" buffer stats --path "$work/buffer" 2>/dev/null |
		grep -q '"name":"db","next_seq":[0-9]*,"lag":0'; do
		i=$((i + 1))
		[ $i -le "${1:-1200}" ] || fail "the queue or the buffer did not drain"
		sleep 0.1
	done
}

# check URL LABEL: the store holds every published sample and event once.
check_store() {
	"$PY" "$top_srcdir/tests/integration/dump_store.py" "$1" >"$work/stored.jsonl" ||
		fail "$2: cannot read the store"
	"$PY" "$top_srcdir/tests/integration/dump_store.py" "$1" --events >"$work/stored-events.jsonl" ||
		fail "$2: cannot read the store's events"
	cat "$work/stored.jsonl" "$work/stored-events.jsonl" >"$work/stored-all.jsonl"
	echo "$2:"
	"$PY" "$top_srcdir/tests/integration/check_output.py" --stored "$work/stored-all.jsonl" \
		"$work/samples.jsonl" "$work/events.jsonl" ||
		fail "$2: samples or events lost, changed or stored twice"
}

# publish SEED: samples and events in the background (pid in ppid).
publish() {
	"$PY" "$top_srcdir/tests/tools/publish.py" --url "$TALLY_AMQP_URL" --secret "$SECRET" \
		--count "$TOTAL" --per-message 50 --events "$EVENTS" --jobs 2 --seed "$1" \
		--out "$work/samples.jsonl" --events-out "$work/events.jsonl" 2>"$work/publish.err" &
	ppid=$!
}

# ---- SQLite: the embedded default, with a crash in the middle.
# tallyctl dbsync on a new file says what it did, then that there is nothing to do.
db_conf "sqlite:///$work/dbsync.db"
"$TALLYCTL" -c "$work/tally.yaml" dbsync >"$work/dbsync.out" || { cat "$work/dbsync.out"; fail "dbsync failed"; }
grep -q "applied 001" "$work/dbsync.out" || { cat "$work/dbsync.out"; fail "dbsync did not say what it did"; }
"$TALLYCTL" -c "$work/tally.yaml" dbsync >"$work/dbsync2.out" || fail "second dbsync failed"
grep -q "up to date" "$work/dbsync2.out" || { cat "$work/dbsync2.out"; fail "second dbsync did not say the schema is up to date"; }
# A schema tallyd does not know (newer) stops start-up: tallyd only creates a
# schema where there is none at all.
sqlite3 "$work/dbsync.db" "INSERT INTO tally_schema_migrations VALUES (999, 'future', 0)" ||
	fail "cannot fake a newer schema"
timeout 60 "$TALLYD" -c "$work/tally.yaml" 2>"$work/tallyd-newschema.log"
[ $? -eq 3 ] || fail "tallyd started on a database of a newer schema"
grep -q "newer than this build" "$work/tallyd-newschema.log" || fail "the refusal does not say the schema is newer"

# The first start on a new file creates its schema itself (no tallyctl dbsync).
url="sqlite:///$work/tally.db"
db_conf "$url"
start_tallyd 0
grep -q "created the schema of the new SQLite database .*/tally.db" "$work/tallyd-0.log" ||
	fail "tallyd did not say that it created the schema"
publish 11
sleep 2
kill -9 "$tpid"
wait "$tpid" 2>/dev/null
echo "sqlite: SIGKILL during the stream"
start_tallyd 1
wait "$ppid" || { cat "$work/publish.err"; fail "publish.py failed"; }
wait_drained
stop_tallyd
check_store "$url" sqlite

# ---- PostgreSQL: the database goes away for a while under load.
vars=$($PG start "$work/pg" 2>"$work/pg.err")
rc=$?
if [ $rc -eq 77 ]; then
	echo "SKIP (part): no PostgreSQL server; SQLite passed"
	exit 0
fi
[ $rc -eq 0 ] || { cat "$work/pg.err"; fail "cannot start PostgreSQL"; }
pg_started=1
eval "$vars"
url=$($PG createdb "$work/pg" collector) || fail "cannot create the database"
rm -rf "$work/buffer"
db_conf "$url"
# A server database gets its schema from tallyctl dbsync only: before it,
# tallyd refuses to start and names the command that fixes it.
timeout 60 "$TALLYD" -c "$work/tally.yaml" 2>"$work/tallyd-noschema.log"
[ $? -eq 3 ] || fail "postgresql: tallyd started on a database without a schema"
grep -q "tallyctl dbsync" "$work/tallyd-noschema.log" || fail "postgresql: the refusal does not name tallyctl dbsync"
"$TALLYCTL" -c "$work/tally.yaml" dbsync >"$work/dbsync-pg.out" || { cat "$work/dbsync-pg.out"; fail "postgresql: dbsync failed"; }
start_tallyd 2
publish 12
sleep 1.5
$PG stop "$work/pg" immediate >/dev/null || fail "cannot stop PostgreSQL"
echo "postgresql: server stopped under load"
sleep 4
vars=$($PG start "$work/pg" 2>"$work/pg.err") || { cat "$work/pg.err"; fail "cannot restart PostgreSQL"; }
echo "postgresql: server started again"
wait "$ppid" || { cat "$work/publish.err"; fail "publish.py failed"; }
wait_drained 1800
grep -q "retrying" "$work/tallyd-2.log" || fail "postgresql: the outage was not noticed"
stop_tallyd
check_store "$url" postgresql
