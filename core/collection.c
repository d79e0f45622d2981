/*
** collection.c: collections and their local tables (views), and the
** entry of a local write.
**
** A collection is defined in a thread by a schema action (CREATE VIRTUAL
** TABLE with schema=, or threads_alter), staged like any write and so
** replicated with the thread; which definition is in force is the merge
** rule's (reduce.c).  _threads_collection holds the schema in force at the
** end of the order; _threads_view names the local tables ("views") of each
** collection with their mirrored properties.  A local write is applied by
** the reducer at the end of the order and staged for the transaction's
** record (txn.c).
*/
#include "thr_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Stage a schema action of this identity and apply it to the schema
** history. */
static int coll_stage(thr_store *pStore, const thr_tid *pTid,
                      sqlite3_int64 iThread, int eType, const char *zColl,
                      const char *zSchema, char **pzErr) {
  const thr_keypair *pId;
  unsigned char logPk[32], ord[THR_ORD_BYTES];
  sqlite3_int64 iLog = 0;
  thr_action act;
  int rc, nSkip = 0;
  memset(&act, 0, sizeof(act));
  act.eType = eType;
  act.zColl = zColl;
  act.zJson = zSchema;
  rc = thr_store_log_pk(pStore, pTid, logPk, &pId, pzErr);
  if (rc == SQLITE_OK) {
    rc = thr_store_log_lid(pStore, iThread, logPk, pId->pk, 1, &iLog, pzErr);
  }
  if (rc != SQLITE_OK) {
    return rc;
  }
  act.hlc = thr_reduce_tick(pStore);
  thr_ord_make(ord, act.hlc, logPk, NULL,
               (uint32_t)thr_txn_next_index(pStore, pTid));
  rc = thr_reduce_schema(pStore, iThread, &act, ord, iLog, &nSkip, pzErr);
  if (rc == SQLITE_OK && nSkip) {
    *pzErr = sqlite3_mprintf("invalid schema");
    rc = SQLITE_ERROR;
  }
  if (rc == SQLITE_OK) {
    rc = thr_txn_stage(pStore, pTid, &act);
  }
  return rc;
}

int thr_coll_define(thr_store *pStore, const thr_tid *pTid, const char *zColl,
                    const char *zSchema, char **pzErr) {
  char *zOld = NULL;
  sqlite3_int64 iThread;
  int bWrite, rc;

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
  rc = coll_stage(pStore, pTid, iThread, THR_ACT_COLL, zColl, zSchema, pzErr);
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
  thr_reduce_forget(pStore);
  if (rc == SQLITE_OK) {
    rc = thr_reduce_create_hist(db, zView);
  }
  if (rc == SQLITE_OK) {
    rc = thr_reduce_hwm_init(pStore, zView);
  }
  return rc;
}

int thr_view_unregister(thr_store *pStore, const char *zView, char **pzErr) {
  char *zSql = sqlite3_mprintf("DELETE FROM _threads_view WHERE view = %Q;"
                               "DELETE FROM _threads_hwm WHERE view = %Q;"
                               "DROP TABLE IF EXISTS \"%w_hist\";",
                               zView, zView, zView);
  int rc;
  if (zSql == NULL) {
    return SQLITE_NOMEM;
  }
  thr_reduce_forget(pStore);
  rc = sqlite3_exec(thr_store_db(pStore), zSql, NULL, NULL, pzErr);
  sqlite3_free(zSql);
  return rc;
}

/* Remember that collection zColl of thread iThread has no views.  Only a
** cache: when memory is short it is simply not remembered. */

