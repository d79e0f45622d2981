/*
** schema_compile.c: thr_schema_compile(), schema text to schema_nodes.
**
** thr_schema_compile() parses the schema text with jansson and turns every
** subschema into a schema_node.  Keyword values are type-checked once, so
** that the checker never meets a malformed keyword; patterns are compiled
** with pcre2; "$ref"s are resolved to nodes (schema_ref.c).  It works in
** two passes:
**
**   1. A walk over every subschema in a schema position (the values of
**      "properties", "items", "definitions", "allOf", ... but not of "enum",
**      "const" or unknown keywords).  It compiles each node and records
**      every "$id" with the base URI it establishes, so that a "$ref"
**      anywhere may name an identifier that appears later in the document.
**   2. Resolution of every "$ref" (schema_ref.c).  A target outside the
**      schema positions of pass 1 is compiled on demand, which may add more
**      references to resolve, so pass 2 runs until no node is left over.
**
** As draft-07 says, a schema with "$ref" is nothing but the reference: its
** other keywords (including "$id") are neither checked nor validated.  Its
** "definitions" are still walked, as a container of subschemas that other
** references may point into.
**
** Nodes, strings and arrays made while compiling live until
** thr_schema_free(); the pool (apMem) records them.
*/
#include "schema_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keyword names, in the order of the KW_ enum. */
const char *const thr_schema_azKw[KW_COUNT] = {
    "",
    "$ref",
    "$id",
    "$schema",
    "definitions",
    "type",
    "enum",
    "const",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "format",
    "items",
    "additionalItems",
    "maxItems",
    "minItems",
    "uniqueItems",
    "contains",
    "maxProperties",
    "minProperties",
    "required",
    "properties",
    "patternProperties",
    "additionalProperties",
    "dependencies",
    "propertyNames",
    "if",
    "then",
    "else",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "contentEncoding",
    "contentMediaType",
};

void *thr_schema_keep(thr_schema *p, void *pMem) {
  if (pMem == NULL) {
    return NULL;
  }
  if (p->nMem >= p->nMemAlloc) {
    int nNew = p->nMemAlloc ? p->nMemAlloc * 2 : 32;
    void **apNew = sqlite3_realloc64(p->apMem, nNew * sizeof(void *));
    if (apNew == NULL) {
      sqlite3_free(pMem);
      return NULL;
    }
    p->apMem = apNew;
    p->nMemAlloc = nNew;
  }
  p->apMem[p->nMem++] = pMem;
  return pMem;
}

/* Zeroed pool memory, or NULL on OOM. */
void *thr_schema_alloc(thr_schema *p, size_t n) {
  void *pMem = sqlite3_malloc64(n ? n : 1);
  if (pMem) {
    memset(pMem, 0, n ? n : 1);
  }
  return thr_schema_keep(p, pMem);
}

char *thr_schema_mprintf(thr_schema *p, const char *zFmt, ...) {
  va_list ap;
  char *z;
  va_start(ap, zFmt);
  z = sqlite3_vmprintf(zFmt, ap);
  va_end(ap);
  return thr_schema_keep(p, z);
}

/* "zLoc/token" with the token escaped, in the pool. */
const char *thr_schema_loc(thr_schema *p, const char *zLoc, const char *z,
                           size_t n) {
  schema_buf b = {0, 0, 0, SQLITE_OK};
  thr_schema_buf_puts(&b, zLoc);
  thr_schema_buf_append(&b, "/", 1);
  thr_schema_buf_token(&b, z, n);
  if (b.rc != SQLITE_OK) {
    sqlite3_free(b.z);
    return NULL;
  }
  return thr_schema_keep(p, b.z);
}

const char *thr_schema_loc_index(thr_schema *p, const char *zLoc, size_t i) {
  return thr_schema_mprintf(p, "%s/%llu", zLoc, (unsigned long long)i);
}

static int schema_cc_vfail(schema_cc *cc, const char *zWhat, const char *zLoc,
                           const char *zFmt, va_list ap) {
  char *zWhy = sqlite3_vmprintf(zFmt, ap);
  if (zWhy == NULL) {
    return SQLITE_NOMEM;
  }
  if (cc->zErr == NULL) {
    cc->zErr = sqlite3_mprintf("%s: %s: %s", zWhat, zLoc ? zLoc : "", zWhy);
  }
  sqlite3_free(zWhy);
  return cc->zErr ? SQLITE_ERROR : SQLITE_NOMEM;
}

