#!/usr/bin/python3
"""Publishes OpenStack service notifications as the services do: with
oslo.messaging's Notifier (driver messagingv2, topic notifications), nova's
on the exchange "nova" and cinder's on "cinder" (each transport's
control_exchange, as in nova.conf and cinder.conf).

  publish_notifications.py --url URL --out FILE [--stream N] [--bad] [--seed S]

Without --stream: the notifications of ceilometer's unit tests
(ceilometer/tests/unit/test_notification.py: a nova instance's context and
payload) as compute.instance.create.end and compute.instance.exists, and a
cinder volume.create.end. --stream N: N notifications alternating
compute.instance.exists (nova) and volume.exists (cinder), each its own
resource. --bad adds a volume.create.end whose size is not a number, and a
body that is not JSON (published raw on the nova exchange).

FILE gets, per notification sent, one JSON line in the form of
tests/tools/events_oracle.py: {"priority", "notification": the dict
ceilometer's endpoint gets ({"ctxt", "publisher_id", "event_type",
"payload", "metadata": {"message_id", "timestamp"}})}, captured from the
message the driver sends (so the message_id and timestamp are oslo's own).
"""
import argparse
import copy
import importlib.util
import json
import os
import random
import sys
import warnings

warnings.simplefilter("ignore")

import kombu  # noqa: E402
import oslo_messaging  # noqa: E402
from oslo_config import cfg  # noqa: E402
from oslo_messaging.notify import messaging as notify_messaging  # noqa: E402


def unit_test_data():
    """TEST_NOTICE_CTXT and TEST_NOTICE_PAYLOAD of ceilometer's unit tests."""
    spec = importlib.util.spec_from_file_location(
        "meters_oracle", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                      "meters_oracle.py"))
    mo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mo)
    mo.importable_unit_tests()
    from ceilometer.tests.unit import test_notification as t
    return copy.deepcopy(t.TEST_NOTICE_CTXT), copy.deepcopy(t.TEST_NOTICE_PAYLOAD)


sent = []
_orig_notify = notify_messaging.MessagingDriver.notify


def capturing_notify(self, ctxt, message, priority, retry):
    """Keeps what the endpoint will see of each notification, then sends it."""
    c = dict(ctxt)
    c["client_timeout"] = None  # oslo's unpack_context() adds it
    sent.append({"priority": priority.lower(), "notification": {
        "ctxt": c, "publisher_id": message["publisher_id"],
        "event_type": message["event_type"], "payload": message["payload"],
        "metadata": {"message_id": message["message_id"],
                     "timestamp": message["timestamp"]}}})
    return _orig_notify(self, ctxt, message, priority, retry)


notify_messaging.MessagingDriver.notify = capturing_notify


def notifier(url, exchange, publisher_id):
    conf = cfg.ConfigOpts()
    conf([], project="tally-test")
    # The service's control_exchange, set before its transport is made.
    conf.register_opts(oslo_messaging.transport._transport_opts)
    conf.set_override("control_exchange", exchange)
    # oslo.messaging reads amqp:// as AMQP 1.0: RabbitMQ's driver is rabbit://.
    transport = oslo_messaging.get_notification_transport(
        conf, url=url.replace("amqp://", "rabbit://", 1))
    return oslo_messaging.Notifier(transport, driver="messagingv2",
                                   publisher_id=publisher_id, topics=["notifications"])


def volume_payload(ctxt, rng, i, size):
    return {"volume_id": "vol-%06d-%04x" % (i, rng.randrange(65536)),
            "tenant_id": ctxt["project_id"], "user_id": ctxt["user_id"],
            "display_name": "volume %d" % i, "size": size, "status": "available",
            "volume_type": "lvm", "availability_zone": "nova",
            "created_at": "2012-05-08 20:23:41", "launched_at": "2012-05-08 20:23:47",
            "snapshot_id": None, "glance_metadata": [],
            "volume_attachment": []}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stream", type=int, default=0)
    ap.add_argument("--bad", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    ctxt, instance = unit_test_data()
    nova = notifier(a.url, "nova", "compute.host1")
    cinder = notifier(a.url, "cinder", "volume.host1")
    if a.stream:
        for i in range(a.stream):
            if i % 2 == 0:
                p = copy.deepcopy(instance)
                p["instance_id"] = "inst-%06d-%04x" % (i, rng.randrange(65536))
                p["memory_mb"] = rng.choice([512, 1024, 2048])
                nova.info(ctxt, "compute.instance.exists", p)
            else:
                cinder.info(ctxt, "volume.exists", volume_payload(ctxt, rng, i, rng.randrange(1, 500)))
    else:
        nova.info(ctxt, "compute.instance.create.end", copy.deepcopy(instance))
        nova.info(ctxt, "compute.instance.exists", copy.deepcopy(instance))
        cinder.info(ctxt, "volume.create.end", volume_payload(ctxt, rng, 1, 10))
        nova.sample(ctxt, "compute.instance.exists", copy.deepcopy(instance))
        nova.error(ctxt, "compute.instance.create.error", copy.deepcopy(instance))
    if a.bad:
        cinder.info(ctxt, "volume.create.end", volume_payload(ctxt, rng, 2, "big"))
        with kombu.Connection(a.url) as conn:
            ex = kombu.Exchange("nova", type="topic", durable=False)
            conn.Producer().publish(b"this is not JSON {", exchange=ex,
                                    routing_key="notifications.info",
                                    content_type="application/json")
    with open(a.out, "w") as f:
        for s in sent:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")
    print("published %d notifications%s" % (len(sent), " and 1 garbage body" if a.bad else ""),
          file=sys.stderr)


if __name__ == "__main__":
    main()
