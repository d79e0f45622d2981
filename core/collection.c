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
  rc = thr_store_identity(pStore, &pId, pzErr);
  if (rc == SQLITE_OK) {
    rc = thr_store_log_pk(pStore, pTid, logPk, pzErr);
  }
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
