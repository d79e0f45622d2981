/*
** vt_collection.c: collections as virtual tables.
**
**   CREATE VIRTUAL TABLE person USING threads(thread='notes',
**     schema='{"type":"object","properties":{...}}' [, collection='person'])
**
** Columns: _id TEXT PRIMARY KEY, one column per top-level schema property
** (SQL type from the JSON type), and hidden _doc (the whole document as
** JSON), _author (peer ID of the last writer) and _mod (unix ms of the last
** write).  The table is WITHOUT ROWID: _id is the key.
**
** Reads are pushed down as SQL over the shadow table "<name>_data" (see
** collection.c), so real SQLite indexes answer them.  Writes become
** actions: validated against the schema, applied to the view through the
** reducer, staged, and sealed into one record per thread at COMMIT
** (xSync).  ROLLBACK and ROLLBACK TO drop them with the shadow rows.
**
** Without arguments the module is the eponymous "threads" listing
** (vt_threads.c); every method below dispatches on that first.
*/
#include "thr_sql.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct coll_stmt coll_stmt;
struct coll_stmt {
  char *zSql;
  size_t nSql;
  sqlite3_stmt *pStmt;
  int bBusy;
  coll_stmt *pNext;
};

typedef struct coll_vtab coll_vtab;
typedef struct coll_cursor coll_cursor;
struct coll_vtab {
  sqlite3_vtab base; /* Base class - must be first */
  int eKind;         /* THR_VTAB_COLLECTION (see thr_sql.h) */
  sqlite3 *db;
  thr_store *pStore; /* Borrowed from the connection */
  char *zName;       /* this table's name (the view) */
  char *zColl;       /* the collection's name in the thread */
  thr_tid tid;
  thr_schema *pSchema;
  int nProp;
  char **azProp;
  int *aeType;
  unsigned char *aIndexed; /* per column: 0 no index, 1 index, 2 unique */
  sqlite3_int64 nRowEst;
  int iCookie;                /* schema cookie aIndexed was read under */
  thr_writer w;               /* the writer, looked up once per transaction */
  coll_stmt *pStmts;          /* read statements by SQL text */
  struct coll_cursor *pSpare; /* a closed cursor kept for the next open */
  json_t *pRowDoc;            /* INSERT's document, kept from row to row */
};

struct coll_cursor {
  sqlite3_vtab_cursor base; /* Base class - must be first */
  coll_stmt *pS;
  int bEof;
  int bOne;     /* a unique lookup: at most one row */
  int bStarted; /* the statement has been stepped since the filter */
};

/* The filter that hides tombstones; see collBestIndex and collFilter. */
#define LIVE_TERM "+d._live = 1"

#define COL_ID 0
#define COL_DOC(p) ((p)->nProp + 1)
#define COL_AUTHOR(p) ((p)->nProp + 2)
#define COL_MOD(p) ((p)->nProp + 3)

static void coll_error(coll_vtab *p, const char *zFmt, const char *zArg) {
  sqlite3_free(p->base.zErrMsg);
  p->base.zErrMsg = sqlite3_mprintf(zFmt, zArg);
}

/* Take ownership of message zErr as the table's error. */
static int coll_fail(coll_vtab *p, int rc, char *zErr) {
  sqlite3_free(p->base.zErrMsg);
  p->base.zErrMsg = zErr;
  return rc;
}

/**************************************************************************
** Arguments and schema.
*/

/* Parse "key=value" with value optionally quoted ('' or ""); returns the
** value unquoted (owned) if the key matches, else NULL. */
static char *coll_arg(const char *zArg, const char *zKey) {
  size_t nKey = strlen(zKey), n;
  const char *z = zArg;
  char *zOut, q;
  size_t i, j;
  while (*z == ' ') {
    z++;
  }
  if (strncmp(z, zKey, nKey) != 0) {
    return NULL;
  }
  z += nKey;
  while (*z == ' ') {
    z++;
  }
  if (*z != '=') {
    return NULL;
  }
  z++;
  while (*z == ' ') {
    z++;
  }
  n = strlen(z);
  while (n > 0 && z[n - 1] == ' ') {
    n--;
  }
  zOut = sqlite3_malloc64(n + 1);
  if (zOut == NULL) {
    return NULL;
  }
  q = z[0];
  if ((q == '\'' || q == '"') && n >= 2 && z[n - 1] == q) {
    for (i = 1, j = 0; i < n - 1; i++) {
      zOut[j++] = z[i];
      if (z[i] == q && i + 1 < n - 1 && z[i + 1] == q) {
        i++; /* a doubled quote stands for one */
      }
    }
    zOut[j] = 0;
  } else {
    memcpy(zOut, z, n);
    zOut[n] = 0;
  }
  return zOut;
}

/* Collection and property names: letters, digits and '_', not starting
** with a digit; at most 64. */
static int coll_name_ok(const char *z) {
  size_t i, n = strlen(z);
  if (n == 0 || n > 64 || (z[0] >= '0' && z[0] <= '9')) {
    return 0;
  }
  for (i = 0; i < n; i++) {
    char c = z[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_')) {
      return 0;
    }
  }
  return 1;
}

/* Read the properties of the schema into the table. */
static int coll_props(coll_vtab *p, char **pzErr) {
  const json_t *pSchema = thr_schema_json(p->pSchema);
  json_t *pProps = json_object_get(pSchema, "properties");
  const char *zKey;
  json_t *pVal;
  size_t n = json_object_size(pProps);
  if (pProps && !json_is_object(pProps)) {
    *pzErr = sqlite3_mprintf("invalid schema: properties must be an object");
    return SQLITE_ERROR;
  }
  p->azProp = sqlite3_malloc64(sizeof(char *) * (n + 1));
  p->aeType = sqlite3_malloc64(sizeof(int) * (n + 1));
  p->aIndexed = sqlite3_malloc64(n + 5);
  if (p->azProp == NULL || p->aeType == NULL || p->aIndexed == NULL) {
    return SQLITE_NOMEM;
  }
  memset(p->aIndexed, 0, n + 5);
  p->aIndexed[COL_ID] = 2;
  json_object_foreach(pProps, zKey, pVal) {
    if (strcmp(zKey, "_id") == 0) {
      continue;
    }
    if (zKey[0] == '_' || !coll_name_ok(zKey)) {
      *pzErr = sqlite3_mprintf(
          "property name %s is not allowed: use letters, digits and '_', "
          "not starting with '_' or a digit",
          zKey);
      return SQLITE_ERROR;
    }
    p->azProp[p->nProp] = sqlite3_mprintf("%s", zKey);
    p->aeType[p->nProp] = thr_doc_prop_kind(pVal);
    p->nProp++;
  }
  return SQLITE_OK;
}

/* Which columns have an index on the shadow table (1) or a unique one (2). */
static void coll_scan_indexes(coll_vtab *p) {
  sqlite3_stmt *pStmt = NULL;
  char *zTab = sqlite3_mprintf("%s_data", p->zName);
  char *zSql = zTab ? sqlite3_mprintf("SELECT il.\"unique\", ii.name FROM"
                                      " pragma_index_list(%Q) il,"
                                      " pragma_index_info(il.name) ii"
                                      " WHERE il.origin = 'c'"
                                      " AND ii.seqno = 0",
                                      zTab)
                    : NULL;
  int i;
  for (i = 1; i <= p->nProp; i++) {
    p->aIndexed[i] = 0;
  }
  if (zSql && sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, NULL) == SQLITE_OK) {
    while (sqlite3_step(pStmt) == SQLITE_ROW) {
      const char *zCol = (const char *)sqlite3_column_text(pStmt, 1);
      for (i = 0; zCol && i < p->nProp; i++) {
        if (strcmp(zCol, p->azProp[i]) == 0) {
          p->aIndexed[i + 1] = sqlite3_column_int(pStmt, 0) ? 2 : 1;
        }
      }
    }
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(zSql);
  sqlite3_free(zTab);
}

