/*
** reduce.c: the merge rule.  Every peer that holds the same records holds
** the same schemas, rows and conflicts, whatever order they arrived in.
**
** THE RULE
**
**   The rows of a collection are the result of applying every action of
**   the thread in one total order, the order key of hlc.c: (hlc, log ID,
**   record CID, index in the body).  Each action applies only if the
**   document it produces passes the schema in force at that point of the
**   order and the collection's unique properties; otherwise it is skipped
**   alike on every peer and listed in threads_conflicts:
**     create  the document becomes the action's (a live one is replaced);
**     save    a patch of top-level fields (null removes one); a save of a
**             document that does not exist at its point changes nothing
**             and is listed as 'missing';
**     delete  removes the document; a delete of a missing document does
**             nothing and is not listed (nothing is lost by it);
**   and each resulting document must pass the schema ('schema') and hold
**   no value of a "unique": true property that another live document
**   holds ('unique').  Schema actions are in the same order, per
**   collection: the first definition defines it; a later definition with
**   another schema is skipped and listed ('schema', _id NULL); "alter"
**   replaces the schema of a defined collection (stored documents are not
**   re-validated).  An action on a collection not defined at its point is
**   skipped ('schema').
**
** HOW (per view V of the collection; views are the local tables)
**
**   "V_data"  the live documents (doc.c), _hlc and _log those of the last
**             action applied to the row, _clock the rest of its order key:
**             the record CID and index (40-byte blob), or for an action
**             written here, its index alone (an integer: CID unknown;
**             NULL in rows of earlier versions is read the same way).
**   "V_hist"  (_id, ord, type, json, lid): the complete history of every
**             document that has had more than one action, or whose only
**             action was skipped.  A document without history rows has had
**             exactly one action, a create that applied: its row says all.
**   _threads_hwm  per view, the largest order key it has taken (hwm),
**             and the rid up to which that covers this file's records.  A
**             local write raises hwm in memory only (no page per commit);
**             a reader adds this file's later records (view_hwm).
**   _threads_schema_log  every schema action, by order key.
**   _threads_conflict    every action the rule skipped.
**
**   An action past hwm is applied on top of the row (the fast path; a
**   create of a new _id is one INSERT, the cost of a plain table row).
**   An older action is added to the history and its document marked; at
**   the end of the transaction (thr_reduce_flush) each marked document is
**   recomputed from its history.  When the collection has a unique
**   property, or a schema action arrives older than hwm, the whole view is
**   recomputed instead (documents sharing a value depend on each other).
**
** COST
**   In order: one row write per action, plus one history row for every
**   action on a document that already has one.  Out of order: per marked
**   document, its history (k actions: k schema checks); per recomputed
**   view, every action of the collection once, sorted.
*/
#include "thr_core.h"

#include <stdlib.h>
#include <string.h>

#define ORD THR_ORD_BYTES

/* Why the rule skipped an action. */
#define RED_OK 0
#define RED_SCHEMA 1
#define RED_UNIQUE 2
#define RED_MISSING 3
#define RED_NOOP 4 /* a delete of nothing: skipped, not listed */

static const char *const azWhy[] = {"", "schema", "unique", "missing", ""};

/* One step of a collection's schema history: pSchema in force from ord. */
typedef struct red_step red_step;
struct red_step {
  unsigned char ord[ORD];
  thr_schema *pSchema;
};

/* The schema history of collection zColl of thread iThread. */
typedef struct red_coll red_coll;
struct red_coll {
  sqlite3_int64 iThread;
  char *zColl;
  red_step *aStep;
  int nStep;
  int bUnique; /* some schema of it has a "unique": true property */
  int bMoved;  /* the fold that made it changed the schema in force */
  red_coll *pNext;
};

/* A document marked for recomputation. */
typedef struct red_mark red_mark;
struct red_mark {
  char *zId;
  red_mark *pNext;
};

/* A view of collection zColl of thread iThread, with its statements.  An
** entry with zView NULL remembers that the collection has no view here. */
typedef struct red_view red_view;
struct red_view {
  char *zView; /* NULL: no views of (iThread, zColl) */
  sqlite3_int64 iThread;
  char *zColl;
  int nProp;
  char **azProp;
  int *aeKind; /* THR_PT_* per property */
  sqlite3_stmt *pSel, *pIns, *pUpd, *pDel;
  sqlite3_stmt *pHistHas, *pHistAny, *pHistIns, *pHistSel;
  sqlite3_stmt **apUniq; /* per property: another live row with the value? */
  const char *zUniqHit;  /* the property row_write found held (borrowed) */
  unsigned char hwm[ORD];
  sqlite3_int64 hwmRid; /* hwm covers this file's records up to this rid */
  int nLocal;    /* local actions in hwm that _threads_hwm lacks */
  int bHwm;      /* hwm valid (red_state.bHwmChecked says for how long) */
  int bHwmDirty; /* hwm moved: write it at flush */
  int bHistNone; /* V_hist has no rows (read with hwm, valid while bHwm) */
  int bAll;      /* recompute every document at flush */
  int bRebuild;  /* replaying the log: every action to the history */
  red_mark *pMarks;
  int nMark;
  red_view *pNext;
};

typedef struct red_state red_state;
struct red_state {
  uint64_t hlc;                    /* the last clock issued or seen */
  red_view *pViews;                /* cached views... */
  int iCookie;                     /* ...valid for this schema cookie */
  red_coll *pColls;                /* schema histories */
  sqlite3_stmt *pVersion;          /* PRAGMA data_version */
  sqlite3_stmt *pClearDoc;         /* a document's conflicts go */
  sqlite3_stmt *pHwmGet, *pHwmPut; /* a view's hwm */
  sqlite3_int64 iVersion;          /* ...when pColls was valid */
  sqlite3_int64 iHwmVersion;       /* data_version the views' hwm hold for */
  int bHwmChecked;                 /* ...checked in this transaction */
};

/**************************************************************************
** State.
*/
static void marks_free(red_view *pV) {
  while (pV->pMarks) {
    red_mark *pM = pV->pMarks;
    pV->pMarks = pM->pNext;
    sqlite3_free(pM->zId);
    sqlite3_free(pM);
  }
  pV->nMark = 0;
}

static void view_free(red_view *pV) {
  int i;
  sqlite3_finalize(pV->pSel);
  sqlite3_finalize(pV->pIns);
  sqlite3_finalize(pV->pUpd);
  sqlite3_finalize(pV->pDel);
  sqlite3_finalize(pV->pHistHas);
  sqlite3_finalize(pV->pHistAny);
  sqlite3_finalize(pV->pHistIns);
  sqlite3_finalize(pV->pHistSel);
  for (i = 0; i < pV->nProp; i++) {
    sqlite3_free(pV->azProp[i]);
    if (pV->apUniq) {
      sqlite3_finalize(pV->apUniq[i]);
    }
  }
  sqlite3_free(pV->apUniq);
  marks_free(pV);
  sqlite3_free(pV->azProp);
  sqlite3_free(pV->aeKind);
  sqlite3_free(pV->zView);
  sqlite3_free(pV->zColl);
  sqlite3_free(pV);
}

static void coll_free(red_coll *pC) {
  int i;
  for (i = 0; i < pC->nStep; i++) {
    thr_schema_free(pC->aStep[i].pSchema);
  }
  sqlite3_free(pC->aStep);
  sqlite3_free(pC->zColl);
  sqlite3_free(pC);
}

static void red_release(void *pArg) {
  red_state *p = pArg;
  sqlite3_finalize(p->pVersion);
  p->pVersion = NULL;
  sqlite3_finalize(p->pClearDoc);
  p->pClearDoc = NULL;
  sqlite3_finalize(p->pHwmGet);
  p->pHwmGet = NULL;
  sqlite3_finalize(p->pHwmPut);
  p->pHwmPut = NULL;
  while (p->pViews) {
    red_view *pV = p->pViews;
    p->pViews = pV->pNext;
    view_free(pV);
  }
}

static void red_free(void *pArg) {
  red_state *p = pArg;
  red_release(p);
  while (p->pColls) {
    red_coll *pC = p->pColls;
    p->pColls = pC->pNext;
    coll_free(pC);
  }
  sqlite3_free(p);
}

static red_state *red_get(thr_store *pStore) {
  red_state **pp = (red_state **)thr_store_slot(pStore, THR_SLOT_REDUCE,
                                                red_free, red_release);
  if (*pp == NULL) {
    *pp = sqlite3_malloc64(sizeof(red_state));
    if (*pp) {
      memset(*pp, 0, sizeof(red_state));
      (*pp)->iCookie = -1;
    }
  }
  return *pp;
}

uint64_t thr_reduce_tick(thr_store *pStore) {
  red_state *p = red_get(pStore);
  static uint64_t hlcNoMem;
  return thr_hlc_tick(p ? &p->hlc : &hlcNoMem, thr_now_ms());
}

void thr_reduce_forget(thr_store *pStore) {
  red_state *p = red_get(pStore);
  if (p) {
    red_release(p);
  }
}

/* Views come and go with CREATE/DROP TABLE, on any connection: the cache
** holds for one schema cookie. */
static int views_each(thr_store *pStore, sqlite3_int64 iThread,
                      const char *zColl, const char *zOnlyView,
                      int (*xEach)(thr_store *, red_view *, void *), void *pArg,
                      char **pzErr);
static int view_mark_all(thr_store *pStore, red_view *pV, void *pArg);

/* PRAGMA data_version: it moves when another connection commits.  -1 if
** it cannot be read. */
static sqlite3_int64 red_data_version(thr_store *pStore, red_state *p) {
  sqlite3_int64 iVersion = -1;
  if (p->pVersion == NULL) {
    thr_store_pin(pStore);
    sqlite3_prepare_v3(thr_store_db(pStore), "PRAGMA data_version", -1,
                       SQLITE_PREPARE_PERSISTENT, &p->pVersion, NULL);
  }
  if (p->pVersion && sqlite3_step(p->pVersion) == SQLITE_ROW) {
    iVersion = sqlite3_column_int64(p->pVersion, 0);
  }
  sqlite3_reset(p->pVersion);
  return iVersion;
}

static void red_check_cookie(thr_store *pStore, red_state *p) {
  sqlite3_int64 iVersion;
  if (p->iCookie != thr_store_cookie(pStore)) {
    /* Views with work pending in this transaction (a reshape's own DDL
    ** moved the cookie) are read again and recomputed whole. */
    red_view *pV, *pPending = NULL;
    while ((pV = p->pViews) != NULL) {
      p->pViews = pV->pNext;
      if (pV->zView && (pV->bAll || pV->pMarks || pV->bHwmDirty)) {
        pV->pNext = pPending;
        pPending = pV;
      } else {
        view_free(pV);
      }
    }
    red_release(p);
    p->iCookie = thr_store_cookie(pStore);
    while ((pV = pPending) != NULL) {
      char *zErr = NULL;
      pPending = pV->pNext;
      views_each(pStore, pV->iThread, pV->zColl, NULL, view_mark_all, NULL,
                 &zErr);
      sqlite3_free(zErr);
      view_free(pV);
    }
  }
  /* Schema actions applied by another connection (the node) change no
  ** cookie: PRAGMA data_version says another connection committed. */
  iVersion = red_data_version(pStore, p);
  if (iVersion < 0 || iVersion != p->iVersion) {
    while (p->pColls) {
      red_coll *pC = p->pColls;
      p->pColls = pC->pNext;
      coll_free(pC);
    }
    p->iVersion = iVersion;
  }
}

void thr_reduce_begin(thr_store *pStore) {
  red_state *p = red_get(pStore);
  if (p == NULL) {
    return;
  }
  red_check_cookie(pStore, p);
  p->bHwmChecked = 0;
}

