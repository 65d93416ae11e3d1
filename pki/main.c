/*
 * refx-pki: the exchange's certificate authority.  Turns argv into calls
 * of dir.c and prints what they made.  See refx-pki(8) and docs/pki.md.
 */
#include <sys/stat.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "refx/log.h"
#include "refx/sandbox.h"
#include "refx/secret.h"

#include "pki.h"

#define PROG	"refx-pki"

struct cmd {
	const char	*c_name;
	const char	*c_sub;		/* second word, or NULL */
	int		(*c_fn)(const struct cmd *, const char *, int,
			    char **);
	const char	*c_usage;	/* options after the command words */
	const char	*c_help;	/* one line */
};

static int cmd_init(const struct cmd *, const char *, int, char **);
static int cmd_server(const struct cmd *, const char *, int, char **);
static int cmd_agency_add(const struct cmd *, const char *, int, char **);
static int cmd_user_add(const struct cmd *, const char *, int, char **);
static int cmd_revoke(const struct cmd *, const char *, int, char **);
static int cmd_crl(const struct cmd *, const char *, int, char **);
static int cmd_list(const struct cmd *, const char *, int, char **);

/* The commands: data, not code (style.md). */
static const struct cmd cmds[] = {
	{ "init", NULL, cmd_init, "[--name NAME] [--days N]",
	    "Create the CA (\"NAME refx CA\", default 3650 days), an empty "
	    "CRL, index and directory." },
	{ "server", NULL, cmd_server,
	    "[--dns NAME]... [--ip ADDR]... [--days N]",
	    "Issue or renew refxd's certificate (default localhost, "
	    "127.0.0.1, ::1; 365 days)." },
	{ "agency", "add", cmd_agency_add,
	    "ID --kind KIND --name NAME [--days N]",
	    "Issue a unit's X25519 encryption key and certificate (730 days).\n"
	    "KIND: school, ifo, bup, primary-care, forum, supervisor." },
	{ "agency", "list", cmd_list, "[--json]", "List the units." },
	{ "user", "add", cmd_user_add,
	    "--agency ID --role ROLE --name NAME [--id PERSON] [--days N]\n"
	    "           [--valid-from YYYY-MM-DD] [--passphrase-file FILE] "
	    "[--url URL]",
	    "Issue a person's key, certificate and refx config (180 days).\n"
	    "ROLE: submitter, caseworker, auditor, admin." },
	{ "user", "list", cmd_list, "[--json]", "List the people." },
	{ "revoke", NULL, cmd_revoke,
	    "SERIAL|PERSON|unit:ID [--reason REASON]",
	    "Revoke a certificate and rewrite the CRL at once.\n"
	    "REASON: unspecified, keyCompromise, affiliationChanged, "
	    "superseded, cessationOfOperation." },
	{ "crl", NULL, cmd_crl, "[--days N]",
	    "Issue a new CRL (default 30 days) and print its path." },
	{ "list", NULL, cmd_list, "[--json]",
	    "List everything issued, or print index.json." },
	{ NULL, NULL, NULL, NULL, NULL },
};

/* Print the usage line of ${c} to ${f}. */
static void
usage_one(FILE *f, const struct cmd *c)
{

	fprintf(f, "       %s [-d DIR] %s%s%s %s\n", PROG, c->c_name,
	    c->c_sub ? " " : "", c->c_sub ? c->c_sub : "", c->c_usage);
}

/* Print the usage of every command named ${name} (NULL: all) to ${f}. */
static void
usage(FILE *f, const char *name)
{
	const struct cmd *c;

	fprintf(f, "usage: %s [-d DIR] COMMAND [ARGS]\n", PROG);
	for (c = cmds; c->c_name != NULL; c++)
		if (name == NULL || strcmp(name, c->c_name) == 0)
			usage_one(f, c);
	if (name == NULL)
		fprintf(f, "DIR defaults to $REFX_PKI_DIR, else ./pki.  "
		    "COMMAND --help explains a command.\n");
}

