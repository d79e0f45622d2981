/*
** test_multibase.c: unit tests for core/varint.c and core/multibase.c.
**
** The known answers below come from RFC 4648, the multibase spec's test
** vectors and hand computation; none was produced by the code under test.
*/
#include "thr_core.h"
#include "tt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* "yes mani !", the multibase spec's test input. */
static const char zYes[] = "yes mani !";

/* Copy (z, n) into a heap buffer of exactly n bytes, so that AddressSanitizer
** catches any read past the end (a string literal would hide it behind its
** terminating NUL).  The caller frees it with free(). */
static char *exact_copy(const char *z, size_t n) {
  char *p = malloc(n ? n : 1);
  if (p && n) {
    memcpy(p, z, n);
  }
  return p;
}

/* Decode (z, n) and return 1 if it succeeds with exactly (aWant, nWant). */
static int dec_is_n(const char *z, size_t n, const void *aWant, size_t nWant) {
  unsigned char *a = 0;
  size_t na = 99;
  char *zErr = 0;
  char *zCopy = exact_copy(z, n);
  int rc = thr_mb_decode(zCopy, n, &a, &na, &zErr);
  int ok = rc == SQLITE_OK && a != 0 && na == nWant &&
           (nWant == 0 || memcmp(a, aWant, nWant) == 0);
  if (rc != SQLITE_OK && zErr == 0) {
    ok = 0;
  }
  sqlite3_free(a);
  sqlite3_free(zErr);
  free(zCopy);
  return ok;
}
static int dec_is(const char *z, const void *aWant, size_t nWant) {
  return dec_is_n(z, strlen(z), aWant, nWant);
}

/* Decode (z, n) and return the error message, or "OK" on success.  The
** result lives in a static buffer until the next call. */
static const char *dec_msg_n(const char *z, size_t n) {
  static char zBuf[256];
  unsigned char *a = (unsigned char *)1;
  size_t na = 99;
  char *zErr = 0;
  char *zCopy = exact_copy(z, n);
  int rc = thr_mb_decode(zCopy, n, &a, &na, &zErr);
  if (rc == SQLITE_OK) {
    snprintf(zBuf, sizeof(zBuf), "OK");
    sqlite3_free(a);
  } else if (a != 0 || na != 0 || zErr == 0 || rc != SQLITE_ERROR) {
    snprintf(zBuf, sizeof(zBuf), "bad failure contract rc=%d", rc);
  } else {
    snprintf(zBuf, sizeof(zBuf), "%s", zErr);
  }
  sqlite3_free(zErr);
  free(zCopy);
  return zBuf;
}
static const char *dec_msg(const char *z) {
  return dec_msg_n(z, strlen(z));
}

/* Encode with thr_mb_encode() into a static buffer ("(null)" on failure). */
static const char *enc(int base, const void *a, size_t n) {
  static char zBuf[4096];
  char *z = thr_mb_encode(base, (const unsigned char *)a, n);
  snprintf(zBuf, sizeof(zBuf), "%s", z ? z : "(null)");
  sqlite3_free(z);
  return zBuf;
}

/* Raw base58 encode into a static buffer. */
static const char *enc58(const void *a, size_t n) {
  static char zBuf[4096];
  char *z = thr_base58_encode((const unsigned char *)a, n);
  snprintf(zBuf, sizeof(zBuf), "%s", z ? z : "(null)");
  sqlite3_free(z);
  return zBuf;
}

/* Encode v, check the bytes are (aWant, nWant) and that they decode back
** to v using every byte. */
static int varint_is(uint64_t v, const unsigned char *aWant, int nWant) {
  unsigned char a[THR_UVARINT_MAX];
  uint64_t w = 1;
  int n = thr_uvarint_put(a, v);
  if (n != nWant || memcmp(a, aWant, (size_t)n) != 0) {
    return 0;
  }
  return thr_uvarint_get(a, (size_t)n, &w) == n && w == v;
}