int thr_schema_cc_error(schema_cc *cc, const char *zLoc, const char *zFmt,
                        ...) {
  va_list ap;
  int rc;
  va_start(ap, zFmt);
  rc = schema_cc_vfail(cc, "invalid schema", zLoc, zFmt, ap);
  va_end(ap);
  return rc;
}

int thr_schema_cc_limit(schema_cc *cc, const char *zLoc, const char *zFmt,
                        ...) {
  va_list ap;
  int rc;
  va_start(ap, zFmt);
  rc = schema_cc_vfail(cc, "schema too complex", zLoc, zFmt, ap);
  va_end(ap);
  return rc;
}

static unsigned schema_hash_ptr(const void *pv) {
  uintptr_t v = (uintptr_t)pv;
  v ^= v >> 17;
  v *= 0x9e3779b1u;
  return (unsigned)(v ^ (v >> 15));
}

static schema_node *schema_node_find(const thr_schema *p, const json_t *pJson) {
  unsigned h;
  if (p->nHash == 0) {
    return NULL;
  }
  for (h = schema_hash_ptr(pJson) & (p->nHash - 1); p->aHash[h];
       h = (h + 1) & (p->nHash - 1)) {
    if (p->aHash[h]->pJson == pJson) {
      return p->aHash[h];
    }
  }
  return NULL;
}

static void schema_hash_insert(thr_schema *p, schema_node *pNode) {
  unsigned h = schema_hash_ptr(pNode->pJson) & (p->nHash - 1);
  while (p->aHash[h]) {
    h = (h + 1) & (p->nHash - 1);
  }
  p->aHash[h] = pNode;
}

/* A new node for pJson, in apNode[] and the hash.  NULL on OOM. */
static schema_node *schema_node_new(thr_schema *p, const json_t *pJson) {
  schema_node *pNode;
  if ((unsigned)(p->nNode + 1) * 2 > p->nHash) {
    unsigned nNew = p->nHash ? p->nHash * 2 : 64, i;
    schema_node **aNew = sqlite3_malloc64(nNew * sizeof(schema_node *));
    if (aNew == NULL) {
      return NULL;
    }
    memset(aNew, 0, nNew * sizeof(schema_node *));
    sqlite3_free(p->aHash);
    p->aHash = aNew;
    p->nHash = nNew;
    for (i = 0; i < (unsigned)p->nNode; i++) {
      schema_hash_insert(p, p->apNode[i]);
    }
  }
  if (p->nNode >= p->nNodeAlloc) {
    int nNew = p->nNodeAlloc ? p->nNodeAlloc * 2 : 32;
    schema_node **apNew =
        sqlite3_realloc64(p->apNode, nNew * sizeof(schema_node *));
    if (apNew == NULL) {
      return NULL;
    }
    p->apNode = apNew;
    p->nNodeAlloc = nNew;
  }
  pNode = sqlite3_malloc64(sizeof(*pNode));
  if (pNode == NULL) {
    return NULL;
  }
  memset(pNode, 0, sizeof(*pNode));
  pNode->pJson = pJson;
  pNode->nMaxLength = pNode->nMaxItems = pNode->nMaxProps = -1;
  p->apNode[p->nNode++] = pNode;
  schema_hash_insert(p, pNode);
  return pNode;
}

/* Compile the subschema pJson found at zLoc inside pNode. */
static int schema_child(schema_cc *cc, schema_node *pNode, const json_t *pJson,
                        const char *zLoc, schema_node **ppChild) {
  if (zLoc == NULL) {
    return SQLITE_NOMEM;
  }
  return thr_schema_compile_node(cc, pJson, pNode->zBase, zLoc, ppChild);
}

/* An array of subschemas ("allOf", "items" as an array, ...). */
static int schema_child_array(schema_cc *cc, schema_node *pNode,
                              const json_t *pArr, const char *zLoc,
                              schema_node ***papChild, int *pnChild) {
  size_t i, n = json_array_size(pArr);
  schema_node **ap = thr_schema_alloc(cc->p, n * sizeof(schema_node *));
  if (ap == NULL) {
    return SQLITE_NOMEM;
  }
  for (i = 0; i < n; i++) {
    int rc = schema_child(cc, pNode, json_array_get(pArr, i),
                          thr_schema_loc_index(cc->p, zLoc, i), &ap[i]);
    if (rc != SQLITE_OK) {
      return rc;
    }
  }
  *papChild = ap;
  *pnChild = (int)n;
  return SQLITE_OK;
}

