/*
** bench_sync.c: peer sync between processes on loopback, beside the
** baselines that bound it, measured in the same run.
**
**   (a) catch-up     a source file holds two threads with a collection
**                    each: "single", 100,000 records of one row (autocommit
**                    INSERTs), and "batched", 1,000 records of 100 rows.
**                    The source listens on tcp://127.0.0.1; for each thread
**                    a fresh process on a fresh file joins with a read
**                    invite and calls threads_sync() until it holds every
**                    record, timed from before threads_join() to the last
**                    record.  Beside it: crypto_sign_verify_detached on one
**                    core (every record received is verified once; the
**                    better of 1 s before and 1 s after), the joining
**                    process's peak RSS, and the bytes received on the
**                    loopback interface meanwhile against the size of the
**                    records (1.0 would be every record sent once).
**   (b) propagation  the source writes single rows (autocommit) into a
**                    third thread, 200 of them 20 ms apart; a peer process
**                    that joined it and listens too polls its copy of the
**                    table and stamps each row's arrival.  Latency =
**                    arrival - the stamp taken just before the INSERT
**                    (CLOCK_MONOTONIC is one clock for all processes on
**                    Linux).  Beside it: the same row INSERTed autocommit
**                    into a plain SQLite table, the collection INSERT itself
**                    (the local commit), and the polling interval.
**
** The peer processes are this program again (--child), forked and exec'ed
** at the very start, before the parent opens anything or starts a thread:
** so no lock held by one of the parent's threads is copied into them, and
** their peak RSS is their own (Linux carries ru_maxrss across exec, so a
** child forked later would start from the parent's).  They take their
** orders and give back their figures through pipes, and die with the
** parent.
**
** Goals are printed beside the figures; a missed goal is not an error.
** The exit status is non-zero only when something failed: a peer that
** stalls or times out, a wrong count, an SQL error.
*/
#include "threads.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_SINGLE 100000L   /* records of one row, thread "single" */
#define N_TXN 1000L        /* records of thread "batched" ... */
#define N_PER_TXN 100L     /* ... of this many rows each */
#define PROGRESS 20000L    /* progress line every this many rows */
#define N_LAT 200          /* single-row writes in (b) */
#define LAT_PAUSE_MS 20    /* between them */
#define LAT_SETTLE_MS 1500 /* after the peer joined, before the first */
#define POLL_US 200        /* the peer's polling interval in (b) */
#define VERIFY_S 1.0       /* seconds of signature verification */
#define CATCHUP_S 600      /* a catch-up that takes longer failed */
#define STALL_S 120        /* ... as does one with no progress this long */
#define SYNC_MS 10000      /* timeout of each threads_sync() call */
#define WAIT_CMD_S 3600    /* a child waits this long for its orders */
#define N_CHILD 3          /* catch-up single, catch-up batched, (b) */

#define GOAL_VERIFY_SHARE 0.5 /* single: records/s over verifies/s */
#define GOAL_BATCH_ROWS 100000.0
#define GOAL_RSS_MIB 64.0
#define GOAL_P50_MS 20.0
#define GOAL_P99_MS 100.0

static const char zSchema[] =
    "{\"type\":\"object\",\"properties\":{\"_id\":{\"type\":\"string\"},"
    "\"name\":{\"type\":\"string\"},\"n\":{\"type\":\"integer\"}},"
    "\"required\":[\"name\"]}";

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t) {
  struct timespec ts;
  ts.tv_sec = (time_t)t;
  ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

static int write_all(int fd, const char *z, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, z, n);
    if (k < 0 && errno == EINTR) {
      continue;
    }
    if (k <= 0) {
      return -1;
    }
    z += k;
    n -= (size_t)k;
  }
  return 0;
}

/**************************************************************************
** Failing.  In a child, the message also goes to the parent, as the line
** "error <message>", before the child exits.
*/

static const char *gzWho = "bench_sync";
static int gResFd = -1; /* a child's pipe to the parent */

