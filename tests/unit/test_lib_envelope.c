/*
 * lib/envelope.c: field encryption, envelopes, manifest signatures and
 * unit key files.
 *
 * All keys are real ones made here: X25519 pairs with libsodium, Ed25519
 * and X25519 keys and certificates with OpenSSL (this binary links
 * librefx only), written as files to a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "refx/envelope.h"
#include "refx/file.h"

#define REFERRAL	"0123456789abcdef0123456789abcdef"
#define OTHER_REF	"fedcba9876543210fedcba9876543210"
#define UNIT		"bup-sodra"
#define OTHER_UNIT	"ifo-norra"
#define PASS		"correct horse battery staple"
#define MANIFEST	"{\"fields\":[\"diagnoses\"],\"referral\":\"" REFERRAL \
			"\"}"
#define CONTEXT		"refx-manifest-v1"	/* sizeof: with the 0x00 */

/* Fast work factors: the format records them. */
#define OPS		crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE
#define MEM		crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE

/* The protected unit key layout (docs/crypto.md), to damage it. */
#define UK_BEGIN	"-----BEGIN REFX UNIT KEY-----\n"
#define UK_END		"-----END REFX UNIT KEY-----\n"
#define UK_OFF_OPS	5
#define UK_OFF_MEM	13
#define UK_OFF_SALT	21
#define UK_OFF_NONCE	37
#define UK_OFF_MAC	61
#define UK_OFF_CT	77
#define UK_BIN_LEN	205

struct test_context {
	char		 dir[64];
	char		 path[128];	/* a scratch file name */
	EVP_PKEY	*eda;		/* signer A: key, cert, key file */
	X509		*certa;
	char		 keya[128];
	EVP_PKEY	*edb;		/* signer B: key and cert */
	X509		*certb;
	uint8_t		 pk[32], sk[32];	/* the recipient unit */
	uint8_t		 pk2[32], sk2[32];	/* another unit */
};

/* A self-signed (or ${signer}-signed) certificate of ${key}. */
static X509 *
make_cert(EVP_PKEY *key, EVP_PKEY *signer, const char *cn)
{
	X509 *x;

	assert_non_null(x = X509_new());
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -300));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x),
	    "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(x)),
	    1);
	assert_true(X509_sign(x, signer, NULL) > 0);
	return (x);
}

/* Write ${key} as PKCS#8 PEM to ${path}, mode 0600, encrypted if ${pass}. */
static void
write_key(const char *path, EVP_PKEY *key, const char *pass)
{
	BIO *bio;
	char *data;
	long len;

	assert_non_null(bio = BIO_new(BIO_s_mem()));
	if (pass == NULL)
		assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL,
		    NULL, 0, NULL, NULL), 1);
	else
		assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, key,
		    EVP_aes_256_cbc(), pass, (int)strlen(pass), NULL, NULL),
		    1);
	assert_true((len = BIO_get_mem_data(bio, &data)) > 0);
	(void)unlink(path);
	assert_int_equal(refx_file_write(path, data, (size_t)len, 0600, 0), 0);
	BIO_free(bio);
}

/* Write ${len} bytes to ${path}, mode 0600, replacing it. */
static void
write_file(const char *path, const void *data, size_t len)
{

	assert_int_equal(refx_file_write(path, data, len, 0600, 0), 0);
}

/* Read ${path} into ${data} (caller frees). */
static void
read_file(const char *path, uint8_t **data, size_t *len)
{

	assert_int_equal(refx_file_read(path, 64 * 1024, data, len), 0);
}

