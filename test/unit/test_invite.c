/*
** test_invite.c: unit tests for core/invite.c.
**
** The fixed thread ID is 01 55 00..1f and the fixed key is service 00..1f,
** read 20..3f.  Their base32 texts were computed with python3's base64
** module while the tests were written (the key texts are the ones in
** test_ids.c); the percent-encodings were written out by hand from the
** ASCII table, byte by byte, and say so where they appear.
*/
#include "thr_invite.h"
#include "tt.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TID "bafkqaaicamcakbqhbaequcymbuha6earcijrifiwc4mbsgq3dqor4hy"
#define KEYF                                                                   \
  "baaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypsaijcemsckjrhfausukz"   \
  "mfuxc6mbrgiztinjwg44dsor3hq6t4py"
#define KEYS "baaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq"
#define PRE "threads://" TID "?key="

/* Three addresses; the second and third need encoding. */
static const char *const azAddr[3] = {
    "tcp://127.0.0.1:4006",
    "ipc:///tmp/a b?c&d=e%f",
    "inproc://n#1+2/\xc3\xa9~_.-",
};
/* Their encodings, by hand: ':' 3A, '/' 2F, ' ' 20, '?' 3F, '&' 26,
** '=' 3D, '%' 25, '#' 23, '+' 2B, U+00E9 is UTF-8 C3 A9; '.', '~', '_',
** '-' and alphanumerics are unreserved and stay. */
static const char *const azAddrEnc[3] = {
    "tcp%3A%2F%2F127.0.0.1%3A4006",
    "ipc%3A%2F%2F%2Ftmp%2Fa%20b%3Fc%26d%3De%25f",
    "inproc%3A%2F%2Fn%231%2B2%2F%C3%A9~_.-",
};

static thr_tid fixed_tid(void) {
  thr_tid t;
  int i;
  memset(&t, 0, sizeof(t));
  t.a[0] = 0x01;
  t.a[1] = 0x55;
  for (i = 0; i < 32; i++) {
    t.a[2 + i] = (unsigned char)i;
  }
  t.n = 34;
  return t;
}

static thr_tkey fixed_key(int hasRead) {
  thr_tkey k;
  int i;
  memset(&k, 0, sizeof(k));
  for (i = 0; i < 32; i++) {
    k.service[i] = (unsigned char)i;
    k.read[i] = hasRead ? (unsigned char)(32 + i) : 0;
  }
  k.hasRead = hasRead;
  return k;
}

/* Wipe and free invite text, as the contract asks. */
static void text_free(char *z) {
  if (z) {
    sodium_memzero(z, strlen(z));
    sqlite3_free(z);
  }
}

static int all_zero(const void *p, size_t n) {
  const unsigned char *a = p;
  size_t i;
  for (i = 0; i < n; i++) {
    if (a[i]) {
      return 0;
    }
  }
  return 1;
}

/* True if zMsg holds 12 or more consecutive characters of key text zKey
** (after its multibase prefix): a message must not quote any of a key. */
static int quotes_key(const char *zMsg, const char *zKey) {
  size_t i, nKey = strlen(zKey), nMsg = strlen(zMsg);
  for (i = 1; i + 12 <= nKey; i++) {
    if (memmem(zMsg, nMsg, zKey + i, 12) != NULL) {
      return 1;
    }
  }
  return 0;
}

/* Parse an invite; "OK" or the message (static buffer), or a "contract:"
** text when the failure contract is broken: rc, the message prefix, a
** key quoted, or *p left holding something. */
static const char *invite_msg(const char *z) {
  static char zBuf[600];
  thr_invite inv;
  char *zErr = NULL;
  int rc;
  memset(&inv, 0xee, sizeof(inv)); /* parse must not read *p */
  rc = thr_invite_parse(z, &inv, &zErr);
  if (rc == SQLITE_OK) {
    snprintf(zBuf, sizeof(zBuf), "%s", zErr ? "error set on success" : "OK");
    thr_invite_clear(&inv);
  } else if (rc != SQLITE_ERROR || zErr == NULL) {
    snprintf(zBuf, sizeof(zBuf), "contract: rc=%d", rc);
  } else if (strncmp(zErr, "invalid invite: ", 16) != 0) {
    snprintf(zBuf, sizeof(zBuf), "contract: prefix: %s", zErr);
  } else if (quotes_key(zErr, KEYF) || quotes_key(zErr, KEYS)) {
    snprintf(zBuf, sizeof(zBuf), "contract: message quotes the key");
  } else if (!all_zero(&inv, sizeof(inv))) {
    snprintf(zBuf, sizeof(zBuf), "contract: *p not cleared");
  } else {
    snprintf(zBuf, sizeof(zBuf), "%s", zErr);
  }
  sqlite3_free(zErr);
  return zBuf;
}

/**************************************************************************
** Roles.
*/
static void test_role_names(void) {
  TT_CHECK(thr_role_parse("write") == THR_ROLE_WRITE);
  TT_CHECK(thr_role_parse("read") == THR_ROLE_READ);
  TT_CHECK(thr_role_parse("follow") == THR_ROLE_FOLLOW);
  TT_CHECK(thr_role_parse("Write") == 0);
  TT_CHECK(thr_role_parse("writer") == 0);
  TT_CHECK(thr_role_parse("") == 0);
  TT_CHECK(thr_role_parse(NULL) == 0);
  TT_STREQ(thr_role_name(THR_ROLE_WRITE), "write");
  TT_STREQ(thr_role_name(THR_ROLE_READ), "read");
  TT_STREQ(thr_role_name(THR_ROLE_FOLLOW), "follow");
  TT_CHECK(thr_role_name(0) == NULL);
  TT_CHECK(thr_role_name(4) == NULL);
  TT_CHECK(thr_role_name(-1) == NULL);
}

