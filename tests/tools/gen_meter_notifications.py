#!/usr/bin/python3
"""Generated notifications for the meter definitions' differential test
(issue 18): the event types of ceilometer's shipped meters.yaml (and some
that almost match), with the payload fields its definitions read, in random
shapes: missing keys, nulls, lists, maps, numbers as strings, unicode,
timestamps in every form iso8601 takes and some it refuses. One JSON line
per notification, the dict ceilometer's endpoint gets.

  gen_meter_notifications.py [--seed S] [--count N] [--extra]
--extra adds the event types of tests/data/meters/extra.yaml.
"""
import argparse
import json
import random

EVENT_TYPES = [
    'image.upload', 'image.delete', 'image.update', 'image.send', 'image.sendx',
    'capacity.backend.update', 'capacity.pool.update', 'capacity.backend',
    'volume.exists', 'volume.retype', 'volume.create.end', 'volume.delete.start',
    'volume.resize.end', 'volume.attach.end', 'volume.detach.end', 'volume.update.end',
    'volume.manage.end', 'volume.create', 'snapshot.exists', 'snapshot.create.end',
    'snapshot.delete.end', 'snapshot.manage.start', 'backup.exists', 'backup.create.end',
    'backup.delete.end', 'backup.restore.end', 'magnum.bay.metrics.update',
    'objectstore.http.request', 'compute.instance.create.end', 'compute.instance.create.start',
    'compute.instance.createXstart', 'compute.instance.update', 'compute.instance.exists',
    'compute.instance.delete.end', 'compute.instance.resize.confirm.end',
    'compute.instance.', 'compute.instance', 'l3.meter', 'compute.metrics.update',
    'identity.authenticate', 'dns.domain.exists', 'trove.instance.exists',
    'share.create.end', 'share.delete.start', 'share.extend.end', 'share.shrink.end',
    'imageXupload', 'not.a.known.type', 'compute.instance.exists\n', 'ımage.upload',
]
EXTRA_TYPES = ['test.create', 'test.update', 'full.sample', 'multi.const', 'lookup.type']

IDS = ['bea70e51c7340cb9d555b15cbfcaec23', '30be1fc9a03c4e94ab05c403a8a377f2',
       'e1d870e51c7340cb9d555b15cbfcaec2', 'üñíçødé-ıd'] * 6 + ['', 'x' * 256]
TIMES = ['2015-06-19T09:19:35.786893', '2015-06-19T09:19:35', '2015-06-19 09:19:35.1',
         '2015-06-19T09:19:35Z', '2015-06-19T09:19:35.786893+02:00', '2015-06-19T09:19:35-0530',
         '2015-06-19', '20150619T0919', '2015-06-19T09', '2015-6-9T09:19:35', '2015',
         '2015-06', '201506', '2015-06-19T09:19:35.1234567', '2015-06-19T09:19:3',
         '2015-06-19T09:19:35,5', '2015-02-30T00:00:00', '0001-01-01T00:00:00+01:00',
         '9999-12-31T23:59:59-01:00', '2015-06-19T25:00:00', 'yesterday', '',
         '2015-06-19T09:19:35+24:00', '2015-06-19T09:19:35+23:59', '2015-123',
         '2015-06-19T123', '2015-06-19T09:19:35\n']


def scalar(r):
    return r.choice([None, 0, 1, -7, 2.5, 1e20, True, False, '', '12', ' 3.5 ', '1_000',
                     'nan', 'inf', 'abc', 'ünïcödé ☃', r.choice(IDS), r.choice(TIMES),
                     [], [1, 2], {}, {'a': 1}, 'metering.x', 12345678901])


def value(r, good):
    """A good value most of the time, else a random shape."""
    x = r.random()
    if x < 0.88:
        return good
    if x < 0.92:
        return str(good) if not isinstance(good, str) else good + '\u00e9'
    if x < 0.94:
        return [good, scalar(r)]
    return scalar(r)


def maybe(r, d, key, v, p=0.93):
    if r.random() < p:
        d[key] = v


