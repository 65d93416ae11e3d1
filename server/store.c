#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "refx/log.h"

#include "store.h"

#define BUSY_TIMEOUT_MS	5000
#define STMT_CACHE	128	/* prepared statements kept per connection */
#define CHECKPOINT_NAP_MS	200

/*
 * A prepared statement kept for reuse: parsing SQL was a quarter of a
 * request's CPU time (docs/performance.md).  Keyed by the SQL text.
 */
struct cached_stmt {
	char		*cs_sql;	/* owned copy; NULL: free slot */
	sqlite3_stmt	*cs_stmt;
	int		 cs_busy;	/* handed out, not yet finalized */
};

struct store_tx {
	struct store		*tx_store;
	sqlite3			*tx_db;
	unsigned		 tx_slot;
	int			 tx_write;	/* holds st_write */
	uint64_t		 tx_batch;	/* the batch it is part of */
	struct cached_stmt	 tx_cache[STMT_CACHE];
};

#define BATCH_MAX	64	/* requests in one write transaction */
#define BATCH_RING	256	/* batches whose outcome is remembered */

struct store {
	pthread_mutex_t	 st_lock;
	pthread_cond_t	 st_free;

	/*
	 * Writers of this process queue here rather than in SQLite's busy
	 * handler, whose sleeps (1, 2, 5 ... 25 ms) left the write lock
	 * idle between writers.  Other processes (refxd --purge) still meet
	 * the busy timeout.
	 */
	pthread_mutex_t	 st_write;

	/*
	 * Batched writes (with group commit): the write transactions of
	 * concurrent requests run one after another as savepoints of one
	 * SQLite transaction on the writer connection, committed by the
	 * last of a burst (or the BATCH_MAXth); each waits for its batch's
	 * commit and then for the WAL fsync before it answers.  One commit
	 * writes the pages the batch shares (the audit logs' tree, their
	 * sizes) once instead of once per request.  Under st_batch_lock.
	 */
	struct store_tx	 st_writer;
	int		 st_batched;	/* on: group commit runs */
	pthread_mutex_t	 st_batch_lock;
	pthread_cond_t	 st_batch_cv;
	unsigned	 st_writers_waiting;
	int		 st_batch_open;	/* BEGIN done on the writer */
	unsigned	 st_batch_n;	/* requests in the open batch */
	uint64_t	 st_batch_id;	/* the open (or last) batch */
	uint64_t	 st_batch_done;	/* batches ended, in order */
	uint64_t	 st_batch_failed[BATCH_RING];	/* ids that failed */

	/*
	 * Group commit: connections commit with synchronous=NORMAL (the WAL
	 * is written, not yet synced); a committer then waits until the sync
	 * thread has fsynced the WAL past its commit.  One fsync serves
	 * every commit that arrived meanwhile, and no response leaves
	 * before its commit is on disk.
	 */
	int		 st_wal_fd;	/* -1: plain synchronous=FULL */
	pthread_t	 st_syncer;
	pthread_mutex_t	 st_sync_lock;
	pthread_cond_t	 st_sync_work;
	pthread_cond_t	 st_sync_done;
	uint64_t	 st_committed;	/* commits done, under st_sync_lock */
	uint64_t	 st_synced;	/* commits on disk */
	int		 st_sync_failed;
	int		 st_sync_stop;
	uint64_t	 st_fsyncs;	/* for tests and benchmarks */
	/*
	 * With group commit, the WAL is checkpointed by a thread of its own
	 * rather than inside whichever request's commit crossed the
	 * threshold (its fsync was much of the p99).
	 */
	sqlite3		*st_ckdb;	/* NULL: SQLite's auto-checkpoint */
	pthread_t	 st_ckthread;
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

