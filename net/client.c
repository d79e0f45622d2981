/*
** client.c: the node's requests to its peers: a sync round (heads, then
** pulls of the logs a peer holds more of and pushes of those it holds less
** of), the chains that walk a log page by page, the pipeline of pulled
** pages (checked on libuv's thread pool, stored in arrival order), large
** records pulled and pushed in pieces, and the replies, each handed to the
** step it answers (thr_client_req_done).
**
** Limits here: NODE_AHEAD (pages pulled ahead of the one being stored), one
** chain per log (pulls, from any peer) or per log and peer (pushes).  Shared
** (thr_net.h): NODE_REQ_MS, a request without an answer by then fails; on a
** socket still dialing, sooner (thr_peers_timeout, peers.c).
*/

#include "thr_net.h"

#include <sodium.h>
#include <string.h>

#define NODE_AHEAD 2 /* pages pulled ahead of the one being stored */

/* A page of pulled records on its way to storage.  Its records' checks
** that need no database (thr_sync_check: signatures, CIDs, decryption) run
** on libuv's thread pool, several pages at once; then the loop stores the
** pages in the order they arrived, which is the order of each log (a chain
** asks for a page only once the one before it has arrived).  Meanwhile the
** chain's next page is already on its way (NODE_AHEAD). */
struct node_page {
  uv_work_t work;
  thr_node *pNode;
  node_req *r;   /* the pull it answers: a step of its chain until stored */
  thr_cbor *pIn; /* the reply opened; aRec's blocks point into it */
  thr_tkey key;  /* copies for the pool thread */
  unsigned char logPk[32];
  thr_wire_rec *aRec;
  thr_checked *aChk;
  size_t nRec;
  size_t nChecked;     /* pool thread: checked, up to the first refusal */
  sqlite3_int64 iLast; /* the counter of its last record */
  int bCut;            /* the page held more that could not be read */
  int bChecked;        /* loop: the pool thread is done with it */
  int bAhead;          /* the chain's next page was asked for */
  node_page *pNext;
};

/**************************************************************************
** Requests, and the chains that walk a log.
*/

static void node_req_cb(void *pArg) {
  node_req *r = pArg;
  thr_node *p = r->pNode;
  if (!r->bSent) {
    /* A request context sends, then receives its reply. */
    r->bSent = 1;
    if (nng_aio_result(r->aio) == 0) {
      nng_ctx_recv(r->ctx, r->aio);
      return;
    }
    nng_msg_free(nng_aio_get_msg(r->aio)); /* not sent: still ours */
    nng_aio_set_msg(r->aio, NULL);
  }
  pthread_mutex_lock(&p->mu);
  r->pNext = p->pDone;
  p->pDone = r;
  pthread_mutex_unlock(&p->mu);
  uv_async_send(&p->wake);
}

/* Send request w; returns it in flight (owned by the loop), or NULL. */
node_req *thr_client_send(thr_node *p, node_peer *pPeer, node_thr *t, int eOp,
                          const unsigned char *logPk, sqlite3_int64 iCtr,
                          size_t iOff, thr_cw *w, node_cmd *pCmd) {
  node_req *r;
  nng_msg *pMsg;
  if (w->rc != SQLITE_OK || !pPeer->bOpen) {
    return NULL; /* a dropped peer's socket only waits to close */
  }
  pMsg = thr_wire_seal(t, w->a, w->n);
  r = sqlite3_malloc64(sizeof(*r));
  if (pMsg == NULL || r == NULL) {
    nng_msg_free(pMsg);
    sqlite3_free(r);
    return NULL;
  }
  memset(r, 0, sizeof(*r));
  r->pNode = p;
  r->pPeer = pPeer;
  r->eOp = eOp;
  r->tid = t->tid;
  if (logPk) {
    memcpy(r->logPk, logPk, 32);
  }
  r->iCtr = iCtr;
  r->iOff = iOff;
  if (nng_ctx_open(&r->ctx, pPeer->sock) != 0 ||
      nng_aio_alloc(&r->aio, node_req_cb, r) != 0) {
    nng_msg_free(pMsg);
    sqlite3_free(r);
    return NULL;
  }
  r->pCmd = pCmd;
  if (pCmd) {
    pCmd->nPending++;
  }
  r->pNextLive = p->pLive;
  p->pLive = r;
  if (eOp != OP_HEADS) {
    r->pNextChain = p->pChains;
    p->pChains = r;
  }
  p->nInFlight++;
  pPeer->nReq++;
  nng_aio_set_timeout(r->aio, thr_peers_timeout(pPeer));
  nng_aio_set_msg(r->aio, pMsg);
  nng_ctx_send(r->ctx, r->aio);
  return r;
}

