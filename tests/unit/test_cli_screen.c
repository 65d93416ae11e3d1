/*
 * Tests of refx screen's core (client/screen.c): the Sandviken bands at
 * their exact boundaries and adding up, the suppression of small counts,
 * the Borås window at month ends, the Sandviken rule's strict "more
 * than", the mapping file, bad rows with their line numbers, BOM,
 * CRLF, decimal comma and semicolons, the bounds, and a draft that the
 * referral validation (lib/schema.c) refuses until the school has filled
 * it in and then accepts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "refx/schema.h"
#include "refx/secret.h"

#include "../../client/screen.h"

#define REPORTS_MAX	64
#define HEADER		"pupil_id,name,class,date,scheduled_minutes," \
			"absent_minutes,absence_type\n"

struct report {
	unsigned long	r_line;
	char		r_msg[SCREEN_ERR_LEN];
};

struct test_context {
	struct screen_map	*map;
	struct screen_rules	 rules;
	struct screen		*s;
	struct report		 rep[REPORTS_MAX];
	size_t			 nrep;
	char			 err[SCREEN_ERR_LEN];
	char			*buf;	/* a CSV built by a test */
	size_t			 len;
	size_t			 cap;
};

/* Collect bad rows. */
static void
collect(void *cookie, unsigned long line, const char *msg)
{
	struct test_context *t = cookie;

	if (t->nrep < REPORTS_MAX) {
		t->rep[t->nrep].r_line = line;
		snprintf(t->rep[t->nrep].r_msg, SCREEN_ERR_LEN, "%s", msg);
	}
	t->nrep++;
}

static int
setup(void **state)
{
	struct test_context *t;

	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->map = screen_map_new()) == NULL)
		return (-1);
	screen_rules_default(&t->rules);
	*state = t;
	return (0);
}

static int
teardown(void **state)
{
	struct test_context *t = *state;

	screen_free(t->s);
	screen_map_free(t->map);
	free(t->buf);
	free(t);
	return (0);
}

/* Append to the test's CSV. */
static void __attribute__((format(printf, 2, 3)))
add(struct test_context *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf == NULL ? NULL : t->buf + t->len,
		    t->buf == NULL ? 0 : t->cap - t->len, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if (t->buf != NULL && t->len + (size_t)n < t->cap)
			break;
		t->cap = (t->cap + (size_t)n + 1) * 2;
		assert_non_null(t->buf = realloc(t->buf, t->cap));
	}
	t->len += (size_t)n;
}

/* Load the mapping text ${m}; assert it parses. */
static void
map(struct test_context *t, const char *m)
{

	if (screen_map_parse(t->map, m, strlen(m), "test.ini", t->err,
	    sizeof(t->err)) != 0)
		fail_msg("mapping: %s", t->err);
	screen_map_rules(t->map, &t->rules);
}

/* Screen ${len} bytes at ${csv} in pieces of ${piece}.  0 or -1. */
static int
screen_pieces(struct test_context *t, const char *csv, size_t len,
    size_t piece)
{
	size_t off, n;

	screen_free(t->s);
	t->nrep = 0;
	t->err[0] = '\0';
	assert_non_null(t->s = screen_new(t->map, &t->rules, collect, t));
	for (off = 0; off < len; off += n) {
		n = len - off < piece ? len - off : piece;
		if (screen_feed(t->s, csv + off, n, t->err, sizeof(t->err)))
			return (-1);
	}
	return (screen_finish(t->s, t->err, sizeof(t->err)));
}

/* Screen the string ${csv} in one piece; assert it reads. */
static void
run(struct test_context *t, const char *csv)
{

	if (screen_pieces(t, csv, strlen(csv), strlen(csv) + 1))
		fail_msg("screen: %s", t->err);
}

/* The pupil ${id}, which must exist. */
static const struct screen_pupil *
pupil(struct test_context *t, const char *id)
{
	const struct screen_pupil *p = screen_pupil_find(t->s, id);

	if (p == NULL)
		fail_msg("no pupil %s", id);
	return (p);
}

/* Assert bad row ${i} is on line ${line} and says ${what}. */
static void
bad_at(struct test_context *t, size_t i, unsigned long line,
    const char *what)
{

	assert_true(i < t->nrep);
	if (t->rep[i].r_line != line || strstr(t->rep[i].r_msg, what) == NULL)
		fail_msg("report %zu: line %lu '%s'; expected line %lu with "
		    "'%s'", i, t->rep[i].r_line, t->rep[i].r_msg, line, what);
}

/* --- bands --------------------------------------------------------------- */

