/*
** fn_net.c: the SQL face of the node: threads_listen, threads_invite,
** threads_join, threads_sync.
**
** The node belongs to the database file; a connection that starts or uses
** it keeps a reference until it closes (the store holds it).  Nothing here
** writes through the user's connection: the node writes on its own, so a
** user statement waiting in threads_join() or threads_sync() never holds
** the lock the node needs.
*/
#include "thr_net.h"
#include "thr_net_sql.h"

#include <sodium.h>
#include <string.h>

#include "../core/thr_invite.h"

#define JOIN_WAIT_MS 10000 /* threads_join waits this long for the pull */
#define NET_BUSY_MS 5000   /* busy timeout given to connections that had none */

static int (*gRegister)(sqlite3 *);

void thr_net_set_register(int (*xRegister)(sqlite3 *)) {
  gRegister = xRegister;
}

static void net_error(sqlite3_context *ctx, const char *zFunc, int rc,
                      char *zErr) {
  if (rc == SQLITE_NOMEM) {
    sqlite3_result_error_nomem(ctx);
  } else {
    char *zMsg =
        sqlite3_mprintf("%s: %s", zFunc, zErr ? zErr : sqlite3_errstr(rc));
    sqlite3_result_error(ctx, zMsg ? zMsg : "out of memory", -1);
    sqlite3_free(zMsg);
  }
  sqlite3_free(zErr);
}

static void net_release(void *p) {
  thr_node_release(p);
}

/* From now on the node writes to this file in the background: a connection
** that would fail at once on a locked database (busy timeout 0, SQLite's
** default) waits up to NET_BUSY_MS instead.  A timeout the user set stays. */
static void net_busy_wait(sqlite3 *db) {
  sqlite3_stmt *pStmt = NULL;
  if (sqlite3_prepare_v2(db, "PRAGMA busy_timeout", -1, &pStmt, NULL) ==
          SQLITE_OK &&
      sqlite3_step(pStmt) == SQLITE_ROW && sqlite3_column_int(pStmt, 0) == 0) {
    sqlite3_busy_timeout(db, NET_BUSY_MS);
  }
  sqlite3_finalize(pStmt);
}

/* The node of this connection's file, started if needed and held by the
** connection from now on. */
static int net_node(sqlite3_context *ctx, const char *zFunc,
                    thr_node **ppNode) {
  thr_store *pStore = sqlite3_user_data(ctx);
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *zFile = sqlite3_db_filename(db, "main");
  char *zErr = NULL;
  int rc;
  *ppNode = thr_store_held(pStore);
  if (*ppNode) {
    return SQLITE_OK;
  }
  if (zFile == NULL || zFile[0] == 0) {
    net_error(ctx, zFunc, SQLITE_ERROR,
              sqlite3_mprintf("sync needs a database file; this database is "
                              "in memory or temporary"));
    return SQLITE_ERROR;
  }
  if (sqlite3_db_readonly(db, "main")) {
    net_error(ctx, zFunc, SQLITE_ERROR,
              sqlite3_mprintf("sync needs a writable database file"));
    return SQLITE_ERROR;
  }
  rc = thr_store_setup(pStore, &zErr); /* tables exist before the node */
  if (rc == SQLITE_OK) {
    rc = thr_node_acquire(zFile, gRegister, ppNode, &zErr);
  }
  if (rc != SQLITE_OK) {
    net_error(ctx, zFunc, rc, zErr);
    return rc;
  }
  thr_store_hold(pStore, *ppNode, net_release);
  net_busy_wait(db);
  return SQLITE_OK;
}

void thr_net_committed(sqlite3 *db) {
  const char *zFile = sqlite3_db_filename(db, "main");
  if (zFile && zFile[0]) {
    thr_node_poke_file(zFile);
  }
}

/* threads_listen([url]): listen on url (and remember it), or on the
** address this file remembers.  Returns the address. */
void thr_fn_listen(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const char *zUrl = argc > 0 ? (const char *)sqlite3_value_text(argv[0]) : 0;
  thr_node *pNode;
  char *zErr = NULL, **azAddr = NULL;
  int rc, nAddr = 0;
  if (argc > 0 && (zUrl == NULL || (strncmp(zUrl, "tcp://", 6) != 0 &&
                                    strncmp(zUrl, "ipc://", 6) != 0))) {
    net_error(ctx, "threads_listen", SQLITE_ERROR,
              sqlite3_mprintf("the address must be an nng URL starting "
                              "tcp:// or ipc://"));
    return;
  }
  if (net_node(ctx, "threads_listen", &pNode) != SQLITE_OK) {
    return;
  }
  rc = thr_node_listen(pNode, zUrl, &zErr);
  if (rc != SQLITE_OK) {
    net_error(ctx, "threads_listen", rc, zErr);
    return;
  }
  if (zUrl) {
    sqlite3_result_text(ctx, zUrl, -1, SQLITE_TRANSIENT);
  } else if (thr_node_addrs(pNode, &azAddr, &nAddr) == SQLITE_OK && nAddr > 0) {
    sqlite3_result_text(ctx, azAddr[nAddr - 1], -1, SQLITE_TRANSIENT);
  }
  sqlite3_free(azAddr);
}