static void test_varint_known(void) {
  TT_CHECK(varint_is(0, (const unsigned char *)"\x00", 1));
  TT_CHECK(varint_is(1, (const unsigned char *)"\x01", 1));
  TT_CHECK(varint_is(127, (const unsigned char *)"\x7f", 1));
  TT_CHECK(varint_is(128, (const unsigned char *)"\x80\x01", 2));
  TT_CHECK(varint_is(300, (const unsigned char *)"\xac\x02", 2));
  TT_CHECK(varint_is(16383, (const unsigned char *)"\xff\x7f", 2));
  TT_CHECK(varint_is(16384, (const unsigned char *)"\x80\x80\x01", 3));
  /* 2^63 is bit 63 alone: nine empty groups then the tenth byte's 1. */
  TT_CHECK(varint_is((uint64_t)1 << 63,
                     (const unsigned char *)"\x80\x80\x80\x80\x80\x80\x80"
                                            "\x80\x80\x01",
                     10));
  TT_CHECK(varint_is(UINT64_MAX,
                     (const unsigned char *)"\xff\xff\xff\xff\xff\xff\xff"
                                            "\xff\xff\x01",
                     10));
  /* 2^63 - 1 is 63 one bits: exactly nine 7-bit groups. */
  TT_CHECK(varint_is(((uint64_t)1 << 63) - 1,
                     (const unsigned char *)"\xff\xff\xff\xff\xff\xff\xff"
                                            "\xff\x7f",
                     9));
}

static void test_varint_roundtrip(void) {
  int i;
  for (i = 0; i < 64; i++) {
    uint64_t v = (uint64_t)1 << i;
    uint64_t aV[3];
    int k;
    aV[0] = v - 1;
    aV[1] = v;
    aV[2] = v + (rng_next() & (v - 1));
    for (k = 0; k < 3; k++) {
      unsigned char a[THR_UVARINT_MAX + 2];
      uint64_t w = 0;
      int n = thr_uvarint_put(a, aV[k]);
      /* Bytes needed: one per started group of 7 significant bits. */
      int nBit = 0;
      uint64_t t = aV[k];
      while (t) {
        nBit++;
        t >>= 1;
      }
      TT_CHECK(n == (nBit == 0 ? 1 : (nBit + 6) / 7));
      /* Trailing junk after the varint must not be consumed. */
      a[n] = 0xff;
      a[n + 1] = 0x00;
      TT_CHECK(thr_uvarint_get(a, (size_t)n + 2, &w) == n);
      TT_CHECK(w == aV[k]);
      /* Every strict prefix is "buffer too small". */
      TT_CHECK(n == 1 || thr_uvarint_get(a, (size_t)n - 1, &w) == 0);
    }
  }
}

static void test_varint_bad(void) {
  static const unsigned char aFF[11] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0xff, 0xff};
  uint64_t v = 7;
  TT_CHECK(thr_uvarint_get((const unsigned char *)"\x80", 1, &v) == 0);
  TT_CHECK(thr_uvarint_get((const unsigned char *)"", 0, &v) == 0);
  TT_CHECK(thr_uvarint_get((const unsigned char *)"\x80\x00", 2, &v) == -1);
  TT_CHECK(thr_uvarint_get((const unsigned char *)"\xff\x80\x00", 3, &v) == -1);
  TT_CHECK(thr_uvarint_get(aFF, 11, &v) == -1);
  TT_CHECK(thr_uvarint_get(aFF, 10, &v) == -1);
  TT_CHECK(thr_uvarint_get(aFF, 9, &v) == 0);
  /* A tenth byte of 02 would set bit 64. */
  TT_CHECK(thr_uvarint_get((const unsigned char *)"\x80\x80\x80\x80\x80\x80"
                                                  "\x80\x80\x80\x02",
                           10, &v) == -1);
  /* A tenth byte of 00 is a non-minimal 2^0 * 0 at bit 63. */
  TT_CHECK(thr_uvarint_get((const unsigned char *)"\x80\x80\x80\x80\x80\x80"
                                                  "\x80\x80\x80\x00",
                           10, &v) == -1);
}

