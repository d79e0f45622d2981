/*
** sync.c: the event store as the sync node sees it.
**
** Serving: the logs of a thread with their counts (heads) and pages of
** records by counter.  Receiving: thr_sync_put() checks a record a peer
** sent before anything is stored:
**
**   1. position: a counter at or below the log's count is a record we hold
**      (same CID: nothing to do; another CID: a fork, see below); above
**      count + 1 is a gap, which the caller fills by pulling, never by
**      guessing;
**   2. the record block opens with the service key and its signature
**      verifies with the log's key (thr_rec_open);
**   3. its prev link names the log's current head (none on counter 1);
**   4. the event block has the CID the record names, the header and body
**      the CIDs the event names;
**   5. with the read key, the header and body decrypt, and the body's
**      actions go through the views' reducers (thr_apply_body), which
**      judge each action by the collection's schema.
**
** A record that passes steps 2 and 4 (the log's key signed it) but takes
** another place than ours (step 1 with another CID, or step 3 failing) is
** either one of our own records replayed at a wrong counter, which is
** refused ("broken prev link"), or a record of another branch of the log:
** the log forked.  That is THR_PUT_FORK, not stored, for the node to
** resolve by the rule of core/fork.c.
**
** The record row and the reducers' writes share one savepoint: a record is
** stored with its effects or not at all.  Steps 2, 4 and the decryption and
** parsing of step 5 need no database: thr_sync_check() does them, on any
** thread, so that the node checks the records of a page on a thread pool
** while it stores the page before; thr_sync_put() does the rest.
*/
#include "thr_sync.h"

#include <sodium.h>
#include <string.h>

enum {
  SQ_HEADS,
  SQ_HEAD_OF,
  SQ_CID_AT,
  SQ_READ,
  SQ_INS,
  SQ_SIZES,
  SQ_SAVEPOINT,
  SQ_RELEASE,
  SQ_ROLLBACK_TO,
  SQ_HAS_CID,
  SQ_CIDS,
  SQ_COUNT
};

static const char *const azSql[SQ_COUNT] = {
    "SELECT pk, counter, head FROM _threads_heads WHERE tid = ?1 ORDER BY pk",
    /* (Counters below 1 are records a fork resolution is dropping.) */
    "SELECT l.lid, r.counter, r.cid FROM _threads_log l"
    " LEFT JOIN _threads_record r ON r.lid = l.lid AND r.counter > 0"
    " WHERE l.tid = ?1 AND l.pk = ?2 ORDER BY r.counter DESC LIMIT 1",
    "SELECT r.cid FROM _threads_log l JOIN _threads_record r"
    " ON r.lid = l.lid WHERE l.tid = ?1 AND l.pk = ?2 AND r.counter = ?3",
    "SELECT r.counter, r.record, r.event, r.header, r.body"
    " FROM _threads_log l JOIN _threads_record r ON r.lid = l.lid"
    " WHERE l.tid = ?1 AND l.pk = ?2 AND r.counter > ?3"
    " ORDER BY r.counter",
    "INSERT INTO _threads_record(lid, counter, cid, prev, author, time, "
    "record, event, header, body) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    "SELECT r.rid, length(r.record), length(r.event), length(r.header),"
    " length(r.body) FROM _threads_log l JOIN _threads_record r"
    " ON r.lid = l.lid WHERE l.tid = ?1 AND l.pk = ?2 AND r.counter = ?3",
    "SAVEPOINT _threads_sync",
    "RELEASE _threads_sync",
    "ROLLBACK TO _threads_sync",
    /* Rare (a suspected fork): the log's rows are scanned, no index. */
    "SELECT 1 FROM _threads_log l JOIN _threads_record r ON r.lid = l.lid"
    " WHERE l.tid = ?1 AND l.pk = ?2 AND r.cid = ?3",
    "SELECT r.counter, r.cid FROM _threads_log l JOIN _threads_record r"
    " ON r.lid = l.lid WHERE l.tid = ?1 AND l.pk = ?2 AND r.counter >= ?3"
    " ORDER BY r.counter LIMIT ?4",
};

