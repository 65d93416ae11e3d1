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

/*
 * Subcommands of a command that has several ("refx consent show ID"):
 * one line each, with the help text of their own options.  A
 * subcommand gets argv[0] = "consent show".
 */
struct subcmd {
	const char	*s_name;
	int		(*s_run)(struct cmd_ctx *, int, char **);
	const char	*s_args;	/* synopsis after the name */
	const char	*s_summary;
	const char	*s_options;	/* its options, one per line, or "" */
};

#define OPT_JSON_HELP \
	"  --json                  machine-readable output\n"

static const struct subcmd policy_subs[] = {
	{ "show", cmd_policy_show, "[--json]",
	    "show the disclosure policy the exchange enforces", OPT_JSON_HELP },
	{ NULL, NULL, NULL, NULL, NULL },
};

static const struct subcmd consent_subs[] = {
	{ "record", cmd_consent_record, "FILE [--json]",
	    "record the guardians' consent described in FILE",
	    OPT_JSON_HELP },
	{ "list", cmd_consent_list, "[--json]",
	    "list your unit's consents", OPT_JSON_HELP },
	{ "show", cmd_consent_show, "ID [--json]",
	    "show a consent, its disclosures and its parties",
	    OPT_JSON_HELP },
	{ "withdraw", cmd_consent_withdraw, "ID [--recipient UNIT] [--json]",
	    "withdraw a consent, entirely or for one recipient",
	    "  --recipient UNIT        withdraw it for this recipient only\n"
	    OPT_JSON_HELP },
	{ NULL, NULL, NULL, NULL, NULL },
};

static const struct subcmd referral_subs[] = {
	{ "submit", cmd_referral_submit,
	    "FILE (--consent ID | --basis report-of-concern) [--preview] "
	    "[--json]",
	    "encrypt, sign and send the referral draft FILE",
	    "  --consent ID            the consent the referral relies on\n"
	    "  --basis BASIS           consent (the default) or "
	    "report-of-concern\n"
	    "  --preview               show what each recipient could read, "
	    "send nothing\n"
	    OPT_JSON_HELP },
	{ "list", cmd_referral_list, "[--json]",
	    "list the referrals your unit sent and received", OPT_JSON_HELP },
	{ "pull", cmd_referral_pull, "ID [--save-attachments DIR] [--json]",
	    "fetch, verify and decrypt your unit's part",
	    "  --save-attachments DIR  write the attachments to DIR (mode "
	    "600)\n"
	    OPT_JSON_HELP },
	{ "receipts", cmd_referral_receipts, "ID [--json]",
	    "show who pulled a referral your unit sent, and when",
	    OPT_JSON_HELP },
	{ NULL, NULL, NULL, NULL, NULL },
};

#define OPT_MESSAGE_HELP \
	"  --message TEXT          a message, sealed to the two units of the " \
	"case\n" \
	"  --message-file FILE     the message from FILE (UTF-8 text)\n"

static const struct subcmd case_subs[] = {
	{ "status", cmd_case_status, "ID [--json]",
	    "show where each recipient's case stands, every step verified",
	    OPT_JSON_HELP },
	{ "list", cmd_case_list, "[--json]",
	    "list your unit's cases with their follow-up dates", OPT_JSON_HELP },
	{ "overdue", cmd_case_overdue, "[--json]",
	    "list cases whose follow-up report is late", OPT_JSON_HELP },
	{ "accept", cmd_case_accept, "ID [--json]",
	    "accept a referral your unit received (after pulling it)",
	    OPT_JSON_HELP },
	{ "decline", cmd_case_decline,
	    "ID --reason CODE [--message TEXT | --message-file FILE] [--json]",
	    "decline a referral your unit received",
	    "  --reason CODE           outside-remit, more-information-needed,\n"
	    "                          consent-insufficient, duplicate, other\n"
	    OPT_MESSAGE_HELP OPT_JSON_HELP },
	{ "advise", cmd_case_advise,
	    "ID --outcome CODE [--message TEXT | --message-file FILE] [--json]",
	    "answer the school: the outcome, and advice if the consent allows",
	    "  --outcome CODE          one the policy lists for your kind of "
	    "unit\n"
	    "                          (refx policy show)\n"
	    OPT_MESSAGE_HELP OPT_JSON_HELP },
	{ "follow-up", cmd_case_follow_up,
	    "ID [--to UNIT] [--message TEXT | --message-file FILE] [--json]",
	    "report back to the unit that advised (the principal's follow-up)",
	    "  --to UNIT               the recipient, if several advised\n"
	    OPT_MESSAGE_HELP OPT_JSON_HELP },
	{ "close", cmd_case_close, "ID [--json]",
	    "close a case whose follow-up your unit has received",
	    OPT_JSON_HELP },
	{ "cancel", cmd_case_cancel, "ID [--to UNIT] [--json]",
	    "withdraw a referral your unit sent from a recipient",
	    "  --to UNIT               the recipient, if several are open\n"
	    OPT_JSON_HELP },
	{ NULL, NULL, NULL, NULL, NULL },
};

