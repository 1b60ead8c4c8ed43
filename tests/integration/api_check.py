#!/usr/bin/python3
"""The query API's answers against docs/compatibility.md §6 and §7, computed here from the seed.

  api_check.py seed FILE        writes the deterministic data set (JSON lines for seed_store)
  api_check.py check PORT FILE  queries tallyd on 127.0.0.1:PORT and compares field by field

The expected answers are derived in this file from the seed by the rules of
docs/compatibility.md (flatten_metadata, meter_id, newest
first, statistics windows and duration clamping, links, error texts), not
from tallyd's code. Requests are sent the way python-ceilometerclient 2.9.1
sends them (§9): all four q lists in the order field, op, type, value, an
empty q.type, Accept */*, User-Agent ceilometerclient.apiclient. tallyd runs
with auth trusted-headers; RBAC checks change the headers.
Exit status 0 when every check passed; each failure is printed with what was
expected and what came.
"""
import base64
import datetime
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

PA, PB = 'proj-a', 'proj-b'
ADMIN = {'X-Roles': 'admin', 'X-User-Id': 'admin-user', 'X-Project-Id': 'admin-proj'}
BASE_T = datetime.datetime(2026, 3, 1, 12, 0, 0)

RESOURCES = [  # resource, project, user, instance_type
    ('r1', PA, 'u1', 'm1.tiny'),
    ('r2', PA, 'u2', 'm1.small'),
    ('r3', PB, 'u3', 'm1.tiny'),
]
METERS = [('cpu_util', 'gauge', '%'), ('disk.read.bytes', 'cumulative', 'B')]


def iso(t):
    return t.isoformat()


def make_seed():
    samples, events = [], []
    k = 0
    for ri, (rid, proj, user, itype) in enumerate(RESOURCES):
        for mi, (name, typ, unit) in enumerate(METERS):
            for j in range(4):
                t = BASE_T + datetime.timedelta(minutes=10 * j + ri, seconds=mi)
                if j == 3:
                    t = t.replace(microsecond=123456)
                md = {'instance_type': itype, 'disk': 20 + j, 'flag': j % 2 == 0,
                      'ratio': 0.5, 'tags': ['a', 'b'], 'nested': {'k': {'x': 'y'}},
                      'none': None, 'display_name': 'vm-%s' % rid}
                samples.append({
                    'source': 'openstack', 'counter_name': name, 'counter_type': typ,
                    'counter_unit': unit, 'counter_volume': float(ri * 10 + j) + 0.5,
                    'user_id': user, 'project_id': proj, 'resource_id': rid,
                    'timestamp': iso(t), 'resource_metadata': md,
                    'message_id': 'msg-%03d' % k, 'message_signature': ''})
                k += 1
    for i, (etype, proj, user) in enumerate([
            ('compute.instance.create.end', PA, 'u1'),
            ('compute.instance.delete.end', PB, 'u3'),
            ('compute.instance.create.end', None, None)]):
        traits = [['host', 1, 'compute-%d' % i], ['vcpus', 2, i + 1], ['load', 3, 0.25 * i],
                  ['launched_at', 4, iso(BASE_T + datetime.timedelta(hours=i))]]
        if proj:
            traits += [['project_id', 1, proj], ['user_id', 1, user]]
        events.append({'message_id': 'ev-%d' % i, 'event_type': etype,
                       'generated': iso(BASE_T + datetime.timedelta(minutes=i)),
                       'traits': traits, 'raw': {'n': i}, 'message_signature': ''})
    return samples, events


# ---- the reference's rules ------------------------------------------------------

def recursive_keypairs(d, separator='.'):
    for name, value in sorted(d.items()):
        if isinstance(value, dict):
            for subname, subvalue in recursive_keypairs(value, separator):
                yield ('%s%s%s' % (name, separator, subname), subvalue)
        else:
            yield name, value


def flatten_metadata(md):
    return dict((k.replace('.', ':').replace(':', '.', 1), str(v))
                for k, v in recursive_keypairs(md or {}, '.'))


def parse(ts):
    return datetime.datetime.fromisoformat(ts)


def meter_id(rid, name):
    return base64.b64encode(('%s+%s' % (rid, name)).encode()).decode()


# ---- HTTP -------------------------------------------------------------------------

