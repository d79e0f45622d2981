/*
** test_part.c: unit tests for net/part.c, the assembly of large records
** from pieces.  The bytes are a pattern the test makes, so every expected
** byte and size is known from the test itself.
*/
#include "../../net/thr_part.h"
#include "tt.h"

#include <stdlib.h>
#include <string.h>

static const unsigned char pkA[32] = {1};
static const unsigned char pkB[32] = {2};

/* Byte i of the test record. */
static unsigned char pat(size_t i) {
  return (unsigned char)(i * 131 + 7);
}

static unsigned char *pattern(size_t n) {
  unsigned char *a = malloc(n ? n : 1);
  size_t i;
  for (i = 0; i < n; i++) {
    a[i] = pat(i);
  }
  return a;
}

/* Pieces in order make the record; its blocks are where the sizes say. */
static void test_in_order(void) {
  thr_part_set set = {NULL, 0};
  size_t an[4] = {100, 50, 20, 3000000};
  size_t nTotal = 3000170, off = 0, nPiece = 1000000;
  unsigned char *a = pattern(nTotal);
  char *zWhy = NULL;
  thr_wire_rec r;
  int e = 0;
  thr_part *p = thr_part_get(&set, 7, pkA, 5, 1, an, 1000, &zWhy);
  TT_CHECK(p != NULL && zWhy == NULL);
  while (p && off < nTotal) {
    size_t n = nTotal - off < nPiece ? nTotal - off : nPiece;
    e = thr_part_add(p, off, a + off, n, 1000);
    off += n;
    TT_CHECK(e == (off == nTotal ? THR_PART_DONE : THR_PART_MORE));
  }
  TT_CHECK(p && p->nGot == nTotal);
  if (p) {
    thr_part_record(p, &r);
    TT_CHECK(r.counter == 5);
    TT_CHECK(r.n[0] == 100 && r.n[1] == 50 && r.n[2] == 20 &&
             r.n[3] == 3000000);
    TT_CHECK(r.a[0] && r.a[0][0] == pat(0) && r.a[1][0] == pat(100) &&
             r.a[2][0] == pat(150) && r.a[3][0] == pat(170) &&
             r.a[3][2999999] == pat(nTotal - 1));
  }
  TT_CHECK(thr_part_find(&set, 7, pkA, 5, 1) == p);
  TT_CHECK(thr_part_find(&set, 7, pkB, 5, 1) == NULL);
  TT_CHECK(thr_part_find(&set, 7, pkA, 5, 2) == NULL);
  thr_part_clear(&set);
  TT_CHECK(set.n == 0 && set.pList == NULL);
  free(a);
}

/* A piece not at the end of what is held is ignored; an empty piece or
** one past the announced size is bad and changes nothing. */
static void test_out_of_order(void) {
  thr_part_set set = {NULL, 0};
  size_t an[4] = {10, 10, 10, 70};
  unsigned char *a = pattern(100);
  char *zWhy = NULL;
  thr_part *p = thr_part_get(&set, 1, pkA, 2, 9, an, 0, &zWhy);
  TT_CHECK(p != NULL);
  if (p) {
    TT_CHECK(thr_part_add(p, 40, a + 40, 10, 0) == THR_PART_STALE);
    TT_CHECK(p->nGot == 0);
    TT_CHECK(thr_part_add(p, 0, a, 0, 0) == THR_PART_BAD);
    TT_CHECK(thr_part_add(p, 0, a, 101, 0) == THR_PART_BAD);
    TT_CHECK(p->nGot == 0);
    TT_CHECK(thr_part_add(p, 0, a, 60, 0) == THR_PART_MORE);
    TT_CHECK(thr_part_add(p, 0, a, 60, 0) == THR_PART_STALE);
    TT_CHECK(thr_part_add(p, 60, a + 60, 41, 0) == THR_PART_BAD);
    TT_CHECK(p->nGot == 60);
    TT_CHECK(thr_part_add(p, 60, a + 60, 40, 0) == THR_PART_DONE);
    TT_CHECK(memcmp(p->a, a, 100) == 0);
  }
  thr_part_clear(&set);
  free(a);
}

