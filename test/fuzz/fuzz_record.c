/*
** fuzz_record.c: libFuzzer target for the record layer (core/record.c):
** the encrypted envelope and the four block readers, with fixed keys:
**
**   service key   bytes 0..31        read key   bytes 32..63
**   content key   bytes 64..95 (for thr_body_open)
**   log key       thr_keypair_from_seed(32 x 0x07); also the author
**
** Mode 1 (first byte not 0xEE): the input as a peer would send it.
**   a. raw: thr_rec_open, thr_event_open, thr_header_open, thr_body_open,
**      thr_open_block, thr_cbor_unwrap_bytes, and the byte decoders the
**      record readers use (thr_cid_from_bytes, thr_tid_from_bytes,
**      thr_pubkey_from_pb, thr_uvarint_get) on the input bytes;
**   b. wrapped: the input sealed as plaintext under each key first
**      (thr_seal_block), then opened with thr_rec_open, thr_header_open and
**      thr_body_open.  A peer holding the key can put any plaintext in an
**      envelope, so the decoders behind the decryption must be robust too;
**      random bytes never get past the AEAD tag without this.
**
** Mode 2 (first byte 0xEE): seal a record with thr_rec_seal (body = the
**   rest of the input if it is strict dag-cbor, else {"n":1}; a prev link
**   when the input length is odd) and abort() unless every block opens and
**   gives back what was sealed.
*/
#include "thr_core.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define SEAL_MODE 0xEE

static thr_tkey gKey;
static unsigned char gContentKey[32];
static thr_keypair *gLog;

static void fuzz_init(void) {
  static int bDone = 0;
  if (!bDone) {
    unsigned char seed[32];
    int i;
    if (sodium_init() < 0) {
      abort();
    }
    for (i = 0; i < 32; i++) {
      gKey.service[i] = (unsigned char)i;
      gKey.read[i] = (unsigned char)(32 + i);
      gContentKey[i] = (unsigned char)(64 + i);
    }
    gKey.hasRead = 1;
    memset(seed, 7, sizeof(seed));
    gLog = thr_keypair_from_seed(seed);
    if (gLog == NULL) {
      abort();
    }
    bDone = 1;
  }
}

/* Error-path contract: SQLITE_ERROR comes with a message starting with one
** of the THR_CHECK_* names where record.c promises it. */
static void check_err(int rc, char *zErr, int bNamed) {
  if (rc == SQLITE_OK) {
    if (zErr != NULL) {
      abort();
    }
    return;
  }
  if (rc == SQLITE_ERROR) {
    if (zErr == NULL) {
      abort();
    }
    if (bNamed && strncmp(zErr, THR_CHECK_SIG, strlen(THR_CHECK_SIG)) != 0 &&
        strncmp(zErr, THR_CHECK_KEY, strlen(THR_CHECK_KEY)) != 0 &&
        strncmp(zErr, THR_CHECK_DECODE, strlen(THR_CHECK_DECODE)) != 0) {
      abort();
    }
  }
  sqlite3_free(zErr);
}

/* The record readers on block bytes (a, n). */
static void open_all(const unsigned char *a, size_t n, int bRec, int bHdr,
                     int bBody, int bEvent) {
  char *zErr = NULL;
  int rc;
  if (bRec) {
    thr_opened op;
    rc = thr_rec_open(gKey.service, gLog->pk, a, n, &op, &zErr);
    check_err(rc, zErr, 1);
    zErr = NULL;
  }
  if (bEvent) {
    thr_cid cBody, cHdr;
    rc = thr_event_open(a, n, &cBody, &cHdr, &zErr);
    check_err(rc, zErr, 1);
    zErr = NULL;
  }
  if (bHdr) {
    unsigned char ck[32];
    int64_t t = -1;
    rc = thr_header_open(gKey.read, a, n, ck, &t, &zErr);
    if (rc == SQLITE_OK && t < 0) {
      abort();
    }
    sodium_memzero(ck, sizeof(ck));
    check_err(rc, zErr, 1);
    zErr = NULL;
  }
  if (bBody) {
    thr_cbuf plain = {0, 0};
    rc = thr_body_open(gContentKey, a, n, &plain, &zErr);
    if (rc == SQLITE_OK) {
      /* contract: the plaintext is strict dag-cbor */
      char *zWhy = NULL;
      thr_cbor *p = thr_cbor_decode(plain.a, plain.n, &zWhy);
      if (p == NULL) {
        abort();
      }
      thr_cbor_free(p);
    } else if (plain.a != NULL) {
      abort(); /* nothing is handed out on failure */
    }
    sqlite3_free(plain.a);
    check_err(rc, zErr, 1);
    zErr = NULL;
  }
}

