/*
 * refx consent record | list | show | withdraw: the guardians' consent,
 * recorded by the school.  The server sees who decided what (roles,
 * custody, maturity, yes or no) and the scope; names, dates, how consent
 * was obtained and the maturity assessment are sealed to the units
 * (packet.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "refx/envelope.h"
#include "refx/file.h"
#include "refx/identity.h"
#include "refx/log.h"
#include "refx/schema.h"
#include "refx/secret.h"

#include "cmd.h"
#include "directory.h"
#include "packet.h"

#define CONSENT_ANSWER_MAX	NET_RESP_MAX
#define SMALL_ANSWER_MAX	(64 * 1024)
#define REASON_MAX		1024	/* bytes of a validity reason */
#define STATUS_MAX		32
#define CONSENTS_MAX		100000	/* consents in a list */
#define DISCLOSURES_MAX		100000
#define TEXT_ESC_MAX		(4 * 4096 + 1)
#define PATH_LEN		(sizeof("/v1/consents/") + \
				    REFX_REFERRAL_ID_LEN + sizeof("/withdraw"))
#define OPT_JSON		256
#define OPT_RECIPIENT		257

/* Return 1 if ${s} is a status word: 1-32 of [a-z-]. */
static int
is_word(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > STATUS_MAX)
		return (0);
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
			return (0);
	return (1);
}


/**
 * cmd_consent_get(c, id, root): GET /v1/consents/${id} (a valid id).
 * Return EX_OK with the answer in ${root}, or a sysexits(3) code after
 * reporting.
 */
int
cmd_consent_get(struct cmd_ctx *c, const char *id, json_t **root)
{
	char path[PATH_LEN];

	*root = NULL;
	if (!refx_referral_id_valid(id)) {
		log_warnx("'%s' is not a consent id", id);
		return (EX_USAGE);
	}
	snprintf(path, sizeof(path), "/v1/consents/%s", id);
	return (cmd_call(c, NET_GET, path, NULL, CONSENT_ANSWER_MAX, root));
}

/* Read and validate the consent file ${path} into ${doc}. */
static int
read_consent_file(const char *path, struct consent_doc *doc)
{
	char err[PACKET_ERR_LEN], today[PACKET_DATE_LEN + 1];
	uint8_t *data;
	size_t len;
	int rc;

	if (refx_file_read(path, CONSENT_FILE_MAX, &data, &len)) {
		if (errno == EFBIG) {
			log_warnx("%s: larger than %d bytes", path,
			    CONSENT_FILE_MAX);
			return (EX_DATAERR);
		}
		log_warnx("cannot read %s: %s", path, strerror(errno));
		return (EX_NOINPUT);
	}
	packet_today(today);
	rc = consent_file_parse(data, len, today, doc, err, sizeof(err));
	refx_wipe(data, len);
	free(data);
	if (rc) {
		log_warnx("%s: %s", path, err);
		return (EX_DATAERR);
	}
	return (EX_OK);
}

/*
 * The units to seal the private part to: our own and each recipient,
 * every one verified in the directory.
 */
static int
seal_units(const struct consent_doc *doc, const struct dir_me *me,
    const struct directory *dir, struct packet_rcpt *units, size_t *n)
{
	const struct dir_unit *u;
	size_t i;
	int ex;

	*n = 0;
	if ((ex = directory_usable(dir, me->dm_unit, &u)) != EX_OK)
		return (ex);
	memcpy(units[0].pr_unit, u->du_id, sizeof(units[0].pr_unit));
	memcpy(units[0].pr_pk, u->du_pk, sizeof(units[0].pr_pk));
	for (i = 0; i < doc->cd_nscope; i++) {
		if (strcmp(doc->cd_scope[i].cs_unit, me->dm_unit) == 0) {
			log_warnx("recipients[%zu].unit: %s is your own unit",
			    i, me->dm_unit);
			return (EX_DATAERR);
		}
		if ((ex = directory_usable(dir, doc->cd_scope[i].cs_unit, &u))
		    != EX_OK)
			return (ex);
		memcpy(units[i + 1].pr_unit, u->du_id,
		    sizeof(units[i + 1].pr_unit));
		memcpy(units[i + 1].pr_pk, u->du_pk,
		    sizeof(units[i + 1].pr_pk));
	}
	*n = doc->cd_nscope + 1;
	return (EX_OK);
}

