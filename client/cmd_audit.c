/*
 * refx audit list | export | verify | keygen: the auditor's view of the
 * unit's tamper-evident audit log.
 *
 * list and export read every page of the log (GET /v1/audit/logs/UNIT);
 * verify checks a bundle (bundle.c) fetched that way or read from a file
 * without any server, against the exchange CA, the checkpoint this
 * auditor verified last (kept in the state directory) and optionally a
 * checkpoint cosigned by someone else, and may then cosign it as a
 * witness.  See refx(1).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "refx/audit.h"
#include "refx/cert.h"
#include "refx/envelope.h"
#include "refx/file.h"
#include "refx/identity.h"
#include "refx/log.h"
#include "refx/note.h"
#include "refx/schema.h"
#include "refx/secret.h"

#include "bundle.h"
#include "cmd.h"
#include "directory.h"

#define PAGE_ENTRIES	1000	/* a request: < 16 MiB at 8 KiB each */
#define LOG_PATH_MAX	128
#define KEYFILE_MAX	256	/* bytes of a witness seed file */
#define WITNESS_MID	"/auditor/"
#define ESC(n)		(4 * (n) + 1)
#define STR_ESC		ESC(REFX_AUDIT_STR_MAX)
#define COL_MAX		48	/* widest aligned column */
#define DAY_MS		(UINT64_C(86400) * 1000)
#define STATE_SUFFIX	".cosigned"

enum {
	OPT_JSON = 256,
	OPT_UNIT,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_REFERRAL,
	OPT_PERSON,
	OPT_ACTION,
	OPT_STATEDIR,
	OPT_COSIGN,
	OPT_COSIGNED,
};

/* Check a --unit value; complain with EX_USAGE otherwise. */
static int
check_unit(char **argv, const char *unit)
{
	char a[ESC(64)];

	if (unit == NULL || refx_agency_id_valid(unit))
		return (0);
	log_warnx("%s: --unit: '%s' is not a unit id", argv[0],
	    cmd_escape(a, sizeof(a), unit));
	return (EX_USAGE);
}

/*
 * Fetch ${unit}'s log page by page into a new bundle in ${bp}: with
 * ${upto_checkpoint}, the entries its latest checkpoint covers (as it
 * claims: verification comes later), else all of them as of the first
 * page.  ${want} receives that number; the bundle has fewer entries if
 * the server gave no more.  Return EX_OK or a sysexits(3) code after
 * reporting.
 */
static int
fetch_log(struct cmd_ctx *c, const char *unit, int upto_checkpoint,
    struct bundle **bp, uint64_t *want)
{
	char path[LOG_PATH_MAX];
	const char *u, *origin, *cert, *cp;
	struct bundle *b;
	json_t *root, *entries, *e, *size, *from;
	uint64_t target = 0;
	size_t i, got;
	int ex, first = 1;

	*bp = NULL;
	*want = 0;
	if ((b = bundle_new()) == NULL) {
		log_warnx("out of memory");
		return (EX_OSERR);
	}
	/*
	 * Ask for a fresh checkpoint of the log first, so that it covers
	 * what happened until now (our own unit's log only; the periodic
	 * one serves otherwise).  A refusal is not an error here.
	 */
	if (upto_checkpoint) {
		snprintf(path, sizeof(path), "/v1/audit/logs/%s/checkpoint",
		    unit);
		if (cmd_call(c, NET_POST, path, NULL, NET_RESP_MAX, &root) ==
		    EX_OK)
			json_decref(root);
	}
	for (;;) {
		snprintf(path, sizeof(path),
		    "/v1/audit/logs/%s?from=%zu&to=%zu", unit, b->b_n,
		    b->b_n + PAGE_ENTRIES);
		if ((ex = cmd_call(c, NET_GET, path, NULL, NET_RESP_MAX,
		    &root)) != EX_OK)
			goto err;

		/* The page's form; certificate and checkpoint may be absent. */
		u = cmd_json_str(root, "unit", REFX_AGENCY_ID_MAX);
		origin = cmd_json_str(root, "origin", REFX_NOTE_NAME_MAX);
		cert = cmd_json_str(root, "certificate", BUNDLE_CERT_MAX);
		cp = cmd_json_str(root, "checkpoint", REFX_NOTE_MAX);
		size = json_object_get(root, "size");
		from = json_object_get(root, "from");
		entries = json_object_get(root, "entries");
		if (u == NULL || strcmp(u, unit) != 0 || origin == NULL ||
		    (cert == NULL && json_object_get(root, "certificate") !=
		    NULL) || (cp == NULL && json_object_get(root,
		    "checkpoint") != NULL) || !json_is_integer(size) ||
		    json_integer_value(size) < 0 || !json_is_integer(from) ||
		    json_integer_value(from) != (json_int_t)b->b_n ||
		    !json_is_array(entries) ||
		    json_array_size(entries) > PAGE_ENTRIES)
			goto bad;

		/* The first page says how many entries to fetch. */
		if (first) {
			if (bundle_set(b, unit, origin, cert, cp))
				goto bad;
			if (!upto_checkpoint)
				target = (uint64_t)json_integer_value(size);
			else if (cp != NULL &&
			    bundle_checkpoint_size(cp, &target))
				goto bad;
			if (target > BUNDLE_ENTRIES_MAX) {
				log_warnx("the log of unit %s has %llu "
				    "entries, more than refx handles (%d)",
				    unit, (unsigned long long)target,
				    BUNDLE_ENTRIES_MAX);
				json_decref(root);
				ex = EX_SOFTWARE;
				goto err;
			}
			first = 0;
		} else if (strcmp(origin, b->b_origin) != 0)
			goto bad;

		/* Its entries, up to the target. */
		got = json_array_size(entries);
		json_array_foreach(entries, i, e) {
			if (b->b_n >= target)
				break;
			if (!json_is_string(e) ||
			    bundle_add_b64(b, json_string_value(e)))
				goto bad;
		}
		json_decref(root);
		if (b->b_n >= target || got == 0)
			break;
	}
	*bp = b;
	*want = target;
	return (EX_OK);

bad:
	json_decref(root);
	log_warnx("%s: the server's answer is malformed", path);
	ex = EX_PROTOCOL;
err:
	bundle_free(b);
	return (ex);
}

