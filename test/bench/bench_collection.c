/*
** bench_collection.c: collection tables beside plain SQLite doing the same
** work.
**
** The subject is a collection table,
**
**   CREATE VIRTUAL TABLE person USING threads(thread='t', schema='...')
**
** whose writes are validated against the schema, applied to the shadow
** table "person_data" and sealed into one signed, encrypted log record per
** transaction at COMMIT.  The baseline is a plain WITHOUT ROWID table with
** the same columns and key, in another database file of the same kind (a
** file under /tmp, journal_mode=WAL, synchronous=NORMAL), so that the two
** do not share a page cache.
**
**   (a) bulk     100,000 rows INSERTed in one transaction through a prepared
**                statement; fresh tables each round, rounds alternating
**                which side goes first; the median ratio counts;
**   (b) autocommit  single-row INSERTs, each its own transaction (each one a
**                sealed, signed record on the collection side), in
**                interleaved slices;
**   (c) reads    point lookups by _id, by an indexed field (age), and a
**                full scan with a LIKE filter, over the 100,000 rows of (a),
**                in interleaved time slices.
**
** Ratios are time(collection) / time(plain): 1.0 means as fast as SQLite.
*/
#include "threads.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N_ROWS 100000L     /* rows of (a), read by (c) */
#define A_ROUNDS 5         /* bulk-insert rounds, fresh tables each */
#define B_INSERTS 6000L    /* autocommit inserts per side */
#define B_SLICES 30        /* ... in this many interleaved slices */
#define C_ROUNDS 10        /* read rounds */
#define C_SLICE 0.25       /* seconds per read slice */
#define SCAN_MATCHES 11111 /* names n1, n1x, n1xx, n1xxx, n1xxxx */

#define GOAL_WRITE 2.0
#define GOAL_READ 1.3

static const char zSchema[] =
    "{\"type\":\"object\",\"properties\":{\"_id\":{\"type\":\"string\"},"
    "\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\","
    "\"minimum\":0},\"email\":{\"type\":\"string\"}},\"required\":[\"name\"]}";

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(sqlite3 *db, const char *zWhat) {
  fprintf(stderr, "bench_collection: %s failed: %s\n", zWhat,
          db ? sqlite3_errmsg(db) : "?");
  exit(1);
}

static void exec(sqlite3 *db, const char *zSql) {
  char *zErr = NULL;
  if (sqlite3_exec(db, zSql, NULL, NULL, &zErr) != SQLITE_OK) {
    fprintf(stderr, "bench_collection: %s\n  failed: %s\n", zSql,
            zErr ? zErr : sqlite3_errmsg(db));
    exit(1);
  }
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *zSql) {
  sqlite3_stmt *pStmt = NULL;
  if (sqlite3_prepare_v2(db, zSql, -1, &pStmt, NULL) != SQLITE_OK) {
    die(db, zSql);
  }
  return pStmt;
}

static sqlite3_int64 query_int(sqlite3 *db, const char *zSql) {
  sqlite3_stmt *pStmt = prepare(db, zSql);
  sqlite3_int64 v = 0;
  if (sqlite3_step(pStmt) != SQLITE_ROW) {
    die(db, zSql);
  }
  v = sqlite3_column_int64(pStmt, 0);
  sqlite3_finalize(pStmt);
  return v;
}

