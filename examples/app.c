/*
** app.c: an app that links sqlite-threads statically (dist/libthreads.a)
** and registers it on its own connection with sqlite3_threads_init().
**
**   make examples/app && ./build/release/examples/app notes.db
**
** It creates a thread named "notes" if the file has none, then prints the
** peer identity and every thread with its record count.
*/
#include <stdio.h>

#include "threads.h"

static int print_row(void *pArg, int nCol, char **azVal, char **azCol) {
  (void)pArg;
  for (int i = 0; i < nCol; i++) {
    printf("%s%s=%s", i ? " " : "", azCol[i], azVal[i] ? azVal[i] : "NULL");
  }
  printf("\n");
  return 0;
}

int main(int argc, char **argv) {
  sqlite3 *db = NULL;
  char *zErr = NULL;
  int rc;
  if (argc != 2) {
    fprintf(stderr, "usage: %s DATABASE\n", argv[0]);
    return 2;
  }
  if (sqlite3_open(argv[1], &db) != SQLITE_OK) {
    fprintf(stderr, "cannot open %s: %s\n", argv[1], sqlite3_errmsg(db));
    return 1;
  }
  rc = sqlite3_threads_init(db, &zErr, NULL);
  if (rc == SQLITE_OK) {
    rc = sqlite3_exec(db,
                      "SELECT threads_identity() AS peer;"
                      "SELECT threads_create('notes') AS created"
                      "  WHERE NOT EXISTS (SELECT 1 FROM threads"
                      "                    WHERE name = 'notes');"
                      "SELECT name, records, threads_verify(id) AS verified"
                      "  FROM threads ORDER BY name;",
                      print_row, NULL, &zErr);
  }
  if (rc != SQLITE_OK) {
    fprintf(stderr, "error: %s\n", zErr ? zErr : sqlite3_errstr(rc));
  }
  sqlite3_free(zErr);
  sqlite3_close(db);
  return rc == SQLITE_OK ? 0 : 1;
}
