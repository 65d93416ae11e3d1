/*
 * refx-pki: the commands of pki/dir.c on a real directory, the index of
 * pki/index.c and the helpers of pki/ca.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "refx/buf.h"
#include "refx/cert.h"
#include "refx/file.h"
#include "refx/log.h"
#include "refx/secret.h"

#include "../../pki/pki.h"

/*
 * RAND_bytes as pki/ca.c sees it (this binary links with
 * -Wl,--wrap=RAND_bytes): scripted values first, then the real thing.
 * OpenSSL's own calls, inside libcrypto, are not affected.
 */
int __real_RAND_bytes(unsigned char *, int);
int __wrap_RAND_bytes(unsigned char *, int);

static struct {
	uint8_t	s_val[4][CA_SERIAL_LEN];
	int	s_n;
	int	s_next;
	int	s_calls;
} script;

int
__wrap_RAND_bytes(unsigned char *buf, int num)
{

	script.s_calls++;
	if (script.s_next < script.s_n && num == CA_SERIAL_LEN) {
		memcpy(buf, script.s_val[script.s_next++], CA_SERIAL_LEN);
		return (1);
	}
	return (__real_RAND_bytes(buf, num));
}

/* Queue ${hex} (up to 16 bytes, right-aligned) as the next serial. */
static void
script_add(const char *hex)
{
	uint8_t *v = script.s_val[script.s_n++];
	size_t n = strlen(hex), i;

	assert_true(n % 2 == 0 && n <= 2 * CA_SERIAL_LEN);
	memset(v, 0, CA_SERIAL_LEN);
	for (i = 0; i < n / 2; i++)
		assert_int_equal(sodium_hex2bin(&v[CA_SERIAL_LEN - n / 2 + i],
		    1, hex + 2 * i, 2, NULL, NULL, NULL), 0);
}

static void
script_reset(void)
{

	memset(&script, 0, sizeof(script));
}

struct test_context {
	char	dir[64];	/* the mkdtemp directory */
	char	pki[96];	/* the PKI directory inside it */
};

static int
setup(void **state)
{
	struct test_context *ctx;

	assert_non_null(ctx = calloc(1, sizeof(*ctx)));
	snprintf(ctx->dir, sizeof(ctx->dir), "/tmp/test_pki_ca.XXXXXX");
	assert_non_null(mkdtemp(ctx->dir));
	snprintf(ctx->pki, sizeof(ctx->pki), "%s/pki", ctx->dir);
	*state = ctx;
	return (0);
}