	/*
	 * 2: consents and referrals.  Only what the server must enforce is
	 * in clear: scope, validity, decisions, who sent what to whom.
	 * Names and every field value are ciphertext (sealed, blob).
	 */
	"CREATE TABLE consents ("
	"  id TEXT PRIMARY KEY,"
	"  owner TEXT NOT NULL,"
	"  recorded_by TEXT NOT NULL,"
	"  recorded_at TEXT NOT NULL,"
	"  valid_until TEXT NOT NULL,"
	"  status TEXT NOT NULL"
	"    CHECK (status IN ('active', 'withdrawn', 'expired')),"
	"  status_at TEXT,"
	"  status_by TEXT,"
	"  parties TEXT NOT NULL,"
	"  blob BLOB NOT NULL"
	") STRICT;"
	"CREATE INDEX consents_owner ON consents(owner);"
	"CREATE INDEX consents_active ON consents(status, valid_until);"
	"CREATE TABLE consent_scope ("
	"  consent_id TEXT NOT NULL REFERENCES consents(id),"
	"  recipient TEXT NOT NULL,"
	"  classes INTEGER NOT NULL,"
	"  itemised INTEGER NOT NULL,"
	"  withdrawn_at TEXT,"
	"  PRIMARY KEY (consent_id, recipient)"
	") STRICT;"
	"CREATE INDEX consent_scope_recipient ON consent_scope(recipient);"
	"CREATE TABLE consent_envelopes ("
	"  consent_id TEXT NOT NULL REFERENCES consents(id),"
	"  unit TEXT NOT NULL,"
	"  sealed BLOB NOT NULL,"
	"  PRIMARY KEY (consent_id, unit)"
	") STRICT;"
	"CREATE TABLE referrals ("
	"  id TEXT PRIMARY KEY,"
	"  sender_unit TEXT NOT NULL,"
	"  sender_person TEXT NOT NULL,"
	"  basis TEXT NOT NULL CHECK (basis IN ('consent', 'report-of-concern')),"
	"  consent_id TEXT REFERENCES consents(id),"
	"  created_at TEXT NOT NULL,"
	"  policy_hash TEXT NOT NULL,"
	"  manifest BLOB NOT NULL,"
	"  signature BLOB NOT NULL,"
	"  certificate TEXT NOT NULL"
	") STRICT;"
	"CREATE INDEX referrals_sender ON referrals(sender_unit);"
	"CREATE INDEX referrals_consent ON referrals(consent_id);"
	"CREATE TABLE referral_fields ("
	"  referral_id TEXT NOT NULL REFERENCES referrals(id),"
	"  name TEXT NOT NULL,"
	"  class TEXT NOT NULL,"
	"  blob BLOB NOT NULL,"
	"  PRIMARY KEY (referral_id, name)"
	") STRICT;"
	"CREATE TABLE referral_recipients ("
	"  referral_id TEXT NOT NULL REFERENCES referrals(id),"
	"  recipient TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  fields TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('available', 'pulled',"
	"    'consent-withdrawn', 'consent-expired')),"
	"  PRIMARY KEY (referral_id, recipient)"
	") STRICT;"
	"CREATE INDEX referral_recipients_unit ON referral_recipients(recipient);"
	"CREATE TABLE envelopes ("
	"  referral_id TEXT NOT NULL REFERENCES referrals(id),"
	"  recipient TEXT NOT NULL,"
	"  sealed BLOB NOT NULL,"
	"  PRIMARY KEY (referral_id, recipient)"
	") STRICT;"
	"CREATE TABLE disclosures ("
	"  id INTEGER PRIMARY KEY,"
	"  referral_id TEXT NOT NULL REFERENCES referrals(id),"
	"  consent_id TEXT,"
	"  recipient TEXT NOT NULL,"
	"  person TEXT NOT NULL,"
	"  classes TEXT NOT NULL,"
	"  at TEXT NOT NULL"
	") STRICT;"
	"CREATE INDEX disclosures_consent ON disclosures(consent_id);",

	/*
	 * 3: the audit logs.  Leaves hold the canonical entries; nodes the
	 * hashes of complete subtrees (level, index), so that roots and
	 * proofs cost O(log n); a checkpoint per (log, size), never two.
	 * The triggers are defence in depth, not the security boundary:
	 * anyone with the file can drop them, and auditors' verification
	 * is what catches that.
	 */
	"CREATE TABLE audit_logs ("
	"  id INTEGER PRIMARY KEY,"
	"  origin TEXT NOT NULL UNIQUE,"
	"  unit TEXT NOT NULL UNIQUE,"
	"  size INTEGER NOT NULL,"
	"  root BLOB NOT NULL"
	") STRICT;"
	"CREATE TABLE audit_leaves ("
	"  log_id INTEGER NOT NULL REFERENCES audit_logs(id),"
	"  idx INTEGER NOT NULL,"
	"  entry BLOB NOT NULL,"
	"  PRIMARY KEY (log_id, idx)"
	") STRICT, WITHOUT ROWID;"
	"CREATE TABLE audit_nodes ("
	"  log_id INTEGER NOT NULL REFERENCES audit_logs(id),"
	"  level INTEGER NOT NULL,"
	"  idx INTEGER NOT NULL,"
	"  hash BLOB NOT NULL,"
	"  PRIMARY KEY (log_id, level, idx)"
	") STRICT, WITHOUT ROWID;"
	"CREATE TABLE audit_checkpoints ("
	"  log_id INTEGER NOT NULL REFERENCES audit_logs(id),"
	"  size INTEGER NOT NULL,"
	"  note TEXT NOT NULL,"
	"  PRIMARY KEY (log_id, size)"
	") STRICT;"
	"CREATE TRIGGER audit_leaves_append_only BEFORE UPDATE ON audit_leaves "
	"  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
	"CREATE TRIGGER audit_leaves_no_delete BEFORE DELETE ON audit_leaves "
	"  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
	"CREATE TRIGGER audit_nodes_append_only BEFORE UPDATE ON audit_nodes "
	"  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
	"CREATE TRIGGER audit_nodes_no_delete BEFORE DELETE ON audit_nodes "
	"  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
	"CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE ON "
	"  audit_checkpoints BEGIN SELECT RAISE(ABORT, 'checkpoints are "
	"  append-only'); END;",