static void coll_free(coll_vtab *p) {
  int i;
  sqlite3_free(p->pSpare);
  json_decref(p->pRowDoc);
  while (p->pStmts) {
    coll_stmt *pS = p->pStmts;
    p->pStmts = pS->pNext;
    sqlite3_finalize(pS->pStmt);
    sqlite3_free(pS->zSql);
    sqlite3_free(pS);
  }
  for (i = 0; i < p->nProp; i++) {
    sqlite3_free(p->azProp[i]);
  }
  sqlite3_free(p->azProp);
  sqlite3_free(p->aeType);
  sqlite3_free(p->aIndexed);
  thr_schema_free(p->pSchema);
  sqlite3_free(p->zName);
  sqlite3_free(p->zColl);
  sqlite3_free(p);
}

/* Live rows, for the planner's estimates: counted once per connection,
** then kept up to date by this table's own writes. */
static sqlite3_int64 coll_count_rows(coll_vtab *p) {
  sqlite3_stmt *pStmt = NULL;
  sqlite3_int64 n = 1;
  char *zSql = sqlite3_mprintf(
      "SELECT count(*) FROM \"%w_data\" WHERE +_live = 1", p->zName);
  if (zSql && sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, NULL) == SQLITE_OK &&
      sqlite3_step(pStmt) == SQLITE_ROW) {
    n = sqlite3_column_int64(pStmt, 0);
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(zSql);
  return n > 0 ? n : 1;
}

/* The shadow table and the indexes the schema asks for ("index": true or
** "unique": true on a property). */
static int coll_create_shadow(coll_vtab *p, char **pzErr) {
  sqlite3_str *pSql = sqlite3_str_new(p->db);
  const json_t *pProps =
      json_object_get(thr_schema_json(p->pSchema), "properties");
  char *zSql;
  int i, rc;
  sqlite3_str_appendf(pSql, "CREATE TABLE \"%w_data\"(_id TEXT PRIMARY KEY",
                      p->zName);
  for (i = 0; i < p->nProp; i++) {
    sqlite3_str_appendf(pSql, ", \"%w\" %s", p->azProp[i],
                        thr_doc_sql_type(p->aeType[i]));
  }
  sqlite3_str_appendall(pSql, ", _rest TEXT, _log INTEGER, _hlc INTEGER,"
                              " _live INTEGER NOT NULL, _clock BLOB)"
                              " WITHOUT ROWID;");
  /* Tombstones, for scans to ask whether they must filter any out. */
  sqlite3_str_appendf(pSql,
                      "CREATE INDEX \"%w_dead\" ON \"%w_data\"(_id) WHERE "
                      "_live = 0;",
                      p->zName, p->zName);
  for (i = 0; i < p->nProp; i++) {
    json_t *pProp = json_object_get(pProps, p->azProp[i]);
    int bUnique = json_is_true(json_object_get(pProp, "unique"));
    /* A plain index for "unique" too: the merge rule (core/reduce.c)
    ** judges uniqueness by the schema in force at each action's point. */
    if (bUnique || json_is_true(json_object_get(pProp, "index"))) {
      sqlite3_str_appendf(
          pSql, "CREATE INDEX \"%w_idx_%w\" ON \"%w_data\"(\"%w\", _live);",
          p->zName, p->azProp[i], p->zName, p->azProp[i]);
    }
  }
  zSql = sqlite3_str_finish(pSql);
  if (zSql == NULL) {
    return SQLITE_NOMEM;
  }
  rc = sqlite3_exec(p->db, zSql, NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(p->db));
  }
  sqlite3_free(zSql);
  return rc;
}

/* The mirrored properties as a JSON array of [name, kind], for the view
** registry. */
static char *coll_props_json(coll_vtab *p) {
  json_t *pArr = json_array();
  char *z, *zOut;
  int i;
  for (i = 0; i < p->nProp; i++) {
    json_array_append_new(pArr, json_pack("[s,i]", p->azProp[i], p->aeType[i]));
  }
  z = json_dumps(pArr, JSON_COMPACT);
  json_decref(pArr);
  zOut = z ? sqlite3_mprintf("%s", z) : NULL;
  free(z);
  return zOut;
}

static int coll_declare(coll_vtab *p, char **pzErr) {
  sqlite3_str *pSql = sqlite3_str_new(p->db);
  char *zSql;
  int i, rc;
  sqlite3_str_appendall(pSql, "CREATE TABLE x(_id TEXT PRIMARY KEY");
  for (i = 0; i < p->nProp; i++) {
    /* A "number" column has no affinity: REAL's would turn an integer
    ** into a double (rounding it past 2^53) before xUpdate sees it. */
    sqlite3_str_appendf(pSql, ", \"%w\" %s", p->azProp[i],
                        p->aeType[i] == THR_PT_REAL
                            ? ""
                            : thr_doc_sql_type(p->aeType[i]));
  }
  sqlite3_str_appendall(pSql, ", _doc HIDDEN, _author HIDDEN, _mod HIDDEN)"
                              " WITHOUT ROWID");
  zSql = sqlite3_str_finish(pSql);
  if (zSql == NULL) {
    return SQLITE_NOMEM;
  }
  rc = sqlite3_declare_vtab(p->db, zSql);
  if (rc != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(p->db));
  }
  sqlite3_free(zSql);
  return rc;
}

