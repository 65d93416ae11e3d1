/*
 * The exchange's directory of units, verified by the client (the server
 * is not trusted for keys), and who the caller is.  See directory.h.
 */
#include <limits.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "refx/cert.h"
#include "refx/file.h"
#include "refx/identity.h"
#include "refx/log.h"
#include "refx/secret.h"

#include "cmd.h"
#include "directory.h"

#define DIRECTORY_MAX	NET_RESP_MAX	/* bytes of answer we accept */
#define WHOAMI_MAX	(64 * 1024)
#define UNITS_MAX	10000		/* units we accept */
#define CERT_PEM_MAX	(64 * 1024)	/* bytes of a unit certificate */
#define CRL_PEM_MAX	(8 * 1024 * 1024)	/* bytes of the CRL */
#define KIND_MAX	32
#define PEM_BEGIN	"-----BEGIN CERTIFICATE-----"
#define CRL_BEGIN	"-----BEGIN X509 CRL-----"


/*
 * Refuse a CRL older than the newest this user has seen from the
 * exchange: the CRL comes through the server, which could otherwise
 * replay an old (still unexpired) one to hide a revocation.  The highest
 * CRL number is kept per CA in the state folder, updated atomically.
 */
static int
crl_not_older(struct directory *d, char *err, size_t errlen)
{
	char dir[4096], path[4200], hex[2 * REFX_FINGERPRINT_LEN + 1];
	char text[32];
	uint8_t fp[REFX_FINGERPRINT_LEN], *old = NULL;
	uint64_t number, seen = 0;
	const char *why;
	size_t len;
	int n;

	if (refx_crl_check(d->d_ca, d->d_crl, &number, &why) != REFX_OK) {
		snprintf(err, errlen, "directory: %s", why);
		return (-1);
	}
	if (refx_cert_fingerprint(d->d_ca, fp) ||
	    cmd_state_dir("crl", dir, sizeof(dir)))
		return (0);		/* no place to remember: check only */
	refx_hex(hex, sizeof(hex), fp, sizeof(fp));
	snprintf(path, sizeof(path), "%s/%.16s", dir, hex);
	if (refx_file_read(path, sizeof(text) - 1, &old, &len) == 0) {
		char *end;

		errno = 0;
		seen = strtoull((char *)old, &end, 10);
		if (errno || end == (char *)old || (*end != '\n' &&
		    *end != '\0'))
			seen = 0;
		free(old);
	}
	if (number < seen) {
		snprintf(err, errlen, "directory: the server sent an older CRL "
		    "(number %llu) than one already seen (%llu): refusing, "
		    "a revocation may be hidden", (unsigned long long)number,
		    (unsigned long long)seen);
		return (-1);
	}
	if (number > seen && refx_mkdir_p(dir, 0700) == 0) {
		n = snprintf(text, sizeof(text), "%llu\n",
		    (unsigned long long)number);
		if (refx_file_write(path, text, (size_t)n, 0600, 0))
			log_warn("%s", path);
	}
	return (0);
}

