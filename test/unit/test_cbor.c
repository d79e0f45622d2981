/*
** test_cbor.c: unit tests for core/cbor.c and core/cid.c.
**
** The expected bytes below come from RFC 8949 (the CBOR header rules), the
** DAG-CBOR spec (tag 42 over 0x00 || CID, canonical key order), hand
** computation, and digests and base32 texts computed independently with
** python3 (hashlib, base64) while the tests were written; none was produced
** by the code under test.
*/
#include "thr_core.h"
#include "tt.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The CID text of the dag-cbor empty map (the single byte 0xa0). */
static const char zEmptyMapCid[] =
    "bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua";

/* sha256(0xa0), from python3 hashlib. */
static const char zEmptyMapSha[] =
    "c19a797fa1fd590cd2e5b42d1cf5f246e29b91684e2f87404b81dc345c7a56a0";

/* Convert hex text (spaces ignored) into a[], which has room for it.
** Returns the number of bytes written. */
static size_t hex2bin(const char *zHex, unsigned char *a) {
  size_t n = 0;
  int hi = -1;
  for (; *zHex; zHex++) {
    int c = *zHex, v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      continue;
    }
    if (hi < 0) {
      hi = v;
    } else {
      a[n++] = (unsigned char)(hi * 16 + v);
      hi = -1;
    }
  }
  return n;
}

/* Copy (a, n) into a heap buffer of exactly n bytes, so that
** AddressSanitizer catches any read past the end.  Free with free(). */
static unsigned char *exact_copy(const unsigned char *a, size_t n) {
  unsigned char *p = malloc(n ? n : 1);
  if (p && n) {
    memcpy(p, a, n);
  }
  return p;
}

/* Encode p (and free it); return 1 if the bytes are exactly (aWant, n). */
static int enc_is(thr_cbor *p, const unsigned char *aWant, size_t nWant) {
  thr_cbuf buf = {0, 0};
  int ok = p != NULL && thr_cbor_encode(p, &buf) == SQLITE_OK &&
           buf.n == nWant && memcmp(buf.a, aWant, nWant) == 0;
  sqlite3_free(buf.a);
  thr_cbor_free(p);
  return ok;
}
static int enc_is_hex(thr_cbor *p, const char *zHex) {
  unsigned char a[256];
  size_t n = hex2bin(zHex, a);
  return enc_is(p, a, n);
}

/* Decode (a, n) and describe the outcome: "OK" if it decoded and the tree
** re-encodes to exactly the input, else the error message.  Violations of
** the failure contract (NULL result with a message) are reported as such.
** The result lives in a static buffer until the next call. */
static const char *dec_msg_n(const unsigned char *a, size_t n) {
  static char zBuf[256];
  unsigned char *aCopy = exact_copy(a, n);
  char *zErr = NULL;
  thr_cbor *p = thr_cbor_decode(aCopy, n, &zErr);
  if (p != NULL) {
    thr_cbuf buf = {0, 0};
    if (zErr != NULL) {
      snprintf(zBuf, sizeof(zBuf), "error set on success");
    } else if (thr_cbor_encode(p, &buf) != SQLITE_OK || buf.n != n ||
               memcmp(buf.a, a, n) != 0) {
      snprintf(zBuf, sizeof(zBuf), "accepted but re-encodes differently");
    } else {
      snprintf(zBuf, sizeof(zBuf), "OK");
    }
    sqlite3_free(buf.a);
    thr_cbor_free(p);
  } else if (zErr == NULL) {
    snprintf(zBuf, sizeof(zBuf), "NULL without a message");
  } else {
    snprintf(zBuf, sizeof(zBuf), "%s", zErr);
  }
  sqlite3_free(zErr);
  free(aCopy);
  return zBuf;
}
static const char *dec_msg_hex(const char *zHex) {
  unsigned char a[512];
  size_t n = hex2bin(zHex, a);
  return dec_msg_n(a, n);
}

/* The first 17 characters of the decode outcome: every rejection must
** start with "undecodable block" (THR_CHECK_DECODE). */
static const char *dec_kind_n(const unsigned char *a, size_t n) {
  static char zBuf[32];
  snprintf(zBuf, sizeof(zBuf), "%.17s", dec_msg_n(a, n));
  return zBuf;
}
static const char *dec_kind(const char *zHex) {
  unsigned char a[512];
  size_t n = hex2bin(zHex, a);
  return dec_kind_n(a, n);
}

/* The CID bytes of the empty map, from the independent digest above. */
static void empty_map_cid_bytes(unsigned char a[THR_CID_BYTES]) {
  a[0] = 0x01;
  a[1] = 0x71;
  a[2] = 0x12;
  a[3] = 0x20;
  hex2bin(zEmptyMapSha, &a[4]);
}

/* Describe the outcome of a call that returns SQLITE_OK, or SQLITE_ERROR
** with message zErr (freed here), into zBuf: "OK", the message, or how the
** contract was broken. */
static const char *rc_msg(int rc, char *zErr, char *zBuf, size_t nBuf) {
  if (rc == SQLITE_OK) {
    snprintf(zBuf, nBuf, "%s", zErr ? "error set on success" : "OK");
  } else if (rc != SQLITE_ERROR || zErr == NULL) {
    snprintf(zBuf, nBuf, "bad failure contract rc=%d", rc);
  } else {
    snprintf(zBuf, nBuf, "%s", zErr);
  }
  sqlite3_free(zErr);
  return zBuf;
}

/* Parse a CID text and return "OK" or the message (static buffer). */
static const char *cid_msg(const char *z) {
  static char zBuf[256];
  thr_cid cid;
  char *zErr = NULL;
  int rc = thr_cid_parse(&cid, z, &zErr);
  return rc_msg(rc, zErr, zBuf, sizeof(zBuf));
}
static const char *cid_kind(const char *z) {
  static char zBuf[32];
  snprintf(zBuf, sizeof(zBuf), "%.11s", cid_msg(z));
  return zBuf;
}

