#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "config.h"

#define VALUE_MAX	1024	/* longest accepted value */

/* What the parse callback needs: the target and the first error. */
struct parse {
	struct config	*p_cf;
	const char	*p_path;
	char		*p_err;
	int		 p_failed;
	int		 p_fail_line;	/* line of the first error */
	int		 p_line;	/* line of the current callback */
};

enum kind { K_STR, K_PORT, K_UINT, K_SIZE };

/* Every key refxd knows; anything else is an error. */
static const struct key {
	const char	*section;
	const char	*name;
	enum kind	 kind;
	size_t		 off;
	unsigned long long min, max;
} keys[] = {
	{ "server", "listen", K_STR, offsetof(struct config, c_listen), 0, 0 },
	{ "server", "port", K_PORT, offsetof(struct config, c_port), 1, 65535 },
	{ "server", "user", K_STR, offsetof(struct config, c_user), 0, 0 },
	{ "server", "threads", K_UINT, offsetof(struct config, c_threads),
	    1, 64 },
	{ "tls", "certificate", K_STR, offsetof(struct config, c_cert), 0, 0 },
	{ "tls", "key", K_STR, offsetof(struct config, c_key), 0, 0 },
	{ "tls", "ca", K_STR, offsetof(struct config, c_ca), 0, 0 },
	{ "tls", "crl", K_STR, offsetof(struct config, c_crl), 0, 0 },
	{ "storage", "database", K_STR, offsetof(struct config, c_database),
	    0, 0 },
	{ "directory", "units", K_STR, offsetof(struct config, c_directory),
	    0, 0 },
	{ "policy", "file", K_STR, offsetof(struct config, c_policy), 0, 0 },
	{ "audit", "keys", K_STR, offsetof(struct config, c_audit_keys), 0, 0 },
	{ "audit", "checkpoint_interval", K_UINT,
	    offsetof(struct config, c_checkpoint), 1, 3600 },
	{ "limits", "connections", K_UINT,
	    offsetof(struct config, c_max_conns), 1, 65536 },
	{ "limits", "connections_per_ip", K_UINT,
	    offsetof(struct config, c_max_conns_ip), 1, 65536 },
	{ "limits", "idle_timeout", K_UINT,
	    offsetof(struct config, c_idle_timeout), 1, 3600 },
	{ "limits", "header_memory", K_SIZE,
	    offsetof(struct config, c_header_mem), 4096, 1024 * 1024 },
	{ "limits", "max_body", K_SIZE, offsetof(struct config, c_max_body),
	    1024, 256ULL * 1024 * 1024 },
	/* Seconds between retention purges; 0: only `refxd --purge`. */
	{ "retention", "purge_interval", K_UINT,
	    offsetof(struct config, c_purge_interval), 0, 30 * 86400 },
};

/* Keys that must be present once parsing is done. */
static const char *const required[][2] = {
	{ "tls", "certificate" }, { "tls", "key" }, { "tls", "ca" },
	{ "tls", "crl" }, { "storage", "database" }, { "directory", "units" },
	{ "policy", "file" }, { "audit", "keys" },
};

static void fail(struct parse *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* Record the first error only: later ones are usually consequences. */
static void
fail(struct parse *p, int line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (p->p_failed)
		return;
	p->p_failed = 1;
	p->p_fail_line = line;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(p->p_err, CONFIG_ERR_LEN, "%s:%d: %s", p->p_path,
		    line, msg);
	else
		snprintf(p->p_err, CONFIG_ERR_LEN, "%s: %s", p->p_path, msg);
}

/* Parse an unsigned decimal in [min, max] with nothing trailing. */
static int
parse_uint(const char *v, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	char *end;
	unsigned long long n;

	if (*v < '0' || *v > '9')
		return (-1);
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end != '\0' || n < min || n > max)
		return (-1);
	*out = n;
	return (0);
}

/* Store one value; the key table says where and how. */
static int
set_value(struct parse *p, const struct key *k, const char *value)
{
	char *base = (char *)p->p_cf, **sp;
	unsigned long long n;

	if (strlen(value) > VALUE_MAX) {
		fail(p, p->p_line, "value of '%s' in [%s] is too long",
		    k->name, k->section);
		return (0);
	}
	if (k->kind == K_STR) {
		if (*value == '\0') {
			fail(p, p->p_line, "'%s' in [%s] is empty", k->name,
			    k->section);
			return (0);
		}
		sp = (char **)(void *)(base + k->off);
		free(*sp);
		if ((*sp = strdup(value)) == NULL) {
			fail(p, p->p_line, "out of memory at '%s'", k->name);
			return (0);
		}
		return (1);
	}
	if (parse_uint(value, k->min, k->max, &n)) {
		fail(p, p->p_line, "'%s' in [%s] must be a whole number in "
		    "%llu..%llu", k->name, k->section, k->min, k->max);
		return (0);
	}
	if (k->kind == K_SIZE)
		*(size_t *)(void *)(base + k->off) = (size_t)n;
	else
		*(unsigned *)(void *)(base + k->off) = (unsigned)n;
	return (1);
}

