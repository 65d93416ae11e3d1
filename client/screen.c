/*
 * Absence screening of an attendance export (refx screen): the column
 * mapping, the reading of rows, the Borås and Sandviken rules and the
 * referral draft.  See screen.h and docs/screening.md.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <csv.h>
#include <ini.h>
#include <jansson.h>
#include <sodium.h>

#include "refx/file.h"
#include "refx/identity.h"
#include "refx/schema.h"

#include "screen.h"

#define YEAR_MIN	1900
#define YEAR_MAX	2199
#define NMONTHS		((YEAR_MAX - YEAR_MIN + 1) * 12)
#define SUPPRESS_BELOW	5	/* counts shown as "<5" */
#define CLASS_CHARS_MAX	16	/* the schema's limit on school.class */

/* The absence types a row can name. */
enum type {
	TYPE_VALID,
	TYPE_UNEXCUSED,
	TYPE_NONE,
	NTYPES
};

/* How an export spells one absence type (compared ignoring ASCII case). */
struct spellings {
	char	sw_word[SCREEN_SPELLINGS_MAX][SCREEN_SPELLING_MAX + 1];
	size_t	sw_n;
};

/* Which [rules] a mapping file set. */
#define RULE_BORAS	0x1u
#define RULE_MONTHS	0x2u
#define RULE_SANDVIKEN	0x4u

struct screen_map {
	char			sm_col[SCREEN_NCOLS][SCREEN_HEADER_MAX + 1];
	char			sm_delim;
	char			sm_decimal;	/* '.' or ',' */
	int			sm_hours;	/* times are in hours */
	char			sm_datefmt[SCREEN_DATEFMT_MAX + 1];
	struct spellings	sm_type[NTYPES];
	struct screen_rules	sm_rules;
	unsigned		sm_rules_set;	/* RULE_* */
};

/* One calendar month of one pupil: hundredths of a minute. */
struct month {
	uint32_t	mo_month;	/* months since January 1900 */
	uint64_t	mo_scheduled;
	uint64_t	mo_valid;
	uint64_t	mo_unexcused;
};

struct pupil {
	struct screen_pupil	 pu_pub;	/* filled by screen_finish */
	char			 pu_id[SCREEN_ID_MAX + 1];
	char			 pu_name[SCREEN_NAME_MAX + 1];
	char			 pu_class[SCREEN_CLASS_MAX + 1];
	uint32_t		 pu_lastdate;	/* of its last good row */
	unsigned long		 pu_lastline;
	struct month		*pu_months;	/* ascending, owned */
	size_t			 pu_nmonths;
	size_t			 pu_capmonths;
};

struct screen {
	struct screen_map	 s_map;
	struct screen_rules	 s_rules;
	screen_report_fn	*s_report;
	void			*s_cookie;
	struct csv_parser	 s_csv;

	/* The line being read, and the fields libcsv found in it. */
	char			 s_line[SCREEN_LINE_MAX + 2];	/* + CR, NUL */
	size_t			 s_linelen;
	int			 s_overlong;
	char			 s_fbuf[SCREEN_LINE_MAX + SCREEN_COLUMNS_MAX];
	size_t			 s_fused;
	size_t			 s_foff[SCREEN_COLUMNS_MAX];
	size_t			 s_nfields;
	int			 s_toomany;
	int			 s_nrows;	/* rows libcsv ended */

	/* The header: the column of each mapped name, or -1. */
	int			 s_header;
	size_t			 s_ncolumns;
	int			 s_colidx[SCREEN_NCOLS];

	/* Pupils in order of appearance, and a keyed hash of their ids. */
	struct pupil		*s_pupils;
	size_t			 s_npupils;
	size_t			 s_cappupils;
	uint32_t		*s_slots;	/* index + 1, or 0 */
	size_t			 s_nslots;	/* a power of 2 */
	uint8_t			 s_hashkey[crypto_shorthash_KEYBYTES];
	size_t			 s_nmonths;	/* pupil-months in all */

	/* The months with counted rows (the month ends Borås checks). */
	uint8_t			 s_present[NMONTHS];

	struct screen_stats	 s_stats;
	struct screen_year	*s_years;
	size_t			 s_nyears;
	int			 s_finished;
	int			 s_failed;	/* fatal: read no more */
	char			 s_fatal[SCREEN_ERR_LEN];
};

/* --- dates -------------------------------------------------------------- */

static int
leap(unsigned y)
{

	return ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0);
}

