"""Forks of a log (issue 11, item 5): one database file, two copies that
both write.

1. A copy made with sqlite3's .backup (another path) writes while the
   original does: the copy must start a log of its own, so nothing forks and
   every write of both reaches every peer.
2. A forced fork: a copy that is told it is the file its log was written
   from (its recorded file identity overwritten) keeps writing the original's
   log, as a copy at the same path on another machine would.  The peers
   must see the fork (reason "fork" in threads_rejects, "fork: ..." in
   threads_peers.last_error), keep one branch by the documented rule, and
   lose no committed write of either copy.
3. The same with the copy killed (kill -9) while it resolves the fork.

Expected rows are what the test told each peer to write.
"""
import base64
import os
import random
import sqlite3
import subprocess
import time

from netlib import Peer, addr, check, done, keep_log, wait_for

SCHEMA = ('{"type":"object","properties":{"_id":{"type":"string"},'
          '"name":{"type":"string"}},"required":["name"]}')
SQLITE3 = os.environ.get("SQLITE3", "sqlite3").split()


def rows(peer):
    return set(peer.q("SELECT _id, name FROM item"))


def rejects(peer):
    return dict(r.split("|") for r in peer.q("SELECT reason, count FROM threads_rejects"))


def backup(src, dst):
    """sqlite3's .backup of src (open in another process) to a new file."""
    subprocess.run(SQLITE3 + [src, ".backup %s" % dst], check=True)


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def own_log(path):
    """The log ID (peer-ID text) of the log the file writes now."""
    db = sqlite3.connect(path)
    pk = db.execute("SELECT pk FROM _threads_log WHERE own ORDER BY lid DESC LIMIT 1").fetchone()[0]
    db.close()
    mh = bytes([0x00, 36, 0x08, 0x01, 0x12, 0x20]) + pk  # identity multihash
    n, out = int.from_bytes(mh, "big"), ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(mh) - len(mh.lstrip(b"\0"))) + out


def cid_bytes(text):
    """The bytes of a CID in its text form (multibase base32, 'b...'):
    the rule compares bytes, not text."""
    body = text[1:].upper()
    return base64.b32decode(body + "=" * (-len(body) % 8))


def verify_all(peers, tid):
    out = []
    for p in peers:
        n = p.one("SELECT count(*) FROM threads_records WHERE thread = '%s'" % tid)
        v = p.one("SELECT threads_verify('%s')" % tid)
        out.append((p.path, v, n))
    return all(v == n for _, v, n in out), out


def converged(peers, want):
    return all(rows(p) == want for p in peers)


# --- A creates, B joins --------------------------------------------------------
a, b = Peer("a.db"), Peer("b.db")
a.q("SELECT threads_create('t')")
a.q("CREATE VIRTUAL TABLE item USING threads(thread='t', schema='%s')" % SCHEMA)
want = set()
for i in range(3):
    a.q("INSERT INTO item(_id, name) VALUES ('a%d', 'from a')" % i)
    want.add("a%d|from a" % i)
addr_a, addr_b = addr(), addr()
a.q("SELECT threads_listen('%s')" % addr_a)
b.q("SELECT threads_listen('%s')" % addr_b)
tid = b.one("SELECT threads_join('%s')" % a.one("SELECT threads_invite('t')"))
b.q("INSERT INTO item(_id, name) VALUES ('b0', 'from b')")
want.add("b0|from b")
ok = wait_for(lambda: converged([a, b], want))
check("A and B converge", ok, (rows(a), rows(b)))

# --- 1. a .backup copy A2 writes while apart ----------------------------------
backup("a.db", "a2.db")
a2 = Peer("a2.db")  # no node yet: A2 is apart from everyone
for i in range(3):
    a2.q("INSERT INTO item(_id, name) VALUES ('a2-%d', 'from a2')" % i)
    want.add("a2-%d|from a2" % i)
for i in range(3):
    a.q("INSERT INTO item(_id, name) VALUES ('a-apart-%d', 'from a')" % i)
    want.add("a-apart-%d|from a" % i)
    b.q("INSERT INTO item(_id, name) VALUES ('b-apart-%d', 'from b')" % i)
    want.add("b-apart-%d|from b" % i)
logs_a = set(a.q("SELECT log FROM threads_records WHERE thread = 't'"))
logs_a2 = set(a2.q("SELECT log FROM threads_records WHERE thread = 't'"))
new_logs = logs_a2 - logs_a
check("backup copy: its writes went to a log of its own", len(new_logs) == 1, (logs_a, logs_a2))
addr_a2 = addr()
a2.q("SELECT threads_listen('%s')" % addr_a2)  # not A's stored address
a2.q("SELECT threads_sync('t', 5000)")
ok = wait_for(lambda: converged([a, a2, b], want), 30)
check("backup copy: A, A2 and B hold every write of all three", ok,
      [sorted(rows(p) ^ want) for p in (a, a2, b)])
