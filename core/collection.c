/*
** collection.c: collections, the actions of a transaction, the reducer.
**
** ACTION FORMAT (inside a record body, dag-cbor)
**
**   body   = {"actions": [action, ...]}      one body per SQL transaction
**   action = {"id":   text   document _id (absent for "collection"),
**             "hlc":  uint   hybrid logical clock (ms << 16 | counter),
**             "coll": text   collection name,
**             "json": text   canonical JSON (sorted keys, compact):
**                            create: the whole document, "_id" included;
**                            save:   a merge patch of the changed top-level
**                                    fields with their whole new values
**                                    (null removes), "_id" included;
**                            collection: the JSON Schema;
**                            absent for delete,
**             "type": text   "create" | "save" | "delete" | "collection"}
**
**   Keys in dag-cbor canonical order: id, hlc, coll, json, type.
**
** MERGE RULE (the reducer; order-independent, so peers converge)
**
**   A write's clock is (hlc, log ID), compared as 8 big-endian bytes of
**   hlc followed by the 32-byte log public key.  Per document the view
**   keeps a tombstone clock D and a clock per top-level field (the field is
**   the unit of last-writer-wins; "_id" counts as a field):
**     create c:  if c > D: D := c; fields older than c go; the document's
**                fields are set at c except where a newer write exists.
**     save c:    each patched field f is set (or removed, for null) if
**                c >= D and c is newer than f's clock.
**     delete d:  if d > D: D := d; fields older than d go.
**   A document is visible while its "_id" field is (a save after a delete
**   revives it with the fields written after the delete).
**
** REMOTE ACTIONS (every action not written here: thr_apply_body) are
**   judged by the collection's schema before they apply, on the action
**   alone so that every peer judges alike: a create's document must be
**   valid; a save may not remove "_id" or a required field, and the fields
**   it sets must pass the schema's field rules (properties,
**   patternProperties, additionalProperties).  Refused actions are counted
**   and change nothing.
**
** SHADOW TABLE of view V: "V_data"(_id TEXT PRIMARY KEY, <one column per
**   mirrored property>, _rest TEXT, _log INTEGER, _hlc INTEGER,
**   _live INTEGER, _clock BLOB) WITHOUT ROWID, where
**   - a field lives in its column when the column gives it back exactly
**     (thr_doc_rest); _rest is a JSON object of the other fields, NULL
**     when there are none (the common case: rows as narrow as a plain
**     table's);
**   - (_hlc, _log) is the newest clock of the document: hlc and the
**     _threads_log row of its log (which also names the author);
**   - _live is 1 while the document is visible;
**   - _clock = D(40) || base(40) || { u8 n || name (n bytes) || c(40) }*,
**     base the clock of fields without an entry of their own; NULL (the
**     short form, a document as created) when D = base = (_hlc, _log) and
**     there are no entries.
*/
#include "thr_core.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLOCK_BYTES 40

/**************************************************************************
** Clocks and identifiers.
*/
uint64_t thr_hlc_tick(uint64_t *pLast, int64_t nowMs) {
  uint64_t now = (uint64_t)nowMs << 16;
  *pLast = now > *pLast ? now : *pLast + 1;
  return *pLast;
}

void thr_hlc_observe(uint64_t *pLast, uint64_t remote) {
  if (remote > *pLast) {
    *pLast = remote;
  }
}

static void clock_make(unsigned char c[CLOCK_BYTES], uint64_t hlc,
                       const unsigned char logPk[32]) {
  int i;
  for (i = 0; i < 8; i++) {
    c[i] = (unsigned char)(hlc >> (56 - 8 * i));
  }
  memcpy(c + 8, logPk, 32);
}

static int clock_cmp(const unsigned char *a, const unsigned char *b) {
  return memcmp(a, b, CLOCK_BYTES);
}