static unsigned
days_in(unsigned y, unsigned m)
{
	static const unsigned char dim[12] =
	    { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return (m == 2 && leap(y) ? 29 : dim[m - 1]);
}

/* Return YYYYMMDD, or 0 if it is not a date of 1900-2199. */
static uint32_t
ymd(unsigned y, unsigned m, unsigned d)
{

	if (y < YEAR_MIN || y > YEAR_MAX || m < 1 || m > 12 || d < 1 ||
	    d > days_in(y, m))
		return (0);
	return (y * 10000 + m * 100 + d);
}

/* The month index of ${date} (months since January 1900). */
static uint32_t
month_of(uint32_t date)
{

	return ((date / 10000 - YEAR_MIN) * 12 + (date / 100 % 100) - 1);
}

/* The first and the last day of month index ${mi}. */
static uint32_t
month_first(uint32_t mi)
{

	return (ymd(YEAR_MIN + mi / 12, mi % 12 + 1, 1));
}

static uint32_t
month_last(uint32_t mi)
{
	unsigned y = YEAR_MIN + mi / 12, m = mi % 12 + 1;

	return (ymd(y, m, days_in(y, m)));
}

/* The school year (1 July - 30 June) of month index ${mi}: 2009/2010 = 2009. */
static unsigned
school_year(uint32_t mi)
{
	unsigned y = YEAR_MIN + mi / 12, m = mi % 12 + 1;

	return (m >= 7 ? y : y - 1);
}

/* Parse ${s} by the format ${fmt} (YYYY, MM, DD and literal characters). */
static int
date_by(const char *fmt, const char *s, uint32_t *out)
{
	unsigned v[3] = { 0, 0, 0 };
	int which;

	while (*fmt != '\0') {
		which = *fmt == 'Y' ? 0 : *fmt == 'M' ? 1 : *fmt == 'D' ? 2 :
		    -1;
		if (which < 0) {
			if (*s++ != *fmt++)
				return (-1);
			continue;
		}
		/* A run of the letter: as many digits (checked at load). */
		for (; *fmt == "YMD"[which]; fmt++, s++) {
			if (*s < '0' || *s > '9')
				return (-1);
			v[which] = v[which] * 10 + (unsigned)(*s - '0');
		}
	}
	if (*s != '\0' || (*out = ymd(v[0], v[1], v[2])) == 0)
		return (-1);
	return (0);
}

/**
 * screen_date_parse(s, ymd): Parse the date YYYY-MM-DD (1900-2199) into
 * YYYYMMDD.  Return 0 or -1.
 */
int
screen_date_parse(const char *s, uint32_t *out)
{

	return (date_by("YYYY-MM-DD", s, out));
}

/** screen_date_format(ymd, buf): Write YYYY-MM-DD (11 bytes) to ${buf}. */
char *
screen_date_format(uint32_t d, char buf[11])
{

	snprintf(buf, 11, "%04u-%02u-%02u", (unsigned)(d / 10000 % 10000),
	    (unsigned)(d / 100 % 100), (unsigned)(d % 100));
	return (buf);
}

/* Check a date format: one YYYY, MM and DD each, other characters literal. */
static int
datefmt_valid(const char *fmt)
{
	size_t run, seen[3] = { 0, 0, 0 };
	const char *p;
	int which;

	if (strlen(fmt) > SCREEN_DATEFMT_MAX)
		return (0);
	for (p = fmt; *p != '\0'; p += run) {
		which = *p == 'Y' ? 0 : *p == 'M' ? 1 : *p == 'D' ? 2 : -1;
		for (run = 1; which >= 0 && p[run] == *p; run++)
			continue;
		if (which < 0) {
			if (*p <= ' ' || *p >= 0x7f ||
			    isalnum((unsigned char)*p))
				return (0);
			continue;
		}
		if (run != (which == 0 ? 4u : 2u) || seen[which]++)
			return (0);
	}
	return (seen[0] && seen[1] && seen[2]);
}

/* --- numbers ------------------------------------------------------------ */

/*
 * Parse "D[.F]" (at most 9 digits, then 1-2 after ${decimal}) into
 * hundredths.  Return 0, or -1 if it is not such a number.
 */
static int
hundredths(const char *s, char decimal, uint64_t *out)
{
	uint64_t v = 0;
	int nd = 0, nf = 0;

	for (; *s >= '0' && *s <= '9' && nd < 10; s++, nd++)
		v = v * 10 + (uint64_t)(*s - '0');
	if (nd == 0 || nd > 9)
		return (-1);
	v *= 100;
	if (*s == decimal) {
		for (s++; *s >= '0' && *s <= '9' && nf < 3; s++, nf++)
			v += (uint64_t)(*s - '0') * (nf == 0 ? 10 : 1);
		if (nf == 0 || nf > 2)
			return (-1);
	}
	if (*s != '\0')
		return (-1);
	*out = v;
	return (0);
}

/**
 * screen_percent_parse(s, bp): Parse a percentage of 0.01 to 100 with
 * at most two decimals after a point or comma ("15", "12,5") into
 * hundredths of a percent.  Return 0 or -1.
 */
int
screen_percent_parse(const char *s, unsigned *bp)
{
	uint64_t v;

	if (hundredths(s, strchr(s, ',') != NULL ? ',' : '.', &v) ||
	    v == 0 || v > 10000)
		return (-1);
	*bp = (unsigned)v;
	return (0);
}

/**
 * screen_months_parse(s, n): Parse a window of 1 to 12 months.  Return 0
 * or -1.
 */
int
screen_months_parse(const char *s, unsigned *n)
{
	uint64_t v;

	if (hundredths(s, '.', &v) || v % 100 != 0 || v < 100 || v > 1200)
		return (-1);
	*n = (unsigned)(v / 100);
	return (0);
}

/* Why a time does not parse. */
enum time_err {
	TIME_OK,
	TIME_NAN,
	TIME_NEGATIVE,
	TIME_TOOBIG
};

/* Parse a time of the export into hundredths of a minute. */
static enum time_err
parse_time(const struct screen_map *m, const char *s, uint64_t *out)
{
	uint64_t v;

	if (*s == '-')
		return (hundredths(s + 1, m->sm_decimal, &v) ? TIME_NAN :
		    TIME_NEGATIVE);
	if (hundredths(s, m->sm_decimal, &v))
		return (TIME_NAN);
	if (m->sm_hours)
		v *= 60;
	if (v > (uint64_t)SCREEN_MINUTES_MAX * 100)
		return (TIME_TOOBIG);
	*out = v;
	return (TIME_OK);
}

/**
 * screen_tenths(part, whole): ${part} / ${whole} in tenths of a percent,
 * rounded half up (0 if ${whole} is 0).
 */
unsigned
screen_tenths(uint64_t part, uint64_t whole)
{

	if (whole == 0)
		return (0);
	return ((unsigned)((part * 1000 + whole / 2) / whole));
}

/* --- bands and suppression ---------------------------------------------- */

/**
 * screen_band(unexcused, scheduled): The band of a pupil with
 * ${unexcused} of ${scheduled} (> 0) minutes, decided in integers.
 */
enum screen_band
screen_band(uint64_t u, uint64_t s)
{

	/* [0, 10), [10, 15), [15, 20], (20, 100]: "more than 20 %" on top. */
	if (u * 100 < s * 10)
		return (SCREEN_BAND_UNDER_10);
	if (u * 100 < s * 15)
		return (SCREEN_BAND_10_15);
	if (u * 100 <= s * 20)
		return (SCREEN_BAND_15_20);
	return (SCREEN_BAND_OVER_20);
}

/** screen_band_name(b): "under 10 %", "10-15 %", ... */
const char *
screen_band_name(enum screen_band b)
{
	static const char *const names[SCREEN_NBANDS] = {
		"under 10 %", "10-15 %", "15-20 %", "over 20 %",
	};

	return ((unsigned)b < SCREEN_NBANDS ? names[b] : "?");
}

/** screen_band_key(b): "under_10", "10_to_15", "15_to_20", "over_20". */
const char *
screen_band_key(enum screen_band b)
{
	static const char *const keys[SCREEN_NBANDS] = {
		"under_10", "10_to_15", "15_to_20", "over_20",
	};

	return ((unsigned)b < SCREEN_NBANDS ? keys[b] : "?");
}

/**
 * screen_suppress(y, hide): For a table shared outside the school: set
 * hide[0] (pupils) and hide[1 + band] for every count of ${y} below 5,
 * zero included.  Then, while the pupils are shown and the hidden bands
 * add up to less than 5, hide the smallest shown band too: otherwise a
 * hidden count would be the difference of shown ones.
 */
void
screen_suppress(const struct screen_year *y, int hide[1 + SCREEN_NBANDS])
{
	uint64_t hidden = 0;
	size_t b, min;
	int any = 0;

	hide[0] = y->sy_pupils < SUPPRESS_BELOW;
	for (b = 0; b < SCREEN_NBANDS; b++) {
		hide[1 + b] = y->sy_band[b] < SUPPRESS_BELOW;
		if (hide[1 + b]) {
			hidden += y->sy_band[b];
			any = 1;
		}
	}
	if (hide[0] || !any)
		return;

	/* Complementary suppression: the smallest shown band, until safe. */
	while (hidden < SUPPRESS_BELOW) {
		min = SCREEN_NBANDS;
		for (b = 0; b < SCREEN_NBANDS; b++)
			if (!hide[1 + b] && (min == SCREEN_NBANDS ||
			    y->sy_band[b] < y->sy_band[min]))
				min = b;
		if (min == SCREEN_NBANDS)
			break;
		hide[1 + min] = 1;
		hidden += y->sy_band[min];
	}
}

/* --- the mapping -------------------------------------------------------- */

/* The keys of a mapping file. */
enum mapkind {
	MK_COLUMN,
	MK_DELIMITER,
	MK_DECIMAL,
	MK_DATE,
	MK_UNIT,
	MK_TYPE,
	MK_BORAS,
	MK_MONTHS,
	MK_SANDVIKEN
};

static const struct mapkey {
	const char	*mk_section;
	const char	*mk_name;
	enum mapkind	 mk_kind;
	int		 mk_arg;	/* column or type */
} mapkeys[] = {
	{ "columns", "pupil_id", MK_COLUMN, SCREEN_COL_ID },
	{ "columns", "name", MK_COLUMN, SCREEN_COL_NAME },
	{ "columns", "class", MK_COLUMN, SCREEN_COL_CLASS },
	{ "columns", "date", MK_COLUMN, SCREEN_COL_DATE },
	{ "columns", "scheduled", MK_COLUMN, SCREEN_COL_SCHEDULED },
	{ "columns", "absent", MK_COLUMN, SCREEN_COL_ABSENT },
	{ "columns", "type", MK_COLUMN, SCREEN_COL_TYPE },
	{ "format", "delimiter", MK_DELIMITER, 0 },
	{ "format", "decimal", MK_DECIMAL, 0 },
	{ "format", "date", MK_DATE, 0 },
	{ "format", "unit", MK_UNIT, 0 },
	{ "values", "valid", MK_TYPE, TYPE_VALID },
	{ "values", "unexcused", MK_TYPE, TYPE_UNEXCUSED },
	{ "values", "none", MK_TYPE, TYPE_NONE },
	{ "rules", "boras_percent", MK_BORAS, 0 },
	{ "rules", "boras_months", MK_MONTHS, 0 },
	{ "rules", "sandviken_percent", MK_SANDVIKEN, 0 },
};
#define NMAPKEYS	(sizeof(mapkeys) / sizeof(mapkeys[0]))

/* The [columns] key of each column. */
static const char *const col_key[SCREEN_NCOLS] = {
	"pupil_id", "name", "class", "date", "scheduled", "absent", "type",
};

/** screen_map_new(): The built-in mapping (free with screen_map_free). */
struct screen_map *
screen_map_new(void)
{
	static const char *const cols[SCREEN_NCOLS] = {
		"pupil_id", "name", "class", "date", "scheduled_minutes",
		"absent_minutes", "absence_type",
	};
	struct screen_map *m;
	size_t i;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return (NULL);
	for (i = 0; i < SCREEN_NCOLS; i++)
		snprintf(m->sm_col[i], sizeof(m->sm_col[i]), "%s", cols[i]);
	m->sm_delim = ',';
	m->sm_decimal = '.';
	snprintf(m->sm_datefmt, sizeof(m->sm_datefmt), "YYYY-MM-DD");
	snprintf(m->sm_type[TYPE_VALID].sw_word[0], SCREEN_SPELLING_MAX + 1,
	    "valid");
	m->sm_type[TYPE_VALID].sw_n = 1;
	snprintf(m->sm_type[TYPE_UNEXCUSED].sw_word[0],
	    SCREEN_SPELLING_MAX + 1, "unexcused");
	m->sm_type[TYPE_UNEXCUSED].sw_n = 1;
	screen_rules_default(&m->sm_rules);
	return (m);
}

/** screen_map_free(map): Free ${map}; NULL is a no-op. */
void
screen_map_free(struct screen_map *m)
{

	free(m);
}

/** screen_map_header(map, col): The header name ${col} maps, or "". */
const char *
screen_map_header(const struct screen_map *m, enum screen_col c)
{

	return ((unsigned)c < SCREEN_NCOLS ? m->sm_col[c] : "");
}

/** screen_rules_default(r): 15 % over 3 months; 20 %; no window. */
void
screen_rules_default(struct screen_rules *r)
{

	memset(r, 0, sizeof(*r));
	r->sr_boras_bp = 1500;
	r->sr_boras_months = 3;
	r->sr_sandviken_bp = 2000;
}

/**
 * screen_map_rules(map, r): Apply the [rules] the mapping file set (if
 * any) to ${r}.
 */
void
screen_map_rules(const struct screen_map *m, struct screen_rules *r)
{

	if (m->sm_rules_set & RULE_BORAS)
		r->sr_boras_bp = m->sm_rules.sr_boras_bp;
	if (m->sm_rules_set & RULE_MONTHS)
		r->sr_boras_months = m->sm_rules.sr_boras_months;
	if (m->sm_rules_set & RULE_SANDVIKEN)
		r->sr_sandviken_bp = m->sm_rules.sr_sandviken_bp;
}

/* What the inih callbacks share; lines are counted by our own reader. */
struct mapparse {
	struct screen_map	*mp_map;
	const char		*mp_name;
	const char		*mp_data;
	size_t			 mp_len;
	size_t			 mp_off;
	const char		*mp_raw;	/* the current line */
	int			 mp_line;
	int			 mp_errline;
	uint32_t		 mp_seen;	/* keys set (bits) */
	char			*mp_err;
	size_t			 mp_errlen;
};

/* Record the first error only. */
static void __attribute__((format(printf, 3, 4)))
mapfail(struct mapparse *p, int line, const char *fmt, ...)
{
	char msg[SCREEN_ERR_LEN];
	va_list ap;

	if (p->mp_errline)
		return;
	p->mp_errline = line > 0 ? line : -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(p->mp_err, p->mp_errlen, "%s:%d: %s", p->mp_name,
		    line, msg);
	else
		snprintf(p->mp_err, p->mp_errlen, "%s: %s", p->mp_name, msg);
}

/* Parse the list "a, b, c" of spellings into ${sw}. */
static int
spellings_parse(struct mapparse *p, const char *key, const char *value,
    struct spellings *sw)
{
	const char *s = value, *e;
	size_t n;

	sw->sw_n = 0;
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strcspn(s, ",");
		for (n = (size_t)(e - s); n > 0 && (s[n - 1] == ' ' ||
		    s[n - 1] == '\t'); n--)
			continue;
		if (n == 0 || n > SCREEN_SPELLING_MAX) {
			mapfail(p, p->mp_line, "'%s': each spelling must be "
			    "1-%d bytes, separated by commas", key,
			    SCREEN_SPELLING_MAX);
			return (-1);
		}
		if (sw->sw_n == SCREEN_SPELLINGS_MAX) {
			mapfail(p, p->mp_line, "'%s': more than %d spellings",
			    key, SCREEN_SPELLINGS_MAX);
			return (-1);
		}
		memcpy(sw->sw_word[sw->sw_n], s, n);
		sw->sw_word[sw->sw_n][n] = '\0';
		if (!refx_name_valid(sw->sw_word[sw->sw_n])) {
			mapfail(p, p->mp_line, "'%s': a spelling has control "
			    "or invisible characters", key);
			return (-1);
		}
		sw->sw_n++;
		if (*e == '\0')
			return (0);
		s = e + 1;
	}
}

