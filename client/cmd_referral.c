/*
 * refx referral submit | list | pull | receipts.
 *
 * submit works out, per recipient, the fields policy ∩ consent allow it
 * (packet_allowed), then encrypts, seals and signs them (packet_build,
 * packet_sign) and sends the packet.  pull verifies everything the
 * server returns (packet_check) before it opens anything with the
 * unit's key (packet_decrypt), and prints nothing unless all of it
 * holds.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

#include "cmd.h"
#include "directory.h"
#include "packet.h"

#define SMALL_ANSWER_MAX	(64 * 1024)
#define REFERRAL_ANSWER_MAX	NET_RESP_MAX
#define REFERRALS_MAX		100000	/* entries of an inbox */
#define RECEIPTS_ANSWER_MAX	(4 * 1024 * 1024)
#define RECEIPTS_MAX		10000	/* pulls or recipients */
#define REASON_MAX		1024
#define WORD_MAX		32
#define ESC_MAX			(4 * 4096 + 1)
#define SAVE_NAME_MAX		100	/* bytes of a saved file's name */
#define REF_PATH_LEN		(sizeof("/v1/referrals/") + \
				    REFX_REFERRAL_ID_LEN)
#define ATTACHMENT_PREFIX	"attachment-"
/* refx_b64_decode's bound is a little short; the schema checked it. */
#define ATT_DECODE_MAX		(REFX_ATTACHMENT_MAX + 3)

enum {
	OPT_JSON = 256,
	OPT_CONSENT,
	OPT_BASIS,
	OPT_PREVIEW,
	OPT_SAVE,
};

/* Return 1 if ${s} is a word of the server's vocabulary: [a-z-]{1,32}. */
static int
is_word(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > WORD_MAX)
		return (0);
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
			return (0);
	return (1);
}

/* Return 1 if field ${name} is an attachment. */
static int
is_attachment(const char *name)
{

	return (strncmp(name, ATTACHMENT_PREFIX, strlen(ATTACHMENT_PREFIX)) ==
	    0);
}

/* --- submit ------------------------------------------------------------- */

/* Who gets which fields: [0] is our own unit, with every field. */
struct plan {
	struct packet_rcpt		 pl_rcpt[PACKET_MAX_ENVELOPES];
	const struct dir_unit		*pl_unit[PACKET_MAX_ENVELOPES];
	const struct consent_scope	*pl_scope[PACKET_MAX_ENVELOPES];
	size_t				 pl_n;
};

/* What submit works with once everything is fetched and checked. */
struct submission {
	const char		*sb_file;
	struct refx_draft	*sb_draft;
	enum refx_basis		 sb_basis;
	const char		*sb_consent;	/* or NULL */
	char			 sb_until[PACKET_DATE_LEN + 1];
	struct consent_scope	 sb_scope[CONSENT_MAX_SCOPE];
	size_t			 sb_nscope;
	struct dir_me		 sb_me;
	struct refx_policy	*sb_policy;
	char			 sb_hash[PACKET_HASH_HEX + 1];
	struct directory	*sb_dir;
	struct plan		 sb_plan;
};

/*
 * Fetch the consent and check that it can carry a referral from us:
 * signed by the school, ours, valid (else the server's reason); keep the
 * signed scope, less what the server says was withdrawn.
 */
static int
fetch_consent(struct cmd_ctx *c, struct submission *sb)
{
	char err[PACKET_ERR_LEN], rb[4 * REASON_MAX + 1];
	const char *owner, *until, *reason;
	struct consent_signed cg;
	json_t *root, *valid;
	int ex;

	if ((ex = cmd_consent_get(c, sb->sb_consent, &root)) != EX_OK)
		return (ex);
	owner = cmd_json_str(root, "owner", REFX_AGENCY_ID_MAX);
	until = cmd_json_str(root, "valid_until", PACKET_DATE_LEN);
	valid = json_object_get(root, "valid");
	reason = json_string_value(json_object_get(root, "reason"));
	if (owner == NULL || !refx_agency_id_valid(owner) || until == NULL ||
	    !packet_date_valid(until) || !json_is_boolean(valid) ||
	    (reason != NULL && strlen(reason) > REASON_MAX)) {
		log_warnx("consent %s: the server's answer is malformed",
		    sb->sb_consent);
		ex = EX_PROTOCOL;
		goto done;
	}
	if (strcmp(owner, sb->sb_me.dm_unit) != 0) {
		log_warnx("consent %s belongs to unit %s, not to your unit %s",
		    sb->sb_consent, owner, sb->sb_me.dm_unit);
		ex = EX_DATAERR;
		goto done;
	}
	if (!json_is_true(valid)) {
		log_warnx("consent %s is not valid: %s; nothing was sent",
		    sb->sb_consent, reason != NULL && reason[0] != '\0' ?
		    cmd_escape(rb, sizeof(rb), reason) : "no reason given");
		ex = EX_DATAERR;
		goto done;
	}
	if (consent_scope_parse(json_object_get(root, "scope"), sb->sb_scope,
	    &sb->sb_nscope, err, sizeof(err))) {
		log_warnx("consent %s: the server's answer is malformed: %s",
		    sb->sb_consent, err);
		ex = EX_PROTOCOL;
		goto done;
	}

	/* The scope is the one the school signed, never the server's. */
	if (consent_verify(root, sb->sb_consent, sb->sb_dir->d_ca,
	    sb->sb_dir->d_crl, &cg, err, sizeof(err))) {
		log_warnx("consent %s: %s; nothing was sent", sb->sb_consent,
		    err);
		ex = EX_DATAERR;
		goto done;
	}
	memcpy(sb->sb_scope, cg.cg_doc.cd_scope, sizeof(sb->sb_scope));
	sb->sb_nscope = cg.cg_doc.cd_nscope;
	consent_doc_free(&cg.cg_doc);
	memcpy(sb->sb_until, until, PACKET_DATE_LEN + 1);

done:
	json_decref(root);
	return (ex);
}