struct thr_sync {
  thr_store *pStore;
  sqlite3 *db;
  sqlite3_stmt *aStmt[SQ_COUNT];
};

int thr_sync_open(thr_store *pStore, thr_sync **pp, char **pzErr) {
  thr_sync *p = sqlite3_malloc64(sizeof(*p));
  int rc;
  *pp = NULL;
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  memset(p, 0, sizeof(*p));
  p->pStore = pStore;
  p->db = thr_store_db(pStore);
  rc = thr_store_setup(pStore, pzErr);
  if (rc != SQLITE_OK) {
    sqlite3_free(p);
    return rc;
  }
  *pp = p;
  return SQLITE_OK;
}

void thr_sync_close(thr_sync *p) {
  int i;
  if (p == NULL) {
    return;
  }
  for (i = 0; i < SQ_COUNT; i++) {
    sqlite3_finalize(p->aStmt[i]);
  }
  sqlite3_free(p);
}

thr_store *thr_sync_store(thr_sync *p) {
  return p->pStore;
}

/* Statement i, prepared on first use and reset for reuse. */
static sqlite3_stmt *sync_stmt(thr_sync *p, int i, int *pRc) {
  if (p->aStmt[i] == NULL) {
    *pRc = sqlite3_prepare_v3(p->db, azSql[i], -1, SQLITE_PREPARE_PERSISTENT,
                              &p->aStmt[i], NULL);
    if (*pRc != SQLITE_OK) {
      return NULL;
    }
  }
  return p->aStmt[i];
}

static void sync_done(sqlite3_stmt *pStmt) {
  if (pStmt) {
    sqlite3_reset(pStmt);
    sqlite3_clear_bindings(pStmt);
  }
}

static int sync_exec(thr_sync *p, int i) {
  int rc = SQLITE_OK;
  sqlite3_stmt *pStmt = sync_stmt(p, i, &rc);
  if (pStmt) {
    rc =
        sqlite3_step(pStmt) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(p->db);
    sync_done(pStmt);
  }
  return rc;
}

static char *sync_errmsg(thr_sync *p, int rc) {
  if (rc == SQLITE_NOMEM) {
    return sqlite3_mprintf("out of memory");
  }
  return sqlite3_mprintf("%s", sqlite3_errmsg(p->db));
}

int thr_sync_thread(thr_sync *p, const thr_tid *pTid, sqlite3_int64 *piThread,
                    thr_tkey *pKey, char **pzErr) {
  return thr_store_thread_key(p->pStore, pTid, piThread, pKey, pzErr);
}

