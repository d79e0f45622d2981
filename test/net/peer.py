"""A peer process for the network tests: Debian's python3 sqlite3 module
with the extension loaded, driven line by line on stdin.

Each input line is one SQL statement; the rows come back on stdout, one per
line with columns joined by '|', then a line '.'.  An error comes back as a
single line 'ERROR: <message>' before the '.'.
"""
import sqlite3
import sys

db = sqlite3.connect(sys.argv[1], isolation_level=None, check_same_thread=False)
db.enable_load_extension(True)
db.load_extension(sys.argv[2])
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    try:
        for row in db.execute(line):
            print("|".join("" if v is None else str(v) for v in row))
    except Exception as e:  # the message is the test's business
        print("ERROR:", e)
    print(".", flush=True)
db.close()
