/*
** wire.c: the node's wire protocol: the threads' wire keys and tags, the
** framing and the boxes (seal, open), the digest of heads, and the
** encodings both sides of a request share (request fields, pages of
** records, large records' descriptions and pieces).  What peers must agree
** on is written once, below; client.c, server.c and forks.c build and read
** messages through the calls here.
**
** Limits here: NODE_BIG (larger records go in pieces), NODE_PIECE (bytes
** per piece), NODE_PAGE_BYTES (bytes per page).  Shared (thr_net.h):
** NODE_MAXMSG (bytes per message), NODE_PAGE_RECS (records per page),
** NODE_CIDS (CIDs per "cids" reply).
**
** THE PROTOCOL
**
** Transport: nng req/rep.  A node listens with one rep socket on every
** address given to threads_listen(); it dials one req socket per peer
** address when a round needs it (nng redials a lost connection by itself,
** with backoff; peers.c bounds the dialing, backs off from addresses that
** do not answer and forgets learned ones that never did), and runs each
** request in its own context, so requests to one peer overlap.  Messages
** are at most NODE_MAXMSG bytes on both sides.
**
** Framing: every message about a thread is the CBOR array
**
**     [1, tag, nonce, box]
**
** where, for the thread's service key S,
**
**     W   = BLAKE2b-256(key = S, "sqlite-threads/wire/v1")   the wire key
**     tag = BLAKE2b-128(key = W, "tag")                      names the thread
**     box = XChaCha20-Poly1305(W, nonce, inner, ad = tag)    random nonce
**
** A node finds the thread by its tag and opens the box with W; only a
** holder of S can make a box that opens, so the box is the proof of the
** service key, and the key itself never travels.  A request that names no
** thread here or does not open gets [1, "unauthorized"] and nothing else:
** not even whether the thread exists.  Replies are boxed the same way.
**
** Inner messages are CBOR maps.  Requests carry "op" and "addrs" (the
** sender's listen addresses, for discovery; the first 16 are read, and
** peers.c keeps at most 64 learned addresses per thread, 8 not yet
** answered per announcer: its "self", else its connection):
**
**   heads  {"op":"heads", "digest": bytes, "self": log pk}
**          -> {"same": 1} when the digest (BLAKE2b of the sorted heads:
**             log pk, count as 8 bytes big endian, and the head CID when
**             count > 0) matches ours, so idle peers exchange a few dozen
**             bytes;
**          -> {"heads": [[log pk, count, head CID], ...], "addrs": [text,
**             ...], "self": log pk} otherwise, with the addresses of the
**             thread that have answered us (the latest 48) and our own
**             listen addresses, never one that did not answer: an address
**             nobody reaches is not passed on; the head CID (36 bytes) is
**             absent when count is 0 (and from older peers).  "self", the
**             log the sender writes, is left out by peers that write none
**             (followers); threads_peers shows it.
**   pull   {"op":"pull", "log": pk, "after": n, "max": n}
**          -> {"recs": [[counter, record, event, header, body], ...]}
**             the log's records after counter n, in order, at most "max"
**             of them and NODE_PAGE_BYTES in all (past the first);
**          -> {"big": [counter, [record, event, header, body sizes]]}
**             when the next record is over NODE_BIG bytes: it crosses in
**             pieces, its four blocks laid end to end:
**   part   {"op":"part", "log": pk, "ctr": counter, "off": offset}
**          -> {"data": bytes} at most NODE_PIECE bytes from the offset.
**   push   {"op":"push", "log": pk, "recs": [...]}
**          -> {"added": n}, and the sender goes on after what it sent;
**          -> {"need": count} when the records start past the end of what
**             we hold (the sender continues from there);
**          -> {"fork": counter} when a record is a valid record of the log
**             that is not in our chain: the log forked at or below that
**             counter (nothing stored; the sender looks for the fork).
**          A large record is pushed in pieces, {"op":"push", "log": pk,
**          "big": [counter, [sizes]], "off": offset, "data": bytes}
**          -> {"off": n}, the next offset wanted, until {"added": 1}.
**
**   cids   {"op":"cids", "log": pk, "to": counter}
**          -> {"cids": [CID, ...], "from": counter} the CIDs of the log's
**             records from "from" to "to" (or to our last), at most
**             NODE_CIDS of them: how a node finds where a log forked.
**
** Forks (core/fork.c has the rule): a log forked when a peer shows another
** record than ours at a counter both hold: a head CID in its heads that is
** not ours at that counter, a pulled record that does not link to ours
** and is not one of ours, or a push answered "fork".  The node then asks
** that peer for the log's CIDs ("cids", NODE_CIDS at a time, going back
** until one matches ours) to find the first counter f where they differ,
** and pulls the peer's record f (with the page after it when the rule
** says the peer's branch wins): checked as every pulled record, it must
** follow our record f - 1.  thr_fork_resolve() then keeps our branch or
** adopts the peer's.  Either way the fork is counted once ("fork" in
** threads_rejects) and noted in the peer's last_error as "fork: log <log
** ID> counter <f>: ..."; the peer is not hung up on (it is honest), and
** the other logs sync on meanwhile.  A log being searched is walked by no
** other pull.  When our branch wins, we push it to the peer from f on (and
** again every NODE_REPUSH_MS while the peer still shows its own): a pushed
** page that meets another branch at its first records is judged by the
** same rule, and adopted ({"added": n}) when the pusher's branch wins, so a
** peer that never listens still hands its winning branch over.
**
** Bounds: a "cids" reply is NODE_CIDS CIDs (19 KB); a search walks back
** at most one request per NODE_CIDS records of the log and ends in a pull
** of one record, which a peer that lied cannot sign (it is refused and the
** peer dropped); a fork is counted once per (log, counter, both records)
** among the last NODE_SEEN.
**
** Pieces are put together by net/part.c (in order, written to a temporary
** file as they arrive, THR_PART_MAXREC per record, THR_PART_MAX records
** and THR_PART_SPILL bytes at once, one record per source, a stalled one
** evicted after THR_PART_YIELD_MS and dropped after THR_PART_IDLE_MS: the
** rule is in thr_part.h) and checked as one record once whole; a push
** that finds no room is answered {"err": "busy"} and sent again later.
** A message over NODE_MAXMSG (the transport drops what is over twice
** that) is counted as "oversized" against the thread its frame names, and
** its connection closed.
**
** A sync round with a peer: heads; then pull every log the peer holds more
** of and push every log it holds less of, page by page, until even.
** Rounds run on every commit (threads_commit pokes the node), every
** NODE_TICK_MS, and on threads_sync().  A pull asks for the next page as
** soon as a page arrives (at most NODE_AHEAD pages wait to be stored);
** pages are checked on libuv's thread pool (thr_sync_check) and stored in
** the order they arrived by thr_sync_put(), one SQLite transaction per
** page; a record that fails a check is refused, the rest of its page is
** dropped, the reason is counted (threads_rejects), and the sender's
** connection is closed: a peer we pull from is dropped (and dialed again on
** a later round), the pipe of a peer that pushed to us is closed.
*/

