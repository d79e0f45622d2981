/*
** fn_collection.c: SQL functions over collection tables.
**
**   threads_rebuild(table)               -> integer, live rows after
**       drops the table's materialized view and replays the thread's log
**       into it (the same reducer as every write), in one savepoint.
**   threads_index(table, field [, unique]) -> text, the index name
**       creates a real SQLite index (unique if the third argument is true)
**       on the field's column of the table's shadow table, covering the
**       rows already there; a unique index refuses duplicates with a
**       constraint error naming the table and field.
**
**   threads_alter(table, schema)         -> integer 1
**       replaces the collection's schema through the log: one record
**       holding an "alter" action, applied on every peer by the merge rule
**       (core/reduce.c); the table's columns follow (a new property gets
**       a column and, if it asks, an index, filled from the documents).
**       Stored documents are not checked again.  A property may come or
**       go, not change its type.
**
** "table" is the name of a collection table created with
** CREATE VIRTUAL TABLE ... USING threads(...).
*/
#include "thr_sql.h"

#include <string.h>

/* Is zTable a collection table of this database (registered view)? */
static int fn_view_exists(sqlite3 *db, const char *zTable) {
  sqlite3_stmt *pStmt = NULL;
  int bFound = 0;
  if (sqlite3_prepare_v2(db, "SELECT 1 FROM _threads_view WHERE view = ?1", -1,
                         &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zTable, -1, SQLITE_STATIC);
    bFound = sqlite3_step(pStmt) == SQLITE_ROW;
  }
  sqlite3_finalize(pStmt);
  return bFound;
}

static const char *fn_table_arg(sqlite3_context *ctx, const char *zFunc,
                                sqlite3_value *pVal) {
  const char *zTable = (const char *)sqlite3_value_text(pVal);
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  if (sqlite3_value_type(pVal) != SQLITE_TEXT ||
      !thr_store_ready(sqlite3_user_data(ctx)) || !fn_view_exists(db, zTable)) {
    char *zMsg = sqlite3_mprintf("%s: no such collection table: %s", zFunc,
                                 zTable ? zTable : "NULL");
    sqlite3_result_error(ctx, zMsg, -1);
    sqlite3_free(zMsg);
    return NULL;
  }
  return zTable;
}

