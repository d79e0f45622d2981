/*
** txn.c: the collection writes of a connection's open transaction.
**
** Each write's action is staged here, per thread, already encoded (see the
** body format in body.c); at COMMIT (xSync) the actions of each thread are
** sealed into one record of this identity's log (thr_store_append), so one
** COMMIT is one record and ROLLBACK is nothing.  SAVEPOINT marks remember
** how much was staged, so ROLLBACK TO drops the actions after the mark, as
** SQLite drops their shadow rows.  Changes are reported to the subscriber
** (ext/threads.h) after COMMIT.  ULIDs for documents without an _id are
** made here too: monotonic within a millisecond per connection.
*/
#include "thr_core.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static thr_txn *txn_get(thr_store *pStore);

/* The longest body header: a 1-pair map (1 byte), "actions" (8), and the
** array's head with a 64-bit count (9). */
#define TXN_HDR_ROOM 18

typedef struct txn_thread txn_thread;
struct txn_thread {
  thr_tid tid;
  thr_cw w; /* TXN_HDR_ROOM bytes, then the encoded actions; w.a owned */
  int nAct;
};

typedef struct txn_mark txn_mark;
typedef struct txn_change txn_change;
struct txn_change {
  char *zThread, *zColl, *zId, *zAuthor; /* Owned */
  int eType;
};

struct txn_mark {
  int iSavepoint;
  int nChange;
  int nThread;
  size_t *anByte; /* per thread: bytes and actions at the mark */
  int *anAct;
};

struct thr_txn {
  txn_thread *aThread; /* staged actions per thread */
  int nThread;
  txn_mark *aMark; /* open savepoints, innermost last */
  int nMark;
  uint64_t ulidMs; /* last ULID time and randomness */
  unsigned char ulidRand[10];
  thr_change_fn xChange;
  void *pChangeArg;
  txn_change *aChange; /* changes to report at commit */
  int nChange;
};

static void txn_changes_clear(thr_txn *p, int nKeep) {
  while (p->nChange > nKeep) {
    txn_change *pC = &p->aChange[--p->nChange];
    sqlite3_free(pC->zThread);
    sqlite3_free(pC->zColl);
    sqlite3_free(pC->zId);
    sqlite3_free(pC->zAuthor);
  }
}

/* Remember a change for the subscriber; only when there is one. */
int thr_txn_note_change(thr_store *pStore, const thr_tid *pTid,
                        const thr_action *pAct, const char *zAuthor) {
  thr_txn *p = txn_get(pStore);
  txn_change *aNew, *pC;
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  if (p->xChange == NULL) {
    return SQLITE_OK;
  }
  aNew = sqlite3_realloc64(p->aChange,
                           sizeof(txn_change) * (size_t)(p->nChange + 1));
  if (aNew == NULL) {
    return SQLITE_NOMEM;
  }
  p->aChange = aNew;
  pC = &aNew[p->nChange++];
  pC->zThread = thr_tid_text(pTid);
  pC->zColl = sqlite3_mprintf("%s", pAct->zColl);
  pC->zId = sqlite3_mprintf("%s", pAct->zId);
  pC->zAuthor = sqlite3_mprintf("%s", zAuthor);
  pC->eType = pAct->eType;
  return SQLITE_OK;
}

static void txn_marks_clear(thr_txn *p, int nKeep) {
  while (p->nMark > nKeep) {
    txn_mark *pM = &p->aMark[--p->nMark];
    sqlite3_free(pM->anByte);
    sqlite3_free(pM->anAct);
  }
}

static void txn_free(void *pArg) {
  thr_txn *p = pArg;
  int i;
  if (p == NULL) {
    return;
  }
  txn_marks_clear(p, 0);
  sqlite3_free(p->aMark);
  txn_changes_clear(p, 0);
  sqlite3_free(p->aChange);
  for (i = 0; i < p->nThread; i++) {
    sqlite3_free(p->aThread[i].w.a);
  }
  sqlite3_free(p->aThread);
  sqlite3_free(p);
}

static thr_txn *txn_get(thr_store *pStore) {
  thr_txn **pp =
      (thr_txn **)thr_store_slot(pStore, THR_SLOT_TXN, txn_free, NULL);
  if (*pp == NULL) {
    *pp = sqlite3_malloc64(sizeof(thr_txn));
    if (*pp) {
      memset(*pp, 0, sizeof(thr_txn));
    }
  }
  return *pp;
}

/* The open transaction's state, or NULL if the connection has none. */
static thr_txn *txn_peek(thr_store *pStore) {
  return *(thr_txn **)thr_store_slot(pStore, THR_SLOT_TXN, txn_free, NULL);
}

