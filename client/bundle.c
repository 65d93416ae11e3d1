/*
 * Audit bundles and their verification (see bundle.h).  No file is opened
 * here: bundle_read and bundle_verify read the descriptor they are given.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "refx/audit.h"
#include "refx/cert.h"
#include "refx/identity.h"
#include "refx/merkle.h"
#include "refx/note.h"
#include "refx/secret.h"

#include "bundle.h"

#define PEM_BEGIN	"-----BEGIN CERTIFICATE-----"
#define ORIGIN_UNIT	"/audit/"	/* an origin ends in /audit/UNIT */
#define NKEYS		6		/* members of a bundle file */
#define FORMAT_MAX	64		/* bytes of its "format" */
#define B64_MAX		((REFX_AUDIT_ENTRY_MAX + 2) / 3 * 4)
					/* base64 of the largest entry */
#define HLEN		REFX_MERKLE_HASH_LEN
#define LEAF_PREFIX	0x00		/* RFC 9162: leaf = H(0x00 || entry) */
#define NODE_PREFIX	0x01		/* node = H(0x01 || left || right) */
#define XX		0xff		/* not a base64 character */

/* The value of each base64 character (standard alphabet), or XX. */
static const uint8_t b64_val[256] = {
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, 62, XX, XX, XX, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, XX, XX, XX, XX, XX, XX,
	XX,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, XX, XX, XX, XX, XX,
	XX, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
};

/* The members of a bundle file, and the longest value of each string. */
enum { K_FORMAT, K_UNIT, K_ORIGIN, K_CERT, K_CHECKPOINT, K_ENTRIES };
static const struct {
	const char	*k_name;
	size_t		 k_max;
} keys[NKEYS] = {
	{ "format", FORMAT_MAX },
	{ "unit", REFX_AGENCY_ID_MAX },
	{ "origin", REFX_NOTE_NAME_MAX },
	{ "certificate", BUNDLE_CERT_MAX },
	{ "checkpoint", REFX_NOTE_MAX },
	{ "entries", 0 },
};

#define NOT_BUNDLE	"not a " BUNDLE_FORMAT " file (an object with " \
			"exactly format, unit, origin, certificate, " \
			"checkpoint and entries)"
#define BAD_MEMBER	"unit, origin, certificate, checkpoint or entries " \
			"is missing, of the wrong type or too long"

/** bundle_new(): An empty bundle (free with bundle_free), or NULL. */
struct bundle *
bundle_new(void)
{
	struct bundle *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		goto err0;
	b->b_offalloc = 1024;
	if ((b->b_off = malloc(b->b_offalloc * sizeof(*b->b_off))) == NULL)
		goto err1;
	b->b_off[0] = 0;
	b->b_fd = -1;
	return (b);

err1:
	free(b);
err0:
	return (NULL);
}

/** bundle_free(b): Free ${b}; NULL is a no-op. */
void
bundle_free(struct bundle *b)
{

	if (b == NULL)
		return;
	free(b->b_cert);
	free(b->b_checkpoint);
	free(b->b_data);
	free(b->b_off);
	free(b);
}

/* Is ${s} an origin: a note key name (no space, '+' or control)? */
static int
origin_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), k;
	unsigned long cp;

	if (n == 0 || n > REFX_NOTE_NAME_MAX)
		return (0);
	while (n > 0) {
		if ((k = refx_utf8_decode(p, n, &cp)) == 0 ||
		    refx_char_forbidden(cp) || cp == ' ' || cp == '+')
			return (0);
		p += k;
		n -= k;
	}
	return (1);
}

/* Copy ${s} (or NULL) into a new string in ${out}.  Return 0 or -1. */
static int
dup_opt(const char *s, char **out)
{

	*out = NULL;
	if (s != NULL && (*out = strdup(s)) == NULL)
		return (-1);
	return (0);
}

/**
 * bundle_set(b, unit, origin, cert, checkpoint): Set the log's unit and
 * origin and copy its certificate and checkpoint (either may be NULL).
 * Return 0, or -1 if a value is invalid or too long (as bundle_parse
 * would refuse it) or memory is short.
 */
int
bundle_set(struct bundle *b, const char *unit, const char *origin,
    const char *cert, const char *checkpoint)
{
	char *c, *k;

	if (!refx_agency_id_valid(unit) || !origin_valid(origin) ||
	    (cert != NULL && (strlen(cert) > BUNDLE_CERT_MAX ||
	    strncmp(cert, PEM_BEGIN, strlen(PEM_BEGIN)) != 0)) ||
	    (checkpoint != NULL && strlen(checkpoint) > REFX_NOTE_MAX))
		goto err0;
	if (dup_opt(cert, &c))
		goto err0;
	if (dup_opt(checkpoint, &k))
		goto err1;
	memcpy(b->b_unit, unit, strlen(unit) + 1);
	memcpy(b->b_origin, origin, strlen(origin) + 1);
	free(b->b_cert);
	free(b->b_checkpoint);
	b->b_cert = c;
	b->b_checkpoint = k;
	return (0);

err1:
	free(c);
err0:
	return (-1);
}

/**
 * bundle_add(b, entry, len): Append the ${len}-byte entry ${entry}.
 * Return 0, or -1 if it exceeds REFX_AUDIT_ENTRY_MAX bytes, the bundle
 * holds BUNDLE_ENTRIES_MAX entries already, or memory is short.
 */
int
bundle_add(struct bundle *b, const uint8_t *entry, size_t len)
{
	size_t na, *off;
	uint8_t *data;

	if (len > REFX_AUDIT_ENTRY_MAX || b->b_n >= BUNDLE_ENTRIES_MAX ||
	    b->b_fd != -1)
		return (-1);

	/* Room for one more offset, and for the bytes (sizes are bounded). */
	if (b->b_n + 2 > b->b_offalloc) {
		na = b->b_offalloc * 2;
		if ((off = realloc(b->b_off, na * sizeof(*off))) == NULL)
			return (-1);
		b->b_off = off;
		b->b_offalloc = na;
	}
	if (b->b_datalen + len > b->b_dataalloc) {
		na = b->b_dataalloc < 65536 ? 65536 : b->b_dataalloc;
		while (na < b->b_datalen + len)
			na *= 2;
		if ((data = realloc(b->b_data, na)) == NULL)
			return (-1);
		b->b_data = data;
		b->b_dataalloc = na;
	}
	if (len > 0)
		memcpy(b->b_data + b->b_datalen, entry, len);
	b->b_datalen += len;
	b->b_off[++b->b_n] = b->b_datalen;
	return (0);
}

/*
 * Decode the ${n} characters of padded standard base64 at ${s} into
 * ${out}, at most ${max} bytes, accepting exactly what refx_b64_decode
 * accepts: the alphabet only, '=' only as the last one or two characters,
 * and the bits the padding leaves over zero, so that a value has one
 * encoding.  Return 0 with the length in ${outlen}, or -1.
 *
 * Table-driven, not constant-time: an audit entry is public to whoever
 * verifies it (libsodium's constant-time decoder was 18 % of a verify).
 */
