/*
** thr_core.h: internal interface of core/.
**
** core/ holds everything that is neither SQL glue nor networking: byte
** codecs, identifiers, keys, records and the event store.  It includes
** neither uv.h nor nng.h.  Every function returns SQLite result codes in
** an int (SQLITE_OK on success); error texts are sqlite3_mprintf() strings
** returned through a char **pzErr that the caller frees with sqlite3_free().
**
** Memory is sqlite3_malloc64()/sqlite3_free(), except secrets, which live
** in sodium_malloc() memory and are wiped before they are released.
*/
#ifndef THR_CORE_H
#define THR_CORE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

/* Symbols that are not part of the extension's single exported entry
** point.  Everything is hidden by -fvisibility=hidden already; this marks
** intent in the headers. */
#define THR_PRIVATE __attribute__((visibility("hidden")))

/**************************************************************************
** Interface to code in varint.c
**
** Unsigned LEB128 varints as used by multiformats (at most 9 bytes for
** values below 2^63; we accept up to 10 bytes for a full uint64).
*/
#define THR_UVARINT_MAX 10

/* Write v into a[] (room for THR_UVARINT_MAX bytes).  Returns bytes used. */
int thr_uvarint_put(unsigned char *a, uint64_t v);

/* Read a varint from (a, n).  Returns the number of bytes consumed (> 0),
** 0 if the buffer ends before the varint does ("buffer too small"), or -1
** if the value does not fit in 64 bits or is not minimally encoded. */
int thr_uvarint_get(const unsigned char *a, size_t n, uint64_t *pV);

/**************************************************************************
** Interface to code in multibase.c
**
** Multibase text: one prefix character naming the base, then the data.
** Encoding supports base32 (lower, no padding, prefix 'b') and base58btc
** ('z').  Decoding accepts every prefix go-multibase accepts: '0' base2,
** '7' base8, '9' base10, 'f'/'F' base16, 'b'/'B' base32, 'c'/'C' base32pad,
** 'v'/'V' base32hex, 't'/'T' base32hexpad, 'h' base32z, 'k'/'K' base36,
** 'z' base58btc, 'Z' base58flickr, 'm' base64, 'M' base64pad,
** 'u' base64url, 'U' base64urlpad.
*/
#define THR_MB_BASE32 'b'
#define THR_MB_BASE58BTC 'z'

/* Encode (a, n) as multibase text with the given prefix ('b' or 'z').
** Returns a NUL-terminated sqlite3_malloc'd string, or NULL on OOM. */
char *thr_mb_encode(int base, const unsigned char *a, size_t n);

/* Decode multibase text (z, nz).  On success *paOut is a sqlite3_malloc'd
** buffer (owned by the caller) of *pnOut bytes.  Errors: SQLITE_ERROR with
** *pzErr set to a go-multibase style message ("selected encoding not
** supported", "cannot decode multibase for zero length string",
** "illegal base32 data at input byte N"), or SQLITE_NOMEM. */
int thr_mb_decode(const char *z, size_t nz, unsigned char **paOut,
                  size_t *pnOut, char **pzErr);

/* Raw base58btc without a multibase prefix (libp2p peer IDs).  Same
** contracts as above; the decoder's message for a bad character is
** "invalid base58 digit ('c')". */
char *thr_base58_encode(const unsigned char *a, size_t n);
/* The value of one hex digit (either case), or -1. */
int thr_hexval(char c);
int thr_base58_decode(const char *z, size_t nz, unsigned char **paOut,
                      size_t *pnOut, char **pzErr);

/**************************************************************************
** Interface to code in cid.c
**
** CIDv1 bytes: uvarint(1) || uvarint(codec) || multihash, multihash =
** uvarint(0x12 sha2-256) || uvarint(32) || digest.  With the codecs we
** write (0x71 dag-cbor, 0x55 raw) every varint is one byte, so our CIDs
** are exactly THR_CID_BYTES long.
*/
#define THR_CODEC_RAW 0x55
#define THR_CODEC_DAGCBOR 0x71
#define THR_MH_SHA2_256 0x12
#define THR_CID_BYTES 36

typedef struct thr_cid thr_cid;
struct thr_cid {
  unsigned char a[THR_CID_BYTES];
};

/* CIDv1 (codec, sha2-256) of the bytes (a, n). */
void thr_cid_of(thr_cid *pCid, int codec, const unsigned char *a, size_t n);

/* Parse binary CID bytes.  Accepts only CIDv1 with sha2-256 and a 32-byte
** digest (the only kind this project stores).  SQLITE_ERROR + *pzErr on
** anything else. */
int thr_cid_from_bytes(thr_cid *pCid, const unsigned char *a, size_t n,
                       char **pzErr);

/* Text form: multibase base32 ("bafy..."); sqlite3_malloc'd or NULL. */
char *thr_cid_text(const thr_cid *pCid);
int thr_cid_parse(thr_cid *pCid, const char *z, char **pzErr);

/**************************************************************************
** Interface to code in sha256.c
**
** SHA-256 (FIPS 180-4) from OpenSSL's libcrypto; see sha256.c.
*/
/* out = SHA-256 of (a, n).  a may be NULL when n is 0.  Cannot fail. */
void thr_sha256(unsigned char out[32], const unsigned char *a, size_t n);

