/*
** schema_ref.c: "$id" and "$ref".
**
** Every "$id" met in pass 1 of the compilation is recorded with the base
** URI it establishes (a resource, or a plain-name fragment "#foo").  A
** "$ref" is joined to the base URI in effect (RFC 3986 section 5.2,
** schema_uri.c), then looked up among the recorded identifiers, and its
** fragment is followed as a JSON pointer or matched as a plain-name
** identifier.  A pointer may lead outside the schema positions of pass 1
** (say into an unknown keyword); such targets are compiled on demand.
**
** A "$ref" to another document cannot be followed (we fetch nothing), with
** one exception: the draft-07 meta-schema, which is built in because
** schemas commonly refer to it.  Other absolute URIs compile, and checking
** an instance that reaches them fails with
**   "<ptr>: $ref: remote references are not supported (<url>)".
*/
#include "schema_int.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a of an identifier. */
static unsigned schema_res_hash(const char *z) {
  unsigned h = 2166136261u;
  while (*z) {
    h = (h ^ (unsigned char)*z++) * 16777619u;
  }
  return h;
}

/* The identifiers are found through a hash of their keys, so that a schema
** with many "$id"s and "$ref"s compiles in time linear in its size. */
static schema_res *schema_res_find(const thr_schema *p, const char *zKey) {
  unsigned h;
  if (p->nResHash == 0) {
    return NULL;
  }
  for (h = schema_res_hash(zKey) & (p->nResHash - 1); p->aResHash[h];
       h = (h + 1) & (p->nResHash - 1)) {
    schema_res *pRes = &p->aRes[p->aResHash[h] - 1];
    if (strcmp(pRes->zKey, zKey) == 0) {
      return pRes;
    }
  }
  return NULL;
}

static void schema_res_hash_insert(thr_schema *p, int iRes) {
  unsigned h = schema_res_hash(p->aRes[iRes].zKey) & (p->nResHash - 1);
  while (p->aResHash[h]) {
    h = (h + 1) & (p->nResHash - 1);
  }
  p->aResHash[h] = iRes + 1;
}

/* Record an identifier.  The first of duplicates wins. */
int thr_schema_res_add(thr_schema *p, const char *zKey, const json_t *pJson,
                       const char *zBase, const char *zLoc) {
  schema_res *pRes;
  if (schema_res_find(p, zKey)) {
    return SQLITE_OK;
  }
  if ((unsigned)(p->nRes + 1) * 2 > p->nResHash) {
    unsigned nNew = p->nResHash ? p->nResHash * 2 : 16;
    int *aNew = sqlite3_malloc64(nNew * sizeof(int)), i;
    if (aNew == NULL) {
      return SQLITE_NOMEM;
    }
    memset(aNew, 0, nNew * sizeof(int));
    sqlite3_free(p->aResHash);
    p->aResHash = aNew;
    p->nResHash = nNew;
    for (i = 0; i < p->nRes; i++) {
      schema_res_hash_insert(p, i);
    }
  }
  if (p->nRes >= p->nResAlloc) {
    int nNew = p->nResAlloc ? p->nResAlloc * 2 : 8;
    schema_res *aNew = sqlite3_realloc64(p->aRes, nNew * sizeof(schema_res));
    if (aNew == NULL) {
      return SQLITE_NOMEM;
    }
    p->aRes = aNew;
    p->nResAlloc = nNew;
  }
  pRes = &p->aRes[p->nRes++];
  pRes->zKey = zKey;
  pRes->pJson = pJson;
  pRes->zBase = zBase;
  pRes->zLoc = zLoc;
  schema_res_hash_insert(p, p->nRes - 1);
  return SQLITE_OK;
}