#include "thr_net.h"

#include <sodium.h>
#include <string.h>

#define NODE_BIG (1024 * 1024)   /* larger records go in pieces */
#define NODE_PIECE (1024 * 1024) /* bytes per piece */
#define NODE_PAGE_BYTES (512 * 1024)

/**************************************************************************
** The threads known here, with their wire keys and tags.
*/

/* The thread with this tag or ID, after (re)loading the list if needed. */
int thr_wire_threads_load(thr_node *p) {
  sqlite3_stmt *pStmt = NULL;
  node_thr *a = NULL;
  int n = 0, rc;
  rc = sqlite3_prepare_v2(p->db,
                          "SELECT tid, id, service, read, (SELECT pk FROM"
                          " _threads_log l WHERE l.tid = t.tid AND l.own"
                          " ORDER BY l.lid DESC LIMIT 1)"
                          " FROM _threads_thread t",
                          -1, &pStmt, NULL);
  while (rc == SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW) {
    node_thr *t;
    char *zErr = NULL;
    node_thr *aNew = sqlite3_realloc64(a, (sqlite3_uint64)(n + 1) * sizeof(*a));
    if (aNew == NULL) {
      rc = SQLITE_NOMEM;
      break;
    }
    a = aNew;
    t = &a[n];
    memset(t, 0, sizeof(*t));
    if (sqlite3_column_bytes(pStmt, 2) != 32 ||
        thr_tid_from_bytes(&t->tid, sqlite3_column_blob(pStmt, 1),
                           (size_t)sqlite3_column_bytes(pStmt, 1),
                           &zErr) != SQLITE_OK) {
      sqlite3_free(zErr);
      continue;
    }
    t->iThread = sqlite3_column_int64(pStmt, 0);
    memcpy(t->key.service, sqlite3_column_blob(pStmt, 2), 32);
    if (sqlite3_column_bytes(pStmt, 3) == 32) {
      memcpy(t->key.read, sqlite3_column_blob(pStmt, 3), 32);
      t->key.hasRead = 1;
    }
    if (sqlite3_column_bytes(pStmt, 4) == 32) {
      memcpy(t->self, sqlite3_column_blob(pStmt, 4), 32);
      t->hasSelf = 1;
    }
    crypto_generichash(t->wire, 32,
                       (const unsigned char *)"sqlite-threads/wire/v1", 22,
                       t->key.service, 32);
    crypto_generichash(t->tag, 16, (const unsigned char *)"tag", 3, t->wire,
                       32);
    n++;
  }
  sqlite3_finalize(pStmt);
  if (rc != SQLITE_OK) {
    sqlite3_free(a);
    return rc;
  }
  if (p->aThr) {
    sodium_memzero(p->aThr, (size_t)p->nThr * sizeof(*p->aThr));
    sqlite3_free(p->aThr);
  }
  p->aThr = a;
  p->nThr = n;
  return SQLITE_OK;
}