/* A CA with the three units of the operator's guide. */
static int
setup_units(void **state)
{
	struct test_context *ctx;
	struct dir_result r;

	setup(state);
	ctx = *state;
	assert_int_equal(dir_init(ctx->pki, "Test", 0, &r), 0);
	assert_int_equal(dir_agency_add(ctx->pki, "ludvika-school-1",
	    "school", "Ludvika kommun, Marnässkolan", 0, &r), 0);
	assert_int_equal(dir_agency_add(ctx->pki, "ludvika-ifo-intake", "ifo",
	    "Ludvika kommun, IFO mottagning", 0, &r), 0);
	assert_int_equal(dir_agency_add(ctx->pki, "dalarna-bup", "bup",
	    "Region Dalarna, BUP", 0, &r), 0);
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

	nftw(ctx->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(ctx);
	return (0);
}

/* "${ctx->pki}/${rel}" in a static buffer (one at a time). */
static const char *
at(struct test_context *ctx, const char *rel)
{
	static char buf[2][256];
	static int i;

	i = !i;
	assert_true((size_t)snprintf(buf[i], sizeof(buf[i]), "%s/%s",
	    ctx->pki, rel) < sizeof(buf[i]));
	return (buf[i]);
}

/* The permission bits of ${path}. */
static unsigned
mode_of(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return ((unsigned)(sb.st_mode & 07777));
}

static struct dir_user
user(const char *agency, const char *role, const char *name)
{
	struct dir_user u;

	memset(&u, 0, sizeof(u));
	u.du_agency = agency;
	u.du_role = role;
	u.du_name = name;
	return (u);
}

/* Load the index of ${ctx} into ${ix}. */
static void
load(struct test_context *ctx, struct index *ix)
{

	index_init(ix);
	assert_int_equal(index_load(ix, at(ctx, "index.json")), 0);
}

static void
test_init(void **state)
{
	static const char *const files[] = {
		"ca.key", "ca.crt", "crl.pem", "index.json",
	};
	struct test_context *ctx = *state;
	struct dir_result r;
	uint8_t *a[4], *b;
	size_t alen[4], blen, i;
	struct index ix;
	X509 *ca;

	/* A fresh CA; umask must not matter. */
	umask(0);
	assert_int_equal(dir_init(ctx->pki, "Test", 0, &r), 0);
	umask(077);
	assert_int_equal(mode_of(ctx->pki), 0700);
	assert_int_equal(mode_of(at(ctx, "ca.key")), 0600);
	assert_int_equal(mode_of(at(ctx, "ca.crt")), 0644);
	assert_int_equal(mode_of(at(ctx, "index.json")), 0600);
	assert_int_equal(mode_of(at(ctx, "units")), 0700);
	assert_int_equal(mode_of(at(ctx, "users")), 0700);
	assert_int_equal(access(at(ctx, "crl.pem"), R_OK), 0);
	assert_int_equal(access(at(ctx, "directory.pem"), R_OK), 0);

	/* The CA certificate: its own issuer, a CA, its name. */
	assert_non_null(ca = refx_cert_read(at(ctx, "ca.crt")));
	assert_int_equal(X509_check_ca(ca), 1);
	assert_int_equal(X509_check_issued(ca, ca), X509_V_OK);
	X509_free(ca);
	load(ctx, &ix);
	assert_int_equal(ix.ix_n, 0);
	assert_int_equal(ix.ix_crl_number, 1);
	index_free(&ix);

	/* A second init is refused and leaves every file alone. */
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		assert_int_equal(refx_file_read(at(ctx, files[i]), 1 << 16,
		    &a[i], &alen[i]), 0);
		assert_true(alen[i] > 0);
	}
	assert_int_equal(dir_init(ctx->pki, "Other", 0, &r), EX_CANTCREAT);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		assert_int_equal(refx_file_read(at(ctx, files[i]), 1 << 16,
		    &b, &blen), 0);
		assert_int_equal(alen[i], blen);
		assert_memory_equal(a[i], b, blen);
		free(a[i]);
		free(b);
	}

	/* Bad names and an uninitialised directory. */
	assert_int_equal(dir_init(at(ctx, "x"), "", 0, &r), EX_DATAERR);
	assert_int_equal(dir_init(at(ctx, "x"), "a\tb", 0, &r), EX_DATAERR);
	assert_int_equal(dir_crl(ctx->dir, 0, &r), EX_NOINPUT);
}

static void
test_ca_key_private(void **state)
{
	struct test_context *ctx = *state;
	struct dir_result r;

	assert_int_equal(dir_init(ctx->pki, NULL, 0, &r), 0);
	assert_int_equal(chmod(at(ctx, "ca.key"), 0640), 0);
	assert_int_equal(dir_crl(ctx->pki, 0, &r), EX_NOPERM);
	assert_int_equal(chmod(at(ctx, "ca.key"), 0600), 0);
	assert_int_equal(dir_crl(ctx->pki, 0, &r), 0);
}