/* Set one key of the mapping from its value. */
static int
map_set(struct mapparse *p, const struct mapkey *k, const char *value)
{
	struct screen_map *m = p->mp_map;
	unsigned bp;
	size_t n = strlen(value);

	switch (k->mk_kind) {
	case MK_COLUMN:
		/* Only the name and the class may be absent from an export. */
		if (n == 0 && k->mk_arg != SCREEN_COL_NAME &&
		    k->mk_arg != SCREEN_COL_CLASS)
			break;
		if (n > SCREEN_HEADER_MAX || (n > 0 &&
		    !refx_name_valid(value))) {
			mapfail(p, p->mp_line, "'%s': a column name is 1-%d "
			    "bytes of text", k->mk_name, SCREEN_HEADER_MAX);
			return (-1);
		}
		memcpy(m->sm_col[k->mk_arg], value, n + 1);
		return (0);
	case MK_DELIMITER:
		/* inih takes "= ;" for a comment, so words are offered. */
		if (strcmp(value, "comma") == 0)
			m->sm_delim = ',';
		else if (strcmp(value, "semicolon") == 0)
			m->sm_delim = ';';
		else if (strcmp(value, "tab") == 0)
			m->sm_delim = '\t';
		else if (strcmp(value, "pipe") == 0)
			m->sm_delim = '|';
		else if (n == 1 && value[0] > ' ' && value[0] < 0x7f &&
		    value[0] != '"')
			m->sm_delim = value[0];
		else {
			mapfail(p, p->mp_line, "'delimiter': expected comma, "
			    "semicolon, tab, pipe or one character");
			return (-1);
		}
		return (0);
	case MK_DECIMAL:
		if (strcmp(value, "comma") == 0 || strcmp(value, ",") == 0)
			m->sm_decimal = ',';
		else if (strcmp(value, "point") == 0 ||
		    strcmp(value, ".") == 0)
			m->sm_decimal = '.';
		else {
			mapfail(p, p->mp_line, "'decimal': expected comma or "
			    "point");
			return (-1);
		}
		return (0);
	case MK_DATE:
		if (!datefmt_valid(value)) {
			mapfail(p, p->mp_line, "'date': expected a format "
			    "with YYYY, MM and DD once each, such as "
			    "YYYY-MM-DD or DD.MM.YYYY");
			return (-1);
		}
		memcpy(m->sm_datefmt, value, n + 1);
		return (0);
	case MK_UNIT:
		if (strcmp(value, "minutes") == 0)
			m->sm_hours = 0;
		else if (strcmp(value, "hours") == 0)
			m->sm_hours = 1;
		else {
			mapfail(p, p->mp_line, "'unit': expected minutes or "
			    "hours");
			return (-1);
		}
		return (0);
	case MK_TYPE:
		if (n == 0 && k->mk_arg == TYPE_NONE) {
			m->sm_type[TYPE_NONE].sw_n = 0;
			return (0);
		}
		if (n == 0)
			break;
		return (spellings_parse(p, k->mk_name, value,
		    &m->sm_type[k->mk_arg]));
	case MK_BORAS:
	case MK_SANDVIKEN:
		if (screen_percent_parse(value, &bp)) {
			mapfail(p, p->mp_line, "'%s': expected a percentage "
			    "above 0 and at most 100, such as 15 or 12.5",
			    k->mk_name);
			return (-1);
		}
		if (k->mk_kind == MK_BORAS) {
			m->sm_rules.sr_boras_bp = bp;
			m->sm_rules_set |= RULE_BORAS;
		} else {
			m->sm_rules.sr_sandviken_bp = bp;
			m->sm_rules_set |= RULE_SANDVIKEN;
		}
		return (0);
	case MK_MONTHS:
		if (screen_months_parse(value, &m->sm_rules.sr_boras_months)) {
			mapfail(p, p->mp_line, "'boras_months': expected 1 "
			    "to 12");
			return (-1);
		}
		m->sm_rules_set |= RULE_MONTHS;
		return (0);
	}
	mapfail(p, p->mp_line, "'%s' in [%s] is empty", k->mk_name,
	    k->mk_section);
	return (-1);
}