/* The chain in flight on log pk of thread t: a pull or part from any peer
** (bPush == 0), or a push to pPeer.  NULL if none. */
/* Is request r about log pk of thread pTid? */
static int node_req_on_log(const node_req *r, const thr_tid *pTid,
                           const unsigned char pk[32]) {
  return memcmp(r->logPk, pk, 32) == 0 && r->tid.n == pTid->n &&
         memcmp(r->tid.a, pTid->a, (size_t)pTid->n) == 0;
}

static node_req *node_chain_find(thr_node *p, node_thr *t,
                                 const unsigned char pk[32], node_peer *pPeer,
                                 int bPush) {
  node_req *r;
  for (r = p->pChains; r; r = r->pNextChain) {
    if ((bPush ? r->eOp == OP_PUSH && r->pPeer == pPeer : r->eOp != OP_PUSH) &&
        node_req_on_log(r, &t->tid, pk)) {
      return r;
    }
  }
  return NULL;
}

/* Is a chain already walking this log?  If so, a waiting sync waits for
** that chain (when it has no sync of its own yet). */
int thr_client_chain_join(thr_node *p, node_thr *t, const unsigned char pk[32],
                          node_peer *pPeer, int bPush, node_cmd *pCmd) {
  node_req *r = node_chain_find(p, t, pk, pPeer, bPush);
  if (r == NULL) {
    return 0;
  }
  if (pCmd && r->pCmd != pCmd) {
    node_cmd *pOld = r->pCmd;
    int bAbandoned = 0;
    if (pOld) { /* taken over only from a sync whose caller gave up */
      pthread_mutex_lock(&p->mu);
      bAbandoned = pOld->nRef == 1;
      pthread_mutex_unlock(&p->mu);
    }
    if (pOld == NULL || bAbandoned) {
      r->pCmd = pCmd;
      pCmd->nPending++;
      if (pOld && --pOld->nPending == 0) {
        thr_node_cmd_finish(p, pOld);
      }
    }
  }
  return 1;
}

static void node_chain_unlink(thr_node *p, node_req *r) {
  node_req **pp;
  for (pp = &p->pChains; *pp; pp = &(*pp)->pNextChain) {
    if (*pp == r) {
      *pp = r->pNextChain;
      return;
    }
  }
}

static void node_send_heads(thr_node *p, node_peer *pPeer, node_thr *t,
                            node_cmd *pCmd) {
  thr_head *aHead = NULL;
  int nHead = 0;
  unsigned char digest[32];
  thr_cw w = {NULL, 0, 0, SQLITE_OK, 1};
  if (thr_wire_heads(p, t, &aHead, &nHead, digest) != SQLITE_OK) {
    return;
  }
  sqlite3_free(aHead);
  thr_wire_req_op(&w, "heads", t->hasSelf ? 4 : 3);
  if (t->hasSelf) {
    thr_cw_text(&w, "self");
    thr_cw_bytes(&w, t->self, 32);
  }
  thr_wire_req_addrs(p, &w);
  thr_cw_text(&w, "digest");
  thr_cw_bytes(&w, digest, 32);
  thr_client_send(p, pPeer, t, OP_HEADS, NULL, 0, 0, &w, pCmd);
  sqlite3_free(w.a);
}

/* Pull the page of log logPk after nAfter; iFork: the pull of the fork at
** that counter (nAfter + 1), of one record or a page (nMax), or 0. */
void thr_client_send_pull_of(thr_node *p, node_peer *pPeer, node_thr *t,
                             const unsigned char logPk[32],
                             sqlite3_int64 nAfter, int nMax,
                             sqlite3_int64 iFork, node_cmd *pCmd) {
  thr_cw w = {NULL, 0, 0, SQLITE_OK, 1};
  node_req *r;
  thr_wire_req_op(&w, "pull", 5);
  thr_cw_text(&w, "log");
  thr_cw_bytes(&w, logPk, 32);
  thr_cw_text(&w, "max");
  thr_cw_uint(&w, (uint64_t)nMax);
  thr_wire_req_addrs(p, &w);
  thr_cw_text(&w, "after");
  thr_cw_uint(&w, (uint64_t)nAfter);
  r = thr_client_send(p, pPeer, t, OP_PULL, logPk, nAfter, 0, &w, pCmd);
  if (r) {
    r->iFork = iFork;
  }
  sqlite3_free(w.a);
}

