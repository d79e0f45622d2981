/*
** cbor.c: dag-cbor on top of libcbor.
**
** DAG-CBOR RULES WE ENFORCE
**
**   - one complete item, no trailing bytes;
**   - definite lengths only (no indefinite strings, arrays or maps);
**   - every integer, length, count and tag number in its shortest form
**     (RFC 8949 4.2.1: under 24 in the initial byte, else the narrowest
**     of 1, 2, 4 or 8 bytes that holds it);
**   - text strings are well-formed UTF-8;
**   - map keys are text strings, strictly increasing in canonical order
**     (shorter first, then bytewise), so also unique;
**   - the only tag is 42 (a CID link), over a byte string 0x00 || CID;
**   - floats are 64-bit only and finite (no NaN, no infinity); simple
**     values are false, true and null only (no "undefined");
**   - nesting at most THR_CBOR_MAX_DEPTH levels.
**
** Under these rules every value has exactly one encoding, so a block that
** passes re-encodes to exactly its own bytes (one encoding, one CID); the
** unit and fuzz tests assert that, the decoder does not repeat it.
**
** Decoding is done in two passes.  cbor_prescan walks the input once
** with cbor_stream_decode (no allocation) and checks every rule above:
** before each step it reads the item's head itself for the width of the
** argument and for the item's place (a map key is compared with the
** previous key of its map, both pointing into the input; the content of
** tag 42 must be a link), and libcbor's callbacks report the rest (string
** bytes, float widths, simple values).  Only then does cbor_load build the
** tree, so libcbor never builds one that its recursive free and serializer
** could not walk on a small stack.  thr_cbor_check is the first pass
** alone, for callers that only need to know a block is valid.
*/
#include "thr_core.h"

#include <assert.h>
#include <cbor.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define THR_CBOR_MAX_DEPTH 64

/**************************************************************************
** Building.
*/
thr_cbor *thr_cbor_map(size_t nPair) {
  return cbor_new_definite_map(nPair);
}
thr_cbor *thr_cbor_array(size_t n) {
  return cbor_new_definite_array(n);
}

thr_cbor *thr_cbor_bytes(const unsigned char *a, size_t n) {
  return cbor_build_bytestring(a, n);
}

thr_cbor *thr_cbor_text(const char *z, size_t n) {
  return cbor_build_stringn(z, n);
}

/* libcbor keeps the width it was given; dag-cbor wants the shortest. */
thr_cbor *thr_cbor_uint(uint64_t v) {
  if (v <= 0xff) {
    return cbor_build_uint8((uint8_t)v);
  }
  if (v <= 0xffff) {
    return cbor_build_uint16((uint16_t)v);
  }
  if (v <= 0xffffffff) {
    return cbor_build_uint32((uint32_t)v);
  }
  return cbor_build_uint64(v);
}

thr_cbor *thr_cbor_link(const thr_cid *pCid) {
  unsigned char a[1 + THR_CID_BYTES];
  cbor_item_t *pBytes, *pTag;
  a[0] = 0x00; /* the multibase "identity" prefix dag-cbor requires */
  memcpy(&a[1], pCid->a, THR_CID_BYTES);
  pBytes = cbor_build_bytestring(a, sizeof(a));
  if (pBytes == NULL) {
    return NULL;
  }
  pTag = cbor_build_tag(42, pBytes);
  cbor_decref(&pBytes); /* the tag holds its own reference */
  return pTag;
}

void thr_cbor_free(thr_cbor *p) {
  if (p) {
    cbor_decref(&p);
  }
}

/* Canonical key order of dag-cbor: shorter keys first, then bytewise. */
static int cbor_key_cmp(const unsigned char *a, size_t na,
                        const unsigned char *b, size_t nb) {
  if (na != nb) {
    return na < nb ? -1 : 1;
  }
  return memcmp(a, b, na);
}

