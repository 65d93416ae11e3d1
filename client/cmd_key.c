/*
 * refx key protect, and what the commands share about keys,
 * passphrases and their own options: the unit key that decrypts what
 * is sent to a unit, passphrases from files or the terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "refx/cert.h"
#include "refx/envelope.h"
#include "refx/file.h"
#include "refx/identity.h"
#include "refx/log.h"
#include "refx/secret.h"

#include "cmd.h"
#include "directory.h"

#define ARG_ESC_MAX	(4 * 64 + 1)	/* an escaped argument in a message */
#define KEY_FILE_MAX	(64 * 1024)	/* a unit key file */
#define PKCS8_BEGIN	"-----BEGIN PRIVATE KEY-----"
#define UNITKEY_ERR_LEN	512
#define CERT_PEM_MAX	(64 * 1024)	/* our certificate file */

/**
 * cmd_opt_error(argv, ch): Report the getopt_long(3) failure ${ch} (':'
 * for a missing value, else an unknown option) of the command argv[0]
 * and return EX_USAGE.  Call right after getopt_long returned ${ch}.
 */
int
cmd_opt_error(char **argv, int ch)
{
	char a[ARG_ESC_MAX], so[3] = "-?";
	const char *opt;

	/* Long options use codes above 255: name them by their argv. */
	if (optopt > ' ' && optopt < 0x7f) {
		so[1] = (char)optopt;
		opt = so;
	} else
		opt = optind > 0 ? argv[optind - 1] : "?";
	cmd_escape(a, sizeof(a), opt);
	if (ch == ':')
		log_warnx("%s: missing value for option '%s' (see refx %s "
		    "--help)", argv[0], a, argv[0]);
	else
		log_warnx("%s: unknown option '%s' (global options go before "
		    "the command; see refx %s --help)", argv[0], a, argv[0]);
	return (EX_USAGE);
}

/**
 * cmd_operands(argc, argv, first, n, names): Check that exactly ${n}
 * operands follow argv[${first} - 1] (${names} says which, for the
 * message, e.g. "ID").  Return 0, or complain and return EX_USAGE.
 */
int
cmd_operands(int argc, char **argv, int first, int n, const char *names)
{
	char a[ARG_ESC_MAX];

	if (argc - first < n) {
		log_warnx("%s: missing %s (see refx %s --help)", argv[0],
		    names, argv[0]);
		return (EX_USAGE);
	}
	if (argc - first > n) {
		log_warnx("%s: unexpected argument '%s' (see refx %s --help)",
		    argv[0], cmd_escape(a, sizeof(a), argv[first + n]),
		    argv[0]);
		return (EX_USAGE);
	}
	return (0);
}

/**
 * cmd_passphrase_free(pass): Wipe and free ${pass}; NULL is a no-op.
 */
void
cmd_passphrase_free(char *pass)
{

	/* sodium_free wipes the whole allocation. */
	sodium_free(pass);
}

/**
 * cmd_passphrase_file(path, pass): Read the first line of the passphrase
 * file ${path}, which no group or other user may access, into
 * sodium_malloc'd memory (free with cmd_passphrase_free).  Return EX_OK,
 * or EX_CONFIG after reporting (unreadable, not private, empty).
 */
int
cmd_passphrase_file(const char *path, char **pass)
{
	uint8_t *data;
	size_t len, i;

	*pass = NULL;
	if (refx_file_check_private(path)) {
		if (errno == EPERM)
			log_warnx("passphrase file %s is accessible by group "
			    "or others; refusing to use it (run: chmod 600 "
			    "%s)", path, path);
		else
			log_warnx("cannot use passphrase file %s: %s", path,
			    strerror(errno));
		return (EX_CONFIG);
	}
	if (refx_file_read(path, CMD_PASSPHRASE_MAX + 2, &data, &len)) {
		log_warnx("cannot read passphrase file %s: %s", path,
		    errno == EFBIG ? "file too large" : strerror(errno));
		return (EX_CONFIG);
	}
	for (i = 0; i < len && data[i] != '\n' && data[i] != '\r'; i++)
		continue;
	if (i == 0 || i > CMD_PASSPHRASE_MAX) {
		log_warnx("passphrase file %s: %s", path, i == 0 ?
		    "the passphrase is empty" : "the passphrase is too long");
		goto err1;
	}
	if ((*pass = sodium_malloc(i + 1)) == NULL) {
		log_warnx("out of memory");
		goto err1;
	}
	memcpy(*pass, data, i);
	(*pass)[i] = '\0';
	sodium_memzero(data, len);
	free(data);
	return (EX_OK);

err1:
	sodium_memzero(data, len);
	free(data);
	return (EX_CONFIG);
}

