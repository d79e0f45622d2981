/*
** bench_append.c: records appended per second beside raw Ed25519 signing.
**
** Every append seals a record (three XChaCha20-Poly1305 envelopes, four
** SHA-256 CIDs, dag-cbor encoding, one Ed25519 signature) and stores its
** four blocks, its audit row and the new head in SQLite.  The baseline is
** libsodium's crypto_sign_detached over the same 72-byte message an append
** signs, measured in the same run on the same machine.  Beside it,
** thr_sign (core/sign.c), which appends use: the same RFC 8032 signing
** through our wrapper, so its ratio to the baseline should be 1.00.
**
** A second baseline is plain SQLite doing the storage part alone: the same
** row (same columns, blobs of the sizes an append stores) inserted into a
** plain table with the same key and index, in the same two modes.
**
** Two append modes:
**   autocommit  each append is its own SQLite transaction (WAL,
**               synchronous=NORMAL): what one write per COMMIT costs;
**   batched     appends inside one transaction (bulk import).
*/
#include "thr_core.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Each measurement runs in ROUNDS slices of SLICE seconds, interleaved
** with the others, so that a slow moment of the machine (a shared VM)
** weighs on all of them alike rather than on whichever ran then. */
#define ROUNDS 10
#define SLICE 0.25

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A one-action body like the ones collections will write:
** {"actions": [{"coll": "person", "id": "01HXYZ...", "op": "save",
**               "patch": {"age": 36, "name": "Ada"}}]} */
static int make_body(thr_cbuf *pBuf) {
  int rc = SQLITE_OK;
  thr_cbor *pTop = thr_cbor_map(1), *pArr = thr_cbor_array(1);
  thr_cbor *pAct = thr_cbor_map(4), *pPatch = thr_cbor_map(2);
  thr_cbor_put(&rc, pPatch, "age", thr_cbor_uint(36));
  thr_cbor_put(&rc, pPatch, "name", thr_cbor_text("Ada", 3));
  thr_cbor_put(&rc, pAct, "id",
               thr_cbor_text("01HZX3J5Q8T6W1B2C3D4E5F6G7", 26));
  thr_cbor_put(&rc, pAct, "op", thr_cbor_text("save", 4));
  thr_cbor_put(&rc, pAct, "coll", thr_cbor_text("person", 6));
  thr_cbor_put(&rc, pAct, "patch", pPatch);
  thr_cbor_push(&rc, pArr, pAct);
  thr_cbor_put(&rc, pTop, "actions", pArr);
  if (rc == SQLITE_OK) {
    rc = thr_cbor_encode(pTop, pBuf);
  }
  thr_cbor_free(pTop);
  return rc;
}

/* Totals of one measurement across its slices. */
typedef struct tally tally;
struct tally {
  long n;
  double t;
};

static void tally_add(tally *p, long n, double t) {
  p->n += n;
  p->t += t;
}

static double tally_rate(const tally *p) {
  return (double)p->n / p->t;
}

static void bench_sign(tally *pT) {
  static unsigned char pk[32], sk[64], msg[72], sig[64];
  long n = 0;
  double t0, t;
  if (sk[0] == 0 && sk[1] == 0) {
    crypto_sign_keypair(pk, sk);
    randombytes_buf(msg, sizeof(msg));
  }
  t0 = now_s();
  do {
    for (int i = 0; i < 256; i++) {
      crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk);
      msg[0] ^= sig[0]; /* keep the compiler from hoisting the call */
    }
    n += 256;
    t = now_s() - t0;
  } while (t < SLICE);
  tally_add(pT, n, t);
}

/* thr_sign over the same kind of message. */
static void bench_thr_sign(tally *pT) {
  static thr_keypair k;
  static unsigned char msg[72], sig[64];
  long n = 0;
  double t0, t;
  if (k.sk[0] == 0 && k.sk[1] == 0) {
    crypto_sign_keypair(k.pk, k.sk);
    randombytes_buf(msg, sizeof(msg));
  }
  t0 = now_s();
  do {
    for (int i = 0; i < 256; i++) {
      thr_sign(sig, msg, sizeof(msg), &k);
      msg[0] ^= sig[0];
    }
    n += 256;
    t = now_s() - t0;
  } while (t < SLICE);
  tally_add(pT, n, t);
}

