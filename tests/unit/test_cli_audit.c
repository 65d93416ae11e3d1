/*
 * Tests of refx's audit bundles (client/bundle.c): the verification core
 * refx audit verify runs, with a log key made from a seed here, against
 * every tampering it must catch and with its exit status; bundle files
 * parsed strictly and written back; bundle files read through a window
 * (bundle_read), fuzzed against the jansson parser they replaced, with
 * hostile input (truncated, too many entries, wrong lengths, bad base64,
 * trailing data, a file that changes), verified as from memory; and the
 * log certificate checked against the CA (real certificates from
 * refx-pki's pki/ca.c, included as test_cli_packet does).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "refx/audit.h"
#include "refx/cert.h"
#include "refx/merkle.h"
#include "refx/note.h"
#include "refx/secret.h"

#include "../../client/bundle.h"

#include "../../pki/ca.c"

#define UNIT		"ludvika-school-1"
#define OTHER		"ludvika-ifo-intake"
#define ORIGIN		"refx/0123456789abcdef/audit/" UNIT
#define ORIGIN_OTHER	"refx/0123456789abcdef/audit/" OTHER
#define REFERRAL	"00112233445566778899aabbccddeeff"
#define NENT		7
#define T0		UINT64_C(1795000000000)	/* ms, in 2026 */
#define MANY		2500

struct test_context {
	uint8_t			 seed[REFX_NOTE_SEED_LEN];
	uint8_t			 pk[REFX_NOTE_PK_LEN];
	struct refx_note_key	*log;		/* the log's signing key */
	uint8_t			 ent[NENT][REFX_AUDIT_ENTRY_MAX];
	size_t			 len[NENT];
	char			*note;		/* checkpoint of all NENT */
	char			 err[BUNDLE_ERR_LEN];
	struct bundle_result	 res;
	int			 calls;		/* progress callbacks */
	uint64_t		 last;
};

/* Encode entry ${i} at ${ms}, with ${reason}, into ${out}. */
static size_t
entry(uint8_t *out, uint64_t i, uint64_t ms, const char *reason)
{
	struct refx_audit_entry e;
	size_t len;

	memset(&e, 0, sizeof(e));
	e.ae_index = i;
	e.ae_time_ms = ms;
	memset(e.ae_event, (int)i + 1, sizeof(e.ae_event));
	e.ae_action = i % 2 ? REFX_AUDIT_REFERRAL_PULL :
	    REFX_AUDIT_REFERRAL_SUBMIT;
	e.ae_outcome = REFX_AUDIT_ALLOWED;
	e.ae_status = 200;
	snprintf(e.ae_actor_unit, sizeof(e.ae_actor_unit), "%s", UNIT);
	e.ae_actor_kind = 0;
	e.ae_actor_role = 0;
	snprintf(e.ae_actor_person, sizeof(e.ae_actor_person), "sara.lind");
	snprintf(e.ae_object_type, sizeof(e.ae_object_type), "referral");
	snprintf(e.ae_object_id, sizeof(e.ae_object_id), REFERRAL);
	snprintf(e.ae_other_unit, sizeof(e.ae_other_unit), OTHER);
	e.ae_classes = REFX_CLASS_BIT(REFX_CLASS_IDENTITY) |
	    REFX_CLASS_BIT(REFX_CLASS_SCHOOL);
	snprintf(e.ae_basis, sizeof(e.ae_basis), "consent");
	snprintf(e.ae_reason, sizeof(e.ae_reason), "%s", reason);
	snprintf(e.ae_request_id, sizeof(e.ae_request_id), "req-%llu",
	    (unsigned long long)i);
	e.ae_count = 1;
	memset(e.ae_salt, 0x5a, sizeof(e.ae_salt));
	assert_int_equal(refx_audit_encode(&e, out, &len), 0);
	return (len);
}

/* The signed checkpoint of ${n} entries, by ${key} for ${origin}. */
static char *
checkpoint(const struct refx_note_key *key, const char *origin,
    const uint8_t *const *ent, const size_t *len, size_t n)
{
	struct refx_merkle_range r;
	uint8_t leaf[REFX_MERKLE_HASH_LEN], root[REFX_MERKLE_HASH_LEN];
	char *text, *note;
	size_t i;

	refx_merkle_range_init(&r);
	for (i = 0; i < n; i++) {
		refx_merkle_leaf_hash(ent[i], len[i], leaf);
		assert_int_equal(refx_merkle_range_append(&r, leaf), 0);
	}
	assert_int_equal(refx_merkle_range_root(&r, root), 0);
	assert_int_equal(refx_checkpoint_text(origin, n, root, &text), 0);
	assert_int_equal(refx_note_sign(text, key, &note), 0);
	free(text);
	return (note);
}

/* A bundle of ${n} entries with the checkpoint ${note}. */
static struct bundle *
bundle_of(const char *origin, const uint8_t *const *ent, const size_t *len,
    size_t n, const char *note)
{
	struct bundle *b;
	size_t i;

	assert_non_null(b = bundle_new());
	assert_int_equal(bundle_set(b, UNIT, origin, NULL, note), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(bundle_add(b, ent[i], len[i]), 0);
	return (b);
}

/* The context's entries, in order, as pointer arrays. */
static void
all_entries(struct test_context *t, const uint8_t **ent, size_t *len)
{
	size_t i;

	for (i = 0; i < NENT; i++) {
		ent[i] = t->ent[i];
		len[i] = t->len[i];
	}
}

/* Verify ${b} as ORIGIN with the log key, against ${prior}. */
static int
verify(struct test_context *t, const struct bundle *b,
    const struct bundle_prior *prior, size_t nprior)
{
	int st;

	t->err[0] = '\0';
	st = bundle_verify(b, ORIGIN, t->pk, prior, nprior, NULL, NULL,
	    &t->res, t->err, sizeof(t->err));
	if (st != BUNDLE_OK)
		print_message("    (%d: %s)\n", st, t->err);
	return (st);
}

/* A prior checkpoint for verify(). */
static struct bundle_prior
prior_of(const char *note)
{
	struct bundle_prior p;

	p.bp_what = "the checkpoint you verified before";
	p.bp_note = note;
	p.bp_len = strlen(note);
	return (p);
}

#define assert_has(s, sub) do {						\
	if (strstr((s), (sub)) == NULL)					\
		fail_msg("'%s' does not contain '%s'", (s), (sub));	\
} while (0)

static int
setup(void **state)
{
	struct test_context *t;
	uint8_t sk[64];
	const uint8_t *ent[NENT];
	size_t len[NENT], i;

	assert_non_null(t = calloc(1, sizeof(*t)));
	memset(t->seed, 0x42, sizeof(t->seed));
	crypto_sign_seed_keypair(t->pk, sk, t->seed);
	sodium_memzero(sk, sizeof(sk));
	assert_non_null(t->log = refx_note_key_from_seed(ORIGIN,
	    REFX_NOTE_ED25519, t->seed));

	/* Times go up a second each, one going back 2 s (clock skew). */
	for (i = 0; i < NENT; i++)
		t->len[i] = entry(t->ent[i], i, T0 + i * 1000 -
		    (i == 5 ? 2500 : 0), "");
	all_entries(t, ent, len);
	t->note = checkpoint(t->log, ORIGIN, ent, len, NENT);
	*state = t;
	return (0);
}

static int
teardown(void **state)
{
	struct test_context *t = *state;

	refx_note_key_free(t->log);
	free(t->note);
	free(t);
	return (0);
}

/* --- the verification core ------------------------------------------------ */

static void
test_good(void **state)
{
	struct test_context *t = *state;
	const uint8_t *ent[NENT];
	size_t len[NENT];
	uint8_t leaf[REFX_MERKLE_HASH_LEN], root[REFX_MERKLE_HASH_LEN];
	struct refx_merkle_range r;
	struct bundle *b;
	size_t i;

	all_entries(t, ent, len);
	b = bundle_of(ORIGIN, ent, len, NENT, t->note);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_OK);
	assert_int_equal(t->res.br_size, NENT);

	/* The root is the RFC 9162 root of the entries' bytes. */
	refx_merkle_range_init(&r);
	for (i = 0; i < NENT; i++) {
		refx_merkle_leaf_hash(ent[i], len[i], leaf);
		assert_int_equal(refx_merkle_range_append(&r, leaf), 0);
	}
	assert_int_equal(refx_merkle_range_root(&r, root), 0);
	assert_memory_equal(t->res.br_root, root, sizeof(root));
	bundle_free(b);
}

static void
test_empty_log(void **state)
{
	struct test_context *t = *state;
	struct bundle *b;
	char *note;

	note = checkpoint(t->log, ORIGIN, NULL, NULL, 0);
	b = bundle_of(ORIGIN, NULL, NULL, 0, note);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_OK);
	assert_int_equal(t->res.br_size, 0);
	bundle_free(b);
	free(note);
}

static void
test_flipped_byte(void **state)
{
	struct test_context *t = *state;
	const uint8_t *ent[NENT];
	size_t len[NENT];
	struct bundle *b;

	/* A byte of the actor's certificate hash: still decodes. */
	all_entries(t, ent, len);
	b = bundle_of(ORIGIN, ent, len, NENT, t->note);
	b->b_data[b->b_off[3] + 100] ^= 0x01;
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EMISMATCH);
	assert_has(t->err, "root mismatch: the log was altered");
	bundle_free(b);

	/* A byte of the namespace: the entry no longer decodes. */
	b = bundle_of(ORIGIN, ent, len, NENT, t->note);
	b->b_data[b->b_off[3] + 2] ^= 0x20;
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EMISMATCH);
	assert_has(t->err, "entry 3 ");
	bundle_free(b);

	/* Its index: caught as out of place. */
	b = bundle_of(ORIGIN, ent, len, NENT, t->note);
	b->b_data[b->b_off[4] + sizeof(REFX_AUDIT_NAMESPACE) + 7] ^= 0x01;
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EMISMATCH);
	assert_has(t->err, "entry 4 says it is entry 5");
	bundle_free(b);
}

