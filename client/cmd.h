#ifndef REFX_CLI_CMD_H
#define REFX_CLI_CMD_H

/*
 * refx's commands and what they share.
 *
 * Adding a command: write client/cmd_NAME.c with
 *   int cmd_NAME(struct cmd_ctx *, int argc, char *argv[]);
 * declare it below, add one line to the table in main.c and one
 * CLIENT_SRCS line to the Makefile, and document it in man/refx.1.
 *
 * A command gets its own arguments with argv[0] = its name (main has
 * already answered --help), checks them first (usage errors exit 64
 * before any configuration is read), then talks to the exchange through
 * cmd_call, which reads the settings and opens the connection on first
 * use.  It returns a sysexits(3) code and reports its own errors once.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "net.h"

#ifndef REFX_VERSION
#define REFX_VERSION	"0.1.0"
#endif

struct json_t;			/* jansson's json_t */
struct dir_me;
struct refx_policy;

/* What every command gets from the global flags. */
struct cmd_ctx {
	const char	*c_config;	/* --config, or NULL */
	const char	*c_flags[CLICONF_NKEYS];	/* or NULL */
	int		 c_json;	/* --json: machine output */
	int		 c_verbose;	/* -v count */
	struct cliconf	 c_cf;		/* once c_net is open */
	struct refx_net	*c_net;		/* opened by cmd_call */
};

/* The commands; see refx(1). */
int cmd_whoami(struct cmd_ctx *, int, char **);
int cmd_health(struct cmd_ctx *, int, char **);
int cmd_directory(struct cmd_ctx *, int, char **);
int cmd_screen(struct cmd_ctx *, int, char **);

/*
 * Subcommands: argv[0] is "consent show" and so on; options may come
 * before or after the operands.  main.c has the table.
 */
int cmd_policy_show(struct cmd_ctx *, int, char **);
int cmd_consent_record(struct cmd_ctx *, int, char **);
int cmd_consent_list(struct cmd_ctx *, int, char **);
int cmd_consent_show(struct cmd_ctx *, int, char **);
int cmd_consent_withdraw(struct cmd_ctx *, int, char **);
int cmd_referral_submit(struct cmd_ctx *, int, char **);
int cmd_referral_list(struct cmd_ctx *, int, char **);
int cmd_referral_pull(struct cmd_ctx *, int, char **);
int cmd_referral_receipts(struct cmd_ctx *, int, char **);
int cmd_key_protect(struct cmd_ctx *, int, char **);
int cmd_case_status(struct cmd_ctx *, int, char **);
int cmd_case_list(struct cmd_ctx *, int, char **);
int cmd_case_overdue(struct cmd_ctx *, int, char **);
int cmd_case_accept(struct cmd_ctx *, int, char **);
int cmd_case_decline(struct cmd_ctx *, int, char **);
int cmd_case_advise(struct cmd_ctx *, int, char **);
int cmd_case_follow_up(struct cmd_ctx *, int, char **);
int cmd_case_close(struct cmd_ctx *, int, char **);
int cmd_case_cancel(struct cmd_ctx *, int, char **);
int cmd_audit_list(struct cmd_ctx *, int, char **);
int cmd_audit_export(struct cmd_ctx *, int, char **);
int cmd_audit_verify(struct cmd_ctx *, int, char **);
int cmd_audit_keygen(struct cmd_ctx *, int, char **);

/* Shared by the referral and consent commands (cmd_key.c). */

#define CMD_PASSPHRASE_MAX	1024	/* bytes of a passphrase */

/**
 * cmd_opt_error(argv, ch): Report the getopt_long(3) failure ${ch} (':'
 * for a missing value, else an unknown option) of the command argv[0]
 * and return EX_USAGE.  Call right after getopt_long returned ${ch}.
 */
int cmd_opt_error(char **, int);

/**
 * cmd_operands(argc, argv, first, n, names): Check that exactly ${n}
 * operands follow argv[${first} - 1] (${names} says which, for the
 * message, e.g. "ID").  Return 0, or complain and return EX_USAGE.
 */
int cmd_operands(int, char **, int, int, const char *);

/**
 * cmd_passphrase_file(path, pass): Read the first line of the passphrase
 * file ${path}, which no group or other user may access, into
 * sodium_malloc'd memory (free with cmd_passphrase_free).  Return EX_OK,
 * or EX_CONFIG after reporting (unreadable, not private, empty).
 */
int cmd_passphrase_file(const char *, char **)
    __attribute__((warn_unused_result));

/**
 * cmd_passphrase_tty(prompt, twice, pass): Ask for a passphrase on the
 * terminal without echo (twice, and they must match, if ${twice}).
 * Return EX_OK with ${pass} as above, or report and return EX_USAGE (no
 * terminal) or EX_DATAERR (empty, too long, or different).
 */
int cmd_passphrase_tty(const char *, int, char **)
    __attribute__((warn_unused_result));

/** cmd_passphrase_free(pass): Wipe and free ${pass}; NULL is a no-op. */
void cmd_passphrase_free(char *);

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
int cmd_unitkey(struct cmd_ctx *, const char *, const uint8_t *,
    uint8_t[32], uint8_t[32]) __attribute__((warn_unused_result));

/**
 * cmd_own_cert(c, me, pem): Read our certificate (PEM, sent with a
 * signature) and check that it is the one the exchange authenticated us
 * with (${me}, from directory_me).  ${pem} (caller frees) is its text.
 * Return EX_OK, or EX_CONFIG after reporting.
 */
