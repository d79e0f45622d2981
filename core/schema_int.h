/*
** schema_int.h: the interface between the files of the JSON Schema
** draft-07 validator.  Only core/schema_*.c include it; the rest of the
** extension sees thr_schema_compile(), thr_schema_check(),
** thr_schema_free() and thr_schema_json() (core/thr_core.h).
**
** Where each rule lives:
**
**   schema_compile.c  turning schema text into schema_nodes: the walk over
**                     subschemas, the type-check of every keyword value
**   schema_ref.c      "$id" and "$ref": base URIs, identifiers, JSON
**                     pointers, the built-in draft-07 meta-schema
**   schema_uri.c      URI references (RFC 3986): split, join, decode
**   schema_regex.c    ECMA-262 patterns translated for pcre2
**   schema_check.c    thr_schema_check(): what each keyword means for an
**                     instance, and the form of the messages
**   schema_format.c   the "format" names we check, and contentEncoding
**   schema_value.c    JSON values as JSON Schema sees them: types, exact
**                     number comparison, multipleOf, equality, hashing
**   schema_text.c     growable strings and values rendered for messages
**   schema_limits.c   the bounds on the work a schema and a document may
**                     cost: nesting, expansion, the step budget, pcre2
**
** Interfaces are cut into "Interface to code in schema_x.c" sections, in
** the order of the list above after the shared types.
*/
#ifndef SCHEMA_INT_H
#define SCHEMA_INT_H

#include "thr_core.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdarg.h>
#include <stdint.h>

/* The bounds on the work of a schema and of a check.  schema_limits.c
** says what each one bounds, why it is set where it is, and what every
** step of a check costs. */
#define SCHEMA_MAX_NESTING 128       /* subschemas nested, $ref hops counted */
#define SCHEMA_MAX_EXPANSION 100000  /* subschemas once $refs are expanded */
#define SCHEMA_MAX_STEPS 2000000     /* steps of one thr_schema_check() */
#define SCHEMA_RX_DEPTH_LIMIT 100000 /* pcre2 backtracking depth per match */
#define SCHEMA_RX_HEAP_LIMIT 32768   /* KiB of pcre2 backtracking frames */
#define SCHEMA_MAX_DEPTH 1024        /* nested applications in a check */
#define SCHEMA_MAX_REFS 256          /* of those, "$ref" hops */
#define SCHEMA_MAX_EQUAL 4096        /* nesting compared by deep equality */
#define SCHEMA_COST_BYTES 16         /* bytes of a string scanned: 1 step */
#define SCHEMA_COST_FMTBYTE 4        /* steps per 16 bytes: formats, base64 */
#define SCHEMA_COST_JSONBYTE 64      /* steps per 16 bytes parsed as JSON */
#define SCHEMA_COST_RXBYTE 160       /* steps per 16 bytes compiled as regex */
#define SCHEMA_COST_VALUE 2          /* a value hashed, or two compared */
#define SCHEMA_COST_MATCH 4          /* a call of pcre2_match() */
#define SCHEMA_COST_CALLOUT 2        /* a pattern item tried by pcre2 */
#define SCHEMA_COST_PRINT 96         /* a real printed and read back */

#define SCHEMA_RENDER_MAX 80 /* bytes of a value quoted in a message */

/* The draft-07 meta-schema, the one remote document we can resolve. */
#define SCHEMA_META_URI "http://json-schema.org/draft-07/schema"

/* Type bits, in the order of thr_schema_azType[]. */
#define SCHEMA_T_NULL 0x01
#define SCHEMA_T_BOOLEAN 0x02
#define SCHEMA_T_INTEGER 0x04
#define SCHEMA_T_NUMBER 0x08
#define SCHEMA_T_STRING 0x10
#define SCHEMA_T_ARRAY 0x20
#define SCHEMA_T_OBJECT 0x40
#define SCHEMA_NTYPE 7
extern const char *const thr_schema_azType[SCHEMA_NTYPE];

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
extern const char *const thr_schema_azKw[KW_COUNT]; /* keyword names */

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