def payload_for(r, et):
    p = {}
    if et == 'full.sample' and r.random() < 0.8:
        out = []
        for _ in range(r.randint(0, 3)):
            c = {}
            maybe(r, c, 'counter_name', value(r, r.choice(['instance', 'cpu', 'ünï'])))
            maybe(r, c, 'counter_type', value(r, r.choice(['gauge', 'delta', 'bogus'])))
            maybe(r, c, 'counter_unit', value(r, r.choice(['ns', '%'])))
            maybe(r, c, 'counter_volume', value(r, r.choice([28.0, 1, '5'])))
            maybe(r, c, 'resource_id', value(r, r.choice(IDS)))
            maybe(r, c, 'project_id', value(r, r.choice(IDS)))
            maybe(r, c, 'user_id', value(r, r.choice(IDS)))
            out.append(c)
        return out
    num = lambda g: value(r, g)
    maybe(r, p, 'size', num(r.randint(0, 10 ** 9)))
    maybe(r, p, 'id', value(r, r.choice(IDS)))
    maybe(r, p, 'owner', value(r, r.choice(IDS)))
    maybe(r, p, 'owner_id', value(r, r.choice(IDS)))
    maybe(r, p, 'bytes_sent', num(r.randint(0, 10 ** 6)))
    maybe(r, p, 'image_id', value(r, r.choice(IDS)))
    maybe(r, p, 'receiver_user_id', value(r, r.choice(IDS)))
    maybe(r, p, 'receiver_tenant_id', value(r, r.choice(IDS)))
    for k in ('total', 'free', 'allocated', 'provisioned', 'virtual_free'):
        maybe(r, p, k, num(r.uniform(0, 1000)), 0.9)
    maybe(r, p, 'name_to_id', value(r, r.choice(['host@backend#pool', 'a#b#c', 'nohash'])))
    maybe(r, p, 'volume_id', value(r, r.choice(IDS)))
    maybe(r, p, 'snapshot_id', value(r, r.choice(IDS)))
    maybe(r, p, 'backup_id', value(r, r.choice(IDS)))
    maybe(r, p, 'volume_size', num(r.randint(1, 100)))
    maybe(r, p, 'user_id', value(r, r.choice(IDS)))
    maybe(r, p, 'tenant_id', value(r, r.choice(IDS)))
    maybe(r, p, 'project_id', value(r, r.choice(IDS)))
    maybe(r, p, 'display_name', value(r, r.choice(['vm1', 'ünï', '', None])))
    maybe(r, p, 'volume_type', value(r, 'lvm'), 0.5)
    maybe(r, p, 'glance_metadata', value(r, [{'key': 'image_id', 'value': r.choice(IDS)},
                                             {'key': 'other', 'value': 1}]), 0.5)
    maybe(r, p, 'volume_attachment', value(r, [{'server_id': r.choice(IDS)}]), 0.5)
    maybe(r, p, 'instance_id', value(r, r.choice(IDS)))
    maybe(r, p, 'memory_mb', num(r.choice([512, 2048, 0])))
    maybe(r, p, 'vcpus', num(r.randint(0, 8)))
    maybe(r, p, 'root_gb', num(r.randint(0, 80)))
    maybe(r, p, 'ephemeral_gb', num(r.randint(0, 80)))
    maybe(r, p, 'metadata', value(r, {'metering.stack': 'abc', 'metering.a.b': 'x' * 300,
                                      'other': 1, 'metering.n': 5}), 0.6)
    maybe(r, p, 'host', value(r, 'compute-1'))
    maybe(r, p, 'instance_flavor_id', value(r, '42'), 0.6)
    maybe(r, p, 'instance_type', value(r, 'm1.small'), 0.6)
    maybe(r, p, 'image_meta', value(r, {'base_image_ref': r.choice(IDS)}), 0.6)
    for k in ('launched_at', 'created_at', 'deleted_at', 'audit_period_beginning',
              'audit_period_ending'):
        maybe(r, p, k, value(r, r.choice(TIMES)), 0.7)
    maybe(r, p, 'label_id', value(r, r.choice(IDS)))
    maybe(r, p, 'bytes', num(r.randint(0, 10 ** 9)))
    maybe(r, p, 'nodename', value(r, 'node-1.example.com'))
    if r.random() < 0.8:
        metrics = []
        for name in r.sample(['cpu.frequency', 'cpu.user.time', 'cpu.kernel.time',
                              'cpu.idle.time', 'cpu.iowait.time', 'cpu.kernel.percent',
                              'cpu.idle.percent', 'cpu.user.percent', 'cpu.iowait.percent',
                              'cpu.percent', 'memory.used'], r.randint(0, 11)):
            m = {}
            maybe(r, m, 'name', value(r, name), 0.95)
            maybe(r, m, 'value', num(r.choice([1600, 0.0275, 17421440000000, 3])))
            maybe(r, m, 'timestamp', value(r, r.choice(TIMES)))
            maybe(r, m, 'source', value(r, 'libvirt.LibvirtDriver'))
            maybe(r, m, 'unit', value(r, r.choice(['MHz', 'ns', '%'])))
            metrics.append(m)
        p['metrics'] = value(r, metrics) if r.random() < 0.2 else metrics
    maybe(r, p, 'resource_id', value(r, r.choice(IDS)))
    maybe(r, p, 'outcome', value(r, r.choice(['success', 'failure', 'pending'])))
    maybe(r, p, 'initiator', value(r, {'id': r.choice(IDS), 'project_id': r.choice(IDS + [None])}))
    maybe(r, p, 'target', value(r, {'id': r.choice(IDS)}))
    if r.random() < 0.7:
        meas = []
        for _ in range(r.randint(0, 3)):
            me = {}
            maybe(r, me, 'metric', value(r, {'name': r.choice(['storage.objects.outgoing.bytes',
                                                              'storage.api.request']),
                                             'unit': r.choice(['B', 'request'])}))
            maybe(r, me, 'result', num(r.randint(0, 100)))
            meas.append(me)
        p['measurements'] = meas
    for k in ('status', 'pool_id', 'nova_instance_id', 'state', 'service_id',
              'instance_type_id', 'share_id', 'name', 'availability_zone', 'proto'):
        maybe(r, p, k, value(r, r.choice(IDS + ['active'])), 0.5)
    # extra.yaml's fields
    maybe(r, p, 'volume', num(r.choice([1.0, 2, 0])), 0.5)
    maybe(r, p, 'counters', value(r, [{'n': 'a', 'v': 1, 't': 'gauge'},
                                      {'n': 'b', 'v': value(r, 2), 't': value(r, 'delta')}]),
          0.7)
    maybe(r, p, 'resource_metadata', value(r, {'foo': 'bar'}), 0.5)
    maybe(r, p, 'timestamp', value(r, r.choice(TIMES)), 0.5)
    maybe(r, p, 'source', value(r, 'openstack'), 0.5)
    x = r.random()
    if x < 0.03:
        return scalar(r)
    if x < 0.05:
        return [p]
    return p