void thr_cbor_put(int *pRc, thr_cbor *pMap, const char *zKey, thr_cbor *pVal) {
  cbor_item_t *pKey = NULL;
  if (*pRc == SQLITE_OK) {
    if (pMap == NULL || pVal == NULL) {
      *pRc = SQLITE_NOMEM;
    }
  }
  if (*pRc == SQLITE_OK) {
    size_t n = cbor_map_size(pMap);
    if (n > 0) {
      /* Keys are added in canonical order by construction; check it. */
      struct cbor_pair *aPair = cbor_map_handle(pMap);
      cbor_item_t *pLast = aPair[n - 1].key;
      assert(cbor_key_cmp(cbor_string_handle(pLast), cbor_string_length(pLast),
                          (const unsigned char *)zKey, strlen(zKey)) < 0);
    }
    pKey = cbor_build_string(zKey);
    if (pKey == NULL ||
        !cbor_map_add(pMap, (struct cbor_pair){.key = pKey, .value = pVal})) {
      *pRc = SQLITE_NOMEM;
    }
  }
  if (pKey) {
    cbor_decref(&pKey);
  }
  if (pVal) {
    cbor_decref(&pVal);
  }
}

void thr_cbor_push(int *pRc, thr_cbor *pArr, thr_cbor *pVal) {
  if (*pRc == SQLITE_OK) {
    if (pArr == NULL || pVal == NULL || !cbor_array_push(pArr, pVal)) {
      *pRc = SQLITE_NOMEM;
    }
  }
  if (pVal) {
    cbor_decref(&pVal);
  }
}

int thr_cbor_encode(thr_cbor *p, thr_cbuf *pBuf) {
  unsigned char *aTmp = NULL;
  size_t nAlloc = 0, n;
  pBuf->a = NULL;
  pBuf->n = 0;
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  /* libcbor allocates with malloc(); copy into sqlite3 memory so that every
  ** buffer this module hands out is freed the same way. */
  n = cbor_serialize_alloc(p, &aTmp, &nAlloc);
  if (n == 0) {
    free(aTmp);
    return SQLITE_NOMEM;
  }
  pBuf->a = sqlite3_malloc64(n);
  if (pBuf->a == NULL) {
    free(aTmp);
    return SQLITE_NOMEM;
  }
  memcpy(pBuf->a, aTmp, n);
  pBuf->n = n;
  free(aTmp);
  return SQLITE_OK;
}

/**************************************************************************
** Strict decoding: the streaming prescan.
**
** cbor_stream_decode reads one item per call (a head, and a string's
** bytes) and reports it to a callback below; it allocates nothing.  Before
** each call scan_head reads the head itself for what the callbacks are not
** told: how wide the argument was written, and what the item is to its
** container (a map key, or the content of a link).
*/

/* What the item being read is to its container. */
#define SCAN_VALUE 0 /* an array element, a map value, the top item */
#define SCAN_KEY 1   /* a map key */
#define SCAN_LINK 2  /* the content of tag 42 */

/* The kinds of open levels. */
#define SCAN_ARRAY 0
#define SCAN_MAP 1
#define SCAN_TAG 2

typedef struct scan_level scan_level;
struct scan_level {
  uint64_t nLeft; /* items still to come; a map counts keys and values */
  int eKind;      /* SCAN_ARRAY, SCAN_MAP or SCAN_TAG */
  int bKey;       /* a map that has had a key: (aKey, nKey) is the last */
  const unsigned char *aKey; /* Borrowed from the input being scanned */
  size_t nKey;
};

typedef struct cbor_scan cbor_scan;
struct cbor_scan {
  scan_level aLevel[THR_CBOR_MAX_DEPTH + 1]; /* [1..nDepth] are open */
  int nDepth;                                /* open containers */
  int eRole;        /* SCAN_VALUE, SCAN_KEY or SCAN_LINK: the current item */
  const char *zErr; /* first problem, static text */
};

static void scan_fail(cbor_scan *p, const char *zErr) {
  if (p->zErr == NULL) {
    p->zErr = zErr;
  }
}

/* One item starts: it counts against the innermost open container. */
static void scan_item(cbor_scan *p) {
  while (p->nDepth > 0 && p->aLevel[p->nDepth].nLeft == 0) {
    p->nDepth--; /* cannot happen for well-formed input; be safe */
  }
  if (p->nDepth > 0) {
    p->aLevel[p->nDepth].nLeft--;
  }
}