/* A number as a decimal: value = digits x 10^exp, digits without leading
** or trailing zeros (empty for zero). */
typedef struct schema_dec schema_dec;
struct schema_dec {
  char a[32];
  int n;
  int exp;
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

  unsigned char aType[SCHEMA_NTYPE]; /* indexes into thr_schema_azType[] */
  int nType;
  unsigned mType;
  const json_t *pEnum, *pConst;
  const json_t *pMultipleOf, *pMaximum, *pExclMax, *pMinimum, *pExclMin;
  schema_dec decMultipleOf; /* pMultipleOf as a decimal */
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

  /* Static measures (schema_limits.c). */
  sqlite3_int64 nExpand; /* subschemas one application may reach */
  int nHeight;           /* nesting below this node, itself included */
  unsigned char eMark;   /* 0 unmeasured, 1 being measured, 2 measured */
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
  pcre2_match_context *pMatchCtx; /* pcre2's limits, the metering callout */
  int *aResHash;     /* index into aRes[] + 1 by key, open addressing */
  unsigned nResHash; /* slots, a power of two */
  void **apMem;      /* everything else we allocated */
  int nMem, nMemAlloc;
};

/* A growable string.  Sticky: after an allocation failure rc is
** SQLITE_NOMEM and nothing more is appended. */
struct schema_buf {
  char *z;
  size_t n;
  size_t nAlloc;
  int rc;
};

typedef struct schema_uri schema_uri;
struct schema_uri {
  const char *zScheme, *zAuth, *zPath, *zQuery, *zFrag;
  size_t nScheme, nAuth, nPath, nQuery, nFrag;
  int bScheme, bAuth, bQuery, bFrag;
};

/* The state of one compilation (thr_schema_compile()). */
typedef struct schema_cc schema_cc;
struct schema_cc {
  thr_schema *p;
  char *zErr;    /* "invalid schema: ..." or "schema too complex: ..." */
  int bRegister; /* record "$id"s (pass 1) */
  int nDepth;    /* nesting of thr_schema_compile_node() */
};

/* The state of one check (thr_schema_check()). */
typedef struct schema_ctx schema_ctx;
struct schema_ctx {
  const thr_schema *p;
  schema_buf ptr;      /* JSON pointer of the current instance location */
  int nQuiet;          /* > 0 inside trial evaluations: no messages */
  int nDepth;          /* nested applications */
  int nRefDepth;       /* of those, "$ref" hops */
  char *zErr;          /* the message of the failure being reported */
  sqlite3_int64 nStep; /* steps taken (schema_limits.c) */
  pcre2_match_data *pMatch;
};

/* Outcomes of the check functions: SQLITE_OK (valid), SQLITE_CONSTRAINT
** (invalid), SQLITE_ABORT (a verdict on the whole check that combinators
** pass on unchanged; zErr is set), SQLITE_NOMEM. */

/**************************************************************************
** Interface to code in schema_compile.c
*/

/* Record pMem in p's pool, to be freed by thr_schema_free().  On failure
** pMem is freed and NULL returned (also when pMem is NULL). */
void *thr_schema_keep(thr_schema *p, void *pMem);

/* Zeroed pool memory, or NULL on OOM. */
void *thr_schema_alloc(thr_schema *p, size_t n);

/* sqlite3_mprintf() into the pool. */
char *thr_schema_mprintf(thr_schema *p, const char *zFmt, ...);

/* "zLoc/token" (the token escaped as a JSON pointer token), or
** "zLoc/i", in the pool; NULL on OOM. */
const char *thr_schema_loc(thr_schema *p, const char *zLoc, const char *z,
                           size_t n);
const char *thr_schema_loc_index(thr_schema *p, const char *zLoc, size_t i);

/* Fail compilation at zLoc with "invalid schema: <zLoc>: <why>" (the
** first failure wins).  Returns SQLITE_ERROR, or SQLITE_NOMEM if even the
** message cannot be made. */
int thr_schema_cc_error(schema_cc *cc, const char *zLoc, const char *zFmt, ...);