/*
 * The unit whose log to read: ${unit}, else ours (whoami, checked
 * against our certificate), in ${me}.  Return EX_OK or a sysexits code.
 */
static int
which_unit(struct cmd_ctx *c, struct dir_me *me, const char **unit)
{
	int ex;

	if ((ex = directory_me(c, me)) != EX_OK)
		return (ex);
	if (*unit == NULL)
		*unit = me->dm_unit;
	return (EX_OK);
}

/* Report a log that came back short; return its exit status. */
static int
short_log(const struct dir_me *me, const char *unit, const struct bundle *b,
    uint64_t want)
{

	if (strcmp(unit, me->dm_unit) != 0) {
		log_warnx("the exchange shows you the entries of your own "
		    "unit's log only (%s), not of %s", me->dm_unit, unit);
		return (EX_NOPERM);
	}
	log_warnx("the exchange returned %zu of the %llu entries of the log "
	    "of unit %s", b->b_n, (unsigned long long)want, unit);
	return (EX_PROTOCOL);
}

/* --- list --------------------------------------------------------------- */

/* The filters of refx audit list. */
struct filter {
	uint64_t		 f_since;	/* ms, inclusive */
	uint64_t		 f_until;	/* ms, exclusive */
	const char		*f_referral;
	const char		*f_person;
	int			 f_has_action;
	enum refx_audit_action	 f_action;
};

/*
 * Parse the date ${s} (YYYY-MM-DD, UTC) into the time of its midnight in
 * ms.  Return 0 or -1.
 */
static int
parse_date(const char *s, uint64_t *ms)
{
	struct tm tm, back;
	time_t t;
	size_t i;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return (-1);
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return (-1);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 +
	    (s[2] - '0') * 10 + (s[3] - '0') - 1900;
	tm.tm_mon = (s[5] - '0') * 10 + (s[6] - '0') - 1;
	tm.tm_mday = (s[8] - '0') * 10 + (s[9] - '0');
	if (tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11 ||
	    tm.tm_mday < 1)
		return (-1);

	/* timegm normalises 2026-02-30; refuse what it moved. */
	back = tm;
	if ((t = timegm(&back)) == (time_t)-1 || back.tm_mday != tm.tm_mday ||
	    back.tm_mon != tm.tm_mon)
		return (-1);
	*ms = (uint64_t)t * 1000;
	return (0);
}

/* Does entry ${e} pass ${f}? */
static int
selected(const struct filter *f, const struct refx_audit_entry *e)
{

	if (e->ae_time_ms < f->f_since || e->ae_time_ms >= f->f_until)
		return (0);
	if (f->f_referral != NULL &&
	    (strcmp(e->ae_object_type, "referral") != 0 ||
	    strcmp(e->ae_object_id, f->f_referral) != 0))
		return (0);
	if (f->f_person != NULL && strcmp(e->ae_actor_person, f->f_person) != 0)
		return (0);
	if (f->f_has_action && e->ae_action != f->f_action)
		return (0);
	return (1);
}

/* The classes of ${e} as "a,b,c", or "-". */
static void
classes_text(const struct refx_audit_entry *e, char *buf, size_t len)
{
	size_t o = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < REFX_CLASS_COUNT; i++)
		if (e->ae_classes & REFX_CLASS_BIT(i))
			o += (size_t)snprintf(buf + o, o < len ? len - o : 0,
			    "%s%s", o > 0 ? "," : "",
			    refx_class_name((enum refx_class)i));
	if (o == 0)
		snprintf(buf, len, "-");
}

/* The name of a role or kind byte: "-" for none (255). */
static const char *
role_text(unsigned role)
{

	return (role >= 255 ? "-" :
	    refx_role_name((enum refx_role)role));
}

/* The columns of one entry, escaped for a terminal. */
struct row {
	char	r_actor[2 * STR_ESC + 40];
	char	r_object[ESC(32) + STR_ESC + 1];
	char	r_other[STR_ESC];
	char	r_classes[REFX_CLASS_COUNT * 24 + 2];
	char	r_reason[STR_ESC];
};

static void
row_fill(struct row *r, const struct refx_audit_entry *e)
{
	char u[STR_ESC], p[STR_ESC], t[ESC(32)], id[STR_ESC];

	cmd_escape(u, sizeof(u), e->ae_actor_unit);
	cmd_escape(p, sizeof(p), e->ae_actor_person);
	if (u[0] == '\0')
		snprintf(r->r_actor, sizeof(r->r_actor), "-");
	else if (p[0] == '\0')
		snprintf(r->r_actor, sizeof(r->r_actor), "%s", u);
	else if (e->ae_actor_role == 255)
		snprintf(r->r_actor, sizeof(r->r_actor), "%s/%s", u, p);
	else
		snprintf(r->r_actor, sizeof(r->r_actor), "%s/%s (%s)", u, p,
		    role_text(e->ae_actor_role));
	cmd_escape(t, sizeof(t), e->ae_object_type);
	cmd_escape(id, sizeof(id), e->ae_object_id);
	snprintf(r->r_object, sizeof(r->r_object), "%s%s%s",
	    t[0] != '\0' ? t : "-", id[0] != '\0' ? " " : "", id);
	cmd_escape(r->r_other, sizeof(r->r_other), e->ae_other_unit);
	if (r->r_other[0] == '\0')
		snprintf(r->r_other, sizeof(r->r_other), "-");
	classes_text(e, r->r_classes, sizeof(r->r_classes));
	cmd_escape(r->r_reason, sizeof(r->r_reason), e->ae_reason);
}

