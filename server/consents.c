/*
 * Consent: recorded at the school, enforced by the server.
 *
 * The server keeps only what it must enforce in clear: the scope (which
 * recipient may receive which classes, which of them itemised), the date
 * it runs to, its status, and each party's role, custody or maturity and
 * decision.  Names, dates, how consent was obtained and the maturity
 * assessment arrive sealed (a field blob plus envelopes to the owner and
 * the recipients) and are stored as they came.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "refx/cert.h"
#include "refx/envelope.h"
#include "refx/identity.h"
#include "refx/secret.h"

#include "cases.h"
#include "clock.h"
#include "directory.h"
#include "handlers.h"
#include "routes.h"
#include "store.h"

#define PARTIES_MAX	8
#define SCOPE_MAX	REFX_MAX_RECIPIENTS
#define SEALED_MAX	(64 * 1024)
#define STATEMENT_MAX	(16 * 1024)	/* bytes of a signed statement */
#define CERT_MAX	(16 * 1024)

/* ---- JSON checks shared with referrals.c ------------------------------ */

/** json_str(rq, obj, key, max, what): A required string member. */
const char *
json_str(struct request *rq, json_t *obj, const char *key, size_t max,
    const char *what)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v)) {
		request_fail(rq, REFX_EINVAL, "%s%s%s: must be a string",
		    what, *what ? "." : "", key);
		return (NULL);
	}
	if (json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		request_fail(rq, REFX_EINVAL, "%s%s%s: too long or holds NUL",
		    what, *what ? "." : "", key);
		return (NULL);
	}
	return (json_string_value(v));
}


/** json_only_keys(rq, obj, allowed, what): Refuse unknown members. */
int
json_only_keys(struct request *rq, json_t *obj, const char *const *allowed,
    const char *what)
{
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(obj)) {
		request_fail(rq, REFX_EINVAL, "%s: must be an object", what);
		return (-1);
	}
	json_object_foreach(obj, key, v) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], key) == 0)
				break;
		if (allowed[i] == NULL) {
			request_fail(rq, REFX_EINVAL, "%s: unknown member '%s'",
			    what, refx_quotable(key));
			return (-1);
		}
	}
	return (0);
}

/** date_valid(s): 1 if ${s} is a calendar date YYYY-MM-DD, else 0. */
int
date_valid(const char *s)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int i, y, m, d;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return (0);
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return (0);
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
	    (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 2000 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return (0);
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) ||
	    y % 400 == 0))
		return (0);
	return (1);
}

/** classes_from_json(rq, arr, set, what): An array of class names. */
int
classes_from_json(struct request *rq, json_t *arr, refx_classes *set,
    const char *what)
{
	enum refx_class c;
	size_t i;
	json_t *v;

	*set = 0;
	if (!json_is_array(arr) || json_array_size(arr) > REFX_CLASS_COUNT) {
		request_fail(rq, REFX_EINVAL, "%s: must be an array of class "
		    "names", what);
		return (-1);
	}
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v) ||
		    refx_class_parse(json_string_value(v), &c)) {
			request_fail(rq, REFX_EINVAL, "%s[%zu]: unknown class",
			    what, i);
			return (-1);
		}
		if (*set & REFX_CLASS_BIT(c)) {
			request_fail(rq, REFX_EINVAL, "%s[%zu]: '%s' repeated",
			    what, i, refx_class_name(c));
			return (-1);
		}
		*set |= REFX_CLASS_BIT(c);
	}
	return (0);
}

/** classes_to_json(set): The class names of ${set}, as an array. */
json_t *
classes_to_json(refx_classes set)
{
	json_t *a;
	int c;

	if ((a = json_array()) == NULL)
		return (NULL);
	for (c = 0; c < REFX_CLASS_COUNT; c++)
		if ((set & REFX_CLASS_BIT(c)) && json_array_append_new(a,
		    json_string(refx_class_name((enum refx_class)c)))) {
			json_decref(a);
			return (NULL);
		}
	return (a);
}

/** signed_by_caller(rq, pem, context, msg, len, sig, what): cases.h. */
enum refx_err
signed_by_caller(struct request *rq, const char *pem, const char *context,
    const uint8_t *msg, size_t len, const uint8_t *sig, const char *what)
{
	uint8_t fp[REFX_FINGERPRINT_LEN];
	struct x509_st *cert;
	enum refx_err err = REFX_OK;

	if ((cert = refx_cert_parse_pem((const uint8_t *)pem,
	    strlen(pem))) == NULL)
		return (request_fail(rq, REFX_EINVAL, "certificate: not a PEM "
		    "certificate"));
	if (refx_cert_fingerprint(cert, fp) ||
	    !refx_ct_equal(fp, rq->rq_who->id_fingerprint, sizeof(fp)))
		err = request_fail(rq, REFX_EDENIED, "certificate: not the "
		    "certificate you are connected with");
	else if (refx_verify_ctx(cert, context, msg, len, sig) != REFX_OK)
		err = request_fail(rq, REFX_ECRYPTO, "signature: does not "
		    "verify over the %s", what);
	refx_cert_free(cert);
	return (err);
}

/** json_b64_column(st, col): A blob column as a base64 JSON string. */
json_t *
json_b64_column(struct store_stmt *st, int col)
{
	const void *p;
	size_t len;
	char *b;
	json_t *j;

	p = store_col_blob(st, col, &len);
	if ((b = refx_b64_encode(p ? p : "", p ? len : 0)) == NULL)
		return (NULL);
	j = json_string(b);
	free(b);
	return (j);
}

/* ---- consent state ---------------------------------------------------- */

/*
 * Is every required party's decision "yes"?  Every guardian with custody
 * must agree, and so must a pupil judged mature enough (domain.md 1.3:
 * "if a guardian says no, there is no case").
 */
