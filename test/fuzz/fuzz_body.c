/*
** fuzz_body.c: record bodies, as a peer could send them, through the
** reducer into a real view (thr_apply_body, core/reduce.c).
**
** One in-memory database with a thread and a view "v" of collection "c"
** (properties a, b) is set up once; every input is applied inside a
** transaction that is rolled back, so inputs do not pile up.  Any body must
** be applied or skipped without a crash, a leak or a failing storage call,
** and the view must stay readable.
*/
#include "thr_core.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static sqlite3 *gDb;
static thr_store *gStore;
static sqlite3_int64 gThread;

static void setup(void) {
  thr_tid tid;
  char *zErr = NULL;
  int bWrite = 0;
  if (sodium_init() < 0 || sqlite3_open(":memory:", &gDb) != SQLITE_OK ||
      thr_store_open(gDb, &gStore, &zErr) != SQLITE_OK ||
      thr_store_create_thread(gStore, "t", THR_VARIANT_RAW, &tid, &zErr) !=
          SQLITE_OK ||
      thr_store_setup(gStore, &zErr) != SQLITE_OK ||
      thr_store_thread_row(gStore, &tid, &gThread, &bWrite, &zErr) !=
          SQLITE_OK ||
      sqlite3_exec(gDb,
                   "CREATE TABLE v_data(_id TEXT PRIMARY KEY, a, b TEXT, _rest "
                   "TEXT, _log INTEGER, _hlc INTEGER, _live INTEGER NOT NULL, "
                   "_clock BLOB) WITHOUT ROWID",
                   NULL, NULL, NULL) != SQLITE_OK ||
      thr_view_register(gStore, "v", &tid, "c", "[[\"a\",0],[\"b\",5]]",
                        &zErr) != SQLITE_OK ||
      /* A schema, so that remote actions are judged by it too. */
      sqlite3_exec(gDb,
                   "INSERT INTO _threads_collection(tid, name, schema) SELECT "
                   "tid, 'c', '{\"properties\":{\"a\":{\"maximum\":1000},"
                   "\"b\":{\"type\":\"array\",\"maxItems\":3}},"
                   "\"required\":[\"_id\"]}' FROM _threads_thread",
                   NULL, NULL, NULL) != SQLITE_OK) {
    abort();
  }
}

int LLVMFuzzerTestOneInput(const unsigned char *a, size_t n) {
  static const unsigned char logPk[32] = {7}, author[32] = {9};
  sqlite3_stmt *pStmt = NULL;
  char *zErr = NULL;
  int nSkip = 0, rc;
  static const unsigned char aCid[THR_CID_BYTES] = {1, 0x71, 0x12, 0x20};
  if (gDb == NULL) {
    setup();
  }
  if (sqlite3_exec(gDb, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
    abort();
  }
  rc = thr_apply_body(gStore, gThread, logPk, author, aCid, a, n, NULL, NULL,
                      &nSkip, &zErr);
  if (rc == SQLITE_OK) {
    rc = thr_reduce_flush(gStore, &zErr);
  }
  /* A unique index could refuse a document; there is none here, so any
  ** failure is a bug. */
  if (rc != SQLITE_OK) {
    abort();
  }
  /* Every row the reducer wrote gives its document back. */
  if (sqlite3_prepare_v2(gDb, "SELECT _id, a, b, _rest, _live FROM v_data", -1,
                         &pStmt, NULL) != SQLITE_OK) {
    abort();
  }
  while (sqlite3_step(pStmt) == SQLITE_ROW) {
    static char *const azProp[] = {"a", "b"};
    static const int aeKind[] = {THR_PT_ANY, THR_PT_JSON};
    json_t *pDoc = thr_doc_rebuild(pStmt, sqlite3_column_int(pStmt, 4), 2,
                                   azProp, aeKind, 3, &rc);
    if (pDoc == NULL) {
      abort();
    }
    json_decref(pDoc);
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(zErr);
  if (sqlite3_exec(gDb, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK) {
    abort();
  }
  return 0;
}