/*
 * refx consent record FILE [--json]: validate the consent file, seal its
 * private part to our unit and the recipients, send the public part.
 */
int
cmd_consent_record(struct cmd_ctx *c, int argc, char **argv)
{
	struct packet_rcpt units[CONSENT_MAX_SCOPE + 1];
	char id[REFX_REFERRAL_ID_LEN + 1], err[PACKET_ERR_LEN];
	char msg[1024], rb[4 * REASON_MAX + 1];
	struct consent_doc doc;
	struct directory *dir = NULL;
	struct dir_me me;
	const char *rid, *reason;
	char *pem = NULL, *pass = NULL;
	json_t *body = NULL, *sealed, *ans = NULL, *valid;
	uint8_t *pt = NULL;
	size_t ptlen = 0, n;
	int ex, warn;

	if ((ex = cmd_json_operands(c, argc, argv, 1, "FILE")) != 0)
		return (ex);
	if ((ex = read_consent_file(argv[optind], &doc)) != EX_OK)
		return (ex);

	/* Who we are and the verified keys of every unit involved. */
	if ((ex = directory_me(c, &me)) != EX_OK ||
	    (ex = directory_fetch(c, &dir, NULL)) != EX_OK ||
	    (ex = seal_units(&doc, &me, dir, units, &n)) != EX_OK)
		goto done;

	/* The certificate we sign the statement as, and the key's passphrase. */
	if ((ex = cmd_own_cert(c, &me, &pem)) != EX_OK)
		goto done;
	if (c->c_cf.cc_passfile[0] != '\0' &&
	    (ex = cmd_passphrase_file(c->c_cf.cc_passfile, &pass)) != EX_OK)
		goto done;

	/* The private part, sealed; the public part around it. */
	refx_referral_id_new(id);
	if (consent_private(&doc, &pt, &ptlen)) {
		log_warnx("out of memory");
		ex = EX_OSERR;
		goto done;
	}
	if ((sealed = consent_seal(id, pt, ptlen, units, n, err,
	    sizeof(err))) == NULL) {
		log_warnx("%s", err);
		ex = EX_SOFTWARE;
		goto done;
	}
	if ((body = consent_public(&doc, id)) == NULL ||
	    json_object_set_new(body, "sealed", sealed)) {
		log_warnx("out of memory");
		ex = EX_OSERR;
		goto done;
	}

	/* The school's signed statement of the public part. */
	if (consent_sign(&doc, id, me.dm_unit, me.dm_person, c->c_cf.cc_key,
	    pass, pem, body, err, sizeof(err))) {
		log_warnx("%s", err);
		ex = EX_CONFIG;
		goto done;
	}
	if ((ex = cmd_call(c, NET_POST, "/v1/consents", body, SMALL_ANSWER_MAX,
	    &ans)) != EX_OK)
		goto done;
	rid = cmd_json_str(ans, "id", REFX_REFERRAL_ID_LEN);
	valid = json_object_get(ans, "valid");
	reason = json_string_value(json_object_get(ans, "reason"));
	if (rid == NULL || strcmp(rid, id) != 0 || !json_is_boolean(valid) ||
	    (reason != NULL && strlen(reason) > REASON_MAX)) {
		log_warnx("consent record: the server's answer is malformed");
		ex = EX_PROTOCOL;
		goto done;
	}

	warn = consent_check_parties(&doc, msg, sizeof(msg));
	if (c->c_json)
		ex = cmd_print_json(ans);
	else if (json_is_true(valid))
		printf("consent %s recorded: valid until %s\n", id,
		    doc.cd_valid_until);
	else
		printf("consent %s recorded, but NOT valid: %s\n"
		    "It is kept as documentation and refuses every referral.\n",
		    id, reason != NULL && reason[0] != '\0' ?
		    cmd_escape(rb, sizeof(rb), reason) : "no reason given");
	if (warn)
		log_warnx("warning: not every guardian with custody (and "
		    "mature pupil) agreed: %s", msg);

done:
	json_decref(ans);
	json_decref(body);
	cmd_passphrase_free(pass);
	free(pem);
	refx_secret_free(pt, ptlen);
	directory_free(dir);
	consent_doc_free(&doc);
	return (ex);
}

