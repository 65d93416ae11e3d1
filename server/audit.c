/*
 * The audit log (see audit.h and docs/audit.md).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "refx/audit.h"
#include "refx/file.h"
#include "refx/identity.h"
#include "refx/log.h"
#include "refx/merkle.h"
#include "refx/note.h"
#include "refx/secret.h"

#include "audit.h"
#include "clock.h"
#include "store.h"

#define KEYFILE_MAX	4096
#define CERT_MAX	(16 * 1024)
#define MAX_LOGS	4096
#define ORIGIN_MAX	255

/* One log's signing key, loaded from "<unit>.key". */
struct logkey {
	char			 lk_unit[REFX_AGENCY_ID_MAX + 1];
	char			 lk_origin[ORIGIN_MAX + 1];
	struct refx_note_key	*lk_key;
	char			*lk_cert;	/* PEM, from "<unit>.crt" */
};

struct audit {
	struct store	*a_store;
	char		*a_dir;
	pthread_mutex_t	 a_lock;	/* a_keys; the publisher's state */
	pthread_cond_t	 a_wake;
	struct logkey	*a_keys;
	size_t		 a_nkeys;
	pthread_t	 a_thread;
	int		 a_running;
	int		 a_stop;
	unsigned	 a_interval;
	int		(*a_source)(void *, struct audit *, struct store_tx *);
	void		*a_source_cookie;
};

/* ---- keys ------------------------------------------------------------- */

static void
keys_free(struct logkey *k, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		refx_note_key_free(k[i].lk_key);
		free(k[i].lk_cert);
	}
	free(k);
}

/*
 * Parse a log key file written by refx-pki:
 *   refx-audit-log-key v1
 *   origin <origin>
 *   seed <base64 of 32 bytes>
 */
static int
key_parse(struct logkey *k, const char *path, char *text, char *err,
    size_t errlen)
{
	char *line, *next, *origin = NULL, *seedb64 = NULL;
	uint8_t *seed = NULL;
	size_t seedlen = 0;
	int n = 0, rc = -1;

	for (line = text; line != NULL && *line != '\0'; line = next, n++) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (n == 0 && strcmp(line, "refx-audit-log-key v1") != 0)
			break;
		if (strncmp(line, "origin ", 7) == 0)
			origin = line + 7;
		else if (strncmp(line, "seed ", 5) == 0)
			seedb64 = line + 5;
	}
	if (origin == NULL || seedb64 == NULL || strlen(origin) > ORIGIN_MAX ||
	    strchr(origin, ' ') != NULL || strchr(origin, '+') != NULL) {
		snprintf(err, errlen, "%s: not a refx audit log key", path);
		goto out;
	}
	if (refx_b64_decode(seedb64, 32, &seed, &seedlen) || seedlen != 32) {
		snprintf(err, errlen, "%s: bad seed", path);
		goto out;
	}
	snprintf(k->lk_origin, sizeof(k->lk_origin), "%s", origin);
	if ((k->lk_key = refx_note_key_from_seed(origin, REFX_NOTE_ED25519, seed)) == NULL) {
		snprintf(err, errlen, "%s: cannot make the signing key", path);
		goto out;
	}
	rc = 0;
out:
	if (seed != NULL) {
		refx_wipe(seed, seedlen);
		free(seed);
	}
	return (rc);
}

