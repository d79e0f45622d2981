/*
** test_fork.c: log generations and forks (core/identity.c, the file
** identity of core/store.c, core/fork.c) on real database files.
**
**   - generation 0 is the log key as it always was; later generations
**     mix in the generation and its salt (known answers, computed apart
**     with libsodium from Python);
**   - a copy of a file at another path writes a new log; the original
**     and a reopened copy go on with theirs; a file without generations
**     (an older version) keeps its log;
**   - two copies made to keep one log fork it; each side sees the other's
**     record as THR_PUT_FORK, and thr_fork_resolve() applies the rule:
**     exactly one side adopts the other's branch, re-issues its own lost
**     records in a new log, and both end with the same branch, verified.
**
** Tests run in the working directory test/run.sh gives them.
*/
#include "thr_sync.h"
#include "tt.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const unsigned char aBody[] = {0xa1, 0x61, 'n', 0x01}; /* {"n": 1} */

static void hex(const unsigned char *a, size_t n, char *z) {
  size_t i;
  for (i = 0; i < n; i++) {
    sprintf(z + 2 * i, "%02x", a[i]);
  }
}

static void test_generation_keys(void) {
  unsigned char seed[32], salt[THR_LOG_SALT], salt2[THR_LOG_SALT];
  thr_keypair *pId, *p0, *pOld, *p1, *p1b, *p1c, *p2;
  thr_tid tid;
  char z[65];
  memset(seed, 1, sizeof(seed));
  memset(salt, 2, sizeof(salt));
  memset(salt2, 3, sizeof(salt2));
  memset(&tid, 0, sizeof(tid));
  tid.a[0] = 0x01;
  tid.a[1] = 0x55;
  tid.n = 34;
  pId = thr_keypair_from_seed(seed);
  p0 = thr_logkey_derive_gen(pId, &tid, 0, salt);
  pOld = thr_logkey_derive(pId, &tid);
  p1 = thr_logkey_derive_gen(pId, &tid, 1, salt);
  p1b = thr_logkey_derive_gen(pId, &tid, 1, salt);
  p1c = thr_logkey_derive_gen(pId, &tid, 1, salt2);
  p2 = thr_logkey_derive_gen(pId, &tid, 2, salt);
  TT_CHECK(memcmp(p0->pk, pOld->pk, 32) == 0); /* files keep their log */
  hex(p0->pk, 32, z);
  TT_STREQ(z,
           "9c9a8f6b3a1cb6ee44e85fa5a014f034490c07f233add16babadb06faa23d80c");
  hex(p1->pk, 32, z);
  TT_STREQ(z,
           "8c7d51018ec4e0965b0c9583c571c5ac6be0956f75ff2d110f4d39cfa4d9dd49");
  TT_CHECK(memcmp(p1->pk, p1b->pk, 32) == 0);
  TT_CHECK(memcmp(p1->pk, p1c->pk, 32) != 0); /* two copies, two logs */
  TT_CHECK(memcmp(p1->pk, p2->pk, 32) != 0);
  TT_CHECK(memcmp(p1->pk, p0->pk, 32) != 0);
  thr_keypair_free(pId);
  thr_keypair_free(p0);
  thr_keypair_free(pOld);
  thr_keypair_free(p1);
  thr_keypair_free(p1b);
  thr_keypair_free(p1c);
  thr_keypair_free(p2);
}

typedef struct fixture fixture;
struct fixture {
  sqlite3 *db;
  thr_store *pStore;
};

static void fx_open(fixture *f, const char *zFile) {
  char *zErr = NULL;
  memset(f, 0, sizeof(*f));
  TT_CHECK(sqlite3_open(zFile, &f->db) == SQLITE_OK);
  TT_CHECK(thr_store_open(f->db, &f->pStore, &zErr) == SQLITE_OK);
}

static void fx_close(fixture *f) {
  thr_store_close(f->pStore);
  TT_CHECK(sqlite3_close(f->db) == SQLITE_OK);
}

