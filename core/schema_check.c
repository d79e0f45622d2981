/*
** schema_check.c: thr_schema_check(), what each keyword means for an
** instance, and the form of the messages.
**
** thr_schema_check() walks instance and schema together and stops at the
** first failure.  Within one schema object the keywords are evaluated in
** the order in which they appear in the schema text; object members and
** array items in the instance's order.  Messages have the form
** "<JSON pointer into the instance>: <keyword>: <explanation>":
**
**   - applicators whose failure is really a failure below them pass that
**     message through unchanged: "$ref", "properties", "patternProperties",
**     "additionalProperties", "items", "additionalItems", "dependencies"
**     (schema form), "then" and "else";
**   - when the subschema there is literally false the message is given at
**     the parent and names the member: ": additionalProperties: property
**     \"x\" is not allowed", ": items: item 3 is not allowed";
**   - combinators report themselves: "anyOf: the value matches none of the
**     2 subschemas", "oneOf: ...", "not: ...", and "allOf: subschema 1
**     failed: <the inner message>"; likewise "propertyNames: property name
**     \"x\" is invalid: <inner keyword>: <inner explanation>";
**   - a false schema reached in any other way says "<ptr>: false: the
**     schema false rejects every value".
**
** Trial evaluations (anyOf, oneOf, not, if, contains) run "quiet": they
** build no message, only an outcome.  Some failures are not outcomes but
** verdicts on the whole check, and cross combinators unchanged: an
** unsupported remote reference, recursion past the depth guards, a check
** past its step budget, a regular expression past pcre2's limits.
**
** RECURSION AND COST
**
** Subschema applications nest at most SCHEMA_MAX_DEPTH deep, and of those
** at most SCHEMA_MAX_REFS may be "$ref" hops.  A reference cycle that makes
** no progress in the instance ({"$ref": "#"}) meets the second guard; the
** first bounds the C stack whatever the schema's shape.  Every unit of
** work is charged to the check's step budget where it is done
** (thr_schema_charge()); schema_limits.c lists what costs what.
*/
#include "schema_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Code points in UTF-8 text: every byte that does not continue a
** sequence (10xxxxxx) starts one.  Eight bytes at a time: a byte
** continues a sequence when its top bit is set and the next bit is not. */
static sqlite3_int64 schema_utf8_len(const char *z, size_t n) {
  sqlite3_int64 nCont = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, z + i, 8);
    nCont += __builtin_popcountll(w & ~(w << 1) & 0x8080808080808080ull);
  }
  for (; i < n; i++) {
    if (((unsigned char)z[i] & 0xc0) == 0x80) {
      nCont++;
    }
  }
  return (sqlite3_int64)n - nCont;
}

static int schema_vfail(schema_ctx *c, int rc, const char *zKw,
                        const char *zFmt, va_list ap) {
  char *zWhy;
  if (c->nQuiet > 0 && rc == SQLITE_CONSTRAINT) {
    return rc;
  }
  zWhy = sqlite3_vmprintf(zFmt, ap);
  sqlite3_free(c->zErr);
  c->zErr =
      zWhy ? sqlite3_mprintf("%s: %s: %s", c->ptr.z ? c->ptr.z : "", zKw, zWhy)
           : NULL;
  sqlite3_free(zWhy);
  return c->zErr ? rc : SQLITE_NOMEM;
}

/* Fail keyword zKw at the current location.  In quiet mode no text is
** made, so callers check c->nQuiet before rendering values for zFmt. */
static int schema_fail(schema_ctx *c, const char *zKw, const char *zFmt, ...) {
  va_list ap;
  int rc;
  va_start(ap, zFmt);
  rc = schema_vfail(c, SQLITE_CONSTRAINT, zKw, zFmt, ap);
  va_end(ap);
  return rc;
}

/* A failure that ends the whole check, quiet or not. */
static int schema_abort(schema_ctx *c, const char *zKw, const char *zFmt, ...) {
  va_list ap;
  int rc;
  va_start(ap, zFmt);
  rc = schema_vfail(c, SQLITE_ABORT, zKw, zFmt, ap);
  va_end(ap);
  return rc;
}

/* Fail with "<a> <zMid> <b>", both values rendered. */
static int schema_fail_vals(schema_ctx *c, const char *zKw, const json_t *pA,
                            const char *zMid, const json_t *pB) {
  char *zA, *zB;
  int rc;
  if (c->nQuiet > 0) {
    return SQLITE_CONSTRAINT;
  }
  zA = thr_schema_render(pA);
  zB = thr_schema_render(pB);
  rc =
      (zA && zB) ? schema_fail(c, zKw, "%s %s %s", zA, zMid, zB) : SQLITE_NOMEM;
  sqlite3_free(zA);
  sqlite3_free(zB);
  return rc;
}

