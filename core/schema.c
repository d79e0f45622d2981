/*
** schema.c: JSON Schema draft-07 validation over jansson documents.
**
** COMPILING
**
** thr_schema_compile() parses the schema text with jansson and turns every
** subschema into a schema_node.  Keyword values are type-checked once, so
** that the checker never meets a malformed keyword; patterns are compiled
** with pcre2; "$ref"s are resolved to nodes.  It works in two passes:
**
**   1. A walk over every subschema in a schema position (the values of
**      "properties", "items", "definitions", "allOf", ... but not of "enum",
**      "const" or unknown keywords).  It compiles each node and records
**      every "$id" with the base URI it establishes, so that a "$ref"
**      anywhere may name an identifier that appears later in the document.
**   2. Resolution of every "$ref": the reference is joined to the base URI
**      in effect (RFC 3986 section 5.2), then looked up among the recorded
**      identifiers, and its fragment is followed as a JSON pointer or
**      matched as a plain-name identifier ("$id": "#foo").  A pointer may
**      lead outside the schema positions of pass 1 (say into an unknown
**      keyword); such targets are compiled on demand, which may add more
**      references to resolve, so pass 2 runs until no node is left over.
**
** A "$ref" to another document cannot be followed (we fetch nothing), with
** one exception: the draft-07 meta-schema, which is built in because
** schemas commonly refer to it.  Other absolute URIs compile, and checking
** an instance that reaches them fails with
**   "<ptr>: $ref: remote references are not supported (<url>)".
**
** As draft-07 says, a schema with "$ref" is nothing but the reference: its
** other keywords (including "$id") are neither checked nor validated.  Its
** "definitions" are still walked, as a container of subschemas that other
** references may point into.
**
** CHECKING
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
** unsupported remote reference, recursion past the depth guards, a regular
** expression that exceeds pcre2's match limit.
**
** RECURSION
**
** Subschema applications nest at most SCHEMA_MAX_DEPTH deep, and of those
** at most SCHEMA_MAX_REFS may be "$ref" hops.  A reference cycle that makes
** no progress in the instance ({"$ref": "#"}) meets the second guard; the
** first bounds the C stack whatever the schema's shape.
**
** REGULAR EXPRESSIONS
**
** JSON Schema patterns are ECMA-262 regular expressions.
** schema_rx_translate() rewrites them for pcre2 (UTF mode, without UCP)
** following ECMA-262's unicode ("u") mode: "." is any code point but a
** line terminator; \d, \w and \b are ASCII; \s is ECMA's Unicode white
** space; "$" matches only at the very end; \uXXXX (surrogate pairs
** combined), \u{X}, \xHH, \cX and \0 name characters; \p{..} and \P{..}
** are Unicode properties (long General_Category names are mapped to
** pcre2's short ones); [^] is any character and [] none.  Escapes ECMA does
** not define (\Z, \A, \a, \Q, ...) and syntax it lacks (inline flags,
** atomic groups, possessive quantifiers) are errors.  Not supported: \S
** inside a character class is pcre2's ASCII one (outside a class it is
** exact); lookbehind must have a bounded length; property names pcre2 does
** not know are errors; u-mode's rule that a lone "{", "}" or "]" must be
** escaped is not enforced (they are literals).
*/
#include "thr_core.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_MAX_DEPTH 1024      /* nested subschema applications */
#define SCHEMA_MAX_REFS 256        /* of those, "$ref" hops */
#define SCHEMA_MAX_EQUAL 4096      /* nesting compared by deep equality */
#define SCHEMA_RENDER_MAX 80       /* bytes of a value quoted in a message */
#define SCHEMA_MATCH_LIMIT 1000000 /* pcre2 backtracking budget per match */

/* The draft-07 meta-schema, the one remote document we can resolve. */
#define SCHEMA_META_URI "http://json-schema.org/draft-07/schema"

/* Type bits, in the order of azType[]. */
#define SCHEMA_T_NULL 0x01
#define SCHEMA_T_BOOLEAN 0x02
#define SCHEMA_T_INTEGER 0x04
#define SCHEMA_T_NUMBER 0x08
#define SCHEMA_T_STRING 0x10
#define SCHEMA_T_ARRAY 0x20
#define SCHEMA_T_OBJECT 0x40
#define SCHEMA_NTYPE 7
static const char *const azType[SCHEMA_NTYPE] = {
    "null", "boolean", "integer", "number", "string", "array", "object"};