static void append(fixture *f, const thr_tid *pTid) {
  char *zErr = NULL;
  int rc = thr_store_append(f->pStore, pTid, aBody, sizeof(aBody), NULL, &zErr);
  TT_CHECK(rc == SQLITE_OK);
  if (zErr) {
    printf("  append: %s\n", zErr);
  }
  sqlite3_free(zErr);
}

static sqlite3_int64 q_int(sqlite3 *db, const char *zSql) {
  sqlite3_stmt *pStmt = NULL;
  sqlite3_int64 v = -1;
  if (sqlite3_prepare_v2(db, zSql, -1, &pStmt, NULL) == SQLITE_OK &&
      sqlite3_step(pStmt) == SQLITE_ROW) {
    v = sqlite3_column_int64(pStmt, 0);
  }
  sqlite3_finalize(pStmt);
  return v;
}

static void exec(sqlite3 *db, const char *zSql) {
  TT_CHECK(sqlite3_exec(db, zSql, NULL, NULL, NULL) == SQLITE_OK);
}

/* sqlite3's .backup of zFrom into a new file zTo. */
static void copy_file(const char *zFrom, const char *zTo) {
  sqlite3 *pFrom = NULL, *pTo = NULL;
  sqlite3_backup *pB;
  unlink(zTo);
  TT_CHECK(sqlite3_open(zFrom, &pFrom) == SQLITE_OK);
  TT_CHECK(sqlite3_open(zTo, &pTo) == SQLITE_OK);
  pB = sqlite3_backup_init(pTo, "main", pFrom, "main");
  TT_CHECK(pB != NULL && sqlite3_backup_step(pB, -1) == SQLITE_DONE);
  sqlite3_backup_finish(pB);
  sqlite3_close(pFrom);
  sqlite3_close(pTo);
}

/* Make a copy believe it is the file that wrote its logs (as a copy at
** the same path and inode on another machine would). */
static void keep_log(fixture *f) {
  const char *zPath = sqlite3_db_filename(f->db, "main");
  struct stat st;
  char *zSql;
  TT_CHECK(stat(zPath, &st) == 0);
  zSql = sqlite3_mprintf("UPDATE _threads_own SET dev = %lld, ino = %lld,"
                         " path = %Q",
                         (long long)st.st_dev, (long long)st.st_ino, zPath);
  exec(f->db, zSql);
  sqlite3_free(zSql);
}

static sqlite3_int64 n_logs(fixture *f) {
  return q_int(f->db, "SELECT count(DISTINCT lid) FROM _threads_record");
}

/* A file with thread 'notes' (creation record + 2): 3 records. */
static void fx_thread(fixture *f, const char *zFile, thr_tid *pTid) {
  char *zErr = NULL;
  unlink(zFile);
  fx_open(f, zFile);
  TT_CHECK(thr_store_create_thread(f->pStore, "notes", THR_VARIANT_RAW, pTid,
                                   &zErr) == SQLITE_OK);
  append(f, pTid);
  append(f, pTid);
  sqlite3_free(zErr);
}

