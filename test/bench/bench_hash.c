/*
** bench_hash.c: thr_sha256 (core/sha256.c) beside libsodium's portable
** crypto_hash_sha256, the function it replaces in thr_cid_of.
**
** Two input shapes:
**   16 MB buffer     one large body, as a 100k-row transaction writes;
**   300-byte blocks  the size of a record's small blocks, where the
**                    per-call padding and setup weigh most.
**
** The first line names the path thr_sha256 takes on this machine
** ("sha-ni" or "portable").  MB are 10^6 bytes.
*/
#include "thr_core.h"

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

/* crypto_hash_sha256 returns int; wrap it to the shape of thr_sha256. */
static void sodium_sha256(unsigned char *out, const unsigned char *a,
                          size_t n) {
  crypto_hash_sha256(out, a, n);
}

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

int main(void) {
  unsigned char *aBig = NULL;
  unsigned char aSmall[SMALL_BYTES];
  tally tBigSodium = {0, 0}, tBigThr = {0, 0};
  tally tSmallSodium = {0, 0}, tSmallThr = {0, 0};
  double bigSodium, bigThr, smallSodium, smallThr;

  if (sodium_init() < 0) {
    return 2;
  }
  aBig = malloc(BIG_BYTES);
  if (aBig == NULL) {
    fprintf(stderr, "bench_hash: out of memory\n");
    return 1;
  }
  randombytes_buf(aBig, BIG_BYTES);
  randombytes_buf(aSmall, sizeof(aSmall));

  printf("bench_hash: SHA-256, thr_sha256 (%s path) beside "
         "crypto_hash_sha256, %d interleaved rounds of %.2f s each\n",
         thr_sha256_path(), ROUNDS, SLICE);
  for (int r = 0; r < ROUNDS; r++) {
    bench_one(sodium_sha256, aBig, BIG_BYTES, &tBigSodium);
    bench_one(thr_sha256, aBig, BIG_BYTES, &tBigThr);
    bench_one(sodium_sha256, aSmall, SMALL_BYTES, &tSmallSodium);
    bench_one(thr_sha256, aSmall, SMALL_BYTES, &tSmallThr);
  }
  bigSodium = tally_mbs(&tBigSodium);
  bigThr = tally_mbs(&tBigThr);
  smallSodium = tally_mbs(&tSmallSodium);
  smallThr = tally_mbs(&tSmallThr);
  printf("  16 MB buffer, crypto_hash_sha256     %8.1f MB/s  (baseline)\n",
         bigSodium);
  printf("  16 MB buffer, thr_sha256             %8.1f MB/s  %.2f x "
         "libsodium\n",
         bigThr, bigThr / bigSodium);
  printf("  300-byte blocks, crypto_hash_sha256  %8.1f MB/s  (baseline, "
         "%.0f blocks/s)\n",
         smallSodium, smallSodium * 1e6 / SMALL_BYTES);
  printf("  300-byte blocks, thr_sha256          %8.1f MB/s  %.2f x "
         "libsodium (%.0f blocks/s)\n",
         smallThr, smallThr / smallSodium, smallThr * 1e6 / SMALL_BYTES);

  free(aBig);
  return 0;
}
