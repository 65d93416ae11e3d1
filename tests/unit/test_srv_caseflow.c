/* The follow-up due date: calendar months, clamped to the month's end. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>

#include "../../server/cases.h"

static void
due(const char *from, unsigned months, const char *want)
{
	char out[11];

	case_due_date(from, months, out);
	assert_string_equal(out, want);
}

static void
due_dates(void **state)
{

	(void)state;
	due("2026-11-23T21:00:00Z", 12, "2027-11-23");
	due("2026-11-23", 1, "2026-12-23");
	due("2026-12-15", 1, "2027-01-15");		/* over the year */
	due("2026-01-31", 1, "2026-02-28");		/* clamped */
	due("2027-01-31", 13, "2028-02-29");		/* leap year */
	due("2028-02-29", 12, "2029-02-28");		/* from a leap day */
	due("2100-01-31", 1, "2100-02-28");		/* not a leap year */
	due("2000-01-31", 1, "2000-02-29");		/* but this one is */
	due("2026-03-31", 1, "2026-04-30");
	due("2026-05-05", 120, "2036-05-05");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(due_dates),
	};

	return (cmocka_run_group_tests_name("refxd case flow", tests, NULL,
	    NULL));
}
