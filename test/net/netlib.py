"""Helpers for the network tests: peers as real processes on loopback."""
import os
import socket
import sqlite3
import subprocess
import sys
import time

EXT = os.environ.get("EXT", os.path.join(os.path.dirname(__file__), "../../dist/threads"))
PYTHON = os.environ.get("PYTHON3", "/usr/bin/python3").split()
HERE = os.path.dirname(os.path.abspath(__file__))
# Under a sanitizer (test/run.sh preloads its runtime into python) every
# step is slower: the time bounds of the tests are multiplied by SLOW.  A
# release build is held to the bounds as written.
_pre = os.environ.get("PYTHON3", "")
SLOW = 4 if "libtsan" in _pre else 2 if ("libasan" in _pre or "libubsan" in _pre) else 1
results = {"pass": 0, "fail": 0}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def addr():
    """A tcp:// address on loopback with a port free at the moment."""
    return "tcp://127.0.0.1:%d" % free_port()


class Peer:
    def __init__(self, path):
        self.path = path
        self.proc = subprocess.Popen(PYTHON + [os.path.join(HERE, "peer.py"), path, EXT],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def q(self, sql, timeout=30):
        self.proc.stdin.write(sql.replace("\n", " ") + "\n")
        self.proc.stdin.flush()
        out = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if line == "":
                raise RuntimeError("peer %s exited (status %s)" % (self.path, self.proc.poll()))
            line = line.rstrip("\n")
            if line == ".":
                return out
            out.append(line)
        raise RuntimeError("peer %s: no answer to %s" % (self.path, sql))

    def one(self, sql):
        rows = self.q(sql)
        return rows[0] if rows else None

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)

    def kill9(self):
        self.proc.kill()
        self.proc.wait()


def keep_log(path):
    """Make a copied database file write its original's log, as a copy at
    the same path and inode on another machine would: the file identity
    recorded with its logs (store.c, "File identity") becomes its own.
    Returns the number of generations rewritten."""
    db = sqlite3.connect(path)
    real = db.execute("SELECT file FROM pragma_database_list WHERE name = 'main'").fetchone()[0]
    st = os.stat(real)
    n = db.execute("UPDATE _threads_own SET dev = ?, ino = ?, path = ?",
                   (st.st_dev, st.st_ino, real)).rowcount
    db.commit()
    db.close()
    return n


def check(name, ok, detail=""):
    if ok:
        results["pass"] += 1
        print("PASS", name)
    else:
        results["fail"] += 1
        print("FAIL", name, detail)


def wait_for(fn, seconds=10.0):
    """Poll fn() until it returns a true value or the time is up."""
    deadline = time.time() + seconds
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(0.05)


def done():
    print("%d passed, %d failed" % (results["pass"], results["fail"]))
    sys.exit(1 if results["fail"] else 0)
