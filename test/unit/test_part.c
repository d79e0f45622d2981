/*
** test_part.c: unit tests for net/part.c, the assembly of large records
** from pieces.  The bytes are a pattern the test makes, so every expected
** byte and size is known from the test itself.  Spill files go to a
** directory the test makes (and removes), so that what the set leaves
** behind can be counted.
*/
#include "../../net/thr_part.h"
#include "tt.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char zDir[] = "/tmp/test_part-XXXXXX";

/* A set whose files go to the test's directory. */
static thr_part_set set_new(void) {
  thr_part_set set;
  memset(&set, 0, sizeof(set));
  set.zDir = zDir;
  return set;
}

/* Descriptors this process holds open. */
static int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  while (d && (e = readdir(d)) != NULL) {
    n += e->d_name[0] != '.';
  }
  if (d) {
    closedir(d);
  }
  return n - 1; /* the DIR's own */
}

/* Names in the test's directory (spill files must have none). */
static int dir_names(void) {
  DIR *d = opendir(zDir);
  struct dirent *e;
  int n = 0;
  while (d && (e = readdir(d)) != NULL) {
    n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  }
  if (d) {
    closedir(d);
  }
  return n;
}

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
  thr_part_set set = set_new();
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
    e = thr_part_add(&set, p, off, a + off, n, 1000);
    off += n;
    TT_CHECK(e == (off == nTotal ? THR_PART_DONE : THR_PART_MORE));
  }
  TT_CHECK(p && p->nGot == nTotal);
  TT_CHECK(set.nSpill == nTotal);
  if (p) {
    TT_CHECK(thr_part_record(p, &r) == SQLITE_OK);
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
  thr_part_set set = set_new();
  size_t an[4] = {10, 10, 10, 70};
  unsigned char *a = pattern(100);
  char *zWhy = NULL;
  thr_part *p = thr_part_get(&set, 1, pkA, 2, 9, an, 0, &zWhy);
  TT_CHECK(p != NULL);
  if (p) {
    thr_wire_rec r;
    TT_CHECK(thr_part_add(&set, p, 40, a + 40, 10, 0) == THR_PART_STALE);
    TT_CHECK(p->nGot == 0);
    TT_CHECK(thr_part_add(&set, p, 0, a, 0, 0) == THR_PART_BAD);
    TT_CHECK(thr_part_add(&set, p, 0, a, 101, 0) == THR_PART_BAD);
    TT_CHECK(p->nGot == 0 && p->fd < 0);
    TT_CHECK(thr_part_record(p, &r) != SQLITE_OK); /* not whole */
    TT_CHECK(thr_part_add(&set, p, 0, a, 60, 0) == THR_PART_MORE);
    TT_CHECK(thr_part_add(&set, p, 0, a, 60, 0) == THR_PART_STALE);
    TT_CHECK(thr_part_add(&set, p, 60, a + 60, 41, 0) == THR_PART_BAD);
    TT_CHECK(p->nGot == 60);
    TT_CHECK(thr_part_add(&set, p, 60, a + 60, 40, 0) == THR_PART_DONE);
    TT_CHECK(thr_part_record(p, &r) == SQLITE_OK);
    TT_CHECK(r.a[0] && memcmp(r.a[0], a, 100) == 0);
  }
  thr_part_clear(&set);
  free(a);
}

/* Sizes over the limit, or without a record block, make no assembly. */
static void test_limits(void) {
  thr_part_set set = set_new();
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
  TT_CHECK(p != NULL && p->fd < 0 && p->a == NULL && set.nSpill == 0);
  TT_CHECK(set.n == 1);
  thr_part_clear(&set);
}

