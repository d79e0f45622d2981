/*
** test_sign.c: Ed25519 signing (core/sign.c).
**
** thr_sign() must be RFC 8032 Ed25519: deterministic, so that the same key
** and message always give the same signature and no random generator,
** process copy or restored snapshot can make two signatures share a nonce.
** The known answers are RFC 8032's own test vectors (section 7.1: TEST 1,
** TEST 2, TEST 3 and TEST SHA(abc)), copied from the RFC's text, never
** computed by the library under test.
**
** Every case runs while a store is open on a database, as it is whenever
** the extension signs a record, so that whatever signing state a store
** might start is in play.
*/
#include "thr_core.h"
#include "tt.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* One RFC 8032 section 7.1 test: SECRET KEY (the 32-byte seed), PUBLIC
** KEY, MESSAGE and SIGNATURE, in lower-case hex as the RFC prints them. */
typedef struct rfc_vector rfc_vector;
struct rfc_vector {
  const char *zName;
  const char *zSeed;
  const char *zPk;
  const char *zMsg;
  const char *zSig;
};

static const rfc_vector aRfc[] = {
    {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
     "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
    /* The message is SHA-512("abc"), written out as the RFC does. */
    {"TEST SHA(abc)",
     "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
     "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
     "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"},
};
#define N_RFC (int)(sizeof(aRfc) / sizeof(aRfc[0]))

/* Decode hex z into a (room for nMax bytes); returns the byte count, or
** -1 if z is not hex or too long. */
static int from_hex(const char *z, unsigned char *a, size_t nMax) {
  size_t n = 0;
  if (sodium_hex2bin(a, nMax, z, strlen(z), NULL, &n, NULL) != 0) {
    return -1;
  }
  return (int)n;
}

/* Lower-case hex of the 64-byte signature sig, in a static buffer. */
static const char *hex64(const unsigned char sig[64]) {
  static char z[129];
  return sodium_bin2hex(z, sizeof(z), sig, 64);
}

static int verifies(const unsigned char sig[64], const unsigned char *m,
                    size_t n, const thr_keypair *k) {
  return crypto_sign_verify_detached(sig, m, n, k->pk) == 0;
}

/* A key pair from the test's fixed-seed generator, made as identity.c
** makes every key.  NULL on OOM. */
static thr_keypair *make_key(void) {
  unsigned char seed[32];
  int i;
  for (i = 0; i < 32; i++) {
    seed[i] = (unsigned char)rng_next();
  }
  return thr_keypair_from_seed(seed);
}

static void make_msg(unsigned char *m, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    m[i] = (unsigned char)rng_next();
  }
}

/* RFC 8032's vectors through thr_keypair_from_seed() and thr_sign(): the
** public key and the signature are the RFC's to the byte, and stay so
** over many signatures in a row. */
static void test_rfc8032_vectors(void) {
  int i, j;
  for (i = 0; i < N_RFC; i++) {
    unsigned char seed[32], pk[32], sigWant[64], sig[64], m[64];
    int nSame = 0, nMsg = from_hex(aRfc[i].zMsg, m, sizeof(m));
    thr_keypair *k = NULL;
    TT_CHECK(from_hex(aRfc[i].zSeed, seed, 32) == 32);
    TT_CHECK(from_hex(aRfc[i].zPk, pk, 32) == 32);
    TT_CHECK(from_hex(aRfc[i].zSig, sigWant, 64) == 64);
    TT_CHECK(nMsg >= 0);
    k = thr_keypair_from_seed(seed);
    TT_CHECK(k != NULL);
    if (k == NULL || nMsg < 0) {
      thr_keypair_free(k);
      continue;
    }
    TT_CHECK(memcmp(k->pk, pk, 32) == 0);
    memset(sig, 0, sizeof(sig));
    thr_sign(sig, m, (size_t)nMsg, k);
    if (memcmp(sig, sigWant, 64) != 0) {
      printf("  %s: got %s\n", aRfc[i].zName, hex64(sig));
    }
    TT_STREQ(hex64(sig), aRfc[i].zSig);
    TT_CHECK(verifies(sig, m, (size_t)nMsg, k));
    for (j = 0; j < 500; j++) {
      memset(sig, 0, sizeof(sig));
      thr_sign(sig, m, (size_t)nMsg, k);
      nSame += memcmp(sig, sigWant, 64) == 0;
    }
    TT_CHECK(nSame == 500);
    thr_keypair_free(k);
  }
}

