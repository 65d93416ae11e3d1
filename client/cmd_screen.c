/*
 * refx screen FILE: absence screening of an attendance export at the
 * school, without the exchange: no settings, no certificate, no network.
 * The reading and the rules are in screen.c; this file is the command
 * line, the progress line, the messages and the output.  See
 * docs/screening.md and refx(1).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <jansson.h>

#include "refx/file.h"
#include "refx/identity.h"
#include "refx/log.h"
#include "refx/secret.h"

#include "cmd.h"
#include "screen.h"

#define READ_CHUNK	(64 * 1024)	/* bytes read at a time */
#define BAD_SHOWN_MAX	50	/* bad rows reported one by one */
#define ARG_ESC_MAX	(4 * 128 + 1)	/* an escaped argument or name */
#define DRAFT_PATH_MAX	4096
#define TODO_LEN	256

enum {
	OPT_JSON = 256,
	OPT_MAPPING,
	OPT_FROM,
	OPT_TO,
	OPT_BORAS,
	OPT_BORAS_MONTHS,
	OPT_SANDVIKEN,
	OPT_AGGREGATE,
	OPT_ON_ERROR,
	OPT_DRAFT,
	OPT_OUTPUT,
	OPT_FORCE,
	OPT_SCHOOL,
	OPT_RECIPIENT,
};

/* What the command was asked to do. */
struct screen_args {
	const char			*sa_file;
	const char			*sa_mapping;
	struct screen_rules		 sa_rules;
	const char			*sa_boras;	/* flags, or NULL */
	const char			*sa_months;
	const char			*sa_sandviken;
	int				 sa_aggregate;
	int				 sa_skip;	/* --on-error=skip */
	const char			*sa_draft;	/* pupil id */
	const char			*sa_output;
	int				 sa_force;
	struct screen_draft_opts	 sa_dopts;
};

/* What the report callback needs. */
struct reporter {
	const char		*r_file;
	struct cmd_progress	*r_progress;	/* or NULL */
	unsigned long		 r_shown;
};

/* "s" unless ${n} is 1. */
static const char *
plural(uint64_t n)
{

	return (n == 1 ? "" : "s");
}

/* Report a bad row, the first BAD_SHOWN_MAX of them one by one. */
static void
report_row(void *cookie, unsigned long line, const char *msg)
{
	struct reporter *r = cookie;

	if (r->r_shown++ >= BAD_SHOWN_MAX)
		return;
	if (r->r_progress != NULL)
		cmd_progress_clear(r->r_progress);
	log_warnx("%s:%lu: %s", r->r_file, line, msg);
}