#define OPT_UNIT_HELP \
	"  --unit UNIT             the log of UNIT (default: your unit's)\n"

static const struct subcmd audit_subs[] = {
	{ "list", cmd_audit_list,
	    "[--unit UNIT] [--since DATE] [--until DATE] [--referral ID] "
	    "[--person P] [--action A] [--json]",
	    "list the entries of your unit's audit log",
	    OPT_UNIT_HELP
	    "  --since DATE            entries of DATE (YYYY-MM-DD, UTC) or "
	    "later\n"
	    "  --until DATE            entries of DATE or earlier\n"
	    "  --referral ID           entries about referral ID\n"
	    "  --person P              entries of actions by person id P\n"
	    "  --action A              entries of action A (referral-pull, "
	    "...)\n"
	    OPT_JSON_HELP },
	{ "export", cmd_audit_export, "FILE [--unit UNIT] [--json]",
	    "save the log up to its latest checkpoint as a bundle FILE",
	    OPT_UNIT_HELP OPT_JSON_HELP },
	{ "verify", cmd_audit_verify,
	    "[FILE] [--unit UNIT] [--state-dir DIR] [--cosign KEYFILE] "
	    "[--cosigned NOTE] [--json]",
	    "verify the log, or the bundle FILE offline",
	    OPT_UNIT_HELP
	    "  --state-dir DIR         where verified checkpoints are kept\n"
	    "                          (default: $XDG_STATE_HOME/refx/audit)\n"
	    "  --cosign KEYFILE        then cosign the checkpoint as a "
	    "witness\n"
	    "  --cosigned NOTE         check consistency with this cosigned\n"
	    "                          checkpoint too\n"
	    OPT_JSON_HELP },
	{ "keygen", cmd_audit_keygen, "KEYFILE [--json]",
	    "make a witness key for verify --cosign (mode 600)",
	    OPT_JSON_HELP },
	{ NULL, NULL, NULL, NULL, NULL },
};

static const struct subcmd key_subs[] = {
	{ "protect", cmd_key_protect,
	    "IN OUT [--passphrase-file FILE] [--unit ID]",
	    "seal a unit key under a passphrase",
	    "  --passphrase-file FILE  read the passphrase from FILE (mode "
	    "600)\n"
	    "                          instead of asking twice on the "
	    "terminal\n"
	    "  --unit ID               record the unit the key belongs to\n" },
	{ NULL, NULL, NULL, NULL, NULL },
};

/* The commands: one line each. */
static const struct cmd {
	const char		*c_name;
	int			(*c_run)(struct cmd_ctx *, int, char **);
	const char		*c_args;	/* synopsis after the name */
	const char		*c_summary;
	const struct subcmd	*c_subs;	/* or NULL */
} cmds[] = {
	{ "whoami", cmd_whoami, "", "show who the exchange says you are",
	    NULL },
	{ "health", cmd_health, "", "check that the exchange answers", NULL },
	{ "directory", cmd_directory, "",
	    "list the units and check their certificates",
	    NULL },
	{ "screen", cmd_screen,
	    "FILE [--mapping MAP] [--from DATE] [--to DATE]\n"
	    "       [--aggregate] [--on-error skip|fail] [--json]\n"
	    "       [--boras-percent P] [--boras-months N] "
	    "[--sandviken-percent P]\n"
	    "       [--draft PUPIL [--output FILE] [--force] [--school NAME]\n"
	    "        [--recipient UNIT]...]",
	    "screen an attendance export for absence, locally (no server)",
	    NULL },
	{ "policy", NULL, "", "", policy_subs },
	{ "consent", NULL, "", "", consent_subs },
	{ "referral", NULL, "", "", referral_subs },
	{ "case", NULL, "", "", case_subs },
	{ "key", NULL, "", "", key_subs },
	{ "audit", NULL, "", "", audit_subs },
};

#define SUBNAME_MAX	64	/* "consent withdraw" */

enum {
	OPT_CONFIG = 256,
	OPT_SERVER,
	OPT_CA,
	OPT_CERT,
	OPT_KEY,
	OPT_PASSFILE,
	OPT_UNITKEY,
	OPT_UNITPASS,
	OPT_POLICY,
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
	{ "unit-key", required_argument, NULL, OPT_UNITKEY },
	{ "unit-passphrase-file", required_argument, NULL, OPT_UNITPASS },
	{ "policy-sha256", required_argument, NULL, OPT_POLICY },
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
	const struct subcmd *sc;
	char name[SUBNAME_MAX];
	size_t i;