/* refx consent list [--json]: our unit's consents, owned or received. */
int
cmd_consent_list(struct cmd_ctx *c, int argc, char **argv)
{
	const char *id, *owner, *until, *status, *r;
	char rcpts[CONSENT_MAX_SCOPE * (REFX_AGENCY_ID_MAX + 2) + 1];
	json_t *root, *list, *e, *rs, *v;
	size_t i, j, o;
	int ex, w = 5;

	if ((ex = cmd_json_operands(c, argc, argv, 0, "")) != 0)
		return (ex);
	if ((ex = cmd_call(c, NET_GET, "/v1/consents", NULL,
	    CONSENT_ANSWER_MAX, &root)) != EX_OK)
		return (ex);

	/* Check every entry before printing any. */
	list = json_object_get(root, "consents");
	if (!json_is_array(list) || json_array_size(list) > CONSENTS_MAX)
		goto bad;
	json_array_foreach(list, i, e) {
		id = cmd_json_str(e, "id", REFX_REFERRAL_ID_LEN);
		owner = cmd_json_str(e, "owner", REFX_AGENCY_ID_MAX);
		until = cmd_json_str(e, "valid_until", PACKET_DATE_LEN);
		status = cmd_json_str(e, "status", STATUS_MAX);
		rs = json_object_get(e, "recipients");
		if (id == NULL || !refx_referral_id_valid(id) ||
		    owner == NULL || !refx_agency_id_valid(owner) ||
		    until == NULL || !packet_date_valid(until) ||
		    status == NULL || !is_word(status) ||
		    !json_is_boolean(json_object_get(e, "valid")) ||
		    !json_is_array(rs) ||
		    json_array_size(rs) > CONSENT_MAX_SCOPE)
			goto bad;
		json_array_foreach(rs, j, v)
			if ((r = json_string_value(v)) == NULL ||
			    !refx_agency_id_valid(r))
				goto bad;
		if ((int)strlen(owner) > w)
			w = (int)strlen(owner);
	}
	if (c->c_json) {
		ex = cmd_print_json(root);
		goto done;
	}
	if (json_array_size(list) == 0) {
		printf("no consents\n");
		goto done;
	}
	printf("%-32s  %-*s  %-10s  %-9s  %-5s  %s\n", "ID", w, "OWNER",
	    "UNTIL", "STATUS", "VALID", "RECIPIENTS");
	json_array_foreach(list, i, e) {
		o = 0;
		rcpts[0] = '\0';
		json_array_foreach(json_object_get(e, "recipients"), j, v)
			o += (size_t)snprintf(rcpts + o, sizeof(rcpts) - o,
			    "%s%s", j > 0 ? " " : "", json_string_value(v));
		printf("%-32s  %-*s  %-10s  %-9s  %-5s  %s\n",
		    json_string_value(json_object_get(e, "id")), w,
		    json_string_value(json_object_get(e, "owner")),
		    json_string_value(json_object_get(e, "valid_until")),
		    json_string_value(json_object_get(e, "status")),
		    json_is_true(json_object_get(e, "valid")) ? "yes" : "no",
		    rcpts);
	}
	goto done;

bad:
	log_warnx("consent list: the server's answer is malformed");
	ex = EX_PROTOCOL;
done:
	json_decref(root);
	return (ex);
}

