#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sysexits.h>

#include <jansson.h>

#include "refx/buf.h"
#include "refx/identity.h"
#include "refx/log.h"
#include "refx/secret.h"

#include "cmd.h"
#include "config.h"
#include "net.h"

#define ERR_CODE_MAX	64		/* bytes of an error code */
#define ERR_MSG_MAX	(64 * 1024)	/* bytes of an error message */
#define ERR_BODY_MAX	(64 * 1024)	/* an HTTP error body we parse */
#define LINE_PIECE	4096		/* bytes escaped at a time */

/** cmd_ctx_close(c): Close the connection of ${c}, if any. */
void
cmd_ctx_close(struct cmd_ctx *c)
{

	net_close(c->c_net);
	c->c_net = NULL;
}

/**
 * cmd_no_args(argc, argv): For a command that takes no arguments: return
 * 0, or complain about argv[1] and return EX_USAGE.
 */
int
cmd_no_args(int argc, char **argv)
{
	char a[4 * 64 + 1];

	if (argc <= 1)
		return (0);
	cmd_escape(a, sizeof(a), argv[1]);
	if (argv[1][0] == '-')
		log_warnx("%s: unknown option '%s' (global options go before "
		    "the command; see refx %s --help)", argv[0], a, argv[0]);
	else
		log_warnx("%s: unexpected argument '%s' (see refx %s --help)",
		    argv[0], a, argv[0]);
	return (EX_USAGE);
}

/**
 * cmd_settings(c): Read the settings into c->c_cf: the file (--config,
 * else $REFX_CONFIG, else ~/.config/refx/config.ini; a missing file is
 * fine), then the flags, without checking that the connection settings
 * are complete.  Return EX_OK, or EX_CONFIG after reporting.
 */
int
cmd_settings(struct cmd_ctx *c)
{
	char path[CLICONF_VALUE_MAX + 1], err[CLICONF_ERR_LEN];
	int n;
	size_t i;

	cliconf_init(&c->c_cf);

	/*
	 * --config, else $REFX_CONFIG, else ~/.config/refx/config.ini.  A
	 * missing file is fine if the flags supply every setting; if not,
	 * cliconf_check's message says the file was missing.
	 */
	if (c->c_config != NULL) {
		n = snprintf(path, sizeof(path), "%s", c->c_config);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			log_warnx("--config: file name is too long");
			return (EX_CONFIG);
		}
	} else if (cliconf_default_path(path, sizeof(path))) {
		if (getenv("REFX_CONFIG") != NULL) {
			log_warnx("REFX_CONFIG: file name is too long");
			return (EX_CONFIG);
		}
		path[0] = '\0';		/* no home: flags must do */
	}
	if (path[0] != '\0' &&
	    cliconf_load(&c->c_cf, path, 0, err, sizeof(err)))
		goto fail;

	/* Flags win over the file. */
	for (i = 0; i < CLICONF_NKEYS; i++)
		if (c->c_flags[i] != NULL &&
		    cliconf_set(&c->c_cf, i, c->c_flags[i], err, sizeof(err)))
			goto fail;
	return (EX_OK);

fail:
	log_warnx("%s", err);
	return (EX_CONFIG);
}

/* Read and check the settings and open the connection, once. */
static int
connect_once(struct cmd_ctx *c)
{
	char err[CLICONF_ERR_LEN];
	struct net_error ne;
	int ex;

	if (c->c_net != NULL)
		return (EX_OK);
	if ((ex = cmd_settings(c)) != EX_OK)
		return (ex);
	if (cliconf_check(&c->c_cf, err, sizeof(err))) {
		log_warnx("%s", err);
		return (EX_CONFIG);
	}
	if ((c->c_net = net_open(&c->c_cf, c->c_verbose, &ne)) == NULL) {
		log_warnx("%s", ne.ne_msg);
		return (ne.ne_exit);
	}
	return (EX_OK);
}

/* Report an HTTP error: the server's {"error":{code,message}} if any. */
static void
http_error(const char *path, long status, const struct refx_buf *resp)
{
	char code[4 * ERR_CODE_MAX + 1], msg[1024];
	const char *c = NULL, *m = NULL;
	json_t *root = NULL, *e;

	if (resp->b_len > 0 && resp->b_len <= ERR_BODY_MAX)
		root = json_loadb((const char *)resp->b_data, resp->b_len,
		    JSON_REJECT_DUPLICATES, NULL);
	if ((e = json_object_get(root, "error")) != NULL && json_is_object(e)) {
		c = cmd_json_str(e, "code", ERR_CODE_MAX);
		m = cmd_json_str(e, "message", ERR_MSG_MAX);
	}
	if (m != NULL)
		log_warnx("%s (%s)", cmd_escape(msg, sizeof(msg), m),
		    c != NULL ? cmd_escape(code, sizeof(code), c) : "error");
	else
		log_warnx("%s: the server answered HTTP %ld", path, status);
	json_decref(root);
}