int cmd_own_cert(struct cmd_ctx *, const struct dir_me *, char **)
    __attribute__((warn_unused_result));

/**
 * cmd_policy_get(c, policy, hash, root): GET /v1/policy and parse its
 * document.  ${hash} (65 bytes) receives the server's hash of the policy
 * file, the value manifests must carry; ${root} (or NULL) the answer.
 * Return EX_OK or a sysexits(3) code after reporting.
 */
int cmd_policy_get(struct cmd_ctx *, struct refx_policy **, char *,
    struct json_t **) __attribute__((warn_unused_result));

/**
 * cmd_consent_get(c, id, root): GET /v1/consents/${id} (a valid id).
 * Return EX_OK with the answer in ${root}, or a sysexits(3) code after
 * reporting.
 */
int cmd_consent_get(struct cmd_ctx *, const char *, struct json_t **)
    __attribute__((warn_unused_result));

/* Shared by the commands (cmd_args.c). */

/**
 * cmd_json_operands(c, argc, argv, n, names): Parse the command line of a
 * command whose only option is --json (setting c->c_json) and that takes
 * exactly ${n} operands (${names} names them for the message).  Return
 * 0 with the operands at argv[optind], or EX_USAGE after complaining.
 */
int cmd_json_operands(struct cmd_ctx *, int, char **, int, const char *);

/**
 * cmd_check_id(argv, what, id): Check that the operand ${id} is an id of
 * 32 lower-case hex characters (a ${what} id, for the message).  Return
 * 0, or complain and return EX_USAGE.
 */
int cmd_check_id(char **, const char *, const char *);

/* Shared by the commands (cmd_util.c). */

/** cmd_ctx_close(c): Close the connection of ${c}, if any. */
void cmd_ctx_close(struct cmd_ctx *);

/**
 * cmd_no_args(argc, argv): For a command that takes no arguments: return
 * 0, or complain about argv[1] and return EX_USAGE.
 */
int cmd_no_args(int, char **);

/**
 * cmd_settings(c): Read the settings into c->c_cf: the file (--config,
 * else $REFX_CONFIG, else ~/.config/refx/config.ini; a missing file is
 * fine), then the flags, without checking that the connection settings
 * are complete.  Return EX_OK, or EX_CONFIG after reporting.
 */
int cmd_settings(struct cmd_ctx *) __attribute__((warn_unused_result));

/**
 * cmd_call(c, method, path, body, cap, out): Send ${body} (or NULL) to
 * ${path}, reading the settings and connecting first if need be.  On a
 * 2xx answer that is a JSON object of at most ${cap} bytes, store it in
 * ${out} (json_decref it) and return EX_OK.  Otherwise report the
 * failure in plain words (the server's own message for HTTP errors) and
 * return its sysexits(3) code, with ${out} NULL.
 */
/**
 * cmd_state_dir(sub, buf, len): The folder for refx's own state named
 * ${sub}: $XDG_STATE_HOME/refx/${sub}, else ~/.local/state/refx/${sub}.
 * Return 0, or -1 without a home or if it does not fit.
 */
int cmd_state_dir(const char *, char *, size_t);

int cmd_call(struct cmd_ctx *, enum net_method, const char *,
    struct json_t *, size_t, struct json_t **)
    __attribute__((warn_unused_result));

/**
 * cmd_json_str(obj, key, max): Return the string member ${key} of the
 * object ${obj} if it is a string of 1 to ${max} bytes without NUL, else
 * NULL.  Valid as long as ${obj}.
 */
const char *cmd_json_str(struct json_t *, const char *, size_t);

/**
 * cmd_escape(out, outlen, in): Copy ${in} to ${out} for a terminal or a
 * log line: bytes that are not well-formed UTF-8, and control, line
 * separator and bidirectional-override characters, become \xNN; a
 * backslash becomes \\.  Output that does not fit ends in "...".  An
 * ${outlen} of 4 * strlen(in) + 1 always fits.  Return ${out}.
 */
char *cmd_escape(char *, size_t, const char *);

/**
 * cmd_print_lines(fp, indent, s): Print the multi-line string ${s} to
 * ${fp}, each line indented by ${indent} spaces and escaped as by
 * cmd_escape.  Every byte is shown: a long line is escaped piece by
 * piece, cut only between characters, never truncated.
 */
void cmd_print_lines(FILE *, int, const char *);

/**
 * cmd_print_json(obj): Print ${obj} to stdout as indented JSON with
 * sorted keys and non-ASCII characters escaped.  Return EX_OK, or
 * EX_IOERR / EX_OSERR after reporting it.
 */
int cmd_print_json(struct json_t *);

/* A progress line on a terminal (cmd_progress). */
struct cmd_progress {
	const char	*cp_what;	/* "verifying entry", "screening KiB" */
	int		 cp_width;	/* widest line drawn, to erase it */
};

/**
 * cmd_progress(cookie, done, all): Draw "WHAT DONE/ALL [####......]" on
 * standard error, over the line drawn before, or erase it once ${done}
 * is ${all}.  ${cookie} is a struct cmd_progress, zeroed but for
 * cp_what.  Use it only when standard error is a terminal.  (The shape
 * of bundle_progress_fn.)
 */
void cmd_progress(void *, uint64_t, uint64_t);

/**
 * cmd_progress_clear(p): Erase the progress line of ${p}, if one is
 * drawn, so that a message can be printed; the next cmd_progress draws
 * it again.
 */
void cmd_progress_clear(struct cmd_progress *);

#endif /* !REFX_CLI_CMD_H */
