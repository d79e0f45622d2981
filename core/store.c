/*
** store.c: the event store, in internal tables of the user's database.
**
** SCHEMA (all names start with "_threads_")
**
**   _threads_meta(key TEXT PRIMARY KEY, value)
**       'format'   -> 1
**       'identity' -> 32-byte Ed25519 seed of this peer (created on first
**                     use; the database file is the peer's key store)
**   _threads_thread(tid INTEGER PRIMARY KEY, id BLOB UNIQUE,
**                   name TEXT UNIQUE, service BLOB, read BLOB,
**                   created INTEGER)
**       one row per thread known here; read is NULL for followers.
**   _threads_log(lid INTEGER PRIMARY KEY, tid, pk BLOB, own INTEGER,
**                author BLOB, UNIQUE(tid, pk))
**       one row per (thread, writer); pk is the log's Ed25519 public key
**       (the log ID), author the Ed25519 public key of the identity that
**       writes it.  own = 1 for the log this identity writes.
**   _threads_heads (a view): _threads_log's columns plus head, the CID
**       bytes of the log's newest record, and counter, its number.  Heads
**       are read from the records (the (lid, counter) index finds the
**       newest in one step) rather than stored: an append then writes no
**       log row, one page less per commit.
**   _threads_record(rid INTEGER PRIMARY KEY, lid, counter, cid BLOB,
**                   prev BLOB, author BLOB, time INTEGER,
**                   record BLOB, event BLOB, header BLOB, body BLOB,
**                   UNIQUE(lid, counter))
**       one row per record with its four blocks exactly as stored.  cid
**       names the record block (heads and prev links use it); the other
**       blocks' CIDs are their links inside the record and the event, and
**       are recomputed from the bytes whenever it matters (verify, export).
**       author is the writer identity's public key, time the header time
**       when this peer can read it.  Keyed by (log, counter), an append
**       writes at the end of one B-tree instead of at four random places,
**       which is what keeps appends close to signing speed.
**
**   _threads_peer(tid, addr TEXT, peer BLOB, last_contact INTEGER, sent,
**                 recv, rejected, last_error TEXT, learned INTEGER,
**                 via BLOB, tries INTEGER, tried INTEGER, added INTEGER,
**                 PRIMARY KEY(tid, addr))
**       the sync node's peer addresses per thread (from invites and
**       discovery), the log key each announced, and its counters
**       (threads_peers shows them).  learned = 0 for an address the user
**       gave (an invite's, or a row written by hand), 1 for one learned
**       from a peer, via naming the peer that announced it; tries counts
**       the failed dials since its last answer (tried: the last, unix
**       ms), added when it was learned.  net/peers.c has the rules that
**       use them.  A file from before these five columns gains them when a
**       connection sets the tables up (its rows count as given).
**   _threads_reject(tid, reason TEXT, n, PRIMARY KEY(tid, reason))
**       records refused from peers, counted by the check that failed
**       (threads_rejects).
**   _threads_own(tid, gen INTEGER, salt BLOB, pk BLOB, dev INTEGER,
**                ino INTEGER, path TEXT, created INTEGER,
**                PRIMARY KEY(tid, gen))
**       the logs this file has written in each thread, one generation
**       each (see "File identity" below): the salt of its key (NULL for
**       generation 0, see identity.c), its public key, and the identity of
**       the file that started it (st_dev, st_ino, and the main database's
**       path as sqlite3_db_filename() gives it).
**
** FILE IDENTITY
**
**   A database file copied elsewhere (sqlite3's .backup, VACUUM INTO, cp,
**   a backup restored on another device) holds the same identity and keys
**   as the original; if both went on writing the same log, the log would
**   fork: two records at one counter.  So before each write the store
**   compares this connection's file (st_dev, st_ino, path, taken once per
**   connection) with the identity recorded with the thread's newest
**   generation.  When they differ the file is not the one that wrote that
**   log: it starts generation n + 1, a new log, and writes there from now
**   on.  The old logs stay readable and are served as before.
**   - A renamed or moved file also starts a new log (one more log in the
**     thread, nothing else), and so does a file whose device number
**     changes (some removable and network file systems renumber at each
**     mount), or one that is reached by two paths (hard links, bind
**     mounts) alternately.
**   - In-memory and temporary databases have the identity (0, 0, ""): a
**     .backup of one to a file starts a new log there.
**   - The identity lives in the database, so it travels in the WAL like
**     any row; dev and ino are those of the main file.
**   - A file written before generations existed has no row: its first
**     write records generation 0 with the file's identity and goes on
**     with its log.
**   - A copy that keeps path and inode (a VM snapshot, cp over the same
**     file, an in-place .restore) is not caught here; the fork that
**     follows is caught and resolved by the sync (core/fork.c).
**
** A record and its blocks (and, for a new log, its log row) are written
** inside one SAVEPOINT, so they are stored together or not at all, and an
*append
** inside the user's own transaction commits or rolls back with it.
*/
#include "thr_core.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

/* Prepared statements cached on the store, one per slot. */
enum {
  STMT_THREAD_BY_ID,
  STMT_THREAD_BY_NAME,
  STMT_APPEND_CTX,
  STMT_INS_LOG,
  STMT_LOG_LID,
  STMT_INS_RECORD,
  STMT_SAVEPOINT,
  STMT_RELEASE,
  STMT_ROLLBACK_TO,
  STMT_IDENTITY,
  STMT_SET_IDENTITY,
  STMT_SCHEMA_VERSION,
  STMT_OWN_CUR,
  STMT_OWN_INS,
  STMT_OWN_FLAGS,
  STMT_COUNT
};

