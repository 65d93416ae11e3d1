/*
 * Signed notes, checkpoints and cosignatures (lib/note.c): the C2SP
 * signed-note example, the Go sumdb/note example (signing byte for
 * byte), the audit brief's worked checkpoint, a cosignature made with
 * Python's cryptography package, and the refusals of the strict parser.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "refx/err.h"
#include "refx/merkle.h"
#include "refx/note.h"
#include "refx/secret.h"

#define EM		"\xe2\x80\x94"		/* U+2014, em dash */
#define BUFLEN		(2 * REFX_NOTE_MAX)

/* c2sp.org/signed-note: the example (no secret key is published). */
#define SPEC_VKEY	"example.com/foo+530d903a+" \
			"AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
#define SPEC_TEXT	"This is an example message.\n"
#define SPEC_NOTE	SPEC_TEXT "\n" EM " example.com/foo " \
			"Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Z" \
			"tg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"

/* golang.org/x/mod sumdb/note: the package example, with its signer. */
#define GO_SKEY_B64	"AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define GO_KEY_B64	"ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define GO_VKEY		"PeterNeumann+c74f20a3+" GO_KEY_B64
#define GO_TEXT		"If you think cryptography is the answer to your " \
			"problem,\nthen you don't know what your problem is.\n"
#define GO_PETER	EM " PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr" \
			"8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBw" \
			"JnAM=\n"
#define ENOCH_VKEY	"EnochRoot+af0cfe78+" \
			"ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
#define GO_ENOCH	EM " EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MN" \
			"tCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+" \
			"QQ=\n"
/* The Go checksum database's key: '+' inside the base64 twice. */
#define SUMDB_VKEY	"sum.golang.org+033de0ae+" \
			"Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"

/*
 * The audit brief (A2.5): seed 0x42 x 32, the RFC 6962 tree of the 8
 * test leaves.  Checked with Python's cryptography package.
 */
#define LOG_NAME	"audit.example.gov/referral-log"
#define LOG_KEY_B64	"ASFS+NGbeR0kRTJC4V8uq2y3z/p7al7TAJeWDgaYgdsS"
#define LOG_VKEY	LOG_NAME "+9f780607+" LOG_KEY_B64
#define LOG_ROOT	"XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="
#define LOG_TEXT	LOG_NAME "\n8\n" LOG_ROOT "\n"
#define LOG_SIG_B64	"n3gGB+DN6BmxIrwMTB36e4X5MouqcCXJaVNRyPfux/3CLD0X9pob" \
			"xnl7LW7oe6gVp9zM2j+iVhw1z0ix/gkET7wKMQ4="
#define LOG_SIG		EM " " LOG_NAME " " LOG_SIG_B64 "\n"
#define LOG_NOTE	LOG_TEXT "\n" LOG_SIG

/*
 * A witness cosignature of LOG_TEXT: seed 0x57 x 32, time 1700000000,
 * made with Python's cryptography package.
 */
#define W_NAME		"witness.example.gov/w1"
#define W_VKEY		W_NAME "+c7d7e9b6+" \
			"BMhAafoiFsbtwdUsqDqhHCZ91UQK+lJgkMpD69DKhqnP"
#define W_TIME		UINT64_C(1700000000)
#define W_COSIG		EM " " W_NAME " x9fptgAAAABlU/EAPSzP9SA+OQ1HlOe3iAiP" \
			"N4dj8ZL9dyUSniJI9ivU+Jo8IP58votjMakVbCKmgsnWjRmVlRmp" \
			"1ubGgDdXAA9VBg==\n"

struct test_context {
	struct refx_note_key	*tc_log;	/* LOG_NAME, seed 0x42 */
	struct refx_note_key	*tc_other;	/* another log, seed 0x43 */
	struct refx_note_key	*tc_w;		/* W_NAME, seed 0x57 */
	struct refx_note_key	*tc_w2;		/* a second witness */
	char			 tc_buf[BUFLEN];
};

static int
setup(void **state)
{
	struct test_context *tc;
	uint8_t seed[REFX_NOTE_SEED_LEN];

	if ((tc = calloc(1, sizeof(*tc))) == NULL)
		return (-1);
	memset(seed, 0x42, sizeof(seed));
	tc->tc_log = refx_note_key_from_seed(LOG_NAME, REFX_NOTE_ED25519, seed);
	memset(seed, 0x43, sizeof(seed));
	tc->tc_other = refx_note_key_from_seed("other.example.gov/log",
	    REFX_NOTE_ED25519, seed);
	memset(seed, 0x57, sizeof(seed));
	tc->tc_w = refx_note_key_from_seed(W_NAME, REFX_NOTE_COSIG_V1, seed);
	memset(seed, 0x58, sizeof(seed));
	tc->tc_w2 = refx_note_key_from_seed("witness.example.gov/w2",
	    REFX_NOTE_COSIG_V1, seed);
	*state = tc;
	if (tc->tc_log == NULL || tc->tc_other == NULL || tc->tc_w == NULL ||
	    tc->tc_w2 == NULL)
		return (-1);
	return (0);
}

static int
teardown(void **state)
{
	struct test_context *tc = *state;

	refx_note_key_free(tc->tc_log);
	refx_note_key_free(tc->tc_other);
	refx_note_key_free(tc->tc_w);
	refx_note_key_free(tc->tc_w2);
	free(tc);
	return (0);
}

/* refx_note_verify on a C string; the text must be NULL on failure. */
static enum refx_err
verify(const char *note, const struct refx_note_key *key)
{
	enum refx_err rc;
	char *text;

	rc = refx_note_verify(note, strlen(note), key, &text);
	if (rc == REFX_OK)
		assert_non_null(text);
	else
		assert_null(text);
	free(text);
	return (rc);
}

/* Base64-encode ${n} bytes of ${in} into ${out}. */
static void
b64(char *out, size_t outlen, const uint8_t *in, size_t n)
{

	assert_true(sodium_base64_ENCODED_LEN(n,
	    sodium_base64_VARIANT_ORIGINAL) <= outlen);
	sodium_bin2base64(out, outlen, in, n, sodium_base64_VARIANT_ORIGINAL);
}

/* Decode the base64 ${in}, which must be valid; return the length. */
static size_t
unb64(uint8_t *out, size_t max, const char *in, size_t inlen)
{
	size_t n;

	assert_int_equal(sodium_base642bin(out, max, in, inlen, NULL, &n, NULL,
	    sodium_base64_VARIANT_ORIGINAL), 0);
	return (n);
}

