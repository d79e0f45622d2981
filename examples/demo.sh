#!/bin/sh
# The demo: one sqlite3 CLI session that creates a thread, lists its
# records, verifies them and exports the thread as a CAR file.
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
SELECT name, variant, role, logs, records FROM threads;
SELECT counter, substr(cid, 1, 20) || '...' AS cid, prev,
       substr(author, 1, 16) || '...' AS author, time
  FROM threads_records WHERE thread = 'notes';
SELECT threads_verify('notes') AS records_verified;
SELECT threads_export('notes', 'notes.car') AS blocks_exported;
SQL
echo "notes.car: $(wc -c < notes.car) bytes"