/* Print the classes of ${set}, comma-separated. */
static void
print_classes(refx_classes set)
{
	int cls, first = 1;

	for (cls = 0; cls < REFX_CLASS_COUNT; cls++) {
		if (!(set & REFX_CLASS_BIT(cls)))
			continue;
		printf("%s%s", first ? "" : ", ",
		    refx_class_name((enum refx_class)cls));
		first = 0;
	}
	if (first)
		printf("-");
}

/* Print the multi-line text ${s}, each line escaped and indented. */
static void
print_text(const char *indent, const char *s)
{
	char line[4096 + 1], esc[TEXT_ESC_MAX];
	const char *nl;
	size_t n;

	for (;;) {
		nl = strchr(s, '\n');
		n = nl != NULL ? (size_t)(nl - s) : strlen(s);
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, s, n);
		line[n] = '\0';
		printf("%s%s\n", indent, cmd_escape(esc, sizeof(esc), line));
		if (nl == NULL)
			break;
		s = nl + 1;
	}
}

/* The public view of a consent, checked: what show prints. */
struct shown {
	const char		*sh_owner, *sh_by, *sh_at, *sh_until;
	const char		*sh_status, *sh_status_at, *sh_reason;
	int			 sh_valid;
	struct consent_doc	 sh_doc;
	json_t			*sh_disclosures;
	const char		*sh_blob, *sh_env;	/* or NULL */
};

/* Check the answer of GET /v1/consents/ID. */
static int
check_shown(json_t *root, const char *id, struct shown *s)
{
	char err[PACKET_ERR_LEN];
	const char *cid;
	json_t *v, *e, *sealed;
	size_t i;

	memset(s, 0, sizeof(*s));
	cid = cmd_json_str(root, "id", REFX_REFERRAL_ID_LEN);
	s->sh_owner = cmd_json_str(root, "owner", REFX_AGENCY_ID_MAX);
	s->sh_by = cmd_json_str(root, "recorded_by", REFX_PERSON_ID_MAX);
	s->sh_at = cmd_json_str(root, "recorded_at", PACKET_TIME_LEN);
	s->sh_until = cmd_json_str(root, "valid_until", PACKET_DATE_LEN);
	s->sh_status = cmd_json_str(root, "status", STATUS_MAX);
	s->sh_status_at = cmd_json_str(root, "status_at", PACKET_TIME_LEN);
	v = json_object_get(root, "reason");
	s->sh_reason = json_is_string(v) && json_string_length(v) <=
	    REASON_MAX ? json_string_value(v) : "";
	v = json_object_get(root, "valid");
	s->sh_valid = json_is_true(v);
	if (cid == NULL || strcmp(cid, id) != 0 || s->sh_owner == NULL ||
	    !refx_agency_id_valid(s->sh_owner) || s->sh_until == NULL ||
	    !packet_date_valid(s->sh_until) || s->sh_status == NULL ||
	    !is_word(s->sh_status) || !json_is_boolean(v) ||
	    (s->sh_by != NULL && !refx_person_id_valid(s->sh_by)))
		return (-1);
	if (consent_parties_parse(json_object_get(root, "parties"),
	    &s->sh_doc, err, sizeof(err)) ||
	    consent_scope_parse(json_object_get(root, "scope"),
	    s->sh_doc.cd_scope, &s->sh_doc.cd_nscope, err, sizeof(err))) {
		log_warnx("consent show: %s", err);
		return (-1);
	}

	/* Disclosures: who pulled which classes when. */
	s->sh_disclosures = json_object_get(root, "disclosures");
	if (s->sh_disclosures == NULL)
		s->sh_disclosures = json_array();
	else
		json_incref(s->sh_disclosures);
	if (!json_is_array(s->sh_disclosures) ||
	    json_array_size(s->sh_disclosures) > DISCLOSURES_MAX)
		return (-1);
	json_array_foreach(s->sh_disclosures, i, e) {
		if (cmd_json_str(e, "recipient", REFX_AGENCY_ID_MAX) == NULL ||
		    !refx_agency_id_valid(cmd_json_str(e, "recipient",
		    REFX_AGENCY_ID_MAX)) ||
		    cmd_json_str(e, "person", REFX_PERSON_ID_MAX) == NULL ||
		    !refx_person_id_valid(cmd_json_str(e, "person",
		    REFX_PERSON_ID_MAX)) ||
		    cmd_json_str(e, "at", PACKET_TIME_LEN) == NULL ||
		    !json_is_array(json_object_get(e, "classes")))
			return (-1);
	}

	/* The sealed private part, if the server holds our envelope. */
	sealed = json_object_get(root, "sealed");
	if (sealed != NULL && !json_is_object(sealed))
		return (-1);
	s->sh_blob = json_string_value(json_object_get(sealed, "blob"));
	s->sh_env = json_string_value(json_object_get(sealed, "envelope"));
	return (0);
}

