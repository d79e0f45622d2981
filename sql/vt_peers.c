/*
** vt_peers.c: the sync node's bookkeeping as two listings.
**
** "threads_peers", one row per (thread, peer address) the node knows, from
** _threads_peer, ordered by thread then address:
**
**   id            TEXT     thread ID
**   peer          TEXT     the log ID the peer announced ("12D3KooW..."),
**                          NULL until it has announced one
**   address       TEXT     the peer's nng URL (tcp://... or ipc://...)
**   last_contact  INTEGER  last successful exchange (unix ms), or NULL
**   sent          INTEGER  records sent to it
**   received      INTEGER  records received from it
**   rejected      INTEGER  times this node refused what it sent (a
**                          record that failed a check, an unreadable reply)
**   last_error    TEXT     the last failed exchange's error, or NULL
**
** "threads_rejects", how many records from peers each thread refused, by
** reason, from _threads_reject, and how many actions the merge rule skips
** (reasons 'schema', 'unique', 'missing': threads_conflicts lists them),
** ordered by thread then reason:
**
**   id            TEXT     thread ID
**   reason        TEXT     why, e.g. "refused: <the check that failed>"
**   count         INTEGER  records refused for that reason
**
** In both, "thread" in the declaration is a hidden alias of id, so that
** WHERE thread = 'notes' works as in the other listings.  The rows are
** written by the node (net/node.c); these tables only read them, and a
** thread without a peer or a reject has no row.
*/
#include "thr_sql.h"

/* The internal queries select the listing's columns in order, without the
** hidden alias; column 0 of the query is the thread's ID bytes. */
#define PEERS_SELECT                                                           \
  "SELECT t.id, p.peer, p.addr, p.last_contact, p.sent, p.recv,"               \
  " p.rejected, p.last_error"                                                  \
  " FROM _threads_thread t JOIN _threads_peer p ON p.tid = t.tid"

#define REJECTS_SELECT                                                         \
  "SELECT id, reason, n FROM (SELECT t.tid AS tid, t.id AS id,"                \
  " r.reason AS reason, r.n AS n"                                              \
  " FROM _threads_thread t JOIN _threads_reject r ON r.tid = t.tid"            \
  " UNION ALL SELECT t.tid, t.id, c.reason, count(*)"                          \
  " FROM _threads_thread t JOIN _threads_conflict c ON c.tid = t.tid"          \
  " GROUP BY t.tid, c.reason) AS r"

static void peers_column(thr_store *pStore, sqlite3_stmt *pRow,
                         sqlite3_context *ctx, int iCol);
static void rejects_column(thr_store *pStore, sqlite3_stmt *pRow,
                           sqlite3_context *ctx, int iCol);

static const thr_listing peersListing = {
    .zDecl = "CREATE TABLE x(thread HIDDEN, id TEXT, peer TEXT, address TEXT,"
             " last_contact INTEGER, sent INTEGER, received INTEGER,"
             " rejected INTEGER, last_error TEXT)",
    .zAll = PEERS_SELECT " ORDER BY t.tid, p.addr",
    .zOne = PEERS_SELECT " WHERE t.id = ?1 ORDER BY p.addr",
    .xColumn = peers_column,
};

static const thr_listing rejectsListing = {
    .zDecl = "CREATE TABLE x(thread HIDDEN, id TEXT, reason TEXT,"
             " count INTEGER)",
    .zAll = REJECTS_SELECT " ORDER BY r.tid, r.reason",
    .zOne = REJECTS_SELECT " WHERE r.id = ?1 ORDER BY r.reason",
    .xColumn = rejects_column,
};

static void peers_column(thr_store *pStore, sqlite3_stmt *pRow,
                         sqlite3_context *ctx, int iCol) {
  (void)pStore;
  switch (iCol) {
  case 0: /* thread */
  case 1: /* id */
    thr_result_tid(ctx, sqlite3_column_value(pRow, 0));
    break;
  case 2: /* peer */
    thr_result_peer(ctx, sqlite3_column_value(pRow, 1));
    break;
  default: /* address .. last_error, stored as shown */
    sqlite3_result_value(ctx, sqlite3_column_value(pRow, iCol - 1));
  }
}

static void rejects_column(thr_store *pStore, sqlite3_stmt *pRow,
                           sqlite3_context *ctx, int iCol) {
  (void)pStore;
  switch (iCol) {
  case 0: /* thread */
  case 1: /* id */
    thr_result_tid(ctx, sqlite3_column_value(pRow, 0));
    break;
  default: /* reason, count */
    sqlite3_result_value(ctx, sqlite3_column_value(pRow, iCol - 1));
  }
}

static int peersConnect(sqlite3 *db, void *pAux, int argc,
                        const char *const *argv, sqlite3_vtab **ppVtab,
                        char **pzErr) {
  (void)argc;
  (void)argv;
  return thr_listing_connect(db, pAux, &peersListing, ppVtab, pzErr);
}

static int rejectsConnect(sqlite3 *db, void *pAux, int argc,
                          const char *const *argv, sqlite3_vtab **ppVtab,
                          char **pzErr) {
  (void)argc;
  (void)argv;
  return thr_listing_connect(db, pAux, &rejectsListing, ppVtab, pzErr);
}

const sqlite3_module thr_peers_module = THR_LISTING_MODULE(peersConnect);
const sqlite3_module thr_rejects_module = THR_LISTING_MODULE(rejectsConnect);
