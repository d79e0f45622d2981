/*
** sock.c: closing the node's nng sockets, and ending one peer's
** connection, without the hang of nng 1.5.2 described below.  Nothing of the
** node is used here: a socket being closed outlives the node if it must.
**
** Limits here: NODE_QUIET_MS and NODE_SETTLE_MS (how long a closing socket
** waits for its connections to end); node.c bounds the node's whole stop
** with NODE_CLOSE_MS.
**
** Closing a socket.
**
** nng 1.5's tcp transport loses a pipe's receive when the pipe is closed
** while a message is arriving: the read of its next bytes is started after
** nng_close() (or nng_pipe_close()) closed the transport's aio, which
** refuses it without a callback, so the protocol's receive on that pipe
** never completes, and nng's reaper thread, stopping the pipe, waits for
** it forever.  nng_close() waits for the reaper: it never returned, nor
** did sqlite3_close() (fixed upstream after 1.5.2: "tcp: Finish receive
** aio on close").  Any peer that sends as we close does it: a reply to a
** request in flight, a request to our rep socket, a hostile peer's bytes.
**
** So a socket is not closed under a connection that may be receiving.
** First every connection of the socket ends at the OS level (shutdown(2)
** of its file descriptor, found by its two addresses in /proc): its read ends with
** an error, which nng handles by closing the pipe itself, with no read
** left to lose.  Once the socket has no pipe (or only pipes that are not
** reading, or NODE_QUIET_MS passed), nng_close().  That runs on a thread of its own, which the node waits for
** NODE_CLOSE_MS at most: should nng still hang (a connection made in the
** meantime), the socket is left behind, never the caller.  Nothing of the
** node is used by that thread or by the pipe callbacks, so the node can
** go regardless.
*/

#include "thr_net.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NODE_QUIET_MS 500 /* a closing socket's connections end by then */
#define NODE_SETTLE_MS 50 /* ... or its pipes left did not change for */

/* The pipes of our sockets (a pipe counts from its ADD_PRE event to its
** REM_POST, when nng reaps it). */
typedef struct node_pipe_ent {
  int iSock;
  nng_pipe pipe;
} node_pipe_ent;

static pthread_mutex_t gPipeMu = PTHREAD_MUTEX_INITIALIZER;
static node_pipe_ent *gaPipe;
static int gnPipe, gnPipeAlloc;

/* Sockets with a cap on their connections (thr_sock_limit), under gPipeMu.
** A process has a rep socket per node: 16 nodes with a cap at most. */
#define NODE_NLIMIT 16
static struct {
  int iSock;
  int nMax;
} gaLimit[NODE_NLIMIT];

/* The cap of socket iSock, or 0; gPipeMu held. */
static int node_limit_of(int iSock) {
  int i;
  for (i = 0; i < NODE_NLIMIT; i++) {
    if (gaLimit[i].nMax > 0 && gaLimit[i].iSock == iSock) {
      return gaLimit[i].nMax;
    }
  }
  return 0;
}

static void node_pipe_cb(nng_pipe pipe, nng_pipe_ev ev, void *pArg) {
  int iSock = (int)(intptr_t)pArg, i;
  pthread_mutex_lock(&gPipeMu);
  if (ev == NNG_PIPE_EV_ADD_PRE && (i = node_limit_of(iSock)) > 0) {
    int n = 0, k;
    for (k = 0; k < gnPipe; k++) {
      n += gaPipe[k].iSock == iSock;
    }
    if (n >= i) {
      /* Over the cap: closed before nng starts it (nothing is read from
      ** it yet, so no receive can be lost), and never counted. */
      pthread_mutex_unlock(&gPipeMu);
      nng_pipe_close(pipe);
      return;
    }
  }
  if (ev == NNG_PIPE_EV_ADD_PRE) {
    if (gnPipe == gnPipeAlloc) {
      int nNew = gnPipeAlloc ? 2 * gnPipeAlloc : 16;
      node_pipe_ent *aNew = realloc(gaPipe, (size_t)nNew * sizeof(*aNew));
      if (aNew) {
        gaPipe = aNew;
        gnPipeAlloc = nNew;
      }
    }
    if (gnPipe < gnPipeAlloc) { /* else untracked: closed without shutdown */
      gaPipe[gnPipe].iSock = iSock;
      gaPipe[gnPipe].pipe = pipe;
      gnPipe++;
    }
  } else {
    for (i = 0; i < gnPipe; i++) {
      if (nng_pipe_id(gaPipe[i].pipe) == nng_pipe_id(pipe)) {
        gaPipe[i] = gaPipe[--gnPipe];
        break;
      }
    }
  }
  pthread_mutex_unlock(&gPipeMu);
}

/* Track the pipes of a socket just opened. */
void thr_sock_track(nng_socket sock) {
  void *pArg = (void *)(intptr_t)nng_socket_id(sock);
  nng_pipe_notify(sock, NNG_PIPE_EV_ADD_PRE, node_pipe_cb, pArg);
  nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, node_pipe_cb, pArg);
}

