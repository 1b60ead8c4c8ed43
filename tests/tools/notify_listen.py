#!/usr/bin/python3
"""A real oslo.messaging notification listener, writing what it receives.

    notify_listen.py --url URL --exchange tally --topic notifications --out FILE [--ready FILE]

Listens with oslo_messaging.get_notification_listener() on the target
(topic, exchange), as any OpenStack service consuming notifications does,
and appends each notification received at priority info to FILE as one JSON
line {"event_type", "publisher_id", "payload", "metadata"}. Touches --ready
once the listener consumes. Runs until SIGTERM or SIGINT. Exits 77 without
oslo.messaging.
"""

import argparse
import json
import os
import signal
import sys
import threading

try:
    from oslo_config import cfg
    import oslo_messaging
except ImportError as exc:  # pragma: no cover - depends on the machine
    sys.stderr.write('notify_listen.py: oslo.messaging is not installed: %s\n' % exc)
    sys.exit(77)


class Endpoint(object):
    def __init__(self, out):
        self.out = out
        self.lock = threading.Lock()

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        line = json.dumps({'event_type': event_type, 'publisher_id': publisher_id,
                           'payload': payload, 'metadata': metadata})
        with self.lock, open(self.out, 'a', encoding='utf-8') as f:
            f.write(line + '\n')
        return oslo_messaging.NotificationResult.HANDLED


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--url', default=os.environ.get('TALLY_AMQP_URL'))
    ap.add_argument('--exchange', default='tally')
    ap.add_argument('--topic', default='notifications')
    ap.add_argument('--out', required=True)
    ap.add_argument('--ready')
    args = ap.parse_args()
    conf = cfg.ConfigOpts()
    conf(args=[], project='tally-notify-listen', default_config_files=[],
         default_config_dirs=[])
    url = args.url.replace('amqp://', 'rabbit://', 1)
    transport = oslo_messaging.get_notification_transport(conf, url=url)
    targets = [oslo_messaging.Target(topic=args.topic, exchange=args.exchange)]
    listener = oslo_messaging.get_notification_listener(
        transport, targets, [Endpoint(args.out)], executor='threading')
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    listener.start()
    if args.ready:
        open(args.ready, 'w').close()
    done.wait()
    listener.stop()
    listener.wait()
    transport.cleanup()


if __name__ == '__main__':
    main()
