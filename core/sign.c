/*
** sign.c: Ed25519 signatures with nonces precomputed on a background thread.
**
** THE MATH
**
** B is the Ed25519 base point and
** L = 2^252 + 27742317777372353535851937790883648493 the order of the
** group it generates.  For a libsodium secret key seed (32) || A (32):
**
**   h = SHA-512(seed)
**   a = h[0..32] clamped (low 3 bits cleared, bit 255 cleared, bit 254 set),
**       read as a little-endian integer; A = a*B
**   r = a nonce scalar in [1, L)
**   R = r*B
**   k = SHA-512(R || A || M) mod L
**   S = (r + k*a) mod L
**   signature = R (32) || S (32)
**
** A verifier checks S*B == R + k*A, which holds for every r:
** S*B = r*B + k*a*B = R + k*A.  The verifier never sees r and cannot tell
** how it was chosen.  We reduce a mod L before multiplying (it is 255 bits
** wide), so that every scalar operation gets reduced inputs; the result is
** the same since only a mod L matters.
**
** WHY A RANDOM NONCE IS SOUND, AND WHAT IT DEPENDS ON
**
** RFC 8032 takes r = SHA-512(h[32..64] || M) mod L, so that signing needs
** no randomness and the same message always gets the same signature.
** Nothing in verification depends on that.  What security needs is that r
** is unpredictable and never used for two different messages: from two
** signatures (R, S1), (R, S2) with the same r, S1 - S2 = (k1 - k2)*a, which
** gives away a.  A uniformly random r in [1, L) from the operating
** system's generator (crypto_core_ed25519_scalar_random, getrandom()
** underneath) meets that with overwhelming probability; it is how
** Schnorr signatures, which Ed25519 descends from, were first defined.
**
** The price is a dependence on the generator that RFC 8032 signing does
** not have: a biased or repeating generator leaks the key.  So does
** anything that replays this process's memory, such as resuming one VM
** snapshot twice: both copies would hold the same unused pool entries.
** The payoff is that R = r*B, the expensive scalar multiplication,
** no longer depends on the message, so a thread can compute (r, R) pairs
** ahead of time on an idle core and signing shrinks to two hashes and a
** few scalar operations.
**
** RULES THAT KEEP A NONCE FROM BEING USED TWICE
**
**   - An entry leaves the pool under the mutex and its slot is zeroed
**     before the mutex is released; the refill thread only ever adds
**     entries it has just made.  An entry is therefore used once.
**   - fork() copies the pool into the child, where the parent may still
**     use the same entries.  A pthread_atfork() child handler wipes the
**     child's copy (and notes that the refill thread does not exist
**     there); thr_sign() also compares getpid() with the pid recorded with
**     the pool and wipes the pool if they differ, for processes made
**     without running the handlers.  The child restarts its own refill
**     thread on its next thr_sign() or thr_sign_acquire().
**   - The pool lives in sodium_malloc() memory (guard pages, locked, kept
**     out of core dumps) and is wiped when the last reference is released.
**
** LIFETIME
**
** The pool and its thread are reference counted: every open store holds
** one reference.  The last release stops and joins the thread before it
** returns, because the extension may be unloaded (dlclose) as soon as the
** last connection is closed.  glibc removes a dlclose'd object's
** pthread_atfork() handlers along with it.
*/
#include "thr_core.h"

#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define SIGN_POOL_SIZE 256 /* entries kept ready */
#define SIGN_POOL_LOW 64   /* the refill thread wakes at or below this */

/* One precomputed nonce. */
typedef struct sign_nonce sign_nonce;
struct sign_nonce {
  unsigned char r[32]; /* secret scalar, reduced mod L, not zero */
  unsigned char R[32]; /* r*B */
};

/* gSignForkOk is set once, under gSignOnce: the pthread_atfork() handlers
** are registered. */
static pthread_once_t gSignOnce = PTHREAD_ONCE_INIT;
static int gSignForkOk = 0;

/* The process-wide pool.  gSignMutex guards every variable below it.
** gSignLife serializes acquire and release (a release joins the thread
** without holding gSignMutex, which the thread needs in order to exit). */
static pthread_mutex_t gSignLife = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t gSignMutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gSignCond = PTHREAD_COND_INITIALIZER; /* wakes refill */
static int gSignRef = 0;     /* thr_sign_acquire() minus thr_sign_release() */
static int gSignRunning = 0; /* a refill thread exists and is not joined */
static int gSignStop = 0;    /* asks the refill thread to exit */
static int gSignThreads = 0; /* refill threads alive (for tests) */
static pthread_t gSignThread;
static pid_t gSignPid = 0; /* the process the pool's entries belong to */
/* SIGN_POOL_SIZE entries, then one scratch slot the refill thread builds
** the next entry in.  sodium_malloc() memory; NULL when no reference is
** held. */
static sign_nonce *gSignPool = NULL;
static int gSignN = 0; /* entries ready: gSignPool[0 .. gSignN) */