int thr_sync_join(thr_sync *p, const thr_tid *pTid, const thr_tkey *pKey,
                  int bOwnLog, char **pzErr) {
  sqlite3_stmt *pStmt = NULL;
  sqlite3_int64 iThread = 0, iLid;
  thr_tkey have;
  unsigned char logPk[32];
  const thr_keypair *pId;
  int rc = sync_exec(p, SQ_SAVEPOINT);
  if (rc != SQLITE_OK) {
    *pzErr = sync_errmsg(p, rc);
    return rc;
  }
  memset(&have, 0, sizeof(have));
  rc = thr_store_thread_key(p->pStore, pTid, &iThread, &have, pzErr);
  if (rc == SQLITE_ERROR) { /* unknown: a new thread row */
    sqlite3_free(*pzErr);
    *pzErr = NULL;
    rc = sqlite3_prepare_v2(p->db,
                            "INSERT INTO _threads_thread(id, name, service, "
                            "read, created) VALUES (?1, NULL, ?2, ?3, ?4)",
                            -1, &pStmt, NULL);
    if (rc == SQLITE_OK) {
      sqlite3_bind_blob(pStmt, 1, pTid->a, pTid->n, SQLITE_STATIC);
      sqlite3_bind_blob(pStmt, 2, pKey->service, THR_KEY_BYTES, SQLITE_STATIC);
      if (pKey->hasRead) {
        sqlite3_bind_blob(pStmt, 3, pKey->read, THR_KEY_BYTES, SQLITE_STATIC);
      }
      sqlite3_bind_int64(pStmt, 4, thr_now_ms());
      rc = sqlite3_step(pStmt) == SQLITE_DONE ? SQLITE_OK
                                              : sqlite3_errcode(p->db);
      iThread = sqlite3_last_insert_rowid(p->db);
    }
  } else if (rc == SQLITE_OK) {
    if (sodium_memcmp(have.service, pKey->service, THR_KEY_BYTES) != 0 ||
        (have.hasRead && pKey->hasRead &&
         sodium_memcmp(have.read, pKey->read, THR_KEY_BYTES) != 0)) {
      *pzErr = sqlite3_mprintf("this thread is known here with another key");
      rc = SQLITE_ERROR;
    } else if (pKey->hasRead && !have.hasRead) {
      rc = sqlite3_prepare_v2(p->db,
                              "UPDATE _threads_thread SET read = ?2"
                              " WHERE tid = ?1",
                              -1, &pStmt, NULL);
      if (rc == SQLITE_OK) {
        sqlite3_bind_int64(pStmt, 1, iThread);
        sqlite3_bind_blob(pStmt, 2, pKey->read, THR_KEY_BYTES, SQLITE_STATIC);
        rc = sqlite3_step(pStmt) == SQLITE_DONE ? SQLITE_OK
                                                : sqlite3_errcode(p->db);
      }
    }
  }
  sqlite3_finalize(pStmt);
  if (rc == SQLITE_OK && bOwnLog) {
    rc = thr_store_log_pk(p->pStore, pTid, logPk, &pId, pzErr);
    if (rc == SQLITE_OK) {
      rc = thr_store_log_lid(p->pStore, iThread, logPk, pId->pk, 1, &iLid,
                             pzErr);
    }
  }
  if (rc != SQLITE_OK && *pzErr == NULL) {
    *pzErr = sync_errmsg(p, rc);
  }
  if (rc != SQLITE_OK) {
    sync_exec(p, SQ_ROLLBACK_TO);
  }
  sync_exec(p, SQ_RELEASE);
  sodium_memzero(&have, sizeof(have));
  return rc;
}

int thr_sync_heads(thr_sync *p, sqlite3_int64 iThread, thr_head **paHead,
                   int *pnHead, char **pzErr) {
  int rc = SQLITE_OK, n = 0, nAlloc = 0;
  thr_head *a = NULL;
  sqlite3_stmt *pStmt = sync_stmt(p, SQ_HEADS, &rc);
  *paHead = NULL;
  *pnHead = 0;
  if (pStmt == NULL) {
    *pzErr = sync_errmsg(p, rc);
    return rc;
  }
  sqlite3_bind_int64(pStmt, 1, iThread);
  while (rc == SQLITE_OK) {
    int s = sqlite3_step(pStmt);
    if (s != SQLITE_ROW) {
      rc = s == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(p->db);
      break;
    }
    if (sqlite3_column_bytes(pStmt, 0) != 32) {
      rc = SQLITE_CORRUPT;
      break;
    }
    if (n == nAlloc) {
      thr_head *aNew;
      nAlloc = nAlloc ? 2 * nAlloc : 8;
      aNew = sqlite3_realloc64(a, (sqlite3_uint64)nAlloc * sizeof(*a));
      if (aNew == NULL) {
        rc = SQLITE_NOMEM;
        break;
      }
      a = aNew;
    }
    memcpy(a[n].pk, sqlite3_column_blob(pStmt, 0), 32);
    a[n].counter = sqlite3_column_int64(pStmt, 1);
    a[n].hasHead = 0;
    if (a[n].counter > 0) {
      if (sqlite3_column_bytes(pStmt, 2) != THR_CID_BYTES) {
        rc = SQLITE_CORRUPT;
        break;
      }
      memcpy(a[n].head.a, sqlite3_column_blob(pStmt, 2), THR_CID_BYTES);
      a[n].hasHead = 1;
    }
    n++;
  }
  sync_done(pStmt);
  if (rc != SQLITE_OK) {
    sqlite3_free(a);
    *pzErr = sync_errmsg(p, rc);
    return rc;
  }
  *paHead = a;
  *pnHead = n;
  return SQLITE_OK;
}