void thr_reduce_rollback(thr_store *pStore) {
  red_state *p = red_get(pStore);
  red_view *pV;
  for (pV = p ? p->pViews : NULL; pV; pV = pV->pNext) {
    pV->bHwm = 0; /* it may hold actions rolled back: read it again */
    pV->bHwmDirty = 0;
    pV->bAll = 0;
    marks_free(pV);
  }
  if (p) {
    p->bHwmChecked = 0;
  }
}

/**************************************************************************
** Views.
*/
static int red_prepare(sqlite3 *db, sqlite3_stmt **pp, char *zSql) {
  int rc = zSql ? sqlite3_prepare_v3(db, zSql, -1, SQLITE_PREPARE_PERSISTENT,
                                     pp, NULL)
                : SQLITE_NOMEM;
  sqlite3_free(zSql);
  return rc;
}

/* Prepare the statements of view pV (its properties known). */
static int view_prepare(sqlite3 *db, red_view *pV) {
  sqlite3_str *pCols = sqlite3_str_new(db), *pVals = sqlite3_str_new(db);
  sqlite3_str *pSet = sqlite3_str_new(db), *pSel = sqlite3_str_new(db);
  const char *zV = pV->zView;
  char *zCols, *zVals, *zSet, *zSel;
  int i, rc, nP = pV->nProp;
  /* Columns: _id, properties..., _rest, _log, _hlc, _live, _clock. */
  sqlite3_str_appendall(pCols, "_id");
  sqlite3_str_appendall(pVals, "?1");
  sqlite3_str_appendall(pSel, "SELECT d._id");
  for (i = 0; i < nP; i++) {
    sqlite3_str_appendf(pCols, ",\"%w\"", pV->azProp[i]);
    sqlite3_str_appendf(pVals, ",?%d", i + 2);
    sqlite3_str_appendf(pSet, "\"%w\"=?%d,", pV->azProp[i], i + 2);
    sqlite3_str_appendf(pSel, ",d.\"%w\"", pV->azProp[i]);
  }
  sqlite3_str_appendf(pSel,
                      ",d._rest,d._clock,d._log,d._hlc,(SELECT pk FROM "
                      "_threads_log WHERE lid = d._log) FROM \"%w_data\" "
                      "AS d WHERE d._id = ?1",
                      zV);
  sqlite3_str_appendall(pCols, ",_rest,_log,_hlc,_live,_clock");
  sqlite3_str_appendf(pVals, ",?%d,?%d,?%d,1,?%d", nP + 2, nP + 3, nP + 4,
                      nP + 5);
  sqlite3_str_appendf(pSet, "_rest=?%d,_log=?%d,_hlc=?%d,_live=1,_clock=?%d",
                      nP + 2, nP + 3, nP + 4, nP + 5);
  zCols = sqlite3_str_finish(pCols);
  zVals = sqlite3_str_finish(pVals);
  zSet = sqlite3_str_finish(pSet);
  zSel = sqlite3_str_finish(pSel);
  if (zCols == NULL || zVals == NULL || zSet == NULL || zSel == NULL) {
    rc = SQLITE_NOMEM;
    sqlite3_free(zSel);
  } else {
    rc = red_prepare(db, &pV->pSel, zSel);
  }
  if (rc == SQLITE_OK) {
    rc = red_prepare(db, &pV->pIns,
                     sqlite3_mprintf("INSERT INTO \"%w_data\"(%s) VALUES (%s)",
                                     zV, zCols, zVals));
  }
  if (rc == SQLITE_OK) {
    rc = red_prepare(
        db, &pV->pUpd,
        sqlite3_mprintf("UPDATE \"%w_data\" SET %s WHERE _id = ?1", zV, zSet));
  }
  if (rc == SQLITE_OK) {
    rc = red_prepare(
        db, &pV->pDel,
        sqlite3_mprintf("DELETE FROM \"%w_data\" WHERE _id = ?1", zV));
  }
  if (rc == SQLITE_OK) {
    rc = red_prepare(db, &pV->pHistHas,
                     sqlite3_mprintf("SELECT 1 FROM \"%w_hist\" WHERE _id = ?1"
                                     " LIMIT 1",
                                     zV));
  }
  if (rc == SQLITE_OK) {
    rc = red_prepare(
        db, &pV->pHistAny,
        sqlite3_mprintf("SELECT 1 FROM \"%w_hist\" LIMIT 1", zV));
  }
  if (rc == SQLITE_OK) {
    rc = red_prepare(db, &pV->pHistIns,
                     sqlite3_mprintf("INSERT OR IGNORE INTO \"%w_hist\"(_id,"
                                     " ord, type, json, lid)"
                                     " VALUES (?1, ?2, ?3, ?4, ?5)",
                                     zV));
  }
  if (rc == SQLITE_OK) {
    rc = red_prepare(db, &pV->pHistSel,
                     sqlite3_mprintf("SELECT ord, type, json, lid FROM"
                                     " \"%w_hist\" WHERE _id = ?1 ORDER BY ord",
                                     zV));
  }
  sqlite3_free(zCols);
  sqlite3_free(zVals);
  sqlite3_free(zSet);
  return rc;
}

/* The history table of view zView, for files made before it existed. */
int thr_reduce_create_hist(sqlite3 *db, const char *zView) {
  char *zSql = sqlite3_mprintf(
      "CREATE TABLE IF NOT EXISTS \"%w_hist\"(_id TEXT NOT NULL, ord BLOB NOT"
      " NULL, type INTEGER NOT NULL, json TEXT, lid INTEGER,"
      " PRIMARY KEY(_id, ord)) WITHOUT ROWID",
      zView);
  int rc = zSql ? sqlite3_exec(db, zSql, NULL, NULL, NULL) : SQLITE_NOMEM;
  sqlite3_free(zSql);
  return rc;
}

/* Remember that collection zColl of thread iThread has no views.  Only a
** cache: when memory is short it is simply not remembered. */
static void view_none(red_state *p, sqlite3_int64 iThread, const char *zColl) {
  red_view *pV = sqlite3_malloc64(sizeof(*pV));
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

/* Load all the views of collection zColl of thread iThread into the cache;
** or, when it has none, remember that. */
static int view_load(thr_store *pStore, red_state *p, sqlite3_int64 iThread,
                     const char *zColl, char **pzErr) {
  sqlite3 *db = thr_store_db(pStore);
  sqlite3_stmt *pStmt = NULL;
  int rcStep = SQLITE_DONE, nView = 0;
  int rc;
  thr_store_pin(pStore);
  rc = sqlite3_prepare_v2(db,
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
    json_t *pProps =
        json_loads((const char *)sqlite3_column_text(pStmt, 1), 0, NULL);
    red_view *pV = sqlite3_malloc64(sizeof(*pV));
    size_t i;
    if (pV == NULL || !json_is_array(pProps)) {
      rc = pV ? SQLITE_CORRUPT : SQLITE_NOMEM;
      sqlite3_free(pV);
      json_decref(pProps);
      break;
    }
    memset(pV, 0, sizeof(*pV));
    nView++;
    pV->zView = sqlite3_mprintf("%s", sqlite3_column_text(pStmt, 0));
    pV->zColl = sqlite3_mprintf("%s", zColl);
    pV->iThread = iThread;
    pV->nProp = (int)json_array_size(pProps);
    pV->azProp = sqlite3_malloc64(sizeof(char *) * (size_t)(pV->nProp + 1));
    pV->aeKind = sqlite3_malloc64(sizeof(int) * (size_t)(pV->nProp + 1));
    pV->pNext = p->pViews;
    p->pViews = pV;
    if (pV->azProp == NULL || pV->aeKind == NULL || pV->zView == NULL ||
        pV->zColl == NULL) {
      pV->nProp = 0;
      rc = SQLITE_NOMEM;
      json_decref(pProps);
      break;
    }
    for (i = 0; i < (size_t)pV->nProp; i++) {
      json_t *pProp = json_array_get(pProps, i);
      const char *zProp = json_string_value(json_array_get(pProp, 0));
      pV->azProp[i] = sqlite3_mprintf("%s", zProp ? zProp : "");
      pV->aeKind[i] = (int)json_integer_value(json_array_get(pProp, 1));
    }
    json_decref(pProps);
    /* Files written before the history table existed gain it here. */
    rc = thr_reduce_create_hist(db, pV->zView);
    if (rc == SQLITE_OK) {
      rc = view_prepare(db, pV);
    }
    if (rc != SQLITE_OK) {
      *pzErr = sqlite3_mprintf("view %s: %s", pV->zView, sqlite3_errmsg(db));
    }
  }
  sqlite3_finalize(pStmt);
  if (rc == SQLITE_OK && rcStep == SQLITE_DONE && nView == 0) {
    view_none(p, iThread, zColl);
  }
  return rc;
}

/* The decoded body of record iRid (owned), or NULL: this peer cannot
** read it, or it is damaged (threads_verify reports that). */
static thr_cbor *rec_body(thr_store *pStore, sqlite3_int64 iRid) {
  thr_cbuf body = {0, 0};
  unsigned char author[32];
  int64_t t;
  char *zErr = NULL;
  thr_cbor *pBody = NULL;
  if (thr_store_body_at(pStore, iRid, &body, author, &t, &zErr) ==
      SQLITE_OK) {
    pBody = thr_cbor_decode(body.a, body.n, &zErr);
  }
  sqlite3_free(body.a);
  sqlite3_free(zErr);
  return pBody;
}

/* Raise pV->hwm to the doc actions of pV's collection in the records this
** file wrote with rid > pV->hwmRid (they are not in _threads_hwm: local
** writes do not write it, see view_hwm), and pV->hwmRid to the last. */
static int view_fold_own(thr_store *pStore, red_view *pV) {
  sqlite3_stmt *pStmt = NULL;
  int rc = sqlite3_prepare_v2(
      thr_store_db(pStore),
      /* CROSS JOIN: from the rid range, usually empty, not the log. */
      "SELECT r.rid, l.pk, r.cid FROM _threads_record r"
      " CROSS JOIN _threads_log l ON l.lid = r.lid"
      " WHERE r.rid > ?1 AND l.tid = ?2 AND (l.own OR l.pk IN"
      " (SELECT pk FROM _threads_own WHERE tid = ?2)) ORDER BY r.rid",
      -1, &pStmt, NULL);
  if (rc != SQLITE_OK) {
    return rc;
  }
  sqlite3_bind_int64(pStmt, 1, pV->hwmRid);
  sqlite3_bind_int64(pStmt, 2, pV->iThread);
  while (sqlite3_step(pStmt) == SQLITE_ROW) {
    sqlite3_int64 iRid = sqlite3_column_int64(pStmt, 0);
    thr_cbor *pBody = NULL, *pActs;
    size_t i, n;
    if (sqlite3_column_bytes(pStmt, 1) == 32 &&
        sqlite3_column_bytes(pStmt, 2) == 36) {
      pBody = rec_body(pStore, iRid);
    }
    pActs = thr_cbor_get(pBody, "actions");
    n = thr_cbor_array_size(pActs);
    for (i = 0; i < n; i++) {
      thr_cbor *pAct = thr_cbor_array_at(pActs, i);
      size_t nColl = 0;
      const char *zColl =
          thr_cbor_as_text(thr_cbor_get(pAct, "coll"), &nColl);
      uint64_t hlc = 0;
      unsigned char ord[ORD];
      if (zColl && nColl == strlen(pV->zColl) &&
          memcmp(zColl, pV->zColl, nColl) == 0 &&
          thr_cbor_get(pAct, "id") != NULL &&
          thr_cbor_as_uint(thr_cbor_get(pAct, "hlc"), &hlc)) {
        thr_ord_make(ord, hlc, sqlite3_column_blob(pStmt, 1),
                     sqlite3_column_blob(pStmt, 2), (uint32_t)i);
        if (memcmp(ord, pV->hwm, ORD) > 0) {
          memcpy(pV->hwm, ord, ORD);
        }
      }
    }
    thr_cbor_free(pBody);
    pV->hwmRid = iRid;
    pV->bHwmDirty = 1; /* save the fold's work at flush */
  }
  return sqlite3_finalize(pStmt);
}

/* The view's hwm.  _threads_hwm(view, hwm) holds the order key (80 bytes)
** and the rid up to which it covers this file's own records (8 more,
** big-endian; a row without them covers none).  A local write raises hwm
** in memory only: writing the row would cost every commit a page.  So
** whoever reads the row raises it by the own records past its rid
** (view_fold_own); the node, which applies remote records, writes the
** row, and so does a connection whose unwritten local actions pass
** THR_HWM_LAG.  Kept across transactions while no other connection
** commits (PRAGMA data_version). */
#define THR_HWM_LAG 1024
static int view_hwm(thr_store *pStore, red_view *pV) {
  sqlite3_stmt *pStmt = NULL;
  int rc;
  red_state *p = red_get(pStore);
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  if (!p->bHwmChecked) {
    sqlite3_int64 iVersion = red_data_version(pStore, p);
    red_view *pW;
    if (iVersion < 0 || iVersion != p->iHwmVersion) {
      for (pW = p->pViews; pW; pW = pW->pNext) {
        pW->bHwm = 0;
      }
    }
    p->iHwmVersion = iVersion;
    p->bHwmChecked = 1;
  }
  if (pV->bHwm) {
    return SQLITE_OK;
  }
  memset(pV->hwm, 0, ORD);
  pV->hwmRid = 0;
  pV->nLocal = 0;
  rc = SQLITE_OK;
  if (p->pHwmGet == NULL) {
    rc = sqlite3_prepare_v3(thr_store_db(pStore),
                            "SELECT hwm FROM _threads_hwm WHERE view = ?1", -1,
                            SQLITE_PREPARE_PERSISTENT, &p->pHwmGet, NULL);
  }
  pStmt = p->pHwmGet;
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, pV->zView, -1, SQLITE_STATIC);
    if (sqlite3_step(pStmt) == SQLITE_ROW &&
        sqlite3_column_bytes(pStmt, 0) >= ORD) {
      const unsigned char *a = sqlite3_column_blob(pStmt, 0);
      memcpy(pV->hwm, a, ORD);
      if (sqlite3_column_bytes(pStmt, 0) == ORD + 8) {
        int i;
        for (i = 0; i < 8; i++) {
          pV->hwmRid = (pV->hwmRid << 8) | a[ORD + i];
        }
      }
    }
    rc = sqlite3_reset(pStmt);
  }
  pV->bHwmDirty = 0;
  if (rc == SQLITE_OK) {
    rc = view_fold_own(pStore, pV);
  }
  if (rc == SQLITE_OK) {
    /* No history yet: hist_has needs no lookup (hist_add clears it). */
    pV->bHistNone = sqlite3_step(pV->pHistAny) == SQLITE_DONE;
    rc = sqlite3_reset(pV->pHistAny);
  }
  pV->bHwm = rc == SQLITE_OK;
  return rc;
}