static int
parties_agree(json_t *parties, char *reason, size_t len)
{
	json_t *p;
	size_t i;
	int custodial = 0;

	json_array_foreach(parties, i, p) {
		const char *role = json_string_value(json_object_get(p,
		    "role"));
		int yes = strcmp(json_string_value(json_object_get(p,
		    "decision")), "yes") == 0;

		if (strcmp(role, "guardian") == 0 &&
		    json_is_true(json_object_get(p, "custody"))) {
			custodial++;
			if (!yes) {
				snprintf(reason, len, "guardian %zu (with "
				    "custody) did not consent", i + 1);
				return (0);
			}
		}
		if (strcmp(role, "pupil") == 0 &&
		    json_is_true(json_object_get(p, "mature")) && !yes) {
			snprintf(reason, len, "the pupil, judged mature "
			    "enough, did not consent");
			return (0);
		}
	}
	if (custodial == 0) {
		snprintf(reason, len, "no guardian with custody has "
		    "consented");
		return (0);
	}
	return (1);
}

/* Judge a consent from its stored state. */
static void
judge(struct consent_state *cs, const char *parties_json)
{
	char today[11];
	json_t *parties;

	cs->cs_valid = 0;
	cs->cs_reason[0] = '\0';
	clock_today(today);
	if (strcmp(cs->cs_status, "withdrawn") == 0) {
		snprintf(cs->cs_reason, sizeof(cs->cs_reason),
		    "consent withdrawn");
		return;
	}
	if (strcmp(cs->cs_status, "expired") == 0 ||
	    strcmp(cs->cs_valid_until, today) < 0) {
		snprintf(cs->cs_reason, sizeof(cs->cs_reason),
		    "consent expired on %s", cs->cs_valid_until);
		return;
	}
	if ((parties = json_loads(parties_json, 0, NULL)) == NULL) {
		snprintf(cs->cs_reason, sizeof(cs->cs_reason),
		    "consent record unreadable");
		return;
	}
	cs->cs_valid = parties_agree(parties, cs->cs_reason,
	    sizeof(cs->cs_reason));
	json_decref(parties);
}

/** consent_get(tx, id, cs): Load consent ${id}.  0, 1 (none) or -1. */
int
consent_get(struct store_tx *tx, const char *id, struct consent_state *cs)
{
	struct store_stmt *st;
	enum store_step r;
	int rc = -1;

	st = store_query(tx, "SELECT owner, status, valid_until, parties "
	    "FROM consents WHERE id = ?", "t", id);
	if (st == NULL)
		return (-1);
	if ((r = store_step(st)) == STORE_ROW) {
		snprintf(cs->cs_owner, sizeof(cs->cs_owner), "%s",
		    store_col_text(st, 0));
		snprintf(cs->cs_status, sizeof(cs->cs_status), "%s",
		    store_col_text(st, 1));
		snprintf(cs->cs_valid_until, sizeof(cs->cs_valid_until), "%s",
		    store_col_text(st, 2));
		judge(cs, store_col_text(st, 3));
		rc = 0;
	} else if (r == STORE_DONE)
		rc = 1;
	store_finalize(st);
	return (rc);
}

/** consent_scope(tx, id, recipient, classes, itemised): See cases.h. */
int
consent_scope(struct store_tx *tx, const char *id, const char *recipient,
    refx_classes *classes, refx_classes *itemised)
{
	struct store_stmt *st;
	enum store_step r;
	int rc = -1;

	st = store_query(tx, "SELECT classes, itemised FROM consent_scope "
	    "WHERE consent_id = ? AND recipient = ? AND withdrawn_at IS NULL",
	    "tt", id, recipient);
	if (st == NULL)
		return (-1);
	if ((r = store_step(st)) == STORE_ROW) {
		*classes = (refx_classes)store_col_int(st, 0);
		*itemised = (refx_classes)store_col_int(st, 1);
		rc = 0;
	} else if (r == STORE_DONE)
		rc = 1;
	store_finalize(st);
	return (rc);
}

/*
 * Delete the envelopes of consent ${id}'s referrals for ${recipient} (or
 * for every recipient but the sender, if NULL), so that the keys of
 * parts not yet read are gone; mark those recipients ${status}.
 */
static int
revoke_envelopes(struct store_tx *tx, const char *id, const char *recipient,
    const char *status, int *deleted)
{

	if (store_run(tx, "DELETE FROM envelopes WHERE referral_id IN "
	    "(SELECT r.id FROM referrals r WHERE r.consent_id = ?1) "
	    "AND recipient != (SELECT r.sender_unit FROM referrals r "
	    "  WHERE r.id = envelopes.referral_id) "
	    "AND (?2 IS NULL OR recipient = ?2)", "tt", id, recipient))
		return (-1);
	*deleted = store_changes(tx);
	/* Nor may they read the consent's private part any more. */
	if (store_run(tx, "DELETE FROM consent_envelopes WHERE consent_id = ?1 "
	    "AND unit != (SELECT owner FROM consents WHERE id = ?1) "
	    "AND (?2 IS NULL OR unit = ?2)", "tt", id, recipient))
		return (-1);
	if (store_run(tx, "UPDATE referral_recipients SET status = ?3 "
	    "WHERE referral_id IN (SELECT r.id FROM referrals r "
	    "  WHERE r.consent_id = ?1) "
	    "AND (?2 IS NULL OR recipient = ?2)", "ttt", id, recipient,
	    status))
		return (-1);
	return (0);
}

/*
 * Expire the consents whose date is before ${today}, at most 16; set
 * ${complete} if that was all of them.
 */