/* A non-negative integer keyword value (1.0 counts) into *pN. */
static int schema_count_value(schema_cc *cc, const json_t *pVal,
                              const char *zLoc, sqlite3_int64 *pN) {
  if (!thr_schema_is_integral(pVal) ||
      (json_is_integer(pVal) && json_integer_value(pVal) < 0) ||
      (json_is_real(pVal) && json_real_value(pVal) < 0)) {
    return thr_schema_cc_error(cc, zLoc, "must be a non-negative integer");
  }
  if (json_is_integer(pVal)) {
    *pN = json_integer_value(pVal);
  } else {
    double d = json_real_value(pVal);
    *pN = d >= 9.2e18 ? (sqlite3_int64)9200000000000000000LL : (sqlite3_int64)d;
  }
  return SQLITE_OK;
}

/* One name of a "required" array, for the search for duplicates. */
typedef struct schema_name schema_name;
struct schema_name {
  const char *z;
  size_t n;
  size_t i; /* its index in the array */
};

/* By bytes, then by index. */
static int schema_name_cmp(const void *a, const void *b) {
  const schema_name *x = a, *y = b;
  int c = memcmp(x->z, y->z, x->n < y->n ? x->n : y->n);
  if (c == 0 && x->n != y->n) {
    c = x->n < y->n ? -1 : 1;
  }
  if (c == 0 && x->i != y->i) {
    c = x->i < y->i ? -1 : 1;
  }
  return c;
}

/* An array of unique strings ("required", dependencies' array form).  The
** failure reported is the first a scan in array order meets: an item that
** is not a string, or a name equal to an earlier one.  Duplicates are
** found by sorting (O(n log n)), so that a long array costs little. */
static int schema_names_value(schema_cc *cc, const json_t *pVal,
                              const char *zLoc) {
  size_t i, k, n = json_array_size(pVal), nStr, iDup;
  schema_name *a;
  if (!json_is_array(pVal)) {
    return thr_schema_cc_error(cc, zLoc, "must be an array of strings");
  }
  for (nStr = 0; nStr < n; nStr++) {
    if (!json_is_string(json_array_get(pVal, nStr))) {
      break;
    }
  }
  iDup = nStr; /* none */
  if (nStr > 1) {
    a = sqlite3_malloc64(nStr * sizeof(schema_name));
    if (a == NULL) {
      return SQLITE_NOMEM;
    }
    for (i = 0; i < nStr; i++) {
      const json_t *pName = json_array_get(pVal, i);
      a[i].z = json_string_value(pName);
      a[i].n = json_string_length(pName);
      a[i].i = i;
    }
    qsort(a, nStr, sizeof(schema_name), schema_name_cmp);
    for (k = 1; k < nStr; k++) {
      if (a[k].n == a[k - 1].n && memcmp(a[k].z, a[k - 1].z, a[k].n) == 0 &&
          a[k].i < iDup) {
        iDup = a[k].i; /* a[k - 1] is an earlier equal name */
      }
    }
    sqlite3_free(a);
  }
  if (iDup < nStr) {
    const json_t *pName = json_array_get(pVal, iDup);
    char *zName = thr_schema_keep(
        cc->p, thr_schema_render_name(json_string_value(pName),
                                      json_string_length(pName)));
    return thr_schema_cc_error(cc, thr_schema_loc_index(cc->p, zLoc, iDup),
                               "duplicate name %s", zName ? zName : "");
  }
  if (nStr < n) {
    return thr_schema_cc_error(cc, thr_schema_loc_index(cc->p, zLoc, nStr),
                               "must be a string");
  }
  return SQLITE_OK;
}

