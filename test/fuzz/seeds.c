/*
** seeds.c: writes the starting corpora of the fuzz targets.
**
**   seeds DIR      creates DIR/cbor, DIR/multibase, DIR/record, DIR/car
**
** Built and run by test/fuzz/run.sh.  It uses the code under test to make
** valid inputs (sealed records, CARs, ID texts) with the same fixed keys
** as fuzz_record.c, so the fuzzers start from inputs that get past the
** decryption and signature checks.  A few seeds are spelled out by hand.
*/
#include "thr_core.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *gzDir;
static int gnSeed;

static void die(const char *zWhat) {
  fprintf(stderr, "seeds: %s\n", zWhat);
  exit(1);
}

static void put(const char *zTarget, const char *zName, const void *a,
                size_t n) {
  char zPath[4096];
  FILE *f;
  snprintf(zPath, sizeof(zPath), "%s/%s/seed-%s", gzDir, zTarget, zName);
  f = fopen(zPath, "wb");
  if (f == NULL || (n > 0 && fwrite(a, 1, n, f) != n) || fclose(f) != 0) {
    die(zPath);
  }
  gnSeed++;
}

static void put_text(const char *zTarget, const char *zName, const char *z) {
  if (z == NULL) {
    die("out of memory");
  }
  put(zTarget, zName, z, strlen(z));
}

/* Put the text and free it (sqlite3 memory). */
static void put_text_free(const char *zTarget, const char *zName, char *z) {
  put_text(zTarget, zName, z);
  sqlite3_free(z);
}

static void put_buf(const char *zTarget, const char *zName, const thr_cbuf *p) {
  put(zTarget, zName, p->a, p->n);
}

/* Put 0xEE || (a, n): a seal-mode input of fuzz_record. */
static void put_seal(const char *zName, const unsigned char *a, size_t n) {
  unsigned char *b = malloc(n + 1);
  if (b == NULL) {
    die("out of memory");
  }
  b[0] = 0xEE;
  if (n > 0) {
    memcpy(b + 1, a, n);
  }
  put("record", zName, b, n + 1);
  free(b);
}

static void mkdirs(void) {
  static const char *azSub[] = {"",        "/cbor", "/multibase",
                                "/record", "/car",  "/body"};
  size_t i;
  for (i = 0; i < sizeof(azSub) / sizeof(azSub[0]); i++) {
    char zPath[4096];
    snprintf(zPath, sizeof(zPath), "%s%s", gzDir, azSub[i]);
    if (mkdir(zPath, 0777) != 0 && errno != EEXIST) {
      die(zPath);
    }
  }
}