static void
test_rejects(void **state)
{
	struct test_context *ctx = *state;
	struct dir_user u;
	struct dir_result r;
	struct index ix;

	/* Unknown agency, bad role, name, id, agency id. */
	u = user("nowhere", "submitter", "Anna Berg");
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), EX_DATAERR);
	u = user("ludvika-school-1", "principal", "Anna Berg");
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), EX_DATAERR);
	u = user("ludvika-school-1", "submitter", "Anna\nBerg");
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), EX_DATAERR);
	u = user("ludvika-school-1", "submitter", " Anna Berg");
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), EX_DATAERR);
	u = user("ludvika-school-1", "submitter", "Anna \xe2\x80\xae Berg");
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), EX_DATAERR);
	u = user("ludvika-school-1", "submitter", "Anna Berg");
	u.du_person = "Anna/../../etc";
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), EX_DATAERR);
	u = user("Ludvika_School", "submitter", "Anna Berg");
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), EX_DATAERR);
	u = user("ludvika-school-1", "submitter", "\xc3\xa5\xc3\xa4");
	u.du_person = NULL;
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), 0);	/* "aa" */
	u = user("ludvika-school-1", "submitter", "Anna Berg");
	u.du_url = "http://plain.example";
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), EX_DATAERR);
	u.du_url = "https://x.example/;inject";
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), EX_DATAERR);

	/* Units: bad kind, id, name; a duplicate. */
	assert_int_equal(dir_agency_add(ctx->pki, "x", "nurse", "X", 0, &r),
	    EX_DATAERR);
	assert_int_equal(dir_agency_add(ctx->pki, "-x", "bup", "X", 0, &r),
	    EX_DATAERR);
	assert_int_equal(dir_agency_add(ctx->pki, "x/y", "bup", "X", 0, &r),
	    EX_DATAERR);
	assert_int_equal(dir_agency_add(ctx->pki, "x", "bup", "X\x1b[2J", 0,
	    &r), EX_DATAERR);
	assert_int_equal(dir_agency_add(ctx->pki, "dalarna-bup", "bup",
	    "Region Dalarna, BUP", 0, &r), EX_DATAERR);

	/* Only the one good person was issued. */
	load(ctx, &ix);
	assert_int_equal(ix.ix_n, 4);
	index_free(&ix);
	assert_int_equal(access(at(ctx, "units/x.crt"), F_OK), -1);
}

static void
test_user_files(void **state)
{
	struct test_context *ctx = *state;
	struct dir_user u;
	struct dir_result r;
	struct refx_identity id;
	struct index ix;
	struct index_entry *e;
	uint8_t *ini;
	size_t len;
	char want[1024];
	const char *why;
	EVP_PKEY *k;
	X509 *x, *ca;
	X509_CRL *crl;

	umask(0);
	u = user("ludvika-ifo-intake", "caseworker", "Åsa Öberg");
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), 0);
	umask(077);
	assert_string_equal(r.dr_id, "asa.oberg");
	assert_int_equal(mode_of(at(ctx, "users/asa.oberg.key")), 0600);
	assert_int_equal(mode_of(at(ctx, "users/asa.oberg.ini")), 0600);
	assert_int_equal(mode_of(at(ctx, "users/asa.oberg.crt")), 0644);

	/* The certificate verifies and names the person; the key is its. */
	assert_non_null(ca = refx_cert_read(at(ctx, "ca.crt")));
	assert_non_null(crl = refx_crl_read(at(ctx, "crl.pem")));
	assert_non_null(x = refx_cert_read(r.dr_cert));
	assert_int_equal(refx_cert_verify(ca, crl, x, REFX_CERT_PERSON, &why),
	    REFX_OK);
	assert_int_equal(refx_cert_person(x, &id, &why), REFX_OK);
	assert_string_equal(id.id_agency, "ludvika-ifo-intake");
	assert_int_equal(id.id_kind, REFX_KIND_IFO);	/* the unit's kind */
	assert_int_equal(id.id_role, REFX_ROLE_CASEWORKER);
	assert_string_equal(id.id_person, "asa.oberg");
	assert_string_equal(id.id_name, "Åsa Öberg");
	assert_non_null(k = ca_key_read(r.dr_key, NULL));
	assert_int_equal(X509_check_private_key(x, k), 1);
	EVP_PKEY_free(k);

	/* The index records it as issued. */
	load(ctx, &ix);
	assert_non_null(e = index_find(&ix, PKI_PERSON, "asa.oberg", 0));
	assert_string_equal(e->ie_serial, r.dr_serial);
	assert_string_equal(e->ie_fingerprint, r.dr_fingerprint);
	assert_string_equal(e->ie_name, "Åsa Öberg");
	index_free(&ix);

	/* The client configuration, with absolute paths. */
	assert_int_equal(refx_file_read(r.dr_ini, 4096, &ini, &len), 0);
	assert_true((size_t)snprintf(want, sizeof(want),
	    "[server]\nurl = https://localhost:8443\n"
	    "ca = %s\n[identity]\ncertificate = %s\nkey = %s\n",
	    at(ctx, "ca.crt"), r.dr_cert, r.dr_key) < sizeof(want));
	assert_non_null(strstr((char *)ini, want));
	assert_int_equal(r.dr_cert[0], '/');
	free(ini);

	/* One valid certificate per person. */
	u = user("dalarna-bup", "auditor", "Åsa Öberg");
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), EX_DATAERR);
	X509_CRL_free(crl);
	X509_free(x);
	X509_free(ca);
}