/* inih callback: one "name = value" line. */
static int
on_mapvalue(void *user, const char *section, const char *name,
    const char *value)
{
	struct mapparse *p = user;
	size_t i;

	for (i = 0; i < NMAPKEYS; i++)
		if (strcmp(mapkeys[i].mk_section, section) == 0 &&
		    strcmp(mapkeys[i].mk_name, name) == 0)
			break;
	if (i == NMAPKEYS) {
		if (strcmp(section, "columns") != 0 &&
		    strcmp(section, "format") != 0 &&
		    strcmp(section, "values") != 0 &&
		    strcmp(section, "rules") != 0)
			mapfail(p, p->mp_line, "unknown section [%s] (expected "
			    "[columns], [format], [values] or [rules])",
			    section);
		else
			mapfail(p, p->mp_line, "unknown key '%s' in [%s]",
			    name, section);
		return (0);
	}

	/* inih passes an indented line as a continuation of the last key. */
	if (p->mp_seen & (UINT32_C(1) << i)) {
		mapfail(p, p->mp_line, "'%s' in [%s] is given twice (or "
		    "continued on an indented line)", name, section);
		return (0);
	}
	p->mp_seen |= UINT32_C(1) << i;
	return (map_set(p, &mapkeys[i], value) == 0);
}

/* inih reader: the next line of the file; refuse over-long ones. */
static char *
map_read_line(char *str, int num, void *stream)
{
	struct mapparse *p = stream;
	const char *s, *nl;
	size_t left, n;

	if (p->mp_off >= p->mp_len)
		return (NULL);
	s = p->mp_data + p->mp_off;
	left = p->mp_len - p->mp_off;
	n = (nl = memchr(s, '\n', left)) != NULL ? (size_t)(nl - s) + 1 : left;
	p->mp_line++;
	p->mp_raw = s;
	if (num < 2 || n > (size_t)num - 1) {
		mapfail(p, p->mp_line, "line is too long");
		return (NULL);
	}
	memcpy(str, s, n);
	str[n] = '\0';
	p->mp_off += n;
	return (str);
}

/* Return 1 if some spelling is in two of the types' lists. */
static int
spellings_clash(const struct screen_map *m, const char **word)
{
	const struct spellings *x, *y;
	size_t a, b, i, j;

	for (a = 0; a < NTYPES; a++)
		for (b = a + 1; b < NTYPES; b++) {
			x = &m->sm_type[a];
			y = &m->sm_type[b];
			for (i = 0; i < x->sw_n; i++)
				for (j = 0; j < y->sw_n; j++)
					if (strcasecmp(x->sw_word[i],
					    y->sw_word[j]) == 0) {
						*word = x->sw_word[i];
						return (1);
					}
		}
	return (0);
}

/**
 * screen_map_parse(map, text, len, name, err, errlen): As
 * screen_map_load, from the ${len} bytes at ${text}, called ${name} in
 * messages.
 */
int
screen_map_parse(struct screen_map *m, const char *text, size_t len,
    const char *name, char *err, size_t errlen)
{
	struct screen_map work;
	struct mapparse p;
	const char *word;
	int rc;

	if (memchr(text, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: the mapping contains a NUL byte",
		    name);
		return (-1);
	}

	/* Parse into a copy: a failed load leaves ${m} as it was. */
	work = *m;
	memset(&p, 0, sizeof(p));
	p.mp_map = &work;
	p.mp_name = name;
	p.mp_data = text;
	p.mp_len = len;
	p.mp_raw = text;
	p.mp_err = err;
	p.mp_errlen = errlen;
	rc = ini_parse_stream(map_read_line, &p, on_mapvalue, &p);
	if (rc < 0) {
		snprintf(err, errlen, "%s: out of memory", name);
		return (-1);
	}
	if (rc > 0 && (p.mp_errline == 0 || rc < p.mp_errline)) {
		snprintf(err, errlen, "%s:%d: syntax error (expected [section] "
		    "or key = value)", name, rc);
		return (-1);
	}
	if (p.mp_errline)
		return (-1);

	/* What only the whole file can say. */
	if (spellings_clash(&work, &word)) {
		snprintf(err, errlen, "%s: [values]: the spelling '%s' is "
		    "given for two types", name, word);
		return (-1);
	}
	*m = work;
	return (0);
}

/**
 * screen_map_load(map, path, err, errlen): Read the mapping file ${path}
 * into ${map}: what it sets replaces the built-in values.  Return 0, or
 * -1 with one line in ${err} naming the file, line and key.
 */
int
screen_map_load(struct screen_map *m, const char *path, char *err,
    size_t errlen)
{
	uint8_t *data;
	size_t len;
	int rc;

	if (refx_file_read(path, SCREEN_MAP_FILE_MAX, &data, &len)) {
		snprintf(err, errlen, "%s: cannot read the mapping: %s", path,
		    errno == EFBIG ? "larger than 64 KiB" : strerror(errno));
		return (-1);
	}
	rc = screen_map_parse(m, (const char *)data, len, path, err, errlen);
	free(data);
	return (rc);
}

/* --- pupils ------------------------------------------------------------- */

/* The slot of ${id} (${n} bytes): its pupil's, or the empty one to use. */
static size_t
slot_of(const struct screen *s, const char *id, size_t n)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v = 0;
	size_t i, mask = s->s_nslots - 1;
	uint32_t at;

	/* Keyed (SipHash): a hostile file cannot make every id collide. */
	crypto_shorthash(h, (const unsigned char *)id, n, s->s_hashkey);
	for (i = 0; i < sizeof(h); i++)
		v = v << 8 | h[i];
	for (i = (size_t)v & mask;; i = (i + 1) & mask) {
		if ((at = s->s_slots[i]) == 0 ||
		    strcmp(s->s_pupils[at - 1].pu_id, id) == 0)
			return (i);
	}
}