/* The exact boundaries: [0,10) [10,15) [15,20] (20,100]. */
static void
band_boundaries(void **state)
{

	(void)state;
	assert_int_equal(screen_band(0, 1000), SCREEN_BAND_UNDER_10);
	assert_int_equal(screen_band(99, 1000), SCREEN_BAND_UNDER_10);
	assert_int_equal(screen_band(100, 1000), SCREEN_BAND_10_15);
	assert_int_equal(screen_band(149, 1000), SCREEN_BAND_10_15);
	assert_int_equal(screen_band(150, 1000), SCREEN_BAND_15_20);
	assert_int_equal(screen_band(200, 1000), SCREEN_BAND_15_20);
	assert_int_equal(screen_band(201, 1000), SCREEN_BAND_OVER_20);
	assert_int_equal(screen_band(1000, 1000), SCREEN_BAND_OVER_20);

	/* Hundredths of a minute: one of them either side of 10/15/20 %. */
	assert_int_equal(screen_band(999999, 10000000), SCREEN_BAND_UNDER_10);
	assert_int_equal(screen_band(1000000, 10000000), SCREEN_BAND_10_15);
	assert_int_equal(screen_band(1499999, 10000000), SCREEN_BAND_10_15);
	assert_int_equal(screen_band(1500000, 10000000), SCREEN_BAND_15_20);
	assert_int_equal(screen_band(2000000, 10000000), SCREEN_BAND_15_20);
	assert_int_equal(screen_band(2000001, 10000000), SCREEN_BAND_OVER_20);

	/* Shares a double cannot hold exactly: 1/3 of 30 % is 10 %. */
	assert_int_equal(screen_band(1, 10), SCREEN_BAND_10_15);
	assert_int_equal(screen_band(3, 20), SCREEN_BAND_15_20);
	assert_int_equal(screen_band(7, 35), SCREEN_BAND_15_20);
	assert_int_equal(screen_band(UINT64_C(100000000000000),
	    UINT64_C(500000000000000)), SCREEN_BAND_15_20);
}

/*
 * Pupils at every boundary, read from an export with a decimal comma
 * and semicolons: each lands in its band and the bands add up.
 */
static void
bands_from_export(void **state)
{
	struct test_context *t = *state;
	const struct screen_year *y;

	map(t, "[format]\ndelimiter = semicolon\ndecimal = comma\n");
	add(t, "pupil_id;name;class;date;scheduled_minutes;absent_minutes;"
	    "absence_type\n");
	add(t, "U9;A;7A;2009-09-01;1000;99,99;unexcused\n");
	add(t, "U10;A;7A;2009-09-01;1000;100;unexcused\n");
	add(t, "U14;A;7A;2009-09-01;1000;149,99;unexcused\n");
	add(t, "U15;A;7A;2009-09-01;1000;150,0;unexcused\n");
	add(t, "U20;A;7A;2009-09-01;1000;200;unexcused\n");
	add(t, "U20P;A;7A;2009-09-01;1000;200,01;unexcused\n");
	/* Valid absence does not count toward the bands. */
	add(t, "V50;A;7A;2009-09-01;1000;500;valid\n");
	/* A second school year: 1 July starts it. */
	add(t, "U9;A;7A;2010-06-30;1000;0;\n");
	add(t, "U9;A;7A;2010-07-01;1000;300;unexcused\n");
	run(t, t->buf);
	assert_int_equal(t->nrep, 0);
	assert_int_equal(screen_nyears(t->s), 2);

	y = screen_year_at(t->s, 0);
	assert_int_equal(y->sy_start, 2009);
	assert_int_equal(y->sy_pupils, 7);
	assert_int_equal(y->sy_band[SCREEN_BAND_UNDER_10], 2);	/* U9, V50 */
	assert_int_equal(y->sy_band[SCREEN_BAND_10_15], 2);	/* U10, U14 */
	assert_int_equal(y->sy_band[SCREEN_BAND_15_20], 2);	/* U15, U20 */
	assert_int_equal(y->sy_band[SCREEN_BAND_OVER_20], 1);	/* U20P */
	y = screen_year_at(t->s, 1);
	assert_int_equal(y->sy_start, 2010);
	assert_int_equal(y->sy_pupils, 1);
	assert_int_equal(y->sy_band[SCREEN_BAND_OVER_20], 1);

	/* Sandviken: strictly more than 20 %. */
	assert_false(pupil(t, "U20")->sp_sandviken);
	assert_true(pupil(t, "U20P")->sp_sandviken);
	assert_false(pupil(t, "V50")->sp_sandviken);
	assert_false(pupil(t, "U15")->sp_sandviken);
	assert_int_equal(pupil(t, "U20P")->sp_unexcused, 20001);
}

