/*
 * The cryptographic formats of a referral (docs/crypto.md): field
 * encryption, envelopes of field keys, manifest signatures and unit key
 * files.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "refx/envelope.h"
#include "refx/file.h"
#include "refx/identity.h"
#include "refx/secret.h"

/* Fields. */
#define FIELD_AD_PREFIX	"refx-field-v1"		/* then a 0x00 byte */
#define FIELD_PT_MAX	(16 * 1024 * 1024)	/* bytes of one value */
#define FIELD_OVERHEAD	(REFX_FIELD_NONCE_LEN + REFX_FIELD_TAG_LEN)
#define FIELD_AD_MAX	(sizeof(FIELD_AD_PREFIX) + REFX_REFERRAL_ID_LEN + \
			    1 + REFX_FIELD_NAME_MAX + 1 + \
			    sizeof(REFX_SCHEMA_ID) - 1)

/* Envelopes: 32 keys take about 3 KiB of JSON. */
#define ENVELOPE_MAX	(16 * 1024)		/* bytes of sealed box */
#define ENVELOPE_FLAGS	(JSON_COMPACT | JSON_SORT_KEYS)
#define KEY_B64_LEN	sodium_base64_ENCODED_LEN(REFX_FIELD_KEY_LEN, \
			    sodium_base64_VARIANT_ORIGINAL)

/* Manifests. */
#define CONTEXT_MAX	64	/* bytes of a signature context */

/* Key files. */
#define KEY_FILE_MAX	(64 * 1024)		/* a PEM private key */

/*
 * The protected unit key file: UK_BEGIN, the base64 (original variant,
 * padded, in lines of UK_LINE characters) of UK_BIN_LEN bytes, UK_END:
 *
 *   magic "RXUK1" (5) | opslimit (8, BE) | memlimit (8, BE) | salt (16) |
 *   nonce (24) | crypto_secretbox_easy(plain, key) (16 + 128)
 *   plain = sk (32) | pk (32) | unit id length (1) | unit id, zero-padded
 *           to 63 bytes
 *   key   = crypto_pwhash(32, passphrase, salt, opslimit, memlimit,
 *           Argon2id 1.3)
 *
 * Every byte is authenticated: the text must be exactly as written, the
 * magic is compared, the work factors (memlimit a multiple of 1 KiB, as
 * Argon2 counts KiB) and the salt determine the key, the nonce the MAC,
 * and the unit id is inside the box.
 */
#define UK_BEGIN	"-----BEGIN REFX UNIT KEY-----"
#define UK_END		"-----END REFX UNIT KEY-----"
#define UK_LINE		64
#define UK_MAGIC	"RXUK1"
#define UK_MAGIC_LEN	(sizeof(UK_MAGIC) - 1)
#define UK_OFF_OPS	UK_MAGIC_LEN
#define UK_OFF_MEM	(UK_OFF_OPS + 8)
#define UK_OFF_SALT	(UK_OFF_MEM + 8)
#define UK_OFF_NONCE	(UK_OFF_SALT + crypto_pwhash_argon2id_SALTBYTES)
#define UK_OFF_BOX	(UK_OFF_NONCE + crypto_secretbox_NONCEBYTES)
#define UK_OFF_ID	(2 * REFX_X25519_KEY_LEN)	/* in plain */
#define UK_PLAIN_LEN	(UK_OFF_ID + 1 + REFX_AGENCY_ID_MAX)
#define UK_BIN_LEN	(UK_OFF_BOX + crypto_secretbox_MACBYTES + UK_PLAIN_LEN)
#define UK_B64_LEN	sodium_base64_ENCODED_LEN(UK_BIN_LEN, \
			    sodium_base64_VARIANT_ORIGINAL)
#define UK_TEXT_MAX	512
#define UK_OPS_MIN	crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE
#define UK_OPS_MAX	(4 * crypto_pwhash_argon2id_OPSLIMIT_SENSITIVE)
#define UK_MEM_MIN	crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE
#define UK_MEM_MAX	crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE
#define UK_DAMAGED	"damaged unit key file"
#define UK_WRONG	"wrong passphrase or damaged unit key file"

_Static_assert(REFX_FIELD_KEY_LEN ==
    crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "field key size");
_Static_assert(REFX_FIELD_NONCE_LEN ==
    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "field nonce size");
_Static_assert(REFX_FIELD_TAG_LEN ==
    crypto_aead_xchacha20poly1305_ietf_ABYTES, "field tag size");
_Static_assert(REFX_X25519_KEY_LEN == crypto_box_PUBLICKEYBYTES &&
    REFX_X25519_KEY_LEN == crypto_box_SECRETKEYBYTES &&
    REFX_X25519_KEY_LEN == crypto_scalarmult_BYTES, "X25519 key size");
_Static_assert(REFX_SIG_LEN == crypto_sign_BYTES, "signature size");
_Static_assert(crypto_secretbox_KEYBYTES == 32, "secretbox key size");
_Static_assert(REFX_AGENCY_ID_MAX < 256, "unit id length in one byte");
_Static_assert(UK_MEM_MAX <= SIZE_MAX, "memlimit fits size_t");
_Static_assert(sizeof(UK_BEGIN) + UK_B64_LEN + UK_B64_LEN / UK_LINE + 1 +
    sizeof(UK_END) <= UK_TEXT_MAX, "unit key text size");

/* One field key of a key set. */
struct ks_entry {
	char	e_name[REFX_FIELD_NAME_MAX + 1];
	uint8_t	e_key[REFX_FIELD_KEY_LEN];
};

struct refx_keyset {
	size_t		ks_n;
	struct ks_entry	ks_e[REFX_MAX_FIELDS];
};