/*
 * Write ${prompt} to the terminal ${fd} and read one line without echo
 * into ${buf} (CMD_PASSPHRASE_MAX + 1 bytes).  Signals that would stop
 * or end us are held until the echo is back on.  Return its length, or
 * -1 (set ${toolong} if it did not fit).
 */
static ssize_t
read_hidden(int fd, const char *prompt, char *buf, int *toolong)
{
	struct termios old, quiet;
	sigset_t hold, saved;
	ssize_t r;
	size_t n = 0;
	char ch;

	*toolong = 0;
	sigemptyset(&hold);
	sigaddset(&hold, SIGINT);
	sigaddset(&hold, SIGQUIT);
	sigaddset(&hold, SIGTSTP);
	sigaddset(&hold, SIGTERM);
	sigaddset(&hold, SIGHUP);
	sigaddset(&hold, SIGTTIN);
	sigaddset(&hold, SIGTTOU);
	if (sigprocmask(SIG_BLOCK, &hold, &saved) == -1)
		return (-1);
	if (tcgetattr(fd, &old) == -1)
		goto err0;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (tcsetattr(fd, TCSAFLUSH, &quiet) == -1)
		goto err0;
	if (write(fd, prompt, strlen(prompt)) < 0)
		goto err1;

	/* One line; what does not fit is read and dropped. */
	for (;;) {
		if ((r = read(fd, &ch, 1)) == -1 && errno == EINTR)
			continue;
		if (r != 1 || ch == '\n')
			break;
		if (n < CMD_PASSPHRASE_MAX)
			buf[n++] = ch;
		else
			*toolong = 1;
	}
	ch = '\0';
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	(void)tcsetattr(fd, TCSAFLUSH, &old);
	(void)!write(fd, "\n", 1);
	(void)sigprocmask(SIG_SETMASK, &saved, NULL);
	return (*toolong ? -1 : (ssize_t)n);

err1:
	(void)tcsetattr(fd, TCSAFLUSH, &old);
err0:
	(void)sigprocmask(SIG_SETMASK, &saved, NULL);
	return (-1);
}

/**
 * cmd_passphrase_tty(prompt, twice, pass): Ask for a passphrase on the
 * terminal without echo (twice, and they must match, if ${twice}).
 * Return EX_OK with ${pass} as above, or report and return EX_USAGE (no
 * terminal) or EX_DATAERR (empty, too long, or different).
 */
int
cmd_passphrase_tty(const char *prompt, int twice, char **pass)
{
	char *p1 = NULL, *p2 = NULL;
	ssize_t n1, n2;
	int fd, toolong, ex = EX_DATAERR;

	*pass = NULL;
	if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1) {
		log_warnx("no terminal to ask for the passphrase on; give a "
		    "passphrase file");
		return (EX_USAGE);
	}
	if ((p1 = sodium_malloc(CMD_PASSPHRASE_MAX + 1)) == NULL ||
	    (twice && (p2 = sodium_malloc(CMD_PASSPHRASE_MAX + 1)) == NULL)) {
		log_warnx("out of memory");
		ex = EX_OSERR;
		goto done;
	}
	if ((n1 = read_hidden(fd, prompt, p1, &toolong)) < 0) {
		log_warnx(toolong ? "the passphrase is too long (more than %d "
		    "bytes)" : "cannot read the passphrase from the terminal",
		    CMD_PASSPHRASE_MAX);
		goto done;
	}
	if (n1 == 0) {
		log_warnx("the passphrase is empty");
		goto done;
	}
	if (twice) {
		if ((n2 = read_hidden(fd, "Again: ", p2, &toolong)) < 0 ||
		    n2 != n1 || sodium_memcmp(p1, p2, (size_t)n1) != 0) {
			log_warnx("the two passphrases differ");
			goto done;
		}
	}
	*pass = p1;
	p1 = NULL;
	ex = EX_OK;

