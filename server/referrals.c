/*
 * Referrals: accepted only as ciphertext with a signed manifest, checked
 * against policy and consent, and handed to each recipient unit as its
 * own envelope plus exactly the field blobs that envelope opens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "refx/cert.h"
#include "refx/envelope.h"
#include "refx/policy.h"
#include "refx/secret.h"

#include "cases.h"
#include "clock.h"
#include "directory.h"
#include "handlers.h"
#include "store.h"

#define MANIFEST_MAX	(64 * 1024)
#define CERT_MAX	(16 * 1024)
#define BLOB_MAX	(4 * 1024 * 1024)
#define ENVELOPE_MAX	(64 * 1024)
#define MAX_ENVELOPES	(REFX_MAX_RECIPIENTS + 1)

/* A field as the manifest declares it, with its ciphertext. */
struct mfield {
	char		 mf_name[REFX_FIELD_NAME_MAX + 1];
	enum refx_class	 mf_class;
	char		 mf_sha[65];
	uint8_t		*mf_blob;
	size_t		 mf_len;
};

/* An envelope as the manifest declares it, with its sealed box. */
struct menv {
	char		 me_recipient[REFX_AGENCY_ID_MAX + 1];
	uint32_t	 me_fields;	/* bit i: mfield i */
	char		 me_sha[65];
	uint8_t		*me_sealed;
	size_t		 me_len;
	enum refx_kind	 me_kind;
};

/* What a submit carries once decoded and checked. */
struct submit {
	uint8_t		*s_manifest;
	size_t		 s_manifest_len;
	uint8_t		*s_sig;
	size_t		 s_sig_len;
	const char	*s_cert_pem;
	json_t		*s_m;		/* parsed manifest */
	const char	*s_id;
	const char	*s_consent;	/* NULL for a report of concern */
	enum refx_basis	 s_basis;
	const char	*s_created;
	struct mfield	 s_fields[REFX_MAX_FIELDS];
	size_t		 s_nfields;
	struct menv	 s_envs[MAX_ENVELOPES];
	size_t		 s_nenvs;
};

static void
submit_free(struct submit *s)
{
	size_t i;

	for (i = 0; i < s->s_nfields; i++)
		free(s->s_fields[i].mf_blob);
	for (i = 0; i < s->s_nenvs; i++)
		free(s->s_envs[i].me_sealed);
	json_decref(s->s_m);
	free(s->s_sig);
	free(s->s_manifest);
}

/* A field name: a class name, or attachment-1 .. attachment-N. */
static int
field_name_ok(const char *name, enum refx_class cls)
{
	enum refx_class c;

	if (refx_class_parse(name, &c) == 0)
		return (c == cls);
	return (strlen(name) == 12 && strncmp(name, "attachment-", 11) == 0 &&
	    name[11] >= '1' && name[11] < '1' + REFX_MAX_ATTACHMENTS);
}

/** json_b64_member(rq, obj, key, max, len, what): See cases.h. */
uint8_t *
json_b64_member(struct request *rq, json_t *obj, const char *key, size_t max,
    size_t *len, const char *what)
{
	const char *s;
	uint8_t *out;

	if ((s = json_str(rq, obj, key, max / 3 * 4 + 8, what)) == NULL)
		return (NULL);
	if (refx_b64_decode(s, max, &out, len)) {
		request_fail(rq, REFX_EINVAL, "%s.%s: not base64, or longer "
		    "than %zu bytes", what, key, max);
		return (NULL);
	}
	return (out);
}

/* Index of the manifest field ${name}, or -1. */
static int
field_index(const struct submit *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->s_nfields; i++)
		if (strcmp(s->s_fields[i].mf_name, name) == 0)
			return ((int)i);
	return (-1);
}