/* Fail with zFmt about a property name (one %s). */
static int schema_fail_name(schema_ctx *c, const char *zKw, const char *zFmt,
                            const char *zName, size_t nName) {
  char *zQuoted;
  int rc;
  if (c->nQuiet > 0) {
    return SQLITE_CONSTRAINT;
  }
  zQuoted = thr_schema_render_name(zName, nName);
  rc = zQuoted ? schema_fail(c, zKw, zFmt, zQuoted) : SQLITE_NOMEM;
  sqlite3_free(zQuoted);
  return rc;
}

/* Extend the instance pointer; returns the length to restore. */
static size_t schema_ptr_push_key(schema_ctx *c, const char *z, size_t n) {
  size_t nOld = c->ptr.n;
  thr_schema_buf_append(&c->ptr, "/", 1);
  thr_schema_buf_token(&c->ptr, z, n);
  return nOld;
}

static size_t schema_ptr_push_index(schema_ctx *c, size_t i) {
  char zBuf[32];
  size_t nOld = c->ptr.n;
  snprintf(zBuf, sizeof(zBuf), "/%llu", (unsigned long long)i);
  thr_schema_buf_puts(&c->ptr, zBuf);
  return nOld;
}

static int schema_apply(schema_ctx *c, const schema_node *pNode,
                        const json_t *pInst, const char *zKw);

/* 1 if pattern pRe matches (z, n), 0 if not; SQLITE_ABORT or SQLITE_NOMEM
** as a negative number when matching itself fails.  A match costs
** SCHEMA_COST_MATCH steps, one per SCHEMA_COST_BYTES bytes of the subject
** (pcre2 checks its UTF-8), and SCHEMA_COST_CALLOUT per pattern item
** tried (the callout of schema_limits.c); past the budget, or past pcre2's
** own limits, the check ends with a verdict. */
static int schema_match(schema_ctx *c, pcre2_code *pRe, const char *z, size_t n,
                        const char *zKw) {
  PCRE2_UCHAR aMsg[256];
  int rc = thr_schema_charge(
      c, SCHEMA_COST_MATCH + (sqlite3_int64)(n / SCHEMA_COST_BYTES), zKw);
  if (rc != SQLITE_OK) {
    return -rc;
  }
  rc = thr_schema_regex_match(c, pRe, z, n);
  if (rc >= 0) {
    return rc;
  }
  if (rc == PCRE2_ERROR_CALLOUT) {
    return -thr_schema_over_budget(c, zKw);
  }
  if (rc == PCRE2_ERROR_NOMEMORY) {
    return -SQLITE_NOMEM;
  }
  pcre2_get_error_message(rc, aMsg, sizeof(aMsg));
  if (rc == PCRE2_ERROR_MATCHLIMIT) {
    return -schema_abort(c, zKw, "regular expression too costly: %s (limit %d)",
                         (char *)aMsg, SCHEMA_MAX_STEPS);
  }
  if (rc == PCRE2_ERROR_DEPTHLIMIT) {
    return -schema_abort(c, zKw, "regular expression too costly: %s (limit %d)",
                         (char *)aMsg, SCHEMA_RX_DEPTH_LIMIT);
  }
  if (rc == PCRE2_ERROR_HEAPLIMIT) {
    return -schema_abort(c, zKw,
                         "regular expression too costly: %s (limit %d KiB)",
                         (char *)aMsg, SCHEMA_RX_HEAP_LIMIT);
  }
  return -schema_abort(c, zKw, "regular expression failed: %s", (char *)aMsg);
}

/* Apply pChild to a member of the object instance.  A child that is the
** schema false is reported at the object, naming the member. */
static int schema_apply_member(schema_ctx *c, const schema_node *pChild,
                               const json_t *pVal, const char *zKw,
                               const char *zKey, size_t nKey) {
  size_t nOld;
  int rc;
  if (pChild->eBool == 2) {
    return schema_fail_name(c, zKw, "property %s is not allowed", zKey, nKey);
  }
  nOld = schema_ptr_push_key(c, zKey, nKey);
  rc = schema_apply(c, pChild, pVal, zKw);
  thr_schema_buf_truncate(&c->ptr, nOld);
  return c->ptr.rc != SQLITE_OK ? SQLITE_NOMEM : rc;
}

static int schema_apply_item(schema_ctx *c, const schema_node *pChild,
                             const json_t *pVal, const char *zKw, size_t i) {
  size_t nOld;
  int rc;
  if (pChild->eBool == 2) {
    return schema_fail(c, zKw, "item %llu is not allowed",
                       (unsigned long long)i);
  }
  nOld = schema_ptr_push_index(c, i);
  rc = schema_apply(c, pChild, pVal, zKw);
  thr_schema_buf_truncate(&c->ptr, nOld);
  return c->ptr.rc != SQLITE_OK ? SQLITE_NOMEM : rc;
}

/* Evaluate pNode against the instance without a message: SQLITE_OK or
** SQLITE_CONSTRAINT, or a verdict passed on. */
static int schema_try(schema_ctx *c, const schema_node *pNode,
                      const json_t *pInst, const char *zKw) {
  int rc;
  c->nQuiet++;
  rc = schema_apply(c, pNode, pInst, zKw);
  c->nQuiet--;
  return rc;
}