/**************************************************************************
** Text -> parse.
*/
static void test_roundtrip(void) {
  static const int aRole[] = {THR_ROLE_FOLLOW, THR_ROLE_READ, THR_ROLE_WRITE};
  static const int aN[] = {0, 1, 3};
  thr_tid tid = fixed_tid();
  thr_tkey key = fixed_key(1);
  unsigned r, k;
  int i;
  for (r = 0; r < 3; r++) {
    for (k = 0; k < 3; k++) {
      thr_invite inv;
      char *zErr = NULL;
      char *z = thr_invite_text(&tid, &key, aRole[r], azAddr, aN[k]);
      TT_CHECK(z != NULL);
      if (z == NULL) {
        continue;
      }
      TT_CHECK(thr_invite_parse(z, &inv, &zErr) == SQLITE_OK);
      TT_CHECK(zErr == NULL);
      TT_CHECK(inv.tid.n == 34 && memcmp(inv.tid.a, tid.a, 34) == 0);
      TT_CHECK(memcmp(inv.key.service, key.service, 32) == 0);
      if (aRole[r] == THR_ROLE_FOLLOW) {
        TT_CHECK(inv.key.hasRead == 0);
        TT_CHECK(all_zero(inv.key.read, 32));
      } else {
        TT_CHECK(inv.key.hasRead == 1);
        TT_CHECK(memcmp(inv.key.read, key.read, 32) == 0);
      }
      TT_CHECK(inv.eRole == aRole[r]);
      TT_CHECK(inv.nAddr == aN[k]);
      for (i = 0; i < inv.nAddr && i < aN[k]; i++) {
        TT_CHECK(inv.azAddr[i] != NULL);
        TT_CHECK(strlen(inv.azAddr[i]) == strlen(azAddr[i]));
        TT_STREQ(inv.azAddr[i], azAddr[i]);
      }
      for (; i < THR_INVITE_MAX_ADDR; i++) {
        TT_CHECK(inv.azAddr[i] == NULL);
      }
      thr_invite_clear(&inv);
      TT_CHECK(all_zero(&inv, sizeof(inv)));
      thr_invite_clear(&inv); /* twice is safe */
      sqlite3_free(zErr);
      text_free(z);
    }
  }
  sodium_memzero(&key, sizeof(key));
}

/* The exact text we write: key, role, then the addresses in order. */
static void test_text_exact(void) {
  thr_tid tid = fixed_tid();
  thr_tkey key = fixed_key(1);
  char *z;

  z = thr_invite_text(&tid, &key, THR_ROLE_WRITE, azAddr, 1);
  TT_STREQ(z, PRE KEYF "&role=write&addr=tcp%3A%2F%2F127.0.0.1%3A4006");
  text_free(z);

  z = thr_invite_text(&tid, &key, THR_ROLE_READ, NULL, 0);
  TT_STREQ(z, PRE KEYF "&role=read");
  text_free(z);

  /* A follow invite from a full key writes the service half only. */
  z = thr_invite_text(&tid, &key, THR_ROLE_FOLLOW, azAddr, 3);
  TT_STREQ(z, PRE KEYS "&role=follow&addr=tcp%3A%2F%2F127.0.0.1%3A4006"
                       "&addr=ipc%3A%2F%2F%2Ftmp%2Fa%20b%3Fc%26d%3De%25f"
                       "&addr=inproc%3A%2F%2Fn%231%2B2%2F%C3%A9~_.-");
  text_free(z);

  /* Each address alone, against the hand-written encoding. */
  {
    int i;
    for (i = 0; i < 3; i++) {
      char zWant[256];
      snprintf(zWant, sizeof(zWant), "%s&role=read&addr=%s", PRE KEYF,
               azAddrEnc[i]);
      z = thr_invite_text(&tid, &key, THR_ROLE_READ, &azAddr[i], 1);
      TT_STREQ(z, zWant);
      text_free(z);
    }
  }
  sodium_memzero(&key, sizeof(key));
}

/* Parse a hand-written invite; returns 1 if it has the fixed ID, the key
** (full or service-only, as hasRead says), eRole and the one address
** zAddr (or none for NULL). */
static int parses_to(const char *z, int hasRead, int eRole, const char *zAddr) {
  thr_tid tid = fixed_tid();
  thr_tkey key = fixed_key(hasRead);
  thr_invite inv;
  char *zErr = NULL;
  int ok = thr_invite_parse(z, &inv, &zErr) == SQLITE_OK && zErr == NULL &&
           inv.tid.n == tid.n && memcmp(inv.tid.a, tid.a, 34) == 0 &&
           inv.key.hasRead == hasRead &&
           memcmp(inv.key.service, key.service, 32) == 0 &&
           memcmp(inv.key.read, key.read, 32) == 0 && inv.eRole == eRole &&
           inv.nAddr == (zAddr ? 1 : 0) &&
           (zAddr == NULL || strcmp(inv.azAddr[0], zAddr) == 0);
  thr_invite_clear(&inv);
  sqlite3_free(zErr);
  sodium_memzero(&key, sizeof(key));
  return ok;
}

