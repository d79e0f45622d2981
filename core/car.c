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
** WRITING
**
** The writer only ever creates a new regular file; it never replaces
** anything that exists at the path, whatever it is: a file, a directory, a
** FIFO, a device, the database itself, or a symlink (dangling or not, never
** followed).  It writes a temporary file "<name>.<16 hex digits>.tmp" in the
** target's directory, created with O_EXCL (so nothing there is opened or
** followed) and mode 0644 less the umask: the blocks are the thread's
** ciphertext, the same bytes peers are sent, and the file is meant to be
** handed on.  After fsync the file gets its final name with
** renameat2(RENAME_NOREPLACE), or, on a file system that refuses that flag,
** with link() and unlink() of the temporary name, which refuse an existing
** name in the same way.  A failed export, or one refused because the path
** exists, leaves neither a partial file nor a temporary one.  The path is
** also checked before anything is written, so that the refusal costs no
** work; the final rename is what makes it hold against a racing writer.
**
** READING
**
** The reader opens only regular files (a symlink to one is fine): a FIFO
** would block the open or the read forever, and a device is not opened at
** all.  It checks every block against its CID.
*/
/* The fuzz targets and the seed writer compile core/ without the
** Makefile's flags; renameat2() and RENAME_NOREPLACE are GNU extensions. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "thr_core.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files larger than this are refused by the reader (it holds one whole
** file in memory). */
#define CAR_MAX_FILE (1024LL * 1024 * 1024)

/* Temporary names tried before giving up: each has 64 random bits, so a
** second try happens only when someone creates names on purpose. */
#define CAR_TMP_TRIES 16

struct thr_car {
  FILE *f;
  int dirFd;   /* The target's directory; every name below is in it */
  char *zPath; /* Owned: the path as given, for messages */
  char *zName; /* Owned: the final name, the last component of zPath */
  char *zTmp;  /* Owned: the temporary file's name */
  int bErr;    /* a write failed */
  int eErr;    /* errno of the first failed write */
};

static void car_write(thr_car *p, const void *a, size_t n) {
  if (!p->bErr && n > 0 && fwrite(a, 1, n, p->f) != n) {
    p->bErr = 1;
    p->eErr = errno;
  }
}

static void car_write_varint(thr_car *p, uint64_t v) {
  unsigned char a[THR_UVARINT_MAX];
  size_t n = (size_t)thr_uvarint_put(a, v);
  car_write(p, a, n);
}

/* Free p and everything it owns; the stream must be closed already. */
static void car_free(thr_car *p) {
  if (p->dirFd >= 0) {
    close(p->dirFd);
  }
  sqlite3_free(p->zPath);
  sqlite3_free(p->zName);
  sqlite3_free(p->zTmp);
  sqlite3_free(p);
}

