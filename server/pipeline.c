#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "refx/audit.h"
#include "refx/log.h"
#include "refx/policy.h"

#include "access.h"
#include "audit.h"
#include "http.h"
#include "routes.h"
#include "server.h"
#include "store.h"

/** request_fail(rq, err, fmt, ...): Record an error answer; return ${err}. */
enum refx_err
request_fail(struct request *rq, enum refx_err err, const char *fmt, ...)
{
	va_list ap;

	rq->rq_err = err;
	va_start(ap, fmt);
	vsnprintf(rq->rq_errmsg, sizeof(rq->rq_errmsg), fmt, ap);
	va_end(ap);
	return (err);
}

/**
 * request_json(rq): The request body parsed as a JSON object (owned by
 * the caller), or NULL after recording a 400 error naming the problem.
 */
json_t *
request_json(struct request *rq)
{
	json_error_t e;
	json_t *j;

	if (rq->rq_body_len == 0) {
		request_fail(rq, REFX_EINVAL, "request body is empty");
		return (NULL);
	}
	/* Duplicate keys are refused: two parsers could read them apart. */
	j = json_loadb((const char *)rq->rq_body, rq->rq_body_len,
	    JSON_REJECT_DUPLICATES, &e);
	if (j == NULL) {
		request_fail(rq, REFX_EINVAL, "request body is not JSON: %s "
		    "(at byte %d)", e.text, e.position);
		return (NULL);
	}
	if (!json_is_object(j)) {
		json_decref(j);
		request_fail(rq, REFX_EINVAL, "request body must be a JSON "
		    "object");
		return (NULL);
	}
	return (j);
}

/** request_involve(rq, unit, classes): Note another unit involved. */
void
request_involve(struct request *rq, const char *unit, refx_classes classes)
{
	struct request_audit *ra = &rq->rq_audit;
	size_t i;

	for (i = 0; i < ra->ra_nothers; i++)
		if (strcmp(ra->ra_others[i], unit) == 0) {
			ra->ra_other_classes[i] |= classes;
			return;
		}
	if (ra->ra_nothers >= AUDIT_OTHERS)
		return;
	snprintf(ra->ra_others[ra->ra_nothers], sizeof(ra->ra_others[0]),
	    "%s", unit);
	ra->ra_other_classes[ra->ra_nothers++] = classes;
}

/* The audit action of a route's access action. */
static enum refx_audit_action
audit_action(const struct route *rt)
{
	static const enum refx_audit_action map[ACTION_COUNT] = {
		[ACTION_WHOAMI] = REFX_AUDIT_WHOAMI,
		[ACTION_HEALTH] = REFX_AUDIT_HEALTH,
		[ACTION_DIRECTORY] = REFX_AUDIT_DIRECTORY,
		[ACTION_POLICY] = REFX_AUDIT_POLICY,
		[ACTION_CONSENT_RECORD] = REFX_AUDIT_CONSENT_RECORD,
		[ACTION_CONSENT_LIST] = REFX_AUDIT_CONSENT_LIST,
		[ACTION_CONSENT_SHOW] = REFX_AUDIT_CONSENT_SHOW,
		[ACTION_CONSENT_WITHDRAW] = REFX_AUDIT_CONSENT_WITHDRAW,
		[ACTION_REFERRAL_SUBMIT] = REFX_AUDIT_REFERRAL_SUBMIT,
		[ACTION_REFERRAL_LIST] = REFX_AUDIT_REFERRAL_LIST,
		[ACTION_REFERRAL_PULL] = REFX_AUDIT_REFERRAL_PULL,
		[ACTION_CASE_READ] = REFX_AUDIT_CASE_READ,
		[ACTION_CASE_ACCEPT] = REFX_AUDIT_CASE_ACCEPT,
		[ACTION_CASE_DECLINE] = REFX_AUDIT_CASE_DECLINE,
		[ACTION_CASE_ADVISE] = REFX_AUDIT_CASE_ADVISE,
		[ACTION_CASE_CLOSE] = REFX_AUDIT_CASE_CLOSE,
		[ACTION_CASE_FOLLOW_UP] = REFX_AUDIT_CASE_FOLLOW_UP,
		[ACTION_CASE_CANCEL] = REFX_AUDIT_CASE_CANCEL,
		[ACTION_AUDIT_LIST] = REFX_AUDIT_AUDIT_READ,
		[ACTION_AUDIT_READ] = REFX_AUDIT_AUDIT_READ,
	};

	if (rt == NULL || (unsigned)rt->rt_action >= ACTION_COUNT)
		return (REFX_AUDIT_OTHER);
	return (map[rt->rt_action]);
}

