/*
** vt_listing.c: the shared implementation of our read-only listings.
**
** A listing is an eponymous-only virtual table whose rows are those of one
** internal query over the _threads_* tables, with blob IDs turned into
** their text forms by the listing's xColumn.  The only constraint pushed
** down is "thread = ?" on column 0; it accepts a local name or a thread ID
** and is consumed (omit = 1), since SQLite could not compare a name with
** the ID text it would otherwise see.
*/
#include "thr_sql.h"

#include <string.h>

typedef struct listing_vtab listing_vtab;
struct listing_vtab {
  sqlite3_vtab base; /* Base class - must be first */
  int eKind;         /* THR_VTAB_LISTING */
  thr_store *pStore; /* Borrowed from the connection */
  const thr_listing *pDesc;
};

typedef struct listing_cursor listing_cursor;
struct listing_cursor {
  sqlite3_vtab_cursor base; /* Base class - must be first */
  sqlite3_stmt *pStmt;      /* Owned: the internal query, NULL when empty */
  int bEof;
  sqlite3_int64 iRow;
};

int thr_listing_connect(sqlite3 *db, void *pAux, const thr_listing *pDesc,
                        sqlite3_vtab **ppVtab, char **pzErr) {
  listing_vtab *p;
  int rc = sqlite3_declare_vtab(db, pDesc->zDecl);
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
  p->pDesc = pDesc;
  thr_store_attach(p->pStore);
  *ppVtab = &p->base;
  return SQLITE_OK;
}

int thr_listingDisconnect(sqlite3_vtab *pVtab) {
  listing_vtab *p = (listing_vtab *)pVtab;
  thr_store_detach(p->pStore);
  sqlite3_free(p);
  return SQLITE_OK;
}

int thr_listingBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo) {
  int i;
  (void)pVtab;
  pInfo->idxNum = 0;
  pInfo->estimatedCost = 100000.0;
  pInfo->estimatedRows = 10000;
  for (i = 0; i < pInfo->nConstraint; i++) {
    const struct sqlite3_index_constraint *pC = &pInfo->aConstraint[i];
    if (pC->usable && pC->iColumn == 0 &&
        pC->op == SQLITE_INDEX_CONSTRAINT_EQ) {
      pInfo->idxNum = 1;
      pInfo->aConstraintUsage[i].argvIndex = 1;
      pInfo->aConstraintUsage[i].omit = 1;
      pInfo->estimatedCost = 100.0;
      pInfo->estimatedRows = 100;
      break;
    }
  }
  return SQLITE_OK;
}

int thr_listingOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCur) {
  listing_cursor *pCur = sqlite3_malloc64(sizeof(*pCur));
  (void)pVtab;
  if (pCur == NULL) {
    return SQLITE_NOMEM;
  }
  memset(pCur, 0, sizeof(*pCur));
  *ppCur = &pCur->base;
  return SQLITE_OK;
}

int thr_listingClose(sqlite3_vtab_cursor *pCursor) {
  listing_cursor *pCur = (listing_cursor *)pCursor;
  sqlite3_finalize(pCur->pStmt);
  sqlite3_free(pCur);
  return SQLITE_OK;
}

