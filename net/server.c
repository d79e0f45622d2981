/*
** server.c: the node's server side: the rep socket it listens with, its
** NODE_NSRV contexts, and the answers to peers' requests (heads, pull, part,
** cids, push).  A request that does not open gets "unauthorized" and
** nothing else (THE PROTOCOL, at the top of wire.c).
**
** Limits here: a request over NODE_MAXMSG is counted as "oversized" and its
** connection ended (the transport drops what is over twice that); at most
** SRV_LEARN addresses read per request (peers.c bounds what is kept: per
** thread and per announcer) and NODE_ADDRS sent per heads reply, of which
** at most SRV_RELAY that answered us (never one that did not, so poison
** does not spread); a pull served is at most NODE_PAGE_RECS records, a
** "cids" reply NODE_CIDS CIDs; and, against peers that ask without reading
** the answers (below), NODE_NSRV contexts, NODE_CONN_REQS requests answered
** at once per connection, NODE_SEND_MS per reply, NODE_MAXCONN connections.
**
** Serving connections fairly.
**
** A context of the rep socket holds one request from its arrival until its
** reply is handed to the connection, and nng hands a connection one reply
** at a time: a reply waits in its context while the one before it on the
** same connection is being written.  A peer that asks without reading the
** answers (its TCP window full) would thus keep every context it got, and
** each with a reply of up to a megabyte (a "part"), until nobody else is
** served.  So:
**
**   - a connection has at most NODE_CONN_REQS requests being answered (a
**     reply made, not yet handed over); its other requests wait, in the
**     contexts that received them, with no reply made, until one of those
**     is handed over.  Honest peers overlap a few requests on a connection
**     (NODE_AHEAD pages of a pull, in client.c, and one request per log
**     and thread): they wait a loop turn, no more.  Replies in memory:
**     NODE_CONN_REQS per connection in contexts, one in nng's pipe;
**   - a reply not handed to its connection within NODE_SEND_MS (the
**     connection did not take the one before it) ends the connection: its
**     contexts, the waiting ones with them, go back to receiving, and its
**     replies are freed.  No context is held longer by a peer;
**   - contexts take requests from the connections that have one in the
**     order they arrived (nng's rep0), and the loop serves them in the
**     order they were received;
**   - the socket accepts at most NODE_MAXCONN connections at once (more
**     are closed as they come: sock.c), so that descriptors stay bounded.
**
** The cost of an attack: a connection that stops reading holds contexts
** for NODE_SEND_MS at most, then must connect again; one that reads its
** replies slowly (one per NODE_SEND_MS) holds those waiting their turn as
** long as it goes on, and contexts freed go to the connections with a
** request in the order those arrived, so others are still served, more
** slowly.  Replies held meanwhile: at most NODE_CONN_REQS + 1 per
** connection (test_unread.py has 8 connections: about 24 of 1 MiB), and
** NODE_NSRV in all in contexts.  Known limit: a peer holding NODE_MAXCONN
** idle connections keeps new peers out (those connected stay served).
*/

#include "thr_net.h"

#include <errno.h>
#include <nng/protocol/reqrep0/rep.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>

#define NODE_CONN_REQS 2  /* requests answered at once per connection */
#define NODE_SEND_MS 2000 /* a reply waits this long for its connection */
#define NODE_MAXCONN 128  /* connections accepted at once */

#define SRV_LEARN 16 /* addresses read from one request */
#define SRV_RELAY 48 /* addresses relayed in a heads reply, besides ours */

static int cbor_text_is(thr_cbor *pItem, const char *z) {
  size_t n = 0;
  const char *zGot = thr_cbor_as_text(pItem, &n);
  return zGot && n == strlen(z) && memcmp(zGot, z, n) == 0;
}

