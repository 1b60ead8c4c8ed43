#!/usr/bin/env python3
"""A NOTIFY_SOCKET for tests/integration/systemd_units.sh.

  sd_notify_listen.py SOCKET OUT UDP_PORT BUFFER_DIR

Binds SOCKET (a path, or an abstract name starting with '@') and appends each
datagram to OUT, one line per message with its newlines written as '|'. On
the first READY=1 it checks, at once, what READY promises and appends
"CHECK ok" or "CHECK FAIL: why": the UDP input's port is bound (binding it
here fails) and the buffer's LMDB file exists. Prints "listening" on stdout
once bound; runs until killed.
"""
import errno
import os
import socket
import sys


def check(udp_port, buffer_dir):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", udp_port))
        return "CHECK FAIL: UDP port %d not bound by tallyd at READY=1" % udp_port
    except OSError as e:
        if e.errno != errno.EADDRINUSE:
            return "CHECK FAIL: bind: %s" % e
    finally:
        s.close()
    if not os.path.exists(os.path.join(buffer_dir, "data.mdb")):
        return "CHECK FAIL: no %s/data.mdb at READY=1" % buffer_dir
    return "CHECK ok"


def main():
    name, out, udp_port, buffer_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name[1:] if name.startswith("@") else name)
    print("listening", flush=True)
    ready = False
    with open(out, "a") as f:
        while True:
            data = sock.recv(4096).decode("utf-8", "replace")
            f.write(data.replace("\n", "|") + "\n")
            if not ready and "READY=1" in data.split("\n"):
                ready = True
                f.write(check(udp_port, buffer_dir) + "\n")
            f.flush()


if __name__ == "__main__":
    main()