static int
setup(void **state)
{
	struct test_context *tc;

	if ((tc = calloc(1, sizeof(*tc))) == NULL)
		return (-1);
	snprintf(tc->dir, sizeof(tc->dir), "/tmp/refx-envelope.XXXXXX");
	if (mkdtemp(tc->dir) == NULL)
		return (-1);
	snprintf(tc->path, sizeof(tc->path), "%s/scratch", tc->dir);
	snprintf(tc->keya, sizeof(tc->keya), "%s/a.key", tc->dir);

	if ((tc->eda = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL ||
	    (tc->edb = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL)
		return (-1);
	tc->certa = make_cert(tc->eda, tc->eda, "signer a");
	tc->certb = make_cert(tc->edb, tc->edb, "signer b");
	write_key(tc->keya, tc->eda, NULL);

	if (crypto_box_keypair(tc->pk, tc->sk) != 0 ||
	    crypto_box_keypair(tc->pk2, tc->sk2) != 0)
		return (-1);
	*state = tc;
	return (0);
}

static int
teardown(void **state)
{
	struct test_context *tc = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tc->dir);
	if (system(cmd) != 0)
		return (-1);
	X509_free(tc->certa);
	X509_free(tc->certb);
	EVP_PKEY_free(tc->eda);
	EVP_PKEY_free(tc->edb);
	sodium_memzero(tc, sizeof(*tc));
	free(tc);
	return (0);
}

/* ---- referral ids and key sets ---------------------------------------- */

static void
referral_id_shape(void **state)
{
	char a[REFX_REFERRAL_ID_LEN + 1], b[REFX_REFERRAL_ID_LEN + 1];

	(void)state;
	refx_referral_id_new(a);
	refx_referral_id_new(b);
	assert_int_equal(strlen(a), 32);
	assert_true(refx_referral_id_valid(a));
	assert_string_not_equal(a, b);
	assert_true(refx_referral_id_valid(REFERRAL));
	assert_false(refx_referral_id_valid(NULL));
	assert_false(refx_referral_id_valid(""));
	assert_false(refx_referral_id_valid(
	    "0123456789ABCDEF0123456789abcdef"));
	assert_false(refx_referral_id_valid(
	    "0123456789abcdef0123456789abcde"));
	assert_false(refx_referral_id_valid(REFERRAL "0"));
	assert_false(refx_referral_id_valid(
	    "0123456789abcdeg0123456789abcdef"));
}

static void
keyset_basics(void **state)
{
	struct refx_keyset *ks;
	uint8_t k[32];
	char name[40];
	int i;

	(void)state;
	assert_non_null(ks = refx_keyset_new());
	assert_int_equal(refx_keyset_count(ks), 0);
	memset(k, 7, sizeof(k));
	assert_int_equal(refx_keyset_add(ks, "diagnoses", k), 0);
	assert_int_equal(refx_keyset_add(ks, "attachment-1", k), 0);
	assert_int_equal(refx_keyset_add(ks, "pupil_view", k), 0);
	assert_int_equal(refx_keyset_add(ks, "diagnoses", k), -1);
	assert_int_equal(refx_keyset_add(ks, "", k), -1);
	assert_int_equal(refx_keyset_add(ks, "Diagnoses", k), -1);
	assert_int_equal(refx_keyset_add(ks, "a.b", k), -1);
	assert_int_equal(refx_keyset_add(ks, "a b", k), -1);
	assert_int_equal(refx_keyset_add(ks, NULL, k), -1);
	memset(name, 'x', 33);
	name[33] = '\0';
	assert_int_equal(refx_keyset_add(ks, name, k), -1);
	name[32] = '\0';
	assert_int_equal(refx_keyset_add(ks, name, k), 0);
	assert_int_equal(refx_keyset_count(ks), 4);
	assert_string_equal(refx_keyset_name(ks, 1), "attachment-1");
	assert_null(refx_keyset_name(ks, 4));
	assert_memory_equal(refx_keyset_get(ks, "pupil_view"), k, 32);
	assert_null(refx_keyset_get(ks, "home"));

	/* Full at REFX_MAX_FIELDS. */
	for (i = 0; refx_keyset_count(ks) < REFX_MAX_FIELDS; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		assert_int_equal(refx_keyset_add(ks, name, k), 0);
	}
	assert_int_equal(refx_keyset_add(ks, "one-more", k), -1);
	refx_keyset_free(ks);
	refx_keyset_free(NULL);
}

/* ---- fields ------------------------------------------------------------- */

static void
field_round_trip(void **state)
{
	const char *v = "{\"diagnoses\":[\"F90.0\"]}";
	uint8_t key[32], *blob, *pt;
	size_t bloblen, ptlen;

	(void)state;
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	assert_int_equal(refx_field_seal(REFERRAL, "diagnoses", key,
	    (const uint8_t *)v, strlen(v), &blob, &bloblen), 0);
	assert_int_equal(bloblen, 24 + strlen(v) + 16);
	assert_int_equal(refx_field_open(REFERRAL, "diagnoses", key, blob,
	    bloblen, &pt, &ptlen), 0);
	assert_int_equal(ptlen, strlen(v));
	assert_string_equal((char *)pt, v);	/* NUL-terminated */
	refx_secret_free(pt, ptlen);
	refx_secret_free(NULL, 0);
	free(blob);
}

static void
field_empty_value(void **state)
{
	uint8_t key[32], *blob, *pt;
	size_t bloblen, ptlen;

	(void)state;
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	assert_int_equal(refx_field_seal(REFERRAL, "home", key, NULL, 0,
	    &blob, &bloblen), 0);
	assert_int_equal(bloblen, 40);
	assert_int_equal(refx_field_open(REFERRAL, "home", key, blob,
	    bloblen, &pt, &ptlen), 0);
	assert_int_equal(ptlen, 0);
	assert_int_equal(pt[0], '\0');
	refx_secret_free(pt, ptlen);
	free(blob);
}

/* Assert that opening fails and leaves nothing behind. */
static void
open_fails(const char *referral, const char *name, const uint8_t *key,
    const uint8_t *blob, size_t len)
{
	uint8_t *pt = (uint8_t *)1;
	size_t ptlen = 1;

	assert_int_equal(refx_field_open(referral, name, key, blob, len, &pt,
	    &ptlen), -1);
	assert_null(pt);
	assert_int_equal(ptlen, 0);
}

static void
field_tampering_fails(void **state)
{
	const char *v = "the pupil's own view";
	uint8_t key[32], key2[32], *blob;
	size_t n, i;
	const size_t pos[] = {
		0, 23,			/* nonce */
		24, 30,			/* ciphertext */
		24 + 20, 24 + 20 + 15,	/* tag */
	};

	(void)state;
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	crypto_aead_xchacha20poly1305_ietf_keygen(key2);
	assert_int_equal(refx_field_seal(REFERRAL, "pupil_view", key,
	    (const uint8_t *)v, strlen(v), &blob, &n), 0);
	assert_int_equal(n, 24 + 20 + 16);

	/* One bit anywhere. */
	for (i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
		blob[pos[i]] ^= 0x01;
		open_fails(REFERRAL, "pupil_view", key, blob, n);
		blob[pos[i]] ^= 0x01;
	}
	/* Truncated, or extended. */
	open_fails(REFERRAL, "pupil_view", key, blob, n - 1);
	open_fails(REFERRAL, "pupil_view", key, blob, 39);
	open_fails(REFERRAL, "pupil_view", key, blob, 0);
	/* Wrong key; wrong referral; wrong field (the AD binds both). */
	open_fails(REFERRAL, "pupil_view", key2, blob, n);
	open_fails(OTHER_REF, "pupil_view", key, blob, n);
	open_fails(REFERRAL, "home", key, blob, n);
	open_fails(REFERRAL, "pupil_vie", key, blob, n);
	open_fails("not-an-id", "pupil_view", key, blob, n);
	free(blob);
}

static void
field_ad_is_as_specified(void **state)
{
	const uint8_t ad[] = "refx-field-v1\0" REFERRAL "\0diagnoses\0"
	    "refx-referral-1";
	const char *v = "F84.0";
	uint8_t key[32], out[64], *blob, *pt;
	unsigned long long mlen;
	size_t n, ptlen;

	(void)state;
	crypto_aead_xchacha20poly1305_ietf_keygen(key);

	/* Ours opens with plain libsodium and the documented AD... */
	assert_int_equal(refx_field_seal(REFERRAL, "diagnoses", key,
	    (const uint8_t *)v, strlen(v), &blob, &n), 0);
	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(out,
	    &mlen, NULL, blob + 24, n - 24, ad, sizeof(ad) - 1, blob, key), 0);
	assert_int_equal(mlen, strlen(v));
	assert_memory_equal(out, v, mlen);

	/* ...and libsodium's opens with ours. */
	randombytes_buf(blob, 24);
	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_encrypt(blob + 24,
	    NULL, (const uint8_t *)v, strlen(v), ad, sizeof(ad) - 1, NULL,
	    blob, key), 0);
	assert_int_equal(refx_field_open(REFERRAL, "diagnoses", key, blob, n,
	    &pt, &ptlen), 0);
	assert_string_equal((char *)pt, v);
	refx_secret_free(pt, ptlen);
	free(blob);
}

