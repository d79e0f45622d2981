/*
** peers.c: the node's peers: the addresses it knows for each thread
** (_threads_peer), which of them it dials and when, and what a peer has
** cost: the counters of threads_peers (sent, received, last contact, last
** error, rejected) and of threads_rejects (refused records by reason).  A
** peer that misbehaves is dropped here, and dialed again on a later round.
**
** ADDRESSES
**
** An address is given by the user (an invite's, in threads_join, or a row
** written by hand: learned = 0) or learned from a peer (learned = 1): from
** the "addrs" of a request (the sender's own listen addresses) or of a
** heads reply (the addresses the replier relays).  Any holder of a
** thread's service key can announce addresses, a follower too, so what is
** learned is bounded and earns its place:
**
**   - Per thread, at most PEERS_MAX_LEARNED learned addresses are kept;
**     per announcer, at most PEERS_PER_VIA of them that have not answered
**     yet.  Past either, a new address is not stored (nothing is evicted
**     for it: what the user gave never counts, and what has answered stays).
**     The announcer ("via") is the log it says it writes ("self"), or for
**     one that says none, its connection: the pipe of a request to our
**     listener, the address we dialed for a reply.
**   - A learned address that never answered is forgotten (its row and its
**     socket) after PEERS_FORGET_TRIES failed dials, or PEERS_FORGET_MS
**     after it was learned; one that answered once and then fails for
**     PEERS_STALE_MS is forgotten too.  Given addresses are never forgotten.
**   - A heads reply relays only addresses that have answered us (server.c),
**     so an address nobody can reach goes no further than the node it was
**     announced to.
**
** DIALING
**
** A socket is opened for an address only when a round needs it (client.c),
** one req socket per address (nng redials a lost connection by itself,
** with backoff from 100 ms to 5 s).  An address is trusted while it has
** no failed try since its last answer and is either given or has answered
** before; any other is probed: its socket's requests fail after
** PEERS_DIAL_MS (a trusted one's after NODE_REQ_MS: threads_join waits for
** an invite's address), and a sync waits for them only when the address
** is a given one.  At most PEERS_DIALING sockets are opened at once for
** learned addresses that have not answered on them.  So a sync never waits
** on a learned address that does not answer, and on a given one at most
** PEERS_DIAL_MS once it failed.
**
** A failed request (no reply in time, the connection lost, a reply that
** does not open) counts a failed try of the address (tries, tried; an
** answer ends them) and probes it from then on.  On a socket that never
** answered, it also closes the socket: the address is not dialed again
** before PEERS_BACKOFF_MS << (tries - 1), at most PEERS_BACKOFF_MAX_MS (but
** a threads_sync() dials the given addresses whatever their backoff).  A
** socket that answered once stays open (nng redials a peer that restarts).
**
** So a node holds at most one socket per address that answered it, plus
** PEERS_DIALING, plus the given addresses', whatever its peers announce.
**
** Limits here: an address learned is tcp:// or ipc:// and under 512 bytes;
** a reply from a peer is at most NODE_MAXMSG bytes (shared, thr_net.h); the
** numbers above.
*/

#include "thr_net.h"

#include <nng/protocol/reqrep0/req.h>
#include <string.h>

#define PEERS_MAX_LEARNED 64  /* learned addresses kept per thread */
#define PEERS_PER_VIA 8       /* ... per announcer, not answered yet */
#define PEERS_DIALING 16      /* sockets dialing learned addresses at once */
#define PEERS_DIAL_MS 1500    /* a probed address answers by then, or fails */
#define PEERS_BACKOFF_MS 1000 /* after the first failed dial */
#define PEERS_BACKOFF_MAX_MS (60 * 1000) /* doubling up to this */
#define PEERS_FORGET_TRIES 5 /* a learned address never answered: forgotten */
#define PEERS_FORGET_MS (10 * 60 * 1000) /* ... or this long after learned */
#define PEERS_STALE_MS (7 * 24 * 3600 * 1000LL) /* answered, then silent */
#define PEERS_FORGET_EVERY_MS 5000              /* how often a round looks */

int thr_peers_is_own(thr_node *p, const char *zAddr) {
  int i;
  for (i = 0; i < p->nListen; i++) {
    if (strcmp(p->azListen[i], zAddr) == 0) {
      return 1;
    }
  }
  return 0;
}