static void
test_deleted_entry(void **state)
{
	struct test_context *t = *state;
	const uint8_t *ent[NENT];
	size_t len[NENT];
	struct bundle *b;
	char *note;

	/* Entry 3 removed under the genuine checkpoint. */
	all_entries(t, ent, len);
	memmove(&ent[3], &ent[4], (NENT - 4) * sizeof(ent[0]));
	memmove(&len[3], &len[4], (NENT - 4) * sizeof(len[0]));
	b = bundle_of(ORIGIN, ent, len, NENT - 1, t->note);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EMISMATCH);
	assert_has(t->err, "entry 3 says it is entry 4");
	bundle_free(b);

	/* Even if the log key re-signed what is left. */
	note = checkpoint(t->log, ORIGIN, ent, len, NENT - 1);
	b = bundle_of(ORIGIN, ent, len, NENT - 1, note);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EMISMATCH);
	bundle_free(b);
	free(note);

	/* The last entry dropped: too few for the checkpoint. */
	all_entries(t, ent, len);
	b = bundle_of(ORIGIN, ent, len, NENT - 1, t->note);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EMISMATCH);
	assert_has(t->err, "6 entries but its checkpoint says 7");
	bundle_free(b);
}

static void
test_swapped_entries(void **state)
{
	struct test_context *t = *state;
	const uint8_t *ent[NENT], *p;
	size_t len[NENT], l;
	struct bundle *b;
	char *note;

	all_entries(t, ent, len);
	p = ent[2];
	ent[2] = ent[3];
	ent[3] = p;
	l = len[2];
	len[2] = len[3];
	len[3] = l;
	b = bundle_of(ORIGIN, ent, len, NENT, t->note);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EMISMATCH);
	assert_has(t->err, "entry 2 says it is entry 3");
	bundle_free(b);

	/* Re-signed in the new order: the indices still give it away. */
	note = checkpoint(t->log, ORIGIN, ent, len, NENT);
	b = bundle_of(ORIGIN, ent, len, NENT, note);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EMISMATCH);
	bundle_free(b);
	free(note);
}

static void
test_time_goes_back(void **state)
{
	struct test_context *t = *state;
	uint8_t e[2][REFX_AUDIT_ENTRY_MAX];
	const uint8_t *ent[NENT];
	size_t len[NENT];
	struct bundle *b;
	char *note;

	/* Entry 4 six minutes before entry 3: refused, naming it. */
	all_entries(t, ent, len);
	len[4] = entry(e[0], 4, T0 + 3000 - 6 * 60 * 1000, "");
	ent[4] = e[0];
	note = checkpoint(t->log, ORIGIN, ent, len, NENT);
	b = bundle_of(ORIGIN, ent, len, NENT, note);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EMISMATCH);
	assert_has(t->err, "entry 4 (");
	assert_has(t->err, "more than 5 minutes older than entry 3");
	bundle_free(b);
	free(note);

	/* Four minutes is clock skew. */
	len[4] = entry(e[1], 4, T0 + 3000 - 4 * 60 * 1000, "");
	ent[4] = e[1];
	note = checkpoint(t->log, ORIGIN, ent, len, NENT);
	b = bundle_of(ORIGIN, ent, len, NENT, note);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_OK);
	bundle_free(b);
	free(note);
}

/* --- checkpoints seen before ------------------------------------------- */

static void
test_truncated_resigned(void **state)
{
	struct test_context *t = *state;
	const uint8_t *ent[NENT];
	size_t len[NENT];
	struct bundle_prior p = prior_of(t->note);
	struct bundle *b;
	char *note;

	/* The tail cut and re-signed with the right key: a valid log... */
	all_entries(t, ent, len);
	note = checkpoint(t->log, ORIGIN, ent, len, NENT - 2);
	b = bundle_of(ORIGIN, ent, len, NENT - 2, note);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_OK);

	/* ... but smaller than the one verified before. */
	assert_int_equal(verify(t, b, &p, 1), BUNDLE_EROLLBACK);
	assert_has(t->err, "ROLLBACK");
	bundle_free(b);
	free(note);
}

static void
test_fork(void **state)
{
	struct test_context *t = *state;
	uint8_t e[REFX_AUDIT_ENTRY_MAX];
	const uint8_t *ent[NENT];
	size_t len[NENT];
	struct bundle_prior p = prior_of(t->note);
	struct bundle *b;
	char *note;

	/* Entry 4 rewritten and the same size signed again. */
	all_entries(t, ent, len);
	len[4] = entry(e, 4, T0 + 4000, "rewritten");
	ent[4] = e;
	note = checkpoint(t->log, ORIGIN, ent, len, NENT);
	b = bundle_of(ORIGIN, ent, len, NENT, note);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_OK);
	assert_int_equal(verify(t, b, &p, 1), BUNDLE_EFORK);
	assert_has(t->err, "FORK (two roots for one size)");
	bundle_free(b);
	free(note);
}

static void
test_replay(void **state)
{
	struct test_context *t = *state;
	const uint8_t *ent[NENT];
	size_t len[NENT];
	struct bundle_prior p = prior_of(t->note);
	struct bundle *b;
	char *old;

	/* A genuine older checkpoint and its entries, state newer. */
	all_entries(t, ent, len);
	old = checkpoint(t->log, ORIGIN, ent, len, 4);
	b = bundle_of(ORIGIN, ent, len, 4, old);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_OK);
	assert_int_equal(verify(t, b, &p, 1), BUNDLE_EROLLBACK);
	assert_has(t->err, "fewer than the 7");
	bundle_free(b);
	free(old);
}

static void
test_consistent_history(void **state)
{
	struct test_context *t = *state;
	uint8_t e[REFX_AUDIT_ENTRY_MAX];
	const uint8_t *ent[NENT], *alt[NENT];
	size_t len[NENT], altlen[NENT];
	struct bundle_prior p[2];
	struct bundle *b;
	char *old, *empty, *forged;

	all_entries(t, ent, len);
	b = bundle_of(ORIGIN, ent, len, NENT, t->note);

	/* Verified before at 4, at 0 and at 7 (the same): all fine. */
	old = checkpoint(t->log, ORIGIN, ent, len, 4);
	empty = checkpoint(t->log, ORIGIN, ent, len, 0);
	p[0] = prior_of(old);
	p[1] = prior_of(empty);
	assert_int_equal(verify(t, b, p, 2), BUNDLE_OK);
	assert_int_equal(t->res.br_prior_size[0], 4);
	assert_int_equal(t->res.br_prior_size[1], 0);
	p[1] = prior_of(t->note);
	assert_int_equal(verify(t, b, p, 2), BUNDLE_OK);

	/* A checkpoint of 4 over another history: the log rewrote it. */
	all_entries(t, alt, altlen);
	altlen[1] = entry(e, 1, T0 + 1000, "another past");
	alt[1] = e;
	forged = checkpoint(t->log, ORIGIN, alt, altlen, 4);
	p[0] = prior_of(forged);
	assert_int_equal(verify(t, b, p, 1), BUNDLE_EROLLBACK);
	assert_has(t->err, "inconsistent with the checkpoint you verified "
	    "before");

	/* A cosigned checkpoint is a prior like any other. */
	{
		struct refx_note_key *w;
		uint8_t seed[REFX_NOTE_SEED_LEN];
		char *cos;
		uint64_t ts;

		memset(seed, 0x07, sizeof(seed));
		assert_non_null(w = refx_note_key_from_seed(OTHER
		    "/auditor/anna.berg", REFX_NOTE_COSIG_V1, seed));
		assert_int_equal(refx_note_cosign(old, strlen(old), w,
		    1795000000, &cos), 0);
		assert_int_equal(refx_note_verify_cosignature(cos, strlen(cos),
		    w, &ts), REFX_OK);
		p[0] = prior_of(cos);
		assert_int_equal(verify(t, b, p, 1), BUNDLE_OK);
		free(cos);
		assert_int_equal(refx_note_cosign(forged, strlen(forged), w,
		    1795000000, &cos), 0);
		p[0] = prior_of(cos);
		assert_int_equal(verify(t, b, p, 1), BUNDLE_EROLLBACK);
		free(cos);
		refx_note_key_free(w);
	}
	bundle_free(b);
	free(old);
	free(empty);
	free(forged);
}

/* --- signatures and origins ---------------------------------------------- */

