/*
** test_record.c: sealing and opening records (core/record.c).
**
** Fixed keys and a fixed body, so every run exercises the same bytes up to
** the random nonces and content keys the format requires.
*/
#include "thr_core.h"
#include "tt.h"

#include <sodium.h>
#include <string.h>

static thr_tkey gKey;
static thr_keypair *gAuthor;
static thr_keypair *gLog;

/* A one-action body: {"actions": [{"type": "test"}]} in dag-cbor, by hand:
** a1 67 "actions" 81 a1 64 "type" 64 "test". */
static const unsigned char aBody[] = {0xa1, 0x67, 'a',  'c',  't',  'i', 'o',
                                      'n',  's',  0x81, 0xa1, 0x64, 't', 'y',
                                      'p',  'e',  0x64, 't',  'e',  's', 't'};

static void setup(void) {
  unsigned char seed[32];
  int i;
  for (i = 0; i < 32; i++) {
    gKey.service[i] = (unsigned char)i;
    gKey.read[i] = (unsigned char)(0x80 + i);
    seed[i] = (unsigned char)(0x40 + i);
  }
  gKey.hasRead = 1;
  gAuthor = thr_keypair_from_seed(seed);
  seed[0] ^= 1;
  gLog = thr_keypair_from_seed(seed);
}

/* Seal, then open every layer with the right keys. */
static void test_seal_open_roundtrip(void) {
  thr_sealed s;
  thr_opened op;
  thr_cid cidBody, cidHeader, got;
  thr_cbuf plain = {0, 0};
  unsigned char ck[32];
  int64_t t = 0;
  char *zErr = NULL;

  TT_CHECK(thr_rec_seal(&gKey, gAuthor, gLog, NULL, 1700000000123LL, aBody,
                        sizeof(aBody), &s, &zErr) == SQLITE_OK);
  /* Every CID names the stored bytes. */
  thr_cid_of(&got, THR_CODEC_DAGCBOR, s.record.a, s.record.n);
  TT_CHECK(memcmp(got.a, s.cidRecord.a, THR_CID_BYTES) == 0);
  thr_cid_of(&got, THR_CODEC_DAGCBOR, s.event.a, s.event.n);
  TT_CHECK(memcmp(got.a, s.cidEvent.a, THR_CID_BYTES) == 0);

  TT_CHECK(thr_rec_open(gKey.service, gLog->pk, s.record.a, s.record.n, &op,
                        &zErr) == SQLITE_OK);
  TT_CHECK(!op.hasPrev);
  TT_CHECK(memcmp(op.author, gAuthor->pk, 32) == 0);
  TT_CHECK(memcmp(op.cidEvent.a, s.cidEvent.a, THR_CID_BYTES) == 0);
  TT_CHECK(thr_event_open(s.event.a, s.event.n, &cidBody, &cidHeader, &zErr) ==
           SQLITE_OK);
  TT_CHECK(memcmp(cidBody.a, s.cidBody.a, THR_CID_BYTES) == 0);
  TT_CHECK(memcmp(cidHeader.a, s.cidHeader.a, THR_CID_BYTES) == 0);
  TT_CHECK(thr_header_open(gKey.read, s.header.a, s.header.n, ck, &t, &zErr) ==
           SQLITE_OK);
  TT_CHECK(t == 1700000000123LL);
  TT_CHECK(thr_body_open(ck, s.body.a, s.body.n, &plain, &zErr) == SQLITE_OK);
  TT_CHECK(plain.n == sizeof(aBody) && memcmp(plain.a, aBody, plain.n) == 0);
  /* The body is not readable without its content key. */
  TT_CHECK(memmem(s.body.a, s.body.n, "actions", 7) == NULL);
  sqlite3_free(plain.a);
  sqlite3_free(zErr);
  thr_sealed_clear(&s);
}

/* The signature covers the event CID and the prev CID: checking it with
** the signed message rebuilt independently here. */
static void test_signature_message(void) {
  thr_sealed s1, s2;
  thr_opened op;
  unsigned char aMsg[72];
  char *zErr = NULL;
  TT_CHECK(thr_rec_seal(&gKey, gAuthor, gLog, NULL, 1, aBody, sizeof(aBody),
                        &s1, &zErr) == SQLITE_OK);
  TT_CHECK(thr_rec_seal(&gKey, gAuthor, gLog, &s1.cidRecord, 2, aBody,
                        sizeof(aBody), &s2, &zErr) == SQLITE_OK);
  TT_CHECK(thr_rec_open(gKey.service, gLog->pk, s1.record.a, s1.record.n, &op,
                        &zErr) == SQLITE_OK);
  TT_CHECK(crypto_sign_verify_detached(op.sig, s1.cidEvent.a, 36, gLog->pk) ==
           0);
  TT_CHECK(thr_rec_open(gKey.service, gLog->pk, s2.record.a, s2.record.n, &op,
                        &zErr) == SQLITE_OK);
  TT_CHECK(op.hasPrev);
  TT_CHECK(memcmp(op.cidPrev.a, s1.cidRecord.a, 36) == 0);
  memcpy(aMsg, s2.cidEvent.a, 36);
  memcpy(aMsg + 36, s1.cidRecord.a, 36);
  TT_CHECK(crypto_sign_verify_detached(op.sig, aMsg, 72, gLog->pk) == 0);
  /* The identity key did not sign it; the log key did. */
  TT_CHECK(crypto_sign_verify_detached(op.sig, aMsg, 72, gAuthor->pk) != 0);
  thr_sealed_clear(&s1);
  thr_sealed_clear(&s2);
  sqlite3_free(zErr);
}

