/*
** part.c: large records put together from pieces (see thr_part.h for the
** rule for slots and the limits, which are enforced here).
*/
#include "thr_part.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The directory for spill files. */
static const char *part_dir(const thr_part_set *pSet) {
  const char *z = pSet->zDir;
  if (z == NULL || z[0] == 0) {
    z = getenv("TMPDIR");
  }
  return z && z[0] ? z : "/tmp";
}

/* A new, empty, already unlinked file for an assembly, or -1.  O_TMPFILE
** makes one that never has a name; where the file system cannot, a named
** one is made (O_EXCL: never an existing file) and unlinked at once. */
static int part_file(const thr_part_set *pSet) {
  const char *zDir = part_dir(pSet);
  char *zPath;
  int fd;
#ifdef O_TMPFILE
  fd = open(zDir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    return fd;
  }
#endif
  zPath = sqlite3_mprintf("%s/threads-part-XXXXXX", zDir);
  if (zPath == NULL) {
    return -1;
  }
  fd = mkostemp(zPath, O_CLOEXEC);
  if (fd >= 0) {
    unlink(zPath);
  }
  sqlite3_free(zPath);
  return fd;
}

/* Write all n bytes at iOff; 0, or -1 (errno). */
static int part_pwrite(int fd, const unsigned char *a, size_t n, size_t iOff) {
  while (n > 0) {
    ssize_t k = pwrite(fd, a, n, (off_t)iOff);
    if (k < 0 && errno == EINTR) {
      continue;
    }
    if (k <= 0) {
      return -1;
    }
    a += k;
    n -= (size_t)k;
    iOff += (size_t)k;
  }
  return 0;
}

static void part_free(thr_part_set *pSet, thr_part *pPart) {
  if (pPart->a) {
    munmap(pPart->a, pPart->nTotal);
  }
  if (pPart->fd >= 0) {
    close(pPart->fd);
    pSet->nSpill -= pPart->nGot;
  }
  sqlite3_free(pPart);
}

static void part_unlink(thr_part_set *pSet, thr_part *pPart) {
  thr_part **pp;
  for (pp = &pSet->pList; *pp; pp = &(*pp)->pNext) {
    if (*pp == pPart) {
      *pp = pPart->pNext;
      pSet->n--;
      return;
    }
  }
}

/* The assembly idle longest other than pKeep, if it has been idle at
** least THR_PART_YIELD_MS (it may be evicted), else NULL. */
static thr_part *part_idlest(thr_part_set *pSet, const thr_part *pKeep,
                             sqlite3_int64 tNow) {
  thr_part *pOld = NULL, *q;
  for (q = pSet->pList; q; q = q->pNext) {
    if (q != pKeep && (pOld == NULL || q->tLast < pOld->tLast)) {
      pOld = q;
    }
  }
  return pOld && tNow - pOld->tLast >= THR_PART_YIELD_MS ? pOld : NULL;
}

thr_part *thr_part_find(thr_part_set *pSet, sqlite3_int64 iThread,
                        const unsigned char pk[32], sqlite3_int64 counter,
                        sqlite3_uint64 from) {
  thr_part *pPart;
  for (pPart = pSet->pList; pPart; pPart = pPart->pNext) {
    if (pPart->iThread == iThread && pPart->counter == counter &&
        pPart->from == from && memcmp(pPart->pk, pk, 32) == 0) {
      return pPart;
    }
  }
  return NULL;
}

thr_part *thr_part_get(thr_part_set *pSet, sqlite3_int64 iThread,
                       const unsigned char pk[32], sqlite3_int64 counter,
                       sqlite3_uint64 from, const size_t an[4],
                       sqlite3_int64 tNow, char **pzWhy) {
  thr_part *pPart = thr_part_find(pSet, iThread, pk, counter, from), *q;
  size_t nTotal = 0;
  int i;
  for (i = 0; i < 4; i++) {
    if (an[i] > THR_PART_MAXREC - nTotal) {
      *pzWhy = sqlite3_mprintf("oversized: a record over %d MiB",
                               (int)(THR_PART_MAXREC >> 20));
      return NULL;
    }
    nTotal += an[i];
  }
  if (an[THR_BLK_RECORD] == 0) {
    *pzWhy = sqlite3_mprintf("decode: a record without its record block");
    return NULL;
  }
  if (pPart && memcmp(pPart->an, an, sizeof(pPart->an)) == 0) {
    return pPart;
  }
  if (pPart) { /* announced again with other sizes: start again */
    thr_part_drop(pSet, pPart);
  }
  /* One assembly per source: it is replaced once idle, else busy. */
  for (q = pSet->pList; q; q = q->pNext) {
    if (q->from == from) {
      break;
    }
  }
  if (q && tNow - q->tLast < THR_PART_YIELD_MS) {
    *pzWhy = sqlite3_mprintf("busy: a large record from this source is"
                             " already arriving");
    return NULL;
  }
  thr_part_drop(pSet, q);
  if (pSet->n >= THR_PART_MAX) {
    thr_part *pOld = part_idlest(pSet, NULL, tNow);
    if (pOld == NULL) {
      *pzWhy = sqlite3_mprintf("busy: %d large records already arriving",
                               THR_PART_MAX);
      return NULL;
    }
    thr_part_drop(pSet, pOld);
  }
  pPart = sqlite3_malloc64(sizeof(*pPart));
  if (pPart == NULL) {
    *pzWhy = sqlite3_mprintf("out of memory");
    return NULL;
  }
  memset(pPart, 0, sizeof(*pPart));
  pPart->iThread = iThread;
  memcpy(pPart->pk, pk, 32);
  pPart->counter = counter;
  pPart->from = from;
  memcpy(pPart->an, an, sizeof(pPart->an));
  pPart->nTotal = nTotal;
  pPart->fd = -1;
  pPart->tLast = tNow;
  pPart->pNext = pSet->pList;
  pSet->pList = pPart;
  pSet->n++;
  return pPart;
}

