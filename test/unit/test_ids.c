/*
** test_ids.c: unit tests for core/ids.c and core/identity.c.
**
** The known answers come from the libp2p peer-ID spec (its Ed25519 test
** vector), go-threads' error texts, and base32/base58/BLAKE2b/Ed25519
** values computed independently with python3 (base64, hashlib and the
** cryptography package) while the tests were written; none was produced
** by the code under test.
*/
#include "thr_core.h"
#include "tt.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The libp2p spec's Ed25519 vector: seed, public key and peer ID. */
static const unsigned char aSeed[32] = {
    0x7e, 0x08, 0x30, 0x61, 0x7c, 0x4a, 0x7d, 0xe8, 0x39, 0x25, 0xdf,
    0xb2, 0x69, 0x45, 0x56, 0xb1, 0x29, 0x36, 0xc4, 0x77, 0xa0, 0xe1,
    0xfe, 0xb2, 0xe1, 0x48, 0xec, 0x9d, 0xa6, 0x0f, 0xee, 0x7d};
static const unsigned char aPk[32] = {
    0x1e, 0xd1, 0xe8, 0xfa, 0xe2, 0xc4, 0xa1, 0x44, 0xb8, 0xbe, 0x8f,
    0xd4, 0xb4, 0x7b, 0xf3, 0xd3, 0xb3, 0x4b, 0x87, 0x1c, 0x3c, 0xac,
    0xf6, 0x01, 0x0f, 0x0e, 0x42, 0xd4, 0x74, 0xfc, 0xe2, 0x7e};
static const char zPeer[] =
    "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";

/* Parse a thread ID text; "OK" or the message (static buffer). */
static const char *tid_msg(const char *z) {
  static char zBuf[256];
  thr_tid id;
  char *zErr = NULL;
  int rc = thr_tid_parse(&id, z, &zErr);
  if (rc == SQLITE_OK) {
    snprintf(zBuf, sizeof(zBuf), "%s", zErr ? "error set on success" : "OK");
  } else if (rc != SQLITE_ERROR || zErr == NULL) {
    snprintf(zBuf, sizeof(zBuf), "bad failure contract rc=%d", rc);
  } else {
    snprintf(zBuf, sizeof(zBuf), "%s", zErr);
  }
  sqlite3_free(zErr);
  return zBuf;
}

/* The same for thread ID bytes. */
static const char *tid_bytes_msg(const unsigned char *a, size_t n) {
  static char zBuf[256];
  thr_tid id;
  char *zErr = NULL;
  unsigned char *aCopy = malloc(n ? n : 1);
  int rc;
  if (aCopy == NULL) {
    return "malloc failed";
  }
  if (n) {
    memcpy(aCopy, a, n);
  }
  rc = thr_tid_from_bytes(&id, aCopy, n, &zErr);
  if (rc == SQLITE_OK) {
    snprintf(zBuf, sizeof(zBuf), "%s", zErr ? "error set on success" : "OK");
  } else if (rc != SQLITE_ERROR || zErr == NULL) {
    snprintf(zBuf, sizeof(zBuf), "bad failure contract rc=%d", rc);
  } else {
    snprintf(zBuf, sizeof(zBuf), "%s", zErr);
  }
  sqlite3_free(zErr);
  free(aCopy);
  return zBuf;
}

/* Parse z as a thread ID and return 1 if its bytes are (a, n). */
static int tid_parses_to(const char *z, const unsigned char *a, size_t n) {
  thr_tid id;
  char *zErr = NULL;
  int ok;
  memset(&id, 0xee, sizeof(id));
  ok = thr_tid_parse(&id, z, &zErr) == SQLITE_OK && zErr == NULL &&
       id.n == (int)n && memcmp(id.a, a, n) == 0;
  sqlite3_free(zErr);
  return ok;
}

