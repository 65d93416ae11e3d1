/*
 * Tests of what refx does with hostile server strings before printing
 * them (cmd_escape) and of the HTTP status to exit status table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "../../client/cmd.h"
#include "../../client/net.h"

static void
test_plain(void **state)
{
	char out[64];

	(void)state;
	assert_string_equal(cmd_escape(out, sizeof(out), "Anna Berg"),
	    "Anna Berg");
	assert_string_equal(cmd_escape(out, sizeof(out),
	    "\xc3\x85sa \xc3\x96" "berg"), "\xc3\x85sa \xc3\x96" "berg");
	assert_string_equal(cmd_escape(out, sizeof(out), ""), "");
	assert_string_equal(cmd_escape(out, sizeof(out), "a\\b"), "a\\\\b");
}

static void
test_controls(void **state)
{
	char out[128];

	(void)state;
	/* C0, DEL, C1 (U+009B CSI), bidi override, line separator. */
	assert_string_equal(cmd_escape(out, sizeof(out), "a\x1b[2Jb\n\x7f"),
	    "a\\x1b[2Jb\\x0a\\x7f");
	assert_string_equal(cmd_escape(out, sizeof(out), "x\xc2\x9b" "1m"),
	    "x\\xc2\\x9b1m");
	assert_string_equal(cmd_escape(out, sizeof(out), "ab\xe2\x80\xae" "c"),
	    "ab\\xe2\\x80\\xaec");
	assert_string_equal(cmd_escape(out, sizeof(out), "\xe2\x80\xa8"),
	    "\\xe2\\x80\\xa8");
}

static void
test_malformed_utf8(void **state)
{
	char out[128];

	(void)state;
	/* Lone continuation, overlong '/', surrogate, truncated sequence. */
	assert_string_equal(cmd_escape(out, sizeof(out), "\x80"), "\\x80");
	assert_string_equal(cmd_escape(out, sizeof(out), "\xc0\xaf"),
	    "\\xc0\\xaf");
	assert_string_equal(cmd_escape(out, sizeof(out), "\xed\xa0\x80"),
	    "\\xed\\xa0\\x80");
	assert_string_equal(cmd_escape(out, sizeof(out), "a\xe2\x82"),
	    "a\\xe2\\x82");
}

static void
test_truncation(void **state)
{
	char out[8], big[4 * 16 + 1];
	const char *in = "\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f\x10\x11"
	    "\x12\x13\x14\x15";

	(void)state;
	/* Never cut inside a character or an escape; mark the cut. */
	assert_string_equal(cmd_escape(out, sizeof(out), "abcdefghij"),
	    "abcd...");
	assert_string_equal(cmd_escape(out, sizeof(out), "ab\x1b" "cdef"),
	    "ab...");
	assert_string_equal(cmd_escape(out, sizeof(out),
	    "\xc3\x85\xc3\x85\xc3\x85\xc3\x85"), "\xc3\x85\xc3\x85...");
	assert_string_equal(cmd_escape(out, sizeof(out), "abcdefg"),
	    "abcdefg");
	assert_string_equal(cmd_escape(out, 3, "abcdefg"), "");

	/* 4 * strlen + 1 always fits. */
	cmd_escape(big, sizeof(big), in);
	assert_int_equal(strlen(big), 4 * 16);
	assert_null(strstr(big, "..."));
}

/* What cmd_print_lines writes for ${s}, indented by ${indent}. */
static char *
lines_of(int indent, const char *s)
{
	char *out = NULL;
	size_t len = 0;
	FILE *fp;

	assert_non_null(fp = open_memstream(&out, &len));
	cmd_print_lines(fp, indent, s);
	assert_int_equal(fclose(fp), 0);
	return (out);
}

static void
test_print_lines(void **state)
{
	char *in, *want, *got;
	size_t i, n = 6000;

	(void)state;
	got = lines_of(2, "one\ntwo\x1b[2J\n");
	assert_string_equal(got, "  one\n  two\\x1b[2J\n  \n");
	free(got);

	/*
	 * A line of 6000 two-byte characters (12000 bytes, within the
	 * schema's 8000 characters) is shown whole, never cut inside one.
	 */
	assert_non_null(in = malloc(2 * n + 8));
	assert_non_null(want = malloc(2 * n + 16));
	for (i = 0; i < n; i++)
		memcpy(in + 2 * i, "\xc3\xa5", 2);
	memcpy(in + 2 * n, "\nend", 5);
	memcpy(want, "    ", 4);
	memcpy(want + 4, in, 2 * n);
	memcpy(want + 4 + 2 * n, "\n    end\n", 10);
	got = lines_of(4, in);
	assert_string_equal(got, want);
	free(got);
	free(want);
	free(in);
}

static void
test_status_exit(void **state)
{

	(void)state;
	assert_int_equal(net_status_exit(200), EX_OK);
	assert_int_equal(net_status_exit(204), EX_OK);
	assert_int_equal(net_status_exit(400), EX_DATAERR);
	assert_int_equal(net_status_exit(404), EX_DATAERR);
	assert_int_equal(net_status_exit(413), EX_DATAERR);
	assert_int_equal(net_status_exit(422), EX_DATAERR);
	assert_int_equal(net_status_exit(401), EX_NOPERM);
	assert_int_equal(net_status_exit(403), EX_NOPERM);
	assert_int_equal(net_status_exit(429), EX_TEMPFAIL);
	assert_int_equal(net_status_exit(500), EX_UNAVAILABLE);
	assert_int_equal(net_status_exit(503), EX_UNAVAILABLE);
	assert_int_equal(net_status_exit(302), EX_PROTOCOL);
	assert_int_equal(net_status_exit(0), EX_PROTOCOL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_controls),
		cmocka_unit_test(test_malformed_utf8),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_print_lines),
		cmocka_unit_test(test_status_exit),
	};

	return (cmocka_run_group_tests_name("cli_escape", tests, NULL, NULL));
}