void thr_client_send_pull(thr_node *p, node_peer *pPeer, node_thr *t,
                          const unsigned char logPk[32], sqlite3_int64 nAfter,
                          node_cmd *pCmd) {
  thr_client_send_pull_of(p, pPeer, t, logPk, nAfter, NODE_PAGE_RECS, 0, pCmd);
}

static void node_send_piece(thr_node *p, node_peer *pPeer, node_thr *t,
                            const unsigned char logPk[32], sqlite3_int64 iCtr,
                            size_t iOff, node_cmd *pCmd) {
  thr_cw w = {NULL, 0, 0, SQLITE_OK, 1};
  unsigned char *a = NULL;
  size_t an[4], n = 0;
  if (thr_wire_read_piece(p, t, logPk, iCtr, iOff, an, &a, &n) == SQLITE_OK &&
      n > 0) {
    thr_wire_req_op(&w, "push", 6);
    thr_wire_write_big(&w, iCtr, an);
    thr_cw_text(&w, "log");
    thr_cw_bytes(&w, logPk, 32);
    thr_cw_text(&w, "off");
    thr_cw_uint(&w, iOff);
    thr_cw_text(&w, "data");
    thr_cw_bytes(&w, a, n);
    thr_wire_req_addrs(p, &w);
    thr_client_send(p, pPeer, t, OP_PUSH, logPk, iCtr, iOff, &w, pCmd);
    if (iOff + n == an[0] + an[1] + an[2] + an[3]) {
      thr_peers_note(p, t->iThread, pPeer->zAddr, 1, 0, NULL);
    }
  }
  sqlite3_free(a);
  sqlite3_free(w.a);
}

void thr_client_send_push(thr_node *p, node_peer *pPeer, node_thr *t,
                          const unsigned char logPk[32], sqlite3_int64 nAfter,
                          node_cmd *pCmd) {
  thr_cw w = {NULL, 0, 0, SQLITE_OK, 1};
  page_ctx c;
  if (thr_wire_read_page(p, t, logPk, nAfter, NODE_PAGE_RECS, &c) ==
      SQLITE_OK) {
    if (c.n > 0) {
      thr_wire_req_op(&w, "push", 4);
      thr_cw_text(&w, "log");
      thr_cw_bytes(&w, logPk, 32);
      thr_wire_write_recs(&w, &c);
      thr_wire_req_addrs(p, &w);
      thr_client_send(p, pPeer, t, OP_PUSH, logPk, c.iLast, 0, &w, pCmd);
      thr_peers_note(p, t->iThread, pPeer->zAddr, c.n, 0, NULL);
    } else if (c.bBig) {
      node_send_piece(p, pPeer, t, logPk, c.iBig, 0, pCmd);
    }
  }
  sqlite3_free(c.w.a);
  sqlite3_free(w.a);
}

/* Ask for a piece of large record iCtr; iFork as for the pull it serves. */
static void node_send_part(thr_node *p, node_peer *pPeer, node_thr *t,
                           const unsigned char logPk[32], sqlite3_int64 iCtr,
                           size_t iOff, sqlite3_int64 iFork, node_cmd *pCmd) {
  thr_cw w = {NULL, 0, 0, SQLITE_OK, 1};
  node_req *r;
  thr_wire_req_op(&w, "part", 5);
  thr_cw_text(&w, "ctr");
  thr_cw_uint(&w, (uint64_t)iCtr);
  thr_cw_text(&w, "log");
  thr_cw_bytes(&w, logPk, 32);
  thr_cw_text(&w, "off");
  thr_cw_uint(&w, iOff);
  thr_wire_req_addrs(p, &w);
  r = thr_client_send(p, pPeer, t, OP_PART, logPk, iCtr, iOff, &w, pCmd);
  if (r) {
    r->iFork = iFork;
  }
  sqlite3_free(w.a);
}

/* After n records were added from a peer's log: mount what is new and
** pull on from the log's end. */
static void node_pull_on(thr_node *p, node_thr *t, node_req *r,
                         sqlite3_int64 nWas) {
  sqlite3_int64 nHave;
  thr_ingest_mount(p);
  nHave = thr_wire_have(p, t, r->logPk);
  if (nHave > nWas) { /* only while the log grows: no endless echo */
    thr_client_send_pull(p, r->pPeer, t, r->logPk, nHave, r->pCmd);
  }
}