/**************************************************************************
** Per-connection state: staged actions, savepoint marks, view cache.
*/
typedef struct txn_thread txn_thread;
struct txn_thread {
  thr_tid tid;
  thr_cw w; /* encoded actions, growing; w.a owned */
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

/* A collection's schema, compiled for actions that were not written here:
** pFull checks a create's document, pPatch a save's changed fields. */
typedef struct txn_schema txn_schema;
struct txn_schema {
  sqlite3_int64 iThread;
  char *zColl;
  thr_schema *pFull, *pPatch; /* both NULL: no such collection here */
  json_t *pRequired;          /* the schema's "required" array, or NULL */
  txn_schema *pNext;
};

/* A view of collection zColl of thread iThread, with its statements.  An
** entry with zView NULL (and nothing else set) remembers that the
** collection has no view here, so that the reducer does not query
** _threads_view again for every action of it: a peer that joins a thread
** stores records before its tables exist.  It goes with the rest of the
** cache (thr_txn_release_stmts), so a table created later is seen. */
typedef struct txn_view txn_view;
struct txn_view {
  char *zView; /* NULL: no views of (iThread, zColl) */
  sqlite3_int64 iThread;
  char *zColl;
  int nProp;
  char **azProp;
  int *aeKind; /* THR_PT_* per property */
  sqlite3_stmt *pSel, *pIns, *pUpd;
  txn_view *pNext;
};

struct thr_txn {
  uint64_t hlc;        /* last clock issued or seen */
  txn_thread *aThread; /* staged actions per thread */
  int nThread;
  txn_mark *aMark; /* open savepoints, innermost last */
  int nMark;
  txn_view *pViews; /* cached view descriptors... */
  int iCookie;      /* ...valid for this schema cookie */
  uint64_t ulidMs;  /* last ULID time and randomness */
  unsigned char ulidRand[10];
  thr_change_fn xChange;
  void *pChangeArg;
  txn_change *aChange; /* changes to report at commit */
  int nChange;
  txn_schema *pSchemas; /* compiled schemas of remote actions' collections */
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
static int txn_note_change(thr_txn *p, const thr_tid *pTid,
                           const thr_action *pAct, const char *zAuthor) {
  txn_change *aNew, *pC;
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

static void view_free(txn_view *pV) {
  int i;
  sqlite3_finalize(pV->pSel);
  sqlite3_finalize(pV->pIns);
  sqlite3_finalize(pV->pUpd);
  for (i = 0; i < pV->nProp; i++) {
    sqlite3_free(pV->azProp[i]);
  }
  sqlite3_free(pV->azProp);
  sqlite3_free(pV->aeKind);
  sqlite3_free(pV->zView);
  sqlite3_free(pV->zColl);
  sqlite3_free(pV);
}

void thr_txn_release_stmts(thr_txn *p) {
  if (p == NULL) {
    return;
  }
  while (p->pViews) {
    txn_view *pV = p->pViews;
    p->pViews = pV->pNext;
    view_free(pV);
  }
}

static void txn_marks_clear(thr_txn *p, int nKeep) {
  while (p->nMark > nKeep) {
    txn_mark *pM = &p->aMark[--p->nMark];
    sqlite3_free(pM->anByte);
    sqlite3_free(pM->anAct);
  }
}

void thr_txn_free(thr_txn *p) {
  int i;
  if (p == NULL) {
    return;
  }
  thr_txn_release_stmts(p);
  txn_marks_clear(p, 0);
  sqlite3_free(p->aMark);
  txn_changes_clear(p, 0);
  sqlite3_free(p->aChange);
  for (i = 0; i < p->nThread; i++) {
    sqlite3_free(p->aThread[i].w.a);
  }
  sqlite3_free(p->aThread);
  while (p->pSchemas) {
    txn_schema *pS = p->pSchemas;
    p->pSchemas = pS->pNext;
    thr_schema_free(pS->pFull);
    thr_schema_free(pS->pPatch);
    sqlite3_free(pS->zColl);
    sqlite3_free(pS);
  }
  sqlite3_free(p);
}

static thr_txn *txn_get(thr_store *pStore) {
  thr_txn **pp = thr_store_txn(pStore);
  if (*pp == NULL) {
    *pp = sqlite3_malloc64(sizeof(thr_txn));
    if (*pp) {
      memset(*pp, 0, sizeof(thr_txn));
      (*pp)->iCookie = -1;
    }
  }
  return *pp;
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

/* Encode one action onto w. */
static void action_encode(thr_cw *w, const thr_action *pAct) {
  static const char *azType[] = {"", "create", "save", "delete", "collection"};
  int nField = 3 + (pAct->zId != NULL) + (pAct->zJson != NULL);
  thr_cw_map(w, (size_t)nField);
  if (pAct->zId) {
    thr_cw_text(w, "id");
    thr_cw_text(w, pAct->zId);
  }
  thr_cw_text(w, "hlc");
  thr_cw_uint(w, pAct->hlc);
  thr_cw_text(w, "coll");
  thr_cw_text(w, pAct->zColl);
  if (pAct->zJson) {
    thr_cw_text(w, "json");
    thr_cw_text(w, pAct->zJson);
  }
  thr_cw_text(w, "type");
  thr_cw_text(w, azType[pAct->eType]);
}

static int txn_stage(thr_store *pStore, const thr_tid *pTid,
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
  action_encode(&pT->w, pAct);
  if (pT->w.rc != SQLITE_OK) {
    return pT->w.rc;
  }
  pT->nAct++;
  return SQLITE_OK;
}

int thr_txn_seal(thr_store *pStore, char **pzErr) {
  thr_txn *p = *thr_store_txn(pStore);
  int i, rc = SQLITE_OK;
  if (p == NULL) {
    return SQLITE_OK;
  }
  thr_store_set_inline(pStore, 1);
  for (i = 0; rc == SQLITE_OK && i < p->nThread; i++) {
    txn_thread *pT = &p->aThread[i];
    unsigned char aHdr[32];
    thr_cw h = {aHdr, 0, sizeof(aHdr), SQLITE_OK, 0};
    unsigned char *aBody;
    if (pT->nAct == 0) {
      continue;
    }
    /* {"actions": [...]}: the header, then the actions as staged. */
    thr_cw_map(&h, 1);
    thr_cw_text(&h, "actions");
    thr_cw_array(&h, (size_t)pT->nAct);
    aBody = sqlite3_malloc64(h.n + pT->w.n);
    if (aBody == NULL) {
      rc = SQLITE_NOMEM;
      break;
    }
    memcpy(aBody, aHdr, h.n);
    memcpy(aBody + h.n, pT->w.a, pT->w.n);
    rc = thr_store_append(pStore, &pT->tid, aBody, h.n + pT->w.n, NULL, pzErr);
    sqlite3_free(aBody);
    if (rc == SQLITE_OK) {
      pT->nAct = 0;
      pT->w.n = 0;
    }
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
  static const char *azType[] = {"", "create", "save", "delete", ""};
  thr_txn *p = *thr_store_txn(pStore);
  int i;
  if (p == NULL) {
    return;
  }
  txn_clear(p);
  for (i = 0; p->xChange && i < p->nChange; i++) {
    txn_change *pC = &p->aChange[i];
    p->xChange(p->pChangeArg, pC->zThread, pC->zColl, pC->zId,
               azType[pC->eType], pC->zAuthor);
  }
  txn_changes_clear(p, 0);
  thr_store_committed(pStore);
}

void thr_txn_rollback(thr_store *pStore) {
  thr_txn *p = *thr_store_txn(pStore);
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
  thr_txn *p = *thr_store_txn(pStore);
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
  thr_txn *p = *thr_store_txn(pStore);
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

/**************************************************************************
** Collections and views.
*/
/* The schema text of collection zColl of thread row iThread (owned), or
** SQLITE_NOTFOUND. */
static int coll_schema_text(thr_store *pStore, sqlite3_int64 iThread,
                            const char *zColl, char **pzSchema, char **pzErr) {
  sqlite3 *db = thr_store_db(pStore);
  sqlite3_stmt *pStmt = NULL;
  int rc;
  *pzSchema = NULL;
  rc = sqlite3_prepare_v2(db,
                          "SELECT schema FROM _threads_collection"
                          " WHERE tid = ?1 AND name = ?2",
                          -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, iThread);
    sqlite3_bind_text(pStmt, 2, zColl, -1, SQLITE_STATIC);
    if (sqlite3_step(pStmt) == SQLITE_ROW) {
      *pzSchema = sqlite3_mprintf("%s", sqlite3_column_text(pStmt, 0));
      rc = *pzSchema ? SQLITE_OK : SQLITE_NOMEM;
    } else {
      rc = SQLITE_NOTFOUND;
    }
  } else {
    *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(db));
  }
  sqlite3_finalize(pStmt);
  return rc;
}

int thr_coll_schema(thr_store *pStore, const thr_tid *pTid, const char *zColl,
                    char **pzSchema, char **pzErr) {
  sqlite3_int64 iThread;
  int bWrite;
  int rc = thr_store_thread_row(pStore, pTid, &iThread, &bWrite, pzErr);
  *pzSchema = NULL;
  return rc == SQLITE_OK
             ? coll_schema_text(pStore, iThread, zColl, pzSchema, pzErr)
             : rc;
}

int thr_coll_define(thr_store *pStore, const thr_tid *pTid, const char *zColl,
                    const char *zSchema, char **pzErr) {
  sqlite3 *db = thr_store_db(pStore);
  sqlite3_stmt *pStmt = NULL;
  char *zOld = NULL;
  sqlite3_int64 iThread;
  int bWrite, rc;
  thr_action act;

  rc = thr_store_setup(pStore, pzErr);
  if (rc == SQLITE_OK) {
    rc = thr_store_thread_row(pStore, pTid, &iThread, &bWrite, pzErr);
  }
  if (rc != SQLITE_OK) {
    return rc;
  }
  rc = coll_schema_text(pStore, iThread, zColl, &zOld, pzErr);
  if (rc == SQLITE_OK) {
    if (strcmp(zOld, zSchema) != 0) {
      *pzErr = sqlite3_mprintf("collection %s already exists in this thread "
                               "with another schema; connect to it without "
                               "a schema",
                               zColl);
      rc = SQLITE_ERROR;
    }
    sqlite3_free(zOld);
    return rc;
  }
  if (rc != SQLITE_NOTFOUND) {
    return rc;
  }
  if (!bWrite) {
    *pzErr = sqlite3_mprintf("cannot write to this thread: this peer holds "
                             "only its service key");
    return SQLITE_READONLY;
  }
  rc = sqlite3_prepare_v2(db,
                          "INSERT INTO _threads_collection(tid, name, schema)"
                          " VALUES (?1, ?2, ?3)",
                          -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, iThread);
    sqlite3_bind_text(pStmt, 2, zColl, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 3, zSchema, -1, SQLITE_STATIC);
    rc = sqlite3_step(pStmt) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
  }
  if (rc != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(db));
  }
  sqlite3_finalize(pStmt);
  if (rc == SQLITE_OK) {
    thr_txn *p = txn_get(pStore);
    if (p == NULL) {
      return SQLITE_NOMEM;
    }
    memset(&act, 0, sizeof(act));
    act.eType = THR_ACT_COLL;
    act.zColl = zColl;
    act.zJson = zSchema;
    act.hlc = thr_hlc_tick(&p->hlc, thr_now_ms());
    rc = txn_stage(pStore, pTid, &act);
  }
  return rc;
}

int thr_view_register(thr_store *pStore, const char *zView, const thr_tid *pTid,
                      const char *zColl, const char *zProps, char **pzErr) {
  sqlite3 *db = thr_store_db(pStore);
  sqlite3_stmt *pStmt = NULL;
  sqlite3_int64 iThread;
  int bWrite;
  int rc = thr_store_thread_row(pStore, pTid, &iThread, &bWrite, pzErr);
  if (rc != SQLITE_OK) {
    return rc;
  }
  rc = sqlite3_prepare_v2(db,
                          "INSERT OR REPLACE INTO _threads_view(view, tid, "
                          "coll, props) VALUES (?1, ?2, ?3, ?4)",
                          -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zView, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 2, iThread);
    sqlite3_bind_text(pStmt, 3, zColl, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 4, zProps, -1, SQLITE_STATIC);
    rc = sqlite3_step(pStmt) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
  }
  if (rc != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(db));
  }
  sqlite3_finalize(pStmt);
  thr_txn_release_stmts(*thr_store_txn(pStore));
  return rc;
}

int thr_view_unregister(thr_store *pStore, const char *zView, char **pzErr) {
  char *zSql =
      sqlite3_mprintf("DELETE FROM _threads_view WHERE view = %Q", zView);
  int rc;
  if (zSql == NULL) {
    return SQLITE_NOMEM;
  }
  thr_txn_release_stmts(*thr_store_txn(pStore));
  rc = sqlite3_exec(thr_store_db(pStore), zSql, NULL, NULL, pzErr);
  sqlite3_free(zSql);
  return rc;
}

/* Remember that collection zColl of thread iThread has no views.  Only a
** cache: when memory is short it is simply not remembered. */
static void view_none(thr_txn *p, sqlite3_int64 iThread, const char *zColl) {
  txn_view *pV = sqlite3_malloc64(sizeof(*pV));
  if (pV == NULL) {
    return;
  }
  memset(pV, 0, sizeof(*pV));
  pV->iThread = iThread;
  pV->zColl = sqlite3_mprintf("%s", zColl);
  if (pV->zColl == NULL) {
    sqlite3_free(pV);
    return;
  }
  pV->pNext = p->pViews;
  p->pViews = pV;
}

