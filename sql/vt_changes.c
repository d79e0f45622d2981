/*
** vt_changes.c: "threads_changes", the change feed.
**
**   thread      TEXT     thread ID (an equality filter also takes a name)
**   seq         INTEGER  position in this file's feed: record row id << 20
**                        | index of the action in its record; increasing,
**                        so "WHERE seq > :last" reads what is new
**   collection  TEXT     collection name
**   _id         TEXT     document _id
**   action      TEXT     'create', 'save' or 'delete'
**   author      TEXT     peer ID of the writer
**   time        INTEGER  the record's time (unix ms)
**   hlc, log, cid, idx   HIDDEN: the action's place in the thread's order
**                        (core/reduce.c): its clock, the record's log ID
**                        and CID, and its index in the record's actions
**   json        HIDDEN   the action's JSON: the document (create), the
**                        patch (save), the schema (collection, alter);
**                        NULL for a delete
**   kinds       HIDDEN   input: WHERE kinds = 'all' lists the schema
**                        actions too ('collection', 'alter', _id NULL);
**                        'docs', the default, lists document actions
**
** The feed is read from the log itself (each record's body is opened on
** demand), so it costs writes nothing and shows remote records the moment
** they are stored, in the order this file stored them.  A thread this peer
** cannot read (a follower) shows no changes.
*/
#include "thr_sql.h"

#include <string.h>

#define SEQ_SHIFT 20

typedef struct changes_vtab changes_vtab;
struct changes_vtab {
  sqlite3_vtab base; /* Base class - must be first */
  int eKind;         /* THR_VTAB_LISTING (read-only, no collection) */
  thr_store *pStore;
};

typedef struct changes_cursor changes_cursor;
struct changes_cursor {
  sqlite3_vtab_cursor base; /* Base class - must be first */
  sqlite3_stmt *pRec;       /* Owned: the records to read */
  sqlite3_int64 iRid;       /* current record */
  thr_cbor *pBody;          /* Owned: its decoded body */
  thr_cbor *pAct;           /* Borrowed from pBody: current action */
  size_t iAct;              /* index of pAct in the actions array */
  unsigned char author[32];
  int64_t time;
  sqlite3_int64 iMinSeq; /* rows must have seq > iMinSeq */
  int bAll;               /* schema actions too (kinds = 'all') */
  int bEof;
};

static int changesConnect(sqlite3 *db, void *pAux, int argc,
                          const char *const *argv, sqlite3_vtab **ppVtab,
                          char **pzErr) {
  changes_vtab *p;
  int rc = sqlite3_declare_vtab(
      db, "CREATE TABLE x(thread TEXT, seq INTEGER, collection TEXT,"
          " _id TEXT, action TEXT, author TEXT, time INTEGER,"
          " hlc HIDDEN, log HIDDEN, cid HIDDEN, idx HIDDEN, json HIDDEN,"
          " kinds HIDDEN)");
  (void)argc;
  (void)argv;
  if (rc != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(db));
    return rc;
  }
  p = sqlite3_malloc64(sizeof(*p));
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  memset(p, 0, sizeof(*p));
  p->eKind = THR_VTAB_LISTING;
  p->pStore = pAux;
  thr_store_attach(p->pStore);
  *ppVtab = &p->base;
  return SQLITE_OK;
}

static int changesDisconnect(sqlite3_vtab *pVtab) {
  changes_vtab *p = (changes_vtab *)pVtab;
  thr_store_detach(p->pStore);
  sqlite3_free(p);
  return SQLITE_OK;
}

#define COL_KINDS 12

