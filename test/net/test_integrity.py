"""Integrity under the merge rule (DESIGN.md "Merge rule"): peers that wrote
while apart end with the same schema, the same rows and the same list of
skipped actions, and nothing stops their sync.

Each scenario: A creates a thread, B joins it, B's process goes away (the
two are apart), both write, B comes back and both sync.  Every expectation
is worked out here from what the peers were told to write and the order
of their clocks (B writes after A in each scenario, so B's actions come
later in the thread's order).
"""
import json
import time

from netlib import Peer, addr, check, done, wait_for


S_ANY = '{"type":"object"}'


def docs(peer, table):
    return sorted(peer.q("SELECT _id, _doc FROM %s" % table))


def conflicts(peer):
    return sorted(peer.q("SELECT collection, _id, action, reason, fields"
                         " FROM threads_conflicts"))


def pair(name):
    a = Peer("%s-a.db" % name)
    a.q("SELECT threads_create('t')")
    addr_a = addr()
    a.q("SELECT threads_listen('%s')" % addr_a)
    invite = a.one("SELECT threads_invite('t')")
    b = Peer("%s-b.db" % name)
    addr_b = addr()
    b.q("SELECT threads_listen('%s')" % addr_b)
    b.q("SELECT threads_join('%s')" % invite)
    return a, b, addr_b, a.one("SELECT id FROM threads WHERE name = 't'")


def apart(b):
    """B's process ends: from now on A cannot reach it."""
    b.close()


def back(name):
    """B's file in a new process that does not sync yet: still apart."""
    return Peer("%s-b.db" % name)


def join_again(b, addr_b):
    b.q("SELECT threads_listen('%s')" % addr_b)


def ok_sql(peer, sql, what):
    err = peer.one(sql)
    check(what, err is None, err)


def sync_until(a, b, fn, seconds=20):
    def go():
        for p in (a, b):
            p.q("SELECT threads_sync(id, 2000) FROM threads")
        return fn()
    return wait_for(go, seconds)


# --- 2. the node mounts a new collection under an open connection ---------
a, b, addr_b, tid = pair("mount")
a.q("CREATE VIRTUAL TABLE first USING threads(thread='t', schema='%s')" % S_ANY)
a.q("INSERT INTO first(_id) VALUES ('f1')")
ok = sync_until(a, b, lambda: b.one("SELECT count(*) FROM first") == "1")
check("B's open connection reads the first collection", ok)
a.q("CREATE VIRTUAL TABLE second USING threads(thread='t', schema='%s')" % S_ANY)
a.q("INSERT INTO second(_id) VALUES ('s1')")
ok = sync_until(a, b, lambda: b.one("SELECT count(*) FROM sqlite_schema"
                                    " WHERE name = 'second'") == "1")
check("B's node mounts the second collection", ok)
r = b.one("SELECT count(*) FROM threads_records WHERE thread = '%s'" % tid)
check("B's open connection still finds the thread", r is not None and
      not r.startswith("ERROR"), r)
err = b.one("INSERT INTO first(_id) VALUES ('f2')")
check("...and writes to it", err is None, err)
r = b.one("SELECT count(*) FROM second")
check("...and reads the new collection", r == "1", r)
a.close()
b.close()

# --- 6. delete on A, later update of another field on B ----------------------
TODO = ('{"type":"object","properties":{"_id":{"type":"string"},'
        '"title":{"type":"string"},"done":{"type":"boolean"}},'
        '"required":["title"]}')
a, b, addr_b, tid = pair("del")
a.q("CREATE VIRTUAL TABLE todo USING threads(thread='t', schema='%s')" % TODO)
a.q("INSERT INTO todo(_id, title, done) VALUES ('bread', 'buy bread', 0)")
a.q("INSERT INTO todo(_id, title, done) VALUES ('milk', 'buy milk', 0)")
ok = sync_until(a, b, lambda: b.one("SELECT count(*) FROM todo") == "2")
check("B has A's two todos", ok, docs(b, "todo"))
apart(b)
a.q("DELETE FROM todo WHERE _id = 'bread'")
time.sleep(0.01)
b = back("del")
ok_sql(b, "UPDATE todo SET done = 1 WHERE _id = 'bread'",
       "B's offline update of bread is accepted")
