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

#include "config.h"
#include "net.h"

#ifndef REFX_VERSION
#define REFX_VERSION	"0.1.0"
#endif

struct json_t;			/* jansson's json_t */

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

/* Shared by the commands (cmd_util.c). */

/** cmd_ctx_close(c): Close the connection of ${c}, if any. */
void cmd_ctx_close(struct cmd_ctx *);

/**
 * cmd_no_args(argc, argv): For a command that takes no arguments: return
 * 0, or complain about argv[1] and return EX_USAGE.
 */
int cmd_no_args(int, char **);

/**
 * cmd_call(c, method, path, body, cap, out): Send ${body} (or NULL) to
 * ${path}, reading the settings and connecting first if need be.  On a
 * 2xx answer that is a JSON object of at most ${cap} bytes, store it in
 * ${out} (json_decref it) and return EX_OK.  Otherwise report the
 * failure in plain words (the server's own message for HTTP errors) and
 * return its sysexits(3) code, with ${out} NULL.
 */
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
 * cmd_print_json(obj): Print ${obj} to stdout as indented JSON with
 * sorted keys and non-ASCII characters escaped.  Return EX_OK, or
 * EX_IOERR / EX_OSERR after reporting it.
 */
int cmd_print_json(struct json_t *);

#endif /* !REFX_CLI_CMD_H */
