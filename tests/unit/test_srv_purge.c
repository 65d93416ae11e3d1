/*
 * The retention purge: the date arithmetic at its exact boundaries (leap
 * days included), the pure decisions against etc/policy.json, the bounded
 * deletion record text, the config key, and one database run end to end:
 * what is due goes, with a record that decodes, and nothing else does.
 */
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

#include "refx/audit.h"
#include "refx/file.h"
#include "refx/log.h"
#include "refx/policy.h"
#include "refx/schema.h"
#include "refx/secret.h"

#include "../../server/audit.h"
#include "../../server/config.h"
#include "../../server/purge.h"
#include "../../server/server.h"
#include "../../server/store.h"

#define POLICY_FILE	"etc/policy.json"

static struct refx_policy *
policy_load(void)
{
	struct refx_policy *p;
	uint8_t *bytes;
	size_t len;
	char err[256];

	assert_int_equal(refx_file_read(POLICY_FILE, REFX_POLICY_MAX, &bytes,
	    &len), 0);
	p = refx_policy_parse(bytes, len, err, sizeof(err));
	free(bytes);
	if (p == NULL)
		fail_msg("%s: %s", POLICY_FILE, err);
	return (p);
}

/* Does ${s} begin with ${prefix}? */
static int
starts(const char *s, const char *prefix)
{

	return (strncmp(s, prefix, strlen(prefix)) == 0);
}

static time_t
at(const char *stamp)
{
	time_t t;

	if (purge_stamp_parse(stamp, &t) != 0)
		fail_msg("cannot parse %s", stamp);
	return (t);
}

/* ---- dates ----------------------------------------------------------- */