/* Allocate ${n} bytes of guarded, locked memory (sodium_malloc). */
static void *
sec_alloc(size_t n)
{

	/* sodium_malloc needs sodium_init; later calls are cheap. */
	if (sodium_init() < 0)
		return (NULL);
	return (sodium_malloc(n));
}

/* Write a message to ${err} (if any). */
static void seterr(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * jansson copies every string it parses or is given into its own heap
 * memory, and grows its buffers by copying.  Envelope JSON holds field
 * keys, so make jansson wipe what it frees.  Installed once, and only
 * over jansson's default malloc/free: the wiping free accepts memory that
 * plain malloc returned before it was installed, so other jansson users
 * in the process are unaffected but for the wiping.
 */
static pthread_once_t json_wipe_once = PTHREAD_ONCE_INIT;

static void
json_wipe_free(void *p)
{

	if (p == NULL)
		return;
	sodium_memzero(p, malloc_usable_size(p));
	free(p);
}

static void
json_wipe_install(void)
{
	json_malloc_t m;
	json_free_t f;

	json_get_alloc_funcs(&m, &f);
	if (m == malloc && f == free)
		json_set_alloc_funcs(malloc, json_wipe_free);
}

/** refx_json_wipe_enable(): Make jansson wipe what it frees. */
void
refx_json_wipe_enable(void)
{

	(void)pthread_once(&json_wipe_once, json_wipe_install);
}

/* Return 1 if ${s} is a field name: 1-32 of [a-z0-9_-]. */
static int
name_valid(const char *s)
{
	size_t i;

	if (s == NULL)
		return (0);
	for (i = 0; s[i] != '\0'; i++) {
		if (i == REFX_FIELD_NAME_MAX)
			return (0);
		if ((s[i] < 'a' || s[i] > 'z') && (s[i] < '0' || s[i] > '9') &&
		    s[i] != '_' && s[i] != '-')
			return (0);
	}
	return (i > 0);
}

/** refx_keyset_new(): An empty key set, or NULL. */
struct refx_keyset *
refx_keyset_new(void)
{
	struct refx_keyset *ks;

	if ((ks = sec_alloc(sizeof(*ks))) == NULL)
		return (NULL);
	memset(ks, 0, sizeof(*ks));
	return (ks);
}

/** refx_keyset_free(ks): Wipe and free; NULL is a no-op. */
void
refx_keyset_free(struct refx_keyset *ks)
{

	if (ks == NULL)
		return;
	sodium_memzero(ks, sizeof(*ks));
	sodium_free(ks);
}

/**
 * refx_keyset_add(ks, name, key): Add the key of field ${name}.  Return 0,
 * or -1 if the name is invalid, repeated, or the set is full.
 */
int
refx_keyset_add(struct refx_keyset *ks, const char *name,
    const uint8_t key[REFX_FIELD_KEY_LEN])
{
	struct ks_entry *e;

	if (ks == NULL || key == NULL || !name_valid(name) ||
	    refx_keyset_get(ks, name) != NULL || ks->ks_n == REFX_MAX_FIELDS)
		return (-1);
	e = &ks->ks_e[ks->ks_n++];
	memcpy(e->e_name, name, strlen(name) + 1);
	memcpy(e->e_key, key, REFX_FIELD_KEY_LEN);
	return (0);
}

/** refx_keyset_get(ks, name): The key of ${name}, or NULL. */
const uint8_t *
refx_keyset_get(const struct refx_keyset *ks, const char *name)
{
	size_t i;

	if (ks == NULL || name == NULL)
		return (NULL);
	for (i = 0; i < ks->ks_n; i++)
		if (strcmp(ks->ks_e[i].e_name, name) == 0)
			return (ks->ks_e[i].e_key);
	return (NULL);
}

/** refx_keyset_count(ks) / refx_keyset_name(ks, i): Iterate names. */
size_t
refx_keyset_count(const struct refx_keyset *ks)
{

	return (ks == NULL ? 0 : ks->ks_n);
}

/** refx_keyset_count(ks) / refx_keyset_name(ks, i): Iterate names. */
const char *
refx_keyset_name(const struct refx_keyset *ks, size_t i)
{

	if (ks == NULL || i >= ks->ks_n)
		return (NULL);
	return (ks->ks_e[i].e_name);
}

/** refx_referral_id_new(out): 32 hex characters of 16 random bytes. */
void
refx_referral_id_new(char out[REFX_REFERRAL_ID_LEN + 1])
{
	uint8_t r[REFX_REFERRAL_ID_LEN / 2];

	randombytes_buf(r, sizeof(r));
	sodium_bin2hex(out, REFX_REFERRAL_ID_LEN + 1, r, sizeof(r));
}

/** refx_referral_id_valid(s): 1 if ${s} is 32 lower-case hex, else 0. */
int
refx_referral_id_valid(const char *s)
{
	size_t i;

	if (s == NULL)
		return (0);
	for (i = 0; i < REFX_REFERRAL_ID_LEN; i++)
		if ((s[i] < '0' || s[i] > '9') && (s[i] < 'a' || s[i] > 'f'))
			return (0);
	return (s[i] == '\0');
}

/*
 * Build the associated data of field ${name} of ${referral}:
 * "refx-field-v1" 0x00 referral 0x00 name 0x00 REFX_SCHEMA_ID.  Both
 * are checked, so the parts cannot run into each other.
 */
static int
field_ad(const char *referral, const char *name, uint8_t ad[FIELD_AD_MAX],
    size_t *adlen)
{
	size_t n = 0, k;

	if (!refx_referral_id_valid(referral) || !name_valid(name))
		return (-1);
	memcpy(ad, FIELD_AD_PREFIX, sizeof(FIELD_AD_PREFIX));
	n += sizeof(FIELD_AD_PREFIX);
	memcpy(ad + n, referral, REFX_REFERRAL_ID_LEN + 1);
	n += REFX_REFERRAL_ID_LEN + 1;
	k = strlen(name);
	memcpy(ad + n, name, k + 1);
	n += k + 1;
	memcpy(ad + n, REFX_SCHEMA_ID, sizeof(REFX_SCHEMA_ID) - 1);
	n += sizeof(REFX_SCHEMA_ID) - 1;
	*adlen = n;
	return (0);
}

/**
 * refx_field_seal(referral, name, key, pt, ptlen, blob, bloblen): Encrypt
 * one field value.  ${blob} (caller frees) = nonce || ciphertext || tag.
 * Return 0 or -1.
 */
int
refx_field_seal(const char *referral, const char *name,
    const uint8_t key[REFX_FIELD_KEY_LEN], const uint8_t *pt, size_t ptlen,
    uint8_t **blob, size_t *bloblen)
{
	static const uint8_t empty[1];
	uint8_t ad[FIELD_AD_MAX];
	unsigned long long clen;
	size_t adlen;
	uint8_t *b;

	*blob = NULL;
	*bloblen = 0;
	if (key == NULL || (pt == NULL && ptlen > 0) || ptlen > FIELD_PT_MAX)
		goto err0;
	if (field_ad(referral, name, ad, &adlen))
		goto err0;

	/* A fresh random nonce: XChaCha20's 192 bits make that safe. */
	if ((b = malloc(FIELD_OVERHEAD + ptlen)) == NULL)
		goto err0;
	randombytes_buf(b, REFX_FIELD_NONCE_LEN);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(b +
	    REFX_FIELD_NONCE_LEN, &clen, pt != NULL ? pt : empty, ptlen, ad,
	    adlen, NULL, b, key) != 0 ||
	    clen != ptlen + REFX_FIELD_TAG_LEN)
		goto err1;

	*blob = b;
	*bloblen = FIELD_OVERHEAD + ptlen;
	return (0);

err1:
	free(b);
err0:
	return (-1);
}

