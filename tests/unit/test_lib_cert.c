/*
 * lib/cert.c: parsing and verifying the exchange's certificates.
 *
 * The certificates are real ones, made with refx-pki's pki/ca.c (included
 * here, as this binary links librefx only) and written to and read back
 * from a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "refx/buf.h"
#include "refx/cert.h"
#include "refx/file.h"
#include "refx/log.h"
#include "refx/secret.h"

#include "../../pki/ca.c"

#define DAY	86400L

/* One CA: its key, certificate and an empty CRL. */
struct ca {
	EVP_PKEY	*key;
	X509		*crt;
	X509_CRL	*crl;
};

struct test_context {
	char		 dir[64];
	struct ca	 ca;		/* the exchange's CA */
	struct ca	 twin;		/* another CA with the same name */
	struct ca	 other;		/* another CA with another name */
	time_t		 now;
};

/* Make a CA named ${name} with an empty CRL. */
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
	assert_non_null(ca->crl = ca_make_crl(ca->crt, ca->key, NULL, 0, 1,
	    now, 30));
}

static void
ca_teardown(struct ca *ca)
{

	X509_CRL_free(ca->crl);
	X509_free(ca->crt);
	EVP_PKEY_free(ca->key);
}

static int
setup(void **state)
{
	struct test_context *ctx;

	assert_non_null(ctx = calloc(1, sizeof(*ctx)));
	snprintf(ctx->dir, sizeof(ctx->dir), "/tmp/test_lib_cert.XXXXXX");
	assert_non_null(mkdtemp(ctx->dir));
	ctx->now = time(NULL);
	ca_setup(&ctx->ca, "Test", ctx->now);
	ca_setup(&ctx->twin, "Test", ctx->now);
	ca_setup(&ctx->other, "Elsewhere", ctx->now);
	*state = ctx;
	return (0);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{

	(void)sb;
	(void)flag;
	(void)ftw;
	return (remove(path));
}

static int
teardown(void **state)
{
	struct test_context *ctx = *state;

	ca_teardown(&ctx->ca);
	ca_teardown(&ctx->twin);
	ca_teardown(&ctx->other);
	nftw(ctx->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(ctx);
	return (0);
}

/* Issue what ${ca} issues, for ${key}, valid from ${nb} for ${days}. */
static void
issue_init(struct ca_issue *ci, struct ca *ca, EVP_PKEY *key, time_t nb,
    long days)
{

	memset(ci, 0, sizeof(*ci));
	ci->ci_ca = ca->crt;
	ci->ci_cakey = ca->key;
	ci->ci_key = key;
	ci->ci_not_before = nb;
	ci->ci_days = days;
	assert_int_equal(ca_serial_new(ci->ci_serial), 0);
}

/* A person certificate from ${ca}, valid from ${nb}. */
static X509 *
person(struct ca *ca, time_t nb, long days)
{
	struct ca_issue ci;
	EVP_PKEY *k;
	X509 *x;

	assert_non_null(k = ca_keygen("ED25519"));
	issue_init(&ci, ca, k, nb, days);
	x = ca_make_person(&ci, "ludvika-school-1", REFX_KIND_SCHOOL,
	    REFX_ROLE_SUBMITTER, "anna.berg", "Anna Berg");
	EVP_PKEY_free(k);
	assert_non_null(x);
	return (x);
}

/* The same, written to a file and read back as a caller would. */
static X509 *
person_file(struct test_context *ctx, struct ca *ca, time_t nb, long days)
{
	char path[128];
	X509 *x, *y;

	x = person(ca, nb, days);
	snprintf(path, sizeof(path), "%s/person.crt", ctx->dir);
	assert_int_equal(ca_cert_write(path, x, 0), 0);
	X509_free(x);
	assert_non_null(y = refx_cert_read(path));
	return (y);
}

static X509 *
server(struct ca *ca, time_t nb)
{
	static const char *const dns[] = { "localhost" };
	static const char *const ip[] = { "127.0.0.1", "::1" };
	struct ca_issue ci;
	EVP_PKEY *k;
	X509 *x;

	assert_non_null(k = ca_keygen("ED25519"));
	issue_init(&ci, ca, k, nb, 365);
	x = ca_make_server(&ci, dns, 1, ip, 2);
	EVP_PKEY_free(k);
	assert_non_null(x);
	return (x);
}

/* A unit certificate; its X25519 key goes to ${kout} if not NULL. */
static X509 *
unit(struct ca *ca, time_t nb, EVP_PKEY **kout)
{
	struct ca_issue ci;
	EVP_PKEY *k;
	X509 *x;

	assert_non_null(k = ca_keygen("X25519"));
	issue_init(&ci, ca, k, nb, 730);
	x = ca_make_unit(&ci, "dalarna-bup", REFX_KIND_BUP,
	    "Region Dalarna, BUP");
	assert_non_null(x);
	if (kout != NULL)
		*kout = k;
	else
		EVP_PKEY_free(k);
	return (x);
}

/* Check that verifying fails with exactly ${reason}. */
static void
assert_refused(X509 *ca, X509_CRL *crl, X509 *x,
    enum refx_cert_purpose purpose, const char *reason)
{
	const char *why = NULL;

	assert_int_equal(refx_cert_verify(ca, crl, x, purpose, &why),
	    REFX_ECRYPTO);
	assert_non_null(why);
	assert_string_equal(why, reason);
}

static void
assert_accepted(X509 *ca, X509_CRL *crl, X509 *x,
    enum refx_cert_purpose purpose)
{
	const char *why = "unset";

	assert_int_equal(refx_cert_verify(ca, crl, x, purpose, &why),
	    REFX_OK);
	assert_null(why);
}

static void
test_person_valid(void **state)
{
	struct test_context *ctx = *state;
	struct refx_identity id;
	uint8_t fp[REFX_FINGERPRINT_LEN], sn[CA_SERIAL_LEN + 1];
	unsigned char *der = NULL;
	unsigned int n;
	const char *why = NULL;
	BIGNUM *bn;
	X509 *x;
	int len;

	x = person_file(ctx, &ctx->ca, ctx->now - 300, 180);
	assert_accepted(ctx->ca.crt, ctx->ca.crl, x, REFX_CERT_PERSON);
	assert_accepted(ctx->ca.crt, NULL, x, REFX_CERT_PERSON);

	/* The identity is the subject's, attribute by attribute. */
	assert_int_equal(refx_cert_person(x, &id, &why), REFX_OK);
	assert_string_equal(id.id_agency, "ludvika-school-1");
	assert_int_equal(id.id_kind, REFX_KIND_SCHOOL);
	assert_int_equal(id.id_role, REFX_ROLE_SUBMITTER);
	assert_string_equal(id.id_person, "anna.berg");
	assert_string_equal(id.id_name, "Anna Berg");

	/* Fingerprint: SHA-256 of the DER, computed independently. */
	assert_true((len = i2d_X509(x, &der)) > 0);
	assert_int_equal(EVP_Digest(der, (size_t)len, fp, &n, EVP_sha256(),
	    NULL), 1);
	OPENSSL_free(der);
	assert_memory_equal(id.id_fingerprint, fp, sizeof(fp));
	assert_int_equal(refx_cert_fingerprint(x, fp), 0);
	assert_memory_equal(id.id_fingerprint, fp, sizeof(fp));

	/* Serial: the certificate's, big-endian. */
	assert_non_null(bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x),
	    NULL));
	assert_int_equal(id.id_serial_len, (size_t)BN_num_bytes(bn));
	BN_bn2bin(bn, sn);
	assert_memory_equal(id.id_serial, sn, id.id_serial_len);
	BN_free(bn);
	X509_free(x);
}