int thr_part_add(thr_part_set *pSet, thr_part *pPart, size_t iOff,
                 const unsigned char *a, size_t n, sqlite3_int64 tNow) {
  size_t nMax = pSet->nSpillMax ? pSet->nSpillMax : THR_PART_SPILL;
  if (iOff != pPart->nGot) {
    return THR_PART_STALE;
  }
  if (n == 0 || a == NULL || n > pPart->nTotal - pPart->nGot) {
    return THR_PART_BAD;
  }
  /* Room in THR_PART_SPILL: taken from assemblies that stopped. */
  while (pSet->nSpill > nMax || n > nMax - pSet->nSpill) {
    thr_part *pOld = part_idlest(pSet, pPart, tNow);
    if (pOld == NULL) {
      return THR_PART_FULL;
    }
    thr_part_drop(pSet, pOld);
  }
  if (pPart->fd < 0 && (pPart->fd = part_file(pSet)) < 0) {
    return SQLITE_IOERR;
  }
  if (part_pwrite(pPart->fd, a, n, iOff) != 0) {
    return SQLITE_IOERR; /* what was written past nGot is overwritten later */
  }
  pPart->nGot += n;
  pSet->nSpill += n;
  if (n >= THR_PART_MINFEED || pPart->nGot == pPart->nTotal) {
    pPart->tLast = tNow;
  }
  return pPart->nGot == pPart->nTotal ? THR_PART_DONE : THR_PART_MORE;
}

int thr_part_record(thr_part *pPart, thr_wire_rec *pRec) {
  size_t iOff = 0;
  int i;
  memset(pRec, 0, sizeof(*pRec));
  if (pPart->nGot != pPart->nTotal || pPart->fd < 0) {
    return SQLITE_MISUSE; /* not whole (nTotal > 0: the record block) */
  }
  if (pPart->a == NULL) {
    void *pMap =
        mmap(NULL, pPart->nTotal, PROT_READ, MAP_PRIVATE, pPart->fd, 0);
    if (pMap == MAP_FAILED) {
      return SQLITE_IOERR;
    }
    pPart->a = pMap;
  }
  pRec->counter = pPart->counter;
  for (i = 0; i < 4; i++) {
    pRec->a[i] = pPart->an[i] ? pPart->a + iOff : NULL;
    pRec->n[i] = pPart->an[i];
    iOff += pPart->an[i];
  }
  return SQLITE_OK;
}

void thr_part_drop(thr_part_set *pSet, thr_part *pPart) {
  if (pPart) {
    part_unlink(pSet, pPart);
    part_free(pSet, pPart);
  }
}

void thr_part_drop_from(thr_part_set *pSet, sqlite3_uint64 from) {
  thr_part *pPart = pSet->pList, *pNext;
  for (; pPart; pPart = pNext) {
    pNext = pPart->pNext;
    if (pPart->from == from) {
      thr_part_drop(pSet, pPart);
    }
  }
}

void thr_part_clear(thr_part_set *pSet) {
  while (pSet->pList) {
    thr_part_drop(pSet, pSet->pList);
  }
}

int thr_part_sweep(thr_part_set *pSet, sqlite3_int64 tNow) {
  thr_part *pPart = pSet->pList, *pNext;
  int n = 0;
  for (; pPart; pPart = pNext) {
    pNext = pPart->pNext;
    if (tNow - pPart->tLast >= THR_PART_IDLE_MS) {
      thr_part_drop(pSet, pPart);
      n++;
    }
  }
  return n;
}