/* Call xEach for every view of (iThread, zColl), or of zOnlyView only;
** loads them into the cache on first use. */
static int views_each(thr_store *pStore, sqlite3_int64 iThread,
                      const char *zColl, const char *zOnlyView,
                      int (*xEach)(thr_store *, red_view *, void *), void *pArg,
                      char **pzErr) {
  red_state *p = red_get(pStore);
  red_view *pV;
  int rc = SQLITE_OK, bLoaded = 0;
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  for (;;) {
    int nSeen = 0, bNone = 0;
    for (pV = p->pViews; rc == SQLITE_OK && pV; pV = pV->pNext) {
      if (pV->iThread != iThread || strcmp(pV->zColl, zColl) != 0) {
        continue;
      }
      if (pV->zView == NULL) {
        bNone = 1;
        continue;
      }
      nSeen++;
      if (zOnlyView && strcmp(pV->zView, zOnlyView) != 0) {
        continue;
      }
      rc = view_hwm(pStore, pV);
      if (rc == SQLITE_OK) {
        rc = xEach(pStore, pV, pArg);
      }
    }
    if (nSeen > 0 || bNone || bLoaded || rc != SQLITE_OK) {
      break;
    }
    rc = view_load(pStore, p, iThread, zColl, pzErr);
    bLoaded = 1;
  }
  return rc;
}

/**************************************************************************
** Schema histories.
*/
static int coll_add_step(red_coll *pC, const unsigned char *ord,
                         const char *zSchema) {
  red_step *aNew;
  thr_schema *pS = NULL;
  char *zErr = NULL;
  int rc = thr_schema_compile(zSchema, &pS, &zErr);
  sqlite3_free(zErr);
  if (rc != SQLITE_OK) {
    return rc == SQLITE_NOMEM ? rc : SQLITE_OK; /* refused when stored */
  }
  aNew =
      sqlite3_realloc64(pC->aStep, sizeof(red_step) * (size_t)(pC->nStep + 1));
  if (aNew == NULL) {
    thr_schema_free(pS);
    return SQLITE_NOMEM;
  }
  pC->aStep = aNew;
  memcpy(aNew[pC->nStep].ord, ord, ORD);
  aNew[pC->nStep].pSchema = pS;
  pC->nStep++;
  {
    const char *zKey;
    json_t *pVal;
    json_t *pProps = json_object_get(thr_schema_json(pS), "properties");
    json_object_foreach(pProps, zKey, pVal) {
      if (json_is_true(json_object_get(pVal, "unique"))) {
        pC->bUnique = 1;
      }
    }
  }
  return SQLITE_OK;
}

static const unsigned char aNoCid[36] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* The first clock of record iCounter of log iLid in *pHlc, and with
** hlc != 0, whether the record holds an action of clock hlc (*pbHas). */
static int rec_first_hlc(thr_store *pStore, sqlite3_stmt *pRec,
                         sqlite3_int64 iCounter, uint64_t hlc, uint64_t *pFirst,
                         int *pbHas) {
  thr_cbor *pBody = NULL, *pActs;
  size_t i, n;
  int rc;
  *pFirst = 0;
  *pbHas = 0;
  sqlite3_bind_int64(pRec, 2, iCounter);
  rc = sqlite3_step(pRec) == SQLITE_ROW ? SQLITE_OK : SQLITE_NOTFOUND;
  if (rc == SQLITE_OK) {
    pBody = rec_body(pStore, sqlite3_column_int64(pRec, 0));
    rc = pBody ? SQLITE_OK : SQLITE_NOTFOUND;
  }
  pActs = thr_cbor_get(pBody, "actions");
  n = thr_cbor_array_size(pActs);
  for (i = 0; i < n; i++) {
    uint64_t h = 0;
    if (thr_cbor_as_uint(thr_cbor_get(thr_cbor_array_at(pActs, i), "hlc"),
                         &h)) {
      if (*pFirst == 0) {
        *pFirst = h;
      }
      *pbHas |= h == hlc;
    }
  }
  thr_cbor_free(pBody);
  return rc;
}

/* An order key of an action written here holds no CID (its record was
** not sealed when it was made: thr_ord_make with NULL).  Put the CID of
** the record of log iLid that holds the action's clock into ord, so that
** every peer lists the action alike.  Clocks grow along a log, so the
** record is found by bisection on the counter. */
static void ord_seal(thr_store *pStore, sqlite3_int64 iLid,
                     unsigned char ord[ORD]) {
  sqlite3 *db = thr_store_db(pStore);
  sqlite3_stmt *pMax = NULL, *pRec = NULL;
  sqlite3_int64 lo = 1, hi = 0, found = 0;
  uint64_t hlc = thr_ord_hlc(ord);
  if (memcmp(ord + 40, aNoCid, 36) != 0) {
    return;
  }
  if (sqlite3_prepare_v2(db,
                         "SELECT max(counter) FROM _threads_record"
                         " WHERE lid = ?1",
                         -1, &pMax, NULL) == SQLITE_OK) {
    sqlite3_bind_int64(pMax, 1, iLid);
    if (sqlite3_step(pMax) == SQLITE_ROW) {
      hi = sqlite3_column_int64(pMax, 0);
    }
  }
  sqlite3_finalize(pMax);
  if (sqlite3_prepare_v2(db,
                         "SELECT rid, cid FROM _threads_record"
                         " WHERE lid = ?1 AND counter = ?2",
                         -1, &pRec, NULL) != SQLITE_OK) {
    hi = 0;
  }
  sqlite3_bind_int64(pRec, 1, iLid);
  /* The last record whose first clock is <= hlc. */
  while (lo <= hi) {
    sqlite3_int64 mid = lo + (hi - lo) / 2;
    uint64_t first;
    int bHas;
    int rc = rec_first_hlc(pStore, pRec, mid, hlc, &first, &bHas);
    if (rc == SQLITE_OK && bHas) {
      found = mid;
      break;
    }
    if (rc == SQLITE_OK && first != 0 && first <= hlc) {
      lo = mid + 1;
    } else if (rc == SQLITE_OK) {
      hi = mid - 1;
    } else {
      break; /* unreadable: leave the key as it is */
    }
    sqlite3_reset(pRec);
  }
  if (found && sqlite3_column_bytes(pRec, 1) == 36) {
    memcpy(ord + 40, sqlite3_column_blob(pRec, 1), 36);
  }
  sqlite3_finalize(pRec);
}

/* Add a conflict row.  zId NULL for a schema action. */
static int conflict_add(thr_store *pStore, sqlite3_int64 iThread,
                        const char *zColl, const char *zId,
                        const unsigned char *ordIn, int eType,
                        const char *zJson, sqlite3_int64 iLid, int eWhy) {
  sqlite3 *db = thr_store_db(pStore);
  sqlite3_stmt *pStmt = NULL;
  unsigned char ord[ORD];
  int rc;
  memcpy(ord, ordIn, ORD);
  ord_seal(pStore, iLid, ord);
  rc = sqlite3_prepare_v3(
      db,
      "INSERT OR IGNORE INTO _threads_conflict(tid, coll, id, ord, type,"
      " json, lid, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
      -1, SQLITE_PREPARE_PERSISTENT, &pStmt, NULL);
  if (rc != SQLITE_OK) {
    return rc;
  }
  sqlite3_bind_int64(pStmt, 1, iThread);
  sqlite3_bind_text(pStmt, 2, zColl, -1, SQLITE_STATIC);
  sqlite3_bind_text(pStmt, 3, zId, -1, SQLITE_STATIC);
  sqlite3_bind_blob(pStmt, 4, ord, ORD, SQLITE_STATIC);
  sqlite3_bind_int(pStmt, 5, eType);
  sqlite3_bind_text(pStmt, 6, zJson, -1, SQLITE_STATIC);
  sqlite3_bind_int64(pStmt, 7, iLid);
  sqlite3_bind_text(pStmt, 8, azWhy[eWhy], -1, SQLITE_STATIC);
  sqlite3_step(pStmt);
  return sqlite3_finalize(pStmt);
}

/* Delete the conflicts of (iThread, zColl): of document zId, of every
** document (zId NULL, bDocs), or of the schema actions (zId NULL). */
static int conflict_clear(thr_store *pStore, sqlite3_int64 iThread,
                          const char *zColl, const char *zId, int bDocs) {
  char *zSql = sqlite3_mprintf(
      "DELETE FROM _threads_conflict WHERE tid = %lld AND coll = %Q AND %s",
      (long long)iThread, zColl,
      zId ? "id = ?1" : (bDocs ? "id IS NOT NULL" : "id IS NULL"));
  sqlite3_stmt *pStmt = NULL;
  int rc =
      zSql ? sqlite3_prepare_v2(thr_store_db(pStore), zSql, -1, &pStmt, NULL)
           : SQLITE_NOMEM;
  sqlite3_free(zSql);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zId, -1, SQLITE_STATIC);
    sqlite3_step(pStmt);
    rc = sqlite3_finalize(pStmt);
  }
  return rc;
}

