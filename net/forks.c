/*
** forks.c: the node's side of forks (see "Forks" in THE PROTOCOL, at the
** top of wire.c; core/fork.c has the rule): finding where a log forked
** ("cids" requests, going back NODE_CIDS at a time), pulling the peer's
** record there, resolving with thr_fork_resolve(), counting each fork once,
** noting it on the peer, and pushing a winning branch to a peer that holds
** a losing one.
**
** Limits here: NODE_REPUSH_MS (a winning branch is pushed again after);
** shared (thr_net.h): NODE_SEEN forks remembered, NODE_CIDS per reply.
*/

#include "thr_net.h"

#include <string.h>

#define NODE_REPUSH_MS 10000 /* a winning branch is pushed again after */

/* Has this fork been counted already?  (Its log, counter and both
** records: if either side's record changes, it is another fork.) */
static int node_seen_has(thr_node *p, sqlite3_int64 iThread,
                         const unsigned char pk[32], sqlite3_int64 iFork,
                         const thr_cid *pOurs, const thr_cid *pTheirs) {
  int i;
  for (i = 0; i < p->nSeen && i < NODE_SEEN; i++) {
    const node_seen *e = &p->aSeen[i];
    if (e->iThread == iThread && e->iFork == iFork &&
        memcmp(e->pk, pk, 32) == 0 &&
        memcmp(e->ours.a, pOurs->a, THR_CID_BYTES) == 0 &&
        memcmp(e->theirs.a, pTheirs->a, THR_CID_BYTES) == 0) {
      return 1;
    }
  }
  return 0;
}

/* The newest memory of a fork of log pk at iFork, whatever its records. */
static node_seen *node_seen_get(thr_node *p, sqlite3_int64 iThread,
                                const unsigned char pk[32],
                                sqlite3_int64 iFork) {
  int i;
  for (i = 0; i < p->nSeen && i < NODE_SEEN; i++) {
    node_seen *e = &p->aSeen[(p->nSeen - 1 - i) % NODE_SEEN];
    if (e->iThread == iThread && e->iFork == iFork &&
        memcmp(e->pk, pk, 32) == 0) {
      return e;
    }
  }
  return NULL;
}

static void node_seen_add(thr_node *p, sqlite3_int64 iThread,
                          const unsigned char pk[32], sqlite3_int64 iFork,
                          const thr_cid *pOurs, const thr_cid *pTheirs) {
  node_seen *e = &p->aSeen[p->nSeen % NODE_SEEN];
  e->iThread = iThread;
  memcpy(e->pk, pk, 32);
  e->iFork = iFork;
  e->ours = *pOurs;
  e->theirs = *pTheirs;
  e->tPush = 0;
  p->nSeen++;
  if (p->nSeen == 2 * NODE_SEEN) {
    p->nSeen = NODE_SEEN; /* keeps the ring's position, never overflows */
  }
}

/* Ask pPeer for the CIDs of log pk up to counter iTo. */
static void node_send_cids(thr_node *p, node_peer *pPeer, node_thr *t,
                           const unsigned char pk[32], sqlite3_int64 iTo,
                           node_cmd *pCmd) {
  thr_cw w = {NULL, 0, 0, SQLITE_OK, 1};
  thr_wire_req_op(&w, "cids", 4);
  thr_cw_text(&w, "to");
  thr_cw_uint(&w, (uint64_t)iTo);
  thr_cw_text(&w, "log");
  thr_cw_bytes(&w, pk, 32);
  thr_wire_req_addrs(p, &w);
  thr_client_send(p, pPeer, t, OP_CIDS, pk, iTo, 0, &w, pCmd);
  sqlite3_free(w.a);
}

/* Log pk differs between us and pPeer at or below counter iTo: find where
** (unless a pull or a search walks the log already; bForce: the caller's
** own chain just ended there and its pages ahead will stop). */
void thr_forks_search(thr_node *p, node_peer *pPeer, node_thr *t,
                      const unsigned char pk[32], sqlite3_int64 iTo,
                      node_cmd *pCmd, int bForce) {
  if (iTo < 1 || (!bForce && thr_client_chain_join(p, t, pk, NULL, 0, pCmd))) {
    return;
  }
  node_send_cids(p, pPeer, t, pk, iTo, pCmd);
}