static int
b64_decode(const uint8_t *s, size_t n, uint8_t *out, size_t max,
    size_t *outlen)
{
	size_t pad = 0, whole, i, o = 0;
	unsigned a, b, c, d;

	if (n % 4 != 0)
		return (-1);
	if (n > 0 && s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	if (n / 4 * 3 - pad > max)
		return (-1);

	/* The quanta of three bytes; a padded last one apart. */
	whole = pad > 0 ? n - 4 : n;
	for (i = 0; i < whole; i += 4) {
		a = b64_val[s[i]];
		b = b64_val[s[i + 1]];
		c = b64_val[s[i + 2]];
		d = b64_val[s[i + 3]];
		if ((a | b | c | d) & 0x80)
			return (-1);
		out[o++] = (uint8_t)(a << 2 | b >> 4);
		out[o++] = (uint8_t)(b << 4 | c >> 2);
		out[o++] = (uint8_t)(c << 6 | d);
	}
	if (pad > 0) {
		a = b64_val[s[i]];
		b = b64_val[s[i + 1]];
		c = pad == 1 ? b64_val[s[i + 2]] : 0;
		if ((a | b | c) & 0x80 || (pad == 2 && (b & 0x0f) != 0) ||
		    (pad == 1 && (c & 0x03) != 0))
			return (-1);
		out[o++] = (uint8_t)(a << 2 | b >> 4);
		if (pad == 1)
			out[o++] = (uint8_t)(b << 4 | c >> 2);
	}
	*outlen = o;
	return (0);
}

/*
 * Is ${s} (${n} characters) what b64_decode accepts, decoding to at most
 * ${max} bytes?  The same checks without the decoding, for the pass that
 * only checks a file (about twice as fast).  Return 0 or -1.
 */
static int
b64_valid(const uint8_t *s, size_t n, size_t max)
{
	size_t pad = 0, whole, i;
	unsigned acc = 0, b, c;

	if (n % 4 != 0)
		return (-1);
	if (n > 0 && s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	if (n / 4 * 3 - pad > max)
		return (-1);

	/* Four lookups a turn, not one: no chain of dependent ORs. */
	whole = pad > 0 ? n - 4 : n;
	for (i = 0; i < whole; i += 4)
		acc |= (b64_val[s[i]] | b64_val[s[i + 1]]) |
		    (b64_val[s[i + 2]] | b64_val[s[i + 3]]);
	if (pad > 0) {
		b = b64_val[s[i + 1]];
		c = pad == 1 ? b64_val[s[i + 2]] : 0;
		acc |= b64_val[s[i]] | b | c;
		if ((pad == 2 && (b & 0x0f) != 0) ||
		    (pad == 1 && (c & 0x03) != 0))
			return (-1);
	}
	return (acc & 0x80 ? -1 : 0);
}

/** bundle_add_b64(b, s): As bundle_add, from base64; -1 also if malformed. */
int
bundle_add_b64(struct bundle *b, const char *s)
{
	uint8_t raw[REFX_AUDIT_ENTRY_MAX];
	size_t len;

	if (b64_decode((const uint8_t *)s, strlen(s), raw, sizeof(raw), &len))
		return (-1);
	return (bundle_add(b, raw, len));
}

/* --- reading a bundle file ------------------------------------------------ */

/*
 * The bytes of a bundle file: all in memory, or read from a descriptor
 * through a window of BUNDLE_WINDOW bytes.  s_p and s_end are the bytes
 * read and not yet scanned; a read refills the window, keeping them.
 */
struct src {
	int		 s_fd;		/* -1: all of it is in memory */
	uint8_t		*s_buf;		/* the window (from a descriptor) */
	const uint8_t	*s_p;		/* the next byte */
	const uint8_t	*s_end;		/* the end of what was read */
	uint64_t	 s_off;		/* the file offset of s_end */
	int		 s_eof;		/* nothing more to read */
	int		 s_errno;	/* why reading stopped: a read's
					   errno, EFBIG or ENOBUFS */
};

/* Make ${s} the ${len} bytes at ${text}. */
static void
src_mem(struct src *s, const uint8_t *text, size_t len)
{

	memset(s, 0, sizeof(*s));
	s->s_fd = -1;
	s->s_p = text;
	s->s_end = text + len;
	s->s_off = len;
	s->s_eof = 1;
}

/* Make ${s} the file ${fd} from offset ${off}.  Return 0 or -1. */
static int
src_file(struct src *s, int fd, uint64_t off)
{

	memset(s, 0, sizeof(*s));
	if ((s->s_buf = malloc(BUNDLE_WINDOW)) == NULL)
		return (-1);
	s->s_fd = fd;
	s->s_p = s->s_end = s->s_buf;
	s->s_off = off;
	return (0);
}

/* Free what ${s} holds. */
static void
src_free(struct src *s)
{

	free(s->s_buf);
	s->s_buf = NULL;
}

/* The file offset of the next byte of ${s}. */
static uint64_t
src_pos(const struct src *s)
{

	return (s->s_off - (uint64_t)(s->s_end - s->s_p));
}

/*
 * Read more into the window of ${s}, keeping its unscanned bytes.  Return
 * 1 if there are more, 0 at the end of the file, or -1 with s_errno set:
 * a read failed, or the file passed BUNDLE_FILE_MAX bytes (EFBIG).
 */
static int
src_more(struct src *s)
{
	size_t keep = (size_t)(s->s_end - s->s_p);
	ssize_t n;

	if (s->s_eof || s->s_errno != 0)
		return (s->s_errno != 0 ? -1 : 0);

	/* Callers never keep more than a string of BUNDLE_TOKEN_MAX. */
	if (keep > 0 && s->s_p != s->s_buf)
		memmove(s->s_buf, s->s_p, keep);
	s->s_p = s->s_buf;
	s->s_end = s->s_buf + keep;
	do
		n = pread(s->s_fd, s->s_buf + keep, BUNDLE_WINDOW - keep,
		    (off_t)s->s_off);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		s->s_errno = errno != 0 ? errno : EIO;
		return (-1);
	}
	if (n == 0) {
		s->s_eof = 1;
		return (0);
	}
	s->s_off += (uint64_t)n;
	s->s_end += n;
	if (s->s_off > BUNDLE_FILE_MAX) {
		s->s_errno = EFBIG;
		return (-1);
	}
	return (1);
}

/*
 * Skip JSON whitespace in ${s}.  Return the next byte (not consumed), or
 * -1 at the end of the input or if reading failed (s_errno).  The loop
 * ends: each turn consumes a byte or reads more of a bounded file.
 */
static int
src_next(struct src *s)
{

	for (;;) {
		for (; s->s_p < s->s_end; s->s_p++)
			if (*s->s_p != ' ' && *s->s_p != '\t' &&
			    *s->s_p != '\n' && *s->s_p != '\r')
				return (*s->s_p);
		if (src_more(s) != 1)
			return (-1);
	}
}

/*
 * The end of the JSON string token that starts at ${p} (a '"') within
 * ${n} bytes: its closing '"', or NULL if it is not within them.  Sets
 * ${esc} if the token holds a backslash.  Base64 has no escapes: two
 * memchr() find most tokens' ends.
 */
static const uint8_t *
token_end(const uint8_t *p, size_t n, int *esc)
{
	const uint8_t *q;
	size_t i;

	*esc = 0;
	if ((q = memchr(p + 1, '"', n - 1)) == NULL)
		return (NULL);
	if (memchr(p + 1, '\\', (size_t)(q - p - 1)) == NULL)
		return (q);

	/* Walk it: the byte after a backslash is never the end. */
	*esc = 1;
	for (i = 1; i < n; i++) {
		if (p[i] == '\\')
			i++;
		else if (p[i] == '"')
			return (p + i);
	}
	return (NULL);
}

/*
 * Take the JSON string token at the next byte of ${s} (a '"'): its bytes,
 * quotes included, in ${tok} and ${len}, valid until ${s} reads again,
 * and whether it holds an escape in ${esc}.  Only its end is found here.
 * Return 0, or -1 if the input ends first, reading failed, or the token
 * is longer than BUNDLE_TOKEN_MAX (s_errno ENOBUFS): no value the format
 * allows is, even with every character escaped.
 */
static int
src_string(struct src *s, const uint8_t **tok, size_t *len, int *esc)
{
	const uint8_t *q;
	size_t have;

	for (;;) {
		have = (size_t)(s->s_end - s->s_p);
		if ((q = token_end(s->s_p, have, esc)) != NULL) {
			*tok = s->s_p;
			*len = (size_t)(q + 1 - s->s_p);
			if (*len > BUNDLE_TOKEN_MAX)
				break;
			s->s_p = q + 1;
			return (0);
		}
		if (have > BUNDLE_TOKEN_MAX)
			break;
		if (src_more(s) != 1)
			return (-1);
	}
	s->s_errno = ENOBUFS;
	return (-1);
}

/*
 * Why scanning ${s} stopped at the end of its input or a failed read:
 * a message in ${err} (${what} if the input just ended), and the status.
 */
static int
src_fail(const struct src *s, const char *what, char *err, size_t errlen)
{

	switch (s->s_errno) {
	case 0:
		snprintf(err, errlen, "not JSON: the file ends %s", what);
		return (BUNDLE_EMALFORMED);
	case EFBIG:
		snprintf(err, errlen, "larger than %llu bytes",
		    (unsigned long long)BUNDLE_FILE_MAX);
		return (BUNDLE_EMALFORMED);
	case ENOBUFS:
		snprintf(err, errlen, "a string at byte %llu is longer than "
		    "%d bytes", (unsigned long long)src_pos(s),
		    BUNDLE_TOKEN_MAX);
		return (BUNDLE_EMALFORMED);
	default:
		snprintf(err, errlen, "cannot read: %s", strerror(s->s_errno));
		return (BUNDLE_EREAD);
	}
}

/* The JSON string token ${tok}, decoded by jansson, or NULL if invalid. */
static json_t *
token_json(const uint8_t *tok, size_t len)
{
	json_error_t je;
	json_t *v;

	if ((v = json_loadb((const char *)tok, len, JSON_DECODE_ANY, &je)) !=
	    NULL && !json_is_string(v)) {
		json_decref(v);
		v = NULL;
	}
	return (v);
}

/*
 * Decode the ${n} base64 characters at ${s} into ${out} (at least
 * REFX_AUDIT_ENTRY_MAX bytes), or if ${out} is NULL only check them.
 * Return 0 (with the length in ${outlen}) or -1.
 */
static int
b64_entry(const uint8_t *s, size_t n, uint8_t *out, size_t *outlen)
{

	if (out == NULL)
		return (b64_valid(s, n, REFX_AUDIT_ENTRY_MAX));
	return (b64_decode(s, n, out, REFX_AUDIT_ENTRY_MAX, outlen));
}

/*
 * Decode the entry whose string token is ${tok} as b64_entry does.  A
 * token without escapes is its own value if it is base64 at all; one
 * with escapes is decoded by jansson first.  Return 0 or -1.
 */
static int
entry_decode(const uint8_t *tok, size_t len, int esc, uint8_t *out,
    size_t *outlen)
{
	json_t *v;
	int rc = -1;

	if (!esc)
		return (b64_entry(tok + 1, len - 2, out, outlen));
	if ((v = token_json(tok, len)) == NULL)
		return (-1);
	if (json_string_length(v) <= B64_MAX)
		rc = b64_entry((const uint8_t *)json_string_value(v),
		    json_string_length(v), out, outlen);
	json_decref(v);
	return (rc);
}

/*
 * What each entry is handed to as the entries array is scanned: (cookie,
 * its index, its bytes, their length).  It returns BUNDLE_OK to go on, or
 * the status to stop with (its message written already).
 */
typedef int entry_fn(void *, size_t, const uint8_t *, size_t);

/*
 * Scan the entries array whose '[' is the next byte of ${s}: each entry
 * a string, the base64 of at most REFX_AUDIT_ENTRY_MAX bytes, decoded
 * into ${ent} and handed to ${fn} (if ${fn} is NULL, only checked); at
 * most BUNDLE_ENTRIES_MAX of them.  Return BUNDLE_OK with their number in
 * ${n}, ${fn}'s status, or another status with a message in ${err}.
 */
static int
scan_entries(struct src *s, uint8_t *ent, entry_fn *fn, void *cookie,
    size_t *n, char *err, size_t errlen)
{
	const uint8_t *tok;
	size_t i, len, elen;
	int c, esc, st;

	*n = 0;
	s->s_p++;
	if ((c = src_next(s)) == ']') {
		s->s_p++;
		return (BUNDLE_OK);
	}
	for (i = 0; i < BUNDLE_ENTRIES_MAX; i++) {
		if (c == -1)
			return (src_fail(s, "inside entries", err, errlen));
		if (c != '"')
			goto bad;
		if (src_string(s, &tok, &len, &esc))
			return (src_fail(s, "inside entries", err, errlen));
		if (entry_decode(tok, len, esc, fn != NULL ? ent : NULL, &elen))
			goto bad;
		if (fn != NULL && (st = fn(cookie, i, ent, elen)) != BUNDLE_OK)
			return (st);

		/* A ',' and the next, or the end. */
		if ((c = src_next(s)) == ']') {
			s->s_p++;
			*n = i + 1;
			return (BUNDLE_OK);
		}
		if (c == -1)
			return (src_fail(s, "inside entries", err, errlen));
		if (c != ',') {
			snprintf(err, errlen, "not JSON: ',' or ']' expected "
			    "after entries[%zu]", i);
			return (BUNDLE_EMALFORMED);
		}
		s->s_p++;
		c = src_next(s);
	}
	snprintf(err, errlen, "more than %d entries", BUNDLE_ENTRIES_MAX);
	return (BUNDLE_EMALFORMED);

bad:
	snprintf(err, errlen, "entries[%zu] is not the base64 of at most %d "
	    "bytes", i, REFX_AUDIT_ENTRY_MAX);
	return (BUNDLE_EMALFORMED);
}

/* A bundle file's members, as scanned. */
struct head {
	int		 h_seen[NKEYS];
	char		*h_val[NKEYS];	/* a string within its bound, or NULL */
	uint64_t	 h_off;		/* where the entries array starts */
	size_t		 h_n;		/* entries */
};

/* Free the strings of ${h}. */
static void
head_free(struct head *h)
{
	size_t k;

	for (k = 0; k < NKEYS; k++) {
		free(h->h_val[k]);
		h->h_val[k] = NULL;
	}
}

/*
 * Scan the member name at the next byte of ${s} (a '"'), decoded as
 * jansson does, into ${k}: the index of a key of the format, or NKEYS.
 * Return 0, or -1 if it is not a valid string.
 */
static int
scan_key(struct src *s, size_t *k)
{
	const uint8_t *tok;
	size_t len;
	json_t *v;
	int esc;

	if (src_string(s, &tok, &len, &esc) || (v = token_json(tok, len)) ==
	    NULL)
		return (-1);
	for (*k = 0; *k < NKEYS; (*k)++)
		if (strlen(keys[*k].k_name) == json_string_length(v) &&
		    strcmp(keys[*k].k_name, json_string_value(v)) == 0)
			break;
	json_decref(v);
	return (0);
}

/*
 * Scan the value of string member ${k} at the next byte of ${s} into
 * ${h}: kept only if within its bound and without a NUL.  Return a
 * status, with a message in ${err}.
 */
static int
scan_value(struct src *s, size_t k, struct head *h, char *err, size_t errlen)
{
	const uint8_t *tok;
	size_t len;
	json_t *v;
	int esc;

	if (src_string(s, &tok, &len, &esc))
		return (src_fail(s, "inside a string", err, errlen));
	if ((v = token_json(tok, len)) == NULL) {
		snprintf(err, errlen, "not JSON: the value of %s is not a "
		    "valid string", keys[k].k_name);
		return (BUNDLE_EMALFORMED);
	}
	if (json_string_length(v) <= keys[k].k_max &&
	    strlen(json_string_value(v)) == json_string_length(v) &&
	    (h->h_val[k] = strdup(json_string_value(v))) == NULL) {
		json_decref(v);
		snprintf(err, errlen, "out of memory");
		return (BUNDLE_ENOMEM);
	}
	json_decref(v);
	return (BUNDLE_OK);
}

/*
 * Scan a whole bundle file from ${s} into ${h}, handing each entry to
 * ${fn} as scan_entries does: one JSON object of the format's members,
 * each at most once, the entries an array of strings and the others
 * strings, and nothing after it but whitespace.  Return BUNDLE_OK, or a
 * status with a message in ${err} (${h} then holds what was scanned).
 */
static int
scan_file(struct src *s, uint8_t *ent, entry_fn *fn, void *cookie,
    struct head *h, char *err, size_t errlen)
{
	size_t m, k;
	int c, st;

	if ((c = src_next(s)) != '{') {
		if (c == -1 && s->s_errno != 0)
			return (src_fail(s, "", err, errlen));
		snprintf(err, errlen, "not JSON: no object");
		return (BUNDLE_EMALFORMED);
	}
	s->s_p++;
	if ((c = src_next(s)) == '}') {
		s->s_p++;
		goto end;
	}

	/* Each member is a key not seen before: at most NKEYS of them. */
	for (m = 0; m <= NKEYS; m++) {
		if (c == -1)
			return (src_fail(s, "inside the object", err, errlen));
		if (c != '"' || scan_key(s, &k)) {
			if (s->s_errno != 0)
				return (src_fail(s, "", err, errlen));
			snprintf(err, errlen, "not JSON: a member name "
			    "expected at byte %llu",
			    (unsigned long long)src_pos(s));
			return (BUNDLE_EMALFORMED);
		}
		if (k == NKEYS || h->h_seen[k]) {
			snprintf(err, errlen, NOT_BUNDLE);
			return (BUNDLE_EMALFORMED);
		}
		h->h_seen[k] = 1;
		if ((c = src_next(s)) != ':') {
			snprintf(err, errlen, "not JSON: ':' expected at byte "
			    "%llu", (unsigned long long)src_pos(s));
			return (c == -1 && s->s_errno != 0 ?
			    src_fail(s, "", err, errlen) : BUNDLE_EMALFORMED);
		}
		s->s_p++;
		c = src_next(s);
		if (k == K_ENTRIES && c == '[') {
			h->h_off = src_pos(s);
			if ((st = scan_entries(s, ent, fn, cookie, &h->h_n, err,
			    errlen)) != BUNDLE_OK)
				return (st);
		} else if (k != K_ENTRIES && c == '"') {
			if ((st = scan_value(s, k, h, err, errlen)) !=
			    BUNDLE_OK)
				return (st);
		} else {
			/* Any other value would have been of the wrong type. */
			if (c == -1)
				return (src_fail(s, "inside the object", err,
				    errlen));
			snprintf(err, errlen, "%s", k == K_FORMAT ? NOT_BUNDLE :
			    BAD_MEMBER);
			return (BUNDLE_EMALFORMED);
		}

		/* A ',' and the next member, or the end of the object. */
		if ((c = src_next(s)) == '}') {
			s->s_p++;
			goto end;
		}
		if (c == -1)
			return (src_fail(s, "inside the object", err, errlen));
		if (c != ',') {
			snprintf(err, errlen, "not JSON: ',' or '}' expected "
			    "at byte %llu", (unsigned long long)src_pos(s));
			return (BUNDLE_EMALFORMED);
		}
		s->s_p++;
		c = src_next(s);
	}
	snprintf(err, errlen, NOT_BUNDLE);
	return (BUNDLE_EMALFORMED);

end:
	/* Nothing after the object but whitespace. */
	if (src_next(s) != -1) {
		snprintf(err, errlen, "not JSON: data after the object, at "
		    "byte %llu", (unsigned long long)src_pos(s));
		return (BUNDLE_EMALFORMED);
	}
	if (s->s_errno != 0)
		return (src_fail(s, "", err, errlen));
	return (BUNDLE_OK);
}

/*
 * Check the members scanned into ${h} as the format wants them and set
 * them in ${b}.  Return a status, with a message in ${err}.
 */
static int
head_check(const struct head *h, struct bundle *b, char *err, size_t errlen)
{
	const char *const *v = (const char *const *)h->h_val;
	size_t k;

	for (k = 0; k < NKEYS; k++)
		if (!h->h_seen[k])
			break;
	if (k < NKEYS || v[K_FORMAT] == NULL ||
	    strcmp(v[K_FORMAT], BUNDLE_FORMAT) != 0) {
		snprintf(err, errlen, NOT_BUNDLE);
		return (BUNDLE_EMALFORMED);
	}
	if (v[K_UNIT] == NULL || !refx_agency_id_valid(v[K_UNIT]) ||
	    v[K_ORIGIN] == NULL || !origin_valid(v[K_ORIGIN]) ||
	    v[K_CERT] == NULL || strncmp(v[K_CERT], PEM_BEGIN,
	    strlen(PEM_BEGIN)) != 0 || v[K_CHECKPOINT] == NULL) {
		snprintf(err, errlen, BAD_MEMBER);
		return (BUNDLE_EMALFORMED);
	}
	if (bundle_set(b, v[K_UNIT], v[K_ORIGIN], v[K_CERT], v[K_CHECKPOINT])) {
		snprintf(err, errlen, "out of memory");
		return (BUNDLE_ENOMEM);
	}
	return (BUNDLE_OK);
}

/* An entry_fn: add the entry to the bundle (the cookie). */
static int
add_entry(void *cookie, size_t i, const uint8_t *e, size_t len)
{

	(void)i;
	return (bundle_add(cookie, e, len) ? BUNDLE_ENOMEM : BUNDLE_OK);
}

/**
 * bundle_parse(text, len, b, err, errlen): Parse a bundle file strictly:
 * exactly the keys above, each of its type and within its bound, every
 * string at most BUNDLE_TOKEN_MAX bytes, every entry the padded base64 of
 * at most REFX_AUDIT_ENTRY_MAX bytes, at most BUNDLE_ENTRIES_MAX entries,
 * nothing after the object.  The entries are decoded into the bundle.
 * Return BUNDLE_OK with the bundle in ${b}, BUNDLE_EMALFORMED with a
 * message in ${err}, or BUNDLE_ENOMEM.
 */
int
bundle_parse(const uint8_t *text, size_t len, struct bundle **bp, char *err,
    size_t errlen)
{
	uint8_t ent[REFX_AUDIT_ENTRY_MAX];
	struct head h;
	struct src s;
	struct bundle *b;
	int st;

	*bp = NULL;
	memset(&h, 0, sizeof(h));
	if ((b = bundle_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		st = BUNDLE_ENOMEM;
		goto err0;
	}
	src_mem(&s, text, len);
	if ((st = scan_file(&s, ent, add_entry, b, &h, err, errlen)) !=
	    BUNDLE_OK) {
		if (st == BUNDLE_ENOMEM)
			snprintf(err, errlen, "out of memory");
		goto err1;
	}
	if ((st = head_check(&h, b, err, errlen)) != BUNDLE_OK)
		goto err1;
	head_free(&h);
	*bp = b;
	return (BUNDLE_OK);

err1:
	head_free(&h);
	bundle_free(b);
err0:
	return (st);
}

/**
 * bundle_read(fd, b, err, errlen): As bundle_parse, from the regular file
 * open on ${fd} (read with pread, from its start, at most BUNDLE_FILE_MAX
 * bytes), keeping the entries in the file: ${fd} must stay open, and
 * unchanged, until bundle_verify.  Return BUNDLE_OK with the bundle in
 * ${b}, or BUNDLE_EMALFORMED, BUNDLE_EREAD or BUNDLE_ENOMEM with a message
 * in ${err}.
 */
int
bundle_read(int fd, struct bundle **bp, char *err, size_t errlen)
{
	struct stat sb;
	struct head h;
	struct src s;
	struct bundle *b;
	int st;

	*bp = NULL;
	memset(&h, 0, sizeof(h));
	if (fstat(fd, &sb) == -1) {
		snprintf(err, errlen, "cannot read: %s", strerror(errno));
		st = BUNDLE_EREAD;
		goto err0;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "cannot read: not a regular file");
		st = BUNDLE_EREAD;
		goto err0;
	}
	if ((uint64_t)sb.st_size > BUNDLE_FILE_MAX) {
		snprintf(err, errlen, "larger than %llu bytes",
		    (unsigned long long)BUNDLE_FILE_MAX);
		st = BUNDLE_EMALFORMED;
		goto err0;
	}
	/* Read once here, once more to verify: tell the kernel. */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if ((b = bundle_new()) == NULL || src_file(&s, fd, 0)) {
		bundle_free(b);
		snprintf(err, errlen, "out of memory");
		st = BUNDLE_ENOMEM;
		goto err0;
	}

	/* Every entry is checked, not kept: bundle_verify reads it again. */
	if ((st = scan_file(&s, NULL, NULL, NULL, &h, err, errlen)) !=
	    BUNDLE_OK || (st = head_check(&h, b, err, errlen)) != BUNDLE_OK)
		goto err1;
	b->b_n = h.h_n;
	b->b_fd = fd;
	b->b_fdoff = h.h_off;
	head_free(&h);
	src_free(&s);
	*bp = b;
	return (BUNDLE_OK);

err1:
	head_free(&h);
	src_free(&s);
	bundle_free(b);
err0:
	return (st);
}

/*
 * Standard base64 of the ${len} bytes at ${in} into ${out}: 4 characters
 * for each 3 bytes or part, '=' for the shortfall, no NUL.
 */
static void
b64_encode(const uint8_t *in, size_t len, char *out)
{
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t v;
	size_t i;

	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = alpha[v >> 18];
		*out++ = alpha[v >> 12 & 63];
		*out++ = alpha[v >> 6 & 63];
		*out++ = alpha[v & 63];
	}
	if (i == len)
		return;
	v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
	*out++ = alpha[v >> 18];
	*out++ = alpha[v >> 12 & 63];
	*out++ = i + 1 < len ? alpha[v >> 6 & 63] : '=';
	*out = '=';
}