ok_sql(b, "UPDATE todo SET done = 1 WHERE _id = 'milk'", "...and of milk")
join_again(b, addr_b)
want = ['milk|{"_id":"milk","done":true,"title":"buy milk"}']
ok = sync_until(a, b, lambda: docs(a, "todo") == want and docs(b, "todo") == want)
check("a delete then a later save of another field: the document stays"
      " deleted on both", ok, (docs(a, "todo"), docs(b, "todo")))
wantc = ['todo|bread|save|missing|{"_id":"bread","done":true}']
check("the save that found no document is listed on both (missing)",
      conflicts(a) == wantc and conflicts(b) == wantc, (conflicts(a), conflicts(b)))
err = b.one("INSERT INTO todo(_id, title) VALUES ('bread', 'bread again')")
check("bread can be created again on B", err is None, err)
ok = sync_until(a, b, lambda: a.one("SELECT title FROM todo WHERE _id='bread'") == "bread again")
check("...and that reaches A", ok)
rej = a.q("SELECT reason, count FROM threads_rejects WHERE thread = 't'")
check("threads_rejects counts the skipped save", "missing|1" in rej, rej)
a.close()
b.close()

# --- 4. a unique value written on both sides while apart ----------------------
USERS = ('{"type":"object","properties":{"_id":{"type":"string"},'
         '"email":{"type":"string","unique":true},"n":{"type":"integer"}}}')
a, b, addr_b, tid = pair("uniq")
a.q("CREATE VIRTUAL TABLE users USING threads(thread='t', schema='%s')" % USERS)
a.q("INSERT INTO users(_id, email, n) VALUES ('u0', 'zero@x', 0)")
ok = sync_until(a, b, lambda: b.one("SELECT count(*) FROM users") == "1")
check("B has A's user", ok)
apart(b)
a.q("INSERT INTO users(_id, email, n) VALUES ('ua', 'same@x', 1)")
time.sleep(0.01)
b = back("uniq")
ok_sql(b, "INSERT INTO users(_id, email, n) VALUES ('ub', 'same@x', 2)",
       "B's offline insert of the same email is accepted")
join_again(b, addr_b)
want = sorted(['u0|{"_id":"u0","email":"zero@x","n":0}',
               'ua|{"_id":"ua","email":"same@x","n":1}'])
ok = sync_until(a, b, lambda: docs(a, "users") == want and docs(b, "users") == want)
check("the same unique value on both sides: the first in the order stays,"
      " on both", ok, (docs(a, "users"), docs(b, "users")))
wantc = ['users|ub|create|unique|{"_id":"ub","email":"same@x","n":2}']
check("the later create is listed on both (unique)",
      conflicts(a) == wantc and conflicts(b) == wantc, (conflicts(a), conflicts(b)))
place = "SELECT hlc, log, cid, idx FROM threads_conflicts"
cid_b = b.one("SELECT cid FROM threads_records WHERE counter = 1 AND log ="
              " (SELECT log FROM threads_conflicts)")
check("the conflict's place in the order is the same on both, the CID of"
      " B's record included (B wrote it before its record was sealed)",
      a.q(place) == b.q(place) and cid_b and a.one("SELECT cid FROM threads_conflicts") == cid_b,
      (a.q(place), b.q(place), cid_b))
a.q("INSERT INTO users(_id, email, n) VALUES ('a2', 'a2@x', 3)")
b.q("INSERT INTO users(_id, email, n) VALUES ('b2', 'b2@x', 4)")
ok = sync_until(a, b, lambda: len(docs(a, "users")) == 4 and docs(a, "users") == docs(b, "users"))
check("sync goes on in both directions after the unique conflict", ok,
      (docs(a, "users"), docs(b, "users")))
err = b.one("INSERT INTO users(_id, email) VALUES ('b3', 'zero@x')")
check("a local duplicate is refused at once",
      err is not None and "UNIQUE" in err, err)
a.close()
b.close()

# --- 3. the same new collection defined with two schemas while apart ----------
SA = ('{"type":"object","properties":{"_id":{"type":"string"},'
      '"title":{"type":"string"}},"required":["title"]}')
