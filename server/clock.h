#ifndef REFXD_CLOCK_H
#define REFXD_CLOCK_H

/*
 * The server's notion of now, for consent expiry and record dates.
 * WARNING: for tests only, REFXD_TEST_CLOCK_OFFSET (seconds, may be
 * negative) shifts it; refxd logs a warning at start when it is set.
 * TLS certificate checks always use the real clock.
 */
#include <time.h>

/** clock_init(): Read the test offset; return it (0 if unset). */
long clock_init(void);

/** clock_now(): The current time. */
time_t clock_now(void);

/** clock_today(out): Today's date, "YYYY-MM-DD" (UTC). */
void clock_today(char[11]);

/** clock_stamp(out): Now as "YYYY-MM-DDTHH:MM:SSZ" (UTC). */
void clock_stamp(char[21]);

#endif /* !REFXD_CLOCK_H */