/* Close every container that has received all its items. */
static void scan_settle(cbor_scan *p) {
  while (p->nDepth > 0 && p->aLevel[p->nDepth].nLeft == 0) {
    p->nDepth--;
  }
}

/* An item that opens a level of kind eKind holding nItem further items. */
static void scan_open(cbor_scan *p, int eKind, uint64_t nItem) {
  scan_level *pLevel;
  scan_item(p);
  if (nItem == 0) {
    scan_settle(p);
    return;
  }
  if (p->nDepth >= THR_CBOR_MAX_DEPTH) {
    scan_fail(p, "nested too deeply");
    return;
  }
  pLevel = &p->aLevel[++p->nDepth];
  pLevel->nLeft = nItem;
  pLevel->eKind = eKind;
  pLevel->bKey = 0;
}

static void scan_leaf(cbor_scan *p) {
  scan_item(p);
  scan_settle(p);
}

/* The least argument that needs a 1, 2, 4 or 8 byte field (additional
** information 24, 25, 26, 27): anything smaller has a shorter form. */
static const uint64_t aScanMin[4] = {24, 0x100, 0x10000, 0x100000000ull};

/* Read the head of the item at a[0] (n > 0 bytes from there on) and set
** p->eRole.  Returns a static description of a problem, or NULL.  A head
** cut short is left for cbor_stream_decode to report as truncated. */
static const char *scan_head(cbor_scan *p, const unsigned char *a, size_t n) {
  unsigned mt = a[0] >> 5, ai = a[0] & 0x1f;
  const scan_level *pUp = p->nDepth > 0 ? &p->aLevel[p->nDepth] : NULL;
  p->eRole = SCAN_VALUE;
  if (pUp && pUp->eKind == SCAN_MAP && (pUp->nLeft & 1) == 0) {
    /* A map of k pairs opens with 2k items left, so a key comes whenever
    ** an even number is left. */
    if (mt != 3) {
      return "map key is not a text string";
    }
    p->eRole = SCAN_KEY;
  } else if (pUp && pUp->eKind == SCAN_TAG) {
    if (mt != 2) {
      return "tag 42 does not hold a valid CID";
    }
    p->eRole = SCAN_LINK;
  }
  /* Major types 0 to 6 carry an argument: an integer, a length, a count
  ** or a tag number.  Major type 7 is left to the callbacks (floats are
  ** checked by width there, simple values by libcbor). */
  if (mt < 7 && ai >= 24 && ai <= 27) {
    size_t nArg = (size_t)1 << (ai - 24), k;
    uint64_t v = 0;
    if (nArg >= n) {
      return NULL;
    }
    for (k = 1; k <= nArg; k++) {
      v = (v << 8) | a[k];
    }
    if (v < aScanMin[ai - 24]) {
      return "integer, length or tag not in its shortest form";
    }
  }
  return NULL;
}

/* Is (a, n) well-formed UTF-8 (RFC 3629 / Unicode table 3-7: no overlong
** forms, no surrogates, nothing above U+10FFFF)?  DAG-CBOR requires it,
** and cbor_load refuses any other text string, so the prescan must too
** for thr_cbor_check to agree with thr_cbor_decode. */
static int cbor_utf8_ok(const unsigned char *a, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = a[i], lo = 0x80, hi = 0xbf;
    size_t nCont, k;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      nCont = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      nCont = 2;
      if (c == 0xe0) {
        lo = 0xa0; /* below is an overlong form of U+0000..U+07FF */
      } else if (c == 0xed) {
        hi = 0x9f; /* above are the surrogates U+D800..U+DFFF */
      }
    } else if (c >= 0xf0 && c <= 0xf4) {
      nCont = 3;
      if (c == 0xf0) {
        lo = 0x90; /* below is an overlong form of U+0000..U+FFFF */
      } else if (c == 0xf4) {
        hi = 0x8f; /* above is past U+10FFFF */
      }
    } else {
      return 0; /* a continuation byte, 0xc0, 0xc1 or 0xf5..0xff */
    }
    if (n - i - 1 < nCont || a[i + 1] < lo || a[i + 1] > hi) {
      return 0;
    }
    for (k = 2; k <= nCont; k++) {
      if ((a[i + k] & 0xc0) != 0x80) {
        return 0;
      }
    }
    i += 1 + nCont;
  }
  return 1;
}