static void test_base32_rfc4648(void) {
  TT_STREQ(enc('b', "", 0), "b");
  TT_STREQ(enc('b', "f", 1), "bmy");
  TT_STREQ(enc('b', "fo", 2), "bmzxq");
  TT_STREQ(enc('b', "foo", 3), "bmzxw6");
  TT_STREQ(enc('b', "foob", 4), "bmzxw6yq");
  TT_STREQ(enc('b', "fooba", 5), "bmzxw6ytb");
  TT_STREQ(enc('b', "foobar", 6), "bmzxw6ytboi");
  TT_CHECK(dec_is("b", "", 0));
  TT_CHECK(dec_is("bmy", "f", 1));
  TT_CHECK(dec_is("bmzxq", "fo", 2));
  TT_CHECK(dec_is("bmzxw6", "foo", 3));
  TT_CHECK(dec_is("bmzxw6yq", "foob", 4));
  TT_CHECK(dec_is("bmzxw6ytb", "fooba", 5));
  TT_CHECK(dec_is("bmzxw6ytboi", "foobar", 6));
  TT_CHECK(dec_is("BMZXW6YTBOI", "foobar", 6));
  /* Padded variants, RFC 4648 section 10. */
  TT_CHECK(dec_is("cmy======", "f", 1));
  TT_CHECK(dec_is("cmzxq====", "fo", 2));
  TT_CHECK(dec_is("cmzxw6===", "foo", 3));
  TT_CHECK(dec_is("cmzxw6yq=", "foob", 4));
  TT_CHECK(dec_is("cmzxw6ytb", "fooba", 5));
  TT_CHECK(dec_is("CMZXW6YTBOI======", "foobar", 6));
  /* base32hex, RFC 4648 section 10. */
  TT_CHECK(dec_is("vco", "f", 1));
  TT_CHECK(dec_is("VCPNMUOJ1E8", "foobar", 6));
  TT_CHECK(dec_is("tcpnmu===", "foo", 3));
  TT_CHECK(dec_is("TCPNMUOJ1E8======", "foobar", 6));
}

static void test_base32_cid_like(void) {
  unsigned char a[34];
  memset(a, 0, sizeof(a));
  a[0] = 0x01;
  a[1] = 0x55;
  TT_STREQ(enc('b', a, 34),
           "bafkqaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  TT_CHECK(dec_is("bafkqaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", a,
                  34));
  {
    unsigned char b[18];
    int i;
    b[0] = 0x01;
    b[1] = 0x55;
    for (i = 0; i < 16; i++) {
      b[2 + i] = (unsigned char)i;
    }
    TT_STREQ(enc('b', b, 18), "bafkqaaicamcakbqhbaequcymbuha6");
    TT_CHECK(dec_is("bafkqaaicamcakbqhbaequcymbuha6", b, 18));
  }
  /* One zero byte is 8 bits: two characters; two bytes: four. */
  TT_STREQ(enc('b', "\0", 1), "baa");
  TT_STREQ(enc('b', "\0\0", 2), "baaaa");
}

static void test_base64_rfc4648(void) {
  TT_CHECK(dec_is("m", "", 0));
  TT_CHECK(dec_is("mZg", "f", 1));
  TT_CHECK(dec_is("mZm8", "fo", 2));
  TT_CHECK(dec_is("mZm9v", "foo", 3));
  TT_CHECK(dec_is("mZm9vYg", "foob", 4));
  TT_CHECK(dec_is("mZm9vYmE", "fooba", 5));
  TT_CHECK(dec_is("mZm9vYmFy", "foobar", 6));
  TT_CHECK(dec_is("MZg==", "f", 1));
  TT_CHECK(dec_is("MZm8=", "fo", 2));
  TT_CHECK(dec_is("MZm9v", "foo", 3));
  TT_CHECK(dec_is("MZm9vYg==", "foob", 4));
  TT_CHECK(dec_is("MZm9vYmE=", "fooba", 5));
  TT_CHECK(dec_is("MZm9vYmFy", "foobar", 6));
  /* FB FF is 111110 111111 1111(00): 62, 63, 60. */
  TT_CHECK(dec_is("m+/8", "\xfb\xff", 2));
  TT_CHECK(dec_is("M+/8=", "\xfb\xff", 2));
  TT_CHECK(dec_is("u-_8", "\xfb\xff", 2));
  TT_CHECK(dec_is("U-_8=", "\xfb\xff", 2));
  TT_STREQ(dec_msg("u+/8"), "illegal base64 data at input byte 0");
  TT_STREQ(dec_msg("m-_8"), "illegal base64 data at input byte 0");
}

