#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "refx/buf.h"
#include "refx/cert.h"
#include "refx/file.h"
#include "refx/identity.h"
#include "refx/log.h"
#include "refx/secret.h"

#include "pki.h"

struct pki;
static int audit_key_issue(struct pki *, const char *);

/*
 * The layout of a PKI directory (docs/pki.md):
 *
 *   ca.key ca.crt crl.pem index.json directory.pem .lock
 *   server.key server.crt
 *   units/<ID>.{crt,key}      units/revoked/<ID>-<serial>.crt
 *   users/<PERSON>.{crt,key,ini}  users/revoked/<PERSON>-<serial>.crt
 *
 * Every command holds an flock on .lock while it reads and rewrites.
 */
#define DIRECTORY_MAX	(64 * 1024 * 1024)
#define SKEW		300	/* seconds notBefore is back-dated */
#define URL_MAX		512
#define INI_VALUE_MAX	1023	/* CLICONF_VALUE_MAX of refx */

#define KINDS	"school, ifo, bup, primary-care, forum, supervisor"
#define ROLES	"submitter, caseworker, auditor, admin"
#define REASONS	"unspecified, keyCompromise, affiliationChanged, " \
		"superseded, cessationOfOperation"

/* An open PKI directory. */
struct pki {
	char		 p_dir[PATH_MAX];	/* absolute */
	int		 p_lock;
	struct index	 p_ix;
	X509		*p_ca;
	EVP_PKEY	*p_cakey;		/* NULL unless asked for */
};

/* Write "${dir}/..." to ${out}.  Return 0, or -1 if too long. */
static int mkpath(char *, const char *, const char *, ...)
    REFX_PRINTF(3, 4);

static int
mkpath(char *out, const char *dir, const char *fmt, ...)
{
	va_list ap;
	size_t n;
	int k;

	if ((n = (size_t)snprintf(out, PATH_MAX, "%s/", dir)) >= PATH_MAX)
		goto err0;
	va_start(ap, fmt);
	k = vsnprintf(out + n, PATH_MAX - n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= PATH_MAX - n)
		goto err0;
	return (0);

err0:
	log_warnx("%s: path too long", dir);
	return (-1);
}

/* The exit status for a failure with ${e} to read, or if ${wr}, write. */
static int
ex_errno(int e, int wr)
{

	switch (e) {
	case EACCES:
	case EPERM:
		return (EX_NOPERM);
	case ENOENT:
		return (wr ? EX_CANTCREAT : EX_NOINPUT);
	case EINVAL:
		return (EX_DATAERR);
	case ENOMEM:
		return (EX_SOFTWARE);
	case EIO:
	case ENOSPC:
	case EDQUOT:
		return (EX_IOERR);
	default:
		return (wr ? EX_CANTCREAT : EX_IOERR);
	}
}

/* Create the directory ${path} with mode 0700 unless it exists. */
static int
mkdir_private(const char *path)
{

	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		log_warn("%s", path);
		return (ex_errno(errno, 1));
	}
	return (0);
}

/* Resolve ${dir} and take its lock (LOCK_SH or LOCK_EX). */
static int
pki_lock(struct pki *p, const char *dir, int how)
{
	char path[PATH_MAX];

	memset(p, 0, sizeof(*p));
	p->p_lock = -1;
	index_init(&p->p_ix);
	if (realpath(dir, p->p_dir) == NULL) {
		if (errno == ENOENT)
			log_warnx("%s: no such directory; run 'refx-pki init' "
			    "first", dir);
		else
			log_warn("%s", dir);
		return (ex_errno(errno, 0));
	}
	if (mkpath(path, p->p_dir, ".lock"))
		return (EX_SOFTWARE);
	p->p_lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (p->p_lock == -1) {
		log_warn("%s", path);
		return (ex_errno(errno, 1));
	}
	while (flock(p->p_lock, how) == -1) {
		if (errno == EINTR)
			continue;
		log_warn("%s", path);
		return (EX_IOERR);
	}
	return (0);
}

/* Release everything ${p} holds, the lock last; harmless if partial. */
static void
pki_close(struct pki *p)
{

	EVP_PKEY_free(p->p_cakey);
	p->p_cakey = NULL;
	X509_free(p->p_ca);
	p->p_ca = NULL;
	index_free(&p->p_ix);
	if (p->p_lock != -1)
		close(p->p_lock);
	p->p_lock = -1;
}

/*
 * Open the PKI in ${dir}: lock it, read the CA certificate and the index
 * and, if ${need_key}, the CA private key.  On failure the caller still
 * calls pki_close.
 */
static int
pki_open(struct pki *p, const char *dir, int how, int need_key)
{
	char path[PATH_MAX];
	struct stat sb;
	int rc;

	if ((rc = pki_lock(p, dir, how)))
		return (rc);

	/* The CA certificate says this is a PKI directory. */
	if (mkpath(path, p->p_dir, "ca.crt"))
		return (EX_SOFTWARE);
	if (stat(path, &sb) == -1) {
		if (errno != ENOENT) {
			log_warn("%s", path);
			return (ex_errno(errno, 0));
		}
		log_warnx("%s: no CA here; run 'refx-pki init' first",
		    p->p_dir);
		return (EX_NOINPUT);
	}
	if ((p->p_ca = refx_cert_read(path)) == NULL) {
		log_warnx("%s: cannot read the CA certificate", path);
		return (EX_DATAERR);
	}
	if (mkpath(path, p->p_dir, "index.json"))
		return (EX_SOFTWARE);
	if (index_load(&p->p_ix, path))
		return (ex_errno(errno, 0));
	if (!need_key)
		return (0);

	/* The CA key: ours alone, and the one the certificate holds. */
	if (mkpath(path, p->p_dir, "ca.key"))
		return (EX_SOFTWARE);
	if (refx_file_check_private(path)) {
		if (errno == EPERM)
			log_warnx("%s: group or others may access it; "
			    "run chmod 600 on it", path);
		else
			log_warn("%s", path);
		return (ex_errno(errno, 0));
	}
	if ((p->p_cakey = ca_key_read(path, NULL)) == NULL)
		return (ex_errno(errno, 0));
	if (EVP_PKEY_get_id(p->p_cakey) != EVP_PKEY_ED25519 ||
	    X509_check_private_key(p->p_ca, p->p_cakey) != 1) {
		ca_warn("ca.key does not belong to ca.crt");
		return (EX_DATAERR);
	}
	return (0);
}