int thr_sync_read(thr_sync *p, sqlite3_int64 iThread,
                  const unsigned char pk[32], sqlite3_int64 iAfter, int nMax,
                  size_t nMaxBytes, thr_sync_rec_fn xRec, void *pArg,
                  char **pzErr) {
  int rc = SQLITE_OK, nDone = 0;
  size_t nBytes = 0;
  sqlite3_stmt *pStmt = sync_stmt(p, SQ_READ, &rc);
  if (pStmt == NULL) {
    *pzErr = sync_errmsg(p, rc);
    return rc;
  }
  sqlite3_bind_int64(pStmt, 1, iThread);
  sqlite3_bind_blob(pStmt, 2, pk, 32, SQLITE_STATIC);
  sqlite3_bind_int64(pStmt, 3, iAfter);
  while (rc == SQLITE_OK && nDone < nMax) {
    thr_wire_rec r;
    size_t nRec = 0;
    int i, s = sqlite3_step(pStmt);
    if (s != SQLITE_ROW) {
      if (s != SQLITE_DONE) {
        rc = sqlite3_errcode(p->db);
      }
      break;
    }
    memset(&r, 0, sizeof(r));
    r.counter = sqlite3_column_int64(pStmt, 0);
    for (i = 0; i < 4; i++) {
      r.n[i] = (size_t)sqlite3_column_bytes(pStmt, i + 1);
      r.a[i] = sqlite3_column_blob(pStmt, i + 1);
      nRec += r.n[i];
    }
    if (nDone > 0 && nBytes + nRec > nMaxBytes) {
      break;
    }
    rc = xRec(pArg, &r);
    if (rc == SQLITE_DONE) { /* the callback stops before this record */
      rc = SQLITE_OK;
      break;
    }
    nBytes += nRec;
    nDone++;
  }
  sync_done(pStmt);
  if (rc != SQLITE_OK && *pzErr == NULL) {
    *pzErr = sync_errmsg(p, rc);
  }
  return rc;
}

int thr_sync_cids(thr_sync *p, sqlite3_int64 iThread,
                  const unsigned char pk[32], sqlite3_int64 iFrom, int nMax,
                  thr_cid *aCid, int *pn, char **pzErr) {
  int rc = SQLITE_OK, n = 0;
  sqlite3_stmt *pStmt = sync_stmt(p, SQ_CIDS, &rc);
  *pn = 0;
  if (pStmt == NULL) {
    *pzErr = sync_errmsg(p, rc);
    return rc;
  }
  sqlite3_bind_int64(pStmt, 1, iThread);
  sqlite3_bind_blob(pStmt, 2, pk, 32, SQLITE_STATIC);
  sqlite3_bind_int64(pStmt, 3, iFrom);
  sqlite3_bind_int(pStmt, 4, nMax);
  while (n < nMax) {
    int s = sqlite3_step(pStmt);
    if (s != SQLITE_ROW) {
      rc = s == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(p->db);
      break;
    }
    /* Counters are dense from 1 (verified on the way in): stop at a hole
    ** rather than misplace what follows it. */
    if (sqlite3_column_int64(pStmt, 0) != iFrom + n ||
        sqlite3_column_bytes(pStmt, 1) != THR_CID_BYTES) {
      break;
    }
    memcpy(aCid[n].a, sqlite3_column_blob(pStmt, 1), THR_CID_BYTES);
    n++;
  }
  sync_done(pStmt);
  if (rc != SQLITE_OK) {
    *pzErr = sync_errmsg(p, rc);
    return rc;
  }
  *pn = n;
  return SQLITE_OK;
}

