/*
** thr_invite.h: interface to code in invite.c.
**
** An invite is the text one member of a thread hands to a new peer: the
** thread ID, the thread key (or only its service half), the role the new
** peer gets and the addresses at which the inviter listens.  The format is
** specified at the top of invite.c.
*/
#ifndef THR_INVITE_H
#define THR_INVITE_H

#include "thr_core.h"

#define THR_ROLE_FOLLOW 1 /* Service key only: stores and relays records */
#define THR_ROLE_READ 2   /* Full key: also decrypts record bodies */
#define THR_ROLE_WRITE 3  /* Full key: also writes its own log */

#define THR_INVITE_MAX_ADDR 16      /* addr= parameters in one invite */
#define THR_INVITE_MAX_ADDR_LEN 512 /* bytes of one decoded address */
#define THR_INVITE_MAX_TEXT 16384   /* bytes of invite text */

typedef struct thr_invite thr_invite;
struct thr_invite {
  thr_tid tid;
  thr_tkey key;                      /* Secret; thr_invite_clear() wipes it */
  int eRole;                         /* THR_ROLE_* */
  int nAddr;                         /* Entries used in azAddr[] */
  char *azAddr[THR_INVITE_MAX_ADDR]; /* Decoded nng URLs.  Owned; freed by
                                     ** thr_invite_clear() */
};

/* Parse invite text z into *p, which need not be initialized beforehand.
** On success the caller owns *p and releases it with thr_invite_clear().
** On a malformed invite returns SQLITE_ERROR with *pzErr set to
** "invalid invite: <reason>" (owned by the caller; never quotes the key);
** SQLITE_NOMEM on OOM (*pzErr may then be left NULL).  On any error *p
** holds nothing to free: the addresses are freed and the key wiped. */
int thr_invite_parse(const char *z, thr_invite *p, char **pzErr);

/* Free the addresses and wipe the key (the whole struct is zeroed).  Safe
** on a zeroed struct and when called twice. */
void thr_invite_clear(thr_invite *p);

/* Role name <-> constant: "write", "read", "follow" (case-sensitive).
** thr_role_parse() returns 0 for an unknown name or NULL; thr_role_name()
** returns NULL for a value that is not a THR_ROLE_* constant. */
int thr_role_parse(const char *z);
const char *thr_role_name(int eRole);

/* Invite text, sqlite3_malloc'd.  It contains a key: the caller wipes it
** with sodium_memzero() before sqlite3_free().  For THR_ROLE_FOLLOW only
** the service key is written, even if pKey has a read key.  role= is always
** written.  Addresses are percent-encoded (every byte except the RFC 3986
** unreserved characters A-Z a-z 0-9 - . _ ~).
**
** Returns NULL on OOM, on THR_ROLE_READ or THR_ROLE_WRITE with a key that
** has no read key, and on arguments from which thr_invite_parse() would
** reject the result: an unknown role, an invalid thread ID, nAddr outside
** 0..THR_INVITE_MAX_ADDR, an address that is NULL, empty, longer than
** THR_INVITE_MAX_ADDR_LEN, holds nothing after its scheme or does not start
** with tcp://, ipc:// or inproc://, or text longer than
** THR_INVITE_MAX_TEXT. */
char *thr_invite_text(const thr_tid *pTid, const thr_tkey *pKey, int eRole,
                      const char *const *azAddr, int nAddr);

#endif /* THR_INVITE_H */