/* Pick a fresh serial for ${ci}, unique in the index; its hex in ${hex}. */
static int
new_serial(struct pki *p, struct ca_issue *ci,
    char hex[CA_SERIAL_HEX_MAX + 1])
{
	char ca[CA_SERIAL_HEX_MAX + 1] = "";
	int tries;

	if (p->p_ca != NULL && ca_cert_serial(p->p_ca, ca))
		ca[0] = '\0';
	for (tries = 0; tries < 8; tries++) {
		if (ca_serial_new(ci->ci_serial) ||
		    ca_serial_hex(ci->ci_serial, CA_SERIAL_LEN, hex))
			return (-1);
		if (index_find_serial(&p->p_ix, hex) == NULL &&
		    strcmp(hex, ca) != 0)
			return (0);
	}
	log_warnx("cannot find an unused serial number");
	return (-1);
}

/* Fill the parts of ${e} that come from the certificate ${x}. */
static int
entry_fill(struct index_entry *e, enum pki_type type, X509 *x)
{
	uint8_t fp[REFX_FINGERPRINT_LEN];

	memset(e, 0, sizeof(*e));
	e->ie_type = type;
	e->ie_reason = CRL_REASON_UNSPECIFIED;
	if (ca_cert_serial(x, e->ie_serial) ||
	    ca_validity(x, &e->ie_not_before, &e->ie_not_after) ||
	    refx_cert_fingerprint(x, fp)) {
		log_warnx("cannot read back the new certificate");
		return (-1);
	}
	refx_hex(e->ie_fingerprint, sizeof(e->ie_fingerprint), fp, sizeof(fp));
	return (0);
}

/*
 * Issue the next CRL, listing every revoked certificate, and write it to
 * crl.pem.  The caller saves the index, which holds the CRL number.
 */
static int
crl_issue(struct pki *p, long days, struct dir_result *res)
{
	struct ca_revoked *rv;
	struct index_entry *e;
	X509_CRL *crl;
	char path[PATH_MAX];
	size_t i, n = 0;

	if ((rv = calloc(p->p_ix.ix_n + 1, sizeof(*rv))) == NULL) {
		log_warn("calloc");
		return (EX_SOFTWARE);
	}
	for (i = 0; i < p->p_ix.ix_n; i++) {
		e = &p->p_ix.ix_ent[i];
		if (!e->ie_revoked)
			continue;
		rv[n].cr_serial = e->ie_serial;
		rv[n].cr_when = e->ie_revoked_at;
		rv[n].cr_reason = e->ie_reason;
		n++;
	}
	crl = ca_make_crl(p->p_ca, p->p_cakey, rv, n,
	    p->p_ix.ix_crl_number + 1, time(NULL), days);
	free(rv);
	if (crl == NULL)
		return (EX_SOFTWARE);
	if (mkpath(path, p->p_dir, "crl.pem")) {
		X509_CRL_free(crl);
		return (EX_SOFTWARE);
	}
	if (ca_crl_write(path, crl)) {
		X509_CRL_free(crl);
		return (ex_errno(errno, 1));
	}
	X509_CRL_free(crl);
	p->p_ix.ix_crl_number++;
	if (res != NULL) {
		memcpy(res->dr_crl, path, sizeof(path));
		res->dr_crl_number = p->p_ix.ix_crl_number;
	}
	return (0);
}

/*
 * Rewrite directory.pem: every current (not revoked, not expired) unit
 * certificate, each checked against the fingerprint the index holds.
 */
static int
directory_write(struct pki *p)
{
	struct refx_buf b;
	struct index_entry *e;
	uint8_t fp[REFX_FINGERPRINT_LEN];
	char path[PATH_MAX], hex[2 * REFX_FINGERPRINT_LEN + 1], *pem;
	size_t i, len;
	time_t now = time(NULL);
	X509 *x;
	int rc = EX_DATAERR;

	refx_buf_init(&b, DIRECTORY_MAX);
	for (i = 0; i < p->p_ix.ix_n; i++) {
		e = &p->p_ix.ix_ent[i];
		if (e->ie_type != PKI_UNIT || e->ie_revoked ||
		    e->ie_not_after < now)
			continue;
		if (mkpath(path, p->p_dir, "units/%s.crt", e->ie_agency))
			goto err1;
		if ((x = refx_cert_read(path)) == NULL) {
			log_warnx("%s: cannot read certificate", path);
			goto err1;
		}
		if (refx_cert_fingerprint(x, fp) || strcmp(refx_hex(hex,
		    sizeof(hex), fp, sizeof(fp)), e->ie_fingerprint) != 0) {
			log_warnx("%s: not the certificate index.json lists",
			    path);
			X509_free(x);
			goto err1;
		}
		if (ca_cert_pem(x, &pem, &len)) {
			X509_free(x);
			rc = EX_SOFTWARE;
			goto err1;
		}
		X509_free(x);
		if (refx_buf_add(&b, pem, len)) {
			free(pem);
			log_warn("directory.pem");
			rc = EX_SOFTWARE;
			goto err1;
		}
		free(pem);
	}
	if (mkpath(path, p->p_dir, "directory.pem"))
		goto err1;
	if (refx_file_write(path, b.b_data != NULL ? (void *)b.b_data : "",
	    b.b_len, 0644, 0)) {
		log_warn("%s", path);
		rc = ex_errno(errno, 1);
		goto err1;
	}
	refx_buf_free(&b);
	return (0);

err1:
	refx_buf_free(&b);
	return (rc);
}