static int coll_init(sqlite3 *db, void *pAux, int argc, const char *const *argv,
                     sqlite3_vtab **ppVtab, char **pzErr, int bCreate) {
  thr_store *pStore = pAux;
  coll_vtab *p;
  char *zThread = NULL, *zSchema = NULL, *zColl = NULL, *zStored = NULL;
  char *zProps = NULL;
  int i, rc = SQLITE_OK, bNewColl = 0;

  for (i = 3; i < argc; i++) {
    char *z;
    if ((z = coll_arg(argv[i], "thread")) != NULL) {
      sqlite3_free(zThread);
      zThread = z;
    } else if ((z = coll_arg(argv[i], "schema")) != NULL) {
      sqlite3_free(zSchema);
      zSchema = z;
    } else if ((z = coll_arg(argv[i], "collection")) != NULL) {
      sqlite3_free(zColl);
      zColl = z;
    } else {
      *pzErr = sqlite3_mprintf("unknown argument: %s (expected thread=, "
                               "schema= or collection=)",
                               argv[i]);
      rc = SQLITE_ERROR;
    }
  }
  p = sqlite3_malloc64(sizeof(*p));
  if (p == NULL) {
    rc = SQLITE_NOMEM;
    goto done;
  }
  memset(p, 0, sizeof(*p));
  p->eKind = THR_VTAB_COLLECTION;
  p->db = db;
  p->pStore = pStore;
  p->zName = sqlite3_mprintf("%s", argv[2]);
  p->zColl = sqlite3_mprintf("%s", zColl ? zColl : argv[2]);
  if (rc != SQLITE_OK) {
    goto done;
  }
  if (zThread == NULL) {
    *pzErr = sqlite3_mprintf("missing thread='<name or thread ID>'");
    rc = SQLITE_ERROR;
    goto done;
  }
  if (!coll_name_ok(p->zColl)) {
    *pzErr = sqlite3_mprintf("invalid collection name %s: use letters, digits "
                             "and '_', not starting with a digit (at most 64)",
                             p->zColl);
    rc = SQLITE_ERROR;
    goto done;
  }
  rc = thr_store_resolve(pStore, zThread, &p->tid, pzErr);
  if (rc != SQLITE_OK) {
    goto done;
  }

  /* The collection's schema: the registry's if it exists, else the one
  ** given, which then defines it. */
  rc = thr_coll_schema(pStore, &p->tid, p->zColl, &zStored, pzErr);
  if (rc == SQLITE_NOTFOUND) {
    if (zSchema == NULL || !bCreate) {
      *pzErr = sqlite3_mprintf("no collection %s in thread %s: give "
                               "schema='<JSON Schema>' to create it",
                               p->zColl, zThread);
      rc = SQLITE_ERROR;
      goto done;
    }
    bNewColl = 1;
    rc = SQLITE_OK;
  } else if (rc != SQLITE_OK) {
    goto done;
  }
  rc = thr_schema_compile(bNewColl ? zSchema : zStored, &p->pSchema, pzErr);
  if (rc == SQLITE_OK) {
    rc = coll_props(p, pzErr);
  }
  if (rc == SQLITE_OK && bCreate) {
    if (bNewColl) {
      rc = thr_coll_define(pStore, &p->tid, p->zColl, zSchema, pzErr);
    } else if (zSchema && strcmp(zSchema, zStored) != 0) {
      *pzErr = sqlite3_mprintf("collection %s already exists in this thread "
                               "with another schema; connect to it without "
                               "a schema",
                               p->zColl);
      rc = SQLITE_ERROR;
    }
    if (rc == SQLITE_OK) {
      rc = coll_create_shadow(p, pzErr);
    }
    if (rc == SQLITE_OK) {
      zProps = coll_props_json(p);
      rc = zProps ? thr_view_register(pStore, p->zName, &p->tid, p->zColl,
                                      zProps, pzErr)
                  : SQLITE_NOMEM;
    }
    /* A second table over an existing collection starts from the log. */
    if (rc == SQLITE_OK && !bNewColl) {
      rc = thr_view_rebuild(pStore, p->zName, pzErr);
    }
  }
  if (rc == SQLITE_OK) {
    rc = coll_declare(p, pzErr);
  }
  if (rc == SQLITE_OK) {
    sqlite3_vtab_config(db, SQLITE_VTAB_CONSTRAINT_SUPPORT, 1);
    sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
    coll_scan_indexes(p);
    p->iCookie = thr_store_cookie(pStore);
    p->nRowEst = coll_count_rows(p);
    thr_store_attach(pStore);
  }

done:
  if (rc != SQLITE_OK) {
    if (p) {
      coll_free(p);
    }
    p = NULL;
  }
  *ppVtab = p ? &p->base : NULL;
  sqlite3_free(zThread);
  sqlite3_free(zSchema);
  sqlite3_free(zColl);
  sqlite3_free(zStored);
  sqlite3_free(zProps);
  return rc;
}

/**************************************************************************
** Module methods.  argc == 3 means the eponymous "threads" listing.
*/
/* One function for xCreate and xConnect, as SQLite requires of a module
** that also has an eponymous table: no arguments means the "threads"
** listing; otherwise a missing shadow table means CREATE (a lost shadow
** table is thus rebuilt from the log on the next connect). */
static int collConnect(sqlite3 *db, void *pAux, int argc,
                       const char *const *argv, sqlite3_vtab **ppVtab,
                       char **pzErr) {
  sqlite3_stmt *pStmt = NULL;
  int bCreate = 1;
  if (argc <= 3) {
    return thr_threads_module.xConnect(db, pAux, argc, argv, ppVtab, pzErr);
  }
  if (sqlite3_prepare_v2(db,
                         "SELECT 1 FROM sqlite_schema WHERE type = 'table'"
                         " AND name = ?1 || '_data'",
                         -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, argv[2], -1, SQLITE_STATIC);
    bCreate = sqlite3_step(pStmt) != SQLITE_ROW;
  }
  sqlite3_finalize(pStmt);
  return coll_init(db, pAux, argc, argv, ppVtab, pzErr, bCreate);
}

/* Is this vtab the listing?  Listing vtabs are not coll_vtab. */
static int is_listing(sqlite3_vtab *pVtab);

static int collDisconnect(sqlite3_vtab *pVtab) {
  coll_vtab *p = (coll_vtab *)pVtab;
  if (is_listing(pVtab)) {
    return thr_listingDisconnect(pVtab);
  }
  thr_store_detach(p->pStore);
  coll_free(p);
  return SQLITE_OK;
}

static int collDestroy(sqlite3_vtab *pVtab) {
  coll_vtab *p = (coll_vtab *)pVtab;
  char *zErr = NULL, *zSql;
  int rc;
  if (is_listing(pVtab)) {
    return thr_listingDisconnect(pVtab);
  }
  /* The local table goes; the thread's history and the collection stay. */
  zSql = sqlite3_mprintf("DROP TABLE IF EXISTS \"%w_data\"", p->zName);
  rc = zSql ? sqlite3_exec(p->db, zSql, NULL, NULL, NULL) : SQLITE_NOMEM;
  sqlite3_free(zSql);
  if (rc == SQLITE_OK) {
    rc = thr_view_unregister(p->pStore, p->zName, &zErr);
    sqlite3_free(zErr);
  }
  if (rc != SQLITE_OK) {
    coll_error(p, "%s", sqlite3_errmsg(p->db));
    return rc;
  }
  return collDisconnect(pVtab);
}

/* SQL for one constraint operator, or NULL if we do not push it down. */
static const char *coll_op(unsigned char op) {
  switch (op) {
  case SQLITE_INDEX_CONSTRAINT_EQ:
    return "=";
  case SQLITE_INDEX_CONSTRAINT_GT:
    return ">";
  case SQLITE_INDEX_CONSTRAINT_GE:
    return ">=";
  case SQLITE_INDEX_CONSTRAINT_LT:
    return "<";
  case SQLITE_INDEX_CONSTRAINT_LE:
    return "<=";
  case SQLITE_INDEX_CONSTRAINT_NE:
    return "<>";
  case SQLITE_INDEX_CONSTRAINT_IS:
    return "IS";
  case SQLITE_INDEX_CONSTRAINT_ISNOT:
    return "IS NOT";
  case SQLITE_INDEX_CONSTRAINT_GLOB:
    return "GLOB";
  case SQLITE_INDEX_CONSTRAINT_LIKE:
    return "LIKE";
  default:
    return NULL;
  }
}

/* Append the SQL of vtab column iCol over shadow row "d".  _doc reads as
** _rest (xColumn rebuilds the document), _author as the writer's identity
** key (xColumn names the peer). */
static void coll_expr(coll_vtab *p, sqlite3_str *pSql, int iCol) {
  if (iCol == COL_ID) {
    sqlite3_str_appendall(pSql, "d._id");
  } else if (iCol == COL_DOC(p)) {
    sqlite3_str_appendall(pSql, "d._rest");
  } else if (iCol == COL_AUTHOR(p)) {
    sqlite3_str_appendall(
        pSql, "(SELECT author FROM _threads_log WHERE lid = d._log)");
  } else if (iCol == COL_MOD(p)) {
    sqlite3_str_appendall(pSql, "(d._hlc >> 16)");
  } else {
    sqlite3_str_appendf(pSql, "d.\"%w\"", p->azProp[iCol - 1]);
  }
}

/* Can SQL over the shadow table compare or order column iCol as the user
** sees it?  Not _doc or _author, which xColumn computes. */
static int coll_pushable(coll_vtab *p, int iCol) {
  return iCol >= 0 && iCol != COL_DOC(p) && iCol != COL_AUTHOR(p);
}

