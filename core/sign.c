/*
** sign.c: Ed25519 signatures, RFC 8032, through libsodium.
**
** THE RULE
**
** Every signature this extension makes is libsodium's
** crypto_sign_detached(): RFC 8032 Ed25519, whose nonce is
** r = SHA-512(second half of SHA-512(seed) || M) mod L.  Signing is
** therefore deterministic (the same key and message always give the same
** signature) and needs no random generator at all.
**
** WHY NO NONCE POOL OR OTHER SHORTCUT
**
** Two signatures by one key that share a nonce for different messages give
** the key away (S1 - S2 = (k1 - k2) * a).  A nonce drawn at random and
** kept in memory ahead of use can be used twice by anything that copies or
** replays the process: a resumed VM snapshot, a CRIU restore, a fork or a
** clone into a new PID namespace.  A log key that leaks lets anyone forge
** that log's records for every peer of the thread.  The RFC nonce depends
** only on the key and the message, so a replayed process signs the same
** message with the same nonce and a different one with a different nonce.
** Precomputing nonces on a spare core saved wall time but no CPU; it is not
** worth that risk.  Signing code is not written here: call libsodium.
*/
#include "thr_core.h"

#include <sodium.h>

void thr_sign(unsigned char sig[64], const unsigned char *m, size_t n,
              const thr_keypair *k) {
  /* crypto_sign_detached() cannot fail for an Ed25519 key pair made by
  ** crypto_sign_seed_keypair(); with a NULL length pointer it always
  ** writes 64 bytes. */
  crypto_sign_detached(sig, NULL, m, n, k->sk);
}