static int
sweep_before(struct store_tx *tx, const char *today, int *complete)
{
	struct store_stmt *st;
	char now[21], ids[16][REFX_REFERRAL_ID_LEN + 1];
	int n = 0, i, deleted;

	clock_stamp(now);
	/* Bounded batches: each request expires at most 16 consents. */
	st = store_query(tx, "SELECT id FROM consents WHERE status = "
	    "'active' AND valid_until < ? LIMIT 16", "t", today);
	if (st == NULL)
		return (REFX_ESTORE);
	while (n < 16 && store_step(st) == STORE_ROW)
		snprintf(ids[n++], sizeof(ids[0]), "%s", store_col_text(st, 0));
	store_finalize(st);
	for (i = 0; i < n; i++) {
		if (store_run(tx, "UPDATE consents SET status = 'expired', "
		    "status_at = ? WHERE id = ?", "tt", now, ids[i]) ||
		    revoke_envelopes(tx, ids[i], NULL, "consent-expired",
		    &deleted))
			return (REFX_ESTORE);
	}
	*complete = n < 16;
	return (REFX_OK);
}

/** consent_sweep(tx): Expire consents past their date.  See cases.h. */
int
consent_sweep(struct store_tx *tx)
{
	char today[11];
	int complete;

	clock_today(today);
	return (sweep_before(tx, today, &complete));
}

/*
 * Consent expiry as a route's housekeeping.  A consent's date is a day
 * and no consent can be recorded already past it, so once every consent
 * expired before today is swept nothing is left to sweep until the date
 * changes: the sweep's transaction (and its fsync) is skipped until then.
 * Changing consents in the database behind refxd's back is not seen
 * before the next day or restart.
 */
static pthread_mutex_t swept_lock = PTHREAD_MUTEX_INITIALIZER;
static char swept_day[11];	/* "" or the day fully swept */

static int
expiry_due(char token[HOUSEKEEPING_TOKEN])
{
	int due;

	clock_today(token);
	pthread_mutex_lock(&swept_lock);
	due = strcmp(swept_day, token) != 0;
	pthread_mutex_unlock(&swept_lock);
	return (due);
}

static int
expiry_run(struct store_tx *tx, const char *token, int *complete)
{

	return (sweep_before(tx, token, complete));
}

static void
expiry_complete(const char *token)
{

	pthread_mutex_lock(&swept_lock);
	snprintf(swept_day, sizeof(swept_day), "%s", token);
	pthread_mutex_unlock(&swept_lock);
}

const struct housekeeping consent_expiry = {
	expiry_due, expiry_run, expiry_complete
};

/* ---- POST /v1/consents ------------------------------------------------ */

/* Check the parties (roles and decisions only; names are sealed). */
static json_t *
check_parties(struct request *rq, json_t *arr)
{
	static const char *const guardian_keys[] = { "role", "custody",
	    "decision", NULL };
	static const char *const pupil_keys[] = { "role", "mature",
	    "decision", NULL };
	char what[32];
	const char *role, *decision;
	json_t *p, *out;
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) < 1 ||
	    json_array_size(arr) > PARTIES_MAX) {
		request_fail(rq, REFX_EINVAL, "parties: must be an array of "
		    "1 to %d parties", PARTIES_MAX);
		return (NULL);
	}
	if ((out = json_array()) == NULL)
		return (NULL);
	json_array_foreach(arr, i, p) {
		snprintf(what, sizeof(what), "parties[%zu]", i);
		if (!json_is_object(p) ||
		    (role = json_str(rq, p, "role", 16, what)) == NULL)
			goto fail;
		if (strcmp(role, "guardian") == 0) {
			if (json_only_keys(rq, p, guardian_keys, what))
				goto fail;
			if (!json_is_boolean(json_object_get(p, "custody"))) {
				request_fail(rq, REFX_EINVAL, "%s.custody: "
				    "must be true or false", what);
				goto fail;
			}
		} else if (strcmp(role, "pupil") == 0) {
			if (json_only_keys(rq, p, pupil_keys, what))
				goto fail;
			if (!json_is_boolean(json_object_get(p, "mature"))) {
				request_fail(rq, REFX_EINVAL, "%s.mature: "
				    "must be true or false", what);
				goto fail;
			}
		} else {
			request_fail(rq, REFX_EINVAL, "%s.role: must be "
			    "guardian or pupil", what);
			goto fail;
		}
		if ((decision = json_str(rq, p, "decision", 4, what)) == NULL)
			goto fail;
		if (strcmp(decision, "yes") != 0 && strcmp(decision, "no") != 0) {
			request_fail(rq, REFX_EINVAL, "%s.decision: must be "
			    "yes or no", what);
			goto fail;
		}
		if (json_array_append(out, p))
			goto fail;
	}
	return (out);
fail:
	json_decref(out);
	return (NULL);
}

/* One scope entry, checked against the directory. */
struct scope {
	char		sc_recipient[REFX_AGENCY_ID_MAX + 1];
	refx_classes	sc_classes;
	refx_classes	sc_itemised;
	int		sc_feedback;	/* may answer the school in full */
};

/*
 * "feedback": optional; true when the guardians let this recipient tell
 * the school more than the outcome (docs/workflow.md).  Return 0 or 1,
 * or -1 after recording a 400.
 */
static int
feedback_flag(struct request *rq, json_t *e, const char *what)
{
	json_t *v = json_object_get(e, "feedback");

	if (v == NULL)
		return (0);
	if (!json_is_boolean(v)) {
		request_fail(rq, REFX_EINVAL, "%s.feedback: must be true or "
		    "false", what);
		return (-1);
	}
	return (json_is_true(v));
}