/* nng's callback of a context: a request received, or a reply handed over
** (or not).  It only queues the context for the loop (thr_server_run); on
** the way out (ECLOSED, ECANCELED: the node stops) it does nothing more. */
static void node_srv_cb(void *pArg) {
  node_srv *s = pArg;
  thr_node *p = s->pNode;
  int rc = nng_aio_result(s->aio);
  if (s->eState == SRV_SENDING) {
    if (rc != 0) {
      nng_msg_free(nng_aio_get_msg(s->aio)); /* not sent: still ours */
      nng_aio_set_msg(s->aio, NULL);
    }
    if (rc == NNG_ECLOSED || rc == NNG_ECANCELED) {
      return;
    }
    s->rcSend = rc;
    s->eState = SRV_SENT;
  } else {
    if (rc == NNG_ECLOSED || rc == NNG_ECANCELED) {
      return;
    }
    if (rc != 0) {
      nng_ctx_recv(s->ctx, s->aio);
      return;
    }
    s->eState = SRV_QUEUED;
  }
  pthread_mutex_lock(&p->mu);
  s->pNext = NULL;
  if (p->pSrvQTail) {
    p->pSrvQTail->pNext = s;
  } else {
    p->pSrvQ = s;
  }
  p->pSrvQTail = s;
  pthread_mutex_unlock(&p->mu);
  uv_async_send(&p->wake);
}

/* Context s receives the next request. */
static void srv_recv(node_srv *s) {
  s->eState = SRV_RECV;
  nng_aio_set_timeout(s->aio, NNG_DURATION_INFINITE);
  nng_ctx_recv(s->ctx, s->aio);
}

/* The slot of connection iPipe; with bNew, one taken for it if it has
** none (there is always one: each slot in use holds a context). */
static node_conn *srv_conn(thr_node *p, uint32_t iPipe, int bNew) {
  node_conn *pFree = NULL;
  int i;
  for (i = 0; i < NODE_NSRV; i++) {
    if (p->aConn[i].iPipe == iPipe) {
      return &p->aConn[i];
    }
    if (pFree == NULL && p->aConn[i].iPipe == 0) {
      pFree = &p->aConn[i];
    }
  }
  if (bNew && pFree) {
    memset(pFree, 0, sizeof(*pFree));
    pFree->iPipe = iPipe;
  }
  return bNew ? pFree : NULL;
}

/* Answer the request of context s, a request of connection c. */
static void srv_serve(thr_node *p, node_conn *c, node_srv *s) {
  nng_msg *pReq = nng_aio_get_msg(s->aio);
  nng_msg *pReply;
  nng_aio_set_msg(s->aio, NULL);
  c->nService++;
  pReply = thr_server_serve(p, pReq);
  nng_msg_free(pReq);
  if (pReply) {
    s->eState = SRV_SENDING;
    nng_aio_set_timeout(s->aio, NODE_SEND_MS);
    nng_aio_set_msg(s->aio, pReply);
    nng_ctx_send(s->ctx, s->aio);
  } else {
    c->nService--; /* no answer (the connection was ended) */
    srv_recv(s);
  }
}

/* Serve the waiting requests of c while it has room; free its slot when
** it holds no context any more. */
static void srv_conn_next(thr_node *p, node_conn *c) {
  node_srv *s;
  while (c->nService < NODE_CONN_REQS && (s = c->pParked) != NULL) {
    c->pParked = s->pNext;
    s->pNext = NULL;
    srv_serve(p, c, s);
  }
  if (c->nService == 0 && c->pParked == NULL) {
    c->iPipe = 0;
  }
}