/* Is (a, n) the content of a link, 0x00 || a CID we read?  The CID is
** written to *pCid when it is. */
static int cbor_link_bytes(const unsigned char *a, size_t n, thr_cid *pCid) {
  char *zErr = NULL;
  int rc;
  if (n < 1 || a[0] != 0x00) {
    return 0;
  }
  rc = thr_cid_from_bytes(pCid, a + 1, n - 1, &zErr);
  sqlite3_free(zErr);
  return rc == SQLITE_OK;
}

static void scan_u8(void *pCtx, uint8_t v) {
  (void)v;
  scan_leaf(pCtx);
}
static void scan_u16(void *pCtx, uint16_t v) {
  (void)v;
  scan_leaf(pCtx);
}
static void scan_u32(void *pCtx, uint32_t v) {
  (void)v;
  scan_leaf(pCtx);
}
static void scan_u64(void *pCtx, uint64_t v) {
  (void)v;
  scan_leaf(pCtx);
}
static void scan_bytes(void *pCtx, cbor_data a, size_t n) {
  cbor_scan *p = pCtx;
  thr_cid cid;
  if (p->eRole == SCAN_LINK && !cbor_link_bytes(a, n, &cid)) {
    scan_fail(p, "tag 42 does not hold a valid CID");
  }
  scan_leaf(p);
}
static void scan_text(void *pCtx, cbor_data a, size_t n) {
  cbor_scan *p = pCtx;
  if (!cbor_utf8_ok(a, n)) {
    scan_fail(p, "text string is not valid UTF-8");
  } else if (p->eRole == SCAN_KEY) {
    /* (a, n) points into the input, which outlives the scan. */
    scan_level *pMap = &p->aLevel[p->nDepth];
    if (pMap->bKey && cbor_key_cmp(pMap->aKey, pMap->nKey, a, n) >= 0) {
      scan_fail(p, "map keys not in canonical order or repeated");
    }
    pMap->bKey = 1;
    pMap->aKey = a;
    pMap->nKey = n;
  }
  scan_leaf(p);
}
static void scan_bool(void *pCtx, bool v) {
  (void)v;
  scan_leaf(pCtx);
}
static void scan_null(void *pCtx) {
  scan_leaf(pCtx);
}
static void scan_double(void *pCtx, double v) {
  if (!isfinite(v)) {
    scan_fail(pCtx, "NaN or infinity");
  }
  scan_leaf(pCtx);
}
static void scan_float(void *pCtx, float v) {
  (void)v;
  scan_fail(pCtx, "float narrower than 64 bits");
}
static void scan_indef(void *pCtx) {
  scan_fail(pCtx, "indefinite length");
}
static void scan_undefined(void *pCtx) {
  scan_fail(pCtx, "undefined is not allowed");
}
static void scan_array(void *pCtx, size_t n) {
  scan_open(pCtx, SCAN_ARRAY, n);
}
static void scan_map(void *pCtx, size_t n) {
  cbor_scan *p = pCtx;
  if (n > UINT64_MAX / 2) {
    scan_fail(p, "map too large");
    return;
  }
  scan_open(p, SCAN_MAP, (uint64_t)n * 2);
}
static void scan_tag(void *pCtx, uint64_t v) {
  if (v != 42) {
    scan_fail(pCtx, "tag other than 42");
    return;
  }
  scan_open(pCtx, SCAN_TAG, 1);
}

