#!/usr/bin/python3
"""The ceilometer event converter as an oracle for tally-events.

    events_oracle.py [--drop-unmatched] [--store-raw LEVEL]... DEFS < notifications.jsonl

Builds its configuration the way ceilometer's unit tests do
(ceilometer.service.prepare_service, then set_override in group event),
loads DEFS with ceilometer's own loader and the installed trait plugins,
runs NotificationEventsConverter.to_event on each line and prints the
canonical form tally-events prints (see definitions/tally_events.c).
"""
import argparse
import json
import sys
import warnings

warnings.simplefilter("ignore")

from stevedore import extension  # noqa: E402

from ceilometer import declarative  # noqa: E402
from ceilometer import service as ceilometer_service  # noqa: E402
from ceilometer.event import converter  # noqa: E402


def text(trait):
    v = trait.value
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, float):
        return repr(v)
    return str(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--drop-unmatched", action="store_true")
    ap.add_argument("--store-raw", action="append", default=[])
    ap.add_argument("defs")
    a = ap.parse_args()
    # oslo.log writes to stdout: keep stdout for the canonical lines.
    out_f, sys.stdout = sys.stdout, sys.stderr
    conf = ceilometer_service.prepare_service([], [])
    conf.set_override("drop_unmatched_notifications", a.drop_unmatched, group="event")
    conf.set_override("store_raw", a.store_raw, group="event")
    plugins = extension.ExtensionManager(namespace="ceilometer.event.trait_plugin")
    c = converter.NotificationEventsConverter(
        conf, declarative.load_definitions(conf, [], a.defs), plugins)
    for line in sys.stdin:
        line = line.strip()
        msg = json.loads(line)
        priority = "info"
        if isinstance(msg, dict) and "notification" in msg and \
                isinstance(msg.get("priority"), str):
            priority, msg = msg["priority"], msg["notification"]
        try:
            e = c.to_event(priority, msg)
        except Exception:
            out = {"error": True}
        else:
            if e is None:
                out = {"dropped": True}
            else:
                out = {"event_type": e.event_type, "message_id": e.message_id,
                       "generated": e.generated.isoformat(),
                       "traits": [[t.name, t.dtype, text(t)] for t in e.traits],
                       "raw": e.raw}
        print(json.dumps(out, ensure_ascii=False, separators=(",", ":")), file=out_f)


if __name__ == "__main__":
    main()