/* The base URI inside schema pJson whose parent's base is zBase: changed
** by its "$id" unless a "$ref" makes it ignore its other keywords.  In
** pass 1 the identifier is also recorded.  *pzBase gets a pool string. */
int thr_schema_apply_id(schema_cc *cc, const json_t *pJson, const char *zBase,
                        const char *zLoc, const char **pzBase) {
  thr_schema *p = cc->p;
  const json_t *pId;
  char *zAbs, *zHash;
  *pzBase = zBase;
  if (!json_is_object(pJson) || json_object_get(pJson, "$ref") != NULL) {
    return SQLITE_OK;
  }
  pId = json_object_get(pJson, "$id");
  if (pId == NULL) {
    return SQLITE_OK;
  }
  if (!json_is_string(pId)) {
    return thr_schema_cc_error(cc, thr_schema_loc(p, zLoc, "$id", 3),
                               "must be a string");
  }
  zAbs = thr_schema_keep(p, thr_schema_uri_join(zBase, json_string_value(pId)));
  if (zAbs == NULL) {
    return SQLITE_NOMEM;
  }
  zHash = strchr(zAbs, '#');
  if (zHash) {
    /* "#name" (plain-name fragment) names this schema; a fragment that is
    ** a pointer or empty names nothing more than the resource does. */
    const char *zRes = thr_schema_mprintf(p, "%.*s", (int)(zHash - zAbs), zAbs);
    if (zRes == NULL) {
      return SQLITE_NOMEM;
    }
    if (cc->bRegister && zHash[1] != 0 && zHash[1] != '/') {
      if (thr_schema_res_add(p, zAbs, pJson, zRes, zLoc) != SQLITE_OK) {
        return SQLITE_NOMEM;
      }
    }
    *pzBase = zRes;
    if (json_string_value(pId)[0] == '#') {
      return SQLITE_OK; /* a fragment alone does not make a resource */
    }
  } else {
    *pzBase = zAbs;
  }
  if (cc->bRegister) {
    return thr_schema_res_add(p, *pzBase, pJson, *pzBase, zLoc);
  }
  return SQLITE_OK;
}