static int collBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo) {
  coll_vtab *p = (coll_vtab *)pVtab;
  sqlite3_str *pSql;
  int i, nArg = 0, bAll = 1, iLimit = -1, iOffset = -1;
  double rows, cost;
  int bIdEq = 0, bUniqueEq = 0, bIndexEq = 0, bRange = 0, bDoc, bRest;
  if (is_listing(pVtab)) {
    return thr_listingBestIndex(pVtab, pInfo); /* not a coll_vtab */
  }
  rows = (double)p->nRowEst;
  if (p->iCookie != thr_store_cookie(p->pStore)) {
    coll_scan_indexes(p); /* an index may have come or gone */
    p->iCookie = thr_store_cookie(p->pStore);
  }
  pSql = sqlite3_str_new(p->db);
  /* Only the columns the statement uses; NULL stands in for the others,
  ** so that e.g. count(*) over an indexed field never leaves the index. */
  /* _doc is rebuilt from _id, every property and _rest. */
  bDoc = (pInfo->colUsed &
          ((sqlite3_uint64)1 << (COL_DOC(p) < 63 ? COL_DOC(p) : 63))) != 0;
  /* A "number" field's exact value may be in _rest (-0.0, an integer past
  ** 2^53): xColumn looks there when a statement reads such a column. */
  bRest = 0;
  for (i = 1; i <= p->nProp; i++) {
    if (p->aeType[i - 1] == THR_PT_REAL &&
        (pInfo->colUsed & ((sqlite3_uint64)1 << (i < 63 ? i : 63)))) {
      bRest = 1;
    }
  }
  sqlite3_str_appendall(pSql, "SELECT ");
  for (i = 0; i < COL_MOD(p) + 1; i++) {
    sqlite3_uint64 bit = (sqlite3_uint64)1 << (i < 63 ? i : 63);
    sqlite3_str_appendf(pSql, i ? ", " : "");
    /* _id always: it is the key SQLite passes back to xUpdate, and DELETE
    ** and UPDATE plans do not always mark it in colUsed (a NULL key made
    ** "DELETE FROM c WHERE n < 10" fail).  Every index holds it. */
    if (i == COL_ID || (pInfo->colUsed & bit) || (bDoc && i < COL_DOC(p)) ||
        (bRest && i == COL_DOC(p))) {
      coll_expr(p, pSql, i);
    } else {
      sqlite3_str_appendall(pSql, "NULL");
    }
  }
  /* "+_live": the unary plus keeps this filter from choosing an index (the
  ** (field, _live) indexes would otherwise be scanned just to read _live),
  ** while an index chosen for another term still answers it.  It must stay
  ** the first term: collFilter drops it from scans when no row is dead. */
  sqlite3_str_appendf(pSql, " FROM \"%w_data\" AS d WHERE " LIVE_TERM,
                      p->zName);
  for (i = 0; i < pInfo->nConstraint; i++) {
    const struct sqlite3_index_constraint *pC = &pInfo->aConstraint[i];
    const char *zOp = coll_op(pC->op);
    if (!pC->usable) {
      continue;
    }
    if (pC->op == SQLITE_INDEX_CONSTRAINT_LIMIT) {
      iLimit = i;
      continue;
    }
    if (pC->op == SQLITE_INDEX_CONSTRAINT_OFFSET) {
      iOffset = i;
      continue;
    }
    if (zOp == NULL || !coll_pushable(p, pC->iColumn)) {
      bAll = 0;
      continue;
    }
    sqlite3_str_appendall(pSql, " AND ");
    coll_expr(p, pSql, pC->iColumn);
    sqlite3_str_appendf(pSql, " %s ?%d", zOp, nArg + 1);
    pInfo->aConstraintUsage[i].argvIndex = ++nArg;
    pInfo->aConstraintUsage[i].omit = 1;
    if (pC->op == SQLITE_INDEX_CONSTRAINT_EQ ||
        pC->op == SQLITE_INDEX_CONSTRAINT_IS) {
      if (pC->iColumn == COL_ID) {
        bIdEq = 1;
      } else if (pC->iColumn <= p->nProp && p->aIndexed[pC->iColumn] == 2) {
        bUniqueEq = 1;
      } else if (pC->iColumn <= p->nProp && p->aIndexed[pC->iColumn] == 1) {
        bIndexEq = 1;
      }
    } else if (zOp[0] == '<' || zOp[0] == '>') {
      if (pC->iColumn == COL_ID ||
          (pC->iColumn <= p->nProp && p->aIndexed[pC->iColumn])) {
        bRange = 1;
      }
    }
  }
  if (pInfo->nOrderBy > 0) {
    int bOk = 1;
    for (i = 0; i < pInfo->nOrderBy; i++) {
      if (!coll_pushable(p, pInfo->aOrderBy[i].iColumn)) {
        bOk = 0;
      }
    }
    if (bOk) {
      for (i = 0; i < pInfo->nOrderBy; i++) {
        sqlite3_str_appendall(pSql, i ? ", " : " ORDER BY ");
        coll_expr(p, pSql, pInfo->aOrderBy[i].iColumn);
        sqlite3_str_appendall(pSql, pInfo->aOrderBy[i].desc ? " DESC" : "");
      }
      pInfo->orderByConsumed = 1;
    }
  }
  /* LIMIT/OFFSET are offered only when every other term is ours. */
  if (bAll && iLimit >= 0) {
    sqlite3_str_appendf(pSql, " LIMIT ?%d", nArg + 1);
    pInfo->aConstraintUsage[iLimit].argvIndex = ++nArg;
    pInfo->aConstraintUsage[iLimit].omit = 1;
    if (iOffset >= 0) {
      sqlite3_str_appendf(pSql, " OFFSET ?%d", nArg + 1);
      pInfo->aConstraintUsage[iOffset].argvIndex = ++nArg;
      pInfo->aConstraintUsage[iOffset].omit = 1;
    }
  }
  /* Costs in "rows touched", as SQLite's own planner counts them. */
  if (bIdEq || bUniqueEq) {
    rows = 1;
    cost = 10;
    pInfo->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
  } else if (bIndexEq) {
    rows = rows / 10 + 1;
    cost = 20 + rows;
  } else if (bRange) {
    rows = rows / 4 + 1;
    cost = 20 + rows;
  } else {
    cost = rows * 2 + 10;
  }
  /* 1: at most one row; 2: a full scan (see collFilter); 0: other. */
  pInfo->idxNum = (bIdEq || bUniqueEq) ? 1 : (bIndexEq || bRange) ? 0 : 2;
  pInfo->estimatedRows = (sqlite3_int64)rows;
  pInfo->estimatedCost = cost;
  pInfo->idxStr = sqlite3_str_finish(pSql);
  pInfo->needToFreeIdxStr = 1;
  return pInfo->idxStr ? SQLITE_OK : SQLITE_NOMEM;
}

static int collOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCur) {
  coll_cursor *pCur;
  if (is_listing(pVtab)) {
    return thr_listingOpen(pVtab, ppCur);
  }
  /* Point lookups open and close a cursor each: reuse one. */
  pCur = ((coll_vtab *)pVtab)->pSpare;
  ((coll_vtab *)pVtab)->pSpare = NULL;
  if (pCur == NULL && (pCur = sqlite3_malloc64(sizeof(*pCur))) == NULL) {
    return SQLITE_NOMEM;
  }
  memset(pCur, 0, sizeof(*pCur));
  *ppCur = &pCur->base;
  return SQLITE_OK;
}

static void cursor_release(coll_cursor *pCur) {
  if (pCur->pS) {
    sqlite3_reset(pCur->pS->pStmt);
    if (pCur->bOne) {
      sqlite3_clear_bindings(pCur->pS->pStmt); /* they pointed into argv */
    }
    pCur->pS->bBusy = 0;
    pCur->pS = NULL;
  }
}