static void
test_wrong_origin(void **state)
{
	struct test_context *t = *state;
	struct refx_note_key *k;
	const uint8_t *ent[NENT];
	size_t len[NENT];
	struct bundle *b;
	char *note;
	int st;

	all_entries(t, ent, len);

	/* The certificate vouches for another log than the bundle's. */
	b = bundle_of(ORIGIN, ent, len, NENT, t->note);
	st = bundle_verify(b, ORIGIN_OTHER, t->pk, NULL, 0, NULL, NULL,
	    &t->res, t->err, sizeof(t->err));
	assert_int_equal(st, BUNDLE_EBADSIG);
	bundle_free(b);

	/* Another unit's log passed off as this unit's. */
	assert_non_null(k = refx_note_key_from_seed(ORIGIN_OTHER,
	    REFX_NOTE_ED25519, t->seed));
	note = checkpoint(k, ORIGIN_OTHER, ent, len, NENT);
	b = bundle_of(ORIGIN_OTHER, ent, len, NENT, note);
	st = bundle_verify(b, ORIGIN_OTHER, t->pk, NULL, 0, NULL, NULL,
	    &t->res, t->err, sizeof(t->err));
	assert_int_equal(st, BUNDLE_EBADSIG);
	assert_has(t->err, "is not the log of unit " UNIT);
	bundle_free(b);

	/* The checkpoint signed as another log, with the same key seed. */
	b = bundle_of(ORIGIN, ent, len, NENT, note);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EBADSIG);
	bundle_free(b);
	free(note);
	refx_note_key_free(k);

	/* The right key name, but a text naming another origin. */
	{
		struct refx_merkle_range r;
		uint8_t root[REFX_MERKLE_HASH_LEN], leaf[REFX_MERKLE_HASH_LEN];
		char *text;
		size_t i;

		refx_merkle_range_init(&r);
		for (i = 0; i < NENT; i++) {
			refx_merkle_leaf_hash(ent[i], len[i], leaf);
			assert_int_equal(refx_merkle_range_append(&r, leaf), 0);
		}
		assert_int_equal(refx_merkle_range_root(&r, root), 0);
		assert_int_equal(refx_checkpoint_text(ORIGIN_OTHER, NENT, root,
		    &text), 0);
		assert_int_equal(refx_note_sign(text, t->log, &note), 0);
		free(text);
		b = bundle_of(ORIGIN, ent, len, NENT, note);
		assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EBADSIG);
		assert_has(t->err, "names another log");
		bundle_free(b);
		free(note);
	}
}

static void
test_bad_signature(void **state)
{
	struct test_context *t = *state;
	struct refx_note_key *k;
	uint8_t seed[REFX_NOTE_SEED_LEN];
	const uint8_t *ent[NENT];
	size_t len[NENT];
	struct bundle_prior p;
	struct bundle *b;
	char *note, *sig;

	all_entries(t, ent, len);

	/* One character of the signature changed. */
	assert_non_null(note = strdup(t->note));
	assert_non_null(sig = strstr(note, "\n\n\xe2\x80\x94 "));
	sig += 3 + 3 + strlen(ORIGIN) + 1 + 20;
	*sig = *sig == 'A' ? 'B' : 'A';
	b = bundle_of(ORIGIN, ent, len, NENT, note);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EBADSIG);
	assert_has(t->err, "not validly signed");
	bundle_free(b);
	free(note);

	/* Signed by another key of the same name. */
	memset(seed, 0x43, sizeof(seed));
	assert_non_null(k = refx_note_key_from_seed(ORIGIN, REFX_NOTE_ED25519,
	    seed));
	note = checkpoint(k, ORIGIN, ent, len, NENT);
	b = bundle_of(ORIGIN, ent, len, NENT, note);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EBADSIG);
	bundle_free(b);

	/* A saved state by another key: not ours to trust. */
	b = bundle_of(ORIGIN, ent, len, NENT, t->note);
	p = prior_of(note);
	assert_int_equal(verify(t, b, &p, 1), BUNDLE_EBADSIG);
	bundle_free(b);
	free(note);
	refx_note_key_free(k);

	/* No checkpoint at all. */
	b = bundle_of(ORIGIN, ent, len, NENT, NULL);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EBADSIG);
	assert_has(t->err, "no signed checkpoint");
	bundle_free(b);
}

/* --- bundle files -------------------------------------------------------- */

static int
parse_str(const char *s, struct bundle **b, char *err, size_t errlen)
{

	return (bundle_parse((const uint8_t *)s, strlen(s), b, err, errlen));
}

static void
test_roundtrip(void **state)
{
	struct test_context *t = *state;
	const uint8_t *ent[NENT];
	size_t len[NENT], tlen;
	struct bundle *b, *c;
	uint64_t size;
	char *text;

	all_entries(t, ent, len);
	b = bundle_of(ORIGIN, ent, len, NENT, t->note);
	assert_null(bundle_text(b, &tlen));		/* no certificate */
	assert_int_equal(bundle_set(b, UNIT, ORIGIN, "-----BEGIN CERTIFICATE"
	    "-----\nMII\n-----END CERTIFICATE-----\n", t->note), 0);
	assert_non_null(text = bundle_text(b, &tlen));
	assert_int_equal(strlen(text), tlen);
	assert_has(text, "\"format\": \"" BUNDLE_FORMAT "\"");
	assert_int_equal(bundle_parse((const uint8_t *)text, tlen, &c, t->err,
	    sizeof(t->err)), BUNDLE_OK);
	assert_string_equal(c->b_unit, UNIT);
	assert_string_equal(c->b_origin, ORIGIN);
	assert_string_equal(c->b_checkpoint, t->note);
	assert_int_equal(c->b_n, NENT);
	assert_int_equal(c->b_datalen, b->b_datalen);
	assert_memory_equal(c->b_data, b->b_data, b->b_datalen);
	assert_int_equal(verify(t, c, NULL, 0), BUNDLE_OK);

	assert_int_equal(bundle_checkpoint_size(t->note, &size), 0);
	assert_int_equal(size, NENT);
	assert_int_equal(bundle_checkpoint_size("no note", &size), -1);
	bundle_free(b);
	bundle_free(c);
	free(text);
}

static void
test_malformed(void **state)
{
	struct test_context *t = *state;
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"{\"format\": \"refx-audit-bundle-v1\"}",
		/* Wrong format, duplicate key, extra key. */
		"{\"format\": \"refx-audit-bundle-v2\", \"unit\": \"a\", "
		"\"origin\": \"o/audit/a\", \"certificate\": \"-----BEGIN "
		"CERTIFICATE-----\", \"checkpoint\": \"x\", \"entries\": []}",
		"{\"format\": \"refx-audit-bundle-v1\", \"unit\": \"a\", "
		"\"unit\": \"a\", \"origin\": \"o/audit/a\", \"certificate\": "
		"\"-----BEGIN CERTIFICATE-----\", \"checkpoint\": \"x\", "
		"\"entries\": []}",
		"{\"format\": \"refx-audit-bundle-v1\", \"unit\": \"a\", "
		"\"origin\": \"o/audit/a\", \"certificate\": \"-----BEGIN "
		"CERTIFICATE-----\", \"checkpoint\": \"x\", \"entries\": [], "
		"\"extra\": 1}",
		/* Bad unit, origin with a space, not a PEM, entries not list. */
		"{\"format\": \"refx-audit-bundle-v1\", \"unit\": \"A B\", "
		"\"origin\": \"o/audit/a\", \"certificate\": \"-----BEGIN "
		"CERTIFICATE-----\", \"checkpoint\": \"x\", \"entries\": []}",
		"{\"format\": \"refx-audit-bundle-v1\", \"unit\": \"a\", "
		"\"origin\": \"o /audit/a\", \"certificate\": \"-----BEGIN "
		"CERTIFICATE-----\", \"checkpoint\": \"x\", \"entries\": []}",
		"{\"format\": \"refx-audit-bundle-v1\", \"unit\": \"a\", "
		"\"origin\": \"o/audit/a\", \"certificate\": \"MII\", "
		"\"checkpoint\": \"x\", \"entries\": []}",
		"{\"format\": \"refx-audit-bundle-v1\", \"unit\": \"a\", "
		"\"origin\": \"o/audit/a\", \"certificate\": \"-----BEGIN "
		"CERTIFICATE-----\", \"checkpoint\": \"x\", \"entries\": {}}",
		/* Entries: not base64, not strings, a NUL in the note. */
		"{\"format\": \"refx-audit-bundle-v1\", \"unit\": \"a\", "
		"\"origin\": \"o/audit/a\", \"certificate\": \"-----BEGIN "
		"CERTIFICATE-----\", \"checkpoint\": \"x\", \"entries\": "
		"[\"AAA\"]}",
		"{\"format\": \"refx-audit-bundle-v1\", \"unit\": \"a\", "
		"\"origin\": \"o/audit/a\", \"certificate\": \"-----BEGIN "
		"CERTIFICATE-----\", \"checkpoint\": \"x\", \"entries\": [1]}",
		"{\"format\": \"refx-audit-bundle-v1\", \"unit\": \"a\", "
		"\"origin\": \"o/audit/a\", \"certificate\": \"-----BEGIN "
		"CERTIFICATE-----\", \"checkpoint\": \"x\\u0000y\", "
		"\"entries\": []}",
	};
	struct bundle *b;
	char *big, *note;
	size_t i, n;
	const uint8_t *ent[NENT];
	size_t len[NENT];

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = (struct bundle *)1;
		if (parse_str(bad[i], &b, t->err, sizeof(t->err)) !=
		    BUNDLE_EMALFORMED)
			fail_msg("bad[%zu] was accepted", i);
		assert_null(b);
	}

	/* An entry larger than any audit entry. */
	n = (REFX_AUDIT_ENTRY_MAX + 3) / 3 * 4 + 1;
	assert_non_null(big = malloc(n + 300));
	i = (size_t)snprintf(big, n + 300, "{\"format\": \"refx-audit-bundle-"
	    "v1\", \"unit\": \"a\", \"origin\": \"o/audit/a\", "
	    "\"certificate\": \"-----BEGIN CERTIFICATE-----\", "
	    "\"checkpoint\": \"x\", \"entries\": [\"");
	memset(big + i, 'A', (REFX_AUDIT_ENTRY_MAX + 3) / 3 * 4);
	i += (REFX_AUDIT_ENTRY_MAX + 3) / 3 * 4;
	memcpy(big + i, "\"]}", 4);
	assert_int_equal(parse_str(big, &b, t->err, sizeof(t->err)),
	    BUNDLE_EMALFORMED);
	assert_has(t->err, "entries[0]");
	free(big);

	/* Well-formed as a file, but the checkpoint is not a note. */
	all_entries(t, ent, len);
	b = bundle_of(ORIGIN, ent, len, NENT, "not a signed note\n");
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EMALFORMED);
	bundle_free(b);

	/* Nor is a saved state. */
	b = bundle_of(ORIGIN, ent, len, NENT, t->note);
	{
		struct bundle_prior p = prior_of("garbage");

		assert_int_equal(verify(t, b, &p, 1), BUNDLE_EMALFORMED);
	}

	/* A note with an extra line in its text. */
	assert_non_null(note = malloc(strlen(t->note) + 8));
	snprintf(note, strlen(t->note) + 8, "x\n%s", t->note);
	{
		struct bundle_prior p = prior_of(note);

		assert_int_not_equal(verify(t, b, &p, 1), BUNDLE_OK);
	}
	free(note);
	bundle_free(b);
}