/* Many pupils of random shares: every one counted in exactly one band. */
static void
bands_add_up(void **state)
{
	struct test_context *t = *state;
	const struct screen_year *y;
	uint64_t want[SCREEN_NBANDS] = { 0, 0, 0, 0 }, sum = 0;
	uint32_t x = 12345;
	unsigned i, sched, u;
	size_t b;

	add(t, HEADER);
	for (i = 0; i < 2000; i++) {
		x = x * 1103515245 + 12345;
		sched = 100 + (x >> 8) % 900;
		x = x * 1103515245 + 12345;
		u = (x >> 8) % (sched / 3 + 1);
		add(t, "P%u,N,7A,2010-01-04,%u,%u,unexcused\n", i, sched, u);
		want[u * 100 < sched * 10 ? 0 : u * 100 < sched * 15 ? 1 :
		    u * 100 <= sched * 20 ? 2 : 3]++;
	}
	run(t, t->buf);
	y = screen_year_at(t->s, 0);
	assert_non_null(y);
	for (b = 0; b < SCREEN_NBANDS; b++) {
		assert_int_equal(y->sy_band[b], want[b]);
		sum += y->sy_band[b];
	}
	assert_int_equal(sum, 2000);
	assert_int_equal(y->sy_pupils, 2000);
}

/* A pupil with rows but no scheduled time is outside the table. */
static void
bands_unscheduled(void **state)
{
	struct test_context *t = *state;
	const struct screen_year *y;

	run(t, HEADER "A,N,7A,2009-09-01,0,0,\nB,N,7A,2009-09-01,10,1,valid\n");
	y = screen_year_at(t->s, 0);
	assert_int_equal(y->sy_pupils, 1);
	assert_int_equal(y->sy_unscheduled, 1);
	assert_int_equal(y->sy_band[0] + y->sy_band[1] + y->sy_band[2] +
	    y->sy_band[3], 1);
}

/* --- suppression --------------------------------------------------------- */

/* Check the suppression of one year against what each cell must show. */
static void
suppress_case(uint64_t pupils, uint64_t b0, uint64_t b1, uint64_t b2,
    uint64_t b3, const int want[5])
{
	struct screen_year y;
	int hide[5], i;
	uint64_t hidden = 0;

	memset(&y, 0, sizeof(y));
	y.sy_pupils = pupils;
	y.sy_band[0] = b0;
	y.sy_band[1] = b1;
	y.sy_band[2] = b2;
	y.sy_band[3] = b3;
	screen_suppress(&y, hide);
	for (i = 0; i < 5; i++)
		if (hide[i] != want[i])
			fail_msg("cell %d: hide %d, want %d", i, hide[i],
			    want[i]);

	/* The guarantee: no hidden count is total minus shown ones. */
	for (i = 0; i < 4; i++) {
		if (y.sy_band[i] < 5)
			assert_true(hide[1 + i]);
		if (hide[1 + i])
			hidden += y.sy_band[i];
	}
	if (!hide[0] && (hide[1] || hide[2] || hide[3] || hide[4]))
		assert_true(hidden >= 5);
}

static void
suppress(void **state)
{
	static const int none[5] = { 0, 0, 0, 0, 0 };
	static const int all[5] = { 1, 1, 1, 1, 1 };
	static const int c1[5] = { 0, 0, 0, 1, 1 };
	static const int c2[5] = { 0, 0, 1, 1, 1 };
	static const int c4[5] = { 0, 1, 1, 1, 1 };
	static const int c5[5] = { 0, 1, 0, 1, 1 };

	(void)state;
	suppress_case(856, 670, 69, 38, 79, none);	/* Sandviken 2009/10 */
	suppress_case(3, 1, 1, 1, 0, all);	/* pupils under 5 */
	suppress_case(0, 0, 0, 0, 0, all);	/* zero is "<5" too */
	suppress_case(5, 5, 0, 0, 0, c4);	/* hidden 0 + 0 + 0 < 5 */
	/* 1-4 hidden; one hidden alone would be 100 - 90 - 6: hide 6 too. */
	suppress_case(100, 90, 6, 4, 0, c2);
	suppress_case(100, 88, 7, 5, 0, c1);	/* 5 + 0: 0 needs company */
	suppress_case(100, 80, 10, 6, 4, c1);	/* 4 alone: hide 6 too */
	suppress_case(20, 16, 4, 0, 0, c4);	/* 4 + 0 + 0 < 5: hide 16 */
	suppress_case(100, 40, 30, 20, 10, none);
	suppress_case(10, 5, 5, 0, 0, c5);	/* 0 + 0: hide one 5 */
}

/* --- Borås --------------------------------------------------------------- */

/*
 * Six months of 1000 scheduled minutes.  X: 0 % Sep-Nov, 15 % Dec-Feb:
 * the window Dec-Feb is exactly 15 % at 28 February (cumulative since
 * September it would be 7.5 %, two months 15 % already at January, four
 * months 11.25 %).  Y: one minute less in February: never.
 */
