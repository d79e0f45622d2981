/*
** ingest.c: records from peers into the file, for both sides (pages
** pulled by client.c, pushed to server.c): each record through
** thr_sync_put() (core/sync.c checks it), one SQLite transaction per page,
** a refusal counted against the thread (threads_rejects), large records put
** together by part.c, and the collections of newly readable threads
** mounted.
**
** Limits here: none of its own.  A page is bounded where it is read
** (NODE_PAGE_RECS, NODE_PAGE_BYTES, NODE_MAXMSG); large records arriving
** by THR_PART_MAXREC, THR_PART_MAX, THR_PART_SPILL and THR_PART_IDLE_MS,
** with the rule for their slots (thr_part.h).
*/

#include "thr_net.h"

#include <string.h>

int thr_ingest_exec(thr_node *p, const char *zSql) {
  return sqlite3_exec(p->db, zSql, NULL, NULL, NULL);
}

/* The assembly of a large record (see thr_part_get).  A record announced
** over the size limit is a refusal ("refused: oversized: ..."), like a
** record that fails a check; "busy" (every slot fed within the last
** THR_PART_YIELD_MS, or this source's one) and out of memory are not. */
thr_part *thr_ingest_part_get(thr_node *p, node_thr *t,
                              const unsigned char pk[32], sqlite3_int64 iCtr,
                              sqlite3_uint64 from, const size_t an[4],
                              char **pzBad) {
  thr_part *pPart = thr_part_get(&p->parts, t->iThread, pk, iCtr, from, an,
                                 thr_now_ms(), pzBad);
  if (*pzBad && strncmp(*pzBad, "oversized", 9) == 0) {
    char *z = sqlite3_mprintf("refused: %s", *pzBad);
    sqlite3_free(*pzBad);
    *pzBad = z;
  }
  return pPart;
}

/* Store one record inside the caller's transaction (pChk: its checks,
** done ahead, or NULL).  Returns 0 when the page must stop here: a refusal
** (*pzBad, "refused: ..."), a storage error (*pzBad), a gap (*pbGap), or a
** record of another branch of the log (*piFork: the fork is at or below
** that counter). */
static int node_put(thr_node *p, node_thr *t, const unsigned char logPk[32],
                    const thr_wire_rec *pRec, const thr_checked *pChk,
                    sqlite3_int64 *pnAdded, char **pzBad, int *pbGap,
                    sqlite3_int64 *piFork) {
  int eOut = 0, nSkip = 0, rc;
  char *zWhy = NULL;
  rc = thr_sync_put(p->pSync, t->iThread, &t->key, logPk, pRec, pChk, &eOut,
                    &nSkip, &zWhy);
  if (rc != SQLITE_OK) {
    *pzBad = sqlite3_mprintf("storage: %s", zWhy ? zWhy : "error");
  } else if (eOut == THR_PUT_BAD) {
    *pzBad = sqlite3_mprintf("refused: %s", zWhy ? zWhy : "bad record");
  } else if (eOut == THR_PUT_GAP) {
    *pbGap = 1;
  } else if (eOut == THR_PUT_FORK) {
    *piFork = pRec->counter;
  } else if (eOut == THR_PUT_ADDED) {
    (*pnAdded)++;
  }
  sqlite3_free(zWhy);
  return *pzBad == NULL && !*pbGap && *piFork == 0;
}