/* The scope entry of ${unit} in the consent, or NULL. */
static const struct consent_scope *
scope_of(const struct submission *sb, const char *unit)
{
	size_t i;

	for (i = 0; i < sb->sb_nscope; i++)
		if (strcmp(sb->sb_scope[i].cs_unit, unit) == 0)
			return (&sb->sb_scope[i]);
	return (NULL);
}

/* Work out the plan: each recipient's verified key and its fields. */
static int
make_plan(struct submission *sb)
{
	const struct refx_draft *d = sb->sb_draft;
	struct plan *pl = &sb->sb_plan;
	const struct dir_unit *u;
	const char *r;
	refx_classes allowed;
	size_t i, k;
	int ex;

	/* Our own unit keeps the full copy. */
	if ((ex = directory_usable(sb->sb_dir, sb->sb_me.dm_unit, &u)) !=
	    EX_OK)
		return (ex);
	memset(pl, 0, sizeof(*pl));
	memcpy(pl->pl_rcpt[0].pr_unit, u->du_id, sizeof(u->du_id));
	memcpy(pl->pl_rcpt[0].pr_pk, u->du_pk, sizeof(u->du_pk));
	pl->pl_rcpt[0].pr_fields = d->d_nfields >= 32 ? UINT32_MAX :
	    ((uint32_t)1 << d->d_nfields) - 1;
	pl->pl_unit[0] = u;
	pl->pl_n = 1;

	for (i = 0; i < d->d_nrecipients; i++) {
		r = d->d_recipients[i];
		k = pl->pl_n;
		if (strcmp(r, sb->sb_me.dm_unit) == 0) {
			log_warnx("%s: recipients[%zu]: %s is your own unit, "
			    "which keeps the full copy anyway", sb->sb_file, i,
			    r);
			return (EX_DATAERR);
		}
		if ((ex = directory_usable(sb->sb_dir, r, &u)) != EX_OK)
			return (ex);
		if (sb->sb_basis == REFX_BASIS_CONSENT &&
		    (pl->pl_scope[k] = scope_of(sb, r)) == NULL) {
			log_warnx("consent %s does not cover recipient %s",
			    sb->sb_consent, r);
			return (EX_DATAERR);
		}
		if (pl->pl_scope[k] != NULL &&
		    pl->pl_scope[k]->cs_withdrawn_at[0] != '\0') {
			log_warnx("consent %s was withdrawn for recipient %s "
			    "at %s", sb->sb_consent, r,
			    pl->pl_scope[k]->cs_withdrawn_at);
			return (EX_DATAERR);
		}
		allowed = packet_allowed(sb->sb_policy, sb->sb_basis,
		    u->du_kind, pl->pl_scope[k]);
		memcpy(pl->pl_rcpt[k].pr_unit, u->du_id, sizeof(u->du_id));
		memcpy(pl->pl_rcpt[k].pr_pk, u->du_pk, sizeof(u->du_pk));
		pl->pl_rcpt[k].pr_fields = packet_field_mask(d, allowed);
		pl->pl_unit[k] = u;
		pl->pl_n++;
	}
	return (EX_OK);
}

/* Count the bits of ${m}. */
static int
popcount(uint32_t m)
{
	int n = 0;

	for (; m != 0; m &= m - 1)
		n++;
	return (n);
}

/* The recipients that would get nothing; reported.  Return their number. */
static int
empty_recipients(const struct submission *sb)
{
	const struct plan *pl = &sb->sb_plan;
	size_t k;
	int n = 0;

	for (k = 1; k < pl->pl_n; k++) {
		if (pl->pl_rcpt[k].pr_fields != 0)
			continue;
		log_warnx("recipient %s (%s) may read none of the draft's "
		    "fields under %s%s%s", pl->pl_unit[k]->du_id,
		    refx_kind_name(pl->pl_unit[k]->du_kind),
		    sb->sb_basis == REFX_BASIS_CONSENT ? "consent " :
		    "a report of concern", sb->sb_basis == REFX_BASIS_CONSENT ?
		    sb->sb_consent : "", "; remove it from the draft's "
		    "recipients");
		n++;
	}
	return (n);
}

/* The name of field ${f} for people: "name", or "name (class)". */
static void
field_label(const struct refx_field *f, char *buf, size_t len)
{

	if (is_attachment(f->f_name))
		snprintf(buf, len, "%s (%s)", f->f_name,
		    refx_class_name(f->f_class));
	else
		snprintf(buf, len, "%s", f->f_name);
}