int thr_listingNext(sqlite3_vtab_cursor *pCursor) {
  listing_cursor *pCur = (listing_cursor *)pCursor;
  int rc;
  if (pCur->pStmt == NULL) {
    pCur->bEof = 1;
    return SQLITE_OK;
  }
  rc = sqlite3_step(pCur->pStmt);
  pCur->iRow++;
  if (rc == SQLITE_ROW) {
    return SQLITE_OK;
  }
  pCur->bEof = 1;
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int thr_listingFilter(sqlite3_vtab_cursor *pCursor, int idxNum,
                      const char *idxStr, int argc, sqlite3_value **argv) {
  listing_cursor *pCur = (listing_cursor *)pCursor;
  listing_vtab *pTab = (listing_vtab *)pCursor->pVtab;
  thr_store *pStore = pTab->pStore;
  thr_tid tid;
  char *zErr = NULL;
  int rc;
  (void)idxStr;
  (void)argc;

  sqlite3_finalize(pCur->pStmt);
  pCur->pStmt = NULL;
  pCur->bEof = 0;
  pCur->iRow = 0;
  if (!thr_store_ready(pStore)) {
    pCur->bEof = 1; /* nothing was ever stored in this file */
    return SQLITE_OK;
  }
  if (idxNum == 1) {
    const char *zThread = (const char *)sqlite3_value_text(argv[0]);
    /* An unknown thread matches no row, as any filter would. */
    if (zThread == NULL ||
        thr_store_resolve(pStore, zThread, &tid, &zErr) != SQLITE_OK) {
      sqlite3_free(zErr);
      pCur->bEof = 1;
      return SQLITE_OK;
    }
  }
  rc = sqlite3_prepare_v2(thr_store_db(pStore),
                          idxNum == 1 ? pTab->pDesc->zOne : pTab->pDesc->zAll,
                          -1, &pCur->pStmt, NULL);
  if (rc != SQLITE_OK) {
    sqlite3_free(pTab->base.zErrMsg);
    pTab->base.zErrMsg =
        sqlite3_mprintf("%s", sqlite3_errmsg(thr_store_db(pStore)));
    return rc;
  }
  if (idxNum == 1) {
    sqlite3_bind_blob(pCur->pStmt, 1, tid.a, tid.n, SQLITE_TRANSIENT);
  }
  return thr_listingNext(pCursor);
}

int thr_listingEof(sqlite3_vtab_cursor *pCursor) {
  return ((listing_cursor *)pCursor)->bEof;
}

int thr_listingColumn(sqlite3_vtab_cursor *pCursor, sqlite3_context *ctx,
                      int iCol) {
  listing_cursor *pCur = (listing_cursor *)pCursor;
  listing_vtab *pTab = (listing_vtab *)pCursor->pVtab;
  pTab->pDesc->xColumn(pTab->pStore, pCur->pStmt, ctx, iCol);
  return SQLITE_OK;
}

int thr_listingRowid(sqlite3_vtab_cursor *pCursor, sqlite_int64 *pRowid) {
  *pRowid = ((listing_cursor *)pCursor)->iRow;
  return SQLITE_OK;
}

/* Text forms of blob columns; NULL stays NULL, a malformed blob (corrupt
** table) reads as NULL rather than failing the whole query. */
void thr_result_tid(sqlite3_context *ctx, sqlite3_value *pVal) {
  thr_tid tid;
  char *zErr = NULL;
  if (sqlite3_value_type(pVal) == SQLITE_BLOB &&
      thr_tid_from_bytes(&tid, sqlite3_value_blob(pVal),
                         (size_t)sqlite3_value_bytes(pVal),
                         &zErr) == SQLITE_OK) {
    sqlite3_result_text(ctx, thr_tid_text(&tid), -1, sqlite3_free);
  }
  sqlite3_free(zErr);
}

void thr_result_peer(sqlite3_context *ctx, sqlite3_value *pVal) {
  if (sqlite3_value_type(pVal) == SQLITE_BLOB &&
      sqlite3_value_bytes(pVal) == 32) {
    sqlite3_result_text(ctx, thr_peer_text(sqlite3_value_blob(pVal)), -1,
                        sqlite3_free);
  }
}

void thr_result_cid(sqlite3_context *ctx, sqlite3_value *pVal) {
  thr_cid cid;
  char *zErr = NULL;
  if (sqlite3_value_type(pVal) == SQLITE_BLOB &&
      thr_cid_from_bytes(&cid, sqlite3_value_blob(pVal),
                         (size_t)sqlite3_value_bytes(pVal),
                         &zErr) == SQLITE_OK) {
    sqlite3_result_text(ctx, thr_cid_text(&cid), -1, sqlite3_free);
  }
  sqlite3_free(zErr);
}