static void bench_append(thr_store *pStore, const thr_tid *pTid,
                         const thr_cbuf *pBody, int bBatch, tally *pT) {
  sqlite3 *db = thr_store_db(pStore);
  char *zErr = NULL;
  long n = 0;
  double t0, t;
  t0 = now_s();
  do {
    if (bBatch) {
      sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    }
    for (int i = 0; i < 64; i++) {
      if (thr_store_append(pStore, pTid, pBody->a, pBody->n, NULL, &zErr) !=
          SQLITE_OK) {
        fprintf(stderr, "append failed: %s\n", zErr);
        exit(1);
      }
    }
    if (bBatch) {
      sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    n += 64;
    t = now_s() - t0;
  } while (t < SLICE);
  tally_add(pT, n, t);
}

/* Plain SQLite: insert rows shaped like an append's (log, counter, cid,
** prev, author, time and four blocks) and move a head row, per append. */
static void bench_plain(sqlite3 *db, int bBatch, tally *pT) {
  sqlite3_stmt *pIns = NULL, *pHead = NULL;
  unsigned char aBlob[4][200];
  long n = 0;
  double t0, t;
  static const int aSize[4] = {187, 82, 94,
                               131}; /* record, event, header, body */
  randombytes_buf(aBlob, sizeof(aBlob));
  sqlite3_exec(db,
               "CREATE TABLE IF NOT EXISTS plain_record(rid INTEGER PRIMARY "
               "KEY, lid INTEGER NOT NULL, counter INTEGER NOT NULL, cid BLOB "
               "NOT NULL, prev BLOB, author BLOB, time INTEGER, record BLOB "
               "NOT NULL, event BLOB, header BLOB, body BLOB, UNIQUE(lid, "
               "counter));"
               "CREATE TABLE IF NOT EXISTS plain_log(lid INTEGER PRIMARY KEY, "
               "head BLOB, counter INTEGER);"
               "INSERT OR IGNORE INTO plain_log VALUES (1, NULL, 0);",
               NULL, NULL, NULL);
  sqlite3_prepare_v2(db,
                     "INSERT INTO plain_record(lid, counter, cid, prev, "
                     "author, time, record, event, header, body) VALUES (1, "
                     "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                     -1, &pIns, NULL);
  sqlite3_prepare_v2(db,
                     "UPDATE plain_log SET head = ?1, counter = ?2 WHERE lid "
                     "= 1",
                     -1, &pHead, NULL);
  t0 = now_s();
  do {
    if (bBatch) {
      sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    }
    for (int i = 0; i < 64; i++) {
      static long nCounter = 0;
      nCounter++;
      aBlob[0][0] = (unsigned char)nCounter; /* distinct CIDs */
      if (!bBatch) {
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
      }
      sqlite3_bind_int64(pIns, 1, nCounter);
      sqlite3_bind_blob(pIns, 2, aBlob[0], 36, SQLITE_STATIC);
      sqlite3_bind_blob(pIns, 3, aBlob[1], 36, SQLITE_STATIC);
      sqlite3_bind_blob(pIns, 4, aBlob[2], 32, SQLITE_STATIC);
      sqlite3_bind_int64(pIns, 5, 1700000000000LL + nCounter);
      for (int k = 0; k < 4; k++) {
        sqlite3_bind_blob(pIns, 6 + k, aBlob[k], aSize[k], SQLITE_STATIC);
      }
      sqlite3_step(pIns);
      sqlite3_reset(pIns);
      sqlite3_bind_blob(pHead, 1, aBlob[0], 36, SQLITE_STATIC);
      sqlite3_bind_int64(pHead, 2, nCounter);
      sqlite3_step(pHead);
      sqlite3_reset(pHead);
      if (!bBatch) {
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
      }
    }
    if (bBatch) {
      sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    n += 64;
    t = now_s() - t0;
  } while (t < SLICE);
  sqlite3_finalize(pIns);
  sqlite3_finalize(pHead);
  tally_add(pT, n, t);
}

int main(void) {
  sqlite3 *db = NULL;
  thr_store *pStore = NULL;
  thr_tid tid;
  thr_cbuf body = {0, 0};
  char *zErr = NULL;
  char zPath[] = "/tmp/bench-append-XXXXXX";
  char zDb[64];
  double sign, thrSign, auto_, batch, plainAuto, plainBatch;
  tally tSign = {0, 0}, tThrSign = {0, 0}, tAuto = {0, 0}, tBatch = {0, 0};
  tally tPlainAuto = {0, 0}, tPlainBatch = {0, 0};
  int fd = mkstemp(zPath);

  if (sodium_init() < 0 || fd < 0) {
    return 2;
  }
  close(fd);
  unlink(zPath);
  snprintf(zDb, sizeof(zDb), "%s.db", zPath);
  if (sqlite3_open(zDb, &db) != SQLITE_OK ||
      sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
                   NULL, NULL, NULL) != SQLITE_OK ||
      thr_store_open(db, &pStore, &zErr) != SQLITE_OK ||
      thr_store_create_thread(pStore, "bench", THR_VARIANT_RAW, &tid, &zErr) !=
          SQLITE_OK ||
      make_body(&body) != SQLITE_OK) {
    fprintf(stderr, "setup failed: %s\n", zErr ? zErr : sqlite3_errmsg(db));
    return 1;
  }

  printf("bench_append: %zu-byte one-action body, %d interleaved rounds of "
         "%.2f s each\n",
         body.n, ROUNDS, SLICE);
  for (int r = 0; r < ROUNDS; r++) {
    bench_sign(&tSign);
    bench_thr_sign(&tThrSign);
    bench_append(pStore, &tid, &body, 0, &tAuto);
    bench_append(pStore, &tid, &body, 1, &tBatch);
    bench_plain(db, 0, &tPlainAuto);
    bench_plain(db, 1, &tPlainBatch);
  }
  sign = tally_rate(&tSign);
  thrSign = tally_rate(&tThrSign);
  auto_ = tally_rate(&tAuto);
  batch = tally_rate(&tBatch);
  plainAuto = tally_rate(&tPlainAuto);
  plainBatch = tally_rate(&tPlainBatch);
  printf("  raw crypto_sign_detached          %8.0f /s  (baseline)\n", sign);
  printf("  thr_sign (RFC 8032, libsodium)    %8.0f /s  %.2f x signing\n",
         thrSign, thrSign / sign);
  printf("  plain SQLite row, autocommit      %8.0f /s  (storage alone)\n",
         plainAuto);
  printf("  plain SQLite row, batched         %8.0f /s  (storage alone)\n",
         plainBatch);
  printf("  append, autocommit (WAL/NORMAL)   %8.0f /s  %.2f x signing,"
         " %.2f x plain SQLite\n",
         auto_, auto_ / sign, auto_ / plainAuto);
  printf("  append, batched in one txn        %8.0f /s  %.2f x signing,"
         " %.2f x plain SQLite   (goal: >= 0.50 x signing)\n",
         batch, batch / sign, batch / plainBatch);
  {
    sqlite3_int64 nRec = 0;
    double t0 = now_s();
    if (thr_store_verify(pStore, &tid, &nRec, &zErr) != SQLITE_OK) {
      fprintf(stderr, "verify failed: %s\n", zErr);
      return 1;
    }
    printf(
        "  verify (all checks, read key) %9.0f records/s over %lld records\n",
        (double)nRec / (now_s() - t0), nRec);
  }

  sqlite3_free(body.a);
  thr_store_close(pStore);
  sqlite3_close(db);
  unlink(zDb);
  snprintf(zDb, sizeof(zDb), "%s.db-wal", zPath);
  unlink(zDb);
  snprintf(zDb, sizeof(zDb), "%s.db-shm", zPath);
  unlink(zDb);
  return 0;
}