static void test_spec_yes_mani(void) {
  static const char *azVec[] = {
      ("00111100101100101011100110010000001101101011000010110111001101001"
       "0010000000100001"),
      "7362625631006654133464440102",
      "9573277761329450583662625",
      "f796573206d616e692021",
      "F796573206D616E692021",
      "bpfsxgidnmfxgsibb",
      "BPFSXGIDNMFXGSIBB",
      "vf5in683dc5n6i811",
      "VF5IN683DC5N6I811",
      "cpfsxgidnmfxgsibb",
      "CPFSXGIDNMFXGSIBB",
      "tf5in683dc5n6i811",
      "TF5IN683DC5N6I811",
      "hxf1zgedpcfzg1ebb",
      "k2lcpzo5yikidynfl",
      "K2LCPZO5YIKIDYNFL",
      "Z7Pznk19XTTzBtx",
      "z7paNL19xttacUY",
      "meWVzIG1hbmkgIQ",
      "MeWVzIG1hbmkgIQ==",
      "ueWVzIG1hbmkgIQ",
      "UeWVzIG1hbmkgIQ==",
  };
  size_t i;
  for (i = 0; i < sizeof(azVec) / sizeof(azVec[0]); i++) {
    const char *z = azVec[i];
    TT_CHECK(dec_is(z, zYes, 10));
    /* The decoders are strict, so encoding gives the same text back. */
    TT_STREQ(enc(z[0], zYes, 10), z);
  }
}

static void test_leading_zeros(void) {
  /* Each leading zero byte is one zero digit in front of the number. */
  TT_CHECK(dec_is("z17paNL19xttacUY", "\0yes mani !", 11));
  TT_CHECK(dec_is("z117paNL19xttacUY", "\0\0yes mani !", 12));
  TT_CHECK(dec_is("k02lcpzo5yikidynfl", "\0yes mani !", 11));
  TT_CHECK(dec_is("k002lcpzo5yikidynfl", "\0\0yes mani !", 12));
  TT_CHECK(dec_is("90573277761329450583662625", "\0yes mani !", 11));
  TT_CHECK(dec_is("Z17Pznk19XTTzBtx", "\0yes mani !", 11));
  TT_CHECK(dec_is("f00796573206d616e692021", "\0yes mani !", 11));
  TT_STREQ(enc('z', "\0yes mani !", 11), "z17paNL19xttacUY");
  TT_STREQ(enc('z', "\0\0yes mani !", 12), "z117paNL19xttacUY");
  TT_STREQ(enc('k', "\0yes mani !", 11), "k02lcpzo5yikidynfl");
  TT_STREQ(enc('9', "\0yes mani !", 11), "90573277761329450583662625");
  TT_CHECK(dec_is("z1", "\0", 1));
  TT_CHECK(dec_is("z11", "\0\0", 2));
  TT_CHECK(dec_is("k0", "\0", 1));
  TT_CHECK(dec_is("90", "\0", 1));
  TT_CHECK(dec_is("z", "", 0));
  TT_CHECK(dec_is("k", "", 0));
  TT_STREQ(enc('z', "", 0), "z");
  TT_STREQ(enc('z', "\0", 1), "z1");
  TT_STREQ(enc('z', "\0\0", 2), "z11");
}

static void test_base58_known(void) {
  /* 255 = 4 * 58 + 23; digit 23 is 'Q' (the alphabet skips I and O). */
  TT_STREQ(enc58("\xff", 1), "5Q");
  TT_STREQ(enc58("\0\xff", 2), "15Q");
  /* 58 is "10" in base 58, digits "21". */
  TT_STREQ(enc58(":", 1), "21");
  TT_STREQ(enc58("9", 1), "z");
  TT_STREQ(enc58("", 0), "");
  /* draft-msporny-base58 test vectors. */
  TT_STREQ(enc58("Hello World!", 12), "2NEpo7TZRRrLZSi2U");
  TT_STREQ(enc58("\x00\x00\x28\x7f\xb4\xcd", 6), "11233QC4");
  TT_STREQ(enc58("The quick brown fox jumps over the lazy dog.", 44),
           "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z");
  TT_CHECK(dec_is("zUSm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUB"
                  "k6Z",
                  "The quick brown fox jumps over the lazy dog.", 44));
  {
    unsigned char *a = 0;
    size_t n = 0;
    char *zErr = 0;
    TT_CHECK(thr_base58_decode("11233QC4", 8, &a, &n, &zErr) == SQLITE_OK);
    TT_CHECK(n == 6 && a && memcmp(a, "\x00\x00\x28\x7f\xb4\xcd", 6) == 0);
    sqlite3_free(a);
    a = 0;
    TT_CHECK(thr_base58_decode("2NEpo7TZRRrLZSi2U", 17, &a, &n, &zErr) ==
             SQLITE_OK);
    TT_CHECK(n == 12 && a && memcmp(a, "Hello World!", 12) == 0);
    sqlite3_free(a);
    a = 0;
    TT_CHECK(thr_base58_decode("2NEpo7TZRRrLZSi2l", 17, &a, &n, &zErr) ==
             SQLITE_ERROR);
    TT_STREQ(zErr, "invalid base58 digit ('l')");
    TT_CHECK(a == 0 && n == 0);
    sqlite3_free(zErr);
    zErr = 0;
    TT_CHECK(thr_base58_decode("", 0, &a, &n, &zErr) == SQLITE_ERROR);
    TT_STREQ(zErr, "zero length string");
    sqlite3_free(zErr);
  }
}