static const char *const azStmt[STMT_COUNT] = {
    "SELECT tid, service, read FROM _threads_thread WHERE id = ?1",
    "SELECT id FROM _threads_thread WHERE name = ?1",
    /* The thread's keys, this file's newest log generation (see "FILE
    ** IDENTITY"; generation 0, ?2, when none is recorded), its log row and
    ** head: what an append needs, in one step. */
    "SELECT t.tid, t.service, t.read, l.lid, r.cid, r.counter,"
    " o.gen, o.salt, o.dev, o.ino, o.path"
    " FROM _threads_thread t LEFT JOIN _threads_own o ON o.tid = t.tid"
    " AND o.gen = (SELECT max(gen) FROM _threads_own WHERE tid = t.tid)"
    " LEFT JOIN _threads_log l ON l.tid = t.tid AND l.pk = coalesce(o.pk, ?2)"
    " LEFT JOIN _threads_record r ON r.rid = (SELECT rid FROM"
    " _threads_record WHERE lid = l.lid ORDER BY counter DESC LIMIT 1)"
    " WHERE t.id = ?1",
    "INSERT INTO _threads_log(tid, pk, own, author) VALUES (?1, ?2, ?3, ?4)",
    "SELECT lid FROM _threads_log WHERE tid = ?1 AND pk = ?2",
    "INSERT INTO _threads_record(lid, counter, cid, prev, author, time, "
    "record, event, header, body) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    "SAVEPOINT _threads_w",
    "RELEASE _threads_w",
    "ROLLBACK TO _threads_w",
    "SELECT value FROM _threads_meta WHERE key = 'identity'",
    "INSERT INTO _threads_meta(key, value) VALUES ('identity', ?1)",
    "PRAGMA main.schema_version",
    "SELECT t.tid, o.gen, o.salt, o.dev, o.ino, o.path"
    " FROM _threads_thread t LEFT JOIN _threads_own o ON o.tid = t.tid"
    " WHERE t.id = ?1 ORDER BY o.gen DESC LIMIT 1",
    "INSERT INTO _threads_own(tid, gen, salt, pk, dev, ino, path, created)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    "UPDATE _threads_log SET own = (pk = ?2) WHERE tid = ?1 AND (own OR pk = "
    "?2)",
};

static const char zSchema[] =
    "CREATE TABLE IF NOT EXISTS _threads_meta("
    "  key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS _threads_thread("
    "  tid INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, name TEXT UNIQUE,"
    "  service BLOB NOT NULL, read BLOB, created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS _threads_log("
    "  lid INTEGER PRIMARY KEY, tid INTEGER NOT NULL, pk BLOB NOT NULL,"
    "  own INTEGER NOT NULL DEFAULT 0, author BLOB, UNIQUE(tid, pk));"
    "CREATE TABLE IF NOT EXISTS _threads_record("
    "  rid INTEGER PRIMARY KEY, lid INTEGER NOT NULL,"
    "  counter INTEGER NOT NULL, cid BLOB NOT NULL, prev BLOB, author BLOB,"
    "  time INTEGER, record BLOB NOT NULL, event BLOB, header BLOB, body BLOB,"
    "  UNIQUE(lid, counter));"
    "CREATE VIEW IF NOT EXISTS _threads_heads AS"
    "  SELECT l.lid AS lid, l.tid AS tid, l.pk AS pk, l.own AS own,"
    "  l.author AS author, r.cid AS head, coalesce(r.counter, 0) AS counter"
    "  FROM _threads_log l LEFT JOIN _threads_record r ON r.rid ="
    "  (SELECT rid FROM _threads_record WHERE lid = l.lid"
    "  ORDER BY counter DESC LIMIT 1);"
    "CREATE TABLE IF NOT EXISTS _threads_collection("
    "  tid INTEGER NOT NULL, name TEXT NOT NULL, schema TEXT NOT NULL,"
    "  PRIMARY KEY(tid, name)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS _threads_view("
    "  view TEXT PRIMARY KEY, tid INTEGER NOT NULL, coll TEXT NOT NULL,"
    "  props TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS _threads_view_coll ON _threads_view(tid, coll);"
    "CREATE TABLE IF NOT EXISTS _threads_peer(tid INTEGER NOT NULL,"
    "  addr TEXT NOT NULL, peer BLOB, last_contact INTEGER,"
    "  sent INTEGER NOT NULL DEFAULT 0, recv INTEGER NOT NULL DEFAULT 0,"
    "  rejected INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
    "  learned INTEGER NOT NULL DEFAULT 0, via BLOB,"
    "  tries INTEGER NOT NULL DEFAULT 0, tried INTEGER, added INTEGER,"
    "  PRIMARY KEY(tid, addr)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS _threads_reject(tid INTEGER NOT NULL,"
    "  reason TEXT NOT NULL, n INTEGER NOT NULL,"
    "  PRIMARY KEY(tid, reason)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS _threads_own(tid INTEGER NOT NULL,"
    "  gen INTEGER NOT NULL, salt BLOB, pk BLOB NOT NULL, dev INTEGER NOT NULL,"
    "  ino INTEGER NOT NULL, path TEXT NOT NULL, created INTEGER NOT NULL,"
    "  PRIMARY KEY(tid, gen)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS _threads_change("
    "  seq INTEGER PRIMARY KEY, tid INTEGER NOT NULL, coll TEXT NOT NULL,"
    "  id TEXT NOT NULL, action TEXT NOT NULL, author TEXT, time INTEGER);"
    "CREATE TABLE IF NOT EXISTS _threads_schema_log(tid INTEGER NOT NULL,"
    "  coll TEXT NOT NULL, ord BLOB NOT NULL, type INTEGER NOT NULL,"
    "  schema TEXT NOT NULL, lid INTEGER,"
    "  PRIMARY KEY(tid, coll, ord)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS _threads_conflict(tid INTEGER NOT NULL,"
    "  coll TEXT NOT NULL, id TEXT, ord BLOB NOT NULL, type INTEGER NOT NULL,"
    "  json TEXT, lid INTEGER, reason TEXT NOT NULL,"
    "  PRIMARY KEY(tid, coll, ord)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS _threads_conflict_id"
    "  ON _threads_conflict(tid, coll, id);"
    "CREATE TABLE IF NOT EXISTS _threads_hwm(view TEXT PRIMARY KEY,"
    "  hwm BLOB NOT NULL) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO _threads_meta(key, value) VALUES ('format', 1);";

/* The log key of one generation of this file's log in a thread, cached so
** that appends sign without deriving the key again. */
typedef struct store_logkey store_logkey;
struct store_logkey {
  thr_tid tid;
  sqlite3_int64 iGen;
  unsigned char salt[THR_LOG_SALT]; /* zero for generation 0 */
  thr_keypair *pKey;                /* Owned; sodium memory */
};

struct thr_store {
  sqlite3 *db; /* Borrowed: the connection we live on */
  int bReady;  /* internal tables exist... */
  int iSchema; /* ...as of this schema cookie (-1: unknown) */
  int bSetup;  /* this connection ran the schema script */
  thr_slot aSlot[THR_SLOT_COUNT]; /* Owned: state of other modules */
  unsigned char aSp[8]; /* open store_begin() levels: 1 = a savepoint */
  int nSp;
  int bInline;           /* inside COMMIT: no savepoints at all */
  thr_keypair *pId;      /* Owned; NULL until first needed */
  store_logkey *aLogKey; /* Owned; cached log keys */
  int nLogKey;
  sqlite3_stmt *aStmt[STMT_COUNT]; /* Owned; see thr_store_release() */
  int nAttach;                     /* our virtual tables connected now */
  void (*xCommitted)(sqlite3 *);   /* told after each commit; may be NULL */
  void *pHeld;                     /* Owned through xHeldFree (the node) */
  void (*xHeldFree)(void *);
  int (*xPin)(sqlite3 *); /* connects one of them; may be NULL */
  /* The identity of the file this connection writes (see "File
  ** identity"), taken once: it cannot change under an open connection. */
  int bFileId;
  sqlite3_int64 iDev, iIno;
  char *zFilePath; /* Owned */
};

int64_t thr_now_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/**************************************************************************
** Opening, closing, statements.
*/

static sqlite3_stmt *store_stmt(thr_store *p, int iStmt, int *pRc);
static void store_done(sqlite3_stmt *pStmt);

/* Do the internal tables exist in the main database?  SQLITE_OK with the
** answer in *pbReady, or the error that kept the lookup from answering
** (*pbReady is then the last answer, a guess).  The answer is kept with the
** schema cookie it was read under: a ROLLBACK of the transaction that
** created the tables restores the old cookie, and so a new look.
**
** An error is not "not ready".  SQLITE_SCHEMA in particular comes when
** another connection to the file (this process's node mounting a
** collection) moved the schema cookie and SQLite cannot load the schema
** again under us: in xConnect it holds the old one locked until the
** statement being prepared is done.  Callers pass it on (see
** store_lookup_err) so that SQLite loads the schema and prepares again;
** taking it for "not ready" made every statement that connected a table
** answer "no such thread" until the connection was closed. */
static int store_ready(thr_store *p, int *pbReady) {
  sqlite3_stmt *pStmt = NULL;
  int rc = SQLITE_OK, rcStep = SQLITE_ERROR, iSchema = -1;
  *pbReady = p->bReady;
  pStmt = store_stmt(p, STMT_SCHEMA_VERSION, &rc);
  if (pStmt) {
    rcStep = sqlite3_step(pStmt);
    if (rcStep == SQLITE_ROW) {
      iSchema = sqlite3_column_int(pStmt, 0);
    } else {
      rc = rcStep == SQLITE_DONE ? SQLITE_ERROR : rcStep;
    }
    store_done(pStmt);
  }
  if (rc == SQLITE_OK && iSchema == p->iSchema) {
    return SQLITE_OK;
  }
  if (rc == SQLITE_OK) {
    rc = sqlite3_prepare_v2(p->db,
                            "SELECT 1 FROM main.sqlite_schema WHERE "
                            "type='table' AND name='_threads_record'",
                            -1, &pStmt, NULL);
    if (rc == SQLITE_OK) {
      rcStep = sqlite3_step(pStmt);
      if (rcStep != SQLITE_ROW && rcStep != SQLITE_DONE) {
        rc = rcStep;
      }
    }
    sqlite3_finalize(pStmt);
  }
  if (rc != SQLITE_OK) {
    /* Says nothing about the tables: nothing is kept. */
    p->iSchema = -1;
    return rc;
  }
  p->bReady = *pbReady = rcStep == SQLITE_ROW;
  p->bSetup = 0;
  p->iSchema = iSchema;
  return SQLITE_OK;
}

/* store_ready() for callers that can do with its guess when the lookup
** fails (the last answer; "no" before the first). */
static int store_check_ready(thr_store *p) {
  int bReady;
  store_ready(p, &bReady);
  return bReady;
}

static char *store_errmsg(thr_store *p, int rc);

/* The error for a lookup that failed with rc (not "not found"). */
static char *store_lookup_err(thr_store *p, int rc) {
  if (rc == SQLITE_SCHEMA) {
    return sqlite3_mprintf("the database schema changed under this "
                           "statement (another connection to the file "
                           "changed it): run the statement again");
  }
  return store_errmsg(p, rc);
}

int thr_store_open(sqlite3 *db, thr_store **ppStore, char **pzErr) {
  thr_store *p = sqlite3_malloc64(sizeof(*p));
  (void)pzErr;
  *ppStore = NULL;
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  memset(p, 0, sizeof(*p));
  p->db = db;
  p->iSchema = -1;
  *ppStore = p;
  return SQLITE_OK;
}

void thr_store_release(thr_store *p) {
  int i;
  for (i = 0; i < THR_SLOT_COUNT; i++) {
    if (p->aSlot[i].p && p->aSlot[i].xRelease) {
      p->aSlot[i].xRelease(p->aSlot[i].p);
    }
  }
  for (i = 0; i < STMT_COUNT; i++) {
    sqlite3_finalize(p->aStmt[i]);
    p->aStmt[i] = NULL;
  }
}

/* Forget the cached identity and the log keys derived from it. */
static void store_forget_identity(thr_store *p) {
  int i;
  thr_keypair_free(p->pId);
  p->pId = NULL;
  for (i = 0; i < p->nLogKey; i++) {
    thr_keypair_free(p->aLogKey[i].pKey);
  }
  p->nLogKey = 0;
}

void thr_store_close(thr_store *p) {
  int i;
  if (p == NULL) {
    return;
  }
  if (p->xHeldFree) {
    p->xHeldFree(p->pHeld);
  }
  thr_store_release(p);
  store_forget_identity(p);
  for (i = 0; i < THR_SLOT_COUNT; i++) {
    if (p->aSlot[i].p && p->aSlot[i].xFree) {
      p->aSlot[i].xFree(p->aSlot[i].p);
    }
  }
  sqlite3_free(p->aLogKey);
  sqlite3_free(p->zFilePath);
  sqlite3_free(p);
}

void thr_store_set_committed(thr_store *p, void (*xCommitted)(sqlite3 *)) {
  p->xCommitted = xCommitted;
}

void thr_store_committed(thr_store *p) {
  if (p->xCommitted) {
    p->xCommitted(p->db);
  }
}

int thr_store_hold(thr_store *p, void *pObj, void (*xFree)(void *)) {
  if (p->xHeldFree) {
    return 0; /* holds one already */
  }
  p->pHeld = pObj;
  p->xHeldFree = xFree;
  return 1;
}

void *thr_store_held(thr_store *p) {
  return p->pHeld;
}

sqlite3 *thr_store_db(thr_store *p) {
  return p->db;
}

void thr_store_set_pin(thr_store *p, int (*xPin)(sqlite3 *)) {
  p->xPin = xPin;
}

void thr_store_attach(thr_store *p) {
  p->nAttach++;
}

void thr_store_detach(thr_store *p) {
  if (--p->nAttach <= 0) {
    p->nAttach = 0;
    thr_store_release(p);
  }
}

int thr_store_ready(thr_store *p) {
  return store_check_ready(p);
}

void **thr_store_slot(thr_store *p, int iSlot, void (*xFree)(void *),
                      void (*xRelease)(void *)) {
  p->aSlot[iSlot].xFree = xFree;
  p->aSlot[iSlot].xRelease = xRelease;
  return &p->aSlot[iSlot].p;
}

/* A cached statement, reset and unbound, or NULL with *pRc set. */
static sqlite3_stmt *store_stmt(thr_store *p, int iStmt, int *pRc) {
  if (*pRc != SQLITE_OK) {
    return NULL;
  }
  if (p->aStmt[iStmt] == NULL) {
    /* Pin first: connecting the table must not find statements to drop. */
    if (p->nAttach == 0 && p->xPin) {
      p->xPin(p->db);
    }
    *pRc =
        sqlite3_prepare_v3(p->db, azStmt[iStmt], -1, SQLITE_PREPARE_PERSISTENT,
                           &p->aStmt[iStmt], NULL);
    if (*pRc != SQLITE_OK) {
      return NULL;
    }
  }
  return p->aStmt[iStmt];
}

/* Step a statement expected to finish without rows, then reset it. */
static int store_exec(sqlite3_stmt *pStmt) {
  int rc = sqlite3_step(pStmt);
  int rc2 = sqlite3_reset(pStmt);
  sqlite3_clear_bindings(pStmt);
  return rc == SQLITE_DONE ? SQLITE_OK : (rc2 != SQLITE_OK ? rc2 : rc);
}

static void store_done(sqlite3_stmt *pStmt) {
  if (pStmt) {
    sqlite3_reset(pStmt);
    sqlite3_clear_bindings(pStmt);
  }
}

/* Copy the connection's current error message for the caller. */
static char *store_errmsg(thr_store *p, int rc) {
  if (rc == SQLITE_NOMEM) {
    return sqlite3_mprintf("out of memory");
  }
  return sqlite3_mprintf("%s", sqlite3_errmsg(p->db));
}

/* Savepoints make the multi-statement writes of this file atomic, inside
** or outside the user's transaction. */
/* Savepoints make the multi-statement writes of this file atomic, inside
** or outside the user's transaction.  SQLite refuses a SAVEPOINT while a
** write statement runs, which is where collection writes happen (in
** CREATE VIRTUAL TABLE, in xUpdate, and in xSync during COMMIT); there the
** running statement or transaction already makes our writes atomic (it is
** rolled back as a whole if we fail), so we run inline.  aSp[] remembers
** which kind each open level is. */
static int store_begin(thr_store *p) {
  int rc = SQLITE_OK;
  sqlite3_stmt *pStmt;
  if (p->nSp >= (int)sizeof(p->aSp)) {
    return SQLITE_INTERNAL; /* nesting is never this deep */
  }
  /* During COMMIT (xSync) SQLite is itself inside savepoint and commit
  ** processing: a nested SAVEPOINT there would corrupt it, so never try. */
  if (p->bInline) {
    p->aSp[p->nSp++] = 0;
    return SQLITE_OK;
  }
  pStmt = store_stmt(p, STMT_SAVEPOINT, &rc);
  if (pStmt == NULL) {
    return rc;
  }
  rc = store_exec(pStmt);
  p->aSp[p->nSp++] = rc == SQLITE_OK;
  return SQLITE_OK;
}

void thr_store_set_inline(thr_store *p, int bInline) {
  p->bInline = bInline;
}

static int store_end(thr_store *p, int rc) {
  int rc2 = SQLITE_OK;
  sqlite3_stmt *pStmt;
  if (p->nSp == 0 || !p->aSp[--p->nSp]) {
    return rc; /* inline: the enclosing statement owns atomicity */
  }
  if (rc == SQLITE_OK) {
    pStmt = store_stmt(p, STMT_RELEASE, &rc2);
    rc = pStmt ? store_exec(pStmt) : rc2;
    if (rc == SQLITE_OK) {
      return SQLITE_OK;
    }
  }
  rc2 = SQLITE_OK;
  pStmt = store_stmt(p, STMT_ROLLBACK_TO, &rc2);
  if (pStmt) {
    store_exec(pStmt);
  }
  rc2 = SQLITE_OK;
  pStmt = store_stmt(p, STMT_RELEASE, &rc2);
  if (pStmt) {
    store_exec(pStmt);
  }
  return rc;
}

/* Columns added to a table of zSchema after files were written without
** them: each is added (ALTER TABLE ... ADD COLUMN, in place) to a file that
** lacks it.  The defaults make old rows read as they did before. */
static const struct {
  const char *zTab, *zCol, *zDecl;
} aStoreCol[] = {
    {"_threads_peer", "learned", "INTEGER NOT NULL DEFAULT 0"},
    {"_threads_peer", "via", "BLOB"},
    {"_threads_peer", "tries", "INTEGER NOT NULL DEFAULT 0"},
    {"_threads_peer", "tried", "INTEGER"},
    {"_threads_peer", "added", "INTEGER"},
};

static int store_add_columns(thr_store *p) {
  int rc = SQLITE_OK;
  size_t i;
  for (i = 0; rc == SQLITE_OK && i < sizeof(aStoreCol) / sizeof(aStoreCol[0]);
       i++) {
    sqlite3_stmt *pStmt = NULL;
    int bHas = 0;
    rc = sqlite3_prepare_v2(p->db,
                            "SELECT 1 FROM pragma_table_info(?1, 'main')"
                            " WHERE name = ?2",
                            -1, &pStmt, NULL);
    if (rc == SQLITE_OK) {
      sqlite3_bind_text(pStmt, 1, aStoreCol[i].zTab, -1, SQLITE_STATIC);
      sqlite3_bind_text(pStmt, 2, aStoreCol[i].zCol, -1, SQLITE_STATIC);
      rc = sqlite3_step(pStmt);
      bHas = rc == SQLITE_ROW;
      rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(pStmt);
    if (rc == SQLITE_OK && !bHas) {
      char *zSql = sqlite3_mprintf("ALTER TABLE main.%s ADD COLUMN %s %s",
                                   aStoreCol[i].zTab, aStoreCol[i].zCol,
                                   aStoreCol[i].zDecl);
      rc = zSql ? sqlite3_exec(p->db, zSql, NULL, NULL, NULL) : SQLITE_NOMEM;
      sqlite3_free(zSql);
    }
  }
  return rc;
}

/* Create the internal tables if this file has none.  Runs in the caller's
** savepoint. */
static int store_setup(thr_store *p, char **pzErr) {
  int rc;
  /* Once per connection (and again if a rollback took the tables away),
  ** so that files written by an earlier version gain the newer tables. */
  if (p->bSetup && store_check_ready(p)) {
    return SQLITE_OK;
  }
  rc = sqlite3_exec(p->db, zSchema, NULL, NULL, NULL);
  if (rc == SQLITE_OK) {
    rc = store_add_columns(p);
  }
  if (rc != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("cannot set up the threads tables: %s",
                             sqlite3_errmsg(p->db));
    return rc;
  }
  p->bSetup = 1;
  p->bReady = 1;   /* the best guess should a lookup fail before the next */
  p->iSchema = -1; /* the cookie moved; look again next time */
  return SQLITE_OK;
}

/**************************************************************************
** Identity.
**
** The identity is cached for signing, but the file is the truth: every
** lookup reads the stored seed (one cached statement).  If a rollback took
** away the row this connection created, the same identity is stored again
** (the user may already have seen and shared its peer ID); if another
** connection stored a different one first, that one is used from now on.
*/

/* Read the stored seed into seed[]; *pbFound says whether there is one. */
static int store_read_seed(thr_store *p, unsigned char seed[32], int *pbFound,
                           char **pzErr) {
  int rc = SQLITE_OK;
  sqlite3_stmt *pStmt = store_stmt(p, STMT_IDENTITY, &rc);
  *pbFound = 0;
  if (pStmt == NULL) {
    *pzErr = store_errmsg(p, rc);
    return rc;
  }
  if (sqlite3_step(pStmt) == SQLITE_ROW) {
    if (sqlite3_column_type(pStmt, 0) != SQLITE_BLOB ||
        sqlite3_column_bytes(pStmt, 0) != 32) {
      *pzErr = sqlite3_mprintf("the stored identity is corrupt");
      rc = SQLITE_CORRUPT;
    } else {
      memcpy(seed, sqlite3_column_blob(pStmt, 0), 32);
      *pbFound = 1;
    }
  }
  store_done(pStmt);
  return rc;
}

/* Store seed as the identity, creating the tables first if needed. */
static int store_write_seed(thr_store *p, const unsigned char seed[32],
                            char **pzErr) {
  sqlite3_stmt *pStmt;
  int rc = store_begin(p);
  if (rc == SQLITE_OK) {
    rc = store_setup(p, pzErr);
    if (rc == SQLITE_OK) {
      pStmt = store_stmt(p, STMT_SET_IDENTITY, &rc);
      if (pStmt) {
        sqlite3_bind_blob(pStmt, 1, seed, 32, SQLITE_STATIC);
        rc = store_exec(pStmt);
      }
    }
    rc = store_end(p, rc);
  }
  if (rc != SQLITE_OK && *pzErr == NULL) {
    *pzErr =
        sqlite3_mprintf("cannot store the identity: %s", sqlite3_errmsg(p->db));
  }
  return rc;
}

int thr_store_identity(thr_store *p, const thr_keypair **ppId, char **pzErr) {
  unsigned char seed[32];
  int bFound = 0, bReady, rc;
  *ppId = NULL;
  /* Not knowing whether the tables exist is not a reason to make a new
  ** identity. */
  rc = store_ready(p, &bReady);
  if (rc != SQLITE_OK) {
    *pzErr = store_lookup_err(p, rc);
    return rc;
  }
  if (bReady) {
    rc = store_read_seed(p, seed, &bFound, pzErr);
  }
  if (rc == SQLITE_OK && bFound) {
    /* The seed is the first half of a libsodium Ed25519 secret key. */
    if (p->pId == NULL || sodium_memcmp(p->pId->sk, seed, 32) != 0) {
      store_forget_identity(p);
      p->pId = thr_keypair_from_seed(seed);
      rc = p->pId ? SQLITE_OK : SQLITE_NOMEM;
    }
  } else if (rc == SQLITE_OK) {
    if (p->pId) {
      memcpy(seed, p->pId->sk, 32);
    } else {
      randombytes_buf(seed, sizeof(seed));
    }
    rc = store_write_seed(p, seed, pzErr);
    if (rc == SQLITE_OK && p->pId == NULL) {
      p->pId = thr_keypair_from_seed(seed);
      rc = p->pId ? SQLITE_OK : SQLITE_NOMEM;
    }
  }
  sodium_memzero(seed, sizeof(seed));
  if (rc == SQLITE_NOMEM && *pzErr == NULL) {
    *pzErr = sqlite3_mprintf("out of memory");
  }
  *ppId = rc == SQLITE_OK ? p->pId : NULL;
  return rc;
}

/* The log key of generation iGen of this file's log in a thread, derived
** once and cached.  NULL when out of memory. */
static const thr_keypair *store_log_key(thr_store *p, const thr_tid *pTid,
                                        sqlite3_int64 iGen,
                                        const unsigned char *salt) {
  static const unsigned char aZero[THR_LOG_SALT];
  int i;
  store_logkey *aNew;
  thr_keypair *pKey;
  if (salt == NULL || iGen == 0) {
    salt = aZero;
  }
  for (i = 0; i < p->nLogKey; i++) {
    if (p->aLogKey[i].tid.n == pTid->n && p->aLogKey[i].iGen == iGen &&
        memcmp(p->aLogKey[i].tid.a, pTid->a, (size_t)pTid->n) == 0 &&
        memcmp(p->aLogKey[i].salt, salt, THR_LOG_SALT) == 0) {
      return p->aLogKey[i].pKey;
    }
  }
  pKey = thr_logkey_derive_gen(p->pId, pTid, iGen, salt);
  if (pKey == NULL) {
    return NULL;
  }
  aNew =
      sqlite3_realloc64(p->aLogKey, sizeof(*aNew) * (size_t)(p->nLogKey + 1));
  if (aNew == NULL) {
    thr_keypair_free(pKey);
    return NULL;
  }
  p->aLogKey = aNew;
  aNew[p->nLogKey].tid = *pTid;
  aNew[p->nLogKey].iGen = iGen;
  memcpy(aNew[p->nLogKey].salt, salt, THR_LOG_SALT);
  aNew[p->nLogKey].pKey = pKey;
  p->nLogKey++;
  return pKey;
}

/**************************************************************************
** File identity and log generations (see "FILE IDENTITY" at the top).
*/

/* This connection's file: (st_dev, st_ino, path), taken once. */
static int store_file_id(thr_store *p) {
  const char *zFile;
  struct stat st;
  if (p->bFileId) {
    return SQLITE_OK;
  }
  zFile = sqlite3_db_filename(p->db, "main");
  p->zFilePath = sqlite3_mprintf("%s", zFile ? zFile : "");
  if (p->zFilePath == NULL) {
    return SQLITE_NOMEM;
  }
  p->iDev = p->iIno = 0;
  if (zFile && zFile[0] && stat(zFile, &st) == 0) {
    p->iDev = (sqlite3_int64)st.st_dev;
    p->iIno = (sqlite3_int64)st.st_ino;
  }
  p->bFileId = 1;
  return SQLITE_OK;
}

/* Does the file identity in columns iCol.. (dev, ino, path) of the current
** row name this connection's file? */
static int store_same_file(thr_store *p, sqlite3_stmt *pStmt, int iCol) {
  const char *zPath = (const char *)sqlite3_column_text(pStmt, iCol + 2);
  return sqlite3_column_int64(pStmt, iCol) == p->iDev &&
         sqlite3_column_int64(pStmt, iCol + 1) == p->iIno && zPath &&
         strcmp(zPath, p->zFilePath) == 0;
}

/* Record generation iGen (salt NULL for 0) of this file's log in thread
** iThread, with this file's identity, and make it the log marked own. */
static int store_own_record(thr_store *p, sqlite3_int64 iThread,
                            sqlite3_int64 iGen, const unsigned char *salt,
                            const unsigned char pk[32], char **pzErr) {
  sqlite3_int64 iLid;
  int rc = SQLITE_OK;
  sqlite3_stmt *pStmt = store_stmt(p, STMT_OWN_INS, &rc);
  if (pStmt) {
    sqlite3_bind_int64(pStmt, 1, iThread);
    sqlite3_bind_int64(pStmt, 2, iGen);
    if (salt) {
      sqlite3_bind_blob(pStmt, 3, salt, THR_LOG_SALT, SQLITE_STATIC);
    }
    sqlite3_bind_blob(pStmt, 4, pk, 32, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 5, p->iDev);
    sqlite3_bind_int64(pStmt, 6, p->iIno);
    sqlite3_bind_text(pStmt, 7, p->zFilePath, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 8, thr_now_ms());
    rc = store_exec(pStmt);
  }
  if (rc == SQLITE_OK && iGen > 0) {
    rc = thr_store_log_lid(p, iThread, pk, p->pId->pk, 1, &iLid, pzErr);
    pStmt = store_stmt(p, STMT_OWN_FLAGS, &rc);
    if (pStmt) {
      sqlite3_bind_int64(pStmt, 1, iThread);
      sqlite3_bind_blob(pStmt, 2, pk, 32, SQLITE_STATIC);
      rc = store_exec(pStmt);
    }
  }
  if (rc != SQLITE_OK && *pzErr == NULL) {
    *pzErr = store_errmsg(p, rc);
  }
  return rc;
}

/* The key of the log this file writes in thread pTid (borrowed, cached),
** after comparing the file with the identity recorded for the thread's
** newest generation: when they differ, or when bNew, a new generation is
** started (and recorded) first, in a savepoint of its own (or inline in
** the caller's statement, see store_begin).  The identity must be loaded.
** An unknown thread gets its generation 0 key and nothing is recorded
** (the caller reports the thread). */
static int store_own_key(thr_store *p, const thr_tid *pTid, int bNew,
                         const thr_keypair **ppKey, char **pzErr) {
  unsigned char salt[THR_LOG_SALT];
  sqlite3_int64 iThread = 0, iGen = -1;
  const thr_keypair *pKey = NULL;
  int bSame = 0, bSalt = 0, rc;
  sqlite3_stmt *pStmt;

  *ppKey = NULL;
  rc = store_file_id(p);
  pStmt = store_stmt(p, STMT_OWN_CUR, &rc);
  if (pStmt == NULL && rc == SQLITE_ERROR) {
    /* A file from before generations: its tables gain _threads_own. */
    rc = store_setup(p, pzErr);
    pStmt = store_stmt(p, STMT_OWN_CUR, &rc);
  }
  if (pStmt) {
    sqlite3_bind_blob(pStmt, 1, pTid->a, pTid->n, SQLITE_STATIC);
    if (sqlite3_step(pStmt) == SQLITE_ROW) {
      iThread = sqlite3_column_int64(pStmt, 0);
      if (sqlite3_column_type(pStmt, 1) != SQLITE_NULL) {
        iGen = sqlite3_column_int64(pStmt, 1);
        if (sqlite3_column_bytes(pStmt, 2) == THR_LOG_SALT) {
          memcpy(salt, sqlite3_column_blob(pStmt, 2), THR_LOG_SALT);
          bSalt = 1;
        }
        bSame = store_same_file(p, pStmt, 3);
      }
    }
    store_done(pStmt);
  }
  if (rc != SQLITE_OK) {
    if (*pzErr == NULL) {
      *pzErr = store_errmsg(p, rc);
    }
    return rc;
  }
  if (iGen > 0 && !bSalt) {
    *pzErr = sqlite3_mprintf("the stored log generation %lld is corrupt",
                             (long long)iGen);
    return SQLITE_CORRUPT;
  }
  if (iGen >= 0 && bSame && !bNew) {
    pKey = store_log_key(p, pTid, iGen, bSalt ? salt : NULL);
  } else if (iGen < 0 && !bNew) {
    /* No generation recorded: the log as it always was, recorded now. */
    pKey = store_log_key(p, pTid, 0, NULL);
    if (pKey && iThread > 0 && (rc = store_begin(p)) == SQLITE_OK) {
      rc = store_own_record(p, iThread, 0, NULL, pKey->pk, pzErr);
      rc = store_end(p, rc);
    }
  } else if (iThread > 0) {
    /* Another file than the one that wrote the newest log (or told to
    ** leave it): a new log, under a salt no copy of this file can share. */
    iGen = iGen < 0 ? 1 : iGen + 1;
    randombytes_buf(salt, sizeof(salt));
    pKey = store_log_key(p, pTid, iGen, salt);
    if (pKey && (rc = store_begin(p)) == SQLITE_OK) {
      rc = store_own_record(p, iThread, iGen, salt, pKey->pk, pzErr);
      rc = store_end(p, rc);
    }
  } else {
    pKey = store_log_key(p, pTid, 0, NULL);
  }
  if (rc == SQLITE_OK && pKey == NULL) {
    rc = SQLITE_NOMEM;
    *pzErr = sqlite3_mprintf("out of memory");
  }
  *ppKey = rc == SQLITE_OK ? pKey : NULL;
  return rc;
}

/**************************************************************************
** Threads.
*/

/* Look up a thread by ID: its row id and keys.  SQLITE_NOTFOUND if the
** store does not know it. */
static int store_thread(thr_store *p, const thr_tid *pTid, sqlite3_int64 *pRow,
                        thr_tkey *pKey) {
  int rc = SQLITE_OK;
  sqlite3_stmt *pStmt = store_stmt(p, STMT_THREAD_BY_ID, &rc);
  if (pStmt == NULL) {
    return rc;
  }
  sqlite3_bind_blob(pStmt, 1, pTid->a, pTid->n, SQLITE_STATIC);
  rc = sqlite3_step(pStmt);
  if (rc == SQLITE_ROW) {
    rc = SQLITE_OK;
    *pRow = sqlite3_column_int64(pStmt, 0);
    if (pKey) {
      memset(pKey, 0, sizeof(*pKey));
      if (sqlite3_column_bytes(pStmt, 1) != THR_KEY_BYTES ||
          (sqlite3_column_type(pStmt, 2) != SQLITE_NULL &&
           sqlite3_column_bytes(pStmt, 2) != THR_KEY_BYTES)) {
        rc = SQLITE_CORRUPT;
      } else {
        memcpy(pKey->service, sqlite3_column_blob(pStmt, 1), THR_KEY_BYTES);
        if (sqlite3_column_type(pStmt, 2) != SQLITE_NULL) {
          memcpy(pKey->read, sqlite3_column_blob(pStmt, 2), THR_KEY_BYTES);
          pKey->hasRead = 1;
        }
      }
    }
  } else if (rc == SQLITE_DONE) {
    rc = SQLITE_NOTFOUND;
  }
  store_done(pStmt);
  return rc;
}

/* store_thread() for callers that report errors: an unknown thread is
** SQLITE_ERROR "no such thread: <id>". */
static int store_known_thread(thr_store *p, const thr_tid *pTid,
                              sqlite3_int64 *pRow, thr_tkey *pKey,
                              char **pzErr) {
  int rc = store_thread(p, pTid, pRow, pKey);
  if (rc == SQLITE_NOTFOUND) {
    char *zId = thr_tid_text(pTid);
    *pzErr = sqlite3_mprintf("no such thread: %s", zId);
    sqlite3_free(zId);
    return SQLITE_ERROR;
  }
  if (rc != SQLITE_OK) {
    *pzErr = store_errmsg(p, rc);
  }
  return rc;
}

int thr_store_resolve(thr_store *p, const char *zThread, thr_tid *pTid,
                      char **pzErr) {
  int rc = SQLITE_OK;
  sqlite3_stmt *pStmt;
  sqlite3_int64 iRow;
  char *zWhy = NULL;
  int bReady, rcStep;

  if (zThread == NULL) {
    *pzErr = sqlite3_mprintf("thread must be a name or a thread ID, not NULL");
    return SQLITE_ERROR;
  }
  /* A lookup that fails is an error, never "no such thread": it may be
  ** SQLITE_SCHEMA in xConnect, which SQLite answers by loading the schema
  ** and preparing the statement again (see store_ready). */
  rc = store_ready(p, &bReady);
  if (rc != SQLITE_OK) {
    *pzErr = store_lookup_err(p, rc);
    return rc;
  }
  if (bReady) {
    pStmt = store_stmt(p, STMT_THREAD_BY_NAME, &rc);
    if (pStmt == NULL) {
      *pzErr = store_lookup_err(p, rc);
      return rc;
    }
    sqlite3_bind_text(pStmt, 1, zThread, -1, SQLITE_STATIC);
    rcStep = sqlite3_step(pStmt);
    if (rcStep == SQLITE_ROW) {
      rc = thr_tid_from_bytes(pTid, sqlite3_column_blob(pStmt, 0),
                              (size_t)sqlite3_column_bytes(pStmt, 0), &zWhy);
      store_done(pStmt);
      if (rc != SQLITE_OK) {
        *pzErr =
            sqlite3_mprintf("thread '%s' has a corrupt ID: %s", zThread, zWhy);
        sqlite3_free(zWhy);
        return SQLITE_CORRUPT;
      }
      return SQLITE_OK;
    }
    store_done(pStmt);
    if (rcStep != SQLITE_DONE) {
      *pzErr = store_lookup_err(p, rcStep);
      return rcStep;
    }
  }
  if (thr_tid_parse(pTid, zThread, &zWhy) != SQLITE_OK) {
    /* Echo at most 80 characters of what the caller gave. */
    *pzErr = sqlite3_mprintf(
        "no such thread: '%.80s%s' is not a local name, nor a thread ID (%s)",
        zThread, strlen(zThread) > 80 ? "..." : "", zWhy);
    sqlite3_free(zWhy);
    return SQLITE_ERROR;
  }
  rc = bReady ? store_thread(p, pTid, &iRow, NULL) : SQLITE_NOTFOUND;
  if (rc == SQLITE_NOTFOUND) {
    *pzErr = sqlite3_mprintf("no such thread: %s", zThread);
    return SQLITE_ERROR;
  }
  if (rc != SQLITE_OK) {
    *pzErr = store_lookup_err(p, rc);
  }
  return rc;
}

/* Local names: a letter or '_' then up to 63 letters, digits, '_', '-' or
** '.', and never something that would also parse as a thread ID. */
static int store_check_name(const char *zName, char **pzErr) {
  size_t i, n = strlen(zName);
  thr_tid tid;
  char *zWhy = NULL;
  int bOk = n >= 1 && n <= 64 &&
            ((zName[0] >= 'a' && zName[0] <= 'z') ||
             (zName[0] >= 'A' && zName[0] <= 'Z') || zName[0] == '_');
  for (i = 1; bOk && i < n; i++) {
    char c = zName[i];
    bOk = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  }
  if (!bOk) {
    *pzErr = sqlite3_mprintf(
        "invalid thread name '%s': use 1 to 64 letters, digits, '_', '-' or "
        "'.', starting with a letter or '_'",
        zName);
    return SQLITE_ERROR;
  }
  if (thr_tid_parse(&tid, zName, &zWhy) == SQLITE_OK) {
    *pzErr = sqlite3_mprintf("invalid thread name '%s': it reads as a thread "
                             "ID",
                             zName);
    return SQLITE_ERROR;
  }
  sqlite3_free(zWhy);
  return SQLITE_OK;
}

/* Append body (aBody, nBody) to the log this file writes in thread pTid.
** One query finds the thread's keys, the file's newest log generation and
** that log's head (a copied file starts a new generation first: "FILE
** IDENTITY"); the log row is made on the first append.  Runs inside the
** caller's savepoint. */
static int store_append_in(thr_store *p, const thr_tid *pTid,
                           const unsigned char *aBody, size_t nBody,
                           thr_cid *pCid, char **pzErr) {
  const thr_keypair *pLog0 = store_log_key(p, pTid, 0, NULL);
  const thr_keypair *pLog = NULL;
  sqlite3_stmt *pStmt;
  sqlite3_int64 iThread = 0, iLog = 0, nCounter = 0;
  thr_cid prev;
  thr_tkey key;
  int bPrev = 0, bOwn0 = 0, bMoved = 0, rc;
  thr_sealed s;
  int64_t now = thr_now_ms();

  memset(&s, 0, sizeof(s));
  memset(&key, 0, sizeof(key));
  if (pLog0 == NULL) {
    return SQLITE_NOMEM;
  }
  rc = store_file_id(p);
  pStmt = store_stmt(p, STMT_APPEND_CTX, &rc);
  if (pStmt == NULL && rc == SQLITE_ERROR) {
    /* A file from before generations: its tables gain _threads_own. */
    rc = store_setup(p, pzErr);
    pStmt = store_stmt(p, STMT_APPEND_CTX, &rc);
  }
  if (pStmt) {
    sqlite3_bind_blob(pStmt, 1, pTid->a, pTid->n, SQLITE_STATIC);
    sqlite3_bind_blob(pStmt, 2, pLog0->pk, 32, SQLITE_STATIC);
    if (sqlite3_step(pStmt) != SQLITE_ROW) {
      char *zId = thr_tid_text(pTid);
      *pzErr = sqlite3_mprintf("no such thread: %s", zId);
      sqlite3_free(zId);
      rc = SQLITE_ERROR;
    } else if (sqlite3_column_bytes(pStmt, 1) != THR_KEY_BYTES ||
               (sqlite3_column_type(pStmt, 2) != SQLITE_NULL &&
                sqlite3_column_bytes(pStmt, 2) != THR_KEY_BYTES)) {
      *pzErr = sqlite3_mprintf("the stored thread key is corrupt");
      rc = SQLITE_CORRUPT;
    } else {
      iThread = sqlite3_column_int64(pStmt, 0);
      memcpy(key.service, sqlite3_column_blob(pStmt, 1), THR_KEY_BYTES);
      if (sqlite3_column_type(pStmt, 2) != SQLITE_NULL) {
        memcpy(key.read, sqlite3_column_blob(pStmt, 2), THR_KEY_BYTES);
        key.hasRead = 1;
      }
      iLog = sqlite3_column_int64(pStmt, 3); /* 0 when NULL: no log yet */
      nCounter = sqlite3_column_int64(pStmt, 5);
      if (sqlite3_column_type(pStmt, 4) != SQLITE_NULL) {
        if (thr_cid_from_bytes(&prev, sqlite3_column_blob(pStmt, 4),
                               (size_t)sqlite3_column_bytes(pStmt, 4),
                               pzErr) != SQLITE_OK) {
          rc = SQLITE_CORRUPT;
        }
        bPrev = 1;
      }
      if (sqlite3_column_type(pStmt, 6) == SQLITE_NULL) {
        pLog = pLog0; /* no generation recorded: recorded below */
        bOwn0 = 1;
      } else if (!store_same_file(p, pStmt, 8)) {
        bMoved = 1; /* not the file that wrote it: a new log, below */
      } else if (sqlite3_column_int64(pStmt, 6) == 0) {
        pLog = pLog0;
      } else if (sqlite3_column_bytes(pStmt, 7) != THR_LOG_SALT) {
        *pzErr = sqlite3_mprintf("the stored log generation is corrupt");
        rc = SQLITE_CORRUPT;
      } else {
        pLog = store_log_key(p, pTid, sqlite3_column_int64(pStmt, 6),
                             sqlite3_column_blob(pStmt, 7));
        rc = pLog ? SQLITE_OK : SQLITE_NOMEM;
      }
    }
    store_done(pStmt);
  }
  if (rc == SQLITE_OK && bOwn0) {
    rc = store_own_record(p, iThread, 0, NULL, pLog0->pk, pzErr);
  }
  if (rc == SQLITE_OK && bMoved) {
    /* store_own_key() sees the same and starts the new generation. */
    rc = store_own_key(p, pTid, 0, &pLog, pzErr);
    iLog = nCounter = 0;
    bPrev = 0;
  }
  if (rc == SQLITE_OK && iLog == 0) {
    rc = thr_store_log_lid(p, iThread, pLog->pk, p->pId->pk, 1, &iLog, pzErr);
  }
  if (rc != SQLITE_OK) {
    goto cleanup;
  }

  rc = thr_rec_seal(&key, p->pId, pLog, bPrev ? &prev : NULL, now, aBody, nBody,
                    &s, pzErr);
  if (rc != SQLITE_OK) {
    goto cleanup;
  }

  /* The record row with its blocks (it is the log's new head). */
  pStmt = store_stmt(p, STMT_INS_RECORD, &rc);
  if (pStmt) {
    sqlite3_bind_int64(pStmt, 1, iLog);
    sqlite3_bind_int64(pStmt, 2, nCounter + 1);
    sqlite3_bind_blob(pStmt, 3, s.cidRecord.a, THR_CID_BYTES, SQLITE_STATIC);
    if (bPrev) {
      sqlite3_bind_blob(pStmt, 4, prev.a, THR_CID_BYTES, SQLITE_STATIC);
    }
    sqlite3_bind_blob(pStmt, 5, p->pId->pk, 32, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 6, now);
    sqlite3_bind_blob64(pStmt, 7, s.record.a, s.record.n, SQLITE_STATIC);
    sqlite3_bind_blob64(pStmt, 8, s.event.a, s.event.n, SQLITE_STATIC);
    sqlite3_bind_blob64(pStmt, 9, s.header.a, s.header.n, SQLITE_STATIC);
    sqlite3_bind_blob64(pStmt, 10, s.body.a, s.body.n, SQLITE_STATIC);
    rc = store_exec(pStmt);
  }
  if (rc == SQLITE_OK && pCid) {
    *pCid = s.cidRecord;
  }

cleanup:
  if (rc != SQLITE_OK && *pzErr == NULL) {
    *pzErr = store_errmsg(p, rc);
  }
  sodium_memzero(&key, sizeof(key));
  thr_sealed_clear(&s);
  return rc;
}

int thr_store_append(thr_store *p, const thr_tid *pTid,
                     const unsigned char *aBody, size_t nBody, thr_cid *pCid,
                     char **pzErr) {
  const thr_keypair *pId;
  int rc = thr_store_identity(p, &pId, pzErr);
  if (rc == SQLITE_OK) {
    rc = store_begin(p);
    if (rc == SQLITE_OK) {
      rc = store_append_in(p, pTid, aBody, nBody, pCid, pzErr);
      rc = store_end(p, rc);
    }
  }
  if (rc != SQLITE_OK && *pzErr == NULL) {
    *pzErr = store_errmsg(p, rc);
  }
  return rc;
}

/* The body of a thread-creation record:
**   {"actions": [{"name": text, "time": uint ms, "type": "thread.create"}]}
** "name" is omitted for an unnamed thread. */
static int store_creation_body(const char *zName, int64_t now, thr_cbuf *pBuf) {
  int rc = SQLITE_OK;
  thr_cbor *pTop = thr_cbor_map(1);
  thr_cbor *pArr = thr_cbor_array(1);
  thr_cbor *pAct = thr_cbor_map(zName ? 3 : 2);
  if (zName) {
    thr_cbor_put(&rc, pAct, "name", thr_cbor_text(zName, strlen(zName)));
  }
  thr_cbor_put(&rc, pAct, "time", thr_cbor_uint((uint64_t)now));
  thr_cbor_put(&rc, pAct, "type", thr_cbor_text("thread.create", 13));
  thr_cbor_push(&rc, pArr, pAct);
  thr_cbor_put(&rc, pTop, "actions", pArr);
  if (rc == SQLITE_OK) {
    rc = thr_cbor_encode(pTop, pBuf);
  }
  thr_cbor_free(pTop);
  return rc;
}

int thr_store_create_thread(thr_store *p, const char *zName, int variant,
                            thr_tid *pTid, char **pzErr) {
  const thr_keypair *pId;
  sqlite3_stmt *pStmt = NULL;
  thr_tkey key;
  thr_cbuf body = {0, 0};
  int64_t now = thr_now_ms();
  int rc;

  if (zName && store_check_name(zName, pzErr) != SQLITE_OK) {
    return SQLITE_ERROR;
  }
  rc = thr_store_identity(p, &pId, pzErr);
  if (rc != SQLITE_OK) {
    return rc;
  }
  thr_tid_random(pTid, variant);
  memset(&key, 0, sizeof(key));
  randombytes_buf(key.service, sizeof(key.service));
  randombytes_buf(key.read, sizeof(key.read));
  key.hasRead = 1;

  rc = store_begin(p);
  if (rc != SQLITE_OK) {
    *pzErr = store_errmsg(p, rc);
    return rc;
  }
  rc = sqlite3_prepare_v2(p->db,
                          "INSERT INTO _threads_thread(id, name, service, "
                          "read, created) VALUES (?1, ?2, ?3, ?4, ?5)",
                          -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_blob(pStmt, 1, pTid->a, pTid->n, SQLITE_STATIC);
    if (zName) {
      sqlite3_bind_text(pStmt, 2, zName, -1, SQLITE_STATIC);
    }
    sqlite3_bind_blob(pStmt, 3, key.service, THR_KEY_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(pStmt, 4, key.read, THR_KEY_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 5, now);
    rc = store_exec(pStmt);
    if (rc == SQLITE_CONSTRAINT) {
      *pzErr = sqlite3_mprintf("thread name already in use: %s", zName);
    }
  }
  sqlite3_finalize(pStmt);
  if (rc == SQLITE_OK) {
    rc = store_creation_body(zName, now, &body);
  }
  if (rc == SQLITE_OK) {
    rc = store_append_in(p, pTid, body.a, body.n, NULL, pzErr);
  }
  rc = store_end(p, rc);
  if (rc != SQLITE_OK && *pzErr == NULL) {
    *pzErr = store_errmsg(p, rc);
  }
  sqlite3_free(body.a);
  sodium_memzero(&key, sizeof(key));
  return rc;
}

/**************************************************************************
** Verification.
*/

/* Blocks of a record row for thr_rec_open_content: the columns event,
** header and body, handed out in that order from column iCol on. */
typedef struct row_blocks row_blocks;
struct row_blocks {
  sqlite3_stmt *pRow;
  int iCol;
};

static const unsigned char *row_block(void *pArg, const thr_cid *pCid,
                                      size_t *pn) {
  row_blocks *p = pArg;
  int i = p->iCol++;
  (void)pCid; /* thr_rec_open_content checks the bytes against it */
  if (sqlite3_column_type(p->pRow, i) != SQLITE_BLOB) {
    return NULL;
  }
  *pn = (size_t)sqlite3_column_bytes(p->pRow, i);
  return sqlite3_column_blob(p->pRow, i);
}

/* A block column of the current row, checked against the CID it must
** have.  (*pa, *pn) borrow from the row.  On error *pzWhy names the check. */
static int store_block(sqlite3_stmt *pRow, int iCol, const thr_cid *pCid,
                       const unsigned char **pa, size_t *pn, char **pzWhy) {
  thr_cid got;
  if (sqlite3_column_type(pRow, iCol) != SQLITE_BLOB) {
    *pzWhy = sqlite3_mprintf("missing block");
    return SQLITE_ERROR;
  }
  *pa = sqlite3_column_blob(pRow, iCol);
  *pn = (size_t)sqlite3_column_bytes(pRow, iCol);
  thr_cid_of(&got, THR_CODEC_DAGCBOR, *pa, *pn);
  if (memcmp(got.a, pCid->a, THR_CID_BYTES) != 0) {
    *pzWhy = sqlite3_mprintf("%s", THR_CHECK_CID);
    return SQLITE_ERROR;
  }
  return SQLITE_OK;
}

/* Column order of the verification query. */
enum { V_COUNTER, V_CID, V_PREV, V_RECORD, V_EVENT, V_HEADER, V_BODY };

/* With the read key: the event, header and body of the current row.  On
** error *pzWhy names the block and the check. */
static int store_verify_content(sqlite3_stmt *pRow, const thr_tkey *pKey,
                                const thr_cid *pEvent, char **pzWhy) {
  row_blocks rb = {pRow, V_EVENT};
  int64_t t;
  return thr_rec_open_content(pKey->read, pEvent, row_block, &rb, NULL, &t,
                              pzWhy);
}

/* Check one log from its first record to its head. */
static int store_verify_log(thr_store *p, const thr_tkey *pKey,
                            sqlite3_int64 iLog, const unsigned char logPk[32],
                            const thr_cid *pHead, int bHead,
                            sqlite3_int64 nCounter, sqlite3_int64 *pnRec,
                            char **pzErr) {
  sqlite3_stmt *pStmt = NULL;
  thr_cid prev, cid;
  sqlite3_int64 nSeen = 0;
  char *zWhy = NULL;
  int rc;

  rc = sqlite3_prepare_v2(p->db,
                          "SELECT counter, cid, prev, record, event, header, "
                          "body FROM _threads_record WHERE lid = ?1 "
                          "ORDER BY counter",
                          -1, &pStmt, NULL);
  if (rc != SQLITE_OK) {
    *pzErr = store_errmsg(p, rc);
    return rc;
  }
  sqlite3_bind_int64(pStmt, 1, iLog);
  while (rc == SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW) {
    sqlite3_int64 iCounter = sqlite3_column_int64(pStmt, V_COUNTER);
    const unsigned char *a;
    size_t n;
    thr_opened op;
    nSeen++;
    if (thr_cid_from_bytes(&cid, sqlite3_column_blob(pStmt, V_CID),
                           (size_t)sqlite3_column_bytes(pStmt, V_CID),
                           &zWhy) != SQLITE_OK) {
      rc = SQLITE_ERROR;
    } else if (iCounter != nSeen) {
      zWhy =
          sqlite3_mprintf("%s: record %lld is missing", THR_CHECK_PREV, nSeen);
      rc = SQLITE_ERROR;
    } else {
      rc = store_block(pStmt, V_RECORD, &cid, &a, &n, &zWhy);
    }
    if (rc == SQLITE_OK) {
      rc = thr_rec_open(pKey->service, logPk, a, n, &op, &zWhy);
    }
    if (rc == SQLITE_OK) {
      int bPrevOk = nSeen == 1 ? !op.hasPrev
                               : (op.hasPrev && memcmp(op.cidPrev.a, prev.a,
                                                       THR_CID_BYTES) == 0);
      if (!bPrevOk) {
        zWhy = sqlite3_mprintf("%s", THR_CHECK_PREV);
        rc = SQLITE_ERROR;
      }
    }
    if (rc == SQLITE_OK && pKey->hasRead) {
      rc = store_verify_content(pStmt, pKey, &op.cidEvent, &zWhy);
    }
    if (rc != SQLITE_OK) {
      char *zLog = thr_peer_text(logPk);
      char *zCid = thr_cid_text(&cid);
      *pzErr = sqlite3_mprintf("log %s, record %lld (%s): %s", zLog, iCounter,
                               zCid, zWhy ? zWhy : "out of memory");
      sqlite3_free(zLog);
      sqlite3_free(zCid);
    }
    prev = cid;
  }
  sqlite3_finalize(pStmt);
  if (rc == SQLITE_OK &&
      (nSeen != nCounter || (nSeen > 0) != (bHead != 0) ||
       (bHead && memcmp(pHead->a, prev.a, THR_CID_BYTES) != 0))) {
    char *zLog = thr_peer_text(logPk);
    *pzErr = sqlite3_mprintf("log %s: %s: the head is not the last record",
                             zLog, THR_CHECK_PREV);
    sqlite3_free(zLog);
    rc = SQLITE_ERROR;
  }
  sqlite3_free(zWhy);
  *pnRec += nSeen;
  return rc;
}

int thr_store_verify(thr_store *p, const thr_tid *pTid, sqlite3_int64 *pnRec,
                     char **pzErr) {
  sqlite3_stmt *pStmt = NULL;
  sqlite3_int64 iThread;
  thr_tkey key;
  int rc;
  *pnRec = 0;
  rc = store_known_thread(p, pTid, &iThread, &key, pzErr);
  if (rc != SQLITE_OK) {
    return rc;
  }
  rc = sqlite3_prepare_v2(p->db,
                          "SELECT lid, pk, head, counter FROM _threads_heads "
                          "WHERE tid = ?1 ORDER BY pk",
                          -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, iThread);
  }
  while (rc == SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW) {
    thr_cid head;
    int bHead = sqlite3_column_type(pStmt, 2) != SQLITE_NULL;
    char *zWhy = NULL;
    if (sqlite3_column_bytes(pStmt, 1) != 32 ||
        (bHead && thr_cid_from_bytes(&head, sqlite3_column_blob(pStmt, 2),
                                     (size_t)sqlite3_column_bytes(pStmt, 2),
                                     &zWhy) != SQLITE_OK)) {
      *pzErr = sqlite3_mprintf("corrupt log row %lld: %s",
                               sqlite3_column_int64(pStmt, 0),
                               zWhy ? zWhy : "bad log ID");
      sqlite3_free(zWhy);
      rc = SQLITE_CORRUPT;
      break;
    }
    rc = store_verify_log(p, &key, sqlite3_column_int64(pStmt, 0),
                          sqlite3_column_blob(pStmt, 1), &head, bHead,
                          sqlite3_column_int64(pStmt, 3), pnRec, pzErr);
  }
  if (rc != SQLITE_OK && *pzErr == NULL) {
    *pzErr = store_errmsg(p, rc);
  }
  sqlite3_finalize(pStmt);
  sodium_memzero(&key, sizeof(key));
  return rc;
}

/**************************************************************************
** Export.
*/
int thr_store_export(thr_store *p, const thr_tid *pTid, const char *zPath,
                     sqlite3_int64 *pnBlock, char **pzErr) {
  sqlite3_stmt *pStmt = NULL;
  sqlite3_int64 iThread;
  thr_cid *aRoot = NULL;
  int nRoot = 0, rc;
  thr_car *pCar = NULL;

  *pnBlock = 0;
  rc = store_known_thread(p, pTid, &iThread, NULL, pzErr);
  if (rc != SQLITE_OK) {
    return rc;
  }

  /* Roots: the heads of every log, in log ID order. */
  rc = sqlite3_prepare_v2(p->db,
                          "SELECT head FROM _threads_heads WHERE tid = ?1 AND "
                          "head IS NOT NULL ORDER BY pk",
                          -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, iThread);
    while (rc == SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW) {
      thr_cid *aNew =
          sqlite3_realloc64(aRoot, sizeof(thr_cid) * (size_t)(nRoot + 1));
      if (aNew == NULL) {
        rc = SQLITE_NOMEM;
        break;
      }
      aRoot = aNew;
      rc = thr_cid_from_bytes(&aRoot[nRoot], sqlite3_column_blob(pStmt, 0),
                              (size_t)sqlite3_column_bytes(pStmt, 0), pzErr);
      nRoot++;
    }
    sqlite3_finalize(pStmt);
    pStmt = NULL;
  }
  if (rc == SQLITE_OK) {
    rc = thr_car_open(zPath, aRoot, nRoot, &pCar, pzErr);
  }
  if (rc == SQLITE_OK) {
    rc = sqlite3_prepare_v2(p->db,
                            "SELECT r.cid, r.record, r.event, r.header, r.body"
                            " FROM _threads_log l JOIN _threads_record r"
                            " ON r.lid = l.lid WHERE l.tid = ?1"
                            " ORDER BY l.pk, r.counter",
                            -1, &pStmt, NULL);
  }
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, iThread);
    while (rc == SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW) {
      thr_cid named;
      int iCol;
      rc = thr_cid_from_bytes(&named, sqlite3_column_blob(pStmt, 0),
                              (size_t)sqlite3_column_bytes(pStmt, 0), pzErr);
      /* Each block under the CID of its bytes.  The record block must also
      ** match the name the log knows it by: exporting it otherwise would
      ** carry the corruption to whoever imports the file. */
      for (iCol = 1; rc == SQLITE_OK && iCol <= 4; iCol++) {
        const unsigned char *a = sqlite3_column_blob(pStmt, iCol);
        size_t n = (size_t)sqlite3_column_bytes(pStmt, iCol);
        thr_cid cid;
        if (sqlite3_column_type(pStmt, iCol) != SQLITE_BLOB) {
          continue; /* a block this peer does not hold */
        }
        thr_cid_of(&cid, THR_CODEC_DAGCBOR, a, n);
        if (iCol == 1 && memcmp(cid.a, named.a, THR_CID_BYTES) != 0) {
          char *zCid = thr_cid_text(&named);
          *pzErr = sqlite3_mprintf("record %s: %s; run threads_verify()", zCid,
                                   THR_CHECK_CID);
          sqlite3_free(zCid);
          rc = SQLITE_ERROR;
          break;
        }
        rc = thr_car_put(pCar, &cid, a, n);
        (*pnBlock)++;
      }
    }
    sqlite3_finalize(pStmt);
  }
  if (pCar) {
    rc = thr_car_close(pCar, rc, pzErr);
  }
  if (rc != SQLITE_OK && *pzErr == NULL) {
    *pzErr = store_errmsg(p, rc);
  }
  sqlite3_free(aRoot);
  return rc;
}

