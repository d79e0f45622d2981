/*
** bench_hash.c: SHA-256 from the libraries we may use, side by side, and
** thr_sha256 (core/sha256.c), the one CIDs use.
**
** Candidates:
**   libsodium   crypto_hash_sha256()                  (the baseline)
**   OpenSSL     SHA256(), libcrypto's one-shot call
**   OpenSSL     EVP_Digest() with an EVP_MD fetched once
**   thr_sha256  what core/sha256.c does
**
** Three shapes:
**   16 MB buffer        one large body, as a 100k-row transaction writes;
**   300-byte blocks     the size of a record's small blocks, where the
**                       per-call set-up weighs most;
**   300 B, 2 threads    the same from two threads at once (total rate), as
**                       the node checks records on libuv's thread pool;
**                       a call that takes a shared lock shows it here.
**
** Ratios are against libsodium; the last lines name the faster library
** for each shape.  MB are 10^6 bytes.
*/
#include "thr_core.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
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

/* Fetched once in main(), freed at its end. */
static EVP_MD *pSha256Md = NULL;

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
  tally small2; /* two threads, bytes summed */
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

/* One of the two threads of a two-thread slice. */
typedef struct worker worker;
struct worker {
  hash_fn xHash;
  unsigned char a[SMALL_BYTES];
  tally t;
};

static void *worker_main(void *pArg) {
  worker *p = pArg;
  bench_one(p->xHash, p->a, sizeof(p->a), &p->t);
  return NULL;
}

/* Two threads hash 300-byte blocks for one slice each, at once; the
** total rate goes to pT (bytes summed, time of the slower thread). */
static void bench_two(hash_fn xHash, tally *pT) {
  worker aW[2];
  pthread_t aId[2];
  int i, nStarted = 0;
  for (i = 0; i < 2; i++) {
    aW[i].xHash = xHash;
    randombytes_buf(aW[i].a, sizeof(aW[i].a));
    aW[i].t.nByte = aW[i].t.t = 0;
  }
  for (i = 0; i < 2; i++) {
    if (pthread_create(&aId[i], NULL, worker_main, &aW[i]) != 0) {
      fprintf(stderr, "bench_hash: pthread_create failed\n");
      exit(1);
    }
    nStarted++;
  }
  for (i = 0; i < nStarted; i++) {
    pthread_join(aId[i], NULL);
  }
  pT->nByte += aW[0].t.nByte + aW[1].t.nByte;
  pT->t += aW[0].t.t > aW[1].t.t ? aW[0].t.t : aW[1].t.t;
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

/* The better OpenSSL figure (SHA256() or EVP_Digest()) against libsodium
** for one shape; iShape 0 big, 1 small, 2 small on two threads. */
static void print_faster(const candidate *aCand, int iShape,
                         const char *zShape) {
  double a[3];
  int c;
  for (c = 0; c < 3; c++) {
    const tally *p = iShape == 0   ? &aCand[c].big
                     : iShape == 1 ? &aCand[c].small
                                   : &aCand[c].small2;
    a[c] = tally_mbs(p);
  }
  if (a[2] > a[1]) {
    a[1] = a[2];
  }
  printf("  faster, %-24s %-9s (best OpenSSL call / libsodium = %.2f)\n",
         zShape, a[1] > a[0] ? "OpenSSL" : "libsodium", a[1] / a[0]);
}

int main(void) {
  candidate aCand[] = {
      {"libsodium crypto_hash_sha256", sodium_sha256, {0, 0}, {0, 0}, {0, 0}},
      {"OpenSSL SHA256()", openssl_sha256, {0, 0}, {0, 0}, {0, 0}},
      {"OpenSSL EVP_Digest(), held MD", openssl_evp_sha256, {0, 0}, {0, 0},
       {0, 0}},
      {"thr_sha256 (core/sha256.c)", thr_sha256, {0, 0}, {0, 0}, {0, 0}},
  };
  const int nCand = (int)(sizeof(aCand) / sizeof(aCand[0]));
  unsigned char *aBig = NULL;
  unsigned char aSmall[SMALL_BYTES];
  double big0, small0, two0;
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
      bench_two(aCand[c].xHash, &aCand[c].small2);
    }
  }
  big0 = tally_mbs(&aCand[0].big);
  small0 = tally_mbs(&aCand[0].small);
  two0 = tally_mbs(&aCand[0].small2);
  printf("  %-29s %-20s %-20s %s\n", "", "16 MB buffer", "300-byte blocks",
         "300 B, 2 threads");
  for (c = 0; c < nCand; c++) {
    double big = tally_mbs(&aCand[c].big);
    double small = tally_mbs(&aCand[c].small);
    double two = tally_mbs(&aCand[c].small2);
    printf("  %-29s %7.1f MB/s %5.2f x %7.1f MB/s %5.2f x %7.1f MB/s %5.2f x\n",
           aCand[c].zName, big, big / big0, small, small / small0, two,
           two / two0);
  }
  printf("  300-byte blocks/s: libsodium %.0f, thr_sha256 %.0f (1 thread)\n",
         small0 * 1e6 / SMALL_BYTES,
         tally_mbs(&aCand[3].small) * 1e6 / SMALL_BYTES);
  print_faster(aCand, 0, "16 MB:");
  print_faster(aCand, 1, "300-byte blocks:");
  print_faster(aCand, 2, "300 B on 2 threads:");

  EVP_MD_free(pSha256Md);
  free(aBig);
  return 0;
}