/* Loop: a context the callback queued: a request to answer (or to wait
** for its turn), or a reply handed over, or not within NODE_SEND_MS. */
void thr_server_run(thr_node *p, node_srv *s) {
  node_conn *c;
  if (s->eState == SRV_SENT) {
    c = srv_conn(p, (uint32_t)nng_pipe_id(s->pipe), 0);
    if (c) {
      c->nService--;
    }
    if (s->rcSend == NNG_ETIMEDOUT) {
      /* The connection does not read its replies: end it, and drop the
      ** requests it has waiting (their replies could not go either). */
      thr_sock_pipe_end(s->pipe);
      while (c && c->pParked) {
        node_srv *w = c->pParked;
        c->pParked = w->pNext;
        w->pNext = NULL;
        nng_msg_free(nng_aio_get_msg(w->aio));
        nng_aio_set_msg(w->aio, NULL);
        srv_recv(w);
      }
    }
    srv_recv(s);
    if (c) {
      srv_conn_next(p, c);
    }
    return;
  }
  s->pipe = nng_msg_get_pipe(nng_aio_get_msg(s->aio));
  c = srv_conn(p, (uint32_t)nng_pipe_id(s->pipe), 1);
  if (c && c->nService >= NODE_CONN_REQS) {
    node_srv **pp = &c->pParked; /* its turn comes (srv_conn_next) */
    while (*pp) {
      pp = &(*pp)->pNext;
    }
    s->eState = SRV_PARKED;
    s->pNext = NULL;
    *pp = s;
    return;
  }
  if (c == NULL) { /* cannot be: a slot per context */
    nng_msg_free(nng_aio_get_msg(s->aio));
    nng_aio_set_msg(s->aio, NULL);
    srv_recv(s);
    return;
  }
  srv_serve(p, c, s);
  srv_conn_next(p, c);
}

/* The node stops: no callback of a context runs any more (their aios are
** stopped).  Free what the contexts still hold: requests queued or
** waiting, replies not handed over. */
void thr_server_stop(thr_node *p) {
  int i;
  if (!p->bRep) {
    return;
  }
  for (i = 0; i < NODE_NSRV; i++) {
    nng_aio_stop(p->aSrv[i].aio); /* NULL: nothing */
  }
  pthread_mutex_lock(&p->mu);
  p->pSrvQ = NULL;
  p->pSrvQTail = NULL;
  pthread_mutex_unlock(&p->mu);
  for (i = 0; i < NODE_NSRV; i++) {
    if (p->aSrv[i].aio) {
      nng_msg_free(nng_aio_get_msg(p->aSrv[i].aio));
      nng_aio_set_msg(p->aSrv[i].aio, NULL);
    }
    p->aConn[i].iPipe = 0;
    p->aConn[i].pParked = NULL;
  }
}