/**************************************************************************
** Pulled pages: checked on libuv's thread pool, stored in arrival order;
** large records in pieces.
*/

/* An earlier page of log pk failed to store: the chain's pages that follow
** (in flight, or waiting in the pipeline) ask for no more. */
static void node_chain_halt(thr_node *p, const node_req *rFailed) {
  node_req *r;
  for (r = p->pChains; r; r = r->pNextChain) {
    if (r->eOp == OP_PULL &&
        node_req_on_log(r, &rFailed->tid, rFailed->logPk)) {
      r->bHalt = 1;
    }
  }
}

/* Ask for the page after pg now, if the pipeline has room. */
static void node_page_ahead(thr_node *p, node_page *pg) {
  node_req *r = pg->r;
  node_thr *t;
  if (pg->bAhead || pg->bCut || r->bHalt || r->iFork || p->bStopping ||
      p->nPages > NODE_AHEAD || pg->iLast <= r->iCtr ||
      (t = thr_wire_thread_by_id(p, &r->tid)) == NULL) {
    return;
  }
  pg->bAhead = 1;
  thr_client_send_pull(p, r->pPeer, t, pg->logPk, pg->iLast, r->pCmd);
}

/* Pool thread: the checks of a page's records, up to the first refusal. */
static void node_page_check(uv_work_t *w) {
  node_page *pg = w->data;
  size_t i;
  for (i = 0; i < pg->nRec; i++) {
    thr_sync_check(&pg->key, pg->logPk, &pg->aRec[i], &pg->aChk[i]);
    pg->nChecked = i + 1;
    if (pg->aChk[i].bBad) {
      break;
    }
  }
}

static void node_page_free(thr_node *p, node_page *pg) {
  size_t i;
  for (i = 0; pg->aChk && i < pg->nChecked; i++) {
    thr_checked_clear(&pg->aChk[i]);
  }
  sqlite3_free(pg->aChk);
  sqlite3_free(pg->aRec);
  thr_cbor_free(pg->pIn);
  thr_client_req_free(p, pg->r, NULL);
  sodium_memzero(&pg->key, sizeof(pg->key));
  sqlite3_free(pg);
}

/* Store a checked page (the oldest in the pipeline), then go on. */
static void node_page_store(thr_node *p, node_page *pg) {
  node_req *r = pg->r;
  node_thr *t = p->bStopping ? NULL : thr_wire_thread_by_id(p, &r->tid);
  node_chain_unlink(p, r);
  if (t && r->iFork) {
    thr_forks_page(p, t, r, pg->aRec, pg->aChk, pg->nChecked);
  } else if (t) {
    char *zBad = NULL;
    int bGap = 0;
    sqlite3_int64 iFork = 0;
    /* Only checked records are stored: the pool stopped at a refusal. */
    sqlite3_int64 nAdded = thr_ingest_store(
        p, t, pg->logPk, pg->aRec, pg->aChk, pg->nChecked,
        pg->bCut && pg->nChecked == pg->nRec, &zBad, &bGap, &iFork);
    thr_peers_note(p, t->iThread, r->pPeer->zAddr, 0, nAdded, zBad);
    if (r->pCmd) {
      thr_node_cmd_add_recv(p, r->pCmd, nAdded);
    }
    if (zBad || bGap || iFork) {
      node_chain_halt(p, r);
    }
    if (iFork) { /* the peer's branch of the log is not ours */
      thr_forks_search(p, r->pPeer, t, pg->logPk, iFork, r->pCmd, 1);
    }
    if (zBad && strncmp(zBad, "refused", 7) == 0) {
      thr_peers_bad(p, t, r->pPeer, zBad);
    } else if (zBad == NULL && !bGap && !iFork && !pg->bAhead && !r->bHalt) {
      node_pull_on(p, t, r, r->iCtr); /* more, until a page is empty */
    } else if (nAdded > 0) {
      thr_ingest_mount(p);
    }
    sqlite3_free(zBad);
  }
  node_page_free(p, pg);
}

