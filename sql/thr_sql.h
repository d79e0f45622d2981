/*
** thr_sql.h: internal interface of sql/, the SQL face of the extension.
**
** Every function and module registered by ext/threads.c gets the
** connection's thr_store as its user data (sqlite3_user_data() for
** functions, pAux for modules).
*/
#ifndef THR_SQL_H
#define THR_SQL_H

#include "../core/thr_core.h"

/**************************************************************************
** Interface to code in fn_threads.c: scalar functions.
*/
void thr_fn_version(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void thr_fn_identity(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void thr_fn_create(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void thr_fn_verify(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void thr_fn_export(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void thr_fn_verify_car(sqlite3_context *ctx, int argc, sqlite3_value **argv);

/**************************************************************************
** Interface to code in vt_listing.c: read-only, eponymous-only tables
** backed by one internal query.  Column 0 is always "thread": an equality
** constraint on it is pushed down and accepts a local name or an ID.
*/
typedef struct thr_listing thr_listing;
struct thr_listing {
  const char *zDecl; /* CREATE TABLE x(...) for sqlite3_declare_vtab */
  const char *zAll;  /* internal query over every thread */
  const char *zOne;  /* the same for one thread, ID bytes bound to ?1 */
  /* Set the result of column iCol from the internal query's current row. */
  void (*xColumn)(thr_store *pStore, sqlite3_stmt *pRow, sqlite3_context *ctx,
                  int iCol);
};

int thr_listing_connect(sqlite3 *db, void *pAux, const thr_listing *pDesc,
                        sqlite3_vtab **ppVtab, char **pzErr);
int thr_listingDisconnect(sqlite3_vtab *pVtab);
int thr_listingBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo);
int thr_listingOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCur);
int thr_listingClose(sqlite3_vtab_cursor *pCursor);
int thr_listingFilter(sqlite3_vtab_cursor *pCursor, int idxNum,
                      const char *idxStr, int argc, sqlite3_value **argv);
int thr_listingNext(sqlite3_vtab_cursor *pCursor);
int thr_listingEof(sqlite3_vtab_cursor *pCursor);
int thr_listingColumn(sqlite3_vtab_cursor *pCursor, sqlite3_context *ctx,
                      int iCol);
int thr_listingRowid(sqlite3_vtab_cursor *pCursor, sqlite_int64 *pRowid);

/* The module of a listing: eponymous-only (no xCreate), read-only.  The
** listings differ only in xConnect, which binds their thr_listing. */
#define THR_LISTING_MODULE(xConnectFn)                                         \
  {                                                                            \
    .iVersion = 0, .xConnect = xConnectFn, .xBestIndex = thr_listingBestIndex, \
    .xDisconnect = thr_listingDisconnect, .xOpen = thr_listingOpen,            \
    .xClose = thr_listingClose, .xFilter = thr_listingFilter,                  \
    .xNext = thr_listingNext, .xEof = thr_listingEof,                          \
    .xColumn = thr_listingColumn, .xRowid = thr_listingRowid,                  \
  }

/* Result helpers shared by the listings: a blob column as text. */
void thr_result_tid(sqlite3_context *ctx, sqlite3_value *pVal);
void thr_result_peer(sqlite3_context *ctx, sqlite3_value *pVal);
void thr_result_cid(sqlite3_context *ctx, sqlite3_value *pVal);

/* Every virtual table of ours starts with this, so that the "threads"
** module (collections, and the eponymous listing) can tell them apart. */
#define THR_VTAB_LISTING 1
#define THR_VTAB_COLLECTION 2
typedef struct thr_vtab_head thr_vtab_head;
struct thr_vtab_head {
  sqlite3_vtab base;
  int eKind;
};

/**************************************************************************
** Interface to code in vt_threads.c, vt_records.c, vt_collection.c,
** vt_changes.c, vt_peers.c.
*/
extern const sqlite3_module thr_threads_module;    /* the listing's methods */
extern const sqlite3_module thr_records_module;    /* "threads_records" */
extern const sqlite3_module thr_collection_module; /* "threads" */
extern const sqlite3_module thr_changes_module;    /* "threads_changes" */
extern const sqlite3_module thr_peers_module;      /* "threads_peers" */
extern const sqlite3_module thr_rejects_module;    /* "threads_rejects" */
extern const sqlite3_module thr_conflicts_module;  /* "threads_conflicts" */

/**************************************************************************
** Interface to code in fn_schema.c and fn_collection.c.
*/
void thr_fn_schema_valid(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void thr_fn_rebuild(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void thr_fn_alter(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void thr_fn_index(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void thr_fn_subscribe(sqlite3_context *ctx, int argc, sqlite3_value **argv);

/* The pointer type threads_subscribe() hands to the SQL function of the
** same name (sqlite3_bind_pointer). */
#define THR_SUBSCRIPTION_TYPE "threads_subscription"
typedef struct thr_subscription thr_subscription;
struct thr_subscription {
  thr_change_fn xChange;
  void *pArg;
};

#endif /* THR_SQL_H */