/* Write to ${out} the signature line of ${name} with ${n} bytes. */
static void
sigline(char *out, size_t outlen, const char *name, const uint8_t *payload,
    size_t n)
{
	char b[REFX_NOTE_MAX];
	int len;

	b64(b, sizeof(b), payload, n);
	len = snprintf(out, outlen, EM " %s %s\n", name, b);
	assert_true(len > 0 && (size_t)len < outlen);
}

/* Decode the payload of the last signature line of ${note}. */
static size_t
last_payload(const char *note, uint8_t *out, size_t max)
{
	const char *p, *end;

	end = note + strlen(note) - 1;		/* the final '\n' */
	for (p = end; p[-1] != ' '; p--)
		;
	return (unb64(out, max, p, (size_t)(end - p)));
}

/* Sign ${text} with ${key} into ${out}; return ${out}. */
static char *
sign_into(char *out, size_t outlen, const char *text,
    const struct refx_note_key *key)
{
	char *note;

	assert_int_equal(refx_note_sign(text, key, &note), 0);
	assert_true(strlen(note) < outlen);
	memcpy(out, note, strlen(note) + 1);
	free(note);
	return (out);
}

static void
spec_vector_verifies(void **state)
{
	struct refx_note_key *k;
	char vkey[REFX_NOTE_VKEY_MAX], *text;

	(void)state;
	assert_non_null(k = refx_note_key_parse_vkey(SPEC_VKEY));
	assert_int_equal(refx_note_key_id(k), 0x530d903a);
	assert_int_equal(refx_note_key_type(k), REFX_NOTE_ED25519);
	assert_string_equal(refx_note_key_name(k), "example.com/foo");
	assert_int_equal(refx_note_key_vkey(k, vkey, sizeof(vkey)), 0);
	assert_string_equal(vkey, SPEC_VKEY);
	assert_int_equal(refx_note_verify(SPEC_NOTE, strlen(SPEC_NOTE), k,
	    &text), REFX_OK);
	assert_string_equal(text, SPEC_TEXT);
	free(text);
	refx_note_key_free(k);
}

static void
go_vector_signs_byte_for_byte(void **state)
{
	struct refx_note_key *peter, *enoch, *pv;
	uint8_t skey[1 + REFX_NOTE_SEED_LEN];
	char vkey[REFX_NOTE_VKEY_MAX], *note, *text;

	(void)state;
	/* The Go signer key: "PRIVATE+KEY+PeterNeumann+c74f20a3+" b64. */
	assert_int_equal(unb64(skey, sizeof(skey), GO_SKEY_B64,
	    strlen(GO_SKEY_B64)), sizeof(skey));
	assert_int_equal(skey[0], REFX_NOTE_ED25519);
	assert_non_null(peter = refx_note_key_from_seed("PeterNeumann",
	    REFX_NOTE_ED25519, skey + 1));
	assert_int_equal(refx_note_key_vkey(peter, vkey, sizeof(vkey)), 0);
	assert_string_equal(vkey, GO_VKEY);

	/* Signing gives Go's bytes; Go's note verifies. */
	assert_int_equal(refx_note_sign(GO_TEXT, peter, &note), 0);
	assert_string_equal(note, GO_TEXT "\n" GO_PETER);
	free(note);
	assert_non_null(pv = refx_note_key_parse_vkey(GO_VKEY));
	assert_int_equal(verify(GO_TEXT "\n" GO_PETER, pv), REFX_OK);

	/* Two signers: each key finds its own and ignores the other. */
	assert_non_null(enoch = refx_note_key_parse_vkey(ENOCH_VKEY));
	assert_int_equal(verify(GO_TEXT "\n" GO_PETER GO_ENOCH, pv), REFX_OK);
	assert_int_equal(verify(GO_TEXT "\n" GO_ENOCH GO_PETER, pv), REFX_OK);
	assert_int_equal(refx_note_verify(GO_TEXT "\n" GO_PETER GO_ENOCH,
	    strlen(GO_TEXT "\n" GO_PETER GO_ENOCH), enoch, &text), REFX_OK);
	assert_string_equal(text, GO_TEXT);
	free(text);
	assert_int_equal(verify(GO_TEXT "\n" GO_PETER, enoch), REFX_ECRYPTO);
	refx_note_key_free(peter);
	refx_note_key_free(pv);
	refx_note_key_free(enoch);
}

static void
worked_checkpoint_vector(void **state)
{
	static const char *leaves[8] = { "", "00", "10", "2021", "3031",
	    "40414243", "5051525354555657",
	    "606162636465666768696a6b6c6d6e6f" };
	struct test_context *tc = *state;
	struct refx_merkle_range mr;
	struct refx_note_key *v;
	uint8_t leaf[16], h[REFX_MERKLE_HASH_LEN];
	uint8_t root[REFX_CHECKPOINT_HASH_LEN], r2[REFX_CHECKPOINT_HASH_LEN];
	char vkey[REFX_NOTE_VKEY_MAX], origin[REFX_NOTE_NAME_MAX + 1];
	char *text, *note;
	size_t i, n;
	uint64_t size;

	/* The root is MTH of the 8 RFC 6962 test leaves. */
	refx_merkle_range_init(&mr);
	for (i = 0; i < 8; i++) {
		assert_int_equal(sodium_hex2bin(leaf, sizeof(leaf), leaves[i],
		    strlen(leaves[i]), NULL, &n, NULL), 0);
		refx_merkle_leaf_hash(leaf, n, h);
		assert_int_equal(refx_merkle_range_append(&mr, h), 0);
	}
	assert_int_equal(refx_merkle_range_root(&mr, root), 0);
	assert_int_equal(unb64(r2, sizeof(r2), LOG_ROOT, strlen(LOG_ROOT)),
	    sizeof(r2));
	assert_memory_equal(root, r2, sizeof(root));

	/* The key, its vkey ('+' in the base64) and its signature. */
	assert_int_equal(refx_note_key_vkey(tc->tc_log, vkey, sizeof(vkey)),
	    0);
	assert_string_equal(vkey, LOG_VKEY);
	assert_int_equal(refx_note_key_id(tc->tc_log), 0x9f780607);
	assert_int_equal(refx_checkpoint_text(LOG_NAME, 8, root, &text), 0);
	assert_string_equal(text, LOG_TEXT);
	assert_int_equal(refx_note_sign(text, tc->tc_log, &note), 0);
	assert_string_equal(note, LOG_NOTE);
	free(text);
	free(note);

	/* Verified with the key parsed from its vkey. */
	assert_non_null(v = refx_note_key_parse_vkey(LOG_VKEY));
	assert_int_equal(refx_note_verify(LOG_NOTE, strlen(LOG_NOTE), v,
	    &text), REFX_OK);
	assert_string_equal(text, LOG_TEXT);
	assert_int_equal(refx_checkpoint_parse(text, origin, sizeof(origin),
	    &size, r2), REFX_OK);
	assert_string_equal(origin, LOG_NAME);
	assert_int_equal(size, 8);
	assert_memory_equal(r2, root, sizeof(root));
	free(text);
	memset(r2, 0, sizeof(r2));
	size = 0;
	assert_int_equal(refx_checkpoint_open(LOG_NOTE, strlen(LOG_NOTE), v,
	    LOG_NAME, &size, r2), REFX_OK);
	assert_int_equal(size, 8);
	assert_memory_equal(r2, root, sizeof(root));
	refx_note_key_free(v);
}

