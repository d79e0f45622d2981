/*
** thr_part.h: large records put together from pieces (net/part.c).
**
** A record too large for one message crosses in pieces: its four blocks
** laid end to end (record, event, header, body), sent from an offset.  The
** receiving node keeps one assembly per (thread, log, counter, source) and
** hands the record to thr_sync_put() once every byte is in.  Pieces must
** arrive in order; the buffer grows with the bytes actually received, so
** a peer that announces a large record and sends nothing costs nothing.
**
** Limits: THR_PART_MAXREC bytes per record, THR_PART_MAX assemblies at
** once (an idle one is evicted for a new one after THR_PART_IDLE_MS).
*/
#ifndef THR_PART_H
#define THR_PART_H

#include "../core/thr_sync.h"

#define THR_PART_MAXREC ((size_t)256 * 1024 * 1024)
#define THR_PART_MAX 4
#define THR_PART_IDLE_MS 30000

typedef struct thr_part thr_part;
struct thr_part {
  sqlite3_int64 iThread;
  unsigned char pk[32];
  sqlite3_int64 counter;
  sqlite3_uint64 from; /* the source: a peer, or a pipe of the listener */
  size_t an[4];        /* block sizes */
  size_t nTotal, nGot, nAlloc;
  unsigned char *a;
  sqlite3_int64 tLast; /* last piece, unix ms */
  thr_part *pNext;
};

typedef struct thr_part_set thr_part_set;
struct thr_part_set {
  thr_part *pList;
  int n;
};

/* What thr_part_add() did with a piece. */
#define THR_PART_MORE 1  /* appended; more to come from nGot */
#define THR_PART_DONE 2  /* appended; the record is whole */
#define THR_PART_STALE 3 /* not at nGot: ignored; ask again from nGot */
#define THR_PART_BAD 4   /* empty or past the announced size */

/* The assembly of this record from this source, made if new.  Sizes that
** differ from an existing assembly's start it again.  NULL with *pzWhy
** when the record is over THR_PART_MAXREC or all THR_PART_MAX assemblies
** are busy. */
thr_part *thr_part_get(thr_part_set *pSet, sqlite3_int64 iThread,
                       const unsigned char pk[32], sqlite3_int64 counter,
                       sqlite3_uint64 from, const size_t an[4],
                       sqlite3_int64 tNow, char **pzWhy);

/* The assembly of this record from this source, or NULL. */
thr_part *thr_part_find(thr_part_set *pSet, sqlite3_int64 iThread,
                        const unsigned char pk[32], sqlite3_int64 counter,
                        sqlite3_uint64 from);

/* Append n bytes at offset iOff; a THR_PART_* (NOMEM: SQLITE_NOMEM). */
int thr_part_add(thr_part *pPart, size_t iOff, const unsigned char *a, size_t n,
                 sqlite3_int64 tNow);

/* A whole assembly as a record (blocks borrowed from it). */
void thr_part_record(const thr_part *pPart, thr_wire_rec *pRec);

/* Forget one assembly, or every assembly from a source (from), or all. */
void thr_part_drop(thr_part_set *pSet, thr_part *pPart);
void thr_part_drop_from(thr_part_set *pSet, sqlite3_uint64 from);
void thr_part_clear(thr_part_set *pSet);

#endif /* THR_PART_H */
