/*
** invite.c: thread invites.
**
** INVITE FORMAT
**
**   threads://<thread id>?key=<thread key>&role=<role>&addr=<url>...
**
**   thread id  Text form of thr_tid_text() (any multibase prefix is
**              accepted when parsing).  It runs from the end of the scheme
**              to the first '?' and is not percent-encoded.
**   key        Text form of thr_tkey_text(): 104 characters for the full
**              key (service key || read key), 53 for the service key only.
**              Exactly once.
**   role       "write", "read" or "follow"; our own addition, at most once.
**              A follow invite carries the service key only, read and write
**              invites carry the full key.  Without role=, a full key means
**              write and a service key means follow.  A role that
**              contradicts the key is an error; above all, a follow invite
**              must never carry the read key.
**   addr       An nng URL at which the inviter listens (tcp://, ipc:// or
**              inproc://), percent-encoded.  Zero to THR_INVITE_MAX_ADDR of
**              them, best first; each at most THR_INVITE_MAX_ADDR_LEN bytes
**              once decoded, not empty, without NUL bytes.
**
**   The query is name=value parameters separated by '&', in any order.
**   Every value is percent-decoded as RFC 3986 says ('%' and two hex digits
**   of either case; '+' is a plus sign, not a space), so a value may hold
**   '&', '=', '#' or '%' only in encoded form.  A raw '?' or ':' in a value
**   is fine (RFC 3986 allows both in a query).
**
**   We write key, then role (always), then the addresses in the order
**   given, every byte of an address except the unreserved characters
**   A-Z a-z 0-9 - . _ ~ encoded as '%' and two upper-case hex digits:
**
**     threads://bafk...?key=baaa...&role=write&addr=tcp%3A%2F%2F10.0.0.1%3A4006
**
**   Rejected: text over THR_INVITE_MAX_TEXT bytes; a prefix other than
**   exactly "threads://"; a fragment ('#'); a raw ASCII control character;
**   an empty or invalid thread ID; no '?' or no key; an empty parameter
**   ("&&", a trailing '&'); a parameter without '='; an unknown parameter
**   name (names are case-sensitive); key or role twice; a bad key; an
**   unknown role; a role that contradicts the key; malformed
**   percent-encoding; a NUL byte in a decoded value; more than
**   THR_INVITE_MAX_ADDR addresses; an address that is empty, too long, has
**   another scheme or nothing after its scheme.
**
** The key is a secret.  No error message quotes it (nor anything longer
** than a short identifier the user typed), and every buffer that held key
** text is wiped before it is freed.
*/
#include "thr_invite.h"

#include <assert.h>
#include <sodium.h>
#include <stdarg.h>
#include <string.h>

static const char zInviteScheme[] = "threads://";
#define INVITE_SCHEME_LEN (sizeof(zInviteScheme) - 1)

/* Address schemes nng dials that make sense for a thread peer. */
static const char *const azAddrScheme[] = {"tcp://", "ipc://", "inproc://"};

/* Names of the THR_ROLE_* constants, indexed by the constant. */
static const char *const azRoleName[] = {NULL, "follow", "read", "write"};

/* Longest user-typed word (parameter name, role) that a message quotes. */
#define INVITE_ECHO_MAX 16

/**************************************************************************
** Roles.
*/
int thr_role_parse(const char *z) {
  int i;
  if (z == NULL) {
    return 0;
  }
  for (i = THR_ROLE_FOLLOW; i <= THR_ROLE_WRITE; i++) {
    if (strcmp(z, azRoleName[i]) == 0) {
      return i;
    }
  }
  return 0;
}

const char *thr_role_name(int eRole) {
  if (eRole < THR_ROLE_FOLLOW || eRole > THR_ROLE_WRITE) {
    return NULL;
  }
  return azRoleName[eRole];
}

/**************************************************************************
** Helpers shared by the parser and the encoder.
*/