/**************************************************************************
** Helpers for collections (collection.c).
*/
int thr_store_setup(thr_store *p, char **pzErr) {
  int rc = store_begin(p);
  if (rc == SQLITE_OK) {
    rc = store_setup(p, pzErr);
    rc = store_end(p, rc);
  }
  if (rc != SQLITE_OK && *pzErr == NULL) {
    *pzErr = store_errmsg(p, rc);
  }
  return rc;
}

int thr_store_thread_key(thr_store *p, const thr_tid *pTid,
                         sqlite3_int64 *piThread, thr_tkey *pKey,
                         char **pzErr) {
  return store_known_thread(p, pTid, piThread, pKey, pzErr);
}

int thr_store_thread_row(thr_store *p, const thr_tid *pTid,
                         sqlite3_int64 *piThread, int *pbCanWrite,
                         char **pzErr) {
  thr_tkey key;
  int rc = store_known_thread(p, pTid, piThread, &key, pzErr);
  if (rc == SQLITE_OK) {
    *pbCanWrite = key.hasRead;
  }
  sodium_memzero(&key, sizeof(key));
  return rc;
}

int thr_store_log_pk(thr_store *p, const thr_tid *pTid, unsigned char pk[32],
                     const thr_keypair **ppId, char **pzErr) {
  const thr_keypair *pId, *pLog = NULL;
  int rc = thr_store_identity(p, &pId, pzErr);
  if (ppId) {
    *ppId = NULL;
  }
  if (rc == SQLITE_OK) {
    rc = store_own_key(p, pTid, 0, &pLog, pzErr);
  }
  if (rc == SQLITE_OK) {
    memcpy(pk, pLog->pk, 32);
    if (ppId) {
      *ppId = pId;
    }
  } else if (*pzErr == NULL) {
    *pzErr = store_errmsg(p, rc);
  }
  return rc;
}