static const char *schema_plural(sqlite3_int64 n, const char *zOne,
                                 const char *zMany) {
  return n == 1 ? zOne : zMany;
}

static int schema_check_type(schema_ctx *c, const schema_node *pNode,
                             const json_t *pInst) {
  unsigned m = thr_schema_type_bit(pInst);
  schema_buf b = {0, 0, 0, SQLITE_OK};
  int i, rc;
  if ((pNode->mType & m) ||
      (m == SCHEMA_T_INTEGER && (pNode->mType & SCHEMA_T_NUMBER))) {
    return SQLITE_OK;
  }
  if (c->nQuiet > 0) {
    return SQLITE_CONSTRAINT;
  }
  for (i = 0; i < pNode->nType; i++) {
    if (i > 0) {
      thr_schema_buf_puts(&b, " or ");
    }
    thr_schema_buf_puts(&b, thr_schema_azType[pNode->aType[i]]);
  }
  if (b.rc != SQLITE_OK) {
    sqlite3_free(b.z);
    return SQLITE_NOMEM;
  }
  rc = schema_fail(c, "type", "expected %s, got %s", b.z,
                   thr_schema_type_name(pInst));
  sqlite3_free(b.z);
  return rc;
}

static int schema_check_string(schema_ctx *c, const schema_node *pNode, int eKw,
                               const json_t *pInst) {
  const char *z = json_string_value(pInst);
  size_t n = json_string_length(pInst);
  switch (eKw) {
  case KW_MAXLENGTH:
  case KW_MINLENGTH: {
    sqlite3_int64 nChar;
    int rc = thr_schema_charge(c, (sqlite3_int64)(n / SCHEMA_COST_BYTES),
                               thr_schema_azKw[eKw]);
    if (rc != SQLITE_OK) {
      return rc;
    }
    nChar = schema_utf8_len(z, n);
    if (eKw == KW_MAXLENGTH && nChar > pNode->nMaxLength) {
      return schema_fail(
          c, "maxLength", "string has %lld %s, at most %lld allowed", nChar,
          schema_plural(nChar, "character", "characters"), pNode->nMaxLength);
    }
    if (eKw == KW_MINLENGTH && nChar < pNode->nMinLength) {
      return schema_fail(
          c, "minLength", "string has %lld %s, at least %lld required", nChar,
          schema_plural(nChar, "character", "characters"), pNode->nMinLength);
    }
    return SQLITE_OK;
  }
  case KW_PATTERN: {
    int m = schema_match(c, pNode->pPattern, z, n, "pattern");
    if (m < 0) {
      return -m;
    }
    if (m == 0) {
      char *zVal, *zPat;
      int rc;
      if (c->nQuiet > 0) {
        return SQLITE_CONSTRAINT;
      }
      zVal = thr_schema_render(pInst);
      zPat = thr_schema_render_name(pNode->zPattern, strlen(pNode->zPattern));
      rc = (zVal && zPat)
               ? schema_fail(c, "pattern", "%s does not match %s", zVal, zPat)
               : SQLITE_NOMEM;
      sqlite3_free(zVal);
      sqlite3_free(zPat);
      return rc;
    }
    return SQLITE_OK;
  }
  case KW_FORMAT: {
    /* The parsers read each byte a few times; "regex" compiles the text. */
    int v = thr_schema_charge(
        c,
        (sqlite3_int64)(n *
                        (pNode->eFormat == FMT_REGEX ? SCHEMA_COST_RXBYTE
                                                     : SCHEMA_COST_FMTBYTE) /
                        SCHEMA_COST_BYTES),
        "format");
    if (v != SQLITE_OK) {
      return v;
    }
    v = thr_schema_format_check(pNode->eFormat, z, n);
    if (v < 0) {
      return SQLITE_NOMEM;
    }
    if (v == 0) {
      char *zVal;
      int rc;
      if (c->nQuiet > 0) {
        return SQLITE_CONSTRAINT;
      }
      zVal = thr_schema_render(pInst);
      rc = zVal ? schema_fail(c, "format", "%s is not a valid %s", zVal,
                              pNode->zFormat)
                : SQLITE_NOMEM;
      sqlite3_free(zVal);
      return rc;
    }
    return SQLITE_OK;
  }
  case KW_CONTENTENC:
  case KW_CONTENTTYPE: {
    schema_buf b = {0, 0, 0, SQLITE_OK};
    const char *zDoc = z;
    size_t nDoc = n;
    /* Decoding reads each byte a few times, parsing JSON many more. */
    int rc = thr_schema_charge(
        c,
        (sqlite3_int64)(n *
                        ((pNode->bBase64 ? SCHEMA_COST_FMTBYTE : 0) +
                         (eKw == KW_CONTENTTYPE && pNode->bJsonContent
                              ? SCHEMA_COST_JSONBYTE
                              : 0)) /
                        SCHEMA_COST_BYTES),
        thr_schema_azKw[eKw]);
    if (rc != SQLITE_OK) {
      return rc;
    }
    if (pNode->bBase64) {
      if (!thr_schema_base64(z, n, &b)) {
        sqlite3_free(b.z);
        return schema_fail(c, "contentEncoding", "string is not valid base64");
      }
      if (b.rc != SQLITE_OK) {
        sqlite3_free(b.z);
        return SQLITE_NOMEM;
      }
      zDoc = b.z ? b.z : "";
      nDoc = b.n;
    }
    if (eKw == KW_CONTENTTYPE && pNode->bJsonContent) {
      json_error_t err;
      json_t *pDoc = json_loadb(
          zDoc, nDoc,
          JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &err);
      if (pDoc == NULL) {
        rc = schema_fail(c, "contentMediaType",
                         "content is not valid application/json");
      }
      json_decref(pDoc);
    }
    sqlite3_free(b.z);
    return rc;
  }
  default:
    return SQLITE_OK;
  }
}