/* Fill the parts of an entry that every log's copy shares. */
static void
entry_base(struct refx_audit_entry *e, struct server *sv,
    const struct refx_identity *who, enum refx_audit_action action,
    enum refx_audit_outcome outcome, unsigned status, const char *reason,
    const char *request_id)
{

	memset(e, 0, sizeof(*e));
	e->ae_action = action;
	e->ae_outcome = outcome;
	e->ae_status = status;
	e->ae_actor_kind = 255;
	e->ae_actor_role = 255;
	if (who != NULL) {
		snprintf(e->ae_actor_unit, sizeof(e->ae_actor_unit), "%s",
		    who->id_agency);
		e->ae_actor_kind = who->id_kind;
		e->ae_actor_role = who->id_role;
		snprintf(e->ae_actor_person, sizeof(e->ae_actor_person), "%s",
		    who->id_person);
		memcpy(e->ae_actor_cert, who->id_fingerprint,
		    sizeof(e->ae_actor_cert));
	}
	/* Reasons come from our own messages; keep them printable. */
	if (reason != NULL) {
		size_t i;

		snprintf(e->ae_reason, sizeof(e->ae_reason), "%s", reason);
		for (i = 0; e->ae_reason[i] != '\0'; i++)
			if ((unsigned char)e->ae_reason[i] < 0x20 ||
			    (unsigned char)e->ae_reason[i] == 0x7f)
				e->ae_reason[i] = '?';
	}
	if (request_id != NULL)
		snprintf(e->ae_request_id, sizeof(e->ae_request_id), "%s",
		    request_id);
	if (sv->sv_policy != NULL)
		memcpy(e->ae_policy, refx_policy_hash(sv->sv_policy),
		    sizeof(e->ae_policy));
}

/*
 * Write the request's entry into the actor's unit log and, with the same
 * event id, into the log of every other unit involved.
 */
static enum refx_err
audit_request(struct request *rq, struct store_tx *tx,
    enum refx_audit_action action, unsigned status)
{
	const struct request_audit *ra = &rq->rq_audit;
	struct refx_audit_entry e;
	enum refx_audit_outcome outcome;
	enum refx_err err;
	const char *unit[1];
	char others[REFX_AUDIT_STR_MAX + 1] = "";	/* ids: ASCII */
	size_t i;

	outcome = rq->rq_err == REFX_OK ? REFX_AUDIT_ALLOWED :
	    status >= 500 ? REFX_AUDIT_FAILED : REFX_AUDIT_DENIED;
	entry_base(&e, rq->rq_srv, rq->rq_who, action, outcome, status,
	    rq->rq_err == REFX_OK ? NULL : rq->rq_errmsg, rq->rq_id);
	if (ra->ra_object_type != NULL) {
		snprintf(e.ae_object_type, sizeof(e.ae_object_type), "%s",
		    ra->ra_object_type);
		snprintf(e.ae_object_id, sizeof(e.ae_object_id), "%s",
		    ra->ra_object_id);
	}
	if (ra->ra_basis != NULL)
		snprintf(e.ae_basis, sizeof(e.ae_basis), "%s", ra->ra_basis);
	for (i = 0; i < ra->ra_nothers; i++) {
		size_t o = strlen(others);

		snprintf(others + o, sizeof(others) - o, "%s%s", i ? "," : "",
		    ra->ra_others[i]);
	}

	/* The actor's own log, then each other unit's, one event id. */
	snprintf(e.ae_other_unit, sizeof(e.ae_other_unit), "%s", others);
	e.ae_classes = ra->ra_classes;
	unit[0] = rq->rq_who->id_agency;
	if ((err = audit_append(rq->rq_srv->sv_audit, tx, &e, unit, 1, 1)))
		return (err);
	for (i = 0; i < ra->ra_nothers; i++) {
		if (strcmp(ra->ra_others[i], rq->rq_who->id_agency) == 0)
			continue;
		snprintf(e.ae_other_unit, sizeof(e.ae_other_unit), "%s",
		    rq->rq_who->id_agency);
		e.ae_classes = ra->ra_other_classes[i];
		unit[0] = ra->ra_others[i];
		if ((err = audit_append(rq->rq_srv->sv_audit, tx, &e, unit, 1,
		    0)))
			return (err);
	}
	return (REFX_OK);
}

/* Record a refused request in a transaction of its own. */
static enum refx_err
audit_refusal(struct request *rq, enum refx_audit_action action,
    unsigned status)
{
	struct store_tx *tx;
	enum refx_err err;

	if ((err = store_begin(rq->rq_srv->sv_store, 1, &tx)))
		return (err);
	if ((err = audit_request(rq, tx, action, status))) {
		store_rollback(tx);
		return (err);
	}
	return (store_commit(tx));
}