/* Why the decoded address (z, n) is not acceptable, as the end of a
** sentence that starts "addr N", or NULL if it is fine.  The text of the
** length limit is checked against THR_INVITE_MAX_ADDR_LEN below. */
static const char *invite_addr_problem(const char *z, size_t n) {
  size_t i;
  if (n == 0) {
    return "is empty";
  }
  if (memchr(z, 0, n) != NULL) {
    return "contains a NUL byte";
  }
  if (n > THR_INVITE_MAX_ADDR_LEN) {
    return "is longer than 512 bytes";
  }
  for (i = 0; i < sizeof(azAddrScheme) / sizeof(azAddrScheme[0]); i++) {
    size_t nScheme = strlen(azAddrScheme[i]);
    if (n >= nScheme && memcmp(z, azAddrScheme[i], nScheme) == 0) {
      return n == nScheme ? "has nothing after its scheme" : NULL;
    }
  }
  return "does not start with tcp://, ipc:// or inproc://";
}
_Static_assert(THR_INVITE_MAX_ADDR_LEN == 512, "fix invite_addr_problem()");

/* RFC 3986 unreserved characters, which an address keeps unencoded. */
static int invite_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

/* True if the user-typed word (z, n) is short and plain enough to quote in
** an error message: no key text (53 characters at least) and nothing that
** could garble a terminal or a log line. */
static int invite_echoable(const char *z, size_t n) {
  size_t i;
  if (n > INVITE_ECHO_MAX) {
    return 0;
  }
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)z[i];
    if (!invite_unreserved(c)) {
      return 0;
    }
  }
  return 1;
}

/**************************************************************************
** Parsing.
*/

/* Set *pzErr to "invalid invite: " and the formatted reason.  Returns
** SQLITE_ERROR, or SQLITE_NOMEM if the message cannot be built. */
static int invite_error(char **pzErr, const char *zFmt, ...) {
  va_list ap;
  char *zWhy, *zMsg;
  va_start(ap, zFmt);
  zWhy = sqlite3_vmprintf(zFmt, ap);
  va_end(ap);
  if (zWhy == NULL) {
    return SQLITE_NOMEM;
  }
  zMsg = sqlite3_mprintf("invalid invite: %s", zWhy);
  sqlite3_free(zWhy);
  if (zMsg == NULL) {
    return SQLITE_NOMEM;
  }
  *pzErr = zMsg;
  return SQLITE_ERROR;
}

/* Wipe and free a buffer of n bytes that may have held key text. */
static void invite_wipe_free(char *z, size_t n) {
  if (z) {
    sodium_memzero(z, n);
    sqlite3_free(z);
  }
}