static int schema_check_number(schema_ctx *c, const schema_node *pNode, int eKw,
                               const json_t *pInst) {
  switch (eKw) {
  case KW_MULTIPLEOF: {
    int bMultiple =
        thr_schema_multiple_of(pInst, &pNode->decMultipleOf, &c->nStep);
    int rc = thr_schema_charge(c, 0, "multipleOf");
    if (rc != SQLITE_OK) {
      return rc;
    }
    if (!bMultiple) {
      return schema_fail_vals(c, "multipleOf", pInst, "is not a multiple of",
                              pNode->pMultipleOf);
    }
    break;
  }
  case KW_MAXIMUM:
    if (thr_schema_num_cmp(pInst, pNode->pMaximum) > 0) {
      return schema_fail_vals(c, "maximum", pInst, "is greater than",
                              pNode->pMaximum);
    }
    break;
  case KW_EXCLMAX:
    if (thr_schema_num_cmp(pInst, pNode->pExclMax) >= 0) {
      return schema_fail_vals(c, "exclusiveMaximum", pInst, "is not less than",
                              pNode->pExclMax);
    }
    break;
  case KW_MINIMUM:
    if (thr_schema_num_cmp(pInst, pNode->pMinimum) < 0) {
      return schema_fail_vals(c, "minimum", pInst, "is less than",
                              pNode->pMinimum);
    }
    break;
  case KW_EXCLMIN:
    if (thr_schema_num_cmp(pInst, pNode->pExclMin) <= 0) {
      return schema_fail_vals(c, "exclusiveMinimum", pInst,
                              "is not greater than", pNode->pExclMin);
    }
    break;
  default:
    break;
  }
  return SQLITE_OK;
}

/* Items of a hash-sorted index. */
typedef struct schema_hidx schema_hidx;
struct schema_hidx {
  uint64_t h;
  size_t i;
};

static int schema_hidx_cmp(const void *a, const void *b) {
  const schema_hidx *x = a, *y = b;
  if (x->h != y->h) {
    return x->h < y->h ? -1 : 1;
  }
  return x->i < y->i ? -1 : (x->i > y->i ? 1 : 0);
}

/* uniqueItems for long arrays in O(n log n): sort item indexes by hash and
** compare only within runs of equal hashes.  The pair reported is the one
** the quadratic loop would find first: the smallest j, then smallest i.
** Hashing and comparing are charged to the step budget, so that items
** crafted to collide cost a bounded amount before the check ends. */
static int schema_check_unique(schema_ctx *c, const json_t *pInst) {
  size_t n = json_array_size(pInst), k, a, b, nLog = 1;
  size_t iBest = 0, jBest = (size_t)-1;
  schema_hidx *aIdx;
  int rc;
  while (((size_t)1 << nLog) < n) {
    nLog++;
  }
  rc = thr_schema_charge(c, (sqlite3_int64)(n * nLog), "uniqueItems");
  if (rc != SQLITE_OK) {
    return rc; /* the sort alone would not fit */
  }
  aIdx = sqlite3_malloc64(n * sizeof(schema_hidx));
  if (aIdx == NULL) {
    return SQLITE_NOMEM;
  }
  for (k = 0; k < n; k++) {
    aIdx[k].h = thr_schema_hash_value(json_array_get(pInst, k), 0, &c->nStep);
    aIdx[k].i = k;
    rc = thr_schema_charge(c, 0, "uniqueItems");
    if (rc != SQLITE_OK) {
      sqlite3_free(aIdx);
      return rc;
    }
  }
  qsort(aIdx, n, sizeof(schema_hidx), schema_hidx_cmp);
  for (k = 0; k < n; k = b) {
    for (b = k + 1; b < n && aIdx[b].h == aIdx[k].h; b++) {
    }
    /* Within a run indexes ascend: for each j, the first equal i. */
    for (a = k + 1; a < b; a++) {
      size_t m;
      if (aIdx[a].i > jBest) {
        break;
      }
      for (m = k; m < a; m++) {
        int bEqual =
            thr_schema_equal(json_array_get(pInst, aIdx[m].i),
                             json_array_get(pInst, aIdx[a].i), 0, &c->nStep);
        rc = thr_schema_charge(c, 0, "uniqueItems");
        if (rc != SQLITE_OK) {
          sqlite3_free(aIdx);
          return rc;
        }
        if (bEqual) {
          if (aIdx[a].i < jBest) {
            jBest = aIdx[a].i;
            iBest = aIdx[m].i;
          }
          break;
        }
      }
    }
  }
  sqlite3_free(aIdx);
  if (jBest != (size_t)-1) {
    return schema_fail(c, "uniqueItems", "items %llu and %llu are equal",
                       (unsigned long long)iBest, (unsigned long long)jBest);
  }
  return SQLITE_OK;
}

