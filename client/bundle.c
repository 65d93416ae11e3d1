/*
 * Audit bundles and their verification (see bundle.h).  Pure: no I/O.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

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

	if (len > REFX_AUDIT_ENTRY_MAX || b->b_n >= BUNDLE_ENTRIES_MAX)
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

/** bundle_add_b64(b, s): As bundle_add, from base64; -1 also if malformed. */
int
bundle_add_b64(struct bundle *b, const char *s)
{
	uint8_t *raw;
	size_t len;
	int rc;

	if (refx_b64_decode(s, REFX_AUDIT_ENTRY_MAX, &raw, &len))
		return (-1);
	rc = bundle_add(b, raw, len);
	free(raw);
	return (rc);
}

/* The string member ${key} of ${o}, of at most ${max} bytes, no NUL. */
static const char *
member_str(json_t *o, const char *key, size_t max)
{
	json_t *v;

	if ((v = json_object_get(o, key)) == NULL || !json_is_string(v) ||
	    json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return (NULL);
	return (json_string_value(v));
}

/**
 * bundle_parse(text, len, b, err, errlen): Parse a bundle file strictly:
 * exactly the keys above, each of its type and within its bound.  Return
 * BUNDLE_OK with the bundle in ${b}, BUNDLE_EMALFORMED with a message in
 * ${err}, or BUNDLE_ENOMEM.
 */
int
bundle_parse(const uint8_t *text, size_t len, struct bundle **bp, char *err,
    size_t errlen)
{
	const char *format, *unit, *origin, *cert, *cp;
	json_error_t je;
	json_t *root, *entries, *e;
	struct bundle *b;
	size_t i;
	int st = BUNDLE_EMALFORMED;

	*bp = NULL;
	if (len > BUNDLE_FILE_MAX) {
		snprintf(err, errlen, "larger than %d bytes", BUNDLE_FILE_MAX);
		goto err0;
	}
	if ((root = json_loadb((const char *)text, len,
	    JSON_REJECT_DUPLICATES, &je)) == NULL) {
		snprintf(err, errlen, "not JSON (line %d: %s)", je.line,
		    je.text);
		goto err0;
	}

	/* Exactly the members of the format, each of its type. */
	format = member_str(root, "format", 64);
	unit = member_str(root, "unit", REFX_AGENCY_ID_MAX);
	origin = member_str(root, "origin", REFX_NOTE_NAME_MAX);
	cert = member_str(root, "certificate", BUNDLE_CERT_MAX);
	cp = member_str(root, "checkpoint", REFX_NOTE_MAX);
	entries = json_object_get(root, "entries");
	if (!json_is_object(root) || json_object_size(root) != NKEYS ||
	    format == NULL || strcmp(format, BUNDLE_FORMAT) != 0) {
		snprintf(err, errlen, "not a %s file (an object with exactly "
		    "format, unit, origin, certificate, checkpoint and "
		    "entries)", BUNDLE_FORMAT);
		goto err1;
	}
	if (unit == NULL || !refx_agency_id_valid(unit) || origin == NULL ||
	    !origin_valid(origin) || cert == NULL ||
	    strncmp(cert, PEM_BEGIN, strlen(PEM_BEGIN)) != 0 || cp == NULL ||
	    !json_is_array(entries) ||
	    json_array_size(entries) > BUNDLE_ENTRIES_MAX) {
		snprintf(err, errlen, "unit, origin, certificate, checkpoint "
		    "or entries is missing, of the wrong type or too long");
		goto err1;
	}

	/* The bundle, each entry decoded. */
	if ((b = bundle_new()) == NULL || bundle_set(b, unit, origin, cert,
	    cp)) {
		st = BUNDLE_ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto err2;
	}
	json_array_foreach(entries, i, e) {
		if (!json_is_string(e) || json_string_length(e) >
		    (REFX_AUDIT_ENTRY_MAX + 2) / 3 * 4 ||
		    bundle_add_b64(b, json_string_value(e))) {
			snprintf(err, errlen, "entries[%zu] is not the base64 "
			    "of at most %d bytes", i, REFX_AUDIT_ENTRY_MAX);
			goto err2;
		}
	}
	json_decref(root);
	*bp = b;
	return (BUNDLE_OK);

err2:
	bundle_free(b);
err1:
	json_decref(root);
err0:
	return (st);
}

/**
 * bundle_text(b, len): The bundle file of ${b} (which must have a
 * certificate and a checkpoint), one entry a line, NUL-terminated, with
 * its length in ${len}; caller frees.  Return it, or NULL.
 */
char *
bundle_text(const struct bundle *b, size_t *len)
{
	json_t *o, *entries;
	char *s, *text = NULL;
	size_t i;

	if (b->b_cert == NULL || b->b_checkpoint == NULL)
		goto err0;
	if ((o = json_object()) == NULL)
		goto err0;
	if (json_object_set_new(o, "format", json_string(BUNDLE_FORMAT)) ||
	    json_object_set_new(o, "unit", json_string(b->b_unit)) ||
	    json_object_set_new(o, "origin", json_string(b->b_origin)) ||
	    json_object_set_new(o, "certificate", json_string(b->b_cert)) ||
	    json_object_set_new(o, "checkpoint",
	    json_string(b->b_checkpoint)) ||
	    json_object_set_new(o, "entries", entries = json_array()))
		goto err1;
	for (i = 0; i < b->b_n; i++) {
		if ((s = refx_b64_encode(b->b_data + b->b_off[i],
		    b->b_off[i + 1] - b->b_off[i])) == NULL)
			goto err1;
		if (json_array_append_new(entries, json_string(s))) {
			free(s);
			goto err1;
		}
		free(s);
	}
	if ((text = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) ==
	    NULL)
		goto err1;
	*len = strlen(text);
	json_decref(o);
	return (text);

err1:
	json_decref(o);
err0:
	return (NULL);
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
	uint64_t size, psize[BUNDLE_PRIORS_MAX], prev = 0;
	char t1[BUNDLE_TIME_LEN], t2[BUNDLE_TIME_LEN];
	struct refx_audit_entry e;
	struct refx_merkle_range r;
	struct refx_note_key *key;
	const uint8_t *p;
	size_t i, k, len;
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
	refx_merkle_range_init(&r);
	for (i = 0; i < b->b_n; i++) {
		for (k = 0; k < nprior; k++)
			if (psize[k] == i &&
			    refx_merkle_range_root(&r, pgot[k]))
				goto range;
		p = b->b_data + b->b_off[i];
		len = b->b_off[i + 1] - b->b_off[i];
		if (refx_audit_decode(p, len, &e)) {
			snprintf(err, errlen, "entry %zu is not a well-formed "
			    "audit entry: the log was altered", i);
			st = BUNDLE_EMISMATCH;
			goto err1;
		}
		if (e.ae_index != i) {
			snprintf(err, errlen, "entry %zu says it is entry "
			    "%llu: entries were removed, added or reordered",
			    i, (unsigned long long)e.ae_index);
			st = BUNDLE_EMISMATCH;
			goto err1;
		}
		if (i > 0 && prev > BUNDLE_SKEW_MS &&
		    e.ae_time_ms < prev - BUNDLE_SKEW_MS) {
			snprintf(err, errlen, "entry %zu (%s) is more than 5 "
			    "minutes older than entry %zu (%s)", i,
			    bundle_time(e.ae_time_ms, t1), i - 1,
			    bundle_time(prev, t2));
			st = BUNDLE_EMISMATCH;
			goto err1;
		}
		prev = e.ae_time_ms;
		refx_merkle_leaf_hash(p, len, got);
		if (refx_merkle_range_append(&r, got))
			goto range;
		if (progress != NULL && (i + 1) % BUNDLE_PROGRESS_EVERY == 0)
			progress(cookie, i + 1, b->b_n);
	}
	for (k = 0; k < nprior; k++)
		if (psize[k] == b->b_n && refx_merkle_range_root(&r, pgot[k]))
			goto range;
	if (progress != NULL)
		progress(cookie, b->b_n, b->b_n);

	/* As many entries as the checkpoint says, and its root. */
	if (b->b_n != size) {
		snprintf(err, errlen, "the log has %zu entries but its "
		    "checkpoint says %llu: entries were removed or added",
		    b->b_n, (unsigned long long)size);
		st = BUNDLE_EMISMATCH;
		goto err1;
	}
	if (refx_merkle_range_root(&r, got))
		goto range;
	if (!refx_ct_equal(got, root, sizeof(root))) {
		snprintf(err, errlen, "root mismatch: the log was altered");
		st = BUNDLE_EMISMATCH;
		goto err1;
	}

	/* The log extends each checkpoint seen before. */
	for (k = 0; k < nprior; k++)
		if (!refx_ct_equal(pgot[k], proot[k], sizeof(root))) {
			snprintf(err, errlen, "inconsistent with %s: the log's "
			    "first %llu entries do not give its root",
			    prior[k].bp_what, (unsigned long long)psize[k]);
			st = BUNDLE_EROLLBACK;
			goto err1;
		}

	res->br_size = size;
	memcpy(res->br_root, root, sizeof(root));
	for (k = 0; k < nprior; k++)
		res->br_prior_size[k] = psize[k];
	refx_note_key_free(key);
	return (BUNDLE_OK);

range:
	snprintf(err, errlen, "the log is too large");
	st = BUNDLE_EMALFORMED;
err1:
	refx_note_key_free(key);
err0:
	return (st);
}