/**
 * refx_field_open(referral, name, key, blob, bloblen, pt, ptlen): Decrypt
 * and authenticate one field.  ${pt} is sodium_malloc'd (free it with
 * refx_secret_free(pt, ptlen)); NUL-terminated for convenience.  Return
 * 0, or -1 if the blob, the key, the referral id or the name do not match.
 */
int
refx_field_open(const char *referral, const char *name,
    const uint8_t key[REFX_FIELD_KEY_LEN], const uint8_t *blob,
    size_t bloblen, uint8_t **pt, size_t *ptlen)
{
	uint8_t ad[FIELD_AD_MAX];
	unsigned long long mlen;
	size_t adlen, n;
	uint8_t *p;

	*pt = NULL;
	*ptlen = 0;
	if (key == NULL || blob == NULL || bloblen < FIELD_OVERHEAD ||
	    (n = bloblen - FIELD_OVERHEAD) > FIELD_PT_MAX)
		goto err0;
	if (field_ad(referral, name, ad, &adlen))
		goto err0;

	/* Decrypt straight into guarded memory, with room for a NUL. */
	if ((p = sec_alloc(n + 1)) == NULL)
		goto err0;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(p, &mlen, NULL,
	    blob + REFX_FIELD_NONCE_LEN, bloblen - REFX_FIELD_NONCE_LEN, ad,
	    adlen, blob, key) != 0 || mlen != n)
		goto err1;
	p[n] = '\0';

	*pt = p;
	*ptlen = n;
	return (0);

err1:
	sodium_free(p);
err0:
	return (-1);
}

/** refx_secret_free(p, len): Release a sodium_malloc'd secret; NULL ok. */
void
refx_secret_free(void *p, size_t len)
{

	if (p == NULL)
		return;
	sodium_memzero(p, len);
	/* sodium_free also wipes the whole allocation. */
	sodium_free(p);
}

/**
 * refx_envelope_seal(referral, recipient, ks, pk, out, outlen): Seal the
 * keys in ${ks} to the unit's X25519 public key ${pk}.  ${out} (caller
 * frees) is the sealed box.  Return 0 or -1.
 */
