/* Capped buffers: nothing fed by a peer may grow without bound. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "refx/buf.h"

static void
append_within_cap(void **state)
{
	struct refx_buf b;
	uint8_t *p;
	size_t len;
	int i;

	(void)state;
	refx_buf_init(&b, 1000);
	for (i = 0; i < 100; i++)
		assert_int_equal(refx_buf_add(&b, "0123456789", 10), 0);
	assert_int_equal(b.b_len, 1000);
	assert_int_equal(b.b_data[1000], '\0');
	p = refx_buf_take(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 1000);
	assert_memory_equal(p + 990, "0123456789", 10);
	assert_null(b.b_data);
	free(p);
	refx_buf_free(&b);
}

static void
cap_is_enforced_and_nothing_partial(void **state)
{
	struct refx_buf b;

	(void)state;
	refx_buf_init(&b, 8);
	assert_int_equal(refx_buf_addstr(&b, "12345"), 0);
	errno = 0;
	assert_int_equal(refx_buf_addstr(&b, "6789"), -1);
	assert_int_equal(errno, EFBIG);
	assert_int_equal(b.b_len, 5);		/* nothing appended */
	assert_string_equal((char *)b.b_data, "12345");
	assert_int_equal(refx_buf_addstr(&b, "678"), 0);
	assert_int_equal(refx_buf_add(&b, "x", 1), -1);
	/* A huge length must not wrap around the check. */
	assert_int_equal(refx_buf_add(&b, "x", SIZE_MAX), -1);
	refx_buf_free(&b);
}

static void
reset_and_free_are_safe(void **state)
{
	struct refx_buf b;
	uint8_t *p;
	size_t len = 99;

	(void)state;
	refx_buf_init(&b, 16);
	refx_buf_reset(&b);
	refx_buf_free(&b);
	refx_buf_free(&b);			/* twice is harmless */
	refx_buf_free(NULL);
	refx_buf_init(&b, 16);
	p = refx_buf_take(&b, &len);		/* empty take: "" */
	assert_non_null(p);
	assert_int_equal(len, 0);
	assert_int_equal(p[0], '\0');
	free(p);
	assert_int_equal(refx_buf_addstr(&b, "secret"), 0);
	refx_buf_reset(&b);
	assert_int_equal(b.b_len, 0);
	assert_int_equal(b.b_data[0], '\0');
	assert_int_equal(b.b_data[1], '\0');	/* wiped, not just cut */
	refx_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(append_within_cap),
		cmocka_unit_test(cap_is_enforced_and_nothing_partial),
		cmocka_unit_test(reset_and_free_are_safe),
	};

	return (cmocka_run_group_tests_name("buf", tests, NULL, NULL));
}