static void
test_passphrase(void **state)
{
	struct test_context *ctx = *state;
	struct dir_user u;
	struct dir_result r;
	char pass[128];
	uint8_t *pem;
	size_t len;
	EVP_PKEY *k;
	X509 *x;

	snprintf(pass, sizeof(pass), "%s/pass", ctx->dir);
	assert_int_equal(refx_file_write(pass, "correct horse\n", 14, 0600, 0),
	    0);
	u = user("dalarna-bup", "auditor", "Erik Lind");
	u.du_passfile = pass;
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), 0);
	assert_int_equal(mode_of(r.dr_key), 0600);

	/* Encrypted PKCS#8, not the plain key. */
	assert_int_equal(refx_file_read(r.dr_key, 8192, &pem, &len), 0);
	assert_non_null(strstr((char *)pem,
	    "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
	free(pem);

	/* No passphrase or a wrong one: nothing (and no prompt). */
	assert_null(ca_key_read(r.dr_key, NULL));
	assert_null(ca_key_read(r.dr_key, "correct horse\n"));
	assert_null(ca_key_read(r.dr_key, "wrong"));

	/* The right one, without its newline, gives the certified key. */
	assert_non_null(k = ca_key_read(r.dr_key, "correct horse"));
	assert_non_null(x = refx_cert_read(r.dr_cert));
	assert_int_equal(X509_check_private_key(x, k), 1);
	X509_free(x);
	EVP_PKEY_free(k);

	/* An empty passphrase file is refused. */
	assert_int_equal(refx_file_write(pass, "\n", 1, 0600, 0), 0);
	u = user("dalarna-bup", "auditor", "Karin Lind");
	u.du_passfile = pass;
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), EX_DATAERR);
}

/* Is ${serial} (canonical hex) on the CRL in ${path}; with what reason? */
static int
on_crl(const char *path, const char *serial, int *reason)
{
	X509_CRL *crl;
	X509_REVOKED *rev;
	ASN1_INTEGER *sn;
	ASN1_ENUMERATED *e;
	BIGNUM *bn = NULL;
	int found;

	assert_non_null(crl = refx_crl_read(path));
	assert_true(BN_hex2bn(&bn, serial) > 0);
	assert_non_null(sn = BN_to_ASN1_INTEGER(bn, NULL));
	found = X509_CRL_get0_by_serial(crl, &rev, sn) == 1;
	*reason = -1;
	if (found && (e = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL,
	    NULL)) != NULL) {
		*reason = (int)ASN1_ENUMERATED_get(e);
		ASN1_ENUMERATED_free(e);
	}
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	X509_CRL_free(crl);
	return (found);
}