/* Load every "<unit>.key" (and its ".crt") in ${dir}. */
static int
keys_load(const char *dir, struct logkey **out, size_t *nout, char *err,
    size_t errlen)
{
	struct logkey *keys = NULL, *k;
	struct dirent *de;
	DIR *d;
	char path[4096], unit[REFX_AGENCY_ID_MAX + 1];
	uint8_t *text;
	size_t n = 0, len, nl;
	int rc = -1;

	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errlen, "[audit] keys: %s: %s", dir,
		    strerror(errno));
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		nl = strlen(de->d_name);
		if (nl < 5 || strcmp(de->d_name + nl - 4, ".key") != 0 ||
		    nl - 4 > REFX_AGENCY_ID_MAX)
			continue;
		memcpy(unit, de->d_name, nl - 4);
		unit[nl - 4] = '\0';
		if (strcmp(unit, AUDIT_SYSTEM) != 0 &&
		    !refx_agency_id_valid(unit))
			continue;
		if (n >= MAX_LOGS) {
			snprintf(err, errlen, "[audit] keys: too many logs");
			goto out;
		}
		if ((k = realloc(keys, (n + 1) * sizeof(*keys))) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		keys = k;
		k = &keys[n];
		memset(k, 0, sizeof(*k));
		snprintf(k->lk_unit, sizeof(k->lk_unit), "%s", unit);
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (refx_file_check_private(path)) {
			snprintf(err, errlen, "[audit] keys: %s: must be a "
			    "regular file readable by its owner only", path);
			goto out;
		}
		if (refx_file_read(path, KEYFILE_MAX, &text, &len)) {
			snprintf(err, errlen, "[audit] keys: %s: %s", path,
			    strerror(errno));
			goto out;
		}
		n++;
		rc = key_parse(k, path, (char *)text, err, errlen);
		refx_wipe(text, len);
		free(text);
		if (rc)
			goto out;
		rc = -1;
		snprintf(path, sizeof(path), "%s/%s.crt", dir, unit);
		if (refx_file_read(path, CERT_MAX, &text, &len) == 0)
			k->lk_cert = (char *)text;
	}
	rc = 0;
out:
	closedir(d);
	if (rc) {
		keys_free(keys, n);
		return (-1);
	}
	*out = keys;
	*nout = n;
	return (0);
}

/* The key of ${unit}'s log, or NULL.  Caller holds a_lock. */
static struct logkey *
key_of(struct audit *a, const char *unit)
{
	size_t i;

	for (i = 0; i < a->a_nkeys; i++)
		if (strcmp(a->a_keys[i].lk_unit, unit) == 0)
			return (&a->a_keys[i]);
	return (NULL);
}

/* ---- tree storage ------------------------------------------------------ */

/*
 * Callbacks for refx_merkle_*: complete-subtree hashes of one log.  An
 * append and the root after it touch the same O(log n) nodes; those seen
 * are remembered for the rest of the append instead of queried again.
 */
#define NODES_SEEN	160
struct node_seen {
	unsigned	ns_level;
	uint64_t	ns_index;
	uint8_t		ns_hash[32];
};

struct nodes {
	struct store_tx	*n_tx;
	int64_t		 n_log;
	struct node_seen n_seen[NODES_SEEN];
	size_t		 n_nseen;
};

static void
node_remember(struct nodes *n, unsigned level, uint64_t index,
    const uint8_t h[32])
{

	if (n->n_nseen == NODES_SEEN)
		return;
	n->n_seen[n->n_nseen].ns_level = level;
	n->n_seen[n->n_nseen].ns_index = index;
	memcpy(n->n_seen[n->n_nseen++].ns_hash, h, 32);
}

static int
node_get(void *cookie, unsigned level, uint64_t index, uint8_t out[32])
{
	struct nodes *n = cookie;
	struct store_stmt *st;
	const void *p;
	size_t len, i;
	int rc = -1;

	for (i = 0; i < n->n_nseen; i++)
		if (n->n_seen[i].ns_level == level &&
		    n->n_seen[i].ns_index == index) {
			memcpy(out, n->n_seen[i].ns_hash, 32);
			return (0);
		}
	st = store_query(n->n_tx, "SELECT hash FROM audit_nodes WHERE "
	    "log_id = ? AND level = ? AND idx = ?", "iii", n->n_log,
	    (int64_t)level, (int64_t)index);
	if (st == NULL)
		return (-1);
	if (store_step(st) == STORE_ROW &&
	    (p = store_col_blob(st, 0, &len)) != NULL && len == 32) {
		memcpy(out, p, 32);
		node_remember(n, level, index, out);
		rc = 0;
	}
	store_finalize(st);
	return (rc);
}