/* Widen ${w} to ${s}, up to COL_MAX. */
static void
widen(int *w, const char *s)
{
	int n = (int)strlen(s);

	if (n > *w)
		*w = n > COL_MAX ? COL_MAX : n;
}

/* One entry as a JSON object: its fields by their names in audit.h. */
static json_t *
entry_json(const struct refx_audit_entry *e)
{
	char tb[BUNDLE_TIME_LEN], ev[2 * REFX_AUDIT_EVENT_LEN + 1];
	char cert[65], pol[65], salt[65];
	json_t *o, *cl;
	int i;

	if ((cl = json_array()) == NULL)
		return (NULL);
	for (i = 0; i < REFX_CLASS_COUNT; i++)
		if ((e->ae_classes & REFX_CLASS_BIT(i)) &&
		    json_array_append_new(cl,
		    json_string(refx_class_name((enum refx_class)i)))) {
			json_decref(cl);
			return (NULL);
		}
	refx_hex(ev, sizeof(ev), e->ae_event, sizeof(e->ae_event));
	refx_hex(cert, sizeof(cert), e->ae_actor_cert,
	    sizeof(e->ae_actor_cert));
	refx_hex(pol, sizeof(pol), e->ae_policy, sizeof(e->ae_policy));
	refx_hex(salt, sizeof(salt), e->ae_salt, sizeof(e->ae_salt));
	o = json_pack("{s:I, s:s, s:I, s:s, s:s, s:s, s:i, s:s, s:s, s:s,"
	    " s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:I, s:s}",
	    "index", (json_int_t)e->ae_index,
	    "time", bundle_time(e->ae_time_ms, tb),
	    "time_ms", (json_int_t)e->ae_time_ms,
	    "event", ev,
	    "action", refx_audit_action_name(e->ae_action),
	    "outcome", refx_audit_outcome_name(e->ae_outcome),
	    "status", (int)e->ae_status,
	    "actor_unit", e->ae_actor_unit,
	    "actor_kind", e->ae_actor_kind >= 255 ? "-" :
	    refx_kind_name((enum refx_kind)e->ae_actor_kind),
	    "actor_role", role_text(e->ae_actor_role),
	    "actor_person", e->ae_actor_person,
	    "actor_cert", cert,
	    "object_type", e->ae_object_type,
	    "object_id", e->ae_object_id,
	    "other_unit", e->ae_other_unit,
	    "classes", cl,
	    "basis", e->ae_basis,
	    "reason", e->ae_reason,
	    "policy", pol,
	    "request_id", e->ae_request_id,
	    "count", (json_int_t)e->ae_count,
	    "salt", salt);
	return (o);
}

/* Print the selected entries of ${b} (all decoded) as a table or JSON. */
static int
list_print(struct cmd_ctx *c, const struct bundle *b,
    const struct filter *f)
{
	struct refx_audit_entry e;
	struct row r;
	char tb[BUNDLE_TIME_LEN];
	json_t *all = NULL, *o;
	size_t i, n = 0;
	int wa = 5, wo = 6, wu = 5, wc = 7, pass, ex = EX_OK;

	if (c->c_json && (all = json_array()) == NULL)
		goto oom;

	/* Pass 0 sizes the columns (or builds the JSON); pass 1 prints. */
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1 && c->c_json)
			break;
		if (pass == 1 && n == 0) {
			printf("no entries\n");
			break;
		}
		if (pass == 1)
			printf("%6s  %-24s  %-16s  %-7s  %3s  %-*s  %-*s  "
			    "%-*s  %-*s  %s\n", "INDEX", "TIME", "ACTION",
			    "OUTCOME", "ST", wa, "ACTOR", wo, "OBJECT", wu,
			    "OTHER", wc, "CLASSES", "REASON");
		for (i = 0; i < b->b_n; i++) {
			if (refx_audit_decode(b->b_data + b->b_off[i],
			    b->b_off[i + 1] - b->b_off[i], &e) ||
			    e.ae_index != i) {
				log_warnx("entry %zu of the log of unit %s is "
				    "not a well-formed audit entry for its "
				    "place (refx audit verify checks the log)",
				    i, b->b_unit);
				ex = EX_PROTOCOL;
				goto done;
			}
			if (!selected(f, &e))
				continue;
			if (pass == 0 && c->c_json) {
				if ((o = entry_json(&e)) == NULL ||
				    json_array_append_new(all, o))
					goto oom;
				n++;
				continue;
			}
			row_fill(&r, &e);
			if (pass == 0) {
				widen(&wa, r.r_actor);
				widen(&wo, r.r_object);
				widen(&wu, r.r_other);
				widen(&wc, r.r_classes);
				n++;
				continue;
			}
			printf("%6zu  %-24s  %-16s  %-7s  %3u  %-*s  %-*s  "
			    "%-*s  %-*s  %s\n", i, bundle_time(e.ae_time_ms,
			    tb), refx_audit_action_name(e.ae_action),
			    refx_audit_outcome_name(e.ae_outcome),
			    e.ae_status, wa, r.r_actor, wo, r.r_object, wu,
			    r.r_other, wc, r.r_classes, r.r_reason);
		}
	}
	if (c->c_json)
		ex = cmd_print_json(all);
	goto done;