/* The same for a schema past one of the static bounds (schema_limits.c):
** "schema too complex: <zLoc>: <why>", where <why> ends "(limit N)". */
int thr_schema_cc_limit(schema_cc *cc, const char *zLoc, const char *zFmt, ...);

/* Compile subschema pJson (at zLoc, under base zBase) unless it already
** is.  *ppNode gets the node. */
int thr_schema_compile_node(schema_cc *cc, const json_t *pJson,
                            const char *zBase, const char *zLoc,
                            schema_node **ppNode);

/* Order of "properties" entries, by name bytes (qsort/bsearch). */
int thr_schema_prop_cmp(const void *a, const void *b);

/**************************************************************************
** Interface to code in schema_ref.c
*/

/* Record an identifier (an absolute URI without fragment, or one ending in
** "#name").  The first of duplicates wins. */
int thr_schema_res_add(thr_schema *p, const char *zKey, const json_t *pJson,
                       const char *zBase, const char *zLoc);

/* The base URI inside schema pJson whose parent's base is zBase: changed
** by its "$id" unless a "$ref" makes it ignore its other keywords.  In
** pass 1 (cc->bRegister) the identifier is also recorded.  *pzBase gets a
** pool string. */
int thr_schema_apply_id(schema_cc *cc, const json_t *pJson, const char *zBase,
                        const char *zLoc, const char **pzBase);

/* Resolve pNode's "$ref": set pRef, or zRemote for a document we cannot
** fetch, or fail compilation. */
int thr_schema_resolve(schema_cc *cc, schema_node *pNode);

/**************************************************************************
** Interface to code in schema_uri.c
*/

/* Split a URI reference the way RFC 3986 appendix B does. */
void thr_schema_uri_split(const char *z, size_t n, schema_uri *p);

/* Resolve reference zRef against base zBase (RFC 3986 5.2.2).  Returns a
** sqlite3_malloc'd string or NULL on OOM. */
char *thr_schema_uri_join(const char *zBase, const char *zRef);

/* 1 if (z, n) is a valid URI scheme. */
int thr_schema_scheme_ok(const char *z, size_t n);

/* 1 if z starts with a URI scheme ("http:", "urn:"). */
int thr_schema_has_scheme(const char *z);

/* Decode %XX escapes of (z, n) into b. */
void thr_schema_pct_decode(schema_buf *b, const char *z, size_t n);

/**************************************************************************
** Interface to code in schema_regex.c
*/

/* Compile an ECMA-262 pattern; with bMatch, for thr_schema_regex_match().
** On failure returns NULL and, unless out of memory (*pbNoMem set), *pzErr
** gets "invalid regular expression: <why> at offset N" (sqlite3_malloc'd;
** the offset is in the pattern's bytes). */
pcre2_code *thr_schema_regex_compile(const char *z, size_t n, int bMatch,
                                     char **pzErr, int *pbNoMem);

/* Match pRe against (z, n) within the check's step budget: 1 if it
** matches, 0 if not, or a negative pcre2 error code: PCRE2_ERROR_CALLOUT
** when the budget ran out, PCRE2_ERROR_MATCHLIMIT, _DEPTHLIMIT or
** _HEAPLIMIT at pcre2's own limits, PCRE2_ERROR_NOMEMORY. */
int thr_schema_regex_match(schema_ctx *c, pcre2_code *pRe, const char *z,
                           size_t n);

/**************************************************************************
** Interface to code in schema_format.c
*/

/* The FMT_ value of a format name (FMT_NONE for a name we do not check);
** *pzName gets the static spelling of a known name. */
int thr_schema_format_id(const char *zName, const char **pzName);

/* 1 if (z, n) is valid for format eFmt, 0 if not, -1 out of memory. */
int thr_schema_format_check(int eFmt, const char *z, size_t n);

/* Decode RFC 2045 base64 (line breaks allowed, nothing else) into b.
** Returns 0 if the text is not base64. */
int thr_schema_base64(const char *z, size_t n, schema_buf *b);