int
refx_envelope_seal(const char *referral, const char *recipient,
    const struct refx_keyset *ks, const uint8_t pk[REFX_X25519_KEY_LEN],
    uint8_t **out, size_t *outlen)
{
	char b64[KEY_B64_LEN];
	json_t *root, *keys;
	uint8_t *pt, *c;
	size_t i, len;

	*out = NULL;
	*outlen = 0;
	if (ks == NULL || pk == NULL || !refx_referral_id_valid(referral) ||
	    !refx_agency_id_valid(recipient))
		goto err0;
	refx_json_wipe_enable();

	/* {"keys":{NAME:B64,...},"recipient":UNIT,"referral":ID,"v":1} */
	if ((root = json_object()) == NULL)
		goto err0;
	if (json_object_set_new(root, "v", json_integer(1)) ||
	    json_object_set_new(root, "referral", json_string(referral)) ||
	    json_object_set_new(root, "recipient", json_string(recipient)) ||
	    json_object_set_new(root, "keys", keys = json_object()))
		goto err1;
	for (i = 0; i < ks->ks_n; i++) {
		sodium_bin2base64(b64, sizeof(b64), ks->ks_e[i].e_key,
		    REFX_FIELD_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
		if (json_object_set_new(keys, ks->ks_e[i].e_name,
		    json_string(b64)))
			goto err1;
	}
	sodium_memzero(b64, sizeof(b64));

	/* Serialise into guarded memory, not jansson's growing buffer. */
	if ((len = json_dumpb(root, NULL, 0, ENVELOPE_FLAGS)) == 0 ||
	    len > ENVELOPE_MAX - crypto_box_SEALBYTES)
		goto err1;
	if ((pt = sec_alloc(len)) == NULL)
		goto err1;
	if (json_dumpb(root, (char *)pt, len, ENVELOPE_FLAGS) != len)
		goto err2;
	json_decref(root);
	root = NULL;

	/* Seal to the unit. */
	if ((c = malloc(len + crypto_box_SEALBYTES)) == NULL)
		goto err2;
	if (crypto_box_seal(c, pt, len, pk) != 0)
		goto err3;
	sodium_free(pt);

	*out = c;
	*outlen = len + crypto_box_SEALBYTES;
	return (0);

err3:
	free(c);
err2:
	sodium_free(pt);
err1:
	sodium_memzero(b64, sizeof(b64));
	json_decref(root);
err0:
	return (-1);
}

/* The string member ${key} of ${o}, or NULL. */
static const char *
member_str(const json_t *o, const char *key)
{
	const json_t *v;

	if ((v = json_object_get(o, key)) == NULL || !json_is_string(v))
		return (NULL);
	return (json_string_value(v));
}

/* Decode the keys object ${keys} into a new key set.  REFX_OK or not. */
static enum refx_err
envelope_keys(json_t *keys, struct refx_keyset **ksp)
{
	uint8_t key[REFX_FIELD_KEY_LEN];
	struct refx_keyset *ks;
	const char *name;
	json_t *v;
	size_t binlen;

	if (!json_is_object(keys) || json_object_size(keys) > REFX_MAX_FIELDS)
		return (REFX_EINVAL);
	if ((ks = refx_keyset_new()) == NULL)
		return (REFX_ENOMEM);
	json_object_foreach(keys, name, v) {
		/* Exactly 32 bytes of canonical, padded base64. */
		if (!json_is_string(v) ||
		    sodium_base642bin(key, sizeof(key), json_string_value(v),
		    json_string_length(v), NULL, &binlen, NULL,
		    sodium_base64_VARIANT_ORIGINAL) != 0 ||
		    binlen != sizeof(key) ||
		    refx_keyset_add(ks, name, key))
			goto err1;
	}
	sodium_memzero(key, sizeof(key));
	*ksp = ks;
	return (REFX_OK);

err1:
	sodium_memzero(key, sizeof(key));
	refx_keyset_free(ks);
	return (REFX_EINVAL);
}

/**
 * refx_envelope_open(sealed, len, pk, sk, referral, recipient, ks): Open
 * an envelope with the unit's key pair, check that it names ${referral}
 * and ${recipient}, and return its keys in a new set ${ks}.  Return
 * REFX_OK, or REFX_ECRYPTO if it does not open or names something else,
 * or REFX_EINVAL if its contents are malformed.
 */
enum refx_err
refx_envelope_open(const uint8_t *sealed, size_t len,
    const uint8_t pk[REFX_X25519_KEY_LEN],
    const uint8_t sk[REFX_X25519_KEY_LEN], const char *referral,
    const char *recipient, struct refx_keyset **ks)
{
	json_error_t jerr;
	json_t *root, *v;
	const char *s;
	uint8_t *pt;
	size_t n;
	enum refx_err rc;

	*ks = NULL;
	if (pk == NULL || sk == NULL || referral == NULL || recipient == NULL)
		return (REFX_EINVAL);
	if (sealed == NULL || len <= crypto_box_SEALBYTES)
		return (REFX_ECRYPTO);
	if (len > ENVELOPE_MAX)
		return (REFX_EINVAL);

	/* Open into guarded memory. */
	n = len - crypto_box_SEALBYTES;
	if ((pt = sec_alloc(n)) == NULL)
		return (REFX_ENOMEM);
	if (crypto_box_seal_open(pt, sealed, len, pk, sk) != 0) {
		rc = REFX_ECRYPTO;
		goto err1;
	}

	/* Parse; the error text may quote the input, so wipe it too. */
	refx_json_wipe_enable();
	root = json_loadb((const char *)pt, n, JSON_REJECT_DUPLICATES, &jerr);
	sodium_memzero(&jerr, sizeof(jerr));
	if (root == NULL || !json_is_object(root) ||
	    json_object_size(root) != 4) {
		rc = REFX_EINVAL;
		goto err2;
	}
	v = json_object_get(root, "v");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		rc = REFX_EINVAL;
		goto err2;
	}

	/* Meant for this referral and this unit, and no other. */
	if ((s = member_str(root, "referral")) == NULL) {
		rc = REFX_EINVAL;
		goto err2;
	}
	if (strcmp(s, referral) != 0) {
		rc = REFX_ECRYPTO;
		goto err2;
	}
	if ((s = member_str(root, "recipient")) == NULL) {
		rc = REFX_EINVAL;
		goto err2;
	}
	if (strcmp(s, recipient) != 0) {
		rc = REFX_ECRYPTO;
		goto err2;
	}

	/* The keys. */
	if ((rc = envelope_keys(json_object_get(root, "keys"), ks)) != REFX_OK)
		goto err2;
	json_decref(root);
	sodium_free(pt);
	return (REFX_OK);

err2:
	json_decref(root);
err1:
	sodium_free(pt);
	return (rc);
}

/* Hand the passphrase to OpenSSL without its terminal prompt. */
struct pass {
	const char	*p_pass;
	int		 p_asked;	/* the key is encrypted */
};

static int
pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct pass *p = u;
	size_t n;

	(void)rwflag;
	p->p_asked = 1;
	if (p->p_pass == NULL || size < 0 ||
	    (n = strlen(p->p_pass)) > (size_t)size)
		return (-1);
	memcpy(buf, p->p_pass, n);
	return ((int)n);
}