#define SIGN_POOL_BYTES (sizeof(sign_nonce) * (SIGN_POOL_SIZE + 1))

/* 1 if the 32-byte little-endian scalar s is in [1, L), in constant time
** (s is secret). */
static int sign_scalar_ok(const unsigned char s[32]) {
  static const unsigned char L[32] = {
      0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
      0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};
  unsigned int borrow = 0;
  int i;
  /* s - L borrows out of the top byte exactly when s < L. */
  for (i = 0; i < 32; i++) {
    borrow = (((unsigned int)s[i] - L[i] - borrow) >> 8) & 1;
  }
  return (int)borrow & (sodium_is_zero(s, 32) ^ 1);
}

/* The signature of (m, n) by k with nonce r, R = r*B, both given. */
static void sign_finish(unsigned char sig[64], const unsigned char *m, size_t n,
                        const thr_keypair *k, const unsigned char r[32],
                        const unsigned char R[32]) {
  crypto_hash_sha512_state st;
  unsigned char h[64];     /* SHA-512(seed): secret */
  unsigned char aWide[64]; /* clamped a, zero-padded to 64 bytes: secret */
  unsigned char a[32];     /* a mod L: secret */
  unsigned char ka[32];    /* k*a mod L: secret */
  unsigned char hram[64];  /* SHA-512(R || A || M) */
  unsigned char kk[32];    /* k = hram mod L */

  /* The first 32 bytes of a libsodium Ed25519 secret key are its seed. */
  crypto_hash_sha512(h, k->sk, 32);
  memset(aWide, 0, sizeof(aWide));
  memcpy(aWide, h, 32);
  aWide[0] &= 248;
  aWide[31] &= 127;
  aWide[31] |= 64;
  crypto_core_ed25519_scalar_reduce(a, aWide);

  /* A is taken from the second half of the secret key, as libsodium's
  ** crypto_sign_detached() does, so that both hash the same bytes. */
  crypto_hash_sha512_init(&st);
  crypto_hash_sha512_update(&st, R, 32);
  crypto_hash_sha512_update(&st, k->sk + 32, 32);
  crypto_hash_sha512_update(&st, m, n);
  crypto_hash_sha512_final(&st, hram);
  crypto_core_ed25519_scalar_reduce(kk, hram);
  crypto_core_ed25519_scalar_mul(ka, kk, a);

  /* Nothing is written to sig before m has been read. */
  memcpy(sig, R, 32);
  crypto_core_ed25519_scalar_add(sig + 32, ka, r);

  sodium_memzero(h, sizeof(h));
  sodium_memzero(aWide, sizeof(aWide));
  sodium_memzero(a, sizeof(a));
  sodium_memzero(ka, sizeof(ka));
  sodium_memzero(&st, sizeof(st));
}

int thr_sign_with_nonce(unsigned char sig[64], const unsigned char *m, size_t n,
                        const thr_keypair *k, const unsigned char r[32]) {
  unsigned char R[32];
  if (!sign_scalar_ok(r) || crypto_scalarmult_ed25519_base_noclamp(R, r)) {
    return -1;
  }
  sign_finish(sig, m, n, k, r, R);
  return 0;
}

/* Forget the pool of another process: wipe every entry (and the scratch
** slot), and note that no refill thread exists in this one.  Called with
** gSignMutex held, or in the child after fork() where nothing else runs. */
static void sign_pool_forget(void) {
  if (gSignPool) {
    sodium_memzero(gSignPool, SIGN_POOL_BYTES);
  }
  gSignN = 0;
  gSignRunning = 0;
  gSignStop = 0;
  gSignThreads = 0;
  gSignPid = getpid();
}

/* With gSignMutex held: wipe the pool if it was made by another process
** (a fork that did not run the pthread_atfork() handlers). */
static void sign_check_pid(void) {
  if (gSignPool && gSignPid != getpid()) {
    sign_pool_forget();
  }
}

/* The refill thread: sleep while the pool is above the low watermark, then
** fill it up.  The scalar multiplication runs without the mutex, in the
** scratch slot, which no other thread touches. */
static void *sign_refill_main(void *pArg) {
  sign_nonce *pScratch;
  (void)pArg;
  pthread_mutex_lock(&gSignMutex);
  gSignThreads++;
  /* The pool is freed only after this thread is joined. */
  pScratch = &gSignPool[SIGN_POOL_SIZE];
  while (!gSignStop) {
    if (gSignN > SIGN_POOL_LOW) {
      pthread_cond_wait(&gSignCond, &gSignMutex);
      continue;
    }
    while (!gSignStop && gSignN < SIGN_POOL_SIZE) {
      pthread_mutex_unlock(&gSignMutex);
      do {
        crypto_core_ed25519_scalar_random(pScratch->r);
      } while (crypto_scalarmult_ed25519_base_noclamp(pScratch->R,
                                                      pScratch->r) != 0);
      pthread_mutex_lock(&gSignMutex);
      if (!gSignStop) {
        gSignPool[gSignN++] = *pScratch;
      }
      sodium_memzero(pScratch, sizeof(*pScratch));
    }
  }
  gSignThreads--;
  pthread_mutex_unlock(&gSignMutex);
  return NULL;
}