static void
field_bad_arguments(void **state)
{
	static uint8_t big[1];
	uint8_t key[32], *blob = (uint8_t *)1;
	size_t n = 1;

	(void)state;
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	assert_int_equal(refx_field_seal("ABC", "home", key, big, 1, &blob,
	    &n), -1);
	assert_null(blob);
	assert_int_equal(n, 0);
	assert_int_equal(refx_field_seal(REFERRAL, "Home", key, big, 1, &blob,
	    &n), -1);
	assert_int_equal(refx_field_seal(REFERRAL, "home", key, NULL, 1,
	    &blob, &n), -1);
	/* Over 16 MiB: refused before anything is read. */
	assert_int_equal(refx_field_seal(REFERRAL, "home", key, big,
	    16 * 1024 * 1024 + 1, &blob, &n), -1);
	assert_null(blob);
}

/* ---- envelopes ---------------------------------------------------------- */

/* A key set of three random keys. */
static struct refx_keyset *
three_keys(void)
{
	const char *names[] = { "identity", "reason", "attachment-1" };
	struct refx_keyset *ks;
	uint8_t k[32];
	size_t i;

	assert_non_null(ks = refx_keyset_new());
	for (i = 0; i < 3; i++) {
		crypto_aead_xchacha20poly1305_ietf_keygen(k);
		assert_int_equal(refx_keyset_add(ks, names[i], k), 0);
	}
	return (ks);
}

static void
envelope_round_trip(void **state)
{
	struct test_context *tc = *state;
	struct refx_keyset *ks, *got;
	uint8_t *env;
	size_t n, i;
	const char *name;

	ks = three_keys();
	assert_int_equal(refx_envelope_seal(REFERRAL, UNIT, ks, tc->pk, &env,
	    &n), 0);
	assert_int_equal(refx_envelope_open(env, n, tc->pk, tc->sk, REFERRAL,
	    UNIT, &got), REFX_OK);
	assert_int_equal(refx_keyset_count(got), 3);
	for (i = 0; i < 3; i++) {
		name = refx_keyset_name(ks, i);
		assert_non_null(refx_keyset_get(got, name));
		assert_memory_equal(refx_keyset_get(got, name),
		    refx_keyset_get(ks, name), 32);
	}
	refx_keyset_free(got);
	free(env);

	/* jansson now wipes what it frees (it held the keys). */
	{
		json_malloc_t m;
		json_free_t f;

		json_get_alloc_funcs(&m, &f);
		assert_true(m == malloc);
		assert_true(f != free);
	}

	/* An empty set is an envelope too. */
	refx_keyset_free(ks);
	assert_non_null(ks = refx_keyset_new());
	assert_int_equal(refx_envelope_seal(REFERRAL, UNIT, ks, tc->pk, &env,
	    &n), 0);
	assert_int_equal(refx_envelope_open(env, n, tc->pk, tc->sk, REFERRAL,
	    UNIT, &got), REFX_OK);
	assert_int_equal(refx_keyset_count(got), 0);
	refx_keyset_free(got);
	refx_keyset_free(ks);
	free(env);
}

static void
envelope_json_is_canonical(void **state)
{
	struct test_context *tc = *state;
	struct refx_keyset *ks;
	uint8_t k[32], *env;
	char pt[512], want[512];
	size_t n;

	assert_non_null(ks = refx_keyset_new());
	memset(k, 0xfb, sizeof(k));
	assert_int_equal(refx_keyset_add(ks, "reason", k), 0);
	memset(k, 0, sizeof(k));
	assert_int_equal(refx_keyset_add(ks, "home", k), 0);
	assert_int_equal(refx_envelope_seal(REFERRAL, UNIT, ks, tc->pk, &env,
	    &n), 0);
	assert_true(n > crypto_box_SEALBYTES && n < sizeof(pt));
	assert_int_equal(crypto_box_seal_open((uint8_t *)pt, env, n, tc->pk,
	    tc->sk), 0);
	pt[n - crypto_box_SEALBYTES] = '\0';
	snprintf(want, sizeof(want), "{\"keys\":{"
	    "\"home\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
	    "\"reason\":\"+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s=\"},"
	    "\"recipient\":\"%s\",\"referral\":\"%s\",\"v\":1}", UNIT,
	    REFERRAL);
	assert_string_equal(pt, want);
	refx_keyset_free(ks);
	free(env);
}

static void
envelope_wrong_unit_key(void **state)
{
	struct test_context *tc = *state;
	struct refx_keyset *ks, *got = (struct refx_keyset *)1;
	uint8_t *env;
	size_t n;

	ks = three_keys();
	assert_int_equal(refx_envelope_seal(REFERRAL, UNIT, ks, tc->pk, &env,
	    &n), 0);
	assert_int_equal(refx_envelope_open(env, n, tc->pk2, tc->sk2,
	    REFERRAL, UNIT, &got), REFX_ECRYPTO);
	assert_null(got);
	/* The right public key with the wrong secret key. */
	assert_int_equal(refx_envelope_open(env, n, tc->pk, tc->sk2,
	    REFERRAL, UNIT, &got), REFX_ECRYPTO);
	refx_keyset_free(ks);
	free(env);
}

