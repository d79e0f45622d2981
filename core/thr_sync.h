/*
** thr_sync.h: the event store as the sync node sees it (core/sync.c).
**
** The node (net/) reads records to serve them and stores records that
** peers send, always through these calls and on its own connection.
*/
#ifndef THR_SYNC_H
#define THR_SYNC_H

#include "thr_core.h"

/* A log of a thread, how many records this peer holds of it, and the CID
** of the last of them (hasHead: counter > 0). */
typedef struct thr_head thr_head;
struct thr_head {
  unsigned char pk[32];
  sqlite3_int64 counter;
  thr_cid head;
  int hasHead;
};

/* One record as it travels: its four blocks (borrowed). */
enum { THR_BLK_RECORD, THR_BLK_EVENT, THR_BLK_HEADER, THR_BLK_BODY };
typedef struct thr_wire_rec thr_wire_rec;
struct thr_wire_rec {
  sqlite3_int64 counter;
  const unsigned char *a[4];
  size_t n[4];
};

/* What thr_sync_put() did with a record. */
#define THR_PUT_ADDED 1 /* verified and stored, with its effects */
#define THR_PUT_HAVE 2  /* already stored: nothing to do */
#define THR_PUT_GAP 3   /* records before it are missing: pull them first */
#define THR_PUT_BAD 4   /* refused; *pzWhy says why (THR_CHECK_* first) */
/* A valid record of the log that is not in our chain: the log forked at
** or below its counter (core/fork.c); nothing stored. */
#define THR_PUT_FORK 5

typedef struct thr_sync thr_sync;

/* A sync context on a store: prepared statements of its own.  The store
** must outlive it. */
int thr_sync_open(thr_store *pStore, thr_sync **pp, char **pzErr);
void thr_sync_close(thr_sync *p);

/* The store it works on (borrowed). */
thr_store *thr_sync_store(thr_sync *p);

/* A thread's row and keys.  "no such thread: <id>" if unknown. */
int thr_sync_thread(thr_sync *p, const thr_tid *pTid, sqlite3_int64 *piThread,
                    thr_tkey *pKey, char **pzErr);

/* Learn a thread from an invite: store its keys (a follower's has no read
** key; a known thread may gain its read key, never change its service
** key), and make this identity's log row when bOwnLog.  In one savepoint. */
int thr_sync_join(thr_sync *p, const thr_tid *pTid, const thr_tkey *pKey,
                  int bOwnLog, char **pzErr);

/* Every log of a thread with its record count, in log order (*paHead owned,
** sqlite3_free). */
int thr_sync_heads(thr_sync *p, sqlite3_int64 iThread, thr_head **paHead,
                   int *pnHead, char **pzErr);

/* Records of log pk after counter iAfter, in order, at most nMax of them
** and, past the first, no more than nMaxBytes in all; xRec returns
** SQLITE_OK to go on, SQLITE_DONE to stop before the record it was given
** (not counted), anything else to fail.  Blocks are borrowed for the
** call. */
typedef int (*thr_sync_rec_fn)(void *pArg, const thr_wire_rec *pRec);
int thr_sync_read(thr_sync *p, sqlite3_int64 iThread,
                  const unsigned char pk[32], sqlite3_int64 iAfter, int nMax,
                  size_t nMaxBytes, thr_sync_rec_fn xRec, void *pArg,
                  char **pzErr);

/* The CIDs of log pk's records from counter iFrom on, at most nMax of
** them, into aCid[] (room for nMax); *pn gets how many (fewer at the end
** of the log). */
int thr_sync_cids(thr_sync *p, sqlite3_int64 iThread,
                  const unsigned char pk[32], sqlite3_int64 iFrom, int nMax,
                  thr_cid *aCid, int *pn, char **pzErr);

/* Part of a large record, for sending it in pieces: an[] gets the sizes of
** the record's four blocks, and aBuf up to nBuf bytes of the blocks laid
** end to end (record, event, header, body) from offset iOff, read in place
** (sqlite3_blob), so the record is never whole in memory.  *pnGot is 0 at
** or past the end.  SQLITE_NOTFOUND if the log has no such record. */
int thr_sync_part(thr_sync *p, sqlite3_int64 iThread,
                  const unsigned char pk[32], sqlite3_int64 iCounter,
                  size_t an[4], size_t iOff, unsigned char *aBuf, size_t nBuf,
                  size_t *pnGot, char **pzErr);