static void test_parse_hand_written(void) {
  /* "tcp://127.0.0.1:4006": ':' is 3A and '/' is 2F, the rest unreserved. */
  TT_CHECK(parses_to(PRE KEYF "&addr=tcp%3A%2F%2F127.0.0.1%3A4006", 1,
                     THR_ROLE_WRITE, "tcp://127.0.0.1:4006"));
  /* Any order; lower-case hex digits decode as well. */
  TT_CHECK(parses_to("threads://" TID "?addr=tcp%3a%2f%2f127.0.0.1%3a4006"
                     "&role=read&key=" KEYF,
                     1, THR_ROLE_READ, "tcp://127.0.0.1:4006"));
  /* ':' and '/' may also stand unencoded in a query. */
  TT_CHECK(parses_to("threads://" TID "?role=write&addr=tcp://127.0.0.1:4006"
                     "&key=" KEYF,
                     1, THR_ROLE_WRITE, "tcp://127.0.0.1:4006"));
  /* "ipc:///tmp/a b?c&d=e%f": ' ' 20, '?' 3F, '&' 26, '=' 3D, '%' 25. */
  TT_CHECK(parses_to(PRE KEYS
                     "&addr=ipc%3A%2F%2F%2Ftmp%2Fa%20b%3Fc%26d%3De%25f",
                     0, THR_ROLE_FOLLOW, "ipc:///tmp/a b?c&d=e%f"));
  /* '+' is a plus sign, not a space (RFC 3986, not form encoding). */
  TT_CHECK(parses_to(PRE KEYF "&addr=inproc://a+b", 1, THR_ROLE_WRITE,
                     "inproc://a+b"));
  /* Without role=: full key -> write, service key -> follow. */
  TT_CHECK(parses_to(PRE KEYF, 1, THR_ROLE_WRITE, NULL));
  TT_CHECK(parses_to(PRE KEYS, 0, THR_ROLE_FOLLOW, NULL));
  TT_CHECK(parses_to(PRE KEYS "&role=follow", 0, THR_ROLE_FOLLOW, NULL));
  TT_CHECK(parses_to(PRE KEYF "&role=read", 1, THR_ROLE_READ, NULL));
  TT_CHECK(parses_to("threads://" TID "?role=write&key=" KEYF, 1,
                     THR_ROLE_WRITE, NULL));
  /* The thread ID in base16 (01 55 00..1f) is the same ID. */
  TT_CHECK(parses_to("threads://f0155000102030405060708090a0b0c0d0e0f1011121314"
                     "15161718191a1b1c1d1e1f?key=" KEYF,
                     1, THR_ROLE_WRITE, NULL));
  /* A percent-encoded key ('a' is 61) and role ('w' is 77). */
  TT_CHECK(parses_to("threads://" TID "?key=b%61aaqeayeaudaocajbifqydiob4ibceq"
                     "tcqkrmfyydenbwha5dypq&role=%66ollow",
                     0, THR_ROLE_FOLLOW, NULL));
  TT_CHECK(parses_to(PRE KEYF "&role=%77rite", 1, THR_ROLE_WRITE, NULL));
}

/* A follow invite must not carry the read key, in any form. */
static int follow_hides_read_key(const thr_tkey *pKey) {
  static const char aBase[] = "079fFbBcCvVtThkKzZmMuU";
  thr_tid tid = fixed_tid();
  thr_tkey full = *pKey;
  thr_invite inv;
  char *z, *zFull, *zErr = NULL;
  size_t i, nz;
  int ok = 1;

  full.hasRead = 1;
  zFull = thr_tkey_text(&full);
  z = thr_invite_text(&tid, &full, THR_ROLE_FOLLOW, azAddr, 3);
  if (z == NULL || zFull == NULL) {
    text_free(z);
    text_free(zFull);
    return 0;
  }
  nz = strlen(z);
  /* Not the full key text, nor its read part (base32 of the full key from
  ** character 53 on, which is not base32 of the read key alone: the read
  ** key starts 256 bits in, not on a 5-bit boundary). */
  if (strstr(z, zFull) != NULL || strstr(z, zFull + 53) != NULL) {
    ok = 0;
  }
  /* Not the raw bytes, nor the read key alone in any multibase base. */
  if (memmem(z, nz, full.read, 32) != NULL) {
    ok = 0;
  }
  for (i = 0; aBase[i]; i++) {
    char *zEnc = thr_mb_encode(aBase[i], full.read, 32);
    if (zEnc == NULL || strlen(zEnc) < 20 || strstr(z, zEnc + 1) != NULL) {
      ok = 0;
    }
    text_free(zEnc);
  }
  /* And it parses back as a follow invite with no read key at all. */
  if (thr_invite_parse(z, &inv, &zErr) != SQLITE_OK ||
      inv.eRole != THR_ROLE_FOLLOW || inv.key.hasRead != 0 ||
      !all_zero(inv.key.read, 32) ||
      memcmp(inv.key.service, full.service, 32) != 0) {
    ok = 0;
  }
  thr_invite_clear(&inv);
  sqlite3_free(zErr);
  sodium_memzero(&full, sizeof(full));
  text_free(zFull);
  text_free(z);
  return ok;
}