static void
envelope_moved_to_other_referral(void **state)
{
	struct test_context *tc = *state;
	struct refx_keyset *ks, *got;
	uint8_t *env;
	size_t n;

	ks = three_keys();
	assert_int_equal(refx_envelope_seal(REFERRAL, UNIT, ks, tc->pk, &env,
	    &n), 0);
	assert_int_equal(refx_envelope_open(env, n, tc->pk, tc->sk, OTHER_REF,
	    UNIT, &got), REFX_ECRYPTO);
	assert_null(got);
	refx_keyset_free(ks);
	free(env);
}

static void
envelope_moved_to_other_recipient(void **state)
{
	struct test_context *tc = *state;
	struct refx_keyset *ks, *got;
	uint8_t *env;
	size_t n;

	/* Both units hold the same key pair: only the name can tell. */
	ks = three_keys();
	assert_int_equal(refx_envelope_seal(REFERRAL, UNIT, ks, tc->pk, &env,
	    &n), 0);
	assert_int_equal(refx_envelope_open(env, n, tc->pk, tc->sk, REFERRAL,
	    OTHER_UNIT, &got), REFX_ECRYPTO);
	assert_null(got);
	assert_int_equal(refx_envelope_open(env, n, tc->pk, tc->sk, REFERRAL,
	    "bup-sodr", &got), REFX_ECRYPTO);
	refx_keyset_free(ks);
	free(env);
}

static void
envelope_truncated_or_flipped(void **state)
{
	struct test_context *tc = *state;
	struct refx_keyset *ks, *got;
	uint8_t *env;
	size_t n;

	ks = three_keys();
	assert_int_equal(refx_envelope_seal(REFERRAL, UNIT, ks, tc->pk, &env,
	    &n), 0);
	assert_int_equal(refx_envelope_open(env, n - 1, tc->pk, tc->sk,
	    REFERRAL, UNIT, &got), REFX_ECRYPTO);
	assert_int_equal(refx_envelope_open(env, 48, tc->pk, tc->sk,
	    REFERRAL, UNIT, &got), REFX_ECRYPTO);
	assert_int_equal(refx_envelope_open(env, 47, tc->pk, tc->sk,
	    REFERRAL, UNIT, &got), REFX_ECRYPTO);
	assert_int_equal(refx_envelope_open(env, 0, tc->pk, tc->sk,
	    REFERRAL, UNIT, &got), REFX_ECRYPTO);
	env[n / 2] ^= 0x80;
	assert_int_equal(refx_envelope_open(env, n, tc->pk, tc->sk,
	    REFERRAL, UNIT, &got), REFX_ECRYPTO);
	assert_null(got);
	refx_keyset_free(ks);
	free(env);
}

/* Seal the JSON text ${json} to the unit and try to open it. */
static enum refx_err
open_json(struct test_context *tc, const char *json)
{
	struct refx_keyset *ks = NULL;
	uint8_t c[1024];
	enum refx_err rc;

	assert_true(strlen(json) + crypto_box_SEALBYTES <= sizeof(c));
	assert_int_equal(crypto_box_seal(c, (const uint8_t *)json,
	    strlen(json), tc->pk), 0);
	rc = refx_envelope_open(c, strlen(json) + crypto_box_SEALBYTES,
	    tc->pk, tc->sk, REFERRAL, UNIT, &ks);
	assert_true(rc == REFX_OK ? ks != NULL : ks == NULL);
	refx_keyset_free(ks);
	return (rc);
}

#define K32	"\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\""
#define HEAD	"{\"v\":1,\"referral\":\"" REFERRAL "\",\"recipient\":\"" \
		UNIT "\",\"keys\":"

static void
envelope_malformed(void **state)
{
	struct test_context *tc = *state;

	/* Well-formed (member order does not matter to the reader). */
	assert_int_equal(open_json(tc, HEAD "{\"home\":" K32 "}}"), REFX_OK);

	/* Malformed contents. */
	assert_int_equal(open_json(tc, "not json"), REFX_EINVAL);
	assert_int_equal(open_json(tc, "[]"), REFX_EINVAL);
	assert_int_equal(open_json(tc, HEAD "{\"home\":" K32 "}"),
	    REFX_EINVAL);
	assert_int_equal(open_json(tc, "{\"v\":2,\"referral\":\"" REFERRAL
	    "\",\"recipient\":\"" UNIT "\",\"keys\":{}}"), REFX_EINVAL);
	assert_int_equal(open_json(tc, "{\"v\":\"1\",\"referral\":\""
	    REFERRAL "\",\"recipient\":\"" UNIT "\",\"keys\":{}}"),
	    REFX_EINVAL);
	assert_int_equal(open_json(tc, "{\"v\":1,\"recipient\":\"" UNIT
	    "\",\"keys\":{}}"), REFX_EINVAL);
	assert_int_equal(open_json(tc, HEAD "{},\"extra\":1}"), REFX_EINVAL);
	assert_int_equal(open_json(tc, HEAD "[]}"), REFX_EINVAL);
	/* Duplicate members. */
	assert_int_equal(open_json(tc, HEAD "{\"home\":" K32 ",\"home\":"
	    K32 "}}"), REFX_EINVAL);
	assert_int_equal(open_json(tc, "{\"v\":1,\"v\":1,\"referral\":\""
	    REFERRAL "\",\"recipient\":\"" UNIT "\",\"keys\":{}}"),
	    REFX_EINVAL);
	/* Keys: 31 or 33 bytes, unpadded, not base64, not a string. */
	assert_int_equal(open_json(tc, HEAD "{\"home\":"
	    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\"}}"), REFX_EINVAL);
	assert_int_equal(open_json(tc, HEAD "{\"home\":"
	    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}}"), REFX_EINVAL);
	assert_int_equal(open_json(tc, HEAD "{\"home\":"
	    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}}"), REFX_EINVAL);
	assert_int_equal(open_json(tc, HEAD "{\"home\":"
	    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\"}}"), REFX_EINVAL);
	assert_int_equal(open_json(tc, HEAD "{\"home\":"
	    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-_A=\"}}"), REFX_EINVAL);
	assert_int_equal(open_json(tc, HEAD "{\"home\":1}}"), REFX_EINVAL);
	/* Field names. */
	assert_int_equal(open_json(tc, HEAD "{\"Home\":" K32 "}}"),
	    REFX_EINVAL);
	assert_int_equal(open_json(tc, HEAD "{\"\":" K32 "}}"), REFX_EINVAL);

	/* Well-formed but for another referral or unit. */
	assert_int_equal(open_json(tc, "{\"v\":1,\"referral\":\"" OTHER_REF
	    "\",\"recipient\":\"" UNIT "\",\"keys\":{}}"), REFX_ECRYPTO);
	assert_int_equal(open_json(tc, "{\"v\":1,\"referral\":\"" REFERRAL
	    "\",\"recipient\":\"" OTHER_UNIT "\",\"keys\":{}}"),
	    REFX_ECRYPTO);
}