static int
node_put(void *cookie, unsigned level, uint64_t index, const uint8_t h[32])
{
	struct nodes *n = cookie;

	if (store_run(n->n_tx, "INSERT INTO audit_nodes (log_id, level, "
	    "idx, hash) VALUES (?, ?, ?, ?)", "iiib", n->n_log,
	    (int64_t)level, (int64_t)index, h, (size_t)32) != REFX_OK)
		return (-1);
	node_remember(n, level, index, h);
	return (0);
}

/* Find or create the log of ${unit}; return its id, size. */
static int
log_row(struct audit *a, struct store_tx *tx, const char *unit,
    int64_t *id, uint64_t *size)
{
	struct store_stmt *st;
	struct logkey *k;
	char origin[ORIGIN_MAX + 1 + 80];
	uint8_t empty[32];
	int rc = -1;

	st = store_query(tx, "SELECT id, size FROM audit_logs WHERE unit = ?",
	    "t", unit);
	if (st == NULL)
		return (-1);
	if (store_step(st) == STORE_ROW) {
		*id = store_col_int(st, 0);
		*size = (uint64_t)store_col_int(st, 1);
		store_finalize(st);
		return (0);
	}
	store_finalize(st);

	/* A new log is named by its key; without one, by the system's. */
	pthread_mutex_lock(&a->a_lock);
	if ((k = key_of(a, unit)) != NULL)
		snprintf(origin, sizeof(origin), "%s", k->lk_origin);
	else if ((k = key_of(a, AUDIT_SYSTEM)) != NULL) {
		const char *slash = strrchr(k->lk_origin, '/');
		int keep = slash ? (int)(slash - k->lk_origin) : 0;

		snprintf(origin, sizeof(origin), "%.*s/%s", keep,
		    k->lk_origin, unit);
	} else
		snprintf(origin, sizeof(origin), "refx.audit/%s", unit);
	pthread_mutex_unlock(&a->a_lock);
	refx_merkle_empty_root(empty);
	if (store_run(tx, "INSERT INTO audit_logs (origin, unit, size, root) "
	    "VALUES (?, ?, 0, ?)", "ttb", origin, unit, empty, (size_t)32))
		return (-1);
	st = store_query(tx, "SELECT id FROM audit_logs WHERE unit = ?", "t",
	    unit);
	if (st != NULL && store_step(st) == STORE_ROW) {
		*id = store_col_int(st, 0);
		*size = 0;
		rc = 0;
	}
	store_finalize(st);
	return (rc);
}

/* ---- appending --------------------------------------------------------- */

/* Append one encoded entry to one log. */
static enum refx_err
append_one(struct audit *a, struct store_tx *tx, const char *unit,
    struct refx_audit_entry *e)
{
	uint8_t buf[REFX_AUDIT_ENTRY_MAX], leaf[32], root[32];
	struct nodes n;
	uint64_t size;
	size_t len;

	if (log_row(a, tx, unit, &n.n_log, &size))
		return (REFX_ESTORE);
	n.n_tx = tx;
	n.n_nseen = 0;
	e->ae_index = size;
	refx_random(e->ae_salt, sizeof(e->ae_salt));
	if (refx_audit_encode(e, buf, &len)) {
		log_warnx("audit: entry cannot be encoded");
		return (REFX_ESTORE);
	}
	refx_merkle_leaf_hash(buf, len, leaf);
	if (store_run(tx, "INSERT INTO audit_leaves (log_id, idx, entry) "
	    "VALUES (?, ?, ?)", "iib", n.n_log, (int64_t)size, buf, len) ||
	    refx_merkle_append(size, leaf, node_get, node_put, &n) ||
	    refx_merkle_root(size + 1, node_get, &n, root) ||
	    store_run(tx, "UPDATE audit_logs SET size = ?, root = ? WHERE "
	    "id = ? AND size = ?", "ibii", (int64_t)(size + 1), root,
	    (size_t)32, n.n_log, (int64_t)size) ||
	    store_changes(tx) != 1)
		return (REFX_ESTORE);
	return (REFX_OK);
}

