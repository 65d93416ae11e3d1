/*
 * Tests of refx's audit bundles (client/bundle.c): the verification core
 * refx audit verify runs, with a log key made from a seed here, against
 * every tampering it must catch and with its exit status; bundle files
 * parsed strictly and written back; and the log certificate checked
 * against the CA (real certificates from refx-pki's pki/ca.c, included
 * as test_cli_packet does).
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
		T(test_certificate),
#undef T
	};

	if (refx_crypto_init())
		return (1);
	return (cmocka_run_group_tests_name("test_cli_audit", tests, NULL,
	    NULL));
}
