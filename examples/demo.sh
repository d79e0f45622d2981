#!/bin/sh
# The demo: one sqlite3 CLI session that creates a thread, a collection in
# it, writes and queries documents, lists the signed records those writes
# became, verifies them and exports the thread as a CAR file.
# Run it with `make demo` from the repository root.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/threads-demo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
echo "demo database: $WORK/demo.db"
sqlite3 demo.db <<SQL
.bail on
.load $ROOT/dist/threads
.headers on
.mode box
SELECT threads_version() AS version, threads_identity() AS peer;
SELECT threads_create('notes') AS thread;
CREATE VIRTUAL TABLE person USING threads(thread='notes', schema='{
  "type": "object",
  "properties": {"_id": {"type": "string"}, "name": {"type": "string"},
                 "age": {"type": "integer", "minimum": 0},
                 "email": {"type": "string", "unique": true}},
  "required": ["name"]}');
INSERT INTO person(name, age, email) VALUES ('Ada', 36, 'ada@example.org');
BEGIN;
INSERT INTO person(_id, name, age) VALUES ('bob', 'Bob', 25);
INSERT INTO person(_id, name, age) VALUES ('cy', 'Cy', 41);
UPDATE person SET age = 26 WHERE _id = 'bob';
COMMIT;
DELETE FROM person WHERE _id = 'cy';
SELECT _id, name, age, substr(_author, 1, 16) || '...' AS author FROM person ORDER BY name;
SELECT name FROM person WHERE age > 30;
SELECT name, variant, role, logs, records FROM threads;
SELECT counter, substr(cid, 1, 20) || '...' AS cid, substr(author, 1, 16) || '...' AS author
  FROM threads_records WHERE thread = 'notes';
SELECT seq, collection, _id, action FROM threads_changes WHERE thread = 'notes';
SELECT threads_verify('notes') AS records_verified;
SELECT threads_export('notes', 'notes.car') AS blocks_exported;
SQL
echo "notes.car: $(wc -c < notes.car) bytes"

# Part two: two peers, two database files, two sqlite3 processes on
# loopback.  Peer A creates a thread and a collection, writes, listens and
# invites; peer B joins (its table appears by itself), writes; both show the
# same rows.
PORT_A=$((40000 + $$ % 10000))
PORT_B=$((PORT_A + 1))
mkfifo a.in
sqlite3 a.db < a.in > a.out 2>&1 &
A_PID=$!
exec 3> a.in
cat >&3 <<SQL
.load $ROOT/dist/threads
SELECT threads_create('team');
CREATE VIRTUAL TABLE task USING threads(thread='team', schema='{"type":"object",
  "properties":{"_id":{"type":"string"},"title":{"type":"string"},
  "done":{"type":"boolean"}},"required":["title"]}');
INSERT INTO task(_id, title, done) VALUES ('t1', 'write the spec', 1), ('t2', 'ship it', 0);
SELECT threads_listen('tcp://127.0.0.1:$PORT_A');
.once invite.txt
SELECT threads_invite('team');
SQL
i=0
while [ ! -s invite.txt ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s invite.txt ] || { echo "demo: peer A did not produce an invite"; cat a.out; exit 1; }
echo
echo "peer A invites: $(cut -c1-60 invite.txt)... (the key is in the rest)"
sqlite3 b.db <<SQL
.bail on
.load $ROOT/dist/threads
.headers on
.mode box
SELECT threads_listen('tcp://127.0.0.1:$PORT_B') AS b_listens_on;
SELECT threads_join('$(cat invite.txt)') AS joined_thread;
INSERT INTO task(_id, title, done) VALUES ('t3', 'written by peer B', 0);
SELECT threads_sync((SELECT id FROM threads), 3000) >= 0 AS synced;
SELECT _id, title, done FROM task ORDER BY _id;
.mode list
.headers off
.once b.rows
SELECT _id, title, done FROM task ORDER BY _id;
SQL
cat >&3 <<SQL
SELECT threads_sync('team', 3000) >= 0;
.once a.rows
SELECT _id, title, done FROM task ORDER BY _id;
.quit
SQL
exec 3>&-
wait $A_PID
echo "peer A's table:"
cat a.rows
if cmp -s a.rows b.rows; then
  echo "both peers hold the same $(wc -l < a.rows) rows"
else
  echo "demo: the peers differ"; diff a.rows b.rows; cat a.out; exit 1
fi
