#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "refx/cert.h"
#include "refx/file.h"
#include "refx/log.h"
#include "refx/secret.h"

#include "pki.h"

#define KEY_FILE_MAX	(64 * 1024)

/** ca_warn(what): Log ${what} and OpenSSL's last error, then clear them. */
void
ca_warn(const char *what)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	log_warnx("%s: %s", what, r ? r : "OpenSSL error");
	ERR_clear_error();
}

/** ca_keygen(alg): Make an "ED25519" or "X25519" key.  Return it or NULL. */
EVP_PKEY *
ca_keygen(const char *alg)
{
	EVP_PKEY *k;

	if ((k = EVP_PKEY_Q_keygen(NULL, NULL, alg)) == NULL)
		ca_warn("cannot generate a key");
	return (k);
}

/**
 * ca_serial_new(serial): Fill ${serial} with random bytes, top bit clear
 * (positive) and not all zero.  Return 0 or -1.
 */
int
ca_serial_new(uint8_t serial[CA_SERIAL_LEN])
{
	size_t i;
	int tries;

	for (tries = 0; tries < 8; tries++) {
		if (RAND_bytes(serial, CA_SERIAL_LEN) != 1) {
			ca_warn("cannot make a serial number");
			return (-1);
		}
		serial[0] &= 0x7f;
		for (i = 0; i < CA_SERIAL_LEN; i++)
			if (serial[i] != 0)
				return (0);
	}
	log_warnx("cannot make a serial number: random source stuck at 0");
	return (-1);
}

/**
 * ca_serial_hex(serial, len, out): Write the canonical form of a serial
 * number (lower-case hex of the big-endian value, no leading zero bytes)
 * to ${out}.  Return 0, or -1 if it is zero or too long.
 */
int
ca_serial_hex(const uint8_t *serial, size_t len,
    char out[CA_SERIAL_HEX_MAX + 1])
{

	while (len > 0 && serial[0] == 0) {
		serial++;
		len--;
	}
	if (len == 0 || len > REFX_SERIAL_MAX)
		return (-1);
	refx_hex(out, CA_SERIAL_HEX_MAX + 1, serial, len);
	return (0);
}

/** ca_cert_serial(cert, out): The serial of ${cert}, as ca_serial_hex. */
int
ca_cert_serial(X509 *cert, char out[CA_SERIAL_HEX_MAX + 1])
{
	uint8_t b[REFX_SERIAL_MAX];
	BIGNUM *bn;
	int n, rc = -1;

	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	if (bn != NULL && !BN_is_negative(bn) &&
	    (n = BN_num_bytes(bn)) <= REFX_SERIAL_MAX) {
		BN_bn2bin(bn, b);
		rc = ca_serial_hex(b, (size_t)n, out);
	}
	BN_free(bn);
	ERR_clear_error();
	return (rc);
}

/* The value of hex digit ${c}, or -1. */
static int
hexval(char c)
{

	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/**
 * ca_serial_parse(s, out): Parse a serial typed by a person (hex, any
 * case, optional colons and leading zeros) into canonical form.  Return
 * 0 or -1.
 */
int
ca_serial_parse(const char *s, char out[CA_SERIAL_HEX_MAX + 1])
{
	char digits[2 * CA_SERIAL_HEX_MAX + 2];
	uint8_t b[REFX_SERIAL_MAX];
	size_t n = 0, i, off, pos;

	/* Collect the digits, allowing "0x" and colons. */
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; *s != '\0'; s++) {
		if (*s == ':')
			continue;
		if (hexval(*s) < 0 || n + 1 >= sizeof(digits))
			return (-1);
		digits[n++] = *s;
	}
	/* Drop leading zero digits; pad to whole bytes. */
	for (off = 0; off < n && digits[off] == '0'; off++)
		continue;
	n -= off;
	if (n == 0 || (n + 1) / 2 > sizeof(b))
		return (-1);
	memset(b, 0, sizeof(b));
	for (i = 0; i < n; i++) {
		pos = n - 1 - i;	/* nibble, counted from the right */
		b[sizeof(b) - 1 - pos / 2] |= (uint8_t)(hexval(digits[off + i])
		    << (pos % 2 ? 4 : 0));
	}
	return (ca_serial_hex(b, sizeof(b), out));
}

