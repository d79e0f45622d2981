/*
** test_sign.c: Ed25519 signing with pooled nonces (core/sign.c).
**
** Every property is checked against libsodium's own signing and
** verification, never against sign.c itself: the arithmetic by known
** answers (the RFC 8032 nonce makes thr_sign_with_nonce() reproduce
** crypto_sign_detached() byte for byte), the pool by verification and by
** the uniqueness of the R half of its signatures, in one thread, in
** several and across fork().
*/
#include "thr_core.h"
#include "tt.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A child that starts threads after a fork of a threaded process is what
** the fork test is about; ThreadSanitizer refuses that by default.  The
** runtime looks this function up by name, so it must be visible. */
#if defined(__SANITIZE_THREAD__)
const char *__tsan_default_options(void);
__attribute__((visibility("default"))) const char *
__tsan_default_options(void) {
  return "die_after_fork=0";
}
#endif

/* Even so, ThreadSanitizer aborts when that child joins the thread it
** started ("dup thread with used id"): under it the child exits without
** its release, leaving the thread to _exit(). */
#if defined(__SANITIZE_THREAD__)
#define CHILD_RELEASES 0
#else
#define CHILD_RELEASES 1
#endif

/* A key pair from the test's fixed-seed generator. */
static void make_key(thr_keypair *k, unsigned char seed[32]) {
  int i;
  for (i = 0; i < 32; i++) {
    seed[i] = (unsigned char)rng_next();
  }
  crypto_sign_seed_keypair(k->pk, k->sk, seed);
}

static void make_msg(unsigned char *m, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    m[i] = (unsigned char)rng_next();
  }
}

static int verifies(const unsigned char sig[64], const unsigned char *m,
                    size_t n, const thr_keypair *k) {
  return crypto_sign_verify_detached(sig, m, n, k->pk) == 0;
}

/* 1 if sig was made with the RFC 8032 nonce, i.e. not with a pooled one:
** Ed25519 signing by libsodium is deterministic. */
static int deterministic(const unsigned char sig[64], const unsigned char *m,
                         size_t n, const thr_keypair *k) {
  unsigned char ref[64];
  crypto_sign_detached(ref, NULL, m, n, k->sk);
  return memcmp(ref, sig, 64) == 0;
}

/* Wait (up to 20 s) until the pool holds at least nWant entries; returns
** the number it holds. */
static int wait_pool(int nWant) {
  int nPool = 0, nThread = 0, i;
  struct timespec ms = {0, 1000000};
  for (i = 0; i < 20000; i++) {
    thr_sign_stats(&nPool, &nThread);
    if (nPool >= nWant) {
      break;
    }
    nanosleep(&ms, NULL);
  }
  return nPool;
}

/* The nonce RFC 8032 derives: SHA-512(second half of SHA-512(seed) || M)
** mod L. */
static void rfc_nonce(unsigned char r[32], const unsigned char seed[32],
                      const unsigned char *m, size_t n) {
  crypto_hash_sha512_state st;
  unsigned char h[64], hr[64];
  crypto_hash_sha512(h, seed, 32);
  crypto_hash_sha512_init(&st);
  crypto_hash_sha512_update(&st, h + 32, 32);
  crypto_hash_sha512_update(&st, m, n);
  crypto_hash_sha512_final(&st, hr);
  crypto_core_ed25519_scalar_reduce(r, hr);
}

/* 1000 random keys and messages of 0 to 1000 bytes: with the RFC 8032
** nonce the output is exactly libsodium's signature. */
static void test_known_answer(void) {
  static unsigned char m[1000];
  thr_keypair k;
  unsigned char seed[32], r[32], sig[64], ref[64];
  int i, nSame = 0;
  for (i = 0; i < 1000; i++) {
    size_t n = rng_below(1001);
    make_key(&k, seed);
    make_msg(m, n);
    rfc_nonce(r, seed, m, n);
    crypto_sign_detached(ref, NULL, m, n, k.sk);
    memset(sig, 0, sizeof(sig));
    if (thr_sign_with_nonce(sig, m, n, &k, r) == 0 &&
        memcmp(sig, ref, 64) == 0) {
      nSame++;
    }
  }
  TT_CHECK(nSame == 1000);
}