/**************************************************************************
** Interface to code in cbor.c
**
** dag-cbor on top of libcbor.  Maps are written in canonical order (keys
** sorted by length, then bytewise); integers in their shortest form; CID
** links as tag 42 over 0x00 || CID bytes.  Decoding is strict: a block
** decodes only if it is in canonical form (the rules are listed at the top
** of cbor.c), so it re-encodes to exactly the same bytes and every block
** has one and only one encoding (and so one CID).
*/
typedef struct thr_cbuf thr_cbuf;
struct thr_cbuf {
  unsigned char *a; /* Owned; free with sqlite3_free() */
  size_t n;
};

/* Opaque wrappers around cbor_item_t so that callers outside cbor.c do not
** depend on libcbor's headers. */
typedef struct cbor_item_t thr_cbor;

thr_cbor *thr_cbor_map(size_t nPair);
thr_cbor *thr_cbor_array(size_t n);
thr_cbor *thr_cbor_bytes(const unsigned char *a, size_t n);
thr_cbor *thr_cbor_text(const char *z, size_t n);
thr_cbor *thr_cbor_uint(uint64_t v);
thr_cbor *thr_cbor_link(const thr_cid *pCid);

/* Add key/value to a map (keys must be added in canonical order; asserted)
** or an element to an array.  Both take ownership of the value(s) always,
** and set *pRc to SQLITE_NOMEM on failure; they do nothing once *pRc is not
** SQLITE_OK. */
void thr_cbor_put(int *pRc, thr_cbor *pMap, const char *zKey, thr_cbor *pVal);
void thr_cbor_push(int *pRc, thr_cbor *pArr, thr_cbor *pVal);
void thr_cbor_free(thr_cbor *p);

/* Serialize into *pBuf (owned by caller).  SQLITE_OK or SQLITE_NOMEM. */
int thr_cbor_encode(thr_cbor *p, thr_cbuf *pBuf);

/* Decode a whole block strictly.  Returns a tree (free with
** thr_cbor_free) or NULL with *pzErr set ("undecodable block: ..."). */
thr_cbor *thr_cbor_decode(const unsigned char *a, size_t n, char **pzErr);

/* The same strict checks as thr_cbor_decode, without building a tree:
** SQLITE_OK if thr_cbor_decode would accept (a, n) (memory permitting),
** else SQLITE_ERROR with *pzErr set to the message it would give. */
int thr_cbor_check(const unsigned char *a, size_t n, char **pzErr);

/* Accessors on decoded trees.  All return NULL/0 when the shape differs. */
thr_cbor *thr_cbor_get(thr_cbor *pMap, const char *zKey);
const unsigned char *thr_cbor_as_bytes(thr_cbor *p, size_t *pn);
const char *thr_cbor_as_text(thr_cbor *p, size_t *pn);
int thr_cbor_as_uint(thr_cbor *p, uint64_t *pV);
int thr_cbor_as_link(thr_cbor *p, thr_cid *pCid);
size_t thr_cbor_map_size(thr_cbor *p); /* 0 if not a map */
size_t thr_cbor_array_size(thr_cbor *p);
thr_cbor *thr_cbor_array_at(thr_cbor *p, size_t i);

/* A streaming writer for small blocks of fixed shape (headers, events,
** records): no allocation, straight into the caller's buffer, using
** libcbor's header encoders.  The caller writes map keys in canonical
** order.  Sticky: once rc is set (SQLITE_TOOBIG when the buffer is full)
** nothing more is written. */
typedef struct thr_cw thr_cw;
struct thr_cw {
  unsigned char *a; /* the output buffer: borrowed, or owned if bGrow */
  size_t n;         /* bytes written */
  size_t nAlloc;    /* size of a[] */
  int rc;
  int bGrow; /* a[] is sqlite3 memory the writer may enlarge */
};
void thr_cw_map(thr_cw *p, size_t nPair);
void thr_cw_array(thr_cw *p, size_t n);
void thr_cw_text(thr_cw *p, const char *z);
void thr_cw_bytes(thr_cw *p, const unsigned char *a, size_t n);
void thr_cw_uint(thr_cw *p, uint64_t v);
void thr_cw_link(thr_cw *p, const thr_cid *pCid);
/* The header of a byte string of n bytes, for a caller that writes the n
** bytes itself (in place, e.g. encrypting into the message). */
void thr_cw_bytes_head(thr_cw *p, size_t n);
/* Append bytes that are already CBOR (items written by another writer). */
void thr_cw_raw(thr_cw *p, const unsigned char *a, size_t n);

/* A dag-cbor byte string around (a, n): the envelope of encrypted blocks.
** thr_cbor_unwrap_bytes returns SQLITE_OK and points (*pa, *pn) into a[]
** when a[] is exactly one definite byte string in shortest form. */
int thr_cbor_wrap_bytes(const unsigned char *a, size_t n, thr_cbuf *pBuf);
/* Allocate a byte-string block of n content bytes in *pBuf, header
** written, and point *paBody at the n bytes for the caller to fill. */
int thr_cbor_bytes_alloc(size_t n, thr_cbuf *pBuf, unsigned char **paBody);
int thr_cbor_unwrap_bytes(const unsigned char *a, size_t n,
                          const unsigned char **pa, size_t *pn);