static void
vkeys_with_plus_round_trip(void **state)
{
	static const char *vkeys[] = { LOG_VKEY, SUMDB_VKEY, GO_VKEY,
	    W_VKEY };
	struct test_context *tc = *state;
	struct refx_note_key *k;
	char vkey[REFX_NOTE_VKEY_MAX];
	size_t i;

	for (i = 0; i < sizeof(vkeys) / sizeof(vkeys[0]); i++) {
		assert_non_null(k = refx_note_key_parse_vkey(vkeys[i]));
		assert_int_equal(refx_note_key_vkey(k, vkey, sizeof(vkey)), 0);
		assert_string_equal(vkey, vkeys[i]);
		/* Exactly long enough, then one byte short. */
		assert_int_equal(refx_note_key_vkey(k, vkey,
		    strlen(vkeys[i]) + 1), 0);
		assert_int_equal(refx_note_key_vkey(k, vkey,
		    strlen(vkeys[i])), -1);
		refx_note_key_free(k);
	}
	assert_non_null(k = refx_note_key_parse_vkey(SUMDB_VKEY));
	assert_string_equal(refx_note_key_name(k), "sum.golang.org");
	assert_int_equal(refx_note_key_id(k), 0x033de0ae);
	refx_note_key_free(k);

	/* A cosignature vkey (type 0x04) of the witness. */
	assert_non_null(k = refx_note_key_parse_vkey(W_VKEY));
	assert_int_equal(refx_note_key_type(k), REFX_NOTE_COSIG_V1);
	assert_int_equal(refx_note_key_id(k), refx_note_key_id(tc->tc_w));
	refx_note_key_free(k);
}

static void
vkeys_refused(void **state)
{
	static const char *bad[] = {
		"",
		"audit.example.gov/referral-log",
		"audit.example.gov/referral-log+9f780607",
		"audit.example.gov/referral-log+9f780607+",
		/* Wrong key id for the name and key. */
		LOG_NAME "+9f780608+" LOG_KEY_B64,
		/* Right key, another name. */
		"audit.example.gov/other+9f780607+" LOG_KEY_B64,
		/* Upper-case, short and long key ids. */
		LOG_NAME "+9F780607+" LOG_KEY_B64,
		LOG_NAME "+9f78060+" LOG_KEY_B64,
		LOG_NAME "+9f7806070+" LOG_KEY_B64,
		/* Type 0x02 (ECDSA) with its key id; a short and a long key. */
		"PeterNeumann+173116ae+"
		    "ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
		"PeterNeumann+c74f20a3+"
		    "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",
		"PeterNeumann+cc469956+" GO_KEY_B64 "BADKEY==",
		/* Surrounding whitespace, missing padding, an empty name. */
		LOG_VKEY "\n",
		" " LOG_VKEY,
		"PeterNeumann+c74f20a3+" GO_KEY_B64 "=",
		"+c74f20a3+" GO_KEY_B64,
	};
	struct refx_note_key *k;
	char name[REFX_NOTE_NAME_MAX + 2], vkey[REFX_NOTE_VKEY_MAX];
	char longer[REFX_NOTE_VKEY_MAX + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		k = refx_note_key_parse_vkey(bad[i]);
		if (k != NULL)
			fail_msg("vkey %zu accepted: %s", i, bad[i]);
	}

	/* The longest name round-trips; one byte more is refused. */
	memset(name, 'n', REFX_NOTE_NAME_MAX);
	name[REFX_NOTE_NAME_MAX] = '\0';
	assert_non_null(k = refx_note_key_from_public(name, REFX_NOTE_ED25519,
	    (const uint8_t *)"0123456789abcdef0123456789abcdef"));
	assert_int_equal(refx_note_key_vkey(k, vkey, REFX_NOTE_VKEY_MAX), 0);
	assert_int_equal(strlen(vkey) + 1, REFX_NOTE_VKEY_MAX);
	refx_note_key_free(k);
	assert_non_null(k = refx_note_key_parse_vkey(vkey));
	refx_note_key_free(k);
	snprintf(longer, sizeof(longer), "n%s", vkey);
	assert_null(refx_note_key_parse_vkey(longer));
	name[REFX_NOTE_NAME_MAX] = 'n';
	name[REFX_NOTE_NAME_MAX + 1] = '\0';
	assert_null(refx_note_key_from_public(name, REFX_NOTE_ED25519,
	    (const uint8_t *)"0123456789abcdef0123456789abcdef"));
}

