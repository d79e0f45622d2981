/*
** identity.c: the peer identity and the log keys derived from it.
**
** LOG KEY DERIVATION
**
**   seed = BLAKE2b-256(key = identity seed (32 bytes),
**                      message = "sqlite-threads/log/v1" || thread ID bytes)
**   (log pk, log sk) = crypto_sign_seed_keypair(seed)
**
** The derivation is deterministic so that a restored identity finds and
** continues its own logs on a new device, and one-way so that a log key
** reveals nothing about the identity or about the writer's other logs.
*/
#include "thr_core.h"

#include <sodium.h>
#include <string.h>

static const char zLogContext[] = "sqlite-threads/log/v1";

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
