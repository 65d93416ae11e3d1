/*
 * Argument checks that many commands share: the "[--json] OPERANDS"
 * command line, and an id operand.
 */
#include <getopt.h>
#include <stddef.h>
#include <sysexits.h>

#include "refx/envelope.h"
#include "refx/log.h"

#include "cmd.h"

#define OPT_ONLY_JSON	256

/** cmd_json_operands(c, argc, argv, n, names): See cmd.h. */
int
cmd_json_operands(struct cmd_ctx *c, int argc, char **argv, int n,
    const char *names)
{
	static const struct option o[] = {
		{ "json", no_argument, NULL, OPT_ONLY_JSON },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", o, NULL)) != -1) {
		if (ch != OPT_ONLY_JSON)
			return (cmd_opt_error(argv, ch));
		c->c_json = 1;
	}
	return (cmd_operands(argc, argv, optind, n, names));
}

/** cmd_check_id(argv, what, id): See cmd.h. */
int
cmd_check_id(char **argv, const char *what, const char *id)
{
	char a[4 * 64 + 1];

	if (refx_referral_id_valid(id))
		return (0);
	log_warnx("%s: '%s' is not a %s id (32 lower-case hex characters)",
	    argv[0], cmd_escape(a, sizeof(a), id), what);
	return (EX_USAGE);
}