/* Count progress calls and check their arguments. */
static void
progress(void *cookie, uint64_t done, uint64_t all)
{
	struct test_context *t = cookie;

	assert_int_equal(all, MANY);
	assert_true(done > t->last);
	assert_true(done == all || done % BUNDLE_PROGRESS_EVERY == 0);
	t->last = done;
	t->calls++;
}

static void
test_progress(void **state)
{
	struct test_context *t = *state;
	uint8_t (*e)[512];
	const uint8_t **ent;
	size_t *len, i;
	struct bundle *b;
	char *note;

	assert_non_null(e = calloc(MANY, sizeof(*e)));
	assert_non_null(ent = calloc(MANY, sizeof(*ent)));
	assert_non_null(len = calloc(MANY, sizeof(*len)));
	for (i = 0; i < MANY; i++) {
		uint8_t buf[REFX_AUDIT_ENTRY_MAX];

		len[i] = entry(buf, i, T0 + i, "");
		assert_true(len[i] <= sizeof(e[i]));
		memcpy(e[i], buf, len[i]);
		ent[i] = e[i];
	}
	note = checkpoint(t->log, ORIGIN, ent, len, MANY);
	b = bundle_of(ORIGIN, ent, len, MANY, note);
	assert_int_equal(bundle_verify(b, ORIGIN, t->pk, NULL, 0, progress, t,
	    &t->res, t->err, sizeof(t->err)), BUNDLE_OK);
	assert_int_equal(t->calls, 3);		/* 1000, 2000, 2500 */
	assert_int_equal(t->last, MANY);
	bundle_free(b);
	free(note);
	free(e);
	free(ent);
	free(len);
}

/* --- bundle files read through a window (bundle_read) -------------------- */

#define SMALL_BUNDLE	"{\"format\": \"refx-audit-bundle-v1\", \"unit\": " \
	"\"a\", \"origin\": \"o/audit/a\", \"certificate\": \"-----BEGIN " \
	"CERTIFICATE-----\", \"checkpoint\": \"x\", \"entries\": [\"AA==\", " \
	"\"AAE=\", \"AAECAwQ=\", \"AAE\\u003d\", \"+\\/+\\/\", \"\"]}"
#define PEM_DUMMY	"-----BEGIN CERTIFICATE-----\nMII\n" \
			"-----END CERTIFICATE-----\n"
#define FUZZ_CHARS	"\"\\,:[]{} \nA=/u0t\xc3\x80\xff"
#define B64_MAX_LEN	((REFX_AUDIT_ENTRY_MAX + 2) / 3 * 4)

/* A deterministic xorshift64 for the fuzz tests. */
static uint64_t
rnd(uint64_t *s)
{

	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (*s);
}

/* An unlinked temporary file, open for reading and writing. */
static int
tmp_fd(void)
{
	char path[] = "/tmp/test_cli_audit.XXXXXX";
	int fd;

	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(unlink(path), 0);
	return (fd);
}

/* Make the file ${fd} hold exactly ${len} bytes at ${text}. */
static void
put_file(int fd, const void *text, size_t len)
{

	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, text, len, 0), (ssize_t)len);
}

/* The string member ${key} of ${o}, as the old parser took it. */
static const char *
ref_str(json_t *o, const char *key, size_t max)
{
	json_t *v;

	if ((v = json_object_get(o, key)) == NULL || !json_is_string(v) ||
	    json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return (NULL);
	return (json_string_value(v));
}

/*
 * The parser bundle_parse replaced (a jansson tree of the whole file),
 * kept as the reference: the scanner must accept exactly what it did,
 * and read the same bundle.  Return BUNDLE_OK or BUNDLE_EMALFORMED.
 */
static int
ref_parse(const uint8_t *text, size_t len, struct bundle **bp)
{
	const char *format, *unit, *origin, *cert, *cp;
	json_error_t je;
	json_t *root, *entries, *e;
	struct bundle *b = NULL;
	uint8_t *raw;
	size_t i, rawlen;
	int rc;

	*bp = NULL;
	if ((root = json_loadb((const char *)text, len,
	    JSON_REJECT_DUPLICATES, &je)) == NULL)
		return (BUNDLE_EMALFORMED);
	format = ref_str(root, "format", 64);
	unit = ref_str(root, "unit", REFX_AGENCY_ID_MAX);
	origin = ref_str(root, "origin", REFX_NOTE_NAME_MAX);
	cert = ref_str(root, "certificate", BUNDLE_CERT_MAX);
	cp = ref_str(root, "checkpoint", REFX_NOTE_MAX);
	entries = json_object_get(root, "entries");
	if (!json_is_object(root) || json_object_size(root) != 6 ||
	    format == NULL || strcmp(format, BUNDLE_FORMAT) != 0 ||
	    unit == NULL || !refx_agency_id_valid(unit) || origin == NULL ||
	    cert == NULL || strncmp(cert, "-----BEGIN CERTIFICATE-----",
	    27) != 0 || cp == NULL || !json_is_array(entries) ||
	    json_array_size(entries) > BUNDLE_ENTRIES_MAX)
		goto bad;
	assert_non_null(b = bundle_new());
	if (bundle_set(b, unit, origin, cert, cp))	/* origin_valid */
		goto bad;
	json_array_foreach(entries, i, e) {
		if (!json_is_string(e) || json_string_length(e) >
		    (REFX_AUDIT_ENTRY_MAX + 2) / 3 * 4 ||
		    refx_b64_decode(json_string_value(e), REFX_AUDIT_ENTRY_MAX,
		    &raw, &rawlen))
			goto bad;
		rc = bundle_add(b, raw, rawlen);
		free(raw);
		assert_int_equal(rc, 0);
	}
	json_decref(root);
	*bp = b;
	return (BUNDLE_OK);

bad:
	bundle_free(b);
	json_decref(root);
	return (BUNDLE_EMALFORMED);
}

/* ${a} and ${b} hold the same log: members and entries. */
static void
same_bundle(const struct bundle *a, const struct bundle *b, int entries)
{

	assert_string_equal(a->b_unit, b->b_unit);
	assert_string_equal(a->b_origin, b->b_origin);
	assert_string_equal(a->b_cert, b->b_cert);
	assert_string_equal(a->b_checkpoint, b->b_checkpoint);
	assert_int_equal(a->b_n, b->b_n);
	if (!entries)
		return;
	assert_int_equal(a->b_datalen, b->b_datalen);
	assert_memory_equal(a->b_off, b->b_off, (a->b_n + 1) *
	    sizeof(a->b_off[0]));
	if (a->b_datalen > 0)
		assert_memory_equal(a->b_data, b->b_data, a->b_datalen);
}

/*
 * Parse ${text} the old way, with bundle_parse and with bundle_read of
 * the file ${fd}: all three accept it, and read the same bundle, or all
 * refuse it as malformed.  Return whether it was accepted.
 */
static int
agree(struct test_context *t, int fd, const uint8_t *text, size_t len)
{
	struct bundle *r, *m, *f;
	int sr, sm, sf;

	sr = ref_parse(text, len, &r);
	sm = bundle_parse(text, len, &m, t->err, sizeof(t->err));
	put_file(fd, text, len);
	sf = bundle_read(fd, &f, t->err, sizeof(t->err));
	if ((sr == BUNDLE_OK) != (sm == BUNDLE_OK) ||
	    (sr == BUNDLE_OK) != (sf == BUNDLE_OK))
		fail_msg("old parser %d, bundle_parse %d, bundle_read %d (%s) "
		    "on %zu bytes: '%.*s'", sr, sm, sf, t->err, len, (int)len,
		    (const char *)text);
	if (sr == BUNDLE_OK) {
		same_bundle(r, m, 1);
		same_bundle(r, f, 0);
		assert_int_equal(f->b_fd, fd);
		assert_int_equal(f->b_datalen, 0);
	} else {
		assert_int_equal(sm, BUNDLE_EMALFORMED);
		assert_int_equal(sf, BUNDLE_EMALFORMED);
		assert_null(m);
		assert_null(f);
	}
	bundle_free(r);
	bundle_free(m);
	bundle_free(f);
	return (sr == BUNDLE_OK);
}

/* The text bundle_text wrote before: jansson's dump of the whole tree. */
static char *
ref_text(const struct bundle *b)
{
	json_t *o, *entries;
	char *s, *text;
	size_t i;

	assert_non_null(o = json_object());
	assert_int_equal(json_object_set_new(o, "format",
	    json_string(BUNDLE_FORMAT)), 0);
	assert_int_equal(json_object_set_new(o, "unit",
	    json_string(b->b_unit)), 0);
	assert_int_equal(json_object_set_new(o, "origin",
	    json_string(b->b_origin)), 0);
	assert_int_equal(json_object_set_new(o, "certificate",
	    json_string(b->b_cert)), 0);
	assert_int_equal(json_object_set_new(o, "checkpoint",
	    json_string(b->b_checkpoint)), 0);
	assert_int_equal(json_object_set_new(o, "entries",
	    entries = json_array()), 0);
	for (i = 0; i < b->b_n; i++) {
		assert_non_null(s = refx_b64_encode(b->b_data + b->b_off[i],
		    b->b_off[i + 1] - b->b_off[i]));
		assert_int_equal(json_array_append_new(entries,
		    json_string(s)), 0);
		free(s);
	}
	assert_non_null(text = json_dumps(o, JSON_INDENT(1) |
	    JSON_PRESERVE_ORDER));
	json_decref(o);
	return (text);
}

static void
test_text_identical(void **state)
{
	struct test_context *t = *state;
	uint8_t raw[64];
	struct bundle *b;
	char *ours, *ref, *note;
	size_t n, len, i;

	/* No entries, then entries of every length mod 3, then more. */
	assert_non_null(note = malloc(strlen(t->note) + 16));
	snprintf(note, strlen(t->note) + 16, "%s\"\\\t/\x7f", t->note);
	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 37 + 255);
	assert_non_null(b = bundle_new());
	assert_int_equal(bundle_set(b, UNIT, ORIGIN, PEM_DUMMY, note), 0);
	for (n = 0; n < 40; n++) {
		assert_non_null(ours = bundle_text(b, &len));
		ref = ref_text(b);
		assert_int_equal(len, strlen(ref));
		assert_string_equal(ours, ref);
		free(ours);
		free(ref);
		assert_int_equal(bundle_add(b, raw + n % 7, n % 13), 0);
	}
	bundle_free(b);
	free(note);
}

