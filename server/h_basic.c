#include <stdatomic.h>
#include <time.h>

#include <jansson.h>

#include "refx/secret.h"

#include "directory.h"
#include "handlers.h"
#include "store.h"

/* GET /v1/whoami: who the server thinks the caller is. */
enum refx_err
h_whoami(struct request *rq, struct store_tx *tx)
{
	const struct refx_identity *id = rq->rq_who;
	char fp[2 * REFX_FINGERPRINT_LEN + 1];
	char serial[2 * REFX_SERIAL_MAX + 1];

	(void)tx;
	refx_hex(fp, sizeof(fp), id->id_fingerprint, sizeof(id->id_fingerprint));
	refx_hex(serial, sizeof(serial), id->id_serial, id->id_serial_len);
	rq->rq_resp = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
	    "agency", id->id_agency,
	    "kind", refx_kind_name(id->id_kind),
	    "role", refx_role_name(id->id_role),
	    "person", id->id_person,
	    "name", id->id_name,
	    "fingerprint", fp,
	    "serial", serial,
	    "tls_version", rq->rq_tls_version);
	return (rq->rq_resp != NULL ? REFX_OK : REFX_ENOMEM);
}

/* GET /v1/health: liveness, with the database actually queried. */
enum refx_err
h_health(struct request *rq, struct store_tx *tx)
{
	struct server *sv = rq->rq_srv;

	if (store_ping(tx) != REFX_OK)
		return (request_fail(rq, REFX_EUNAVAIL, "database unavailable"));
	rq->rq_resp = json_pack("{s:s, s:s, s:i, s:I, s:I, s:I, s:i, s:I}",
	    "status", "ok",
	    "version", REFX_VERSION,
	    "schema_version", store_schema_version(sv->sv_store),
	    "uptime_s", (json_int_t)(time(NULL) - sv->sv_started),
	    "requests", (json_int_t)atomic_load(&sv->sv_requests),
	    "refused", (json_int_t)atomic_load(&sv->sv_refused),
	    "units", (int)directory_count(sv->sv_dir),
	    "wal_fsyncs", (json_int_t)store_fsyncs(sv->sv_store));
	return (rq->rq_resp != NULL ? REFX_OK : REFX_ENOMEM);
}

/* GET /v1/directory: units and their CA-certified encryption keys. */
enum refx_err
h_directory(struct request *rq, struct store_tx *tx)
{

	(void)tx;
	rq->rq_resp = directory_get(rq->rq_srv->sv_dir);
	return (rq->rq_resp != NULL ? REFX_OK : REFX_ENOMEM);
}

/* GET /v1/policy: the policy in force, exactly as loaded. */
enum refx_err
h_policy(struct request *rq, struct store_tx *tx)
{

	(void)tx;
	rq->rq_resp = json_incref(rq->rq_srv->sv_policy_json);
	return (rq->rq_resp != NULL ? REFX_OK : REFX_ENOMEM);
}
