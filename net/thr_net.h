/*
** thr_net.h: the background node (net/node.c and its parts), the one
** internal header of net/.
**
** One node per (database file, process): a thread running a libuv loop
** that owns the nng sockets and its own SQLite connection to the file.
** Connections that use it hold a reference; the last release stops and
** joins the thread.  Every call in the first section is made from user
** threads and waits for the node's loop to answer.
**
** The sections after it are the node's inside, shared by its files and
** used on the loop thread only, unless a comment says otherwise: the limits
** that more than one file enforces, the structs, and one "Interface to code
** in X.c" section per file.  THE PROTOCOL is specified at the top of wire.c.
*/
#ifndef THR_NET_H
#define THR_NET_H

#include "../core/thr_sync.h"
#include "thr_part.h"

#include <nng/nng.h>
#include <pthread.h>
#include <uv.h>

typedef struct thr_node thr_node;

/* The node of file zPath, started if needed.  xRegister loads the
** extension on the node's own connection (so that it can mount collection
** tables).  Each successful call takes a reference. */
int thr_node_acquire(const char *zPath, int (*xRegister)(sqlite3 *),
                     thr_node **pp, char **pzErr);
void thr_node_release(thr_node *p);

/* Listen on an nng URL (tcp://, ipc://); the address is stored in the
** file and resumed by thr_node_listen(p, NULL). */
int thr_node_listen(thr_node *p, const char *zUrl, char **pzErr);

/* Store a thread's keys from an invite (thr_sync_join), on the node's
** connection so that the node sees them at once. */
int thr_node_join(thr_node *p, const thr_tid *pTid, const thr_tkey *pKey,
                  int bOwnLog, char **pzErr);

/* Poke the node of file zPath if this process runs one. */
void thr_node_poke_file(const char *zPath);

/* Remember a peer address for a thread (stored in the file). */
int thr_node_add_peer(thr_node *p, const thr_tid *pTid, const char *zAddr,
                      char **pzErr);

/* Pull the thread from every known peer now; wait until caught up or
** timeout; *pnRecv gets the number of records received meanwhile. */
int thr_node_sync(thr_node *p, const thr_tid *pTid, int timeoutMs,
                  sqlite3_int64 *pnRecv, char **pzErr);

/* A commit happened in the file: push to the peers (does not wait). */
void thr_node_poke(thr_node *p);

/* The addresses this node listens on, as an array of texts in *pazAddr
** (one sqlite3_malloc'd block). */
int thr_node_addrs(thr_node *p, char ***pazAddr, int *pnAddr);

/**************************************************************************
** The node's inside: limits, structs.
**
** Limits more than one file enforces; each other limit is defined in the
** file that enforces it (see each file's first comment).
*/

#define NODE_MAXMSG (4 * 1024 * 1024) /* bytes per message, both ways */
#define NODE_REQ_MS                                                            \
  10000 /* a request without an answer by then fails                           \
        ** (sooner while dialing: see peers.c) */
#define NODE_PAGE_RECS 2000
#define NODE_NSRV 32  /* contexts of the rep socket (server.c) */
#define NODE_CIDS 512 /* CIDs per "cids" reply (19 KB) */
#define NODE_SEEN 64  /* forks remembered, so each is counted once */
#define NODE_ADDRS 64 /* addresses in a heads reply, and read from one */

enum { OP_HEADS = 1, OP_PULL, OP_PUSH, OP_PART, OP_CIDS };

typedef struct node_peer node_peer;
typedef struct node_req node_req;
typedef struct node_srv node_srv;
typedef struct node_cmd node_cmd;
typedef struct node_thr node_thr;
typedef struct node_page node_page;
typedef struct node_closer node_closer; /* sock.c */

/* A thread known here, with its wire key and tag. */
struct node_thr {
  thr_tid tid;
  sqlite3_int64 iThread;
  thr_tkey key;
  unsigned char wire[32];
  unsigned char tag[16];
  unsigned char self[32]; /* the log this peer writes, if hasSelf */
  int hasSelf;
};

/* An address we dial (peers.c), in thr_node.pPeers while its socket is
** open, then in thr_node.pDead until no request names it. */
struct node_peer {
  char *zAddr;
  nng_socket sock;
  int bOpen;
  int bLearned; /* dialed for a learned address (see DIALING, peers.c) */
  int bEver;    /* a reply came on this socket */
  int bProbe;   /* not trusted (see DIALING, peers.c) */
  int bNamed;   /* a row named it in the current round */
  int nReq;     /* requests that name it, not yet freed */
  node_peer *pNext;
};