/*
 * Before a new certificate for ${id} goes to ${sub}/${id}.crt, move the
 * file of an earlier (revoked or expired) one to
 * ${sub}/revoked/${id}-${serial}.crt
 * and unlink its key: overwriting the key in place first would not
 * reliably destroy it on a journalling or copy-on-write file system.
 */
static int
retire(struct pki *p, const char *sub, const char *id)
{
	char crt[PATH_MAX], key[PATH_MAX], dst[PATH_MAX];
	char serial[CA_SERIAL_HEX_MAX + 1];
	X509 *x;
	int rc;

	if (mkpath(crt, p->p_dir, "%s/%s.crt", sub, id) ||
	    mkpath(key, p->p_dir, "%s/%s.key", sub, id))
		return (EX_SOFTWARE);
	if (access(crt, F_OK) == 0) {
		if ((x = refx_cert_read(crt)) == NULL ||
		    ca_cert_serial(x, serial)) {
			X509_free(x);
			log_warnx("%s: cannot read the old certificate; move "
			    "it away by hand", crt);
			return (EX_DATAERR);
		}
		X509_free(x);
		if (mkpath(dst, p->p_dir, "%s/revoked", sub))
			return (EX_SOFTWARE);
		if ((rc = mkdir_private(dst)))
			return (rc);
		if (mkpath(dst, p->p_dir, "%s/revoked/%s-%s.crt", sub, id,
		    serial))
			return (EX_SOFTWARE);
		if (rename(crt, dst) == -1) {
			log_warn("%s", dst);
			return (ex_errno(errno, 1));
		}
	} else if (errno != ENOENT) {
		log_warn("%s", crt);
		return (ex_errno(errno, 0));
	}
	if (unlink(key) == -1 && errno != ENOENT) {
		log_warn("%s", key);
		return (ex_errno(errno, 1));
	}
	return (0);
}

/* Check --days: 0 means ${dflt}.  Return it, or 0 if out of range. */
static long
days_or(long days, long dflt)
{

	if (days == 0)
		return (dflt);
	if (days < 1 || days > CA_DAYS_MAX) {
		log_warnx("invalid --days %ld: 1 to %d", days, CA_DAYS_MAX);
		return (0);
	}
	return (days);
}

/**
 * dir_init(dir, name, days, res): Create the CA "${name} refx CA" in
 * ${dir}, an empty CRL, index and directory.  Return an exit status
 * (EX_CANTCREAT if ${dir} already holds a CA).
 */
int
dir_init(const char *dir, const char *name, long days,
    struct dir_result *res)
{
	struct pki p;
	struct ca_issue ci;
	struct stat sb;
	uint8_t fp[REFX_FINGERPRINT_LEN];
	char path[PATH_MAX];
	EVP_PKEY *key;
	int rc;

	memset(res, 0, sizeof(*res));
	if (name == NULL)
		name = DIR_NAME;
	if (!refx_name_valid(name) ||
	    strlen(name) + strlen(" refx CA") > REFX_NAME_MAX) {
		log_warnx("invalid --name: 1 to %zu bytes of UTF-8 text "
		    "without control characters", REFX_NAME_MAX -
		    strlen(" refx CA"));
		return (EX_DATAERR);
	}
	if ((days = days_or(days, DIR_DAYS_CA)) == 0)
		return (EX_USAGE);

	/* Create the directory private; leave an existing one as it is. */
	if (stat(dir, &sb) == -1) {
		if (errno != ENOENT) {
			log_warn("%s", dir);
			return (ex_errno(errno, 1));
		}
		if (refx_mkdir_p(dir, 0700) || chmod(dir, 0700) == -1) {
			log_warn("%s", dir);
			return (ex_errno(errno, 1));
		}
	} else if (!S_ISDIR(sb.st_mode)) {
		log_warnx("%s: not a directory", dir);
		return (EX_CANTCREAT);
	} else if (sb.st_mode & (S_IRWXG | S_IRWXO))
		log_warnx("warning: %s: group or others may access it; "
		    "run chmod 700 on it", dir);

	if ((rc = pki_lock(&p, dir, LOCK_EX)))
		goto err1;

	/* Never replace a CA: everything it issued would be orphaned. */
	rc = EX_SOFTWARE;
	if (mkpath(path, p.p_dir, "ca.key"))
		goto err1;
	if (lstat(path, &sb) == 0 || errno != ENOENT) {
		log_warnx("%s: a CA already exists; refusing to replace it",
		    path);
		rc = EX_CANTCREAT;
		goto err1;
	}
	if (mkpath(path, p.p_dir, "units") || (rc = mkdir_private(path)) ||
	    mkpath(path, p.p_dir, "users") || (rc = mkdir_private(path))) {
		rc = rc ? rc : EX_SOFTWARE;
		goto err1;
	}

	/* The key and the self-signed certificate. */
	rc = EX_SOFTWARE;
	if ((key = ca_keygen("ED25519")) == NULL)
		goto err1;
	p.p_cakey = key;
	memset(&ci, 0, sizeof(ci));
	ci.ci_cakey = key;
	ci.ci_key = key;
	ci.ci_not_before = time(NULL) - SKEW;
	ci.ci_days = days;
	if (ca_serial_new(ci.ci_serial))
		goto err1;
	if ((p.p_ca = ca_make_root(&ci, name)) == NULL)
		goto err1;

	/* Public files first; the key last, so a failure can be retried. */
	if (mkpath(res->dr_cert, p.p_dir, "ca.crt"))
		goto err1;
	if (ca_cert_write(res->dr_cert, p.p_ca, 0)) {
		rc = ex_errno(errno, 1);
		goto err1;
	}
	if ((rc = crl_issue(&p, DIR_DAYS_CRL, res)))
		goto err1;
	if (mkpath(path, p.p_dir, "index.json"))
		goto err1;
	if (index_save(&p.p_ix, path)) {
		rc = ex_errno(errno, 1);
		goto err1;
	}
	if ((rc = directory_write(&p)))
		goto err1;
	if ((rc = audit_key_issue(&p, "system")))
		goto err1;
	if (mkpath(res->dr_key, p.p_dir, "ca.key"))
		goto err1;
	if (ca_key_write(res->dr_key, key, NULL, 1)) {
		rc = ex_errno(errno, 1);
		goto err1;
	}

