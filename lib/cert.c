#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "refx/cert.h"
#include "refx/file.h"
#include "refx/identity.h"

#define CERT_FILE_MAX	(64 * 1024)		/* one PEM certificate */
#define CRL_FILE_MAX	(16 * 1024 * 1024)	/* a CRL may list many */

/*
 * Refuse to decrypt anything: a certificate or CRL has no passphrase, and
 * OpenSSL's default callback would prompt on the terminal for a PEM block
 * that claims to be encrypted.
 */
static int
no_pass(char *buf, int size, int rwflag, void *u)
{

	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return (-1);
}

/**
 * refx_cert_parse_pem(pem, len): Parse one PEM certificate.  Return it
 * (free with refx_cert_free) or NULL.
 */
struct x509_st *
refx_cert_parse_pem(const uint8_t *pem, size_t len)
{
	BIO *bio;
	X509 *x;

	if (pem == NULL || len == 0 || len > INT_MAX)
		return (NULL);
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return (NULL);
	x = PEM_read_bio_X509(bio, NULL, no_pass, NULL);
	BIO_free(bio);
	/* Leave no stale errors behind for the next OpenSSL user. */
	ERR_clear_error();
	return (x);
}

/**
 * refx_cert_parse_pem_bundle(pem, len, certs, max, n): Parse a
 * concatenation of PEM certificates (such as the exchange's directory)
 * into ${certs}, at most ${max} of them, and set ${n} to their number.
 * Text between certificates is ignored.  Return 0, or -1 if one is
 * malformed or there are more than ${max} (nothing is left allocated).
 */
int
refx_cert_parse_pem_bundle(const uint8_t *pem, size_t len,
    struct x509_st **certs, size_t max, size_t *n)
{
	BIO *bio;
	X509 *x;
	unsigned long e;
	size_t i;

	*n = 0;
	if (len == 0)
		return (0);
	if (pem == NULL || len > INT_MAX)
		return (-1);
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return (-1);

	/* Read until OpenSSL finds no further BEGIN line. */
	ERR_clear_error();
	for (;;) {
		if ((x = PEM_read_bio_X509(bio, NULL, no_pass, NULL)) == NULL)
			break;
		if (*n == max) {
			X509_free(x);
			goto err1;
		}
		certs[(*n)++] = x;
	}
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) != ERR_LIB_PEM ||
	    ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
		goto err1;
	ERR_clear_error();
	BIO_free(bio);
	return (0);

err1:
	for (i = 0; i < *n; i++)
		X509_free(certs[i]);
	*n = 0;
	ERR_clear_error();
	BIO_free(bio);
	return (-1);
}

/** refx_cert_read(path): Read one PEM certificate file.  As above. */
struct x509_st *
refx_cert_read(const char *path)
{
	uint8_t *data;
	size_t len;
	X509 *x;

	if (refx_file_read(path, CERT_FILE_MAX, &data, &len))
		return (NULL);
	x = refx_cert_parse_pem(data, len);
	free(data);
	return (x);
}

/** refx_cert_free(cert): Free ${cert}; NULL is a no-op. */
void
refx_cert_free(struct x509_st *cert)
{

	X509_free(cert);
}

/** refx_crl_parse_pem(pem, len): Parse one PEM CRL.  Return it or NULL. */
struct X509_crl_st *
refx_crl_parse_pem(const uint8_t *pem, size_t len)
{
	BIO *bio;
	X509_CRL *crl = NULL;

	if (len > 0 && len <= INT_MAX &&
	    (bio = BIO_new_mem_buf(pem, (int)len)) != NULL) {
		crl = PEM_read_bio_X509_CRL(bio, NULL, no_pass, NULL);
		BIO_free(bio);
	}
	ERR_clear_error();
	return (crl);
}

/** refx_crl_read(path): Read a PEM CRL file.  Return it or NULL. */
struct X509_crl_st *
refx_crl_read(const char *path)
{
	uint8_t *data;
	size_t len;
	X509_CRL *crl;

	if (refx_file_read(path, CRL_FILE_MAX, &data, &len))
		return (NULL);
	crl = refx_crl_parse_pem(data, len);
	free(data);
	return (crl);
}

/** refx_crl_free(crl): Free ${crl}; NULL is a no-op. */
void
refx_crl_free(struct X509_crl_st *crl)
{

	X509_CRL_free(crl);
}