node_thr *thr_wire_thread_by_tag(thr_node *p, const unsigned char *tag) {
  int i, k;
  for (k = 0; k < 2; k++) {
    for (i = 0; i < p->nThr; i++) {
      if (sodium_memcmp(p->aThr[i].tag, tag, 16) == 0) {
        return &p->aThr[i];
      }
    }
    if (k == 0 && thr_wire_threads_load(p) != SQLITE_OK) {
      break;
    }
  }
  return NULL;
}

node_thr *thr_wire_thread_by_id(thr_node *p, const thr_tid *pTid) {
  int i, k;
  for (k = 0; k < 2; k++) {
    for (i = 0; i < p->nThr; i++) {
      if (p->aThr[i].tid.n == pTid->n &&
          memcmp(p->aThr[i].tid.a, pTid->a, (size_t)pTid->n) == 0) {
        return &p->aThr[i];
      }
    }
    if (k == 0 && thr_wire_threads_load(p) != SQLITE_OK) {
      break;
    }
  }
  return NULL;
}

/**************************************************************************
** Framing and the boxes.
*/

/* Box inner (a, n) for thread t into a new nng message. */
nng_msg *thr_wire_seal(const node_thr *t, const unsigned char *a, size_t n) {
  unsigned char aHead[80], nonce[24];
  thr_cw w = {aHead, 0, sizeof(aHead), SQLITE_OK, 0};
  size_t nBox = n + crypto_aead_xchacha20poly1305_ietf_ABYTES;
  nng_msg *pMsg = NULL;
  unsigned long long nOut = 0;
  randombytes_buf(nonce, sizeof(nonce));
  thr_cw_array(&w, 4);
  thr_cw_uint(&w, 1);
  thr_cw_bytes(&w, t->tag, 16);
  thr_cw_bytes(&w, nonce, 24);
  thr_cw_bytes_head(&w, nBox); /* the box is encrypted in place below */
  if (w.rc != SQLITE_OK || nng_msg_alloc(&pMsg, w.n + nBox) != 0) {
    return NULL;
  }
  memcpy(nng_msg_body(pMsg), aHead, w.n);
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      (unsigned char *)nng_msg_body(pMsg) + w.n, &nOut, a, n, t->tag, 16, NULL,
      nonce, t->wire);
  return pMsg;
}