/* Print the help of ${c} to stdout. */
static int
help(const struct cmd *c)
{

	printf("usage: %s [-d DIR] %s%s%s %s\n%s\n", PROG, c->c_name,
	    c->c_sub ? " " : "", c->c_sub ? c->c_sub : "", c->c_usage,
	    c->c_help);
	return (fflush(stdout) == EOF ? EX_IOERR : 0);
}

/* Report a usage error in ${c}: one line, and the exit status. */
static int
bad_usage(const struct cmd *c, const char *what, const char *arg)
{

	log_warnx("%s%s%s: %s%s%s%s (see '%s %s%s%s --help')", c->c_name,
	    c->c_sub ? " " : "", c->c_sub ? c->c_sub : "", what,
	    arg ? " '" : "", arg ? arg : "", arg ? "'" : "", PROG,
	    c->c_name, c->c_sub ? " " : "", c->c_sub ? c->c_sub : "");
	return (EX_USAGE);
}

/* Report what getopt_long returned for an unknown or incomplete option. */
static int
bad_option(const struct cmd *c, int ch, char **argv)
{

	return (bad_usage(c, ch == ':' ? "missing value for option" :
	    "unknown option", argv[optind - 1]));
}

/* Parse a decimal number in [min, max]; no strtol (see style.md). */
static int
parse_long(const char *s, long min, long max, long *v)
{
	long n = 0;

	if (*s == '\0')
		return (-1);
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return (-1);
		n = n * 10 + (*s - '0');
		if (n > max)
			return (-1);
	}
	if (n < min)
		return (-1);
	*v = n;
	return (0);
}

/* Parse --days into ${days}. */
static int
opt_days(const struct cmd *c, const char *s, long *days)
{

	if (parse_long(s, 1, CA_DAYS_MAX, days))
		return (bad_usage(c, "--days takes 1 to 36500, not", s));
	return (0);
}

static int
cmd_init(const struct cmd *c, const char *dir, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "days", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct dir_result r;
	const char *name = NULL;
	long days = 0;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (ch) {
		case 'n':
			name = optarg;
			break;
		case 'D':
			if ((rc = opt_days(c, optarg, &days)))
				return (rc);
			break;
		case 'h':
			return (help(c));
		default:
			return (bad_option(c, ch, argv));
		}
	}
	if (optind != argc)
		return (bad_usage(c, "unexpected argument", argv[optind]));
	if ((rc = dir_init(dir, name, days, &r)))
		return (rc);
	printf("created CA %s\n"
	    "  key          %s  (keep it on this machine only)\n"
	    "  CRL          %s\n"
	    "  SHA-256      %s\n", r.dr_cert, r.dr_key, r.dr_crl,
	    r.dr_fingerprint);
	return (0);
}

static int
cmd_server(const struct cmd *c, const char *dir, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dns", required_argument, NULL, 'N' },
		{ "ip", required_argument, NULL, 'I' },
		{ "days", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dns[CA_SAN_COUNT], *ip[CA_SAN_COUNT];
	struct dir_result r;
	size_t ndns = 0, nip = 0;
	long days = 0;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (ch) {
		case 'N':
			if (ndns == CA_SAN_COUNT)
				return (bad_usage(c, "too many --dns", NULL));
			dns[ndns++] = optarg;
			break;
		case 'I':
			if (nip == CA_SAN_COUNT)
				return (bad_usage(c, "too many --ip", NULL));
			ip[nip++] = optarg;
			break;
		case 'D':
			if ((rc = opt_days(c, optarg, &days)))
				return (rc);
			break;
		case 'h':
			return (help(c));
		default:
			return (bad_option(c, ch, argv));
		}
	}
	if (optind != argc)
		return (bad_usage(c, "unexpected argument", argv[optind]));
	if ((rc = dir_server(dir, dns, ndns, ip, nip, days, &r)))
		return (rc);
	printf("issued server certificate (serial %s)\n"
	    "  certificate  %s\n"
	    "  key          %s\n"
	    "Copy both to the server and restart refxd.\n", r.dr_serial,
	    r.dr_cert, r.dr_key);
	return (0);
}