int thr_sync_part(thr_sync *p, sqlite3_int64 iThread,
                  const unsigned char pk[32], sqlite3_int64 iCounter,
                  size_t an[4], size_t iOff, unsigned char *aBuf, size_t nBuf,
                  size_t *pnGot, char **pzErr) {
  static const char *const azCol[4] = {"record", "event", "header", "body"};
  sqlite3_int64 iRid = 0;
  size_t iStart = 0;
  int rc = SQLITE_OK, i;
  sqlite3_stmt *pStmt = sync_stmt(p, SQ_SIZES, &rc);
  *pnGot = 0;
  if (pStmt == NULL) {
    *pzErr = sync_errmsg(p, rc);
    return rc;
  }
  sqlite3_bind_int64(pStmt, 1, iThread);
  sqlite3_bind_blob(pStmt, 2, pk, 32, SQLITE_STATIC);
  sqlite3_bind_int64(pStmt, 3, iCounter);
  rc = sqlite3_step(pStmt);
  if (rc == SQLITE_ROW) {
    rc = SQLITE_OK;
    iRid = sqlite3_column_int64(pStmt, 0);
    for (i = 0; i < 4; i++) {
      an[i] = (size_t)sqlite3_column_int64(pStmt, i + 1);
    }
  } else if (rc == SQLITE_DONE) {
    rc = SQLITE_NOTFOUND;
  } else {
    rc = sqlite3_errcode(p->db);
  }
  sync_done(pStmt);
  if (rc != SQLITE_OK) {
    *pzErr = rc == SQLITE_NOTFOUND ? sqlite3_mprintf("no such record")
                                   : sync_errmsg(p, rc);
    return rc;
  }
  /* The blocks one after the other; copy what overlaps [iOff, iOff+nBuf). */
  for (i = 0; i < 4 && rc == SQLITE_OK && *pnGot < nBuf; i++) {
    size_t iEnd = iStart + an[i];
    if (iOff + *pnGot < iEnd) {
      size_t iFrom = iOff + *pnGot - iStart;
      size_t nTake = an[i] - iFrom;
      sqlite3_blob *pBlob = NULL;
      if (nTake > nBuf - *pnGot) {
        nTake = nBuf - *pnGot;
      }
      rc = sqlite3_blob_open(p->db, "main", "_threads_record", azCol[i], iRid,
                             0, &pBlob);
      if (rc == SQLITE_OK) {
        rc = sqlite3_blob_read(pBlob, aBuf + *pnGot, (int)nTake, (int)iFrom);
      }
      sqlite3_blob_close(pBlob);
      if (rc == SQLITE_OK) {
        *pnGot += nTake;
      }
    }
    iStart = iEnd;
  }
  if (rc != SQLITE_OK) {
    *pzErr = sync_errmsg(p, rc);
  }
  return rc;
}

/* Step 1 of the checks: where the record falls in the log.  Sets *piLog
** (0: no log row yet), *pnHave and the head CID. */
static int put_position(thr_sync *p, sqlite3_int64 iThread,
                        const unsigned char logPk[32], sqlite3_int64 *piLog,
                        sqlite3_int64 *pnHave, thr_cid *pHead) {
  int rc = SQLITE_OK;
  sqlite3_stmt *pStmt = sync_stmt(p, SQ_HEAD_OF, &rc);
  *piLog = 0;
  *pnHave = 0;
  if (pStmt == NULL) {
    return rc;
  }
  sqlite3_bind_int64(pStmt, 1, iThread);
  sqlite3_bind_blob(pStmt, 2, logPk, 32, SQLITE_STATIC);
  if (sqlite3_step(pStmt) == SQLITE_ROW) {
    *piLog = sqlite3_column_int64(pStmt, 0);
    if (sqlite3_column_type(pStmt, 1) != SQLITE_NULL) {
      *pnHave = sqlite3_column_int64(pStmt, 1);
      if (sqlite3_column_bytes(pStmt, 2) != THR_CID_BYTES) {
        rc = SQLITE_CORRUPT;
      } else {
        memcpy(pHead->a, sqlite3_column_blob(pStmt, 2), THR_CID_BYTES);
      }
    }
  }
  sync_done(pStmt);
  return rc;
}

