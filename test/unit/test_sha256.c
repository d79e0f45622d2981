/*
** test_sha256.c: unit tests for core/sha256.c (SHA-256 from OpenSSL).
**
** The known answers are the SHA-256 examples NIST publishes for FIPS 180-4
** ("", "abc", the 448-bit two-block message, one million 'a').  Every
** other expected digest comes from libsodium's crypto_hash_sha256(), an
** implementation independent of OpenSSL's, over every padding case and
** lengths up to 4 MB at unaligned addresses.
*/
#include "thr_core.h"
#include "tt.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Lower-case hex of the 32-byte digest d, in a static buffer. */
static const char *hex32(const unsigned char d[32]) {
  static char z[65];
  int i;
  for (i = 0; i < 32; i++) {
    snprintf(z + 2 * i, 3, "%02x", d[i]);
  }
  return z;
}

/* A copy of (a, n) at offset off in a fresh heap block that ends exactly
** where the copy does, so that AddressSanitizer catches a read past the
** end.  *ppBase receives the block to free().  Exits on OOM. */
static unsigned char *place(const unsigned char *a, size_t n, size_t off,
                            unsigned char **ppBase) {
  unsigned char *pBase = malloc(n + off ? n + off : 1);
  if (pBase == NULL) {
    printf("FAIL out of memory\n");
    exit(1);
  }
  memset(pBase, 0xa5, off);
  if (n > 0) {
    memcpy(pBase + off, a, n);
  }
  *ppBase = pBase;
  return pBase + off;
}

static void fill_random(unsigned char *a, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    a[i] = (unsigned char)rng_next();
  }
}

/* Return 1 if thr_sha256() of (a, n) placed at offset off equals
** crypto_hash_sha256() of the same bytes. */
static int same_as_sodium(const unsigned char *a, size_t n, size_t off) {
  unsigned char *pBase = NULL;
  unsigned char *p = place(a, n, off, &pBase);
  unsigned char dGot[32], dWant[32];
  memset(dGot, 0, sizeof(dGot));
  thr_sha256(dGot, p, n);
  crypto_hash_sha256(dWant, p, n);
  free(pBase);
  return memcmp(dGot, dWant, 32) == 0;
}

/* The NIST examples.  libsodium must agree too, or the comparisons
** below would prove nothing. */
static void test_nist_vectors(void) {
  static const struct {
    const char *zMsg;
    const char *zDigest;
  } aVec[] = {
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc",
       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
  };
  static const char zMillionA[] =
      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  unsigned char *aMillion = malloc(1000000);
  unsigned char d[32], dSodium[32];
  size_t i;

  TT_CHECK(aMillion != NULL);
  if (aMillion == NULL) {
    return;
  }
  memset(aMillion, 'a', 1000000);
  for (i = 0; i < sizeof(aVec) / sizeof(aVec[0]); i++) {
    const unsigned char *a = (const unsigned char *)aVec[i].zMsg;
    size_t n = strlen(aVec[i].zMsg);
    thr_sha256(d, a, n);
    TT_STREQ(hex32(d), aVec[i].zDigest);
    crypto_hash_sha256(dSodium, a, n);
    TT_STREQ(hex32(dSodium), aVec[i].zDigest);
  }
  thr_sha256(d, aMillion, 1000000);
  TT_STREQ(hex32(d), zMillionA);
  crypto_hash_sha256(dSodium, aMillion, 1000000);
  TT_STREQ(hex32(dSodium), zMillionA);
  free(aMillion);
}

/* A NULL pointer with length 0 is the empty message. */
static void test_empty_null(void) {
  unsigned char d[32];
  thr_sha256(d, NULL, 0);
  TT_STREQ(hex32(d),
           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* Every length 0..1024 (every padding case: tails of 0..63 bytes, the
** one-block / two-block boundary at 55/56), random bytes at a random
** offset 0..63 from a 16-byte-aligned malloc block. */
static void test_every_short_length(void) {
  unsigned char a[1024];
  int nBad = 0;
  size_t n;
  tt_rng_seed(0x5a256001);
  for (n = 0; n <= 1024; n++) {
    fill_random(a, n);
    if (!same_as_sodium(a, n, rng_below(64))) {
      if (nBad++ == 0) {
        printf("  first mismatch: length %zu\n", n);
      }
    }
  }
  TT_CHECK(nBad == 0);
}

/* Lengths up to 4 MB: around powers of two, block multiples and their
** neighbours, and random lengths, each at a random offset. */
static void test_long_lengths(void) {
  size_t nMax = 4u << 20;
  unsigned char *a = malloc(nMax);
  size_t aLen[64];
  int nLen = 0, nBad = 0, i;
  size_t p;

  TT_CHECK(a != NULL);
  if (a == NULL) {
    return;
  }
  tt_rng_seed(0x5a256002);
  fill_random(a, nMax);
  for (p = 2048; p <= nMax; p *= 4) {
    aLen[nLen++] = p - 1;
    aLen[nLen++] = p;
    aLen[nLen++] = p - 9; /* 55-byte tail: padding fits one block */
    aLen[nLen++] = p - 8; /* 56-byte tail: the length needs a second */
  }
  aLen[nLen++] = nMax - 55;
  aLen[nLen++] = nMax - 56;
  while (nLen < (int)(sizeof(aLen) / sizeof(aLen[0]))) {
    aLen[nLen++] = 1025 + rng_below((unsigned)(nMax - 1025));
  }
  for (i = 0; i < nLen; i++) {
    if (!same_as_sodium(a, aLen[i], rng_below(64))) {
      if (nBad++ == 0) {
        printf("  first mismatch: length %zu\n", aLen[i]);
      }
    }
  }
  TT_CHECK(nBad == 0);
  free(a);
}

/* thr_cid_of() hashes with thr_sha256(): the digest part of a CID is the
** SHA-256 of the bytes. */
static void test_cid_digest(void) {
  unsigned char a[300], d[32];
  thr_cid cid;
  tt_rng_seed(0x5a256003);
  fill_random(a, sizeof(a));
  crypto_hash_sha256(d, a, sizeof(a));
  memset(&cid, 0, sizeof(cid));
  thr_cid_of(&cid, THR_CODEC_DAGCBOR, a, sizeof(a));
  TT_CHECK(cid.a[0] == 0x01 && cid.a[1] == THR_CODEC_DAGCBOR);
  TT_CHECK(cid.a[2] == THR_MH_SHA2_256 && cid.a[3] == 32);
  TT_CHECK(memcmp(&cid.a[4], d, 32) == 0);
}

int main(void) {
  if (sodium_init() < 0) {
    printf("FAIL sodium_init\n");
    return 1;
  }
  TT_RUN(test_nist_vectors);
  TT_RUN(test_empty_null);
  TT_RUN(test_every_short_length);
  TT_RUN(test_long_lengths);
  TT_RUN(test_cid_digest);
  return tt_done();
}
