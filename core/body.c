/*
** body.c: the body of a record, and the actions in it.
**
** BODY FORMAT (the plaintext of a record's body block, dag-cbor)
**
**   body   = {"actions": [action, ...]}      one body per SQL transaction
**   action = {"id":   text   document _id (absent for "collection" and
**                            "alter"),
**             "hlc":  uint   hybrid logical clock (ms << 16 | counter),
**             "coll": text   collection name,
**             "json": text   canonical JSON (sorted keys, compact):
**                            create: the whole document, "_id" included;
**                            save:   a merge patch of the changed top-level
**                                    fields with their whole new values
**                                    (null removes), "_id" included;
**                            collection, alter: the JSON Schema;
**                            absent for delete,
**             "type": text   "create" | "save" | "delete" | "collection"
**                            | "alter"}
**
**   Keys in dag-cbor canonical order: id, hlc, coll, json, type.
**
** An action's place in the thread's order is (hlc, log, record CID, its
** index in "actions"): see reduce.c.  A body or an action this version
** cannot read (another type, a missing field) is skipped alike on every
** peer.  Parsing needs no database, so the node does it on its thread
** pool (thr_body_parse) and the loop applies the result (reduce.c).
*/
#include "thr_core.h"

#include <stdlib.h>
#include <string.h>

static const char *const azActType[] = {"",       "create",     "save",
                                        "delete", "collection", "alter"};

const char *thr_action_type_name(int eType) {
  return eType >= 1 && eType <= THR_ACT_ALTER ? azActType[eType] : "";
}

/* Encode one action onto w. */
void thr_action_encode(thr_cw *w, const thr_action *pAct) {
  int nField = 3 + (pAct->zId != NULL) + (pAct->zJson != NULL);
  thr_cw_map(w, (size_t)nField);
  if (pAct->zId) {
    thr_cw_text(w, "id");
    thr_cw_text(w, pAct->zId);
  }
  thr_cw_text(w, "hlc");
  thr_cw_uint(w, pAct->hlc);
  thr_cw_text(w, "coll");
  thr_cw_text(w, pAct->zColl);
  if (pAct->zJson) {
    thr_cw_text(w, "json");
    thr_cw_text(w, pAct->zJson);
  }
  thr_cw_text(w, "type");
  thr_cw_text(w, azActType[pAct->eType]);
}

/* The document of an action, or NULL (delete, or not a JSON object). */
static json_t *action_doc(const thr_action *pAct) {
  json_t *pIn =
      pAct->zJson ? json_loads(pAct->zJson, JSON_ALLOW_NUL, NULL) : NULL;
  if (pIn && !json_is_object(pIn)) {
    json_decref(pIn);
    pIn = NULL;
  }
  return pIn;
}

/* One action of a body, parsed (thr_body_parse). */
typedef struct body_act body_act;
struct body_act {
  thr_action act; /* its strings in zBuf */
  char *zBuf;     /* one malloc() block: coll, id and json, NUL after each */
  size_t nColl;   /* bytes of the collection name as sent */
  int bComplete;  /* every field its type needs, well-formed */
  json_t *pIn;    /* its document or patch (NULL: none, or not an object) */
};

struct thr_body {
  int bUnreadable; /* not a body this version can read: skipped whole */
  size_t nAct;
  body_act *aAct;
};

void thr_body_free(thr_body *p) {
  size_t i;
  if (p == NULL) {
    return;
  }
  for (i = 0; i < p->nAct; i++) {
    body_act *pA = &p->aAct[i];
    free(pA->zBuf);
    json_decref(pA->pIn);
  }
  sqlite3_free(p->aAct);
  sqlite3_free(p);
}

/* A reader over dag-cbor that thr_cbor_check() accepted: items are walked
** in place, with no tree.  Every read is still bounds-checked. */
typedef struct body_cur body_cur;
struct body_cur {
  const unsigned char *a;
  size_t n, i;
  int bBad;
};