static void
boras_month_end(void **state)
{
	struct test_context *t = *state;
	static const char *const months[] = { "2009-09", "2009-10",
	    "2009-11", "2009-12", "2010-01", "2010-02" };
	const struct screen_pupil *p;
	char d[11];
	int i;

	add(t, HEADER);
	for (i = 0; i < 6; i++) {
		add(t, "X,N,7A,%s-01,500,%d,%s\n", months[i], i < 3 ? 0 : 100,
		    i < 3 ? "" : "valid");
		add(t, "X,N,7A,%s-02,500,%d,%s\n", months[i], i < 3 ? 0 : 50,
		    i < 3 ? "" : "unexcused");
		add(t, "Y,N,7A,%s-01,500,%d,%s\n", months[i], i < 3 ? 0 : 100,
		    i < 3 ? "" : "valid");
		add(t, "Y,N,7A,%s-02,500,%d,%s\n", months[i], i < 3 ? 0 :
		    i == 5 ? 49 : 50, i < 3 ? "" : "unexcused");
	}
	run(t, t->buf);
	p = pupil(t, "X");
	assert_true(p->sp_boras);
	assert_string_equal(screen_date_format(p->sp_boras_end, d),
	    "2010-02-28");
	assert_string_equal(screen_date_format(p->sp_boras_start, d),
	    "2009-12-01");
	assert_int_equal(p->sp_boras_absent, 45000);	/* valid + unexcused */
	assert_int_equal(p->sp_boras_scheduled, 300000);
	assert_int_equal(screen_tenths(p->sp_boras_absent,
	    p->sp_boras_scheduled), 150);
	assert_false(pupil(t, "Y")->sp_boras);

	/* The same export, a lower threshold: X crosses at January. */
	t->rules.sr_boras_bp = 1000;
	run(t, t->buf);
	assert_string_equal(screen_date_format(pupil(t, "X")->sp_boras_end,
	    d), "2010-01-31");

	/* And a two-month window at 15 %: January too. */
	t->rules.sr_boras_bp = 1500;
	t->rules.sr_boras_months = 2;
	run(t, t->buf);
	assert_string_equal(screen_date_format(pupil(t, "X")->sp_boras_end,
	    d), "2010-01-31");
}

/*
 * Only month ends with data are checked: with no row in July for
 * anyone, the window May-July (20 %) is never looked at; June-August
 * (20 %) is, at 31 August.
 */
static void
boras_months_with_data(void **state)
{
	struct test_context *t = *state;
	char d[11];

	run(t, HEADER
	    "Z,N,7A,2010-04-15,1000,0,\n"
	    "Z,N,7A,2010-05-14,1000,0,\n"
	    "Z,N,7A,2010-06-10,1000,400,unexcused\n"
	    "Z,N,7A,2010-08-20,1000,0,\n");
	assert_true(pupil(t, "Z")->sp_boras);
	assert_string_equal(screen_date_format(pupil(t, "Z")->sp_boras_end,
	    d), "2010-08-31");
	assert_string_equal(screen_date_format(pupil(t, "Z")->sp_boras_start,
	    d), "2010-06-01");
}

/* --- the mapping --------------------------------------------------------- */

/* A mapping file of every key, and an export in its shape. */
static void
mapping_parse(void **state)
{
	struct test_context *t = *state;
	const struct screen_pupil *p;

	map(t, "; an export shaped like SKOLA24's\n"
	    "[columns]\n"
	    "pupil_id = Elev-ID\n"
	    "name = Namn\n"
	    "class =\n"
	    "date = Datum\n"
	    "scheduled = Schemalagd tid\n"
	    "absent = Frånvaro\n"
	    "type = Typ\n"
	    "[format]\n"
	    "delimiter = semicolon\n"
	    "decimal = comma\n"
	    "date = DD.MM.YYYY\n"
	    "unit = hours\n"
	    "[values]\n"
	    "valid = Giltig, G\n"
	    "unexcused = Ogiltig , O\n"
	    "none = -\n"
	    "[rules]\n"
	    "boras_percent = 12,5\n"
	    "boras_months = 2\n"
	    "sandviken_percent = 30\n");
	assert_string_equal(screen_map_header(t->map, SCREEN_COL_ID),
	    "Elev-ID");
	assert_string_equal(screen_map_header(t->map, SCREEN_COL_CLASS), "");
	assert_int_equal(t->rules.sr_boras_bp, 1250);
	assert_int_equal(t->rules.sr_boras_months, 2);
	assert_int_equal(t->rules.sr_sandviken_bp, 3000);

	/* Header names ignore case and column order; extra columns are fine. */
	run(t, "Extra;TYP;Frånvaro;Schemalagd tid;Datum;Namn;elev-id\n"
	    "x;g;1,25;5;01.09.2009;Åsa Öberg;A1\n"
	    "x;O;0,5;5;02.09.2009;Åsa Öberg;A1\n"
	    "x;-;0;5;03.09.2009;Åsa Öberg;A1\n");
	assert_int_equal(t->nrep, 0);
	p = pupil(t, "A1");
	assert_string_equal(p->sp_name, "Åsa Öberg");
	assert_string_equal(p->sp_class, "");
	assert_int_equal(p->sp_valid, 7500);		/* 1.25 h = 75 min */
	assert_int_equal(p->sp_unexcused, 3000);
	assert_int_equal(p->sp_scheduled, 90000);
}

