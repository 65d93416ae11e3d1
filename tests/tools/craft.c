/*
 * refx-craft: build a real, correctly encrypted and signed body for
 * POST /v1/referrals, but with envelope contents chosen on the command
 * line, optionally tampered with, and print it on standard output.  The
 * integration tests POST it with curl to check that the server refuses
 * what the honest client never sends (a field beyond policy ∩ consent in
 * an envelope, a broken hash or signature).
 *
 *   refx-craft --draft FILE --consent ID --me-unit UNIT --me-person PERSON
 *       --cert PEM --key KEY [--passphrase-file F]
 *       --directory DIRECTORY.json --policy-hash HEX
 *       [--envelope UNIT=field,field,...]...
 *       [--tamper field-blob|envelope|signature|manifest]
 *
 * The packet is built by the client's own code (client/packet.c:
 * packet_build, packet_sign, packet_body); only the field lists differ.
 * The sender's unit gets every field unless an --envelope names it.
 * Without --envelope, every recipient of the draft gets every field.
 * The directory's keys are taken as they are (a test tool: no CA check).
 * A draft whose basis is report-of-concern needs no --consent.
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

#include "../../client/packet.h"

#define DIRECTORY_MAX	(16 * 1024 * 1024)
#define CERT_PEM_MAX	(64 * 1024)
#define PASS_MAX	1024
#define LIST_MAX	1024	/* bytes of one --envelope value */

enum tamper {
	T_NONE,
	T_FIELD_BLOB,
	T_ENVELOPE,
	T_SIGNATURE,
	T_MANIFEST,
};

enum {
	O_DRAFT = 256, O_CONSENT, O_ME_UNIT, O_ME_PERSON, O_CERT, O_KEY,
	O_PASS, O_DIRECTORY, O_POLICY, O_ENVELOPE, O_TAMPER, O_HELP,
};

static const struct option opts[] = {
	{ "draft", required_argument, NULL, O_DRAFT },
	{ "consent", required_argument, NULL, O_CONSENT },
	{ "me-unit", required_argument, NULL, O_ME_UNIT },
	{ "me-person", required_argument, NULL, O_ME_PERSON },
	{ "cert", required_argument, NULL, O_CERT },
	{ "key", required_argument, NULL, O_KEY },
	{ "passphrase-file", required_argument, NULL, O_PASS },
	{ "directory", required_argument, NULL, O_DIRECTORY },
	{ "policy-hash", required_argument, NULL, O_POLICY },
	{ "envelope", required_argument, NULL, O_ENVELOPE },
	{ "tamper", required_argument, NULL, O_TAMPER },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

static void
usage(FILE *f)
{

	fprintf(f, "usage: refx-craft --draft FILE [--consent ID] "
	    "--me-unit UNIT --me-person PERSON\n"
	    "           --cert PEM --key KEY [--passphrase-file F] "
	    "--directory DIRECTORY.json\n"
	    "           --policy-hash HEX [--envelope UNIT=field,...]... \n"
	    "           [--tamper field-blob|envelope|signature|manifest]\n");
}

/* The X25519 key of ${unit} in the directory answer ${dir}, unverified. */
static int
unit_key(json_t *dir, const char *unit, uint8_t pk[REFX_X25519_KEY_LEN])
{
	struct refx_unit u;
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
		if (refx_cert_unit(cert, &u, &why) == REFX_OK &&
		    strcmp(u.u_id, unit) == 0) {
			memcpy(pk, u.u_x25519, REFX_X25519_KEY_LEN);
			refx_cert_free(cert);
			return (0);
		}
		refx_cert_free(cert);
	}
	return (-1);
}

/* The index of field ${name} in ${d}, or -1. */
static int
field_index(const struct refx_draft *d, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < d->d_nfields; i++)
		if (strlen(d->d_fields[i].f_name) == len &&
		    memcmp(d->d_fields[i].f_name, name, len) == 0)
			return ((int)i);
	return (-1);
}

/* Parse "UNIT=a,b,c" into ${r}. */
static int
parse_envelope(const char *arg, const struct refx_draft *d, json_t *dir,
    struct packet_rcpt *r)
{
	const char *eq, *p, *comma;
	size_t n;
	int i;

