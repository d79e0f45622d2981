/*
** vt_conflicts.c: "threads_conflicts", the actions the merge rule skipped
** (core/reduce.c), from _threads_conflict, in the thread's order:
**
**   thread      TEXT     thread ID (an equality filter also takes a name)
**   collection  TEXT     collection name
**   _id         TEXT     the document, NULL for a schema action
**   action      TEXT     'create', 'save', 'delete', 'collection', 'alter'
**   author      TEXT     peer ID of the writer's identity
**   time        INTEGER  the action's clock in unix ms (hlc >> 16)
**   reason      TEXT     'schema': the document it makes fails the schema
**                        in force at its point, or the collection is not
**                        defined there, or another definition came first;
**                        'unique': another live document holds its value
**                        of a "unique" property; 'missing': a save of a
**                        document that does not exist at its point
**   fields      TEXT     the action's JSON: the document, patch or schema
**   hlc, log, cid, idx   HIDDEN: the action's place in the order (its
**                        clock, log ID, record CID and index in the body;
**                        the same on every peer, reduce.c's ord_seal).
**
** A collection's conflicts are computed by its tables: a collection with
** no table on this peer lists none.  The list follows the records: an
** older action that arrives later can move an action in or out of it.
*/
#include "thr_sql.h"

#include <string.h>

#define CONFLICTS_SELECT                                                       \
  "SELECT t.id, c.coll, c.id, c.type, l.author, c.ord, c.reason, c.json,"      \
  " substr(c.ord, 9, 32),"                                                     \
  " nullif(substr(c.ord, 41, 36), x'" FF36 "')"                                \
  " FROM _threads_thread t JOIN _threads_conflict c ON c.tid = t.tid"          \
  " LEFT JOIN _threads_log l ON l.lid = c.lid"
#define FF36                                                                   \
  "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

static void conflicts_column(thr_store *pStore, sqlite3_stmt *pRow,
                             sqlite3_context *ctx, int iCol) {
  const unsigned char *ord = sqlite3_column_blob(pRow, 5);
  int bOrd = ord && sqlite3_column_bytes(pRow, 5) == THR_ORD_BYTES;
  (void)pStore;
  switch (iCol) {
  case 0: /* thread */
    thr_result_tid(ctx, sqlite3_column_value(pRow, 0));
    break;
  case 3: /* action */
    sqlite3_result_text(ctx, thr_action_type_name(sqlite3_column_int(pRow, 3)),
                        -1, SQLITE_STATIC);
    break;
  case 4: /* author */
    thr_result_peer(ctx, sqlite3_column_value(pRow, 4));
    break;
  case 5: /* time */
  case 8: /* hlc */
    if (bOrd) {
      uint64_t hlc = thr_ord_hlc(ord);
      sqlite3_result_int64(ctx, (sqlite3_int64)(iCol == 5 ? hlc >> 16 : hlc));
    }
    break;
  case 9: /* log */
    thr_result_peer(ctx, sqlite3_column_value(pRow, 8));
    break;
  case 10: /* cid */
    thr_result_cid(ctx, sqlite3_column_value(pRow, 9));
    break;
  case 11: /* idx */
    if (bOrd) {
      sqlite3_result_int64(ctx, ((sqlite3_int64)ord[76] << 24) |
                                    (ord[77] << 16) | (ord[78] << 8) | ord[79]);
    }
    break;
  default: /* collection, _id; reason, fields */
    sqlite3_result_value(ctx, sqlite3_column_value(pRow, iCol));
  }
}

static const thr_listing conflictsListing = {
    .zDecl = "CREATE TABLE x(thread TEXT, collection TEXT, _id TEXT,"
             " action TEXT, author TEXT, time INTEGER, reason TEXT,"
             " fields TEXT, hlc HIDDEN, log HIDDEN, cid HIDDEN, idx HIDDEN)",
    .zAll = CONFLICTS_SELECT " ORDER BY t.tid, c.coll, c.ord",
    .zOne = CONFLICTS_SELECT " WHERE t.id = ?1 ORDER BY c.coll, c.ord",
    .xColumn = conflicts_column,
};

static int conflictsConnect(sqlite3 *db, void *pAux, int argc,
                            const char *const *argv, sqlite3_vtab **ppVtab,
                            char **pzErr) {
  (void)argc;
  (void)argv;
  return thr_listing_connect(db, pAux, &conflictsListing, ppVtab, pzErr);
}

const sqlite3_module thr_conflicts_module =
    THR_LISTING_MODULE(conflictsConnect);
