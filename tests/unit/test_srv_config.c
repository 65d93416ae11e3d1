/* refxd's INI config: good files load, bad ones name key and line. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../server/config.h"

struct test_context {
	char	path[64];
};

static const char good[] =
    "; refxd test config\n"
    "[server]\n"
    "listen = 127.0.0.1\n"
    "port = 9443\n"
    "user = nobody\n"
    "\n"
    "[tls]\n"
    "certificate = /pki/server.crt\n"
    "key = /pki/server.key\n"
    "ca = /pki/ca.crt\n"
    "crl = /pki/crl.pem\n"
    "[storage]\n"
    "database = /var/lib/refx/refx.db\n"
    "[directory]\n"
    "units = /pki/directory.pem\n"
    "[policy]\n"
    "file = /etc/refx/policy.json\n"
    "[audit]\n"
    "keys = /etc/refx/pki/audit\n"
    "[limits]\n"
    "max_body = 65536\n";

static int
setup(void **state)
{
	struct test_context *tc;
	int fd;

	if ((tc = calloc(1, sizeof(*tc))) == NULL)
		return (-1);
	snprintf(tc->path, sizeof(tc->path), "/tmp/refxd-conf.XXXXXX");
	if ((fd = mkstemp(tc->path)) == -1)
		return (-1);
	close(fd);
	*state = tc;
	return (0);
}

static int
teardown(void **state)
{
	struct test_context *tc = *state;

	unlink(tc->path);
	free(tc);
	return (0);
}

static void
put(const struct test_context *tc, const char *text)
{
	FILE *f;

	assert_non_null(f = fopen(tc->path, "w"));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Load ${text}; expect failure with ${needle} in the message. */
static void
expect_error(const struct test_context *tc, const char *text,
    const char *needle)
{
	char err[CONFIG_ERR_LEN];
	struct config *cf;

	put(tc, text);
	cf = config_load(tc->path, err);
	if (cf != NULL || strstr(err, needle) == NULL)
		fail_msg("expected error containing \"%s\", got \"%s\"",
		    needle, cf ? "(loaded)" : err);
}

static void
good_file_loads_with_defaults(void **state)
{
	struct test_context *tc = *state;
	char err[CONFIG_ERR_LEN];
	struct config *cf;

	put(tc, good);
	assert_non_null(cf = config_load(tc->path, err));
	assert_string_equal(cf->c_listen, "127.0.0.1");
	assert_int_equal(cf->c_port, 9443);
	assert_string_equal(cf->c_user, "nobody");
	assert_string_equal(cf->c_crl, "/pki/crl.pem");
	assert_int_equal(cf->c_max_body, 65536);
	/* Unset limits keep their defaults. */
	assert_int_equal(cf->c_max_conns, 256);
	assert_int_equal(cf->c_header_mem, 32 * 1024);
	config_free(cf);
	config_free(NULL);
}

static void
unknown_key_named_with_line(void **state)
{
	char text[sizeof(good) + 64];

	snprintf(text, sizeof(text), "%s%s", good, "colour = blue\n");
	expect_error(*state, text, ":22: unknown key 'colour' in [limits]");
}

static void
unknown_section_key_named(void **state)
{
	char text[sizeof(good) + 64];

	snprintf(text, sizeof(text), "%s%s", good, "[extra]\nfoo = 1\n");
	expect_error(*state, text, ":23: unknown key 'foo' in [extra]");
}

static void
numbers_are_checked(void **state)
{
	struct test_context *tc = *state;
	char text[sizeof(good) + 64];

	snprintf(text, sizeof(text), "%s%s", good, "idle_timeout = 0\n");
	expect_error(tc, text, ":22: 'idle_timeout' in [limits] must be");
	snprintf(text, sizeof(text), "%s%s", good, "connections = 12abc\n");
	expect_error(tc, text, ":22: 'connections'");
	snprintf(text, sizeof(text), "%s%s", good, "connections = -1\n");
	expect_error(tc, text, ":22: 'connections'");
	snprintf(text, sizeof(text), "%s%s", good,
	    "max_body = 99999999999999999999999\n");
	expect_error(tc, text, ":22: 'max_body'");
}

static void
missing_required_key_named(void **state)
{
	char text[sizeof(good)];
	char *p;

	snprintf(text, sizeof(text), "%s", good);
	p = strstr(text, "crl = /pki/crl.pem\n");
	assert_non_null(p);
	memmove(p, p + strlen("crl = /pki/crl.pem\n"),
	    strlen(p + strlen("crl = /pki/crl.pem\n")) + 1);
	expect_error(*state, text, "missing key 'crl' in [tls]");
}

static void
syntax_errors_and_empty_values(void **state)
{
	struct test_context *tc = *state;

	expect_error(tc, "[server\nport = 1\n", ":1: syntax error");
	expect_error(tc, "[server]\nport\n", ":2: syntax error");
	expect_error(tc, "[server]\nuser =\n", ":2: 'user' in [server] is "
	    "empty");
	expect_error(tc, "port = 1\n", ":1: key 'port' outside any section");
}

static void
overlong_line_refused(void **state)
{
	char text[600];

	memset(text, 'x', sizeof(text));
	memcpy(text, "[tls]\nca = ", 11);
	text[sizeof(text) - 2] = '\n';
	text[sizeof(text) - 1] = '\0';
	expect_error(*state, text, ":2: line too long");
}

static void
missing_file_is_an_error(void **state)
{
	char err[CONFIG_ERR_LEN];

	(void)state;
	assert_null(config_load("/nonexistent/refxd.ini", err));
	assert_non_null(strstr(err, "cannot open"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(good_file_loads_with_defaults,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_key_named_with_line,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_section_key_named,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(numbers_are_checked, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(missing_required_key_named,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(syntax_errors_and_empty_values,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(overlong_line_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(missing_file_is_an_error, setup,
		    teardown),
	};

	return (cmocka_run_group_tests_name("refxd config", tests, NULL,
	    NULL));
}
