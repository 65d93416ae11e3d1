/*
 * refx-gen-attendance: write a seeded, reproducible attendance export for
 * the tests of refx screen (tests/integration/15-screening.sh).
 *
 *   refx-gen-attendance [--seed N] [--format plain|skola24|dexter]
 *       [--manifest FILE] [--rows N] [-o FILE]
 *
 * Without --rows: the school year 2009/2010 of 856 pupils built so that
 * their unexcused absence falls into the bands of Sandviken's table
 * (seeds/003: 670 under 10 %, 69 in 10-15 %, 38 in 15-20 %, 79 over
 * 20 %), with pupils at exactly 10 %, 15 % and 20 % and one minute on
 * either side, and pupils built to cross the Borås rule (15 % of
 * valid + unexcused over the three months ending at a month end) at a
 * known month end, exactly at 15.00 %, each with a twin one minute under
 * that must never cross.  --manifest writes what refx screen must find:
 *
 *   table 2009/2010 856 670 69 38 79
 *   boras ID YYYY-MM-DD         (every pupil the Borås rule flags)
 *   sandviken ID                (every pupil over 20 % unexcused)
 *   never ID                    (a twin just under: flagged by neither)
 *
 * How the truth is built rather than computed: every pupil's absence is
 * fixed month by month.  A pupil of the population has the same share
 * of unexcused absence each month (scheduled minutes are multiples of
 * 20 each day, so 10, 15 and 20 % of a month are whole minutes); with
 * less than 15 % unexcused, its valid absence is capped so that every
 * month stays under 15 % in all, so no three-month window reaches 15 %;
 * with 15 % or more, August alone reaches it, so the first month end is
 * 2009-08-31.  A Borås pupil is absent in one month only, by exactly
 * 15 % of the smallest three-month window holding that month (where it
 * first crosses); its twin by one minute less.  The generator still
 * checks each pupil against a plain evaluation of the rule and exits 70
 * if the construction failed.
 *
 * --rows N: N rows of many pupils and random absence, for timing.
 * Formats: plain (refx screen's built-in mapping), skola24 and dexter
 * (the assumed shapes of examples/screen-*.ini).
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#define NPUPILS		856
#define DAYS_MAX	366
#define MONTHS		12	/* July 2009 = 0 ... June 2010 = 11 */
#define FIRST_YEAR	2009

enum fmt { FMT_PLAIN, FMT_SKOLA24, FMT_DEXTER };
enum type { T_NONE, T_VALID, T_UNEXCUSED };

/* One school day. */
struct day {
	int	d_y, d_m, d_d;
	int	d_month;	/* 0 = July 2009 */
	int	d_minutes;	/* scheduled */
};

/* One pupil and its absence, day by day. */
struct pupil {
	char		 p_id[16];
	char		 p_first[32];
	char		 p_last[32];
	char		 p_class[8];
	long		 p_u[MONTHS];	/* unexcused minutes per month */
	long		 p_v[MONTHS];	/* valid minutes per month */
	int		*p_absent;	/* per day */
	unsigned char	*p_type;	/* per day */
	char		 p_boras[11];	/* expected first month end, or "" */
	int		 p_sandviken;	/* expected: over 20 % unexcused */
	int		 p_never;	/* a twin just under */
};

static struct day days[DAYS_MAX];
static int ndays;
static long month_minutes[MONTHS];
static uint64_t rng;

/* splitmix64: small, seeded, the same everywhere. */
static uint64_t
next(void)
{
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return (z ^ (z >> 31));
}

/* A number in [lo, hi]. */
static long
between(long lo, long hi)
{

	return (lo + (long)(next() % (uint64_t)(hi - lo + 1)));
}

/* Days since 1970-01-01 (H. Hinnant's days_from_civil). */
static long
civil(int y, int m, int d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (era * 146097 + doe - 719468);
}

