#!/bin/sh
# tallyctl import-ceilometer: the ceilometer.conf Debian 12 ships and
# hand-written Liberty and Mitaka ones (tests/data/import) become tally.yaml
# files that pass tallyd --check-config and carry the expected values (read
# back with PyYAML), with a comment on each option left out; options after
# the files, -o, --pipeline, several files, a bad file, and silence on
# stderr when it is not a terminal.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
[ -n "${PYTHON3_DEBIAN:-}" ] || { echo "run from make check"; exit 99; }
TALLYCTL="$top_builddir/tallyctl"
TALLYD="$top_builddir/tallyd"
DATA="$top_srcdir/tests/data/import"
work=$(mktemp -d "${TMPDIR:-/tmp}/import_ceilometer.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT INT TERM
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# convert NAME ARGS...: tallyctl import-ceilometer ARGS -o NAME.yaml, status 0,
# nothing on stderr (not a terminal), and tallyd --check-config accepts it.
convert() {
	name=$1
	shift
	"$TALLYCTL" import-ceilometer -o "$work/$name.yaml" "$@" 2>"$work/$name.err"
	st=$?
	[ "$st" -eq 0 ] || { fail "$name: exit status $st"; cat "$work/$name.err"; return; }
	[ -s "$work/$name.err" ] && { fail "$name: stderr not empty (not a terminal)"; cat "$work/$name.err"; }
	"$TALLYD" --check-config -c "$work/$name.yaml" >"$work/$name.check" 2>&1 ||
		{ fail "$name: --check-config"; cat "$work/$name.check"; cat "$work/$name.yaml"; }
}

convert debian "$DATA/debian12-ceilometer.conf"
convert liberty "$DATA/liberty.conf"
# options after the file, as in the usage line
convert mitaka "$DATA/mitaka.conf" --pipeline "$top_srcdir/tests/data/pipeline/ceilometer_pipeline.yaml"
convert override "$DATA/liberty.conf" "$DATA/override.conf"

# Standard output without -o is the same text.
"$TALLYCTL" import-ceilometer "$DATA/liberty.conf" >"$work/stdout.yaml" 2>"$work/stdout.err" ||
	fail "stdout: exit status"
cmp -s "$work/stdout.yaml" "$work/liberty.yaml" || fail "stdout differs from -o"
[ -s "$work/stdout.err" ] && fail "stdout: stderr not empty"
mode=$(stat -c %a "$work/liberty.yaml")
[ "$mode" = 640 ] || fail "-o: mode $mode, expected 640 (the file holds secrets)"

# Expected values and comments.
"$PYTHON3_DEBIAN" - "$work" "$top_srcdir" <<'PY' || failures=$((failures + 1))
import os, sys, yaml
work, src = sys.argv[1], os.path.realpath(sys.argv[2])  # the tool writes the path resolved
bad = 0

def load(name):
    with open('%s/%s.yaml' % (work, name)) as f:
        text = f.read()
    return yaml.safe_load(text), text

def get(doc, path):
    cur = doc
    for p in path.split('.'):
        if isinstance(cur, list):
            cur = cur[int(p)]
        else:
            cur = cur[p]
    return cur

def expect(name, values, comments=(), absent=()):
    global bad
    doc, text = load(name)
    for path, want in values.items():
        try:
            got = get(doc, path)
        except (KeyError, IndexError, TypeError):
            got = '<absent>'
        if got != want:
            print('FAIL: %s: %s = %r, expected %r' % (name, path, got, want))
            bad += 1
    for c in comments:
        if not any(line.lstrip().startswith('#') and c in line for line in text.splitlines()):
            print('FAIL: %s: no comment with %r' % (name, c))
            bad += 1
    for s in absent:
        if s in text:
            print('FAIL: %s: %r should not be in the file' % (name, s))
            bad += 1

expect('debian', {
    'collector.amqp.exchange': 'ceilometer',
    'collector.dispatchers.0.type': 'database',
    'storage.connection': 'sqlite:///var/lib/tally/tally.db',
    'api.listen': '127.0.0.1',
}, comments=[
    '[oslo_concurrency] lock_path = /var/lock/ceilometer (',
    "debian12-ceilometer.conf:455): not carried over: an option of oslo.concurrency",
    "[keystone_authtoken] lacks auth_url",
])

expect('liberty', {
    'telemetry_secret': 'liberty-secret',
    'collector.amqp.urls': ['amqp://ceilometer:s3cr%40t%2Fpw@rabbit1:5672/%2Fopenstack',
                            'amqp://ceilometer:s3cr%40t%2Fpw@rabbit2:5673/%2Fopenstack'],
    'collector.amqp.exchange': 'ceilometer',
    'collector.amqp.rpc_queue': 'metering',
    'collector.amqp.durable': True,
    'collector.amqp.ha_queues': True,
    'collector.amqp.workers': 4,
    'collector.amqp.heartbeat': 30,
    'collector.udp.address': '10.0.0.5',
    'collector.udp.port': 4953,
    'collector.notifications.enabled': False,
    'collector.notifications.workers': 2,
    'collector.notifications.event_definitions': '<absent>',
    'collector.notifications.exchanges.0': 'nova_cell1',
    'collector.notifications.exchanges.1': 'glance',
    'collector.dispatchers.0.name': 'database',
    'collector.dispatchers.1.type': 'file',
    'collector.dispatchers.1.file_path': '/var/log/ceilometer/meters.log',
    'collector.dispatchers.1.max_bytes': 10000000,
    'collector.dispatchers.1.backup_count': 5,
    'collector.dispatchers.2.type': 'http',
    'collector.dispatchers.2.target': 'http://collector.example.org:8080/samples',
    'collector.dispatchers.2.event_target': 'http://collector.example.org:8080/events',
    'collector.dispatchers.2.timeout': 10,
    'storage.metering_time_to_live': 604800,
    'storage.event_time_to_live': 1209600,
    'api.listen': '0.0.0.0',
    'api.port': 8779,
    'api.auth': 'keystone',
    'api.keystone.auth_url': 'http://keystone:35357/v3',
    'api.keystone.username': 'ceilometer',
    'api.keystone.password': 'ks-pass',
    'api.keystone.project_name': 'service',
    'log.level': 'debug',
}, comments=[
    'MySQL has no driver in Tally',
    '[database] alarm_connection = (hidden)',
    "alarms are Aodh's",
    '[collector] requeue_sample_on_dispatcher_error = True',
    '[DEFAULT] host = ctl1',
    '[DEFAULT] log_dir = /var/log/ceilometer',
    '[oslo_messaging_rabbit] rabbit_retry_interval = 5',
    '[oslo_messaging_rabbit] heartbeat_rate = 2',
    '[keystone_authtoken] signing_dir',
    '[compute] workload_partitioning = True',
    '[event] definitions_cfg_file = event_definitions.yaml (',
    'not found here, so ceilometer used the file of its package',
    'liberty.conf:30)',
], absent=['dbpass', 'connection: "mysql'])

doc, _ = load('mitaka')
expect('mitaka', {
    'telemetry_secret': 'mitaka secret',
    'collector.amqp.urls': ['amqps://tel:pw1@mq1:5671/ceilo', 'amqps://tel:pw1@mq2:5671/ceilo'],
    'collector.amqp.metering_queue': 'telemetry.sample',
    'collector.amqp.event_queue': 'events.sample',
    'collector.amqp.prefetch': 64,
    'collector.amqp.batch_size': 50,
    'collector.amqp.batch_timeout': 5,
    'collector.udp.address': '',
    'collector.notifications.topics': ['notifications', 'notifications_designate'],
    'collector.notifications.drop_unmatched': True,
    'collector.notifications.store_raw': ['info', 'error'],
    'collector.dispatchers.0.name': 'gnocchi',
    'collector.dispatchers.0.url': 'http://gnocchi.example.org:8041',
    'collector.dispatchers.0.archive_policy': 'high',
    'collector.dispatchers.0.filter_project': 'service',
    'collector.dispatchers.0.filter_service_activity': False,
    'collector.dispatchers.0.events': False,
    'collector.dispatchers.0.auth': 'keystone',
    'collector.dispatchers.0.keystone.auth_url': 'http://keystone:5000/v3',
    'collector.dispatchers.0.keystone.password': 'sc-pass',
    'collector.dispatchers.0.keystone.region_name': 'RegionTwo',
    'collector.dispatchers.1.name': 'database',
    'collector.pipeline': src + '/tests/data/pipeline/ceilometer_pipeline.yaml',
    'storage.connection': 'postgresql://ceilo:pgpass@pg1/ceilometer',
    'storage.event_connection': 'postgresql+psycopg2://ceilo:pgpass@pg2/events',
    'storage.metering_time_to_live': -1,
    'api.port': 8777,
    'api.default_limit': 500,
    'api.auth': 'keystone',
    'api.keystone.auth_url': 'http://keystone:35357/v3',
    'api.keystone.www_authenticate_uri': 'http://keystone:5000/v3',
    'api.keystone.cache_time': 0,
    'log.level': 'warning',
    'log.target': 'syslog',
}, comments=[
    "[collector] workers = 100 (", "Tally's workers takes 1 to 64",
    '[dispatcher_gnocchi] archive_policy_file',
    '[oslo_messaging_rabbit] kombu_ssl_ca_certs',
    '[keystone_authtoken] memcached_servers',
    '[api] gnocchi_is_enabled = True',
    '[database] max_retries = 20',
    '[DEFAULT] pipeline_cfg_file = pipeline.yaml',
    'run `tallyctl dbsync`',
])

expect('override', {
    'collector.amqp.urls': ['amqp://ceilometer:new%20pw@[fd00::5]:5672/'],
    'collector.amqp.workers': 8,
    'collector.dispatchers.3.type': 'gnocchi',
    'collector.dispatchers.3.url': 'http://gnocchi:8041',
}, comments=['[DEFAULT] rabbit_hosts = rabbit1:5672, rabbit2:5673 (',
             'transport_url is set and takes precedence'])
print('%d value checks failed' % bad)
sys.exit(1 if bad else 0)
PY

# A file oslo.config refuses is refused with file:line, and nothing is written.
"$TALLYCTL" import-ceilometer -o "$work/bad.yaml" "$DATA/bad.conf" 2>"$work/bad.err"
st=$?
[ "$st" -eq 1 ] || fail "bad.conf: exit status $st, expected 1"
grep -q "bad.conf:4: a continuation line with no key before it" "$work/bad.err" ||
	{ fail "bad.conf: message"; cat "$work/bad.err"; }
[ -e "$work/bad.yaml" ] && fail "bad.conf: output written"
"$TALLYCTL" import-ceilometer "$work/missing.conf" >/dev/null 2>"$work/missing.err"
[ $? -eq 1 ] || fail "missing file: exit status"
grep -q "missing.conf: No such file or directory" "$work/missing.err" || fail "missing file: message"
"$TALLYCTL" import-ceilometer >/dev/null 2>&1
[ $? -eq 2 ] || fail "no file: exit status, expected 2"
"$TALLYCTL" import-ceilometer --pipeline "$work/none.yaml" "$DATA/liberty.conf" >/dev/null 2>"$work/pipe.err"
[ $? -eq 1 ] || fail "missing pipeline: exit status"
grep -q "none.yaml" "$work/pipe.err" || fail "missing pipeline: message"

# Random files (fixed seed): each is refused with file:line (status 1) or
# becomes a file --check-config accepts; never a crash or a sanitizer report.
mkdir "$work/random"
"$PYTHON3_DEBIAN" "$top_srcdir/tests/tools/gen_ceilometer_conf.py" "$work/random" 60 20 || fail "generator"
ok=0
refused=0
for f in "$work/random"/*.conf; do
	"$TALLYCTL" import-ceilometer -o "$f.yaml" "$f" 2>"$f.err"
	st=$?
	if grep -q -E "Sanitizer|runtime error" "$f.err"; then
		fail "$f: sanitizer"
		cat "$f.err"
	elif [ $st -eq 1 ]; then
		grep -q "^tallyctl: import-ceilometer: $f:[0-9]*: " "$f.err" ||
			{ fail "$f: refused without file:line"; cat "$f.err"; }
		refused=$((refused + 1))
	elif [ $st -ne 0 ]; then
		fail "$f: exit status $st"
	elif "$TALLYD" --check-config -c "$f.yaml" >"$f.check" 2>&1; then
		ok=$((ok + 1))
	else
		fail "$f: --check-config"
		cat "$f" "$f.check"
	fi
done
echo "random files: $ok converted, $refused refused"
[ $ok -ge 15 ] || fail "random files: only $ok converted"

echo "$failures failures"
[ "$failures" -eq 0 ]
