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

#ifdef __cplusplus
}
#endif

#endif /* THREADS_H */