/* idxNum bit 1: thread = argv; bit 2: seq > or >= argv (bit 4: >=);
** bit 8: kinds = argv. */
static int changesBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo) {
  int i, nArg = 0, iThread = -1, iSeq = -1, iKinds = -1;
  (void)pVtab;
  for (i = 0; i < pInfo->nConstraint; i++) {
    const struct sqlite3_index_constraint *pC = &pInfo->aConstraint[i];
    if (!pC->usable) {
      continue;
    }
    if (pC->iColumn == 0 && pC->op == SQLITE_INDEX_CONSTRAINT_EQ) {
      iThread = i;
    } else if (pC->iColumn == 1 && (pC->op == SQLITE_INDEX_CONSTRAINT_GT ||
                                    pC->op == SQLITE_INDEX_CONSTRAINT_GE)) {
      iSeq = i;
    } else if (pC->iColumn == COL_KINDS &&
               pC->op == SQLITE_INDEX_CONSTRAINT_EQ) {
      iKinds = i;
    }
  }
  pInfo->idxNum = 0;
  if (iThread >= 0) {
    pInfo->idxNum |= 1;
    pInfo->aConstraintUsage[iThread].argvIndex = ++nArg;
    pInfo->aConstraintUsage[iThread].omit = 1;
  }
  if (iSeq >= 0) {
    pInfo->idxNum |= 2;
    if (pInfo->aConstraint[iSeq].op == SQLITE_INDEX_CONSTRAINT_GE) {
      pInfo->idxNum |= 4;
    }
    pInfo->aConstraintUsage[iSeq].argvIndex = ++nArg;
  }
  if (iKinds >= 0) {
    pInfo->idxNum |= 8;
    pInfo->aConstraintUsage[iKinds].argvIndex = ++nArg;
    pInfo->aConstraintUsage[iKinds].omit = 1;
  }
  pInfo->estimatedCost = 1000000.0 / (1 + nArg * 10);
  /* Rows come in seq order. */
  if (pInfo->nOrderBy == 1 && pInfo->aOrderBy[0].iColumn == 1 &&
      !pInfo->aOrderBy[0].desc) {
    pInfo->orderByConsumed = 1;
  }
  return SQLITE_OK;
}

static int changesOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCur) {
  changes_cursor *pCur = sqlite3_malloc64(sizeof(*pCur));
  (void)pVtab;
  if (pCur == NULL) {
    return SQLITE_NOMEM;
  }
  memset(pCur, 0, sizeof(*pCur));
  *ppCur = &pCur->base;
  return SQLITE_OK;
}

static void changes_reset(changes_cursor *pCur) {
  sqlite3_finalize(pCur->pRec);
  pCur->pRec = NULL;
  thr_cbor_free(pCur->pBody);
  pCur->pBody = NULL;
  pCur->pAct = NULL;
}

static int changesClose(sqlite3_vtab_cursor *pCursor) {
  changes_reset((changes_cursor *)pCursor);
  sqlite3_free(pCursor);
  return SQLITE_OK;
}

/* Is this action one the feed lists: a document change, or with bAll a
** schema action too? */
static int changes_listed(thr_cbor *pAct, int bAll) {
  size_t n = 0;
  const char *z = thr_cbor_as_text(thr_cbor_get(pAct, "type"), &n);
  if (z && bAll && thr_cbor_get(pAct, "id") == NULL &&
      ((n == 10 && memcmp(z, "collection", 10) == 0) ||
       (n == 5 && memcmp(z, "alter", 5) == 0))) {
    return 1;
  }
  return z && thr_cbor_get(pAct, "id") &&
         ((n == 6 && memcmp(z, "create", 6) == 0) ||
          (n == 4 && memcmp(z, "save", 4) == 0) ||
          (n == 6 && memcmp(z, "delete", 6) == 0));
}