int thr_store_new_log(thr_store *p, const thr_tid *pTid, unsigned char pk[32],
                      char **pzErr) {
  const thr_keypair *pId, *pLog = NULL;
  int rc = thr_store_identity(p, &pId, pzErr);
  if (rc == SQLITE_OK) {
    rc = store_own_key(p, pTid, 1, &pLog, pzErr);
  }
  if (rc == SQLITE_OK) {
    memcpy(pk, pLog->pk, 32);
  } else if (*pzErr == NULL) {
    *pzErr = store_errmsg(p, rc);
  }
  return rc;
}

int thr_store_log_lid(thr_store *p, sqlite3_int64 iThread,
                      const unsigned char pk[32],
                      const unsigned char author[32], int bOwn,
                      sqlite3_int64 *pLid, char **pzErr) {
  int rc = SQLITE_OK;
  sqlite3_stmt *pStmt = store_stmt(p, STMT_LOG_LID, &rc);
  *pLid = 0;
  if (pStmt) {
    sqlite3_bind_int64(pStmt, 1, iThread);
    sqlite3_bind_blob(pStmt, 2, pk, 32, SQLITE_STATIC);
    if (sqlite3_step(pStmt) == SQLITE_ROW) {
      *pLid = sqlite3_column_int64(pStmt, 0);
    }
    store_done(pStmt);
  }
  if (rc == SQLITE_OK && *pLid == 0) {
    pStmt = store_stmt(p, STMT_INS_LOG, &rc);
    if (pStmt) {
      sqlite3_bind_int64(pStmt, 1, iThread);
      sqlite3_bind_blob(pStmt, 2, pk, 32, SQLITE_STATIC);
      sqlite3_bind_int(pStmt, 3, bOwn);
      sqlite3_bind_blob(pStmt, 4, author, 32, SQLITE_STATIC);
      rc = store_exec(pStmt);
      *pLid = sqlite3_last_insert_rowid(p->db);
    }
  }
  if (rc != SQLITE_OK) {
    *pzErr = store_errmsg(p, rc);
  }
  return rc;
}

