#!/bin/sh
# The exported CAR v1 file, read by an independent reader (python3 with
# hashlib, no code shared with the extension): header {roots, version: 1},
# every section's CID is CIDv1 dag-cbor sha2-256 of its bytes, the roots
# are the log heads, and the block count is what threads_export returned.
set -u
db=car.db
q() { $SQLITE3 -batch "$db" ".load $EXT" "$@" 2>&1; }
# check NAME 'CONDITION': CONDITION is one shell expression (it may use
# && and ||), evaluated whole.
check() {
  if eval "$2"; then echo "PASS $1"; else echo "FAIL $1"; fi
}
q "SELECT threads_create('a');" >/dev/null
q "SELECT threads_create('b');" >/dev/null
n=$(q "SELECT threads_export('a', 'a.car');")
head=$(q "SELECT json_extract(heads, '\$[0].head') FROM threads WHERE name = 'a';")
out=$($PYTHON3 - a.car <<'PY' 2>&1
import base64, hashlib, sys

data = open(sys.argv[1], "rb").read()

def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7f) << s; s += 7
        if c < 0x80:
            return v, i

def item(b, i):
    """Decode one CBOR item (the subset CAR headers use)."""
    ib = b[i]; i += 1
    major, ai = ib >> 5, ib & 31
    if ai < 24:
        arg = ai
    else:
        n = {24: 1, 25: 2, 26: 4, 27: 8}[ai]
        arg = int.from_bytes(b[i:i + n], "big"); i += n
    if major == 0:
        return arg, i
    if major == 2:
        return b[i:i + arg], i + arg
    if major == 3:
        return b[i:i + arg].decode(), i + arg
    if major == 4:
        out = []
        for _ in range(arg):
            v, i = item(b, i); out.append(v)
        return out, i
    if major == 5:
        out = {}
        for _ in range(arg):
            k, i = item(b, i); v, i = item(b, i); out[k] = v
        return out, i
    if major == 6:
        v, i = item(b, i)
        assert arg == 42 and v[0] == 0, "bad link"
        return ("link", bytes(v[1:])), i
    raise ValueError("unexpected major type %d" % major)

def cidtext(c):
    return "b" + base64.b32encode(c).decode().lower().rstrip("=")

n, i = varint(data, 0)
hdr, j = item(data, i)
assert j == i + n, "header length"
assert hdr["version"] == 1 and set(hdr) == {"roots", "version"}, hdr
roots = [cidtext(r[1]) for r in hdr["roots"]]
i = j
cids = []
while i < len(data):
    n, i = varint(data, i)
    cid, block = data[i:i + 36], data[i + 36:i + n]
    assert cid[:4] == bytes([1, 0x71, 0x12, 0x20]), "not CIDv1 dag-cbor sha2-256"
    assert cid[4:] == hashlib.sha256(block).digest(), "CID does not match block"
    cids.append(cidtext(cid))
    i += n
assert all(r in cids for r in roots), "a root is not in the file"
print(len(cids), " ".join(roots))
PY
)
check car_reads_independently '[ "$out" = "$n $head" ]'
check car_block_count '[ "$n" = 4 ]'

# The project's own verifier reads the file with the thread's keys: every
# signature, link, header and body; a changed byte is caught.
check verify_car_counts_records '[ "$(q "SELECT threads_verify_car('"'"'a'"'"', '"'"'a.car'"'"');")" = 1 ]'
$PYTHON3 - a.car <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[-1] ^= 1
open(p, "wb").write(bytes(b))
PY
bad=$(q "SELECT threads_verify_car('a', 'a.car');")
check verify_car_refuses_tampering 'case "$bad" in *"CID mismatch"*) true ;; *) false ;; esac'