/* Mark ${u} unusable with a reason. */
static void __attribute__((format(printf, 2, 3)))
unusable(struct dir_unit *u, const char *fmt, ...)
{
	va_list ap;

	u->du_ok = 0;
	memset(u->du_pk, 0, sizeof(u->du_pk));
	u->du_fpr[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(u->du_why, sizeof(u->du_why), fmt, ap);
	va_end(ap);
}

/*
 * Check the shape of one unit of the answer and fill ${u} with what the
 * server claims; then verify its certificate and keep what it certifies.
 * Return -1 only if the entry is malformed.
 */
static int
check_unit(struct directory *d, json_t *e, struct dir_unit *u)
{
	const char *id, *k, *name, *pem, *fpr, *why;
	struct refx_unit cu;
	struct x509_st *cert;
	char hex[DIR_FPR_HEX + 1];
	json_t *v;

	/* The form, as the server claims it. */
	memset(u, 0, sizeof(*u));
	if (!json_is_object(e))
		return (-1);
	id = cmd_json_str(e, "id", REFX_AGENCY_ID_MAX);
	k = cmd_json_str(e, "kind", KIND_MAX);
	name = cmd_json_str(e, "name", REFX_NAME_MAX);
	pem = cmd_json_str(e, "certificate", CERT_PEM_MAX);
	if (id == NULL || !refx_agency_id_valid(id) || k == NULL ||
	    refx_kind_parse(k, &u->du_kind) || name == NULL || pem == NULL ||
	    strncmp(pem, PEM_BEGIN, strlen(PEM_BEGIN)) != 0)
		return (-1);
	fpr = NULL;
	if ((v = json_object_get(e, "fingerprint")) != NULL &&
	    ((fpr = cmd_json_str(e, "fingerprint", DIR_FPR_HEX)) == NULL ||
	    !refx_hex_valid(fpr, DIR_FPR_HEX)))
		return (-1);
	memcpy(u->du_id, id, strlen(id) + 1);
	memcpy(u->du_name, name, strlen(name) + 1);

	/* The certificate: CA, dates, CRL (and its signature), purpose. */
	if ((cert = refx_cert_parse_pem((const uint8_t *)pem, strlen(pem)))
	    == NULL) {
		unusable(u, "its certificate cannot be parsed");
		return (0);
	}
	if (refx_cert_verify(d->d_ca, d->d_crl, cert, REFX_CERT_UNIT, &why)) {
		unusable(u, "its certificate failed verification: %s",
		    why != NULL ? why : "unknown reason");
		goto done;
	}
	if (refx_cert_unit(cert, &cu, &why)) {
		unusable(u, "its certificate is not a unit certificate: %s",
		    why != NULL ? why : "unknown reason");
		goto done;
	}

	/* What the server says must be what the CA certified. */
	refx_hex(hex, sizeof(hex), cu.u_fingerprint, sizeof(cu.u_fingerprint));
	if (strcmp(cu.u_id, id) != 0)
		unusable(u, "the directory lists it with the certificate of "
		    "another unit");
	else if (cu.u_kind != u->du_kind)
		unusable(u, "the directory gives kind %s, its certificate %s",
		    refx_kind_name(u->du_kind), refx_kind_name(cu.u_kind));
	else if (strcmp(cu.u_name, name) != 0)
		unusable(u, "the directory's name differs from its "
		    "certificate's");
	else if (fpr != NULL && strcmp(fpr, hex) != 0)
		unusable(u, "the directory's fingerprint differs from its "
		    "certificate's");
	else {
		u->du_ok = 1;
		memcpy(u->du_pk, cu.u_x25519, sizeof(u->du_pk));
		memcpy(u->du_fpr, hex, sizeof(hex));
	}

done:
	refx_cert_free(cert);
	return (0);
}

/**
 * directory_parse(root, ca_path, err, errlen): Check the shape of the
 * answer ${root} of GET /v1/directory, read the CA certificate
 * ${ca_path} and the answer's CRL, and verify every unit.  Return the
 * directory (free with directory_free), or NULL with a message in ${err}
 * if the answer is malformed or the CA or CRL cannot be read (a unit
 * that fails verification is not an error: it is marked).
 */
struct directory *
directory_parse(json_t *root, const char *ca_path, char *err, size_t errlen)
{
	struct directory *d;
	const char *crl;
	json_t *units, *e;
	size_t i, j;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err0;
	}

	/* The CA we were configured with: the only trust anchor. */
	if ((d->d_ca = refx_cert_read(ca_path)) == NULL) {
		snprintf(err, errlen, "cannot read the exchange CA certificate "
		    "%s", ca_path);
		goto err1;
	}

	/* The CRL is required: without it revoked units would pass. */
	if (!json_is_object(root) ||
	    (crl = cmd_json_str(root, "crl", CRL_PEM_MAX)) == NULL ||
	    strncmp(crl, CRL_BEGIN, strlen(CRL_BEGIN)) != 0) {
		snprintf(err, errlen, "directory: the server's answer has no "
		    "CRL; cannot check units for revocation");
		goto err1;
	}
	if ((d->d_crl = refx_crl_parse_pem((const uint8_t *)crl,
	    strlen(crl))) == NULL) {
		snprintf(err, errlen, "directory: the server's CRL cannot be "
		    "parsed");
		goto err1;
	}
	if (crl_not_older(d, err, errlen))
		goto err1;

	/* Every unit, each id once. */
	units = json_object_get(root, "units");
	if (!json_is_array(units) || json_array_size(units) > UNITS_MAX)
		goto bad;
	if (json_array_size(units) > 0 && (d->d_units =
	    calloc(json_array_size(units), sizeof(*d->d_units))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err1;
	}
	json_array_foreach(units, i, e) {
		if (check_unit(d, e, &d->d_units[i]))
			goto bad;
		for (j = 0; j < i; j++)
			if (strcmp(d->d_units[j].du_id, d->d_units[i].du_id)
			    == 0)
				goto bad;
		d->d_n = i + 1;
	}
	return (d);

bad:
	snprintf(err, errlen, "directory: the server's answer is malformed");
err1:
	directory_free(d);
err0:
	return (NULL);
}

/**
 * directory_fetch(c, dir, root): GET /v1/directory and parse it against
 * the configured CA.  ${root} may be NULL; else it receives the answer
 * (json_decref it).  Return EX_OK, or a sysexits(3) code after reporting
 * the failure.
 */
int
directory_fetch(struct cmd_ctx *c, struct directory **dir, json_t **rootp)
{
	char err[512];
	json_t *root;
	int ex;

	*dir = NULL;
	if (rootp != NULL)
		*rootp = NULL;
	if ((ex = cmd_call(c, NET_GET, "/v1/directory", NULL, DIRECTORY_MAX,
	    &root)) != EX_OK)
		return (ex);
	if ((*dir = directory_parse(root, c->c_cf.cc_ca, err, sizeof(err)))
	    == NULL) {
		log_warnx("%s", err);
		json_decref(root);
		return (EX_PROTOCOL);
	}
	if (rootp != NULL)
		*rootp = root;
	else
		json_decref(root);
	return (EX_OK);
}

/** directory_free(d): Free ${d}; NULL is a no-op. */
void
directory_free(struct directory *d)
{

	if (d == NULL)
		return;
	free(d->d_units);
	refx_crl_free(d->d_crl);
	refx_cert_free(d->d_ca);
	free(d);
}

/** directory_get(d, id): The unit ${id}, usable or not, or NULL. */
const struct dir_unit *
directory_get(const struct directory *d, const char *id)
{
	size_t i;

	for (i = 0; i < d->d_n; i++)
		if (strcmp(d->d_units[i].du_id, id) == 0)
			return (&d->d_units[i]);
	return (NULL);
}

/**
 * directory_usable(d, id, u): Find the unit ${id} and check that its
 * certificate verified.  Return EX_OK with ${u}, or report in plain
 * words which unit cannot be used and why, and return EX_DATAERR.
 */
int
directory_usable(const struct directory *d, const char *id,
    const struct dir_unit **u)
{
	char ib[4 * REFX_AGENCY_ID_MAX + 1];

	if ((*u = directory_get(d, id)) == NULL) {
		log_warnx("unit %s is not in the exchange's directory",
		    cmd_escape(ib, sizeof(ib), id));
		return (EX_DATAERR);
	}
	if (!(*u)->du_ok) {
		log_warnx("unit %s cannot be used: %s", (*u)->du_id,
		    (*u)->du_why);
		*u = NULL;
		return (EX_DATAERR);
	}
	return (EX_OK);
}

/**
 * directory_me_check(me, cert, err, errlen): Check that what the server
 * says about us in ${me} is what our own certificate ${cert} says: the
 * same fingerprint, unit, kind, role, person and name.  The server is not
 * trusted with who we are: our unit decides which key gets the sender's
 * full copy of a referral and the sealed part of a consent.  Return 0, or
 * -1 with a message in ${err}.
 */
int
directory_me_check(const struct dir_me *me, struct x509_st *cert, char *err,
    size_t errlen)
{
	struct refx_identity id;
	char hex[DIR_FPR_HEX + 1];
	const char *why = NULL;

	if (refx_cert_person(cert, &id, &why) != REFX_OK) {
		snprintf(err, errlen, "your certificate holds no identity: %s",
		    why != NULL ? why : "unknown reason");
		return (-1);
	}
	refx_hex(hex, sizeof(hex), id.id_fingerprint,
	    sizeof(id.id_fingerprint));
	if (strcmp(hex, me->dm_fpr) != 0) {
		snprintf(err, errlen, "the server sees another certificate "
		    "than yours");
		return (-1);
	}
	if (strcmp(id.id_agency, me->dm_unit) != 0 ||
	    strcmp(id.id_person, me->dm_person) != 0 ||
	    id.id_kind != me->dm_kind || id.id_role != me->dm_role ||
	    strcmp(id.id_name, me->dm_name) != 0) {
		snprintf(err, errlen, "the server says you are %s (%s) of %s "
		    "(%s), your certificate %s (%s) of %s (%s)", me->dm_person,
		    refx_role_name(me->dm_role), me->dm_unit,
		    refx_kind_name(me->dm_kind), id.id_person,
		    refx_role_name(id.id_role), id.id_agency,
		    refx_kind_name(id.id_kind));
		return (-1);
	}
	return (0);
}

/**
 * directory_me(c, me): GET /v1/whoami, check its form, and check it
 * against our own certificate (directory_me_check).  Return EX_OK or a
 * sysexits(3) code after reporting the failure.
 */
int
directory_me(struct cmd_ctx *c, struct dir_me *me)
{
	const char *agency, *kind, *role, *person, *name, *fpr;
	struct x509_st *cert;
	char err[512];
	json_t *root;
	int ex;

	memset(me, 0, sizeof(*me));
	if ((ex = cmd_call(c, NET_GET, "/v1/whoami", NULL, WHOAMI_MAX,
	    &root)) != EX_OK)
		return (ex);
	agency = cmd_json_str(root, "agency", REFX_AGENCY_ID_MAX);
	kind = cmd_json_str(root, "kind", KIND_MAX);
	role = cmd_json_str(root, "role", KIND_MAX);
	person = cmd_json_str(root, "person", REFX_PERSON_ID_MAX);
	name = cmd_json_str(root, "name", REFX_NAME_MAX);
	fpr = cmd_json_str(root, "fingerprint", DIR_FPR_HEX);
	if (agency == NULL || !refx_agency_id_valid(agency) ||
	    kind == NULL || refx_kind_parse(kind, &me->dm_kind) ||
	    role == NULL || refx_role_parse(role, &me->dm_role) ||
	    person == NULL || !refx_person_id_valid(person) ||
	    name == NULL || fpr == NULL || !refx_hex_valid(fpr, DIR_FPR_HEX)) {
		log_warnx("whoami: the server's answer is malformed");
		json_decref(root);
		return (EX_PROTOCOL);
	}
	memcpy(me->dm_unit, agency, strlen(agency) + 1);
	memcpy(me->dm_person, person, strlen(person) + 1);
	memcpy(me->dm_name, name, strlen(name) + 1);
	memcpy(me->dm_fpr, fpr, strlen(fpr) + 1);
	json_decref(root);

	/* Who we are is what our certificate says, not the server. */
	if ((cert = refx_cert_read(c->c_cf.cc_cert)) == NULL) {
		log_warnx("cannot read your certificate %s", c->c_cf.cc_cert);
		memset(me, 0, sizeof(*me));
		return (EX_CONFIG);
	}
	if (directory_me_check(me, cert, err, sizeof(err))) {
		log_warnx("whoami: %s; refusing to go on", err);
		memset(me, 0, sizeof(*me));
		ex = EX_PROTOCOL;
	} else
		ex = EX_OK;
	refx_cert_free(cert);
	return (ex);
}