/* A request in flight to a peer. */
struct node_req {
  thr_node *pNode;
  node_peer *pPeer;
  nng_ctx ctx;
  nng_aio *aio;
  int eOp;
  thr_tid tid;
  unsigned char logPk[32];
  sqlite3_int64 iCtr;  /* pull: after; push: last sent; part: the record;
                       ** cids: the last counter asked for */
  size_t iOff;         /* part, or a push of a piece: its offset */
  sqlite3_int64 iFork; /* pull or part of the fork at this counter, or 0 */
  node_cmd *pCmd;      /* the sync waiting on it, or NULL */
  int bSent;           /* the request went out; now the reply */
  int bHalt;           /* an earlier page of its chain failed: no more */
  node_req *pNext;
  node_req *pNextChain; /* in thr_node.pChains */
  node_req *pNextLive;  /* in thr_node.pLive */
};

/* One of the rep contexts that serve requests (server.c has its states). */
enum { SRV_RECV = 0, SRV_QUEUED, SRV_PARKED, SRV_SENDING, SRV_SENT };

struct node_srv {
  thr_node *pNode;
  nng_ctx ctx;
  nng_aio *aio;
  int eState;      /* SRV_*: written by the loop, and by the callback
                   ** only while the loop does not hold it */
  int rcSend;      /* SRV_SENT: how the send of the reply ended */
  nng_pipe pipe;   /* the connection its request came from */
  node_srv *pNext; /* in the loop's queue, or a connection's parked */
};

/* A connection that has requests held by contexts (server.c): how many are
** being answered, and the ones waiting for their turn, oldest first. */
typedef struct node_conn node_conn;
struct node_conn {
  uint32_t iPipe; /* nng_pipe_id() of the connection; 0: a free slot */
  int nService;
  node_srv *pParked;
};

/* A fork this node has counted: the log, the counter where the branches
** part, and the two records there. */
typedef struct node_seen node_seen;
struct node_seen {
  sqlite3_int64 iThread;
  unsigned char pk[32];
  sqlite3_int64 iFork;
  thr_cid ours, theirs;
  int64_t tPush; /* when our (winning) branch was last pushed to a loser */
};

/* A call from a user thread, answered by the loop. */
struct node_cmd {
  int eCmd;
  char *zArg;
  thr_tid tid;
  int rc;
  char *zErr;
  sqlite3_int64 nRecv;
  int nPending; /* requests of this sync still in flight */
  int bDone;
  int nRef; /* caller + loop */
  char **azAddr;
  int nAddr;
  const thr_tkey *pKey; /* CMD_JOIN: borrowed from the waiting caller */
  int bOwnLog;
  node_cmd *pNext;
};

struct thr_node {
  char *zPath;
  int nRef;
  int (*xRegister)(sqlite3 *);
  thr_node *pNext; /* registry */

  uv_thread_t thread;
  uv_loop_t loop;
  uv_async_t wake;
  uv_timer_t tick;
  pthread_mutex_t mu; /* guards the queues, bStop, bDone, nRef of cmds */
  pthread_cond_t cv;
  node_cmd *pCmds;
  node_req *pDone;
  node_srv *pSrvQ; /* contexts for the loop, oldest first */
  node_srv *pSrvQTail;
  int bStop;
  int bStarted;
  int rcStart;
  char *zStartErr;

  /* Loop thread only from here. */
  sqlite3 *db;
  thr_store *pStore;
  thr_sync *pSync;
  nng_socket rep;
  int bRep;
  node_srv aSrv[NODE_NSRV];
  node_conn aConn[NODE_NSRV]; /* each holds at least one context */
  char **azListen;
  int nListen;
  node_peer *pPeers;
  node_peer *pDead; /* dropped peers: requests in flight still name them */
  int nDialing;     /* learned addresses' sockets not answered yet */
  int64_t tForget;  /* when peers.c last forgot addresses */
  node_thr *aThr;
  int nThr;
  node_cmd *pSyncs; /* syncs waiting on requests */
  int nInFlight;
  thr_part_set parts; /* large records arriving in pieces */
  /* Pulls, parts and pushes in flight.  Each is one step of a chain that
  ** walks a log page by page; a round does not start a second chain for a
  ** log that one is already walking (pulls: from any peer; pushes: to the
  ** same peer), it hands its sync to that chain instead. */
  node_req *pChains;
  node_req *pLive; /* every request not yet freed (thr_client_req_free) */
  /* Pages of pulled records between arrival and storage, in arrival order
  ** (see node_page, client.c). */
  node_page *pPages;
  int nPages;
  int bStopping; /* the loop is closing: pages are dropped, not stored */
  node_seen aSeen[NODE_SEEN]; /* forks counted, a ring */
  int nSeen;
};