/* A short reason for an X509_V_ERR_* code at chain depth ${depth}. */
static const char *
verify_reason(int err, int depth)
{

	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return (depth > 0 ? "CA certificate expired" :
		    "certificate expired");
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return (depth > 0 ? "CA certificate not yet valid" :
		    "certificate not yet valid");
	case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
	case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
		return ("malformed certificate validity dates");
	case X509_V_ERR_CERT_REVOKED:
		return ("certificate revoked");
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_CERT_REJECTED:
	case X509_V_ERR_AKID_SKID_MISMATCH:
	case X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH:
		return ("not issued by this exchange's CA");
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
		return ("bad certificate signature");
	case X509_V_ERR_INVALID_PURPOSE:
	case X509_V_ERR_INVALID_NON_CA:
		return ("wrong certificate purpose");
	case X509_V_ERR_INVALID_CA:
	case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
		return ("CA certificate not valid as a CA");
	case X509_V_ERR_UNABLE_TO_GET_CRL:
		return ("no CRL from this exchange's CA");
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
		return ("bad CRL signature");
	case X509_V_ERR_CRL_HAS_EXPIRED:
		return ("CRL expired");
	case X509_V_ERR_CRL_NOT_YET_VALID:
		return ("CRL not yet valid");
	case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
	case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
	case X509_V_ERR_DIFFERENT_CRL_SCOPE:
		return ("CRL not issued by this exchange's CA");
	case X509_V_ERR_OUT_OF_MEM:
		return ("out of memory");
	default:
		return ("certificate verification failed");
	}
}

/* The refx purpose an extended key usage OID stands for, or -1. */
static int
eku_purpose(const ASN1_OBJECT *obj, const ASN1_OBJECT *unit,
    const ASN1_OBJECT *auditlog)
{

	switch (OBJ_obj2nid(obj)) {
	case NID_client_auth:
		return (REFX_CERT_PERSON);
	case NID_server_auth:
		return (REFX_CERT_SERVER);
	default:
		break;
	}
	if (OBJ_cmp(obj, unit) == 0)
		return (REFX_CERT_UNIT);
	if (OBJ_cmp(obj, auditlog) == 0)
		return (REFX_CERT_AUDIT_LOG);
	return (-1);
}

/*
 * Check what OpenSSL cannot for a custom EKU: that ${cert} is an
 * end-entity certificate with the key type, key usage and extended key
 * usage of ${purpose}, and with no EKU of another refx purpose (nor
 * anyExtendedKeyUsage), so one certificate never serves two purposes.
 */
static int
check_purpose(X509 *cert, enum refx_cert_purpose purpose, const char **why)
{
	EXTENDED_KEY_USAGE *eku;
	ASN1_OBJECT *unit, *auditlog, *obj;
	EVP_PKEY *pk;
	uint32_t ku;
	int i, p, crit, found = 0, other = 0;

	/* Key type: Ed25519 signs, X25519 only agrees on keys. */
	if ((pk = X509_get0_pubkey(cert)) == NULL ||
	    EVP_PKEY_get_id(pk) != (purpose == REFX_CERT_UNIT ?
	    EVP_PKEY_X25519 : EVP_PKEY_ED25519)) {
		*why = "wrong key type for certificate purpose";
		return (-1);
	}

	/* Never a CA (by any sign), and the key usage its key type needs. */
	if ((X509_get_extension_flags(cert) & EXFLAG_CA) != 0 ||
	    X509_check_ca(cert) != 0) {
		*why = "wrong certificate purpose";
		return (-1);
	}
	ku = X509_get_key_usage(cert);
	if ((X509_get_extension_flags(cert) & EXFLAG_KUSAGE) == 0 ||
	    (ku & (purpose == REFX_CERT_UNIT ? KU_KEY_AGREEMENT :
	    KU_DIGITAL_SIGNATURE)) == 0) {
		*why = "wrong certificate purpose";
		return (-1);
	}

	/* Extended key usage: present, with ours and no other refx one. */
	if ((unit = OBJ_txt2obj(REFX_OID_EKU_UNIT_ENC, 1)) == NULL) {
		*why = "out of memory";
		return (-1);
	}
	if ((auditlog = OBJ_txt2obj(REFX_OID_EKU_AUDIT_LOG, 1)) == NULL) {
		ASN1_OBJECT_free(unit);
		*why = "out of memory";
		return (-1);
	}
	eku = X509_get_ext_d2i(cert, NID_ext_key_usage, &crit, NULL);
	for (i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++) {
		obj = sk_ASN1_OBJECT_value(eku, i);
		if (OBJ_obj2nid(obj) == NID_anyExtendedKeyUsage)
			other = 1;
		else if ((p = eku_purpose(obj, unit, auditlog)) ==
		    (int)purpose)
			found = 1;
		else if (p != -1)
			other = 1;
	}
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	ASN1_OBJECT_free(auditlog);
	ASN1_OBJECT_free(unit);
	if (!found || other) {
		*why = "wrong certificate purpose";
		return (-1);
	}
	return (0);
}