/* Each bad mapping: refused with the file, line and key. */
static void
mapping_errors(void **state)
{
	static const struct {
		const char	*text;
		const char	*want;
	} cases[] = {
		{ "[columns]\npupil_id = Id\ncolour = blue\n",
		    "test.ini:3: unknown key 'colour' in [columns]" },
		{ "[colums]\npupil_id = Id\n", "test.ini:2: unknown section" },
		{ "[columns]\ndate = D\ndate = E\n", "test.ini:3: 'date' in "
		    "[columns] is given twice" },
		{ "[columns]\ndate = D\n  E\n", "test.ini:3:" },
		{ "[columns]\ndate =\n", "test.ini:2: 'date' in [columns] is "
		    "empty" },
		{ "[format]\ndelimiter = ;\n", "test.ini:2: 'delimiter'" },
		{ "[format]\ndelimiter = \"\n", "test.ini:2: 'delimiter'" },
		{ "[format]\ndecimal = dot\n", "test.ini:2: 'decimal'" },
		{ "[format]\ndate = YYYY-MM\n", "test.ini:2: 'date'" },
		{ "[format]\ndate = YY-MM-DD\n", "test.ini:2: 'date'" },
		{ "[format]\ndate = YYYY-MM-DD-DD\n", "test.ini:2: 'date'" },
		{ "[format]\nunit = seconds\n", "test.ini:2: 'unit'" },
		{ "[values]\nvalid = G,\n", "test.ini:2: 'valid'" },
		{ "[values]\nvalid = G\nunexcused = g\n", "the spelling 'G' is "
		    "given for two types" },
		{ "[rules]\nboras_percent = 0\n",
		    "test.ini:2: 'boras_percent'" },
		{ "[rules]\nsandviken_percent = 100.5\n",
		    "test.ini:2: 'sandviken_percent'" },
		{ "[rules]\nboras_months = 13\n",
		    "test.ini:2: 'boras_months'" },
		{ "no section\n", "test.ini:1:" },
		{ "[columns\n", "test.ini:1: syntax error" },
	};
	struct test_context *t = *state;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t->err[0] = '\0';
		if (screen_map_parse(t->map, cases[i].text,
		    strlen(cases[i].text), "test.ini", t->err,
		    sizeof(t->err)) == 0)
			fail_msg("case %zu accepted", i);
		if (strstr(t->err, cases[i].want) == NULL)
			fail_msg("case %zu: '%s', want '%s'", i, t->err,
			    cases[i].want);
	}

	/* A failed load changed nothing: the built-in mapping still reads. */
	assert_string_equal(screen_map_header(t->map, SCREEN_COL_DATE), "date");
	run(t, HEADER "A,N,7A,2009-09-01,10,1,valid\n");
	assert_int_equal(t->nrep, 0);
}

/* --- bad rows ------------------------------------------------------------ */