/* Advance to the next document action, reading records as needed. */
static int changesNext(sqlite3_vtab_cursor *pCursor) {
  changes_cursor *pCur = (changes_cursor *)pCursor;
  changes_vtab *pTab = (changes_vtab *)pCursor->pVtab;
  for (;;) {
    thr_cbor *pActs = thr_cbor_get(pCur->pBody, "actions");
    if (pCur->pBody && pCur->pAct) {
      pCur->iAct++;
    }
    while (pCur->pBody && pCur->iAct < thr_cbor_array_size(pActs)) {
      sqlite3_int64 seq = (pCur->iRid << SEQ_SHIFT) | (sqlite3_int64)pCur->iAct;
      pCur->pAct = thr_cbor_array_at(pActs, pCur->iAct);
      if (seq > pCur->iMinSeq && changes_listed(pCur->pAct, pCur->bAll)) {
        return SQLITE_OK;
      }
      pCur->iAct++;
    }
    /* The next readable record. */
    thr_cbor_free(pCur->pBody);
    pCur->pBody = NULL;
    pCur->pAct = NULL;
    for (;;) {
      thr_cbuf body = {0, 0};
      char *zErr = NULL;
      int rc = sqlite3_step(pCur->pRec);
      if (rc != SQLITE_ROW) {
        pCur->bEof = 1;
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
      }
      pCur->iRid = sqlite3_column_int64(pCur->pRec, 0);
      rc = thr_store_body_at(pTab->pStore, pCur->iRid, &body, pCur->author,
                             &pCur->time, &zErr);
      if (rc == SQLITE_OK) {
        pCur->pBody = thr_cbor_decode(body.a, body.n, &zErr);
      }
      sqlite3_free(body.a);
      sqlite3_free(zErr);
      if (pCur->pBody) {
        pCur->iAct = 0;
        break;
      }
      /* Unreadable here (no read key) or damaged: not part of the feed;
      ** threads_verify() is where damage is reported. */
    }
  }
}

static int changesFilter(sqlite3_vtab_cursor *pCursor, int idxNum,
                         const char *idxStr, int argc, sqlite3_value **argv) {
  changes_cursor *pCur = (changes_cursor *)pCursor;
  changes_vtab *pTab = (changes_vtab *)pCursor->pVtab;
  thr_tid tid;
  int i = 0, rc, bThread = 0;
  (void)idxStr;
  (void)argc;
  changes_reset(pCur);
  pCur->bEof = 0;
  pCur->iMinSeq = -1;
  pCur->bAll = 0;
  if (!thr_store_ready(pTab->pStore)) {
    pCur->bEof = 1;
    return SQLITE_OK;
  }
  if (idxNum & 1) {
    const char *zThread = (const char *)sqlite3_value_text(argv[i++]);
    char *zErr = NULL;
    if (zThread == NULL ||
        thr_store_resolve(pTab->pStore, zThread, &tid, &zErr) != SQLITE_OK) {
      sqlite3_free(zErr);
      pCur->bEof = 1;
      return SQLITE_OK;
    }
    bThread = 1;
  }
  if (idxNum & 2) {
    sqlite3_value *pV = argv[i++];
    int eType = sqlite3_value_numeric_type(pV);
    if (eType == SQLITE_INTEGER || eType == SQLITE_FLOAT) {
      sqlite3_int64 v = sqlite3_value_int64(pV);
      pCur->iMinSeq = (idxNum & 4) ? v - 1 : v;
    }
  }
  if (idxNum & 8) {
    const char *zKinds = (const char *)sqlite3_value_text(argv[i++]);
    if (zKinds && strcmp(zKinds, "all") == 0) {
      pCur->bAll = 1;
    } else if (zKinds == NULL || strcmp(zKinds, "docs") != 0) {
      pTab->base.zErrMsg = sqlite3_mprintf(
          "threads_changes: kinds must be 'docs' or 'all', not %s",
          zKinds ? zKinds : "NULL");
      return SQLITE_ERROR;
    }
  }
  rc = sqlite3_prepare_v2(
      thr_store_db(pTab->pStore),
      bThread ? "SELECT r.rid, l.pk, r.cid FROM _threads_record r"
                " JOIN _threads_log l ON l.lid = r.lid"
                " JOIN _threads_thread t ON t.tid = l.tid"
                " WHERE t.id = ?1 AND r.rid >= ?2 ORDER BY r.rid"
              : "SELECT r.rid, l.pk, r.cid FROM _threads_record r"
                " JOIN _threads_log l ON l.lid = r.lid"
                " WHERE r.rid >= ?2 ORDER BY r.rid",
      -1, &pCur->pRec, NULL);
  if (rc != SQLITE_OK) {
    return rc;
  }
  if (bThread) {
    sqlite3_bind_blob(pCur->pRec, 1, tid.a, tid.n, SQLITE_TRANSIENT);
  }
  sqlite3_bind_int64(pCur->pRec, 2,
                     pCur->iMinSeq < 0 ? 0 : pCur->iMinSeq >> SEQ_SHIFT);
  return changesNext(pCursor);
}

