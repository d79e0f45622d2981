/*
** fuzz_multibase.c: libFuzzer target for the text decoders: multibase
** (thr_mb_decode), raw base58btc (thr_base58_decode), and the ID parsers
** built on them (thread IDs, thread keys, peer IDs, CIDs).
**
** The input is used as text: copied into a malloc'd buffer with a NUL after
** it.  The length-taking decoders get the whole input (embedded NULs
** included); the C-string parsers see it up to the first NUL.
**
** Properties checked (abort() on violation):
**   - thr_mb_decode success with prefix 'b' or 'z' re-encodes with
**     thr_mb_encode to exactly the input (strict decoding: one text form);
**   - thr_base58_decode success re-encodes with thr_base58_encode to the
**     input;
**   - a parsed thread ID, thread key or CID written with prefix 'b', or a
**     parsed peer ID, prints back as the same text;
**   - every failure comes with an error message.
*/
#include "thr_core.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static void fuzz_init(void) {
  static int bDone = 0;
  if (!bDone) {
    if (sodium_init() < 0) {
      abort();
    }
    bDone = 1;
  }
}

/* Abort unless zGot (sqlite3 memory, freed here) is exactly (z, n). */
static void expect_text(char *zGot, const char *z, size_t n) {
  if (zGot == NULL || strlen(zGot) != n || memcmp(zGot, z, n) != 0) {
    abort();
  }
  sqlite3_free(zGot);
}

/* A failure must come with a message (SQLITE_NOMEM aside); free it. */
static void expect_err(int rc, char *zErr) {
  if (rc == SQLITE_ERROR && zErr == NULL) {
    abort();
  }
  if (rc == SQLITE_OK && zErr != NULL) {
    abort();
  }
  sqlite3_free(zErr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *z;
  size_t nz;
  unsigned char *a = NULL;
  size_t n = 0;
  char *zErr = NULL;
  int rc;

  fuzz_init();
  z = malloc(size + 1);
  if (z == NULL) {
    return 0;
  }
  memcpy(z, data, size);
  z[size] = 0;
  nz = strlen(z);

  /* Multibase, all prefixes. */
  rc = thr_mb_decode(z, size, &a, &n, &zErr);
  if (rc == SQLITE_OK) {
    if (a == NULL) {
      abort(); /* contract: success is never a NULL buffer */
    }
    if (z[0] == THR_MB_BASE32 || z[0] == THR_MB_BASE58BTC) {
      expect_text(thr_mb_encode(z[0], a, n), z, size);
    }
  } else if (a != NULL || n != 0) {
    abort();
  }
  expect_err(rc, zErr);
  zErr = NULL;
  sqlite3_free(a);
  a = NULL;
  n = 0;

  /* Raw base58btc (peer IDs). */
  rc = thr_base58_decode(z, size, &a, &n, &zErr);
  if (rc == SQLITE_OK) {
    if (a == NULL) {
      abort();
    }
    expect_text(thr_base58_encode(a, n), z, size);
  } else if (a != NULL || n != 0) {
    abort();
  }
  expect_err(rc, zErr);
  zErr = NULL;
  sqlite3_free(a);
  a = NULL;

  /* Thread IDs. */
  {
    thr_tid tid;
    rc = thr_tid_parse(&tid, z, &zErr);
    if (rc == SQLITE_OK) {
      if (tid.n < 3 || tid.n > THR_ID_MAX) {
        abort();
      }
      (void)thr_tid_variant(&tid);
      if (z[0] == THR_MB_BASE32) {
        expect_text(thr_tid_text(&tid), z, nz);
      }
    }
    expect_err(rc, zErr);
    zErr = NULL;
  }

  /* Thread keys (secrets: wiped as the real callers do). */
  {
    thr_tkey key;
    rc = thr_tkey_parse(&key, z, &zErr);
    if (rc == SQLITE_OK && z[0] == THR_MB_BASE32) {
      char *zKey = thr_tkey_text(&key);
      if (zKey == NULL || strlen(zKey) != nz || memcmp(zKey, z, nz) != 0) {
        abort();
      }
      sodium_memzero(zKey, nz);
      sqlite3_free(zKey);
    }
    sodium_memzero(&key, sizeof(key));
    expect_err(rc, zErr);
    zErr = NULL;
  }

  /* Peer and log IDs. */
  {
    unsigned char pk[32];
    rc = thr_peer_parse(pk, z, &zErr);
    if (rc == SQLITE_OK) {
      expect_text(thr_peer_text(pk), z, nz);
    }
    expect_err(rc, zErr);
    zErr = NULL;
  }

  /* CIDs. */
  {
    thr_cid cid;
    rc = thr_cid_parse(&cid, z, &zErr);
    if (rc == SQLITE_OK && z[0] == THR_MB_BASE32) {
      expect_text(thr_cid_text(&cid), z, nz);
    }
    expect_err(rc, zErr);
    zErr = NULL;
  }

  free(z);
  return 0;
}