/*
 * Parse the PEM private key ${data} (possibly encrypted PKCS#8), with the
 * passphrase in ${p}.  Return it or NULL.
 */
static EVP_PKEY *
pem_key(const uint8_t *data, size_t len, struct pass *p)
{
	EVP_PKEY *k = NULL;
	BIO *bio;

	if (len > 0 && len <= INT_MAX &&
	    (bio = BIO_new_mem_buf(data, (int)len)) != NULL) {
		k = PEM_read_bio_PrivateKey(bio, NULL, pass_cb, p);
		BIO_free(bio);
	}
	ERR_clear_error();
	return (k);
}

/* ${context}, a 0x00 byte, then ${msg}, in ${mlen} bytes; or NULL. */
static uint8_t *
context_msg(const char *context, const uint8_t *msg, size_t len,
    size_t *mlen)
{
	uint8_t *m;
	size_t clen;

	/* The context and its NUL: the 0x00 separator. */
	clen = strlen(context) + 1;
	if (len > SIZE_MAX - clen) {
		errno = ERANGE;
		return (NULL);
	}
	if ((m = malloc(clen + len)) == NULL)
		return (NULL);
	memcpy(m, context, clen);
	if (len > 0)
		memcpy(m + clen, msg, len);
	*mlen = clen + len;
	return (m);
}

/* 1 if ${context} is a usable signature context (non-empty, bounded). */
static int
context_ok(const char *context)
{

	return (context != NULL && context[0] != '\0' &&
	    strlen(context) <= CONTEXT_MAX);
}

/**
 * refx_sign_ctx(keyfile, passphrase, context, msg, len, sig): Sign
 * ${context} 0x00 || ${msg} (one-shot Ed25519) with the private key in PEM
 * file ${keyfile} (${passphrase} may be NULL).  Return 0 or -1.
 */
int
refx_sign_ctx(const char *keyfile, const char *passphrase,
    const char *context, const uint8_t *msg, size_t len,
    uint8_t sig[REFX_SIG_LEN])
{
	struct pass p = { passphrase, 0 };
	EVP_MD_CTX *ctx;
	EVP_PKEY *key;
	uint8_t *data, *m;
	size_t dlen, mlen, siglen = REFX_SIG_LEN;

	if (keyfile == NULL || sig == NULL || (msg == NULL && len > 0) ||
	    !context_ok(context)) {
		if (sig != NULL)
			memset(sig, 0, REFX_SIG_LEN);
		errno = EINVAL;
		goto err0;
	}
	memset(sig, 0, REFX_SIG_LEN);

	/* The key: a private file, Ed25519. */
	if (refx_file_check_private(keyfile))
		goto err0;
	if (refx_file_read(keyfile, KEY_FILE_MAX, &data, &dlen))
		goto err0;
	key = pem_key(data, dlen, &p);
	sodium_memzero(data, dlen);
	free(data);
	if (key == NULL || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
		errno = EINVAL;
		goto err1;
	}

	/* One-shot Ed25519 (not Ed25519ph) over context || message. */
	if ((m = context_msg(context, msg, len, &mlen)) == NULL)
		goto err1;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		goto err2;
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, m, mlen) != 1 ||
	    siglen != REFX_SIG_LEN) {
		errno = EINVAL;
		goto err3;
	}

	EVP_MD_CTX_free(ctx);
	free(m);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return (0);

err3:
	EVP_MD_CTX_free(ctx);
err2:
	free(m);
err1:
	EVP_PKEY_free(key);
	memset(sig, 0, REFX_SIG_LEN);
	ERR_clear_error();
err0:
	return (-1);
}

/**
 * refx_verify_ctx(cert, context, msg, len, sig): Verify a signature made
 * by refx_sign_ctx under ${context} with the public key of ${cert} (which
 * the caller has verified against the CA with refx_cert_verify).  Return
 * REFX_OK or REFX_ECRYPTO.
 */
enum refx_err
refx_verify_ctx(struct x509_st *cert, const char *context,
    const uint8_t *msg, size_t len, const uint8_t sig[REFX_SIG_LEN])
{
	EVP_MD_CTX *ctx;
	EVP_PKEY *key;
	uint8_t *m;
	size_t mlen;
	int ok;

	if (cert == NULL || sig == NULL || (msg == NULL && len > 0) ||
	    !context_ok(context))
		goto err0;
	if ((key = X509_get0_pubkey(cert)) == NULL ||
	    EVP_PKEY_get_id(key) != EVP_PKEY_ED25519)
		goto err0;
	if ((m = context_msg(context, msg, len, &mlen)) == NULL)
		goto err0;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		goto err1;
	ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
	    EVP_DigestVerify(ctx, sig, REFX_SIG_LEN, m, mlen) == 1;
	EVP_MD_CTX_free(ctx);
	free(m);
	ERR_clear_error();
	return (ok ? REFX_OK : REFX_ECRYPTO);

err1:
	free(m);
err0:
	ERR_clear_error();
	return (REFX_ECRYPTO);
}

/**
 * refx_manifest_sign(keyfile, passphrase, msg, len, sig): Sign ${msg} with
 * the Ed25519 private key in PEM file ${keyfile} (${passphrase} may be
 * NULL), under the manifest context.  Return 0 or -1.
 */
int
refx_manifest_sign(const char *keyfile, const char *passphrase,
    const uint8_t *msg, size_t len, uint8_t sig[REFX_SIG_LEN])
{

	return (refx_sign_ctx(keyfile, passphrase, REFX_MANIFEST_CONTEXT, msg, len,
	    sig));
}

/**
 * refx_manifest_verify(cert, msg, len, sig): Verify a manifest signature
 * with the public key of ${cert} (which the caller has verified against
 * the CA with refx_cert_verify).  Return REFX_OK or REFX_ECRYPTO.
 */