static int collClose(sqlite3_vtab_cursor *pCursor) {
  if (is_listing(pCursor->pVtab)) {
    return thr_listingClose(pCursor);
  }
  cursor_release((coll_cursor *)pCursor);
  if (((coll_vtab *)pCursor->pVtab)->pSpare == NULL) {
    ((coll_vtab *)pCursor->pVtab)->pSpare = (coll_cursor *)pCursor;
  } else {
    sqlite3_free(pCursor);
  }
  return SQLITE_OK;
}

static int collNext(sqlite3_vtab_cursor *pCursor) {
  coll_cursor *pCur = (coll_cursor *)pCursor;
  int rc;
  if (is_listing(pCursor->pVtab)) {
    return thr_listingNext(pCursor);
  }
  if (pCur->bOne && pCur->bEof == 0 && pCur->bStarted) {
    pCur->bEof = 1; /* no second row: no second step */
    return SQLITE_OK;
  }
  pCur->bStarted = 1;
  rc = sqlite3_step(pCur->pS->pStmt);
  if (rc == SQLITE_ROW) {
    return SQLITE_OK;
  }
  pCur->bEof = 1;
  if (rc != SQLITE_DONE) {
    coll_vtab *p = (coll_vtab *)pCursor->pVtab;
    coll_error(p, "%s", sqlite3_errmsg(p->db));
    return rc == SQLITE_ERROR ? SQLITE_CORRUPT_VTAB : rc;
  }
  return SQLITE_OK;
}

/* A read statement for zSql: a cached one not in use, or a new one. */
static coll_stmt *coll_stmt_get(coll_vtab *p, const char *zSql, int *pRc) {
  coll_stmt *pS;
  size_t nSql = strlen(zSql);
  for (pS = p->pStmts; pS; pS = pS->pNext) {
    if (!pS->bBusy && pS->nSql == nSql && memcmp(pS->zSql, zSql, nSql) == 0) {
      pS->bBusy = 1;
      return pS;
    }
  }
  pS = sqlite3_malloc64(sizeof(*pS));
  if (pS == NULL) {
    *pRc = SQLITE_NOMEM;
    return NULL;
  }
  memset(pS, 0, sizeof(*pS));
  pS->zSql = sqlite3_mprintf("%s", zSql);
  pS->nSql = nSql;
  *pRc = sqlite3_prepare_v3(p->db, zSql, -1, SQLITE_PREPARE_PERSISTENT,
                            &pS->pStmt, NULL);
  if (*pRc != SQLITE_OK || pS->zSql == NULL) {
    coll_error(p, "%s", sqlite3_errmsg(p->db));
    sqlite3_finalize(pS->pStmt);
    sqlite3_free(pS->zSql);
    sqlite3_free(pS);
    /* The shadow table is missing or damaged. */
    if (*pRc == SQLITE_ERROR) {
      *pRc = SQLITE_CORRUPT_VTAB;
    }
    return NULL;
  }
  pS->bBusy = 1;
  pS->pNext = p->pStmts;
  p->pStmts = pS;
  return pS;
}

/* Has the table any tombstone (a dead row)?  Asked of the partial index
** "<name>_dead" (named: without statistics the planner would rather scan
** a (field, _live) index), so the answer costs one lookup.  On error,
** yes. */
static int coll_has_dead(coll_vtab *p) {
  int rc = SQLITE_OK, bDead = 1;
  coll_stmt *pS;
  char *zSql =
      sqlite3_mprintf("SELECT 0 FROM \"%w_data\" INDEXED BY \"%w_dead\" "
                      "WHERE _live = 0 LIMIT 1",
                      p->zName, p->zName);
  if (zSql == NULL) {
    return 1;
  }
  pS = coll_stmt_get(p, zSql, &rc);
  sqlite3_free(zSql);
  if (pS) {
    rc = sqlite3_step(pS->pStmt);
    bDead = rc != SQLITE_DONE;
    sqlite3_reset(pS->pStmt);
    pS->bBusy = 0;
  } else {
    /* No such index (a table made by an older version): filter, and
    ** leave no message behind for a later error to carry. */
    sqlite3_free(p->base.zErrMsg);
    p->base.zErrMsg = NULL;
  }
  return bDead;
}

static int collFilter(sqlite3_vtab_cursor *pCursor, int idxNum,
                      const char *idxStr, int argc, sqlite3_value **argv) {
  coll_cursor *pCur = (coll_cursor *)pCursor;
  coll_vtab *p = (coll_vtab *)pCursor->pVtab;
  int i, rc = SQLITE_OK;
  if (is_listing(pCursor->pVtab)) {
    return thr_listingFilter(pCursor, idxNum, idxStr, argc, argv);
  }
  cursor_release(pCur);
  pCur->bEof = 0;
  pCur->bOne = idxNum == 1;
  pCur->bStarted = 0;
  if (idxNum == 2 && !coll_has_dead(p)) {
    /* A full scan of a table without tombstones: checking _live on every
    ** row would cost a third of the scan.  Same SQL, the term made "1". */
    char *zSql = sqlite3_mprintf("%s", idxStr);
    char *zTerm = zSql ? strstr(zSql, LIVE_TERM) : NULL;
    if (zTerm) {
      memset(zTerm, ' ', strlen(LIVE_TERM));
      zTerm[0] = '1';
      pCur->pS = coll_stmt_get(p, zSql, &rc);
    } else {
      rc = SQLITE_NOMEM;
    }
    sqlite3_free(zSql);
  } else {
    pCur->pS = coll_stmt_get(p, idxStr, &rc);
  }
  if (pCur->pS == NULL) {
    return rc;
  }
  for (i = 0; i < argc; i++) {
    sqlite3_value *v = argv[i];
    if (pCur->bOne && sqlite3_value_type(v) == SQLITE_TEXT) {
      /* A unique lookup steps only here, while argv is valid: no copy. */
      sqlite3_bind_text(pCur->pS->pStmt, i + 1,
                        (const char *)sqlite3_value_text(v),
                        sqlite3_value_bytes(v), SQLITE_STATIC);
    } else {
      sqlite3_bind_value(pCur->pS->pStmt, i + 1, v);
    }
  }
  return collNext(pCursor);
}

static int collEof(sqlite3_vtab_cursor *pCursor) {
  if (is_listing(pCursor->pVtab)) {
    return thr_listingEof(pCursor);
  }
  return ((coll_cursor *)pCursor)->bEof;
}

/* Property column iCol of a row whose _rest holds fields its columns
** cannot give back exactly (doc.c): the field's value from _rest when it
** is there (-0.0, an integer too large for a double in a "number"
** field, a value of another type than the column's), else the column. */
static int coll_result_rest(coll_vtab *p, sqlite3_context *ctx,
                            sqlite3_stmt *pStmt, int iCol) {
  json_t *pRest =
      json_loadb((const char *)sqlite3_column_text(pStmt, COL_DOC(p)),
                 (size_t)sqlite3_column_bytes(pStmt, COL_DOC(p)),
                 JSON_ALLOW_NUL, NULL);
  json_t *v = json_object_get(pRest, p->azProp[iCol - 1]);
  char *z;
  if (!json_is_object(pRest)) {
    json_decref(pRest);
    coll_error(p, "%s: a stored document is corrupt", p->zName);
    return SQLITE_CORRUPT_VTAB;
  }
  switch (v ? json_typeof(v) : JSON_NULL) {
  case JSON_STRING:
    sqlite3_result_text(ctx, json_string_value(v), (int)json_string_length(v),
                        SQLITE_TRANSIENT);
    break;
  case JSON_INTEGER:
    sqlite3_result_int64(ctx, json_integer_value(v));
    break;
  case JSON_REAL:
    sqlite3_result_double(ctx, json_real_value(v));
    break;
  case JSON_TRUE:
  case JSON_FALSE:
    sqlite3_result_int(ctx, json_is_true(v));
    break;
  case JSON_OBJECT:
  case JSON_ARRAY:
    z = thr_json_text(v, NULL);
    if (z == NULL) {
      json_decref(pRest);
      return SQLITE_NOMEM;
    }
    sqlite3_result_text(ctx, z, -1, free);
    break;
  default: /* not in _rest: the column has it */
    sqlite3_result_value(ctx, sqlite3_column_value(pStmt, iCol));
  }
  json_decref(pRest);
  return SQLITE_OK;
}