static void test_follow_hides_read_key(void) {
  thr_tid tid = fixed_tid();
  thr_tkey key = fixed_key(1);
  char *z;
  int i;
  TT_CHECK(follow_hides_read_key(&key));
  for (i = 0; i < 50; i++) {
    int j;
    for (j = 0; j < 32; j++) {
      key.service[j] = (unsigned char)rng_next();
      key.read[j] = (unsigned char)rng_next();
    }
    TT_CHECK(follow_hides_read_key(&key));
  }
  /* The check has teeth: read and write invites do hold the full text. */
  key = fixed_key(1);
  z = thr_invite_text(&tid, &key, THR_ROLE_READ, NULL, 0);
  TT_CHECK(z != NULL && strstr(z, KEYF) != NULL);
  text_free(z);
  z = thr_invite_text(&tid, &key, THR_ROLE_FOLLOW, NULL, 0);
  TT_CHECK(z != NULL && strstr(z, KEYF) == NULL && strstr(z, KEYS "&"));
  text_free(z);
  sodium_memzero(&key, sizeof(key));
}

/**************************************************************************
** Rejections: one test per rule.  invite_msg() checks on every call that
** the message starts "invalid invite: ", quotes no key and that *p was
** cleared.
*/
static void test_reject_scheme(void) {
  static const char zWant[] = "invalid invite: must start with threads://";
  TT_STREQ(invite_msg("thread://" TID "?key=" KEYF), zWant);
  TT_STREQ(invite_msg("Threads://" TID "?key=" KEYF), zWant);
  TT_STREQ(invite_msg("threads:/" TID "?key=" KEYF), zWant);
  TT_STREQ(invite_msg(" threads://" TID "?key=" KEYF), zWant);
  TT_STREQ(invite_msg("http://x/?key=" KEYF), zWant);
  TT_STREQ(invite_msg(TID "?key=" KEYF), zWant);
  TT_STREQ(invite_msg(""), zWant);
  TT_STREQ(invite_msg(NULL), "invalid invite: no text");
}

static void test_reject_thread_id(void) {
  TT_STREQ(invite_msg("threads://?key=" KEYF),
           "invalid invite: missing thread id");
  TT_STREQ(invite_msg("threads://"), "invalid invite: missing thread id");
  /* The messages after "bad thread id: " are thr_tid_parse()'s own. */
  TT_STREQ(invite_msg("threads://bafkq?key=" KEYF),
           "invalid invite: bad thread id: expected random id bytes but "
           "there are none");
  TT_STREQ(invite_msg("threads://xabc?key=" KEYF),
           "invalid invite: bad thread id: selected encoding not supported");
  TT_STREQ(invite_msg("threads://b?key=" KEYF),
           "invalid invite: bad thread id: id too short");
  /* A '/' after the ID is part of it: data byte 55 (after the prefix). */
  TT_STREQ(invite_msg("threads://" TID "/?key=" KEYF),
           "invalid invite: bad thread id: illegal base32 data at input "
           "byte 55");
  /* A missing '?' makes the query part of the ID. */
  TT_STREQ(invite_msg("threads://" TID "&key=" KEYF),
           "invalid invite: bad thread id: illegal base32 data at input "
           "byte 55");
}

static void test_reject_missing_key(void) {
  static const char zWant[] = "invalid invite: missing key";
  TT_STREQ(invite_msg("threads://" TID), zWant);
  TT_STREQ(invite_msg("threads://" TID "?"), zWant);
  TT_STREQ(invite_msg("threads://" TID "?role=write"), zWant);
  TT_STREQ(invite_msg("threads://" TID "?addr=tcp://h:1&role=follow"), zWant);
}

static void test_reject_bad_key(void) {
  /* 31 bytes (from test_ids.c). */
  TT_STREQ(
      invite_msg(PRE "baaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dy"),
      "invalid invite: bad key: invalid key");
  /* 96 zero bytes: 768 bits are 154 base32 digits, all 'a'. */
  {
    char zInv[400];
    size_t n = strlen(PRE);
    memcpy(zInv, PRE, n);
    zInv[n] = 'b';
    memset(zInv + n + 1, 'a', 154);
    zInv[n + 155] = 0;
    TT_STREQ(invite_msg(zInv), "invalid invite: bad key: invalid key");
  }
  /* '1' is not a base32 digit; it replaces data character 10. */
  TT_STREQ(
      invite_msg(PRE "baaaqeayeau1aocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq"),
      "invalid invite: bad key: illegal base32 data at input byte 10");
  TT_STREQ(
      invite_msg(PRE "xaaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq"),
      "invalid invite: bad key: selected encoding not supported");
  TT_STREQ(invite_msg(PRE), "invalid invite: key is empty");
  TT_STREQ(invite_msg(PRE "&role=write"), "invalid invite: key is empty");
  TT_STREQ(invite_msg(PRE KEYS "%00"),
           "invalid invite: key contains a NUL byte");
  TT_STREQ(invite_msg(PRE KEYS "%00" KEYS),
           "invalid invite: key contains a NUL byte");
}

static void test_reject_duplicate(void) {
  TT_STREQ(invite_msg(PRE KEYF "&key=" KEYF),
           "invalid invite: duplicate key parameter");
  TT_STREQ(invite_msg(PRE KEYS "&role=follow&key=" KEYF),
           "invalid invite: duplicate key parameter");
  TT_STREQ(invite_msg(PRE KEYF "&role=write&role=write"),
           "invalid invite: duplicate role parameter");
  TT_STREQ(invite_msg(PRE KEYF "&role=write&addr=tcp://h:1&role=read"),
           "invalid invite: duplicate role parameter");
}

