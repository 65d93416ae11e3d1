#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "refx/identity.h"
#include "refx/log.h"

static const char *progname = "refx";
static int verbosity;
static int timestamps;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/** log_init(progname, verbose): Set the name prefixed to every line. */
void
log_init(const char *name, int verbose)
{

	progname = name;
	verbosity = verbose;
}

/** log_set_timestamps(on): Prefix lines with an ISO-8601 UTC time. */
void
log_set_timestamps(int on)
{

	timestamps = on;
}

/* Format, escape control characters, and write one line atomically. */
static void
vlog(const char *level, const char *err, const char *fmt, va_list ap)
{
	char msg[1024], line[4200], ts[32] = "";
	size_t o = 0, left, k, i;
	unsigned long cp;
	const unsigned char *p;
	struct tm tm;
	time_t now;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/*
	 * Escape what could forge a line or reorder a terminal: malformed
	 * UTF-8, C0/C1 controls, line separators, bidirectional controls.
	 */
	p = (const unsigned char *)msg;
	left = strlen(msg);
	while (left > 0 && o + 17 < sizeof(line)) {
		k = refx_utf8_decode(p, left, &cp);
		if (k == 0 || refx_char_forbidden(cp)) {
			if (k == 0)
				k = 1;
			for (i = 0; i < k; i++)
				o += (size_t)snprintf(line + o, sizeof(line) -
				    o, "\\x%02x", p[i]);
		} else {
			memcpy(line + o, p, k);
			o += k;
		}
		p += k;
		left -= k;
	}
	line[o] = '\0';
	if (timestamps) {
		now = time(NULL);
		gmtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	}
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s%s: %s%s%s%s\n", ts, progname, level, line,
	    err ? ": " : "", err ? err : "");
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	char eb[128];
	int saved = errno;

	va_start(ap, fmt);
	vlog("", strerror_r(saved, eb, sizeof(eb)), fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("", NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("", NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (verbosity < 2)
		return;
	va_start(ap, fmt);
	vlog("debug: ", NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	char eb[128];
	int saved = errno;

	va_start(ap, fmt);
	vlog("fatal: ", strerror_r(saved, eb, sizeof(eb)), fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal: ", NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