static void
key_names_and_secrets(void **state)
{
	static const char *bad[] = { "", "a b", "a+b", "a\tb", "a\nb",
	    "a\x7f" "b", "a\xc2\x85" "b", "a\xc2\xa0" "b", "a\xe2\x80\x83" "b",
	    "a\xe3\x80\x80" "b", "a\xff" "b", "a\xc0\xaf" "b" };
	struct test_context *tc = *state;
	struct refx_note_key *k;
	uint8_t seed[REFX_NOTE_SEED_LEN], pk[REFX_NOTE_PK_LEN];
	uint8_t sk[REFX_NOTE_SK_LEN];
	char *n1, *n2;
	size_t i;

	memset(seed, 0x42, sizeof(seed));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(refx_note_key_from_seed(bad[i], REFX_NOTE_ED25519,
		    seed));
		assert_null(refx_note_key_from_public(bad[i],
		    REFX_NOTE_ED25519, seed));
	}
	assert_null(refx_note_key_from_seed("a", (enum refx_note_type)2,
	    seed));
	/* Unicode in names is fine: "é/∑". */
	assert_non_null(k = refx_note_key_from_seed("\xc3\xa9/\xe2\x88\x91",
	    REFX_NOTE_ED25519, seed));
	refx_note_key_free(k);

	/* A libsodium secret key signs as its seed does. */
	assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
	assert_non_null(k = refx_note_key_from_secret(LOG_NAME,
	    REFX_NOTE_ED25519, sk));
	assert_int_equal(refx_note_sign(LOG_TEXT, k, &n1), 0);
	assert_int_equal(refx_note_sign(LOG_TEXT, tc->tc_log, &n2), 0);
	assert_string_equal(n1, n2);
	assert_string_equal(n1, LOG_NOTE);
	free(n1);
	free(n2);
	refx_note_key_free(k);

	/* Whose public half is not the seed's: refused. */
	sk[REFX_NOTE_SK_LEN - 1] ^= 1;
	assert_null(refx_note_key_from_secret(LOG_NAME, REFX_NOTE_ED25519,
	    sk));
	sodium_memzero(sk, sizeof(sk));

	/* Key ids: SHA-256(name || "\n" || type || pk)[:4]. */
	assert_int_not_equal(refx_note_key_id(tc->tc_log), 0);
	assert_non_null(k = refx_note_key_from_seed(LOG_NAME,
	    REFX_NOTE_COSIG_V1, seed));
	assert_int_not_equal(refx_note_key_id(k), refx_note_key_id(tc->tc_log));
	refx_note_key_free(k);
	refx_note_key_free(NULL);
}

static void
unknown_signatures_ignored(void **state)
{
	struct test_context *tc = *state;
	uint8_t pay[REFX_NOTE_MAX];
	char line[512], *buf = tc->tc_buf;
	size_t n;

	/* Only an unknown key's signature: no valid one, rejected. */
	sign_into(buf, BUFLEN, LOG_TEXT, tc->tc_other);
	assert_int_equal(verify(buf, tc->tc_log), REFX_ECRYPTO);
	assert_int_equal(verify(buf, tc->tc_other), REFX_OK);

	/* Our name with a wrong key id: ignored, so rejected. */
	n = last_payload(LOG_NOTE, pay, sizeof(pay));
	pay[3] ^= 1;
	sigline(line, sizeof(line), LOG_NAME, pay, n);
	snprintf(buf, BUFLEN, "%s\n%s", LOG_TEXT, line);
	assert_int_equal(verify(buf, tc->tc_log), REFX_ECRYPTO);
	/* ...and ignored next to a good signature. */
	snprintf(buf, BUFLEN, "%s%s", LOG_NOTE, line);
	assert_int_equal(verify(buf, tc->tc_log), REFX_OK);
	snprintf(buf, BUFLEN, "%s\n%s%s", LOG_TEXT, line, LOG_SIG);
	assert_int_equal(verify(buf, tc->tc_log), REFX_OK);

	/* Our key id with another name: ignored too. */
	pay[3] ^= 1;
	sigline(line, sizeof(line), "audit.example.gov/referral-lo", pay, n);
	snprintf(buf, BUFLEN, "%s\n%s", LOG_TEXT, line);
	assert_int_equal(verify(buf, tc->tc_log), REFX_ECRYPTO);

	/* Unknown lines of any length and type are ignored. */
	memset(pay, 0xa5, sizeof(pay));
	sigline(line, sizeof(line), "x", pay, 5);
	snprintf(buf, BUFLEN, "%s%s", LOG_NOTE, line);
	assert_int_equal(verify(buf, tc->tc_log), REFX_OK);
	sigline(line, sizeof(line), "x", pay, 300);
	snprintf(buf, BUFLEN, "%s%s", LOG_NOTE, line);
	assert_int_equal(verify(buf, tc->tc_log), REFX_OK);
}

