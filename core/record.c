/*
** record.c: sealing and opening log records.
**
** RECORD FORMAT
**
** A record is four IPLD blocks, each dag-cbor, each addressed by a CIDv1
** (codec 0x71, sha2-256) computed over the block bytes exactly as stored.
**
**   ENCRYPTED ENVELOPE (body, header and record blocks)
**     CBOR byte string holding  nonce (24) || ciphertext || tag (16)
**     XChaCha20-Poly1305-IETF, a fresh random nonce per block, no
**     additional data (the CID that names the block binds its bytes).
**
**   1. body    envelope(content key, event payload)
**              The payload is opaque dag-cbor to this file; the content
**              key is 32 fresh random bytes per record.
**   2. header  envelope(read key, {"key": bytes(32) content key,
**                                  "time": uint unix milliseconds})
**   3. event   {"body": link(body), "header": link(header)}   (plain)
**   4. record  envelope(service key,
**                {"sig":    bytes(64),
**                 "prev":   link(previous record)  -- absent on the first,
**                 "block":  link(event),
**                 "pubKey": bytes(36) libp2p protobuf Ed25519 key of the
**                           writer's identity (08 01 12 20 || key)})
**
**   Map keys appear in dag-cbor canonical order (length, then bytewise);
**   links are tag 42 over 0x00 || CID bytes.
**
**   sig = Ed25519 signature by the LOG key over
**           CID(event).bytes || CID(prev).bytes     (36 + 36 bytes)
**         or CID(event).bytes alone on a log's first record.
**   Every record, the first included, therefore binds its content and its
**   position in the log.  The log key's public key is the log ID; the
**   verifier gets it from the log it is checking, never from the record.
**
**   The record's CID (the log head when it is the newest) is the CID of
**   its encrypted envelope, so a holder of the service key alone can check
**   links and signatures and store and forward records without reading
**   any header or body.
*/
#include "thr_core.h"

#include <sodium.h>
#include <string.h>

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

void thr_sealed_clear(thr_sealed *p) {
  sqlite3_free(p->body.a);
  sqlite3_free(p->header.a);
  sqlite3_free(p->event.a);
  sqlite3_free(p->record.a);
  memset(p, 0, sizeof(*p));
}

int thr_seal_block_nonce(const unsigned char key[32],
                         const unsigned char *aNonce,
                         const unsigned char *aPlain, size_t nPlain,
                         thr_cbuf *pOut) {
  unsigned char *aBox;
  unsigned long long nCipher = 0;
  int rc = thr_cbor_bytes_alloc(NONCE_BYTES + nPlain + TAG_BYTES, pOut, &aBox);
  if (rc != SQLITE_OK) {
    return rc;
  }
  /* Encrypted in place, straight into the block that will be stored. */
  memcpy(aBox, aNonce, NONCE_BYTES);
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      aBox + NONCE_BYTES, &nCipher, aPlain, nPlain, NULL, 0, NULL, aBox, key);
  return SQLITE_OK;
}

int thr_seal_block(const unsigned char key[32], const unsigned char *aPlain,
                   size_t nPlain, thr_cbuf *pOut) {
  unsigned char aNonce[NONCE_BYTES];
  randombytes_buf(aNonce, sizeof(aNonce));
  return thr_seal_block_nonce(key, aNonce, aPlain, nPlain, pOut);
}

int thr_open_block(const unsigned char key[32], const unsigned char *a,
                   size_t n, thr_cbuf *pPlain, char **pzErr) {
  const unsigned char *aBox;
  size_t nBox;
  unsigned long long nPlain = 0;
  pPlain->a = NULL;
  pPlain->n = 0;
  if (thr_cbor_unwrap_bytes(a, n, &aBox, &nBox) != SQLITE_OK) {
    *pzErr =
        sqlite3_mprintf("%s: not a dag-cbor byte string", THR_CHECK_DECODE);
    return SQLITE_ERROR;
  }
  if (nBox < NONCE_BYTES + TAG_BYTES) {
    *pzErr = sqlite3_mprintf("%s: envelope too short", THR_CHECK_DECODE);
    return SQLITE_ERROR;
  }
  /* One spare byte so that an empty plaintext still gets a buffer. */
  pPlain->a = sqlite3_malloc64(nBox - NONCE_BYTES - TAG_BYTES + 1);
  if (pPlain->a == NULL) {
    return SQLITE_NOMEM;
  }
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          pPlain->a, &nPlain, NULL, aBox + NONCE_BYTES, nBox - NONCE_BYTES,
          NULL, 0, aBox, key) != 0) {
    sqlite3_free(pPlain->a);
    pPlain->a = NULL;
    *pzErr = sqlite3_mprintf("%s: decryption failed", THR_CHECK_KEY);
    return SQLITE_ERROR;
  }
  pPlain->n = (size_t)nPlain;
  return SQLITE_OK;
}