/* Nonces that are not reduced nonzero scalars are refused; the largest
** one that is works. */
static void test_nonce_range(void) {
  static const unsigned char L[32] = {
      0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
      0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};
  thr_keypair k;
  unsigned char seed[32], r[32], sig[64];
  static const unsigned char m[] = "range";
  make_key(&k, seed);
  memset(r, 0, sizeof(r));
  TT_CHECK(thr_sign_with_nonce(sig, m, sizeof(m), &k, r) == -1);
  memcpy(r, L, 32);
  TT_CHECK(thr_sign_with_nonce(sig, m, sizeof(m), &k, r) == -1);
  memset(r, 0xff, sizeof(r));
  TT_CHECK(thr_sign_with_nonce(sig, m, sizeof(m), &k, r) == -1);
  memcpy(r, L, 32);
  r[0]--; /* L - 1 */
  TT_CHECK(thr_sign_with_nonce(sig, m, sizeof(m), &k, r) == 0);
  TT_CHECK(verifies(sig, m, sizeof(m), &k));
  memset(r, 0, sizeof(r));
  r[0] = 1; /* R = B */
  TT_CHECK(thr_sign_with_nonce(sig, m, sizeof(m), &k, r) == 0);
  TT_CHECK(verifies(sig, m, sizeof(m), &k));
}

/* Signatures from the pool verify, differ for the same message, and stop
** verifying when any bit of signature or message changes. */
static void test_pool_sign(void) {
  static unsigned char m[256];
  thr_keypair k;
  unsigned char seed[32], sig[64], sig2[64];
  int i, b, nGood = 0, nPooled = 0, nFlipOk = 0, nFlip = 0;

  thr_sign_acquire();
  TT_CHECK(wait_pool(1) > 0);
  make_key(&k, seed);
  for (i = 0; i < 5000; i++) {
    size_t n = rng_below(sizeof(m) + 1);
    make_msg(m, n);
    thr_sign(sig, m, n, &k);
    nGood += verifies(sig, m, n, &k);
    if (i % 50 == 0) {
      nPooled += !deterministic(sig, m, n, &k);
    }
  }
  TT_CHECK(nGood == 5000);
  TT_CHECK(nPooled > 0);

  /* The same message twice: two nonces, two valid signatures. */
  TT_CHECK(wait_pool(2) >= 2);
  make_msg(m, 64);
  thr_sign(sig, m, 64, &k);
  thr_sign(sig2, m, 64, &k);
  TT_CHECK(memcmp(sig, sig2, 32) != 0);
  TT_CHECK(verifies(sig, m, 64, &k));
  TT_CHECK(verifies(sig2, m, 64, &k));

  /* Every bit of the signature, a sample of the message's. */
  for (b = 0; b < 512; b++) {
    sig[b / 8] ^= (unsigned char)(1 << (b % 8));
    nFlipOk += verifies(sig, m, 64, &k);
    sig[b / 8] ^= (unsigned char)(1 << (b % 8));
    nFlip++;
  }
  for (i = 0; i < 64; i++) {
    b = (int)rng_below(64 * 8);
    m[b / 8] ^= (unsigned char)(1 << (b % 8));
    nFlipOk += verifies(sig, m, 64, &k);
    m[b / 8] ^= (unsigned char)(1 << (b % 8));
    nFlip++;
  }
  TT_CHECK(nFlip == 576 && nFlipOk == 0);
  TT_CHECK(verifies(sig, m, 64, &k));
  thr_sign_release();
}

/* Four threads drain the pool at once while it refills. */
#define N_THREAD 4
#define N_PER 2000

typedef struct signer signer;
struct signer {
  const thr_keypair *k;
  int iThread;
  unsigned char aSig[N_PER][64];
};