/* The next item's head: its major type and argument. */
static int cur_head(body_cur *c, int *pMajor, uint64_t *pArg) {
  unsigned char b;
  int ai;
  if (c->bBad || c->i >= c->n) {
    c->bBad = 1;
    return 0;
  }
  b = c->a[c->i++];
  *pMajor = b >> 5;
  ai = b & 0x1f;
  *pArg = (uint64_t)ai;
  if (ai >= 24 && ai <= 27) {
    size_t k, nArg = (size_t)1 << (ai - 24);
    if (c->n - c->i < nArg) {
      c->bBad = 1;
      return 0;
    }
    for (*pArg = 0, k = 0; k < nArg; k++) {
      *pArg = (*pArg << 8) | c->a[c->i++];
    }
  } else if (ai > 27) {
    c->bBad = 1; /* indefinite lengths: not dag-cbor */
    return 0;
  }
  return 1;
}

/* Skip the rest of an item whose head was read. */
static void cur_skip_rest(body_cur *c, int eMajor, uint64_t nArg, int iDepth) {
  uint64_t k, nItem = 0;
  int m;
  uint64_t v;
  if (iDepth > 64) {
    c->bBad = 1;
    return;
  }
  switch (eMajor) {
  case 2:
  case 3:
    if (nArg > c->n - c->i) {
      c->bBad = 1;
    } else {
      c->i += (size_t)nArg;
    }
    return;
  case 4:
    nItem = nArg;
    break;
  case 5:
    nItem = nArg > UINT64_MAX / 2 ? UINT64_MAX : nArg * 2;
    break;
  case 6:
    nItem = 1;
    break;
  default:
    return; /* integers and simple values: the head was all */
  }
  for (k = 0; k < nItem && !c->bBad; k++) {
    if (cur_head(c, &m, &v)) {
      cur_skip_rest(c, m, v, iDepth + 1);
    }
  }
}

/* A text string's bytes, if the rest of an item whose head was read is
** one; otherwise the item is skipped and NULL returned. */
static const char *cur_text(body_cur *c, int eMajor, uint64_t nArg,
                            size_t *pn) {
  const char *z;
  if (eMajor != 3 || nArg > c->n - c->i) {
    cur_skip_rest(c, eMajor, nArg, 0);
    return NULL;
  }
  z = (const char *)c->a + c->i;
  c->i += (size_t)nArg;
  *pn = (size_t)nArg;
  return z;
}

/* The fields of one action (a map; anything else is an incomplete
** action). */
static int body_act_read(body_cur *c, body_act *pB) {

  static const char *azField[] = {"coll", "id", "json"};
  const char **apDst[3];
  const char *az[3] = {NULL, NULL, NULL};
  size_t an[3] = {0, 0, 0};
  uint64_t nArg, nPair, k;
  int eMajor, bHlc = 0, i;
  memset(pB, 0, sizeof(*pB));
  apDst[0] = &pB->act.zColl;
  apDst[1] = &pB->act.zId;
  apDst[2] = &pB->act.zJson;
  if (!cur_head(c, &eMajor, &nArg)) {
    return SQLITE_OK;
  }
  if (eMajor != 5) {
    cur_skip_rest(c, eMajor, nArg, 0);
    return SQLITE_OK;
  }
  for (nPair = nArg, k = 0; k < nPair && !c->bBad; k++) {
    size_t nKey = 0, nVal = 0;
    const char *zKey, *zVal;
    if (!cur_head(c, &eMajor, &nArg) ||
        (zKey = cur_text(c, eMajor, nArg, &nKey)) == NULL ||
        !cur_head(c, &eMajor, &nArg)) {
      c->bBad = 1;
      break;
    }
    if (nKey == 3 && memcmp(zKey, "hlc", 3) == 0 && eMajor == 0) {
      pB->act.hlc = nArg;
      bHlc = 1;
      continue;
    }
    zVal = cur_text(c, eMajor, nArg, &nVal);
    if (zVal == NULL) {
      continue; /* not text: as if absent */
    }
    if (nKey == 4 && memcmp(zKey, "type", 4) == 0) {
      for (i = 1; i <= THR_ACT_ALTER; i++) {
        if (strlen(azActType[i]) == nVal &&
            memcmp(zVal, azActType[i], nVal) == 0) {
          pB->act.eType = i;
        }
      }
    }
    for (i = 0; i < 3; i++) {
      if (nKey == strlen(azField[i]) && memcmp(zKey, azField[i], nKey) == 0) {
        az[i] = zVal;
        an[i] = nVal;
      }
    }
  }
  pB->nColl = an[0];
  if (az[0] || az[1] || az[2]) {
    /* One block for the three texts, each up to a NUL it may hold (as
    ** a C string would read it). */
    char *z;
    for (i = 0; i < 3; i++) {
      an[i] = az[i] ? strnlen(az[i], an[i]) : 0;
    }
    z = pB->zBuf = malloc(an[0] + an[1] + an[2] + 3);
    if (z == NULL) {
      return SQLITE_NOMEM;
    }
    for (i = 0; i < 3; i++) {
      if (az[i]) {
        memcpy(z, az[i], an[i]);
        z[an[i]] = 0;
        *apDst[i] = z;
        z += an[i] + 1;
      }
    }
  }
  pB->bComplete =
      pB->act.eType != 0 && pB->act.zColl != NULL &&
      (pB->act.eType >= THR_ACT_COLL
           ? pB->act.zJson != NULL && bHlc
           : pB->act.zId != NULL && bHlc &&
                 (pB->act.eType == THR_ACT_DELETE || pB->act.zJson != NULL));
  if (pB->bComplete && pB->act.eType < THR_ACT_COLL) {
    pB->pIn = action_doc(&pB->act);
  }
  return SQLITE_OK;
}