/* Print ${label} and the fields of ${mask}, wrapped under the label. */
static void
print_field_list(const struct refx_draft *d, uint32_t mask,
    const char *label)
{
	char item[REFX_FIELD_NAME_MAX + 64];
	size_t i, col, indent = strlen(label);
	int first = 1;

	printf("%s", label);
	col = indent;
	for (i = 0; i < d->d_nfields; i++) {
		if (!(mask & ((uint32_t)1 << i)))
			continue;
		field_label(&d->d_fields[i], item, sizeof(item));
		if (!first && col + 2 + strlen(item) > 78) {
			printf(",\n%*s", (int)indent, "");
			col = indent;
		} else if (!first) {
			printf(", ");
			col += 2;
		}
		printf("%s", item);
		col += strlen(item);
		first = 0;
	}
	printf("%s\n", first ? "NOTHING: the referral would be refused" :
	    "");
}

/* --preview: who will be able to read what, and why not the rest. */
static void
print_preview(const struct submission *sb)
{
	const struct refx_draft *d = sb->sb_draft;
	const struct plan *pl = &sb->sb_plan;
	const struct refx_field *f;
	char nb[4 * REFX_NAME_MAX + 1], why[PACKET_WHY_MAX];
	char wb[4 * PACKET_WHY_MAX + 1], item[REFX_FIELD_NAME_MAX + 64];
	size_t i, k;

	printf("Preview of %s: nothing is sent.\n", sb->sb_file);
	if (sb->sb_basis == REFX_BASIS_CONSENT)
		printf("basis   consent %s (valid until %s)\n", sb->sb_consent,
		    sb->sb_until);
	else
		printf("basis   report of concern (no consent)\n");
	printf("policy  %s (sha256 %s)\n", refx_policy_version(sb->sb_policy),
	    sb->sb_hash);

	for (k = 1; k < pl->pl_n; k++) {
		printf("\n%s (%s, %s)\n", pl->pl_unit[k]->du_id,
		    refx_kind_name(pl->pl_unit[k]->du_kind),
		    cmd_escape(nb, sizeof(nb), pl->pl_unit[k]->du_name));
		print_field_list(d, pl->pl_rcpt[k].pr_fields, "  can read: ");
		for (i = 0; i < d->d_nfields; i++) {
			f = &d->d_fields[i];
			if (pl->pl_rcpt[k].pr_fields & ((uint32_t)1 << i))
				continue;
			packet_withheld_why(sb->sb_policy, sb->sb_basis,
			    pl->pl_unit[k]->du_kind, pl->pl_scope[k],
			    f->f_class, why, sizeof(why));
			field_label(f, item, sizeof(item));
			printf("  withheld: %s: %s\n", item,
			    cmd_escape(wb, sizeof(wb), why));
		}
	}
	printf("\n%s (%s, your own unit): the full copy, %zu field%s\n",
	    pl->pl_unit[0]->du_id, refx_kind_name(pl->pl_unit[0]->du_kind),
	    d->d_nfields, d->d_nfields == 1 ? "" : "s");
}

