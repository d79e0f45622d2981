"""Large records: a transaction of 100,000 rows is one record of several
MiB, larger than a message (4 MiB); it must cross in pieces, both pulled
and pushed.  Then a peer is killed with SIGKILL in the middle of a large
sync: its file must pass integrity_check and threads_verify, and it must
finish the sync when restarted.

Expected values come from what the test told the peers to write.
"""
import sqlite3
import time

from netlib import Peer, addr, check, done, wait_for

SCHEMA = ('{"type":"object","properties":{"_id":{"type":"string"},'
          '"name":{"type":"string"},"n":{"type":"integer"}},"required":["name"]}')
N_BIG = 100000
MAXMSG = 4 * 1024 * 1024


def bulk(peer, prefix, n, first=0):
    """One transaction of n rows: ids prefix0.., n = first + i."""
    return peer.q(
        "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < %d)"
        " INSERT INTO item(_id, name, n) SELECT '%s' || i, 'bulk %s', %d + i FROM s"
        % (n - 1, prefix, prefix, first), timeout=600)


def summary(peer, prefix):
    """count, sum(n) of the rows with this prefix: both reasoned from bulk()."""
    return peer.one("SELECT count(*), coalesce(sum(n), 0) FROM item WHERE name = 'bulk %s'"
                    % prefix)


def expect(n, first=0):
    return "%d|%d" % (n, n * first + n * (n - 1) // 2)


def records_in(path, tid):
    """Records held, read from the file by a plain SQLite connection."""
    try:
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
        n = db.execute("SELECT count(*) FROM _threads_record r JOIN _threads_log l"
                       " ON l.lid = r.lid JOIN _threads_thread t ON t.tid = l.tid"
                       " WHERE t.id = (SELECT id FROM _threads_thread LIMIT 1)").fetchone()[0]
        db.close()
        return n
    except sqlite3.Error:
        return 0


# --- A writes one 100k-row transaction; B pulls it -------------------------
a = Peer("a.db")
a.q("SELECT threads_create('t')")
a.q("CREATE VIRTUAL TABLE item USING threads(thread='t', schema='%s')" % SCHEMA)
t0 = time.time()
err = bulk(a, "a", N_BIG)
check("A commits 100k rows in one transaction", err == [], err)
print("INFO 100k-row transaction committed in %.1f s" % (time.time() - t0))
biggest = int(a.one("SELECT max(length(record) + length(event) + length(header)"
                    " + length(body)) FROM _threads_record"))
check("the record is larger than a message", biggest > MAXMSG, biggest)
print("INFO largest record: %.1f MiB" % (biggest / 1048576.0))
addr_a = addr()
a.q("SELECT threads_listen('%s')" % addr_a)
invite = a.one("SELECT threads_invite('t')")

b = Peer("b.db")
t0 = time.time()
tid = b.one("SELECT threads_join('%s')" % invite)
ok = wait_for(lambda: summary(b, "a") == expect(N_BIG), 120)
check("B pulled the large record in pieces", ok, summary(b, "a"))
print("INFO B caught up in %.1f s" % (time.time() - t0))

# --- B (not listening: A cannot pull from it) pushes a large record --------
err = bulk(b, "b", 60000, 1000000)
check("B commits 60k rows in one transaction", err == [], err)
ok = wait_for(lambda: summary(a, "b") == expect(60000, 1000000), 120)
check("A received B's large record, pushed in pieces", ok, summary(a, "b"))
n_a = a.one("SELECT count(*) FROM threads_records WHERE thread='t'")
check("the large records verify on both",
      a.one("SELECT threads_verify('t')") == n_a == b.one("SELECT threads_verify('%s')" % tid),
      n_a)
b.close()

# --- kill -9 in the middle of a large sync ----------------------------------
# A's log now: the collection, the 100k-row record; add 300 small records
# and a second large one, so that C is busy for a while.
for i in range(300):
    a.q("INSERT INTO item(_id, name, n) VALUES ('s%d', 'small', %d)" % (i, i))
bulk(a, "c", N_BIG, 5000000)
total = int(a.one("SELECT count(*) FROM threads_records WHERE thread='t'"))
invite = a.one("SELECT threads_invite('t')")
c = Peer("c.db")
c.proc.stdin.write("SELECT threads_join('%s')\n" % invite)
c.proc.stdin.flush()
held = wait_for(lambda: records_in("c.db", tid) >= 3, 60)
time.sleep(0.3)
c.kill9()
held = records_in("c.db", tid)
print("INFO C killed holding %d of %d records" % (held, total))
check("C was killed in the middle of the sync", 0 < held < total, (held, total))
c = Peer("c.db")
ic = c.one("PRAGMA integrity_check")
check("after kill -9: integrity_check ok", ic == "ok", ic)
v = c.one("SELECT threads_verify('%s')" % tid)
check("after kill -9: every record held verifies", v == str(held), (v, held))
rows_c = summary(c, "a")
check("after kill -9: a record is there with all its rows or not at all",
      rows_c in ("0|0", expect(N_BIG)), rows_c)
deadline = time.time() + 180
while time.time() < deadline and c.one("SELECT count(*) FROM threads_records WHERE thread='%s'" % tid) != str(total):
    c.one("SELECT threads_sync('%s', 10000)" % tid)
ok = (c.one("SELECT count(*) FROM threads_records WHERE thread='%s'" % tid) == str(total)
      and summary(c, "c") == expect(N_BIG, 5000000)
      and summary(c, "a") == expect(N_BIG) and summary(c, "b") == expect(60000, 1000000))
check("after restart C completes the sync", ok, (summary(c, "a"), summary(c, "c")))
check("C's records verify", c.one("SELECT threads_verify('%s')" % tid) == str(total))
c.close()
a.close()
done()
