/*
 * Retention purge (see purge.h and docs/retention.md).
 *
 * Four phases, in this order, each in batches of write transactions:
 *
 *   1. recipient copies: a unit's envelope and its case message keys;
 *   2. sender copies: the sending unit's own envelope and message keys;
 *   3. ciphertexts: the field blobs and case messages of a referral that
 *      no unit holds a key to any more;
 *   4. consents: the sealed names and their envelopes of a consent that
 *      ended, once no referral under it keeps its sender's copy.
 *
 * Each deletion and its deletion record (an audit entry in the log of
 * the unit whose copy went) commit together; right after the commit a
 * signed checkpoint of every log written to is published.  Metadata
 * (referrals, referral_recipients, case_events, disclosures, consents
 * and their scope and statements) and the audit logs are never deleted:
 * they hold no values, and the case history and the logs refer to them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "refx/audit.h"
#include "refx/envelope.h"
#include "refx/log.h"
#include "refx/policy.h"
#include "refx/secret.h"

#include "audit.h"
#include "clock.h"
#include "directory.h"
#include "purge.h"
#include "server.h"
#include "store.h"

#define STAMP_LEN	20		/* YYYY-MM-DDTHH:MM:SSZ */
#define SINCE_MAX	40		/* longer: not a date of ours */
#define PAGES_MAX	(1u << 16)	/* pages per phase and run */
#define RUNS_MAX	1024		/* refxd --purge: runs at most */
#define UNITS_MAX	4096		/* units listed for the filter */
#define CUTOFF_SLACK	(3 * 86400)	/* see purge_cutoff */

/* ---- pure: dates ------------------------------------------------------- */

static int
is_leap(long y)
{

	return ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0);
}

static int
days_in_month(long y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	return (m == 2 && is_leap(y) ? 29 : days[m - 1]);
}

/* Exactly ${n} decimal digits at ${s}. */
static int
digits(const char *s, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return (0);
}

/** purge_stamp_parse(s, t): Parse a UTC stamp or date.  0 or -1. */
int
purge_stamp_parse(const char *s, time_t *t)
{
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, sec = 0;
	size_t len;
	time_t v;

	if (s == NULL)
		return (-1);
	len = strnlen(s, STAMP_LEN + 1);
	if ((len != 10 && len != STAMP_LEN) || digits(s, 4, &y) ||
	    s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d))
		return (-1);
	if (len == STAMP_LEN && (s[10] != 'T' || digits(s + 11, 2, &h) ||
	    s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
	    digits(s + 17, 2, &sec) || s[19] != 'Z'))
		return (-1);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
		return (-1);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if ((v = timegm(&tm)) == (time_t)-1)
		return (-1);
	*t = v;
	return (0);
}

/** purge_add_years(t, years, out): Calendar years later.  0 or -1. */
int
purge_add_years(time_t t, unsigned years, time_t *out)
{
	struct tm tm;
	time_t v;

	if (years > 1000 || gmtime_r(&t, &tm) == NULL)
		return (-1);
	tm.tm_year += (int)years;
	/* The period ends on the last day of February (lag 1930:173 2 §). */
	if (tm.tm_mon == 1 && tm.tm_mday == 29 &&
	    !is_leap(tm.tm_year + 1900L))
		tm.tm_mday = 28;
	tm.tm_isdst = 0;
	if ((v = timegm(&tm)) == (time_t)-1)
		return (-1);
	*out = v;
	return (0);
}

/** purge_decide(p, kind, record, since, now, years, ref): Due or not. */
enum purge_verdict
purge_decide(const struct refx_policy *p, enum refx_kind kind,
    enum refx_record record, const char *since, time_t now, unsigned *years,
    const char **ref)
{
	time_t from, due;
	unsigned y;

	if (years == NULL)
		years = &y;
	if (!refx_policy_retention(p, kind, record, years, ref))
		return (PURGE_KEEP);
	if (purge_stamp_parse(since, &from) ||
	    purge_add_years(from, *years, &due))
		return (PURGE_UNREADABLE);
	return (now >= due ? PURGE_DUE : PURGE_NOT_YET);
}

/** purge_consent_decide(...): A consent's verdict.  See purge.h. */
enum purge_verdict
purge_consent_decide(const struct refx_policy *p, enum refx_kind kind,
    const char *status, const char *since, long open_copies, time_t now,
    unsigned *years, const char **ref)
{
	unsigned y;

	if (years == NULL)
		years = &y;
	if (!refx_policy_retention(p, kind, REFX_RECORD_CONSENT, years, ref))
		return (PURGE_KEEP);
	/* Retention of a consent runs from its end; an active one has none. */
	if (status == NULL || (strcmp(status, "withdrawn") != 0 &&
	    strcmp(status, "expired") != 0))
		return (PURGE_NOT_YET);
	/* The school's copy of a referral under it still names its scope. */
	if (open_copies != 0)
		return (PURGE_NOT_YET);
	return (purge_decide(p, kind, REFX_RECORD_CONSENT, since, now, years,
	    ref));
}

/*
 * A record is due when since + years <= now.  Going back ${years} from
 * now and forward again loses at most a day at each 29 February, so a
 * record whose retention runs from ${now} - ${years} + 3 days or later
 * is surely not due; text order is time order for our stamps.
 */
