#ifndef REFX_CLI_BUNDLE_H
#define REFX_CLI_BUNDLE_H

/*
 * Audit bundles: one unit's audit log as an auditor keeps and verifies
 * it (refx audit export, refx audit verify).  The file is a JSON object
 *
 *   {"format": "refx-audit-bundle-v1", "unit": UNIT, "origin": ORIGIN,
 *    "certificate": PEM, "checkpoint": SIGNED NOTE,
 *    "entries": [base64 of entry 0, ..., of entry size - 1]}
 *
 * holding every entry the checkpoint covers, and nothing more.
 *
 * Verification is split so that its core can be tested without X.509:
 * bundle_check_cert checks the log's certificate against the exchange CA
 * and yields the log's origin and Ed25519 key; bundle_verify does the
 * rest with that origin and key (checkpoint signature, the checkpoints
 * verified before, every entry, the root).  Neither opens a file.
 *
 * A bundle file can be far larger than memory should be (a million pull
 * entries are 614 MB), so bundle_read does not keep it: it reads the file
 * through a fixed window, checks all of it, and remembers where the
 * entries are; bundle_verify reads them again from there, one at a time.
 * Memory stays about 1 MiB whatever the log's size.  Only the entries
 * array is read by our own scanner (base64 needs no JSON escapes, and
 * building a jansson tree of a million strings was most of the time);
 * every other string, and any entry that holds an escape, is decoded by
 * jansson.  What is accepted is exactly what a jansson parse of the whole
 * file accepted, save the size of the file.
 */
#include <stddef.h>
#include <stdint.h>

#include "refx/identity.h"
#include "refx/merkle.h"
#include "refx/note.h"

struct x509_st;
struct X509_crl_st;

#define BUNDLE_FORMAT		"refx-audit-bundle-v1"
#define BUNDLE_ENTRIES_MAX	(16 * 1024 * 1024)	/* entries */
#define BUNDLE_FILE_MAX		((uint64_t)BUNDLE_ENTRIES_MAX * 4096)
					/* bytes: 64 GiB, 4 KiB an entry */
#define BUNDLE_TOKEN_MAX	(1024 * 1024)	/* bytes of one JSON string in
						   a file, quotes and escapes
						   included */
#define BUNDLE_WINDOW		(BUNDLE_TOKEN_MAX + 64 * 1024)
					/* a file is read through this many
					   bytes: a whole string and more */
#define BUNDLE_CERT_MAX		(64 * 1024)	/* bytes of the PEM */
#define BUNDLE_SKEW_MS		(5 * 60 * 1000)	/* going back in time */
#define BUNDLE_PROGRESS_EVERY	1000		/* entries a report */
#define BUNDLE_PRIORS_MAX	4
#define BUNDLE_ERR_LEN		640
#define BUNDLE_TIME_LEN		32	/* 2026-11-23T10:00:00.123Z */

/*
 * What the checks return: the exit statuses of refx audit verify.  When
 * several apply, the first found wins, in this order: malformed input,
 * certificate or signature, rollback or fork against a checkpoint seen
 * before, entries, root, consistency with a checkpoint seen before.
 */
enum bundle_status {
	BUNDLE_OK = 0,
	BUNDLE_EBADSIG = 2,	/* certificate or signature bad or missing */
	BUNDLE_EROLLBACK = 3,	/* older than, or inconsistent with, a
				   checkpoint seen before */
	BUNDLE_EMISMATCH = 4,	/* entries and checkpoint disagree */
	BUNDLE_EMALFORMED = 5,	/* not a well-formed bundle or note */
	BUNDLE_EFORK = 6,	/* two signed roots for one size */
	BUNDLE_EREAD = 66,	/* EX_NOINPUT: the file cannot be read */
	BUNDLE_ENOMEM = 71,	/* EX_OSERR */
};

/*
 * A bundle.  Made with bundle_add or bundle_parse, its entries are kept
 * decoded, back to back, in b_data.  Read with bundle_read, they stay in
 * the file: b_data is empty, b_n counts them, and bundle_verify reads
 * them from b_fd at b_fdoff (the caller keeps b_fd open until then).
 */
struct bundle {
	char		 b_unit[REFX_AGENCY_ID_MAX + 1];
	char		 b_origin[REFX_NOTE_NAME_MAX + 1];
	char		*b_cert;	/* PEM, or NULL */
	char		*b_checkpoint;	/* signed note, or NULL */
	uint8_t		*b_data;	/* entry i: b_data[b_off[i]] */
	size_t		 b_datalen;
	size_t		 b_dataalloc;
	size_t		*b_off;		/* to b_data[b_off[i+1]] */
	size_t		 b_n;		/* entries */
	size_t		 b_offalloc;
	int		 b_fd;		/* entries in this file, or -1 */
	uint64_t	 b_fdoff;	/* where its entries array starts */
};

/* A checkpoint seen before: the saved state, or someone's cosigned one. */
struct bundle_prior {
	const char	*bp_what;	/* what it is, for messages */
	const char	*bp_note;	/* signed note */
	size_t		 bp_len;
};

/* What a verification established. */
struct bundle_result {
	uint64_t	br_size;	/* entries checked: the tree size */
	uint8_t		br_root[REFX_MERKLE_HASH_LEN];
	uint64_t	br_prior_size[BUNDLE_PRIORS_MAX];
};