/* The message of signature i of thread t: distinct for every (t, i), so
** that even signatures made without the pool have distinct R. */
static void signer_msg(unsigned char m[16], int t, int i) {
  memset(m, 0, 16);
  memcpy(m, "sign", 4);
  m[4] = (unsigned char)t;
  m[5] = (unsigned char)(i >> 8);
  m[6] = (unsigned char)i;
}

static void *signer_main(void *pArg) {
  signer *p = pArg;
  unsigned char m[16];
  int i;
  for (i = 0; i < N_PER; i++) {
    signer_msg(m, p->iThread, i);
    thr_sign(p->aSig[i], m, sizeof(m), p->k);
  }
  return NULL;
}

static int cmp32(const void *a, const void *b) {
  return memcmp(a, b, 32);
}

static void test_threads(void) {
  static signer aSigner[N_THREAD];
  static unsigned char aR[N_THREAD * N_PER][32];
  pthread_t aId[N_THREAD];
  thr_keypair k;
  unsigned char seed[32], m[16];
  int t, i, nStart, nGood = 0, nPooled = 0, nDup = 0, nStarted = 0;

  make_key(&k, seed);
  thr_sign_acquire();
  nStart = wait_pool(256);
  TT_CHECK(nStart > 0);
  for (t = 0; t < N_THREAD; t++) {
    aSigner[t].k = &k;
    aSigner[t].iThread = t;
    if (pthread_create(&aId[t], NULL, signer_main, &aSigner[t]) == 0) {
      nStarted++;
    }
  }
  TT_CHECK(nStarted == N_THREAD);
  for (t = 0; t < nStarted; t++) {
    pthread_join(aId[t], NULL);
  }
  thr_sign_release();

  for (t = 0; t < nStarted; t++) {
    for (i = 0; i < N_PER; i++) {
      const unsigned char *sig = aSigner[t].aSig[i];
      signer_msg(m, t, i);
      nGood += verifies(sig, m, sizeof(m), &k);
      nPooled += !deterministic(sig, m, sizeof(m), &k);
      memcpy(aR[t * N_PER + i], sig, 32);
    }
  }
  TT_CHECK(nGood == N_THREAD * N_PER);
  /* At least the entries ready at the start came from the pool. */
  TT_CHECK(nPooled >= nStart);
  qsort(aR, (size_t)(nStarted * N_PER), 32, cmp32);
  for (i = 1; i < nStarted * N_PER; i++) {
    nDup += memcmp(aR[i - 1], aR[i], 32) == 0;
  }
  TT_CHECK(nDup == 0);
}

/* What the child of test_fork reports through its pipe. */
typedef struct child_report child_report;
struct child_report {
  int nPoolAfterFork;     /* entries the child saw right after fork() */
  int nPoolLater;         /* entries once its own refill thread ran */
  unsigned char sig1[64]; /* first signature, right after fork() */
  unsigned char sig2[64]; /* one from the child's own pool */
  int nPoolEnd;           /* entries after the child's release */
  int nThreadEnd;         /* refill threads after the child's release */
};