/**************************************************************************
** Interface to code in ids.c
**
** Thread IDs, thread keys, peer/log IDs: byte forms and text forms.
*/
#define THR_ID_V1 0x01
#define THR_VARIANT_RAW 0x55
#define THR_VARIANT_ACL 0x70
#define THR_ID_RANDOM 32
#define THR_ID_BYTES (2 + THR_ID_RANDOM) /* both varints are one byte */
#define THR_KEY_BYTES 32
#define THR_ID_MAX 128 /* longest decoded thread ID we accept */

typedef struct thr_tid thr_tid;
struct thr_tid {
  unsigned char a[THR_ID_MAX];
  int n;
};

/* A new random v1 ID of the given variant. */
void thr_tid_random(thr_tid *pId, int variant);

/* Validate ID bytes as go-threads does; messages are go-threads' own
** ("id too short", "expected 1 as the id version number, got: 2",
** "expected Raw or AccessControlled as the id variant, got: 7",
** "expected random id bytes but there are none", ...). */
int thr_tid_from_bytes(thr_tid *pId, const unsigned char *a, size_t n,
                       char **pzErr);
int thr_tid_parse(thr_tid *pId, const char *z, char **pzErr);
char *thr_tid_text(const thr_tid *pId); /* base32 "bafk..." */
uint64_t thr_tid_variant(const thr_tid *pId);

/* Thread key: service key || read key (read key may be absent). */
typedef struct thr_tkey thr_tkey;
struct thr_tkey {
  unsigned char service[THR_KEY_BYTES];
  unsigned char read[THR_KEY_BYTES];
  int hasRead;
};
/* Parse "b..." text (104 chars full, 53 service-only).  "invalid key" for
** any length other than 32 or 64 bytes.  The caller wipes the key. */
int thr_tkey_parse(thr_tkey *pKey, const char *z, char **pzErr);
char *thr_tkey_text(const thr_tkey *pKey); /* caller sodium_memzero+free */

/* Peer and log IDs: base58btc of the identity multihash of the libp2p
** protobuf Ed25519 public key ("12D3KooW...").  THR_PUBKEY_PB is the
** protobuf prefix 08 01 12 20 followed by the 32-byte key. */
#define THR_PUBKEY_PB_BYTES 36
void thr_pubkey_pb(unsigned char aOut[THR_PUBKEY_PB_BYTES],
                   const unsigned char pk[32]);
int thr_pubkey_from_pb(unsigned char pk[32], const unsigned char *a, size_t n,
                       char **pzErr);
char *thr_peer_text(const unsigned char pk[32]);
int thr_peer_parse(unsigned char pk[32], const char *z, char **pzErr);

/**************************************************************************
** Interface to code in identity.c
**
** The peer's Ed25519 identity and the per-thread log keys derived from it.
** Objects live in sodium_malloc() memory (guarded, mlocked) and are wiped
** when freed.
*/
typedef struct thr_keypair thr_keypair;
struct thr_keypair {
  unsigned char pk[32];
  unsigned char sk[64]; /* libsodium secret key: seed || pk */
};

/* A key pair from a 32-byte seed, in sodium_malloc memory.  NULL on OOM. */
thr_keypair *thr_keypair_from_seed(const unsigned char seed[32]);
void thr_keypair_free(thr_keypair *p);

/* The log key of identity pId for thread pTid: the seed is BLAKE2b-256
** keyed by the identity seed over "sqlite-threads/log/v1" || thread ID
** bytes.  A restored identity therefore finds its own logs again. */
thr_keypair *thr_logkey_derive(const thr_keypair *pId, const thr_tid *pTid);

/* The log key of generation iGen (see identity.c): generation 0 is
** thr_logkey_derive()'s key, salt unused; later generations mix in iGen
** and the generation's random salt.  NULL on OOM. */
#define THR_LOG_SALT 16
thr_keypair *thr_logkey_derive_gen(const thr_keypair *pId, const thr_tid *pTid,
                                   sqlite3_int64 iGen,
                                   const unsigned char salt[THR_LOG_SALT]);

/**************************************************************************
** Interface to code in sign.c
**
** Ed25519 signing, RFC 8032 (deterministic), by libsodium's
** crypto_sign_detached().  See the comment at the top of sign.c for why
** nothing faster is used.
*/

/* Sign (m, n) with k.  The signature verifies with
** crypto_sign_verify_detached(); the same k and message always give the
** same signature.  Cannot fail. */
void thr_sign(unsigned char sig[64], const unsigned char *m, size_t n,
              const thr_keypair *k);

/**************************************************************************
** Interface to code in record.c
**
** Sealing and opening records; see the format comment in record.c.
*/
typedef struct thr_sealed thr_sealed;
struct thr_sealed {
  thr_cbuf body, header, event, record; /* stored block bytes */
  thr_cid cidBody, cidHeader, cidEvent, cidRecord;
};
void thr_sealed_clear(thr_sealed *p);

/* Seal plaintext body bytes (dag-cbor) into the four blocks of a record.
** pPrev is NULL for a log's first record.  pAuthor is the writer's
** identity, pLog the log key that signs. */
int thr_rec_seal(const thr_tkey *pKey, const thr_keypair *pAuthor,
                 const thr_keypair *pLog, const thr_cid *pPrev, int64_t timeMs,
                 const unsigned char *aBody, size_t nBody, thr_sealed *pOut,
                 char **pzErr);

