"""Randomized convergence of several peers against an independent model of
the merge rule (../shared/DESIGN.md "Merge rule", core/reduce.c's header).

Per seed (random.Random(seed); CONVERGE_SEEDS, CONVERGE_STEPS):
- 3 or 4 peer processes on one thread, three collections defined by the
  creator (typed fields, required fields, a "unique": true string) and a
  fourth, "late", that peers may define while apart, with other schemas;
- random steps on a small shared pool of _ids: INSERT, INSERT OR REPLACE,
  UPDATE of fields (NULL included) by _id and by predicates, DELETE by _id
  and by predicates, transactions that COMMIT, ROLLBACK or ROLLBACK TO a
  savepoint, writes the schema refuses, threads_alter, unique collisions;
- peers go apart (process closed, or running without its node) and write
  offline, come back, are killed with kill -9 (after a write, during a
  sync, inside a transaction, with COMMIT in flight) and restarted, and
  files are copied (with their -wal) into new peers that write too;
- the end: every peer up, threads_sync until the records are the same and
  stable, a fresh peer joins through a new invite, and then every peer must
  hold the same records, rows, schemas and conflicts, and these must be
  what the MODEL below computes from the thread's actions (read from
  threads_changes WHERE kinds = 'all').  Beside it: every committed
  transaction is there (a journal row each), nothing of a rolled-back or
  refused statement is anywhere, threads_rejects counts what
  threads_conflicts lists, threads_verify passes, threads_rebuild changes
  nothing.

Environment: CONVERGE_SEEDS ("1-3" by default; "5", "1,4,9", "10-29",
"random:N"), CONVERGE_STEPS (150), CONVERGE_BUDGET (200 s: no new seed
starts after it; 0 for none), CONVERGE_AVOID (known defects to steer
around, see AVOID below; none by default, so that they show as FAILs).

Each FAIL line names its seed: CONVERGE_SEEDS=<seed> replays the same
steps (process timing is not replayed).  The working directory keeps a
trace of every statement (trace-<seed>.log) and the model's input
(actions-<seed>.json).
"""
import base64
import json
import os
import queue
import random
import shutil
import threading
import time

import jsonschema

from netlib import Peer, addr, check, done

# --------------------------------------------------------------------------
# The model: the merge rule, written from its text, computed in Python.
# --------------------------------------------------------------------------
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58decode(text):
    n = 0
    for ch in text:
        n = n * 58 + B58.index(ch)
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + body


def b58encode(raw):
    n, out = int.from_bytes(raw, "big"), ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


def log_key(peer_id):
    """The 32-byte Ed25519 key inside a peer ID (identity multihash of the
    protobuf public key: 00 24 08 01 12 20 || key)."""
    raw = b58decode(peer_id)
    if len(raw) != 38 or raw[:6] != bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20]):
        raise ValueError("not an Ed25519 peer ID: %r" % peer_id)
    return raw[6:]


def cid_bytes(text):
    """A CID's bytes from its multibase base32 text ('b' + RFC 4648
    lowercase, no padding)."""
    if not text or text[0] != "b":
        raise ValueError("not a base32 CID: %r" % text)
    body = text[1:].upper()
    return base64.b32decode(body + "=" * (-len(body) % 8))


def order_key(a):
    return (a["hlc"], log_key(a["log"]), cid_bytes(a["cid"]), a["idx"])


class ModelColl:
    def __init__(self, schema_text):
        self.docs = {}
        self.set_schema(schema_text)

    def set_schema(self, text):
        self.schema = text
        s = json.loads(text)
        self.validator = jsonschema.Draft7Validator(s)
        props = s.get("properties", {}) if isinstance(s, dict) else {}
        self.unique = sorted(k for k, v in props.items()
                             if isinstance(v, dict) and v.get("unique") is True)


def canon(v):
    """JSON equality (1 and true differ, 1 and 1.0 do not)."""
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, (int, float)):
        return ("n", float(v))
    return ("j", json.dumps(v, sort_keys=True))


def run_model(actions):
    """Apply every action in the thread's order.  Returns (collections,
    conflicts): collections maps a name to its ModelColl (schema in force,
    live documents); conflicts is the list of skipped actions in order,
    each the action with a 'reason'."""
    colls = {}
    conflicts = []

    def skip(a, why):
        c = dict(a)
        c["reason"] = why
        conflicts.append(c)

    for a in sorted(actions, key=order_key):
        name, kind, c = a["collection"], a["action"], colls.get(a["collection"])
        if kind == "collection":
            if c is None:
                colls[name] = ModelColl(a["json"])
            elif a["json"] != c.schema:
                skip(a, "schema")
            continue
        if kind == "alter":
            if c is None:
                skip(a, "schema")
            else:
                c.set_schema(a["json"])
            continue
        if c is None:
            skip(a, "schema")
            continue
        did = a["_id"]
        if kind == "delete":
            c.docs.pop(did, None)
            continue
        if kind == "create":
            new = json.loads(a["json"])
        elif kind == "save":
            if did not in c.docs:
                skip(a, "missing")
                continue
            new = dict(c.docs[did])
            for k, v in json.loads(a["json"]).items():
                if v is None:
                    new.pop(k, None)
                else:
                    new[k] = v
        else:
            raise ValueError("unknown action %r" % kind)
        if not c.validator.is_valid(new):
            skip(a, "schema")
            continue
        clash = False
        for p in c.unique:
            if p in new:
                mine = canon(new[p])
                clash = clash or any(o != did and p in d and canon(d[p]) == mine
                                     for o, d in c.docs.items())
        if clash:
            skip(a, "unique")
            continue
        c.docs[did] = new
    return colls, conflicts


