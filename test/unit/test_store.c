/*
** test_store.c: the event store in a real database file (core/store.c,
** core/car.c): persistence, atomic appends, verification naming each
** failed check, and CAR export.
**
** Tests run in the working directory test/run.sh gives them (a fresh
** temporary directory).
*/
#include "thr_core.h"
#include "tt.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const unsigned char aBody[] = {0xa1, 0x61, 'n', 0x01}; /* {"n": 1} */

typedef struct fixture fixture;
struct fixture {
  sqlite3 *db;
  thr_store *pStore;
  thr_tid tid;
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

/* A fresh file with thread 'notes': creation record + two appends. */
static void fx_thread(fixture *f, const char *zFile) {
  char *zErr = NULL;
  unlink(zFile);
  fx_open(f, zFile);
  TT_CHECK(thr_store_create_thread(f->pStore, "notes", THR_VARIANT_RAW, &f->tid,
                                   &zErr) == SQLITE_OK);
  TT_CHECK(thr_store_append(f->pStore, &f->tid, aBody, sizeof(aBody), NULL,
                            &zErr) == SQLITE_OK);
  TT_CHECK(thr_store_append(f->pStore, &f->tid, aBody, sizeof(aBody), NULL,
                            &zErr) == SQLITE_OK);
  TT_CHECK(zErr == NULL);
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

/* Run verification; return its message (owned) or NULL if it passed. */
static char *verify(fixture *f, sqlite3_int64 *pn) {
  char *zErr = NULL;
  sqlite3_int64 n = 0;
  int rc = thr_store_verify(f->pStore, &f->tid, &n, &zErr);
  if (pn) {
    *pn = n;
  }
  if (rc == SQLITE_OK) {
    TT_CHECK(zErr == NULL);
    return NULL;
  }
  return zErr ? zErr : sqlite3_mprintf("(no message)");
}

static void expect_check(fixture *f, const char *zCheck) {
  char *zErr = verify(f, NULL);
  TT_CHECK(zErr != NULL && strstr(zErr, zCheck) != NULL);
  if (zErr == NULL || strstr(zErr, zCheck) == NULL) {
    printf("  expected \"%s\", got \"%s\"\n", zCheck, zErr ? zErr : "(pass)");
  }
  sqlite3_free(zErr);
}

static void test_identity_persists(void) {
  fixture f;
  const thr_keypair *pId;
  unsigned char pk[32];
  char *zErr = NULL;
  unlink("id.db");
  fx_open(&f, "id.db");
  TT_CHECK(thr_store_identity(f.pStore, &pId, &zErr) == SQLITE_OK);
  memcpy(pk, pId->pk, 32);
  fx_close(&f);
  fx_open(&f, "id.db");
  TT_CHECK(thr_store_identity(f.pStore, &pId, &zErr) == SQLITE_OK);
  TT_CHECK(memcmp(pk, pId->pk, 32) == 0);
  TT_CHECK(q_int(f.db, "SELECT count(*) FROM _threads_meta WHERE key = "
                       "'identity'") == 1);
  fx_close(&f);
}

/* Three records in one log, chained, head and counter in step; survives a
** close and reopen, and the reopened store continues the same log. */
static void test_log_and_reopen(void) {
  fixture f;
  sqlite3_int64 n = 0;
  char *zErr = NULL;
  thr_tid tid;
  fx_thread(&f, "log.db");
  TT_CHECK(verify(&f, &n) == NULL);
  TT_CHECK(n == 3);
  TT_CHECK(q_int(f.db, "SELECT count(*) FROM _threads_log") == 1);
  TT_CHECK(q_int(f.db, "SELECT counter FROM _threads_heads") == 3);
  TT_CHECK(q_int(f.db, "SELECT count(record) + count(event) + count(header) "
                       "+ count(body) FROM _threads_record") == 12);
  TT_CHECK(q_int(f.db, "SELECT head = (SELECT cid FROM _threads_record "
                       "WHERE counter = 3) FROM _threads_heads") == 1);
  TT_CHECK(q_int(f.db, "SELECT count(*) FROM _threads_record r1 JOIN "
                       "_threads_record r2 ON r2.counter = r1.counter + 1 "
                       "AND r2.prev = r1.cid") == 2);
  tid = f.tid;
  fx_close(&f);

  fx_open(&f, "log.db");
  TT_CHECK(thr_store_resolve(f.pStore, "notes", &f.tid, &zErr) == SQLITE_OK);
  TT_CHECK(f.tid.n == tid.n && memcmp(f.tid.a, tid.a, (size_t)tid.n) == 0);
  TT_CHECK(thr_store_append(f.pStore, &f.tid, aBody, sizeof(aBody), NULL,
                            &zErr) == SQLITE_OK);
  TT_CHECK(q_int(f.db, "SELECT count(*) FROM _threads_log") == 1);
  TT_CHECK(verify(&f, &n) == NULL);
  TT_CHECK(n == 4);
  sqlite3_free(zErr);
  fx_close(&f);
}

/* Flip bit 0 of every byte of every block in place: verification fails
** and names the CID check; restored, it passes again. */
static void test_flip_every_byte_in_place(void) {
  static const char *azCol[4] = {"record", "event", "header", "body"};
  fixture f;
  long nFlip = 0;
  int nWrong = 0;
  fx_thread(&f, "flip.db");
  for (int iRow = 1; iRow <= 3; iRow++) {
    for (int iCol = 0; iCol < 4; iCol++) {
      sqlite3_stmt *pGet = NULL, *pSet = NULL;
      char *zGet =
          sqlite3_mprintf("SELECT %s FROM _threads_record WHERE counter = %d",
                          azCol[iCol], iRow);
      char *zSet = sqlite3_mprintf(
          "UPDATE _threads_record SET %s = ?1 WHERE counter = %d", azCol[iCol],
          iRow);
      unsigned char *a;
      int n;
      TT_CHECK(sqlite3_prepare_v2(f.db, zGet, -1, &pGet, NULL) == SQLITE_OK);
      TT_CHECK(sqlite3_prepare_v2(f.db, zSet, -1, &pSet, NULL) == SQLITE_OK);
      TT_CHECK(sqlite3_step(pGet) == SQLITE_ROW);
      n = sqlite3_column_bytes(pGet, 0);
      a = malloc((size_t)n);
      memcpy(a, sqlite3_column_blob(pGet, 0), (size_t)n);
      sqlite3_finalize(pGet);
      for (int i = 0; i < n; i++) {
        char *zErr;
        a[i] ^= 0x01;
        sqlite3_bind_blob(pSet, 1, a, n, SQLITE_STATIC);
        sqlite3_step(pSet);
        sqlite3_reset(pSet);
        zErr = verify(&f, NULL);
        if (zErr == NULL || strstr(zErr, THR_CHECK_CID) == NULL) {
          nWrong++;
        }
        sqlite3_free(zErr);
        nFlip++;
        a[i] ^= 0x01;
      }
      sqlite3_bind_blob(pSet, 1, a, n, SQLITE_STATIC);
      sqlite3_step(pSet);
      sqlite3_finalize(pSet);
      free(a);
      sqlite3_free(zGet);
      sqlite3_free(zSet);
    }
  }
  TT_CHECK(nFlip > 12 * 40);
  TT_CHECK(nWrong == 0);
  TT_CHECK(verify(&f, NULL) == NULL);
  fx_close(&f);
}

/* Replace the head record with other bytes stored under their own,
** correct CID (what a peer could send); the log's head is that row. */
static void replace_head(fixture *f, const thr_cbuf *pNew) {
  sqlite3_stmt *pStmt = NULL;
  thr_cid cid;
  thr_cid_of(&cid, THR_CODEC_DAGCBOR, pNew->a, pNew->n);
  TT_CHECK(sqlite3_prepare_v2(f->db,
                              "UPDATE _threads_record SET cid = ?1, "
                              "record = ?2 WHERE counter = 3",
                              -1, &pStmt, NULL) == SQLITE_OK);
  sqlite3_bind_blob(pStmt, 1, cid.a, 36, SQLITE_STATIC);
  sqlite3_bind_blob(pStmt, 2, pNew->a, (int)pNew->n, SQLITE_STATIC);
  TT_CHECK(sqlite3_step(pStmt) == SQLITE_DONE);
  sqlite3_finalize(pStmt);
}

/* The thread's keys and this identity's log key for thread 'notes'. */
static void fx_keys(fixture *f, thr_tkey *pKey, thr_keypair **ppLog,
                    const thr_keypair **ppId, thr_cid *pRec2,
                    thr_cid *pEvent3) {
  sqlite3_stmt *pStmt = NULL;
  char *zErr = NULL;
  thr_opened op;
  TT_CHECK(thr_store_identity(f->pStore, ppId, &zErr) == SQLITE_OK);
  *ppLog = thr_logkey_derive(*ppId, &f->tid);
  memset(pKey, 0, sizeof(*pKey));
  TT_CHECK(sqlite3_prepare_v2(f->db,
                              "SELECT service, read FROM _threads_thread", -1,
                              &pStmt, NULL) == SQLITE_OK);
  TT_CHECK(sqlite3_step(pStmt) == SQLITE_ROW);
  memcpy(pKey->service, sqlite3_column_blob(pStmt, 0), 32);
  memcpy(pKey->read, sqlite3_column_blob(pStmt, 1), 32);
  pKey->hasRead = 1;
  sqlite3_finalize(pStmt);
  TT_CHECK(sqlite3_prepare_v2(f->db,
                              "SELECT cid, record FROM _threads_record "
                              "WHERE counter IN (2, 3) ORDER BY counter",
                              -1, &pStmt, NULL) == SQLITE_OK);
  TT_CHECK(sqlite3_step(pStmt) == SQLITE_ROW);
  memcpy(pRec2->a, sqlite3_column_blob(pStmt, 0), 36);
  TT_CHECK(sqlite3_step(pStmt) == SQLITE_ROW);
  TT_CHECK(thr_rec_open(pKey->service, (*ppLog)->pk,
                        sqlite3_column_blob(pStmt, 1),
                        (size_t)sqlite3_column_bytes(pStmt, 1), &op,
                        &zErr) == SQLITE_OK);
  *pEvent3 = op.cidEvent;
  sqlite3_finalize(pStmt);
}

/* Each named check, provoked on purpose. */
static void test_each_check(void) {
  fixture f;
  thr_tkey key;
  thr_keypair *pLog = NULL, *pOther;
  const thr_keypair *pId;
  thr_cid rec2, ev3;
  thr_cbuf blk = {0, 0};
  thr_sealed s;
  unsigned char seed[32];
  char *zErr = NULL;

  /* bad signature: a well-formed record 3 signed by another key. */
  fx_thread(&f, "checks.db");
  fx_keys(&f, &key, &pLog, &pId, &rec2, &ev3);
  memset(seed, 9, sizeof(seed));
  pOther = thr_keypair_from_seed(seed);
  TT_CHECK(thr_rec_seal(&key, pId, pOther, &rec2, 3, aBody, sizeof(aBody), &s,
                        &zErr) == SQLITE_OK);
  replace_head(&f, &s.record);
  expect_check(&f, THR_CHECK_SIG);
  thr_sealed_clear(&s);
  fx_close(&f);

  /* broken prev link: record 3, signed by the right key, links to the
  ** wrong predecessor (record 2's own predecessor is not record 2). */
  fx_thread(&f, "checks.db");
  thr_keypair_free(pLog);
  fx_keys(&f, &key, &pLog, &pId, &rec2, &ev3);
  TT_CHECK(thr_rec_seal(&key, pId, pLog, &ev3, 3, aBody, sizeof(aBody), &s,
                        &zErr) == SQLITE_OK);
  replace_head(&f, &s.record);
  expect_check(&f, THR_CHECK_PREV);
  thr_sealed_clear(&s);
  fx_close(&f);

  /* broken prev link: a record missing from the middle of the log. */
  fx_thread(&f, "checks.db");
  exec(f.db, "DELETE FROM _threads_record WHERE counter = 2");
  expect_check(&f, THR_CHECK_PREV);
  fx_close(&f);

  /* wrong key: the record envelope under another service key. */
  fx_thread(&f, "checks.db");
  exec(f.db, "UPDATE _threads_thread SET service = randomblob(32)");
  expect_check(&f, THR_CHECK_KEY);
  fx_close(&f);

  /* wrong key: headers under another read key. */
  fx_thread(&f, "checks.db");
  exec(f.db, "UPDATE _threads_thread SET read = randomblob(32)");
  expect_check(&f, "header: wrong key");
  fx_close(&f);

  /* undecodable block: a valid envelope holding garbage. */
  fx_thread(&f, "checks.db");
  thr_keypair_free(pLog);
  fx_keys(&f, &key, &pLog, &pId, &rec2, &ev3);
  TT_CHECK(thr_seal_block(key.service, (const unsigned char *)"\x9f\x01", 2,
                          &blk) == SQLITE_OK);
  replace_head(&f, &blk);
  expect_check(&f, THR_CHECK_DECODE);
  sqlite3_free(blk.a);
  fx_close(&f);

  /* A missing event block. */
  fx_thread(&f, "checks.db");
  thr_keypair_free(pLog);
  fx_keys(&f, &key, &pLog, &pId, &rec2, &ev3);
  exec(f.db, "UPDATE _threads_record SET event = NULL WHERE counter = 3");
  expect_check(&f, "event: missing block");
  fx_close(&f);

  thr_keypair_free(pLog);
  thr_keypair_free(pOther);
  sodium_memzero(&key, sizeof(key));
  sqlite3_free(zErr);
}

/* A follower (service key only) verifies every signature and link. */
static void test_follower_verifies(void) {
  fixture f;
  sqlite3_int64 n = 0;
  fx_thread(&f, "follow.db");
  exec(f.db, "UPDATE _threads_thread SET read = NULL");
  TT_CHECK(verify(&f, &n) == NULL);
  TT_CHECK(n == 3);
  /* ...and still catches a bad link. */
  exec(f.db, "DELETE FROM _threads_record WHERE counter = 2");
  expect_check(&f, THR_CHECK_PREV);
  fx_close(&f);
}

/* A failed append leaves no block, no record and the head where it was. */
static void test_append_is_atomic(void) {
  fixture f;
  char *zErr = NULL;
  sqlite3_int64 nBlock, nCounter;
  fx_thread(&f, "atomic.db");
  nBlock = q_int(f.db, "SELECT count(*) FROM _threads_record");
  nCounter = q_int(f.db, "SELECT counter FROM _threads_heads");
  exec(f.db, "CREATE TEMP TRIGGER boom BEFORE INSERT ON _threads_record "
             "BEGIN SELECT RAISE(ABORT, 'boom'); END");
  TT_CHECK(thr_store_append(f.pStore, &f.tid, aBody, sizeof(aBody), NULL,
                            &zErr) != SQLITE_OK);
  TT_CHECK(zErr && strstr(zErr, "boom"));
  sqlite3_free(zErr);
  exec(f.db, "DROP TRIGGER boom");
  TT_CHECK(q_int(f.db, "SELECT count(*) FROM _threads_record") == nBlock);
  TT_CHECK(q_int(f.db, "SELECT counter FROM _threads_heads") == nCounter);
  TT_CHECK(verify(&f, NULL) == NULL);
  fx_close(&f);
}

typedef struct car_seen car_seen;
struct car_seen {
  sqlite3 *db;
  int nBlock;
  int nKnown;
};

static int car_block(void *pArg, const thr_cid *pCid, const unsigned char *a,
                     size_t n) {
  car_seen *p = pArg;
  sqlite3_stmt *pStmt = NULL;
  p->nBlock++;
  if (sqlite3_prepare_v2(p->db,
                         "SELECT 1 FROM _threads_record WHERE ?2 IN "
                         "(record, event, header, body)",
                         -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_blob(pStmt, 2, a, (int)n, SQLITE_STATIC);
    (void)pCid; /* the reader has checked the CID against the bytes */
    if (sqlite3_step(pStmt) == SQLITE_ROW) {
      p->nKnown++;
    }
  }
  sqlite3_finalize(pStmt);
  return SQLITE_OK;
}

static void test_export_car(void) {
  fixture f;
  sqlite3_int64 nBlock = 0;
  thr_cid aRoot[4];
  int nRoot = 0;
  car_seen seen = {0, 0, 0};
  char *zErr = NULL;
  fx_thread(&f, "car.db");
  TT_CHECK(thr_store_export(f.pStore, &f.tid, "notes.car", &nBlock, &zErr) ==
           SQLITE_OK);
  TT_CHECK(nBlock == 12);
  TT_CHECK(access("notes.car.tmp", F_OK) != 0);
  seen.db = f.db;
  TT_CHECK(thr_car_read("notes.car", aRoot, 4, &nRoot, car_block, &seen,
                        &zErr) == SQLITE_OK);
  TT_CHECK(nRoot == 1);
  TT_CHECK(seen.nBlock == 12 && seen.nKnown == 12);
  {
    sqlite3_stmt *pStmt = NULL;
    TT_CHECK(sqlite3_prepare_v2(f.db, "SELECT head FROM _threads_heads", -1,
                                &pStmt, NULL) == SQLITE_OK);
    TT_CHECK(sqlite3_step(pStmt) == SQLITE_ROW);
    TT_CHECK(memcmp(sqlite3_column_blob(pStmt, 0), aRoot[0].a, 36) == 0);
    sqlite3_finalize(pStmt);
  }
  /* A failed export leaves no file behind, not even a partial one. */
  TT_CHECK(thr_store_export(f.pStore, &f.tid, "no/such/dir/x.car", &nBlock,
                            &zErr) != SQLITE_OK);
  TT_CHECK(zErr && strstr(zErr, "cannot write no/such/dir/x.car"));
  sqlite3_free(zErr);
  zErr = NULL;
  /* An export never replaces a file, not even an earlier export. */
  TT_CHECK(thr_store_export(f.pStore, &f.tid, "notes.car", &nBlock, &zErr) ==
           SQLITE_ERROR);
  TT_CHECK(zErr && strcmp(zErr, "notes.car already exists") == 0);
  sqlite3_free(zErr);
  zErr = NULL;
  /* A corrupt block is refused, leaving no file, and the earlier export is
  ** untouched. */
  exec(f.db, "UPDATE _threads_record SET record = x'40' WHERE counter = 1");
  TT_CHECK(thr_store_export(f.pStore, &f.tid, "bad.car", &nBlock, &zErr) !=
           SQLITE_OK);
  TT_CHECK(zErr && strstr(zErr, THR_CHECK_CID));
  TT_CHECK(access("bad.car", F_OK) != 0);
  sqlite3_free(zErr);
  zErr = NULL;
  seen.nBlock = seen.nKnown = 0;
  TT_CHECK(thr_car_read("notes.car", aRoot, 4, &nRoot, car_block, &seen,
                        &zErr) == SQLITE_OK);
  TT_CHECK(seen.nBlock == 12);
  sqlite3_free(zErr);
  fx_close(&f);
}

/* A CAR file with one byte changed is refused by the reader. */
static void test_car_reader_checks(void) {
  fixture f;
  sqlite3_int64 nBlock = 0;
  thr_cid aRoot[4];
  int nRoot = 0;
  car_seen seen = {0, 0, 0};
  char *zErr = NULL;
  FILE *fp;
  long n;
  fx_thread(&f, "car2.db");
  TT_CHECK(thr_store_export(f.pStore, &f.tid, "x.car", &nBlock, &zErr) ==
           SQLITE_OK);
  fp = fopen("x.car", "r+b");
  TT_CHECK(fp != NULL);
  if (fp) {
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, n - 1, SEEK_SET); /* the last byte of the last block */
    fputc(0x55, fp);
    fclose(fp);
  }
  seen.db = f.db;
  TT_CHECK(thr_car_read("x.car", aRoot, 4, &nRoot, car_block, &seen, &zErr) ==
           SQLITE_ERROR);
  TT_CHECK(zErr && strstr(zErr, THR_CHECK_CID));
  sqlite3_free(zErr);
  zErr = NULL;
  /* Truncated file. */
  TT_CHECK(truncate("x.car", 50) == 0);
  TT_CHECK(thr_car_read("x.car", aRoot, 4, &nRoot, car_block, &seen, &zErr) ==
           SQLITE_ERROR);
  sqlite3_free(zErr);
  fx_close(&f);
}

static void test_resolve_errors(void) {
  fixture f;
  thr_tid tid;
  char *zErr = NULL;
  fx_thread(&f, "resolve.db");
  TT_CHECK(thr_store_resolve(f.pStore, "nope", &tid, &zErr) == SQLITE_ERROR);
  TT_STREQ(zErr, "no such thread: 'nope' is not a local name, nor a thread "
                 "ID (selected encoding not supported)");
  sqlite3_free(zErr);
  zErr = NULL;
  TT_CHECK(thr_store_resolve(
               f.pStore,
               "bafkqaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &tid,
               &zErr) == SQLITE_ERROR);
  TT_STREQ(zErr, "no such thread: "
                 "bafkqaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  sqlite3_free(zErr);
  zErr = NULL;
  TT_CHECK(thr_store_create_thread(f.pStore, "notes", THR_VARIANT_RAW, &tid,
                                   &zErr) == SQLITE_CONSTRAINT);
  TT_STREQ(zErr, "thread name already in use: notes");
  sqlite3_free(zErr);
  zErr = NULL;
  /* The failed create left nothing behind. */
  TT_CHECK(q_int(f.db, "SELECT count(*) FROM _threads_thread") == 1);
  TT_CHECK(q_int(f.db, "SELECT count(*) FROM _threads_log") == 1);
  fx_close(&f);
}

int main(void) {
  if (sodium_init() < 0) {
    return 2;
  }
  TT_RUN(test_identity_persists);
  TT_RUN(test_log_and_reopen);
  TT_RUN(test_flip_every_byte_in_place);
  TT_RUN(test_each_check);
  TT_RUN(test_follower_verifies);
  TT_RUN(test_append_is_atomic);
  TT_RUN(test_export_car);
  TT_RUN(test_car_reader_checks);
  TT_RUN(test_resolve_errors);
  return tt_done();
}
