#ifndef REFX_CLI_SCREEN_H
#define REFX_CLI_SCREEN_H

/*
 * Absence screening of a school's attendance export, entirely local
 * (refx screen; docs/screening.md).  The export is read through libcsv
 * with a column mapping (INI, read with inih), one physical line per row;
 * pupils are flagged by the Borås rule (total absence of at least 15 %
 * over the three calendar months ending at each month end in the data)
 * and the Sandviken rule (more than 20 % unexcused over the period), and
 * counted per school year in the Sandviken bands.
 *
 * Everything is integer arithmetic: minutes are kept in hundredths (an
 * export may write "45,5"), thresholds in hundredths of a percent, and
 * every comparison is a cross-multiplication, so a pupil at exactly
 * 20 % is at exactly 20 %, never 20.000000001 %.
 *
 * This module does no terminal I/O: bad rows go to a callback, results
 * are read back with the screen_*_at functions.
 */
#include <stddef.h>
#include <stdint.h>

struct json_t;			/* jansson's json_t */

#define SCREEN_LINE_MAX		4096	/* bytes of a line, without newline */
#define SCREEN_COLUMNS_MAX	64	/* columns of a line */
#define SCREEN_ROWS_MAX		50000000	/* data lines of a file */
#define SCREEN_PUPILS_MAX	100000	/* distinct pupils of a file */
#define SCREEN_MONTHS_MAX	2000000	/* pupil-months of a file */
#define SCREEN_MINUTES_MAX	100000	/* minutes in one row */
#define SCREEN_ID_MAX		64	/* bytes of a pupil id */
#define SCREEN_NAME_MAX		128	/* bytes of a pupil's name */
#define SCREEN_CLASS_MAX	32	/* bytes of a class */
#define SCREEN_HEADER_MAX	64	/* bytes of a column's header name */
#define SCREEN_SPELLINGS_MAX	8	/* spellings of one absence type */
#define SCREEN_SPELLING_MAX	32	/* bytes of one spelling */
#define SCREEN_DATEFMT_MAX	16	/* bytes of a date format */
#define SCREEN_MAP_FILE_MAX	(64 * 1024)	/* a mapping file */
#define SCREEN_ERR_LEN		512	/* room for a message */

/* The Sandviken bands, by unexcused share u of scheduled time s. */
enum screen_band {
	SCREEN_BAND_UNDER_10,	/* u < 10 % */
	SCREEN_BAND_10_15,	/* 10 % <= u < 15 % */
	SCREEN_BAND_15_20,	/* 15 % <= u <= 20 % */
	SCREEN_BAND_OVER_20,	/* u > 20 %: Sandviken's "hemmasittare" */
	SCREEN_NBANDS
};

/* The columns a mapping names. */
enum screen_col {
	SCREEN_COL_ID,		/* pupil id (required) */
	SCREEN_COL_NAME,	/* pupil's name (optional) */
	SCREEN_COL_CLASS,	/* class (optional) */
	SCREEN_COL_DATE,	/* date of the row (required) */
	SCREEN_COL_SCHEDULED,	/* scheduled time (required) */
	SCREEN_COL_ABSENT,	/* absent time (required) */
	SCREEN_COL_TYPE,	/* valid or unexcused (required) */
	SCREEN_NCOLS
};

/* The rules and the window; a value type. */
struct screen_rules {
	unsigned	sr_boras_bp;	/* hundredths of a %: 1500 = 15 % */
	unsigned	sr_boras_months;	/* window, 1-12 (3) */
	unsigned	sr_sandviken_bp;	/* 2000 = 20 % */
	uint32_t	sr_from;	/* count rows from YYYYMMDD, or 0 */
	uint32_t	sr_to;		/* ... up to YYYYMMDD, or 0 */
};