/* The signed message: CID(event) || CID(prev). */
static size_t rec_sig_message(unsigned char *aMsg, const thr_cid *pEvent,
                              const thr_cid *pPrev) {
  memcpy(aMsg, pEvent->a, THR_CID_BYTES);
  if (pPrev == NULL) {
    return THR_CID_BYTES;
  }
  memcpy(aMsg + THR_CID_BYTES, pPrev->a, THR_CID_BYTES);
  return 2 * THR_CID_BYTES;
}

/* Room for the largest fixed-shape block: a record with a prev link is
** about 230 bytes. */
#define SEAL_BUF 512

int thr_rec_seal(const thr_tkey *pKey, const thr_keypair *pAuthor,
                 const thr_keypair *pLog, const thr_cid *pPrev, int64_t timeMs,
                 const unsigned char *aBody, size_t nBody, thr_sealed *pOut,
                 char **pzErr) {
  unsigned char contentKey[32];
  unsigned char aMsg[2 * THR_CID_BYTES];
  unsigned char aSig[crypto_sign_BYTES];
  unsigned char aPb[THR_PUBKEY_PB_BYTES];
  unsigned char aBuf[SEAL_BUF];
  unsigned char aRand[32 + 3 * NONCE_BYTES];
  thr_cw w;
  int rc = SQLITE_OK;

  memset(pOut, 0, sizeof(*pOut));
  if (!pKey->hasRead) {
    *pzErr = sqlite3_mprintf("cannot write: this peer does not hold the "
                             "thread's read key");
    return SQLITE_ERROR;
  }

  /* The content key and the three nonces, drawn at once: one call into
  ** the kernel's generator instead of four. */
  randombytes_buf(aRand, sizeof(aRand));
  memcpy(contentKey, aRand, sizeof(contentKey));

  /* 1. body */
  rc = thr_seal_block_nonce(contentKey, aRand + 32, aBody, nBody, &pOut->body);
  if (rc != SQLITE_OK) {
    goto cleanup;
  }
  thr_cid_of(&pOut->cidBody, THR_CODEC_DAGCBOR, pOut->body.a, pOut->body.n);

  /* 2. header: {"key": content key, "time": ms} */
  w = (thr_cw){aBuf, 0, sizeof(aBuf), SQLITE_OK, 0};
  thr_cw_map(&w, 2);
  thr_cw_text(&w, "key");
  thr_cw_bytes(&w, contentKey, sizeof(contentKey));
  thr_cw_text(&w, "time");
  thr_cw_uint(&w, (uint64_t)timeMs);
  rc = w.rc;
  if (rc == SQLITE_OK) {
    rc = thr_seal_block_nonce(pKey->read, aRand + 32 + NONCE_BYTES, aBuf, w.n,
                              &pOut->header);
  }
  sodium_memzero(aBuf, w.n); /* it held the content key */
  if (rc != SQLITE_OK) {
    goto cleanup;
  }
  thr_cid_of(&pOut->cidHeader, THR_CODEC_DAGCBOR, pOut->header.a,
             pOut->header.n);

  /* 3. event: {"body": link, "header": link}, stored as it is */
  w = (thr_cw){aBuf, 0, sizeof(aBuf), SQLITE_OK, 0};
  thr_cw_map(&w, 2);
  thr_cw_text(&w, "body");
  thr_cw_link(&w, &pOut->cidBody);
  thr_cw_text(&w, "header");
  thr_cw_link(&w, &pOut->cidHeader);
  rc = w.rc;
  if (rc == SQLITE_OK) {
    pOut->event.a = sqlite3_malloc64(w.n);
    if (pOut->event.a == NULL) {
      rc = SQLITE_NOMEM;
      goto cleanup;
    }
    memcpy(pOut->event.a, aBuf, w.n);
    pOut->event.n = w.n;
  }
  if (rc != SQLITE_OK) {
    goto cleanup;
  }
  thr_cid_of(&pOut->cidEvent, THR_CODEC_DAGCBOR, pOut->event.a, pOut->event.n);

  /* 4. record: {"sig", "prev"?, "block", "pubKey"} under the service key */
  thr_sign(aSig, aMsg, rec_sig_message(aMsg, &pOut->cidEvent, pPrev), pLog);
  thr_pubkey_pb(aPb, pAuthor->pk);
  w = (thr_cw){aBuf, 0, sizeof(aBuf), SQLITE_OK, 0};
  thr_cw_map(&w, pPrev ? 4 : 3);
  thr_cw_text(&w, "sig");
  thr_cw_bytes(&w, aSig, sizeof(aSig));
  if (pPrev) {
    thr_cw_text(&w, "prev");
    thr_cw_link(&w, pPrev);
  }
  thr_cw_text(&w, "block");
  thr_cw_link(&w, &pOut->cidEvent);
  thr_cw_text(&w, "pubKey");
  thr_cw_bytes(&w, aPb, sizeof(aPb));
  rc = w.rc;
  if (rc == SQLITE_OK) {
    rc = thr_seal_block_nonce(pKey->service, aRand + 32 + 2 * NONCE_BYTES, aBuf,
                              w.n, &pOut->record);
  }
  if (rc != SQLITE_OK) {
    goto cleanup;
  }
  thr_cid_of(&pOut->cidRecord, THR_CODEC_DAGCBOR, pOut->record.a,
             pOut->record.n);

cleanup:
  sodium_memzero(contentKey, sizeof(contentKey));
  sodium_memzero(aRand, sizeof(aRand));
  if (rc != SQLITE_OK) {
    thr_sealed_clear(pOut);
    if (rc == SQLITE_NOMEM) {
      *pzErr = sqlite3_mprintf("out of memory");
    }
  }
  return rc;
}