/* Load all the views of collection zColl of thread iThread into the cache,
** preparing their statements; or, when it has none, remember that. */
static int view_load(thr_store *pStore, thr_txn *p, sqlite3_int64 iThread,
                     const char *zColl, char **pzErr) {
  sqlite3 *db = thr_store_db(pStore);
  sqlite3_stmt *pStmt = NULL;
  int rcStep = SQLITE_DONE, nView = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT view, props FROM _threads_view"
                              " WHERE tid = ?1 AND coll = ?2",
                              -1, &pStmt, NULL);
  if (rc != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(db));
    return rc;
  }
  sqlite3_bind_int64(pStmt, 1, iThread);
  sqlite3_bind_text(pStmt, 2, zColl, -1, SQLITE_STATIC);
  while (rc == SQLITE_OK && (rcStep = sqlite3_step(pStmt)) == SQLITE_ROW) {
    const char *zView = (const char *)sqlite3_column_text(pStmt, 0);
    json_t *pProps =
        json_loads((const char *)sqlite3_column_text(pStmt, 1), 0, NULL);
    txn_view *pV = sqlite3_malloc64(sizeof(*pV));
    sqlite3_str *pCols = sqlite3_str_new(db), *pVals = sqlite3_str_new(db);
    sqlite3_str *pSet = sqlite3_str_new(db), *pSel = sqlite3_str_new(db);
    char *zCols, *zVals, *zSet, *zSql;
    size_t i;
    if (pV == NULL || !json_is_array(pProps)) {
      rc = pV ? SQLITE_CORRUPT : SQLITE_NOMEM;
      sqlite3_free(pV);
      json_decref(pProps);
      sqlite3_free(sqlite3_str_finish(pCols));
      sqlite3_free(sqlite3_str_finish(pVals));
      sqlite3_free(sqlite3_str_finish(pSet));
      sqlite3_free(sqlite3_str_finish(pSel));
      break;
    }
    memset(pV, 0, sizeof(*pV));
    nView++;
    pV->zView = sqlite3_mprintf("%s", zView);
    pV->zColl = sqlite3_mprintf("%s", zColl);
    pV->iThread = iThread;
    pV->nProp = (int)json_array_size(pProps);
    pV->azProp = sqlite3_malloc64(sizeof(char *) * (size_t)(pV->nProp + 1));
    pV->aeKind = sqlite3_malloc64(sizeof(int) * (size_t)(pV->nProp + 1));
    pV->pNext = p->pViews;
    p->pViews = pV;
    if (pV->azProp == NULL || pV->aeKind == NULL) {
      pV->nProp = 0;
      rc = SQLITE_NOMEM;
      json_decref(pProps);
      sqlite3_free(sqlite3_str_finish(pCols));
      sqlite3_free(sqlite3_str_finish(pVals));
      sqlite3_free(sqlite3_str_finish(pSet));
      sqlite3_free(sqlite3_str_finish(pSel));
      break;
    }
    /* Columns: _id, properties..., _rest, _log, _hlc, _live, _clock. */
    sqlite3_str_appendall(pCols, "_id");
    sqlite3_str_appendall(pVals, "?1");
    sqlite3_str_appendall(pSel, "SELECT d._id");
    for (i = 0; i < (size_t)pV->nProp; i++) {
      json_t *pProp = json_array_get(pProps, i);
      const char *zProp = json_string_value(json_array_get(pProp, 0));
      pV->azProp[i] = sqlite3_mprintf("%s", zProp ? zProp : "");
      pV->aeKind[i] = (int)json_integer_value(json_array_get(pProp, 1));
      sqlite3_str_appendf(pCols, ",\"%w\"", pV->azProp[i]);
      sqlite3_str_appendf(pVals, ",?%d", (int)i + 2);
      sqlite3_str_appendf(pSet, "\"%w\"=?%d,", pV->azProp[i], (int)i + 2);
      sqlite3_str_appendf(pSel, ",d.\"%w\"", pV->azProp[i]);
    }
    json_decref(pProps);
    sqlite3_str_appendf(pSel,
                        ",d._rest,d._clock,d._live,d._hlc,(SELECT pk FROM "
                        "_threads_log WHERE lid = d._log) FROM \"%w_data\" "
                        "AS d WHERE d._id = ?1",
                        zView);
    sqlite3_str_appendall(pCols, ",_rest,_log,_hlc,_live,_clock");
    sqlite3_str_appendf(pVals, ",?%d,?%d,?%d,?%d,?%d", pV->nProp + 2,
                        pV->nProp + 3, pV->nProp + 4, pV->nProp + 5,
                        pV->nProp + 6);
    sqlite3_str_appendf(pSet,
                        "_rest=?%d,_log=?%d,_hlc=?%d,_live=?%d,"
                        "_clock=?%d",
                        pV->nProp + 2, pV->nProp + 3, pV->nProp + 4,
                        pV->nProp + 5, pV->nProp + 6);
    zCols = sqlite3_str_finish(pCols);
    zVals = sqlite3_str_finish(pVals);
    zSet = sqlite3_str_finish(pSet);
    zSql = sqlite3_str_finish(pSel);
    pSel = NULL;
    rc = zSql ? sqlite3_prepare_v3(db, zSql, -1, SQLITE_PREPARE_PERSISTENT,
                                   &pV->pSel, NULL)
              : SQLITE_NOMEM;
    sqlite3_free(zSql);
    if (rc == SQLITE_OK) {
      zSql = sqlite3_mprintf("INSERT INTO \"%w_data\"(%s) VALUES (%s)", zView,
                             zCols, zVals);
      rc = zSql ? sqlite3_prepare_v3(db, zSql, -1, SQLITE_PREPARE_PERSISTENT,
                                     &pV->pIns, NULL)
                : SQLITE_NOMEM;
      sqlite3_free(zSql);
    }
    if (rc == SQLITE_OK) {
      zSql = sqlite3_mprintf("UPDATE \"%w_data\" SET %s WHERE _id = ?1", zView,
                             zSet);
      rc = zSql ? sqlite3_prepare_v3(db, zSql, -1, SQLITE_PREPARE_PERSISTENT,
                                     &pV->pUpd, NULL)
                : SQLITE_NOMEM;
      sqlite3_free(zSql);
    }
    if (rc != SQLITE_OK) {
      *pzErr = sqlite3_mprintf("view %s: %s", zView, sqlite3_errmsg(db));
    }
    sqlite3_free(zCols);
    sqlite3_free(zVals);
    sqlite3_free(zSet);
  }
  sqlite3_finalize(pStmt);
  if (rc == SQLITE_OK && rcStep == SQLITE_DONE && nView == 0) {
    view_none(p, iThread, zColl);
  }
  return rc;
}

/**************************************************************************
** The reducer.
*/

/* The clock state of one document, parsed from and written to _clock. */
typedef struct doc_clock doc_clock;
struct doc_clock {
  unsigned char D[CLOCK_BYTES];
  unsigned char base[CLOCK_BYTES];
  json_t *pEntry; /* field -> index into aEntry (as json integer) */
  unsigned char (*aEntry)[CLOCK_BYTES];
  char **azName;
  int nEntry;
};

static void clock_free(doc_clock *c) {
  int i;
  json_decref(c->pEntry);
  for (i = 0; i < c->nEntry; i++) {
    sqlite3_free(c->azName[i]);
  }
  sqlite3_free(c->azName);
  sqlite3_free(c->aEntry);
  memset(c, 0, sizeof(*c));
}

static int clock_set(doc_clock *c, const char *zName,
                     const unsigned char v[CLOCK_BYTES]) {
  json_t *pIdx = json_object_get(c->pEntry, zName);
  void *aNew, *azNew;
  if (pIdx) {
    memcpy(c->aEntry[json_integer_value(pIdx)], v, CLOCK_BYTES);
    return SQLITE_OK;
  }
  aNew = sqlite3_realloc64(c->aEntry, (size_t)(c->nEntry + 1) * CLOCK_BYTES);
  azNew =
      sqlite3_realloc64(c->azName, sizeof(char *) * (size_t)(c->nEntry + 1));
  if (aNew) {
    c->aEntry = aNew;
  }
  if (azNew) {
    c->azName = azNew;
  }
  if (aNew == NULL || azNew == NULL) {
    return SQLITE_NOMEM;
  }
  memcpy(c->aEntry[c->nEntry], v, CLOCK_BYTES);
  c->azName[c->nEntry] = sqlite3_mprintf("%s", zName);
  json_object_set_new(c->pEntry, zName, json_integer(c->nEntry));
  c->nEntry++;
  return SQLITE_OK;
}

/* The clock of field zName, or NULL if it has none (never written). */
static const unsigned char *clock_of(const doc_clock *c, json_t *pDoc,
                                     const char *zName) {
  json_t *pIdx = json_object_get(c->pEntry, zName);
  if (pIdx) {
    return c->aEntry[json_integer_value(pIdx)];
  }
  return json_object_get(pDoc, zName) ? c->base : NULL;
}

/* Parse the stored clock: blob (a, n), or the short form (a == NULL) from
** the row's newest clock (hlc, pk); pk NULL means there is no row. */
static int clock_parse(doc_clock *c, const unsigned char *a, int n,
                       uint64_t hlc, const unsigned char *pk) {
  int i = 2 * CLOCK_BYTES;
  memset(c, 0, sizeof(*c));
  c->pEntry = json_object();
  if (c->pEntry == NULL) {
    return SQLITE_NOMEM;
  }
  if (a == NULL) {
    if (pk) {
      clock_make(c->D, hlc, pk);
      memcpy(c->base, c->D, CLOCK_BYTES);
    }
    return SQLITE_OK;
  }
  if (n < 2 * CLOCK_BYTES) {
    return SQLITE_CORRUPT_VTAB;
  }
  memcpy(c->D, a, CLOCK_BYTES);
  memcpy(c->base, a + CLOCK_BYTES, CLOCK_BYTES);
  while (i < n) {
    int nName = a[i];
    char zName[256];
    if (i + 1 + nName + CLOCK_BYTES > n) {
      return SQLITE_CORRUPT_VTAB;
    }
    memcpy(zName, a + i + 1, (size_t)nName);
    zName[nName] = 0;
    if (clock_set(c, zName, a + i + 1 + nName) != SQLITE_OK) {
      return SQLITE_NOMEM;
    }
    i += 1 + nName + CLOCK_BYTES;
  }
  return SQLITE_OK;
}

/* Does entry i still decide anything?  Not when older than D, nor when a
** present field's entry equals base.  (A removed field's entry must stay
** even when it equals base: it is the only trace that the field was
** removed then, which keeps older writes from reviving it.) */
static int clock_keeps(const doc_clock *c, json_t *pDoc, int i) {
  return strlen(c->azName[i]) <= 255 && clock_cmp(c->aEntry[i], c->D) >= 0 &&
         (clock_cmp(c->aEntry[i], c->base) != 0 ||
          json_object_get(pDoc, c->azName[i]) == NULL);
}