/* The checks of a record that need no database (steps 2, 4 and 5's
** decryption in sync.c): the signature, the blocks' CIDs, and with the read
** key the header and body opened.  Any thread may run them, ahead of
** thr_sync_put(), for records of one log in any order.  The result owns
** the body opened and parsed; thr_checked_clear() frees it. */
typedef struct thr_checked thr_checked;
struct thr_checked {
  int bBad;   /* refused: zWhy says why (THR_CHECK_* first)... */
  int bNoMem; /* ...unless memory ran out */
  char *zWhy;
  thr_cid cid;   /* of the record block */
  thr_opened op; /* the record block opened */
  int64_t tHeader;
  thr_body *pBody; /* the body opened and parsed (read key holders) */
};
void thr_sync_check(const thr_tkey *pKey, const unsigned char logPk[32],
                    const thr_wire_rec *pRec, thr_checked *pOut);
void thr_checked_clear(thr_checked *p);

/* After the last thr_sync_put() of a transaction, before COMMIT: the
** reducer's deferred work (thr_reduce_flush). */
int thr_sync_flush(thr_sync *p);
/* Before ROLLBACK of a transaction that stored records: the merge rule's
** cached state may hold what is rolled back. */
void thr_sync_rollback(thr_sync *p);

/* Store a record that a peer sent for log logPk as the log's next record,
** applying its actions to the views when this peer holds the read key:
** the record and its effects are stored together or not at all (a
** savepoint; the caller's transaction batches records).  pChk is the
** record's thr_sync_check() result, or NULL to check it here.  *peOut is
** a THR_PUT_*; SQLITE_OK unless storage failed.  *pnSkip counts actions
** the views refused.  A record that passes the checks but is not the one
** this peer holds at its counter, or does not link to the one before, is
** THR_PUT_FORK unless it is one of ours replayed elsewhere (THR_PUT_BAD,
** broken prev link). */
int thr_sync_put(thr_sync *p, sqlite3_int64 iThread, const thr_tkey *pKey,
                 const unsigned char logPk[32], const thr_wire_rec *pRec,
                 const thr_checked *pChk, int *peOut, int *pnSkip,
                 char **pzWhy);

/**************************************************************************
** Interface to code in fork.c: forks of a log and the rule that resolves
** them (see the comment at the top of fork.c).
*/
#define THR_FORK_NONE 0    /* nothing shows a fork (now): nothing changed */
#define THR_FORK_KEPT 1    /* a fork; our branch wins: nothing changed */
#define THR_FORK_ADOPTED 2 /* a fork; theirs won and replaced ours */

typedef struct thr_fork_out thr_fork_out;
struct thr_fork_out {
  int eOut;                /* THR_FORK_* */
  thr_cid ours, theirs;    /* the two records at the fork's counter */
  sqlite3_int64 nAdded;    /* records of the winning branch stored */
  sqlite3_int64 nDropped;  /* records of the losing branch dropped */
  sqlite3_int64 nReissued; /* ...of which re-issued in a new log of ours */
};

/* The rule: does the branch whose record at the fork's counter is pA win
** over the one whose record there is pB? */
int thr_fork_wins(const thr_cid *pA, const thr_cid *pB);

/* A peer's branch of log logPk from counter iFork on: aRec[0..nRec) in
** order, aRec[0] at iFork, with their thr_sync_check() results.  If it
** shows a fork at iFork (we hold another record there; theirs follows our
** iFork - 1), apply the rule: keep ours, or re-issue ours when it is our
** own log, drop it, store theirs and rebuild the thread's views, all in one
** savepoint.  *pOut says what happened; SQLITE_OK unless storage failed
** (then nothing changed). */
int thr_fork_resolve(thr_sync *pSync, sqlite3_int64 iThread,
                     const thr_tid *pTid, const thr_tkey *pKey,
                     const unsigned char logPk[32], sqlite3_int64 iFork,
                     const thr_wire_rec *aRec, const thr_checked *aChk,
                     size_t nRec, thr_fork_out *pOut, char **pzErr);

#endif /* THR_SYNC_H */