static int
dim(int y, int m)
{
	static const int n[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	return (m == 2 && y % 4 == 0 ? 29 : n[m - 1]);
}

/* Holidays of 2009/2010: autumn, Christmas, winter and Easter breaks. */
static int
holiday(int y, int m, int d)
{
	long t = civil(y, m, d);

	return ((t >= civil(2009, 10, 26) && t <= civil(2009, 10, 30)) ||
	    (t >= civil(2009, 12, 21) && t <= civil(2010, 1, 8)) ||
	    (t >= civil(2010, 3, 1) && t <= civil(2010, 3, 5)) ||
	    (t >= civil(2010, 4, 2) && t <= civil(2010, 4, 5)));
}

/* The school days of 2009-08-17 .. 2010-06-10 and their minutes. */
static void
make_days(void)
{
	/* Monday to Friday; multiples of 20 so 10, 15, 20 % are whole. */
	static const int minutes[5] = { 300, 320, 260, 300, 240 };
	long t, t0 = civil(2009, 8, 17), t1 = civil(2010, 6, 10);
	int y = 2009, m = 8, d = 17, wd;

	for (t = t0; t <= t1; t++) {
		wd = (int)((t + 3) % 7);	/* 1970-01-01 was a Thursday */
		if (wd < 5 && !holiday(y, m, d)) {
			days[ndays].d_y = y;
			days[ndays].d_m = m;
			days[ndays].d_d = d;
			days[ndays].d_month = (y - FIRST_YEAR) * 12 + m - 7;
			days[ndays].d_minutes = minutes[wd];
			month_minutes[days[ndays].d_month] += minutes[wd];
			ndays++;
		}
		if (++d > dim(y, m)) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
}

/* Scheduled minutes of the months [a, b], clipped to the year. */
static long
window(int a, int b)
{
	long s = 0;
	int i;

	for (i = a < 0 ? 0 : a; i <= b && i < MONTHS; i++)
		s += month_minutes[i];
	return (s);
}

/* The month end of month ${mi} (0 = July 2009). */
static void
month_end(int mi, char buf[11])
{
	unsigned y = FIRST_YEAR + (unsigned)(mi + 6) / 12 % 100;
	unsigned m = (unsigned)(mi + 6) % 12 + 1;

	snprintf(buf, 11, "%04u-%02u-%02u", y, m, (unsigned)dim((int)y,
	    (int)m) % 100);
}

/*
 * The plain reading of the Borås rule, month end by month end, with the
 * whole window summed each time: the first month end where valid +
 * unexcused >= 15 % of scheduled, or -1.
 */
static int
first_cross(const struct pupil *p)
{
	long s, a;
	int e, i;

	for (e = 0; e < MONTHS; e++) {
		if (month_minutes[e] == 0)
			continue;	/* no data: not a month end of it */
		for (s = a = 0, i = e - 2; i <= e; i++) {
			if (i < 0)
				continue;
			s += month_minutes[i];
			a += p->p_u[i] + p->p_v[i];
		}
		if (s > 0 && a * 100 >= s * 15)
			return (e);
	}
	return (-1);
}

static const char *const firsts[] = {
	"Alva", "Elsa", "Åsa", "Maja", "Ebba", "Wilma", "Saga", "Agnes",
	"Linnéa", "Klara", "Oscar", "Lucas", "Hugo", "Elias", "Alexander",
	"Liam", "Noah", "Olle", "Björn", "Örjan", "Måns", "Sixten",
};
static const char *const lasts[] = {
	"Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson",
	"Larsson", "Olsson", "Persson", "Svensson", "Gustafsson", "Åberg",
	"Öberg", "Lindström", "Bäckman", "Sjögren", "Ek",
};
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* Give ${p} a name and class. */
static void
name(struct pupil *p, const char *id)
{

	snprintf(p->p_id, sizeof(p->p_id), "%s", id);
	snprintf(p->p_first, sizeof(p->p_first), "%s",
	    firsts[next() % NELEM(firsts)]);
	snprintf(p->p_last, sizeof(p->p_last), "%s",
	    lasts[next() % NELEM(lasts)]);
	snprintf(p->p_class, sizeof(p->p_class), "%ld%c", between(7, 9),
	    (int)('A' + between(0, 3)));
}

/*
 * A pupil of the population: ${bp} hundredths of a percent unexcused
 * each month (rounded down), ${adjust} minutes more (or less) in May,
 * and random valid absence that keeps every month under 15 % in all if
 * the unexcused share is under 15 %.
 */
static void
population(struct pupil *p, long bp, long adjust, int valid)
{
	long cap, v;
	int m;

	for (m = 0; m < MONTHS; m++) {
		if (month_minutes[m] == 0)
			continue;
		p->p_u[m] = month_minutes[m] * bp / 10000;
		if (m == 10)
			p->p_u[m] += adjust;
		if (!valid)
			continue;
		v = month_minutes[m] * between(0, 600) / 10000;
		if (bp < 1500) {
			/* 15 % of a month is whole: stay one minute under. */
			cap = month_minutes[m] * 15 / 100 - 1 - p->p_u[m];
			v = v < cap ? v : cap;
		} else if (v > month_minutes[m] - p->p_u[m])
			v = month_minutes[m] - p->p_u[m];
		p->p_v[m] = v > 0 ? v : 0;
	}
	if (bp >= 1500)
		month_end(1, p->p_boras);	/* August alone reaches 15 % */
	p->p_sandviken = bp > 2000 || (bp == 2000 && adjust > 0);
}

/*
 * A Borås pupil: absent only in month ${mi}, by 15 % of the smallest
 * three-month window holding it (less ${under} minutes); a third of it
 * unexcused if ${mixed}, all unexcused if ${mixed} < 0.
 */
static void
boras_pupil(struct pupil *p, int mi, long under, int mixed)
{
	long best = -1, s, a;
	int e, at = -1;

	/* Windows ending at mi .. mi + 2 hold mi; the smallest decides. */
	for (e = mi; e <= mi + 2 && e < MONTHS; e++) {
		if (month_minutes[e] == 0)
			continue;
		s = window(e - 2, e);
		if (best < 0 || s < best) {
			best = s;
			at = e;
		}
	}
	a = best * 15 / 100 - under;
	if (mixed < 0)
		p->p_u[mi] = a;
	else if (mixed > 0) {
		p->p_u[mi] = a / 3;
		p->p_v[mi] = a - a / 3;
	} else
		p->p_v[mi] = a;
	if (under == 0)
		month_end(at, p->p_boras);
	else
		p->p_never = 1;
}

/* Spread each month's absence over its days: whole days first. */
static int
spread(struct pupil *p)
{
	int idx[31], n, m, i, j, t, d;
	long u, v, a;

	if ((p->p_absent = calloc((size_t)ndays, sizeof(int))) == NULL ||
	    (p->p_type = calloc((size_t)ndays, 1)) == NULL)
		return (-1);
	for (m = 0; m < MONTHS; m++) {
		for (n = 0, d = 0; d < ndays; d++)
			if (days[d].d_month == m)
				idx[n++] = d;
		for (i = n - 1; i > 0; i--) {
			j = (int)(next() % (uint64_t)(i + 1));
			t = idx[i];
			idx[i] = idx[j];
			idx[j] = t;
		}
		u = p->p_u[m];
		v = p->p_v[m];
		for (i = 0; i < n && (u > 0 || v > 0); i++) {
			d = idx[i];
			a = u > 0 ? u : v;
			if (a > days[d].d_minutes)
				a = days[d].d_minutes;
			p->p_absent[d] = (int)a;
			p->p_type[d] = u > 0 ? T_UNEXCUSED : T_VALID;
			if (u > 0)
				u -= a;
			else
				v -= a;
		}
		if (u > 0 || v > 0)
			return (-1);	/* more absence than the month holds */
	}
	return (0);
}

/* The header of format ${f}. */
static void
header(FILE *out, enum fmt f)
{

	switch (f) {
	case FMT_PLAIN:
		fputs("pupil_id,name,class,date,scheduled_minutes,"
		    "absent_minutes,absence_type\n", out);
		break;
	case FMT_SKOLA24:
		fputs("\xef\xbb\xbf" "Elev-ID;Namn;Klass;Datum;"
		    "Schemalagd tid (min);Frånvaro (min);Frånvarotyp\r\n", out);
		break;
	case FMT_DEXTER:
		fputs("\"ElevID\",\"Elevnamn\",\"Grupp\",\"Datum\","
		    "\"Lektionstid (min)\",\"Frånvaro (min)\",\"Giltig\"\n", out);
		break;
	}
}

/* One row of format ${f}. */
static void
row(FILE *out, enum fmt f, const struct pupil *p, const struct day *d,
    int absent, int type)
{
	static const char *const plain[] = { "", "valid", "unexcused" };
	static const char *const skola24[] = { "", "Giltig", "Ogiltig" };
	static const char *const dexter[] = { "", "Ja", "Nej" };

	switch (f) {
	case FMT_PLAIN:
		fprintf(out, "%s,%s %s,%s,%04d-%02d-%02d,%d,%d,%s\n", p->p_id,
		    p->p_first, p->p_last, p->p_class, d->d_y, d->d_m, d->d_d,
		    d->d_minutes, absent, plain[type]);
		break;
	case FMT_SKOLA24:
		fprintf(out, "%s;%s %s;%s;%04d-%02d-%02d;%d;%d;%s\r\n",
		    p->p_id, p->p_first, p->p_last, p->p_class, d->d_y,
		    d->d_m, d->d_d, d->d_minutes, absent, skola24[type]);
		break;
	case FMT_DEXTER:
		/* "Last, First" and decimal commas need the quotes. */
		fprintf(out, "\"%s\",\"%s, %s\",\"%s\",\"%04d%02d%02d\","
		    "\"%d,0\",\"%d,0\",\"%s\"\n", p->p_id, p->p_last,
		    p->p_first, p->p_class, d->d_y, d->d_m, d->d_d,
		    d->d_minutes, absent, dexter[type]);
		break;
	}
}

/* --rows N: many pupils, random absence, for timing. */
static int
perf(FILE *out, enum fmt f, long nrows)
{
	struct pupil p;
	long npupils = (nrows + ndays - 1) / ndays, i, k = 0;
	int d, a, t;

	header(out, f);
	for (d = 0; d < ndays && k < nrows; d++)
		for (i = 0; i < npupils && k < nrows; i++, k++) {
			/* Same seed per pupil: the same name every day. */
			memset(&p, 0, sizeof(p));
			rng = (uint64_t)i * 7919 + 1;
			name(&p, "");
			snprintf(p.p_id, sizeof(p.p_id), "P%06ld",
			    (i + 1) % 100000000);
			rng = (uint64_t)(d * 1000003L + i);
			t = (int)(next() % 10);
			a = t < 7 ? 0 : (int)between(1, days[d].d_minutes);
			row(out, f, &p, &days[d], a, a == 0 ? T_NONE :
			    t == 9 ? T_UNEXCUSED : T_VALID);
		}
	return (0);
}

static void
usage(void)
{

	fprintf(stderr, "usage: refx-gen-attendance [--seed N] [--format "
	    "plain|skola24|dexter] [--manifest FILE] [--rows N] [-o FILE]\n");
	exit(EX_USAGE);
}

/* A non-negative decimal number, or -1. */
static long
number(const char *s)
{
	long v = 0;

	if (*s == '\0')
		return (-1);
	for (; *s >= '0' && *s <= '9' && v < 100000000; s++)
		v = v * 10 + (*s - '0');
	return (*s == '\0' ? v : -1);
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "format", required_argument, NULL, 'f' },
		{ "manifest", required_argument, NULL, 'm' },
		{ "rows", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	static struct pupil pupils[NPUPILS];
	/* Population of each band: how many, and the range of shares. */
	static const struct { int n; long lo, hi; } bands[] = {
		{ 661, 0, 900 }, { 67, 1050, 1400 }, { 36, 1550, 1950 },
		{ 78, 2100, 6000 },
	};
	static const char *const special[] = {
		"B10M", "B10", "B15M", "B15", "B20", "B20P",
		"BC1", "BU1", "BC2", "BU2", "BC3", "BU3", "BC4", "BU4",
	};
	enum fmt f = FMT_PLAIN;
	const char *manifest = NULL, *outpath = NULL;
	long seed = 20092010, nrows = -1;
	long count[4] = { 0, 0, 0, 0 }, u, s;
	int ch, i, b, k, n = 0, d, order[NPUPILS], t, e;
	FILE *out = stdout, *mf;
	char id[16], me[11];

	while ((ch = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if ((seed = number(optarg)) < 0)
				usage();
			break;
		case 'f':
			if (strcmp(optarg, "plain") == 0)
				f = FMT_PLAIN;
			else if (strcmp(optarg, "skola24") == 0)
				f = FMT_SKOLA24;
			else if (strcmp(optarg, "dexter") == 0)
				f = FMT_DEXTER;
			else
				usage();
			break;
		case 'm':
			manifest = optarg;
			break;
		case 'r':
			if ((nrows = number(optarg)) < 1)
				usage();
			break;
		case 'o':
			outpath = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (outpath != NULL && (out = fopen(outpath, "w")) == NULL) {
		perror(outpath);
		return (EX_CANTCREAT);
	}
	rng = (uint64_t)seed;
	make_days();
	if (nrows > 0) {
		perf(out, f, nrows);
		goto done;
	}

	/* The pupils at the boundaries, then the Borås pupils. */
	for (i = 0; i < (int)NELEM(special); i++)
		name(&pupils[n++], special[i]);
	population(&pupils[0], 1000, -1, 0);	/* 10 % - 1 min: under 10 */
	population(&pupils[1], 1000, 0, 1);	/* exactly 10 %: 10-15 */
	population(&pupils[2], 1500, -1, 0);	/* 15 % - 1 min: 10-15 */
	population(&pupils[3], 1500, 0, 1);	/* exactly 15 %: 15-20 */
	population(&pupils[4], 2000, 0, 0);	/* exactly 20 %: 15-20 */
	population(&pupils[5], 2000, 1, 0);	/* 20 % + 1 min: over 20 */
	boras_pupil(&pupils[6], 4, 0, 0);	/* November, valid */
	boras_pupil(&pupils[7], 4, 1, 0);
	boras_pupil(&pupils[8], 7, 0, 1);	/* February, mixed */
	boras_pupil(&pupils[9], 7, 1, 1);
	boras_pupil(&pupils[10], 9, 0, 0);	/* April, valid */
	boras_pupil(&pupils[11], 9, 1, 0);
	boras_pupil(&pupils[12], 2, 0, -1);	/* September, unexcused */
	boras_pupil(&pupils[13], 2, 1, -1);

	/* The rest of each band. */
	for (b = 0, k = 1; b < 4; b++)
		for (i = 0; i < bands[b].n; i++) {
			snprintf(id, sizeof(id), "E%04d", k++);
			name(&pupils[n], id);
			population(&pupils[n++], between(bands[b].lo,
			    bands[b].hi), 0, 1);
		}
	if (n != NPUPILS) {
		fprintf(stderr, "refx-gen-attendance: %d pupils, not %d\n", n,
		    NPUPILS);
		return (EX_SOFTWARE);
	}

	/* Check the construction: bands by integers, Borås by the plain rule. */
	for (i = 0; i < n; i++) {
		for (u = s = 0, k = 0; k < MONTHS; k++) {
			u += pupils[i].p_u[k];
			s += month_minutes[k];
		}
		b = u * 100 < s * 10 ? 0 : u * 100 < s * 15 ? 1 :
		    u * 100 <= s * 20 ? 2 : 3;
		count[b]++;
		e = first_cross(&pupils[i]);
		if (e >= 0)
			month_end(e, me);
		if ((e < 0) != (pupils[i].p_boras[0] == '\0') ||
		    (e >= 0 && strcmp(me, pupils[i].p_boras) != 0) ||
		    (u * 100 > s * 20) != pupils[i].p_sandviken ||
		    spread(&pupils[i])) {
			fprintf(stderr, "refx-gen-attendance: pupil %s is not "
			    "what it was built to be\n", pupils[i].p_id);
			return (EX_SOFTWARE);
		}
	}
	if (count[0] != 670 || count[1] != 69 || count[2] != 38 ||
	    count[3] != 79) {
		fprintf(stderr, "refx-gen-attendance: bands %ld %ld %ld %ld\n",
		    count[0], count[1], count[2], count[3]);
		return (EX_SOFTWARE);
	}

	/* Day by day, the pupils in a shuffled order (as an export might). */
	for (i = 0; i < n; i++)
		order[i] = i;
	for (i = n - 1; i > 0; i--) {
		k = (int)(next() % (uint64_t)(i + 1));
		t = order[i];
		order[i] = order[k];
		order[k] = t;
	}
	header(out, f);
	for (d = 0; d < ndays; d++)
		for (i = 0; i < n; i++)
			row(out, f, &pupils[order[i]], &days[d],
			    pupils[order[i]].p_absent[d],
			    pupils[order[i]].p_type[d]);

	if (manifest != NULL) {
		if ((mf = fopen(manifest, "w")) == NULL) {
			perror(manifest);
			return (EX_CANTCREAT);
		}
		fprintf(mf, "table 2009/2010 %d %ld %ld %ld %ld\n", n,
		    count[0], count[1], count[2], count[3]);
		for (i = 0; i < n; i++) {
			if (pupils[i].p_boras[0] != '\0')
				fprintf(mf, "boras %s %s\n", pupils[i].p_id,
				    pupils[i].p_boras);
			if (pupils[i].p_sandviken)
				fprintf(mf, "sandviken %s\n", pupils[i].p_id);
			if (pupils[i].p_never)
				fprintf(mf, "never %s\n", pupils[i].p_id);
		}
		if (fclose(mf) == EOF) {
			perror(manifest);
			return (EX_IOERR);
		}
	}
	for (i = 0; i < n; i++) {
		free(pupils[i].p_absent);
		free(pupils[i].p_type);
	}

done:
	if (fflush(out) == EOF || (out != stdout && fclose(out) == EOF)) {
		perror(outpath != NULL ? outpath : "stdout");
		return (EX_IOERR);
	}
	return (0);
}
