#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "refx/file.h"

#include "config.h"

/* Every setting refx knows; anything else in the file is an error. */
static const struct key {
	const char	*k_section;
	const char	*k_name;
	const char	*k_flag;	/* the flag that overrides it */
	const char	*k_what;	/* for "no server URL" */
	size_t		 k_off;
	int		 k_required;
} keys[CLICONF_NKEYS] = {
	[CLICONF_URL] = { "server", "url", "--server", "server URL",
	    offsetof(struct cliconf, cc_url), 1 },
	[CLICONF_CA] = { "server", "ca", "--ca", "exchange CA certificate",
	    offsetof(struct cliconf, cc_ca), 1 },
	[CLICONF_CERT] = { "identity", "certificate", "--cert",
	    "certificate", offsetof(struct cliconf, cc_cert), 1 },
	[CLICONF_KEY] = { "identity", "key", "--key", "private key",
	    offsetof(struct cliconf, cc_key), 1 },
	[CLICONF_PASSFILE] = { "identity", "passphrase_file",
	    "--passphrase-file", "passphrase file",
	    offsetof(struct cliconf, cc_passfile), 0 },
	[CLICONF_UNITKEY] = { "unit", "key", "--unit-key", "unit key",
	    offsetof(struct cliconf, cc_unitkey), 0 },
	[CLICONF_UNITPASS] = { "unit", "passphrase_file",
	    "--unit-passphrase-file", "unit key passphrase file",
	    offsetof(struct cliconf, cc_unitpass), 0 },
	[CLICONF_POLICY] = { "server", "policy_sha256", "--policy-sha256",
	    "pinned policy hash", offsetof(struct cliconf, cc_policy), 0 },
};

/*
 * What the inih callbacks share.  inih reports the line of the first
 * error only as its return value and splits lines longer than its
 * buffer into several "lines" (so a long value could smuggle in a second
 * key); our own reader counts lines and refuses long ones instead.
 */
struct parse {
	struct cliconf	*p_cf;
	const char	*p_path;
	const char	*p_data;	/* the whole file, NUL-terminated */
	size_t		 p_len;
	size_t		 p_off;		/* next unread byte */
	const char	*p_raw;		/* start of the current line */
	int		 p_line;	/* number of the current line */
	int		 p_errline;	/* line of the 1st error, or 0 */
	unsigned	 p_seen;	/* keys set by this file (bits) */
	char		*p_err;
	size_t		 p_errlen;
};

/* Return the value buffer of ${k} in ${cf}. */
static char *
value_of(struct cliconf *cf, enum cliconf_key k)
{

	return ((char *)cf + keys[k].k_off);
}

/* As value_of, read-only. */
static const char *
cvalue_of(const struct cliconf *cf, enum cliconf_key k)
{

	return ((const char *)cf + keys[k].k_off);
}

/* Record the first error only; later ones are usually consequences. */
static void __attribute__((format(printf, 3, 4)))
fail(struct parse *p, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (p->p_errline)
		return;
	p->p_errline = line;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->p_err, p->p_errlen, "%s:%d: %s", p->p_path, line, msg);
}

/* Return 1 if ${s} holds a control character. */
static int
has_control(const char *s)
{

	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return (1);
	return (0);
}