/** audit_append(a, tx, e, units, nunits, fresh): Append to each log. */
enum refx_err
audit_append(struct audit *a, struct store_tx *tx,
    struct refx_audit_entry *e, const char *const *units, size_t nunits,
    int fresh)
{
	struct timespec ts;
	size_t i, j;
	enum refx_err err;

	if (fresh) {
		clock_gettime(CLOCK_REALTIME, &ts);
		e->ae_time_ms = (uint64_t)clock_now() * 1000 +
		    (uint64_t)(ts.tv_nsec / 1000000);
		refx_random(e->ae_event, sizeof(e->ae_event));
	}
	if (e->ae_count == 0)
		e->ae_count = 1;
	for (i = 0; i < nunits; i++) {
		for (j = 0; j < i; j++)		/* one entry per log */
			if (strcmp(units[i], units[j]) == 0)
				break;
		if (j < i)
			continue;
		if ((err = append_one(a, tx, units[i], e)) != REFX_OK)
			return (err);
	}
	return (REFX_OK);
}

/* ---- checkpoints ------------------------------------------------------- */

/** audit_publish_tx(a, tx, unit): Checkpoint ${unit}'s log within ${tx}. */
int
audit_publish_tx(struct audit *a, struct store_tx *tx, const char *unit)
{
	struct store_stmt *st;
	struct logkey *k;
	char origin[ORIGIN_MAX + 1], *text = NULL, *note = NULL;
	uint8_t root[32];
	const void *p;
	size_t len;
	int64_t id, size, last = -1;
	int rc = -1;

	st = store_query(tx, "SELECT l.id, l.origin, l.size, l.root, "
	    "(SELECT max(c.size) FROM audit_checkpoints c WHERE "
	    "c.log_id = l.id) FROM audit_logs l WHERE l.unit = ?", "t", unit);
	if (st == NULL || store_step(st) != STORE_ROW) {
		store_finalize(st);
		return (-1);
	}
	id = store_col_int(st, 0);
	snprintf(origin, sizeof(origin), "%s", store_col_text(st, 1));
	size = store_col_int(st, 2);
	p = store_col_blob(st, 3, &len);
	if (p == NULL || len != 32) {
		store_finalize(st);
		return (-1);
	}
	memcpy(root, p, 32);
	if (store_col_text(st, 4) != NULL)
		last = store_col_int(st, 4);
	store_finalize(st);
	if (size <= last)
		return (0);		/* nothing new to sign */
	pthread_mutex_lock(&a->a_lock);
	k = key_of(a, unit);
	if (k != NULL && strcmp(k->lk_origin, origin) == 0 &&
	    refx_checkpoint_text(origin, (uint64_t)size, root, &text) == 0 &&
	    refx_note_sign(text, k->lk_key, &note) != 0)
		note = NULL;
	pthread_mutex_unlock(&a->a_lock);
	if (note == NULL) {
		log_warnx("audit: no key for log %s (%s): not signed", unit,
		    origin);
		goto out;
	}
	/* The primary key (log, size) forbids two roots for one size. */
	if (store_run(tx, "INSERT INTO audit_checkpoints (log_id, size, note) "
	    "VALUES (?, ?, ?)", "iit", id, size, note) == REFX_OK)
		rc = 0;
out:
	free(note);
	free(text);
	return (rc);
}

/** audit_publish(a, unit): Sign a checkpoint if the log grew.  0 or -1. */
int
audit_publish(struct audit *a, const char *unit)
{
	struct store_tx *tx;

	if (store_begin(a->a_store, 1, &tx) != REFX_OK)
		return (-1);
	if (audit_publish_tx(a, tx, unit)) {
		store_rollback(tx);
		return (-1);
	}
	return (store_commit(tx) == REFX_OK ? 0 : -1);
}

/** audit_set_source(a, fn, cookie): Entries gathered elsewhere. */
void
audit_set_source(struct audit *a, int (*fn)(void *, struct audit *,
    struct store_tx *), void *cookie)
{

	a->a_source = fn;
	a->a_source_cookie = cookie;
}

/* Let the source append its entries, in a transaction of its own. */
static void
run_source(struct audit *a)
{
	struct store_tx *tx;

	if (a->a_source == NULL || store_begin(a->a_store, 1, &tx) != REFX_OK)
		return;
	if (a->a_source(a->a_source_cookie, a, tx) != 0) {
		store_rollback(tx);
		return;
	}
	(void)store_commit(tx);
}