oom:
	log_warnx("out of memory");
	ex = EX_OSERR;
done:
	json_decref(all);
	return (ex);
}

/*
 * refx audit list [--unit UNIT] [--since DATE] [--until DATE]
 * [--referral ID] [--person P] [--action A] [--json]
 */
int
cmd_audit_list(struct cmd_ctx *c, int argc, char **argv)
{
	static const struct option o[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "unit", required_argument, NULL, OPT_UNIT },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "until", required_argument, NULL, OPT_UNTIL },
		{ "referral", required_argument, NULL, OPT_REFERRAL },
		{ "person", required_argument, NULL, OPT_PERSON },
		{ "action", required_argument, NULL, OPT_ACTION },
		{ NULL, 0, NULL, 0 },
	};
	struct filter f;
	struct dir_me me;
	struct bundle *b = NULL;
	const char *unit = NULL;
	char a[ESC(64)];
	uint64_t want, day;
	int ch, ex;

	memset(&f, 0, sizeof(f));
	f.f_until = UINT64_MAX;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", o, NULL)) != -1) {
		switch (ch) {
		case OPT_JSON:
			c->c_json = 1;
			break;
		case OPT_UNIT:
			unit = optarg;
			break;
		case OPT_SINCE:
		case OPT_UNTIL:
			if (parse_date(optarg, &day)) {
				log_warnx("%s: %s: '%s' is not a date "
				    "(YYYY-MM-DD)", argv[0], ch == OPT_SINCE ?
				    "--since" : "--until",
				    cmd_escape(a, sizeof(a), optarg));
				return (EX_USAGE);
			}
			if (ch == OPT_SINCE)
				f.f_since = day;
			else
				f.f_until = day + DAY_MS;
			break;
		case OPT_REFERRAL:
			f.f_referral = optarg;
			if (!refx_referral_id_valid(optarg)) {
				log_warnx("%s: --referral: '%s' is not a "
				    "referral id", argv[0],
				    cmd_escape(a, sizeof(a), optarg));
				return (EX_USAGE);
			}
			break;
		case OPT_PERSON:
			f.f_person = optarg;
			if (!refx_person_id_valid(optarg)) {
				log_warnx("%s: --person: '%s' is not a person "
				    "id", argv[0], cmd_escape(a, sizeof(a),
				    optarg));
				return (EX_USAGE);
			}
			break;
		case OPT_ACTION:
			if (refx_audit_action_parse(optarg, &f.f_action)) {
				log_warnx("%s: --action: unknown action '%s' "
				    "(see refx(1))", argv[0],
				    cmd_escape(a, sizeof(a), optarg));
				return (EX_USAGE);
			}
			f.f_has_action = 1;
			break;
		default:
			return (cmd_opt_error(argv, ch));
		}
	}
	if ((ex = cmd_operands(argc, argv, optind, 0, "")) != 0 ||
	    (ex = check_unit(argv, unit)) != 0)
		return (ex);

	if ((ex = which_unit(c, &me, &unit)) != EX_OK ||
	    (ex = fetch_log(c, unit, 0, &b, &want)) != EX_OK)
		goto done;
	if (b->b_n < want) {
		ex = short_log(&me, unit, b, want);
		goto done;
	}
	ex = list_print(c, b, &f);

done:
	bundle_free(b);
	return (ex);
}

/* --- export ------------------------------------------------------------- */

/*
 * Fetch ${unit}'s log as a bundle consistent with its latest checkpoint.
 * Return EX_OK, or a sysexits(3) code after reporting.  With
 * ${need_checkpoint}, a log without certificate or checkpoint fails.
 */
static int
fetch_bundle(struct cmd_ctx *c, const struct dir_me *me, const char *unit,
    int need_checkpoint, struct bundle **bp)
{
	uint64_t want;
	int ex;

	if ((ex = fetch_log(c, unit, 1, bp, &want)) != EX_OK)
		return (ex);
	if (need_checkpoint && (*bp)->b_checkpoint == NULL) {
		log_warnx("the log of unit %s has no signed checkpoint yet "
		    "(the exchange publishes one every few seconds); try "
		    "again shortly", unit);
		ex = EX_TEMPFAIL;
	} else if (need_checkpoint && (*bp)->b_cert == NULL) {
		log_warnx("the exchange does not publish the certificate of "
		    "the log of unit %s", unit);
		ex = EX_UNAVAILABLE;
	} else if ((*bp)->b_n < want && (need_checkpoint ||
	    strcmp(unit, me->dm_unit) != 0))
		/* Verification reports a short log of our own unit (4). */
		ex = short_log(me, unit, *bp, want);
	if (ex != EX_OK) {
		bundle_free(*bp);
		*bp = NULL;
	}
	return (ex);
}