/* Progress: called with (cookie, entries done, entries in all). */
typedef void bundle_progress_fn(void *, uint64_t, uint64_t);

/** bundle_new(): An empty bundle (free with bundle_free), or NULL. */
struct bundle *bundle_new(void);

/** bundle_free(b): Free ${b}; NULL is a no-op. */
void bundle_free(struct bundle *);

/**
 * bundle_set(b, unit, origin, cert, checkpoint): Set the log's unit and
 * origin and copy its certificate and checkpoint (either may be NULL).
 * Return 0, or -1 if a value is invalid or too long (as bundle_parse
 * would refuse it) or memory is short.
 */
int bundle_set(struct bundle *, const char *, const char *, const char *,
    const char *) __attribute__((warn_unused_result, nonnull(1, 2, 3)));

/**
 * bundle_add(b, entry, len): Append the ${len}-byte entry ${entry}.
 * Return 0, or -1 if it exceeds REFX_AUDIT_ENTRY_MAX bytes, the bundle
 * holds BUNDLE_ENTRIES_MAX entries already, was read with bundle_read, or
 * memory is short.
 */
int bundle_add(struct bundle *, const uint8_t *, size_t)
    __attribute__((warn_unused_result));

/** bundle_add_b64(b, s): As bundle_add, from base64; -1 also if malformed. */
int bundle_add_b64(struct bundle *, const char *)
    __attribute__((warn_unused_result, nonnull));

/**
 * bundle_parse(text, len, b, err, errlen): Parse a bundle file strictly:
 * exactly the keys above, each of its type and within its bound, every
 * string at most BUNDLE_TOKEN_MAX bytes, every entry the padded base64 of
 * at most REFX_AUDIT_ENTRY_MAX bytes, at most BUNDLE_ENTRIES_MAX entries,
 * nothing after the object.  The entries are decoded into the bundle.
 * Return BUNDLE_OK with the bundle in ${b}, BUNDLE_EMALFORMED with a
 * message in ${err}, or BUNDLE_ENOMEM.
 */
int bundle_parse(const uint8_t *, size_t, struct bundle **, char *, size_t)
    __attribute__((warn_unused_result));

/**
 * bundle_read(fd, b, err, errlen): As bundle_parse, from the regular file
 * open on ${fd} (read with pread, from its start, at most BUNDLE_FILE_MAX
 * bytes), keeping the entries in the file: ${fd} must stay open, and
 * unchanged, until bundle_verify.  Return BUNDLE_OK with the bundle in
 * ${b}, or BUNDLE_EMALFORMED, BUNDLE_EREAD or BUNDLE_ENOMEM with a message
 * in ${err}.
 */
int bundle_read(int, struct bundle **, char *, size_t)
    __attribute__((warn_unused_result));

/**
 * bundle_text(b, len): The bundle file of ${b} (which must have a
 * certificate and a checkpoint, and its entries in memory), one entry a
 * line, NUL-terminated, with its length in ${len}; caller frees.  Return
 * it, or NULL.
 */
char *bundle_text(const struct bundle *, size_t *);

/**
 * bundle_checkpoint_size(note, size): The tree size the checkpoint
 * ${note} claims, WITHOUT verifying its signature (to know how many
 * entries to fetch).  Return 0, or -1 if it is not a checkpoint note.
 */
int bundle_checkpoint_size(const char *, uint64_t *);

/**
 * bundle_check_cert(b, ca, crl, origin, originlen, pk, err, errlen):
 * Verify the log certificate of ${b} against ${ca} and ${crl} (NULL:
 * no revocation check) for the audit-log purpose, and return the origin
 * and Ed25519 key it certifies in ${origin} and ${pk}.  Return BUNDLE_OK,
 * or BUNDLE_EBADSIG with a message in ${err}.
 */
int bundle_check_cert(const struct bundle *, struct x509_st *,
    struct X509_crl_st *, char *, size_t, uint8_t[REFX_NOTE_PK_LEN], char *,
    size_t) __attribute__((warn_unused_result, nonnull(1, 2, 4, 6, 7)));

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
 * at the end.  A bundle from bundle_read is read again from its file;
 * if that fails it is BUNDLE_EREAD, if the file changed since,
 * BUNDLE_EMALFORMED.  Return BUNDLE_OK with ${res}, or another
 * bundle_status with one line in ${err}.
 */
int bundle_verify(const struct bundle *, const char *,
    const uint8_t[REFX_NOTE_PK_LEN], const struct bundle_prior *, size_t,
    bundle_progress_fn *, void *, struct bundle_result *, char *, size_t)
    __attribute__((warn_unused_result, nonnull(1, 2, 3, 8, 9)));

/**
 * bundle_time(ms, buf): Write the UTC time ${ms} (milliseconds since the
 * epoch) to ${buf} as "YYYY-MM-DDTHH:MM:SS.mmmZ", or as "N ms" if it is
 * beyond the year 9999.  Return ${buf}.
 */
char *bundle_time(uint64_t, char[BUNDLE_TIME_LEN]);

#endif /* !REFX_CLI_BUNDLE_H */
