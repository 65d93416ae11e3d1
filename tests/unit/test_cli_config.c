/*
 * Tests of refx's settings (client/config.c): the INI file, the flags
 * that override it, and the final checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../client/config.h"

struct test_context {
	char	dir[64];
	char	ini[128];	/* dir/config.ini */
	char	ca[128];	/* dir/ca.crt, 0644 */
	char	cert[128];	/* dir/me.crt, 0644 */
	char	key[128];	/* dir/me.key, 0600 */
	char	pass[128];	/* dir/pass, 0600 */
	char	alt[128];	/* dir/alt.key, 0600: for overrides */
	struct cliconf cf;
	char	err[CLICONF_ERR_LEN];
};

/* Write ${text} to ${path} with ${mode}. */
static void
put(const char *path, const char *text, mode_t mode)
{
	FILE *f;

	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* Write the config file from a printf format. */
static void __attribute__((format(printf, 2, 3)))
put_ini(struct test_context *t, const char *fmt, ...)
{
	char text[8192];
	va_list ap;

	va_start(ap, fmt);
	assert_true(vsnprintf(text, sizeof(text), fmt, ap) <
	    (int)sizeof(text));
	va_end(ap);
	put(t->ini, text, 0644);
}

/* A config file with every key, valid. */
static void
put_good(struct test_context *t)
{

	put_ini(t, "# refx settings\n"
	    "[server]\n"
	    "url = https://127.0.0.1:8443\n"
	    "ca = %s\n"
	    "\n"
	    "[identity]\n"
	    "certificate = %s\n"
	    "key = %s\n"
	    "passphrase_file = %s\n", t->ca, t->cert, t->key, t->pass);
}

static int
setup(void **state)
{
	struct test_context *t;

	assert_non_null(t = calloc(1, sizeof(*t)));
	snprintf(t->dir, sizeof(t->dir), "/tmp/test_cli_config.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->ini, sizeof(t->ini), "%s/config.ini", t->dir);
	snprintf(t->ca, sizeof(t->ca), "%s/ca.crt", t->dir);
	snprintf(t->cert, sizeof(t->cert), "%s/me.crt", t->dir);
	snprintf(t->key, sizeof(t->key), "%s/me.key", t->dir);
	snprintf(t->pass, sizeof(t->pass), "%s/pass", t->dir);
	snprintf(t->alt, sizeof(t->alt), "%s/alt.key", t->dir);
	put(t->ca, "CA\n", 0644);
	put(t->cert, "CERT\n", 0644);
	put(t->key, "KEY\n", 0600);
	put(t->pass, "secret\n", 0600);
	put(t->alt, "KEY2\n", 0600);
	cliconf_init(&t->cf);
	*state = t;
	return (0);
}

static int
teardown(void **state)
{
	struct test_context *t = *state;
	const char *f[] = { t->ini, t->ca, t->cert, t->key, t->pass, t->alt };
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		(void)unlink(f[i]);
	assert_int_equal(rmdir(t->dir), 0);
	free(t);
	return (0);
}

/* Assert that ${err} contains ${s}. */
static void
assert_has(const char *err, const char *s)
{

	if (strstr(err, s) == NULL)
		fail_msg("\"%s\" not in \"%s\"", s, err);
}

static void
test_good(void **state)
{
	struct test_context *t = *state;

	put_good(t);
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), 0);
	assert_string_equal(t->cf.cc_url, "https://127.0.0.1:8443");
	assert_string_equal(t->cf.cc_ca, t->ca);
	assert_string_equal(t->cf.cc_cert, t->cert);
	assert_string_equal(t->cf.cc_key, t->key);
	assert_string_equal(t->cf.cc_passfile, t->pass);
	assert_string_equal(t->cf.cc_path, t->ini);
	assert_int_equal(t->cf.cc_line[CLICONF_URL], 3);
	assert_int_equal(t->cf.cc_line[CLICONF_PASSFILE], 9);
	assert_int_equal(cliconf_check(&t->cf, t->err, sizeof(t->err)), 0);
}