static int
cmd_agency_add(const struct cmd *c, const char *dir, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "name", required_argument, NULL, 'n' },
		{ "days", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct dir_result r;
	const char *kind = NULL, *name = NULL;
	long days = 0;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (ch) {
		case 'k':
			kind = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'D':
			if ((rc = opt_days(c, optarg, &days)))
				return (rc);
			break;
		case 'h':
			return (help(c));
		default:
			return (bad_option(c, ch, argv));
		}
	}
	if (argc - optind != 1)
		return (bad_usage(c, "give exactly one agency ID", NULL));
	if (kind == NULL || name == NULL)
		return (bad_usage(c, "--kind and --name are required", NULL));
	if ((rc = dir_agency_add(dir, argv[optind], kind, name, days, &r)))
		return (rc);
	printf("issued unit %s (serial %s)\n"
	    "  certificate  %s\n"
	    "  key          %s  (X25519: give it to the unit's readers)\n"
	    "directory.pem rewritten.\n", r.dr_id, r.dr_serial, r.dr_cert,
	    r.dr_key);
	return (0);
}

static int
cmd_user_add(const struct cmd *c, const char *dir, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "agency", required_argument, NULL, 'a' },
		{ "role", required_argument, NULL, 'r' },
		{ "name", required_argument, NULL, 'n' },
		{ "id", required_argument, NULL, 'i' },
		{ "days", required_argument, NULL, 'D' },
		{ "valid-from", required_argument, NULL, 'f' },
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "url", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct dir_user u;
	struct dir_result r;
	int ch, rc;

	memset(&u, 0, sizeof(u));
	while ((ch = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (ch) {
		case 'a':
			u.du_agency = optarg;
			break;
		case 'r':
			u.du_role = optarg;
			break;
		case 'n':
			u.du_name = optarg;
			break;
		case 'i':
			u.du_person = optarg;
			break;
		case 'D':
			if ((rc = opt_days(c, optarg, &u.du_days)))
				return (rc);
			break;
		case 'f':
			if (ca_date_parse(optarg, &u.du_valid_from))
				return (bad_usage(c, "--valid-from takes "
				    "YYYY-MM-DD, not", optarg));
			u.du_valid_from_set = 1;
			break;
		case 'p':
			u.du_passfile = optarg;
			break;
		case 'u':
			u.du_url = optarg;
			break;
		case 'h':
			return (help(c));
		default:
			return (bad_option(c, ch, argv));
		}
	}
	if (optind != argc)
		return (bad_usage(c, "unexpected argument", argv[optind]));
	if (u.du_agency == NULL || u.du_role == NULL || u.du_name == NULL)
		return (bad_usage(c, "--agency, --role and --name are "
		    "required", NULL));
	if ((rc = dir_user_add(dir, &u, &r)))
		return (rc);
	printf("issued person %s (serial %s)\n"
	    "  certificate  %s\n"
	    "  key          %s%s\n"
	    "  config       %s\n", r.dr_id, r.dr_serial, r.dr_cert, r.dr_key,
	    u.du_passfile ? "  (encrypted)" : "", r.dr_ini);
	return (0);
}

static int
cmd_revoke(const struct cmd *c, const char *dir, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct dir_result r;
	const char *reason = NULL;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (ch) {
		case 'r':
			reason = optarg;
			break;
		case 'h':
			return (help(c));
		default:
			return (bad_option(c, ch, argv));
		}
	}
	if (argc - optind != 1)
		return (bad_usage(c, "give exactly one SERIAL, PERSON or "
		    "unit:ID", NULL));
	if ((rc = dir_revoke(dir, argv[optind], reason, &r)))
		return (rc);
	printf("revoked %s %s%s(serial %s)\n"
	    "  CRL          %s (number %ld)\n"
	    "Send refxd SIGHUP to load the new CRL%s.\n",
	    index_type_name(r.dr_type), r.dr_id, r.dr_id[0] ? " " : "",
	    r.dr_serial, r.dr_crl, r.dr_crl_number,
	    r.dr_type == PKI_UNIT ? " and directory" : "");
	return (0);
}