int thr_store_cookie(thr_store *p) {
  store_check_ready(p);
  return p->iSchema;
}

void thr_store_pin(thr_store *p) {
  if (p->nAttach == 0 && p->xPin) {
    p->xPin(p->db);
  }
}

int thr_store_foreach_body(thr_store *p, const thr_tid *pTid,
                           int (*xBody)(void *, const unsigned char *logPk,
                                        const unsigned char *author,
                                        const unsigned char *cid,
                                        const unsigned char *aBody,
                                        size_t nBody),
                           void *pArg, char **pzErr) {
  sqlite3_stmt *pStmt = NULL;
  sqlite3_int64 iThread;
  thr_tkey key;
  int rc = store_known_thread(p, pTid, &iThread, &key, pzErr);
  if (rc != SQLITE_OK) {
    return rc;
  }
  if (!key.hasRead) {
    *pzErr = sqlite3_mprintf("this peer cannot read the thread (no read key)");
    return SQLITE_ERROR;
  }
  rc = sqlite3_prepare_v2(p->db,
                          "SELECT l.pk, r.record, r.event, r.header, r.body,"
                          " r.cid FROM _threads_log l JOIN _threads_record r"
                          " ON r.lid = l.lid WHERE l.tid = ?1"
                          " ORDER BY l.pk, r.counter",
                          -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, iThread);
  }
  while (rc == SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW) {
    thr_opened op;
    int64_t t;
    thr_cbuf plain = {0, 0};
    row_blocks rb = {pStmt, 2};
    const unsigned char *logPk = sqlite3_column_blob(pStmt, 0);
    if (sqlite3_column_bytes(pStmt, 0) != 32) {
      rc = SQLITE_CORRUPT;
      break;
    }
    rc = thr_rec_open(key.service, logPk, sqlite3_column_blob(pStmt, 1),
                      (size_t)sqlite3_column_bytes(pStmt, 1), &op, pzErr);
    if (rc == SQLITE_OK) {
      rc = thr_rec_open_content(key.read, &op.cidEvent, row_block, &rb, &plain,
                                &t, pzErr);
    }
    if (rc == SQLITE_OK) {
      if (sqlite3_column_bytes(pStmt, 5) != THR_CID_BYTES) {
        rc = SQLITE_CORRUPT;
      } else {
        rc = xBody(pArg, logPk, op.author, sqlite3_column_blob(pStmt, 5),
                   plain.a, plain.n);
      }
    }
    sqlite3_free(plain.a);
  }
  sqlite3_finalize(pStmt);
  sodium_memzero(&key, sizeof(key));
  if (rc != SQLITE_OK && *pzErr == NULL) {
    *pzErr = store_errmsg(p, rc);
  }
  return rc;
}

