#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "refx/log.h"

#include "store.h"

#define BUSY_TIMEOUT_MS	5000

struct store_tx {
	struct store	*tx_store;
	sqlite3		*tx_db;
	unsigned	 tx_slot;
};

struct store {
	pthread_mutex_t	 st_lock;
	pthread_cond_t	 st_free;
	sqlite3		**st_db;
	struct store_tx	*st_tx;		/* one per connection */
	int		*st_busy;
	unsigned	 st_n;
	int		 st_version;
};

/*
 * Migrations, applied in order, each in its own transaction together
 * with the row that records it.  Never edit a shipped entry: add one.
 */
static const char *const migrations[] = {
	/* 1: bookkeeping */
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL"
	") STRICT;"
	"INSERT INTO meta(key, value) VALUES ('created_at',"
	"  strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));",
};

/* Per-connection settings: durability, safety, waiting on locks. */
static const char conn_pragmas[] =
    "PRAGMA synchronous = FULL;"
    "PRAGMA foreign_keys = ON;"
    "PRAGMA trusted_schema = OFF;"
    "PRAGMA secure_delete = ON;";

/* Run SQL with no parameters (never with data from a request). */
static int
exec_sql(sqlite3 *db, const char *sql, char *err, const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, STORE_ERR_LEN, "%s: %s", what,
		    msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return (-1);
	}
	return (0);
}

/* Read one integer from a parameterless query. */
static int
query_int(sqlite3 *db, const char *sql, int *out)
{
	sqlite3_stmt *st;
	int rc = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return (-1);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		rc = 0;
	}
	sqlite3_finalize(st);
	return (rc);
}

/* Open one connection with the settings every connection needs. */
static sqlite3 *
open_conn(const char *path, char *err)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX |
	    SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, STORE_ERR_LEN, "[storage] database: %s: %s",
		    path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto err1;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	if (exec_sql(db, conn_pragmas, err, "[storage] database"))
		goto err1;
	return (db);

err1:
	sqlite3_close(db);
	return (NULL);
}