/* Open the private part for our unit; NULL with a message if not. */
static json_t *
open_private(struct cmd_ctx *c, const char *id, const char *unit,
    const struct shown *s, int *ex)
{
	char err[PACKET_ERR_LEN];
	uint8_t pk[REFX_X25519_KEY_LEN], sk[REFX_X25519_KEY_LEN];
	uint8_t *pt;
	size_t len;
	json_t *priv;
	int rc;

	if ((*ex = cmd_unitkey(c, unit, NULL, pk, sk)) != EX_OK)
		return (NULL);
	rc = consent_unseal(id, unit, pk, sk, s->sh_blob, s->sh_env, &pt, &len,
	    err, sizeof(err));
	refx_wipe(sk, sizeof(sk));
	if (rc) {
		log_warnx("consent %s failed verification: %s", id, err);
		*ex = EX_DATAERR;
		return (NULL);
	}
	priv = consent_private_parse(pt, len, &s->sh_doc, err, sizeof(err));
	refx_secret_free(pt, len);
	if (priv == NULL) {
		log_warnx("consent %s failed verification: %s", id, err);
		*ex = EX_DATAERR;
	}
	return (priv);
}

/* Print a checked consent, with its private part if we have it. */
static void
print_shown(const char *id, const struct shown *s, json_t *priv,
    const char *nopriv)
{
	const struct consent_party *cp;
	const struct consent_scope *sc;
	char rb[4 * REASON_MAX + 1], nb[4 * REFX_NAME_MAX + 1];
	const char *v;
	json_t *pp, *e, *cl;
	size_t i, j;

	printf("consent      %s\n", id);
	printf("owner        %s", s->sh_owner);
	if (s->sh_by != NULL)
		printf(", recorded by %s", s->sh_by);
	if (s->sh_at != NULL)
		printf(" at %s", cmd_escape(nb, sizeof(nb), s->sh_at));
	printf("\nvalid until  %s\n", s->sh_until);
	printf("status       %s", s->sh_status);
	if (s->sh_status_at != NULL)
		printf(" since %s", cmd_escape(nb, sizeof(nb),
		    s->sh_status_at));
	printf("\nvalid        %s%s%s\n", s->sh_valid ? "yes" : "no",
	    s->sh_reason[0] != '\0' ? ": " : "",
	    cmd_escape(rb, sizeof(rb), s->sh_reason));

	/* Parties: their positions, and who they are if we can read it. */
	printf("\nparties\n");
	pp = priv != NULL ? json_object_get(priv, "parties") : NULL;
	for (i = 0; i < s->sh_doc.cd_nparties; i++) {
		cp = &s->sh_doc.cd_parties[i];
		printf("  %zu. %s%s: %s\n", i + 1, cp->cp_pupil ? "pupil" :
		    "guardian", cp->cp_pupil ? (cp->cp_flag ?
		    ", judged mature" : ", not judged mature") :
		    (cp->cp_flag ? " with custody" : " without custody"),
		    cp->cp_yes ? "yes" : "no");
		if ((e = json_array_get(pp, i)) == NULL)
			continue;
		printf("     %s", cmd_escape(nb, sizeof(nb),
		    json_string_value(json_object_get(e, "name"))));
		printf("; %s", json_string_value(json_object_get(e, "date")));
		printf("; %s\n", cmd_escape(rb, sizeof(rb),
		    json_string_value(json_object_get(e, "method"))));
		if ((v = json_string_value(json_object_get(e,
		    "maturity_assessment"))) != NULL) {
			printf("     maturity assessment:\n");
			print_text("       ", v);
		}
	}
	if (priv != NULL &&
	    (v = json_string_value(json_object_get(priv, "notes"))) != NULL) {
		printf("  notes:\n");
		print_text("    ", v);
	}
	if (nopriv != NULL)
		printf("  (names, dates and methods not shown: %s)\n", nopriv);

	printf("\nscope\n");
	for (i = 0; i < s->sh_doc.cd_nscope; i++) {
		sc = &s->sh_doc.cd_scope[i];
		printf("  %s: ", sc->cs_unit);
		print_classes(sc->cs_classes);
		printf("\n    itemised: ");
		print_classes(sc->cs_itemised);
		printf("\n    answer to the school: %s\n", sc->cs_feedback ?
		    "in full (the guardians agreed)" : "outcome only");
		if (sc->cs_withdrawn_at[0] != '\0')
			printf("    withdrawn at %s\n", sc->cs_withdrawn_at);
	}

	printf("\ndisclosures\n");
	if (json_array_size(s->sh_disclosures) == 0)
		printf("  none yet\n");
	json_array_foreach(s->sh_disclosures, i, e) {
		printf("  %s  %s  %s  referral %s:", cmd_escape(nb, sizeof(nb),
		    json_string_value(json_object_get(e, "at"))),
		    json_string_value(json_object_get(e, "recipient")),
		    json_string_value(json_object_get(e, "person")),
		    cmd_escape(rb, sizeof(rb), json_string_value(
		    json_object_get(e, "referral")) != NULL ?
		    json_string_value(json_object_get(e, "referral")) : "?"));
		cl = json_object_get(e, "classes");
		json_array_foreach(cl, j, pp)
			printf(" %s", cmd_escape(nb, sizeof(nb),
			    json_is_string(pp) ? json_string_value(pp) : "?"));
		printf("\n");
	}
}