static int changesEof(sqlite3_vtab_cursor *pCursor) {
  return ((changes_cursor *)pCursor)->bEof;
}

static void changes_text(sqlite3_context *ctx, thr_cbor *p) {
  size_t n = 0;
  const char *z = thr_cbor_as_text(p, &n);
  if (z) {
    sqlite3_result_text(ctx, z, (int)n, SQLITE_TRANSIENT);
  }
}

static int changesColumn(sqlite3_vtab_cursor *pCursor, sqlite3_context *ctx,
                         int iCol) {
  changes_cursor *pCur = (changes_cursor *)pCursor;
  switch (iCol) {
  case 0: { /* thread: from the record's log */
    sqlite3_stmt *pStmt = NULL;
    changes_vtab *pTab = (changes_vtab *)pCursor->pVtab;
    if (sqlite3_prepare_v2(thr_store_db(pTab->pStore),
                           "SELECT t.id FROM _threads_record r"
                           " JOIN _threads_log l ON l.lid = r.lid"
                           " JOIN _threads_thread t ON t.tid = l.tid"
                           " WHERE r.rid = ?1",
                           -1, &pStmt, NULL) == SQLITE_OK) {
      sqlite3_bind_int64(pStmt, 1, pCur->iRid);
      if (sqlite3_step(pStmt) == SQLITE_ROW) {
        thr_result_tid(ctx, sqlite3_column_value(pStmt, 0));
      }
    }
    sqlite3_finalize(pStmt);
    break;
  }
  case 1:
    sqlite3_result_int64(ctx,
                         (pCur->iRid << SEQ_SHIFT) | (sqlite3_int64)pCur->iAct);
    break;
  case 2:
    changes_text(ctx, thr_cbor_get(pCur->pAct, "coll"));
    break;
  case 3:
    changes_text(ctx, thr_cbor_get(pCur->pAct, "id"));
    break;
  case 4:
    changes_text(ctx, thr_cbor_get(pCur->pAct, "type"));
    break;
  case 5:
    sqlite3_result_text(ctx, thr_peer_text(pCur->author), -1, sqlite3_free);
    break;
  case 6:
    sqlite3_result_int64(ctx, pCur->time);
    break;
  case 7: { /* hlc */
    uint64_t hlc = 0;
    if (thr_cbor_as_uint(thr_cbor_get(pCur->pAct, "hlc"), &hlc)) {
      sqlite3_result_int64(ctx, (sqlite3_int64)hlc);
    }
    break;
  }
  case 8: /* log */
    thr_result_peer(ctx, sqlite3_column_value(pCur->pRec, 1));
    break;
  case 9: /* cid */
    thr_result_cid(ctx, sqlite3_column_value(pCur->pRec, 2));
    break;
  case 10: /* idx */
    sqlite3_result_int64(ctx, (sqlite3_int64)pCur->iAct);
    break;
  case 11: /* json */
    changes_text(ctx, thr_cbor_get(pCur->pAct, "json"));
    break;
  case COL_KINDS:
    sqlite3_result_text(ctx, pCur->bAll ? "all" : "docs", -1, SQLITE_STATIC);
    break;
  }
  return SQLITE_OK;
}

static int changesRowid(sqlite3_vtab_cursor *pCursor, sqlite_int64 *pRowid) {
  changes_cursor *pCur = (changes_cursor *)pCursor;
  *pRowid = (pCur->iRid << SEQ_SHIFT) | (sqlite3_int64)pCur->iAct;
  return SQLITE_OK;
}

const sqlite3_module thr_changes_module = {
    .iVersion = 0,
    .xConnect = changesConnect,
    .xBestIndex = changesBestIndex,
    .xDisconnect = changesDisconnect,
    .xOpen = changesOpen,
    .xClose = changesClose,
    .xFilter = changesFilter,
    .xNext = changesNext,
    .xEof = changesEof,
    .xColumn = changesColumn,
    .xRowid = changesRowid,
};