static void
test_other_ca(void **state)
{
	struct test_context *ctx = *state;
	X509 *x, *y;
	const char *why;

	/* Another CA's name: no issuer found. */
	x = person(&ctx->other, ctx->now - 300, 180);
	assert_refused(ctx->ca.crt, NULL, x, REFX_CERT_PERSON,
	    "not issued by this exchange's CA");
	X509_free(x);

	/* The same name but another key: still refused. */
	y = person(&ctx->twin, ctx->now - 300, 180);
	assert_int_equal(refx_cert_verify(ctx->ca.crt, ctx->ca.crl, y,
	    REFX_CERT_PERSON, &why), REFX_ECRYPTO);
	assert_non_null(why);
	assert_accepted(ctx->twin.crt, ctx->twin.crl, y, REFX_CERT_PERSON);
	X509_free(y);

	/* A self-signed certificate. */
	assert_refused(ctx->ca.crt, NULL, ctx->twin.crt, REFX_CERT_PERSON,
	    "not issued by this exchange's CA");
}

static void
test_expired(void **state)
{
	struct test_context *ctx = *state;
	time_t nb;
	X509 *x;

	/* As `user add --valid-from 2020-01-01 --days 30` makes it. */
	assert_int_equal(ca_date_parse("2020-01-01", &nb), 0);
	x = person_file(ctx, &ctx->ca, nb, 30);
	assert_refused(ctx->ca.crt, ctx->ca.crl, x, REFX_CERT_PERSON,
	    "certificate expired");
	X509_free(x);
}

