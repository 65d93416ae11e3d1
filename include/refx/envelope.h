#ifndef REFX_ENVELOPE_H
#define REFX_ENVELOPE_H

/*
 * The cryptographic formats of a referral (docs/crypto.md):
 *
 *  field     blob = nonce(24) || XChaCha20-Poly1305(key, nonce, value, AD)
 *            AD   = "refx-field-v1" 0x00 referral-id 0x00 field-name 0x00
 *                   schema-id
 *            one fresh random key per field.
 *  envelope  crypto_box_seal(recipient unit's X25519 key, JSON
 *            {"v":1,"referral":ID,"recipient":UNIT,"keys":{NAME:B64KEY,...}})
 *            opened only by the unit's private key; the referral id and
 *            recipient inside stop an envelope being moved elsewhere.
 *  manifest  the signed statement of what was sent (canonical JSON bytes),
 *            signed with the sender's certificate key (Ed25519, through
 *            OpenSSL) over "refx-manifest-v1" 0x00 || manifest.
 *  consent   the school's signed consent statement (canonical JSON),
 *            signed like a manifest over "refx-consent-v1" 0x00 || it.
 *  unit key  the unit's X25519 private key on staff machines: the PKCS#8
 *            PEM refx-pki writes, or the same key sealed under a
 *            passphrase (crypto_pwhash Argon2id + crypto_secretbox).
 *
 * Secrets returned to callers are in sodium_malloc'd memory where noted
 * and must be released with the matching free function.
 */
#include <stddef.h>
#include <stdint.h>

#include "refx/err.h"
#include "refx/schema.h"

struct x509_st;

#define REFX_FIELD_KEY_LEN	32
#define REFX_FIELD_NONCE_LEN	24
#define REFX_FIELD_TAG_LEN	16
#define REFX_X25519_KEY_LEN	32
#define REFX_SIG_LEN		64
#define REFX_REFERRAL_ID_LEN	32	/* hex characters of 16 random bytes */

/* Keys of the fields one recipient may read: sodium_malloc'd. */
struct refx_keyset;

/** refx_keyset_new(): An empty key set, or NULL. */
struct refx_keyset *refx_keyset_new(void);

/** refx_keyset_free(ks): Wipe and free; NULL is a no-op. */
void refx_keyset_free(struct refx_keyset *);

/**
 * refx_keyset_add(ks, name, key): Add the key of field ${name}.  Return 0,
 * or -1 if the name is invalid, repeated, or the set is full.
 */
int refx_keyset_add(struct refx_keyset *, const char *,
    const uint8_t[REFX_FIELD_KEY_LEN]);

/** refx_keyset_get(ks, name): The key of ${name}, or NULL. */
const uint8_t *refx_keyset_get(const struct refx_keyset *, const char *);

/** refx_keyset_count(ks) / refx_keyset_name(ks, i): Iterate names. */
size_t refx_keyset_count(const struct refx_keyset *);
const char *refx_keyset_name(const struct refx_keyset *, size_t);

/** refx_referral_id_new(out): 32 hex characters of 16 random bytes. */
void refx_referral_id_new(char[REFX_REFERRAL_ID_LEN + 1]);

/** refx_referral_id_valid(s): 1 if ${s} is 32 lower-case hex, else 0. */
int refx_referral_id_valid(const char *);

/**
 * refx_field_seal(referral, name, key, pt, ptlen, blob, bloblen): Encrypt
 * one field value.  ${blob} (caller frees) = nonce || ciphertext || tag.
 * Return 0 or -1.
 */
int refx_field_seal(const char *, const char *,
    const uint8_t[REFX_FIELD_KEY_LEN], const uint8_t *, size_t, uint8_t **,
    size_t *);

/**
 * refx_field_open(referral, name, key, blob, bloblen, pt, ptlen): Decrypt
 * and authenticate one field.  ${pt} is sodium_malloc'd (free it with
 * refx_secret_free(pt, ptlen)); NUL-terminated for convenience.  Return
 * 0, or -1 if the blob, the key, the referral id or the name do not match.
 */
int refx_field_open(const char *, const char *,
    const uint8_t[REFX_FIELD_KEY_LEN], const uint8_t *, size_t, uint8_t **,
    size_t *);

/** refx_secret_free(p, len): Release a sodium_malloc'd secret; NULL ok. */
void refx_secret_free(void *, size_t);

/**
 * refx_envelope_seal(referral, recipient, ks, pk, out, outlen): Seal the
 * keys in ${ks} to the unit's X25519 public key ${pk}.  ${out} (caller
 * frees) is the sealed box.  Return 0 or -1.
 */
int refx_envelope_seal(const char *, const char *, const struct refx_keyset *,
    const uint8_t[REFX_X25519_KEY_LEN], uint8_t **, size_t *);