static void
test_b64_strict(void **state)
{
	struct test_context *t = *state;
	static const char alpha[] = "AQgwzB9+/=-. ";
	static const char *const edge[] = {
		"", "AA==", "AQ==", "AB==", "AAA=", "AAB=", "AAE=", "AAAA",
		"A===", "====", "AA=A", "=AAA", "AA==AAAA", "AAAAA", "AAA",
		"A", "AAAA====", "+/+/", "-_-_", "AA\n=", " AAA", "AAA ",
	};
	char s[32], text[256];
	struct bundle *b, *r;
	uint8_t *raw;
	size_t i, n, rawlen;
	uint64_t seed = 0x9e3779b97f4a7c15;
	int fd, lib, ours, accepted = 0;

	fd = tmp_fd();
	for (i = 0; i < sizeof(edge) / sizeof(edge[0]) + 30000; i++) {
		if (i < sizeof(edge) / sizeof(edge[0]))
			snprintf(s, sizeof(s), "%s", edge[i]);
		else {
			n = (size_t)(rnd(&seed) % 13);
			s[n] = '\0';
			while (n-- > 0)
				s[n] = alpha[rnd(&seed) % (sizeof(alpha) - 1)];
		}

		/* bundle_add_b64 (the decoder) takes what refx_b64_decode does. */
		lib = refx_b64_decode(s, REFX_AUDIT_ENTRY_MAX, &raw, &rawlen);
		assert_non_null(b = bundle_new());
		ours = bundle_add_b64(b, s);
		if (lib != ours)
			fail_msg("'%s': refx_b64_decode %d, bundle_add_b64 %d",
			    s, lib, ours);
		if (lib == 0) {
			accepted++;
			assert_int_equal(b->b_datalen, rawlen);
			if (rawlen > 0)
				assert_memory_equal(b->b_data, raw, rawlen);
			free(raw);
		}
		bundle_free(b);

		/* In a file: the check-only pass (b64_valid) agrees too. */
		if (i % 10 == 0 || i < sizeof(edge) / sizeof(edge[0])) {
			if (strchr(s, '\n') != NULL)
				continue;
			n = (size_t)snprintf(text, sizeof(text), "{\"format\": "
			    "\"refx-audit-bundle-v1\", \"unit\": \"a\", "
			    "\"origin\": \"o/audit/a\", \"certificate\": "
			    "\"-----BEGIN CERTIFICATE-----\", \"checkpoint\": "
			    "\"x\", \"entries\": [\"%s\"]}", s);
			assert_int_equal(agree(t, fd, (uint8_t *)text, n),
			    lib == 0);
		}
	}
	assert_true(accepted > 1000);

	/* At most REFX_AUDIT_ENTRY_MAX bytes: 8192 is the base64 of 10924
	 * characters with one '=', and 10924 without decode to 8193. */
	n = B64_MAX_LEN;
	{
		char *big, *doc;
		size_t dl;

		assert_non_null(big = malloc(n + 1));
		assert_non_null(doc = malloc(n + 300));
		memset(big, 'A', n);
		big[n] = '\0';
		assert_non_null(r = bundle_new());
		assert_int_equal(bundle_add_b64(r, big), -1);	/* 8193 */
		big[n - 1] = '=';
		assert_int_equal(bundle_add_b64(r, big), 0);	/* 8192 */
		assert_int_equal(r->b_datalen, REFX_AUDIT_ENTRY_MAX);
		bundle_free(r);
		dl = (size_t)snprintf(doc, n + 300, "{\"format\": "
		    "\"refx-audit-bundle-v1\", \"unit\": \"a\", \"origin\": "
		    "\"o/audit/a\", \"certificate\": \"-----BEGIN "
		    "CERTIFICATE-----\", \"checkpoint\": \"x\", \"entries\": "
		    "[\"%s\"]}", big);
		assert_int_equal(agree(t, fd, (uint8_t *)doc, dl), 1);
		big[n - 1] = 'A';
		dl = (size_t)snprintf(doc, n + 300, "{\"format\": "
		    "\"refx-audit-bundle-v1\", \"unit\": \"a\", \"origin\": "
		    "\"o/audit/a\", \"certificate\": \"-----BEGIN "
		    "CERTIFICATE-----\", \"checkpoint\": \"x\", \"entries\": "
		    "[\"%s\"]}", big);
		assert_int_equal(agree(t, fd, (uint8_t *)doc, dl), 0);
		assert_has(t->err, "entries[0] is not the base64");
		free(big);
		free(doc);
	}
	close(fd);
}

static void
test_read_fuzz(void **state)
{
	struct test_context *t = *state;
	static const char chars[] = FUZZ_CHARS;
	const char *base = SMALL_BUNDLE;
	size_t blen = strlen(base), i, j, k, n, ops;
	uint8_t buf[512];
	uint64_t seed = 1;
	int fd, ok = 0;

	fd = tmp_fd();
	assert_int_equal(agree(t, fd, (const uint8_t *)base, blen), 1);

	/* Every prefix: truncated, refused (the whole one is fine). */
	for (n = 0; n < blen; n++)
		assert_int_equal(agree(t, fd, (const uint8_t *)base, n), 0);

	/* Every byte replaced by, or preceded by, each of a set; deleted. */
	for (i = 0; i < blen; i++) {
		for (k = 0; k < sizeof(chars) - 1; k++) {
			memcpy(buf, base, blen);
			buf[i] = (uint8_t)chars[k];
			ok += agree(t, fd, buf, blen);
			memcpy(buf, base, i);
			buf[i] = (uint8_t)chars[k];
			memcpy(buf + i + 1, base + i, blen - i);
			ok += agree(t, fd, buf, blen + 1);
		}
		memcpy(buf, base, i);
		memcpy(buf + i, base + i + 1, blen - i - 1);
		ok += agree(t, fd, buf, blen - 1);
	}

	/* Random bytes and runs of mutations. */
	for (j = 0; j < 4000; j++) {
		memcpy(buf, base, blen);
		n = blen;
		for (ops = 1 + rnd(&seed) % 4; ops > 0; ops--) {
			i = (size_t)(rnd(&seed) % n);
			k = (size_t)(rnd(&seed) % 3);
			if (k == 0)
				buf[i] = (uint8_t)rnd(&seed);
			else if (k == 1 && n < sizeof(buf) - 1) {
				memmove(buf + i + 1, buf + i, n - i);
				buf[i] = (uint8_t)chars[rnd(&seed) %
				    (sizeof(chars) - 1)];
				n++;
			} else if (n > 1) {
				memmove(buf + i, buf + i + 1, n - i - 1);
				n--;
			}
		}
		ok += agree(t, fd, buf, n);
	}

	/* Some mutations are still bundles (whitespace, escapes, ...). */
	assert_true(ok > 100);
	close(fd);
}

/* Parse ${text} from memory and from a file; both give ${st}, ${sub}. */
static void
both(struct test_context *t, int fd, const char *text, size_t len, int st,
    const char *sub)
{
	struct bundle *b;

	assert_int_equal(bundle_parse((const uint8_t *)text, len, &b, t->err,
	    sizeof(t->err)), st);
	if (sub != NULL)
		assert_has(t->err, sub);
	bundle_free(b);
	put_file(fd, text, len);
	assert_int_equal(bundle_read(fd, &b, t->err, sizeof(t->err)), st);
	if (sub != NULL)
		assert_has(t->err, sub);
	bundle_free(b);
}

