/*
 * refx-seed: grow a refxd database fast, not through the API, so that
 * the benchmark can measure pulls, submits and audit verification with
 * 1 000 to 1 000 000 referrals or entries stored.
 *
 *   refx-seed referrals --db FILE --template ID --count N
 *       [--sample FILE --sample-count K]
 *   refx-seed audit --db FILE --unit UNIT --count N
 *
 * referrals: copy the rows of one real, submitted referral (referrals,
 * referral_fields, referral_recipients, envelopes: see server/store.c)
 * N times under new random ids, in transactions of BATCH referrals.  The
 * copies are what the server serves and counts; their manifests still
 * name the template's id, so a client would refuse to open them (the
 * benchmark does not open them).  --sample writes K of the new ids,
 * drawn uniformly (reservoir), for the pulls.
 *
 * audit: append N entries to UNIT's log the way server/audit.c does:
 * each a copy of the log's newest real entry with its own index, event
 * id, request id and salt, the leaf and every complete subtree it closes
 * stored in audit_nodes, and the log's size and root updated, so that
 * refxd signs a checkpoint over them and `refx audit verify` checks
 * them like any others.
 *
 * Either may run while refxd is up: every batch is one BEGIN IMMEDIATE
 * transaction, which refxd's connections wait for (busy timeout).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <sqlite3.h>

#include "refx/audit.h"
#include "refx/merkle.h"
#include "refx/secret.h"

#define BATCH		20000	/* referrals or entries per transaction */
#define COUNT_MAX	10000000
#define SAMPLE_MAX	1000000
#define ID_LEN		32	/* hex of 16 random bytes, as the client */
#define BUSY_MS		30000

/* The statements that copy one referral, bound to the template. */
static const char *const copy_sql[] = {
	"INSERT INTO referrals (id, sender_unit, sender_person, basis, "
	"consent_id, created_at, policy_hash, manifest, signature, "
	"certificate) SELECT ?1, sender_unit, sender_person, basis, "
	"consent_id, created_at, policy_hash, manifest, signature, "
	"certificate FROM referrals WHERE id = ?2",
	"INSERT INTO referral_fields (referral_id, name, class, blob) "
	"SELECT ?1, name, class, blob FROM referral_fields WHERE "
	"referral_id = ?2 ORDER BY rowid",
	"INSERT INTO referral_recipients (referral_id, recipient, kind, "
	"fields, status) SELECT ?1, recipient, kind, fields, 'available' "
	"FROM referral_recipients WHERE referral_id = ?2",
	"INSERT INTO envelopes (referral_id, recipient, sealed) SELECT ?1, "
	"recipient, sealed FROM envelopes WHERE referral_id = ?2",
};
#define NCOPY	(sizeof(copy_sql) / sizeof(copy_sql[0]))

static void
usage(void)
{

	fprintf(stderr, "usage: refx-seed referrals --db FILE --template ID "
	    "--count N\n"
	    "           [--sample FILE --sample-count K]\n"
	    "       refx-seed audit --db FILE --unit UNIT --count N\n");
}

static int
exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "refx-seed: %s: %s\n", sql,
		    msg != NULL ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return (-1);
	}
	return (0);
}

/* Open the database refxd made; never create one. */
static sqlite3 *
open_db(const char *path)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "refx-seed: %s: %s\n", path,
		    db != NULL ? sqlite3_errmsg(db) : "cannot open");
		sqlite3_close(db);
		return (NULL);
	}
	sqlite3_busy_timeout(db, BUSY_MS);
	/*
	 * Durable at the end only: a crash loses a bench database.  The
	 * cache (1 GiB) holds the template and the b-trees' upper levels.
	 */
	if (exec(db, "PRAGMA synchronous = NORMAL; PRAGMA cache_size = "
	    "-1048576;")) {
		sqlite3_close(db);
		return (NULL);
	}
	return (db);
}