	if (refx_cert_fingerprint(p.p_ca, fp) == 0)
		refx_hex(res->dr_fingerprint, sizeof(res->dr_fingerprint), fp,
		    sizeof(fp));
	ca_cert_serial(p.p_ca, res->dr_serial);
	pki_close(&p);
	return (0);

err1:
	pki_close(&p);
	return (rc);
}

/*
 * Give the log of ${name} (a unit id, or "system") its checkpoint-signing
 * key: audit/<name>.key, a seed in refxd's key format (0600), and
 * audit/<name>.crt, its certificate, whose subject CN is the log's
 * origin.  An existing key is kept: a log keeps its key for life.
 */
static int
audit_key_issue(struct pki *p, const char *name)
{
	char path[PATH_MAX], origin[128], fphex[2 * REFX_FINGERPRINT_LEN + 1];
	char text[256], *b64 = NULL;
	uint8_t fp[REFX_FINGERPRINT_LEN], seed[32];
	struct ca_issue ci;
	struct stat sb;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int n, rc = EX_SOFTWARE;

	if (mkpath(path, p->p_dir, "audit") || (rc = mkdir_private(path)))
		return (rc ? rc : EX_SOFTWARE);
	rc = EX_SOFTWARE;
	if (mkpath(path, p->p_dir, "audit/%s.key", name))
		return (rc);
	if (lstat(path, &sb) == 0)
		return (0);
	if (refx_cert_fingerprint(p->p_ca, fp))
		return (rc);
	refx_hex(fphex, sizeof(fphex), fp, sizeof(fp));
	/* Unique per exchange (its CA), readable, no spaces or '+'. */
	snprintf(origin, sizeof(origin), "refx/%.16s/audit/%s", fphex, name);

	refx_random(seed, sizeof(seed));
	if ((key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
	    sizeof(seed))) == NULL) {
		ca_warn("cannot make the audit log key");
		goto out;
	}
	memset(&ci, 0, sizeof(ci));
	ci.ci_ca = p->p_ca;
	ci.ci_cakey = p->p_cakey;
	ci.ci_key = key;
	ci.ci_not_before = time(NULL) - SKEW;
	ci.ci_days = 3650;
	if (ca_serial_new(ci.ci_serial) ||
	    (x = ca_make_audit_log(&ci, origin)) == NULL)
		goto out;
	if ((b64 = refx_b64_encode(seed, sizeof(seed))) == NULL)
		goto out;
	n = snprintf(text, sizeof(text), "refx-audit-log-key v1\n"
	    "origin %s\nseed %s\n", origin, b64);
	if (n < 0 || (size_t)n >= sizeof(text))
		goto out;
	if (refx_file_write(path, text, (size_t)n, 0600, 1)) {
		log_warn("%s", path);
		rc = ex_errno(errno, 1);
		goto out;
	}
	if (mkpath(path, p->p_dir, "audit/%s.crt", name))
		goto out;
	if (ca_cert_write(path, x, 0)) {
		rc = ex_errno(errno, 1);
		goto out;
	}
	rc = 0;
out:
	refx_wipe(text, sizeof(text));
	refx_wipe(seed, sizeof(seed));
	if (b64 != NULL) {
		refx_wipe(b64, strlen(b64));
		free(b64);
	}
	X509_free(x);
	EVP_PKEY_free(key);
	return (rc);
}

/* Append "${prefix}${v}" to the SAN summary ${san}. */
static int
san_append(char *san, const char *prefix, const char *v)
{
	size_t n = strlen(san);
	int k;

	k = snprintf(san + n, CA_SAN_MAX + 1 - n, "%s%s%s", n ? "," : "",
	    prefix, v);
	if (k < 0 || (size_t)k >= CA_SAN_MAX + 1 - n) {
		log_warnx("too many server names");
		return (-1);
	}
	return (0);
}

/**
 * dir_server(dir, dns, ndns, ip, nip, days, res): Issue (or renew) the
 * server certificate and key.  With no names, use localhost, 127.0.0.1
 * and ::1.  Return an exit status.
 */