/**
 * refx_cert_verify(ca, crl, cert, purpose, why): Check that ${cert} was
 * issued by ${ca}, is within its validity dates, is not revoked by ${crl}
 * (if not NULL; the CRL's own signature is checked too), and has the key
 * type and extended key usage of ${purpose}.  Return REFX_OK, or
 * REFX_ECRYPTO with a static reason in ${why}.
 */
enum refx_err
refx_cert_verify(struct x509_st *ca, struct X509_crl_st *crl,
    struct x509_st *cert, enum refx_cert_purpose purpose, const char **why)
{
	X509_STORE *store;
	X509_STORE_CTX *ctx;
	unsigned long flags = X509_V_FLAG_X509_STRICT;
	int xpurpose;

	*why = "out of memory";
	if (ca == NULL || cert == NULL) {
		*why = "no certificate";
		return (REFX_ECRYPTO);
	}
	switch (purpose) {
	case REFX_CERT_PERSON:
		xpurpose = X509_PURPOSE_SSL_CLIENT;
		break;
	case REFX_CERT_SERVER:
		xpurpose = X509_PURPOSE_SSL_SERVER;
		break;
	case REFX_CERT_UNIT:
	case REFX_CERT_AUDIT_LOG:
		/* A custom EKU: checked by hand below. */
		xpurpose = 0;
		break;
	default:
		*why = "unknown certificate purpose";
		return (REFX_ECRYPTO);
	}

	/* The CA is the only trust anchor; no intermediates are offered. */
	if ((store = X509_STORE_new()) == NULL)
		goto err0;
	if (!X509_STORE_add_cert(store, ca))
		goto err1;
	if (crl != NULL) {
		if (!X509_STORE_add_crl(store, crl))
			goto err1;
		flags |= X509_V_FLAG_CRL_CHECK;
	}
	if ((ctx = X509_STORE_CTX_new()) == NULL)
		goto err1;
	if (!X509_STORE_CTX_init(ctx, store, cert, NULL))
		goto err2;
	X509_STORE_CTX_set_flags(ctx, flags);
	if (xpurpose != 0 && !X509_STORE_CTX_set_purpose(ctx, xpurpose))
		goto err2;

	/* Chain, signatures, dates, CRL (and its signature), purpose. */
	if (X509_verify_cert(ctx) != 1) {
		*why = verify_reason(X509_STORE_CTX_get_error(ctx),
		    X509_STORE_CTX_get_error_depth(ctx));
		goto err2;
	}
	if (check_purpose(cert, purpose, why))
		goto err2;

	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	ERR_clear_error();
	*why = NULL;
	return (REFX_OK);

err2:
	X509_STORE_CTX_free(ctx);
err1:
	X509_STORE_free(store);
err0:
	ERR_clear_error();
	return (REFX_ECRYPTO);
}

/** refx_cert_fingerprint(cert, out): SHA-256 of the DER.  Return 0 or -1. */
int
refx_cert_fingerprint(struct x509_st *cert, uint8_t out[REFX_FINGERPRINT_LEN])
{
	unsigned int n = 0;

	if (cert == NULL || !X509_digest(cert, EVP_sha256(), out, &n) ||
	    n != REFX_FINGERPRINT_LEN) {
		ERR_clear_error();
		return (-1);
	}
	return (0);
}

/* Subject attributes the exchange uses, in the order of struct attrs. */
enum attr { A_O, A_KIND, A_OU, A_UID, A_CN, A_COUNT };

static const int attr_nid[A_COUNT] = {
	[A_O] = NID_organizationName,
	[A_KIND] = NID_businessCategory,
	[A_OU] = NID_organizationalUnitName,
	[A_UID] = NID_userId,
	[A_CN] = NID_commonName,
};

struct attrs {
	char	*a_val[A_COUNT];	/* UTF-8, OPENSSL_malloc'd; or NULL */
};

