/*
** schema_uri.c: URI references (RFC 3986) for "$id" and "$ref": the
** split of appendix B, resolution against a base (section 5.2, with
** dot-segment removal), schemes, and percent-decoding of fragments.
** The "uri" and "iri" formats (schema_format.c) parse with the same split.
*/
#include "schema_int.h"

#include <string.h>

/* 1 if c is one of the characters of zSet (never for NUL). */
static int schema_in(char c, const char *zSet) {
  return c != 0 && strchr(zSet, c) != NULL;
}

/* Split a URI reference the way RFC 3986 appendix B does:
**   ^(([^:/?#]+):)?(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))?  */
void thr_schema_uri_split(const char *z, size_t n, schema_uri *p) {
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
      thr_schema_buf_append(b, "/", 1);
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
      thr_schema_buf_truncate(b, k);
      if (nIn == 3) {
        thr_schema_buf_append(b, "/", 1);
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
      thr_schema_buf_append(b, zIn, k);
      i += k;
    }
  }
}

/* Resolve reference zRef against base zBase (RFC 3986 5.2.2).  Returns a
** sqlite3_malloc'd string or NULL on OOM. */
char *thr_schema_uri_join(const char *zBase, const char *zRef) {
  schema_uri r, B;
  schema_buf b = {0, 0, 0, SQLITE_OK};
  const char *zQuery = NULL;
  size_t nQuery = 0;
  int bQuery = 0;
  thr_schema_uri_split(zRef, strlen(zRef), &r);
  thr_schema_uri_split(zBase, strlen(zBase), &B);
  if (r.bScheme) {
    thr_schema_buf_append(&b, r.zScheme, r.nScheme);
    thr_schema_buf_append(&b, ":", 1);
  } else if (B.bScheme) {
    thr_schema_buf_append(&b, B.zScheme, B.nScheme);
    thr_schema_buf_append(&b, ":", 1);
  }
  if (r.bScheme || r.bAuth) {
    if (r.bAuth) {
      thr_schema_buf_append(&b, "//", 2);
      thr_schema_buf_append(&b, r.zAuth, r.nAuth);
    }
    schema_remove_dots(&b, r.zPath, r.nPath);
    bQuery = r.bQuery;
    zQuery = r.zQuery;
    nQuery = r.nQuery;
  } else {
    if (B.bAuth) {
      thr_schema_buf_append(&b, "//", 2);
      thr_schema_buf_append(&b, B.zAuth, B.nAuth);
    }
    if (r.nPath == 0) {
      thr_schema_buf_append(&b, B.zPath, B.nPath);
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
          thr_schema_buf_append(&m, "/", 1);
        } else {
          size_t k = B.nPath;
          while (k > 0 && B.zPath[k - 1] != '/') {
            k--;
          }
          thr_schema_buf_append(&m, B.zPath, k);
        }
        thr_schema_buf_append(&m, r.zPath, r.nPath);
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
    thr_schema_buf_append(&b, "?", 1);
    thr_schema_buf_append(&b, zQuery, nQuery);
  }
  if (r.bFrag) {
    thr_schema_buf_append(&b, "#", 1);
    thr_schema_buf_append(&b, r.zFrag, r.nFrag);
  }
  thr_schema_buf_append(&b, "", 0); /* a string even when empty */
  if (b.rc != SQLITE_OK) {
    sqlite3_free(b.z);
    return NULL;
  }
  return b.z;
}

/* 1 if (z, n) is a valid URI scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" /
** "." ). */
int thr_schema_scheme_ok(const char *z, size_t n) {
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
int thr_schema_has_scheme(const char *z) {
  schema_uri u;
  thr_schema_uri_split(z, strlen(z), &u);
  return u.bScheme && thr_schema_scheme_ok(u.zScheme, u.nScheme);
}

/* Decode %XX escapes of (z, n) into b (a "%" not followed by two hex
** digits stays as it is). */
void thr_schema_pct_decode(schema_buf *b, const char *z, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    long v = z[i] == '%' ? thr_schema_hexn(z, n, i + 1, 2) : -1;
    if (v >= 0) {
      char c = (char)v;
      thr_schema_buf_append(b, &c, 1);
      i += 2;
    } else {
      thr_schema_buf_append(b, z + i, 1);
    }
  }
}