/* The newest clock of the document: of D, base and the kept entries. */
static void clock_newest(const doc_clock *c, json_t *pDoc,
                         unsigned char out[CLOCK_BYTES]) {
  int i;
  memcpy(out, clock_cmp(c->D, c->base) >= 0 ? c->D : c->base, CLOCK_BYTES);
  for (i = 0; i < c->nEntry; i++) {
    if (clock_keeps(c, pDoc, i) && clock_cmp(c->aEntry[i], out) > 0) {
      memcpy(out, c->aEntry[i], CLOCK_BYTES);
    }
  }
}

/* Serialize the clock for _clock; *pa = NULL for the short form (D = base =
** newest, no entries). */
static int clock_write(const doc_clock *c, json_t *pDoc, unsigned char **pa,
                       int *pn) {
  size_t n = 2 * CLOCK_BYTES;
  int i, nKeep = 0;
  unsigned char *a;
  *pa = NULL;
  *pn = 0;
  for (i = 0; i < c->nEntry; i++) {
    if (clock_keeps(c, pDoc, i)) {
      n += 1 + strlen(c->azName[i]) + CLOCK_BYTES;
      nKeep++;
    }
  }
  if (nKeep == 0 && clock_cmp(c->D, c->base) == 0) {
    return SQLITE_OK;
  }
  a = sqlite3_malloc64(n);
  if (a == NULL) {
    return SQLITE_NOMEM;
  }
  memcpy(a, c->D, CLOCK_BYTES);
  memcpy(a + CLOCK_BYTES, c->base, CLOCK_BYTES);
  n = 2 * CLOCK_BYTES;
  for (i = 0; i < c->nEntry; i++) {
    size_t nName = strlen(c->azName[i]);
    if (!clock_keeps(c, pDoc, i)) {
      continue;
    }
    a[n] = (unsigned char)nName;
    memcpy(a + n + 1, c->azName[i], nName);
    memcpy(a + n + 1 + nName, c->aEntry[i], CLOCK_BYTES);
    n += 1 + nName + CLOCK_BYTES;
  }
  *pa = a;
  *pn = (int)n;
  return SQLITE_OK;
}

/* Drop the fields of pDoc older than clock d. */
static void doc_drop_older(json_t *pDoc, const doc_clock *c,
                           const unsigned char *d) {
  const char *zKey;
  json_t *pVal;
  void *pTmp;
  json_object_foreach_safe(pDoc, pTmp, zKey, pVal) {
    const unsigned char *cf = clock_of(c, pDoc, zKey);
    if (cf && clock_cmp(cf, d) < 0) {
      json_object_del(pDoc, zKey);
    }
  }
}

/**************************************************************************
** Documents in shadow rows.
*/
void thr_bind_json(sqlite3_stmt *pStmt, int i, const json_t *v) {
  char *z;
  if (v == NULL) {
    sqlite3_bind_null(pStmt, i); /* the document has no such field */
    return;
  }
  switch (json_typeof(v)) {
  case JSON_STRING:
    /* Static: callers step before the value goes. */
    sqlite3_bind_text(pStmt, i, json_string_value(v),
                      (int)json_string_length(v), SQLITE_STATIC);
    break;
  case JSON_INTEGER:
    sqlite3_bind_int64(pStmt, i, json_integer_value(v));
    break;
  case JSON_REAL:
    sqlite3_bind_double(pStmt, i, json_real_value(v));
    break;
  case JSON_TRUE:
    sqlite3_bind_int(pStmt, i, 1);
    break;
  case JSON_FALSE:
    sqlite3_bind_int(pStmt, i, 0);
    break;
  case JSON_OBJECT:
  case JSON_ARRAY:
    z = thr_json_text(v, NULL);
    sqlite3_bind_text(pStmt, i, z, -1, free);
    break;
  default:
    sqlite3_bind_null(pStmt, i);
  }
}

/* Does a column of kind eKind give value v back exactly? */
static int doc_mirrors(int eKind, const json_t *v) {
  switch (eKind) {
  case THR_PT_TEXT:
    return json_is_string(v);
  case THR_PT_INT:
    return json_is_integer(v);
  case THR_PT_REAL:
    return json_is_real(v);
  case THR_PT_BOOL:
    return json_is_boolean(v);
  case THR_PT_JSON:
    return json_is_object(v) || json_is_array(v);
  default:
    return json_is_string(v) || json_is_integer(v) || json_is_real(v);
  }
}

static int doc_prop(int nProp, char *const *azProp, const char *zKey) {
  int i;
  for (i = 0; i < nProp; i++) {
    if (strcmp(azProp[i], zKey) == 0) {
      return i;
    }
  }
  return -1;
}

char *thr_doc_rest(const json_t *pDoc, int nProp, char *const *azProp,
                   const int *aeKind, int *pRc) {
  json_t *pRest = NULL, *pVal;
  const char *zKey;
  char *z;
  json_object_foreach((json_t *)pDoc, zKey, pVal) {
    int k = doc_prop(nProp, azProp, zKey);
    if ((k >= 0 && doc_mirrors(aeKind[k], pVal)) || strcmp(zKey, "_id") == 0) {
      continue;
    }
    if (pRest == NULL && (pRest = json_object()) == NULL) {
      *pRc = SQLITE_NOMEM;
      return NULL;
    }
    json_object_set(pRest, zKey, pVal);
  }
  if (pRest == NULL) {
    return NULL;
  }
  z = thr_json_text(pRest, NULL);
  json_decref(pRest);
  if (z == NULL) {
    *pRc = SQLITE_NOMEM;
  }
  return z;
}

