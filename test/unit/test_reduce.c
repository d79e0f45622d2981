/*
** test_reduce.c: the reducer (core/collection.c) and the public C API.
**
** Convergence: the same set of actions, applied in different orders, must
** leave identical views: last writer wins per top-level field by (HLC, log
** ID), deletes are tombstones, a later save revives a document with only
** the fields written after the delete.
*/
#include "thr_core.h"
#include "threads.h"
#include "tt.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sqlite3 *gDb;
static thr_store *gStore;
static thr_tid gTid;
static sqlite3_int64 gThread;

static void exec(const char *zSql) {
  char *zErr = NULL;
  if (sqlite3_exec(gDb, zSql, NULL, NULL, &zErr) != SQLITE_OK) {
    printf("  sql error: %s\n  in: %s\n", zErr, zSql);
    TT_CHECK(0);
  }
  sqlite3_free(zErr);
}

/* A view "vN" over collection "c" with properties a and b. */
static void make_view(const char *zView) {
  char *zErr = NULL;
  char *zSql = sqlite3_mprintf(
      "CREATE TABLE \"%w_data\"(_id TEXT PRIMARY KEY, a, b, _rest TEXT, "
      "_log INTEGER, _hlc INTEGER, _live INTEGER NOT NULL, _clock BLOB) "
      "WITHOUT ROWID",
      zView);
  exec(zSql);
  sqlite3_free(zSql);
  TT_CHECK(thr_view_register(gStore, zView, &gTid, "c", "[[\"a\",0],[\"b\",0]]",
                             &zErr) == SQLITE_OK);
  sqlite3_free(zErr);
}

static void setup(void) {
  char *zErr = NULL;
  sqlite3_int64 n;
  int bWrite;
  unlink("reduce.db");
  TT_CHECK(sqlite3_open("reduce.db", &gDb) == SQLITE_OK);
  TT_CHECK(thr_store_open(gDb, &gStore, &zErr) == SQLITE_OK);
  TT_CHECK(thr_store_create_thread(gStore, "t", THR_VARIANT_RAW, &gTid,
                                   &zErr) == SQLITE_OK);
  TT_CHECK(thr_store_setup(gStore, &zErr) == SQLITE_OK);
  TT_CHECK(thr_store_thread_row(gStore, &gTid, &gThread, &bWrite, &zErr) ==
           SQLITE_OK);
  (void)n;
  sqlite3_free(zErr);
}

typedef struct act act;
struct act {
  thr_action a;
  unsigned char log[32];
  char zJson[128];
  char zId[8];
};

/* Random actions from three writers on three documents. */
static int make_actions(act *aAct, int nMax) {
  static const char *azVal[] = {"1", "2", "\"x\"", "null", "[1,2]"};
  int i;
  for (i = 0; i < nMax; i++) {
    act *p = &aAct[i];
    int k = (int)rng_below(10);
    memset(p, 0, sizeof(*p));
    memset(p->log, 'A' + (int)rng_below(3), 32);
    snprintf(p->zId, sizeof(p->zId), "d%u", rng_below(3));
    p->a.zColl = "c";
    p->a.zId = p->zId;
    /* Distinct clocks within one log; ties across logs are broken by the
    ** log ID, and are made likely here on purpose. */
    p->a.hlc = ((uint64_t)rng_below(20) << 16) | (uint64_t)i;
    if (k < 3) {
      p->a.eType = THR_ACT_CREATE;
      snprintf(p->zJson, sizeof(p->zJson), "{\"_id\":\"%s\",\"a\":%s}", p->zId,
               azVal[rng_below(3)]);
    } else if (k < 8) {
      p->a.eType = THR_ACT_SAVE;
      snprintf(p->zJson, sizeof(p->zJson), "{\"_id\":\"%s\",\"%s\":%s}", p->zId,
               rng_below(2) ? "a" : "b", azVal[rng_below(5)]);
    } else {
      p->a.eType = THR_ACT_DELETE;
    }
    p->a.zJson = p->a.eType == THR_ACT_DELETE ? NULL : p->zJson;
  }
  return nMax;
}

/* Apply one action as a peer's one-action record would arrive, to view
** zView only; the record's CID is a hash of its body and log, so an action
** delivered twice is the same record.  Then the end of its transaction. */
static int reduce(const thr_action *pAct, const unsigned char log[32],
                  const char *zView) {
  unsigned char aBody[512], cid[THR_CID_BYTES];
  thr_cw w = {aBody, 0, sizeof(aBody), SQLITE_OK, 0};
  crypto_generichash_state h;
  char *zErr = NULL;
  int nSkip = 0, rc;
  thr_cw_map(&w, 1);
  thr_cw_text(&w, "actions");
  thr_cw_array(&w, 1);
  thr_action_encode(&w, pAct);
  TT_CHECK(w.rc == SQLITE_OK);
  memcpy(cid, "\x01\x71\x12\x20", 4);
  crypto_generichash_init(&h, NULL, 0, 32);
  crypto_generichash_update(&h, aBody, w.n);
  crypto_generichash_update(&h, log, 32);
  crypto_generichash_final(&h, cid + 4, 32);
  rc = thr_apply_body(gStore, gThread, log, log, cid, aBody, w.n, NULL, zView,
                      &nSkip, &zErr);
  if (rc == SQLITE_OK) {
    rc = thr_reduce_flush(gStore, &zErr);
  }
  if (rc != SQLITE_OK) {
    printf("  reduce: %s\n", zErr);
  }
  sqlite3_free(zErr);
  return rc;
}