/* Parse the options and the operand into ${a}.  EX_OK or EX_USAGE. */
static int
parse_args(struct cmd_ctx *c, int argc, char **argv, struct screen_args *a)
{
	static const struct option o[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "mapping", required_argument, NULL, OPT_MAPPING },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "boras-percent", required_argument, NULL, OPT_BORAS },
		{ "boras-months", required_argument, NULL, OPT_BORAS_MONTHS },
		{ "sandviken-percent", required_argument, NULL, OPT_SANDVIKEN },
		{ "aggregate", no_argument, NULL, OPT_AGGREGATE },
		{ "on-error", required_argument, NULL, OPT_ON_ERROR },
		{ "draft", required_argument, NULL, OPT_DRAFT },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "school", required_argument, NULL, OPT_SCHOOL },
		{ "recipient", required_argument, NULL, OPT_RECIPIENT },
		{ NULL, 0, NULL, 0 },
	};
	struct screen_draft_opts *d = &a->sa_dopts;
	char e[ARG_ESC_MAX];
	const char *from = NULL, *to = NULL;
	unsigned v;
	size_t i;
	int ch, ex;

	memset(a, 0, sizeof(*a));
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", o, NULL)) != -1) {
		switch (ch) {
		case OPT_JSON:
			c->c_json = 1;
			break;
		case OPT_MAPPING:
			a->sa_mapping = optarg;
			break;
		case OPT_FROM:
			from = optarg;
			break;
		case OPT_TO:
			to = optarg;
			break;
		case OPT_BORAS:
			a->sa_boras = optarg;
			break;
		case OPT_BORAS_MONTHS:
			a->sa_months = optarg;
			break;
		case OPT_SANDVIKEN:
			a->sa_sandviken = optarg;
			break;
		case OPT_AGGREGATE:
			a->sa_aggregate = 1;
			break;
		case OPT_ON_ERROR:
			if (strcmp(optarg, "skip") == 0)
				a->sa_skip = 1;
			else if (strcmp(optarg, "fail") == 0)
				a->sa_skip = 0;
			else {
				log_warnx("%s: --on-error: expected skip or "
				    "fail, not '%s'", argv[0], cmd_escape(e,
				    sizeof(e), optarg));
				return (EX_USAGE);
			}
			break;
		case OPT_DRAFT:
			a->sa_draft = optarg;
			break;
		case OPT_OUTPUT:
			a->sa_output = optarg;
			break;
		case OPT_FORCE:
			a->sa_force = 1;
			break;
		case OPT_SCHOOL:
			d->sd_school = optarg;
			break;
		case OPT_RECIPIENT:
			if (d->sd_nrecipients == sizeof(d->sd_recipients) /
			    sizeof(d->sd_recipients[0])) {
				log_warnx("%s: more than %zu --recipient",
				    argv[0], d->sd_nrecipients);
				return (EX_USAGE);
			}
			d->sd_recipients[d->sd_nrecipients++] = optarg;
			break;
		default:
			return (cmd_opt_error(argv, ch));
		}
	}
	if ((ex = cmd_operands(argc, argv, optind, 1, "FILE")) != 0)
		return (ex);
	a->sa_file = argv[optind];

	/* Values: checked now, applied over the mapping's [rules] later. */
	if ((a->sa_boras != NULL && screen_percent_parse(a->sa_boras, &v)) ||
	    (a->sa_sandviken != NULL &&
	    screen_percent_parse(a->sa_sandviken, &v))) {
		log_warnx("%s: a percentage is above 0 and at most 100, "
		    "with at most two decimals (15, 12.5)", argv[0]);
		return (EX_USAGE);
	}
	if (a->sa_months != NULL && screen_months_parse(a->sa_months, &v)) {
		log_warnx("%s: --boras-months: expected 1 to 12", argv[0]);
		return (EX_USAGE);
	}
	if ((from != NULL && screen_date_parse(from, &a->sa_rules.sr_from)) ||
	    (to != NULL && screen_date_parse(to, &a->sa_rules.sr_to))) {
		log_warnx("%s: --from and --to take a date YYYY-MM-DD",
		    argv[0]);
		return (EX_USAGE);
	}
	if (from != NULL && to != NULL &&
	    a->sa_rules.sr_from > a->sa_rules.sr_to) {
		log_warnx("%s: --from is after --to", argv[0]);
		return (EX_USAGE);
	}

	/* The draft's own options, and what does not go with it. */
	if (a->sa_draft == NULL && (a->sa_output != NULL || a->sa_force ||
	    d->sd_school != NULL || d->sd_nrecipients > 0)) {
		log_warnx("%s: --output, --force, --school and --recipient go "
		    "with --draft PUPIL", argv[0]);
		return (EX_USAGE);
	}
	if (a->sa_draft != NULL && a->sa_aggregate) {
		log_warnx("%s: --draft writes one pupil's draft; --aggregate "
		    "is for the shared table: use one or the other", argv[0]);
		return (EX_USAGE);
	}
	if (d->sd_school != NULL && !refx_name_valid(d->sd_school)) {
		log_warnx("%s: --school: 1-128 bytes of text without control "
		    "characters", argv[0]);
		return (EX_USAGE);
	}
	for (i = 0; i < d->sd_nrecipients; i++)
		if (!refx_agency_id_valid(d->sd_recipients[i])) {
			log_warnx("%s: --recipient: '%s' is not a unit id",
			    argv[0], cmd_escape(e, sizeof(e),
			    d->sd_recipients[i]));
			return (EX_USAGE);
		}
	return (EX_OK);
}