/* A checkpoint for every log that grew, in batches of 64 logs. */
static void
publish_all(struct audit *a)
{
	struct store_tx *tx;
	struct store_stmt *st;
	char units[64][REFX_AGENCY_ID_MAX + 1];
	size_t n, i;
	int64_t after = 0;

	run_source(a);
	for (;;) {
		n = 0;
		if (store_begin(a->a_store, 0, &tx) != REFX_OK)
			return;
		st = store_query(tx, "SELECT id, unit FROM audit_logs WHERE "
		    "id > ? AND size > coalesce((SELECT max(size) FROM "
		    "audit_checkpoints c WHERE c.log_id = audit_logs.id), -1) "
		    "ORDER BY id LIMIT 64", "i", after);
		while (st != NULL && n < 64 && store_step(st) == STORE_ROW) {
			after = store_col_int(st, 0);
			snprintf(units[n++], sizeof(units[0]), "%s",
			    store_col_text(st, 1));
		}
		store_finalize(st);
		store_rollback(tx);
		for (i = 0; i < n; i++)
			(void)audit_publish(a, units[i]);
		if (n < 64)
			return;
	}
}

/* The publisher: every interval, a checkpoint for every grown log. */
static void *
publisher(void *cookie)
{
	struct audit *a = cookie;
	struct timespec until;

	pthread_mutex_lock(&a->a_lock);
	while (!a->a_stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += a->a_interval;
		pthread_cond_timedwait(&a->a_wake, &a->a_lock, &until);
		pthread_mutex_unlock(&a->a_lock);
		/* Also on the way out: a last checkpoint of every log. */
		publish_all(a);
		pthread_mutex_lock(&a->a_lock);
	}
	pthread_mutex_unlock(&a->a_lock);
	return (NULL);
}

/** audit_start(a, interval): Publish checkpoints periodically. */
int
audit_start(struct audit *a, unsigned interval)
{

	a->a_interval = interval ? interval : 1;
	if (pthread_create(&a->a_thread, NULL, publisher, a))
		return (-1);
	a->a_running = 1;
	return (0);
}

/* ---- life cycle -------------------------------------------------------- */

