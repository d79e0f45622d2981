"""Open connections keep working when this file's node mounts a collection
that another peer created (the node does it on its own connection, on a
background thread of the same process).

The mount moves the file's schema cookie under every other connection of
the process.  A connection whose in-memory schema is from before the mount
and that has not yet connected an existing collection table connects it
(xConnect) while SQLite still holds that stale schema, locked: every
statement the extension runs there gets SQLITE_SCHEMA.  That must make
SQLite load the schema again and retry, not answer "no such thread: <id>"
to every later statement on the connection.

Scenarios:
1. reopen: B's process ends; A adds a collection; B's file in a new process
   (several connections, all with the schema loaded) calls threads_listen;
   its node mounts the new collection; then each connection writes to and
   reads the existing table, reads the new one and threads_records.
2. open throughout: B's connection that called threads_listen stays open
   while its node mounts the first collection and then a second one.

Environment: EXT (the extension, as for every net test).  Run from a
scratch directory: the database files are made in the working directory.
"""
import os
import sqlite3
import subprocess
import sys

from netlib import EXT, HERE, PYTHON, Peer, addr, check, done, wait_for

S_ANY = '{"type":"object"}'


def peer_main(path, ext):
    """A peer process with several connections to one file: each input
    line is '<n> <SQL>' for connection n (opened on first use, all in this
    process); answers as peer.py's."""
    conns = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        n, _, sql = line.partition(" ")
        try:
            if n not in conns:
                db = sqlite3.connect(path, isolation_level=None,
                                     check_same_thread=False)
                db.enable_load_extension(True)
                db.load_extension(ext)
                conns[n] = db
            for row in conns[n].execute(sql):
                print("|".join("" if v is None else str(v) for v in row))
        except Exception as e:  # the message is the test's business
            print("ERROR:", e)
        print(".", flush=True)
    for db in conns.values():
        db.close()


class MPeer(Peer):
    """Peer with numbered connections in one process: q(sql, conn=n)."""

    def __init__(self, path):
        self.path = path
        self.proc = subprocess.Popen(
            PYTHON + [os.path.abspath(__file__), "--peer", path, EXT],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def q(self, sql, timeout=30, conn=0):
        return Peer.q(self, "%d %s" % (conn, sql), timeout)

    def one(self, sql, conn=0):
        rows = self.q(sql, conn=conn)
        return rows[0] if rows else None


def pair(name):
    a = Peer("%s-a.db" % name)
    a.q("SELECT threads_create('t')")
    a.q("SELECT threads_listen('%s')" % addr())
    invite = a.one("SELECT threads_invite('t')")
    b = Peer("%s-b.db" % name)
    addr_b = addr()
    b.q("SELECT threads_listen('%s')" % addr_b)
    b.q("SELECT threads_join('%s')" % invite)
    return a, b, addr_b, a.one("SELECT id FROM threads WHERE name = 't'")


def in_file(path, table):
    """Is table in the file's schema?  Asked on a plain connection of this
    process, so that no connection of the peer reads its schema again."""
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT count(*) FROM sqlite_schema WHERE name = ?",
                          (table,)).fetchone()[0] == 1
    finally:
        db.close()


def mounted(a, path, table, seconds=20):
    """A pushes until B's node has mounted table in B's file."""
    def go():
        a.q("SELECT threads_sync(id, 2000) FROM threads")
        return in_file(path, table)
    return wait_for(go, seconds)


def no_error(r):
    return r is None or not r.startswith("ERROR")


