/*
** tt.h: the unit-test harness.  Each test binary runs its cases and
** prints one line per case, "PASS <name>" or "FAIL <name>: <where>", and
** exits non-zero if any case failed.  test/run.sh counts the lines.
**
** Usage:
**   static void test_foo(void) { TT_CHECK(1 + 1 == 2); }
**   int main(void) { TT_RUN(test_foo); return tt_done(); }
*/
#ifndef TT_H
#define TT_H

#include <stdio.h>
#include <string.h>

static int tt_nFail = 0;    /* failed cases */
static int tt_caseFail = 0; /* checks failed in the current case */

#define TT_CHECK(cond)                                                    \
  do {                                                                    \
    if (!(cond)) {                                                        \
      if (tt_caseFail++ == 0) {                                           \
        printf("FAIL %s: %s:%d: %s\n", tt_zCase, __FILE__, __LINE__,      \
               #cond);                                                    \
      }                                                                   \
    }                                                                     \
  } while (0)

/* Compare two NUL-terminated strings, printing both when they differ. */
#define TT_STREQ(a, b)                                                    \
  do {                                                                    \
    const char *tt_a = (a), *tt_b = (b);                                  \
    if (tt_a == NULL || tt_b == NULL || strcmp(tt_a, tt_b) != 0) {        \
      if (tt_caseFail++ == 0) {                                           \
        printf("FAIL %s: %s:%d: \"%s\" != \"%s\"\n", tt_zCase, __FILE__,  \
               __LINE__, tt_a ? tt_a : "(null)", tt_b ? tt_b : "(null)"); \
      }                                                                   \
    }                                                                     \
  } while (0)

static const char *tt_zCase = "";

#define TT_RUN(fn)                                                        \
  do {                                                                    \
    tt_zCase = #fn;                                                       \
    tt_caseFail = 0;                                                      \
    fn();                                                                 \
    if (tt_caseFail) {                                                    \
      tt_nFail++;                                                         \
    } else {                                                              \
      printf("PASS %s\n", #fn);                                           \
    }                                                                     \
    fflush(stdout);                                                       \
  } while (0)

static int tt_done(void) { return tt_nFail ? 1 : 0; }

/* A fixed-seed xorshift64 generator, so that every run tests the same
** inputs and a failure can be reproduced.  A test file may reseed it with
** tt_rng_seed(). */
#include <stdint.h>
static uint64_t tt_rngState = 0x2545f4914f6cdd1dull;
static inline void tt_rng_seed(uint64_t v) { tt_rngState = v ? v : 1; }
static inline uint64_t rng_next(void) {
  uint64_t x = tt_rngState;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  tt_rngState = x;
  return x;
}
static inline unsigned rng_below(unsigned n) {
  return (unsigned)(rng_next() % n);
}

#endif /* TT_H */