/* Push our branch of log pk from the fork at iFork on to pPeer, which
** holds a losing one: a peer that never dials us learns the winner so. */
static void node_fork_push(thr_node *p, node_peer *pPeer, node_thr *t,
                           const unsigned char pk[32], sqlite3_int64 iFork,
                           node_cmd *pCmd) {
  node_seen *e = node_seen_get(p, t->iThread, pk, iFork);
  if (e) {
    e->tPush = thr_now_ms();
  }
  if (!thr_client_chain_join(p, t, pk, pPeer, 1, pCmd)) {
    thr_client_send_push(p, pPeer, t, pk, iFork - 1, pCmd);
  }
}

/* Does the head a peer announced for log pk (count c, CID pHead) differ
** from our record at c?  Only asked for c <= what we hold. */
int thr_forks_head_differs(thr_node *p, node_thr *t, const unsigned char pk[32],
                           sqlite3_int64 c, const thr_cid *pHead) {
  thr_cid ours;
  int n = 0;
  char *zErr = NULL;
  int rc = thr_sync_cids(p->pSync, t->iThread, pk, c, 1, &ours, &n, &zErr);
  sqlite3_free(zErr);
  return rc == SQLITE_OK && n == 1 &&
         memcmp(ours.a, pHead->a, THR_CID_BYTES) != 0;
}

/* A reply to "cids": compare with ours; go further back, or pull the
** peer's record at the first counter that differs. */
void thr_forks_got_cids(thr_node *p, node_thr *t, node_req *r, thr_cbor *pIn) {
  thr_cbor *pCids = thr_cbor_get(pIn, "cids");
  size_t k, n = thr_cbor_array_size(pCids);
  uint64_t from = 0;
  thr_cid *aOurs = NULL;
  int nOurs = 0;
  char *zErr = NULL;
  if (!thr_cbor_as_uint(thr_cbor_get(pIn, "from"), &from) || from < 1 ||
      n == 0 || n > NODE_CIDS || from + n - 1 > (uint64_t)r->iCtr) {
    return; /* nothing to compare (the peer's log is shorter now) */
  }
  aOurs = sqlite3_malloc64(n * sizeof(thr_cid));
  if (aOurs == NULL ||
      thr_sync_cids(p->pSync, t->iThread, r->logPk, (sqlite3_int64)from, (int)n,
                    aOurs, &nOurs, &zErr) != SQLITE_OK) {
    sqlite3_free(zErr);
    sqlite3_free(aOurs);
    return;
  }
  for (k = 0; k < (size_t)nOurs; k++) {
    size_t nCid = 0;
    const unsigned char *a =
        thr_cbor_as_bytes(thr_cbor_array_at(pCids, k), &nCid);
    if (a == NULL || nCid != THR_CID_BYTES) {
      k = (size_t)nOurs; /* malformed: no verdict */
      break;
    }
    if (memcmp(a, aOurs[k].a, THR_CID_BYTES) != 0) {
      break;
    }
  }
  if (k >= (size_t)nOurs) {
    /* The same as far as both go (or no verdict): nothing forks here now. */
  } else if (k == 0 && from > 1) {
    /* Different from the window's start: the fork is further back. */
    node_send_cids(p, r->pPeer, t, r->logPk, (sqlite3_int64)from - 1, r->pCmd);
  } else {
    sqlite3_int64 iFork = (sqlite3_int64)(from + k);
    size_t nCid = 0;
    thr_cid theirs;
    memcpy(theirs.a, thr_cbor_as_bytes(thr_cbor_array_at(pCids, k), &nCid),
           THR_CID_BYTES); /* checked in the loop above */
    if (node_seen_has(p, t->iThread, r->logPk, iFork, &aOurs[k], &theirs)) {
      /* Counted already, and our branch won (else theirs would be ours
      ** now): the peer has yet to take it.  Push it again now and then. */
      node_seen *e = node_seen_get(p, t->iThread, r->logPk, iFork);
      if (e && thr_now_ms() - e->tPush >= NODE_REPUSH_MS) {
        node_fork_push(p, r->pPeer, t, r->logPk, iFork, r->pCmd);
      }
    } else {
      /* The record itself is the proof (its signature, its link to our
      ** record before); the whole page only when it is to replace ours. */
      int nMax = thr_fork_wins(&theirs, &aOurs[k]) ? NODE_PAGE_RECS : 1;
      thr_client_send_pull_of(p, r->pPeer, t, r->logPk, iFork - 1, nMax, iFork,
                              r->pCmd);
    }
  }
  sqlite3_free(aOurs);
}