/* Add the extension ${name} = ${value} (openssl.cnf syntax) to ${x}. */
static int
add_ext(X509 *x, X509V3_CTX *ctx, const char *name, const char *value)
{
	X509_EXTENSION *ext;
	int ok;

	if ((ext = X509V3_EXT_nconf(NULL, ctx, name, value)) == NULL)
		return (-1);
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return (ok ? 0 : -1);
}

/* Add a UTF8String attribute to ${n}; the caller validated the text. */
static int
name_add(X509_NAME *n, int nid, const char *v)
{

	/*
	 * A plain type rather than MBSTRING_UTF8: always UTF8String, and no
	 * 64-character cap of OpenSSL's string table on a 128-byte name.
	 */
	if (!X509_NAME_add_entry_by_NID(n, nid, V_ASN1_UTF8STRING,
	    (const unsigned char *)v, -1, -1, 0))
		return (-1);
	return (0);
}

/*
 * Start a v3 certificate: serial, validity and public key from ${ci}.
 * Return it or NULL.
 */
static X509 *
cert_new(const struct ca_issue *ci, EVP_PKEY *pub)
{
	X509 *x;
	BIGNUM *bn;
	ASN1_INTEGER *sn;
	time_t nb = ci->ci_not_before;

	if (ci->ci_days < 1 || ci->ci_days > CA_DAYS_MAX) {
		log_warnx("validity of %ld days out of range", ci->ci_days);
		goto err0;
	}
	if (EVP_PKEY_get_id(ci->ci_cakey) != EVP_PKEY_ED25519) {
		log_warnx("the CA key is not an Ed25519 key");
		goto err0;
	}
	if ((x = X509_new()) == NULL)
		goto err1;
	if (!X509_set_version(x, X509_VERSION_3))
		goto err2;

	/* Serial number. */
	if ((bn = BN_bin2bn(ci->ci_serial, CA_SERIAL_LEN, NULL)) == NULL)
		goto err2;
	sn = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	if (sn == NULL)
		goto err2;
	if (!X509_set_serialNumber(x, sn)) {
		ASN1_INTEGER_free(sn);
		goto err2;
	}
	ASN1_INTEGER_free(sn);

	/* Validity, and the key being certified. */
	if (ASN1_TIME_set(X509_getm_notBefore(x), nb) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)ci->ci_days, 0,
	    &nb) == NULL)
		goto err2;
	if (!X509_set_pubkey(x, pub))
		goto err2;
	return (x);

err2:
	X509_free(x);
err1:
	ca_warn("cannot make a certificate");
err0:
	return (NULL);
}

/*
 * Finish ${x}: issuer name, the extensions in ${ext} (name, value pairs,
 * NULL-terminated) plus SKI and (for a non-root) AKI, and the signature.
 * Return 0 or -1.
 */
static int
cert_finish(X509 *x, const struct ca_issue *ci, const char *const *ext)
{
	X509V3_CTX ctx;
	X509 *issuer = ci->ci_ca != NULL ? ci->ci_ca : x;

	if (!X509_set_issuer_name(x, X509_get_subject_name(issuer)))
		goto err0;

	/* Extensions; AKI copies the issuer's SKI (a root has none). */
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	for (; ext[0] != NULL; ext += 2)
		if (add_ext(x, &ctx, ext[0], ext[1]))
			goto err0;
	if (add_ext(x, &ctx, "subjectKeyIdentifier", "hash"))
		goto err0;
	if (ci->ci_ca != NULL &&
	    add_ext(x, &ctx, "authorityKeyIdentifier", "keyid:always"))
		goto err0;

	/* Ed25519 signs the whole message: no digest (NULL). */
	if (X509_sign(x, ci->ci_cakey, NULL) <= 0)
		goto err0;
	return (0);

err0:
	ca_warn("cannot make a certificate");
	return (-1);
}

/**
 * ca_make_root(ci, name): Make the self-signed CA certificate "${name}
 * refx CA" for the key ${ci}->ci_cakey (ci_ca and ci_key are ignored).
 * Return it or NULL.
 */