/* Parse the signed manifest's field and envelope lists. */
static int
parse_manifest_lists(struct request *rq, struct submit *s)
{
	static const char *const fkeys[] = { "name", "class", "sha256", NULL };
	static const char *const ekeys[] = { "recipient", "fields", "sha256",
	    NULL };
	json_t *arr, *e, *names, *n;
	const char *name, *cls, *sha, *unit;
	char what[48];
	size_t i, j;
	int k;

	arr = json_object_get(s->s_m, "fields");
	if (!json_is_array(arr) || json_array_size(arr) < 1 ||
	    json_array_size(arr) > REFX_MAX_FIELDS) {
		request_fail(rq, REFX_EINVAL, "manifest.fields: must list 1 "
		    "to %d fields", REFX_MAX_FIELDS);
		return (-1);
	}
	json_array_foreach(arr, i, e) {
		struct mfield *f = &s->s_fields[i];

		snprintf(what, sizeof(what), "manifest.fields[%zu]", i);
		if (json_only_keys(rq, e, fkeys, what) ||
		    (name = json_str(rq, e, "name", REFX_FIELD_NAME_MAX,
		    what)) == NULL ||
		    (cls = json_str(rq, e, "class", 40, what)) == NULL ||
		    (sha = json_str(rq, e, "sha256", 64, what)) == NULL)
			return (-1);
		if (refx_class_parse(cls, &f->mf_class) ||
		    !field_name_ok(name, f->mf_class) || strlen(sha) != 64 ||
		    field_index(s, name) >= 0) {
			request_fail(rq, REFX_EINVAL, "%s: bad or repeated "
			    "field name, class or hash", what);
			return (-1);
		}
		snprintf(f->mf_name, sizeof(f->mf_name), "%s", name);
		snprintf(f->mf_sha, sizeof(f->mf_sha), "%s", sha);
		s->s_nfields = i + 1;
	}

	arr = json_object_get(s->s_m, "envelopes");
	if (!json_is_array(arr) || json_array_size(arr) < 2 ||
	    json_array_size(arr) > MAX_ENVELOPES) {
		request_fail(rq, REFX_EINVAL, "manifest.envelopes: must list "
		    "the sender and 1 to %d recipients", REFX_MAX_RECIPIENTS);
		return (-1);
	}
	json_array_foreach(arr, i, e) {
		struct menv *v = &s->s_envs[i];

		snprintf(what, sizeof(what), "manifest.envelopes[%zu]", i);
		if (json_only_keys(rq, e, ekeys, what) ||
		    (unit = json_str(rq, e, "recipient", REFX_AGENCY_ID_MAX,
		    what)) == NULL ||
		    (sha = json_str(rq, e, "sha256", 64, what)) == NULL)
			return (-1);
		for (j = 0; j < i; j++)
			if (strcmp(s->s_envs[j].me_recipient, unit) == 0) {
				request_fail(rq, REFX_EINVAL, "%s: recipient "
				    "'%s' repeated", what, unit);
				return (-1);
			}
		snprintf(v->me_recipient, sizeof(v->me_recipient), "%s", unit);
		snprintf(v->me_sha, sizeof(v->me_sha), "%s", sha);
		names = json_object_get(e, "fields");
		if (!json_is_array(names) || json_array_size(names) == 0) {
			request_fail(rq, REFX_EINVAL, "%s.fields: must name at "
			    "least one field", what);
			return (-1);
		}
		json_array_foreach(names, j, n) {
			if (!json_is_string(n) || (k = field_index(s,
			    json_string_value(n))) < 0 ||
			    (v->me_fields & (1u << k))) {
				request_fail(rq, REFX_EINVAL, "%s.fields[%zu]: "
				    "not a field of this referral, or repeated",
				    what, j);
				return (-1);
			}
			v->me_fields |= 1u << k;
		}
		s->s_nenvs = i + 1;
	}
	return (0);
}