static void test_copy_starts_a_log(void) {
  fixture a, b;
  thr_tid tid;
  fx_thread(&a, "orig.db", &tid);
  TT_CHECK(q_int(a.db, "SELECT count(*) FROM _threads_own WHERE gen = 0"
                       " AND salt IS NULL") == 1);
  fx_close(&a);
  copy_file("orig.db", "copy.db");

  fx_open(&b, "copy.db");
  append(&b, &tid);
  TT_CHECK(n_logs(&b) == 2); /* the original's 3 records, and its own 1 */
  TT_CHECK(q_int(b.db, "SELECT max(gen) FROM _threads_own") == 1);
  TT_CHECK(q_int(b.db, "SELECT count(*) FROM _threads_log WHERE own") == 1);
  TT_CHECK(q_int(b.db, "SELECT counter FROM _threads_heads WHERE own") == 1);
  fx_close(&b);
  fx_open(&b, "copy.db"); /* reopened: the same file goes on with it */
  append(&b, &tid);
  TT_CHECK(q_int(b.db, "SELECT max(gen) FROM _threads_own") == 1);
  TT_CHECK(q_int(b.db, "SELECT counter FROM _threads_heads WHERE own") == 2);
  fx_close(&b);

  fx_open(&a, "orig.db"); /* the original keeps its log */
  append(&a, &tid);
  TT_CHECK(n_logs(&a) == 1);
  TT_CHECK(q_int(a.db, "SELECT max(gen) FROM _threads_own") == 0);
  TT_CHECK(q_int(a.db, "SELECT max(counter) FROM _threads_record") == 4);
  fx_close(&a);
}

/* A file from before generations: no _threads_own.  It keeps its log. */
static void test_old_file_keeps_its_log(void) {
  fixture a;
  thr_tid tid;
  fx_thread(&a, "old.db", &tid);
  exec(a.db, "DROP TABLE _threads_own");
  fx_close(&a);
  fx_open(&a, "old.db");
  append(&a, &tid);
  TT_CHECK(n_logs(&a) == 1);
  TT_CHECK(q_int(a.db, "SELECT max(counter) FROM _threads_record") == 4);
  TT_CHECK(q_int(a.db, "SELECT count(*) FROM _threads_own WHERE gen = 0") == 1);
  fx_close(&a);
}

/* Record iCounter of the log the file wrote first, as it travels. */
typedef struct wire wire;
struct wire {
  thr_wire_rec r;
  unsigned char *aBuf; /* Owned: the four blocks */
  thr_cid cid;
};

static void wire_read(fixture *f, const unsigned char logPk[32],
                      sqlite3_int64 iCounter, wire *w) {
  sqlite3_stmt *pStmt = NULL;
  size_t n = 0, off = 0;
  int i;
  memset(w, 0, sizeof(*w));
  TT_CHECK(sqlite3_prepare_v2(f->db,
                              "SELECT cid, record, event, header, body FROM"
                              " _threads_record r JOIN _threads_log l ON"
                              " l.lid = r.lid WHERE l.pk = ?1 AND"
                              " r.counter = ?2",
                              -1, &pStmt, NULL) == SQLITE_OK);
  sqlite3_bind_blob(pStmt, 1, logPk, 32, SQLITE_STATIC);
  sqlite3_bind_int64(pStmt, 2, iCounter);
  if (sqlite3_step(pStmt) != SQLITE_ROW) {
    TT_CHECK(!"no such record");
    sqlite3_finalize(pStmt);
    return;
  }
  memcpy(w->cid.a, sqlite3_column_blob(pStmt, 0), THR_CID_BYTES);
  for (i = 1; i <= 4; i++) {
    n += (size_t)sqlite3_column_bytes(pStmt, i);
  }
  w->aBuf = malloc(n);
  for (i = 1; i <= 4; i++) {
    size_t k = (size_t)sqlite3_column_bytes(pStmt, i);
    memcpy(w->aBuf + off, sqlite3_column_blob(pStmt, i), k);
    w->r.a[i - 1] = w->aBuf + off;
    w->r.n[i - 1] = k;
    off += k;
  }
  w->r.counter = iCounter;
  sqlite3_finalize(pStmt);
}

/* Put a record from the other copy; returns the THR_PUT_* outcome. */
static int put(thr_sync *pSync, sqlite3_int64 iThread, const thr_tkey *pKey,
               const unsigned char logPk[32], const thr_wire_rec *pRec) {
  int eOut = 0, nSkip = 0;
  char *zWhy = NULL;
  TT_CHECK(thr_sync_put(pSync, iThread, pKey, logPk, pRec, NULL, &eOut, &nSkip,
                        &zWhy) == SQLITE_OK);
  sqlite3_free(zWhy);
  return eOut;
}