int main(int argc, char **argv) {
  /* Hand-written dag-cbor. */
  static const unsigned char aEmpty[] = {0xa0};
  static const unsigned char aA1[] = {0xa1, 0x61, 'a', 0x01};
  static const unsigned char aN1[] = {0xa1, 0x61, 'n', 0x01};
  static const unsigned char aScalars[] = {
      0x8c,                                     /* array(12) */
      0x01, 0x20,                               /* 1, -1 */
      0x61, 'x',                                /* "x" */
      0x42, 0x00, 0xff,                         /* h'00ff' */
      0xf6, 0xf5, 0xf4,                         /* null, true, false */
      0xfb, 0x3f, 0xf8, 0,    0,    0, 0, 0, 0, /* 1.5 */
      0x19, 0x01, 0x2c,                         /* 300 */
      0x1a, 0x00, 0x01, 0x11, 0x70,             /* 70000 */
      0x1b, 0,    0,    0,    0x02, 0, 0, 0, 0, /* 2^33 */
      0x39, 0x01, 0xf3,                         /* -500 */
      0x80};                                    /* [] */
  static const unsigned char aKeys[] = {0xa3, 0x61, 'b', 0x80, 0x62, 'a', 'a',
                                        0xa0, 0x63, 'a', 'b',  'c',  0x40};
  static const unsigned char aCarHdrOnly[] = {
      0x11, 0xa2, 0x65, 'r', 'o', 'o', 't', 's', 0x80,
      0x67, 'v',  'e',  'r', 's', 'i', 'o', 'n', 0x01};
  unsigned char aDeep[64];
  thr_tkey key;
  unsigned char contentKey[32], seed[32];
  thr_keypair *pLog;
  thr_sealed s1, s2;
  thr_cbuf buf = {0, 0}, plain = {0, 0};
  thr_cid cidEmpty;
  thr_tid tid;
  char *zErr = NULL;
  int i;

  if (argc != 2) {
    die("usage: seeds DIR");
  }
  gzDir = argv[1];
  mkdirs();
  if (sodium_init() < 0) {
    die("sodium_init failed");
  }

  /* The keys of fuzz_record.c. */
  for (i = 0; i < 32; i++) {
    key.service[i] = (unsigned char)i;
    key.read[i] = (unsigned char)(32 + i);
    contentKey[i] = (unsigned char)(64 + i);
  }
  key.hasRead = 1;
  memset(seed, 7, sizeof(seed));
  pLog = thr_keypair_from_seed(seed);
  if (pLog == NULL) {
    die("out of memory");
  }

  /* Two records of one log: the first, and one with a prev link. */
  if (thr_rec_seal(&key, pLog, pLog, NULL, 1700000000000LL, aA1, sizeof(aA1),
                   &s1, &zErr) != SQLITE_OK ||
      thr_rec_seal(&key, pLog, pLog, &s1.cidRecord, 1700000000001LL, aScalars,
                   sizeof(aScalars), &s2, &zErr) != SQLITE_OK) {
    die("thr_rec_seal failed");
  }

  /* ---- cbor ---- */
  put("cbor", "empty-map", aEmpty, sizeof(aEmpty));
  put("cbor", "map-a", aA1, sizeof(aA1));
  put("cbor", "scalars", aScalars, sizeof(aScalars));
  put("cbor", "keys", aKeys, sizeof(aKeys));
  put("cbor", "car-header", aCarHdrOnly + 1, sizeof(aCarHdrOnly) - 1);
  put_buf("cbor", "event", &s2.event);
  put_buf("cbor", "envelope", &s1.body);
  for (i = 0; i < 60; i++) {
    aDeep[i] = 0x81; /* [[[...]]] */
  }
  aDeep[60] = 0x00;
  put("cbor", "deep", aDeep, 61);
  if (thr_open_block(key.service, s2.record.a, s2.record.n, &plain, &zErr) !=
      SQLITE_OK) {
    die("cannot open own record");
  }
  put_buf("cbor", "record-plain", &plain);
  put_buf("record", "record-plain", &plain);
  sqlite3_free(plain.a);
  if (thr_open_block(key.read, s1.header.a, s1.header.n, &plain, &zErr) !=
      SQLITE_OK) {
    die("cannot open own header");
  }
  put_buf("cbor", "header-plain", &plain);
  put_buf("record", "header-plain", &plain);
  sqlite3_free(plain.a);

  /* ---- multibase ---- */
  put_text("multibase", "cid",
           "bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua");
  put_text("multibase", "tid",
           "bafkqaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  put_text("multibase", "peer",
           "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
  put_text_free("multibase", "peer-log", thr_peer_text(pLog->pk));
  thr_tid_random(&tid, THR_VARIANT_ACL);
  put_text_free("multibase", "tid-acl", thr_tid_text(&tid));
  {
    char *z = thr_tkey_text(&key);
    put_text("multibase", "tkey", z);
    sqlite3_free(z);
    key.hasRead = 0;
    z = thr_tkey_text(&key);
    put_text("multibase", "tkey-service", z);
    sqlite3_free(z);
    key.hasRead = 1;
  }
  thr_cid_of(&cidEmpty, THR_CODEC_DAGCBOR, aEmpty, 1);
  put_text_free("multibase", "cid-record", thr_cid_text(&s1.cidRecord));
  put_text_free("multibase", "b58-cid", thr_mb_encode('z', cidEmpty.a, 36));
  {
    /* The same bytes under every prefix the encoder knows. */
    static const char zPrefix[] = "079fFbBcCvVtThkKzZmMuU";
    static const unsigned char aHello[] = {0, 0, 'h', 'e', 'l', 'l', 'o'};
    const char *zp;
    for (zp = zPrefix; *zp; zp++) {
      char zName[16];
      char *z = thr_mb_encode(*zp, aHello, sizeof(aHello));
      if (z != NULL) {
        snprintf(zName, sizeof(zName), "hello-%c%s", *zp,
                 (*zp >= 'A' && *zp <= 'Z') ? "-upper" : "");
        put_text_free("multibase", zName, z);
      }
    }
  }

  /* ---- record ---- */
  put_buf("record", "record-first", &s1.record);
  put_buf("record", "record-prev", &s2.record);
  put_buf("record", "header", &s1.header);
  put_buf("record", "event", &s1.event);
  if (thr_seal_block(contentKey, aScalars, sizeof(aScalars), &buf) !=
      SQLITE_OK) {
    die("out of memory");
  }
  put_buf("record", "body-fixed-key", &buf);
  sqlite3_free(buf.a);
  buf.a = NULL;
  put("record", "cid-bytes", s1.cidRecord.a, THR_CID_BYTES);
  put("record", "tid-bytes", tid.a, (size_t)tid.n);
  {
    unsigned char aPb[THR_PUBKEY_PB_BYTES];
    thr_pubkey_pb(aPb, pLog->pk);
    put("record", "pubkey-pb", aPb, sizeof(aPb));
  }
  put_seal("seal-n1", aN1, sizeof(aN1));
  put_seal("seal-scalars", aScalars, sizeof(aScalars));
  put_seal("seal-keys-odd", aKeys, sizeof(aKeys));
  put_seal("seal-empty", NULL, 0);

  /* ---- car ---- */
  put("car", "header-only", aCarHdrOnly, sizeof(aCarHdrOnly));
  {
    char zPath[4096];
    thr_car *pCar;
    thr_cid aRoot[2];
    snprintf(zPath, sizeof(zPath), "%s/car/seed-thread", gzDir);
    aRoot[0] = s2.cidRecord;
    aRoot[1] = cidEmpty;
    if (thr_car_open(zPath, aRoot, 2, &pCar, &zErr) != SQLITE_OK) {
      die("thr_car_open failed");
    }
    thr_car_put(pCar, &s1.cidBody, s1.body.a, s1.body.n);
    thr_car_put(pCar, &s1.cidHeader, s1.header.a, s1.header.n);
    thr_car_put(pCar, &s1.cidEvent, s1.event.a, s1.event.n);
    thr_car_put(pCar, &s1.cidRecord, s1.record.a, s1.record.n);
    thr_car_put(pCar, &s2.cidEvent, s2.event.a, s2.event.n);
    thr_car_put(pCar, &cidEmpty, aEmpty, 1);
    if (thr_car_close(pCar, SQLITE_OK, &zErr) != SQLITE_OK) {
      die("thr_car_close failed");
    }
    gnSeed++;
  }

  /* Record bodies as collections write them: {"actions": [...]}, with a
  ** create, a save and a delete on collection "c" (fuzz_body's view). */
  {
    static const char *azJson[] = {"{\"_id\":\"d1\",\"a\":1,\"b\":\"x\"}",
                                   "{\"_id\":\"d1\",\"b\":null}", NULL};
    static const char *azType[] = {"create", "save", "delete"};
    unsigned char aBuf[512];
    thr_cw w = {aBuf, 0, sizeof(aBuf), SQLITE_OK, 0};
    int k;
    thr_cw_map(&w, 1);
    thr_cw_text(&w, "actions");
    thr_cw_array(&w, 3);
    for (k = 0; k < 3; k++) {
      thr_cw_map(&w, azJson[k] ? 5 : 4);
      thr_cw_text(&w, "id");
      thr_cw_text(&w, "d1");
      thr_cw_text(&w, "hlc");
      thr_cw_uint(&w, (uint64_t)(k + 1) << 16);
      thr_cw_text(&w, "coll");
      thr_cw_text(&w, "c");
      if (azJson[k]) {
        thr_cw_text(&w, "json");
        thr_cw_text(&w, azJson[k]);
      }
      thr_cw_text(&w, "type");
      thr_cw_text(&w, azType[k]);
    }
    if (w.rc != SQLITE_OK) {
      die("body seed");
    }
    put("body", "create-save-delete", aBuf, w.n);
  }

  thr_sealed_clear(&s1);
  thr_sealed_clear(&s2);
  thr_keypair_free(pLog);
  sodium_memzero(&key, sizeof(key));
  printf("seeds: %d files under %s\n", gnSeed, gzDir);
  return 0;
}
