/*
** bench_hash.c: SHA-256 from the libraries we may use, side by side, and
** thr_sha256 (core/sha256.c), the one CIDs use.
**
** Candidates:
**   libsodium   crypto_hash_sha256()                  (the baseline)
**   OpenSSL     SHA256(), libcrypto's one-shot call
**   OpenSSL     EVP_Digest() with an EVP_MD fetched once
**   thr_sha256  whichever of these core/sha256.c calls
**
** Two input shapes:
**   16 MB buffer     one large body, as a 100k-row transaction writes;
**   300-byte blocks  the size of a record's small blocks, where the
**                    per-call setup weighs most.
**
** Ratios are against libsodium; the last lines name the faster library
** for each shape.  MB are 10^6 bytes.  EVP_Digest() with an EVP_MD held
** across calls is the quickest on small blocks, but core/sha256.c does not
** keep one (it would outlive the extension when SQLite unloads it; see
** there): it calls SHA256().
*/
#include "thr_core.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Each measurement runs in ROUNDS slices of SLICE seconds, interleaved
** with the others, so that a slow moment of the machine (a shared VM)
** weighs on all of them alike rather than on whichever ran then. */
#define ROUNDS 10
#define SLICE 0.25

#define BIG_BYTES (16u << 20)
#define SMALL_BYTES 300

typedef void (*hash_fn)(unsigned char *, const unsigned char *, size_t);

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Totals of one measurement across its slices. */
typedef struct tally tally;
struct tally {
  double nByte;
  double t;
};

static double tally_mbs(const tally *p) {
  return p->nByte / p->t / 1e6;
}

/* The candidates, wrapped to the shape of thr_sha256.  A failure of a
** library call would make the figures meaningless: stop. */
static void sodium_sha256(unsigned char *out, const unsigned char *a,
                          size_t n) {
  crypto_hash_sha256(out, a, n);
}

static void openssl_sha256(unsigned char *out, const unsigned char *a,
                           size_t n) {
  if (SHA256(a, n, out) == NULL) {
    fprintf(stderr, "bench_hash: SHA256() failed\n");
    exit(1);
  }
}

static EVP_MD *pSha256Md = NULL; /* fetched once in main() */

static void openssl_evp_sha256(unsigned char *out, const unsigned char *a,
                               size_t n) {
  if (!EVP_Digest(a, n, out, NULL, pSha256Md, NULL)) {
    fprintf(stderr, "bench_hash: EVP_Digest() failed\n");
    exit(1);
  }
}

typedef struct candidate candidate;
struct candidate {
  const char *zName;
  hash_fn xHash;
  tally big;
  tally small;
};

/* Hash (a, n) with xHash, over and over for one slice.  Each digest is
** folded into the input so that no call can be hoisted or dropped. */
static void bench_one(hash_fn xHash, unsigned char *a, size_t n, tally *pT) {
  unsigned char d[32];
  long nCall = 0;
  int nBatch = n >= 1000000 ? 1 : 1024;
  double t0, t;
  t0 = now_s();
  do {
    for (int i = 0; i < nBatch; i++) {
      xHash(d, a, n);
      a[0] ^= d[0];
    }
    nCall += nBatch;
    t = now_s() - t0;
  } while (t < SLICE);
  pT->nByte += (double)nCall * (double)n;
  pT->t += t;
}

/* Every candidate must give the NIST digest of "abc" before it is timed. */
static int check_abc(const candidate *p) {
  static const unsigned char aWant[32] = {
      0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
      0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
      0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
  unsigned char d[32];
  memset(d, 0, sizeof(d));
  p->xHash(d, (const unsigned char *)"abc", 3);
  if (memcmp(d, aWant, 32) != 0) {
    fprintf(stderr, "bench_hash: %s gives a wrong digest\n", p->zName);
    return 0;
  }
  return 1;
}

int main(void) {
  candidate aCand[] = {
      {"libsodium crypto_hash_sha256", sodium_sha256, {0, 0}, {0, 0}},
      {"OpenSSL SHA256()", openssl_sha256, {0, 0}, {0, 0}},
      {"OpenSSL EVP_Digest()", openssl_evp_sha256, {0, 0}, {0, 0}},
      {"thr_sha256 (core/sha256.c)", thr_sha256, {0, 0}, {0, 0}},
  };
  const int nCand = (int)(sizeof(aCand) / sizeof(aCand[0]));
  unsigned char *aBig = NULL;
  unsigned char aSmall[SMALL_BYTES];
  double big0, small0;
  int c, r;

  if (sodium_init() < 0) {
    return 2;
  }
  pSha256Md = EVP_MD_fetch(NULL, "SHA256", NULL);
  aBig = malloc(BIG_BYTES);
  if (pSha256Md == NULL || aBig == NULL) {
    fprintf(stderr, "bench_hash: setup failed\n");
    return 1;
  }
  for (c = 0; c < nCand; c++) {
    if (!check_abc(&aCand[c])) {
      return 1;
    }
  }
  randombytes_buf(aBig, BIG_BYTES);
  randombytes_buf(aSmall, sizeof(aSmall));

  printf("bench_hash: SHA-256 (%s), %d interleaved rounds of %.2f s "
         "each\n",
         OpenSSL_version(OPENSSL_VERSION), ROUNDS, SLICE);
  for (r = 0; r < ROUNDS; r++) {
    for (c = 0; c < nCand; c++) {
      bench_one(aCand[c].xHash, aBig, BIG_BYTES, &aCand[c].big);
      bench_one(aCand[c].xHash, aSmall, SMALL_BYTES, &aCand[c].small);
    }
  }
  big0 = tally_mbs(&aCand[0].big);
  small0 = tally_mbs(&aCand[0].small);
  printf("  %-30s %-21s %s\n", "", "16 MB buffer", "300-byte blocks");
  for (c = 0; c < nCand; c++) {
    double big = tally_mbs(&aCand[c].big);
    double small = tally_mbs(&aCand[c].small);
    printf("  %-30s %8.1f MB/s %5.2f x   %8.1f MB/s %5.2f x  %9.0f blocks/s\n",
           aCand[c].zName, big, big / big0, small, small / small0,
           small * 1e6 / SMALL_BYTES);
  }
  {
    /* The faster library for each shape, by its best call. */
    double bigSsl = tally_mbs(&aCand[1].big);
    double smallSsl = tally_mbs(&aCand[1].small);
    if (tally_mbs(&aCand[2].big) > bigSsl) {
      bigSsl = tally_mbs(&aCand[2].big);
    }
    if (tally_mbs(&aCand[2].small) > smallSsl) {
      smallSsl = tally_mbs(&aCand[2].small);
    }
    printf("  faster, 16 MB: %s (OpenSSL / libsodium = %.2f)\n",
           bigSsl > big0 ? "OpenSSL" : "libsodium", bigSsl / big0);
    printf("  faster, 300-byte blocks: %s (OpenSSL / libsodium = %.2f)\n",
           smallSsl > small0 ? "OpenSSL" : "libsodium", smallSsl / small0);
  }

  EVP_MD_free(pSha256Md);
  free(aBig);
  return 0;
}