/* Double the hash table. */
static int
slots_grow(struct screen *s)
{
	uint32_t *old = s->s_slots;
	size_t oldn = s->s_nslots, i, j;

	if ((s->s_slots = calloc(oldn * 2, sizeof(*s->s_slots))) == NULL) {
		s->s_slots = old;
		return (-1);
	}
	s->s_nslots = oldn * 2;
	for (i = 0; i < oldn; i++) {
		if (old[i] == 0)
			continue;
		j = slot_of(s, s->s_pupils[old[i] - 1].pu_id,
		    strlen(s->s_pupils[old[i] - 1].pu_id));
		s->s_slots[j] = old[i];
	}
	free(old);
	return (0);
}

/* Add the pupil ${id} at slot ${slot}.  Return it, or NULL. */
static struct pupil *
pupil_add(struct screen *s, size_t slot, const char *id)
{
	struct pupil *pu;
	size_t cap;

	if (s->s_npupils == s->s_cappupils) {
		cap = s->s_cappupils == 0 ? 256 : s->s_cappupils * 2;
		if ((pu = reallocarray(s->s_pupils, cap, sizeof(*pu))) == NULL)
			return (NULL);
		s->s_pupils = pu;
		s->s_cappupils = cap;
	}
	pu = &s->s_pupils[s->s_npupils];
	memset(pu, 0, sizeof(*pu));
	snprintf(pu->pu_id, sizeof(pu->pu_id), "%s", id);
	s->s_slots[slot] = (uint32_t)++s->s_npupils;
	return (pu);
}

/* Add time to the pupil's month ${mi} (the last or a later one). */
static int
pupil_count(struct screen *s, struct pupil *pu, uint32_t mi, uint64_t sched,
    uint64_t absent, enum type t)
{
	struct month *mo;
	size_t cap;

	if (pu->pu_nmonths == 0 || pu->pu_months[pu->pu_nmonths - 1].mo_month
	    != mi) {
		if (pu->pu_nmonths == pu->pu_capmonths) {
			cap = pu->pu_capmonths == 0 ? 4 : pu->pu_capmonths * 2;
			if ((mo = reallocarray(pu->pu_months, cap,
			    sizeof(*mo))) == NULL)
				return (-1);
			pu->pu_months = mo;
			pu->pu_capmonths = cap;
		}
		mo = &pu->pu_months[pu->pu_nmonths++];
		memset(mo, 0, sizeof(*mo));
		mo->mo_month = mi;
		s->s_nmonths++;
	}
	mo = &pu->pu_months[pu->pu_nmonths - 1];
	mo->mo_scheduled += sched;
	if (t == TYPE_VALID)
		mo->mo_valid += absent;
	else if (t == TYPE_UNEXCUSED)
		mo->mo_unexcused += absent;
	return (0);
}

/* --- rows --------------------------------------------------------------- */

#define SHOWN_MAX	24	/* bytes of a value quoted in a message */
#define SHOWN_LEN	(SHOWN_MAX + 6)

/*
 * The value ${v} for a message: quoted, at most SHOWN_MAX bytes, each
 * byte outside printable ASCII as '?'.  Only dates, times and types are
 * shown this way, never names or ids.
 */
static const char *
shown(const char *v, char buf[SHOWN_LEN])
{
	size_t n = strlen(v);

	if (n == 0)
		return ("(empty)");
	snprintf(buf, SHOWN_LEN, "'%.*s%s'", SHOWN_MAX, v,
	    n > SHOWN_MAX ? "..." : "");
	refx_ascii_scrub(buf);
	return (buf);
}

/* Report a bad row. */
static void __attribute__((format(printf, 3, 4)))
bad(struct screen *s, unsigned long line, const char *fmt, ...)
{
	char msg[SCREEN_ERR_LEN];
	va_list ap;

	s->s_stats.ss_bad++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->s_report != NULL)
		s->s_report(s->s_cookie, line, msg);
}

/* Stop reading: what follows cannot be screened. */
static void __attribute__((format(printf, 3, 4)))
fatal_at(struct screen *s, unsigned long line, const char *fmt, ...)
{
	char msg[SCREEN_ERR_LEN - 32];	/* room for "line N: " */
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(s->s_fatal, sizeof(s->s_fatal), "line %lu: %s", line,
		    msg);
	else
		snprintf(s->s_fatal, sizeof(s->s_fatal), "%s", msg);
	s->s_failed = 1;
}

/* libcsv: the end of a field. */
static void
on_field(void *data, size_t len, void *cookie)
{
	struct screen *s = cookie;

	if (s->s_nfields == SCREEN_COLUMNS_MAX ||
	    s->s_fused + len + 1 > sizeof(s->s_fbuf)) {
		s->s_toomany = 1;
		return;
	}
	if (len > 0)
		memcpy(s->s_fbuf + s->s_fused, data, len);
	s->s_foff[s->s_nfields++] = s->s_fused;
	s->s_fused += len;
	s->s_fbuf[s->s_fused++] = '\0';
}

/* libcsv: the end of a row. */
static void
on_row(int term, void *cookie)
{
	struct screen *s = cookie;

	(void)term;
	s->s_nrows++;
}

/* Field ${i} of the current row. */
static const char *
field(const struct screen *s, size_t i)
{

	return (s->s_fbuf + s->s_foff[i]);
}

/* The mapped column ${c} of the current row, or NULL if not mapped. */
static const char *
column(const struct screen *s, enum screen_col c)
{

	return (s->s_colidx[c] < 0 ? NULL : field(s, (size_t)s->s_colidx[c]));
}

/* Why a line does not split into fields. */
enum split_err {
	SPLIT_OK,
	SPLIT_QUOTE,
	SPLIT_COLUMNS
};

/* Split the line into fields with libcsv. */
static enum split_err
split(struct screen *s)
{
	size_t n;
	int ok;

	s->s_nfields = 0;
	s->s_fused = 0;
	s->s_toomany = 0;
	s->s_nrows = 0;
	n = csv_parse(&s->s_csv, s->s_line, s->s_linelen, on_field, on_row,
	    s);
	ok = n == s->s_linelen && csv_fini(&s->s_csv, on_field, on_row, s) ==
	    0;
	if (!ok) {
		/* libcsv keeps the broken state: start a fresh parser. */
		csv_free(&s->s_csv);
		(void)csv_init(&s->s_csv, CSV_STRICT | CSV_STRICT_FINI);
		csv_set_delim(&s->s_csv, (unsigned char)s->s_map.sm_delim);
		return (SPLIT_QUOTE);
	}
	return (s->s_toomany ? SPLIT_COLUMNS : SPLIT_OK);
}

/* Return 1 if every field of the current row is empty. */
static int
all_empty(const struct screen *s)
{
	size_t i;

	for (i = 0; i < s->s_nfields; i++)
		if (field(s, i)[0] != '\0')
			return (0);
	return (1);
}

/* The header line: find each mapped column. */
static void
header(struct screen *s, unsigned long line)
{
	const char *want;
	size_t c, i;

	for (c = 0; c < SCREEN_NCOLS; c++) {
		s->s_colidx[c] = -1;
		if ((want = s->s_map.sm_col[c])[0] == '\0')
			continue;
		for (i = 0; i < s->s_nfields; i++) {
			if (strcasecmp(field(s, i), want) != 0)
				continue;
			if (s->s_colidx[c] >= 0) {
				fatal_at(s, line, "the header has the column "
				    "'%s' twice", want);
				return;
			}
			s->s_colidx[c] = (int)i;
		}
		if (s->s_colidx[c] < 0) {
			fatal_at(s, line, "the header has no column '%s' "
			    "(%s in the mapping's [columns]; see "
			    "docs/screening.md)", want, col_key[c]);
			return;
		}
	}
	s->s_ncolumns = s->s_nfields;
	s->s_header = 1;
}

/* Which type the spelling ${v} names, or NTYPES. */
static enum type
type_of(const struct screen_map *m, const char *v)
{
	size_t t, i;

	if (v[0] == '\0')
		return (TYPE_NONE);
	for (t = 0; t < NTYPES; t++)
		for (i = 0; i < m->sm_type[t].sw_n; i++)
			if (strcasecmp(v, m->sm_type[t].sw_word[i]) == 0)
				return ((enum type)t);
	return (NTYPES);
}