/* inih callback: one "name = value" line. */
static int
on_value(void *user, const char *section, const char *name,
    const char *value)
{
	struct parse *p = user;
	size_t i, n;

	for (i = 0; i < CLICONF_NKEYS; i++)
		if (strcmp(keys[i].k_section, section) == 0 &&
		    strcmp(keys[i].k_name, name) == 0)
			break;

	/* Only the keys of the table, each in its own section. */
	if (i == CLICONF_NKEYS) {
		if (*section == '\0')
			fail(p, p->p_line, "key '%s' is outside any section "
			    "(expected [server], [identity] or [unit])", name);
		else if (strcmp(section, "server") != 0 &&
		    strcmp(section, "identity") != 0 &&
		    strcmp(section, "unit") != 0)
			fail(p, p->p_line, "unknown section [%s] (key '%s'; "
			    "expected [server], [identity] or [unit])", section,
			    name);
		else
			fail(p, p->p_line, "unknown key '%s' in [%s]", name,
			    section);
		return (0);
	}

	/* inih passes an indented line as a continuation of the last key. */
	if (p->p_seen & (1u << i)) {
		if (p->p_raw[0] == ' ' || p->p_raw[0] == '\t')
			fail(p, p->p_line, "indented line continues '%s' in "
			    "[%s]; multi-line values are not allowed", name,
			    section);
		else
			fail(p, p->p_line, "key '%s' in [%s] is given twice",
			    name, section);
		return (0);
	}
	p->p_seen |= 1u << i;

	/* Values are bounded, printable and not empty. */
	n = strlen(value);
	if (n == 0) {
		fail(p, p->p_line, "key '%s' in [%s] is empty", name, section);
		return (0);
	}
	if (n > CLICONF_VALUE_MAX) {
		fail(p, p->p_line, "value of '%s' in [%s] is too long (more "
		    "than %d bytes)", name, section, CLICONF_VALUE_MAX);
		return (0);
	}
	if (has_control(value)) {
		fail(p, p->p_line, "value of '%s' in [%s] contains a control "
		    "character", name, section);
		return (0);
	}
	memcpy(value_of(p->p_cf, (enum cliconf_key)i), value, n + 1);
	p->p_cf->cc_line[i] = p->p_line;
	return (1);
}

/* inih reader: hand out the next line of the file, or refuse it. */
static char *
read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;
	const char *s, *nl;
	size_t left, n;

	if (p->p_off >= p->p_len)
		return (NULL);
	s = p->p_data + p->p_off;
	left = p->p_len - p->p_off;
	n = (nl = memchr(s, '\n', left)) != NULL ? (size_t)(nl - s) + 1 : left;
	p->p_line++;
	p->p_raw = s;

	/* The line, newline included, and its NUL must fit in ${str}. */
	if (num < 2 || n > (size_t)num - 1) {
		fail(p, p->p_line, "line is too long (more than %d bytes)",
		    num < 2 ? 0 : num - 2);
		return (NULL);
	}
	memcpy(str, s, n);
	str[n] = '\0';
	p->p_off += n;
	return (str);
}

/** cliconf_init(cf): Make ${cf} empty: no file, no values. */
void
cliconf_init(struct cliconf *cf)
{

	memset(cf, 0, sizeof(*cf));
}

/**
 * cliconf_default_path(buf, len): Write the config file to use when no
 * --config is given to ${buf}: $REFX_CONFIG if set, else
 * ~/.config/refx/config.ini.  Return 0, or -1 if there is no home
 * directory or the path does not fit.
 */
int
cliconf_default_path(char *buf, size_t len)
{
	const char *env, *home;
	struct passwd pw, *pwp;
	char pwbuf[4096];
	int n;

	/* $REFX_CONFIG names the file outright. */
	if ((env = getenv("REFX_CONFIG")) != NULL && *env != '\0') {
		n = snprintf(buf, len, "%s", env);
		return (n < 0 || (size_t)n >= len ? -1 : 0);
	}

	/* Else the home directory: $HOME, or the password database. */
	if ((home = getenv("HOME")) == NULL || home[0] != '/') {
		if (getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &pwp) ||
		    pwp == NULL || pw.pw_dir == NULL || pw.pw_dir[0] != '/')
			return (-1);
		home = pw.pw_dir;
	}
	n = snprintf(buf, len, "%s/.config/refx/config.ini", home);
	return (n < 0 || (size_t)n >= len ? -1 : 0);
}

