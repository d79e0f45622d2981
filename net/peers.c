/*
** peers.c: the node's peers: the addresses it dials (one req socket each;
** nng redials a lost connection by itself, with backoff from 100 ms to 5 s),
** the addresses it learns and stores (_threads_peer), and what a peer has
** cost: the counters of threads_peers (sent, received, last contact, last
** error, rejected) and of threads_rejects (refused records by reason).  A
** peer that misbehaves is dropped here, and dialed again on a later round.
**
** Limits here: an address learned is tcp:// or ipc:// and under 512 bytes
** (thr_peers_remember); a reply from a peer is at most NODE_MAXMSG bytes
** (thr_peers_get; shared, thr_net.h).
*/

#include "thr_net.h"

#include <nng/protocol/reqrep0/req.h>
#include <string.h>

int thr_peers_is_own(thr_node *p, const char *zAddr) {
  int i;
  for (i = 0; i < p->nListen; i++) {
    if (strcmp(p->azListen[i], zAddr) == 0) {
      return 1;
    }
  }
  return 0;
}

/* Store addr for the thread (once). */
void thr_peers_remember(thr_node *p, sqlite3_int64 iThread, const char *zAddr,
                        size_t nAddr, const unsigned char *pSelf) {
  sqlite3_stmt *pStmt = NULL;
  char *z = sqlite3_mprintf("%.*s", (int)nAddr, zAddr);
  if (z && strlen(z) == nAddr && nAddr < 512 &&
      (strncmp(z, "tcp://", 6) == 0 || strncmp(z, "ipc://", 6) == 0) &&
      !thr_peers_is_own(p, z) &&
      sqlite3_prepare_v2(p->db,
                         "INSERT INTO _threads_peer(tid, addr, peer)"
                         " VALUES (?1, ?2, ?3) ON CONFLICT(tid, addr) DO"
                         " UPDATE SET peer = coalesce(excluded.peer, peer)",
                         -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_int64(pStmt, 1, iThread);
    sqlite3_bind_text(pStmt, 2, z, -1, SQLITE_STATIC);
    if (pSelf) {
      sqlite3_bind_blob(pStmt, 3, pSelf, 32, SQLITE_STATIC);
    }
    sqlite3_step(pStmt);
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(z);
}

/* Update the peer row after an exchange. */
void thr_peers_note(thr_node *p, sqlite3_int64 iThread, const char *zAddr,
                    sqlite3_int64 nSent, sqlite3_int64 nRecv,
                    const char *zError) {
  sqlite3_stmt *pStmt = NULL;
  if (sqlite3_prepare_v2(
          p->db,
          "UPDATE _threads_peer SET sent = sent + ?3, recv = recv + ?4,"
          " last_contact = CASE WHEN ?5 IS NULL THEN ?6 ELSE last_contact END,"
          " last_error = coalesce(?5, last_error),"
          " rejected = rejected + (?5 IS NOT NULL AND ?7)"
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

node_peer *thr_peers_get(thr_node *p, const char *zAddr) {
  node_peer *pPeer;
  for (pPeer = p->pPeers; pPeer; pPeer = pPeer->pNext) {
    if (strcmp(pPeer->zAddr, zAddr) == 0) {
      return pPeer;
    }
  }
  pPeer = sqlite3_malloc64(sizeof(*pPeer));
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
    nng_close(pPeer->sock);
    sqlite3_free(pPeer->zAddr);
    sqlite3_free(pPeer);
    return NULL;
  }
  pPeer->bOpen = 1;
  pPeer->pNext = p->pPeers;
  p->pPeers = pPeer;
  return pPeer;
}

/* Drop a peer that misbehaved: its connection closes; it is dialed again
** on a later round (a restarted honest peer comes back). */
static void node_peer_drop(thr_node *p, node_peer *pPeer) {
  node_peer **pp;
  for (pp = &p->pPeers; *pp != pPeer; pp = &(*pp)->pNext) {
    if (*pp == NULL) {
      return; /* dropped already (by another reply in flight) */
    }
  }
  *pp = pPeer->pNext;
  /* In-flight requests complete with an error once it is closed. */
  thr_sock_close(pPeer->sock, 0);
  pPeer->bOpen = 0;
  pPeer->pNext = p->pDead;
  p->pDead = pPeer;
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