/* The mapping and the rules: built-in, the mapping file, then flags. */
static int
load_mapping(struct screen_args *a, struct screen_map **map)
{
	char err[SCREEN_ERR_LEN];
	struct screen_rules *r = &a->sa_rules;
	uint32_t from = r->sr_from, to = r->sr_to;

	if ((*map = screen_map_new()) == NULL) {
		log_warnx("out of memory");
		return (EX_OSERR);
	}
	if (a->sa_mapping != NULL &&
	    screen_map_load(*map, a->sa_mapping, err, sizeof(err))) {
		log_warnx("%s", err);
		return (EX_CONFIG);
	}
	screen_rules_default(r);
	screen_map_rules(*map, r);
	r->sr_from = from;
	r->sr_to = to;
	if (a->sa_boras != NULL)
		(void)screen_percent_parse(a->sa_boras, &r->sr_boras_bp);
	if (a->sa_months != NULL)
		(void)screen_months_parse(a->sa_months, &r->sr_boras_months);
	if (a->sa_sandviken != NULL)
		(void)screen_percent_parse(a->sa_sandviken,
		    &r->sr_sandviken_bp);
	return (EX_OK);
}

/*
 * Read ${a->sa_file} ("-": standard input) into ${s}, drawing progress
 * on a terminal.  Return EX_OK, or a sysexits(3) code after reporting.
 */
static int
read_export(struct screen_args *a, struct screen *s,
    struct cmd_progress *prog)
{
	char err[SCREEN_ERR_LEN];
	struct stat st;
	uint8_t *buf;
	uint64_t done = 0, all = 0;
	ssize_t r;
	int fd, ex = EX_OK;

