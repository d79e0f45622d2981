/*
** fork.c: forks of a log, and the rule that resolves them.
**
** A log has one writer: the file that holds its key.  A copy of that file
** holds the key too.  store.c keeps a copy from writing the original's log
** (a file that finds itself at another path or inode starts a log of its
** own: "FILE IDENTITY" in store.c), but a copy that keeps path and inode
** (a VM snapshot, cp over the same file, an in-place restore, a file
** written by a version before generations) still can: then the log forks,
** two records at one counter, each validly signed.  The sync sees it from
** heads (node.c: a head CID that is not ours at a counter both hold, or a
** pulled record whose prev does not link to ours) and finds the first
** counter f where the two branches differ; this file decides which branch
** every peer keeps.
**
** THE RULE (the same on every peer, so all converge)
**
**   Two branches of log L that hold the same records 1..f-1 and differ at
**   counter f are ordered by the CIDs of their records at f, compared as
**   bytes (memcmp over the 36 CID bytes): the branch whose record f has
**   the smaller CID wins.  A record's CID fixes every record below it, so
**   this is the lexicographic order of the branches' CID sequences: a
**   total order, and three or more branches of one log also end on a
**   single one, the smallest, whatever order the peers meet in.
**
**   Every peer keeps the winning branch:
**   - a peer that holds the winner keeps its records and changes nothing;
**   - a peer that holds the loser drops its records from f on and stores
**     the winner's in their place, pulled from the peer that showed it or
**     pushed by it (the rest of the winner then comes as any record);
**   - when the log is its own (its author is this peer's identity: this
**     file or a copy of it wrote the losing records), it first re-issues
**     the body of each of its records from f on, byte for byte (the same
**     actions with the same clocks), decrypted with its read key, as new
**     records of a new generation of its own log (thr_store_new_log),
**     which it writes from then on: the log it shared with the copy is
**     left to the winner's writer.
**   Then every collection view of the thread is recomputed from the log
**   (thr_view_rebuild).  The re-issue, the drop, the winner's records and
**   the rebuilt views are one savepoint inside the node's transaction: a
**   crash leaves the file before or after, never between.
**
** WHAT IT GUARANTEES
**
**   Once the copy that wrote the losing records has been online together
**   with a peer that holds the winner, its writes are back, in its new
**   log, on every peer: no committed write of either copy is lost.  Until
**   then, peers that adopted the winner lack the loser's writes (they
**   cannot re-issue another identity's records).  Each action keeps its
**   hybrid clock; only the log ID it sorts by among equal clocks changes.
**   A file with this identity that holds a losing branch it did not write
**   (three copies writing one log) re-issues it too: the same actions
**   twice, with the same clocks and values, which the merge rule applies
**   as once, except against a write of exactly the same clock.
**
** COST
**
**   Detection: heads carry each log's head CID (36 bytes a log); a
**   suspected fork costs one "cids" request per 512 counters searched
**   back (usually one), and a pull of the peer's record at f (of its
**   first page when it wins).  The winner pushes its branch to the loser
**   (node.c).  The loser re-issues its losing records (one signature and
**   four hashes each, as a commit), and every view of the thread is
**   rebuilt: every record of the thread decrypted and reduced once per
**   view, the same work as threads_rebuild on each table (0.4 s for
**   100,000 rows on the development VM).  The thread keeps one more log
**   per losing copy.
*/
#include "thr_sync.h"

#include <sodium.h>
#include <string.h>

int thr_fork_wins(const thr_cid *pA, const thr_cid *pB) {
  return memcmp(pA->a, pB->a, THR_CID_BYTES) < 0;
}

/* Our side of log logPk at the fork: its row, author, count and the CIDs
** of its records f - 1 (hasBefore) and f (hasAt), where held. */
typedef struct fork_log fork_log;
struct fork_log {
  sqlite3_int64 iLog;
  unsigned char author[32];
  int hasAuthor;
  sqlite3_int64 nHave;
  thr_cid at, before;
  int hasAt, hasBefore;
};

static int fork_cid_col(sqlite3_stmt *pStmt, int iCol, thr_cid *pCid) {
  if (sqlite3_column_bytes(pStmt, iCol) != THR_CID_BYTES) {
    return 0;
  }
  memcpy(pCid->a, sqlite3_column_blob(pStmt, iCol), THR_CID_BYTES);
  return 1;
}