	fprintf(f, "usage: refx [options] command [arguments]\n"
	    "       refx command --help\n\n"
	    "Commands:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (cmds[i].c_subs == NULL) {
			fprintf(f, "  %-18s %s\n", cmds[i].c_name,
			    cmds[i].c_summary);
			continue;
		}
		for (sc = cmds[i].c_subs; sc->s_name != NULL; sc++) {
			snprintf(name, sizeof(name), "%s %s", cmds[i].c_name,
			    sc->s_name);
			fprintf(f, "  %-18s %s\n", name, sc->s_summary);
		}
	}
	fprintf(f, "\nOptions (before the command):\n"
	    "  --config FILE           settings (default: $REFX_CONFIG, else\n"
	    "                          ~/.config/refx/config.ini)\n"
	    "  --server URL            the exchange, https://host[:port]\n"
	    "  --ca FILE               the exchange's CA certificate (PEM)\n"
	    "  --cert FILE             your certificate (PEM)\n"
	    "  --key FILE              your private key (PEM, mode 600)\n"
	    "  --passphrase-file FILE  passphrase of an encrypted key "
	    "(mode 600)\n"
	    "  --unit-key FILE         your unit's decryption key (mode 600)\n"
	    "  --unit-passphrase-file FILE\n"
	    "                          passphrase of a protected unit key "
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
	const struct subcmd *sc;

	if (c->c_subs == NULL) {
		printf("usage: refx [options] %s%s%s\n\n%s: %s.\n"
		    "Global options go before the command; see refx --help "
		    "and refx(1).\n", c->c_name, c->c_args[0] != '\0' ? " " :
		    "", c->c_args, c->c_name, c->c_summary);
		return;
	}
	for (sc = c->c_subs; sc->s_name != NULL; sc++)
		printf("%s refx [options] %s %s %s\n", sc == c->c_subs ?
		    "usage:" : "      ", c->c_name, sc->s_name, sc->s_args);
	printf("\n");
	for (sc = c->c_subs; sc->s_name != NULL; sc++)
		printf("%s %s: %s.\n", c->c_name, sc->s_name, sc->s_summary);
	printf("\nSee refx %s SUBCOMMAND --help, refx --help and refx(1).\n",
	    c->c_name);
}

/* Print the help of subcommand ${sc} of ${c} to stdout. */
static void
usage_sub(const struct cmd *c, const struct subcmd *sc)
{

	printf("usage: refx [options] %s %s %s\n\n%s %s: %s.\n", c->c_name,
	    sc->s_name, sc->s_args, c->c_name, sc->s_name, sc->s_summary);
	if (sc->s_options[0] != '\0')
		printf("\nOptions (after the subcommand):\n%s", sc->s_options);
	printf("\nGlobal options go before the command; see refx --help and "
	    "refx(1).\n");
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
	const struct subcmd *sc;
	int (*run)(struct cmd_ctx *, int, char **);
	char so[3] = "-?", subname[SUBNAME_MAX], esc[4 * 32 + 1];
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
		case OPT_UNITKEY:
			ctx.c_flags[CLICONF_UNITKEY] = optarg;
			break;
		case OPT_UNITPASS:
			ctx.c_flags[CLICONF_UNITPASS] = optarg;
			break;
		case OPT_POLICY:
			ctx.c_flags[CLICONF_POLICY] = optarg;
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

	/* A command with subcommands: find it; argv[0] names both. */
	run = cmd->c_run;
	if (cmd->c_subs != NULL) {
		if (argc < 2 || argv[1][0] == '-') {
			if (wants_help(argc, argv)) {
				usage_cmd(cmd);
				return (EX_OK);
			}
			log_warnx("%s: which subcommand? (see refx %s --help)",
			    cmd->c_name, cmd->c_name);
			return (EX_USAGE);
		}
		for (sc = cmd->c_subs; sc->s_name != NULL; sc++)
			if (strcmp(argv[1], sc->s_name) == 0)
				break;
		if (sc->s_name == NULL) {
			cmd_escape(esc, sizeof(esc), argv[1]);
			log_warnx("%s: unknown subcommand '%s' (see refx %s "
			    "--help)", cmd->c_name, esc, cmd->c_name);
			return (EX_USAGE);
		}
		if (wants_help(argc - 1, argv + 1)) {
			usage_sub(cmd, sc);
			return (EX_OK);
		}
		snprintf(subname, sizeof(subname), "%s %s", cmd->c_name,
		    sc->s_name);
		argc--;
		argv++;
		argv[0] = subname;
		run = sc->s_run;
	} else if (wants_help(argc, argv)) {
		usage_cmd(cmd);
		return (EX_OK);
	}

	/* Run the command; it connects when it first needs to. */
	if (net_global_init()) {
		log_warnx("cannot initialise libcurl");
		return (EX_SOFTWARE);
	}
	ex = run(&ctx, argc, argv);
	cmd_ctx_close(&ctx);
	net_global_cleanup();

	/* Output that did not reach its destination is a failure. */
	if ((fflush(stdout) == EOF || ferror(stdout)) && ex == EX_OK) {
		log_warn("standard output");
		ex = EX_IOERR;
	}
	return (ex);
}