	if (strcmp(a->sa_file, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(a->sa_file, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warnx("cannot open %s: %s", a->sa_file, strerror(errno));
		return (EX_NOINPUT);
	}
	if (fstat(fd, &st) == -1) {
		log_warnx("cannot read %s: %s", a->sa_file, strerror(errno));
		ex = EX_NOINPUT;
		goto done;
	}
	if (S_ISDIR(st.st_mode)) {
		log_warnx("cannot read %s: a directory", a->sa_file);
		ex = EX_NOINPUT;
		goto done;
	}
	if (S_ISREG(st.st_mode) && st.st_size > 0 && isatty(STDERR_FILENO))
		all = (uint64_t)st.st_size;
	if ((buf = malloc(READ_CHUNK)) == NULL) {
		log_warnx("out of memory");
		ex = EX_OSERR;
		goto done;
	}

	/* Streamed: memory depends on the pupils, not on the file's size. */
	for (;;) {
		if ((r = read(fd, buf, READ_CHUNK)) == -1) {
			if (errno == EINTR)
				continue;
			cmd_progress_clear(prog);
			log_warnx("cannot read %s: %s", a->sa_file,
			    strerror(errno));
			ex = EX_IOERR;
			break;
		}
		if (r == 0)
			break;
		if (screen_feed(s, buf, (size_t)r, err, sizeof(err))) {
			cmd_progress_clear(prog);
			log_warnx("%s: %s", a->sa_file, err);
			ex = EX_DATAERR;
			break;
		}
		done += (uint64_t)r;
		if (all > 0 && done < all)
			cmd_progress(prog, done / 1024, (all + 1023) / 1024);
	}
	cmd_progress_clear(prog);
	if (ex == EX_OK && screen_finish(s, err, sizeof(err))) {
		log_warnx("%s: %s", a->sa_file, err);
		ex = EX_DATAERR;
	}
	free(buf);
done:
	if (fd != STDIN_FILENO)
		close(fd);
	return (ex);
}

/* A percentage in tenths as a JSON number (one decimal). */
static json_t *
jpercent(unsigned tenths)
{

	return (json_real(tenths / 10.0));
}

/* Minutes (from hundredths) as a JSON integer. */
static json_t *
jminutes(uint64_t h)
{

	return (json_integer((json_int_t)((h + 50) / 100)));
}

/* A count of the table: a number, or "<5" if hidden. */
static json_t *
jcell(uint64_t n, int hide)
{

	return (hide ? json_string("<5") : json_integer((json_int_t)n));
}

/* A date as a JSON string. */
static json_t *
jdate(uint32_t d)
{
	char buf[11];

	return (json_string(screen_date_format(d, buf)));
}

/* The pupil's id, name and class into the object ${o}. */
static int
jpupil(json_t *o, const struct screen_pupil *p)
{

	return (json_object_set_new(o, "pupil", json_string(p->sp_id)) |
	    json_object_set_new(o, "name", json_string(p->sp_name)) |
	    json_object_set_new(o, "class", json_string(p->sp_class)));
}

/* The results as one JSON object. */
static json_t *
results_json(const struct screen_args *a, const struct screen *s)
{
	const struct screen_rules *r = &a->sa_rules;
	const struct screen_pupil *p;
	const struct screen_year *y;
	struct screen_stats st;
	json_t *root, *years, *yo, *boras, *sandv, *o;
	int hide[1 + SCREEN_NBANDS], fails = 0;
	char label[16];
	size_t i, b;

	screen_stats(s, &st);
	root = json_pack("{s:I, s:I, s:I, s:I, s:b, s:{s:{s:f, s:I}, "
	    "s:{s:f}}}",
	    "rows", (json_int_t)st.ss_rows, "bad_rows", (json_int_t)st.ss_bad,
	    "counted_rows", (json_int_t)st.ss_counted,
	    "pupils", (json_int_t)st.ss_pupils, "aggregate", a->sa_aggregate,
	    "rules", "boras", "percent", r->sr_boras_bp / 100.0, "months",
	    (json_int_t)r->sr_boras_months, "sandviken", "percent",
	    r->sr_sandviken_bp / 100.0);
	if (root == NULL)
		return (NULL);
	if (st.ss_first != 0) {
		fails |= json_object_set_new(root, "first_date",
		    jdate(st.ss_first));
		fails |= json_object_set_new(root, "last_date",
		    jdate(st.ss_last));
	}

	/* The Sandviken table, one object per school year. */
	years = json_array();
	for (i = 0; years != NULL && i < screen_nyears(s); i++) {
		y = screen_year_at(s, i);
		memset(hide, 0, sizeof(hide));
		if (a->sa_aggregate)
			screen_suppress(y, hide);
		snprintf(label, sizeof(label), "%u/%u", y->sy_start,
		    y->sy_start + 1);
		if ((yo = json_object()) == NULL) {
			fails = 1;
			break;
		}
		fails |= json_object_set_new(yo, "school_year",
		    json_string(label));
		fails |= json_object_set_new(yo, "pupils",
		    jcell(y->sy_pupils, hide[0]));
		for (b = 0; b < SCREEN_NBANDS; b++)
			fails |= json_object_set_new(yo,
			    screen_band_key((enum screen_band)b),
			    jcell(y->sy_band[b], hide[1 + b]));
		if (!a->sa_aggregate)
			fails |= json_object_set_new(yo, "unscheduled_pupils",
			    json_integer((json_int_t)y->sy_unscheduled));
		fails |= json_array_append_new(years, yo);
	}
	fails |= json_object_set_new(root, "school_years", years);

	/* Names only when the output stays at the school. */
	if (a->sa_aggregate)
		goto done;
	boras = json_array();
	sandv = json_array();
	for (i = 0; boras != NULL && sandv != NULL && i < screen_npupils(s);
	    i++) {
		p = screen_pupil_at(s, i);
		if (p->sp_boras) {
			if ((o = json_object()) == NULL) {
				fails = 1;
				break;
			}
			fails |= jpupil(o, p);
			fails |= json_object_set_new(o, "month_end",
			    jdate(p->sp_boras_end));
			fails |= json_object_set_new(o, "window_start",
			    jdate(p->sp_boras_start));
			fails |= json_object_set_new(o, "absence_percent",
			    jpercent(screen_tenths(p->sp_boras_absent,
			    p->sp_boras_scheduled)));
			fails |= json_object_set_new(o, "absent_minutes",
			    jminutes(p->sp_boras_absent));
			fails |= json_object_set_new(o, "scheduled_minutes",
			    jminutes(p->sp_boras_scheduled));
			fails |= json_array_append_new(boras, o);
		}
		if (p->sp_sandviken) {
			if ((o = json_object()) == NULL) {
				fails = 1;
				break;
			}
			fails |= jpupil(o, p);
			fails |= json_object_set_new(o, "unexcused_percent",
			    jpercent(screen_tenths(p->sp_unexcused,
			    p->sp_scheduled)));
			fails |= json_object_set_new(o, "unexcused_minutes",
			    jminutes(p->sp_unexcused));
			fails |= json_object_set_new(o, "scheduled_minutes",
			    jminutes(p->sp_scheduled));
			fails |= json_object_set_new(o, "period_start",
			    jdate(p->sp_first));
			fails |= json_object_set_new(o, "period_end",
			    jdate(p->sp_last));
			fails |= json_array_append_new(sandv, o);
		}
	}
	fails |= json_object_set_new(root, "boras", boras);
	fails |= json_object_set_new(root, "sandviken", sandv);
done:
	if (fails) {
		json_decref(root);
		return (NULL);
	}
	return (root);
}

/* A threshold in hundredths of a percent, for people: "12.5 %". */
static const char *
threshold(unsigned bp, char buf[16])
{

	if (bp % 100 == 0)
		snprintf(buf, 16, "%u %%", bp / 100);
	else if (bp % 10 == 0)
		snprintf(buf, 16, "%u.%u %%", bp / 100, bp / 10 % 10);
	else
		snprintf(buf, 16, "%u.%02u %%", bp / 100, bp % 100);
	return (buf);
}

/* A percentage in tenths, for people: "15.2 %". */
static const char *
percent(unsigned tenths, char buf[16])
{

	snprintf(buf, 16, "%u.%u %%", tenths / 10, tenths % 10);
	return (buf);
}

/* One count of the table, or "<5" if hidden. */
static const char *
cell(uint64_t n, int hide, char buf[24])
{

	if (hide)
		return ("<5");
	snprintf(buf, 24, "%llu", (unsigned long long)n);
	return (buf);
}

/* Print one flagged pupil: id, class and name, escaped. */
static void
print_pupil(const struct screen_pupil *p)
{
	char id[4 * SCREEN_ID_MAX + 1], cls[4 * SCREEN_CLASS_MAX + 1];
	char name[4 * SCREEN_NAME_MAX + 1];

	printf("  %-12s %-6s %s\n", cmd_escape(id, sizeof(id), p->sp_id),
	    cmd_escape(cls, sizeof(cls), p->sp_class),
	    cmd_escape(name, sizeof(name), p->sp_name));
}

/* The results for people. */
static void
results_text(const struct screen_args *a, const struct screen *s)
{
	const struct screen_rules *r = &a->sa_rules;
	const struct screen_pupil *p;
	const struct screen_year *y;
	struct screen_stats st;
	int hide[1 + SCREEN_NBANDS];
	char d1[11], d2[11], c[1 + SCREEN_NBANDS][24], pc[16];
	const char *cv[1 + SCREEN_NBANDS];
	size_t i, b, nb = 0, ns = 0;

	screen_stats(s, &st);
	printf("%llu rows, %llu pupils", (unsigned long long)st.ss_rows,
	    (unsigned long long)st.ss_pupils);
	if (st.ss_first != 0)
		printf(", counted from %s to %s", screen_date_format(
		    st.ss_first, d1), screen_date_format(st.ss_last, d2));
	if (st.ss_bad > 0)
		printf(" (%llu bad row%s left out)",
		    (unsigned long long)st.ss_bad, plural(st.ss_bad));
	printf("\n\nUnexcused absence per school year (bands: [0,10) [10,15) "
	    "[15,20] (20,100] %%)%s\n", a->sa_aggregate ?
	    "; counts under 5 shown as <5" : "");
	printf("%-11s %7s %11s %8s %8s %10s\n", "school year", "pupils",
	    "under 10 %", "10-15 %", "15-20 %", "over 20 %");
	for (i = 0; i < screen_nyears(s); i++) {
		y = screen_year_at(s, i);
		memset(hide, 0, sizeof(hide));
		if (a->sa_aggregate)
			screen_suppress(y, hide);
		cv[0] = cell(y->sy_pupils, hide[0], c[0]);
		for (b = 0; b < SCREEN_NBANDS; b++)
			cv[1 + b] = cell(y->sy_band[b], hide[1 + b], c[1 + b]);
		printf("%4u/%-6u %7s %11s %8s %8s %10s\n", y->sy_start,
		    y->sy_start + 1, cv[0], cv[1], cv[2], cv[3], cv[4]);
	}
	if (a->sa_aggregate)
		return;
	for (i = 0; i < screen_nyears(s); i++)
		if ((y = screen_year_at(s, i))->sy_unscheduled > 0)
			printf("(%u/%u: %llu pupils with rows but no scheduled "
			    "time are not in the table)\n", y->sy_start,
			    y->sy_start + 1,
			    (unsigned long long)y->sy_unscheduled);

	/* The pupils, by name: personal data, for the school's own use. */
	for (i = 0; i < screen_npupils(s); i++) {
		nb += screen_pupil_at(s, i)->sp_boras != 0;
		ns += screen_pupil_at(s, i)->sp_sandviken != 0;
	}
	printf("\nFlagged pupils (personal data: for the school's own "
	    "use)\n\nBorås rule: %s or more absence over %u months, at a "
	    "month end: %zu pupil%s\n", threshold(r->sr_boras_bp, pc),
	    r->sr_boras_months, nb, plural(nb));
	if (nb > 0)
		printf("  %-10s %-10s %7s  %-12s %-6s %s\n", "from",
		    "month end", "absence", "pupil", "class", "name");
	for (i = 0; i < screen_npupils(s); i++) {
		if (!(p = screen_pupil_at(s, i))->sp_boras)
			continue;
		printf("  %s %s %7s", screen_date_format(p->sp_boras_start, d1),
		    screen_date_format(p->sp_boras_end, d2),
		    percent(screen_tenths(p->sp_boras_absent,
		    p->sp_boras_scheduled), pc));
		print_pupil(p);
	}
	printf("\nSandviken rule: more than %s unexcused absence over the "
	    "period: %zu pupil%s\n", threshold(r->sr_sandviken_bp, pc), ns,
	    plural(ns));
	if (ns > 0)
		printf("  %-10s %-10s %9s  %-12s %-6s %s\n", "from", "to",
		    "unexcused", "pupil", "class", "name");
	for (i = 0; i < screen_npupils(s); i++) {
		if (!(p = screen_pupil_at(s, i))->sp_sandviken)
			continue;
		printf("  %s %s %9s", screen_date_format(p->sp_first, d1),
		    screen_date_format(p->sp_last, d2),
		    percent(screen_tenths(p->sp_unexcused, p->sp_scheduled),
		    pc));
		print_pupil(p);
	}
}

/* --draft: write the pupil's referral draft, mode 0600. */
static int
write_draft(struct cmd_ctx *c, const struct screen_args *a,
    const struct screen *s)
{
	const struct screen_pupil *p;
	char path[DRAFT_PATH_MAX], todo[TODO_LEN], e[ARG_ESC_MAX];
	json_t *draft, *out;
	char *text, *nl;
	size_t len;
	int ex;

	if ((p = screen_pupil_find(s, a->sa_draft)) == NULL) {
		log_warnx("%s: no pupil '%s' in the export", a->sa_file,
		    cmd_escape(e, sizeof(e), a->sa_draft));
		return (EX_DATAERR);
	}
	if (p->sp_scheduled == 0) {
		log_warnx("%s: pupil '%s' has no scheduled time in the period "
		    "counted", a->sa_file, cmd_escape(e, sizeof(e),
		    a->sa_draft));
		return (EX_DATAERR);
	}

	/* The file: --output, else draft-ID.json if the id makes a name. */
	if (a->sa_output != NULL)
		snprintf(path, sizeof(path), "%s", a->sa_output);
	else if (refx_quotable(p->sp_id) == p->sp_id && p->sp_id[0] != '.')
		snprintf(path, sizeof(path), "draft-%s.json", p->sp_id);
	else {
		log_warnx("screen: the pupil id does not make a file name; "
		    "give --output FILE");
		return (EX_USAGE);
	}

	if ((draft = screen_draft(p, &a->sa_dopts, todo, sizeof(todo))) ==
	    NULL || (text = json_dumps(draft, JSON_INDENT(2))) == NULL) {
		json_decref(draft);
		log_warnx("out of memory");
		return (EX_OSERR);
	}
	json_decref(draft);
	len = strlen(text);
	if ((nl = realloc(text, len + 2)) == NULL) {
		free(text);
		log_warnx("out of memory");
		return (EX_OSERR);
	}
	text = nl;
	text[len++] = '\n';
	text[len] = '\0';
	if (refx_file_write(path, text, len, 0600, !a->sa_force)) {
		if (errno == EEXIST)
			log_warnx("%s exists; not replaced (use --force to "
			    "replace it)", path);
		else
			log_warnx("cannot write %s: %s", path, strerror(errno));
		ex = EX_CANTCREAT;
		goto done;
	}

	/* Say what it is and what is missing. */
	if (c->c_json) {
		out = json_pack("{s:s, s:s, s:s}", "draft", path, "todo", todo,
		    "contains", "personal data");
		ex = out != NULL ? cmd_print_json(out) : EX_OSERR;
		json_decref(out);
	} else {
		printf("wrote %s (mode 600): a referral draft with personal "
		    "data about one pupil; keep it on this machine and delete "
		    "it when it has been sent\n", path);
		printf("to fill in before refx referral submit accepts it: "
		    "%s\n", todo);
		ex = EX_OK;
	}
done:
	refx_wipe(text, len);
	free(text);
	return (ex);
}

/*
 * refx screen FILE [--mapping MAP] [--from DATE] [--to DATE]
 * [--boras-percent P] [--boras-months N] [--sandviken-percent P]
 * [--aggregate] [--on-error skip|fail] [--json]
 * [--draft PUPIL [--output FILE] [--force] [--school NAME]
 * [--recipient UNIT]...]
 */
int
cmd_screen(struct cmd_ctx *c, int argc, char **argv)
{
	struct screen_args a;
	struct screen_map *map = NULL;
	struct screen *s = NULL;
	struct screen_stats st;
	struct cmd_progress prog = { "screening KiB", 0 };
	struct reporter rep;
	json_t *root;
	int ex;

	if ((ex = parse_args(c, argc, argv, &a)) != EX_OK)
		return (ex);
	if ((ex = load_mapping(&a, &map)) != EX_OK)
		goto done;

	memset(&rep, 0, sizeof(rep));
	rep.r_file = a.sa_file;
	rep.r_progress = isatty(STDERR_FILENO) ? &prog : NULL;
	if ((s = screen_new(map, &a.sa_rules, report_row, &rep)) == NULL) {
		log_warnx("out of memory");
		ex = EX_OSERR;
		goto done;
	}
	if ((ex = read_export(&a, s, &prog)) != EX_OK)
		goto done;

	/* Bad rows: never silent; fatal unless --on-error=skip. */
	screen_stats(s, &st);
	if (st.ss_bad > BAD_SHOWN_MAX)
		log_warnx("%s: %llu more bad row%s not shown", a.sa_file,
		    (unsigned long long)(st.ss_bad - BAD_SHOWN_MAX),
		    plural(st.ss_bad - BAD_SHOWN_MAX));
	if (st.ss_bad > 0 && !a.sa_skip) {
		log_warnx("%s: %llu bad row%s; nothing screened (correct "
		    "them, or use --on-error=skip to screen the other rows)",
		    a.sa_file, (unsigned long long)st.ss_bad,
		    plural(st.ss_bad));
		ex = EX_DATAERR;
		goto done;
	}
	if (st.ss_bad > 0)
		log_warnx("%s: %llu bad row%s skipped: the results leave them "
		    "out", a.sa_file, (unsigned long long)st.ss_bad,
		    plural(st.ss_bad));

	if (a.sa_draft != NULL) {
		ex = write_draft(c, &a, s);
		goto done;
	}
	if (c->c_json) {
		if ((root = results_json(&a, s)) == NULL) {
			log_warnx("out of memory");
			ex = EX_OSERR;
			goto done;
		}
		ex = cmd_print_json(root);
		json_decref(root);
	} else
		results_text(&a, s);

done:
	screen_free(s);
	screen_map_free(map);
	return (ex);
}