static int fork_read_log(sqlite3 *db, sqlite3_int64 iThread,
                         const unsigned char logPk[32], sqlite3_int64 iFork,
                         fork_log *pL) {
  sqlite3_stmt *pStmt = NULL;
  int rc = sqlite3_prepare_v2(
      db,
      "SELECT l.lid, l.author,"
      " (SELECT max(counter) FROM _threads_record WHERE lid = l.lid),"
      " (SELECT cid FROM _threads_record WHERE lid = l.lid AND counter = ?3),"
      " (SELECT cid FROM _threads_record WHERE lid = l.lid AND counter = ?3-1)"
      " FROM _threads_log l WHERE l.tid = ?1 AND l.pk = ?2",
      -1, &pStmt, NULL);
  memset(pL, 0, sizeof(*pL));
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, iThread);
    sqlite3_bind_blob(pStmt, 2, logPk, 32, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 3, iFork);
    if (sqlite3_step(pStmt) == SQLITE_ROW) {
      pL->iLog = sqlite3_column_int64(pStmt, 0);
      if (sqlite3_column_bytes(pStmt, 1) == 32) {
        memcpy(pL->author, sqlite3_column_blob(pStmt, 1), 32);
        pL->hasAuthor = 1;
      }
      pL->nHave = sqlite3_column_int64(pStmt, 2);
      pL->hasAt = fork_cid_col(pStmt, 3, &pL->at);
      pL->hasBefore = fork_cid_col(pStmt, 4, &pL->before);
    }
    rc = sqlite3_finalize(pStmt);
  }
  return rc;
}

/* The row ids of log iLog's records from counter iFrom on, in order
** (*paRid owned). */
static int fork_rids(sqlite3 *db, sqlite3_int64 iLog, sqlite3_int64 iFrom,
                     sqlite3_int64 **paRid, int *pnRid) {
  sqlite3_stmt *pStmt = NULL;
  sqlite3_int64 *a = NULL;
  int n = 0, nAlloc = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT rid FROM _threads_record WHERE lid = ?1"
                              " AND counter >= ?2 ORDER BY counter",
                              -1, &pStmt, NULL);
  *paRid = NULL;
  *pnRid = 0;
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, iLog);
    sqlite3_bind_int64(pStmt, 2, iFrom);
    while (sqlite3_step(pStmt) == SQLITE_ROW) {
      if (n == nAlloc) {
        sqlite3_int64 *aNew;
        nAlloc = nAlloc ? 2 * nAlloc : 16;
        aNew = sqlite3_realloc64(a, (sqlite3_uint64)nAlloc * sizeof(*a));
        if (aNew == NULL) {
          rc = SQLITE_NOMEM;
          break;
        }
        a = aNew;
      }
      a[n++] = sqlite3_column_int64(pStmt, 0);
    }
    if (rc == SQLITE_OK) {
      rc = sqlite3_finalize(pStmt);
    } else {
      sqlite3_finalize(pStmt);
    }
  }
  if (rc != SQLITE_OK) {
    sqlite3_free(a);
    return rc;
  }
  *paRid = a;
  *pnRid = n;
  return SQLITE_OK;
}

/* Re-issue the bodies of records aRid[] (ours, on the losing branch) in a
** new generation of this file's log. */
static int fork_reissue(thr_store *pStore, const thr_tid *pTid,
                        const sqlite3_int64 *aRid, int nRid,
                        sqlite3_int64 *pnDone, char **pzErr) {
  unsigned char pkNew[32];
  int i, rc = thr_store_new_log(pStore, pTid, pkNew, pzErr);
  for (i = 0; rc == SQLITE_OK && i < nRid; i++) {
    thr_cbuf body = {NULL, 0};
    unsigned char author[32];
    int64_t t = 0;
    rc = thr_store_body_at(pStore, aRid[i], &body, author, &t, pzErr);
    if (rc == SQLITE_NOTFOUND) {
      *pzErr = sqlite3_mprintf("record %lld of the losing branch cannot be "
                               "read here",
                               (long long)aRid[i]);
      rc = SQLITE_ERROR;
    }
    if (rc == SQLITE_OK) {
      rc = thr_store_append(pStore, pTid, body.a, body.n, NULL, pzErr);
    }
    if (body.a) {
      sodium_memzero(body.a, body.n);
      sqlite3_free(body.a);
    }
    if (rc == SQLITE_OK) {
      (*pnDone)++;
    }
  }
  return rc;
}