/* The outcome of opening a record block with the service key. */
typedef struct thr_opened thr_opened;
struct thr_opened {
  thr_cid cidEvent;
  thr_cid cidPrev;
  int hasPrev;
  unsigned char author[32]; /* identity public key from pubKey */
  unsigned char sig[64];
};

/* Verification failures; the texts are part of the contract. */
#define THR_CHECK_SIG "bad signature"
#define THR_CHECK_PREV "broken prev link"
#define THR_CHECK_CID "CID mismatch"
#define THR_CHECK_KEY "wrong key"
#define THR_CHECK_DECODE "undecodable block"

/* Decrypt a record block with the service key, decode it and check its
** signature against the log public key.  On failure returns SQLITE_ERROR
** and *pzErr starts with one of the THR_CHECK_* names. */
int thr_rec_open(const unsigned char service[32], const unsigned char logPk[32],
                 const unsigned char *a, size_t n, thr_opened *pOut,
                 char **pzErr);

/* Decode an event block into its body and header links. */
int thr_event_open(const unsigned char *a, size_t n, thr_cid *pBody,
                   thr_cid *pHeader, char **pzErr);

/* Decrypt a header with the read key: content key and time. */
int thr_header_open(const unsigned char read[32], const unsigned char *a,
                    size_t n, unsigned char contentKey[32], int64_t *pTime,
                    char **pzErr);

/* Decrypt a body with its content key into *pPlain (owned by caller) and
** check that the plaintext is strict dag-cbor. */
int thr_body_open(const unsigned char contentKey[32], const unsigned char *a,
                  size_t n, thr_cbuf *pPlain, char **pzErr);

/* A block source for thr_rec_open_content: the bytes of the block named
** pCid (borrowed), or NULL if missing.  Blocks are requested in the order
** event, header, body. */
typedef const unsigned char *(*thr_block_fn)(void *pArg, const thr_cid *pCid,
                                             size_t *pn);

/* Open a record's content from its event CID: fetch the event, header and
** body through xGet, check each block against the CID that names it,
** decrypt the header with the read key and the body with its content key.
** *pBody (owned, may be NULL if unwanted) gets the body plaintext and
** *pTime the header time.  On failure *pzErr is "<event|header|body>:
** <check>" (a THR_CHECK_* name or "missing block"). */
int thr_rec_open_content(const unsigned char read[32], const thr_cid *pEvent,
                         thr_block_fn xGet, void *pArg, thr_cbuf *pBody,
                         int64_t *pTime, char **pzErr);

/* Symmetric envelope used by all encrypted blocks: CBOR byte string of
** nonce(24) || XChaCha20-Poly1305 ciphertext || tag(16). */
int thr_seal_block(const unsigned char key[32], const unsigned char *aPlain,
                   size_t nPlain, thr_cbuf *pOut);
/* The same with a nonce the caller drew (24 bytes). */
int thr_seal_block_nonce(const unsigned char key[32],
                         const unsigned char *aNonce,
                         const unsigned char *aPlain, size_t nPlain,
                         thr_cbuf *pOut);
int thr_open_block(const unsigned char key[32], const unsigned char *a,
                   size_t n, thr_cbuf *pPlain, char **pzErr);

/* Unix time in milliseconds. */
int64_t thr_now_ms(void);

/**************************************************************************
** Interface to code in schema_*.c (schema_compile.c, schema_check.c, ...;
** core/schema_int.h maps them)
**
** JSON Schema draft-07 validation over jansson documents; "pattern" and
** "patternProperties" use pcre2.  Schemas are compiled once and checked
** many times.  What a schema and a check may cost is bounded by counts,
** the same on every peer (schema_limits.c).
*/
#include <jansson.h>

typedef struct thr_schema thr_schema;

/* Compile schema text.  An invalid schema fails with SQLITE_ERROR and a
** message naming the place and the problem, e.g.
**   "invalid schema: not JSON: <jansson's text> (line 1, column 9)"
**   "invalid schema: /properties/age/minimum: must be a number"
**   "invalid schema: /properties/name/pattern: invalid regular expression:
**    <pcre2's text> at offset 3"
**   "invalid schema: /items/$ref: cannot resolve #/definitions/nope"
** and so does a valid schema past a bound of schema_limits.c:
**   "schema too complex: /definitions/d15: expands to more than 100000
**    subschemas through $ref and applicators (limit 100000)" */
int thr_schema_compile(const char *zSchema, thr_schema **ppSchema,
                       char **pzErr);
void thr_schema_free(thr_schema *p);

/* Check a document.  SQLITE_OK if valid; else SQLITE_CONSTRAINT and a
** message naming the field (a JSON pointer into the document, "" for the
** whole document) and the keyword that failed, e.g.
**   "/age: minimum: -1 is less than 0"
**   ": required: missing property \"name\""
**   "/tags/2: type: expected string, got integer"
** A check that would cost more than its step budget is refused the same
** way, on every peer alike:
**   "/a/0: allOf: validation too costly: more than 2000000 steps
**    (limit 2000000)" */
int thr_schema_check(const thr_schema *p, const json_t *pDoc, char **pzErr);

/* The compiled schema's JSON (borrowed). */
const json_t *thr_schema_json(const thr_schema *p);

/**************************************************************************
** Interface to code in store.c
**
** The event store: internal tables (prefix "_threads_") in the user's
** database file.  See the schema comment in store.c.
*/
typedef struct thr_store thr_store;