def notification(r, types):
    et = r.choice(types)
    ctxt = {}
    for k in ('user_id', 'user', 'project_id', 'tenant_id', 'tenant'):
        maybe(r, ctxt, k, value(r, r.choice(IDS + [None])), 0.4)
    md = {}
    maybe(r, md, 'message_id', value(r, '6eccedba-120e-4db8-9735-%012d' % r.randint(0, 10 ** 9)),
          0.95)
    maybe(r, md, 'timestamp', r.choice(TIMES) if r.random() < 0.2 else TIMES[0], 0.97)
    n = {'ctxt': ctxt if r.random() < 0.97 else scalar(r),
         'publisher_id': value(r, 'compute.host-1'),
         'event_type': et if r.random() < 0.99 else scalar(r),
         'payload': payload_for(r, et),
         'metadata': md if r.random() < 0.99 else scalar(r)}
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seed', type=int, default=18)
    ap.add_argument('--count', type=int, default=2500)
    ap.add_argument('--extra', action='store_true')
    a = ap.parse_args()
    r = random.Random(a.seed)
    types = EVENT_TYPES + (EXTRA_TYPES * 5 if a.extra else [])
    for _ in range(a.count):
        print(json.dumps(notification(r, types), ensure_ascii=False))


if __name__ == '__main__':
    main()