/* The number of certificates in directory.pem. */
static size_t
directory_count(struct test_context *ctx)
{
	X509 *certs[16];
	uint8_t *pem;
	size_t len, n, i;

	assert_int_equal(refx_file_read(at(ctx, "directory.pem"), 1 << 20,
	    &pem, &len), 0);
	assert_int_equal(refx_cert_parse_pem_bundle(pem, len, certs, 16, &n),
	    0);
	for (i = 0; i < n; i++)
		X509_free(certs[i]);
	free(pem);
	return (n);
}

static void
test_revoke(void **state)
{
	struct test_context *ctx = *state;
	struct dir_user u;
	struct dir_result r, rv;
	struct index ix;
	struct index_entry *e;
	char old[CA_SERIAL_HEX_MAX + 1], path[256];
	const char *why;
	int reason;
	X509 *ca, *x;
	X509_CRL *crl;

	u = user("ludvika-school-1", "submitter", "Anna Berg");
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), 0);
	memcpy(old, r.dr_serial, sizeof(old));
	assert_int_equal(on_crl(at(ctx, "crl.pem"), old, &reason), 0);

	/* Revoke by person id: on the CRL at once, with its reason. */
	assert_int_equal(dir_revoke(ctx->pki, "anna.berg", "keyCompromise",
	    &rv), 0);
	assert_string_equal(rv.dr_serial, old);
	assert_int_equal(on_crl(at(ctx, "crl.pem"), old, &reason), 1);
	assert_int_equal(reason, CRL_REASON_KEY_COMPROMISE);
	assert_int_equal(rv.dr_crl_number, 2);

	/* And the verifier refuses it with that CRL. */
	assert_non_null(ca = refx_cert_read(at(ctx, "ca.crt")));
	assert_non_null(crl = refx_crl_read(at(ctx, "crl.pem")));
	assert_non_null(x = refx_cert_read(r.dr_cert));
	assert_int_equal(refx_cert_verify(ca, crl, x, REFX_CERT_PERSON, &why),
	    REFX_ECRYPTO);
	assert_string_equal(why, "certificate revoked");
	X509_free(x);
	X509_CRL_free(crl);

	/* Twice is an error; so is an unknown target or reason. */
	assert_int_equal(dir_revoke(ctx->pki, "anna.berg", NULL, &rv),
	    EX_DATAERR);
	assert_int_equal(dir_revoke(ctx->pki, old, NULL, &rv), EX_DATAERR);
	assert_int_equal(dir_revoke(ctx->pki, "nobody", NULL, &rv),
	    EX_DATAERR);
	assert_int_equal(dir_revoke(ctx->pki, "unit:nowhere", NULL, &rv),
	    EX_DATAERR);
	u = user("ludvika-school-1", "auditor", "Karl Berg");
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), 0);
	assert_int_equal(dir_revoke(ctx->pki, "karl.berg", "bored", &rv),
	    EX_DATAERR);

	/* Re-issue: the old certificate moves away, its key is gone. */
	u = user("ludvika-school-1", "submitter", "Anna Berg");
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), 0);
	assert_string_not_equal(r.dr_serial, old);
	snprintf(path, sizeof(path), "users/revoked/anna.berg-%s.crt", old);
	assert_int_equal(access(at(ctx, path), F_OK), 0);
	assert_non_null(x = refx_cert_read(r.dr_cert));
	assert_non_null(crl = refx_crl_read(at(ctx, "crl.pem")));
	assert_int_equal(refx_cert_verify(ca, crl, x, REFX_CERT_PERSON, &why),
	    REFX_OK);
	X509_free(x);
	X509_CRL_free(crl);

	/* By serial (any case, colons), then by unit. */
	assert_int_equal(dir_revoke(ctx->pki, "KARL.BERG", NULL, &rv),
	    EX_DATAERR);
	load(ctx, &ix);
	assert_non_null(e = index_find(&ix, PKI_PERSON, "karl.berg", 0));
	snprintf(path, sizeof(path), "serial:%s", e->ie_serial);
	index_free(&ix);
	assert_int_equal(dir_revoke(ctx->pki, path, "affiliationChanged",
	    &rv), 0);
	assert_string_equal(rv.dr_id, "karl.berg");
	assert_int_equal(directory_count(ctx), 3);
	assert_int_equal(dir_revoke(ctx->pki, "unit:dalarna-bup",
	    "cessationOfOperation", &rv), 0);
	assert_int_equal(directory_count(ctx), 2);
	assert_int_equal(on_crl(at(ctx, "crl.pem"), rv.dr_serial, &reason),
	    1);
	assert_int_equal(reason, CRL_REASON_CESSATION_OF_OPERATION);
	assert_int_equal(on_crl(at(ctx, "crl.pem"), old, &reason), 1);

	/* A revoked unit takes no new people. */
	u = user("dalarna-bup", "auditor", "Erik Lind");
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), EX_DATAERR);

	/* `crl` re-issues with the next number and the same entries. */
	assert_int_equal(dir_crl(ctx->pki, 7, &rv), 0);
	assert_int_equal(rv.dr_crl_number, 5);
	assert_int_equal(on_crl(at(ctx, "crl.pem"), old, &reason), 1);
	X509_free(ca);
}