static int
check_scope(struct request *rq, json_t *arr, struct scope *sc, size_t *n)
{
	static const char *const keys[] = { "recipient", "classes",
	    "itemised", "feedback", NULL };
	enum refx_kind kind;
	const char *unit;
	char what[64];
	json_t *e;
	size_t i, j;

	if (!json_is_array(arr) || json_array_size(arr) < 1 ||
	    json_array_size(arr) > SCOPE_MAX) {
		request_fail(rq, REFX_EINVAL, "scope: must be an array of 1 "
		    "to %d recipients", SCOPE_MAX);
		return (-1);
	}
	json_array_foreach(arr, i, e) {
		snprintf(what, sizeof(what), "scope[%zu]", i);
		if (json_only_keys(rq, e, keys, what) ||
		    (unit = json_str(rq, e, "recipient", REFX_AGENCY_ID_MAX,
		    what)) == NULL)
			return (-1);
		if (directory_unit_kind(rq->rq_srv->sv_dir, unit, &kind)) {
			request_fail(rq, REFX_EINVAL, "%s.recipient: '%s' is "
			    "not a unit of this exchange", what, unit);
			return (-1);
		}
		if (strcmp(unit, rq->rq_who->id_agency) == 0) {
			request_fail(rq, REFX_EINVAL, "%s.recipient: the "
			    "owner cannot be a recipient", what);
			return (-1);
		}
		for (j = 0; j < i; j++)
			if (strcmp(sc[j].sc_recipient, unit) == 0) {
				request_fail(rq, REFX_EINVAL, "%s.recipient: "
				    "'%s' repeated", what, unit);
				return (-1);
			}
		snprintf(sc[i].sc_recipient, sizeof(sc[i].sc_recipient), "%s",
		    unit);
		if ((sc[i].sc_feedback = feedback_flag(rq, e, what)) < 0)
			return (-1);
		snprintf(what, sizeof(what), "scope[%zu].classes", i);
		if (classes_from_json(rq, json_object_get(e, "classes"),
		    &sc[i].sc_classes, what))
			return (-1);
		snprintf(what, sizeof(what), "scope[%zu].itemised", i);
		if (classes_from_json(rq, json_object_get(e, "itemised"),
		    &sc[i].sc_itemised, what))
			return (-1);
		if (sc[i].sc_classes == 0) {
			request_fail(rq, REFX_EINVAL, "scope[%zu].classes: "
			    "empty", i);
			return (-1);
		}
		if (sc[i].sc_itemised & ~sc[i].sc_classes) {
			request_fail(rq, REFX_EINVAL, "scope[%zu].itemised: "
			    "must be among its classes", i);
			return (-1);
		}
	}
	*n = json_array_size(arr);
	return (0);
}

/* Decode one sealed value with a bound, or record a 400. */
static uint8_t *
sealed_value(struct request *rq, json_t *v, const char *what, size_t *len)
{
	uint8_t *out;

	if (!json_is_string(v) || refx_b64_decode(json_string_value(v),
	    SEALED_MAX, &out, len) || *len == 0) {
		request_fail(rq, REFX_EINVAL, "%s: must be non-empty base64 "
		    "of at most %d bytes", what, SEALED_MAX);
		return (NULL);
	}
	return (out);
}

/* Store the sealed part: the blob and one envelope per unit. */
static enum refx_err
store_sealed(struct request *rq, struct store_tx *tx, const char *id,
    json_t *sealed, const struct scope *sc, size_t nsc)
{
	static const char *const keys[] = { "blob", "envelopes", NULL };
	json_t *envs, *v;
	const char *unit;
	uint8_t *b;
	size_t len, i;
	enum refx_err err;

	if (json_only_keys(rq, sealed, keys, "sealed"))
		return (REFX_EINVAL);
	envs = json_object_get(sealed, "envelopes");
	if (!json_is_object(envs) || json_object_size(envs) != nsc + 1) {
		return (request_fail(rq, REFX_EINVAL, "sealed.envelopes: "
		    "needs exactly one envelope for the owner and each "
		    "recipient"));
	}
	json_object_foreach(envs, unit, v) {
		for (i = 0; i < nsc; i++)
			if (strcmp(sc[i].sc_recipient, unit) == 0)
				break;
		if (i == nsc && strcmp(unit, rq->rq_who->id_agency) != 0)
			return (request_fail(rq, REFX_EINVAL,
			    "sealed.envelopes: '%s' is neither the owner "
			    "nor a recipient", refx_quotable(unit)));
		if ((b = sealed_value(rq, v, "sealed.envelopes", &len)) == NULL)
			return (REFX_EINVAL);
		err = store_run(tx, "INSERT INTO consent_envelopes (consent_id, "
		    "unit, sealed) VALUES (?, ?, ?)", "ttb", id, unit, b, len);
		free(b);
		if (err)
			return (err);
	}
	if (json_object_get(envs, rq->rq_who->id_agency) == NULL)
		return (request_fail(rq, REFX_EINVAL, "sealed.envelopes: no "
		    "envelope for the owner unit"));
	return (REFX_OK);
}

/* ---- the school's signed statement ------------------------------------ */

/* Decode the base64 member ${key} (at most ${max} bytes) or record a 400. */
static uint8_t *
b64_value(struct request *rq, json_t *obj, const char *key, size_t max,
    size_t *len)
{
	const char *s;
	uint8_t *out;

	if ((s = json_str(rq, obj, key, max / 3 * 4 + 8, "consent")) == NULL)
		return (NULL);
	if (refx_b64_decode(s, max, &out, len) || *len == 0) {
		request_fail(rq, REFX_EINVAL, "consent.%s: not base64, empty, "
		    "or longer than %zu bytes", key, max);
		return (NULL);
	}
	return (out);
}