static void
known_bad_signature_rejects(void **state)
{
	struct test_context *tc = *state;
	uint8_t pay[128];
	char line[512], *buf = tc->tc_buf;
	size_t n, bit;

	/* Every flipped bit of the signature. */
	n = last_payload(LOG_NOTE, pay, sizeof(pay));
	assert_int_equal(n, 4 + 64);
	for (bit = 4 * 8; bit < n * 8; bit++) {
		pay[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		sigline(line, sizeof(line), LOG_NAME, pay, n);
		snprintf(buf, BUFLEN, "%s\n%s", LOG_TEXT, line);
		assert_int_equal(verify(buf, tc->tc_log), REFX_ECRYPTO);
		/* A good signature does not rescue a bad one. */
		snprintf(buf, BUFLEN, "%s%s", LOG_NOTE, line);
		assert_int_equal(verify(buf, tc->tc_log), REFX_ECRYPTO);
		pay[bit / 8] ^= (uint8_t)(1 << (bit % 8));
	}

	/* Our name and key id with a payload of the wrong length. */
	sigline(line, sizeof(line), LOG_NAME, pay, n - 1);
	snprintf(buf, BUFLEN, "%s%s", LOG_NOTE, line);
	assert_int_equal(verify(buf, tc->tc_log), REFX_ECRYPTO);
	pay[n] = 0;
	sigline(line, sizeof(line), LOG_NAME, pay, n + 1);
	snprintf(buf, BUFLEN, "%s%s", LOG_NOTE, line);
	assert_int_equal(verify(buf, tc->tc_log), REFX_ECRYPTO);

	/* The same good signature twice is fine. */
	snprintf(buf, BUFLEN, "%s%s", LOG_NOTE, LOG_SIG);
	assert_int_equal(verify(buf, tc->tc_log), REFX_OK);
}

static void
malformed_notes_refused(void **state)
{
	static const char *bad[] = {
		/* Control characters, C0, DEL and C1, and NUL. */
		LOG_NAME "\n8\x01\n" LOG_ROOT "\n\n" LOG_SIG,
		LOG_NAME "\n8\t\n" LOG_ROOT "\n\n" LOG_SIG,
		LOG_NAME "\n8\r\n" LOG_ROOT "\n\n" LOG_SIG,
		LOG_NAME "\n8\x7f\n" LOG_ROOT "\n\n" LOG_SIG,
		LOG_NAME "\n8\xc2\x85\n" LOG_ROOT "\n\n" LOG_SIG,
		LOG_NOTE "\x1b[2J\n",
		/* Malformed UTF-8: bad byte, overlong, surrogate, truncated. */
		LOG_NAME "\n8\xff\n" LOG_ROOT "\n\n" LOG_SIG,
		LOG_NAME "\n8\xc0\xaf\n" LOG_ROOT "\n\n" LOG_SIG,
		LOG_NAME "\n8\xed\xa0\x80\n" LOG_ROOT "\n\n" LOG_SIG,
		LOG_NAME "\n8\xe2\x80\n" LOG_ROOT "\n\n" LOG_SIG,
		/* No final newline, no blank line, no signature line. */
		LOG_TEXT "\n" EM " " LOG_NAME " " LOG_SIG_B64,
		LOG_TEXT LOG_SIG,
		LOG_TEXT "\n",
		LOG_TEXT "\n\n",
		LOG_NOTE "\n",
		"",
		"\n",
		/* ASCII '-', en dash, "--", no space after the dash. */
		LOG_TEXT "\n- " LOG_NAME " " LOG_SIG_B64 "\n",
		LOG_TEXT "\n\xe2\x80\x93 " LOG_NAME " " LOG_SIG_B64 "\n",
		LOG_TEXT "\n-- " LOG_NAME " " LOG_SIG_B64 "\n",
		LOG_TEXT "\n" EM LOG_NAME " " LOG_SIG_B64 "\n",
		/* Two spaces; a trailing space; no space; an empty name. */
		LOG_TEXT "\n" EM " " LOG_NAME "  " LOG_SIG_B64 "\n",
		LOG_TEXT "\n" EM " " LOG_NAME " " LOG_SIG_B64 " \n",
		LOG_TEXT "\n" EM " " LOG_NAME "\n",
		LOG_TEXT "\n" EM "  " LOG_SIG_B64 "\n",
		/* A name with '+' or a no-break space, even if unknown. */
		LOG_NOTE EM " a+b AAAAAAAA\n",
		LOG_NOTE EM " a\xc2\xa0" "b AAAAAAAA\n",
		/* Base64: empty, too short, unpadded, non-canonical, URL. */
		LOG_NOTE EM " x \n",
		LOG_NOTE EM " x AAAA\n",
		LOG_NOTE EM " x AAAAAA==\n",
		LOG_NOTE EM " x AAAAAA\n",
		LOG_NOTE EM " x AAAAAA=\n",
		LOG_NOTE EM " x AAAAAAB=\n",
		LOG_NOTE EM " x AAAAAAA==\n",
		LOG_NOTE EM " x AAAA-_AA\n",
		LOG_NOTE EM " x AAAAAAA=AAAA\n",
	};
	struct test_context *tc = *state;
	char *buf = tc->tc_buf, *text;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (verify(bad[i], tc->tc_log) != REFX_EINVAL)
			fail_msg("note %zu not refused as malformed", i);

	/* An embedded NUL, with the length given. */
	memcpy(buf, LOG_NOTE, sizeof(LOG_NOTE));
	buf[3] = '\0';
	assert_int_equal(refx_note_verify(buf, sizeof(LOG_NOTE) - 1,
	    tc->tc_log, &text), REFX_EINVAL);
	assert_null(text);

	/* A note longer than REFX_NOTE_MAX, however it looks. */
	memset(buf, 'a', REFX_NOTE_MAX + 1);
	assert_int_equal(refx_note_verify(buf, REFX_NOTE_MAX + 1, tc->tc_log,
	    &text), REFX_ETOOBIG);
	assert_null(text);

	/* A cosignature key is not a note key. */
	assert_int_equal(verify(LOG_NOTE, tc->tc_w), REFX_EINVAL);
}

static void
signature_count_bounded(void **state)
{
	struct test_context *tc = *state;
	uint8_t pay[68];
	char line[256], *buf = tc->tc_buf;
	size_t i, off;

	/* REFX_NOTE_MAX_SIGS lines, ours last: accepted. */
	memset(pay, 0x5a, sizeof(pay));
	off = (size_t)snprintf(buf, BUFLEN, "%s\n", LOG_TEXT);
	for (i = 0; i + 1 < REFX_NOTE_MAX_SIGS; i++) {
		sigline(line, sizeof(line), "unknown.example/k", pay,
		    sizeof(pay));
		off += (size_t)snprintf(buf + off, BUFLEN - off, "%s", line);
	}
	snprintf(buf + off, BUFLEN - off, "%s", LOG_SIG);
	assert_int_equal(verify(buf, tc->tc_log), REFX_OK);

	/* One more, anywhere: refused. */
	off = (size_t)snprintf(buf, BUFLEN, "%s%s", LOG_NOTE, line);
	for (i = 0; i + 1 < REFX_NOTE_MAX_SIGS; i++)
		off += (size_t)snprintf(buf + off, BUFLEN - off, "%s", line);
	assert_int_equal(verify(buf, tc->tc_log), REFX_ETOOBIG);
}

static void
every_mutation_fails(void **state)
{
	static const uint8_t flips[] = { 0x01, 0x02, 0x20, 0x40, 0x80 };
	struct test_context *tc = *state;
	char *buf = tc->tc_buf, *text;
	size_t len = strlen(LOG_NOTE), i, j;
	enum refx_err rc;

	/* Every byte changed, in several ways, and every truncation. */
	for (i = 0; i < len; i++) {
		for (j = 0; j <= sizeof(flips); j++) {
			memcpy(buf, LOG_NOTE, len + 1);
			if (j < sizeof(flips))
				buf[i] = (char)(buf[i] ^ flips[j]);
			else if (buf[i] != '\n')
				buf[i] = '\n';
			else
				continue;
			rc = refx_note_verify(buf, len, tc->tc_log, &text);
			if (rc == REFX_OK)
				fail_msg("byte %zu ^ %u verifies", i, j);
			assert_null(text);
		}
		rc = refx_note_verify(LOG_NOTE, i, tc->tc_log, &text);
		if (rc == REFX_OK)
			fail_msg("prefix of %zu bytes verifies", i);
	}
	assert_int_equal(verify(LOG_NOTE, tc->tc_log), REFX_OK);
}

static void
checkpoint_round_trip(void **state)
{
	static const uint64_t sizes[] = { 0, 1, 8, 9, 10, 1234567,
	    UINT64_C(1) << 63, UINT64_MAX };
	static const char *text[] = { "0", "1", "8", "9", "10", "1234567",
	    "9223372036854775808", "18446744073709551615" };
	struct test_context *tc = *state;
	uint8_t root[REFX_CHECKPOINT_HASH_LEN], r2[REFX_CHECKPOINT_HASH_LEN];
	char origin[REFX_NOTE_NAME_MAX + 1], want[128], b[64], *t, *note;
	uint64_t size;
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		refx_random(root, sizeof(root));
		assert_int_equal(refx_checkpoint_text("example.com/log",
		    sizes[i], root, &t), 0);
		b64(b, sizeof(b), root, sizeof(root));
		snprintf(want, sizeof(want), "example.com/log\n%s\n%s\n",
		    text[i], b);
		assert_string_equal(t, want);
		assert_int_equal(refx_checkpoint_parse(t, origin,
		    sizeof(origin), &size, r2), REFX_OK);
		assert_string_equal(origin, "example.com/log");
		assert_true(size == sizes[i]);
		assert_memory_equal(r2, root, sizeof(root));

		/* Signed, opened. */
		assert_non_null(note = sign_into(tc->tc_buf, BUFLEN, t,
		    tc->tc_other));
		free(t);
		memset(r2, 0, sizeof(r2));
		assert_int_equal(refx_checkpoint_open(note, strlen(note),
		    tc->tc_other, "example.com/log", &size, r2), REFX_OK);
		assert_true(size == sizes[i]);
		assert_memory_equal(r2, root, sizeof(root));
	}

	/* The origin buffer: exactly enough, then one byte short. */
	assert_int_equal(refx_checkpoint_parse(LOG_TEXT, origin,
	    sizeof(LOG_NAME), &size, r2), REFX_OK);
	assert_int_equal(refx_checkpoint_parse(LOG_TEXT, origin,
	    sizeof(LOG_NAME) - 1, &size, r2), REFX_ETOOBIG);

	/* Origins that are not valid names are not written. */
	assert_int_equal(refx_checkpoint_text("", 1, root, &t), -1);
	assert_null(t);
	assert_int_equal(refx_checkpoint_text("a b", 1, root, &t), -1);
	assert_int_equal(refx_checkpoint_text("a+b", 1, root, &t), -1);
	assert_int_equal(refx_checkpoint_text("a\nb", 1, root, &t), -1);
}