int
dir_server(const char *dir, const char *const *dns, size_t ndns,
    const char *const *ip, size_t nip, long days, struct dir_result *res)
{
	static const char *const dflt_dns[] = { "localhost" };
	static const char *const dflt_ip[] = { "127.0.0.1", "::1" };
	struct pki p;
	struct ca_issue ci;
	struct index_entry e;
	char san[CA_SAN_MAX + 1] = "", path[PATH_MAX];
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	size_t i;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((days = days_or(days, DIR_DAYS_SERVER)) == 0)
		return (EX_USAGE);
	if (ndns + nip == 0) {
		dns = dflt_dns;
		ndns = 1;
		ip = dflt_ip;
		nip = 2;
	}
	if (ndns > CA_SAN_COUNT || nip > CA_SAN_COUNT) {
		log_warnx("at most %d --dns and %d --ip names", CA_SAN_COUNT,
		    CA_SAN_COUNT);
		return (EX_USAGE);
	}
	for (i = 0; i < ndns; i++)
		if (!ca_dns_valid(dns[i])) {
			log_warnx("invalid --dns '%s': not a host name",
			    dns[i]);
			return (EX_DATAERR);
		} else if (san_append(san, "DNS:", dns[i]))
			return (EX_DATAERR);
	for (i = 0; i < nip; i++)
		if (!ca_ip_valid(ip[i])) {
			log_warnx("invalid --ip '%s': not an IPv4 or IPv6 "
			    "address", ip[i]);
			return (EX_DATAERR);
		} else if (san_append(san, "IP:", ip[i]))
			return (EX_DATAERR);

	if ((rc = pki_open(&p, dir, LOCK_EX, 1)))
		goto err1;

	/* Key and certificate. */
	rc = EX_SOFTWARE;
	if ((key = ca_keygen("ED25519")) == NULL)
		goto err1;
	memset(&ci, 0, sizeof(ci));
	ci.ci_ca = p.p_ca;
	ci.ci_cakey = p.p_cakey;
	ci.ci_key = key;
	ci.ci_not_before = time(NULL) - SKEW;
	ci.ci_days = days;
	if (new_serial(&p, &ci, res->dr_serial))
		goto err1;
	if ((x = ca_make_server(&ci, dns, ndns, ip, nip)) == NULL)
		goto err1;

	/* Record it first: nothing issued may be missing from the index. */
	if (entry_fill(&e, PKI_SERVER, x))
		goto err2;
	snprintf(e.ie_name, sizeof(e.ie_name), "refxd");
	memcpy(e.ie_san, san, sizeof(san));
	if (index_add(&p.p_ix, &e) || mkpath(path, p.p_dir, "index.json"))
		goto err2;
	if (index_save(&p.p_ix, path)) {
		rc = ex_errno(errno, 1);
		goto err2;
	}

	/* A renewal replaces both files. */
	if (mkpath(res->dr_key, p.p_dir, "server.key") ||
	    mkpath(res->dr_cert, p.p_dir, "server.crt"))
		goto err2;
	if (ca_key_write(res->dr_key, key, NULL, 0) ||
	    ca_cert_write(res->dr_cert, x, 0)) {
		rc = ex_errno(errno, 1);
		goto err2;
	}
	res->dr_type = PKI_SERVER;
	memcpy(res->dr_fingerprint, e.ie_fingerprint, sizeof(e.ie_fingerprint));
	X509_free(x);
	EVP_PKEY_free(key);
	pki_close(&p);
	return (0);

err2:
	X509_free(x);
err1:
	EVP_PKEY_free(key);
	pki_close(&p);
	return (rc);
}

/**
 * dir_agency_add(dir, id, kind, name, days, res): Issue a unit's X25519
 * key and certificate and rewrite directory.pem.  Return an exit status.
 */
int
dir_agency_add(const char *dir, const char *id, const char *kind,
    const char *name, long days, struct dir_result *res)
{
	struct pki p;
	struct ca_issue ci;
	struct index_entry e;
	enum refx_kind k;
	char path[PATH_MAX];
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int rc;

	/* Arguments, each named when wrong. */
	memset(res, 0, sizeof(*res));
	if (!refx_agency_id_valid(id)) {
		log_warnx("invalid agency id '%s': 1 to %d of a-z, 0-9 and "
		    "'-', not starting or ending with '-'", id ? id : "",
		    REFX_AGENCY_ID_MAX);
		return (EX_DATAERR);
	}
	if (kind == NULL || refx_kind_parse(kind, &k)) {
		log_warnx("invalid --kind '%s': one of %s", kind ? kind : "",
		    KINDS);
		return (EX_DATAERR);
	}
	if (!refx_name_valid(name)) {
		log_warnx("invalid --name: 1 to %d bytes of UTF-8 text "
		    "without control characters or outer blanks",
		    REFX_NAME_MAX);
		return (EX_DATAERR);
	}
	if ((days = days_or(days, DIR_DAYS_UNIT)) == 0)
		return (EX_USAGE);

	if ((rc = pki_open(&p, dir, LOCK_EX, 1)))
		goto err1;
	if (index_find_current(&p.p_ix, PKI_UNIT, id, time(NULL)) != NULL) {
		log_warnx("agency '%s' already exists", id);
		rc = EX_DATAERR;
		goto err1;
	}

	/* The X25519 key and the certificate that binds it to the unit. */
	rc = EX_SOFTWARE;
	if ((key = ca_keygen("X25519")) == NULL)
		goto err1;
	memset(&ci, 0, sizeof(ci));
	ci.ci_ca = p.p_ca;
	ci.ci_cakey = p.p_cakey;
	ci.ci_key = key;
	ci.ci_not_before = time(NULL) - SKEW;
	ci.ci_days = days;
	if (new_serial(&p, &ci, res->dr_serial))
		goto err1;
	if ((x = ca_make_unit(&ci, id, k, name)) == NULL)
		goto err1;

	/* Record it first: nothing issued may be missing from the index. */
	if (entry_fill(&e, PKI_UNIT, x))
		goto err2;
	memcpy(e.ie_agency, id, strlen(id) + 1);
	e.ie_kind = k;
	memcpy(e.ie_name, name, strlen(name) + 1);
	if (index_add(&p.p_ix, &e) || mkpath(path, p.p_dir, "index.json"))
		goto err2;

	/* An earlier (revoked or expired) certificate's files move away. */
	if ((rc = retire(&p, "units", id)))
		goto err2;
	if (index_save(&p.p_ix, path)) {
		rc = ex_errno(errno, 1);
		goto err2;
	}

	/* The files, then the directory that publishes the certificate. */
	rc = EX_SOFTWARE;
	if (mkpath(res->dr_key, p.p_dir, "units/%s.key", id) ||
	    mkpath(res->dr_cert, p.p_dir, "units/%s.crt", id))
		goto err2;
	if (ca_key_write(res->dr_key, key, NULL, 1) ||
	    ca_cert_write(res->dr_cert, x, 1)) {
		rc = ex_errno(errno, 1);
		goto err2;
	}
	if ((rc = directory_write(&p)))
		goto err2;
	if ((rc = audit_key_issue(&p, id)))
		goto err2;

	res->dr_type = PKI_UNIT;
	memcpy(res->dr_id, id, strlen(id) + 1);
	memcpy(res->dr_fingerprint, e.ie_fingerprint, sizeof(e.ie_fingerprint));
	X509_free(x);
	EVP_PKEY_free(key);
	pki_close(&p);
	return (0);

err2:
	X509_free(x);
err1:
	EVP_PKEY_free(key);
	pki_close(&p);
	return (rc);
}

