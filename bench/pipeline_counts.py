#!/usr/bin/python3
"""Checks the derived samples of bench/ingest PIPELINE=1 in the file dispatcher's output.

    pipeline_counts.py OUT_LOG INPUT_SAMPLES

OUT_LOG holds every input sample (meter_sink) in the buffer's order and the
samples the shipped pipeline.yaml derived from them. The expected count of
each derived meter is computed from the inputs as they appear there, by
ceilometer 6.1.5's rules: rate_of_change emits for every sample of a series
(meter and resource) but the first and those older than their predecessor;
delta (growth_only) also drops a negative delta (a reset). Prints the counts;
exits 1 when one differs or the inputs are not all there, so that a stage
that did nothing, or only part, cannot pass.
"""
import collections
import datetime
import json
import sys

# The inputs the shipped file transforms, and what each yields.
OUTPUTS = {'cpu': ['cpu_util', 'cpu.delta']}
for m in ('disk.read.bytes', 'disk.write.bytes', 'disk.read.requests', 'disk.write.requests',
          'network.incoming.bytes', 'network.outgoing.bytes', 'network.incoming.packets',
          'network.outgoing.packets'):
    OUTPUTS[m] = [m + '.rate']
DERIVED = {d for outs in OUTPUTS.values() for d in outs}


def when(ts):
    return datetime.datetime.fromisoformat(ts.replace('Z', '+00:00')).replace(tzinfo=None)


def main():
    path, want_inputs = sys.argv[1], int(sys.argv[2])
    expected, got = collections.Counter(), collections.Counter()
    prev = {}
    inputs = 0
    with open(path, encoding='utf-8') as f:
        for line in f:
            s = json.loads(line)
            name = s['counter_name']
            if name in DERIVED:
                got[name] += 1
                continue
            inputs += 1
            outs = OUTPUTS.get(name)
            if not outs:
                continue
            key = (name, s['resource_id'])
            t, v = when(s['timestamp']), s['counter_volume']
            p = prev.get(key)
            if p and t < p[0]:
                continue  # out of time order: dropped, the predecessor kept
            prev[key] = (t, v)
            if not p:
                continue
            for d in outs:
                if d != 'cpu.delta' or v >= p[1]:
                    expected[d] += 1
    ok = inputs == want_inputs and got == expected and sum(got.values()) > 0
    print('  derived samples: %d (%s); inputs %d of %d: %s' % (
        sum(got.values()), ', '.join('%s %d' % kv for kv in sorted(got.items())),
        inputs, want_inputs, 'as expected' if ok else 'WRONG'))
    if not ok:
        for name in sorted(set(got) | set(expected)):
            if got[name] != expected[name]:
                print('    %s: %d written, %d expected' % (name, got[name], expected[name]))
        sys.exit(1)


if __name__ == '__main__':
    main()