/* At most THR_PART_MAX assemblies.  When all are taken, a new one evicts
** the one idle longest, once it has been idle THR_PART_YIELD_MS; "busy"
** only while every one was fed more recently than that. */
static void test_eviction(void) {
  thr_part_set set = set_new();
  size_t an[4] = {10, 10, 10, 10};
  unsigned char *a = pattern(40);
  char *zWhy = NULL;
  thr_part *pFed;
  int i;
  /* Sources 1..MAX, made at 0, 10, 20, ... ms. */
  for (i = 0; i < THR_PART_MAX; i++) {
    TT_CHECK(thr_part_get(&set, 1, pkA, i + 1, i + 1, an, 10 * i, &zWhy));
  }
  TT_CHECK(set.n == THR_PART_MAX);
  /* Source 1 (the oldest) is fed its last piece (it is whole, not
  ** dropped): it is no longer the idlest. */
  pFed = thr_part_find(&set, 1, pkA, 1, 1);
  TT_CHECK(pFed && thr_part_add(&set, pFed, 0, a, 40, 500) == THR_PART_DONE);
  /* Every slot fed within THR_PART_YIELD_MS: busy. */
  TT_CHECK(thr_part_get(&set, 1, pkB, 1, 99, an, THR_PART_YIELD_MS - 1,
                        &zWhy) == NULL);
  TT_CHECK(zWhy && strncmp(zWhy, "busy", 4) == 0);
  sqlite3_free(zWhy);
  zWhy = NULL;
  TT_CHECK(set.n == THR_PART_MAX);
  /* A moment later source 2 (made at 10) has been idle long enough: it,
  ** the one idle longest, goes; no other does. */
  TT_CHECK(thr_part_get(&set, 1, pkB, 1, 99, an, THR_PART_YIELD_MS + 10,
                        &zWhy) != NULL &&
           zWhy == NULL);
  TT_CHECK(set.n == THR_PART_MAX);
  TT_CHECK(thr_part_find(&set, 1, pkA, 2, 2) == NULL);
  TT_CHECK(thr_part_find(&set, 1, pkA, 1, 1) == pFed);
  TT_CHECK(thr_part_find(&set, 1, pkA, 3, 3) != NULL);
  TT_CHECK(thr_part_find(&set, 1, pkB, 1, 99) != NULL);
  thr_part_clear(&set);
  free(a);
}

/* A trickle of tiny pieces does not count as being fed: the assembly
** stays evictable and is dropped as idle.  Pieces of THR_PART_MINFEED
** bytes do count. */
static void test_trickle(void) {
  thr_part_set set = set_new();
  size_t an[4] = {THR_PART_MINFEED * 4, 0, 0, 0};
  unsigned char *a = pattern(THR_PART_MINFEED * 4);
  char *zWhy = NULL;
  sqlite3_int64 t;
  thr_part *p = thr_part_get(&set, 1, pkA, 1, 1, an, 0, &zWhy);
  TT_CHECK(p != NULL);
  for (t = 100; p && t < THR_PART_IDLE_MS; t += 100) {
    TT_CHECK(thr_part_add(&set, p, p->nGot, a + p->nGot, 1, t) ==
             THR_PART_MORE);
  }
  TT_CHECK(p && p->tLast == 0);
  TT_CHECK(thr_part_sweep(&set, THR_PART_IDLE_MS) == 1 && set.n == 0);
  p = thr_part_get(&set, 1, pkA, 1, 1, an, 0, &zWhy);
  TT_CHECK(p &&
           thr_part_add(&set, p, 0, a, THR_PART_MINFEED, 700) == THR_PART_MORE);
  TT_CHECK(p && p->tLast == 700);
  TT_CHECK(thr_part_sweep(&set, THR_PART_IDLE_MS) == 0 && set.n == 1);
  thr_part_clear(&set);
  free(a);
}

