/*
** schema_format.c: the "format" keyword and the content keywords.
**
** The formats of draft-07 that we check are listed in aFormat[]; any other
** name is an annotation and passes.  Each check is a small parser over the
** string's bytes: RFC 3339 dates and times (a leap second only at
** 23:59:60 UTC), RFC 1123 host names, RFC 5321 mailboxes, dotted-quad IPv4
** and RFC 4291 IPv6, RFC 3986/3987 URIs and IRIs, RFC 6570 URI templates,
** RFC 6901 (relative) JSON pointers, and ECMA-262 patterns (compiled by
** schema_regex.c).  idn-hostname is not checked.
**
** "contentEncoding": "base64" decodes RFC 2045 base64 (line breaks
** allowed); "contentMediaType": "application/json" parses the content.
*/
#include "schema_int.h"

#include <string.h>

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

int thr_schema_format_id(const char *zName, const char **pzName) {
  size_t i;
  for (i = 0; i < sizeof(aFormat) / sizeof(aFormat[0]); i++) {
    if (strcmp(aFormat[i].zName, zName) == 0) {
      *pzName = aFormat[i].zName;
      return aFormat[i].eFmt;
    }
  }
  return FMT_NONE;
}

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
      if (thr_schema_hexn(z, n, i + 1, 2) < 0) {
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
  thr_schema_uri_split(z, n, &u);
  if (u.bScheme) {
    if (!thr_schema_scheme_ok(u.zScheme, u.nScheme)) {
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
            if (thr_schema_hexn(z, n, i + 1, 2) < 0) {
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
      if (thr_schema_hexn(z, n, i + 1, 2) < 0) {
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
  pcre2_code *pCode = thr_schema_regex_compile(z, n, 0, &zErr, &bNoMem);
  sqlite3_free(zErr);
  if (pCode) {
    pcre2_code_free(pCode);
    return 1;
  }
  return bNoMem ? -1 : 0;
}

/* 1 valid, 0 invalid, -1 out of memory. */
int thr_schema_format_check(int eFmt, const char *z, size_t n) {
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
int thr_schema_base64(const char *z, size_t n, schema_buf *b) {
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
      thr_schema_buf_append(b, &o, 1);
    }
  }
  return nChar % 4 == 0 && nPad <= 2;
}
