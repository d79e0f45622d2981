/*
** car.c: CAR v1 files (IPLD Content ARchives).
**
** FILE FORMAT
**
**   uvarint(n) || header         header = dag-cbor
**                                  {"roots": [link, ...], "version": 1}
**   then for every block:
**   uvarint(n) || CID bytes || block bytes      n = CID length + block length
**
** The writer writes to "<path>.tmp" and renames it over <path> only after
** fsync, so a failed export leaves neither a partial file nor a damaged
** earlier one.  The reader checks every block against its CID.
*/
#include "thr_core.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Files larger than this are refused by the reader (it holds one whole
** file in memory). */
#define CAR_MAX_FILE (1024LL * 1024 * 1024)

struct thr_car {
  FILE *f;
  char *zPath; /* Owned: final path */
  char *zTmp;  /* Owned: path written to */
  int bErr;    /* a write failed */
};

static void car_write(thr_car *p, const void *a, size_t n) {
  if (!p->bErr && n > 0 && fwrite(a, 1, n, p->f) != n) {
    p->bErr = 1;
  }
}

static void car_write_varint(thr_car *p, uint64_t v) {
  unsigned char a[THR_UVARINT_MAX];
  size_t n = (size_t)thr_uvarint_put(a, v);
  car_write(p, a, n);
}

int thr_car_open(const char *zPath, const thr_cid *aRoot, int nRoot,
                 thr_car **ppCar, char **pzErr) {
  thr_car *p;
  thr_cbor *pHdr, *pRoots;
  thr_cbuf hdr = {0, 0};
  int rc = SQLITE_OK, i;

  *ppCar = NULL;
  p = sqlite3_malloc64(sizeof(*p));
  if (p == NULL) {
    return SQLITE_NOMEM;
  }
  memset(p, 0, sizeof(*p));
  p->zPath = sqlite3_mprintf("%s", zPath);
  p->zTmp = sqlite3_mprintf("%s.tmp", zPath);
  if (p->zPath == NULL || p->zTmp == NULL) {
    rc = SQLITE_NOMEM;
    goto fail;
  }

  pHdr = thr_cbor_map(2);
  pRoots = thr_cbor_array((size_t)nRoot);
  for (i = 0; i < nRoot; i++) {
    thr_cbor_push(&rc, pRoots, thr_cbor_link(&aRoot[i]));
  }
  thr_cbor_put(&rc, pHdr, "roots", pRoots);
  thr_cbor_put(&rc, pHdr, "version", thr_cbor_uint(1));
  if (rc == SQLITE_OK) {
    rc = thr_cbor_encode(pHdr, &hdr);
  }
  thr_cbor_free(pHdr);
  if (rc != SQLITE_OK) {
    goto fail;
  }

  p->f = fopen(p->zTmp, "wb");
  if (p->f == NULL) {
    *pzErr = sqlite3_mprintf("cannot write %s: %s", zPath, strerror(errno));
    rc = SQLITE_CANTOPEN;
    goto fail;
  }
  car_write_varint(p, hdr.n);
  car_write(p, hdr.a, hdr.n);
  sqlite3_free(hdr.a);
  *ppCar = p;
  return SQLITE_OK;

fail:
  sqlite3_free(hdr.a);
  sqlite3_free(p->zPath);
  sqlite3_free(p->zTmp);
  sqlite3_free(p);
  return rc;
}

int thr_car_put(thr_car *p, const thr_cid *pCid, const unsigned char *a,
                size_t n) {
  car_write_varint(p, THR_CID_BYTES + n);
  car_write(p, pCid->a, THR_CID_BYTES);
  car_write(p, a, n);
  return p->bErr ? SQLITE_IOERR : SQLITE_OK;
}

int thr_car_close(thr_car *p, int rc, char **pzErr) {
  int bOk = rc == SQLITE_OK && !p->bErr;
  if (bOk && (fflush(p->f) != 0 || fsync(fileno(p->f)) != 0)) {
    bOk = 0;
  }
  if (fclose(p->f) != 0) {
    bOk = 0;
  }
  if (bOk && rename(p->zTmp, p->zPath) != 0) {
    bOk = 0;
  }
  if (!bOk) {
    if (rc == SQLITE_OK) {
      rc = SQLITE_IOERR;
      if (*pzErr == NULL) {
        *pzErr =
            sqlite3_mprintf("cannot write %s: %s", p->zPath, strerror(errno));
      }
    }
    unlink(p->zTmp);
  }
  sqlite3_free(p->zPath);
  sqlite3_free(p->zTmp);
  sqlite3_free(p);
  return rc;
}