done:
	cmd_passphrase_free(p2);
	cmd_passphrase_free(p1);
	close(fd);
	return (ex);
}

/* Return 1 if the key file ${path} may need a passphrase. */
static int
may_need_passphrase(const char *path)
{
	uint8_t *data;
	size_t len;
	int plain;

	if (refx_file_read(path, KEY_FILE_MAX, &data, &len))
		return (0);	/* refx_unitkey_load will say why */
	plain = len >= strlen(PKCS8_BEGIN) &&
	    memcmp(data, PKCS8_BEGIN, strlen(PKCS8_BEGIN)) == 0;
	sodium_memzero(data, len);
	free(data);
	return (!plain);
}

/**
 * cmd_unitkey(c, unit, certified, pk, sk): Load the unit key of the
 * settings (--unit-key or [unit] key; a cmd_call must have read them)
 * for our unit ${unit}, with its passphrase from --unit-passphrase-file
 * or [unit] passphrase_file, else asked on the terminal if the key is
 * protected.  If ${certified} is not NULL, the public key must be it
 * (the key of ${unit}'s verified certificate).  Return EX_OK (wipe ${sk}
 * after use), or EX_CONFIG after reporting: no unit key set, it cannot
 * be loaded, or it is another unit's.
 */
int
cmd_unitkey(struct cmd_ctx *c, const char *unit, const uint8_t *certified,
    uint8_t pk[32], uint8_t sk[32])
{
	const char *path = c->c_cf.cc_unitkey;
	char rec[REFX_AGENCY_ID_MAX + 1], err[UNITKEY_ERR_LEN];
	char prompt[CLICONF_VALUE_MAX + 64];
	char *pass = NULL;
	int ex, rc;

	if (path[0] == '\0') {
		log_warnx("no unit key: give --unit-key FILE before the "
		    "command, or set 'key' in [unit] of the config file "
		    "(the key of unit %s, which decrypts what is sent to it)",
		    unit);
		return (EX_CONFIG);
	}

	/* Its passphrase: the file, else the terminal, else none. */
	if (c->c_cf.cc_unitpass[0] != '\0') {
		if ((ex = cmd_passphrase_file(c->c_cf.cc_unitpass, &pass)) !=
		    EX_OK)
			return (ex);
	} else if (may_need_passphrase(path)) {
		snprintf(prompt, sizeof(prompt), "Passphrase of unit key %s: ",
		    path);
		if (cmd_passphrase_tty(prompt, 0, &pass) == EX_DATAERR)
			return (EX_CONFIG);
	}
	rc = refx_unitkey_load(path, pass, rec, pk, sk, err, sizeof(err));
	cmd_passphrase_free(pass);
	if (rc) {
		log_warnx("cannot use the unit key: %s", err);
		return (EX_CONFIG);
	}
	if (rec[0] != '\0' && strcmp(rec, unit) != 0) {
		sodium_memzero(sk, 32);
		log_warnx("unit key %s is the key of unit %s, not of your unit "
		    "%s", path, rec, unit);
		return (EX_CONFIG);
	}
	if (certified != NULL && sodium_memcmp(pk, certified, 32) != 0) {
		sodium_memzero(sk, 32);
		log_warnx("unit key %s is not the key of your unit %s (it does "
		    "not match the unit's certificate)", path, unit);
		return (EX_CONFIG);
	}
	return (EX_OK);
}

/*
 * refx key protect IN OUT [--passphrase-file F] [--unit ID]: seal the
 * unit key IN (the PKCS#8 PEM refx-pki wrote) under a passphrase into
 * the new file OUT (mode 0600, never replaced).  Needs no server.
 */