/* Compile a pattern into the schema's list of regular expressions. */
static int schema_pattern(schema_cc *cc, const char *z, size_t n,
                          const char *zLoc, pcre2_code **ppRe) {
  thr_schema *p = cc->p;
  char *zErr = NULL;
  int bNoMem = 0, rc;
  pcre2_code *pRe;
  *ppRe = NULL;
  if (zLoc == NULL) {
    return SQLITE_NOMEM;
  }
  pRe = thr_schema_regex_compile(z, n, 1, &zErr, &bNoMem);
  if (pRe == NULL) {
    if (bNoMem) {
      sqlite3_free(zErr);
      return SQLITE_NOMEM;
    }
    rc = thr_schema_cc_error(cc, zLoc, "%s", zErr);
    sqlite3_free(zErr);
    return rc;
  }
  if (p->nRe >= p->nReAlloc) {
    int nNew = p->nReAlloc ? p->nReAlloc * 2 : 8;
    pcre2_code **apNew =
        sqlite3_realloc64(p->apRe, nNew * sizeof(pcre2_code *));
    if (apNew == NULL) {
      pcre2_code_free(pRe);
      return SQLITE_NOMEM;
    }
    p->apRe = apNew;
    p->nReAlloc = nNew;
  }
  p->apRe[p->nRe++] = pRe;
  *ppRe = pRe;
  return SQLITE_OK;
}

int thr_schema_prop_cmp(const void *a, const void *b) {
  const schema_prop *x = a, *y = b;
  size_t n = x->nName < y->nName ? x->nName : y->nName;
  int c = memcmp(x->zName, y->zName, n);
  if (c != 0) {
    return c;
  }
  return x->nName < y->nName ? -1 : (x->nName > y->nName ? 1 : 0);
}

static int schema_keyword_id(const char *zKey, size_t nKey) {
  int i;
  for (i = 1; i < KW_COUNT; i++) {
    if (strlen(thr_schema_azKw[i]) == nKey &&
        memcmp(thr_schema_azKw[i], zKey, nKey) == 0) {
      return i;
    }
  }
  return KW_NONE;
}