/* Do the checked parties ${a} and the statement's ${b} say the same? */
static int
same_parties(json_t *a, json_t *b)
{
	size_t i;

	if (!json_is_array(b) || json_array_size(a) != json_array_size(b))
		return (0);
	for (i = 0; i < json_array_size(a); i++)
		if (!json_equal(json_array_get(a, i), json_array_get(b, i)))
			return (0);
	return (1);
}

/*
 * Does the statement's scope ${arr} name exactly the recipients of
 * ${sc}, each with the same classes and itemised ones?  1 if so, else
 * 0 with a 400 naming the difference.
 */
static int
same_scope(struct request *rq, json_t *arr, const struct scope *sc,
    size_t nsc)
{
	static const char *const keys[] = { "recipient", "classes",
	    "itemised", "feedback", NULL };
	refx_classes c, it;
	int fb;
	unsigned int seen = 0;
	const char *unit;
	char what[64];
	json_t *e;
	size_t i, j;

	if (!json_is_array(arr) || json_array_size(arr) != nsc) {
		request_fail(rq, REFX_EINVAL, "statement.scope: does not name "
		    "the recipients of scope");
		return (0);
	}
	json_array_foreach(arr, i, e) {
		snprintf(what, sizeof(what), "statement.scope[%zu]", i);
		if (json_only_keys(rq, e, keys, what) ||
		    (unit = json_str(rq, e, "recipient", REFX_AGENCY_ID_MAX,
		    what)) == NULL)
			return (0);
		for (j = 0; j < nsc; j++)
			if (strcmp(sc[j].sc_recipient, unit) == 0)
				break;
		if (j == nsc || (seen & (1u << j))) {
			request_fail(rq, REFX_EINVAL, "%s.recipient: '%s' is "
			    "not (or twice) in scope", what, refx_quotable(unit));
			return (0);
		}
		seen |= 1u << j;
		snprintf(what, sizeof(what), "statement.scope[%zu].classes", i);
		if (classes_from_json(rq, json_object_get(e, "classes"), &c,
		    what))
			return (0);
		snprintf(what, sizeof(what), "statement.scope[%zu].itemised",
		    i);
		if (classes_from_json(rq, json_object_get(e, "itemised"), &it,
		    what))
			return (0);
		snprintf(what, sizeof(what), "statement.scope[%zu]", i);
		if ((fb = feedback_flag(rq, e, what)) < 0)
			return (0);
		if (c != sc[j].sc_classes || it != sc[j].sc_itemised ||
		    fb != sc[j].sc_feedback) {
			request_fail(rq, REFX_EINVAL, "statement.scope: the "
			    "classes signed for %s are not those of scope",
			    sc[j].sc_recipient);
			return (0);
		}
	}
	return (1);
}

/*
 * Check the school's signed statement in ${body}: the certificate is
 * the caller's own, the signature verifies, and the statement says
 * exactly what the request does.  Return REFX_OK with the decoded
 * statement and signature (caller frees), or the error recorded.
 */
static enum refx_err
check_statement(struct request *rq, json_t *body, const char *id,
    const char *until, json_t *parties, const struct scope *sc, size_t nsc,
    uint8_t **stp, size_t *stlen, uint8_t **sigp)
{
	static const char *const keys[] = { "v", "consent", "owner",
	    "recorded_by", "valid_until", "parties", "scope", NULL };
	const struct refx_identity *who = rq->rq_who;
	uint8_t *st = NULL, *sig = NULL;
	const char *pem, *s;
	size_t siglen;
	json_t *root = NULL, *v;
	enum refx_err err = REFX_EINVAL;

	*stp = *sigp = NULL;
	if ((st = b64_value(rq, body, "statement", STATEMENT_MAX, stlen)) ==
	    NULL ||
	    (sig = b64_value(rq, body, "signature", REFX_SIG_LEN, &siglen)) ==
	    NULL || (pem = json_str(rq, body, "certificate", CERT_MAX,
	    "consent")) == NULL)
		goto fail;
	if (siglen != REFX_SIG_LEN) {
		request_fail(rq, REFX_EINVAL, "signature: must be %d bytes",
		    REFX_SIG_LEN);
		goto fail;
	}

	/* The signer must be the person on this TLS connection. */
	if ((err = signed_by_caller(rq, pem, REFX_CONSENT_CONTEXT, st, *stlen,
	    sig, "statement")))
		goto fail;

	/* It says exactly what the request says. */
	if ((root = json_loadb((const char *)st, *stlen,
	    JSON_REJECT_DUPLICATES, NULL)) == NULL || !json_is_object(root)) {
		request_fail(rq, REFX_EINVAL, "statement: not a JSON object");
		goto fail;
	}
	if (json_only_keys(rq, root, keys, "statement"))
		goto fail;
	v = json_object_get(root, "v");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		request_fail(rq, REFX_EINVAL, "statement.v: must be 1");
		goto fail;
	}
	if ((s = json_str(rq, root, "consent", REFX_REFERRAL_ID_LEN,
	    "statement")) == NULL)
		goto fail;
	if (strcmp(s, id) != 0) {
		request_fail(rq, REFX_EINVAL, "statement.consent: not this "
		    "consent's id");
		goto fail;
	}
	if ((s = json_str(rq, root, "owner", REFX_AGENCY_ID_MAX,
	    "statement")) == NULL)
		goto fail;
	if (strcmp(s, who->id_agency) != 0) {
		err = request_fail(rq, REFX_EDENIED, "statement.owner: not "
		    "your unit");
		goto fail;
	}
	if ((s = json_str(rq, root, "recorded_by", REFX_PERSON_ID_MAX,
	    "statement")) == NULL)
		goto fail;
	if (strcmp(s, who->id_person) != 0) {
		err = request_fail(rq, REFX_EDENIED, "statement.recorded_by: "
		    "not you");
		goto fail;
	}
	if ((s = json_str(rq, root, "valid_until", 10, "statement")) == NULL)
		goto fail;
	if (strcmp(s, until) != 0) {
		request_fail(rq, REFX_EINVAL, "statement.valid_until: not "
		    "valid_until");
		goto fail;
	}
	if (!same_parties(parties, json_object_get(root, "parties"))) {
		request_fail(rq, REFX_EINVAL, "statement.parties: not the "
		    "parties");
		goto fail;
	}
	if (!same_scope(rq, json_object_get(root, "scope"), sc, nsc))
		goto fail;

	json_decref(root);
	*stp = st;
	*sigp = sig;
	return (REFX_OK);