static int
cmd_crl(const struct cmd *c, const char *dir, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "days", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct dir_result r;
	long days = 0;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (ch) {
		case 'D':
			if ((rc = opt_days(c, optarg, &days)))
				return (rc);
			break;
		case 'h':
			return (help(c));
		default:
			return (bad_option(c, ch, argv));
		}
	}
	if (optind != argc)
		return (bad_usage(c, "unexpected argument", argv[optind]));
	if ((rc = dir_crl(dir, days, &r)))
		return (rc);
	printf("%s\n", r.dr_crl);
	return (0);
}

/* list, agency list, user list: the same, filtered by type. */
static int
cmd_list(const struct cmd *c, const char *dir, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, json = 0, type = -1;

	while ((ch = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'h':
			return (help(c));
		default:
			return (bad_option(c, ch, argv));
		}
	}
	if (optind != argc)
		return (bad_usage(c, "unexpected argument", argv[optind]));
	if (strcmp(c->c_name, "agency") == 0)
		type = PKI_UNIT;
	else if (strcmp(c->c_name, "user") == 0)
		type = PKI_PERSON;
	return (dir_list(dir, json, type, stdout));
}

int
main(int argc, char *argv[])
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *c;
	const char *dir;
	int ch, known = 0, rc;

	/* Before anything else: libsodium up, core dumps off. */
	log_init(PROG, 0);
	if (refx_crypto_init()) {
		log_warnx("cannot initialise libsodium or disable core dumps");
		return (EX_SOFTWARE);
	}
	if (refx_sandbox_enter(REFX_SANDBOX_STARTUP)) {
		log_warnx("cannot enter the sandbox");
		return (EX_SOFTWARE);
	}
	/* Modes are set explicitly; this only keeps races private. */
	umask(077);

	/* Global options, up to the command word. */
	if ((dir = getenv("REFX_PKI_DIR")) == NULL || *dir == '\0')
		dir = "./pki";
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:d:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'd':
			dir = optarg;
			break;
		case 'h':
			usage(stdout, NULL);
			return (fflush(stdout) == EOF ? EX_IOERR : 0);
		default:
			log_warnx("%s option '%s' (see '%s --help')",
			    ch == ':' ? "missing value for" : "unknown",
			    argv[optind - 1], PROG);
			return (EX_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		log_warnx("no command (see '%s --help')", PROG);
		return (EX_USAGE);
	}

	/* The command: one or two words. */
	for (c = cmds; c->c_name != NULL; c++) {
		if (strcmp(argv[0], c->c_name) != 0)
			continue;
		known = 1;
		if (c->c_sub == NULL)
			break;
		if (argc > 1 && strcmp(argv[1], c->c_sub) == 0) {
			argc--;
			argv++;
			break;
		}
	}
	if (c->c_name == NULL) {
		if (known && argc > 1 && (strcmp(argv[1], "--help") == 0 ||
		    strcmp(argv[1], "-h") == 0)) {
			usage(stdout, argv[0]);
			return (fflush(stdout) == EOF ? EX_IOERR : 0);
		}
		if (known)
			log_warnx("%s: give a subcommand (see '%s %s --help')",
			    argv[0], PROG, argv[0]);
		else
			log_warnx("unknown command '%s' (see '%s --help')",
			    argv[0], PROG);
		return (EX_USAGE);
	}
	optind = 0;
	rc = c->c_fn(c, dir, argc, argv);
	if (rc == 0 && (fflush(stdout) == EOF || ferror(stdout))) {
		log_warn("stdout");
		rc = EX_IOERR;
	}
	return (rc);
}