/*
 * Lay out the bundle file of ${b}, whose string members jansson encoded
 * into ${js}, as json_dumps(JSON_INDENT(1) | JSON_PRESERVE_ORDER) of the
 * object would: into ${out} if not NULL.  Return its length.
 */
static size_t
text_layout(const struct bundle *b, char *const js[NKEYS - 1], char *out)
{
	size_t n = 0, i, k, l;

#define PUT(s, len) do {						\
	if (out != NULL)						\
		memcpy(out + n, (s), (len));				\
	n += (len);							\
} while (0)
#define PUTS(s) PUT((s), strlen(s))

	PUTS("{\n");
	for (k = 0; k < NKEYS - 1; k++) {
		PUTS(" \"");
		PUTS(keys[k].k_name);
		PUTS("\": ");
		PUTS(js[k]);
		PUTS(",\n");
	}
	PUTS(" \"entries\": [");
	for (i = 0; i < b->b_n; i++) {
		PUTS(i == 0 ? "\n  \"" : ",\n  \"");
		l = b->b_off[i + 1] - b->b_off[i];
		if (out != NULL)
			b64_encode(b->b_data + b->b_off[i], l, out + n);
		n += (l + 2) / 3 * 4;
		PUTS("\"");
	}
	PUTS(b->b_n > 0 ? "\n ]\n}" : "]\n}");