/* Serve a push: a page of records, or a piece of a large record.  A sender
** of a refused record has its connection (pipe) closed. */
static void node_serve_push(thr_node *p, node_thr *t, thr_cbor *pIn,
                            nng_pipe pipe, thr_cw *w) {
  size_t nPk = 0;
  const unsigned char *pk = thr_cbor_as_bytes(thr_cbor_get(pIn, "log"), &nPk);
  thr_cbor *pRecs = thr_cbor_get(pIn, "recs");
  thr_cbor *pBig = thr_cbor_get(pIn, "big");
  char *zBad = NULL;
  int bGap = 0, bMore = 0;
  sqlite3_int64 nAdded = 0, iFork = 0;
  thr_part *pPart = NULL;
  if (pk == NULL || nPk != 32 || (pRecs == NULL && pBig == NULL)) {
    return; /* "bad request" */
  }
  if (pBig) {
    sqlite3_uint64 from = (1ULL << 63) | (sqlite3_uint64)nng_pipe_id(pipe);
    sqlite3_int64 iCtr = 0;
    size_t an[4], nData = 0;
    uint64_t iOff = 0;
    const unsigned char *aData =
        thr_cbor_as_bytes(thr_cbor_get(pIn, "data"), &nData);
    sqlite3_int64 nHave = thr_wire_have(p, t, pk);
    if (!thr_wire_parse_big(pBig, &iCtr, an) ||
        !thr_cbor_as_uint(thr_cbor_get(pIn, "off"), &iOff)) {
      zBad = sqlite3_mprintf("refused: %s", THR_CHECK_DECODE);
    } else if (nHave < 0) {
      zBad = sqlite3_mprintf("storage: cannot read the heads");
    } else if (iCtr > nHave + 1) {
      /* Not the next record: say where we are.  (One at or below our end
      ** is another branch's, pushed to us as a fork's winner.) */
      bGap = 1;
    } else if ((pPart = thr_ingest_part_get(p, t, pk, iCtr, from, an, &zBad)) !=
               NULL) {
      int e = thr_part_add(&p->parts, pPart, (size_t)iOff, aData, nData,
                           thr_now_ms());
      thr_wire_rec rec;
      if (e == THR_PART_DONE && thr_part_record(pPart, &rec) != SQLITE_OK) {
        zBad = sqlite3_mprintf("storage: cannot read a large record back");
        thr_part_drop(&p->parts, pPart);
      } else if (e == THR_PART_DONE) {
        nAdded =
            thr_ingest_store(p, t, pk, &rec, NULL, 1, 0, &zBad, &bGap, &iFork);
        if (iFork && (nAdded = thr_forks_pushed(p, t, pk, iFork, &rec, 1))) {
          iFork = 0; /* the pusher's branch won: it is ours now */
        }
        thr_part_drop(&p->parts, pPart);
      } else if (e == THR_PART_MORE || e == THR_PART_STALE) {
        bMore = 1;
      } else if (e == THR_PART_BAD) {
        zBad = sqlite3_mprintf("refused: %s", THR_CHECK_DECODE);
        thr_peers_reject(p, t->iThread, zBad);
      } else if (e == THR_PART_FULL) {
        /* Kept: the pusher goes on from nGot on a later round. */
        zBad = sqlite3_mprintf("busy: no room for large records");
      } else {
        zBad = sqlite3_mprintf("storage: cannot write a large record's piece");
      }
    } else if (zBad && strncmp(zBad, "refused", 7) == 0) {
      thr_peers_reject(p, t->iThread, zBad);
    }
    if (zBad && pPart && strncmp(zBad, "refused", 7) == 0) {
      thr_part_drop_from(&p->parts, from);
    }
  } else {
    thr_wire_rec *aRec = NULL;
    size_t nRec = 0;
    int bAll = thr_wire_recs_parse(pRecs, &aRec, &nRec);
    if (aRec == NULL) {
      zBad = sqlite3_mprintf("storage: out of memory");
    } else {
      nAdded = thr_ingest_store(p, t, pk, aRec, NULL, nRec, !bAll, &zBad, &bGap,
                                &iFork);
      if (iFork && zBad == NULL) {
        sqlite3_int64 nWon = thr_forks_pushed(p, t, pk, iFork, aRec, nRec);
        if (nWon > 0) {
          nAdded += nWon; /* the pusher's branch won: it is ours now */
          iFork = 0;
        }
      }
    }
    sqlite3_free(aRec);
  }
  if (nAdded > 0) {
    thr_ingest_mount(p);
  }
  thr_cw_map(w, 1);
  if (zBad) {
    thr_cw_text(w, "err");
    thr_cw_text(w, strncmp(zBad, "refused", 7) == 0 ? "refused" : "busy");
    if (strncmp(zBad, "refused", 7) == 0) {
      thr_sock_pipe_end(pipe); /* the reply is lost with it */
    }
  } else if (bMore) {
    thr_cw_text(w, "off");
    thr_cw_uint(w, pPart->nGot);
  } else if (iFork) {
    /* Another branch of the log: the sender searches for the fork (it is
    ** honest: the record is signed by the log's key). */
    thr_cw_text(w, "fork");
    thr_cw_uint(w, (uint64_t)iFork);
  } else if (bGap) {
    /* The store may have moved. */
    sqlite3_int64 nHave = thr_wire_have(p, t, pk);
    thr_cw_text(w, "need");
    thr_cw_uint(w, (uint64_t)(nHave > 0 ? nHave : 0));
  } else {
    thr_cw_text(w, "added");
    thr_cw_uint(w, (uint64_t)nAdded);
  }
  sqlite3_free(zBad);
}