/* Simple values other than false, true, null and undefined (0xe0..0xf3,
** 0xf8 xx) have no callback: cbor_stream_decode fails on them, and so
** does the prescan ("malformed"). */
static const struct cbor_callbacks scanCallbacks = {
    .uint8 = scan_u8,
    .uint16 = scan_u16,
    .uint32 = scan_u32,
    .uint64 = scan_u64,
    .negint8 = scan_u8,
    .negint16 = scan_u16,
    .negint32 = scan_u32,
    .negint64 = scan_u64,
    .byte_string_start = scan_indef,
    .byte_string = scan_bytes,
    .string = scan_text,
    .string_start = scan_indef,
    .indef_array_start = scan_indef,
    .array_start = scan_array,
    .indef_map_start = scan_indef,
    .map_start = scan_map,
    .tag = scan_tag,
    .float2 = scan_float,
    .float4 = scan_float,
    .float8 = scan_double,
    .undefined = scan_undefined,
    .null = scan_null,
    .boolean = scan_bool,
    .indef_break = scan_indef,
};

/* Walk the whole input item by item.  Returns NULL if it is one complete
** item in canonical dag-cbor form, else a static description of the first
** problem. */
static const char *cbor_prescan(const unsigned char *a, size_t n) {
  cbor_scan s;
  size_t i = 0;
  s.nDepth = 0;
  s.eRole = SCAN_VALUE;
  s.zErr = NULL;
  if (n == 0) {
    return "empty input";
  }
  do {
    struct cbor_decoder_result r;
    const char *zHead = scan_head(&s, a + i, n - i);
    if (zHead) {
      return zHead;
    }
    r = cbor_stream_decode(a + i, n - i, &scanCallbacks, &s);
    if (r.status != CBOR_DECODER_FINISHED || r.read == 0) {
      return r.status == CBOR_DECODER_NEDATA ? "truncated" : "malformed";
    }
    if (s.zErr) {
      return s.zErr;
    }
    i += r.read;
  } while (s.nDepth > 0 && i < n);
  if (s.nDepth > 0) {
    return "truncated";
  }
  if (i != n) {
    return "trailing bytes";
  }
  return NULL;
}

int thr_cbor_check(const unsigned char *a, size_t n, char **pzErr) {
  const char *zWhy = cbor_prescan(a, n);
  if (zWhy) {
    *pzErr = sqlite3_mprintf("%s: %s", THR_CHECK_DECODE, zWhy);
    return SQLITE_ERROR;
  }
  return SQLITE_OK;
}

thr_cbor *thr_cbor_decode(const unsigned char *a, size_t n, char **pzErr) {
  struct cbor_load_result res;
  cbor_item_t *p;
  if (thr_cbor_check(a, n, pzErr) != SQLITE_OK) {
    return NULL;
  }
  /* The input is one canonical item now, so building the tree can only
  ** run out of memory; "malformed" would mean the prescan and cbor_load
  ** disagree on what is well-formed. */
  p = cbor_load(a, n, &res);
  if (p == NULL || res.read != n) {
    thr_cbor_free(p);
    *pzErr = sqlite3_mprintf(
        "%s: %s", THR_CHECK_DECODE,
        res.error.code == CBOR_ERR_MEMERROR ? "out of memory" : "malformed");
    return NULL;
  }
  return p;
}

/**************************************************************************
** Accessors.
*/
thr_cbor *thr_cbor_get(thr_cbor *pMap, const char *zKey) {
  size_t i, n, nKey = strlen(zKey);
  struct cbor_pair *aPair;
  if (pMap == NULL || !cbor_isa_map(pMap)) {
    return NULL;
  }
  aPair = cbor_map_handle(pMap);
  n = cbor_map_size(pMap);
  for (i = 0; i < n; i++) {
    cbor_item_t *pKey = aPair[i].key;
    if (cbor_isa_string(pKey) && cbor_string_is_definite(pKey) &&
        cbor_string_length(pKey) == nKey &&
        memcmp(cbor_string_handle(pKey), zKey, nKey) == 0) {
      return aPair[i].value;
    }
  }
  return NULL;
}

const unsigned char *thr_cbor_as_bytes(thr_cbor *p, size_t *pn) {
  if (p == NULL || !cbor_isa_bytestring(p) || !cbor_bytestring_is_definite(p)) {
    return NULL;
  }
  *pn = cbor_bytestring_length(p);
  return cbor_bytestring_handle(p);
}