/* Check and compile one keyword of pNode.  zLoc is the keyword's own
** location. */
static int schema_compile_kw(schema_cc *cc, schema_node *pNode, int eKw,
                             const json_t *pVal, const char *zLoc) {
  thr_schema *p = cc->p;
  int rc = SQLITE_OK, bCheck = 1;
  const char *zKey;
  size_t nKey, i;
  json_t *pMember;
  switch (eKw) {
  case KW_REF:
    if (!json_is_string(pVal)) {
      return thr_schema_cc_error(cc, zLoc, "must be a string");
    }
    pNode->zRef = json_string_value(pVal);
    pNode->zRefUri =
        thr_schema_keep(p, thr_schema_uri_join(pNode->zBase, pNode->zRef));
    if (pNode->zRefUri == NULL) {
      return SQLITE_NOMEM;
    }
    bCheck = 0; /* resolved and applied apart from the keyword list */
    break;
  case KW_ID: /* handled by thr_schema_apply_id() */
    bCheck = 0;
    break;
  case KW_THEN: /* applied by "if" */
    rc = schema_child(cc, pNode, pVal, zLoc, &pNode->pThen);
    bCheck = 0;
    break;
  case KW_ELSE:
    rc = schema_child(cc, pNode, pVal, zLoc, &pNode->pElse);
    bCheck = 0;
    break;
  case KW_SCHEMA:
    if (!json_is_string(pVal)) {
      return thr_schema_cc_error(cc, zLoc, "must be a string");
    }
    bCheck = 0;
    break;
  case KW_DEFINITIONS:
    if (!json_is_object(pVal)) {
      return thr_schema_cc_error(cc, zLoc, "must be an object");
    }
    json_object_keylen_foreach((json_t *)pVal, zKey, nKey, pMember) {
      schema_node *pChild;
      rc = schema_child(cc, pNode, pMember, thr_schema_loc(p, zLoc, zKey, nKey),
                        &pChild);
      if (rc != SQLITE_OK) {
        return rc;
      }
    }
    bCheck = 0;
    break;
  case KW_TYPE:
    if (json_is_string(pVal) || json_is_array(pVal)) {
      size_t n = json_is_string(pVal) ? 1 : json_array_size(pVal);
      if (n == 0) {
        return thr_schema_cc_error(cc, zLoc, "must not be an empty array");
      }
      for (i = 0; i < n; i++) {
        const json_t *pName =
            json_is_string(pVal) ? pVal : json_array_get(pVal, i);
        const char *zItemLoc =
            json_is_string(pVal) ? zLoc : thr_schema_loc_index(p, zLoc, i);
        int iType;
        if (!json_is_string(pName)) {
          return thr_schema_cc_error(cc, zItemLoc, "must be a string");
        }
        for (iType = 0; iType < SCHEMA_NTYPE; iType++) {
          if (strcmp(json_string_value(pName), thr_schema_azType[iType]) == 0) {
            break;
          }
        }
        if (iType == SCHEMA_NTYPE) {
          char *zName = thr_schema_keep(
              p, thr_schema_render_name(json_string_value(pName),
                                        json_string_length(pName)));
          return thr_schema_cc_error(cc, zItemLoc, "unknown type %s",
                                     zName ? zName : "");
        }
        if (pNode->mType & (1u << iType)) {
          return thr_schema_cc_error(cc, zItemLoc, "duplicate type \"%s\"",
                                     thr_schema_azType[iType]);
        }
        pNode->mType |= 1u << iType;
        pNode->aType[pNode->nType++] = (unsigned char)iType;
      }
    } else {
      return thr_schema_cc_error(
          cc, zLoc, "must be a type name or an array of type names");
    }
    break;
  case KW_ENUM:
    if (!json_is_array(pVal)) {
      return thr_schema_cc_error(cc, zLoc, "must be an array");
    }
    pNode->pEnum = pVal;
    break;
  case KW_CONST:
    pNode->pConst = pVal;
    break;
  case KW_MULTIPLEOF: {
    sqlite3_int64 nStep = 0; /* compiling is not charged */
    if (!json_is_number(pVal) || json_number_value(pVal) <= 0) {
      return thr_schema_cc_error(cc, zLoc, "must be a number greater than 0");
    }
    pNode->pMultipleOf = pVal;
    thr_schema_decimal(pVal, &pNode->decMultipleOf, &nStep);
    break;
  }
  case KW_MAXIMUM:
  case KW_EXCLMAX:
  case KW_MINIMUM:
  case KW_EXCLMIN:
    if (!json_is_number(pVal)) {
      return thr_schema_cc_error(cc, zLoc, "must be a number");
    }
    if (eKw == KW_MAXIMUM) {
      pNode->pMaximum = pVal;
    } else if (eKw == KW_EXCLMAX) {
      pNode->pExclMax = pVal;
    } else if (eKw == KW_MINIMUM) {
      pNode->pMinimum = pVal;
    } else {
      pNode->pExclMin = pVal;
    }
    break;
  case KW_MAXLENGTH:
    rc = schema_count_value(cc, pVal, zLoc, &pNode->nMaxLength);
    break;
  case KW_MINLENGTH:
    rc = schema_count_value(cc, pVal, zLoc, &pNode->nMinLength);
    break;
  case KW_MAXITEMS:
    rc = schema_count_value(cc, pVal, zLoc, &pNode->nMaxItems);
    break;
  case KW_MINITEMS:
    rc = schema_count_value(cc, pVal, zLoc, &pNode->nMinItems);
    break;
  case KW_MAXPROPS:
    rc = schema_count_value(cc, pVal, zLoc, &pNode->nMaxProps);
    break;
  case KW_MINPROPS:
    rc = schema_count_value(cc, pVal, zLoc, &pNode->nMinProps);
    break;
  case KW_PATTERN:
    if (!json_is_string(pVal)) {
      return thr_schema_cc_error(cc, zLoc, "must be a string");
    }
    pNode->zPattern = json_string_value(pVal);
    rc = schema_pattern(cc, json_string_value(pVal), json_string_length(pVal),
                        zLoc, &pNode->pPattern);
    break;
  case KW_FORMAT:
    if (!json_is_string(pVal)) {
      return thr_schema_cc_error(cc, zLoc, "must be a string");
    }
    pNode->eFormat =
        thr_schema_format_id(json_string_value(pVal), &pNode->zFormat);
    bCheck = pNode->eFormat != FMT_NONE; /* unknown formats pass */
    break;
  case KW_ITEMS:
    if (json_is_array(pVal)) {
      if (json_array_size(pVal) == 0) {
        return thr_schema_cc_error(cc, zLoc, "must not be an empty array");
      }
      pNode->bItemsArray = 1;
      rc = schema_child_array(cc, pNode, pVal, zLoc, &pNode->apItems,
                              &pNode->nItems);
    } else if (json_is_object(pVal) || json_is_boolean(pVal)) {
      rc = schema_child(cc, pNode, pVal, zLoc, &pNode->pItems);
    } else {
      return thr_schema_cc_error(cc, zLoc,
                                 "must be a schema or an array of schemas");
    }
    break;
  case KW_ADDITEMS:
    rc = schema_child(cc, pNode, pVal, zLoc, &pNode->pAddItems);
    break;
  case KW_CONTAINS:
    rc = schema_child(cc, pNode, pVal, zLoc, &pNode->pContains);
    break;
  case KW_ADDPROPS:
    rc = schema_child(cc, pNode, pVal, zLoc, &pNode->pAddProps);
    break;
  case KW_PROPNAMES:
    rc = schema_child(cc, pNode, pVal, zLoc, &pNode->pPropNames);
    break;
  case KW_IF:
    rc = schema_child(cc, pNode, pVal, zLoc, &pNode->pIf);
    break;
  case KW_NOT:
    rc = schema_child(cc, pNode, pVal, zLoc, &pNode->pNot);
    break;
  case KW_UNIQUE:
    if (!json_is_boolean(pVal)) {
      return thr_schema_cc_error(cc, zLoc, "must be a boolean");
    }
    pNode->bUnique = json_is_true(pVal);
    bCheck = pNode->bUnique;
    break;
  case KW_REQUIRED:
    rc = schema_names_value(cc, pVal, zLoc);
    pNode->pRequired = pVal;
    bCheck = json_array_size(pVal) > 0;
    break;
  case KW_PROPERTIES: {
    size_t n = json_object_size(pVal);
    if (!json_is_object(pVal)) {
      return thr_schema_cc_error(cc, zLoc, "must be an object");
    }
    pNode->aProp = thr_schema_alloc(p, n * sizeof(schema_prop));
    if (pNode->aProp == NULL) {
      return SQLITE_NOMEM;
    }
    json_object_keylen_foreach((json_t *)pVal, zKey, nKey, pMember) {
      schema_prop *pProp = &pNode->aProp[pNode->nProp];
      pProp->zName = zKey;
      pProp->nName = nKey;
      rc = schema_child(cc, pNode, pMember, thr_schema_loc(p, zLoc, zKey, nKey),
                        &pProp->pNode);
      if (rc != SQLITE_OK) {
        return rc;
      }
      pNode->nProp++;
    }
    qsort(pNode->aProp, (size_t)pNode->nProp, sizeof(schema_prop),
          thr_schema_prop_cmp);
    break;
  }
  case KW_PATTERNPROPS: {
    size_t n = json_object_size(pVal);
    if (!json_is_object(pVal)) {
      return thr_schema_cc_error(cc, zLoc, "must be an object");
    }
    pNode->aPProp = thr_schema_alloc(p, n * sizeof(schema_pprop));
    if (pNode->aPProp == NULL) {
      return SQLITE_NOMEM;
    }
    json_object_keylen_foreach((json_t *)pVal, zKey, nKey, pMember) {
      schema_pprop *pPP = &pNode->aPProp[pNode->nPProp];
      const char *zMemberLoc = thr_schema_loc(p, zLoc, zKey, nKey);
      rc = schema_pattern(cc, zKey, nKey, zMemberLoc, &pPP->pRe);
      if (rc == SQLITE_OK) {
        rc = schema_child(cc, pNode, pMember, zMemberLoc, &pPP->pNode);
      }
      if (rc != SQLITE_OK) {
        return rc;
      }
      pNode->nPProp++;
    }
    break;
  }
  case KW_DEPENDENCIES: {
    size_t n = json_object_size(pVal);
    if (!json_is_object(pVal)) {
      return thr_schema_cc_error(cc, zLoc, "must be an object");
    }
    pNode->aDep = thr_schema_alloc(p, n * sizeof(schema_dep));
    if (pNode->aDep == NULL) {
      return SQLITE_NOMEM;
    }
    json_object_keylen_foreach((json_t *)pVal, zKey, nKey, pMember) {
      schema_dep *pDep = &pNode->aDep[pNode->nDep];
      const char *zMemberLoc = thr_schema_loc(p, zLoc, zKey, nKey);
      if (zMemberLoc == NULL) {
        return SQLITE_NOMEM;
      }
      pDep->zName = zKey;
      pDep->nName = nKey;
      if (json_is_array(pMember)) {
        rc = schema_names_value(cc, pMember, zMemberLoc);
        pDep->pNames = pMember;
      } else if (json_is_object(pMember) || json_is_boolean(pMember)) {
        rc = schema_child(cc, pNode, pMember, zMemberLoc, &pDep->pNode);
      } else {
        rc = thr_schema_cc_error(cc, zMemberLoc,
                                 "must be a schema or an array of strings");
      }
      if (rc != SQLITE_OK) {
        return rc;
      }
      pNode->nDep++;
    }
    break;
  }
  case KW_ALLOF:
  case KW_ANYOF:
  case KW_ONEOF:
    if (!json_is_array(pVal) || json_array_size(pVal) == 0) {
      return thr_schema_cc_error(cc, zLoc,
                                 "must be a non-empty array of schemas");
    }
    if (eKw == KW_ALLOF) {
      rc = schema_child_array(cc, pNode, pVal, zLoc, &pNode->apAll,
                              &pNode->nAll);
    } else if (eKw == KW_ANYOF) {
      rc = schema_child_array(cc, pNode, pVal, zLoc, &pNode->apAny,
                              &pNode->nAny);
    } else {
      rc = schema_child_array(cc, pNode, pVal, zLoc, &pNode->apOne,
                              &pNode->nOne);
    }
    break;
  case KW_CONTENTENC:
  case KW_CONTENTTYPE:
    if (!json_is_string(pVal)) {
      return thr_schema_cc_error(cc, zLoc, "must be a string");
    }
    if (eKw == KW_CONTENTENC) {
      pNode->bBase64 = sqlite3_stricmp(json_string_value(pVal), "base64") == 0;
      bCheck = pNode->bBase64;
    } else {
      /* The media type without parameters ("; charset=utf-8"). */
      const char *z = json_string_value(pVal);
      size_t n = strcspn(z, "; \t");
      pNode->bJsonContent =
          n == 16 && sqlite3_strnicmp(z, "application/json", 16) == 0;
      bCheck = pNode->bJsonContent;
    }
    break;
  default:
    bCheck = 0;
    break;
  }
  if (rc == SQLITE_OK && bCheck) {
    pNode->aKw[pNode->nKw++] = (unsigned char)eKw;
  }
  return rc;
}

