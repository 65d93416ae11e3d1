#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "refx/buf.h"

/** refx_buf_init(b, cap): Make ${b} empty with a maximum size of ${cap}. */
void
refx_buf_init(struct refx_buf *b, size_t cap)
{

	b->b_data = NULL;
	b->b_len = 0;
	b->b_alloc = 0;
	b->b_cap = cap;
}

/* Make room for ${need} bytes plus the terminating NUL. */
static int
grow(struct refx_buf *b, size_t need)
{
	size_t n;
	uint8_t *p;

	if (need < b->b_alloc)
		return (0);
	n = b->b_alloc ? b->b_alloc : 64;
	while (n <= need) {
		if (n > SIZE_MAX / 2) {
			errno = ENOMEM;
			return (-1);
		}
		n *= 2;
	}
	if ((p = malloc(n)) == NULL)
		return (-1);
	/* Copy then wipe the old block: buffers may hold secrets. */
	if (b->b_data != NULL) {
		memcpy(p, b->b_data, b->b_len);
		sodium_memzero(b->b_data, b->b_alloc);
		free(b->b_data);
	}
	b->b_data = p;
	b->b_alloc = n;
	b->b_data[b->b_len] = '\0';
	return (0);
}

/**
 * refx_buf_add(b, data, len): Append ${len} bytes.  Return 0, or -1 with
 * errno = EFBIG if the cap would be exceeded (nothing is appended) or
 * ENOMEM.
 */
int
refx_buf_add(struct refx_buf *b, const void *data, size_t len)
{

	if (len > b->b_cap || b->b_len > b->b_cap - len) {
		errno = EFBIG;
		return (-1);
	}
	if (grow(b, b->b_len + len))
		return (-1);
	if (len > 0)
		memcpy(b->b_data + b->b_len, data, len);
	b->b_len += len;
	b->b_data[b->b_len] = '\0';
	return (0);
}

/** refx_buf_addstr(b, s): Append the C string ${s}; as refx_buf_add. */
int
refx_buf_addstr(struct refx_buf *b, const char *s)
{

	return (refx_buf_add(b, s, strlen(s)));
}

/** refx_buf_reset(b): Make ${b} empty, keeping its memory and cap. */
void
refx_buf_reset(struct refx_buf *b)
{

	if (b->b_data != NULL) {
		sodium_memzero(b->b_data, b->b_alloc);
		b->b_data[0] = '\0';
	}
	b->b_len = 0;
}

/** refx_buf_free(b): Wipe and free the contents; ${b} may be reinitialised. */
void
refx_buf_free(struct refx_buf *b)
{

	if (b == NULL)
		return;
	if (b->b_data != NULL) {
		sodium_memzero(b->b_data, b->b_alloc);
		free(b->b_data);
	}
	b->b_data = NULL;
	b->b_len = 0;
	b->b_alloc = 0;
}

/**
 * refx_buf_take(b, len): Return the contents (caller frees) and their
 * length in ${len}; ${b} is left empty.  Never NULL: an empty buffer
 * yields an empty allocated string, or NULL on ENOMEM.
 */
uint8_t *
refx_buf_take(struct refx_buf *b, size_t *len)
{
	uint8_t *p;

	if (b->b_data == NULL && grow(b, 0))
		return (NULL);
	p = b->b_data;
	if (len != NULL)
		*len = b->b_len;
	b->b_data = NULL;
	b->b_len = 0;
	b->b_alloc = 0;
	return (p);
}