/* Store records from a peer (aRec, with their checks done ahead in aChk,
** or NULL) in one transaction; bCut: the page held more that could not be
** read, a refusal once these are stored.  Returns the number added; *pzBad
** gets the reason when a record was refused, *pbGap is set when the
** records start past our end, *piFork (when not NULL) when one is of
** another branch of the log (see node_put). */
sqlite3_int64
thr_ingest_store(thr_node *p, node_thr *t, const unsigned char logPk[32],
                 const thr_wire_rec *aRec, const thr_checked *aChk, size_t n,
                 int bCut, char **pzBad, int *pbGap, sqlite3_int64 *piFork) {
  sqlite3_int64 nAdded = 0, iFork = 0;
  size_t i;
  int bAll = 1;
  *pbGap = 0;
  if (n > 0) {
    if (thr_ingest_exec(p, "BEGIN IMMEDIATE") != SQLITE_OK) {
      *pzBad = sqlite3_mprintf("busy: %s", sqlite3_errmsg(p->db));
      return 0;
    }
    for (i = 0; bAll && i < n; i++) {
      bAll = node_put(p, t, logPk, &aRec[i], aChk ? &aChk[i] : NULL, &nAdded,
                      pzBad, pbGap, &iFork);
    }
    /* Documents that older actions changed are recomputed once per page
    ** (the merge rule, core/reduce.c), inside its transaction. */
    if (thr_sync_flush(p->pSync) != SQLITE_OK) {
      if (*pzBad == NULL) {
        *pzBad = sqlite3_mprintf("storage: %s", sqlite3_errmsg(p->db));
      }
      thr_sync_rollback(p->pSync);
      thr_ingest_exec(p, "ROLLBACK");
      nAdded = 0;
    } else if (thr_ingest_exec(p, "COMMIT") != SQLITE_OK) {
      thr_sync_rollback(p->pSync);
      thr_ingest_exec(p, "ROLLBACK");
      nAdded = 0;
    }
  }
  if (bAll && bCut) {
    *pzBad = sqlite3_mprintf("refused: %s", THR_CHECK_DECODE);
  }
  if (piFork) {
    *piFork = iFork;
  }
  if (*pzBad && strncmp(*pzBad, "refused", 7) == 0) {
    thr_peers_reject(p, t->iThread, *pzBad);
  }
  return nAdded;
}

/* Mount collections of readable threads that have no table here yet. */
void thr_ingest_mount(thr_node *p) {
  sqlite3_stmt *pStmt = NULL;
  char **azSql = NULL;
  int nSql = 0, i;
  if (sqlite3_prepare_v2(
          p->db,
          "SELECT t.id, c.name FROM _threads_collection c"
          " JOIN _threads_thread t ON t.tid = c.tid"
          " WHERE t.read IS NOT NULL AND NOT EXISTS (SELECT 1 FROM"
          " _threads_view v WHERE v.tid = c.tid AND v.coll = c.name)"
          " AND NOT EXISTS (SELECT 1 FROM main.sqlite_schema s"
          " WHERE lower(s.name) = lower(c.name))",
          -1, &pStmt, NULL) != SQLITE_OK) {
    return;
  }
  while (sqlite3_step(pStmt) == SQLITE_ROW) {
    thr_tid tid;
    char *zErr = NULL, *zId, *zSql, **azNew;
    if (thr_tid_from_bytes(&tid, sqlite3_column_blob(pStmt, 0),
                           (size_t)sqlite3_column_bytes(pStmt, 0),
                           &zErr) != SQLITE_OK) {
      sqlite3_free(zErr);
      continue;
    }
    zId = thr_tid_text(&tid);
    zSql = sqlite3_mprintf(
        "CREATE VIRTUAL TABLE \"%w\" USING threads(thread=%Q, collection=%Q)",
        (const char *)sqlite3_column_text(pStmt, 1), zId,
        (const char *)sqlite3_column_text(pStmt, 1));
    sqlite3_free(zId);
    azNew =
        sqlite3_realloc64(azSql, (sqlite3_uint64)(nSql + 1) * sizeof(char *));
    if (zSql == NULL || azNew == NULL) {
      sqlite3_free(zSql);
      break;
    }
    azSql = azNew;
    azSql[nSql++] = zSql;
  }
  sqlite3_finalize(pStmt);
  for (i = 0; i < nSql; i++) {
    sqlite3_exec(p->db, azSql[i], NULL, NULL, NULL);
    sqlite3_free(azSql[i]);
  }
  sqlite3_free(azSql);
}