static void
test_inline_comment_crlf_bom(void **state)
{
	struct test_context *t = *state;

	put_ini(t, "\xef\xbb\xbf[server]\r\n"
	    "url = https://exchange.example:8443/refx/ ; the exchange\r\n"
	    "ca=%s\r\n"
	    "; comment\r\n"
	    "[identity]\r\n"
	    "certificate : %s\r\n"
	    "key = %s\r\n", t->ca, t->cert, t->key);
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), 0);
	assert_string_equal(t->cf.cc_url,
	    "https://exchange.example:8443/refx/");
	assert_string_equal(t->cf.cc_ca, t->ca);
	assert_string_equal(t->cf.cc_passfile, "");
	assert_int_equal(cliconf_check(&t->cf, t->err, sizeof(t->err)), 0);
}

static void
test_flags_win(void **state)
{
	struct test_context *t = *state;
	static const struct {
		enum cliconf_key k;
		size_t off;
	} keys[] = {
		{ CLICONF_URL, offsetof(struct cliconf, cc_url) },
		{ CLICONF_CA, offsetof(struct cliconf, cc_ca) },
		{ CLICONF_CERT, offsetof(struct cliconf, cc_cert) },
		{ CLICONF_KEY, offsetof(struct cliconf, cc_key) },
		{ CLICONF_PASSFILE, offsetof(struct cliconf, cc_passfile) },
	};
	const char *vals[] = { "https://other.example", t->cert, t->ca,
	    t->alt, t->alt };
	size_t i;

	/* Each flag alone overrides its key and nothing else. */
	put_good(t);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		cliconf_init(&t->cf);
		assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
		    sizeof(t->err)), 0);
		assert_int_equal(cliconf_set(&t->cf, keys[i].k, vals[i],
		    t->err, sizeof(t->err)), 0);
		assert_string_equal((char *)&t->cf + keys[i].off, vals[i]);
		assert_int_equal(t->cf.cc_line[keys[i].k], -1);
		if (keys[i].k != CLICONF_URL)
			assert_string_equal(t->cf.cc_url,
			    "https://127.0.0.1:8443");
		if (keys[i].k != CLICONF_KEY)
			assert_string_equal(t->cf.cc_key, t->key);
		assert_int_equal(cliconf_check(&t->cf, t->err,
		    sizeof(t->err)), 0);
	}
}

static void
test_flags_only(void **state)
{
	struct test_context *t = *state;
	char missing[160];

	/* No file at the default place: flags supply everything. */
	snprintf(missing, sizeof(missing), "%s/nonexistent.ini", t->dir);
	assert_int_equal(cliconf_load(&t->cf, missing, 0, t->err,
	    sizeof(t->err)), 0);
	assert_int_equal(t->cf.cc_found, 0);
	assert_int_equal(cliconf_set(&t->cf, CLICONF_URL, "https://h:1",
	    t->err, sizeof(t->err)), 0);
	assert_int_equal(cliconf_set(&t->cf, CLICONF_CA, t->ca, t->err,
	    sizeof(t->err)), 0);
	assert_int_equal(cliconf_set(&t->cf, CLICONF_CERT, t->cert, t->err,
	    sizeof(t->err)), 0);
	assert_int_equal(cliconf_set(&t->cf, CLICONF_KEY, t->key, t->err,
	    sizeof(t->err)), 0);
	assert_int_equal(cliconf_check(&t->cf, t->err, sizeof(t->err)), 0);

	/* Unless the caller says it must exist. */
	cliconf_init(&t->cf);
	assert_int_equal(cliconf_load(&t->cf, missing, 1, t->err,
	    sizeof(t->err)), -1);
	assert_has(t->err, missing);
	assert_has(t->err, "No such file");
}

static void
test_unknown_key(void **state)
{
	struct test_context *t = *state;
	char where[160];

	put_ini(t, "[server]\n"
	    "url = https://127.0.0.1:8443\n"
	    "\n"
	    "colour = blue\n"
	    "bogus = 1\n");
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), -1);
	snprintf(where, sizeof(where), "%s:4:", t->ini);
	assert_has(t->err, where);
	assert_has(t->err, "'colour'");
	assert_has(t->err, "[server]");
	assert_null(strstr(t->err, "bogus"));
}

static void
test_unknown_section(void **state)
{
	struct test_context *t = *state;
	char where[160];

	put_ini(t, "[server]\nurl = https://a\n[tls]\nca = /x\n");
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), -1);
	snprintf(where, sizeof(where), "%s:4:", t->ini);
	assert_has(t->err, where);
	assert_has(t->err, "[tls]");
	assert_has(t->err, "'ca'");

	/* A key before any section. */
	put_ini(t, "url = https://a\n");
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), -1);
	assert_has(t->err, ":1:");
	assert_has(t->err, "outside any section");

	/* A key of the other section. */
	put_ini(t, "[identity]\nurl = https://a\n");
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), -1);
	assert_has(t->err, ":2: unknown key 'url' in [identity]");
}

