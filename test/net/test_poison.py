"""Issue 12, defect 5 (and 6): a member announces addresses by the
hundred.  See member.py for the setting and the bounds."""
import time

import evil
from member import close_under_attack, ids, nfd, setting
from netlib import check, done, wait_for

s = setting()
a, b, addr_a, wire = s["a"], s["b"], s["addr_a"], s["wire"]
a_pk, a_big_ctr, pid_a, rss0 = s["a_pk"], s["a_big_ctr"], s["pid_a"], s["rss0"]

# --- 5. addresses by the hundred ---------------------------------------------
# 2,000 loopback addresses where nothing listens, 16 per heads request.
poison = ["tcp://127.%d.%d.%d:9" % (1 + i // 65536, (i // 256) % 256, i % 256 or 1)
          for i in range(1, 2001)]
c = evil.Client(addr_a)
for i in range(0, len(poison), 16):
    c.request(wire.seal({"op": "heads", "digest": b"\0" * 32, "addrs": poison[i:i + 16]}))
c.close()
time.sleep(2)
t0 = time.time()
a.q("SELECT threads_sync('t')")
took = time.time() - t0
check("5: a sync takes under 2 s", took < 2, "%.1f s" % took)
n = nfd(pid_a)
check("5: A's descriptors stay under 256", n < 256, n)
known = int(a.one("SELECT count(*) FROM threads_peers WHERE address LIKE '%:9'") or 0)
check("5: A holds a bounded number of the announced addresses", known <= 64, known)
b.q("SELECT threads_sync('t')")
time.sleep(1)
b.q("SELECT threads_sync('t')")
spread = int(b.one("SELECT count(*) FROM threads_peers WHERE address LIKE '%:9'") or 0)
check("5: none reaches B through discovery", spread == 0, spread)
t0 = time.time()
b.q("INSERT INTO item(_id, body) VALUES ('b3', 'small')")
ok = wait_for(lambda: "b3" in ids(a), 2)
check("5: B's write reaches A within 2 s meanwhile", ok, "%.1f s" % (time.time() - t0))
n = nfd(pid_a)
check("5: descriptors stay bounded after the sync", n < 256, n)

# --- 6. A closes while the attacker still holds its connections -------------
close_under_attack(a, b, [], 2)
done()