void thr_fn_rebuild(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  thr_store *pStore = sqlite3_user_data(ctx);
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *zTable = fn_table_arg(ctx, "threads_rebuild", argv[0]);
  char *zErr = NULL, *zSql;
  sqlite3_stmt *pStmt = NULL;
  sqlite3_int64 nLive = 0;
  int rc;
  (void)argc;
  if (zTable == NULL) {
    return;
  }
  rc = sqlite3_exec(db, "SAVEPOINT threads_rebuild", NULL, NULL, NULL);
  if (rc == SQLITE_OK) {
    rc = thr_view_rebuild(pStore, zTable, &zErr);
    if (rc == SQLITE_OK) {
      rc = sqlite3_exec(db, "RELEASE threads_rebuild", NULL, NULL, NULL);
    } else {
      sqlite3_exec(db, "ROLLBACK TO threads_rebuild; RELEASE threads_rebuild",
                   NULL, NULL, NULL);
    }
  }
  if (rc != SQLITE_OK) {
    char *zMsg = sqlite3_mprintf("threads_rebuild: %s",
                                 zErr ? zErr : sqlite3_errmsg(db));
    sqlite3_result_error(ctx, zMsg, -1);
    sqlite3_free(zMsg);
    sqlite3_free(zErr);
    return;
  }
  zSql = sqlite3_mprintf("SELECT count(*) FROM \"%w_data\" WHERE _live = 1",
                         zTable);
  if (zSql && sqlite3_prepare_v2(db, zSql, -1, &pStmt, NULL) == SQLITE_OK &&
      sqlite3_step(pStmt) == SQLITE_ROW) {
    nLive = sqlite3_column_int64(pStmt, 0);
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(zSql);
  sqlite3_result_int64(ctx, nLive);
}

void thr_fn_index(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *zTable = fn_table_arg(ctx, "threads_index", argv[0]);
  const char *zField = (const char *)sqlite3_value_text(argv[1]);
  int bUnique = argc > 2 && sqlite3_value_int(argv[2]) != 0;
  sqlite3_stmt *pStmt = NULL;
  char *zSql, *zName;
  int rc, bColumn = 0;
  if (zTable == NULL) {
    return;
  }
  /* The field must be a mirrored column of the shadow table. */
  zSql =
      sqlite3_mprintf("SELECT 1 FROM pragma_table_info('%q_data')"
                      " WHERE name = ?1 AND name NOT LIKE '\\_%%' ESCAPE '\\'",
                      zTable);
  if (zSql && sqlite3_prepare_v2(db, zSql, -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zField, -1, SQLITE_STATIC);
    bColumn = sqlite3_step(pStmt) == SQLITE_ROW;
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(zSql);
  if (zField == NULL || !bColumn) {
    zSql = sqlite3_mprintf("threads_index: %s has no field %s (only top-level "
                           "properties of its schema can be indexed)",
                           zTable, zField ? zField : "NULL");
    sqlite3_result_error(ctx, zSql, -1);
    sqlite3_free(zSql);
    return;
  }
  zName = sqlite3_mprintf("%s_idx_%s", zTable, zField);
  /* Not partial: tombstones hold NULL in every mirrored column, so they
  ** neither collide in a unique index nor need excluding, and a partial
  ** index "WHERE _live = 1" would lure the planner into index scans.
  ** _live is the second key column so "field = ? AND _live = 1" is
  ** answered from the index alone. */
  zSql = sqlite3_mprintf("CREATE %sINDEX IF NOT EXISTS \"%w\" ON \"%w_data\""
                         "(\"%w\", _live)",
                         bUnique ? "UNIQUE " : "", zName, zTable, zField);
  rc = zSql ? sqlite3_exec(db, zSql, NULL, NULL, NULL) : SQLITE_NOMEM;
  sqlite3_free(zSql);
  if (rc != SQLITE_OK) {
    zSql = sqlite3_mprintf("threads_index: %s.%s: %s", zTable, zField,
                           rc == SQLITE_CONSTRAINT
                               ? "existing rows have duplicate values"
                               : sqlite3_errmsg(db));
    sqlite3_result_error(ctx, zSql, -1);
    sqlite3_result_error_code(ctx, rc);
    sqlite3_free(zSql);
    sqlite3_free(zName);
    return;
  }
  sqlite3_result_text(ctx, zName, -1, sqlite3_free);
}

/* threads_subscribe(pointer): the C API's way in (see ext/threads.h); from
** SQL the argument is never a pointer and the call is refused. */
void thr_fn_subscribe(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  thr_subscription *pSub =
      sqlite3_value_pointer(argv[0], THR_SUBSCRIPTION_TYPE);
  (void)argc;
  if (pSub == NULL) {
    sqlite3_result_error(ctx,
                         "threads_subscribe: use the C function "
                         "threads_subscribe() of threads.h",
                         -1);
    return;
  }
  if (thr_txn_subscribe(sqlite3_user_data(ctx), pSub->xChange, pSub->pArg) !=
      SQLITE_OK) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_int(ctx, 1);
}

void thr_fn_alter(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  thr_store *pStore = sqlite3_user_data(ctx);
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *zTable = fn_table_arg(ctx, "threads_alter", argv[0]);
  const char *zSchema = (const char *)sqlite3_value_text(argv[1]);
  char *zErr = NULL;
  int rc;
  (void)argc;
  if (zTable == NULL) {
    return;
  }
  if (zSchema == NULL) {
    sqlite3_result_error(ctx, "threads_alter: the schema must be text", -1);
    return;
  }
  rc = sqlite3_exec(db, "SAVEPOINT threads_alter", NULL, NULL, NULL);
  if (rc == SQLITE_OK) {
    rc = thr_coll_alter(pStore, zTable, zSchema, &zErr);
    if (rc != SQLITE_OK) {
      sqlite3_exec(db, "ROLLBACK TO threads_alter", NULL, NULL, NULL);
      thr_reduce_rollback(pStore);
    }
    sqlite3_exec(db, "RELEASE threads_alter", NULL, NULL, NULL);
  }
  if (rc != SQLITE_OK) {
    char *zMsg =
        sqlite3_mprintf("threads_alter: %s", zErr ? zErr : sqlite3_errstr(rc));
    sqlite3_result_error(ctx, zMsg, -1);
    sqlite3_result_error_code(ctx, rc);
    sqlite3_free(zMsg);
  } else {
    thr_store_committed(pStore);
    sqlite3_result_int(ctx, 1);
  }
  sqlite3_free(zErr);
}
