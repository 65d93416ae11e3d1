#ifndef REFXD_STORE_H
#define REFXD_STORE_H

/*
 * refxd's SQLite database.  Only store.c includes <sqlite3.h>.
 *
 * A small pool of connections (one per HTTP worker thread), each in WAL
 * mode with synchronous=FULL.  Every request runs inside one store
 * transaction, taken by the pipeline before the handler and committed
 * after it, so that a later audit entry commits atomically with the
 * request's effect and the response leaves only after the commit.
 */
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

#endif /* !REFXD_STORE_H */