static int collColumn(sqlite3_vtab_cursor *pCursor, sqlite3_context *ctx,
                      int iCol) {
  coll_cursor *pCur = (coll_cursor *)pCursor;
  coll_vtab *p;
  sqlite3_stmt *pStmt;
  if (is_listing(pCursor->pVtab)) {
    return thr_listingColumn(pCursor, ctx, iCol);
  }
  /* For UPDATE, unchanged columns need no value: xUpdate sees "nochange"
  ** and leaves them alone. */
  if (sqlite3_vtab_nochange(ctx)) {
    return SQLITE_OK;
  }
  p = (coll_vtab *)pCursor->pVtab;
  pStmt = pCur->pS->pStmt;
  if (iCol == COL_DOC(p)) {
    int rc = SQLITE_OK;
    json_t *pDoc = thr_doc_rebuild(pStmt, 1, p->nProp, p->azProp, p->aeType,
                                   COL_DOC(p), &rc);
    char *z = pDoc ? thr_json_text(pDoc, NULL) : NULL;
    json_decref(pDoc);
    if (z == NULL) {
      if (rc == SQLITE_CORRUPT_VTAB) {
        coll_error(p, "%s: a stored document is corrupt", p->zName);
      }
      return rc != SQLITE_OK ? rc : SQLITE_NOMEM;
    }
    sqlite3_result_text(ctx, z, -1, free);
  } else if (iCol == COL_AUTHOR(p)) {
    char *z = NULL;
    if (sqlite3_column_bytes(pStmt, iCol) == 32) {
      z = thr_peer_text(sqlite3_column_blob(pStmt, iCol));
      if (z == NULL) {
        return SQLITE_NOMEM;
      }
    }
    sqlite3_result_text(ctx, z, -1, sqlite3_free);
  } else if (iCol >= 1 && iCol <= p->nProp &&
             sqlite3_column_type(pStmt, COL_DOC(p)) != SQLITE_NULL) {
    return coll_result_rest(p, ctx, pStmt, iCol);
  } else {
    sqlite3_result_value(ctx, sqlite3_column_value(pStmt, iCol));
  }
  return SQLITE_OK;
}

static int collRowid(sqlite3_vtab_cursor *pCursor, sqlite_int64 *pRowid) {
  if (is_listing(pCursor->pVtab)) {
    return thr_listingRowid(pCursor, pRowid);
  }
  return SQLITE_ERROR; /* WITHOUT ROWID */
}

/**************************************************************************
** Writes.
*/

/* Can pVal be the value of field zField (or of "_id")?  Text must be
** UTF-8 without NUL (json.c, thr_text_check), a number one JSON can hold
** (no infinity: SQLite itself turns a NaN into NULL).  Else the table's
** error, naming the field, and SQLITE_CONSTRAINT: nothing is written. */
static int coll_check_value(coll_vtab *p, const char *zField,
                            sqlite3_value *pVal) {
  const char *zWhy = NULL;
  switch (sqlite3_value_type(pVal)) {
  case SQLITE_FLOAT:
    if (!isfinite(sqlite3_value_double(pVal))) {
      zWhy = "infinity and NaN are not JSON numbers";
    }
    break;
  case SQLITE_TEXT:
  case SQLITE_BLOB: {
    /* A BLOB becomes text: its bytes are checked as they are. */
    const char *z = sqlite3_value_type(pVal) == SQLITE_TEXT
                        ? (const char *)sqlite3_value_text(pVal)
                        : (const char *)sqlite3_value_blob(pVal);
    int n = sqlite3_value_bytes(pVal);
    if (z == NULL && n > 0) {
      return SQLITE_NOMEM;
    }
    switch (thr_text_check(z, (size_t)n)) {
    case THR_TEXT_UTF8:
      zWhy = "text is not valid UTF-8";
      break;
    case THR_TEXT_NUL:
      zWhy = "text holds a NUL character";
      break;
    }
    break;
  }
  }
  if (zWhy == NULL) {
    return SQLITE_OK;
  }
  return coll_fail(
      p, SQLITE_CONSTRAINT,
      sqlite3_mprintf("%s: %s%s: %s", p->zName,
                      strcmp(zField, "_id") == 0 ? "" : "field ", zField, zWhy));
}

/* The document a value written to _doc gives (*ppDoc owned), or the
** table's error: it must be JSON text of an object (jansson refuses
** invalid UTF-8, "\u0000" and numbers past a double's range). */
static int coll_doc_arg(coll_vtab *p, sqlite3_value *pVal, json_t **ppDoc) {
  json_error_t err;
  const char *z = (const char *)sqlite3_value_text(pVal);
  json_t *pDoc =
      z ? json_loadb(z, (size_t)sqlite3_value_bytes(pVal), 0, &err) : NULL;
  *ppDoc = NULL;
  if (z == NULL) {
    return SQLITE_NOMEM;
  }
  if (pDoc == NULL) {
    return coll_fail(p, SQLITE_CONSTRAINT_CHECK,
                     sqlite3_mprintf("%s: _doc is not valid JSON: %s",
                                     p->zName, err.text));
  }
  if (!json_is_object(pDoc)) {
    json_decref(pDoc);
    return coll_fail(
        p, SQLITE_CONSTRAINT_CHECK,
        sqlite3_mprintf("%s: _doc must be a JSON object", p->zName));
  }
  *ppDoc = pDoc;
  return SQLITE_OK;
}

/* The JSON value of a column value for property type eType. */
static json_t *coll_json_of(sqlite3_value *pVal, int eType) {
  switch (sqlite3_value_type(pVal)) {
  case SQLITE_INTEGER:
    if (eType == THR_PT_BOOL) {
      return json_boolean(sqlite3_value_int64(pVal) != 0);
    }
    if (eType == THR_PT_REAL) {
      /* A "number" field holds a real, unless that would round it: then
      ** the integer itself (exact up to 2^63 - 1). */
      sqlite3_int64 i = sqlite3_value_int64(pVal);
      double r = (double)i;
      if (r >= -9223372036854775808.0 && r < 9223372036854775808.0 &&
          (sqlite3_int64)r == i) {
        return json_real(r);
      }
    }
    return json_integer(sqlite3_value_int64(pVal));
  case SQLITE_FLOAT: {
    double r = sqlite3_value_double(pVal);
    if (eType == THR_PT_INT && r == (double)(json_int_t)r) {
      return json_integer((json_int_t)r);
    }
    return json_real(r);
  }
  case SQLITE_TEXT: {
    const char *z = (const char *)sqlite3_value_text(pVal);
    if (eType == THR_PT_JSON) {
      json_t *pJ = json_loads(z, JSON_DECODE_ANY, NULL);
      if (pJ) {
        return pJ;
      }
    }
    return json_stringn(z, (size_t)sqlite3_value_bytes(pVal));
  }
  case SQLITE_BLOB:
    return json_stringn((const char *)sqlite3_value_blob(pVal),
                        (size_t)sqlite3_value_bytes(pVal));
  default:
    return NULL;
  }
}