SB = ('{"type":"object","properties":{"_id":{"type":"string"},'
      '"name":{"type":"string"}},"required":["name"]}')
a, b, addr_b, tid = pair("def")
apart(b)
a.q("CREATE VIRTUAL TABLE notes USING threads(thread='t', schema='%s')" % SA)
a.q("INSERT INTO notes(_id, title) VALUES ('na', 'from a')")
time.sleep(0.01)
b = back("def")
ok_sql(b, "CREATE VIRTUAL TABLE notes USING threads(thread='%s', schema='%s')"
       % (tid, SB),
       "B defines notes offline with another schema")
ok_sql(b, "INSERT INTO notes(_id, name) VALUES ('nb', 'from b')",
       "...and writes to it")
join_again(b, addr_b)
want = ['na|{"_id":"na","title":"from a"}']
schema = "SELECT schema FROM _threads_collection WHERE name = 'notes'"
ok = sync_until(a, b, lambda: docs(a, "notes") == want and docs(b, "notes") == want)
check("two definitions of one collection: the same rows on both", ok,
      (docs(a, "notes"), docs(b, "notes")))
check("...and the same schema, the first definition's",
      a.one(schema) == SA and b.one(schema) == SA, (a.one(schema), b.one(schema)))
wantc = sorted(['notes||collection|schema|' + SB,
                'notes|nb|create|schema|{"_id":"nb","name":"from b"}'])
check("the later definition and the write it allowed are listed on both",
      conflicts(a) == wantc and conflicts(b) == wantc, (conflicts(a), conflicts(b)))
a.close()
b.close()

# --- 7. input a document cannot hold is refused at write --------------------
# Text must be UTF-8 without NUL, numbers finite: what is refused is never
# signed, so the writer's log stays readable and its sync goes on.
NUMS = ('{"type":"object","properties":{"_id":{"type":"string"},'
        '"s":{"type":"string"},"n":{"type":"number"},"i":{"type":"integer"},'
        '"j":{"type":"object"}}}')
a, b, addr_b, tid = pair("input")
a.q("CREATE VIRTUAL TABLE vals USING threads(thread='t', schema='%s')" % NUMS)
bad = [
    ("INSERT INTO vals(_id, s) VALUES ('u1', CAST(x'61ff62' AS TEXT))",
     "vals: field s: text is not valid UTF-8"),
    ("INSERT INTO vals(_id, s) VALUES ('u2', CAST(x'eda080' AS TEXT))",
     "vals: field s: text is not valid UTF-8"),          # a surrogate
    ("INSERT INTO vals(_id, s) VALUES ('u3', CAST(x'c0af' AS TEXT))",
     "vals: field s: text is not valid UTF-8"),          # an overlong '/'
    ("INSERT INTO vals(_id, s) VALUES (CAST(x'ff' AS TEXT), 'x')",
     "vals: _id: text is not valid UTF-8"),
    ("INSERT INTO vals(_id, s) VALUES ('u4', 'a' || char(0) || 'b')",
     "vals: field s: text holds a NUL character"),
    ("INSERT INTO vals(_id, s) VALUES ('a' || char(0) || 'b', 'x')",
     "vals: _id: text holds a NUL character"),
    ("INSERT INTO vals(_id, n) VALUES ('inf', 1e400)",
     "vals: field n: infinity and NaN are not JSON numbers"),
    ("INSERT INTO vals(_id, n) VALUES ('ninf', -1e400)",
     "vals: field n: infinity and NaN are not JSON numbers"),
    ("INSERT INTO vals(_id, _doc) VALUES ('d1', '{\"s\":\"a\\u0000b\"}')",
     "vals: _doc is not valid JSON"),
]
for sql, want in bad:
    err = a.one(sql) or ""
    check("refused with the field named: %s" % want,
          err.startswith("ERROR: " + want), (sql, err))
r = a.one("SELECT count(*) FROM vals")
check("...and nothing of them is stored", r == "0", r)
a.q("INSERT INTO vals(_id, s, n) VALUES ('ok', 'fine', 1.5)")
err = a.one("UPDATE vals SET n = 1e400 WHERE _id = 'ok'") or ""
check("an UPDATE is checked too",
      err.startswith("ERROR: vals: field n: infinity and NaN"), err)
