"""Topologies: a chain of five peers, a restarted peer that resumes where
it stopped, and a follower that relays a writer's records while the writer
is offline.  Expected rows are what the test told the peers to write.
"""
import urllib.parse

from netlib import Peer, addr, check, done, wait_for

SCHEMA = ('{"type":"object","properties":{"_id":{"type":"string"},'
          '"name":{"type":"string"}},"required":["name"]}')


def rows(peer):
    return set(peer.q("SELECT _id, name FROM item"))


def n_records(peer, tid):
    return int(peer.one("SELECT count(*) FROM threads_records WHERE thread = '%s'" % tid))


def with_only_addr(invite, address):
    """The invite with its addresses replaced by one (invites are text a
    user passes on; the keys in it are unchanged)."""
    base, query = invite.split("?", 1)
    params = [p for p in query.split("&") if not p.startswith("addr=")]
    params.append("addr=" + urllib.parse.quote(address, safe=""))
    return base + "?" + "&".join(params)


# --- a chain of five: each joins the one before ------------------------------
peers = [Peer("p%d.db" % i) for i in range(5)]
addrs = [addr() for _ in peers]
p0 = peers[0]
p0.q("SELECT threads_create('t')")
p0.q("CREATE VIRTUAL TABLE item USING threads(thread='t', schema='%s')" % SCHEMA)
p0.q("SELECT threads_listen('%s')" % addrs[0])
tid = p0.one("SELECT id FROM threads WHERE name = 't'")
read_invite = p0.one("SELECT threads_invite('t', 'read')")
for i in range(1, 5):
    peers[i].q("SELECT threads_listen('%s')" % addrs[i])
    got = peers[i].one("SELECT threads_join('%s')" % peers[i - 1].one("SELECT threads_invite('%s')" % tid))
    check("chain: peer %d joins through peer %d" % (i, i - 1), got == tid, got)
want = set()
for i, p in enumerate(peers):
    for k in range(2):
        p.q("INSERT INTO item(_id, name) VALUES ('p%d-%d', 'from %d')" % (i, k, i))
        want.add("p%d-%d|from %d" % (i, k, i))
ok = wait_for(lambda: all(rows(p) == want for p in peers), 30)
check("chain of five: every peer holds every write", ok, [len(rows(p)) for p in peers])
ok = wait_for(lambda: peers[4].one("SELECT count(*) FROM threads_peers WHERE address = '%s'" % addrs[0]) == "1")
check("chain of five: the last peer learned the first one's address", ok)

# --- a restarted peer resumes where it stopped --------------------------------
p2_before = n_records(peers[2], tid)
peers[2].close()
for k in range(40):
    p0.q("INSERT INTO item(_id, name) VALUES ('late-%d', 'while p2 is away')" % k)
    want.add("late-%d|while p2 is away" % k)
ok = wait_for(lambda: rows(peers[4]) == want, 30)
check("the others sync while peer 2 is away", ok)
peers[2] = Peer("p2.db")
got = peers[2].one("SELECT threads_sync('%s', 20000)" % tid)
check("restart: threads_sync receives the 40 new records, not what it had",
      got == "40", (got, p2_before))
check("restart: peer 2 holds every write", rows(peers[2]) == want)
check("restart: record count is the old count plus 40", n_records(peers[2], tid) == p2_before + 40)

# --- a follower relays while the writers are offline ---------------------------
f = Peer("f.db")
f_addr = addr()
f.q("SELECT threads_listen('%s')" % f_addr)
f.q("SELECT threads_join('%s')" % p0.one("SELECT threads_invite('t', 'follow')"))
total = n_records(p0, tid)
ok = wait_for(lambda: n_records(f, tid) == total, 15)
check("follower holds every record", ok, (n_records(f, tid), total))
for p in peers:
    p.close()
n = Peer("n.db")
got = n.one("SELECT threads_join('%s')" % with_only_addr(read_invite, f_addr))
check("new member joins through the follower alone", got == tid, got)
ok = wait_for(lambda: n_records(n, tid) == total, 15)
check("new member receives the writers' records from the follower", ok)
check("new member reads every row", rows(n) == want, len(rows(n)))
check("new member verifies every record", n.one("SELECT threads_verify('%s')" % tid) == str(total))
n.close()
f.close()
done()