static void
test_valid_from(void **state)
{
	struct test_context *ctx = *state;
	struct dir_user u;
	struct dir_result r;
	char old[CA_SERIAL_HEX_MAX + 1], path[256];
	const char *why;
	time_t nb, na, want;
	X509 *ca, *x;

	u = user("ludvika-school-1", "submitter", "Old Timer");
	assert_int_equal(ca_date_parse("2020-01-01", &u.du_valid_from), 0);
	u.du_valid_from_set = 1;
	u.du_days = 30;
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), 0);
	assert_non_null(ca = refx_cert_read(at(ctx, "ca.crt")));
	assert_non_null(x = refx_cert_read(r.dr_cert));
	assert_int_equal(ca_validity(x, &nb, &na), 0);
	assert_int_equal(ca_time_parse("2020-01-01T00:00:00Z", &want), 0);
	assert_int_equal(nb, want);
	assert_int_equal(na, want + 30 * 86400L);
	assert_int_equal(refx_cert_verify(ca, NULL, x, REFX_CERT_PERSON, &why),
	    REFX_ECRYPTO);
	assert_string_equal(why, "certificate expired");
	X509_free(x);

	/* An expired certificate does not block a new one; it moves away. */
	memcpy(old, r.dr_serial, sizeof(old));
	u.du_valid_from_set = 0;
	u.du_days = 0;
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), 0);
	snprintf(path, sizeof(path), "users/revoked/old.timer-%s.crt", old);
	assert_int_equal(access(at(ctx, path), F_OK), 0);
	assert_non_null(x = refx_cert_read(r.dr_cert));
	assert_int_equal(refx_cert_verify(ca, NULL, x, REFX_CERT_PERSON, &why),
	    REFX_OK);
	X509_free(x);

	/* A pre-issued (future) one does block. */
	u = user("ludvika-school-1", "submitter", "New Starter");
	assert_int_equal(ca_date_parse("2099-01-01", &u.du_valid_from), 0);
	u.du_valid_from_set = 1;
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), 0);
	u.du_valid_from_set = 0;
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), EX_DATAERR);
	X509_free(ca);
}