/* Encrypt, sign and send; report what each recipient received. */
static int
send_packet(struct cmd_ctx *c, struct submission *sb)
{
	struct packet_spec spec;
	struct packet *pk = NULL;
	const struct plan *pl = &sb->sb_plan;
	char id[REFX_REFERRAL_ID_LEN + 1], now[PACKET_TIME_LEN + 1];
	char err[PACKET_ERR_LEN];
	char *pem = NULL, *pass = NULL;
	const char *rid;
	json_t *body = NULL, *ans = NULL, *counts;
	size_t k;
	int ex;

	/* The signing key's passphrase, and the certificate we sign as. */
	if ((ex = cmd_own_cert(c, &sb->sb_me, &pem)) != EX_OK)
		goto done;
	if (c->c_cf.cc_passfile[0] != '\0' &&
	    (ex = cmd_passphrase_file(c->c_cf.cc_passfile, &pass)) != EX_OK)
		goto done;

	refx_referral_id_new(id);
	packet_now(now);
	memset(&spec, 0, sizeof(spec));
	spec.ps_draft = sb->sb_draft;
	spec.ps_id = id;
	spec.ps_basis = sb->sb_basis;
	spec.ps_consent = sb->sb_consent;
	spec.ps_unit = sb->sb_me.dm_unit;
	spec.ps_person = sb->sb_me.dm_person;
	spec.ps_created_at = now;
	spec.ps_policy = sb->sb_hash;
	spec.ps_rcpt = pl->pl_rcpt;
	spec.ps_nrcpt = pl->pl_n;
	if ((pk = packet_build(&spec, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		ex = EX_SOFTWARE;
		goto done;
	}
	if (packet_sign(pk, c->c_cf.cc_key, pass, err, sizeof(err))) {
		log_warnx("%s", err);
		ex = EX_CONFIG;
		goto done;
	}
	if ((body = packet_body(pk, pem)) == NULL) {
		log_warnx("out of memory");
		ex = EX_OSERR;
		goto done;
	}
	if ((ex = cmd_call(c, NET_POST, "/v1/referrals", body,
	    SMALL_ANSWER_MAX, &ans)) != EX_OK)
		goto done;
	if ((rid = cmd_json_str(ans, "id", REFX_REFERRAL_ID_LEN)) == NULL ||
	    strcmp(rid, id) != 0) {
		log_warnx("referral submit: the server's answer is malformed");
		ex = EX_PROTOCOL;
		goto done;
	}

	/* What each unit can read, for the record. */
	if (c->c_json) {
		if ((counts = json_object()) == NULL ||
		    json_object_set_new(ans, "fields", counts)) {
			log_warnx("out of memory");
			ex = EX_OSERR;
			goto done;
		}
		for (k = 0; k < pl->pl_n; k++)
			if (json_object_set_new(counts, pl->pl_rcpt[k].pr_unit,
			    json_integer(popcount(pl->pl_rcpt[k].pr_fields)))) {
				log_warnx("out of memory");
				ex = EX_OSERR;
				goto done;
			}
		ex = cmd_print_json(ans);
		goto done;
	}
	printf("referral %s submitted\n", id);
	for (k = 1; k < pl->pl_n; k++)
		printf("  %s (%s): %d field%s\n", pl->pl_rcpt[k].pr_unit,
		    refx_kind_name(pl->pl_unit[k]->du_kind),
		    popcount(pl->pl_rcpt[k].pr_fields),
		    popcount(pl->pl_rcpt[k].pr_fields) == 1 ? "" : "s");
	printf("  %s (your own copy): %d field%s\n", pl->pl_rcpt[0].pr_unit,
	    popcount(pl->pl_rcpt[0].pr_fields),
	    popcount(pl->pl_rcpt[0].pr_fields) == 1 ? "" : "s");

done:
	json_decref(ans);
	json_decref(body);
	packet_free(pk);
	cmd_passphrase_free(pass);
	free(pem);
	return (ex);
}

/*
 * refx referral submit FILE (--consent ID | --basis report-of-concern)
 * [--preview] [--json]
 */
int
cmd_referral_submit(struct cmd_ctx *c, int argc, char **argv)
{
	static const struct option o[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "consent", required_argument, NULL, OPT_CONSENT },
		{ "basis", required_argument, NULL, OPT_BASIS },
		{ "preview", no_argument, NULL, OPT_PREVIEW },
		{ NULL, 0, NULL, 0 },
	};
	struct submission sb;
	const char *basis = NULL;
	char err[PACKET_ERR_LEN], a[4 * 64 + 1];
	int ch, ex, preview = 0;

	memset(&sb, 0, sizeof(sb));
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", o, NULL)) != -1) {
		switch (ch) {
		case OPT_JSON:
			c->c_json = 1;
			break;
		case OPT_CONSENT:
			sb.sb_consent = optarg;
			break;
		case OPT_BASIS:
			basis = optarg;
			break;
		case OPT_PREVIEW:
			preview = 1;
			break;
		default:
			return (cmd_opt_error(argv, ch));
		}
	}
	if ((ex = cmd_operands(argc, argv, optind, 1, "FILE")) != 0)
		return (ex);
	sb.sb_file = argv[optind];

	/* The basis: consent unless said otherwise, with its consent. */
	sb.sb_basis = REFX_BASIS_CONSENT;
	if (basis != NULL && refx_basis_parse(basis, &sb.sb_basis)) {
		log_warnx("%s: --basis: '%s' is neither consent nor "
		    "report-of-concern", argv[0], cmd_escape(a, sizeof(a),
		    basis));
		return (EX_USAGE);
	}
	if (sb.sb_basis == REFX_BASIS_CONSENT && sb.sb_consent == NULL) {
		log_warnx("%s: give --consent ID, or --basis report-of-concern "
		    "(see refx %s --help)", argv[0], argv[0]);
		return (EX_USAGE);
	}
	if (sb.sb_basis == REFX_BASIS_CONCERN && sb.sb_consent != NULL) {
		log_warnx("%s: a report of concern needs no consent; drop "
		    "--consent", argv[0]);
		return (EX_USAGE);
	}
	if (sb.sb_consent != NULL &&
	    (ex = cmd_check_id(argv, "consent", sb.sb_consent)) != 0)
		return (ex);

	/* The draft, valid by the schema; its basis must agree. */
	if ((sb.sb_draft = refx_draft_load(sb.sb_file, err, sizeof(err))) ==
	    NULL) {
		log_warnx("%s: %s", sb.sb_file, err);
		return (EX_DATAERR);
	}
	if (sb.sb_draft->d_concern && sb.sb_basis == REFX_BASIS_CONSENT) {
		log_warnx("%s: the draft is a report of concern, but --consent "
		    "was given (use --basis report-of-concern)", sb.sb_file);
		ex = EX_DATAERR;
		goto done;
	}

	/* Who we are, the policy in force, the verified units, the consent. */
	if ((ex = directory_me(c, &sb.sb_me)) != EX_OK ||
	    (ex = cmd_policy_get(c, &sb.sb_policy, sb.sb_hash, NULL)) !=
	    EX_OK ||
	    (ex = directory_fetch(c, &sb.sb_dir, NULL)) != EX_OK ||
	    (sb.sb_consent != NULL && (ex = fetch_consent(c, &sb)) != EX_OK) ||
	    (ex = make_plan(&sb)) != EX_OK)
		goto done;

	if (preview) {
		print_preview(&sb);
		ex = empty_recipients(&sb) > 0 ? EX_DATAERR : EX_OK;
		goto done;
	}
	if (empty_recipients(&sb) > 0) {
		ex = EX_DATAERR;
		goto done;
	}
	ex = send_packet(c, &sb);

done:
	directory_free(sb.sb_dir);
	refx_policy_free(sb.sb_policy);
	refx_draft_free(sb.sb_draft);
	return (ex);
}