/* Open the store on db: set up the tables if this file has none (inside
** one transaction), prepare nothing yet.  The identity is loaded lazily. */
int thr_store_open(sqlite3 *db, thr_store **ppStore, char **pzErr);
void thr_store_close(thr_store *p);
sqlite3 *thr_store_db(thr_store *p);

/* After each commit of the connection's collection writes, xCommitted is
** called with the connection (the extension pokes the sync node). */
void thr_store_set_committed(thr_store *p, void (*xCommitted)(sqlite3 *));
void thr_store_committed(thr_store *p);

/* The store keeps one object for the connection's lifetime (its reference
** to the sync node) and frees it with xFree when it closes.  Returns 0 if
** it holds one already. */
int thr_store_hold(thr_store *p, void *pObj, void (*xFree)(void *));
void *thr_store_held(thr_store *p);

/* 1 if this file has the internal tables (nothing to read otherwise). */
int thr_store_ready(thr_store *p);

/* While set, the store opens no savepoints: for writes made during COMMIT
** (xSync), where the commit itself is atomic and SQLite forbids nesting. */
void thr_store_set_inline(thr_store *p, int bInline);

/* Make sure the internal tables exist (in a savepoint). */
int thr_store_setup(thr_store *p, char **pzErr);

/* The row of a known thread, and whether this peer holds its read key
** (needed to write).  "no such thread: <id>" otherwise. */
int thr_store_thread_row(thr_store *p, const thr_tid *pTid,
                         sqlite3_int64 *piThread, int *pbCanWrite,
                         char **pzErr);

/* The row and keys (caller wipes) of a known thread; "no such thread: <id>"
** otherwise. */
int thr_store_thread_key(thr_store *p, const thr_tid *pTid,
                         sqlite3_int64 *piThread, thr_tkey *pKey, char **pzErr);

/* The row (lid) of log pk of thread iThread, made (with its author's
** identity key and the own flag) if it is new.  Views name writers by it. */
int thr_store_log_lid(thr_store *p, sqlite3_int64 iThread,
                      const unsigned char pk[32],
                      const unsigned char author[32], int bOwn,
                      sqlite3_int64 *pLid, char **pzErr);

/* The public key of the log this file writes in the thread (its log ID):
** after the file identity check of store.c, which may start a new
** generation of the log (and so write, in a savepoint).  The identity is
** looked up first (thr_store_identity); if ppId is not NULL it gets that
** identity, borrowed from the store, so that callers need not look it up
** again. */
int thr_store_log_pk(thr_store *p, const thr_tid *pTid, unsigned char pk[32],
                     const thr_keypair **ppId, char **pzErr);

/* Start a new generation of this file's log in the thread now, whatever
** the file identity says (a fork: core/fork.c), and make it the log the
** file writes; pk gets its public key. */
int thr_store_new_log(thr_store *p, const thr_tid *pTid, unsigned char pk[32],
                      char **pzErr);

/* Open every record of the thread (all logs, each in log order) with the
** read key and pass its plaintext body to xBody, which returns SQLITE_OK
** to go on. */
int thr_store_foreach_body(thr_store *p, const thr_tid *pTid,
                           int (*xBody)(void *, const unsigned char *logPk,
                                        const unsigned char *author,
                                        const unsigned char *cid,
                                        const unsigned char *aBody,
                                        size_t nBody),
                           void *pArg, char **pzErr);

/* Open the record with row id iRid (see _threads_record) down to its body
** (owned by the caller), with the author's identity key and header time.
** SQLITE_NOTFOUND if there is no such record or no read key for it. */
int thr_store_body_at(thr_store *p, sqlite3_int64 iRid, thr_cbuf *pBody,
                      unsigned char author[32], int64_t *pTime, char **pzErr);

/* The schema cookie the store last saw (changes with any schema change). */
int thr_store_cookie(thr_store *p);

/* Connect one of our eponymous tables if none is, before caching
** statements outside store.c (see thr_store_set_pin). */
void thr_store_pin(thr_store *p);

/* State that other modules keep per connection (the open transaction's
** actions, the reducer's caches), owned by the store: xFree frees it when
** the store closes, xRelease finalizes its statements with the store's
** (thr_store_release).  The store calls back, so it depends on no module
** above it. */
#define THR_SLOT_TXN 0    /* txn.c */
#define THR_SLOT_REDUCE 1 /* reduce.c */
#define THR_SLOT_COUNT 2
typedef struct thr_slot thr_slot;
struct thr_slot {
  void *p;
  void (*xFree)(void *);
  void (*xRelease)(void *);
};
void **thr_store_slot(thr_store *p, int iSlot, void (*xFree)(void *),
                      void (*xRelease)(void *));
typedef struct thr_txn thr_txn;

/* Statement cache and sqlite3_close().  sqlite3_close() fails while any
** statement is unfinalized, and it runs module destructors only after that
** check, but it calls xDisconnect on every connected virtual table before
** it.  So the store caches prepared statements only while one of our
** virtual tables is connected: the SQL layer reports xConnect/xDisconnect
** with attach/detach, and gives xPin, which connects an eponymous table of
** ours when the store wants to cache and none is connected.  The last
** detach finalizes the cache. */
void thr_store_set_pin(thr_store *p, int (*xPin)(sqlite3 *));
void thr_store_attach(thr_store *p);
void thr_store_detach(thr_store *p);
/* Finalize the cached statements now. */
void thr_store_release(thr_store *p);