X509 *
ca_make_root(const struct ca_issue *ci, const char *name)
{
	static const char *const ext[] = {
		"basicConstraints", "critical,CA:TRUE,pathlen:0",
		"keyUsage", "critical,keyCertSign,cRLSign",
		NULL,
	};
	struct ca_issue self = *ci;
	char cn[REFX_NAME_MAX + 1];
	X509 *x;

	if (!refx_name_valid(name) || snprintf(cn, sizeof(cn), "%s refx CA",
	    name) >= (int)sizeof(cn)) {
		log_warnx("invalid CA name");
		goto err0;
	}
	self.ci_ca = NULL;
	if ((x = cert_new(&self, ci->ci_cakey)) == NULL)
		goto err0;
	if (name_add(X509_get_subject_name(x), NID_organizationName, "refx") ||
	    name_add(X509_get_subject_name(x), NID_commonName, cn)) {
		ca_warn("cannot make the CA certificate");
		goto err1;
	}
	if (cert_finish(x, &self, ext))
		goto err1;
	return (x);

err1:
	X509_free(x);
err0:
	return (NULL);
}

/**
 * ca_make_person(ci, agency, kind, role, person, name): Make a person's
 * client certificate (EKU clientAuth) for the Ed25519 key ${ci}->ci_key.
 * Return it or NULL.
 */
X509 *
ca_make_person(const struct ca_issue *ci, const char *agency,
    enum refx_kind kind, enum refx_role role, const char *person,
    const char *name)
{
	static const char *const ext[] = {
		"basicConstraints", "critical,CA:FALSE",
		"keyUsage", "critical,digitalSignature",
		"extendedKeyUsage", "clientAuth",
		NULL,
	};
	struct refx_identity id;
	const char *why;
	X509_NAME *n;
	X509 *x;

	/* The same rules as the verifiers apply. */
	if (refx_identity_from_subject(agency, refx_kind_name(kind),
	    refx_role_name(role), person, name, &id, &why)) {
		log_warnx("%s", why);
		goto err0;
	}
	if (ci->ci_ca == NULL ||
	    EVP_PKEY_get_id(ci->ci_key) != EVP_PKEY_ED25519) {
		log_warnx("a person certificate needs a CA and an Ed25519 key");
		goto err0;
	}
	if ((x = cert_new(ci, ci->ci_key)) == NULL)
		goto err0;

	/* Subject, in the documented order. */
	n = X509_get_subject_name(x);
	if (name_add(n, NID_businessCategory, refx_kind_name(kind)) ||
	    name_add(n, NID_organizationName, agency) ||
	    name_add(n, NID_organizationalUnitName, refx_role_name(role)) ||
	    name_add(n, NID_userId, person) ||
	    name_add(n, NID_commonName, name)) {
		ca_warn("cannot make the subject");
		goto err1;
	}
	if (cert_finish(x, ci, ext))
		goto err1;
	return (x);

err1:
	X509_free(x);
err0:
	return (NULL);
}

/**
 * ca_make_unit(ci, id, kind, name): Make a unit's encryption certificate
 * (EKU REFX_OID_EKU_UNIT_ENC, keyAgreement) for the X25519 key
 * ${ci}->ci_key.  Return it or NULL.
 */
X509 *
ca_make_unit(const struct ca_issue *ci, const char *id, enum refx_kind kind,
    const char *name)
{
	static const char *const ext[] = {
		"basicConstraints", "critical,CA:FALSE",
		"keyUsage", "critical,keyAgreement",
		"extendedKeyUsage", REFX_OID_EKU_UNIT_ENC,
		NULL,
	};
	X509_NAME *n;
	X509 *x;

	if (!refx_agency_id_valid(id) || !refx_name_valid(name) ||
	    refx_kind_name(kind)[0] == '?') {
		log_warnx("invalid unit id, kind or name");
		goto err0;
	}
	if (ci->ci_ca == NULL ||
	    EVP_PKEY_get_id(ci->ci_key) != EVP_PKEY_X25519) {
		log_warnx("a unit certificate needs a CA and an X25519 key");
		goto err0;
	}
	if ((x = cert_new(ci, ci->ci_key)) == NULL)
		goto err0;
	n = X509_get_subject_name(x);
	if (name_add(n, NID_businessCategory, refx_kind_name(kind)) ||
	    name_add(n, NID_organizationName, id) ||
	    name_add(n, NID_commonName, name)) {
		ca_warn("cannot make the subject");
		goto err1;
	}
	if (cert_finish(x, ci, ext))
		goto err1;
	return (x);

err1:
	X509_free(x);
err0:
	return (NULL);
}

/**
 * ca_make_audit_log(ci, origin): Make an audit log's checkpoint-signing
 * certificate (subject CN = the log's origin, EKU REFX_OID_EKU_AUDIT_LOG,
 * digitalSignature) for the Ed25519 key ${ci}->ci_key.  Return it or NULL.
 */