#undef PUTS
#undef PUT
	return (n);
}

/**
 * bundle_text(b, len): The bundle file of ${b} (which must have a
 * certificate and a checkpoint, and its entries in memory), one entry a
 * line, NUL-terminated, with its length in ${len}; caller frees.  Return
 * it, or NULL.
 *
 * The text jansson wrote of a tree of every entry, byte for byte, but
 * laid out here in one allocation: the tree and its copy cost three
 * times the bundle's size in memory (2.9 GB to export a million pull
 * entries).  The string members are still encoded by jansson.
 */
char *
bundle_text(const struct bundle *b, size_t *len)
{
	const char *val[NKEYS - 1];
	char *js[NKEYS - 1] = { NULL }, *text = NULL;
	json_t *v;
	size_t k, n;

	if (b->b_cert == NULL || b->b_checkpoint == NULL || b->b_fd != -1)
		return (NULL);
	val[K_FORMAT] = BUNDLE_FORMAT;
	val[K_UNIT] = b->b_unit;
	val[K_ORIGIN] = b->b_origin;
	val[K_CERT] = b->b_cert;
	val[K_CHECKPOINT] = b->b_checkpoint;
	for (k = 0; k < NKEYS - 1; k++) {
		if ((v = json_string(val[k])) == NULL)
			goto done;
		js[k] = json_dumps(v, JSON_ENCODE_ANY);
		json_decref(v);
		if (js[k] == NULL)
			goto done;
	}
	n = text_layout(b, js, NULL);
	if ((text = malloc(n + 1)) == NULL)
		goto done;
	(void)text_layout(b, js, text);
	text[n] = '\0';
	*len = n;

done:
	for (k = 0; k < NKEYS - 1; k++)
		free(js[k]);
	return (text);
}