/* Loop: a page's checks are done; store what is ready, in arrival order. */
static void node_page_checked(uv_work_t *w, int status) {
  node_page *pg = w->data, *pHead;
  thr_node *p = pg->pNode;
  (void)status; /* cancelled work is never queued: nothing cancels it */
  pg->bChecked = 1;
  while ((pHead = p->pPages) != NULL && pHead->bChecked) {
    p->pPages = pHead->pNext;
    p->nPages--;
    node_page_store(p, pHead);
    for (pg = p->pPages; pg; pg = pg->pNext) {
      node_page_ahead(p, pg); /* room again in the pipeline */
    }
  }
}

/* A reply to a pull: a page of records, or a large record's description.
** Returns 1 when a page took the request and its reply (pIn, pMsg) over. */
static int node_got_page(thr_node *p, node_thr *t, node_req *r, thr_cbor *pIn,
                         nng_msg *pMsg) {
  thr_cbor *pRecs = thr_cbor_get(pIn, "recs");
  thr_cbor *pBig = thr_cbor_get(pIn, "big");
  char *zBad = NULL;
  node_page *pg, **pp;
  int bGap = 0, bAll;
  if (pBig) {
    sqlite3_int64 iCtr = 0;
    size_t an[4];
    thr_part *pPart = NULL;
    if (!thr_wire_parse_big(pBig, &iCtr, an) || iCtr != r->iCtr + 1) {
      zBad = sqlite3_mprintf("refused: %s", THR_CHECK_DECODE);
    } else {
      pPart = thr_ingest_part_get(
          p, t, r->logPk, iCtr, (sqlite3_uint64)(uintptr_t)r->pPeer, an, &zBad);
    }
    if (pPart) {
      node_send_part(p, r->pPeer, t, r->logPk, iCtr, pPart->nGot, r->iFork,
                     r->pCmd);
    } else if (zBad && strncmp(zBad, "refused", 7) == 0) {
      thr_peers_reject(p, t->iThread, zBad);
      thr_peers_bad(p, t, r->pPeer, zBad);
    } else {
      thr_peers_note(p, t->iThread, r->pPeer->zAddr, 0, 0, zBad);
    }
    sqlite3_free(zBad);
    return 0;
  }
  pg = sqlite3_malloc64(sizeof(*pg));
  if (pg == NULL) {
    return 0;
  }
  memset(pg, 0, sizeof(*pg));
  bAll = thr_wire_recs_parse(pRecs, &pg->aRec, &pg->nRec);
  pg->aChk = sqlite3_malloc64((pg->nRec ? pg->nRec : 1) * sizeof(thr_checked));
  if (pg->aRec == NULL || pg->aChk == NULL || pg->nRec == 0) {
    if (pg->aRec && pg->aChk && !bAll) { /* nothing readable: refused */
      thr_ingest_store(p, t, r->logPk, NULL, NULL, 0, 1, &zBad, &bGap, NULL);
      thr_peers_bad(p, t, r->pPeer, zBad);
      sqlite3_free(zBad);
    } else if (pg->aRec && pg->aChk) { /* empty: the end of the chain */
      thr_peers_note(p, t->iThread, r->pPeer->zAddr, 0, 0, NULL);
    }
    sqlite3_free(pg->aRec);
    sqlite3_free(pg->aChk);
    sqlite3_free(pg);
    return 0;
  }
  memset(pg->aChk, 0, pg->nRec * sizeof(thr_checked));
  pg->work.data = pg;
  pg->pNode = p;
  pg->r = r;
  pg->pIn = pIn;
  nng_msg_free(pMsg); /* pIn holds copies of its blocks */
  pg->key = t->key;
  memcpy(pg->logPk, r->logPk, 32);
  pg->iLast = pg->aRec[pg->nRec - 1].counter;
  pg->bCut = !bAll;
  r->pNextChain = p->pChains; /* still a step of its chain */
  p->pChains = r;
  for (pp = &p->pPages; *pp; pp = &(*pp)->pNext) {
  }
  *pp = pg;
  p->nPages++;
  node_page_ahead(p, pg);
  if (uv_queue_work(&p->loop, &pg->work, node_page_check, node_page_checked) !=
      0) {
    node_page_check(&pg->work); /* no pool: check it here */
    node_page_checked(&pg->work, 0);
  }
  return 1;
}

