/*
 * refx-mksubmit: build a pool of real, distinct, signed submissions for
 * the benchmark, before its timed phase, so that the load generator
 * measures the server and not the client's encryption.
 *
 *   refx-mksubmit --draft FILE --consent-file FILE --consent ID
 *       --unit UNIT --person PERSON --cert PEM --key KEY
 *       --directory DIRECTORY.json --policy POLICY.json --count N
 *
 * Each line on standard output is one body for POST /v1/referrals, built
 * exactly as `refx referral submit` builds it (client/packet.c): every
 * field encrypted under a fresh key, each recipient's envelope holding
 * the keys of policy ∩ consent for its kind (packet_allowed), the
 * sender's own envelope every key, the manifest signed.  Each body has a
 * new referral id: the server refuses an id it has seen (409), so a body
 * cannot be replayed.  The directory's keys are taken as they are (a
 * bench tool on a PKI it just made: no CA check, as refx-craft).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "refx/cert.h"
#include "refx/envelope.h"
#include "refx/file.h"
#include "refx/identity.h"
#include "refx/log.h"
#include "refx/policy.h"
#include "refx/schema.h"
#include "refx/secret.h"

#include "../client/packet.h"

#define DIRECTORY_MAX	(16 * 1024 * 1024)
#define CERT_PEM_MAX	(64 * 1024)
#define COUNT_MAX	1000000

enum {
	O_DRAFT = 256, O_CONSENT_FILE, O_CONSENT, O_UNIT, O_PERSON, O_CERT,
	O_KEY, O_DIRECTORY, O_POLICY, O_COUNT, O_HELP,
};

static const struct option opts[] = {
	{ "draft", required_argument, NULL, O_DRAFT },
	{ "consent-file", required_argument, NULL, O_CONSENT_FILE },
	{ "consent", required_argument, NULL, O_CONSENT },
	{ "unit", required_argument, NULL, O_UNIT },
	{ "person", required_argument, NULL, O_PERSON },
	{ "cert", required_argument, NULL, O_CERT },
	{ "key", required_argument, NULL, O_KEY },
	{ "directory", required_argument, NULL, O_DIRECTORY },
	{ "policy", required_argument, NULL, O_POLICY },
	{ "count", required_argument, NULL, O_COUNT },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

static void
usage(FILE *f)
{

	fprintf(f, "usage: refx-mksubmit --draft FILE --consent-file FILE "
	    "--consent ID\n"
	    "           --unit UNIT --person PERSON --cert PEM --key KEY\n"
	    "           --directory DIRECTORY.json --policy POLICY.json "
	    "--count N\n");
}

/* The unit ${id} of the directory answer ${dir}, unverified. */
static int
find_unit(json_t *dir, const char *id, struct refx_unit *out)
{
	struct x509_st *cert;
	const char *pem, *why;
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(dir, "units"), i, e) {
		if ((pem = json_string_value(json_object_get(e,
		    "certificate"))) == NULL ||
		    (cert = refx_cert_parse_pem((const uint8_t *)pem,
		    strlen(pem))) == NULL)
			continue;
		if (refx_cert_unit(cert, out, &why) == REFX_OK &&
		    strcmp(out->u_id, id) == 0) {
			refx_cert_free(cert);
			return (0);
		}
		refx_cert_free(cert);
	}
	return (-1);
}

/* Read a whole file for parsing; caller frees. */
static uint8_t *
slurp(const char *path, size_t max, size_t *len)
{
	uint8_t *data;

	if (refx_file_read(path, max, &data, len)) {
		log_warn("%s", path);
		return (NULL);
	}
	return (data);
}

/*
 * The envelopes: the sender's own with every field, then each recipient
 * of the draft with the fields policy ∩ consent allow its kind.
 */