static void
envelope_bad_arguments(void **state)
{
	struct test_context *tc = *state;
	struct refx_keyset *ks;
	uint8_t *env = (uint8_t *)1;
	size_t n = 1;

	ks = three_keys();
	assert_int_equal(refx_envelope_seal("nope", UNIT, ks, tc->pk, &env,
	    &n), -1);
	assert_null(env);
	assert_int_equal(n, 0);
	assert_int_equal(refx_envelope_seal(REFERRAL, "Bad Unit", ks, tc->pk,
	    &env, &n), -1);
	assert_int_equal(refx_envelope_seal(REFERRAL, UNIT, NULL, tc->pk,
	    &env, &n), -1);
	refx_keyset_free(ks);
}

/* ---- manifest signatures ------------------------------------------------ */

static void
sign_round_trip(void **state)
{
	struct test_context *tc = *state;
	const uint8_t *m = (const uint8_t *)MANIFEST;
	uint8_t sig[64], pk[32], msg[256];
	size_t n = sizeof(pk);

	assert_int_equal(refx_manifest_sign(tc->keya, NULL, m,
	    strlen(MANIFEST), sig), 0);
	assert_int_equal(refx_manifest_verify(tc->certa, m, strlen(MANIFEST),
	    sig), REFX_OK);

	/* libsodium agrees, over context 0x00 manifest. */
	assert_int_equal(EVP_PKEY_get_raw_public_key(tc->eda, pk, &n), 1);
	memcpy(msg, CONTEXT, sizeof(CONTEXT));
	memcpy(msg + sizeof(CONTEXT), MANIFEST, strlen(MANIFEST));
	assert_int_equal(crypto_sign_verify_detached(sig, msg,
	    sizeof(CONTEXT) + strlen(MANIFEST), pk), 0);
	assert_int_equal(crypto_sign_verify_detached(sig, m,
	    strlen(MANIFEST), pk), -1);

	/* An empty manifest is still signed under the context. */
	assert_int_equal(refx_manifest_sign(tc->keya, NULL, NULL, 0, sig), 0);
	assert_int_equal(refx_manifest_verify(tc->certa, NULL, 0, sig),
	    REFX_OK);
	assert_int_equal(crypto_sign_verify_detached(sig, msg,
	    sizeof(CONTEXT), pk), 0);
}

static void
sign_tampering_fails(void **state)
{
	struct test_context *tc = *state;
	uint8_t m[] = MANIFEST, sig[64];
	size_t n = sizeof(m) - 1, i;

	assert_int_equal(refx_manifest_sign(tc->keya, NULL, m, n, sig), 0);

	/* One byte of the manifest. */
	m[10] ^= 0x20;
	assert_int_equal(refx_manifest_verify(tc->certa, m, n, sig),
	    REFX_ECRYPTO);
	m[10] ^= 0x20;
	assert_int_equal(refx_manifest_verify(tc->certa, m, n - 1, sig),
	    REFX_ECRYPTO);

	/* One bit of the signature, in R and in S. */
	for (i = 0; i < 64; i += 21) {
		sig[i] ^= 0x04;
		assert_int_equal(refx_manifest_verify(tc->certa, m, n, sig),
		    REFX_ECRYPTO);
		sig[i] ^= 0x04;
	}
	assert_int_equal(refx_manifest_verify(tc->certa, m, n, sig), REFX_OK);

	/* Another signer's certificate; no certificate. */
	assert_int_equal(refx_manifest_verify(tc->certb, m, n, sig),
	    REFX_ECRYPTO);
	assert_int_equal(refx_manifest_verify(NULL, m, n, sig), REFX_ECRYPTO);
}

static void
sign_libsodium_interop(void **state)
{
	struct test_context *tc = *state;
	uint8_t seed[32], pk[32], sk[64], sig[64], msg[256];
	size_t n = sizeof(seed), mlen;

	/* The same key in libsodium: OpenSSL's raw private key is the seed. */
	assert_int_equal(EVP_PKEY_get_raw_private_key(tc->eda, seed, &n), 1);
	assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);

	/* A one-shot signature over exactly "refx-manifest-v1" 0x00 || m. */
	memcpy(msg, "refx-manifest-v1\0", 17);
	memcpy(msg + 17, MANIFEST, strlen(MANIFEST));
	mlen = 17 + strlen(MANIFEST);
	assert_int_equal(crypto_sign_detached(sig, NULL, msg, mlen, sk), 0);
	assert_int_equal(refx_manifest_verify(tc->certa,
	    (const uint8_t *)MANIFEST, strlen(MANIFEST), sig), REFX_OK);

	/* Without the context, or without its 0x00, it does not verify. */
	assert_int_equal(crypto_sign_detached(sig, NULL, msg + 17,
	    mlen - 17, sk), 0);
	assert_int_equal(refx_manifest_verify(tc->certa,
	    (const uint8_t *)MANIFEST, strlen(MANIFEST), sig), REFX_ECRYPTO);
	memmove(msg + 16, msg + 17, mlen - 17);
	assert_int_equal(crypto_sign_detached(sig, NULL, msg, mlen - 1, sk),
	    0);
	assert_int_equal(refx_manifest_verify(tc->certa,
	    (const uint8_t *)MANIFEST, strlen(MANIFEST), sig), REFX_ECRYPTO);
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(seed, sizeof(seed));
}

