#!/usr/bin/python3
"""A TCP proxy between tallyd and RabbitMQ that loses one acknowledgement.

    amqp_proxy.py LISTEN_PORT BROKER_PORT EVENTS_FILE

Listens on 127.0.0.1:LISTEN_PORT and forwards each connection to
127.0.0.1:BROKER_PORT. It reads the AMQP frames of both directions. The first
basic.ack a client sends (of the whole run) never reaches the broker: the
proxy closes that connection on both sides instead, as a network failure
right after the acknowledgement was sent would. The broker then requeues
what that connection had not acknowledged and delivers it again, flagged
redelivered. Later connections are forwarded untouched.

EVENTS_FILE gets one line per event, flushed at once:
    connect N                       connection N accepted (from 1)
    deliver N tag=T redelivered=R   basic.deliver to the client (R 0 or 1)
    ack N tag=T multiple=M          basic.ack forwarded to the broker
    dropped N tag=T                 the ack that was lost; connection N closed
Prints "listening" on stdout once it accepts connections.
"""
import socket
import struct
import sys
import threading

listen_port, broker_port, events_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
events = open(events_path, 'a', buffering=1)
lock = threading.Lock()
state = {'dropped': False, 'n': 0}
BASIC_DELIVER = (60, 60)
BASIC_ACK = (60, 80)


def event(line):
    with lock:
        events.write(line + '\n')


def frames(buf):
    """Splits complete frames off buf: returns ([(type, payload, raw)], rest)."""
    out = []
    while len(buf) >= 7:
        ftype, _channel, size = struct.unpack('!BHI', buf[:7])
        if len(buf) < 8 + size:
            break
        out.append((ftype, buf[7:7 + size], buf[:8 + size]))
        buf = buf[8 + size:]
    return out, buf


def method(payload):
    return struct.unpack('!HH', payload[:4]) if len(payload) >= 4 else (0, 0)


def close(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


def client_to_broker(n, client, broker):
    buf = b''
    header = True
    try:
        while True:
            data = client.recv(65536)
            if not data:
                break
            buf += data
            if header:
                if len(buf) < 8:
                    continue
                broker.sendall(buf[:8])  # "AMQP" 0 0 9 1
                buf, header = buf[8:], False
            done, buf = frames(buf)
            out = b''
            for ftype, payload, raw in done:
                if ftype == 1 and method(payload) == BASIC_ACK:
                    tag, flags = struct.unpack('!QB', payload[4:13])
                    with lock:
                        drop = not state['dropped']
                        state['dropped'] = True
                    if drop:
                        broker.sendall(out)
                        event('dropped %d tag=%d' % (n, tag))
                        close(client, broker)
                        return
                    event('ack %d tag=%d multiple=%d' % (n, tag, flags & 1))
                out += raw
            if out:
                broker.sendall(out)
    except OSError:
        pass
    close(client, broker)


def broker_to_client(n, client, broker):
    buf = b''
    try:
        while True:
            data = broker.recv(65536)
            if not data:
                break
            client.sendall(data)
            buf += data
            done, buf = frames(buf)
            for ftype, payload, _raw in done:
                if ftype == 1 and method(payload) == BASIC_DELIVER:
                    # consumer-tag (shortstr), delivery-tag, redelivered bit
                    p = 4 + 1 + payload[4]
                    tag, redelivered = struct.unpack('!QB', payload[p:p + 9])
                    event('deliver %d tag=%d redelivered=%d' % (n, tag, redelivered & 1))
    except OSError:
        pass
    close(client, broker)


srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('127.0.0.1', listen_port))
srv.listen(16)
print('listening', flush=True)
while True:
    client, _ = srv.accept()
    try:
        broker = socket.create_connection(('127.0.0.1', broker_port))
    except OSError:
        client.close()
        continue
    state['n'] += 1
    n = state['n']
    event('connect %d' % n)
    for target in (client_to_broker, broker_to_client):
        threading.Thread(target=target, args=(n, client, broker), daemon=True).start()