/* One assembly per source: a second record from a source whose first was
** fed within THR_PART_YIELD_MS is busy; once that one is idle, the new one
** replaces it (and its file goes). */
static void test_one_per_source(void) {
  thr_part_set set = set_new();
  size_t an[4] = {100, 0, 0, 0};
  unsigned char *a = pattern(100);
  char *zWhy = NULL;
  thr_part *p = thr_part_get(&set, 1, pkA, 1, 7, an, 0, &zWhy);
  TT_CHECK(p && thr_part_add(&set, p, 0, a, 50, 0) == THR_PART_MORE);
  TT_CHECK(set.nSpill == 50);
  TT_CHECK(thr_part_get(&set, 1, pkB, 1, 7, an, THR_PART_YIELD_MS - 1, &zWhy) ==
           NULL);
  TT_CHECK(zWhy && strncmp(zWhy, "busy", 4) == 0);
  sqlite3_free(zWhy);
  zWhy = NULL;
  /* Another source is not held back by it. */
  TT_CHECK(thr_part_get(&set, 1, pkB, 1, 8, an, 1, &zWhy) != NULL);
  /* The same record from the same source is the same assembly. */
  TT_CHECK(thr_part_get(&set, 1, pkA, 1, 7, an, 2, &zWhy) == p);
  p = thr_part_get(&set, 1, pkB, 1, 7, an, THR_PART_YIELD_MS, &zWhy);
  TT_CHECK(p && zWhy == NULL && set.n == 2 && set.nSpill == 0);
  TT_CHECK(thr_part_find(&set, 1, pkA, 1, 7) == NULL);
  thr_part_clear(&set);
  free(a);
}

/* Pieces go to an unlinked file, not memory: no name is left in the
** directory, one descriptor per assembly that holds bytes, none after it
** is dropped; the record read back is the bytes sent. */
static void test_spill(void) {
  thr_part_set set = set_new();
  size_t nTotal = 5 * 1024 * 1024 + 3, an[4], off = 0;
  unsigned char *a = pattern(nTotal);
  char *zWhy = NULL;
  int nFd0 = open_fds(), e = 0;
  thr_wire_rec r;
  thr_part *p;
  an[0] = 1000;
  an[1] = 0;
  an[2] = 24;
  an[3] = nTotal - 1024;
  p = thr_part_get(&set, 1, pkA, 1, 1, an, 0, &zWhy);
  TT_CHECK(p && p->fd < 0 && open_fds() == nFd0);
  while (p && off < nTotal) {
    size_t n = nTotal - off < 1024 * 1024 ? nTotal - off : 1024 * 1024;
    e = thr_part_add(&set, p, off, a + off, n, 0);
    off += n;
    TT_CHECK(p->fd >= 0 && open_fds() == nFd0 + 1 && dir_names() == 0);
    TT_CHECK(set.nSpill == off);
  }
  TT_CHECK(e == THR_PART_DONE);
  if (p) {
    struct stat st;
    TT_CHECK(fstat(p->fd, &st) == 0 && st.st_nlink == 0 &&
             (size_t)st.st_size == nTotal);
    TT_CHECK(thr_part_record(p, &r) == SQLITE_OK);
    TT_CHECK(r.n[0] == 1000 && r.a[1] == NULL && r.n[1] == 0 && r.n[2] == 24 &&
             r.n[3] == nTotal - 1024);
    TT_CHECK(r.a[0] && memcmp(r.a[0], a, 1000) == 0 &&
             memcmp(r.a[2], a + 1000, 24) == 0 &&
             memcmp(r.a[3], a + 1024, nTotal - 1024) == 0);
  }
  thr_part_drop(&set, p);
  TT_CHECK(open_fds() == nFd0 && set.nSpill == 0 && set.n == 0);
  free(a);
}

/* The files together stay within the cap: a piece past it evicts the
** idlest assemblies idle THR_PART_YIELD_MS or more, and is THR_PART_FULL
** (not appended, the assembly kept) when that is not enough. */
static void test_spill_cap(void) {
  thr_part_set set = set_new();
  size_t an[4] = {1000, 0, 0, 0};
  unsigned char *a = pattern(1000);
  char *zWhy = NULL;
  thr_part *p1, *p2, *p3;
  set.nSpillMax = 1500;
  p1 = thr_part_get(&set, 1, pkA, 1, 1, an, 0, &zWhy);
  p2 = thr_part_get(&set, 1, pkA, 1, 2, an, 100, &zWhy);
  p3 = thr_part_get(&set, 1, pkA, 1, 3, an, 200, &zWhy);
  TT_CHECK(p1 && p2 && p3);
  if (p1 && p2 && p3) {
    TT_CHECK(thr_part_add(&set, p1, 0, a, 600, 0) == THR_PART_MORE);
    TT_CHECK(thr_part_add(&set, p2, 0, a, 600, 100) == THR_PART_MORE);
    TT_CHECK(set.nSpill == 1200);
    /* 400 more would pass 1500; the others were fed just now: full. */
    TT_CHECK(thr_part_add(&set, p3, 0, a, 400, 300) == THR_PART_FULL);
    TT_CHECK(p3->nGot == 0 && set.nSpill == 1200 && set.n == 3);
    /* Later p1 (idlest) has stopped: it makes room, p2 stays. */
    TT_CHECK(thr_part_add(&set, p3, 0, a, 400, THR_PART_YIELD_MS) ==
             THR_PART_MORE);
    TT_CHECK(set.n == 2 && set.nSpill == 1000);
    TT_CHECK(thr_part_find(&set, 1, pkA, 1, 1) == NULL);
    TT_CHECK(thr_part_find(&set, 1, pkA, 1, 2) == p2);
  }
  thr_part_clear(&set);
  TT_CHECK(set.nSpill == 0);
  free(a);
}

