#ifndef REFX_LOG_H
#define REFX_LOG_H

/*
 * Logging to stderr with the program name set once in main().
 *
 * The server uses log_*; the CLIs use warnx-style log_warnx as well.
 * WARNING: never pass keys, passphrases or whole tokens; log ids or
 * fingerprints instead.  Untrusted strings are escaped by log_* (control
 * characters become \xNN) so a certificate name cannot forge log lines.
 */
#include <stdarg.h>

#define REFX_PRINTF(a, b) __attribute__((format(printf, a, b)))

/** log_init(progname, verbose): Set the name prefixed to every line. */
void log_init(const char *, int);

/** log_set_timestamps(on): Prefix lines with an ISO-8601 UTC time. */
void log_set_timestamps(int);

void log_warn(const char *, ...) REFX_PRINTF(1, 2);	/* adds errno */
void log_warnx(const char *, ...) REFX_PRINTF(1, 2);
void log_info(const char *, ...) REFX_PRINTF(1, 2);
void log_debug(const char *, ...) REFX_PRINTF(1, 2);
__attribute__((noreturn)) void fatal(const char *, ...) REFX_PRINTF(1, 2);
__attribute__((noreturn)) void fatalx(const char *, ...) REFX_PRINTF(1, 2);

#endif /* !REFX_LOG_H */