static void test_reject_unknown_param(void) {
  TT_STREQ(invite_msg(PRE KEYF "&foo=1"),
           "invalid invite: unknown parameter 'foo'");
  TT_STREQ(invite_msg("threads://" TID "?Key=" KEYF),
           "invalid invite: unknown parameter 'Key'");
  TT_STREQ(invite_msg(PRE KEYF "&addrs=tcp://h:1"),
           "invalid invite: unknown parameter 'addrs'");
  TT_STREQ(invite_msg(PRE KEYF "&=x"), "invalid invite: unknown parameter ''");
  /* A name that is not a short plain word is not quoted: it may be a key
  ** pasted in the wrong place. */
  TT_STREQ(invite_msg("threads://" TID "?" KEYF "=1&key=" KEYF),
           "invalid invite: unknown parameter name in parameter 1");
  TT_STREQ(invite_msg(PRE KEYF "&a%20b=1"),
           "invalid invite: unknown parameter name in parameter 2");
  /* A parameter without '=' is not a name=value pair. */
  TT_STREQ(invite_msg(PRE KEYF "&addr"),
           "invalid invite: parameter 2 is not name=value");
  TT_STREQ(invite_msg("threads://" TID "?" KEYF),
           "invalid invite: parameter 1 is not name=value");
}

static void test_reject_unknown_role(void) {
  TT_STREQ(invite_msg(PRE KEYF "&role=admin"),
           "invalid invite: unknown role 'admin' (expected write, read or "
           "follow)");
  TT_STREQ(invite_msg(PRE KEYF "&role=Write"),
           "invalid invite: unknown role 'Write' (expected write, read or "
           "follow)");
  TT_STREQ(invite_msg(PRE KEYF "&role="), "invalid invite: role is empty");
  /* Not quoted: too long (it could be a key), or not a plain word. */
  TT_STREQ(invite_msg(PRE KEYF "&role=" KEYS),
           "invalid invite: unknown role (expected write, read or follow)");
  TT_STREQ(invite_msg(PRE KEYF "&role=write%00"),
           "invalid invite: unknown role (expected write, read or follow)");
  TT_STREQ(invite_msg(PRE KEYF "&role=write%20"),
           "invalid invite: unknown role (expected write, read or follow)");
}

static void test_reject_role_key_mismatch(void) {
  TT_STREQ(invite_msg(PRE KEYS "&role=read"),
           "invalid invite: role=read needs the full key (service and read), "
           "the invite has the service key only");
  TT_STREQ(invite_msg("threads://" TID "?role=write&key=" KEYS),
           "invalid invite: role=write needs the full key (service and "
           "read), the invite has the service key only");
  TT_STREQ(invite_msg(PRE KEYF "&role=follow"),
           "invalid invite: role=follow must not carry the read key, the "
           "invite has the full key");
  TT_STREQ(invite_msg("threads://" TID "?role=follow&addr=tcp://h:1&key=" KEYF),
           "invalid invite: role=follow must not carry the read key, the "
           "invite has the full key");
}

static void test_reject_percent(void) {
  static const char zWant[] =
      "invalid invite: malformed percent-encoding in addr 1";
  TT_STREQ(invite_msg(PRE KEYF "&addr=%G1"), zWant);
  TT_STREQ(invite_msg(PRE KEYF "&addr=tcp://h:1%1G"), zWant);
  TT_STREQ(invite_msg(PRE KEYF "&addr=tcp%3A%2F%2Fh%4"), zWant);
  TT_STREQ(invite_msg(PRE KEYF "&addr=tcp%3A%2F%2Fh%"), zWant);
  TT_STREQ(invite_msg(PRE KEYF "&addr=tcp%3A%2F%2Fh%4&role=write"), zWant);
  TT_STREQ(invite_msg(PRE KEYF "&addr=%%41"), zWant);
  TT_STREQ(invite_msg(PRE KEYF "&addr=tcp://h:1&addr=tcp://h:2%"),
           "invalid invite: malformed percent-encoding in addr 2");
  TT_STREQ(invite_msg(PRE KEYS "%zz"),
           "invalid invite: malformed percent-encoding in key");
  TT_STREQ(invite_msg(PRE KEYF "&role=wr%1"),
           "invalid invite: malformed percent-encoding in role");
}

static void test_reject_addr_value(void) {
  char zInv[2048];
  char zAddr[600];
  size_t n = strlen(PRE KEYF "&addr=tcp://");
  TT_STREQ(invite_msg(PRE KEYF "&addr="), "invalid invite: addr 1 is empty");
  TT_STREQ(invite_msg(PRE KEYF "&addr=tcp://h:1&addr=&role=write"),
           "invalid invite: addr 2 is empty");
  TT_STREQ(invite_msg(PRE KEYF "&addr=%00"),
           "invalid invite: addr 1 contains a NUL byte");
  TT_STREQ(invite_msg(PRE KEYF "&addr=tcp://h%00:1"),
           "invalid invite: addr 1 contains a NUL byte");

  /* 512 decoded bytes pass, 513 do not, whatever the encoded length. */
  memcpy(zInv, PRE KEYF "&addr=tcp://", n);
  memset(zInv + n, 'a', 506);
  zInv[n + 506] = 0;
  TT_STREQ(invite_msg(zInv), "OK");
  zInv[n + 506] = 'a';
  zInv[n + 507] = 0;
  TT_STREQ(invite_msg(zInv), "invalid invite: addr 1 is longer than 512 bytes");
  {
    /* 506 bytes written as %61 ('a'), then one more. */
    size_t i;
    for (i = 0; i < 506; i++) {
      memcpy(zInv + n + 3 * i, "%61", 3);
    }
    zInv[n + 3 * 506] = 0;
    TT_STREQ(invite_msg(zInv), "OK");
    memcpy(zInv + n + 3 * 506, "%61", 4);
    TT_STREQ(invite_msg(zInv),
             "invalid invite: addr 1 is longer than 512 bytes");
  }

  /* The encoder refuses what the parser would refuse. */
  {
    thr_tid tid = fixed_tid();
    thr_tkey key = fixed_key(1);
    const char *az[1];
    char *z;
    memcpy(zAddr, "tcp://", 6);
    memset(zAddr + 6, 'a', 506);
    zAddr[512] = 0;
    az[0] = zAddr;
    z = thr_invite_text(&tid, &key, THR_ROLE_WRITE, az, 1);
    TT_CHECK(z != NULL);
    text_free(z);
    zAddr[512] = 'a';
    zAddr[513] = 0;
    TT_CHECK(thr_invite_text(&tid, &key, THR_ROLE_WRITE, az, 1) == NULL);
    az[0] = "";
    TT_CHECK(thr_invite_text(&tid, &key, THR_ROLE_WRITE, az, 1) == NULL);
    az[0] = NULL;
    TT_CHECK(thr_invite_text(&tid, &key, THR_ROLE_WRITE, az, 1) == NULL);
    sodium_memzero(&key, sizeof(key));
  }
}