/* Accept at most nMax connections on sock at once (they count from their
** ADD_PRE event to their REM_POST: a connection being reaped still holds
** its descriptor); the ones over it are closed as they come.  The cap goes
** when the socket is closed (thr_sock_close). */
void thr_sock_limit(nng_socket sock, int nMax) {
  int i;
  pthread_mutex_lock(&gPipeMu);
  for (i = 0; i < NODE_NLIMIT; i++) {
    if (gaLimit[i].nMax == 0) {
      gaLimit[i].iSock = nng_socket_id(sock);
      gaLimit[i].nMax = nMax;
      break;
    }
  }
  pthread_mutex_unlock(&gPipeMu);
}

/* Is the address of /proc/net/tcp{,6} (hex words as the kernel prints
** them, and the port) the nng address sa? */
static int node_hex_is(const char *zHex, unsigned port, const nng_sockaddr *sa) {
  uint32_t aWord[4];
  size_t n = strlen(zHex), i;
  for (i = 0; i < n / 8 && i < 4; i++) {
    char zWord[9];
    memcpy(zWord, zHex + 8 * i, 8);
    zWord[8] = '\0';
    aWord[i] = (uint32_t)strtoul(zWord, NULL, 16); /* the bytes in memory */
  }
  if (sa->s_family == NNG_AF_INET && n == 8) {
    return aWord[0] == sa->s_in.sa_addr && port == ntohs(sa->s_in.sa_port);
  }
  if (sa->s_family == NNG_AF_INET6 && n == 32) {
    return memcmp(aWord, sa->s_in6.sa_addr, 16) == 0 &&
           port == ntohs(sa->s_in6.sa_port);
  }
  return 0;
}

/* End the OS connections of pipes a[0..n-1] (see "Closing a socket");
** returns how many were found.  A connection is found by its addresses in
** /proc/self/net/tcp{,6}, which give its socket's inode, and that inode
** among our file descriptors by their links in /proc/self/fd: no call on a
** descriptor nng owns but the shutdown(2) of the one found. */
static int node_pipes_end(const nng_pipe *a, int n) {
  static const char *azTab[] = {"/proc/self/net/tcp", "/proc/self/net/tcp6"};
  nng_sockaddr aLoc[64], aRem[64];
  unsigned long aInode[64];
  int nAddr = 0, nInode = 0, nEnded = 0, i, k;
  DIR *pDir;
  struct dirent *pEnt;
  for (i = 0; i < n && nAddr < 64; i++) {
    /* Fails for a pipe already gone, or not over tcp: nothing to end. */
    if (nng_pipe_get_addr(a[i], NNG_OPT_LOCADDR, &aLoc[nAddr]) == 0 &&
        nng_pipe_get_addr(a[i], NNG_OPT_REMADDR, &aRem[nAddr]) == 0) {
      nAddr++;
    }
  }
  for (k = 0; k < 2 && nAddr > 0; k++) {
    char zLine[512];
    FILE *pTab = fopen(azTab[k], "r");
    while (pTab && fgets(zLine, sizeof(zLine), pTab)) {
      char zLoc[40], zRem[40];
      unsigned portLoc, portRem;
      unsigned long inode;
      if (sscanf(zLine,
                 " %*d: %39[0-9A-Fa-f]:%x %39[0-9A-Fa-f]:%x %*x %*x:%*x %*x:%*x"
                 " %*x %*u %*u %lu",
                 zLoc, &portLoc, zRem, &portRem, &inode) != 5 ||
          inode == 0) {
        continue;
      }
      for (i = 0; i < nAddr && nInode < 64; i++) {
        if (node_hex_is(zLoc, portLoc, &aLoc[i]) &&
            node_hex_is(zRem, portRem, &aRem[i])) {
          aInode[nInode++] = inode;
          break;
        }
      }
    }
    if (pTab) {
      fclose(pTab);
    }
  }
  if (nInode == 0 || (pDir = opendir("/proc/self/fd")) == NULL) {
    return 0;
  }
  while ((pEnt = readdir(pDir)) != NULL) {
    char zPath[64], zLink[64];
    unsigned long inode;
    char *zEnd;
    long fd = strtol(pEnt->d_name, &zEnd, 10);
    ssize_t nLink;
    if (zEnd == pEnt->d_name || *zEnd != '\0' || fd < 0) {
      continue;
    }
    snprintf(zPath, sizeof(zPath), "/proc/self/fd/%ld", fd);
    nLink = readlink(zPath, zLink, sizeof(zLink) - 1);
    if (nLink <= 0) {
      continue;
    }
    zLink[nLink] = '\0';
    if (sscanf(zLink, "socket:[%lu]", &inode) != 1) {
      continue;
    }
    for (i = 0; i < nInode; i++) {
      if (aInode[i] == inode) {
        shutdown((int)fd, SHUT_RDWR); /* nng still owns and closes it */
        nEnded++;
        break;
      }
    }
  }
  closedir(pDir);
  return nEnded;
}

