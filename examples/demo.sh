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