/* Thread ID text of the bytes (a, n), into a static buffer. */
static const char *tid_text_of(const unsigned char *a, size_t n) {
  static char zBuf[512];
  thr_tid id;
  char *z;
  memset(&id, 0, sizeof(id));
  memcpy(id.a, a, n);
  id.n = (int)n;
  z = thr_tid_text(&id);
  snprintf(zBuf, sizeof(zBuf), "%s", z ? z : "(null)");
  sqlite3_free(z);
  return zBuf;
}

/**************************************************************************
** Thread IDs.
*/
static void test_tid_known(void) {
  unsigned char a[34];
  int i;
  /* 01 55 then 32 zero bytes: python3 base64.b32encode, lower, unpadded. */
  memset(a, 0, sizeof(a));
  a[0] = 0x01;
  a[1] = 0x55;
  TT_STREQ(tid_text_of(a, 34),
           "bafkqaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  TT_CHECK(tid_parses_to(
      "bafkqaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", a, 34));

  /* 01 55 then 00..0f. */
  for (i = 0; i < 16; i++) {
    a[2 + i] = (unsigned char)i;
  }
  TT_STREQ(tid_text_of(a, 18), "bafkqaaicamcakbqhbaequcymbuha6");
  TT_CHECK(tid_parses_to("bafkqaaicamcakbqhbaequcymbuha6", a, 18));

  /* Other bases of the same bytes decode to the same ID: base58btc and
  ** base16 forms computed with python3. */
  TT_CHECK(tid_parses_to("z4CrgbhcjCut9Qv15RZmgYAJi", a, 18));
  TT_CHECK(tid_parses_to("f0155000102030405060708090a0b0c0d0e0f", a, 18));
  TT_CHECK(tid_parses_to("F0155000102030405060708090A0B0C0D0E0F", a, 18));

  /* The access-controlled variant 0x70. */
  a[1] = 0x70;
  TT_STREQ(tid_text_of(a, 18), "bafyaaaicamcakbqhbaequcymbuha6");
  TT_CHECK(tid_parses_to("bafyaaaicamcakbqhbaequcymbuha6", a, 18));
  {
    thr_tid id;
    char *zErr = NULL;
    TT_CHECK(thr_tid_parse(&id, "bafyaaaicamcakbqhbaequcymbuha6", &zErr) ==
             SQLITE_OK);
    TT_CHECK(thr_tid_variant(&id) == 0x70);
    TT_CHECK(thr_tid_parse(&id, "bafkqaaicamcakbqhbaequcymbuha6", &zErr) ==
             SQLITE_OK);
    TT_CHECK(thr_tid_variant(&id) == 0x55);
    sqlite3_free(zErr);
  }

  /* One random byte is enough for go-threads. */
  TT_STREQ(tid_bytes_msg((const unsigned char *)"\x01\x55\x00", 3), "OK");
}

static void test_tid_random(void) {
  thr_tid a, b;
  char *z;
  thr_tid_random(&a, THR_VARIANT_RAW);
  thr_tid_random(&b, THR_VARIANT_RAW);
  TT_CHECK(a.n == 34 && a.a[0] == 0x01 && a.a[1] == 0x55);
  TT_CHECK(thr_tid_variant(&a) == THR_VARIANT_RAW);
  /* 256 random bits colliding would mean the generator is broken. */
  TT_CHECK(memcmp(a.a + 2, b.a + 2, 32) != 0);
  z = thr_tid_text(&a);
  /* 34 bytes are 272 bits, 55 base32 digits, plus the prefix.  The first
  ** 15 bits, 00000 00101 01010 (from 01 55), spell "afk". */
  TT_CHECK(z != NULL && strlen(z) == 56 && strncmp(z, "bafk", 4) == 0);
  TT_CHECK(tid_parses_to(z, a.a, 34));
  sqlite3_free(z);

  /* 01 70 gives 00000 00101 11000: "afy". */
  thr_tid_random(&a, THR_VARIANT_ACL);
  TT_CHECK(a.n == 34 && a.a[0] == 0x01 && a.a[1] == 0x70);
  TT_CHECK(thr_tid_variant(&a) == THR_VARIANT_ACL);
  z = thr_tid_text(&a);
  TT_CHECK(z != NULL && strlen(z) == 56 && strncmp(z, "bafy", 4) == 0);
  TT_CHECK(tid_parses_to(z, a.a, 34));
  sqlite3_free(z);
}