/*
 * The text of the signed note ${note}: what comes before the last blank
 * line, with its final newline, copied into ${buf}.  Return 0 or -1.
 */
static int
note_text(const char *note, char *buf, size_t buflen)
{
	size_t n = strlen(note), i;

	for (i = n; i >= 2; i--)
		if (note[i - 1] == '\n' && note[i - 2] == '\n')
			break;
	if (i < 2 || i - 1 >= buflen)
		return (-1);
	memcpy(buf, note, i - 1);
	buf[i - 1] = '\0';
	return (0);
}

/**
 * bundle_checkpoint_size(note, size): The tree size the checkpoint
 * ${note} claims, WITHOUT verifying its signature (to know how many
 * entries to fetch).  Return 0, or -1 if it is not a checkpoint note.
 */
int
bundle_checkpoint_size(const char *note, uint64_t *size)
{
	char text[REFX_NOTE_MAX + 1], origin[REFX_NOTE_NAME_MAX + 1];
	uint8_t root[REFX_CHECKPOINT_HASH_LEN];

	if (note_text(note, text, sizeof(text)) ||
	    refx_checkpoint_parse(text, origin, sizeof(origin), size, root))
		return (-1);
	return (0);
}

/**
 * bundle_check_cert(b, ca, crl, origin, originlen, pk, err, errlen):
 * Verify the log certificate of ${b} against ${ca} and ${crl} (NULL:
 * no revocation check) for the audit-log purpose, and return the origin
 * and Ed25519 key it certifies in ${origin} and ${pk}.  Return BUNDLE_OK,
 * or BUNDLE_EBADSIG with a message in ${err}.
 */