/* Define collection "c" (any object) before every other action. */
static void define_coll(const char *zColl) {
  static const unsigned char logZ[32] = {0};
  thr_action a;
  memset(&a, 0, sizeof(a));
  a.eType = THR_ACT_COLL;
  a.zColl = zColl;
  a.zJson = "{\"type\":\"object\"}";
  a.hlc = 0;
  TT_CHECK(reduce(&a, logZ, NULL) == SQLITE_OK);
}
static void define_c(void) {
  define_coll("c");
}

/* Forget everything views v1..v3 took. */
static void reset_views(void) {
  exec("DELETE FROM v1_data; DELETE FROM v2_data; DELETE FROM v1_hist;"
       " DELETE FROM v2_hist; DELETE FROM _threads_hwm;"
       " DELETE FROM _threads_conflict WHERE id IS NOT NULL");
  thr_reduce_forget(gStore);
}

static void apply_all(act *aAct, int *aOrder, int n, const char *zView) {
  int i;
  for (i = 0; i < n; i++) {
    act *p = &aAct[aOrder[i]];
    TT_CHECK(reduce(&p->a, p->log, zView) == SQLITE_OK);
  }
}

/* The visible state of a view: live rows, their documents (rebuilt from
** the row) and column values; with bClock, each row's newest clock too. */
static char *view_state(const char *zView, int bClock) {
  static char *const azProp[] = {"a", "b"};
  static const int aeKind[] = {THR_PT_ANY, THR_PT_ANY};
  sqlite3_stmt *pStmt = NULL;
  sqlite3_str *pOut = sqlite3_str_new(gDb);
  char *zSql = sqlite3_mprintf(
      "SELECT _id, a, b, _rest, quote(a), quote(b), _hlc, hex(l.pk) FROM "
      "\"%w_data\" d LEFT JOIN _threads_log l ON l.lid = d._log WHERE _live "
      "= 1 ORDER BY _id",
      zView);
  char *zOut;
  TT_CHECK(sqlite3_prepare_v2(gDb, zSql, -1, &pStmt, NULL) == SQLITE_OK);
  while (sqlite3_step(pStmt) == SQLITE_ROW) {
    int rc = SQLITE_OK;
    json_t *pDoc = thr_doc_rebuild(pStmt, 1, 2, azProp, aeKind, 3, &rc);
    char *zDoc = pDoc ? json_dumps(pDoc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    TT_CHECK(zDoc != NULL);
    sqlite3_str_appendf(
        pOut, "%s%s=%s/%s/%s", sqlite3_str_length(pOut) ? ";" : "",
        sqlite3_column_text(pStmt, 0), zDoc, sqlite3_column_text(pStmt, 4),
        sqlite3_column_text(pStmt, 5));
    if (bClock) {
      sqlite3_str_appendf(pOut, "@%lld/%.2s", sqlite3_column_int64(pStmt, 6),
                          sqlite3_column_text(pStmt, 7));
    }
    free(zDoc);
    json_decref(pDoc);
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(zSql);
  zOut = sqlite3_str_finish(pOut);
  return zOut;
}

static void test_convergence(void) {
  act aAct[24];
  int aOrder[24], i, r, nDiff = 0;
  make_view("v1");
  make_view("v2");
  define_c();
  for (r = 0; r < 200; r++) {
    int n = make_actions(aAct, 24);
    char *z1, *z2;
    reset_views();
    for (i = 0; i < n; i++) {
      aOrder[i] = i;
    }
    apply_all(aAct, aOrder, n, "v1");
    /* A shuffled order, and every action delivered twice. */
    for (i = n - 1; i > 0; i--) {
      int j = (int)rng_below((unsigned)i + 1), t = aOrder[i];
      aOrder[i] = aOrder[j];
      aOrder[j] = t;
    }
    apply_all(aAct, aOrder, n, "v2");
    apply_all(aAct, aOrder, n, "v2");
    z1 = view_state("v1", 1);
    z2 = view_state("v2", 1);
    if ((z1 == NULL) != (z2 == NULL) || (z1 && strcmp(z1, z2) != 0)) {
      if (nDiff++ == 0) {
        printf("  round %d differs:\n  %s\n  %s\n", r, z1 ? z1 : "(none)",
               z2 ? z2 : "(none)");
      }
    }
    sqlite3_free(z1);
    sqlite3_free(z2);
  }
  TT_CHECK(nDiff == 0);
}

/* The rule, modelled here without the extension: actions sorted by their
** clock (distinct per action here), applied to documents held as jansson
** objects, with the schema of test_model written out as code: "a" is a
** required integer, "b" an optional integer that no two live documents
** share.  Returns the number of actions skipped (listed). */
static int model_apply(act *aAct, int n, json_t *pDocs) {
  int *aIdx = malloc(sizeof(int) * (size_t)n), i, j, nSkip = 0;
  for (i = 0; i < n; i++) {
    aIdx[i] = i;
  }
  for (i = 1; i < n; i++) { /* insertion sort by (hlc, log) */
    for (j = i; j > 0; j--) {
      act *x = &aAct[aIdx[j - 1]], *y = &aAct[aIdx[j]];
      if (x->a.hlc < y->a.hlc ||
          (x->a.hlc == y->a.hlc && memcmp(x->log, y->log, 32) <= 0)) {
        break;
      }
      int t = aIdx[j];
      aIdx[j] = aIdx[j - 1];
      aIdx[j - 1] = t;
    }
  }
  for (i = 0; i < n; i++) {
    act *p = &aAct[aIdx[i]];
    json_t *pOld = json_object_get(pDocs, p->zId), *pNew, *pIn, *pA, *pB;
    const char *zKey;
    json_t *pVal;
    int bOk = 1;
    if (p->a.eType == THR_ACT_DELETE) {
      json_object_del(pDocs, p->zId); /* nothing if missing */
      continue;
    }
    if (p->a.eType == THR_ACT_SAVE && pOld == NULL) {
      nSkip++; /* missing */
      continue;
    }
    pIn = json_loads(p->zJson, 0, NULL);
    pNew = p->a.eType == THR_ACT_CREATE ? json_object() : json_copy(pOld);
    json_object_foreach(pIn, zKey, pVal) {
      if (json_is_null(pVal)) {
        json_object_del(pNew, zKey);
      } else {
        json_object_set(pNew, zKey, pVal);
      }
    }
    json_decref(pIn);
    pA = json_object_get(pNew, "a");
    pB = json_object_get(pNew, "b");
    if (!json_is_integer(pA) || (pB && !json_is_integer(pB))) {
      bOk = 0;
    }
    json_object_foreach(pDocs, zKey, pVal) {
      json_t *pOther = json_object_get(pVal, "b");
      if (bOk && pB && strcmp(zKey, p->zId) != 0 && pOther &&
          json_integer_value(pOther) == json_integer_value(pB)) {
        bOk = 0;
      }
    }
    if (bOk) {
      json_object_set_new(pDocs, p->zId, pNew);
    } else {
      json_decref(pNew);
      nSkip++;
    }
  }
  free(aIdx);
  return nSkip;
}

/* Random actions on collection "cu" for test_model: four writers, four
** documents, values that break the schema or the unique "b" often. */
static int make_model_actions(act *aAct, int nMax) {
  static const char *azA[] = {"1", "2", "\"x\"", "null"};
  static const char *azB[] = {"1", "2", "3", "null"};
  int i;
  for (i = 0; i < nMax; i++) {
    act *p = &aAct[i];
    int k = (int)rng_below(10);
    memset(p, 0, sizeof(*p));
    memset(p->log, 'A' + (int)rng_below(4), 32);
    snprintf(p->zId, sizeof(p->zId), "d%u", rng_below(4));
    p->a.zColl = "cu";
    p->a.zId = p->zId;
    p->a.hlc = ((uint64_t)(1 + rng_below(30)) << 16) | (uint64_t)i;
    if (k < 4) {
      p->a.eType = THR_ACT_CREATE;
      if (rng_below(2)) {
        snprintf(p->zJson, sizeof(p->zJson), "{\"_id\":\"%s\",\"a\":%s}",
                 p->zId, azA[rng_below(3)]);
      } else {
        snprintf(p->zJson, sizeof(p->zJson),
                 "{\"_id\":\"%s\",\"a\":%s,\"b\":%s}", p->zId,
                 azA[rng_below(3)], azB[rng_below(3)]);
      }
    } else if (k < 8) {
      p->a.eType = THR_ACT_SAVE;
      snprintf(p->zJson, sizeof(p->zJson), "{\"_id\":\"%s\",\"%s\":%s}",
               p->zId, rng_below(2) ? "a" : "b",
               rng_below(2) ? azA[rng_below(4)] : azB[rng_below(4)]);
    } else {
      p->a.eType = THR_ACT_DELETE;
    }
    p->a.zJson = p->a.eType == THR_ACT_DELETE ? NULL : p->zJson;
  }
  return nMax;
}

/* The view's rows as "id=doc;..." and the model's the same way. */
static char *rows_of(const char *zView) {
  static char *const azProp[] = {"a", "b"};
  static const int aeKind[] = {THR_PT_ANY, THR_PT_ANY};
  sqlite3_stmt *pStmt = NULL;
  sqlite3_str *pOut = sqlite3_str_new(gDb);
  char *zSql = sqlite3_mprintf(
      "SELECT _id, a, b, _rest FROM \"%w_data\" ORDER BY _id", zView);
  TT_CHECK(sqlite3_prepare_v2(gDb, zSql, -1, &pStmt, NULL) == SQLITE_OK);
  while (sqlite3_step(pStmt) == SQLITE_ROW) {
    int rc = SQLITE_OK;
    json_t *pDoc = thr_doc_rebuild(pStmt, 1, 2, azProp, aeKind, 3, &rc);
    char *z = pDoc ? json_dumps(pDoc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    sqlite3_str_appendf(pOut, "%s;", z ? z : "?");
    free(z);
    json_decref(pDoc);
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(zSql);
  return sqlite3_str_finish(pOut);
}

static char *model_rows(json_t *pDocs) {
  sqlite3_str *pOut = sqlite3_str_new(gDb);
  const char *azId[] = {"d0", "d1", "d2", "d3"};
  int i;
  for (i = 0; i < 4; i++) {
    json_t *pDoc = json_object_get(pDocs, azId[i]);
    if (pDoc) {
      json_t *pCopy = json_copy(pDoc);
      char *z;
      json_object_set_new(pCopy, "_id", json_string(azId[i]));
      z = json_dumps(pCopy, JSON_COMPACT | JSON_SORT_KEYS);
      sqlite3_str_appendf(pOut, "%s;", z);
      free(z);
      json_decref(pCopy);
    }
  }
  return sqlite3_str_finish(pOut);
}

/* Random actions in random orders, each delivered twice, against the
** model above: the rows and the number of listed actions must be the
** model's, whatever the order. */
static void test_model(void) {
  static const char *zSchema =
      "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},"
      "\"b\":{\"type\":\"integer\",\"unique\":true}},\"required\":[\"a\"]}";
  static const unsigned char logZ[32] = {0};
  act aAct[30];
  int aOrder[30], i, r, nDiff = 0;
  thr_action def;
  char *zErr = NULL;
  exec("CREATE TABLE m1_data(_id TEXT PRIMARY KEY, a, b, _rest TEXT, "
       "_log INTEGER, _hlc INTEGER, _live INTEGER NOT NULL, _clock BLOB) "
       "WITHOUT ROWID; CREATE UNIQUE INDEX m1_idx_b ON m1_data(b, _live)");
  TT_CHECK(thr_view_register(gStore, "m1", &gTid, "cu", "[[\"a\",0],[\"b\",0]]",
                             &zErr) == SQLITE_OK);
  sqlite3_free(zErr);
  memset(&def, 0, sizeof(def));
  def.eType = THR_ACT_COLL;
  def.zColl = "cu";
  def.zJson = zSchema;
  TT_CHECK(reduce(&def, logZ, NULL) == SQLITE_OK);
  for (r = 0; r < 300; r++) {
    int n = make_model_actions(aAct, 30), nModel, nView;
    json_t *pDocs = json_object();
    char *zModel, *zView;
    exec("DELETE FROM m1_data; DELETE FROM m1_hist; DELETE FROM _threads_hwm"
         " WHERE view = 'm1'; DELETE FROM _threads_conflict WHERE coll = 'cu'"
         " AND id IS NOT NULL");
    thr_reduce_forget(gStore);
    for (i = 0; i < n; i++) {
      aOrder[i] = i;
    }
    for (i = n - 1; i > 0; i--) {
      int j = (int)rng_below((unsigned)i + 1), t = aOrder[i];
      aOrder[i] = aOrder[j];
      aOrder[j] = t;
    }
    apply_all(aAct, aOrder, n, "m1");
    apply_all(aAct, aOrder, n / 2, "m1");
    nModel = model_apply(aAct, n, pDocs);
    zModel = model_rows(pDocs);
    zView = rows_of("m1");
    nView = 0;
    {
      sqlite3_stmt *pStmt = NULL;
      sqlite3_prepare_v2(gDb,
                         "SELECT count(*) FROM _threads_conflict WHERE coll ="
                         " 'cu' AND id IS NOT NULL",
                         -1, &pStmt, NULL);
      if (sqlite3_step(pStmt) == SQLITE_ROW) {
        nView = sqlite3_column_int(pStmt, 0);
      }
      sqlite3_finalize(pStmt);
    }
    if (strcmp(zModel ? zModel : "", zView ? zView : "") != 0 ||
        nModel != nView) {
      if (nDiff++ == 0) {
        printf("  round %d: model %s (%d listed)\n  view  %s (%d listed)\n", r,
               zModel ? zModel : "", nModel, zView ? zView : "", nView);
      }
    }
    sqlite3_free(zModel);
    sqlite3_free(zView);
    json_decref(pDocs);
  }
  printf("  300 rounds of 30 actions, random orders, half delivered twice\n");
  TT_CHECK(nDiff == 0);
}

/* The conflicts listed for document zId: "hlc:reason" each, in order. */
static char *conflicts_of(const char *zId) {
  char *zSql;
  sqlite3_stmt *pStmt = NULL;
  char *zOut = NULL;
  sqlite3_str *pOut = sqlite3_str_new(gDb);
  zSql = sqlite3_mprintf("SELECT ord, reason FROM _threads_conflict"
                         " WHERE id = %Q ORDER BY ord",
                         zId);
  TT_CHECK(sqlite3_prepare_v2(gDb, zSql, -1, &pStmt, NULL) == SQLITE_OK);
  while (sqlite3_step(pStmt) == SQLITE_ROW) {
    const unsigned char *o = sqlite3_column_blob(pStmt, 0);
    uint64_t hlc = 0;
    int k;
    for (k = 0; k < 8; k++) {
      hlc = (hlc << 8) | o[k];
    }
    sqlite3_str_appendf(pOut, "%s%llu:%s", sqlite3_str_length(pOut) ? ";" : "",
                        (unsigned long long)hlc, sqlite3_column_text(pStmt, 1));
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(zSql);
  zOut = sqlite3_str_finish(pOut);
  return zOut ? zOut : sqlite3_mprintf("");
}

/* The merge rule on a worked example, with clocks chosen by hand. */
static void test_merge_rule(void) {
  unsigned char logA[32], logB[32];
  char *zErr = NULL, *z;
  thr_action a;
  memset(logA, 'A', 32);
  memset(logB, 'B', 32);
  make_view("v3");
  memset(&a, 0, sizeof(a));
  a.zColl = "c";
  a.zId = "d";
  /* t=10 A creates {a:1, b:1}; t=20 B saves b:2; t=30 A deletes;
  ** t=40 B saves a:4, delivered first.  In the order: the save at 40 finds
  ** no document and changes nothing (it would revive it with a:4 only). */
  a.eType = THR_ACT_SAVE;
  a.hlc = 40;
  a.zJson = "{\"_id\":\"d\",\"a\":4}";
  TT_CHECK(reduce(&a, logB, "v3") == 0);
  a.eType = THR_ACT_DELETE;
  a.hlc = 30;
  a.zJson = NULL;
  TT_CHECK(reduce(&a, logA, "v3") == 0);
  a.eType = THR_ACT_CREATE;
  a.hlc = 10;
  a.zJson = "{\"_id\":\"d\",\"a\":1,\"b\":1}";
  TT_CHECK(reduce(&a, logA, "v3") == 0);
  a.eType = THR_ACT_SAVE;
  a.hlc = 20;
  a.zJson = "{\"_id\":\"d\",\"b\":2}";
  TT_CHECK(reduce(&a, logB, "v3") == 0);
  z = view_state("v3", 1);
  TT_CHECK(z == NULL || z[0] == 0);
  sqlite3_free(z);
  z = conflicts_of("d");
  TT_STREQ(z, "40:missing");
  sqlite3_free(z);
  /* Created again at 45; the same clock from two logs: both saves apply,
  ** A's first ('A' < 'B'), so B's value stays. */
  a.eType = THR_ACT_CREATE;
  a.hlc = 45;
  a.zJson = "{\"_id\":\"d\",\"a\":5}";
  TT_CHECK(reduce(&a, logA, "v3") == 0);
  a.eType = THR_ACT_SAVE;
  a.hlc = 50;
  a.zJson = "{\"_id\":\"d\",\"b\":\"fromB\"}";
  TT_CHECK(reduce(&a, logB, "v3") == 0);
  a.zJson = "{\"_id\":\"d\",\"b\":\"fromA\"}";
  TT_CHECK(reduce(&a, logA, "v3") == 0);
  z = view_state("v3", 1);
  TT_STREQ(z, "d={\"_id\":\"d\",\"a\":5,\"b\":\"fromB\"}/5/'fromB'@50/42");
  sqlite3_free(z);
  sqlite3_free(zErr);
}

/* The C API: subscribers hear committed changes only. */
typedef struct heard heard;
struct heard {
  int n;
  char zLog[512];
};

static void on_change(void *pArg, const char *zThread, const char *zColl,
                      const char *zId, const char *zAction,
                      const char *zAuthor) {
  heard *p = pArg;
  size_t n = strlen(p->zLog);
  (void)zThread;
  (void)zAuthor;
  p->n++;
  snprintf(p->zLog + n, sizeof(p->zLog) - n, "%s%s:%s:%s", n ? " " : "", zColl,
           zId, zAction);
}

static void test_subscribe(void) {
  sqlite3 *db = NULL;
  char *zErr = NULL;
  heard h;
  sqlite3_stmt *pStmt = NULL;
  memset(&h, 0, sizeof(h));
  unlink("api.db");
  TT_CHECK(sqlite3_open("api.db", &db) == SQLITE_OK);
  TT_CHECK(sqlite3_threads_init(db, &zErr, NULL) == SQLITE_OK);
  TT_CHECK(threads_subscribe(db, on_change, &h) == SQLITE_OK);
  TT_CHECK(
      sqlite3_exec(db,
                   "SELECT threads_create('t');"
                   "CREATE VIRTUAL TABLE p USING threads(thread='t', "
                   "schema='{\"type\":\"object\",\"properties\":{\"n\":"
                   "{\"type\":\"integer\"}}}');"
                   "BEGIN; INSERT INTO p(_id, n) VALUES ('a', 1);"
                   "INSERT INTO p(_id, n) VALUES ('b', 2); COMMIT;"
                   "BEGIN; INSERT INTO p(_id, n) VALUES ('gone', 3); ROLLBACK;"
                   "SAVEPOINT s; UPDATE p SET n = 5 WHERE _id = 'a';"
                   "SAVEPOINT t; DELETE FROM p WHERE _id = 'b'; ROLLBACK TO t;"
                   "RELEASE s;",
                   NULL, NULL, &zErr) == SQLITE_OK);
  if (zErr) {
    printf("  %s\n", zErr);
  }
  TT_CHECK(h.n == 3);
  TT_STREQ(h.zLog, "p:a:create p:b:create p:a:save");
  /* The feed in SQL lists the same changes, in order. */
  TT_CHECK(sqlite3_prepare_v2(
               db,
               "SELECT group_concat(collection || ':' || _id || ':' || action,"
               " ' '), count(DISTINCT author), min(time) > 1700000000000"
               " FROM threads_changes WHERE thread = 't'",
               -1, &pStmt, NULL) == SQLITE_OK);
  TT_CHECK(sqlite3_step(pStmt) == SQLITE_ROW);
  TT_STREQ((const char *)sqlite3_column_text(pStmt, 0),
           "p:a:create p:b:create p:a:save");
  TT_CHECK(sqlite3_column_int(pStmt, 1) == 1);
  TT_CHECK(sqlite3_column_int(pStmt, 2) == 1);
  sqlite3_finalize(pStmt);
  /* Incremental reads: everything after the first change. */
  TT_CHECK(
      sqlite3_prepare_v2(db,
                         "SELECT count(*) FROM threads_changes WHERE seq > "
                         "(SELECT min(seq) FROM threads_changes)",
                         -1, &pStmt, NULL) == SQLITE_OK);
  TT_CHECK(sqlite3_step(pStmt) == SQLITE_ROW);
  TT_CHECK(sqlite3_column_int(pStmt, 0) == 2);
  sqlite3_finalize(pStmt);
  sqlite3_free(zErr);
  TT_CHECK(sqlite3_close(db) == SQLITE_OK);
}

/* Apply a body as a peer's record would; returns how many actions were not
** applied. */
static int apply_raw(const unsigned char *a, size_t n) {
  static const unsigned char logR[32] = {'R'}, authorR[32] = {'r'};
  static unsigned char cid[THR_CID_BYTES];
  char *zErr = NULL;
  int nSkip = 0;
  cid[THR_CID_BYTES - 1]++; /* a new record each time */
  TT_CHECK(thr_apply_body(gStore, gThread, logR, authorR, cid, a, n, NULL, NULL,
                          &nSkip, &zErr) == SQLITE_OK);
  TT_CHECK(thr_reduce_flush(gStore, &zErr) == SQLITE_OK);
  sqlite3_free(zErr);
  return nSkip;
}

/* Apply a one-action body on collection zColl, as a peer's record would
** arrive; returns how many actions were not applied. */
static int apply_remote_to(const char *zColl, const char *zType,
                           const char *zId, uint64_t hlc, const char *zJson) {
  unsigned char aBody[512];
  thr_cw w = {aBody, 0, sizeof(aBody), SQLITE_OK, 0};
  thr_cw_map(&w, 1);
  thr_cw_text(&w, "actions");
  thr_cw_array(&w, 1);
  thr_cw_map(&w, zJson ? 5 : 4);
  thr_cw_text(&w, "id");
  thr_cw_text(&w, zId);
  thr_cw_text(&w, "hlc");
  thr_cw_uint(&w, hlc);
  thr_cw_text(&w, "coll");
  thr_cw_text(&w, zColl);
  if (zJson) {
    thr_cw_text(&w, "json");
    thr_cw_text(&w, zJson);
  }
  thr_cw_text(&w, "type");
  thr_cw_text(&w, zType);
  TT_CHECK(w.rc == SQLITE_OK);
  return apply_raw(aBody, w.n);
}
static int apply_remote(const char *zType, const char *zId, uint64_t hlc,
                        const char *zJson) {
  return apply_remote_to("c4", zType, zId, hlc, zJson);
}

/* Remote actions meet the collection's schema: a create's document must
** be valid; a save must keep _id and required fields and set each field
** to a valid value.  A refused action changes nothing and is counted. */
static void test_remote_validation(void) {
  char *zSql, *z;
  exec("CREATE TABLE v4_data(_id TEXT PRIMARY KEY, a, b, _rest TEXT, _log "
       "INTEGER, _hlc INTEGER, _live INTEGER NOT NULL, _clock BLOB) WITHOUT "
       "ROWID");
  zSql = sqlite3_mprintf(
      "INSERT INTO _threads_collection(tid, name, schema) VALUES (%lld, 'c4', "
      "'{\"type\":\"object\",\"properties\":{\"_id\":{\"type\":"
      "\"string\"},\"a\":{\"type\":\"integer\",\"minimum\":0},\"b\":"
      "{\"type\":\"string\"}},\"required\":[\"a\"],"
      "\"additionalProperties\":false}')",
      (long long)gThread);
  exec(zSql);
  sqlite3_free(zSql);
  {
    char *zErr = NULL;
    TT_CHECK(thr_view_register(gStore, "v4", &gTid, "c4",
                               "[[\"a\",0],[\"b\",0]]", &zErr) == SQLITE_OK);
    sqlite3_free(zErr);
  }
  /* Valid create: applied. */
  TT_CHECK(apply_remote("create", "x", 10, "{\"_id\":\"x\",\"a\":1}") == 0);
  /* Creates against the schema: wrong type, below minimum, missing a
  ** required field, a field the schema does not allow. */
  TT_CHECK(apply_remote("create", "y", 11, "{\"_id\":\"y\",\"a\":\"1\"}") == 1);
  TT_CHECK(apply_remote("create", "y", 12, "{\"_id\":\"y\",\"a\":-1}") == 1);
  TT_CHECK(apply_remote("create", "y", 13, "{\"_id\":\"y\",\"b\":\"s\"}") == 1);
  TT_CHECK(
      apply_remote("create", "y", 14, "{\"_id\":\"y\",\"a\":1,\"zz\":1}") == 1);
  /* Saves: removing a required field or _id, setting a bad value or an
  ** unknown field are refused; a good patch (even one without the
  ** required field) is applied. */
  TT_CHECK(apply_remote("save", "x", 20, "{\"_id\":\"x\",\"a\":null}") == 1);
  TT_CHECK(apply_remote("save", "x", 21, "{\"_id\":null,\"b\":\"s\"}") == 1);
  TT_CHECK(apply_remote("save", "x", 22, "{\"_id\":\"x\",\"b\":5}") == 1);
  TT_CHECK(apply_remote("save", "x", 23, "{\"_id\":\"x\",\"zz\":5}") == 1);
  TT_CHECK(apply_remote("save", "x", 24, "{\"_id\":\"x\",\"b\":\"ok\"}") == 0);
  /* Not a JSON object: counted too.  A delete needs no document. */
  TT_CHECK(apply_remote("create", "z", 25, "[1]") == 1);
  z = view_state("v4", 0);
  TT_STREQ(z, "x={\"_id\":\"x\",\"a\":1,\"b\":\"ok\"}/1/'ok'");
  sqlite3_free(z);
  TT_CHECK(apply_remote("delete", "x", 26, NULL) == 0);
  z = view_state("v4", 0);
  TT_CHECK(z == NULL || z[0] == 0); /* no live document */
  sqlite3_free(z);
}

/* One create action map of a body: five fields in dag-cbor key order, the
** "hlc" and "coll" values written raw (aHlc, aColl: whole CBOR items). */
static void body_action(thr_cw *w, const char *zId, const unsigned char *aHlc,
                        size_t nHlc, const unsigned char *aColl, size_t nColl,
                        const char *zJson) {
  thr_cw_map(w, 5);
  thr_cw_text(w, "id");
  thr_cw_text(w, zId);
  thr_cw_text(w, "hlc");
  thr_cw_raw(w, aHlc, nHlc);
  thr_cw_text(w, "coll");
  thr_cw_raw(w, aColl, nColl);
  thr_cw_text(w, "json");
  thr_cw_text(w, zJson);
  thr_cw_text(w, "type");
  thr_cw_text(w, "create");
}

/* Bodies of unusual shapes, read the same way by every peer: keys around
** "actions" are ignored; an action that is not a map, or whose hlc is not
** an unsigned integer, or whose collection name is not text, is skipped
** and counted; "actions" that is not a list holds no action; a body
** without "actions", or not canonical dag-cbor, is skipped whole (one
** count).  Runs after test_remote_validation (collection c4, view v4). */
static void test_body_shapes(void) {
  static const unsigned char hlc30[] = {0x18, 30}, hlcNeg[] = {0x20};
  static const unsigned char hlc31[] = {0x18, 31};
  static const unsigned char collText[] = {0x62, 'c', '4'};
  static const unsigned char collBytes[] = {0x42, 'c', '4'};
  static const unsigned char notCanonical[] = {0xa2, 0x62, 'z', 'z',
                                               0x01, 0x61, 'a', 0x02};
  unsigned char aBody[1024];
  thr_cw w = {aBody, 0, sizeof(aBody), SQLITE_OK, 0};
  sqlite3_stmt *pStmt = NULL;

  /* {"a": 1, "zz": "x", "actions": [5, s1 (good), s2 (hlc -1), s3 (coll
  ** as bytes)]}: keys by length, then bytes. */
  thr_cw_map(&w, 3);
  thr_cw_text(&w, "a");
  thr_cw_uint(&w, 1);
  thr_cw_text(&w, "zz");
  thr_cw_text(&w, "x");
  thr_cw_text(&w, "actions");
  thr_cw_array(&w, 4);
  thr_cw_uint(&w, 5);
  body_action(&w, "s1", hlc30, sizeof(hlc30), collText, sizeof(collText),
              "{\"_id\":\"s1\",\"a\":2}");
  body_action(&w, "s2", hlcNeg, sizeof(hlcNeg), collText, sizeof(collText),
              "{\"_id\":\"s2\",\"a\":2}");
  body_action(&w, "s3", hlc31, sizeof(hlc31), collBytes, sizeof(collBytes),
              "{\"_id\":\"s3\",\"a\":2}");
  TT_CHECK(w.rc == SQLITE_OK);
  TT_CHECK(apply_raw(aBody, w.n) == 3);
  TT_CHECK(sqlite3_prepare_v2(gDb,
                              "SELECT group_concat(_id || ':' || a, ' ') FROM"
                              " (SELECT _id, a FROM v4_data WHERE _id LIKE 's%'"
                              " ORDER BY _id)",
                              -1, &pStmt, NULL) == SQLITE_OK);
  TT_CHECK(sqlite3_step(pStmt) == SQLITE_ROW);
  TT_STREQ((const char *)sqlite3_column_text(pStmt, 0), "s1:2");
  sqlite3_finalize(pStmt);

  /* {"actions": 7}: read, nothing to apply. */
  w.n = 0;
  thr_cw_map(&w, 1);
  thr_cw_text(&w, "actions");
  thr_cw_uint(&w, 7);
  TT_CHECK(apply_raw(aBody, w.n) == 0);
  /* {"acts": []}: not a body this version reads. */
  w.n = 0;
  thr_cw_map(&w, 1);
  thr_cw_text(&w, "acts");
  thr_cw_array(&w, 0);
  TT_CHECK(apply_raw(aBody, w.n) == 1);
  /* {"zz": 1, "a": 2}: keys out of order, not dag-cbor. */
  TT_CHECK(apply_raw(notCanonical, sizeof(notCanonical)) == 1);
  TT_CHECK(apply_remote("delete", "s1", 40, NULL) == 0); /* for the next */
}

/* A peer whose clock runs an hour ahead wrote document "f"; a local save
** of "f" afterwards must take effect, with a clock past the remote one
** (otherwise last-writer-wins would drop it here and on every peer). */
static void test_local_after_fast_clock(void) {
  uint64_t hlcAhead = (uint64_t)(thr_now_ms() + 3600 * 1000) << 16;
  thr_writer wr;
  thr_action sv;
  json_t *pDoc;
  char *zErr = NULL, *z;
  memset(&wr, 0, sizeof(wr));
  TT_CHECK(apply_remote("create", "f", hlcAhead, "{\"_id\":\"f\",\"a\":1}") ==
           0);
  exec("BEGIN");
  TT_CHECK(thr_coll_writer(gStore, &gTid, &wr, &zErr) == SQLITE_OK);
  memset(&sv, 0, sizeof(sv));
  sv.eType = THR_ACT_SAVE;
  sv.zColl = "c4";
  sv.zId = "f";
  sv.zJson = "{\"_id\":\"f\",\"b\":\"local\"}";
  pDoc = json_loads(sv.zJson, 0, NULL);
  TT_CHECK(pDoc != NULL);
  if (thr_coll_write(gStore, &gTid, &wr, &sv, pDoc, 0, &zErr) != SQLITE_OK) {
    printf("  %s\n", zErr ? zErr : "?");
    TT_CHECK(0);
  }
  TT_CHECK(sv.hlc > hlcAhead);
  z = view_state("v4", 0);
  TT_STREQ(z, "f={\"_id\":\"f\",\"a\":1,\"b\":\"local\"}/1/'local'");
  sqlite3_free(z);
  json_decref(pDoc);
  exec("ROLLBACK");
  thr_txn_rollback(gStore);
  sqlite3_free(zErr);
}

/* Count the reducer's look-ups of a collection's views (view_load). */
static int trace_view_load(unsigned eType, void *pArg, void *pStmt, void *pX) {
  static const char zLoad[] = "SELECT view, props FROM _threads_view";
  const char *zSql = sqlite3_sql(pStmt);
  (void)eType;
  (void)pX;
  if (zSql && strncmp(zSql, zLoad, sizeof(zLoad) - 1) == 0) {
    (*(int *)pArg)++;
  }
  return 0;
}

/* The table of collection zColl, "<zColl>_v", made on connection db. */
static void make_table_on(sqlite3 *db, thr_store *pStore, const char *zColl) {
  char *zErr = NULL;
  char *zSql = sqlite3_mprintf(
      "CREATE TABLE \"%w_v_data\"(_id TEXT PRIMARY KEY, a, b, _rest TEXT, "
      "_log INTEGER, _hlc INTEGER, _live INTEGER NOT NULL, _clock BLOB) "
      "WITHOUT ROWID",
      zColl);
  char *zView = sqlite3_mprintf("%s_v", zColl);
  TT_CHECK(sqlite3_exec(db, zSql, NULL, NULL, &zErr) == SQLITE_OK);
  sqlite3_free(zErr);
  zErr = NULL;
  TT_CHECK(thr_view_register(pStore, zView, &gTid, zColl,
                             "[[\"a\",0],[\"b\",0]]", &zErr) == SQLITE_OK);
  sqlite3_free(zErr);
  sqlite3_free(zSql);
  sqlite3_free(zView);
}

/* Remote actions for a collection with no table here: the reducer looks
** for its views once and remembers there are none (a joining peer stores
** many records before its tables exist).  A table created later, on this
** connection or on another one, must be seen by the next action. */
static void test_view_appears(void) {
  sqlite3 *db2 = NULL;
  thr_store *pStore2 = NULL;
  char *zErr = NULL, *z;
  int nLoad = 0;
  define_coll("c5");
  define_coll("c6");
  thr_reduce_forget(gStore);
  sqlite3_trace_v2(gDb, SQLITE_TRACE_STMT, trace_view_load, &nLoad);

  /* No table yet: applied nowhere, looked up once. */
  TT_CHECK(
      apply_remote_to("c5", "create", "p", 10, "{\"_id\":\"p\",\"a\":1}") == 0);
  TT_CHECK(
      apply_remote_to("c5", "create", "q", 11, "{\"_id\":\"q\",\"a\":2}") == 0);
  TT_CHECK(apply_remote_to("c5", "delete", "q", 12, NULL) == 0);
  TT_CHECK(nLoad == 1);

  /* The table appears on this connection (thr_view_register): the next
  ** action lands in it.  The earlier ones stay out until a rebuild. */
  make_table_on(gDb, gStore, "c5");
  TT_CHECK(
      apply_remote_to("c5", "create", "r", 13, "{\"_id\":\"r\",\"a\":3}") == 0);
  z = view_state("c5_v", 0);
  TT_STREQ(z, "r={\"_id\":\"r\",\"a\":3}/3/NULL");
  sqlite3_free(z);

  /* The same when another connection creates the table: only the schema
  ** cookie tells this one. */
  nLoad = 0;
  TT_CHECK(
      apply_remote_to("c6", "create", "s", 14, "{\"_id\":\"s\",\"a\":4}") == 0);
  TT_CHECK(
      apply_remote_to("c6", "create", "t", 15, "{\"_id\":\"t\",\"a\":5}") == 0);
  TT_CHECK(nLoad == 1);
  TT_CHECK(sqlite3_open("reduce.db", &db2) == SQLITE_OK);
  TT_CHECK(thr_store_open(db2, &pStore2, &zErr) == SQLITE_OK);
  if (pStore2) {
    make_table_on(db2, pStore2, "c6");
    thr_store_close(pStore2);
  }
  sqlite3_close(db2);
  TT_CHECK(
      apply_remote_to("c6", "create", "u", 16, "{\"_id\":\"u\",\"a\":6}") == 0);
  z = view_state("c6_v", 0);
  TT_STREQ(z, "u={\"_id\":\"u\",\"a\":6}/6/NULL");
  sqlite3_free(z);
  sqlite3_trace_v2(gDb, 0, NULL, NULL);
  sqlite3_free(zErr);
}

int main(void) {
  if (sodium_init() < 0) {
    return 2;
  }
  setup();
  TT_RUN(test_convergence);
  TT_RUN(test_merge_rule);
  TT_RUN(test_model);
  TT_RUN(test_subscribe);
  TT_RUN(test_remote_validation);
  TT_RUN(test_body_shapes);
  TT_RUN(test_local_after_fast_clock);
  TT_RUN(test_view_appears);
  thr_store_close(gStore);
  sqlite3_close(gDb);
  return tt_done();
}
