/*
** thr_net_sql.h: the SQL functions of the node (net/fn_net.c), registered
** by ext/threads.c.  Their user data is the connection's thr_store.
*/
#ifndef THR_NET_SQL_H
#define THR_NET_SQL_H

#include "../core/thr_sync.h"

/* How the node loads the extension on its own connection. */
void thr_net_set_register(int (*xRegister)(sqlite3 *));

/* The store's commit hook: poke this file's node, if the process has one. */
void thr_net_committed(sqlite3 *db);

void thr_fn_listen(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void thr_fn_invite(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void thr_fn_join(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void thr_fn_sync(sqlite3_context *ctx, int argc, sqlite3_value **argv);

#endif /* THR_NET_SQL_H */