def model_selftest():
    """Hand-worked cases, so that a bug of the model is not taken for one of
    the extension."""
    def pid(k):
        return b58encode(bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20]) + bytes([k]) * 32)

    def cid(k):
        return "b" + base64.b32encode(bytes([1, 0x71, 0x12, 0x20]) + bytes([k]) * 32).decode().lower().rstrip("=")

    ok = b58decode("StV1DL6CwTryKyV") == b"hello world" and b58decode("1112") == b"\0\0\0\x01"
    ok = ok and log_key(pid(7)) == bytes([7]) * 32 and cid_bytes(cid(9))[4:] == bytes([9]) * 32
    check("model: base58 and base32 decoders", ok)
    # Text order is not byte order in base32 ('2'..'7' are the largest
    # digits): find two CIDs whose texts sort the other way round.
    pair = next((cid(i), cid(j)) for i in range(256) for j in range(i + 1, 256)
                if (cid(i) < cid(j)) != (cid_bytes(cid(i)) < cid_bytes(cid(j))))
    check("model: CIDs compare as bytes, not as text", cid_bytes(pair[0]) < cid_bytes(pair[1]), pair)

    S = ('{"type":"object","properties":{"_id":{"type":"string"},"name":{"type":"string"},'
         '"n":{"type":"integer","minimum":0},"e":{"type":"string","unique":true}},"required":["name"]}')
    S2 = S.replace('"minimum":0', '"minimum":0,"maximum":5')
    P, Q = pid(1), pid(2)

    def act(h, kind, i=None, js=None, log=P, c=1, idx=0, coll="x"):
        return {"collection": coll, "_id": i, "action": kind, "json": js,
                "hlc": h, "log": log, "cid": cid(c), "idx": idx}

    acts = [
        act(1, "collection", js=S),
        act(2, "create", "a", '{"_id":"a","name":"A","n":1,"e":"m"}'),
        act(3, "save", "a", '{"_id":"a","n":null,"name":"AA"}'),     # patch, null removes
        act(4, "save", "b", '{"_id":"b","n":2}'),                    # missing
        act(5, "delete", "zz"),                                      # nothing, not listed
        act(6, "create", "b", '{"_id":"b","name":"B","e":"m"}'),     # unique
        act(7, "create", "c", '{"_id":"c","n":-1,"name":"C"}'),      # schema
        act(8, "collection", js=S),                                  # same: nothing
        act(8, "collection", js=S2, log=Q),                          # other: listed
        act(9, "create", "d", '{"_id":"d","name":"D","n":9}'),
        act(10, "alter", js=S2),                                     # n <= 5 from now on
        act(11, "save", "d", '{"_id":"d","name":"DD"}'),             # d holds n 9: schema
        act(12, "delete", "a"),
        act(13, "create", "b", '{"_id":"b","name":"B","e":"m"}'),    # m is free now
        act(14, "alter", js=S, coll="y"),                            # y undefined: schema
        act(15, "create", "q", '{"_id":"q"}', coll="y"),             # y undefined: schema
        act(16, "collection", js=S, log=Q),                          # not the schema in force
        # Same clock: the log key orders, then the CID (as bytes), then idx.
        act(20, "create", "o", '{"_id":"o","name":"by Q"}', log=Q, c=0x01),
        act(20, "create", "o", '{"_id":"o","name":"by P c2 i1"}', log=P, c=0xf0, idx=1),
        act(20, "create", "o", '{"_id":"o","name":"by P c2 i0"}', log=P, c=0xf0, idx=0),
        act(20, "create", "o", '{"_id":"o","name":"by P c1"}', log=P, c=0x10),
    ]
    rnd = random.Random(5)
    rnd.shuffle(acts)
    colls, confs = run_model(acts)
    docs = colls["x"].docs
    want = {"b": {"_id": "b", "name": "B", "e": "m"}, "d": {"_id": "d", "name": "D", "n": 9},
            "o": {"_id": "o", "name": "by Q"}}
    check("model: hand-worked case, documents", docs == want, docs)
    got = [(c["hlc"], c["_id"], c["action"], c["reason"]) for c in confs]
    wantc = [(4, "b", "save", "missing"), (6, "b", "create", "unique"), (7, "c", "create", "schema"),
             (8, None, "collection", "schema"), (11, "d", "save", "schema"),
             (14, None, "alter", "schema"), (15, "q", "create", "schema"),
             (16, None, "collection", "schema")]
    check("model: hand-worked case, conflicts in order", got == wantc, got)
    check("model: hand-worked case, schema in force", colls["x"].schema == S2 and "y" not in colls)
    # Pid order: P (key 01..) before Q (key 02..), whatever the text says.
    acts2 = [act(1, "collection", js=S),
             act(2, "create", "k", '{"_id":"k","name":"P"}', log=P),
             act(2, "create", "k", '{"_id":"k","name":"Q"}', log=Q)]
    colls2, _ = run_model(acts2[::-1])
    check("model: equal clocks, the larger log key applies last",
          colls2["x"].docs["k"]["name"] == ("Q" if log_key(Q) > log_key(P) else "P"))


# --------------------------------------------------------------------------
# Schemas and statements.
# --------------------------------------------------------------------------
def obj(props, required=()):
    s = {"type": "object", "properties": dict([("_id", {"type": "string"})] + props)}
    if required:
        s["required"] = list(required)
    return json.dumps(s, separators=(",", ":"))