/* Read a whole file into sqlite3 memory. */
static int car_slurp(const char *zPath, unsigned char **paData, size_t *pn,
                     char **pzErr) {
  FILE *f = fopen(zPath, "rb");
  long n;
  *paData = NULL;
  *pn = 0;
  if (f == NULL) {
    *pzErr = sqlite3_mprintf("cannot open %s: %s", zPath, strerror(errno));
    return SQLITE_CANTOPEN;
  }
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > CAR_MAX_FILE ||
      fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    *pzErr = sqlite3_mprintf("cannot read %s: not a regular file or too large",
                             zPath);
    return SQLITE_ERROR;
  }
  *paData = sqlite3_malloc64((size_t)n + 1);
  if (*paData == NULL) {
    fclose(f);
    return SQLITE_NOMEM;
  }
  if (fread(*paData, 1, (size_t)n, f) != (size_t)n) {
    fclose(f);
    sqlite3_free(*paData);
    *paData = NULL;
    *pzErr = sqlite3_mprintf("cannot read %s", zPath);
    return SQLITE_IOERR;
  }
  fclose(f);
  *pn = (size_t)n;
  return SQLITE_OK;
}

int thr_car_read(const char *zPath, thr_cid *aRoot, int nRootMax, int *pnRoot,
                 int (*xBlock)(void *, const thr_cid *, const unsigned char *,
                               size_t),
                 void *pArg, char **pzErr) {
  unsigned char *a = NULL;
  size_t n = 0, i = 0, k;
  uint64_t nHdr, v;
  int nUsed, rc;
  thr_cbor *pHdr = NULL, *pRoots;
  char *zWhy = NULL;

  *pnRoot = 0;
  rc = car_slurp(zPath, &a, &n, pzErr);
  if (rc != SQLITE_OK) {
    return rc;
  }
  nUsed = thr_uvarint_get(a, n, &nHdr);
  if (nUsed <= 0 || nHdr > n - (size_t)nUsed) {
    *pzErr = sqlite3_mprintf("%s: not a CAR file (bad header length)", zPath);
    rc = SQLITE_ERROR;
    goto done;
  }
  i = (size_t)nUsed;
  pHdr = thr_cbor_decode(a + i, (size_t)nHdr, &zWhy);
  pRoots = thr_cbor_get(pHdr, "roots");
  if (pHdr == NULL || thr_cbor_map_size(pHdr) != 2 ||
      !thr_cbor_as_uint(thr_cbor_get(pHdr, "version"), &v) || v != 1 ||
      pRoots == NULL || thr_cbor_array_size(pRoots) > (size_t)nRootMax) {
    *pzErr = sqlite3_mprintf("%s: not a CAR v1 file (bad header%s%s)", zPath,
                             zWhy ? ": " : "", zWhy ? zWhy : "");
    rc = SQLITE_ERROR;
    goto done;
  }
  for (k = 0; k < thr_cbor_array_size(pRoots); k++) {
    if (!thr_cbor_as_link(thr_cbor_array_at(pRoots, k), &aRoot[k])) {
      *pzErr = sqlite3_mprintf("%s: root %d is not a CID link", zPath, (int)k);
      rc = SQLITE_ERROR;
      goto done;
    }
    (*pnRoot)++;
  }
  i += (size_t)nHdr;

  while (i < n) {
    uint64_t nSec;
    thr_cid cid, got;
    nUsed = thr_uvarint_get(a + i, n - i, &nSec);
    if (nUsed <= 0 || nSec > n - i - (size_t)nUsed || nSec < THR_CID_BYTES) {
      *pzErr = sqlite3_mprintf("%s: truncated or malformed section at byte "
                               "%llu",
                               zPath, (unsigned long long)i);
      rc = SQLITE_ERROR;
      break;
    }
    i += (size_t)nUsed;
    if (thr_cid_from_bytes(&cid, a + i, THR_CID_BYTES, &zWhy) != SQLITE_OK) {
      *pzErr = sqlite3_mprintf("%s: section at byte %llu: %s", zPath,
                               (unsigned long long)i, zWhy);
      rc = SQLITE_ERROR;
      break;
    }
    thr_cid_of(&got, cid.a[1], a + i + THR_CID_BYTES,
               (size_t)nSec - THR_CID_BYTES);
    if (memcmp(got.a, cid.a, THR_CID_BYTES) != 0) {
      char *zCid = thr_cid_text(&cid);
      *pzErr = sqlite3_mprintf("%s: block %s: %s", zPath, zCid, THR_CHECK_CID);
      sqlite3_free(zCid);
      rc = SQLITE_ERROR;
      break;
    }
    rc =
        xBlock(pArg, &cid, a + i + THR_CID_BYTES, (size_t)nSec - THR_CID_BYTES);
    if (rc != SQLITE_OK) {
      break;
    }
    i += (size_t)nSec;
  }

done:
  sqlite3_free(zWhy);
  thr_cbor_free(pHdr);
  sqlite3_free(a);
  return rc;
}