nng_msg *thr_wire_plain(const char *zWhat) {
  unsigned char a[64];
  thr_cw w = {a, 0, sizeof(a), SQLITE_OK, 0};
  nng_msg *pMsg = NULL;
  thr_cw_array(&w, 2);
  thr_cw_uint(&w, 1);
  thr_cw_text(&w, zWhat);
  if (w.rc == SQLITE_OK && nng_msg_alloc(&pMsg, 0) == 0 &&
      nng_msg_append(pMsg, a, w.n) != 0) {
    nng_msg_free(pMsg);
    pMsg = NULL;
  }
  return pMsg;
}

/* Open a framed message: the thread (found by tag, or must be pExpect)
** and the inner map, decoded (owned).  NULL if it does not open. */
thr_cbor *thr_wire_open(thr_node *p, nng_msg *pMsg, node_thr *pExpect,
                        node_thr **ppThr) {
  char *zErr = NULL;
  thr_cbor *pTop =
      thr_cbor_decode(nng_msg_body(pMsg), nng_msg_len(pMsg), &zErr);
  thr_cbor *pInner = NULL;
  const unsigned char *tag, *nonce, *box;
  size_t nTag = 0, nNonce = 0, nBox = 0;
  uint64_t v = 0;
  node_thr *t;
  sqlite3_free(zErr);
  zErr = NULL;
  if (pTop == NULL || thr_cbor_array_size(pTop) != 4 ||
      !thr_cbor_as_uint(thr_cbor_array_at(pTop, 0), &v) || v != 1) {
    thr_cbor_free(pTop);
    return NULL;
  }
  tag = thr_cbor_as_bytes(thr_cbor_array_at(pTop, 1), &nTag);
  nonce = thr_cbor_as_bytes(thr_cbor_array_at(pTop, 2), &nNonce);
  box = thr_cbor_as_bytes(thr_cbor_array_at(pTop, 3), &nBox);
  if (tag == NULL || nTag != 16 || nonce == NULL || nNonce != 24 ||
      box == NULL || nBox < crypto_aead_xchacha20poly1305_ietf_ABYTES) {
    thr_cbor_free(pTop);
    return NULL;
  }
  t = pExpect ? pExpect : thr_wire_thread_by_tag(p, tag);
  if (t && sodium_memcmp(t->tag, tag, 16) == 0) {
    size_t nPlain = nBox - crypto_aead_xchacha20poly1305_ietf_ABYTES;
    unsigned char *aPlain = sqlite3_malloc64(nPlain ? nPlain : 1);
    unsigned long long nOut = 0;
    if (aPlain &&
        crypto_aead_xchacha20poly1305_ietf_decrypt(
            aPlain, &nOut, NULL, box, nBox, tag, 16, nonce, t->wire) == 0) {
      pInner = thr_cbor_decode(aPlain, (size_t)nOut, &zErr);
      sqlite3_free(zErr);
      if (pInner && thr_cbor_map_size(pInner) == 0) {
        thr_cbor_free(pInner);
        pInner = NULL;
      }
    }
    sqlite3_free(aPlain);
  }
  thr_cbor_free(pTop);
  *ppThr = pInner ? t : NULL;
  return pInner;
}

/**************************************************************************
** Heads and their digest.
*/