/* Decode the body and check it against the signed manifest. */
static enum refx_err
parse_submit(struct request *rq, json_t *body, struct submit *s)
{
	static const char *const keys[] = { "manifest", "signature",
	    "certificate", "fields", "envelopes", NULL };
	static const char *const mkeys[] = { "v", "referral", "schema",
	    "basis", "consent", "sender", "created_at", "policy", "fields",
	    "envelopes", NULL };
	static const char *const skeys[] = { "unit", "person", NULL };
	const struct refx_identity *who = rq->rq_who;
	enum refx_err err;
	const char *basis, *unit, *person, *policy, *schema, *name;
	char sha[65], what[40];
	json_t *arr, *e, *sender, *c;
	size_t i;
	int k;

	if (json_only_keys(rq, body, keys, "referral") ||
	    (s->s_manifest = json_b64_member(rq, body, "manifest",
	    MANIFEST_MAX, &s->s_manifest_len, "referral")) == NULL ||
	    (s->s_sig = json_b64_member(rq, body, "signature", REFX_SIG_LEN,
	    &s->s_sig_len, "referral")) == NULL ||
	    (s->s_cert_pem = json_str(rq, body, "certificate", CERT_MAX,
	    "referral")) == NULL)
		return (REFX_EINVAL);
	if (s->s_sig_len != REFX_SIG_LEN)
		return (request_fail(rq, REFX_EINVAL, "signature: must be %d "
		    "bytes", REFX_SIG_LEN));

	/* The signer must be the person on this TLS connection. */
	if ((err = signed_by_caller(rq, s->s_cert_pem, REFX_MANIFEST_CONTEXT,
	    s->s_manifest, s->s_manifest_len, s->s_sig, "manifest")))
		return (err);

	if ((s->s_m = json_loadb((const char *)s->s_manifest,
	    s->s_manifest_len, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(s->s_m))
		return (request_fail(rq, REFX_EINVAL, "manifest: not a JSON "
		    "object"));
	if (json_only_keys(rq, s->s_m, mkeys, "manifest"))
		return (REFX_EINVAL);
	if (json_integer_value(json_object_get(s->s_m, "v")) != 1 ||
	    !json_is_integer(json_object_get(s->s_m, "v")))
		return (request_fail(rq, REFX_EINVAL, "manifest.v: must be 1"));
	if ((s->s_id = json_str(rq, s->s_m, "referral", 64, "manifest")) ==
	    NULL || (schema = json_str(rq, s->s_m, "schema", 64,
	    "manifest")) == NULL || (basis = json_str(rq, s->s_m, "basis", 32,
	    "manifest")) == NULL || (s->s_created = json_str(rq, s->s_m,
	    "created_at", 32, "manifest")) == NULL || (policy = json_str(rq,
	    s->s_m, "policy", 64, "manifest")) == NULL)
		return (REFX_EINVAL);
	if (!refx_referral_id_valid(s->s_id))
		return (request_fail(rq, REFX_EINVAL, "manifest.referral: must "
		    "be 32 lower-case hex characters"));
	if (strcmp(schema, REFX_SCHEMA_ID) != 0)
		return (request_fail(rq, REFX_EINVAL, "manifest.schema: this "
		    "server accepts %s", REFX_SCHEMA_ID));
	if (refx_basis_parse(basis, &s->s_basis))
		return (request_fail(rq, REFX_EINVAL, "manifest.basis: must be "
		    "consent or report-of-concern"));
	if (strcmp(policy, rq->rq_srv->sv_policy_hash) != 0)
		return (request_fail(rq, REFX_EINVAL, "manifest.policy: built "
		    "for another policy than the one in force (%.16s...); "
		    "fetch the policy and submit again",
		    rq->rq_srv->sv_policy_hash));
	sender = json_object_get(s->s_m, "sender");
	if (json_only_keys(rq, sender, skeys, "manifest.sender") ||
	    (unit = json_str(rq, sender, "unit", 64, "manifest.sender")) ==
	    NULL || (person = json_str(rq, sender, "person", 64,
	    "manifest.sender")) == NULL)
		return (REFX_EINVAL);
	if (strcmp(unit, who->id_agency) != 0 ||
	    strcmp(person, who->id_person) != 0)
		return (request_fail(rq, REFX_EDENIED, "manifest.sender: names "
		    "someone other than you"));
	c = json_object_get(s->s_m, "consent");
	if (json_is_string(c))
		s->s_consent = json_string_value(c);
	else if (!json_is_null(c))
		return (request_fail(rq, REFX_EINVAL, "manifest.consent: must "
		    "be a consent id or null"));
	if (parse_manifest_lists(rq, s))
		return (REFX_EINVAL);

	/* Exactly the declared ciphertexts, each matching its hash. */
	arr = json_object_get(body, "fields");
	if (!json_is_array(arr) || json_array_size(arr) != s->s_nfields)
		return (request_fail(rq, REFX_EINVAL, "fields: must hold the "
		    "%zu fields of the manifest", s->s_nfields));
	json_array_foreach(arr, i, e) {
		snprintf(what, sizeof(what), "fields[%zu]", i);
		if ((name = json_str(rq, e, "name", REFX_FIELD_NAME_MAX,
		    what)) == NULL)
			return (REFX_EINVAL);
		if ((k = field_index(s, name)) < 0 ||
		    s->s_fields[k].mf_blob != NULL)
			return (request_fail(rq, REFX_EINVAL, "%s: '%s' is not "
			    "in the manifest, or repeated", what, name));
		if ((s->s_fields[k].mf_blob = json_b64_member(rq, e, "blob",
		    BLOB_MAX, &s->s_fields[k].mf_len, what)) == NULL)
			return (REFX_EINVAL);
		refx_sha256_hex(s->s_fields[k].mf_blob, s->s_fields[k].mf_len,
		    sha);
		if (strcmp(sha, s->s_fields[k].mf_sha) != 0)
			return (request_fail(rq, REFX_ECRYPTO, "field '%s' "
			    "does not match the signed manifest", name));
	}
	arr = json_object_get(body, "envelopes");
	if (!json_is_array(arr) || json_array_size(arr) != s->s_nenvs)
		return (request_fail(rq, REFX_EINVAL, "envelopes: must hold "
		    "the %zu envelopes of the manifest", s->s_nenvs));
	json_array_foreach(arr, i, e) {
		struct menv *v = NULL;
		size_t j;

		snprintf(what, sizeof(what), "envelopes[%zu]", i);
		if ((unit = json_str(rq, e, "recipient", REFX_AGENCY_ID_MAX,
		    what)) == NULL)
			return (REFX_EINVAL);
		for (j = 0; j < s->s_nenvs; j++)
			if (strcmp(s->s_envs[j].me_recipient, unit) == 0)
				v = &s->s_envs[j];
		if (v == NULL || v->me_sealed != NULL)
			return (request_fail(rq, REFX_EINVAL, "%s: '%s' is not "
			    "in the manifest, or repeated", what, unit));
		if ((v->me_sealed = json_b64_member(rq, e, "sealed",
		    ENVELOPE_MAX, &v->me_len, what)) == NULL)
			return (REFX_EINVAL);
		refx_sha256_hex(v->me_sealed, v->me_len, sha);
		if (strcmp(sha, v->me_sha) != 0)
			return (request_fail(rq, REFX_ECRYPTO, "envelope for "
			    "'%s' does not match the signed manifest", unit));
	}
	return (REFX_OK);
}

/*
 * The rules: the sender's own unit holds every key; every other
 * recipient is a unit of the exchange whose envelope is within policy
 * and, for a consent referral, within a valid consent of the sender's
 * unit that names it.
 */
static enum refx_err
check_submit(struct request *rq, struct store_tx *tx, struct submit *s)
{
	const struct refx_policy *pol = rq->rq_srv->sv_policy;
	const char *me = rq->rq_who->id_agency;
	struct consent_state cs;
	refx_classes consented, itemised;
	char why[256];
	size_t i, k;
	int own = 0, rc;

	if (s->s_basis == REFX_BASIS_CONSENT) {
		if (s->s_consent == NULL)
			return (request_fail(rq, REFX_EDENIED, "a referral "
			    "on consent needs a consent id"));
		if ((rc = consent_get(tx, s->s_consent, &cs)) < 0)
			return (REFX_ESTORE);
		if (rc == 1 || strcmp(cs.cs_owner, me) != 0)
			return (request_fail(rq, REFX_EDENIED, "consent %s "
			    "not found for your unit", s->s_consent));
		if (!cs.cs_valid)
			return (request_fail(rq, REFX_EDENIED, "consent %s is "
			    "not valid: %s", s->s_consent, cs.cs_reason));
	} else if (s->s_consent != NULL)
		return (request_fail(rq, REFX_EINVAL, "a report of concern "
		    "carries no consent id"));

	for (i = 0; i < s->s_nenvs; i++) {
		struct menv *v = &s->s_envs[i];

		if (strcmp(v->me_recipient, me) == 0) {
			own = 1;
			if (v->me_fields != (s->s_nfields >= 32 ? UINT32_MAX :
			    (1u << s->s_nfields) - 1))
				return (request_fail(rq, REFX_EINVAL, "the "
				    "sender's own envelope must hold every "
				    "field"));
			continue;
		}
		if (directory_unit_kind(rq->rq_srv->sv_dir, v->me_recipient,
		    &v->me_kind))
			return (request_fail(rq, REFX_EINVAL, "recipient '%s' "
			    "is not a unit of this exchange",
			    v->me_recipient));
		consented = itemised = 0;
		if (s->s_basis == REFX_BASIS_CONSENT) {
			rc = consent_scope(tx, s->s_consent, v->me_recipient,
			    &consented, &itemised);
			if (rc < 0)
				return (REFX_ESTORE);
			if (rc == 1)
				return (request_fail(rq, REFX_EDENIED,
				    "consent %s does not cover recipient %s",
				    s->s_consent, v->me_recipient));
		}
		for (k = 0; k < s->s_nfields; k++) {
			enum refx_class c = s->s_fields[k].mf_class;

			if (!(v->me_fields & (1u << k)))
				continue;
			if (!refx_policy_allows(pol, s->s_basis, v->me_kind, c,
			    (consented & REFX_CLASS_BIT(c)) != 0,
			    (itemised & REFX_CLASS_BIT(c)) != 0, why,
			    sizeof(why)))
				return (request_fail(rq, REFX_EDENIED, "field "
				    "'%s' for %s (%s) refused: %s",
				    s->s_fields[k].mf_name, v->me_recipient,
				    refx_kind_name(v->me_kind), why));
		}
	}
	if (!own)
		return (request_fail(rq, REFX_EINVAL, "the sender's own unit "
		    "needs an envelope"));
	return (REFX_OK);
}

/* The names of the fields in ${set}, as a JSON array text. */
static char *
field_list(const struct submit *s, uint32_t set)
{
	json_t *a;
	char *text;
	size_t k;

	if ((a = json_array()) == NULL)
		return (NULL);
	for (k = 0; k < s->s_nfields; k++)
		if ((set & (1u << k)) && json_array_append_new(a,
		    json_string(s->s_fields[k].mf_name))) {
			json_decref(a);
			return (NULL);
		}
	text = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return (text);
}

/* Store ciphertext and metadata; nothing here is plaintext. */
static enum refx_err
store_submit(struct request *rq, struct store_tx *tx, const struct submit *s)
{
	const char *me = rq->rq_who->id_agency;
	enum refx_err err;
	char *list, now[21];
	size_t i;

	clock_stamp(now);
	err = store_run(tx, "INSERT INTO referrals (id, sender_unit, "
	    "sender_person, basis, consent_id, created_at, policy_hash, "
	    "manifest, signature, certificate) VALUES "
	    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "tttttttbbt", s->s_id, me,
	    rq->rq_who->id_person, refx_basis_name(s->s_basis), s->s_consent,
	    s->s_created, rq->rq_srv->sv_policy_hash, s->s_manifest,
	    s->s_manifest_len, s->s_sig, s->s_sig_len, s->s_cert_pem);
	if (err == REFX_EEXIST)
		return (request_fail(rq, err, "referral %s already exists",
		    s->s_id));
	if (err)
		return (err);
	for (i = 0; i < s->s_nfields; i++)
		if ((err = store_run(tx, "INSERT INTO referral_fields "
		    "(referral_id, name, class, blob) VALUES (?, ?, ?, ?)",
		    "tttb", s->s_id, s->s_fields[i].mf_name,
		    refx_class_name(s->s_fields[i].mf_class),
		    s->s_fields[i].mf_blob, s->s_fields[i].mf_len)))
			return (err);
	for (i = 0; i < s->s_nenvs; i++) {
		const struct menv *v = &s->s_envs[i];

		if ((err = store_run(tx, "INSERT INTO envelopes (referral_id, "
		    "recipient, sealed) VALUES (?, ?, ?)", "ttb", s->s_id,
		    v->me_recipient, v->me_sealed, v->me_len)))
			return (err);
		if (strcmp(v->me_recipient, me) == 0)
			continue;
		if ((list = field_list(s, v->me_fields)) == NULL)
			return (REFX_ENOMEM);
		err = store_run(tx, "INSERT INTO referral_recipients "
		    "(referral_id, recipient, kind, fields, status, state, "
		    "last_entry_at) VALUES (?, ?, ?, ?, 'available', "
		    "'submitted', ?)", "ttttt", s->s_id, v->me_recipient,
		    refx_kind_name(v->me_kind), list, now);
		free(list);
		if (err)
			return (err);
		/* Each recipient's loop starts here (docs/workflow.md). */
		if ((err = case_event_observed(tx, s->s_id, v->me_recipient,
		    "submitted", rq->rq_who, now)))
			return (err);
	}
	return (REFX_OK);
}

/* Tell the audit log what is sent to whom: class names, per recipient. */
static void
note_submit(struct request *rq, const struct submit *s)
{
	size_t i, k;
	refx_classes cls;

	rq->rq_audit.ra_object_type = "referral";
	snprintf(rq->rq_audit.ra_object_id, sizeof(rq->rq_audit.ra_object_id),
	    "%s", s->s_id);
	rq->rq_audit.ra_basis = refx_basis_name(s->s_basis);
	for (i = 0; i < s->s_nenvs; i++) {
		cls = 0;
		for (k = 0; k < s->s_nfields; k++)
			if (s->s_envs[i].me_fields & (1u << k))
				cls |= REFX_CLASS_BIT(s->s_fields[k].mf_class);
		if (strcmp(s->s_envs[i].me_recipient,
		    rq->rq_who->id_agency) == 0)
			rq->rq_audit.ra_classes |= cls;
		else
			request_involve(rq, s->s_envs[i].me_recipient, cls);
	}
}

/* A submit decoded and verified before its transaction, with its body. */
struct prepared_submit {
	struct submit	 ps_s;
	json_t		*ps_body;	/* s_* strings point into it */
};

static void
prepared_submit_free(void *p)
{
	struct prepared_submit *ps = p;

	if (ps == NULL)
		return;
	submit_free(&ps->ps_s);
	json_decref(ps->ps_body);
	free(ps);
}

/*
 * Before the transaction: decode the body, verify the signature and
 * every hash against the signed manifest (no database needed).
 */
enum refx_err
prepare_referral_submit(struct request *rq)
{
	struct prepared_submit *ps;
	enum refx_err err;

	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		return (REFX_ENOMEM);
	rq->rq_prepared = ps;
	rq->rq_prepared_free = prepared_submit_free;
	if ((ps->ps_body = request_json(rq)) == NULL)
		return (REFX_EINVAL);
	if ((err = parse_submit(rq, ps->ps_body, &ps->ps_s)))
		return (err);
	note_submit(rq, &ps->ps_s);
	return (REFX_OK);
}

/* POST /v1/referrals: accept a signed, encrypted referral. */
enum refx_err
h_referral_submit(struct request *rq, struct store_tx *tx)
{
	struct prepared_submit *ps = rq->rq_prepared;
	struct submit *s;
	json_t *rcpt;
	enum refx_err err;
	size_t i;

	if (ps == NULL || rq->rq_prepared_free != prepared_submit_free)
		return (REFX_EINVAL);	/* the route prepares it */
	s = &ps->ps_s;
	if ((err = check_submit(rq, tx, s)) ||
	    (err = store_submit(rq, tx, s)))
		return (err);
	if ((rcpt = json_array()) == NULL)
		return (REFX_ENOMEM);
	for (i = 0; i < s->s_nenvs; i++)
		if (strcmp(s->s_envs[i].me_recipient, rq->rq_who->id_agency))
			json_array_append_new(rcpt,
			    json_string(s->s_envs[i].me_recipient));
	rq->rq_status = 201;
	rq->rq_resp = json_pack("{s:s, s:o}", "id", s->s_id, "recipients",
	    rcpt);
	return (rq->rq_resp ? REFX_OK : REFX_ENOMEM);
}

/* GET /v1/referrals: the unit's inbox and sent referrals; no content. */
enum refx_err
h_referral_list(struct request *rq, struct store_tx *tx)
{
	struct store_stmt *st;
	json_t *list, *e;

	if ((list = json_array()) == NULL)
		return (REFX_ENOMEM);
	st = store_query(tx, "SELECT r.id, r.created_at, r.sender_unit, "
	    "r.basis, rr.status, 'in' FROM referrals r JOIN "
	    "referral_recipients rr ON rr.referral_id = r.id WHERE "
	    "rr.recipient = ?1 UNION ALL SELECT id, created_at, sender_unit, "
	    "basis, 'sent', 'out' FROM referrals WHERE sender_unit = ?1 "
	    "ORDER BY 2, 1", "t", rq->rq_who->id_agency);
	if (st == NULL)
		goto fail;
	while (store_step(st) == STORE_ROW) {
		e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id",
		    store_col_text(st, 0), "created_at", store_col_text(st, 1),
		    "sender", store_col_text(st, 2), "basis",
		    store_col_text(st, 3), "status", store_col_text(st, 4),
		    "direction", store_col_text(st, 5));
		if (e == NULL || json_array_append_new(list, e))
			goto fail;
	}
	store_finalize(st);
	rq->rq_resp = json_pack("{s:o}", "referrals", list);
	return (rq->rq_resp ? REFX_OK : REFX_ENOMEM);
fail:
	store_finalize(st);
	json_decref(list);
	return (REFX_ESTORE);
}

/* Is ${name} in the JSON array text ${list}? */
static int
listed(json_t *list, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
			return (1);
	return (0);
}

/* Was ${unit}'s copy of referral ${id} deleted by the retention purge? */
static int
copy_purged(struct store_tx *tx, const char *id, const char *unit, int own)
{
	struct store_stmt *st;
	int purged;

	st = own ? store_query(tx, "SELECT sender_purged_at IS NOT NULL FROM "
	    "referrals WHERE id = ?", "t", id) : store_query(tx, "SELECT "
	    "purged_at IS NOT NULL FROM referral_recipients WHERE "
	    "referral_id = ? AND recipient = ?", "tt", id, unit);
	purged = st != NULL && store_step(st) == STORE_ROW &&
	    store_col_int(st, 0) != 0;
	store_finalize(st);
	return (purged);
}

/*
 * GET /v1/referrals/ID: the caller unit's envelope and the field blobs
 * it opens, nothing else; refused once the consent no longer holds.
 */
enum refx_err
h_referral_pull(struct request *rq, struct store_tx *tx)
{
	const struct refx_identity *who = rq->rq_who;
	const char *id = rq->rq_param, *unit = who->id_agency;
	struct store_stmt *st = NULL, *env = NULL, *fl = NULL;
	struct consent_state cs;
	refx_classes c, it, disclosed = 0;
	json_t *fields = NULL, *list = NULL, *classes;
	char *consent = NULL, *ctext = NULL, now[21];
	enum refx_class cls;
	int own, rc;
	enum refx_err err;

	rq->rq_audit.ra_object_type = "referral";
	snprintf(rq->rq_audit.ra_object_id, sizeof(rq->rq_audit.ra_object_id),
	    "%s", id);
	st = store_query(tx, "SELECT sender_unit, basis, consent_id, "
	    "manifest, signature, certificate FROM referrals WHERE id = ?",
	    "t", id);
	if (st == NULL)
		return (REFX_ESTORE);
	if (store_step(st) != STORE_ROW) {
		err = request_fail(rq, REFX_ENOTFOUND, "no referral %s for "
		    "your unit", id);
		goto out;
	}
	own = strcmp(store_col_text(st, 0), unit) == 0;
	/* The sender's full copy is for its submitters only. */
	if (own && who->id_role != REFX_ROLE_SUBMITTER) {
		err = request_fail(rq, REFX_ENOTFOUND, "no referral %s for "
		    "your unit", id);
		goto out;
	}
	rq->rq_audit.ra_basis = strcmp(store_col_text(st, 1), "consent") == 0 ?
	    "consent" : "report-of-concern";
	if (store_col_text(st, 2) != NULL &&
	    (consent = strdup(store_col_text(st, 2))) == NULL) {
		err = REFX_ENOMEM;
		goto out;
	}
	if (own)
		list = NULL;		/* the sender's copy: every field */
	else {
		/* Only a caseworker of an addressed unit; others get 404. */
		fl = store_query(tx, "SELECT fields FROM referral_recipients "
		    "WHERE referral_id = ? AND recipient = ?", "tt", id, unit);
		if (fl == NULL) {
			err = REFX_ESTORE;
			goto out;
		}
		if (who->id_role != REFX_ROLE_CASEWORKER ||
		    store_step(fl) != STORE_ROW) {
			err = request_fail(rq, REFX_ENOTFOUND, "no referral %s "
			    "for your unit", id);
			goto out;
		}
		/* The sending school's log records its recipients' pulls. */
		request_involve(rq, store_col_text(st, 0), 0);
		list = json_loads(store_col_text(fl, 0), 0, NULL);
		if (!json_is_array(list)) {
			err = REFX_ESTORE;
			goto out;
		}
		if (consent != NULL) {
			if ((rc = consent_get(tx, consent, &cs)) != 0) {
				err = REFX_ESTORE;
				goto out;
			}
			if (!cs.cs_valid) {
				err = request_fail(rq, REFX_EDENIED, "referral "
				    "%s refused: %s", id, cs.cs_reason);
				goto out;
			}
			if ((rc = consent_scope(tx, consent, unit, &c,
			    &it)) < 0) {
				err = REFX_ESTORE;
				goto out;
			}
			if (rc == 1) {
				err = request_fail(rq, REFX_EDENIED, "referral "
				    "%s refused: consent withdrawn for your "
				    "unit", id);
				goto out;
			}
		}
	}
	env = store_query(tx, "SELECT sealed FROM envelopes WHERE "
	    "referral_id = ? AND recipient = ?", "tt", id, unit);
	if (env == NULL) {
		err = REFX_ESTORE;
		goto out;
	}
	if (store_step(env) != STORE_ROW) {
		err = request_fail(rq, REFX_EDENIED, "referral %s refused: the "
		    "keys for your unit have been deleted%s", id,
		    copy_purged(tx, id, unit, own) ? " at the end of "
		    "retention" : "");
		goto out;
	}
	store_finalize(fl);
	fl = store_query(tx, "SELECT name, class, blob FROM referral_fields "
	    "WHERE referral_id = ? ORDER BY rowid", "t", id);
	if (fl == NULL || (fields = json_array()) == NULL) {
		err = REFX_ESTORE;
		goto out;
	}
	while (store_step(fl) == STORE_ROW) {
		if (list != NULL && !listed(list, store_col_text(fl, 0)))
			continue;	/* never send what it cannot open */
		if (refx_class_parse(store_col_text(fl, 1), &cls) == 0)
			disclosed |= REFX_CLASS_BIT(cls);
		if (json_array_append_new(fields, json_pack("{s:s, s:o}",
		    "name", store_col_text(fl, 0), "blob", json_b64_column(fl, 2)))) {
			err = REFX_ENOMEM;
			goto out;
		}
	}
	if (!own) {
		clock_stamp(now);
		classes = classes_to_json(disclosed);
		ctext = classes ? json_dumps(classes, JSON_COMPACT) : NULL;
		json_decref(classes);
		if (ctext == NULL) {
			err = REFX_ENOMEM;
			goto out;
		}
		rq->rq_audit.ra_classes = disclosed;
		request_involve(rq, store_col_text(st, 0), disclosed);
		if ((err = store_run(tx, "INSERT INTO disclosures (referral_id, "
		    "consent_id, recipient, person, classes, at) VALUES "
		    "(?, ?, ?, ?, ?, ?)", "tttttt", id, consent, unit,
		    who->id_person, ctext, now)) ||
		    (err = store_run(tx, "UPDATE referral_recipients SET "
		    "status = 'pulled' WHERE referral_id = ? AND recipient = ?",
		    "tt", id, unit)) ||
		    (err = case_received(tx, id, unit, who, now)))
			goto out;
	}
	rq->rq_resp = json_pack("{s:s, s:o, s:o, s:s, s:{s:s, s:o}, s:O}",
	    "id", id, "manifest", json_b64_column(st, 3), "signature",
	    json_b64_column(st, 4), "certificate", store_col_text(st, 5),
	    "envelope", "recipient", unit, "sealed", json_b64_column(env, 0),
	    "fields", fields);
	err = rq->rq_resp ? REFX_OK : REFX_ENOMEM;
out:
	free(ctext);
	json_decref(fields);
	json_decref(list);
	free(consent);
	store_finalize(fl);
	store_finalize(env);
	store_finalize(st);
	return (err);
}

/*
 * GET /v1/referrals/ID/receipts: for the sending school, who pulled its
 * referral, when, and which field classes (names only).
 */
enum refx_err
h_referral_receipts(struct request *rq, struct store_tx *tx)
{
	const char *id = rq->rq_param;
	struct store_stmt *st;
	json_t *list, *e, *classes;
	int found;

	rq->rq_audit.ra_object_type = "referral";
	snprintf(rq->rq_audit.ra_object_id, sizeof(rq->rq_audit.ra_object_id),
	    "%s", id);
	st = store_query(tx, "SELECT 1 FROM referrals WHERE id = ? AND "
	    "sender_unit = ?", "tt", id, rq->rq_who->id_agency);
	if (st == NULL)
		return (REFX_ESTORE);
	found = store_step(st) == STORE_ROW;
	store_finalize(st);
	if (!found || rq->rq_who->id_role != REFX_ROLE_SUBMITTER)
		return (request_fail(rq, REFX_ENOTFOUND, "no referral %s sent "
		    "by your unit", id));
	if ((list = json_array()) == NULL)
		return (REFX_ENOMEM);
	st = store_query(tx, "SELECT recipient, person, classes, at FROM "
	    "disclosures WHERE referral_id = ? ORDER BY id", "t", id);
	if (st == NULL)
		goto fail;
	while (store_step(st) == STORE_ROW) {
		classes = json_loads(store_col_text(st, 2), 0, NULL);
		e = json_pack("{s:s, s:s, s:o, s:s}", "recipient",
		    store_col_text(st, 0), "person", store_col_text(st, 1),
		    "classes", classes ? classes : json_array(), "at",
		    store_col_text(st, 3));
		if (e == NULL || json_array_append_new(list, e))
			goto fail;
	}
	store_finalize(st);
	st = store_query(tx, "SELECT recipient, kind, status FROM "
	    "referral_recipients WHERE referral_id = ? ORDER BY recipient",
	    "t", id);
	rq->rq_resp = json_pack("{s:s, s:o, s:[]}", "id", id, "receipts", list,
	    "recipients");
	if (rq->rq_resp == NULL || st == NULL) {
		store_finalize(st);
		return (REFX_ENOMEM);
	}
	while (store_step(st) == STORE_ROW)
		json_array_append_new(json_object_get(rq->rq_resp,
		    "recipients"), json_pack("{s:s, s:s, s:s}", "recipient",
		    store_col_text(st, 0), "kind", store_col_text(st, 1),
		    "status", store_col_text(st, 2)));
	store_finalize(st);
	return (REFX_OK);
fail:
	store_finalize(st);
	json_decref(list);
	return (REFX_ESTORE);
}