static void test_tid_errors(void) {
  TT_STREQ(tid_msg("b"), "id too short");
  TT_STREQ(tid_msg(""), "id too short");
  /* 02 55 + 32 zero bytes, base32 by python3. */
  TT_STREQ(tid_msg("bajkqaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
           "expected 1 as the id version number, got: 2");
  /* The empty-map CID is 01 71 12 20 ..., so its "variant" is 0x71. */
  TT_STREQ(
      tid_msg("bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua"),
      "expected Raw or AccessControlled as the id variant, got: 113");
  /* 01 55 alone is "bafkq"; a lone 0x81 is "bqe". */
  TT_STREQ(tid_msg("bafkq"), "expected random id bytes but there are none");
  TT_STREQ(tid_msg("bqe"), "reading varint: buffer too small");
  TT_STREQ(tid_msg("xabcdef"), "selected encoding not supported");

  TT_STREQ(tid_bytes_msg((const unsigned char *)"\x01\x07\x00", 3),
           "expected Raw or AccessControlled as the id variant, got: 7");
  TT_STREQ(tid_bytes_msg((const unsigned char *)"\x01", 1),
           "reading varint: buffer too small");
  TT_STREQ(tid_bytes_msg((const unsigned char *)"\x01\x81", 2),
           "reading varint: buffer too small");
  TT_STREQ(tid_bytes_msg((const unsigned char *)"", 0),
           "reading varint: buffer too small");
  {
    /* Longer than THR_ID_MAX must not overflow the fixed buffer. */
    unsigned char a[THR_ID_MAX + 1];
    memset(a, 0x42, sizeof(a));
    a[0] = 0x01;
    a[1] = 0x55;
    TT_CHECK(strcmp(tid_bytes_msg(a, THR_ID_MAX), "OK") == 0);
    TT_CHECK(strcmp(tid_bytes_msg(a, THR_ID_MAX + 1), "OK") != 0);
  }
}

/**************************************************************************
** Thread keys.
*/

/* Parse a key text; "OK" or the message (static buffer). */
static const char *tkey_msg(const char *z) {
  static char zBuf[256];
  thr_tkey key;
  char *zErr = NULL;
  int rc = thr_tkey_parse(&key, z, &zErr);
  if (rc == SQLITE_OK) {
    snprintf(zBuf, sizeof(zBuf), "%s", zErr ? "error set on success" : "OK");
  } else if (rc != SQLITE_ERROR || zErr == NULL) {
    snprintf(zBuf, sizeof(zBuf), "bad failure contract rc=%d", rc);
  } else {
    snprintf(zBuf, sizeof(zBuf), "%s", zErr);
  }
  sodium_memzero(&key, sizeof(key));
  sqlite3_free(zErr);
  return zBuf;
}

/* Text of a key, wiped and freed as the contract asks; returns 1 if it
** equals zWant. */
static int tkey_text_is(const thr_tkey *pKey, const char *zWant) {
  char *z = thr_tkey_text(pKey);
  int ok = z != NULL && strcmp(z, zWant) == 0;
  if (z) {
    sodium_memzero(z, strlen(z));
    sqlite3_free(z);
  }
  return ok;
}

/* base32 of bytes 00..3f, and of 00..1f (python3). */
static const char zKeyFull[] =
    "baaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypsaijcemsckjrhfausukz"
    "mfuxc6mbrgiztinjwg44dsor3hq6t4py";
static const char zKeyService[] =
    "baaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq";

static void test_tkey(void) {
  thr_tkey key, back;
  char *zErr = NULL;
  int i;
  for (i = 0; i < 32; i++) {
    key.service[i] = (unsigned char)i;
    key.read[i] = (unsigned char)(32 + i);
  }
  key.hasRead = 1;
  TT_CHECK(strlen(zKeyFull) == 104 && strlen(zKeyService) == 53);
  TT_CHECK(tkey_text_is(&key, zKeyFull));
  key.hasRead = 0;
  TT_CHECK(tkey_text_is(&key, zKeyService));

  memset(&back, 0xee, sizeof(back));
  TT_CHECK(thr_tkey_parse(&back, zKeyFull, &zErr) == SQLITE_OK);
  TT_CHECK(back.hasRead == 1);
  TT_CHECK(memcmp(back.service, key.service, 32) == 0);
  TT_CHECK(memcmp(back.read, key.read, 32) == 0);

  memset(&back, 0xee, sizeof(back));
  TT_CHECK(thr_tkey_parse(&back, zKeyService, &zErr) == SQLITE_OK);
  TT_CHECK(back.hasRead == 0);
  TT_CHECK(memcmp(back.service, key.service, 32) == 0);
  TT_CHECK(zErr == NULL);
  sodium_memzero(&back, sizeof(back));
  sodium_memzero(&key, sizeof(key));

  /* 31, 33 and 63 bytes of 00.. (python3). */
  TT_STREQ(tkey_msg("baaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dy"),
           "invalid key");
  TT_STREQ(tkey_msg("baaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypsa"),
           "invalid key");
  TT_STREQ(tkey_msg("baaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypsaij"
                    "cemsckjrhfausukzmfuxc6mbrgiztinjwg44dsor3hq6t4"),
           "invalid key");
  TT_STREQ(tkey_msg(""), "cannot decode multibase for zero length string");
  TT_CHECK(strcmp(tkey_msg("b!!!!"), "OK") != 0);
  TT_CHECK(strcmp(tkey_msg("xaaaa"), "OK") != 0);
}

/**************************************************************************
** Peer IDs.
*/

/* Parse a peer ID; "OK" or the message (static buffer). */
static const char *peer_msg(const char *z) {
  static char zBuf[256];
  unsigned char pk[32];
  char *zErr = NULL;
  int rc = thr_peer_parse(pk, z, &zErr);
  if (rc == SQLITE_OK) {
    snprintf(zBuf, sizeof(zBuf), "%s", zErr ? "error set on success" : "OK");
  } else if (rc != SQLITE_ERROR || zErr == NULL) {
    snprintf(zBuf, sizeof(zBuf), "bad failure contract rc=%d", rc);
  } else {
    snprintf(zBuf, sizeof(zBuf), "%s", zErr);
  }
  sqlite3_free(zErr);
  return zBuf;
}
static const char *peer_kind(const char *z) {
  static char zBuf[32];
  snprintf(zBuf, sizeof(zBuf), "%.15s", peer_msg(z));
  return zBuf;
}

static void test_peer_vector(void) {
  thr_keypair *p = thr_keypair_from_seed(aSeed);
  unsigned char pk[32], aPb[THR_PUBKEY_PB_BYTES];
  char *z, *zErr = NULL;
  TT_CHECK(p != NULL);
  if (p == NULL) {
    return;
  }
  TT_CHECK(memcmp(p->pk, aPk, 32) == 0);
  /* libsodium's secret key is seed || public key. */
  TT_CHECK(memcmp(p->sk, aSeed, 32) == 0 && memcmp(p->sk + 32, aPk, 32) == 0);

  z = thr_peer_text(p->pk);
  TT_STREQ(z, zPeer);
  sqlite3_free(z);

  memset(pk, 0, sizeof(pk));
  TT_CHECK(thr_peer_parse(pk, zPeer, &zErr) == SQLITE_OK);
  TT_CHECK(zErr == NULL && memcmp(pk, aPk, 32) == 0);

  thr_pubkey_pb(aPb, aPk);
  TT_CHECK(memcmp(aPb, "\x08\x01\x12\x20", 4) == 0);
  TT_CHECK(memcmp(aPb + 4, aPk, 32) == 0);
  memset(pk, 0, sizeof(pk));
  TT_CHECK(thr_pubkey_from_pb(pk, aPb, sizeof(aPb), &zErr) == SQLITE_OK);
  TT_CHECK(memcmp(pk, aPk, 32) == 0);
  TT_CHECK(thr_pubkey_from_pb(pk, aPb, sizeof(aPb) - 1, &zErr) == SQLITE_ERROR);
  sqlite3_free(zErr);
  zErr = NULL;
  aPb[1] = 0x00; /* KeyType RSA */
  TT_CHECK(thr_pubkey_from_pb(pk, aPb, sizeof(aPb), &zErr) == SQLITE_ERROR);
  sqlite3_free(zErr);
  thr_keypair_free(p);
}

static void test_peer_roundtrip(void) {
  int i;
  for (i = 0; i < 200; i++) {
    unsigned char pk[32], back[32];
    char *z, *zErr = NULL;
    randombytes_buf(pk, sizeof(pk));
    z = thr_peer_text(pk);
    /* 00 24 08 01 fixes the leading digits for every Ed25519 key. */
    TT_CHECK(z != NULL && strncmp(z, "12D3KooW", 8) == 0);
    memset(back, 0, sizeof(back));
    TT_CHECK(thr_peer_parse(back, z, &zErr) == SQLITE_OK);
    TT_CHECK(memcmp(back, pk, 32) == 0);
    sqlite3_free(zErr);
    sqlite3_free(z);
  }
}

static void test_peer_rejects(void) {
  static const char zI[] = "invalid peer ID";
  char zBad[sizeof(zPeer)];
  TT_STREQ(peer_kind(""), zI);
  TT_STREQ(peer_kind(NULL), zI);
  /* base58 of 12 20 || sha256("x"): a CIDv0-style sha256 multihash. */
  TT_STREQ(peer_kind("QmRQ353oFNqt8zfZ9X1HgRUszwv9RkEEwmMZZkbkYEsybn"), zI);
  /* The same key under protobuf KeyType 0 (RSA) instead of 1. */
  TT_STREQ(peer_kind("12D3Ki1qvu8eCHYdauYBjAF2CNT47TJfAkr3a4MAzywY1vCd8j5w"),
           zI);
  /* '0' and 'l' are not base58 digits. */
  memcpy(zBad, zPeer, sizeof(zPeer));
  zBad[sizeof(zPeer) - 2] = '0';
  TT_STREQ(peer_msg(zBad), "invalid peer ID: invalid base58 digit ('0')");
  zBad[sizeof(zPeer) - 2] = 'l';
  TT_STREQ(peer_msg(zBad), "invalid peer ID: invalid base58 digit ('l')");
  /* Truncated by one and by ten digits, and one digit too many. */
  memcpy(zBad, zPeer, sizeof(zPeer));
  zBad[sizeof(zPeer) - 2] = 0;
  TT_STREQ(peer_kind(zBad), zI);
  zBad[sizeof(zPeer) - 11] = 0;
  TT_STREQ(peer_kind(zBad), zI);
  TT_STREQ(peer_kind("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pqa"),
           zI);
  /* A multibase-prefixed form is not a bare base58 peer ID. */
  TT_STREQ(peer_kind("z12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"),
           zI);
}

/**************************************************************************
** Log keys.
*/
static void test_logkey(void) {
  /* For the spec seed and thread ID 01 55 00..1f, python3 computed
  ** seed = blake2b(b"sqlite-threads/log/v1" + tid, key=seed, digest_size=32)
  ** and its Ed25519 public key with the cryptography package. */
  static const unsigned char aLogSeed[32] = {
      0x72, 0x19, 0xc3, 0x9c, 0x40, 0xdf, 0xb4, 0xe6, 0xc1, 0xc2, 0x2a,
      0x53, 0x93, 0x1f, 0xf0, 0x65, 0x74, 0x18, 0x5d, 0x03, 0x21, 0xbd,
      0xa3, 0xa3, 0xeb, 0xf9, 0xe6, 0x4b, 0xfa, 0x62, 0x5b, 0x6b};
  static const unsigned char aLogPk[32] = {
      0x8b, 0xf9, 0xf6, 0x21, 0xf9, 0xc0, 0x29, 0x9e, 0x61, 0x37, 0x6e,
      0x25, 0x9a, 0xc2, 0x1e, 0xbd, 0x02, 0xf2, 0xbd, 0x59, 0x20, 0x4c,
      0x3e, 0xcd, 0x1c, 0x3b, 0x0a, 0x04, 0x7d, 0xac, 0xee, 0x21};
  unsigned char aSeed2[32];
  thr_tid t1, t2;
  thr_keypair *pId, *pId2, *pA, *pB, *pC, *pD;
  int i;

  memset(&t1, 0, sizeof(t1));
  t1.a[0] = 0x01;
  t1.a[1] = 0x55;
  for (i = 0; i < 32; i++) {
    t1.a[2 + i] = (unsigned char)i;
  }
  t1.n = 34;
  t2 = t1;
  t2.a[33] ^= 0x01;
  memcpy(aSeed2, aSeed, 32);
  aSeed2[0] ^= 0x80;

  pId = thr_keypair_from_seed(aSeed);
  pId2 = thr_keypair_from_seed(aSeed2);
  TT_CHECK(pId != NULL && pId2 != NULL);
  if (pId == NULL || pId2 == NULL) {
    thr_keypair_free(pId);
    thr_keypair_free(pId2);
    return;
  }
  pA = thr_logkey_derive(pId, &t1);
  pB = thr_logkey_derive(pId, &t1);
  pC = thr_logkey_derive(pId, &t2);
  pD = thr_logkey_derive(pId2, &t1);
  TT_CHECK(pA && pB && pC && pD);
  if (pA && pB && pC && pD) {
    TT_CHECK(memcmp(pA->sk, aLogSeed, 32) == 0);
    TT_CHECK(memcmp(pA->pk, aLogPk, 32) == 0);
    /* Deterministic: a restored identity finds its logs again. */
    TT_CHECK(memcmp(pA->pk, pB->pk, 32) == 0);
    TT_CHECK(memcmp(pA->sk, pB->sk, 64) == 0);
    /* Different thread, different identity, and not the identity. */
    TT_CHECK(memcmp(pA->pk, pC->pk, 32) != 0);
    TT_CHECK(memcmp(pA->pk, pD->pk, 32) != 0);
    TT_CHECK(memcmp(pC->pk, pD->pk, 32) != 0);
    TT_CHECK(memcmp(pA->pk, pId->pk, 32) != 0);
    TT_CHECK(memcmp(pA->sk, pId->sk, 32) != 0);
    /* The derived pair is a working signing key. */
    {
      unsigned char sig[64];
      crypto_sign_detached(sig, NULL, (const unsigned char *)"m", 1, pA->sk);
      TT_CHECK(crypto_sign_verify_detached(sig, (const unsigned char *)"m", 1,
                                           pA->pk) == 0);
    }
  }
  thr_keypair_free(pA);
  thr_keypair_free(pB);
  thr_keypair_free(pC);
  thr_keypair_free(pD);
  thr_keypair_free(pId);
  thr_keypair_free(pId2);
  thr_keypair_free(NULL);
}

int main(void) {
  if (sodium_init() < 0) {
    printf("FAIL sodium_init\n");
    return 1;
  }
  TT_RUN(test_tid_known);
  TT_RUN(test_tid_random);
  TT_RUN(test_tid_errors);
  TT_RUN(test_tkey);
  TT_RUN(test_peer_vector);
  TT_RUN(test_peer_roundtrip);
  TT_RUN(test_peer_rejects);
  TT_RUN(test_logkey);
  return tt_done();
}