/* Check and parse one time column; report a bad row.  0 or -1. */
static int
time_column(struct screen *s, unsigned long line, enum screen_col c,
    const char *what, uint64_t *out)
{
	const char *v = column(s, c);
	char sv[SHOWN_LEN];

	switch (parse_time(&s->s_map, v, out)) {
	case TIME_OK:
		return (0);
	case TIME_NEGATIVE:
		bad(s, line, "%s time is negative", what);
		break;
	case TIME_TOOBIG:
		bad(s, line, "%s time is more than %d minutes", what,
		    SCREEN_MINUTES_MAX);
		break;
	case TIME_NAN:
		bad(s, line, "%s time %s is not a number (%s, decimal %s, at "
		    "most two decimals)", what, shown(v, sv),
		    s->s_map.sm_hours ? "hours" : "minutes",
		    s->s_map.sm_decimal == ',' ? "comma" : "point");
		break;
	}
	return (-1);
}

/* A data row: check it, then count it. */
static void
row(struct screen *s, unsigned long line)
{
	const char *id, *name, *cls, *v;
	struct pupil *pu;
	uint64_t sched, absent;
	uint32_t date;
	size_t slot, n;
	enum type t;
	char d1[11], sv[SHOWN_LEN];

	if (++s->s_stats.ss_rows > SCREEN_ROWS_MAX) {
		fatal_at(s, line, "more than %d rows", SCREEN_ROWS_MAX);
		return;
	}
	if (s->s_nfields != s->s_ncolumns) {
		bad(s, line, "%zu columns, but the header has %zu",
		    s->s_nfields, s->s_ncolumns);
		return;
	}

	/* Who: an id, and text that cannot forge a terminal line. */
	id = column(s, SCREEN_COL_ID);
	if ((n = strlen(id)) == 0 || n > SCREEN_ID_MAX ||
	    !refx_name_valid(id)) {
		bad(s, line, "%s", n == 0 ? "no pupil id" : n > SCREEN_ID_MAX ?
		    "the pupil id is longer than 64 bytes" : "the pupil id "
		    "has control or invisible characters");
		return;
	}
	name = column(s, SCREEN_COL_NAME);
	if (name != NULL && !refx_name_valid(name)) {
		bad(s, line, "%s", name[0] == '\0' ? "no name" : "the name is "
		    "longer than 128 bytes or has control or invisible "
		    "characters");
		return;
	}
	cls = column(s, SCREEN_COL_CLASS);
	if (cls != NULL && cls[0] != '\0' && (strlen(cls) > SCREEN_CLASS_MAX ||
	    !refx_name_valid(cls))) {
		bad(s, line, "the class is longer than %d bytes or has "
		    "control or invisible characters", SCREEN_CLASS_MAX);
		return;
	}

	/* When, and how much. */
	v = column(s, SCREEN_COL_DATE);
	if (date_by(s->s_map.sm_datefmt, v, &date)) {
		bad(s, line, "the date %s is not a date written %s "
		    "(1900-2199)", shown(v, sv),
		    s->s_map.sm_datefmt);
		return;
	}
	if (time_column(s, line, SCREEN_COL_SCHEDULED, "the scheduled",
	    &sched) || time_column(s, line, SCREEN_COL_ABSENT, "the absent",
	    &absent))
		return;
	if (absent > sched) {
		bad(s, line, "the absent time is more than the scheduled time");
		return;
	}
	v = column(s, SCREEN_COL_TYPE);
	if ((t = type_of(&s->s_map, v)) == NTYPES) {
		bad(s, line, "the absence type %s is neither valid (%s...) "
		    "nor unexcused (%s...)", shown(v, sv),
		    s->s_map.sm_type[TYPE_VALID].sw_word[0],
		    s->s_map.sm_type[TYPE_UNEXCUSED].sw_word[0]);
		return;
	}
	if (t == TYPE_NONE && absent > 0) {
		bad(s, line, "absent time without a type (valid or "
		    "unexcused)");
		return;
	}

	/* The pupil: its rows must come in date order. */
	slot = slot_of(s, id, n);
	if (s->s_slots[slot] != 0) {
		pu = &s->s_pupils[s->s_slots[slot] - 1];
		if (date < pu->pu_lastdate) {
			bad(s, line, "the date %s is before this pupil's row "
			    "on line %lu (rows of a pupil must be in date "
			    "order)",
			    screen_date_format(date, d1), pu->pu_lastline);
			return;
		}
	} else {
		if (s->s_npupils == SCREEN_PUPILS_MAX) {
			fatal_at(s, line, "more than %d pupils",
			    SCREEN_PUPILS_MAX);
			return;
		}
		if ((pu = pupil_add(s, slot, id)) == NULL)
			goto nomem;
		if (s->s_npupils * 2 > s->s_nslots && slots_grow(s))
			goto nomem;
		pu = &s->s_pupils[s->s_npupils - 1];
	}
	pu->pu_lastdate = date;
	pu->pu_lastline = line;
	if (name != NULL)
		snprintf(pu->pu_name, sizeof(pu->pu_name), "%s", name);
	if (cls != NULL && cls[0] != '\0')
		snprintf(pu->pu_class, sizeof(pu->pu_class), "%s", cls);

	/* Counted only inside the window. */
	if ((s->s_rules.sr_from != 0 && date < s->s_rules.sr_from) ||
	    (s->s_rules.sr_to != 0 && date > s->s_rules.sr_to))
		return;
	if (s->s_nmonths == SCREEN_MONTHS_MAX && (pu->pu_nmonths == 0 ||
	    pu->pu_months[pu->pu_nmonths - 1].mo_month != month_of(date))) {
		fatal_at(s, line, "more than %d pupil-months",
		    SCREEN_MONTHS_MAX);
		return;
	}
	if (pupil_count(s, pu, month_of(date), sched, absent, t))
		goto nomem;
	s->s_present[month_of(date)] = 1;
	if (pu->pu_pub.sp_first == 0)
		pu->pu_pub.sp_first = date;
	pu->pu_pub.sp_last = date;
	if (s->s_stats.ss_first == 0 || date < s->s_stats.ss_first)
		s->s_stats.ss_first = date;
	if (date > s->s_stats.ss_last)
		s->s_stats.ss_last = date;
	s->s_stats.ss_counted++;
	return;

nomem:
	fatal_at(s, line, "out of memory");
}

/* A whole line (without its newline) is in s_line. */
static void
line_done(struct screen *s)
{
	unsigned long line = (unsigned long)++s->s_stats.ss_lines;
	const unsigned char *p;
	unsigned long cp;
	enum split_err se;
	const char *why;
	size_t n, k;

	/* CRLF; then the length. */
	if (s->s_linelen > 0 && s->s_line[s->s_linelen - 1] == '\r')
		s->s_linelen--;
	if (s->s_overlong || s->s_linelen > SCREEN_LINE_MAX) {
		s->s_overlong = 0;
		if (!s->s_header)
			fatal_at(s, line, "the header is longer than %d bytes",
			    SCREEN_LINE_MAX);
		else {
			s->s_stats.ss_rows++;
			bad(s, line, "the line is longer than %d bytes",
			    SCREEN_LINE_MAX);
		}
		return;
	}

	/* A BOM opening the file. */
	if (line == 1 && s->s_linelen >= 3 &&
	    memcmp(s->s_line, "\xef\xbb\xbf", 3) == 0) {
		memmove(s->s_line, s->s_line + 3, s->s_linelen - 3);
		s->s_linelen -= 3;
	}
	s->s_line[s->s_linelen] = '\0';

	/* UTF-8 throughout, no NUL, no CR inside: libcsv ends rows at CR. */
	p = (const unsigned char *)s->s_line;
	for (n = s->s_linelen; n > 0; p += k, n -= k)
		if ((k = refx_utf8_decode(p, n, &cp)) == 0 || cp == 0 ||
		    cp == '\r')
			break;
	if (n > 0) {
		if (!s->s_header)
			fatal_at(s, line, "the header is not UTF-8 text");
		else {
			s->s_stats.ss_rows++;
			bad(s, line, "not valid UTF-8 text (or a NUL or "
			    "carriage return inside the line)");
		}
		return;
	}

	if ((se = split(s)) != SPLIT_OK) {
		why = se == SPLIT_QUOTE ? "a quote out of place or not closed "
		    "(a quoted field must not span lines)" : "more than 64 "
		    "columns";
		if (!s->s_header)
			fatal_at(s, line, "the header: %s", why);
		else {
			s->s_stats.ss_rows++;
			bad(s, line, "%s", why);
		}
		return;
	}
	/* Blank lines, and lines of delimiters only, hold no row. */
	if (s->s_nrows == 0 || all_empty(s))
		return;
	if (!s->s_header)
		header(s, line);
	else
		row(s, line);
}

