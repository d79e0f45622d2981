/*
** fuzz_car.c: libFuzzer target for the CAR v1 reader (thr_car_read in
** core/car.c).  The input is written to /tmp/fuzz_car-<pid>.car and read
** back; the file is removed after every input.
**
** Properties checked (abort() on violation):
**   - every block handed to the callback matches its CID (the reader's
**     promise) and lies in memory the reader owns for the call;
**   - no more roots are reported than the caller made room for;
**   - a failure comes with an error message.
*/
#include "thr_core.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ROOT_MAX 4

static char gzPath[64];

static void fuzz_init(void) {
  static int bDone = 0;
  if (!bDone) {
    if (sodium_init() < 0) {
      abort();
    }
    snprintf(gzPath, sizeof(gzPath), "/tmp/fuzz_car-%d.car", (int)getpid());
    bDone = 1;
  }
}

typedef struct BlockCount BlockCount;
struct BlockCount {
  int nBlock;
  size_t nByte;
};

static int xBlock(void *pArg, const thr_cid *pCid, const unsigned char *a,
                  size_t n) {
  BlockCount *p = pArg;
  thr_cid got;
  thr_cid_of(&got, pCid->a[1], a, n);
  if (memcmp(got.a, pCid->a, THR_CID_BYTES) != 0) {
    abort();
  }
  if (n > 0) {
    volatile unsigned char c = a[0] ^ a[n - 1];
    (void)c;
  }
  p->nBlock++;
  p->nByte += n;
  return SQLITE_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FILE *f;
  thr_cid aRoot[ROOT_MAX];
  int nRoot = -1, rc;
  char *zErr = NULL;
  BlockCount cnt = {0, 0};

  fuzz_init();
  f = fopen(gzPath, "wb");
  if (f == NULL) {
    abort();
  }
  if ((size > 0 && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
    abort();
  }

  rc = thr_car_read(gzPath, aRoot, ROOT_MAX, &nRoot, xBlock, &cnt, &zErr);
  if (nRoot < 0 || nRoot > ROOT_MAX || cnt.nByte > size) {
    abort();
  }
  if (rc == SQLITE_OK) {
    int i;
    if (zErr != NULL) {
      abort();
    }
    for (i = 0; i < nRoot; i++) {
      char *z = thr_cid_text(&aRoot[i]);
      sqlite3_free(z);
    }
  } else if (rc != SQLITE_NOMEM && zErr == NULL) {
    abort();
  }
  sqlite3_free(zErr);
  unlink(gzPath);
  return 0;
}