/* A page of records, read by thr_sync_read: the records as CBOR array
** items, or, when the first record is too large for a message, its
** counter and block sizes (it then goes in pieces). */
typedef struct page_ctx page_ctx;
struct page_ctx {
  thr_cw w; /* the records, growing */
  int n;
  sqlite3_int64 iLast; /* counter of the last record in the page */
  int bBig;            /* the page is one large record, described below */
  sqlite3_int64 iBig;
  size_t anBig[4];
};

/**************************************************************************
** Interface to code in node.c (contracts there).
*/

/* (The calls from user threads are in the first section.) */
char *thr_node_strdup(const char *z);
void thr_node_cmd_add_recv(thr_node *p, node_cmd *c, sqlite3_int64 n);
void thr_node_cmd_finish(thr_node *p, node_cmd *c);

/**************************************************************************
** Interface to code in wire.c (contracts there).
*/

int thr_wire_threads_load(thr_node *p);
node_thr *thr_wire_thread_by_tag(thr_node *p, const unsigned char *tag);
node_thr *thr_wire_thread_by_id(thr_node *p, const thr_tid *pTid);
nng_msg *thr_wire_seal(const node_thr *t, const unsigned char *a, size_t n);
nng_msg *thr_wire_plain(const char *zWhat);
thr_cbor *thr_wire_open(thr_node *p, nng_msg *pMsg, node_thr *pExpect,
                        node_thr **ppThr);
int thr_wire_heads(thr_node *p, node_thr *t, thr_head **paHead, int *pnHead,
                   unsigned char digest[32]);
sqlite3_int64 thr_wire_heads_count(const thr_head *a, int n,
                                   const unsigned char *pk);
sqlite3_int64 thr_wire_have(thr_node *p, node_thr *t,
                            const unsigned char pk[32]);
void thr_wire_req_op(thr_cw *w, const char *zOp, size_t nPair);
void thr_wire_req_addrs(thr_node *p, thr_cw *w);
int thr_wire_read_page(thr_node *p, node_thr *t, const unsigned char pk[32],
                       sqlite3_int64 nAfter, int nMax, page_ctx *c);
void thr_wire_write_recs(thr_cw *w, const page_ctx *c);
void thr_wire_write_big(thr_cw *w, sqlite3_int64 iCtr, const size_t an[4]);
int thr_wire_parse_big(thr_cbor *pBig, sqlite3_int64 *piCtr, size_t an[4]);
int thr_wire_read_piece(thr_node *p, node_thr *t, const unsigned char pk[32],
                        sqlite3_int64 iCtr, size_t iOff, size_t an[4],
                        unsigned char **pa, size_t *pn);
int thr_wire_recs_parse(thr_cbor *pRecs, thr_wire_rec **paRec, size_t *pn);

/**************************************************************************
** Interface to code in peers.c (contracts there).
*/

int thr_peers_is_own(thr_node *p, const char *zAddr);
void thr_peers_give(thr_node *p, sqlite3_int64 iThread, const char *zAddr);
void thr_peers_learn(thr_node *p, sqlite3_int64 iThread, const char *zAddr,
                     size_t nAddr, const unsigned char *pSelf, const void *aVia,
                     int nVia);
void thr_peers_note(thr_node *p, sqlite3_int64 iThread, const char *zAddr,
                    sqlite3_int64 nSent, sqlite3_int64 nRecv,
                    const char *zError);
void thr_peers_round_start(thr_node *p, int bAll);
node_peer *thr_peers_for_round(thr_node *p, const char *zAddr, int bLearned,
                               int bEver, int nTries, sqlite3_int64 tTried,
                               int bForce, int *pbWait);