/* Every kind of bad row, reported with its line and left uncounted. */
static void
bad_rows(void **state)
{
	struct test_context *t = *state;
	struct screen_stats st;
	size_t i = 0;

	add(t, HEADER);						/* 1 */
	add(t, "A,Ann,7A,2009-09-01,300,30,valid\n");		/* 2 good */
	add(t, "A,Ann,7A,2009-09-02,300,-5,valid\n");		/* 3 */
	add(t, "A,Ann,7A,2009-09-02,300,301,valid\n");		/* 4 */
	add(t, "A,Ann,7A,2009-08-31,300,0,\n");			/* 5 */
	add(t, "A,Ann,7A,2009-02-29,300,0,\n");			/* 6 */
	add(t, "A,Ann,7A,01/09/2009,300,0,\n");			/* 7 */
	add(t, "A,Ann\xc3,7A,2009-09-03,300,0,\n");		/* 8 */
	add(t, "A,Ann,7A,2009-09-03,300,0\n");			/* 9 */
	add(t, "A,Ann,7A,2009-09-03,300,0,,extra\n");		/* 10 */
	add(t, "A,Ann,7A,2009-09-03,300,10,sjuk\n");		/* 11 */
	add(t, "A,Ann,7A,2009-09-03,300,10,\n");		/* 12 */
	add(t, "A,Ann,7A,2009-09-03,3OO,0,\n");			/* 13 */
	add(t, "A,\"Ann,7A,2009-09-03,300,0,\n");		/* 14 */
	add(t, ",Ann,7A,2009-09-03,300,0,\n");			/* 15 */
	add(t, "A\x1b[2J,Ann,7A,2009-09-03,300,0,\n");		/* 16 */
	add(t, "A,Ann,7A,2009-09-03,300,0,\rB\n");		/* 17 */
	add(t, "A,Ann,7A,2009-09-03,\"45,5\",0,\n");		/* 18 */
	add(t, "A,Ann,7A,2009-09-03,200000,0,\n");		/* 19 */
	add(t, "A,Ann,7A,2009-09-04,300,60,unexcused\n");	/* 20 good */
	add(t, "A,Ann,7A,2009-09-03,300,0,\n");			/* 21 */
	run(t, t->buf);

	bad_at(t, i++, 3, "the absent time is negative");
	bad_at(t, i++, 4, "the absent time is more than the scheduled time");
	bad_at(t, i++, 5, "before this pupil's row on line 2");
	bad_at(t, i++, 6, "the date '2009-02-29' is not a date");
	bad_at(t, i++, 7, "the date '01/09/2009' is not a date written "
	    "YYYY-MM-DD");
	bad_at(t, i++, 8, "not valid UTF-8");
	bad_at(t, i++, 9, "6 columns, but the header has 7");
	bad_at(t, i++, 10, "8 columns, but the header has 7");
	bad_at(t, i++, 11, "the absence type 'sjuk' is neither valid");
	bad_at(t, i++, 12, "absent time without a type");
	bad_at(t, i++, 13, "the scheduled time '3OO' is not a number");
	bad_at(t, i++, 14, "a quote out of place or not closed");
	bad_at(t, i++, 15, "no pupil id");
	bad_at(t, i++, 16, "the pupil id has control");
	bad_at(t, i++, 17, "carriage return");
	bad_at(t, i++, 18, "'45,5' is not a number (minutes, decimal "
	    "point");
	bad_at(t, i++, 19, "more than 100000 minutes");
	bad_at(t, i++, 21, "before this pupil's row on line 20");
	assert_int_equal(t->nrep, i);

	/* Only lines 2 and 20 count; the parser recovered after line 14. */
	screen_stats(t->s, &st);
	assert_int_equal(st.ss_rows, 20);
	assert_int_equal(st.ss_bad, i);
	assert_int_equal(st.ss_counted, 2);
	assert_int_equal(pupil(t, "A")->sp_scheduled, 60000);
	assert_int_equal(pupil(t, "A")->sp_valid, 3000);
	assert_int_equal(pupil(t, "A")->sp_unexcused, 6000);
}

/* What stops the reading: a header without a mapped column. */
static void
bad_header(void **state)
{
	struct test_context *t = *state;
	static const char csv[] = "pupil_id,name,class,date,scheduled_minutes,"
	    "absence_type\nA,N,7A,2009-09-01,10,\n";

	assert_int_equal(screen_pieces(t, csv, sizeof(csv) - 1, 4096), -1);
	assert_non_null(strstr(t->err, "line 1: the header has no column "
	    "'absent_minutes' (absent in the mapping's [columns]"));

	/* An empty file has no header. */
	assert_int_equal(screen_pieces(t, "", 0, 1), -1);
	assert_non_null(strstr(t->err, "no header line"));

	/* Nor does one of blank lines and delimiters only. */
	assert_int_equal(screen_pieces(t, "\n  \n,,,\n", 8, 3), -1);
	assert_non_null(strstr(t->err, "no header line"));
}

/* A line beyond SCREEN_LINE_MAX: one bad row; the next line reads. */
static void
long_line(void **state)
{
	struct test_context *t = *state;
	char *name;

	assert_non_null(name = malloc(SCREEN_LINE_MAX + 1));
	memset(name, 'x', SCREEN_LINE_MAX);
	name[SCREEN_LINE_MAX] = '\0';
	add(t, HEADER "A,%s,7A,2009-09-01,10,1,valid\n"
	    "B,N,7A,2009-09-01,10,1,valid\n", name);
	free(name);
	assert_int_equal(screen_pieces(t, t->buf, t->len, 1000), 0);
	assert_int_equal(t->nrep, 1);
	bad_at(t, 0, 2, "longer than 4096 bytes");
	assert_null(screen_pupil_find(t->s, "A"));
	assert_non_null(screen_pupil_find(t->s, "B"));
}

/* Exactly SCREEN_LINE_MAX bytes read (a CR beyond them too); one more not. */
static void
line_limit(void **state)
{
	struct test_context *t = *state;
	static const char start[] = "A,N,7A,2009-09-01,10,1,valid,";
	char *pad;
	size_t n = SCREEN_LINE_MAX - (sizeof(start) - 1);

	assert_non_null(pad = malloc(n + 2));
	memset(pad, 'x', n + 1);
	pad[n] = '\0';
	add(t, "pupil_id,name,class,date,scheduled_minutes,absent_minutes,"
	    "absence_type,note\n");
	add(t, "%s%s\n", start, pad);			/* 2: 4096 bytes */
	add(t, "%s%s\r\n", start, pad);		/* 3: 4096 + CR */
	pad[n] = 'x';
	pad[n + 1] = '\0';
	add(t, "%s%s\n", start, pad);			/* 4: 4097 bytes */
	add(t, "%s%s\r\n", start, pad);		/* 5: 4097 + CR */
	free(pad);
	assert_int_equal(screen_pieces(t, t->buf, t->len, 4097), 0);
	assert_int_equal(t->nrep, 2);
	bad_at(t, 0, 4, "longer than 4096 bytes");
	bad_at(t, 1, 5, "longer than 4096 bytes");
	assert_int_equal(pupil(t, "A")->sp_scheduled, 2000);
}