static void
new_id(char out[ID_LEN + 1])
{
	uint8_t raw[ID_LEN / 2];

	refx_random(raw, sizeof(raw));
	refx_hex(out, ID_LEN + 1, raw, sizeof(raw));
}

/* A uniform random index below ${n}. */
static uint64_t
below(uint64_t n)
{
	uint64_t r;

	refx_random(&r, sizeof(r));
	return (r % n);
}

/* ---- referrals ---------------------------------------------------------- */

static int
cmp_id(const void *a, const void *b)
{

	return (memcmp(a, b, ID_LEN));
}

static int
seed_referrals(sqlite3 *db, const char *tmpl, unsigned long count,
    const char *sample_path, unsigned long nsample)
{
	sqlite3_stmt *st[NCOPY];
	char id[ID_LEN + 1], (*sample)[ID_LEN + 1] = NULL;
	char (*ids)[ID_LEN + 1] = NULL;
	unsigned long done = 0, i, n, kept = 0;
	uint64_t j;
	size_t k;
	FILE *f;
	int rc = -1, in_tx = 0;

	memset(st, 0, sizeof(st));
	if ((ids = calloc(BATCH, sizeof(*ids))) == NULL ||
	    (nsample > 0 && (sample = calloc(nsample, sizeof(*sample))) ==
	    NULL)) {
		free(ids);
		fprintf(stderr, "refx-seed: out of memory\n");
		return (-1);
	}
	for (k = 0; k < NCOPY; k++)
		if (sqlite3_prepare_v2(db, copy_sql[k], -1, &st[k], NULL) !=
		    SQLITE_OK) {
			fprintf(stderr, "refx-seed: %s\n", sqlite3_errmsg(db));
			goto out;
		}
	while (done < count) {
		/*
		 * The ids are random, as clients make them; sorted within a
		 * batch, each batch walks the primary-key b-trees once
		 * instead of landing on a random page per row.
		 */
		n = count - done < BATCH ? count - done : BATCH;
		for (i = 0; i < n; i++)
			new_id(ids[i]);
		qsort(ids, n, sizeof(ids[0]), cmp_id);
		if (exec(db, "BEGIN IMMEDIATE;"))
			goto out;
		in_tx = 1;
		for (i = 0; i < n; i++, done++) {
			memcpy(id, ids[i], sizeof(id));
			for (k = 0; k < NCOPY; k++) {
				sqlite3_reset(st[k]);
				if (sqlite3_bind_text(st[k], 1, id, -1,
				    SQLITE_STATIC) != SQLITE_OK ||
				    sqlite3_bind_text(st[k], 2, tmpl, -1,
				    SQLITE_STATIC) != SQLITE_OK ||
				    sqlite3_step(st[k]) != SQLITE_DONE) {
					fprintf(stderr, "refx-seed: copy: %s\n",
					    sqlite3_errmsg(db));
					goto out;
				}
				/* The template must exist: one row at least. */
				if (k == 0 && sqlite3_changes(db) != 1) {
					fprintf(stderr, "refx-seed: no referral "
					    "%s\n", tmpl);
					goto out;
				}
			}
			/* Reservoir sampling of the new ids. */
			if (kept < nsample)
				memcpy(sample[kept++], id, sizeof(id));
			else if (nsample > 0 &&
			    (j = below((uint64_t)done + 1)) < nsample)
				memcpy(sample[j], id, sizeof(id));
		}
		if (exec(db, "COMMIT;"))
			goto out;
		in_tx = 0;
	}
	if (sample_path != NULL) {
		if ((f = fopen(sample_path, "we")) == NULL) {
			fprintf(stderr, "refx-seed: %s: %s\n", sample_path,
			    strerror(errno));
			goto out;
		}
		for (i = 0; i < kept; i++)
			fprintf(f, "/v1/referrals/%s\n", sample[i]);
		if (fclose(f) == EOF) {
			fprintf(stderr, "refx-seed: %s: %s\n", sample_path,
			    strerror(errno));
			goto out;
		}
	}
	rc = 0;
out:
	if (in_tx)
		(void)sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
	for (k = 0; k < NCOPY; k++)
		sqlite3_finalize(st[k]);
	free(sample);
	free(ids);
	return (rc);
}