static void test_reject_addr_scheme(void) {
  static const char zWant[] =
      "invalid invite: addr 1 does not start with tcp://, ipc:// or inproc://";
  thr_tid tid = fixed_tid();
  thr_tkey key = fixed_key(1);
  const char *az[1];
  TT_STREQ(invite_msg(PRE KEYF "&addr=http://h:1"), zWant);
  TT_STREQ(invite_msg(PRE KEYF "&addr=TCP://h:1"), zWant);
  TT_STREQ(invite_msg(PRE KEYF "&addr=tcp:/h:1"), zWant);
  TT_STREQ(invite_msg(PRE KEYF "&addr=ws://h:1"), zWant);
  TT_STREQ(invite_msg(PRE KEYF "&addr=%20tcp://h:1"), zWant);
  TT_STREQ(invite_msg(PRE KEYF "&addr=h:1"), zWant);
  TT_STREQ(invite_msg(PRE KEYF "&addr=tcp://h:1&addr=udp://h:1"),
           "invalid invite: addr 2 does not start with tcp://, ipc:// or "
           "inproc://");
  TT_STREQ(invite_msg(PRE KEYF "&addr=tcp://"),
           "invalid invite: addr 1 has nothing after its scheme");
  TT_STREQ(invite_msg(PRE KEYF "&addr=inproc%3A%2F%2F"),
           "invalid invite: addr 1 has nothing after its scheme");
  TT_STREQ(invite_msg(PRE KEYF "&addr=ipc://"),
           "invalid invite: addr 1 has nothing after its scheme");
  az[0] = "http://h:1";
  TT_CHECK(thr_invite_text(&tid, &key, THR_ROLE_WRITE, az, 1) == NULL);
  az[0] = "tcp://";
  TT_CHECK(thr_invite_text(&tid, &key, THR_ROLE_WRITE, az, 1) == NULL);
  sodium_memzero(&key, sizeof(key));
}

static void test_reject_too_many_addr(void) {
  char zInv[1024];
  int i;
  thr_tid tid = fixed_tid();
  thr_tkey key = fixed_key(1);
  const char *az[THR_INVITE_MAX_ADDR + 1];
  thr_invite inv;
  char *z, *zErr = NULL;

  snprintf(zInv, sizeof(zInv), "%s", PRE KEYF);
  for (i = 0; i < THR_INVITE_MAX_ADDR; i++) {
    size_t n = strlen(zInv);
    snprintf(zInv + n, sizeof(zInv) - n, "&addr=tcp://h:%d", i);
  }
  TT_STREQ(invite_msg(zInv), "OK");
  strcat(zInv, "&addr=tcp://h:16");
  TT_STREQ(invite_msg(zInv), "invalid invite: more than 16 addresses");

  /* Sixteen through the encoder; seventeen are refused. */
  for (i = 0; i <= THR_INVITE_MAX_ADDR; i++) {
    az[i] = azAddr[i % 3];
  }
  z = thr_invite_text(&tid, &key, THR_ROLE_WRITE, az, THR_INVITE_MAX_ADDR);
  TT_CHECK(z != NULL);
  TT_CHECK(thr_invite_parse(z, &inv, &zErr) == SQLITE_OK);
  TT_CHECK(inv.nAddr == THR_INVITE_MAX_ADDR);
  for (i = 0; i < inv.nAddr; i++) {
    TT_STREQ(inv.azAddr[i], azAddr[i % 3]);
  }
  thr_invite_clear(&inv);
  sqlite3_free(zErr);
  text_free(z);
  TT_CHECK(thr_invite_text(&tid, &key, THR_ROLE_WRITE, az,
                           THR_INVITE_MAX_ADDR + 1) == NULL);
  TT_CHECK(thr_invite_text(&tid, &key, THR_ROLE_WRITE, az, -1) == NULL);
  sodium_memzero(&key, sizeof(key));
}

static void test_reject_empty_param(void) {
  TT_STREQ(invite_msg(PRE KEYF "&&role=write"),
           "invalid invite: parameter 2 is empty");
  TT_STREQ(invite_msg(PRE KEYF "&"), "invalid invite: parameter 2 is empty");
  TT_STREQ(invite_msg(PRE KEYF "&role=write&"),
           "invalid invite: parameter 3 is empty");
  TT_STREQ(invite_msg("threads://" TID "?&key=" KEYF),
           "invalid invite: parameter 1 is empty");
}

