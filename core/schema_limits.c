/*
** schema_limits.c: the bounds on what a schema and a document may cost.
**
** Schemas travel with the thread and every peer checks every remote
** action against the schema in force, so a schema or a document written
** by one peer must not be able to freeze the others.  Every bound below is
** a count, never a clock: each peer reaches the same verdict for the same
** schema and document.  A schema past a static bound is refused when it is
** compiled (CREATE VIRTUAL TABLE ... schema=, threads_alter, a remote
** collection or alter action, threads_schema_valid):
**
**   "schema too complex: <where>: <what> (limit N)"
**
** and a document whose check runs out of steps is refused (a constraint
** error at write; an action skipped and listed as "schema" when it
** arrives from a peer; 0 from threads_schema_valid):
**
**   "<ptr>: <keyword>: validation too costly: more than N steps (limit N)"
**
** STATIC BOUNDS (measured once, by thr_schema_measure(), on the compiled
** schema from its root):
**
**   SCHEMA_MAX_NESTING (128): subschemas nested in one another, counting
**   each "$ref" as one more level into its target (a reference back to a
**   schema that contains it is recursion: it counts once and is not
**   followed).  The walk of pass 1 stops at the same depth, which bounds
**   the C stack of compilation and the length of the locations it keeps.
**   Real schemas nest a few objects deep, a few levels each
**   ("properties", "items", an "anyOf" for a nullable type, a "$ref"):
**   128 leaves room for thirty such levels and more.
**
**   SCHEMA_MAX_EXPANSION (100000): the number of subschemas the root
**   reaches when every "$ref" is replaced by its target and every
**   applicator ("allOf", "anyOf", "oneOf", "not", "if"/"then"/"else",
**   "properties", "items", ...) counts each of its subschemas, shared or
**   not.  Without "$ref" this is the size of the schema; with it, each use
**   of a definition counts the definition again, so that a chain of
**   definitions that each use the previous one twice (2^26 paths in a
**   schema of 30 lines) is measured as what it is.  A large real schema
**   (a few thousand subschemas, each definition used a dozen times) stays
**   well below.  The compilation also stops at this many subschemas
**   written out, referenced or not, which bounds its memory (about 0.5 kB
**   a subschema) and time (linear in the schema's size).
**
** STEP BUDGET (per thr_schema_check()):
**
**   SCHEMA_MAX_STEPS (2000000) steps, a step being about 10 ns of work.
**   What costs what (the constants are in schema_int.h):
**     - applying a subschema (a "$ref" hop included): 1; evaluating one of
**       its keywords: 1;
**     - one member of the instance looked up or visited ("properties",
**       "additionalProperties", "propertyNames", "dependencies"), one name
**       of "required" or of "dependencies": 1, and 1 per SCHEMA_COST_BYTES
**       (16) bytes of the name;
**     - a value hashed ("uniqueItems", each nested value too) or a pair of
**       values compared ("enum", "const", "uniqueItems"): SCHEMA_COST_VALUE
**       (2), and 1 per 16 bytes of strings and keys; the sort of
**       "uniqueItems": n.log2(n);
**     - a pattern match: SCHEMA_COST_MATCH (4), 1 per 16 bytes of the
**       subject (pcre2 validates its UTF-8), and SCHEMA_COST_CALLOUT (2)
**       per pattern item pcre2 tries, counted by a callout
**       (PCRE2_AUTO_CALLOUT) so that backtracking is charged as it happens
**       and stops at the budget;
**     - a string's length: 1 per 16 bytes; a format: SCHEMA_COST_FMTBYTE
**       (4) per 16 bytes, SCHEMA_COST_RXBYTE (160) for "regex", which
**       compiles the text; "contentEncoding" 4, "contentMediaType"
**       SCHEMA_COST_JSONBYTE (64) per 16 bytes, which parses it;
**     - "multipleOf": the decimal form of the instance, SCHEMA_COST_PRINT
**       (96; 32 for a real between 1e-30 and 1e30, 12 for an integer) per
**       printing of the number (at most 3; 17 for a subnormal), then 1 per
**       4 digits.
**   Each cost was set from the slowest case of its kind measured on the
**   2-core build VM (under load), so that a check that runs out of steps
**   has taken 5 to 40 ms whatever made it costly; a real document uses a
**   small part of the budget (30,000 small objects of three properties,
**   about a quarter).
**
**   Recursion through "$ref" on a deep instance (a tree schema) is not a
**   static cost: it is bounded by the depth guards of schema_check.c
**   (SCHEMA_MAX_DEPTH applications, SCHEMA_MAX_REFS "$ref" hops) and by
**   the budget.
**
** REGULAR EXPRESSIONS
**
**   Besides the budget, which bounds the backtracking of all the matches
**   of a check together, pcre2's own limits are set on every match:
**   match_limit = SCHEMA_MAX_STEPS, depth_limit = SCHEMA_RX_DEPTH_LIMIT
**   (100000 nested backtracking points, a group repeated 100000 times)
**   and heap_limit = SCHEMA_RX_HEAP_LIMIT (32 MiB of backtracking
**   frames).  pcre2's match limit alone would not do: it is counted
**   afresh at each start position of an unanchored pattern, so that
**   "(a+)+$" against 2,000 characters took 1.5 s within a limit of
**   1,000,000.  A match past a limit ends the check with "<ptr>: pattern:
**   regular expression too costly: <pcre2's reason> (limit N)".  The
**   counts are pcre2's: peers are expected to run the same pcre2 (10.42,
**   Debian 12), as they run the same build of everything else.
*/
#include "schema_int.h"

