/*
** test_car.c: the CAR file writer and reader (core/car.c) against the file
** system: the writer creates only a new regular file and refuses a path
** where anything exists, including something that appears while it
** writes; it leaves no temporary file behind on any path; its link()
** fallback for file systems without RENAME_NOREPLACE refuses in the same
** way.  The reader opens only regular files.
**
** The fallback is reached by defining renameat2() in this program: the
** library's call binds to this definition at link time, which fails like a
** file system that does not know the flag (EINVAL) or a kernel without the
** call (ENOSYS) when gRenameErrno says so, and otherwise makes the real
** system call.
**
** Tests run in the working directory test/run.sh gives them (a fresh
** temporary directory), each case in its own subdirectory.
*/
#include "thr_core.h"
#include "tt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int gRenameErrno = 0; /* errno for renameat2() to fail with; 0: none */
static int gnRename = 0;     /* calls of renameat2() */

int renameat2(int oldFd, const char *zOld, int newFd, const char *zNew,
              unsigned int flags) {
  gnRename++;
  if (gRenameErrno != 0) {
    errno = gRenameErrno;
    return -1;
  }
  return (int)syscall(SYS_renameat2, oldFd, zOld, newFd, zNew, flags);
}

static const unsigned char aBlock[] = {0xa1, 0x61, 'n', 0x01}; /* {"n": 1} */

/* The number of entries in directory zDir, "." and ".." left out. */
static int dir_count(const char *zDir) {
  DIR *pDir = opendir(zDir);
  struct dirent *pEnt;
  int n = 0;
  if (pDir == NULL) {
    return -1;
  }
  while ((pEnt = readdir(pDir)) != NULL) {
    if (strcmp(pEnt->d_name, ".") != 0 && strcmp(pEnt->d_name, "..") != 0) {
      n++;
    }
  }
  closedir(pDir);
  return n;
}

/* Does file zPath hold exactly the text z? */
static int file_is(const char *zPath, const char *z) {
  char a[64];
  FILE *f = fopen(zPath, "rb");
  size_t n;
  if (f == NULL) {
    return 0;
  }
  n = fread(a, 1, sizeof(a), f);
  fclose(f);
  return n == strlen(z) && memcmp(a, z, n) == 0;
}

static void file_write(const char *zPath, const char *z) {
  FILE *f = fopen(zPath, "wb");
  TT_CHECK(f != NULL);
  if (f) {
    fputs(z, f);
    fclose(f);
  }
}

static int count_block(void *pArg, const thr_cid *pCid, const unsigned char *a,
                       size_t n) {
  (void)pCid;
  (void)a;
  (void)n;
  (*(int *)pArg)++;
  return SQLITE_OK;
}

/* Start a CAR file at zPath with one root and one block. */
static int car_start(const char *zPath, thr_car **ppCar, char **pzErr) {
  thr_cid cid;
  int rc;
  thr_cid_of(&cid, THR_CODEC_DAGCBOR, aBlock, sizeof(aBlock));
  rc = thr_car_open(zPath, &cid, 1, ppCar, pzErr);
  if (rc == SQLITE_OK) {
    rc = thr_car_put(*ppCar, &cid, aBlock, sizeof(aBlock));
  }
  return rc;
}

/* A complete CAR file at zPath, read back. */
static int car_whole(const char *zPath, char **pzErr) {
  thr_car *pCar = NULL;
  int rc = car_start(zPath, &pCar, pzErr);
  if (pCar) {
    rc = thr_car_close(pCar, rc, pzErr);
  }
  return rc;
}

/* A new path: a regular file of mode 0644 less the umask, read back, with
** nothing else left in its directory. */
static void test_new_file(void) {
  struct stat st;
  thr_cid aRoot[2];
  int nRoot = 0, nBlock = 0;
  char *zErr = NULL;
  mode_t old = umask(027);
  TT_CHECK(mkdir("new", 0755) == 0);
  TT_CHECK(car_whole("new/x.car", &zErr) == SQLITE_OK);
  TT_CHECK(zErr == NULL);
  TT_CHECK(lstat("new/x.car", &st) == 0 && S_ISREG(st.st_mode));
  TT_CHECK((st.st_mode & 07777) == 0640);
  TT_CHECK(dir_count("new") == 1);
  TT_CHECK(thr_car_read("new/x.car", aRoot, 2, &nRoot, count_block, &nBlock,
                        &zErr) == SQLITE_OK);
  TT_CHECK(nRoot == 1 && nBlock == 1);
  sqlite3_free(zErr);
  umask(old);
}

