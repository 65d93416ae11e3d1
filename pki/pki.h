#ifndef REFX_PKI_H
#define REFX_PKI_H

/*
 * refx-pki internals.
 *
 *   ca.c     makes keys, certificates and CRLs, and reads and writes them;
 *            pure functions of their arguments, no directory layout
 *   index.c  index.json: what was issued, and the CRL number
 *   dir.c    the commands, run on a PKI directory under its lock
 *   main.c   argv -> dir.c
 *
 * The functions of ca.c and index.c log their own failures (once, where
 * detected) and return 0/-1 or NULL with errno set where it means
 * something; dir.c returns sysexits(3) codes.
 *
 * WARNING: the CA private key is loaded only here.  Nothing in this
 * directory may be linked into refxd.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "refx/identity.h"

#define CA_SERIAL_LEN		16	/* random bytes, top bit cleared */
#define CA_SERIAL_HEX_MAX	(2 * REFX_SERIAL_MAX)
#define CA_TIME_LEN		21	/* "2025-01-31T12:00:00Z" and NUL */
#define CA_DAYS_MAX		36500
#define CA_SAN_MAX		1024	/* "DNS:a,IP:b" as kept in the index */
#define CA_SAN_COUNT		32	/* names of each type */
#define CA_PASS_MAX		1024	/* bytes of a key passphrase */
#define CA_PBKDF2_ITER		600000	/* PBKDF2-HMAC-SHA256 for key files */

/* What a certificate issued by refx-pki is for. */
enum pki_type {
	PKI_PERSON,
	PKI_UNIT,
	PKI_SERVER,
	PKI_TYPE_COUNT
};

/* --- ca.c ---------------------------------------------------------------- */

/* What every certificate needs, whoever it is for. */
struct ca_issue {
	X509		*ci_ca;		/* issuer; NULL makes the CA itself */
	EVP_PKEY	*ci_cakey;	/* issuer's Ed25519 private key */
	EVP_PKEY	*ci_key;	/* subject's public key */
	uint8_t		 ci_serial[CA_SERIAL_LEN];
	time_t		 ci_not_before;
	long		 ci_days;	/* notAfter = notBefore + days */
};

/* One entry of a CRL. */
struct ca_revoked {
	const char	*cr_serial;	/* canonical hex */
	time_t		 cr_when;
	int		 cr_reason;	/* CRL_REASON_* */
};

/** ca_warn(what): Log ${what} and OpenSSL's last error, then clear them. */
void ca_warn(const char *);

/** ca_keygen(alg): Make an "ED25519" or "X25519" key.  Return it or NULL. */
EVP_PKEY *ca_keygen(const char *);

/**
 * ca_serial_new(serial): Fill ${serial} with random bytes, top bit clear
 * (positive) and not all zero.  Return 0 or -1.
 */
int ca_serial_new(uint8_t[CA_SERIAL_LEN]);

/**
 * ca_serial_hex(serial, len, out): Write the canonical form of a serial
 * number (lower-case hex of the big-endian value, no leading zero bytes)
 * to ${out}.  Return 0, or -1 if it is zero or too long.
 */
int ca_serial_hex(const uint8_t *, size_t, char[CA_SERIAL_HEX_MAX + 1]);

/** ca_cert_serial(cert, out): The serial of ${cert}, as ca_serial_hex. */
int ca_cert_serial(X509 *, char[CA_SERIAL_HEX_MAX + 1]);

/**
 * ca_serial_parse(s, out): Parse a serial typed by a person (hex, any
 * case, optional colons and leading zeros) into canonical form.  Return
 * 0 or -1.
 */
int ca_serial_parse(const char *, char[CA_SERIAL_HEX_MAX + 1]);

/**
 * ca_make_root(ci, name): Make the self-signed CA certificate "${name}
 * refx CA" for the key ${ci}->ci_cakey (ci_ca and ci_key are ignored).
 * Return it or NULL.
 */
X509 *ca_make_root(const struct ca_issue *, const char *);

/**
 * ca_make_person(ci, agency, kind, role, person, name): Make a person's
 * client certificate (EKU clientAuth) for the Ed25519 key ${ci}->ci_key.
 * Return it or NULL.
 */
X509 *ca_make_person(const struct ca_issue *, const char *, enum refx_kind,
    enum refx_role, const char *, const char *);

/**
 * ca_make_unit(ci, id, kind, name): Make a unit's encryption certificate
 * (EKU REFX_OID_EKU_UNIT_ENC, keyAgreement) for the X25519 key
 * ${ci}->ci_key.  Return it or NULL.
 */
X509 *ca_make_unit(const struct ca_issue *, const char *, enum refx_kind,
    const char *);

