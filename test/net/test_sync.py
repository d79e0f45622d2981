"""Peers as separate processes on separate files, syncing over loopback.

Every expectation below is what the peers were told to write, gathered in
the test itself; nothing compares a peer with its own output.
"""
import os
import socket
import time

from netlib import Peer, addr, check, done, wait_for

SCHEMA = ('{"type":"object","properties":{"_id":{"type":"string"},'
          '"name":{"type":"string"},"n":{"type":"integer"}},"required":["name"]}')


def rows(peer):
    return sorted(peer.q("SELECT _id, name, n FROM item"))


# --- bad input first: no node may start for these -------------------------
m = Peer(":memory:")
err = m.one("SELECT threads_listen('tcp://127.0.0.1:1')")
check("listen on :memory: is refused", err and "needs a database file" in err, err)
m.q("SELECT threads_create('t')")
err = m.one("SELECT threads_join('threads://nonsense')")
check("malformed invite is refused", err and "invalid invite" in err, err)
m.close()

# --- two peers, both writing -------------------------------------------------
a, b = Peer("a.db"), Peer("b.db")
a.q("SELECT threads_create('t')")
a.q("CREATE VIRTUAL TABLE item USING threads(thread='t', schema='%s')" % SCHEMA)
want = set()
for i in range(5):
    a.q("INSERT INTO item(_id, name, n) VALUES ('a%d', 'from a', %d)" % (i, i))
    want.add("a%d|from a|%d" % (i, i))
addr_a = addr()
a.q("SELECT threads_listen('%s')" % addr_a)
invite = a.one("SELECT threads_invite('t')")
check("invite has the inviter's address", invite and "addr=" in invite, invite)
addr_b = addr()
b.q("SELECT threads_listen('%s')" % addr_b)
tid = b.one("SELECT threads_join('%s')" % invite)
check("join returns the thread ID", tid == a.one("SELECT id FROM threads WHERE name='t'"), tid)
check("join mounts the collection with A's rows", set(rows(b)) == want, rows(b))
for i in range(5):
    b.q("INSERT INTO item(_id, name, n) VALUES ('b%d', 'from b', %d)" % (i, 10 + i))
    want.add("b%d|from b|%d" % (i, 10 + i))
a.q("UPDATE item SET n = 100 WHERE _id = 'a0'")
want.discard("a0|from a|0")
want.add("a0|from a|100")
ok = wait_for(lambda: set(rows(a)) == want and set(rows(b)) == want)
check("two writers converge", ok, (rows(a), rows(b)))

# --- propagation latency of one write (informative) ---------------------------
t0 = time.time()
a.q("INSERT INTO item(_id, name, n) VALUES ('lat', 'x', 1)")
want.add("lat|x|1")
wait_for(lambda: b.one("SELECT count(*) FROM item WHERE _id='lat'") == "1")
print("INFO one write reached the other peer in %.1f ms" % ((time.time() - t0) * 1000))

# --- a third peer that knows only B: discovery --------------------------------
c = Peer("c.db")
c.q("SELECT threads_listen('%s')" % addr())
c.q("SELECT threads_join('%s')" % b.one("SELECT threads_invite('%s')" % tid))
check("chain: C got everything through B", set(rows(c)) == want, rows(c))
ok = wait_for(lambda: c.one("SELECT count(*) FROM _threads_peer WHERE addr='%s'" % addr_a) == "1")
check("chain: C learned A's address from B", ok)
b.close()
a.q("INSERT INTO item(_id, name, n) VALUES ('a9', 'while b is away', 9)")
want.add("a9|while b is away|9")
ok = wait_for(lambda: set(rows(c)) == want, 15)
check("chain: C pulls from A directly once B is gone", ok, rows(c))

# --- offline writes on both sides, then reconnect -----------------------------
c.close()
a.q("INSERT INTO item(_id, name, n) VALUES ('off-a', 'a offline', 1)")
want.add("off-a|a offline|1")
b = Peer("b.db")  # restarted; writes before it listens again
b.q("INSERT INTO item(_id, name, n) VALUES ('off-b', 'b offline', 2)")
want.add("off-b|b offline|2")
resumed = b.one("SELECT threads_listen()")
check("restart: the stored listen address resumes", resumed == addr_b, resumed)
got = b.one("SELECT threads_sync('%s', 5000)" % tid)
ok = wait_for(lambda: set(rows(a)) == want and set(rows(b)) == want)
check("offline writes converge after reconnect", ok, (rows(a), rows(b)))
again = b.one("SELECT threads_sync('%s', 5000)" % tid)
check("a caught-up peer downloads nothing again", again == "0", again)
va = a.one("SELECT threads_verify('t')")
vb = b.one("SELECT threads_verify('%s')" % tid)
n_a = a.one("SELECT count(*) FROM threads_records WHERE thread='t'")
check("records verify on both", va == vb == n_a, (va, vb, n_a))

# --- garbage to the listening socket does not hurt the node -------------------
host, port = addr_a[len("tcp://"):].split(":")
for payload in (os.urandom(4096), b"\x00\x00\x00\x00" * 100, b"GET / HTTP/1.0\r\n\r\n"):
    try:
        s = socket.create_connection((host, int(port)), timeout=2)
        s.sendall(payload)
        s.close()
    except OSError:
        pass
b.q("INSERT INTO item(_id, name, n) VALUES ('after-garbage', 'y', 3)")
want.add("after-garbage|y|3")
ok = wait_for(lambda: set(rows(a)) == want)
check("node keeps syncing after garbage on its socket", ok, rows(a))

# --- a follower stores and serves but cannot read -----------------------------
f = Peer("f.db")
f.q("SELECT threads_listen('%s')" % addr())
follow = a.one("SELECT threads_invite('t', 'follow')")
f.q("SELECT threads_join('%s')" % follow)
n_a = a.one("SELECT count(*) FROM threads_records WHERE thread='t'")
check("follower: verify with the service key only",
      f.one("SELECT threads_verify('%s')" % tid) == n_a)
ok = wait_for(lambda: f.one("SELECT count(*) FROM threads_records WHERE thread='%s'" % tid) == n_a)
check("follower holds every record", ok)
err = f.one("SELECT * FROM item")
check("follower mounts no readable table", err is not None and "ERROR" in err, err)
f.close()
with open("f.db", "rb") as fh:
    data = fh.read()
if os.path.exists("f.db-wal"):
    data += open("f.db-wal", "rb").read()
leaked = [w for w in ("from a", "from b", "while b is away", "a offline") if w.encode() in data]
check("follower's file holds no plaintext of any document", not leaked, leaked)

a.close()
b.close()
done()