/* At most SCREEN_PUPILS_MAX pupils: the next one stops the reading. */
static void
too_many_pupils(void **state)
{
	struct test_context *t = *state;
	unsigned i;

	add(t, HEADER);
	for (i = 0; i <= SCREEN_PUPILS_MAX; i++)
		add(t, "P%u,N,7A,2009-09-01,10,0,\n", i);
	assert_int_equal(screen_pieces(t, t->buf, t->len, 65536), -1);
	assert_non_null(strstr(t->err, "line 100002: more than 100000 "
	    "pupils"));
}

/* --- encodings and line ends ---------------------------------------------- */

/* A BOM, CRLF, blank and delimiter-only lines; a BOM inside is bad. */
static void
bom_crlf(void **state)
{
	struct test_context *t = *state;
	static const char csv[] = "\xef\xbb\xbfpupil_id;name;class;date;"
	    "scheduled_minutes;absent_minutes;absence_type\r\n"
	    "A;Åsa;7A;2009-09-01;10;1;valid\r\n"
	    "\r\n"
	    ";;;;;;\r\n"
	    "\xef\xbb\xbf" "B;Bo;7A;2009-09-01;10;1;valid\r\n"
	    "C;Cecilia;7A;2009-09-01;10;1,5;unexcused";	/* no newline */

	map(t, "[format]\ndelimiter = semicolon\ndecimal = comma\n");
	assert_int_equal(screen_pieces(t, csv, sizeof(csv) - 1, 7), 0);
	assert_int_equal(t->nrep, 1);
	bad_at(t, 0, 5, "the pupil id has control or invisible");
	assert_string_equal(pupil(t, "A")->sp_name, "Åsa");
	assert_int_equal(pupil(t, "C")->sp_unexcused, 150);
	assert_int_equal(screen_npupils(t->s), 2);
}

/* Any split into pieces reads the same as one piece. */
static void
pieces(void **state)
{
	struct test_context *t = *state;
	size_t piece;
	uint64_t u;

	add(t, "\xef\xbb\xbf" HEADER);
	add(t, "A,Åsa,7A,2009-09-01,300,30,unexcused\r\n");
	add(t, "B,\"Berg, Bo\",7B,2009-09-01,300,30.5,valid\n");
	add(t, "A,Åsa,7A,2009-09-02,300,45,unexcused\n");
	for (piece = 1; piece <= 17; piece++) {
		if (screen_pieces(t, t->buf, t->len, piece))
			fail_msg("piece %zu: %s", piece, t->err);
		assert_int_equal(t->nrep, 0);
		u = pupil(t, "A")->sp_unexcused;
		assert_int_equal(u, 7500);
		assert_string_equal(pupil(t, "B")->sp_name, "Berg, Bo");
		assert_int_equal(pupil(t, "B")->sp_valid, 3050);
	}
}

/* --from and --to: rows outside are read and checked, not counted. */
static void
window(void **state)
{
	struct test_context *t = *state;
	struct screen_stats st;

	assert_int_equal(screen_date_parse("2009-09-02", &t->rules.sr_from),
	    0);
	assert_int_equal(screen_date_parse("2009-09-03", &t->rules.sr_to), 0);
	run(t, HEADER
	    "A,N,7A,2009-09-01,100,100,unexcused\n"
	    "A,N,7A,2009-09-02,100,10,unexcused\n"
	    "A,N,7A,2009-09-03,100,0,\n"
	    "A,N,7A,2009-09-04,100,100,unexcused\n"
	    "A,N,7A,2009-09-01,100,0,\n");	/* still out of order */
	screen_stats(t->s, &st);
	assert_int_equal(st.ss_counted, 2);
	assert_int_equal(st.ss_bad, 1);
	assert_int_equal(pupil(t, "A")->sp_unexcused, 1000);
	assert_int_equal(pupil(t, "A")->sp_scheduled, 20000);
	assert_int_equal(pupil(t, "A")->sp_first, 20090902);
	assert_int_equal(pupil(t, "A")->sp_last, 20090903);
}