static sqlite3 *open_db(const char *zPath, int bThreads) {
  sqlite3 *db = NULL;
  char *zErr = NULL;
  if (sqlite3_open(zPath, &db) != SQLITE_OK) {
    die(db, "open");
  }
  exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
  if (bThreads && sqlite3_threads_init(db, &zErr, NULL) != SQLITE_OK) {
    fprintf(stderr, "bench_collection: sqlite3_threads_init: %s\n",
            zErr ? zErr : "?");
    exit(1);
  }
  return db;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *a, int n) {
  qsort(a, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? a[n / 2] : (a[n / 2 - 1] + a[n / 2]) / 2;
}

/* A small deterministic generator for lookup keys. */
static unsigned long long rng_next(unsigned long long *pState) {
  unsigned long long x = *pState;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *pState = x;
}

/* Row i.  Rows 0..N_ROWS-1 get the ids u0000000..u0099999 in a scrambled
** order (7919 is prime to N_ROWS), later rows their own number; ages are
** all distinct, so "age = ?" matches one row. */
static long row_id(long i) {
  return i < N_ROWS ? (i * 7919L) % N_ROWS : i;
}

static void bind_row(sqlite3_stmt *pIns, long i, char *zId, char *zName,
                     char *zEmail) {
  snprintf(zId, 24, "u%07ld", row_id(i));
  snprintf(zName, 24, "n%ld", i);
  snprintf(zEmail, 32, "user%ld@example.com", i);
  sqlite3_bind_text(pIns, 1, zId, -1, SQLITE_STATIC);
  sqlite3_bind_text(pIns, 2, zName, -1, SQLITE_STATIC);
  sqlite3_bind_int64(pIns, 3, i);
  sqlite3_bind_text(pIns, 4, zEmail, -1, SQLITE_STATIC);
}

/* Insert rows iFirst..iFirst+n-1, all in one transaction (bTxn) or each in
** its own; returns the seconds taken, COMMIT included. */
static double insert_rows(sqlite3 *db, sqlite3_stmt *pIns, long iFirst, long n,
                          int bTxn) {
  char zId[24], zName[24], zEmail[32];
  double t0 = now_s();
  if (bTxn) {
    exec(db, "BEGIN");
  }
  for (long i = iFirst; i < iFirst + n; i++) {
    bind_row(pIns, i, zId, zName, zEmail);
    if (sqlite3_step(pIns) != SQLITE_DONE) {
      die(db, "INSERT");
    }
    sqlite3_reset(pIns);
  }
  if (bTxn) {
    exec(db, "COMMIT");
  }
  return now_s() - t0;
}

static const char zInsColl[] =
    "INSERT INTO person(_id, name, age, email) VALUES (?,?,?,?)";
static const char zInsPlain[] =
    "INSERT INTO plain(_id, name, age, email) VALUES (?,?,?,?)";
static const char zRecords[] = "SELECT records FROM threads WHERE name='t'";

/* (a) for one round: fresh tables, N_ROWS rows each in one transaction. */
static double bulk_coll(sqlite3 *db, int iRound, sqlite3_int64 *pnRec) {
  sqlite3_stmt *pIns;
  sqlite3_int64 nBefore;
  char *zSql;
  double t;
  /* A new collection each round under the same table name: the old table
  ** goes (its history stays in the thread). */
  zSql = sqlite3_mprintf("DROP TABLE IF EXISTS person;"
                         "CREATE VIRTUAL TABLE person USING threads(thread='t',"
                         " collection='person_r%d', schema=%Q)",
                         iRound + 1, zSchema);
  exec(db, zSql);
  sqlite3_free(zSql);
  pIns = prepare(db, zInsColl);
  nBefore = query_int(db, zRecords);
  t = insert_rows(db, pIns, 0, N_ROWS, 1);
  *pnRec = query_int(db, zRecords) - nBefore;
  sqlite3_finalize(pIns);
  return t;
}

static double bulk_plain(sqlite3 *db) {
  sqlite3_stmt *pIns;
  double t;
  exec(db, "DROP TABLE IF EXISTS plain;"
           "CREATE TABLE plain(_id TEXT PRIMARY KEY, name TEXT, age INTEGER,"
           " email TEXT) WITHOUT ROWID");
  pIns = prepare(db, zInsPlain);
  t = insert_rows(db, pIns, 0, N_ROWS, 1);
  sqlite3_finalize(pIns);
  return t;
}

/* (c): one time slice of lookups or scans with statement pStmt.  eKind 0
** binds a random existing _id and expects a row, 1 a random age and expects
** count 1, 2 nothing and expects SCAN_MATCHES. */
typedef struct tally tally;
struct tally {
  long n;
  double t;
};

static void read_slice(sqlite3 *db, sqlite3_stmt *pStmt, int eKind,
                       unsigned long long *pRng, tally *pT) {
  char zId[16];
  long n = 0;
  int nBatch = eKind == 2 ? 1 : 256;
  double t0 = now_s(), t;
  do {
    for (int i = 0; i < nBatch; i++) {
      long k = (long)(rng_next(pRng) % (unsigned long long)N_ROWS);
      int ok;
      if (eKind == 0) {
        snprintf(zId, sizeof(zId), "u%07ld", k);
        sqlite3_bind_text(pStmt, 1, zId, -1, SQLITE_STATIC);
      } else if (eKind == 1) {
        sqlite3_bind_int64(pStmt, 1, k);
      }
      ok = sqlite3_step(pStmt) == SQLITE_ROW;
      if (ok && eKind == 1) {
        ok = sqlite3_column_int(pStmt, 0) == 1;
      } else if (ok && eKind == 2) {
        ok = sqlite3_column_int(pStmt, 0) == SCAN_MATCHES;
      }
      if (!ok) {
        fprintf(stderr, "bench_collection: unexpected answer to %s\n",
                sqlite3_sql(pStmt));
        die(db, "read");
      }
      sqlite3_reset(pStmt);
    }
    n += nBatch;
    t = now_s() - t0;
  } while (t < C_SLICE);
  pT->n += n;
  pT->t += t;
}

static double tally_rate(const tally *p) {
  return (double)p->n / p->t;
}

static void remove_db(const char *zBase, const char *zSuffix) {
  char zPath[128];
  static const char *const azExt[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    snprintf(zPath, sizeof(zPath), "%s%s%s", zBase, zSuffix, azExt[i]);
    unlink(zPath);
  }
}

/* The floor under (b), in plain SQLite: what storing one record per commit
** costs before any signing, encryption or virtual-table work.  Each
** transaction inserts a row into the plain table, as (b) does, plus one row
** the size of (b)'s stored records (their mean, read from the collection
** file) into a table keyed by rowid with a unique (log, counter) key, the
** least a log needs to find a record by its position.  Against plain
** autocommit inserts into the same table, in interleaved slices; returns
** the ratio. */
static double storage_floor(sqlite3 *dbC, sqlite3 *dbP) {
  sqlite3_int64 nBytes = query_int(
      dbC, "SELECT CAST(avg(length(cid) + length(prev) + length(author) + "
           "length(record) + length(event) + length(header) + length(body) + "
           "24) AS INTEGER) FROM (SELECT * FROM _threads_record ORDER BY rid "
           "DESC LIMIT 2000)");
  long nSlice = B_INSERTS / B_SLICES;
  double tf = 0, tp = 0;
  unsigned long long uRng = 0x2545F4914F6CDD1DULL;
  unsigned char *aBlob;
  sqlite3_stmt *pRow, *pPlain, *pRec, *pBegin, *pCommit;
  exec(dbP, "CREATE TABLE floor_rec(rid INTEGER PRIMARY KEY, lid INTEGER, "
            "counter INTEGER, data BLOB, UNIQUE(lid, counter))");
  pRow = prepare(dbP, zInsPlain);
  pPlain = prepare(dbP, zInsPlain);
  pRec = prepare(dbP, "INSERT INTO floor_rec(lid, counter, data) "
                      "VALUES (1, ?, ?)");
  pBegin = prepare(dbP, "BEGIN");
  pCommit = prepare(dbP, "COMMIT");
  aBlob = malloc((size_t)nBytes);
  if (aBlob == NULL) {
    die(NULL, "malloc");
  }
  for (sqlite3_int64 i = 0; i < nBytes; i++) {
    aBlob[i] = (unsigned char)(rng_next(&uRng) >> 56); /* incompressible */
  }
  for (int s = 0; s < B_SLICES; s++) {
    long iFirst = N_ROWS + B_INSERTS + s * nSlice;
    double t0;
    if (s % 2 == 1) {
      tp += insert_rows(dbP, pPlain, iFirst + B_INSERTS, nSlice, 0);
    }
    t0 = now_s();
    for (long i = iFirst; i < iFirst + nSlice; i++) {
      char zId[24], zName[24], zEmail[32];
      sqlite3_step(pBegin);
      sqlite3_reset(pBegin);
      bind_row(pRow, i, zId, zName, zEmail);
      sqlite3_bind_int64(pRec, 1, i + 1);
      sqlite3_bind_blob(pRec, 2, aBlob, (int)nBytes, SQLITE_STATIC);
      if (sqlite3_step(pRow) != SQLITE_DONE ||
          sqlite3_step(pRec) != SQLITE_DONE ||
          sqlite3_step(pCommit) != SQLITE_DONE) {
        die(dbP, "floor insert");
      }
      sqlite3_reset(pRow);
      sqlite3_reset(pRec);
      sqlite3_reset(pCommit);
    }
    tf += now_s() - t0;
    if (s % 2 == 0) {
      tp += insert_rows(dbP, pPlain, iFirst + B_INSERTS, nSlice, 0);
    }
  }
  printf("  floor: plain row + a %lld-byte record row with its (log, counter) "
         "key per commit  %8.0f txn/s  plain %8.0f rows/s  ratio %.2f\n",
         (long long)nBytes, (double)B_INSERTS / tf, (double)B_INSERTS / tp,
         tf / tp);
  free(aBlob);
  sqlite3_finalize(pRow);
  sqlite3_finalize(pPlain);
  sqlite3_finalize(pRec);
  sqlite3_finalize(pBegin);
  sqlite3_finalize(pCommit);
  return tf / tp;
}

static const char *verdict(double ratio, double goal) {
  return ratio <= goal ? "PASS" : "MISS";
}

int main(void) {
  char zBase[] = "/tmp/bench-collection-XXXXXX";
  char zColl[96], zPlain[96];
  sqlite3 *dbC, *dbP;
  int fd = mkstemp(zBase);
  double aRatio[A_ROUNDS], aTc[A_ROUNDS], aTp[A_ROUNDS];
  double ratioA, ratioB, ratioFloor, aRatioC[3];
  sqlite3_int64 nRecA = 0, nRec0;

  if (fd < 0) {
    perror("mkstemp");
    return 2;
  }
  close(fd);
  unlink(zBase);
  snprintf(zColl, sizeof(zColl), "%s-coll.db", zBase);
  snprintf(zPlain, sizeof(zPlain), "%s-plain.db", zBase);
  dbC = open_db(zColl, 1);
  dbP = open_db(zPlain, 0);
  if (sqlite3_exec(dbC, "SELECT threads_create('t')", NULL, NULL, NULL) !=
      SQLITE_OK) {
    die(dbC, "threads_create");
  }

  printf("bench_collection: collection table vs plain SQLite WITHOUT ROWID "
         "table,\n  separate files under /tmp, WAL, synchronous=NORMAL; "
         "ratio = time(collection) / time(plain)\n");

  /* (a) bulk insert. */
  printf("(a) %ld-row INSERT in one transaction, %d rounds, fresh tables "
         "each:\n",
         N_ROWS, A_ROUNDS);
  for (int r = 0; r < A_ROUNDS; r++) {
    sqlite3_int64 nRec = 0;
    if (r % 2 == 0) {
      aTc[r] = bulk_coll(dbC, r, &nRec);
      aTp[r] = bulk_plain(dbP);
    } else {
      aTp[r] = bulk_plain(dbP);
      aTc[r] = bulk_coll(dbC, r, &nRec);
    }
    nRecA += nRec;
    aRatio[r] = aTc[r] / aTp[r];
    printf("  round %d  collection %8.0f rows/s  plain %8.0f rows/s  "
           "ratio %.2f  (+%lld record)\n",
           r + 1, (double)N_ROWS / aTc[r], (double)N_ROWS / aTp[r], aRatio[r],
           (long long)nRec);
  }
  ratioA = median(aRatio, A_ROUNDS);
  printf("  median: collection %8.0f rows/s  plain %8.0f rows/s  ratio %.2f\n",
         (double)N_ROWS / median(aTc, A_ROUNDS),
         (double)N_ROWS / median(aTp, A_ROUNDS), ratioA);
  printf("  thread 't' records after (a): %lld (%lld from the %d bulk "
         "transactions; the others are its creation and one per collection "
         "defined)\n",
         (long long)query_int(dbC, zRecords), (long long)nRecA, A_ROUNDS);

  /* (c) reads over the last round's 100k rows, before (b) adds rows. */
  {
    static const char *const azSql[3][2] = {
        {"SELECT name FROM person WHERE _id = ?",
         "SELECT name FROM plain WHERE _id = ?"},
        {"SELECT count(*) FROM person WHERE age = ?",
         "SELECT count(*) FROM plain WHERE age = ?"},
        {"SELECT count(*) FROM person WHERE name LIKE 'n1%'",
         "SELECT count(*) FROM plain WHERE name LIKE 'n1%'"}};
    static const char *const azLabel[3] = {"lookup by _id        ",
                                           "lookup by index (age)",
                                           "scan, name LIKE 'n1%'"};
    sqlite3_stmt *aStmt[3][2];
    tally aT[3][2];
    unsigned long long aRng[3][2];
    exec(dbC, "SELECT threads_index('person', 'age')");
    exec(dbP, "CREATE INDEX plain_age ON plain(age)");
    /* Both files in the same state for reading: everything checkpointed
    ** out of the WAL and into the database file. */
    exec(dbC, "PRAGMA wal_checkpoint(TRUNCATE)");
    exec(dbP, "PRAGMA wal_checkpoint(TRUNCATE)");
    memset(aT, 0, sizeof(aT));
    for (int k = 0; k < 3; k++) {
      aStmt[k][0] = prepare(dbC, azSql[k][0]);
      aStmt[k][1] = prepare(dbP, azSql[k][1]);
      aRng[k][0] = aRng[k][1] = 0x9E3779B97F4A7C15ULL + (unsigned)k;
    }
    printf("(c) reads over %ld rows, %d interleaved rounds of %.2f s "
           "slices:\n",
           N_ROWS, C_ROUNDS, C_SLICE);
    for (int r = 0; r < C_ROUNDS; r++) {
      for (int k = 0; k < 3; k++) {
        int first = r % 2;
        read_slice(first ? dbP : dbC, aStmt[k][first], k, &aRng[k][first],
                   &aT[k][first]);
        read_slice(first ? dbC : dbP, aStmt[k][!first], k, &aRng[k][!first],
                   &aT[k][!first]);
      }
    }
    for (int k = 0; k < 3; k++) {
      double rc = tally_rate(&aT[k][0]), rp = tally_rate(&aT[k][1]);
      aRatioC[k] = rp / rc;
      printf("  %s  collection %9.0f /s  plain %9.0f /s  ratio %.2f  "
             "(%ld + %ld runs)\n",
             azLabel[k], rc, rp, aRatioC[k], aT[k][0].n, aT[k][1].n);
      sqlite3_finalize(aStmt[k][0]);
      sqlite3_finalize(aStmt[k][1]);
    }
  }

  /* (b) autocommit inserts into the same tables. */
  {
    sqlite3_stmt *pInsC = prepare(dbC, zInsColl);
    sqlite3_stmt *pInsP = prepare(dbP, zInsPlain);
    long nSlice = B_INSERTS / B_SLICES;
    double tc = 0, tp = 0;
    nRec0 = query_int(dbC, zRecords);
    for (int s = 0; s < B_SLICES; s++) {
      long iFirst = N_ROWS + s * nSlice;
      if (s % 2 == 0) {
        tc += insert_rows(dbC, pInsC, iFirst, nSlice, 0);
        tp += insert_rows(dbP, pInsP, iFirst, nSlice, 0);
      } else {
        tp += insert_rows(dbP, pInsP, iFirst, nSlice, 0);
        tc += insert_rows(dbC, pInsC, iFirst, nSlice, 0);
      }
    }
    sqlite3_finalize(pInsC);
    sqlite3_finalize(pInsP);
    ratioB = tc / tp;
    printf("(b) %ld autocommit single-row INSERTs, %d interleaved slices:\n",
           B_INSERTS, B_SLICES);
    printf("  collection %8.0f rows/s  plain %8.0f rows/s  ratio %.2f  "
           "(+%lld records)\n",
           (double)B_INSERTS / tc, (double)B_INSERTS / tp, ratioB,
           (long long)(query_int(dbC, zRecords) - nRec0));
    ratioFloor = storage_floor(dbC, dbP);
  }

  printf("summary (ratio = time(collection) / time(plain)):\n");
  printf("  (a) bulk insert, 1 txn        %5.2f x  goal <= %.1f  %s\n", ratioA,
         GOAL_WRITE, verdict(ratioA, GOAL_WRITE));
  printf("  (b) autocommit insert         %5.2f x  goal <= %.1f  %s\n", ratioB,
         GOAL_WRITE, verdict(ratioB, GOAL_WRITE));
  printf("      storage floor of (b)      %5.2f x  (plain SQLite, no crypto)\n",
         ratioFloor);
  printf("  (c) lookup by _id             %5.2f x  goal <= %.1f  %s\n",
         aRatioC[0], GOAL_READ, verdict(aRatioC[0], GOAL_READ));
  printf("  (c) lookup by indexed field   %5.2f x  goal <= %.1f  %s\n",
         aRatioC[1], GOAL_READ, verdict(aRatioC[1], GOAL_READ));
  printf("  (c) scan with LIKE filter     %5.2f x  goal <= %.1f  %s\n",
         aRatioC[2], GOAL_READ, verdict(aRatioC[2], GOAL_READ));

  if (sqlite3_close(dbC) != SQLITE_OK || sqlite3_close(dbP) != SQLITE_OK) {
    fprintf(stderr, "bench_collection: close failed\n");
  }
  if (getenv("BENCH_KEEP")) {
    printf("kept %s and %s (BENCH_KEEP)\n", zColl, zPlain);
  } else {
    remove_db(zBase, "-coll.db");
    remove_db(zBase, "-plain.db");
  }
  return 0;
}