int
bundle_check_cert(const struct bundle *b, struct x509_st *ca,
    struct X509_crl_st *crl, char *origin, size_t originlen,
    uint8_t pk[REFX_NOTE_PK_LEN], char *err, size_t errlen)
{
	struct x509_st *cert;
	const char *why = NULL;
	int st = BUNDLE_EBADSIG;

	if (b->b_cert == NULL) {
		snprintf(err, errlen, "the log of unit %s has no certificate",
		    b->b_unit);
		goto err0;
	}
	if ((cert = refx_cert_parse_pem((const uint8_t *)b->b_cert,
	    strlen(b->b_cert))) == NULL) {
		snprintf(err, errlen, "the log certificate cannot be parsed");
		goto err0;
	}
	if (refx_cert_verify(ca, crl, cert, REFX_CERT_AUDIT_LOG, &why)) {
		snprintf(err, errlen, "the log certificate failed "
		    "verification: %s", why != NULL ? why : "unknown reason");
		goto err1;
	}
	if (refx_cert_audit_log(cert, origin, originlen, pk, &why)) {
		snprintf(err, errlen, "the log certificate is not an audit "
		    "log's: %s", why != NULL ? why : "unknown reason");
		goto err1;
	}
	st = BUNDLE_OK;

err1:
	refx_cert_free(cert);
err0:
	return (st);
}

/* Does ${origin} end in "/audit/${unit}"? */
static int
origin_of_unit(const char *origin, const char *unit)
{
	size_t on = strlen(origin), un = strlen(unit);
	size_t sn = strlen(ORIGIN_UNIT);

	return (on > sn + un && memcmp(origin + on - un - sn, ORIGIN_UNIT,
	    sn) == 0 && strcmp(origin + on - un, unit) == 0);
}

/**
 * bundle_time(ms, buf): Write the UTC time ${ms} (milliseconds since the
 * epoch) to ${buf} as "YYYY-MM-DDTHH:MM:SS.mmmZ", or as "N ms" if it is
 * beyond the year 9999.  Return ${buf}.
 */
char *
bundle_time(uint64_t ms, char buf[BUNDLE_TIME_LEN])
{
	struct tm tm;
	time_t t;

	t = (time_t)(ms / 1000);
	if (ms / 1000 > (uint64_t)253402300799 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, BUNDLE_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, BUNDLE_TIME_LEN, "%llu ms",
		    (unsigned long long)ms);
		return (buf);
	}
	snprintf(buf + strlen(buf), BUNDLE_TIME_LEN - strlen(buf), ".%03uZ",
	    (unsigned)(ms % 1000));
	return (buf);
}

/*
 * Verify the signed checkpoint ${note} (${what}, for messages) with
 * ${key} as log ${origin}: its size and root.  Return a bundle_status.
 */
static int
open_checkpoint(const struct refx_note_key *key, const char *origin,
    const char *what, const char *note, size_t len, uint64_t *size,
    uint8_t root[REFX_MERKLE_HASH_LEN], char *err, size_t errlen)
{

	switch (refx_checkpoint_open(note, len, key, origin, size, root)) {
	case REFX_OK:
		return (BUNDLE_OK);
	case REFX_ENOMEM:
		snprintf(err, errlen, "out of memory");
		return (BUNDLE_ENOMEM);
	case REFX_ECRYPTO:
		snprintf(err, errlen, "%s is not validly signed by the key of "
		    "log %s", what, origin);
		return (BUNDLE_EBADSIG);
	case REFX_EDENIED:
		snprintf(err, errlen, "%s is signed by the key of log %s but "
		    "names another log", what, origin);
		return (BUNDLE_EBADSIG);
	default:
		snprintf(err, errlen, "%s is not a well-formed signed "
		    "checkpoint", what);
		return (BUNDLE_EMALFORMED);
	}
}