/* Fold the schema actions of (iThread, zColl) into its history (*ppC,
** owned by the cache); with bWrite, also write the schema in force at the
** end to _threads_collection and the skipped schema actions to the
** conflicts.  *ppC->nStep == 0: the collection is not defined. */
static int coll_fold(thr_store *pStore, sqlite3_int64 iThread,
                     const char *zColl, int bWrite, red_coll **ppC) {
  sqlite3 *db = thr_store_db(pStore);
  red_state *p = red_get(pStore);
  sqlite3_stmt *pStmt = NULL;
  red_coll *pC, **pp;
  const char *zCur = NULL;
  char *zLast = NULL;
  int rc, nRow = 0;
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  for (pp = &p->pColls; *pp; pp = &(*pp)->pNext) {
    if ((*pp)->iThread == iThread && strcmp((*pp)->zColl, zColl) == 0) {
      if (!bWrite) {
        *ppC = *pp;
        return SQLITE_OK;
      }
      pC = *pp;
      *pp = pC->pNext;
      coll_free(pC);
      break;
    }
  }
  pC = sqlite3_malloc64(sizeof(*pC));
  if (pC == NULL) {
    return SQLITE_NOMEM;
  }
  memset(pC, 0, sizeof(*pC));
  pC->iThread = iThread;
  pC->zColl = sqlite3_mprintf("%s", zColl);
  rc = pC->zColl ? SQLITE_OK : SQLITE_NOMEM;
  if (rc == SQLITE_OK && bWrite) {
    rc = conflict_clear(pStore, iThread, zColl, NULL, 0);
  }
  if (rc == SQLITE_OK) {
    rc = sqlite3_prepare_v2(db,
                            "SELECT ord, type, schema, lid FROM"
                            " _threads_schema_log WHERE tid = ?1 AND coll = ?2"
                            " ORDER BY ord",
                            -1, &pStmt, NULL);
  }
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, iThread);
    sqlite3_bind_text(pStmt, 2, zColl, -1, SQLITE_STATIC);
  }
  while (rc == SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW) {
    const unsigned char *ord = sqlite3_column_blob(pStmt, 0);
    int eType = sqlite3_column_int(pStmt, 1);
    const char *zS = (const char *)sqlite3_column_text(pStmt, 2);
    int eWhy = RED_OK;
    nRow++;
    if (ord == NULL || sqlite3_column_bytes(pStmt, 0) != ORD || zS == NULL) {
      rc = SQLITE_CORRUPT;
      break;
    }
    if (eType == THR_ACT_COLL && zLast && strcmp(zLast, zS) != 0 &&
        pC->nStep > 0) {
      eWhy = RED_SCHEMA; /* another definition came first */
    } else if (eType == THR_ACT_ALTER && pC->nStep == 0) {
      eWhy = RED_SCHEMA; /* not defined yet */
    } else if (eType == THR_ACT_ALTER ||
               (eType == THR_ACT_COLL && pC->nStep == 0)) {
      rc = coll_add_step(pC, ord, zS);
      sqlite3_free(zLast);
      zLast = sqlite3_mprintf("%s", zS);
      if (zLast == NULL) {
        rc = SQLITE_NOMEM;
      }
    }
    if (rc == SQLITE_OK && eWhy != RED_OK && bWrite) {
      rc = conflict_add(pStore, iThread, zColl, NULL, ord, eType, zS,
                        sqlite3_column_int64(pStmt, 3), eWhy);
    }
  }
  sqlite3_finalize(pStmt);
  if (rc == SQLITE_OK && nRow == 0) {
    /* A file from before the schema log: its registry is the history. */
    char *zOld = NULL;
    sqlite3_stmt *pOld = NULL;
    rc = sqlite3_prepare_v2(db,
                            "SELECT schema FROM _threads_collection"
                            " WHERE tid = ?1 AND name = ?2",
                            -1, &pOld, NULL);
    if (rc == SQLITE_OK) {
      sqlite3_bind_int64(pOld, 1, iThread);
      sqlite3_bind_text(pOld, 2, zColl, -1, SQLITE_STATIC);
      if (sqlite3_step(pOld) == SQLITE_ROW) {
        zOld = sqlite3_mprintf("%s", sqlite3_column_text(pOld, 0));
      }
      sqlite3_finalize(pOld);
    }
    if (zOld) {
      unsigned char zero[ORD];
      memset(zero, 0, ORD);
      rc = coll_add_step(pC, zero, zOld);
      sqlite3_free(zOld);
    }
    bWrite = 0;
  }
  zCur = zLast;
  if (rc == SQLITE_OK && bWrite && zCur) {
    rc = sqlite3_prepare_v2(db,
                            "INSERT INTO _threads_collection(tid, name, schema)"
                            " VALUES (?1, ?2, ?3) ON CONFLICT(tid, name)"
                            " DO UPDATE SET schema = excluded.schema"
                            " WHERE schema IS NOT excluded.schema",
                            -1, &pStmt, NULL);
    if (rc == SQLITE_OK) {
      sqlite3_bind_int64(pStmt, 1, iThread);
      sqlite3_bind_text(pStmt, 2, zColl, -1, SQLITE_STATIC);
      sqlite3_bind_text(pStmt, 3, zCur, -1, SQLITE_STATIC);
      sqlite3_step(pStmt);
      rc = sqlite3_finalize(pStmt);
      pC->bMoved = rc == SQLITE_OK && sqlite3_changes(db) > 0;
    }
  }
  sqlite3_free(zLast);
  if (rc != SQLITE_OK) {
    coll_free(pC);
    return rc;
  }
  pC->pNext = p->pColls;
  p->pColls = pC;
  *ppC = pC;
  return SQLITE_OK;
}

/* The schema in force at ord, or NULL: the collection is not defined. */
static const thr_schema *coll_schema_at(const red_coll *pC,
                                        const unsigned char *ord) {
  int i;
  for (i = pC->nStep - 1; i >= 0; i--) {
    if (memcmp(pC->aStep[i].ord, ord, ORD) < 0) {
      return pC->aStep[i].pSchema;
    }
  }
  return NULL;
}

/**************************************************************************
** One action on one document.
*/

/* The document an action makes of pOld (borrowed; NULL: no document):
** *ppNew (owned; NULL for a delete), or a reason it is skipped.  With
** bTrusted the document was checked against the schema already (a local
** write). */
static int rule_step(const red_coll *pC, const unsigned char *ord, int eType,
                     const char *zId, json_t *pIn, json_t *pOld, int bTrusted,
                     json_t **ppNew, int *pRc) {
  const thr_schema *pS;
  json_t *pNew = NULL, *pVal, *pId;
  const char *zKey;
  char *zWhy = NULL;
  *ppNew = NULL;
  if (eType == THR_ACT_DELETE) {
    return pOld ? RED_OK : RED_NOOP;
  }
  pS = coll_schema_at(pC, ord);
  if (pS == NULL && !bTrusted) {
    return RED_SCHEMA;
  }
  if (eType == THR_ACT_SAVE && pOld == NULL) {
    return RED_MISSING;
  }
  if (pIn == NULL) {
    return RED_SCHEMA; /* not a JSON object */
  }
  pId = json_object_get(pIn, "_id");
  if (pId && (!json_is_string(pId) || strcmp(json_string_value(pId), zId))) {
    return RED_SCHEMA; /* another document's _id, or none */
  }
  /* A shallow copy: the rule patches top-level fields only, and the
  ** values it shares are never changed in place. */
  pNew = json_copy(eType == THR_ACT_CREATE ? pIn : pOld);
  pId = json_string(zId);
  if (pNew == NULL || pId == NULL) {
    json_decref(pNew);
    json_decref(pId);
    *pRc = SQLITE_NOMEM;
    return RED_OK;
  }
  if (eType == THR_ACT_SAVE) {
    json_object_foreach(pIn, zKey, pVal) {
      if (json_is_null(pVal)) {
        json_object_del(pNew, zKey);
      } else {
        json_object_set(pNew, zKey, pVal);
      }
    }
  }
  json_object_set_new(pNew, "_id", pId);
  if (!bTrusted && thr_schema_check(pS, pNew, &zWhy) != SQLITE_OK) {
    sqlite3_free(zWhy);
    json_decref(pNew);
    return RED_SCHEMA;
  }
  *ppNew = pNew;
  return RED_OK;
}

/* The document of view pV's row zId (*ppDoc owned, NULL if there is
** none), with the order key of its last action (ord) and its lid. */
static int row_read(red_view *pV, const char *zId, json_t **ppDoc,
                    unsigned char ord[ORD], sqlite3_int64 *piLid) {
  int rc = SQLITE_OK, nP = pV->nProp;
  *ppDoc = NULL;
  sqlite3_bind_text(pV->pSel, 1, zId, -1, SQLITE_STATIC);
  if (sqlite3_step(pV->pSel) == SQLITE_ROW) {
    const unsigned char *pk = sqlite3_column_blob(pV->pSel, nP + 5);
    int eClock = sqlite3_column_type(pV->pSel, nP + 2);
    *ppDoc =
        thr_doc_rebuild(pV->pSel, 1, nP, pV->azProp, pV->aeKind, nP + 1, &rc);
    *piLid = sqlite3_column_int64(pV->pSel, nP + 3);
    if (rc == SQLITE_OK &&
        (pk == NULL || sqlite3_column_bytes(pV->pSel, nP + 5) != 32)) {
      rc = SQLITE_CORRUPT_VTAB;
    }
    if (rc == SQLITE_OK && eClock == SQLITE_BLOB &&
        sqlite3_column_bytes(pV->pSel, nP + 2) == 40) {
      const unsigned char *a = sqlite3_column_blob(pV->pSel, nP + 2);
      thr_ord_make(ord, (uint64_t)sqlite3_column_int64(pV->pSel, nP + 4), pk, a,
                   0);
      memcpy(ord + 76, a + 36, 4);
    } else if (rc == SQLITE_OK &&
               (eClock == SQLITE_INTEGER || eClock == SQLITE_NULL)) {
      /* An index alone: an action of this peer's, whose record's CID was
      ** not known when it was written.  (NULL: a row of an earlier version,
      ** taken as the same.) */
      thr_ord_make(ord, (uint64_t)sqlite3_column_int64(pV->pSel, nP + 4), pk,
                   NULL, (uint32_t)sqlite3_column_int64(pV->pSel, nP + 2));
    } else if (rc == SQLITE_OK) {
      rc = SQLITE_CORRUPT_VTAB;
    }
    if (rc != SQLITE_OK) {
      json_decref(*ppDoc);
      *ppDoc = NULL;
    }
  }
  sqlite3_reset(pV->pSel);
  return rc;
}

