#ifndef REFXD_STORE_H
#define REFXD_STORE_H

/*
 * refxd's SQLite database.  Only store.c includes <sqlite3.h>.
 *
 * A small pool of connections (one per HTTP worker thread) for reads, in
 * WAL mode.  Every request runs inside one store transaction, taken by
 * the pipeline before the handler and committed after it, so that a
 * later audit entry commits atomically with the request's effect and the
 * response leaves only after the commit.  With group commit (the
 * default), write transactions are savepoints of one SQLite transaction
 * on a writer connection, committed by the last of a burst and fsynced
 * once; store_commit returns only when its batch is committed and on
 * disk, and fails if its batch failed.  Without it (REFXD_GROUP_COMMIT=0)
 * each write commits alone with synchronous=FULL.
 */
#include <stdint.h>

#include "refx/err.h"

struct store;
struct store_tx;

#define STORE_ERR_LEN	256

/**
 * store_open(path, nconns, err): Open or create the database at ${path}
 * with ${nconns} pooled connections, check its integrity and apply any
 * pending migrations.  Return the store or NULL with a message in ${err}.
 */
struct store *store_open(const char *, unsigned, char *);

/** store_close(st): Close every connection; NULL is a no-op. */
void store_close(struct store *);

/** store_fsyncs(st): WAL fsyncs done by group commit so far (0 if off). */
unsigned long store_fsyncs(struct store *);

/** store_schema_version(st): The schema version now in the file. */
int store_schema_version(struct store *);

/**
 * store_begin(st, write, tx): Take a pooled connection and begin a
 * transaction (BEGIN IMMEDIATE if ${write}, so that it never fails
 * half-way with SQLITE_BUSY_SNAPSHOT).  Return REFX_OK, REFX_EUNAVAIL if
 * the database stays busy, or REFX_ESTORE.
 */
enum refx_err store_begin(struct store *, int, struct store_tx **);

/**
 * store_commit(tx): Commit and return the connection to the pool; ${tx}
 * is gone either way.  Return REFX_OK or REFX_ESTORE (rolled back).
 */
enum refx_err store_commit(struct store_tx *);

/** store_rollback(tx): Roll back and release; NULL is a no-op. */
void store_rollback(struct store_tx *);

/** store_ping(tx): A trivial query, for health checks.  REFX_OK or not. */
enum refx_err store_ping(struct store_tx *);

/*
 * Statements, for the server's data modules, without SQLite types.
 * Parameters are always bound, never formatted into SQL.  ${fmt} names
 * each parameter in order: 't' text (const char *, NULL binds NULL),
 * 'b' blob (const void *, size_t), 'i' integer (int64_t).
 */
struct store_stmt;

enum store_step {
	STORE_ROW,
	STORE_DONE,
	STORE_ERROR,
};

/**
 * store_query(tx, sql, fmt, ...): Prepare ${sql} and bind its parameters.
 * Return the statement (finalize it with store_finalize) or NULL (logged).
 */
struct store_stmt *store_query(struct store_tx *, const char *,
    const char *, ...);

/** store_step(st): Advance: STORE_ROW, STORE_DONE or STORE_ERROR. */
enum store_step store_step(struct store_stmt *);

/** store_col_text(st, i): Column ${i} as text, or NULL if NULL. */
const char *store_col_text(struct store_stmt *, int);

/** store_col_blob(st, i, len): Column ${i} as bytes; NULL if empty. */
const void *store_col_blob(struct store_stmt *, int, size_t *);

/** store_col_int(st, i): Column ${i} as an integer. */
int64_t store_col_int(struct store_stmt *, int);

/** store_finalize(st): Free ${st}; NULL is a no-op. */
void store_finalize(struct store_stmt *);

/**
 * store_run(tx, sql, fmt, ...): Run a statement that returns no rows.
 * Return REFX_OK, REFX_EEXIST on a uniqueness or key conflict, or
 * REFX_ESTORE.
 */
enum refx_err store_run(struct store_tx *, const char *, const char *, ...);

/** store_changes(tx): Rows changed by the last statement. */
int store_changes(struct store_tx *);

#endif /* !REFXD_STORE_H */