static void test_roundtrip_random(void) {
  int i;
  for (i = 0; i < 2000; i++) {
    unsigned char a[100];
    size_t n = rng_below(101);
    size_t k;
    int iBase;
    for (k = 0; k < n; k++) {
      /* Zero bytes are common, to exercise the leading-zero paths. */
      a[k] = rng_below(4) == 0 ? 0 : (unsigned char)rng_next();
    }
    for (iBase = 0; iBase < 2; iBase++) {
      int base = iBase ? THR_MB_BASE58BTC : THR_MB_BASE32;
      char *z = thr_mb_encode(base, a, n);
      TT_CHECK(z != 0);
      if (z) {
        TT_CHECK(z[0] == base);
        TT_CHECK(dec_is(z, a, n));
        sqlite3_free(z);
      }
    }
    {
      char *z = thr_base58_encode(a, n);
      unsigned char *b = 0;
      size_t nb = 0;
      char *zErr = 0;
      TT_CHECK(z != 0);
      if (z && n > 0) {
        TT_CHECK(thr_base58_decode(z, strlen(z), &b, &nb, &zErr) == SQLITE_OK);
        TT_CHECK(nb == n && b && memcmp(a, b, n) == 0);
      }
      sqlite3_free(b);
      sqlite3_free(zErr);
      sqlite3_free(z);
    }
  }
}