ok, detail = verify_all([a, a2, b], tid)
check("backup copy: threads_verify passes on all", ok, detail)
no_fork = all(int(rejects(p).get("fork", 0)) == 0 for p in (a, a2, b))
check("backup copy: no fork anywhere", no_fork, [rejects(p) for p in (a, a2, b)])
a2.q("INSERT INTO item(_id, name) VALUES ('a2-later', 'from a2')")
a.q("INSERT INTO item(_id, name) VALUES ('a-later', 'from a')")
want |= {"a2-later|from a2", "a-later|from a"}
ok = wait_for(lambda: converged([a, a2, b], want), 20)
check("backup copy: later writes of both reach everyone", ok,
      [sorted(rows(p) ^ want) for p in (a, a2, b)])
a2.close()

# --- 2. a forced fork: A3 keeps writing A's log ---------------------------------
a_log = own_log("a.db")
base = a.one("SELECT max(counter) FROM threads_records WHERE thread = 't' AND log = '%s'" % a_log)
backup("a.db", "a3.db")
n = keep_log("a3.db")  # its recorded file identity becomes its own
check("forced fork: the copy's recorded identity is overwritten", n > 0, n)
a3 = Peer("a3.db")
for i in range(3):
    a3.q("INSERT INTO item(_id, name) VALUES ('a3-%d', 'from a3')" % i)
    want.add("a3-%d|from a3" % i)
    a.q("INSERT INTO item(_id, name) VALUES ('a-fork-%d', 'from a')" % i)
    want.add("a-fork-%d|from a" % i)
# Both wrote the same log from the same counter on: a fork at counter f.
f = int(base) + 1
cid_a = a.one("SELECT cid FROM threads_records WHERE thread = 't' AND log = '%s' AND counter = %d" % (a_log, f))
cid_a3 = a3.one("SELECT cid FROM threads_records WHERE thread = 't' AND log = '%s' AND counter = %d" % (a_log, f))
check("forced fork: the two files hold different records at one counter",
      cid_a and cid_a3 and cid_a != cid_a3, (cid_a, cid_a3))
a3.q("SELECT threads_listen('%s')" % addr())
a3.q("SELECT threads_sync('%s', 5000)" % tid)
peers = [a, a3, b]


def fork_counted():
    return any(int(rejects(p).get("fork", 0)) > 0 for p in peers)


def fork_shown():
    for p in peers:
        for e in p.q("SELECT last_error FROM threads_peers WHERE last_error LIKE 'fork:%'"):
            return e
    return None


seen = wait_for(fork_shown, 30)
check("forced fork: shown in threads_peers.last_error", seen and a_log in seen, seen)
check("forced fork: counted as reason 'fork' in threads_rejects", wait_for(fork_counted, 10),
      [rejects(p) for p in peers])
ok = wait_for(lambda: converged(peers, want), 30)
check("forced fork: A, A3 and B converge with every write of both copies", ok,
      [sorted(rows(p) ^ want) for p in peers])
kept = [p.one("SELECT cid FROM threads_records WHERE thread = '%s' AND log = '%s' AND counter = %d"
              % (tid, a_log, f)) for p in peers]
winner = min((cid_a, cid_a3), key=lambda c: cid_bytes(c) if c else b"")
check("forced fork: every peer keeps the same branch, the smaller CID at the fork",
      len(set(kept)) == 1 and kept[0] == winner, (kept, cid_a, cid_a3))
ok, detail = verify_all(peers, tid)
check("forced fork: threads_verify passes on all", ok, detail)
a3.q("INSERT INTO item(_id, name) VALUES ('a3-after', 'from a3')")
a.q("INSERT INTO item(_id, name) VALUES ('a-after', 'from a')")
want |= {"a3-after|from a3", "a-after|from a"}
ok = wait_for(lambda: converged(peers, want), 20)
check("forced fork: writes after the resolution reach everyone", ok,
      [sorted(rows(p) ^ want) for p in peers])
a3.close()

