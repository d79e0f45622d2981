/*
** schema_value.c: JSON values as JSON Schema draft-07 sees them.
**
**   - types: a real with no fractional part is an "integer" (1.0 is);
**   - numbers compare exactly whatever their jansson types (an integer
**     and a real by value, never through a rounding double);
**   - multipleOf is decided exactly on the decimal forms of both numbers;
**   - equality ("enum", "const", "uniqueItems") is deep: numbers by value,
**     objects regardless of member order; the hash agrees with it.
*/
#include "schema_int.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const thr_schema_azType[SCHEMA_NTYPE] = {
    "null", "boolean", "integer", "number", "string", "array", "object"};

/* trunc() without libm (the unit-test build links no -lm): every double
** of magnitude 2^52 or more is already an integer. */
static double schema_trunc(double d) {
  if (d >= 4503599627370496.0 || d <= -4503599627370496.0 || d != d) {
    return d;
  }
  return (double)(long long)d;
}

/* Compare an integer with a real exactly: -1, 0 or 1. */
static int schema_cmp_int_real(json_int_t i, double d) {
  double t;
  long long iT;
  if (d >= 9223372036854775808.0) {
    return -1;
  }
  if (d < -9223372036854775808.0) {
    return 1;
  }
  t = schema_trunc(d);
  iT = (long long)t; /* exact: |t| < 2^63 */
  if (i != iT) {
    return i < iT ? -1 : 1;
  }
  if (d == t) {
    return 0;
  }
  return d > t ? -1 : 1; /* d has a fraction beyond i */
}