/* Compile subschema pJson (at zLoc, under base zBase) unless it already
** is.  *ppNode gets the node. */
int thr_schema_compile_node(schema_cc *cc, const json_t *pJson,
                            const char *zBase, const char *zLoc,
                            schema_node **ppNode) {
  thr_schema *p = cc->p;
  schema_node *pNode;
  const char *zKey;
  size_t nKey;
  json_t *pVal;
  int rc = SQLITE_OK, bRef;

  *ppNode = schema_node_find(p, pJson);
  if (*ppNode) {
    return SQLITE_OK;
  }
  if (!json_is_object(pJson) && !json_is_boolean(pJson)) {
    return thr_schema_cc_error(cc, zLoc, "must be an object or a boolean");
  }
  if (cc->nDepth >= SCHEMA_MAX_NESTING) {
    return thr_schema_cc_limit(cc, zLoc,
                               "subschemas nested deeper than %d levels "
                               "(limit %d)",
                               SCHEMA_MAX_NESTING, SCHEMA_MAX_NESTING);
  }
  if (p->nNode >= SCHEMA_MAX_EXPANSION) {
    /* Every subschema counts at least once in the expansion; this stops a
    ** schema of unreferenced definitions from costing memory without
    ** end. */
    return thr_schema_cc_limit(cc, zLoc, "more than %d subschemas (limit %d)",
                               SCHEMA_MAX_EXPANSION, SCHEMA_MAX_EXPANSION);
  }
  pNode = schema_node_new(p, pJson);
  if (pNode == NULL) {
    return SQLITE_NOMEM;
  }
  pNode->zLoc = zLoc;
  pNode->zBase = zBase;
  *ppNode = pNode;
  if (json_is_boolean(pJson)) {
    pNode->eBool = json_is_true(pJson) ? 1 : 2;
    return SQLITE_OK;
  }
  rc = thr_schema_apply_id(cc, pJson, zBase, zLoc, &pNode->zBase);
  if (rc != SQLITE_OK) {
    return rc;
  }
  bRef = json_object_get(pJson, "$ref") != NULL;
  cc->nDepth++;
  json_object_keylen_foreach((json_t *)pJson, zKey, nKey, pVal) {
    int eKw = schema_keyword_id(zKey, nKey);
    const char *zKwLoc;
    if (eKw == KW_NONE) {
      continue;
    }
    if (bRef && eKw != KW_REF && eKw != KW_DEFINITIONS) {
      continue; /* draft-07: "$ref" siblings are ignored */
    }
    zKwLoc = thr_schema_loc(p, zLoc, zKey, nKey);
    if (zKwLoc == NULL) {
      rc = SQLITE_NOMEM;
      break;
    }
    rc = schema_compile_kw(cc, pNode, eKw, pVal, zKwLoc);
    if (rc != SQLITE_OK) {
      break;
    }
  }
  cc->nDepth--;
  return rc;
}