STR, NONNEG = {"type": "string"}, {"type": "integer", "minimum": 0}
I_BASE = [("name", STR), ("n", NONNEG), ("flag", {"type": "boolean"}), ("tag", STR)]
ITEM = [
    obj(I_BASE, ["name"]),                                               # I0
    obj(I_BASE + [("note", STR)], ["name"]),                             # I1 adds note
    obj(I_BASE + [("note", STR)]),                                       # I2 relaxes required
    obj([p for p in I_BASE if p[0] != "flag"], ["name"]),                # I3 removes flag
    obj([("name", STR), ("n", {"type": "integer", "minimum": 0, "maximum": 50}),
         ("flag", {"type": "boolean"}), ("tag", STR)], ["name"]),        # I4 n <= 50
]
U_BASE = [("email", {"type": "string", "unique": True}), ("name", STR), ("n", NONNEG), ("tag", STR)]
USERS = [
    obj(U_BASE, ["email"]),                                              # U0
    obj(U_BASE[:1] + [("name", {"type": "string", "index": True})] + U_BASE[2:], ["email"]),
    obj([("email", STR)] + U_BASE[1:], ["email"]),                       # U2 not unique
    obj(U_BASE + [("nick", {"type": "string", "unique": True})], ["email"]),  # U3
]
LATE = [
    obj([("a", STR), ("n", NONNEG), ("tag", STR)], ["a"]),               # LA
    obj([("b", {"type": "integer"}), ("n", NONNEG), ("tag", STR)]),      # LB
    obj([("a", STR), ("b", {"type": "integer"}), ("n", NONNEG), ("tag", STR)]),  # LA + b
]
JRNL = obj([("p", STR)])
# The same collections with one property set and one set of unique
# properties across all versions (CONVERGE_AVOID=readd or unique-alter):
# versions differ in required fields, bounds and indexes only.
I_ALL = I_BASE + [("note", STR)]
ITEM_SAFE = [obj(I_ALL, ["name"]), obj(I_ALL),
             obj([(k, {"type": "string", "index": True}) if k == "name" else (k, v) for k, v in I_ALL], ["name"]),
             obj([(k, {"type": "integer", "minimum": 0, "maximum": 50}) if k == "n" else (k, v)
                  for k, v in I_ALL], ["name"])]
U_ALL = U_BASE + [("nick", {"type": "string", "unique": True})]
USERS_SAFE = [obj(U_ALL, ["email"]), obj(U_ALL),
              obj([(k, {"type": "string", "index": True}) if k == "name" else (k, v) for k, v in U_ALL], ["email"])]
L_ALL = [("a", STR), ("b", {"type": "integer"}), ("n", NONNEG), ("tag", STR)]
LATE_SAFE = [obj(L_ALL, ["a"]),
             obj([(k, {"type": "integer", "minimum": 0, "maximum": 40}) if k == "n" else (k, v) for k, v in L_ALL]),
             obj([(k, {"type": "integer", "index": True}) if k == "b" else (k, v) for k, v in L_ALL], ["a"])]

# Known defects the generator can be told to steer around (CONVERGE_AVOID,
# comma-separated), so that a long run looks for new ones:
#   readd         an alter that adds back a property an earlier schema
#                 removed fails ("duplicate column name"), and where it
#                 arrives from a peer, the record can never be stored;
#   unique-alter  an alter that makes a property unique re-judges earlier
#                 actions with the new unique index;
#   mount         the first write on a connection after its node mounted a
#                 new collection fails with "no such thread";
#   close-hang    closing a connection whose node runs sometimes hangs in
#                 nng_close.
# The first two change the schemas used; the last two only make their
# symptom an INFO line instead of a FAIL.
AVOID = set(x for x in os.environ.get("CONVERGE_AVOID", "").split(",") if x)
if AVOID & {"readd", "unique-alter"}:
    ITEM, USERS, LATE = ITEM_SAFE, USERS_SAFE, LATE_SAFE
VERSIONS = {"item": ITEM, "users": USERS, "late": LATE}
IDS = {"item": ["i%d" % k for k in range(8)], "users": ["u%d" % k for k in range(6)],
       "late": ["l%d" % k for k in range(4)]}
EMAILS = ["e%d" % k for k in range(5)]
NICKS = ["k0", "k1", "k2"]
NAMES = ["ann", "bob", "cy", "dee"]

# Errors that a random statement may meet and that say nothing is wrong.
BENIGN = ("violates the schema", "violates the collection's schema in force", "UNIQUE constraint failed", "no such column", "already exists",
          "has no column named", "no such collection table",
          "no such table", "would change its type", "cannot start a transaction",
          "no transaction is active", "database is locked")
ALARMING = ("malformed", "corrupt", "misuse", "out of memory", "disk I/O", "internal",
            "assert", "not an error")


def lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    return "'%s'" % v


class CPeer(Peer):
    """A Peer whose answers are read by a thread, so that no wait is
    unbounded, and whose statements go to a trace."""

    def __init__(self, path, trace, label):
        super().__init__(path)
        self.trace, self.label = trace, label
        self.lines = queue.Queue()
        self.pending = 0
        threading.Thread(target=self._read, daemon=True).start()
        ALL.append(self)

    def _read(self):
        try:
            for line in self.proc.stdout:
                self.lines.put(line.rstrip("\n"))
        except (OSError, ValueError):
            pass
        self.lines.put(None)

    def send(self, sql):
        """Send without waiting for the answer (the process is about to be
        killed)."""
        self.trace.write("%s >> %s\n" % (self.label, sql))
        self.proc.stdin.write(sql.replace("\n", " ") + "\n")
        self.proc.stdin.flush()
        self.pending += 1

    def _answer(self, deadline, sql):
        out = []
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise RuntimeError("peer %s: no answer in time to %s" % (self.path, sql[:200]))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError("peer %s exited (status %s) at %s" % (self.path, self.proc.poll(), sql[:200]))
            if line == ".":
                return out
            out.append(line)

    def q(self, sql, timeout=60):
        deadline = time.time() + timeout
        while self.pending:
            self._answer(deadline, "(earlier statement)")
            self.pending -= 1
        self.trace.write("%s > %s\n" % (self.label, sql))
        self.proc.stdin.write(sql.replace("\n", " ") + "\n")
        self.proc.stdin.flush()
        out = self._answer(deadline, sql)
        if out and out[0].startswith("ERROR"):
            self.trace.write("%s   %s\n" % (self.label, out[0]))
        return out

    def close(self, seconds=15):
        """Close the connection; True if the process ended in time (else it
        is killed)."""
        self.trace.write("%s close\n" % self.label)
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=seconds)
            except Exception:
                self.trace.write("%s close HUNG, killed\n" % self.label)
                self.kill9()
                return False
        return True

    def kill9(self):
        self.trace.write("%s kill -9\n" % self.label)
        super().kill9()

    def alive(self):
        return self.proc.poll() is None