/* What verification carries from entry to entry. */
struct vstate {
	const uint64_t		*vs_psize;	/* sizes of the priors */
	uint8_t			(*vs_pgot)[REFX_MERKLE_HASH_LEN];
					/* the roots of the first psize[k] */
	size_t			 vs_nprior;
	size_t			 vs_all;	/* entries, for progress */
	struct refx_merkle_range vs_r;
	EVP_MD			*vs_md;
	EVP_MD_CTX		*vs_ctx;
	uint64_t		 vs_prev;	/* the time of the last entry */
	bundle_progress_fn	*vs_progress;
	void			*vs_cookie;
	struct refx_audit_entry	 vs_e;
	int			 vs_failed;	/* an entry failed */
	char			*vs_err;
	size_t			 vs_errlen;
};

/*
 * SHA-256 of the ${alen} bytes at ${a} then the ${blen} at ${b}, with
 * OpenSSL: it uses the CPU's SHA extensions, three times libsodium's
 * portable code here, and the hashes were most of a verify's checking.
 * Return 0 or -1.
 */
static int
sha256(struct vstate *vs, const uint8_t *a, size_t alen, const uint8_t *b,
    size_t blen, uint8_t out[HLEN])
{

	return (EVP_DigestInit_ex2(vs->vs_ctx, vs->vs_md, NULL) == 1 &&
	    EVP_DigestUpdate(vs->vs_ctx, a, alen) == 1 &&
	    (blen == 0 || EVP_DigestUpdate(vs->vs_ctx, b, blen) == 1) &&
	    EVP_DigestFinal_ex(vs->vs_ctx, out, NULL) == 1 ? 0 : -1);
}

/*
 * Fold the entry ${p} (${len} bytes) into the compact range vs_r: the
 * RFC 9162 leaf hash SHA-256(0x00 || entry), then each complete subtree
 * it closes, one per trailing 1 bit of the size, SHA-256(0x01 || left ||
 * right).  The same as refx_merkle_leaf_hash and refx_merkle_range_append
 * (lib/merkle.c), which hash with libsodium; the unit tests compare the
 * two.  Return 0, or -1 if hashing fails or the range is full.
 */
static int
range_append(struct vstate *vs, const uint8_t *p, size_t len)
{
	const uint8_t leaf = LEAF_PREFIX;
	struct refx_merkle_range *r = &vs->vs_r;
	uint8_t h[HLEN], in[1 + 2 * HLEN];
	uint64_t sz;

	if (r->mr_size >= REFX_MERKLE_MAX_SIZE ||
	    sha256(vs, &leaf, 1, p, len, h))
		return (-1);

	/* At most 63 turns; popcount(size) hashes are there to take. */
	in[0] = NODE_PREFIX;
	for (sz = r->mr_size; sz & 1; sz >>= 1) {
		memcpy(in + 1, r->mr_hash[--r->mr_n], HLEN);
		memcpy(in + 1 + HLEN, h, HLEN);
		if (sha256(vs, in, sizeof(in), NULL, 0, h))
			return (-1);
	}
	memcpy(r->mr_hash[r->mr_n++], h, HLEN);
	r->mr_size++;
	return (0);
}

/*
 * An entry_fn: check entry ${i} (${len} bytes at ${p}) and fold it into
 * the tree, keeping the root of the first psize[k] entries on the way.
 */
static int
verify_entry(void *cookie, size_t i, const uint8_t *p, size_t len)
{
	struct vstate *vs = cookie;
	struct refx_audit_entry *e = &vs->vs_e;
	char t1[BUNDLE_TIME_LEN], t2[BUNDLE_TIME_LEN];
	size_t k;

	/* Whatever is returned but BUNDLE_OK is this entry's failure. */
	vs->vs_failed = 1;

	for (k = 0; k < vs->vs_nprior; k++)
		if (vs->vs_psize[k] == i &&
		    refx_merkle_range_root(&vs->vs_r, vs->vs_pgot[k]))
			goto range;
	if (refx_audit_decode(p, len, e)) {
		snprintf(vs->vs_err, vs->vs_errlen, "entry %zu is not a "
		    "well-formed audit entry: the log was altered", i);
		return (BUNDLE_EMISMATCH);
	}
	if (e->ae_index != i) {
		snprintf(vs->vs_err, vs->vs_errlen, "entry %zu says it is "
		    "entry %llu: entries were removed, added or reordered", i,
		    (unsigned long long)e->ae_index);
		return (BUNDLE_EMISMATCH);
	}
	if (i > 0 && vs->vs_prev > BUNDLE_SKEW_MS &&
	    e->ae_time_ms < vs->vs_prev - BUNDLE_SKEW_MS) {
		snprintf(vs->vs_err, vs->vs_errlen, "entry %zu (%s) is more "
		    "than 5 minutes older than entry %zu (%s)", i,
		    bundle_time(e->ae_time_ms, t1), i - 1,
		    bundle_time(vs->vs_prev, t2));
		return (BUNDLE_EMISMATCH);
	}
	vs->vs_prev = e->ae_time_ms;
	if (range_append(vs, p, len))
		goto range;
	if (vs->vs_progress != NULL && (i + 1) % BUNDLE_PROGRESS_EVERY == 0)
		vs->vs_progress(vs->vs_cookie, i + 1, vs->vs_all);
	vs->vs_failed = 0;
	return (BUNDLE_OK);

range:
	snprintf(vs->vs_err, vs->vs_errlen, "the log is too large, or "
	    "SHA-256 failed");
	return (BUNDLE_EMALFORMED);
}

/*
 * Hand each entry of ${b} to verify_entry: from memory, or read again
 * from the file bundle_read checked (which must not have changed since).
 * Return a status, with the number of entries in ${n}.
 */
static int
verify_entries(const struct bundle *b, struct vstate *vs, size_t *n)
{
	uint8_t ent[REFX_AUDIT_ENTRY_MAX];
	char why[BUNDLE_ERR_LEN];
	struct src s;
	size_t i;
	int st;

	*n = 0;
	if (b->b_fd == -1) {
		for (i = 0; i < b->b_n; i++)
			if ((st = verify_entry(vs, i, b->b_data + b->b_off[i],
			    b->b_off[i + 1] - b->b_off[i])) != BUNDLE_OK)
				return (st);
		*n = b->b_n;
		return (BUNDLE_OK);
	}

	if (src_file(&s, b->b_fd, b->b_fdoff)) {
		snprintf(vs->vs_err, vs->vs_errlen, "out of memory");
		return (BUNDLE_ENOMEM);
	}
	snprintf(why, sizeof(why), "no entries array where it was");
	st = BUNDLE_EMALFORMED;
	if (src_next(&s) == '[')
		st = scan_entries(&s, ent, verify_entry, vs, n, why,
		    sizeof(why));
	else if (s.s_errno != 0)
		st = src_fail(&s, "", why, sizeof(why));
	src_free(&s);
	if (st == BUNDLE_OK && *n != b->b_n) {
		snprintf(why, sizeof(why), "%zu entries, not %zu", *n, b->b_n);
		st = BUNDLE_EMALFORMED;
	}

	/* An entry's own failure has its message; the file's, not yet. */
	if (st != BUNDLE_OK && !vs->vs_failed)
		snprintf(vs->vs_err, vs->vs_errlen, "%s%s", st == BUNDLE_EREAD ?
		    "" : "the bundle file changed while it was verified: ",
		    why);
	return (st);
}

