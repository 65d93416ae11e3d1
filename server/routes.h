#ifndef REFXD_ROUTES_H
#define REFXD_ROUTES_H

#include "access.h"
#include "server.h"

/* One entry of the routing table: data, not code. */
struct route {
	const char		*rt_method;
	const char		*rt_path;	/* '*' matches one id segment */
	handler_fn		*rt_handler;
	enum access_action	 rt_action;
	int			 rt_writes;	/* needs a write transaction */
	/*
	 * Housekeeping run first, in a transaction of its own, so that
	 * it stands even when the request itself is refused and rolled
	 * back (consent expiry must delete keys whatever happens next).
	 */
	int			(*rt_before)(struct store_tx *);
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
