/*
** bench_merge.c: the merge rule's out-of-order path beside its in-order
** path, in the same run (issue 11's goal: >= 0.25).
**
** A collection of NDOC documents, created by one writer.  Then:
**   in order      another writer's NSAVE saves (NSAVE / NDOC per
**                 document), each newer than everything held: the fast
**                 path, one row write and one history row each;
**   out of order  a third writer's NSAVE saves to the same documents, all
**                 older by clock than the second writer's (it was offline)
**                 but arriving after them: each goes to the history and
**                 its document is recomputed at the end of its page.
** Records arrive one action each, PAGE per transaction, as the node stores
** pulled pages (core/reduce.c: thr_body_apply, then thr_reduce_flush
** before COMMIT).  What is measured is the reducer and the storage, not the
** signatures and decryption, which cost the same on both paths.
*/
#include "thr_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NDOC 1000
#define NSAVE 10000
#define PAGE 256

static sqlite3 *gDb;
static thr_store *gStore;
static sqlite3_int64 gThread;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *zWhat, const char *zErr) {
  fprintf(stderr, "bench_merge: %s: %s\n", zWhat, zErr ? zErr : "failed");
  exit(1);
}

static void exec(const char *zSql) {
  char *zErr = NULL;
  if (sqlite3_exec(gDb, zSql, NULL, NULL, &zErr) != SQLITE_OK) {
    die(zSql, zErr);
  }
}

/* One action as a one-action record of log `log`, with a CID unique to
** (log, n). */
static void apply(const thr_action *pAct, unsigned char log, uint32_t n) {
  unsigned char aBody[512], aLog[32], cid[THR_CID_BYTES];
  thr_cw w = {aBody, 0, sizeof(aBody), SQLITE_OK, 0};
  char *zErr = NULL;
  int nSkip = 0;
  thr_cw_map(&w, 1);
  thr_cw_text(&w, "actions");
  thr_cw_array(&w, 1);
  thr_action_encode(&w, pAct);
  memset(aLog, log, 32);
  memset(cid, 0, sizeof(cid));
  cid[0] = 1;
  cid[1] = 0x71;
  cid[4] = log;
  memcpy(cid + 5, &n, 4);
  if (w.rc != SQLITE_OK ||
      thr_apply_body(gStore, gThread, aLog, aLog, cid, aBody, w.n, NULL, NULL,
                     &nSkip, &zErr) != SQLITE_OK) {
    die("apply", zErr);
  }
}

static void flush_commit(void) {
  char *zErr = NULL;
  if (thr_reduce_flush(gStore, &zErr) != SQLITE_OK) {
    die("flush", zErr);
  }
  exec("COMMIT");
}

/* NSAVE saves by log `log`, field zField, clocks from hlc0 up; returns
** the seconds taken. */
static double saves(unsigned char log, const char *zField, uint64_t hlc0) {
  char zId[16], zJson[96];
  thr_action a;
  double t0 = now_s();
  int i;
  memset(&a, 0, sizeof(a));
  a.eType = THR_ACT_SAVE;
  a.zColl = "item";
  a.zId = zId;
  a.zJson = zJson;
  for (i = 0; i < NSAVE; i++) {
    if (i % PAGE == 0) {
      exec("BEGIN");
    }
    snprintf(zId, sizeof(zId), "d%04d", i % NDOC);
    snprintf(zJson, sizeof(zJson), "{\"_id\":\"%s\",\"%s\":%d}", zId, zField,
             i);
    a.hlc = hlc0 + (uint64_t)i;
    apply(&a, log, (uint32_t)i);
    if (i % PAGE == PAGE - 1 || i == NSAVE - 1) {
      flush_commit();
    }
  }
  return now_s() - t0;
}

int main(void) {
  char *zErr = NULL, zId[16], zJson[96];
  thr_tid tid;
  thr_action a;
  int i, bWrite;
  double tIn, tOut;
  unlink("bench_merge.db");
  unlink("bench_merge.db-wal");
  unlink("bench_merge.db-shm");
  if (sqlite3_open("bench_merge.db", &gDb) != SQLITE_OK ||
      thr_store_open(gDb, &gStore, &zErr) != SQLITE_OK ||
      thr_store_create_thread(gStore, "t", THR_VARIANT_RAW, &tid, &zErr) !=
          SQLITE_OK ||
      thr_store_setup(gStore, &zErr) != SQLITE_OK ||
      thr_store_thread_row(gStore, &tid, &gThread, &bWrite, &zErr) !=
          SQLITE_OK) {
    die("setup", zErr);
  }
  exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
       "CREATE TABLE item_data(_id TEXT PRIMARY KEY, n INTEGER, note INTEGER,"
       " _rest TEXT, _log INTEGER, _hlc INTEGER, _live INTEGER NOT NULL,"
       " _clock BLOB) WITHOUT ROWID");
  if (thr_view_register(gStore, "item", &tid, "item",
                        "[[\"n\",2],[\"note\",2]]", &zErr) != SQLITE_OK) {
    die("view", zErr);
  }
  memset(&a, 0, sizeof(a));
  a.eType = THR_ACT_COLL;
  a.zColl = "item";
  a.zJson = "{\"type\":\"object\",\"properties\":{\"_id\":{\"type\":"
            "\"string\"},\"n\":{\"type\":\"integer\"},\"note\":{\"type\":"
            "\"integer\"}}}";
  a.hlc = 1;
  exec("BEGIN");
  apply(&a, 'A', 0);
  a.eType = THR_ACT_CREATE;
  a.zId = zId;
  a.zJson = zJson;
  for (i = 0; i < NDOC; i++) {
    snprintf(zId, sizeof(zId), "d%04d", i);
    snprintf(zJson, sizeof(zJson), "{\"_id\":\"%s\",\"n\":0}", zId);
    a.hlc = 100 + (uint64_t)i;
    apply(&a, 'A', (uint32_t)i + 1);
  }
  flush_commit();

  tIn = saves('B', "n", (uint64_t)1 << 40);
  tOut = saves('C', "note", (uint64_t)1 << 30);
  printf("bench_merge: %d saves to %d documents, one action per record, "
         "%d records per transaction\n",
         NSAVE, NDOC, PAGE);
  printf("  in order      %8.0f actions/s\n", NSAVE / tIn);
  printf("  out of order  %8.0f actions/s  (all older than the in-order "
         "ones, arriving after them)\n",
         NSAVE / tOut);
  printf("  ratio out/in  %5.2f  goal >= 0.25  %s\n", tIn / tOut,
         tIn / tOut >= 0.25 ? "ok" : "MISSED");
  /* The result must be the rule's: every document has both fields. */
  {
    sqlite3_stmt *pStmt = NULL;
    sqlite3_prepare_v2(gDb,
                       "SELECT count(*) FROM item_data WHERE n IS NOT NULL"
                       " AND note IS NOT NULL",
                       -1, &pStmt, NULL);
    if (sqlite3_step(pStmt) != SQLITE_ROW ||
        sqlite3_column_int(pStmt, 0) != NDOC) {
      die("check", "documents are missing a field after the merge");
    }
    sqlite3_finalize(pStmt);
  }
  thr_store_close(gStore);
  sqlite3_close(gDb);
  unlink("bench_merge.db");
  unlink("bench_merge.db-wal");
  unlink("bench_merge.db-shm");
  return 0;
}