/**
 * ca_make_server(ci, dns, ndns, ip, nip): Make the server certificate
 * (EKU serverAuth) with these subject alternative names, at least one in
 * all.  Return it or NULL.
 */
X509 *ca_make_server(const struct ca_issue *, const char *const *, size_t,
    const char *const *, size_t);

/**
 * ca_make_crl(ca, cakey, rev, n, number, now, days): Make and sign a v2
 * CRL listing the ${n} entries of ${rev}, with CRL number ${number},
 * thisUpdate ${now} and nextUpdate ${days} later.  Return it or NULL.
 */
X509_CRL *ca_make_crl(X509 *, EVP_PKEY *, const struct ca_revoked *,
    size_t, long, time_t, long);

/**
 * ca_make_audit_log(ci, origin): Make an audit log's checkpoint-signing
 * certificate (subject CN = the log's origin, EKU REFX_OID_EKU_AUDIT_LOG,
 * digitalSignature) for the Ed25519 key ${ci}->ci_key.  Return it or NULL.
 */
X509 *ca_make_audit_log(const struct ca_issue *, const char *);

/** ca_dns_valid(s): Return 1 if ${s} is a DNS host name we certify. */
int ca_dns_valid(const char *);

/** ca_ip_valid(s): Return 1 if ${s} is an IPv4 or IPv6 address. */
int ca_ip_valid(const char *);

/**
 * ca_key_write(path, key, pass, exclusive): Write the private key ${key}
 * to ${path} (mode 0600) as PKCS#8 PEM, encrypted with AES-256-CBC under
 * the NUL-terminated ${pass} if not NULL.  Memory holding the key is
 * wiped.  With ${exclusive}, fail if ${path} exists.  Return 0 or -1.
 */
int ca_key_write(const char *, EVP_PKEY *, const char *, int);

/**
 * ca_key_read(path, pass): Read a PEM private key, decrypting it with
 * ${pass} if it is encrypted (never prompting).  Return it or NULL.
 */
EVP_PKEY *ca_key_read(const char *, const char *);

/** ca_cert_write(path, cert, exclusive): Write PEM, mode 0644.  0 or -1. */
int ca_cert_write(const char *, X509 *, int);

/** ca_crl_write(path, crl): Write a PEM CRL, mode 0644.  0 or -1. */
int ca_crl_write(const char *, X509_CRL *);

/** ca_cert_pem(cert, pem, len): Encode PEM (caller frees).  0 or -1. */
int ca_cert_pem(X509 *, char **, size_t *);

/** ca_validity(cert, nb, na): Get notBefore and notAfter.  0 or -1. */
int ca_validity(const X509 *, time_t *, time_t *);

/** ca_reason_parse(s, reason): Parse a revocation reason.  0 or -1. */
int ca_reason_parse(const char *, int *);

/** ca_reason_name(reason): Return its name, or NULL if not one we use. */
const char *ca_reason_name(int);

/** ca_time_format(t, out): Write ${t} as "YYYY-MM-DDTHH:MM:SSZ". */
void ca_time_format(time_t, char[CA_TIME_LEN]);

/** ca_time_parse(s, t): Parse what ca_time_format writes.  0 or -1. */
int ca_time_parse(const char *, time_t *);

/** ca_date_parse(s, t): Parse "YYYY-MM-DD" as 00:00:00Z.  0 or -1. */
int ca_date_parse(const char *, time_t *);

/* --- index.c ------------------------------------------------------------- */

/* One certificate issued. */
struct index_entry {
	enum pki_type	ie_type;
	char		ie_serial[CA_SERIAL_HEX_MAX + 1];
	char		ie_agency[REFX_AGENCY_ID_MAX + 1];	/* O */
	enum refx_kind	ie_kind;			/* person, unit */
	enum refx_role	ie_role;			/* person */
	char		ie_person[REFX_PERSON_ID_MAX + 1];	/* UID */
	char		ie_name[REFX_NAME_MAX + 1];		/* CN */
	char		ie_san[CA_SAN_MAX + 1];			/* server */
	time_t		ie_not_before;
	time_t		ie_not_after;
	char		ie_fingerprint[2 * REFX_FINGERPRINT_LEN + 1];
	int		ie_revoked;
	time_t		ie_revoked_at;
	int		ie_reason;	/* CRL_REASON_* */
};

/* index.json in memory. */
struct index {
	struct index_entry	*ix_ent;
	size_t			 ix_n;
	size_t			 ix_alloc;
	long			 ix_crl_number;	/* of the current CRL */
};

/** index_init(ix): Make ${ix} empty. */
void index_init(struct index *);

/** index_free(ix): Free ${ix}; it may be initialised again. */
void index_free(struct index *);