void
purge_cutoff(time_t now, unsigned years, char out[21])
{
	struct tm tm;
	time_t t;

	out[0] = '\0';		/* below every stamp: nothing passes */
	if (gmtime_r(&now, &tm) == NULL)
		return;
	tm.tm_year -= (int)(years > 1000 ? 1000 : years);
	if (tm.tm_mon == 1 && tm.tm_mday == 29 &&
	    !is_leap(tm.tm_year + 1900L))
		tm.tm_mday = 28;
	tm.tm_isdst = 0;
	if ((t = timegm(&tm)) == (time_t)-1)
		return;
	t += CUTOFF_SLACK;
	if (gmtime_r(&t, &tm) == NULL)
		return;
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* How many of the first ${n} bytes of ${s} end on a character boundary. */
static size_t
utf8_floor(const char *s, size_t n)
{

	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return (n);
}

/** purge_reason(out, outlen, head, ref, tail): See purge.h. */
size_t
purge_reason(char *out, size_t outlen, const char *head, const char *ref,
    const char *tail)
{
	static const char cut[] = "...";
	size_t hl, tl, rl, room, n;
	int len;

	if (outlen == 0)
		return (0);
	hl = strlen(head);
	tl = strlen(tail);
	rl = ref != NULL ? strlen(ref) : 0;
	if (hl + tl + 1 > outlen) {
		/* Ours, and never this long; still cut on a boundary. */
		len = snprintf(out, outlen, "%s%s", head, tail);
		n = len < 0 ? 0 : (size_t)len >= outlen ? outlen - 1 :
		    (size_t)len;
		n = utf8_floor(out, n);
		out[n] = '\0';
		return (n);
	}
	room = outlen - 1 - hl - tl;
	if (rl == 0 || room < sizeof(" ()") - 1 + sizeof(cut) - 1 + 1)
		len = snprintf(out, outlen, "%s%s", head, tail);
	else if (rl + 3 <= room)
		len = snprintf(out, outlen, "%s (%s)%s", head, ref, tail);
	else {
		n = utf8_floor(ref, room - 3 - (sizeof(cut) - 1));
		len = snprintf(out, outlen, "%s (%.*s%s)%s", head, (int)n, ref,
		    cut, tail);
	}
	return (len < 0 ? 0 : (size_t)len);
}

/** purge_summary(pc, out, outlen): One line of counts. */
void
purge_summary(const struct purge_counts *pc, char *out, size_t outlen)
{
	int n;

	n = snprintf(out, outlen, "recipient_copies=%lu sender_copies=%lu "
	    "referrals=%lu consents=%lu envelopes=%lu message_keys=%lu "
	    "fields=%lu messages=%lu consent_keys=%lu records=%lu",
	    pc->pc_copies, pc->pc_sender_copies, pc->pc_referrals,
	    pc->pc_consents, pc->pc_envelopes, pc->pc_message_keys,
	    pc->pc_fields, pc->pc_messages, pc->pc_consent_keys,
	    pc->pc_records);
	if (n < 0 || (size_t)n >= outlen)
		return;
	if (pc->pc_skipped)
		n += snprintf(out + n, outlen - (size_t)n, " skipped=%lu",
		    pc->pc_skipped);
	if (n >= 0 && (size_t)n < outlen && pc->pc_unsigned)
		n += snprintf(out + n, outlen - (size_t)n, " unsigned_logs=%lu",
		    pc->pc_unsigned);
	if (n >= 0 && (size_t)n < outlen && pc->pc_capped)
		snprintf(out + n, outlen - (size_t)n, " capped=1");
}

/* ---- the database ------------------------------------------------------ */

/* One candidate row, copied out of its query before anything changes. */
struct cand {
	int64_t		 c_rowid;
	/* The referral or consent, and the unit holding or owning it. */
	char		 c_id[REFX_REFERRAL_ID_LEN + 1];
	char		 c_unit[REFX_AGENCY_ID_MAX + 1];
	char		 c_kind[16];	/* a recipient's; else "" */
	char		 c_since[SINCE_MAX];	/* "": unreadable */
	char		 c_status[16];	/* a consent's */
	long		 c_open;	/* its referrals' sender copies */
	char		 c_manifest[17];	/* SHA-256, cut to 16 */
};

/* Logs written to in the current transaction: checkpointed after it. */
struct touched {
	char		 t_unit[PURGE_BATCH][REFX_AGENCY_ID_MAX + 1];
	size_t		 t_n;
};

struct run {
	struct server		*r_sv;
	time_t			 r_now;
	char			 r_stamp[21];	/* r_now, stored */
	char			 r_id[33];	/* in its records */
	const atomic_int	*r_stop;
	struct purge_counts	 r_tx;		/* this transaction */
	struct purge_counts	*r_pc;		/* committed */
	unsigned long		 r_done;	/* committed deletions */
	struct touched		 r_touched;
	/* The phase's cheap filter, worked out on its first page. */
	unsigned		 r_years;
	int			 r_years_known;
	struct cand		 r_cand[PURGE_BATCH];
};

/* One phase: its candidates (a page after ${after}) and their handling. */
struct phase {
	const char	*ph_name;
	int		(*ph_select)(struct run *, struct store_tx *,
			    int64_t, size_t *);
	enum refx_err	(*ph_apply)(struct run *, struct store_tx *,
			    const struct cand *);
};

static int
stopped(const struct run *r)
{

	return (r->r_stop != NULL && atomic_load(r->r_stop) != 0);
}

/* Deletions so far in this run, committed or pending. */
static unsigned long
deletions(const struct run *r)
{

	return (r->r_done + r->r_tx.pc_copies + r->r_tx.pc_sender_copies +
	    r->r_tx.pc_referrals + r->r_tx.pc_consents);
}

/* Copy a text column into ${dst}; 0, or -1 if NULL or too long. */
static int
col_copy(struct store_stmt *st, int col, char *dst, size_t len)
{
	const char *s = store_col_text(st, col);

	dst[0] = '\0';
	if (s == NULL || strlen(s) >= len)
		return (-1);
	memcpy(dst, s, strlen(s) + 1);
	return (0);
}

/* The start of the SHA-256 of a manifest: names the referral's content. */
static void
col_manifest(struct store_stmt *st, int col, char out[17])
{
	char hex[65];
	const void *p;
	size_t len;

	p = store_col_blob(st, col, &len);
	refx_sha256_hex(p != NULL ? p : (const void *)"", p != NULL ? len : 0,
	    hex);
	memcpy(out, hex, 16);
	out[16] = '\0';
}

/* A unit's kind from the directory; a unit no longer listed: a school. */
static enum refx_kind
unit_kind(const struct run *r, const char *unit)
{
	enum refx_kind kind;

	if (r->r_sv->sv_dir == NULL ||
	    directory_unit_kind(r->r_sv->sv_dir, unit, &kind) != 0)
		return (REFX_KIND_SCHOOL);
	return (kind);
}

static void
touch(struct run *r, const char *unit)
{
	struct touched *t = &r->r_touched;
	size_t i;

	for (i = 0; i < t->t_n; i++)
		if (strcmp(t->t_unit[i], unit) == 0)
			return;
	if (t->t_n < PURGE_BATCH)
		snprintf(t->t_unit[t->t_n++], sizeof(t->t_unit[0]), "%s", unit);
}

/*
 * The deletion record: an entry of the exchange itself (no person, no
 * certificate, kind and role 255) in ${unit}'s log.
 */
static enum refx_err
record(struct run *r, struct store_tx *tx, const char *unit,
    const char *type, const char *id, refx_classes classes,
    const char *head, const char *ref, const char *tail)
{
	struct refx_audit_entry e;
	const char *units[1] = { unit };
	enum refx_err err;

	memset(&e, 0, sizeof(e));
	e.ae_action = REFX_AUDIT_PURGE;
	e.ae_outcome = REFX_AUDIT_ALLOWED;
	e.ae_actor_kind = 255;
	e.ae_actor_role = 255;
	snprintf(e.ae_object_type, sizeof(e.ae_object_type), "%s", type);
	snprintf(e.ae_object_id, sizeof(e.ae_object_id), "%s", id);
	e.ae_classes = classes;
	purge_reason(e.ae_reason, sizeof(e.ae_reason), head, ref, tail);
	snprintf(e.ae_request_id, sizeof(e.ae_request_id), "%s", r->r_id);
	memcpy(e.ae_policy, refx_policy_hash(r->r_sv->sv_policy),
	    sizeof(e.ae_policy));
	if ((err = audit_append(r->r_sv->sv_audit, tx, &e, units, 1, 1)))
		return (err);
	touch(r, unit);
	r->r_tx.pc_records++;
	return (REFX_OK);
}

/*
 * The field classes a copy of referral ${id} held: those of ${unit}'s
 * envelope (its field list), or every field's for the sender (NULL).
 */
static int
classes_of(struct store_tx *tx, const char *id, const char *unit,
    refx_classes *out)
{
	struct store_stmt *st;
	enum store_step s;
	enum refx_class c;

	*out = 0;
	if (unit == NULL)
		st = store_query(tx, "SELECT DISTINCT class FROM "
		    "referral_fields WHERE referral_id = ?", "t", id);
	else
		st = store_query(tx, "SELECT DISTINCT f.class FROM "
		    "referral_recipients rr, json_each(rr.fields) j JOIN "
		    "referral_fields f ON f.referral_id = rr.referral_id AND "
		    "f.name = j.value WHERE rr.referral_id = ? AND "
		    "rr.recipient = ?", "tt", id, unit);
	if (st == NULL)
		return (-1);
	while ((s = store_step(st)) == STORE_ROW)
		if (refx_class_parse(store_col_text(st, 0), &c) == 0)
			*out |= REFX_CLASS_BIT(c);
	store_finalize(st);
	return (s == STORE_DONE ? 0 : -1);
}

/* Delete ${unit}'s keys to referral ${id}: its envelope, message keys. */
static enum refx_err
delete_keys(struct store_tx *tx, const char *id, const char *unit,
    int *envelopes, int *message_keys)
{
	enum refx_err err;

	if ((err = store_run(tx, "DELETE FROM envelopes WHERE referral_id = ? "
	    "AND recipient = ?", "tt", id, unit)))
		return (err);
	*envelopes = store_changes(tx);
	if ((err = store_run(tx, "DELETE FROM case_message_envelopes WHERE "
	    "unit = ? AND event_id IN (SELECT id FROM case_events WHERE "
	    "referral_id = ?)", "tt", unit, id)))
		return (err);
	*message_keys = store_changes(tx);
	return (REFX_OK);
}

/* "; deleted: envelope, 2 case message keys; manifest sha256 ..." */
static void
keys_tail(char *out, size_t len, int envelopes, int message_keys,
    const char *manifest)
{

	snprintf(out, len, "; deleted: %s, %d case message key%s; manifest "
	    "sha256 %s", envelopes ? "envelope" : "no envelope (its keys "
	    "were deleted before)", message_keys, message_keys == 1 ? "" : "s",
	    manifest);
}

static void
warn_unreadable(const char *what, const char *id)
{

	/* Ids are random hex: nothing about a pupil. */
	log_warnx("purge: %s %s: no readable date to count retention from; "
	    "kept", what, id);
}

/* ---- phase 1: recipient units' copies ---------------------------------- */

static int
select_copies(struct run *r, struct store_tx *tx, int64_t after, size_t *n)
{
	const struct refx_policy *p = r->r_sv->sv_policy;
	char cut[REFX_KIND_COUNT][21];
	const char *ref;
	struct store_stmt *st;
	struct cand *c;
	enum store_step s = STORE_DONE;
	unsigned years;
	int k;

	/* Per kind, only rows old enough to be due (kept kinds: none). */
	for (k = 0; k < REFX_KIND_COUNT; k++) {
		cut[k][0] = '\0';
		if (refx_policy_retention(p, (enum refx_kind)k,
		    REFX_RECORD_REFERRAL, &years, &ref))
			purge_cutoff(r->r_now, years, cut[k]);
	}
	st = store_query(tx, "SELECT rr.rowid, rr.referral_id, rr.recipient, "
	    "rr.kind, coalesce(rr.last_entry_at, r.created_at), r.manifest "
	    "FROM referral_recipients rr JOIN referrals r ON "
	    "r.id = rr.referral_id WHERE rr.purged_at IS NULL AND "
	    "rr.rowid > ?1 AND coalesce(rr.last_entry_at, r.created_at) < "
	    "CASE rr.kind WHEN ?2 THEN ?3 WHEN ?4 THEN ?5 WHEN ?6 THEN ?7 "
	    "WHEN ?8 THEN ?9 WHEN ?10 THEN ?11 WHEN ?12 THEN ?13 ELSE '' END "
	    "ORDER BY rr.rowid LIMIT ?14", "itttttttttttti", after,
	    refx_kind_name(REFX_KIND_SCHOOL), cut[REFX_KIND_SCHOOL],
	    refx_kind_name(REFX_KIND_IFO), cut[REFX_KIND_IFO],
	    refx_kind_name(REFX_KIND_BUP), cut[REFX_KIND_BUP],
	    refx_kind_name(REFX_KIND_PRIMARY_CARE), cut[REFX_KIND_PRIMARY_CARE],
	    refx_kind_name(REFX_KIND_FORUM), cut[REFX_KIND_FORUM],
	    refx_kind_name(REFX_KIND_SUPERVISOR), cut[REFX_KIND_SUPERVISOR],
	    (int64_t)PURGE_BATCH);
	if (st == NULL)
		return (-1);
	*n = 0;
	while (*n < PURGE_BATCH && (s = store_step(st)) == STORE_ROW) {
		c = &r->r_cand[*n];
		memset(c, 0, sizeof(*c));
		c->c_rowid = store_col_int(st, 0);
		if (col_copy(st, 1, c->c_id, sizeof(c->c_id)) ||
		    col_copy(st, 2, c->c_unit, sizeof(c->c_unit)))
			c->c_id[0] = '\0';	/* not ours: skipped */
		(void)col_copy(st, 3, c->c_kind, sizeof(c->c_kind));
		(void)col_copy(st, 4, c->c_since, sizeof(c->c_since));
		col_manifest(st, 5, c->c_manifest);
		(*n)++;
	}
	if (*n < PURGE_BATCH && s != STORE_DONE) {
		store_finalize(st);
		return (-1);
	}
	store_finalize(st);
	return (0);
}

static enum refx_err
apply_copy(struct run *r, struct store_tx *tx, const struct cand *c)
{
	enum purge_verdict v;
	enum refx_kind kind;
	enum refx_err err;
	refx_classes classes;
	const char *ref = NULL;
	char head[160], tail[200];
	unsigned years = 0;
	int envs, keys;

	if (c->c_id[0] == '\0' || refx_kind_parse(c->c_kind, &kind)) {
		r->r_tx.pc_skipped++;
		return (REFX_OK);
	}
	v = purge_decide(r->r_sv->sv_policy, kind, REFX_RECORD_REFERRAL,
	    c->c_since, r->r_now, &years, &ref);
	if (v == PURGE_UNREADABLE) {
		warn_unreadable("referral", c->c_id);
		r->r_tx.pc_skipped++;
	}
	if (v != PURGE_DUE)
		return (REFX_OK);
	/* What the copy held: the classes of the fields its envelope opened. */
	if (classes_of(tx, c->c_id, c->c_unit, &classes))
		return (REFX_ESTORE);
	if ((err = delete_keys(tx, c->c_id, c->c_unit, &envs, &keys)))
		return (err);
	if ((err = store_run(tx, "UPDATE referral_recipients SET purged_at = ? "
	    "WHERE referral_id = ? AND recipient = ? AND purged_at IS NULL",
	    "ttt", r->r_stamp, c->c_id, c->c_unit)))
		return (err);
	if (store_changes(tx) != 1)
		return (REFX_ESTORE);
	snprintf(head, sizeof(head), "retention: %s referral %u year%s after "
	    "last entry %.10s", refx_kind_name(kind), years,
	    years == 1 ? "" : "s", c->c_since);
	keys_tail(tail, sizeof(tail), envs, keys, c->c_manifest);
	if ((err = record(r, tx, c->c_unit, "referral", c->c_id, classes, head,
	    ref, tail)))
		return (err);
	r->r_tx.pc_copies++;
	r->r_tx.pc_envelopes += (unsigned long)envs;
	r->r_tx.pc_message_keys += (unsigned long)keys;
	return (REFX_OK);
}

/* ---- phase 2: the sending units' own copies ---------------------------- */

/*
 * The smallest retention in years of the units ${sql} lists (their kinds
 * from the directory), for the cheap filter; 0 if none has one.
 */
static int
min_years(struct run *r, struct store_tx *tx, const char *sql,
    enum refx_record record, unsigned *out)
{
	struct store_stmt *st;
	enum store_step s;
	enum refx_kind kind;
	unsigned years, n = 0;
	int k;

	*out = 0;
	if ((st = store_query(tx, sql, "i", (int64_t)UNITS_MAX + 1)) == NULL)
		return (-1);
	while ((s = store_step(st)) == STORE_ROW) {
		n++;
		kind = unit_kind(r, store_col_text(st, 0));
		if (refx_policy_retention(r->r_sv->sv_policy, kind, record,
		    &years, NULL) && (*out == 0 || years < *out))
			*out = years;
	}
	store_finalize(st);
	if (s != STORE_DONE)
		return (-1);
	if (n > UNITS_MAX)		/* too many to list: any kind's */
		for (k = 0; k < REFX_KIND_COUNT; k++)
			if (refx_policy_retention(r->r_sv->sv_policy,
			    (enum refx_kind)k, record, &years, NULL) &&
			    (*out == 0 || years < *out))
				*out = years;
	return (0);
}

/* A referral's last entry: the latest of its tracks, or its creation. */
#define LAST_ENTRY \
	"coalesce((SELECT max(rr.last_entry_at) FROM referral_recipients rr " \
	"WHERE rr.referral_id = r.id), r.created_at)"

static int
select_senders(struct run *r, struct store_tx *tx, int64_t after, size_t *n)
{
	struct store_stmt *st;
	struct cand *c;
	enum store_step s = STORE_DONE;
	char cut[21];

	*n = 0;
	if (!r->r_years_known && min_years(r, tx, "SELECT DISTINCT "
	    "sender_unit FROM referrals WHERE sender_purged_at IS NULL "
	    "LIMIT ?", REFX_RECORD_REFERRAL, &r->r_years))
		return (-1);
	r->r_years_known = 1;
	if (r->r_years == 0)
		return (0);
	purge_cutoff(r->r_now, r->r_years, cut);
	st = store_query(tx, "SELECT r.rowid, r.id, r.sender_unit, "
	    LAST_ENTRY ", r.manifest FROM referrals r WHERE "
	    "r.sender_purged_at IS NULL AND r.rowid > ? AND " LAST_ENTRY
	    " < ? ORDER BY r.rowid LIMIT ?", "iti", after, cut,
	    (int64_t)PURGE_BATCH);
	if (st == NULL)
		return (-1);
	while (*n < PURGE_BATCH && (s = store_step(st)) == STORE_ROW) {
		c = &r->r_cand[*n];
		memset(c, 0, sizeof(*c));
		c->c_rowid = store_col_int(st, 0);
		if (col_copy(st, 1, c->c_id, sizeof(c->c_id)) ||
		    col_copy(st, 2, c->c_unit, sizeof(c->c_unit)))
			c->c_id[0] = '\0';
		(void)col_copy(st, 3, c->c_since, sizeof(c->c_since));
		col_manifest(st, 4, c->c_manifest);
		(*n)++;
	}
	if (*n < PURGE_BATCH && s != STORE_DONE) {
		store_finalize(st);
		return (-1);
	}
	store_finalize(st);
	return (0);
}

static enum refx_err
apply_sender(struct run *r, struct store_tx *tx, const struct cand *c)
{
	enum purge_verdict v;
	enum refx_kind kind;
	enum refx_err err;
	refx_classes classes;
	const char *ref = NULL;
	char head[160], tail[200];
	unsigned years = 0;
	int envs, keys;

	if (c->c_id[0] == '\0') {
		r->r_tx.pc_skipped++;
		return (REFX_OK);
	}
	kind = unit_kind(r, c->c_unit);
	v = purge_decide(r->r_sv->sv_policy, kind, REFX_RECORD_REFERRAL,
	    c->c_since, r->r_now, &years, &ref);
	if (v == PURGE_UNREADABLE) {
		warn_unreadable("referral", c->c_id);
		r->r_tx.pc_skipped++;
	}
	if (v != PURGE_DUE)
		return (REFX_OK);
	/* The sender's envelope opens every field. */
	if (classes_of(tx, c->c_id, NULL, &classes))
		return (REFX_ESTORE);
	if ((err = delete_keys(tx, c->c_id, c->c_unit, &envs, &keys)))
		return (err);
	if ((err = store_run(tx, "UPDATE referrals SET sender_purged_at = ? "
	    "WHERE id = ? AND sender_purged_at IS NULL", "tt", r->r_stamp,
	    c->c_id)))
		return (err);
	if (store_changes(tx) != 1)
		return (REFX_ESTORE);
	snprintf(head, sizeof(head), "retention: %s referral (the sender's "
	    "copy) %u year%s after last entry %.10s", refx_kind_name(kind),
	    years, years == 1 ? "" : "s", c->c_since);
	keys_tail(tail, sizeof(tail), envs, keys, c->c_manifest);
	if ((err = record(r, tx, c->c_unit, "referral", c->c_id, classes, head,
	    ref, tail)))
		return (err);
	r->r_tx.pc_sender_copies++;
	r->r_tx.pc_envelopes += (unsigned long)envs;
	r->r_tx.pc_message_keys += (unsigned long)keys;
	return (REFX_OK);
}

/* ---- phase 3: ciphertexts nobody holds a key to ------------------------ */

static int
select_orphans(struct run *r, struct store_tx *tx, int64_t after, size_t *n)
{
	struct store_stmt *st;
	struct cand *c;
	enum store_step s = STORE_DONE;

	/*
	 * The sender's copy gone (so never while a "keep" rule holds it),
	 * and no envelope or message key of any unit left.
	 */
	st = store_query(tx, "SELECT r.rowid, r.id, r.sender_unit, "
	    "r.manifest FROM referrals r WHERE r.purged_at IS NULL AND "
	    "r.sender_purged_at IS NOT NULL AND r.rowid > ? AND NOT EXISTS "
	    "(SELECT 1 FROM envelopes e WHERE e.referral_id = r.id) AND "
	    "NOT EXISTS (SELECT 1 FROM case_events ce JOIN "
	    "case_message_envelopes m ON m.event_id = ce.id WHERE "
	    "ce.referral_id = r.id) ORDER BY r.rowid LIMIT ?", "ii", after,
	    (int64_t)PURGE_BATCH);
	if (st == NULL)
		return (-1);
	*n = 0;
	while (*n < PURGE_BATCH && (s = store_step(st)) == STORE_ROW) {
		c = &r->r_cand[*n];
		memset(c, 0, sizeof(*c));
		c->c_rowid = store_col_int(st, 0);
		if (col_copy(st, 1, c->c_id, sizeof(c->c_id)) ||
		    col_copy(st, 2, c->c_unit, sizeof(c->c_unit)))
			c->c_id[0] = '\0';
		col_manifest(st, 3, c->c_manifest);
		(*n)++;
	}
	if (*n < PURGE_BATCH && s != STORE_DONE) {
		store_finalize(st);
		return (-1);
	}
	store_finalize(st);
	return (0);
}

static enum refx_err
apply_orphan(struct run *r, struct store_tx *tx, const struct cand *c)
{
	enum refx_err err;
	refx_classes classes;
	char tail[200];
	int fields, messages;

	if (c->c_id[0] == '\0') {
		r->r_tx.pc_skipped++;
		return (REFX_OK);
	}
	if (classes_of(tx, c->c_id, NULL, &classes))
		return (REFX_ESTORE);
	if ((err = store_run(tx, "DELETE FROM referral_fields WHERE "
	    "referral_id = ?", "t", c->c_id)))
		return (err);
	fields = store_changes(tx);
	if ((err = store_run(tx, "UPDATE case_events SET message = NULL WHERE "
	    "referral_id = ? AND message IS NOT NULL", "t", c->c_id)))
		return (err);
	messages = store_changes(tx);
	if ((err = store_run(tx, "UPDATE referrals SET purged_at = ? WHERE "
	    "id = ? AND purged_at IS NULL", "tt", r->r_stamp, c->c_id)))
		return (err);
	if (store_changes(tx) != 1)
		return (REFX_ESTORE);
	snprintf(tail, sizeof(tail), "; deleted: %d field ciphertext%s, %d "
	    "case message%s; manifest sha256 %s", fields, fields == 1 ? "" :
	    "s", messages, messages == 1 ? "" : "s", c->c_manifest);
	/* The referral is the sending unit's record: its log says so. */
	if ((err = record(r, tx, c->c_unit, "referral", c->c_id, classes,
	    "retention: no unit holds a key to this referral any more",
	    NULL, tail)))
		return (err);
	r->r_tx.pc_referrals++;
	r->r_tx.pc_fields += (unsigned long)fields;
	r->r_tx.pc_messages += (unsigned long)messages;
	return (REFX_OK);
}

/* ---- phase 4: consents -------------------------------------------------- */

static int
select_consents(struct run *r, struct store_tx *tx, int64_t after,
    size_t *n)
{
	struct store_stmt *st;
	struct cand *c;
	enum store_step s = STORE_DONE;
	char cut[21];

	*n = 0;
	if (!r->r_years_known && min_years(r, tx, "SELECT DISTINCT owner "
	    "FROM consents WHERE purged_at IS NULL AND status != 'active' "
	    "LIMIT ?", REFX_RECORD_CONSENT, &r->r_years))
		return (-1);
	r->r_years_known = 1;
	if (r->r_years == 0)
		return (0);
	purge_cutoff(r->r_now, r->r_years, cut);
	st = store_query(tx, "SELECT c.rowid, c.id, c.owner, c.status, "
	    "c.status_at, (SELECT count(*) FROM referrals r WHERE "
	    "r.consent_id = c.id AND r.sender_purged_at IS NULL) FROM "
	    "consents c WHERE c.purged_at IS NULL AND c.status != 'active' "
	    "AND c.rowid > ? AND coalesce(c.status_at, '') < ? ORDER BY "
	    "c.rowid LIMIT ?", "iti", after, cut, (int64_t)PURGE_BATCH);
	if (st == NULL)
		return (-1);
	while (*n < PURGE_BATCH && (s = store_step(st)) == STORE_ROW) {
		c = &r->r_cand[*n];
		memset(c, 0, sizeof(*c));
		c->c_rowid = store_col_int(st, 0);
		if (col_copy(st, 1, c->c_id, sizeof(c->c_id)) ||
		    col_copy(st, 2, c->c_unit, sizeof(c->c_unit)))
			c->c_id[0] = '\0';
		(void)col_copy(st, 3, c->c_status, sizeof(c->c_status));
		(void)col_copy(st, 4, c->c_since, sizeof(c->c_since));
		c->c_open = (long)store_col_int(st, 5);
		(*n)++;
	}
	if (*n < PURGE_BATCH && s != STORE_DONE) {
		store_finalize(st);
		return (-1);
	}
	store_finalize(st);
	return (0);
}

static enum refx_err
apply_consent(struct run *r, struct store_tx *tx, const struct cand *c)
{
	enum purge_verdict v;
	enum refx_kind kind;
	enum refx_err err;
	const char *ref = NULL;
	char head[160], tail[80];
	unsigned years = 0;
	int keys;

	if (c->c_id[0] == '\0') {
		r->r_tx.pc_skipped++;
		return (REFX_OK);
	}
	kind = unit_kind(r, c->c_unit);
	v = purge_consent_decide(r->r_sv->sv_policy, kind, c->c_status,
	    c->c_since, c->c_open, r->r_now, &years, &ref);
	if (v == PURGE_UNREADABLE) {
		warn_unreadable("consent", c->c_id);
		r->r_tx.pc_skipped++;
	}
	if (v != PURGE_DUE)
		return (REFX_OK);
	if ((err = store_run(tx, "DELETE FROM consent_envelopes WHERE "
	    "consent_id = ?", "t", c->c_id)))
		return (err);
	keys = store_changes(tx);
	/* The sealed names go; scope, decisions and statement stay. */
	if ((err = store_run(tx, "UPDATE consents SET blob = x'', purged_at = "
	    "? WHERE id = ? AND purged_at IS NULL", "tt", r->r_stamp,
	    c->c_id)))
		return (err);
	if (store_changes(tx) != 1)
		return (REFX_ESTORE);
	snprintf(head, sizeof(head), "retention: %s consent %u year%s after "
	    "it was %s %.10s", refx_kind_name(kind), years,
	    years == 1 ? "" : "s", c->c_status, c->c_since);
	snprintf(tail, sizeof(tail), "; deleted: sealed names, %d envelope%s",
	    keys, keys == 1 ? "" : "s");
	if ((err = record(r, tx, c->c_unit, "consent", c->c_id, 0, head, ref,
	    tail)))
		return (err);
	r->r_tx.pc_consents++;
	r->r_tx.pc_consent_keys += (unsigned long)keys;
	return (REFX_OK);
}

/* ---- running ------------------------------------------------------------ */

static void
counts_add(struct purge_counts *to, const struct purge_counts *from)
{

	to->pc_copies += from->pc_copies;
	to->pc_sender_copies += from->pc_sender_copies;
	to->pc_referrals += from->pc_referrals;
	to->pc_consents += from->pc_consents;
	to->pc_envelopes += from->pc_envelopes;
	to->pc_message_keys += from->pc_message_keys;
	to->pc_fields += from->pc_fields;
	to->pc_messages += from->pc_messages;
	to->pc_consent_keys += from->pc_consent_keys;
	to->pc_records += from->pc_records;
	to->pc_skipped += from->pc_skipped;
	to->pc_unsigned += from->pc_unsigned;
	to->pc_capped |= from->pc_capped;
}

/* Sign a checkpoint of every log the last transaction wrote to. */
static void
publish_touched(struct run *r)
{
	size_t i;

	for (i = 0; i < r->r_touched.t_n; i++)
		if (audit_publish(r->r_sv->sv_audit, r->r_touched.t_unit[i])) {
			log_warnx("purge: the log of %s has deletion records "
			    "not yet covered by a signed checkpoint",
			    r->r_touched.t_unit[i]);
			r->r_pc->pc_unsigned++;
		}
	r->r_touched.t_n = 0;
}

/* One phase: pages of candidates, each page one transaction. */
static enum refx_err
run_phase(struct run *r, const struct phase *ph)
{
	struct store_tx *tx;
	enum refx_err err;
	int64_t after = 0;
	unsigned page;
	size_t n, i;

	r->r_years_known = 0;
	for (page = 0; page < PAGES_MAX; page++) {
		if (stopped(r))
			return (REFX_OK);
		if (r->r_done >= PURGE_RUN_MAX) {
			r->r_pc->pc_capped = 1;
			return (REFX_OK);
		}
		if ((err = store_begin(r->r_sv->sv_store, 1, &tx)))
			return (err);
		memset(&r->r_tx, 0, sizeof(r->r_tx));
		r->r_touched.t_n = 0;
		if (ph->ph_select(r, tx, after, &n)) {
			log_warnx("purge: %s: cannot read the candidates",
			    ph->ph_name);
			store_rollback(tx);
			return (REFX_ESTORE);
		}
		for (i = 0; i < n && deletions(r) < PURGE_RUN_MAX; i++) {
			after = r->r_cand[i].c_rowid;
			if ((err = ph->ph_apply(r, tx, &r->r_cand[i]))) {
				log_warnx("purge: %s: cannot delete (nothing "
				    "of this batch was): %s", ph->ph_name,
				    refx_strerror(err));
				store_rollback(tx);
				return (err);
			}
		}
		if (r->r_tx.pc_records == 0)
			store_rollback(tx);	/* nothing changed */
		else if ((err = store_commit(tx))) {
			log_warnx("purge: %s: commit failed; nothing of this "
			    "batch was deleted", ph->ph_name);
			return (err);
		}
		r->r_done += r->r_tx.pc_copies + r->r_tx.pc_sender_copies +
		    r->r_tx.pc_referrals + r->r_tx.pc_consents;
		counts_add(r->r_pc, &r->r_tx);
		publish_touched(r);
		if (i < n) {		/* stopped at the cap mid-page */
			r->r_pc->pc_capped = 1;
			return (REFX_OK);
		}
		if (n < PURGE_BATCH)
			return (REFX_OK);
	}
	r->r_pc->pc_capped = 1;
	return (REFX_OK);
}

static const struct phase phases[] = {
	{ "recipient copies", select_copies, apply_copy },
	{ "sender copies", select_senders, apply_sender },
	{ "ciphertexts", select_orphans, apply_orphan },
	{ "consents", select_consents, apply_consent },
};

/** purge_run(sv, now, stop, pc): Delete what is due at ${now}. */
enum refx_err
purge_run(struct server *sv, time_t now, const atomic_int *stop,
    struct purge_counts *pc)
{
	struct run *r;
	struct tm tm;
	uint8_t id[16];
	char line[512];
	enum refx_err err = REFX_OK;
	size_t i;

	memset(pc, 0, sizeof(*pc));
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (REFX_ENOMEM);
	r->r_sv = sv;
	r->r_now = now;
	r->r_stop = stop;
	r->r_pc = pc;
	gmtime_r(&now, &tm);
	strftime(r->r_stamp, sizeof(r->r_stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* One id per run, in each of its records and in its log line. */
	refx_random(id, sizeof(id));
	refx_hex(r->r_id, sizeof(r->r_id), id, sizeof(id));
	for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
		if ((err = run_phase(r, &phases[i])) != REFX_OK)
			break;
	purge_summary(pc, line, sizeof(line));
	if (err != REFX_OK)
		log_warnx("purge %s: stopped (%s); committed batches stand, "
		    "with their records: %s", r->r_id, refx_strerror(err),
		    line);
	else if (pc->pc_records != 0 || pc->pc_skipped != 0)
		log_info("purge %s: %s", r->r_id, line);
	else
		log_debug("purge %s: nothing due", r->r_id);
	free(r);
	return (err);
}

/** purge_command(sv): refxd --purge.  An exit status. */
int
purge_command(struct server *sv)
{
	struct purge_counts pc, total;
	enum refx_err err = REFX_OK;
	char line[512];
	int i;

	memset(&total, 0, sizeof(total));
	memset(&pc, 0, sizeof(pc));
	/* Each run ends at its cap; the command goes on until none is due. */
	for (i = 0; i < RUNS_MAX; i++) {
		err = purge_run(sv, clock_now(), NULL, &pc);
		counts_add(&total, &pc);
		if (err != REFX_OK || !pc.pc_capped)
			break;
	}
	total.pc_capped = err == REFX_OK && pc.pc_capped;
	purge_summary(&total, line, sizeof(line));
	if (err != REFX_OK) {
		printf("purge incomplete: %s\n", line);
		log_warnx("purge: %s", err == REFX_EUNAVAIL ? "the database "
		    "stayed locked; try again" : "database error; see above");
		return (err == REFX_EUNAVAIL ? EX_TEMPFAIL : EX_IOERR);
	}
	printf("purge done: %s\n", line);
	return (0);
}

/* ---- the periodic purge ------------------------------------------------- */

struct purger {
	struct server	*pg_sv;
	pthread_t	 pg_thread;
	pthread_mutex_t	 pg_lock;
	pthread_cond_t	 pg_wake;
	unsigned	 pg_interval;
	atomic_int	 pg_stop;
};

static void *
purger_main(void *cookie)
{
	struct purger *pg = cookie;
	struct purge_counts pc;
	struct timespec until;

	pthread_mutex_lock(&pg->pg_lock);
	while (!atomic_load(&pg->pg_stop)) {
		pthread_mutex_unlock(&pg->pg_lock);
		(void)purge_run(pg->pg_sv, clock_now(), &pg->pg_stop, &pc);
		pthread_mutex_lock(&pg->pg_lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += pg->pg_interval;
		/* Woken early only by purge_stop (or spuriously). */
		while (!atomic_load(&pg->pg_stop) &&
		    pthread_cond_timedwait(&pg->pg_wake, &pg->pg_lock,
		    &until) == 0)
			;
	}
	pthread_mutex_unlock(&pg->pg_lock);
	return (NULL);
}

/** purge_start(sv, interval): The periodic purge thread, or NULL. */
struct purger *
purge_start(struct server *sv, unsigned interval)
{
	struct purger *pg;

	if ((pg = calloc(1, sizeof(*pg))) == NULL)
		return (NULL);
	pg->pg_sv = sv;
	pg->pg_interval = interval ? interval : PURGE_INTERVAL_DEFAULT;
	atomic_init(&pg->pg_stop, 0);
	if (pthread_mutex_init(&pg->pg_lock, NULL))
		goto err1;
	if (pthread_cond_init(&pg->pg_wake, NULL))
		goto err2;
	if (pthread_create(&pg->pg_thread, NULL, purger_main, pg))
		goto err3;
	return (pg);

err3:
	pthread_cond_destroy(&pg->pg_wake);
err2:
	pthread_mutex_destroy(&pg->pg_lock);
err1:
	free(pg);
	return (NULL);
}

/** purge_stop(pg): Stop the thread after its batch; NULL is a no-op. */
void
purge_stop(struct purger *pg)
{

	if (pg == NULL)
		return;
	pthread_mutex_lock(&pg->pg_lock);
	atomic_store(&pg->pg_stop, 1);
	pthread_cond_signal(&pg->pg_wake);
	pthread_mutex_unlock(&pg->pg_lock);
	pthread_join(pg->pg_thread, NULL);
	pthread_cond_destroy(&pg->pg_wake);
	pthread_mutex_destroy(&pg->pg_lock);
	free(pg);
}