/* Is the stored record at counter iAt of the log the one with CID pCid? */
static int put_same(thr_sync *p, sqlite3_int64 iThread,
                    const unsigned char logPk[32], sqlite3_int64 iAt,
                    const thr_cid *pCid, int *pbSame) {
  int rc = SQLITE_OK;
  sqlite3_stmt *pStmt = sync_stmt(p, SQ_CID_AT, &rc);
  *pbSame = 0;
  if (pStmt == NULL) {
    return rc;
  }
  sqlite3_bind_int64(pStmt, 1, iThread);
  sqlite3_bind_blob(pStmt, 2, logPk, 32, SQLITE_STATIC);
  sqlite3_bind_int64(pStmt, 3, iAt);
  if (sqlite3_step(pStmt) == SQLITE_ROW &&
      sqlite3_column_bytes(pStmt, 0) == THR_CID_BYTES &&
      memcmp(sqlite3_column_blob(pStmt, 0), pCid->a, THR_CID_BYTES) == 0) {
    *pbSame = 1;
  }
  sync_done(pStmt);
  return rc;
}

/* Is a record with CID pCid stored anywhere in the log? */
static int put_held(thr_sync *p, sqlite3_int64 iThread,
                    const unsigned char logPk[32], const thr_cid *pCid,
                    int *pbHeld) {
  int rc = SQLITE_OK;
  sqlite3_stmt *pStmt = sync_stmt(p, SQ_HAS_CID, &rc);
  *pbHeld = 0;
  if (pStmt == NULL) {
    return rc;
  }
  sqlite3_bind_int64(pStmt, 1, iThread);
  sqlite3_bind_blob(pStmt, 2, logPk, 32, SQLITE_STATIC);
  sqlite3_bind_blob(pStmt, 3, pCid->a, THR_CID_BYTES, SQLITE_STATIC);
  *pbHeld = sqlite3_step(pStmt) == SQLITE_ROW;
  sync_done(pStmt);
  return rc;
}

/* A checked record that does not fit where it says it goes: one of ours
** replayed elsewhere (refused), or another branch of the log (a fork). */
static int put_misplaced(thr_sync *p, sqlite3_int64 iThread,
                         const unsigned char logPk[32],
                         const thr_wire_rec *pRec, const thr_checked *pChk,
                         int *peOut, char **pzWhy) {
  int bHeld = 0;
  int rc = put_held(p, iThread, logPk, &pChk->cid, &bHeld);
  if (rc == SQLITE_OK && bHeld) {
    *pzWhy = sqlite3_mprintf("%s: record %lld is one we hold at another "
                             "counter",
                             THR_CHECK_PREV, (long long)pRec->counter);
  } else if (rc == SQLITE_OK) {
    *peOut = THR_PUT_FORK;
  }
  return rc;
}

/* Does block i of the record hash to pWant? */
static int put_block_ok(const thr_wire_rec *pRec, int i, const thr_cid *pWant) {
  thr_cid got;
  if (pRec->a[i] == NULL || pRec->n[i] == 0) {
    return 0;
  }
  thr_cid_of(&got, THR_CODEC_DAGCBOR, pRec->a[i], pRec->n[i]);
  return memcmp(got.a, pWant->a, THR_CID_BYTES) == 0;
}

/* A record without a record block or a counter. */
static int rec_malformed(const thr_wire_rec *pRec) {
  return pRec->a[THR_BLK_RECORD] == NULL || pRec->n[THR_BLK_RECORD] == 0 ||
         pRec->counter < 1;
}

void thr_checked_clear(thr_checked *p) {
  thr_body_free(p->pBody);
  sqlite3_free(p->zWhy);
  memset(p, 0, sizeof(*p));
}