/* Create (first use) or load the identity key pair.  Borrowed from the
** store; valid until thr_store_close(). */
int thr_store_identity(thr_store *p, const thr_keypair **ppId, char **pzErr);

/* Resolve a local name or an ID text to a thread ID known to this store.
** Errors: "no such thread: <text>" or the ID parser's message. */
int thr_store_resolve(thr_store *p, const char *zThread, thr_tid *pTid,
                      char **pzErr);

/* Create a thread with a fresh key and this identity's log, and append the
** thread-creation record, all in one transaction.  zName may be NULL. */
int thr_store_create_thread(thr_store *p, const char *zName, int variant,
                            thr_tid *pTid, char **pzErr);

/* Append one record with plaintext body (aBody, nBody) to this identity's
** log in the thread; moves the head in the same transaction. */
int thr_store_append(thr_store *p, const thr_tid *pTid,
                     const unsigned char *aBody, size_t nBody, thr_cid *pCid,
                     char **pzErr);

/* Re-check every record of every log of the thread.  Returns SQLITE_OK and
** the number of records checked, or SQLITE_ERROR with *pzErr naming the
** log, record and the failed check. */
int thr_store_verify(thr_store *p, const thr_tid *pTid, sqlite3_int64 *pnRec,
                     char **pzErr);

/* Write a CAR v1 file of every block of the thread, roots = log heads.
** Written to a temporary file renamed into place, so an error leaves no
** partial file.  *pnBlock gets the number of blocks written. */
int thr_store_export(thr_store *p, const thr_tid *pTid, const char *zPath,
                     sqlite3_int64 *pnBlock, char **pzErr);

/* Verify a CAR file exported from thread pTid against this store's keys
** and log IDs only (not its stored blocks): every block's CID, every
** record's signature by its log key and prev link from a root back to the
** log's first record, and, with the read key, every event, header and body.
** *pnRec gets the number of records verified. */
int thr_store_verify_car(thr_store *p, const thr_tid *pTid, const char *zPath,
                         sqlite3_int64 *pnRec, char **pzErr);

/**************************************************************************
** Interface to code in car.c
*/
typedef struct thr_car thr_car;

/* A CAR v1 writer that creates zPath as a new regular file (see "WRITING"
** in car.c).  thr_car_open() refuses, with SQLITE_ERROR and "<path> already
** exists", a path where anything exists, a dangling symlink included;
** SQLITE_CANTOPEN when the file cannot be created. */
int thr_car_open(const char *zPath, const thr_cid *aRoot, int nRoot,
                 thr_car **ppCar, char **pzErr);
int thr_car_put(thr_car *p, const thr_cid *pCid, const unsigned char *a,
                size_t n);
/* Finish: flush, fsync, close, and give the file its name unless that
** name has been taken meanwhile (then SQLITE_ERROR, "<path> already
** exists").  If rc is not SQLITE_OK, or finishing fails, the temporary
** file is removed instead and rc (or the failure's code) returned.  p is
** freed in every case. */
int thr_car_close(thr_car *p, int rc, char **pzErr);

/* Read a CAR v1 file, calling xBlock for every block after checking that
** its CID matches its bytes.  Roots go to aRoot[] (up to nRootMax).  Only a
** regular file is opened: anything else is SQLITE_ERROR, "cannot read
** <path>: not a regular file". */
int thr_car_read(const char *zPath, thr_cid *aRoot, int nRootMax, int *pnRoot,
                 int (*xBlock)(void *, const thr_cid *, const unsigned char *,
                               size_t),
                 void *pArg, char **pzErr);

/**************************************************************************
** Interface to code in json.c
*/
/* Canonical JSON text of v (keys sorted, compact), the same text as
** json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS); owned, free().
** *pn (if not NULL) gets its length.  NULL when out of memory. */
char *thr_json_text(const json_t *v, size_t *pn);

/* Can n bytes at z be text in a document (json.c)?  THR_TEXT_OK, or why
** not. */
#define THR_TEXT_OK 0
#define THR_TEXT_UTF8 1 /* not well-formed UTF-8 */
#define THR_TEXT_NUL 2  /* holds a NUL character */
int thr_text_check(const char *z, size_t n);

/**************************************************************************
** Interface to code in hlc.c
*/
#define THR_ACT_CREATE 1 /* a whole document (INSERT, INSERT OR REPLACE) */
#define THR_ACT_SAVE 2   /* a merge patch of top-level fields (UPDATE) */
#define THR_ACT_DELETE 3 /* DELETE */
#define THR_ACT_COLL 4   /* a collection definition (CREATE VIRTUAL TABLE) */
#define THR_ACT_ALTER 5  /* a schema change (threads_alter) */

typedef struct thr_action thr_action;
struct thr_action {
  int eType;         /* THR_ACT_* */
  const char *zColl; /* collection name */
  const char *zId;   /* document _id; NULL for THR_ACT_COLL and _ALTER */
  const char *zJson; /* document, patch or schema as JSON text; or NULL */
  uint64_t hlc;      /* hybrid logical clock of the action */
};

/* Hybrid logical clocks: unix ms << 16 | a 16-bit counter. */
uint64_t thr_hlc_tick(uint64_t *pLast, int64_t nowMs);
void thr_hlc_observe(uint64_t *pLast, uint64_t remote);

