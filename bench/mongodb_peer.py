"""bench/mongodb's server: python3-mockupdb answering at once.

Usage: mongodb_peer.py TOP

It is the wire test's server (tests/integration/mongodb_wire.py, class
Fake) with record=False: no log and no documents kept, every insert and
update acknowledged with its count as soon as it is read. Prints the
port on stdout, then serves until its standard input closes.
"""
import os
import sys


def main():
    sys.path.insert(0, os.path.join(sys.argv[1], "tests", "integration"))
    from mongodb_wire import Fake

    fake = Fake(record=False)
    print(fake.port, flush=True)
    try:
        sys.stdin.read()
    finally:
        fake.server.stop()


if __name__ == "__main__":
    main()