/* Steps 2, 4 and 5's decryption: no database, so any thread. */
void thr_sync_check(const thr_tkey *pKey, const unsigned char logPk[32],
                    const thr_wire_rec *pRec, thr_checked *pOut) {
  thr_cid cidBody, cidHeader;
  unsigned char contentKey[32];
  thr_cbuf plain = {NULL, 0};
  memset(pOut, 0, sizeof(*pOut));
  pOut->bBad = 1;
  if (rec_malformed(pRec)) {
    pOut->zWhy = sqlite3_mprintf("%s", THR_CHECK_DECODE);
    return;
  }
  thr_cid_of(&pOut->cid, THR_CODEC_DAGCBOR, pRec->a[THR_BLK_RECORD],
             pRec->n[THR_BLK_RECORD]);
  if (thr_rec_open(pKey->service, logPk, pRec->a[THR_BLK_RECORD],
                   pRec->n[THR_BLK_RECORD], &pOut->op,
                   &pOut->zWhy) != SQLITE_OK) {
    return;
  }
  if (!put_block_ok(pRec, THR_BLK_EVENT, &pOut->op.cidEvent) ||
      thr_event_open(pRec->a[THR_BLK_EVENT], pRec->n[THR_BLK_EVENT], &cidBody,
                     &cidHeader, &pOut->zWhy) != SQLITE_OK ||
      !put_block_ok(pRec, THR_BLK_HEADER, &cidHeader) ||
      !put_block_ok(pRec, THR_BLK_BODY, &cidBody)) {
    if (pOut->zWhy == NULL) {
      pOut->zWhy = sqlite3_mprintf("%s", THR_CHECK_CID);
    }
    return;
  }
  if (pKey->hasRead) {
    int rc = thr_header_open(pKey->read, pRec->a[THR_BLK_HEADER],
                             pRec->n[THR_BLK_HEADER], contentKey,
                             &pOut->tHeader, &pOut->zWhy);
    if (rc == SQLITE_OK) {
      rc = thr_body_open(contentKey, pRec->a[THR_BLK_BODY],
                         pRec->n[THR_BLK_BODY], &plain, &pOut->zWhy);
    }
    sodium_memzero(contentKey, sizeof(contentKey));
    if (rc != SQLITE_OK) {
      return;
    }
    rc = thr_body_parse(plain.a, plain.n, 1, &pOut->pBody); /* checked */
    sodium_memzero(plain.a, plain.n);
    sqlite3_free(plain.a);
    if (rc != SQLITE_OK) {
      pOut->zWhy = sqlite3_mprintf("out of memory");
      pOut->bNoMem = 1;
      return;
    }
  }
  pOut->bBad = 0;
}

/* Step 3 and the writes, with the savepoint open, for a record that passed
** thr_sync_check(). */
static int put_checked(thr_sync *p, sqlite3_int64 iThread, const thr_tkey *pKey,
                       const unsigned char logPk[32], const thr_wire_rec *pRec,
                       const thr_checked *pChk, sqlite3_int64 iLog,
                       sqlite3_int64 nHave, const thr_cid *pHead, int *peOut,
                       int *pnSkip, char **pzWhy) {
  const thr_opened *pOp = &pChk->op;
  sqlite3_stmt *pStmt;
  int rc = SQLITE_OK;

  if (nHave == 0 && pOp->hasPrev) {
    /* A log's first record links to nothing. */
    *pzWhy = sqlite3_mprintf("%s", THR_CHECK_PREV);
    return SQLITE_OK;
  }
  if (nHave > 0 &&
      (!pOp->hasPrev || memcmp(pOp->cidPrev.a, pHead->a, THR_CID_BYTES) != 0)) {
    return put_misplaced(p, iThread, logPk, pRec, pChk, peOut, pzWhy);
  }
  if (iLog == 0) {
    rc = thr_store_log_lid(p->pStore, iThread, logPk, pOp->author, 0, &iLog,
                           pzWhy);
  }
  if (rc == SQLITE_OK && pKey->hasRead) {
    rc = thr_body_apply(p->pStore, iThread, logPk, pOp->author, pChk->cid.a,
                        pChk->pBody, NULL, NULL, pnSkip, pzWhy);
  }
  if (rc != SQLITE_OK) {
    return rc;
  }
  pStmt = sync_stmt(p, SQ_INS, &rc);
  if (pStmt) {
    sqlite3_bind_int64(pStmt, 1, iLog);
    sqlite3_bind_int64(pStmt, 2, nHave + 1);
    sqlite3_bind_blob(pStmt, 3, pChk->cid.a, THR_CID_BYTES, SQLITE_STATIC);
    if (pOp->hasPrev) {
      sqlite3_bind_blob(pStmt, 4, pOp->cidPrev.a, THR_CID_BYTES, SQLITE_STATIC);
    }
    sqlite3_bind_blob(pStmt, 5, pOp->author, 32, SQLITE_STATIC);
    if (pKey->hasRead) {
      sqlite3_bind_int64(pStmt, 6, pChk->tHeader);
    }
    sqlite3_bind_blob64(pStmt, 7, pRec->a[THR_BLK_RECORD],
                        pRec->n[THR_BLK_RECORD], SQLITE_STATIC);
    sqlite3_bind_blob64(pStmt, 8, pRec->a[THR_BLK_EVENT],
                        pRec->n[THR_BLK_EVENT], SQLITE_STATIC);
    sqlite3_bind_blob64(pStmt, 9, pRec->a[THR_BLK_HEADER],
                        pRec->n[THR_BLK_HEADER], SQLITE_STATIC);
    sqlite3_bind_blob64(pStmt, 10, pRec->a[THR_BLK_BODY], pRec->n[THR_BLK_BODY],
                        SQLITE_STATIC);
    rc =
        sqlite3_step(pStmt) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(p->db);
    sync_done(pStmt);
  }
  if (rc == SQLITE_OK) {
    *peOut = THR_PUT_ADDED;
  }
  return rc;
}

