/*
** ids.c: thread IDs, thread keys, peer and log IDs.
**
** THREAD ID
**
**   uvarint(version = 0x01) || uvarint(variant) || random bytes
**
**   variant 0x55 raw, 0x70 access-controlled.  We create 32 random bytes;
**   we accept any non-empty random part (go-threads does too).  Text form:
**   multibase base32 lower ("bafk..." for raw IDs); any multibase prefix
**   is accepted when parsing.  Error texts are go-threads' own, because
**   apps compare them.
**
** THREAD KEY
**
**   service key (32 bytes) || read key (32 bytes, absent for followers).
**   Text form: multibase base32, 104 characters (53 service-only).
**
** PEER ID / LOG ID
**
**   base58btc( 0x00 0x24 || 08 01 12 20 || ed25519 public key )
**
**   that is, the identity multihash (code 0x00, length 36) of the libp2p
**   protobuf PublicKey {Type: Ed25519 (1), Data: 32 bytes}.  Always starts
**   "12D3KooW".
*/
#include "thr_core.h"

#include <sodium.h>
#include <string.h>

/**************************************************************************
** Thread IDs.
*/
void thr_tid_random(thr_tid *pId, int variant) {
  memset(pId, 0, sizeof(*pId));
  pId->a[0] = THR_ID_V1;
  pId->a[1] = (unsigned char)variant;
  randombytes_buf(&pId->a[2], THR_ID_RANDOM);
  pId->n = THR_ID_BYTES;
}

int thr_tid_from_bytes(thr_tid *pId, const unsigned char *a, size_t n,
                       char **pzErr) {
  uint64_t vers, variant;
  int n1, n2;
  n1 = thr_uvarint_get(a, n, &vers);
  if (n1 <= 0) {
    *pzErr = sqlite3_mprintf(n1 == 0 ? "reading varint: buffer too small"
                                     : "reading varint: varint bigger than "
                                       "64bits and not supported");
    return SQLITE_ERROR;
  }
  if (vers != THR_ID_V1) {
    *pzErr = sqlite3_mprintf("expected 1 as the id version number, got: %llu",
                             (unsigned long long)vers);
    return SQLITE_ERROR;
  }
  n2 = thr_uvarint_get(a + n1, n - (size_t)n1, &variant);
  if (n2 <= 0) {
    *pzErr = sqlite3_mprintf(n2 == 0 ? "reading varint: buffer too small"
                                     : "reading varint: varint bigger than "
                                       "64bits and not supported");
    return SQLITE_ERROR;
  }
  if (variant != THR_VARIANT_RAW && variant != THR_VARIANT_ACL) {
    *pzErr = sqlite3_mprintf(
        "expected Raw or AccessControlled as the id variant, got: %llu",
        (unsigned long long)variant);
    return SQLITE_ERROR;
  }
  if ((size_t)(n1 + n2) == n) {
    *pzErr = sqlite3_mprintf("expected random id bytes but there are none");
    return SQLITE_ERROR;
  }
  if (n > THR_ID_MAX) {
    *pzErr = sqlite3_mprintf("id too long: %llu bytes (at most %d)",
                             (unsigned long long)n, THR_ID_MAX);
    return SQLITE_ERROR;
  }
  memset(pId, 0, sizeof(*pId));
  memcpy(pId->a, a, n);
  pId->n = (int)n;
  return SQLITE_OK;
}

int thr_tid_parse(thr_tid *pId, const char *z, char **pzErr) {
  unsigned char *a = NULL;
  size_t n = 0, nz = z ? strlen(z) : 0;
  int rc;
  if (nz < 2) {
    *pzErr = sqlite3_mprintf("id too short");
    return SQLITE_ERROR;
  }
  rc = thr_mb_decode(z, nz, &a, &n, pzErr);
  if (rc == SQLITE_OK) {
    rc = thr_tid_from_bytes(pId, a, n, pzErr);
  }
  sqlite3_free(a);
  return rc;
}

char *thr_tid_text(const thr_tid *pId) {
  return thr_mb_encode(THR_MB_BASE32, pId->a, (size_t)pId->n);
}

uint64_t thr_tid_variant(const thr_tid *pId) {
  uint64_t v = 0;
  int n1 = thr_uvarint_get(pId->a, (size_t)pId->n, &v);
  if (n1 <= 0 || thr_uvarint_get(pId->a + n1, (size_t)(pId->n - n1), &v) <= 0) {
    return 0;
  }
  return v;
}