/* threads_invite(thread [, role]): the invite text with this node's
** addresses. */
void thr_fn_invite(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  thr_store *pStore = sqlite3_user_data(ctx);
  const char *zRole = argc > 1 ? (const char *)sqlite3_value_text(argv[1]) : 0;
  int eRole = zRole ? thr_role_parse(zRole) : THR_ROLE_WRITE;
  thr_node *pNode;
  thr_tid tid;
  thr_tkey key;
  sqlite3_int64 iThread;
  char *zErr = NULL, **azAddr = NULL, *zInvite;
  int rc, nAddr = 0;
  if (argc > 1 && eRole == 0) {
    net_error(ctx, "threads_invite", SQLITE_ERROR,
              sqlite3_mprintf("role must be 'write', 'read' or 'follow'"));
    return;
  }
  if (sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
    net_error(ctx, "threads_invite", SQLITE_ERROR,
              sqlite3_mprintf("thread must be a name or a thread ID (text)"));
    return;
  }
  rc = thr_store_resolve(pStore, (const char *)sqlite3_value_text(argv[0]),
                         &tid, &zErr);
  if (rc == SQLITE_OK) {
    rc = thr_store_thread_key(pStore, &tid, &iThread, &key, &zErr);
  }
  if (rc != SQLITE_OK) {
    net_error(ctx, "threads_invite", rc, zErr);
    return;
  }
  if (eRole != THR_ROLE_FOLLOW && !key.hasRead) {
    sodium_memzero(&key, sizeof(key));
    net_error(ctx, "threads_invite", SQLITE_ERROR,
              sqlite3_mprintf("this peer holds only the service key of the "
                              "thread: it can invite followers only"));
    return;
  }
  if (net_node(ctx, "threads_invite", &pNode) != SQLITE_OK) {
    sodium_memzero(&key, sizeof(key));
    return;
  }
  rc = thr_node_addrs(pNode, &azAddr, &nAddr);
  if (rc == SQLITE_OK && nAddr == 0) {
    sodium_memzero(&key, sizeof(key));
    net_error(ctx, "threads_invite", SQLITE_ERROR,
              sqlite3_mprintf("this peer does not listen yet: call "
                              "threads_listen('tcp://host:port') first"));
    return;
  }
  zInvite = rc == SQLITE_OK
                ? thr_invite_text(&tid, &key, eRole,
                                  (const char *const *)azAddr, nAddr)
                : NULL;
  sodium_memzero(&key, sizeof(key));
  sqlite3_free(azAddr);
  if (zInvite == NULL) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_text(ctx, zInvite, -1, SQLITE_TRANSIENT);
  sodium_memzero(zInvite, strlen(zInvite));
  sqlite3_free(zInvite);
}

/* threads_join(invite): store the keys, remember the inviter's addresses,
** pull the thread and mount its collections.  Returns the thread ID. */
void thr_fn_join(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const char *zInvite = (const char *)sqlite3_value_text(argv[0]);
  thr_invite inv;
  thr_node *pNode;
  char *zErr = NULL, *zId;
  sqlite3_int64 nRecv = 0;
  int rc, i;
  (void)argc;
  memset(&inv, 0, sizeof(inv));
  if (zInvite == NULL) {
    net_error(ctx, "threads_join", SQLITE_ERROR,
              sqlite3_mprintf("the invite must be text"));
    return;
  }
  rc = thr_invite_parse(zInvite, &inv, &zErr);
  if (rc != SQLITE_OK) {
    net_error(ctx, "threads_join", rc, zErr);
    return;
  }
  if (inv.nAddr == 0) {
    thr_invite_clear(&inv);
    net_error(ctx, "threads_join", SQLITE_ERROR,
              sqlite3_mprintf("the invite names no address to join"));
    return;
  }
  if (net_node(ctx, "threads_join", &pNode) != SQLITE_OK) {
    thr_invite_clear(&inv);
    return;
  }
  rc = thr_node_join(pNode, &inv.tid, &inv.key, inv.eRole == THR_ROLE_WRITE,
                     &zErr);
  for (i = 0; rc == SQLITE_OK && i < inv.nAddr; i++) {
    rc = thr_node_add_peer(pNode, &inv.tid, inv.azAddr[i], &zErr);
  }
  if (rc == SQLITE_OK) {
    rc = thr_node_sync(pNode, &inv.tid, JOIN_WAIT_MS, &nRecv, &zErr);
  }
  if (rc != SQLITE_OK) {
    thr_invite_clear(&inv);
    net_error(ctx, "threads_join", rc, zErr);
    return;
  }
  zId = thr_tid_text(&inv.tid);
  thr_invite_clear(&inv);
  if (zId == NULL) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_text(ctx, zId, -1, sqlite3_free);
}

/* threads_sync(thread, timeout_ms): pull from every known peer now; the
** number of records received. */
void thr_fn_sync(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  thr_store *pStore = sqlite3_user_data(ctx);
  thr_node *pNode;
  thr_tid tid;
  sqlite3_int64 nRecv = 0;
  char *zErr = NULL;
  int rc, ms = argc > 1 ? sqlite3_value_int(argv[1]) : 5000;
  if (sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
    net_error(ctx, "threads_sync", SQLITE_ERROR,
              sqlite3_mprintf("thread must be a name or a thread ID (text)"));
    return;
  }
  if (ms < 0 || ms > 3600000) {
    net_error(ctx, "threads_sync", SQLITE_ERROR,
              sqlite3_mprintf("timeout_ms must be between 0 and 3600000"));
    return;
  }
  rc = thr_store_resolve(pStore, (const char *)sqlite3_value_text(argv[0]),
                         &tid, &zErr);
  if (rc != SQLITE_OK) {
    net_error(ctx, "threads_sync", rc, zErr);
    return;
  }
  if (net_node(ctx, "threads_sync", &pNode) != SQLITE_OK) {
    return;
  }
  rc = thr_node_sync(pNode, &tid, ms, &nRecv, &zErr);
  if (rc != SQLITE_OK) {
    net_error(ctx, "threads_sync", rc, zErr);
    return;
  }
  sqlite3_result_int64(ctx, nRecv);
}
