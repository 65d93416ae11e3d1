/*
 * The store's write path under concurrency: batched savepoints commit
 * every acknowledged write and nothing that was rolled back, one
 * request's failure never fails its batch-mates, and a batch shares its
 * fsync.  Real SQLite files in a temporary folder.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../server/store.h"

#define THREADS		8
#define PER_THREAD	200

struct ctx {
	char		 dir[64];
	char		 path[96];
	struct store	*st;
};

static int
setup(void **state)
{
	struct ctx *c;
	char err[STORE_ERR_LEN];

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (-1);
	snprintf(c->dir, sizeof(c->dir), "/tmp/refx-store.XXXXXX");
	if (mkdtemp(c->dir) == NULL)
		return (-1);
	snprintf(c->path, sizeof(c->path), "%s/refx.db", c->dir);
	if ((c->st = store_open(c->path, THREADS, err)) == NULL) {
		print_error("store_open: %s\n", err);
		return (-1);
	}
	*state = c;
	return (0);
}

static int
teardown(void **state)
{
	struct ctx *c = *state;
	char p[128];

	store_close(c->st);
	snprintf(p, sizeof(p), "%s-wal", c->path);
	(void)unlink(p);
	snprintf(p, sizeof(p), "%s-shm", c->path);
	(void)unlink(p);
	(void)unlink(c->path);
	(void)rmdir(c->dir);
	free(c);
	return (0);
}

/* Rows of meta whose key starts with ${prefix}. */
static int64_t
count_keys(struct store *st, const char *prefix)
{
	struct store_tx *tx;
	struct store_stmt *q;
	int64_t n = -1;

	assert_int_equal(store_begin(st, 0, &tx), REFX_OK);
	q = store_query(tx, "SELECT count(*) FROM meta WHERE key LIKE ? || "
	    "'%'", "t", prefix);
	if (q != NULL && store_step(q) == STORE_ROW)
		n = store_col_int(q, 0);
	store_finalize(q);
	store_rollback(tx);
	return (n);
}

struct worker {
	struct store	*w_st;
	int		 w_id;
	int		 w_acked;	/* commits that returned REFX_OK */
	int		 w_failed;	/* a commit that did not */
};

/*
 * Each worker writes PER_THREAD rows, each in its own write transaction;
 * every third one it also tries a duplicate key (refused, rolled back)
 * and every fifth it rolls a write back on purpose.
 */
static void *
writer(void *cookie)
{
	struct worker *w = cookie;
	struct store_tx *tx;
	char key[64];
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		if (store_begin(w->w_st, 1, &tx) != REFX_OK) {
			w->w_failed++;
			continue;
		}
		snprintf(key, sizeof(key), "ok-%d-%d", w->w_id, i);
		if (store_run(tx, "INSERT INTO meta (key, value) VALUES (?, "
		    "'v')", "t", key) != REFX_OK) {
			store_rollback(tx);
			w->w_failed++;
			continue;
		}
		if (store_commit(tx) == REFX_OK)
			w->w_acked++;
		else
			w->w_failed++;

		if (i % 3 == 0 && store_begin(w->w_st, 1, &tx) == REFX_OK) {
			/* created_at exists: a constraint error. */
			if (store_run(tx, "INSERT INTO meta (key, value) VALUES "
			    "('created_at', 'x')", "") == REFX_EEXIST)
				store_rollback(tx);
			else {
				store_rollback(tx);
				w->w_failed++;
			}
		}
		if (i % 5 == 0 && store_begin(w->w_st, 1, &tx) == REFX_OK) {
			snprintf(key, sizeof(key), "gone-%d-%d", w->w_id, i);
			(void)store_run(tx, "INSERT INTO meta (key, value) "
			    "VALUES (?, 'v')", "t", key);
			store_rollback(tx);
		}
	}
	return (NULL);
}

static void
concurrent_writers_keep_exactly_what_was_acknowledged(void **state)
{
	struct ctx *c = *state;
	struct worker w[THREADS];
	pthread_t t[THREADS];
	unsigned long fs0, fs1;
	char err[STORE_ERR_LEN];
	int i, acked = 0;

	fs0 = store_fsyncs(c->st);
	for (i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ c->st, i, 0, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, writer, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].w_failed, 0);
		acked += w[i].w_acked;
	}
	fs1 = store_fsyncs(c->st);
	assert_int_equal(acked, THREADS * PER_THREAD);
	assert_int_equal(count_keys(c->st, "ok-"), acked);
	assert_int_equal(count_keys(c->st, "gone-"), 0);
	/* Group commit: far fewer fsyncs than commits (each is one). */
	print_message("# %d commits, %lu WAL fsyncs\n", acked, fs1 - fs0);
	assert_true(fs1 - fs0 > 0);
	assert_true(fs1 - fs0 < (unsigned long)acked);

	/* And it is all on disk: a fresh open sees the same. */
	store_close(c->st);
	assert_non_null(c->st = store_open(c->path, 2, err));
	assert_int_equal(count_keys(c->st, "ok-"), acked);
	assert_int_equal(count_keys(c->st, "gone-"), 0);
}

/* A write reads what earlier writes of its batch wrote, in order. */
static void
writes_see_earlier_writes(void **state)
{
	struct ctx *c = *state;
	struct store_tx *tx;
	struct store_stmt *q;

	assert_int_equal(store_begin(c->st, 1, &tx), REFX_OK);
	assert_int_equal(store_run(tx, "INSERT INTO meta (key, value) VALUES "
	    "('seq', '1')", ""), REFX_OK);
	assert_int_equal(store_commit(tx), REFX_OK);
	assert_int_equal(store_begin(c->st, 1, &tx), REFX_OK);
	assert_int_equal(store_run(tx, "UPDATE meta SET value = value + 1 "
	    "WHERE key = 'seq'", ""), REFX_OK);
	assert_int_equal(store_changes(tx), 1);
	q = store_query(tx, "SELECT value FROM meta WHERE key = 'seq'", "");
	assert_non_null(q);
	assert_int_equal(store_step(q), STORE_ROW);
	assert_string_equal(store_col_text(q, 0), "2");
	store_finalize(q);
	/* The same statement again: from the cache, reset, rebound. */
	q = store_query(tx, "SELECT value FROM meta WHERE key = 'seq'", "");
	assert_non_null(q);
	assert_int_equal(store_step(q), STORE_ROW);
	assert_string_equal(store_col_text(q, 0), "2");
	store_finalize(q);
	store_rollback(tx);
	assert_int_equal(store_begin(c->st, 0, &tx), REFX_OK);
	q = store_query(tx, "SELECT value FROM meta WHERE key = 'seq'", "");
	assert_non_null(q);
	assert_int_equal(store_step(q), STORE_ROW);
	assert_string_equal(store_col_text(q, 0), "1");	/* rolled back */
	store_finalize(q);
	store_rollback(tx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    concurrent_writers_keep_exactly_what_was_acknowledged,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(writes_see_earlier_writes,
		    setup, teardown),
	};

	return (cmocka_run_group_tests_name("refxd store", tests, NULL,
	    NULL));
}