/* One pupil's results; strings are valid as long as the screen. */
struct screen_pupil {
	const char	*sp_id;
	const char	*sp_name;	/* "" if the export has no names */
	const char	*sp_class;	/* "" if none */
	uint32_t	 sp_first;	/* first counted date, YYYYMMDD, or 0 */
	uint32_t	 sp_last;	/* last counted date, or 0 */
	uint64_t	 sp_scheduled;	/* counted, hundredths of a minute */
	uint64_t	 sp_valid;
	uint64_t	 sp_unexcused;
	int		 sp_boras;	/* crossed the Borås threshold */
	uint32_t	 sp_boras_start;	/* its window's first day */
	uint32_t	 sp_boras_end;	/* the first month end it crossed */
	uint64_t	 sp_boras_scheduled;	/* in that window */
	uint64_t	 sp_boras_absent;	/* valid + unexcused, in it */
	int		 sp_sandviken;	/* over the Sandviken threshold */
};

/* One school year (1 July - 30 June) of the Sandviken table. */
struct screen_year {
	unsigned	sy_start;	/* 2009 for 2009/2010 */
	uint64_t	sy_pupils;	/* pupils with scheduled time in it */
	uint64_t	sy_band[SCREEN_NBANDS];	/* adds up to sy_pupils */
	uint64_t	sy_unscheduled;	/* pupils with rows but no time */
};

/* What was read. */
struct screen_stats {
	uint64_t	ss_lines;	/* physical lines */
	uint64_t	ss_rows;	/* data rows, good and bad */
	uint64_t	ss_bad;		/* bad rows (reported, not counted) */
	uint64_t	ss_counted;	/* good rows inside the window */
	uint64_t	ss_pupils;
	uint32_t	ss_first;	/* first counted date, or 0 */
	uint32_t	ss_last;
};

/*
 * Called once per bad row with its line number (1 = the first line of
 * the file) and a message without personal data in it.
 */
typedef void screen_report_fn(void *, unsigned long, const char *);

/* What a draft needs beyond the export. */
struct screen_draft_opts {
	const char	*sd_school;	/* school's name, or NULL */
	const char	*sd_recipients[8];	/* unit ids */
	size_t		 sd_nrecipients;
};

/** screen_map_new(): The built-in mapping (free with screen_map_free). */
struct screen_map *screen_map_new(void);

/** screen_map_free(map): Free ${map}; NULL is a no-op. */
void screen_map_free(struct screen_map *);

/**
 * screen_map_load(map, path, err, errlen): Read the mapping file ${path}
 * into ${map}: what it sets replaces the built-in values.  Return 0, or
 * -1 with one line in ${err} naming the file, line and key.
 */
int screen_map_load(struct screen_map *, const char *, char *, size_t)
    __attribute__((warn_unused_result));

/**
 * screen_map_parse(map, text, len, name, err, errlen): As
 * screen_map_load, from the ${len} bytes at ${text}, called ${name} in
 * messages.
 */
int screen_map_parse(struct screen_map *, const char *, size_t,
    const char *, char *, size_t) __attribute__((warn_unused_result));

/** screen_map_header(map, col): The header name ${col} maps, or "". */
const char *screen_map_header(const struct screen_map *, enum screen_col);

/** screen_rules_default(r): 15 % over 3 months; 20 %; no window. */
void screen_rules_default(struct screen_rules *);

/**
 * screen_map_rules(map, r): Apply the [rules] the mapping file set (if
 * any) to ${r}.
 */
void screen_map_rules(const struct screen_map *, struct screen_rules *);

/**
 * screen_percent_parse(s, bp): Parse a percentage of 0.01 to 100 with
 * at most two decimals after a point or comma ("15", "12,5") into
 * hundredths of a percent.  Return 0 or -1.
 */
int screen_percent_parse(const char *, unsigned *);

/**
 * screen_months_parse(s, n): Parse a window of 1 to 12 months.  Return 0
 * or -1.
 */
int screen_months_parse(const char *, unsigned *);

/**
 * screen_date_parse(s, ymd): Parse the date YYYY-MM-DD (1900-2199) into
 * YYYYMMDD.  Return 0 or -1.
 */