int thr_coll_writer(thr_store *pStore, const thr_tid *pTid, thr_writer *pW,
                    char **pzErr) {
  const thr_keypair *pId;
  char *zAuthor;
  int rc = thr_store_thread_row(pStore, pTid, &pW->iThread, &pW->bWrite, pzErr);
  if (rc == SQLITE_OK) {
    rc = thr_store_log_pk(pStore, pTid, pW->logPk, &pId, pzErr);
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
  pW->eTrust = 0;
  thr_reduce_begin(pStore);
  return SQLITE_OK;
}

int thr_coll_write(thr_store *pStore, const thr_tid *pTid, thr_writer *pW,
                   thr_action *pAct, json_t *pDoc, int eConflict,
                   char **pzErr) {
  int rc, bSkip = 0;
  if (!pW->bWrite) {
    *pzErr = sqlite3_mprintf("cannot write to this thread: this peer holds "
                             "only its service key");
    return SQLITE_READONLY;
  }
  rc = thr_reduce_local(pStore, pW->iThread, pAct, pDoc, pW->logPk, pW->iLog,
                        (uint32_t)thr_txn_next_index(pStore, pTid), pW->pSchema,
                        &pW->eTrust, eConflict, &bSkip, pzErr);
  if (rc == SQLITE_OK && !bSkip) {
    rc = thr_txn_stage(pStore, pTid, pAct);
  }
  if (rc == SQLITE_OK && !bSkip) {
    rc = thr_txn_note_change(pStore, pTid, pAct, pW->zAuthor);
  }
  return rc;
}

int thr_coll_alter(thr_store *pStore, const char *zView, const char *zSchema,
                   char **pzErr) {
  sqlite3 *db = thr_store_db(pStore);
  sqlite3_stmt *pStmt = NULL;
  thr_schema *pNew = NULL, *pOld = NULL;
  char *zColl = NULL, *zOld = NULL;
  const json_t *pNewProps, *pOldProps;
  const char *zKey;
  json_t *pVal;
  sqlite3_int64 iThread = 0, iLog = 0;
  const thr_keypair *pId;
  unsigned char logPk[32], ord[THR_ORD_BYTES], aHdr[32], *aBody = NULL;
  thr_cw w = {NULL, 0, 0, SQLITE_OK, 1};
  thr_cw h = {aHdr, 0, sizeof(aHdr), SQLITE_OK, 0};
  thr_action act;
  thr_tid tid;
  thr_cid cid;
  int rc, bWrite = 0, nSkip = 0;

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
      iThread = sqlite3_column_int64(pStmt, 1);
      zColl = sqlite3_mprintf("%s", sqlite3_column_text(pStmt, 2));
      if (rc == SQLITE_OK && zColl == NULL) {
        rc = SQLITE_NOMEM;
      }
    } else {
      *pzErr = sqlite3_mprintf("no such collection table: %s", zView);
      rc = SQLITE_ERROR;
    }
  }
  sqlite3_finalize(pStmt);
  if (rc == SQLITE_OK) {
    rc = thr_store_thread_row(pStore, &tid, &iThread, &bWrite, pzErr);
  }
  if (rc == SQLITE_OK && !bWrite) {
    *pzErr = sqlite3_mprintf("cannot write to this thread: this peer holds "
                             "only its service key");
    rc = SQLITE_READONLY;
  }
  if (rc == SQLITE_OK) {
    rc = thr_schema_compile(zSchema, &pNew, pzErr);
  }
  if (rc == SQLITE_OK) {
    rc = coll_schema_text(pStore, iThread, zColl, &zOld, pzErr);
  }
  if (rc == SQLITE_OK) {
    rc = thr_schema_compile(zOld, &pOld, pzErr);
  }
  if (rc != SQLITE_OK || strcmp(zOld, zSchema) == 0) {
    goto done; /* an error, or nothing to change */
  }
  /* A column keeps the SQL type it was made with: a property may come or
  ** go, not change its type. */
  pNewProps = json_object_get(thr_schema_json(pNew), "properties");
  pOldProps = json_object_get(thr_schema_json(pOld), "properties");
  json_object_foreach((json_t *)pNewProps, zKey, pVal) {
    json_t *pWas = json_object_get(pOldProps, zKey);
    if (pWas && thr_doc_prop_kind(pWas) != thr_doc_prop_kind(pVal)) {
      *pzErr = sqlite3_mprintf("property %s would change its type; add a new "
                               "property instead",
                               zKey);
      rc = SQLITE_ERROR;
      goto done;
    }
  }
  rc = thr_store_log_pk(pStore, &tid, logPk, &pId, pzErr);
  if (rc == SQLITE_OK) {
    rc = thr_store_log_lid(pStore, iThread, logPk, pId->pk, 1, &iLog, pzErr);
  }
  if (rc != SQLITE_OK) {
    goto done;
  }
  /* One record of its own, {"actions": [alter]}. */
  memset(&act, 0, sizeof(act));
  act.eType = THR_ACT_ALTER;
  act.zColl = zColl;
  act.zJson = zSchema;
  act.hlc = thr_reduce_tick(pStore);
  thr_cw_map(&h, 1);
  thr_cw_text(&h, "actions");
  thr_cw_array(&h, 1);
  thr_action_encode(&w, &act);
  rc = w.rc != SQLITE_OK ? w.rc : h.rc;
  if (rc == SQLITE_OK) {
    aBody = sqlite3_malloc64(h.n + w.n);
    rc = aBody ? SQLITE_OK : SQLITE_NOMEM;
  }
  if (rc == SQLITE_OK) {
    memcpy(aBody, aHdr, h.n);
    memcpy(aBody + h.n, w.a, w.n);
    rc = thr_store_append(pStore, &tid, aBody, h.n + w.n, &cid, pzErr);
  }
  if (rc == SQLITE_OK) {
    thr_ord_make(ord, act.hlc, logPk, cid.a, 0);
    rc = thr_reduce_schema(pStore, iThread, &act, ord, iLog, &nSkip, pzErr);
  }
  if (rc == SQLITE_OK) {
    rc = thr_reduce_flush(pStore, pzErr);
  }

done:
  thr_schema_free(pNew);
  thr_schema_free(pOld);
  sqlite3_free(zColl);
  sqlite3_free(zOld);
  sqlite3_free(aBody);
  sqlite3_free(w.a);
  return rc;
}