static int schema_check_array(schema_ctx *c, const schema_node *pNode, int eKw,
                              const json_t *pInst) {
  size_t i, j, n = json_array_size(pInst);
  int rc;
  switch (eKw) {
  case KW_ITEMS:
    for (i = 0; i < n; i++) {
      const schema_node *pChild =
          pNode->bItemsArray
              ? (i < (size_t)pNode->nItems ? pNode->apItems[i] : NULL)
              : pNode->pItems;
      if (pChild == NULL) {
        break;
      }
      rc = schema_apply_item(c, pChild, json_array_get(pInst, i), "items", i);
      if (rc != SQLITE_OK) {
        return rc;
      }
    }
    break;
  case KW_ADDITEMS:
    /* Only meaningful after "items" as an array. */
    if (pNode->bItemsArray) {
      for (i = (size_t)pNode->nItems; i < n; i++) {
        rc = schema_apply_item(c, pNode->pAddItems, json_array_get(pInst, i),
                               "additionalItems", i);
        if (rc != SQLITE_OK) {
          return rc;
        }
      }
    }
    break;
  case KW_MAXITEMS:
    if ((sqlite3_int64)n > pNode->nMaxItems) {
      return schema_fail(
          c, "maxItems", "array has %lld %s, at most %lld allowed",
          (sqlite3_int64)n, schema_plural((sqlite3_int64)n, "item", "items"),
          pNode->nMaxItems);
    }
    break;
  case KW_MINITEMS:
    if ((sqlite3_int64)n < pNode->nMinItems) {
      return schema_fail(
          c, "minItems", "array has %lld %s, at least %lld required",
          (sqlite3_int64)n, schema_plural((sqlite3_int64)n, "item", "items"),
          pNode->nMinItems);
    }
    break;
  case KW_UNIQUE:
    if (n <= 32) {
      for (j = 1; j < n; j++) {
        for (i = 0; i < j; i++) {
          int bEqual = thr_schema_equal(json_array_get(pInst, i),
                                        json_array_get(pInst, j), 0, &c->nStep);
          rc = thr_schema_charge(c, 0, "uniqueItems");
          if (rc != SQLITE_OK) {
            return rc;
          }
          if (bEqual) {
            return schema_fail(c, "uniqueItems",
                               "items %llu and %llu are equal",
                               (unsigned long long)i, (unsigned long long)j);
          }
        }
      }
    } else {
      return schema_check_unique(c, pInst);
    }
    break;
  case KW_CONTAINS:
    for (i = 0; i < n; i++) {
      rc =
          schema_try(c, pNode->pContains, json_array_get(pInst, i), "contains");
      if (rc == SQLITE_OK) {
        return SQLITE_OK;
      }
      if (rc != SQLITE_CONSTRAINT) {
        return rc;
      }
    }
    return schema_fail(c, "contains", "no item matches the schema");
  default:
    break;
  }
  return SQLITE_OK;
}

/* Charge the lookup of a name of n bytes (hashed, or compared). */
static int schema_charge_name(schema_ctx *c, size_t n, const char *zKw) {
  return thr_schema_charge(c, 1 + (sqlite3_int64)(n / SCHEMA_COST_BYTES), zKw);
}

/* Binary search of "properties". */
static const schema_prop *schema_find_prop(const schema_node *pNode,
                                           const char *z, size_t n) {
  schema_prop key;
  key.zName = z;
  key.nName = n;
  key.pNode = NULL;
  if (pNode->nProp == 0) {
    return NULL;
  }
  return bsearch(&key, pNode->aProp, (size_t)pNode->nProp, sizeof(schema_prop),
                 thr_schema_prop_cmp);
}