int thr_store_body_at(thr_store *p, sqlite3_int64 iRid, thr_cbuf *pBody,
                      unsigned char author[32], int64_t *pTime, char **pzErr) {
  sqlite3_stmt *pStmt = NULL;
  int rc;
  pBody->a = NULL;
  pBody->n = 0;
  rc = sqlite3_prepare_v2(p->db,
                          "SELECT l.pk, t.service, t.read, r.record, r.event,"
                          " r.header, r.body FROM _threads_record r"
                          " JOIN _threads_log l ON l.lid = r.lid"
                          " JOIN _threads_thread t ON t.tid = l.tid"
                          " WHERE r.rid = ?1",
                          -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, iRid);
    rc = sqlite3_step(pStmt) == SQLITE_ROW ? SQLITE_OK : SQLITE_NOTFOUND;
  }
  if (rc == SQLITE_OK && (sqlite3_column_type(pStmt, 2) != SQLITE_BLOB ||
                          sqlite3_column_bytes(pStmt, 0) != 32 ||
                          sqlite3_column_bytes(pStmt, 1) != 32 ||
                          sqlite3_column_bytes(pStmt, 2) != 32)) {
    rc = SQLITE_NOTFOUND; /* no read key here: nothing to show */
  }
  if (rc == SQLITE_OK) {
    thr_opened op;
    row_blocks rb = {pStmt, 4};
    rc = thr_rec_open(sqlite3_column_blob(pStmt, 1),
                      sqlite3_column_blob(pStmt, 0),
                      sqlite3_column_blob(pStmt, 3),
                      (size_t)sqlite3_column_bytes(pStmt, 3), &op, pzErr);
    if (rc == SQLITE_OK) {
      memcpy(author, op.author, 32);
      rc = thr_rec_open_content(sqlite3_column_blob(pStmt, 2), &op.cidEvent,
                                row_block, &rb, pBody, pTime, pzErr);
    }
  }
  sqlite3_finalize(pStmt);
  return rc;
}