/* Serve "cids": the CIDs of log pk up to counter iTo (or our last), at
** most NODE_CIDS (the reply stays under 20 KB). */
static void node_serve_cids(thr_node *p, node_thr *t,
                            const unsigned char pk[32], sqlite3_int64 iTo,
                            thr_cw *w) {
  sqlite3_int64 nHave = thr_wire_have(p, t, pk), iFrom;
  thr_cid *aCid = sqlite3_malloc64(NODE_CIDS * sizeof(thr_cid));
  char *zErr = NULL;
  int n = 0, i;
  if (aCid == NULL || nHave < 0) {
    sqlite3_free(aCid);
    return; /* "bad request" */
  }
  if (iTo > nHave) {
    iTo = nHave;
  }
  iFrom = iTo - NODE_CIDS + 1 < 1 ? 1 : iTo - NODE_CIDS + 1;
  if (iTo >= 1 &&
      thr_sync_cids(p->pSync, t->iThread, pk, iFrom, (int)(iTo - iFrom + 1),
                    aCid, &n, &zErr) != SQLITE_OK) {
    n = 0;
  }
  sqlite3_free(zErr);
  thr_cw_map(w, 2);
  thr_cw_text(w, "cids");
  thr_cw_array(w, (size_t)n);
  for (i = 0; i < n; i++) {
    thr_cw_bytes(w, aCid[i].a, THR_CID_BYTES);
  }
  thr_cw_text(w, "from");
  thr_cw_uint(w, (uint64_t)iFrom);
  sqlite3_free(aCid);
}

