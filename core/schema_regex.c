/*
** schema_regex.c: JSON Schema patterns ("pattern", "patternProperties",
** the "regex" format) on pcre2.
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
**
** The translation records where each piece of output came from, so that
** pcre2's error offsets can be given in the schema's own text.
*/
#include "schema_int.h"

#include <stdio.h>
#include <string.h>

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
  thr_schema_buf_append(&p->out, z, n);
}

static void schema_rx_puts(schema_rx *p, size_t iIn, const char *z) {
  schema_rx_emit(p, iIn, z, strlen(z));
}

static void schema_rx_emit_cp(schema_rx *p, size_t iIn, unsigned long cp) {
  char zBuf[32]; /* room for any unsigned long, though cp <= 0x10ffff */
  snprintf(zBuf, sizeof(zBuf), "\\x{%lx}", cp);
  schema_rx_emit(p, iIn, zBuf, strlen(zBuf));
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
    long v = thr_schema_hexn(z, n, i + 2, 2);
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
      v = thr_schema_hexn(z, n, i + 2, 4);
      if (v < 0) {
        return schema_rx_fail(p, i, "invalid escape \\u");
      }
      *pi = i + 6;
      if (v >= 0xd800 && v <= 0xdbff && *pi + 1 < n && z[*pi] == '\\' &&
          z[*pi + 1] == 'u') {
        long lo = thr_schema_hexn(z, n, *pi + 2, 4);
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

/* Compile an ECMA-262 pattern; with bMatch, for matching within a check's
** step budget (every pattern item calls out, see thr_schema_regex_match()).
** On failure returns NULL and, unless out of memory (*pbNoMem set), *pzErr
** gets "invalid regular expression: <why> at offset N" (sqlite3_malloc'd;
** the offset is in the pattern's bytes). */
pcre2_code *thr_schema_regex_compile(const char *z, size_t n, int bMatch,
                                     char **pzErr, int *pbNoMem) {
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
                              PCRE2_NEVER_BACKSLASH_C |
                              (bMatch ? PCRE2_AUTO_CALLOUT : 0),
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

int thr_schema_regex_match(schema_ctx *c, pcre2_code *pRe, const char *z,
                           size_t n) {
  int rc;
  if (c->pMatch == NULL) {
    c->pMatch = pcre2_match_data_create(1, NULL);
    if (c->pMatch == NULL) {
      return PCRE2_ERROR_NOMEMORY;
    }
  }
  thr_schema_rx_meter(&c->nStep);
  rc = pcre2_match(pRe, (PCRE2_SPTR)z, n, 0, 0, c->pMatch, c->p->pMatchCtx);
  thr_schema_rx_meter(NULL);
  if (rc >= 0) {
    return 1; /* 0 means "matched, ovector too small": still a match */
  }
  return rc == PCRE2_ERROR_NOMATCH ? 0 : rc;
}