static int
recipients(const struct refx_draft *d, const struct consent_doc *doc,
    const struct refx_policy *pol, json_t *dir, const char *me,
    struct packet_rcpt *rcpt, size_t *n)
{
	struct refx_unit u;
	refx_classes allowed;
	size_t k, j;

	memset(rcpt, 0, sizeof(*rcpt) * PACKET_MAX_ENVELOPES);
	if (find_unit(dir, me, &u)) {
		log_warnx("unit %s is not in the directory", me);
		return (-1);
	}
	snprintf(rcpt[0].pr_unit, sizeof(rcpt[0].pr_unit), "%s", me);
	memcpy(rcpt[0].pr_pk, u.u_x25519, sizeof(rcpt[0].pr_pk));
	rcpt[0].pr_fields = d->d_nfields >= 32 ? UINT32_MAX :
	    ((uint32_t)1 << d->d_nfields) - 1;
	*n = 1;
	for (k = 0; k < d->d_nrecipients && *n < PACKET_MAX_ENVELOPES; k++) {
		for (j = 0; j < doc->cd_nscope; j++)
			if (strcmp(doc->cd_scope[j].cs_unit,
			    d->d_recipients[k]) == 0)
				break;
		if (j == doc->cd_nscope) {
			log_warnx("the consent does not name %s",
			    d->d_recipients[k]);
			return (-1);
		}
		if (find_unit(dir, d->d_recipients[k], &u)) {
			log_warnx("unit %s is not in the directory",
			    d->d_recipients[k]);
			return (-1);
		}
		allowed = packet_allowed(pol, REFX_BASIS_CONSENT, u.u_kind,
		    &doc->cd_scope[j]);
		snprintf(rcpt[*n].pr_unit, sizeof(rcpt[*n].pr_unit), "%s",
		    u.u_id);
		memcpy(rcpt[*n].pr_pk, u.u_x25519, sizeof(rcpt[*n].pr_pk));
		rcpt[*n].pr_fields = packet_field_mask(d, allowed);
		if (rcpt[*n].pr_fields == 0) {
			log_warnx("nothing of the draft may go to %s",
			    u.u_id);
			return (-1);
		}
		(*n)++;
	}
	return (0);
}