ALL = []  # every process this test started


def error_of(rows):
    return rows[0][len("ERROR: "):] if rows and rows[0].startswith("ERROR") else None


# --------------------------------------------------------------------------
# One seed.
# --------------------------------------------------------------------------
class Slot:
    def __init__(self, name, path):
        self.name, self.path, self.addr = name, path, addr()
        self.peer = None
        self.state = "down"  # down | offline (process, no node) | online


class Run:
    def __init__(self, seed, steps):
        self.seed, self.steps = seed, steps
        self.rng = random.Random(seed)
        self.dir = "s%d" % seed
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.trace = open("trace-%d.log" % seed, "w", buffering=1)
        self.slots = []
        self.tid = None
        self.ntag = 0
        self.required = set()   # tags that must be in the thread
        self.forbidden = set()  # tags that must be nowhere
        self.must_fail = []     # (tag, sql) statements that had to be refused
        self.refused_tried = 0
        self.uncertain = []     # tag groups of a transaction killed during COMMIT
        self.errors = {}
        self.alarms = []
        self.fails = 0
        self.stats = {}

    # --- bookkeeping ---------------------------------------------------------
    def fail(self, what, detail=""):
        self.fails += 1
        check("seed %d: %s" % (self.seed, what), False, str(detail)[:3000])

    def ok(self, what, cond, detail=""):
        if cond:
            check("seed %d: %s" % (self.seed, what), True)
        else:
            self.fail(what, detail)
        return cond

    def tag(self):
        self.ntag += 1
        return "x%d-%d" % (self.seed, self.ntag)

    def count(self, what):
        self.stats[what] = self.stats.get(what, 0) + 1

    def note_error(self, err, sql):
        key = err.split(":")[0][:60] if not any(b in err for b in BENIGN) else \
            next(b for b in BENIGN if b in err)
        if "mount" in AVOID and err.startswith("no such thread"):
            key = "no such thread (known: mount)"
        self.errors[key] = self.errors.get(key, 0) + 1
        if "known" in key:
            return
        if any(a in err.lower() for a in ALARMING) or not any(b in err for b in BENIGN):
            self.alarms.append((err, sql))

    # --- processes -----------------------------------------------------------
    def start(self, s, listen):
        if s.peer is None or not s.peer.alive():
            self.trace.write("%s start\n" % s.name)
            s.peer = CPeer(s.path, self.trace, s.name)
            s.state = "offline"
        if listen and s.state != "online":
            r = s.peer.q("SELECT threads_listen('%s')" % s.addr)
            if error_of(r):  # the port went to someone else meanwhile
                s.addr = addr()
                r = s.peer.q("SELECT threads_listen('%s')" % s.addr)
            if error_of(r):
                self.fail("%s listens" % s.name, r)
            else:
                s.state = "online"

    def closed(self, s):
        if s.peer.close():
            return
        if "close-hang" in AVOID:
            self.count("close hung (known: close-hang)")
        else:
            self.fail("%s's process ends when its connection closes (waited 15 s; killed)" % s.name)

    def stop(self, s):
        self.closed(s)
        s.peer, s.state = None, "down"

    def kill(self, s):
        s.peer.kill9()
        s.peer, s.state = None, "down"
        self.count("kill -9")

    def live(self):
        return [s for s in self.slots if s.peer is not None]

    def online(self):
        return [s for s in self.slots if s.state == "online"]

    # --- set-up --------------------------------------------------------------
    def setup(self):
        n = self.rng.choice([3, 4])
        self.slots = [Slot("p%d" % k, os.path.join(self.dir, "p%d.db" % k)) for k in range(n)]
        s0 = self.slots[0]
        self.start(s0, False)
        p = s0.peer
        p.q("SELECT threads_create('t')")
        self.tid = p.one("SELECT id FROM threads WHERE name = 't'")
        for name, schema in (("item", ITEM[0]), ("users", USERS[0]), ("jrnl", JRNL)):
            err = error_of(p.q("CREATE VIRTUAL TABLE %s USING threads(thread='%s', schema='%s')"
                               % (name, self.tid, schema)))
            if err:
                self.fail("create collection %s" % name, err)
        self.start(s0, True)
        for s in self.slots[1:]:
            self.start(s, True)
            inviter = self.rng.choice([o for o in self.online() if o is not s])
            inv = inviter.peer.one("SELECT threads_invite('%s')" % self.tid)
            got = s.peer.one("SELECT threads_join('%s')" % inv)
            if got != self.tid:
                self.fail("%s joins" % s.name, got)

    # --- statements ----------------------------------------------------------
    def gen_write(self, coll):
        """One random write statement: (sql, tag or None, kind) where kind is
        'insert', 'refused' (must fail), or 'other'."""
        r = self.rng
        ids = IDS[coll]
        tg = self.tag() if r.random() < 0.6 else None
        x = r.random()
        if x < 0.06:  # a write every schema version refuses: n < 0
            tg = self.tag()
            if coll == "late":
                doc = {"a": "z", "n": -1, "tag": tg}
                return ("INSERT INTO late(_id, _doc) VALUES ('%s', '%s')"
                        % (r.choice(ids), json.dumps(doc)), tg, "refused")
            extra = ", email" if coll == "users" else ", name"
            val = ", '%s'" % (r.choice(EMAILS) if coll == "users" else r.choice(NAMES))
            return ("INSERT INTO %s(_id, n, tag%s) VALUES ('%s', -1, '%s'%s)"
                    % (coll, extra, r.choice(ids), tg, val), tg, "refused")
        if x < 0.45:  # INSERT / INSERT OR REPLACE
            verb = "INSERT OR REPLACE" if r.random() < 0.4 else "INSERT"
            f = self.fields(coll, insert=True)
            if tg:
                f["tag"] = tg
            if coll == "late":
                return ("%s INTO late(_id, _doc) VALUES ('%s', '%s')"
                        % (verb, r.choice(ids), json.dumps(f)), tg, "insert")
            cols = ["_id"] + list(f)
            vals = [lit(r.choice(ids))] + [lit(v) for v in f.values()]
            return ("%s INTO %s(%s) VALUES (%s)" % (verb, coll, ", ".join(cols), ", ".join(vals)),
                    tg, "insert")
        if x < 0.78:  # UPDATE
            f = self.fields(coll, insert=False)
            if tg:
                f["tag"] = tg
            if not f:
                f["n"] = r.randint(0, 60)
            if coll != "late" and r.random() < 0.08:  # the whole document through _doc
                doc = self.fields(coll, insert=True)
                if tg:
                    doc["tag"] = tg
                sets = "_doc = '%s'" % json.dumps(doc)
            else:
                sets = ", ".join("%s = %s" % (k, lit(v)) for k, v in f.items())
            return "UPDATE %s SET %s WHERE %s" % (coll, sets, self.where(coll)), tg, "other"
        return "DELETE FROM %s WHERE %s" % (coll, self.where(coll)), None, "other"

    def fields(self, coll, insert):
        r = self.rng
        f = {}
        null = (lambda v: None if (not insert and r.random() < 0.2) else v)
        if coll == "item":
            if r.random() < (0.85 if insert else 0.3):
                f["name"] = null(r.choice(NAMES))
            if r.random() < (0.7 if insert else 0.5):
                f["n"] = null(r.randint(0, 60))
            if r.random() < 0.4:
                f["flag"] = null(r.random() < 0.5)
            if r.random() < 0.12:
                f["note"] = null(r.choice(["x", "y"]))
        elif coll == "users":
            if r.random() < (0.9 if insert else 0.4):
                f["email"] = null(r.choice(EMAILS))
            if r.random() < 0.5:
                f["name"] = null(r.choice(NAMES))
            if r.random() < 0.4:
                f["n"] = null(r.randint(0, 60))
            if r.random() < 0.1:
                f["nick"] = null(r.choice(NICKS))
        else:
            if insert:
                if r.random() < 0.8:
                    f["a"] = r.choice(NAMES)
                if r.random() < 0.5:
                    f["b"] = r.randint(-3, 9)
            if r.random() < 0.6:
                f["n"] = null(r.randint(0, 60))
        if not insert and coll == "late":
            f.pop("a", None)
        return f

    def where(self, coll):
        r = self.rng
        x = r.random()
        if x < 0.72:
            return "_id = '%s'" % r.choice(IDS[coll])
        if x < 0.87:
            return "n %s %d" % (r.choice(["<", ">"]), r.randint(0, 60))
        if coll == "users":
            return "email = '%s'" % r.choice(EMAILS)
        if coll == "item":
            return r.choice(["flag = 1", "name = '%s'" % r.choice(NAMES), "tag IS NULL"])
        return "_id IN ('l0', 'l1')"

    def run_stmt(self, p, sql, tg, kind, txn_tags):
        """Run one write; returns True when it succeeded."""
        rows = p.q(sql)
        err = error_of(rows)
        if kind == "refused":
            self.refused_tried += 1
        if err:
            self.note_error(err, sql)
            if tg:
                self.forbidden.add(tg)
            return False
        if kind == "refused":
            self.must_fail.append((tg, sql))
        elif tg is not None:
            txn_tags.append((tg, kind))
        return True

    def step_write(self):
        r = self.rng
        s = r.choice(self.live())
        p = s.peer
        colls = ["item", "users", "late"]
        shape = r.random()
        if shape < 0.35:  # autocommit: one statement, one record
            coll = r.choices(colls, [5, 4, 1])[0]
            sql, tg, kind = self.gen_write(coll)
            tags = []
            if self.run_stmt(p, sql, tg, kind, tags):
                self.commit_tags(tags)
            self.count("autocommit")
            if r.random() < 0.04:
                self.kill(s)  # right after a write: it must survive
                self.count("kill after write")
            return
        # A transaction of 1-4 statements (and maybe a savepoint rolled back).
        # A deferred one may meet "database is locked" when the node wrote
        # between its first read and its first write (SQLite's WAL rule).
        p.q("BEGIN IMMEDIATE" if r.random() < 0.7 else "BEGIN")
        tags = []
        for _ in range(r.randint(1, 4)):
            sql, tg, kind = self.gen_write(r.choices(colls, [5, 4, 1])[0])
            self.run_stmt(p, sql, tg, kind, tags)
        if r.random() < 0.15:
            p.q("SAVEPOINT sp")
            sp_tags = []
            for _ in range(r.randint(1, 2)):
                sql, tg, kind = self.gen_write(r.choices(colls, [5, 4, 1])[0])
                self.run_stmt(p, sql, tg, kind, sp_tags)
            p.q("ROLLBACK TO sp")
            p.q("RELEASE sp")
            self.forbidden.update(t for t, _ in sp_tags)
            self.count("rollback to savepoint")
        jt = "j%d-%d" % (self.seed, self.ntag)
        self.ntag += 1
        err = error_of(p.q("INSERT INTO jrnl(_id, p) VALUES ('%s', '%s')" % (jt, s.name)))
        if err:
            self.note_error(err, "journal insert")
            self.forbidden.add(jt)
        else:
            tags.append((jt, "journal"))
        end = r.random()
        if end < 0.1:
            p.q("ROLLBACK")
            self.forbidden.update(t for t, _ in tags)
            self.count("rollback")
        elif end < 0.14:  # killed inside the transaction: nothing of it may stay
            self.kill(s)
            self.forbidden.update(t for t, _ in tags)
            self.count("kill inside a transaction")
        elif end < 0.17:  # killed with COMMIT on its way: all of it or nothing
            p.send("COMMIT")
            time.sleep(r.uniform(0, 0.01))
            self.kill(s)
            self.uncertain.append([t for t, k in tags if k in ("insert", "journal")])
            self.count("kill during COMMIT")
        else:
            err = error_of(p.q("COMMIT"))
            if err:
                self.note_error(err, "COMMIT")
                p.q("ROLLBACK")
                self.uncertain.append([t for t, k in tags if k in ("insert", "journal")])
            else:
                self.commit_tags(tags)
                self.count("commit")
                if r.random() < 0.04:
                    self.kill(s)
                    self.count("kill after commit")

    def commit_tags(self, tags):
        for t, kind in tags:
            if kind in ("insert", "journal"):
                self.required.add(t)

    def phase(self):
        """A new phase: each peer online, running apart (offline) or down."""
        r = self.rng
        modes = [r.choices(["online", "offline", "down"], [5, 4, 2])[0] for _ in self.slots]
        if all(m == "down" for m in modes):
            modes[r.randrange(len(modes))] = "offline"
        self.trace.write("phase %s\n" % modes)
        self.count("phase")
        for s, m in zip(self.slots, modes):
            if m == "down" and s.peer is not None:
                self.stop(s)
            elif m == "offline" and s.state == "online":
                self.stop(s)
                self.start(s, False)
            elif m == "offline" and s.peer is None:
                self.start(s, False)
            elif m == "online":
                self.start(s, True)

    def step(self):
        r = self.rng
        live, online = self.live(), self.online()
        down = [s for s in self.slots if s.state != "online"]
        ops = [("write", 45), ("sync", 8 if online else 0), ("pause", 5),
               ("down", 4 if len(live) > 1 else 0), ("offline", 4 if online and len(live) > 1 else 0),
               ("up", 4 if down else 0), ("kill", 4 if len(live) > 1 else 0),
               ("copy", 1.5 if len(self.slots) < 6 else 0), ("alter", 4), ("define", 3)]
        op = r.choices([o for o, _ in ops], [w for _, w in ops])[0]
        if not live and op in ("write", "alter", "define"):
            op = "up"
        self.count(op)
        if op == "write":
            self.step_write()
        elif op == "sync":
            s = r.choice(online)
            s.peer.q("SELECT threads_sync('%s', %d)" % (self.tid, r.choice([300, 1000, 2000])))
        elif op == "pause":
            time.sleep(r.uniform(0.02, 0.3))
        elif op == "down":
            self.stop(r.choice(live))
        elif op == "offline":  # the process runs on without its node
            s = r.choice(online)
            self.stop(s)
            self.start(s, False)
        elif op == "up":
            self.start(r.choice(down), True)
        elif op == "kill":
            s = r.choice(live)
            if s.state == "online" and r.random() < 0.6:  # during a sync
                s.peer.send("SELECT threads_sync('%s', 2000)" % self.tid)
                time.sleep(r.uniform(0, 0.05))
                self.count("kill during sync")
            self.kill(s)
            if r.random() < 0.5:
                self.start(s, r.random() < 0.7)
        elif op == "copy":
            src = r.choice(self.slots)
            if src.peer is not None:
                if r.random() < 0.5:
                    self.stop(src)
                else:
                    self.kill(src)
            k = len(self.slots)
            dst = Slot("p%d" % k, os.path.join(self.dir, "p%d.db" % k))
            self.trace.write("copy %s -> %s\n" % (src.path, dst.path))
            shutil.copyfile(src.path, dst.path)
            if os.path.exists(src.path + "-wal"):
                shutil.copyfile(src.path + "-wal", dst.path + "-wal")
            self.slots.append(dst)
            self.start(dst, r.random() < 0.6)
            if r.random() < 0.6:
                self.start(src, True)
        elif op == "alter":
            if not live:
                return
            s = r.choice(live)
            coll = r.choices(["item", "users", "late"], [4, 4, 1])[0]
            schema = r.choice(VERSIONS[coll])
            rows = s.peer.q("SELECT threads_alter('%s', '%s')" % (coll, schema))
            err = error_of(rows)
            if err:
                self.note_error(err, "threads_alter")
            elif rows != ["1"]:
                self.fail("threads_alter returns 1", rows)
        elif op == "define":
            s = r.choice(live)
            schema = r.choice(LATE[:2])
            err = error_of(s.peer.q("CREATE VIRTUAL TABLE late USING threads(thread='%s', schema='%s')"
                                    % (self.tid, schema)))
            if err:
                self.note_error(err, "define late")
            else:
                self.count("late defined")

    # --- the end -------------------------------------------------------------
    def records(self, p):
        return frozenset(p.q("SELECT log, counter, cid FROM threads_records WHERE thread = '%s'" % self.tid))

    def settle(self, slots, seconds):
        deadline = time.time() + seconds
        prev = None
        rounds = 0
        while time.time() < deadline:
            rounds += 1
            for s in slots:
                s.peer.q("SELECT threads_sync('%s', 3000)" % self.tid)
            recs = [self.records(s.peer) for s in slots]
            same = all(x == recs[0] for x in recs)
            if same and recs[0] == prev:
                return True, rounds
            prev = recs[0] if same else None
        return False, rounds

    def diagnose(self):
        """Records held and what each node says of its peers (also to the
        trace)."""
        out = []
        for s in self.slots:
            n = len(self.records(s.peer))
            peers = s.peer.q("SELECT address, peer, last_contact IS NOT NULL, sent, received,"
                             " rejected, last_error FROM threads_peers")
            self.trace.write("diagnose %s (%s) records %d peers %s\n" % (s.name, s.addr, n, peers))
            out.append((s.name, s.addr, n, peers))
        return out

    def final(self):
        for s in self.slots:
            self.start(s, True)
        ok, rounds = self.settle(self.slots, 40)
        self.ok("every peer holds the same records after sync (%d rounds)" % rounds, ok,
                self.diagnose())
        fresh = Slot("fresh", os.path.join(self.dir, "fresh.db"))
        self.start(fresh, True)
        inviter = self.rng.choice(self.slots)
        got = fresh.peer.one("SELECT threads_join('%s')" % inviter.peer.one(
            "SELECT threads_invite('%s')" % self.tid), )
        self.ok("a fresh peer joins", got == self.tid, got)
        self.slots.append(fresh)
        ok, rounds = self.settle(self.slots, 25)
        self.ok("the fresh peer catches up", ok, self.diagnose())
        self.compare()

    def snapshot(self, p):
        tid = self.tid
        snap = {"records": self.records(p)}
        snap["schemas"] = dict(tuple(x.split("|", 1)) for x in p.q(
            "SELECT name, schema FROM _threads_collection ORDER BY name"))
        snap["rows"] = {}
        for c in sorted(snap["schemas"]):
            rows = p.q("SELECT json_array(_id, _doc) FROM \"%s\" ORDER BY _id" % c)
            if error_of(rows):
                snap["rows"][c] = error_of(rows)
            else:
                snap["rows"][c] = [(i, json.loads(d)) for i, d in (json.loads(x) for x in rows)]
        snap["conflicts"] = p.q(
            "SELECT json_array(collection, _id, action, reason, fields, hlc, log, cid, idx)"
            " FROM threads_conflicts WHERE thread = '%s'" % tid)
        snap["changes"] = p.q(
            "SELECT json_array(collection, _id, action, json, hlc, log, cid, idx)"
            " FROM threads_changes WHERE thread = '%s' AND kinds = 'all'" % tid)
        snap["rejects"] = dict(tuple(x.split("|")) for x in p.q(
            "SELECT reason, count FROM threads_rejects WHERE thread = '%s'" % tid)
            if "|" in x)
        return snap

    def compare(self):
        snaps = {}
        for s in self.slots:
            snaps[s.name] = self.snapshot(s.peer)
        names = [s.name for s in self.slots]
        ref = snaps["fresh"]

        def same(key, what):
            diff = [n for n in names if snaps[n][key] != ref[key]]
            self.ok("every peer has the same %s" % what, not diff,
                    [(n, self.diff(snaps[n][key], ref[key])) for n in diff][:3])
        same("records", "records")
        same("schemas", "schemas")
        same("rows", "rows")
        same("conflicts", "conflicts (hidden columns included)")
        for n in names:  # threads_changes lists them in the order each file stored them
            snaps[n]["changes"] = sorted(snaps[n]["changes"])
        same("changes", "actions in threads_changes")

        # Model input: the thread's actions, from the fresh peer.
        err = error_of(ref["changes"])
        if err:
            self.fail("threads_changes lists actions with hlc, log, cid, idx, json", err)
            return
        actions = []
        for x in ref["changes"]:
            c, i, a, js, h, lg, cid, idx = json.loads(x)
            actions.append({"collection": c, "_id": i, "action": a, "json": js, "hlc": h,
                            "log": lg, "cid": cid, "idx": idx})
        self.stats["actions"] = len(actions)
        self.ok("every action has its place in the order (hlc, log, cid, idx)",
                all(a["hlc"] is not None and a["log"] and a["cid"] and a["idx"] is not None
                    for a in actions), [a for a in actions if not a["cid"]][:3])
        keys = [order_key(a) for a in actions if a["cid"]]
        self.ok("no two actions share a place in the order", len(set(keys)) == len(keys))
        with open("actions-%d.json" % self.seed, "w") as f:  # the model's input, to replay it
            json.dump(actions, f, indent=0)
        colls, confs = run_model([a for a in actions if a["cid"]])
        self.stats["model conflicts"] = len(confs)
        for why in ("schema", "unique", "missing"):
            self.stats["conflicts " + why] = sum(1 for c in confs if c["reason"] == why)

        want_schemas = {n: c.schema for n, c in colls.items()}
        self.ok("schemas are the model's", ref["schemas"] == want_schemas,
                self.diff(ref["schemas"], want_schemas))
        for n, c in sorted(colls.items()):
            want = [(i, c.docs[i]) for i in sorted(c.docs)]
            got = ref["rows"].get(n)
            self.ok("rows of %s are the model's" % n, got == want, self.diff(got, want))
        want_conf = [[c["collection"], c["_id"], c["action"], c["reason"], c["json"],
                      c["hlc"], c["log"], c["cid"], c["idx"]] for c in confs]
        got_conf = [json.loads(x) for x in ref["conflicts"]] if not error_of(ref["conflicts"]) else ref["conflicts"]
        self.ok("threads_conflicts is the model's list", sorted(map(json.dumps, got_conf)) ==
                sorted(map(json.dumps, want_conf)), self.diff(got_conf, want_conf))
        by_coll = (lambda rows: [r for c in sorted({r[0] for r in rows}) for r in rows if r[0] == c])
        self.ok("threads_conflicts lists each collection's in the thread's order",
                by_coll(got_conf) == by_coll(want_conf), self.diff(by_coll(got_conf), by_coll(want_conf)))
        # threads_rejects counts the skipped actions by reason.
        for n in names:
            rej = snaps[n]["rejects"]
            got = {k: int(v) for k, v in rej.items() if k in ("schema", "unique", "missing")}
            want = {}
            for c in confs:
                want[c["reason"]] = want.get(c["reason"], 0) + 1
            if got != want:
                self.fail("threads_rejects of %s counts threads_conflicts by reason" % n, (got, want))
            if int(rej.get("fork", 0)):
                self.fail("no fork on %s (copies write new logs)" % n, rej)
            other = {k: v for k, v in rej.items() if k not in ("schema", "unique", "missing", "fork")}
            if other:
                print("INFO seed %d: %s threads_rejects also counts %s" % (self.seed, n, other))
        # What was committed is there; what was not is nowhere.
        texts = [a["json"] or "" for a in actions]
        for n in names:
            texts.append(json.dumps(snaps[n]["rows"]))
            texts.extend(snaps[n]["conflicts"])
        blob = "\n".join(texts)
        jrnl = set(colls["jrnl"].docs) if "jrnl" in colls else set()
        lost = sorted(t for t in self.required
                      if (t not in jrnl if t.startswith("j") else '"%s"' % t not in blob))
        self.ok("every committed transaction and INSERT is in the thread (%d)" % len(self.required),
                not lost, lost[:20])
        leaked = sorted(t for t in self.forbidden if '"%s"' % t in blob or t in jrnl)
        self.ok("nothing of a rolled-back, killed or refused statement is anywhere (%d)"
                % len(self.forbidden), not leaked, leaked[:20])
        halves = [g for g in self.uncertain if not self.all_or_nothing(g, jrnl, blob)]
        self.ok("a transaction killed during COMMIT is all there or not at all", not halves, halves[:5])
        refused = [sql for tg, sql in self.must_fail]
        self.ok("writes every schema refuses are refused (%d tried)" % self.refused_tried,
                not refused, refused[:5])
        self.ok("no alarming error from a statement", not self.alarms, self.alarms[:5])
        # Every file verifies; a rebuild changes nothing.
        for s in self.slots:
            p = s.peer
            n = len(snaps[s.name]["records"])
            v = p.one("SELECT threads_verify('%s')" % self.tid)
            if v != str(n):
                self.fail("threads_verify on %s checks every record" % s.name, (v, n))
            ic = p.q("PRAGMA integrity_check")
            if ic != ["ok"]:
                self.fail("integrity_check on %s" % s.name, ic)
        fp = self.slots[-1].peer
        for n in sorted(colls):
            before = ref["rows"].get(n)
            # The fresh peer's node may hold the write lock past the busy
            # timeout on a slow (sanitized) build: that is SQLite's answer,
            # not a rebuild that changed something; ask again.
            for _ in range(10):
                r = fp.q("SELECT threads_rebuild('%s')" % n)
                if "database is locked" not in (error_of(r) or ""):
                    break
                time.sleep(0.5)
            after = [(i, json.loads(d)) for i, d in (json.loads(x) for x in
                                                     fp.q("SELECT json_array(_id, _doc) FROM \"%s\" ORDER BY _id" % n))]
            if after != before or error_of(r):
                self.fail("threads_rebuild('%s') on the fresh peer changes nothing" % n,
                          (r, self.diff(after, before)))

    def all_or_nothing(self, group, jrnl, blob):
        there = [(t in jrnl) if t.startswith("j") else ('"%s"' % t in blob) for t in group]
        return all(there) or not any(there)

    @staticmethod
    def diff(got, want):
        if isinstance(got, dict) and isinstance(want, dict):
            return {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}
        if isinstance(got, (list, frozenset, set)) and isinstance(want, (list, frozenset, set)):
            g, w = list(got), list(want)
            extra = [x for x in g if x not in w]
            miss = [x for x in w if x not in g]
            if not extra and not miss:
                return {"order differs": True, "got": g[:10], "want": w[:10]}
            return {"not expected": extra[:10], "missing": miss[:10]}
        return (got, want)

    def go(self):
        t0 = time.time()
        try:
            self.setup()
            for k in range(self.steps):
                if k % 25 == 0 or self.rng.random() < 0.02:
                    self.phase()
                self.step()
            t1 = time.time()
            self.final()
        except Exception as e:  # a peer that died or hung is a failure of this seed
            import traceback
            traceback.print_exc(file=self.trace)
            self.fail("runs to the end without a peer dying or hanging", repr(e))
            t1 = time.time()
        finally:
            for s in self.slots:
                if s.peer is not None and s.peer.alive():
                    self.closed(s)
        print("INFO seed %d: %d peers, %d steps in %.1f s, end in %.1f s; %s; errors %s"
              % (self.seed, len(self.slots), self.steps, t1 - t0, time.time() - t1,
                 ", ".join("%s %d" % kv for kv in sorted(self.stats.items())),
                 self.errors))
        self.trace.close()
        return self.fails