fail:
	json_decref(root);
	free(sig);
	free(st);
	return (err);
}

/* POST /v1/consents: record a consent at the school. */
enum refx_err
h_consent_record(struct request *rq, struct store_tx *tx)
{
	static const char *const keys[] = { "id", "valid_until", "parties",
	    "scope", "sealed", "statement", "signature", "certificate", NULL };
	struct scope sc[SCOPE_MAX];
	struct consent_state cs;
	json_t *body, *parties = NULL;
	const char *id, *until;
	char today[11], now[21], *parties_text = NULL;
	uint8_t *blob = NULL, *st = NULL, *sig = NULL;
	size_t nsc = 0, bloblen, stlen = 0, i;
	enum refx_err err = REFX_EINVAL;

	if ((body = request_json(rq)) == NULL)
		return (REFX_EINVAL);
	err = REFX_EINVAL;
	if (json_only_keys(rq, body, keys, "consent") ||
	    (id = json_str(rq, body, "id", REFX_REFERRAL_ID_LEN, "")) == NULL ||
	    (until = json_str(rq, body, "valid_until", 10, "")) == NULL)
		goto out;
	if (!refx_referral_id_valid(id)) {
		request_fail(rq, REFX_EINVAL, "id: must be 32 lower-case hex "
		    "characters");
		goto out;
	}
	rq->rq_audit.ra_object_type = "consent";
	snprintf(rq->rq_audit.ra_object_id, sizeof(rq->rq_audit.ra_object_id),
	    "%s", id);
	clock_today(today);
	if (!date_valid(until) || strcmp(until, today) < 0) {
		request_fail(rq, REFX_EINVAL, "valid_until: must be a date "
		    "(YYYY-MM-DD) from today on");
		goto out;
	}
	if ((parties = check_parties(rq, json_object_get(body, "parties"))) ==
	    NULL ||
	    check_scope(rq, json_object_get(body, "scope"), sc, &nsc))
		goto out;
	if (!json_is_object(json_object_get(body, "sealed")) ||
	    (blob = sealed_value(rq, json_object_get(json_object_get(body,
	    "sealed"), "blob"), "sealed.blob", &bloblen)) == NULL) {
		if (rq->rq_err == REFX_OK)
			request_fail(rq, REFX_EINVAL, "sealed: must be an "
			    "object");
		goto out;
	}
	if ((err = check_statement(rq, body, id, until, parties, sc, nsc, &st,
	    &stlen, &sig)) != REFX_OK)
		goto out;
	err = REFX_EINVAL;
	if ((parties_text = json_dumps(parties, JSON_COMPACT |
	    JSON_SORT_KEYS)) == NULL) {
		err = REFX_ENOMEM;
		goto out;
	}

	clock_stamp(now);
	err = store_run(tx, "INSERT INTO consents (id, owner, recorded_by, "
	    "recorded_at, valid_until, status, parties, blob) VALUES "
	    "(?, ?, ?, ?, ?, 'active', ?, ?)", "ttttttb", id,
	    rq->rq_who->id_agency, rq->rq_who->id_person, now, until,
	    parties_text, blob, bloblen);
	if (err == REFX_EEXIST) {
		request_fail(rq, err, "consent %s already exists", id);
		goto out;
	}
	if (err)
		goto out;
	for (i = 0; i < nsc; i++)
		request_involve(rq, sc[i].sc_recipient, 0);
	for (i = 0; i < nsc; i++)
		if ((err = store_run(tx, "INSERT INTO consent_scope "
		    "(consent_id, recipient, classes, itemised, feedback) "
		    "VALUES (?, ?, ?, ?, ?)", "ttiii", id, sc[i].sc_recipient,
		    (int64_t)sc[i].sc_classes, (int64_t)sc[i].sc_itemised,
		    (int64_t)sc[i].sc_feedback)))
			goto out;
	if ((err = store_sealed(rq, tx, id, json_object_get(body, "sealed"),
	    sc, nsc)))
		goto out;
	if ((err = store_run(tx, "INSERT INTO consent_statements (consent_id, "
	    "statement, signature, certificate) VALUES (?, ?, ?, ?)", "tbbt",
	    id, st, stlen, sig, (size_t)REFX_SIG_LEN,
	    json_string_value(json_object_get(body, "certificate")))))
		goto out;
	if (consent_get(tx, id, &cs)) {
		err = REFX_ESTORE;
		goto out;
	}
	rq->rq_status = 201;
	rq->rq_resp = json_pack("{s:s, s:b, s:s}", "id", id, "valid",
	    cs.cs_valid, "reason", cs.cs_reason);
	err = rq->rq_resp ? REFX_OK : REFX_ENOMEM;
out:
	free(sig);
	free(st);
	free(parties_text);
	free(blob);
	json_decref(parties);
	json_decref(body);
	return (err);
}

/* ---- GET /v1/consents, GET /v1/consents/ID ---------------------------- */