static void
checkpoints_refused(void **state)
{
	static const char *bad[] = {
		/* Sizes: leading zeros, signs, spaces, overflow, hex. */
		"o\n08\n" LOG_ROOT "\n",
		"o\n00\n" LOG_ROOT "\n",
		"o\n-1\n" LOG_ROOT "\n",
		"o\n+8\n" LOG_ROOT "\n",
		"o\n 8\n" LOG_ROOT "\n",
		"o\n8 \n" LOG_ROOT "\n",
		"o\n\n" LOG_ROOT "\n",
		"o\n18446744073709551616\n" LOG_ROOT "\n",
		"o\n99999999999999999999\n" LOG_ROOT "\n",
		"o\n0x8\n" LOG_ROOT "\n",
		/* Roots of 31 and 33 bytes, unpadded, empty, with a space. */
		"o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQw==\n",
		"o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyhA\n",
		"o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg\n",
		"o\n8\n\n",
		"o\n8\n" LOG_ROOT " \n",
		/* Origins: empty, space, '+', control. */
		"\n8\n" LOG_ROOT "\n",
		"o o\n8\n" LOG_ROOT "\n",
		"o+o\n8\n" LOG_ROOT "\n",
		"o\x01\n8\n" LOG_ROOT "\n",
		/* Line structure: extension, blank lines, too few lines. */
		"o\n8\n" LOG_ROOT "\nextension\n",
		"o\n8\n" LOG_ROOT "\n\n",
		"o\n\n8\n" LOG_ROOT "\n",
		"o\n8\n" LOG_ROOT,
		"o\n8\n",
		"",
	};
	uint8_t root[REFX_CHECKPOINT_HASH_LEN];
	char origin[REFX_NOTE_NAME_MAX + 1];
	uint64_t size;
	size_t i;

	(void)state;
	assert_int_equal(refx_checkpoint_parse("o\n8\n" LOG_ROOT "\n", origin,
	    sizeof(origin), &size, root), REFX_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (refx_checkpoint_parse(bad[i], origin, sizeof(origin),
		    &size, root) != REFX_EINVAL)
			fail_msg("checkpoint %zu not refused", i);
}

static void
signed_checkpoints_refused(void **state)
{
	struct test_context *tc = *state;
	uint8_t root[REFX_CHECKPOINT_HASH_LEN];
	char *buf = tc->tc_buf, *text;
	uint64_t size;

	/* Validly signed, but not a checkpoint: a leading zero... */
	sign_into(buf, BUFLEN, LOG_NAME "\n08\n" LOG_ROOT "\n", tc->tc_log);
	assert_int_equal(verify(buf, tc->tc_log), REFX_OK);
	assert_int_equal(refx_checkpoint_open(buf, strlen(buf), tc->tc_log,
	    LOG_NAME, &size, root), REFX_EINVAL);

	/* ...or an extra blank line: the note splits at the last one. */
	sign_into(buf, BUFLEN, LOG_NAME "\n\n8\n" LOG_ROOT "\n", tc->tc_log);
	assert_int_equal(refx_note_verify(buf, strlen(buf), tc->tc_log,
	    &text), REFX_OK);
	assert_string_equal(text, LOG_NAME "\n\n8\n" LOG_ROOT "\n");
	free(text);
	assert_int_equal(refx_checkpoint_open(buf, strlen(buf), tc->tc_log,
	    LOG_NAME, &size, root), REFX_EINVAL);

	/* A blank line added before the signatures: the text changes. */
	assert_int_equal(verify(LOG_TEXT "\n\n" LOG_SIG, tc->tc_log),
	    REFX_ECRYPTO);

	/* A changed origin, size or root. */
	assert_int_equal(verify("audit.example.gov/referral-loh\n8\n" LOG_ROOT
	    "\n\n" LOG_SIG, tc->tc_log), REFX_ECRYPTO);
	assert_int_equal(verify(LOG_NAME "\n9\n" LOG_ROOT "\n\n" LOG_SIG,
	    tc->tc_log), REFX_ECRYPTO);
	assert_int_equal(verify(LOG_NAME "\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0"
	    "lgz+Nw7/RgQyk=\n\n" LOG_SIG, tc->tc_log), REFX_ECRYPTO);

	/* Validly signed by the log's key for another origin. */
	sign_into(buf, BUFLEN, "audit.example.gov/other\n8\n" LOG_ROOT "\n",
	    tc->tc_log);
	assert_int_equal(refx_checkpoint_open(buf, strlen(buf), tc->tc_log,
	    LOG_NAME, &size, root), REFX_EDENIED);
	assert_int_equal(refx_checkpoint_open(LOG_NOTE, strlen(LOG_NOTE),
	    tc->tc_log, "audit.example.gov/other", &size, root),
	    REFX_EDENIED);
	assert_int_equal(refx_checkpoint_open(LOG_NOTE, strlen(LOG_NOTE),
	    tc->tc_other, LOG_NAME, &size, root), REFX_ECRYPTO);
}

static void
sign_refusals(void **state)
{
	static const char *bad[] = { "", "no newline", "a\n\x01\n",
	    "a\r\n", "a\xff\n", "a\xc2\x9b\n" };
	struct test_context *tc = *state;
	struct refx_note_key *v;
	char *big, *note;
	size_t i, max;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(refx_note_sign(bad[i], tc->tc_log, &note), -1);
		assert_null(note);
	}

	/* A verifying key cannot sign; nor a cosignature key. */
	assert_non_null(v = refx_note_key_parse_vkey(LOG_VKEY));
	assert_int_equal(refx_note_sign(LOG_TEXT, v, &note), -1);
	refx_note_key_free(v);
	assert_int_equal(refx_note_sign(LOG_TEXT, tc->tc_w, &note), -1);

	/* The largest text that fits REFX_NOTE_MAX, and one byte more. */
	max = REFX_NOTE_MAX - 1 - strlen(LOG_SIG);
	assert_non_null(big = malloc(max + 2));
	memset(big, 'a', max + 1);
	big[max - 1] = '\n';
	big[max] = '\0';
	assert_int_equal(refx_note_sign(big, tc->tc_log, &note), 0);
	assert_int_equal(strlen(note), REFX_NOTE_MAX);
	assert_int_equal(verify(note, tc->tc_log), REFX_OK);
	free(note);
	big[max - 1] = 'a';
	big[max] = '\n';
	big[max + 1] = '\0';
	assert_int_equal(refx_note_sign(big, tc->tc_log, &note), -1);
	free(big);

	/* Text with blank lines signs and verifies as it is. */
	sign_into(tc->tc_buf, BUFLEN, "\n\na\n\n", tc->tc_log);
	assert_int_equal(verify(tc->tc_buf, tc->tc_log), REFX_OK);
}

