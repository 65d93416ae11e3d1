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