/* The draft-07 meta-schema (http://json-schema.org/draft-07/schema). */
static const char zMetaSchema[] =
    "{\"$schema\":\"http://json-schema.org/draft-07/schema#\","
    "\"$id\":\"http://json-schema.org/draft-07/schema#\","
    "\"title\":\"Core schema meta-schema\","
    "\"definitions\":{"
    "\"schemaArray\":{\"type\":\"array\",\"minItems\":1,"
    "\"items\":{\"$ref\":\"#\"}},"
    "\"nonNegativeInteger\":{\"type\":\"integer\",\"minimum\":0},"
    "\"nonNegativeIntegerDefault0\":{\"allOf\":["
    "{\"$ref\":\"#/definitions/nonNegativeInteger\"},{\"default\":0}]},"
    "\"simpleTypes\":{\"enum\":[\"array\",\"boolean\",\"integer\",\"null\","
    "\"number\",\"object\",\"string\"]},"
    "\"stringArray\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
    "\"uniqueItems\":true,\"default\":[]}},"
    "\"type\":[\"object\",\"boolean\"],"
    "\"properties\":{"
    "\"$id\":{\"type\":\"string\",\"format\":\"uri-reference\"},"
    "\"$schema\":{\"type\":\"string\",\"format\":\"uri\"},"
    "\"$ref\":{\"type\":\"string\",\"format\":\"uri-reference\"},"
    "\"$comment\":{\"type\":\"string\"},"
    "\"title\":{\"type\":\"string\"},"
    "\"description\":{\"type\":\"string\"},"
    "\"default\":true,"
    "\"readOnly\":{\"type\":\"boolean\",\"default\":false},"
    "\"writeOnly\":{\"type\":\"boolean\",\"default\":false},"
    "\"examples\":{\"type\":\"array\",\"items\":true},"
    "\"multipleOf\":{\"type\":\"number\",\"exclusiveMinimum\":0},"
    "\"maximum\":{\"type\":\"number\"},"
    "\"exclusiveMaximum\":{\"type\":\"number\"},"
    "\"minimum\":{\"type\":\"number\"},"
    "\"exclusiveMinimum\":{\"type\":\"number\"},"
    "\"maxLength\":{\"$ref\":\"#/definitions/nonNegativeInteger\"},"
    "\"minLength\":{\"$ref\":\"#/definitions/nonNegativeIntegerDefault0\"},"
    "\"pattern\":{\"type\":\"string\",\"format\":\"regex\"},"
    "\"additionalItems\":{\"$ref\":\"#\"},"
    "\"items\":{\"anyOf\":[{\"$ref\":\"#\"},"
    "{\"$ref\":\"#/definitions/schemaArray\"}],\"default\":true},"
    "\"maxItems\":{\"$ref\":\"#/definitions/nonNegativeInteger\"},"
    "\"minItems\":{\"$ref\":\"#/definitions/nonNegativeIntegerDefault0\"},"
    "\"uniqueItems\":{\"type\":\"boolean\",\"default\":false},"
    "\"contains\":{\"$ref\":\"#\"},"
    "\"maxProperties\":{\"$ref\":\"#/definitions/nonNegativeInteger\"},"
    "\"minProperties\":{\"$ref\":\"#/definitions/nonNegativeIntegerDefault0\"},"
    "\"required\":{\"$ref\":\"#/definitions/stringArray\"},"
    "\"additionalProperties\":{\"$ref\":\"#\"},"
    "\"definitions\":{\"type\":\"object\","
    "\"additionalProperties\":{\"$ref\":\"#\"},\"default\":{}},"
    "\"properties\":{\"type\":\"object\","
    "\"additionalProperties\":{\"$ref\":\"#\"},\"default\":{}},"
    "\"patternProperties\":{\"type\":\"object\","
    "\"additionalProperties\":{\"$ref\":\"#\"},"
    "\"propertyNames\":{\"format\":\"regex\"},\"default\":{}},"
    "\"dependencies\":{\"type\":\"object\",\"additionalProperties\":{"
    "\"anyOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#/definitions/stringArray\"}]}},"
    "\"propertyNames\":{\"$ref\":\"#\"},"
    "\"const\":true,"
    "\"enum\":{\"type\":\"array\",\"items\":true},"
    "\"type\":{\"anyOf\":[{\"$ref\":\"#/definitions/simpleTypes\"},"
    "{\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/simpleTypes\"},"
    "\"minItems\":1,\"uniqueItems\":true}]},"
    "\"format\":{\"type\":\"string\"},"
    "\"contentMediaType\":{\"type\":\"string\"},"
    "\"contentEncoding\":{\"type\":\"string\"},"
    "\"if\":{\"$ref\":\"#\"},"
    "\"then\":{\"$ref\":\"#\"},"
    "\"else\":{\"$ref\":\"#\"},"
    "\"allOf\":{\"$ref\":\"#/definitions/schemaArray\"},"
    "\"anyOf\":{\"$ref\":\"#/definitions/schemaArray\"},"
    "\"oneOf\":{\"$ref\":\"#/definitions/schemaArray\"},"
    "\"not\":{\"$ref\":\"#\"}},"
    "\"default\":true}";

/* Load and walk the meta-schema, recording its identifiers. */
static int schema_load_meta(schema_cc *cc) {
  thr_schema *p = cc->p;
  json_error_t err;
  schema_node *pNode;
  int rc, bSave = cc->bRegister;
  p->pMeta = json_loads(zMetaSchema, 0, &err);
  if (p->pMeta == NULL) {
    return SQLITE_NOMEM; /* the text is fixed: only memory can fail */
  }
  cc->bRegister = 1;
  rc = thr_schema_compile_node(cc, p->pMeta, "", SCHEMA_META_URI "#", &pNode);
  cc->bRegister = bSave;
  return rc;
}