/* Recompute every collection view of thread iThread from its log. */
static int fork_rebuild_views(thr_store *pStore, sqlite3_int64 iThread,
                              char **pzErr) {
  sqlite3 *db = thr_store_db(pStore);
  sqlite3_stmt *pStmt = NULL;
  char **azView = NULL;
  int nView = 0, i, rc;
  rc = sqlite3_prepare_v2(db,
                          "SELECT view FROM _threads_view WHERE tid = ?1"
                          " ORDER BY view",
                          -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, iThread);
    while (rc == SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW) {
      char **azNew = sqlite3_realloc64(azView, (sqlite3_uint64)(nView + 1) *
                                                   sizeof(char *));
      char *z = sqlite3_mprintf("%s", sqlite3_column_text(pStmt, 0));
      if (azNew == NULL || z == NULL) {
        sqlite3_free(z);
        if (azNew) {
          azView = azNew;
        }
        rc = SQLITE_NOMEM;
        break;
      }
      azView = azNew;
      azView[nView++] = z;
    }
    sqlite3_finalize(pStmt);
  }
  /* The list is read first: a rebuild prepares statements of its own. */
  for (i = 0; rc == SQLITE_OK && i < nView; i++) {
    rc = thr_view_rebuild(pStore, azView[i], pzErr);
  }
  for (i = 0; i < nView; i++) {
    sqlite3_free(azView[i]);
  }
  sqlite3_free(azView);
  if (rc != SQLITE_OK && *pzErr == NULL) {
    *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(db));
  }
  return rc;
}

/* Theirs wins: re-issue ours (if ours), drop ours from f on, store theirs,
** rebuild the views.  Inside the caller's savepoint. */
static int fork_adopt(thr_sync *pSync, sqlite3_int64 iThread,
                      const thr_tid *pTid, const thr_tkey *pKey,
                      const unsigned char logPk[32], const fork_log *pL,
                      sqlite3_int64 iFork, const thr_wire_rec *aRec,
                      const thr_checked *aChk, size_t nRec, thr_fork_out *pOut,
                      char **pzErr) {
  thr_store *pStore = thr_sync_store(pSync);
  sqlite3 *db = thr_store_db(pStore);
  const thr_keypair *pId = NULL;
  sqlite3_int64 *aRid = NULL;
  sqlite3_stmt *pStmt = NULL;
  int nRid = 0, rc;
  size_t i;

  rc = thr_store_identity(pStore, &pId, pzErr);
  if (rc == SQLITE_OK && pKey->hasRead && pL->hasAuthor &&
      memcmp(pL->author, pId->pk, 32) == 0) {
    /* Our own records on the losing branch: their writes go on in a new
    ** log of ours before the branch goes. */
    rc = fork_rids(db, pL->iLog, iFork, &aRid, &nRid);
    if (rc == SQLITE_OK) {
      rc = fork_reissue(pStore, pTid, aRid, nRid, &pOut->nReissued, pzErr);
    }
  }
  /* The losing records step aside (negative counters) until the winner's
  ** are in: deleted first, they could hand their row ids to the winner's,
  ** and the change feed (threads_changes, by row id) would skip those. */
  if (rc == SQLITE_OK) {
    rc = sqlite3_prepare_v2(db,
                            "UPDATE _threads_record SET counter = -counter"
                            " WHERE lid = ?1 AND counter >= ?2",
                            -1, &pStmt, NULL);
  }
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, pL->iLog);
    sqlite3_bind_int64(pStmt, 2, iFork);
    rc = sqlite3_step(pStmt) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    pOut->nDropped = sqlite3_changes(db);
  }
  sqlite3_finalize(pStmt);
  pStmt = NULL;
  /* The winner's records, checked as every pulled record is: they now
  ** follow our record f - 1. */
  for (i = 0; rc == SQLITE_OK && i < nRec && !aChk[i].bBad; i++) {
    int eOut = 0, nSkip = 0;
    char *zWhy = NULL;
    rc = thr_sync_put(pSync, iThread, pKey, logPk, &aRec[i], &aChk[i], &eOut,
                      &nSkip, &zWhy);
    if (rc == SQLITE_OK && eOut != THR_PUT_ADDED) {
      if (i == 0) { /* cannot be: it was checked to link; be safe */
        *pzErr = sqlite3_mprintf("the winning branch does not fit: %s",
                                 zWhy ? zWhy : "not stored");
        rc = SQLITE_ERROR;
      }
      sqlite3_free(zWhy);
      break;
    }
    if (rc != SQLITE_OK && *pzErr == NULL) {
      *pzErr = zWhy;
      zWhy = NULL;
    }
    sqlite3_free(zWhy);
    if (rc == SQLITE_OK) {
      pOut->nAdded++;
    }
  }
  if (rc == SQLITE_OK) {
    rc = sqlite3_prepare_v2(db,
                            "DELETE FROM _threads_record WHERE lid = ?1"
                            " AND counter < 0",
                            -1, &pStmt, NULL);
  }
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, pL->iLog);
    rc = sqlite3_step(pStmt) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
  }
  sqlite3_finalize(pStmt);
  if (rc == SQLITE_OK && pKey->hasRead) {
    rc = fork_rebuild_views(pStore, iThread, pzErr);
  }
  sqlite3_free(aRid);
  return rc;
}