/*
 * Is ${s} safe as a value in an .ini file: printable, no comment
 * characters, no outer blanks?
 */
static int
ini_safe(const char *s)
{
	const unsigned char *c;

	if (*s == '\0' || s[0] == ' ' || s[strlen(s) - 1] == ' ')
		return (0);
	for (c = (const unsigned char *)s; *c != '\0'; c++)
		if (*c < 0x20 || *c == 0x7f || *c == ';' || *c == '#')
			return (0);
	return (1);
}

/* Write the refx client configuration for a new person. */
static int
ini_write(const char *path, const char *url, const char *ca,
    const char *crt, const char *key, const char *unitkey)
{
	char buf[5 * PATH_MAX + URL_MAX + 160];
	int n;

	/* refx reads values of up to INI_VALUE_MAX bytes. */
	if (strlen(ca) > INI_VALUE_MAX || strlen(crt) > INI_VALUE_MAX ||
	    strlen(key) > INI_VALUE_MAX || (unitkey != NULL &&
	    strlen(unitkey) > INI_VALUE_MAX)) {
		log_warnx("%s: paths too long for a client configuration",
		    path);
		return (EX_DATAERR);
	}
	n = snprintf(buf, sizeof(buf),
	    "; refx client configuration, written by refx-pki (see refx(1)).\n"
	    "[server]\n"
	    "url = %s\n"
	    "ca = %s\n"
	    "[identity]\n"
	    "certificate = %s\n"
	    "key = %s\n"
	    "%s%s%s", url, ca, crt, key,
	    /* Those who read case packets need their unit's key. */
	    unitkey ? "[unit]\nkey = " : "", unitkey ? unitkey : "",
	    unitkey ? "\n" : "");
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		log_warnx("%s: too long", path);
		return (EX_SOFTWARE);
	}
	if (refx_file_write(path, buf, (size_t)n, 0600, 0)) {
		log_warn("%s", path);
		return (ex_errno(errno, 1));
	}
	return (0);
}

/*
 * Read a passphrase file: one line, its newline stripped.  Return 0 with
 * the passphrase in ${pass} (wipe ${alloc} bytes, then free) or an exit
 * status.
 */
static int
pass_read(const char *path, char **pass, size_t *alloc)
{
	uint8_t *data;
	size_t len;

	if (refx_file_read(path, CA_PASS_MAX + 2, &data, &len)) {
		if (errno == EFBIG) {
			log_warnx("%s: passphrase longer than %d bytes", path,
			    CA_PASS_MAX);
			return (EX_DATAERR);
		}
		log_warn("%s", path);
		return (ex_errno(errno, 0));
	}
	*alloc = len + 1;
	if (len > 0 && data[len - 1] == '\n')
		len--;
	if (len > 0 && data[len - 1] == '\r')
		len--;
	data[len] = '\0';
	if (len == 0 || len > CA_PASS_MAX || memchr(data, '\0', len) != NULL) {
		log_warnx("%s: passphrase empty, too long or holding a NUL "
		    "byte", path);
		refx_wipe(data, *alloc);
		free(data);
		return (EX_DATAERR);
	}
	*pass = (char *)data;
	return (0);
}

/* Check the arguments of `user add`; fill ${person} and the days. */
static int
user_check(const struct dir_user *u, char person[REFX_PERSON_ID_MAX + 1],
    enum refx_role *role, long *days)
{

	if (u->du_agency == NULL || !refx_agency_id_valid(u->du_agency)) {
		log_warnx("invalid --agency '%s': not an agency id",
		    u->du_agency ? u->du_agency : "");
		return (EX_DATAERR);
	}
	if (u->du_role == NULL || refx_role_parse(u->du_role, role)) {
		log_warnx("invalid --role '%s': one of %s",
		    u->du_role ? u->du_role : "", ROLES);
		return (EX_DATAERR);
	}
	if (!refx_name_valid(u->du_name)) {
		log_warnx("invalid --name: 1 to %d bytes of UTF-8 text "
		    "without control characters or outer blanks",
		    REFX_NAME_MAX);
		return (EX_DATAERR);
	}
	if (u->du_person != NULL) {
		if (!refx_person_id_valid(u->du_person)) {
			log_warnx("invalid --id '%s': 1 to %d of a-z, 0-9, "
			    "'.', '_' and '-', starting with a letter or "
			    "digit", u->du_person, REFX_PERSON_ID_MAX);
			return (EX_DATAERR);
		}
		memcpy(person, u->du_person, strlen(u->du_person) + 1);
	} else if (refx_person_id_from_name(u->du_name, person,
	    REFX_PERSON_ID_MAX + 1)) {
		log_warnx("cannot derive a person id from --name; give --id");
		return (EX_DATAERR);
	}
	if (u->du_url != NULL && (strncmp(u->du_url, "https://", 8) != 0 ||
	    strlen(u->du_url) > URL_MAX || strchr(u->du_url, ' ') != NULL ||
	    !ini_safe(u->du_url))) {
		log_warnx("invalid --url: an https:// URL without blanks, ';' "
		    "or '#'");
		return (EX_DATAERR);
	}
	if ((*days = days_or(u->du_days, DIR_DAYS_USER)) == 0)
		return (EX_USAGE);
	return (0);
}

/**
 * dir_user_add(dir, u, res): Issue a person's key, certificate and client
 * configuration.  Return an exit status.
 */