/* The error of a failed shadow-table write, in the user's terms: SQLite
** names the shadow table, the user knows the view.  Returns the code. */
static int row_error(red_view *pV, sqlite3 *db, char **pzErr) {
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

/* Does another live row of pV hold pNew's value of a property that is
** "unique": true in the schema in force at ord (pC's history)?  The rule
** asks this of the schema at the action's point, not of the one in force
** now, so the shadow table's indexes are plain ones and this looks. */
static int row_unique(red_view *pV, sqlite3 *db, const red_coll *pC,
                      const unsigned char *ord, const char *zId,
                      const json_t *pNew, int *pbUnique) {
  const thr_schema *pS = coll_schema_at(pC, ord);
  const json_t *pProps;
  int i, rc = SQLITE_OK;
  if (pS == NULL && pC->nStep > 0) {
    pS = pC->aStep[pC->nStep - 1].pSchema; /* a local write's own */
  }
  pProps = pS ? json_object_get(thr_schema_json(pS), "properties") : NULL;
  for (i = 0; rc == SQLITE_OK && pProps && i < pV->nProp; i++) {
    const json_t *v = json_object_get(pNew, pV->azProp[i]);
    sqlite3_stmt *pQ;
    if (v == NULL || json_is_null(v) ||
        !json_is_true(json_object_get(
            json_object_get(pProps, pV->azProp[i]), "unique"))) {
      continue;
    }
    if (pV->apUniq == NULL) {
      pV->apUniq = sqlite3_malloc64(sizeof(sqlite3_stmt *) * pV->nProp);
      if (pV->apUniq == NULL) {
        return SQLITE_NOMEM;
      }
      memset(pV->apUniq, 0, sizeof(sqlite3_stmt *) * pV->nProp);
    }
    if (pV->apUniq[i] == NULL) {
      char *zSql = sqlite3_mprintf("SELECT 1 FROM \"%w_data\" WHERE \"%w\" = ?1"
                                   " AND _live = 1 AND _id <> ?2",
                                   pV->zView, pV->azProp[i]);
      rc = zSql ? sqlite3_prepare_v3(db, zSql, -1, SQLITE_PREPARE_PERSISTENT,
                                     &pV->apUniq[i], NULL)
                : SQLITE_NOMEM;
      sqlite3_free(zSql);
    }
    pQ = pV->apUniq[i];
    if (rc == SQLITE_OK) {
      thr_bind_json(pQ, 1, v);
      sqlite3_bind_text(pQ, 2, zId, -1, SQLITE_STATIC);
      if (sqlite3_step(pQ) == SQLITE_ROW) {
        *pbUnique = 1;
        pV->zUniqHit = pV->azProp[i];
      }
      rc = sqlite3_reset(pQ);
      sqlite3_clear_bindings(pQ);
      if (*pbUnique) {
        break;
      }
    }
  }
  return rc;
}

/* Write document pNew (NULL: delete) as row zId of pV, stamped with its
** last action (ord, iLid).  bExists: the row exists.  A unique property
** (pC: of the schema at ord) that another row holds: *pbUnique set,
** nothing written. */
static int row_write(red_view *pV, sqlite3 *db, const red_coll *pC,
                     const char *zId, json_t *pNew, int bExists,
                     const unsigned char *ord, sqlite3_int64 iLid,
                     int *pbUnique, char **pzErr) {
  sqlite3_stmt *pW;
  char *zRest;
  int rc = SQLITE_OK, i, nP = pV->nProp;
  *pbUnique = 0;
  if (pNew && pC && pC->bUnique) {
    rc = row_unique(pV, db, pC, ord, zId, pNew, pbUnique);
    if (rc != SQLITE_OK || *pbUnique) {
      return rc;
    }
  }
  if (pNew == NULL) {
    if (!bExists) {
      return SQLITE_OK;
    }
    sqlite3_bind_text(pV->pDel, 1, zId, -1, SQLITE_STATIC);
    rc = sqlite3_step(pV->pDel) == SQLITE_DONE ? SQLITE_OK
                                               : row_error(pV, db, pzErr);
    sqlite3_reset(pV->pDel);
    return rc;
  }
  zRest = thr_doc_rest(pNew, nP, pV->azProp, pV->aeKind, &rc);
  if (rc != SQLITE_OK) {
    return rc;
  }
  pW = bExists ? pV->pUpd : pV->pIns;
  sqlite3_bind_text(pW, 1, zId, -1, SQLITE_STATIC);
  for (i = 0; i < nP; i++) {
    thr_bind_json(pW, i + 2, json_object_get(pNew, pV->azProp[i]));
  }
  sqlite3_bind_text(pW, nP + 2, zRest, -1, free);
  sqlite3_bind_int64(pW, nP + 3, iLid);
  sqlite3_bind_int64(pW, nP + 4, (sqlite3_int64)thr_ord_hlc(ord));
  if (memcmp(ord + 40, aNoCid, 36) == 0) {
    sqlite3_bind_int64(pW, nP + 5,
                       ((sqlite3_int64)ord[76] << 24) | (ord[77] << 16) |
                           (ord[78] << 8) | ord[79]);
  } else {
    sqlite3_bind_blob(pW, nP + 5, ord + 40, 40, SQLITE_STATIC);
  }
  if (sqlite3_step(pW) != SQLITE_DONE) {
    if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_UNIQUE) {
      *pbUnique = 1;
    } else {
      rc = row_error(pV, db, pzErr);
    }
  }
  sqlite3_reset(pW);
  sqlite3_clear_bindings(pW);
  return rc;
}

static int hist_has(red_view *pV, const char *zId) {
  int bHas;
  if (pV->bHwm && pV->bHistNone) {
    return 0; /* a bulk load of new documents asks nothing */
  }
  sqlite3_bind_text(pV->pHistHas, 1, zId, -1, SQLITE_STATIC);
  bHas = sqlite3_step(pV->pHistHas) == SQLITE_ROW;
  sqlite3_reset(pV->pHistHas);
  return bHas;
}

/* Add an action to zId's history; *pbNew: it was not there already. */
static int hist_add(red_view *pV, sqlite3 *db, const char *zId,
                    const unsigned char *ord, int eType, const char *zJson,
                    sqlite3_int64 iLid, int *pbNew) {
  int rc;
  pV->bHistNone = 0;
  sqlite3_bind_text(pV->pHistIns, 1, zId, -1, SQLITE_STATIC);
  sqlite3_bind_blob(pV->pHistIns, 2, ord, ORD, SQLITE_STATIC);
  sqlite3_bind_int(pV->pHistIns, 3, eType);
  sqlite3_bind_text(pV->pHistIns, 4, zJson, -1, SQLITE_STATIC);
  sqlite3_bind_int64(pV->pHistIns, 5, iLid);
  rc = sqlite3_step(pV->pHistIns) == SQLITE_DONE ? SQLITE_OK
                                                 : sqlite3_errcode(db);
  sqlite3_reset(pV->pHistIns);
  if (pbNew) {
    *pbNew = rc == SQLITE_OK && sqlite3_changes(db) > 0;
  }
  return rc;
}

/* A document with a row and no history rows has had one action, a create
** that applied: write it down as history before adding another. */
static int hist_start(red_view *pV, sqlite3 *db, const char *zId, json_t *pOld,
                      const unsigned char *ordOld, sqlite3_int64 iLidOld) {
  char *zJson;
  int rc;
  if (pOld == NULL || hist_has(pV, zId)) {
    return SQLITE_OK;
  }
  zJson = thr_json_text(pOld, NULL);
  if (zJson == NULL) {
    return SQLITE_NOMEM;
  }
  rc = hist_add(pV, db, zId, ordOld, THR_ACT_CREATE, zJson, iLidOld, NULL);
  free(zJson);
  return rc;
}

/* One action to apply to a view. */
typedef struct red_act red_act;
struct red_act {
  red_coll *pC;
  const thr_action *pAct;
  json_t *pIn; /* its document or patch (borrowed), NULL for a delete */
  unsigned char ord[ORD];
  sqlite3_int64 iLid;
  int bLocal;    /* written here: errors instead of conflicts */
  int bTrusted;  /* checked against the schema in force already */
  int eConflict; /* a local create of a live _id: SQLITE_REPLACE, ... */
  int bSkip;     /* set: OR IGNORE met a live document */
  int *pnSkip;   /* counts actions the rule skipped (remote) */
  char **pzErr;
};

/* Past this many marked documents, recomputing the whole view is cheaper
** (and the mark list, searched linearly, stays short). */
#define RED_MAX_MARKS 1024

static int mark_doc(red_view *pV, const char *zId) {
  red_mark *pM;
  if (pV->bAll) {
    return SQLITE_OK;
  }
  if (pV->nMark >= RED_MAX_MARKS) {
    pV->bAll = 1;
    marks_free(pV);
    return SQLITE_OK;
  }
  for (pM = pV->pMarks; pM; pM = pM->pNext) {
    if (strcmp(pM->zId, zId) == 0) {
      return SQLITE_OK;
    }
  }
  pM = sqlite3_malloc64(sizeof(*pM));
  if (pM == NULL || (pM->zId = sqlite3_mprintf("%s", zId)) == NULL) {
    sqlite3_free(pM);
    pV->bAll = 1; /* cannot remember which: recompute everything */
    return SQLITE_OK;
  }
  pM->pNext = pV->pMarks;
  pV->pMarks = pM;
  pV->nMark++;
  return SQLITE_OK;
}

/* Apply action x to view pV. */
static int view_apply(thr_store *pStore, red_view *pV, void *pArg) {
  red_act *x = pArg;
  sqlite3 *db = thr_store_db(pStore);
  const thr_action *pAct = x->pAct;
  const char *zId = pAct->zId;
  json_t *pOld = NULL, *pNew = NULL;
  unsigned char ordOld[ORD];
  sqlite3_int64 iLidOld = 0;
  int rc = SQLITE_OK, eWhy, bUnique = 0, bNew;

  if (pV->bRebuild || memcmp(x->ord, pV->hwm, ORD) <= 0) {
    /* An older action: into the history; its document is recomputed at
    ** the end of the transaction. */
    if (!hist_has(pV, zId)) {
      rc = row_read(pV, zId, &pOld, ordOld, &iLidOld);
      if (rc == SQLITE_OK) {
        rc = hist_start(pV, db, zId, pOld, ordOld, iLidOld);
      }
      json_decref(pOld);
    }
    if (rc == SQLITE_OK) {
      rc = hist_add(pV, db, zId, x->ord, pAct->eType, pAct->zJson, x->iLid,
                    &bNew);
    }
    if (rc == SQLITE_OK && bNew) {
      if (x->pC->bUnique) {
        pV->bAll = 1;
      } else {
        rc = mark_doc(pV, zId);
      }
    }
    return rc;
  }
  memcpy(pV->hwm, x->ord, ORD);
  if (!x->bLocal || ++pV->nLocal >= THR_HWM_LAG) {
    pV->bHwmDirty = 1; /* see view_hwm */
  }

  /* A create of a new _id (the common case, and every row of a bulk load)
  ** is a plain INSERT of the document. */
  if (pAct->eType == THR_ACT_CREATE && x->pIn && !hist_has(pV, zId)) {
    eWhy = rule_step(x->pC, x->ord, pAct->eType, zId, x->pIn, NULL, x->bTrusted,
                     &pNew, &rc);
    if (rc == SQLITE_OK && eWhy == RED_OK) {
      rc = row_write(pV, db, x->pC, zId, pNew, 0, x->ord, x->iLid, &bUnique,
                     x->pzErr);
      if (rc == SQLITE_OK && !bUnique) {
        json_decref(pNew);
        return SQLITE_OK;
      }
      if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_PRIMARYKEY) {
        rc = SQLITE_OK; /* the _id exists: below */
        sqlite3_free(*x->pzErr);
        *x->pzErr = NULL;
      }
    }
    json_decref(pNew);
    pNew = NULL;
    if (rc != SQLITE_OK) {
      return rc;
    }
  }

  rc = row_read(pV, zId, &pOld, ordOld, &iLidOld);
  if (rc != SQLITE_OK) {
    if (rc == SQLITE_CORRUPT_VTAB) {
      *x->pzErr = sqlite3_mprintf("%s: the stored row of %s is corrupt",
                                  pV->zView, zId);
    }
    return rc;
  }
  if (x->bLocal && pAct->eType == THR_ACT_CREATE && pOld && x->eConflict >= 0 &&
      x->eConflict != SQLITE_REPLACE) {
    json_decref(pOld);
    if (x->eConflict == SQLITE_IGNORE) {
      x->bSkip = 1;
      return SQLITE_OK;
    }
    *x->pzErr = sqlite3_mprintf("UNIQUE constraint failed: %s._id", pV->zView);
    return SQLITE_CONSTRAINT_PRIMARYKEY;
  }
  eWhy = rule_step(x->pC, x->ord, pAct->eType, zId, x->pIn, pOld, x->bTrusted,
                   &pNew, &rc);
  if (rc == SQLITE_OK && eWhy == RED_OK) {
    rc = row_write(pV, db, x->pC, zId, pNew, pOld != NULL, x->ord, x->iLid,
                   &bUnique, x->pzErr);
    if (rc == SQLITE_OK && bUnique) {
      if (x->bLocal) {
        *x->pzErr = sqlite3_mprintf("UNIQUE constraint failed: %s.%s",
                                    pV->zView, pV->zUniqHit);
        rc = SQLITE_CONSTRAINT_UNIQUE;
      }
      eWhy = RED_UNIQUE;
    }
  }
  if (rc == SQLITE_OK && x->bLocal && eWhy != RED_OK && eWhy != RED_NOOP &&
      *x->pzErr == NULL) {
    *x->pzErr = sqlite3_mprintf(
        eWhy == RED_SCHEMA
            ? "%s: document %s violates the collection's schema in force "
              "(a peer's definition or alter came first; reopen the "
              "table to see it)"
            : "%s: %s: %s",
        pV->zView, zId, azWhy[eWhy]);
    rc = SQLITE_CONSTRAINT;
  }
  if (rc == SQLITE_OK) {
    rc = hist_start(pV, db, zId, pOld, ordOld, iLidOld);
  }
  if (rc == SQLITE_OK) {
    rc = hist_add(pV, db, zId, x->ord, pAct->eType, pAct->zJson, x->iLid, NULL);
  }
  if (rc == SQLITE_OK && eWhy != RED_OK && eWhy != RED_NOOP) {
    rc = conflict_add(pStore, pV->iThread, pV->zColl, zId, x->ord, pAct->eType,
                      pAct->zJson, x->iLid, eWhy);
    if (x->pnSkip) {
      (*x->pnSkip)++;
    }
  }
  json_decref(pOld);
  json_decref(pNew);
  return rc;
}