/**************************************************************************
** Verifying an exported CAR file.
*/
typedef struct car_block car_block;
struct car_block {
  thr_cid cid;
  unsigned char *a; /* Owned */
  size_t n;
};

typedef struct car_set car_set;
struct car_set {
  car_block *a;
  size_t n, nAlloc;
};

static int car_set_add(void *pArg, const thr_cid *pCid, const unsigned char *a,
                       size_t n) {
  car_set *p = pArg;
  if (p->n == p->nAlloc) {
    size_t nNew = p->nAlloc ? p->nAlloc * 2 : 64;
    car_block *aNew = sqlite3_realloc64(p->a, sizeof(car_block) * nNew);
    if (aNew == NULL) {
      return SQLITE_NOMEM;
    }
    p->a = aNew;
    p->nAlloc = nNew;
  }
  p->a[p->n].cid = *pCid;
  p->a[p->n].a = sqlite3_malloc64(n + 1);
  if (p->a[p->n].a == NULL) {
    return SQLITE_NOMEM;
  }
  memcpy(p->a[p->n].a, a, n);
  p->a[p->n].n = n;
  p->n++;
  return SQLITE_OK;
}

static int car_block_cmp(const void *a, const void *b) {
  return memcmp(((const car_block *)a)->cid.a, ((const car_block *)b)->cid.a,
                THR_CID_BYTES);
}

