/*
** schema_text.c: text for the JSON Schema validator.  Growable strings
** (schema_buf), JSON pointer tokens, and JSON values rendered for error
** messages: compact JSON, at most SCHEMA_RENDER_MAX bytes of any string
** (then "..."), reals as jansson writes them (the shortest text that
** reads back, with ".0" when it would look like an integer).
*/
#include "schema_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void thr_schema_buf_append(schema_buf *p, const char *z, size_t n) {
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

void thr_schema_buf_puts(schema_buf *p, const char *z) {
  thr_schema_buf_append(p, z, strlen(z));
}

void thr_schema_buf_truncate(schema_buf *p, size_t n) {
  if (p->z && n <= p->n) {
    p->n = n;
    p->z[n] = 0;
  }
}

/* A JSON pointer token: "~" is written "~0" and "/" "~1". */
void thr_schema_buf_token(schema_buf *p, const char *z, size_t n) {
  size_t i, iStart = 0;
  for (i = 0; i < n; i++) {
    if (z[i] == '~' || z[i] == '/') {
      thr_schema_buf_append(p, z + iStart, i - iStart);
      thr_schema_buf_puts(p, z[i] == '~' ? "~0" : "~1");
      iStart = i + 1;
    }
  }
  thr_schema_buf_append(p, z + iStart, n - iStart);
}

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
  thr_schema_buf_append(b, "\"", 1);
  for (i = 0; i < nMax; i++) {
    unsigned char c = (unsigned char)z[i];
    if (c == '"' || c == '\\') {
      char zEsc[2] = {'\\', (char)c};
      thr_schema_buf_append(b, zEsc, 2);
    } else if (c < 0x20) {
      char zEsc[8];
      snprintf(zEsc, sizeof(zEsc), "\\u%04x", c);
      thr_schema_buf_puts(b, zEsc);
    } else {
      thr_schema_buf_append(b, (const char *)&z[i], 1);
    }
  }
  if (nMax < n) {
    thr_schema_buf_puts(b, "...");
  }
  thr_schema_buf_append(b, "\"", 1);
}

/* Compact JSON for a value, stopping once SCHEMA_RENDER_MAX bytes are out. */
static void schema_render_into(schema_buf *b, const json_t *p, int nDepth) {
  char zNum[48];
  if (b->n > SCHEMA_RENDER_MAX || nDepth > 8) {
    thr_schema_buf_puts(b, "...");
    return;
  }
  switch (json_typeof(p)) {
  case JSON_NULL:
    thr_schema_buf_puts(b, "null");
    break;
  case JSON_TRUE:
    thr_schema_buf_puts(b, "true");
    break;
  case JSON_FALSE:
    thr_schema_buf_puts(b, "false");
    break;
  case JSON_INTEGER:
  case JSON_REAL:
    schema_fmt_num(p, zNum, sizeof(zNum));
    thr_schema_buf_puts(b, zNum);
    break;
  case JSON_STRING:
    schema_render_str(b, json_string_value(p), json_string_length(p));
    break;
  case JSON_ARRAY: {
    size_t i;
    thr_schema_buf_append(b, "[", 1);
    for (i = 0; i < json_array_size(p) && b->n <= SCHEMA_RENDER_MAX; i++) {
      if (i > 0) {
        thr_schema_buf_append(b, ",", 1);
      }
      schema_render_into(b, json_array_get(p, i), nDepth + 1);
    }
    thr_schema_buf_puts(b, i < json_array_size(p) ? "...]" : "]");
    break;
  }
  default: {
    const char *zKey;
    size_t nKey, i = 0;
    json_t *pVal;
    thr_schema_buf_append(b, "{", 1);
    json_object_keylen_foreach((json_t *)p, zKey, nKey, pVal) {
      if (b->n > SCHEMA_RENDER_MAX) {
        thr_schema_buf_puts(b, "...");
        break;
      }
      if (i++ > 0) {
        thr_schema_buf_append(b, ",", 1);
      }
      schema_render_str(b, zKey, nKey);
      thr_schema_buf_append(b, ":", 1);
      schema_render_into(b, pVal, nDepth + 1);
    }
    thr_schema_buf_append(b, "}", 1);
    break;
  }
  }
}

/* A value as compact JSON text for a message (sqlite3_malloc'd, or NULL
** on OOM). */
char *thr_schema_render(const json_t *p) {
  schema_buf b = {0, 0, 0, SQLITE_OK};
  schema_render_into(&b, p, 0);
  if (b.rc != SQLITE_OK) {
    sqlite3_free(b.z);
    return NULL;
  }
  return b.z;
}

char *thr_schema_render_name(const char *z, size_t n) {
  schema_buf b = {0, 0, 0, SQLITE_OK};
  schema_render_str(&b, z, n);
  if (b.rc != SQLITE_OK) {
    sqlite3_free(b.z);
    return NULL;
  }
  return b.z;
}

/* Read exactly nHex hex digits at z[i]; -1 if they are not there. */
long thr_schema_hexn(const char *z, size_t n, size_t i, int nHex) {
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