static void
test_not_yet_valid(void **state)
{
	struct test_context *ctx = *state;
	X509 *x;

	x = person_file(ctx, &ctx->ca, ctx->now + 10 * DAY, 30);
	assert_refused(ctx->ca.crt, ctx->ca.crl, x, REFX_CERT_PERSON,
	    "certificate not yet valid");
	X509_free(x);
}

static void
test_revoked(void **state)
{
	struct test_context *ctx = *state;
	struct ca_revoked r;
	char serial[CA_SERIAL_HEX_MAX + 1], path[128];
	X509_CRL *crl, *forged, *back;
	X509 *x;

	x = person(&ctx->ca, ctx->now - 300, 180);
	assert_int_equal(ca_cert_serial(x, serial), 0);
	r.cr_serial = serial;
	r.cr_when = ctx->now;
	r.cr_reason = CRL_REASON_KEY_COMPROMISE;
	assert_non_null(crl = ca_make_crl(ctx->ca.crt, ctx->ca.key, &r, 1, 2,
	    ctx->now, 30));

	/* Through a file, as refx reads it. */
	snprintf(path, sizeof(path), "%s/crl.pem", ctx->dir);
	assert_int_equal(ca_crl_write(path, crl), 0);
	assert_non_null(back = refx_crl_read(path));
	assert_refused(ctx->ca.crt, back, x, REFX_CERT_PERSON,
	    "certificate revoked");

	/* Only the CRL makes the difference. */
	assert_accepted(ctx->ca.crt, ctx->ca.crl, x, REFX_CERT_PERSON);

	/* An empty CRL in our CA's name but signed by another key fails. */
	assert_non_null(forged = ca_make_crl(ctx->twin.crt, ctx->twin.key,
	    NULL, 0, 3, ctx->now, 30));
	assert_refused(ctx->ca.crt, forged, x, REFX_CERT_PERSON,
	    "bad CRL signature");

	/* Another CA's CRL is no CRL for ours. */
	assert_refused(ctx->ca.crt, ctx->other.crl, x, REFX_CERT_PERSON,
	    "no CRL from this exchange's CA");
	X509_CRL_free(forged);
	X509_CRL_free(back);
	X509_CRL_free(crl);
	X509_free(x);
}

static void
test_crl_expired(void **state)
{
	struct test_context *ctx = *state;
	X509_CRL *crl;
	X509 *x;

	x = person(&ctx->ca, ctx->now - 300, 180);
	assert_non_null(crl = ca_make_crl(ctx->ca.crt, ctx->ca.key, NULL, 0,
	    2, ctx->now - 40 * DAY, 30));
	assert_refused(ctx->ca.crt, crl, x, REFX_CERT_PERSON, "CRL expired");
	X509_CRL_free(crl);
	X509_free(x);
}