/* A reply to a part request: the next piece of a large record. */
static void node_got_piece(thr_node *p, node_thr *t, node_req *r,
                           thr_cbor *pIn) {
  sqlite3_uint64 from = (sqlite3_uint64)(uintptr_t)r->pPeer;
  thr_part *pPart =
      thr_part_find(&p->parts, t->iThread, r->logPk, r->iCtr, from);
  size_t nData = 0;
  const unsigned char *aData =
      thr_cbor_as_bytes(thr_cbor_get(pIn, "data"), &nData);
  thr_wire_rec rec;
  int e;
  if (pPart == NULL) {
    return; /* evicted, or done by another reply; a later round resumes */
  }
  e = thr_part_add(&p->parts, pPart, r->iOff, aData, nData, thr_now_ms());
  if (e == THR_PART_DONE && thr_part_record(pPart, &rec) != SQLITE_OK) {
    thr_peers_note(p, t->iThread, r->pPeer->zAddr, 0, 0,
                   "storage: cannot read a large record back");
    thr_part_drop(&p->parts, pPart);
  } else if (e == THR_PART_MORE || e == THR_PART_STALE) {
    node_send_part(p, r->pPeer, t, r->logPk, r->iCtr, pPart->nGot, r->iFork,
                   r->pCmd);
  } else if (e == THR_PART_DONE && r->iFork) {
    /* A large record at a fork: checked here, then resolved. */
    thr_checked chk;
    thr_sync_check(&t->key, r->logPk, &rec, &chk);
    thr_forks_page(p, t, r, &rec, &chk, 1);
    thr_checked_clear(&chk);
    thr_part_drop(&p->parts, pPart);
  } else if (e == THR_PART_DONE) {
    char *zBad = NULL;
    int bGap = 0;
    sqlite3_int64 nAdded, iFork = 0;
    nAdded = thr_ingest_store(p, t, r->logPk, &rec, NULL, 1, 0, &zBad, &bGap,
                              &iFork);
    thr_part_drop(&p->parts, pPart);
    thr_peers_note(p, t->iThread, r->pPeer->zAddr, 0, nAdded, zBad);
    if (r->pCmd) {
      thr_node_cmd_add_recv(p, r->pCmd, nAdded);
    }
    if (zBad && strncmp(zBad, "refused", 7) == 0) {
      thr_peers_bad(p, t, r->pPeer, zBad);
    } else if (iFork) {
      thr_forks_search(p, r->pPeer, t, r->logPk, iFork, r->pCmd, 1);
    } else if (nAdded > 0) {
      node_pull_on(p, t, r, rec.counter - 1);
    }
    sqlite3_free(zBad);
  } else if (e == THR_PART_BAD) {
    char *zBad = sqlite3_mprintf("refused: %s", THR_CHECK_DECODE);
    thr_peers_reject(p, t->iThread, zBad);
    thr_peers_bad(p, t, r->pPeer, zBad);
    sqlite3_free(zBad);
  } else if (e == THR_PART_FULL) {
    /* Kept: a later round asks on from nGot. */
    thr_peers_note(p, t->iThread, r->pPeer->zAddr, 0, 0,
                   "busy: no room for large records");
  } else {
    thr_peers_note(p, t->iThread, r->pPeer->zAddr, 0, 0,
                   "storage: cannot write a large record's piece");
    thr_part_drop(&p->parts, pPart);
  }
}

/**************************************************************************
** Replies, and rounds.
*/

/* A request is over: its reply (pMsg, or NULL) and the request go, and the
** sync waiting on it, if any, is done when this was its last one. */
void thr_client_req_free(thr_node *p, node_req *r, nng_msg *pMsg) {
  node_req **pp;
  if (pMsg) {
    nng_msg_free(pMsg);
  }
  for (pp = &p->pLive; *pp; pp = &(*pp)->pNextLive) {
    if (*pp == r) {
      *pp = r->pNextLive;
      break;
    }
  }
  p->nInFlight--;
  if (r->pCmd && --r->pCmd->nPending == 0) {
    thr_node_cmd_finish(p, r->pCmd);
  }
  nng_ctx_close(r->ctx);
  nng_aio_free(r->aio);
  r->pPeer->nReq--;
  thr_peers_unref(p, r->pPeer); /* freed if dropped and no longer named */
  sqlite3_free(r);
}