/* The address (zAddr, nAddr) as a text we may store, or NULL: a tcp:// or
** ipc:// URL under 512 bytes without a NUL inside, not one of ours.
** Owned; free with sqlite3_free(). */
static char *peers_addr(thr_node *p, const char *zAddr, size_t nAddr) {
  char *z;
  if (nAddr >= 512) {
    return NULL;
  }
  z = sqlite3_mprintf("%.*s", (int)nAddr, zAddr);
  if (z == NULL || strlen(z) != nAddr ||
      (strncmp(z, "tcp://", 6) != 0 && strncmp(z, "ipc://", 6) != 0) ||
      thr_peers_is_own(p, z)) {
    sqlite3_free(z);
    return NULL;
  }
  return z;
}

/* Run one statement of integers and texts binding (iThread, z, a[n]);
** returns the first column of its first row as an integer, or -1. */
static sqlite3_int64 peers_exec(thr_node *p, const char *zSql,
                                sqlite3_int64 iThread, const char *z,
                                const void *a, int n) {
  sqlite3_stmt *pStmt = NULL;
  sqlite3_int64 v = -1;
  if (sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, iThread);
    if (z) {
      sqlite3_bind_text(pStmt, 2, z, -1, SQLITE_STATIC);
    }
    if (a) {
      sqlite3_bind_blob(pStmt, 3, a, n, SQLITE_STATIC);
    }
    sqlite3_bind_int64(pStmt, 4, thr_now_ms());
    if (sqlite3_step(pStmt) == SQLITE_ROW) {
      v = sqlite3_column_int64(pStmt, 0);
    }
  }
  sqlite3_finalize(pStmt);
  return v;
}

/* An address the user gave for the thread: stored, or made a given one if
** it was learned (it is then never forgotten), and dialed at once. */
void thr_peers_give(thr_node *p, sqlite3_int64 iThread, const char *zAddr) {
  char *z = peers_addr(p, zAddr, strlen(zAddr));
  if (z) {
    peers_exec(p,
               "INSERT INTO _threads_peer(tid, addr) VALUES (?1, ?2)"
               " ON CONFLICT(tid, addr) DO UPDATE SET learned = 0,"
               " via = NULL, tries = 0, tried = NULL",
               iThread, z, NULL, 0);
  }
  sqlite3_free(z);
}

/* An address learned from a peer for the thread: pSelf, if not NULL, the
** log that writes there (32 bytes); (aVia, nVia) who announced it.  Stored
** if new and within the bounds (see ADDRESSES above); an address known
** already only gains its log.  Reads before it writes: an announcement of
** what is known already costs no write. */
void thr_peers_learn(thr_node *p, sqlite3_int64 iThread, const char *zAddr,
                     size_t nAddr, const unsigned char *pSelf, const void *aVia,
                     int nVia) {
  char *z = peers_addr(p, zAddr, nAddr);
  sqlite3_int64 v;
  if (z == NULL) {
    return;
  }
  /* 1: known with this log (or none given); 0: known without it; -1: new */
  v = peers_exec(p,
                 "SELECT ?3 IS NULL OR peer IS ?3 FROM _threads_peer"
                 " WHERE tid = ?1 AND addr = ?2",
                 iThread, z, pSelf, pSelf ? 32 : 0);
  if (v == 0) {
    peers_exec(p,
               "UPDATE _threads_peer SET peer = ?3 WHERE tid = ?1"
               " AND addr = ?2",
               iThread, z, pSelf, 32);
  } else if (v < 0 &&
             peers_exec(p,
                        "SELECT count(*) FROM _threads_peer WHERE tid = ?1"
                        " AND learned",
                        iThread, NULL, NULL, 0) < PEERS_MAX_LEARNED &&
             peers_exec(p,
                        "SELECT count(*) FROM _threads_peer WHERE tid = ?1"
                        " AND learned AND last_contact IS NULL AND via = ?3",
                        iThread, NULL, aVia, nVia) < PEERS_PER_VIA) {
    sqlite3_stmt *pStmt = NULL;
    if (sqlite3_prepare_v2(p->db,
                           "INSERT INTO _threads_peer(tid, addr, peer,"
                           " learned, via, added) VALUES (?1, ?2, ?3, 1,"
                           " ?4, ?5)",
                           -1, &pStmt, NULL) == SQLITE_OK) {
      sqlite3_bind_int64(pStmt, 1, iThread);
      sqlite3_bind_text(pStmt, 2, z, -1, SQLITE_STATIC);
      if (pSelf) {
        sqlite3_bind_blob(pStmt, 3, pSelf, 32, SQLITE_STATIC);
      }
      sqlite3_bind_blob(pStmt, 4, aVia, nVia, SQLITE_STATIC);
      sqlite3_bind_int64(pStmt, 5, thr_now_ms());
      sqlite3_step(pStmt);
    }
    sqlite3_finalize(pStmt);
  }
  sqlite3_free(z);
}