int thr_fork_resolve(thr_sync *pSync, sqlite3_int64 iThread,
                     const thr_tid *pTid, const thr_tkey *pKey,
                     const unsigned char logPk[32], sqlite3_int64 iFork,
                     const thr_wire_rec *aRec, const thr_checked *aChk,
                     size_t nRec, thr_fork_out *pOut, char **pzErr) {
  sqlite3 *db = thr_store_db(thr_sync_store(pSync));
  const thr_opened *pOp;
  fork_log l;
  int rc;

  memset(pOut, 0, sizeof(*pOut));
  if (nRec == 0 || iFork < 1 || aRec[0].counter != iFork || aChk[0].bBad) {
    return SQLITE_OK; /* nothing that shows a fork */
  }
  rc = sqlite3_exec(db, "SAVEPOINT _threads_fork", NULL, NULL, NULL);
  if (rc == SQLITE_OK) {
    rc = fork_read_log(db, iThread, logPk, iFork, &l);
  }
  if (rc != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(db));
    sqlite3_exec(db, "RELEASE _threads_fork", NULL, NULL, NULL);
    return rc;
  }
  /* A fork at f: we hold a record at f that is not theirs, and theirs
  ** follows our record f - 1 (or, at f = 1, follows nothing), signed by
  ** the log's key.  Anything else (our log or theirs moved since the
  ** search) shows nothing: a later round looks again. */
  pOp = &aChk[0].op;
  if (l.iLog > 0 && l.nHave >= iFork && l.hasAt &&
      memcmp(l.at.a, aChk[0].cid.a, THR_CID_BYTES) != 0 &&
      (iFork == 1 ? !pOp->hasPrev
                  : (l.hasBefore && pOp->hasPrev &&
                     memcmp(pOp->cidPrev.a, l.before.a, THR_CID_BYTES) == 0))) {
    pOut->ours = l.at;
    pOut->theirs = aChk[0].cid;
    if (thr_fork_wins(&l.at, &aChk[0].cid)) {
      pOut->eOut = THR_FORK_KEPT;
    } else {
      rc = fork_adopt(pSync, iThread, pTid, pKey, logPk, &l, iFork, aRec, aChk,
                      nRec, pOut, pzErr);
      pOut->eOut = THR_FORK_ADOPTED;
    }
  }
  if (rc != SQLITE_OK) {
    if (*pzErr == NULL) {
      *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(db));
    }
    sqlite3_exec(db, "ROLLBACK TO _threads_fork", NULL, NULL, NULL);
    memset(pOut, 0, sizeof(*pOut));
  }
  sqlite3_exec(db, "RELEASE _threads_fork", NULL, NULL, NULL);
  return rc;
}
