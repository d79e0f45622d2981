-- threads_peers and threads_rejects, the listings of the sync node's
-- bookkeeping.  In real use the node (net/peers.c) writes _threads_peer and
-- _threads_reject as it exchanges records, and test/net covers that path;
-- this file has no peers, so it writes those rows itself and checks what
-- the listings make of them.
.mode list
-- Nothing stored yet: no rows, no error.
SELECT count(*) FROM threads_peers;
SELECT count(*) FROM threads_rejects;
SELECT length(threads_create('notes')), length(threads_create('second')),
       length(threads_create('lonely'));
-- notes: the libp2p spec's Ed25519 key (its peer ID is known), and an
-- address whose peer has not announced a key yet.  second: its peer
-- announced the log key of notes' own log (a key whose text another
-- listing shows), and one announced a malformed key (31 bytes).
INSERT INTO _threads_peer(tid, addr, peer, last_contact, sent, recv,
                          rejected, last_error)
  SELECT tid, 'tcp://127.0.0.1:4007',
         x'1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e',
         1700000000123, 3, 5, 0, NULL
    FROM _threads_thread WHERE name = 'notes';
INSERT INTO _threads_peer(tid, addr, rejected, last_error)
  SELECT tid, 'ipc:///tmp/a.ipc', 2, 'refused: bad signature'
    FROM _threads_thread WHERE name = 'notes';
INSERT INTO _threads_peer(tid, addr, peer)
  SELECT t.tid, 'tcp://10.0.0.3:4006', zeroblob(31)
    FROM _threads_thread t WHERE t.name = 'second';
INSERT INTO _threads_peer(tid, addr, peer)
  SELECT t.tid, 'tcp://10.0.0.2:4006', l.pk
    FROM _threads_thread t, _threads_thread n
    JOIN _threads_log l ON l.tid = n.tid
   WHERE t.name = 'second' AND n.name = 'notes';
-- Every row, by thread (creation order) then address.
SELECT (SELECT name FROM threads t WHERE t.thread = p.id), address
  FROM threads_peers p;
SELECT address, peer IS NULL, last_contact, sent, received, rejected,
       last_error
  FROM threads_peers WHERE thread = 'notes';
-- The ID text is the thread's, and the hidden thread column is the same.
SELECT substr(id, 1, 4), length(id) FROM threads_peers LIMIT 1;
SELECT count(*), sum(thread = id),
       sum(id = (SELECT id FROM threads WHERE name = 'notes'))
  FROM threads_peers;
-- Peer keys as peer IDs: the spec's vector; the log of notes as
-- threads_records and the heads of threads show it; a malformed key as NULL.
SELECT peer = '12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq', peer
  FROM threads_peers WHERE thread = 'notes' AND address LIKE 'tcp:%';
SELECT p.peer = r.log,
       p.peer = (SELECT json_extract(heads, '$[0].log') FROM threads
                  WHERE name = 'notes')
  FROM threads_peers p, threads_records r
 WHERE p.thread = 'second' AND p.address = 'tcp://10.0.0.2:4006'
   AND r.thread = 'notes';
SELECT peer IS NULL FROM threads_peers WHERE address = 'tcp://10.0.0.3:4006';
-- Filtering by ID; a thread without peers and an unknown one give no row.
SELECT address FROM threads_peers
 WHERE thread = (SELECT id FROM threads WHERE name = 'second');
SELECT count(*) FROM threads_peers WHERE thread = 'lonely';
SELECT count(*) FROM threads_peers
 WHERE thread = (SELECT id FROM threads WHERE name = 'lonely');
SELECT count(*) FROM threads_peers WHERE thread = 'nope';
SELECT count(*) FROM threads_peers WHERE thread IN ('notes', 'second');
-- Rejects, counted by the node per thread and reason.
INSERT INTO _threads_reject(tid, reason, n)
  SELECT tid, 'refused: bad signature', 2
    FROM _threads_thread WHERE name = 'notes';
INSERT INTO _threads_reject(tid, reason, n)
  SELECT tid, 'refused: CID mismatch', 1
    FROM _threads_thread WHERE name = 'notes';
INSERT INTO _threads_reject(tid, reason, n)
  SELECT tid, 'storage: disk I/O error', 4
    FROM _threads_thread WHERE name = 'second';
SELECT (SELECT name FROM threads t WHERE t.thread = r.id), reason, count
  FROM threads_rejects r;
SELECT reason, count FROM threads_rejects WHERE thread = 'notes';
SELECT reason, count FROM threads_rejects
 WHERE thread = (SELECT id FROM threads WHERE name = 'second');
SELECT count(*), sum(thread = id) FROM threads_rejects;
SELECT count(*) FROM threads_rejects WHERE thread = 'lonely';
-- Both are read-only.
INSERT INTO threads_peers(thread, address) VALUES ('notes', 'tcp://x:1');
UPDATE threads_peers SET sent = 0;
DELETE FROM threads_rejects;
INSERT INTO threads_rejects(reason, count) VALUES ('x', 1);
SELECT count(*), sum(sent) FROM threads_peers;
SELECT count(*), sum(count) FROM threads_rejects;