/**
 * refx_envelope_open(sealed, len, pk, sk, referral, recipient, ks): Open
 * an envelope with the unit's key pair, check that it names ${referral}
 * and ${recipient}, and return its keys in a new set ${ks}.  Return
 * REFX_OK, or REFX_ECRYPTO if it does not open or names something else,
 * or REFX_EINVAL if its contents are malformed.
 */
enum refx_err refx_envelope_open(const uint8_t *, size_t,
    const uint8_t[REFX_X25519_KEY_LEN], const uint8_t[REFX_X25519_KEY_LEN],
    const char *, const char *, struct refx_keyset **);

#define REFX_CONSENT_CONTEXT	"refx-consent-v1"
#define REFX_MANIFEST_CONTEXT	"refx-manifest-v1"
/*
 * A case step (docs/workflow.md): a statement signed under this context,
 * naming the hash of its loop's previous signed step, or
 * REFX_CASE_GENESIS for the first.
 */
#define REFX_CASE_CONTEXT	"refx-case-step-v1"
#define REFX_CASE_GENESIS	\
    "0000000000000000000000000000000000000000000000000000000000000000"

/**
 * refx_sign_ctx(keyfile, passphrase, context, msg, len, sig): Sign
 * ${context} 0x00 || ${msg} (one-shot Ed25519) with the private key in PEM
 * file ${keyfile} (${passphrase} may be NULL).  Return 0 or -1.
 */
int refx_sign_ctx(const char *, const char *, const char *, const uint8_t *,
    size_t, uint8_t[REFX_SIG_LEN]);

/**
 * refx_verify_ctx(cert, context, msg, len, sig): Verify a signature made
 * by refx_sign_ctx under ${context} with the public key of ${cert} (which
 * the caller has verified against the CA with refx_cert_verify).  Return
 * REFX_OK or REFX_ECRYPTO.
 */
enum refx_err refx_verify_ctx(struct x509_st *, const char *,
    const uint8_t *, size_t, const uint8_t[REFX_SIG_LEN]);

/**
 * refx_manifest_sign(keyfile, passphrase, msg, len, sig): Sign ${msg} with
 * the Ed25519 private key in PEM file ${keyfile} (${passphrase} may be
 * NULL), under the manifest context.  Return 0 or -1.
 */
int refx_manifest_sign(const char *, const char *, const uint8_t *, size_t,
    uint8_t[REFX_SIG_LEN]);

/**
 * refx_manifest_verify(cert, msg, len, sig): Verify a manifest signature
 * with the public key of ${cert} (which the caller has verified against
 * the CA with refx_cert_verify).  Return REFX_OK or REFX_ECRYPTO.
 */
enum refx_err refx_manifest_verify(struct x509_st *, const uint8_t *, size_t,
    const uint8_t[REFX_SIG_LEN]);

/**
 * refx_unitkey_load(path, passphrase, unit, pk, sk, err, errlen): Load a
 * unit's X25519 key pair from ${path}, a PKCS#8 PEM or a passphrase-
 * protected refx key file (then ${passphrase} is required).  The file
 * must be mode 0600 or stricter.  ${unit} (REFX_AGENCY_ID_MAX + 1 bytes)
 * receives the unit id if the file records it, else "".  Wipe ${sk} after
 * use.  Return 0 or -1 with a message.
 */
int refx_unitkey_load(const char *, const char *, char *,
    uint8_t[REFX_X25519_KEY_LEN], uint8_t[REFX_X25519_KEY_LEN], char *,
    size_t);

/**
 * refx_unitkey_protect(in, out, passphrase, unit, err, errlen): Read the
 * unit key ${in} and write it to ${out} (mode 0600, never replacing an
 * existing file) sealed under ${passphrase} with crypto_pwhash (Argon2id,
 * MODERATE limits) and crypto_secretbox.  Return 0 or -1 with a message.
 */
int refx_unitkey_protect(const char *, const char *, const char *,
    const char *, char *, size_t);

/**
 * refx_unitkey_protect_limits(in, out, passphrase, unit, opslimit,
 * memlimit, err, errlen): As refx_unitkey_protect, with the Argon2id
 * work factors ${opslimit} and ${memlimit} (bytes, a multiple of 1024),
 * which must be at least crypto_pwhash's INTERACTIVE ones (2 and 64 MiB)
 * and at most 16 and 1 GiB.  ${unit} may be NULL or "" to keep the unit
 * id recorded in ${in}, if any; ${passphrase} also decrypts an encrypted
 * ${in}.
 */
int refx_unitkey_protect_limits(const char *, const char *, const char *,
    const char *, unsigned long long, size_t, char *, size_t);

#endif /* !REFX_ENVELOPE_H */
