/*
 * The audit log, read by auditors: each reads its own unit's log in
 * full; a supervisor's auditor sees every log's size and checkpoint but
 * no other unit's entries.  No listing, count or error reveals entries
 * of a log the caller may not read.
 */
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "handlers.h"

#define PAGE_MAX	10000	/* entries per answer */

/* Is ${who} a supervisor's auditor (metadata of every log)? */
static int
supervisor(const struct refx_identity *who)
{

	return (who->id_kind == REFX_KIND_SUPERVISOR);
}

/* GET /v1/audit/logs: the logs the caller may see. */
enum refx_err
h_audit_logs(struct request *rq, struct store_tx *tx)
{
	json_t *all, *mine, *e;
	size_t i;
	enum refx_err err;

	if ((err = audit_logs_json(rq->rq_srv->sv_audit, tx, &all)))
		return (err);
	if (supervisor(rq->rq_who)) {
		rq->rq_resp = json_pack("{s:o}", "logs", all);
		return (rq->rq_resp ? REFX_OK : REFX_ENOMEM);
	}
	if ((mine = json_array()) == NULL) {
		json_decref(all);
		return (REFX_ENOMEM);
	}
	json_array_foreach(all, i, e)
		if (strcmp(json_string_value(json_object_get(e, "unit")),
		    rq->rq_who->id_agency) == 0)
			json_array_append(mine, e);
	json_decref(all);
	rq->rq_resp = json_pack("{s:o}", "logs", mine);
	return (rq->rq_resp ? REFX_OK : REFX_ENOMEM);
}

/* GET /v1/audit/logs/UNIT?from=&to=: entries and the latest checkpoint. */
enum refx_err
h_audit_log(struct request *rq, struct store_tx *tx)
{
	const char *unit = rq->rq_param;
	uint64_t to;
	int own = strcmp(unit, rq->rq_who->id_agency) == 0;
	enum refx_err err;

	rq->rq_audit.ra_object_type = "audit-log";
	snprintf(rq->rq_audit.ra_object_id, sizeof(rq->rq_audit.ra_object_id),
	    "%s", unit);
	if (!own && !supervisor(rq->rq_who))
		return (request_fail(rq, REFX_ENOTFOUND, "no audit log %s for "
		    "you", unit));
	to = rq->rq_to;
	if (to - rq->rq_from > PAGE_MAX || to < rq->rq_from)
		to = rq->rq_from + PAGE_MAX;
	/* A supervisor sees sizes and checkpoints, not others' entries. */
	if (!own)
		to = rq->rq_from;
	err = audit_log_json(rq->rq_srv->sv_audit, tx, unit, rq->rq_from, to,
	    (json_t **)&rq->rq_resp);
	if (err == REFX_ENOTFOUND)
		return (request_fail(rq, err, "no audit log %s for you", unit));
	return (err);
}

/*
 * POST /v1/audit/logs/UNIT/checkpoint: a checkpoint now, for the unit's
 * own auditor, instead of waiting for the next periodic one.
 */
enum refx_err
h_audit_checkpoint(struct request *rq, struct store_tx *tx)
{
	const char *unit = rq->rq_param;

	rq->rq_audit.ra_object_type = "audit-log";
	snprintf(rq->rq_audit.ra_object_id, sizeof(rq->rq_audit.ra_object_id),
	    "%s", unit);
	if (strcmp(unit, rq->rq_who->id_agency) != 0)
		return (request_fail(rq, REFX_ENOTFOUND, "no audit log %s for "
		    "you", unit));
	if (audit_publish_tx(rq->rq_srv->sv_audit, tx, unit))
		return (request_fail(rq, REFX_EUNAVAIL, "no checkpoint could "
		    "be signed for %s", unit));
	return (audit_log_json(rq->rq_srv->sv_audit, tx, unit, 0, 0,
	    (json_t **)&rq->rq_resp));
}
