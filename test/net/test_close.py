"""Closing a connection whose node syncs finishes in bounded time.

A close stops the node; the node closes its nng sockets.  nng 1.5's tcp
transport loses a pipe's receive when the pipe is closed while a message is
arriving (the read of the message's next bytes is refused once the pipe's
aio is closed, without a callback), and nng's reaper, stopping that pipe,
then waits for it forever: nng_close() never returned, nor did
sqlite3_close().  net/sock.c, has the cure.

Scenarios, each close with a deadline (a peer past it is reported and
killed): B writes and closes at once while A writes too (the randomized
test's reproduction; a few in 35 hung before the fix); the other peer
killed with -9 in the middle of a sync; a peer that never answers; a peer
that floods B with replies nobody asked for (the surest way to close while a
message arrives: a few in 17 hung before the fix).

Environment: EXT (the extension), PYTHON3 (the peer's interpreter),
CLOSE_ROUNDS (closes in the first scenario, default 35).
"""
import os
import socket
import struct
import subprocess
import threading
import time

from netlib import Peer, addr, check, done, wait_for

SCHEMA = ('{"type":"object","properties":{"_id":{"type":"string"},'
          '"name":{"type":"string"},"n":{"type":"integer"}},"required":["name"]}')
ROUNDS = int(os.environ.get("CLOSE_ROUNDS", "35"))
DEADLINE = 10.0  # a close that takes longer hangs
FAST = 3.0       # what a close may take, whatever the peers do


def timed_close(peer):
    """Close a peer (its stdin, then python closes the connection); the
    seconds it took, or None when it hung (the peer is then killed)."""
    t0 = time.time()
    if peer.proc.poll() is None:
        peer.proc.stdin.close()
    try:
        peer.proc.wait(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        peer.kill9()
        return None
    return time.time() - t0


def pair(d, rows_a=0):
    """A with thread t (and rows_a rows) listening, B joined to it."""
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    a, b = Peer(os.path.join(d, "a.db")), Peer(os.path.join(d, "b.db"))
    a.q("SELECT threads_create('t')")
    a.q("CREATE VIRTUAL TABLE item USING threads(thread='t', schema='%s')" % SCHEMA)
    if rows_a:
        a.q("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
            "WHERE i < %d) INSERT INTO item(_id, name, n) "
            "SELECT 'a' || i, printf('%%.200c', 'x'), i FROM c" % rows_a)
    a.q("SELECT threads_listen('%s')" % addr())
    invite = a.one("SELECT threads_invite('t')")
    b.q("SELECT threads_listen('%s')" % addr())
    b.q("SELECT threads_join('%s')" % invite)
    return a, b


def report(name, times):
    hung = sum(1 for t in times if t is None)
    done_ = [t for t in times if t is not None]
    print("INFO %s: %d closes, %d hung, slowest %.2f s, mean %.2f s"
          % (name, len(times), hung, max(done_) if done_ else 0,
             sum(done_) / len(done_) if done_ else 0))
    check("%s: no close hangs (%d of %d hung)" % (name, hung, len(times)), hung == 0)
    check("%s: every close within %.0f s" % (name, FAST),
          hung == 0 and max(done_) < FAST, max(done_) if done_ else None)


# --- the reproduction: B writes one row and closes at once -------------------
times = []
for i in range(ROUNDS):
    a, b = pair("w%d" % i)
    for j in range(3):
        b.q("INSERT INTO item(_id, name, n) VALUES ('b%d', 'from b', 1)" % j)
        a.q("INSERT INTO item(_id, name, n) VALUES ('a%d', 'from a', 1)" % j)
    times.append(timed_close(b))
    a.close()
report("close right after a write", times)

# --- the other peer killed with -9 in the middle of a sync -------------------
times = []
synced = 0
for i in range(max(ROUNDS // 3, 5)):
    a, b = pair("k%d" % i)
    # A writes a batch B pulls page by page; A dies while it does.
    a.q("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
        "WHERE i < 20000) INSERT INTO item(_id, name, n) "
        "SELECT 'k' || i, printf('%.300c', 'y'), i FROM c")
    time.sleep(0.02 * (i % 5))
    a.kill9()
    if b.one("SELECT count(*) FROM item") != "20000":
        synced += 1
    b.q("INSERT INTO item(_id, name, n) VALUES ('b', 'from b', 1)")
    times.append(timed_close(b))
print("INFO %d of %d kills came mid-sync" % (synced, len(times)))
report("close after the other peer was killed", times)

# --- a peer that never answers, one that floods ----------------------------
# A fake rep peer: it completes the SP handshake, then either stays silent or
# sends replies nobody asked for back to back, so reads complete all along.
def fake_rep(srv, flood, stop, accepted):
    conns = []
    srv.setblocking(False)
    burst = (struct.pack(">Q", 1000) + b"z" * 1000) * 64
    while not stop:
        try:
            c, _ = srv.accept()
            c.sendall(b"\x00SP\x00\x00\x31\x00\x00")
            c.setblocking(False)
            conns.append(c)
            accepted.append(c)
        except OSError:
            pass
        for c in conns:
            try:
                c.recv(65536)
            except OSError:
                pass
            try:
                if flood:  # a half-sent message is no matter: nng hangs up
                    c.send(burst)
            except OSError:
                pass
        time.sleep(0 if flood and conns else 0.005)
    for c in conns:
        c.close()
    srv.close()


for trickle in (False, True):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    stop = []
    accepted = []
    th = threading.Thread(target=fake_rep, args=(srv, trickle, stop, accepted))
    th.start()
    times = []
    for i in range(5 if not trickle else max(ROUNDS // 2, 5)):
        a, b = pair("%s%d" % ("t" if trickle else "s", i))
        b.q("INSERT INTO _threads_peer(tid, addr) SELECT tid, "
            "'tcp://127.0.0.1:%d' FROM _threads_peer LIMIT 1" % port)
        b.q("INSERT INTO item(_id, name, n) VALUES ('b', 'from b', 1)")
        n = len(accepted)
        wait_for(lambda: len(accepted) > n, 5)  # a round dialed the fake peer
        time.sleep(0.2)
        times.append(timed_close(b))
        a.close()
    stop.append(1)
    th.join()
    report("close with a %s peer" % ("flooding" if trickle else "silent"), times)

done()
