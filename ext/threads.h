/*
** threads.h: the public C interface of sqlite-threads.
**
** Apps that load the extension at run time need nothing from this file:
**
**     sqlite3_enable_load_extension(db, 1);
**     sqlite3_load_extension(db, "./dist/threads", NULL, &zErr);
**
** Apps that link the static library (dist/libthreads.a, built against the
** app's own SQLite) register it themselves, on one connection:
**
**     char *zErr = NULL;
**     int rc = sqlite3_threads_init(db, &zErr, NULL);
**
** or on every connection opened afterwards:
**
**     sqlite3_auto_extension((void (*)(void))sqlite3_threads_init);
*/
#ifndef THREADS_H
#define THREADS_H

#include <sqlite3.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The extension's entry point.  Returns SQLITE_OK, or an SQLite error code
** with *pzErrMsg set to a message allocated with sqlite3_malloc(). */
int sqlite3_threads_init(sqlite3 *db, char **pzErrMsg,
                         const sqlite3_api_routines *pApi);

/* Change notifications.  After every COMMIT on db, xChange is called once
** per document change the transaction made, in order: zAction is "create",
** "save" or "delete", zAuthor the writer's peer ID.  Changes of rolled-back
** transactions are never reported.  Changes that the sync node receives
** from peers are not reported here yet: read them from the threads_changes
** table (WHERE seq > :last).  One subscriber per connection; NULL removes
** it.
** The strings are valid during the call only. */
typedef void (*threads_change_fn)(void *pArg, const char *zThread,
                                  const char *zCollection, const char *zId,
                                  const char *zAction, const char *zAuthor);
int threads_subscribe(sqlite3 *db, threads_change_fn xChange, void *pArg);

#ifdef __cplusplus
}
#endif

#endif /* THREADS_H */