int thr_rec_open(const unsigned char service[32], const unsigned char logPk[32],
                 const unsigned char *a, size_t n, thr_opened *pOut,
                 char **pzErr) {
  thr_cbuf plain = {0, 0};
  thr_cbor *pRec = NULL;
  const unsigned char *aSig, *aPb;
  size_t nSig = 0, nPb = 0, nField;
  unsigned char aMsg[2 * THR_CID_BYTES];
  char *zWhy = NULL;
  int rc;

  memset(pOut, 0, sizeof(*pOut));
  rc = thr_open_block(service, a, n, &plain, pzErr);
  if (rc != SQLITE_OK) {
    return rc;
  }
  pRec = thr_cbor_decode(plain.a, plain.n, pzErr);
  sqlite3_free(plain.a);
  if (pRec == NULL) {
    return SQLITE_ERROR;
  }
  nField = thr_cbor_map_size(pRec);
  aSig = thr_cbor_as_bytes(thr_cbor_get(pRec, "sig"), &nSig);
  aPb = thr_cbor_as_bytes(thr_cbor_get(pRec, "pubKey"), &nPb);
  pOut->hasPrev = thr_cbor_get(pRec, "prev") != NULL;
  if (nField != (size_t)(3 + pOut->hasPrev) || aSig == NULL ||
      nSig != crypto_sign_BYTES || aPb == NULL ||
      !thr_cbor_as_link(thr_cbor_get(pRec, "block"), &pOut->cidEvent) ||
      (pOut->hasPrev &&
       !thr_cbor_as_link(thr_cbor_get(pRec, "prev"), &pOut->cidPrev))) {
    *pzErr = sqlite3_mprintf("%s: not a record", THR_CHECK_DECODE);
    rc = SQLITE_ERROR;
    goto cleanup;
  }
  if (thr_pubkey_from_pb(pOut->author, aPb, nPb, &zWhy) != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("%s: record pubKey: %s", THR_CHECK_DECODE, zWhy);
    rc = SQLITE_ERROR;
    goto cleanup;
  }
  memcpy(pOut->sig, aSig, crypto_sign_BYTES);
  if (crypto_sign_verify_detached(
          pOut->sig, aMsg,
          rec_sig_message(aMsg, &pOut->cidEvent,
                          pOut->hasPrev ? &pOut->cidPrev : NULL),
          logPk) != 0) {
    *pzErr = sqlite3_mprintf("%s", THR_CHECK_SIG);
    rc = SQLITE_ERROR;
  }

cleanup:
  sqlite3_free(zWhy);
  thr_cbor_free(pRec);
  return rc;
}

int thr_event_open(const unsigned char *a, size_t n, thr_cid *pBody,
                   thr_cid *pHeader, char **pzErr) {
  thr_cbor *pEv = thr_cbor_decode(a, n, pzErr);
  int rc = SQLITE_OK;
  if (pEv == NULL) {
    return SQLITE_ERROR;
  }
  if (thr_cbor_map_size(pEv) != 2 ||
      !thr_cbor_as_link(thr_cbor_get(pEv, "body"), pBody) ||
      !thr_cbor_as_link(thr_cbor_get(pEv, "header"), pHeader)) {
    *pzErr = sqlite3_mprintf("%s: not an event", THR_CHECK_DECODE);
    rc = SQLITE_ERROR;
  }
  thr_cbor_free(pEv);
  return rc;
}

