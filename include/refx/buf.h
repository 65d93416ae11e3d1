#ifndef REFX_BUF_H
#define REFX_BUF_H

/*
 * A growable byte buffer with a hard cap fixed at init (after curl's
 * dynbuf): every buffer fed by a peer or a file has a bound.
 */
#include <stddef.h>
#include <stdint.h>

struct refx_buf {
	uint8_t	*b_data;	/* NUL-terminated for convenience */
	size_t	 b_len;
	size_t	 b_alloc;
	size_t	 b_cap;		/* maximum b_len */
};

/** refx_buf_init(b, cap): Make ${b} empty with a maximum size of ${cap}. */
void refx_buf_init(struct refx_buf *, size_t);

/**
 * refx_buf_add(b, data, len): Append ${len} bytes.  Return 0, or -1 with
 * errno = EFBIG if the cap would be exceeded (nothing is appended) or
 * ENOMEM.
 */
int refx_buf_add(struct refx_buf *, const void *, size_t)
    __attribute__((warn_unused_result));

/** refx_buf_addstr(b, s): Append the C string ${s}; as refx_buf_add. */
int refx_buf_addstr(struct refx_buf *, const char *)
    __attribute__((warn_unused_result));

/** refx_buf_reset(b): Make ${b} empty, keeping its memory and cap. */
void refx_buf_reset(struct refx_buf *);

/** refx_buf_free(b): Wipe and free the contents; ${b} may be reinitialised. */
void refx_buf_free(struct refx_buf *);

/**
 * refx_buf_take(b, len): Return the contents (caller frees) and their
 * length in ${len}; ${b} is left empty.  Never NULL: an empty buffer
 * yields an empty allocated string, or NULL on ENOMEM.
 */
uint8_t *refx_buf_take(struct refx_buf *, size_t *);

#endif /* !REFX_BUF_H */