X509 *
ca_make_audit_log(const struct ca_issue *ci, const char *origin)
{
	static const char *const ext[] = {
		"basicConstraints", "critical,CA:FALSE",
		"keyUsage", "critical,digitalSignature",
		"extendedKeyUsage", REFX_OID_EKU_AUDIT_LOG,
		NULL,
	};
	X509 *x;

	if (ci->ci_ca == NULL ||
	    EVP_PKEY_get_id(ci->ci_key) != EVP_PKEY_ED25519) {
		log_warnx("an audit log certificate needs a CA and an Ed25519 "
		    "key");
		return (NULL);
	}
	if ((x = cert_new(ci, ci->ci_key)) == NULL)
		return (NULL);
	if (name_add(X509_get_subject_name(x), NID_commonName, origin) ||
	    cert_finish(x, ci, ext)) {
		ca_warn("cannot make the audit log certificate");
		X509_free(x);
		return (NULL);
	}
	return (x);
}

/** ca_dns_valid(s): Return 1 if ${s} is a DNS host name we certify. */
int
ca_dns_valid(const char *s)
{
	size_t n = strlen(s), i, label = 0;
	char c;

	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.')
		return (0);
	for (i = 0; i < n; i++) {
		c = s[i];
		if (c == '.') {
			/* No empty label, none ending in '-'. */
			if (label == 0 || s[i - 1] == '-')
				return (0);
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return (0);
		if ((label == 0 && c == '-') || ++label > 63)
			return (0);
	}
	return (s[n - 1] != '-');
}

/** ca_ip_valid(s): Return 1 if ${s} is an IPv4 or IPv6 address. */
int
ca_ip_valid(const char *s)
{
	unsigned char b[16];

	return (inet_pton(AF_INET, s, b) == 1 ||
	    inet_pton(AF_INET6, s, b) == 1);
}

/* Add one subjectAltName entry of ${type} to ${gens}. */
static int
san_add(GENERAL_NAMES *gens, int type, const char *v)
{
	GENERAL_NAME *g;

	if ((g = a2i_GENERAL_NAME(NULL, NULL, NULL, type, v, 0)) == NULL)
		return (-1);
	if (!sk_GENERAL_NAME_push(gens, g)) {
		GENERAL_NAME_free(g);
		return (-1);
	}
	return (0);
}

/**
 * ca_make_server(ci, dns, ndns, ip, nip): Make the server certificate
 * (EKU serverAuth) with these subject alternative names, at least one in
 * all.  Return it or NULL.
 */
X509 *
ca_make_server(const struct ca_issue *ci, const char *const *dns,
    size_t ndns, const char *const *ip, size_t nip)
{
	static const char *const ext[] = {
		"basicConstraints", "critical,CA:FALSE",
		"keyUsage", "critical,digitalSignature",
		"extendedKeyUsage", "serverAuth",
		NULL,
	};
	GENERAL_NAMES *gens;
	X509 *x;
	size_t i;

	if (ndns + nip == 0 || ndns > CA_SAN_COUNT || nip > CA_SAN_COUNT) {
		log_warnx("a server certificate needs 1 to %d names of each "
		    "type", CA_SAN_COUNT);
		goto err0;
	}
	for (i = 0; i < ndns; i++)
		if (!ca_dns_valid(dns[i])) {
			log_warnx("invalid DNS name");
			goto err0;
		}
	for (i = 0; i < nip; i++)
		if (!ca_ip_valid(ip[i])) {
			log_warnx("invalid IP address");
			goto err0;
		}
	if (ci->ci_ca == NULL ||
	    EVP_PKEY_get_id(ci->ci_key) != EVP_PKEY_ED25519) {
		log_warnx("a server certificate needs a CA and an Ed25519 key");
		goto err0;
	}
	if ((x = cert_new(ci, ci->ci_key)) == NULL)
		goto err0;
	if (name_add(X509_get_subject_name(x), NID_organizationName, "refx") ||
	    name_add(X509_get_subject_name(x), NID_commonName, "refxd"))
		goto err2;

	/* The names clients check (curl checks the SAN, not the CN). */
	if ((gens = sk_GENERAL_NAME_new_null()) == NULL)
		goto err2;
	for (i = 0; i < ndns; i++)
		if (san_add(gens, GEN_DNS, dns[i]))
			goto err3;
	for (i = 0; i < nip; i++)
		if (san_add(gens, GEN_IPADD, ip[i]))
			goto err3;
	if (!X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
	    X509V3_ADD_DEFAULT))
		goto err3;
	GENERAL_NAMES_free(gens);

	if (cert_finish(x, ci, ext))
		goto err1;
	return (x);

err3:
	GENERAL_NAMES_free(gens);
err2:
	ca_warn("cannot make the server certificate");
err1:
	X509_free(x);
err0:
	return (NULL);
}