static void
test_wrong_purpose(void **state)
{
	struct test_context *ctx = *state;
	const char *why;
	X509 *p, *s, *u;

	p = person(&ctx->ca, ctx->now - 300, 180);
	s = server(&ctx->ca, ctx->now - 300);
	u = unit(&ctx->ca, ctx->now - 300, NULL);

	/* Each verifies for its own purpose. */
	assert_accepted(ctx->ca.crt, ctx->ca.crl, p, REFX_CERT_PERSON);
	assert_accepted(ctx->ca.crt, ctx->ca.crl, s, REFX_CERT_SERVER);
	assert_accepted(ctx->ca.crt, ctx->ca.crl, u, REFX_CERT_UNIT);

	/* And for no other. */
	assert_refused(ctx->ca.crt, ctx->ca.crl, s, REFX_CERT_PERSON,
	    "wrong certificate purpose");
	assert_refused(ctx->ca.crt, ctx->ca.crl, p, REFX_CERT_SERVER,
	    "wrong certificate purpose");
	assert_refused(ctx->ca.crt, ctx->ca.crl, p, REFX_CERT_UNIT,
	    "wrong key type for certificate purpose");
	assert_refused(ctx->ca.crt, ctx->ca.crl, u, REFX_CERT_PERSON,
	    "wrong certificate purpose");
	assert_refused(ctx->ca.crt, ctx->ca.crl, u, REFX_CERT_SERVER,
	    "wrong certificate purpose");

	/* The CA certificate is no person. */
	assert_int_equal(refx_cert_verify(ctx->ca.crt, ctx->ca.crl,
	    ctx->ca.crt, REFX_CERT_PERSON, &why), REFX_ECRYPTO);
	X509_free(u);
	X509_free(s);
	X509_free(p);
}

/*
 * Sign a certificate for ${k} with the extensions ${ext} and check that
 * OpenSSL's chain verification accepts it (no purpose asked) but
 * refx_cert_verify refuses it for ${purpose}.
 */
static void
by_hand(struct test_context *ctx, struct ca_issue *ci, EVP_PKEY *k,
    const char *const *ext, enum refx_cert_purpose purpose)
{
	X509_STORE *st;
	X509_STORE_CTX *sc;
	X509 *x;

	assert_non_null(x = cert_new(ci, k));
	assert_int_equal(name_add(X509_get_subject_name(x), NID_commonName,
	    "x"), 0);
	assert_int_equal(cert_finish(x, ci, ext), 0);
	assert_non_null(st = X509_STORE_new());
	assert_int_equal(X509_STORE_add_cert(st, ctx->ca.crt), 1);
	assert_non_null(sc = X509_STORE_CTX_new());
	assert_int_equal(X509_STORE_CTX_init(sc, st, x, NULL), 1);
	assert_int_equal(X509_verify_cert(sc), 1);
	X509_STORE_CTX_free(sc);
	X509_STORE_free(st);
	assert_refused(ctx->ca.crt, ctx->ca.crl, x, purpose,
	    "wrong certificate purpose");
	X509_free(x);
}

/*
 * A certificate signed by our CA with a unit's EKU but an Ed25519 key,
 * and one with a unit's key but clientAuth: built by hand, as refx-pki
 * never makes them.
 */