/* ---- audit -------------------------------------------------------------- */

/*
 * The tree's right edge, kept in memory: appending only ever reads the
 * newest node of each level (the left siblings), so each is read from
 * the database at most once and every later one comes from here.
 */
struct tree {
	sqlite3		*t_db;
	sqlite3_stmt	*t_get;
	sqlite3_stmt	*t_put;
	int64_t		 t_log;
	int		 t_have[64];
	uint64_t	 t_idx[64];
	uint8_t		 t_hash[64][REFX_MERKLE_HASH_LEN];
};

static int
node_get(void *cookie, unsigned level, uint64_t index,
    uint8_t out[REFX_MERKLE_HASH_LEN])
{
	struct tree *t = cookie;
	const void *p;
	int rc = -1;

	if (level < 64 && t->t_have[level] && t->t_idx[level] == index) {
		memcpy(out, t->t_hash[level], REFX_MERKLE_HASH_LEN);
		return (0);
	}
	sqlite3_reset(t->t_get);
	if (sqlite3_bind_int64(t->t_get, 1, t->t_log) != SQLITE_OK ||
	    sqlite3_bind_int64(t->t_get, 2, (int64_t)level) != SQLITE_OK ||
	    sqlite3_bind_int64(t->t_get, 3, (int64_t)index) != SQLITE_OK)
		return (-1);
	if (sqlite3_step(t->t_get) == SQLITE_ROW &&
	    (p = sqlite3_column_blob(t->t_get, 0)) != NULL &&
	    sqlite3_column_bytes(t->t_get, 0) == REFX_MERKLE_HASH_LEN) {
		memcpy(out, p, REFX_MERKLE_HASH_LEN);
		rc = 0;
	}
	sqlite3_reset(t->t_get);
	return (rc);
}

static int
node_put(void *cookie, unsigned level, uint64_t index,
    const uint8_t h[REFX_MERKLE_HASH_LEN])
{
	struct tree *t = cookie;

	if (level >= 64)
		return (-1);
	sqlite3_reset(t->t_put);
	if (sqlite3_bind_int64(t->t_put, 1, t->t_log) != SQLITE_OK ||
	    sqlite3_bind_int64(t->t_put, 2, (int64_t)level) != SQLITE_OK ||
	    sqlite3_bind_int64(t->t_put, 3, (int64_t)index) != SQLITE_OK ||
	    sqlite3_bind_blob(t->t_put, 4, h, REFX_MERKLE_HASH_LEN,
	    SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(t->t_put) != SQLITE_DONE) {
		fprintf(stderr, "refx-seed: node: %s\n",
		    sqlite3_errmsg(t->t_db));
		return (-1);
	}
	t->t_have[level] = 1;
	t->t_idx[level] = index;
	memcpy(t->t_hash[level], h, REFX_MERKLE_HASH_LEN);
	return (0);
}

/* The log's id and size, and its newest entry decoded into ${e}. */
static int
log_state(sqlite3 *db, const char *unit, int64_t *id, uint64_t *size,
    struct refx_audit_entry *e)
{
	sqlite3_stmt *st = NULL;
	const void *p;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "SELECT id, size FROM audit_logs WHERE "
	    "unit = ?", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, unit, -1, SQLITE_STATIC) != SQLITE_OK) {
		fprintf(stderr, "refx-seed: %s\n", sqlite3_errmsg(db));
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_ROW) {
		fprintf(stderr, "refx-seed: no audit log for %s\n", unit);
		goto out;
	}
	*id = sqlite3_column_int64(st, 0);
	*size = (uint64_t)sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	st = NULL;
	if (*size == 0) {
		fprintf(stderr, "refx-seed: the log of %s is empty: nothing "
		    "to copy\n", unit);
		goto out;
	}
	if (sqlite3_prepare_v2(db, "SELECT entry FROM audit_leaves WHERE "
	    "log_id = ? AND idx = ?", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, *id) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, (int64_t)*size - 1) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW ||
	    (p = sqlite3_column_blob(st, 0)) == NULL ||
	    refx_audit_decode(p, (size_t)sqlite3_column_bytes(st, 0), e)) {
		fprintf(stderr, "refx-seed: cannot read the newest entry of "
		    "%s\n", unit);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return (rc);
}