/* Add one revoked certificate to ${crl}. */
static int
crl_add(X509_CRL *crl, const struct ca_revoked *r)
{
	X509_REVOKED *rev;
	BIGNUM *bn = NULL;
	ASN1_INTEGER *sn = NULL;
	ASN1_TIME *t = NULL;
	ASN1_ENUMERATED *e = NULL;

	if ((rev = X509_REVOKED_new()) == NULL)
		goto err0;
	if (!BN_hex2bn(&bn, r->cr_serial) ||
	    (sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    !X509_REVOKED_set_serialNumber(rev, sn))
		goto err1;
	if ((t = ASN1_TIME_set(NULL, r->cr_when)) == NULL ||
	    !X509_REVOKED_set_revocationDate(rev, t))
		goto err1;

	/* RFC 5280 5.3.1: leave out the reason rather than "unspecified". */
	if (r->cr_reason != CRL_REASON_UNSPECIFIED) {
		if ((e = ASN1_ENUMERATED_new()) == NULL ||
		    !ASN1_ENUMERATED_set(e, r->cr_reason) ||
		    !X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, e, 0, 0))
			goto err1;
	}
	if (!X509_CRL_add0_revoked(crl, rev))
		goto err1;
	ASN1_ENUMERATED_free(e);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	return (0);

err1:
	ASN1_ENUMERATED_free(e);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	X509_REVOKED_free(rev);
err0:
	return (-1);
}

/**
 * ca_make_crl(ca, cakey, rev, n, number, now, days): Make and sign a v2
 * CRL listing the ${n} entries of ${rev}, with CRL number ${number},
 * thisUpdate ${now} and nextUpdate ${days} later.  Return it or NULL.
 */
X509_CRL *
ca_make_crl(X509 *ca, EVP_PKEY *cakey, const struct ca_revoked *rev,
    size_t n, long number, time_t now, long days)
{
	X509_CRL *crl;
	ASN1_TIME *t = NULL;
	ASN1_INTEGER *num = NULL;
	X509_EXTENSION *ext = NULL;
	X509V3_CTX ctx;
	size_t i;

	if (days < 1 || days > CA_DAYS_MAX || number < 1) {
		log_warnx("CRL validity or number out of range");
		return (NULL);
	}
	if ((crl = X509_CRL_new()) == NULL)
		goto err0;
	if (!X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)))
		goto err1;

	/* thisUpdate and nextUpdate. */
	if ((t = ASN1_TIME_set(NULL, now)) == NULL ||
	    !X509_CRL_set1_lastUpdate(crl, t) ||
	    ASN1_TIME_adj(t, now, (int)days, 0) == NULL ||
	    !X509_CRL_set1_nextUpdate(crl, t))
		goto err1;

	/* The revoked certificates, in serial order. */
	for (i = 0; i < n; i++)
		if (crl_add(crl, &rev[i]))
			goto err1;
	if (!X509_CRL_sort(crl))
		goto err1;

	/* crlNumber and authorityKeyIdentifier. */
	if ((num = ASN1_INTEGER_new()) == NULL ||
	    !ASN1_INTEGER_set(num, number) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0))
		goto err1;
	X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
	if ((ext = X509V3_EXT_nconf(NULL, &ctx, "authorityKeyIdentifier",
	    "keyid:always")) == NULL || !X509_CRL_add_ext(crl, ext, -1))
		goto err1;

	if (X509_CRL_sign(crl, cakey, NULL) <= 0)
		goto err1;
	X509_EXTENSION_free(ext);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	return (crl);

err1:
	X509_EXTENSION_free(ext);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
err0:
	ca_warn("cannot make the CRL");
	return (NULL);
}

/* Write the contents of the memory BIO ${bio} to ${path}. */
static int
bio_write_file(BIO *bio, const char *path, mode_t mode, int exclusive)
{
	char *data;
	long len;

	if ((len = BIO_get_mem_data(bio, &data)) <= 0) {
		ca_warn(path);
		return (-1);
	}
	if (refx_file_write(path, data, (size_t)len, mode, exclusive)) {
		log_warn("%s", path);
		return (-1);
	}
	return (0);
}

