/*
** node.c: the background node: one thread per (database file, process)
** running a libuv loop, with nng sockets and its own SQLite connection.
** This file has the node's lifecycle: the registry of nodes, the thread and
** its start and stop, the loop (wake-ups, the tick, commands from user
** threads), and the calls from user threads (the first section of
** thr_net.h).
**
** THE PROTOCOL is specified at the top of wire.c.  The node's other parts,
** each with its own limits (thr_net.h has the structs they share):
**
**   wire.c     the protocol: framing, boxes, wire keys, message encodings
**   peers.c    peers and their addresses, dialing, their counters
**   sock.c     closing a socket (the nng 1.5.2 hang and its workaround)
**   ingest.c   records from peers stored in the file
**   client.c   requests to peers: rounds, heads, pulls, pushes, pages
**   forks.c    the node's side of forks (core/fork.c has the rule)
**   server.c   the listener: serving peers' requests
**
** Limits here: NODE_TICK_MS (a round with every peer), NODE_CLOSE_MS (the
** node's sockets are closed by then when it stops); the tick starts no
** round while 64 requests are in flight.
*/

#include "thr_net.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#define NODE_TICK_MS 1000
/* The node's sockets are closed by then, or left to their threads (nng
** 1.5.2 can still hang in nng_close: sock.c).  The whole stop is this and a
** few milliseconds: the loop answers, stores and starts nothing once told
** to stop, every aio of ours is stopped (no callback waits on a peer), and
** no other step waits on a peer. */
#define NODE_CLOSE_MS 1000

enum { CMD_LISTEN = 1, CMD_ADD_PEER, CMD_SYNC, CMD_POKE, CMD_ADDRS, CMD_JOIN };

static pthread_mutex_t gRegistry = PTHREAD_MUTEX_INITIALIZER;
static thr_node *gNodes;
static pthread_once_t gPinOnce = PTHREAD_ONCE_INIT;