static void
test_serials(void **state)
{
	struct test_context *ctx = *state;
	uint8_t s[CA_SERIAL_LEN];
	char hex[CA_SERIAL_HEX_MAX + 1];
	struct dir_user u;
	struct dir_result r;
	struct index ix;
	char name[32];
	size_t i, j;
	int top = 0;
	X509 *ca;

	/* Positive, never zero. */
	for (i = 0; i < 2000; i++) {
		assert_int_equal(ca_serial_new(s), 0);
		assert_int_equal(s[0] & 0x80, 0);
		top |= s[0] & 0x40;
		assert_int_equal(ca_serial_hex(s, sizeof(s), hex), 0);
	}
	assert_true(top);	/* the other bits are random */

	/* Unique across what was issued. */
	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "Person %c", (char)('a' + i));
		u = user("dalarna-bup", "caseworker", name);
		assert_int_equal(dir_user_add(ctx->pki, &u, &r), 0);
	}
	load(ctx, &ix);
	assert_int_equal(ix.ix_n, 11);
	for (i = 0; i < ix.ix_n; i++)
		for (j = i + 1; j < ix.ix_n; j++)
			assert_string_not_equal(ix.ix_ent[i].ie_serial,
			    ix.ix_ent[j].ie_serial);
	index_free(&ix);

	/* Scripted: the top bit is cleared, zero is never used. */
	script_reset();
	script_add("00000000000000000000000000000000");
	script_add("ffffffffffffffffffffffffffffffff");
	assert_int_equal(ca_serial_new(s), 0);
	assert_int_equal(script.s_calls, 2);
	assert_int_equal(ca_serial_hex(s, sizeof(s), hex), 0);
	assert_string_equal(hex, "7fffffffffffffffffffffffffffffff");

	/* A serial already issued, or the CA's, is drawn again. */
	load(ctx, &ix);
	script_reset();
	script_add(ix.ix_ent[0].ie_serial);
	script_add("11111111111111111111111111111111");
	index_free(&ix);
	u = user("dalarna-bup", "caseworker", "Twin One");
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), 0);
	assert_int_equal(script.s_next, 2);
	assert_string_equal(r.dr_serial, "11111111111111111111111111111111");
	assert_non_null(ca = refx_cert_read(at(ctx, "ca.crt")));
	assert_int_equal(ca_cert_serial(ca, hex), 0);
	X509_free(ca);
	script_reset();
	script_add(hex);
	script_add("22222222222222222222222222222222");
	u = user("dalarna-bup", "caseworker", "Twin Two");
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), 0);
	assert_string_equal(r.dr_serial, "22222222222222222222222222222222");
	script_reset();

	/* Canonical form of what an operator types. */
	assert_int_equal(ca_serial_parse("00:AB:cd", hex), 0);
	assert_string_equal(hex, "abcd");
	assert_int_equal(ca_serial_parse("0x0abc", hex), 0);
	assert_string_equal(hex, "0abc");
	assert_int_equal(ca_serial_parse("000", hex), -1);
	assert_int_equal(ca_serial_parse("", hex), -1);
	assert_int_equal(ca_serial_parse("anna.berg", hex), -1);
	assert_int_equal(ca_serial_parse(
	    "0102030405060708090a0b0c0d0e0f101112131415", hex), -1);
}