/* Percent-decode (z, n) into *pzOut, a sqlite3_malloc'd buffer of n + 1
** bytes (owned by the caller, who wipes it: it may hold key text) with the
** *pnOut decoded bytes and a NUL after them.  The decoded bytes may include
** NUL.  Returns SQLITE_ERROR for a '%' that is not followed by two hex
** digits (no message; *pzOut is NULL), or SQLITE_NOMEM. */
static int invite_unescape(const char *z, size_t n, char **pzOut,
                           size_t *pnOut) {
  char *zOut;
  size_t i, j = 0;
  *pzOut = NULL;
  *pnOut = 0;
  zOut = sqlite3_malloc64(n + 1);
  if (zOut == NULL) {
    return SQLITE_NOMEM;
  }
  for (i = 0; i < n; i++) {
    if (z[i] != '%') {
      zOut[j++] = z[i];
    } else {
      int hi = n - i >= 3 ? thr_hexval(z[i + 1]) : -1;
      int lo = n - i >= 3 ? thr_hexval(z[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        invite_wipe_free(zOut, n + 1);
        return SQLITE_ERROR;
      }
      zOut[j++] = (char)(hi << 4 | lo);
      i += 2;
    }
  }
  zOut[j] = 0;
  *pzOut = zOut;
  *pnOut = j;
  return SQLITE_OK;
}

int thr_invite_parse(const char *z, thr_invite *p, char **pzErr) {
  const char *zTidStart, *zQuery, *zParam;
  char *zTid = NULL;  /* Copy of the thread ID text */
  char *zVal = NULL;  /* Decoded value of the current parameter */
  size_t nValBuf = 0; /* Bytes allocated at zVal, for the wipe */
  char *zWhy = NULL;  /* Message of thr_tid_parse() or thr_tkey_parse() */
  size_t nz, nTid, i;
  int rc = SQLITE_OK;
  int bKey = 0, bRole = 0, eRole = 0, iParam = 0;

  memset(p, 0, sizeof(*p));
  if (z == NULL) {
    rc = invite_error(pzErr, "no text");
    goto cleanup;
  }
  /* Bounded, so that a huge string is not scanned to its end. */
  nz = strnlen(z, THR_INVITE_MAX_TEXT + 1);
  if (nz > THR_INVITE_MAX_TEXT) {
    rc = invite_error(pzErr, "longer than %d bytes", THR_INVITE_MAX_TEXT);
    goto cleanup;
  }
  if (strncmp(z, zInviteScheme, INVITE_SCHEME_LEN) != 0) {
    rc = invite_error(pzErr, "must start with %s", zInviteScheme);
    goto cleanup;
  }
  for (i = 0; i < nz; i++) {
    unsigned char c = (unsigned char)z[i];
    if (c == '#') {
      rc = invite_error(pzErr, "fragment ('#') not allowed");
      goto cleanup;
    }
    if (c < 0x20 || c == 0x7f) {
      rc = invite_error(pzErr, "control character at byte %d", (int)i);
      goto cleanup;
    }
  }

  /* The thread ID. */
  zTidStart = z + INVITE_SCHEME_LEN;
  zQuery = strchr(zTidStart, '?');
  nTid = zQuery ? (size_t)(zQuery - zTidStart) : strlen(zTidStart);
  if (nTid == 0) {
    rc = invite_error(pzErr, "missing thread id");
    goto cleanup;
  }
  zTid = sqlite3_malloc64(nTid + 1);
  if (zTid == NULL) {
    rc = SQLITE_NOMEM;
    goto cleanup;
  }
  memcpy(zTid, zTidStart, nTid);
  zTid[nTid] = 0;
  rc = thr_tid_parse(&p->tid, zTid, &zWhy);
  if (rc == SQLITE_ERROR) {
    /* thr_tid_from_bytes() reports SQLITE_ERROR without a message when
    ** the message itself could not be allocated. */
    rc = zWhy ? invite_error(pzErr, "bad thread id: %s", zWhy) : SQLITE_NOMEM;
  }
  if (rc != SQLITE_OK) {
    goto cleanup;
  }
  if (zQuery == NULL || zQuery[1] == 0) {
    rc = invite_error(pzErr, "missing key");
    goto cleanup;
  }

  /* The parameters. */
  zParam = zQuery + 1;
  for (;;) {
    const char *zAmp = strchr(zParam, '&');
    size_t nParam = zAmp ? (size_t)(zAmp - zParam) : strlen(zParam);
    const char *zEq = memchr(zParam, '=', nParam);
    size_t nName, nVal = 0;
    iParam++;
    if (nParam == 0) {
      rc = invite_error(pzErr, "parameter %d is empty", iParam);
      goto cleanup;
    }
    if (zEq == NULL) {
      rc = invite_error(pzErr, "parameter %d is not name=value", iParam);
      goto cleanup;
    }
    nName = (size_t)(zEq - zParam);
    if (nName == 3 && memcmp(zParam, "key", 3) == 0) {
      if (bKey) {
        rc = invite_error(pzErr, "duplicate key parameter");
        goto cleanup;
      }
      bKey = 1;
    } else if (nName == 4 && memcmp(zParam, "role", 4) == 0) {
      if (bRole) {
        rc = invite_error(pzErr, "duplicate role parameter");
        goto cleanup;
      }
      bRole = 1;
    } else if (nName == 4 && memcmp(zParam, "addr", 4) == 0) {
      if (p->nAddr == THR_INVITE_MAX_ADDR) {
        rc = invite_error(pzErr, "more than %d addresses", THR_INVITE_MAX_ADDR);
        goto cleanup;
      }
    } else if (invite_echoable(zParam, nName)) {
      rc = invite_error(pzErr, "unknown parameter '%.*s'", (int)nName, zParam);
      goto cleanup;
    } else {
      /* Perhaps key text pasted where a name belongs: not quoted. */
      rc =
          invite_error(pzErr, "unknown parameter name in parameter %d", iParam);
      goto cleanup;
    }

    nValBuf = nParam - nName; /* the value's length + 1 */
    rc = invite_unescape(zEq + 1, nValBuf - 1, &zVal, &nVal);
    if (rc == SQLITE_ERROR) {
      if (zParam[0] == 'a') {
        rc = invite_error(pzErr, "malformed percent-encoding in addr %d",
                          p->nAddr + 1);
      } else {
        rc = invite_error(pzErr, "malformed percent-encoding in %.*s",
                          (int)nName, zParam);
      }
    }
    if (rc != SQLITE_OK) {
      goto cleanup;
    }

    if (zParam[0] == 'k') {
      if (nVal == 0) {
        rc = invite_error(pzErr, "key is empty");
      } else if (memchr(zVal, 0, nVal) != NULL) {
        rc = invite_error(pzErr, "key contains a NUL byte");
      } else {
        rc = thr_tkey_parse(&p->key, zVal, &zWhy);
        if (rc == SQLITE_ERROR) {
          /* thr_tkey_parse() says why ("invalid key", "illegal base32
          ** data at input byte 7") without quoting the text. */
          rc = zWhy ? invite_error(pzErr, "bad key: %s", zWhy) : SQLITE_NOMEM;
        }
      }
    } else if (zParam[0] == 'r') {
      eRole = memchr(zVal, 0, nVal) ? 0 : thr_role_parse(zVal);
      if (nVal == 0) {
        rc = invite_error(pzErr, "role is empty");
      } else if (eRole == 0 && invite_echoable(zVal, nVal)) {
        rc = invite_error(
            pzErr, "unknown role '%s' (expected write, read or follow)", zVal);
      } else if (eRole == 0) {
        rc = invite_error(pzErr, "unknown role (expected write, read or "
                                 "follow)");
      }
    } else {
      const char *zProblem = invite_addr_problem(zVal, nVal);
      if (zProblem) {
        rc = invite_error(pzErr, "addr %d %s", p->nAddr + 1, zProblem);
      } else {
        /* Move the decoded address into *p. */
        p->azAddr[p->nAddr++] = zVal;
        zVal = NULL;
      }
    }
    invite_wipe_free(zVal, nValBuf);
    zVal = NULL;
    if (rc != SQLITE_OK) {
      goto cleanup;
    }
    if (zAmp == NULL) {
      break;
    }
    zParam = zAmp + 1;
  }

  /* The key and the role must agree. */
  if (!bKey) {
    rc = invite_error(pzErr, "missing key");
  } else if (eRole == 0) {
    eRole = p->key.hasRead ? THR_ROLE_WRITE : THR_ROLE_FOLLOW;
  } else if (eRole != THR_ROLE_FOLLOW && !p->key.hasRead) {
    rc = invite_error(pzErr,
                      "role=%s needs the full key (service and read), "
                      "the invite has the service key only",
                      azRoleName[eRole]);
  } else if (eRole == THR_ROLE_FOLLOW && p->key.hasRead) {
    rc = invite_error(pzErr, "role=follow must not carry the read key, "
                             "the invite has the full key");
  }
  p->eRole = eRole;

cleanup:
  invite_wipe_free(zVal, nValBuf);
  sqlite3_free(zTid);
  sqlite3_free(zWhy);
  if (rc != SQLITE_OK) {
    thr_invite_clear(p);
  }
  return rc;
}

void thr_invite_clear(thr_invite *p) {
  int i;
  for (i = 0; i < THR_INVITE_MAX_ADDR; i++) {
    sqlite3_free(p->azAddr[i]);
  }
  sodium_memzero(p, sizeof(*p));
}

/**************************************************************************
** Encoding.
*/

/* Length of the percent-encoded form of the address z. */
static size_t invite_escaped_len(const char *z) {
  size_t n = 0;
  for (; *z; z++) {
    n += invite_unreserved((unsigned char)*z) ? 1 : 3;
  }
  return n;
}

/* Append the percent-encoded address z at zOut; returns the end. */
static char *invite_escape(char *zOut, const char *z) {
  static const char aHex[] = "0123456789ABCDEF";
  for (; *z; z++) {
    unsigned char c = (unsigned char)*z;
    if (invite_unreserved(c)) {
      *zOut++ = (char)c;
    } else {
      *zOut++ = '%';
      *zOut++ = aHex[c >> 4];
      *zOut++ = aHex[c & 0x0f];
    }
  }
  return zOut;
}

static char *invite_append(char *zOut, const char *z) {
  size_t n = strlen(z);
  memcpy(zOut, z, n);
  return zOut + n;
}

char *thr_invite_text(const thr_tid *pTid, const thr_tkey *pKey, int eRole,
                      const char *const *azAddr, int nAddr) {
  const char *zRole = thr_role_name(eRole);
  thr_tid check;
  thr_tkey key;
  char *zTid = NULL, *zKey = NULL, *zOut = NULL, *zEnd;
  char *zWhy = NULL;
  size_t n;
  int i;

  if (zRole == NULL || nAddr < 0 || nAddr > THR_INVITE_MAX_ADDR ||
      (nAddr > 0 && azAddr == NULL)) {
    return NULL;
  }
  if (eRole != THR_ROLE_FOLLOW && !pKey->hasRead) {
    return NULL;
  }
  for (i = 0; i < nAddr; i++) {
    if (azAddr[i] == NULL ||
        invite_addr_problem(azAddr[i], strlen(azAddr[i])) != NULL) {
      return NULL;
    }
  }
  if (pTid->n <= 0 || pTid->n > THR_ID_MAX ||
      thr_tid_from_bytes(&check, pTid->a, (size_t)pTid->n, &zWhy) !=
          SQLITE_OK) {
    sqlite3_free(zWhy);
    return NULL;
  }

  /* A follow invite gets a copy of the key without its read half, so the
  ** read key cannot reach the text whatever thr_tkey_text() does. */
  memcpy(&key, pKey, sizeof(key));
  if (eRole == THR_ROLE_FOLLOW) {
    sodium_memzero(key.read, sizeof(key.read));
    key.hasRead = 0;
  }
  zKey = thr_tkey_text(&key);
  sodium_memzero(&key, sizeof(key));
  zTid = thr_tid_text(pTid);
  if (zKey == NULL || zTid == NULL) {
    goto cleanup;
  }

  /* Size the text exactly and write it once: a growing buffer would leave
  ** copies of the key in freed memory. */
  n = INVITE_SCHEME_LEN + strlen(zTid) + strlen("?key=") + strlen(zKey) +
      strlen("&role=") + strlen(zRole);
  for (i = 0; i < nAddr; i++) {
    n += strlen("&addr=") + invite_escaped_len(azAddr[i]);
  }
  if (n > THR_INVITE_MAX_TEXT) {
    goto cleanup;
  }
  zOut = sqlite3_malloc64(n + 1);
  if (zOut == NULL) {
    goto cleanup;
  }
  zEnd = invite_append(zOut, zInviteScheme);
  zEnd = invite_append(zEnd, zTid);
  zEnd = invite_append(zEnd, "?key=");
  zEnd = invite_append(zEnd, zKey);
  zEnd = invite_append(zEnd, "&role=");
  zEnd = invite_append(zEnd, zRole);
  for (i = 0; i < nAddr; i++) {
    zEnd = invite_append(zEnd, "&addr=");
    zEnd = invite_escape(zEnd, azAddr[i]);
  }
  *zEnd = 0;
  assert((size_t)(zEnd - zOut) == n);

cleanup:
  if (zKey) {
    invite_wipe_free(zKey, strlen(zKey));
  }
  sqlite3_free(zTid);
  return zOut;
}