/* Set field zKey of pDoc to the JSON value of pVal, changing the present
** value in place when nothing else holds it and the type stays: a bulk
** INSERT then allocates almost nothing per row.  NULL leaves the field
** alone, or with bNullRemoves removes it. */
static void coll_json_put(json_t *pDoc, const char *zKey, sqlite3_value *pVal,
                          int eType, int bNullRemoves) {
  json_t *pOld = json_object_get(pDoc, zKey), *pNew;
  int t = sqlite3_value_type(pVal);
  if (pOld && pOld->refcount == 1) {
    if (t == SQLITE_TEXT && eType != THR_PT_JSON && json_is_string(pOld) &&
        json_string_setn(pOld, (const char *)sqlite3_value_text(pVal),
                         (size_t)sqlite3_value_bytes(pVal)) == 0) {
      return;
    }
    if (t == SQLITE_INTEGER && eType != THR_PT_BOOL && eType != THR_PT_REAL &&
        json_is_integer(pOld)) {
      json_integer_set(pOld, sqlite3_value_int64(pVal));
      return;
    }
  }
  pNew = coll_json_of(pVal, eType);
  if (pNew) {
    json_object_set_new(pDoc, zKey, pNew);
  } else if (pOld && bNullRemoves) {
    json_object_del(pDoc, zKey);
  }
}

/* Load the live document with _id zId from the shadow table. */
static int coll_load_doc(coll_vtab *p, const char *zId, json_t **ppDoc) {
  sqlite3_str *pSql = sqlite3_str_new(p->db);
  coll_stmt *pS;
  char *zSql;
  int i, rc = SQLITE_OK;
  *ppDoc = NULL;
  sqlite3_str_appendall(pSql, "SELECT _id");
  for (i = 0; i < p->nProp; i++) {
    sqlite3_str_appendf(pSql, ", \"%w\"", p->azProp[i]);
  }
  sqlite3_str_appendf(pSql,
                      ", _rest FROM \"%w_data\" WHERE _id = ?1 AND "
                      "_live = 1",
                      p->zName);
  zSql = sqlite3_str_finish(pSql);
  /* From the table's statement cache: an UPDATE of many rows prepares
  ** this once. */
  pS = zSql ? coll_stmt_get(p, zSql, &rc) : NULL;
  sqlite3_free(zSql);
  if (pS == NULL) {
    return rc != SQLITE_OK ? rc : SQLITE_NOMEM;
  }
  sqlite3_bind_text(pS->pStmt, 1, zId, -1, SQLITE_STATIC);
  if (sqlite3_step(pS->pStmt) == SQLITE_ROW) {
    *ppDoc = thr_doc_rebuild(pS->pStmt, 1, p->nProp, p->azProp, p->aeType,
                             p->nProp + 1, &rc);
  }
  sqlite3_reset(pS->pStmt);
  sqlite3_clear_bindings(pS->pStmt);
  pS->bBusy = 0;
  return rc;
}

/* The writer context, cached for the transaction (reset in xBegin). */
static int coll_writer(coll_vtab *p) {
  char *zErr = NULL;
  int rc;
  if (p->w.bValid) {
    return SQLITE_OK;
  }
  rc = thr_coll_writer(p->pStore, &p->tid, &p->w, &zErr);
  p->w.pSchema = p->pSchema; /* what coll_validate checks writes against */
  return rc == SQLITE_OK ? SQLITE_OK : coll_fail(p, rc, zErr);
}

/* Validate pDoc; on failure set the table error naming the document. */
static int coll_validate(coll_vtab *p, const char *zId, json_t *pDoc) {
  char *zWhy = NULL;
  int rc = thr_schema_check(p->pSchema, pDoc, &zWhy);
  if (rc != SQLITE_OK) {
    char *zMsg = sqlite3_mprintf("%s: document %s violates the schema: %s",
                                 p->zName, zId, zWhy ? zWhy : "invalid");
    sqlite3_free(zWhy);
    return coll_fail(p, SQLITE_CONSTRAINT_CHECK, zMsg);
  }
  return SQLITE_OK;
}