/* --- list --------------------------------------------------------------- */

/* refx referral list [--json]: referrals sent and received. */
int
cmd_referral_list(struct cmd_ctx *c, int argc, char **argv)
{
	const char *id, *at, *sender, *basis, *dir, *status;
	char tb[4 * PACKET_TIME_LEN + 1];
	json_t *root, *list, *e;
	size_t i;
	int ex, w = 6;

	if ((ex = cmd_json_operands(c, argc, argv, 0, "")) != 0)
		return (ex);
	if ((ex = cmd_call(c, NET_GET, "/v1/referrals", NULL,
	    REFERRAL_ANSWER_MAX, &root)) != EX_OK)
		return (ex);

	/* Check every entry before printing any. */
	list = json_object_get(root, "referrals");
	if (!json_is_array(list) || json_array_size(list) > REFERRALS_MAX)
		goto bad;
	json_array_foreach(list, i, e) {
		id = cmd_json_str(e, "id", REFX_REFERRAL_ID_LEN);
		at = cmd_json_str(e, "created_at", PACKET_TIME_LEN);
		sender = cmd_json_str(e, "sender", REFX_AGENCY_ID_MAX);
		basis = cmd_json_str(e, "basis", WORD_MAX);
		dir = cmd_json_str(e, "direction", WORD_MAX);
		status = cmd_json_str(e, "status", WORD_MAX);
		if (id == NULL || !refx_referral_id_valid(id) || at == NULL ||
		    sender == NULL || !refx_agency_id_valid(sender) ||
		    basis == NULL || !is_word(basis) || dir == NULL ||
		    !is_word(dir) || status == NULL || !is_word(status))
			goto bad;
		if ((int)strlen(sender) > w)
			w = (int)strlen(sender);
	}
	if (c->c_json) {
		ex = cmd_print_json(root);
		goto done;
	}
	if (json_array_size(list) == 0) {
		printf("no referrals\n");
		goto done;
	}
	printf("%-32s  %-20s  %-*s  %-17s  %-3s  %s\n", "ID", "CREATED", w,
	    "SENDER", "BASIS", "DIR", "STATUS");
	json_array_foreach(list, i, e)
		printf("%-32s  %-20s  %-*s  %-17s  %-3s  %s\n",
		    cmd_json_str(e, "id", REFX_REFERRAL_ID_LEN),
		    cmd_escape(tb, sizeof(tb), cmd_json_str(e, "created_at",
		    PACKET_TIME_LEN)), w,
		    cmd_json_str(e, "sender", REFX_AGENCY_ID_MAX),
		    cmd_json_str(e, "basis", WORD_MAX),
		    cmd_json_str(e, "direction", WORD_MAX),
		    cmd_json_str(e, "status", WORD_MAX));
	goto done;

bad:
	log_warnx("referral list: the server's answer is malformed");
	ex = EX_PROTOCOL;
done:
	json_decref(root);
	return (ex);
}

/* --- pull --------------------------------------------------------------- */

/* Print a scalar on the rest of the current line. */
static void
print_scalar(json_t *v)
{
	char esc[ESC_MAX];

	switch (json_typeof(v)) {
	case JSON_STRING:
		printf("%s\n", cmd_escape(esc, sizeof(esc),
		    json_string_value(v)));
		break;
	case JSON_INTEGER:
		printf("%lld\n", (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		printf("%g\n", json_real_value(v));
		break;
	case JSON_TRUE:
		printf("yes\n");
		break;
	case JSON_FALSE:
		printf("no\n");
		break;
	default:
		printf("-\n");
		break;
	}
}

/* Return 1 if ${v} is printed on one line. */
static int
is_inline(json_t *v)
{

	return (!json_is_object(v) && !json_is_array(v) &&
	    !(json_is_string(v) && strchr(json_string_value(v), '\n') != NULL));
}

/* Print a value: objects as "key: value", arrays as bullets. */
static void
print_value(json_t *v, int indent)
{
	char kb[4 * 128 + 1];
	const char *k;
	json_t *e;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, k, e) {
			printf("%*s%s:", indent, "", cmd_escape(kb, sizeof(kb),
			    k));
			if (is_inline(e)) {
				putchar(' ');
				print_scalar(e);
			} else {
				putchar('\n');
				print_value(e, indent + 4);
			}
		}
	} else if (json_is_array(v)) {
		if (json_array_size(v) == 0)
			printf("%*s(none)\n", indent, "");
		json_array_foreach(v, i, e) {
			printf("%*s-", indent, "");
			if (is_inline(e)) {
				putchar(' ');
				print_scalar(e);
			} else {
				putchar('\n');
				print_value(e, indent + 2);
			}
		}
	} else if (json_is_string(v))
		cmd_print_lines(stdout, indent, json_string_value(v));
	else {
		printf("%*s", indent, "");
		print_scalar(v);
	}
}