static void
cosignature_round_trip(void **state)
{
	struct test_context *tc = *state;
	crypto_hash_sha256_state st;
	uint8_t pay[128], pk[REFX_NOTE_PK_LEN], sk[REFX_NOTE_SK_LEN];
	uint8_t seed[REFX_NOTE_SEED_LEN], h[32], root[32];
	const uint8_t sep[2] = { '\n', 0x04 };
	const char *msg;
	char *note, *n2;
	uint64_t t, size;
	size_t n;

	/* Byte for byte what Python's cryptography package signed. */
	assert_int_equal(refx_note_cosign(LOG_NOTE, strlen(LOG_NOTE), tc->tc_w,
	    W_TIME, &note), 0);
	assert_string_equal(note, LOG_NOTE W_COSIG);
	assert_int_equal(refx_note_verify_cosignature(note, strlen(note),
	    tc->tc_w, &t), REFX_OK);
	assert_true(t == W_TIME);

	/* The log's signature still verifies. */
	assert_int_equal(refx_checkpoint_open(note, strlen(note), tc->tc_log,
	    LOG_NAME, &size, root), REFX_OK);

	/* The payload: key id, big-endian time, signature: 76 bytes. */
	n = last_payload(note, pay, sizeof(pay));
	assert_int_equal(n, 76);
	memset(seed, 0x57, sizeof(seed));
	assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)W_NAME,
	    strlen(W_NAME));
	crypto_hash_sha256_update(&st, sep, sizeof(sep));
	crypto_hash_sha256_update(&st, pk, sizeof(pk));
	crypto_hash_sha256_final(&st, h);
	assert_memory_equal(pay, h, 4);
	assert_int_equal(refx_note_key_id(tc->tc_w),
	    ((uint32_t)h[0] << 24) | ((uint32_t)h[1] << 16) |
	    ((uint32_t)h[2] << 8) | h[3]);
	assert_memory_equal(pay + 4, "\0\0\0\0\x65\x53\xf1\x00", 8);
	msg = "cosignature/v1\ntime 1700000000\n" LOG_TEXT;
	assert_int_equal(crypto_sign_verify_detached(pay + 12,
	    (const uint8_t *)msg, strlen(msg), pk), 0);
	sodium_memzero(sk, sizeof(sk));

	/* Two witnesses; each finds its own. */
	assert_int_equal(refx_note_cosign(note, strlen(note), tc->tc_w2,
	    W_TIME + 5, &n2), 0);
	assert_int_equal(refx_note_verify_cosignature(n2, strlen(n2),
	    tc->tc_w, &t), REFX_OK);
	assert_true(t == W_TIME);
	assert_int_equal(refx_note_verify_cosignature(n2, strlen(n2),
	    tc->tc_w2, &t), REFX_OK);
	assert_true(t == W_TIME + 5);
	free(n2);

	/* The same witness again, later or earlier: the latest time. */
	assert_int_equal(refx_note_cosign(note, strlen(note), tc->tc_w,
	    W_TIME + 60, &n2), 0);
	assert_int_equal(refx_note_verify_cosignature(n2, strlen(n2),
	    tc->tc_w, &t), REFX_OK);
	assert_true(t == W_TIME + 60);
	free(n2);
	assert_int_equal(refx_note_cosign(note, strlen(note), tc->tc_w,
	    W_TIME - 60, &n2), 0);
	assert_int_equal(refx_note_verify_cosignature(n2, strlen(n2),
	    tc->tc_w, &t), REFX_OK);
	assert_true(t == W_TIME);
	free(n2);

	/* Time 0 and the largest time. */
	assert_int_equal(refx_note_cosign(LOG_NOTE, strlen(LOG_NOTE), tc->tc_w,
	    0, &n2), 0);
	assert_int_equal(refx_note_verify_cosignature(n2, strlen(n2),
	    tc->tc_w, &t), REFX_OK);
	assert_true(t == 0);
	free(n2);
	assert_int_equal(refx_note_cosign(LOG_NOTE, strlen(LOG_NOTE), tc->tc_w,
	    REFX_COSIG_TIME_MAX, &n2), 0);
	assert_int_equal(refx_note_verify_cosignature(n2, strlen(n2),
	    tc->tc_w, &t), REFX_OK);
	assert_true(t == REFX_COSIG_TIME_MAX);
	free(n2);
	free(note);
}