/* Sizes over the limit, or without a record block, make no assembly. */
static void test_limits(void) {
  thr_part_set set = {NULL, 0};
  size_t anBig[4] = {100, 100, 100, THR_PART_MAXREC - 299};
  size_t anMax[4] = {100, 100, 100, THR_PART_MAXREC - 300};
  size_t anWrap[4] = {100, (size_t)-50, 100, 100};
  size_t anNoRec[4] = {0, 10, 10, 10};
  char *zWhy = NULL;
  thr_part *p;
  TT_CHECK(thr_part_get(&set, 1, pkA, 1, 1, anBig, 0, &zWhy) == NULL);
  TT_CHECK(zWhy && strncmp(zWhy, "oversized", 9) == 0);
  sqlite3_free(zWhy);
  zWhy = NULL;
  TT_CHECK(thr_part_get(&set, 1, pkA, 1, 1, anWrap, 0, &zWhy) == NULL);
  TT_CHECK(zWhy && strncmp(zWhy, "oversized", 9) == 0);
  sqlite3_free(zWhy);
  zWhy = NULL;
  TT_CHECK(thr_part_get(&set, 1, pkA, 1, 1, anNoRec, 0, &zWhy) == NULL);
  TT_CHECK(zWhy != NULL);
  sqlite3_free(zWhy);
  zWhy = NULL;
  /* Exactly the limit is accepted, and costs nothing until bytes come. */
  p = thr_part_get(&set, 1, pkA, 1, 1, anMax, 0, &zWhy);
  TT_CHECK(p != NULL && p->nAlloc == 0 && p->a == NULL);
  TT_CHECK(set.n == 1);
  thr_part_clear(&set);
}

/* At most THR_PART_MAX assemblies: a new one evicts only an idle one. */
static void test_eviction(void) {
  thr_part_set set = {NULL, 0};
  size_t an[4] = {10, 10, 10, 10};
  char *zWhy = NULL;
  int i;
  for (i = 0; i < THR_PART_MAX; i++) {
    TT_CHECK(thr_part_get(&set, 1, pkA, i + 1, 1, an, 1000 * i, &zWhy));
  }
  TT_CHECK(set.n == THR_PART_MAX);
  /* All busy within the idle time: refused. */
  TT_CHECK(thr_part_get(&set, 1, pkB, 1, 1, an, 1000 * THR_PART_MAX, &zWhy) ==
           NULL);
  TT_CHECK(zWhy && strncmp(zWhy, "busy", 4) == 0);
  sqlite3_free(zWhy);
  zWhy = NULL;
  /* Later the oldest (counter 1, last touched at 0) is idle: evicted. */
  TT_CHECK(thr_part_get(&set, 1, pkB, 1, 1, an, THR_PART_IDLE_MS, &zWhy));
  TT_CHECK(set.n == THR_PART_MAX);
  TT_CHECK(thr_part_find(&set, 1, pkA, 1, 1) == NULL);
  TT_CHECK(thr_part_find(&set, 1, pkA, 2, 1) != NULL);
  thr_part_clear(&set);
}

/* Announced again with other sizes: a fresh start.  Dropping by source
** leaves the other sources' assemblies. */
static void test_reannounce_and_drop(void) {
  thr_part_set set = {NULL, 0};
  size_t an1[4] = {10, 10, 10, 10}, an2[4] = {10, 10, 10, 20};
  unsigned char *a = pattern(50);
  char *zWhy = NULL;
  thr_part *p = thr_part_get(&set, 1, pkA, 3, 1, an1, 0, &zWhy);
  TT_CHECK(p && thr_part_add(p, 0, a, 20, 0) == THR_PART_MORE);
  TT_CHECK(thr_part_get(&set, 1, pkA, 3, 1, an1, 0, &zWhy) == p);
  p = thr_part_get(&set, 1, pkA, 3, 1, an2, 0, &zWhy);
  TT_CHECK(p && p->nGot == 0 && p->nTotal == 50 && set.n == 1);
  TT_CHECK(thr_part_get(&set, 1, pkA, 3, 2, an2, 0, &zWhy) != NULL);
  TT_CHECK(set.n == 2);
  thr_part_drop_from(&set, 1);
  TT_CHECK(set.n == 1 && thr_part_find(&set, 1, pkA, 3, 2) != NULL);
  thr_part_clear(&set);
  free(a);
}

int main(void) {
  TT_RUN(test_in_order);
  TT_RUN(test_out_of_order);
  TT_RUN(test_limits);
  TT_RUN(test_eviction);
  TT_RUN(test_reannounce_and_drop);
  return tt_done();
}
