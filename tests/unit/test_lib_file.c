/* Files: atomic writes with exact modes, bounded reads. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "refx/file.h"

struct test_context {
	char	dir[64];
	char	path[128];
};

static int
setup(void **state)
{
	struct test_context *tc;

	if ((tc = calloc(1, sizeof(*tc))) == NULL)
		return (-1);
	snprintf(tc->dir, sizeof(tc->dir), "/tmp/refx-file.XXXXXX");
	if (mkdtemp(tc->dir) == NULL)
		return (-1);
	snprintf(tc->path, sizeof(tc->path), "%s/f", tc->dir);
	*state = tc;
	return (0);
}

static int
teardown(void **state)
{
	struct test_context *tc = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tc->dir);
	if (system(cmd) != 0)
		return (-1);
	free(tc);
	return (0);
}

static void
write_sets_mode_despite_umask(void **state)
{
	struct test_context *tc = *state;
	struct stat sb;
	mode_t old;

	old = umask(0);
	assert_int_equal(refx_file_write(tc->path, "k", 1, 0600, 0), 0);
	umask(old);
	assert_int_equal(stat(tc->path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(refx_file_check_private(tc->path), 0);
	assert_int_equal(chmod(tc->path, 0640), 0);
	errno = 0;
	assert_int_equal(refx_file_check_private(tc->path), -1);
	assert_int_equal(errno, EPERM);
}

static void
exclusive_write_never_replaces(void **state)
{
	struct test_context *tc = *state;
	uint8_t *data;
	size_t len;

	assert_int_equal(refx_file_write(tc->path, "first", 5, 0600, 1), 0);
	errno = 0;
	assert_int_equal(refx_file_write(tc->path, "second", 6, 0600, 1), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(refx_file_read(tc->path, 100, &data, &len), 0);
	assert_int_equal(len, 5);
	assert_string_equal((char *)data, "first");
	free(data);
	/* Non-exclusive replaces atomically. */
	assert_int_equal(refx_file_write(tc->path, "second", 6, 0644, 0), 0);
	assert_int_equal(refx_file_read(tc->path, 100, &data, &len), 0);
	assert_string_equal((char *)data, "second");
	free(data);
}

static void
read_is_bounded(void **state)
{
	struct test_context *tc = *state;
	uint8_t *data = NULL;
	size_t len;
	char big[10000];

	memset(big, 'z', sizeof(big));
	assert_int_equal(refx_file_write(tc->path, big, sizeof(big), 0600, 0),
	    0);
	errno = 0;
	assert_int_equal(refx_file_read(tc->path, 9999, &data, &len), -1);
	assert_int_equal(errno, EFBIG);
	assert_int_equal(refx_file_read(tc->path, 10000, &data, &len), 0);
	assert_int_equal(len, 10000);
	free(data);
	/* Directories and missing files are errors, not empty reads. */
	assert_int_equal(refx_file_read(tc->dir, 100, &data, &len), -1);
	assert_int_equal(refx_file_read("/nonexistent/x", 100, &data, &len),
	    -1);
}

static void
mkdir_p_creates_parents(void **state)
{
	struct test_context *tc = *state;
	char deep[160];
	struct stat sb;

	snprintf(deep, sizeof(deep), "%s/a/b/c", tc->dir);
	assert_int_equal(refx_mkdir_p(deep, 0700), 0);
	assert_int_equal(stat(deep, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(refx_mkdir_p(deep, 0700), 0);	/* idempotent */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(write_sets_mode_despite_umask,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(exclusive_write_never_replaces,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(read_is_bounded, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(mkdir_p_creates_parents, setup,
		    teardown),
	};

	return (cmocka_run_group_tests_name("file", tests, NULL, NULL));
}
