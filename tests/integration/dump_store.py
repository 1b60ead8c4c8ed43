#!/usr/bin/python3
"""Dumps what a Tally store holds, one JSON object per line, with ceilometer's
field names (as the file dispatcher writes them), for check_output.py --stored.

    dump_store.py URL [--events]

URL is sqlite:///path or postgresql://... (read with psql). Samples by
default; --events dumps events with their traits ([name, dtype, value],
sorted by name). Reads the tables of schema/README.md directly: this is a
test of what was stored, not of Tally's read side.
"""
import datetime
import json
import subprocess
import sys

TYPES = {0: 'gauge', 1: 'delta', 2: 'cumulative'}
EPOCH = datetime.datetime(1970, 1, 1)


def fmt_us(us):
    return (EPOCH + datetime.timedelta(microseconds=us)).strftime('%Y-%m-%dT%H:%M:%S.%f')


SQLITE_SAMPLES = '''
SELECT m.name, m.type, m.unit, s.volume, s.user_id, s.project_id, r.resource_id, s.source,
       s.timestamp, s.message_id, md.doc
FROM sample s JOIN meter m ON m.id = s.meter_id JOIN resource r ON r.id = s.resource_ref
LEFT JOIN metadata md ON md.id = s.metadata_id'''

PG_SAMPLES = '''
SELECT json_build_array(m.name, m.type, m.unit, s.volume, s.user_id, s.project_id,
       r.resource_id, s.source,
       (extract(epoch from s.timestamp) * 1000000)::int8, s.message_id, md.doc::text)
FROM sample s JOIN meter m ON m.id = s.meter_id JOIN resource r ON r.id = s.resource_ref
LEFT JOIN metadata md ON md.id = s.metadata_id'''

EVENTS = '''
SELECT e.id, e.message_id, t.name, e.generated, e.raw
FROM event e JOIN event_type t ON t.id = e.event_type_id'''

PG_EVENTS = '''
SELECT json_build_array(e.id, e.message_id, t.name,
       (extract(epoch from e.generated) * 1000000)::int8, e.raw::text)
FROM event e JOIN event_type t ON t.id = e.event_type_id'''

TRAITS = '''SELECT event_id, name, type, t_text, t_int, t_float, t_datetime FROM trait'''

PG_TRAITS = '''
SELECT json_build_array(event_id, name, type, t_text, t_int, t_float,
       (extract(epoch from t_datetime) * 1000000)::int8) FROM trait'''


def rows(url, sqlite_sql, pg_sql):
    if url.startswith('sqlite://'):
        import sqlite3
        db = sqlite3.connect(url[len('sqlite://'):])
        yield from db.execute(sqlite_sql)
        db.close()
        return
    out = subprocess.run(['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', url,
                          '-c', pg_sql], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.strip():
            yield json.loads(line)


def samples(url):
    for (name, typ, unit, vol, user, project, rid, source, ts, mid, doc) in rows(
            url, SQLITE_SAMPLES, PG_SAMPLES):
        print(json.dumps({'counter_name': name, 'counter_type': TYPES[typ], 'counter_unit': unit,
                          'counter_volume': vol, 'user_id': user, 'project_id': project,
                          'resource_id': rid, 'source': source, 'timestamp': fmt_us(ts),
                          'message_id': mid,
                          'resource_metadata': json.loads(doc) if doc else {}}))


def events(url):
    traits = {}
    for (eid, name, typ, text, i, f, dt) in rows(url, TRAITS, PG_TRAITS):
        value = {2: i, 3: f, 4: fmt_us(dt) if dt is not None else None}.get(typ, text)
        traits.setdefault(eid, []).append([name, typ, value])
    for (eid, mid, etype, gen, raw) in rows(url, EVENTS, PG_EVENTS):
        print(json.dumps({'message_id': mid, 'event_type': etype, 'generated': fmt_us(gen),
                          'traits': sorted(traits.get(eid, [])),
                          'raw': json.loads(raw) if raw else {}}))


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    (events if '--events' in sys.argv[2:] else samples)(sys.argv[1])