/* Note a fork on the peer that showed it (threads_peers.last_error). */
static void node_fork_note(thr_node *p, node_thr *t, node_peer *pPeer,
                           const unsigned char pk[32], sqlite3_int64 iFork,
                           const thr_fork_out *pOut) {
  char *zLog = thr_peer_text(pk);
  char *zOurs = thr_cid_text(&pOut->ours);
  char *zTheirs = thr_cid_text(&pOut->theirs);
  char *zMsg;
  if (pOut->eOut == THR_FORK_KEPT) {
    zMsg = sqlite3_mprintf("fork: log %s counter %lld: this peer's branch "
                           "wins (%s, the peer's is %s)",
                           zLog, (long long)iFork, zOurs, zTheirs);
  } else {
    zMsg =
        sqlite3_mprintf("fork: log %s counter %lld: the peer's branch "
                        "wins (%s, ours was %s); %lld records dropped, "
                        "%lld re-issued in a new log",
                        zLog, (long long)iFork, zTheirs, zOurs,
                        (long long)pOut->nDropped, (long long)pOut->nReissued);
  }
  if (zMsg) {
    thr_peers_note(p, t->iThread, pPeer->zAddr, 0, pOut->nAdded, zMsg);
  }
  sqlite3_free(zMsg);
  sqlite3_free(zLog);
  sqlite3_free(zOurs);
  sqlite3_free(zTheirs);
}

/* Apply the rule (thr_fork_resolve) to a peer's branch of log pk from
** counter iFork on (aRec[0] at iFork; aChk their checks), in one
** transaction, and count the fork once ("fork" in threads_rejects).
** *pOut says what happened (THR_FORK_NONE when nothing shows a fork now);
** an error leaves the file as it was, *pzErr says why. */
static int node_fork_apply(thr_node *p, node_thr *t, const unsigned char pk[32],
                           sqlite3_int64 iFork, const thr_wire_rec *aRec,
                           const thr_checked *aChk, size_t n,
                           thr_fork_out *pOut, char **pzErr) {
  int rc;
  memset(pOut, 0, sizeof(*pOut));
  if (thr_ingest_exec(p, "BEGIN IMMEDIATE") != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("busy: %s", sqlite3_errmsg(p->db));
    return SQLITE_BUSY;
  }
  rc = thr_fork_resolve(p->pSync, t->iThread, &t->tid, &t->key, pk, iFork, aRec,
                        aChk, n, pOut, pzErr);
  if (rc == SQLITE_OK && thr_ingest_exec(p, "COMMIT") != SQLITE_OK) {
    rc = sqlite3_errcode(p->db);
  }
  if (rc != SQLITE_OK) {
    if (*pzErr == NULL) {
      *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(p->db));
    }
    thr_sync_rollback(p->pSync);
    thr_ingest_exec(p, "ROLLBACK");
    memset(pOut, 0, sizeof(*pOut));
    return rc;
  }
  if (pOut->eOut != THR_FORK_NONE &&
      !node_seen_has(p, t->iThread, pk, iFork, &pOut->ours, &pOut->theirs)) {
    node_seen_add(p, t->iThread, pk, iFork, &pOut->ours, &pOut->theirs);
    thr_peers_reject(p, t->iThread, "fork: a log forked"); /* reason "fork" */
  }
  if (pOut->eOut == THR_FORK_ADOPTED) {
    /* (The node learns its new own log at the next tick.) */
    thr_ingest_mount(p);
  }
  return SQLITE_OK;
}