/* refx audit export FILE [--unit UNIT] [--json] */
int
cmd_audit_export(struct cmd_ctx *c, int argc, char **argv)
{
	static const struct option o[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "unit", required_argument, NULL, OPT_UNIT },
		{ NULL, 0, NULL, 0 },
	};
	struct dir_me me;
	struct bundle *b = NULL;
	const char *unit = NULL, *file;
	char *text = NULL;
	json_t *out;
	size_t len;
	int ch, ex;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", o, NULL)) != -1) {
		switch (ch) {
		case OPT_JSON:
			c->c_json = 1;
			break;
		case OPT_UNIT:
			unit = optarg;
			break;
		default:
			return (cmd_opt_error(argv, ch));
		}
	}
	if ((ex = cmd_operands(argc, argv, optind, 1, "FILE")) != 0 ||
	    (ex = check_unit(argv, unit)) != 0)
		return (ex);
	file = argv[optind];

	if ((ex = which_unit(c, &me, &unit)) != EX_OK ||
	    (ex = fetch_bundle(c, &me, unit, 1, &b)) != EX_OK)
		goto done;
	if ((text = bundle_text(b, &len)) == NULL) {
		log_warnx("out of memory");
		ex = EX_OSERR;
		goto done;
	}
	if (refx_file_write(file, text, len, 0644, 0)) {
		log_warn("cannot write %s", file);
		ex = EX_CANTCREAT;
		goto done;
	}
	if (c->c_json) {
		if ((out = json_pack("{s:s, s:s, s:s, s:I}", "file", file,
		    "unit", b->b_unit, "origin", b->b_origin, "entries",
		    (json_int_t)b->b_n)) == NULL) {
			log_warnx("out of memory");
			ex = EX_OSERR;
			goto done;
		}
		ex = cmd_print_json(out);
		json_decref(out);
	} else
		printf("wrote %s: the log of unit %s (%s), %zu entr%s up to "
		    "its latest checkpoint\n", file, b->b_unit, b->b_origin,
		    b->b_n, b->b_n == 1 ? "y" : "ies");

done:
	free(text);
	bundle_free(b);
	return (ex);
}

/* --- verify ------------------------------------------------------------- */

/* Where verified checkpoints are kept when no --state-dir is given. */
static int
state_dir_default(char *buf, size_t len)
{

	return (cmd_state_dir("audit", buf, len));
}

/*
 * Read the signed note ${path} (at most REFX_NOTE_MAX bytes) into ${note}.
 * Return EX_OK, EX_OK with ${note} NULL if it does not exist and
 * ${may_miss}, BUNDLE_EMALFORMED if too large or holding a NUL, or
 * EX_NOINPUT, after reporting.
 */
static int
read_note(const char *path, int may_miss, char **note, size_t *len)
{
	uint8_t *data;

	*note = NULL;
	*len = 0;
	if (refx_file_read(path, REFX_NOTE_MAX, &data, len)) {
		if (errno == ENOENT && may_miss)
			return (EX_OK);
		if (errno == EFBIG) {
			log_warnx("%s is larger than a signed note may be "
			    "(%d bytes)", path, REFX_NOTE_MAX);
			return (BUNDLE_EMALFORMED);
		}
		log_warn("cannot read %s", path);
		return (EX_NOINPUT);
	}
	if (strlen((char *)data) != *len) {
		log_warnx("%s is not a signed note (it holds a NUL byte)",
		    path);
		free(data);
		return (BUNDLE_EMALFORMED);
	}
	*note = (char *)data;
	return (EX_OK);
}

/*
 * The witness name of this auditor: the unit and person of the
 * certificate of the settings, "UNIT/auditor/PERSON".  Return EX_OK or
 * EX_CONFIG after reporting.
 */
static int
witness_name(struct cmd_ctx *c, char *name, size_t len)
{
	struct refx_identity id;
	struct x509_st *cert;
	const char *why = NULL;

	if (c->c_cf.cc_cert[0] == '\0') {
		log_warnx("no certificate: a witness is named after the unit "
		    "and person of your certificate (give --cert, or set "
		    "'certificate' in [identity])");
		return (EX_CONFIG);
	}
	if ((cert = refx_cert_read(c->c_cf.cc_cert)) == NULL) {
		log_warnx("cannot read your certificate %s", c->c_cf.cc_cert);
		return (EX_CONFIG);
	}
	if (refx_cert_person(cert, &id, &why) != REFX_OK) {
		log_warnx("your certificate %s holds no identity: %s",
		    c->c_cf.cc_cert, why != NULL ? why : "unknown reason");
		refx_cert_free(cert);
		return (EX_CONFIG);
	}
	refx_cert_free(cert);
	snprintf(name, len, "%s" WITNESS_MID "%s", id.id_agency, id.id_person);
	return (EX_OK);
}

/*
 * Load the witness key: the seed in ${path} (base64 on one line, a file
 * only we can access), named after us.  Return EX_OK or EX_CONFIG after
 * reporting.
 */
static int
witness_load(struct cmd_ctx *c, const char *path, struct refx_note_key **key)
{
	char name[REFX_AGENCY_ID_MAX + sizeof(WITNESS_MID) +
	    REFX_PERSON_ID_MAX + 1];
	uint8_t *data = NULL, *seed = NULL;
	size_t len = 0, slen = 0, n;
	int ex;

	*key = NULL;
	if ((ex = witness_name(c, name, sizeof(name))) != EX_OK)
		return (ex);
	if (refx_file_check_private(path)) {
		if (errno == EPERM)
			log_warnx("witness key %s is accessible by group or "
			    "others; refusing to use it (run: chmod 600 %s)",
			    path, path);
		else
			log_warn("cannot use witness key %s", path);
		return (EX_CONFIG);
	}
	if (refx_file_read(path, KEYFILE_MAX, &data, &len)) {
		log_warn("cannot read witness key %s", path);
		return (EX_CONFIG);
	}

	/* One line: the base64 of a 32-byte seed. */
	n = len;
	if (n > 0 && data[n - 1] == '\n')
		data[--n] = '\0';
	if (strlen((char *)data) != n ||
	    refx_b64_decode((char *)data, REFX_NOTE_SEED_LEN, &seed, &slen) ||
	    slen != REFX_NOTE_SEED_LEN) {
		log_warnx("witness key %s is not the base64 of a 32-byte "
		    "seed on one line (see refx audit keygen)", path);
		ex = EX_CONFIG;
		goto done;
	}
	if ((*key = refx_note_key_from_seed(name, REFX_NOTE_COSIG_V1, seed)) ==
	    NULL) {
		log_warnx("cannot make the witness key %s", name);
		ex = EX_CONFIG;
	}

done:
	if (seed != NULL) {
		refx_wipe(seed, slen);
		free(seed);
	}
	refx_wipe(data, len);
	free(data);
	return (ex);
}