static void
attrs_free(struct attrs *a)
{
	int i;

	for (i = 0; i < A_COUNT; i++) {
		OPENSSL_free(a->a_val[i]);
		a->a_val[i] = NULL;
	}
}

/*
 * Read the attributes named in ${want} (a bit per enum attr) from the
 * subject of ${cert} as UTF-8.  A missing one is left NULL for the
 * validators to report.  Fail if one occurs twice, is not valid text, or
 * the subject holds any attribute not in ${want}.
 */
static int
attrs_get(X509 *cert, unsigned want, struct attrs *a, const char **why)
{
	const X509_NAME *name;
	const X509_NAME_ENTRY *ne;
	unsigned char *s;
	int i, k, len, have = 0;

	memset(a, 0, sizeof(*a));
	if ((name = X509_get_subject_name(cert)) == NULL) {
		*why = "certificate has no subject";
		return (-1);
	}
	for (i = 0; i < A_COUNT; i++) {
		if ((want & (1U << i)) == 0)
			continue;
		k = X509_NAME_get_index_by_NID(name, attr_nid[i], -1);
		if (k < 0)
			continue;
		if (X509_NAME_get_index_by_NID(name, attr_nid[i], k) >= 0) {
			*why = "subject has a duplicate attribute";
			goto err1;
		}
		ne = X509_NAME_get_entry(name, k);
		len = ASN1_STRING_to_UTF8(&s, X509_NAME_ENTRY_get_data(ne));
		if (len < 0) {
			*why = "subject attribute is not valid text";
			goto err1;
		}
		a->a_val[i] = (char *)s;
		/* An embedded NUL would hide the rest of the value. */
		if (strlen(a->a_val[i]) != (size_t)len) {
			*why = "subject attribute holds a NUL byte";
			goto err1;
		}
		have++;
	}
	if (X509_NAME_entry_count(name) != have) {
		*why = "subject has unexpected attributes";
		goto err1;
	}
	return (0);

err1:
	attrs_free(a);
	ERR_clear_error();
	return (-1);
}

/**
 * refx_cert_person(cert, id, why): Fill ${id} (names, fingerprint and
 * serial) from a person certificate's subject.  Does not verify: call
 * refx_cert_verify first.  Return REFX_OK or REFX_EINVAL with ${why}.
 */
enum refx_err
refx_cert_person(struct x509_st *cert, struct refx_identity *id,
    const char **why)
{
	struct attrs a;
	BIGNUM *bn;
	int n;

	memset(id, 0, sizeof(*id));
	if (cert == NULL) {
		*why = "no certificate";
		return (REFX_EINVAL);
	}
	if (attrs_get(cert, (1U << A_O) | (1U << A_KIND) | (1U << A_OU) |
	    (1U << A_UID) | (1U << A_CN), &a, why))
		goto err0;
	if (refx_identity_from_subject(a.a_val[A_O], a.a_val[A_KIND],
	    a.a_val[A_OU], a.a_val[A_UID], a.a_val[A_CN], id, why))
		goto err1;

	/* The serial: positive, and short enough for RFC 5280. */
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	if (bn == NULL || BN_is_negative(bn) || BN_is_zero(bn) ||
	    (n = BN_num_bytes(bn)) > REFX_SERIAL_MAX) {
		BN_free(bn);
		*why = "invalid serial number";
		goto err1;
	}
	BN_bn2bin(bn, id->id_serial);
	id->id_serial_len = (size_t)n;
	BN_free(bn);

	if (refx_cert_fingerprint(cert, id->id_fingerprint)) {
		*why = "cannot hash certificate";
		goto err1;
	}
	attrs_free(&a);
	return (REFX_OK);

err1:
	attrs_free(&a);
err0:
	memset(id, 0, sizeof(*id));
	ERR_clear_error();
	return (REFX_EINVAL);
}

/**
 * refx_cert_unit(cert, unit, why): Fill ${unit} from a unit encryption
 * certificate, including its raw X25519 public key.  Does not verify.
 * Return REFX_OK or REFX_EINVAL with ${why}.
 */
