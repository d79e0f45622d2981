#!/usr/bin/python3
"""app.py: sqlite-threads from Python's sqlite3 module (Debian's python3).

    python3 examples/app.py notes.db [path/to/dist/threads]

Loads the extension, makes sure a thread named "notes" exists, and prints
the peer identity and each thread's audit records.
"""
import os
import sqlite3
import sys

db_path = sys.argv[1] if len(sys.argv) > 1 else "notes.db"
ext = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "dist", "threads")

con = sqlite3.connect(db_path)
con.enable_load_extension(True)
con.load_extension(ext)
con.enable_load_extension(False)

print("peer", con.execute("SELECT threads_identity()").fetchone()[0])
if not con.execute("SELECT 1 FROM threads WHERE name = 'notes'").fetchone():
    con.execute("SELECT threads_create('notes')")
    con.commit()
# A collection: created once, then written like any table.  Each commit()
# becomes one signed, encrypted record in this peer's log.
if not con.execute("SELECT 1 FROM sqlite_schema WHERE name = 'todo'").fetchone():
    con.execute("""CREATE VIRTUAL TABLE todo USING threads(thread='notes',
        schema='{"type":"object","properties":{"_id":{"type":"string"},
                 "text":{"type":"string"},"done":{"type":"boolean"}},
                 "required":["text"]}')""")
con.execute("INSERT INTO todo(text, done) VALUES (?, ?)", ("write the docs", 0))
con.commit()
try:
    con.execute("INSERT INTO todo(done) VALUES (1)")  # no text: refused
except sqlite3.IntegrityError as e:
    print("refused:", e)
    con.rollback()
print("todo items", con.execute("SELECT count(*) FROM todo").fetchone()[0])
for name, records in con.execute("SELECT name, records FROM threads ORDER BY name"):
    verified = con.execute("SELECT threads_verify(?)", (name,)).fetchone()[0]
    print(f"thread {name}: {records} records, {verified} verified")
con.close()