int
main(int argc, char *argv[])
{
	const char *draftf = NULL, *consentf = NULL, *consent = NULL;
	const char *unit = NULL, *person = NULL, *certf = NULL, *keyf = NULL;
	const char *dirf = NULL, *polf = NULL;
	char err[PACKET_ERR_LEN], now[PACKET_TIME_LEN + 1];
	char today[PACKET_DATE_LEN + 1], hash[2 * REFX_HASH_LEN + 1];
	char id[REFX_REFERRAL_ID_LEN + 1];
	struct packet_rcpt rcpt[PACKET_MAX_ENVELOPES];
	struct consent_doc doc;
	struct packet_spec spec;
	struct refx_draft *d = NULL;
	struct refx_policy *pol = NULL;
	struct packet *pk;
	json_t *dir = NULL, *body;
	uint8_t *data = NULL;
	char *pem = NULL, *end;
	size_t len, n = 0, i;
	unsigned long count = 0;
	int ch, ex = EX_SOFTWARE, have_doc = 0;

	if (refx_crypto_init()) {
		fprintf(stderr, "refx-mksubmit: cannot initialise libsodium\n");
		return (EX_OSERR);
	}
	log_init("refx-mksubmit", 0);
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_DRAFT: draftf = optarg; break;
		case O_CONSENT_FILE: consentf = optarg; break;
		case O_CONSENT: consent = optarg; break;
		case O_UNIT: unit = optarg; break;
		case O_PERSON: person = optarg; break;
		case O_CERT: certf = optarg; break;
		case O_KEY: keyf = optarg; break;
		case O_DIRECTORY: dirf = optarg; break;
		case O_POLICY: polf = optarg; break;
		case O_COUNT:
			count = strtoul(optarg, &end, 10);
			if (*end != '\0' || count == 0 || count > COUNT_MAX) {
				log_warnx("--count: 1 to %d", COUNT_MAX);
				return (EX_USAGE);
			}
			break;
		case O_HELP:
			usage(stdout);
			return (EX_OK);
		default:
			usage(stderr);
			return (EX_USAGE);
		}
	}
	if (optind != argc || draftf == NULL || consentf == NULL ||
	    consent == NULL || unit == NULL || person == NULL ||
	    certf == NULL || keyf == NULL || dirf == NULL || polf == NULL ||
	    count == 0) {
		usage(stderr);
		return (EX_USAGE);
	}

	/* The draft, the consent's scope, the policy, the directory. */
	if ((d = refx_draft_load(draftf, err, sizeof(err))) == NULL) {
		log_warnx("%s: %s", draftf, err);
		ex = EX_DATAERR;
		goto done;
	}
	ex = EX_NOINPUT;
	if ((data = slurp(consentf, CONSENT_FILE_MAX, &len)) == NULL)
		goto done;
	packet_today(today);
	if (consent_file_parse(data, len, today, &doc, err, sizeof(err))) {
		log_warnx("%s: %s", consentf, err);
		ex = EX_DATAERR;
		goto done;
	}
	have_doc = 1;
	free(data);
	if ((data = slurp(polf, REFX_POLICY_MAX, &len)) == NULL)
		goto done;
	if ((pol = refx_policy_parse(data, len, err, sizeof(err))) == NULL) {
		log_warnx("%s: %s", polf, err);
		ex = EX_DATAERR;
		goto done;
	}
	refx_hex(hash, sizeof(hash), refx_policy_hash(pol), REFX_HASH_LEN);
	free(data);
	if ((data = slurp(dirf, DIRECTORY_MAX, &len)) == NULL)
		goto done;
	dir = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES,
	    NULL);
	if (!json_is_object(dir)) {
		log_warnx("%s: not a directory answer", dirf);
		ex = EX_DATAERR;
		goto done;
	}
	free(data);
	if ((data = slurp(certf, CERT_PEM_MAX, &len)) == NULL)
		goto done;
	pem = (char *)data;
	data = NULL;
	if (recipients(d, &doc, pol, dir, unit, rcpt, &n)) {
		ex = EX_DATAERR;
		goto done;
	}

	/* Each body as refx referral submit builds it, with a new id. */
	ex = EX_SOFTWARE;
	for (i = 0; i < count; i++) {
		packet_now(now);
		refx_referral_id_new(id);
		memset(&spec, 0, sizeof(spec));
		spec.ps_draft = d;
		spec.ps_id = id;
		spec.ps_basis = REFX_BASIS_CONSENT;
		spec.ps_consent = consent;
		spec.ps_unit = unit;
		spec.ps_person = person;
		spec.ps_created_at = now;
		spec.ps_policy = hash;
		spec.ps_rcpt = rcpt;
		spec.ps_nrcpt = n;
		if ((pk = packet_build(&spec, err, sizeof(err))) == NULL ||
		    packet_sign(pk, keyf, NULL, err, sizeof(err))) {
			log_warnx("%s", err);
			packet_free(pk);
			goto done;
		}
		body = packet_body(pk, pem);
		packet_free(pk);
		if (body == NULL || json_dumpf(body, stdout, JSON_COMPACT) ||
		    putchar('\n') == EOF) {
			log_warnx("cannot write body %zu", i);
			json_decref(body);
			ex = EX_IOERR;
			goto done;
		}
		json_decref(body);
	}
	if (fflush(stdout) == EOF) {
		log_warn("stdout");
		ex = EX_IOERR;
		goto done;
	}
	ex = EX_OK;

done:
	free(data);
	free(pem);
	json_decref(dir);
	refx_policy_free(pol);
	if (have_doc)
		consent_doc_free(&doc);
	refx_draft_free(d);
	return (ex);
}