static int collUpdate(sqlite3_vtab *pVtab, int argc, sqlite3_value **argv,
                      sqlite_int64 *pRowid) {
  coll_vtab *p = (coll_vtab *)pVtab;
  json_t *pDoc = NULL, *pOld = NULL, *pPatch = NULL;
  char zUlid[27];
  /* zId points into argv, pDoc or zUlid, or is zIdCopy: no copy per row. */
  const char *zId = NULL;
  char *zIdCopy = NULL, *zJson = NULL, *zErr = NULL;
  thr_action act;
  int i, rc = SQLITE_OK;
  (void)pRowid;

  if (is_listing(pVtab)) {
    coll_error(p, "%s", "table threads is read-only");
    return SQLITE_READONLY;
  }
  memset(&act, 0, sizeof(act));
  act.zColl = p->zColl;
  rc = coll_writer(p);
  if (rc != SQLITE_OK) {
    return rc;
  }

  if (argc == 1) {
    /* DELETE */
    zId = (const char *)sqlite3_value_text(argv[0]);
    if (zId == NULL) {
      rc = sqlite3_value_type(argv[0]) == SQLITE_NULL
               ? coll_fail(p, SQLITE_ERROR,
                           sqlite3_mprintf("%s: no key for the row to delete",
                                           p->zName))
               : SQLITE_NOMEM;
      goto done;
    }
    act.eType = THR_ACT_DELETE;
    act.zId = zId;
    rc = thr_coll_write(p->pStore, &p->tid, &p->w, &act, NULL, -1, &zErr);
    if (rc == SQLITE_OK && p->nRowEst > 1) {
      p->nRowEst--;
    }
    goto done;
  }

  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    /* INSERT: _doc (if any) is the base, columns override it. */
    sqlite3_value *pBase = argv[2 + COL_DOC(p)];
    if (sqlite3_value_type(pBase) != SQLITE_NULL) {
      rc = coll_doc_arg(p, pBase, &pDoc);
      if (rc != SQLITE_OK) {
        goto done;
      }
    } else {
      /* No base: the kept document, whose keys are _id and properties
      ** only, all of them set below. */
      if (p->pRowDoc == NULL && (p->pRowDoc = json_object()) == NULL) {
        rc = SQLITE_NOMEM;
        goto done;
      }
      pDoc = json_incref(p->pRowDoc);
    }
    rc = coll_check_value(p, "_id", argv[2]);
    for (i = 0; rc == SQLITE_OK && i < p->nProp; i++) {
      rc = coll_check_value(p, p->azProp[i], argv[3 + i]);
    }
    if (rc != SQLITE_OK) {
      goto done;
    }
    if (sqlite3_value_type(argv[2]) != SQLITE_NULL) {
      zId = (const char *)sqlite3_value_text(argv[2]);
    } else if (pDoc != p->pRowDoc &&
               json_is_string(json_object_get(pDoc, "_id"))) {
      /* Copied: the "_id" below replaces the string it points into. */
      zId = zIdCopy = sqlite3_mprintf(
          "%s", json_string_value(json_object_get(pDoc, "_id")));
      if (zId == NULL) {
        rc = SQLITE_NOMEM;
        goto done;
      }
    } else {
      thr_ulid_new(p->pStore, zUlid);
      zId = zUlid;
    }
    for (i = 0; i < p->nProp; i++) {
      coll_json_put(pDoc, p->azProp[i], argv[3 + i], p->aeType[i],
                    pDoc == p->pRowDoc);
    }
    {
      json_t *pOldId = json_object_get(pDoc, "_id");
      if (pOldId == NULL || pOldId->refcount != 1 ||
          json_string_set(pOldId, zId) != 0) {
        json_object_set_new(pDoc, "_id", json_string(zId));
      }
    }
    rc = coll_validate(p, zId, pDoc);
    if (rc != SQLITE_OK) {
      goto done;
    }
    zJson = thr_json_text(pDoc, NULL);
    if (zJson == NULL) {
      rc = SQLITE_NOMEM;
      goto done;
    }
    act.eType = THR_ACT_CREATE;
    act.zId = zId;
    act.zJson = zJson;
    rc = thr_coll_write(p->pStore, &p->tid, &p->w, &act, pDoc,
                        sqlite3_vtab_on_conflict(p->db), &zErr);
    if (rc == SQLITE_OK) {
      p->nRowEst++; /* an estimate: a replace or an ignore counts too */
    }
    goto done;
  }

  /* UPDATE: start from the stored document, apply changed columns. */
  zId = (const char *)sqlite3_value_text(argv[0]);
  if (zId == NULL) {
    rc = SQLITE_NOMEM;
    goto done;
  }
  if (!sqlite3_value_nochange(argv[2]) &&
      (sqlite3_value_type(argv[2]) == SQLITE_NULL ||
       strcmp((const char *)sqlite3_value_text(argv[2]), zId) != 0)) {
    rc = coll_fail(p, SQLITE_CONSTRAINT,
                   sqlite3_mprintf("%s: _id cannot be changed", p->zName));
    goto done;
  }
  rc = coll_load_doc(p, zId, &pOld);
  if (rc != SQLITE_OK || pOld == NULL) {
    rc = rc != SQLITE_OK ? rc : SQLITE_CORRUPT_VTAB;
    coll_error(p, "%s: stored document is missing or corrupt", p->zName);
    goto done;
  }
  if (!sqlite3_value_nochange(argv[2 + COL_DOC(p)]) &&
      sqlite3_value_type(argv[2 + COL_DOC(p)]) != SQLITE_NULL) {
    rc = coll_doc_arg(p, argv[2 + COL_DOC(p)], &pDoc);
    if (rc != SQLITE_OK) {
      goto done;
    }
  } else {
    pDoc = json_deep_copy(pOld);
  }
  for (i = 0; i < p->nProp; i++) {
    sqlite3_value *pV = argv[3 + i];
    if (sqlite3_value_nochange(pV)) {
      continue;
    }
    rc = coll_check_value(p, p->azProp[i], pV);
    if (rc != SQLITE_OK) {
      goto done;
    }
    if (sqlite3_value_type(pV) == SQLITE_NULL) {
      json_object_del(pDoc, p->azProp[i]);
    } else {
      json_object_set_new(pDoc, p->azProp[i], coll_json_of(pV, p->aeType[i]));
    }
  }
  json_object_set_new(pDoc, "_id", json_string(zId));
  rc = coll_validate(p, zId, pDoc);
  if (rc != SQLITE_OK) {
    goto done;
  }
  /* The patch: changed top-level fields with their whole new values. */
  {
    const char *zKey;
    json_t *pVal;
    pPatch = json_object();
    json_object_foreach(pDoc, zKey, pVal) {
      if (!json_equal(pVal, json_object_get(pOld, zKey))) {
        json_object_set(pPatch, zKey, pVal);
      }
    }
    json_object_foreach(pOld, zKey, pVal) {
      if (json_object_get(pDoc, zKey) == NULL) {
        json_object_set_new(pPatch, zKey, json_null());
      }
    }
  }
  if (json_object_size(pPatch) == 0) {
    goto done; /* nothing changed: no action, no record */
  }
  json_object_set_new(pPatch, "_id", json_string(zId));
  zJson = thr_json_text(pPatch, NULL);
  if (zJson == NULL) {
    rc = SQLITE_NOMEM;
    goto done;
  }
  act.eType = THR_ACT_SAVE;
  act.zId = zId;
  act.zJson = zJson;
  rc = thr_coll_write(p->pStore, &p->tid, &p->w, &act, pPatch, -1, &zErr);

done:
  if (zErr) {
    rc = coll_fail(p, rc, zErr);
  }
  json_decref(pDoc);
  json_decref(pOld);
  json_decref(pPatch);
  free(zJson);
  sqlite3_free(zIdCopy);
  return rc;
}

/**************************************************************************
** Transactions: one record per thread at commit.
*/
static int collBegin(sqlite3_vtab *pVtab) {
  if (!is_listing(pVtab)) {
    ((coll_vtab *)pVtab)->w.bValid = 0; /* look the writer up again */
  }
  return SQLITE_OK;
}

static int collSync(sqlite3_vtab *pVtab) {
  coll_vtab *p = (coll_vtab *)pVtab;
  char *zErr = NULL;
  int rc;
  if (is_listing(pVtab)) {
    return SQLITE_OK;
  }
  rc = thr_txn_seal(p->pStore, &zErr);
  if (rc != SQLITE_OK) {
    return coll_fail(p, rc, zErr);
  }
  return SQLITE_OK;
}

static int collCommit(sqlite3_vtab *pVtab) {
  if (!is_listing(pVtab)) {
    thr_txn_commit(((coll_vtab *)pVtab)->pStore);
  }
  return SQLITE_OK;
}

static int collRollback(sqlite3_vtab *pVtab) {
  if (!is_listing(pVtab)) {
    thr_txn_rollback(((coll_vtab *)pVtab)->pStore);
  }
  return SQLITE_OK;
}

static int collSavepoint(sqlite3_vtab *pVtab, int iSavepoint) {
  if (!is_listing(pVtab)) {
    thr_txn_savepoint(((coll_vtab *)pVtab)->pStore, iSavepoint);
  }
  return SQLITE_OK;
}

static int collRelease(sqlite3_vtab *pVtab, int iSavepoint) {
  if (!is_listing(pVtab)) {
    thr_txn_release(((coll_vtab *)pVtab)->pStore, iSavepoint);
  }
  return SQLITE_OK;
}

static int collRollbackTo(sqlite3_vtab *pVtab, int iSavepoint) {
  if (!is_listing(pVtab)) {
    thr_txn_rollback_to(((coll_vtab *)pVtab)->pStore, iSavepoint);
  }
  return SQLITE_OK;
}

static int collRename(sqlite3_vtab *pVtab, const char *zNew) {
  (void)zNew;
  if (!is_listing(pVtab)) {
    coll_error((coll_vtab *)pVtab, "%s",
               "collection tables cannot be renamed; create another table "
               "with collection='<name>'");
  }
  return SQLITE_ERROR;
}

static int collShadowName(const char *zSuffix) {
  return strcmp(zSuffix, "data") == 0;
}

const sqlite3_module thr_collection_module = {
    .iVersion = 3,
    .xCreate = collConnect,
    .xConnect = collConnect,
    .xBestIndex = collBestIndex,
    .xDisconnect = collDisconnect,
    .xDestroy = collDestroy,
    .xOpen = collOpen,
    .xClose = collClose,
    .xFilter = collFilter,
    .xNext = collNext,
    .xEof = collEof,
    .xColumn = collColumn,
    .xRowid = collRowid,
    .xUpdate = collUpdate,
    .xBegin = collBegin,
    .xSync = collSync,
    .xCommit = collCommit,
    .xRollback = collRollback,
    .xRename = collRename,
    .xSavepoint = collSavepoint,
    .xRelease = collRelease,
    .xRollbackTo = collRollbackTo,
    .xShadowName = collShadowName,
};

static int is_listing(sqlite3_vtab *pVtab) {
  return ((thr_vtab_head *)pVtab)->eKind == THR_VTAB_LISTING;
}
