/*
** sha256.c: SHA-256 (FIPS 180-4) for content identifiers, from OpenSSL.
**
** THE RULE
**
** Every block's CID is the SHA-256 of its bytes.  The hash comes from a
** well-kept library, never from code in this tree: OpenSSL's libcrypto,
** through its documented one-shot SHA256() call, which picks the CPU's SHA
** or vector instructions where it has them.  test/bench/bench_hash.c
** measures it beside libsodium's crypto_hash_sha256() in every `make
** bench`; OpenSSL was the faster on the machines we measured (about 4x on
** large buffers and 2x on record-sized blocks), which is why it is used.
**
** SHA256() is thread-safe when it is given the output buffer, and holds no
** state between calls, so nothing here needs set-up or teardown (a fetched
** EVP_MD kept across calls would be slightly faster on small blocks, but it
** would outlive the extension when SQLite unloads it).  It can fail only
** if OpenSSL cannot allocate; then the same digest comes from libsodium,
** which allocates nothing, because callers have no way to handle a failed
** hash.
*/
#include "thr_core.h"

#include <openssl/sha.h>
#include <sodium.h>

void thr_sha256(unsigned char out[32], const unsigned char *a, size_t n) {
  /* Neither library promises to take NULL for the empty message. */
  static const unsigned char aEmpty[1] = {0};
  const unsigned char *p = a ? a : aEmpty;
  if (SHA256(p, n, out) == NULL) {
    crypto_hash_sha256(out, p, n);
  }
}