static void
sign_contexts_are_separate(void **state)
{
	struct test_context *tc = *state;
	const uint8_t *m = (const uint8_t *)MANIFEST;
	size_t n = strlen(MANIFEST);
	uint8_t sig[64];

	/* A consent statement signature is not a manifest signature. */
	assert_int_equal(refx_sign_ctx(tc->keya, NULL, REFX_CONSENT_CONTEXT,
	    m, n, sig), 0);
	assert_int_equal(refx_verify_ctx(tc->certa, REFX_CONSENT_CONTEXT, m,
	    n, sig), REFX_OK);
	assert_int_equal(refx_manifest_verify(tc->certa, m, n, sig),
	    REFX_ECRYPTO);
	assert_int_equal(refx_verify_ctx(tc->certa, "refx-manifest-v1", m, n,
	    sig), REFX_ECRYPTO);

	/* Nor the other way round. */
	assert_int_equal(refx_manifest_sign(tc->keya, NULL, m, n, sig), 0);
	assert_int_equal(refx_verify_ctx(tc->certa, "refx-manifest-v1", m, n,
	    sig), REFX_OK);
	assert_int_equal(refx_verify_ctx(tc->certa, REFX_CONSENT_CONTEXT, m,
	    n, sig), REFX_ECRYPTO);

	/* No context, or an empty one: refused. */
	assert_int_equal(refx_sign_ctx(tc->keya, NULL, NULL, m, n, sig), -1);
	assert_int_equal(refx_sign_ctx(tc->keya, NULL, "", m, n, sig), -1);
	assert_int_equal(refx_verify_ctx(tc->certa, NULL, m, n, sig),
	    REFX_ECRYPTO);
}