r = a.one("SELECT n FROM vals WHERE _id = 'ok'")
check("...and changes nothing", r == "1.5", r)
err = a.one("SELECT threads_verify('%s')" % tid)
check("the writer's log still verifies", err is not None and not err.startswith("ERROR"), err)
# Exact values: -0.0 and integers to 2^63-1, in "number" and "integer".
a.q("INSERT INTO vals(_id, n) VALUES ('negz', -0.0)")
a.q("INSERT INTO vals(_id, n, i) VALUES ('big', 9223372036854775807,"
    " 9223372036854775807)")
a.q("INSERT INTO vals(_id, n, i) VALUES ('odd', 9007199254740993,"
    " -9223372036854775808)")
want = sorted(["big|9223372036854775807|9223372036854775807",
               "negz|-0.0|", "odd|9007199254740993|-9223372036854775808",
               "ok|1.5|"])
got = a.q("SELECT _id, n, i FROM vals ORDER BY _id")
check("-0.0 and integers to 2^63-1 read back exactly on the writer",
      got == want, got)
ok = sync_until(a, b, lambda: b.q("SELECT _id, n, i FROM vals ORDER BY _id") == want)
check("...and on a peer, whose sync went on", ok,
      b.q("SELECT _id, n, i FROM vals ORDER BY _id"))
d = b.one("SELECT _doc FROM vals WHERE _id = 'big'")
check("the document holds the exact integers",
      d == '{"_id":"big","i":9223372036854775807,"n":9223372036854775807}', d)
a.close()
b.close()

# --- alters on both sides while apart: the later one is in force ------------
S0 = ('{"type":"object","properties":{"_id":{"type":"string"},'
      '"name":{"type":"string"}},"required":["name"]}')
S1 = ('{"type":"object","properties":{"_id":{"type":"string"},'
      '"name":{"type":"string"},"email":{"type":"string","unique":true}},'
      '"required":["name"]}')
S2 = ('{"type":"object","properties":{"_id":{"type":"string"},'
      '"name":{"type":"string"},"phone":{"type":"string","index":true}}}')
a, b, addr_b, tid = pair("alt")
a.q("CREATE VIRTUAL TABLE people USING threads(thread='t', schema='%s')" % S0)
a.q("INSERT INTO people(_id, name) VALUES ('p1', 'Ann')")
ok = sync_until(a, b, lambda: b.one("SELECT count(*) FROM people") == "1")
check("B has A's person", ok)
apart(b)
r = a.one("SELECT threads_alter('people', '%s')" % S1)
check("A alters people (email)", r == "1", r)
err = a.one("SELECT email FROM people WHERE _id = 'p1'")
check("A's table has the new column at once", err == "", err)
ok_sql(a, "UPDATE people SET email = 'ann@x' WHERE _id = 'p1'", "A sets an email")
time.sleep(0.01)
b = back("alt")
r = b.one("SELECT threads_alter('people', '%s')" % S2)
check("B alters people (phone)", r == "1", r)
ok_sql(b, "INSERT INTO people(_id, phone) VALUES ('p2', '555')",
       "B writes a person without a name (S2 allows it)")
join_again(b, addr_b)
schema = "SELECT schema FROM _threads_collection WHERE name = 'people'"
want = sorted(['p1|{"_id":"p1","email":"ann@x","name":"Ann"}',
               'p2|{"_id":"p2","phone":"555"}'])
ok = sync_until(a, b, lambda: a.one(schema) == S2 and b.one(schema) == S2 and
                docs(a, "people") == want and docs(b, "people") == want)
check("concurrent alters: the later is in force on both, and the rows agree",
      ok, (a.one(schema), b.one(schema), docs(a, "people"), docs(b, "people")))
a.close()
b.close()
b = back("alt")
cols = b.q("SELECT name FROM pragma_table_info('people')")
check("a reopened table has the columns of the schema in force",
      cols == ["_id", "name", "phone"], cols)
b.close()
done()