enum refx_err
refx_manifest_verify(struct x509_st *cert, const uint8_t *msg, size_t len,
    const uint8_t sig[REFX_SIG_LEN])
{

	return (refx_verify_ctx(cert, REFX_MANIFEST_CONTEXT, msg, len, sig));
}

/* Read a big-endian 64-bit number. */
static uint64_t
be64dec(const uint8_t *p)
{
	uint64_t x = 0;
	int i;

	for (i = 0; i < 8; i++)
		x = (x << 8) | p[i];
	return (x);
}

/* Write a big-endian 64-bit number. */
static void
be64enc(uint8_t *p, uint64_t x)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(x & 0xff);
		x >>= 8;
	}
}

/* Return 1 if ${data} starts as a protected unit key file. */
static int
uk_is_protected(const uint8_t *data, size_t len)
{

	return (len >= sizeof(UK_BEGIN) - 1 &&
	    memcmp(data, UK_BEGIN, sizeof(UK_BEGIN) - 1) == 0);
}

/* Armour ${bin} as a protected unit key file in ${text}. */
static size_t
uk_armour(const uint8_t bin[UK_BIN_LEN], char *text, size_t size)
{
	char b64[UK_B64_LEN];
	size_t i, k, n = 0, blen;

	sodium_bin2base64(b64, sizeof(b64), bin, UK_BIN_LEN,
	    sodium_base64_VARIANT_ORIGINAL);
	blen = strlen(b64);
	if (size < sizeof(UK_BEGIN) + sizeof(UK_END) + blen + blen / UK_LINE +
	    1)
		return (0);
	memcpy(text, UK_BEGIN "\n", sizeof(UK_BEGIN));
	n += sizeof(UK_BEGIN);
	for (i = 0; i < blen; i += k) {
		k = blen - i < UK_LINE ? blen - i : UK_LINE;
		memcpy(text + n, b64 + i, k);
		n += k;
		text[n++] = '\n';
	}
	memcpy(text + n, UK_END "\n", sizeof(UK_END));
	n += sizeof(UK_END);
	return (n);
}

/*
 * Decode the armour of a protected unit key file into ${bin}.  Only the
 * canonical text (as uk_armour writes it) is accepted, so that any change
 * to the file is detected.
 */