/* Count the signature lines of the signed note ${note}. */
static int
note_signatures(const char *note)
{
	const char *p, *sep = NULL;
	int n = 0;

	for (p = note; (p = strstr(p, "\n\n")) != NULL; p++)
		sep = p + 2;
	if (sep == NULL)
		return (0);
	for (p = sep; *p != '\0'; p++)
		if (*p == '\n')
			n++;
	return (n);
}

/* What verify works with. */
struct verify {
	const char		*v_file;	/* bundle file, or NULL */
	const char		*v_unit;
	const char		*v_statedir;
	const char		*v_cosign;	/* key file, or NULL */
	const char		*v_cosigned;	/* note file, or NULL */
	char			 v_dir[PATH_MAX];
	char			 v_state[PATH_MAX];
	char			 v_out[PATH_MAX];	/* .cosigned */
	char			 v_origin[REFX_NOTE_NAME_MAX + 1];
	uint8_t			 v_pk[REFX_NOTE_PK_LEN];
	struct bundle		*v_b;
	int			 v_fd;		/* the bundle file, or -1 */
	struct refx_note_key	*v_witness;
	struct x509_st		*v_ca;		/* freed if offline */
	struct directory	*v_dir_online;
	char			*v_prev;	/* state note, or NULL */
	char			*v_cos;		/* cosigned, or NULL */
	size_t			 v_prevlen;
	size_t			 v_coslen;
	char			 v_what[2][PATH_MAX + 64];
	struct bundle_result	 v_res;
};

/* Read the bundle (offline) or fetch it (online); keep the CA and CRL. */
static int
verify_load(struct cmd_ctx *c, struct verify *v, struct X509_crl_st **crl)
{
	struct dir_me me;
	char err[BUNDLE_ERR_LEN];
	int ex;

	*crl = NULL;
	if (v->v_file == NULL) {
		/* Online: who we are, the CA and CRL, then the log. */
		if ((ex = which_unit(c, &me, &v->v_unit)) != EX_OK ||
		    (ex = directory_fetch(c, &v->v_dir_online, NULL)) != EX_OK)
			return (ex);
		if (v->v_cosign != NULL && (ex = witness_load(c, v->v_cosign,
		    &v->v_witness)) != EX_OK)
			return (ex);
		if ((ex = fetch_bundle(c, &me, v->v_unit, 0, &v->v_b)) != EX_OK)
			return (ex);
		v->v_ca = v->v_dir_online->d_ca;
		*crl = v->v_dir_online->d_crl;
		return (EX_OK);
	}

	/* Offline: the CA of the settings, the file, no server. */
	if ((ex = cmd_settings(c)) != EX_OK)
		return (ex);
	if (c->c_cf.cc_ca[0] == '\0') {
		log_warnx("no exchange CA certificate: give --ca, or set 'ca' "
		    "in [server] of the config file");
		return (EX_CONFIG);
	}
	if ((v->v_ca = refx_cert_read(c->c_cf.cc_ca)) == NULL) {
		log_warnx("cannot read the exchange CA certificate %s",
		    c->c_cf.cc_ca);
		return (EX_CONFIG);
	}
	if (v->v_cosign != NULL && (ex = witness_load(c, v->v_cosign,
	    &v->v_witness)) != EX_OK)
		return (ex);

	/*
	 * The file is read through a window, not into memory (a log of a
	 * million entries is hundreds of MB), and read again to verify its
	 * entries: it stays open until then.
	 */
	if ((v->v_fd = open(v->v_file, O_RDONLY | O_CLOEXEC | O_NOCTTY)) ==
	    -1) {
		log_warn("cannot read %s", v->v_file);
		return (EX_NOINPUT);
	}
	if ((ex = bundle_read(v->v_fd, &v->v_b, err, sizeof(err))) !=
	    BUNDLE_OK) {
		log_warnx("%s: %s", v->v_file, err);
		return (ex);
	}
	if (v->v_unit != NULL && strcmp(v->v_unit, v->v_b->b_unit) != 0) {
		log_warnx("%s holds the log of unit %s, not of %s", v->v_file,
		    v->v_b->b_unit, v->v_unit);
		return (EX_DATAERR);
	}
	v->v_unit = v->v_b->b_unit;
	return (EX_OK);
}

/* The state directory and the files of the log's origin in it. */
static int
verify_paths(struct verify *v)
{
	char hex[65];

	if (v->v_statedir != NULL) {
		if (strlen(v->v_statedir) >= sizeof(v->v_dir)) {
			log_warnx("--state-dir: directory name too long");
			return (EX_USAGE);
		}
		snprintf(v->v_dir, sizeof(v->v_dir), "%s", v->v_statedir);
	} else if (state_dir_default(v->v_dir, sizeof(v->v_dir))) {
		log_warnx("no home directory for the verified checkpoints; "
		    "give --state-dir");
		return (EX_CONFIG);
	}
	refx_sha256_hex((const uint8_t *)v->v_origin, strlen(v->v_origin),
	    hex);
	if (snprintf(v->v_state, sizeof(v->v_state), "%s/%s", v->v_dir,
	    hex) >= (int)sizeof(v->v_state) || snprintf(v->v_out,
	    sizeof(v->v_out), "%s/%s" STATE_SUFFIX, v->v_dir, hex) >=
	    (int)sizeof(v->v_out)) {
		log_warnx("--state-dir: directory name too long");
		return (EX_USAGE);
	}
	return (EX_OK);
}