/**
 * ca_key_write(path, key, pass, exclusive): Write the private key ${key}
 * to ${path} (mode 0600) as PKCS#8 PEM, encrypted with AES-256-CBC under
 * the NUL-terminated ${pass} if not NULL.  Memory holding the key is
 * wiped.  With ${exclusive}, fail if ${path} exists.  Return 0 or -1.
 */
int
ca_key_write(const char *path, EVP_PKEY *key, const char *pass, int exclusive)
{
	PKCS8_PRIV_KEY_INFO *p8;
	X509_SIG *enc;
	BIO *bio;
	size_t passlen;
	int saved;

	/* A secure-memory BIO wipes what it frees, growth included. */
	if ((bio = BIO_new(BIO_s_secmem())) == NULL)
		goto err0;
	if (pass == NULL) {
		if (!PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL,
		    NULL))
			goto err1;
	} else {
		/* PBES2: PBKDF2-HMAC-SHA256 and AES-256-CBC. */
		if ((passlen = strlen(pass)) == 0 || passlen > CA_PASS_MAX)
			goto err1;
		if ((p8 = EVP_PKEY2PKCS8(key)) == NULL)
			goto err1;
		enc = PKCS8_encrypt(-1, EVP_aes_256_cbc(), pass, (int)passlen,
		    NULL, 0, CA_PBKDF2_ITER, p8);
		PKCS8_PRIV_KEY_INFO_free(p8);
		if (enc == NULL)
			goto err1;
		if (!PEM_write_bio_PKCS8(bio, enc)) {
			X509_SIG_free(enc);
			goto err1;
		}
		X509_SIG_free(enc);
	}
	if (bio_write_file(bio, path, 0600, exclusive))
		goto err2;
	BIO_free(bio);
	return (0);

err2:
	saved = errno;
	BIO_free(bio);
	errno = saved;
	return (-1);
err1:
	BIO_free(bio);
err0:
	ca_warn("cannot encode the private key");
	errno = EINVAL;
	return (-1);
}

/* Hand the passphrase to OpenSSL without its terminal prompt. */
struct pass {
	const char	*p_pass;
};

static int
pass_cb(char *buf, int size, int rwflag, void *u)
{
	const struct pass *p = u;
	size_t n;

	(void)rwflag;
	if (p->p_pass == NULL || (n = strlen(p->p_pass)) > (size_t)size)
		return (-1);
	memcpy(buf, p->p_pass, n);
	return ((int)n);
}

/**
 * ca_key_read(path, pass): Read a PEM private key, decrypting it with
 * ${pass} if it is encrypted (never prompting).  Return it or NULL.
 */
EVP_PKEY *
ca_key_read(const char *path, const char *pass)
{
	struct pass p = { pass };
	uint8_t *data;
	size_t len;
	BIO *bio;
	EVP_PKEY *k = NULL;

	if (refx_file_read(path, KEY_FILE_MAX, &data, &len)) {
		log_warn("%s", path);
		return (NULL);
	}
	if (len > 0 && (bio = BIO_new_mem_buf(data, (int)len)) != NULL) {
		k = PEM_read_bio_PrivateKey(bio, NULL, pass_cb, &p);
		BIO_free(bio);
	}
	refx_wipe(data, len);
	free(data);
	if (k == NULL) {
		ca_warn(path);
		errno = EINVAL;
	}
	return (k);
}

/** ca_cert_write(path, cert, exclusive): Write PEM, mode 0644.  0 or -1. */
int
ca_cert_write(const char *path, X509 *cert, int exclusive)
{
	BIO *bio;
	int rc = -1, saved;

	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_X509(bio, cert)) {
		BIO_free(bio);
		ca_warn(path);
		errno = EINVAL;
		return (-1);
	}
	rc = bio_write_file(bio, path, 0644, exclusive);
	saved = errno;
	BIO_free(bio);
	errno = saved;
	return (rc);
}

/** ca_crl_write(path, crl): Write a PEM CRL, mode 0644.  0 or -1. */
int
ca_crl_write(const char *path, X509_CRL *crl)
{
	BIO *bio;
	int rc = -1, saved;

	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_X509_CRL(bio, crl)) {
		BIO_free(bio);
		ca_warn(path);
		errno = EINVAL;
		return (-1);
	}
	rc = bio_write_file(bio, path, 0644, 0);
	saved = errno;
	BIO_free(bio);
	errno = saved;
	return (rc);
}