/**************************************************************************
** Recomputation.
*/

/* Replay one history row (from pStmt: ord, type, json, lid at iCol) onto
** document zId of pV: read the row, step the rule, write or list. */
static int replay_one(thr_store *pStore, red_view *pV, red_coll *pC,
                      const char *zId, sqlite3_stmt *pStmt, int iCol,
                      char **pzErr) {
  sqlite3 *db = thr_store_db(pStore);
  const unsigned char *ord = sqlite3_column_blob(pStmt, iCol);
  int eType = sqlite3_column_int(pStmt, iCol + 1);
  const char *zJson = (const char *)sqlite3_column_text(pStmt, iCol + 2);
  sqlite3_int64 iLid = sqlite3_column_int64(pStmt, iCol + 3);
  json_t *pIn = NULL, *pOld = NULL, *pNew = NULL;
  unsigned char ordOld[ORD];
  sqlite3_int64 iLidOld;
  int rc, eWhy, bUnique = 0;
  if (ord == NULL || sqlite3_column_bytes(pStmt, iCol) != ORD) {
    return SQLITE_CORRUPT_VTAB;
  }
  if (zJson) {
    pIn = json_loads(zJson, JSON_ALLOW_NUL, NULL);
    if (pIn && !json_is_object(pIn)) {
      json_decref(pIn);
      pIn = NULL;
    }
  }
  rc = row_read(pV, zId, &pOld, ordOld, &iLidOld);
  if (rc == SQLITE_OK) {
    eWhy = rule_step(pC, ord, eType, zId, pIn, pOld, 0, &pNew, &rc);
    if (rc == SQLITE_OK && eWhy == RED_OK) {
      rc = row_write(pV, db, pC, zId, pNew, pOld != NULL, ord, iLid, &bUnique,
                     pzErr);
      if (bUnique) {
        eWhy = RED_UNIQUE;
      }
    }
    if (rc == SQLITE_OK && eWhy != RED_OK && eWhy != RED_NOOP) {
      rc = conflict_add(pStore, pV->iThread, pV->zColl, zId, ord, eType, zJson,
                        iLid, eWhy);
    }
  }
  json_decref(pIn);
  json_decref(pOld);
  json_decref(pNew);
  return rc;
}

/* Recompute document zId of pV from its history, in memory: with no
** unique property, no other document can change its outcome, so the row
** is written once, at the end. */
static int recompute_doc(thr_store *pStore, red_view *pV, red_coll *pC,
                         const char *zId, char **pzErr) {
  sqlite3 *db = thr_store_db(pStore);
  red_state *p = red_get(pStore);
  json_t *pDoc = NULL;
  unsigned char ordLast[ORD];
  sqlite3_int64 iLidLast = 0;
  int rc, bUnique = 0;
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  sqlite3_bind_text(pV->pDel, 1, zId, -1, SQLITE_STATIC);
  sqlite3_step(pV->pDel);
  rc = sqlite3_reset(pV->pDel);
  if (rc == SQLITE_OK && p->pClearDoc == NULL) {
    rc = sqlite3_prepare_v3(db,
                            "DELETE FROM _threads_conflict WHERE tid = ?1"
                            " AND coll = ?2 AND id = ?3",
                            -1, SQLITE_PREPARE_PERSISTENT, &p->pClearDoc, NULL);
  }
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(p->pClearDoc, 1, pV->iThread);
    sqlite3_bind_text(p->pClearDoc, 2, pV->zColl, -1, SQLITE_STATIC);
    sqlite3_bind_text(p->pClearDoc, 3, zId, -1, SQLITE_STATIC);
    sqlite3_step(p->pClearDoc);
    rc = sqlite3_reset(p->pClearDoc);
  }
  sqlite3_bind_text(pV->pHistSel, 1, zId, -1, SQLITE_TRANSIENT);
  while (rc == SQLITE_OK && sqlite3_step(pV->pHistSel) == SQLITE_ROW) {
    sqlite3_stmt *pH = pV->pHistSel;
    const unsigned char *ord = sqlite3_column_blob(pH, 0);
    int eType = sqlite3_column_int(pH, 1), eWhy;
    const char *zJson = (const char *)sqlite3_column_text(pH, 2);
    json_t *pIn = NULL, *pNew = NULL;
    if (ord == NULL || sqlite3_column_bytes(pH, 0) != ORD) {
      rc = SQLITE_CORRUPT_VTAB;
      break;
    }
    if (zJson) {
      pIn = json_loads(zJson, JSON_ALLOW_NUL, NULL);
      if (pIn && !json_is_object(pIn)) {
        json_decref(pIn);
        pIn = NULL;
      }
    }
    eWhy = rule_step(pC, ord, eType, zId, pIn, pDoc, 0, &pNew, &rc);
    if (rc == SQLITE_OK && eWhy == RED_OK) {
      json_decref(pDoc);
      pDoc = pNew; /* NULL after a delete */
      memcpy(ordLast, ord, ORD);
      iLidLast = sqlite3_column_int64(pH, 3);
    } else if (rc == SQLITE_OK && eWhy != RED_NOOP) {
      rc = conflict_add(pStore, pV->iThread, pV->zColl, zId, ord, eType, zJson,
                        sqlite3_column_int64(pH, 3), eWhy);
    }
    json_decref(pIn);
  }
  sqlite3_reset(pV->pHistSel);
  if (rc == SQLITE_OK && pDoc) {
    rc = row_write(pV, db, pC, zId, pDoc, 0, ordLast, iLidLast, &bUnique,
                   pzErr);
  }
  json_decref(pDoc);
  return rc;
}

/* Recompute every document of pV: first every history-less row becomes
** history, then all of it is replayed in the order. */
/* Every history-less row of pV becomes history, and the rows go. */
static int rows_to_hist(thr_store *pStore, red_view *pV) {
  sqlite3 *db = thr_store_db(pStore);
  sqlite3_stmt *pStmt = NULL;
  char *zSql;
  int rc;
  zSql = sqlite3_mprintf("SELECT _id FROM \"%w_data\" WHERE _id NOT IN"
                         " (SELECT _id FROM \"%w_hist\")",
                         pV->zView, pV->zView);
  rc = zSql ? sqlite3_prepare_v2(db, zSql, -1, &pStmt, NULL) : SQLITE_NOMEM;
  sqlite3_free(zSql);
  while (rc == SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW) {
    const char *zId = (const char *)sqlite3_column_text(pStmt, 0);
    json_t *pOld = NULL;
    unsigned char ordOld[ORD];
    sqlite3_int64 iLidOld = 0;
    rc = row_read(pV, zId, &pOld, ordOld, &iLidOld);
    if (rc == SQLITE_OK && pOld) {
      char *zJson = thr_json_text(pOld, NULL);
      rc = zJson ? hist_add(pV, db, zId, ordOld, THR_ACT_CREATE, zJson, iLidOld,
                            NULL)
                 : SQLITE_NOMEM;
      free(zJson);
    }
    json_decref(pOld);
  }
  sqlite3_finalize(pStmt);
  pStmt = NULL;
  if (rc == SQLITE_OK) {
    zSql = sqlite3_mprintf("DELETE FROM \"%w_data\"", pV->zView);
    rc = zSql ? sqlite3_exec(db, zSql, NULL, NULL, NULL) : SQLITE_NOMEM;
    sqlite3_free(zSql);
  }
  return rc;
}

static int recompute_all(thr_store *pStore, red_view *pV, red_coll *pC,
                         char **pzErr) {
  sqlite3 *db = thr_store_db(pStore);
  sqlite3_stmt *pStmt = NULL;
  char *zSql;
  int rc = rows_to_hist(pStore, pV);
  if (rc == SQLITE_OK) {
    rc = conflict_clear(pStore, pV->iThread, pV->zColl, NULL, 1);
  }
  if (rc == SQLITE_OK) {
    zSql = sqlite3_mprintf("SELECT _id, ord, type, json, lid FROM \"%w_hist\""
                           " ORDER BY ord",
                           pV->zView);
    rc = zSql ? sqlite3_prepare_v2(db, zSql, -1, &pStmt, NULL) : SQLITE_NOMEM;
    sqlite3_free(zSql);
  }
  while (rc == SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW) {
    const char *zId = (const char *)sqlite3_column_text(pStmt, 0);
    rc = replay_one(pStore, pV, pC, zId, pStmt, 1, pzErr);
  }
  sqlite3_finalize(pStmt);
  if (rc == SQLITE_OK) {
    /* Everything the view holds is in the history now: hwm covers it. */
    zSql = sqlite3_mprintf("SELECT max(ord) FROM \"%w_hist\"", pV->zView);
    rc = zSql ? sqlite3_prepare_v2(db, zSql, -1, &pStmt, NULL) : SQLITE_NOMEM;
    sqlite3_free(zSql);
    if (rc == SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW &&
        sqlite3_column_bytes(pStmt, 0) == ORD &&
        memcmp(sqlite3_column_blob(pStmt, 0), pV->hwm, ORD) > 0) {
      memcpy(pV->hwm, sqlite3_column_blob(pStmt, 0), ORD);
      pV->bHwmDirty = 1;
    }
    sqlite3_finalize(pStmt);
  }
  if (rc == SQLITE_OK) {
    /* A document whose only action is a create that applied needs no
    ** history: its row says all (the common case after a rebuild). */
    zSql = sqlite3_mprintf(
        "DELETE FROM \"%w_hist\" WHERE _id IN (SELECT h._id FROM"
        " \"%w_hist\" h GROUP BY h._id HAVING count(*) = 1 AND"
        " max(h.type) = %d AND min(h.type) = %d) AND _id IN (SELECT _id FROM"
        " \"%w_data\")",
        pV->zView, pV->zView, THR_ACT_CREATE, THR_ACT_CREATE, pV->zView);
    rc = zSql ? sqlite3_exec(db, zSql, NULL, NULL, NULL) : SQLITE_NOMEM;
    sqlite3_free(zSql);
  }
  return rc;
}

