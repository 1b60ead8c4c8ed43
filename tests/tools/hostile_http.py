#!/usr/bin/env python3
"""Hostile HTTP clients for the query API's availability tests (issue 21).

  hostile_http.py slowloris PORT N SECONDS
      Opens N connections from 127.0.0.1 that each send a request line and
      one header and then wait; a connection the server closes is opened
      again, until SECONDS have passed. Prints what it held.
  hostile_http.py probe PORT SECONDS MAX_LATENCY
      From 127.0.0.2 (another client address), asks GET /v2/meters every
      0.1 s for SECONDS; fails (exit 1) when an answer takes longer than
      MAX_LATENCY seconds or is not a 200.
  hostile_http.py bad PORT REQUEST_TIMEOUT
      Sends the malformed requests of issue 21, each on its own connection
      and all at once, and checks that each gets a 4xx or is closed within
      REQUEST_TIMEOUT (plus a tick); our own refusals must be in the API's
      JSON error shape with a request id. Exit 1 on any failure.

Every wait is bounded: nothing here can hang a test.
"""
import http.client
import json
import selectors
import socket
import sys
import threading
import time

HOLD = b'GET /v2/meters HTTP/1.1\r\nHost: x\r\n'
HEADERS = {'X-Roles': 'admin', 'X-User-Id': 'a', 'X-Project-Id': 'p'}


def slowloris(port, n, seconds):
    sel = selectors.DefaultSelector()
    opened = closed = 0
    end = time.monotonic() + seconds

    def open_one():
        nonlocal opened
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind(('127.0.0.1', 0))
        s.connect_ex(('127.0.0.1', port))
        sel.register(s, selectors.EVENT_WRITE, 'connecting')
        opened += 1

    for _ in range(n):
        open_one()
    print('slowloris: %d connections opening' % n, flush=True)
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.1):
            s = key.fileobj
            if key.data == 'connecting':
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    try:
                        s.send(HOLD)
                        sel.modify(s, selectors.EVENT_READ, 'holding')
                        continue
                    except OSError:
                        pass
            else:
                try:
                    if s.recv(4096):
                        continue  # an answer: keep reading until it closes
                except OSError:
                    pass
            # Refused or closed by the server: open another one.
            sel.unregister(s)
            s.close()
            closed += 1
            if time.monotonic() < end:
                open_one()
    print('slowloris: %d connections opened, %d closed by the server' % (opened, closed))
    for key in list(sel.get_map().values()):
        key.fileobj.close()


def probe(port, seconds, max_latency):
    end = time.monotonic() + seconds
    worst = 0.0
    n = bad = 0
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            c = http.client.HTTPConnection('127.0.0.1', port, timeout=max_latency + 2,
                                           source_address=('127.0.0.2', 0))
            c.request('GET', '/v2/meters', headers=HEADERS)
            r = c.getresponse()
            r.read()
            status = r.status
            c.close()
        except OSError as e:
            status = str(e)
        dt = time.monotonic() - t0
        worst = max(worst, dt)
        n += 1
        if status != 200 or dt > max_latency:
            bad += 1
            print('probe: %s after %.3f s' % (status, dt))
        time.sleep(0.1)
    print('probe: %d requests from 127.0.0.2, %d late or failed, slowest %.3f s'
          % (n, bad, worst))
    return bad == 0