/* A reply came back (or the request failed). */
void thr_client_req_done(thr_node *p, node_req *r) {
  node_chain_unlink(p, r); /* a continuation starts a new step */
  int rcAio = nng_aio_result(r->aio);
  nng_msg *pMsg = rcAio == 0 ? nng_aio_get_msg(r->aio) : NULL;
  node_thr *t = thr_wire_thread_by_id(p, &r->tid);
  node_thr *tGot = NULL;
  thr_cbor *pIn = NULL;
  node_peer *pPeer = r->pPeer;
  if (pMsg && t) {
    pIn = thr_wire_open(p, pMsg, t, &tGot);
  }
  if (t && rcAio != 0) {
    thr_peers_note(p, t->iThread, pPeer->zAddr, 0, 0, nng_strerror(rcAio));
  } else if (t && pIn == NULL) {
    thr_peers_note(p, t->iThread, pPeer->zAddr, 0, 0,
                   "refused: unreadable reply");
  }
  if (pIn) {
    thr_peers_answered(p, pPeer);
  } else if (t || rcAio != 0) { /* not a reply of a thread we left */
    thr_peers_failed(p, pPeer);
  }
  if (t && pIn && r->eOp == OP_HEADS && thr_cbor_get(pIn, "same") == NULL) {
    thr_cbor *pHeads = thr_cbor_get(pIn, "heads");
    thr_cbor *pAddrs = thr_cbor_get(pIn, "addrs");
    thr_head *aMine = NULL, *aTheirs;
    int nMine = 0, nTheirs = 0, i;
    size_t k, nItem = thr_cbor_array_size(pHeads), nSelf = 0;
    const unsigned char *self =
        thr_cbor_as_bytes(thr_cbor_get(pIn, "self"), &nSelf);
    if (self && nSelf != 32) {
      self = NULL;
    }
    /* The addresses it relays, announced by it: its log, or the address
    ** we dialed (peers.c bounds what one announcer adds). */
    for (k = 0; k < thr_cbor_array_size(pAddrs) && k < NODE_ADDRS; k++) {
      size_t nA = 0;
      const char *zA = thr_cbor_as_text(thr_cbor_array_at(pAddrs, k), &nA);
      if (zA) {
        thr_peers_learn(p, t->iThread, zA, nA, NULL,
                        self ? (const void *)self : (const void *)pPeer->zAddr,
                        self ? 32 : (int)strlen(pPeer->zAddr));
      }
    }
    if (self) {
      thr_peers_learn(p, t->iThread, pPeer->zAddr, strlen(pPeer->zAddr), self,
                      self, 32);
    }
    thr_peers_note(p, t->iThread, pPeer->zAddr, 0, 0, NULL);
    /* Their heads, the well-formed entries only. */
    aTheirs = sqlite3_malloc64((nItem ? nItem : 1) * sizeof(*aTheirs));
    for (k = 0; aTheirs && k < nItem; k++) {
      thr_cbor *pH = thr_cbor_array_at(pHeads, k);
      size_t nPk = 0, nCid = 0;
      const unsigned char *pk =
          thr_cbor_as_bytes(thr_cbor_array_at(pH, 0), &nPk);
      const unsigned char *cid =
          thr_cbor_as_bytes(thr_cbor_array_at(pH, 2), &nCid);
      uint64_t c = 0;
      if (pk && nPk == 32 && thr_cbor_as_uint(thr_cbor_array_at(pH, 1), &c) &&
          c < (1ULL << 62)) {
        memcpy(aTheirs[nTheirs].pk, pk, 32);
        aTheirs[nTheirs].counter = (sqlite3_int64)c;
        aTheirs[nTheirs].hasHead = c > 0 && cid && nCid == THR_CID_BYTES;
        if (aTheirs[nTheirs].hasHead) {
          memcpy(aTheirs[nTheirs].head.a, cid, THR_CID_BYTES);
        }
        nTheirs++;
      }
    }
    if (aTheirs && thr_wire_heads(p, t, &aMine, &nMine, NULL) == SQLITE_OK) {
      for (i = 0; i < nTheirs; i++) {
        sqlite3_int64 nHave = thr_wire_heads_count(aMine, nMine, aTheirs[i].pk);
        if (aTheirs[i].hasHead && aTheirs[i].counter <= nHave &&
            thr_forks_head_differs(p, t, aTheirs[i].pk, aTheirs[i].counter,
                                   &aTheirs[i].head)) {
          /* Their head is not our record there: the log forked at or
          ** below it, and nothing of it is pushed to them below. */
          thr_forks_search(p, pPeer, t, aTheirs[i].pk, aTheirs[i].counter,
                           r->pCmd, 0);
          aTheirs[i].counter = -1;
        } else if (aTheirs[i].counter > nHave &&
                   !thr_client_chain_join(p, t, aTheirs[i].pk, NULL, 0,
                                          r->pCmd)) {
          /* pull what they hold more of */
          thr_client_send_pull(p, pPeer, t, aTheirs[i].pk, nHave, r->pCmd);
        }
      }
      for (i = 0; i < nMine; i++) { /* push what they hold less of */
        sqlite3_int64 nThey =
            thr_wire_heads_count(aTheirs, nTheirs, aMine[i].pk);
        if (nThey >= 0 && aMine[i].counter > nThey &&
            !thr_client_chain_join(p, t, aMine[i].pk, pPeer, 1, r->pCmd)) {
          thr_client_send_push(p, pPeer, t, aMine[i].pk, nThey, r->pCmd);
        }
      }
      sqlite3_free(aMine);
    }
    sqlite3_free(aTheirs);
  } else if (t && pIn && r->eOp == OP_PULL) {
    if (node_got_page(p, t, r, pIn, pMsg)) {
      return; /* the page holds the request and its reply now */
    }
  } else if (t && pIn && r->eOp == OP_PART) {
    node_got_piece(p, t, r, pIn);
  } else if (t && pIn && r->eOp == OP_CIDS) {
    thr_forks_got_cids(p, t, r, pIn);
  } else if (t && pIn && r->eOp == OP_PUSH) {
    uint64_t v = 0;
    if (thr_cbor_as_uint(thr_cbor_get(pIn, "fork"), &v) && v < (1ULL << 62)) {
      thr_forks_search(p, pPeer, t, r->logPk, (sqlite3_int64)v, r->pCmd, 0);
    } else if (thr_cbor_as_uint(thr_cbor_get(pIn, "need"), &v)) {
      thr_client_send_push(p, pPeer, t, r->logPk, (sqlite3_int64)v, r->pCmd);
    } else if (thr_cbor_as_uint(thr_cbor_get(pIn, "off"), &v)) {
      node_send_piece(p, pPeer, t, r->logPk, r->iCtr, (size_t)v, r->pCmd);
    } else if (thr_cbor_get(pIn, "added")) {
      thr_client_send_push(p, pPeer, t, r->logPk, r->iCtr, r->pCmd); /* go on */
    }
  }
  thr_cbor_free(pIn);
  thr_client_req_free(p, r, pMsg);
}