static void
test_read_hostile(void **state)
{
	struct test_context *t = *state;
	static const struct {
		const char	*text;
		int		 st;
		const char	*sub;
	} cases[] = {
		{ SMALL_BUNDLE, BUNDLE_OK, NULL },
		{ SMALL_BUNDLE " \n\t\r", BUNDLE_OK, NULL },
		{ SMALL_BUNDLE "x", BUNDLE_EMALFORMED, "data after the object" },
		{ SMALL_BUNDLE "{}", BUNDLE_EMALFORMED, "data after" },
		{ "", BUNDLE_EMALFORMED, "no object" },
		{ "   ", BUNDLE_EMALFORMED, "no object" },
		{ "\xef\xbb\xbf{}", BUNDLE_EMALFORMED, "no object" },
		{ "{}", BUNDLE_EMALFORMED, "not a refx-audit-bundle-v1" },
		{ "{\"entries\": []", BUNDLE_EMALFORMED, "ends" },
		{ "{\"entries\": [\"AA==\"", BUNDLE_EMALFORMED, "ends" },
		{ "{\"entries\": [\"AA==", BUNDLE_EMALFORMED, "ends" },
		{ "{\"entries\": [\"AA==\",]}", BUNDLE_EMALFORMED,
		    "entries[1] is not" },
		{ "{\"entries\": [\"AA==\" \"AA==\"]}", BUNDLE_EMALFORMED,
		    "',' or ']' expected" },
		{ "{\"entries\": [\"AAA\"]}", BUNDLE_EMALFORMED,
		    "entries[0] is not the base64" },
		{ "{\"entries\": [\"AB==\"]}", BUNDLE_EMALFORMED,
		    "entries[0] is not the base64" },
		{ "{\"entries\": [\"A===\"]}", BUNDLE_EMALFORMED,
		    "entries[0] is not the base64" },
		{ "{\"entries\": [\"AA==AA==\"]}", BUNDLE_EMALFORMED,
		    "entries[0] is not the base64" },
		{ "{\"entries\": [\"AA-_\"]}", BUNDLE_EMALFORMED,
		    "entries[0] is not the base64" },
		{ "{\"entries\": [\"AA\\n==\"]}", BUNDLE_EMALFORMED,
		    "entries[0] is not the base64" },
		{ "{\"entries\": [\"AA\\u0000A\"]}", BUNDLE_EMALFORMED,
		    "entries[0] is not the base64" },
		{ "{\"entries\": [1]}", BUNDLE_EMALFORMED,
		    "entries[0] is not the base64" },
		{ "{\"entries\": [[\"AA==\"]]}", BUNDLE_EMALFORMED,
		    "entries[0] is not the base64" },
		{ "{\"entries\": {}}", BUNDLE_EMALFORMED, "wrong type" },
		{ "{\"entries\": \"AA==\"}", BUNDLE_EMALFORMED, "wrong type" },
		{ "{\"unit\": {\"a\": 1}}", BUNDLE_EMALFORMED, "wrong type" },
		{ "{\"format\": 1}", BUNDLE_EMALFORMED, "not a refx-audit" },
		{ "{\"entries\": [], \"entries\": []}", BUNDLE_EMALFORMED,
		    "not a refx-audit" },
		{ "{\"other\": []}", BUNDLE_EMALFORMED, "not a refx-audit" },
		{ "{\"unit\" \"a\"}", BUNDLE_EMALFORMED, "':' expected" },
		{ "{\"unit\": \"a\" \"origin\": \"o\"}", BUNDLE_EMALFORMED,
		    "',' or '}' expected" },
		{ "{unit: \"a\"}", BUNDLE_EMALFORMED, "a member name expected" },
		{ "{\"un\x01it\": \"a\"}", BUNDLE_EMALFORMED, "a member name" },
		{ "{\"unit\": \"\xff\"}", BUNDLE_EMALFORMED,
		    "not a valid string" },
	};
	char *text, *p;
	size_t i, len, n;
	struct bundle *b, *r;
	int fd;

	fd = tmp_fd();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		both(t, fd, cases[i].text, strlen(cases[i].text), cases[i].st,
		    cases[i].sub);

	/* NUL bytes: after the object, in an entry, in a value. */
	both(t, fd, SMALL_BUNDLE "\0", sizeof(SMALL_BUNDLE), BUNDLE_EMALFORMED,
	    "data after");
	both(t, fd, "{\"entries\": [\"AA\0A\"]}", 20, BUNDLE_EMALFORMED,
	    "entries[0] is not the base64");
	both(t, fd, "{\"unit\": \"a\0\"}", 15, BUNDLE_EMALFORMED,
	    "not a valid string");

	/* Escapes in names, values and entries mean what jansson says. */
	{
		const char *esc = "{\"for\\u006dat\": \"refx-audit-bundle-v1\", "
		    "\"unit\": \"\\u0061\", \"origin\": \"o\\/audit\\/a\", "
		    "\"certificate\": \"-----BEGIN CERTIFICATE-----\", "
		    "\"checkpoint\": \"x\\n\", \"entries\": [\"\\u0041A==\", "
		    "\"+\\/+\\/\"]}";

		assert_int_equal(agree(t, fd, (const uint8_t *)esc,
		    strlen(esc)), 1);
		assert_int_equal(bundle_parse((const uint8_t *)esc, strlen(esc),
		    &b, t->err, sizeof(t->err)), BUNDLE_OK);
		assert_string_equal(b->b_origin, "o/audit/a");
		assert_int_equal(b->b_n, 2);
		assert_int_equal(b->b_off[1], 1);
		assert_memory_equal(b->b_data + 1, "\xfb\xff\xbf", 3);
		bundle_free(b);
	}

	/* An escaped quote or backslash does not end a string. */
	{
#define Q_HEAD	"{\"format\": \"refx-audit-bundle-v1\", \"unit\": \"a\", " \
		"\"origin\": \"o/audit/a\", \"certificate\": \"-----BEGIN " \
		"CERTIFICATE-----\\\"\", \"checkpoint\": \"x\\\"], \\\\\", " \
		"\"entries\": [\"AA==\""
		static const char good[] = Q_HEAD "]}";
		static const char bad[] = Q_HEAD ", \"AA\\\"\"]}";
#undef Q_HEAD

		assert_int_equal(agree(t, fd, (const uint8_t *)bad,
		    strlen(bad)), 0);
		assert_int_equal(bundle_parse((const uint8_t *)bad, strlen(bad),
		    &b, t->err, sizeof(t->err)), BUNDLE_EMALFORMED);
		assert_has(t->err, "entries[1] is not the base64");
		assert_int_equal(agree(t, fd, (const uint8_t *)good,
		    strlen(good)), 1);
		assert_int_equal(bundle_parse((const uint8_t *)good,
		    strlen(good), &b, t->err, sizeof(t->err)), BUNDLE_OK);
		assert_string_equal(b->b_cert, "-----BEGIN CERTIFICATE-----\"");
		assert_string_equal(b->b_checkpoint, "x\"], \\");
		assert_int_equal(b->b_n, 1);
		bundle_free(b);
	}

	/* A string longer than BUNDLE_TOKEN_MAX; whitespace is not one. */
	n = BUNDLE_TOKEN_MAX + 2;
	assert_non_null(text = malloc(n + 3 * BUNDLE_WINDOW));
	p = text;
	p += sprintf(p, "{\"certificate\": \"-----BEGIN CERTIFICATE-----");
	memset(p, 'A', n);
	p += n;
	p += sprintf(p, "\"}");
	both(t, fd, text, (size_t)(p - text), BUNDLE_EMALFORMED,
	    "is longer than 1048576 bytes");
	p = text;
	p += sprintf(p, "{\"format\": \"refx-audit-bundle-v1\", \"unit\": "
	    "\"a\", \"origin\": \"o/audit/a\", ");
	memset(p, ' ', 2 * BUNDLE_WINDOW + 17);
	p += 2 * BUNDLE_WINDOW + 17;
	p += sprintf(p, "\"certificate\": \"-----BEGIN CERTIFICATE-----\", "
	    "\"checkpoint\": \"x\", \"entries\": [\"AAEC\"]}");
	both(t, fd, text, (size_t)(p - text), BUNDLE_OK, NULL);
	free(text);

	/* A file only: not a regular file, or not open. */
	{
		int pfd[2];

		assert_int_equal(pipe(pfd), 0);
		assert_int_equal(bundle_read(pfd[0], &b, t->err,
		    sizeof(t->err)), BUNDLE_EREAD);
		assert_has(t->err, "not a regular file");
		assert_null(b);
		close(pfd[0]);
		close(pfd[1]);
		assert_int_equal(bundle_read(-1, &b, t->err, sizeof(t->err)),
		    BUNDLE_EREAD);
	}

	/* A bundle read from a file keeps its entries there. */
	put_file(fd, SMALL_BUNDLE, strlen(SMALL_BUNDLE));
	assert_int_equal(bundle_read(fd, &b, t->err, sizeof(t->err)),
	    BUNDLE_OK);
	assert_int_equal(b->b_n, 6);
	assert_int_equal(bundle_add(b, (const uint8_t *)"x", 1), -1);
	assert_null(bundle_text(b, &len));
	assert_int_equal(ref_parse((const uint8_t *)SMALL_BUNDLE,
	    strlen(SMALL_BUNDLE), &r), BUNDLE_OK);
	same_bundle(r, b, 0);
	bundle_free(r);
	bundle_free(b);
	close(fd);
}