/** ca_cert_pem(cert, pem, len): Encode PEM (caller frees).  0 or -1. */
int
ca_cert_pem(X509 *cert, char **pem, size_t *len)
{
	BIO *bio;
	char *data;
	long n;

	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_X509(bio, cert) ||
	    (n = BIO_get_mem_data(bio, &data)) <= 0)
		goto err1;
	if ((*pem = malloc((size_t)n + 1)) == NULL)
		goto err1;
	memcpy(*pem, data, (size_t)n);
	(*pem)[n] = '\0';
	*len = (size_t)n;
	BIO_free(bio);
	return (0);

err1:
	BIO_free(bio);
	ca_warn("cannot encode a certificate");
	return (-1);
}

/* Convert an ASN1_TIME to seconds since the epoch. */
static int
asn1_time(const ASN1_TIME *a, time_t *t)
{
	struct tm tm;

	if (a == NULL || !ASN1_TIME_to_tm(a, &tm))
		return (-1);
	if ((*t = timegm(&tm)) == (time_t)-1)
		return (-1);
	return (0);
}

/** ca_validity(cert, nb, na): Get notBefore and notAfter.  0 or -1. */
int
ca_validity(const X509 *cert, time_t *nb, time_t *na)
{

	if (asn1_time(X509_get0_notBefore(cert), nb) ||
	    asn1_time(X509_get0_notAfter(cert), na)) {
		ERR_clear_error();
		return (-1);
	}
	return (0);
}

static const struct {
	const char	*name;
	int		 code;
} reasons[] = {
	{ "unspecified", CRL_REASON_UNSPECIFIED },
	{ "keyCompromise", CRL_REASON_KEY_COMPROMISE },
	{ "affiliationChanged", CRL_REASON_AFFILIATION_CHANGED },
	{ "superseded", CRL_REASON_SUPERSEDED },
	{ "cessationOfOperation", CRL_REASON_CESSATION_OF_OPERATION },
};

/** ca_reason_parse(s, reason): Parse a revocation reason.  0 or -1. */
int
ca_reason_parse(const char *s, int *reason)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcmp(s, reasons[i].name) == 0) {
			*reason = reasons[i].code;
			return (0);
		}
	return (-1);
}

/** ca_reason_name(reason): Return its name, or NULL if not one we use. */
const char *
ca_reason_name(int reason)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == reason)
			return (reasons[i].name);
	return (NULL);
}

/** ca_time_format(t, out): Write ${t} as "YYYY-MM-DDTHH:MM:SSZ". */
void
ca_time_format(time_t t, char out[CA_TIME_LEN])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, CA_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, CA_TIME_LEN, "?");
}

/* Parse ${n} decimal digits at ${s}. */
static int
digits(const char *s, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		*v = *v * 10 + (s[i] - '0');
	}
	return (0);
}

/*
 * Parse "YYYY-MM-DD" and, if ${full}, "THH:MM:SSZ" after it; reject
 * dates that do not exist (timegm would roll 02-30 into March).
 */
static int
parse_time(const char *s, int full, time_t *t)
{
	struct tm tm, back;
	int y, mo, d, h = 0, mi = 0, sec = 0;

	if (strlen(s) != (full ? 20U : 10U))
		return (-1);
	if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
	    s[7] != '-' || digits(s + 8, 2, &d))
		return (-1);
	if (full && (s[10] != 'T' || digits(s + 11, 2, &h) || s[13] != ':' ||
	    digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &sec) ||
	    s[19] != 'Z'))
		return (-1);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 59)
		return (-1);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if ((*t = timegm(&tm)) == (time_t)-1 || gmtime_r(t, &back) == NULL ||
	    back.tm_mday != d || back.tm_mon != mo - 1)
		return (-1);
	return (0);
}

/** ca_time_parse(s, t): Parse what ca_time_format writes.  0 or -1. */
int
ca_time_parse(const char *s, time_t *t)
{

	return (parse_time(s, 1, t));
}

/** ca_date_parse(s, t): Parse "YYYY-MM-DD" as 00:00:00Z.  0 or -1. */
int
ca_date_parse(const char *s, time_t *t)
{

	return (parse_time(s, 0, t));
}