	memset(r, 0, sizeof(*r));
	if (strlen(arg) > LIST_MAX || (eq = strchr(arg, '=')) == NULL ||
	    (size_t)(eq - arg) > REFX_AGENCY_ID_MAX || eq == arg) {
		log_warnx("--envelope %s: expected UNIT=field,field,...", arg);
		return (-1);
	}
	memcpy(r->pr_unit, arg, (size_t)(eq - arg));
	r->pr_unit[eq - arg] = '\0';
	if (unit_key(dir, r->pr_unit, r->pr_pk)) {
		log_warnx("--envelope: unit %s is not in the directory",
		    r->pr_unit);
		return (-1);
	}
	for (p = eq + 1; *p != '\0'; p = *comma != '\0' ? comma + 1 : comma) {
		if ((comma = strchr(p, ',')) == NULL)
			comma = p + strlen(p);
		n = (size_t)(comma - p);
		if ((i = field_index(d, p, n)) < 0) {
			log_warnx("--envelope %s: the draft has no field "
			    "'%.*s'", r->pr_unit, (int)n, p);
			return (-1);
		}
		r->pr_fields |= (uint32_t)1 << i;
	}
	return (0);
}

/* Read the first line of the passphrase file ${path}; caller frees. */
static char *
read_pass(const char *path)
{
	uint8_t *data;
	size_t len;

	if (refx_file_read(path, PASS_MAX, &data, &len))
		return (NULL);
	data[strcspn((char *)data, "\r\n")] = '\0';
	return ((char *)data);
}

/* Change the manifest after signing, keeping it well-formed JSON. */
static int
tamper_manifest(struct packet *pk)
{
	const char *key = "\"created_at\":\"";
	char *s, *p;

	/* The last digit of the seconds: the signature no longer holds. */
	s = (char *)pk->p_manifest;
	if ((p = strstr(s, key)) == NULL ||
	    strlen(p) < strlen(key) + PACKET_TIME_LEN)
		return (-1);
	p += strlen(key) + PACKET_TIME_LEN - 2;
	*p = *p == '0' ? '1' : '0';
	return (0);
}