static void
test_read_count(void **state)
{
	struct test_context *t = *state;
	static const char head[] = "{\"format\": \"refx-audit-bundle-v1\", "
	    "\"unit\": \"a\", \"origin\": \"o/audit/a\", \"certificate\": "
	    "\"-----BEGIN CERTIFICATE-----\", \"checkpoint\": \"x\", "
	    "\"entries\": [\"\"";
	char *chunk;
	size_t i, per = 1 << 20, left;
	off_t off;
	struct bundle *b;
	int fd;

	/* One entry more than BUNDLE_ENTRIES_MAX (empty ones, 3 bytes). */
	fd = tmp_fd();
	assert_non_null(chunk = malloc(3 * per));
	for (i = 0; i < per; i++)
		memcpy(chunk + 3 * i, ",\"\"", 3);
	assert_int_equal(pwrite(fd, head, strlen(head), 0),
	    (ssize_t)strlen(head));
	off = (off_t)strlen(head);
	for (left = BUNDLE_ENTRIES_MAX; left > 0; left -= i) {
		i = left < per ? left : per;
		assert_int_equal(pwrite(fd, chunk, 3 * i, off), (ssize_t)(3 * i));
		off += (off_t)(3 * i);
	}
	assert_int_equal(pwrite(fd, "]}", 2, off), 2);
	assert_int_equal(bundle_read(fd, &b, t->err, sizeof(t->err)),
	    BUNDLE_EMALFORMED);
	assert_has(t->err, "more than 16777216 entries");
	assert_null(b);

	/* Exactly BUNDLE_ENTRIES_MAX: read, in a window, with no memory. */
	assert_int_equal(pwrite(fd, "]}", 2, off - 3), 2);
	assert_int_equal(ftruncate(fd, off - 1), 0);
	assert_int_equal(bundle_read(fd, &b, t->err, sizeof(t->err)),
	    BUNDLE_OK);
	assert_int_equal(b->b_n, BUNDLE_ENTRIES_MAX);
	assert_null(b->b_data);
	bundle_free(b);
	free(chunk);
	close(fd);
}

/* The text of ${b} with a dummy certificate, in a new string. */
static char *
text_of(struct bundle *b, const char *note, size_t *len)
{

	assert_int_equal(bundle_set(b, UNIT, ORIGIN, PEM_DUMMY, note), 0);
	return (bundle_text(b, len));
}

/* Read ${text} as a file and verify it; also from memory: same status. */
static int
verify_file(struct test_context *t, int fd, const char *text, size_t len,
    const struct bundle_prior *prior, size_t nprior)
{
	struct bundle_result mres;
	struct bundle *m, *f;
	int sm, sf, vm, vf;

	sm = bundle_parse((const uint8_t *)text, len, &m, t->err,
	    sizeof(t->err));
	put_file(fd, text, len);
	sf = bundle_read(fd, &f, t->err, sizeof(t->err));
	assert_int_equal(sm, sf);
	if (sf != BUNDLE_OK)
		return (sf);
	vm = bundle_verify(m, ORIGIN, t->pk, prior, nprior, NULL, NULL, &mres,
	    t->err, sizeof(t->err));
	vf = verify(t, f, prior, nprior);
	assert_int_equal(vm, vf);
	if (vf == BUNDLE_OK) {
		assert_int_equal(mres.br_size, t->res.br_size);
		assert_memory_equal(mres.br_root, t->res.br_root,
		    sizeof(mres.br_root));
	}
	bundle_free(m);
	bundle_free(f);
	return (vf);
}

static void
test_read_verify(void **state)
{
	struct test_context *t = *state;
	const uint8_t *ent[NENT];
	size_t len[NENT], tlen, i, n, at;
	struct bundle_prior p;
	struct bundle *b, *b2;
	char *text, *mut, *fewer;
	uint64_t seed = 7;
	int fd, st, seen[256] = { 0 };

	fd = tmp_fd();
	all_entries(t, ent, len);
	b = bundle_of(ORIGIN, ent, len, NENT, t->note);
	assert_non_null(text = text_of(b, t->note, &tlen));
	bundle_free(b);
	assert_int_equal(verify_file(t, fd, text, tlen, NULL, 0), BUNDLE_OK);
	assert_int_equal(t->res.br_size, NENT);
	p = prior_of(t->note);
	assert_int_equal(verify_file(t, fd, text, tlen, &p, 1), BUNDLE_OK);

	/* Each byte changed (or removed): the same verdict either way. */
	assert_non_null(mut = malloc(tlen + 1));
	for (i = 0; i < tlen; i++) {
		memcpy(mut, text, tlen);
		mut[i] = FUZZ_CHARS[rnd(&seed) % (sizeof(FUZZ_CHARS) - 1)];
		if (mut[i] == text[i])
			mut[i] = 'B';
		st = verify_file(t, fd, mut, tlen, NULL, 0);
		seen[st]++;
		if (i % 4 == 0) {
			memcpy(mut, text, i);
			memcpy(mut + i, text + i + 1, tlen - i - 1);
			seen[verify_file(t, fd, mut, tlen - 1, NULL, 0)]++;
		}
	}
	assert_true(seen[BUNDLE_OK] > 0);		/* whitespace */
	assert_true(seen[BUNDLE_EMALFORMED] > 0);
	assert_true(seen[BUNDLE_EBADSIG] > 0);		/* in the note */
	assert_true(seen[BUNDLE_EMISMATCH] > 0);	/* in an entry */

	/* The file changes between bundle_read and bundle_verify. */
	put_file(fd, text, tlen);
	assert_int_equal(bundle_read(fd, &b, t->err, sizeof(t->err)),
	    BUNDLE_OK);
	at = (size_t)(strchr(strstr(text, "\"entries\": ["), '"' + 0) - text);
	at = (size_t)(strchr(text + at + 12, '"') - text) + 40;	/* entry 0 */
	memcpy(mut, text, tlen);
	mut[at] = mut[at] == 'Q' ? 'R' : 'Q';		/* still base64 */
	put_file(fd, mut, tlen);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EMISMATCH);
	mut[at] = '*';
	put_file(fd, mut, tlen);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EMALFORMED);
	assert_has(t->err, "changed while it was verified");
	put_file(fd, text, tlen / 2);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EMALFORMED);
	assert_has(t->err, "changed while it was verified");
	b2 = bundle_of(ORIGIN, ent, len, NENT - 1, t->note);
	assert_non_null(fewer = text_of(b2, t->note, &n));
	put_file(fd, fewer, n);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_EMALFORMED);
	assert_has(t->err, "6 entries, not 7");
	put_file(fd, text, tlen);
	assert_int_equal(verify(t, b, NULL, 0), BUNDLE_OK);
	bundle_free(b);
	bundle_free(b2);
	free(fewer);

	free(mut);
	free(text);
	close(fd);
}

/* ${n} entries, each of its own length, and their checkpoint. */
static void
many_entries(struct test_context *t, size_t n, uint8_t (**e)[1024],
    const uint8_t ***ent, size_t **len, char **note)
{
	char reason[600];
	size_t i;

	assert_non_null(*e = calloc(n, sizeof(**e)));
	assert_non_null(*ent = calloc(n, sizeof(**ent)));
	assert_non_null(*len = calloc(n, sizeof(**len)));
	for (i = 0; i < n; i++) {
		uint8_t buf[REFX_AUDIT_ENTRY_MAX];

		memset(reason, 'r', sizeof(reason));
		reason[i * 7 % 500] = '\0';
		(*len)[i] = entry(buf, i, T0 + i, reason);
		assert_true((*len)[i] <= sizeof((*e)[i]));
		memcpy((*e)[i], buf, (*len)[i]);
		(*ent)[i] = (*e)[i];
	}
	*note = checkpoint(t->log, ORIGIN, *ent, *len, n);
}

/* Count progress calls. */
static void
count_calls(void *cookie, uint64_t done, uint64_t all)
{
	struct test_context *t = cookie;

	assert_true(done <= all);
	t->calls++;
}

static void
test_read_large(void **state)
{
	struct test_context *t = *state;
	uint8_t (*e)[1024];
	const uint8_t **ent;
	size_t *len, tlen, n = 4000;
	struct bundle_prior p[3];
	struct bundle *b;
	char *note, *text, *old[3];
	int fd;

	/* 4 000 entries of 150-650 bytes: a file over two windows. */
	fd = tmp_fd();
	many_entries(t, n, &e, &ent, &len, &note);
	b = bundle_of(ORIGIN, ent, len, n, note);
	assert_non_null(text = text_of(b, note, &tlen));
	bundle_free(b);
	assert_true(tlen > 2 * BUNDLE_WINDOW);

	/* Verified as from memory, with checkpoints seen before. */
	old[0] = checkpoint(t->log, ORIGIN, ent, len, 1);
	old[1] = checkpoint(t->log, ORIGIN, ent, len, 2048);
	old[2] = checkpoint(t->log, ORIGIN, ent, len, 3333);
	p[0] = prior_of(old[0]);
	p[1] = prior_of(old[1]);
	p[2] = prior_of(old[2]);
	assert_int_equal(verify_file(t, fd, text, tlen, p, 3), BUNDLE_OK);
	assert_int_equal(t->res.br_size, n);
	assert_int_equal(t->res.br_prior_size[2], 3333);

	/* Progress from the file: every 1000 entries, and at the end. */
	put_file(fd, text, tlen);
	assert_int_equal(bundle_read(fd, &b, t->err, sizeof(t->err)),
	    BUNDLE_OK);
	t->calls = 0;
	assert_int_equal(bundle_verify(b, ORIGIN, t->pk, NULL, 0, count_calls,
	    t, &t->res, t->err, sizeof(t->err)), BUNDLE_OK);
	assert_int_equal(t->calls, 5);
	bundle_free(b);

	free(old[0]);
	free(old[1]);
	free(old[2]);
	free(text);
	free(note);
	free(e);
	free(ent);
	free(len);
	close(fd);
}