/* A third peer (another identity) that holds the log up to iF - 1 from
** aF[0] and records iF, iF + 1 of branch aW[iLose], then meets branch
** aW[1 - iLose]: it takes it, re-issues nothing, and the winner's records
** get row ids above every row it had (the change feed reads by row id). */
static void fork_witness(fixture *pFrom, const thr_tid *pTid,
                         const thr_tkey *pKey, const unsigned char logPk[32],
                         sqlite3_int64 iF, wire aW[2][2], int iLose) {
  fixture z;
  thr_sync *pSync = NULL;
  thr_checked aChk[2];
  thr_wire_rec aRec[2];
  thr_fork_out out;
  sqlite3_int64 iThread = 0, iMaxRid, c;
  char *zErr = NULL;
  int k;
  unlink("witness.db");
  fx_open(&z, "witness.db");
  TT_CHECK(thr_sync_open(z.pStore, &pSync, &zErr) == SQLITE_OK);
  TT_CHECK(thr_sync_join(pSync, pTid, pKey, 0, &zErr) == SQLITE_OK);
  TT_CHECK(thr_sync_thread(pSync, pTid, &iThread, NULL, &zErr) == SQLITE_OK);
  for (c = 1; c < iF; c++) {
    wire w;
    wire_read(pFrom, logPk, c, &w);
    TT_CHECK(put(pSync, iThread, pKey, logPk, &w.r) == THR_PUT_ADDED);
    free(w.aBuf);
  }
  for (k = 0; k < 2; k++) {
    TT_CHECK(put(pSync, iThread, pKey, logPk, &aW[iLose][k].r) ==
             THR_PUT_ADDED);
  }
  iMaxRid = q_int(z.db, "SELECT max(rid) FROM _threads_record");
  for (k = 0; k < 2; k++) {
    thr_sync_check(pKey, logPk, &aW[1 - iLose][k].r, &aChk[k]);
    aRec[k] = aW[1 - iLose][k].r;
  }
  TT_CHECK(thr_fork_resolve(pSync, iThread, pTid, pKey, logPk, iF, aRec, aChk,
                            2, &out, &zErr) == SQLITE_OK);
  TT_CHECK(out.eOut == THR_FORK_ADOPTED && out.nReissued == 0 &&
           out.nDropped == 2 && out.nAdded == 2);
  TT_CHECK(q_int(z.db, "SELECT count(*) FROM _threads_record") == iF + 1);
  TT_CHECK(q_int(z.db, "SELECT min(rid) FROM _threads_record WHERE counter"
                       " >= (SELECT max(counter) - 1 FROM _threads_record)") >
           iMaxRid);
  for (k = 0; k < 2; k++) {
    thr_checked_clear(&aChk[k]);
  }
  thr_sync_close(pSync);
  fx_close(&z);
  sqlite3_free(zErr);
}