/**
 * cmd_call(c, method, path, body, cap, out): Send ${body} (or NULL) to
 * ${path}, reading the settings and connecting first if need be.  On a
 * 2xx answer that is a JSON object of at most ${cap} bytes, store it in
 * ${out} (json_decref it) and return EX_OK.  Otherwise report the
 * failure in plain words (the server's own message for HTTP errors) and
 * return its sysexits(3) code, with ${out} NULL.
 */
int
cmd_call(struct cmd_ctx *c, enum net_method method, const char *path,
    json_t *body, size_t cap, json_t **out)
{
	struct net_error ne;
	struct refx_buf resp;
	char *req = NULL;
	size_t reqlen = 0;
	long status;
	int ex;

	*out = NULL;
	refx_buf_init(&resp, cap);
	if ((ex = connect_once(c)) != EX_OK)
		goto done;

	/* The request body, compact. */
	if (body != NULL) {
		if ((req = json_dumps(body, JSON_COMPACT)) == NULL) {
			log_warnx("out of memory");
			ex = EX_OSERR;
			goto done;
		}
		reqlen = strlen(req);
	}

	if (net_request(c->c_net, method, path, (const uint8_t *)req, reqlen,
	    &status, &resp, &ne)) {
		log_warnx("%s", ne.ne_msg);
		ex = ne.ne_exit;
		goto done;
	}
	if ((ex = net_status_exit(status)) != EX_OK) {
		http_error(path, status, &resp);
		goto done;
	}

	/* The answer is hostile until its types have been checked. */
	if (resp.b_len == 0 || (*out = json_loadb((const char *)resp.b_data,
	    resp.b_len, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		log_warnx("%s: the server's answer is not a well-formed JSON "
		    "object", path);
		ex = EX_PROTOCOL;
	}

done:
	if (req != NULL) {
		refx_wipe(req, reqlen);
		free(req);
	}
	refx_buf_free(&resp);
	return (ex);
}

/**
 * cmd_json_str(obj, key, max): Return the string member ${key} of the
 * object ${obj} if it is a string of 1 to ${max} bytes without NUL, else
 * NULL.  Valid as long as ${obj}.
 */
const char *
cmd_json_str(json_t *obj, const char *key, size_t max)
{
	json_t *v;
	const char *s;
	size_t n;

	if ((v = json_object_get(obj, key)) == NULL || !json_is_string(v))
		return (NULL);
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n > max || strlen(s) != n)
		return (NULL);
	return (s);
}

/**
 * cmd_escape(out, outlen, in): Copy ${in} to ${out} for a terminal or a
 * log line: bytes that are not well-formed UTF-8, and control, line
 * separator and bidirectional-override characters, become \xNN; a
 * backslash becomes \\.  Output that does not fit ends in "...".  An
 * ${outlen} of 4 * strlen(in) + 1 always fits.  Return ${out}.
 */
char *
cmd_escape(char *out, size_t outlen, const char *in)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t n = strlen(in), k, o = 0, safe = 0, plen, i;
	unsigned long cp;
	char piece[16];

	if (outlen == 0)
		return (out);
	while (n > 0) {
		/* One character, as itself or escaped. */
		k = refx_utf8_decode(p, n, &cp);
		plen = 0;
		if (k == 0 || refx_char_forbidden(cp)) {
			if (k == 0)
				k = 1;
			for (i = 0; i < k; i++)
				plen += (size_t)snprintf(piece + plen,
				    sizeof(piece) - plen, "\\x%02x", p[i]);
		} else if (cp == '\\') {
			memcpy(piece, "\\\\", 2);
			plen = 2;
		} else {
			memcpy(piece, p, k);
			plen = k;
		}

		/* Out of room: cut at a character boundary, mark it. */
		if (o + plen + 1 > outlen) {
			o = safe;
			if (o + 4 <= outlen) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(out + o, piece, plen);
		o += plen;
		if (o + 4 <= outlen)
			safe = o;
		p += k;
		n -= k;
	}
	out[o] = '\0';
	return (out);
}

/**
 * cmd_print_lines(fp, indent, s): Print the multi-line string ${s} to
 * ${fp}, each line indented by ${indent} spaces and escaped as by
 * cmd_escape.  Every byte is shown: a long line is escaped piece by
 * piece, cut only between characters, never truncated.
 */
void
cmd_print_lines(FILE *fp, int indent, const char *s)
{
	char piece[LINE_PIECE + 1], esc[4 * LINE_PIECE + 1];
	size_t n, k, j;

	for (;;) {
		n = strcspn(s, "\n");
		fprintf(fp, "%*s", indent, "");
		while (n > 0) {
			k = n < LINE_PIECE ? n : LINE_PIECE;
			/* Not inside a UTF-8 sequence (at most 3 more bytes). */
			for (j = 0; k < n && j < 3 && k > 1 &&
			    ((unsigned char)s[k] & 0xc0) == 0x80; j++)
				k--;
			memcpy(piece, s, k);
			piece[k] = '\0';
			fputs(cmd_escape(esc, sizeof(esc), piece), fp);
			s += k;
			n -= k;
		}
		fputc('\n', fp);
		if (*s == '\0')
			break;
		s++;		/* the newline */
	}
}

/**
 * cmd_print_json(obj): Print ${obj} to stdout as indented JSON with
 * sorted keys and non-ASCII characters escaped.  Return EX_OK, or
 * EX_IOERR / EX_OSERR after reporting it.
 */
int
cmd_print_json(json_t *obj)
{

	if (json_dumpf(obj, stdout, JSON_INDENT(2) | JSON_SORT_KEYS |
	    JSON_ENSURE_ASCII) == -1 || putchar('\n') == EOF) {
		if (ferror(stdout)) {
			log_warn("standard output");
			return (EX_IOERR);
		}
		log_warnx("out of memory");
		return (EX_OSERR);
	}
	return (EX_OK);
}

/**
 * cmd_state_dir(sub, buf, len): The folder for refx's own state named
 * ${sub}: $XDG_STATE_HOME/refx/${sub}, else ~/.local/state/refx/${sub}.
 * Return 0, or -1 without a home or if it does not fit.
 */
int
cmd_state_dir(const char *sub, char *buf, size_t len)
{
	const char *env, *home;
	struct passwd pw, *pwp;
	char pwbuf[4096];
	int n;

	if ((env = getenv("XDG_STATE_HOME")) != NULL && env[0] == '/') {
		n = snprintf(buf, len, "%s/refx/%s", env, sub);
		return (n < 0 || (size_t)n >= len ? -1 : 0);
	}
	if ((home = getenv("HOME")) == NULL || home[0] != '/') {
		if (getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &pwp) ||
		    pwp == NULL || pw.pw_dir == NULL || pw.pw_dir[0] != '/')
			return (-1);
		home = pw.pw_dir;
	}
	n = snprintf(buf, len, "%s/.local/state/refx/%s", home, sub);
	return (n < 0 || (size_t)n >= len ? -1 : 0);
}