/*
 * A name for a saved attachment: its base name with anything but
 * [A-Za-z0-9._-] replaced, no leading dot, bounded; else "attachment-N".
 */
static void
safe_name(const char *name, const char *field, char *out, size_t len)
{
	const char *b;
	size_t i, n = 0;

	if ((b = strrchr(name, '/')) != NULL)
		name = b + 1;
	for (i = 0; name[i] != '\0' && n + 1 < len && n < SAVE_NAME_MAX;
	    i++) {
		if ((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '-' ||
		    name[i] == '_' || (name[i] == '.' && n > 0))
			out[n++] = name[i];
		else
			out[n++] = '_';
	}
	out[n] = '\0';
	if (n == 0 || strspn(out, "_.") == n)
		snprintf(out, len, "%s", field);
}

/* Print (and save) one attachment field. */
static int
print_attachment(const struct manifest_field *mf, json_t *v,
    const char *savedir)
{
	char nb[4 * 128 + 1], tb[4 * 128 + 1], fname[SAVE_NAME_MAX + 1];
	char path[4096];
	const char *name, *type, *b64;
	uint8_t *data;
	size_t len;
	int ex = EX_OK;

	name = json_string_value(json_object_get(v, "name"));
	type = json_string_value(json_object_get(v, "media_type"));
	b64 = json_string_value(json_object_get(v, "data"));
	if (name == NULL || type == NULL || b64 == NULL ||
	    refx_b64_decode(b64, ATT_DECODE_MAX, &data, &len)) {
		printf("  %s: malformed attachment\n", mf->mf_name);
		return (EX_DATAERR);
	}
	printf("  %s (%s): %s, %s, %zu bytes", mf->mf_name,
	    refx_class_title(mf->mf_class), cmd_escape(nb, sizeof(nb), name),
	    cmd_escape(tb, sizeof(tb), type), len);

	/* Saved only under a clean name, never over an existing file. */
	if (savedir != NULL) {
		safe_name(name, mf->mf_name, fname, sizeof(fname));
		if (snprintf(path, sizeof(path), "%s/%s", savedir, fname) >=
		    (int)sizeof(path)) {
			printf("\n");
			log_warnx("%s: directory name too long", savedir);
			ex = EX_CANTCREAT;
		} else if (refx_file_write(path, data, len, 0600, 1)) {
			printf("\n");
			log_warn("cannot save %s as %s", mf->mf_name, path);
			ex = EX_CANTCREAT;
		} else
			printf(", saved as %s\n", path);
	} else
		printf("\n");
	refx_wipe(data, len);
	free(data);
	return (ex);
}

/* Print a verified, decrypted packet for people. */
static int
print_packet(const struct packet_recv *rv, json_t *const *vals,
    const char *savedir)
{
	const struct manifest *m = &rv->rv_m;
	const struct manifest_field *mf;
	char nb[4 * REFX_NAME_MAX + 1];
	size_t i;
	int ex = EX_OK, e, attachments = 0;

	printf("referral  %s\n", m->m_referral);
	printf("from      %s (%s), %s\n", cmd_escape(nb, sizeof(nb),
	    rv->rv_sender.id_name), m->m_person, m->m_unit);
	printf("date      %s\n", m->m_created_at);
	if (m->m_basis == REFX_BASIS_CONSENT)
		printf("basis     consent %s\n", m->m_consent);
	else
		printf("basis     report of concern\n");
	printf("for       %s: %zu of %zu fields\n", rv->rv_unit, rv->rv_n,
	    m->m_nfields);

	for (i = 0; i < rv->rv_n; i++) {
		mf = &m->m_fields[rv->rv_f[i].rf_idx];
		if (is_attachment(mf->mf_name)) {
			attachments++;
			continue;
		}
		printf("\n%s\n", refx_class_title(mf->mf_class));
		print_value(vals[i], 2);
	}
	if (attachments > 0)
		printf("\nAttachments\n");
	for (i = 0; i < rv->rv_n; i++) {
		mf = &m->m_fields[rv->rv_f[i].rf_idx];
		if (is_attachment(mf->mf_name) &&
		    (e = print_attachment(mf, vals[i], savedir)) != EX_OK)
			ex = e;
	}
	return (ex);
}

/* The packet as JSON: id, sender, basis, consent, created_at, fields. */
static json_t *
packet_json(const struct packet_recv *rv, json_t *const *vals)
{
	const struct manifest *m = &rv->rv_m;
	json_t *o, *sender, *fields;
	size_t i;

	if ((o = json_object()) == NULL)
		return (NULL);
	if (json_object_set_new(o, "id", json_string(m->m_referral)) ||
	    json_object_set_new(o, "sender", sender = json_object()) ||
	    json_object_set_new(sender, "unit", json_string(m->m_unit)) ||
	    json_object_set_new(sender, "person", json_string(m->m_person)) ||
	    json_object_set_new(sender, "name",
	    json_string(rv->rv_sender.id_name)) ||
	    json_object_set_new(o, "basis",
	    json_string(refx_basis_name(m->m_basis))) ||
	    json_object_set_new(o, "consent", m->m_consent[0] != '\0' ?
	    json_string(m->m_consent) : json_null()) ||
	    json_object_set_new(o, "created_at",
	    json_string(m->m_created_at)) ||
	    json_object_set_new(o, "fields", fields = json_object()))
		goto err;
	for (i = 0; i < rv->rv_n; i++)
		if (json_object_set(fields,
		    m->m_fields[rv->rv_f[i].rf_idx].mf_name, vals[i]))
			goto err;
	return (o);

err:
	json_decref(o);
	return (NULL);
}

/* Save the attachments only (for --json with --save-attachments). */
static int
save_attachments(const struct packet_recv *rv, json_t *const *vals,
    const char *savedir)
{
	const struct manifest_field *mf;
	char fname[SAVE_NAME_MAX + 1], path[4096];
	const char *name, *b64;
	uint8_t *data;
	size_t i, len;
	int ex = EX_OK;

	for (i = 0; i < rv->rv_n; i++) {
		mf = &rv->rv_m.m_fields[rv->rv_f[i].rf_idx];
		if (!is_attachment(mf->mf_name))
			continue;
		name = json_string_value(json_object_get(vals[i], "name"));
		b64 = json_string_value(json_object_get(vals[i], "data"));
		if (name == NULL || b64 == NULL ||
		    refx_b64_decode(b64, ATT_DECODE_MAX, &data, &len)) {
			ex = EX_DATAERR;
			continue;
		}
		safe_name(name, mf->mf_name, fname, sizeof(fname));
		if (snprintf(path, sizeof(path), "%s/%s", savedir, fname) >=
		    (int)sizeof(path) ||
		    refx_file_write(path, data, len, 0600, 1)) {
			log_warn("cannot save %s as %s/%s", mf->mf_name,
			    savedir, fname);
			ex = EX_CANTCREAT;
		}
		refx_wipe(data, len);
		free(data);
	}
	return (ex);
}

/*
 * refx referral pull ID [--json] [--save-attachments DIR]: fetch our
 * unit's part, verify it entirely, decrypt it with the unit key, and
 * only then show it.
 */
int
cmd_referral_pull(struct cmd_ctx *c, int argc, char **argv)
{
	static const struct option o[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "save-attachments", required_argument, NULL, OPT_SAVE },
		{ NULL, 0, NULL, 0 },
	};
	json_t *vals[REFX_MAX_FIELDS] = { NULL };
	uint8_t pk[REFX_X25519_KEY_LEN], sk[REFX_X25519_KEY_LEN];
	char path[REF_PATH_LEN], err[PACKET_ERR_LEN];
	struct packet_recv rv;
	struct directory *dir = NULL;
	const struct dir_unit *own;
	struct dir_me me;
	struct stat st;
	const char *id, *savedir = NULL;
	json_t *ans = NULL, *out;
	size_t i;
	int ch, ex, e, rc;

	memset(&rv, 0, sizeof(rv));
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", o, NULL)) != -1) {
		switch (ch) {
		case OPT_JSON:
			c->c_json = 1;
			break;
		case OPT_SAVE:
			savedir = optarg;
			break;
		default:
			return (cmd_opt_error(argv, ch));
		}
	}
	if ((ex = cmd_operands(argc, argv, optind, 1, "ID")) != 0 ||
	    (ex = cmd_check_id(argv, "referral", argv[optind])) != 0)
		return (ex);
	id = argv[optind];
	if (savedir != NULL && (stat(savedir, &st) == -1 ||
	    !S_ISDIR(st.st_mode))) {
		log_warnx("--save-attachments: %s is not a directory", savedir);
		return (EX_CANTCREAT);
	}

	/* Our unit, the CA and CRL (with the directory), the packet. */
	if ((ex = directory_me(c, &me)) != EX_OK ||
	    (ex = directory_fetch(c, &dir, NULL)) != EX_OK)
		goto done;
	snprintf(path, sizeof(path), "/v1/referrals/%s", id);
	if ((ex = cmd_call(c, NET_GET, path, NULL, REFERRAL_ANSWER_MAX,
	    &ans)) != EX_OK)
		goto done;

	/* Everything that can be checked without the key, then the key. */
	if (packet_check(ans, id, me.dm_unit, dir->d_ca, dir->d_crl, &rv, err,
	    sizeof(err)))
		goto failed;
	own = directory_get(dir, me.dm_unit);
	if ((ex = cmd_unitkey(c, me.dm_unit, own != NULL && own->du_ok ?
	    own->du_pk : NULL, pk, sk)) != EX_OK)
		goto done;
	rc = packet_decrypt(&rv, pk, sk, err, sizeof(err));
	refx_wipe(sk, sizeof(sk));
	if (rc)
		goto failed;
	for (i = 0; i < rv.rv_n; i++)
		if ((vals[i] = json_loadb((const char *)rv.rv_f[i].rf_pt,
		    rv.rv_f[i].rf_pt_len, JSON_DECODE_ANY |
		    JSON_REJECT_DUPLICATES, NULL)) == NULL) {
			snprintf(err, sizeof(err), "field %s is not JSON",
			    rv.rv_m.m_fields[rv.rv_f[i].rf_idx].mf_name);
			goto failed;
		}

	/* All of it holds: show it. */
	if (c->c_json) {
		if ((out = packet_json(&rv, vals)) == NULL) {
			log_warnx("out of memory");
			ex = EX_OSERR;
			goto done;
		}
		ex = cmd_print_json(out);
		json_decref(out);
		if (savedir != NULL &&
		    (e = save_attachments(&rv, vals, savedir)) != EX_OK &&
		    ex == EX_OK)
			ex = e;
	} else
		ex = print_packet(&rv, vals, savedir);
	goto done;

