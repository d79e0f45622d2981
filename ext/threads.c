/*
** threads.c: the extension's entry point.
**
** The only file with SQLITE_EXTENSION_INIT1 and the only exported symbol,
** sqlite3_threads_init.  It creates the connection's store and registers
** every function and module from the two tables below; the first module
** registered owns the store and frees it when the connection closes.
*/
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include "threads.h"

#include <sodium.h>

#include "../net/thr_net_sql.h"
#include "../sql/thr_sql.h"

/* Flags for functions that change things or touch secrets: they may not be
** called from triggers, views or schema expressions. */
#define FN_DIRECT (SQLITE_UTF8 | SQLITE_DIRECTONLY)
#define FN_PURE (SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS)

static const struct {
  const char *zName;
  int nArg;
  int eFlags;
  void (*xFunc)(sqlite3_context *, int, sqlite3_value **);
} aFunc[] = {
    {"threads_version", 0, FN_PURE, thr_fn_version},
    {"threads_schema_valid", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
     thr_fn_schema_valid},
    {"threads_identity", 0, FN_DIRECT, thr_fn_identity},
    {"threads_create", 0, FN_DIRECT, thr_fn_create},
    {"threads_create", 1, FN_DIRECT, thr_fn_create},
    {"threads_verify", 1, FN_DIRECT, thr_fn_verify},
    {"threads_export", 2, FN_DIRECT, thr_fn_export},
    {"threads_verify_car", 2, FN_DIRECT, thr_fn_verify_car},
    {"threads_rebuild", 1, FN_DIRECT, thr_fn_rebuild},
    {"threads_alter", 2, FN_DIRECT, thr_fn_alter},
    {"threads_index", 2, FN_DIRECT, thr_fn_index},
    {"threads_index", 3, FN_DIRECT, thr_fn_index},
    {"threads_subscribe", 1, FN_DIRECT, thr_fn_subscribe},
    {"threads_listen", 0, FN_DIRECT, thr_fn_listen},
    {"threads_listen", 1, FN_DIRECT, thr_fn_listen},
    {"threads_invite", 1, FN_DIRECT, thr_fn_invite},
    {"threads_invite", 2, FN_DIRECT, thr_fn_invite},
    {"threads_join", 1, FN_DIRECT, thr_fn_join},
    {"threads_sync", 1, FN_DIRECT, thr_fn_sync},
    {"threads_sync", 2, FN_DIRECT, thr_fn_sync},
};

static const struct {
  const char *zName;
  const sqlite3_module *pModule;
} aMod[] = {
    {"threads_records", &thr_records_module},
    {"threads", &thr_collection_module},
    {"threads_changes", &thr_changes_module},
    {"threads_peers", &thr_peers_module},
    {"threads_rejects", &thr_rejects_module},
    {"threads_conflicts", &thr_conflicts_module},
};

/* Connect an eponymous table of ours so that sqlite3_close() disconnects
** it, and with it releases the store's cached statements (see store.c). */
static int threads_pin(sqlite3 *db) {
  sqlite3_stmt *pStmt = NULL;
  int rc = sqlite3_prepare_v2(db, "SELECT 0 FROM main.threads_records WHERE 0",
                              -1, &pStmt, NULL);
  sqlite3_finalize(pStmt);
  return rc;
}

/* The node's own connection gets the extension too (it mounts tables). */
static int threads_register(sqlite3 *db) {
  char *zErr = NULL;
#ifdef SQLITE_CORE
  int rc = sqlite3_threads_init(db, &zErr, NULL);
#else
  int rc = sqlite3_threads_init(db, &zErr, sqlite3_api);
#endif
  sqlite3_free(zErr);
  return rc;
}

static void threads_store_free(void *p) {
  thr_store_close(p);
}

__attribute__((visibility("default"))) int
sqlite3_threads_init(sqlite3 *db, char **pzErrMsg,
                     const sqlite3_api_routines *pApi) {
  thr_store *pStore = NULL;
  const char *zFile;
  size_t i;
  int rc;
  SQLITE_EXTENSION_INIT2(pApi);

  if (sodium_init() < 0) {
    *pzErrMsg = sqlite3_mprintf("threads: libsodium failed to initialize");
    return SQLITE_ERROR;
  }
  rc = thr_store_open(db, &pStore, pzErrMsg);
  if (rc != SQLITE_OK) {
    return rc;
  }
  thr_store_set_pin(pStore, threads_pin);
  thr_store_set_committed(pStore, thr_net_committed);
  thr_net_set_register(threads_register);

  /* The first module owns the store: its destructor runs when the
  ** connection closes, or right away if registering it fails. */
  for (i = 0; rc == SQLITE_OK && i < sizeof(aMod) / sizeof(aMod[0]); i++) {
    rc = sqlite3_create_module_v2(db, aMod[i].zName, aMod[i].pModule, pStore,
                                  i == 0 ? threads_store_free : NULL);
  }
  for (i = 0; rc == SQLITE_OK && i < sizeof(aFunc) / sizeof(aFunc[0]); i++) {
    rc = sqlite3_create_function_v2(db, aFunc[i].zName, aFunc[i].nArg,
                                    aFunc[i].eFlags, pStore, aFunc[i].xFunc,
                                    NULL, NULL, NULL);
  }
  if (rc != SQLITE_OK) {
    *pzErrMsg =
        sqlite3_mprintf("threads: cannot register: %s", sqlite3_errmsg(db));
    return rc;
  }

  /* Peers share the file with the background node's own connection, so
  ** the file runs in WAL mode (persistent once set).  Not for in-memory or
  ** read-only databases, and harmless if it cannot be changed now. */
  zFile = sqlite3_db_filename(db, "main");
  if (zFile && zFile[0] && !sqlite3_db_readonly(db, "main")) {
    sqlite3_exec(db, "PRAGMA main.journal_mode=WAL", NULL, NULL, NULL);
  }
  return SQLITE_OK;
}

int threads_subscribe(sqlite3 *db, threads_change_fn xChange, void *pArg) {
  thr_subscription sub;
  sqlite3_stmt *pStmt = NULL;
  int rc;
  sub.xChange = xChange;
  sub.pArg = pArg;
  rc = sqlite3_prepare_v2(db, "SELECT threads_subscribe(?1)", -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_pointer(pStmt, 1, &sub, THR_SUBSCRIPTION_TYPE, NULL);
    rc = sqlite3_step(pStmt) == SQLITE_ROW ? SQLITE_OK : sqlite3_errcode(db);
  }
  sqlite3_finalize(pStmt);
  return rc;
}