static void
test_purpose_by_hand(void **state)
{
	static const char *const unit_ed[] = {
		"basicConstraints", "critical,CA:FALSE",
		"keyUsage", "critical,keyAgreement",
		"extendedKeyUsage", REFX_OID_EKU_UNIT_ENC,
		NULL,
	};
	static const char *const both[] = {
		"basicConstraints", "critical,CA:FALSE",
		"keyUsage", "critical,digitalSignature",
		"extendedKeyUsage", "clientAuth,serverAuth",
		NULL,
	};
	static const char *const no_eku[] = {
		"basicConstraints", "critical,CA:FALSE",
		"keyUsage", "critical,digitalSignature",
		NULL,
	};
	static const char *const ca_leaf[] = {
		"basicConstraints", "critical,CA:TRUE",
		"keyUsage", "critical,digitalSignature",
		"extendedKeyUsage", "clientAuth",
		NULL,
	};
	static const char *const ka_client[] = {
		"basicConstraints", "critical,CA:FALSE",
		"keyUsage", "critical,keyAgreement",
		"extendedKeyUsage", "clientAuth",
		NULL,
	};
	static const char *const no_ku[] = {
		"basicConstraints", "critical,CA:FALSE",
		"extendedKeyUsage", "clientAuth",
		NULL,
	};
	static const char *const ds_unit[] = {
		"basicConstraints", "critical,CA:FALSE",
		"keyUsage", "critical,digitalSignature",
		"extendedKeyUsage", REFX_OID_EKU_UNIT_ENC,
		NULL,
	};
	struct test_context *ctx = *state;
	struct ca_issue ci;
	EVP_PKEY *k;
	X509 *x;

	assert_non_null(k = ca_keygen("ED25519"));
	issue_init(&ci, &ctx->ca, k, ctx->now - 300, 30);

	assert_non_null(x = cert_new(&ci, k));
	assert_int_equal(name_add(X509_get_subject_name(x), NID_commonName,
	    "x"), 0);
	assert_int_equal(cert_finish(x, &ci, unit_ed), 0);
	assert_refused(ctx->ca.crt, NULL, x, REFX_CERT_UNIT,
	    "wrong key type for certificate purpose");
	X509_free(x);

	/* One certificate may not be both client and server. */
	assert_non_null(x = cert_new(&ci, k));
	assert_int_equal(name_add(X509_get_subject_name(x), NID_commonName,
	    "x"), 0);
	assert_int_equal(cert_finish(x, &ci, both), 0);
	assert_refused(ctx->ca.crt, NULL, x, REFX_CERT_PERSON,
	    "wrong certificate purpose");
	X509_free(x);

	/* No EKU at all is no purpose (OpenSSL alone would allow it). */
	assert_non_null(x = cert_new(&ci, k));
	assert_int_equal(name_add(X509_get_subject_name(x), NID_commonName,
	    "x"), 0);
	assert_int_equal(cert_finish(x, &ci, no_eku), 0);
	assert_refused(ctx->ca.crt, NULL, x, REFX_CERT_PERSON,
	    "wrong certificate purpose");
	X509_free(x);

	/* The rest: each must be refused by our checks, not OpenSSL's. */
	by_hand(ctx, &ci, k, ca_leaf, REFX_CERT_PERSON);
	by_hand(ctx, &ci, k, ka_client, REFX_CERT_PERSON);
	by_hand(ctx, &ci, k, no_ku, REFX_CERT_PERSON);
	EVP_PKEY_free(k);
	assert_non_null(k = ca_keygen("X25519"));
	ci.ci_key = k;
	by_hand(ctx, &ci, k, ds_unit, REFX_CERT_UNIT);
	EVP_PKEY_free(k);
}

static void
test_unit(void **state)
{
	struct test_context *ctx = *state;
	struct refx_unit u;
	struct refx_identity id;
	uint8_t raw[REFX_X25519_LEN];
	size_t len = sizeof(raw);
	const char *why = NULL;
	EVP_PKEY *k;
	X509 *x;

	x = unit(&ctx->ca, ctx->now - 300, &k);
	assert_accepted(ctx->ca.crt, ctx->ca.crl, x, REFX_CERT_UNIT);
	assert_int_equal(refx_cert_unit(x, &u, &why), REFX_OK);
	assert_string_equal(u.u_id, "dalarna-bup");
	assert_int_equal(u.u_kind, REFX_KIND_BUP);
	assert_string_equal(u.u_name, "Region Dalarna, BUP");

	/* The X25519 key in the certificate is the one generated. */
	assert_int_equal(EVP_PKEY_get_raw_public_key(k, raw, &len), 1);
	assert_int_equal(len, REFX_X25519_LEN);
	assert_memory_equal(u.u_x25519, raw, REFX_X25519_LEN);

	/* A unit is not a person, and a person not a unit. */
	assert_int_equal(refx_cert_person(x, &id, &why), REFX_EINVAL);
	EVP_PKEY_free(k);
	X509_free(x);
	x = person(&ctx->ca, ctx->now - 300, 180);
	assert_int_equal(refx_cert_unit(x, &u, &why), REFX_EINVAL);
	X509_free(x);
}

/*
 * A person certificate with the usual subject, less the attribute
 * ${drop_nid} and plus ${add_nid} = ${add_val} (NID_undef: none).
 */