/* Start a round with every peer of the thread (or of every thread): heads
** to each address that has a socket, or is due to be dialed (peers.c
** decides: given addresses first, then those that answered, then the
** rest by fewest failed tries).  A sync (pCmd) waits for the heads and what
** follows them, except from a learned address that is only probed (see
** DIALING in peers.c): a sync never waits on poison. */
void thr_client_round(thr_node *p, node_thr *tOnly, node_cmd *pCmd) {
  sqlite3_stmt *pStmt = NULL;
  int rc;
  if (sqlite3_prepare_v2(p->db,
                         "SELECT tid, addr, learned, tries, tried,"
                         " last_contact IS NOT NULL"
                         " FROM _threads_peer ORDER BY learned,"
                         " last_contact IS NULL, tries, added",
                         -1, &pStmt, NULL) != SQLITE_OK) {
    return;
  }
  thr_peers_round_start(p, tOnly == NULL);
  while ((rc = sqlite3_step(pStmt)) == SQLITE_ROW) {
    sqlite3_int64 iThread = sqlite3_column_int64(pStmt, 0);
    const char *zAddr = (const char *)sqlite3_column_text(pStmt, 1);
    int bLearned = sqlite3_column_int(pStmt, 2) != 0;
    node_thr *t = NULL;
    node_peer *pPeer;
    int i, bWait = 0;
    if (tOnly && tOnly->iThread != iThread) {
      continue;
    }
    for (i = 0; i < p->nThr; i++) {
      if (p->aThr[i].iThread == iThread) {
        t = &p->aThr[i];
      }
    }
    if (t == NULL || zAddr == NULL || thr_peers_is_own(p, zAddr)) {
      continue;
    }
    pPeer = thr_peers_for_round(
        p, zAddr, bLearned, sqlite3_column_int(pStmt, 5),
        sqlite3_column_int(pStmt, 3), sqlite3_column_int64(pStmt, 4),
        pCmd != NULL, &bWait);
    if (pPeer) {
      node_send_heads(p, pPeer, t, bWait ? pCmd : NULL);
    }
  }
  sqlite3_finalize(pStmt);
  if (tOnly == NULL && rc == SQLITE_DONE) {
    thr_peers_round_end(p); /* sockets of forgotten addresses close */
  }
}