/* The order key of an action (see hlc.c): cid NULL for an action written
** here, whose record is not sealed yet. */
#define THR_ORD_BYTES 80
void thr_ord_make(unsigned char o[THR_ORD_BYTES], uint64_t hlc,
                  const unsigned char logPk[32], const unsigned char *cid,
                  uint32_t idx);
uint64_t thr_ord_hlc(const unsigned char *o);

/**************************************************************************
** Interface to code in body.c
**
** The body of a record and its actions; see the format comment there.
*/
void thr_action_encode(thr_cw *w, const thr_action *pAct);
/* "create", "save", ... for THR_ACT_*. */
const char *thr_action_type_name(int eType);

/* Parsing a body (its dag-cbor, each document's JSON) needs no database,
** so any thread may do it ahead.  A body this version cannot read parses
** to one that is not readable (skipped whole, and counted); bChecked says
** thr_cbor_check() passed on it already.  Fails only for lack of memory. */
typedef struct thr_body thr_body;
int thr_body_parse(const unsigned char *aBody, size_t nBody, int bChecked,
                   thr_body **pp);
void thr_body_free(thr_body *p);
int thr_body_readable(const thr_body *p);
size_t thr_body_count(const thr_body *p);
/* Action i (borrowed from p), its parsed document or patch (*ppIn, NULL if
** none or not an object) and whether it has every field its type needs. */
const thr_action *thr_body_action(const thr_body *p, size_t i, json_t **ppIn,
                                  int *pbComplete);

/**************************************************************************
** Interface to code in txn.c
**
** The open transaction: actions staged per thread, sealed into one record
** per thread at commit, forgotten at rollback; savepoint marks.
*/
int thr_txn_stage(thr_store *p, const thr_tid *pTid, const thr_action *pAct);
/* The index the next action of the thread takes in its record's body. */
int thr_txn_next_index(thr_store *p, const thr_tid *pTid);
int thr_txn_seal(thr_store *p, char **pzErr);
void thr_txn_commit(thr_store *p);
void thr_txn_rollback(thr_store *p);
void thr_txn_savepoint(thr_store *p, int iSavepoint);
void thr_txn_rollback_to(thr_store *p, int iSavepoint);
void thr_txn_release(thr_store *p, int iSavepoint);

/* A new ULID (26 characters of Crockford base32 + NUL), monotonic within a
** millisecond per connection. */
void thr_ulid_new(thr_store *pStore, char zOut[27]);

/* Change subscribers (ext/threads.h): called after each commit, once per
** applied action. */
typedef void (*thr_change_fn)(void *pArg, const char *zThread,
                              const char *zColl, const char *zId,
                              const char *zAction, const char *zAuthor);
int thr_txn_subscribe(thr_store *p, thr_change_fn xChange, void *pArg);
int thr_txn_note_change(thr_store *p, const thr_tid *pTid,
                        const thr_action *pAct, const char *zAuthor);

/**************************************************************************
** Interface to code in doc.c
**
** A document in a shadow row and back.
*/
/* The kind of a mirrored column, from its property's JSON Schema type. */
#define THR_PT_ANY 0  /* no single type: stored as bound, no affinity */
#define THR_PT_TEXT 1 /* string */
#define THR_PT_INT 2  /* integer */
#define THR_PT_REAL 3 /* number */
#define THR_PT_BOOL 4 /* boolean, stored as 0/1 */
#define THR_PT_JSON 5 /* object or array, stored as canonical JSON text */

/* The kind of a property's column from its JSON Schema (THR_PT_*), and the
** SQL type of a kind's column. */
int thr_doc_prop_kind(const json_t *pProp);
const char *thr_doc_sql_type(int eKind);

/* Bind JSON value v (NULL: absent) as the column value of a field.  Text
** is bound without a copy: v must outlive the statement's next step. */
void thr_bind_json(sqlite3_stmt *pStmt, int i, const json_t *v);

/* The _rest of a shadow row: the fields of pDoc (but "_id") that the
** mirrored columns do not reproduce exactly, as canonical JSON text
** (owned, free()); NULL with *pRc untouched when there are none. */
char *thr_doc_rest(const json_t *pDoc, int nProp, char *const *azProp,
                   const int *aeKind, int *pRc);

/* Rebuild a document from a shadow row read by pStmt: column 0 is _id
** (added if bLive), columns 1..nProp the mirrored fields, column iRest the
** _rest text or NULL.  Returns NULL with *pRc set on error. */
json_t *thr_doc_rebuild(sqlite3_stmt *pStmt, int bLive, int nProp,
                        char *const *azProp, const int *aeKind, int iRest,
                        int *pRc);

/**************************************************************************
** Interface to code in reduce.c
**
** The merge rule: see the comment at the top of reduce.c.
*/
/* Tick the connection's clock (past every clock it has seen). */
uint64_t thr_reduce_tick(thr_store *p);
/* A transaction of local writes begins: read the views' state again. */
void thr_reduce_begin(thr_store *p);
/* Before COMMIT: recompute what older actions changed, write the views'
** state.  Every writer of the views calls it in its transaction. */
int thr_reduce_flush(thr_store *p, char **pzErr);
/* The same, writing the views' state only with bSave: a local
** transaction recomputes before its record is appended, saves after. */
int thr_reduce_recompute(thr_store *p, int bSave, char **pzErr);
/* A new view's state: nothing taken yet, as of the file's last record. */
int thr_reduce_hwm_init(thr_store *p, const char *zView);
void thr_reduce_rollback(thr_store *p);
/* Drop the cached views and schemas (a table came or went). */
void thr_reduce_forget(thr_store *p);
/* The history table of a view (made with its shadow table). */
int thr_reduce_create_hist(sqlite3 *db, const char *zView);

