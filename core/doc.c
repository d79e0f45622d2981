/*
** doc.c: a document in a shadow row, and back.
**
** SHADOW ROW of view V ("V_data", made by the virtual table): _id, one
** column per mirrored top-level property (its SQL type from the JSON type,
** THR_PT_*), then _rest, _log, _hlc, _live, _clock.  A field lives in its
** column when the column gives it back exactly (thr_doc_rest); _rest is a
** JSON object of the other fields, NULL when there are none (the common
** case: rows as narrow as a plain table's).  The reducer (reduce.c) says
** what _log, _hlc and _clock hold.
*/
#include "thr_core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void thr_bind_json(sqlite3_stmt *pStmt, int i, const json_t *v) {
  char *z;
  if (v == NULL) {
    sqlite3_bind_null(pStmt, i); /* the document has no such field */
    return;
  }
  switch (json_typeof(v)) {
  case JSON_STRING:
    /* Static: callers step before the value goes. */
    sqlite3_bind_text(pStmt, i, json_string_value(v),
                      (int)json_string_length(v), SQLITE_STATIC);
    break;
  case JSON_INTEGER:
    sqlite3_bind_int64(pStmt, i, json_integer_value(v));
    break;
  case JSON_REAL:
    sqlite3_bind_double(pStmt, i, json_real_value(v));
    break;
  case JSON_TRUE:
    sqlite3_bind_int(pStmt, i, 1);
    break;
  case JSON_FALSE:
    sqlite3_bind_int(pStmt, i, 0);
    break;
  case JSON_OBJECT:
  case JSON_ARRAY:
    z = thr_json_text(v, NULL);
    sqlite3_bind_text(pStmt, i, z, -1, free);
    break;
  default:
    sqlite3_bind_null(pStmt, i);
  }
}

/* Does a column of kind eKind give value v back exactly? */
static int doc_mirrors(int eKind, const json_t *v) {
  switch (eKind) {
  case THR_PT_TEXT:
    return json_is_string(v);
  case THR_PT_INT:
    return json_is_integer(v);
  case THR_PT_REAL:
    /* A REAL column stores -0.0 as 0.0. */
    return json_is_real(v) &&
           !(json_real_value(v) == 0.0 && signbit(json_real_value(v)));
  case THR_PT_BOOL:
    return json_is_boolean(v);
  case THR_PT_JSON:
    return json_is_object(v) || json_is_array(v);
  default: /* no type: the column stores what it is given */
    return json_is_string(v) || json_is_integer(v) || json_is_real(v);
  }
}

static int doc_prop(int nProp, char *const *azProp, const char *zKey) {
  int i;
  for (i = 0; i < nProp; i++) {
    if (strcmp(azProp[i], zKey) == 0) {
      return i;
    }
  }
  return -1;
}

char *thr_doc_rest(const json_t *pDoc, int nProp, char *const *azProp,
                   const int *aeKind, int *pRc) {
  json_t *pRest = NULL, *pVal;
  const char *zKey;
  char *z;
  json_object_foreach((json_t *)pDoc, zKey, pVal) {
    int k = doc_prop(nProp, azProp, zKey);
    if ((k >= 0 && doc_mirrors(aeKind[k], pVal)) || strcmp(zKey, "_id") == 0) {
      continue;
    }
    if (pRest == NULL && (pRest = json_object()) == NULL) {
      *pRc = SQLITE_NOMEM;
      return NULL;
    }
    json_object_set(pRest, zKey, pVal);
  }
  if (pRest == NULL) {
    return NULL;
  }
  z = thr_json_text(pRest, NULL);
  json_decref(pRest);
  if (z == NULL) {
    *pRc = SQLITE_NOMEM;
  }
  return z;
}

json_t *thr_doc_rebuild(sqlite3_stmt *pStmt, int bLive, int nProp,
                        char *const *azProp, const int *aeKind, int iRest,
                        int *pRc) {
  json_t *pDoc;
  int i;
  if (sqlite3_column_type(pStmt, iRest) != SQLITE_NULL) {
    pDoc = json_loads((const char *)sqlite3_column_text(pStmt, iRest),
                      JSON_ALLOW_NUL, NULL);
    if (!json_is_object(pDoc)) {
      json_decref(pDoc);
      *pRc = SQLITE_CORRUPT_VTAB;
      return NULL;
    }
  } else if ((pDoc = json_object()) == NULL) {
    *pRc = SQLITE_NOMEM;
    return NULL;
  }
  if (bLive) {
    json_object_set_new(
        pDoc, "_id",
        json_stringn((const char *)sqlite3_column_text(pStmt, 0),
                     (size_t)sqlite3_column_bytes(pStmt, 0)));
  }
  for (i = 0; i < nProp; i++) {
    int iCol = i + 1;
    json_t *pVal = NULL;
    if (json_object_get(pDoc, azProp[i])) {
      continue; /* _rest holds what the column cannot */
    }
    switch (sqlite3_column_type(pStmt, iCol)) {
    case SQLITE_NULL:
      continue;
    case SQLITE_INTEGER:
      pVal = aeKind[i] == THR_PT_BOOL
                 ? json_boolean(sqlite3_column_int64(pStmt, iCol) != 0)
                 : json_integer(sqlite3_column_int64(pStmt, iCol));
      break;
    case SQLITE_FLOAT:
      pVal = json_real(sqlite3_column_double(pStmt, iCol));
      break;
    case SQLITE_TEXT:
      if (aeKind[i] == THR_PT_JSON) {
        pVal = json_loads((const char *)sqlite3_column_text(pStmt, iCol),
                          JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
      } else {
        pVal = json_stringn((const char *)sqlite3_column_text(pStmt, iCol),
                            (size_t)sqlite3_column_bytes(pStmt, iCol));
      }
      break;
    default:
      break;
    }
    if (pVal == NULL) {
      json_decref(pDoc);
      *pRc = SQLITE_CORRUPT_VTAB;
      return NULL;
    }
    json_object_set_new(pDoc, azProp[i], pVal);
  }
  return pDoc;
}

int thr_doc_prop_kind(const json_t *pProp) {
  static const struct {
    const char *zType;
    int eKind;
  } aMap[] = {{"string", THR_PT_TEXT}, {"integer", THR_PT_INT},
              {"number", THR_PT_REAL}, {"boolean", THR_PT_BOOL},
              {"object", THR_PT_JSON}, {"array", THR_PT_JSON}};
  const char *z = json_string_value(json_object_get(pProp, "type"));
  size_t i;
  for (i = 0; z && i < sizeof(aMap) / sizeof(aMap[0]); i++) {
    if (strcmp(z, aMap[i].zType) == 0) {
      return aMap[i].eKind;
    }
  }
  return THR_PT_ANY;
}

const char *thr_doc_sql_type(int eKind) {
  static const char *const azSqlType[] = {"",     "TEXT",    "INTEGER",
                                          "REAL", "INTEGER", "TEXT"};
  return eKind >= 0 && eKind <= THR_PT_JSON ? azSqlType[eKind] : "";
}