static void
test_syntax_error_first(void **state)
{
	struct test_context *t = *state;

	/* inih's own error on line 2 comes before ours on line 3. */
	put_ini(t, "[server]\nno equals sign here\ncolour = blue\n");
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), -1);
	assert_has(t->err, ":2: syntax error");

	/* And the other way round. */
	put_ini(t, "[server]\ncolour = blue\nno equals sign here\n");
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), -1);
	assert_has(t->err, ":2: unknown key 'colour'");
}

static void
test_twice_and_continued(void **state)
{
	struct test_context *t = *state;

	put_ini(t, "[server]\nurl = https://a\nurl = https://b\n");
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), -1);
	assert_has(t->err, ":3: key 'url' in [server] is given twice");

	/* inih would append an indented line to the value. */
	cliconf_init(&t->cf);
	put_ini(t, "[server]\nurl = https://a\n  ca = /etc/x\n");
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), -1);
	assert_has(t->err, ":3: indented line continues 'url'");
}

static void
test_missing_required(void **state)
{
	struct test_context *t = *state;

	put_ini(t, "[server]\nca = %s\n[identity]\ncertificate = %s\n"
	    "key = %s\n", t->ca, t->cert, t->key);
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), 0);
	assert_int_equal(cliconf_check(&t->cf, t->err, sizeof(t->err)), -1);
	assert_has(t->err, "no server URL");
	assert_has(t->err, "'url' in [server]");
	assert_has(t->err, t->ini);
	assert_has(t->err, "--server");

	/* Without any file. */
	cliconf_init(&t->cf);
	assert_int_equal(cliconf_set(&t->cf, CLICONF_URL, "https://a", t->err,
	    sizeof(t->err)), 0);
	assert_int_equal(cliconf_check(&t->cf, t->err, sizeof(t->err)), -1);
	assert_has(t->err, "--ca");
}

static void
test_url_not_https(void **state)
{
	struct test_context *t = *state;
	const char *bad[] = {
		"http://127.0.0.1:8443", "HTTPS://a", "https://", "https:///x",
		"https://user:pw@host", "https://a/?x=1", "https://a/#f",
		"https://a b", "ftp://a",
	};
	size_t i;

	put_good(t);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cliconf_init(&t->cf);
		assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
		    sizeof(t->err)), 0);
		assert_int_equal(cliconf_set(&t->cf, CLICONF_URL, bad[i],
		    t->err, sizeof(t->err)), 0);
		assert_int_equal(cliconf_check(&t->cf, t->err,
		    sizeof(t->err)), -1);
		assert_has(t->err, "server URL");
		assert_has(t->err, "--server");
	}

	/* From the file, the message names file and line. */
	put_ini(t, "[server]\nurl = http://a\nca = %s\n[identity]\n"
	    "certificate = %s\nkey = %s\n", t->ca, t->cert, t->key);
	cliconf_init(&t->cf);
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), 0);
	assert_int_equal(cliconf_check(&t->cf, t->err, sizeof(t->err)), -1);
	assert_has(t->err, "must start with https://");
	assert_has(t->err, ":2");
}

static void
test_key_not_private(void **state)
{
	struct test_context *t = *state;

	put_good(t);
	assert_int_equal(chmod(t->key, 0640), 0);
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), 0);
	assert_int_equal(cliconf_check(&t->cf, t->err, sizeof(t->err)), -1);
	assert_has(t->err, t->key);
	assert_has(t->err, "group or others");
	assert_has(t->err, "'key' in [identity]");

	/* World-writable is as bad; so is a shared passphrase file. */
	assert_int_equal(chmod(t->key, 0602), 0);
	assert_int_equal(cliconf_check(&t->cf, t->err, sizeof(t->err)), -1);
	assert_int_equal(chmod(t->key, 0600), 0);
	assert_int_equal(chmod(t->pass, 0644), 0);
	assert_int_equal(cliconf_check(&t->cf, t->err, sizeof(t->err)), -1);
	assert_has(t->err, t->pass);
	assert_int_equal(chmod(t->pass, 0600), 0);
	assert_int_equal(cliconf_check(&t->cf, t->err, sizeof(t->err)), 0);

	/* A missing key is reported too. */
	assert_int_equal(cliconf_set(&t->cf, CLICONF_KEY, "/nonexistent/k",
	    t->err, sizeof(t->err)), 0);
	assert_int_equal(cliconf_check(&t->cf, t->err, sizeof(t->err)), -1);
	assert_has(t->err, "/nonexistent/k");
	assert_has(t->err, "--key");
}

