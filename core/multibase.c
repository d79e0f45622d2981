#include "thr_core.h"

#include <assert.h>
#include <stdarg.h>
#include <string.h>

/*
** multibase.c: multibase text (one prefix character naming the base, then
** the data) and raw base58btc.
**
** Every base is described by one row of aMbBase[] and handled by one of
** two generic codecs:
**
**   Bit-packing bases (base2, base8, base16, base32 in all its alphabets,
**   base64 and base64url): every character carries nBits bits, MSB first,
**   as in RFC 4648.  The last character may carry up to nBits-1 bits that
**   are not part of any byte; they must be zero.
**
**   Big-number bases (base10, base36, base58): the data, less its leading
**   zero bytes, is one big-endian number written in the radix; each
**   leading zero byte becomes one copy of the alphabet's zero digit.
**
** Decoding is strict, so that each byte string has exactly one text form
** per prefix: a character outside the prefix's alphabet (including the
** other letter case), '=' in an unpadded base, missing or surplus padding,
** a length that no byte string encodes to, and non-zero unused trailing
** bits are all errors.  Because of this, decoding and then re-encoding
** with the same prefix always gives back the original text.
**
** The header promises encoding for 'b' and 'z' only; since both codecs are
** generic, thr_mb_encode() in fact accepts every prefix the decoder does.
*/

/* Longest text (including the prefix) that the decoders accept.  Big-number
** decoding is quadratic, so the cap also bounds the time one call takes. */
#define MB_TEXT_MAX ((size_t)1 << 20)

/* Big-number bases (base10, base36, base58) carry only identifiers here
** (peer IDs are 52 characters), and their codecs are quadratic: at 1 MiB a
** base58 decode takes about 20 s.  So they get a much smaller cap, in text
** characters for decoding and in bytes for encoding. */
#define MB_BIGNUM_TEXT_MAX ((size_t)8192)
#define MB_BIGNUM_BYTES_MAX ((size_t)4096)

/* Largest input the encoders accept.  SQLite values are smaller than this,
** and it keeps every size computation far from overflow. */
#define MB_BYTES_MAX ((size_t)1 << 30)

/* Alphabets shared by more than one prefix. */
#define MB_B32_LOWER "abcdefghijklmnopqrstuvwxyz234567"
#define MB_B32_UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
#define MB_B32HEX_LOWER "0123456789abcdefghijklmnopqrstuv"
#define MB_B32HEX_UPPER "0123456789ABCDEFGHIJKLMNOPQRSTUV"
#define MB_B64_HEAD                                                            \
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/* One supported base. */
typedef struct MbBase MbBase;
struct MbBase {
  char cPrefix;        /* Multibase prefix character */
  unsigned char nBits; /* Bits per character; 0 for a big-number base */
  unsigned char bPad;  /* True if text is padded with '=' to whole groups */
  const char *zName;   /* Base name used in error messages */
  const char *zAlpha;  /* Digits in order of value; zAlpha[0] is zero */
};

