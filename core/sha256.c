/*
** sha256.c: SHA-256 (FIPS 180-4) for content identifiers, from OpenSSL.
**
** THE RULE
**
** Every block's CID is the SHA-256 of its bytes.  The hash comes from a
** well-kept library, never from code in this tree: OpenSSL's libcrypto,
** through its documented EVP_Digest() call, which uses the CPU's SHA or
** vector instructions where it has them.  If anything about OpenSSL fails
** (it cannot allocate, or the SHA256 implementation cannot be fetched),
** the same digest comes from libsodium's crypto_hash_sha256(), which
** needs no set-up and allocates nothing: callers have no way to handle a
** failed hash.
**
** WHY OPENSSL, AND WHY THROUGH ONE FETCHED EVP_MD
**
** test/bench/bench_hash.c measures the candidates side by side in every
** `make bench`.  On large buffers both OpenSSL calls run at 4-5x
** libsodium.  On record-sized blocks (80-300 bytes) the cost of a call is
** mostly set-up: the one-shot SHA256() looks the implementation up again
** on every call, under a lock and reference counts shared by all threads,
** so it runs at about 2x libsodium on one thread and gains little from a
** second (the node checks records on libuv's thread pool).  EVP_Digest()
** with an EVP_MD fetched once skips that lookup: about 3.5x libsodium on
** one thread and 3x on two.
**
** LIFETIME OF THE FETCHED EVP_MD
**
** It is fetched on first use (pthread_once) and freed by a handler that
** sha256_once() registers with __cxa_atexit() for this object's
** __dso_handle: the registration a C++ compiler emits for the destructor
** of a static object.  Such a handler runs when this object is unloaded
** (SQLite's dlclose of the extension), so nothing is left behind for a
** leak checker, or at process exit, whichever comes first; at exit it
** runs before OpenSSL's own clean-up, because OPENSSL_init_crypto()
** registered that one first.  (glibc's atexit() called from a shared
** object does the same, but ThreadSanitizer's atexit() interceptor
** registers for exit only, and the handler then runs after the extension
** is gone.)  A thread that hashes while the process exits may find the
** pointer gone and use libsodium; it is the same race any thread using
** OpenSSL runs against OpenSSL's exit handler.
*/
#include "thr_core.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>

/* The C++ ABI's registration of exit handlers (glibc, libc++abi); they
** have no C header. */
extern void *__dso_handle;
int __cxa_atexit(void (*xFunc)(void *), void *pArg, void *pDso);

static pthread_once_t sha256Once = PTHREAD_ONCE_INIT;
/* OpenSSL's SHA256, fetched once; NULL before, after the exit handler,
** or if it could not be fetched. */
static _Atomic(EVP_MD *) sha256Md = NULL;

/* The exit or unload handler: free the fetched EVP_MD. */
static void sha256_drop(void *pArg) {
  (void)pArg;
  EVP_MD_free(atomic_exchange(&sha256Md, NULL));
}

static void sha256_once(void) {
  EVP_MD *pMd;
  /* Makes sure OpenSSL's exit handler is registered before ours, so that
  ** ours runs first. */
  if (OPENSSL_init_crypto(0, NULL) != 1) {
    return;
  }
  pMd = EVP_MD_fetch(NULL, "SHA256", NULL);
  if (pMd == NULL) {
    return;
  }
  if (__cxa_atexit(sha256_drop, NULL, &__dso_handle) != 0) {
    EVP_MD_free(pMd);
    return;
  }
  atomic_store(&sha256Md, pMd);
}

void thr_sha256(unsigned char out[32], const unsigned char *a, size_t n) {
  /* Neither library promises to take NULL for the empty message. */
  static const unsigned char aEmpty[1] = {0};
  const unsigned char *p = a ? a : aEmpty;
  EVP_MD *pMd;
  pthread_once(&sha256Once, sha256_once);
  pMd = atomic_load(&sha256Md);
  if (pMd == NULL || EVP_Digest(p, n, out, NULL, pMd, NULL) != 1) {
    crypto_hash_sha256(out, p, n);
  }
}