/**************************************************************************
** Static bounds.
*/

static int schema_measure_node(schema_cc *cc, schema_node *pNode, int iLevel);

/* Add subschema pChild, applied by a node at iLevel (the root is at level
** 1), to that node's expansion *pnSum and height *pnHeight. */
static int schema_measure_child(schema_cc *cc, schema_node *pChild, int iLevel,
                                sqlite3_int64 *pnSum, int *pnHeight) {
  int rc;
  if (pChild == NULL) {
    return SQLITE_OK;
  }
  if (pChild->eMark == 1) {
    /* Recursion: a cycle through pChild, which is being measured.  It
    ** costs at check time only as deep as the instance (or the depth
    ** guards) let it go. */
    *pnSum += 1;
    if (*pnHeight < 2) {
      *pnHeight = 2;
    }
    return SQLITE_OK;
  }
  if (pChild->eMark == 0) {
    rc = schema_measure_node(cc, pChild, iLevel + 1);
    if (rc != SQLITE_OK) {
      return rc;
    }
  } else if (iLevel + pChild->nHeight > SCHEMA_MAX_NESTING) {
    /* Measured before, from a shallower place. */
    return thr_schema_cc_limit(cc, pChild->zLoc,
                               "subschemas nested deeper than %d levels "
                               "through $ref (limit %d)",
                               SCHEMA_MAX_NESTING, SCHEMA_MAX_NESTING);
  }
  *pnSum += pChild->nExpand;
  if (*pnHeight < pChild->nHeight + 1) {
    *pnHeight = pChild->nHeight + 1;
  }
  return SQLITE_OK;
}