int thr_header_open(const unsigned char read[32], const unsigned char *a,
                    size_t n, unsigned char contentKey[32], int64_t *pTime,
                    char **pzErr) {
  thr_cbuf plain = {0, 0};
  thr_cbor *pHdr;
  const unsigned char *aKey;
  size_t nKey = 0;
  uint64_t t = 0;
  int rc = thr_open_block(read, a, n, &plain, pzErr);
  if (rc != SQLITE_OK) {
    return rc;
  }
  pHdr = thr_cbor_decode(plain.a, plain.n, pzErr);
  if (pHdr == NULL) {
    rc = SQLITE_ERROR;
  } else {
    aKey = thr_cbor_as_bytes(thr_cbor_get(pHdr, "key"), &nKey);
    if (aKey == NULL || nKey != 32 ||
        !thr_cbor_as_uint(thr_cbor_get(pHdr, "time"), &t) ||
        t > (uint64_t)INT64_MAX) {
      *pzErr = sqlite3_mprintf("%s: not a header", THR_CHECK_DECODE);
      rc = SQLITE_ERROR;
    } else {
      memcpy(contentKey, aKey, 32);
      *pTime = (int64_t)t;
    }
    thr_cbor_free(pHdr);
  }
  sodium_memzero(plain.a, plain.n);
  sqlite3_free(plain.a);
  return rc;
}

int thr_body_open(const unsigned char contentKey[32], const unsigned char *a,
                  size_t n, thr_cbuf *pPlain, char **pzErr) {
  int rc = thr_open_block(contentKey, a, n, pPlain, pzErr);
  if (rc != SQLITE_OK) {
    return rc;
  }
  /* Only validated here: the body is decoded when it is applied. */
  rc = thr_cbor_check(pPlain->a, pPlain->n, pzErr);
  if (rc != SQLITE_OK) {
    sodium_memzero(pPlain->a, pPlain->n);
    sqlite3_free(pPlain->a);
    pPlain->a = NULL;
    pPlain->n = 0;
  }
  return rc;
}

/* Fetch block pCid through xGet and check that its bytes hash to it. */
static const unsigned char *rec_fetch(thr_block_fn xGet, void *pArg,
                                      const thr_cid *pCid, size_t *pn,
                                      char **pzWhy) {
  thr_cid got;
  const unsigned char *a = xGet(pArg, pCid, pn);
  if (a == NULL) {
    *pzWhy = sqlite3_mprintf("missing block");
    return NULL;
  }
  thr_cid_of(&got, THR_CODEC_DAGCBOR, a, *pn);
  if (memcmp(got.a, pCid->a, THR_CID_BYTES) != 0) {
    *pzWhy = sqlite3_mprintf("%s", THR_CHECK_CID);
    return NULL;
  }
  return a;
}

int thr_rec_open_content(const unsigned char read[32], const thr_cid *pEvent,
                         thr_block_fn xGet, void *pArg, thr_cbuf *pBody,
                         int64_t *pTime, char **pzErr) {
  thr_cid cidBody, cidHeader;
  unsigned char contentKey[32];
  thr_cbuf plain = {0, 0};
  const unsigned char *a;
  const char *zWhat = "event";
  char *zWhy = NULL;
  size_t n = 0;
  int rc = SQLITE_ERROR;
  if ((a = rec_fetch(xGet, pArg, pEvent, &n, &zWhy)) != NULL) {
    rc = thr_event_open(a, n, &cidBody, &cidHeader, &zWhy);
  }
  if (rc == SQLITE_OK) {
    zWhat = "header";
    rc = SQLITE_ERROR;
    if ((a = rec_fetch(xGet, pArg, &cidHeader, &n, &zWhy)) != NULL) {
      rc = thr_header_open(read, a, n, contentKey, pTime, &zWhy);
    }
  }
  if (rc == SQLITE_OK) {
    zWhat = "body";
    rc = SQLITE_ERROR;
    if ((a = rec_fetch(xGet, pArg, &cidBody, &n, &zWhy)) != NULL) {
      rc = thr_body_open(contentKey, a, n, &plain, &zWhy);
    }
    sodium_memzero(contentKey, sizeof(contentKey));
  }
  if (rc != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("%s: %s", zWhat, zWhy ? zWhy : "out of memory");
    sqlite3_free(plain.a);
  } else if (pBody) {
    *pBody = plain;
  } else {
    sqlite3_free(plain.a);
  }
  sqlite3_free(zWhy);
  return rc;
}