void thr_peers_round_end(thr_node *p);
int thr_peers_timeout(const node_peer *pPeer);
void thr_peers_answered(thr_node *p, node_peer *pPeer);
void thr_peers_failed(thr_node *p, node_peer *pPeer);
void thr_peers_unref(thr_node *p, node_peer *pPeer);
void thr_peers_reject(thr_node *p, sqlite3_int64 iThread, const char *zBad);
void thr_peers_bad(thr_node *p, node_thr *t, node_peer *pPeer,
                   const char *zBad);

/**************************************************************************
** Interface to code in sock.c (contracts there).
*/

void thr_sock_track(nng_socket sock);
void thr_sock_limit(nng_socket sock, int nMax);
void thr_sock_pipe_end(nng_pipe pipe);
node_closer *thr_sock_close(nng_socket sock, int bWait);
int thr_sock_closer_wait(node_closer *c, const struct timespec *until);

/**************************************************************************
** Interface to code in ingest.c (contracts there).
*/

int thr_ingest_exec(thr_node *p, const char *zSql);
thr_part *thr_ingest_part_get(thr_node *p, node_thr *t,
                              const unsigned char pk[32], sqlite3_int64 iCtr,
                              sqlite3_uint64 from, const size_t an[4],
                              char **pzBad);
sqlite3_int64 thr_ingest_store(thr_node *p, node_thr *t,
                               const unsigned char logPk[32],
                               const thr_wire_rec *aRec,
                               const thr_checked *aChk, size_t n, int bCut,
                               char **pzBad, int *pbGap, sqlite3_int64 *piFork);
void thr_ingest_mount(thr_node *p);

/**************************************************************************
** Interface to code in client.c (contracts there).
*/

node_req *thr_client_send(thr_node *p, node_peer *pPeer, node_thr *t, int eOp,
                          const unsigned char *logPk, sqlite3_int64 iCtr,
                          size_t iOff, thr_cw *w, node_cmd *pCmd);
int thr_client_chain_join(thr_node *p, node_thr *t, const unsigned char pk[32],
                          node_peer *pPeer, int bPush, node_cmd *pCmd);
void thr_client_send_pull_of(thr_node *p, node_peer *pPeer, node_thr *t,
                             const unsigned char logPk[32],
                             sqlite3_int64 nAfter, int nMax,
                             sqlite3_int64 iFork, node_cmd *pCmd);
void thr_client_send_pull(thr_node *p, node_peer *pPeer, node_thr *t,
                          const unsigned char logPk[32], sqlite3_int64 nAfter,
                          node_cmd *pCmd);
void thr_client_send_push(thr_node *p, node_peer *pPeer, node_thr *t,
                          const unsigned char logPk[32], sqlite3_int64 nAfter,
                          node_cmd *pCmd);
void thr_client_req_free(thr_node *p, node_req *r, nng_msg *pMsg);
void thr_client_req_done(thr_node *p, node_req *r);
void thr_client_round(thr_node *p, node_thr *tOnly, node_cmd *pCmd);

/**************************************************************************
** Interface to code in forks.c (contracts there).
*/

void thr_forks_search(thr_node *p, node_peer *pPeer, node_thr *t,
                      const unsigned char pk[32], sqlite3_int64 iTo,
                      node_cmd *pCmd, int bForce);
int thr_forks_head_differs(thr_node *p, node_thr *t, const unsigned char pk[32],
                           sqlite3_int64 c, const thr_cid *pHead);
void thr_forks_got_cids(thr_node *p, node_thr *t, node_req *r, thr_cbor *pIn);
void thr_forks_page(thr_node *p, node_thr *t, node_req *r,
                    const thr_wire_rec *aRec, const thr_checked *aChk,
                    size_t n);
sqlite3_int64 thr_forks_pushed(thr_node *p, node_thr *t,
                               const unsigned char pk[32], sqlite3_int64 iFork,
                               const thr_wire_rec *aRec, size_t n);

/**************************************************************************
** Interface to code in server.c (contracts there).
*/

nng_msg *thr_server_serve(thr_node *p, nng_msg *pReq);
void thr_server_run(thr_node *p, node_srv *s);
void thr_server_stop(thr_node *p);
int thr_server_listen(thr_node *p, const char *zUrl, char **pzErr);

#endif /* THR_NET_H */