/* Answer one request; returns the reply message. */
nng_msg *thr_server_serve(thr_node *p, nng_msg *pReq) {
  node_thr *t = NULL;
  nng_pipe pipe = nng_msg_get_pipe(pReq);
  thr_cbor *pIn;
  thr_cw w = {NULL, 0, 0, SQLITE_OK, 1};
  thr_cbor *pOp, *pAddrs;
  nng_msg *pReply = NULL;
  size_t k, nSelf = 0;
  const unsigned char *self;
  unsigned char aPipe[8] = {'p', 'i', 'p', 'e'};
  if (nng_msg_len(pReq) > NODE_MAXMSG) {
    /* Over our limit (the transport's is twice that): count it against
    ** the thread its frame names, if any, and hang up. */
    const unsigned char *a = nng_msg_body(pReq);
    if (a[0] == 0x84 && a[1] == 0x01 && a[2] == 0x50 &&
        (t = thr_wire_thread_by_tag(p, a + 3)) != NULL) {
      thr_peers_reject(p, t->iThread, "oversized");
    }
    thr_sock_pipe_end(pipe);
    return NULL;
  }
  pIn = thr_wire_open(p, pReq, NULL, &t);
  if (pIn == NULL) {
    return thr_wire_plain("unauthorized");
  }
  pOp = thr_cbor_get(pIn, "op");
  pAddrs = thr_cbor_get(pIn, "addrs");
  self = thr_cbor_as_bytes(thr_cbor_get(pIn, "self"), &nSelf);
  if (self && nSelf != 32) {
    self = NULL;
  }
  /* The sender's own addresses.  Its announcer identity (peers.c) is the
  ** log it says it writes, else its connection: "pipe" and the pipe's ID. */
  aPipe[4] = (unsigned char)(nng_pipe_id(pipe) >> 24);
  aPipe[5] = (unsigned char)(nng_pipe_id(pipe) >> 16);
  aPipe[6] = (unsigned char)(nng_pipe_id(pipe) >> 8);
  aPipe[7] = (unsigned char)nng_pipe_id(pipe);
  for (k = 0; k < thr_cbor_array_size(pAddrs) && k < SRV_LEARN; k++) {
    size_t nA = 0;
    const char *zA = thr_cbor_as_text(thr_cbor_array_at(pAddrs, k), &nA);
    if (zA) {
      thr_peers_learn(p, t->iThread, zA, nA, self, self ? self : aPipe,
                      self ? 32 : 8);
    }
  }
  if (cbor_text_is(pOp, "heads")) {
    thr_head *aHead = NULL;
    int nHead = 0, i;
    unsigned char digest[32];
    size_t nTheirs = 0;
    const unsigned char *theirs =
        thr_cbor_as_bytes(thr_cbor_get(pIn, "digest"), &nTheirs);
    if (thr_wire_heads(p, t, &aHead, &nHead, digest) == SQLITE_OK) {
      if (theirs && nTheirs == 32 && sodium_memcmp(theirs, digest, 32) == 0) {
        thr_cw_map(&w, 1);
        thr_cw_text(&w, "same");
        thr_cw_uint(&w, 1);
      } else {
        sqlite3_stmt *pStmt = NULL;
        int nAddr = 0;
        char *azAddr[NODE_ADDRS];
        /* Only addresses that answered us, the latest first. */
        if (sqlite3_prepare_v2(p->db,
                               "SELECT addr FROM _threads_peer WHERE tid = ?1"
                               " AND last_contact IS NOT NULL"
                               " ORDER BY last_contact DESC LIMIT ?2",
                               -1, &pStmt, NULL) == SQLITE_OK) {
          sqlite3_bind_int64(pStmt, 1, t->iThread);
          sqlite3_bind_int(pStmt, 2, SRV_RELAY);
          while (sqlite3_step(pStmt) == SQLITE_ROW && nAddr < SRV_RELAY) {
            azAddr[nAddr] =
                thr_node_strdup((const char *)sqlite3_column_text(pStmt, 0));
            if (azAddr[nAddr]) {
              nAddr++;
            }
          }
        }
        sqlite3_finalize(pStmt);
        for (i = 0; i < p->nListen && nAddr < NODE_ADDRS; i++) {
          azAddr[nAddr++] = thr_node_strdup(p->azListen[i]);
        }
        thr_cw_map(&w, t->hasSelf ? 3 : 2);
        if (t->hasSelf) {
          thr_cw_text(&w, "self");
          thr_cw_bytes(&w, t->self, 32);
        }
        thr_cw_text(&w, "addrs");
        thr_cw_array(&w, (size_t)nAddr);
        for (i = 0; i < nAddr; i++) {
          thr_cw_text(&w, azAddr[i] ? azAddr[i] : "");
          sqlite3_free(azAddr[i]);
        }
        thr_cw_text(&w, "heads");
        thr_cw_array(&w, (size_t)nHead);
        for (i = 0; i < nHead; i++) {
          thr_cw_array(&w, aHead[i].hasHead ? 3 : 2);
          thr_cw_bytes(&w, aHead[i].pk, 32);
          thr_cw_uint(&w, (uint64_t)aHead[i].counter);
          if (aHead[i].hasHead) {
            thr_cw_bytes(&w, aHead[i].head.a, THR_CID_BYTES);
          }
        }
      }
      sqlite3_free(aHead);
    }
  } else if (cbor_text_is(pOp, "pull")) {
    size_t nPk = 0;
    const unsigned char *pk = thr_cbor_as_bytes(thr_cbor_get(pIn, "log"), &nPk);
    uint64_t nAfter = 0, nMax = 0;
    page_ctx c;
    if (pk && nPk == 32 &&
        thr_cbor_as_uint(thr_cbor_get(pIn, "after"), &nAfter) &&
        thr_cbor_as_uint(thr_cbor_get(pIn, "max"), &nMax) &&
        nAfter < (1ULL << 62) &&
        thr_wire_read_page(p, t, pk, (sqlite3_int64)nAfter,
                           nMax > NODE_PAGE_RECS ? NODE_PAGE_RECS : (int)nMax,
                           &c) == SQLITE_OK) {
      thr_cw_map(&w, 1);
      if (c.n == 0 && c.bBig) {
        thr_wire_write_big(&w, c.iBig, c.anBig);
      } else {
        thr_wire_write_recs(&w, &c);
      }
    }
    sqlite3_free(c.w.a);
  } else if (cbor_text_is(pOp, "part")) {
    size_t nPk = 0, an[4], n = 0;
    const unsigned char *pk = thr_cbor_as_bytes(thr_cbor_get(pIn, "log"), &nPk);
    uint64_t iCtr = 0, iOff = 0;
    unsigned char *a = NULL;
    if (pk && nPk == 32 && thr_cbor_as_uint(thr_cbor_get(pIn, "ctr"), &iCtr) &&
        thr_cbor_as_uint(thr_cbor_get(pIn, "off"), &iOff) &&
        iCtr < (1ULL << 62) && iOff < THR_PART_MAXREC &&
        thr_wire_read_piece(p, t, pk, (sqlite3_int64)iCtr, (size_t)iOff, an, &a,
                            &n) == SQLITE_OK) {
      thr_cw_map(&w, 1);
      thr_cw_text(&w, "data");
      thr_cw_bytes(&w, a, n);
    }
    sqlite3_free(a);
  } else if (cbor_text_is(pOp, "cids")) {
    size_t nPk = 0;
    const unsigned char *pk = thr_cbor_as_bytes(thr_cbor_get(pIn, "log"), &nPk);
    uint64_t iTo = 0;
    if (pk && nPk == 32 && thr_cbor_as_uint(thr_cbor_get(pIn, "to"), &iTo) &&
        iTo < (1ULL << 62)) {
      node_serve_cids(p, t, pk, (sqlite3_int64)iTo, &w);
    }
  } else if (cbor_text_is(pOp, "push")) {
    node_serve_push(p, t, pIn, pipe, &w);
  }
  if (w.n == 0 && w.rc == SQLITE_OK) {
    thr_cw_map(&w, 1);
    thr_cw_text(&w, "err");
    thr_cw_text(&w, "bad request");
  }
  if (w.rc == SQLITE_OK) {
    pReply = thr_wire_seal(t, w.a, w.n);
  }
  sqlite3_free(w.a);
  thr_cbor_free(pIn);
  return pReply ? pReply : thr_wire_plain("error");
}