static const MbBase aMbBase[] = {
    {'0', 1, 0, "base2", "01"},
    {'7', 3, 0, "base8", "01234567"},
    {'9', 0, 0, "base10", "0123456789"},
    {'f', 4, 0, "base16", "0123456789abcdef"},
    {'F', 4, 0, "base16", "0123456789ABCDEF"},
    {'b', 5, 0, "base32", MB_B32_LOWER},
    {'B', 5, 0, "base32", MB_B32_UPPER},
    {'c', 5, 1, "base32", MB_B32_LOWER},
    {'C', 5, 1, "base32", MB_B32_UPPER},
    {'v', 5, 0, "base32", MB_B32HEX_LOWER},
    {'V', 5, 0, "base32", MB_B32HEX_UPPER},
    {'t', 5, 1, "base32", MB_B32HEX_LOWER},
    {'T', 5, 1, "base32", MB_B32HEX_UPPER},
    {'h', 5, 0, "base32", "ybndrfg8ejkmcpqxot1uwisza345h769"},
    {'k', 0, 0, "base36", "0123456789abcdefghijklmnopqrstuvwxyz"},
    {'K', 0, 0, "base36", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
    {'z', 0, 0, "base58",
     "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"},
    {'Z', 0, 0, "base58",
     "123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"},
    {'m', 6, 0, "base64", MB_B64_HEAD "+/"},
    {'M', 6, 1, "base64", MB_B64_HEAD "+/"},
    {'u', 6, 0, "base64", MB_B64_HEAD "-_"},
    {'U', 6, 1, "base64", MB_B64_HEAD "-_"},
};

/* The row of aMbBase[] for prefix c, or NULL if c names no supported base. */
static const MbBase *mb_find(int c) {
  size_t i;
  for (i = 0; i < sizeof(aMbBase) / sizeof(aMbBase[0]); i++) {
    if (aMbBase[i].cPrefix == c) {
      return &aMbBase[i];
    }
  }
  return 0;
}

/* Store a message built from zFmt in *pzErr (if pzErr is not NULL) and
** return SQLITE_ERROR, or SQLITE_NOMEM if the message cannot be built. */
static int mb_error(char **pzErr, const char *zFmt, ...) {
  va_list ap;
  char *zMsg;
  va_start(ap, zFmt);
  zMsg = sqlite3_vmprintf(zFmt, ap);
  va_end(ap);
  if (zMsg == 0) {
    return SQLITE_NOMEM;
  }
  if (pzErr) {
    *pzErr = zMsg;
  } else {
    sqlite3_free(zMsg);
  }
  return SQLITE_ERROR;
}

/* Report character c as a bad digit of a big-number base, quoting it as
** Go's %q would: itself if printable ASCII, else as a \xNN escape. */
static int mb_bad_digit(char **pzErr, const char *zName, char c) {
  unsigned int u = (unsigned char)c;
  if (u >= 0x20 && u < 0x7f) {
    return mb_error(pzErr, "invalid %s digit ('%c')", zName, (int)u);
  }
  return mb_error(pzErr, "invalid %s digit ('\\x%02x')", zName, u);
}

/* Report a bit-packed text that cannot be decoded at data offset i. */
static int mb_bad_bits(char **pzErr, const MbBase *p, size_t i) {
  return mb_error(pzErr, "illegal %s data at input byte %lld", p->zName,
                  (sqlite3_int64)i);
}

/* Fill aMap[] so that aMap[c] is the value of character c in zAlpha, or
** 0xff if c is not a digit of that alphabet.  Building the table on the
** stack per call keeps the module free of shared mutable state. */
static void mb_map(const char *zAlpha, unsigned char aMap[256]) {
  int i;
  memset(aMap, 0xff, 256);
  for (i = 0; zAlpha[i]; i++) {
    aMap[(unsigned char)zAlpha[i]] = (unsigned char)i;
  }
}

/* The number of characters in one padding group of a base with nBits bits
** per character: the fewest characters that hold a whole number of bytes
** (8 for base32, 4 for base64). */
static size_t mb_group(int nBits) {
  size_t g = 1;
  while ((g * (size_t)nBits) % 8 != 0) {
    g++;
  }
  return g;
}

/* For radix r, set *pnDigit to the largest K with r^K below 2^32 and *pPow
** to r^K.  The big-number codecs work on limbs that hold K digits at a
** time, which divides the quadratic work by roughly K. */
static void mb_power(uint64_t r, uint64_t *pPow, int *pnDigit) {
  uint64_t pw = 1;
  int k = 0;
  while (pw * r <= 0xffffffffu) {
    pw *= r;
    k++;
  }
  *pPow = pw;
  *pnDigit = k;
}

/* Encode (a, n) in bit-packing base p as a NUL-terminated string that
** starts with the prefix.  NULL on OOM. */
static char *mb_encode_bits(const MbBase *p, const unsigned char *a, size_t n) {
  int k = p->nBits;
  unsigned int mask = (1u << k) - 1;
  uint64_t nChar = ((uint64_t)n * 8 + (uint64_t)k - 1) / (uint64_t)k;
  uint32_t acc = 0; /* Bits not yet written, in the low nAcc bits */
  int nAcc = 0;
  size_t i, j = 0;
  char *zOut;

  if (p->bPad) {
    uint64_t g = mb_group(k);
    nChar = (nChar + g - 1) / g * g;
  }
  zOut = sqlite3_malloc64(nChar + 2);
  if (zOut == 0) {
    return 0;
  }
  zOut[j++] = p->cPrefix;
  for (i = 0; i < n; i++) {
    acc = (acc << 8) | a[i];
    nAcc += 8;
    while (nAcc >= k) {
      nAcc -= k;
      zOut[j++] = p->zAlpha[(acc >> nAcc) & mask];
    }
    acc &= (1u << nAcc) - 1;
  }
  if (nAcc > 0) {
    /* The last character is filled up with zero bits on the right. */
    zOut[j++] = p->zAlpha[(acc << (k - nAcc)) & mask];
  }
  while (j < nChar + 1) {
    zOut[j++] = '=';
  }
  zOut[j] = 0;
  return zOut;
}

/* Decode the data part (z, n) of bit-packing base p.  See the file comment
** for what is rejected; the error names the data offset at which decoding
** became impossible. */
static int mb_decode_bits(const MbBase *p, const char *z, size_t n,
                          unsigned char **paOut, size_t *pnOut, char **pzErr) {
  unsigned char aMap[256];
  int k = p->nBits;
  size_t nData = n; /* Characters before any padding */
  size_t i, j = 0;
  uint32_t acc = 0; /* Bits not yet written, in the low nAcc bits */
  int nAcc = 0;
  unsigned char *aOut;
  int rc;

  mb_map(p->zAlpha, aMap);
  if (p->bPad) {
    /* The data ends at the first '='; everything after it is checked as
    ** padding below.  Unpadded bases have no '=' in their alphabet, so
    ** there it fails as a bad character. */
    nData = 0;
    while (nData < n && z[nData] != '=') {
      nData++;
    }
  }
  aOut = sqlite3_malloc64((uint64_t)nData * (uint64_t)k / 8 + 1);
  if (aOut == 0) {
    return SQLITE_NOMEM;
  }
  for (i = 0; i < nData; i++) {
    unsigned int v = aMap[(unsigned char)z[i]];
    if (v == 0xff) {
      rc = mb_bad_bits(pzErr, p, i);
      goto decode_failed;
    }
    acc = (acc << k) | v;
    nAcc += k;
    /* With at most 6 bits per character, one character completes at most
    ** one byte. */
    if (nAcc >= 8) {
      nAcc -= 8;
      aOut[j++] = (unsigned char)(acc >> nAcc);
      acc &= (1u << nAcc) - 1;
    }
  }

  /* nAcc is now the number of left-over bits.  A whole character's worth
  ** or more means the last character holds no part of any byte, which no
  ** encoder produces (base32 lengths 1, 3 and 6 mod 8, base64 1 mod 4). */
  if (nAcc >= k) {
    rc = mb_bad_bits(pzErr, p, nData);
    goto decode_failed;
  }
  if (acc != 0) {
    rc = mb_bad_bits(pzErr, p, nData - 1);
    goto decode_failed;
  }

  if (p->bPad) {
    size_t g = mb_group(k);
    size_t nWant = (nData + g - 1) / g * g;
    for (i = nData; i < n; i++) {
      if (z[i] != '=') {
        rc = mb_bad_bits(pzErr, p, i);
        goto decode_failed;
      }
    }
    if (n < nWant) {
      rc = mb_bad_bits(pzErr, p, n);
      goto decode_failed;
    }
    if (n > nWant) {
      rc = mb_bad_bits(pzErr, p, nWant);
      goto decode_failed;
    }
  }

  *paOut = aOut;
  *pnOut = j;
  return SQLITE_OK;

decode_failed:
  sqlite3_free(aOut);
  return rc;
}

/* Encode (a, n) in the big-number base whose digits are zAlpha, after the
** prefix character cPrefix unless it is 0.  NULL on OOM. */
static char *mb_encode_bignum(const char *zAlpha, char cPrefix,
                              const unsigned char *a, size_t n) {
  if (n > MB_BIGNUM_BYTES_MAX) {
    return 0;
  }
  uint64_t r = strlen(zAlpha);
  uint64_t pw; /* r^nDigit: the base of a limb */
  int nDigit;  /* Digits per limb */
  size_t nZero = 0;
  size_t nLimb = 0, nLimbMax;
  uint32_t *aLimb; /* The number, least significant limb first */
  char *zOut;
  size_t i, j = 0, l;

  mb_power(r, &pw, &nDigit);
  while (nZero < n && a[nZero] == 0) {
    nZero++;
  }
  /* A limb is at least 2^32 / r > 2^24 for r <= 64, so it holds more than
  ** three bytes' worth of the number. */
  assert(r >= 2 && r <= 64);
  nLimbMax = (n - nZero) / 3 + 2;
  aLimb = sqlite3_malloc64((uint64_t)nLimbMax * sizeof(uint32_t));
  if (aLimb == 0) {
    return 0;
  }
  i = nZero;
  while (i < n) {
    uint64_t carry = 0, mul = 1;
    int g;
    /* Take up to three bytes at once and multiply the whole number by
    ** 256^g before adding them: a third of the passes, each division
    ** being the costly part.  limb * mul < 2^32 * 2^24 stays far below
    ** 2^64, and carry stays below 2^25. */
    for (g = 0; g < 3 && i < n; g++, i++) {
      carry = (carry << 8) | a[i];
      mul <<= 8;
    }
    for (l = 0; l < nLimb; l++) {
      uint64_t t = (uint64_t)aLimb[l] * mul + carry;
      aLimb[l] = (uint32_t)(t % pw);
      carry = t / pw;
    }
    while (carry != 0) {
      assert(nLimb < nLimbMax);
      /* pw is a power of the radix, never 0 (cppcheck cannot see it). */
      // cppcheck-suppress zerodivcond
      aLimb[nLimb++] = (uint32_t)(carry % pw);
      carry /= pw;
    }
  }

  zOut = sqlite3_malloc64(2 + (uint64_t)nZero +
                          (uint64_t)nLimb * (uint64_t)nDigit);
  if (zOut == 0) {
    sqlite3_free(aLimb);
    return 0;
  }
  if (cPrefix) {
    zOut[j++] = cPrefix;
  }
  memset(&zOut[j], zAlpha[0], nZero);
  j += nZero;
  for (l = nLimb; l > 0; l--) {
    char aDigit[32];
    uint64_t v = aLimb[l - 1];
    int d;
    /* The top limb is written without its leading zero digits; every
    ** lower limb is written in full. */
    for (d = nDigit - 1; d >= 0; d--) {
      aDigit[d] = zAlpha[v % r];
      v /= r;
    }
    d = 0;
    if (l == nLimb) {
      while (d < nDigit - 1 && aDigit[d] == zAlpha[0]) {
        d++;
      }
    }
    memcpy(&zOut[j], &aDigit[d], (size_t)(nDigit - d));
    j += (size_t)(nDigit - d);
  }
  zOut[j] = 0;
  sqlite3_free(aLimb);
  return zOut;
}

/* Decode the data (z, n) of a big-number base.  Leading zero digits are
** zero bytes; the rest is the number in big-endian bytes. */
static int mb_decode_bignum(const MbBase *p, const char *z, size_t n,
                            unsigned char **paOut, size_t *pnOut,
                            char **pzErr) {
  if (n > MB_BIGNUM_TEXT_MAX) {
    return mb_error(pzErr, "%s string too long (at most %d characters)",
                    p->zName, (int)MB_BIGNUM_TEXT_MAX);
  }
  unsigned char aMap[256];
  uint64_t r = strlen(p->zAlpha);
  uint64_t pw;
  int nDigit;
  size_t nZero = 0;
  size_t nLimb = 0, nLimbMax;
  uint32_t *aLimb; /* The number in base 2^32, least significant first */
  unsigned char *aOut;
  size_t i, j, l;
  int bLead;

  mb_map(p->zAlpha, aMap);
  for (i = 0; i < n; i++) {
    if (aMap[(unsigned char)z[i]] == 0xff) {
      return mb_bad_digit(pzErr, p->zName, z[i]);
    }
  }
  while (nZero < n && z[nZero] == p->zAlpha[0]) {
    nZero++;
  }
  mb_power(r, &pw, &nDigit);

  /* A digit holds at most 6 bits (r <= 64), so m digits need at most
  ** ceil(6m/32) <= m/5 + 1 limbs. */
  assert(r >= 2 && r <= 64);
  nLimbMax = (n - nZero) / 5 + 2;
  aLimb = sqlite3_malloc64((uint64_t)nLimbMax * sizeof(uint32_t));
  if (aLimb == 0) {
    return SQLITE_NOMEM;
  }
  i = nZero;
  while (i < n) {
    uint64_t val = 0, mul = 1, carry;
    int d;
    /* Fold up to nDigit digits into one word, then multiply the whole
    ** number by r^d and add it.  Every product is below 2^64 because
    ** limb, mul and carry are all below 2^32. */
    for (d = 0; d < nDigit && i < n; d++, i++) {
      val = val * r + aMap[(unsigned char)z[i]];
      mul *= r;
    }
    carry = val;
    for (l = 0; l < nLimb; l++) {
      uint64_t t = (uint64_t)aLimb[l] * mul + carry;
      aLimb[l] = (uint32_t)t;
      carry = t >> 32;
    }
    if (carry != 0) {
      assert(nLimb < nLimbMax);
      aLimb[nLimb++] = (uint32_t)carry;
    }
  }

  aOut = sqlite3_malloc64(1 + (uint64_t)nZero + (uint64_t)nLimb * 4);
  if (aOut == 0) {
    sqlite3_free(aLimb);
    return SQLITE_NOMEM;
  }
  memset(aOut, 0, nZero);
  j = nZero;
  bLead = 1;
  for (l = nLimb; l > 0; l--) {
    int s;
    for (s = 24; s >= 0; s -= 8) {
      unsigned char c = (unsigned char)(aLimb[l - 1] >> s);
      /* Zero bytes above the number's top byte are not data: the only
      ** leading zero bytes are the ones spelled by zero digits. */
      if (bLead && c == 0) {
        continue;
      }
      bLead = 0;
      aOut[j++] = c;
    }
  }
  sqlite3_free(aLimb);
  *paOut = aOut;
  *pnOut = j;
  return SQLITE_OK;
}

/* Decode data (z, n) that follows the prefix of base p. */
static int mb_decode_data(const MbBase *p, const char *z, size_t n,
                          unsigned char **paOut, size_t *pnOut, char **pzErr) {
  if (p->nBits) {
    return mb_decode_bits(p, z, n, paOut, pnOut, pzErr);
  }
  return mb_decode_bignum(p, z, n, paOut, pnOut, pzErr);
}

/* Encode (a, n) as multibase text with prefix base (any prefix in
** aMbBase[]).  NULL on OOM, for an unknown prefix, or for more than
** MB_BYTES_MAX bytes. */
char *thr_mb_encode(int base, const unsigned char *a, size_t n) {
  const MbBase *p = mb_find(base);
  if (p == 0 || n > MB_BYTES_MAX) {
    return 0;
  }
  if (p->nBits) {
    return mb_encode_bits(p, a, n);
  }
  return mb_encode_bignum(p->zAlpha, p->cPrefix, a, n);
}

/* Decode multibase text (z, nz); see thr_core.h.  On error *paOut is NULL
** and *pnOut is 0.  A successful result is never a NULL buffer, even for
** zero bytes, so that callers can tell it from OOM. */
int thr_mb_decode(const char *z, size_t nz, unsigned char **paOut,
                  size_t *pnOut, char **pzErr) {
  const MbBase *p;
  *paOut = 0;
  *pnOut = 0;
  if (nz == 0) {
    return mb_error(pzErr, "cannot decode multibase for zero length string");
  }
  if (nz > MB_TEXT_MAX) {
    return mb_error(pzErr, "multibase string too long");
  }
  p = mb_find((unsigned char)z[0]);
  if (p == 0) {
    return mb_error(pzErr, "selected encoding not supported");
  }
  return mb_decode_data(p, &z[1], nz - 1, paOut, pnOut, pzErr);
}

/* Raw base58btc of (a, n), without a prefix.  Zero bytes give "". */
char *thr_base58_encode(const unsigned char *a, size_t n) {
  const MbBase *p = mb_find(THR_MB_BASE58BTC);
  if (n > MB_BYTES_MAX) {
    return 0;
  }
  return mb_encode_bignum(p->zAlpha, 0, a, n);
}

/* Decode raw base58btc (z, nz).  As in Go's mr-tron/base58, which libp2p
** uses for peer IDs, an empty string is an error ("zero length string"). */
int thr_base58_decode(const char *z, size_t nz, unsigned char **paOut,
                      size_t *pnOut, char **pzErr) {
  *paOut = 0;
  *pnOut = 0;
  if (nz == 0) {
    return mb_error(pzErr, "zero length string");
  }
  if (nz > MB_TEXT_MAX) {
    return mb_error(pzErr, "base58 string too long");
  }
  return mb_decode_bignum(mb_find(THR_MB_BASE58BTC), z, nz, paOut, pnOut,
                          pzErr);
}

int thr_hexval(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}
