#!/usr/bin/python3
"""A small HTTP receiver for the http dispatcher's tests.

  http_receiver.py PORT_FILE LOG_FILE

Listens on 127.0.0.1 and a free port (written to PORT_FILE), appends every
POST it accepts to LOG_FILE as one JSON line {"path", "headers", "body"} (the
body parsed as JSON), and answers 200. POST /_control with
{"status": N, "count": K[, "path": P]} makes it answer N (with a short JSON
body, and without recording) to the next K posts (to path P only, when
given). Threaded, stdlib only.
"""
import http.server
import json
import sys
import threading

lock = threading.Lock()
plan = {'status': 200, 'count': 0, 'path': None}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def answer(self, status, body=b'{}'):
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get('Content-Length', '0'))
        data = self.rfile.read(n)
        if self.path == '/_control':
            with lock:
                plan.update({'path': None})
                plan.update(json.loads(data))
            return self.answer(200)
        with lock:
            if plan['count'] > 0 and plan['path'] in (None, self.path):
                plan['count'] -= 1
                status = plan['status']
                return self.answer(status, json.dumps(
                    {'error': 'told to answer %d' % status}).encode())
            with open(sys.argv[2], 'a') as f:
                f.write(json.dumps({'path': self.path, 'headers': dict(self.headers),
                                    'body': json.loads(data)}) + '\n')
        self.answer(200)


srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
with open(sys.argv[1] + '.tmp', 'w') as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(sys.argv[1] + '.tmp', sys.argv[1])
srv.serve_forever()
