/*
** sha256.c: SHA-256 (FIPS 180-4) for content identifiers.
**
** Every block's CID is the SHA-256 of its bytes, so a large transaction
** spends a noticeable share of its time here.  On x86 CPUs with the SHA
** extensions (SHA-NI) the compression function runs on SHA256RNDS2,
** SHA256MSG1 and SHA256MSG2; everywhere else, and on x86 CPUs without
** them, thr_sha256() is libsodium's portable crypto_hash_sha256().  Both
** paths give the same digest; test/unit/test_sha256.c checks both.
**
** MESSAGE PADDING (FIPS 180-4, 5.1.1), as the SHA-NI path does it
**
**   message     n bytes; every full 64-byte block is hashed in place
**   0x80        one bit set, then zero bits,
**   0x00 ...    up to 8 bytes short of a 64-byte boundary,
**   length      the message length in bits, 64-bit big-endian.
**
** The tail (n % 64 bytes) plus the padding is one block if the tail is at
** most 55 bytes, else two; it is assembled in a 128-byte local buffer.
**
** The choice of path is made once per process, from CPUID, and kept in a
** C11 atomic: two threads that race to make it store the same value.
** CPUID is read directly rather than through __builtin_cpu_supports("sha")
** because clang 14, which builds the fuzz targets, does not know that
** feature name.  The SHA-NI code is compiled with a function-level target
** attribute so that the rest of the build keeps the default flags.
*/
#include "thr_core.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define SHA256_HAVE_NI_CODE 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/* Non-zero: thr_sha256() takes the portable path even on a CPU with the
** SHA extensions.  Set only by thr_sha256_force_portable(), for tests and
** benchmarks. */
static atomic_int sha256ForcePortable = 0;

#ifdef SHA256_HAVE_NI_CODE

/* What the CPU offers: 0 not yet known, 1 SHA-NI usable, 2 not usable. */
static atomic_int sha256CpuNi = 0;

/* The round constants K0..K63 of FIPS 180-4, 4.2.2: the first 32 bits of
** the fractional parts of the cube roots of the first 64 primes. */
static const uint32_t aSha256K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

/* The initial hash value H(0) of FIPS 180-4, 5.3.3. */
static const uint32_t aSha256H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
                                      0xa54ff53a, 0x510e527f, 0x9b05688c,
                                      0x1f83d9ab, 0x5be0cd19};

/* Return 1 if the CPU has the SHA extensions and the SSSE3 and SSE4.1
** shuffles the SHA-NI code also uses.  (Every CPU with SHA has both, but
** asking costs nothing.)  SSE state is always enabled by an x86-64 OS, so
** no XGETBV check is needed for XMM registers. */
static int sha256_cpu_has_ni(void) {
  unsigned int eax, ebx, ecx, edx;
  int bSse = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
    bSse = (ecx & bit_SSSE3) != 0 && (ecx & bit_SSE4_1) != 0;
  }
  if (!bSse || !__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
    return 0;
  }
  return (ebx & bit_SHA) != 0;
}

/* Return non-zero if thr_sha256() should take the SHA-NI path now. */
static int sha256_use_ni(void) {
  int v = atomic_load_explicit(&sha256CpuNi, memory_order_relaxed);
  if (v == 0) {
    v = sha256_cpu_has_ni() ? 1 : 2;
    atomic_store_explicit(&sha256CpuNi, v, memory_order_relaxed);
  }
  return v == 1 &&
         !atomic_load_explicit(&sha256ForcePortable, memory_order_relaxed);
}

#define SHA256_TARGET __attribute__((target("sha,sse4.1,ssse3")))

/* Four rounds: wk holds W[t..t+3] + K[t..t+3] in lanes 0..3.  On entry
** *pAbef holds (A, B, E, F) and *pCdgh (C, D, G, H), A in the top lane;
** on return the same for the state four rounds later.  SHA256RNDS2 takes
** the C, D, G, H and A, B, E, F words and returns A, B, E, F two rounds
** on; the old A, B, E, F are then the new C, D, G, H, which is why the
** two calls swap the roles of the registers. */
static inline SHA256_TARGET void sha256_quad(__m128i *pAbef, __m128i *pCdgh,
                                             __m128i wk) {
  *pCdgh = _mm_sha256rnds2_epu32(*pCdgh, *pAbef, wk);
  /* Lanes 2 and 3 (the W+K of rounds t+2, t+3) down to lanes 0 and 1. */
  wk = _mm_shuffle_epi32(wk, 0x0e);
  *pAbef = _mm_sha256rnds2_epu32(*pAbef, *pCdgh, wk);
}

/* The next four schedule words: given w0 = W[t-16..t-13], w1 =
** W[t-12..t-9], w2 = W[t-8..t-5] and w3 = W[t-4..t-1], return W[t..t+3],
** where W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16].  SHA256MSG1
** adds the s0 terms to w0, the alignr supplies W[t-7..t-4], and
** SHA256MSG2 adds the s1 terms, which for W[t+2] and W[t+3] depend on the
** words it has just made. */
static inline SHA256_TARGET __m128i sha256_sched(__m128i w0, __m128i w1,
                                                 __m128i w2, __m128i w3) {
  __m128i x = _mm_sha256msg1_epu32(w0, w1);
  x = _mm_add_epi32(x, _mm_alignr_epi8(w3, w2, 4));
  return _mm_sha256msg2_epu32(x, w3);
}

/* W[t..t+3] + K[t..t+3]. */
static inline SHA256_TARGET __m128i sha256_wk(__m128i w, int t) {
  return _mm_add_epi32(w, _mm_loadu_si128((const __m128i *)(aSha256K + t)));
}