enum refx_err
refx_cert_unit(struct x509_st *cert, struct refx_unit *unit,
    const char **why)
{
	struct attrs a;
	EVP_PKEY *pk;
	size_t len = sizeof(unit->u_x25519);

	memset(unit, 0, sizeof(*unit));
	if (cert == NULL) {
		*why = "no certificate";
		return (REFX_EINVAL);
	}
	if (attrs_get(cert, (1U << A_O) | (1U << A_KIND) | (1U << A_CN), &a,
	    why))
		goto err0;
	if (!refx_agency_id_valid(a.a_val[A_O])) {
		*why = "subject O (unit id) missing or invalid";
		goto err1;
	}
	if (refx_kind_parse(a.a_val[A_KIND], &unit->u_kind)) {
		*why = "subject businessCategory (unit kind) missing or "
		    "invalid";
		goto err1;
	}
	if (!refx_name_valid(a.a_val[A_CN])) {
		*why = "subject CN (name) missing or invalid";
		goto err1;
	}

	/* The raw X25519 public key, exactly 32 bytes. */
	if ((pk = X509_get0_pubkey(cert)) == NULL ||
	    EVP_PKEY_get_id(pk) != EVP_PKEY_X25519 ||
	    !EVP_PKEY_get_raw_public_key(pk, unit->u_x25519, &len) ||
	    len != REFX_X25519_LEN) {
		*why = "unit certificate does not hold an X25519 key";
		goto err1;
	}
	if (refx_cert_fingerprint(cert, unit->u_fingerprint)) {
		*why = "cannot hash certificate";
		goto err1;
	}
	memcpy(unit->u_id, a.a_val[A_O], strlen(a.a_val[A_O]) + 1);
	memcpy(unit->u_name, a.a_val[A_CN], strlen(a.a_val[A_CN]) + 1);
	attrs_free(&a);
	return (REFX_OK);

err1:
	attrs_free(&a);
err0:
	memset(unit, 0, sizeof(*unit));
	ERR_clear_error();
	return (REFX_EINVAL);
}

/** refx_cert_audit_log(cert, origin, len, pk, why): Origin and key. */
enum refx_err
refx_cert_audit_log(struct x509_st *cert, char *origin, size_t originlen,
    uint8_t pk[32], const char **why)
{
	struct attrs a;
	EVP_PKEY *key;
	size_t len = 32, n;

	if (cert == NULL) {
		*why = "no certificate";
		return (REFX_EINVAL);
	}
	if (attrs_get(cert, 1U << A_CN, &a, why))
		return (REFX_EINVAL);
	n = strlen(a.a_val[A_CN]);
	/* An origin: printable, no spaces or '+' (C2SP signed-note names). */
	if (n == 0 || n >= originlen || strchr(a.a_val[A_CN], ' ') != NULL ||
	    strchr(a.a_val[A_CN], '+') != NULL || !refx_name_valid(
	    a.a_val[A_CN])) {
		*why = "subject CN (log origin) missing or invalid";
		attrs_free(&a);
		return (REFX_EINVAL);
	}
	memcpy(origin, a.a_val[A_CN], n + 1);
	attrs_free(&a);
	if ((key = X509_get0_pubkey(cert)) == NULL ||
	    EVP_PKEY_get_id(key) != EVP_PKEY_ED25519 ||
	    !EVP_PKEY_get_raw_public_key(key, pk, &len) || len != 32) {
		*why = "audit log certificate does not hold an Ed25519 key";
		ERR_clear_error();
		return (REFX_EINVAL);
	}
	return (REFX_OK);
}

/** refx_crl_check(ca, crl, number, why): Signature and number of a CRL. */
enum refx_err
refx_crl_check(struct x509_st *ca, struct X509_crl_st *crl, uint64_t *number,
    const char **why)
{
	ASN1_INTEGER *n;
	EVP_PKEY *key;
	uint64_t v;
	int ok;

	if (ca == NULL || crl == NULL || (key = X509_get0_pubkey(ca)) == NULL) {
		*why = "no CA or CRL";
		return (REFX_ECRYPTO);
	}
	if (X509_CRL_verify(crl, key) != 1 ||
	    X509_NAME_cmp(X509_CRL_get_issuer(crl),
	    X509_get_subject_name(ca)) != 0) {
		ERR_clear_error();
		*why = "CRL not signed by this exchange's CA";
		return (REFX_ECRYPTO);
	}
	if ((n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL)) ==
	    NULL) {
		ERR_clear_error();
		*why = "CRL has no CRL number";
		return (REFX_ECRYPTO);
	}
	ok = ASN1_INTEGER_get_uint64(&v, n);
	ASN1_INTEGER_free(n);
	ERR_clear_error();
	if (ok != 1) {
		*why = "CRL number unreadable";
		return (REFX_ECRYPTO);
	}
	*number = v;
	return (REFX_OK);
}