# --- 2b. the winner never listens: it pushes its branch -------------------------
# A copy that only dials (no threads_listen) and whose branch wins: the
# others cannot pull it from there, so it must hand its branch over itself.
# Copies are made until one's record at the fork has the smaller CID.
for attempt in range(20):  # each copy wins with p = 1/2
    a_log = own_log("a.db")
    base = a.one("SELECT max(counter) FROM threads_records WHERE thread = 't' AND log = '%s'" % a_log)
    f = int(base) + 1
    backup("a.db", "a5.db")
    keep_log("a5.db")
    a5 = Peer("a5.db")
    a5.q("INSERT INTO item(_id, name) VALUES ('a5-%d', 'from a5')" % attempt)
    a.q("INSERT INTO item(_id, name) VALUES ('a-vs-a5-%d', 'from a')" % attempt)
    want.add("a-vs-a5-%d|from a" % attempt)
    q = "SELECT cid FROM threads_records WHERE thread = '%s' AND log = '%s' AND counter = %d" % (tid, a_log, f)
    cid_a, cid_a5 = a.one(q), a5.one(q)
    if cid_a5 and cid_a and cid_bytes(cid_a5) < cid_bytes(cid_a):
        want.add("a5-%d|from a5" % attempt)
        break
    a5.close()  # A's branch would win: this copy is thrown away, unsynced
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists("a5.db" + suffix):
            os.remove("a5.db" + suffix)
check("dialing winner: a copy whose branch wins", cid_bytes(cid_a5) < cid_bytes(cid_a), (cid_a5, cid_a))
a5.q("SELECT threads_sync('%s', 5000)" % tid)  # dials B; listens nowhere
peers = [a, a5, b]
ok = wait_for(lambda: converged(peers, want), 30)
check("dialing winner: A, A5 and B converge with every write of both copies", ok,
      [sorted(rows(p) ^ want) for p in peers])
kept = [p.one(q) for p in peers]
check("dialing winner: every peer keeps A5's branch", kept == [cid_a5] * 3, (kept, cid_a5))
ok, detail = verify_all(peers, tid)
check("dialing winner: threads_verify passes on all", ok, detail)
a5.close()

# --- 3. kill -9 of the copy while it resolves ------------------------------------
# The copy starts a sync (a round at once) and is killed a few ms later:
# before, during or after its resolution of the fork, its file must be
# whole, and the next sync must go on from what is there.
rng = random.Random(11)
seen = {}
for round_ in range(6):
    path = "a4-%d.db" % round_
    k_log = own_log("a.db")
    f = int(a.one("SELECT max(counter) FROM threads_records WHERE thread = 't' AND log = '%s'" % k_log)) + 1
    backup("a.db", path)
    keep_log(path)
    a4 = Peer(path)
    forks_before = int(rejects(a4).get("fork", 0))  # copied from A's file
    for i in range(2):
        a4.q("INSERT INTO item(_id, name) VALUES ('a4-%d-%d', 'from a4')" % (round_, i))
        want.add("a4-%d-%d|from a4" % (round_, i))
        a.q("INSERT INTO item(_id, name) VALUES ('a-k%d-%d', 'from a')" % (round_, i))
        want.add("a-k%d-%d|from a" % (round_, i))
    q = "SELECT cid FROM threads_records WHERE thread = '%s' AND log = '%s' AND counter = %d" % (tid, k_log, f)
    mine = a4.one(q)
    a4.q("SELECT threads_listen('%s')" % addr())
    a4.proc.stdin.write("SELECT threads_sync('%s', 5000)\n" % tid)  # not waited for
    a4.proc.stdin.flush()
    delay = rng.uniform(0.0, 0.025)
    time.sleep(delay)
    a4.kill9()
    a4 = Peer(path)
    if a4.one(q) != mine:
        state = "had taken A's branch"
    elif int(rejects(a4).get("fork", 0)) > forks_before:
        state = "had found its branch wins"
    else:
        state = "had not resolved the fork"
    seen[state] = seen.get(state, 0) + 1
    print("INFO kill -9 round %d, %.0f ms into the sync: the copy %s" % (round_, delay * 1000, state))
    check("kill -9 while resolving (%d): integrity_check ok" % round_,
          a4.one("PRAGMA integrity_check") == "ok")
    n = a4.one("SELECT count(*) FROM threads_records WHERE thread = '%s'" % tid)
    v = a4.one("SELECT threads_verify('%s')" % tid)
    check("kill -9 while resolving (%d): threads_verify passes" % round_, v == n, (v, n))
    a4.q("SELECT threads_listen()")
    a4.q("SELECT threads_sync('%s', 5000)" % tid)
    peers = [a, b, a4]
    ok = wait_for(lambda: converged(peers, want), 30)
    check("kill -9 while resolving (%d): converge with every write" % round_, ok,
          [sorted(rows(p) ^ want) for p in peers])
    a4.close()
print("INFO kill -9 rounds: %s" % seen)
ok, detail = verify_all([a, b], tid)
check("after all: threads_verify passes on A and B", ok, detail)
check("after all: A's file is intact", a.one("PRAGMA integrity_check") == "ok")
a.close()
b.close()
done()
