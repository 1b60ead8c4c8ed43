#!/usr/bin/python3
"""Write the seed corpus of the decoder fuzz target from real messages.

Run with Debian's python3 (python3-ceilometer, python3-oslo.messaging and
python3-msgpack installed by scripts/setup):

    /usr/bin/python3 tests/fuzz/make_corpus.py tests/data/corpus

Every seed is a body exactly as an agent would put it on the wire: samples
and events built and signed by ceilometer's own publisher utilities, wrapped
by oslo.messaging's serializer, or packed by msgpack as the UDP publisher does.
"""
import datetime
import json
import os
import sys
import uuid

import msgpack
from ceilometer import sample as sample_mod
from ceilometer.event import models
from ceilometer.publisher import utils
from oslo_messaging._drivers import common as oslo_common

SECRET = 'change this for valid signing'


def samples():
    ts = datetime.datetime(2016, 3, 1, 12, 0, 0, 123456)
    meta = {'host': 'compute-1', 'display_name': 'vm-1', 'instance_type': 'm1.small',
            'flavor': {'id': '2', 'name': 'm1.small', 'vcpus': 1, 'ram': 2048},
            'image_ref': 'b4f5e3a1', 'tags': ['a', 'caf\u00e9'], 'state': None,
            'active': True, 'ratio': 0.1}
    out = []
    for i, (name, typ, unit, vol) in enumerate([
            ('cpu', 'cumulative', 'ns', 1234567890123),
            ('cpu_util', 'gauge', '%', 12.345678901234567),
            ('disk.read.bytes', 'cumulative', 'B', 0),
            ('network.incoming.bytes.rate', 'gauge', 'B/s', 1e-05),
            ('memory.usage', 'gauge', 'MB', 512.0),
            ('image.size', 'gauge', 'B', 123456789012.0)]):
        s = sample_mod.Sample(name=name, type=typ, unit=unit, volume=vol,
                              user_id='u-%d' % i, project_id='p-1',
                              resource_id=str(uuid.UUID(int=i + 1)),
                              timestamp=ts.isoformat(), resource_metadata=meta,
                              source='openstack', id=str(uuid.UUID(int=100 + i)))
        out.append(utils.meter_message_from_counter(s, SECRET))
    return out


def events():
    gen = datetime.datetime(2016, 3, 1, 12, 0, 0, 123456)
    traits = [models.Trait('service', 1, 'compute.host1'),
              models.Trait('memory_mb', 2, 512),
              models.Trait('launched_at', 4, datetime.datetime(2016, 3, 1, 11, 59)),
              models.Trait('ratio', 3, 0.5)]
    ev = models.Event(str(uuid.UUID(int=7)), 'compute.instance.create.end', gen, traits, {})
    return [utils.message_from_event(ev, SECRET)]


def notification(event_type, payload):
    return {'message_id': str(uuid.UUID(int=9)), 'publisher_id': 'telemetry.publisher.h1',
            'event_type': event_type, 'priority': 'SAMPLE', 'payload': payload,
            'timestamp': '2016-03-01 12:00:00.123456', '_unique_id': uuid.UUID(int=10).hex}


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    ss, es = samples(), events()
    seeds = {
        'notification-v2': oslo_common.serialize_msg(notification('metering', ss)),
        'notification-v1': notification('metering', ss[:2]),
        'events-v2': oslo_common.serialize_msg(notification('event', es)),
        'polling-v2': oslo_common.serialize_msg(notification('telemetry.polling',
                                                            {'samples': ss[:3]})),
        'rpc-cast-v2': oslo_common.serialize_msg(
            {'method': 'record_metering_data', 'version': '1.0',
             'args': {'data': ss[:2]}, '_unique_id': 'x', '_context_user': None}),
        'bare-list': ss[:2],
        'bare-sample': ss[0],
    }
    for name, body in seeds.items():
        with open(os.path.join(outdir, name + '.json'), 'w') as f:
            json.dump(body, f)
    for i, s in enumerate(ss[:3]):
        with open(os.path.join(outdir, 'udp-raw-%d.msgpack' % i), 'wb') as f:
            f.write(msgpack.packb(s, use_bin_type=False))
        with open(os.path.join(outdir, 'udp-bin-%d.msgpack' % i), 'wb') as f:
            f.write(msgpack.packb(s, use_bin_type=True))


if __name__ == '__main__':
    main()