/* Two copies of one file that both write its log from counter iF on
** (records iF, iF + 1 each): the fork, as each side sees the other's
** records, and the rule applied on both sides, and on a third peer. */
static void fork_case(fixture *aF[2], const thr_tid *pTid,
                      const unsigned char logPk[32], sqlite3_int64 iF) {
  thr_sync *aSync[2] = {NULL, NULL};
  thr_tkey key;
  sqlite3_int64 iThread = 0;
  wire aW[2][2];
  thr_fork_out aOut[2];
  char *zErr = NULL;
  int i, k;

  for (i = 0; i < 2; i++) {
    append(aF[i], pTid);
    append(aF[i], pTid);
    TT_CHECK(thr_sync_open(aF[i]->pStore, &aSync[i], &zErr) == SQLITE_OK);
    for (k = 0; k < 2; k++) {
      wire_read(aF[i], logPk, iF + k, &aW[i][k]);
    }
  }
  TT_CHECK(thr_sync_thread(aSync[0], pTid, &iThread, &key, &zErr) == SQLITE_OK);
  TT_CHECK(memcmp(aW[0][0].cid.a, aW[1][0].cid.a, THR_CID_BYTES) != 0);
  fork_witness(aF[0], pTid, &key, logPk, iF, aW,
               thr_fork_wins(&aW[0][0].cid, &aW[1][0].cid) ? 1 : 0);

  for (i = 0; i < 2; i++) {
    fixture *f = aF[i];
    wire *pTheirs = aW[1 - i];
    thr_checked aChk[2];
    thr_wire_rec aRec[2];
    wire mine;
    /* Either of the other's records shows the fork, the second also as the
    ** one after our head; our own record offered further on is a replay,
    ** refused. */
    TT_CHECK(put(aSync[i], iThread, &key, logPk, &pTheirs[0].r) ==
             THR_PUT_FORK);
    pTheirs[1].r.counter = iF + 2;
    TT_CHECK(put(aSync[i], iThread, &key, logPk, &pTheirs[1].r) ==
             THR_PUT_FORK);
    pTheirs[1].r.counter = iF + 1;
    wire_read(f, logPk, iF, &mine);
    mine.r.counter = iF + 2;
    TT_CHECK(put(aSync[i], iThread, &key, logPk, &mine.r) == THR_PUT_BAD);
    free(mine.aBuf);
    for (k = 0; k < 2; k++) {
      thr_sync_check(&key, logPk, &pTheirs[k].r, &aChk[k]);
      TT_CHECK(!aChk[k].bBad);
      aRec[k] = pTheirs[k].r;
    }
    /* Not the fork's counter: nothing shows a fork there. */
    TT_CHECK(thr_fork_resolve(aSync[i], iThread, pTid, &key, logPk, iF + 1,
                              &aRec[1], &aChk[1], 1, &aOut[i],
                              &zErr) == SQLITE_OK);
    TT_CHECK(aOut[i].eOut == THR_FORK_NONE);
    TT_CHECK(thr_fork_resolve(aSync[i], iThread, pTid, &key, logPk, iF, aRec,
                              aChk, 2, &aOut[i], &zErr) == SQLITE_OK);
    for (k = 0; k < 2; k++) {
      thr_checked_clear(&aChk[k]);
    }
  }
  /* Exactly one side adopts, the one whose record iF has the larger CID. */
  {
    int iLoser = thr_fork_wins(&aW[0][0].cid, &aW[1][0].cid) ? 1 : 0;
    fixture *pL = aF[iLoser], *pW = aF[1 - iLoser];
    sqlite3_int64 n;
    TT_CHECK(aOut[iLoser].eOut == THR_FORK_ADOPTED);
    TT_CHECK(aOut[1 - iLoser].eOut == THR_FORK_KEPT);
    TT_CHECK(aOut[iLoser].nDropped == 2 && aOut[iLoser].nReissued == 2 &&
             aOut[iLoser].nAdded == 2);
    /* Same log on both now; the loser's two bodies live on in its new
    ** log, which it writes from now on. */
    TT_CHECK(q_int(pL->db, "SELECT count(*) FROM _threads_record") ==
             iF - 1 + 4);
    TT_CHECK(q_int(pL->db, "SELECT min(counter) FROM _threads_record") == 1);
    TT_CHECK(n_logs(pL) == 2);
    TT_CHECK(q_int(pL->db, "SELECT max(gen) FROM _threads_own") == 1);
    TT_CHECK(q_int(pL->db, "SELECT counter FROM _threads_heads WHERE own") ==
             2);
    TT_CHECK(q_int(pW->db, "SELECT count(*) FROM _threads_record") ==
             iF - 1 + 2);
    for (k = 0; k < 2; k++) {
      wire got;
      wire_read(pL, logPk, iF + k, &got);
      TT_CHECK(memcmp(got.cid.a, aW[1 - iLoser][k].cid.a, THR_CID_BYTES) == 0);
      free(got.aBuf);
    }
    /* The winner's records have row ids above every other (the change feed
    ** reads by row id). */
    TT_CHECK(q_int(pL->db, "SELECT count(*) FROM _threads_record r JOIN"
                           " _threads_log l ON l.lid = r.lid WHERE NOT l.own"
                           " AND r.counter >= (SELECT max(counter) - 1 FROM"
                           " _threads_record WHERE lid = r.lid) AND r.rid >"
                           " (SELECT max(rid) FROM _threads_record r2 JOIN"
                           " _threads_log l2 ON l2.lid = r2.lid WHERE"
                           " l2.own)") == 2);
    TT_CHECK(thr_store_verify(pL->pStore, pTid, &n, &zErr) == SQLITE_OK &&
             n == iF - 1 + 4);
    append(pL, pTid); /* into the new log, not the shared one */
    TT_CHECK(q_int(pL->db, "SELECT counter FROM _threads_heads WHERE own") ==
             3);
  }
  for (i = 0; i < 2; i++) {
    for (k = 0; k < 2; k++) {
      free(aW[i][k].aBuf);
    }
    thr_sync_close(aSync[i]);
  }
  sodium_memzero(&key, sizeof(key));
  sqlite3_free(zErr);
}