def seeds_from(text):
    out = []
    for part in text.split(","):
        part = part.strip()
        if part.startswith("random:"):
            rnd = random.SystemRandom()
            out.extend(rnd.randrange(1, 10**6) for _ in range(int(part[7:])))
        elif "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


def main():
    seeds = seeds_from(os.environ.get("CONVERGE_SEEDS", "1-3"))
    steps = int(os.environ.get("CONVERGE_STEPS", "150"))
    model_selftest()
    print("INFO converge: seeds %s, %d steps, avoiding %s" % (seeds, steps, sorted(AVOID) or "nothing"))
    t0 = time.time()
    failed = []
    budget = float(os.environ.get("CONVERGE_BUDGET", "200"))  # seconds; 0: none
    ran = 0
    try:
        for seed in seeds:
            if budget and ran and time.time() - t0 > budget:
                print("INFO converge: time budget of %d s spent; seeds %s not run" % (budget, seeds[ran:]))
                break
            ran += 1
            if Run(seed, steps).go():
                failed.append(seed)
    finally:
        for p in ALL:
            if p.alive():
                p.kill9()
    print("INFO converge: %d seeds x %d steps in %.1f s; seeds that failed: %s"
          % (ran, steps, time.time() - t0, failed or "none"))
    done()


if __name__ == "__main__":
    main()
