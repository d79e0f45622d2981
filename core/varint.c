#include "thr_core.h"

/*
** varint.c: unsigned LEB128 varints as multiformats uses them.
**
** Each byte carries seven bits of the value, least significant group
** first; the high bit is set on every byte but the last.  A uint64 needs
** at most ten bytes, and the tenth may only carry the single top bit.
**
** Decoding is strict: an encoding that ends in a 0x00 byte after a
** continuation byte (such as 80 00) spells a value that also has a shorter
** form, so it is refused.  Otherwise two different byte strings could name
** the same CID or ID.
*/

/* Write v into a[] (which has room for THR_UVARINT_MAX bytes) and return
** the number of bytes written, from 1 to THR_UVARINT_MAX. */
int thr_uvarint_put(unsigned char *a, uint64_t v) {
  int i = 0;
  while (v >= 0x80) {
    a[i++] = (unsigned char)((v & 0x7f) | 0x80);
    v >>= 7;
  }
  a[i++] = (unsigned char)v;
  return i;
}

/* Read one varint from the start of (a, n).  On success store the value
** in *pV and return the number of bytes it used.  Return 0 when a[] ends
** inside the varint, and -1 when the varint is longer than ten bytes,
** does not fit in 64 bits, or is not in its shortest form.  *pV is set to
** zero whenever the return value is not positive. */
int thr_uvarint_get(const unsigned char *a, size_t n, uint64_t *pV) {
  uint64_t v = 0;
  size_t i;
  *pV = 0;
  for (i = 0; i < n && i < THR_UVARINT_MAX; i++) {
    unsigned int b = a[i];
    /* The tenth byte sits at bit 63, so only its lowest bit fits and it
    ** must be the last byte; anything else overflows 64 bits. */
    if (i == THR_UVARINT_MAX - 1 && b > 1) {
      return -1;
    }
    v |= (uint64_t)(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      /* A zero final byte adds nothing, so the previous byte could have
      ** ended the varint: that is a non-minimal encoding. */
      if (b == 0 && i > 0) {
        return -1;
      }
      *pV = v;
      return (int)(i + 1);
    }
  }
  /* The tenth byte always ends the loop with a verdict, so getting here
  ** means a[] ran out first. */
  return 0;
}
