#include <stdarg.h>
#include <stdio.h>

#include <jansson.h>

#include "refx/log.h"

#include "access.h"
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

/**
 * pipeline_run(rq): Route, authorise, run the handler in a transaction.
 *
 * The order is fixed so that later issues can hang the audit entry on
 * it: the entry for a granted request is written by the handler's
 * transaction before commit; a refused request will write its entry in
 * a transaction of its own.  The response leaves only after commit.
 */
void
pipeline_run(struct request *rq)
{
	const struct route *rt;
	struct store_tx *tx;
	enum refx_err err;

	rt = routes_match(rq->rq_method, rq->rq_path, rq->rq_param,
	    &rq->rq_allow);
	if (rt == NULL) {
		if (rq->rq_allow != NULL)
			request_fail(rq, REFX_EINVAL, "method %s not allowed "
			    "here", rq->rq_method);
		else
			request_fail(rq, REFX_ENOTFOUND, "no such resource");
		return;
	}
	if (!access_allows(rq->rq_who, rt->rt_action)) {
		request_fail(rq, REFX_EDENIED, "role %s of %s may not %s",
		    refx_role_name(rq->rq_who->id_role),
		    rq->rq_who->id_agency, access_action_name(rt->rt_action));
		return;
	}
	if (rt->rt_before != NULL) {
		if (store_begin(rq->rq_srv->sv_store, 1, &tx) != REFX_OK)
			goto unavailable;
		if (rt->rt_before(tx) != REFX_OK) {
			store_rollback(tx);
			goto unavailable;
		}
		if (store_commit(tx) != REFX_OK)
			goto unavailable;
	}
	if ((err = store_begin(rq->rq_srv->sv_store, rt->rt_writes, &tx))) {
		request_fail(rq, err, "database unavailable, try again");
		return;
	}
	atomic_fetch_add(&rq->rq_srv->sv_requests, 1);
	if ((err = rt->rt_handler(rq, tx)) != REFX_OK) {
		store_rollback(tx);
		if (rq->rq_err == REFX_OK)
			request_fail(rq, err, "%s", refx_strerror(err));
		return;
	}
	if (store_commit(tx) != REFX_OK) {
		/* Nothing is released unless it is durable. */
		request_fail(rq, REFX_EUNAVAIL, "could not store the request, "
		    "try again");
		return;
	}
	return;

unavailable:
	request_fail(rq, REFX_EUNAVAIL, "database unavailable, try again");
}