json_t *thr_doc_rebuild(sqlite3_stmt *pStmt, int bLive, int nProp,
                        char *const *azProp, const int *aeKind, int iRest,
                        int *pRc) {
  json_t *pDoc;
  int i;
  if (sqlite3_column_type(pStmt, iRest) != SQLITE_NULL) {
    pDoc = json_loads((const char *)sqlite3_column_text(pStmt, iRest),
                      JSON_ALLOW_NUL, NULL);
    if (!json_is_object(pDoc)) {
      json_decref(pDoc);
      *pRc = SQLITE_CORRUPT_VTAB;
      return NULL;
    }
  } else if ((pDoc = json_object()) == NULL) {
    *pRc = SQLITE_NOMEM;
    return NULL;
  }
  if (bLive) {
    json_object_set_new(
        pDoc, "_id",
        json_stringn((const char *)sqlite3_column_text(pStmt, 0),
                     (size_t)sqlite3_column_bytes(pStmt, 0)));
  }
  for (i = 0; i < nProp; i++) {
    int iCol = i + 1;
    json_t *pVal = NULL;
    if (json_object_get(pDoc, azProp[i])) {
      continue; /* _rest holds what the column cannot */
    }
    switch (sqlite3_column_type(pStmt, iCol)) {
    case SQLITE_NULL:
      continue;
    case SQLITE_INTEGER:
      pVal = aeKind[i] == THR_PT_BOOL
                 ? json_boolean(sqlite3_column_int64(pStmt, iCol) != 0)
                 : json_integer(sqlite3_column_int64(pStmt, iCol));
      break;
    case SQLITE_FLOAT:
      pVal = json_real(sqlite3_column_double(pStmt, iCol));
      break;
    case SQLITE_TEXT:
      if (aeKind[i] == THR_PT_JSON) {
        pVal = json_loads((const char *)sqlite3_column_text(pStmt, iCol),
                          JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
      } else {
        pVal = json_stringn((const char *)sqlite3_column_text(pStmt, iCol),
                            (size_t)sqlite3_column_bytes(pStmt, iCol));
      }
      break;
    default:
      break;
    }
    if (pVal == NULL) {
      json_decref(pDoc);
      *pRc = SQLITE_CORRUPT_VTAB;
      return NULL;
    }
    json_object_set_new(pDoc, azProp[i], pVal);
  }
  return pDoc;
}

/* The error of a failed shadow-table write, in the user's terms: SQLite
** names the shadow table, the user knows the view.  Returns the code. */
static int reduce_error(txn_view *pV, sqlite3 *db, char **pzErr) {
  const char *zMsg = sqlite3_errmsg(db);
  char *zShadow = sqlite3_mprintf("%s_data.", pV->zView);
  char *zLive = sqlite3_mprintf(", %s_data._live", pV->zView);
  sqlite3_str *pOut = sqlite3_str_new(db);
  while (zShadow && zLive && *zMsg) {
    if (strncmp(zMsg, zLive, strlen(zLive)) == 0) {
      zMsg += strlen(zLive); /* the index's second column, not the user's */
    } else if (strncmp(zMsg, zShadow, strlen(zShadow)) == 0) {
      sqlite3_str_appendf(pOut, "%s.", pV->zView);
      zMsg += strlen(zShadow);
    } else {
      sqlite3_str_appendchar(pOut, 1, *zMsg++);
    }
  }
  *pzErr = sqlite3_str_finish(pOut);
  sqlite3_free(zShadow);
  sqlite3_free(zLive);
  return sqlite3_extended_errcode(db);
}

static uint64_t clock_hlc(const unsigned char *c) {
  uint64_t hlc = 0;
  int i;
  for (i = 0; i < 8; i++) {
    hlc = (hlc << 8) | c[i];
  }
  return hlc;
}

/* One action being applied: who wrote it, and how conflicts go. */
typedef struct reduce_ctx reduce_ctx;
struct reduce_ctx {
  thr_store *pStore;
  sqlite3_int64 iThread;
  const thr_action *pAct;
  json_t *pIn;                  /* its document or patch */
  unsigned char c[CLOCK_BYTES]; /* its clock */
  sqlite3_int64 iLog;           /* its log's row */
  int eConflict;                /* for local creates; -1 otherwise */
  int bSkip;                    /* set: OR IGNORE met a live document */
  thr_action *pLocal;           /* a local write's action (its clock moves) */
  uint64_t *pClock;             /* ...and the connection's clock */
};

/* Apply the action to one view. */
static int reduce_view(txn_view *pV, reduce_ctx *x, char **pzErr) {
  sqlite3 *db = thr_store_db(x->pStore);
  const thr_action *pAct = x->pAct;
  const unsigned char *cAct = x->c;
  json_t *pDoc = NULL;
  doc_clock c;
  int bExists = 0, bLive = 0, rc = SQLITE_OK, bChanged = 0, nP = pV->nProp;
  uint64_t hlcRow = 0;
  const char *zKey;
  json_t *pVal;

  memset(&c, 0, sizeof(c));
  /* A create of a new _id (the common case, and every row of a bulk load)
  ** is a plain INSERT of the document at its clock; only if the _id
  ** exists does the merge below run. */
  if (pAct->eType == THR_ACT_CREATE && x->pIn) {
    int i;
    char *zRest = thr_doc_rest(x->pIn, nP, pV->azProp, pV->aeKind, &rc);
    if (rc != SQLITE_OK) {
      return rc;
    }
    sqlite3_bind_text(pV->pIns, 1, pAct->zId, -1, SQLITE_STATIC);
    for (i = 0; i < nP; i++) {
      thr_bind_json(pV->pIns, i + 2, json_object_get(x->pIn, pV->azProp[i]));
    }
    sqlite3_bind_text(pV->pIns, nP + 2, zRest, -1, free);
    sqlite3_bind_int64(pV->pIns, nP + 3, x->iLog);
    sqlite3_bind_int64(pV->pIns, nP + 4, (sqlite3_int64)clock_hlc(cAct));
    sqlite3_bind_int(pV->pIns, nP + 5, 1);
    rc = sqlite3_step(pV->pIns);
    sqlite3_reset(pV->pIns);
    sqlite3_clear_bindings(pV->pIns);
    if (rc == SQLITE_DONE) {
      return SQLITE_OK;
    }
    if (sqlite3_extended_errcode(db) != SQLITE_CONSTRAINT_PRIMARYKEY) {
      return reduce_error(pV, db, pzErr);
    }
    rc = SQLITE_OK; /* the _id exists: merge */
  }
  sqlite3_bind_text(pV->pSel, 1, pAct->zId, -1, SQLITE_STATIC);
  if (sqlite3_step(pV->pSel) == SQLITE_ROW) {
    const unsigned char *pk = sqlite3_column_blob(pV->pSel, nP + 5);
    bExists = 1;
    bLive = sqlite3_column_int(pV->pSel, nP + 3);
    hlcRow = (uint64_t)sqlite3_column_int64(pV->pSel, nP + 4);
    pDoc = thr_doc_rebuild(pV->pSel, bLive, nP, pV->azProp, pV->aeKind, nP + 1,
                           &rc);
    if (rc == SQLITE_OK &&
        (pk == NULL || sqlite3_column_bytes(pV->pSel, nP + 5) != 32)) {
      rc = SQLITE_CORRUPT_VTAB;
    }
    if (rc == SQLITE_OK) {
      rc = clock_parse(&c, sqlite3_column_blob(pV->pSel, nP + 2),
                       sqlite3_column_bytes(pV->pSel, nP + 2),
                       (uint64_t)sqlite3_column_int64(pV->pSel, nP + 4), pk);
    }
  } else {
    pDoc = json_object();
    rc = pDoc ? clock_parse(&c, NULL, 0, 0, NULL) : SQLITE_NOMEM;
  }
  sqlite3_reset(pV->pSel);
  if (rc != SQLITE_OK) {
    if (rc == SQLITE_CORRUPT_VTAB) {
      *pzErr = sqlite3_mprintf("%s: the stored row of %s is corrupt", pV->zView,
                               pAct->zId);
    }
    goto done;
  }

  /* A local write comes after everything this peer holds of the document,
  ** whatever the clocks of the peers that wrote it said: if the row carries
  ** a clock at or past the action's (a peer whose clock runs ahead), the
  ** action moves past it, so that it takes effect here and everywhere. */
  if (x->pLocal && bExists && hlcRow >= clock_hlc(cAct)) {
    int i;
    thr_hlc_observe(x->pClock, hlcRow);
    x->pLocal->hlc = thr_hlc_tick(x->pClock, thr_now_ms());
    for (i = 0; i < 8; i++) {
      x->c[i] = (unsigned char)(x->pLocal->hlc >> (56 - 8 * i));
    }
  }
  if (pAct->eType == THR_ACT_CREATE && bLive && x->eConflict >= 0) {
    if (x->eConflict == SQLITE_IGNORE) {
      x->bSkip = 1;
      goto done;
    }
    if (x->eConflict != SQLITE_REPLACE) {
      *pzErr = sqlite3_mprintf("UNIQUE constraint failed: %s._id", pV->zView);
      rc = SQLITE_CONSTRAINT_PRIMARYKEY;
      goto done;
    }
  }

  switch (pAct->eType) {
  case THR_ACT_CREATE:
    if (clock_cmp(cAct, c.D) <= 0) {
      break; /* older than a tombstone, or already applied */
    }
    doc_drop_older(pDoc, &c, cAct);
    memcpy(c.D, cAct, CLOCK_BYTES);
    /* Fields that survive (newer than this create) keep their own clock
    ** when base moves to this create's clock. */
    json_object_foreach(pDoc, zKey, pVal) {
      if (json_object_get(c.pEntry, zKey) == NULL) {
        rc = clock_set(&c, zKey, c.base);
      }
    }
    json_object_foreach(x->pIn, zKey, pVal) {
      const unsigned char *cf = clock_of(&c, pDoc, zKey);
      if (cf == NULL || clock_cmp(cf, cAct) < 0) {
        json_object_set(pDoc, zKey, pVal);
        rc = clock_set(&c, zKey, cAct);
      }
    }
    memcpy(c.base, cAct, CLOCK_BYTES);
    bChanged = 1;
    break;
  case THR_ACT_SAVE:
    json_object_foreach(x->pIn, zKey, pVal) {
      const unsigned char *cf = clock_of(&c, pDoc, zKey);
      if (clock_cmp(cAct, c.D) < 0 || (cf && clock_cmp(cf, cAct) >= 0)) {
        continue;
      }
      if (json_is_null(pVal)) {
        json_object_del(pDoc, zKey);
      } else {
        json_object_set(pDoc, zKey, pVal);
      }
      rc = clock_set(&c, zKey, cAct);
      bChanged = 1;
    }
    if (!bExists) {
      memcpy(c.base, cAct, CLOCK_BYTES);
    }
    break;
  case THR_ACT_DELETE:
    if (clock_cmp(cAct, c.D) <= 0) {
      break;
    }
    doc_drop_older(pDoc, &c, cAct);
    memcpy(c.D, cAct, CLOCK_BYTES);
    bChanged = 1;
    break;
  }
  if (rc != SQLITE_OK || !bChanged) {
    goto done;
  }

  /* Write the row back, stamped with the newest clock. */
  {
    sqlite3_stmt *pW = bExists ? pV->pUpd : pV->pIns;
    unsigned char newest[CLOCK_BYTES], *aClock = NULL;
    sqlite3_int64 iLog = x->iLog;
    int nClock = 0, i;
    char *zRest = NULL;
    clock_newest(&c, pDoc, newest);
    if (memcmp(newest + 8, cAct + 8, 32) != 0) {
      rc = thr_store_log_lid(x->pStore, x->iThread, newest + 8, NULL, 0, &iLog,
                             pzErr);
    }
    if (rc == SQLITE_OK) {
      rc = clock_write(&c, pDoc, &aClock, &nClock);
    }
    if (rc == SQLITE_OK) {
      zRest = thr_doc_rest(pDoc, nP, pV->azProp, pV->aeKind, &rc);
    }
    if (rc != SQLITE_OK) {
      sqlite3_free(aClock);
      goto done;
    }
    if (aClock == NULL && clock_cmp(newest, c.D) != 0) {
      free(zRest);
      rc = SQLITE_INTERNAL; /* the short form needs D = newest */
      goto done;
    }
    sqlite3_bind_text(pW, 1, pAct->zId, -1, SQLITE_STATIC);
    for (i = 0; i < nP; i++) {
      thr_bind_json(pW, i + 2, json_object_get(pDoc, pV->azProp[i]));
    }
    sqlite3_bind_text(pW, nP + 2, zRest, -1, free);
    sqlite3_bind_int64(pW, nP + 3, iLog);
    sqlite3_bind_int64(pW, nP + 4, (sqlite3_int64)clock_hlc(newest));
    sqlite3_bind_int(pW, nP + 5, json_object_get(pDoc, "_id") != NULL);
    if (aClock) {
      sqlite3_bind_blob(pW, nP + 6, aClock, nClock, sqlite3_free);
    }
    rc = sqlite3_step(pW) == SQLITE_DONE ? SQLITE_OK
                                         : reduce_error(pV, db, pzErr);
    sqlite3_reset(pW);
    sqlite3_clear_bindings(pW);
  }

done:
  json_decref(pDoc);
  clock_free(&c);
  return rc;
}

static int reduce_in(reduce_ctx *x, const unsigned char logPk[32],
                     const char *zOnlyView, char **pzErr) {
  thr_txn *p = txn_get(x->pStore);
  txn_view *pV;
  int rc = SQLITE_OK, bLoaded = 0;
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  thr_hlc_observe(&p->hlc, x->pAct->hlc);
  clock_make(x->c, x->pAct->hlc, logPk);
  /* Views come and go with CREATE/DROP TABLE, on any connection: the
  ** cache holds for one schema cookie.  Local writes check it once per
  ** transaction (thr_coll_writer); other callers every time. */
  if (x->eConflict < 0 && p->iCookie != thr_store_cookie(x->pStore)) {
    thr_txn_release_stmts(p);
    p->iCookie = thr_store_cookie(x->pStore);
  }
  for (;;) {
    int nSeen = 0, bNone = 0;
    for (pV = p->pViews; rc == SQLITE_OK && pV; pV = pV->pNext) {
      if (pV->iThread != x->iThread || strcmp(pV->zColl, x->pAct->zColl) != 0) {
        continue;
      }
      if (pV->zView == NULL) {
        bNone = 1; /* known to have no views: nothing to load */
        continue;
      }
      if (zOnlyView && strcmp(pV->zView, zOnlyView) != 0) {
        continue;
      }
      nSeen++;
      rc = reduce_view(pV, x, pzErr);
      if (x->bSkip) {
        return SQLITE_OK;
      }
    }
    if (nSeen > 0 || bNone || bLoaded || rc != SQLITE_OK) {
      break;
    }
    /* Not cached yet: load this collection's views once. */
    thr_store_pin(x->pStore);
    rc = view_load(x->pStore, p, x->iThread, x->pAct->zColl, pzErr);
    bLoaded = 1;
  }
  return rc;
}

/* Apply an action whose document (pIn, borrowed; NULL for a delete) is
** already parsed. */
static int reduce_parsed(thr_store *pStore, sqlite3_int64 iThread,
                         const thr_action *pAct, json_t *pIn,
                         const unsigned char logPk[32], sqlite3_int64 iLog,
                         const char *zOnlyView, char **pzErr) {
  reduce_ctx x;
  memset(&x, 0, sizeof(x));
  x.pStore = pStore;
  x.iThread = iThread;
  x.pAct = pAct;
  x.pIn = pIn;
  x.iLog = iLog;
  x.eConflict = -1;
  return reduce_in(&x, logPk, zOnlyView, pzErr);
}

/* The document of an action, or NULL (delete, or not a JSON object). */
static json_t *action_doc(const thr_action *pAct) {
  json_t *pIn =
      pAct->zJson ? json_loads(pAct->zJson, JSON_ALLOW_NUL, NULL) : NULL;
  if (pIn && !json_is_object(pIn)) {
    json_decref(pIn);
    pIn = NULL;
  }
  return pIn;
}

int thr_reduce(thr_store *pStore, sqlite3_int64 iThread, const thr_action *pAct,
               const unsigned char logPk[32], sqlite3_int64 iLog,
               const char *zOnlyView, char **pzErr) {
  json_t *pIn;
  int rc;
  if (pAct->eType == THR_ACT_COLL) {
    return SQLITE_OK; /* definitions are handled by the sync path */
  }
  pIn = action_doc(pAct);
  if (pAct->zJson && pIn == NULL) {
    *pzErr = sqlite3_mprintf("action on %s/%s: not a JSON object", pAct->zColl,
                             pAct->zId);
    return SQLITE_ERROR;
  }
  rc = reduce_parsed(pStore, iThread, pAct, pIn, logPk, iLog, zOnlyView, pzErr);
  json_decref(pIn);
  return rc;
}

/* The patch schema of a collection schema: the keywords that constrain
** single top-level fields (properties, patternProperties,
** additionalProperties, with the definitions they may refer to).  A save
** carries some fields only; whole-document keywords (required, min/max
** properties, dependencies, combinators) cannot judge it. */
static json_t *schema_patch_json(const json_t *pFull) {
  static const char *const azKeep[] = {
      "$schema",           "$id",
      "definitions",       "properties",
      "patternProperties", "additionalProperties"};
  json_t *pPatch;
  size_t i;
  if (!json_is_object(pFull)) {
    return json_deep_copy(pFull); /* true or false */
  }
  pPatch = json_object();
  for (i = 0; pPatch && i < sizeof(azKeep) / sizeof(azKeep[0]); i++) {
    json_t *pVal = json_object_get(pFull, azKeep[i]);
    if (pVal) {
      json_object_set(pPatch, azKeep[i], pVal);
    }
  }
  return pPatch;
}

/* The compiled schemas of collection zColl of thread iThread, loaded once
** per connection (a collection's schema never changes).  *ppS->pFull is
** NULL when the collection is not defined here. */
static int schema_for(thr_store *pStore, sqlite3_int64 iThread,
                      const char *zColl, txn_schema **ppS, char **pzErr) {
  thr_txn *p = txn_get(pStore);
  txn_schema *pS;
  char *zSchema = NULL;
  int rc;
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  for (pS = p->pSchemas; pS; pS = pS->pNext) {
    if (pS->iThread == iThread && strcmp(pS->zColl, zColl) == 0) {
      *ppS = pS;
      return SQLITE_OK;
    }
  }
  pS = sqlite3_malloc64(sizeof(*pS));
  if (pS == NULL) {
    return SQLITE_NOMEM;
  }
  memset(pS, 0, sizeof(*pS));
  pS->iThread = iThread;
  pS->zColl = sqlite3_mprintf("%s", zColl);
  rc = pS->zColl ? coll_schema_text(pStore, iThread, zColl, &zSchema, pzErr)
                 : SQLITE_NOMEM;
  if (rc == SQLITE_NOTFOUND) {
    rc = SQLITE_OK; /* not defined here: nothing to judge by */
  } else if (rc == SQLITE_OK) {
    rc = thr_schema_compile(zSchema, &pS->pFull, pzErr);
  }
  sqlite3_free(zSchema);
  if (rc == SQLITE_OK && pS->pFull) {
    json_t *pPatch = schema_patch_json(thr_schema_json(pS->pFull));
    char *zPatch = pPatch ? thr_json_text(pPatch, NULL) : NULL;
    json_decref(pPatch);
    rc = zPatch ? thr_schema_compile(zPatch, &pS->pPatch, pzErr) : SQLITE_NOMEM;
    free(zPatch);
    pS->pRequired = json_object_get(thr_schema_json(pS->pFull), "required");
  }
  if (rc != SQLITE_OK) {
    thr_schema_free(pS->pFull);
    thr_schema_free(pS->pPatch);
    sqlite3_free(pS->zColl);
    sqlite3_free(pS);
    return rc;
  }
  pS->pNext = p->pSchemas;
  p->pSchemas = pS;
  *ppS = pS;
  return SQLITE_OK;
}

/* Drop the cached schema of a collection (it was just defined). */
static void schema_forget(thr_store *pStore, sqlite3_int64 iThread,
                          const char *zColl) {
  thr_txn *p = *thr_store_txn(pStore);
  txn_schema **pp;
  for (pp = p ? &p->pSchemas : NULL; pp && *pp;) {
    txn_schema *pS = *pp;
    if (pS->iThread == iThread && strcmp(pS->zColl, zColl) == 0) {
      *pp = pS->pNext;
      thr_schema_free(pS->pFull);
      thr_schema_free(pS->pPatch);
      sqlite3_free(pS->zColl);
      sqlite3_free(pS);
    } else {
      pp = &pS->pNext;
    }
  }
}

/* A collection definition from another peer: registered if the thread has
** no collection of that name yet and the schema compiles; otherwise
** counted in *pnSkip.  The first definition a peer stores stays. */
static int define_remote(thr_store *pStore, sqlite3_int64 iThread,
                         const char *zColl, size_t nColl, const char *zSchema,
                         size_t nSchema, int *pnSkip, char **pzErr) {
  sqlite3 *db = thr_store_db(pStore);
  sqlite3_stmt *pStmt = NULL;
  thr_schema *pSchema = NULL;
  char *zC = sqlite3_mprintf("%.*s", (int)nColl, zColl);
  char *zS = sqlite3_mprintf("%.*s", (int)nSchema, zSchema);
  char *zWhy = NULL;
  int rc = zC && zS ? SQLITE_OK : SQLITE_NOMEM;
  if (rc == SQLITE_OK &&
      (strlen(zC) != nColl || strlen(zS) != nSchema ||
       thr_schema_compile(zS, &pSchema, &zWhy) != SQLITE_OK)) {
    (*pnSkip)++;
  } else if (rc == SQLITE_OK) {
    rc = sqlite3_prepare_v2(db,
                            "INSERT OR IGNORE INTO _threads_collection(tid, "
                            "name, schema) VALUES (?1, ?2, ?3)",
                            -1, &pStmt, NULL);
    if (rc == SQLITE_OK) {
      sqlite3_bind_int64(pStmt, 1, iThread);
      sqlite3_bind_text(pStmt, 2, zC, -1, SQLITE_STATIC);
      sqlite3_bind_text(pStmt, 3, zS, -1, SQLITE_STATIC);
      rc = sqlite3_step(pStmt) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    if (rc != SQLITE_OK) {
      *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(pStmt);
    schema_forget(pStore, iThread, zC);
  }
  thr_schema_free(pSchema);
  sqlite3_free(zWhy);
  sqlite3_free(zC);
  sqlite3_free(zS);
  return rc;
}

/* Does a remote action pass its collection's schema?  A create's document
** must be valid; a save may not remove _id or a required field, and each
** field it sets must pass the schema's rules for that field.  The verdict
** depends on the action alone, so every peer gives the same one. */
static int action_valid(const txn_schema *pS, const thr_action *pAct,
                        json_t *pIn) {
  json_t *pSet, *pVal;
  const char *zKey;
  int bOk = 1;
  char *zWhy = NULL;
  if (pS->pFull == NULL || pAct->eType == THR_ACT_DELETE) {
    return 1; /* no views of it here; or nothing to judge */
  }
  if (pAct->eType == THR_ACT_CREATE) {
    bOk = thr_schema_check(pS->pFull, pIn, &zWhy) == SQLITE_OK;
    sqlite3_free(zWhy);
    return bOk;
  }
  pSet = json_object();
  if (pSet == NULL) {
    return 0;
  }
  json_object_foreach(pIn, zKey, pVal) {
    size_t i;
    if (!json_is_null(pVal)) {
      json_object_set(pSet, zKey, pVal);
      continue;
    }
    if (strcmp(zKey, "_id") == 0) {
      bOk = 0;
    }
    for (i = 0; i < json_array_size(pS->pRequired); i++) {
      const char *zReq = json_string_value(json_array_get(pS->pRequired, i));
      if (zReq && strcmp(zReq, zKey) == 0) {
        bOk = 0;
      }
    }
  }
  if (bOk) {
    bOk = thr_schema_check(pS->pPatch, pSet, &zWhy) == SQLITE_OK;
    sqlite3_free(zWhy);
  }
  json_decref(pSet);
  return bOk;
}

int thr_coll_writer(thr_store *pStore, const thr_tid *pTid, thr_writer *pW,
                    char **pzErr) {
  const thr_keypair *pId;
  char *zAuthor;
  int rc = thr_store_thread_row(pStore, pTid, &pW->iThread, &pW->bWrite, pzErr);
  if (rc == SQLITE_OK) {
    rc = thr_store_identity(pStore, &pId, pzErr);
  }
  if (rc == SQLITE_OK) {
    rc = thr_store_log_pk(pStore, pTid, pW->logPk, pzErr);
  }
  if (rc == SQLITE_OK && pW->bWrite) {
    rc = thr_store_log_lid(pStore, pW->iThread, pW->logPk, pId->pk, 1,
                           &pW->iLog, pzErr);
  }
  if (rc != SQLITE_OK) {
    return rc;
  }
  if (pW->zAuthor[0] == 0 || memcmp(pW->idPk, pId->pk, 32) != 0) {
    zAuthor = thr_peer_text(pId->pk);
    if (zAuthor == NULL) {
      return SQLITE_NOMEM;
    }
    snprintf(pW->zAuthor, sizeof(pW->zAuthor), "%s", zAuthor);
    memcpy(pW->idPk, pId->pk, 32);
    sqlite3_free(zAuthor);
  }
  pW->bValid = 1;
  {
    thr_txn *p = txn_get(pStore);
    if (p == NULL) {
      return SQLITE_NOMEM;
    }
    if (p->iCookie != thr_store_cookie(pStore)) {
      thr_txn_release_stmts(p);
      p->iCookie = thr_store_cookie(pStore);
    }
  }
  return SQLITE_OK;
}

int thr_coll_write(thr_store *pStore, const thr_tid *pTid, const thr_writer *pW,
                   thr_action *pAct, json_t *pDoc, int eConflict,
                   char **pzErr) {
  thr_txn *p = txn_get(pStore);
  reduce_ctx x;
  int rc;
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  if (!pW->bWrite) {
    *pzErr = sqlite3_mprintf("cannot write to this thread: this peer holds "
                             "only its service key");
    return SQLITE_READONLY;
  }
  pAct->hlc = thr_hlc_tick(&p->hlc, thr_now_ms());
  memset(&x, 0, sizeof(x));
  x.pStore = pStore;
  x.iThread = pW->iThread;
  x.pAct = pAct;
  x.pIn = pDoc;
  x.iLog = pW->iLog;
  x.eConflict = eConflict;
  x.pLocal = pAct;
  x.pClock = &p->hlc;
  rc = reduce_in(&x, pW->logPk, NULL, pzErr);
  if (rc == SQLITE_OK && !x.bSkip) {
    rc = txn_stage(pStore, pTid, pAct);
  }
  if (rc == SQLITE_OK && !x.bSkip) {
    rc = txn_note_change(p, pTid, pAct, pW->zAuthor);
  }
  return rc;
}

/**************************************************************************
** Rebuild: replay the log into one view.
*/
typedef struct rebuild_ctx rebuild_ctx;
struct rebuild_ctx {
  thr_store *pStore;
  sqlite3_int64 iThread;
  const char *zView;
  const char *zColl;
  int nSkip; /* bodies or actions this version could not read */
  char **pzErr;
};

/* One action of a body, parsed (thr_body_parse). */
typedef struct body_act body_act;
struct body_act {
  thr_action act; /* its strings in zBuf */
  char *zBuf;     /* one malloc() block: coll, id and json, NUL after each */
  size_t nColl;   /* bytes of the collection name as sent */
  int bComplete;  /* every field its type needs, well-formed */
  json_t *pIn;    /* its document or patch (NULL: none, or not an object) */
};

struct thr_body {
  int bUnreadable; /* not a body this version can read: skipped whole */
  size_t nAct;
  body_act *aAct;
};

void thr_body_free(thr_body *p) {
  size_t i;
  if (p == NULL) {
    return;
  }
  for (i = 0; i < p->nAct; i++) {
    body_act *pA = &p->aAct[i];
    free(pA->zBuf);
    json_decref(pA->pIn);
  }
  sqlite3_free(p->aAct);
  sqlite3_free(p);
}

/* A reader over dag-cbor that thr_cbor_check() accepted: items are walked
** in place, with no tree.  Every read is still bounds-checked. */
typedef struct body_cur body_cur;
struct body_cur {
  const unsigned char *a;
  size_t n, i;
  int bBad;
};

/* The next item's head: its major type and argument. */
static int cur_head(body_cur *c, int *pMajor, uint64_t *pArg) {
  unsigned char b;
  int ai;
  if (c->bBad || c->i >= c->n) {
    c->bBad = 1;
    return 0;
  }
  b = c->a[c->i++];
  *pMajor = b >> 5;
  ai = b & 0x1f;
  *pArg = (uint64_t)ai;
  if (ai >= 24 && ai <= 27) {
    size_t k, nArg = (size_t)1 << (ai - 24);
    if (c->n - c->i < nArg) {
      c->bBad = 1;
      return 0;
    }
    for (*pArg = 0, k = 0; k < nArg; k++) {
      *pArg = (*pArg << 8) | c->a[c->i++];
    }
  } else if (ai > 27) {
    c->bBad = 1; /* indefinite lengths: not dag-cbor */
    return 0;
  }
  return 1;
}

/* Skip the rest of an item whose head was read. */
static void cur_skip_rest(body_cur *c, int eMajor, uint64_t nArg, int iDepth) {
  uint64_t k, nItem = 0;
  int m;
  uint64_t v;
  if (iDepth > 64) {
    c->bBad = 1;
    return;
  }
  switch (eMajor) {
  case 2:
  case 3:
    if (nArg > c->n - c->i) {
      c->bBad = 1;
    } else {
      c->i += (size_t)nArg;
    }
    return;
  case 4:
    nItem = nArg;
    break;
  case 5:
    nItem = nArg > UINT64_MAX / 2 ? UINT64_MAX : nArg * 2;
    break;
  case 6:
    nItem = 1;
    break;
  default:
    return; /* integers and simple values: the head was all */
  }
  for (k = 0; k < nItem && !c->bBad; k++) {
    if (cur_head(c, &m, &v)) {
      cur_skip_rest(c, m, v, iDepth + 1);
    }
  }
}

/* A text string's bytes, if the rest of an item whose head was read is
** one; otherwise the item is skipped and NULL returned. */
static const char *cur_text(body_cur *c, int eMajor, uint64_t nArg,
                            size_t *pn) {
  const char *z;
  if (eMajor != 3 || nArg > c->n - c->i) {
    cur_skip_rest(c, eMajor, nArg, 0);
    return NULL;
  }
  z = (const char *)c->a + c->i;
  c->i += (size_t)nArg;
  *pn = (size_t)nArg;
  return z;
}

/* The fields of one action (a map; anything else is an incomplete
** action). */
static int body_act_read(body_cur *c, body_act *pB) {
  static const char *azType[] = {"create", "save", "delete", "collection"};
  static const char *azField[] = {"coll", "id", "json"};
  const char **apDst[3];
  const char *az[3] = {NULL, NULL, NULL};
  size_t an[3] = {0, 0, 0};
  uint64_t nArg, nPair, k;
  int eMajor, bHlc = 0, i;
  memset(pB, 0, sizeof(*pB));
  apDst[0] = &pB->act.zColl;
  apDst[1] = &pB->act.zId;
  apDst[2] = &pB->act.zJson;
  if (!cur_head(c, &eMajor, &nArg)) {
    return SQLITE_OK;
  }
  if (eMajor != 5) {
    cur_skip_rest(c, eMajor, nArg, 0);
    return SQLITE_OK;
  }
  for (nPair = nArg, k = 0; k < nPair && !c->bBad; k++) {
    size_t nKey = 0, nVal = 0;
    const char *zKey, *zVal;
    if (!cur_head(c, &eMajor, &nArg) ||
        (zKey = cur_text(c, eMajor, nArg, &nKey)) == NULL ||
        !cur_head(c, &eMajor, &nArg)) {
      c->bBad = 1;
      break;
    }
    if (nKey == 3 && memcmp(zKey, "hlc", 3) == 0 && eMajor == 0) {
      pB->act.hlc = nArg;
      bHlc = 1;
      continue;
    }
    zVal = cur_text(c, eMajor, nArg, &nVal);
    if (zVal == NULL) {
      continue; /* not text: as if absent */
    }
    if (nKey == 4 && memcmp(zKey, "type", 4) == 0) {
      for (i = 0; i < 4; i++) {
        if (strlen(azType[i]) == nVal && memcmp(zVal, azType[i], nVal) == 0) {
          pB->act.eType = i + 1;
        }
      }
    }
    for (i = 0; i < 3; i++) {
      if (nKey == strlen(azField[i]) && memcmp(zKey, azField[i], nKey) == 0) {
        az[i] = zVal;
        an[i] = nVal;
      }
    }
  }
  pB->nColl = an[0];
  if (az[0] || az[1] || az[2]) {
    /* One block for the three texts, each up to a NUL it may hold (as
    ** a C string would read it). */
    char *z;
    for (i = 0; i < 3; i++) {
      an[i] = az[i] ? strnlen(az[i], an[i]) : 0;
    }
    z = pB->zBuf = malloc(an[0] + an[1] + an[2] + 3);
    if (z == NULL) {
      return SQLITE_NOMEM;
    }
    for (i = 0; i < 3; i++) {
      if (az[i]) {
        memcpy(z, az[i], an[i]);
        z[an[i]] = 0;
        *apDst[i] = z;
        z += an[i] + 1;
      }
    }
  }
  pB->bComplete =
      pB->act.eType != 0 && pB->act.zColl != NULL &&
      (pB->act.eType == THR_ACT_COLL
           ? pB->act.zJson != NULL
           : pB->act.zId != NULL && bHlc &&
                 (pB->act.eType == THR_ACT_DELETE || pB->act.zJson != NULL));
  if (pB->bComplete && pB->act.eType != THR_ACT_COLL) {
    pB->pIn = action_doc(&pB->act);
  }
  return SQLITE_OK;
}

int thr_body_parse(const unsigned char *aBody, size_t nBody, int bChecked,
                   thr_body **pp) {
  body_cur c = {aBody, nBody, 0, 0};
  uint64_t nArg, nPair, k;
  int eMajor, rc = SQLITE_OK;
  char *zWhy = NULL;
  thr_body *p = sqlite3_malloc64(sizeof(*p));
  *pp = p;
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  memset(p, 0, sizeof(*p));
  p->bUnreadable = 1;
  /* Checked whole first, so that the walk below meets only canonical,
  ** complete items, and array lengths are bounded by the bytes. */
  if ((!bChecked && thr_cbor_check(aBody, nBody, &zWhy) != SQLITE_OK) ||
      !cur_head(&c, &eMajor, &nArg) || eMajor != 5) {
    sqlite3_free(zWhy);
    return SQLITE_OK;
  }
  for (nPair = nArg, k = 0; k < nPair && !c.bBad; k++) {
    size_t nKey = 0;
    const char *zKey;
    if (!cur_head(&c, &eMajor, &nArg) ||
        (zKey = cur_text(&c, eMajor, nArg, &nKey)) == NULL ||
        !cur_head(&c, &eMajor, &nArg)) {
      break;
    }
    if (nKey != 7 || memcmp(zKey, "actions", 7) != 0) {
      cur_skip_rest(&c, eMajor, nArg, 0);
      continue;
    }
    p->bUnreadable = 0;
    if (eMajor != 4) { /* not a list: no actions */
      cur_skip_rest(&c, eMajor, nArg, 0);
      continue;
    }
    p->aAct = sqlite3_malloc64((nArg ? nArg : 1) * sizeof(body_act));
    if (p->aAct == NULL) {
      return SQLITE_NOMEM;
    }
    for (; p->nAct < nArg && rc == SQLITE_OK && !c.bBad; p->nAct++) {
      rc = body_act_read(&c, &p->aAct[p->nAct]);
    }
  }
  if (c.bBad) {
    p->bUnreadable = 1; /* cannot happen after the check; be safe */
  }
  return rc;
}

int thr_body_apply(thr_store *pStore, sqlite3_int64 iThread,
                   const unsigned char logPk[32],
                   const unsigned char author[32], const thr_body *pBody,
                   const char *zOnlyColl, const char *zOnlyView, int *pnSkip,
                   char **pzErr) {
  char *zWhy = NULL;
  sqlite3_int64 iLog = 0;
  size_t i;
  int rc;
  if (pBody->bUnreadable) {
    /* Not a body this version can read: skip it, as a newer peer's. */
    (*pnSkip)++;
    return SQLITE_OK;
  }
  rc = thr_store_log_lid(pStore, iThread, logPk, author, 0, &iLog, &zWhy);
  for (i = 0; rc == SQLITE_OK && i < pBody->nAct; i++) {
    const body_act *pB = &pBody->aAct[i];
    const thr_action *pAct = &pB->act;
    txn_schema *pS = NULL;
    if (pAct->eType == THR_ACT_COLL) {
      /* Definitions are applied whole, never to one collection only. */
      if (pB->bComplete && zOnlyColl == NULL) {
        rc = define_remote(pStore, iThread, pAct->zColl, strlen(pAct->zColl),
                           pAct->zJson, strlen(pAct->zJson), pnSkip, &zWhy);
      }
      continue;
    }
    if (!pB->bComplete) {
      /* Anything unknown or incomplete is skipped, the same way on every
      ** peer. */
      (*pnSkip)++;
      continue;
    }
    if (zOnlyColl && (pB->nColl != strlen(zOnlyColl) ||
                      strcmp(pAct->zColl, zOnlyColl) != 0)) {
      continue;
    }
    rc = schema_for(pStore, iThread, pAct->zColl, &pS, &zWhy);
    if (rc == SQLITE_OK && ((pAct->zJson && pB->pIn == NULL) ||
                            !action_valid(pS, pAct, pB->pIn))) {
      /* Not a JSON object, or against the schema: not applied, and
      ** counted, the same way on every peer. */
      (*pnSkip)++;
    } else if (rc == SQLITE_OK) {
      rc = reduce_parsed(pStore, iThread, pAct, pB->pIn, logPk, iLog, zOnlyView,
                         &zWhy);
    }
  }
  if (rc != SQLITE_OK) {
    *pzErr = zWhy ? zWhy : sqlite3_mprintf("%s", sqlite3_errstr(rc));
    zWhy = NULL;
  }
  sqlite3_free(zWhy);
  return rc;
}

int thr_apply_body(thr_store *pStore, sqlite3_int64 iThread,
                   const unsigned char logPk[32],
                   const unsigned char author[32], const unsigned char *aBody,
                   size_t nBody, const char *zOnlyColl, const char *zOnlyView,
                   int *pnSkip, char **pzErr) {
  thr_body *pBody = NULL;
  int rc = thr_body_parse(aBody, nBody, 0, &pBody);
  if (rc == SQLITE_OK) {
    rc = thr_body_apply(pStore, iThread, logPk, author, pBody, zOnlyColl,
                        zOnlyView, pnSkip, pzErr);
  } else {
    *pzErr = sqlite3_mprintf("out of memory");
  }
  thr_body_free(pBody);
  return rc;
}

static int rebuild_body(void *pArg, const unsigned char *logPk,
                        const unsigned char *author, const unsigned char *aBody,
                        size_t nBody) {
  rebuild_ctx *r = pArg;
  return thr_apply_body(r->pStore, r->iThread, logPk, author, aBody, nBody,
                        r->zColl, r->zView, &r->nSkip, r->pzErr);
}

int thr_view_rebuild(thr_store *pStore, const char *zView, char **pzErr) {
  sqlite3 *db = thr_store_db(pStore);
  sqlite3_stmt *pStmt = NULL;
  rebuild_ctx r;
  thr_tid tid;
  char *zColl = NULL, *zSql;
  int rc;
  memset(&r, 0, sizeof(r));
  rc = sqlite3_prepare_v2(db,
                          "SELECT t.id, v.tid, v.coll FROM _threads_view v"
                          " JOIN _threads_thread t ON t.tid = v.tid"
                          " WHERE v.view = ?1",
                          -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zView, -1, SQLITE_STATIC);
    if (sqlite3_step(pStmt) == SQLITE_ROW) {
      rc = thr_tid_from_bytes(&tid, sqlite3_column_blob(pStmt, 0),
                              (size_t)sqlite3_column_bytes(pStmt, 0), pzErr);
      r.iThread = sqlite3_column_int64(pStmt, 1);
      zColl = sqlite3_mprintf("%s", sqlite3_column_text(pStmt, 2));
    } else {
      *pzErr = sqlite3_mprintf("no such collection table: %s", zView);
      rc = SQLITE_ERROR;
    }
  }
  sqlite3_finalize(pStmt);
  if (rc != SQLITE_OK) {
    sqlite3_free(zColl);
    return rc;
  }
  zSql = sqlite3_mprintf("DELETE FROM \"%w_data\"", zView);
  rc = sqlite3_exec(db, zSql, NULL, NULL, pzErr);
  sqlite3_free(zSql);
  if (rc == SQLITE_OK) {
    r.pStore = pStore;
    r.zView = zView;
    r.zColl = zColl;
    r.pzErr = pzErr;
    rc = thr_store_foreach_body(pStore, &tid, rebuild_body, &r, pzErr);
  }
  sqlite3_free(zColl);
  return rc;
}