static int
uk_unarmour(const uint8_t *data, size_t len, uint8_t bin[UK_BIN_LEN])
{
	char text[UK_TEXT_MAX];
	const char *s = (const char *)data, *end;
	size_t b = sizeof(UK_BEGIN) - 1, n, binlen;

	if (!uk_is_protected(data, len))
		return (-1);
	if ((end = memmem(s + b, len - b, UK_END, sizeof(UK_END) - 1)) == NULL)
		return (-1);
	if (sodium_base642bin(bin, UK_BIN_LEN, s + b, (size_t)(end - s) - b,
	    "\n", &binlen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    binlen != UK_BIN_LEN)
		return (-1);
	if ((n = uk_armour(bin, text, sizeof(text))) == 0 || n != len ||
	    memcmp(text, data, n) != 0)
		return (-1);
	if (memcmp(bin, UK_MAGIC, UK_MAGIC_LEN) != 0)
		return (-1);
	return (0);
}

/* Open a protected unit key file's contents ${data}. */
static int
uk_open(const char *path, const uint8_t *data, size_t len,
    const char *passphrase, char *unit, uint8_t pk[REFX_X25519_KEY_LEN],
    uint8_t sk[REFX_X25519_KEY_LEN], char *err, size_t errlen)
{
	char id[REFX_AGENCY_ID_MAX + 1];
	uint8_t bin[UK_BIN_LEN];
	uint8_t *key, *plain;
	uint64_t ops, mem;
	size_t i, idlen;

	if (uk_unarmour(data, len, bin)) {
		seterr(err, errlen, "%s: %s", path, UK_DAMAGED);
		goto err0;
	}
	ops = be64dec(bin + UK_OFF_OPS);
	mem = be64dec(bin + UK_OFF_MEM);
	if (ops < UK_OPS_MIN || ops > UK_OPS_MAX || mem < UK_MEM_MIN ||
	    mem > UK_MEM_MAX || mem % 1024 != 0) {
		seterr(err, errlen, "%s: %s (unsupported work factors)", path,
		    UK_DAMAGED);
		goto err0;
	}
	if (passphrase == NULL) {
		seterr(err, errlen, "unit key %s is protected: a passphrase "
		    "is required", path);
		goto err0;
	}

	/* The key from the passphrase; then open the box. */
	if ((key = sec_alloc(crypto_secretbox_KEYBYTES)) == NULL) {
		seterr(err, errlen, "out of memory");
		goto err0;
	}
	if ((plain = sec_alloc(UK_PLAIN_LEN)) == NULL) {
		seterr(err, errlen, "out of memory");
		goto err1;
	}
	if (crypto_pwhash(key, crypto_secretbox_KEYBYTES, passphrase,
	    strlen(passphrase), bin + UK_OFF_SALT, ops, (size_t)mem,
	    crypto_pwhash_ALG_ARGON2ID13) != 0) {
		seterr(err, errlen, "%s: cannot derive the key: out of memory",
		    path);
		goto err2;
	}
	if (crypto_secretbox_open_easy(plain, bin + UK_OFF_BOX,
	    UK_BIN_LEN - UK_OFF_BOX, bin + UK_OFF_NONCE, key) != 0) {
		seterr(err, errlen, "%s: %s", path, UK_WRONG);
		goto err2;
	}

	/* The unit id: a valid one or none, zero-padded. */
	if ((idlen = plain[UK_OFF_ID]) > REFX_AGENCY_ID_MAX)
		goto damaged;
	for (i = idlen; i < REFX_AGENCY_ID_MAX; i++)
		if (plain[UK_OFF_ID + 1 + i] != 0)
			goto damaged;
	memcpy(id, plain + UK_OFF_ID + 1, idlen);
	id[idlen] = '\0';
	if (idlen > 0 && !refx_agency_id_valid(id))
		goto damaged;
	if (unit != NULL)
		memcpy(unit, id, idlen + 1);
	memcpy(sk, plain, REFX_X25519_KEY_LEN);
	memcpy(pk, plain + REFX_X25519_KEY_LEN, REFX_X25519_KEY_LEN);
	sodium_free(plain);
	sodium_free(key);
	return (0);

damaged:
	seterr(err, errlen, "%s: %s", path, UK_DAMAGED);
err2:
	sodium_free(plain);
err1:
	sodium_free(key);
err0:
	return (-1);
}

/* Read an X25519 key pair from PKCS#8 PEM ${data}. */
static int
pkcs8_open(const char *path, const uint8_t *data, size_t len,
    const char *passphrase, uint8_t pk[REFX_X25519_KEY_LEN],
    uint8_t sk[REFX_X25519_KEY_LEN], char *err, size_t errlen)
{
	struct pass p = { passphrase, 0 };
	EVP_PKEY *k;
	size_t n;

	if ((k = pem_key(data, len, &p)) == NULL) {
		if (p.p_asked && passphrase == NULL)
			seterr(err, errlen, "unit key %s is protected: a "
			    "passphrase is required", path);
		else if (p.p_asked)
			seterr(err, errlen, "%s: %s", path, UK_WRONG);
		else
			seterr(err, errlen, "%s: not a unit key (PKCS#8 PEM "
			    "or refx unit key file)", path);
		goto err0;
	}
	if (EVP_PKEY_get_id(k) != EVP_PKEY_X25519) {
		seterr(err, errlen, "%s: not an X25519 unit key", path);
		goto err1;
	}
	n = REFX_X25519_KEY_LEN;
	if (EVP_PKEY_get_raw_private_key(k, sk, &n) != 1 ||
	    n != REFX_X25519_KEY_LEN) {
		seterr(err, errlen, "%s: cannot read the private key", path);
		goto err1;
	}
	n = REFX_X25519_KEY_LEN;
	if (EVP_PKEY_get_raw_public_key(k, pk, &n) != 1 ||
	    n != REFX_X25519_KEY_LEN) {
		seterr(err, errlen, "%s: cannot read the public key", path);
		goto err1;
	}
	EVP_PKEY_free(k);
	ERR_clear_error();
	return (0);

err1:
	EVP_PKEY_free(k);
	ERR_clear_error();
err0:
	return (-1);
}

/**
 * refx_unitkey_load(path, passphrase, unit, pk, sk, err, errlen): Load a
 * unit's X25519 key pair from ${path}, a PKCS#8 PEM or a passphrase-
 * protected refx key file (then ${passphrase} is required).  The file
 * must be mode 0600 or stricter.  ${unit} (REFX_AGENCY_ID_MAX + 1 bytes)
 * receives the unit id if the file records it, else "".  Wipe ${sk} after
 * use.  Return 0 or -1 with a message.
 */
int
refx_unitkey_load(const char *path, const char *passphrase, char *unit,
    uint8_t pk[REFX_X25519_KEY_LEN], uint8_t sk[REFX_X25519_KEY_LEN],
    char *err, size_t errlen)
{
	uint8_t q[REFX_X25519_KEY_LEN];
	uint8_t *data;
	size_t len;
	int rc;

	if (unit != NULL)
		unit[0] = '\0';
	sodium_memzero(pk, REFX_X25519_KEY_LEN);
	sodium_memzero(sk, REFX_X25519_KEY_LEN);
	seterr(err, errlen, "%s", "");
	if (path == NULL) {
		seterr(err, errlen, "no unit key file");
		goto err0;
	}

	/* Private to its owner, then read. */
	if (refx_file_check_private(path)) {
		if (errno == EPERM)
			seterr(err, errlen, "unit key %s is readable by "
			    "others: chmod 600 %s", path, path);
		else
			seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto err0;
	}
	if (refx_file_read(path, KEY_FILE_MAX, &data, &len)) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto err0;
	}
	if (uk_is_protected(data, len))
		rc = uk_open(path, data, len, passphrase, unit, pk, sk, err,
		    errlen);
	else
		rc = pkcs8_open(path, data, len, passphrase, pk, sk, err,
		    errlen);
	sodium_memzero(data, len);
	free(data);
	if (rc)
		goto err1;

	/* The pair must belong together: catches damage and tampering. */
	if (crypto_scalarmult_base(q, sk) != 0 ||
	    sodium_memcmp(q, pk, sizeof(q)) != 0) {
		seterr(err, errlen, "%s: %s (public key does not match)", path,
		    UK_DAMAGED);
		goto err1;
	}
	sodium_memzero(q, sizeof(q));
	return (0);

err1:
	sodium_memzero(q, sizeof(q));
	sodium_memzero(pk, REFX_X25519_KEY_LEN);
	sodium_memzero(sk, REFX_X25519_KEY_LEN);
	if (unit != NULL)
		unit[0] = '\0';
err0:
	return (-1);
}

/**
 * refx_unitkey_protect(in, out, passphrase, unit, err, errlen): Read the
 * unit key ${in} and write it to ${out} (mode 0600, never replacing an
 * existing file) sealed under ${passphrase} with crypto_pwhash (Argon2id,
 * MODERATE limits) and crypto_secretbox.  Return 0 or -1 with a message.
 */