/* With gSignMutex held: start the refill thread if a reference is held
** and none runs.  The thread blocks every signal, so that signals meant
** for the application go to its own threads.  On failure the pool stays
** empty and thr_sign() falls back to crypto_sign_detached(). */
static void sign_refill_start(void) {
  sigset_t all, old;
  if (gSignRunning || gSignStop || gSignRef == 0 || gSignPool == NULL) {
    return;
  }
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  if (pthread_create(&gSignThread, NULL, sign_refill_main, NULL) == 0) {
    gSignRunning = 1;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* pthread_atfork() handlers.  Both locks are held across fork(), so the
** child gets a pool that no thread was halfway through changing. */
static void sign_atfork_prepare(void) {
  pthread_mutex_lock(&gSignLife);
  pthread_mutex_lock(&gSignMutex);
}

static void sign_atfork_parent(void) {
  pthread_mutex_unlock(&gSignMutex);
  pthread_mutex_unlock(&gSignLife);
}

static void sign_atfork_child(void) {
  sign_pool_forget();
  if (gSignPool) {
    /* Memory locks are not inherited across fork(). */
    sodium_mlock(gSignPool, SIGN_POOL_BYTES);
  }
  /* The parent's refill thread may have been waiting on the condition
  ** variable; the child's copy would still count it as a waiter. */
  pthread_cond_init(&gSignCond, NULL);
  pthread_mutex_unlock(&gSignMutex);
  pthread_mutex_unlock(&gSignLife);
}

static void sign_once(void) {
  gSignForkOk = pthread_atfork(sign_atfork_prepare, sign_atfork_parent,
                               sign_atfork_child) == 0;
}

void thr_sign_acquire(void) {
  int bSodium = sodium_init() >= 0;
  pthread_once(&gSignOnce, sign_once);
  pthread_mutex_lock(&gSignLife);
  pthread_mutex_lock(&gSignMutex);
  sign_check_pid();
  gSignRef++;
  /* Without fork handlers the pool could not be kept out of a child's
  ** hands reliably, so there is no pool: thr_sign() falls back. */
  if (gSignPool == NULL && bSodium && gSignForkOk) {
    gSignPool = sodium_malloc(SIGN_POOL_BYTES);
    if (gSignPool) {
      sodium_memzero(gSignPool, SIGN_POOL_BYTES);
      gSignN = 0;
      gSignPid = getpid();
    }
  }
  sign_refill_start();
  pthread_mutex_unlock(&gSignMutex);
  pthread_mutex_unlock(&gSignLife);
}

void thr_sign_release(void) {
  pthread_t thread;
  int bJoin = 0;
  pthread_mutex_lock(&gSignLife);
  pthread_mutex_lock(&gSignMutex);
  sign_check_pid();
  assert(gSignRef > 0);
  if (gSignRef > 0 && --gSignRef == 0) {
    if (gSignRunning) {
      gSignStop = 1;
      pthread_cond_signal(&gSignCond);
      thread = gSignThread;
      bJoin = 1;
    }
    pthread_mutex_unlock(&gSignMutex);
    if (bJoin) {
      pthread_join(thread, NULL);
    }
    pthread_mutex_lock(&gSignMutex);
    gSignRunning = 0;
    gSignStop = 0;
    if (gSignPool) {
      /* sodium_free() wipes the memory too; this says so here. */
      sodium_memzero(gSignPool, SIGN_POOL_BYTES);
      sodium_free(gSignPool);
      gSignPool = NULL;
    }
    gSignN = 0;
  }
  pthread_mutex_unlock(&gSignMutex);
  pthread_mutex_unlock(&gSignLife);
}

void thr_sign(unsigned char sig[64], const unsigned char *m, size_t n,
              const thr_keypair *k) {
  sign_nonce e;
  int bHave = 0;
  pthread_mutex_lock(&gSignMutex);
  sign_check_pid();
  if (gSignN > 0) {
    sign_nonce *p = &gSignPool[--gSignN];
    e = *p;
    sodium_memzero(p, sizeof(*p));
    bHave = 1;
    if (gSignN <= SIGN_POOL_LOW) {
      pthread_cond_signal(&gSignCond);
    }
  }
  /* After a fork the child has a reference but no thread yet. */
  sign_refill_start();
  pthread_mutex_unlock(&gSignMutex);
  if (bHave) {
    sign_finish(sig, m, n, k, e.r, e.R);
    sodium_memzero(&e, sizeof(e));
  } else {
    crypto_sign_detached(sig, NULL, m, n, k->sk);
  }
}

void thr_sign_stats(int *pnPool, int *pnThread) {
  pthread_mutex_lock(&gSignMutex);
  sign_check_pid();
  *pnPool = gSignN;
  *pnThread = gSignThreads;
  pthread_mutex_unlock(&gSignMutex);
}