/**************************************************************************
** Known answers.
*/
static void test_empty_map_cid(void) {
  thr_cid cid;
  unsigned char aWant[THR_CID_BYTES];
  char *z;
  thr_cbuf buf = {0, 0};
  thr_cbor *p = thr_cbor_map(0);

  TT_CHECK(p != NULL);
  TT_CHECK(thr_cbor_encode(p, &buf) == SQLITE_OK);
  TT_CHECK(buf.n == 1 && buf.a && buf.a[0] == 0xa0);
  thr_cbor_free(p);
  sqlite3_free(buf.a);

  thr_cid_of(&cid, THR_CODEC_DAGCBOR, (const unsigned char *)"\xa0", 1);
  empty_map_cid_bytes(aWant);
  TT_CHECK(memcmp(cid.a, aWant, THR_CID_BYTES) == 0);
  z = thr_cid_text(&cid);
  TT_STREQ(z, zEmptyMapCid);
  sqlite3_free(z);

  /* The raw CID of the empty block is a widely published constant. */
  thr_cid_of(&cid, THR_CODEC_RAW, (const unsigned char *)"", 0);
  z = thr_cid_text(&cid);
  TT_STREQ(z, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
  sqlite3_free(z);
}

/**************************************************************************
** Encoding.
*/
static void test_encode_uint(void) {
  /* RFC 8949 section 3: 0..23 in the initial byte, then 1, 2, 4, 8 byte
  ** arguments after 0x18, 0x19, 0x1a, 0x1b, always the shortest. */
  TT_CHECK(enc_is_hex(thr_cbor_uint(0), "00"));
  TT_CHECK(enc_is_hex(thr_cbor_uint(1), "01"));
  TT_CHECK(enc_is_hex(thr_cbor_uint(23), "17"));
  TT_CHECK(enc_is_hex(thr_cbor_uint(24), "18 18"));
  TT_CHECK(enc_is_hex(thr_cbor_uint(255), "18 ff"));
  TT_CHECK(enc_is_hex(thr_cbor_uint(256), "19 01 00"));
  TT_CHECK(enc_is_hex(thr_cbor_uint(65535), "19 ff ff"));
  TT_CHECK(enc_is_hex(thr_cbor_uint(65536), "1a 00 01 00 00"));
  TT_CHECK(enc_is_hex(thr_cbor_uint(0xffffffffull), "1a ff ff ff ff"));
  TT_CHECK(
      enc_is_hex(thr_cbor_uint(0x100000000ull), "1b 00 00 00 01 00 00 00 00"));
  TT_CHECK(enc_is_hex(thr_cbor_uint(UINT64_MAX), "1b ff ff ff ff ff ff ff ff"));
}

static void test_encode_strings(void) {
  unsigned char aBig[300];
  unsigned char aWant[303];
  size_t i;
  /* Major type 3 is 0x60 + length, major type 2 is 0x40 + length. */
  TT_CHECK(enc_is_hex(thr_cbor_text("", 0), "60"));
  TT_CHECK(enc_is_hex(thr_cbor_text("hello", 5), "65 68 65 6c 6c 6f"));
  TT_CHECK(enc_is_hex(thr_cbor_bytes((const unsigned char *)"", 0), "40"));
  TT_CHECK(enc_is_hex(thr_cbor_bytes((const unsigned char *)"\x01\x02\x03", 3),
                      "43 01 02 03"));
  /* 300 = 0x012c needs the two-byte length form 0x59. */
  for (i = 0; i < sizeof(aBig); i++) {
    aBig[i] = (unsigned char)i;
  }
  aWant[0] = 0x59;
  aWant[1] = 0x01;
  aWant[2] = 0x2c;
  memcpy(&aWant[3], aBig, sizeof(aBig));
  TT_CHECK(enc_is(thr_cbor_bytes(aBig, sizeof(aBig)), aWant, sizeof(aWant)));
}

static void test_encode_map_array(void) {
  int rc = SQLITE_OK;
  thr_cbor *pMap = thr_cbor_map(3);
  thr_cbor *pArr = thr_cbor_array(2);

  /* Canonical order is length first, so "aa" comes after "b".  By hand:
  ** a3, then 61 61 01, 61 62 02, 62 61 61 03. */
  thr_cbor_put(&rc, pMap, "a", thr_cbor_uint(1));
  thr_cbor_put(&rc, pMap, "b", thr_cbor_uint(2));
  thr_cbor_put(&rc, pMap, "aa", thr_cbor_uint(3));
  TT_CHECK(rc == SQLITE_OK);
  TT_CHECK(thr_cbor_map_size(pMap) == 3);
  TT_CHECK(enc_is_hex(pMap, "a3 61 61 01 61 62 02 62 61 61 03"));

  thr_cbor_push(&rc, pArr, thr_cbor_uint(24));
  thr_cbor_push(&rc, pArr, thr_cbor_text("x", 1));
  TT_CHECK(rc == SQLITE_OK);
  TT_CHECK(thr_cbor_array_size(pArr) == 2);
  TT_CHECK(enc_is_hex(pArr, "82 18 18 61 78"));

  TT_CHECK(enc_is_hex(thr_cbor_array(0), "80"));
}

static void test_encode_put_failure(void) {
  int rc = SQLITE_OK;
  thr_cbor *pMap = thr_cbor_map(2);
  /* A NULL value (what a failed builder returns) must set SQLITE_NOMEM, and
  ** later calls must still take ownership of their values: LeakSanitizer
  ** would report the uint below otherwise. */
  thr_cbor_put(&rc, pMap, "a", NULL);
  TT_CHECK(rc == SQLITE_NOMEM);
  thr_cbor_put(&rc, pMap, "b", thr_cbor_uint(7));
  TT_CHECK(rc == SQLITE_NOMEM);
  TT_CHECK(thr_cbor_map_size(pMap) == 0);
  thr_cbor_free(pMap);

  rc = SQLITE_OK;
  pMap = thr_cbor_array(1);
  thr_cbor_push(&rc, pMap, NULL);
  TT_CHECK(rc == SQLITE_NOMEM);
  thr_cbor_push(&rc, pMap, thr_cbor_uint(7));
  TT_CHECK(thr_cbor_array_size(pMap) == 0);
  thr_cbor_free(pMap);

  /* Encoding nothing is an error, not a crash. */
  {
    thr_cbuf buf = {(unsigned char *)1, 5};
    TT_CHECK(thr_cbor_encode(NULL, &buf) == SQLITE_NOMEM);
    TT_CHECK(buf.a == NULL && buf.n == 0);
  }
}

static void test_encode_link(void) {
  thr_cid cid;
  unsigned char aWant[5 + THR_CID_BYTES];
  thr_cid_of(&cid, THR_CODEC_DAGCBOR, (const unsigned char *)"\xa0", 1);
  /* Tag 42 (d8 2a) over a 37-byte string (58 25) of 0x00 || CID. */
  aWant[0] = 0xd8;
  aWant[1] = 0x2a;
  aWant[2] = 0x58;
  aWant[3] = 0x25;
  aWant[4] = 0x00;
  empty_map_cid_bytes(&aWant[5]);
  TT_CHECK(enc_is(thr_cbor_link(&cid), aWant, sizeof(aWant)));
}

/**************************************************************************
** Strict decoding.
*/
static void test_decode_rejects(void) {
  static const char zU[] = "undecodable block";
  /* Non-shortest integers and lengths (RFC 8949 4.2.1 preferred form). */
  TT_STREQ(dec_kind("18 05"), zU);
  TT_STREQ(dec_kind("18 17"), zU);
  TT_STREQ(dec_kind("38 00"), zU);
  TT_STREQ(dec_kind("58 01 00"), zU);
  TT_STREQ(dec_kind("78 01 61"), zU);
  TT_STREQ(dec_kind("98 01 00"), zU);
  TT_STREQ(dec_kind("b8 01 61 61 00"), zU);
  TT_STREQ(dec_kind("d9 00 2a 58 25 00 01 71 12 20"
                    "c19a797fa1fd590cd2e5b42d1cf5f246e29b91684e2f87404b81dc34"
                    "5c7a56a0"),
           zU);
  /* Map keys: order (length first, then bytewise), uniqueness, type. */
  TT_STREQ(dec_kind("a2 61 62 01 61 61 02"), zU);
  TT_STREQ(dec_kind("a2 62 61 61 01 61 62 02"), zU);
  TT_STREQ(dec_kind("a2 61 61 01 61 61 02"), zU);
  TT_STREQ(dec_kind("a1 01 02"), zU);
  TT_STREQ(dec_kind("a1 41 61 02"), zU);
  /* Indefinite lengths. */
  TT_STREQ(dec_kind("9f 01 ff"), zU);
  TT_STREQ(dec_kind("9f ff"), zU);
  TT_STREQ(dec_kind("5f 41 00 ff"), zU);
  TT_STREQ(dec_kind("7f 61 61 ff"), zU);
  TT_STREQ(dec_kind("bf ff"), zU);
  TT_STREQ(dec_kind("ff"), zU);
  /* Tags other than 42, and 42 over anything but 0x00 || valid CID. */
  TT_STREQ(dec_kind("d8 2b 00"), zU);
  TT_STREQ(dec_kind("c1 00"), zU);
  TT_STREQ(dec_kind("d8 2a 43 01 02 03"), zU);
  TT_STREQ(dec_kind("d8 2a 61 61"), zU);
  TT_STREQ(dec_kind("d8 2a 58 25 01 01 71 12 20"
                    "c19a797fa1fd590cd2e5b42d1cf5f246e29b91684e2f87404b81dc34"
                    "5c7a56a0"),
           zU);
  TT_STREQ(dec_kind("d8 2a 58 25 00 01 70 12 20"
                    "c19a797fa1fd590cd2e5b42d1cf5f246e29b91684e2f87404b81dc34"
                    "5c7a56a0"),
           zU);
  TT_STREQ(dec_kind("d8 2a d8 2a 40"), zU);
  /* Floats narrower than 64 bits, undefined, other simple values. */
  TT_STREQ(dec_kind("f9 3c 00"), zU);
  TT_STREQ(dec_kind("fa 3f 80 00 00"), zU);
  TT_STREQ(dec_kind("f7"), zU);
  TT_STREQ(dec_kind("f8 20"), zU);
  TT_STREQ(dec_kind("e0"), zU);
  /* Framing: trailing bytes, truncation, empty input. */
  TT_STREQ(dec_kind("a0 00"), zU);
  TT_STREQ(dec_kind("00 00"), zU);
  TT_STREQ(dec_kind("82 01"), zU);
  TT_STREQ(dec_kind("a1 61 61"), zU);
  TT_STREQ(dec_kind("19 01"), zU);
  TT_STREQ(dec_kind("43 01 02"), zU);
  TT_STREQ(dec_kind("fb 3f f0 00"), zU);
  TT_STREQ(dec_kind("d8 2a"), zU);
  TT_STREQ(dec_kind("9b ff ff ff ff ff ff ff ff"), zU);
  TT_STREQ(dec_kind_n((const unsigned char *)"\xa0", 0), zU);
}

static void test_decode_rejects_wide_int(void) {
  static const char zU[] = "undecodable block";
  /* The shortest-form rule covers every argument width, not only the
  ** one-byte form: 5 fits in the initial byte, 255 in one byte, 65535 in
  ** two, 2^32 - 1 in four. */
  TT_STREQ(dec_kind("19 00 05"), zU);
  TT_STREQ(dec_kind("19 00 ff"), zU);
  TT_STREQ(dec_kind("1a 00 00 00 05"), zU);
  TT_STREQ(dec_kind("1a 00 00 ff ff"), zU);
  TT_STREQ(dec_kind("1b 00 00 00 00 00 00 00 05"), zU);
  TT_STREQ(dec_kind("1b 00 00 00 00 ff ff ff ff"), zU);
  TT_STREQ(dec_kind("39 00 00"), zU);
  TT_STREQ(dec_kind("a1 61 61 19 00 01"), zU);
}

/* A buffer of nArr one-element array headers (0x81) around aLeaf. */
static unsigned char *nested(int nArr, const unsigned char *aLeaf, size_t nLeaf,
                             size_t *pn) {
  unsigned char *a = malloc((size_t)nArr + nLeaf);
  if (a) {
    memset(a, 0x81, (size_t)nArr);
    memcpy(a + nArr, aLeaf, nLeaf);
    *pn = (size_t)nArr + nLeaf;
  }
  return a;
}

static void test_decode_depth(void) {
  static const unsigned char aEmpty[] = {0x80};
  static const unsigned char aZero[] = {0x00};
  unsigned char aLink[5 + THR_CID_BYTES];
  unsigned char *a;
  size_t n = 0;

  /* A very deep input must fail in the prescan, long before anything
  ** recursive sees it.  Run under ASan this would overflow the stack if the
  ** limit were not enforced. */
  a = nested(100000, aEmpty, 1, &n);
  TT_CHECK(a != NULL);
  if (a) {
    TT_STREQ(dec_kind_n(a, n), "undecodable block");
    free(a);
  }

  /* Each 0x81 opens a level with one item left; the innermost empty array
  ** or integer opens none.  THR_CBOR_MAX_DEPTH is 64 open levels, so 64
  ** headers decode and the 65th header is one too many. */
  a = nested(64, aEmpty, 1, &n);
  TT_STREQ(dec_msg_n(a, n), "OK");
  free(a);
  a = nested(65, aEmpty, 1, &n);
  TT_STREQ(dec_kind_n(a, n), "undecodable block");
  free(a);
  a = nested(64, aZero, 1, &n);
  TT_STREQ(dec_msg_n(a, n), "OK");
  free(a);
  a = nested(65, aZero, 1, &n);
  TT_STREQ(dec_kind_n(a, n), "undecodable block");
  free(a);

  /* An open tag counts as a level too: 63 arrays plus the link's tag are
  ** 64 open levels, 64 arrays plus the tag are 65. */
  aLink[0] = 0xd8;
  aLink[1] = 0x2a;
  aLink[2] = 0x58;
  aLink[3] = 0x25;
  aLink[4] = 0x00;
  empty_map_cid_bytes(&aLink[5]);
  a = nested(63, aLink, sizeof(aLink), &n);
  TT_STREQ(dec_msg_n(a, n), "OK");
  free(a);
  a = nested(64, aLink, sizeof(aLink), &n);
  TT_STREQ(dec_kind_n(a, n), "undecodable block");
  free(a);
}

static void test_decode_accepts(void) {
  /* 1.5 and -0.0 as 64-bit floats (DAG-CBOR always uses 64 bits). */
  TT_STREQ(dec_msg_hex("fb 3f f8 00 00 00 00 00 00"), "OK");
  TT_STREQ(dec_msg_hex("fb 80 00 00 00 00 00 00 00"), "OK");
  TT_STREQ(dec_msg_hex("f6"), "OK");
  TT_STREQ(dec_msg_hex("f5"), "OK");
  TT_STREQ(dec_msg_hex("f4"), "OK");
  /* -1, -24, -25, -256, -257, -2^64. */
  TT_STREQ(dec_msg_hex("20"), "OK");
  TT_STREQ(dec_msg_hex("37"), "OK");
  TT_STREQ(dec_msg_hex("38 18"), "OK");
  TT_STREQ(dec_msg_hex("38 ff"), "OK");
  TT_STREQ(dec_msg_hex("39 01 00"), "OK");
  TT_STREQ(dec_msg_hex("3b ff ff ff ff ff ff ff ff"), "OK");
  TT_STREQ(dec_msg_hex("1b ff ff ff ff ff ff ff ff"), "OK");
  TT_STREQ(dec_msg_hex("1a 00 01 00 00"), "OK");
  TT_STREQ(dec_msg_hex("a0"), "OK");
  TT_STREQ(dec_msg_hex("80"), "OK");
  TT_STREQ(dec_msg_hex("40"), "OK");
  TT_STREQ(dec_msg_hex("60"), "OK");
  TT_STREQ(dec_msg_hex("a3 61 61 01 61 62 02 62 61 61 03"), "OK");
  /* A raw-codec CID is a valid link target too. */
  TT_STREQ(dec_msg_hex("d8 2a 58 25 00 01 55 12 20"
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca4959"
                       "91b7852b855"),
           "OK");
}

static void test_decode_tree(void) {
  /* {"n": [1, -1, "hi"], "x": {"b": h'0102', "link": <empty-map CID>}}.
  ** "n" < "x" bytewise; "b" is shorter than "link". */
  unsigned char a[128];
  size_t n = hex2bin("a2 61 6e 83 01 20 62 68 69"
                     "   61 78 a2 61 62 42 01 02"
                     "         64 6c 69 6e 6b d8 2a 58 25 00",
                     a);
  unsigned char aCid[THR_CID_BYTES];
  thr_cbor *pRoot, *pN, *pX, *pEl;
  char *zErr = NULL;
  const unsigned char *pB;
  const char *zT;
  size_t nB = 0;
  uint64_t v = 99;
  thr_cid cid;

  empty_map_cid_bytes(aCid);
  memcpy(a + n, aCid, THR_CID_BYTES);
  n += THR_CID_BYTES;
  pRoot = thr_cbor_decode(a, n, &zErr);
  TT_CHECK(pRoot != NULL && zErr == NULL);
  sqlite3_free(zErr);
  if (pRoot == NULL) {
    return;
  }
  TT_CHECK(thr_cbor_map_size(pRoot) == 2);
  TT_CHECK(thr_cbor_array_size(pRoot) == 0);
  TT_CHECK(thr_cbor_get(pRoot, "m") == NULL);
  TT_CHECK(thr_cbor_get(pRoot, "nn") == NULL);
  TT_CHECK(thr_cbor_get(pRoot, "") == NULL);

  pN = thr_cbor_get(pRoot, "n");
  TT_CHECK(thr_cbor_array_size(pN) == 3);
  TT_CHECK(thr_cbor_map_size(pN) == 0);
  TT_CHECK(thr_cbor_as_uint(thr_cbor_array_at(pN, 0), &v) && v == 1);
  /* -1 is not an unsigned integer; the accessor refuses it. */
  v = 99;
  TT_CHECK(!thr_cbor_as_uint(thr_cbor_array_at(pN, 1), &v) && v == 99);
  pEl = thr_cbor_array_at(pN, 2);
  zT = thr_cbor_as_text(pEl, &nB);
  TT_CHECK(zT != NULL && nB == 2 && memcmp(zT, "hi", 2) == 0);
  TT_CHECK(thr_cbor_as_bytes(pEl, &nB) == NULL);
  TT_CHECK(thr_cbor_array_at(pN, 3) == NULL);
  TT_CHECK(thr_cbor_get(pN, "n") == NULL);

  pX = thr_cbor_get(pRoot, "x");
  TT_CHECK(thr_cbor_map_size(pX) == 2);
  pB = thr_cbor_as_bytes(thr_cbor_get(pX, "b"), &nB);
  TT_CHECK(pB != NULL && nB == 2 && pB[0] == 1 && pB[1] == 2);
  TT_CHECK(thr_cbor_as_text(thr_cbor_get(pX, "b"), &nB) == NULL);
  TT_CHECK(thr_cbor_as_link(thr_cbor_get(pX, "link"), &cid));
  TT_CHECK(memcmp(cid.a, aCid, THR_CID_BYTES) == 0);
  TT_CHECK(!thr_cbor_as_link(thr_cbor_get(pX, "b"), &cid));
  TT_CHECK(!thr_cbor_as_uint(thr_cbor_get(pX, "link"), &v));
  TT_CHECK(thr_cbor_array_at(pX, 0) == NULL);

  /* The accessors tolerate NULL, so that chains of lookups need no checks
  ** in between. */
  TT_CHECK(thr_cbor_get(NULL, "n") == NULL);
  TT_CHECK(thr_cbor_as_bytes(NULL, &nB) == NULL);
  TT_CHECK(thr_cbor_as_text(NULL, &nB) == NULL);
  TT_CHECK(!thr_cbor_as_uint(NULL, &v));
  TT_CHECK(!thr_cbor_as_link(NULL, &cid));
  TT_CHECK(thr_cbor_map_size(NULL) == 0);
  TT_CHECK(thr_cbor_array_size(NULL) == 0);
  TT_CHECK(thr_cbor_array_at(NULL, 0) == NULL);
  thr_cbor_free(pRoot);

  /* Building the same tree with the API gives the same bytes. */
  {
    int rc = SQLITE_OK;
    thr_cbor *pMap = thr_cbor_map(2);
    thr_cbor *pArr = thr_cbor_array(3);
    thr_cbor *pIn = thr_cbor_map(2);
    thr_cbuf buf = {0, 0};
    thr_cbor *pNeg;
    char *zE = NULL;
    /* There is no builder for negative integers; take -1 from a decode. */
    pNeg = thr_cbor_decode((const unsigned char *)"\x20", 1, &zE);
    TT_CHECK(pNeg != NULL);
    sqlite3_free(zE);
    memcpy(cid.a, aCid, THR_CID_BYTES);
    thr_cbor_push(&rc, pArr, thr_cbor_uint(1));
    thr_cbor_push(&rc, pArr, pNeg);
    thr_cbor_push(&rc, pArr, thr_cbor_text("hi", 2));
    thr_cbor_put(&rc, pIn, "b",
                 thr_cbor_bytes((const unsigned char *)"\1\2", 2));
    thr_cbor_put(&rc, pIn, "link", thr_cbor_link(&cid));
    thr_cbor_put(&rc, pMap, "n", pArr);
    thr_cbor_put(&rc, pMap, "x", pIn);
    TT_CHECK(rc == SQLITE_OK);
    TT_CHECK(thr_cbor_encode(pMap, &buf) == SQLITE_OK);
    TT_CHECK(buf.n == n && memcmp(buf.a, a, n) == 0);
    sqlite3_free(buf.a);
    thr_cbor_free(pMap);
  }
}

/* Check (a, n) with thr_cbor_check and describe the outcome like
** dec_msg_n: "OK", the message, or a violation of the contract. */
static const char *chk_msg_n(const unsigned char *a, size_t n) {
  static char zBuf[256];
  unsigned char *aCopy = exact_copy(a, n);
  char *zErr = NULL;
  int rc = thr_cbor_check(aCopy, n, &zErr);
  free(aCopy);
  return rc_msg(rc, zErr, zBuf, sizeof(zBuf));
}

/* The link to the empty map: tag 42 (d8 2a) would go in front. */
#define LINK_BYTES                                                             \
  "58 25 00 01 71 12 20 c19a797fa1fd590cd2e5b42d1cf5f246e29b91684e2f8740"      \
  "4b81dc345c7a56a0"

/* One rule, one input: the outcome thr_cbor_decode must give ("OK", or
** the whole message) and thr_cbor_check must give too. */
typedef struct dec_case dec_case;
struct dec_case {
  const char *zHex;
  const char *zWant;
};

#define U_SHORT                                                                \
  "undecodable block: integer, length or tag not in its shortest form"
#define U_ORDER "undecodable block: map keys not in canonical order or repeated"
#define U_KEY "undecodable block: map key is not a text string"
#define U_LINK "undecodable block: tag 42 does not hold a valid CID"
#define U_TAG "undecodable block: tag other than 42"
#define U_UTF8 "undecodable block: text string is not valid UTF-8"
#define U_INDEF "undecodable block: indefinite length"
#define U_FLOAT "undecodable block: float narrower than 64 bits"
#define U_BAD "undecodable block: malformed"

/* Inputs reasoned out by hand from RFC 8949 (3.1 major types, 3.3
** simple values and floats, 4.2.1 preferred serialization) and the
** DAG-CBOR spec (map key order, tag 42).  The valid ones are also the
** corpus of the mutation test below. */
static const dec_case aRule[] = {
    /* Shortest form: unsigned integers, each argument width.  5 and 23
    ** fit in the initial byte, 255 in one byte, 65535 in two, 2^32-1 in
    ** four. */
    {"18 05", U_SHORT},
    {"18 17", U_SHORT},
    {"19 00 ff", U_SHORT},
    {"1a 00 00 ff ff", U_SHORT},
    {"1b 00 00 00 00 ff ff ff ff", U_SHORT},
    {"18 18", "OK"},
    {"19 01 00", "OK"},
    {"1a 00 01 00 00", "OK"},
    {"1b 00 00 00 01 00 00 00 00", "OK"},
    /* Negative integers: -1-v, the same widths for v. */
    {"38 00", U_SHORT},
    {"38 17", U_SHORT},
    {"39 00 ff", U_SHORT},
    {"3a 00 00 ff ff", U_SHORT},
    {"3b 00 00 00 00 ff ff ff ff", U_SHORT},
    {"37", "OK"},
    {"38 18", "OK"},
    {"39 01 00", "OK"},
    {"3a 00 01 00 00", "OK"},
    {"3b 00 00 00 01 00 00 00 00", "OK"},
    /* Byte strings of length 1 (and 23) with a wider length than needed. */
    {"58 01 41", U_SHORT},
    {"58 17 000102030405060708090a0b0c0d0e0f10111213141516", U_SHORT},
    {"59 00 01 41", U_SHORT},
    {"5a 00 00 00 01 41", U_SHORT},
    {"5b 00 00 00 00 00 00 00 01 41", U_SHORT},
    {"41 41", "OK"},
    {"57 000102030405060708090a0b0c0d0e0f10111213141516", "OK"},
    /* Text strings: "a" with a wider length. */
    {"78 01 61", U_SHORT},
    {"79 00 01 61", U_SHORT},
    {"7a 00 00 00 01 61", U_SHORT},
    {"7b 00 00 00 00 00 00 00 01 61", U_SHORT},
    {"61 61", "OK"},
    /* Arrays [0] and maps {"a": 0} with a wider count. */
    {"98 01 00", U_SHORT},
    {"99 00 01 00", U_SHORT},
    {"9a 00 00 00 01 00", U_SHORT},
    {"9b 00 00 00 00 00 00 00 01 00", U_SHORT},
    {"81 00", "OK"},
    {"b8 01 61 61 00", U_SHORT},
    {"b9 00 01 61 61 00", U_SHORT},
    {"ba 00 00 00 01 61 61 00", U_SHORT},
    {"bb 00 00 00 00 00 00 00 01 61 61 00", U_SHORT},
    {"a1 61 61 00", "OK"},
    /* Tag 42 is d8 2a; wider forms of the same number are not. */
    {"d9 00 2a " LINK_BYTES, U_SHORT},
    {"da 00 00 00 2a " LINK_BYTES, U_SHORT},
    {"db 00 00 00 00 00 00 00 2a " LINK_BYTES, U_SHORT},
    {"d8 2a " LINK_BYTES, "OK"},
    /* A long form deep inside: a map value, an array element, a key's
    ** length, a link's length (37 = 0x25 needs one byte, not two). */
    {"a1 61 61 18 05", U_SHORT},
    {"82 01 19 00 05", U_SHORT},
    {"a1 78 01 61 00", U_SHORT},
    {"d8 2a 59 00 25 00 01 71 12 20 c19a797fa1fd590cd2e5b42d1cf5f246e29b916"
     "84e2f87404b81dc345c7a56a0",
     U_SHORT},
    /* Map keys: shorter first, then bytewise; no repeats. */
    {"a2 61 62 01 61 61 02", U_ORDER},       /* "b", "a" */
    {"a2 62 61 61 01 61 62 02", U_ORDER},    /* "aa", "b" */
    {"a2 61 61 01 61 61 02", U_ORDER},       /* "a", "a" */
    {"a2 62 61 62 01 62 61 61 02", U_ORDER}, /* "ab", "aa" */
    {"a2 61 61 01 60 02", U_ORDER},          /* "a", "" */
    {"a3 61 61 01 61 62 02 61 62 03", U_ORDER},
    {"a1 61 61 a2 61 62 01 61 61 02", U_ORDER}, /* in a nested map */
    {"a3 61 61 01 61 62 02 62 61 61 03", "OK"}, /* "a" < "b" < "aa" */
    {"a2 60 01 61 61 02", "OK"},                /* "" < "a" */
    {"a2 61 61 01 61 62 02", "OK"},
    /* Each map has its own order: the inner key "z" is no key of the
    ** outer map, whose "b" follows its "a". */
    {"a2 61 61 a1 61 7a 00 61 62 00", "OK"},
    {"a2 61 61 82 61 7a 61 7a 61 62 00", "OK"},
    {"a2 61 61 a1 61 61 00 61 62 a1 61 61 00", "OK"},
    /* Keys must be text strings. */
    {"a1 01 02", U_KEY},
    {"a1 20 02", U_KEY},
    {"a1 41 61 02", U_KEY},
    {"a1 80 02", U_KEY},
    {"a1 a0 02", U_KEY},
    {"a1 f6 02", U_KEY},
    {"a1 d8 2a " LINK_BYTES " 02", U_KEY},
    {"a2 61 61 01 02 03", U_KEY},
    /* Tags: 42 only, over 0x00 || a CID we read. */
    {"d8 2b 00", U_TAG},
    {"c1 00", U_TAG},
    {"c6 00", U_BAD},
    {"d8 2a 43 01 02 03", U_LINK},
    {"d8 2a 40", U_LINK},
    {"d8 2a 41 00", U_LINK},
    {"d8 2a 61 61", U_LINK},
    {"d8 2a 00", U_LINK},
    {"d8 2a a0", U_LINK},
    {"d8 2a d8 2a " LINK_BYTES, U_LINK},
    {"d8 2a 58 25 01 01 71 12 20 c19a797fa1fd590cd2e5b42d1cf5f246e29b9168"
     "4e2f87404b81dc345c7a56a0",
     U_LINK},
    {"d8 2a 58 25 00 01 70 12 20 c19a797fa1fd590cd2e5b42d1cf5f246e29b9168"
     "4e2f87404b81dc345c7a56a0",
     U_LINK},
    {"82 d8 2a " LINK_BYTES " d8 2a " LINK_BYTES, "OK"},
    {"a1 64 6c 69 6e 6b d8 2a " LINK_BYTES, "OK"},
    /* Text strings are well-formed UTF-8: not overlong (c0 80, e0 80 80,
    ** f0 80 80 80), no surrogate (ed a0 80), nothing past U+10FFFF
    ** (f4 90 80 80, f5 ...), no stray or missing continuation bytes. */
    {"62 c0 80", U_UTF8},
    {"62 c1 bf", U_UTF8},
    {"63 e0 80 80", U_UTF8},
    {"63 e0 9f bf", U_UTF8},
    {"64 f0 80 80 80", U_UTF8},
    {"64 f0 8f bf bf", U_UTF8},
    {"63 ed a0 80", U_UTF8},
    {"63 ed bf bf", U_UTF8},
    {"64 f4 90 80 80", U_UTF8},
    {"64 f5 80 80 80", U_UTF8},
    {"61 80", U_UTF8},
    {"61 ff", U_UTF8},
    {"62 e2 82", U_UTF8},
    {"63 e2 82 61", U_UTF8},
    {"62 c3 28", U_UTF8},
    {"a1 61 ff 00", U_UTF8},
    {"61 00", "OK"},
    {"62 c2 80", "OK"},             /* U+0080 */
    {"62 df bf", "OK"},             /* U+07FF */
    {"63 e0 a0 80", "OK"},          /* U+0800 */
    {"63 e2 82 ac", "OK"},          /* U+20AC */
    {"63 ed 9f bf", "OK"},          /* U+D7FF */
    {"63 ee 80 80", "OK"},          /* U+E000 */
    {"63 ef bf bf", "OK"},          /* U+FFFF */
    {"64 f0 90 80 80", "OK"},       /* U+10000 */
    {"64 f4 8f bf bf", "OK"},       /* U+10FFFF */
    {"66 61 e2 82 ac 62 7a", "OK"}, /* "a€bz" */
    /* Byte strings hold any bytes. */
    {"42 c0 80", "OK"},
    /* Definite lengths only. */
    {"9f 01 ff", U_INDEF},
    {"5f 41 00 ff", U_INDEF},
    {"7f 61 61 ff", U_INDEF},
    {"bf ff", U_INDEF},
    {"ff", U_INDEF},
    /* Floats: 64-bit and finite; simple values false, true, null. */
    {"f9 3c 00", U_FLOAT},
    {"fa 3f 80 00 00", U_FLOAT},
    {"fb 7f f0 00 00 00 00 00 00", "undecodable block: NaN or infinity"},
    {"fb ff f0 00 00 00 00 00 00", "undecodable block: NaN or infinity"},
    {"fb 7f f8 00 00 00 00 00 00", "undecodable block: NaN or infinity"},
    {"f7", "undecodable block: undefined is not allowed"},
    {"f8 14", U_BAD}, /* false as a two-byte simple value */
    {"f8 20", U_BAD},
    {"e0", U_BAD},
    {"f3", U_BAD},
    {"fb 3f f8 00 00 00 00 00 00", "OK"},
    {"fb 80 00 00 00 00 00 00 00", "OK"},
    {"f4", "OK"},
    {"f5", "OK"},
    {"f6", "OK"},
    /* One complete item. */
    {"", "undecodable block: empty input"},
    {"a0 00", "undecodable block: trailing bytes"},
    {"00 00", "undecodable block: trailing bytes"},
    {"82 01", "undecodable block: truncated"},
    {"19 01", "undecodable block: truncated"},
    {"a1 61 61", "undecodable block: truncated"},
    {"d8 2a", "undecodable block: truncated"},
    {"5a 00 01 00 00 00", "undecodable block: truncated"},
    /* A record-like map: "v" < "sig" < "body" < "prev" (length, then
    ** bytewise), a link, a list of links, an integer. */
    {"a4 61 76 01 63 73 69 67 42 01 02 64 62 6f 64 79 d8 2a " LINK_BYTES
     " 64 70 72 65 76 81 d8 2a " LINK_BYTES,
     "OK"},
};

static void test_decode_rules(void) {
  size_t i;
  for (i = 0; i < sizeof(aRule) / sizeof(aRule[0]); i++) {
    unsigned char a[512];
    size_t n = hex2bin(aRule[i].zHex, a);
    char zDec[256];
    snprintf(zDec, sizeof(zDec), "%s", dec_msg_n(a, n));
    if (strcmp(zDec, aRule[i].zWant) != 0) {
      printf("  decode %s\n", aRule[i].zHex);
    }
    TT_STREQ(zDec, aRule[i].zWant);
    TT_STREQ(chk_msg_n(a, n), zDec);
  }
}

/* A body of nAct actions as collection.c writes it, with clocks of every
** width. */
static size_t body_bytes(unsigned char *a, size_t nAlloc, int nAct) {
  static const uint64_t aHlc[] = {
      0, 23, 24, 255, 256, 65535, 65536, 0xffffffffull, 1ull << 32, UINT64_MAX};
  thr_cw w = {a, 0, nAlloc, SQLITE_OK, 0};
  int i;
  thr_cw_map(&w, 1);
  thr_cw_text(&w, "actions");
  thr_cw_array(&w, (size_t)nAct);
  for (i = 0; i < nAct; i++) {
    thr_cw_map(&w, i % 3 == 2 ? 4 : 5);
    thr_cw_text(&w, "id");
    thr_cw_text(&w, "01HZX3K9Q4V6W8Y0A2C4E6G8J0");
    thr_cw_text(&w, "hlc");
    thr_cw_uint(&w, aHlc[i % 10]);
    thr_cw_text(&w, "coll");
    thr_cw_text(&w, "rows");
    if (i % 3 != 2) {
      thr_cw_text(&w, "json");
      thr_cw_text(&w, "{\"_id\":\"x\",\"n\":1,\"name\":\"caf\xc3\xa9\"}");
    }
    thr_cw_text(&w, "type");
    thr_cw_text(&w, i % 3 == 2 ? "delete" : "create");
  }
  return w.rc == SQLITE_OK ? w.n : 0;
}

/* Decode and check one input: they must agree (the same message when
** both refuse), and an accepted input must re-encode to itself.  Returns
** 1 if accepted, 0 if refused, -1 on a violation. */
static int decode_agrees(const unsigned char *aIn, size_t n) {
  unsigned char *a = exact_copy(aIn, n);
  char *zDec = NULL, *zChk = NULL;
  thr_cbor *p = thr_cbor_decode(a, n, &zDec);
  int rc = thr_cbor_check(a, n, &zChk), iRet;
  if (p != NULL) {
    thr_cbuf buf = {0, 0};
    iRet = rc == SQLITE_OK && zDec == NULL && zChk == NULL &&
                   thr_cbor_encode(p, &buf) == SQLITE_OK && buf.n == n &&
                   memcmp(buf.a, aIn, n) == 0
               ? 1
               : -1;
    sqlite3_free(buf.a);
    thr_cbor_free(p);
  } else {
    iRet = rc == SQLITE_ERROR && zDec && zChk && strcmp(zDec, zChk) == 0 &&
                   strncmp(zDec, "undecodable block: ", 19) == 0
               ? 0
               : -1;
  }
  sqlite3_free(zDec);
  sqlite3_free(zChk);
  free(a);
  return iRet;
}

/* The property the strict decoder stands on, no longer re-checked at run
** time: whatever it accepts re-encodes to exactly the input.  Inputs are
** the valid cases above and a body, mutated at random (fixed seed): a
** byte replaced, a bit flipped, a cut, a byte inserted or removed. */
static void test_decode_mutations(void) {
  enum { N_RULE = sizeof(aRule) / sizeof(aRule[0]), N_MAX = 2048 };
  static unsigned char aSeedBuf[N_RULE][512], aBody[1500], a[N_MAX + 8];
  const unsigned char *aaSeed[N_RULE + 1];
  size_t anSeed[N_RULE + 1];
  int nSeed = 0, iRound, nAccept = 0, nRefuse = 0, nBad = 0;
  size_t i;

  tt_rng_seed(0x5eedcb0a2024ull);
  for (i = 0; i < N_RULE; i++) {
    if (strcmp(aRule[i].zWant, "OK") == 0) {
      anSeed[nSeed] = hex2bin(aRule[i].zHex, aSeedBuf[nSeed]);
      aaSeed[nSeed] = aSeedBuf[nSeed];
      nSeed++;
    }
  }
  anSeed[nSeed] = body_bytes(aBody, sizeof(aBody), 10);
  TT_CHECK(anSeed[nSeed] > 0);
  aaSeed[nSeed++] = aBody;
  for (i = 0; i < (size_t)nSeed; i++) {
    TT_CHECK(decode_agrees(aaSeed[i], anSeed[i]) == 1);
  }

  for (iRound = 0; iRound < 6000; iRound++) {
    int iSeed = (int)rng_below((unsigned)nSeed), nMut, k, r;
    size_t n = anSeed[iSeed];
    memcpy(a, aaSeed[iSeed], n);
    nMut = 1 + (int)rng_below(3);
    for (k = 0; k < nMut; k++) {
      size_t at = n ? rng_below((unsigned)n) : 0;
      switch (rng_below(5)) {
      case 0: /* replace a byte */
        if (n) {
          a[at] = (unsigned char)rng_next();
        }
        break;
      case 1: /* flip one bit */
        if (n) {
          a[at] ^= (unsigned char)(1u << rng_below(8));
        }
        break;
      case 2: /* cut */
        n = at;
        break;
      case 3: /* insert a byte */
        if (n < N_MAX) {
          memmove(a + at + 1, a + at, n - at);
          a[at] = (unsigned char)rng_next();
          n++;
        }
        break;
      default: /* remove a byte */
        if (n) {
          memmove(a + at, a + at + 1, n - at - 1);
          n--;
        }
        break;
      }
    }
    r = decode_agrees(a, n);
    if (r < 0) {
      if (nBad++ == 0) {
        printf("  disagreement on:");
        for (i = 0; i < n && i < 64; i++) {
          printf(" %02x", a[i]);
        }
        printf("\n");
      }
    } else if (r) {
      nAccept++;
    } else {
      nRefuse++;
    }
  }
  TT_CHECK(nBad == 0);
  /* Both outcomes must be common, or the property holds vacuously:
  ** mutations inside string contents keep a block valid. */
  TT_CHECK(nAccept > 300);
  TT_CHECK(nRefuse > 3000);
}

/**************************************************************************
** Byte-string envelopes.
*/

/* Wrap n bytes and check the header is (aHdr, nHdr) and the body follows;
** then unwrap and check the body is found in place. */
static int wrap_is(size_t n, const unsigned char *aHdr, size_t nHdr) {
  unsigned char *a = malloc(n ? n : 1);
  thr_cbuf buf = {0, 0};
  const unsigned char *pBody = NULL;
  size_t nBody = 0, i;
  int ok;
  if (a == NULL) {
    return 0;
  }
  for (i = 0; i < n; i++) {
    a[i] = (unsigned char)(i * 7 + 3);
  }
  ok = thr_cbor_wrap_bytes(a, n, &buf) == SQLITE_OK && buf.n == nHdr + n &&
       memcmp(buf.a, aHdr, nHdr) == 0 &&
       (n == 0 || memcmp(buf.a + nHdr, a, n) == 0);
  if (ok) {
    ok = thr_cbor_unwrap_bytes(buf.a, buf.n, &pBody, &nBody) == SQLITE_OK &&
         pBody == buf.a + nHdr && nBody == n;
  }
  sqlite3_free(buf.a);
  free(a);
  return ok;
}

/* 1 if unwrapping the hex bytes fails. */
static int unwrap_fails(const char *zHex) {
  unsigned char a[512];
  size_t n = hex2bin(zHex, a);
  unsigned char *aCopy = exact_copy(a, n);
  const unsigned char *pBody = NULL;
  size_t nBody = 12345;
  int rc = thr_cbor_unwrap_bytes(aCopy, n, &pBody, &nBody);
  free(aCopy);
  return rc != SQLITE_OK;
}

static void test_wrap_bytes(void) {
  TT_CHECK(wrap_is(0, (const unsigned char *)"\x40", 1));
  TT_CHECK(wrap_is(23, (const unsigned char *)"\x57", 1));
  TT_CHECK(wrap_is(24, (const unsigned char *)"\x58\x18", 2));
  TT_CHECK(wrap_is(255, (const unsigned char *)"\x58\xff", 2));
  TT_CHECK(wrap_is(256, (const unsigned char *)"\x59\x01\x00", 3));
  TT_CHECK(wrap_is(65535, (const unsigned char *)"\x59\xff\xff", 3));
  TT_CHECK(wrap_is(65536, (const unsigned char *)"\x5a\x00\x01\x00\x00", 5));

  /* An envelope is what thr_cbor_decode accepts as a byte string too. */
  TT_STREQ(
      dec_msg_hex("58 18 000102030405060708090a0b0c0d0e0f1011121314151617"),
      "OK");

  TT_CHECK(!unwrap_fails("40"));
  TT_CHECK(!unwrap_fails("43 01 02 03"));
  /* Non-shortest headers for lengths 5, 0 and 24. */
  TT_CHECK(unwrap_fails("58 05 01 02 03 04 05"));
  TT_CHECK(unwrap_fails("58 00"));
  TT_CHECK(unwrap_fails(
      "59 00 18 000102030405060708090a0b0c0d0e0f1011121314151617"));
  /* The header must describe exactly the rest: too few or too many. */
  TT_CHECK(unwrap_fails("45 01 02 03 04"));
  TT_CHECK(unwrap_fails("43 01 02 03 04"));
  TT_CHECK(unwrap_fails("58 18 01"));
  TT_CHECK(unwrap_fails("59 01"));
  /* Other major types, indefinite and reserved forms, empty input. */
  TT_CHECK(unwrap_fails("63 61 62 63"));
  TT_CHECK(unwrap_fails("60"));
  TT_CHECK(unwrap_fails("83 01 02 03"));
  TT_CHECK(unwrap_fails("5f 41 00 ff"));
  TT_CHECK(unwrap_fails("5f ff"));
  TT_CHECK(unwrap_fails("5c"));
  TT_CHECK(unwrap_fails(""));
}

/**************************************************************************
** CID bytes and text.
*/
static void test_cid_parse(void) {
  thr_cid cid;
  unsigned char aWant[THR_CID_BYTES];
  char *zErr = NULL;
  char *z;

  empty_map_cid_bytes(aWant);
  memset(&cid, 0, sizeof(cid));
  TT_CHECK(thr_cid_parse(&cid, zEmptyMapCid, &zErr) == SQLITE_OK);
  TT_CHECK(zErr == NULL);
  TT_CHECK(memcmp(cid.a, aWant, THR_CID_BYTES) == 0);
  z = thr_cid_text(&cid);
  TT_STREQ(z, zEmptyMapCid);
  sqlite3_free(z);

  /* The same CID in base16 ('f') parses to the same bytes. */
  memset(&cid, 0, sizeof(cid));
  TT_STREQ(cid_msg("f01711220c19a797fa1fd590cd2e5b42d1cf5f246e29b91684e2f87404"
                   "b81dc345c7a56a0"),
           "OK");
  TT_CHECK(thr_cid_parse(&cid,
                         "f01711220c19a797fa1fd590cd2e5b42d1cf5f246e29b91684e2"
                         "f87404b81dc345c7a56a0",
                         &zErr) == SQLITE_OK);
  TT_CHECK(memcmp(cid.a, aWant, THR_CID_BYTES) == 0);

  /* Binary parse. */
  memset(&cid, 0, sizeof(cid));
  TT_CHECK(thr_cid_from_bytes(&cid, aWant, THR_CID_BYTES, &zErr) == SQLITE_OK);
  TT_CHECK(memcmp(cid.a, aWant, THR_CID_BYTES) == 0);
}

static void test_cid_rejects(void) {
  static const char zI[] = "invalid CID";
  /* CIDv0 text (base58 "Qm..." has no multibase prefix). */
  TT_STREQ(cid_kind("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"), zI);
  /* Codec 0x70 (dag-pb) over the same digest (python3 base32). */
  TT_STREQ(
      cid_kind("bafybeigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua"),
      zI);
  /* sha2-512 multihash, 13 40 || 64-byte digest (python3). */
  TT_STREQ(
      cid_kind("bafyrgqdr25dz4ynvgcr5vzvmwki2j6opp65gwx7zun73vk5mnhoqwbgwgt"
               "jd7d4es3lvqui5nas6vpqrcepnrx2lmj4fzkh2w5te5dnmhmaey"),
      zI);
  /* A 31-byte digest under a header that promises 32. */
  TT_STREQ(
      cid_kind("bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6sw"),
      zI);
  /* Version 0 in the first varint (the base32 of 00 71 12 20 ...). */
  TT_STREQ(
      cid_kind("babyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua"),
      zI);
  TT_STREQ(cid_kind(""), zI);
  TT_STREQ(cid_kind("b"), zI);
  TT_STREQ(cid_kind("hello world"), zI);
  TT_STREQ(cid_kind("b!!!!!!!"), zI);
  TT_STREQ(cid_kind(NULL), zI);

  /* Binary forms: truncated, over-long, CIDv0 multihash, bad varint. */
  {
    unsigned char a[THR_CID_BYTES + 1];
    thr_cid cid;
    char *zErr = NULL;
    empty_map_cid_bytes(a);
    a[THR_CID_BYTES] = 0;
    TT_CHECK(thr_cid_from_bytes(&cid, a, 3, &zErr) == SQLITE_ERROR);
    TT_CHECK(zErr && strncmp(zErr, zI, 11) == 0);
    sqlite3_free(zErr);
    zErr = NULL;
    TT_CHECK(thr_cid_from_bytes(&cid, a, 0, &zErr) == SQLITE_ERROR);
    TT_CHECK(zErr && strncmp(zErr, zI, 11) == 0);
    sqlite3_free(zErr);
    zErr = NULL;
    TT_CHECK(thr_cid_from_bytes(&cid, a, THR_CID_BYTES - 1, &zErr) ==
             SQLITE_ERROR);
    TT_CHECK(zErr && strncmp(zErr, zI, 11) == 0);
    sqlite3_free(zErr);
    zErr = NULL;
    TT_CHECK(thr_cid_from_bytes(&cid, a, THR_CID_BYTES + 1, &zErr) ==
             SQLITE_ERROR);
    TT_CHECK(zErr && strncmp(zErr, zI, 11) == 0);
    sqlite3_free(zErr);
    zErr = NULL;
    /* 12 20 || digest is a CIDv0 multihash: "version" 0x12. */
    TT_CHECK(thr_cid_from_bytes(&cid, a + 2, THR_CID_BYTES - 2, &zErr) ==
             SQLITE_ERROR);
    TT_CHECK(zErr && strncmp(zErr, zI, 11) == 0);
    sqlite3_free(zErr);
    zErr = NULL;
    /* 0x81 0x00 is a non-minimal encoding of 1. */
    a[0] = 0x81;
    a[1] = 0x00;
    TT_CHECK(thr_cid_from_bytes(&cid, a, THR_CID_BYTES, &zErr) == SQLITE_ERROR);
    TT_CHECK(zErr && strncmp(zErr, zI, 11) == 0);
    sqlite3_free(zErr);
  }
}

/**************************************************************************
** Fuzz.
*/

/* First bytes that start well-formed or nearly well-formed items. */
static const unsigned char aHot[] = {
    0x00, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x20, 0x38, 0x39, 0x3b, 0x40,
    0x41, 0x42, 0x58, 0x59, 0x5f, 0x60, 0x61, 0x62, 0x63, 0x78, 0x7f, 0x80,
    0x81, 0x82, 0x83, 0x98, 0x9f, 0xa0, 0xa1, 0xa2, 0xb8, 0xbf, 0xc0, 0xd8,
    0xd9, 0xf4, 0xf5, 0xf6, 0xf7, 0xf9, 0xfa, 0xfb, 0xff, 0x2a, 0x61, 0x62};

/* An independent check of the shortest-form rule on a well-formed item at
** a[*pi]: every integer, length and tag argument must need the width it
** uses (RFC 8949 4.2.1).  Returns 0 at the first violation. */
static int shortest_form(const unsigned char *a, size_t n, size_t *pi) {
  unsigned b, mt, ai;
  uint64_t v = 0, nItem = 0, k;
  size_t i = *pi, nArg = 0, j;
  if (i >= n) {
    return 0;
  }
  b = a[i++];
  mt = b >> 5;
  ai = b & 0x1f;
  if (mt == 7) {
    /* Simple values and floats carry no length to check. */
    *pi = i + (ai == 24 ? 1 : ai == 25 ? 2 : ai == 26 ? 4 : ai == 27 ? 8 : 0);
    return *pi <= n;
  }
  if (ai < 24) {
    v = ai;
  } else if (ai <= 27) {
    nArg = (size_t)1 << (ai - 24);
    if (i + nArg > n) {
      return 0;
    }
    for (j = 0; j < nArg; j++) {
      v = (v << 8) | a[i + j];
    }
    i += nArg;
    if ((nArg == 1 && v < 24) || (nArg == 2 && v <= 0xff) ||
        (nArg == 4 && v <= 0xffff) || (nArg == 8 && v <= 0xffffffffull)) {
      return 0;
    }
  } else {
    return 0;
  }
  switch (mt) {
  case 2:
  case 3:
    if (v > n - i) {
      return 0;
    }
    i += (size_t)v;
    break;
  case 4:
    nItem = v;
    break;
  case 5:
    nItem = 2 * v;
    break;
  case 6:
    nItem = 1;
    break;
  default:
    break;
  }
  for (k = 0; k < nItem; k++) {
    if (!shortest_form(a, n, &i)) {
      return 0;
    }
  }
  *pi = i;
  return 1;
}

static void test_fuzz_decode(void) {
  unsigned char a[64];
  int i, nAccept = 0, nBad = 0, nLong = 0;
  size_t iEnd = 0;

  /* The checker itself must tell the forms apart, or the fuzz property
  ** below would hold vacuously. */
  TT_CHECK(shortest_form((const unsigned char *)"\x82\x18\x18\x39\x01\x00", 6,
                         &iEnd) &&
           iEnd == 6);
  iEnd = 0;
  TT_CHECK(!shortest_form((const unsigned char *)"\x81\x18\x05", 3, &iEnd));
  iEnd = 0;
  TT_CHECK(!shortest_form((const unsigned char *)"\x19\x00\xff", 3, &iEnd));
  iEnd = 0;
  TT_CHECK(!shortest_form((const unsigned char *)"\x58\x01\x00", 3, &iEnd));
  for (i = 0; i < 300000; i++) {
    size_t n = rng_below(65), k;
    unsigned char *aCopy;
    thr_cbor *p;
    char *zErr = NULL;
    for (k = 0; k < n; k++) {
      /* Mostly item-starting bytes and small values, so that a fair share
      ** of inputs is well-formed and reaches the later checks. */
      unsigned r = rng_below(8);
      if (r < 3) {
        a[k] = aHot[rng_below(sizeof(aHot))];
      } else if (r < 6) {
        a[k] = (unsigned char)rng_below(0x18);
      } else {
        a[k] = (unsigned char)rng_next();
      }
    }
    aCopy = exact_copy(a, n);
    p = thr_cbor_decode(aCopy, n, &zErr);
    {
      /* thr_cbor_check must give the same verdict and message. */
      char *zChk = NULL;
      int rcChk = thr_cbor_check(aCopy, n, &zChk);
      if (p ? (rcChk != SQLITE_OK || zChk != NULL)
            : (rcChk != SQLITE_ERROR || zChk == NULL || zErr == NULL ||
               strcmp(zChk, zErr) != 0)) {
        nBad++;
      }
      sqlite3_free(zChk);
    }
    if (p != NULL) {
      thr_cbuf buf = {0, 0};
      nAccept++;
      if (zErr != NULL || thr_cbor_encode(p, &buf) != SQLITE_OK || buf.n != n ||
          memcmp(buf.a, a, n) != 0) {
        nBad++;
      } else {
        size_t iWalk = 0;
        if (!shortest_form(a, n, &iWalk) || iWalk != n) {
          nLong++;
        }
      }
      sqlite3_free(buf.a);
      thr_cbor_free(p);
    } else if (zErr == NULL || strncmp(zErr, "undecodable block", 17) != 0) {
      nBad++;
    }
    sqlite3_free(zErr);
    free(aCopy);
  }
  TT_CHECK(nBad == 0);
  TT_CHECK(nLong == 0);
  /* Guard against a generator that never reaches the accepting path.  The
  ** one-byte inputs 00..17 alone are about 300000 / 65 * 3 / 8, some 1700
  ** cases, and every one of them is a valid block. */
  TT_CHECK(nAccept > 1000);
}

int main(void) {
  if (sodium_init() < 0) {
    printf("FAIL sodium_init\n");
    return 1;
  }
  TT_RUN(test_empty_map_cid);
  TT_RUN(test_encode_uint);
  TT_RUN(test_encode_strings);
  TT_RUN(test_encode_map_array);
  TT_RUN(test_encode_put_failure);
  TT_RUN(test_encode_link);
  TT_RUN(test_decode_rejects);
  TT_RUN(test_decode_rejects_wide_int);
  TT_RUN(test_decode_depth);
  TT_RUN(test_decode_accepts);
  TT_RUN(test_decode_tree);
  TT_RUN(test_decode_rules);
  TT_RUN(test_decode_mutations);
  TT_RUN(test_wrap_bytes);
  TT_RUN(test_cid_parse);
  TT_RUN(test_cid_rejects);
  TT_RUN(test_fuzz_decode);
  return tt_done();
}