void thr_schema_free(thr_schema *p) {
  int i;
  if (p == NULL) {
    return;
  }
  for (i = 0; i < p->nNode; i++) {
    sqlite3_free(p->apNode[i]);
  }
  for (i = 0; i < p->nRe; i++) {
    pcre2_code_free(p->apRe[i]);
  }
  for (i = 0; i < p->nMem; i++) {
    sqlite3_free(p->apMem[i]);
  }
  sqlite3_free(p->apNode);
  sqlite3_free(p->aHash);
  sqlite3_free(p->aRes);
  sqlite3_free(p->apRe);
  sqlite3_free(p->apMem);
  sqlite3_free(p->aResHash);
  pcre2_match_context_free(p->pMatchCtx);
  json_decref(p->pRoot);
  json_decref(p->pMeta);
  sqlite3_free(p);
}

int thr_schema_compile(const char *zSchema, thr_schema **ppSchema,
                       char **pzErr) {
  thr_schema *p;
  schema_cc cc;
  json_error_t err;
  int rc, i;

  *ppSchema = NULL;
  *pzErr = NULL;
  p = sqlite3_malloc64(sizeof(*p));
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  memset(p, 0, sizeof(*p));
  memset(&cc, 0, sizeof(cc));
  cc.p = p;

  /* Integers beyond 64 bits are still JSON: read them as reals then. */
  p->pRoot = json_loads(zSchema ? zSchema : "",
                        JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
  if (p->pRoot == NULL &&
      json_error_code(&err) == json_error_numeric_overflow) {
    p->pRoot = json_loads(
        zSchema, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL,
        &err);
  }
  if (p->pRoot == NULL) {
    thr_schema_free(p);
    if (json_error_code(&err) == json_error_out_of_memory) {
      return SQLITE_NOMEM;
    }
    *pzErr =
        sqlite3_mprintf("invalid schema: not JSON: %s (line %d, column %d)",
                        err.text, err.line, err.column);
    return *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
  }
  p->pMatchCtx = thr_schema_match_context();
  if (p->pMatchCtx == NULL) {
    thr_schema_free(p);
    return SQLITE_NOMEM;
  }

  /* Pass 1: walk and record identifiers.  Pass 2: resolve references,
  ** which may compile (and so append) more nodes.  Then measure what the
  ** schema may cost (schema_limits.c). */
  cc.bRegister = 1;
  rc = thr_schema_compile_node(&cc, p->pRoot, "", "", &p->pTop);
  if (rc == SQLITE_OK && p->pTop->eBool == 0) {
    /* The root is a resource under its own base, "" if it has no "$id". */
    rc = thr_schema_res_add(p, p->pTop->zBase, p->pRoot, p->pTop->zBase, "");
  }
  cc.bRegister = 0;
  for (i = 0; rc == SQLITE_OK && i < p->nNode; i++) {
    schema_node *pNode = p->apNode[i];
    if (pNode->zRefUri && pNode->pRef == NULL && pNode->zRemote == NULL) {
      rc = thr_schema_resolve(&cc, pNode);
    }
  }
  if (rc == SQLITE_OK) {
    rc = thr_schema_measure(&cc);
  }
  if (rc != SQLITE_OK) {
    thr_schema_free(p);
    if (rc == SQLITE_NOMEM) {
      sqlite3_free(cc.zErr);
      return SQLITE_NOMEM;
    }
    *pzErr = cc.zErr;
    return SQLITE_ERROR;
  }
  *ppSchema = p;
  return SQLITE_OK;
}

const json_t *thr_schema_json(const thr_schema *p) {
  return p ? p->pRoot : NULL;
}