/* The recipients in a consent's scope, as an array. */
static json_t *
scope_json(struct store_tx *tx, const char *id, int detailed)
{
	struct store_stmt *st;
	json_t *a, *e;

	if ((a = json_array()) == NULL)
		return (NULL);
	st = store_query(tx, "SELECT recipient, classes, itemised, "
	    "withdrawn_at, feedback FROM consent_scope WHERE consent_id = ? "
	    "ORDER BY recipient", "t", id);
	if (st == NULL)
		goto fail;
	while (store_step(st) == STORE_ROW) {
		if (!detailed)
			e = json_string(store_col_text(st, 0));
		else
			e = json_pack("{s:s, s:o, s:o, s:s?, s:b}",
			    "recipient", store_col_text(st, 0), "classes",
			    classes_to_json((refx_classes)store_col_int(st, 1)),
			    "itemised",
			    classes_to_json((refx_classes)store_col_int(st, 2)),
			    "withdrawn_at", store_col_text(st, 3), "feedback",
			    store_col_int(st, 4) != 0);
		if (e == NULL || json_array_append_new(a, e))
			goto fail;
	}
	store_finalize(st);
	return (a);
fail:
	store_finalize(st);
	json_decref(a);
	return (NULL);
}

/* GET /v1/consents: the consents the caller's unit owns or is named in. */
enum refx_err
h_consent_list(struct request *rq, struct store_tx *tx)
{
	struct consent_state cs;
	struct store_stmt *st;
	json_t *list, *e;
	const char *id;

	if ((list = json_array()) == NULL)
		return (REFX_ENOMEM);
	st = store_query(tx, "SELECT id, recorded_at FROM consents WHERE "
	    "owner = ?1 OR id IN (SELECT consent_id FROM consent_scope "
	    "WHERE recipient = ?1) ORDER BY recorded_at, id", "t",
	    rq->rq_who->id_agency);
	if (st == NULL)
		goto fail;
	while (store_step(st) == STORE_ROW) {
		id = store_col_text(st, 0);
		if (consent_get(tx, id, &cs))
			goto fail;
		e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:o}",
		    "id", id, "owner", cs.cs_owner, "recorded_at",
		    store_col_text(st, 1), "valid_until", cs.cs_valid_until,
		    "status", cs.cs_status, "valid", cs.cs_valid, "reason",
		    cs.cs_reason, "recipients", scope_json(tx, id, 0));
		if (e == NULL || json_array_append_new(list, e))
			goto fail;
	}
	store_finalize(st);
	rq->rq_resp = json_pack("{s:o}", "consents", list);
	return (rq->rq_resp ? REFX_OK : REFX_ENOMEM);
fail:
	store_finalize(st);
	json_decref(list);
	return (REFX_ESTORE);
}

/*
 * Who pulled what under this consent.  The owner sees every disclosure;
 * a recipient sees only its own unit's, since the other bodies' staff
 * are none of its business.
 */
static json_t *
disclosures_json(struct store_tx *tx, const char *id, const char *only_unit)
{
	struct store_stmt *st;
	json_t *a, *e, *classes;

	if ((a = json_array()) == NULL)
		return (NULL);
	st = store_query(tx, "SELECT referral_id, recipient, person, classes, "
	    "at FROM disclosures WHERE consent_id = ?1 AND "
	    "(?2 IS NULL OR recipient = ?2) ORDER BY id", "tt", id, only_unit);
	if (st == NULL)
		goto fail;
	while (store_step(st) == STORE_ROW) {
		classes = json_loads(store_col_text(st, 3), 0, NULL);
		e = json_pack("{s:s, s:s, s:s, s:o, s:s}", "referral",
		    store_col_text(st, 0), "recipient", store_col_text(st, 1),
		    "person", store_col_text(st, 2), "classes",
		    classes ? classes : json_array(), "at",
		    store_col_text(st, 4));
		if (e == NULL || json_array_append_new(a, e))
			goto fail;
	}
	store_finalize(st);
	return (a);
fail:
	store_finalize(st);
	json_decref(a);
	return (NULL);
}