/* Compare two JSON numbers exactly, whatever their jansson types. */
int thr_schema_num_cmp(const json_t *a, const json_t *b) {
  if (json_is_integer(a) && json_is_integer(b)) {
    json_int_t x = json_integer_value(a), y = json_integer_value(b);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (json_is_integer(a)) {
    return schema_cmp_int_real(json_integer_value(a), json_real_value(b));
  }
  if (json_is_integer(b)) {
    return -schema_cmp_int_real(json_integer_value(b), json_real_value(a));
  }
  {
    double x = json_real_value(a), y = json_real_value(b);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
}

/* 1 if p is a number with no fractional part (draft-07: 1.0 is an
** integer). */
int thr_schema_is_integral(const json_t *p) {
  if (json_is_integer(p)) {
    return 1;
  }
  if (json_is_real(p)) {
    double d = json_real_value(p);
    return isfinite(d) && schema_trunc(d) == d;
  }
  return 0;
}

/* A number as a decimal (schema_dec, schema_int.h).  Reals are taken at
** their shortest round-trip text, the number the schema author wrote, so
** that 0.0075 is 75e-4 and a multiple of 1e-4, as the test suite expects.
**
** For a normal double that text is found in at most three printings: any
** decimal of 15 or fewer significant digits survives the trip to a double
** and back (C's DBL_DIG), so if the 15-digit text reads back as the real,
** it is the shortest text padded with zeros (which are stripped below); if
** not, 16 digits are tried, then 17, which always read back.  Subnormals
** hold fewer digits than DBL_DIG: for them every length is tried. */
void thr_schema_decimal(const json_t *p, schema_dec *pDec,
                        sqlite3_int64 *pnStep) {
  char zBuf[48];
  int i, n = 0, exp = 0;
  memset(pDec, 0, sizeof(*pDec));
  if (json_is_integer(p)) {
    json_int_t v = json_integer_value(p);
    unsigned long long u =
        v < 0 ? (unsigned long long)(-(v + 1)) + 1 : (unsigned long long)v;
    snprintf(zBuf, sizeof(zBuf), "%llu", u);
    *pnStep += SCHEMA_COST_PRINT / 8;
  } else {
    double d = json_real_value(p);
    int prec;
    char *zE;
    if (d < 0) {
      d = -d;
    }
    for (prec = d >= DBL_MIN ? 15 : 1; prec <= 17; prec++) {
      snprintf(zBuf, sizeof(zBuf), "%.*e", prec - 1, d);
      /* Printing far from 1 takes the C library's slow path. */
      *pnStep +=
          d > 1e-30 && d < 1e30 ? SCHEMA_COST_PRINT / 3 : SCHEMA_COST_PRINT;
      if (strtod(zBuf, NULL) == d) {
        break;
      }
    }
    /* "d.ddde+XX": digits, and the exponent of the last digit. */
    zE = strchr(zBuf, 'e');
    if (zE) {
      int nFrac = 0, bDot = 0;
      exp = atoi(zE + 1);
      *zE = 0;
      for (i = 0; zBuf[i]; i++) {
        if (zBuf[i] == '.') {
          bDot = 1;
        } else if (bDot) {
          nFrac++;
        }
      }
      exp -= nFrac;
    }
  }
  for (i = 0; zBuf[i]; i++) {
    if (zBuf[i] >= '0' && zBuf[i] <= '9') {
      if (n == 0 && zBuf[i] == '0') {
        continue; /* leading zero */
      }
      if (n < (int)sizeof(pDec->a)) {
        pDec->a[n++] = zBuf[i];
      }
    }
  }
  while (n > 0 && pDec->a[n - 1] == '0') {
    n--;
    exp++;
  }
  pDec->n = n;
  pDec->exp = exp;
}

/* (a * b) mod m, for a, b < m. */
static unsigned long long schema_mulmod(unsigned long long a,
                                        unsigned long long b,
                                        unsigned long long m) {
  return (unsigned long long)(((unsigned __int128)a * b) % m);
}

/* 1 if x is an integer multiple of m (m > 0), computed exactly on the
** decimal forms: x = A.10^p, m = B.10^q.  When p < q, x/m is A/B over a
** power of ten, and A (no trailing zeros) cannot be a multiple of B.10^k;
** otherwise test (A.10^(p-q)) mod B == 0: A mod B digit by digit, then
** times 10^(p-q) mod B by squaring.  B has at most 19 digits, so it fits
** in 64 bits; A has at most 20. */
int thr_schema_multiple_of(const json_t *x, const schema_dec *pM,
                           sqlite3_int64 *pnStep) {
  schema_dec dx;
  unsigned long long b = 0, r = 0, f = 1, t;
  int i, k;
  thr_schema_decimal(x, &dx, pnStep);
  *pnStep += 1 + (dx.n + pM->n) / 4;
  if (dx.n == 0) {
    return 1; /* zero is a multiple of anything */
  }
  if (pM->n == 0 || pM->n > 19) {
    return 0; /* not reached: multipleOf > 0 has at most 17 or 19 digits */
  }
  if (dx.exp < pM->exp) {
    return 0;
  }
  for (i = 0; i < pM->n; i++) {
    b = b * 10 + (unsigned long long)(pM->a[i] - '0');
  }
  for (i = 0; i < dx.n; i++) {
    r = schema_mulmod(r, 10 % b, b);
    r = (r + (unsigned long long)(dx.a[i] - '0') % b) % b;
  }
  t = 10 % b;
  for (k = dx.exp - pM->exp; k > 0; k >>= 1) {
    if (k & 1) {
      f = schema_mulmod(f, t, b);
    }
    t = schema_mulmod(t, t, b);
  }
  return schema_mulmod(r, f % b, b) == 0;
}

unsigned thr_schema_type_bit(const json_t *p) {
  switch (json_typeof(p)) {
  case JSON_NULL:
    return SCHEMA_T_NULL;
  case JSON_TRUE:
  case JSON_FALSE:
    return SCHEMA_T_BOOLEAN;
  case JSON_INTEGER:
    return SCHEMA_T_INTEGER;
  case JSON_REAL:
    return thr_schema_is_integral(p) ? SCHEMA_T_INTEGER : SCHEMA_T_NUMBER;
  case JSON_STRING:
    return SCHEMA_T_STRING;
  case JSON_ARRAY:
    return SCHEMA_T_ARRAY;
  default:
    return SCHEMA_T_OBJECT;
  }
}

const char *thr_schema_type_name(const json_t *p) {
  unsigned m = thr_schema_type_bit(p);
  int i;
  for (i = 0; i < SCHEMA_NTYPE; i++) {
    if (m == (1u << i)) {
      return thr_schema_azType[i];
    }
  }
  return "object";
}

/* Deep equality as JSON Schema defines it: numbers by value (1 == 1.0),
** objects regardless of member order.  Nesting beyond SCHEMA_MAX_EQUAL
** (which jansson's parser never produces) compares unequal rather than
** risk the stack.  SCHEMA_COST_VALUE steps per pair of values compared,
** and one per SCHEMA_COST_BYTES bytes of equal-length strings. */
int thr_schema_equal(const json_t *a, const json_t *b, int nDepth,
                     sqlite3_int64 *pnStep) {
  *pnStep += SCHEMA_COST_VALUE;
  if (nDepth > SCHEMA_MAX_EQUAL) {
    return 0;
  }
  if (json_is_number(a) && json_is_number(b)) {
    return thr_schema_num_cmp(a, b) == 0;
  }
  if (json_typeof(a) != json_typeof(b)) {
    return 0;
  }
  switch (json_typeof(a)) {
  case JSON_STRING:
    if (json_string_length(a) != json_string_length(b)) {
      return 0;
    }
    *pnStep += (sqlite3_int64)(json_string_length(a) / SCHEMA_COST_BYTES);
    return memcmp(json_string_value(a), json_string_value(b),
                  json_string_length(a)) == 0;
  case JSON_ARRAY: {
    size_t i, n = json_array_size(a);
    if (n != json_array_size(b)) {
      return 0;
    }
    for (i = 0; i < n; i++) {
      if (!thr_schema_equal(json_array_get(a, i), json_array_get(b, i),
                            nDepth + 1, pnStep)) {
        return 0;
      }
    }
    return 1;
  }
  case JSON_OBJECT: {
    const char *zKey;
    size_t nKey;
    json_t *pVal;
    if (json_object_size(a) != json_object_size(b)) {
      return 0;
    }
    json_object_keylen_foreach((json_t *)a, zKey, nKey, pVal) {
      const json_t *pOther = json_object_getn(b, zKey, nKey);
      *pnStep += 1; /* the lookup of the member in b */
      if (pOther == NULL ||
          !thr_schema_equal(pVal, pOther, nDepth + 1, pnStep)) {
        return 0;
      }
    }
    return 1;
  }
  default:
    return 1; /* null, true, false */
  }
}

/* Mix the bytes (z, n) into h, eight at a time (the hash need only agree
** with itself: it is never stored or sent). */
static uint64_t schema_hash_bytes(uint64_t h, const char *z, size_t n) {
  size_t i = 0;
  uint64_t w;
  for (; i + 8 <= n; i += 8) {
    memcpy(&w, z + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  w = 0;
  memcpy(&w, z + i, n - i);
  h = (h ^ w ^ (uint64_t)n) * 0x100000001b3ull;
  return h ^ (h >> 29);
}

/* A hash consistent with thr_schema_equal(): equal values hash alike.
** A number with an integral value that fits in 64 bits hashes by that
** integer, exactly (so 1 and 1.0 agree, and distinct large integers that
** round to one double do not collide); other reals by their double.
** Object members hash order-independently.  SCHEMA_COST_VALUE steps per
** value, and one per SCHEMA_COST_BYTES bytes of strings and keys. */
uint64_t thr_schema_hash_value(const json_t *p, int nDepth,
                               sqlite3_int64 *pnStep) {
  uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)json_typeof(p);
  *pnStep += SCHEMA_COST_VALUE;
  if (nDepth > SCHEMA_MAX_EQUAL) {
    return h;
  }
  switch (json_typeof(p)) {
  case JSON_INTEGER:
  case JSON_REAL: {
    uint64_t u;
    if (json_is_integer(p)) {
      u = (uint64_t)json_integer_value(p);
    } else {
      double d = json_real_value(p);
      if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
          (double)(long long)d == d) {
        u = (uint64_t)(long long)d; /* integral: as the integer (-0.0 too) */
      } else {
        memcpy(&u, &d, sizeof(u));
      }
    }
    return 0x9e3779b97f4a7c15ull * (u ^ (u >> 29));
  }
  case JSON_STRING: {
    size_t n = json_string_length(p);
    *pnStep += (sqlite3_int64)(n / SCHEMA_COST_BYTES);
    return schema_hash_bytes(h, json_string_value(p), n);
  }
  case JSON_ARRAY: {
    size_t i;
    for (i = 0; i < json_array_size(p); i++) {
      h = (h ^
           thr_schema_hash_value(json_array_get(p, i), nDepth + 1, pnStep)) *
          0x100000001b3ull;
    }
    return h;
  }
  case JSON_OBJECT: {
    const char *zKey;
    size_t nKey;
    json_t *pVal;
    uint64_t hSum = 0;
    json_object_keylen_foreach((json_t *)p, zKey, nKey, pVal) {
      uint64_t hk = schema_hash_bytes(0xcbf29ce484222325ull, zKey, nKey);
      *pnStep += (sqlite3_int64)(nKey / SCHEMA_COST_BYTES);
      hSum += hk * (thr_schema_hash_value(pVal, nDepth + 1, pnStep) | 1);
    }
    return h ^ hSum;
  }
  default:
    return h;
  }
}