static X509 *
odd_subject_n(struct test_context *ctx, int drop_nid, int add_nid,
    const char *add_val, int add_len)
{
	static const char *const ext[] = {
		"basicConstraints", "critical,CA:FALSE",
		"keyUsage", "critical,digitalSignature",
		"extendedKeyUsage", "clientAuth",
		NULL,
	};
	struct ca_issue ci;
	X509_NAME *n;
	EVP_PKEY *k;
	X509 *x;

	assert_non_null(k = ca_keygen("ED25519"));
	issue_init(&ci, &ctx->ca, k, ctx->now - 300, 30);
	assert_non_null(x = cert_new(&ci, k));
	n = X509_get_subject_name(x);
	if (drop_nid != NID_businessCategory)
		assert_int_equal(name_add(n, NID_businessCategory, "school"),
		    0);
	if (drop_nid != NID_organizationName)
		assert_int_equal(name_add(n, NID_organizationName,
		    "ludvika-school-1"), 0);
	if (drop_nid != NID_organizationalUnitName)
		assert_int_equal(name_add(n, NID_organizationalUnitName,
		    "admin"), 0);
	if (drop_nid != NID_userId)
		assert_int_equal(name_add(n, NID_userId, "anna.berg"), 0);
	if (drop_nid != NID_commonName)
		assert_int_equal(name_add(n, NID_commonName, "Anna Berg"), 0);
	if (add_nid != NID_undef)
		assert_int_equal(X509_NAME_add_entry_by_NID(n, add_nid,
		    V_ASN1_UTF8STRING, (const unsigned char *)add_val, add_len,
		    -1, 0), 1);
	assert_int_equal(cert_finish(x, &ci, ext), 0);
	EVP_PKEY_free(k);
	return (x);
}

static X509 *
odd_subject(struct test_context *ctx, int drop_nid, int add_nid,
    const char *add_val)
{

	return (odd_subject_n(ctx, drop_nid, add_nid, add_val, -1));
}

static void
test_person_subject(void **state)
{
	struct test_context *ctx = *state;
	struct refx_identity id;
	const char *why;
	X509 *x;

	/* The control: built the same way, accepted. */
	x = odd_subject(ctx, NID_undef, NID_undef, NULL);
	assert_int_equal(refx_cert_person(x, &id, &why), REFX_OK);
	assert_int_equal(id.id_role, REFX_ROLE_ADMIN);
	X509_free(x);

	/* A second O, OU or UID could make two readers disagree. */
	x = odd_subject(ctx, NID_undef, NID_organizationName, "dalarna-bup");
	assert_int_equal(refx_cert_person(x, &id, &why), REFX_EINVAL);
	assert_string_equal(why, "subject has a duplicate attribute");
	assert_string_equal(id.id_agency, "");
	X509_free(x);
	x = odd_subject(ctx, NID_undef, NID_organizationalUnitName,
	    "auditor");
	assert_int_equal(refx_cert_person(x, &id, &why), REFX_EINVAL);
	X509_free(x);
	x = odd_subject(ctx, NID_undef, NID_userId, "erik.lind");
	assert_int_equal(refx_cert_person(x, &id, &why), REFX_EINVAL);
	X509_free(x);

	/* Missing, unexpected or invalid attributes. */
	x = odd_subject(ctx, NID_userId, NID_undef, NULL);
	assert_int_equal(refx_cert_person(x, &id, &why), REFX_EINVAL);
	assert_string_equal(why, "subject UID (person id) missing or invalid");
	X509_free(x);
	x = odd_subject(ctx, NID_undef, NID_countryName, "SE");
	assert_int_equal(refx_cert_person(x, &id, &why), REFX_EINVAL);
	assert_string_equal(why, "subject has unexpected attributes");
	X509_free(x);
	x = odd_subject(ctx, NID_organizationalUnitName, NID_title, "admin");
	assert_int_equal(refx_cert_person(x, &id, &why), REFX_EINVAL);
	X509_free(x);
	x = odd_subject(ctx, NID_commonName, NID_commonName, "Anna\nBerg");
	assert_int_equal(refx_cert_person(x, &id, &why), REFX_EINVAL);
	X509_free(x);

	/* A NUL would show "Anna" to C and "Anna\0Mallory" to others. */
	x = odd_subject_n(ctx, NID_commonName, NID_commonName,
	    "Anna\0Mallory", 12);
	assert_int_equal(refx_cert_person(x, &id, &why), REFX_EINVAL);
	assert_string_equal(why, "subject attribute holds a NUL byte");
	X509_free(x);
}

