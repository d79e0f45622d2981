"""A member that tries to exhaust a node (issue 12, defects 3 to 6): the
setting shared by test_stall.py, test_unread.py and test_poison.py.

The attacker is a follower: it joined with a 'follow' invite and holds
only the thread's service key, which is all it needs to make boxes that
open.  It speaks the protocol with its own code (evil.py).  The victim A
must keep its memory, descriptors and time bounded whatever the attacker
does, and the honest peer B must keep reaching it:

  3. large-record slots opened and never finished (pieces pushed, then
     silence): A's RSS stays under 64 MiB above what it was before, and
     B's large record reaches A within 10 s while the attacker still holds
     its connections;
  4. "part" requests pipelined on several connections whose replies are
     never read: a new peer still joins through A, and B's write still
     reaches A within 2 s;
  5. addresses announced by the hundred: A's descriptors stay under 256, a
     sync takes under 2 s, A holds a bounded number of them, and none of
     them reaches B through discovery;
  6. A closes within 2 s while the attacker's connections are still open.

Expected values come from what the test sent and the limits the issue
sets, not from the node.
"""
import os
import sqlite3
import socket
import struct
import time

import evil
from netlib import Peer, addr, check, wait_for

SCHEMA = ('{"type":"object","properties":{"_id":{"type":"string"},'
          '"body":{"type":"string"}},"required":["body"]}')
MiB = 1 << 20


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def nfd(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def ids(peer):
    return set(peer.q("SELECT _id FROM item"))


class Raw:
    """A raw req connection that sends without waiting for replies."""

    def __init__(self, address):
        host, port = address[len("tcp://"):].rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=10)
        self.s.sendall(b"\x00SP\x00" + struct.pack(">H", evil.REQ) + b"\x00\x00")
        evil._recv_exact(self.s, 8)
        self.id = 0x80000001

    def send(self, body):
        self.id += 1
        msg = struct.pack(">I", self.id) + body
        self.s.sendall(struct.pack(">Q", len(msg)) + msg)

    def recv(self):
        n = struct.unpack(">Q", evil._recv_exact(self.s, 8))[0]
        return evil._recv_exact(self.s, n)[4:]

    def close(self):
        self.s.close()




def setting():
    """Victim A (listening, holding a 1.5 MiB record of its own), honest B
    (listening, joined), and the attacker's boxes from a follower's file.
    Returns a dict of what the attacks need."""
    a, b = Peer("a.db"), Peer("b.db")
    a.q("SELECT threads_create('t')")
    a.q("CREATE VIRTUAL TABLE item USING threads(thread='t', schema='%s')" % SCHEMA)
    a.q("INSERT INTO item(_id, body) VALUES ('a0', 'hello')")
    addr_a = addr()
    a.q("SELECT threads_listen('%s')" % addr_a)
    b.q("SELECT threads_listen('%s')" % addr())
    b.q("SELECT threads_join('%s')" % a.one("SELECT threads_invite('t')"))
    f = Peer("f.db")
    f.q("SELECT threads_join('%s')" % a.one("SELECT threads_invite('t', 'follow')"))
    f.close()
    db = sqlite3.connect("f.db")
    service = db.execute("SELECT service FROM _threads_thread").fetchone()[0]
    db.close()
    wire = evil.Wire(service)
    check("B joined", wait_for(lambda: ids(b) == {"a0"}), ids(b))
    pid_a = a.proc.pid

    # A large record of A's own, for the part requests of attack 4: one row of
    # 1.5 MiB makes a record over the 1 MiB that goes in pieces.
    a.q("INSERT INTO item(_id, body) VALUES ('a-big', '%s')" % ("x" * (3 * MiB // 2)))
    a_pk = sqlite3.connect("a.db").execute(
        "SELECT l.pk FROM _threads_log l WHERE l.own").fetchone()[0]
    a_big_ctr = sqlite3.connect("a.db").execute(
        "SELECT max(counter) FROM _threads_record r JOIN _threads_log l ON l.lid = r.lid"
        " WHERE l.own").fetchone()[0]
    check("B holds A's large record", wait_for(lambda: "a-big" in ids(b), 15), ids(b))
    time.sleep(1)
    rss0, fd0 = rss_mib(pid_a), nfd(pid_a)

    return {"a": a, "b": b, "addr_a": addr_a, "wire": wire, "a_pk": a_pk,
            "a_big_ctr": a_big_ctr, "pid_a": pid_a, "rss0": rss0, "fd0": fd0}


def close_under_attack(a, b, held, limit):
    """Check A's file, then close A while the attacker still holds its
    connections (defect 6): A must close and exit within limit seconds."""
    check("A's file is intact", a.one("PRAGMA integrity_check") == "ok")
    t0 = time.time()
    a.proc.stdin.close()
    try:
        a.proc.wait(timeout=30)
    except Exception:
        a.proc.kill()
    took = time.time() - t0
    print("INFO A closed and exited in %.2f s" % took)
    check("6: A closes and exits within 2 s", took < limit, "%.1f s" % took)
    for x in held:
        x.close()
    b.close()