/**************************************************************************
** Interface to code in schema_value.c
*/

/* Compare two JSON numbers exactly, whatever their jansson types. */
int thr_schema_num_cmp(const json_t *a, const json_t *b);

/* 1 if p is a number with no fractional part (draft-07: 1.0 is an
** integer). */
int thr_schema_is_integral(const json_t *p);

/* The decimal form of a number; adds its cost in steps to *pnStep. */
void thr_schema_decimal(const json_t *p, schema_dec *pDec,
                        sqlite3_int64 *pnStep);

/* 1 if x is an integer multiple of m (m > 0, as a decimal), computed
** exactly.  Adds its cost in steps to *pnStep. */
int thr_schema_multiple_of(const json_t *x, const schema_dec *pM,
                           sqlite3_int64 *pnStep);

/* The SCHEMA_T_ bit of a value's type, and its name. */
unsigned thr_schema_type_bit(const json_t *p);
const char *thr_schema_type_name(const json_t *p);

/* Deep equality as JSON Schema defines it, and a hash consistent with it.
** nDepth is the nesting reached so far (0 at the top).  Each adds its
** cost in steps to *pnStep: SCHEMA_COST_VALUE per value (or pair of
** values), one per SCHEMA_COST_BYTES bytes of strings and keys. */
int thr_schema_equal(const json_t *a, const json_t *b, int nDepth,
                     sqlite3_int64 *pnStep);
uint64_t thr_schema_hash_value(const json_t *p, int nDepth,
                               sqlite3_int64 *pnStep);

/**************************************************************************
** Interface to code in schema_text.c
*/

/* Append to a growable string (nothing once b->rc is set). */
void thr_schema_buf_append(schema_buf *p, const char *z, size_t n);
void thr_schema_buf_puts(schema_buf *p, const char *z);
void thr_schema_buf_truncate(schema_buf *p, size_t n);

/* Append a JSON pointer token: "~" is written "~0" and "/" "~1". */
void thr_schema_buf_token(schema_buf *p, const char *z, size_t n);

/* A value as compact JSON text for a message, or a string (z, n) as a
** JSON string literal (sqlite3_malloc'd, or NULL on OOM). */
char *thr_schema_render(const json_t *p);
char *thr_schema_render_name(const char *z, size_t n);

/* Read exactly nHex hex digits at z[i]; -1 if they are not there. */
long thr_schema_hexn(const char *z, size_t n, size_t i, int nHex);

/**************************************************************************
** Interface to code in schema_limits.c
*/

/* Measure the compiled schema from its root: nesting (SCHEMA_MAX_NESTING)
** and expansion (SCHEMA_MAX_EXPANSION).  SQLITE_OK, or SQLITE_ERROR with
** cc->zErr "schema too complex: <where>: <what> (limit N)". */
int thr_schema_measure(schema_cc *cc);

/* The verdict once the step budget is spent: sets c->zErr to "<ptr>:
** <zKw>: validation too costly: more than N steps (limit N)" and returns
** SQLITE_ABORT (SQLITE_NOMEM if the message cannot be made). */
int thr_schema_over_budget(schema_ctx *c, const char *zKw);

/* Charge nStep steps to the check: SQLITE_OK while within the budget. */
static inline int thr_schema_charge(schema_ctx *c, sqlite3_int64 nStep,
                                    const char *zKw) {
  c->nStep += nStep;
  return c->nStep <= SCHEMA_MAX_STEPS ? SQLITE_OK
                                      : thr_schema_over_budget(c, zKw);
}

/* The match context of a schema: pcre2's limits, and a callout that
** charges SCHEMA_COST_CALLOUT steps per pattern item tried to the counter
** of thr_schema_rx_meter() (NULL on OOM). */
pcre2_match_context *thr_schema_match_context(void);

/* Charge the callouts of this thread's matches to *pnStep from now on;
** NULL stops. */
void thr_schema_rx_meter(sqlite3_int64 *pnStep);

#endif /* SCHEMA_INT_H */