int thr_body_parse(const unsigned char *aBody, size_t nBody, int bChecked,
                   thr_body **pp) {
  body_cur c = {aBody, nBody, 0, 0};
  uint64_t nArg, nPair, k;
  int eMajor, rc = SQLITE_OK;
  char *zWhy = NULL;
  thr_body *p = sqlite3_malloc64(sizeof(*p));
  *pp = p;
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  memset(p, 0, sizeof(*p));
  p->bUnreadable = 1;
  /* Checked whole first, so that the walk below meets only canonical,
  ** complete items, and array lengths are bounded by the bytes. */
  if ((!bChecked && thr_cbor_check(aBody, nBody, &zWhy) != SQLITE_OK) ||
      !cur_head(&c, &eMajor, &nArg) || eMajor != 5) {
    sqlite3_free(zWhy);
    return SQLITE_OK;
  }
  for (nPair = nArg, k = 0; k < nPair && !c.bBad; k++) {
    size_t nKey = 0;
    const char *zKey;
    if (!cur_head(&c, &eMajor, &nArg) ||
        (zKey = cur_text(&c, eMajor, nArg, &nKey)) == NULL ||
        !cur_head(&c, &eMajor, &nArg)) {
      break;
    }
    if (nKey != 7 || memcmp(zKey, "actions", 7) != 0) {
      cur_skip_rest(&c, eMajor, nArg, 0);
      continue;
    }
    p->bUnreadable = 0;
    if (eMajor != 4) { /* not a list: no actions */
      cur_skip_rest(&c, eMajor, nArg, 0);
      continue;
    }
    p->aAct = sqlite3_malloc64((nArg ? nArg : 1) * sizeof(body_act));
    if (p->aAct == NULL) {
      return SQLITE_NOMEM;
    }
    for (; p->nAct < nArg && rc == SQLITE_OK && !c.bBad; p->nAct++) {
      rc = body_act_read(&c, &p->aAct[p->nAct]);
    }
  }
  if (c.bBad) {
    p->bUnreadable = 1; /* cannot happen after the check; be safe */
  }
  return rc;
}

int thr_body_readable(const thr_body *p) {
  return !p->bUnreadable;
}

size_t thr_body_count(const thr_body *p) {
  return p->nAct;
}

const thr_action *thr_body_action(const thr_body *p, size_t i, json_t **ppIn,
                                  int *pbComplete) {
  const body_act *pB = &p->aAct[i];
  *ppIn = pB->pIn;
  /* A collection name with a NUL inside is not the name it reads as. */
  *pbComplete = pB->bComplete && strlen(pB->act.zColl) == pB->nColl;
  return &pB->act;
}