/* Percentages of flags and files: two decimals, a point or a comma. */
static void
percent_parse(void **state)
{
	unsigned bp;

	(void)state;
	assert_int_equal(screen_percent_parse("15", &bp), 0);
	assert_int_equal(bp, 1500);
	assert_int_equal(screen_percent_parse("12,5", &bp), 0);
	assert_int_equal(bp, 1250);
	assert_int_equal(screen_percent_parse("12.25", &bp), 0);
	assert_int_equal(bp, 1225);
	assert_int_equal(screen_percent_parse("100", &bp), 0);
	assert_int_equal(screen_percent_parse("0", &bp), -1);
	assert_int_equal(screen_percent_parse("100.01", &bp), -1);
	assert_int_equal(screen_percent_parse("1.234", &bp), -1);
	assert_int_equal(screen_percent_parse("-5", &bp), -1);
	assert_int_equal(screen_percent_parse("15%", &bp), -1);
	assert_int_equal(screen_percent_parse("", &bp), -1);
	assert_int_equal(screen_tenths(1, 3), 333);
	assert_int_equal(screen_tenths(2, 3), 667);
	assert_int_equal(screen_tenths(0, 0), 0);
}

/* --- the draft ------------------------------------------------------------ */

/* Refused as written; accepted once the school has filled it in. */
static void
draft(void **state)
{
	struct test_context *t = *state;
	struct screen_draft_opts o;
	struct refx_draft *d;
	json_t *j, *f;
	char todo[256], *text, err[256];
	const char *recipients[1] = { "ludvika-ifo-intake" };

	run(t, HEADER
	    "A,Åsa Öberg,6B,2024-08-19,300,100,valid\n"
	    "A,Åsa Öberg,6B,2024-08-20,300,50,unexcused\n"
	    "L,Lo,Särskild undervisningsgrupp,2024-08-19,300,0,\n");
	memset(&o, 0, sizeof(o));
	assert_non_null(j = screen_draft(pupil(t, "A"), &o, todo,
	    sizeof(todo)));
	assert_string_equal(todo, "recipients, fields.identity.personnummer, "
	    "fields.school.school, fields.referral_reason");
	f = json_object_get(json_object_get(j, "fields"), "absence_stats");
	assert_string_equal(json_string_value(json_object_get(f,
	    "period_start")), "2024-08-19");
	assert_string_equal(json_string_value(json_object_get(f,
	    "period_end")), "2024-08-20");
	assert_true(json_real_value(json_object_get(f, "absence_percent")) ==
	    25.0);
	assert_true(json_real_value(json_object_get(f, "unexcused_percent")) ==
	    8.3);
	assert_int_equal(json_integer_value(json_object_get(f,
	    "scheduled_minutes")), 600);

	/* As written: the validation refuses it. */
	assert_non_null(text = json_dumps(j, 0));
	assert_null(d = refx_draft_parse((uint8_t *)text, strlen(text), ".",
	    err, sizeof(err)));
	free(text);

	/* Filled in: it passes the validation refx referral submit runs. */
	o.sd_school = "Marnässkolan";
	o.sd_recipients[0] = recipients[0];
	o.sd_nrecipients = 1;
	json_decref(j);
	assert_non_null(j = screen_draft(pupil(t, "A"), &o, todo,
	    sizeof(todo)));
	assert_string_equal(todo, "fields.identity.personnummer, "
	    "fields.referral_reason");
	f = json_object_get(j, "fields");
	assert_int_equal(json_object_set_new(json_object_get(f, "identity"),
	    "personnummer", json_string("20120314-2847")), 0);
	assert_int_equal(json_object_set_new(f, "referral_reason",
	    json_string("Hög frånvaro.")), 0);
	assert_non_null(text = json_dumps(j, 0));
	d = refx_draft_parse((uint8_t *)text, strlen(text), ".", err,
	    sizeof(err));
	if (d == NULL)
		fail_msg("draft refused: %s", err);
	refx_draft_free(d);
	free(text);
	json_decref(j);

	/* A class longer than the schema's 16 characters is left to fill. */
	assert_non_null(j = screen_draft(pupil(t, "L"), &o, todo,
	    sizeof(todo)));
	assert_non_null(strstr(todo, "fields.school.class"));
	json_decref(j);
}

/* No draft for a pupil without scheduled time. */
static void
draft_unscheduled(void **state)
{
	struct test_context *t = *state;
	struct screen_draft_opts o;
	char todo[256];

	run(t, HEADER "A,N,6B,2024-08-19,0,0,\n");
	memset(&o, 0, sizeof(o));
	assert_null(screen_draft(pupil(t, "A"), &o, todo, sizeof(todo)));
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(band_boundaries),
		T(bands_from_export),
		T(bands_add_up),
		T(bands_unscheduled),
		T(suppress),
		T(boras_month_end),
		T(boras_months_with_data),
		T(mapping_parse),
		T(mapping_errors),
		T(bad_rows),
		T(bad_header),
		T(long_line),
		T(line_limit),
		T(too_many_pupils),
		T(bom_crlf),
		T(pieces),
		T(window),
		T(percent_parse),
		T(draft),
		T(draft_unscheduled),
	};
#undef T

	if (refx_crypto_init())
		return (1);
	return (cmocka_run_group_tests_name("test_cli_screen", tests, NULL,
	    NULL));
}