def exchange(port, parts, wait, pause=0.0):
    """Sends parts (pause seconds apart, for as long as the server reads),
    then reads until the server closes or wait seconds pass. Returns
    (status or None, headers, body, seconds to the answer or to the close
    or to the end of the wait, closed)."""
    s = socket.create_connection(('127.0.0.1', port), timeout=wait)
    t0 = time.monotonic()
    end = t0 + wait
    data = b''
    closed = False
    first = None
    try:
        for p in parts:
            if time.monotonic() >= end:
                break
            try:
                s.sendall(p)
            except OSError:
                break
            if pause:
                s.settimeout(pause)
                try:
                    chunk = s.recv(65536)
                    if not chunk:
                        closed = True
                        break
                    first = first or time.monotonic()
                    data += chunk
                except socket.timeout:
                    pass
                except OSError:
                    closed = True
                    break
        while not closed and time.monotonic() < end:
            s.settimeout(max(0.01, end - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            first = first or time.monotonic()
            data += chunk
    finally:
        s.close()
    dt = (first or time.monotonic()) - t0
    status = None
    headers = {}
    body = b''
    if data.startswith(b'HTTP/1.'):
        head, _, body = data.partition(b'\r\n\r\n')
        lines = head.split(b'\r\n')
        status = int(lines[0].split()[1])
        for line in lines[1:]:
            k, _, v = line.partition(b':')
            headers[k.strip().lower().decode()] = v.strip().decode()
    return status, headers, body, dt, closed


def bad(port, request_timeout):
    wait = request_timeout + 3
    late = request_timeout + 1
    args1500 = '&' * 1499
    args1000 = '&' * 999
    big = 'a' * (100 * 1024)
    forever = [b'POST /v2/meters/cpu HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
               b'Transfer-Encoding: chunked\r\n\r\n'] + [b'1\r\n \r\n'] * 400
    trickle = [bytes([b]) for b in b'GET /v2/meters HTTP/1.1\r\nHost: x\r\n\r\n'] * 2
    # name, parts, pause between parts, what must happen: 'json' (our
    # 4xx in the JSON error shape, at once; 'json414': a 414), '4xx-or-close'
    # (a 4xx of any shape, or a close, within the request timeout) or
    # 'close' (closed unanswered within the request timeout)
    cases = [
        ('1500 empty arguments', [('GET /v2/meters?%s HTTP/1.1\r\nHost: x\r\n\r\n'
                                   % args1500).encode()], 0, 'json'),
        ('1000 empty arguments', [('GET /v2/meters?%s HTTP/1.1\r\nHost: x\r\n\r\n'
                                   % args1000).encode()], 0, 'json'),
        ('100 KiB header', [('GET /v2/meters HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n'
                             % big).encode()], 0, 'json'),
        ('100 KiB URL', [('GET /v2/meters?q.field=%s HTTP/1.1\r\nHost: x\r\n\r\n'
                          % big).encode()], 0, 'json414'),
        ('control bytes request line', [bytes(range(1, 32)) + b'\r\n\r\n'], 0, '4xx-or-close'),
        ('empty lines', [b'\r\n\r\n\r\n\r\n'], 0, '4xx-or-close'),
        ('bare CR line endings', [b'GET /v2/meters HTTP/1.1\rHost: x\r\r'], 0, '4xx-or-close'),
        ('chunk size FFFFFFFFFFFFFFFFFFFF',
         [b'POST /v2/meters/cpu HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
          b'Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n'], 0, '4xx-or-close'),
        ('never-ending chunked upload', forever, 0.05, '4xx-or-close'),
        ('request line one byte at a time', trickle, 0.1, 'close'),
    ]
    results = [None] * len(cases)

    def run(i):
        name, parts, pause, _ = cases[i]
        try:
            results[i] = exchange(port, parts, wait, pause)
        except OSError as e:
            results[i] = (None, {}, b'', wait, 'error: %s' % e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # A well-behaved keep-alive client is not hurt by the deadlines: three
    # requests on one connection, idle longer than the request timeout
    # between the last two.
    ok = True
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=wait)
    for gap in (0, 0.2, request_timeout + 0.5):
        time.sleep(gap)
        try:
            c.request('GET', '/v2/meters', headers=HEADERS)
            r = c.getresponse()
            r.read()
            status = r.status
        except (OSError, http.client.HTTPException) as e:
            status = str(e)
        print('keep-alive request after %.1f s idle: %s' % (gap, status))
        ok = ok and status == 200
    c.close()
    for (name, _, _, want), (status, headers, body, dt, closed) in zip(cases, results):
        verdict = 'ok'
        if want.startswith('json'):
            try:
                em = json.loads(body)['error_message']
                shape = em['faultcode'] == 'Client' and em['debuginfo'] is None
            except (ValueError, KeyError, TypeError):
                shape = False
            if not (status and 400 <= status < 500 and shape and
                    headers.get('x-openstack-request-id', '').startswith('req-') and
                    headers.get('content-type', '').startswith('application/json')
                    and dt < 1.0) or (want == 'json414' and status != 414):
                verdict = 'FAIL (want a prompt JSON 4xx with a request id)'
        elif want == 'close' and not (status is None and closed is True and dt < late):
            verdict = 'FAIL (want a close within %.1f s)' % late
        elif not ((status and 400 <= status < 500) or (closed is True and dt < late)):
            verdict = 'FAIL (want a 4xx or a close within %.1f s)' % late
        ok = ok and verdict == 'ok'
        print('%-34s %s, %s after %.3f s: %s %s' % (
            name + ':', status, 'closed' if closed is True else 'open', dt, verdict,
            body[:120].decode('utf-8', 'replace') if status else ''))
    return ok


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == 'slowloris':
        slowloris(port, int(sys.argv[3]), float(sys.argv[4]))
        return 0
    if cmd == 'probe':
        return 0 if probe(port, float(sys.argv[3]), float(sys.argv[4])) else 1
    if cmd == 'bad':
        return 0 if bad(port, float(sys.argv[3])) else 1
    print(__doc__)
    return 2


if __name__ == '__main__':
    sys.exit(main())