int
main(int argc, char *argv[])
{
	const char *draftf = NULL, *consent = NULL, *unit = NULL;
	const char *person = NULL, *certf = NULL, *keyf = NULL;
	const char *passf = NULL, *dirf = NULL, *hash = NULL;
	const char *envs[PACKET_MAX_ENVELOPES];
	char err[PACKET_ERR_LEN], now[PACKET_TIME_LEN + 1];
	char id[REFX_REFERRAL_ID_LEN + 1];
	struct packet_rcpt rcpt[PACKET_MAX_ENVELOPES];
	struct packet_spec spec;
	struct refx_draft *d = NULL;
	struct packet *pk = NULL;
	enum tamper tamper = T_NONE;
	uint8_t *data;
	size_t len, nenv = 0, n = 0, i, k;
	json_t *dir = NULL, *body = NULL;
	char *pem = NULL, *pass = NULL;
	int ch, ex = EX_SOFTWARE, own_given = 0;

	if (refx_crypto_init()) {
		fprintf(stderr, "refx-craft: cannot initialise libsodium\n");
		return (EX_OSERR);
	}
	log_init("refx-craft", 0);
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_DRAFT: draftf = optarg; break;
		case O_CONSENT: consent = optarg; break;
		case O_ME_UNIT: unit = optarg; break;
		case O_ME_PERSON: person = optarg; break;
		case O_CERT: certf = optarg; break;
		case O_KEY: keyf = optarg; break;
		case O_PASS: passf = optarg; break;
		case O_DIRECTORY: dirf = optarg; break;
		case O_POLICY: hash = optarg; break;
		case O_ENVELOPE:
			if (nenv == PACKET_MAX_ENVELOPES) {
				log_warnx("too many --envelope");
				return (EX_USAGE);
			}
			envs[nenv++] = optarg;
			break;
		case O_TAMPER:
			if (strcmp(optarg, "field-blob") == 0)
				tamper = T_FIELD_BLOB;
			else if (strcmp(optarg, "envelope") == 0)
				tamper = T_ENVELOPE;
			else if (strcmp(optarg, "signature") == 0)
				tamper = T_SIGNATURE;
			else if (strcmp(optarg, "manifest") == 0)
				tamper = T_MANIFEST;
			else {
				usage(stderr);
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
	if (optind != argc || draftf == NULL || unit == NULL ||
	    person == NULL || certf == NULL || keyf == NULL || dirf == NULL ||
	    hash == NULL) {
		usage(stderr);
		return (EX_USAGE);
	}

	/* The draft, the directory, our certificate, the passphrase. */
	if ((d = refx_draft_load(draftf, err, sizeof(err))) == NULL) {
		log_warnx("%s: %s", draftf, err);
		ex = EX_DATAERR;
		goto done;
	}
	if (!d->d_concern && consent == NULL) {
		log_warnx("the draft's basis is consent: give --consent ID");
		ex = EX_USAGE;
		goto done;
	}
	if (refx_file_read(dirf, DIRECTORY_MAX, &data, &len)) {
		log_warn("%s", dirf);
		ex = EX_NOINPUT;
		goto done;
	}
	dir = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES,
	    NULL);
	free(data);
	if (!json_is_object(dir)) {
		log_warnx("%s: not a directory answer", dirf);
		ex = EX_DATAERR;
		goto done;
	}
	if (refx_file_read(certf, CERT_PEM_MAX, &data, &len)) {
		log_warn("%s", certf);
		ex = EX_NOINPUT;
		goto done;
	}
	pem = (char *)data;
	if (passf != NULL && (pass = read_pass(passf)) == NULL) {
		log_warn("%s", passf);
		ex = EX_NOINPUT;
		goto done;
	}

	/* The envelopes: ours (all fields unless given), then as told. */
	memset(rcpt, 0, sizeof(rcpt));
	n = 1;
	for (i = 0; i < nenv; i++) {
		if (parse_envelope(envs[i], d, dir, &rcpt[n])) {
			ex = EX_USAGE;
			goto done;
		}
		if (strcmp(rcpt[n].pr_unit, unit) == 0) {
			rcpt[0] = rcpt[n];
			own_given = 1;
		} else if (n < PACKET_MAX_ENVELOPES - 1)
			n++;
	}
	if (nenv == 0) {
		for (k = 0; k < d->d_nrecipients && n < PACKET_MAX_ENVELOPES;
		    k++, n++) {
			snprintf(rcpt[n].pr_unit, sizeof(rcpt[n].pr_unit), "%s",
			    d->d_recipients[k]);
			if (unit_key(dir, rcpt[n].pr_unit, rcpt[n].pr_pk)) {
				log_warnx("unit %s is not in the directory",
				    rcpt[n].pr_unit);
				ex = EX_DATAERR;
				goto done;
			}
			rcpt[n].pr_fields = d->d_nfields >= 32 ? UINT32_MAX :
			    ((uint32_t)1 << d->d_nfields) - 1;
		}
	}
	if (!own_given) {
		snprintf(rcpt[0].pr_unit, sizeof(rcpt[0].pr_unit), "%s", unit);
		if (unit_key(dir, unit, rcpt[0].pr_pk)) {
			log_warnx("unit %s is not in the directory", unit);
			ex = EX_DATAERR;
			goto done;
		}
		rcpt[0].pr_fields = d->d_nfields >= 32 ? UINT32_MAX :
		    ((uint32_t)1 << d->d_nfields) - 1;
	}

	/* The same building as refx referral submit. */
	packet_now(now);
	memset(&spec, 0, sizeof(spec));
	spec.ps_draft = d;
	refx_referral_id_new(id);
	spec.ps_id = id;
	spec.ps_basis = d->d_concern ? REFX_BASIS_CONCERN : REFX_BASIS_CONSENT;
	spec.ps_consent = d->d_concern ? NULL : consent;
	spec.ps_unit = unit;
	spec.ps_person = person;
	spec.ps_created_at = now;
	spec.ps_policy = hash;
	spec.ps_rcpt = rcpt;
	spec.ps_nrcpt = n;
	if ((pk = packet_build(&spec, err, sizeof(err))) == NULL ||
	    packet_sign(pk, keyf, pass, err, sizeof(err))) {
		log_warnx("%s", err);
		ex = EX_SOFTWARE;
		goto done;
	}

	/* After hashing and signing: each change breaks exactly one check. */
	switch (tamper) {
	case T_FIELD_BLOB:
		pk->p_blob[0][pk->p_blob_len[0] - 1] ^= 1;
		break;
	case T_ENVELOPE:
		k = n > 1 ? 1 : 0;
		pk->p_env[k][pk->p_env_len[k] - 1] ^= 1;
		break;
	case T_SIGNATURE:
		pk->p_sig[0] ^= 1;
		break;
	case T_MANIFEST:
		if (tamper_manifest(pk)) {
			log_warnx("cannot find created_at in the manifest");
			goto done;
		}
		break;
	case T_NONE:
		break;
	}

	if ((body = packet_body(pk, pem)) == NULL ||
	    json_dumpf(body, stdout, JSON_COMPACT) == -1 ||
	    putchar('\n') == EOF || fflush(stdout) == EOF) {
		log_warnx("cannot write the body");
		ex = EX_IOERR;
		goto done;
	}
	ex = EX_OK;

done:
	json_decref(body);
	packet_free(pk);
	if (pass != NULL) {
		refx_wipe(pass, strlen(pass));
		free(pass);
	}
	free(pem);
	json_decref(dir);
	refx_draft_free(d);
	return (ex);
}