int
cmd_key_protect(struct cmd_ctx *c, int argc, char **argv)
{
	enum { OPT_PASS = 256, OPT_UNIT };
	static const struct option o[] = {
		{ "passphrase-file", required_argument, NULL, OPT_PASS },
		{ "unit", required_argument, NULL, OPT_UNIT },
		{ NULL, 0, NULL, 0 },
	};
	const char *passfile = NULL, *unit = NULL, *in, *out;
	char err[UNITKEY_ERR_LEN], a[ARG_ESC_MAX];
	char *pass = NULL;
	struct stat sb;
	int ch, ex;

	(void)c;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", o, NULL)) != -1) {
		switch (ch) {
		case OPT_PASS:
			passfile = optarg;
			break;
		case OPT_UNIT:
			unit = optarg;
			break;
		default:
			return (cmd_opt_error(argv, ch));
		}
	}
	if ((ex = cmd_operands(argc, argv, optind, 2, "IN and OUT")) != 0)
		return (ex);
	in = argv[optind];
	out = argv[optind + 1];
	if (unit != NULL && !refx_agency_id_valid(unit)) {
		log_warnx("%s: --unit: '%s' is not a unit id", argv[0],
		    cmd_escape(a, sizeof(a), unit));
		return (EX_USAGE);
	}

	/* Fail before asking for anything. */
	if (access(in, R_OK) == -1) {
		log_warnx("cannot read unit key %s: %s", in, strerror(errno));
		return (EX_NOINPUT);
	}
	if (lstat(out, &sb) == 0) {
		log_warnx("%s already exists; refusing to replace it", out);
		return (EX_CANTCREAT);
	}

	if (passfile != NULL)
		ex = cmd_passphrase_file(passfile, &pass);
	else
		ex = cmd_passphrase_tty("New passphrase for the unit key: ", 1,
		    &pass);
	if (ex != EX_OK)
		return (ex);
	if (refx_unitkey_protect(in, out, pass, unit, err, sizeof(err))) {
		log_warnx("cannot protect the unit key: %s", err);
		ex = EX_DATAERR;
	} else
		printf("%s: unit key sealed under the passphrase; keep it "
		    "mode 600 and remove the unprotected %s once it works\n",
		    out, in);
	cmd_passphrase_free(pass);
	return (ex);
}

/**
 * cmd_own_cert(c, me, pem): Read our certificate (PEM, sent with a
 * signature) and check that it is the one the exchange authenticated us
 * with (${me}, from directory_me).  ${pem} (caller frees) is its text.
 * Return EX_OK, or EX_CONFIG after reporting.
 */
int
cmd_own_cert(struct cmd_ctx *c, const struct dir_me *me, char **pem)
{
	char hex[DIR_FPR_HEX + 1];
	uint8_t fpr[REFX_FINGERPRINT_LEN], *data;
	struct x509_st *cert;
	size_t len;

	*pem = NULL;
	if (refx_file_read(c->c_cf.cc_cert, CERT_PEM_MAX, &data, &len)) {
		log_warnx("cannot read your certificate %s: %s",
		    c->c_cf.cc_cert, strerror(errno));
		return (EX_CONFIG);
	}
	if ((cert = refx_cert_parse_pem(data, len)) == NULL ||
	    refx_cert_fingerprint(cert, fpr)) {
		refx_cert_free(cert);
		free(data);
		log_warnx("cannot parse your certificate %s", c->c_cf.cc_cert);
		return (EX_CONFIG);
	}
	refx_cert_free(cert);
	refx_hex(hex, sizeof(hex), fpr, sizeof(fpr));
	if (strcmp(hex, me->dm_fpr) != 0 || strlen((char *)data) != len) {
		free(data);
		log_warnx("your certificate %s is not the one the exchange "
		    "sees", c->c_cf.cc_cert);
		return (EX_CONFIG);
	}
	*pem = (char *)data;
	return (EX_OK);
}