int thr_sync_flush(thr_sync *p) {
  char *zErr = NULL;
  int rc = thr_reduce_flush(p->pStore, &zErr);
  sqlite3_free(zErr);
  return rc;
}

void thr_sync_rollback(thr_sync *p) { thr_reduce_rollback(p->pStore); }

int thr_sync_put(thr_sync *p, sqlite3_int64 iThread, const thr_tkey *pKey,
                 const unsigned char logPk[32], const thr_wire_rec *pRec,
                 const thr_checked *pChk, int *peOut, int *pnSkip,
                 char **pzWhy) {
  sqlite3_int64 iLog, nHave;
  thr_checked own;
  thr_cid head;
  int rc, bSame;
  *peOut = THR_PUT_BAD;
  if (pChk == NULL) {
    thr_sync_check(pKey, logPk, pRec, &own);
    pChk = &own;
  }
  if (rec_malformed(pRec)) { /* no position to look up */
    *pzWhy = sqlite3_mprintf("%s", THR_CHECK_DECODE);
    rc = SQLITE_OK;
    goto done;
  }
  rc = put_position(p, iThread, logPk, &iLog, &nHave, &head);
  if (rc == SQLITE_OK && pRec->counter <= nHave) {
    rc = put_same(p, iThread, logPk, pRec->counter, &pChk->cid, &bSame);
    if (rc == SQLITE_OK && bSame) {
      *peOut = THR_PUT_HAVE;
    } else if (rc == SQLITE_OK && pChk->bNoMem) {
      rc = SQLITE_NOMEM;
    } else if (rc == SQLITE_OK && pChk->bBad) {
      *pzWhy = sqlite3_mprintf("%s", pChk->zWhy ? pChk->zWhy : "bad record");
    } else if (rc == SQLITE_OK) {
      rc = put_misplaced(p, iThread, logPk, pRec, pChk, peOut, pzWhy);
    }
  } else if (rc == SQLITE_OK && pRec->counter > nHave + 1) {
    *peOut = THR_PUT_GAP;
  } else if (rc == SQLITE_OK && pChk->bNoMem) {
    rc = SQLITE_NOMEM;
  } else if (rc == SQLITE_OK && pChk->bBad) {
    *pzWhy = sqlite3_mprintf("%s", pChk->zWhy ? pChk->zWhy : "bad record");
  } else if (rc == SQLITE_OK) {
    rc = sync_exec(p, SQ_SAVEPOINT);
    if (rc == SQLITE_OK) {
      rc = put_checked(p, iThread, pKey, logPk, pRec, pChk, iLog, nHave, &head,
                       peOut, pnSkip, pzWhy);
      if (rc != SQLITE_OK || *peOut != THR_PUT_ADDED) {
        sync_exec(p, SQ_ROLLBACK_TO);
      }
      sync_exec(p, SQ_RELEASE);
    }
  }
  if (rc != SQLITE_OK && *pzWhy == NULL) {
    *pzWhy = sync_errmsg(p, rc);
  }
done:
  if (pChk == &own) {
    thr_checked_clear(&own);
  }
  return rc;
}