void thr_ulid_new(thr_store *pStore, char zOut[27]) {
  static const char zAlpha[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  thr_txn *p = txn_get(pStore);
  unsigned char a[16];
  uint64_t ms = (uint64_t)thr_now_ms();
  int i, bit;
  if (p && ms <= p->ulidMs) {
    /* Same millisecond: the previous randomness plus one keeps order. */
    ms = p->ulidMs;
    for (i = 9; i >= 0 && ++p->ulidRand[i] == 0; i--) {
    }
  } else if (p) {
    p->ulidMs = ms;
    randombytes_buf(p->ulidRand, sizeof(p->ulidRand));
  }
  for (i = 0; i < 6; i++) {
    a[i] = (unsigned char)(ms >> (40 - 8 * i));
  }
  if (p) {
    memcpy(a + 6, p->ulidRand, 10);
  } else {
    randombytes_buf(a + 6, 10);
  }
  /* 128 bits as 26 base32 digits: the first digit carries 3 bits. */
  for (i = 0, bit = -2; i < 26; i++, bit += 5) {
    int v = 0, k;
    for (k = 0; k < 5; k++) {
      int b = bit + k;
      v <<= 1;
      if (b >= 0) {
        v |= (a[b / 8] >> (7 - b % 8)) & 1;
      }
    }
    zOut[i] = zAlpha[v];
  }
  zOut[26] = 0;
}

/**************************************************************************
** Staging actions.
*/
int thr_txn_stage(thr_store *pStore, const thr_tid *pTid,
                  const thr_action *pAct) {
  thr_txn *p = txn_get(pStore);
  txn_thread *pT = NULL;
  int i;
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  for (i = 0; i < p->nThread; i++) {
    if (p->aThread[i].tid.n == pTid->n &&
        memcmp(p->aThread[i].tid.a, pTid->a, (size_t)pTid->n) == 0) {
      pT = &p->aThread[i];
      break;
    }
  }
  if (pT == NULL) {
    txn_thread *aNew = sqlite3_realloc64(
        p->aThread, sizeof(txn_thread) * (size_t)(p->nThread + 1));
    if (aNew == NULL) {
      return SQLITE_NOMEM;
    }
    p->aThread = aNew;
    pT = &aNew[p->nThread++];
    memset(pT, 0, sizeof(*pT));
    pT->tid = *pTid;
    pT->w.bGrow = 1;
  }
  pT->w.rc = SQLITE_OK;
  if (pT->w.n == 0) {
    /* Room for the body's header, written in front of the actions when
    ** the transaction is sealed: the body is then never copied. */
    static const unsigned char aZero[TXN_HDR_ROOM];
    thr_cw_raw(&pT->w, aZero, sizeof(aZero));
  }
  thr_action_encode(&pT->w, pAct);
  if (pT->w.rc != SQLITE_OK) {
    return pT->w.rc;
  }
  pT->nAct++;
  return SQLITE_OK;
}

int thr_txn_seal(thr_store *pStore, char **pzErr) {
  thr_txn *p = txn_peek(pStore);
  int i, rc = SQLITE_OK;
  if (p == NULL) {
    return SQLITE_OK;
  }
  thr_store_set_inline(pStore, 1);
  rc = thr_reduce_recompute(pStore, 0, pzErr);
  for (i = 0; rc == SQLITE_OK && i < p->nThread; i++) {
    txn_thread *pT = &p->aThread[i];
    unsigned char aHdr[TXN_HDR_ROOM];
    thr_cw h = {aHdr, 0, sizeof(aHdr), SQLITE_OK, 0};
    unsigned char *aBody;
    if (pT->nAct == 0) {
      continue;
    }
    /* {"actions": [...]}: the header, written into the room left in front
    ** of the actions as staged. */
    thr_cw_map(&h, 1);
    thr_cw_text(&h, "actions");
    thr_cw_array(&h, (size_t)pT->nAct);
    if (h.rc != SQLITE_OK) {
      rc = h.rc;
      break;
    }
    aBody = pT->w.a + TXN_HDR_ROOM - h.n;
    memcpy(aBody, aHdr, h.n);
    rc = thr_store_append(pStore, &pT->tid, aBody,
                          h.n + pT->w.n - TXN_HDR_ROOM, NULL, pzErr);
    if (rc == SQLITE_OK) {
      pT->nAct = 0;
      pT->w.n = 0;
    }
  }
  if (rc == SQLITE_OK) {
    rc = thr_reduce_flush(pStore, pzErr); /* the views' state, records in */
  }
  thr_store_set_inline(pStore, 0);
  return rc;
}

static void txn_clear(thr_txn *p) {
  int i;
  for (i = 0; i < p->nThread; i++) {
    p->aThread[i].nAct = 0;
    p->aThread[i].w.n = 0;
  }
  txn_marks_clear(p, 0);
}

void thr_txn_commit(thr_store *pStore) {
  thr_txn *p = txn_peek(pStore);
  int i;
  if (p == NULL) {
    return;
  }
  txn_clear(p);
  for (i = 0; p->xChange && i < p->nChange; i++) {
    txn_change *pC = &p->aChange[i];
    p->xChange(p->pChangeArg, pC->zThread, pC->zColl, pC->zId,
               thr_action_type_name(pC->eType), pC->zAuthor);
  }
  txn_changes_clear(p, 0);
  thr_store_committed(pStore);
}

void thr_txn_rollback(thr_store *pStore) {
  thr_txn *p = txn_peek(pStore);
  thr_reduce_rollback(pStore);
  if (p) {
    txn_clear(p);
    txn_changes_clear(p, 0);
  }
}

void thr_txn_savepoint(thr_store *pStore, int iSavepoint) {
  thr_txn *p = txn_get(pStore);
  txn_mark *pM, *aNew;
  int i;
  if (p == NULL) {
    return;
  }
  /* Every table in the transaction reports the same savepoint. */
  if (p->nMark > 0 && p->aMark[p->nMark - 1].iSavepoint == iSavepoint) {
    return;
  }
  aNew = sqlite3_realloc64(p->aMark, sizeof(txn_mark) * (size_t)(p->nMark + 1));
  if (aNew == NULL) {
    return;
  }
  p->aMark = aNew;
  pM = &aNew[p->nMark];
  memset(pM, 0, sizeof(*pM));
  pM->iSavepoint = iSavepoint;
  pM->nChange = p->nChange;
  pM->nThread = p->nThread;
  if (p->nThread) {
    pM->anByte = sqlite3_malloc64(sizeof(size_t) * (size_t)p->nThread);
    pM->anAct = sqlite3_malloc64(sizeof(int) * (size_t)p->nThread);
    if (pM->anByte == NULL || pM->anAct == NULL) {
      sqlite3_free(pM->anByte);
      sqlite3_free(pM->anAct);
      return;
    }
    for (i = 0; i < p->nThread; i++) {
      pM->anByte[i] = p->aThread[i].w.n;
      pM->anAct[i] = p->aThread[i].nAct;
    }
  }
  p->nMark++;
}

/* The index of the outermost mark at or above iSavepoint, or -1. */
static int txn_find_mark(thr_txn *p, int iSavepoint) {
  int i;
  for (i = 0; i < p->nMark; i++) {
    if (p->aMark[i].iSavepoint >= iSavepoint) {
      return i;
    }
  }
  return -1;
}

void thr_txn_rollback_to(thr_store *pStore, int iSavepoint) {
  thr_txn *p = txn_peek(pStore);
  txn_mark *pM;
  int i, k;
  if (p == NULL || (k = txn_find_mark(p, iSavepoint)) < 0) {
    return;
  }
  pM = &p->aMark[k];
  for (i = 0; i < p->nThread; i++) {
    p->aThread[i].w.n = i < pM->nThread ? pM->anByte[i] : 0;
    p->aThread[i].nAct = i < pM->nThread ? pM->anAct[i] : 0;
  }
  txn_changes_clear(p, pM->nChange);
  /* The savepoint itself stays open; the ones inside it are gone. */
  txn_marks_clear(p, k + 1);
}

void thr_txn_release(thr_store *pStore, int iSavepoint) {
  thr_txn *p = txn_peek(pStore);
  int k;
  if (p && (k = txn_find_mark(p, iSavepoint)) >= 0) {
    txn_marks_clear(p, k);
  }
}

int thr_txn_subscribe(thr_store *pStore, thr_change_fn xChange, void *pArg) {
  thr_txn *p = txn_get(pStore);
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  p->xChange = xChange;
  p->pChangeArg = pArg;
  return SQLITE_OK;
}

int thr_txn_next_index(thr_store *pStore, const thr_tid *pTid) {
  thr_txn *p = txn_peek(pStore);
  int i;
  for (i = 0; p && i < p->nThread; i++) {
    if (p->aThread[i].tid.n == pTid->n &&
        memcmp(p->aThread[i].tid.a, pTid->a, (size_t)pTid->n) == 0) {
      return p->aThread[i].nAct;
    }
  }
  return 0;
}
