/*
** vt_threads.c: the "threads" table, one row per thread this file knows.
**
**   id       TEXT     thread ID ("bafk..." for raw threads)
**   name     TEXT     local name, or NULL
**   variant  TEXT     'raw' or 'access-controlled'
**   role     TEXT     'write' with the read key, 'follow' with only the
**                     service key
**   logs     INTEGER  logs known for the thread
**   records  INTEGER  records held, all logs together
**   heads    TEXT     JSON array of {"log", "head", "counter"}, in log order
**   created  INTEGER  when this peer created or joined it (unix ms)
**
** "thread" in the declaration is a hidden alias of id, so that
** SELECT * FROM threads WHERE thread = 'notes' works like the other
** listings (column 0 is where the listing code pushes "thread =" down).
*/
#include "thr_sql.h"

static void threads_column(thr_store *pStore, sqlite3_stmt *pRow,
                           sqlite3_context *ctx, int iCol);

static const thr_listing threadsListing = {
    .zDecl = "CREATE TABLE x(thread HIDDEN, id TEXT, name TEXT, variant TEXT,"
             " role TEXT, logs INTEGER, records INTEGER, heads TEXT,"
             " created INTEGER)",
    .zAll = "SELECT t.id, t.name, t.read IS NOT NULL, t.tid, t.created"
            " FROM _threads_thread t ORDER BY t.tid",
    .zOne = "SELECT t.id, t.name, t.read IS NOT NULL, t.tid, t.created"
            " FROM _threads_thread t WHERE t.id = ?1",
    .xColumn = threads_column,
};

/* Logs, records and heads of thread tid, from one query over its logs. */
static void threads_logs(thr_store *pStore, sqlite3_int64 tid,
                         sqlite3_context *ctx, int iCol) {
  sqlite3_stmt *pStmt = NULL;
  sqlite3_str *pJson = NULL;
  sqlite3_int64 nLog = 0, nRec = 0;
  int rc = sqlite3_prepare_v2(thr_store_db(pStore),
                              "SELECT pk, head, counter FROM _threads_heads"
                              " WHERE tid = ?1 ORDER BY pk",
                              -1, &pStmt, NULL);
  if (rc != SQLITE_OK) {
    sqlite3_result_error_code(ctx, rc);
    return;
  }
  sqlite3_bind_int64(pStmt, 1, tid);
  if (iCol == 7) {
    pJson = sqlite3_str_new(thr_store_db(pStore));
    sqlite3_str_appendchar(pJson, 1, '[');
  }
  while (sqlite3_step(pStmt) == SQLITE_ROW) {
    nLog++;
    nRec += sqlite3_column_int64(pStmt, 2);
    if (pJson && sqlite3_column_bytes(pStmt, 0) == 32) {
      char *zLog = thr_peer_text(sqlite3_column_blob(pStmt, 0));
      char *zHead = NULL;
      thr_cid head;
      char *zErr = NULL;
      if (thr_cid_from_bytes(&head, sqlite3_column_blob(pStmt, 1),
                             (size_t)sqlite3_column_bytes(pStmt, 1),
                             &zErr) == SQLITE_OK) {
        zHead = thr_cid_text(&head);
      }
      sqlite3_free(zErr);
      sqlite3_str_appendf(pJson,
                          "%s{\"log\":\"%s\",\"head\":%s%s%s,"
                          "\"counter\":%lld}",
                          nLog > 1 ? "," : "", zLog ? zLog : "",
                          zHead ? "\"" : "", zHead ? zHead : "null",
                          zHead ? "\"" : "", sqlite3_column_int64(pStmt, 2));
      sqlite3_free(zLog);
      sqlite3_free(zHead);
    }
  }
  sqlite3_finalize(pStmt);
  if (pJson) {
    sqlite3_str_appendchar(pJson, 1, ']');
    sqlite3_result_text(ctx, sqlite3_str_finish(pJson), -1, sqlite3_free);
  } else {
    sqlite3_result_int64(ctx, iCol == 5 ? nLog : nRec);
  }
}

static void threads_column(thr_store *pStore, sqlite3_stmt *pRow,
                           sqlite3_context *ctx, int iCol) {
  switch (iCol) {
  case 0: /* thread */
  case 1: /* id */
    thr_result_tid(ctx, sqlite3_column_value(pRow, 0));
    break;
  case 2: /* name */
    sqlite3_result_value(ctx, sqlite3_column_value(pRow, 1));
    break;
  case 3: { /* variant */
    thr_tid tid;
    char *zErr = NULL;
    if (thr_tid_from_bytes(&tid, sqlite3_column_blob(pRow, 0),
                           (size_t)sqlite3_column_bytes(pRow, 0),
                           &zErr) == SQLITE_OK) {
      sqlite3_result_text(ctx,
                          thr_tid_variant(&tid) == THR_VARIANT_ACL
                              ? "access-controlled"
                              : "raw",
                          -1, SQLITE_STATIC);
    }
    sqlite3_free(zErr);
    break;
  }
  case 4: /* role */
    sqlite3_result_text(ctx, sqlite3_column_int(pRow, 2) ? "write" : "follow",
                        -1, SQLITE_STATIC);
    break;
  case 5: /* logs */
  case 6: /* records */
  case 7: /* heads */
    threads_logs(pStore, sqlite3_column_int64(pRow, 3), ctx, iCol);
    break;
  case 8: /* created */
    sqlite3_result_int64(ctx, sqlite3_column_int64(pRow, 4));
    break;
  }
}

static int threadsConnect(sqlite3 *db, void *pAux, int argc,
                          const char *const *argv, sqlite3_vtab **ppVtab,
                          char **pzErr) {
  (void)argc;
  (void)argv;
  return thr_listing_connect(db, pAux, &threadsListing, ppVtab, pzErr);
}

const sqlite3_module thr_threads_module = THR_LISTING_MODULE(threadsConnect);