int
refx_unitkey_protect(const char *in, const char *out, const char *passphrase,
    const char *unit, char *err, size_t errlen)
{

	return (refx_unitkey_protect_limits(in, out, passphrase, unit,
	    crypto_pwhash_argon2id_OPSLIMIT_MODERATE,
	    crypto_pwhash_argon2id_MEMLIMIT_MODERATE, err, errlen));
}

/**
 * refx_unitkey_protect_limits(in, out, passphrase, unit, opslimit,
 * memlimit, err, errlen): As refx_unitkey_protect, with the Argon2id
 * work factors ${opslimit} and ${memlimit} (bytes, a multiple of 1024),
 * which must be at least crypto_pwhash's INTERACTIVE ones (2 and 64 MiB)
 * and at most 16 and 1 GiB.  ${unit} may be NULL or "" to keep the unit
 * id recorded in ${in}, if any; ${passphrase} also decrypts an encrypted
 * ${in}.
 */
int
refx_unitkey_protect_limits(const char *in, const char *out,
    const char *passphrase, const char *unit, unsigned long long opslimit,
    size_t memlimit, char *err, size_t errlen)
{
	char text[UK_TEXT_MAX];
	char id[REFX_AGENCY_ID_MAX + 1];
	uint8_t pk[REFX_X25519_KEY_LEN], sk[REFX_X25519_KEY_LEN];
	uint8_t bin[UK_BIN_LEN];
	uint8_t *key, *plain;
	struct stat sb;
	size_t n, idlen;

	seterr(err, errlen, "%s", "");
	if (in == NULL || out == NULL) {
		seterr(err, errlen, "no unit key file");
		goto err0;
	}
	if (passphrase == NULL || passphrase[0] == '\0') {
		seterr(err, errlen, "a passphrase is required");
		goto err0;
	}
	if (unit != NULL && unit[0] != '\0' && !refx_agency_id_valid(unit)) {
		seterr(err, errlen, "invalid unit id: %s", unit);
		goto err0;
	}
	if (opslimit < UK_OPS_MIN || opslimit > UK_OPS_MAX ||
	    memlimit < UK_MEM_MIN || memlimit > UK_MEM_MAX ||
	    memlimit % 1024 != 0) {
		seterr(err, errlen, "unsupported work factors");
		goto err0;
	}

	/* Fail early, before the slow part; the write checks again. */
	if (lstat(out, &sb) == 0) {
		seterr(err, errlen, "%s already exists: not replacing it", out);
		goto err0;
	}

	/* The key pair, and the unit it belongs to. */
	if (refx_unitkey_load(in, passphrase, id, pk, sk, err, errlen))
		goto err0;
	if (unit != NULL && unit[0] != '\0') {
		if (id[0] != '\0' && strcmp(id, unit) != 0) {
			seterr(err, errlen, "unit key %s belongs to unit %s, "
			    "not %s", in, id, unit);
			goto err1;
		}
		memcpy(id, unit, strlen(unit) + 1);
	}
	idlen = strlen(id);

	/* The plaintext: sk | pk | id length | id, zero-padded. */
	if ((plain = sec_alloc(UK_PLAIN_LEN)) == NULL) {
		seterr(err, errlen, "out of memory");
		goto err1;
	}
	memset(plain, 0, UK_PLAIN_LEN);
	memcpy(plain, sk, REFX_X25519_KEY_LEN);
	memcpy(plain + REFX_X25519_KEY_LEN, pk, REFX_X25519_KEY_LEN);
	plain[UK_OFF_ID] = (uint8_t)idlen;
	memcpy(plain + UK_OFF_ID + 1, id, idlen);
	sodium_memzero(sk, sizeof(sk));

	/* The header, and the key from the passphrase. */
	memcpy(bin, UK_MAGIC, UK_MAGIC_LEN);
	be64enc(bin + UK_OFF_OPS, opslimit);
	be64enc(bin + UK_OFF_MEM, memlimit);
	randombytes_buf(bin + UK_OFF_SALT, crypto_pwhash_argon2id_SALTBYTES);
	randombytes_buf(bin + UK_OFF_NONCE, crypto_secretbox_NONCEBYTES);
	if ((key = sec_alloc(crypto_secretbox_KEYBYTES)) == NULL) {
		seterr(err, errlen, "out of memory");
		goto err2;
	}
	if (crypto_pwhash(key, crypto_secretbox_KEYBYTES, passphrase,
	    strlen(passphrase), bin + UK_OFF_SALT, opslimit, memlimit,
	    crypto_pwhash_ALG_ARGON2ID13) != 0) {
		seterr(err, errlen, "cannot derive a key: out of memory");
		goto err3;
	}
	if (crypto_secretbox_easy(bin + UK_OFF_BOX, plain, UK_PLAIN_LEN,
	    bin + UK_OFF_NONCE, key) != 0) {
		seterr(err, errlen, "cannot encrypt the unit key");
		goto err3;
	}
	sodium_free(key);
	sodium_free(plain);

	/* Write it, never over an existing file. */
	if ((n = uk_armour(bin, text, sizeof(text))) == 0) {
		seterr(err, errlen, "cannot encode the unit key");
		goto err1;
	}
	if (refx_file_write(out, text, n, 0600, 1)) {
		if (errno == EEXIST)
			seterr(err, errlen, "%s already exists: not replacing "
			    "it", out);
		else
			seterr(err, errlen, "%s: %s", out, strerror(errno));
		goto err1;
	}
	sodium_memzero(pk, sizeof(pk));
	return (0);

err3:
	sodium_free(key);
err2:
	sodium_free(plain);
err1:
	sodium_memzero(pk, sizeof(pk));
	sodium_memzero(sk, sizeof(sk));
err0:
	return (-1);
}