/* Something that appears at the path while the file is written wins: the
** export is refused, the newcomer keeps its bytes, the temporary file
** goes. */
static void test_path_taken_meanwhile(void) {
  thr_car *pCar = NULL;
  char *zErr = NULL;
  TT_CHECK(mkdir("race", 0755) == 0);
  TT_CHECK(car_start("race/x.car", &pCar, &zErr) == SQLITE_OK);
  file_write("race/x.car", "theirs\n");
  TT_CHECK(thr_car_close(pCar, SQLITE_OK, &zErr) == SQLITE_ERROR);
  TT_STREQ(zErr, "race/x.car already exists");
  TT_CHECK(file_is("race/x.car", "theirs\n"));
  TT_CHECK(dir_count("race") == 1);
  sqlite3_free(zErr);
  zErr = NULL;

  /* A dangling symlink that appears is not followed. */
  TT_CHECK(car_start("race/y.car", &pCar, &zErr) == SQLITE_OK);
  TT_CHECK(symlink("nowhere", "race/y.car") == 0);
  TT_CHECK(thr_car_close(pCar, SQLITE_OK, &zErr) == SQLITE_ERROR);
  TT_STREQ(zErr, "race/y.car already exists");
  TT_CHECK(access("race/nowhere", F_OK) != 0);
  TT_CHECK(dir_count("race") == 2);
  sqlite3_free(zErr);
}