/*
 * The bundle of the context's entries with ${pad} spaces before entry 1
 * and entry 1's token written ${esc}aped (its first character as \uXXXX),
 * in ${buf}.  Return its length.
 */
static size_t
padded(struct test_context *t, char *buf, size_t buflen, size_t pad,
    int esc, size_t *at)
{
	char *b64, *p = buf;
	size_t i;

	p += snprintf(p, buflen, "{\"format\": \"refx-audit-bundle-v1\", "
	    "\"unit\": \"%s\", \"origin\": \"%s\", \"certificate\": "
	    "\"-----BEGIN CERTIFICATE-----\", \"checkpoint\": ", UNIT, ORIGIN);
	{
		json_t *s;
		char *js;

		assert_non_null(s = json_string(t->note));
		assert_non_null(js = json_dumps(s, JSON_ENCODE_ANY));
		p += sprintf(p, "%s, \"entries\": [", js);
		free(js);
		json_decref(s);
	}
	for (i = 0; i < NENT; i++) {
		assert_non_null(b64 = refx_b64_encode(t->ent[i], t->len[i]));
		if (i == 1) {
			memset(p, ' ', pad);
			p += pad;
			*at = (size_t)(p - buf);
		}
		if (i == 1 && esc)
			p += sprintf(p, "\"\\u%04x%s\"", b64[0], b64 + 1);
		else
			p += sprintf(p, "\"%s\"", b64);
		p += sprintf(p, "%s", i + 1 < NENT ? ", " : "]}");
		free(b64);
	}
	assert_true((size_t)(p - buf) < buflen);
	return ((size_t)(p - buf));
}

static void
test_read_window(void **state)
{
	struct test_context *t = *state;
	static const long d[] = { 0, 1, 2, 3, 5, 6, 7, 100, 398, 399, 400,
	    401, -1, -2 };
	size_t buflen = 2 * BUNDLE_WINDOW, len, at, at0, pad, lb, i;
	char *buf;
	int fd, esc, phase;

	/*
	 * Entry 1 placed so that the window ends d bytes into its token,
	 * for the checking pass (window from byte 0) and the verifying
	 * one (window from the entries' '['); plain and escaped.
	 */
	fd = tmp_fd();
	assert_non_null(buf = malloc(buflen));
	(void)padded(t, buf, buflen, 0, 0, &at0);
	lb = (size_t)(strstr(buf, "\"entries\": [") - buf) + 11;
	for (phase = 0; phase < 2; phase++)
		for (esc = 0; esc < 2; esc++)
			for (i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
				pad = (size_t)((long)BUNDLE_WINDOW - d[i]) +
				    (phase ? lb : 0) - at0;
				len = padded(t, buf, buflen, pad, esc, &at);
				assert_int_equal(at + (size_t)d[i],
				    BUNDLE_WINDOW + (phase ? lb : 0));
				assert_int_equal(verify_file(t, fd, buf, len,
				    NULL, 0), BUNDLE_OK);
				assert_int_equal(t->res.br_size, NENT);
			}
	free(buf);
	close(fd);
}

/* --- the log certificate ------------------------------------------------- */

struct ca {
	EVP_PKEY	*key;
	X509		*crt;
};

static void
ca_setup(struct ca *ca, const char *name, time_t now)
{
	struct ca_issue ci;

	memset(&ci, 0, sizeof(ci));
	assert_non_null(ca->key = ca_keygen("ED25519"));
	ci.ci_cakey = ca->key;
	ci.ci_not_before = now - 300;
	ci.ci_days = 3650;
	assert_int_equal(ca_serial_new(ci.ci_serial), 0);
	assert_non_null(ca->crt = ca_make_root(&ci, name));
}

static void
issue_init(struct ca_issue *ci, struct ca *ca, EVP_PKEY *key, time_t now)
{

	memset(ci, 0, sizeof(*ci));
	ci->ci_ca = ca->crt;
	ci->ci_cakey = ca->key;
	ci->ci_key = key;
	ci->ci_not_before = now - 300;
	ci->ci_days = 365;
	assert_int_equal(ca_serial_new(ci->ci_serial), 0);
}

static void
test_certificate(void **state)
{
	struct test_context *t = *state;
	struct ca ca, other;
	struct ca_issue ci;
	struct ca_revoked rev;
	struct refx_note_key *k;
	const uint8_t *ent[NENT];
	size_t len[NENT], n;
	uint8_t seed[REFX_NOTE_SEED_LEN], pk[REFX_NOTE_PK_LEN];
	char origin[REFX_NOTE_NAME_MAX + 1], serial[CA_SERIAL_HEX_MAX + 1];
	char *pem, *pem_person, *note;
	time_t now = time(NULL);
	X509_CRL *crl;
	EVP_PKEY *key;
	X509 *x;
	struct bundle *b;

	ca_setup(&ca, "Test", now);
	ca_setup(&other, "Elsewhere", now);

	/* The log's key, as refx-pki makes it, and its seed to sign with. */
	assert_non_null(key = ca_keygen("ED25519"));
	n = sizeof(seed);
	assert_int_equal(EVP_PKEY_get_raw_private_key(key, seed, &n), 1);
	assert_non_null(k = refx_note_key_from_seed(ORIGIN, REFX_NOTE_ED25519,
	    seed));
	issue_init(&ci, &ca, key, now);
	assert_non_null(x = ca_make_audit_log(&ci, ORIGIN));
	assert_int_equal(ca_cert_pem(x, &pem, &n), 0);
	assert_int_equal(ca_cert_serial(x, serial), 0);
	X509_free(x);
	assert_non_null(x = ca_make_person(&ci, UNIT, REFX_KIND_SCHOOL,
	    REFX_ROLE_AUDITOR, "sara.lind", "Sara Lind"));
	assert_int_equal(ca_cert_pem(x, &pem_person, &n), 0);
	X509_free(x);

	all_entries(t, ent, len);
	note = checkpoint(k, ORIGIN, ent, len, NENT);
	b = bundle_of(ORIGIN, ent, len, NENT, note);

	/* No certificate. */
	assert_int_equal(bundle_check_cert(b, ca.crt, NULL, origin,
	    sizeof(origin), pk, t->err, sizeof(t->err)), BUNDLE_EBADSIG);

	/* The right one: its origin and key verify the bundle. */
	assert_int_equal(bundle_set(b, UNIT, ORIGIN, pem, note), 0);
	assert_int_equal(bundle_check_cert(b, ca.crt, NULL, origin,
	    sizeof(origin), pk, t->err, sizeof(t->err)), BUNDLE_OK);
	assert_string_equal(origin, ORIGIN);
	assert_int_equal(bundle_verify(b, origin, pk, NULL, 0, NULL, NULL,
	    &t->res, t->err, sizeof(t->err)), BUNDLE_OK);

	/* Another CA's trust; a revoked one; a person's certificate. */
	assert_int_equal(bundle_check_cert(b, other.crt, NULL, origin,
	    sizeof(origin), pk, t->err, sizeof(t->err)), BUNDLE_EBADSIG);
	memset(&rev, 0, sizeof(rev));
	rev.cr_serial = serial;
	rev.cr_when = now - 60;
	rev.cr_reason = 1;
	assert_non_null(crl = ca_make_crl(ca.crt, ca.key, &rev, 1, 2, now - 60,
	    30));
	assert_int_equal(bundle_check_cert(b, ca.crt, crl, origin,
	    sizeof(origin), pk, t->err, sizeof(t->err)), BUNDLE_EBADSIG);
	X509_CRL_free(crl);
	assert_int_equal(bundle_set(b, UNIT, ORIGIN, pem_person, note), 0);
	assert_int_equal(bundle_check_cert(b, ca.crt, NULL, origin,
	    sizeof(origin), pk, t->err, sizeof(t->err)), BUNDLE_EBADSIG);
	assert_int_equal(bundle_set(b, UNIT, ORIGIN, "-----BEGIN CERTIFICATE"
	    "-----\ngarbage\n", note), 0);
	assert_int_equal(bundle_check_cert(b, ca.crt, NULL, origin,
	    sizeof(origin), pk, t->err, sizeof(t->err)), BUNDLE_EBADSIG);

	bundle_free(b);
	free(note);
	free(pem);
	free(pem_person);
	refx_note_key_free(k);
	sodium_memzero(seed, sizeof(seed));
	EVP_PKEY_free(key);
	X509_free(ca.crt);
	EVP_PKEY_free(ca.key);
	X509_free(other.crt);
	EVP_PKEY_free(other.key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_good),
		T(test_empty_log),
		T(test_flipped_byte),
		T(test_deleted_entry),
		T(test_swapped_entries),
		T(test_time_goes_back),
		T(test_truncated_resigned),
		T(test_fork),
		T(test_replay),
		T(test_consistent_history),
		T(test_wrong_origin),
		T(test_bad_signature),
		T(test_roundtrip),
		T(test_malformed),
		T(test_progress),
		T(test_text_identical),
		T(test_b64_strict),
		T(test_read_fuzz),
		T(test_read_hostile),
		T(test_read_count),
		T(test_read_verify),
		T(test_read_large),
		T(test_read_window),
		T(test_certificate),
#undef T
	};

	if (refx_crypto_init())
		return (1);
	return (cmocka_run_group_tests_name("test_cli_audit", tests, NULL,
	    NULL));
}
