#ifndef REFXD_SERVER_H
#define REFXD_SERVER_H

/*
 * What the request pipeline and the handlers share.  No libmicrohttpd
 * or GnuTLS type appears here: http.c translates an HTTP exchange into a
 * struct request and back.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "refx/err.h"
#include "refx/identity.h"
#include "refx/schema.h"

struct audit;
struct config;
struct directory;
struct json_t;
struct refx_policy;
struct store;
struct store_tx;
struct tls;

#define REFX_VERSION	"0.1.0"

/* The server: one per process, alive from start-up to shutdown. */
struct server {
	struct config		*sv_cfg;
	struct store		*sv_store;
	struct tls		*sv_tls;
	struct directory	*sv_dir;
	struct audit		*sv_audit;
	struct refx_policy	*sv_policy;
	struct json_t		*sv_policy_json;	/* GET /v1/policy */
	char			 sv_policy_hash[65];
	time_t			 sv_started;
	atomic_ulong		 sv_requests;	/* that reached a handler */
	atomic_ulong		 sv_refused;	/* refused before a handler */
};

#define REQUEST_ID_LEN	32	/* hex characters */
#define PARAM_MAX	64
#define AUDIT_OTHERS	(REFX_MAX_RECIPIENTS + 1)

/*
 * What a handler tells the audit log about its request: the object, the
 * other units involved (each gets the entry in its own log too) and the
 * field classes disclosed to each (names only, never values).
 */
struct request_audit {
	const char	*ra_object_type;	/* "referral", "consent" */
	char		 ra_object_id[PARAM_MAX + 1];
	char		 ra_others[AUDIT_OTHERS][REFX_AGENCY_ID_MAX + 1];
	refx_classes	 ra_other_classes[AUDIT_OTHERS];
	size_t		 ra_nothers;
	refx_classes	 ra_classes;		/* in the actor's own entry */
	const char	*ra_basis;		/* legal basis, if any */
};

/* One HTTP request and its answer, as handlers see it. */
struct request {
	struct server			*rq_srv;
	const char			*rq_method;
	const char			*rq_path;
	char				 rq_param[PARAM_MAX + 1]; /* '*' segment */
	const struct refx_identity	*rq_who;	/* verified peer */
	const char			*rq_tls_version;
	uint64_t			 rq_from;	/* ?from= (0) */
	uint64_t			 rq_to;		/* ?to= (max) */
	const uint8_t			*rq_body;
	size_t				 rq_body_len;
	char				 rq_id[REQUEST_ID_LEN + 1];

	/* The answer: a JSON body on success, an error otherwise. */
	struct json_t			*rq_resp;	/* owned */
	unsigned			 rq_status;	/* 0: 200 on success */
	enum refx_err			 rq_err;
	char				 rq_errmsg[512];	/* fits an audit reason */
	const char			*rq_allow;	/* set for 405 */
	struct request_audit		 rq_audit;

	/* What the route's prepare step made for its handler (owned). */
	void				*rq_prepared;
	void				(*rq_prepared_free)(void *);
};

/** request_involve(rq, unit, classes): Note another unit involved. */
void request_involve(struct request *, const char *, refx_classes);

/**
 * pipeline_refused(sv, who, reason, status): Record in the audit log a
 * request refused before it reached the pipeline (its own transaction).
 */
void pipeline_refused(struct server *, const struct refx_identity *,
    const char *, unsigned);

/** request_fail(rq, err, fmt, ...): Record an error answer; return ${err}. */
enum refx_err request_fail(struct request *, enum refx_err, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * request_json(rq): The request body parsed as a JSON object (owned by
 * the caller), or NULL after recording a 400 error naming the problem.
 */
struct json_t *request_json(struct request *);

/** pipeline_run(rq): Route, authorise, run the handler in a transaction. */
void pipeline_run(struct request *);

/* A handler runs inside the request's store transaction. */
typedef enum refx_err handler_fn(struct request *, struct store_tx *);

#endif /* !REFXD_SERVER_H */