static void
test_index_roundtrip(void **state)
{
	struct test_context *ctx = *state;
	struct dir_user u;
	struct dir_result r;
	struct index ix, back;
	char path[256], *a, *b, *p;
	uint8_t *data;
	size_t len, i;
	FILE *f;

	/* Every kind of entry: units, people, a server, a revocation. */
	u = user("ludvika-school-1", "submitter", "Anna Berg");
	assert_int_equal(dir_user_add(ctx->pki, &u, &r), 0);
	assert_int_equal(dir_server(ctx->pki, NULL, 0, NULL, 0, 0, &r), 0);
	assert_int_equal(dir_revoke(ctx->pki, "anna.berg", "superseded", &r),
	    0);

	/* Load, save elsewhere, load again: the same, field by field. */
	load(ctx, &ix);
	assert_int_equal(ix.ix_n, 5);
	assert_int_equal(ix.ix_crl_number, 2);
	snprintf(path, sizeof(path), "%s/copy.json", ctx->dir);
	assert_int_equal(index_save(&ix, path), 0);
	index_init(&back);
	assert_int_equal(index_load(&back, path), 0);
	assert_int_equal(back.ix_n, ix.ix_n);
	assert_int_equal(back.ix_crl_number, ix.ix_crl_number);
	for (i = 0; i < ix.ix_n; i++)
		assert_memory_equal(&back.ix_ent[i], &ix.ix_ent[i],
		    sizeof(ix.ix_ent[i]));
	assert_int_equal(ix.ix_ent[3].ie_revoked, 1);
	assert_int_equal(ix.ix_ent[3].ie_reason, CRL_REASON_SUPERSEDED);
	assert_string_equal(ix.ix_ent[4].ie_san,
	    "DNS:localhost,IP:127.0.0.1,IP:::1");

	/* The text is stable, and `list --json` prints it. */
	assert_non_null(a = index_dump(&ix));
	assert_non_null(b = index_dump(&back));
	assert_string_equal(a, b);
	assert_int_equal(refx_file_read(at(ctx, "index.json"), 1 << 20, &data,
	    &len), 0);
	assert_string_equal((char *)data, a);
	free(data);
	snprintf(path, sizeof(path), "%s/list.json", ctx->dir);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(dir_list(ctx->pki, 1, -1, f), 0);
	fclose(f);
	assert_int_equal(refx_file_read(path, 1 << 20, &data, &len), 0);
	assert_string_equal((char *)data, a);
	free(data);
	index_free(&back);

	/* A duplicated serial or a forged field is refused on load. */
	snprintf(path, sizeof(path), "%s/bad.json", ctx->dir);
	memcpy(ix.ix_ent[1].ie_serial, ix.ix_ent[0].ie_serial,
	    sizeof(ix.ix_ent[0].ie_serial));
	assert_int_equal(index_save(&ix, path), 0);
	index_init(&back);
	assert_int_equal(index_load(&back, path), -1);
	assert_int_equal(errno, EINVAL);
	assert_non_null(p = strstr(a, "\"role\": \"submitter\""));
	memcpy(p, "\"role\": \"overlord\" ", 19);
	assert_int_equal(refx_file_write(path, a, strlen(a), 0600, 0), 0);
	assert_int_equal(index_load(&back, path), -1);
	free(a);
	free(b);
	index_free(&ix);
}

static void
test_time(void **state)
{
	time_t t;
	char buf[CA_TIME_LEN];

	(void)state;
	assert_int_equal(ca_date_parse("2024-02-29", &t), 0);
	assert_int_equal(t, 1709164800);
	assert_int_equal(ca_date_parse("2023-02-29", &t), -1);
	assert_int_equal(ca_date_parse("2023-13-01", &t), -1);
	assert_int_equal(ca_date_parse("2023-1-01", &t), -1);
	assert_int_equal(ca_date_parse("2023-01-01x", &t), -1);
	ca_time_format(1709164800 + 3661, buf);
	assert_string_equal(buf, "2024-02-29T01:01:01Z");
	assert_int_equal(ca_time_parse(buf, &t), 0);
	assert_int_equal(t, 1709164800 + 3661);
	assert_int_equal(ca_time_parse("2024-02-29T01:01:01", &t), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ca_key_private, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rejects, setup_units,
		    teardown),
		cmocka_unit_test_setup_teardown(test_user_files, setup_units,
		    teardown),
		cmocka_unit_test_setup_teardown(test_passphrase, setup_units,
		    teardown),
		cmocka_unit_test_setup_teardown(test_revoke, setup_units,
		    teardown),
		cmocka_unit_test_setup_teardown(test_valid_from, setup_units,
		    teardown),
		cmocka_unit_test_setup_teardown(test_serials, setup_units,
		    teardown),
		cmocka_unit_test_setup_teardown(test_index_roundtrip,
		    setup_units, teardown),
		cmocka_unit_test(test_time),
	};

	log_init("test_pki_ca", 0);
	if (refx_crypto_init())
		return (1);
	umask(077);
	return (cmocka_run_group_tests_name("pki", tests, NULL, NULL));
}