static void test_errors(void) {
  size_t nBig = ((size_t)1 << 20) + 1;
  char *zBig;

  TT_STREQ(dec_msg_n("", 0), "cannot decode multibase for zero length string");
  TT_STREQ(dec_msg("xabc"), "selected encoding not supported");
  TT_STREQ(dec_msg_n("\0abc", 4), "selected encoding not supported");
  TT_STREQ(dec_msg("b1"), "illegal base32 data at input byte 0");
  TT_STREQ(dec_msg("bafk!q"), "illegal base32 data at input byte 3");
  TT_STREQ(dec_msg("ba"), "illegal base32 data at input byte 1");
  TT_STREQ(dec_msg("bmzx"), "illegal base32 data at input byte 3");
  TT_STREQ(dec_msg("bmzxw6y"), "illegal base32 data at input byte 6");
  /* 'b' is lowercase only and 'B' uppercase only. */
  TT_STREQ(dec_msg("bAFKQ"), "illegal base32 data at input byte 0");
  TT_STREQ(dec_msg("bmZ"), "illegal base32 data at input byte 1");
  TT_STREQ(dec_msg("Bmy"), "illegal base32 data at input byte 0");
  TT_STREQ(dec_msg("fAB"), "illegal base16 data at input byte 0");
  /* "mz": 01100 11001; the byte is 0x66 and the spare bits 01 are not 0. */
  TT_STREQ(dec_msg("bmz"), "illegal base32 data at input byte 1");
  TT_STREQ(dec_msg("bmy="), "illegal base32 data at input byte 2");
  TT_STREQ(dec_msg("mZg=="), "illegal base64 data at input byte 2");
  TT_STREQ(dec_msg("mZh"), "illegal base64 data at input byte 1");
  TT_STREQ(dec_msg("mZm9vY"), "illegal base64 data at input byte 5");
  /* Padded bases: missing, short, surplus and interrupted padding. */
  TT_STREQ(dec_msg("cmy"), "illegal base32 data at input byte 2");
  TT_STREQ(dec_msg("cmy====="), "illegal base32 data at input byte 7");
  TT_STREQ(dec_msg("cmy======="), "illegal base32 data at input byte 8");
  TT_STREQ(dec_msg("cm======="), "illegal base32 data at input byte 1");
  TT_STREQ(dec_msg("MZg="), "illegal base64 data at input byte 3");
  TT_STREQ(dec_msg("MZg=A"), "illegal base64 data at input byte 3");
  TT_STREQ(dec_msg("MZm9v===="), "illegal base64 data at input byte 4");
  TT_STREQ(dec_msg("M===="), "illegal base64 data at input byte 0");
  /* Bit-packed lengths that no byte string has. */
  TT_STREQ(dec_msg("f7"), "illegal base16 data at input byte 1");
  TT_STREQ(dec_msg("00101010"), "illegal base2 data at input byte 7");
  TT_STREQ(dec_msg("0012"), "illegal base2 data at input byte 2");
  TT_STREQ(dec_msg("71"), "illegal base8 data at input byte 1");
  TT_CHECK(dec_is("7000", "\0", 1));
  TT_STREQ(dec_msg("7001"), "illegal base8 data at input byte 2");
  TT_STREQ(dec_msg("78"), "illegal base8 data at input byte 0");
  /* Big-number bases. */
  TT_STREQ(dec_msg("z0"), "invalid base58 digit ('0')");
  TT_STREQ(dec_msg("z7paNL19xttacUl"), "invalid base58 digit ('l')");
  TT_STREQ(dec_msg("z\xff"), "invalid base58 digit ('\\xff')");
  TT_STREQ(dec_msg_n("z1\0", 3), "invalid base58 digit ('\\x00')");
  TT_STREQ(dec_msg("Z0"), "invalid base58 digit ('0')");
  TT_STREQ(dec_msg("k!"), "invalid base36 digit ('!')");
  TT_STREQ(dec_msg("Ka"), "invalid base36 digit ('a')");
  TT_STREQ(dec_msg("kA"), "invalid base36 digit ('A')");
  TT_STREQ(dec_msg("9a"), "invalid base10 digit ('a')");

  zBig = malloc(nBig);
  TT_CHECK(zBig != 0);
  if (zBig) {
    memset(zBig, 'a', nBig);
    zBig[0] = 'b';
    TT_STREQ(dec_msg_n(zBig, nBig), "multibase string too long");
    /* Exactly 1 MiB is allowed: 2^20 - 1 data characters is 7 mod 8. */
    TT_STREQ(dec_msg_n(zBig, nBig - 1), "OK");
    free(zBig);
  }
}

/* Decode n random bytes as raw base58 and as a varint; neither may crash,
** and whatever decodes must re-encode to the same bytes. */
static void fuzz_raw(const unsigned char *a, size_t n) {
  unsigned char *b = 0;
  size_t nb = 0;
  char *zErr = 0;
  char *zCopy = exact_copy((const char *)a, n);
  uint64_t v = 0;
  int k;
  if (thr_base58_decode(zCopy, n, &b, &nb, &zErr) == SQLITE_OK) {
    char *z = thr_base58_encode(b, nb);
    TT_CHECK(z && strlen(z) == n && memcmp(z, a, n) == 0);
    sqlite3_free(z);
  }
  sqlite3_free(b);
  sqlite3_free(zErr);
  k = thr_uvarint_get((const unsigned char *)zCopy, n, &v);
  TT_CHECK(k >= -1 && k <= THR_UVARINT_MAX && (size_t)(k > 0 ? k : 0) <= n);
  if (k > 0) {
    unsigned char c[THR_UVARINT_MAX];
    TT_CHECK(thr_uvarint_put(c, v) == k);
    TT_CHECK(memcmp(c, a, (size_t)k) == 0);
  }
  free(zCopy);
}