failed:
	log_warnx("referral %s failed verification: %s", id, err);
	ex = EX_DATAERR;
done:
	for (i = 0; i < REFX_MAX_FIELDS; i++)
		json_decref(vals[i]);
	packet_recv_free(&rv);
	json_decref(ans);
	directory_free(dir);
	return (ex);
}

/* --- receipts ----------------------------------------------------------- */

/* Check a receipt's classes (names of field classes); "a, b" in ${buf}. */
static int
receipt_classes(json_t *a, char *buf, size_t len)
{
	enum refx_class cl;
	json_t *e;
	size_t i, o = 0;

	buf[0] = '\0';
	if (!json_is_array(a) || json_array_size(a) > REFX_CLASS_COUNT)
		return (-1);
	json_array_foreach(a, i, e) {
		if (!json_is_string(e) ||
		    refx_class_parse(json_string_value(e), &cl))
			return (-1);
		o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%s",
		    i > 0 ? ", " : "", refx_class_name(cl));
	}
	if (o == 0)
		snprintf(buf, len, "(no field classes)");
	return (0);
}

/*
 * refx referral receipts ID [--json]: for a referral our unit sent, who
 * pulled which field classes when, and where each recipient stands.
 */
int
cmd_referral_receipts(struct cmd_ctx *c, int argc, char **argv)
{
	char path[REF_PATH_LEN + sizeof("/receipts")];
	char cls[REFX_CLASS_COUNT * 24 + 32], tb[4 * WORD_MAX + 1];
	const char *id, *rid, *unit, *person, *at, *kind, *status;
	json_t *root, *rcpts, *pulls, *e;
	enum refx_kind k;
	size_t i;
	int ex;

	if ((ex = cmd_json_operands(c, argc, argv, 1, "ID")) != 0 ||
	    (ex = cmd_check_id(argv, "referral", argv[optind])) != 0)
		return (ex);
	id = argv[optind];
	snprintf(path, sizeof(path), "/v1/referrals/%s/receipts", id);
	if ((ex = cmd_call(c, NET_GET, path, NULL, RECEIPTS_ANSWER_MAX,
	    &root)) != EX_OK)
		return (ex);

	/* Check every part before printing any. */
	rid = cmd_json_str(root, "id", REFX_REFERRAL_ID_LEN);
	pulls = json_object_get(root, "receipts");
	rcpts = json_object_get(root, "recipients");
	if (rid == NULL || strcmp(rid, id) != 0 || !json_is_array(pulls) ||
	    json_array_size(pulls) > RECEIPTS_MAX || !json_is_array(rcpts) ||
	    json_array_size(rcpts) > RECEIPTS_MAX)
		goto bad;
	json_array_foreach(pulls, i, e) {
		unit = cmd_json_str(e, "recipient", REFX_AGENCY_ID_MAX);
		person = cmd_json_str(e, "person", REFX_PERSON_ID_MAX);
		at = cmd_json_str(e, "at", WORD_MAX);
		if (unit == NULL || !refx_agency_id_valid(unit) ||
		    person == NULL || !refx_person_id_valid(person) ||
		    at == NULL || receipt_classes(json_object_get(e,
		    "classes"), cls, sizeof(cls)))
			goto bad;
	}
	json_array_foreach(rcpts, i, e) {
		unit = cmd_json_str(e, "recipient", REFX_AGENCY_ID_MAX);
		kind = cmd_json_str(e, "kind", WORD_MAX);
		status = cmd_json_str(e, "status", WORD_MAX);
		if (unit == NULL || !refx_agency_id_valid(unit) ||
		    kind == NULL || refx_kind_parse(kind, &k) ||
		    status == NULL || !is_word(status))
			goto bad;
	}
	if (c->c_json) {
		ex = cmd_print_json(root);
		goto done;
	}

	printf("referral %s\n\nrecipients\n", id);
	if (json_array_size(rcpts) == 0)
		printf("  (none)\n");
	json_array_foreach(rcpts, i, e)
		printf("  %s (%s): %s\n", cmd_json_str(e, "recipient",
		    REFX_AGENCY_ID_MAX), cmd_json_str(e, "kind", WORD_MAX),
		    cmd_json_str(e, "status", WORD_MAX));
	printf("\npulled\n");
	if (json_array_size(pulls) == 0)
		printf("  (not yet)\n");
	json_array_foreach(pulls, i, e) {
		if (receipt_classes(json_object_get(e, "classes"), cls,
		    sizeof(cls)))
			goto bad;
		printf("  %s  %s by %s: %s\n", cmd_escape(tb, sizeof(tb),
		    cmd_json_str(e, "at", WORD_MAX)), cmd_json_str(e,
		    "recipient", REFX_AGENCY_ID_MAX), cmd_json_str(e, "person",
		    REFX_PERSON_ID_MAX), cls);
	}
	goto done;

bad:
	log_warnx("referral receipts: the server's answer is malformed");
	ex = EX_PROTOCOL;
done:
	json_decref(root);
	return (ex);
}
