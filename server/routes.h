#ifndef REFXD_ROUTES_H
#define REFXD_ROUTES_H

#include "access.h"
#include "server.h"

struct store_tx;

#define HOUSEKEEPING_TOKEN	16

/*
 * Housekeeping a route runs first, in a transaction of its own, so that
 * it stands even when the request itself is refused and rolled back
 * (consent expiry must delete keys whatever happens next).  ${hk_due}
 * says cheaply, without I/O, whether there may be work, filling a token
 * (the day, for consent expiry); ${hk_run} does a bounded part of it and
 * says whether that was all; after its commit ${hk_complete} is told the
 * token, so that hk_due can answer no until the token changes.
 */
struct housekeeping {
	int	(*hk_due)(char[HOUSEKEEPING_TOKEN]);
	int	(*hk_run)(struct store_tx *, const char *, int *);
	void	(*hk_complete)(const char *);
};

/* One entry of the routing table: data, not code. */
struct route {
	const char		*rt_method;
	const char		*rt_path;	/* '*' matches one id segment */
	handler_fn		*rt_handler;
	enum access_action	 rt_action;
	int			 rt_writes;	/* needs a write transaction */
	const struct housekeeping *rt_before;	/* or NULL */
	/*
	 * Work that needs no database, done before the write transaction
	 * so that it does not hold the write lock (parsing and verifying a
	 * signed submit was a fifth of its time there); it leaves its
	 * result in rq_prepared.  NULL: none.
	 */
	enum refx_err		(*rt_prepare)(struct request *);
};

/**
 * routes_match(method, path, param, allow): Find the route for ${method}
 * and ${path}, copying a '*' segment into ${param} (PARAM_MAX + 1 bytes).
 * Return it, or NULL with ${allow} set to the methods the path accepts
 * (405) or NULL (404).
 */
const struct route *routes_match(const char *, const char *, char *,
    const char **);

#endif /* !REFXD_ROUTES_H */