static int schema_check_object(schema_ctx *c, const schema_node *pNode, int eKw,
                               const json_t *pInst) {
  size_t nMember = json_object_size(pInst), i;
  const char *zKey;
  size_t nKey;
  json_t *pVal;
  int rc, k;
  switch (eKw) {
  case KW_MAXPROPS:
    if ((sqlite3_int64)nMember > pNode->nMaxProps) {
      return schema_fail(
          c, "maxProperties", "object has %lld %s, at most %lld allowed",
          (sqlite3_int64)nMember,
          schema_plural((sqlite3_int64)nMember, "property", "properties"),
          pNode->nMaxProps);
    }
    break;
  case KW_MINPROPS:
    if ((sqlite3_int64)nMember < pNode->nMinProps) {
      return schema_fail(
          c, "minProperties", "object has %lld %s, at least %lld required",
          (sqlite3_int64)nMember,
          schema_plural((sqlite3_int64)nMember, "property", "properties"),
          pNode->nMinProps);
    }
    break;
  case KW_REQUIRED:
    for (i = 0; i < json_array_size(pNode->pRequired); i++) {
      const json_t *pName = json_array_get(pNode->pRequired, i);
      rc = schema_charge_name(c, json_string_length(pName), "required");
      if (rc != SQLITE_OK) {
        return rc;
      }
      if (json_object_getn(pInst, json_string_value(pName),
                           json_string_length(pName)) == NULL) {
        return schema_fail_name(c, "required", "missing property %s",
                                json_string_value(pName),
                                json_string_length(pName));
      }
    }
    break;
  case KW_PROPERTIES:
    json_object_keylen_foreach((json_t *)pInst, zKey, nKey, pVal) {
      const schema_prop *pProp;
      rc = schema_charge_name(c, nKey, "properties");
      if (rc != SQLITE_OK) {
        return rc;
      }
      pProp = schema_find_prop(pNode, zKey, nKey);
      if (pProp) {
        rc = schema_apply_member(c, pProp->pNode, pVal, "properties", zKey,
                                 nKey);
        if (rc != SQLITE_OK) {
          return rc;
        }
      }
    }
    break;
  case KW_PATTERNPROPS:
    json_object_keylen_foreach((json_t *)pInst, zKey, nKey, pVal) {
      for (k = 0; k < pNode->nPProp; k++) {
        int m = schema_match(c, pNode->aPProp[k].pRe, zKey, nKey,
                             "patternProperties");
        if (m < 0) {
          return -m;
        }
        if (m) {
          rc = schema_apply_member(c, pNode->aPProp[k].pNode, pVal,
                                   "patternProperties", zKey, nKey);
          if (rc != SQLITE_OK) {
            return rc;
          }
        }
      }
    }
    break;
  case KW_ADDPROPS:
    json_object_keylen_foreach((json_t *)pInst, zKey, nKey, pVal) {
      int bKnown;
      rc = schema_charge_name(c, nKey, "additionalProperties");
      if (rc != SQLITE_OK) {
        return rc;
      }
      bKnown = schema_find_prop(pNode, zKey, nKey) != NULL;
      for (k = 0; !bKnown && k < pNode->nPProp; k++) {
        int m = schema_match(c, pNode->aPProp[k].pRe, zKey, nKey,
                             "additionalProperties");
        if (m < 0) {
          return -m;
        }
        bKnown = m;
      }
      if (!bKnown) {
        rc = schema_apply_member(c, pNode->pAddProps, pVal,
                                 "additionalProperties", zKey, nKey);
        if (rc != SQLITE_OK) {
          return rc;
        }
      }
    }
    break;
  case KW_DEPENDENCIES:
    for (k = 0; k < pNode->nDep; k++) {
      const schema_dep *pDep = &pNode->aDep[k];
      rc = schema_charge_name(c, pDep->nName, "dependencies");
      if (rc != SQLITE_OK) {
        return rc;
      }
      if (json_object_getn(pInst, pDep->zName, pDep->nName) == NULL) {
        continue;
      }
      if (pDep->pNames) {
        for (i = 0; i < json_array_size(pDep->pNames); i++) {
          const json_t *pName = json_array_get(pDep->pNames, i);
          rc = schema_charge_name(c, json_string_length(pName), "dependencies");
          if (rc != SQLITE_OK) {
            return rc;
          }
          if (json_object_getn(pInst, json_string_value(pName),
                               json_string_length(pName)) == NULL) {
            char *zA, *zB;
            if (c->nQuiet > 0) {
              return SQLITE_CONSTRAINT;
            }
            zA = thr_schema_render_name(pDep->zName, pDep->nName);
            zB = thr_schema_render(pName);
            rc = (zA && zB)
                     ? schema_fail(c, "dependencies",
                                   "property %s requires property %s", zA, zB)
                     : SQLITE_NOMEM;
            sqlite3_free(zA);
            sqlite3_free(zB);
            return rc;
          }
        }
      } else if (pDep->pNode->eBool == 2) {
        return schema_fail_name(c, "dependencies", "property %s is not allowed",
                                pDep->zName, pDep->nName);
      } else {
        rc = schema_apply(c, pDep->pNode, pInst, "dependencies");
        if (rc != SQLITE_OK) {
          return rc;
        }
      }
    }
    break;
  case KW_PROPNAMES:
    json_object_keylen_foreach((json_t *)pInst, zKey, nKey, pVal) {
      json_t *pName;
      size_t nPrefix = c->ptr.n + 2; /* the inner message's "<ptr>: " */
      rc = schema_charge_name(c, nKey, "propertyNames");
      if (rc != SQLITE_OK) {
        return rc;
      }
      if (pNode->pPropNames->eBool == 2) {
        return schema_fail_name(c, "propertyNames",
                                "property name %s is not allowed", zKey, nKey);
      }
      pName = json_stringn_nocheck(zKey, nKey);
      if (pName == NULL) {
        return SQLITE_NOMEM;
      }
      rc = schema_apply(c, pNode->pPropNames, pName, "propertyNames");
      json_decref(pName);
      if (rc == SQLITE_CONSTRAINT && c->nQuiet == 0 && c->zErr &&
          strlen(c->zErr) >= nPrefix) {
        char *zInner = c->zErr;
        c->zErr = NULL;
        rc = schema_fail_name(c, "propertyNames", "property name %s is invalid",
                              zKey, nKey);
        if (rc == SQLITE_CONSTRAINT) {
          char *zAll = sqlite3_mprintf("%s: %s", c->zErr, zInner + nPrefix);
          sqlite3_free(c->zErr);
          c->zErr = zAll;
          rc = zAll ? SQLITE_CONSTRAINT : SQLITE_NOMEM;
        }
        sqlite3_free(zInner);
      }
      if (rc != SQLITE_OK) {
        return rc;
      }
    }
    break;
  default:
    break;
  }
  return SQLITE_OK;
}

