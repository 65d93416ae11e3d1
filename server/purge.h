#ifndef REFXD_PURGE_H
#define REFXD_PURGE_H

/*
 * Retention (gallring): at the end of the retention the policy sets per
 * body and record type, delete the keys and ciphertexts the exchange
 * still holds, keep the metadata and the audit entries, and write a
 * deletion record into the audit log of the unit whose copy went, in
 * the same transaction as the deletion.  See docs/retention.md.
 *
 * The decision "is it due" is pure (purge_decide and friends below, no
 * I/O); purge_run applies it to the database in bounded batches.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include "refx/err.h"
#include "refx/identity.h"
#include "refx/policy.h"

struct server;
struct purger;

#define PURGE_BATCH		128	/* candidates per transaction */
#define PURGE_RUN_MAX		(32 * 1024)	/* deletions per run */
#define PURGE_INTERVAL_DEFAULT	86400	/* seconds: daily */
#define PURGE_INTERVAL_MAX	(30 * 86400)

/* What one run did, per kind of record. */
struct purge_counts {
	/* Copies and records purged. */
	unsigned long	pc_copies;	/* recipients' copies */
	unsigned long	pc_sender_copies; /* senders' own copies */
	unsigned long	pc_referrals;	/* ciphertexts deleted */
	unsigned long	pc_consents;	/* sealed names deleted */
	/* Rows deleted or cleared. */
	unsigned long	pc_envelopes;	/* envelopes */
	unsigned long	pc_message_keys; /* case_message_envelopes */
	unsigned long	pc_fields;	/* referral_fields */
	unsigned long	pc_messages;	/* case_events.message */
	unsigned long	pc_consent_keys; /* consent_envelopes */
	unsigned long	pc_records;	/* deletion records */
	/* Trouble. */
	unsigned long	pc_skipped;	/* kept: no date or kind */
	unsigned long	pc_unsigned;	/* checkpoints that failed */
	int		pc_capped;	/* stopped at PURGE_RUN_MAX */
};

/* ---- pure: dates and decisions ---------------------------------------- */

/**
 * purge_stamp_parse(s, t): Parse a UTC time "YYYY-MM-DDTHH:MM:SSZ" (or a
 * date "YYYY-MM-DD", midnight) strictly.  Return 0 with ${t}, or -1.
 */
int purge_stamp_parse(const char *, time_t *);

/**
 * purge_add_years(t, years, out): ${t} plus ${years} calendar years, the
 * same time of day; 29 February becomes 28 February in a common year
 * (lag (1930:173) om beräkning av lagstadgad tid, 2 §).  Return 0 or -1.
 */
int purge_add_years(time_t, unsigned, time_t *);

enum purge_verdict {
	PURGE_KEEP,		/* the policy keeps this record */
	PURGE_NOT_YET,		/* retention not over */
	PURGE_DUE,		/* retention over: delete now */
	PURGE_UNREADABLE,	/* no usable date: kept, and warned about */
};

/**
 * purge_decide(p, kind, record, since, now, years, ref): Is the record
 * of ${kind} and type ${record} whose retention runs from ${since} due
 * at ${now}?  Due when since + years <= now.  ${years} and ${ref} get
 * the rule (ref may be NULL).
 */
enum purge_verdict purge_decide(const struct refx_policy *, enum refx_kind,
    enum refx_record, const char *, time_t, unsigned *, const char **);

/**
 * purge_consent_decide(p, kind, status, since, open_copies, now, years,
 * ref): As purge_decide for a consent owned by a unit of ${kind}: only a
 * consent no longer active, counted from its end (${since}), and only
 * once no referral made under it still has its sender's copy
 * (${open_copies} > 0 answers PURGE_NOT_YET).
 */
enum purge_verdict purge_consent_decide(const struct refx_policy *,
    enum refx_kind, const char *, const char *, long, time_t, unsigned *,
    const char **);

/**
 * purge_cutoff(now, years, out): A stamp such that a record whose
 * retention of at least ${years} runs from a later (text-greater) stamp
 * is surely not due at ${now}: a cheap filter before purge_decide.
 */
void purge_cutoff(time_t, unsigned, char[21]);

/**
 * purge_reason(out, outlen, head, ref, tail): "${head} (${ref})${tail}",
 * cut to ${outlen} - 1 bytes by shortening the reference (marked "...")
 * and never inside a UTF-8 character, so that the head and the tail (what
 * was deleted) always survive.  Return the length written.
 */
size_t purge_reason(char *, size_t, const char *, const char *,
    const char *);

/**
 * purge_summary(pc, out, outlen): One line of counts, "key=value ...";
 * no id of anyone.
 */
void purge_summary(const struct purge_counts *, char *, size_t);

/* ---- the database ------------------------------------------------------ */

/**
 * purge_run(sv, now, stop, pc): Delete what is due at ${now}, in batches
 * of at most PURGE_BATCH candidates per write transaction, each with its
 * deletion records; publish a signed checkpoint of every log written to
 * after each commit.  Stops early if *${stop} becomes non-zero (may be
 * NULL) or after PURGE_RUN_MAX deletions (pc_capped).  Return REFX_OK,
 * REFX_EUNAVAIL (the database stayed locked) or REFX_ESTORE.
 */
enum refx_err purge_run(struct server *, time_t, const atomic_int *,
    struct purge_counts *);

/**
 * purge_command(sv): refxd --purge: run until nothing is due, print one
 * summary line on stdout.  Return an exit status (0, or sysexits(3)).
 */
int purge_command(struct server *);

/**
 * purge_start(sv, interval): Run the purge now and then every
 * ${interval} seconds in a thread of its own.  Return it, or NULL.
 */
struct purger *purge_start(struct server *, unsigned);

/** purge_stop(pg): Stop the thread (finishing its batch); NULL is a no-op. */
void purge_stop(struct purger *);

#endif /* !REFXD_PURGE_H */
