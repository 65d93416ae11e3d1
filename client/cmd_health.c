#include <stdio.h>
#include <sysexits.h>

#include <jansson.h>

#include "refx/log.h"

#include "cmd.h"

#define HEALTH_MAX	(16 * 1024)	/* bytes of answer we accept */
#define STATUS_MAX	64		/* bytes of the status word */

/*
 * refx health: GET /v1/health and print the server's status.  Reaching
 * it at all proves the TLS path: our certificate, the exchange CA and
 * the server's name.
 */
int
cmd_health(struct cmd_ctx *c, int argc, char **argv)
{
	char sb[4 * STATUS_MAX + 1];
	const char *status;
	json_t *root;
	int ex;

	if ((ex = cmd_no_args(argc, argv)) != 0)
		return (ex);
	if ((ex = cmd_call(c, NET_GET, "/v1/health", NULL, HEALTH_MAX,
	    &root)) != EX_OK)
		return (ex);

	if ((status = cmd_json_str(root, "status", STATUS_MAX)) == NULL) {
		log_warnx("health: the server's answer has no status");
		ex = EX_PROTOCOL;
	} else if (c->c_json)
		ex = cmd_print_json(root);
	else
		printf("status: %s\n", cmd_escape(sb, sizeof(sb), status));
	json_decref(root);
	return (ex);
}
