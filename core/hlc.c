/*
** hlc.c: hybrid logical clocks, and the order key of an action.
**
** CLOCK: unix ms << 16 | a 16-bit counter.  A writer ticks past both the
** wall clock and every clock it has seen, so its clocks only grow.
**
** ORDER KEY (THR_ORD_BYTES = 80 bytes, compared with memcmp):
**
**   hlc (8, big-endian) || log public key (32) || record CID (36) ||
**   index of the action in the record's body (4, big-endian)
**
** This is the thread's one total order of actions (reduce.c).  The CID of
** a record is known only once it is sealed, so an action written here
** carries 36 bytes of 0xff in its place on this peer; that never decides
** anything, because a local action's (hlc, log) is past every action this
** peer holds of its collection (reduce.c moves it there), and no other
** honest record has the same (hlc, log).
*/
#include "thr_core.h"

#include <string.h>

uint64_t thr_hlc_tick(uint64_t *pLast, int64_t nowMs) {
  uint64_t now = (uint64_t)nowMs << 16;
  *pLast = now > *pLast ? now : *pLast + 1;
  return *pLast;
}

void thr_hlc_observe(uint64_t *pLast, uint64_t remote) {
  if (remote > *pLast) {
    *pLast = remote;
  }
}

void thr_ord_make(unsigned char o[THR_ORD_BYTES], uint64_t hlc,
                  const unsigned char logPk[32], const unsigned char *cid,
                  uint32_t idx) {
  int i;
  for (i = 0; i < 8; i++) {
    o[i] = (unsigned char)(hlc >> (56 - 8 * i));
  }
  memcpy(o + 8, logPk, 32);
  if (cid) {
    memcpy(o + 40, cid, 36);
  } else {
    memset(o + 40, 0xff, 36);
  }
  for (i = 0; i < 4; i++) {
    o[76 + i] = (unsigned char)(idx >> (24 - 8 * i));
  }
}

uint64_t thr_ord_hlc(const unsigned char *o) {
  uint64_t hlc = 0;
  int i;
  for (i = 0; i < 8; i++) {
    hlc = (hlc << 8) | o[i];
  }
  return hlc;
}
