/*
** fuzz_cbor.c: libFuzzer target for the strict dag-cbor decoder
** (thr_cbor_decode in core/cbor.c) and its accessors.
**
** Properties checked (abort() on violation):
**   - a tree that decodes re-encodes to exactly the input bytes (strict
**     decoding promises one encoding per block; the decoder itself no
**     longer re-encodes to check it);
**   - thr_cbor_check accepts exactly what thr_cbor_decode accepts, and
**     refuses with the same message;
**   - every tag in a decoded tree is a valid CID link (thr_cbor_as_link);
**   - thr_cbor_get finds every key of a decoded map and returns its value;
**   - the byte-string envelope helpers round-trip.
*/
#include "thr_core.h"

#include <cbor.h>
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

/* Exercise the public accessors on one node (the harness never trusts the
** shape, exactly as callers in record.c and car.c do not). */
static void poke(thr_cbor *p) {
  size_t n = 0;
  uint64_t v = 0;
  thr_cid cid;
  const unsigned char *a;
  const char *z;

  a = thr_cbor_as_bytes(p, &n);
  if (a && n > 0) {
    volatile unsigned char c = a[0] ^ a[n - 1]; /* touch both ends */
    (void)c;
  }
  z = thr_cbor_as_text(p, &n);
  if (z && n > 0) {
    volatile char c = z[0] ^ z[n - 1];
    (void)c;
  }
  (void)thr_cbor_as_uint(p, &v);
  if (thr_cbor_as_link(p, &cid)) {
    /* A link re-built from its CID encodes like the original. */
    thr_cbor *pRe = thr_cbor_link(&cid);
    thr_cbuf b1 = {0, 0}, b2 = {0, 0};
    if (pRe == NULL || thr_cbor_encode(pRe, &b1) != SQLITE_OK ||
        thr_cbor_encode(p, &b2) != SQLITE_OK || b1.n != b2.n ||
        memcmp(b1.a, b2.a, b1.n) != 0) {
      abort();
    }
    sqlite3_free(b1.a);
    sqlite3_free(b2.a);
    thr_cbor_free(pRe);
  }
  (void)thr_cbor_map_size(p);
  (void)thr_cbor_array_size(p);
  (void)thr_cbor_array_at(p, 0);
  (void)thr_cbor_array_at(p, (size_t)-1);
  /* Keys the project's own readers look up. */
  (void)thr_cbor_get(p, "a");
  (void)thr_cbor_get(p, "");
  (void)thr_cbor_get(p, "sig");
  (void)thr_cbor_get(p, "roots");
  (void)thr_cbor_get(p, "version");
}

/* Walk the tree (depth is bounded by the decoder). */
static void walk(thr_cbor *p, int depth) {
  size_t i, n;
  if (depth > 100) {
    abort(); /* the decoder promises at most 64 levels */
  }
  poke(p);
  if (cbor_isa_array(p)) {
    n = thr_cbor_array_size(p);
    if (n != cbor_array_size(p)) {
      abort();
    }
    for (i = 0; i < n; i++) {
      thr_cbor *pEl = thr_cbor_array_at(p, i);
      if (pEl == NULL) {
        abort();
      }
      walk(pEl, depth + 1);
    }
    if (thr_cbor_array_at(p, n) != NULL) {
      abort();
    }
  } else if (cbor_isa_map(p)) {
    struct cbor_pair *aPair = cbor_map_handle(p);
    n = thr_cbor_map_size(p);
    if (n != cbor_map_size(p)) {
      abort();
    }
    for (i = 0; i < n; i++) {
      size_t nKey = 0;
      const char *zKey = thr_cbor_as_text(aPair[i].key, &nKey);
      if (zKey == NULL) {
        abort(); /* strict decoding: keys are text strings */
      }
      if (memchr(zKey, 0, nKey) == NULL) {
        /* thr_cbor_get takes a C string; keys are unique, so it must find
        ** exactly this pair. */
        char *zCopy = malloc(nKey + 1);
        if (zCopy == NULL) {
          abort();
        }
        memcpy(zCopy, zKey, nKey);
        zCopy[nKey] = 0;
        if (thr_cbor_get(p, zCopy) != aPair[i].value) {
          abort();
        }
        free(zCopy);
      }
      walk(aPair[i].value, depth + 1);
    }
  } else if (cbor_isa_tag(p)) {
    thr_cid cid;
    if (!thr_cbor_as_link(p, &cid)) {
      abort(); /* the decoder accepts tag 42 over a valid CID only */
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *zErr = NULL;
  thr_cbor *p;
  const unsigned char *aIn;
  size_t nIn;
  int bIsBytes = 0;

  fuzz_init();

  p = thr_cbor_decode(data, size, &zErr);
  {
    char *zChk = NULL;
    int rcChk = thr_cbor_check(data, size, &zChk);
    if (p ? (rcChk != SQLITE_OK || zChk != NULL)
          : (rcChk != SQLITE_ERROR || zChk == NULL || zErr == NULL ||
             strcmp(zChk, zErr) != 0)) {
      abort();
    }
    sqlite3_free(zChk);
  }
  if (p == NULL) {
    if (zErr == NULL) {
      abort(); /* contract: NULL comes with a message */
    }
    sqlite3_free(zErr);
  } else {
    thr_cbuf re = {0, 0};
    if (zErr != NULL) {
      abort();
    }
    if (thr_cbor_encode(p, &re) != SQLITE_OK || re.n != size ||
        memcmp(re.a, data, size) != 0) {
      abort();
    }
    sqlite3_free(re.a);
    bIsBytes = cbor_isa_bytestring(p);
    walk(p, 0);
    thr_cbor_free(p);
  }

  /* The byte-string envelope: unwrap, and wrap what it found.  Its header
  ** check is separate code from the decoder, so the two must agree: the
  ** input is one shortest-form byte string exactly when it decodes to a
  ** byte string. */
  if ((thr_cbor_unwrap_bytes(data, size, &aIn, &nIn) == SQLITE_OK) !=
      bIsBytes) {
    abort();
  }
  if (bIsBytes) {
    thr_cbuf w = {0, 0};
    if (aIn < data || aIn + nIn != data + size) {
      abort();
    }
    if (thr_cbor_wrap_bytes(aIn, nIn, &w) != SQLITE_OK || w.n != size ||
        memcmp(w.a, data, size) != 0) {
      abort();
    }
    sqlite3_free(w.a);
  }
  return 0;
}