/* Resolve pNode's "$ref": set pRef, or zRemote for a document we cannot
** fetch, or fail compilation. */
int thr_schema_resolve(schema_cc *cc, schema_node *pNode) {
  thr_schema *p = cc->p;
  const char *zUri = pNode->zRefUri;
  const char *zHash = strchr(zUri, '#');
  const char *zFrag = zHash ? zHash + 1 : "";
  const char *zRefLoc = thr_schema_loc(p, pNode->zLoc, "$ref", 4);
  char *zDoc;
  schema_res *pRes;
  const json_t *pTarget;
  const char *zBase, *zLoc;
  schema_buf dec = {0, 0, 0, SQLITE_OK};
  int rc;

  if (zRefLoc == NULL) {
    return SQLITE_NOMEM;
  }
  zDoc = thr_schema_mprintf(
      p, "%.*s", (int)(zHash ? zHash - zUri : (long)strlen(zUri)), zUri);
  if (zDoc == NULL) {
    return SQLITE_NOMEM;
  }
  thr_schema_pct_decode(&dec, zFrag, strlen(zFrag));
  thr_schema_buf_append(&dec, "", 0);
  if (dec.rc != SQLITE_OK) {
    return SQLITE_NOMEM;
  }
  thr_schema_keep(p, dec.z);
  if (dec.z == NULL) {
    return SQLITE_NOMEM;
  }

  /* A JSON pointer (or nothing) after the resource, or a plain name. */
  if (dec.n == 0 || dec.z[0] == '/') {
    pRes = schema_res_find(p, zDoc);
  } else {
    pRes = schema_res_find(p, zUri);
  }
  if (pRes == NULL && p->pMeta == NULL && strcmp(zDoc, SCHEMA_META_URI) == 0) {
    rc = schema_load_meta(cc);
    if (rc != SQLITE_OK) {
      return rc;
    }
    pRes = schema_res_find(p, dec.n == 0 || dec.z[0] == '/' ? zDoc : zUri);
  }
  if (pRes == NULL) {
    if (thr_schema_has_scheme(zUri) && schema_res_find(p, zDoc) == NULL) {
      pNode->zRemote = zUri;
      return SQLITE_OK;
    }
    return thr_schema_cc_error(cc, zRefLoc, "cannot resolve %s", pNode->zRef);
  }
  pTarget = pRes->pJson;
  zBase = pRes->zBase;
  zLoc = pRes->zLoc;
  if (dec.n > 0 && dec.z[0] == '/') {
    /* Follow the pointer one token at a time; every schema on the way may
    ** change the base URI. */
    const char *z = dec.z + 1;
    for (;;) {
      schema_buf tok = {0, 0, 0, SQLITE_OK};
      size_t n = strcspn(z, "/"), k;
      const json_t *pNext = NULL;
      for (k = 0; k < n; k++) {
        if (z[k] == '~' && k + 1 < n && (z[k + 1] == '0' || z[k + 1] == '1')) {
          thr_schema_buf_append(&tok, z[k + 1] == '0' ? "~" : "/", 1);
          k++;
        } else {
          thr_schema_buf_append(&tok, z + k, 1);
        }
      }
      thr_schema_buf_append(&tok, "", 0);
      if (tok.rc != SQLITE_OK) {
        sqlite3_free(tok.z);
        return SQLITE_NOMEM;
      }
      if (json_is_object(pTarget)) {
        pNext = json_object_getn(pTarget, tok.z, tok.n);
      } else if (json_is_array(pTarget) && tok.n > 0 &&
                 strspn(tok.z, "0123456789") == tok.n &&
                 (tok.n == 1 || tok.z[0] != '0') && tok.n < 10) {
        pNext = json_array_get(pTarget, (size_t)atol(tok.z));
      }
      zLoc = thr_schema_loc(p, zLoc, tok.z, tok.n);
      sqlite3_free(tok.z);
      if (pNext == NULL) {
        return thr_schema_cc_error(cc, zRefLoc, "cannot resolve %s",
                                   pNode->zRef);
      }
      if (zLoc == NULL) {
        return SQLITE_NOMEM;
      }
      pTarget = pNext;
      if (z[n] == 0) {
        break; /* the target applies its own "$id" when compiled */
      }
      /* A container on the way ("definitions", "properties") may have a
      ** member named "$id" that is a schema, not an identifier: only a
      ** string counts. */
      if (json_is_string(json_object_get(pTarget, "$id"))) {
        rc = thr_schema_apply_id(cc, pTarget, zBase, zLoc, &zBase);
        if (rc != SQLITE_OK) {
          return rc;
        }
      }
      z += n + 1;
    }
  }
  if (!json_is_object(pTarget) && !json_is_boolean(pTarget)) {
    return thr_schema_cc_error(cc, zRefLoc, "%s does not point to a schema",
                               pNode->zRef);
  }
  return thr_schema_compile_node(cc, pTarget, zBase, zLoc, &pNode->pRef);
}