/* Keywords.  Only those listed are looked at; others are annotations or
** unknown, and ignored. */
enum {
  KW_NONE = 0,
  KW_REF,
  KW_ID,
  KW_SCHEMA,
  KW_DEFINITIONS,
  KW_TYPE,
  KW_ENUM,
  KW_CONST,
  KW_MULTIPLEOF,
  KW_MAXIMUM,
  KW_EXCLMAX,
  KW_MINIMUM,
  KW_EXCLMIN,
  KW_MAXLENGTH,
  KW_MINLENGTH,
  KW_PATTERN,
  KW_FORMAT,
  KW_ITEMS,
  KW_ADDITEMS,
  KW_MAXITEMS,
  KW_MINITEMS,
  KW_UNIQUE,
  KW_CONTAINS,
  KW_MAXPROPS,
  KW_MINPROPS,
  KW_REQUIRED,
  KW_PROPERTIES,
  KW_PATTERNPROPS,
  KW_ADDPROPS,
  KW_DEPENDENCIES,
  KW_PROPNAMES,
  KW_IF,
  KW_THEN,
  KW_ELSE,
  KW_ALLOF,
  KW_ANYOF,
  KW_ONEOF,
  KW_NOT,
  KW_CONTENTENC,
  KW_CONTENTTYPE,
  KW_COUNT
};
static const char *const azKw[KW_COUNT] = {
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

/* Formats we check; any other name passes. */
enum {
  FMT_NONE = 0,
  FMT_DATETIME,
  FMT_DATE,
  FMT_TIME,
  FMT_EMAIL,
  FMT_IDNEMAIL,
  FMT_HOSTNAME,
  FMT_IPV4,
  FMT_IPV6,
  FMT_URI,
  FMT_URIREF,
  FMT_IRI,
  FMT_IRIREF,
  FMT_URITEMPLATE,
  FMT_REGEX,
  FMT_JSONPTR,
  FMT_RELJSONPTR
};
static const struct {
  const char *zName;
  int eFmt;
} aFormat[] = {
    {"date-time", FMT_DATETIME},
    {"date", FMT_DATE},
    {"time", FMT_TIME},
    {"email", FMT_EMAIL},
    {"idn-email", FMT_IDNEMAIL},
    {"hostname", FMT_HOSTNAME},
    {"ipv4", FMT_IPV4},
    {"ipv6", FMT_IPV6},
    {"uri", FMT_URI},
    {"uri-reference", FMT_URIREF},
    {"iri", FMT_IRI},
    {"iri-reference", FMT_IRIREF},
    {"uri-template", FMT_URITEMPLATE},
    {"regex", FMT_REGEX},
    {"json-pointer", FMT_JSONPTR},
    {"relative-json-pointer", FMT_RELJSONPTR},
};

typedef struct schema_node schema_node;
typedef struct schema_prop schema_prop;
typedef struct schema_pprop schema_pprop;
typedef struct schema_dep schema_dep;
typedef struct schema_res schema_res;
typedef struct schema_buf schema_buf;

/* One entry of "properties", kept sorted by name for binary search. */
struct schema_prop {
  const char *zName; /* borrowed from the schema document */
  size_t nName;
  schema_node *pNode;
};

/* One entry of "patternProperties". */
struct schema_pprop {
  pcre2_code *pRe; /* owned by the thr_schema (apRe[]) */
  schema_node *pNode;
};

/* One entry of "dependencies": either property names or a subschema. */
struct schema_dep {
  const char *zName;
  size_t nName;
  const json_t *pNames; /* array of strings, or NULL */
  schema_node *pNode;   /* when pNames is NULL */
};

/* A compiled subschema.  Pointers to other nodes are borrowed: every node
** is owned by the thr_schema's apNode[]. */
struct schema_node {
  const json_t *pJson; /* the subschema (borrowed from its document) */
  const char *zLoc;    /* its JSON pointer in that document */
  const char *zBase;   /* base URI in effect inside it */
  int eBool;           /* 1 for true, 2 for false, 0 for an object */

  /* "$ref": when zRef is set, nothing else applies. */
  const char *zRef;    /* as written */
  const char *zRefUri; /* joined to the base URI */
  schema_node *pRef;   /* the target, once resolved */
  const char *zRemote; /* or the URL we cannot fetch */

  /* Keywords to evaluate, in document order. */
  unsigned char aKw[KW_COUNT];
  int nKw;

  unsigned char aType[SCHEMA_NTYPE]; /* indexes into azType[] */
  int nType;
  unsigned mType;
  const json_t *pEnum, *pConst;
  const json_t *pMultipleOf, *pMaximum, *pExclMax, *pMinimum, *pExclMin;
  sqlite3_int64 nMaxLength, nMinLength, nMaxItems, nMinItems;
  sqlite3_int64 nMaxProps, nMinProps;
  pcre2_code *pPattern;
  const char *zPattern;
  int eFormat;
  const char *zFormat;
  schema_node *pItems;   /* "items" as one schema */
  schema_node **apItems; /* "items" as an array */
  int nItems;
  int bItemsArray;
  schema_node *pAddItems;
  int bUnique;
  schema_node *pContains;
  const json_t *pRequired;
  schema_prop *aProp;
  int nProp;
  schema_pprop *aPProp;
  int nPProp;
  schema_node *pAddProps;
  schema_dep *aDep;
  int nDep;
  schema_node *pPropNames;
  schema_node *pIf, *pThen, *pElse;
  schema_node **apAll, **apAny, **apOne;
  int nAll, nAny, nOne;
  schema_node *pNot;
  int bBase64;      /* "contentEncoding": "base64" */
  int bJsonContent; /* "contentMediaType": "application/json" */
};

/* A recorded "$id": a resource (zKey is an absolute URI without fragment)
** or a plain-name fragment (zKey ends in "#name"). */
struct schema_res {
  const char *zKey;
  const json_t *pJson;
  const char *zBase; /* base URI inside pJson */
  const char *zLoc;
};

struct thr_schema {
  json_t *pRoot;     /* the schema document */
  json_t *pMeta;     /* the meta-schema document, once referenced */
  schema_node *pTop; /* compiled pRoot */
  schema_node **apNode;
  int nNode, nNodeAlloc;
  schema_node **aHash; /* pJson -> node, open addressing */
  unsigned nHash;      /* slots, a power of two */
  schema_res *aRes;
  int nRes, nResAlloc;
  pcre2_code **apRe;
  int nRe, nReAlloc;
  void **apMem; /* everything else we allocated */
  int nMem, nMemAlloc;
  pcre2_match_context *pMatchCtx;
};

/**************************************************************************
** Growable strings.  Sticky: after an allocation failure rc is
** SQLITE_NOMEM and nothing more is appended.
*/
struct schema_buf {
  char *z;
  size_t n;
  size_t nAlloc;
  int rc;
};

static void schema_buf_append(schema_buf *p, const char *z, size_t n) {
  if (p->rc != SQLITE_OK) {
    return;
  }
  if (p->n + n + 1 > p->nAlloc) {
    size_t nNew = p->nAlloc ? p->nAlloc * 2 : 64;
    char *zNew;
    while (nNew < p->n + n + 1) {
      nNew *= 2;
    }
    zNew = sqlite3_realloc64(p->z, nNew);
    if (zNew == NULL) {
      p->rc = SQLITE_NOMEM;
      return;
    }
    p->z = zNew;
    p->nAlloc = nNew;
  }
  if (n > 0) {
    memcpy(p->z + p->n, z, n);
  }
  p->n += n;
  p->z[p->n] = 0;
}

static void schema_buf_puts(schema_buf *p, const char *z) {
  schema_buf_append(p, z, strlen(z));
}

static void schema_buf_truncate(schema_buf *p, size_t n) {
  if (p->z && n <= p->n) {
    p->n = n;
    p->z[n] = 0;
  }
}

/* A JSON pointer token: "~" is written "~0" and "/" "~1". */
static void schema_buf_token(schema_buf *p, const char *z, size_t n) {
  size_t i, iStart = 0;
  for (i = 0; i < n; i++) {
    if (z[i] == '~' || z[i] == '/') {
      schema_buf_append(p, z + iStart, i - iStart);
      schema_buf_puts(p, z[i] == '~' ? "~0" : "~1");
      iStart = i + 1;
    }
  }
  schema_buf_append(p, z + iStart, n - iStart);
}

/**************************************************************************
** Ownership.  Nodes, strings and arrays made while compiling live until
** thr_schema_free(); the pool records them.
*/

/* Record p in the pool.  On failure p is freed and NULL returned. */
static void *schema_keep(thr_schema *p, void *pMem) {
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
static void *schema_alloc(thr_schema *p, size_t n) {
  void *pMem = sqlite3_malloc64(n ? n : 1);
  if (pMem) {
    memset(pMem, 0, n ? n : 1);
  }
  return schema_keep(p, pMem);
}

static char *schema_mprintf(thr_schema *p, const char *zFmt, ...) {
  va_list ap;
  char *z;
  va_start(ap, zFmt);
  z = sqlite3_vmprintf(zFmt, ap);
  va_end(ap);
  return schema_keep(p, z);
}

/* "zLoc/token" with the token escaped, in the pool. */
static const char *schema_loc(thr_schema *p, const char *zLoc, const char *z,
                              size_t n) {
  schema_buf b = {0, 0, 0, SQLITE_OK};
  schema_buf_puts(&b, zLoc);
  schema_buf_append(&b, "/", 1);
  schema_buf_token(&b, z, n);
  if (b.rc != SQLITE_OK) {
    sqlite3_free(b.z);
    return NULL;
  }
  return schema_keep(p, b.z);
}

static const char *schema_loc_index(thr_schema *p, const char *zLoc, size_t i) {
  return schema_mprintf(p, "%s/%llu", zLoc, (unsigned long long)i);
}

/**************************************************************************
** Numbers.
*/

/* The shortest "%.*g" text of v that reads back as v, with ".0" added
** when it would otherwise look like an integer (as jansson writes reals). */
static void schema_fmt_real(double v, char *zBuf, size_t nBuf) {
  int prec;
  for (prec = 1; prec <= 17; prec++) {
    snprintf(zBuf, nBuf, "%.*g", prec, v);
    if (strtod(zBuf, NULL) == v) {
      break;
    }
  }
  if (strspn(zBuf, "-0123456789") == strlen(zBuf)) {
    size_t n = strlen(zBuf);
    if (n + 3 <= nBuf) {
      memcpy(zBuf + n, ".0", 3);
    }
  }
}

static void schema_fmt_num(const json_t *p, char *zBuf, size_t nBuf) {
  if (json_is_integer(p)) {
    snprintf(zBuf, nBuf, "%lld", (long long)json_integer_value(p));
  } else {
    schema_fmt_real(json_real_value(p), zBuf, nBuf);
  }
}

/* trunc() without libm (the unit-test build links no -lm): every double
** of magnitude 2^52 or more is already an integer. */
static double schema_trunc(double d) {
  if (d >= 4503599627370496.0 || d <= -4503599627370496.0 || d != d) {
    return d;
  }
  return (double)(long long)d;
}

/* Compare an integer with a real exactly: -1, 0 or 1. */
static int schema_cmp_int_real(json_int_t i, double d) {
  double t;
  long long iT;
  if (d >= 9223372036854775808.0) {
    return -1;
  }
  if (d < -9223372036854775808.0) {
    return 1;
  }
  t = schema_trunc(d);
  iT = (long long)t; /* exact: |t| < 2^63 */
  if (i != iT) {
    return i < iT ? -1 : 1;
  }
  if (d == t) {
    return 0;
  }
  return d > t ? -1 : 1; /* d has a fraction beyond i */
}

/* Compare two JSON numbers exactly, whatever their jansson types. */
static int schema_num_cmp(const json_t *a, const json_t *b) {
  if (json_is_integer(a) && json_is_integer(b)) {
    json_int_t x = json_integer_value(a), y = json_integer_value(b);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (json_is_integer(a)) {
    return schema_cmp_int_real(json_integer_value(a), json_real_value(b));
  }
  if (json_is_integer(b)) {
    return -schema_cmp_int_real(json_integer_value(b), json_real_value(a));
  }
  {
    double x = json_real_value(a), y = json_real_value(b);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
}

/* 1 if p is a number with no fractional part (draft-07: 1.0 is an
** integer). */
static int schema_is_integral(const json_t *p) {
  if (json_is_integer(p)) {
    return 1;
  }
  if (json_is_real(p)) {
    double d = json_real_value(p);
    return isfinite(d) && schema_trunc(d) == d;
  }
  return 0;
}

/* A number as a decimal: value = digits x 10^exp, digits without leading
** or trailing zeros (empty for zero).  Reals are taken at their shortest
** round-trip text, the number the schema author wrote, so that 0.0075 is
** 75e-4 and a multiple of 1e-4, as the test suite expects. */
typedef struct schema_dec schema_dec;
struct schema_dec {
  char a[32];
  int n;
  int exp;
};

static void schema_decimal(const json_t *p, schema_dec *pDec) {
  char zBuf[48];
  int i, n = 0, exp = 0;
  memset(pDec, 0, sizeof(*pDec));
  if (json_is_integer(p)) {
    json_int_t v = json_integer_value(p);
    unsigned long long u =
        v < 0 ? (unsigned long long)(-(v + 1)) + 1 : (unsigned long long)v;
    snprintf(zBuf, sizeof(zBuf), "%llu", u);
  } else {
    double d = json_real_value(p);
    int prec;
    char *zE;
    if (d < 0) {
      d = -d;
    }
    for (prec = 1; prec <= 17; prec++) {
      snprintf(zBuf, sizeof(zBuf), "%.*e", prec - 1, d);
      if (strtod(zBuf, NULL) == d) {
        break;
      }
    }
    /* "d.ddde+XX": digits, and the exponent of the last digit. */
    zE = strchr(zBuf, 'e');
    if (zE) {
      int nFrac = 0, bDot = 0;
      exp = atoi(zE + 1);
      *zE = 0;
      for (i = 0; zBuf[i]; i++) {
        if (zBuf[i] == '.') {
          bDot = 1;
        } else if (bDot) {
          nFrac++;
        }
      }
      exp -= nFrac;
    }
  }
  for (i = 0; zBuf[i]; i++) {
    if (zBuf[i] >= '0' && zBuf[i] <= '9') {
      if (n == 0 && zBuf[i] == '0') {
        continue; /* leading zero */
      }
      if (n < (int)sizeof(pDec->a)) {
        pDec->a[n++] = zBuf[i];
      }
    }
  }
  while (n > 0 && pDec->a[n - 1] == '0') {
    n--;
    exp++;
  }
  pDec->n = n;
  pDec->exp = exp;
}

/* (a + b) mod m without overflow, for a, b < m. */
static unsigned long long schema_addmod(unsigned long long a,
                                        unsigned long long b,
                                        unsigned long long m) {
  return a >= m - b ? a - (m - b) : a + b;
}

/* (r * 10 + d) mod m, for r < m. */
static unsigned long long schema_shiftmod(unsigned long long r, int d,
                                          unsigned long long m) {
  unsigned long long r2 = schema_addmod(r, r, m);
  unsigned long long r4 = schema_addmod(r2, r2, m);
  unsigned long long r8 = schema_addmod(r4, r4, m);
  unsigned long long r10 = schema_addmod(r8, r2, m);
  return schema_addmod(r10, (unsigned long long)d % m, m);
}

/* 1 if x is an integer multiple of m (m > 0), computed exactly on the
** decimal forms: x = A.10^p, m = B.10^q.  When p < q, x/m is A/B over a
** power of ten, and A (no trailing zeros) cannot be a multiple of B.10^k;
** otherwise test (A.10^(p-q)) mod B == 0 digit by digit.  B has at most
** 19 digits, so it fits in 64 bits; A may be any length. */
static int schema_multiple_of(const json_t *x, const json_t *m) {
  schema_dec dx, dm;
  unsigned long long b = 0, r = 0;
  int i;
  schema_decimal(x, &dx);
  schema_decimal(m, &dm);
  if (dx.n == 0) {
    return 1; /* zero is a multiple of anything */
  }
  if (dm.n == 0 || dm.n > 19) {
    return 0; /* not reached: multipleOf > 0 has at most 17 or 19 digits */
  }
  if (dx.exp < dm.exp) {
    return 0;
  }
  for (i = 0; i < dm.n; i++) {
    b = b * 10 + (unsigned long long)(dm.a[i] - '0');
  }
  for (i = 0; i < dx.n; i++) {
    r = schema_shiftmod(r, dx.a[i] - '0', b);
  }
  for (i = dm.exp; i < dx.exp; i++) {
    r = schema_shiftmod(r, 0, b);
  }
  return r == 0;
}

/**************************************************************************
** Values: type names, equality, rendering for messages.
*/

static unsigned schema_type_bit(const json_t *p) {
  switch (json_typeof(p)) {
  case JSON_NULL:
    return SCHEMA_T_NULL;
  case JSON_TRUE:
  case JSON_FALSE:
    return SCHEMA_T_BOOLEAN;
  case JSON_INTEGER:
    return SCHEMA_T_INTEGER;
  case JSON_REAL:
    return schema_is_integral(p) ? SCHEMA_T_INTEGER : SCHEMA_T_NUMBER;
  case JSON_STRING:
    return SCHEMA_T_STRING;
  case JSON_ARRAY:
    return SCHEMA_T_ARRAY;
  default:
    return SCHEMA_T_OBJECT;
  }
}

static const char *schema_type_name(const json_t *p) {
  unsigned m = schema_type_bit(p);
  int i;
  for (i = 0; i < SCHEMA_NTYPE; i++) {
    if (m == (1u << i)) {
      return azType[i];
    }
  }
  return "object";
}

/* Deep equality as JSON Schema defines it: numbers by value (1 == 1.0),
** objects regardless of member order.  Nesting beyond SCHEMA_MAX_EQUAL
** (which jansson's parser never produces) compares unequal rather than
** risk the stack. */
static int schema_equal(const json_t *a, const json_t *b, int nDepth) {
  if (nDepth > SCHEMA_MAX_EQUAL) {
    return 0;
  }
  if (json_is_number(a) && json_is_number(b)) {
    return schema_num_cmp(a, b) == 0;
  }
  if (json_typeof(a) != json_typeof(b)) {
    return 0;
  }
  switch (json_typeof(a)) {
  case JSON_STRING:
    return json_string_length(a) == json_string_length(b) &&
           memcmp(json_string_value(a), json_string_value(b),
                  json_string_length(a)) == 0;
  case JSON_ARRAY: {
    size_t i, n = json_array_size(a);
    if (n != json_array_size(b)) {
      return 0;
    }
    for (i = 0; i < n; i++) {
      if (!schema_equal(json_array_get(a, i), json_array_get(b, i),
                        nDepth + 1)) {
        return 0;
      }
    }
    return 1;
  }
  case JSON_OBJECT: {
    const char *zKey;
    size_t nKey;
    json_t *pVal;
    if (json_object_size(a) != json_object_size(b)) {
      return 0;
    }
    json_object_keylen_foreach((json_t *)a, zKey, nKey, pVal) {
      const json_t *pOther = json_object_getn(b, zKey, nKey);
      if (pOther == NULL || !schema_equal(pVal, pOther, nDepth + 1)) {
        return 0;
      }
    }
    return 1;
  }
  default:
    return 1; /* null, true, false */
  }
}

/* A hash consistent with schema_equal(): equal values hash alike.
** Numbers hash by their double value (so 1 and 1.0 agree; integers that
** round to the same double merely collide), object members
** order-independently. */
static uint64_t schema_hash_value(const json_t *p, int nDepth) {
  uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)json_typeof(p);
  if (nDepth > SCHEMA_MAX_EQUAL) {
    return h;
  }
  switch (json_typeof(p)) {
  case JSON_INTEGER:
  case JSON_REAL: {
    double d = json_number_value(p);
    uint64_t u;
    if (d == 0) {
      d = 0; /* -0.0 equals 0 */
    }
    memcpy(&u, &d, sizeof(u));
    return 0x9e3779b97f4a7c15ull * (u ^ (u >> 29));
  }
  case JSON_STRING: {
    const unsigned char *z = (const unsigned char *)json_string_value(p);
    size_t i, n = json_string_length(p);
    for (i = 0; i < n; i++) {
      h = (h ^ z[i]) * 0x100000001b3ull;
    }
    return h;
  }
  case JSON_ARRAY: {
    size_t i;
    for (i = 0; i < json_array_size(p); i++) {
      h = (h ^ schema_hash_value(json_array_get(p, i), nDepth + 1)) *
          0x100000001b3ull;
    }
    return h;
  }
  case JSON_OBJECT: {
    const char *zKey;
    size_t nKey, i;
    json_t *pVal;
    uint64_t hSum = 0;
    json_object_keylen_foreach((json_t *)p, zKey, nKey, pVal) {
      uint64_t hk = 0xcbf29ce484222325ull;
      for (i = 0; i < nKey; i++) {
        hk = (hk ^ (unsigned char)zKey[i]) * 0x100000001b3ull;
      }
      hSum += hk * (schema_hash_value(pVal, nDepth + 1) | 1);
    }
    return h ^ hSum;
  }
  default:
    return h;
  }
}

/* A JSON string literal for (z, n): quoted, escaped, at most
** SCHEMA_RENDER_MAX bytes of content (then "..."). */
static void schema_render_str(schema_buf *b, const char *z, size_t n) {
  size_t i, nMax = n;
  if (nMax > SCHEMA_RENDER_MAX) {
    nMax = SCHEMA_RENDER_MAX;
    while (nMax > 0 && ((unsigned char)z[nMax] & 0xc0) == 0x80) {
      nMax--; /* do not cut a UTF-8 sequence */
    }
  }
  schema_buf_append(b, "\"", 1);
  for (i = 0; i < nMax; i++) {
    unsigned char c = (unsigned char)z[i];
    if (c == '"' || c == '\\') {
      char zEsc[2] = {'\\', (char)c};
      schema_buf_append(b, zEsc, 2);
    } else if (c < 0x20) {
      char zEsc[8];
      snprintf(zEsc, sizeof(zEsc), "\\u%04x", c);
      schema_buf_puts(b, zEsc);
    } else {
      schema_buf_append(b, (const char *)&z[i], 1);
    }
  }
  if (nMax < n) {
    schema_buf_puts(b, "...");
  }
  schema_buf_append(b, "\"", 1);
}

/* Compact JSON for a value, stopping once SCHEMA_RENDER_MAX bytes are out. */
static void schema_render_into(schema_buf *b, const json_t *p, int nDepth) {
  char zNum[48];
  if (b->n > SCHEMA_RENDER_MAX || nDepth > 8) {
    schema_buf_puts(b, "...");
    return;
  }
  switch (json_typeof(p)) {
  case JSON_NULL:
    schema_buf_puts(b, "null");
    break;
  case JSON_TRUE:
    schema_buf_puts(b, "true");
    break;
  case JSON_FALSE:
    schema_buf_puts(b, "false");
    break;
  case JSON_INTEGER:
  case JSON_REAL:
    schema_fmt_num(p, zNum, sizeof(zNum));
    schema_buf_puts(b, zNum);
    break;
  case JSON_STRING:
    schema_render_str(b, json_string_value(p), json_string_length(p));
    break;
  case JSON_ARRAY: {
    size_t i;
    schema_buf_append(b, "[", 1);
    for (i = 0; i < json_array_size(p) && b->n <= SCHEMA_RENDER_MAX; i++) {
      if (i > 0) {
        schema_buf_append(b, ",", 1);
      }
      schema_render_into(b, json_array_get(p, i), nDepth + 1);
    }
    schema_buf_puts(b, i < json_array_size(p) ? "...]" : "]");
    break;
  }
  default: {
    const char *zKey;
    size_t nKey, i = 0;
    json_t *pVal;
    schema_buf_append(b, "{", 1);
    json_object_keylen_foreach((json_t *)p, zKey, nKey, pVal) {
      if (b->n > SCHEMA_RENDER_MAX) {
        schema_buf_puts(b, "...");
        break;
      }
      if (i++ > 0) {
        schema_buf_append(b, ",", 1);
      }
      schema_render_str(b, zKey, nKey);
      schema_buf_append(b, ":", 1);
      schema_render_into(b, pVal, nDepth + 1);
    }
    schema_buf_append(b, "}", 1);
    break;
  }
  }
}

/* A value as compact JSON text for a message (sqlite3_malloc'd, or NULL
** on OOM). */
static char *schema_render(const json_t *p) {
  schema_buf b = {0, 0, 0, SQLITE_OK};
  schema_render_into(&b, p, 0);
  if (b.rc != SQLITE_OK) {
    sqlite3_free(b.z);
    return NULL;
  }
  return b.z;
}

static char *schema_render_name(const char *z, size_t n) {
  schema_buf b = {0, 0, 0, SQLITE_OK};
  schema_render_str(&b, z, n);
  if (b.rc != SQLITE_OK) {
    sqlite3_free(b.z);
    return NULL;
  }
  return b.z;
}

/* Code points in UTF-8 text: every byte that does not continue a
** sequence starts one. */
static sqlite3_int64 schema_utf8_len(const char *z, size_t n) {
  sqlite3_int64 nChar = 0;
  size_t i;
  for (i = 0; i < n; i++) {
    if (((unsigned char)z[i] & 0xc0) != 0x80) {
      nChar++;
    }
  }
  return nChar;
}

/**************************************************************************
** ECMA-262 regular expressions on pcre2.  See the header comment for the
** dialect.  The translation records where each piece of output came from,
** so that pcre2's error offsets can be given in the schema's own text.
*/
typedef struct schema_rx schema_rx;
struct schema_rx {
  schema_buf out;
  size_t *aOut, *aIn; /* output offset aOut[i] came from input aIn[i] */
  size_t nMap, nMapAlloc;
  const char *zErr; /* static text of a translation error */
  size_t iErr;      /* its input offset */
};

/* ECMA-262 WhiteSpace and LineTerminator, the meaning of \s, as items of a
** pcre2 character class. */
static const char zEcmaSpace[] =
    "\\x{09}-\\x{0d}\\x{20}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}"
    "\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}";

static void schema_rx_emit(schema_rx *p, size_t iIn, const char *z, size_t n) {
  if (p->nMap >= p->nMapAlloc) {
    size_t nNew = p->nMapAlloc ? p->nMapAlloc * 2 : 32;
    size_t *aOut = sqlite3_realloc64(p->aOut, nNew * sizeof(size_t));
    size_t *aIn;
    if (aOut == NULL) {
      p->out.rc = SQLITE_NOMEM;
      return;
    }
    p->aOut = aOut;
    aIn = sqlite3_realloc64(p->aIn, nNew * sizeof(size_t));
    if (aIn == NULL) {
      p->out.rc = SQLITE_NOMEM;
      return;
    }
    p->aIn = aIn;
    p->nMapAlloc = nNew;
  }
  p->aOut[p->nMap] = p->out.n;
  p->aIn[p->nMap] = iIn;
  p->nMap++;
  schema_buf_append(&p->out, z, n);
}

static void schema_rx_puts(schema_rx *p, size_t iIn, const char *z) {
  schema_rx_emit(p, iIn, z, strlen(z));
}

static void schema_rx_emit_cp(schema_rx *p, size_t iIn, unsigned long cp) {
  char zBuf[32]; /* room for any unsigned long, though cp <= 0x10ffff */
  snprintf(zBuf, sizeof(zBuf), "\\x{%lx}", cp);
  schema_rx_emit(p, iIn, zBuf, strlen(zBuf));
}

/* Read exactly nHex hex digits at z[i]; -1 if they are not there. */
static long schema_hexn(const char *z, size_t n, size_t i, int nHex) {
  long v = 0;
  int k;
  if (i + (size_t)nHex > n) {
    return -1;
  }
  for (k = 0; k < nHex; k++) {
    int h = thr_hexval(z[i + k]);
    if (h < 0) {
      return -1;
    }
    v = v * 16 + h;
  }
  return v;
}

static int schema_rx_fail(schema_rx *p, size_t i, const char *zErr) {
  if (p->zErr == NULL) {
    p->zErr = zErr;
    p->iErr = i;
  }
  return 0;
}

/* ECMA-262 spells General_Category values long or short; pcre2 10.42
** knows only the short ones. */
static const struct {
  const char *zLong;
  const char *zShort;
} aGcName[] = {
    {"Cased_Letter", "L&"},
    {"Close_Punctuation", "Pe"},
    {"Connector_Punctuation", "Pc"},
    {"Control", "Cc"},
    {"cntrl", "Cc"},
    {"Currency_Symbol", "Sc"},
    {"Dash_Punctuation", "Pd"},
    {"Decimal_Number", "Nd"},
    {"digit", "Nd"},
    {"Enclosing_Mark", "Me"},
    {"Final_Punctuation", "Pf"},
    {"Format", "Cf"},
    {"Initial_Punctuation", "Pi"},
    {"Letter", "L"},
    {"Letter_Number", "Nl"},
    {"Line_Separator", "Zl"},
    {"Lowercase_Letter", "Ll"},
    {"Mark", "M"},
    {"Combining_Mark", "M"},
    {"Math_Symbol", "Sm"},
    {"Modifier_Letter", "Lm"},
    {"Modifier_Symbol", "Sk"},
    {"Nonspacing_Mark", "Mn"},
    {"Number", "N"},
    {"Open_Punctuation", "Ps"},
    {"Other", "C"},
    {"Other_Letter", "Lo"},
    {"Other_Number", "No"},
    {"Other_Punctuation", "Po"},
    {"Other_Symbol", "So"},
    {"Paragraph_Separator", "Zp"},
    {"Private_Use", "Co"},
    {"Punctuation", "P"},
    {"punct", "P"},
    {"Separator", "Z"},
    {"Space_Separator", "Zs"},
    {"Spacing_Mark", "Mc"},
    {"Surrogate", "Cs"},
    {"Symbol", "S"},
    {"Titlecase_Letter", "Lt"},
    {"Unassigned", "Cn"},
    {"Uppercase_Letter", "Lu"},
    {"LC", "L&"},
};

/* Emit \p{..} or \P{..} (c) for the property text (z, n): a General_Category
** value, with or without "General_Category=" or "gc=", becomes its short
** name; anything else (scripts, binary properties) goes to pcre2 as it
** is, and pcre2 rejects what it does not know. */
static void schema_rx_property(schema_rx *p, size_t iIn, char c, const char *z,
                               size_t n) {
  const char *zVal = z;
  size_t nVal = n, k;
  char zHead[4] = {'\\', c, '{', 0};
  if (n > 17 && memcmp(z, "General_Category=", 17) == 0) {
    zVal = z + 17;
    nVal = n - 17;
  } else if (n > 3 && memcmp(z, "gc=", 3) == 0) {
    zVal = z + 3;
    nVal = n - 3;
  }
  schema_rx_puts(p, iIn, zHead);
  for (k = 0; k < sizeof(aGcName) / sizeof(aGcName[0]); k++) {
    if (strlen(aGcName[k].zLong) == nVal &&
        memcmp(aGcName[k].zLong, zVal, nVal) == 0) {
      schema_rx_puts(p, iIn, aGcName[k].zShort);
      break;
    }
  }
  if (k == sizeof(aGcName) / sizeof(aGcName[0])) {
    schema_rx_emit(p, iIn, zVal, nVal);
  }
  schema_rx_puts(p, iIn, "}");
}

/* Translate the escape at z[*pi] (a backslash).  Advances *pi past it.
** Returns 0 on a translation error (p->zErr set). */
static int schema_rx_escape(schema_rx *p, const char *z, size_t n, size_t *pi,
                            int bClass) {
  size_t i = *pi;
  char c;
  if (i + 1 >= n) {
    return schema_rx_fail(p, i, "\\ at end of pattern");
  }
  c = z[i + 1];
  *pi = i + 2;
  switch (c) {
  case 'd':
  case 'D':
  case 'w':
  case 'W':
  case 'f':
  case 'n':
  case 'r':
  case 't':
    schema_rx_emit(p, i, z + i, 2); /* same meaning in pcre2 without UCP */
    return 1;
  case 'b':
    if (bClass) {
      schema_rx_puts(p, i, "\\x{08}"); /* backspace inside a class */
    } else {
      schema_rx_puts(p, i, "\\b");
    }
    return 1;
  case 'B':
    if (bClass) {
      return schema_rx_fail(p, i, "invalid escape \\B in a class");
    }
    schema_rx_puts(p, i, "\\B");
    return 1;
  case 's':
    if (!bClass) {
      schema_rx_puts(p, i, "[");
    }
    schema_rx_puts(p, i, zEcmaSpace);
    if (!bClass) {
      schema_rx_puts(p, i, "]");
    }
    return 1;
  case 'S':
    if (bClass) {
      schema_rx_puts(p, i, "\\S"); /* ASCII only here: not supported */
    } else {
      schema_rx_puts(p, i, "[^");
      schema_rx_puts(p, i, zEcmaSpace);
      schema_rx_puts(p, i, "]");
    }
    return 1;
  case 'v':
    schema_rx_puts(p, i, "\\x{0b}"); /* pcre2's \v is a class */
    return 1;
  case '0':
    if (i + 2 < n && z[i + 2] >= '0' && z[i + 2] <= '9') {
      return schema_rx_fail(p, i, "invalid octal escape");
    }
    schema_rx_puts(p, i, "\\x{00}");
    return 1;
  case '1':
  case '2':
  case '3':
  case '4':
  case '5':
  case '6':
  case '7':
  case '8':
  case '9': {
    size_t j = i + 1;
    if (bClass) {
      return schema_rx_fail(p, i, "invalid escape in a class");
    }
    while (j < n && z[j] >= '0' && z[j] <= '9') {
      j++;
    }
    schema_rx_emit(p, i, z + i, j - i); /* a back reference */
    *pi = j;
    return 1;
  }
  case 'c':
    if (i + 2 < n && ((z[i + 2] >= 'a' && z[i + 2] <= 'z') ||
                      (z[i + 2] >= 'A' && z[i + 2] <= 'Z'))) {
      schema_rx_emit(p, i, z + i, 3);
      *pi = i + 3;
      return 1;
    }
    return schema_rx_fail(p, i, "invalid escape \\c");
  case 'x': {
    long v = schema_hexn(z, n, i + 2, 2);
    if (v < 0) {
      return schema_rx_fail(p, i, "invalid escape \\x");
    }
    schema_rx_emit_cp(p, i, (unsigned long)v);
    *pi = i + 4;
    return 1;
  }
  case 'u': {
    long v;
    if (i + 2 < n && z[i + 2] == '{') {
      size_t j = i + 3;
      v = 0;
      while (j < n && thr_hexval(z[j]) >= 0 && v <= 0x10ffff) {
        v = v * 16 + thr_hexval(z[j]);
        j++;
      }
      if (j == i + 3 || j >= n || z[j] != '}' || v > 0x10ffff) {
        return schema_rx_fail(p, i, "invalid escape \\u{...}");
      }
      *pi = j + 1;
    } else {
      v = schema_hexn(z, n, i + 2, 4);
      if (v < 0) {
        return schema_rx_fail(p, i, "invalid escape \\u");
      }
      *pi = i + 6;
      if (v >= 0xd800 && v <= 0xdbff && *pi + 1 < n && z[*pi] == '\\' &&
          z[*pi + 1] == 'u') {
        long lo = schema_hexn(z, n, *pi + 2, 4);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
          *pi += 6;
        }
      }
    }
    if (v >= 0xd800 && v <= 0xdfff) {
      return schema_rx_fail(p, i, "lone surrogate in \\u escape");
    }
    schema_rx_emit_cp(p, i, (unsigned long)v);
    return 1;
  }
  case 'k': {
    size_t j = i + 2;
    if (bClass || j >= n || z[j] != '<') {
      return schema_rx_fail(p, i, "invalid escape \\k");
    }
    while (j < n && z[j] != '>') {
      j++;
    }
    if (j >= n) {
      return schema_rx_fail(p, i, "invalid escape \\k");
    }
    schema_rx_emit(p, i, z + i, j + 1 - i);
    *pi = j + 1;
    return 1;
  }
  case 'p':
  case 'P': {
    size_t j = i + 2;
    if (j >= n || z[j] != '{') {
      return schema_rx_fail(p, i, "invalid escape \\p");
    }
    while (j < n && z[j] != '}') {
      j++;
    }
    if (j >= n) {
      return schema_rx_fail(p, i, "invalid escape \\p");
    }
    schema_rx_property(p, i, c, z + i + 3, j - i - 3);
    *pi = j + 1;
    return 1;
  }
  default:
    if (c != 0 && strchr("^$\\.*+?()[]{}|/-", c) != NULL) {
      schema_rx_emit(p, i, z + i, 2);
      return 1;
    }
    return schema_rx_fail(p, i, "invalid escape");
  }
}

/* Translate ECMA-262 pattern (z, n) into p->out.  Returns 0 (p->zErr set)
** when the pattern is not valid ECMA-262 in a way we detect ourselves. */
static int schema_rx_translate(schema_rx *p, const char *z, size_t n) {
  size_t i = 0;
  int bClass = 0;
  while (i < n && p->out.rc == SQLITE_OK) {
    char c = z[i];
    if (bClass) {
      if (c == ']') {
        schema_rx_puts(p, i, "]");
        bClass = 0;
        i++;
      } else if (c == '\\') {
        if (!schema_rx_escape(p, z, n, &i, 1)) {
          return 0;
        }
      } else if (c == '[') {
        schema_rx_puts(p, i, "\\["); /* not a POSIX class in ECMA */
        i++;
      } else {
        schema_rx_emit(p, i, z + i, 1);
        i++;
      }
      continue;
    }
    switch (c) {
    case '\\':
      if (!schema_rx_escape(p, z, n, &i, 0)) {
        return 0;
      }
      break;
    case '.':
      schema_rx_puts(p, i, "[^\\n\\r\\x{2028}\\x{2029}]");
      i++;
      break;
    case '[':
      if (i + 1 < n && z[i + 1] == ']') {
        schema_rx_puts(p, i, "(?!)"); /* the empty class */
        i += 2;
      } else if (i + 2 < n && z[i + 1] == '^' && z[i + 2] == ']') {
        schema_rx_puts(p, i, "(?s:.)"); /* any code point */
        i += 3;
      } else if (i + 1 < n && z[i + 1] == '^') {
        schema_rx_puts(p, i, "[^");
        bClass = 1;
        i += 2;
      } else {
        schema_rx_puts(p, i, "[");
        bClass = 1;
        i++;
      }
      break;
    case '(':
      if (i + 1 < n && z[i + 1] == '?') {
        /* Groups ECMA has: (?: (?= (?! (?<= (?<! (?<name> */
        char d = i + 2 < n ? z[i + 2] : 0;
        char e = i + 3 < n ? z[i + 3] : 0;
        if (!(d == ':' || d == '=' || d == '!' ||
              (d == '<' &&
               (e == '=' || e == '!' || e == '_' || (e >= 'a' && e <= 'z') ||
                (e >= 'A' && e <= 'Z'))))) {
          return schema_rx_fail(p, i, "invalid group");
        }
      }
      schema_rx_puts(p, i, "(");
      i++;
      break;
    case '*':
    case '+':
    case '?':
      schema_rx_emit(p, i, z + i, 1);
      i++;
      if (i < n && z[i] == '?') {
        schema_rx_puts(p, i, "?"); /* lazy */
        i++;
      }
      if (i < n && (z[i] == '+' || z[i] == '*')) {
        return schema_rx_fail(p, i, "nothing to repeat");
      }
      break;
    case '{': {
      /* A quantifier {n}, {n,}, {n,m} may not be followed by "+"
      ** (pcre2 would make it possessive). */
      size_t j = i + 1;
      while (j < n && z[j] >= '0' && z[j] <= '9') {
        j++;
      }
      if (j > i + 1 && j < n && z[j] == ',') {
        j++;
        while (j < n && z[j] >= '0' && z[j] <= '9') {
          j++;
        }
      }
      if (j > i + 1 && j < n && z[j] == '}') {
        schema_rx_emit(p, i, z + i, j + 1 - i);
        i = j + 1;
        if (i < n && z[i] == '?') {
          schema_rx_puts(p, i, "?");
          i++;
        }
        if (i < n && (z[i] == '+' || z[i] == '*')) {
          return schema_rx_fail(p, i, "nothing to repeat");
        }
      } else {
        schema_rx_puts(p, i, "\\{");
        i++;
      }
      break;
    }
    default:
      schema_rx_emit(p, i, z + i, 1);
      i++;
      break;
    }
  }
  if (bClass) {
    return schema_rx_fail(p, n, "missing terminating ] for character class");
  }
  return 1;
}

/* Compile an ECMA-262 pattern.  On failure returns NULL and, unless out of
** memory (*pbNoMem set), *pzErr gets "invalid regular expression: <why> at
** offset N" (sqlite3_malloc'd; the offset is in the pattern's bytes). */
static pcre2_code *schema_regex_compile(const char *z, size_t n, char **pzErr,
                                        int *pbNoMem) {
  schema_rx rx;
  pcre2_code *pCode = NULL;
  memset(&rx, 0, sizeof(rx));
  *pzErr = NULL;
  *pbNoMem = 0;
  if (!schema_rx_translate(&rx, z, n)) {
    *pzErr = sqlite3_mprintf("invalid regular expression: %s at offset %llu",
                             rx.zErr, (unsigned long long)rx.iErr);
  } else if (rx.out.rc == SQLITE_OK) {
    int errCode;
    PCRE2_SIZE iOff;
    pCode = pcre2_compile((PCRE2_SPTR)(rx.out.z ? rx.out.z : ""), rx.out.n,
                          PCRE2_UTF | PCRE2_DOLLAR_ENDONLY |
                              PCRE2_NEVER_BACKSLASH_C,
                          &errCode, &iOff, NULL);
    if (pCode == NULL) {
      PCRE2_UCHAR aMsg[256];
      size_t iIn = n, k;
      if (errCode == PCRE2_ERROR_NOMEMORY ||
          errCode == PCRE2_ERROR_HEAP_FAILED) {
        *pbNoMem = 1;
      } else {
        pcre2_get_error_message(errCode, aMsg, sizeof(aMsg));
        /* The last piece of output that starts at or before the offset. */
        for (k = 0; k < rx.nMap; k++) {
          if (rx.aOut[k] > iOff) {
            break;
          }
          iIn = rx.aIn[k];
        }
        if (iOff >= rx.out.n) {
          iIn = n;
        }
        *pzErr =
            sqlite3_mprintf("invalid regular expression: %s at offset %llu",
                            (char *)aMsg, (unsigned long long)iIn);
      }
    }
  }
  if (rx.out.rc != SQLITE_OK || (pCode == NULL && *pzErr == NULL)) {
    *pbNoMem = 1;
  }
  sqlite3_free(rx.out.z);
  sqlite3_free(rx.aOut);
  sqlite3_free(rx.aIn);
  return pCode;
}

/**************************************************************************
** URIs (RFC 3986).
*/
typedef struct schema_uri schema_uri;
struct schema_uri {
  const char *zScheme, *zAuth, *zPath, *zQuery, *zFrag;
  size_t nScheme, nAuth, nPath, nQuery, nFrag;
  int bScheme, bAuth, bQuery, bFrag;
};

/* 1 if c is one of the characters of zSet (never for NUL). */
static int schema_in(char c, const char *zSet) {
  return c != 0 && strchr(zSet, c) != NULL;
}

/* Split a URI reference the way RFC 3986 appendix B does:
**   ^(([^:/?#]+):)?(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))?  */
static void schema_uri_split(const char *z, size_t n, schema_uri *p) {
  size_t i = 0;
  memset(p, 0, sizeof(*p));
  while (i < n && !schema_in(z[i], ":/?#")) {
    i++;
  }
  if (i > 0 && i < n && z[i] == ':') {
    p->bScheme = 1;
    p->zScheme = z;
    p->nScheme = i;
    z += i + 1;
    n -= i + 1;
  }
  if (n >= 2 && z[0] == '/' && z[1] == '/') {
    i = 2;
    while (i < n && !schema_in(z[i], "/?#")) {
      i++;
    }
    p->bAuth = 1;
    p->zAuth = z + 2;
    p->nAuth = i - 2;
    z += i;
    n -= i;
  }
  i = 0;
  while (i < n && z[i] != '?' && z[i] != '#') {
    i++;
  }
  p->zPath = z;
  p->nPath = i;
  z += i;
  n -= i;
  if (n > 0 && z[0] == '?') {
    i = 1;
    while (i < n && z[i] != '#') {
      i++;
    }
    p->bQuery = 1;
    p->zQuery = z + 1;
    p->nQuery = i - 1;
    z += i;
    n -= i;
  }
  if (n > 0 && z[0] == '#') {
    p->bFrag = 1;
    p->zFrag = z + 1;
    p->nFrag = n - 1;
  }
}

/* RFC 3986 5.2.4: remove "." and ".." segments from (z, n) into b. */
static void schema_remove_dots(schema_buf *b, const char *z, size_t n) {
  size_t i = 0, nStart = b->n;
  while (i < n) {
    const char *zIn = z + i;
    size_t nIn = n - i;
    if (nIn >= 3 && memcmp(zIn, "../", 3) == 0) {
      i += 3;
    } else if (nIn >= 2 && memcmp(zIn, "./", 2) == 0) {
      i += 2;
    } else if (nIn >= 3 && memcmp(zIn, "/./", 3) == 0) {
      i += 2; /* leaves "/" */
    } else if (nIn == 2 && memcmp(zIn, "/.", 2) == 0) {
      schema_buf_append(b, "/", 1);
      i += 2;
    } else if ((nIn >= 4 && memcmp(zIn, "/../", 4) == 0) ||
               (nIn == 3 && memcmp(zIn, "/..", 3) == 0)) {
      /* Drop the last output segment and its "/". */
      size_t k = b->n;
      while (k > nStart && b->z[k - 1] != '/') {
        k--;
      }
      if (k > nStart) {
        k--;
      }
      schema_buf_truncate(b, k);
      if (nIn == 3) {
        schema_buf_append(b, "/", 1);
        i += 3;
      } else {
        i += 3; /* leaves "/" */
      }
    } else if ((nIn == 1 && zIn[0] == '.') ||
               (nIn == 2 && memcmp(zIn, "..", 2) == 0)) {
      i = n;
    } else {
      size_t k = 1;
      while (k < nIn && zIn[k] != '/') {
        k++;
      }
      if (zIn[0] != '/') {
        k = 0;
        while (k < nIn && zIn[k] != '/') {
          k++;
        }
      }
      schema_buf_append(b, zIn, k);
      i += k;
    }
  }
}

/* Resolve reference zRef against base zBase (RFC 3986 5.2.2).  Returns a
** sqlite3_malloc'd string or NULL on OOM. */
static char *schema_uri_join(const char *zBase, const char *zRef) {
  schema_uri r, B;
  schema_buf b = {0, 0, 0, SQLITE_OK};
  const char *zQuery = NULL;
  size_t nQuery = 0;
  int bQuery = 0;
  schema_uri_split(zRef, strlen(zRef), &r);
  schema_uri_split(zBase, strlen(zBase), &B);
  if (r.bScheme) {
    schema_buf_append(&b, r.zScheme, r.nScheme);
    schema_buf_append(&b, ":", 1);
  } else if (B.bScheme) {
    schema_buf_append(&b, B.zScheme, B.nScheme);
    schema_buf_append(&b, ":", 1);
  }
  if (r.bScheme || r.bAuth) {
    if (r.bAuth) {
      schema_buf_append(&b, "//", 2);
      schema_buf_append(&b, r.zAuth, r.nAuth);
    }
    schema_remove_dots(&b, r.zPath, r.nPath);
    bQuery = r.bQuery;
    zQuery = r.zQuery;
    nQuery = r.nQuery;
  } else {
    if (B.bAuth) {
      schema_buf_append(&b, "//", 2);
      schema_buf_append(&b, B.zAuth, B.nAuth);
    }
    if (r.nPath == 0) {
      schema_buf_append(&b, B.zPath, B.nPath);
      if (r.bQuery) {
        bQuery = 1;
        zQuery = r.zQuery;
        nQuery = r.nQuery;
      } else {
        bQuery = B.bQuery;
        zQuery = B.zQuery;
        nQuery = B.nQuery;
      }
    } else {
      if (r.zPath[0] == '/') {
        schema_remove_dots(&b, r.zPath, r.nPath);
      } else {
        /* Merge: the base path up to its last "/", then the reference. */
        schema_buf m = {0, 0, 0, SQLITE_OK};
        if (B.bAuth && B.nPath == 0) {
          schema_buf_append(&m, "/", 1);
        } else {
          size_t k = B.nPath;
          while (k > 0 && B.zPath[k - 1] != '/') {
            k--;
          }
          schema_buf_append(&m, B.zPath, k);
        }
        schema_buf_append(&m, r.zPath, r.nPath);
        if (m.rc != SQLITE_OK) {
          b.rc = m.rc;
        } else {
          schema_remove_dots(&b, m.z, m.n);
        }
        sqlite3_free(m.z);
      }
      bQuery = r.bQuery;
      zQuery = r.zQuery;
      nQuery = r.nQuery;
    }
  }
  if (bQuery) {
    schema_buf_append(&b, "?", 1);
    schema_buf_append(&b, zQuery, nQuery);
  }
  if (r.bFrag) {
    schema_buf_append(&b, "#", 1);
    schema_buf_append(&b, r.zFrag, r.nFrag);
  }
  schema_buf_append(&b, "", 0); /* a string even when empty */
  if (b.rc != SQLITE_OK) {
    sqlite3_free(b.z);
    return NULL;
  }
  return b.z;
}

/* 1 if (z, n) is a valid URI scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" /
** "." ). */
static int schema_scheme_ok(const char *z, size_t n) {
  size_t i;
  if (n == 0 ||
      !((z[0] >= 'a' && z[0] <= 'z') || (z[0] >= 'A' && z[0] <= 'Z'))) {
    return 0;
  }
  for (i = 1; i < n; i++) {
    char c = z[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')) {
      return 0;
    }
  }
  return 1;
}

/* 1 if z starts with a URI scheme ("http:", "urn:"). */
static int schema_has_scheme(const char *z) {
  schema_uri u;
  schema_uri_split(z, strlen(z), &u);
  return u.bScheme && schema_scheme_ok(u.zScheme, u.nScheme);
}

/* Decode %XX escapes of (z, n) into b (a "%" not followed by two hex
** digits stays as it is). */
static void schema_pct_decode(schema_buf *b, const char *z, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    long v = z[i] == '%' ? schema_hexn(z, n, i + 1, 2) : -1;
    if (v >= 0) {
      char c = (char)v;
      schema_buf_append(b, &c, 1);
      i += 2;
    } else {
      schema_buf_append(b, z + i, 1);
    }
  }
}

/**************************************************************************
** Compiling.
*/
typedef struct schema_cc schema_cc;
struct schema_cc {
  thr_schema *p;
  char *zErr;    /* "invalid schema: ..." */
  int bRegister; /* record "$id"s (pass 1) */
  int nDepth;    /* nesting of schema_compile_node() */
};

/* Fail compilation at zLoc.  Returns SQLITE_ERROR (SQLITE_NOMEM if even
** the message cannot be made). */
static int schema_cc_error(schema_cc *cc, const char *zLoc, const char *zFmt,
                           ...) {
  va_list ap;
  char *zWhy;
  va_start(ap, zFmt);
  zWhy = sqlite3_vmprintf(zFmt, ap);
  va_end(ap);
  if (zWhy == NULL) {
    return SQLITE_NOMEM;
  }
  if (cc->zErr == NULL) {
    cc->zErr =
        sqlite3_mprintf("invalid schema: %s: %s", zLoc ? zLoc : "", zWhy);
  }
  sqlite3_free(zWhy);
  return cc->zErr ? SQLITE_ERROR : SQLITE_NOMEM;
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

static schema_res *schema_res_find(const thr_schema *p, const char *zKey) {
  int i;
  for (i = 0; i < p->nRes; i++) {
    if (strcmp(p->aRes[i].zKey, zKey) == 0) {
      return &p->aRes[i];
    }
  }
  return NULL;
}

/* Record an identifier.  The first of duplicates wins. */
static int schema_res_add(thr_schema *p, const char *zKey, const json_t *pJson,
                          const char *zBase, const char *zLoc) {
  schema_res *pRes;
  if (schema_res_find(p, zKey)) {
    return SQLITE_OK;
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
  return SQLITE_OK;
}

/* The base URI inside schema pJson whose parent's base is zBase: changed
** by its "$id" unless a "$ref" makes it ignore its other keywords.  In
** pass 1 the identifier is also recorded.  *pzBase gets a pool string. */
static int schema_apply_id(schema_cc *cc, const json_t *pJson,
                           const char *zBase, const char *zLoc,
                           const char **pzBase) {
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
    return schema_cc_error(cc, schema_loc(p, zLoc, "$id", 3),
                           "must be a string");
  }
  zAbs = schema_keep(p, schema_uri_join(zBase, json_string_value(pId)));
  if (zAbs == NULL) {
    return SQLITE_NOMEM;
  }
  zHash = strchr(zAbs, '#');
  if (zHash) {
    /* "#name" (plain-name fragment) names this schema; a fragment that is
    ** a pointer or empty names nothing more than the resource does. */
    const char *zRes = schema_mprintf(p, "%.*s", (int)(zHash - zAbs), zAbs);
    if (zRes == NULL) {
      return SQLITE_NOMEM;
    }
    if (cc->bRegister && zHash[1] != 0 && zHash[1] != '/') {
      if (schema_res_add(p, zAbs, pJson, zRes, zLoc) != SQLITE_OK) {
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
    return schema_res_add(p, *pzBase, pJson, *pzBase, zLoc);
  }
  return SQLITE_OK;
}

static int schema_compile_node(schema_cc *cc, const json_t *pJson,
                               const char *zBase, const char *zLoc,
                               schema_node **ppNode);

/* Compile the subschema pJson found at zLoc inside pNode. */
static int schema_child(schema_cc *cc, schema_node *pNode, const json_t *pJson,
                        const char *zLoc, schema_node **ppChild) {
  if (zLoc == NULL) {
    return SQLITE_NOMEM;
  }
  return schema_compile_node(cc, pJson, pNode->zBase, zLoc, ppChild);
}

/* An array of subschemas ("allOf", "items" as an array, ...). */
static int schema_child_array(schema_cc *cc, schema_node *pNode,
                              const json_t *pArr, const char *zLoc,
                              schema_node ***papChild, int *pnChild) {
  size_t i, n = json_array_size(pArr);
  schema_node **ap = schema_alloc(cc->p, n * sizeof(schema_node *));
  if (ap == NULL) {
    return SQLITE_NOMEM;
  }
  for (i = 0; i < n; i++) {
    int rc = schema_child(cc, pNode, json_array_get(pArr, i),
                          schema_loc_index(cc->p, zLoc, i), &ap[i]);
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
  if (!schema_is_integral(pVal) ||
      (json_is_integer(pVal) && json_integer_value(pVal) < 0) ||
      (json_is_real(pVal) && json_real_value(pVal) < 0)) {
    return schema_cc_error(cc, zLoc, "must be a non-negative integer");
  }
  if (json_is_integer(pVal)) {
    *pN = json_integer_value(pVal);
  } else {
    double d = json_real_value(pVal);
    *pN = d >= 9.2e18 ? (sqlite3_int64)9200000000000000000LL : (sqlite3_int64)d;
  }
  return SQLITE_OK;
}

/* An array of unique strings ("required", dependencies' array form). */
static int schema_names_value(schema_cc *cc, const json_t *pVal,
                              const char *zLoc) {
  size_t i, j, n = json_array_size(pVal);
  if (!json_is_array(pVal)) {
    return schema_cc_error(cc, zLoc, "must be an array of strings");
  }
  for (i = 0; i < n; i++) {
    const json_t *pName = json_array_get(pVal, i);
    if (!json_is_string(pName)) {
      return schema_cc_error(cc, schema_loc_index(cc->p, zLoc, i),
                             "must be a string");
    }
    for (j = 0; j < i; j++) {
      if (schema_equal(pName, json_array_get(pVal, j), 0)) {
        char *zName =
            schema_keep(cc->p, schema_render_name(json_string_value(pName),
                                                  json_string_length(pName)));
        return schema_cc_error(cc, schema_loc_index(cc->p, zLoc, i),
                               "duplicate name %s", zName ? zName : "");
      }
    }
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
  pRe = schema_regex_compile(z, n, &zErr, &bNoMem);
  if (pRe == NULL) {
    if (bNoMem) {
      sqlite3_free(zErr);
      return SQLITE_NOMEM;
    }
    rc = schema_cc_error(cc, zLoc, "%s", zErr);
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

static int schema_prop_cmp(const void *a, const void *b) {
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
    if (strlen(azKw[i]) == nKey && memcmp(azKw[i], zKey, nKey) == 0) {
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
      return schema_cc_error(cc, zLoc, "must be a string");
    }
    pNode->zRef = json_string_value(pVal);
    pNode->zRefUri = schema_keep(p, schema_uri_join(pNode->zBase, pNode->zRef));
    if (pNode->zRefUri == NULL) {
      return SQLITE_NOMEM;
    }
    bCheck = 0; /* resolved and applied apart from the keyword list */
    break;
  case KW_ID: /* handled by schema_apply_id() */
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
      return schema_cc_error(cc, zLoc, "must be a string");
    }
    bCheck = 0;
    break;
  case KW_DEFINITIONS:
    if (!json_is_object(pVal)) {
      return schema_cc_error(cc, zLoc, "must be an object");
    }
    json_object_keylen_foreach((json_t *)pVal, zKey, nKey, pMember) {
      schema_node *pChild;
      rc = schema_child(cc, pNode, pMember, schema_loc(p, zLoc, zKey, nKey),
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
        return schema_cc_error(cc, zLoc, "must not be an empty array");
      }
      for (i = 0; i < n; i++) {
        const json_t *pName =
            json_is_string(pVal) ? pVal : json_array_get(pVal, i);
        const char *zItemLoc =
            json_is_string(pVal) ? zLoc : schema_loc_index(p, zLoc, i);
        int iType;
        if (!json_is_string(pName)) {
          return schema_cc_error(cc, zItemLoc, "must be a string");
        }
        for (iType = 0; iType < SCHEMA_NTYPE; iType++) {
          if (strcmp(json_string_value(pName), azType[iType]) == 0) {
            break;
          }
        }
        if (iType == SCHEMA_NTYPE) {
          char *zName =
              schema_keep(p, schema_render_name(json_string_value(pName),
                                                json_string_length(pName)));
          return schema_cc_error(cc, zItemLoc, "unknown type %s",
                                 zName ? zName : "");
        }
        if (pNode->mType & (1u << iType)) {
          return schema_cc_error(cc, zItemLoc, "duplicate type \"%s\"",
                                 azType[iType]);
        }
        pNode->mType |= 1u << iType;
        pNode->aType[pNode->nType++] = (unsigned char)iType;
      }
    } else {
      return schema_cc_error(cc, zLoc,
                             "must be a type name or an array of type names");
    }
    break;
  case KW_ENUM:
    if (!json_is_array(pVal)) {
      return schema_cc_error(cc, zLoc, "must be an array");
    }
    pNode->pEnum = pVal;
    break;
  case KW_CONST:
    pNode->pConst = pVal;
    break;
  case KW_MULTIPLEOF:
    if (!json_is_number(pVal) || json_number_value(pVal) <= 0) {
      return schema_cc_error(cc, zLoc, "must be a number greater than 0");
    }
    pNode->pMultipleOf = pVal;
    break;
  case KW_MAXIMUM:
  case KW_EXCLMAX:
  case KW_MINIMUM:
  case KW_EXCLMIN:
    if (!json_is_number(pVal)) {
      return schema_cc_error(cc, zLoc, "must be a number");
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
      return schema_cc_error(cc, zLoc, "must be a string");
    }
    pNode->zPattern = json_string_value(pVal);
    rc = schema_pattern(cc, json_string_value(pVal), json_string_length(pVal),
                        zLoc, &pNode->pPattern);
    break;
  case KW_FORMAT:
    if (!json_is_string(pVal)) {
      return schema_cc_error(cc, zLoc, "must be a string");
    }
    for (i = 0; i < sizeof(aFormat) / sizeof(aFormat[0]); i++) {
      if (strcmp(aFormat[i].zName, json_string_value(pVal)) == 0) {
        pNode->eFormat = aFormat[i].eFmt;
        pNode->zFormat = aFormat[i].zName;
      }
    }
    bCheck = pNode->eFormat != FMT_NONE; /* unknown formats pass */
    break;
  case KW_ITEMS:
    if (json_is_array(pVal)) {
      if (json_array_size(pVal) == 0) {
        return schema_cc_error(cc, zLoc, "must not be an empty array");
      }
      pNode->bItemsArray = 1;
      rc = schema_child_array(cc, pNode, pVal, zLoc, &pNode->apItems,
                              &pNode->nItems);
    } else if (json_is_object(pVal) || json_is_boolean(pVal)) {
      rc = schema_child(cc, pNode, pVal, zLoc, &pNode->pItems);
    } else {
      return schema_cc_error(cc, zLoc,
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
      return schema_cc_error(cc, zLoc, "must be a boolean");
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
      return schema_cc_error(cc, zLoc, "must be an object");
    }
    pNode->aProp = schema_alloc(p, n * sizeof(schema_prop));
    if (pNode->aProp == NULL) {
      return SQLITE_NOMEM;
    }
    json_object_keylen_foreach((json_t *)pVal, zKey, nKey, pMember) {
      schema_prop *pProp = &pNode->aProp[pNode->nProp];
      pProp->zName = zKey;
      pProp->nName = nKey;
      rc = schema_child(cc, pNode, pMember, schema_loc(p, zLoc, zKey, nKey),
                        &pProp->pNode);
      if (rc != SQLITE_OK) {
        return rc;
      }
      pNode->nProp++;
    }
    qsort(pNode->aProp, (size_t)pNode->nProp, sizeof(schema_prop),
          schema_prop_cmp);
    break;
  }
  case KW_PATTERNPROPS: {
    size_t n = json_object_size(pVal);
    if (!json_is_object(pVal)) {
      return schema_cc_error(cc, zLoc, "must be an object");
    }
    pNode->aPProp = schema_alloc(p, n * sizeof(schema_pprop));
    if (pNode->aPProp == NULL) {
      return SQLITE_NOMEM;
    }
    json_object_keylen_foreach((json_t *)pVal, zKey, nKey, pMember) {
      schema_pprop *pPP = &pNode->aPProp[pNode->nPProp];
      const char *zMemberLoc = schema_loc(p, zLoc, zKey, nKey);
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
      return schema_cc_error(cc, zLoc, "must be an object");
    }
    pNode->aDep = schema_alloc(p, n * sizeof(schema_dep));
    if (pNode->aDep == NULL) {
      return SQLITE_NOMEM;
    }
    json_object_keylen_foreach((json_t *)pVal, zKey, nKey, pMember) {
      schema_dep *pDep = &pNode->aDep[pNode->nDep];
      const char *zMemberLoc = schema_loc(p, zLoc, zKey, nKey);
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
        rc = schema_cc_error(cc, zMemberLoc,
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
      return schema_cc_error(cc, zLoc, "must be a non-empty array of schemas");
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
      return schema_cc_error(cc, zLoc, "must be a string");
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
static int schema_compile_node(schema_cc *cc, const json_t *pJson,
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
    return schema_cc_error(cc, zLoc, "must be an object or a boolean");
  }
  if (cc->nDepth >= SCHEMA_MAX_DEPTH) {
    return schema_cc_error(cc, zLoc, "schemas nested deeper than %d levels",
                           SCHEMA_MAX_DEPTH);
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
  rc = schema_apply_id(cc, pJson, zBase, zLoc, &pNode->zBase);
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
    zKwLoc = schema_loc(p, zLoc, zKey, nKey);
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
  rc = schema_compile_node(cc, p->pMeta, "", SCHEMA_META_URI "#", &pNode);
  cc->bRegister = bSave;
  return rc;
}

/* Resolve pNode's "$ref": set pRef, or zRemote for a document we cannot
** fetch, or fail compilation. */
static int schema_resolve(schema_cc *cc, schema_node *pNode) {
  thr_schema *p = cc->p;
  const char *zUri = pNode->zRefUri;
  const char *zHash = strchr(zUri, '#');
  const char *zFrag = zHash ? zHash + 1 : "";
  const char *zRefLoc = schema_loc(p, pNode->zLoc, "$ref", 4);
  char *zDoc;
  schema_res *pRes;
  const json_t *pTarget;
  const char *zBase, *zLoc;
  schema_buf dec = {0, 0, 0, SQLITE_OK};
  int rc;

  if (zRefLoc == NULL) {
    return SQLITE_NOMEM;
  }
  zDoc = schema_mprintf(p, "%.*s",
                        (int)(zHash ? zHash - zUri : (long)strlen(zUri)), zUri);
  if (zDoc == NULL) {
    return SQLITE_NOMEM;
  }
  schema_pct_decode(&dec, zFrag, strlen(zFrag));
  schema_buf_append(&dec, "", 0);
  if (dec.rc != SQLITE_OK) {
    return SQLITE_NOMEM;
  }
  schema_keep(p, dec.z);
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
    if (schema_has_scheme(zUri) && schema_res_find(p, zDoc) == NULL) {
      pNode->zRemote = zUri;
      return SQLITE_OK;
    }
    return schema_cc_error(cc, zRefLoc, "cannot resolve %s", pNode->zRef);
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
          schema_buf_append(&tok, z[k + 1] == '0' ? "~" : "/", 1);
          k++;
        } else {
          schema_buf_append(&tok, z + k, 1);
        }
      }
      schema_buf_append(&tok, "", 0);
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
      zLoc = schema_loc(p, zLoc, tok.z, tok.n);
      sqlite3_free(tok.z);
      if (pNext == NULL) {
        return schema_cc_error(cc, zRefLoc, "cannot resolve %s", pNode->zRef);
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
        rc = schema_apply_id(cc, pTarget, zBase, zLoc, &zBase);
        if (rc != SQLITE_OK) {
          return rc;
        }
      }
      z += n + 1;
    }
  }
  if (!json_is_object(pTarget) && !json_is_boolean(pTarget)) {
    return schema_cc_error(cc, zRefLoc, "%s does not point to a schema",
                           pNode->zRef);
  }
  return schema_compile_node(cc, pTarget, zBase, zLoc, &pNode->pRef);
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
  p->pMatchCtx = pcre2_match_context_create(NULL);
  if (p->pMatchCtx == NULL) {
    thr_schema_free(p);
    return SQLITE_NOMEM;
  }
  pcre2_set_match_limit(p->pMatchCtx, SCHEMA_MATCH_LIMIT);

  /* Pass 1: walk and record identifiers.  Pass 2: resolve references,
  ** which may compile (and so append) more nodes. */
  cc.bRegister = 1;
  rc = schema_compile_node(&cc, p->pRoot, "", "", &p->pTop);
  if (rc == SQLITE_OK && p->pTop->eBool == 0) {
    /* The root is a resource under its own base, "" if it has no "$id". */
    rc = schema_res_add(p, p->pTop->zBase, p->pRoot, p->pTop->zBase, "");
  }
  cc.bRegister = 0;
  for (i = 0; rc == SQLITE_OK && i < p->nNode; i++) {
    schema_node *pNode = p->apNode[i];
    if (pNode->zRefUri && pNode->pRef == NULL && pNode->zRemote == NULL) {
      rc = schema_resolve(&cc, pNode);
    }
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

/**************************************************************************
** Formats.  Each returns 1 if (z, n) is valid.
*/

static int schema_digits(const char *z, size_t n, size_t i, int nDigit) {
  int k, v = 0;
  if (i + (size_t)nDigit > n) {
    return -1;
  }
  for (k = 0; k < nDigit; k++) {
    if (z[i + k] < '0' || z[i + k] > '9') {
      return -1;
    }
    v = v * 10 + (z[i + k] - '0');
  }
  return v;
}

/* RFC 3339 full-date at z[*pi]. */
static int schema_fmt_date_at(const char *z, size_t n, size_t *pi) {
  static const int aDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  size_t i = *pi;
  int y = schema_digits(z, n, i, 4), m, d, nDay;
  if (y < 0 || i + 10 > n || z[i + 4] != '-' || z[i + 7] != '-') {
    return 0;
  }
  m = schema_digits(z, n, i + 5, 2);
  d = schema_digits(z, n, i + 8, 2);
  if (m < 1 || m > 12 || d < 1) {
    return 0;
  }
  nDay = aDays[m - 1];
  if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) {
    nDay = 29;
  }
  if (d > nDay) {
    return 0;
  }
  *pi = i + 10;
  return 1;
}

/* RFC 3339 full-time at z[*pi], to the end of the text.  A leap second
** (:60) must fall at 23:59:60 UTC. */
static int schema_fmt_time_at(const char *z, size_t n, size_t i) {
  int h = schema_digits(z, n, i, 2), mi, s, oh = 0, om = 0, sign = 0;
  if (h < 0 || i + 8 > n || z[i + 2] != ':' || z[i + 5] != ':') {
    return 0;
  }
  mi = schema_digits(z, n, i + 3, 2);
  s = schema_digits(z, n, i + 6, 2);
  if (h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60) {
    return 0;
  }
  i += 8;
  if (i < n && z[i] == '.') {
    size_t iStart = ++i;
    while (i < n && z[i] >= '0' && z[i] <= '9') {
      i++;
    }
    if (i == iStart) {
      return 0;
    }
  }
  if (i < n && (z[i] == 'Z' || z[i] == 'z')) {
    i++;
  } else if (i < n && (z[i] == '+' || z[i] == '-')) {
    sign = z[i] == '+' ? 1 : -1;
    oh = schema_digits(z, n, i + 1, 2);
    if (oh < 0 || i + 6 > n || z[i + 3] != ':') {
      return 0;
    }
    om = schema_digits(z, n, i + 4, 2);
    if (oh > 23 || om < 0 || om > 59) {
      return 0;
    }
    i += 6;
  } else {
    return 0;
  }
  if (i != n) {
    return 0;
  }
  if (s == 60) {
    int utc = ((h * 60 + mi - sign * (oh * 60 + om)) % 1440 + 1440) % 1440;
    if (utc != 23 * 60 + 59) {
      return 0;
    }
  }
  return 1;
}

static int schema_fmt_date(const char *z, size_t n) {
  size_t i = 0;
  return schema_fmt_date_at(z, n, &i) && i == n;
}

static int schema_fmt_datetime(const char *z, size_t n) {
  size_t i = 0;
  if (!schema_fmt_date_at(z, n, &i) || i >= n || (z[i] != 'T' && z[i] != 't')) {
    return 0;
  }
  return schema_fmt_time_at(z, n, i + 1);
}

/* Dotted-quad IPv4: four decimal numbers 0..255 without leading zeros. */
static int schema_fmt_ipv4(const char *z, size_t n) {
  size_t i = 0;
  int nPart;
  for (nPart = 0; nPart < 4; nPart++) {
    size_t iStart = i;
    int v = 0;
    if (nPart > 0) {
      if (i >= n || z[i] != '.') {
        return 0;
      }
      iStart = ++i;
    }
    while (i < n && z[i] >= '0' && z[i] <= '9' && i - iStart < 3) {
      v = v * 10 + (z[i] - '0');
      i++;
    }
    if (i == iStart || v > 255 || (z[iStart] == '0' && i - iStart > 1)) {
      return 0;
    }
  }
  return i == n;
}

/* RFC 4291 text: eight groups of 1-4 hex digits, one "::" for a run of
** zero groups, an IPv4 tail standing for the last two. */
static int schema_fmt_ipv6(const char *z, size_t n) {
  size_t i = 0;
  int nGroup = 0, bGap = 0;
  if (n >= 2 && z[0] == ':' && z[1] == ':') {
    bGap = 1;
    i = 2;
  } else if (n > 0 && z[0] == ':') {
    return 0;
  }
  while (i < n) {
    size_t iStart = i, k;
    while (i < n && thr_hexval(z[i]) >= 0) {
      i++;
    }
    if (i < n && z[i] == '.') {
      /* An IPv4 tail: from iStart to the end. */
      for (k = iStart; k < n; k++) {
        if (z[k] == ':') {
          return 0;
        }
      }
      if (!schema_fmt_ipv4(z + iStart, n - iStart)) {
        return 0;
      }
      nGroup += 2;
      i = n;
      break;
    }
    if (i == iStart || i - iStart > 4) {
      return 0;
    }
    nGroup++;
    if (i == n) {
      break;
    }
    if (z[i] != ':') {
      return 0;
    }
    i++;
    if (i < n && z[i] == ':') {
      if (bGap) {
        return 0;
      }
      bGap = 1;
      i++;
    } else if (i == n) {
      return 0; /* a trailing single ":" */
    }
  }
  return bGap ? nGroup < 8 : nGroup == 8;
}

static int schema_is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9');
}

/* RFC 1123 host name: dot-separated labels of 1-63 letters, digits and
** hyphens, not starting or ending with a hyphen; at most 253 bytes. */
static int schema_fmt_hostname(const char *z, size_t n) {
  size_t i = 0;
  if (n == 0 || n > 253) {
    return 0;
  }
  while (i <= n) {
    size_t iStart = i;
    while (i < n && (schema_is_alnum(z[i]) || z[i] == '-')) {
      i++;
    }
    if (i == iStart || i - iStart > 63 || z[iStart] == '-' || z[i - 1] == '-') {
      return 0;
    }
    if (i == n) {
      return 1;
    }
    if (z[i] != '.') {
      return 0;
    }
    i++;
  }
  return 0;
}

/* An e-mail address (RFC 5321 Mailbox, reasonably): a dot-atom or quoted
** local part, "@", a host name or an address literal.  With bIntl, any
** non-ASCII character counts as an atom character and the domain is only
** checked for shape. */
static int schema_fmt_email(const char *z, size_t n, int bIntl) {
  size_t iAt = n, i;
  const char *zDom;
  size_t nDom;
  for (i = n; i > 0; i--) {
    if (z[i - 1] == '@') {
      iAt = i - 1;
      break;
    }
  }
  if (iAt == n || iAt == 0 || iAt + 1 == n || iAt > 64) {
    return 0;
  }
  if (z[0] == '"') {
    if (iAt < 2 || z[iAt - 1] != '"') {
      return 0;
    }
    for (i = 1; i < iAt - 1; i++) {
      if (z[i] == '\\') {
        i++;
      } else if (z[i] == '"' || (unsigned char)z[i] < 0x20) {
        return 0;
      }
    }
  } else {
    for (i = 0; i < iAt; i++) {
      unsigned char c = (unsigned char)z[i];
      if (c == '.') {
        if (i == 0 || i + 1 == iAt || z[i + 1] == '.') {
          return 0;
        }
      } else if (!(schema_is_alnum((char)c) ||
                   strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL ||
                   (bIntl && c >= 0x80))) {
        return 0;
      }
    }
  }
  zDom = z + iAt + 1;
  nDom = n - iAt - 1;
  if (zDom[0] == '[') {
    if (zDom[nDom - 1] != ']' || nDom < 3) {
      return 0;
    }
    if (nDom > 6 && memcmp(zDom + 1, "IPv6:", 5) == 0) {
      return schema_fmt_ipv6(zDom + 6, nDom - 7);
    }
    return schema_fmt_ipv4(zDom + 1, nDom - 2);
  }
  if (bIntl) {
    for (i = 0; i < nDom; i++) {
      unsigned char c = (unsigned char)zDom[i];
      if (c < 0x80 && !schema_is_alnum((char)c) && c != '-' && c != '.') {
        return 0;
      }
    }
    return zDom[0] != '.' && zDom[nDom - 1] != '.' &&
           strstr(zDom, "..") == NULL;
  }
  return schema_fmt_hostname(zDom, nDom);
}

/* RFC 3986 character classes.  bIri admits any non-ASCII byte (RFC 3987
** ucschar, loosely). */
static int schema_uri_unreserved(unsigned char c, int bIri) {
  return schema_is_alnum((char)c) || c == '-' || c == '.' || c == '_' ||
         c == '~' || (bIri && c >= 0x80);
}
static int schema_uri_subdelim(unsigned char c) {
  return c != 0 && strchr("!$&'()*+,;=", c) != NULL;
}

/* 1 if (z, n) consists of unreserved, pct-encoded, sub-delims and the
** characters of zExtra. */
static int schema_uri_chars(const char *z, size_t n, const char *zExtra,
                            int bIri) {
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)z[i];
    if (c == '%') {
      if (schema_hexn(z, n, i + 1, 2) < 0) {
        return 0;
      }
      i += 2;
    } else if (!schema_uri_unreserved(c, bIri) && !schema_uri_subdelim(c) &&
               (c == 0 || strchr(zExtra, c) == NULL)) {
      return 0;
    }
  }
  return 1;
}

/* RFC 3986 authority: [userinfo "@"] host [":" port]. */
static int schema_uri_authority(const char *z, size_t n, int bIri) {
  size_t i, iHost = 0, nHost;
  for (i = n; i > 0; i--) {
    if (z[i - 1] == '@') {
      if (!schema_uri_chars(z, i - 1, ":", bIri)) {
        return 0;
      }
      iHost = i;
      break;
    }
  }
  z += iHost;
  n -= iHost;
  if (n > 0 && z[0] == '[') {
    const char *zEnd = memchr(z, ']', n);
    if (zEnd == NULL) {
      return 0;
    }
    nHost = (size_t)(zEnd - z) + 1;
    if (nHost > 2 && (z[1] == 'v' || z[1] == 'V')) {
      /* IPvFuture: "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
      size_t k = 2;
      while (k < nHost - 1 && thr_hexval(z[k]) >= 0) {
        k++;
      }
      if (k == 2 || k >= nHost - 2 || z[k] != '.' ||
          !schema_uri_chars(z + k + 1, nHost - k - 2, ":", 0)) {
        return 0;
      }
    } else if (!schema_fmt_ipv6(z + 1, nHost - 2)) {
      return 0;
    }
  } else {
    nHost = 0;
    while (nHost < n && z[nHost] != ':') {
      nHost++;
    }
    if (!schema_uri_chars(z, nHost, "", bIri)) {
      return 0;
    }
  }
  if (nHost < n) {
    if (z[nHost] != ':') {
      return 0;
    }
    for (i = nHost + 1; i < n; i++) {
      if (z[i] < '0' || z[i] > '9') {
        return 0;
      }
    }
  }
  return 1;
}

/* A URI (bRef == 0) or URI reference (bRef == 1), RFC 3986; IRIs with
** bIri. */
static int schema_fmt_uri(const char *z, size_t n, int bRef, int bIri) {
  schema_uri u;
  int bOk = 1;
  schema_uri_split(z, n, &u);
  if (u.bScheme) {
    if (!schema_scheme_ok(u.zScheme, u.nScheme)) {
      bOk = 0;
    }
  } else if (!bRef) {
    bOk = 0;
  } else if (u.nPath > 0 && !u.bAuth) {
    /* path-noscheme: no ":" in the first segment (split guarantees it,
    ** except when the colon opens the text). */
    size_t k = 0;
    while (k < u.nPath && u.zPath[k] != '/') {
      if (u.zPath[k] == ':') {
        bOk = 0;
      }
      k++;
    }
  }
  if (bOk && u.bAuth) {
    bOk = schema_uri_authority(u.zAuth, u.nAuth, bIri) &&
          (u.nPath == 0 || u.zPath[0] == '/');
  }
  if (bOk) {
    bOk = schema_uri_chars(u.zPath, u.nPath, ":@/", bIri);
  }
  if (bOk && u.bQuery) {
    bOk = schema_uri_chars(u.zQuery, u.nQuery, ":@/?", bIri);
  }
  if (bOk && u.bFrag) {
    bOk = schema_uri_chars(u.zFrag, u.nFrag, ":@/?", bIri);
  }
  return bOk;
}

/* RFC 6570 URI template: literals and {expressions}. */
static int schema_fmt_uritemplate(const char *z, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = (unsigned char)z[i];
    if (c == '{') {
      i++;
      if (i < n && strchr("+#./;?&=,!@|", z[i]) != NULL) {
        i++;
      }
      for (;;) {
        size_t iStart = i;
        /* varname: varchar *( ["."] varchar ) */
        while (i < n && (schema_is_alnum(z[i]) || z[i] == '_' || z[i] == '%' ||
                         (z[i] == '.' && i > iStart))) {
          if (z[i] == '%') {
            if (schema_hexn(z, n, i + 1, 2) < 0) {
              return 0;
            }
            i += 2;
          }
          i++;
        }
        if (i == iStart || z[i - 1] == '.') {
          return 0;
        }
        if (i < n && z[i] == ':') {
          size_t iNum = ++i;
          while (i < n && z[i] >= '0' && z[i] <= '9' && i - iNum < 4) {
            i++;
          }
          if (i == iNum || z[iNum] == '0') {
            return 0;
          }
        } else if (i < n && z[i] == '*') {
          i++;
        }
        if (i < n && z[i] == ',') {
          i++;
          continue;
        }
        break;
      }
      if (i >= n || z[i] != '}') {
        return 0;
      }
      i++;
    } else if (c == '%') {
      if (schema_hexn(z, n, i + 1, 2) < 0) {
        return 0;
      }
      i += 3;
    } else if (c <= 0x20 || c == 0x7f || strchr("\"'<>\\^`{|}", c) != NULL) {
      return 0;
    } else {
      i++;
    }
  }
  return 1;
}

/* RFC 6901: "" or "/"-separated tokens in which "~" is "~0" or "~1". */
static int schema_fmt_jsonptr(const char *z, size_t n) {
  size_t i;
  if (n > 0 && z[0] != '/') {
    return 0;
  }
  for (i = 0; i < n; i++) {
    if (z[i] == '~' && (i + 1 >= n || (z[i + 1] != '0' && z[i + 1] != '1'))) {
      return 0;
    }
  }
  return 1;
}

/* Relative JSON pointer: a non-negative integer, then "#" or a pointer. */
static int schema_fmt_reljsonptr(const char *z, size_t n) {
  size_t i = 0;
  while (i < n && z[i] >= '0' && z[i] <= '9') {
    i++;
  }
  if (i == 0 || (z[0] == '0' && i > 1)) {
    return 0;
  }
  if (i < n && z[i] == '#') {
    return i + 1 == n;
  }
  return schema_fmt_jsonptr(z + i, n - i);
}

/* 1 valid, 0 invalid, SQLITE_NOMEM as a negative number. */
static int schema_fmt_regex(const char *z, size_t n) {
  char *zErr = NULL;
  int bNoMem = 0;
  pcre2_code *pCode = schema_regex_compile(z, n, &zErr, &bNoMem);
  sqlite3_free(zErr);
  if (pCode) {
    pcre2_code_free(pCode);
    return 1;
  }
  return bNoMem ? -1 : 0;
}

/* 1 valid, 0 invalid, -1 out of memory. */
static int schema_fmt_check(int eFmt, const char *z, size_t n) {
  switch (eFmt) {
  case FMT_DATETIME:
    return schema_fmt_datetime(z, n);
  case FMT_DATE:
    return schema_fmt_date(z, n);
  case FMT_TIME:
    return schema_fmt_time_at(z, n, 0);
  case FMT_EMAIL:
    return schema_fmt_email(z, n, 0);
  case FMT_IDNEMAIL:
    return schema_fmt_email(z, n, 1);
  case FMT_HOSTNAME:
    return schema_fmt_hostname(z, n);
  case FMT_IPV4:
    return schema_fmt_ipv4(z, n);
  case FMT_IPV6:
    return schema_fmt_ipv6(z, n);
  case FMT_URI:
    return schema_fmt_uri(z, n, 0, 0);
  case FMT_URIREF:
    return schema_fmt_uri(z, n, 1, 0);
  case FMT_IRI:
    return schema_fmt_uri(z, n, 0, 1);
  case FMT_IRIREF:
    return schema_fmt_uri(z, n, 1, 1);
  case FMT_URITEMPLATE:
    return schema_fmt_uritemplate(z, n);
  case FMT_REGEX:
    return schema_fmt_regex(z, n);
  case FMT_JSONPTR:
    return schema_fmt_jsonptr(z, n);
  case FMT_RELJSONPTR:
    return schema_fmt_reljsonptr(z, n);
  default:
    return 1;
  }
}

/* Decode RFC 2045 base64 (line breaks allowed, nothing else) into b.
** Returns 0 if the text is not base64. */
static int schema_base64(const char *z, size_t n, schema_buf *b) {
  unsigned v = 0;
  int nBit = 0, nPad = 0;
  size_t i, nChar = 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)z[i];
    int d;
    if (c == '\r' || c == '\n') {
      continue;
    }
    nChar++;
    if (c == '=') {
      nPad++;
      continue;
    }
    if (nPad > 0) {
      return 0; /* data after padding */
    }
    if (c >= 'A' && c <= 'Z') {
      d = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      d = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      d = c - '0' + 52;
    } else if (c == '+') {
      d = 62;
    } else if (c == '/') {
      d = 63;
    } else {
      return 0;
    }
    v = (v << 6) | (unsigned)d;
    nBit += 6;
    if (nBit >= 8) {
      char o;
      nBit -= 8;
      o = (char)((v >> nBit) & 0xff);
      schema_buf_append(b, &o, 1);
    }
  }
  return nChar % 4 == 0 && nPad <= 2;
}

/**************************************************************************
** Checking.
*/
typedef struct schema_ctx schema_ctx;
struct schema_ctx {
  const thr_schema *p;
  schema_buf ptr; /* JSON pointer of the current instance location */
  int nQuiet;     /* > 0 inside trial evaluations: no messages */
  int nDepth;     /* nested applications */
  int nRefDepth;  /* of those, "$ref" hops */
  char *zErr;     /* the message of the failure being reported */
  pcre2_match_data *pMatch;
};

/* Outcomes of the check functions: SQLITE_OK (valid), SQLITE_CONSTRAINT
** (invalid), SQLITE_ABORT (a verdict on the whole check that combinators
** pass on unchanged; zErr is set), SQLITE_NOMEM. */

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
  zA = schema_render(pA);
  zB = schema_render(pB);
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
  zQuoted = schema_render_name(zName, nName);
  rc = zQuoted ? schema_fail(c, zKw, zFmt, zQuoted) : SQLITE_NOMEM;
  sqlite3_free(zQuoted);
  return rc;
}

/* Extend the instance pointer; returns the length to restore. */
static size_t schema_ptr_push_key(schema_ctx *c, const char *z, size_t n) {
  size_t nOld = c->ptr.n;
  schema_buf_append(&c->ptr, "/", 1);
  schema_buf_token(&c->ptr, z, n);
  return nOld;
}

static size_t schema_ptr_push_index(schema_ctx *c, size_t i) {
  char zBuf[32];
  size_t nOld = c->ptr.n;
  snprintf(zBuf, sizeof(zBuf), "/%llu", (unsigned long long)i);
  schema_buf_puts(&c->ptr, zBuf);
  return nOld;
}

static int schema_apply(schema_ctx *c, const schema_node *pNode,
                        const json_t *pInst, const char *zKw);

/* 1 if pattern pRe matches (z, n), 0 if not; SQLITE_ABORT or SQLITE_NOMEM
** as a negative number when matching itself fails. */
static int schema_match(schema_ctx *c, pcre2_code *pRe, const char *z, size_t n,
                        const char *zKw) {
  int rc;
  if (c->pMatch == NULL) {
    c->pMatch = pcre2_match_data_create(1, NULL);
    if (c->pMatch == NULL) {
      return -SQLITE_NOMEM;
    }
  }
  rc = pcre2_match(pRe, (PCRE2_SPTR)z, n, 0, 0, c->pMatch, c->p->pMatchCtx);
  if (rc >= 0) {
    return 1; /* 0 means "matched, ovector too small": still a match */
  }
  if (rc == PCRE2_ERROR_NOMATCH) {
    return 0;
  }
  if (rc == PCRE2_ERROR_NOMEMORY || rc == PCRE2_ERROR_HEAPLIMIT) {
    return -SQLITE_NOMEM;
  }
  {
    PCRE2_UCHAR aMsg[256];
    pcre2_get_error_message(rc, aMsg, sizeof(aMsg));
    return -schema_abort(c, zKw, "regular expression failed: %s", (char *)aMsg);
  }
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
  schema_buf_truncate(&c->ptr, nOld);
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
  schema_buf_truncate(&c->ptr, nOld);
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
  unsigned m = schema_type_bit(pInst);
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
      schema_buf_puts(&b, " or ");
    }
    schema_buf_puts(&b, azType[pNode->aType[i]]);
  }
  if (b.rc != SQLITE_OK) {
    sqlite3_free(b.z);
    return SQLITE_NOMEM;
  }
  rc = schema_fail(c, "type", "expected %s, got %s", b.z,
                   schema_type_name(pInst));
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
    sqlite3_int64 nChar = schema_utf8_len(z, n);
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
      zVal = schema_render(pInst);
      zPat = schema_render_name(pNode->zPattern, strlen(pNode->zPattern));
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
    int v = schema_fmt_check(pNode->eFormat, z, n);
    if (v < 0) {
      return SQLITE_NOMEM;
    }
    if (v == 0) {
      char *zVal;
      int rc;
      if (c->nQuiet > 0) {
        return SQLITE_CONSTRAINT;
      }
      zVal = schema_render(pInst);
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
    int rc = SQLITE_OK;
    const char *zDoc = z;
    size_t nDoc = n;
    if (pNode->bBase64) {
      if (!schema_base64(z, n, &b)) {
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
  case KW_MULTIPLEOF:
    if (!schema_multiple_of(pInst, pNode->pMultipleOf)) {
      return schema_fail_vals(c, "multipleOf", pInst, "is not a multiple of",
                              pNode->pMultipleOf);
    }
    break;
  case KW_MAXIMUM:
    if (schema_num_cmp(pInst, pNode->pMaximum) > 0) {
      return schema_fail_vals(c, "maximum", pInst, "is greater than",
                              pNode->pMaximum);
    }
    break;
  case KW_EXCLMAX:
    if (schema_num_cmp(pInst, pNode->pExclMax) >= 0) {
      return schema_fail_vals(c, "exclusiveMaximum", pInst, "is not less than",
                              pNode->pExclMax);
    }
    break;
  case KW_MINIMUM:
    if (schema_num_cmp(pInst, pNode->pMinimum) < 0) {
      return schema_fail_vals(c, "minimum", pInst, "is less than",
                              pNode->pMinimum);
    }
    break;
  case KW_EXCLMIN:
    if (schema_num_cmp(pInst, pNode->pExclMin) <= 0) {
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
** the quadratic loop would find first: the smallest j, then smallest i. */
static int schema_check_unique(schema_ctx *c, const json_t *pInst) {
  size_t n = json_array_size(pInst), k, a, b;
  size_t iBest = 0, jBest = (size_t)-1;
  schema_hidx *aIdx = sqlite3_malloc64(n * sizeof(schema_hidx));
  if (aIdx == NULL) {
    return SQLITE_NOMEM;
  }
  for (k = 0; k < n; k++) {
    aIdx[k].h = schema_hash_value(json_array_get(pInst, k), 0);
    aIdx[k].i = k;
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
        if (schema_equal(json_array_get(pInst, aIdx[m].i),
                         json_array_get(pInst, aIdx[a].i), 0)) {
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
          if (schema_equal(json_array_get(pInst, i), json_array_get(pInst, j),
                           0)) {
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
                 schema_prop_cmp);
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
      const schema_prop *pProp = schema_find_prop(pNode, zKey, nKey);
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
      int bKnown = schema_find_prop(pNode, zKey, nKey) != NULL;
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
      if (json_object_getn(pInst, pDep->zName, pDep->nName) == NULL) {
        continue;
      }
      if (pDep->pNames) {
        for (i = 0; i < json_array_size(pDep->pNames); i++) {
          const json_t *pName = json_array_get(pDep->pNames, i);
          if (json_object_getn(pInst, json_string_value(pName),
                               json_string_length(pName)) == NULL) {
            char *zA, *zB;
            if (c->nQuiet > 0) {
              return SQLITE_CONSTRAINT;
            }
            zA = schema_render_name(pDep->zName, pDep->nName);
            zB = schema_render(pName);
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
** guard's message). */
static int schema_apply(schema_ctx *c, const schema_node *pNode,
                        const json_t *pInst, const char *zKw) {
  int i, rc = SQLITE_OK;
  unsigned m;
  if (c->ptr.rc != SQLITE_OK) {
    return SQLITE_NOMEM;
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
  m = schema_type_bit(pInst);
  c->nDepth++;
  for (i = 0; rc == SQLITE_OK && i < pNode->nKw; i++) {
    int eKw = pNode->aKw[i];
    switch (eKw) {
    case KW_TYPE:
      rc = schema_check_type(c, pNode, pInst);
      break;
    case KW_ENUM: {
      size_t k, n = json_array_size(pNode->pEnum);
      for (k = 0; k < n; k++) {
        if (schema_equal(pInst, json_array_get(pNode->pEnum, k), 0)) {
          break;
        }
      }
      if (k == n) {
        rc = schema_fail_vals(c, "enum", pInst, "is not one of", pNode->pEnum);
      }
      break;
    }
    case KW_CONST:
      if (!schema_equal(pInst, pNode->pConst, 0)) {
        if (c->nQuiet > 0) {
          rc = SQLITE_CONSTRAINT;
        } else {
          char *zA = schema_render(pNode->pConst), *zB = schema_render(pInst);
          rc = (zA && zB)
                   ? schema_fail(c, "const", "expected %s, got %s", zA, zB)
                   : SQLITE_NOMEM;
          sqlite3_free(zA);
          sqlite3_free(zB);
        }
      }
      break;
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
  schema_buf_append(&c.ptr, "", 0);
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
