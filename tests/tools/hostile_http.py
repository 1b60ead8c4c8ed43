#!/usr/bin/env python3
"""Hostile HTTP clients for the query API's availability tests (issue 21).

  hostile_http.py slowloris PORT N SECONDS
      Opens N connections from 127.0.0.1 that each send a request line and
      one header and then wait; a connection the server closes is opened
      again (at most REOPEN_PER_S a second), until SECONDS have passed.
      Prints what it held.
  hostile_http.py probe PORT SECONDS MAX_LATENCY
      From 127.0.0.2 (another client address), asks GET /v2/meters every
      0.1 s for SECONDS; fails (exit 1) when an answer takes longer than
      MAX_LATENCY seconds or is not a 200.
  hostile_http.py bad PORT REQUEST_TIMEOUT
      Sends the malformed requests of issue 21 and the framing errors of
      RFC 9112, each on its own connection and all at once, and checks that
      each gets its 4xx or 5xx in the API's JSON error shape with a request
      id: at once, or within REQUEST_TIMEOUT (plus a tick) for a request
      that never ends. Then pipelined and Expect: 100-continue requests.
      Exit 1 on any failure.

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
REOPEN_PER_S = 2000
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
    # Reopening is paced (REOPEN_PER_S): a slowloris holds connections, it
    # is not a connection flood, and an unpaced loop here only burned both
    # cores of a shared CI machine (80,000 reconnects in 8 s).
    owed = 0
    budget, tick = 0.0, time.monotonic()
    while time.monotonic() < end:
        now = time.monotonic()
        budget = min(REOPEN_PER_S * 0.1, budget + (now - tick) * REOPEN_PER_S)
        tick = now
        while owed and budget >= 1:
            open_one()
            owed -= 1
            budget -= 1
        for key, _ in sel.select(timeout=0.01 if owed else 0.1):
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
            owed += 1
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


def read_answer(f):
    """One HTTP answer from the file f: (status, headers, body)."""
    line = f.readline()
    status = int(line.split()[1])
    headers = {}
    while True:
        h = f.readline().strip()
        if not h:
            break
        k, _, v = h.partition(b':')
        headers[k.strip().lower().decode()] = v.strip().decode()
    body = f.read(int(headers.get('content-length', '0')))
    return status, headers, body


def pipelined(port, wait):
    """Three requests in one write: three answers, in order."""
    s = socket.create_connection(('127.0.0.1', port), timeout=wait)
    auth = ''.join('%s: %s\r\n' % kv for kv in HEADERS.items())
    paths = ['/v2/meters', '/v2/nothing', '/v2/meters?limit=1']
    s.sendall(''.join('GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n' % (p, auth)
                      for p in paths).encode())
    f = s.makefile('rb')
    try:
        got = [read_answer(f)[0] for _ in paths]
    except (OSError, ValueError, IndexError) as e:
        got = str(e)
    s.close()
    print('pipelined requests: %s' % got)
    return got == [200, 404, 200]


def expect_continue(port, wait):
    """Expect: 100-continue: the interim answer before the body is sent."""
    s = socket.create_connection(('127.0.0.1', port), timeout=wait)
    body = b'{"no": "list"}'
    auth = ''.join('%s: %s\r\n' % kv for kv in HEADERS.items())
    s.sendall(('POST /v2/meters/cpu HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
               'Expect: 100-continue\r\nContent-Length: %d\r\n%s\r\n'
               % (len(body), auth)).encode())
    f = s.makefile('rb')
    try:
        first = read_answer(f)[0]
        s.sendall(body)
        final = read_answer(f)[0]
    except (OSError, ValueError, IndexError) as e:
        first, final = str(e), None
    s.close()
    print('Expect: 100-continue: %s then %s' % (first, final))
    return first == 100 and final == 400


def bad(port, request_timeout):
    wait = request_timeout + 3
    late = request_timeout + 1
    args1500 = '&'.join(['a=1'] * 1500)
    empty1500 = '&' * 1499
    big = 'a' * (100 * 1024)
    forever = [b'POST /v2/meters/cpu HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
               b'Transfer-Encoding: chunked\r\n\r\n'] + [b'1\r\n \r\n'] * 400
    trickle = [bytes([b]) for b in b'GET /v2/meters HTTP/1.1\r\nHost: x\r\n\r\n'] * 2
    post = b'POST /v2/meters/cpu HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
    # name, parts, pause between parts, the status that must come in the
    # API's JSON error shape with a request id, and 'now' (within 1 s) or
    # 'late' (within the request timeout and a tick: a request that never
    # ends whole)
    cases = [
        ('1500 arguments', [('GET /v2/meters?%s HTTP/1.1\r\nHost: x\r\n\r\n'
                             % args1500).encode()], 0, 400, 'now'),
        ('1500 empty arguments', [('GET /v2/meters?%s HTTP/1.1\r\nHost: x\r\n\r\n'
                                   % empty1500).encode()], 0, 401, 'now'),
        ('100 KiB header', [('GET /v2/meters HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n'
                             % big).encode()], 0, 431, 'now'),
        ('100 KiB URL', [('GET /v2/meters?q.field=%s HTTP/1.1\r\nHost: x\r\n\r\n'
                          % big).encode()], 0, 414, 'now'),
        ('control bytes request line', [bytes(range(1, 32)) + b'\r\n\r\n'], 0, 400, 'now'),
        ('empty lines', [b'\r\n\r\n\r\n\r\n'], 0, 408, 'late'),
        ('bare CR line endings', [b'GET /v2/meters HTTP/1.1\rHost: x\r\r'], 0, 400, 'now'),
        ('chunk size FFFFFFFFFFFFFFFFFFFF',
         [post + b'Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n'], 0, 413, 'now'),
        ('never-ending chunked upload', forever, 0.05, 408, 'late'),
        ('request line one byte at a time', trickle, 0.1, 408, 'late'),
        ('HTTP/2.0', [b'GET /v2/meters HTTP/2.0\r\nHost: x\r\n\r\n'], 0, 505, 'now'),
        ('HTTP/1.1 without Host', [b'GET /v2/meters HTTP/1.1\r\n\r\n'], 0, 400, 'now'),
        ('folded header', [b'GET /v2/meters HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n'],
         0, 400, 'now'),
        ('space before colon', [b'GET /v2/meters HTTP/1.1\r\nHost : x\r\n\r\n'], 0, 400, 'now'),
        ('Content-Length and chunked',
         [post + b'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
         0, 400, 'now'),
        ('two Content-Length', [post + b'Content-Length: 2\r\nContent-Length: 2\r\n\r\n[]'],
         0, 400, 'now'),
        ('Transfer-Encoding gzip', [post + b'Transfer-Encoding: gzip, chunked\r\n\r\n'],
         0, 501, 'now'),
        ('Expect other than 100-continue', [post + b'Expect: 200-ok\r\nContent-Length: 2\r\n\r\n'],
         0, 417, 'now'),
        ('chunked body over the cap', [post + b'Transfer-Encoding: chunked\r\n\r\n'] +
         [b'10000\r\n' + b' ' * 0x10000 + b'\r\n'] * 20, 0, 413, 'now'),
    ]
    results = [None] * len(cases)

    def run(i):
        name, parts, pause, _, _ = cases[i]
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
    ok = pipelined(port, wait) and ok
    ok = expect_continue(port, wait) and ok
    for (name, _, _, want, when), (status, headers, body, dt, closed) in zip(cases, results):
        verdict = 'ok'
        try:
            em = json.loads(body)['error_message']
            shape = (em['faultcode'] == ('Client' if want < 500 else 'Server') and
                     em['debuginfo'] is None)
        except (ValueError, KeyError, TypeError):
            shape = False
        if not (status == want and shape and
                headers.get('x-openstack-request-id', '').startswith('req-') and
                headers.get('content-type', '').startswith('application/json') and
                dt < (1.0 if when == 'now' else late)):
            verdict = 'FAIL (want a JSON %d with a request id within %.1f s)' % (
                want, 1.0 if when == 'now' else late)
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
