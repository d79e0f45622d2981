/*
** fn_threads.c: the scalar functions of the foundation.
**
**   threads_version()             -> text, the extension version
**   threads_identity()            -> text, this database's peer ID
**   threads_create([name])        -> text, the new thread's ID
**   threads_verify(thread)        -> integer, records checked (or an error
**                                    naming the log, record and check)
**   threads_export(thread, path)  -> integer, blocks written to a CAR file
**                                    that it creates: a path where anything
**                                    exists is refused (core/car.c)
**   threads_verify_car(thread, path) -> integer, records verified in a CAR
**                                    file, from the thread's keys and log
**                                    IDs alone; only a regular file is read
**
** "thread" is a local name or a thread ID everywhere.  Errors are SQL
** errors; a failed call leaves the database and the file system as they
** were.
*/
#include "thr_sql.h"

#include <string.h>

#define THR_VERSION "0.1.0"

/* Report an error from core: a message if there is one, else the code. */
static void fn_error(sqlite3_context *ctx, const char *zFunc, int rc,
                     char *zErr) {
  if (rc == SQLITE_NOMEM) {
    sqlite3_result_error_nomem(ctx);
  } else {
    char *zMsg =
        sqlite3_mprintf("%s: %s", zFunc, zErr ? zErr : sqlite3_errstr(rc));
    sqlite3_result_error(ctx, zMsg ? zMsg : "out of memory", -1);
    sqlite3_free(zMsg);
    if (rc != SQLITE_ERROR) {
      sqlite3_result_error_code(ctx, rc);
    }
  }
  sqlite3_free(zErr);
}

/* The thread argument: a non-NULL text resolved to a known thread. */
static int fn_thread_arg(sqlite3_context *ctx, const char *zFunc,
                         sqlite3_value *pVal, thr_tid *pTid) {
  thr_store *pStore = sqlite3_user_data(ctx);
  char *zErr = NULL;
  int rc;
  if (sqlite3_value_type(pVal) != SQLITE_TEXT) {
    fn_error(ctx, zFunc, SQLITE_ERROR,
             sqlite3_mprintf("thread must be a name or a thread ID (text)"));
    return SQLITE_ERROR;
  }
  rc = thr_store_resolve(pStore, (const char *)sqlite3_value_text(pVal), pTid,
                         &zErr);
  if (rc != SQLITE_OK) {
    fn_error(ctx, zFunc, rc, zErr);
  }
  return rc;
}

void thr_fn_version(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  sqlite3_result_text(ctx, THR_VERSION, -1, SQLITE_STATIC);
}

void thr_fn_identity(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  thr_store *pStore = sqlite3_user_data(ctx);
  const thr_keypair *pId;
  char *zErr = NULL;
  int rc = thr_store_identity(pStore, &pId, &zErr);
  (void)argc;
  (void)argv;
  if (rc != SQLITE_OK) {
    fn_error(ctx, "threads_identity", rc, zErr);
    return;
  }
  sqlite3_result_text(ctx, thr_peer_text(pId->pk), -1, sqlite3_free);
}

void thr_fn_create(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  thr_store *pStore = sqlite3_user_data(ctx);
  const char *zName = NULL;
  thr_tid tid;
  char *zErr = NULL;
  int rc;
  if (argc == 1 && sqlite3_value_type(argv[0]) != SQLITE_NULL) {
    if (sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
      fn_error(ctx, "threads_create", SQLITE_ERROR,
               sqlite3_mprintf("the thread name must be text"));
      return;
    }
    zName = (const char *)sqlite3_value_text(argv[0]);
  }
  rc = thr_store_create_thread(pStore, zName, THR_VARIANT_RAW, &tid, &zErr);
  if (rc != SQLITE_OK) {
    fn_error(ctx, "threads_create", rc, zErr);
    return;
  }
  sqlite3_result_text(ctx, thr_tid_text(&tid), -1, sqlite3_free);
}

void thr_fn_verify(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  thr_store *pStore = sqlite3_user_data(ctx);
  thr_tid tid;
  sqlite3_int64 nRec = 0;
  char *zErr = NULL;
  int rc;
  (void)argc;
  if (fn_thread_arg(ctx, "threads_verify", argv[0], &tid) != SQLITE_OK) {
    return;
  }
  rc = thr_store_verify(pStore, &tid, &nRec, &zErr);
  if (rc != SQLITE_OK) {
    fn_error(ctx, "threads_verify", rc, zErr);
    return;
  }
  sqlite3_result_int64(ctx, nRec);
}

void thr_fn_export(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  thr_store *pStore = sqlite3_user_data(ctx);
  thr_tid tid;
  sqlite3_int64 nBlock = 0;
  const char *zPath;
  char *zErr = NULL;
  int rc;
  (void)argc;
  if (fn_thread_arg(ctx, "threads_export", argv[0], &tid) != SQLITE_OK) {
    return;
  }
  zPath = (const char *)sqlite3_value_text(argv[1]);
  if (sqlite3_value_type(argv[1]) != SQLITE_TEXT || zPath[0] == 0) {
    fn_error(ctx, "threads_export", SQLITE_ERROR,
             sqlite3_mprintf("the path must be a non-empty text"));
    return;
  }
  rc = thr_store_export(pStore, &tid, zPath, &nBlock, &zErr);
  if (rc != SQLITE_OK) {
    fn_error(ctx, "threads_export", rc, zErr);
    return;
  }
  sqlite3_result_int64(ctx, nBlock);
}

void thr_fn_verify_car(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  thr_store *pStore = sqlite3_user_data(ctx);
  thr_tid tid;
  sqlite3_int64 nRec = 0;
  const char *zPath;
  char *zErr = NULL;
  int rc;
  (void)argc;
  if (fn_thread_arg(ctx, "threads_verify_car", argv[0], &tid) != SQLITE_OK) {
    return;
  }
  zPath = (const char *)sqlite3_value_text(argv[1]);
  if (sqlite3_value_type(argv[1]) != SQLITE_TEXT || zPath[0] == 0) {
    fn_error(ctx, "threads_verify_car", SQLITE_ERROR,
             sqlite3_mprintf("the path must be a non-empty text"));
    return;
  }
  rc = thr_store_verify_car(pStore, &tid, zPath, &nRec, &zErr);
  if (rc != SQLITE_OK) {
    fn_error(ctx, "threads_verify_car", rc, zErr);
    return;
  }
  sqlite3_result_int64(ctx, nRec);
}