static void test_reject_fragment(void) {
  static const char zWant[] = "invalid invite: fragment ('#') not allowed";
  TT_STREQ(invite_msg(PRE KEYF "#x"), zWant);
  TT_STREQ(invite_msg(PRE KEYF "&role=write#"), zWant);
  TT_STREQ(invite_msg(PRE KEYF "&addr=inproc://a#b"), zWant);
  TT_STREQ(invite_msg("threads://" TID "#?key=" KEYF), zWant);
  /* Encoded, '#' is an ordinary byte of an address. */
  TT_STREQ(invite_msg(PRE KEYF "&addr=inproc://a%23b"), "OK");
}

static void test_reject_control(void) {
  TT_STREQ(invite_msg(PRE KEYF "\n"),
           "invalid invite: control character at byte 175");
  TT_STREQ(invite_msg(PRE KEYF "&addr=tcp://h\t:1"),
           "invalid invite: control character at byte 188");
  /* Encoded, a control byte is accepted as part of an address. */
  TT_STREQ(invite_msg(PRE KEYF "&addr=ipc:///tmp/a%0Ab"), "OK");
}

/* Build a valid write invite of exactly n bytes into zOut (room for n+1)
** by padding addresses; returns zOut. */
static char *invite_of_len(char *zOut, size_t n) {
  size_t nOut = strlen(PRE KEYF);
  memcpy(zOut, PRE KEYF, nOut + 1);
  while (nOut < n) {
    /* One "&addr=tcp://" + body, 12 characters + 1 to 1488 more; the body
    ** is L characters decoding to at most 506 bytes: x "%61" and y "a"
    ** with 3x + y = L and x + y <= 506. */
    size_t nLeft = n - nOut, nChunk = nLeft < 1500 ? nLeft : 1500, L, x, y;
    if (nLeft - nChunk > 0 && nLeft - nChunk < 13) {
      nChunk = nLeft - 13;
    }
    L = nChunk - 12;
    x = L > 506 ? (L - 506 + 1) / 2 : 0;
    y = L - 3 * x;
    memcpy(zOut + nOut, "&addr=tcp://", 12);
    nOut += 12;
    while (x--) {
      memcpy(zOut + nOut, "%61", 3);
      nOut += 3;
    }
    memset(zOut + nOut, 'a', y);
    nOut += y;
  }
  zOut[nOut] = 0;
  return zOut;
}

static void test_reject_too_long(void) {
  static char zInv[THR_INVITE_MAX_TEXT + 2];
  static char zHuge[1 << 20];
  invite_of_len(zInv, THR_INVITE_MAX_TEXT);
  TT_CHECK(strlen(zInv) == THR_INVITE_MAX_TEXT);
  TT_STREQ(invite_msg(zInv), "OK");
  invite_of_len(zInv, THR_INVITE_MAX_TEXT + 1);
  TT_CHECK(strlen(zInv) == THR_INVITE_MAX_TEXT + 1);
  TT_STREQ(invite_msg(zInv), "invalid invite: longer than 16384 bytes");
  /* A megabyte is refused as quickly, whatever it holds. */
  memset(zHuge, 'a', sizeof(zHuge) - 1);
  memcpy(zHuge, PRE KEYF, strlen(PRE KEYF));
  TT_STREQ(invite_msg(zHuge), "invalid invite: longer than 16384 bytes");

  /* The encoder does not write what the parser would refuse: sixteen
  ** 512-byte addresses of '/' encode to over 24 KB. */
  {
    static char zAddr[THR_INVITE_MAX_ADDR_LEN + 1];
    thr_tid tid = fixed_tid();
    thr_tkey key = fixed_key(1);
    const char *az[THR_INVITE_MAX_ADDR];
    int i;
    memset(zAddr, '/', THR_INVITE_MAX_ADDR_LEN);
    memcpy(zAddr, "ipc://", 6);
    for (i = 0; i < THR_INVITE_MAX_ADDR; i++) {
      az[i] = zAddr;
    }
    TT_CHECK(thr_invite_text(&tid, &key, THR_ROLE_WRITE, az,
                             THR_INVITE_MAX_ADDR) == NULL);
    sodium_memzero(&key, sizeof(key));
  }
}

/* Encoder arguments that cannot make an invite. */
static void test_text_refuses(void) {
  thr_tid tid = fixed_tid();
  thr_tkey full = fixed_key(1), svc = fixed_key(0);
  char *z;
  TT_CHECK(thr_invite_text(&tid, &svc, THR_ROLE_READ, NULL, 0) == NULL);
  TT_CHECK(thr_invite_text(&tid, &svc, THR_ROLE_WRITE, NULL, 0) == NULL);
  z = thr_invite_text(&tid, &svc, THR_ROLE_FOLLOW, NULL, 0);
  TT_STREQ(z, PRE KEYS "&role=follow");
  text_free(z);
  TT_CHECK(thr_invite_text(&tid, &full, 0, NULL, 0) == NULL);
  TT_CHECK(thr_invite_text(&tid, &full, 4, NULL, 0) == NULL);
  TT_CHECK(thr_invite_text(&tid, &full, THR_ROLE_WRITE, NULL, 1) == NULL);
  tid.n = 0;
  TT_CHECK(thr_invite_text(&tid, &full, THR_ROLE_WRITE, NULL, 0) == NULL);
  tid.n = 2; /* version and variant, no random part */
  TT_CHECK(thr_invite_text(&tid, &full, THR_ROLE_WRITE, NULL, 0) == NULL);
  tid = fixed_tid();
  tid.a[0] = 0x02;
  TT_CHECK(thr_invite_text(&tid, &full, THR_ROLE_WRITE, NULL, 0) == NULL);
  sodium_memzero(&full, sizeof(full));
  sodium_memzero(&svc, sizeof(svc));
}

