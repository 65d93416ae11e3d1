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

/** refx_rule_name(r): "never", "consent", "itemised", "concern". */
const char *refx_rule_name(enum refx_rule);

/** refx_basis_name(b) / refx_basis_parse(s, b): "consent", "report-of-concern". */
const char *refx_basis_name(enum refx_basis);
int refx_basis_parse(const char *, enum refx_basis *);

#endif /* !REFX_POLICY_H */