/* Keep this code (and libnng with it) mapped until the process exits.
** SQLite unloads an extension when the connection that loaded it closes,
** but nng's own worker threads outlive our sockets: unmapping their code
** under them crashes the process at exit. */
static void node_pin(void) {
  Dl_info info;
  if (dladdr((void *)node_pin, &info) != 0 && info.dli_fname != NULL) {
    /* The handle is kept on purpose: with RTLD_NODELETE it is never
    ** unloaded, whatever dlclose() calls follow. */
    (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  }
}

/**************************************************************************
** Small helpers.
*/

char *thr_node_strdup(const char *z) {
  return z ? sqlite3_mprintf("%s", z) : NULL;
}

/* *pUntil = now + ms on CLOCK_REALTIME, for pthread_cond_timedwait(). */
static void node_deadline(struct timespec *pUntil, int ms) {
  clock_gettime(CLOCK_REALTIME, pUntil);
  pUntil->tv_sec += ms / 1000;
  pUntil->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (pUntil->tv_nsec >= 1000000000L) {
    pUntil->tv_sec++;
    pUntil->tv_nsec -= 1000000000L;
  }
}

/* Records a sync command received: the caller of thr_node_sync() reads
** the count under p->mu, even after it stopped waiting (a timeout). */
void thr_node_cmd_add_recv(thr_node *p, node_cmd *c, sqlite3_int64 n) {
  pthread_mutex_lock(&p->mu);
  c->nRecv += n;
  pthread_mutex_unlock(&p->mu);
}

/**************************************************************************
** The loop.
*/

static void node_cmd_free(node_cmd *c) {
  sqlite3_free(c->zErr);
  sqlite3_free(c->azAddr);
  sqlite3_free(c->zArg);
  sqlite3_free(c);
}

/* The loop is done with c: wake its caller; free it if nobody waits (a
** poke, or a sync whose caller gave up). */
void thr_node_cmd_finish(thr_node *p, node_cmd *c) {
  node_cmd **pp;
  int bFree;
  for (pp = &p->pSyncs; *pp; pp = &(*pp)->pNext) {
    if (*pp == c) {
      *pp = c->pNext;
      break;
    }
  }
  pthread_mutex_lock(&p->mu);
  c->bDone = 1;
  bFree = --c->nRef == 0;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  if (bFree) {
    node_cmd_free(c);
  }
}

/* The thread a command names, or NULL with the command failed. */
static node_thr *node_cmd_thr(thr_node *p, node_cmd *c, char **pzErr) {
  node_thr *t = thr_wire_thread_by_id(p, &c->tid);
  if (t == NULL) {
    *pzErr = sqlite3_mprintf("no such thread");
    c->rc = SQLITE_ERROR;
  }
  return t;
}

static void node_run_cmd(thr_node *p, node_cmd *c) {
  char *zErr = NULL;
  c->rc = SQLITE_OK;
  switch (c->eCmd) {
  case CMD_LISTEN: {
    sqlite3_stmt *pStmt = NULL;
    if (c->zArg) {
      c->rc = thr_server_listen(p, c->zArg, &zErr);
      if (c->rc == SQLITE_OK &&
          sqlite3_prepare_v2(p->db,
                             "INSERT OR REPLACE INTO _threads_meta(key, value)"
                             " VALUES ('listen', ?1)",
                             -1, &pStmt, NULL) == SQLITE_OK) {
        sqlite3_bind_text(pStmt, 1, c->zArg, -1, SQLITE_STATIC);
        sqlite3_step(pStmt);
      }
    } else if (sqlite3_prepare_v2(p->db,
                                  "SELECT value FROM _threads_meta"
                                  " WHERE key = 'listen'",
                                  -1, &pStmt, NULL) == SQLITE_OK &&
               sqlite3_step(pStmt) == SQLITE_ROW) {
      char *zUrl = thr_node_strdup((const char *)sqlite3_column_text(pStmt, 0));
      sqlite3_finalize(pStmt);
      pStmt = NULL;
      c->rc = zUrl ? thr_server_listen(p, zUrl, &zErr) : SQLITE_NOMEM;
      sqlite3_free(c->zArg);
      c->zArg = zUrl;
    } else {
      zErr = sqlite3_mprintf("no listen address is stored in this file:"
                             " give one, e.g. threads_listen('tcp://"
                             "127.0.0.1:4006')");
      c->rc = SQLITE_ERROR;
    }
    sqlite3_finalize(pStmt);
    break;
  }
  case CMD_ADD_PEER: {
    node_thr *t = node_cmd_thr(p, c, &zErr);
    if (t) {
      thr_peers_give(p, t->iThread, c->zArg);
    }
    break;
  }
  case CMD_SYNC: {
    node_thr *t = node_cmd_thr(p, c, &zErr);
    if (t == NULL) {
      break;
    }
    c->nPending = 0;
    c->pNext = p->pSyncs;
    p->pSyncs = c;
    thr_client_round(p, t, c);
    if (c->nPending == 0) {
      thr_node_cmd_finish(p, c);
    }
    return; /* finished when its requests are */
  }
  case CMD_JOIN:
    c->rc = thr_sync_join(p->pSync, &c->tid, c->pKey, c->bOwnLog, &zErr);
    thr_wire_threads_load(p);
    break;
  case CMD_POKE:
    thr_wire_threads_load(p);
    thr_client_round(p, NULL, NULL);
    break;
  case CMD_ADDRS: {
    int i;
    size_t nByte = 0;
    char *z;
    for (i = 0; i < p->nListen; i++) {
      nByte += sizeof(char *) + strlen(p->azListen[i]) + 1;
    }
    c->azAddr = sqlite3_malloc64(nByte + 1);
    if (c->azAddr) {
      z = (char *)&c->azAddr[p->nListen];
      for (i = 0; i < p->nListen; i++) {
        size_t n = strlen(p->azListen[i]) + 1;
        memcpy(z, p->azListen[i], n);
        c->azAddr[i] = z;
        z += n;
      }
      c->nAddr = p->nListen;
    }
    break;
  }
  }
  c->zErr = zErr;
  thr_node_cmd_finish(p, c);
}

static void node_wake_cb(uv_async_t *h) {
  thr_node *p = h->data;
  node_cmd *pCmds, *c;
  node_req *pDone, *r;
  node_srv *pSrv, *s;
  int bStop;
  pthread_mutex_lock(&p->mu);
  pCmds = p->pCmds;
  p->pCmds = NULL;
  pDone = p->pDone;
  p->pDone = NULL;
  pSrv = p->pSrvQ;
  p->pSrvQ = NULL;
  p->pSrvQTail = NULL;
  bStop = p->bStop;
  pthread_mutex_unlock(&p->mu);
  if (bStop) {
    /* Stopping: nothing more is answered, stored or started, so that the
    ** stop does not wait on work peers asked for.  The requests and
    ** replies the queues held are freed by node_main (thr_server_stop and
    ** the requests still live); nobody waits for a command any more. */
    p->bStopping = 1; /* pages still being checked are dropped */
    while ((c = pCmds) != NULL) {
      pCmds = c->pNext;
      c->pNext = NULL;
      thr_node_cmd_finish(p, c);
    }
    uv_timer_stop(&p->tick);
    uv_close((uv_handle_t *)&p->tick, NULL);
    uv_close((uv_handle_t *)&p->wake, NULL);
    return;
  }
  while ((r = pDone) != NULL) {
    pDone = r->pNext;
    thr_client_req_done(p, r);
  }
  while ((s = pSrv) != NULL) {
    pSrv = s->pNext;
    s->pNext = NULL;
    thr_server_run(p, s);
  }
  /* Commands in arrival order (the queue is pushed at its head). */
  {
    node_cmd *pRev = NULL;
    while ((c = pCmds) != NULL) {
      pCmds = c->pNext;
      c->pNext = pRev;
      pRev = c;
    }
    while ((c = pRev) != NULL) {
      pRev = c->pNext;
      c->pNext = NULL;
      node_run_cmd(p, c);
    }
  }
}

static void node_tick_cb(uv_timer_t *h) {
  thr_node *p = h->data;
  /* Large records whose pieces stopped coming go, files and all. */
  thr_part_sweep(&p->parts, thr_now_ms());
  if (p->nInFlight < 64) {
    thr_wire_threads_load(p);
    thr_client_round(p, NULL, NULL);
  }
}

static void node_main(void *pArg) {
  thr_node *p = pArg;
  node_peer *pPeer;
  char *zErr = NULL;
  int rc, i;
  rc = sqlite3_open_v2(p->zPath, &p->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(p->db, 10000);
    rc = p->xRegister ? p->xRegister(p->db) : SQLITE_OK;
  }
  if (rc == SQLITE_OK) {
    rc = thr_store_open(p->db, &p->pStore, &zErr);
  }
  if (rc == SQLITE_OK) {
    rc = thr_sync_open(p->pStore, &p->pSync, &zErr);
  }
  if (rc == SQLITE_OK) {
    rc = thr_wire_threads_load(p);
  }
  if (rc == SQLITE_OK) {
    uv_loop_init(&p->loop);
    uv_async_init(&p->loop, &p->wake, node_wake_cb);
    p->wake.data = p;
    uv_timer_init(&p->loop, &p->tick);
    p->tick.data = p;
    uv_timer_start(&p->tick, node_tick_cb, NODE_TICK_MS, NODE_TICK_MS);
  }
  pthread_mutex_lock(&p->mu);
  p->bStarted = 1;
  p->rcStart = rc;
  if (rc != SQLITE_OK) {
    p->zStartErr = sqlite3_mprintf(
        "cannot start the node: %s",
        zErr ? zErr : (p->db ? sqlite3_errmsg(p->db) : sqlite3_errstr(rc)));
  }
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  sqlite3_free(zErr);
  if (rc == SQLITE_OK) {
    uv_run(&p->loop, UV_RUN_DEFAULT);
  }

  /* Stop, in the order nng documents: our aios first, then contexts and
  ** sockets, then the aios are freed.  nng_aio_stop() waits for a callback
  ** under way, and a callback's nng_ctx_recv() on a stopped aio is refused,
  ** so after it no callback of ours runs or starts anything. */
  thr_server_stop(p); /* the contexts' aios, and what they hold */
  {
    node_req *r;
    for (r = p->pLive; r; r = r->pNextLive) {
      nng_aio_stop(r->aio);
    }
    /* Every request is over: the queue the loop did not get to goes, and
    ** the requests with it (a reply still in its aio is freed). */
    pthread_mutex_lock(&p->mu);
    p->pDone = NULL;
    pthread_mutex_unlock(&p->mu);
    while ((r = p->pLive) != NULL) {
      thr_client_req_free(p, r,
                          r->bSent && nng_aio_result(r->aio) == 0
                              ? nng_aio_get_msg(r->aio)
                              : NULL);
    }
  }
  /* Then the sockets, all at once, each on a thread of its own, within
  ** NODE_CLOSE_MS (see "Closing a socket" in sock.c); dropped peers'
  ** sockets are being closed already. */
  {
    node_closer *aCloser[64];
    int nCloser = 0;
    struct timespec until;
    node_deadline(&until, NODE_CLOSE_MS);
    if (p->bRep) {
      for (i = 0; i < NODE_NSRV; i++) {
        nng_ctx_close(p->aSrv[i].ctx); /* never opened: an error, no harm */
      }
      aCloser[nCloser++] = thr_sock_close(p->rep, 1);
    }
    for (pPeer = p->pPeers; pPeer; pPeer = pPeer->pNext) {
      if (nCloser == 64) { /* a full batch: wait for it */
        for (i = 0; i < nCloser; i++) {
          thr_sock_closer_wait(aCloser[i], &until);
        }
        nCloser = 0;
      }
      aCloser[nCloser++] = thr_sock_close(pPeer->sock, 1);
      pPeer->bOpen = 0;
    }
    for (i = 0; i < nCloser; i++) {
      thr_sock_closer_wait(aCloser[i], &until); /* else left to its thread */
    }
    if (p->bRep) {
      for (i = 0; i < NODE_NSRV; i++) {
        nng_aio_free(p->aSrv[i].aio);
      }
    }
  }
  while (p->pSyncs) {
    thr_node_cmd_finish(p, p->pSyncs);
  }
  while ((pPeer = p->pPeers) != NULL || (pPeer = p->pDead) != NULL) {
    if (pPeer == p->pPeers) {
      p->pPeers = pPeer->pNext;
    } else {
      p->pDead = pPeer->pNext;
    }
    sqlite3_free(pPeer->zAddr);
    sqlite3_free(pPeer);
  }
  if (rc == SQLITE_OK) {
    uv_run(&p->loop, UV_RUN_NOWAIT);
    uv_loop_close(&p->loop);
  }
  thr_part_clear(&p->parts);
  thr_sync_close(p->pSync);
  thr_store_close(p->pStore);
  sqlite3_close(p->db);
  for (i = 0; i < p->nListen; i++) {
    sqlite3_free(p->azListen[i]);
  }
  sqlite3_free(p->azListen);
  if (p->aThr) {
    sodium_memzero(p->aThr, (size_t)p->nThr * sizeof(*p->aThr));
    sqlite3_free(p->aThr);
  }
}

/**************************************************************************
** Calls from user threads.
*/

int thr_node_acquire(const char *zPath, int (*xRegister)(sqlite3 *),
                     thr_node **pp, char **pzErr) {
  thr_node *p;
  int rc;
  *pp = NULL;
  pthread_once(&gPinOnce, node_pin);
  pthread_mutex_lock(&gRegistry);
  for (p = gNodes; p; p = p->pNext) {
    if (strcmp(p->zPath, zPath) == 0) {
      p->nRef++;
      pthread_mutex_unlock(&gRegistry);
      *pp = p;
      return SQLITE_OK;
    }
  }
  p = sqlite3_malloc64(sizeof(*p));
  if (p == NULL) {
    pthread_mutex_unlock(&gRegistry);
    return SQLITE_NOMEM;
  }
  memset(p, 0, sizeof(*p));
  p->zPath = thr_node_strdup(zPath);
  p->xRegister = xRegister;
  p->nRef = 1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  if (p->zPath == NULL || uv_thread_create(&p->thread, node_main, p) != 0) {
    pthread_mutex_unlock(&gRegistry);
    sqlite3_free(p->zPath);
    sqlite3_free(p);
    *pzErr = sqlite3_mprintf("cannot start the node thread");
    return SQLITE_ERROR;
  }
  pthread_mutex_lock(&p->mu);
  while (!p->bStarted) {
    pthread_cond_wait(&p->cv, &p->mu);
  }
  rc = p->rcStart;
  pthread_mutex_unlock(&p->mu);
  if (rc != SQLITE_OK) {
    uv_thread_join(&p->thread);
    pthread_mutex_unlock(&gRegistry);
    *pzErr = p->zStartErr;
    sqlite3_free(p->zPath);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    sqlite3_free(p);
    return rc;
  }
  p->pNext = gNodes;
  gNodes = p;
  pthread_mutex_unlock(&gRegistry);
  *pp = p;
  return SQLITE_OK;
}

void thr_node_release(thr_node *p) {
  thr_node **pp;
  if (p == NULL) {
    return;
  }
  pthread_mutex_lock(&gRegistry);
  if (--p->nRef > 0) {
    pthread_mutex_unlock(&gRegistry);
    return;
  }
  for (pp = &gNodes; *pp; pp = &(*pp)->pNext) {
    if (*pp == p) {
      *pp = p->pNext;
      break;
    }
  }
  pthread_mutex_unlock(&gRegistry);
  pthread_mutex_lock(&p->mu);
  p->bStop = 1;
  pthread_mutex_unlock(&p->mu);
  uv_async_send(&p->wake);
  uv_thread_join(&p->thread);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  sqlite3_free(p->zStartErr);
  sqlite3_free(p->zPath);
  sqlite3_free(p);
}

static void node_queue(thr_node *p, node_cmd *c) {
  pthread_mutex_lock(&p->mu);
  c->pNext = p->pCmds;
  p->pCmds = c;
  pthread_mutex_unlock(&p->mu);
  uv_async_send(&p->wake);
}

/* With p->mu held: wait until c is done or timeoutMs pass (<0: no limit). */
static void node_wait(thr_node *p, node_cmd *c, int timeoutMs) {
  struct timespec until;
  if (timeoutMs >= 0) {
    node_deadline(&until, timeoutMs);
  }
  while (!c->bDone) {
    if (timeoutMs < 0) {
      pthread_cond_wait(&p->cv, &p->mu);
    } else if (pthread_cond_timedwait(&p->cv, &p->mu, &until) != 0) {
      break;
    }
  }
}

/* Run a command on the stack to completion. */
static void node_call(thr_node *p, node_cmd *c) {
  c->nRef = 2;
  node_queue(p, c);
  pthread_mutex_lock(&p->mu);
  node_wait(p, c, -1);
  c->nRef--;
  pthread_mutex_unlock(&p->mu);
}

int thr_node_listen(thr_node *p, const char *zUrl, char **pzErr) {
  node_cmd c;
  memset(&c, 0, sizeof(c));
  c.eCmd = CMD_LISTEN;
  c.zArg = thr_node_strdup(zUrl);
  node_call(p, &c);
  *pzErr = c.zErr;
  sqlite3_free(c.zArg);
  return c.rc;
}

int thr_node_join(thr_node *p, const thr_tid *pTid, const thr_tkey *pKey,
                  int bOwnLog, char **pzErr) {
  node_cmd c;
  memset(&c, 0, sizeof(c));
  c.eCmd = CMD_JOIN;
  c.tid = *pTid;
  c.pKey = pKey;
  c.bOwnLog = bOwnLog;
  node_call(p, &c);
  *pzErr = c.zErr;
  return c.rc;
}

void thr_node_poke_file(const char *zPath) {
  thr_node *p;
  pthread_mutex_lock(&gRegistry);
  for (p = gNodes; p; p = p->pNext) {
    if (strcmp(p->zPath, zPath) == 0) {
      thr_node_poke(p);
      break;
    }
  }
  pthread_mutex_unlock(&gRegistry);
}

int thr_node_add_peer(thr_node *p, const thr_tid *pTid, const char *zAddr,
                      char **pzErr) {
  node_cmd c;
  memset(&c, 0, sizeof(c));
  c.eCmd = CMD_ADD_PEER;
  c.tid = *pTid;
  c.zArg = thr_node_strdup(zAddr);
  if (c.zArg == NULL) {
    return SQLITE_NOMEM;
  }
  node_call(p, &c);
  *pzErr = c.zErr;
  sqlite3_free(c.zArg);
  return c.rc;
}

int thr_node_sync(thr_node *p, const thr_tid *pTid, int timeoutMs,
                  sqlite3_int64 *pnRecv, char **pzErr) {
  node_cmd *c = sqlite3_malloc64(sizeof(*c));
  int rc, bFree;
  if (c == NULL) {
    return SQLITE_NOMEM;
  }
  memset(c, 0, sizeof(*c));
  c->eCmd = CMD_SYNC;
  c->tid = *pTid;
  c->nRef = 2;
  node_queue(p, c);
  pthread_mutex_lock(&p->mu);
  node_wait(p, c, timeoutMs < 0 ? 0 : timeoutMs);
  *pnRecv = c->nRecv;
  rc = c->bDone ? c->rc : SQLITE_OK; /* a timeout is not an error */
  *pzErr = c->bDone ? c->zErr : NULL;
  if (c->bDone) {
    c->zErr = NULL;
  }
  bFree = --c->nRef == 0;
  pthread_mutex_unlock(&p->mu);
  if (bFree) {
    node_cmd_free(c);
  }
  return rc;
}

void thr_node_poke(thr_node *p) {
  node_cmd *c = sqlite3_malloc64(sizeof(*c));
  if (c == NULL) {
    return;
  }
  memset(c, 0, sizeof(*c));
  c->eCmd = CMD_POKE;
  c->nRef = 1; /* the loop's only: it frees it */
  node_queue(p, c);
}

int thr_node_addrs(thr_node *p, char ***pazAddr, int *pnAddr) {
  node_cmd c;
  memset(&c, 0, sizeof(c));
  c.eCmd = CMD_ADDRS;
  node_call(p, &c);
  *pazAddr = c.azAddr;
  *pnAddr = c.nAddr;
  return c.azAddr || c.nAddr == 0 ? SQLITE_OK : SQLITE_NOMEM;
}