/* inih callback: one key = value line. */
static int
on_value(void *user, const char *section, const char *name,
    const char *value)
{
	struct parse *p = user;
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].section, section) == 0 &&
		    strcmp(keys[i].name, name) == 0)
			return (set_value(p, &keys[i], value));
	if (*section == '\0')
		fail(p, p->p_line, "key '%s' outside any section", name);
	else
		fail(p, p->p_line, "unknown key '%s' in [%s]", name, section);
	return (0);
}

/* Is the key ${section}.${name} set in ${cf}? */
static int
is_set(const struct config *cf, const char *section, const char *name)
{
	size_t i;
	const char *base = (const char *)cf;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].section, section) == 0 &&
		    strcmp(keys[i].name, name) == 0)
			return (*(char *const *)(const void *)
			    (base + keys[i].off) != NULL);
	return (0);
}

/*
 * inih reports the line of the first error as its return value, but
 * calls us without it; a line-counting reader lets us name the line in
 * the message of the first failure as it happens.
 */
struct reader {
	FILE	*r_f;
	int	*r_line;
	int	 r_toolong;
};

static char *
read_line(char *str, int num, void *stream)
{
	struct reader *r = stream;
	char *s;
	size_t n;

	if ((s = fgets(str, num, r->r_f)) == NULL)
		return (NULL);
	n = strlen(s);
	if (n > 0 && s[n - 1] == '\n')
		(*r->r_line)++;
	else if (feof(r->r_f))
		(*r->r_line)++;		/* last line, no newline */
	else if (r->r_toolong == 0)
		r->r_toolong = *r->r_line + 1;
	return (s);
}

/**
 * config_load(path, err): Parse the INI file ${path}.  Return a config
 * (free with config_free), or NULL with a one-line message naming the
 * file, line and key in ${err} (CONFIG_ERR_LEN bytes).
 */
struct config *
config_load(const char *path, char *err)
{
	struct config *cf;
	struct parse p;
	struct reader r;
	size_t i;
	int rc;

	err[0] = '\0';
	if ((cf = calloc(1, sizeof(*cf))) == NULL) {
		snprintf(err, CONFIG_ERR_LEN, "%s: out of memory", path);
		goto err0;
	}
	/* Defaults: loopback only, conservative limits. */
	cf->c_port = 8443;
	cf->c_threads = 16;	/* workers wait on fsyncs: more of them, bigger batches */
	cf->c_max_conns = 256;
	cf->c_max_conns_ip = 32;
	cf->c_idle_timeout = 15;
	cf->c_header_mem = 32 * 1024;
	cf->c_max_body = 1024 * 1024;
	cf->c_checkpoint = 2;
	cf->c_purge_interval = 86400;	/* daily (docs/retention.md) */
	if ((cf->c_listen = strdup("127.0.0.1")) == NULL) {
		snprintf(err, CONFIG_ERR_LEN, "%s: out of memory", path);
		goto err1;
	}

	memset(&p, 0, sizeof(p));
	p.p_cf = cf;
	p.p_path = path;
	p.p_err = err;
	r.r_line = &p.p_line;
	r.r_toolong = 0;
	if ((r.r_f = fopen(path, "re")) == NULL) {
		snprintf(err, CONFIG_ERR_LEN, "%s: cannot open: %s", path,
		    strerror(errno));
		goto err1;
	}
	/* The reader counts a line when it has read its newline. */
	p.p_line = 0;
	rc = ini_parse_stream(read_line, &r, on_value, &p);
	fclose(r.r_f);
	if (r.r_toolong && !p.p_failed) {
		snprintf(err, CONFIG_ERR_LEN, "%s:%d: line too long",
		    path, r.r_toolong);
		goto err1;
	}
	if (rc != 0 && (!p.p_failed || rc < p.p_fail_line)) {
		/* A syntax error inih found itself (no '=' or ']'). */
		snprintf(err, CONFIG_ERR_LEN,
		    "%s:%d: syntax error (expected [section] or key = value)",
		    path, rc);
		goto err1;
	}
	if (p.p_failed)
		goto err1;
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (!is_set(cf, required[i][0], required[i][1])) {
			snprintf(err, CONFIG_ERR_LEN,
			    "%s: missing key '%s' in [%s]", path,
			    required[i][1], required[i][0]);
			goto err1;
		}
	}
	return (cf);

err1:
	config_free(cf);
err0:
	return (NULL);
}

/** config_free(cf): Free ${cf}; NULL is a no-op. */
void
config_free(struct config *cf)
{
	size_t i;

	if (cf == NULL)
		return;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].kind == K_STR)
			free(*(char **)(void *)((char *)cf + keys[i].off));
	free(cf);
}