/* After a successful verify: keep the checkpoint; cosign it if asked. */
static int
verify_commit(struct verify *v, char **cosigned)
{
	const char *cp = v->v_b->b_checkpoint;

	*cosigned = NULL;
	if (refx_mkdir_p(v->v_dir, 0700)) {
		log_warn("cannot create %s", v->v_dir);
		return (EX_CANTCREAT);
	}
	if (refx_file_write(v->v_state, cp, strlen(cp), 0600, 0)) {
		log_warn("cannot save the verified checkpoint as %s",
		    v->v_state);
		return (EX_CANTCREAT);
	}
	if (v->v_witness == NULL)
		return (EX_OK);

	/* A cosignature: we verified it and its consistency, now. */
	if (refx_note_cosign(cp, strlen(cp), v->v_witness,
	    (uint64_t)time(NULL), cosigned)) {
		log_warnx("cannot cosign the checkpoint");
		return (EX_SOFTWARE);
	}
	if (refx_file_write(v->v_out, *cosigned, strlen(*cosigned), 0644,
	    0)) {
		log_warn("cannot write the cosigned checkpoint %s", v->v_out);
		free(*cosigned);
		*cosigned = NULL;
		return (EX_CANTCREAT);
	}
	return (EX_OK);
}

/* Print what was verified. */
static int
verify_report(struct cmd_ctx *c, const struct verify *v, size_t nprior,
    int has_prev)
{
	char vkey[REFX_NOTE_VKEY_MAX], *root;
	json_t *o;
	int ex = EX_OK;

	if ((root = refx_b64_encode(v->v_res.br_root,
	    sizeof(v->v_res.br_root))) == NULL)
		goto oom;
	vkey[0] = '\0';
	if (v->v_witness != NULL &&
	    refx_note_key_vkey(v->v_witness, vkey, sizeof(vkey)))
		vkey[0] = '\0';

	if (c->c_json) {
		if ((o = json_pack("{s:b, s:s, s:s, s:I, s:s, s:I, s:s}", "ok",
		    1, "unit", v->v_b->b_unit, "origin", v->v_origin, "size",
		    (json_int_t)v->v_res.br_size, "root", root, "entries",
		    (json_int_t)v->v_res.br_size, "state", v->v_state)) == NULL)
			goto oom;
		if ((has_prev && json_object_set_new(o, "previous_size",
		    json_integer((json_int_t)v->v_res.br_prior_size[0]))) ||
		    (v->v_cosigned != NULL && json_object_set_new(o,
		    "cosigned_size", json_integer((json_int_t)
		    v->v_res.br_prior_size[nprior - 1]))) ||
		    (v->v_witness != NULL && (json_object_set_new(o,
		    "cosigned_note", json_string(v->v_out)) ||
		    json_object_set_new(o, "witness_vkey",
		    json_string(vkey))))) {
			json_decref(o);
			goto oom;
		}
		ex = cmd_print_json(o);
		json_decref(o);
		free(root);
		return (ex);
	}
	printf("origin:   %s\n", v->v_origin);
	printf("unit:     %s\n", v->v_b->b_unit);
	printf("size:     %llu\n", (unsigned long long)v->v_res.br_size);
	printf("root:     %s\n", root);
	printf("entries:  %llu checked\n",
	    (unsigned long long)v->v_res.br_size);
	if (has_prev)
		printf("previous: %llu entries, consistent\n",
		    (unsigned long long)v->v_res.br_prior_size[0]);
	else
		printf("previous: none (first verification of this log)\n");
	if (v->v_cosigned != NULL)
		printf("cosigned: %llu entries in %s, consistent\n",
		    (unsigned long long)v->v_res.br_prior_size[nprior - 1],
		    v->v_cosigned);
	printf("state:    %s\n", v->v_state);
	if (v->v_witness != NULL) {
		printf("cosigned note: %s\n", v->v_out);
		printf("witness key:   %s\n", vkey);
	}
	printf("OK\n");
	free(root);
	return (EX_OK);

oom:
	free(root);
	log_warnx("out of memory");
	return (EX_OSERR);
}

/*
 * refx audit verify [FILE] [--unit UNIT] [--state-dir DIR]
 * [--cosign KEYFILE] [--cosigned FILE] [--json]
 */