static void
stamps_parse_strictly(void **state)
{
	time_t t;

	(void)state;
	assert_int_equal(purge_stamp_parse("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(purge_stamp_parse("2026-11-23T10:11:12Z", &t), 0);
	assert_int_equal(t, 1795428672);
	assert_int_equal(purge_stamp_parse("2026-11-23", &t), 0);
	assert_int_equal(t, 1795392000);
	assert_int_equal(purge_stamp_parse("2028-02-29T00:00:00Z", &t), 0);
	/* Not dates: each is kept by the purge, never guessed at. */
	assert_int_equal(purge_stamp_parse(NULL, &t), -1);
	assert_int_equal(purge_stamp_parse("", &t), -1);
	assert_int_equal(purge_stamp_parse("2027-02-29T00:00:00Z", &t), -1);
	assert_int_equal(purge_stamp_parse("2026-13-01T00:00:00Z", &t), -1);
	assert_int_equal(purge_stamp_parse("2026-11-31", &t), -1);
	assert_int_equal(purge_stamp_parse("2026-11-23T24:00:00Z", &t), -1);
	assert_int_equal(purge_stamp_parse("2026-11-23T10:60:00Z", &t), -1);
	assert_int_equal(purge_stamp_parse("2026-11-23T10:00:60Z", &t), -1);
	assert_int_equal(purge_stamp_parse("2026-11-23T10:00:00", &t), -1);
	assert_int_equal(purge_stamp_parse("2026-11-23T10:00:00+01", &t), -1);
	assert_int_equal(purge_stamp_parse("2026-11-23T10:00:00Zx", &t), -1);
	assert_int_equal(purge_stamp_parse("2026-11-23 10:00:00Z", &t), -1);
	assert_int_equal(purge_stamp_parse("+026-11-23", &t), -1);
	assert_int_equal(purge_stamp_parse("1969-12-31", &t), -1);
}

static void
years_are_calendar_years(void **state)
{
	time_t t;

	(void)state;
	assert_int_equal(purge_add_years(at("2026-11-23T10:11:12Z"), 5, &t), 0);
	assert_int_equal(t, at("2031-11-23T10:11:12Z"));
	/* Across leap days the count is in years, not 365-day blocks. */
	assert_int_equal(purge_add_years(at("2027-03-01T00:00:00Z"), 1, &t), 0);
	assert_int_equal(t, at("2028-03-01T00:00:00Z"));
	assert_int_equal(purge_add_years(at("2027-02-28T23:59:59Z"), 1, &t), 0);
	assert_int_equal(t, at("2028-02-28T23:59:59Z"));
	/* 29 February: 28 February in a common year, itself in a leap year. */
	assert_int_equal(purge_add_years(at("2028-02-29T08:00:00Z"), 1, &t), 0);
	assert_int_equal(t, at("2029-02-28T08:00:00Z"));
	assert_int_equal(purge_add_years(at("2028-02-29T08:00:00Z"), 4, &t), 0);
	assert_int_equal(t, at("2032-02-29T08:00:00Z"));
	assert_int_equal(purge_add_years(at("2028-02-29T08:00:00Z"), 10, &t),
	    0);
	assert_int_equal(t, at("2038-02-28T08:00:00Z"));
	/* 2100 is not a leap year, 2000 was. */
	assert_int_equal(purge_add_years(at("2096-02-29"), 4, &t), 0);
	assert_int_equal(t, at("2100-02-28"));
	assert_int_equal(purge_add_years(at("1996-02-29"), 4, &t), 0);
	assert_int_equal(t, at("2000-02-29"));
	assert_int_equal(purge_add_years(0, 0, &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(purge_add_years(0, 5000, &t), -1);
}

/* ---- decisions --------------------------------------------------------- */

static void
due_exactly_at_the_boundary(void **state)
{
	struct refx_policy *p = policy_load();
	const char *ref = NULL;
	unsigned years = 0;
	time_t due = at("2031-11-23T10:11:12Z");

	(void)state;
	/* IFO: 5 years after the last entry (SoL 12 kap. 1 §). */
	assert_int_equal(purge_decide(p, REFX_KIND_IFO, REFX_RECORD_REFERRAL,
	    "2026-11-23T10:11:12Z", due - 1, &years, &ref), PURGE_NOT_YET);
	assert_int_equal(years, 5);
	assert_non_null(ref);
	assert_non_null(strstr(ref, "SoL (2001:453) 12 kap. 1"));
	assert_int_equal(purge_decide(p, REFX_KIND_IFO, REFX_RECORD_REFERRAL,
	    "2026-11-23T10:11:12Z", due, &years, &ref), PURGE_DUE);
	assert_int_equal(purge_decide(p, REFX_KIND_IFO, REFX_RECORD_REFERRAL,
	    "2026-11-23T10:11:12Z", due + 1, NULL, NULL), PURGE_DUE);
	/* BUP: 10 years (PDL 3 kap. 17 §): not at 5, nor a second early. */
	assert_int_equal(purge_decide(p, REFX_KIND_BUP, REFX_RECORD_REFERRAL,
	    "2026-11-23T10:11:12Z", due, &years, NULL), PURGE_NOT_YET);
	assert_int_equal(years, 10);
	assert_int_equal(purge_decide(p, REFX_KIND_BUP, REFX_RECORD_REFERRAL,
	    "2026-11-23T10:11:12Z", at("2036-11-23T10:11:11Z"), NULL, NULL),
	    PURGE_NOT_YET);
	assert_int_equal(purge_decide(p, REFX_KIND_BUP, REFX_RECORD_REFERRAL,
	    "2026-11-23T10:11:12Z", at("2036-11-23T10:11:12Z"), NULL, NULL),
	    PURGE_DUE);
	/* A leap-day entry: due on 28 February of a common year. */
	assert_int_equal(purge_decide(p, REFX_KIND_BUP, REFX_RECORD_REFERRAL,
	    "2028-02-29T12:00:00Z", at("2038-02-28T11:59:59Z"), NULL, NULL),
	    PURGE_NOT_YET);
	assert_int_equal(purge_decide(p, REFX_KIND_BUP, REFX_RECORD_REFERRAL,
	    "2028-02-29T12:00:00Z", at("2038-02-28T12:00:00Z"), NULL, NULL),
	    PURGE_DUE);
	assert_int_equal(purge_decide(p, REFX_KIND_IFO, REFX_RECORD_REFERRAL,
	    "2028-02-29T12:00:00Z", at("2032-02-29T11:59:59Z"), NULL, NULL),
	    PURGE_NOT_YET);
	assert_int_equal(purge_decide(p, REFX_KIND_SCHOOL,
	    REFX_RECORD_REFERRAL, "2028-02-29T12:00:00Z",
	    at("2033-02-28T12:00:00Z"), NULL, NULL), PURGE_DUE);
	refx_policy_free(p);
}

static void
keep_is_never_due(void **state)
{
	struct refx_policy *p = policy_load();
	time_t far = at("2999-01-01");
	const char *ref = "x";

	(void)state;
	/* "keep": true in the file. */
	assert_int_equal(purge_decide(p, REFX_KIND_SUPERVISOR,
	    REFX_RECORD_REFERRAL, "1990-01-01", far, NULL, &ref), PURGE_KEEP);
	assert_non_null(ref);
	/* Left out of the file: kept (no time in the plan: no deletion). */
	assert_int_equal(purge_decide(p, REFX_KIND_BUP, REFX_RECORD_CONSENT,
	    "1990-01-01", far, NULL, &ref), PURGE_KEEP);
	assert_null(ref);
	assert_int_equal(purge_consent_decide(p, REFX_KIND_IFO, "withdrawn",
	    "1990-01-01", 0, far, NULL, NULL), PURGE_KEEP);
	/* An unknown kind never deletes anything. */
	assert_int_equal(purge_decide(p, (enum refx_kind)REFX_KIND_COUNT,
	    REFX_RECORD_REFERRAL, "1990-01-01", far, NULL, NULL), PURGE_KEEP);
	/* Due by the rule, but no readable date: kept, and reported. */
	assert_int_equal(purge_decide(p, REFX_KIND_IFO, REFX_RECORD_REFERRAL,
	    "yesterday", far, NULL, NULL), PURGE_UNREADABLE);
	assert_int_equal(purge_decide(p, REFX_KIND_IFO, REFX_RECORD_REFERRAL,
	    NULL, far, NULL, NULL), PURGE_UNREADABLE);
	refx_policy_free(p);
}

static void
consents_wait_for_their_end_and_referrals(void **state)
{
	struct refx_policy *p = policy_load();
	time_t due = at("2031-11-23T10:00:00Z");
	unsigned years = 0;

	(void)state;
	/* Counted from withdrawal or expiry, 5 years for a school. */
	assert_int_equal(purge_consent_decide(p, REFX_KIND_SCHOOL,
	    "withdrawn", "2026-11-23T10:00:00Z", 0, due - 1, &years, NULL),
	    PURGE_NOT_YET);
	assert_int_equal(years, 5);
	assert_int_equal(purge_consent_decide(p, REFX_KIND_SCHOOL,
	    "withdrawn", "2026-11-23T10:00:00Z", 0, due, NULL, NULL),
	    PURGE_DUE);
	assert_int_equal(purge_consent_decide(p, REFX_KIND_SCHOOL, "expired",
	    "2026-11-23T10:00:00Z", 0, due, NULL, NULL), PURGE_DUE);
	/* Still active (its date not yet swept): no retention has begun. */
	assert_int_equal(purge_consent_decide(p, REFX_KIND_SCHOOL, "active",
	    "2026-11-23T10:00:00Z", 0, due + 86400 * 3650L, NULL, NULL),
	    PURGE_NOT_YET);
	assert_int_equal(purge_consent_decide(p, REFX_KIND_SCHOOL, NULL,
	    "2026-11-23T10:00:00Z", 0, due, NULL, NULL), PURGE_NOT_YET);
	assert_int_equal(purge_consent_decide(p, REFX_KIND_SCHOOL, "revoked",
	    "2026-11-23T10:00:00Z", 0, due, NULL, NULL), PURGE_NOT_YET);
	/* A referral under it still has the school's copy: wait for it. */
	assert_int_equal(purge_consent_decide(p, REFX_KIND_SCHOOL,
	    "withdrawn", "2026-11-23T10:00:00Z", 1, due, NULL, NULL),
	    PURGE_NOT_YET);
	assert_int_equal(purge_consent_decide(p, REFX_KIND_SCHOOL,
	    "withdrawn", "", 0, due, NULL, NULL), PURGE_UNREADABLE);
	refx_policy_free(p);
}

/* The cheap SQL filter never hides a due record (random dates). */
static void
cutoff_never_hides_a_due_record(void **state)
{
	struct refx_policy *p = policy_load();
	static const unsigned years[] = { 1, 2, 5, 10, 200 };
	char cut[21], since[21];
	struct tm tm;
	time_t now, s;
	size_t y;
	int i, due, hidden = 0, n = 0;

	(void)state;
	srand(20261123);
	for (i = 0; i < 200000; i++) {
		/* Now: any time, or around the end of a February. */
		if (i % 4 == 0)
			now = at("2032-02-27") + (time_t)rand() % (4 * 86400) +
			    (time_t)(rand() % 20) * 4 * 365 * 86400;
		else
			now = at("2001-01-01") +
			    (time_t)rand() % (60L * 365 * 86400);
		/* Since: within a few days of exactly N years before now. */
		y = (size_t)rand() % (sizeof(years) / sizeof(years[0]));
		gmtime_r(&now, &tm);
		tm.tm_year -= (int)years[y];
		tm.tm_mday += rand() % 7 - 3;
		tm.tm_sec += rand() % 172800 - 86400;
		if ((s = timegm(&tm)) < 0)
			continue;
		gmtime_r(&s, &tm);
		strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
		purge_cutoff(now, years[y], cut);
		due = 0;
		if (purge_add_years(s, years[y], &s) == 0 && now >= s)
			due = 1;
		n += due;
		if (due && strcmp(since, cut) >= 0)
			hidden++;
	}
	assert_true(n > 1000);
	assert_int_equal(hidden, 0);
	/* Tight: a month younger than the retention is filtered out. */
	purge_cutoff(at("2031-11-23T10:00:00Z"), 5, cut);
	assert_true(strcmp("2026-12-23T10:00:00Z", cut) >= 0);
	assert_true(strcmp("2026-11-23T10:00:00Z", cut) < 0);
	refx_policy_free(p);
}

/* ---- the record ------------------------------------------------------ */

/* Is ${s} acceptable as an audit entry's reason? */
static int
encodes(const char *s)
{
	struct refx_audit_entry e;
	static uint8_t buf[REFX_AUDIT_ENTRY_MAX];
	size_t len;

	memset(&e, 0, sizeof(e));
	e.ae_action = REFX_AUDIT_PURGE;
	e.ae_actor_kind = 255;
	e.ae_actor_role = 255;
	snprintf(e.ae_reason, sizeof(e.ae_reason), "%s", s);
	return (strlen(s) <= REFX_AUDIT_STR_MAX &&
	    refx_audit_encode(&e, buf, &len) == 0);
}

static void
reason_is_bounded_and_keeps_the_tail(void **state)
{
	static const char tail[] = "; deleted: envelope, 2 case message keys; "
	    "manifest sha256 0123456789abcdef";
	char out[REFX_AUDIT_STR_MAX + 1], ref[2048];
	size_t n, len, i;

	(void)state;
	n = purge_reason(out, sizeof(out), "retention: ifo referral 5 years",
	    "SoL 12 kap. 1 §", tail);
	assert_string_equal(out, "retention: ifo referral 5 years (SoL 12 "
	    "kap. 1 §); deleted: envelope, 2 case message keys; manifest "
	    "sha256 0123456789abcdef");
	assert_int_equal(n, strlen(out));
	purge_reason(out, sizeof(out), "head", NULL, "; tail");
	assert_string_equal(out, "head; tail");
	/*
	 * References of every length, of two- and three-byte characters
	 * ("§", "…"): never over 512 bytes, never cut inside a character,
	 * the head and the tail always whole.
	 */
	for (len = 0; len < sizeof(ref) - 4; len += (len < 600 ? 1 : 97)) {
		for (i = 0; i < len; ) {
			if (i % 5 == 0 && i + 2 <= len) {
				memcpy(ref + i, "§", 2);
				i += 2;
			} else if (i % 7 == 0 && i + 3 <= len) {
				memcpy(ref + i, "…", 3);
				i += 3;
			} else
				ref[i++] = 'a';
		}
		ref[i] = '\0';
		n = purge_reason(out, sizeof(out), "retention: bup referral 10 "
		    "years after last entry 2026-11-23", ref, tail);
		assert_true(n <= REFX_AUDIT_STR_MAX);
		assert_int_equal(n, strlen(out));
		assert_true(refx_utf8_valid(out, n, 0));
		assert_true(encodes(out));
		assert_true(starts(out, "retention: bup referral 10 years"));
		assert_string_equal(out + n - (sizeof(tail) - 1), tail);
		if (len > 0 && strstr(out, ref) == NULL)
			assert_non_null(strstr(out, "...)"));
	}
	/* A tiny buffer still gives a well-formed string. */
	n = purge_reason(out, 8, "retention: é", "ref", "");
	assert_true(n < 8);
	assert_true(refx_utf8_valid(out, n, 0));
	assert_int_equal(purge_reason(out, 0, "a", "b", "c"), 0);
}

static void
summary_is_one_line_of_counts(void **state)
{
	struct purge_counts pc;
	char line[512];

	(void)state;
	memset(&pc, 0, sizeof(pc));
	pc.pc_copies = 2;
	pc.pc_sender_copies = 1;
	pc.pc_envelopes = 3;
	pc.pc_records = 3;
	purge_summary(&pc, line, sizeof(line));
	assert_string_equal(line, "recipient_copies=2 sender_copies=1 "
	    "referrals=0 consents=0 envelopes=3 message_keys=0 fields=0 "
	    "messages=0 consent_keys=0 records=3");
	pc.pc_skipped = 1;
	pc.pc_capped = 1;
	purge_summary(&pc, line, sizeof(line));
	assert_non_null(strstr(line, " skipped=1 capped=1"));
	assert_null(strchr(line, '\n'));
}

/* ---- the config key ------------------------------------------------- */

static const char conf[] =
    "[tls]\ncertificate = /c\nkey = /k\nca = /a\ncrl = /r\n"
    "[storage]\ndatabase = /d\n[directory]\nunits = /u\n"
    "[policy]\nfile = /p\n[audit]\nkeys = /k\n";

static struct config *
conf_load(const char *extra, char *err)
{
	char path[] = "/tmp/refxd-purge-conf.XXXXXX";
	struct config *cf;
	FILE *f;
	int fd;

	assert_true((fd = mkstemp(path)) != -1);
	assert_non_null(f = fdopen(fd, "w"));
	fprintf(f, "%s%s", conf, extra);
	fclose(f);
	cf = config_load(path, err);
	unlink(path);
	return (cf);
}

static void
purge_interval_config(void **state)
{
	char err[CONFIG_ERR_LEN];
	struct config *cf;

	(void)state;
	assert_non_null(cf = conf_load("", err));
	assert_int_equal(cf->c_purge_interval, 86400);
	config_free(cf);
	assert_non_null(cf = conf_load("[retention]\npurge_interval = 0\n",
	    err));
	assert_int_equal(cf->c_purge_interval, 0);
	config_free(cf);
	assert_non_null(cf = conf_load("[retention]\n"
	    "purge_interval = 2592000\n", err));
	assert_int_equal(cf->c_purge_interval, 2592000);
	config_free(cf);
	assert_null(conf_load("[retention]\npurge_interval = 2592001\n", err));
	assert_non_null(strstr(err, ":15: 'purge_interval' in [retention] "
	    "must be a whole number in 0..2592000"));
	assert_null(conf_load("[retention]\npurge_interval = -1\n", err));
	assert_non_null(strstr(err, ":15: 'purge_interval'"));
	assert_null(conf_load("[retention]\npurge_interval = 1d\n", err));
	assert_null(conf_load("[retention]\ninterval = 1\n", err));
	assert_non_null(strstr(err, ":15: unknown key 'interval' in "
	    "[retention]"));
}

/* ---- a database run ---------------------------------------------------- */

#define T0	"2026-11-23T10:00:00Z"	/* every last entry */
#define R1	"11111111111111111111111111111111"
#define R2	"22222222222222222222222222222222"
#define C1	"cccccccccccccccccccccccccccccccc"
#define C2	"dddddddddddddddddddddddddddddddd"
#define SCHOOL	"ludvika-school-1"
#define IFO	"ludvika-ifo-intake"
#define BUP	"dalarna-bup"

struct db {
	char			 dir[64];
	char			 path[96];
	struct server		 sv;
};

static void
sql(struct store *st, const char *text)
{
	struct store_tx *tx;

	assert_int_equal(store_begin(st, 1, &tx), REFX_OK);
	if (store_run(tx, text, "") != REFX_OK) {
		store_rollback(tx);
		fail_msg("%s", text);
	}
	assert_int_equal(store_commit(tx), REFX_OK);
}

static long long
num(struct store *st, const char *text)
{
	struct store_tx *tx;
	struct store_stmt *q;
	long long v = -1;

	assert_int_equal(store_begin(st, 0, &tx), REFX_OK);
	assert_non_null(q = store_query(tx, text, ""));
	if (store_step(q) == STORE_ROW)
		v = (long long)store_col_int(q, 0);
	store_finalize(q);
	store_rollback(tx);
	return (v);
}

/* A log key in refxd's format for ${unit}, so checkpoints get signed. */
static void
log_key(const char *dir, const char *unit)
{
	char path[160], text[256], *b64;
	uint8_t seed[32];

	refx_random(seed, sizeof(seed));
	assert_non_null(b64 = refx_b64_encode(seed, sizeof(seed)));
	snprintf(path, sizeof(path), "%s/keys/%s.key", dir, unit);
	snprintf(text, sizeof(text), "refx-audit-log-key v1\norigin "
	    "refx/test/audit/%s\nseed %s\n", unit, b64);
	free(b64);
	assert_int_equal(refx_file_write(path, text, strlen(text), 0600, 0),
	    0);
}

static int
db_setup(void **state)
{
	static const char *const units[] = { SCHOOL, IFO, BUP, "system" };
	struct db *d;
	char err[STORE_ERR_LEN], keys[96];
	size_t i;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return (-1);
	snprintf(d->dir, sizeof(d->dir), "/tmp/refxd-purge.XXXXXX");
	if (mkdtemp(d->dir) == NULL)
		return (-1);
	snprintf(keys, sizeof(keys), "%s/keys", d->dir);
	mkdir(keys, 0700);
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		log_key(d->dir, units[i]);
	snprintf(d->path, sizeof(d->path), "%s/refx.db", d->dir);
	d->sv.sv_policy = policy_load();
	if ((d->sv.sv_store = store_open(d->path, 2, err)) == NULL)
		fail_msg("%s", err);
	if ((d->sv.sv_audit = audit_open(d->sv.sv_store, keys, err,
	    sizeof(err))) == NULL)
		fail_msg("%s", err);
	/* sv_dir NULL: every sender and owner counts as a school. */
	*state = d;
	return (0);
}

static int
db_teardown(void **state)
{
	struct db *d = *state;
	char cmd[160];

	audit_close(d->sv.sv_audit);
	store_close(d->sv.sv_store);
	refx_policy_free(d->sv.sv_policy);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
	if (system(cmd) != 0)
		return (-1);
	free(d);
	return (0);
}

/*
 * R1 (under consent C1, withdrawn at T0) went to IFO and BUP, each with
 * its envelope, and IFO answered the school with a sealed message; R2 is
 * an IFO-only referral whose last entry is a year later.
 */
static void
db_fill(struct store *st)
{
	sql(st, "INSERT INTO consents (id, owner, recorded_by, recorded_at, "
	    "valid_until, status, status_at, status_by, parties, blob) VALUES "
	    "('" C1 "', '" SCHOOL "', 'sara.lind', '" T0 "', '2027-06-30', "
	    "'withdrawn', '" T0 "', 'sara.lind', '[]', x'0102'), "
	    "('" C2 "', '" SCHOOL "', 'sara.lind', '" T0 "', '2040-06-30', "
	    "'active', NULL, NULL, '[]', x'0304')");
	sql(st, "INSERT INTO consent_envelopes VALUES ('" C1 "', '" SCHOOL
	    "', x'aa'), ('" C2 "', '" SCHOOL "', x'bb')");
	sql(st, "INSERT INTO referrals (id, sender_unit, sender_person, basis, "
	    "consent_id, created_at, policy_hash, manifest, signature, "
	    "certificate) VALUES ('" R1 "', '" SCHOOL "', 'sara.lind', "
	    "'consent', '" C1 "', '" T0 "', 'h', x'6d31', x'00', 'c'), "
	    "('" R2 "', '" SCHOOL "', 'sara.lind', 'consent', '" C2 "', "
	    "'" T0 "', 'h', x'6d32', x'00', 'c')");
	sql(st, "INSERT INTO referral_fields VALUES "
	    "('" R1 "', 'identity', 'identity', x'01'), "
	    "('" R1 "', 'home_situation', 'home_situation', x'02'), "
	    "('" R1 "', 'diagnoses', 'diagnoses', x'03'), "
	    "('" R2 "', 'identity', 'identity', x'04')");
	sql(st, "INSERT INTO envelopes VALUES ('" R1 "', '" SCHOOL "', x'10'), "
	    "('" R1 "', '" IFO "', x'11'), ('" R1 "', '" BUP "', x'12'), "
	    "('" R2 "', '" SCHOOL "', x'20'), ('" R2 "', '" IFO "', x'21')");
	sql(st, "INSERT INTO referral_recipients (referral_id, recipient, "
	    "kind, fields, status, state, last_entry_at) VALUES "
	    "('" R1 "', '" IFO "', 'ifo', '[\"identity\",\"home_situation\"]', "
	    "'pulled', 'advised', '" T0 "'), "
	    "('" R1 "', '" BUP "', 'bup', '[\"identity\",\"diagnoses\"]', "
	    "'pulled', 'received', '" T0 "'), "
	    "('" R2 "', '" IFO "', 'ifo', '[\"identity\"]', 'available', "
	    "'submitted', '2027-11-23T10:00:00Z')");
	sql(st, "INSERT INTO case_events (id, referral_id, track, seq, event, "
	    "author_unit, author_person, at, message_id, message) VALUES "
	    "(1, '" R1 "', '" IFO "', 0, 'submitted', '" SCHOOL "', "
	    "'sara.lind', '" T0 "', NULL, NULL), "
	    "(2, '" R1 "', '" IFO "', 1, 'advised', '" IFO "', 'anna.berg', "
	    "'" T0 "', 'm1', x'4d'), "
	    "(3, '" R1 "', '" BUP "', 0, 'submitted', '" SCHOOL "', "
	    "'sara.lind', '" T0 "', NULL, NULL), "
	    "(4, '" R2 "', '" IFO "', 0, 'submitted', '" SCHOOL "', "
	    "'sara.lind', '2027-11-23T10:00:00Z', NULL, NULL)");
	sql(st, "INSERT INTO case_message_envelopes VALUES "
	    "(2, '" IFO "', x'e1'), (2, '" SCHOOL "', x'e2')");
	sql(st, "INSERT INTO disclosures (referral_id, consent_id, recipient, "
	    "person, classes, at) VALUES ('" R1 "', '" C1 "', '" IFO "', "
	    "'anna.berg', '[]', '" T0 "')");
}

/* Rows of the tables the purge never deletes from. */
static long long
kept_rows(struct store *st)
{

	return (num(st, "SELECT (SELECT count(*) FROM referrals) * 1000000 + "
	    "(SELECT count(*) FROM referral_recipients) * 10000 + "
	    "(SELECT count(*) FROM case_events) * 100 + "
	    "(SELECT count(*) FROM disclosures) * 10 + "
	    "(SELECT count(*) FROM consents)"));
}

/* Logs with entries whose newest signed checkpoint covers them all. */
static long long
signed_logs(struct store *st)
{

	return (num(st, "SELECT count(*) FROM audit_logs l WHERE l.size > 0 "
	    "AND l.size = (SELECT max(size) FROM audit_checkpoints c WHERE "
	    "c.log_id = l.id)"));
}

static enum refx_err
run(struct db *d, const char *now, struct purge_counts *pc)
{

	return (purge_run(&d->sv, at(now), NULL, pc));
}

/* Every purge entry of ${unit}'s log, decoded; return how many. */
static int
records(struct db *d, const char *unit, struct refx_audit_entry *out,
    int max)
{
	struct store_tx *tx;
	struct store_stmt *q;
	const void *p;
	size_t len;
	int n = 0;

	assert_int_equal(store_begin(d->sv.sv_store, 0, &tx), REFX_OK);
	assert_non_null(q = store_query(tx, "SELECT v.entry FROM audit_leaves "
	    "v JOIN audit_logs l ON l.id = v.log_id WHERE l.unit = ? ORDER BY "
	    "v.idx", "t", unit));
	while (store_step(q) == STORE_ROW && n < max) {
		p = store_col_blob(q, 0, &len);
		assert_int_equal(refx_audit_decode(p, len, &out[n]), 0);
		n++;
	}
	store_finalize(q);
	store_rollback(tx);
	return (n);
}

static void
purge_deletes_what_is_due_and_nothing_else(void **state)
{
	struct db *d = *state;
	struct store *st = d->sv.sv_store;
	struct refx_audit_entry e[8];
	struct purge_counts pc;
	long long kept;

	db_fill(st);
	kept = kept_rows(st);

	/* A second before five years: nothing at all. */
	assert_int_equal(run(d, "2031-11-23T09:59:59Z", &pc), REFX_OK);
	assert_int_equal(pc.pc_records, 0);
	assert_int_equal(num(st, "SELECT count(*) FROM envelopes"), 5);
	assert_int_equal(num(st, "SELECT count(*) FROM audit_leaves"), 0);

	/*
	 * Five years: IFO's copy of R1 and the school's; then C1, whose
	 * only referral lost its sender copy in the same run.  R1 stays
	 * readable for BUP; R2's last entry is a year later.
	 */
	assert_int_equal(run(d, "2031-11-23T10:00:00Z", &pc), REFX_OK);
	assert_int_equal(pc.pc_copies, 1);
	assert_int_equal(pc.pc_sender_copies, 1);
	assert_int_equal(pc.pc_referrals, 0);
	assert_int_equal(pc.pc_consents, 1);
	assert_int_equal(pc.pc_envelopes, 2);
	assert_int_equal(pc.pc_message_keys, 2);
	assert_int_equal(pc.pc_consent_keys, 1);
	assert_int_equal(pc.pc_records, 3);
	assert_int_equal(pc.pc_unsigned, 0);
	assert_int_equal(num(st, "SELECT count(*) FROM envelopes WHERE "
	    "referral_id = '" R1 "'"), 1);
	assert_int_equal(num(st, "SELECT count(*) FROM envelopes WHERE "
	    "referral_id = '" R1 "' AND recipient = '" BUP "'"), 1);
	assert_int_equal(num(st, "SELECT count(*) FROM envelopes WHERE "
	    "referral_id = '" R2 "'"), 2);
	assert_int_equal(num(st, "SELECT count(*) FROM "
	    "case_message_envelopes"), 0);
	assert_int_equal(num(st, "SELECT count(*) FROM referral_fields"), 4);
	assert_int_equal(num(st, "SELECT count(*) FROM case_events WHERE "
	    "message IS NOT NULL"), 1);
	assert_int_equal(num(st, "SELECT count(*) FROM referral_recipients "
	    "WHERE purged_at = '2031-11-23T10:00:00Z'"), 1);
	assert_int_equal(num(st, "SELECT count(*) FROM referrals WHERE "
	    "sender_purged_at IS NOT NULL"), 1);
	assert_int_equal(num(st, "SELECT length(blob) FROM consents WHERE "
	    "id = '" C1 "'"), 0);
	assert_int_equal(num(st, "SELECT length(blob) FROM consents WHERE "
	    "id = '" C2 "'"), 2);
	assert_int_equal(num(st, "SELECT count(*) FROM consent_envelopes"), 1);
	assert_int_equal(kept_rows(st), kept);

	/* The records: the exchange as actor, in the holder's own log. */
	assert_int_equal(records(d, IFO, e, 8), 1);
	assert_int_equal(e[0].ae_action, REFX_AUDIT_PURGE);
	assert_int_equal(e[0].ae_outcome, REFX_AUDIT_ALLOWED);
	assert_int_equal(e[0].ae_actor_kind, 255);
	assert_int_equal(e[0].ae_actor_role, 255);
	assert_string_equal(e[0].ae_actor_unit, "");
	assert_string_equal(e[0].ae_object_type, "referral");
	assert_string_equal(e[0].ae_object_id, R1);
	assert_string_equal(e[0].ae_other_unit, "");
	assert_string_equal(e[0].ae_basis, "");
	assert_int_equal(e[0].ae_classes, REFX_CLASS_BIT(REFX_CLASS_IDENTITY) |
	    REFX_CLASS_BIT(REFX_CLASS_HOME));
	assert_true(starts(e[0].ae_reason, "retention: ifo referral 5 years "
	    "after last entry 2026-11-23 (SoL (2001:453) 12 kap. 1 §"));
	assert_non_null(strstr(e[0].ae_reason, "; deleted: envelope, 1 case "
	    "message key; manifest sha256 "));
	assert_memory_equal(e[0].ae_policy, refx_policy_hash(d->sv.sv_policy),
	    32);
	assert_int_equal(records(d, SCHOOL, e, 8), 2);
	assert_string_equal(e[0].ae_object_id, R1);
	assert_int_equal(e[0].ae_classes, REFX_CLASS_BIT(REFX_CLASS_IDENTITY) |
	    REFX_CLASS_BIT(REFX_CLASS_HOME) |
	    REFX_CLASS_BIT(REFX_CLASS_DIAGNOSES));
	assert_non_null(strstr(e[0].ae_reason, "(the sender's copy) 5 years"));
	assert_string_equal(e[1].ae_object_type, "consent");
	assert_string_equal(e[1].ae_object_id, C1);
	assert_non_null(strstr(e[1].ae_reason, "retention: school consent 5 "
	    "years after it was withdrawn 2026-11-23"));
	assert_non_null(strstr(e[1].ae_reason, "; deleted: sealed names, 1 "
	    "envelope"));
	assert_string_equal(e[1].ae_request_id, e[0].ae_request_id);
	assert_int_equal(records(d, BUP, e, 8), 0);
	/* Signed at once: each log's newest checkpoint covers its records. */
	assert_int_equal(signed_logs(st), 2);

	/* Run again: nothing more, no new record. */
	assert_int_equal(run(d, "2031-11-23T10:00:01Z", &pc), REFX_OK);
	assert_int_equal(pc.pc_records, 0);

	/*
	 * Ten years: BUP's copy; no unit holds a key to R1 any more, so its
	 * ciphertexts go; R2 (IFO and school, from 2027) went at six.
	 */
	assert_int_equal(run(d, "2036-11-23T10:00:00Z", &pc), REFX_OK);
	assert_int_equal(pc.pc_copies, 2);	/* BUP's R1, IFO's R2 */
	assert_int_equal(pc.pc_sender_copies, 1);	/* R2 */
	assert_int_equal(pc.pc_referrals, 2);		/* R1, R2 */
	assert_int_equal(pc.pc_fields, 4);
	assert_int_equal(pc.pc_messages, 1);
	assert_int_equal(pc.pc_consents, 0);		/* C2 is active */
	assert_int_equal(num(st, "SELECT count(*) FROM envelopes"), 0);
	assert_int_equal(num(st, "SELECT count(*) FROM referral_fields"), 0);
	assert_int_equal(num(st, "SELECT count(*) FROM case_events WHERE "
	    "message IS NOT NULL"), 0);
	assert_int_equal(num(st, "SELECT count(*) FROM referrals WHERE "
	    "purged_at = '2036-11-23T10:00:00Z'"), 2);
	assert_int_equal(num(st, "SELECT count(*) FROM case_events WHERE "
	    "message_id = 'm1'"), 1);
	assert_int_equal(kept_rows(st), kept);
	assert_int_equal(records(d, BUP, e, 8), 1);
	assert_int_equal(e[0].ae_classes, REFX_CLASS_BIT(REFX_CLASS_IDENTITY) |
	    REFX_CLASS_BIT(REFX_CLASS_DIAGNOSES));
	assert_non_null(strstr(e[0].ae_reason, "retention: bup referral 10 "
	    "years after last entry 2026-11-23 (PDL (2008:355) 3 kap. 17 §"));
	assert_int_equal(records(d, SCHOOL, e, 8), 5);
	assert_string_equal(e[3].ae_object_id, R1);
	assert_true(starts(e[3].ae_reason, "retention: no unit holds a key "
	    "to this referral any more; deleted: 3 field ciphertexts, 1 case "
	    "message; manifest sha256 "));
	assert_int_equal(signed_logs(st), 3);

	/* C2 ends; five years on, it goes too. */
	sql(st, "UPDATE consents SET status = 'expired', status_at = "
	    "'2040-07-01T00:00:00Z' WHERE id = '" C2 "'");
	assert_int_equal(run(d, "2045-07-01T00:00:00Z", &pc), REFX_OK);
	assert_int_equal(pc.pc_consents, 1);
	assert_int_equal(num(st, "SELECT count(*) FROM consent_envelopes"), 0);
	assert_int_equal(kept_rows(st), kept);
	/* The audit tables are append-only: nothing was ever removed. */
	assert_int_equal(num(st, "SELECT count(*) FROM audit_leaves"), 9);
}

/* A stop request ends a run between batches; what committed stands. */
static void
stop_ends_a_run_early(void **state)
{
	struct db *d = *state;
	struct purge_counts pc;
	atomic_int stop;

	db_fill(d->sv.sv_store);
	atomic_init(&stop, 1);
	assert_int_equal(purge_run(&d->sv, at("2040-01-01"), &stop, &pc),
	    REFX_OK);
	assert_int_equal(pc.pc_records, 0);
	assert_int_equal(num(d->sv.sv_store, "SELECT count(*) FROM envelopes"),
	    5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stamps_parse_strictly),
		cmocka_unit_test(years_are_calendar_years),
		cmocka_unit_test(due_exactly_at_the_boundary),
		cmocka_unit_test(keep_is_never_due),
		cmocka_unit_test(consents_wait_for_their_end_and_referrals),
		cmocka_unit_test(cutoff_never_hides_a_due_record),
		cmocka_unit_test(reason_is_bounded_and_keeps_the_tail),
		cmocka_unit_test(summary_is_one_line_of_counts),
		cmocka_unit_test(purge_interval_config),
		cmocka_unit_test_setup_teardown(
		    purge_deletes_what_is_due_and_nothing_else, db_setup,
		    db_teardown),
		cmocka_unit_test_setup_teardown(stop_ends_a_run_early,
		    db_setup, db_teardown),
	};

	log_init("test_srv_purge", 0);
	if (refx_crypto_init())
		return (1);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