static void test_fork(void) {
  static const unsigned char m[] = "the same message in both processes";
  thr_keypair k;
  unsigned char seed[32], sig[64], sigP[64];
  child_report rep;
  int aPipe[2], status = -1, nThread = 0;
  ssize_t nRead = 0;
  pid_t pid;

  make_key(&k, seed);
  thr_sign_acquire();
  TT_CHECK(wait_pool(256) == 256);
  thr_sign(sig, m, sizeof(m), &k);
  TT_CHECK(verifies(sig, m, sizeof(m), &k));
  TT_CHECK(!deterministic(sig, m, sizeof(m), &k));
  TT_CHECK(pipe(aPipe) == 0);
  pid = fork();
  TT_CHECK(pid >= 0);
  if (pid == 0) {
    memset(&rep, 0, sizeof(rep));
    thr_sign_stats(&rep.nPoolAfterFork, &nThread);
    thr_sign(rep.sig1, m, sizeof(m), &k);
    rep.nPoolLater = wait_pool(1);
    thr_sign(rep.sig2, m, sizeof(m), &k);
    /* The child holds the reference it inherited; its last release joins
    ** the thread the child started. */
    if (CHILD_RELEASES) {
      thr_sign_release();
      thr_sign_stats(&rep.nPoolEnd, &rep.nThreadEnd);
    }
    if (write(aPipe[1], &rep, sizeof(rep)) != (ssize_t)sizeof(rep)) {
      _exit(3);
    }
    _exit(0);
  }
  close(aPipe[1]);
  thr_sign(sigP, m, sizeof(m), &k);
  memset(&rep, 0, sizeof(rep));
  if (pid > 0) {
    nRead = read(aPipe[0], &rep, sizeof(rep));
    waitpid(pid, &status, 0);
  }
  close(aPipe[0]);
  thr_sign_release();

  TT_CHECK(nRead == (ssize_t)sizeof(rep));
  TT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  TT_CHECK(verifies(sigP, m, sizeof(m), &k));
  TT_CHECK(!deterministic(sigP, m, sizeof(m), &k));
  /* The child inherited none of the parent's entries: it fell back to
  ** RFC 8032 signing until its own thread filled its own pool. */
  TT_CHECK(rep.nPoolAfterFork == 0);
  TT_CHECK(verifies(rep.sig1, m, sizeof(m), &k));
  TT_CHECK(deterministic(rep.sig1, m, sizeof(m), &k));
  TT_CHECK(memcmp(rep.sig1, sigP, 32) != 0);
  TT_CHECK(rep.nPoolLater > 0);
  TT_CHECK(!CHILD_RELEASES || (rep.nPoolEnd == 0 && rep.nThreadEnd == 0));
  TT_CHECK(verifies(rep.sig2, m, sizeof(m), &k));
  TT_CHECK(!deterministic(rep.sig2, m, sizeof(m), &k));
  TT_CHECK(memcmp(rep.sig2, sigP, 32) != 0);
  TT_CHECK(memcmp(rep.sig2, sig, 32) != 0);
}

/* References nest; the last release stops and joins the thread and empties
** the pool, after which signing falls back and still verifies; acquiring
** again brings the pool back. */
static void test_release(void) {
  static const unsigned char m[] = "release";
  thr_keypair k;
  unsigned char seed[32], sig[64];
  int nPool = -1, nThread = -1;

  make_key(&k, seed);
  thr_sign_stats(&nPool, &nThread);
  TT_CHECK(nPool == 0 && nThread == 0);

  thr_sign_acquire();
  thr_sign_acquire();
  TT_CHECK(wait_pool(1) > 0);
  thr_sign_release();
  thr_sign_stats(&nPool, &nThread);
  TT_CHECK(nPool > 0 && nThread == 1);
  thr_sign(sig, m, sizeof(m), &k);
  TT_CHECK(verifies(sig, m, sizeof(m), &k));
  TT_CHECK(!deterministic(sig, m, sizeof(m), &k));
  thr_sign_release();

  thr_sign_stats(&nPool, &nThread);
  TT_CHECK(nPool == 0 && nThread == 0);
  thr_sign(sig, m, sizeof(m), &k);
  TT_CHECK(verifies(sig, m, sizeof(m), &k));
  TT_CHECK(deterministic(sig, m, sizeof(m), &k));

  thr_sign_acquire();
  TT_CHECK(wait_pool(1) > 0);
  thr_sign(sig, m, sizeof(m), &k);
  TT_CHECK(verifies(sig, m, sizeof(m), &k));
  TT_CHECK(!deterministic(sig, m, sizeof(m), &k));
  thr_sign_release();
  thr_sign_stats(&nPool, &nThread);
  TT_CHECK(nPool == 0 && nThread == 0);
}

int main(void) {
  if (sodium_init() < 0) {
    return 2;
  }
  TT_RUN(test_known_answer);
  TT_RUN(test_nonce_range);
  TT_RUN(test_pool_sign);
  TT_RUN(test_threads);
  TT_RUN(test_fork);
  TT_RUN(test_release);
  return tt_done();
}