/** pipeline_refused(sv, who, reason, status): Audit an early refusal. */
void
pipeline_refused(struct server *sv, const struct refx_identity *who,
    const char *reason, unsigned status)
{
	struct refx_audit_entry e;
	struct store_tx *tx;
	const char *unit[1];

	entry_base(&e, sv, who, REFX_AUDIT_REQUEST_REFUSED,
	    REFX_AUDIT_DENIED, status, reason, NULL);
	unit[0] = who != NULL ? who->id_agency : AUDIT_SYSTEM;
	if (store_begin(sv->sv_store, 1, &tx) != REFX_OK)
		return;
	if (audit_append(sv->sv_audit, tx, &e, unit, 1, 1) != REFX_OK) {
		store_rollback(tx);
		log_warnx("audit: could not record a refused request");
		return;
	}
	if (store_commit(tx) != REFX_OK)
		log_warnx("audit: could not record a refused request");
}

/**
 * pipeline_run(rq): Route, authorise, run the handler in a transaction.
 *
 * Every request that reaches here leaves an audit entry.  A granted
 * request's entry is written in the handler's transaction, before the
 * commit, and the response leaves only after the commit: acknowledged
 * means recorded.  A refused request's entry is written alone, after
 * the handler's effects are rolled back.  If the entry cannot be
 * written, the answer is 503 and nothing is released.
 */
static void pipeline_steps(struct request *);

void
pipeline_run(struct request *rq)
{

	pipeline_steps(rq);
	if (rq->rq_prepared_free != NULL)
		rq->rq_prepared_free(rq->rq_prepared);
	rq->rq_prepared = NULL;
	rq->rq_prepared_free = NULL;
}

/* The steps of pipeline_run; whatever a prepare step made is its. */
static void
pipeline_steps(struct request *rq)
{
	const struct route *rt;
	struct store_tx *tx;
	enum refx_err err;
	char token[HOUSEKEEPING_TOKEN];
	int complete = 0;

	rt = routes_match(rq->rq_method, rq->rq_path, rq->rq_param,
	    &rq->rq_allow);
	if (rt == NULL) {
		if (rq->rq_allow != NULL)
			request_fail(rq, REFX_EINVAL, "method %s not allowed "
			    "here", rq->rq_method);
		else
			request_fail(rq, REFX_ENOTFOUND, "no such resource");
		goto refused;
	}
	if (!access_allows(rq->rq_who, rt->rt_action)) {
		request_fail(rq, REFX_EDENIED, "role %s of %s may not %s",
		    refx_role_name(rq->rq_who->id_role),
		    rq->rq_who->id_agency, access_action_name(rt->rt_action));
		goto refused;
	}
	if (rt->rt_prepare != NULL && (err = rt->rt_prepare(rq)) != REFX_OK) {
		if (rq->rq_err == REFX_OK)
			request_fail(rq, err, "%s", refx_strerror(err));
		goto refused;
	}
	if (rt->rt_before != NULL && rt->rt_before->hk_due(token)) {
		if (store_begin(rq->rq_srv->sv_store, 1, &tx) != REFX_OK)
			goto unavailable;
		if (rt->rt_before->hk_run(tx, token, &complete) != REFX_OK) {
			store_rollback(tx);
			goto unavailable;
		}
		if (store_commit(tx) != REFX_OK)
			goto unavailable;
		if (complete)
			rt->rt_before->hk_complete(token);
	}
	/* Every audited request writes: take the write lock up front. */
	if ((err = store_begin(rq->rq_srv->sv_store, 1, &tx))) {
		request_fail(rq, err, "database unavailable, try again");
		return;
	}
	atomic_fetch_add(&rq->rq_srv->sv_requests, 1);
	if ((err = rt->rt_handler(rq, tx)) != REFX_OK) {
		store_rollback(tx);
		if (rq->rq_err == REFX_OK)
			request_fail(rq, err, "%s", refx_strerror(err));
		goto refused;
	}
	if (audit_request(rq, tx, audit_action(rt),
	    rq->rq_status ? rq->rq_status : 200) != REFX_OK) {
		store_rollback(tx);
		goto unrecorded;
	}
	if (store_commit(tx) != REFX_OK)
		goto unrecorded;
	return;

refused:
	if (audit_refusal(rq, audit_action(rt), rq->rq_allow != NULL ? 405 :
	    http_status(rq->rq_err)) != REFX_OK)
		goto unrecorded;
	return;

unavailable:
	request_fail(rq, REFX_EUNAVAIL, "database unavailable, try again");
	(void)audit_refusal(rq, audit_action(rt), 503);
	return;

unrecorded:
	/* Nothing is released unless its audit entry is durable. */
	json_decref(rq->rq_resp);
	rq->rq_resp = NULL;
	request_fail(rq, REFX_EUNAVAIL, "could not record the request, try "
	    "again");
}