/**
 * index_load(ix, path): Read and validate ${path} into the empty ${ix}.
 * Return 0, or -1 with errno = EINVAL if it is malformed, else as
 * refx_file_read.
 */
int index_load(struct index *, const char *);

/**
 * index_dump(ix): Return ${ix} as indented JSON ending in a newline
 * (caller frees), or NULL.
 */
char *index_dump(const struct index *);

/** index_save(ix, path): Write ${ix} atomically, mode 0600.  0 or -1. */
int index_save(const struct index *, const char *);

/** index_add(ix, e): Append a copy of ${e}.  Return 0 or -1. */
int index_add(struct index *, const struct index_entry *);

/** index_find_serial(ix, serial): The entry with that canonical serial. */
struct index_entry *index_find_serial(struct index *, const char *);

/**
 * index_find(ix, type, key, revoked): The last entry of ${type} for the
 * unit id (PKI_UNIT) or person id (PKI_PERSON) ${key} that is revoked or
 * not, as ${revoked} says; or NULL.
 */
struct index_entry *index_find(struct index *, enum pki_type, const char *,
    int);

/**
 * index_find_current(ix, type, key, now): As index_find, but the last
 * entry that is neither revoked nor expired at ${now}; or NULL.
 */
struct index_entry *index_find_current(struct index *, enum pki_type,
    const char *, time_t);

/** index_type_name(type): "person", "unit" or "server". */
const char *index_type_name(enum pki_type);

/* --- dir.c --------------------------------------------------------------- */

#define DIR_DAYS_CA	3650
#define DIR_DAYS_SERVER	365
#define DIR_DAYS_UNIT	730
#define DIR_DAYS_USER	180
#define DIR_DAYS_CRL	30
#define DIR_URL		"https://localhost:8443"
#define DIR_NAME	"Exchange"

/* Arguments of `user add`; unset ones are NULL or 0. */
struct dir_user {
	const char	*du_agency;
	const char	*du_role;
	const char	*du_name;
	const char	*du_person;	/* default: derived from du_name */
	long		 du_days;
	int		 du_valid_from_set;
	time_t		 du_valid_from;
	const char	*du_passfile;
	const char	*du_url;
};

/* What a command made, for main.c to print. */
struct dir_result {
	enum pki_type	dr_type;
	char		dr_serial[CA_SERIAL_HEX_MAX + 1];
	char		dr_id[REFX_PERSON_ID_MAX + 1];	/* person or unit */
	char		dr_cert[PATH_MAX];
	char		dr_key[PATH_MAX];
	char		dr_ini[PATH_MAX];
	char		dr_crl[PATH_MAX];
	long		dr_crl_number;
	char		dr_fingerprint[2 * REFX_FINGERPRINT_LEN + 1];
};

/**
 * dir_init(dir, name, days, res): Create the CA "${name} refx CA" in
 * ${dir}, an empty CRL, index and directory.  Return an exit status
 * (EX_CANTCREAT if ${dir} already holds a CA).
 */
int dir_init(const char *, const char *, long, struct dir_result *);

/**
 * dir_server(dir, dns, ndns, ip, nip, days, res): Issue (or renew) the
 * server certificate and key.  With no names, use localhost, 127.0.0.1
 * and ::1.  Return an exit status.
 */
int dir_server(const char *, const char *const *, size_t,
    const char *const *, size_t, long, struct dir_result *);

/**
 * dir_agency_add(dir, id, kind, name, days, res): Issue a unit's X25519
 * key and certificate and rewrite directory.pem.  Return an exit status.
 */
int dir_agency_add(const char *, const char *, const char *, const char *,
    long, struct dir_result *);

/**
 * dir_user_add(dir, u, res): Issue a person's key, certificate and client
 * configuration.  Return an exit status.
 */
int dir_user_add(const char *, const struct dir_user *, struct dir_result *);

/**
 * dir_revoke(dir, target, reason, res): Revoke the certificate named by
 * ${target} (a serial, a person id, "unit:ID", "serial:HEX" or
 * "person:ID") for ${reason} (NULL: unspecified), then rewrite the CRL
 * and, for a unit, directory.pem.  Return an exit status.
 */
int dir_revoke(const char *, const char *, const char *,
    struct dir_result *);

/**
 * dir_crl(dir, days, res): Issue a new CRL with the next CRL number.
 * Return an exit status.
 */
int dir_crl(const char *, long, struct dir_result *);

/**
 * dir_list(dir, json, type, out): Print what was issued to ${out}: the
 * index as JSON, or a table of the entries of ${type} (-1: all).  Return
 * an exit status.
 */
int dir_list(const char *, int, int, FILE *);

#endif /* !REFX_PKI_H */