const char *thr_cbor_as_text(thr_cbor *p, size_t *pn) {
  if (p == NULL || !cbor_isa_string(p) || !cbor_string_is_definite(p)) {
    return NULL;
  }
  *pn = cbor_string_length(p);
  return (const char *)cbor_string_handle(p);
}

int thr_cbor_as_uint(thr_cbor *p, uint64_t *pV) {
  if (p == NULL || !cbor_isa_uint(p)) {
    return 0;
  }
  *pV = cbor_get_int(p);
  return 1;
}

int thr_cbor_as_link(thr_cbor *p, thr_cid *pCid) {
  const unsigned char *a;
  size_t n = 0;
  if (p == NULL || !cbor_isa_tag(p) || cbor_tag_value(p) != 42) {
    return 0;
  }
  a = thr_cbor_as_bytes(cbor_move(cbor_tag_item(p)), &n);
  return a != NULL && cbor_link_bytes(a, n, pCid);
}

size_t thr_cbor_map_size(thr_cbor *p) {
  return (p && cbor_isa_map(p)) ? cbor_map_size(p) : 0;
}

size_t thr_cbor_array_size(thr_cbor *p) {
  return (p && cbor_isa_array(p)) ? cbor_array_size(p) : 0;
}

thr_cbor *thr_cbor_array_at(thr_cbor *p, size_t i) {
  if (p == NULL || !cbor_isa_array(p) || i >= cbor_array_size(p)) {
    return NULL;
  }
  return cbor_array_handle(p)[i];
}

/**************************************************************************
** The streaming writer.
*/

/* Make room for n more bytes: only writers in growing mode can. */
static int cw_grow(thr_cw *p, size_t n) {
  size_t nNew = p->nAlloc ? p->nAlloc : 256;
  unsigned char *aNew;
  if (!p->bGrow) {
    p->rc = SQLITE_TOOBIG;
    return 0;
  }
  while (nNew - p->n < n) {
    nNew *= 2;
  }
  aNew = sqlite3_realloc64(p->a, nNew);
  if (aNew == NULL) {
    p->rc = SQLITE_NOMEM;
    return 0;
  }
  p->a = aNew;
  p->nAlloc = nNew;
  return 1;
}

/* Reserve n bytes at the end of the output; NULL once the writer failed. */
static unsigned char *cw_room(thr_cw *p, size_t n) {
  unsigned char *a;
  if (p->rc != SQLITE_OK) {
    return NULL;
  }
  if (p->nAlloc - p->n < n && !cw_grow(p, n)) {
    return NULL;
  }
  a = p->a + p->n;
  p->n += n;
  return a;
}

/* Write a header with libcbor's encoder xEnc into the spare room. */
static void cw_head(thr_cw *p,
                    size_t (*xEnc)(uint64_t, unsigned char *, size_t),
                    uint64_t v) {
  size_t n;
  if (p->rc != SQLITE_OK) {
    return;
  }
  if (p->nAlloc - p->n < 9 && !cw_grow(p, 9)) {
    return; /* a CBOR header is at most 9 bytes */
  }
  n = xEnc(v, p->a + p->n, p->nAlloc - p->n);
  if (n == 0) {
    p->rc = SQLITE_TOOBIG;
  }
  p->n += n;
}

static size_t cw_enc_map(uint64_t v, unsigned char *a, size_t n) {
  return cbor_encode_map_start((size_t)v, a, n);
}
static size_t cw_enc_text(uint64_t v, unsigned char *a, size_t n) {
  return cbor_encode_string_start((size_t)v, a, n);
}
static size_t cw_enc_bytes(uint64_t v, unsigned char *a, size_t n) {
  return cbor_encode_bytestring_start((size_t)v, a, n);
}
static size_t cw_enc_tag(uint64_t v, unsigned char *a, size_t n) {
  return cbor_encode_tag(v, a, n);
}

void thr_cw_map(thr_cw *p, size_t nPair) {
  cw_head(p, cw_enc_map, nPair);
}

static size_t cw_enc_array(uint64_t v, unsigned char *a, size_t n) {
  return cbor_encode_array_start((size_t)v, a, n);
}