	/*
	 * 4: the school's signed statement of a consent's public part
	 * (docs/crypto.md), kept as it came so that clients can check the
	 * scope the server reports against it.
	 */
	"CREATE TABLE consent_statements ("
	"  consent_id TEXT PRIMARY KEY REFERENCES consents(id),"
	"  statement BLOB NOT NULL,"
	"  signature BLOB NOT NULL,"
	"  certificate TEXT NOT NULL"
	") STRICT;",

	/*
	 * 5: the case flow and retention (docs/workflow.md).  Each referral
	 * runs one loop per recipient unit (its "track"); every step is a
	 * row of case_events, signed by its author except the two the
	 * exchange itself observes (submitted, received).  A step's message
	 * is ciphertext, opened by the envelopes of the units it is for.
	 * The track's current state and dates sit on referral_recipients so
	 * that overdue and retention queries need no scan of the events.
	 */
	"CREATE TABLE case_events ("
	"  id INTEGER PRIMARY KEY,"
	"  referral_id TEXT NOT NULL REFERENCES referrals(id),"
	"  track TEXT NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  event TEXT NOT NULL CHECK (event IN ('submitted', 'received',"
	"    'accepted', 'declined', 'advised', 'followed-up', 'closed',"
	"    'cancelled')),"
	"  author_unit TEXT NOT NULL,"
	"  author_person TEXT NOT NULL,"
	"  at TEXT NOT NULL,"
	"  code TEXT,"
	"  statement BLOB,"
	"  signature BLOB,"
	"  certificate TEXT,"
	"  message_id TEXT,"
	"  message BLOB,"
	"  UNIQUE (referral_id, track, seq)"
	") STRICT;"
	"CREATE TABLE case_message_envelopes ("
	"  event_id INTEGER NOT NULL REFERENCES case_events(id),"
	"  unit TEXT NOT NULL,"
	"  sealed BLOB NOT NULL,"
	"  PRIMARY KEY (event_id, unit)"
	") STRICT;"
	"ALTER TABLE referral_recipients ADD COLUMN state TEXT NOT NULL"
	"  DEFAULT 'submitted';"
	"ALTER TABLE referral_recipients ADD COLUMN last_entry_at TEXT;"
	"ALTER TABLE referral_recipients ADD COLUMN follow_up_due TEXT;"
	"ALTER TABLE referral_recipients ADD COLUMN purged_at TEXT;"
	"ALTER TABLE referrals ADD COLUMN sender_purged_at TEXT;"
	"ALTER TABLE referrals ADD COLUMN purged_at TEXT;"
	"ALTER TABLE consent_scope ADD COLUMN feedback INTEGER NOT NULL"
	"  DEFAULT 0;"
	"ALTER TABLE consents ADD COLUMN purged_at TEXT;"
	"CREATE INDEX referral_recipients_due ON"
	"  referral_recipients(state, follow_up_due);"
	/* Referrals stored before the case flow start where they stand. */
	"INSERT INTO case_events (referral_id, track, seq, event,"
	"  author_unit, author_person, at)"
	"  SELECT rr.referral_id, rr.recipient, 0, 'submitted',"
	"    r.sender_unit, r.sender_person, r.created_at"
	"  FROM referral_recipients rr JOIN referrals r"
	"    ON r.id = rr.referral_id;"
	"UPDATE referral_recipients SET last_entry_at = (SELECT created_at"
	"  FROM referrals WHERE id = referral_id);",
};

/*
 * Per-connection settings: durability, safety, waiting on locks.  The
 * synchronous level is set after these: FULL, or NORMAL plus the group
 * commit's own fsync of the WAL before any answer leaves.
 */