/**
 * cliconf_load(cf, path, must_exist, err, errlen): Parse the INI file
 * ${path} into ${cf}, remembering ${path}.  A missing file is not an
 * error unless ${must_exist}.  Return 0, or -1 with one line in ${err}
 * naming the file, line and key of the first problem (unknown section or
 * key, repeated key, empty or over-long value, syntax).
 */
int
cliconf_load(struct cliconf *cf, const char *path, int must_exist,
    char *err, size_t errlen)
{
	struct parse p;
	uint8_t *data;
	size_t len;
	int rc;

	if (strlen(path) > CLICONF_VALUE_MAX) {
		snprintf(err, errlen, "config file name is too long (more "
		    "than %d bytes)", CLICONF_VALUE_MAX);
		goto err0;
	}
	memcpy(cf->cc_path, path, strlen(path) + 1);
	cf->cc_found = 0;

	/* Read it whole and bounded; a missing default file is fine. */
	if (refx_file_read(path, CLICONF_FILE_MAX, &data, &len)) {
		if (errno == ENOENT && !must_exist)
			return (0);
		if (errno == EFBIG)
			snprintf(err, errlen, "%s: config file is larger than "
			    "%d bytes", path, CLICONF_FILE_MAX);
		else
			snprintf(err, errlen, "%s: cannot read config file: %s",
			    path, strerror(errno));
		goto err0;
	}
	cf->cc_found = 1;
	if (memchr(data, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: config file contains a NUL byte",
		    path);
		goto err1;
	}

	/* Parse; inih returns the line of its first error, or 0. */
	memset(&p, 0, sizeof(p));
	p.p_cf = cf;
	p.p_path = path;
	p.p_data = (const char *)data;
	p.p_len = len;
	p.p_raw = p.p_data;
	p.p_err = err;
	p.p_errlen = errlen;
	rc = ini_parse_stream(read_line, &p, on_value, &p);
	if (rc < 0) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto err1;
	}
	if (rc > 0 && (p.p_errline == 0 || rc < p.p_errline)) {
		/* A syntax error inih found itself came first. */
		snprintf(err, errlen, "%s:%d: syntax error (expected "
		    "[section] or key = value)", path, rc);
		goto err1;
	}
	if (p.p_errline)
		goto err1;
	free(data);
	return (0);

err1:
	free(data);
err0:
	return (-1);
}

/**
 * cliconf_set(cf, key, value, err, errlen): Override ${key} with
 * ${value} from a flag.  Return 0, or -1 with a message naming the flag
 * in ${err} if the value is empty or longer than CLICONF_VALUE_MAX.
 */
int
cliconf_set(struct cliconf *cf, enum cliconf_key k, const char *value,
    char *err, size_t errlen)
{
	size_t n;

	if ((unsigned)k >= CLICONF_NKEYS) {
		snprintf(err, errlen, "unknown setting");
		return (-1);
	}
	n = strlen(value);
	if (n == 0) {
		snprintf(err, errlen, "%s: value is empty", keys[k].k_flag);
		return (-1);
	}
	if (n > CLICONF_VALUE_MAX) {
		snprintf(err, errlen, "%s: value is too long (more than %d "
		    "bytes)", keys[k].k_flag, CLICONF_VALUE_MAX);
		return (-1);
	}
	if (has_control(value)) {
		snprintf(err, errlen, "%s: value contains a control character",
		    keys[k].k_flag);
		return (-1);
	}
	memcpy(value_of(cf, k), value, n + 1);
	cf->cc_line[k] = -1;
	return (0);
}

/* Describe where ${k} was set: "--key" or "'key' in [identity] at F:N". */
static void
where(const struct cliconf *cf, enum cliconf_key k, char *buf, size_t len)
{

	if (cf->cc_line[k] < 0)
		snprintf(buf, len, "%s", keys[k].k_flag);
	else
		snprintf(buf, len, "'%s' in [%s] at %s:%d", keys[k].k_name,
		    keys[k].k_section, cf->cc_path, cf->cc_line[k]);
}

