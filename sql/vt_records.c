/*
** vt_records.c: "threads_records", the audit view of every log record.
**
**   thread   TEXT     thread ID (an equality filter also takes a name)
**   log      TEXT     log ID ("12D3KooW...": the log's public key)
**   counter  INTEGER  position in the log, 1 for the first record
**   cid      TEXT     the record's CID
**   prev     TEXT     CID of the previous record, NULL on the first
**   author   TEXT     peer ID of the writer's identity
**   time     INTEGER  header time (unix ms), NULL where this peer cannot
**                     read headers (followers)
*/
#include "thr_sql.h"

#define RECORDS_SELECT                                                         \
  "SELECT t.id, l.pk, r.counter, r.cid, r.prev, r.author, r.time"              \
  " FROM _threads_thread t JOIN _threads_log l ON l.tid = t.tid"               \
  " JOIN _threads_record r ON r.lid = l.lid"

static void records_column(thr_store *pStore, sqlite3_stmt *pRow,
                           sqlite3_context *ctx, int iCol);

static const thr_listing recordsListing = {
    .zDecl = "CREATE TABLE x(thread TEXT, log TEXT, counter INTEGER,"
             " cid TEXT, prev TEXT, author TEXT, time INTEGER)",
    .zAll = RECORDS_SELECT " ORDER BY t.tid, l.pk, r.counter",
    .zOne = RECORDS_SELECT " WHERE t.id = ?1 ORDER BY l.pk, r.counter",
    .xColumn = records_column,
};

static void records_column(thr_store *pStore, sqlite3_stmt *pRow,
                           sqlite3_context *ctx, int iCol) {
  sqlite3_value *pVal = sqlite3_column_value(pRow, iCol);
  (void)pStore;
  switch (iCol) {
  case 0:
    thr_result_tid(ctx, pVal);
    break;
  case 1:
  case 5:
    thr_result_peer(ctx, pVal);
    break;
  case 3:
  case 4:
    thr_result_cid(ctx, pVal);
    break;
  default:
    sqlite3_result_value(ctx, pVal);
  }
}

static int recordsConnect(sqlite3 *db, void *pAux, int argc,
                          const char *const *argv, sqlite3_vtab **ppVtab,
                          char **pzErr) {
  (void)argc;
  (void)argv;
  return thr_listing_connect(db, pAux, &recordsListing, ppVtab, pzErr);
}

const sqlite3_module thr_records_module = THR_LISTING_MODULE(recordsConnect);