/* The digest of a thread's heads (what "heads" compares). */
int thr_wire_heads(thr_node *p, node_thr *t, thr_head **paHead, int *pnHead,
                   unsigned char digest[32]) {
  char *zErr = NULL;
  int rc = thr_sync_heads(p->pSync, t->iThread, paHead, pnHead, &zErr);
  sqlite3_free(zErr);
  if (rc == SQLITE_OK && digest) {
    crypto_generichash_state st;
    int i;
    crypto_generichash_init(&st, NULL, 0, 32);
    for (i = 0; i < *pnHead; i++) {
      unsigned char c[8];
      int k;
      for (k = 0; k < 8; k++) {
        c[k] = (unsigned char)((uint64_t)(*paHead)[i].counter >> (56 - 8 * k));
      }
      crypto_generichash_update(&st, (*paHead)[i].pk, 32);
      crypto_generichash_update(&st, c, 8);
      if ((*paHead)[i].hasHead) { /* two branches of a log differ here */
        crypto_generichash_update(&st, (*paHead)[i].head.a, THR_CID_BYTES);
      }
    }
    crypto_generichash_final(&st, digest, 32);
  }
  return rc;
}

/* How many records of log pk a heads list says are held (0: none). */
sqlite3_int64 thr_wire_heads_count(const thr_head *a, int n,
                                   const unsigned char *pk) {
  int i;
  for (i = 0; i < n; i++) {
    if (memcmp(a[i].pk, pk, 32) == 0) {
      return a[i].counter;
    }
  }
  return 0;
}

/* How many records of log pk this peer holds now; -1 if unreadable. */
sqlite3_int64 thr_wire_have(thr_node *p, node_thr *t,
                            const unsigned char pk[32]) {
  thr_head *aHead = NULL;
  int nHead = 0;
  sqlite3_int64 n = -1;
  if (thr_wire_heads(p, t, &aHead, &nHead, NULL) == SQLITE_OK) {
    n = thr_wire_heads_count(aHead, nHead, pk);
    sqlite3_free(aHead);
  }
  return n;
}

/**************************************************************************
** Request fields.
*/

/* Request fields, each written where dag-cbor's key order puts it (by
** length, then bytes): a request is checked as strict dag-cbor. */
void thr_wire_req_op(thr_cw *w, const char *zOp, size_t nPair) {
  thr_cw_map(w, nPair);
  thr_cw_text(w, "op");
  thr_cw_text(w, zOp);
}

void thr_wire_req_addrs(thr_node *p, thr_cw *w) {
  int i;
  thr_cw_text(w, "addrs");
  thr_cw_array(w, (size_t)p->nListen);
  for (i = 0; i < p->nListen; i++) {
    thr_cw_text(w, p->azListen[i]);
  }
}

/**************************************************************************
** Pages of records, and large records in pieces.
*/

static int page_rec(void *pArg, const thr_wire_rec *pRec) {
  page_ctx *c = pArg;
  size_t nRec = pRec->n[0] + pRec->n[1] + pRec->n[2] + pRec->n[3];
  int i;
  if (nRec > NODE_BIG) {
    if (c->n == 0) {
      c->bBig = 1;
      c->iBig = pRec->counter;
      memcpy(c->anBig, pRec->n, sizeof(c->anBig));
    }
    return SQLITE_DONE; /* the page ends before it */
  }
  thr_cw_array(&c->w, 5);
  thr_cw_uint(&c->w, (uint64_t)pRec->counter);
  for (i = 0; i < 4; i++) {
    thr_cw_bytes(&c->w, pRec->a[i], pRec->n[i]);
  }
  c->n++;
  c->iLast = pRec->counter;
  return c->w.rc;
}

/* Read a page of log pk after nAfter into c (c->w.a owned by the caller). */
int thr_wire_read_page(thr_node *p, node_thr *t, const unsigned char pk[32],
                       sqlite3_int64 nAfter, int nMax, page_ctx *c) {
  char *zErr = NULL;
  int rc;
  memset(c, 0, sizeof(*c));
  c->w.rc = SQLITE_OK;
  c->w.bGrow = 1;
  rc = thr_sync_read(p->pSync, t->iThread, pk, nAfter,
                     nMax < NODE_PAGE_RECS ? nMax : NODE_PAGE_RECS,
                     NODE_PAGE_BYTES, page_rec, c, &zErr);
  sqlite3_free(zErr);
  return rc == SQLITE_OK ? c->w.rc : rc;
}