static void
test_too_long(void **state)
{
	struct test_context *t = *state;
	char big[CLICONF_VALUE_MAX + 2], *text;
	size_t i, n = CLICONF_FILE_MAX + 100;

	/* A line longer than inih's buffer is refused, not split. */
	memset(big, 'a', 300);
	big[300] = '\0';
	put_ini(t, "[server]\nurl = https://%s.example\nca = /x\n", big);
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), -1);
	assert_has(t->err, ":2: line is too long");

	/* Even when the tail would look like a key of its own. */
	memset(big, ' ', 200);
	memcpy(big + 200, "ca=/evil", 9);
	cliconf_init(&t->cf);
	put_ini(t, "[server]\nurl = https://a%s\n", big);
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), -1);
	assert_has(t->err, ":2: line is too long");
	assert_string_equal(t->cf.cc_ca, "");

	/* A flag value over CLICONF_VALUE_MAX. */
	memset(big, 'a', CLICONF_VALUE_MAX + 1);
	big[CLICONF_VALUE_MAX + 1] = '\0';
	assert_int_equal(cliconf_set(&t->cf, CLICONF_CA, big, t->err,
	    sizeof(t->err)), -1);
	assert_has(t->err, "--ca");
	assert_has(t->err, "too long");
	big[CLICONF_VALUE_MAX] = '\0';
	assert_int_equal(cliconf_set(&t->cf, CLICONF_CA, big, t->err,
	    sizeof(t->err)), 0);

	/* An over-long file. */
	assert_non_null(text = malloc(n + 1));
	for (i = 0; i < n; i++)
		text[i] = (i % 50 == 49) ? '\n' : '#';
	text[n] = '\0';
	put(t->ini, text, 0644);
	free(text);
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), -1);
	assert_has(t->err, "larger than");
}

static void
test_bad_values(void **state)
{
	struct test_context *t = *state;

	put_ini(t, "[server]\nurl =\n");
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), -1);
	assert_has(t->err, ":2: key 'url' in [server] is empty");

	cliconf_init(&t->cf);
	put_ini(t, "[server]\nurl = https://a\x01x\n");
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), -1);
	assert_has(t->err, "control character");

	assert_int_equal(cliconf_set(&t->cf, CLICONF_KEY, "", t->err,
	    sizeof(t->err)), -1);
	assert_has(t->err, "--key: value is empty");
}

static void
test_nul_byte(void **state)
{
	struct test_context *t = *state;
	int fd;

	assert_true((fd = open(t->ini, O_WRONLY | O_CREAT | O_TRUNC, 0644))
	    != -1);
	assert_int_equal(write(fd, "[server]\nurl = https://a\0b\n", 27), 27);
	assert_int_equal(close(fd), 0);
	assert_int_equal(cliconf_load(&t->cf, t->ini, 1, t->err,
	    sizeof(t->err)), -1);
	assert_has(t->err, "NUL");
}

static void
test_default_path(void **state)
{
	char buf[256];

	(void)state;
	assert_int_equal(setenv("REFX_CONFIG", "/etc/refx/x.ini", 1), 0);
	assert_int_equal(cliconf_default_path(buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, "/etc/refx/x.ini");
	assert_int_equal(unsetenv("REFX_CONFIG"), 0);
	assert_int_equal(setenv("HOME", "/home/anna", 1), 0);
	assert_int_equal(cliconf_default_path(buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, "/home/anna/.config/refx/config.ini");
	assert_int_equal(cliconf_default_path(buf, 10), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_good),
		T(test_inline_comment_crlf_bom),
		T(test_flags_win),
		T(test_flags_only),
		T(test_unknown_key),
		T(test_unknown_section),
		T(test_syntax_error_first),
		T(test_twice_and_continued),
		T(test_missing_required),
		T(test_url_not_https),
		T(test_key_not_private),
		T(test_too_long),
		T(test_bad_values),
		T(test_nul_byte),
		T(test_default_path),
#undef T
	};

	return (cmocka_run_group_tests_name("cli_config", tests, NULL, NULL));
}
