#ifndef REFXD_CASES_H
#define REFXD_CASES_H

/*
 * What consents.c and referrals.c share: consent state as the server
 * enforces it, and small JSON checks for request bodies.
 */
#include <stddef.h>
#include <stdint.h>

#include "refx/err.h"
#include "refx/schema.h"

struct json_t;
struct request;
struct store_stmt;
struct store_tx;

/* A consent as far as the server enforces it. */
struct consent_state {
	char	cs_owner[64];
	char	cs_status[16];		/* active, withdrawn, expired */
	char	cs_valid_until[11];
	int	cs_valid;		/* active, in date, every party yes */
	char	cs_reason[160];		/* why not valid */
};

/**
 * consent_sweep(tx): Expire consents past their date, deleting the
 * envelopes of every recipient of their referrals.  Run at the start of
 * every consent and referral request.  Return REFX_OK or REFX_ESTORE.
 */
int consent_sweep(struct store_tx *);

/* Consent expiry as the housekeeping of consent and referral routes. */
struct housekeeping;
extern const struct housekeeping consent_expiry;

/**
 * consent_get(tx, id, cs): Load consent ${id}.  Return 0, 1 if there is
 * no such consent, or -1 on a storage error.
 */
int consent_get(struct store_tx *, const char *, struct consent_state *);

/**
 * consent_scope(tx, id, recipient, classes, itemised): The classes consent
 * ${id} covers for ${recipient}.  Return 0, 1 if the recipient is not (or
 * no longer) covered, or -1 on a storage error.
 */
int consent_scope(struct store_tx *, const char *, const char *,
    refx_classes *, refx_classes *);

/* JSON checks: each records a 400 naming ${what} and returns -1. */
const char *json_str(struct request *, struct json_t *, const char *,
    size_t, const char *);
int json_only_keys(struct request *, struct json_t *, const char *const *,
    const char *);
int date_valid(const char *);
int classes_from_json(struct request *, struct json_t *, refx_classes *,
    const char *);
struct json_t *classes_to_json(refx_classes);

/* ---- the case flow (caseflow.c) ---- */
struct refx_identity;

/**
 * case_event_observed(tx, id, track, event, who, now): Append a step the
 * exchange observes itself ("submitted", "received") to the loop of
 * referral ${id} with recipient ${track}, and make it the loop's state.
 */
enum refx_err case_event_observed(struct store_tx *, const char *,
    const char *, const char *, const struct refx_identity *, const char *);

/**
 * case_received(tx, id, track, who, now): Record the first pull of a
 * submitted referral by the recipient as its receipt.
 */
enum refx_err case_received(struct store_tx *, const char *, const char *,
    const struct refx_identity *, const char *);

/**
 * json_b64_member(rq, obj, key, max, len, what): Decode the base64 string
 * member ${key} of at most ${max} bytes (caller frees), or record a 400
 * naming ${what}.${key} and return NULL.
 */
uint8_t *json_b64_member(struct request *, struct json_t *, const char *,
    size_t, size_t *, const char *);

/**
 * case_due_date(date, months, out): The date ${months} after ${date}
 * ("YYYY-MM-DD", anything after is ignored), clamped to the end of a
 * shorter month (31 January + 1 month = 28 or 29 February).
 */
void case_due_date(const char *, unsigned, char[11]);

/**
 * signed_by_caller(rq, pem, context, msg, len, sig, what): Check that the
 * PEM certificate sent with a signed ${what} is the one the caller is
 * connected with and that ${sig} verifies over ${context} 0x00 || ${msg}.
 * Return REFX_OK, or the error recorded (400, 403, 422).
 */
enum refx_err signed_by_caller(struct request *, const char *, const char *,
    const uint8_t *, size_t, const uint8_t *, const char *);

/** json_b64_column(st, col): A blob column as a base64 JSON string. */
struct json_t *json_b64_column(struct store_stmt *, int);

#endif /* !REFXD_CASES_H */
