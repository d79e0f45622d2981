/*
** json.c: canonical JSON text of a jansson value, fast.
**
** Documents become text once per write (the action in the log) and once
** per read of _doc; jansson's json_dumps() with JSON_SORT_KEYS spends most
** of its time allocating and sorting through callbacks.  This writer makes
** exactly the same text (tested against json_dumps(JSON_COMPACT |
** JSON_SORT_KEYS)): keys in strcmp() order, no spaces, strings as UTF-8
** with only '"', '\\' and control characters escaped, integers in decimal,
** reals as printf("%.17g") with ".0" added when that reads as an integer
** and the exponent written without '+' or leading zeros.
**
** TEXT A DOCUMENT MAY HOLD (thr_text_check): well-formed UTF-8 (RFC 3629:
** no overlong forms, no surrogates, nothing past U+10FFFF) with no NUL
** character.  Writes refuse anything else, naming the field, so nothing
** is signed into a log that a peer's decoder would refuse.
*/
#include "thr_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jbuf jbuf;
struct jbuf {
  char *a;
  size_t n, nAlloc;
  int rc;
};

static int jbuf_grow(jbuf *b, size_t nMore) {
  size_t nNew = b->nAlloc ? b->nAlloc : 128;
  char *aNew;
  if (b->rc != SQLITE_OK) {
    return 0;
  }
  while (nNew < b->n + nMore + 1) {
    nNew *= 2;
  }
  aNew = realloc(b->a, nNew);
  if (aNew == NULL) {
    b->rc = SQLITE_NOMEM;
    return 0;
  }
  b->a = aNew;
  b->nAlloc = nNew;
  return 1;
}

static void jbuf_add(jbuf *b, const char *z, size_t n) {
  if (b->n + n + 1 > b->nAlloc && !jbuf_grow(b, n)) {
    return;
  }
  memcpy(b->a + b->n, z, n);
  b->n += n;
}

static void jbuf_char(jbuf *b, char c) {
  if (b->n + 2 > b->nAlloc && !jbuf_grow(b, 1)) {
    return;
  }
  b->a[b->n++] = c;
}

static void json_string_out(jbuf *b, const char *z, size_t n) {
  static const char zHex[] = "0123456789ABCDEF";
  size_t i = 0, iRun = 0;
  /* Room for the common case (nothing to escape) in one step. */
  if (b->n + n + 3 > b->nAlloc && !jbuf_grow(b, n + 2)) {
    return;
  }
  b->a[b->n++] = '"';
  for (;;) {
    unsigned char c;
    char aEsc[6];
    size_t nEsc = 2;
    /* The run of bytes that need no escape: controls, '"' and '\\' do. */
    while (i < n && (unsigned char)z[i] >= 0x20 && z[i] != '"' &&
           z[i] != '\\') {
      i++;
    }
    if (i == n) {
      break;
    }
    c = (unsigned char)z[i];
    jbuf_add(b, z + iRun, i - iRun);
    iRun = ++i;
    aEsc[0] = '\\';
    switch (c) {
    case '"':
    case '\\':
      aEsc[1] = (char)c;
      break;
    case '\b':
      aEsc[1] = 'b';
      break;
    case '\f':
      aEsc[1] = 'f';
      break;
    case '\n':
      aEsc[1] = 'n';
      break;
    case '\r':
      aEsc[1] = 'r';
      break;
    case '\t':
      aEsc[1] = 't';
      break;
    default:
      aEsc[1] = 'u';
      aEsc[2] = '0';
      aEsc[3] = '0';
      aEsc[4] = zHex[c >> 4];
      aEsc[5] = zHex[c & 15];
      nEsc = 6;
    }
    jbuf_add(b, aEsc, nEsc);
  }
  jbuf_add(b, z + iRun, n - iRun);
  jbuf_char(b, '"');
}

static void json_real_out(jbuf *b, double r) {
  char z[64];
  char *zE;
  int n = snprintf(z, sizeof(z) - 3, "%.17g", r);
  if (n < 0 || n >= (int)sizeof(z) - 3) {
    b->rc = SQLITE_ERROR;
    return;
  }
  if (strchr(z, '.') == NULL && strchr(z, 'e') == NULL) {
    memcpy(z + n, ".0", 3);
    n += 2;
  }
  zE = strchr(z, 'e');
  if (zE) {
    /* "e+05" -> "e5", "e-05" -> "e-5" */
    char *zFrom = zE + 1, *zTo = zE + 1;
    if (*zFrom == '+') {
      zFrom++;
    } else if (*zFrom == '-') {
      zFrom++;
      zTo++;
    }
    while (*zFrom == '0' && zFrom[1] != 0) {
      zFrom++;
    }
    memmove(zTo, zFrom, strlen(zFrom) + 1);
    n = (int)strlen(z);
  }
  jbuf_add(b, z, (size_t)n);
}

typedef struct json_kv json_kv;
struct json_kv {
  const char *zKey;
  const json_t *v;
};

