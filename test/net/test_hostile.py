"""Hostile peers: a process that holds the thread's service key (so its
boxes open) and sends what an honest node never would.  Each refused
record must be counted by reason, the sender's connection closed, nothing
of it stored, and the honest peers must keep syncing.

The hostile peer (evil.py) is written from the protocol's description,
apart from the product's code.  Expected rows and counts come from what
the test wrote and sent.
"""
import os
import shutil
import socket
import sqlite3
import threading

import evil
from netlib import Peer, addr, check, done, keep_log, wait_for

SCHEMA = ('{"type":"object","properties":{"_id":{"type":"string"},'
          '"name":{"type":"string"}},"required":["name"]}')


def rows(peer):
    return set(peer.q("SELECT _id, name FROM item"))


def rejects(peer):
    return dict(r.split("|") for r in peer.q("SELECT reason, count FROM threads_rejects"))


def file_records(path, pk):
    """{counter: [record, event, header, body]} of log pk, read from a file."""
    db = sqlite3.connect(path)
    out = {c: [r, e, h, b] for c, r, e, h, b in db.execute(
        "SELECT counter, record, event, header, body FROM _threads_record r"
        " JOIN _threads_log l ON l.lid = r.lid WHERE l.pk = ?", (pk,))}
    db.close()
    return out


# --- honest A and B; E joins as a writer and writes one row ------------------
a, b, e = Peer("a.db"), Peer("b.db"), Peer("e.db")
a.q("SELECT threads_create('t')")
a.q("CREATE VIRTUAL TABLE item USING threads(thread='t', schema='%s')" % SCHEMA)
want = set()
for i in range(3):
    a.q("INSERT INTO item(_id, name) VALUES ('a%d', 'from a')" % i)
    want.add("a%d|from a" % i)
addr_a = addr()
a.q("SELECT threads_listen('%s')" % addr_a)
b.q("SELECT threads_listen('%s')" % addr())
tid = b.one("SELECT threads_join('%s')" % a.one("SELECT threads_invite('t')"))
e.q("SELECT threads_join('%s')" % a.one("SELECT threads_invite('t')"))
e.q("INSERT INTO item(_id, name) VALUES ('e1', 'from e')")
want.add("e1|from e")
ok = wait_for(lambda: rows(a) == want and rows(b) == want)
check("honest peers and E converge", ok, (rows(a), rows(b)))
e.close()

# E's two futures: ex writes x1, x2 (records 2, 3 of E's log), ey writes y1,
# y2 (other records 2, 3).  Neither starts a node: nothing leaves them.  A
# copy would write a log of its own: each is made to keep E's (keep_log).
db = sqlite3.connect("e.db")
service, e_pk = db.execute("SELECT t.service, l.pk FROM _threads_thread t JOIN _threads_log l"
                           " ON l.tid = t.tid WHERE l.own").fetchone()
a_pk = db.execute("SELECT pk FROM _threads_log WHERE NOT own AND pk IN"
                  " (SELECT pk FROM _threads_log) ORDER BY lid LIMIT 1").fetchone()[0]
db.close()
for f, names in (("ex.db", ("x1", "x2")), ("ey.db", ("y1", "y2"))):
    shutil.copy("e.db", f)
    keep_log(f)
    p = Peer(f)
    for n in names:
        p.q("INSERT INTO item(_id, name) VALUES ('%s', 'fork')" % n)
    p.close()
ex, ey = file_records("ex.db", e_pk), file_records("ey.db", e_pk)
a_recs = file_records("a.db", a_pk)
wire = evil.Wire(service)


def wrec(counter, blocks):
    return [counter] + list(blocks)


def push(pk, recs):
    """Push records over a fresh connection: (reply or None, the client)."""
    c = evil.Client(addr_a)
    reply = c.request(wire.seal({"op": "push", "log": pk, "recs": recs, "addrs": []}))
    return (wire.open(reply) if reply else None), c


def hung_up(c):
    """Has the node closed this connection?  (A heads request gets no
    answer on a closed one.)"""
    reply = c.request(wire.seal({"op": "heads", "digest": b"\0" * 32, "addrs": []}))
    c.close()
    return reply is None


# --- a valid record from E's future: accepted (E really wrote it) ----------
reply, c = push(e_pk, [wrec(2, ex[2])])
check("a valid pushed record is added", reply == {"added": 1}, reply)
c.close()
want.add("x1|fork")

# --- forged signature: record 3 of ex with one bit of its signature flipped
before = rejects(a)
reply, c = push(e_pk, [wrec(3, [evil.forge_signature(service, ex[3][0])] + ex[3][1:])])
check("forged signature: connection closed", reply is None and hung_up(c), reply)
ok = wait_for(lambda: int(rejects(a).get("bad signature", 0)) == int(before.get("bad signature", 0)) + 1)
check("forged signature: counted", ok, rejects(a))

# --- another branch: ey's record 3 follows ey's 2, not the 2 A holds ---------
# E's key signed both: the log forked.  It is not stored, and the sender is
# told so ("fork") to look for the fork itself; it is honest (the records
# are E's), so it is not hung up on.
reply, c = push(e_pk, [wrec(3, ey[3])])
check("record of another branch: answered fork, connection kept",
      reply == {"fork": 3} and not hung_up(c), reply)