static int schema_check_combinator(schema_ctx *c, const schema_node *pNode,
                                   int eKw, const json_t *pInst) {
  int i, rc;
  switch (eKw) {
  case KW_IF:
    rc = schema_try(c, pNode->pIf, pInst, "if");
    if (rc == SQLITE_OK) {
      return pNode->pThen ? schema_apply(c, pNode->pThen, pInst, "then")
                          : SQLITE_OK;
    }
    if (rc == SQLITE_CONSTRAINT) {
      return pNode->pElse ? schema_apply(c, pNode->pElse, pInst, "else")
                          : SQLITE_OK;
    }
    return rc;
  case KW_ALLOF:
    for (i = 0; i < pNode->nAll; i++) {
      rc = schema_apply(c, pNode->apAll[i], pInst, "allOf");
      if (rc == SQLITE_CONSTRAINT && c->nQuiet == 0) {
        char *zInner = c->zErr;
        c->zErr = NULL;
        rc = schema_fail(c, "allOf", "subschema %d failed: %s", i,
                         zInner ? zInner : "");
        sqlite3_free(zInner);
      }
      if (rc != SQLITE_OK) {
        return rc;
      }
    }
    return SQLITE_OK;
  case KW_ANYOF:
    for (i = 0; i < pNode->nAny; i++) {
      rc = schema_try(c, pNode->apAny[i], pInst, "anyOf");
      if (rc != SQLITE_CONSTRAINT) {
        return rc; /* valid, or a verdict */
      }
    }
    return schema_fail(c, "anyOf", "the value matches none of the %d %s",
                       pNode->nAny,
                       schema_plural(pNode->nAny, "subschema", "subschemas"));
  case KW_ONEOF: {
    int iFirst = -1;
    for (i = 0; i < pNode->nOne; i++) {
      rc = schema_try(c, pNode->apOne[i], pInst, "oneOf");
      if (rc == SQLITE_OK) {
        if (iFirst >= 0) {
          return schema_fail(c, "oneOf",
                             "the value matches subschemas %d and %d, but "
                             "must match exactly one",
                             iFirst, i);
        }
        iFirst = i;
      } else if (rc != SQLITE_CONSTRAINT) {
        return rc;
      }
    }
    if (iFirst < 0) {
      return schema_fail(c, "oneOf", "the value matches none of the %d %s",
                         pNode->nOne,
                         schema_plural(pNode->nOne, "subschema", "subschemas"));
    }
    return SQLITE_OK;
  }
  case KW_NOT:
    rc = schema_try(c, pNode->pNot, pInst, "not");
    if (rc == SQLITE_OK) {
      return schema_fail(c, "not", "the value must not match the schema");
    }
    return rc == SQLITE_CONSTRAINT ? SQLITE_OK : rc;
  default:
    return SQLITE_OK;
  }
}