/* Update the peer row after an exchange: an exchange without error also
** ends the address's failed tries. */
void thr_peers_note(thr_node *p, sqlite3_int64 iThread, const char *zAddr,
                    sqlite3_int64 nSent, sqlite3_int64 nRecv,
                    const char *zError) {
  sqlite3_stmt *pStmt = NULL;
  if (sqlite3_prepare_v2(
          p->db,
          "UPDATE _threads_peer SET sent = sent + ?3, recv = recv + ?4,"
          " last_contact = CASE WHEN ?5 IS NULL THEN ?6 ELSE last_contact END,"
          " last_error = coalesce(?5, last_error),"
          " rejected = rejected + (?5 IS NOT NULL AND ?7),"
          " tries = CASE WHEN ?5 IS NULL THEN 0 ELSE tries END,"
          " tried = CASE WHEN ?5 IS NULL THEN NULL ELSE tried END"
          " WHERE tid = ?1 AND addr = ?2",
          -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, iThread);
    sqlite3_bind_text(pStmt, 2, zAddr, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 3, nSent);
    sqlite3_bind_int64(pStmt, 4, nRecv);
    if (zError) {
      sqlite3_bind_text(pStmt, 5, zError, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(pStmt, 6, thr_now_ms());
    sqlite3_bind_int(pStmt, 7, zError && strncmp(zError, "refused", 7) == 0);
    sqlite3_step(pStmt);
  }
  sqlite3_finalize(pStmt);
}

/* Forget the learned addresses that earned no place (see ADDRESSES), at
** most every PEERS_FORGET_EVERY_MS unless bNow. */
static void peers_forget(thr_node *p, int bNow) {
  sqlite3_stmt *pStmt = NULL;
  int64_t tNow = thr_now_ms();
  if (!bNow && tNow - p->tForget < PEERS_FORGET_EVERY_MS) {
    return;
  }
  p->tForget = tNow;
  if (sqlite3_prepare_v2(p->db,
                         "DELETE FROM _threads_peer WHERE learned AND"
                         " ((last_contact IS NULL AND (tries >= ?1"
                         " OR added IS NULL OR added < ?2))"
                         " OR (tries > 0 AND last_contact < ?3))",
                         -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_int(pStmt, 1, PEERS_FORGET_TRIES);
    sqlite3_bind_int64(pStmt, 2, tNow - PEERS_FORGET_MS);
    sqlite3_bind_int64(pStmt, 3, tNow - PEERS_STALE_MS);
    sqlite3_step(pStmt);
  }
  sqlite3_finalize(pStmt);
}

/* The open socket of an address, or NULL. */
static node_peer *peers_find(thr_node *p, const char *zAddr) {
  node_peer *pPeer;
  for (pPeer = p->pPeers; pPeer; pPeer = pPeer->pNext) {
    if (strcmp(pPeer->zAddr, zAddr) == 0) {
      return pPeer;
    }
  }
  return NULL;
}

/* Open a socket for an address and start dialing it; NULL on failure. */
static node_peer *peers_dial(thr_node *p, const char *zAddr, int bLearned,
                             int bProbe) {
  node_peer *pPeer = sqlite3_malloc64(sizeof(*pPeer));
  if (pPeer == NULL) {
    return NULL;
  }
  memset(pPeer, 0, sizeof(*pPeer));
  pPeer->zAddr = thr_node_strdup(zAddr);
  if (pPeer->zAddr == NULL || nng_req0_open(&pPeer->sock) != 0) {
    sqlite3_free(pPeer->zAddr);
    sqlite3_free(pPeer);
    return NULL;
  }
  thr_sock_track(pPeer->sock);
  nng_socket_set_size(pPeer->sock, NNG_OPT_RECVMAXSZ, NODE_MAXMSG);
  nng_socket_set_ms(pPeer->sock, NNG_OPT_RECONNMINT, 100);
  nng_socket_set_ms(pPeer->sock, NNG_OPT_RECONNMAXT, 5000);
  nng_socket_set_ms(pPeer->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
  if (nng_dial(pPeer->sock, zAddr, NULL, NNG_FLAG_NONBLOCK) != 0) {
    nng_close(pPeer->sock); /* never connected: nothing can be receiving */
    sqlite3_free(pPeer->zAddr);
    sqlite3_free(pPeer);
    return NULL;
  }
  pPeer->bOpen = 1;
  pPeer->bLearned = bLearned;
  pPeer->bProbe = bProbe;
  pPeer->pNext = p->pPeers;
  p->pPeers = pPeer;
  return pPeer;
}

/* Is an address with nTries failed dials, the last at tTried, due? */
static int peers_due(int nTries, sqlite3_int64 tTried, int64_t tNow) {
  int64_t ms = PEERS_BACKOFF_MS;
  int i;
  if (nTries <= 0) {
    return 1;
  }
  for (i = 1; i < nTries && ms < PEERS_BACKOFF_MAX_MS; i++) {
    ms *= 2;
  }
  if (ms > PEERS_BACKOFF_MAX_MS) {
    ms = PEERS_BACKOFF_MAX_MS;
  }
  return tNow - tTried >= ms;
}

/* A round begins: forget what earned no place (now and then), and count
** the sockets dialing learned addresses.  bAll: the round covers every
** thread, so thr_peers_round_end() may close what it does not name. */
void thr_peers_round_start(thr_node *p, int bAll) {
  node_peer *pPeer;
  peers_forget(p, 0);
  p->nDialing = 0;
  for (pPeer = p->pPeers; pPeer; pPeer = pPeer->pNext) {
    if (bAll) {
      pPeer->bNamed = 0;
    }
    if (!pPeer->bEver && pPeer->bLearned) {
      p->nDialing++;
    }
  }
}

/* The socket to send this round's heads to for one row of _threads_peer
** (address, learned, whether it ever answered, tries, tried), or NULL to
** skip the address this round: its socket if open, else a new one if the
** address is due (see DIALING) and, for a learned one, a dialing slot is
** free.  bForce: a sync, which dials a given address whatever its backoff.
** *pbWait: may a sync wait for the heads (see DIALING)? */
node_peer *thr_peers_for_round(thr_node *p, const char *zAddr, int bLearned,
                               int bEver, int nTries, sqlite3_int64 tTried,
                               int bForce, int *pbWait) {
  node_peer *pPeer = peers_find(p, zAddr);
  *pbWait = 0;
  if (pPeer == NULL) {
    if (bLearned ? p->nDialing >= PEERS_DIALING ||
                       !peers_due(nTries, tTried, thr_now_ms())
                 : !bForce && !peers_due(nTries, tTried, thr_now_ms())) {
      return NULL;
    }
    pPeer = peers_dial(p, zAddr, bLearned, nTries > 0 || (bLearned && !bEver));
    if (pPeer == NULL) { /* an address nng refuses: a failed try */
      peers_exec(p,
                 "UPDATE _threads_peer SET tries = tries + 1, tried = ?4"
                 " WHERE addr = ?2",
                 0, zAddr, NULL, 0);
    } else if (bLearned) {
      p->nDialing++;
    }
  }
  if (pPeer) {
    pPeer->bNamed = 1;
    *pbWait = !pPeer->bProbe || !bLearned;
  }
  return pPeer;
}

/* Drop a peer: its requests in flight are cancelled (they complete with an
** error), and it waits in p->pDead until no request names it; then its
** socket closes and it is freed (thr_peers_unref).  The socket outlives
** the requests' contexts, in the order nng documents: nng 1.5.2 can crash
** in nng_ctx_close() on a context whose socket is being closed meanwhile. */
static void node_peer_drop(thr_node *p, node_peer *pPeer) {
  node_peer **pp;
  node_req *r;
  for (pp = &p->pPeers; *pp != pPeer; pp = &(*pp)->pNext) {
    if (*pp == NULL) {
      return; /* dropped already (by another reply in flight) */
    }
  }
  *pp = pPeer->pNext;
  pPeer->bOpen = 0;
  pPeer->pNext = p->pDead;
  p->pDead = pPeer;
  for (r = p->pLive; r; r = r->pNextLive) {
    if (r->pPeer == pPeer) {
      nng_aio_cancel(r->aio); /* done already: nothing */
    }
  }
  thr_peers_unref(p, pPeer);
}

/* A round over every thread ended: close the sockets no row named (their
** addresses were forgotten). */
void thr_peers_round_end(thr_node *p) {
  node_peer *pPeer, *pNext;
  for (pPeer = p->pPeers; pPeer; pPeer = pNext) {
    pNext = pPeer->pNext;
    if (!pPeer->bNamed) {
      node_peer_drop(p, pPeer); /* its address was forgotten */
    }
  }
}

/* How long a request sent on pPeer now may wait for its reply (ms). */
int thr_peers_timeout(const node_peer *pPeer) {
  return pPeer->bProbe ? PEERS_DIAL_MS : NODE_REQ_MS;
}

/* A reply that opened came on pPeer's socket. */
void thr_peers_answered(thr_node *p, node_peer *pPeer) {
  (void)p;
  if (pPeer->bOpen) {
    pPeer->bEver = 1;
    pPeer->bProbe = 0;
  }
}

/* A request on pPeer failed (no reply in time, the connection lost, or a
** reply that does not open): a failed try of its address (see DIALING). */
void thr_peers_failed(thr_node *p, node_peer *pPeer) {
  if (!pPeer->bOpen || p->bStopping) {
    return; /* closed already: counted when it was */
  }
  peers_exec(p,
             "UPDATE _threads_peer SET tries = tries + 1, tried = ?4"
             " WHERE addr = ?2",
             0, pPeer->zAddr, NULL, 0);
  pPeer->bProbe = 1;
  if (!pPeer->bEver) {
    node_peer_drop(p, pPeer);
    peers_forget(p, 1);
  }
}

/* Close pPeer's socket and free it if it was dropped and no request names
** it any more. */
void thr_peers_unref(thr_node *p, node_peer *pPeer) {
  node_peer **pp;
  if (pPeer->bOpen || pPeer->nReq > 0) {
    return;
  }
  for (pp = &p->pDead; *pp; pp = &(*pp)->pNext) {
    if (*pp == pPeer) {
      *pp = pPeer->pNext;
      thr_sock_close(pPeer->sock, 0);
      /* Pieces of a large record from it would never be finished. */
      thr_part_drop_from(&p->parts, (sqlite3_uint64)(uintptr_t)pPeer);
      sqlite3_free(pPeer->zAddr);
      sqlite3_free(pPeer);
      return;
    }
  }
}

/* Count a refused record against the thread, by reason: the check's name,
** before any detail ("bad signature", "broken prev link", ...). */
void thr_peers_reject(thr_node *p, sqlite3_int64 iThread, const char *zBad) {
  sqlite3_stmt *pStmt = NULL;
  const char *z = strncmp(zBad, "refused: ", 9) == 0 ? zBad + 9 : zBad;
  int n = (int)strcspn(z, ":");
  if (sqlite3_prepare_v2(p->db,
                         "INSERT INTO _threads_reject(tid, reason, n)"
                         " VALUES (?1, ?2, 1) ON CONFLICT(tid, reason)"
                         " DO UPDATE SET n = n + 1",
                         -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, iThread);
    sqlite3_bind_text(pStmt, 2, z, n, SQLITE_STATIC);
    sqlite3_step(pStmt);
  }
  sqlite3_finalize(pStmt);
}

/* Records a peer refused to hand over properly: note it, forget what is
** arriving from it, and close its connection. */
void thr_peers_bad(thr_node *p, node_thr *t, node_peer *pPeer,
                   const char *zBad) {
  thr_peers_note(p, t->iThread, pPeer->zAddr, 0, 0, zBad);
  thr_part_drop_from(&p->parts, (sqlite3_uint64)(uintptr_t)pPeer);
  node_peer_drop(p, pPeer);
}