/* Mode 1a: the byte decoders and the envelope on the raw input. */
static void raw_input(const unsigned char *data, size_t size) {
  char *zErr = NULL;
  const unsigned char *aIn;
  size_t nIn;
  int rc, k;

  open_all(data, size, 1, 1, 1, 1);

  {
    thr_cbuf plain = {0, 0};
    rc = thr_open_block(gKey.service, data, size, &plain, &zErr);
    if (rc != SQLITE_OK && plain.a != NULL) {
      abort();
    }
    sqlite3_free(plain.a);
    check_err(rc, zErr, 1);
    zErr = NULL;
  }

  if (thr_cbor_unwrap_bytes(data, size, &aIn, &nIn) == SQLITE_OK) {
    thr_cbuf w = {0, 0};
    if (aIn + nIn != data + size ||
        thr_cbor_wrap_bytes(aIn, nIn, &w) != SQLITE_OK || w.n != size ||
        memcmp(w.a, data, size) != 0) {
      abort();
    }
    sqlite3_free(w.a);
  }

  {
    thr_cid cid;
    rc = thr_cid_from_bytes(&cid, data, size, &zErr);
    if (rc == SQLITE_OK &&
        (size != THR_CID_BYTES || memcmp(cid.a, data, size) != 0)) {
      abort();
    }
    check_err(rc, zErr, 0);
    zErr = NULL;
  }
  {
    thr_tid tid;
    rc = thr_tid_from_bytes(&tid, data, size, &zErr);
    if (rc == SQLITE_OK &&
        ((size_t)tid.n != size || memcmp(tid.a, data, size) != 0)) {
      abort();
    }
    check_err(rc, zErr, 0);
    zErr = NULL;
  }
  {
    unsigned char pk[32];
    rc = thr_pubkey_from_pb(pk, data, size, &zErr);
    check_err(rc, zErr, 0);
    zErr = NULL;
  }

  /* Varints: a value that decodes re-encodes to the same bytes (strict). */
  for (k = 0; k < 2 && (size_t)k < size; k++) {
    uint64_t v;
    unsigned char aRe[THR_UVARINT_MAX];
    int nUsed = thr_uvarint_get(data + k, size - (size_t)k, &v);
    if (nUsed > 0) {
      if (nUsed > THR_UVARINT_MAX || thr_uvarint_put(aRe, v) != nUsed ||
          memcmp(aRe, data + k, (size_t)nUsed) != 0) {
        abort();
      }
    } else if (nUsed < -1 || v != 0) {
      abort();
    }
  }
}

/* Mode 1b: the input as the plaintext of an envelope under each key. */
static void wrapped_input(const unsigned char *data, size_t size) {
  thr_cbuf box = {0, 0};
  if (thr_seal_block(gKey.service, data, size, &box) == SQLITE_OK) {
    open_all(box.a, box.n, 1, 0, 0, 0);
  }
  sqlite3_free(box.a);
  box.a = NULL;
  if (thr_seal_block(gKey.read, data, size, &box) == SQLITE_OK) {
    open_all(box.a, box.n, 0, 1, 0, 0);
  }
  sqlite3_free(box.a);
  box.a = NULL;
  if (thr_seal_block(gContentKey, data, size, &box) == SQLITE_OK) {
    thr_cbuf plain = {0, 0};
    char *zErr = NULL;
    int rc;
    open_all(box.a, box.n, 0, 0, 1, 0);
    /* The envelope gives back exactly what went in. */
    rc = thr_open_block(gContentKey, box.a, box.n, &plain, &zErr);
    if (rc != SQLITE_OK || plain.n != size ||
        (size > 0 && memcmp(plain.a, data, size) != 0)) {
      abort();
    }
    sqlite3_free(plain.a);
    sqlite3_free(zErr);
  }
  sqlite3_free(box.a);
}