static void
sign_key_files(void **state)
{
	struct test_context *tc = *state;
	const uint8_t *m = (const uint8_t *)MANIFEST;
	size_t n = strlen(MANIFEST);
	EVP_PKEY *x;
	X509 *xc;
	uint8_t sig[64];

	/* Readable by others: refused. */
	assert_int_equal(chmod(tc->keya, 0640), 0);
	errno = 0;
	assert_int_equal(refx_manifest_sign(tc->keya, NULL, m, n, sig), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(chmod(tc->keya, 0600), 0);

	/* An encrypted key: the passphrase, only the right one. */
	write_key(tc->path, tc->eda, PASS);
	assert_int_equal(refx_manifest_sign(tc->path, PASS, m, n, sig), 0);
	assert_int_equal(refx_manifest_verify(tc->certa, m, n, sig), REFX_OK);
	assert_int_equal(refx_manifest_sign(tc->path, "wrong", m, n, sig),
	    -1);
	assert_int_equal(refx_manifest_sign(tc->path, NULL, m, n, sig), -1);

	/* Not an Ed25519 key; no such file. */
	assert_non_null(x = EVP_PKEY_Q_keygen(NULL, NULL, "X25519"));
	write_key(tc->path, x, NULL);
	assert_int_equal(refx_manifest_sign(tc->path, NULL, m, n, sig), -1);
	write_file(tc->path, "garbage\n", 8);
	assert_int_equal(refx_manifest_sign(tc->path, NULL, m, n, sig), -1);
	assert_int_equal(refx_manifest_sign("/nonexistent/k", NULL, m, n,
	    sig), -1);

	/* A certificate of an X25519 key verifies nothing. */
	assert_int_equal(refx_manifest_sign(tc->keya, NULL, m, n, sig), 0);
	xc = make_cert(x, tc->eda, "x25519");
	assert_int_equal(refx_manifest_verify(xc, m, n, sig), REFX_ECRYPTO);
	X509_free(xc);
	EVP_PKEY_free(x);
}

/* ---- unit key files ----------------------------------------------------- */

static void
unitkey_pkcs8(void **state)
{
	struct test_context *tc = *state;
	char unit[64], err[256];
	uint8_t pk[32], sk[32], want[32], c[48 + 5], m[5];
	size_t n = sizeof(want);
	EVP_PKEY *x;

	assert_non_null(x = EVP_PKEY_Q_keygen(NULL, NULL, "X25519"));
	assert_int_equal(EVP_PKEY_get_raw_public_key(x, want, &n), 1);
	write_key(tc->path, x, NULL);
	assert_int_equal(refx_unitkey_load(tc->path, NULL, unit, pk, sk, err,
	    sizeof(err)), 0);
	assert_memory_equal(pk, want, 32);
	assert_string_equal(unit, "");

	/* libsodium's sealed boxes work with OpenSSL's X25519 key. */
	assert_int_equal(crypto_box_seal(c, (const uint8_t *)"hello", 5, pk),
	    0);
	assert_int_equal(crypto_box_seal_open(m, c, sizeof(c), pk, sk), 0);
	assert_memory_equal(m, "hello", 5);

	/* Encrypted PKCS#8, as refx-pki writes with a passphrase. */
	write_key(tc->path, x, PASS);
	assert_int_equal(refx_unitkey_load(tc->path, PASS, unit, pk, sk, err,
	    sizeof(err)), 0);
	assert_memory_equal(pk, want, 32);
	assert_int_equal(refx_unitkey_load(tc->path, NULL, unit, pk, sk, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "passphrase is required"));
	assert_int_equal(refx_unitkey_load(tc->path, "wrong", unit, pk, sk,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err,
	    "wrong passphrase or damaged unit key file"));
	sodium_memzero(want, sizeof(want));
	assert_memory_equal(sk, want, 32);	/* wiped on failure */
	EVP_PKEY_free(x);

	/* An Ed25519 key is not a unit key; nor is garbage. */
	write_key(tc->path, tc->eda, NULL);
	assert_int_equal(refx_unitkey_load(tc->path, NULL, unit, pk, sk, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "not an X25519"));
	write_file(tc->path, "garbage\n", 8);
	assert_int_equal(refx_unitkey_load(tc->path, NULL, unit, pk, sk, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "not a unit key"));
	assert_int_equal(refx_unitkey_load("/nonexistent/k", NULL, unit, pk,
	    sk, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/k"));
}

static void
unitkey_mode_refused(void **state)
{
	struct test_context *tc = *state;
	char unit[64], err[512], want[512];
	uint8_t pk[32], sk[32];
	EVP_PKEY *x;

	assert_non_null(x = EVP_PKEY_Q_keygen(NULL, NULL, "X25519"));
	write_key(tc->path, x, NULL);
	assert_int_equal(chmod(tc->path, 0644), 0);
	assert_int_equal(refx_unitkey_load(tc->path, NULL, unit, pk, sk, err,
	    sizeof(err)), -1);
	snprintf(want, sizeof(want), "unit key %s is readable by others: "
	    "chmod 600 %s", tc->path, tc->path);
	assert_string_equal(err, want);
	assert_int_equal(chmod(tc->path, 0600), 0);
	assert_int_equal(refx_unitkey_load(tc->path, NULL, unit, pk, sk, err,
	    sizeof(err)), 0);
	EVP_PKEY_free(x);
}

/* Write a PKCS#8 X25519 key to ${path}; its raw pair into pk, sk. */
static void
pkcs8_unit(const char *path, uint8_t pk[32], uint8_t sk[32])
{
	EVP_PKEY *x;
	size_t n = 32;

	assert_non_null(x = EVP_PKEY_Q_keygen(NULL, NULL, "X25519"));
	assert_int_equal(EVP_PKEY_get_raw_public_key(x, pk, &n), 1);
	n = 32;
	assert_int_equal(EVP_PKEY_get_raw_private_key(x, sk, &n), 1);
	write_key(path, x, NULL);
	EVP_PKEY_free(x);
}

static void
unitkey_protect_round_trip(void **state)
{
	struct test_context *tc = *state;
	char out[160], unit[64], err[256];
	uint8_t pk[32], sk[32], pk2[32], sk2[32], zero[32] = { 0 }, *data;
	struct stat sb;
	size_t len;

	pkcs8_unit(tc->path, pk, sk);
	snprintf(out, sizeof(out), "%s/unit.rxk", tc->dir);
	assert_int_equal(refx_unitkey_protect_limits(tc->path, out, PASS,
	    UNIT, OPS, MEM, err, sizeof(err)), 0);

	/* Mode 0600, armoured text. */
	assert_int_equal(stat(out, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	read_file(out, &data, &len);
	assert_true(len > strlen(UK_BEGIN) + strlen(UK_END));
	assert_memory_equal(data, UK_BEGIN, strlen(UK_BEGIN));
	assert_memory_equal(data + len - strlen(UK_END), UK_END,
	    strlen(UK_END));
	free(data);

	/* The right passphrase: the same pair and the unit id. */
	assert_int_equal(refx_unitkey_load(out, PASS, unit, pk2, sk2, err,
	    sizeof(err)), 0);
	assert_memory_equal(pk2, pk, 32);
	assert_memory_equal(sk2, sk, 32);
	assert_string_equal(unit, UNIT);

	/* The wrong one, or none. */
	assert_int_equal(refx_unitkey_load(out, PASS "!", unit, pk2, sk2, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err,
	    "wrong passphrase or damaged unit key file"));
	assert_memory_equal(sk2, zero, 32);
	assert_string_equal(unit, "");
	assert_int_equal(refx_unitkey_load(out, NULL, unit, pk2, sk2, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "passphrase is required"));

	/* Readable by others: refused before anything else. */
	assert_int_equal(chmod(out, 0604), 0);
	assert_int_equal(refx_unitkey_load(out, PASS, unit, pk2, sk2, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "chmod 600"));
	sodium_memzero(sk, sizeof(sk));
}

static void
unitkey_protect_never_replaces(void **state)
{
	struct test_context *tc = *state;
	char out[160], err[256];
	uint8_t pk[32], sk[32], *data;
	size_t len;

	pkcs8_unit(tc->path, pk, sk);
	snprintf(out, sizeof(out), "%s/exists", tc->dir);
	write_file(out, "precious", 8);
	assert_int_equal(refx_unitkey_protect_limits(tc->path, out, PASS,
	    UNIT, OPS, MEM, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already exists"));
	read_file(out, &data, &len);
	assert_int_equal(len, 8);
	assert_memory_equal(data, "precious", 8);
	free(data);

	/* Other refusals: no passphrase, a bad unit id, weak limits. */
	snprintf(out, sizeof(out), "%s/new", tc->dir);
	assert_int_equal(refx_unitkey_protect_limits(tc->path, out, "",
	    UNIT, OPS, MEM, err, sizeof(err)), -1);
	assert_int_equal(refx_unitkey_protect_limits(tc->path, out, PASS,
	    "Bad Unit", OPS, MEM, err, sizeof(err)), -1);
	assert_int_equal(refx_unitkey_protect_limits(tc->path, out, PASS,
	    UNIT, 1, MEM, err, sizeof(err)), -1);
	assert_int_equal(refx_unitkey_protect_limits(tc->path, out, PASS,
	    UNIT, OPS, 1024 * 1024, err, sizeof(err)), -1);
	assert_int_equal(access(out, F_OK), -1);
	sodium_memzero(sk, sizeof(sk));
}

/* Armour ${bin} as a protected unit key file at ${path}. */
static void
write_armoured(const char *path, const uint8_t bin[UK_BIN_LEN])
{
	char b64[400], text[600];
	size_t i, k, n = 0, blen;

	sodium_bin2base64(b64, sizeof(b64), bin, UK_BIN_LEN,
	    sodium_base64_VARIANT_ORIGINAL);
	blen = strlen(b64);
	n += (size_t)snprintf(text, sizeof(text), "%s", UK_BEGIN);
	for (i = 0; i < blen; i += k) {
		k = blen - i < 64 ? blen - i : 64;
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%.*s\n",
		    (int)k, b64 + i);
	}
	n += (size_t)snprintf(text + n, sizeof(text) - n, "%s", UK_END);
	write_file(path, text, n);
}

static void
unitkey_damage_detected(void **state)
{
	struct test_context *tc = *state;
	char out[160], bad[160], unit[64], err[256];
	uint8_t pk[32], sk[32], bin[UK_BIN_LEN], *data, *copy;
	size_t len, binlen, i, b, e;
	const char *end;
	const size_t pos[] = {
		0, 4,				/* magic */
		UK_OFF_OPS, UK_OFF_OPS + 7,	/* opslimit */
		UK_OFF_MEM + 5, UK_OFF_MEM + 7,	/* memlimit */
		UK_OFF_SALT, UK_OFF_NONCE + 3,
		UK_OFF_MAC + 1,
		UK_OFF_CT, UK_OFF_CT + 40,	/* sk, pk */
		UK_OFF_CT + 64, UK_OFF_CT + 66,	/* unit id length, id */
		UK_OFF_CT + 127,		/* id padding */
	};
	size_t tpos[7] = { 0, 11 };	/* BEGIN line */

	pkcs8_unit(tc->path, pk, sk);
	snprintf(out, sizeof(out), "%s/unit.rxk", tc->dir);
	snprintf(bad, sizeof(bad), "%s/bad.rxk", tc->dir);
	assert_int_equal(refx_unitkey_protect_limits(tc->path, out, PASS,
	    UNIT, OPS, MEM, err, sizeof(err)), 0);
	read_file(out, &data, &len);

	/* The binary inside; rewriting it unchanged still loads. */
	b = strlen(UK_BEGIN);
	end = strstr((char *)data, "-----END");
	assert_non_null(end);
	e = (size_t)(end - (char *)data);
	assert_int_equal(sodium_base642bin(bin, sizeof(bin), (char *)data + b,
	    e - b, "\n", &binlen, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
	assert_int_equal(binlen, UK_BIN_LEN);
	write_armoured(bad, bin);
	assert_int_equal(refx_unitkey_load(bad, PASS, unit, pk, sk, err,
	    sizeof(err)), 0);

	/* One flipped byte in each part. */
	for (i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
		bin[pos[i]] ^= 0x01;
		write_armoured(bad, bin);
		assert_int_equal(refx_unitkey_load(bad, PASS, unit, pk, sk,
		    err, sizeof(err)), -1);
		assert_non_null(strstr(err, "damaged unit key file"));
		bin[pos[i]] ^= 0x01;
	}

	/* One changed byte of the text: armour, base64, line ends. */
	assert_non_null(copy = malloc(len + 1));
	tpos[2] = b + 3;		/* base64 */
	tpos[3] = b + 64;		/* its first line end */
	tpos[4] = b + 100;
	tpos[5] = len - 10;		/* END line */
	tpos[6] = len - 1;		/* final line end */
	for (i = 0; i < sizeof(tpos) / sizeof(tpos[0]); i++) {
		memcpy(copy, data, len);
		copy[tpos[i]] = copy[tpos[i]] == '\n' ? '\r' :
		    copy[tpos[i]] == 'A' ? 'B' : 'A';
		write_file(bad, copy, len);
		assert_int_equal(refx_unitkey_load(bad, PASS, unit, pk, sk,
		    err, sizeof(err)), -1);
	}
	/* Trailing or missing bytes. */
	memcpy(copy, data, len);
	copy[len] = 'x';
	write_file(bad, copy, len + 1);
	assert_int_equal(refx_unitkey_load(bad, PASS, unit, pk, sk, err,
	    sizeof(err)), -1);
	write_file(bad, copy, len - 2);
	assert_int_equal(refx_unitkey_load(bad, PASS, unit, pk, sk, err,
	    sizeof(err)), -1);
	free(copy);
	free(data);
	sodium_memzero(sk, sizeof(sk));
}

static void
unitkey_protect_keeps_unit(void **state)
{
	struct test_context *tc = *state;
	char out[160], again[160], unit[64], err[256];
	uint8_t pk[32], sk[32], pk2[32], sk2[32];

	/* Re-protecting a protected file keeps (and checks) its unit. */
	pkcs8_unit(tc->path, pk, sk);
	snprintf(out, sizeof(out), "%s/unit.rxk", tc->dir);
	snprintf(again, sizeof(again), "%s/again.rxk", tc->dir);
	assert_int_equal(refx_unitkey_protect_limits(tc->path, out, PASS,
	    UNIT, OPS, MEM, err, sizeof(err)), 0);
	assert_int_equal(refx_unitkey_protect_limits(out, again, PASS,
	    OTHER_UNIT, OPS, MEM, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "belongs to unit " UNIT));
	assert_int_equal(refx_unitkey_protect_limits(out, again, PASS, NULL,
	    OPS, MEM, err, sizeof(err)), 0);
	assert_int_equal(refx_unitkey_load(again, PASS, unit, pk2, sk2, err,
	    sizeof(err)), 0);
	assert_string_equal(unit, UNIT);
	assert_memory_equal(sk2, sk, 32);
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(sk2, sizeof(sk2));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(referral_id_shape),
		T(keyset_basics),
		T(field_round_trip),
		T(field_empty_value),
		T(field_tampering_fails),
		T(field_ad_is_as_specified),
		T(field_bad_arguments),
		T(envelope_round_trip),
		T(envelope_json_is_canonical),
		T(envelope_wrong_unit_key),
		T(envelope_moved_to_other_referral),
		T(envelope_moved_to_other_recipient),
		T(envelope_truncated_or_flipped),
		T(envelope_malformed),
		T(envelope_bad_arguments),
		T(sign_round_trip),
		T(sign_tampering_fails),
		T(sign_libsodium_interop),
		T(sign_contexts_are_separate),
		T(sign_key_files),
		T(unitkey_pkcs8),
		T(unitkey_mode_refused),
		T(unitkey_protect_round_trip),
		T(unitkey_protect_never_replaces),
		T(unitkey_damage_detected),
		T(unitkey_protect_keeps_unit),
#undef T
	};

	if (sodium_init() < 0)
		return (1);
	return (cmocka_run_group_tests_name("lib/envelope", tests, NULL,
	    NULL));
}