int
dir_user_add(const char *dir, const struct dir_user *u,
    struct dir_result *res)
{
	struct pki p;
	struct ca_issue ci;
	struct index_entry e, *old;
	char person[REFX_PERSON_ID_MAX + 1], path[PATH_MAX], unitkey[PATH_MAX];
	char *pass = NULL;
	size_t passalloc = 0;
	enum refx_role role;
	enum refx_kind kind;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	time_t now;
	long days;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = user_check(u, person, &role, &days)))
		return (rc);
	if (u->du_passfile != NULL &&
	    (rc = pass_read(u->du_passfile, &pass, &passalloc)))
		return (rc);

	if ((rc = pki_open(&p, dir, LOCK_EX, 1)))
		goto err1;

	/* The agency must be current; the person may hold one certificate. */
	rc = EX_DATAERR;
	now = time(NULL);
	if ((old = index_find_current(&p.p_ix, PKI_UNIT, u->du_agency,
	    now)) == NULL) {
		if (index_find(&p.p_ix, PKI_UNIT, u->du_agency, 0) != NULL)
			log_warnx("agency '%s' has expired; renew it with "
			    "'agency add'", u->du_agency);
		else if (index_find(&p.p_ix, PKI_UNIT, u->du_agency, 1) != NULL)
			log_warnx("agency '%s' is revoked", u->du_agency);
		else
			log_warnx("unknown agency '%s'", u->du_agency);
		goto err1;
	}
	kind = old->ie_kind;
	if ((old = index_find_current(&p.p_ix, PKI_PERSON, person, now)) !=
	    NULL) {
		log_warnx("person '%s' already has a valid certificate "
		    "(serial %s); revoke it first", person, old->ie_serial);
		goto err1;
	}
	if (!ini_safe(p.p_dir)) {
		log_warnx("%s: path cannot go in a client configuration",
		    p.p_dir);
		goto err1;
	}

	/* Key and certificate. */
	rc = EX_SOFTWARE;
	if ((key = ca_keygen("ED25519")) == NULL)
		goto err1;
	memset(&ci, 0, sizeof(ci));
	ci.ci_ca = p.p_ca;
	ci.ci_cakey = p.p_cakey;
	ci.ci_key = key;
	ci.ci_not_before = u->du_valid_from_set ? u->du_valid_from :
	    now - SKEW;
	ci.ci_days = days;
	if (new_serial(&p, &ci, res->dr_serial))
		goto err1;
	if ((x = ca_make_person(&ci, u->du_agency, kind, role, person,
	    u->du_name)) == NULL)
		goto err1;

	/* Record it first: nothing issued may be missing from the index. */
	if (entry_fill(&e, PKI_PERSON, x))
		goto err2;
	memcpy(e.ie_agency, u->du_agency, strlen(u->du_agency) + 1);
	e.ie_kind = kind;
	e.ie_role = role;
	memcpy(e.ie_person, person, sizeof(person));
	memcpy(e.ie_name, u->du_name, strlen(u->du_name) + 1);
	if (index_add(&p.p_ix, &e) || mkpath(path, p.p_dir, "index.json"))
		goto err2;

	/* An earlier (revoked or expired) certificate's files move away. */
	if ((rc = retire(&p, "users", person)))
		goto err2;
	if (index_save(&p.p_ix, path)) {
		rc = ex_errno(errno, 1);
		goto err2;
	}

	/* Files: key (perhaps encrypted), certificate, client config. */
	rc = EX_SOFTWARE;
	if (mkpath(res->dr_key, p.p_dir, "users/%s.key", person) ||
	    mkpath(res->dr_cert, p.p_dir, "users/%s.crt", person) ||
	    mkpath(res->dr_ini, p.p_dir, "users/%s.ini", person) ||
	    mkpath(path, p.p_dir, "ca.crt"))
		goto err2;
	if (ca_key_write(res->dr_key, key, pass, 1) ||
	    ca_cert_write(res->dr_cert, x, 1)) {
		rc = ex_errno(errno, 1);
		goto err2;
	}
	if (mkpath(unitkey, p.p_dir, "units/%s.key", u->du_agency))
		goto err2;
	if ((rc = ini_write(res->dr_ini, u->du_url ? u->du_url : DIR_URL,
	    path, res->dr_cert, res->dr_key,
	    (role == REFX_ROLE_SUBMITTER ||
	    role == REFX_ROLE_CASEWORKER) ? unitkey : NULL)))
		goto err2;

	res->dr_type = PKI_PERSON;
	memcpy(res->dr_id, person, sizeof(person));
	memcpy(res->dr_fingerprint, e.ie_fingerprint, sizeof(e.ie_fingerprint));
	rc = 0;

err2:
	X509_free(x);
err1:
	EVP_PKEY_free(key);
	pki_close(&p);
	if (pass != NULL) {
		refx_wipe(pass, passalloc);
		free(pass);
	}
	return (rc);
}

/* Find what `revoke ${t}` names; log why not and return NULL. */
static struct index_entry *
find_target(struct pki *p, const char *t)
{
	char canon[CA_SERIAL_HEX_MAX + 1];
	struct index_entry *bys = NULL, *byp = NULL;
	const char *v;
	int serial = 1, person = 1;

	/* "unit:ID" names a unit; "serial:" and "person:" remove doubt. */
	if (strncmp(t, "unit:", 5) == 0) {
		v = t + 5;
		if ((byp = index_find(&p->p_ix, PKI_UNIT, v, 0)) != NULL)
			return (byp);
		if (index_find(&p->p_ix, PKI_UNIT, v, 1) != NULL)
			log_warnx("agency '%s' is already revoked", v);
		else
			log_warnx("unknown agency '%s'", v);
		return (NULL);
	}
	v = t;
	if (strncmp(t, "serial:", 7) == 0) {
		v = t + 7;
		person = 0;
	} else if (strncmp(t, "person:", 7) == 0) {
		v = t + 7;
		serial = 0;
	}
	if (serial && ca_serial_parse(v, canon) == 0)
		bys = index_find_serial(&p->p_ix, canon);
	if (person && refx_person_id_valid(v))
		byp = index_find(&p->p_ix, PKI_PERSON, v, 0);
	if (bys != NULL && byp != NULL && bys != byp) {
		log_warnx("'%s' is both a serial number and a person id; "
		    "write serial:%s or person:%s", v, v, v);
		return (NULL);
	}
	if (bys != NULL)
		return (bys);
	if (byp != NULL)
		return (byp);
	if (person && index_find(&p->p_ix, PKI_PERSON, v, 1) != NULL)
		log_warnx("person '%s' has no valid certificate (already "
		    "revoked)", v);
	else
		log_warnx("no certificate matches '%s'", v);
	return (NULL);
}