/*
 * refx consent show ID [--json]: the public part, validity, disclosures;
 * and with the unit key, the parties' names, dates and methods.
 * Nothing is printed unless the private part, if opened, verifies.
 */
int
cmd_consent_show(struct cmd_ctx *c, int argc, char **argv)
{
	struct shown s;
	struct consent_signed cg;
	struct dir_me me;
	struct directory *dir = NULL;
	const char *id, *nopriv = NULL;
	char why[256], err[PACKET_ERR_LEN];
	json_t *root = NULL, *priv = NULL;
	int ex;

	memset(&s, 0, sizeof(s));
	memset(&cg, 0, sizeof(cg));
	if ((ex = cmd_json_operands(c, argc, argv, 1, "ID")) != 0 ||
	    (ex = cmd_check_id(argv, "consent", argv[optind])) != 0)
		return (ex);
	id = argv[optind];
	if ((ex = directory_me(c, &me)) != EX_OK ||
	    (ex = directory_fetch(c, &dir, NULL)) != EX_OK ||
	    (ex = cmd_consent_get(c, id, &root)) != EX_OK)
		goto done;
	if (check_shown(root, id, &s)) {
		log_warnx("consent show: the server's answer is malformed");
		ex = EX_PROTOCOL;
		goto done;
	}

	/* Only what the school signed: its parties and scope. */
	if (consent_verify(root, id, dir->d_ca, dir->d_crl, &cg, err,
	    sizeof(err))) {
		log_warnx("consent %s: %s", id, err);
		ex = EX_DATAERR;
		goto done;
	}
	memcpy(s.sh_doc.cd_parties, cg.cg_doc.cd_parties,
	    sizeof(s.sh_doc.cd_parties));
	s.sh_doc.cd_nparties = cg.cg_doc.cd_nparties;
	memcpy(s.sh_doc.cd_scope, cg.cg_doc.cd_scope,
	    sizeof(s.sh_doc.cd_scope));
	s.sh_doc.cd_nscope = cg.cg_doc.cd_nscope;

	/* The private part: only with our key and our envelope. */
	if (s.sh_blob == NULL || s.sh_env == NULL) {
		snprintf(why, sizeof(why), "the server holds no envelope for "
		    "your unit %s", me.dm_unit);
		nopriv = why;
	} else if (c->c_cf.cc_unitkey[0] == '\0')
		nopriv = "no unit key configured (--unit-key, or key in "
		    "[unit])";
	else if ((priv = open_private(c, id, me.dm_unit, &s, &ex)) == NULL)
		goto done;

	if (c->c_json) {
		if (priv != NULL &&
		    json_object_set(root, "private", priv) != 0) {
			log_warnx("out of memory");
			ex = EX_OSERR;
			goto done;
		}
		ex = cmd_print_json(root);
	} else
		print_shown(id, &s, priv, nopriv);

done:
	json_decref(priv);
	json_decref(s.sh_disclosures);
	json_decref(root);
	consent_doc_free(&cg.cg_doc);
	directory_free(dir);
	return (ex);
}