/* Open zPath's directory as p->dirFd and set p->zName to its last
** component.  SQLITE_OK, or an error with a message in *pzErr: the
** directory cannot be opened, the path ends in '/', or something already
** exists at the path. */
static int car_target(thr_car *p, char **pzErr) {
  const char *zSlash = strrchr(p->zPath, '/');
  struct stat st;
  char *zDir;
  if (zSlash == NULL) {
    zDir = sqlite3_mprintf(".");
    p->zName = sqlite3_mprintf("%s", p->zPath);
  } else {
    /* "/x" is in "/"; "a/b" is in "a". */
    int nDir = zSlash == p->zPath ? 1 : (int)(zSlash - p->zPath);
    zDir = sqlite3_mprintf("%.*s", nDir, p->zPath);
    p->zName = sqlite3_mprintf("%s", zSlash + 1);
  }
  if (zDir == NULL || p->zName == NULL) {
    sqlite3_free(zDir);
    return SQLITE_NOMEM;
  }
  p->dirFd = open(zDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  sqlite3_free(zDir);
  if (p->dirFd < 0) {
    *pzErr = sqlite3_mprintf("cannot write %s: %s", p->zPath, strerror(errno));
    return SQLITE_CANTOPEN;
  }
  if (p->zName[0] == 0) {
    *pzErr = sqlite3_mprintf("cannot write %s: the path names a directory",
                             p->zPath);
    return SQLITE_CANTOPEN;
  }
  if (fstatat(p->dirFd, p->zName, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    *pzErr = sqlite3_mprintf("%s already exists", p->zPath);
    return SQLITE_ERROR;
  }
  if (errno != ENOENT) {
    *pzErr = sqlite3_mprintf("cannot write %s: %s", p->zPath, strerror(errno));
    return SQLITE_CANTOPEN;
  }
  return SQLITE_OK;
}

/* Create the temporary file in p->dirFd and open p->f on it.  SQLITE_OK,
** or an error with a message in *pzErr. */
static int car_create_tmp(thr_car *p, char **pzErr) {
  int fd = -1, i;
  for (i = 0; i < CAR_TMP_TRIES && fd < 0; i++) {
    unsigned char aRand[8];
    char zHex[sizeof(aRand) * 2 + 1];
    randombytes_buf(aRand, sizeof(aRand));
    sodium_bin2hex(zHex, sizeof(zHex), aRand, sizeof(aRand));
    sqlite3_free(p->zTmp);
    /* The name is cut so that the temporary name fits NAME_MAX (255). */
    p->zTmp = sqlite3_mprintf("%.200s.%s.tmp", p->zName, zHex);
    if (p->zTmp == NULL) {
      return SQLITE_NOMEM;
    }
    fd = openat(p->dirFd, p->zTmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                0644);
    if (fd < 0 && errno != EEXIST) {
      break;
    }
  }
  if (fd < 0) {
    *pzErr = sqlite3_mprintf("cannot write %s: %s", p->zPath, strerror(errno));
    sqlite3_free(p->zTmp);
    p->zTmp = NULL; /* nothing of ours to remove */
    return SQLITE_CANTOPEN;
  }
  p->f = fdopen(fd, "wb");
  if (p->f == NULL) {
    int e = errno;
    close(fd);
    unlinkat(p->dirFd, p->zTmp, 0);
    *pzErr = sqlite3_mprintf("cannot write %s: %s", p->zPath, strerror(e));
    return SQLITE_CANTOPEN;
  }
  return SQLITE_OK;
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
  p->dirFd = -1;
  p->zPath = sqlite3_mprintf("%s", zPath);
  if (p->zPath == NULL) {
    car_free(p);
    return SQLITE_NOMEM;
  }
  rc = car_target(p, pzErr);
  if (rc != SQLITE_OK) {
    car_free(p);
    return rc;
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
  if (rc == SQLITE_OK) {
    rc = car_create_tmp(p, pzErr);
  }
  if (rc != SQLITE_OK) {
    sqlite3_free(hdr.a);
    car_free(p);
    return rc;
  }
  car_write_varint(p, hdr.n);
  car_write(p, hdr.a, hdr.n);
  sqlite3_free(hdr.a);
  *ppCar = p;
  return SQLITE_OK;
}

int thr_car_put(thr_car *p, const thr_cid *pCid, const unsigned char *a,
                size_t n) {
  car_write_varint(p, THR_CID_BYTES + n);
  car_write(p, pCid->a, THR_CID_BYTES);
  car_write(p, a, n);
  return p->bErr ? SQLITE_IOERR : SQLITE_OK;
}

/* Give the written temporary file its final name, unless that name exists.
** Returns 0, or an errno value: EEXIST when something has the name. */
static int car_publish(thr_car *p) {
  if (renameat2(p->dirFd, p->zTmp, p->dirFd, p->zName, RENAME_NOREPLACE) == 0) {
    return 0;
  }
  if (errno != EINVAL && errno != ENOSYS) {
    return errno;
  }
  /* The file system (or kernel) has no RENAME_NOREPLACE.  link() makes the
  ** second name only where none exists, and does not follow a symlink that
  ** is there. */
  if (linkat(p->dirFd, p->zTmp, p->dirFd, p->zName, 0) != 0) {
    return errno;
  }
  /* The export is complete under its name; the temporary name goes (this
  ** only fails if the directory changed under us, which nothing undoes). */
  unlinkat(p->dirFd, p->zTmp, 0);
  return 0;
}

int thr_car_close(thr_car *p, int rc, char **pzErr) {
  int e = 0; /* errno of the failed step, once one has failed */
  if (p->bErr) {
    /* thr_car_put() said SQLITE_IOERR without a message: it is made here. */
    e = p->eErr != 0 ? p->eErr : EIO;
  } else if (rc == SQLITE_OK &&
             (fflush(p->f) != 0 || fsync(fileno(p->f)) != 0)) {
    e = errno;
  }
  if (fclose(p->f) != 0 && rc == SQLITE_OK && e == 0) {
    e = errno;
  }
  if (rc == SQLITE_OK && e == 0) {
    e = car_publish(p);
    if (e == 0) {
      /* The new name is durable once its directory is; a failure here
      ** cannot be undone without removing a complete file, so it is not
      ** reported. */
      (void)fsync(p->dirFd);
    } else if (e == EEXIST) {
      rc = SQLITE_ERROR;
      if (*pzErr == NULL) {
        *pzErr = sqlite3_mprintf("%s already exists", p->zPath);
      }
    }
  }
  if (rc == SQLITE_OK && e != 0) {
    rc = SQLITE_IOERR;
  }
  if (rc != SQLITE_OK) {
    if (e != 0 && *pzErr == NULL) {
      *pzErr = sqlite3_mprintf("cannot write %s: %s", p->zPath, strerror(e));
    }
    unlinkat(p->dirFd, p->zTmp, 0);
  }
  car_free(p);
  return rc;
}

/* Read a whole regular file into sqlite3 memory.  A path that names
** anything else is refused, before it is opened where stat() tells. */
static int car_slurp(const char *zPath, unsigned char **paData, size_t *pn,
                     char **pzErr) {
  struct stat st;
  unsigned char *a;
  size_t nWant, nGot = 0;
  int fd;
  *paData = NULL;
  *pn = 0;
  /* stat() first, so that a device is never opened: opening one can do
  ** something (a tape rewinds, a line hangs up).  A FIFO put at the path
  ** after stat() does not block the open (O_NONBLOCK), and fstat() then
  ** refuses it: it checks the file that is actually read. */
  if (stat(zPath, &st) != 0) {
    *pzErr = sqlite3_mprintf("cannot open %s: %s", zPath, strerror(errno));
    return SQLITE_CANTOPEN;
  }
  if (!S_ISREG(st.st_mode)) {
    *pzErr = sqlite3_mprintf("cannot read %s: not a regular file", zPath);
    return SQLITE_ERROR;
  }
  fd = open(zPath, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    *pzErr = sqlite3_mprintf("cannot open %s: %s", zPath, strerror(errno));
    return SQLITE_CANTOPEN;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    *pzErr = sqlite3_mprintf("cannot read %s: not a regular file", zPath);
    return SQLITE_ERROR;
  }
  if (st.st_size > CAR_MAX_FILE) {
    close(fd);
    *pzErr = sqlite3_mprintf("cannot read %s: larger than %lld bytes", zPath,
                             CAR_MAX_FILE);
    return SQLITE_ERROR;
  }
  nWant = (size_t)st.st_size;
  a = sqlite3_malloc64(nWant + 1);
  if (a == NULL) {
    close(fd);
    return SQLITE_NOMEM;
  }
  /* A file that shrinks meanwhile is read as far as it goes (the parser
  ** then reports it truncated); one that grows, as far as it went. */
  while (nGot < nWant) {
    ssize_t n = read(fd, a + nGot, nWant - nGot);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      int e = errno;
      close(fd);
      sqlite3_free(a);
      *pzErr = sqlite3_mprintf("cannot read %s: %s", zPath, strerror(e));
      return SQLITE_IOERR;
    }
    if (n == 0) {
      break;
    }
    nGot += (size_t)n;
  }
  close(fd);
  *paData = a;
  *pn = nGot;
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