/* GET /v1/consents/ID: the consent, to its owner and its recipients. */
enum refx_err
h_consent_show(struct request *rq, struct store_tx *tx)
{
	const char *unit = rq->rq_who->id_agency, *id = rq->rq_param;
	struct consent_state cs;
	struct store_stmt *st = NULL, *env = NULL;
	json_t *parties;
	int owner, named, rc, has_st;
	enum refx_err err;

	rq->rq_audit.ra_object_type = "consent";
	snprintf(rq->rq_audit.ra_object_id, sizeof(rq->rq_audit.ra_object_id),
	    "%s", id);
	if ((rc = consent_get(tx, id, &cs)) < 0)
		return (REFX_ESTORE);
	owner = (rc == 0 && strcmp(cs.cs_owner, unit) == 0);
	named = 0;
	if (rc == 0 && !owner) {
		if ((st = store_query(tx, "SELECT 1 FROM consent_scope WHERE "
		    "consent_id = ? AND recipient = ?", "tt", id, unit)) ==
		    NULL)
			return (REFX_ESTORE);
		named = (store_step(st) == STORE_ROW);
		store_finalize(st);
	}
	/*
	 * Units it does not concern cannot learn that it exists; at the
	 * owner it is the submitters' business, at a recipient the
	 * caseworkers'.
	 */
	if ((owner && rq->rq_who->id_role != REFX_ROLE_SUBMITTER) ||
	    (named && rq->rq_who->id_role != REFX_ROLE_CASEWORKER))
		owner = named = 0;
	if (!owner && !named)
		return (request_fail(rq, REFX_ENOTFOUND, "no consent %s for "
		    "your unit", id));
	if (!owner)
		request_involve(rq, cs.cs_owner, 0);

	st = store_query(tx, "SELECT c.recorded_by, c.recorded_at, "
	    "c.status_at, c.parties, c.blob, s.statement, s.signature, "
	    "s.certificate FROM consents c LEFT JOIN consent_statements s "
	    "ON s.consent_id = c.id WHERE c.id = ?", "t", id);
	env = store_query(tx, "SELECT sealed FROM consent_envelopes WHERE "
	    "consent_id = ? AND unit = ?", "tt", id, unit);
	if (st == NULL || env == NULL || store_step(st) != STORE_ROW) {
		err = REFX_ESTORE;
		goto out;
	}
	parties = json_loads(store_col_text(st, 3), 0, NULL);
	/* The school's signed statement: null for consents from before it. */
	has_st = store_col_text(st, 7) != NULL;
	rq->rq_resp = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:b, "
	    "s:s, s:o, s:o, s:{s:o, s:o}, s:o, s:o?, s:o?, s:s?}",
	    "id", id, "owner", cs.cs_owner,
	    "recorded_by", store_col_text(st, 0),
	    "recorded_at", store_col_text(st, 1),
	    "valid_until", cs.cs_valid_until, "status", cs.cs_status,
	    "status_at", store_col_text(st, 2),
	    "valid", cs.cs_valid, "reason", cs.cs_reason,
	    "parties", parties ? parties : json_array(),
	    "scope", scope_json(tx, id, 1),
	    "sealed", "blob", json_b64_column(st, 4),
	    "envelope", store_step(env) == STORE_ROW ? json_b64_column(env, 0) :
	    json_null(),
	    "disclosures", disclosures_json(tx, id, owner ? NULL : unit),
	    "statement", has_st ? json_b64_column(st, 5) : NULL,
	    "signature", has_st ? json_b64_column(st, 6) : NULL,
	    "certificate", store_col_text(st, 7));
	err = rq->rq_resp ? REFX_OK : REFX_ENOMEM;
out:
	store_finalize(env);
	store_finalize(st);
	return (err);
}

/* ---- POST /v1/consents/ID/withdraw ------------------------------------ */

/* Every recipient a withdrawal concerns gets the entry in its log too. */
static int
involve_scope(struct request *rq, struct store_tx *tx, const char *id,
    const char *only)
{
	struct store_stmt *st;

	if (only != NULL) {
		request_involve(rq, only, 0);
		return (0);
	}
	if ((st = store_query(tx, "SELECT recipient FROM consent_scope WHERE "
	    "consent_id = ?", "t", id)) == NULL)
		return (-1);
	while (store_step(st) == STORE_ROW)
		request_involve(rq, store_col_text(st, 0), 0);
	store_finalize(st);
	return (0);
}

/* Withdrawal takes effect at once, in the same transaction. */
enum refx_err
h_consent_withdraw(struct request *rq, struct store_tx *tx)
{
	static const char *const keys[] = { "recipient", NULL };
	const char *id = rq->rq_param, *recipient = NULL;
	struct consent_state cs;
	refx_classes c, it;
	char now[21];
	json_t *body = NULL;
	int rc, deleted = 0;
	enum refx_err err;

	if (rq->rq_body_len > 0) {
		if ((body = request_json(rq)) == NULL)
			return (REFX_EINVAL);
		if (json_only_keys(rq, body, keys, "withdrawal") ||
		    (json_object_get(body, "recipient") != NULL &&
		    (recipient = json_str(rq, body, "recipient",
		    REFX_AGENCY_ID_MAX, "")) == NULL)) {
			err = REFX_EINVAL;
			goto out;
		}
	}
	rq->rq_audit.ra_object_type = "consent";
	snprintf(rq->rq_audit.ra_object_id, sizeof(rq->rq_audit.ra_object_id),
	    "%s", id);
	if ((rc = consent_get(tx, id, &cs)) < 0) {
		err = REFX_ESTORE;
		goto out;
	}
	if (rc == 1 || strcmp(cs.cs_owner, rq->rq_who->id_agency) != 0) {
		err = request_fail(rq, REFX_ENOTFOUND, "no consent %s owned by "
		    "your unit", id);
		goto out;
	}
	if (strcmp(cs.cs_status, "active") != 0) {
		err = request_fail(rq, REFX_EEXIST, "consent %s is already %s",
		    id, cs.cs_status);
		goto out;
	}
	clock_stamp(now);
	if (recipient == NULL) {
		if ((err = store_run(tx, "UPDATE consents SET status = "
		    "'withdrawn', status_at = ?, status_by = ? WHERE id = ?",
		    "ttt", now, rq->rq_who->id_person, id)))
			goto out;
	} else {
		if ((rc = consent_scope(tx, id, recipient, &c, &it)) < 0) {
			err = REFX_ESTORE;
			goto out;
		}
		if (rc == 1) {
			err = request_fail(rq, REFX_ENOTFOUND, "consent %s does "
			    "not (or no longer) cover %s", id, recipient);
			goto out;
		}
		if ((err = store_run(tx, "UPDATE consent_scope SET "
		    "withdrawn_at = ? WHERE consent_id = ? AND recipient = ?",
		    "ttt", now, id, recipient)))
			goto out;
	}
	if (involve_scope(rq, tx, id, recipient) ||
	    revoke_envelopes(tx, id, recipient, "consent-withdrawn",
	    &deleted)) {
		err = REFX_ESTORE;
		goto out;
	}
	rq->rq_resp = json_pack("{s:s, s:s, s:s?, s:i}", "id", id, "status",
	    recipient ? "active" : "withdrawn", "recipient", recipient,
	    "envelopes_deleted", deleted);
	err = rq->rq_resp ? REFX_OK : REFX_ENOMEM;
out:
	json_decref(body);
	return (err);
}
