/*
 * refx: the command-line client of the referral exchange.
 *
 *   refx [global options] command [arguments]
 *
 * main parses the global options, finds the command in a table and runs
 * it; the commands live in cmd_*.c.  See refx(1).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "refx/log.h"
#include "refx/sandbox.h"
#include "refx/secret.h"

#include "cmd.h"

/* The commands: one line each. */
static const struct cmd {
	const char	*c_name;
	int		(*c_run)(struct cmd_ctx *, int, char **);
	const char	*c_args;	/* synopsis after the name */
	const char	*c_summary;
} cmds[] = {
	{ "whoami", cmd_whoami, "", "show who the exchange says you are" },
	{ "health", cmd_health, "", "check that the exchange answers" },
	{ "directory", cmd_directory, "", "list the units of the exchange" },
};

enum {
	OPT_CONFIG = 256,
	OPT_SERVER,
	OPT_CA,
	OPT_CERT,
	OPT_KEY,
	OPT_PASSFILE,
	OPT_JSON,
	OPT_VERSION,
};

static const struct option opts[] = {
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "server", required_argument, NULL, OPT_SERVER },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* Print the program's help to ${f}. */
static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: refx [options] command [arguments]\n"
	    "       refx command --help\n\n"
	    "Commands:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-12s %s\n", cmds[i].c_name, cmds[i].c_summary);
	fprintf(f, "\nOptions (before the command):\n"
	    "  --config FILE           settings (default: $REFX_CONFIG, else\n"
	    "                          ~/.config/refx/config.ini)\n"
	    "  --server URL            the exchange, https://host[:port]\n"
	    "  --ca FILE               the exchange's CA certificate (PEM)\n"
	    "  --cert FILE             your certificate (PEM)\n"
	    "  --key FILE              your private key (PEM, mode 600)\n"
	    "  --passphrase-file FILE  passphrase of an encrypted key "
	    "(mode 600)\n"
	    "  --json                  machine-readable output\n"
	    "  -v, --verbose           more detail on errors\n"
	    "  -h, --help              this help\n"
	    "  --version               print the version\n\n"
	    "See refx(1) for the settings file and exit statuses.\n");
}

/* Print the help of ${c} to stdout. */
static void
usage_cmd(const struct cmd *c)
{

	printf("usage: refx [options] %s%s%s\n\n%s: %s.\n"
	    "Global options go before the command; see refx --help and "
	    "refx(1).\n", c->c_name, c->c_args[0] != '\0' ? " " : "",
	    c->c_args, c->c_name, c->c_summary);
}

/* Report a usage error and return EX_USAGE. */
static int
bad_usage(const char *what, const char *arg)
{

	log_warnx("%s '%s' (try refx --help)", what, arg);
	return (EX_USAGE);
}

/* Return 1 if the command's arguments ask for help (before "--"). */
static int
wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0)
			return (1);
	}
	return (0);
}

int
main(int argc, char *argv[])
{
	struct cmd_ctx ctx;
	const struct cmd *cmd = NULL;
	char so[3] = "-?";
	size_t i;
	int ch, ex, help = 0, version = 0;

	if (refx_crypto_init()) {
		fprintf(stderr, "refx: cannot initialise libsodium\n");
		exit(EX_OSERR);
	}
	log_init("refx", 0);
	if (refx_sandbox_enter(REFX_SANDBOX_STARTUP)) {
		log_warn("sandbox");
		exit(EX_OSERR);
	}

	/* Global options stop at the command ("+"); ':' for missing args. */
	memset(&ctx, 0, sizeof(ctx));
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:hv", opts, NULL)) != -1) {
		switch (ch) {
		case OPT_CONFIG:
			ctx.c_config = optarg;
			break;
		case OPT_SERVER:
			ctx.c_flags[CLICONF_URL] = optarg;
			break;
		case OPT_CA:
			ctx.c_flags[CLICONF_CA] = optarg;
			break;
		case OPT_CERT:
			ctx.c_flags[CLICONF_CERT] = optarg;
			break;
		case OPT_KEY:
			ctx.c_flags[CLICONF_KEY] = optarg;
			break;
		case OPT_PASSFILE:
			ctx.c_flags[CLICONF_PASSFILE] = optarg;
			break;
		case OPT_JSON:
			ctx.c_json = 1;
			break;
		case 'v':
			ctx.c_verbose++;
			break;
		case 'h':
			help = 1;
			break;
		case OPT_VERSION:
			version = 1;
			break;
		case ':':
			return (bad_usage("missing value for option",
			    argv[optind - 1]));
		default:
			/* A short option, or a long one (--json=1). */
			if (optopt > ' ' && optopt < 0x7f) {
				so[1] = (char)optopt;
				return (bad_usage("unknown option", so));
			}
			return (bad_usage("unknown option", argv[optind - 1]));
		}
	}
	argc -= optind;
	argv += optind;
	log_init("refx", ctx.c_verbose);

	if (help) {
		usage(stdout);
		return (EX_OK);
	}
	if (version) {
		printf("refx %s\n", REFX_VERSION);
		return (EX_OK);
	}
	if (argc == 0) {
		usage(stderr);
		return (EX_USAGE);
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[0], cmds[i].c_name) == 0)
			cmd = &cmds[i];
	if (cmd == NULL)
		return (bad_usage("unknown command", argv[0]));
	if (wants_help(argc, argv)) {
		usage_cmd(cmd);
		return (EX_OK);
	}

	/* Run the command; it connects when it first needs to. */
	if (net_global_init()) {
		log_warnx("cannot initialise libcurl");
		return (EX_SOFTWARE);
	}
	ex = cmd->c_run(&ctx, argc, argv);
	cmd_ctx_close(&ctx);
	net_global_cleanup();

	/* Output that did not reach its destination is a failure. */
	if ((fflush(stdout) == EOF || ferror(stdout)) && ex == EX_OK) {
		log_warn("standard output");
		ex = EX_IOERR;
	}
	return (ex);
}