/* A local write of pAct (pDoc its JSON, borrowed, checked against the
** schema already): its clock is moved past everything this peer holds of
** the collection and it is applied to every view.  For THR_ACT_CREATE of
** an _id that is live, eConflict decides (SQLITE_REPLACE replaces,
** SQLITE_IGNORE sets *pbSkip, anything else is SQLITE_CONSTRAINT
** "UNIQUE constraint failed: <view>._id"). */
int thr_reduce_local(thr_store *p, sqlite3_int64 iThread, thr_action *pAct,
                     json_t *pDoc, const unsigned char logPk[32],
                     sqlite3_int64 iLog, uint32_t idx,
                     const thr_schema *pChecked, int *peTrust, int eConflict,
                     int *pbSkip, char **pzErr);

/* A schema action (THR_ACT_COLL or _ALTER) at order key ord, by log row
** iLid.  A schema that does not compile is counted in *pnSkip. */
int thr_reduce_schema(thr_store *p, sqlite3_int64 iThread,
                      const thr_action *pAct, const unsigned char *ord,
                      sqlite3_int64 iLid, int *pnSkip, char **pzErr);

/* Apply the actions of one record body (written by log logPk whose author
** identity is author; record CID cid) to the views of thread iThread: only
** collection zOnlyColl and view zOnlyView when not NULL.  Bodies and
** actions this version cannot read are skipped and counted in *pnSkip (a
** newer peer may write them); only storage errors fail.  This is the path
** of every record that is not written here.  thr_apply_body() parses
** first. */
int thr_body_apply(thr_store *p, sqlite3_int64 iThread,
                   const unsigned char logPk[32],
                   const unsigned char author[32], const unsigned char *cid,
                   const thr_body *pBody, const char *zOnlyColl,
                   const char *zOnlyView, int *pnSkip, char **pzErr);
int thr_apply_body(thr_store *p, sqlite3_int64 iThread,
                   const unsigned char logPk[32],
                   const unsigned char author[32], const unsigned char *cid,
                   const unsigned char *aBody, size_t nBody,
                   const char *zOnlyColl, const char *zOnlyView, int *pnSkip,
                   char **pzErr);

/* Replay the thread's log into view zView from scratch. */
int thr_view_rebuild(thr_store *p, const char *zView, char **pzErr);

/**************************************************************************
** Interface to code in collection.c
**
** Collections, their local tables, and the entry of a local write.
*/
/* Define collection zColl in a thread (or check an existing definition):
** when new, stages a THR_ACT_COLL action so that the definition travels
** with the thread. */
int thr_coll_define(thr_store *p, const thr_tid *pTid, const char *zColl,
                    const char *zSchema, char **pzErr);

/* The schema text of a collection (owned, sqlite3_free), or SQLITE_NOTFOUND
** when the thread has no such collection. */
int thr_coll_schema(thr_store *p, const thr_tid *pTid, const char *zColl,
                    char **pzSchema, char **pzErr);

/* Change a collection's schema through the log (threads_alter): zView is
** one of its tables.  Appends one record holding the alter action. */
int thr_coll_alter(thr_store *p, const char *zView, const char *zSchema,
                   char **pzErr);

/* Views: zView's shadow table "<zView>_data" materializes collection zColl
** of the thread; zProps is a JSON array of the mirrored top-level
** properties, [name, kind] each (kind a THR_PT_*), in column order. */
int thr_view_register(thr_store *p, const char *zView, const thr_tid *pTid,
                      const char *zColl, const char *zProps, char **pzErr);
int thr_view_unregister(thr_store *p, const char *zView, char **pzErr);

/* What a local write needs to know about the writer, looked up once per
** transaction rather than per row. */
typedef struct thr_writer thr_writer;
struct thr_writer {
  int bValid;
  sqlite3_int64 iThread;
  int bWrite;              /* this peer holds the read key */
  char zAuthor[64];        /* peer ID of this identity... */
  unsigned char idPk[32];  /* ...whose public key is this */
  unsigned char logPk[32]; /* this identity's log in the thread */
  sqlite3_int64 iLog;      /* ... and its row in _threads_log */
  /* The schema the caller checked documents against (borrowed), and
  ** whether it is the one in force (0 not known yet, 1 yes, 2 no: the
  ** reducer checks again, a peer's definition or alter won). */
  const thr_schema *pSchema;
  int eTrust;
};
int thr_coll_writer(thr_store *p, const thr_tid *pTid, thr_writer *pW,
                    char **pzErr);

/* A local write: apply the action (pDoc is its JSON, borrowed) through the
** reducer (thr_reduce_local) and stage it for the transaction's record. */
int thr_coll_write(thr_store *p, const thr_tid *pTid, thr_writer *pW,
                   thr_action *pAct, json_t *pDoc, int eConflict, char **pzErr);

#endif /* THR_CORE_H */
