"""A hostile peer for the network tests, written apart from the product.

It speaks the node's protocol from the specification at the top of
net/wire.c, with its own code: the SP framing of nng's req/rep over TCP,
dag-cbor, and libsodium (through ctypes) for the boxes.  It holds the
thread's service key (read from a file that joined the thread), so its
messages open, and what it sends inside is what a test makes it send.
"""
import ctypes
import ctypes.util
import hashlib
import os
import socket
import struct

_na = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
assert _na.sodium_init() >= 0
ABYTES = 16


def xchacha_seal(key, nonce, plain, ad=b""):
    out = ctypes.create_string_buffer(len(plain) + ABYTES)
    n = ctypes.c_ulonglong(0)
    _na.crypto_aead_xchacha20poly1305_ietf_encrypt(
        out, ctypes.byref(n), plain, ctypes.c_ulonglong(len(plain)), ad,
        ctypes.c_ulonglong(len(ad)), None, nonce, key)
    return out.raw[:n.value]


def xchacha_open(key, nonce, box, ad=b""):
    out = ctypes.create_string_buffer(max(len(box) - ABYTES, 1))
    n = ctypes.c_ulonglong(0)
    rc = _na.crypto_aead_xchacha20poly1305_ietf_decrypt(
        out, ctypes.byref(n), None, box, ctypes.c_ulonglong(len(box)), ad,
        ctypes.c_ulonglong(len(ad)), nonce, key)
    return out.raw[:n.value] if rc == 0 else None


# --- dag-cbor ---------------------------------------------------------------
def _head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for ai, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | ai]) + struct.pack(fmt, n)
    raise ValueError(n)


def enc(v):
    if isinstance(v, bool):
        raise TypeError("no bools here")
    if isinstance(v, int):
        return _head(0, v) if v >= 0 else _head(1, -1 - v)
    if isinstance(v, bytes):
        return _head(2, len(v)) + v
    if isinstance(v, str):
        b = v.encode()
        return _head(3, len(b)) + b
    if isinstance(v, list):
        return _head(4, len(v)) + b"".join(enc(x) for x in v)
    if isinstance(v, dict):
        items = sorted(((enc(k), enc(x)) for k, x in v.items()),
                       key=lambda kv: (len(kv[0]), kv[0]))
        return _head(5, len(v)) + b"".join(k + x for k, x in items)
    raise TypeError(type(v))


def dec(b):
    v, i = _dec(b, 0)
    if i != len(b):
        raise ValueError("trailing bytes")
    return v


def _dec(b, i):
    major, ai = b[i] >> 5, b[i] & 31
    i += 1
    if ai < 24:
        n = ai
    else:
        size = {24: 1, 25: 2, 26: 4, 27: 8}[ai]
        n = int.from_bytes(b[i:i + size], "big")
        i += size
    if major == 0:
        return n, i
    if major == 1:
        return -1 - n, i
    if major == 2:
        return bytes(b[i:i + n]), i + n
    if major == 3:
        return b[i:i + n].decode(), i + n
    if major == 4:
        out = []
        for _ in range(n):
            x, i = _dec(b, i)
            out.append(x)
        return out, i
    if major == 5:
        out = {}
        for _ in range(n):
            k, i = _dec(b, i)
            x, i = _dec(b, i)
            out[k] = x
        return out, i
    if major == 6:  # a tag (CID links): keep the tagged item
        return _dec(b, i)
    raise ValueError("major %d" % major)


# --- the node's framing -------------------------------------------------------
class Wire:
    """Boxes for one thread, from its service key."""

    def __init__(self, service):
        self.key = hashlib.blake2b(b"sqlite-threads/wire/v1", key=service, digest_size=32).digest()
        self.tag = hashlib.blake2b(b"tag", key=self.key, digest_size=16).digest()

    def seal(self, inner):
        nonce = os.urandom(24)
        return enc([1, self.tag, nonce, xchacha_seal(self.key, nonce, enc(inner), self.tag)])

    def open(self, msg):
        top = dec(msg)
        if len(top) != 4:
            return None
        plain = xchacha_open(self.key, top[2], top[3], self.tag)
        return dec(plain) if plain is not None else None


# --- SP over TCP (nng's req/rep wire) ------------------------------------------
REQ, REP = 0x30, 0x31


def _recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise ConnectionError("closed")
        b += c
    return b


def _handshake(s, proto):
    s.sendall(b"\x00SP\x00" + struct.pack(">H", proto) + b"\x00\x00")
    return _recv_exact(s, 8)


class Client:
    """A req connection to a node's listen address."""

    def __init__(self, addr, timeout=10):
        host, port = addr[len("tcp://"):].rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=timeout)
        _handshake(self.s, REQ)
        self.id = 0x80000001

    def request(self, body):
        """Send one request; the reply's body, or None if the node hung up."""
        self.id += 1
        msg = struct.pack(">I", self.id) + body
        try:
            self.s.sendall(struct.pack(">Q", len(msg)) + msg)
            n = struct.unpack(">Q", _recv_exact(self.s, 8))[0]
            reply = _recv_exact(self.s, n)
        except (ConnectionError, OSError):
            return None
        return reply[4:]

    def close(self):
        self.s.close()


def serve_one(listener, handler):
    """Accept one req connection and answer its requests with handler(body)
    until it closes; returns (requests served, "closed" if the other side
    hung up or "timeout" if it went quiet for 10 s)."""
    conn, _ = listener.accept()
    conn.settimeout(10)
    n = 0
    how = "closed"
    try:
        _handshake(conn, REP)
        while True:
            size = struct.unpack(">Q", _recv_exact(conn, 8))[0]
            msg = _recv_exact(conn, size)
            n += 1
            reply = handler(msg[4:])
            conn.sendall(struct.pack(">Q", len(reply) + 4) + msg[:4] + reply)
    except socket.timeout:
        how = "timeout"
    except (ConnectionError, OSError):
        pass
    conn.close()
    return n, how


# --- records --------------------------------------------------------------
def unwrap_bytes(block):
    """The payload of a CBOR byte string block."""
    v = dec(block)
    assert isinstance(v, bytes)
    return v


def forge_signature(service, record):
    """The same record with one bit of its signature flipped, sealed again
    with the service key (a record block is a byte string holding
    nonce || XChaCha20-Poly1305(service, dag-cbor map)); the map's first
    key in dag-cbor order is "sig" (the shortest), a 64-byte string."""
    box = unwrap_bytes(record)
    plain = xchacha_open(service, box[:24], box[24:])
    assert plain is not None, "the service key does not open the record"
    assert plain[1:5] == b"\x63sig" and plain[5:7] == b"\x58\x40", plain[:8]
    bad = bytearray(plain)
    bad[7] ^= 1
    nonce = os.urandom(24)
    return enc(nonce + xchacha_seal(service, nonce, bytes(bad)))