static const car_block *car_set_find(const car_set *p, const thr_cid *pCid) {
  car_block key = {*pCid, NULL, 0};
  if (p->n == 0) {
    return NULL; /* bsearch must not see a NULL array */
  }
  return bsearch(&key, p->a, p->n, sizeof(car_block), car_block_cmp);
}

/* A block source over the file's blocks (thr_block_fn). */
static const unsigned char *car_block_get(void *pArg, const thr_cid *pCid,
                                          size_t *pn) {
  const car_block *pB = car_set_find(pArg, pCid);
  if (pB == NULL) {
    return NULL;
  }
  *pn = pB->n;
  return pB->a;
}

/* Walk one log back from its head record hd, verifying everything. */
static int car_verify_log(const car_set *pSet, const thr_tkey *pKey,
                          const unsigned char logPk[32], const thr_cid *pHead,
                          sqlite3_int64 *pnRec, char **pzErr) {
  thr_cid cur = *pHead;
  int rc = SQLITE_OK;
  for (;;) {
    const car_block *pRec = car_set_find(pSet, &cur);
    thr_opened op;
    char *zWhy = NULL;
    if (pRec == NULL) {
      zWhy =
          sqlite3_mprintf("%s: record missing from the file", THR_CHECK_PREV);
      rc = SQLITE_ERROR;
    } else {
      rc = thr_rec_open(pKey->service, logPk, pRec->a, pRec->n, &op, &zWhy);
    }
    if (rc == SQLITE_OK && pKey->hasRead) {
      int64_t t;
      rc = thr_rec_open_content(pKey->read, &op.cidEvent, car_block_get,
                                (void *)pSet, NULL, &t, &zWhy);
    }
    if (rc != SQLITE_OK) {
      char *zLog = thr_peer_text(logPk), *zCid = thr_cid_text(&cur);
      *pzErr = sqlite3_mprintf("log %s, record %s: %s", zLog, zCid, zWhy);
      sqlite3_free(zLog);
      sqlite3_free(zCid);
      sqlite3_free(zWhy);
      return rc;
    }
    (*pnRec)++;
    if (!op.hasPrev) {
      return SQLITE_OK;
    }
    cur = op.cidPrev;
  }
}

int thr_store_verify_car(thr_store *p, const thr_tid *pTid, const char *zPath,
                         sqlite3_int64 *pnRec, char **pzErr) {
  car_set set = {NULL, 0, 0};
  thr_cid aRoot[256];
  int nRoot = 0, i, rc;
  sqlite3_int64 iThread;
  thr_tkey key;
  sqlite3_stmt *pStmt = NULL;
  *pnRec = 0;
  rc = store_known_thread(p, pTid, &iThread, &key, pzErr);
  if (rc != SQLITE_OK) {
    return rc;
  }
  /* The reader checks every block against its CID. */
  rc = thr_car_read(zPath, aRoot, 256, &nRoot, car_set_add, &set, pzErr);
  if (rc == SQLITE_OK) {
    qsort(set.a, set.n, sizeof(car_block), car_block_cmp);
    rc = sqlite3_prepare_v2(p->db,
                            "SELECT pk FROM _threads_heads WHERE tid = ?1 AND "
                            "head IS NOT NULL",
                            -1, &pStmt, NULL);
  }
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, iThread);
  }
  /* Each root must be the head of one of the thread's logs: the log whose
  ** key signed it.  Every log with records must have its root. */
  while (rc == SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW) {
    const unsigned char *logPk = sqlite3_column_blob(pStmt, 0);
    int bFound = 0;
    for (i = 0; rc == SQLITE_OK && !bFound && i < nRoot; i++) {
      const car_block *pRec = car_set_find(&set, &aRoot[i]);
      thr_opened op;
      char *zWhy = NULL;
      if (pRec && thr_rec_open(key.service, logPk, pRec->a, pRec->n, &op,
                               &zWhy) == SQLITE_OK) {
        bFound = 1;
        rc = car_verify_log(&set, &key, logPk, &aRoot[i], pnRec, pzErr);
      }
      sqlite3_free(zWhy);
    }
    if (rc == SQLITE_OK && !bFound) {
      char *zLog = thr_peer_text(logPk);
      *pzErr = sqlite3_mprintf("%s: no root of the file is the head of log "
                               "%s (%s)",
                               zPath, zLog, THR_CHECK_SIG);
      sqlite3_free(zLog);
      rc = SQLITE_ERROR;
    }
  }
  sqlite3_finalize(pStmt);
  for (i = 0; i < (int)set.n; i++) {
    sqlite3_free(set.a[i].a);
  }
  sqlite3_free(set.a);
  sodium_memzero(&key, sizeof(key));
  return rc;
}