/* Hang up on the peer of one pipe: its connection ends at the OS level,
** and nng closes the pipe when its read fails.  nng_pipe_close() only when
** the connection is not found. */
void thr_sock_pipe_end(nng_pipe pipe) {
  if (node_pipes_end(&pipe, 1) == 0) {
    nng_pipe_close(pipe);
  }
}

/* End every connection of socket iSock; returns how many pipes it has
** still, and in *pSig what tells that set of pipes from another. */
static int node_sock_quiet(int iSock, uint64_t *pSig) {
  nng_pipe aPipe[64];
  int nPipe = 0, nLeft = 0, i;
  uint64_t sig = 0;
  pthread_mutex_lock(&gPipeMu);
  for (i = 0; i < gnPipe; i++) {
    if (gaPipe[i].iSock == iSock) {
      if (nPipe < 64) {
        aPipe[nPipe++] = gaPipe[i].pipe; /* the rest on a later pass */
      }
      nLeft++;
      sig += (uint64_t)(uint32_t)nng_pipe_id(gaPipe[i].pipe) * 0x9E3779B97F4A7C15ULL;
    }
  }
  *pSig = sig ^ (uint64_t)nLeft;
  pthread_mutex_unlock(&gPipeMu);
  if (nPipe > 0) {
    node_pipes_end(aPipe, nPipe);
  }
  return nLeft;
}

/* A socket being closed on a thread of its own. */
typedef struct node_closer node_closer;

struct node_closer {
  nng_socket sock;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int bDone;
  int nRef; /* the thread, and the node when it waits */
};

static int64_t node_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void node_closer_unref(node_closer *c) {
  int nRef;
  pthread_mutex_lock(&c->mu);
  nRef = --c->nRef;
  pthread_mutex_unlock(&c->mu);
  if (nRef == 0) {
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
  }
}

/* Close sock once its connections ended.  A pipe that stays after its
** connection ended has no read under way (nng reads a pipe only when its
** protocol asks, and rep0 does not while a request waits for a context):
** once the same pipes have stayed NODE_SETTLE_MS, none is receiving. */
static void node_sock_close_now(nng_socket sock) {
  int64_t tNow = node_mono_ms(), tEnd = tNow + NODE_QUIET_MS, tSame = tNow;
  int iSock = nng_socket_id(sock);
  uint64_t sig = 0, sigWas = 0;
  while (node_sock_quiet(iSock, &sig) > 0 && tNow < tEnd &&
         (sig != sigWas || tNow - tSame < NODE_SETTLE_MS)) {
    struct timespec ts = {0, 5000000};
    if (sig != sigWas) {
      sigWas = sig;
      tSame = tNow;
    }
    nanosleep(&ts, NULL);
    tNow = node_mono_ms();
  }
  nng_close(sock);
}

static void *node_closer_main(void *pArg) {
  node_closer *c = pArg;
  node_sock_close_now(c->sock);
  pthread_mutex_lock(&c->mu);
  c->bDone = 1;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  node_closer_unref(c);
  return NULL;
}

/* Start closing sock.  With bWait, returns the closer for
** thr_sock_closer_wait(), or NULL when the socket is closed already. */
node_closer *thr_sock_close(nng_socket sock, int bWait) {
  node_closer *c = malloc(sizeof(*c));
  pthread_t th;
  pthread_attr_t attr;
  int rc = -1, i;
  pthread_mutex_lock(&gPipeMu);
  for (i = 0; i < NODE_NLIMIT; i++) {
    if (gaLimit[i].nMax > 0 && gaLimit[i].iSock == nng_socket_id(sock)) {
      gaLimit[i].nMax = 0; /* its pipes only go from now on */
    }
  }
  pthread_mutex_unlock(&gPipeMu);
  if (c) {
    memset(c, 0, sizeof(*c));
    c->sock = sock;
    c->nRef = bWait ? 2 : 1;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&th, &attr, node_closer_main, c);
    pthread_attr_destroy(&attr);
  }
  if (rc != 0) { /* no thread: here, then */
    if (c) {
      pthread_mutex_destroy(&c->mu);
      pthread_cond_destroy(&c->cv);
      free(c);
    }
    node_sock_close_now(sock);
    return NULL;
  }
  return bWait ? c : NULL;
}

/* Wait for a closer until the time `until` (CLOCK_REALTIME); returns 1 if
** its socket closed.  c is released either way. */
int thr_sock_closer_wait(node_closer *c, const struct timespec *until) {
  int bDone;
  if (c == NULL) {
    return 1;
  }
  pthread_mutex_lock(&c->mu);
  while (!c->bDone &&
         pthread_cond_timedwait(&c->cv, &c->mu, until) == 0) {
  }
  bDone = c->bDone;
  pthread_mutex_unlock(&c->mu);
  node_closer_unref(c);
  return bDone;
}