static int json_key_cmp(const void *a, const void *b) {
  return strcmp(((const json_kv *)a)->zKey, ((const json_kv *)b)->zKey);
}

static void json_out(jbuf *b, const json_t *v, int iDepth) {
  char z[32];
  if (iDepth > 1000) {
    b->rc = SQLITE_ERROR; /* jansson refuses deeper values too */
    return;
  }
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    json_kv azStack[16];
    json_kv *az = azStack;
    size_t i, nKey = json_object_size(v);
    void *pIter;
    if (nKey > sizeof(azStack) / sizeof(azStack[0])) {
      az = sqlite3_malloc64(sizeof(json_kv) * nKey);
      if (az == NULL) {
        b->rc = SQLITE_NOMEM;
        return;
      }
    }
    i = 0;
    for (pIter = json_object_iter((json_t *)v); pIter && i < nKey;
         pIter = json_object_iter_next((json_t *)v, pIter)) {
      az[i].zKey = json_object_iter_key(pIter);
      az[i++].v = json_object_iter_value(pIter);
    }
    nKey = i;
    if (nKey > 1) {
      /* Insertion sort for the handful of keys of most documents. */
      if (nKey <= 16) {
        size_t j;
        for (i = 1; i < nKey; i++) {
          json_kv kv = az[i];
          for (j = i; j > 0 && strcmp(az[j - 1].zKey, kv.zKey) > 0; j--) {
            az[j] = az[j - 1];
          }
          az[j] = kv;
        }
      } else {
        qsort(az, nKey, sizeof(json_kv), json_key_cmp);
      }
    }
    jbuf_char(b, '{');
    for (i = 0; i < nKey; i++) {
      if (i) {
        jbuf_char(b, ',');
      }
      json_string_out(b, az[i].zKey, strlen(az[i].zKey));
      jbuf_char(b, ':');
      json_out(b, az[i].v, iDepth + 1);
    }
    jbuf_char(b, '}');
    if (az != azStack) {
      sqlite3_free(az);
    }
    break;
  }
  case JSON_ARRAY: {
    size_t i, n = json_array_size(v);
    jbuf_char(b, '[');
    for (i = 0; i < n; i++) {
      if (i) {
        jbuf_char(b, ',');
      }
      json_out(b, json_array_get(v, i), iDepth + 1);
    }
    jbuf_char(b, ']');
    break;
  }
  case JSON_STRING:
    json_string_out(b, json_string_value(v), json_string_length(v));
    break;
  case JSON_INTEGER: {
    /* Decimal digits from the right, without printf. */
    json_int_t i = json_integer_value(v);
    unsigned long long u =
        i < 0 ? 0ULL - (unsigned long long)i : (unsigned long long)i;
    size_t k = sizeof(z);
    do {
      z[--k] = (char)('0' + u % 10);
      u /= 10;
    } while (u);
    if (i < 0) {
      z[--k] = '-';
    }
    jbuf_add(b, z + k, sizeof(z) - k);
    break;
  }
  case JSON_REAL:
    json_real_out(b, json_real_value(v));
    break;
  case JSON_TRUE:
    jbuf_add(b, "true", 4);
    break;
  case JSON_FALSE:
    jbuf_add(b, "false", 5);
    break;
  default:
    jbuf_add(b, "null", 4);
    break;
  }
}

char *thr_json_text(const json_t *v, size_t *pn) {
  jbuf b = {NULL, 0, 0, SQLITE_OK};
  if (v == NULL) {
    return NULL;
  }
  json_out(&b, v, 0);
  if (b.rc != SQLITE_OK || (b.a == NULL && !jbuf_grow(&b, 0))) {
    free(b.a);
    return NULL;
  }
  b.a[b.n] = 0;
  if (pn) {
    *pn = b.n;
  }
  return b.a;
}

int thr_text_check(const char *z, size_t n) {
  const unsigned char *a = (const unsigned char *)z;
  size_t i = 0;
  while (i < n) {
    unsigned c = a[i];
    size_t k, nCont;
    unsigned cp, cpMin;
    if (c == 0) {
      return THR_TEXT_NUL;
    }
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      nCont = 1, cp = c & 0x1f, cpMin = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      nCont = 2, cp = c & 0x0f, cpMin = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      nCont = 3, cp = c & 0x07, cpMin = 0x10000;
    } else {
      return THR_TEXT_UTF8; /* a continuation byte, 0xc0, 0xc1, >= 0xf5 */
    }
    if (n - i <= nCont) {
      return THR_TEXT_UTF8; /* cut short */
    }
    for (k = 1; k <= nCont; k++) {
      if ((a[i + k] & 0xc0) != 0x80) {
        return THR_TEXT_UTF8;
      }
      cp = (cp << 6) | (a[i + k] & 0x3f);
    }
    if (cp < cpMin || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return THR_TEXT_UTF8;
    }
    i += nCont + 1;
  }
  return THR_TEXT_OK;
}