/* The largest rid of the file's records (0 when there are none). */
static int max_rid(thr_store *pStore, sqlite3_int64 *piRid) {
  sqlite3_stmt *pStmt = NULL;
  int rc = sqlite3_prepare_v2(thr_store_db(pStore),
                              "SELECT coalesce(max(rid), 0) FROM _threads_record",
                              -1, &pStmt, NULL);
  *piRid = 0;
  if (rc == SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW) {
    *piRid = sqlite3_column_int64(pStmt, 0);
  }
  sqlite3_finalize(pStmt);
  return rc;
}

/* Write hwm (80 bytes) and rid (8, big-endian) as view zView's row. */
static int hwm_put(thr_store *pStore, red_state *p, const char *zView,
                   const unsigned char *hwm, sqlite3_int64 iRid) {
  unsigned char a[ORD + 8];
  int i, rc = SQLITE_OK;
  memcpy(a, hwm, ORD);
  for (i = 0; i < 8; i++) {
    a[ORD + i] = (unsigned char)((sqlite3_uint64)iRid >> (56 - 8 * i));
  }
  if (p->pHwmPut == NULL) {
    rc = sqlite3_prepare_v3(thr_store_db(pStore),
                            "INSERT OR REPLACE INTO _threads_hwm(view, hwm)"
                            " VALUES (?1, ?2)",
                            -1, SQLITE_PREPARE_PERSISTENT, &p->pHwmPut, NULL);
  }
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(p->pHwmPut, 1, zView, -1, SQLITE_STATIC);
    sqlite3_bind_blob(p->pHwmPut, 2, a, ORD + 8, SQLITE_STATIC);
    sqlite3_step(p->pHwmPut);
    rc = sqlite3_reset(p->pHwmPut);
  }
  return rc;
}

int thr_reduce_hwm_init(thr_store *pStore, const char *zView) {
  red_state *p = red_get(pStore);
  unsigned char zero[ORD];
  sqlite3_int64 iRid = 0;
  int rc;
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  memset(zero, 0, ORD);
  rc = max_rid(pStore, &iRid);
  return rc == SQLITE_OK ? hwm_put(pStore, p, zView, zero, iRid) : rc;
}

int thr_reduce_flush(thr_store *pStore, char **pzErr) {
  return thr_reduce_recompute(pStore, 1, pzErr);
}

int thr_reduce_recompute(thr_store *pStore, int bSave, char **pzErr) {
  red_state *p = red_get(pStore);
  red_view *pV;
  sqlite3_int64 iMaxRid = -1;
  int rc = SQLITE_OK;
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  for (pV = p->pViews; rc == SQLITE_OK && pV; pV = pV->pNext) {
    red_coll *pC = NULL;
    if (pV->zView == NULL || (!pV->bAll && !pV->pMarks && !pV->bHwmDirty)) {
      continue;
    }
    if (pV->bAll || pV->pMarks) {
      rc = coll_fold(pStore, pV->iThread, pV->zColl, 0, &pC);
    }
    if (rc == SQLITE_OK && pV->bAll) {
      rc = recompute_all(pStore, pV, pC, pzErr);
    } else {
      red_mark *pM;
      for (pM = pV->pMarks; rc == SQLITE_OK && pM; pM = pM->pNext) {
        rc = recompute_doc(pStore, pV, pC, pM->zId, pzErr);
      }
    }
    marks_free(pV);
    pV->bAll = 0;
    /* The row's rid must count only records whose actions hwm holds: a
    ** local transaction saves after its record is appended (txn.c). */
    if (rc == SQLITE_OK && pV->bHwmDirty && bSave) {
      if (iMaxRid < 0) {
        rc = max_rid(pStore, &iMaxRid);
      }
      if (rc == SQLITE_OK) {
        rc = hwm_put(pStore, p, pV->zView, pV->hwm, iMaxRid);
      }
      pV->hwmRid = iMaxRid;
      pV->nLocal = 0;
      pV->bHwmDirty = 0;
    }
  }
  /* The next transaction checks that no other connection moved them. */
  p->bHwmChecked = 0;
  if (rc != SQLITE_OK && *pzErr == NULL) {
    *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(thr_store_db(pStore)));
  }
  return rc;
}

/**************************************************************************
** Entry points.
*/

/* A property name that can be a column (as the virtual table requires). */
static int prop_name_ok(const char *z) {
  size_t i, n = strlen(z);
  if (n == 0 || n > 64 || z[0] == '_' || (z[0] >= '0' && z[0] <= '9')) {
    return 0;
  }
  for (i = 0; i < n; i++) {
    char c = z[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_')) {
      return 0;
    }
  }
  return 1;
}

/* Give view zView's shadow table a column for property zKey of kind
** eKind.  A property removed earlier left its column (unused, its values
** in _rest since): it is dropped and made anew, which also makes every
** connection read the schema again and declare the table with it (ADD
** COLUMN does; an index would not). */
static int view_add_column(sqlite3 *db, const char *zView, const char *zKey,
                           int eKind) {
  sqlite3_stmt *pStmt = NULL;
  char *zSql;
  int rc, bHas = 0;
  zSql = sqlite3_mprintf("SELECT 1 FROM pragma_table_info('%q_data')"
                         " WHERE name = ?1",
                         zView);
  rc = zSql ? sqlite3_prepare_v2(db, zSql, -1, &pStmt, NULL) : SQLITE_NOMEM;
  sqlite3_free(zSql);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zKey, -1, SQLITE_STATIC);
    bHas = sqlite3_step(pStmt) == SQLITE_ROW;
    rc = sqlite3_finalize(pStmt);
  }
  if (rc == SQLITE_OK && bHas) {
    zSql = sqlite3_mprintf("ALTER TABLE \"%w_data\" DROP COLUMN \"%w\"", zView,
                           zKey);
    rc = zSql ? sqlite3_exec(db, zSql, NULL, NULL, NULL) : SQLITE_NOMEM;
    sqlite3_free(zSql);
  }
  if (rc == SQLITE_OK) {
    zSql = sqlite3_mprintf("ALTER TABLE \"%w_data\" ADD COLUMN \"%w\" %s", zView,
                           zKey, thr_doc_sql_type(eKind));
    rc = zSql ? sqlite3_exec(db, zSql, NULL, NULL, NULL) : SQLITE_NOMEM;
    sqlite3_free(zSql);
  }
  return rc;
}

/* The schema in force changed: view pV's columns follow it.  A new
** property gets a column (ALTER TABLE ADD COLUMN: every connection then
** reads its schema again, so tables show the new column); a property's
** index follows its "index"/"unique"; a removed property's column stays,
** unused (its values go to _rest); a property keeps the column kind it
** was made with.  The rows are then recomputed (at flush). */
static int view_reshape(thr_store *pStore, red_view *pV, void *pArg) {
  sqlite3 *db = thr_store_db(pStore);
  const json_t *pProps = json_object_get((const json_t *)pArg, "properties");
  json_t *pNew = json_array(), *pVal;
  const char *zKey;
  char *zSql = NULL, *zNew = NULL;
  int rc = pNew ? rows_to_hist(pStore, pV) : SQLITE_NOMEM, i;
  sqlite3_stmt *pStmt = NULL;
  /* Made again so that the schema cookie moves even when no column comes
  ** or goes (a property removed): every other connection then drops the
  ** views it cached with the old properties (red_check_cookie), which
  ** would put a removed property's values in its unused column. */
  zSql = sqlite3_mprintf("DROP INDEX IF EXISTS \"%w_dead\";"
                         "CREATE INDEX \"%w_dead\" ON \"%w_data\"(_id)"
                         " WHERE _live = 0",
                         pV->zView, pV->zView, pV->zView);
  if (rc == SQLITE_OK) {
    rc = zSql ? sqlite3_exec(db, zSql, NULL, NULL, NULL) : SQLITE_NOMEM;
  }
  sqlite3_free(zSql);
  for (i = 0; rc == SQLITE_OK && i < pV->nProp; i++) {
    zSql = sqlite3_mprintf("DROP INDEX IF EXISTS \"%w_idx_%w\"", pV->zView,
                           pV->azProp[i]);
    rc = zSql ? sqlite3_exec(db, zSql, NULL, NULL, NULL) : SQLITE_NOMEM;
    sqlite3_free(zSql);
  }
  json_object_foreach((json_t *)pProps, zKey, pVal) {
    int eKind = thr_doc_prop_kind(pVal), k, bUnique, bIndex;
    if (rc != SQLITE_OK || !prop_name_ok(zKey)) {
      continue;
    }
    for (k = 0; k < pV->nProp && strcmp(pV->azProp[k], zKey) != 0; k++) {
    }
    if (k < pV->nProp) {
      eKind = pV->aeKind[k];
    } else {
      rc = view_add_column(db, pV->zView, zKey, eKind);
    }
    json_array_append_new(pNew, json_pack("[s,i]", zKey, eKind));
    bUnique = json_is_true(json_object_get(pVal, "unique"));
    bIndex = json_is_true(json_object_get(pVal, "index"));
    if (rc == SQLITE_OK && (bUnique || bIndex)) {
      zSql = sqlite3_mprintf(
          "CREATE INDEX \"%w_idx_%w\" ON \"%w_data\"(\"%w\", _live)",
          pV->zView, zKey, pV->zView, zKey);
      rc = zSql ? sqlite3_exec(db, zSql, NULL, NULL, NULL) : SQLITE_NOMEM;
      sqlite3_free(zSql);
    }
  }
  if (rc == SQLITE_OK) {
    char *z = json_dumps(pNew, JSON_COMPACT);
    zNew = z ? sqlite3_mprintf("%s", z) : NULL;
    free(z);
    rc = zNew ? sqlite3_prepare_v2(db,
                                   "UPDATE _threads_view SET props = ?1"
                                   " WHERE view = ?2",
                                   -1, &pStmt, NULL)
              : SQLITE_NOMEM;
  }
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zNew, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 2, pV->zView, -1, SQLITE_STATIC);
    sqlite3_step(pStmt);
    rc = sqlite3_finalize(pStmt);
  }
  sqlite3_free(zNew);
  json_decref(pNew);
  return rc;
}

/* Drop the cached views of (iThread, zColl) only: what they held for this
** transaction is recomputed (view_mark_all, and recompute_all raises hwm
** to everything in the history). */
static void views_drop(thr_store *pStore, sqlite3_int64 iThread,
                       const char *zColl) {
  red_state *p = red_get(pStore);
  red_view **pp;
  for (pp = p ? &p->pViews : NULL; pp && *pp;) {
    red_view *pV = *pp;
    if (pV->iThread == iThread && strcmp(pV->zColl, zColl) == 0) {
      *pp = pV->pNext;
      view_free(pV);
    } else {
      pp = &pV->pNext;
    }
  }
}

static int view_mark_all(thr_store *pStore, red_view *pV, void *pArg) {
  (void)pStore;
  (void)pArg;
  pV->bAll = 1;
  return SQLITE_OK;
}

/* Mark every view of (iThread, zColl) for recomputation when the schema
** action at ord is older than what it has taken, or changed the schema in
** force at the end. */
static int views_schema_moved(thr_store *pStore, red_view *pV, void *pArg) {
  const unsigned char *ord = pArg;
  (void)pStore;
  if (memcmp(ord, pV->hwm, ORD) < 0) {
    pV->bAll = 1;
  }
  return SQLITE_OK;
}