/* Where RENAME_NOREPLACE is refused, link() and unlink() do the same job:
** a new path gets the file and no temporary one; a taken path, even by a
** dangling symlink, is refused and left as it was. */
static void test_link_fallback(void) {
  static const int aErrno[] = {EINVAL, ENOSYS};
  int i;
  for (i = 0; i < 2; i++) {
    thr_car *pCar = NULL;
    char *zErr = NULL;
    struct stat st;
    char zDir[16], zNew[32], zTaken[32], zLink[32], zWhere[32];
    snprintf(zDir, sizeof(zDir), "fb%d", i);
    snprintf(zNew, sizeof(zNew), "%s/new.car", zDir);
    snprintf(zTaken, sizeof(zTaken), "%s/taken.car", zDir);
    snprintf(zLink, sizeof(zLink), "%s/link.car", zDir);
    snprintf(zWhere, sizeof(zWhere), "%s/nowhere", zDir);
    TT_CHECK(mkdir(zDir, 0755) == 0);
    gRenameErrno = aErrno[i];
    gnRename = 0;

    TT_CHECK(car_whole(zNew, &zErr) == SQLITE_OK);
    TT_CHECK(gnRename == 1); /* the fallback was taken */
    TT_CHECK(lstat(zNew, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1);
    TT_CHECK(dir_count(zDir) == 1);

    TT_CHECK(car_start(zTaken, &pCar, &zErr) == SQLITE_OK);
    file_write(zTaken, "theirs\n");
    TT_CHECK(thr_car_close(pCar, SQLITE_OK, &zErr) == SQLITE_ERROR);
    TT_CHECK(zErr && strstr(zErr, "taken.car already exists"));
    TT_CHECK(file_is(zTaken, "theirs\n"));
    sqlite3_free(zErr);
    zErr = NULL;

    TT_CHECK(car_start(zLink, &pCar, &zErr) == SQLITE_OK);
    TT_CHECK(symlink("nowhere", zLink) == 0);
    TT_CHECK(thr_car_close(pCar, SQLITE_OK, &zErr) == SQLITE_ERROR);
    TT_CHECK(zErr && strstr(zErr, "link.car already exists"));
    TT_CHECK(access(zWhere, F_OK) != 0);
    TT_CHECK(dir_count(zDir) == 3);
    sqlite3_free(zErr);
  }
  gRenameErrno = 0;
}

/* A failed export (the caller's error, or a path that cannot be a file)
** leaves nothing; a path taken before the start is refused before
** anything is written. */
static void test_nothing_left(void) {
  thr_car *pCar = NULL;
  char *zErr = NULL;
  TT_CHECK(mkdir("fail", 0755) == 0);
  TT_CHECK(car_start("fail/x.car", &pCar, &zErr) == SQLITE_OK);
  TT_CHECK(thr_car_close(pCar, SQLITE_CORRUPT, &zErr) == SQLITE_CORRUPT);
  TT_CHECK(zErr == NULL);
  TT_CHECK(dir_count("fail") == 0);

  TT_CHECK(car_whole("fail/", &zErr) == SQLITE_CANTOPEN);
  TT_STREQ(zErr, "cannot write fail/: the path names a directory");
  sqlite3_free(zErr);
  zErr = NULL;
  TT_CHECK(car_whole("fail/no/x.car", &zErr) == SQLITE_CANTOPEN);
  TT_STREQ(zErr, "cannot write fail/no/x.car: No such file or directory");
  sqlite3_free(zErr);
  zErr = NULL;

  TT_CHECK(mkdir("fail/d", 0755) == 0);
  gnRename = 0;
  TT_CHECK(car_whole("fail/d", &zErr) == SQLITE_ERROR);
  TT_STREQ(zErr, "fail/d already exists");
  TT_CHECK(gnRename == 0 && dir_count("fail") == 1 && dir_count("fail/d") == 0);
  sqlite3_free(zErr);
}

/* The reader refuses what is not a regular file, without blocking on a
** FIFO, and a file over its size limit without reading it. */
static void test_reader_regular_only(void) {
  thr_cid aRoot[2];
  int nRoot = 0, nBlock = 0, fd;
  char *zErr = NULL;
  TT_CHECK(mkdir("rd", 0755) == 0);
  TT_CHECK(mkfifo("rd/fifo", 0644) == 0);
  /* A reader that blocks ends the program instead of hanging the suite. */
  alarm(30);
  TT_CHECK(thr_car_read("rd/fifo", aRoot, 2, &nRoot, count_block, &nBlock,
                        &zErr) == SQLITE_ERROR);
  alarm(0);
  TT_STREQ(zErr, "cannot read rd/fifo: not a regular file");
  sqlite3_free(zErr);
  zErr = NULL;
  TT_CHECK(thr_car_read("rd", aRoot, 2, &nRoot, count_block, &nBlock, &zErr) ==
           SQLITE_ERROR);
  TT_STREQ(zErr, "cannot read rd: not a regular file");
  sqlite3_free(zErr);
  zErr = NULL;
  /* A sparse file one byte over the limit: no disk space, no read. */
  fd = open("rd/big.car", O_WRONLY | O_CREAT | O_EXCL, 0644);
  TT_CHECK(fd >= 0 && ftruncate(fd, 1024LL * 1024 * 1024 + 1) == 0);
  if (fd >= 0) {
    close(fd);
  }
  TT_CHECK(thr_car_read("rd/big.car", aRoot, 2, &nRoot, count_block, &nBlock,
                        &zErr) == SQLITE_ERROR);
  TT_STREQ(zErr, "cannot read rd/big.car: larger than 1073741824 bytes");
  sqlite3_free(zErr);
  zErr = NULL;
  TT_CHECK(thr_car_read("rd/none.car", aRoot, 2, &nRoot, count_block, &nBlock,
                        &zErr) == SQLITE_CANTOPEN);
  TT_STREQ(zErr, "cannot open rd/none.car: No such file or directory");
  sqlite3_free(zErr);
  TT_CHECK(nBlock == 0);
}

int main(void) {
  if (sodium_init() < 0) {
    return 2;
  }
  TT_RUN(test_new_file);
  TT_RUN(test_path_taken_meanwhile);
  TT_RUN(test_link_fallback);
  TT_RUN(test_nothing_left);
  TT_RUN(test_reader_regular_only);
  return tt_done();
}