/**************************************************************************
** Thread keys.
*/
int thr_tkey_parse(thr_tkey *pKey, const char *z, char **pzErr) {
  unsigned char *a = NULL;
  size_t n = 0;
  int rc;
  memset(pKey, 0, sizeof(*pKey));
  if (z == NULL || z[0] == 0) {
    *pzErr = sqlite3_mprintf("cannot decode multibase for zero length string");
    return SQLITE_ERROR;
  }
  rc = thr_mb_decode(z, strlen(z), &a, &n, pzErr);
  if (rc == SQLITE_OK) {
    if (n != THR_KEY_BYTES && n != 2 * THR_KEY_BYTES) {
      *pzErr = sqlite3_mprintf("invalid key");
      rc = SQLITE_ERROR;
    } else {
      memcpy(pKey->service, a, THR_KEY_BYTES);
      if (n == 2 * THR_KEY_BYTES) {
        memcpy(pKey->read, a + THR_KEY_BYTES, THR_KEY_BYTES);
        pKey->hasRead = 1;
      }
    }
  }
  if (a) {
    sodium_memzero(a, n);
    sqlite3_free(a);
  }
  return rc;
}

char *thr_tkey_text(const thr_tkey *pKey) {
  unsigned char a[2 * THR_KEY_BYTES];
  char *z;
  memcpy(a, pKey->service, THR_KEY_BYTES);
  memcpy(a + THR_KEY_BYTES, pKey->read, THR_KEY_BYTES);
  z = thr_mb_encode(THR_MB_BASE32, a,
                    pKey->hasRead ? 2 * THR_KEY_BYTES : THR_KEY_BYTES);
  sodium_memzero(a, sizeof(a));
  return z;
}

/**************************************************************************
** Peer and log IDs.
*/
static const unsigned char aPbPrefix[4] = {0x08, 0x01, 0x12, 0x20};

void thr_pubkey_pb(unsigned char aOut[THR_PUBKEY_PB_BYTES],
                   const unsigned char pk[32]) {
  memcpy(aOut, aPbPrefix, 4);
  memcpy(aOut + 4, pk, 32);
}

int thr_pubkey_from_pb(unsigned char pk[32], const unsigned char *a, size_t n,
                       char **pzErr) {
  if (n != THR_PUBKEY_PB_BYTES || memcmp(a, aPbPrefix, 4) != 0) {
    *pzErr = sqlite3_mprintf("not a libp2p Ed25519 public key");
    return SQLITE_ERROR;
  }
  memcpy(pk, a + 4, 32);
  return SQLITE_OK;
}

char *thr_peer_text(const unsigned char pk[32]) {
  unsigned char a[2 + THR_PUBKEY_PB_BYTES];
  a[0] = 0x00; /* identity multihash */
  a[1] = THR_PUBKEY_PB_BYTES;
  thr_pubkey_pb(a + 2, pk);
  return thr_base58_encode(a, sizeof(a));
}

int thr_peer_parse(unsigned char pk[32], const char *z, char **pzErr) {
  unsigned char *a = NULL;
  size_t n = 0;
  int rc;
  char *zWhy = NULL;
  if (z == NULL || z[0] == 0) {
    *pzErr = sqlite3_mprintf("invalid peer ID: empty");
    return SQLITE_ERROR;
  }
  rc = thr_base58_decode(z, strlen(z), &a, &n, &zWhy);
  if (rc == SQLITE_ERROR) {
    *pzErr = sqlite3_mprintf("invalid peer ID: %s", zWhy);
  } else if (rc == SQLITE_OK) {
    if (n != 2 + THR_PUBKEY_PB_BYTES || a[0] != 0x00 ||
        a[1] != THR_PUBKEY_PB_BYTES) {
      *pzErr = sqlite3_mprintf("invalid peer ID: not an Ed25519 identity "
                               "multihash");
      rc = SQLITE_ERROR;
    } else if (thr_pubkey_from_pb(pk, a + 2, n - 2, &zWhy) != SQLITE_OK) {
      *pzErr = sqlite3_mprintf("invalid peer ID: %s", zWhy);
      rc = SQLITE_ERROR;
    }
  }
  sqlite3_free(zWhy);
  sqlite3_free(a);
  return rc;
}