/* A fork after three shared records: at counter 4. */
static void test_fork_resolved_by_the_rule(void) {
  fixture x, y, *aF[2] = {&x, &y};
  thr_tid tid;
  unsigned char logPk[32];
  char *zErr = NULL;
  fx_thread(&x, "x.db", &tid);
  TT_CHECK(thr_store_log_pk(x.pStore, &tid, logPk, NULL, &zErr) == SQLITE_OK);
  fx_close(&x);
  copy_file("x.db", "y.db");
  fx_open(&x, "x.db");
  fx_open(&y, "y.db");
  keep_log(&y); /* y goes on with x's log: records 4 and 5 twice */
  fork_case(aF, &tid, logPk, 4);
  fx_close(&x);
  fx_close(&y);
  sqlite3_free(zErr);
}

/* A joined log copied before its first record: the fork is at counter 1,
** two first records. */
static void test_fork_at_the_first_record(void) {
  fixture src, x, y, *aF[2] = {&x, &y};
  thr_sync *pSync = NULL;
  thr_tid tid;
  thr_tkey key;
  sqlite3_int64 iThread;
  unsigned char logPk[32];
  char *zErr = NULL;
  fx_thread(&src, "src.db", &tid);
  TT_CHECK(thr_store_thread_key(src.pStore, &tid, &iThread, &key, &zErr) ==
           SQLITE_OK);
  fx_close(&src);
  unlink("j1.db");
  fx_open(&x, "j1.db");
  TT_CHECK(thr_sync_open(x.pStore, &pSync, &zErr) == SQLITE_OK);
  TT_CHECK(thr_sync_join(pSync, &tid, &key, 1, &zErr) == SQLITE_OK);
  thr_sync_close(pSync);
  TT_CHECK(thr_store_log_pk(x.pStore, &tid, logPk, NULL, &zErr) == SQLITE_OK);
  fx_close(&x);
  copy_file("j1.db", "j2.db");
  fx_open(&x, "j1.db");
  fx_open(&y, "j2.db");
  keep_log(&y);
  fork_case(aF, &tid, logPk, 1);
  fx_close(&x);
  fx_close(&y);
  sodium_memzero(&key, sizeof(key));
  sqlite3_free(zErr);
}

int main(void) {
  if (sodium_init() < 0) {
    return 1;
  }
  TT_RUN(test_generation_keys);
  TT_RUN(test_copy_starts_a_log);
  TT_RUN(test_old_file_keeps_its_log);
  TT_RUN(test_fork_resolved_by_the_rule);
  TT_RUN(test_fork_at_the_first_record);
  return tt_done();
}
