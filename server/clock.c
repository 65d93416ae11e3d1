#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"

static long offset;

/** clock_init(): Read the test offset; return it (0 if unset). */
long
clock_init(void)
{
	const char *v = getenv("REFXD_TEST_CLOCK_OFFSET");
	unsigned long long n;
	char *end;
	int neg;

	if (v == NULL || *v == '\0')
		return (0);
	if ((neg = (*v == '-')))
		v++;
	if (*v < '0' || *v > '9')
		return (0);
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno == 0 && *end == '\0' && n < 3650ULL * 86400)
		offset = neg ? -(long)n : (long)n;
	return (offset);
}

/** clock_now(): The current time. */
time_t
clock_now(void)
{

	return (time(NULL) + offset);
}

/** clock_today(out): Today's date, "YYYY-MM-DD" (UTC). */
void
clock_today(char out[11])
{
	struct tm tm;
	time_t t = clock_now();

	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

/** clock_stamp(out): Now as "YYYY-MM-DDTHH:MM:SSZ" (UTC). */
void
clock_stamp(char out[21])
{
	struct tm tm;
	time_t t = clock_now();

	gmtime_r(&t, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