/* Set pNode->nExpand and pNode->nHeight: the subschemas reached from pNode
** once "$ref"s are expanded (itself included), and the levels nested from
** it.  Every node is measured once; the recursion is at most
** SCHEMA_MAX_NESTING deep. */
static int schema_measure_node(schema_cc *cc, schema_node *pNode, int iLevel) {
  sqlite3_int64 nSum = 1;
  int nHeight = 1, rc = SQLITE_OK, i;

#define MEASURE(pChild)                                                        \
  do {                                                                         \
    if (rc == SQLITE_OK) {                                                     \
      rc = schema_measure_child(cc, (pChild), iLevel, &nSum, &nHeight);        \
    }                                                                          \
  } while (0)

  if (iLevel > SCHEMA_MAX_NESTING) {
    return thr_schema_cc_limit(cc, pNode->zLoc,
                               "subschemas nested deeper than %d levels "
                               "through $ref (limit %d)",
                               SCHEMA_MAX_NESTING, SCHEMA_MAX_NESTING);
  }
  pNode->eMark = 1;
  if (pNode->zRefUri) {
    MEASURE(pNode->pRef); /* a "$ref" applies nothing else */
  } else if (pNode->eBool == 0) {
    /* What schema_check.c may apply, keyword by keyword. */
    MEASURE(pNode->pItems);
    for (i = 0; i < pNode->nItems; i++) {
      MEASURE(pNode->apItems[i]);
    }
    if (pNode->bItemsArray) {
      MEASURE(pNode->pAddItems);
    }
    MEASURE(pNode->pContains);
    for (i = 0; i < pNode->nProp; i++) {
      MEASURE(pNode->aProp[i].pNode);
    }
    for (i = 0; i < pNode->nPProp; i++) {
      MEASURE(pNode->aPProp[i].pNode);
    }
    MEASURE(pNode->pAddProps);
    for (i = 0; i < pNode->nDep; i++) {
      MEASURE(pNode->aDep[i].pNode);
    }
    MEASURE(pNode->pPropNames);
    if (pNode->pIf) {
      MEASURE(pNode->pIf);
      MEASURE(pNode->pThen);
      MEASURE(pNode->pElse);
    }
    for (i = 0; i < pNode->nAll; i++) {
      MEASURE(pNode->apAll[i]);
    }
    for (i = 0; i < pNode->nAny; i++) {
      MEASURE(pNode->apAny[i]);
    }
    for (i = 0; i < pNode->nOne; i++) {
      MEASURE(pNode->apOne[i]);
    }
    MEASURE(pNode->pNot);
  }
#undef MEASURE
  if (rc != SQLITE_OK) {
    return rc;
  }
  if (nSum > SCHEMA_MAX_EXPANSION) {
    return thr_schema_cc_limit(cc, pNode->zLoc,
                               "expands to more than %d subschemas through "
                               "$ref and applicators (limit %d)",
                               SCHEMA_MAX_EXPANSION, SCHEMA_MAX_EXPANSION);
  }
  pNode->nExpand = nSum;
  pNode->nHeight = nHeight;
  pNode->eMark = 2;
  return SQLITE_OK;
}

int thr_schema_measure(schema_cc *cc) {
  return schema_measure_node(cc, cc->p->pTop, 1);
}

/**************************************************************************
** The step budget.
*/

int thr_schema_over_budget(schema_ctx *c, const char *zKw) {
  sqlite3_free(c->zErr);
  c->zErr = sqlite3_mprintf(
      "%s: %s: validation too costly: more than %d steps (limit %d)",
      c->ptr.z ? c->ptr.z : "", zKw, SCHEMA_MAX_STEPS, SCHEMA_MAX_STEPS);
  return c->zErr ? SQLITE_ABORT : SQLITE_NOMEM;
}

/* The step counter of the check this thread is matching for.  The match
** context belongs to the schema and is shared by its checks (one compiled
** schema may serve several connections), so the counter cannot be its
** callout data. */
static _Thread_local sqlite3_int64 *schema_pnRxStep = NULL;

void thr_schema_rx_meter(sqlite3_int64 *pnStep) {
  schema_pnRxStep = pnStep;
}

/* Called by pcre2 before every item of a pattern compiled with
** PCRE2_AUTO_CALLOUT, backtracking included.  A negative return ends the
** match with that code. */
static int schema_rx_callout(pcre2_callout_block *pBlock, void *pArg) {
  sqlite3_int64 *pnStep = schema_pnRxStep;
  (void)pBlock;
  (void)pArg;
  if (pnStep == NULL) {
    return 0; /* not metered: a match outside a check */
  }
  *pnStep += SCHEMA_COST_CALLOUT;
  return *pnStep > SCHEMA_MAX_STEPS ? PCRE2_ERROR_CALLOUT : 0;
}

pcre2_match_context *thr_schema_match_context(void) {
  pcre2_match_context *pCtx = pcre2_match_context_create(NULL);
  if (pCtx) {
    pcre2_set_callout(pCtx, schema_rx_callout, NULL);
    pcre2_set_match_limit(pCtx, SCHEMA_MAX_STEPS);
    pcre2_set_depth_limit(pCtx, SCHEMA_RX_DEPTH_LIMIT);
    pcre2_set_heap_limit(pCtx, SCHEMA_RX_HEAP_LIMIT);
  }
  return pCtx;
}