static void fail(const char *zFmt, ...) {
  char zMsg[1024];
  va_list ap;
  va_start(ap, zFmt);
  vsnprintf(zMsg, sizeof(zMsg), zFmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: %s\n", gzWho, zMsg);
  if (gResFd >= 0) {
    char zLine[1100];
    int n = snprintf(zLine, sizeof(zLine), "error %s\n", zMsg);
    for (int i = 6; i < n - 1; i++) { /* one line */
      if (zLine[i] == '\n') {
        zLine[i] = ' ';
      }
    }
    write_all(gResFd, zLine, strlen(zLine));
  }
  exit(1);
}

/**************************************************************************
** SQL helpers; any failure is fatal to the process.
*/

static void exec(sqlite3 *db, const char *zSql) {
  char *zErr = NULL;
  if (sqlite3_exec(db, zSql, NULL, NULL, &zErr) != SQLITE_OK) {
    fail("%s: %s", zSql, zErr ? zErr : sqlite3_errmsg(db));
  }
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *zSql) {
  sqlite3_stmt *pStmt = NULL;
  if (sqlite3_prepare_v2(db, zSql, -1, &pStmt, NULL) != SQLITE_OK) {
    fail("prepare %s: %s", zSql, sqlite3_errmsg(db));
  }
  return pStmt;
}

/* The first column of the single row of zSql with text parameter zArg
** (when not NULL), as an integer. */
static sqlite3_int64 query_int(sqlite3 *db, const char *zSql,
                               const char *zArg) {
  sqlite3_stmt *pStmt = prepare(db, zSql);
  sqlite3_int64 v;
  if (zArg) {
    sqlite3_bind_text(pStmt, 1, zArg, -1, SQLITE_STATIC);
  }
  if (sqlite3_step(pStmt) != SQLITE_ROW) {
    fail("%s: %s", zSql, sqlite3_errmsg(db));
  }
  v = sqlite3_column_int64(pStmt, 0);
  sqlite3_finalize(pStmt);
  return v;
}

/* The same as text, in memory from malloc(). */
static char *query_text(sqlite3 *db, const char *zSql, const char *zArg) {
  sqlite3_stmt *pStmt = prepare(db, zSql);
  const char *z;
  char *zOut;
  if (zArg) {
    sqlite3_bind_text(pStmt, 1, zArg, -1, SQLITE_STATIC);
  }
  if (sqlite3_step(pStmt) != SQLITE_ROW ||
      (z = (const char *)sqlite3_column_text(pStmt, 0)) == NULL) {
    fail("%s: %s", zSql, sqlite3_errmsg(db));
  }
  zOut = strdup(z);
  if (zOut == NULL) {
    fail("out of memory");
  }
  sqlite3_finalize(pStmt);
  return zOut;
}

static sqlite3 *open_db(const char *zPath, int bThreads) {
  sqlite3 *db = NULL;
  char *zErr = NULL;
  if (sqlite3_open(zPath, &db) != SQLITE_OK) {
    fail("open %s: %s", zPath, db ? sqlite3_errmsg(db) : "out of memory");
  }
  sqlite3_busy_timeout(db, 10000);
  exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
  if (bThreads && sqlite3_threads_init(db, &zErr, NULL) != SQLITE_OK) {
    fail("sqlite3_threads_init: %s", zErr ? zErr : "?");
  }
  return db;
}

static void remove_db(const char *zPath) {
  static const char *const azExt[] = {"", "-wal", "-shm"};
  char zName[256];
  for (int i = 0; i < 3; i++) {
    snprintf(zName, sizeof(zName), "%s%s", zPath, azExt[i]);
    unlink(zName);
  }
}

/* Listen on tcp://127.0.0.1:<port>, the port picked from the pid and
** moved on while the one tried is taken.  Returns the address. */
static char *listen_somewhere(sqlite3 *db) {
  sqlite3_stmt *pStmt = prepare(db, "SELECT threads_listen(?)");
  int port = 20000 + (int)(getpid() % 20000);
  char zUrl[64];
  for (int k = 0; k < 100; k++) {
    snprintf(zUrl, sizeof(zUrl), "tcp://127.0.0.1:%d", port + k);
    sqlite3_bind_text(pStmt, 1, zUrl, -1, SQLITE_STATIC);
    if (sqlite3_step(pStmt) == SQLITE_ROW) {
      char *z = strdup(zUrl);
      sqlite3_finalize(pStmt);
      if (z == NULL) {
        fail("out of memory");
      }
      return z;
    }
    sqlite3_reset(pStmt);
  }
  fail("threads_listen: no free port from %d to %d: %s", port, port + 99,
       sqlite3_errmsg(db));
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The p-quantile (0 < p <= 1) of a[0..n-1] by nearest rank; sorts a. */
static double quantile(double *a, int n, double p) {
  int k = (int)(p * n + 0.999999);
  qsort(a, (size_t)n, sizeof(double), cmp_double);
  if (k < 1) {
    k = 1;
  }
  return a[(k > n ? n : k) - 1];
}

/* The peak RSS in KiB by getrusage, and by VmHWM (this image only). */
static void peak_rss(long *pnMaxRss, long *pnHwm) {
  struct rusage ru;
  FILE *f = fopen("/proc/self/status", "r");
  char zLine[256];
  *pnMaxRss = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
  *pnHwm = -1;
  while (f && fgets(zLine, sizeof(zLine), f)) {
    if (strncmp(zLine, "VmHWM:", 6) == 0) {
      *pnHwm = atol(zLine + 6);
    }
  }
  if (f) {
    fclose(f);
  }
}

/* Bytes received so far on the loopback interface, by every process of
** the machine; -1 when unknown. */
static long long loopback_bytes(void) {
  FILE *f = fopen("/proc/net/dev", "r");
  char zLine[512];
  long long n = -1;
  while (f && fgets(zLine, sizeof(zLine), f)) {
    char *z = zLine;
    while (*z == ' ') {
      z++;
    }
    if (strncmp(z, "lo:", 3) == 0) {
      n = atoll(z + 3);
    }
  }
  if (f) {
    fclose(f);
  }
  return n;
}

/**************************************************************************
** The children.
**
** A child reads one order line from its command pipe:
**
**   catchup <db file> <thread ID> <records> <table> <invite>
**       join, sync until the thread holds <records>, count the rows of
**       <table>; answers "ok <seconds> <join seconds> <syncs> <records>
**       <rows> <ru_maxrss KiB> <VmHWM KiB>".
**   latency <db file> <thread ID> <rows> <seconds> <invite>
**       listen, join; answers "ready <join seconds> <its address>"; then
**       polls max(n) of latency_rows until it reaches <rows> or <seconds>
**       pass, and answers one line "seen <n> <CLOCK_MONOTONIC seconds>"
**       per row seen, then "done <polls> <seconds polled>".
**
** or an error line "error <message>".
*/

static char *child_read_order(int fd) {
  static char zLine[4096];
  size_t n = 0;
  double tEnd = now_s() + WAIT_CMD_S;
  while (n + 1 < sizeof(zLine)) {
    struct pollfd pfd = {fd, POLLIN, 0};
    ssize_t k;
    if (now_s() > tEnd) {
      fail("no orders from the parent in %d s", WAIT_CMD_S);
    }
    if (poll(&pfd, 1, 1000) <= 0) {
      continue;
    }
    k = read(fd, zLine + n, 1);
    if (k < 0 && errno == EINTR) {
      continue;
    }
    if (k <= 0) {
      return NULL; /* the parent has nothing for this child */
    }
    if (zLine[n] == '\n') {
      zLine[n] = 0;
      return zLine;
    }
    n++;
  }
  fail("order line too long");
  return NULL;
}

static void child_answer(const char *zFmt, ...) {
  char zLine[512];
  va_list ap;
  va_start(ap, zFmt);
  vsnprintf(zLine, sizeof(zLine), zFmt, ap);
  va_end(ap);
  if (write_all(gResFd, zLine, strlen(zLine)) != 0) {
    fprintf(stderr, "%s: cannot answer the parent: %s\n", gzWho,
            strerror(errno));
    exit(1);
  }
}

/* Join with zInvite (a thread ID must come back: zTid). */
static void child_join(sqlite3 *db, const char *zInvite, const char *zTid) {
  char *zGot = query_text(db, "SELECT threads_join(?)", zInvite);
  if (strcmp(zGot, zTid) != 0) {
    fail("threads_join returned %s, expected %s", zGot, zTid);
  }
  free(zGot);
}

static void child_catchup(sqlite3 *db, const char *zTid, sqlite3_int64 nWant,
                          const char *zTable, const char *zInvite) {
  sqlite3_stmt *pRec, *pSync;
  sqlite3_int64 nHave, nLast = -1, nRows;
  double t0 = now_s(), tJoin, tProgress, tPrinted, t;
  long nMaxRss, nHwm;
  int nSync = 0;
  char *zSql;

  child_join(db, zInvite, zTid);
  tJoin = now_s() - t0;
  tProgress = tPrinted = now_s();
  pRec = prepare(db, "SELECT records FROM threads WHERE thread = ?");
  pSync = prepare(db, "SELECT threads_sync(?, ?)");
  sqlite3_bind_text(pRec, 1, zTid, -1, SQLITE_STATIC);
  sqlite3_bind_text(pSync, 1, zTid, -1, SQLITE_STATIC);
  sqlite3_bind_int(pSync, 2, SYNC_MS);
  for (;;) {
    if (sqlite3_step(pRec) != SQLITE_ROW) {
      fail("records of %s: %s", zTid, sqlite3_errmsg(db));
    }
    nHave = sqlite3_column_int64(pRec, 0);
    sqlite3_reset(pRec);
    t = now_s();
    if (nHave >= nWant) {
      break;
    }
    if (nHave != nLast) {
      nLast = nHave;
      tProgress = t;
    }
    if (t - tPrinted >= 5.0) {
      fprintf(stderr, "  %s: %lld of %lld records after %.1f s\n", gzWho,
              (long long)nHave, (long long)nWant, t - t0);
      tPrinted = t;
    }
    if (t - t0 > CATCHUP_S) {
      fail("timeout: %lld of %lld records after %.0f s (join %.1f s, %d "
           "syncs)",
           (long long)nHave, (long long)nWant, t - t0, tJoin, nSync);
    }
    if (t - tProgress > STALL_S) {
      fail("stalled: %lld of %lld records, none new in %d s (join %.1f s, "
           "%d syncs)",
           (long long)nHave, (long long)nWant, STALL_S, tJoin, nSync);
    }
    if (nSync == 0) {
      fprintf(stderr,
              "  %s: threads_join took %.2f s and left %lld of %lld "
              "records\n",
              gzWho, tJoin, (long long)nHave, (long long)nWant);
    }
    if (sqlite3_step(pSync) != SQLITE_ROW) {
      fail("threads_sync: %s", sqlite3_errmsg(db));
    }
    fprintf(stderr, "  %s: threads_sync returned %lld after %.2f s\n", gzWho,
            (long long)sqlite3_column_int64(pSync, 0), now_s() - t);
    sqlite3_reset(pSync);
    nSync++;
  }
  t = now_s() - t0;
  sqlite3_finalize(pRec);
  sqlite3_finalize(pSync);
  if (nHave != nWant) {
    fail("holds %lld records, the source %lld", (long long)nHave,
         (long long)nWant);
  }
  zSql = sqlite3_mprintf("SELECT count(*) FROM \"%w\"", zTable);
  nRows = query_int(db, zSql, NULL);
  sqlite3_free(zSql);
  peak_rss(&nMaxRss, &nHwm);
  child_answer("ok %.6f %.6f %d %lld %lld %ld %ld\n", t, tJoin, nSync,
               (long long)nHave, (long long)nRows, nMaxRss, nHwm);
}

static void child_latency(sqlite3 *db, const char *zTid, int nRow, double tMax,
                          const char *zInvite) {
  sqlite3_stmt *pMax = NULL;
  double *aSeen = calloc((size_t)nRow + 1, sizeof(double));
  double t0, tEnd, tPoll;
  sqlite3_int64 nLast = 0;
  long nPoll = 0;
  char *zAddr;

  if (aSeen == NULL) {
    fail("out of memory");
  }
  zAddr = listen_somewhere(db); /* so the writer learns where to push */
  t0 = now_s();
  child_join(db, zInvite, zTid);
  /* The table is mounted when the collection's definition arrives, which
  ** the join pulls; allow the node a moment all the same. */
  tEnd = now_s() + 10;
  while (sqlite3_prepare_v2(db, "SELECT max(n) FROM latency_rows", -1, &pMax,
                            NULL) != SQLITE_OK) {
    if (now_s() > tEnd) {
      fail("latency_rows is not mounted 10 s after the join: %s",
           sqlite3_errmsg(db));
    }
    sleep_until(now_s() + 0.05);
  }
  child_answer("ready %.6f %s\n", now_s() - t0, zAddr);
  free(zAddr);

  tPoll = now_s();
  tEnd = tPoll + tMax;
  while (nLast < nRow && now_s() < tEnd) {
    int rc = sqlite3_step(pMax);
    if (rc == SQLITE_ROW) {
      sqlite3_int64 v = sqlite3_column_int64(pMax, 0);
      if (v > nLast) {
        double t = now_s();
        for (sqlite3_int64 i = nLast + 1; i <= v && i <= nRow; i++) {
          aSeen[i] = t;
        }
        nLast = v;
      }
    } else if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
      fail("polling latency_rows: %s", sqlite3_errmsg(db));
    }
    sqlite3_reset(pMax);
    nPoll++;
    sleep_until(now_s() + POLL_US / 1e6);
  }
  tPoll = now_s() - tPoll;
  sqlite3_finalize(pMax);
  for (int i = 1; i <= nRow; i++) {
    if (aSeen[i] > 0) {
      child_answer("seen %d %.9f\n", i, aSeen[i]);
    }
  }
  child_answer("done %ld %.6f\n", nPoll, tPoll);
  free(aSeen);
}

static int child_main(int fdCmd, int fdRes) {
  char *zOrder, *zSave = NULL, *zKind, *zFile, *zTid, *zA, *zB, *zInvite;
  sqlite3 *db;
  gResFd = fdRes;
  gzWho = "bench_sync child";
  zOrder = child_read_order(fdCmd);
  if (zOrder == NULL) {
    return 0;
  }
  zKind = strtok_r(zOrder, " ", &zSave);
  zFile = strtok_r(NULL, " ", &zSave);
  zTid = strtok_r(NULL, " ", &zSave);
  zA = strtok_r(NULL, " ", &zSave);
  zB = strtok_r(NULL, " ", &zSave);
  zInvite = strtok_r(NULL, " ", &zSave);
  if (zInvite == NULL) {
    fail("bad order");
  }
  if (sodium_init() < 0) {
    fail("sodium_init failed");
  }
  remove_db(zFile); /* a fresh file */
  db = open_db(zFile, 1);
  if (strcmp(zKind, "catchup") == 0) {
    child_catchup(db, zTid, atoll(zA), zB, zInvite);
  } else if (strcmp(zKind, "latency") == 0) {
    child_latency(db, zTid, atoi(zA), atof(zB), zInvite);
  } else {
    fail("unknown order %s", zKind);
  }
  if (sqlite3_close(db) != SQLITE_OK) {
    fail("close: %s", sqlite3_errmsg(db));
  }
  close(fdRes);
  return 0;
}

/**************************************************************************
** The parent's side of the children.
*/

typedef struct child child;
struct child {
  pid_t pid;
  int fdCmd;  /* orders, to the child */
  int fdRes;  /* answers, from the child */
  char *zBuf; /* answer bytes not yet returned as lines */
  size_t nBuf, nAlloc;
  int bEof;
  char zDb[128]; /* the child's database file */
};

static child gaChild[N_CHILD];
static char gzSource[128], gzPlain[128];

static void spawn_child(child *c) {
  int aCmd[2], aRes[2];
  char zCmd[16], zRes[16];
  pid_t parent = getpid();
  if (pipe2(aCmd, O_CLOEXEC) != 0 || pipe2(aRes, O_CLOEXEC) != 0) {
    fail("pipe: %s", strerror(errno));
  }
  snprintf(zCmd, sizeof(zCmd), "%d", aCmd[0]);
  snprintf(zRes, sizeof(zRes), "%d", aRes[1]);
  c->pid = fork();
  if (c->pid < 0) {
    fail("fork: %s", strerror(errno));
  }
  if (c->pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with the parent */
    if (getppid() != parent) {
      _exit(1);
    }
    fcntl(aCmd[0], F_SETFD, 0); /* these two only survive exec */
    fcntl(aRes[1], F_SETFD, 0);
    execl("/proc/self/exe", "bench_sync", "--child", zCmd, zRes, (char *)NULL);
    _exit(127);
  }
  close(aCmd[0]);
  close(aRes[1]);
  c->fdCmd = aCmd[1];
  c->fdRes = aRes[0];
}

/* The child's next answer line, in memory from malloc(); NULL at its end
** or when tEnd passes (then c->bEof is still 0). */
static char *child_line(child *c, double tEnd) {
  for (;;) {
    char *pNl = c->nBuf ? memchr(c->zBuf, '\n', c->nBuf) : NULL;
    struct pollfd pfd = {c->fdRes, POLLIN, 0};
    double tLeft = tEnd - now_s();
    ssize_t k;
    if (pNl) {
      size_t n = (size_t)(pNl - c->zBuf);
      char *z = malloc(n + 1);
      if (z == NULL) {
        fail("out of memory");
      }
      memcpy(z, c->zBuf, n);
      z[n] = 0;
      memmove(c->zBuf, pNl + 1, c->nBuf - n - 1);
      c->nBuf -= n + 1;
      return z;
    }
    if (c->bEof || tLeft <= 0) {
      return NULL;
    }
    if (poll(&pfd, 1, tLeft > 1 ? 1000 : (int)(tLeft * 1000) + 1) <= 0) {
      continue;
    }
    if (c->nAlloc - c->nBuf < 4096) {
      char *zNew = realloc(c->zBuf, c->nAlloc + 65536);
      if (zNew == NULL) {
        fail("out of memory");
      }
      c->zBuf = zNew;
      c->nAlloc += 65536;
    }
    k = read(c->fdRes, c->zBuf + c->nBuf, c->nAlloc - c->nBuf);
    if (k < 0 && errno == EINTR) {
      continue;
    }
    if (k <= 0) {
      c->bEof = 1;
    } else {
      c->nBuf += (size_t)k;
    }
  }
}

static int child_order(child *c, const char *zOrder) {
  return write_all(c->fdCmd, zOrder, strlen(zOrder));
}

/* Close the child's pipes and reap it: a child still running after
** nGraceS seconds (0: at once) is killed. */
static void child_stop(child *c, double nGraceS) {
  double tEnd = now_s() + nGraceS;
  if (c->pid <= 0) {
    return;
  }
  if (c->fdCmd >= 0) {
    close(c->fdCmd);
    c->fdCmd = -1;
  }
  for (;;) {
    pid_t r = waitpid(c->pid, NULL, WNOHANG);
    if (r == c->pid || (r < 0 && errno != EINTR)) {
      break;
    }
    if (now_s() >= tEnd) {
      kill(c->pid, SIGKILL);
      waitpid(c->pid, NULL, 0);
      break;
    }
    sleep_until(now_s() + 0.01);
  }
  c->pid = 0;
  if (c->fdRes >= 0) {
    close(c->fdRes);
    c->fdRes = -1;
  }
  free(c->zBuf);
  c->zBuf = NULL;
  c->nBuf = c->nAlloc = 0;
}

/* Every file the run may create, with its -wal and -shm, named before
** the run starts so that a signal handler can remove them. */
#define N_FILE ((N_CHILD + 2) * 3)
static char gazFile[N_FILE][160];

static void name_files(void) {
  static const char *const azExt[] = {"", "-wal", "-shm"};
  for (int k = 0; k < 3; k++) {
    for (int i = 0; i < N_CHILD; i++) {
      snprintf(gazFile[i * 3 + k], sizeof(gazFile[0]), "%s%s", gaChild[i].zDb,
               azExt[k]);
    }
    snprintf(gazFile[N_CHILD * 3 + k], sizeof(gazFile[0]), "%s%s", gzSource,
             azExt[k]);
    snprintf(gazFile[N_CHILD * 3 + 3 + k], sizeof(gazFile[0]), "%s%s", gzPlain,
             azExt[k]);
  }
}

static void remove_files(void) {
  for (int i = 0; i < N_FILE; i++) {
    if (gazFile[i][0]) {
      unlink(gazFile[i]);
    }
  }
}

static void cleanup(void) {
  for (int i = 0; i < N_CHILD; i++) {
    child_stop(&gaChild[i], 0);
  }
  remove_files();
}

/* SIGINT, SIGTERM, SIGHUP: the children and the files go, then this
** process, by the signal (kill, unlink and raise only: safe here). */
static void on_signal(int sig) {
  for (int i = 0; i < N_CHILD; i++) {
    if (gaChild[i].pid > 0) {
      kill(gaChild[i].pid, SIGKILL);
    }
  }
  remove_files();
  signal(sig, SIG_DFL);
  raise(sig);
}

/**************************************************************************
** The parent: the source, the baselines and the report.
*/

/* crypto_sign_verify_detached of a real signature on a 200-byte message,
** on this core, for about nSec seconds; verifications per second. */
static double verify_rate(double nSec) {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  unsigned char aMsg[200], sig[crypto_sign_BYTES];
  long n = 0;
  double t0, t;
  crypto_sign_keypair(pk, sk);
  randombytes_buf(aMsg, sizeof(aMsg));
  crypto_sign_detached(sig, NULL, aMsg, sizeof(aMsg), sk);
  t0 = now_s();
  do {
    for (int i = 0; i < 64; i++) {
      if (crypto_sign_verify_detached(sig, aMsg, sizeof(aMsg), pk) != 0) {
        fail("crypto_sign_verify_detached refused a good signature");
      }
    }
    n += 64;
    t = now_s() - t0;
  } while (t < nSec);
  sodium_memzero(sk, sizeof(sk));
  return (double)n / t;
}

static void make_thread(sqlite3 *db, const char *zName, const char *zTable) {
  char *zSql = sqlite3_mprintf(
      "SELECT threads_create(%Q);"
      "CREATE VIRTUAL TABLE \"%w\" USING threads(thread=%Q, schema=%Q)",
      zName, zTable, zName, zSchema);
  exec(db, zSql);
  sqlite3_free(zSql);
}

static void insert_row(sqlite3 *db, sqlite3_stmt *pIns, long n) {
  char zName[32];
  snprintf(zName, sizeof(zName), "row %ld", n);
  sqlite3_bind_text(pIns, 1, zName, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(pIns, 2, n);
  if (sqlite3_step(pIns) != SQLITE_DONE) {
    fail("%s: %s", sqlite3_sql(pIns), sqlite3_errmsg(db));
  }
  sqlite3_reset(pIns);
}

/* Thread "single": N_SINGLE autocommit INSERTs; seconds taken. */
static double fill_single(sqlite3 *db) {
  sqlite3_stmt *pIns =
      prepare(db, "INSERT INTO single_rows(name, n) VALUES (?, ?)");
  double t0 = now_s();
  for (long i = 1; i <= N_SINGLE; i++) {
    insert_row(db, pIns, i);
    if (i % PROGRESS == 0) {
      fprintf(stderr,
              "  source: 'single' %ld of %ld autocommit INSERTs, "
              "%.1f s\n",
              i, N_SINGLE, now_s() - t0);
    }
  }
  sqlite3_finalize(pIns);
  return now_s() - t0;
}

/* Thread "batched": N_TXN transactions of N_PER_TXN rows. */
static double fill_batched(sqlite3 *db) {
  sqlite3_stmt *pIns =
      prepare(db, "INSERT INTO batched_rows(name, n) VALUES (?, ?)");
  double t0 = now_s();
  long n = 0;
  for (long k = 0; k < N_TXN; k++) {
    exec(db, "BEGIN");
    for (long i = 0; i < N_PER_TXN; i++) {
      insert_row(db, pIns, ++n);
    }
    exec(db, "COMMIT");
    if (n % PROGRESS == 0) {
      fprintf(stderr, "  source: 'batched' %ld of %ld rows, %.1f s\n", n,
              N_TXN * N_PER_TXN, now_s() - t0);
    }
  }
  sqlite3_finalize(pIns);
  return now_s() - t0;
}

typedef struct catchup catchup;
struct catchup {
  const char *zThread; /* local name at the source */
  const char *zTable;
  sqlite3_int64 nRecords, nRows; /* what the source holds */
  sqlite3_int64 nData;           /* bytes of its records' four blocks */
  double verify; /* verifications per second, the better of before and after */
  long long nWire; /* loopback bytes received meanwhile, or -1 */
  int bOk;
  double t, tJoin;
  int nSync;
  long nMaxRss, nHwm; /* KiB */
  char zErr[600];
};

/* Run (a) for one thread with child c. */
static void run_catchup(sqlite3 *db, child *c, catchup *p) {
  char *zTid =
      query_text(db, "SELECT id FROM threads WHERE name = ?", p->zThread);
  char *zInvite =
      query_text(db, "SELECT threads_invite(?, 'read')", p->zThread);
  char *zOrder, *zLine;
  long long nRec = 0, nRows = 0;
  p->nRecords =
      query_int(db, "SELECT records FROM threads WHERE thread = ?", p->zThread);
  p->nData = query_int(
      db,
      "SELECT sum(length(record) + length(event) + length(header) + "
      "length(body)) FROM _threads_record WHERE lid IN (SELECT lid FROM "
      "_threads_log l JOIN _threads_thread t USING (tid) WHERE t.name = ?)",
      p->zThread);
  p->verify = verify_rate(VERIFY_S);
  p->nWire = loopback_bytes();
  fprintf(stderr,
          "  (a) '%s': a fresh peer joins and catches up on %lld "
          "records\n",
          p->zThread, (long long)p->nRecords);
  zOrder = sqlite3_mprintf("catchup %s %s %lld %s %s\n", c->zDb, zTid,
                           (long long)p->nRecords, p->zTable, zInvite);
  if (zOrder == NULL || child_order(c, zOrder) != 0) {
    snprintf(p->zErr, sizeof(p->zErr), "cannot give the child its orders");
    zLine = NULL;
  } else {
    zLine = child_line(c, now_s() + CATCHUP_S + 60);
  }
  sqlite3_free(zOrder);
  if (p->nWire >= 0 && loopback_bytes() >= p->nWire) {
    p->nWire = loopback_bytes() - p->nWire;
  } else {
    p->nWire = -1;
  }
  if (zLine &&
      sscanf(zLine, "ok %lf %lf %d %lld %lld %ld %ld", &p->t, &p->tJoin,
             &p->nSync, &nRec, &nRows, &p->nMaxRss, &p->nHwm) == 7) {
    if (nRows != p->nRows) {
      snprintf(p->zErr, sizeof(p->zErr),
               "the peer holds %lld records but %lld rows in %s; the source "
               "%lld rows",
               nRec, nRows, p->zTable, (long long)p->nRows);
    } else {
      p->bOk = 1;
    }
  } else if (zLine && strncmp(zLine, "error ", 6) == 0) {
    snprintf(p->zErr, sizeof(p->zErr), "%s", zLine + 6);
  } else if (zLine) {
    snprintf(p->zErr, sizeof(p->zErr), "unexpected answer: %.500s", zLine);
  } else if (p->zErr[0] == 0) {
    snprintf(p->zErr, sizeof(p->zErr), "%s",
             c->bEof ? "the peer process died without an answer"
                     : "no answer in time: peer process killed");
  }
  free(zLine);
  child_stop(c, 30);
  {
    double v = verify_rate(VERIFY_S);
    if (v > p->verify) {
      p->verify = v;
    }
  }
  free(zTid);
  free(zInvite);
}

typedef struct latency latency;
struct latency {
  int bOk;
  int nSeen;
  double p50, p99, pMax;   /* ms, over the rows seen */
  double ins50, ins99;     /* the collection INSERT (local commit), ms */
  double plain50, plain99; /* the plain SQLite INSERT, ms */
  double poll;             /* the peer's mean polling interval, ms */
  double tJoin;
  char zErr[600];
};

/* Run (b) with child c. */
static void run_latency(sqlite3 *db, child *c, latency *p) {
  double aWrite[N_LAT + 1], aIns[N_LAT], aPlain[N_LAT], aLat[N_LAT];
  double tMax = N_LAT * LAT_PAUSE_MS / 1000.0 + LAT_SETTLE_MS / 1000.0 + 30;
  double tEnd, tPoll = 0;
  char *zTid = query_text(db, "SELECT id FROM threads WHERE name = ?", "lat");
  char *zInvite = query_text(db, "SELECT threads_invite(?, 'read')", "lat");
  char *zOrder, *zLine;
  sqlite3 *dbPlain;
  sqlite3_stmt *pIns, *pPlain;
  long nPoll = 0;
  int bDone = 0;

  memset(aWrite, 0, sizeof(aWrite));
  dbPlain = open_db(gzPlain, 0);
  exec(dbPlain, "CREATE TABLE plain(_id TEXT PRIMARY KEY, name TEXT, "
                "n INTEGER) WITHOUT ROWID");
  pPlain = prepare(dbPlain, "INSERT INTO plain(_id, name, n) VALUES (?,?,?)");
  pIns = prepare(db, "INSERT INTO latency_rows(name, n) VALUES (?, ?)");

  fprintf(stderr,
          "  (b) a peer joins 'lat' and listens; %d single-row "
          "writes, %d ms apart\n",
          N_LAT, LAT_PAUSE_MS);
  zOrder = sqlite3_mprintf("latency %s %s %d %.3f %s\n", c->zDb, zTid, N_LAT,
                           tMax, zInvite);
  if (zOrder == NULL || child_order(c, zOrder) != 0) {
    snprintf(p->zErr, sizeof(p->zErr), "cannot give the child its orders");
    zLine = NULL;
  } else {
    zLine = child_line(c, now_s() + 60);
  }
  sqlite3_free(zOrder);
  if (zLine == NULL || sscanf(zLine, "ready %lf", &p->tJoin) != 1) {
    if (p->zErr[0] == 0) {
      snprintf(p->zErr, sizeof(p->zErr), "peer not ready: %.500s",
               zLine     ? zLine
               : c->bEof ? "it died"
                         : "no answer in 60 s");
    }
    free(zLine);
    goto done;
  }
  free(zLine);

  /* The writer's node dials the new peer on its next tick. */
  sleep_until(now_s() + LAT_SETTLE_MS / 1000.0);
  {
    double tNext = now_s();
    for (int i = 1; i <= N_LAT; i++) {
      char zId[16], zName[32];
      double t;
      sleep_until(tNext);
      aWrite[i] = now_s();
      insert_row(db, pIns, i);
      t = now_s();
      aIns[i - 1] = t - aWrite[i];
      /* The baseline, in the pause: the same row into a plain table. */
      snprintf(zId, sizeof(zId), "r%07d", i);
      snprintf(zName, sizeof(zName), "row %d", i);
      sqlite3_bind_text(pPlain, 1, zId, -1, SQLITE_STATIC);
      sqlite3_bind_text(pPlain, 2, zName, -1, SQLITE_STATIC);
      sqlite3_bind_int(pPlain, 3, i);
      if (sqlite3_step(pPlain) != SQLITE_DONE) {
        fail("plain INSERT: %s", sqlite3_errmsg(dbPlain));
      }
      sqlite3_reset(pPlain);
      aPlain[i - 1] = now_s() - t;
      tNext = aWrite[i] + LAT_PAUSE_MS / 1000.0;
    }
  }

  /* The arrival stamps. */
  for (int i = 0; i < N_LAT; i++) {
    aLat[i] = 1e30; /* not seen */
  }
  tEnd = now_s() + tMax + 10;
  while (!bDone && (zLine = child_line(c, tEnd)) != NULL) {
    int n = 0;
    double t = 0;
    if (sscanf(zLine, "seen %d %lf", &n, &t) == 2 && n >= 1 && n <= N_LAT) {
      aLat[n - 1] = (t - aWrite[n]) * 1000;
      p->nSeen++;
    } else if (sscanf(zLine, "done %ld %lf", &nPoll, &tPoll) == 2) {
      bDone = 1;
    } else if (strncmp(zLine, "error ", 6) == 0) {
      snprintf(p->zErr, sizeof(p->zErr), "%s", zLine + 6);
    }
    free(zLine);
  }
  if (!bDone) {
    if (p->zErr[0] == 0) {
      snprintf(p->zErr, sizeof(p->zErr), "%s",
               c->bEof ? "the peer process died before it was done"
                       : "no answer in time: peer process killed");
    }
    goto done;
  }
  p->poll = nPoll ? tPoll / (double)nPoll * 1000 : 0;
  p->p50 = quantile(aLat, N_LAT, 0.50);
  p->p99 = quantile(aLat, N_LAT, 0.99);
  p->pMax = p->nSeen ? quantile(aLat, p->nSeen, 1.0) : 0;
  p->ins50 = quantile(aIns, N_LAT, 0.50) * 1000;
  p->ins99 = quantile(aIns, N_LAT, 0.99) * 1000;
  p->plain50 = quantile(aPlain, N_LAT, 0.50) * 1000;
  p->plain99 = quantile(aPlain, N_LAT, 0.99) * 1000;
  if (p->nSeen != N_LAT) {
    snprintf(p->zErr, sizeof(p->zErr),
             "the peer saw %d of the %d rows within %.0f s", p->nSeen, N_LAT,
             tMax);
  } else {
    p->bOk = 1;
  }

done:
  child_stop(c, 30);
  sqlite3_finalize(pIns);
  sqlite3_finalize(pPlain);
  sqlite3_close(dbPlain);
  free(zTid);
  free(zInvite);
}

static const char *met(int bMet) {
  return bMet ? "met" : "missed";
}

int main(int argc, char **argv) {
  sqlite3 *db;
  catchup aC[2];
  latency lat;
  double tSingle, tBatched;
  char *zAddr;
  int nFail = 0;

  if (argc == 4 && strcmp(argv[1], "--child") == 0) {
    return child_main(atoi(argv[2]), atoi(argv[3]));
  }
  if (argc != 1) {
    fprintf(stderr, "usage: %s\n", argv[0]);
    return 2;
  }

  snprintf(gzSource, sizeof(gzSource), "/tmp/bench-sync-%ld-source.db",
           (long)getpid());
  snprintf(gzPlain, sizeof(gzPlain), "/tmp/bench-sync-%ld-plain.db",
           (long)getpid());
  for (int i = 0; i < N_CHILD; i++) {
    gaChild[i].fdCmd = gaChild[i].fdRes = -1;
    snprintf(gaChild[i].zDb, sizeof(gaChild[i].zDb),
             "/tmp/bench-sync-%ld-peer%d.db", (long)getpid(), i + 1);
  }
  name_files();
  remove_files();
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGHUP, on_signal);
  atexit(cleanup);
  /* The children first, while this process is small and has one thread. */
  for (int i = 0; i < N_CHILD; i++) {
    spawn_child(&gaChild[i]);
  }
  signal(SIGPIPE, SIG_IGN); /* a dead child's pipe is an error, not a kill */
  if (sodium_init() < 0) {
    fail("sodium_init failed");
  }

  memset(aC, 0, sizeof(aC));
  memset(&lat, 0, sizeof(lat));
  aC[0].zThread = "single";
  aC[0].zTable = "single_rows";
  aC[0].nRows = N_SINGLE;
  aC[1].zThread = "batched";
  aC[1].zTable = "batched_rows";
  aC[1].nRows = N_TXN * N_PER_TXN;

  printf("bench_sync: sync between processes over tcp loopback; files under "
         "/tmp, WAL, synchronous=NORMAL; %ld cpus\n",
         sysconf(_SC_NPROCESSORS_ONLN));
  fflush(stdout);

  /* The source: three threads with a collection each. */
  db = open_db(gzSource, 1);
  make_thread(db, "single", "single_rows");
  make_thread(db, "batched", "batched_rows");
  make_thread(db, "lat", "latency_rows");
  tSingle = fill_single(db);
  tBatched = fill_batched(db);
  zAddr = listen_somewhere(db);
  printf("source: 'single' %ld autocommit INSERTs in %.1f s (%.0f records/s); "
         "'batched' %ld x %ld rows in %.1f s (%.0f rows/s); listens on %s\n",
         N_SINGLE, tSingle, N_SINGLE / tSingle, N_TXN, N_PER_TXN, tBatched,
         N_TXN * N_PER_TXN / tBatched, zAddr);
  fflush(stdout);
  free(zAddr);

  /* (a) */
  for (int k = 0; k < 2; k++) {
    run_catchup(db, &gaChild[k], &aC[k]);
  }
  printf(
      "(a) catch-up: a fresh peer process joins (read invite) and calls "
      "threads_sync() until it holds every record;\n    seconds from "
      "before threads_join() to the last record; verify/s = "
      "crypto_sign_verify_detached, 1 core (the better of 1 s before and 1 s "
      "after);\n    MB = the records' blocks at the source; wire/MB = bytes "
      "received on loopback meanwhile (all processes) / MB\n");
  printf("  %-8s %8s %8s %8s %10s %10s %10s %8s %9s %7s %6s %6s %9s\n",
         "thread", "records", "rows", "seconds", "records/s", "rows/s",
         "verify/s", "rec/ver", "peak RSS", "join s", "syncs", "MB", "wire/MB");
  for (int k = 0; k < 2; k++) {
    catchup *p = &aC[k];
    if (!p->bOk) {
      printf("  %-8s %8lld %8lld   FAILED: %s\n", p->zThread,
             (long long)p->nRecords, (long long)p->nRows, p->zErr);
      nFail++;
      continue;
    }
    printf("  %-8s %8lld %8lld %8.2f %10.0f %10.0f %10.0f %8.2f %5.1f MiB "
           "%7.2f %6d %6.1f %9.2f\n",
           p->zThread, (long long)p->nRecords, (long long)p->nRows, p->t,
           p->nRecords / p->t, p->nRows / p->t, p->verify,
           p->nRecords / p->t / p->verify, p->nMaxRss / 1024.0, p->tJoin,
           p->nSync, p->nData / 1e6,
           p->nWire >= 0 ? (double)p->nWire / (double)p->nData : -1.0);
  }
  printf("    peak RSS = the peer's getrusage ru_maxrss (VmHWM: %.1f, %.1f "
         "MiB)\n",
         aC[0].nHwm / 1024.0, aC[1].nHwm / 1024.0);
  fflush(stdout);

  /* (b) */
  run_latency(db, &gaChild[2], &lat);
  printf("(b) propagation of one autocommit INSERT to a connected peer, %d "
         "writes %d ms apart; stamp before the INSERT\n    to the peer's "
         "first poll that shows the row (CLOCK_MONOTONIC in both "
         "processes)\n",
         N_LAT, LAT_PAUSE_MS);
  if (!lat.bOk && lat.nSeen == 0) {
    printf("  FAILED: %s\n", lat.zErr);
    nFail++;
  } else {
    if (!lat.bOk) {
      printf("  FAILED: %s (figures below count the missing as late)\n",
             lat.zErr);
      nFail++;
    }
    printf("  %-38s %8s %8s %8s\n", "", "p50 ms", "p99 ms", "max ms");
    printf("  %-38s %8.2f %8.2f %8.2f\n", "write to the peer's table", lat.p50,
           lat.p99, lat.pMax);
    printf("  %-38s %8.3f %8.3f\n", "collection INSERT (local commit)",
           lat.ins50, lat.ins99);
    printf("  %-38s %8.3f %8.3f\n", "plain SQLite INSERT, same row",
           lat.plain50, lat.plain99);
    printf("  peer's polling interval %.3f ms (mean, %.3f ms asked); peer's "
           "join %.2f s\n",
           lat.poll, POLL_US / 1000.0, lat.tJoin);
  }

  printf("goals (a missed goal is reported, not an error):\n");
  if (aC[0].bOk) {
    double r = aC[0].nRecords / aC[0].t / aC[0].verify;
    double mib = aC[0].nMaxRss / 1024.0;
    printf("  (a) single: records/s >= %.2f x verify/s   %5.2f x  %s\n",
           GOAL_VERIFY_SHARE, r, met(r >= GOAL_VERIFY_SHARE));
    printf("  (a) single: peer's peak RSS < %.0f MiB      %5.1f MiB  %s\n",
           GOAL_RSS_MIB, mib, met(mib < GOAL_RSS_MIB));
  } else {
    printf("  (a) single: FAILED, goals not measured\n");
  }
  if (aC[1].bOk) {
    double r = aC[1].nRows / aC[1].t;
    printf("  (a) batched: rows/s >= %.0f            %8.0f  %s\n",
           GOAL_BATCH_ROWS, r, met(r >= GOAL_BATCH_ROWS));
  } else {
    printf("  (a) batched: FAILED, goal not measured\n");
  }
  if (lat.nSeen > 0) {
    printf("  (b) p50 < %.0f ms                          %7.2f ms  %s\n",
           GOAL_P50_MS, lat.p50, met(lat.p50 < GOAL_P50_MS));
    printf("  (b) p99 < %.0f ms                         %7.2f ms  %s\n",
           GOAL_P99_MS, lat.p99, met(lat.p99 < GOAL_P99_MS));
  } else {
    printf("  (b) FAILED, goals not measured\n");
  }
  fflush(stdout);

  if (sqlite3_close(db) != SQLITE_OK) {
    fprintf(stderr, "bench_sync: close failed\n");
  }
  return nFail ? 1 : 0;
}