/* Hash nBlock 64-byte blocks at a into the state h[8] (H0..H7 of FIPS
** 180-4).  a need not be aligned. */
static SHA256_TARGET void
sha256_ni_blocks(uint32_t h[8], const unsigned char *a, size_t nBlock) {
  /* Reverses the bytes of each 32-bit lane: the message words are
  ** big-endian. */
  const __m128i bswap =
      _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
  __m128i abef, cdgh, t0, t1;

  /* h[0..3] loads as lanes (A, B, C, D) and h[4..7] as (E, F, G, H), lane
  ** 0 first.  Swapping the words within each half gives (B, A, D, C) and
  ** (F, E, H, G); their low halves make (F, E, B, A), which is A, B, E, F
  ** from the top lane down, and their high halves (H, G, D, C). */
  t0 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)h), 0xb1);
  t1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(h + 4)), 0xb1);
  abef = _mm_unpacklo_epi64(t1, t0);
  cdgh = _mm_unpackhi_epi64(t1, t0);

  for (; nBlock > 0; nBlock--, a += 64) {
    __m128i abefSave = abef, cdghSave = cdgh;
    __m128i w0, w1, w2, w3;
    int t;

    w0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)a), bswap);
    w1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(a + 16)), bswap);
    w2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(a + 32)), bswap);
    w3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(a + 48)), bswap);
    sha256_quad(&abef, &cdgh, sha256_wk(w0, 0));
    sha256_quad(&abef, &cdgh, sha256_wk(w1, 4));
    sha256_quad(&abef, &cdgh, sha256_wk(w2, 8));
    sha256_quad(&abef, &cdgh, sha256_wk(w3, 12));

    /* Rounds 16..63, sixteen at a time; each w register is replaced by
    ** the schedule words sixteen positions on. */
    for (t = 16; t < 64; t += 16) {
      w0 = sha256_sched(w0, w1, w2, w3);
      sha256_quad(&abef, &cdgh, sha256_wk(w0, t));
      w1 = sha256_sched(w1, w2, w3, w0);
      sha256_quad(&abef, &cdgh, sha256_wk(w1, t + 4));
      w2 = sha256_sched(w2, w3, w0, w1);
      sha256_quad(&abef, &cdgh, sha256_wk(w2, t + 8));
      w3 = sha256_sched(w3, w0, w1, w2);
      sha256_quad(&abef, &cdgh, sha256_wk(w3, t + 12));
    }

    abef = _mm_add_epi32(abef, abefSave);
    cdgh = _mm_add_epi32(cdgh, cdghSave);
  }

  /* Back to (A, B, C, D) and (E, F, G, H): the reverse of the above. */
  t0 = _mm_unpackhi_epi64(abef, cdgh); /* (B, A, D, C) */
  t1 = _mm_unpacklo_epi64(abef, cdgh); /* (F, E, H, G) */
  _mm_storeu_si128((__m128i *)h, _mm_shuffle_epi32(t0, 0xb1));
  _mm_storeu_si128((__m128i *)(h + 4), _mm_shuffle_epi32(t1, 0xb1));
}

/* SHA-256 of (a, n) on the SHA-NI path, padding as described at the top
** of this file. */
static void sha256_ni(unsigned char out[32], const unsigned char *a, size_t n) {
  uint32_t h[8];
  unsigned char aTail[128];
  size_t nFull = n & ~(size_t)63; /* bytes in whole blocks */
  size_t nTail = n - nFull;       /* 0..63 */
  size_t nPad = nTail < 56 ? 64 : 128;
  uint64_t nBit = (uint64_t)n << 3;
  int i;

  memcpy(h, aSha256H0, sizeof(h));
  if (nFull > 0) {
    sha256_ni_blocks(h, a, nFull / 64);
  }

  if (nTail > 0) {
    memcpy(aTail, a + nFull, nTail);
  }
  aTail[nTail] = 0x80;
  memset(aTail + nTail + 1, 0, nPad - 8 - (nTail + 1));
  for (i = 0; i < 8; i++) {
    aTail[nPad - 1 - i] = (unsigned char)(nBit >> (8 * i));
  }
  sha256_ni_blocks(h, aTail, nPad / 64);

  for (i = 0; i < 8; i++) {
    out[4 * i] = (unsigned char)(h[i] >> 24);
    out[4 * i + 1] = (unsigned char)(h[i] >> 16);
    out[4 * i + 2] = (unsigned char)(h[i] >> 8);
    out[4 * i + 3] = (unsigned char)h[i];
  }
  /* As libsodium does: no copy of the input or the state outlives the
  ** call, in case a caller hashes something secret. */
  sodium_memzero(aTail, sizeof(aTail));
  sodium_memzero(h, sizeof(h));
}

#endif /* SHA256_HAVE_NI_CODE */

void thr_sha256(unsigned char out[32], const unsigned char *a, size_t n) {
#ifdef SHA256_HAVE_NI_CODE
  if (sha256_use_ni()) {
    sha256_ni(out, a, n);
    return;
  }
#endif
  crypto_hash_sha256(out, a, n);
}

void thr_sha256_force_portable(int bOn) {
  atomic_store_explicit(&sha256ForcePortable, bOn != 0, memory_order_relaxed);
}

const char *thr_sha256_path(void) {
#ifdef SHA256_HAVE_NI_CODE
  if (sha256_use_ni()) {
    return "sha-ni";
  }
#endif
  return "portable";
}