int
cmd_audit_verify(struct cmd_ctx *c, int argc, char **argv)
{
	static const struct option o[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "unit", required_argument, NULL, OPT_UNIT },
		{ "state-dir", required_argument, NULL, OPT_STATEDIR },
		{ "cosign", required_argument, NULL, OPT_COSIGN },
		{ "cosigned", required_argument, NULL, OPT_COSIGNED },
		{ NULL, 0, NULL, 0 },
	};
	struct bundle_prior prior[2];
	struct X509_crl_st *crl;
	struct verify *v;
	char err[BUNDLE_ERR_LEN], *cosigned = NULL;
	size_t nprior = 0;
	int ch, ex, has_prev;
	struct cmd_progress progress = { "verifying entry", 0 };

	if ((v = calloc(1, sizeof(*v))) == NULL) {
		log_warnx("out of memory");
		return (EX_OSERR);
	}
	v->v_fd = -1;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", o, NULL)) != -1) {
		switch (ch) {
		case OPT_JSON:
			c->c_json = 1;
			break;
		case OPT_UNIT:
			v->v_unit = optarg;
			break;
		case OPT_STATEDIR:
			v->v_statedir = optarg;
			break;
		case OPT_COSIGN:
			v->v_cosign = optarg;
			break;
		case OPT_COSIGNED:
			v->v_cosigned = optarg;
			break;
		default:
			ex = cmd_opt_error(argv, ch);
			goto done;
		}
	}
	if (argc - optind > 1) {
		ex = cmd_operands(argc, argv, optind, 1, "FILE");
		goto done;
	}
	if ((ex = check_unit(argv, v->v_unit)) != 0)
		goto done;
	if (optind < argc)
		v->v_file = argv[optind];

	/* The bundle, and the origin and key its certificate vouches for. */
	if ((ex = verify_load(c, v, &crl)) != EX_OK)
		goto done;
	if ((ex = bundle_check_cert(v->v_b, v->v_ca, crl, v->v_origin,
	    sizeof(v->v_origin), v->v_pk, err, sizeof(err))) != BUNDLE_OK) {
		log_warnx("audit verify: %s", err);
		goto done;
	}

	/* What we verified before, and what someone else cosigned. */
	if ((ex = verify_paths(v)) != EX_OK ||
	    (ex = read_note(v->v_state, 1, &v->v_prev, &v->v_prevlen)) !=
	    EX_OK)
		goto done;
	if ((has_prev = v->v_prev != NULL)) {
		snprintf(v->v_what[0], sizeof(v->v_what[0]), "the checkpoint "
		    "you verified before (%s)", v->v_state);
		prior[nprior].bp_what = v->v_what[0];
		prior[nprior].bp_note = v->v_prev;
		prior[nprior++].bp_len = v->v_prevlen;
	}
	if (v->v_cosigned != NULL) {
		if ((ex = read_note(v->v_cosigned, 0, &v->v_cos,
		    &v->v_coslen)) != EX_OK)
			goto done;
		snprintf(v->v_what[1], sizeof(v->v_what[1]), "the cosigned "
		    "checkpoint %s", v->v_cosigned);
		prior[nprior].bp_what = v->v_what[1];
		prior[nprior].bp_note = v->v_cos;
		prior[nprior++].bp_len = v->v_coslen;
	}

	/* The checkpoint, the entries, the root, consistency. */
	ex = bundle_verify(v->v_b, v->v_origin, v->v_pk, prior, nprior,
	    isatty(STDERR_FILENO) ? cmd_progress : NULL, &progress, &v->v_res,
	    err, sizeof(err));
	if (ex != BUNDLE_OK) {
		log_warnx("audit verify: %s", err);
		goto done;
	}
	if (v->v_cos != NULL && note_signatures(v->v_cos) < 2)
		log_warnx("note: %s carries only the log's signature, no "
		    "cosignature", v->v_cosigned);

	/* Only now: remember it, cosign it, say so. */
	if ((ex = verify_commit(v, &cosigned)) != EX_OK)
		goto done;
	ex = verify_report(c, v, nprior, has_prev);

done:
	free(cosigned);
	free(v->v_prev);
	free(v->v_cos);
	refx_note_key_free(v->v_witness);
	bundle_free(v->v_b);
	if (v->v_fd != -1)
		close(v->v_fd);
	if (v->v_dir_online != NULL)
		directory_free(v->v_dir_online);
	else
		refx_cert_free(v->v_ca);
	refx_wipe(v, sizeof(*v));
	free(v);
	return (ex);
}

/* --- keygen ------------------------------------------------------------- */

/* refx audit keygen KEYFILE: a new witness seed, mode 600, never replaced. */
int
cmd_audit_keygen(struct cmd_ctx *c, int argc, char **argv)
{
	char name[REFX_AGENCY_ID_MAX + sizeof(WITNESS_MID) +
	    REFX_PERSON_ID_MAX + 1], vkey[REFX_NOTE_VKEY_MAX];
	uint8_t seed[REFX_NOTE_SEED_LEN];
	struct refx_note_key *key = NULL;
	const char *file;
	char *b64 = NULL, *line = NULL;
	json_t *out;
	size_t len;
	int ex;

	if ((ex = cmd_json_operands(c, argc, argv, 1, "KEYFILE")) != 0)
		return (ex);
	file = argv[optind];

	/* The witness is named after the certificate of the settings. */
	if ((ex = cmd_settings(c)) != EX_OK ||
	    (ex = witness_name(c, name, sizeof(name))) != EX_OK)
		return (ex);

	refx_random(seed, sizeof(seed));
	if ((key = refx_note_key_from_seed(name, REFX_NOTE_COSIG_V1, seed)) ==
	    NULL || refx_note_key_vkey(key, vkey, sizeof(vkey)) ||
	    (b64 = refx_b64_encode(seed, sizeof(seed))) == NULL ||
	    (line = malloc((len = strlen(b64)) + 2)) == NULL) {
		log_warnx("cannot make a witness key");
		ex = EX_SOFTWARE;
		goto done;
	}
	memcpy(line, b64, len);
	line[len++] = '\n';
	line[len] = '\0';
	if (refx_file_write(file, line, len, 0600, 1)) {
		if (errno == EEXIST)
			log_warnx("%s exists; refusing to replace it", file);
		else
			log_warn("cannot write %s", file);
		ex = EX_CANTCREAT;
		goto done;
	}
	if (c->c_json) {
		if ((out = json_pack("{s:s, s:s, s:s}", "file", file,
		    "witness", name, "vkey", vkey)) == NULL) {
			log_warnx("out of memory");
			ex = EX_OSERR;
			goto done;
		}
		ex = cmd_print_json(out);
		json_decref(out);
	} else
		printf("wrote %s (mode 600)\nwitness key: %s\n", file, vkey);

done:
	refx_wipe(seed, sizeof(seed));
	if (b64 != NULL) {
		refx_wipe(b64, strlen(b64));
		free(b64);
	}
	if (line != NULL) {
		refx_wipe(line, strlen(line));
		free(line);
	}
	refx_note_key_free(key);
	return (ex);
}