db = sqlite3.connect("a.db")
stored = db.execute("SELECT count(*) FROM _threads_record WHERE record = ?", (ey[3][0],)).fetchone()[0]
db.close()
check("record of another branch: not stored", stored == 0, stored)

# --- replay: A's own record 2 presented again as the next one ---------------
n_a = max(a_recs)
reply, c = push(a_pk, [wrec(n_a + 1, a_recs[2])])
check("replayed record: connection closed", reply is None and hung_up(c), reply)
ok = wait_for(lambda: int(rejects(a).get("broken prev link", 0)) == int(before.get("broken prev link", 0)) + 1)
check("replayed record: counted as broken prev link", ok, rejects(a))

# --- a duplicate at its own place is no attack: no effect, not counted ------
mid = rejects(a)
reply, c = push(a_pk, [wrec(2, a_recs[2])])
check("duplicate: nothing added, connection kept", reply == {"added": 0} and not hung_up(c), reply)
check("duplicate: not counted", rejects(a) == mid, rejects(a))

# --- random bytes in a box that opens --------------------------------------
reply, c = push(e_pk, [wrec(3, [os.urandom(200) for _ in range(4)])])
check("random record bytes: connection closed", reply is None and hung_up(c), reply)
ok = wait_for(lambda: int(rejects(a).get("undecodable block", 0)) >= 1)
check("random record bytes: counted", ok, rejects(a))

# --- an oversized message (5 MiB, over the 4 MiB limit) ---------------------
c = evil.Client(addr_a)
reply = c.request(wire.seal({"op": "push", "log": e_pk, "recs": [wrec(3, [b"\0" * (5 << 20), b"", b"", b""])],
                             "addrs": []}))
check("oversized message: connection closed", reply is None, reply)
c.close()
ok = wait_for(lambda: int(rejects(a).get("oversized", 0)) == 1)
check("oversized message: counted", ok, rejects(a))

# --- a box under another key: "unauthorized", nothing else ------------------
other = evil.Wire(os.urandom(32))
c = evil.Client(addr_a)
reply = c.request(other.seal({"op": "heads", "digest": b"\0" * 32, "addrs": []}))
check("wrong key: unauthorized and nothing more",
      reply is not None and evil.dec(reply) == [1, "unauthorized"], reply)
c.close()

# --- a hostile peer A pulls from: it offers a forged record 3 of E's log ----
lst = socket.socket()
lst.bind(("127.0.0.1", 0))
lst.listen(4)
lst.settimeout(20)
evil_addr = "tcp://127.0.0.1:%d" % lst.getsockname()[1]
served = {}


def handler(body):
    req = wire.open(body)
    if req is None:
        return evil.enc([1, "unauthorized"])
    if req.get("op") == "heads":
        return wire.seal({"heads": [[e_pk, 3]], "addrs": []})
    if req.get("op") == "pull":
        # A asks for the page after this one before it has checked this
        # one (pipelining): the first pull names where A's copy ends.
        served.setdefault("pulls", []).append(req.get("after"))
        return wire.seal({"recs": [wrec(3, [evil.forge_signature(service, ex[3][0])] + ex[3][1:])]})
    return wire.seal({"err": "?"})


def server():
    try:
        served["n"], served["how"] = evil.serve_one(lst, handler)
    except socket.timeout:
        served["n"] = -1


th = threading.Thread(target=server)
th.start()
c = evil.Client(addr_a)  # tell A the hostile address, as discovery would
c.request(wire.seal({"op": "heads", "digest": b"\0" * 32, "addrs": [evil_addr]}))
c.close()
th.join(30)
lst.close()
check("A pulled from the hostile peer, after the 2 records it holds", served.get("pulls", [None])[0] == 2, served)
# last_error is the latest error: once the hostile listener is gone, A's
# redial may replace "bad signature" with a connection error, so the
# refusal is read from the counters, which only grow.  Since "before":
# one forged push, and one forged page pulled, plus at most the two pages
# A asked for ahead (NODE_AHEAD) if they came back before A hung up.
def bad_sigs():
    return int(rejects(a).get("bad signature", 0)) - int(before.get("bad signature", 0))


ok = wait_for(lambda: a.one("SELECT rejected > 0 FROM threads_peers WHERE address = '%s'"
                            % evil_addr) == "1"
              and 2 <= bad_sigs() <= 4)
check("hostile peer we pull from: counted in threads_peers", ok,
      (a.q("SELECT * FROM threads_peers"), rejects(a)))
check("hostile peer we pull from: dropped (connection closed)",
      served.get("n", 0) >= 2 and served.get("how") == "closed", served)

# --- nothing of it was stored; the honest peers keep syncing ----------------
b.q("INSERT INTO item(_id, name) VALUES ('b-after', 'from b')")
a.q("INSERT INTO item(_id, name) VALUES ('a-after', 'from a')")
want |= {"b-after|from b", "a-after|from a"}
ok = wait_for(lambda: rows(a) == want and rows(b) == want, 15)
check("honest peers keep syncing; nothing refused was stored", ok, (rows(a) ^ want, rows(b) ^ want))
n = a.one("SELECT count(*) FROM threads_records WHERE thread='t'")
check("A's records all verify", a.one("SELECT threads_verify('t')") == n, n)
check("A's file is intact", a.one("PRAGMA integrity_check") == "ok")
a.close()
b.close()
done()