int screen_date_parse(const char *, uint32_t *);

/** screen_date_format(ymd, buf): Write YYYY-MM-DD (11 bytes) to ${buf}. */
char *screen_date_format(uint32_t, char[11]);

/**
 * screen_band(unexcused, scheduled): The band of a pupil with
 * ${unexcused} of ${scheduled} (> 0) minutes, decided in integers.
 */
enum screen_band screen_band(uint64_t, uint64_t);

/** screen_band_name(b): "under 10 %", "10-15 %", ... */
const char *screen_band_name(enum screen_band);

/** screen_band_key(b): "under_10", "10_to_15", "15_to_20", "over_20". */
const char *screen_band_key(enum screen_band);

/**
 * screen_tenths(part, whole): ${part} / ${whole} in tenths of a percent,
 * rounded half up (0 if ${whole} is 0).
 */
unsigned screen_tenths(uint64_t, uint64_t);

/**
 * screen_suppress(y, hide): For a table shared outside the school: set
 * hide[0] (pupils) and hide[1 + band] for every count of ${y} below 5,
 * zero included.  Then, while the pupils are shown and the hidden bands
 * add up to less than 5, hide the smallest shown band too: otherwise a
 * hidden count would be the difference of shown ones.
 */
void screen_suppress(const struct screen_year *, int[1 + SCREEN_NBANDS]);

/**
 * screen_new(map, rules, report, cookie): A screening of one export with
 * ${map} (copied) and ${rules}; bad rows go to ${report}(${cookie},
 * line, message).  Return it (free with screen_free), or NULL.
 */
struct screen *screen_new(const struct screen_map *,
    const struct screen_rules *, screen_report_fn *, void *);

/** screen_free(s): Free ${s}; NULL is a no-op. */
void screen_free(struct screen *);

/**
 * screen_feed(s, data, len, err, errlen): Read the next ${len} bytes of
 * the export.  A bad row is reported and skipped.  Return 0, or -1 with
 * "line N: ..." in ${err} on what stops the reading (the header lacks a
 * column, too many pupils or rows, out of memory).
 */
int screen_feed(struct screen *, const void *, size_t, char *, size_t)
    __attribute__((warn_unused_result));

/**
 * screen_finish(s, err, errlen): The export has ended: read its last
 * line and apply the rules.  Return 0, or -1 with a message (no header
 * at all, or as screen_feed).
 */
int screen_finish(struct screen *, char *, size_t)
    __attribute__((warn_unused_result));

/** screen_stats(s, st): What ${s} has read so far. */
void screen_stats(const struct screen *, struct screen_stats *);

/** screen_npupils(s): The number of pupils, after screen_finish. */
size_t screen_npupils(const struct screen *);

/** screen_pupil_at(s, i): Pupil ${i}, in order of first appearance. */
const struct screen_pupil *screen_pupil_at(const struct screen *, size_t);

/** screen_pupil_find(s, id): The pupil with id ${id}, or NULL. */
const struct screen_pupil *screen_pupil_find(const struct screen *,
    const char *);

/** screen_nyears(s): The number of school years with counted rows. */
size_t screen_nyears(const struct screen *);

/** screen_year_at(s, i): School year ${i}, oldest first. */
const struct screen_year *screen_year_at(const struct screen *, size_t);

/**
 * screen_draft(p, opts, todo, todolen): A referral draft (schema
 * refx-referral-1) for pupil ${p} with its absence statistics, name and
 * class, and the school and recipients of ${opts}.  What the school must
 * write itself is present but empty ("" or []), which the draft
 * validation refuses until it is filled in; ${todo} lists those keys.
 * Return the draft (json_decref it), or NULL if ${p} has no scheduled
 * time or out of memory.
 */
struct json_t *screen_draft(const struct screen_pupil *,
    const struct screen_draft_opts *, char *, size_t);

#endif /* !REFX_CLI_SCREEN_H */