/* Append one batch of entries in one transaction. */
static int
audit_batch(struct tree *t, sqlite3_stmt *leaf_st, sqlite3_stmt *log_st,
    struct refx_audit_entry *e, uint64_t *size, unsigned long n)
{
	uint8_t buf[REFX_AUDIT_ENTRY_MAX], leaf[REFX_MERKLE_HASH_LEN];
	uint8_t root[REFX_MERKLE_HASH_LEN], rid[16];
	uint64_t before = *size;
	unsigned long i;
	size_t len;

	for (i = 0; i < n; i++) {
		e->ae_index = *size;
		refx_random(e->ae_event, sizeof(e->ae_event));
		refx_random(e->ae_salt, sizeof(e->ae_salt));
		refx_random(rid, sizeof(rid));
		refx_hex(e->ae_request_id, sizeof(e->ae_request_id), rid,
		    sizeof(rid));
		if (refx_audit_encode(e, buf, &len)) {
			fprintf(stderr, "refx-seed: entry cannot be encoded\n");
			return (-1);
		}
		refx_merkle_leaf_hash(buf, len, leaf);
		sqlite3_reset(leaf_st);
		if (sqlite3_bind_int64(leaf_st, 1, t->t_log) != SQLITE_OK ||
		    sqlite3_bind_int64(leaf_st, 2, (int64_t)*size) !=
		    SQLITE_OK || sqlite3_bind_blob(leaf_st, 3, buf, (int)len,
		    SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_step(leaf_st) != SQLITE_DONE) {
			fprintf(stderr, "refx-seed: leaf: %s\n",
			    sqlite3_errmsg(t->t_db));
			return (-1);
		}
		if (refx_merkle_append(*size, leaf, node_get, node_put, t))
			return (-1);
		(*size)++;
	}
	if (refx_merkle_root(*size, node_get, t, root)) {
		fprintf(stderr, "refx-seed: cannot compute the root\n");
		return (-1);
	}
	/* As server/audit.c: only if nobody else appended meanwhile. */
	sqlite3_reset(log_st);
	if (sqlite3_bind_int64(log_st, 1, (int64_t)*size) != SQLITE_OK ||
	    sqlite3_bind_blob(log_st, 2, root, sizeof(root), SQLITE_STATIC) !=
	    SQLITE_OK || sqlite3_bind_int64(log_st, 3, t->t_log) !=
	    SQLITE_OK || sqlite3_bind_int64(log_st, 4, (int64_t)before) !=
	    SQLITE_OK || sqlite3_step(log_st) != SQLITE_DONE ||
	    sqlite3_changes(t->t_db) != 1) {
		fprintf(stderr, "refx-seed: log update: %s\n",
		    sqlite3_errmsg(t->t_db));
		return (-1);
	}
	return (0);
}

static int
seed_audit(sqlite3 *db, const char *unit, unsigned long count)
{
	struct refx_audit_entry e;
	struct tree t;
	sqlite3_stmt *leaf_st = NULL, *log_st = NULL;
	unsigned long done = 0, n;
	uint64_t size;
	int rc = -1, in_tx = 0;

	memset(&t, 0, sizeof(t));
	t.t_db = db;
	if (sqlite3_prepare_v2(db, "SELECT hash FROM audit_nodes WHERE "
	    "log_id = ? AND level = ? AND idx = ?", -1, &t.t_get, NULL) !=
	    SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO audit_nodes (log_id, level, "
	    "idx, hash) VALUES (?, ?, ?, ?)", -1, &t.t_put, NULL) !=
	    SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO audit_leaves (log_id, idx, "
	    "entry) VALUES (?, ?, ?)", -1, &leaf_st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "UPDATE audit_logs SET size = ?, root = ? "
	    "WHERE id = ? AND size = ?", -1, &log_st, NULL) != SQLITE_OK) {
		fprintf(stderr, "refx-seed: %s\n", sqlite3_errmsg(db));
		goto out;
	}
	while (done < count) {
		if (exec(db, "BEGIN IMMEDIATE;"))
			goto out;
		in_tx = 1;
		/* Read inside the transaction: refxd may have appended. */
		if (log_state(db, unit, &t.t_log, &size, &e))
			goto out;
		memset(t.t_have, 0, sizeof(t.t_have));
		n = count - done < BATCH ? count - done : BATCH;
		if (audit_batch(&t, leaf_st, log_st, &e, &size, n) ||
		    exec(db, "COMMIT;"))
			goto out;
		in_tx = 0;
		done += n;
	}
	rc = 0;
out:
	if (in_tx)
		(void)sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
	sqlite3_finalize(log_st);
	sqlite3_finalize(leaf_st);
	sqlite3_finalize(t.t_put);
	sqlite3_finalize(t.t_get);
	return (rc);
}

int
main(int argc, char *argv[])
{
	const char *mode, *dbf = NULL, *tmpl = NULL, *unit = NULL;
	const char *sample = NULL;
	unsigned long count = 0, nsample = 0;
	sqlite3 *db;
	char *end;
	int i, rc;

	if (refx_crypto_init()) {
		fprintf(stderr, "refx-seed: cannot initialise libsodium\n");
		return (EX_OSERR);
	}
	if (argc < 2) {
		usage();
		return (EX_USAGE);
	}
	mode = argv[1];
	for (i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--db") == 0)
			dbf = argv[i + 1];
		else if (strcmp(argv[i], "--template") == 0)
			tmpl = argv[i + 1];
		else if (strcmp(argv[i], "--unit") == 0)
			unit = argv[i + 1];
		else if (strcmp(argv[i], "--sample") == 0)
			sample = argv[i + 1];
		else if (strcmp(argv[i], "--count") == 0) {
			count = strtoul(argv[i + 1], &end, 10);
			if (*end != '\0' || count > COUNT_MAX)
				count = 0;
		} else if (strcmp(argv[i], "--sample-count") == 0) {
			nsample = strtoul(argv[i + 1], &end, 10);
			if (*end != '\0' || nsample > SAMPLE_MAX) {
				usage();
				return (EX_USAGE);
			}
		} else
			break;
	}
	if (i != argc || dbf == NULL || count == 0 ||
	    (strcmp(mode, "referrals") == 0 ? tmpl == NULL :
	    strcmp(mode, "audit") == 0 ? unit == NULL : 1) ||
	    (sample != NULL) != (nsample > 0)) {
		usage();
		return (EX_USAGE);
	}
	if ((db = open_db(dbf)) == NULL)
		return (EX_NOINPUT);
	if (strcmp(mode, "referrals") == 0)
		rc = seed_referrals(db, tmpl, count, sample, nsample);
	else
		rc = seed_audit(db, unit, count);
	/*
	 * Fold the WAL back into the database now: left to refxd, the
	 * hundreds of megabytes written here would be copied by the
	 * automatic checkpoint inside some request's commit, and the
	 * workload measured next would time that copy.
	 */
	if (rc == 0 && exec(db, "PRAGMA wal_checkpoint(TRUNCATE);"))
		rc = -1;
	if (sqlite3_close(db) != SQLITE_OK) {
		fprintf(stderr, "refx-seed: close: %s\n", sqlite3_errmsg(db));
		rc = -1;
	}
	return (rc == 0 ? EX_OK : EX_SOFTWARE);
}
