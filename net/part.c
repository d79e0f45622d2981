/*
** part.c: large records put together from pieces (see thr_part.h).
*/
#include "thr_part.h"

#include <string.h>

static void part_free(thr_part *pPart) {
  sqlite3_free(pPart->a);
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
  thr_part *pPart = thr_part_find(pSet, iThread, pk, counter, from);
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
  if (pSet->n >= THR_PART_MAX) {
    /* Evict the idlest, if it has been idle long enough. */
    thr_part *pOld = NULL, *q;
    for (q = pSet->pList; q; q = q->pNext) {
      if (pOld == NULL || q->tLast < pOld->tLast) {
        pOld = q;
      }
    }
    if (pOld == NULL || tNow - pOld->tLast < THR_PART_IDLE_MS) {
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
  pPart->tLast = tNow;
  pPart->pNext = pSet->pList;
  pSet->pList = pPart;
  pSet->n++;
  return pPart;
}

int thr_part_add(thr_part *pPart, size_t iOff, const unsigned char *a, size_t n,
                 sqlite3_int64 tNow) {
  if (iOff != pPart->nGot) {
    return THR_PART_STALE;
  }
  if (n == 0 || a == NULL || n > pPart->nTotal - pPart->nGot) {
    return THR_PART_BAD;
  }
  if (pPart->nGot + n > pPart->nAlloc) {
    /* Grow by doubling, up to the announced size: memory follows the
    ** bytes received, not the bytes announced. */
    size_t nNew = pPart->nAlloc ? pPart->nAlloc * 2 : 1024 * 1024;
    unsigned char *aNew;
    while (nNew < pPart->nGot + n) {
      nNew *= 2;
    }
    if (nNew > pPart->nTotal) {
      nNew = pPart->nTotal;
    }
    aNew = sqlite3_realloc64(pPart->a, nNew);
    if (aNew == NULL) {
      return SQLITE_NOMEM;
    }
    pPart->a = aNew;
    pPart->nAlloc = nNew;
  }
  memcpy(pPart->a + pPart->nGot, a, n);
  pPart->nGot += n;
  pPart->tLast = tNow;
  return pPart->nGot == pPart->nTotal ? THR_PART_DONE : THR_PART_MORE;
}

void thr_part_record(const thr_part *pPart, thr_wire_rec *pRec) {
  size_t iOff = 0;
  int i;
  memset(pRec, 0, sizeof(*pRec));
  pRec->counter = pPart->counter;
  for (i = 0; i < 4; i++) {
    pRec->a[i] = pPart->an[i] ? pPart->a + iOff : NULL;
    pRec->n[i] = pPart->an[i];
    iOff += pPart->an[i];
  }
}

void thr_part_drop(thr_part_set *pSet, thr_part *pPart) {
  if (pPart) {
    part_unlink(pSet, pPart);
    part_free(pPart);
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