static void test_decode_fuzz(void) {
  /* Every prefix with its alphabet (what the text may draw from) and
  ** padding group, plus two unsupported prefixes. */
  static const struct {
    char c;
    const char *zAlpha;
    int nGroup; /* Pad to a multiple of this with '=' sometimes; 0: never */
  } aBase[] = {
      {'0', "01", 0},
      {'7', "01234567", 0},
      {'9', "0123456789", 0},
      {'f', "0123456789abcdef", 0},
      {'F', "0123456789ABCDEF", 0},
      {'b', "abcdefghijklmnopqrstuvwxyz234567", 0},
      {'B', "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 0},
      {'c', "abcdefghijklmnopqrstuvwxyz234567", 8},
      {'C', "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 8},
      {'v', "0123456789abcdefghijklmnopqrstuv", 0},
      {'V', "0123456789ABCDEFGHIJKLMNOPQRSTUV", 0},
      {'t', "0123456789abcdefghijklmnopqrstuv", 8},
      {'T', "0123456789ABCDEFGHIJKLMNOPQRSTUV", 8},
      {'h', "ybndrfg8ejkmcpqxot1uwisza345h769", 0},
      {'k', "0123456789abcdefghijklmnopqrstuvwxyz", 0},
      {'K', "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 0},
      {'z', "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", 0},
      {'Z', "123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ", 0},
      {'m', "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
       0},
      {'M', "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
       4},
      {'u', "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
       0},
      {'U', "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
       4},
      {'x', "abc", 0},
      {'\0', "abc", 0},
  };
  int nBase = (int)(sizeof(aBase) / sizeof(aBase[0]));
  int nOkB = 0, nOkZ = 0, nOk = 0;
  int i;
  for (i = 0; i < 200000; i++) {
    char z[80];
    size_t n, k;
    int iBase = (int)rng_below((unsigned)nBase);
    size_t nAlpha = strlen(aBase[iBase].zAlpha);
    size_t nLen = rng_below(65);
    unsigned char *a = 0;
    size_t na = 0;
    char *zErr = 0;
    int rc;
    unsigned mode = rng_below(4);

    n = 0;
    if (nLen > 0) {
      z[n++] = aBase[iBase].c;
    }
    for (k = 1; k < nLen; k++) {
      if (mode == 0 && rng_below(8) == 0) {
        /* Any byte at all, including '=', NUL and high bytes. */
        z[n++] = (char)rng_next();
      } else {
        z[n++] = aBase[iBase].zAlpha[rng_below((unsigned)nAlpha)];
      }
    }
    if (aBase[iBase].nGroup && nLen > 0 && mode == 1) {
      /* Pad the data to a whole group, as an encoder would. */
      while ((n - 1) % (size_t)aBase[iBase].nGroup != 0) {
        z[n++] = '=';
      }
    }
    if (mode == 2 && n > 1) {
      /* Trim so that all lengths modulo the group size come up. */
      n -= rng_below(3);
    }

    {
      char *zCopy = exact_copy(z, n);
      rc = thr_mb_decode(zCopy, n, &a, &na, &zErr);
      free(zCopy);
    }
    if (rc == SQLITE_OK) {
      /* Strict decoding means a decoded text is the one encoding of its
      ** bytes under that prefix. */
      char *zRe = thr_mb_encode(z[0], a, na);
      TT_CHECK(zErr == 0);
      TT_CHECK(zRe && strlen(zRe) == n && memcmp(zRe, z, n) == 0);
      sqlite3_free(zRe);
      nOk++;
      nOkB += z[0] == 'b';
      nOkZ += z[0] == 'z';
    } else {
      TT_CHECK(rc == SQLITE_ERROR && zErr != 0 && a == 0 && na == 0);
    }
    sqlite3_free(a);
    sqlite3_free(zErr);

    if (i % 4 == 0) {
      unsigned char r[64];
      size_t nr = rng_below(65);
      for (k = 0; k < nr; k++) {
        r[k] = (unsigned char)rng_next();
      }
      fuzz_raw(r, nr);
    }
  }
  /* The generator must reach the success paths, not only the errors. */
  TT_CHECK(nOkB > 1000);
  TT_CHECK(nOkZ > 1000);
  TT_CHECK(nOk > 20000);
}

int main(void) {
  tt_rng_seed(0x9e3779b97f4a7c15ull);
  TT_RUN(test_varint_known);
  TT_RUN(test_varint_roundtrip);
  TT_RUN(test_varint_bad);
  TT_RUN(test_base32_rfc4648);
  TT_RUN(test_base32_cid_like);
  TT_RUN(test_base64_rfc4648);
  TT_RUN(test_spec_yes_mani);
  TT_RUN(test_leading_zeros);
  TT_RUN(test_base58_known);
  TT_RUN(test_roundtrip_random);
  TT_RUN(test_errors);
  TT_RUN(test_decode_fuzz);
  return tt_done();
}