#define PROGRESS_BAR	20	/* characters of the bar */

/**
 * cmd_progress(cookie, done, all): Draw "WHAT DONE/ALL [####......]" on
 * standard error, over the line drawn before, or erase it once ${done}
 * is ${all}.  ${cookie} is a struct cmd_progress, zeroed but for
 * cp_what.  Use it only when standard error is a terminal.  (The shape
 * of bundle_progress_fn.)
 */
void
cmd_progress(void *cookie, uint64_t done, uint64_t all)
{
	struct cmd_progress *p = cookie;
	char bar[PROGRESS_BAR + 1];
	size_t fill;
	int n;

	if (done >= all) {
		cmd_progress_clear(p);
		return;
	}
	fill = (size_t)(done * PROGRESS_BAR / all);
	memset(bar, '#', fill);
	memset(bar + fill, '.', PROGRESS_BAR - fill);
	bar[PROGRESS_BAR] = '\0';
	n = fprintf(stderr, "\r%s %llu/%llu [%s]", p->cp_what,
	    (unsigned long long)done, (unsigned long long)all, bar);
	if (n > p->cp_width)
		p->cp_width = n;
}

/**
 * cmd_progress_clear(p): Erase the progress line of ${p}, if one is
 * drawn, so that a message can be printed; the next cmd_progress draws
 * it again.
 */
void
cmd_progress_clear(struct cmd_progress *p)
{

	if (p->cp_width > 0)
		fprintf(stderr, "\r%*s\r", p->cp_width, "");
	p->cp_width = 0;
}
