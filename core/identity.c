/*
** identity.c: the peer identity and the log keys derived from it.
**
** LOG KEY DERIVATION
**
**   seed = BLAKE2b-256(key = identity seed (32 bytes),
**                      message = "sqlite-threads/log/v1" || thread ID bytes)
**   (log pk, log sk) = crypto_sign_seed_keypair(seed)
**
** That is generation 0, the log a file writes first.  A file that finds
** itself copied (see "File identity" in store.c, and core/fork.c) writes
** its next records in a new generation n >= 1, whose seed is
**
**   seed = BLAKE2b-256(key = identity seed,
**                      message = "sqlite-threads/log/v2" || uint64 n (big
**                                endian) || salt (16 random bytes) ||
**                                thread ID bytes)
**
** The salt is drawn by the file that starts the generation and stored in
** it (it is no secret): two copies of one file that both start generation
** n get two different logs, where a counter alone would give them the
** same one again.
**
** The derivation is deterministic so that a restored identity finds and
** continues its own logs on a new device, and one-way so that a log key
** reveals nothing about the identity or about the writer's other logs.
*/
#include "thr_core.h"

#include <sodium.h>
#include <string.h>

static const char zLogContext[] = "sqlite-threads/log/v1";
static const char zGenContext[] = "sqlite-threads/log/v2";

thr_keypair *thr_keypair_from_seed(const unsigned char seed[32]) {
  thr_keypair *p = sodium_malloc(sizeof(*p));
  if (p == NULL) {
    return NULL;
  }
  crypto_sign_seed_keypair(p->pk, p->sk, seed);
  return p;
}

void thr_keypair_free(thr_keypair *p) {
  /* sodium_free() wipes the memory before releasing it. */
  if (p) {
    sodium_free(p);
  }
}

thr_keypair *thr_logkey_derive(const thr_keypair *pId, const thr_tid *pTid) {
  crypto_generichash_state st;
  unsigned char seed[32];
  thr_keypair *p;
  /* The first 32 bytes of a libsodium Ed25519 secret key are its seed. */
  crypto_generichash_init(&st, pId->sk, 32, sizeof(seed));
  crypto_generichash_update(&st, (const unsigned char *)zLogContext,
                            sizeof(zLogContext) - 1);
  crypto_generichash_update(&st, pTid->a, (size_t)pTid->n);
  crypto_generichash_final(&st, seed, sizeof(seed));
  p = thr_keypair_from_seed(seed);
  sodium_memzero(seed, sizeof(seed));
  sodium_memzero(&st, sizeof(st));
  return p;
}

thr_keypair *thr_logkey_derive_gen(const thr_keypair *pId, const thr_tid *pTid,
                                   sqlite3_int64 iGen,
                                   const unsigned char salt[THR_LOG_SALT]) {
  crypto_generichash_state st;
  unsigned char seed[32], aGen[8];
  thr_keypair *p;
  int i;
  if (iGen == 0) {
    return thr_logkey_derive(pId, pTid); /* the first log, as always */
  }
  for (i = 0; i < 8; i++) {
    aGen[i] = (unsigned char)((sqlite3_uint64)iGen >> (56 - 8 * i));
  }
  crypto_generichash_init(&st, pId->sk, 32, sizeof(seed));
  crypto_generichash_update(&st, (const unsigned char *)zGenContext,
                            sizeof(zGenContext) - 1);
  crypto_generichash_update(&st, aGen, sizeof(aGen));
  crypto_generichash_update(&st, salt, THR_LOG_SALT);
  crypto_generichash_update(&st, pTid->a, (size_t)pTid->n);
  crypto_generichash_final(&st, seed, sizeof(seed));
  p = thr_keypair_from_seed(seed);
  sodium_memzero(seed, sizeof(seed));
  sodium_memzero(&st, sizeof(st));
  return p;
}