/**************************************************************************
** Out of memory: every allocation in turn fails, and each call either
** reports SQLITE_NOMEM (parse) or NULL (text) with nothing leaked, or
** succeeds as it would with memory to spare.
*/
static sqlite3_mem_methods oomOrig;
static long oomCountdown = -1; /* fail when this reaches 0; -1: never */
static long oomCalls = 0;

static void *oom_malloc(int n) {
  oomCalls++;
  if (oomCountdown >= 0 && oomCountdown-- == 0) {
    return NULL;
  }
  return oomOrig.xMalloc(n);
}
static void *oom_realloc(void *p, int n) {
  oomCalls++;
  if (oomCountdown >= 0 && oomCountdown-- == 0) {
    return NULL;
  }
  return oomOrig.xRealloc(p, n);
}

/* Install the wrapper; must run before SQLite initializes. */
static void oom_install(void) {
  sqlite3_mem_methods m;
  sqlite3_config(SQLITE_CONFIG_GETMALLOC, &oomOrig);
  m = oomOrig;
  m.xMalloc = oom_malloc;
  m.xRealloc = oom_realloc;
  sqlite3_config(SQLITE_CONFIG_MALLOC, &m);
}

static void test_oom(void) {
  static const char *const azIn[] = {
      PRE KEYF "&role=read&addr=tcp%3A%2F%2F127.0.0.1%3A4006"
               "&addr=ipc%3A%2F%2F%2Ftmp%2Fa%20b%3Fc%26d%3De%25f",
      PRE KEYS "&role=write",
      PRE "baaaqeayeau1aocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq",
      "threads://bafkq?key=" KEYF,
      PRE KEYF "&addr=tcp://h:1&addr=",
  };
  thr_tid tid = fixed_tid();
  thr_tkey key = fixed_key(1);
  unsigned c;
  long k, nCall;
  char *zWantText;

  for (c = 0; c < sizeof(azIn) / sizeof(azIn[0]); c++) {
    thr_invite want, inv;
    char *zWant = NULL;
    int rcWant = thr_invite_parse(azIn[c], &want, &zWant);
    for (k = 0;; k++) {
      char *zErr = NULL;
      int rc;
      oomCalls = 0;
      oomCountdown = k;
      rc = thr_invite_parse(azIn[c], &inv, &zErr);
      nCall = oomCalls;
      oomCountdown = -1;
      if (rc == SQLITE_NOMEM) {
        TT_CHECK(zErr == NULL && all_zero(&inv, sizeof(inv)));
      } else {
        TT_CHECK(rc == rcWant);
        if (rc == SQLITE_OK) {
          int i;
          TT_CHECK(zErr == NULL && inv.nAddr == want.nAddr &&
                   inv.eRole == want.eRole &&
                   memcmp(&inv.key, &want.key, sizeof(inv.key)) == 0);
          for (i = 0; i < inv.nAddr; i++) {
            TT_STREQ(inv.azAddr[i], want.azAddr[i]);
          }
        } else {
          TT_STREQ(zErr, zWant);
        }
      }
      thr_invite_clear(&inv);
      sqlite3_free(zErr);
      if (k > nCall) {
        break; /* the failure was never reached: the sweep is complete */
      }
    }
    thr_invite_clear(&want);
    sqlite3_free(zWant);
  }

  zWantText = thr_invite_text(&tid, &key, THR_ROLE_FOLLOW, azAddr, 3);
  TT_CHECK(zWantText != NULL);
  for (k = 0; zWantText; k++) {
    char *z;
    oomCalls = 0;
    oomCountdown = k;
    z = thr_invite_text(&tid, &key, THR_ROLE_FOLLOW, azAddr, 3);
    nCall = oomCalls;
    oomCountdown = -1;
    TT_CHECK(z == NULL || strcmp(z, zWantText) == 0);
    text_free(z);
    if (k > nCall) {
      break;
    }
  }
  text_free(zWantText);
  sodium_memzero(&key, sizeof(key));
}

int main(void) {
  oom_install();
  if (sodium_init() < 0) {
    printf("FAIL sodium_init\n");
    return 1;
  }
  TT_RUN(test_role_names);
  TT_RUN(test_roundtrip);
  TT_RUN(test_text_exact);
  TT_RUN(test_parse_hand_written);
  TT_RUN(test_follow_hides_read_key);
  TT_RUN(test_reject_scheme);
  TT_RUN(test_reject_thread_id);
  TT_RUN(test_reject_missing_key);
  TT_RUN(test_reject_bad_key);
  TT_RUN(test_reject_duplicate);
  TT_RUN(test_reject_unknown_param);
  TT_RUN(test_reject_unknown_role);
  TT_RUN(test_reject_role_key_mismatch);
  TT_RUN(test_reject_percent);
  TT_RUN(test_reject_addr_value);
  TT_RUN(test_reject_addr_scheme);
  TT_RUN(test_reject_too_many_addr);
  TT_RUN(test_reject_empty_param);
  TT_RUN(test_reject_fragment);
  TT_RUN(test_reject_control);
  TT_RUN(test_reject_too_long);
  TT_RUN(test_text_refuses);
  TT_RUN(test_oom);
  return tt_done();
}