static void
cosignatures_refused(void **state)
{
	struct test_context *tc = *state;
	struct refx_note_key *v;
	uint8_t pay[128], big[128], pk[REFX_NOTE_PK_LEN];
	uint8_t seed[REFX_NOTE_SEED_LEN], sk[REFX_NOTE_SK_LEN];
	char line[256], *buf = tc->tc_buf, *note, *n2;
	const char *msg;
	uint64_t t = 42;
	size_t n, i, off;

	assert_int_equal(refx_note_cosign(LOG_NOTE, strlen(LOG_NOTE), tc->tc_w,
	    W_TIME, &note), 0);
	n = last_payload(note, pay, sizeof(pay));

	/* A wrong time under the same signature. */
	pay[11] ^= 1;
	sigline(line, sizeof(line), W_NAME, pay, n);
	snprintf(buf, BUFLEN, "%s%s", LOG_NOTE, line);
	assert_int_equal(refx_note_verify_cosignature(buf, strlen(buf),
	    tc->tc_w, &t), REFX_ECRYPTO);
	assert_true(t == 42);
	pay[11] ^= 1;

	/* A time beyond 2^63 - 1, validly signed. */
	memset(seed, 0x57, sizeof(seed));
	assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
	msg = "cosignature/v1\ntime 9223372036854775808\n" LOG_TEXT;
	memcpy(big, pay, 4);
	memcpy(big + 4, "\x80\0\0\0\0\0\0\0", 8);
	assert_int_equal(crypto_sign_detached(big + 12, NULL,
	    (const uint8_t *)msg, strlen(msg), sk), 0);
	sodium_memzero(sk, sizeof(sk));
	sigline(line, sizeof(line), W_NAME, big, n);
	snprintf(buf, BUFLEN, "%s%s", LOG_NOTE, line);
	assert_int_equal(refx_note_verify_cosignature(buf, strlen(buf),
	    tc->tc_w, &t), REFX_ECRYPTO);
	assert_int_equal(refx_note_cosign(LOG_NOTE, strlen(LOG_NOTE), tc->tc_w,
	    REFX_COSIG_TIME_MAX + 1, &n2), -1);
	assert_null(n2);

	/* A flipped signature bit; a 68-byte (type 0x01 sized) payload. */
	pay[40] ^= 0x10;
	sigline(line, sizeof(line), W_NAME, pay, n);
	snprintf(buf, BUFLEN, "%s%s", LOG_NOTE, line);
	assert_int_equal(refx_note_verify_cosignature(buf, strlen(buf),
	    tc->tc_w, &t), REFX_ECRYPTO);
	pay[40] ^= 0x10;
	sigline(line, sizeof(line), W_NAME, pay, 68);
	snprintf(buf, BUFLEN, "%s%s", LOG_NOTE, line);
	assert_int_equal(refx_note_verify_cosignature(buf, strlen(buf),
	    tc->tc_w, &t), REFX_ECRYPTO);

	/* Another witness's cosignature is ignored: none of ours. */
	assert_int_equal(refx_note_cosign(LOG_NOTE, strlen(LOG_NOTE),
	    tc->tc_w2, W_TIME, &n2), 0);
	assert_int_equal(refx_note_verify_cosignature(n2, strlen(n2),
	    tc->tc_w, &t), REFX_ECRYPTO);
	free(n2);
	/* So is the log's own signature. */
	assert_int_equal(refx_note_verify_cosignature(LOG_NOTE,
	    strlen(LOG_NOTE), tc->tc_w, &t), REFX_ECRYPTO);

	/* A cosignature moved to another checkpoint. */
	snprintf(buf, BUFLEN, "%s\n8\n%s\n\n%s", LOG_NAME,
	    "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyk=", W_COSIG);
	assert_int_equal(refx_note_verify_cosignature(buf, strlen(buf),
	    tc->tc_w, &t), REFX_ECRYPTO);

	/* Keys of the wrong type. */
	assert_int_equal(refx_note_cosign(LOG_NOTE, strlen(LOG_NOTE),
	    tc->tc_log, W_TIME, &n2), -1);
	assert_int_equal(refx_note_verify_cosignature(note, strlen(note),
	    tc->tc_log, &t), REFX_EINVAL);
	assert_non_null(v = refx_note_key_parse_vkey(W_VKEY));
	assert_int_equal(refx_note_cosign(LOG_NOTE, strlen(LOG_NOTE), v,
	    W_TIME, &n2), -1);
	assert_int_equal(refx_note_verify_cosignature(note, strlen(note), v,
	    &t), REFX_OK);
	refx_note_key_free(v);

	/* Only checkpoints, only strict notes. */
	assert_int_equal(refx_note_cosign(SPEC_NOTE, strlen(SPEC_NOTE),
	    tc->tc_w, W_TIME, &n2), -1);
	assert_int_equal(refx_note_cosign(LOG_TEXT, strlen(LOG_TEXT),
	    tc->tc_w, W_TIME, &n2), -1);
	assert_int_equal(refx_note_cosign(LOG_NOTE, strlen(LOG_NOTE) - 1,
	    tc->tc_w, W_TIME, &n2), -1);
	sign_into(buf, BUFLEN, LOG_NAME "\n8\n" LOG_ROOT "\nextension\n",
	    tc->tc_log);
	assert_int_equal(refx_note_cosign(buf, strlen(buf), tc->tc_w, W_TIME,
	    &n2), -1);

	/* No room for one more signature line. */
	off = (size_t)snprintf(buf, BUFLEN, "%s", LOG_NOTE);
	for (i = 1; i < REFX_NOTE_MAX_SIGS; i++)
		off += (size_t)snprintf(buf + off, BUFLEN - off, "%s", LOG_SIG);
	assert_int_equal(verify(buf, tc->tc_log), REFX_OK);
	assert_int_equal(refx_note_cosign(buf, strlen(buf), tc->tc_w, W_TIME,
	    &n2), -1);
	assert_null(n2);
	free(note);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(spec_vector_verifies),
		T(go_vector_signs_byte_for_byte),
		T(worked_checkpoint_vector),
		T(vkeys_with_plus_round_trip),
		T(vkeys_refused),
		T(key_names_and_secrets),
		T(unknown_signatures_ignored),
		T(known_bad_signature_rejects),
		T(malformed_notes_refused),
		T(signature_count_bounded),
		T(every_mutation_fails),
		T(checkpoint_round_trip),
		T(checkpoints_refused),
		T(signed_checkpoints_refused),
		T(sign_refusals),
		T(cosignature_round_trip),
		T(cosignatures_refused),
	};
#undef T

	if (refx_crypto_init() != 0)
		return (1);
	return (cmocka_run_group_tests_name("lib_note", tests, NULL, NULL));
}