/* The peer's records from the fork at r->iFork on (aRec, checked in
** aChk): resolve the fork, then pull on from the branch we keep, or push
** it to the peer. */
void thr_forks_page(thr_node *p, node_thr *t, node_req *r,
                    const thr_wire_rec *aRec, const thr_checked *aChk,
                    size_t n) {
  thr_fork_out out;
  char *zErr = NULL;
  int rc;
  if (n == 0 || aChk[0].bBad) {
    /* What the peer served as its record at the fork fails a check. */
    char *zBad = sqlite3_mprintf(
        "refused: %s", n && aChk[0].zWhy ? aChk[0].zWhy : THR_CHECK_DECODE);
    if (n && aChk[0].bNoMem) {
      thr_peers_note(p, t->iThread, r->pPeer->zAddr, 0, 0, "out of memory");
    } else if (zBad) {
      thr_peers_reject(p, t->iThread, zBad);
      thr_peers_bad(p, t, r->pPeer, zBad);
    }
    sqlite3_free(zBad);
    return;
  }
  rc = node_fork_apply(p, t, r->logPk, r->iFork, aRec, aChk, n, &out, &zErr);
  if (rc != SQLITE_OK) {
    char *zMsg = sqlite3_mprintf("storage: fork: %s", zErr ? zErr : "error");
    thr_peers_note(p, t->iThread, r->pPeer->zAddr, 0, 0,
                   zMsg ? zMsg : "storage");
    sqlite3_free(zMsg);
    sqlite3_free(zErr);
    return;
  }
  sqlite3_free(zErr);
  if (out.eOut == THR_FORK_NONE) {
    return; /* nothing there now; a later round looks again */
  }
  node_fork_note(p, t, r->pPeer, r->logPk, r->iFork, &out);
  if (out.eOut == THR_FORK_KEPT) {
    node_fork_push(p, r->pPeer, t, r->logPk, r->iFork, r->pCmd);
  } else {
    sqlite3_int64 nHave = thr_wire_have(p, t, r->logPk);
    if (r->pCmd) {
      thr_node_cmd_add_recv(p, r->pCmd, out.nAdded);
    }
    if (nHave > 0) { /* the rest of the winner, as any pull */
      thr_client_send_pull(p, r->pPeer, t, r->logPk, nHave, r->pCmd);
    }
    if (out.nReissued > 0) {
      /* Push the new log. */
      thr_client_round(p, thr_wire_thread_by_id(p, &r->tid), NULL);
    }
  }
}

/* A pushed page (aRec, n records, unchecked) met another branch of log pk
** at counter iFork: when the page holds the records from iFork on, they
** are a branch to judge by the rule, as a pulled one.  Returns the records
** added (the pusher's branch won), 0 otherwise. */
sqlite3_int64 thr_forks_pushed(thr_node *p, node_thr *t,
                               const unsigned char pk[32], sqlite3_int64 iFork,
                               const thr_wire_rec *aRec, size_t n) {
  thr_checked *aChk;
  thr_fork_out out;
  char *zErr = NULL;
  size_t k, i;
  for (k = 0; k < n && aRec[k].counter != iFork; k++) {
  }
  if (k == n || (aChk = sqlite3_malloc64((n - k) * sizeof(*aChk))) == NULL) {
    return 0;
  }
  for (i = k; i < n; i++) { /* checked here, in the loop: forks are rare */
    thr_sync_check(&t->key, pk, &aRec[i], &aChk[i - k]);
  }
  if (node_fork_apply(p, t, pk, iFork, aRec + k, aChk, n - k, &out, &zErr) ==
          SQLITE_OK &&
      out.eOut == THR_FORK_ADOPTED && out.nReissued > 0) {
    thr_client_round(p, t, NULL); /* push the new log */
  }
  for (i = k; i < n; i++) {
    thr_checked_clear(&aChk[i - k]);
  }
  sqlite3_free(aChk);
  sqlite3_free(zErr);
  return out.eOut == THR_FORK_ADOPTED ? out.nAdded : 0;
}