def reopen():
    a, b, addr_b, tid = pair("reopen")
    a.q("CREATE VIRTUAL TABLE first USING threads(thread='t', schema='%s')"
        % S_ANY)
    a.q("INSERT INTO first(_id) VALUES ('a1')")
    check("reopen: B's node mounts the first collection",
          mounted(a, "reopen-b.db", "first"))
    ok = wait_for(lambda: b.one("SELECT count(*) FROM first") == "1", 20)
    check("reopen: B reads A's row", ok)
    err = b.one("INSERT INTO first(_id) VALUES ('b1')")
    check("reopen: B writes to the first collection", err is None, err)
    b.close()

    a.q("CREATE VIRTUAL TABLE second USING threads(thread='t', schema='%s')"
        % S_ANY)
    a.q("INSERT INTO second(_id) VALUES ('s1')")

    b = MPeer("reopen-b.db")
    # Connections 1-3 load the schema (without connecting a collection)
    # before the node starts; connection 0 then starts it.
    for c in (1, 2, 3):
        b.q("SELECT count(*) FROM sqlite_schema", conn=c)
    r = b.one("SELECT threads_listen('%s')" % addr_b, conn=0)
    check("reopen: B listens again", r == addr_b, r)
    check("reopen: B's node mounts the new collection",
          mounted(a, "reopen-b.db", "second"))

    # 0: the connection that started the node; its first statement since
    # the mount writes to the existing table.
    for i in range(3):
        err = b.one("INSERT INTO first(_id) VALUES ('b2-%d')" % i, conn=0)
        check("reopen: the connection that listened writes to the existing"
              " table (%d)" % i, err is None, err)
    r = b.one("SELECT count(*) FROM first", conn=0)
    check("...and reads it", r == "5", r)
    r = b.one("SELECT count(*) FROM second", conn=0)
    check("...and reads the new one", r == "1", r)
    r = b.one("SELECT count(*) FROM threads_records WHERE thread = '%s'" % tid,
              conn=0)
    check("...and threads_records", r is not None and r.isdigit()
          and int(r) >= 6, r)

    # 1: another connection; its first statement reads the existing table.
    r = b.one("SELECT count(*) FROM first", conn=1)
    check("reopen: another open connection reads the existing table", r == "5",
          r)
    err = b.one("INSERT INTO first(_id) VALUES ('b3')", conn=1)
    check("...and writes to it", err is None, err)
    r = b.one("SELECT _id FROM first WHERE _id = 'b3'", conn=1)
    check("...and reads what it wrote", r == "b3", r)

    # 2: its first statement reads the new table, then the existing one.
    r = b.one("SELECT _id FROM second", conn=2)
    check("reopen: a third connection reads the new table", r == "s1", r)
    r = b.one("SELECT count(*) FROM first", conn=2)
    check("...and the existing one", r == "6", r)

    # 3: its first statement is on threads_records, then the tables.
    r = b.one("SELECT count(*) FROM threads_records WHERE thread = '%s'" % tid,
              conn=3)
    check("reopen: a fourth connection reads threads_records",
          r is not None and r.isdigit() and int(r) >= 7, r)
    err = b.one("INSERT INTO first(_id) VALUES ('b4')", conn=3)
    check("...writes to the existing table", err is None, err)
    err = b.one("INSERT INTO second(_id) VALUES ('s2')", conn=3)
    check("...and to the new one", err is None, err)

    ok = wait_for(lambda: (a.q("SELECT threads_sync(id, 2000) FROM threads")
                           and a.one("SELECT count(*) FROM first") == "7"
                           and a.one("SELECT count(*) FROM second") == "2"), 20)
    check("reopen: what B wrote reaches A", ok,
          (a.one("SELECT count(*) FROM first"),
           a.one("SELECT count(*) FROM second")))
    a.close()
    b.close()


def open_throughout():
    a, b, addr_b, tid = pair("open")
    a.q("CREATE VIRTUAL TABLE first USING threads(thread='t', schema='%s')"
        % S_ANY)
    a.q("INSERT INTO first(_id) VALUES ('a1')")
    check("open: B's node mounts the first collection",
          mounted(a, "open-b.db", "first"))
    # B's connection (the one that called threads_listen) loads the schema
    # with the first table in it, but does not connect that table yet.
    r = b.one("SELECT count(*) FROM sqlite_schema WHERE name = 'first'")
    check("open: B's connection sees the first table", r == "1", r)

    a.q("CREATE VIRTUAL TABLE second USING threads(thread='t', schema='%s')"
        % S_ANY)
    a.q("INSERT INTO second(_id) VALUES ('s1')")
    check("open: B's node mounts the second collection",
          mounted(a, "open-b.db", "second"))
    for i in range(3):
        err = b.one("INSERT INTO first(_id) VALUES ('b%d')" % i)
        check("open: the connection open throughout writes to the existing"
              " table (%d)" % i, err is None, err)
    r = b.one("SELECT count(*) FROM first")
    check("...and reads it", r == "4", r)
    r = b.one("SELECT count(*) FROM second")
    check("...and reads the new one", r == "1", r)
    r = b.one("SELECT count(*) FROM threads_records WHERE thread = '%s'" % tid)
    check("...and threads_records", r is not None and r.isdigit()
          and int(r) >= 6, r)

    # Once more with the table connected: a third collection arrives.
    a.q("CREATE VIRTUAL TABLE third USING threads(thread='t', schema='%s')"
        % S_ANY)
    a.q("INSERT INTO third(_id) VALUES ('t1')")
    check("open: B's node mounts a third collection",
          mounted(a, "open-b.db", "third"))
    err = b.one("INSERT INTO first(_id) VALUES ('b9')")
    check("open: B still writes to the connected table", err is None, err)
    r = b.one("SELECT count(*) FROM third")
    check("...and reads the third", r == "1", r)
    a.close()
    b.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--peer"]:
        peer_main(sys.argv[2], sys.argv[3])
        sys.exit(0)
    sys.path.insert(0, HERE)
    reopen()
    open_throughout()
    done()