/**
 * screen_new(map, rules, report, cookie): A screening of one export with
 * ${map} (copied) and ${rules}; bad rows go to ${report}(${cookie},
 * line, message).  Return it (free with screen_free), or NULL.
 */
struct screen *
screen_new(const struct screen_map *m, const struct screen_rules *r,
    screen_report_fn *report, void *cookie)
{
	struct screen *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto err0;
	s->s_map = *m;
	s->s_rules = *r;
	s->s_report = report;
	s->s_cookie = cookie;
	s->s_nslots = 1024;
	if ((s->s_slots = calloc(s->s_nslots, sizeof(*s->s_slots))) == NULL)
		goto err1;
	crypto_shorthash_keygen(s->s_hashkey);
	if (csv_init(&s->s_csv, CSV_STRICT | CSV_STRICT_FINI) != 0)
		goto err2;
	csv_set_delim(&s->s_csv, (unsigned char)m->sm_delim);
	return (s);

err2:
	free(s->s_slots);
err1:
	free(s);
err0:
	return (NULL);
}

/** screen_free(s): Free ${s}; NULL is a no-op. */
void
screen_free(struct screen *s)
{
	size_t i;

	if (s == NULL)
		return;
	free(s->s_years);
	for (i = 0; i < s->s_npupils; i++)
		free(s->s_pupils[i].pu_months);
	free(s->s_pupils);
	free(s->s_slots);
	csv_free(&s->s_csv);
	free(s);
}

/**
 * screen_feed(s, data, len, err, errlen): Read the next ${len} bytes of
 * the export.  A bad row is reported and skipped.  Return 0, or -1 with
 * "line N: ..." in ${err} on what stops the reading (the header lacks a
 * column, too many pupils or rows, out of memory).
 */
int
screen_feed(struct screen *s, const void *data, size_t len, char *err,
    size_t errlen)
{
	const char *p = data, *nl;
	size_t n, room;

	while (len > 0 && !s->s_failed && !s->s_finished) {
		/* Up to the next newline; what does not fit marks the line. */
		nl = memchr(p, '\n', len);
		n = nl != NULL ? (size_t)(nl - p) : len;
		room = SCREEN_LINE_MAX + 1 - s->s_linelen;	/* + a CR */
		if (n > room)
			s->s_overlong = 1;
		if (!s->s_overlong) {
			memcpy(s->s_line + s->s_linelen, p, n);
			s->s_linelen += n;
		}
		p += n;
		len -= n;
		if (nl == NULL)
			break;
		p++;
		len--;
		line_done(s);
		s->s_linelen = 0;
	}
	if (s->s_failed) {
		snprintf(err, errlen, "%s", s->s_fatal);
		return (-1);
	}
	return (0);
}

/* The Borås rule for one pupil: the first month end it crosses. */
static void
boras(const struct screen *s, struct pupil *pu, const uint32_t *present,
    size_t npresent)
{
	struct screen_pupil *sp = &pu->pu_pub;
	uint64_t sched = 0, absent = 0;
	size_t i, lo = 0, hi = 0;
	uint32_t k = s->s_rules.sr_boras_months, mi, first, last;

	if (pu->pu_nmonths == 0)
		return;
	first = pu->pu_months[0].mo_month;
	last = pu->pu_months[pu->pu_nmonths - 1].mo_month + k - 1;

	/* Slide the k-month window over the month ends with data. */
	for (i = 0; i < npresent && present[i] <= last; i++) {
		if ((mi = present[i]) < first)
			continue;
		for (; hi < pu->pu_nmonths && pu->pu_months[hi].mo_month <=
		    mi; hi++) {
			sched += pu->pu_months[hi].mo_scheduled;
			absent += pu->pu_months[hi].mo_valid +
			    pu->pu_months[hi].mo_unexcused;
		}
		for (; lo < hi && pu->pu_months[lo].mo_month + k <= mi; lo++) {
			sched -= pu->pu_months[lo].mo_scheduled;
			absent -= pu->pu_months[lo].mo_valid +
			    pu->pu_months[lo].mo_unexcused;
		}
		if (sched > 0 && absent * 10000 >= sched *
		    (uint64_t)s->s_rules.sr_boras_bp) {
			sp->sp_boras = 1;
			sp->sp_boras_start = month_first(mi + 1 >= k ?
			    mi + 1 - k : 0);
			sp->sp_boras_end = month_last(mi);
			sp->sp_boras_scheduled = sched;
			sp->sp_boras_absent = absent;
			return;
		}
	}
}

/* Count each pupil in its band of each school year. */
static int
years(struct screen *s)
{
	struct screen_year *y = NULL;
	unsigned lo = YEAR_MAX, hi = 0, sy;
	uint64_t sched, unexc;
	size_t i, j, n = 0;
	struct pupil *pu;

	for (i = 0; i < s->s_npupils; i++) {
		pu = &s->s_pupils[i];
		if (pu->pu_nmonths == 0)
			continue;
		if (school_year(pu->pu_months[0].mo_month) < lo)
			lo = school_year(pu->pu_months[0].mo_month);
		if (school_year(pu->pu_months[pu->pu_nmonths - 1].mo_month) >
		    hi)
			hi = school_year(
			    pu->pu_months[pu->pu_nmonths - 1].mo_month);
	}
	if (hi < lo)
		return (0);
	if ((y = calloc(hi - lo + 1, sizeof(*y))) == NULL)
		return (-1);

	/* A pupil's months are in order: one school year after another. */
	for (i = 0; i < s->s_npupils; i++) {
		pu = &s->s_pupils[i];
		for (j = 0; j < pu->pu_nmonths;) {
			sy = school_year(pu->pu_months[j].mo_month);
			for (sched = unexc = 0; j < pu->pu_nmonths &&
			    school_year(pu->pu_months[j].mo_month) == sy; j++) {
				sched += pu->pu_months[j].mo_scheduled;
				unexc += pu->pu_months[j].mo_unexcused;
			}
			if (sched == 0) {
				y[sy - lo].sy_unscheduled++;
				continue;
			}
			y[sy - lo].sy_pupils++;
			y[sy - lo].sy_band[screen_band(unexc, sched)]++;
		}
	}

	/* Keep the years that have anyone in them. */
	for (sy = lo; sy <= hi; sy++) {
		if (y[sy - lo].sy_pupils == 0 && y[sy - lo].sy_unscheduled == 0)
			continue;
		y[n] = y[sy - lo];
		y[n++].sy_start = sy;
	}
	s->s_years = y;
	s->s_nyears = n;
	return (0);
}

/**
 * screen_finish(s, err, errlen): The export has ended: read its last
 * line and apply the rules.  Return 0, or -1 with a message (no header
 * at all, or as screen_feed).
 */