static void
test_tampered_pem(void **state)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct test_context *ctx = *state;
	unsigned char *der = NULL, *der2;
	char *pem, *bad, *body, *end;
	size_t len, i;
	int dlen, dlen2, changed = 0;
	const char *why;
	X509 *x, *y;

	x = person(&ctx->ca, ctx->now - 300, 180);
	assert_int_equal(ca_cert_pem(x, &pem, &len), 0);
	assert_true((dlen = i2d_X509(x, &der)) > 0);
	assert_non_null(y = refx_cert_parse_pem((uint8_t *)pem, len));
	assert_accepted(ctx->ca.crt, NULL, y, REFX_CERT_PERSON);
	X509_free(y);

	/* Change each base64 character of the body in turn. */
	assert_non_null(bad = malloc(len + 1));
	body = strchr(pem, '\n') + 1;
	end = strstr(pem, "-----END");
	for (i = (size_t)(body - pem); i < (size_t)(end - pem); i++) {
		if (strchr(b64, pem[i]) == NULL)
			continue;
		memcpy(bad, pem, len + 1);
		bad[i] = pem[i] == 'A' ? 'B' : 'A';
		if ((y = refx_cert_parse_pem((uint8_t *)bad, len)) == NULL)
			continue;
		/* Padding bits may decode to the same DER: not a change. */
		der2 = NULL;
		dlen2 = i2d_X509(y, &der2);
		if (dlen2 == dlen && memcmp(der, der2, (size_t)dlen) == 0) {
			OPENSSL_free(der2);
			X509_free(y);
			continue;
		}
		OPENSSL_free(der2);
		changed++;
		assert_int_equal(refx_cert_verify(ctx->ca.crt, NULL, y,
		    REFX_CERT_PERSON, &why), REFX_ECRYPTO);
		X509_free(y);
	}
	assert_true(changed > 100);

	/* Truncated, empty and not PEM at all. */
	assert_null(refx_cert_parse_pem((uint8_t *)pem, len / 2));
	assert_null(refx_cert_parse_pem((const uint8_t *)"", 0));
	assert_null(refx_cert_parse_pem((const uint8_t *)"hello", 5));
	free(bad);
	free(pem);
	OPENSSL_free(der);
	X509_free(x);
}

static void
test_bundle(void **state)
{
	struct test_context *ctx = *state;
	struct refx_buf b;
	X509 *certs[4], *a, *u;
	char *pem;
	size_t len, n, i;

	a = unit(&ctx->ca, ctx->now - 300, NULL);
	u = unit(&ctx->ca, ctx->now - 300, NULL);
	refx_buf_init(&b, 1 << 20);
	assert_int_equal(ca_cert_pem(a, &pem, &len), 0);
	assert_int_equal(refx_buf_add(&b, pem, len), 0);
	free(pem);
	assert_int_equal(refx_buf_addstr(&b, "a comment between\n"), 0);
	assert_int_equal(ca_cert_pem(u, &pem, &len), 0);
	assert_int_equal(refx_buf_add(&b, pem, len), 0);
	free(pem);

	assert_int_equal(refx_cert_parse_pem_bundle(b.b_data, b.b_len, certs,
	    4, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(X509_cmp(certs[0], a), 0);
	assert_int_equal(X509_cmp(certs[1], u), 0);
	for (i = 0; i < n; i++)
		X509_free(certs[i]);

	/* Too many, or a truncated last one: nothing. */
	assert_int_equal(refx_cert_parse_pem_bundle(b.b_data, b.b_len, certs,
	    1, &n), -1);
	assert_int_equal(n, 0);
	assert_int_equal(refx_cert_parse_pem_bundle(b.b_data, b.b_len - 40,
	    certs, 4, &n), -1);
	assert_int_equal(n, 0);

	/* An empty directory is a valid one. */
	assert_int_equal(refx_cert_parse_pem_bundle(b.b_data, 0, certs, 4,
	    &n), 0);
	assert_int_equal(n, 0);
	refx_buf_free(&b);
	X509_free(a);
	X509_free(u);
}

static void
test_free_null(void **state)
{

	(void)state;
	refx_cert_free(NULL);
	refx_crl_free(NULL);
	assert_null(refx_cert_read("/nonexistent/x.crt"));
	assert_null(refx_crl_read("/nonexistent/crl.pem"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_person_valid, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_other_ca, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_yet_valid, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_revoked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crl_expired, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_wrong_purpose, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_purpose_by_hand, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_person_subject, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tampered_pem, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bundle, setup, teardown),
		cmocka_unit_test(test_free_null),
	};

	log_init("test_lib_cert", 0);
	if (refx_crypto_init())
		return (1);
	return (cmocka_run_group_tests_name("lib/cert.c", tests, NULL,
	    NULL));
}