/*
 * refx consent withdraw ID [--recipient UNIT] [--json]: withdraw the
 * consent, or its part for one recipient; the server deletes the
 * envelopes it held for what is no longer covered.
 */
int
cmd_consent_withdraw(struct cmd_ctx *c, int argc, char **argv)
{
	static const struct option o[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "recipient", required_argument, NULL, OPT_RECIPIENT },
		{ NULL, 0, NULL, 0 },
	};
	char path[PATH_LEN], a[4 * 64 + 1];
	const char *id, *rcpt = NULL, *rid;
	json_t *body, *ans = NULL, *n;
	int ch, ex;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", o, NULL)) != -1) {
		switch (ch) {
		case OPT_JSON:
			c->c_json = 1;
			break;
		case OPT_RECIPIENT:
			rcpt = optarg;
			break;
		default:
			return (cmd_opt_error(argv, ch));
		}
	}
	if ((ex = cmd_operands(argc, argv, optind, 1, "ID")) != 0 ||
	    (ex = cmd_check_id(argv, "consent", argv[optind])) != 0)
		return (ex);
	id = argv[optind];
	if (rcpt != NULL && !refx_agency_id_valid(rcpt)) {
		log_warnx("%s: --recipient: '%s' is not a unit id", argv[0],
		    cmd_escape(a, sizeof(a), rcpt));
		return (EX_USAGE);
	}

	if ((body = json_object()) == NULL || (rcpt != NULL &&
	    json_object_set_new(body, "recipient", json_string(rcpt)))) {
		json_decref(body);
		log_warnx("out of memory");
		return (EX_OSERR);
	}
	snprintf(path, sizeof(path), "/v1/consents/%s/withdraw", id);
	if ((ex = cmd_call(c, NET_POST, path, body, SMALL_ANSWER_MAX, &ans))
	    != EX_OK)
		goto done;
	rid = cmd_json_str(ans, "id", REFX_REFERRAL_ID_LEN);
	n = json_object_get(ans, "envelopes_deleted");
	if (rid == NULL || strcmp(rid, id) != 0 || !json_is_integer(n) ||
	    json_integer_value(n) < 0) {
		log_warnx("consent withdraw: the server's answer is malformed");
		ex = EX_PROTOCOL;
		goto done;
	}
	if (c->c_json)
		ex = cmd_print_json(ans);
	else
		printf("consent %s withdrawn%s%s; %lld envelope%s deleted\n",
		    id, rcpt != NULL ? " for " : "", rcpt != NULL ? rcpt : "",
		    (long long)json_integer_value(n),
		    json_integer_value(n) == 1 ? "" : "s");

done:
	json_decref(ans);
	json_decref(body);
	return (ex);
}
