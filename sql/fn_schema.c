/*
** fn_schema.c: JSON Schema validation as an SQL function.
**
**   threads_schema_valid(schema, doc) -> 1 if the JSON text doc is valid
**                                        against the draft-07 schema text,
**                                        0 if it is not, NULL if either
**                                        argument is NULL
**
** An invalid schema, or a document that is not JSON, is an SQL error
** ("threads_schema_valid: invalid schema: ..." and "threads_schema_valid:
** the document is not JSON: <jansson's text>"): those are mistakes in the
** query, not answers about the data.  So is a schema past the bounds of
** core/schema_limits.c ("threads_schema_valid: schema too complex: ...").
** Everything thr_schema_check() rejects is 0, including what it cannot
** decide (a remote "$ref", recursion past its depth guards, a check past
** its step budget): a document we cannot show valid is not valid.
**
** The compiled schema is kept as auxiliary data on argument 0, so that a
** constant schema is compiled once per statement, not once per row.
**
** Declaration for sql/thr_sql.h (register with SQLITE_DETERMINISTIC, two
** arguments).  Not SQLITE_INNOCUOUS: a call may cost up to the step budget
** (tens of milliseconds) and compiling a large schema more, which a view
** or trigger in an untrusted database must not be able to inflict.
**
**   / * Interface to code in fn_schema.c: JSON Schema validation. * /
**   void thr_fn_schema_valid(sqlite3_context *ctx, int argc,
**                            sqlite3_value **argv);
*/
#include "thr_sql.h"

#include <string.h>

#define FN_SCHEMA "threads_schema_valid"

/* The auxdata destructor: sqlite3_set_auxdata() wants void(*)(void*). */
static void fn_schema_free(void *p) {
  thr_schema_free((thr_schema *)p);
}

/* Set an SQL error "threads_schema_valid: <zErr>" (consumes zErr), or the
** out-of-memory error when there is no text. */
static void fn_schema_error(sqlite3_context *ctx, char *zErr) {
  char *zMsg = zErr ? sqlite3_mprintf("%s: %s", FN_SCHEMA, zErr) : NULL;
  if (zMsg == NULL) {
    sqlite3_result_error_nomem(ctx);
  } else {
    sqlite3_result_error(ctx, zMsg, -1);
  }
  sqlite3_free(zMsg);
  sqlite3_free(zErr);
}

/* Parse the document argument.  Integers beyond 64 bits are valid JSON
** that jansson reads only as reals, so a numeric overflow retries that
** way.  Returns NULL after setting the SQL error. */
static json_t *fn_schema_doc(sqlite3_context *ctx, sqlite3_value *pVal) {
  const char *z = (const char *)sqlite3_value_text(pVal);
  size_t n = (size_t)sqlite3_value_bytes(pVal);
  json_error_t err;
  json_t *pDoc;
  if (z == NULL) {
    sqlite3_result_error_nomem(ctx); /* not NULL, so the conversion failed */
    return NULL;
  }
  pDoc = json_loadb(z, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
  if (pDoc == NULL && json_error_code(&err) == json_error_numeric_overflow) {
    pDoc = json_loadb(
        z, n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &err);
  }
  if (pDoc == NULL) {
    if (json_error_code(&err) == json_error_out_of_memory) {
      sqlite3_result_error_nomem(ctx);
    } else {
      fn_schema_error(
          ctx, sqlite3_mprintf("the document is not JSON: %s", err.text));
    }
  }
  return pDoc;
}

void thr_fn_schema_valid(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  thr_schema *pSchema;
  json_t *pDoc;
  char *zErr = NULL;
  int rc, bNew = 0;
  (void)argc;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL ||
      sqlite3_value_type(argv[1]) == SQLITE_NULL) {
    return; /* the result is NULL */
  }

  pSchema = sqlite3_get_auxdata(ctx, 0);
  if (pSchema == NULL) {
    const char *zSchema = (const char *)sqlite3_value_text(argv[0]);
    if (zSchema == NULL) {
      sqlite3_result_error_nomem(ctx);
      return;
    }
    rc = thr_schema_compile(zSchema, &pSchema, &zErr);
    if (rc != SQLITE_OK) {
      if (rc == SQLITE_NOMEM) {
        sqlite3_free(zErr);
        sqlite3_result_error_nomem(ctx);
      } else {
        fn_schema_error(ctx, zErr);
      }
      return;
    }
    bNew = 1;
  }

  pDoc = fn_schema_doc(ctx, argv[1]);
  if (pDoc) {
    rc = thr_schema_check(pSchema, pDoc, &zErr);
    json_decref(pDoc);
    if (rc == SQLITE_OK || rc == SQLITE_CONSTRAINT) {
      sqlite3_result_int(ctx, rc == SQLITE_OK);
      sqlite3_free(zErr);
    } else if (rc == SQLITE_NOMEM) {
      sqlite3_free(zErr);
      sqlite3_result_error_nomem(ctx);
    } else {
      fn_schema_error(ctx, zErr);
    }
  }

  /* Hand the schema to SQLite last: it may free it at once (on OOM, or
  ** when argument 0 is not a constant), so it must not be used after. */
  if (bNew) {
    sqlite3_set_auxdata(ctx, 0, pSchema, fn_schema_free);
  }
}