/* Apply pNode to pInst; zKw is the keyword that led here (for the depth
** guard's and the budget's messages).  An application costs a step, and
** so does each keyword it evaluates. */
static int schema_apply(schema_ctx *c, const schema_node *pNode,
                        const json_t *pInst, const char *zKw) {
  int i, rc = SQLITE_OK;
  unsigned m;
  if (c->ptr.rc != SQLITE_OK) {
    return SQLITE_NOMEM;
  }
  rc = thr_schema_charge(c, 1, zKw);
  if (rc != SQLITE_OK) {
    return rc;
  }
  if (pNode->eBool == 1) {
    return SQLITE_OK;
  }
  if (pNode->eBool == 2) {
    return schema_fail(c, "false", "the schema false rejects every value");
  }
  if (c->nDepth >= SCHEMA_MAX_DEPTH) {
    return schema_abort(c, zKw, "schemas nested deeper than %d levels",
                        SCHEMA_MAX_DEPTH);
  }
  if (pNode->zRefUri) {
    if (pNode->zRemote) {
      return schema_abort(c, "$ref", "remote references are not supported (%s)",
                          pNode->zRemote);
    }
    if (c->nRefDepth >= SCHEMA_MAX_REFS) {
      return schema_abort(
          c, "$ref", "recursion deeper than %d levels (a reference cycle?)",
          SCHEMA_MAX_REFS);
    }
    c->nDepth++;
    c->nRefDepth++;
    rc = schema_apply(c, pNode->pRef, pInst, "$ref");
    c->nRefDepth--;
    c->nDepth--;
    return rc;
  }
  m = thr_schema_type_bit(pInst);
  c->nDepth++;
  for (i = 0; rc == SQLITE_OK && i < pNode->nKw; i++) {
    int eKw = pNode->aKw[i];
    rc = thr_schema_charge(c, 1, thr_schema_azKw[eKw]);
    if (rc != SQLITE_OK) {
      break;
    }
    switch (eKw) {
    case KW_TYPE:
      rc = schema_check_type(c, pNode, pInst);
      break;
    case KW_ENUM: {
      size_t k, n = json_array_size(pNode->pEnum);
      for (k = 0; k < n; k++) {
        int bEqual = thr_schema_equal(pInst, json_array_get(pNode->pEnum, k), 0,
                                      &c->nStep);
        rc = thr_schema_charge(c, 0, "enum");
        if (rc != SQLITE_OK || bEqual) {
          break;
        }
      }
      if (rc == SQLITE_OK && k == n) {
        rc = schema_fail_vals(c, "enum", pInst, "is not one of", pNode->pEnum);
      }
      break;
    }
    case KW_CONST: {
      int bEqual = thr_schema_equal(pInst, pNode->pConst, 0, &c->nStep);
      rc = thr_schema_charge(c, 0, "const");
      if (rc == SQLITE_OK && !bEqual) {
        if (c->nQuiet > 0) {
          rc = SQLITE_CONSTRAINT;
        } else {
          char *zA = thr_schema_render(pNode->pConst),
               *zB = thr_schema_render(pInst);
          rc = (zA && zB)
                   ? schema_fail(c, "const", "expected %s, got %s", zA, zB)
                   : SQLITE_NOMEM;
          sqlite3_free(zA);
          sqlite3_free(zB);
        }
      }
      break;
    }
    case KW_MULTIPLEOF:
    case KW_MAXIMUM:
    case KW_EXCLMAX:
    case KW_MINIMUM:
    case KW_EXCLMIN:
      if (m == SCHEMA_T_INTEGER || m == SCHEMA_T_NUMBER) {
        rc = schema_check_number(c, pNode, eKw, pInst);
      }
      break;
    case KW_MAXLENGTH:
    case KW_MINLENGTH:
    case KW_PATTERN:
    case KW_FORMAT:
    case KW_CONTENTENC:
    case KW_CONTENTTYPE:
      if (m == SCHEMA_T_STRING) {
        rc = schema_check_string(c, pNode, eKw, pInst);
      }
      break;
    case KW_ITEMS:
    case KW_ADDITEMS:
    case KW_MAXITEMS:
    case KW_MINITEMS:
    case KW_UNIQUE:
    case KW_CONTAINS:
      if (m == SCHEMA_T_ARRAY) {
        rc = schema_check_array(c, pNode, eKw, pInst);
      }
      break;
    case KW_MAXPROPS:
    case KW_MINPROPS:
    case KW_REQUIRED:
    case KW_PROPERTIES:
    case KW_PATTERNPROPS:
    case KW_ADDPROPS:
    case KW_DEPENDENCIES:
    case KW_PROPNAMES:
      if (m == SCHEMA_T_OBJECT) {
        rc = schema_check_object(c, pNode, eKw, pInst);
      }
      break;
    default:
      rc = schema_check_combinator(c, pNode, eKw, pInst);
      break;
    }
  }
  c->nDepth--;
  return rc;
}

int thr_schema_check(const thr_schema *p, const json_t *pDoc, char **pzErr) {
  schema_ctx c;
  int rc;
  *pzErr = NULL;
  if (p == NULL || pDoc == NULL) {
    *pzErr = sqlite3_mprintf("no schema or no document");
    return *pzErr ? SQLITE_MISUSE : SQLITE_NOMEM;
  }
  memset(&c, 0, sizeof(c));
  c.p = p;
  thr_schema_buf_append(&c.ptr, "", 0);
  rc = schema_apply(&c, p->pTop, pDoc, "");
  if (c.ptr.rc != SQLITE_OK) {
    rc = SQLITE_NOMEM;
  }
  sqlite3_free(c.ptr.z);
  if (c.pMatch) {
    pcre2_match_data_free(c.pMatch);
  }
  if (rc == SQLITE_OK) {
    sqlite3_free(c.zErr);
    return SQLITE_OK;
  }
  if (rc == SQLITE_NOMEM || c.zErr == NULL) {
    sqlite3_free(c.zErr);
    return SQLITE_NOMEM;
  }
  *pzErr = c.zErr;
  return SQLITE_CONSTRAINT;
}