/** audit_open(st, keydir, err, errlen): Load the log keys. */
struct audit *
audit_open(struct store *st, const char *dir, char *err, size_t errlen)
{
	struct audit *a;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	a->a_store = st;
	if ((a->a_dir = strdup(dir)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err1;
	}
	if (keys_load(dir, &a->a_keys, &a->a_nkeys, err, errlen))
		goto err2;
	if (pthread_mutex_init(&a->a_lock, NULL))
		goto err3;
	if (pthread_cond_init(&a->a_wake, NULL))
		goto err4;
	return (a);

err4:
	pthread_mutex_destroy(&a->a_lock);
err3:
	keys_free(a->a_keys, a->a_nkeys);
err2:
	free(a->a_dir);
err1:
	free(a);
	return (NULL);
}

/** audit_reload(a, err, errlen): Re-read the log keys.  0 or -1. */
int
audit_reload(struct audit *a, char *err, size_t errlen)
{
	struct logkey *keys, *old;
	size_t n, oldn;

	if (keys_load(a->a_dir, &keys, &n, err, errlen))
		return (-1);
	pthread_mutex_lock(&a->a_lock);
	old = a->a_keys;
	oldn = a->a_nkeys;
	a->a_keys = keys;
	a->a_nkeys = n;
	pthread_mutex_unlock(&a->a_lock);
	keys_free(old, oldn);
	return (0);
}

/** audit_close(a): Stop the checkpoint thread and free; NULL is a no-op. */
void
audit_close(struct audit *a)
{

	if (a == NULL)
		return;
	if (a->a_running) {
		pthread_mutex_lock(&a->a_lock);
		a->a_stop = 1;
		pthread_cond_signal(&a->a_wake);
		pthread_mutex_unlock(&a->a_lock);
		pthread_join(a->a_thread, NULL);
	}
	pthread_cond_destroy(&a->a_wake);
	pthread_mutex_destroy(&a->a_lock);
	keys_free(a->a_keys, a->a_nkeys);
	free(a->a_dir);
	free(a);
}

/* ---- reading ----------------------------------------------------------- */

/** audit_logs_json(a, tx, out): Every log's unit, origin and size. */
enum refx_err
audit_logs_json(struct audit *a, struct store_tx *tx, json_t **out)
{
	struct store_stmt *st;
	json_t *arr, *e;

	(void)a;
	if ((arr = json_array()) == NULL)
		return (REFX_ENOMEM);
	st = store_query(tx, "SELECT unit, origin, size FROM audit_logs "
	    "ORDER BY unit", "");
	if (st == NULL)
		goto fail;
	while (store_step(st) == STORE_ROW) {
		e = json_pack("{s:s, s:s, s:I}", "unit", store_col_text(st, 0),
		    "origin", store_col_text(st, 1), "size",
		    (json_int_t)store_col_int(st, 2));
		if (e == NULL || json_array_append_new(arr, e))
			goto fail;
	}
	store_finalize(st);
	*out = arr;
	return (REFX_OK);
fail:
	store_finalize(st);
	json_decref(arr);
	return (REFX_ESTORE);
}

/** audit_log_json(a, tx, unit, from, to, out): A log's entries. */
enum refx_err
audit_log_json(struct audit *a, struct store_tx *tx, const char *unit,
    uint64_t from, uint64_t to, json_t **out)
{
	struct store_stmt *st;
	struct logkey *k;
	json_t *o, *entries;
	char *b64;
	const void *p;
	size_t len;
	int64_t id, size;

	st = store_query(tx, "SELECT id, origin, size FROM audit_logs WHERE "
	    "unit = ?", "t", unit);
	if (st == NULL)
		return (REFX_ESTORE);
	if (store_step(st) != STORE_ROW) {
		store_finalize(st);
		return (REFX_ENOTFOUND);
	}
	id = store_col_int(st, 0);
	size = store_col_int(st, 2);
	o = json_pack("{s:s, s:s, s:I}", "unit", unit, "origin",
	    store_col_text(st, 1), "size", (json_int_t)size);
	store_finalize(st);
	if (o == NULL)
		return (REFX_ENOMEM);
	pthread_mutex_lock(&a->a_lock);
	k = key_of(a, unit);
	if (k != NULL && k->lk_cert != NULL)
		json_object_set_new(o, "certificate",
		    json_string(k->lk_cert));
	pthread_mutex_unlock(&a->a_lock);

	/* The newest checkpoint, with any cosignatures. */
	st = store_query(tx, "SELECT size, note FROM audit_checkpoints WHERE "
	    "log_id = ? ORDER BY size DESC LIMIT 1", "i", id);
	if (st == NULL)
		goto fail;
	if (store_step(st) == STORE_ROW)
		json_object_set_new(o, "checkpoint",
		    json_string(store_col_text(st, 1)));
	store_finalize(st);

	if (to > (uint64_t)size)
		to = (uint64_t)size;
	if ((entries = json_array()) == NULL)
		goto fail;
	json_object_set_new(o, "from", json_integer((json_int_t)from));
	json_object_set_new(o, "entries", entries);
	st = store_query(tx, "SELECT entry FROM audit_leaves WHERE log_id = ? "
	    "AND idx >= ? AND idx < ? ORDER BY idx", "iii", id, (int64_t)from,
	    (int64_t)to);
	if (st == NULL)
		goto fail;
	while (store_step(st) == STORE_ROW) {
		p = store_col_blob(st, 0, &len);
		if ((b64 = refx_b64_encode(p ? p : "", p ? len : 0)) == NULL ||
		    json_array_append_new(entries, json_string(b64))) {
			free(b64);
			store_finalize(st);
			goto fail;
		}
		free(b64);
	}
	store_finalize(st);
	*out = o;
	return (REFX_OK);
fail:
	json_decref(o);
	return (REFX_ESTORE);
}