static const char conn_pragmas[] =
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
	if (exec_sql(db, conn_pragmas, err, "[storage] database") ||
	    exec_sql(db, "PRAGMA synchronous = FULL;", err,
	    "[storage] database"))
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

/* The group-commit syncer: one fsync of the WAL for many commits. */
static void *
syncer(void *cookie)
{
	struct store *st = cookie;
	uint64_t target;
	int rc;

	pthread_mutex_lock(&st->st_sync_lock);
	for (;;) {
		while (!st->st_sync_stop && st->st_committed == st->st_synced)
			pthread_cond_wait(&st->st_sync_work, &st->st_sync_lock);
		if (st->st_committed == st->st_synced && st->st_sync_stop)
			break;
		target = st->st_committed;
		pthread_mutex_unlock(&st->st_sync_lock);
		rc = fdatasync(st->st_wal_fd);
		pthread_mutex_lock(&st->st_sync_lock);
		st->st_fsyncs++;
		if (rc == -1) {
			/* Fail closed: nothing more is acknowledged. */
			log_warn("store: fsync of the WAL");
			st->st_sync_failed = 1;
		}
		st->st_synced = target;
		pthread_cond_broadcast(&st->st_sync_done);
	}
	pthread_mutex_unlock(&st->st_sync_lock);
	return (NULL);
}

/* Wait until the commit just made is on disk.  0, or -1 if it cannot be. */
static int
durable(struct store *st)
{
	uint64_t mine;
	int rc;

	if (st->st_wal_fd == -1)
		return (0);		/* synchronous=FULL did it */
	pthread_mutex_lock(&st->st_sync_lock);
	mine = ++st->st_committed;
	pthread_cond_signal(&st->st_sync_work);
	while (st->st_synced < mine && !st->st_sync_failed)
		pthread_cond_wait(&st->st_sync_done, &st->st_sync_lock);
	rc = st->st_sync_failed ? -1 : 0;
	pthread_mutex_unlock(&st->st_sync_lock);
	return (rc);
}

static int limit_pages(sqlite3 *);

/* The writer connection of batched writes; without it, plain writes. */
static void
batch_start(struct store *st, const char *path)
{
	char err[STORE_ERR_LEN];
	sqlite3 *db;

	if ((db = open_conn(path, err)) == NULL)
		return;
	/*
	 * Every audited request runs here, so this connection's page cache
	 * is the one that matters: 16 MiB rather than SQLite's 2 MiB keeps
	 * the upper levels of a large database's B-trees in memory.
	 */
	if (limit_pages(db) || sqlite3_exec(db, "PRAGMA synchronous = NORMAL;"
	    "PRAGMA wal_autocheckpoint = 0;" "PRAGMA cache_size = -16384;",
	    NULL, NULL, NULL) != SQLITE_OK ||
	    pthread_mutex_init(&st->st_batch_lock, NULL)) {
		sqlite3_close(db);
		return;
	}
	if (pthread_cond_init(&st->st_batch_cv, NULL)) {
		pthread_mutex_destroy(&st->st_batch_lock);
		sqlite3_close(db);
		return;
	}
	st->st_writer.tx_store = st;
	st->st_writer.tx_db = db;
	st->st_writer.tx_slot = UINT32_MAX;
	st->st_batched = 1;
}