int thr_server_listen(thr_node *p, const char *zUrl, char **pzErr) {
  int rv, i;
  char **azNew;
  for (i = 0; i < p->nListen; i++) {
    if (strcmp(p->azListen[i], zUrl) == 0) {
      return SQLITE_OK;
    }
  }
  if (strncmp(zUrl, "ipc://", 6) == 0) {
    /* nng's ipc listener removes what is at its path: a stale one when the
    ** bind fails (it connects to it, is refused, unlinks it), its own when
    ** it closes.  Only a socket may be there. */
    struct stat st;
    if (lstat(zUrl + 6, &st) == 0 && !S_ISSOCK(st.st_mode)) {
      *pzErr = sqlite3_mprintf("%s exists and is not a socket", zUrl + 6);
      return SQLITE_ERROR;
    }
  }
  if (!p->bRep) {
    if ((rv = nng_rep0_open(&p->rep)) != 0) {
      *pzErr = sqlite3_mprintf("cannot open a socket: %s", nng_strerror(rv));
      return SQLITE_ERROR;
    }
    thr_sock_track(p->rep);
    thr_sock_limit(p->rep, NODE_MAXCONN);
    nng_socket_set_size(p->rep, NNG_OPT_RECVMAXSZ, 2 * NODE_MAXMSG);
    p->bRep = 1;
    for (i = 0; i < NODE_NSRV; i++) {
      node_srv *s = &p->aSrv[i];
      s->pNode = p;
      if (nng_ctx_open(&s->ctx, p->rep) != 0 ||
          nng_aio_alloc(&s->aio, node_srv_cb, s) != 0) {
        *pzErr = sqlite3_mprintf("out of memory");
        return SQLITE_NOMEM;
      }
      srv_recv(s);
    }
  }
  if ((rv = nng_listen(p->rep, zUrl, NULL, 0)) != 0) {
    *pzErr = sqlite3_mprintf("cannot listen on %s: %s", zUrl, nng_strerror(rv));
    return SQLITE_ERROR;
  }
  azNew = sqlite3_realloc64(p->azListen,
                            (sqlite3_uint64)(p->nListen + 1) * sizeof(char *));
  if (azNew == NULL) {
    return SQLITE_NOMEM;
  }
  p->azListen = azNew;
  p->azListen[p->nListen] = thr_node_strdup(zUrl);
  if (p->azListen[p->nListen] == NULL) {
    return SQLITE_NOMEM;
  }
  p->nListen++;
  return SQLITE_OK;
}