/* Mode 2: seal, then open every block and compare. */
static void seal_input(const unsigned char *data, size_t size) {
  static const unsigned char aDefault[] = {0xa1, 0x61, 'n', 0x01};
  const unsigned char *aBody = data + 1;
  size_t nBody = size - 1;
  char *zErr = NULL;
  thr_cbor *p;
  thr_sealed s;
  thr_opened op;
  thr_cid prev, cBody, cHdr, cid;
  const thr_cid *pPrev = NULL;
  unsigned char ck[32];
  int64_t tWant = 1700000000000LL + (int64_t)size, tGot = -1;
  thr_cbuf plain = {0, 0};
  int rc;

  p = thr_cbor_decode(aBody, nBody, &zErr);
  if (p == NULL) {
    sqlite3_free(zErr);
    zErr = NULL;
    aBody = aDefault;
    nBody = sizeof(aDefault);
  }
  thr_cbor_free(p);
  if (size & 1) {
    thr_cid_of(&prev, THR_CODEC_DAGCBOR, data, size);
    pPrev = &prev;
  }

  rc = thr_rec_seal(&gKey, gLog, gLog, pPrev, tWant, aBody, nBody, &s, &zErr);
  if (rc != SQLITE_OK) {
    abort(); /* only OOM could fail here */
  }

  /* Every CID names its block's bytes. */
  thr_cid_of(&cid, THR_CODEC_DAGCBOR, s.body.a, s.body.n);
  if (memcmp(cid.a, s.cidBody.a, THR_CID_BYTES) != 0)
    abort();
  thr_cid_of(&cid, THR_CODEC_DAGCBOR, s.header.a, s.header.n);
  if (memcmp(cid.a, s.cidHeader.a, THR_CID_BYTES) != 0)
    abort();
  thr_cid_of(&cid, THR_CODEC_DAGCBOR, s.event.a, s.event.n);
  if (memcmp(cid.a, s.cidEvent.a, THR_CID_BYTES) != 0)
    abort();
  thr_cid_of(&cid, THR_CODEC_DAGCBOR, s.record.a, s.record.n);
  if (memcmp(cid.a, s.cidRecord.a, THR_CID_BYTES) != 0)
    abort();

  /* 4. record */
  rc = thr_rec_open(gKey.service, gLog->pk, s.record.a, s.record.n, &op, &zErr);
  if (rc != SQLITE_OK || op.hasPrev != (pPrev != NULL) ||
      memcmp(op.cidEvent.a, s.cidEvent.a, THR_CID_BYTES) != 0 ||
      (pPrev && memcmp(op.cidPrev.a, pPrev->a, THR_CID_BYTES) != 0) ||
      memcmp(op.author, gLog->pk, 32) != 0) {
    abort();
  }
  /* 3. event */
  rc = thr_event_open(s.event.a, s.event.n, &cBody, &cHdr, &zErr);
  if (rc != SQLITE_OK || memcmp(cBody.a, s.cidBody.a, THR_CID_BYTES) != 0 ||
      memcmp(cHdr.a, s.cidHeader.a, THR_CID_BYTES) != 0) {
    abort();
  }
  /* 2. header */
  rc = thr_header_open(gKey.read, s.header.a, s.header.n, ck, &tGot, &zErr);
  if (rc != SQLITE_OK || tGot != tWant) {
    abort();
  }
  /* 1. body */
  rc = thr_body_open(ck, s.body.a, s.body.n, &plain, &zErr);
  if (rc != SQLITE_OK || plain.n != nBody ||
      memcmp(plain.a, aBody, nBody) != 0) {
    abort();
  }
  sodium_memzero(ck, sizeof(ck));
  sqlite3_free(plain.a);

  /* A wrong key or another log's public key must not open it. */
  {
    unsigned char bad[32];
    memcpy(bad, gKey.service, 32);
    bad[31] ^= 1;
    rc = thr_rec_open(bad, gLog->pk, s.record.a, s.record.n, &op, &zErr);
    if (rc != SQLITE_ERROR || zErr == NULL ||
        strncmp(zErr, THR_CHECK_KEY, strlen(THR_CHECK_KEY)) != 0) {
      abort();
    }
    sqlite3_free(zErr);
    zErr = NULL;
    memcpy(bad, gLog->pk, 32);
    bad[0] ^= 0x40;
    rc = thr_rec_open(gKey.service, bad, s.record.a, s.record.n, &op, &zErr);
    if (rc != SQLITE_ERROR || zErr == NULL) {
      abort();
    }
    sqlite3_free(zErr);
    zErr = NULL;
  }
  thr_sealed_clear(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_init();
  if (size > 0 && data[0] == SEAL_MODE) {
    seal_input(data, size);
    return 0;
  }
  raw_input(data, size);
  wrapped_input(data, size);
  return 0;
}