int
screen_finish(struct screen *s, char *err, size_t errlen)
{
	uint32_t *present = NULL;
	size_t i, npresent = 0;
	struct pupil *pu;
	struct month *mo;
	uint64_t bp = s->s_rules.sr_sandviken_bp;
	size_t j;

	/* A last line without a newline. */
	if (!s->s_failed && !s->s_finished && (s->s_linelen > 0 ||
	    s->s_overlong))
		line_done(s);
	s->s_linelen = 0;
	if (!s->s_failed && !s->s_header)
		fatal_at(s, 0, "no header line: the file is empty");
	if (s->s_failed)
		goto fail;
	if (s->s_finished)
		return (0);

	/* The month ends Borås checks: every month with counted rows. */
	if ((present = calloc(NMONTHS, sizeof(*present))) == NULL)
		goto nomem;
	for (i = 0; i < NMONTHS; i++)
		if (s->s_present[i])
			present[npresent++] = (uint32_t)i;

	for (i = 0; i < s->s_npupils; i++) {
		pu = &s->s_pupils[i];
		pu->pu_pub.sp_id = pu->pu_id;
		pu->pu_pub.sp_name = pu->pu_name;
		pu->pu_pub.sp_class = pu->pu_class;
		for (j = 0; j < pu->pu_nmonths; j++) {
			mo = &pu->pu_months[j];
			pu->pu_pub.sp_scheduled += mo->mo_scheduled;
			pu->pu_pub.sp_valid += mo->mo_valid;
			pu->pu_pub.sp_unexcused += mo->mo_unexcused;
		}
		boras(s, pu, present, npresent);
		pu->pu_pub.sp_sandviken = pu->pu_pub.sp_scheduled > 0 &&
		    pu->pu_pub.sp_unexcused * 10000 > pu->pu_pub.sp_scheduled *
		    bp;
	}
	free(present);
	if (years(s))
		goto nomem;
	s->s_stats.ss_pupils = s->s_npupils;
	s->s_finished = 1;
	return (0);

nomem:
	fatal_at(s, 0, "out of memory");
fail:
	snprintf(err, errlen, "%s", s->s_fatal);
	return (-1);
}

/** screen_stats(s, st): What ${s} has read so far. */
void
screen_stats(const struct screen *s, struct screen_stats *st)
{

	*st = s->s_stats;
	st->ss_pupils = s->s_npupils;
}

/** screen_npupils(s): The number of pupils, after screen_finish. */
size_t
screen_npupils(const struct screen *s)
{

	return (s->s_finished ? s->s_npupils : 0);
}

/** screen_pupil_at(s, i): Pupil ${i}, in order of first appearance. */
const struct screen_pupil *
screen_pupil_at(const struct screen *s, size_t i)
{

	return (s->s_finished && i < s->s_npupils ?
	    &s->s_pupils[i].pu_pub : NULL);
}

/** screen_pupil_find(s, id): The pupil with id ${id}, or NULL. */
const struct screen_pupil *
screen_pupil_find(const struct screen *s, const char *id)
{
	size_t slot;

	if (!s->s_finished)
		return (NULL);
	slot = slot_of(s, id, strlen(id));
	return (s->s_slots[slot] == 0 ? NULL :
	    &s->s_pupils[s->s_slots[slot] - 1].pu_pub);
}

/** screen_nyears(s): The number of school years with counted rows. */
size_t
screen_nyears(const struct screen *s)
{

	return (s->s_finished ? s->s_nyears : 0);
}

/** screen_year_at(s, i): School year ${i}, oldest first. */
const struct screen_year *
screen_year_at(const struct screen *s, size_t i)
{

	return (s->s_finished && i < s->s_nyears ? &s->s_years[i] : NULL);
}

/* --- the referral draft ------------------------------------------------- */

/* Add ${key} to the list of what the school must fill in. */
static void
todo_add(char *todo, size_t len, const char *key)
{
	size_t n = strlen(todo);

	if (n < len)
		snprintf(todo + n, len - n, "%s%s", n > 0 ? ", " : "", key);
}

/* Count the code points of the UTF-8 string ${s}. */
static size_t
chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return (n);
}

/* Set ${key} of ${obj} to ${v} (stolen); count a failure in ${bad}. */
static void
put(json_t *obj, const char *key, json_t *v, int *fails)
{

	if (v == NULL || json_object_set_new(obj, key, v) != 0)
		(*fails)++;
}

/**
 * screen_draft(p, opts, todo, todolen): A referral draft (schema
 * refx-referral-1) for pupil ${p} with its absence statistics, name and
 * class, and the school and recipients of ${opts}.  What the school must
 * write itself is present but empty ("" or []), which the draft
 * validation refuses until it is filled in; ${todo} lists those keys.
 * Return the draft (json_decref it), or NULL if ${p} has no scheduled
 * time or out of memory.
 */
json_t *
screen_draft(const struct screen_pupil *p, const struct screen_draft_opts *o,
    char *todo, size_t todolen)
{
	json_t *root, *fields, *recipients, *identity, *school, *stats;
	const char *cls = p->sp_class;
	char d1[11], d2[11];
	int fails = 0;
	size_t i;

	if (todolen > 0)
		todo[0] = '\0';
	if (p->sp_scheduled == 0)
		return (NULL);
	if ((root = json_object()) == NULL)
		return (NULL);
	put(root, "schema", json_string(REFX_SCHEMA_ID), &fails);
	put(root, "basis", json_string("consent"), &fails);

	/* Who receives it: the school decides, with the consent. */
	recipients = json_array();
	for (i = 0; recipients != NULL && i < o->sd_nrecipients; i++)
		if (json_array_append_new(recipients,
		    json_string(o->sd_recipients[i])))
			fails++;
	if (o->sd_nrecipients == 0)
		todo_add(todo, todolen, "recipients");
	put(root, "recipients", recipients, &fails);

	/* The pupil as the export names them; the personnummer is not in it. */
	fields = json_object();
	identity = json_object();
	if (identity != NULL) {
		put(identity, "name", json_string(p->sp_name), &fails);
		put(identity, "personnummer", json_string(""), &fails);
	}
	if (p->sp_name[0] == '\0')
		todo_add(todo, todolen, "fields.identity.name");
	todo_add(todo, todolen, "fields.identity.personnummer");

	school = json_object();
	if (school != NULL) {
		put(school, "school", json_string(o->sd_school != NULL ?
		    o->sd_school : ""), &fails);
		if (chars(cls) > CLASS_CHARS_MAX)
			cls = "";
		put(school, "class", json_string(cls), &fails);
	}
	if (o->sd_school == NULL)
		todo_add(todo, todolen, "fields.school.school");
	if (cls[0] == '\0')
		todo_add(todo, todolen, "fields.school.class");

	/* The statistics: rounded to tenths, unexcused <= all by monotony. */
	stats = json_pack("{s:s, s:s, s:f, s:f, s:I}",
	    "period_start", screen_date_format(p->sp_first, d1),
	    "period_end", screen_date_format(p->sp_last, d2),
	    "absence_percent", screen_tenths(p->sp_valid + p->sp_unexcused,
	    p->sp_scheduled) / 10.0,
	    "unexcused_percent", screen_tenths(p->sp_unexcused,
	    p->sp_scheduled) / 10.0,
	    "scheduled_minutes", (json_int_t)((p->sp_scheduled + 50) / 100));

	if (fields != NULL) {
		put(fields, "identity", identity, &fails);
		put(fields, "school", school, &fails);
		put(fields, "absence_stats", stats, &fails);
		put(fields, "referral_reason", json_string(""), &fails);
	} else {
		json_decref(identity);
		json_decref(school);
		json_decref(stats);
	}
	todo_add(todo, todolen, "fields.referral_reason");
	put(root, "fields", fields, &fails);
	if (fails) {
		json_decref(root);
		return (NULL);
	}
	return (root);
}