static int starts(const char *z, const char *zPrefix) {
  return z && strncmp(z, zPrefix, strlen(zPrefix)) == 0;
}

/* Wrong log key -> bad signature; wrong service key -> wrong key. */
static void test_open_failures(void) {
  thr_sealed s;
  thr_opened op;
  thr_cbuf junk = {0, 0};
  unsigned char otherKey[32];
  char *zErr = NULL;
  TT_CHECK(thr_rec_seal(&gKey, gAuthor, gLog, NULL, 1, aBody, sizeof(aBody), &s,
                        &zErr) == SQLITE_OK);
  TT_CHECK(thr_rec_open(gKey.service, gAuthor->pk, s.record.a, s.record.n, &op,
                        &zErr) == SQLITE_ERROR);
  TT_STREQ(zErr, "bad signature");
  sqlite3_free(zErr);
  zErr = NULL;
  memset(otherKey, 7, sizeof(otherKey));
  TT_CHECK(thr_rec_open(otherKey, gLog->pk, s.record.a, s.record.n, &op,
                        &zErr) == SQLITE_ERROR);
  TT_CHECK(starts(zErr, "wrong key"));
  sqlite3_free(zErr);
  zErr = NULL;
  /* A block that decrypts but is not a record. */
  TT_CHECK(thr_seal_block(gKey.service, (const unsigned char *)"\xa0", 1,
                          &junk) == SQLITE_OK);
  TT_CHECK(thr_rec_open(gKey.service, gLog->pk, junk.a, junk.n, &op, &zErr) ==
           SQLITE_ERROR);
  TT_CHECK(starts(zErr, "undecodable block"));
  sqlite3_free(zErr);
  zErr = NULL;
  sqlite3_free(junk.a);
  /* Garbage inside a valid envelope. */
  TT_CHECK(thr_seal_block(gKey.service, (const unsigned char *)"\xff\x00", 2,
                          &junk) == SQLITE_OK);
  TT_CHECK(thr_rec_open(gKey.service, gLog->pk, junk.a, junk.n, &op, &zErr) ==
           SQLITE_ERROR);
  TT_CHECK(starts(zErr, "undecodable block"));
  sqlite3_free(zErr);
  sqlite3_free(junk.a);
  thr_sealed_clear(&s);
}

/* Every single-byte change of a record envelope is caught by opening it:
** the envelope's CBOR header, the nonce, the ciphertext and the tag. */
static void test_flip_every_byte(void) {
  thr_sealed s;
  thr_opened op;
  size_t i;
  int nBad = 0;
  char *zErr = NULL;
  TT_CHECK(thr_rec_seal(&gKey, gAuthor, gLog, NULL, 1, aBody, sizeof(aBody), &s,
                        &zErr) == SQLITE_OK);
  for (i = 0; i < s.record.n; i++) {
    s.record.a[i] ^= 0x01;
    if (thr_rec_open(gKey.service, gLog->pk, s.record.a, s.record.n, &op,
                     &zErr) != SQLITE_ERROR ||
        !(starts(zErr, "wrong key") || starts(zErr, "undecodable block"))) {
      nBad++;
    }
    sqlite3_free(zErr);
    zErr = NULL;
    s.record.a[i] ^= 0x01;
  }
  TT_CHECK(nBad == 0);
  thr_sealed_clear(&s);
}

/* A follower holds only the service key: it can check the record and its
** signature, and none of its keys opens the header (so nor the body). */
static void test_follower(void) {
  thr_tkey follower;
  thr_sealed s;
  thr_opened op;
  unsigned char ck[32];
  int64_t t;
  char *zErr = NULL;
  memset(&follower, 0, sizeof(follower));
  memcpy(follower.service, gKey.service, 32);
  TT_CHECK(thr_rec_seal(&gKey, gAuthor, gLog, NULL, 5, aBody, sizeof(aBody), &s,
                        &zErr) == SQLITE_OK);
  TT_CHECK(thr_rec_open(follower.service, gLog->pk, s.record.a, s.record.n, &op,
                        &zErr) == SQLITE_OK);
  TT_CHECK(thr_header_open(follower.service, s.header.a, s.header.n, ck, &t,
                           &zErr) == SQLITE_ERROR);
  TT_CHECK(starts(zErr, "wrong key"));
  sqlite3_free(zErr);
  zErr = NULL;
  TT_CHECK(thr_header_open(follower.read, s.header.a, s.header.n, ck, &t,
                           &zErr) == SQLITE_ERROR);
  sqlite3_free(zErr);
  zErr = NULL;
  /* And a follower cannot write. */
  thr_sealed_clear(&s);
  TT_CHECK(thr_rec_seal(&follower, gAuthor, gLog, NULL, 5, aBody, sizeof(aBody),
                        &s, &zErr) == SQLITE_ERROR);
  TT_CHECK(zErr && strstr(zErr, "read key") != NULL);
  sqlite3_free(zErr);
}

int main(void) {
  if (sodium_init() < 0) {
    return 2;
  }
  setup();
  TT_RUN(test_seal_open_roundtrip);
  TT_RUN(test_signature_message);
  TT_RUN(test_open_failures);
  TT_RUN(test_flip_every_byte);
  TT_RUN(test_follower);
  thr_keypair_free(gAuthor);
  thr_keypair_free(gLog);
  return tt_done();
}