/* Key "recs" and the page's records. */
void thr_wire_write_recs(thr_cw *w, const page_ctx *c) {
  thr_cw_text(w, "recs");
  thr_cw_array(w, (size_t)c->n);
  thr_cw_raw(w, c->w.a, c->w.n);
}

/* Key "big" and a large record's description: [counter, [sizes]]. */
void thr_wire_write_big(thr_cw *w, sqlite3_int64 iCtr, const size_t an[4]) {
  int i;
  thr_cw_text(w, "big");
  thr_cw_array(w, 2);
  thr_cw_uint(w, (uint64_t)iCtr);
  thr_cw_array(w, 4);
  for (i = 0; i < 4; i++) {
    thr_cw_uint(w, (uint64_t)an[i]);
  }
}

/* Parse a "big" description; 0 if malformed. */
int thr_wire_parse_big(thr_cbor *pBig, sqlite3_int64 *piCtr, size_t an[4]) {
  thr_cbor *pSizes = thr_cbor_array_at(pBig, 1);
  uint64_t v = 0;
  int i;
  if (thr_cbor_array_size(pBig) != 2 ||
      !thr_cbor_as_uint(thr_cbor_array_at(pBig, 0), &v) || v < 1 ||
      v > (1ULL << 62) || thr_cbor_array_size(pSizes) != 4) {
    return 0;
  }
  *piCtr = (sqlite3_int64)v;
  for (i = 0; i < 4; i++) {
    if (!thr_cbor_as_uint(thr_cbor_array_at(pSizes, (size_t)i), &v) ||
        v > THR_PART_MAXREC) {
      return 0;
    }
    an[i] = (size_t)v;
  }
  return 1;
}

/* Read the piece of record iCtr at iOff into a new buffer (*pa owned);
** *pn is 0 when there is nothing there. */
int thr_wire_read_piece(thr_node *p, node_thr *t, const unsigned char pk[32],
                        sqlite3_int64 iCtr, size_t iOff, size_t an[4],
                        unsigned char **pa, size_t *pn) {
  char *zErr = NULL;
  int rc;
  *pn = 0;
  *pa = sqlite3_malloc64(NODE_PIECE);
  if (*pa == NULL) {
    return SQLITE_NOMEM;
  }
  rc = thr_sync_part(p->pSync, t->iThread, pk, iCtr, an, iOff, *pa, NODE_PIECE,
                     pn, &zErr);
  sqlite3_free(zErr);
  return rc;
}

/* The records of a page as it arrived ([[counter, record, event, header,
** body], ...]): *paRec (owned; its blocks borrowed from pRecs) gets the
** well-formed ones up to the first that is not.  Returns 0 when one was
** not, or out of memory (*paRec NULL). */
int thr_wire_recs_parse(thr_cbor *pRecs, thr_wire_rec **paRec, size_t *pn) {
  size_t i, k, n = thr_cbor_array_size(pRecs);
  thr_wire_rec *a = sqlite3_malloc64((n ? n : 1) * sizeof(*a));
  *paRec = a;
  *pn = 0;
  if (a == NULL) {
    return 0;
  }
  for (i = 0; i < n; i++) {
    thr_cbor *pR = thr_cbor_array_at(pRecs, i);
    uint64_t c = 0;
    if (thr_cbor_array_size(pR) != 5 ||
        !thr_cbor_as_uint(thr_cbor_array_at(pR, 0), &c) || c > (1ULL << 62)) {
      return 0;
    }
    memset(&a[i], 0, sizeof(a[i]));
    a[i].counter = (sqlite3_int64)c;
    for (k = 0; k < 4; k++) {
      a[i].a[k] = thr_cbor_as_bytes(thr_cbor_array_at(pR, k + 1), &a[i].n[k]);
    }
    *pn = i + 1;
  }
  return 1;
}