int thr_reduce_schema(thr_store *pStore, sqlite3_int64 iThread,
                      const thr_action *pAct, const unsigned char *ord,
                      sqlite3_int64 iLid, int *pnSkip, char **pzErr) {
  sqlite3 *db = thr_store_db(pStore);
  sqlite3_stmt *pStmt = NULL;
  thr_schema *pS = NULL;
  red_coll *pC = NULL;
  char *zWhy = NULL;
  int rc;
  if (thr_schema_compile(pAct->zJson, &pS, &zWhy) != SQLITE_OK) {
    sqlite3_free(zWhy);
    (*pnSkip)++; /* alike on every peer */
    return SQLITE_OK;
  }
  thr_schema_free(pS);
  /* A file from before the schema log: its definition comes first. */
  rc = sqlite3_prepare_v2(db,
                          "INSERT INTO _threads_schema_log(tid, coll, ord,"
                          " type, schema, lid) SELECT tid, name, zeroblob(80),"
                          " 4, schema, NULL FROM _threads_collection c"
                          " WHERE tid = ?1 AND name = ?2 AND NOT EXISTS"
                          " (SELECT 1 FROM _threads_schema_log WHERE tid = ?1"
                          " AND coll = ?2)",
                          -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, iThread);
    sqlite3_bind_text(pStmt, 2, pAct->zColl, -1, SQLITE_STATIC);
    sqlite3_step(pStmt);
    rc = sqlite3_finalize(pStmt);
  }
  if (rc == SQLITE_OK) {
    rc = sqlite3_prepare_v2(db,
                            "INSERT OR IGNORE INTO _threads_schema_log(tid,"
                            " coll, ord, type, schema, lid)"
                            " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                            -1, &pStmt, NULL);
  }
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, iThread);
    sqlite3_bind_text(pStmt, 2, pAct->zColl, -1, SQLITE_STATIC);
    sqlite3_bind_blob(pStmt, 3, ord, ORD, SQLITE_STATIC);
    sqlite3_bind_int(pStmt, 4, pAct->eType);
    sqlite3_bind_text(pStmt, 5, pAct->zJson, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 6, iLid);
    sqlite3_step(pStmt);
    rc = sqlite3_finalize(pStmt);
  }
  if (rc == SQLITE_OK && sqlite3_changes(db) > 0) {
    rc = coll_fold(pStore, iThread, pAct->zColl, 1, &pC);
    if (rc == SQLITE_OK && pC->bMoved && pC->nStep > 0) {
      /* Columns follow the schema in force; the views are read again. */
      rc = views_each(pStore, iThread, pAct->zColl, NULL, view_reshape,
                      (void *)thr_schema_json(pC->aStep[pC->nStep - 1].pSchema),
                      pzErr);
      views_drop(pStore, iThread, pAct->zColl);
      if (rc == SQLITE_OK) {
        rc = views_each(pStore, iThread, pAct->zColl, NULL, view_mark_all, NULL,
                        pzErr);
      }
    } else if (rc == SQLITE_OK) {
      rc = views_each(pStore, iThread, pAct->zColl, NULL, views_schema_moved,
                      (void *)ord, pzErr);
    }
  }
  if (rc != SQLITE_OK && *pzErr == NULL) {
    *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(db));
  }
  return rc;
}

/* The largest hlc of the views of a collection, for a local write. */
static int views_max_hlc(thr_store *pStore, red_view *pV, void *pArg) {
  uint64_t *pMax = pArg;
  (void)pStore;
  if (thr_ord_hlc(pV->hwm) > *pMax) {
    *pMax = thr_ord_hlc(pV->hwm);
  }
  return SQLITE_OK;
}

int thr_reduce_local(thr_store *pStore, sqlite3_int64 iThread, thr_action *pAct,
                     json_t *pDoc, const unsigned char logPk[32],
                     sqlite3_int64 iLog, uint32_t idx,
                     const thr_schema *pChecked, int *peTrust, int eConflict,
                     int *pbSkip, char **pzErr) {
  red_state *p = red_get(pStore);
  red_act x;
  uint64_t hlcMax = 0;
  int rc;
  *pbSkip = 0;
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  memset(&x, 0, sizeof(x));
  rc = coll_fold(pStore, iThread, pAct->zColl, 0, &x.pC);
  if (rc == SQLITE_OK) {
    rc = views_each(pStore, iThread, pAct->zColl, NULL, views_max_hlc, &hlcMax,
                    pzErr);
  }
  if (rc != SQLITE_OK) {
    return rc;
  }
  /* A local write comes after everything this peer holds of the
  ** collection, whatever the clocks of the peers that wrote it said. */
  thr_hlc_observe(&p->hlc, hlcMax);
  pAct->hlc = thr_hlc_tick(&p->hlc, thr_now_ms());
  x.pAct = pAct;
  x.pIn = pDoc;
  thr_ord_make(x.ord, pAct->hlc, logPk, NULL, idx);
  x.iLid = iLog;
  x.bLocal = 1;
  /* The caller checked the document against its table's schema: enough
  ** when that is the schema in force (compared once per transaction). */
  if (*peTrust == 0) {
    const thr_schema *pNow =
        x.pC->nStep ? x.pC->aStep[x.pC->nStep - 1].pSchema : NULL;
    *peTrust = pChecked && pNow &&
                       json_equal((json_t *)thr_schema_json(pChecked),
                                  (json_t *)thr_schema_json(pNow))
                   ? 1
                   : 2;
  }
  x.bTrusted = *peTrust == 1;
  x.eConflict = eConflict;
  x.pzErr = pzErr;
  rc = views_each(pStore, iThread, pAct->zColl, NULL, view_apply, &x, pzErr);
  *pbSkip = x.bSkip;
  return rc;
}

int thr_body_apply(thr_store *pStore, sqlite3_int64 iThread,
                   const unsigned char logPk[32],
                   const unsigned char author[32], const unsigned char *cid,
                   const thr_body *pBody, const char *zOnlyColl,
                   const char *zOnlyView, int *pnSkip, char **pzErr) {
  red_state *p = red_get(pStore);
  char *zWhy = NULL;
  sqlite3_int64 iLog = 0;
  size_t i, n;
  int rc;
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  if (!thr_body_readable(pBody)) {
    /* Not a body this version can read: skip it, as a newer peer's. */
    (*pnSkip)++;
    return SQLITE_OK;
  }
  red_check_cookie(pStore, p);
  rc = thr_store_log_lid(pStore, iThread, logPk, author, 0, &iLog, &zWhy);
  n = thr_body_count(pBody);
  for (i = 0; rc == SQLITE_OK && i < n; i++) {
    json_t *pIn;
    int bComplete;
    const thr_action *pAct = thr_body_action(pBody, i, &pIn, &bComplete);
    red_act x;
    if (!bComplete) {
      /* Anything unknown or incomplete is skipped, alike on every peer. */
      (*pnSkip)++;
      continue;
    }
    if (zOnlyColl && strcmp(pAct->zColl, zOnlyColl) != 0) {
      continue;
    }
    memset(&x, 0, sizeof(x));
    thr_ord_make(x.ord, pAct->hlc, logPk, cid, (uint32_t)i);
    thr_hlc_observe(&p->hlc, pAct->hlc);
    if (pAct->eType >= THR_ACT_COLL) {
      if (zOnlyColl == NULL) {
        rc = thr_reduce_schema(pStore, iThread, pAct, x.ord, iLog, pnSkip,
                               &zWhy);
      }
      continue;
    }
    rc = coll_fold(pStore, iThread, pAct->zColl, 0, &x.pC);
    if (rc == SQLITE_OK) {
      x.pAct = pAct;
      x.pIn = pIn;
      x.iLid = iLog;
      x.eConflict = -1;
      x.pnSkip = pnSkip;
      x.pzErr = &zWhy;
      rc = views_each(pStore, iThread, pAct->zColl, zOnlyView, view_apply, &x,
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
                   const unsigned char author[32], const unsigned char *cid,
                   const unsigned char *aBody, size_t nBody,
                   const char *zOnlyColl, const char *zOnlyView, int *pnSkip,
                   char **pzErr) {
  thr_body *pBody = NULL;
  int rc = thr_body_parse(aBody, nBody, 0, &pBody);
  if (rc == SQLITE_OK) {
    rc = thr_body_apply(pStore, iThread, logPk, author, cid, pBody, zOnlyColl,
                        zOnlyView, pnSkip, pzErr);
  } else {
    *pzErr = sqlite3_mprintf("out of memory");
  }
  thr_body_free(pBody);
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

static int rebuild_body(void *pArg, const unsigned char *logPk,
                        const unsigned char *author, const unsigned char *cid,
                        const unsigned char *aBody, size_t nBody) {
  rebuild_ctx *r = pArg;
  return thr_apply_body(r->pStore, r->iThread, logPk, author, cid, aBody, nBody,
                        r->zColl, r->zView, &r->nSkip, r->pzErr);
}

static int view_start_rebuild(thr_store *pStore, red_view *pV, void *pArg) {
  (void)pStore;
  pV->bRebuild = *(int *)pArg;
  if (pV->bRebuild) {
    pV->bAll = 1;
    memset(pV->hwm, 0, ORD);
    pV->bHwmDirty = 1;
  }
  return SQLITE_OK;
}

static int view_raise_hwm(thr_store *pStore, red_view *pV, void *pArg) {
  sqlite3_stmt *pStmt = NULL;
  char *zSql = sqlite3_mprintf("SELECT max(ord) FROM \"%w_hist\"", pV->zView);
  int rc;
  (void)pArg;
  rc = zSql ? sqlite3_prepare_v2(thr_store_db(pStore), zSql, -1, &pStmt, NULL)
            : SQLITE_NOMEM;
  sqlite3_free(zSql);
  if (rc == SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW &&
      sqlite3_column_bytes(pStmt, 0) == ORD) {
    memcpy(pV->hwm, sqlite3_column_blob(pStmt, 0), ORD);
    pV->bHwmDirty = 1;
  }
  sqlite3_finalize(pStmt);
  return rc;
}

int thr_view_rebuild(thr_store *pStore, const char *zView, char **pzErr) {
  sqlite3 *db = thr_store_db(pStore);
  sqlite3_stmt *pStmt = NULL;
  rebuild_ctx r;
  thr_tid tid;
  char *zColl = NULL, *zSql;
  int rc, bOn = 1, bOff = 0;
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
  if (rc == SQLITE_OK && zColl == NULL) {
    rc = SQLITE_NOMEM;
  }
  if (rc == SQLITE_OK) {
    rc = thr_reduce_create_hist(db, zView);
    thr_reduce_forget(pStore); /* the schema moved */
  }
  if (rc == SQLITE_OK) {
    zSql = sqlite3_mprintf("DELETE FROM \"%w_data\"; DELETE FROM \"%w_hist\";",
                           zView, zView);
    rc = zSql ? sqlite3_exec(db, zSql, NULL, NULL, pzErr) : SQLITE_NOMEM;
    sqlite3_free(zSql);
  }
  if (rc == SQLITE_OK) {
    rc = views_each(pStore, r.iThread, zColl, zView, view_start_rebuild, &bOn,
                    pzErr);
  }
  if (rc == SQLITE_OK) {
    r.pStore = pStore;
    r.zView = zView;
    r.zColl = zColl;
    r.pzErr = pzErr;
    rc = thr_store_foreach_body(pStore, &tid, rebuild_body, &r, pzErr);
  }
  if (rc == SQLITE_OK) {
    rc = views_each(pStore, r.iThread, zColl, zView, view_raise_hwm, NULL,
                    pzErr);
  }
  views_each(pStore, r.iThread, zColl, zView, view_start_rebuild, &bOff, pzErr);
  if (rc == SQLITE_OK) {
    rc = thr_reduce_flush(pStore, pzErr);
  } else {
    thr_reduce_rollback(pStore);
  }
  sqlite3_free(zColl);
  return rc;
}