class Api:
    def __init__(self, port):
        self.base = 'http://127.0.0.1:%s' % port

    def call(self, method, path, headers=None, body=None, raw=None, ctype=None):
        h = {'Accept': '*/*', 'User-Agent': 'ceilometerclient.apiclient'}
        h.update(ADMIN if headers is None else headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h['Content-Type'] = 'application/json'
        if raw is not None:
            data = raw
        if ctype:
            h['Content-Type'] = ctype
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                text = r.read()
                return r.status, dict(r.headers), json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, dict(e.headers), json.loads(text)
            except ValueError:
                return e.code, dict(e.headers), text


def qs(q=(), **params):
    """The query string as python-ceilometerclient builds it."""
    parts = []
    if q:
        for key in ('field', 'op', 'type', 'value'):
            for item in q:
                parts.append(('q.' + key, item.get(key, '' if key == 'type' else 'eq')))
    for k, v in params.items():
        if isinstance(v, list):
            parts += [(k, x) for x in v]
        else:
            parts.append((k, v))
    return '?' + urllib.parse.urlencode(parts) if parts else ''


# ---- the checks ---------------------------------------------------------------------

class Checker:
    def __init__(self, api, samples, events):
        self.api, self.samples, self.events = api, samples, events
        self.failures = 0
        self.count = 0

    def ok(self, what, cond, expected=None, got=None):
        self.count += 1
        if cond:
            return True
        self.failures += 1
        print('FAIL %s\n  expected: %s\n  got:      %s' % (what, expected, got))
        return False

    def eq(self, what, expected, got):
        return self.ok(what, expected == got, expected, got)

    def get(self, path, headers=None, status=200):
        st, hdr, body = self.api.call('GET', path, headers)
        self.ok('GET %s: status' % path, st == status, status, (st, body))
        self.ok('GET %s: request id' % path,
                hdr.get('X-Openstack-Request-Id', '').startswith('req-'), 'req-...', hdr)
        if st == 200:
            self.ok('GET %s: content type' % path,
                    hdr.get('Content-Type') == 'application/json; charset=UTF-8',
                    'application/json; charset=UTF-8', hdr.get('Content-Type'))
        return body

    def error(self, method, path, status, text, body=None, headers=None, raw=None, ctype=None,
              exact=True):
        st, hdr, got = self.api.call(method, path, headers, body, raw, ctype)
        what = '%s %s -> %d' % (method, path, status)
        self.ok(what + ': status', st == status, status, (st, got))
        self.ok(what + ': request id', hdr.get('X-Openstack-Request-Id', '').startswith('req-'),
                'req-...', hdr)
        if not self.ok(what + ': error shape', isinstance(got, dict) and
                       set(got.get('error_message', {})) ==
                       {'faultcode', 'faultstring', 'debuginfo'}, 'error_message dict', got):
            return hdr
        em = got['error_message']
        self.eq(what + ': faultcode', 'Client' if status < 500 else 'Server', em['faultcode'])
        self.eq(what + ': debuginfo', None, em['debuginfo'])
        if exact:
            self.eq(what + ': faultstring', text, em['faultstring'])
        else:
            self.ok(what + ': faultstring', text in em['faultstring'], text, em['faultstring'])
        return hdr

    # -- samples as the reference shapes them
    def old_sample(self, s):
        return {'source': s['source'], 'counter_name': s['counter_name'],
                'counter_type': s['counter_type'], 'counter_unit': s['counter_unit'],
                'counter_volume': s['counter_volume'], 'user_id': s['user_id'],
                'project_id': s['project_id'], 'resource_id': s['resource_id'],
                'timestamp': s['timestamp'],
                'resource_metadata': flatten_metadata(s['resource_metadata']),
                'message_id': s['message_id']}

    def new_sample(self, s):
        return {'id': s['message_id'], 'meter': s['counter_name'], 'type': s['counter_type'],
                'unit': s['counter_unit'], 'volume': s['counter_volume'],
                'user_id': s['user_id'], 'project_id': s['project_id'],
                'resource_id': s['resource_id'], 'source': s['source'],
                'timestamp': s['timestamp'], 'metadata': flatten_metadata(s['resource_metadata'])}

    def newest(self, pred=lambda s: True):
        return sorted((s for s in self.samples if pred(s)),
                      key=lambda s: (parse(s['timestamp']), s['message_id']), reverse=True)

    def compare_samples(self, what, expected, got, shape):
        if not self.eq(what + ': count', len(expected), len(got) if isinstance(got, list) else got):
            return
        for e, g in zip(expected, got):
            want = shape(e)
            rec = g.pop('recorded_at', None)
            self.ok(what + ': recorded_at', isinstance(rec, str) and parse(rec) is not None,
                    'a datetime', rec)
            self.eq(what + ': ' + e['message_id'], want, g)

    def run(self):
        a = self.api
        # GET / and /v2
        body = self.get('/')
        v = body['versions']['values'][0] if body else {}
        self.eq('GET /: version', ('v2', 'stable', '2013-02-13T00:00:00Z'),
                (v.get('id'), v.get('status'), v.get('updated')))
        self.eq('GET /: self link', {'href': a.base + '/v2', 'rel': 'self'},
                (v.get('links') or [None])[0])
        self.eq('GET /: media types', ['application/json', 'application/xml'],
                [m['base'] for m in v.get('media-types', [])])
        self.get('/v2', status=404)

        # Samples of a meter, newest first, old shape.
        exp = self.newest(lambda s: s['counter_name'] == 'cpu_util')
        got = self.get('/v2/meters/cpu_util')
        self.compare_samples('GET /v2/meters/cpu_util', exp, got, self.old_sample)
        got = self.get('/v2/meters/cpu_util' + qs([{'field': 'resource_id', 'value': 'r2'}],
                                                   limit=2))
        self.compare_samples('meter samples of r2, limit 2',
                             self.newest(lambda s: s['counter_name'] == 'cpu_util' and
                                         s['resource_id'] == 'r2')[:2], got, self.old_sample)

        # /v2/samples: new shape, limit, filters.
        got = self.get('/v2/samples' + qs(limit=5))
        self.compare_samples('GET /v2/samples?limit=5', self.newest()[:5], got, self.new_sample)
        q = [{'field': 'timestamp', 'op': 'ge', 'value': '2026-03-01T12:10:00'},
             {'field': 'timestamp', 'op': 'lt', 'value': '2026-03-01T12:30:01+02:00'},
             {'field': 'metadata.instance_type', 'value': 'm1.tiny'},
             {'field': 'meter', 'value': 'disk.read.bytes'}]
        # The offset is dropped without conversion (§6.3): < 12:30:01.
        exp = self.newest(lambda s: BASE_T + datetime.timedelta(minutes=10) <=
                          parse(s['timestamp']) < BASE_T + datetime.timedelta(minutes=30, seconds=1)
                          and s['resource_metadata']['instance_type'] == 'm1.tiny' and
                          s['counter_name'] == 'disk.read.bytes')
        got = self.get('/v2/samples' + qs(q))
        self.compare_samples('samples by time window and metadata', exp, got, self.new_sample)
        got = self.get('/v2/samples' + qs([{'field': 'metadata.disk', 'value': '21'},
                                           {'field': 'resource', 'value': 'r1'}]))
        self.compare_samples('samples by an integer metadata guessed from "21"',
                             self.newest(lambda s: s['resource_metadata']['disk'] == 21 and
                                         s['resource_id'] == 'r1'), got, self.new_sample)
        got = self.get('/v2/samples' + qs([{'field': 'metadata.flag', 'value': 'True',
                                            'type': 'boolean'},
                                           {'field': 'project', 'value': PB}]))
        self.compare_samples('samples by a boolean metadata', self.newest(
            lambda s: s['resource_metadata']['flag'] and s['project_id'] == PB), got,
            self.new_sample)
        s0 = self.samples[5]
        got = self.get('/v2/samples/' + s0['message_id'])
        if isinstance(got, dict):
            got.pop('recorded_at', None)
        self.eq('GET /v2/samples/ID', self.new_sample(s0), got)
        self.error('GET', '/v2/samples/nope', 404, 'Sample nope Not Found')
        self.error('GET', '/v2/samples/%s?limit=1' % s0['message_id'], 400,
                   'Unknown argument: "limit"', exact=False)

        # Meters: one per (meter, resource) from the latest sample.
        got = self.get('/v2/meters')
        latest = {}
        for s in self.samples:
            key = (s['counter_name'], s['resource_id'])
            if key not in latest or parse(s['timestamp']) > parse(latest[key]['timestamp']):
                latest[key] = s
        exp = sorted(({'name': s['counter_name'], 'type': s['counter_type'],
                       'unit': s['counter_unit'], 'resource_id': s['resource_id'],
                       'project_id': s['project_id'], 'user_id': s['user_id'],
                       'source': s['source'], 'meter_id': meter_id(s['resource_id'],
                                                                   s['counter_name'])}
                      for s in latest.values()), key=lambda m: (m['name'], m['resource_id']))
        self.eq('GET /v2/meters', exp, sorted(got or [], key=lambda m: (m['name'],
                                                                        m['resource_id'])))
        got = self.get('/v2/meters' + qs(unique='True'))
        exp = sorted(({'name': n, 'type': t, 'unit': u, 'resource_id': None, 'project_id': None,
                       'user_id': None, 'source': None, 'meter_id': meter_id('None', n)}
                      for n, t, u in METERS), key=lambda m: m['name'])
        self.eq('GET /v2/meters?unique=True', exp, sorted(got or [], key=lambda m: m['name']))
        got = self.get('/v2/meters' + qs([{'field': 'project', 'value': PB}]))
        self.eq('meters of project B', sorted(m['counter_name'] for m in latest.values()
                                              if m['project_id'] == PB),
                sorted(m['name'] for m in got or []))
        self.error('GET', '/v2/meters' + qs([{'field': 'timestamp', 'op': 'gt',
                                              'value': '2026-03-01T00:00:00'}]), 400,
                   'Unknown argument: "timestamp": not valid for this resource')

        # Resources.
        def resource(rid, links):
            rs = [s for s in self.samples if s['resource_id'] == rid]
            last = max(rs, key=lambda s: parse(s['timestamp']))
            out = {'resource_id': rid, 'project_id': last['project_id'],
                   'user_id': last['user_id'],
                   'first_sample_timestamp': min(rs, key=lambda s: parse(s['timestamp']))
                   ['timestamp'], 'last_sample_timestamp': last['timestamp'],
                   'metadata': flatten_metadata(last['resource_metadata']),
                   'source': last['source'],
                   'links': [{'href': '%s/v2/resources/%s' % (a.base, rid), 'rel': 'self'}]}
            if links:
                out['links'] += [{'href': '%s/v2/meters/%s?q.field=resource_id&q.value=%s' %
                                  (a.base, m, rid), 'rel': m}
                                 for m in sorted({s['counter_name'] for s in rs})]
            return out
        got = self.get('/v2/resources')
        self.eq('GET /v2/resources', [resource(r[0], True) for r in RESOURCES],
                sorted(got or [], key=lambda r: r['resource_id']))
        got = self.get('/v2/resources' + qs(meter_links=0, limit=10))
        self.eq('GET /v2/resources?meter_links=0 (what the CLI sends)',
                [resource(r[0], False) for r in RESOURCES],
                sorted(got or [], key=lambda r: r['resource_id']))
        self.eq('GET /v2/resources/r3', resource('r3', True), self.get('/v2/resources/r3'))
        self.error('GET', '/v2/resources/nope', 404, 'Resource nope Not Found')

        # Statistics.
        def stats(rows, start=None, end=None):
            vols = [s['counter_volume'] for s in rows]
            ts = [parse(s['timestamp']) for s in rows]
            ds, de = min(ts), max(ts)
            if start and ds < start:
                ds = start
            if end and de > end:
                de = end
            return {'count': len(vols), 'sum': sum(vols), 'min': min(vols), 'max': max(vols),
                    'avg': sum(vols) / len(vols), 'unit': rows[0]['counter_unit'],
                    'duration_start': iso(ds), 'duration_end': iso(de),
                    'duration': (de - ds).total_seconds()}
        cpu = [s for s in self.samples if s['counter_name'] == 'cpu_util']
        got = self.get('/v2/meters/cpu_util/statistics')
        exp = stats(cpu)
        exp.update({'groupby': None, 'period': 0, 'period_start': exp['duration_start'],
                    'period_end': exp['duration_end']})
        if self.eq('statistics: one row', 1, len(got or [])):
            g = dict(got[0])
            self.ok('statistics: avg', abs(g.pop('avg') - exp.pop('avg')) < 1e-9)
            self.eq('statistics, no period', exp, g)
        start = BASE_T + datetime.timedelta(minutes=5)
        got = self.get('/v2/meters/cpu_util/statistics' + qs(
            [{'field': 'timestamp', 'op': 'ge', 'value': iso(start)}], period=600))
        # Windows of 600 s from the query's start; empty ones omitted.
        rows = [s for s in cpu if parse(s['timestamp']) >= start]
        exp = []
        for w in range(3):
            ws = start + datetime.timedelta(seconds=600 * w)
            inw = [s for s in rows if ws <= parse(s['timestamp']) < ws +
                   datetime.timedelta(seconds=600)]
            if inw:
                e = stats(inw, start=start)
                e.update({'groupby': None, 'period': 600, 'period_start': iso(ws),
                          'period_end': iso(ws + datetime.timedelta(seconds=600))})
                exp.append(e)
        got = sorted(got or [], key=lambda r: r['period_start'])
        for e, g in zip(exp, got):
            e.pop('avg'), g.pop('avg', None)
        self.eq('statistics with period 600 from a start', exp, got)
        got = self.get('/v2/meters/cpu_util/statistics' + qs(
            groupby=['resource_metadata.instance_type', 'project_id']))
        exp = {}
        for s in cpu:
            exp.setdefault((s['resource_metadata']['instance_type'], s['project_id']),
                           []).append(s)
        self.eq('statistics grouped by instance_type and project',
                sorted((k, len(v), sum(x['counter_volume'] for x in v)) for k, v in exp.items()),
                sorted(((g['groupby']['resource_metadata.instance_type'],
                         g['groupby']['project_id']), g['count'], g['sum']) for g in got or []))
        # Parametrized aggregates first, paired by position (what the client sends).
        path = '/v2/meters/cpu_util/statistics?aggregate.func=cardinality&' \
               'aggregate.param=resource_id&aggregate.func=count&aggregate.func=max'
        got = self.get(path)
        if self.eq('aggregates: one row', 1, len(got or [])):
            g = got[0]
            self.eq('aggregates', {'cardinality/resource_id': 3.0, 'count': float(len(cpu)),
                                   'max': max(s['counter_volume'] for s in cpu)},
                    g.get('aggregate'))
            self.eq('aggregates: standard ones at the top too, the others left out',
                    (len(cpu), max(s['counter_volume'] for s in cpu), False, False),
                    (g.get('count'), g.get('max'), 'sum' in g, 'avg' in g))
        self.error('GET', '/v2/meters/cpu_util/statistics?period=-1', 400,
                   'Period must be positive.', exact=False)
        self.error('GET', '/v2/meters/cpu_util/statistics?groupby=foo', 400,
                   'Invalid groupby fields', exact=False)
        self.error('GET', '/v2/meters/cpu_util/statistics?aggregate.func=cardinality&'
                   'aggregate.param=foo', 400, 'Bad aggregate: cardinality.foo', exact=False)

        # Complex query: filter and orderby are JSON texts, limit a string (the CLI).
        flt = json.dumps({'and': [{'=': {'counter_name': 'cpu_util'}},
                                  {'or': [{'=': {'resource_id': 'r1'}},
                                          {'>': {'counter_volume': 22}}]}]})
        st, _, got = a.call('POST', '/v2/query/samples', ADMIN,
                            {'filter': flt, 'orderby': json.dumps([{'counter_volume': 'ASC'}]),
                             'limit': '3'})
        exp = sorted((s for s in cpu if s['resource_id'] == 'r1' or s['counter_volume'] > 22),
                     key=lambda s: s['counter_volume'])[:3]
        self.eq('POST /v2/query/samples: status', 200, st)
        self.compare_samples('complex query', exp, got, self.new_sample)
        st, _, got = a.call('POST', '/v2/query/samples', ADMIN, {})
        self.eq('complex query with {}: newest first, default limit', [
            s['message_id'] for s in self.newest()][:100], [s['id'] for s in got or []])
        self.error('POST', '/v2/query/samples', 400, 'Filter expression not valid', exact=False,
                   body={'filter': json.dumps({'==': {'counter_name': 'x'}})})
        self.error('POST', '/v2/query/samples', 400, 'Limit must be positive', exact=False,
                   body={'limit': 0})

        # Events.
        def event(e):
            tr = []
            for name, dtype, value in sorted(e['traits']):
                t = {1: 'string', 2: 'integer', 3: 'float', 4: 'datetime'}[dtype]
                tr.append({'name': name, 'value': str(value), 'type': t})
            return {'message_id': e['message_id'], 'event_type': e['event_type'],
                    'generated': e['generated'], 'traits': tr, 'raw': e['raw']}
        # An admin sees the events of its project and those without one (§6.1).
        admin_a = dict(ADMIN, **{'X-Project-Id': PA})
        admin_b = dict(ADMIN, **{'X-Project-Id': PB})
        got = self.get('/v2/events', admin_a)
        self.eq('GET /v2/events (admin of A)', [event(self.events[0]), event(self.events[2])],
                got)
        got = self.get('/v2/events' + qs([{'field': 'vcpus', 'op': 'ge', 'value': '2',
                                           'type': 'integer'},
                                          {'field': 'event_type',
                                           'value': 'compute.instance.create.end'}]), admin_a)
        self.eq('events by an integer trait and a type', ['ev-2'],
                [e['message_id'] for e in got or []])
        got = self.get('/v2/events' + qs([{'field': 'start_timestamp',
                                           'value': '2026-03-01T12:01:00'},
                                          {'field': 'end_timestamp',
                                           'value': '2026-03-01T12:01:00'}]), admin_b)
        self.eq('events between inclusive bounds', ['ev-1'], [e['message_id'] for e in got or []])
        self.eq('GET /v2/events/ev-1', event(self.events[1]), self.get('/v2/events/ev-1', admin_b))
        self.error('GET', '/v2/events/ev-1', 404, 'Event ev-1 Not Found', headers=admin_a)
        self.error('GET', '/v2/events/nope', 404, 'Event nope Not Found')
        self.eq('GET /v2/event_types', ['compute.instance.create.end',
                                        'compute.instance.delete.end'],
                self.get('/v2/event_types'))
        got = self.get('/v2/event_types/compute.instance.create.end/traits')
        self.eq('trait descriptions', sorted([{'name': 'host', 'type': 'string'},
                                              {'name': 'vcpus', 'type': 'integer'},
                                              {'name': 'load', 'type': 'float'},
                                              {'name': 'launched_at', 'type': 'datetime'},
                                              {'name': 'project_id', 'type': 'string'},
                                              {'name': 'user_id', 'type': 'string'}],
                                             key=lambda t: t['name']),
                sorted(got or [], key=lambda t: t['name']))
        got = self.get('/v2/event_types/compute.instance.create.end/traits/vcpus')
        self.eq('trait values', sorted(['1', '3']), sorted(t['value'] for t in got or []))
        self.error('GET', '/v2/events' + qs([{'field': 'vcpus', 'op': 'xx', 'value': '1'}]), 400,
                   'Operator xx is not supported', exact=False)

        # Capabilities: true to the SQL drivers.
        got = self.get('/v2/capabilities')
        api = got.get('api', {}) if got else {}
        self.eq('capabilities: complex queries of samples only',
                (True, False, False, False), (api.get('samples:query:complex'),
                                              api.get('meters:query:complex'),
                                              api.get('resources:query:complex'),
                                              api.get('statistics:query:complex')))
        self.eq('capabilities: storage', {'storage:production_ready': True}, got.get('storage'))

        # Errors of §6.2/§6.3 and of HTTP.
        self.error('GET', '/v2/samples?limit=NaN', 400,
                   "Invalid input for field/attribute limit. Value: 'NaN'. unable to convert "
                   "to int")
        self.error('GET', '/v2/samples?limit=0', 400, 'Limit must be positive')
        self.error('GET', '/v2/samples?limit=-1', 400, 'Limit must be positive')
        self.error('GET', '/v2/samples?limit=1&limit=2', 400, 'limit', exact=False)
        self.error('GET', '/v2/samples' + qs([{'field': 'foo', 'value': '1'}]), 400,
                   'Unknown argument: "foo": unrecognized field in query', exact=False)
        self.error('GET', '/v2/samples' + qs([{'field': 'user_id', 'op': 'gt', 'value': 'u'}]),
                   400, 'unimplemented operator for user_id', exact=False)
        self.error('GET', '/v2/samples' + qs([{'field': 'timestamp', 'op': 'gt',
                                               'value': 'yesterday'}]), 400,
                   'invalid timestamp format', exact=False)
        hdr = self.error('DELETE', '/v2/samples', 405, 'not allowed', exact=False)
        self.ok('405: Allow', 'GET' in hdr.get('Allow', ''), 'GET...', hdr.get('Allow'))
        self.error('GET', '/v2/meters', 406, 'application/json', exact=False,
                   headers=dict(ADMIN, Accept='application/xml'))
        self.error('POST', '/v2/query/samples', 415, 'Content-Type', exact=False, raw=b'x=1',
                   ctype='text/plain')
        self.error('POST', '/v2/query/samples', 400, 'not valid JSON', exact=False,
                   raw=b'{"filter":', ctype='application/json')
        self.error('GET', '/v2/nothing', 404, 'The resource could not be found.')
        # Caps: a body over api.max_body_size (1 MiB) is refused before it is read; a URL
        # over api.max_header_size (64 KiB) is refused by the HTTP layer.
        # (Announced, not sent: a client still sending when the answer comes gets EPIPE.)
        import socket
        port = int(a.base.rsplit(':', 1)[1])
        with socket.create_connection(('127.0.0.1', port), timeout=10) as sk:
            sk.sendall(b'POST /v2/query/samples HTTP/1.1\r\nHost: x\r\nX-Roles: admin\r\n'
                       b'Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n')
            answer = b''
            while b'}}' not in answer:
                chunk = sk.recv(4096)
                if not chunk:
                    break
                answer += chunk
        self.ok('a body announced over 1 MiB -> 413 before it is sent',
                answer.startswith(b'HTTP/1.1 413') and b'larger than 1048576 bytes' in answer,
                '413 ...', answer[:300])
        st, _, _ = a.call('GET', '/v2/samples?q.field=' + 'x' * 70000)
        self.ok('a 70 KB URL -> 414', st == 414, 414, st)
        st, _, got = a.call('GET', '/v2/samples' + qs(limit=10 ** 12))
        self.ok('a huge limit is clamped, not refused', st == 200 and len(got) == len(
            self.samples), (200, len(self.samples)), (st, got if st != 200 else len(got)))
        self.error('GET', '/v2/alarms', 410, 'Aodh', exact=False)

        # POST /v2/meters/NAME (§7) and its checks.
        post = {'counter_name': 'apples', 'counter_type': 'gauge', 'counter_unit': 'instance',
                'counter_volume': '1', 'resource_id': 'bd94', 'project_id': PA,
                'user_id': 'efd8', 'resource_metadata': {'name1': 'value1'}}
        st, _, echo = a.call('POST', '/v2/meters/apples?direct=True', ADMIN, [post])
        self.eq('POST direct: 201', 201, st)
        if st == 201:
            e = echo[0]
            self.eq('POST echo', {k: v for k, v in post.items() if k != 'counter_volume'},
                    {k: e[k] for k in post if k != 'counter_volume'})
            self.eq('POST echo: volume as float, source, no recorded_at',
                    (1.0, PA + ':openstack', False), (e['counter_volume'], e['source'],
                                                      'recorded_at' in e))
            got = self.get('/v2/meters/apples')
            self.eq('posted sample read back', [e['message_id']],
                    [s['message_id'] for s in got or []])
        for bad, text in (
                (dict(post, counter_name='pears'),
                 "Invalid input for field/attribute counter_name. Value: 'pears'. should be "
                 "apples"),
                (dict(post, counter_type='bogus'),
                 'The counter type must be: gauge, delta, cumulative'),
                (dict(post, message_id='x'), 'The message_id must not be set'),
                ({k: v for k, v in post.items() if k != 'resource_id'},
                 "Invalid input for field/attribute resource_id. Value: 'None'. Mandatory "
                 "field missing."),
                (dict(post, bogus=1), 'Unknown attribute for argument samples: bogus')):
            self.error('POST', '/v2/meters/apples', 400, text, exact=False, body=[bad])
        self.error('POST', '/v2/meters/apples', 400,
                   'Samples should be included in request body', body=[])

        # RBAC with trusted headers (§6.1): a member of project A.
        m = {'X-Roles': 'member', 'X-User-Id': 'u1', 'X-Project-Id': PA}
        got = self.get('/v2/samples', m)
        self.eq('member: own project only', {PA}, {s['project_id'] for s in got or []})
        other = [s for s in self.samples if s['project_id'] == PB][0]
        self.error('GET', '/v2/samples/' + other['message_id'], 404,
                   'Sample %s Not Found' % other['message_id'], headers=m)
        self.error('GET', '/v2/samples' + qs([{'field': 'project_id', 'value': PB}]), 401,
                   'Not Authorized to access project ' + PB, headers=m)
        got = self.get('/v2/events', m)
        self.eq('member: events of own project and user', ['ev-0'],
                [e['message_id'] for e in got or []])
        self.error('GET', '/v2/events', 403, 'RBAC Authorization Failed',
                   headers={'X-Roles': 'member', 'X-Project-Id': PA})
        self.error('GET', '/v2/event_types', 401, 'Not Authorized to access project ' + PA,
                   headers=m)
        got = self.get('/v2/events', ADMIN)
        self.eq('admin of a project without events: only those without a project', ['ev-2'],
                [e['message_id'] for e in got or []])
        self.error('GET', '/v2/samples', 401, 'The request you have made requires '
                   'authentication.', headers={})
        self.hostile()

    def raw_get(self, path, headers):
        """GET with headers as a list of (name, value): a name may repeat."""
        import http.client
        port = int(self.api.base.rsplit(':', 1)[1])
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
        conn.putrequest('GET', path, skip_accept_encoding=True)
        for k, v in headers:
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        text = r.read()
        conn.close()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text

    def hostile(self):
        """Issue 21: identity headers, NUL bytes, filter caps, overflowing aggregates."""
        a = self.api
        # An identity header given twice is refused: a lookup takes the first, so behind a
        # proxy that appends its header the client's own would win.
        member_a = [('X-Roles', 'member'), ('X-User-Id', 'u1'), ('X-Project-Id', PA)]
        for extra in (('X-Project-Id', PB), ('x-project-id', PB), ('X-Roles', 'admin'),
                      ('X-User-Id', 'u3'), ('X-Identity-Status', 'Confirmed')):
            hdrs = member_a + [extra]
            if extra[0] == 'X-Identity-Status':
                hdrs = hdrs + [extra]
            st, got = self.raw_get('/v2/samples', hdrs)
            text = got.get('error_message', {}).get('faultstring', '') \
                if isinstance(got, dict) else got
            self.ok('%s given twice -> 400' % extra[0], st == 400 and
                    'was given 2 times; an identity header may be given once' in text,
                    400, (st, text))
        st, got = self.raw_get('/v2/samples', member_a)
        self.ok('each identity header once -> 200', st == 200, 200, st)

        # X-Roles as ceilometer read it: split on ',' only, compared without case, nothing
        # stripped (keystonemiddleware writes ','.join(roles)); ' admin' is not admin. (Blanks
        # around the whole value are HTTP's, not part of it: every server drops them.)
        for roles, admin in (('admin', True), ('ADMIN', True), ('member,admin', True),
                             ('admin,member', True), ('member,,admin', True),
                             ('member, admin', False), ('member ,admin', True),
                             ('member,admin ,reader', False), ('member;admin', False),
                             ('', False)):
            got = self.get('/v2/samples', {'X-Roles': roles, 'X-User-Id': 'u1',
                                           'X-Project-Id': PA})
            self.eq('X-Roles %r: admin %s' % (roles, admin), {PA, PB} if admin else {PA},
                    {s['project_id'] for s in got or []})

        # A NUL byte (%00) in a query argument was cut off silently.
        for q in ('q.field=resource_id%00x&q.value=r1', 'q.field=resource_id&q.value=r1%00junk',
                  'limit=5%00', 'q.field%00=resource_id&q.value=r1'):
            self.error('GET', '/v2/samples?' + q, 400, 'holds a NUL byte', exact=False)
        # In JSON ("\\u0000") the parser already refused it.
        self.error('GET', '/v2/samples', 400, '\\u0000 is not accepted', exact=False,
                   body={'q': [{'field': 'resource_id', 'value': 'r1\x00junk'}]})
        self.error('POST', '/v2/query/samples', 400, '\\u0000 is not accepted', exact=False,
                   body={'filter': json.dumps({'=': {'resource_id': 'r1\x00junk'}})})

        # Complex filters: SQLite answered 500 from 46 nested levels and from 998 comparisons.
        # Up to the caps (20 levels, 500 comparisons) every store answers; beyond, a 400
        # (the cap's text one above it; deeper still, the JSON parser's).
        def nots(n):
            f = {'=': {'resource_id': 'r1'}}
            for _ in range(n):
                f = {'not': f}
            return f

        def ands(n):
            f = {'=': {'metadata.instance_type': 'm1.tiny'}}
            for _ in range(n):
                f = {'and': [{'>': {'counter_volume': -1}}, f]}
            return f

        def ors(n):
            return {'or': [{'=': {'resource_id': 'r%d' % i}} for i in range(n)]}

        def ins(n):
            return {'in': {'resource_id': ['r%d' % i for i in range(n)]}}

        deep = 'Filter expression not valid: and, or and not may be nested at most 20 deep'
        big = 'Filter expression not valid: at most 500 comparisons are accepted'
        for name, make, ok_n, bad in (('not', nots, 20, (21, 46, 63)),
                                      ('and', ands, 20, (21, 27, 46)),
                                      ('or', ors, 500, (501, 998, 5000)),
                                      ('in', ins, 500, (501, 998, 20000))):
            st, _, got = a.call('POST', '/v2/query/samples', ADMIN,
                                {'filter': json.dumps(make(ok_n)), 'limit': 5})
            self.ok('complex %s of %d -> 200' % (name, ok_n), st == 200, 200, (st, got))
            for n in bad:
                text = 'Filter expression not valid'
                if n == ok_n + 1:
                    text = deep if name in ('not', 'and') else big
                self.error('POST', '/v2/query/samples', 400, text, exact=False,
                           body={'filter': json.dumps(make(n)), 'limit': 5})

        # Aggregates beyond a double: SQLite answered null, PostgreSQL 400 "value out of
        # range"; now both answer this 400.
        huge = {'counter_name': 'huge', 'counter_type': 'gauge', 'counter_unit': 'B',
                'counter_volume': 1e308, 'resource_id': 'r-huge', 'project_id': PA,
                'user_id': 'u1', 'resource_metadata': {}}
        st, _, _ = a.call('POST', '/v2/meters/huge?direct=True', ADMIN, [huge, huge])
        self.eq('POST two samples of 1e308: 201', 201, st)
        text = ('statistics: the sum, average or standard deviation of the volumes is beyond '
                'the range of a double (about 1.8e308)')
        self.error('GET', '/v2/meters/huge/statistics', 400, text)
        self.error('GET', '/v2/meters/huge/statistics?period=60', 400, text)
        self.error('GET', '/v2/meters/huge/statistics?aggregate.func=stddev', 400, text)
        got = self.get('/v2/meters/huge/statistics?aggregate.func=max&aggregate.func=count')
        self.eq('max and count of 1e308s still answer', [(1e308, 2)],
                [(g['max'], g['count']) for g in got or []])


def main():
    if len(sys.argv) == 3 and sys.argv[1] == 'seed':
        samples, events = make_seed()
        with open(sys.argv[2], 'w') as f:
            for s in samples:
                f.write(json.dumps(s) + '\n')
            for e in events:
                f.write(json.dumps(e) + '\n')
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == 'check':
        samples, events = make_seed()
        c = Checker(Api(sys.argv[2]), samples, events)
        c.run()
        print('%d checks, %d failed' % (c.count, c.failures))
        return 1 if c.failures else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main())
