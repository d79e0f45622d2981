"""Issue 12, defect 4: a node accepts a bounded number of connections.

A member opens 300 connections to A (each completes nng's handshake and
then sits).  A closes the ones over its cap as they come (server.c,
NODE_MAXCONN 128), so its descriptors stay under 256; once they are gone,
a new peer joins through A as ever.
"""
import socket
import struct
import time

import evil
from member import SCHEMA, ids, nfd
from netlib import Peer, addr, check, done, wait_for

a = Peer("a.db")
a.q("SELECT threads_create('t')")
a.q("CREATE VIRTUAL TABLE item USING threads(thread='t', schema='%s')" % SCHEMA)
a.q("INSERT INTO item(_id, body) VALUES ('a0', 'hello')")
addr_a = addr()
a.q("SELECT threads_listen('%s')" % addr_a)
pid_a = a.proc.pid
fd0 = nfd(pid_a)
host, port = addr_a[len("tcp://"):].rsplit(":", 1)

conns = []
for i in range(300):
    try:
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(b"\x00SP\x00" + struct.pack(">H", evil.REQ) + b"\x00\x00")
        conns.append(s)
    except OSError:
        break
time.sleep(1)
n = nfd(pid_a)
print("INFO %d connections opened; A's descriptors: %d before, %d now" % (len(conns), fd0, n))
check("A's descriptors stay under 256 with 300 connections at it", n < 256, n)


def is_open(s):
    """Still open on A's side: what A sent (its handshake) read, no end."""
    s.setblocking(False)
    try:
        while s.recv(64) != b"":
            pass
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False


alive = sum(1 for s in conns if is_open(s))
print("INFO %d of them still open on A's side" % alive)
check("A keeps at most 128 of them", alive <= 128, alive)
for s in conns:
    s.close()
time.sleep(0.5)
c = Peer("c.db")
t0 = time.time()
res = c.one("SELECT threads_join('%s')" % a.one("SELECT threads_invite('t')"))
check("a new peer joins through A afterwards", res is not None and not res.startswith("ERROR")
      and time.time() - t0 < 10, res)
check("...and gets the rows", wait_for(lambda: "a0" in ids(c), 10), ids(c))
c.close()
a.close()
done()