/**
 * dir_revoke(dir, target, reason, res): Revoke the certificate named by
 * ${target} (a serial, a person id, "unit:ID", "serial:HEX" or
 * "person:ID") for ${reason} (NULL: unspecified), then rewrite the CRL
 * and, for a unit, directory.pem.  Return an exit status.
 */
int
dir_revoke(const char *dir, const char *target, const char *reason,
    struct dir_result *res)
{
	struct pki p;
	struct index_entry *e;
	char path[PATH_MAX];
	int code = CRL_REASON_UNSPECIFIED, rc;

	memset(res, 0, sizeof(*res));
	if (reason != NULL && ca_reason_parse(reason, &code)) {
		log_warnx("invalid --reason '%s': one of %s", reason, REASONS);
		return (EX_DATAERR);
	}
	if ((rc = pki_open(&p, dir, LOCK_EX, 1)))
		goto err1;
	rc = EX_DATAERR;
	if ((e = find_target(&p, target)) == NULL)
		goto err1;
	if (e->ie_revoked) {
		log_warnx("certificate %s is already revoked", e->ie_serial);
		goto err1;
	}

	/* Mark it, publish the CRL at once, then commit the index. */
	e->ie_revoked = 1;
	e->ie_revoked_at = time(NULL);
	e->ie_reason = code;
	if ((rc = crl_issue(&p, DIR_DAYS_CRL, res)))
		goto err1;
	rc = EX_SOFTWARE;
	if (mkpath(path, p.p_dir, "index.json"))
		goto err1;
	if (index_save(&p.p_ix, path)) {
		rc = ex_errno(errno, 1);
		goto err1;
	}
	res->dr_type = e->ie_type;
	memcpy(res->dr_serial, e->ie_serial, sizeof(e->ie_serial));
	if (e->ie_type == PKI_PERSON)
		memcpy(res->dr_id, e->ie_person, sizeof(e->ie_person));
	else if (e->ie_type == PKI_UNIT)
		memcpy(res->dr_id, e->ie_agency, sizeof(e->ie_agency));

	/* A revoked unit leaves the directory. */
	if (e->ie_type == PKI_UNIT && (rc = directory_write(&p)))
		goto err1;
	pki_close(&p);
	return (0);

err1:
	pki_close(&p);
	return (rc);
}

/**
 * dir_crl(dir, days, res): Issue a new CRL with the next CRL number.
 * Return an exit status.
 */
int
dir_crl(const char *dir, long days, struct dir_result *res)
{
	struct pki p;
	char path[PATH_MAX];
	int rc;

	memset(res, 0, sizeof(*res));
	if ((days = days_or(days, DIR_DAYS_CRL)) == 0)
		return (EX_USAGE);
	if ((rc = pki_open(&p, dir, LOCK_EX, 1)))
		goto err1;
	if ((rc = crl_issue(&p, days, res)))
		goto err1;
	rc = EX_SOFTWARE;
	if (mkpath(path, p.p_dir, "index.json"))
		goto err1;
	if (index_save(&p.p_ix, path)) {
		rc = ex_errno(errno, 1);
		goto err1;
	}
	pki_close(&p);
	return (0);

err1:
	pki_close(&p);
	return (rc);
}

/* One line of the table `list` prints. */
static void
list_row(FILE *out, const struct index_entry *e, time_t now)
{
	char na[CA_TIME_LEN];
	const char *status;

	ca_time_format(e->ie_not_after, na);
	if (e->ie_revoked)
		status = "revoked";
	else if (e->ie_not_after < now)
		status = "expired";
	else if (e->ie_not_before > now)
		status = "future";
	else
		status = "valid";
	fprintf(out, "%-6s  %-32s  %-20s  %-7s  ", index_type_name(e->ie_type),
	    e->ie_serial, na, status);
	switch (e->ie_type) {
	case PKI_PERSON:
		fprintf(out, "%s/%s/%s (%s)\n", e->ie_agency,
		    refx_role_name(e->ie_role), e->ie_person, e->ie_name);
		break;
	case PKI_UNIT:
		fprintf(out, "%s/%s (%s)\n", e->ie_agency,
		    refx_kind_name(e->ie_kind), e->ie_name);
		break;
	default:
		fprintf(out, "%s\n", e->ie_san);
		break;
	}
}

/**
 * dir_list(dir, json, type, out): Print what was issued to ${out}: the
 * index as JSON, or a table of the entries of ${type} (-1: all).  Return
 * an exit status.
 */
int
dir_list(const char *dir, int json, int type, FILE *out)
{
	struct pki p;
	char *s;
	size_t i;
	time_t now = time(NULL);
	int rc;

	if ((rc = pki_open(&p, dir, LOCK_SH, 0)))
		goto err1;
	rc = EX_SOFTWARE;
	if (json) {
		if ((s = index_dump(&p.p_ix)) == NULL)
			goto err1;
		fputs(s, out);
		free(s);
	} else {
		fprintf(out, "%-6s  %-32s  %-20s  %-7s  %s\n", "TYPE", "SERIAL",
		    "NOT AFTER", "STATUS", "SUBJECT");
		for (i = 0; i < p.p_ix.ix_n; i++)
			if (type < 0 || p.p_ix.ix_ent[i].ie_type ==
			    (enum pki_type)type)
				list_row(out, &p.p_ix.ix_ent[i], now);
	}
	if (fflush(out) == EOF || ferror(out)) {
		log_warn("write");
		rc = EX_IOERR;
		goto err1;
	}
	pki_close(&p);
	return (0);

err1:
	pki_close(&p);
	return (rc);
}