/* The same key and message signed twice give the same signature, for
** random keys and messages of 0 to 1000 bytes; every signature verifies. */
static void test_same_twice(void) {
  static unsigned char m[1000];
  unsigned char sig[64], sig2[64];
  int i, nSame = 0, nGood = 0;
  tt_rng_seed(0x516e0001);
  for (i = 0; i < 1000; i++) {
    size_t n = rng_below(sizeof(m) + 1);
    thr_keypair *k = make_key();
    TT_CHECK(k != NULL);
    if (k == NULL) {
      return;
    }
    make_msg(m, n);
    thr_sign(sig, m, n, k);
    thr_sign(sig2, m, n, k);
    nSame += memcmp(sig, sig2, 64) == 0;
    nGood += verifies(sig, m, n, k);
    thr_keypair_free(k);
  }
  TT_CHECK(nSame == 1000);
  TT_CHECK(nGood == 1000);
}

/* A signature stops verifying when any bit of it, or a bit of the
** message, changes. */
static void test_tamper(void) {
  unsigned char m[64], sig[64];
  int i, b, nFlip = 0, nFlipOk = 0;
  thr_keypair *k;
  tt_rng_seed(0x516e0002);
  k = make_key();
  TT_CHECK(k != NULL);
  if (k == NULL) {
    return;
  }
  make_msg(m, sizeof(m));
  thr_sign(sig, m, sizeof(m), k);
  TT_CHECK(verifies(sig, m, sizeof(m), k));
  for (b = 0; b < 512; b++) {
    sig[b / 8] ^= (unsigned char)(1 << (b % 8));
    nFlipOk += verifies(sig, m, sizeof(m), k);
    sig[b / 8] ^= (unsigned char)(1 << (b % 8));
    nFlip++;
  }
  for (i = 0; i < 64; i++) {
    b = (int)rng_below(64 * 8);
    m[b / 8] ^= (unsigned char)(1 << (b % 8));
    nFlipOk += verifies(sig, m, sizeof(m), k);
    m[b / 8] ^= (unsigned char)(1 << (b % 8));
    nFlip++;
  }
  TT_CHECK(nFlip == 576 && nFlipOk == 0);
  TT_CHECK(verifies(sig, m, sizeof(m), k));
  thr_keypair_free(k);
}

/* Four threads sign the same messages with the same key at once: each
** gets the signatures one thread alone gets. */
#define N_THREAD 4
#define N_PER 500

typedef struct signer signer;
struct signer {
  const thr_keypair *k;
  unsigned char aSig[N_PER][64];
};

/* Message i: distinct for every i. */
static void signer_msg(unsigned char m[16], int i) {
  memset(m, 0, 16);
  memcpy(m, "sign", 4);
  m[4] = (unsigned char)(i >> 8);
  m[5] = (unsigned char)i;
}

static void *signer_main(void *pArg) {
  signer *p = pArg;
  unsigned char m[16];
  int i;
  for (i = 0; i < N_PER; i++) {
    signer_msg(m, i);
    thr_sign(p->aSig[i], m, sizeof(m), p->k);
  }
  return NULL;
}

static void test_threads(void) {
  static signer aSigner[N_THREAD];
  static signer alone;
  pthread_t aId[N_THREAD];
  unsigned char m[16];
  int t, i, nStarted = 0, nSame = 0, nGood = 0;
  thr_keypair *k;
  tt_rng_seed(0x516e0003);
  k = make_key();
  TT_CHECK(k != NULL);
  if (k == NULL) {
    return;
  }
  alone.k = k;
  signer_main(&alone);
  for (t = 0; t < N_THREAD; t++) {
    aSigner[t].k = k;
    if (pthread_create(&aId[t], NULL, signer_main, &aSigner[t]) != 0) {
      break;
    }
    nStarted++;
  }
  TT_CHECK(nStarted == N_THREAD);
  for (t = 0; t < nStarted; t++) {
    pthread_join(aId[t], NULL);
  }
  for (i = 0; i < N_PER; i++) {
    signer_msg(m, i);
    nGood += verifies(alone.aSig[i], m, sizeof(m), k);
    for (t = 0; t < nStarted; t++) {
      nSame += memcmp(aSigner[t].aSig[i], alone.aSig[i], 64) == 0;
    }
  }
  TT_CHECK(nGood == N_PER);
  TT_CHECK(nSame == N_THREAD * N_PER);
  thr_keypair_free(k);
}

int main(void) {
  sqlite3 *db = NULL;
  thr_store *pStore = NULL;
  char *zErr = NULL;
  if (sodium_init() < 0) {
    return 2;
  }
  if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
      thr_store_open(db, &pStore, &zErr) != SQLITE_OK) {
    printf("FAIL main: cannot open a store: %s\n", zErr ? zErr : "?");
    sqlite3_free(zErr);
    sqlite3_close(db);
    return 1;
  }
  TT_RUN(test_rfc8032_vectors);
  TT_RUN(test_same_twice);
  TT_RUN(test_tamper);
  TT_RUN(test_threads);
  thr_store_close(pStore);
  sqlite3_close(db);
  return tt_done();
}