/* Checkpoint the WAL when commits have happened, never in a request. */
static void *
checkpointer(void *cookie)
{
	struct store *st = cookie;
	struct timespec nap = { 0, CHECKPOINT_NAP_MS * 1000 * 1000 };
	uint64_t seen = 0, now;
	int stop;

	for (;;) {
		(void)nanosleep(&nap, NULL);
		pthread_mutex_lock(&st->st_sync_lock);
		now = st->st_committed;
		stop = st->st_sync_stop;
		pthread_mutex_unlock(&st->st_sync_lock);
		if (now != seen)
			(void)sqlite3_wal_checkpoint_v2(st->st_ckdb, NULL,
			    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		seen = now;
		if (stop)
			break;
	}
	return (NULL);
}

/*
 * Start group commit on an open store whose WAL exists: open the WAL to
 * fsync it, switch every connection to synchronous=NORMAL, start the
 * syncer.  Without it (REFXD_GROUP_COMMIT=0, or any failure) every
 * commit stays synchronous=FULL.
 */
static void
group_commit_start(struct store *st, const char *path)
{
	char wal[4096];
	const char *v = getenv("REFXD_GROUP_COMMIT");
	char err[STORE_ERR_LEN];
	unsigned i;

	st->st_wal_fd = -1;
	if (v != NULL && strcmp(v, "0") == 0)
		return;
	if (snprintf(wal, sizeof(wal), "%s-wal", path) >= (int)sizeof(wal))
		return;
	if ((st->st_wal_fd = open(wal, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("store: group commit off: %s", wal);
		return;
	}
	if (pthread_mutex_init(&st->st_sync_lock, NULL) ||
	    pthread_cond_init(&st->st_sync_work, NULL) ||
	    pthread_cond_init(&st->st_sync_done, NULL) ||
	    pthread_create(&st->st_syncer, NULL, syncer, st)) {
		close(st->st_wal_fd);
		st->st_wal_fd = -1;
		return;
	}
	for (i = 0; i < st->st_n; i++)
		(void)sqlite3_exec(st->st_db[i], "PRAGMA synchronous = NORMAL;",
		    NULL, NULL, NULL);

	/* Checkpoints move to their own thread; if it cannot start, stay. */
	if ((st->st_ckdb = open_conn(path, err)) == NULL)
		return;
	if (pthread_create(&st->st_ckthread, NULL, checkpointer, st)) {
		sqlite3_close(st->st_ckdb);
		st->st_ckdb = NULL;
		return;
	}
	for (i = 0; i < st->st_n; i++)
		(void)sqlite3_exec(st->st_db[i], "PRAGMA wal_autocheckpoint = 0;",
		    NULL, NULL, NULL);
	batch_start(st, path);
}

/** store_fsyncs(st): WAL fsyncs done by group commit so far. */
unsigned long
store_fsyncs(struct store *st)
{
	unsigned long n;

	if (st->st_wal_fd == -1)
		return (0);
	pthread_mutex_lock(&st->st_sync_lock);
	n = (unsigned long)st->st_fsyncs;
	pthread_mutex_unlock(&st->st_sync_lock);
	return (n);
}

/*
 * WARNING: for tests only.  REFXD_TEST_DB_MAX_PAGES=N lets the database
 * grow by N pages at most, so that "disk full" (SQLITE_FULL) can be
 * tested without filling a disk.
 */
static int
limit_pages(sqlite3 *db)
{
	const char *v = getenv("REFXD_TEST_DB_MAX_PAGES");
	char sql[96];
	int pages = 0;
	unsigned long n;
	char *end;

	if (v == NULL || *v < '0' || *v > '9')
		return (0);
	n = strtoul(v, &end, 10);
	if (*end != '\0' || n > 1000000)
		return (0);
	if (query_int(db, "PRAGMA page_count;", &pages))
		return (-1);
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lu;",
	    (unsigned long)pages + n);
	log_warnx("store: REFXD_TEST_DB_MAX_PAGES is set: the database may "
	    "grow by %lu pages only (for tests)", n);
	return (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1);
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
	if (pthread_mutex_init(&st->st_write, NULL))
		goto enomem2;
	if (pthread_cond_init(&st->st_free, NULL))
		goto enomem3;
	st->st_n = nconns;
	st->st_wal_fd = -1;
	for (i = 0; i < nconns; i++) {
		if ((st->st_db[i] = open_conn(path, err)) == NULL)
			goto err3;
		if (i == 0 && prepare_file(st->st_db[0], &st->st_version, err))
			goto err3;
		/*
		 * Touch the file now, so each connection opens the WAL and
		 * shared-memory files before privileges are dropped.
		 */
		if (limit_pages(st->st_db[i])) {
			snprintf(err, STORE_ERR_LEN, "[storage] database: %s",
			    sqlite3_errmsg(st->st_db[i]));
			goto err3;
		}
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
	group_commit_start(st, path);
	return (st);

err3:
	store_close(st);
	return (NULL);
enomem3:
	pthread_mutex_destroy(&st->st_write);
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

/* Finalize the statements kept for ${tx}'s connection. */
static void
cache_free(struct store_tx *tx)
{
	size_t k;

	for (k = 0; k < STMT_CACHE; k++) {
		sqlite3_finalize(tx->tx_cache[k].cs_stmt);
		free(tx->tx_cache[k].cs_sql);
		tx->tx_cache[k].cs_stmt = NULL;
		tx->tx_cache[k].cs_sql = NULL;
	}
}

/** store_close(st): Close every connection; NULL is a no-op. */
void
store_close(struct store *st)
{
	unsigned i;

	if (st == NULL)
		return;
	if (st->st_wal_fd != -1) {
		pthread_mutex_lock(&st->st_sync_lock);
		st->st_sync_stop = 1;
		pthread_cond_signal(&st->st_sync_work);
		pthread_mutex_unlock(&st->st_sync_lock);
		pthread_join(st->st_syncer, NULL);
		if (st->st_batched) {
			if (st->st_batch_open)
				(void)sqlite3_exec(st->st_writer.tx_db,
				    "ROLLBACK;", NULL, NULL, NULL);
			cache_free(&st->st_writer);
			sqlite3_close(st->st_writer.tx_db);
			pthread_cond_destroy(&st->st_batch_cv);
			pthread_mutex_destroy(&st->st_batch_lock);
		}
		if (st->st_ckdb != NULL) {
			pthread_join(st->st_ckthread, NULL);
			sqlite3_close(st->st_ckdb);
		}
		pthread_cond_destroy(&st->st_sync_done);
		pthread_cond_destroy(&st->st_sync_work);
		pthread_mutex_destroy(&st->st_sync_lock);
		close(st->st_wal_fd);
	}
	for (i = 0; i < st->st_n; i++) {
		if (st->st_tx != NULL)
			cache_free(&st->st_tx[i]);
		sqlite3_close(st->st_db[i]);
	}
	pthread_cond_destroy(&st->st_free);
	pthread_mutex_destroy(&st->st_write);
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

	/* The next writer may begin while this one waits for its fsync. */
	if (tx->tx_write) {
		tx->tx_write = 0;
		pthread_mutex_unlock(&st->st_write);
	}
	pthread_mutex_lock(&st->st_lock);
	st->st_busy[tx->tx_slot] = 0;
	pthread_cond_signal(&st->st_free);
	pthread_mutex_unlock(&st->st_lock);
}

/*
 * End the open batch if nobody is queued to join it (or it is full):
 * commit it, remember whether that failed, wake its members.  Called
 * with st_write held, by the writer leaving.
 */
static void
batch_leave(struct store *st)
{
	sqlite3 *db = st->st_writer.tx_db;
	uint64_t id = st->st_batch_id;
	int failed = 0, waiting;

	pthread_mutex_lock(&st->st_batch_lock);
	waiting = st->st_writers_waiting;
	pthread_mutex_unlock(&st->st_batch_lock);
	if (!st->st_batch_open)
		return;
	if (sqlite3_get_autocommit(db)) {
		/* An error rolled the whole transaction back (SQLITE_FULL...). */
		failed = 1;
	} else if (waiting > 0 && st->st_batch_n < BATCH_MAX)
		return;		/* the next writer joins, and ends it */
	else if (sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK) {
		log_warnx("store: commit: %s", sqlite3_errmsg(db));
		(void)sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
		failed = 1;
	}
	st->st_batch_open = 0;
	pthread_mutex_lock(&st->st_batch_lock);
	st->st_batch_failed[id % BATCH_RING] = failed ? id : 0;
	st->st_batch_done = id;
	pthread_cond_broadcast(&st->st_batch_cv);
	pthread_mutex_unlock(&st->st_batch_lock);
}

/* Join (or open) the batch: a savepoint of the writer's transaction. */
static enum refx_err
batch_begin(struct store *st, struct store_tx **txp)
{
	sqlite3 *db = st->st_writer.tx_db;
	int rc;

	pthread_mutex_lock(&st->st_batch_lock);
	st->st_writers_waiting++;
	pthread_mutex_unlock(&st->st_batch_lock);
	pthread_mutex_lock(&st->st_write);
	pthread_mutex_lock(&st->st_batch_lock);
	st->st_writers_waiting--;
	pthread_mutex_unlock(&st->st_batch_lock);
	if (!st->st_batch_open || sqlite3_get_autocommit(db)) {
		if (st->st_batch_open)
			batch_leave(st);	/* lost: fail its members */
		rc = sqlite3_exec(db, "BEGIN IMMEDIATE;", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			log_warnx("store: begin: %s", sqlite3_errmsg(db));
			pthread_mutex_unlock(&st->st_write);
			return ((rc & 0xff) == SQLITE_BUSY ? REFX_EUNAVAIL :
			    REFX_ESTORE);
		}
		st->st_batch_open = 1;
		st->st_batch_n = 0;
		st->st_batch_id++;
	}
	if (sqlite3_exec(db, "SAVEPOINT request;", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		log_warnx("store: savepoint: %s", sqlite3_errmsg(db));
		batch_leave(st);
		pthread_mutex_unlock(&st->st_write);
		return (REFX_ESTORE);
	}
	st->st_batch_n++;
	st->st_writer.tx_batch = st->st_batch_id;
	*txp = &st->st_writer;
	return (REFX_OK);
}

/*
 * Leave the batch after RELEASE (${ok}) or ROLLBACK TO; wait for the
 * batch's commit.  Return REFX_OK if this request's work is committed.
 */
static enum refx_err
batch_end(struct store *st, int ok)
{
	uint64_t mine = st->st_writer.tx_batch;
	int failed;

	batch_leave(st);
	pthread_mutex_unlock(&st->st_write);
	pthread_mutex_lock(&st->st_batch_lock);
	while (st->st_batch_done < mine)
		pthread_cond_wait(&st->st_batch_cv, &st->st_batch_lock);
	failed = st->st_batch_failed[mine % BATCH_RING] == mine;
	pthread_mutex_unlock(&st->st_batch_lock);
	if (failed || !ok)
		return (REFX_ESTORE);
	/* Acknowledged means durable: wait for the shared fsync. */
	return (durable(st) ? REFX_ESTORE : REFX_OK);
}

/** store_begin(st, write, tx): Take a connection and begin. */
enum refx_err
store_begin(struct store *st, int write, struct store_tx **txp)
{
	struct store_tx *tx;
	int rc;

	if (write && st->st_batched)
		return (batch_begin(st, txp));
	tx = acquire(st);
	if ((tx->tx_write = write))
		pthread_mutex_lock(&st->st_write);
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
	int ok;

	if (tx == &tx->tx_store->st_writer) {
		ok = sqlite3_exec(tx->tx_db, "RELEASE request;", NULL, NULL,
		    NULL) == SQLITE_OK;
		if (!ok) {
			log_warnx("store: release: %s",
			    sqlite3_errmsg(tx->tx_db));
			(void)sqlite3_exec(tx->tx_db, "ROLLBACK TO request; "
			    "RELEASE request;", NULL, NULL, NULL);
		}
		return (batch_end(tx->tx_store, ok));
	}

	if (sqlite3_exec(tx->tx_db, "COMMIT;", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		log_warnx("store: commit: %s", sqlite3_errmsg(tx->tx_db));
		(void)sqlite3_exec(tx->tx_db, "ROLLBACK;", NULL, NULL, NULL);
		release(tx);
		return (REFX_ESTORE);
	}
	release(tx);
	/* Acknowledged means durable: wait for the shared fsync. */
	if (durable(tx->tx_store))
		return (REFX_ESTORE);
	return (REFX_OK);
}

/** store_rollback(tx): Roll back and release; NULL is a no-op. */
void
store_rollback(struct store_tx *tx)
{

	if (tx == NULL)
		return;
	if (tx == &tx->tx_store->st_writer) {
		(void)sqlite3_exec(tx->tx_db, "ROLLBACK TO request; "
		    "RELEASE request;", NULL, NULL, NULL);
		(void)batch_end(tx->tx_store, 0);
		return;
	}
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

/* Statements are thin: the SQLite statement and its connection. */
struct store_stmt {
	sqlite3_stmt		*ss_stmt;
	sqlite3			*ss_db;
	struct cached_stmt	*ss_cached;	/* or NULL: finalize */
};

/* Bind the parameters named by ${fmt}; return 0 or -1. */
static int
bind_params(sqlite3_stmt *st, const char *fmt, va_list ap)
{
	const char *s;
	const void *p;
	size_t len;
	int64_t n;
	int i, rc;

	for (i = 1; *fmt != '\0'; fmt++, i++) {
		switch (*fmt) {
		case 't':
			s = va_arg(ap, const char *);
			rc = s ? sqlite3_bind_text(st, i, s, -1,
			    SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
			break;
		case 'b':
			p = va_arg(ap, const void *);
			len = va_arg(ap, size_t);
			if (len > INT32_MAX)
				return (-1);
			rc = sqlite3_bind_blob(st, i, p, (int)len,
			    SQLITE_TRANSIENT);
			break;
		case 'i':
			n = va_arg(ap, int64_t);
			rc = sqlite3_bind_int64(st, i, n);
			break;
		default:
			return (-1);
		}
		if (rc != SQLITE_OK)
			return (-1);
	}
	return (0);
}

/*
 * The connection's prepared statement for ${sql}, prepared and kept on
 * first use; NULL if it is in use already (a nested query), the cache is
 * full, or it cannot be prepared (the caller then prepares its own and
 * reports the error).
 */
static struct cached_stmt *
cache_get(struct store_tx *tx, const char *sql)
{
	struct cached_stmt *c, *free_slot = NULL;
	size_t i;

	for (i = 0; i < STMT_CACHE; i++) {
		c = &tx->tx_cache[i];
		if (c->cs_sql == NULL) {
			if (free_slot == NULL)
				free_slot = c;
			continue;
		}
		if (strcmp(c->cs_sql, sql) != 0)
			continue;
		if (c->cs_busy)
			return (NULL);
		c->cs_busy = 1;
		return (c);
	}
	if (free_slot == NULL || (free_slot->cs_sql = strdup(sql)) == NULL)
		return (NULL);
	if (sqlite3_prepare_v3(tx->tx_db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &free_slot->cs_stmt, NULL) != SQLITE_OK) {
		free(free_slot->cs_sql);
		free_slot->cs_sql = NULL;
		free_slot->cs_stmt = NULL;
		return (NULL);
	}
	free_slot->cs_busy = 1;
	return (free_slot);
}

static struct store_stmt *
vquery(struct store_tx *tx, const char *sql, const char *fmt, va_list ap)
{
	struct store_stmt *ss;

	if ((ss = calloc(1, sizeof(*ss))) == NULL)
		return (NULL);
	ss->ss_db = tx->tx_db;
	if ((ss->ss_cached = cache_get(tx, sql)) != NULL)
		ss->ss_stmt = ss->ss_cached->cs_stmt;
	else if (sqlite3_prepare_v2(tx->tx_db, sql, -1, &ss->ss_stmt, NULL) !=
	    SQLITE_OK) {
		log_warnx("store: prepare: %s", sqlite3_errmsg(tx->tx_db));
		free(ss);
		return (NULL);
	}
	if (bind_params(ss->ss_stmt, fmt, ap)) {
		log_warnx("store: bind: %s: %.60s", sqlite3_errmsg(tx->tx_db), sql);
		store_finalize(ss);
		return (NULL);
	}
	return (ss);
}

/** store_query(tx, sql, fmt, ...): Prepare ${sql} and bind parameters. */
struct store_stmt *
store_query(struct store_tx *tx, const char *sql, const char *fmt, ...)
{
	struct store_stmt *ss;
	va_list ap;

	va_start(ap, fmt);
	ss = vquery(tx, sql, fmt, ap);
	va_end(ap);
	return (ss);
}

/** store_step(st): Advance: STORE_ROW, STORE_DONE or STORE_ERROR. */
enum store_step
store_step(struct store_stmt *ss)
{

	switch (sqlite3_step(ss->ss_stmt)) {
	case SQLITE_ROW:
		return (STORE_ROW);
	case SQLITE_DONE:
		return (STORE_DONE);
	default:
		return (STORE_ERROR);
	}
}

/** store_col_text(st, i): Column ${i} as text, or NULL if NULL. */
const char *
store_col_text(struct store_stmt *ss, int i)
{

	return ((const char *)sqlite3_column_text(ss->ss_stmt, i));
}

/** store_col_blob(st, i, len): Column ${i} as bytes; NULL if empty. */
const void *
store_col_blob(struct store_stmt *ss, int i, size_t *len)
{
	const void *p;

	p = sqlite3_column_blob(ss->ss_stmt, i);
	*len = (size_t)sqlite3_column_bytes(ss->ss_stmt, i);
	return (p);
}

/** store_col_int(st, i): Column ${i} as an integer. */
int64_t
store_col_int(struct store_stmt *ss, int i)
{

	return (sqlite3_column_int64(ss->ss_stmt, i));
}

/** store_finalize(st): Free ${st}; NULL is a no-op. */
void
store_finalize(struct store_stmt *ss)
{

	if (ss == NULL)
		return;
	if (ss->ss_cached != NULL) {
		/* Kept: reset, so that it holds no lock or value. */
		(void)sqlite3_reset(ss->ss_stmt);
		(void)sqlite3_clear_bindings(ss->ss_stmt);
		ss->ss_cached->cs_busy = 0;
	} else
		sqlite3_finalize(ss->ss_stmt);
	free(ss);
}

/** store_run(tx, sql, fmt, ...): Run a statement that returns no rows. */
enum refx_err
store_run(struct store_tx *tx, const char *sql, const char *fmt, ...)
{
	struct store_stmt *ss;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	ss = vquery(tx, sql, fmt, ap);
	va_end(ap);
	if (ss == NULL)
		return (REFX_ESTORE);
	rc = sqlite3_step(ss->ss_stmt);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		if ((rc & 0xff) == SQLITE_CONSTRAINT) {
			store_finalize(ss);
			return (REFX_EEXIST);
		}
		log_warnx("store: %s", sqlite3_errmsg(tx->tx_db));
		store_finalize(ss);
		return (REFX_ESTORE);
	}
	store_finalize(ss);
	return (REFX_OK);
}

/** store_changes(tx): Rows changed by the last statement. */
int
store_changes(struct store_tx *tx)
{

	return (sqlite3_changes(tx->tx_db));
}
