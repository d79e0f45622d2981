/*
** test_json.c: core/json.c against jansson's own json_dumps(JSON_COMPACT |
** JSON_SORT_KEYS), the text it must reproduce, on hand-picked and random
** values; and the text parses back to an equal value.
*/
#include "thr_core.h"
#include "tt.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int nCompared = 0;

/* Check one value: same text as jansson, and it reads back equal. */
static void same_as_jansson(const json_t *v) {
  char *zWant = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  size_t n = 0;
  char *zGot = thr_json_text(v, &n);
  json_t *pBack;
  TT_STREQ(zGot, zWant);
  TT_CHECK(zGot == NULL || n == strlen(zGot));
  pBack =
      zGot ? json_loads(zGot, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
  TT_CHECK(pBack != NULL && json_equal(pBack, (json_t *)v));
  json_decref(pBack);
  free(zWant);
  free(zGot);
  nCompared++;
}

static void test_scalars(void) {
  static const double aReal[] = {0.0,     -0.0,    1.0,      -1.5,   3.3,
                                 0.1,     1e20,    1e21,     1e-5,   1.5e-7,
                                 1e300,   -1e-300, 123456.0, 1e16,   1e17,
                                 DBL_MAX, DBL_MIN, 5e-324,   2.5e+5, 4.0};
  static const long long aInt[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN};
  size_t i;
  json_t *v;
  for (i = 0; i < sizeof(aReal) / sizeof(aReal[0]); i++) {
    v = json_real(aReal[i]);
    same_as_jansson(v);
    json_decref(v);
  }
  for (i = 0; i < sizeof(aInt) / sizeof(aInt[0]); i++) {
    v = json_integer(aInt[i]);
    same_as_jansson(v);
    json_decref(v);
  }
  v = json_true();
  same_as_jansson(v);
  v = json_false();
  same_as_jansson(v);
  v = json_null();
  same_as_jansson(v);
  /* Escapes: quote, backslash, the named controls, other controls, DEL,
  ** '/', multi-byte UTF-8 and an embedded NUL. */
  v = json_stringn("a\"b\\c\b\f\n\r\t\x01\x1f\x7f/\xc3\xa9\xe2\x82\xac\0z", 21);
  TT_CHECK(v != NULL);
  same_as_jansson(v);
  json_decref(v);
  /* Keys sort by bytes, "B" < "_id" < "a" < "aa" < "é". */
  v = json_pack("{s:i,s:i,s:i,s:i,s:i,s:{},s:[]}", "aa", 1, "_id", 2, "B", 3,
                "a", 4, "\xc3\xa9", 5, "o", "l");
  same_as_jansson(v);
  json_decref(v);
}

/* A random value of at most the given depth. */
static json_t *random_value(int iDepth) {
  static const char *azWord[] = {"",   "a",  "b",    "_id", "name", "Z",
                                 "\n", "\"", "x\\y", "é",   "k1",   "k10"};
  unsigned k = rng_below(iDepth > 0 ? 9 : 7);
  switch (k) {
  case 0:
    return json_null();
  case 1:
    return json_boolean(rng_below(2));
  case 2:
    return json_integer((json_int_t)(rng_next() >> rng_below(64)) *
                        (rng_below(2) ? 1 : -1));
  case 3: {
    /* Any finite double, from random bits. */
    uint64_t u = rng_next();
    double r;
    memcpy(&r, &u, sizeof(r));
    if (!isfinite(r)) {
      r = (double)(u >> 11) / 7.0;
    }
    return json_real(r);
  }
  case 4: {
    char z[8];
    int i, n = (int)rng_below(8);
    for (i = 0; i < n; i++) {
      z[i] = (char)(rng_below(2) ? 'a' + rng_below(26) : rng_below(128));
    }
    return json_stringn(z, (size_t)n);
  }
  case 5:
  case 6:
    return json_string(azWord[rng_below(12)]);
  case 7: {
    json_t *o = json_object();
    int i, n = (int)rng_below(20);
    for (i = 0; i < n; i++) {
      char zKey[16];
      snprintf(zKey, sizeof(zKey), "%s%u", azWord[rng_below(12)],
               rng_below(30));
      json_object_set_new(o, zKey, random_value(iDepth - 1));
    }
    return o;
  }
  default: {
    json_t *a = json_array();
    int i, n = (int)rng_below(6);
    for (i = 0; i < n; i++) {
      json_array_append_new(a, random_value(iDepth - 1));
    }
    return a;
  }
  }
}

static void test_random(void) {
  int i;
  for (i = 0; i < 20000; i++) {
    json_t *v = random_value(4);
    same_as_jansson(v);
    json_decref(v);
  }
  printf("  %d values compared with json_dumps\n", nCompared);
}

int main(void) {
  TT_RUN(test_scalars);
  TT_RUN(test_random);
  return tt_done();
}