void thr_cw_array(thr_cw *p, size_t n) {
  cw_head(p, cw_enc_array, n);
}

void thr_cw_text(thr_cw *p, const char *z) {
  size_t n = strlen(z);
  unsigned char *a;
  cw_head(p, cw_enc_text, n);
  if ((a = cw_room(p, n)) != NULL) {
    memcpy(a, z, n);
  }
}

void thr_cw_bytes(thr_cw *p, const unsigned char *aIn, size_t n) {
  unsigned char *a;
  cw_head(p, cw_enc_bytes, n);
  if ((a = cw_room(p, n)) != NULL) {
    memcpy(a, aIn, n);
  }
}

void thr_cw_bytes_head(thr_cw *p, size_t n) {
  cw_head(p, cw_enc_bytes, n);
}

void thr_cw_raw(thr_cw *p, const unsigned char *aIn, size_t n) {
  unsigned char *a = n ? cw_room(p, n) : NULL;
  if (a) {
    memcpy(a, aIn, n);
  }
}

/* cbor_encode_uint picks the shortest width, as dag-cbor requires. */
void thr_cw_uint(thr_cw *p, uint64_t v) {
  cw_head(p, cbor_encode_uint, v);
}

void thr_cw_link(thr_cw *p, const thr_cid *pCid) {
  unsigned char *a;
  cw_head(p, cw_enc_tag, 42);
  cw_head(p, cw_enc_bytes, 1 + THR_CID_BYTES);
  if ((a = cw_room(p, 1 + THR_CID_BYTES)) != NULL) {
    a[0] = 0x00;
    memcpy(a + 1, pCid->a, THR_CID_BYTES);
  }
}

/**************************************************************************
** Byte-string envelopes.  These are the hot path of every encrypted block,
** and a byte string header is one to nine bytes, so we write and check it
** with libcbor's header encoder rather than building a tree.
*/
int thr_cbor_bytes_alloc(size_t n, thr_cbuf *pBuf, unsigned char **paBody) {
  unsigned char aHdr[9];
  size_t nHdr = cbor_encode_bytestring_start(n, aHdr, sizeof(aHdr));
  pBuf->n = 0;
  pBuf->a = nHdr ? sqlite3_malloc64(nHdr + n + 1) : NULL;
  if (pBuf->a == NULL) {
    return SQLITE_NOMEM;
  }
  memcpy(pBuf->a, aHdr, nHdr);
  pBuf->n = nHdr + n;
  *paBody = pBuf->a + nHdr;
  return SQLITE_OK;
}

int thr_cbor_wrap_bytes(const unsigned char *a, size_t n, thr_cbuf *pBuf) {
  unsigned char *aBody;
  int rc = thr_cbor_bytes_alloc(n, pBuf, &aBody);
  if (rc == SQLITE_OK && n > 0) {
    memcpy(aBody, a, n);
  }
  return rc;
}

int thr_cbor_unwrap_bytes(const unsigned char *a, size_t n,
                          const unsigned char **pa, size_t *pn) {
  unsigned char aHdr[9];
  size_t nHdr, nBody;
  if (n < 1 || (a[0] >> 5) != 2 /* major type 2: byte string */) {
    return SQLITE_ERROR;
  }
  switch (a[0] & 0x1f) {
  case 24:
    nHdr = 2;
    break;
  case 25:
    nHdr = 3;
    break;
  case 26:
    nHdr = 5;
    break;
  case 27:
    nHdr = 9;
    break;
  default:
    if ((a[0] & 0x1f) > 27) {
      return SQLITE_ERROR; /* reserved or indefinite */
    }
    nHdr = 1;
  }
  if (n < nHdr) {
    return SQLITE_ERROR;
  }
  nBody = n - nHdr;
  /* The header must be the shortest encoding of exactly the rest. */
  if (cbor_encode_bytestring_start(nBody, aHdr, sizeof(aHdr)) != nHdr ||
      memcmp(aHdr, a, nHdr) != 0) {
    return SQLITE_ERROR;
  }
  *pa = a + nHdr;
  *pn = nBody;
  return SQLITE_OK;
}
