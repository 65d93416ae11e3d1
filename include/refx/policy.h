#ifndef REFX_POLICY_H
#define REFX_POLICY_H

/*
 * The disclosure policy: for each field class and recipient kind, under
 * which legal basis a field may cross, with the legal reference as data.
 * Loaded from one versioned JSON file (etc/policy.json) by refxd at start;
 * clients fetch the policy the server enforces (GET /v1/policy) to
 * preview and to build envelopes.  Pure: no I/O here.
 */
#include <stddef.h>
#include <stdint.h>

#include "refx/identity.h"
#include "refx/schema.h"

enum refx_rule {
	REFX_RULE_NEVER,	/* "never" */
	REFX_RULE_CONSENT,	/* "consent": consent naming recipient and class */
	REFX_RULE_ITEMISED,	/* "itemised": separate, itemised consent only */
	REFX_RULE_CONCERN,	/* "concern": only in a report of concern */
};

enum refx_basis {
	REFX_BASIS_CONSENT,	/* "consent" */
	REFX_BASIS_CONCERN,	/* "report-of-concern" (orosanmälan) */
};

#define REFX_POLICY_MAX		(256 * 1024)	/* bytes of policy JSON */
#define REFX_HASH_LEN		32		/* SHA-256 */

struct refx_policy;

/**
 * refx_policy_parse(json, len, err, errlen): Parse and check a policy
 * document: every class x every kind must have a rule and a non-empty
 * legal reference; unknown keys are errors.  Return it (free with
 * refx_policy_free) or NULL with a message naming the offending key.
 */
struct refx_policy *refx_policy_parse(const uint8_t *, size_t, char *,
    size_t);

/** refx_policy_free(p): Free ${p}; NULL is a no-op. */
void refx_policy_free(struct refx_policy *);

/** refx_policy_version(p): The document's "version" string. */
const char *refx_policy_version(const struct refx_policy *);

/** refx_policy_hash(p): SHA-256 of the exact bytes parsed. */
const uint8_t *refx_policy_hash(const struct refx_policy *);

/** refx_policy_rule(p, kind, cls, ref): The cell, and its legal reference. */
enum refx_rule refx_policy_rule(const struct refx_policy *, enum refx_kind,
    enum refx_class, const char **);

/**
 * refx_policy_concern(p, kind, cls, ref): Return 1 if a report of concern
 * may carry class ${cls} to a unit of kind ${kind}, else 0; ${ref} gets
 * the legal reference of the report-of-concern rule.
 */
int refx_policy_concern(const struct refx_policy *, enum refx_kind,
    enum refx_class, const char **);

/**
 * refx_policy_allows(p, basis, kind, cls, consented, itemised, why,
 * whylen): May a field of class ${cls} go to a unit of kind ${kind} under
 * ${basis}?  ${consented} and ${itemised} say what the consent covers for
 * that recipient (ignored for a report of concern).  Return 1, or 0 with
 * a sentence naming the class, the rule and its legal reference in ${why}.
 */
int refx_policy_allows(const struct refx_policy *, enum refx_basis,
    enum refx_kind, enum refx_class, int, int, char *, size_t);

/**
 * refx_policy_allowed_set(p, basis, kind, consented, itemised): The set of
 * classes allowed to a recipient of ${kind} whose consent covers the
 * classes ${consented}, of which ${itemised} were itemised.
 */
refx_classes refx_policy_allowed_set(const struct refx_policy *,
    enum refx_basis, enum refx_kind, refx_classes, refx_classes);

/*
 * The case flow (docs/workflow.md): what a unit of each kind may tell the
 * referring school in its answer, and when the school's follow-up is due.
 * An answer carries one outcome code from the kind's list, always in
 * clear to the school, and a free-text message only where the rule says
 * so ("never", or "consent": the referral's consent lets that recipient
 * answer the school in full).  Absent from the file: no outcomes, no
 * message, follow-up after 12 months.
 */
#define REFX_OUTCOMES_MAX	8
#define REFX_OUTCOME_MAX	40	/* bytes of an outcome code */

/** refx_policy_outcome_allowed(p, kind, code): 1 if listed, else 0. */
int refx_policy_outcome_allowed(const struct refx_policy *, enum refx_kind,
    const char *);

/**
 * refx_policy_outcomes(p, kind, n, ref): The outcome codes of ${kind}
 * (${n} of them) and the legal reference of its answer rule.
 */
const char *const *refx_policy_outcomes(const struct refx_policy *,
    enum refx_kind, size_t *, const char **);

/**
 * refx_policy_answer_message(p, kind): REFX_RULE_NEVER or
 * REFX_RULE_CONSENT: may a unit of ${kind} send the school a message?
 */
enum refx_rule refx_policy_answer_message(const struct refx_policy *,
    enum refx_kind);

/** refx_policy_follow_up_months(p, ref): Months from advice to follow-up. */
unsigned refx_policy_follow_up_months(const struct refx_policy *,
    const char **);

/*
 * Retention (gallring) per body and record type, legal reference as data.
 * A record with no deletion time is kept: "if the records plan sets no
 * deletion time, nothing may be deleted" (domain.md section 4).
 */
enum refx_record {
	REFX_RECORD_REFERRAL,	/* a unit's copy of a referral and its case */
	REFX_RECORD_CONSENT,	/* a school's consent record */
	REFX_RECORD_COUNT
};

/**
 * refx_policy_retention(p, kind, record, years, ref): Return 1 with the
 * years after the last entry in ${years}, or 0 if the record is kept;
 * ${ref} gets the legal reference (or NULL if the file says nothing).
 */
int refx_policy_retention(const struct refx_policy *, enum refx_kind,
    enum refx_record, unsigned *, const char **);

/** refx_record_name(r): "referral", "consent", or "?". */
const char *refx_record_name(enum refx_record);

/** refx_rule_name(r): "never", "consent", "itemised", "concern". */
const char *refx_rule_name(enum refx_rule);

/** refx_basis_name(b) / refx_basis_parse(s, b): "consent", "report-of-concern". */
const char *refx_basis_name(enum refx_basis);
int refx_basis_parse(const char *, enum refx_basis *);

#endif /* !REFX_POLICY_H */