/* Check the server URL: https://host[:port][/prefix], nothing else. */
static const char *
url_problem(const char *url)
{
	const char *p, *host;

	if (strncmp(url, "https://", 8) != 0)
		return ("must start with https://");
	for (p = url; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return ("contains a space or a non-ASCII character");
		if (*p == '?' || *p == '#' || *p == '\\')
			return ("must not contain '?', '#' or '\\'");
	}
	host = url + 8;
	if (*host == '\0' || *host == '/' || *host == ':')
		return ("has no host name");
	for (p = host; *p != '\0' && *p != '/'; p++)
		if (*p == '@')
			return ("must not contain a user name or password");
	return (NULL);
}

/* Check that a secret file (key, passphrase) is ours alone. */
static int
check_private(const struct cliconf *cf, enum cliconf_key k, char *err,
    size_t errlen)
{
	const char *path = cvalue_of(cf, k);
	char src[CLICONF_VALUE_MAX + 64];

	if (refx_file_check_private(path) == 0)
		return (0);
	where(cf, k, src, sizeof(src));
	if (errno == EPERM)
		snprintf(err, errlen, "%s %s is accessible by group or others; "
		    "refusing to use it (run: chmod 600 %s) (from %s)",
		    keys[k].k_what, path, path, src);
	else
		snprintf(err, errlen, "cannot use %s %s: %s (from %s)",
		    keys[k].k_what, path, strerror(errno), src);
	return (-1);
}

/**
 * cliconf_check(cf, err, errlen): Check the final settings: url, ca,
 * certificate and key are set, url is https:// with a host and no
 * credentials, query or fragment, and the key and passphrase files
 * (the unit's too, when set) are regular files no group or other user
 * can access.  Return 0, or -1 with a message naming the key, its flag
 * and the config file in ${err}.
 */
int
cliconf_check(const struct cliconf *cf, char *err, size_t errlen)
{
	char src[CLICONF_VALUE_MAX + 64];
	const char *why;
	size_t i;

	/* Every required value, from the file or a flag. */
	for (i = 0; i < CLICONF_NKEYS; i++) {
		if (!keys[i].k_required || *cvalue_of(cf, i) != '\0')
			continue;
		if (cf->cc_path[0] == '\0')
			snprintf(err, errlen, "no %s: give %s, or set '%s' in "
			    "[%s] of the config file", keys[i].k_what,
			    keys[i].k_flag, keys[i].k_name, keys[i].k_section);
		else
			snprintf(err, errlen, "no %s: set '%s' in [%s] of "
			    "%s%s, or give %s", keys[i].k_what, keys[i].k_name,
			    keys[i].k_section, cf->cc_path,
			    cf->cc_found ? "" : " (no such file)",
			    keys[i].k_flag);
		return (-1);
	}

	/* Only https to a named host. */
	if ((why = url_problem(cf->cc_url)) != NULL) {
		where(cf, CLICONF_URL, src, sizeof(src));
		snprintf(err, errlen, "server URL %s %s (from %s)", cf->cc_url,
		    why, src);
		return (-1);
	}

	/* Public files must be readable; we report it before curl does. */
	for (i = CLICONF_CA; i <= CLICONF_CERT; i++) {
		if (access(cvalue_of(cf, i), R_OK) == 0)
			continue;
		where(cf, i, src, sizeof(src));
		snprintf(err, errlen, "cannot read %s %s: %s (from %s)",
		    keys[i].k_what, cvalue_of(cf, i), strerror(errno), src);
		return (-1);
	}

	/* Secrets must be private; the optional ones when they are set. */
	if (check_private(cf, CLICONF_KEY, err, errlen))
		return (-1);
	for (i = CLICONF_PASSFILE; i < CLICONF_NKEYS; i++)
		if (*cvalue_of(cf, i) != '\0' &&
		    check_private(cf, i, err, errlen))
			return (-1);
	return (0);
}
