/*
** cid.c: content identifiers.
**
** CID FORMAT (what we write and accept)
**
**   0x01        CID version 1 (uvarint)
**   codec       0x71 dag-cbor or 0x55 raw (uvarint; one byte for both)
**   0x12        multihash function sha2-256 (uvarint)
**   0x20        digest length 32 (uvarint)
**   digest      SHA-256 of the block bytes, exactly as stored
**
** Text form: multibase base32 lower, prefix 'b' ("bafyrei..." for
** dag-cbor).  Parsing goes through the general multibase decoder, so any
** base a CID may be written in is accepted; CIDv0 ("Qm...") and other hash
** functions are refused because no block of ours can have them.
*/
#include "thr_core.h"

#include <sodium.h>
#include <string.h>

void thr_cid_of(thr_cid *pCid, int codec, const unsigned char *a, size_t n) {
  pCid->a[0] = 0x01;
  pCid->a[1] = (unsigned char)codec;
  pCid->a[2] = THR_MH_SHA2_256;
  pCid->a[3] = 32;
  thr_sha256(&pCid->a[4], a, n);
}

int thr_cid_from_bytes(thr_cid *pCid, const unsigned char *a, size_t n,
                       char **pzErr) {
  uint64_t aV[4];
  size_t i = 0;
  int k;
  /* Read the four varints first so that the messages can say which part
  ** is wrong, not just that the length is odd. */
  for (k = 0; k < 4; k++) {
    int nUsed = thr_uvarint_get(a + i, n - i, &aV[k]);
    if (nUsed <= 0) {
      *pzErr = sqlite3_mprintf("invalid CID: %s",
                               nUsed == 0 ? "too short" : "bad varint");
      return SQLITE_ERROR;
    }
    i += (size_t)nUsed;
  }
  if (aV[0] != 1) {
    *pzErr = sqlite3_mprintf("invalid CID: version %llu is not supported",
                             (unsigned long long)aV[0]);
    return SQLITE_ERROR;
  }
  if (aV[1] != THR_CODEC_DAGCBOR && aV[1] != THR_CODEC_RAW) {
    *pzErr = sqlite3_mprintf("invalid CID: codec 0x%llx is not supported",
                             (unsigned long long)aV[1]);
    return SQLITE_ERROR;
  }
  if (aV[2] != THR_MH_SHA2_256 || aV[3] != 32) {
    *pzErr = sqlite3_mprintf("invalid CID: only sha2-256 multihashes are "
                             "supported");
    return SQLITE_ERROR;
  }
  if (n - i != 32) {
    *pzErr = sqlite3_mprintf("invalid CID: digest is %llu bytes, expected 32",
                             (unsigned long long)(n - i));
    return SQLITE_ERROR;
  }
  /* All varints above were minimal one-byte values, so i == 4 here. */
  memcpy(pCid->a, a, THR_CID_BYTES);
  return SQLITE_OK;
}

char *thr_cid_text(const thr_cid *pCid) {
  return thr_mb_encode(THR_MB_BASE32, pCid->a, THR_CID_BYTES);
}

int thr_cid_parse(thr_cid *pCid, const char *z, char **pzErr) {
  unsigned char *a = NULL;
  size_t n = 0;
  char *zWhy = NULL;
  int rc;
  if (z == NULL) {
    *pzErr = sqlite3_mprintf("invalid CID: NULL");
    return SQLITE_ERROR;
  }
  rc = thr_mb_decode(z, strlen(z), &a, &n, &zWhy);
  if (rc == SQLITE_ERROR) {
    *pzErr = sqlite3_mprintf("invalid CID: %s", zWhy);
    sqlite3_free(zWhy);
    return rc;
  }
  if (rc == SQLITE_OK) {
    rc = thr_cid_from_bytes(pCid, a, n, pzErr);
  }
  sqlite3_free(a);
  return rc;
}