/**
 * bundle_verify(b, origin, pk, prior, nprior, progress, cookie, res, err,
 * errlen): Verify ${b} as the log ${origin} whose checkpoint key is
 * ${pk}:
 *  - the bundle is that log, of the unit its origin names
 *    (".../audit/UNIT"), and has a checkpoint validly signed by ${pk};
 *  - each of the ${nprior} checkpoints seen before (at most
 *    BUNDLE_PRIORS_MAX) is signed by ${pk}, is not larger (ROLLBACK) and
 *    if as large has the same root (FORK);
 *  - entry i decodes strictly, has index i, and is at most
 *    BUNDLE_SKEW_MS older than entry i - 1; there are as many entries as
 *    the checkpoint's size, and their RFC 9162 root is its root;
 *  - the first n entries give the root of each prior checkpoint of size
 *    n (consistency, by recomputation).
 * ${progress} (or NULL) is called every BUNDLE_PROGRESS_EVERY entries and
 * at the end.  Return BUNDLE_OK with ${res}, or another bundle_status
 * with one line in ${err}.
 */
int
bundle_verify(const struct bundle *b, const char *origin,
    const uint8_t pk[REFX_NOTE_PK_LEN], const struct bundle_prior *prior,
    size_t nprior, bundle_progress_fn *progress, void *cookie,
    struct bundle_result *res, char *err, size_t errlen)
{
	uint8_t root[REFX_MERKLE_HASH_LEN], got[REFX_MERKLE_HASH_LEN];
	uint8_t proot[BUNDLE_PRIORS_MAX][REFX_MERKLE_HASH_LEN];
	uint8_t pgot[BUNDLE_PRIORS_MAX][REFX_MERKLE_HASH_LEN];
	uint64_t size, psize[BUNDLE_PRIORS_MAX];
	struct refx_note_key *key;
	struct vstate *vs;
	size_t k, n;
	int st;

	memset(res, 0, sizeof(*res));
	if (nprior > BUNDLE_PRIORS_MAX) {
		snprintf(err, errlen, "too many checkpoints to compare");
		st = BUNDLE_EMALFORMED;
		goto err0;
	}

	/* The log the certificate names, of the unit the bundle names. */
	if (strcmp(b->b_origin, origin) != 0) {
		snprintf(err, errlen, "the bundle says it holds log %s, but "
		    "its certificate is for log %s", b->b_origin, origin);
		st = BUNDLE_EBADSIG;
		goto err0;
	}
	if (!origin_of_unit(origin, b->b_unit)) {
		snprintf(err, errlen, "log %s is not the log of unit %s",
		    origin, b->b_unit);
		st = BUNDLE_EBADSIG;
		goto err0;
	}
	if (b->b_checkpoint == NULL) {
		snprintf(err, errlen, "the log of unit %s has no signed "
		    "checkpoint yet", b->b_unit);
		st = BUNDLE_EBADSIG;
		goto err0;
	}

	/* Its checkpoint, signed by its key. */
	if ((key = refx_note_key_from_public(origin, REFX_NOTE_ED25519, pk)) ==
	    NULL) {
		snprintf(err, errlen, "log origin %s is not a valid key name",
		    origin);
		st = BUNDLE_EMALFORMED;
		goto err0;
	}
	if ((st = open_checkpoint(key, origin, "the checkpoint",
	    b->b_checkpoint, strlen(b->b_checkpoint), &size, root, err,
	    errlen)) != BUNDLE_OK)
		goto err1;

	/* Checkpoints seen before: signed by the same key, not undone. */
	for (k = 0; k < nprior; k++) {
		if ((st = open_checkpoint(key, origin, prior[k].bp_what,
		    prior[k].bp_note, prior[k].bp_len, &psize[k], proot[k],
		    err, errlen)) != BUNDLE_OK)
			goto err1;
		if (psize[k] > size) {
			snprintf(err, errlen, "ROLLBACK: the log's checkpoint "
			    "has %llu entries, fewer than the %llu of %s",
			    (unsigned long long)size,
			    (unsigned long long)psize[k], prior[k].bp_what);
			st = BUNDLE_EROLLBACK;
			goto err1;
		}
		if (psize[k] == size && !refx_ct_equal(proot[k], root,
		    sizeof(root))) {
			snprintf(err, errlen, "FORK (two roots for one size): "
			    "the log signed a root for %llu entries that "
			    "differs from the one of %s",
			    (unsigned long long)size, prior[k].bp_what);
			st = BUNDLE_EFORK;
			goto err1;
		}
	}

	/* Every entry, in place, folded into the tree. */
	if ((vs = calloc(1, sizeof(*vs))) == NULL ||
	    (vs->vs_md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (vs->vs_ctx = EVP_MD_CTX_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		st = BUNDLE_ENOMEM;
		goto err2;
	}
	vs->vs_psize = psize;
	vs->vs_pgot = pgot;
	vs->vs_nprior = nprior;
	vs->vs_all = b->b_n;
	refx_merkle_range_init(&vs->vs_r);
	vs->vs_progress = progress;
	vs->vs_cookie = cookie;
	vs->vs_err = err;
	vs->vs_errlen = errlen;
	if ((st = verify_entries(b, vs, &n)) != BUNDLE_OK)
		goto err2;
	for (k = 0; k < nprior; k++)
		if (psize[k] == n && refx_merkle_range_root(&vs->vs_r, pgot[k]))
			goto range;
	if (progress != NULL)
		progress(cookie, n, n);

	/* As many entries as the checkpoint says, and its root. */
	if (n != size) {
		snprintf(err, errlen, "the log has %zu entries but its "
		    "checkpoint says %llu: entries were removed or added",
		    n, (unsigned long long)size);
		st = BUNDLE_EMISMATCH;
		goto err2;
	}
	if (refx_merkle_range_root(&vs->vs_r, got))
		goto range;
	if (!refx_ct_equal(got, root, sizeof(root))) {
		snprintf(err, errlen, "root mismatch: the log was altered");
		st = BUNDLE_EMISMATCH;
		goto err2;
	}

	/* The log extends each checkpoint seen before. */
	for (k = 0; k < nprior; k++)
		if (!refx_ct_equal(pgot[k], proot[k], sizeof(root))) {
			snprintf(err, errlen, "inconsistent with %s: the log's "
			    "first %llu entries do not give its root",
			    prior[k].bp_what, (unsigned long long)psize[k]);
			st = BUNDLE_EROLLBACK;
			goto err2;
		}

	res->br_size = size;
	memcpy(res->br_root, root, sizeof(root));
	for (k = 0; k < nprior; k++)
		res->br_prior_size[k] = psize[k];
	st = BUNDLE_OK;
	goto err2;

range:
	snprintf(err, errlen, "the log is too large");
	st = BUNDLE_EMALFORMED;
err2:
	if (vs != NULL) {
		EVP_MD_CTX_free(vs->vs_ctx);
		EVP_MD_free(vs->vs_md);
		free(vs);
	}
err1:
	refx_note_key_free(key);
err0:
	return (st);
}
