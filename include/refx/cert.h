#ifndef REFX_CERT_H
#define REFX_CERT_H

/*
 * Certificates of the exchange's PKI, read and checked with OpenSSL.
 * Used by refx-pki (which makes them) and refx (which checks the
 * directory's unit certificates before encrypting to them).  refxd reads
 * peer certificates with GnuTLS instead (server/tls.c).
 *
 * Only this module and pki/ include OpenSSL's X.509 headers; callers see
 * the OpenSSL types as incomplete structs.
 */
#include <stddef.h>
#include <stdint.h>

#include "refx/err.h"
#include "refx/identity.h"

struct x509_st;			/* OpenSSL X509 */
struct X509_crl_st;		/* OpenSSL X509_CRL */

#define REFX_X25519_LEN	32

/* What a certificate is for; each has its own EKU and key type. */
enum refx_cert_purpose {
	REFX_CERT_PERSON,	/* Ed25519, EKU clientAuth, a person's identity */
	REFX_CERT_SERVER,	/* Ed25519, EKU serverAuth */
	REFX_CERT_UNIT,		/* X25519, EKU REFX_OID_EKU_UNIT_ENC */
	REFX_CERT_AUDIT_LOG,	/* Ed25519, EKU REFX_OID_EKU_AUDIT_LOG */
};

/* A unit (agency function address) and its certified encryption key. */
struct refx_unit {
	char		u_id[REFX_AGENCY_ID_MAX + 1];
	enum refx_kind	u_kind;
	char		u_name[REFX_NAME_MAX + 1];
	uint8_t		u_x25519[REFX_X25519_LEN];
	uint8_t		u_fingerprint[REFX_FINGERPRINT_LEN];
};

/**
 * refx_cert_parse_pem(pem, len): Parse one PEM certificate.  Return it
 * (free with refx_cert_free) or NULL.
 */
struct x509_st *refx_cert_parse_pem(const uint8_t *, size_t);

/**
 * refx_cert_parse_pem_bundle(pem, len, certs, max, n): Parse a
 * concatenation of PEM certificates (such as the exchange's directory)
 * into ${certs}, at most ${max} of them, and set ${n} to their number.
 * Text between certificates is ignored.  Return 0, or -1 if one is
 * malformed or there are more than ${max} (nothing is left allocated).
 */
int refx_cert_parse_pem_bundle(const uint8_t *, size_t, struct x509_st **,
    size_t, size_t *);

/** refx_cert_read(path): Read one PEM certificate file.  As above. */
struct x509_st *refx_cert_read(const char *);

/** refx_cert_free(cert): Free ${cert}; NULL is a no-op. */
void refx_cert_free(struct x509_st *);

/** refx_crl_parse_pem(pem, len): Parse one PEM CRL.  Return it or NULL. */
struct X509_crl_st *refx_crl_parse_pem(const uint8_t *, size_t);

/**
 * refx_crl_check(ca, crl, number, why): Check that ${crl} is signed by
 * ${ca} and return its CRL number in ${number}, so that a client can
 * refuse a CRL older than one it has seen.  REFX_OK or REFX_ECRYPTO.
 */
enum refx_err refx_crl_check(struct x509_st *, struct X509_crl_st *,
    uint64_t *, const char **);

/** refx_crl_read(path): Read a PEM CRL file.  Return it or NULL. */
struct X509_crl_st *refx_crl_read(const char *);

/** refx_crl_free(crl): Free ${crl}; NULL is a no-op. */
void refx_crl_free(struct X509_crl_st *);

/**
 * refx_cert_verify(ca, crl, cert, purpose, why): Check that ${cert} was
 * issued by ${ca}, is within its validity dates, is not revoked by ${crl}
 * (if not NULL; the CRL's own signature is checked too), and has the key
 * type and extended key usage of ${purpose}.  Return REFX_OK, or
 * REFX_ECRYPTO with a static reason in ${why}.
 */
enum refx_err refx_cert_verify(struct x509_st *, struct X509_crl_st *,
    struct x509_st *, enum refx_cert_purpose, const char **);

/** refx_cert_fingerprint(cert, out): SHA-256 of the DER.  Return 0 or -1. */
int refx_cert_fingerprint(struct x509_st *, uint8_t[REFX_FINGERPRINT_LEN]);

/**
 * refx_cert_person(cert, id, why): Fill ${id} (names, fingerprint and
 * serial) from a person certificate's subject.  Does not verify: call
 * refx_cert_verify first.  Return REFX_OK or REFX_EINVAL with ${why}.
 */
enum refx_err refx_cert_person(struct x509_st *, struct refx_identity *,
    const char **);

/**
 * refx_cert_unit(cert, unit, why): Fill ${unit} from a unit encryption
 * certificate, including its raw X25519 public key.  Does not verify.
 * Return REFX_OK or REFX_EINVAL with ${why}.
 */
enum refx_err refx_cert_unit(struct x509_st *, struct refx_unit *,
    const char **);

/**
 * refx_cert_audit_log(cert, origin, originlen, pk, why): The origin (the
 * subject CN) and raw Ed25519 public key of an audit log's certificate.
 * Does not verify.  Return REFX_OK or REFX_EINVAL with ${why}.
 */
enum refx_err refx_cert_audit_log(struct x509_st *, char *, size_t,
    uint8_t[32], const char **);

#endif /* !REFX_CERT_H */