/* An assembly that no piece fed for THR_PART_IDLE_MS is dropped by the
** sweep, its file closed; the others stay. */
static void test_idle_drop(void) {
  thr_part_set set = set_new();
  size_t nFeed = THR_PART_MINFEED, an[4] = {3 * THR_PART_MINFEED, 0, 0, 0};
  unsigned char *a = pattern(3 * THR_PART_MINFEED);
  char *zWhy = NULL;
  int nFd0 = open_fds();
  thr_part *p1 = thr_part_get(&set, 1, pkA, 1, 1, an, 0, &zWhy);
  thr_part *p2 = thr_part_get(&set, 1, pkA, 1, 2, an, 0, &zWhy);
  TT_CHECK(p1 && p2);
  if (p1 && p2) {
    TT_CHECK(thr_part_add(&set, p1, 0, a, nFeed, 0) == THR_PART_MORE);
    TT_CHECK(thr_part_add(&set, p2, 0, a, nFeed, 0) == THR_PART_MORE);
    TT_CHECK(thr_part_add(&set, p2, nFeed, a + nFeed, nFeed, 2000) ==
             THR_PART_MORE);
    TT_CHECK(open_fds() == nFd0 + 2);
  }
  TT_CHECK(thr_part_sweep(&set, THR_PART_IDLE_MS - 1) == 0 && set.n == 2);
  TT_CHECK(thr_part_sweep(&set, THR_PART_IDLE_MS) == 1 && set.n == 1);
  TT_CHECK(thr_part_find(&set, 1, pkA, 1, 1) == NULL);
  TT_CHECK(set.nSpill == 2 * nFeed && open_fds() == nFd0 + 1);
  TT_CHECK(thr_part_sweep(&set, 2000 + THR_PART_IDLE_MS) == 1);
  TT_CHECK(set.n == 0 && set.nSpill == 0 && open_fds() == nFd0);
  thr_part_clear(&set);
  free(a);
}

/* Announced again with other sizes: a fresh start.  Dropping by source
** leaves the other sources' assemblies. */
static void test_reannounce_and_drop(void) {
  thr_part_set set = set_new();
  size_t an1[4] = {10, 10, 10, 10}, an2[4] = {10, 10, 10, 20};
  unsigned char *a = pattern(50);
  char *zWhy = NULL;
  thr_part *p = thr_part_get(&set, 1, pkA, 3, 1, an1, 0, &zWhy);
  TT_CHECK(p && thr_part_add(&set, p, 0, a, 20, 0) == THR_PART_MORE);
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
  int rc;
  if (mkdtemp(zDir) == NULL) {
    printf("FAIL main: mkdtemp(%s)\n", zDir);
    return 1;
  }
  TT_RUN(test_in_order);
  TT_RUN(test_out_of_order);
  TT_RUN(test_limits);
  TT_RUN(test_eviction);
  TT_RUN(test_trickle);
  TT_RUN(test_one_per_source);
  TT_RUN(test_spill);
  TT_RUN(test_spill_cap);
  TT_RUN(test_idle_drop);
  TT_RUN(test_reannounce_and_drop);
  rc = tt_done();
  rmdir(zDir);
  return rc;
}
