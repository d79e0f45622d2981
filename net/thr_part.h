/*
** thr_part.h: large records put together from pieces (net/part.c).
**
** A record too large for one message crosses in pieces: its four blocks
** laid end to end (record, event, header, body), sent from an offset.  The
** receiving node keeps one assembly per (thread, log, counter, source) and
** hands the record to thr_sync_put() once every byte is in.  Pieces must
** arrive in order.  A piece is written, as it arrives, to the assembly's
** own temporary file (unlinked: it goes with its descriptor) and is not
** kept in memory; the file is mapped back only once the record is whole,
** for its checks.  A peer that announces a large record and sends nothing
** costs a few dozen bytes; one that sends part of it and stops costs disk,
** not memory, until the assembly is dropped.
**
** Limits (every source of pieces is a peer speaking the protocol):
**
**   THR_PART_MAXREC   bytes per record (refused above: "oversized").
**   THR_PART_MAX      assemblies at once in the set (descriptors: one each).
**   THR_PART_SPILL    bytes in all the assemblies' files together.
**   THR_PART_IDLE_MS  an assembly that no piece fed for this long is
**                     abandoned: thr_part_sweep() drops it, file and all.
**
** Piece bytes in memory: none between messages; a whole record is mapped
** (file pages, not heap) from thr_part_record() until it is dropped.
**
** The rule for slots (so that an honest record never waits on a stalled
** one):
**
**   - A source (a pipe that pushes to us, or a peer we pull from) has at
**     most one assembly.  A new record from a source whose assembly was fed
**     within THR_PART_YIELD_MS is "busy" (the source sends its records one
**     at a time and asks again on a later round); one idle longer is
**     replaced (the source moved on).
**   - When all THR_PART_MAX slots are taken, the new record evicts the one
**     idle longest, if it has been idle THR_PART_YIELD_MS or more: a stalled
**     assembly yields its slot within a second.  "busy" only when every slot
**     was fed within that time, i.e. THR_PART_MAX records are really
**     arriving.
**   - A piece that would take the files past THR_PART_SPILL evicts other
**     assemblies idle THR_PART_YIELD_MS or more, idlest first; if that is
**     not enough the piece is "busy" (THR_PART_FULL) and its assembly kept.
**
** "Fed" means a piece of at least THR_PART_MINFEED bytes (or the last
** piece): a peer cannot hold a slot, or keep it from the idle drop, with
** a trickle of tiny pieces.  Honest senders send NODE_PIECE (1 MiB) pieces.
*/
#ifndef THR_PART_H
#define THR_PART_H

#include "../core/thr_sync.h"

#define THR_PART_MAXREC ((size_t)256 * 1024 * 1024)
#define THR_PART_MAX 4
#define THR_PART_SPILL ((size_t)512 * 1024 * 1024)
#define THR_PART_IDLE_MS 10000 /* = NODE_REQ_MS: a piece may take as long as any reply */
#define THR_PART_YIELD_MS 1000
#define THR_PART_MINFEED ((size_t)64 * 1024)

typedef struct thr_part thr_part;
struct thr_part {
  sqlite3_int64 iThread;
  unsigned char pk[32];
  sqlite3_int64 counter;
  sqlite3_uint64 from; /* the source: a peer, or a pipe of the listener */
  size_t an[4];        /* block sizes */
  size_t nTotal, nGot;
  int fd;              /* the spill file, or -1 before the first piece */
  unsigned char *a;    /* the whole record mapped (thr_part_record), or NULL */
  sqlite3_int64 tLast; /* last time fed (see THR_PART_MINFEED), unix ms */
  thr_part *pNext;
};

typedef struct thr_part_set thr_part_set;
struct thr_part_set {
  thr_part *pList;
  int n;
  size_t nSpill;    /* bytes in all the assemblies' files */
  size_t nSpillMax; /* 0: THR_PART_SPILL (tests set less) */
  const char *zDir; /* where spill files go; NULL: $TMPDIR, else /tmp */
};

/* What thr_part_add() did with a piece. */
#define THR_PART_MORE 1  /* appended; more to come from nGot */
#define THR_PART_DONE 2  /* appended; the record is whole */
#define THR_PART_STALE 3 /* not at nGot: ignored; ask again from nGot */
#define THR_PART_BAD 4   /* empty or past the announced size */
#define THR_PART_FULL 5  /* no room within THR_PART_SPILL: not appended */

/* The assembly of this record from this source, made if new (see the rule
** above).  Sizes that differ from an existing assembly's start it again.
** NULL with *pzWhy ("oversized: ...", "decode: ...", "busy: ...", "out of
** memory") when none can be had. */
thr_part *thr_part_get(thr_part_set *pSet, sqlite3_int64 iThread,
                       const unsigned char pk[32], sqlite3_int64 counter,
                       sqlite3_uint64 from, const size_t an[4],
                       sqlite3_int64 tNow, char **pzWhy);

/* The assembly of this record from this source, or NULL. */
thr_part *thr_part_find(thr_part_set *pSet, sqlite3_int64 iThread,
                        const unsigned char pk[32], sqlite3_int64 counter,
                        sqlite3_uint64 from);

/* Write n bytes at offset iOff to the assembly's file; a THR_PART_*, or
** SQLITE_IOERR when the file cannot be made or written (the assembly is
** then unchanged).  May evict other assemblies of pSet (never pPart). */
int thr_part_add(thr_part_set *pSet, thr_part *pPart, size_t iOff,
                 const unsigned char *a, size_t n, sqlite3_int64 tNow);

/* A whole assembly as a record (blocks borrowed from it until it is
** dropped).  SQLITE_OK, or SQLITE_IOERR when it cannot be mapped. */
int thr_part_record(thr_part *pPart, thr_wire_rec *pRec);

/* Forget one assembly, or every assembly from a source (from), or all. */
void thr_part_drop(thr_part_set *pSet, thr_part *pPart);
void thr_part_drop_from(thr_part_set *pSet, sqlite3_uint64 from);
void thr_part_clear(thr_part_set *pSet);

/* Drop every assembly not fed for THR_PART_IDLE_MS; returns how many. */
int thr_part_sweep(thr_part_set *pSet, sqlite3_int64 tNow);

#endif /* THR_PART_H */
