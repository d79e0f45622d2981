/*
** thr_net.h: the background node (net/node.c).
**
** One node per (database file, process): a thread running a libuv loop
** that owns the nng sockets and its own SQLite connection to the file.
** Connections that use it hold a reference; the last release stops and
** joins the thread.  Every call here is made from user threads and waits
** for the node's loop to answer.
*/
#ifndef THR_NET_H
#define THR_NET_H

#include "../core/thr_sync.h"

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

#endif /* THR_NET_H */