/* Check the file, switch it to WAL and bring the schema up to date. */
static int
prepare_file(sqlite3 *db, int *version, char *err)
{
	char journal[16] = "";
	sqlite3_stmt *st;
	int ok = 0, v = 0, i;
	char sql[128];

	/* A corrupt file is refused, not "repaired" by writing to it. */
	if (sqlite3_prepare_v2(db, "PRAGMA quick_check;", -1, &st, NULL) ==
	    SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			ok = strcmp((const char *)sqlite3_column_text(st, 0),
			    "ok") == 0;
		sqlite3_finalize(st);
	}
	if (!ok) {
		snprintf(err, STORE_ERR_LEN,
		    "[storage] database: integrity check failed: %s",
		    sqlite3_errmsg(db));
		return (-1);
	}
	/* WAL mode is persistent in the file. */
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL;", -1, &st,
	    NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(journal, sizeof(journal), "%s",
			    (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	if (strcmp(journal, "wal") != 0) {
		snprintf(err, STORE_ERR_LEN,
		    "[storage] database: cannot switch to WAL mode");
		return (-1);
	}
	if (exec_sql(db, "CREATE TABLE IF NOT EXISTS schema_version ("
	    "  version INTEGER PRIMARY KEY,"
	    "  applied_at TEXT NOT NULL"
	    ") STRICT;", err, "[storage] database"))
		return (-1);
	if (query_int(db, "SELECT coalesce(max(version), 0) "
	    "FROM schema_version;", &v)) {
		snprintf(err, STORE_ERR_LEN, "[storage] database: %s",
		    sqlite3_errmsg(db));
		return (-1);
	}
	if (v > (int)(sizeof(migrations) / sizeof(migrations[0]))) {
		snprintf(err, STORE_ERR_LEN, "[storage] database: schema "
		    "version %d is newer than this refxd (%zu)", v,
		    sizeof(migrations) / sizeof(migrations[0]));
		return (-1);
	}
	for (i = v; i < (int)(sizeof(migrations) / sizeof(migrations[0]));
	    i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO schema_version VALUES "
		    "(%d, strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now'));",
		    i + 1);
		if (exec_sql(db, "BEGIN IMMEDIATE;", err, "migration") ||
		    exec_sql(db, migrations[i], err, "migration") ||
		    exec_sql(db, sql, err, "migration") ||
		    exec_sql(db, "COMMIT;", err, "migration")) {
			(void)sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
			return (-1);
		}
		log_info("store: applied migration %d", i + 1);
	}
	*version = i;
	return (0);
}

/** store_open(path, nconns, err): Open the database and its pool. */
struct store *
store_open(const char *path, unsigned nconns, char *err)
{
	struct store *st;
	unsigned i;

	if (nconns == 0)
		nconns = 1;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		goto enomem0;
	if ((st->st_db = calloc(nconns, sizeof(*st->st_db))) == NULL ||
	    (st->st_tx = calloc(nconns, sizeof(*st->st_tx))) == NULL ||
	    (st->st_busy = calloc(nconns, sizeof(*st->st_busy))) == NULL)
		goto enomem1;
	if (pthread_mutex_init(&st->st_lock, NULL))
		goto enomem1;
	if (pthread_cond_init(&st->st_free, NULL))
		goto enomem2;
	st->st_n = nconns;
	for (i = 0; i < nconns; i++) {
		if ((st->st_db[i] = open_conn(path, err)) == NULL)
			goto err3;
		if (i == 0 && prepare_file(st->st_db[0], &st->st_version, err))
			goto err3;
		/*
		 * Touch the file now, so each connection opens the WAL and
		 * shared-memory files before privileges are dropped.
		 */
		if (query_int(st->st_db[i], "SELECT count(*) FROM "
		    "schema_version;", &(int){ 0 })) {
			snprintf(err, STORE_ERR_LEN, "[storage] database: %s",
			    sqlite3_errmsg(st->st_db[i]));
			goto err3;
		}
		st->st_tx[i].tx_store = st;
		st->st_tx[i].tx_db = st->st_db[i];
		st->st_tx[i].tx_slot = i;
	}
	return (st);

err3:
	store_close(st);
	return (NULL);
enomem2:
	pthread_mutex_destroy(&st->st_lock);
enomem1:
	free(st->st_busy);
	free(st->st_tx);
	free(st->st_db);
	free(st);
enomem0:
	snprintf(err, STORE_ERR_LEN, "out of memory");
	return (NULL);
}

/** store_close(st): Close every connection; NULL is a no-op. */
void
store_close(struct store *st)
{
	unsigned i;

	if (st == NULL)
		return;
	for (i = 0; i < st->st_n; i++)
		sqlite3_close(st->st_db[i]);
	pthread_cond_destroy(&st->st_free);
	pthread_mutex_destroy(&st->st_lock);
	free(st->st_busy);
	free(st->st_tx);
	free(st->st_db);
	free(st);
}

/** store_schema_version(st): The schema version now in the file. */
int
store_schema_version(struct store *st)
{

	return (st->st_version);
}

/* Take a free connection, waiting for one if all are in use. */
static struct store_tx *
acquire(struct store *st)
{
	unsigned i;

	pthread_mutex_lock(&st->st_lock);
	for (;;) {
		for (i = 0; i < st->st_n; i++)
			if (!st->st_busy[i])
				break;
		if (i < st->st_n)
			break;
		pthread_cond_wait(&st->st_free, &st->st_lock);
	}
	st->st_busy[i] = 1;
	pthread_mutex_unlock(&st->st_lock);
	return (&st->st_tx[i]);
}

static void
release(struct store_tx *tx)
{
	struct store *st = tx->tx_store;

	pthread_mutex_lock(&st->st_lock);
	st->st_busy[tx->tx_slot] = 0;
	pthread_cond_signal(&st->st_free);
	pthread_mutex_unlock(&st->st_lock);
}

/** store_begin(st, write, tx): Take a connection and begin. */
enum refx_err
store_begin(struct store *st, int write, struct store_tx **txp)
{
	struct store_tx *tx;
	int rc;

	tx = acquire(st);
	rc = sqlite3_exec(tx->tx_db, write ? "BEGIN IMMEDIATE;" : "BEGIN;",
	    NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		log_warnx("store: begin: %s", sqlite3_errmsg(tx->tx_db));
		release(tx);
		return ((rc & 0xff) == SQLITE_BUSY ? REFX_EUNAVAIL :
		    REFX_ESTORE);
	}
	*txp = tx;
	return (REFX_OK);
}

/** store_commit(tx): Commit and release.  REFX_OK or REFX_ESTORE. */
enum refx_err
store_commit(struct store_tx *tx)
{

	if (sqlite3_exec(tx->tx_db, "COMMIT;", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		log_warnx("store: commit: %s", sqlite3_errmsg(tx->tx_db));
		(void)sqlite3_exec(tx->tx_db, "ROLLBACK;", NULL, NULL, NULL);
		release(tx);
		return (REFX_ESTORE);
	}
	release(tx);
	return (REFX_OK);
}

/** store_rollback(tx): Roll back and release; NULL is a no-op. */
void
store_rollback(struct store_tx *tx)
{

	if (tx == NULL)
		return;
	(void)sqlite3_exec(tx->tx_db, "ROLLBACK;", NULL, NULL, NULL);
	release(tx);
}

/** store_ping(tx): A trivial query, for health checks. */
enum refx_err
store_ping(struct store_tx *tx)
{
	int v;

	if (query_int(tx->tx_db, "SELECT count(*) FROM schema_version;", &v))
		return (REFX_ESTORE);
	return (v > 0 ? REFX_OK : REFX_ESTORE);
}
