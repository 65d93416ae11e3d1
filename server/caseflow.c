/*
 * The case flow (docs/workflow.md): each referral runs one closed loop
 * per recipient unit, its "track":
 *
 *   submitted -> received -> accepted -> advised -> followed-up -> closed
 *                         \-> declined
 *   and the sender may cancel a track that is not yet answered in full.
 *
 * Every step is a row of case_events; the steps people take are signed
 * statements, checked here against the person on the connection, the
 * role and unit allowed the step, and the chain of the track's earlier
 * statements.  A step's message (advice, a decline's explanation, the
 * follow-up report) is ciphertext sealed to the units of the loop only;
 * what the school may be told at all is the policy's answer rule.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "refx/cert.h"
#include "refx/envelope.h"
#include "refx/policy.h"
#include "refx/secret.h"

#include "cases.h"
#include "clock.h"
#include "directory.h"
#include "handlers.h"
#include "store.h"

/*
 * Append a step the exchange itself observes (submitted, received) to
 * the track (${id}, ${track}) and make it the track's state.
 */
enum refx_err
case_event_observed(struct store_tx *tx, const char *id, const char *track,
    const char *event, const struct refx_identity *who, const char *now)
{
	enum refx_err err;

	if ((err = store_run(tx, "INSERT INTO case_events (referral_id, "
	    "track, seq, event, author_unit, author_person, at) VALUES "
	    "(?1, ?2, (SELECT count(*) FROM case_events WHERE referral_id = "
	    "?1 AND track = ?2), ?3, ?4, ?5, ?6)", "tttttt", id, track, event,
	    who->id_agency, who->id_person, now)))
		return (err);
	return (store_run(tx, "UPDATE referral_recipients SET state = ?, "
	    "last_entry_at = ? WHERE referral_id = ? AND recipient = ?",
	    "tttt", event, now, id, track));
}

/* The first pull by a caseworker of the track's unit is its receipt. */
enum refx_err
case_received(struct store_tx *tx, const char *id, const char *track,
    const struct refx_identity *who, const char *now)
{
	struct store_stmt *st;
	int submitted;

	st = store_query(tx, "SELECT state = 'submitted' FROM "
	    "referral_recipients WHERE referral_id = ? AND recipient = ?",
	    "tt", id, track);
	if (st == NULL)
		return (REFX_ESTORE);
	submitted = store_step(st) == STORE_ROW && store_col_int(st, 0) != 0;
	store_finalize(st);
	if (!submitted)
		return (REFX_OK);
	return (case_event_observed(tx, id, track, "received", who, now));
}

/* ---- the steps people take ------------------------------------------- */

#define STATEMENT_MAX	(8 * 1024)
#define CERT_MAX	(16 * 1024)
#define MESSAGE_MAX	(64 * 1024)
#define SEALED_MAX	(4 * 1024)
#define HASH_HEX	64

enum step_code {
	CODE_NONE,		/* the step carries no code */
	CODE_DECLINE,		/* a reason from decline_reasons */
	CODE_OUTCOME,		/* an outcome the policy lists for the kind */
};

enum step_message {
	MSG_NONE,		/* no message */
	MSG_ANSWER,		/* to the school: the policy's answer rule */
	MSG_REPORT,		/* from the school: within the consent */
};

/* One step: who takes it, from which states, what it may carry. */
struct step_rule {
	const char		*sr_verb;	/* the path's last segment */
	const char		*sr_event;
	const char		*sr_from[4];
	int			 sr_by_sender;	/* else by the track's unit */
	enum step_code		 sr_code;
	enum step_message	 sr_message;
};

static const struct step_rule step_rules[] = {
	{ "accept", "accepted", { "received" }, 0, CODE_NONE, MSG_NONE },
	{ "decline", "declined", { "received" }, 0, CODE_DECLINE,
	    MSG_ANSWER },
	{ "advise", "advised", { "accepted" }, 0, CODE_OUTCOME, MSG_ANSWER },
	{ "follow-up", "followed-up", { "advised" }, 1, CODE_NONE,
	    MSG_REPORT },
	{ "close", "closed", { "followed-up" }, 0, CODE_NONE, MSG_NONE },
	{ "cancel", "cancelled", { "submitted", "received", "accepted",
	    "advised" }, 1, CODE_NONE, MSG_NONE },
};

/*
 * Why a unit declines, in words that say nothing about the pupil: the
 * code crosses in clear, any explanation is a message under the policy.
 */
static const char *const decline_reasons[] = {
	"outside-remit", "more-information-needed", "consent-insufficient",
	"duplicate", "other", NULL
};

/* What a step request carries once decoded and checked. */
struct step {
	const struct step_rule	*sp_rule;
	uint8_t			*sp_statement;
	size_t			 sp_statement_len;
	uint8_t			*sp_sig;
	size_t			 sp_sig_len;
	const char		*sp_cert_pem;
	json_t			*sp_st;		/* parsed statement */
	const char		*sp_track;
	int64_t			 sp_seq;
	const char		*sp_prev;
	const char		*sp_code;	/* or NULL */
	const char		*sp_msg_id;	/* or NULL: no message */
	const char		*sp_msg_sha;
	json_t			*sp_msg_to;
	uint8_t			*sp_msg;
	size_t			 sp_msg_len;
	uint8_t			*sp_sealed[2];
	size_t			 sp_sealed_len[2];
	char			 sp_sealed_unit[2][REFX_AGENCY_ID_MAX + 1];
	size_t			 sp_nsealed;
};

static void
step_free(struct step *sp)
{
	size_t i;

	for (i = 0; i < sp->sp_nsealed; i++)
		free(sp->sp_sealed[i]);
	free(sp->sp_msg);
	json_decref(sp->sp_st);
	free(sp->sp_sig);
	free(sp->sp_statement);
}

/* The referral as the case flow needs it. */
struct case_ref {
	char		cr_sender[REFX_AGENCY_ID_MAX + 1];
	char		cr_basis[32];
	char		cr_consent[PARAM_MAX + 1];	/* "" if none */
	int		cr_sender_purged;	/* the school's copy is gone */
};

/* Load referral ${id}: 0, 1 if there is none, -1 on a storage error. */
static int
case_ref_get(struct store_tx *tx, const char *id, struct case_ref *cr)
{
	struct store_stmt *st;
	int rc = 1;

	memset(cr, 0, sizeof(*cr));
	st = store_query(tx, "SELECT sender_unit, basis, consent_id, "
	    "sender_purged_at IS NOT NULL FROM referrals WHERE id = ?", "t",
	    id);
	if (st == NULL)
		return (-1);
	if (store_step(st) == STORE_ROW) {
		snprintf(cr->cr_sender, sizeof(cr->cr_sender), "%s",
		    store_col_text(st, 0));
		snprintf(cr->cr_basis, sizeof(cr->cr_basis), "%s",
		    store_col_text(st, 1));
		if (store_col_text(st, 2) != NULL)
			snprintf(cr->cr_consent, sizeof(cr->cr_consent), "%s",
			    store_col_text(st, 2));
		cr->cr_sender_purged = store_col_int(st, 3) != 0;
		rc = 0;
	}
	store_finalize(st);
	return (rc);
}

/* One loop of a referral: its recipient's state. */
struct case_track {
	char		ct_kind[24];
	char		ct_state[16];
	int		ct_purged;
	int64_t		ct_seq;			/* events so far */
	char		ct_head[HASH_HEX + 1];	/* last signed statement */
};

/* Load the track (${id}, ${unit}): 0, 1 if none, -1 on storage error. */
static int
case_track_get(struct store_tx *tx, const char *id, const char *unit,
    struct case_track *ct)
{
	struct store_stmt *st;
	const void *p;
	size_t len;
	int rc = 1;

	memset(ct, 0, sizeof(*ct));
	st = store_query(tx, "SELECT kind, state, purged_at IS NOT NULL, "
	    "(SELECT count(*) FROM case_events WHERE referral_id = ?1 AND "
	    "track = ?2) FROM referral_recipients WHERE referral_id = ?1 AND "
	    "recipient = ?2", "tt", id, unit);
	if (st == NULL)
		return (-1);
	if (store_step(st) == STORE_ROW) {
		snprintf(ct->ct_kind, sizeof(ct->ct_kind), "%s",
		    store_col_text(st, 0));
		snprintf(ct->ct_state, sizeof(ct->ct_state), "%s",
		    store_col_text(st, 1));
		ct->ct_purged = store_col_int(st, 2) != 0;
		ct->ct_seq = store_col_int(st, 3);
		rc = 0;
	}
	store_finalize(st);
	if (rc != 0)
		return (rc);

	/* The chain: each signed step names the one before it. */
	snprintf(ct->ct_head, sizeof(ct->ct_head), "%s", REFX_CASE_GENESIS);
	st = store_query(tx, "SELECT statement FROM case_events WHERE "
	    "referral_id = ? AND track = ? AND statement IS NOT NULL ORDER "
	    "BY seq DESC LIMIT 1", "tt", id, unit);
	if (st == NULL)
		return (-1);
	if (store_step(st) == STORE_ROW &&
	    (p = store_col_blob(st, 0, &len)) != NULL)
		refx_sha256_hex(p, len, ct->ct_head);
	store_finalize(st);
	return (0);
}

/* A lower-case hex string of exactly ${n} characters? */
static int
hex_of_len(const char *s, size_t n)
{

	return (s != NULL && refx_hex_valid(s, n));
}

/* Parse the statement's message part: {"id", "sha256", "to"}. */
static enum refx_err
parse_message_decl(struct request *rq, struct step *sp, json_t *m)
{
	static const char *const keys[] = { "id", "sha256", "to", NULL };
	json_t *to;

	if (json_is_null(m))
		return (REFX_OK);
	if (json_only_keys(rq, m, keys, "statement.message") ||
	    (sp->sp_msg_id = json_str(rq, m, "id", 32,
	    "statement.message")) == NULL ||
	    (sp->sp_msg_sha = json_str(rq, m, "sha256", HASH_HEX,
	    "statement.message")) == NULL)
		return (REFX_EINVAL);
	if (!refx_referral_id_valid(sp->sp_msg_id) ||
	    !hex_of_len(sp->sp_msg_sha, HASH_HEX))
		return (request_fail(rq, REFX_EINVAL, "statement.message: id "
		    "must be 32 and sha256 64 lower-case hex characters"));
	to = json_object_get(m, "to");
	if (!json_is_array(to) || json_array_size(to) != 2 ||
	    !json_is_string(json_array_get(to, 0)) ||
	    !json_is_string(json_array_get(to, 1)))
		return (request_fail(rq, REFX_EINVAL, "statement.message.to: "
		    "must name the two units of the case"));
	sp->sp_msg_to = to;
	return (REFX_OK);
}

/* Decode the body and its signed statement (not yet the rules). */
static enum refx_err
parse_step(struct request *rq, json_t *body, struct step *sp)
{
	static const char *const keys[] = { "statement", "signature",
	    "certificate", "message", NULL };
	static const char *const skeys[] = { "v", "type", "referral",
	    "track", "seq", "prev", "event", "author", "code", "message",
	    NULL };
	static const char *const akeys[] = { "unit", "person", NULL };
	static const char *const mkeys[] = { "blob", "envelopes", NULL };
	const struct refx_identity *who = rq->rq_who;
	const char *type, *ref, *event, *unit, *person;
	json_t *author, *code, *m, *arr, *e;
	char what[HASH_HEX + 1];
	enum refx_err err;
	size_t i;

	if (json_only_keys(rq, body, keys, "step") ||
	    (sp->sp_statement = json_b64_member(rq, body, "statement",
	    STATEMENT_MAX, &sp->sp_statement_len, "step")) == NULL ||
	    (sp->sp_sig = json_b64_member(rq, body, "signature",
	    REFX_SIG_LEN, &sp->sp_sig_len, "step")) == NULL ||
	    (sp->sp_cert_pem = json_str(rq, body, "certificate", CERT_MAX,
	    "step")) == NULL)
		return (REFX_EINVAL);
	if (sp->sp_sig_len != REFX_SIG_LEN)
		return (request_fail(rq, REFX_EINVAL, "signature: must be %d "
		    "bytes", REFX_SIG_LEN));
	if ((err = signed_by_caller(rq, sp->sp_cert_pem, REFX_CASE_CONTEXT,
	    sp->sp_statement, sp->sp_statement_len, sp->sp_sig, "statement")))
		return (err);

	if ((sp->sp_st = json_loadb((const char *)sp->sp_statement,
	    sp->sp_statement_len, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(sp->sp_st))
		return (request_fail(rq, REFX_EINVAL, "statement: not a JSON "
		    "object"));
	if (json_only_keys(rq, sp->sp_st, skeys, "statement"))
		return (REFX_EINVAL);
	if (!json_is_integer(json_object_get(sp->sp_st, "v")) ||
	    json_integer_value(json_object_get(sp->sp_st, "v")) != 1)
		return (request_fail(rq, REFX_EINVAL, "statement.v: must be "
		    "1"));
	if ((type = json_str(rq, sp->sp_st, "type", 32, "statement")) ==
	    NULL || (ref = json_str(rq, sp->sp_st, "referral", 64,
	    "statement")) == NULL || (sp->sp_track = json_str(rq, sp->sp_st,
	    "track", REFX_AGENCY_ID_MAX, "statement")) == NULL ||
	    (sp->sp_prev = json_str(rq, sp->sp_st, "prev", HASH_HEX,
	    "statement")) == NULL || (event = json_str(rq, sp->sp_st,
	    "event", 16, "statement")) == NULL)
		return (REFX_EINVAL);
	if (strcmp(type, "refx-case-step") != 0)
		return (request_fail(rq, REFX_EINVAL, "statement.type: must "
		    "be refx-case-step"));
	if (strcmp(ref, rq->rq_param) != 0)
		return (request_fail(rq, REFX_EINVAL, "statement.referral: "
		    "names another referral than the request"));
	if (strcmp(event, sp->sp_rule->sr_event) != 0)
		return (request_fail(rq, REFX_EINVAL, "statement.event: a %s "
		    "request must sign \"%s\"", sp->sp_rule->sr_verb,
		    sp->sp_rule->sr_event));
	if (!json_is_integer(json_object_get(sp->sp_st, "seq")) ||
	    (sp->sp_seq = json_integer_value(json_object_get(sp->sp_st,
	    "seq"))) < 1 || !hex_of_len(sp->sp_prev, HASH_HEX))
		return (request_fail(rq, REFX_EINVAL, "statement: seq must "
		    "be a positive integer and prev 64 lower-case hex "
		    "characters"));
	author = json_object_get(sp->sp_st, "author");
	if (json_only_keys(rq, author, akeys, "statement.author") ||
	    (unit = json_str(rq, author, "unit", REFX_AGENCY_ID_MAX,
	    "statement.author")) == NULL || (person = json_str(rq, author,
	    "person", REFX_PERSON_ID_MAX, "statement.author")) == NULL)
		return (REFX_EINVAL);
	if (strcmp(unit, who->id_agency) != 0 ||
	    strcmp(person, who->id_person) != 0)
		return (request_fail(rq, REFX_EDENIED, "statement.author: "
		    "names someone other than you"));
	code = json_object_get(sp->sp_st, "code");
	if (json_is_string(code))
		sp->sp_code = json_string_value(code);
	else if (!json_is_null(code))
		return (request_fail(rq, REFX_EINVAL, "statement.code: must "
		    "be a string or null"));
	if ((err = parse_message_decl(rq, sp, json_object_get(sp->sp_st,
	    "message"))))
		return (err);

	/* The message itself: exactly what the statement declares. */
	m = json_object_get(body, "message");
	if (sp->sp_msg_id == NULL) {
		if (m != NULL && !json_is_null(m))
			return (request_fail(rq, REFX_EINVAL, "message: the "
			    "statement declares none"));
		return (REFX_OK);
	}
	if (m == NULL || json_only_keys(rq, m, mkeys, "message") ||
	    (sp->sp_msg = json_b64_member(rq, m, "blob", MESSAGE_MAX,
	    &sp->sp_msg_len, "message")) == NULL)
		return (m == NULL ? request_fail(rq, REFX_EINVAL, "message: "
		    "missing") : REFX_EINVAL);
	refx_sha256_hex(sp->sp_msg, sp->sp_msg_len, what);
	if (strcmp(what, sp->sp_msg_sha) != 0)
		return (request_fail(rq, REFX_ECRYPTO, "message: does not "
		    "match the signed statement"));
	arr = json_object_get(m, "envelopes");
	if (!json_is_array(arr) || json_array_size(arr) != 2)
		return (request_fail(rq, REFX_EINVAL, "message.envelopes: "
		    "must hold one envelope per unit of message.to"));
	json_array_foreach(arr, i, e) {
		snprintf(what, sizeof(what), "message.envelopes[%zu]", i);
		if ((unit = json_str(rq, e, "unit", REFX_AGENCY_ID_MAX,
		    what)) == NULL)
			return (REFX_EINVAL);
		if (strcmp(unit, json_string_value(json_array_get(
		    sp->sp_msg_to, i))) != 0)
			return (request_fail(rq, REFX_EINVAL, "%s.unit: must "
			    "be statement.message.to[%zu]", what, i));
		snprintf(sp->sp_sealed_unit[i], sizeof(sp->sp_sealed_unit[i]),
		    "%s", unit);
		if ((sp->sp_sealed[i] = json_b64_member(rq, e, "sealed",
		    SEALED_MAX, &sp->sp_sealed_len[i], what)) == NULL)
			return (REFX_EINVAL);
		sp->sp_nsealed = i + 1;
	}
	return (REFX_OK);
}

/* May the track's unit tell the school more than the outcome? */
static enum refx_err
answer_allowed(struct request *rq, struct store_tx *tx,
    const struct case_ref *cr, const char *track, enum refx_kind kind)
{
	const struct refx_policy *pol = rq->rq_srv->sv_policy;
	struct consent_state cs;
	struct store_stmt *st;
	const char *ref;
	size_t n;
	int feedback = 0, rc;

	(void)refx_policy_outcomes(pol, kind, &n, &ref);
	if (refx_policy_answer_message(pol, kind) != REFX_RULE_CONSENT)
		return (request_fail(rq, REFX_EDENIED, "a message to the "
		    "school is never allowed from a unit of kind %s (%s)",
		    refx_kind_name(kind), ref ? ref : "policy"));
	if (cr->cr_consent[0] != '\0') {
		if ((rc = consent_get(tx, cr->cr_consent, &cs)) < 0)
			return (REFX_ESTORE);
		st = store_query(tx, "SELECT feedback FROM consent_scope "
		    "WHERE consent_id = ? AND recipient = ? AND withdrawn_at "
		    "IS NULL", "tt", cr->cr_consent, track);
		if (st == NULL)
			return (REFX_ESTORE);
		feedback = rc == 0 && cs.cs_valid &&
		    store_step(st) == STORE_ROW && store_col_int(st, 0) != 0;
		store_finalize(st);
	}
	if (!feedback)
		return (request_fail(rq, REFX_EDENIED, "the school may be "
		    "told only the outcome: the consent does not let %s "
		    "answer the school in full (%s)", track,
		    ref ? ref : "policy"));
	return (REFX_OK);
}

/* May the school report back to the track's unit in words? */
static enum refx_err
report_allowed(struct request *rq, struct store_tx *tx,
    const struct case_ref *cr, const char *track)
{
	struct consent_state cs;
	refx_classes c, it;
	int rc;

	if (cr->cr_consent[0] == '\0')
		return (REFX_OK);	/* a report of concern: the duty */
	if ((rc = consent_get(tx, cr->cr_consent, &cs)) < 0)
		return (REFX_ESTORE);
	if (rc == 1 || !cs.cs_valid)
		return (request_fail(rq, REFX_EDENIED, "the follow-up report "
		    "needs a valid consent: %s", rc == 1 ? "none" :
		    cs.cs_reason));
	if ((rc = consent_scope(tx, cr->cr_consent, track, &c, &it)) < 0)
		return (REFX_ESTORE);
	if (rc == 1)
		return (request_fail(rq, REFX_EDENIED, "the consent no longer "
		    "covers %s", track));
	return (REFX_OK);
}

/* Check the step against the referral, the track, the rules. */
static enum refx_err
check_step(struct request *rq, struct store_tx *tx, struct step *sp,
    const struct case_ref *cr, struct case_track *ct)
{
	const struct step_rule *sr = sp->sp_rule;
	const struct refx_identity *who = rq->rq_who;
	enum refx_kind kind;
	const char *counterpart, *ref;
	size_t i, n;
	int rc;

	/* Object-level: the sender's steps, or the track unit's own. */
	if (sr->sr_by_sender ? strcmp(cr->cr_sender, who->id_agency) != 0 :
	    strcmp(sp->sp_track, who->id_agency) != 0)
		return (request_fail(rq, REFX_ENOTFOUND, "no case %s for your "
		    "unit", rq->rq_param));
	if ((rc = case_track_get(tx, rq->rq_param, sp->sp_track, ct)) < 0)
		return (REFX_ESTORE);
	if (rc == 1)
		return (request_fail(rq, REFX_ENOTFOUND, "no case %s for your "
		    "unit", rq->rq_param));
	counterpart = sr->sr_by_sender ? sp->sp_track : cr->cr_sender;
	request_involve(rq, counterpart, 0);
	/*
	 * Past retention nothing is added: new keys for a deleted copy
	 * would keep its ciphertexts alive (docs/retention.md).
	 */
	if (ct->ct_purged || (cr->cr_sender_purged && (sr->sr_by_sender ||
	    sp->sp_msg_id != NULL)))
		return (request_fail(rq, REFX_EDENIED, "case %s: its records "
		    "were deleted at the end of retention", rq->rq_param));
	for (i = 0; i < sizeof(sr->sr_from) / sizeof(sr->sr_from[0]) &&
	    sr->sr_from[i] != NULL; i++)
		if (strcmp(ct->ct_state, sr->sr_from[i]) == 0)
			break;
	if (i == sizeof(sr->sr_from) / sizeof(sr->sr_from[0]) ||
	    sr->sr_from[i] == NULL)
		return (request_fail(rq, REFX_EEXIST, "case %s for %s is "
		    "%s: it cannot be %s now", rq->rq_param, sp->sp_track,
		    ct->ct_state, sr->sr_event));
	if (sp->sp_seq != ct->ct_seq || strcmp(sp->sp_prev, ct->ct_head))
		return (request_fail(rq, REFX_EEXIST, "case %s moved on since "
		    "this step was prepared; show it and try again",
		    rq->rq_param));
	if (refx_kind_parse(ct->ct_kind, &kind))
		return (REFX_ESTORE);

	switch (sr->sr_code) {
	case CODE_NONE:
		if (sp->sp_code != NULL)
			return (request_fail(rq, REFX_EINVAL, "statement.code: "
			    "a %s carries no code", sr->sr_verb));
		break;
	case CODE_DECLINE:
		for (i = 0; decline_reasons[i] != NULL; i++)
			if (sp->sp_code != NULL &&
			    strcmp(sp->sp_code, decline_reasons[i]) == 0)
				break;
		if (decline_reasons[i] == NULL)
			return (request_fail(rq, REFX_EINVAL, "statement.code: "
			    "a decline needs a reason: outside-remit, "
			    "more-information-needed, consent-insufficient, "
			    "duplicate or other"));
		break;
	case CODE_OUTCOME:
		if (!refx_policy_outcome_allowed(rq->rq_srv->sv_policy, kind,
		    sp->sp_code)) {
			(void)refx_policy_outcomes(rq->rq_srv->sv_policy, kind,
			    &n, &ref);
			return (request_fail(rq, REFX_EDENIED, "statement.code: "
			    "not an outcome the policy lets a unit of kind %s "
			    "tell the school (%s)", refx_kind_name(kind),
			    ref ? ref : "no outcomes in the policy"));
		}
		break;
	}

	if (sp->sp_msg_id == NULL)
		return (REFX_OK);
	/* Sealed to the two units of the loop, and nobody else. */
	if (!((strcmp(sp->sp_sealed_unit[0], cr->cr_sender) == 0 &&
	    strcmp(sp->sp_sealed_unit[1], sp->sp_track) == 0) ||
	    (strcmp(sp->sp_sealed_unit[1], cr->cr_sender) == 0 &&
	    strcmp(sp->sp_sealed_unit[0], sp->sp_track) == 0)))
		return (request_fail(rq, REFX_EDENIED, "message: must be "
		    "sealed to %s and %s only", cr->cr_sender, sp->sp_track));
	switch (sr->sr_message) {
	case MSG_NONE:
		return (request_fail(rq, REFX_EINVAL, "message: a %s carries "
		    "no message", sr->sr_verb));
	case MSG_ANSWER:
		return (answer_allowed(rq, tx, cr, sp->sp_track, kind));
	case MSG_REPORT:
		return (report_allowed(rq, tx, cr, sp->sp_track));
	}
	return (REFX_OK);
}

/** case_due_date(date, months, out): See cases.h. */
void
case_due_date(const char *date, unsigned months, char out[11])
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int y, m, d, last;

	y = atoi(date);
	m = atoi(date + 5) - 1 + (int)months;
	d = atoi(date + 8);
	y += m / 12;
	m %= 12;
	last = mdays[m] + (m == 1 && ((y % 4 == 0 && y % 100 != 0) ||
	    y % 400 == 0));
	if (d > last)
		d = last;
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u,
	    (unsigned)m % 12u + 1, (unsigned)d % 32u);
}

/* Store the step, its message, and the track's new state. */
static enum refx_err
store_step_row(struct request *rq, struct store_tx *tx,
    const struct step *sp, const struct case_track *ct, const char *now,
    char due[11])
{
	const char *id = rq->rq_param;
	enum refx_err err;
	size_t i;

	err = store_run(tx, "INSERT INTO case_events (referral_id, track, "
	    "seq, event, author_unit, author_person, at, code, statement, "
	    "signature, certificate, message_id, message) VALUES (?, ?, ?, "
	    "?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "ttitttttbbttb", id, sp->sp_track,
	    sp->sp_seq, sp->sp_rule->sr_event, rq->rq_who->id_agency,
	    rq->rq_who->id_person, now, sp->sp_code, sp->sp_statement,
	    sp->sp_statement_len, sp->sp_sig, sp->sp_sig_len,
	    sp->sp_cert_pem, sp->sp_msg_id, sp->sp_msg, sp->sp_msg_len);
	if (err == REFX_EEXIST)
		return (request_fail(rq, err, "case %s moved on since this "
		    "step was prepared; show it and try again", id));
	if (err)
		return (err);
	for (i = 0; i < sp->sp_nsealed; i++)
		if ((err = store_run(tx, "INSERT INTO case_message_envelopes "
		    "(event_id, unit, sealed) VALUES ((SELECT id FROM "
		    "case_events WHERE referral_id = ? AND track = ? AND seq = "
		    "?), ?, ?)", "ttitb", id, sp->sp_track, sp->sp_seq,
		    sp->sp_sealed_unit[i], sp->sp_sealed[i],
		    sp->sp_sealed_len[i])))
			return (err);

	due[0] = '\0';
	if (strcmp(sp->sp_rule->sr_event, "advised") == 0)
		case_due_date(now, refx_policy_follow_up_months(
		    rq->rq_srv->sv_policy, NULL), due);
	if ((err = store_run(tx, "UPDATE referral_recipients SET state = ?, "
	    "last_entry_at = ?, follow_up_due = coalesce(?, follow_up_due) "
	    "WHERE referral_id = ? AND recipient = ?", "ttttt",
	    sp->sp_rule->sr_event, now, due[0] ? due : NULL, id,
	    sp->sp_track)))
		return (err);
	/* Cancelled before it was read: it never crosses at all. */
	if (strcmp(sp->sp_rule->sr_event, "cancelled") == 0 &&
	    strcmp(ct->ct_state, "submitted") == 0)
		return (store_run(tx, "DELETE FROM envelopes WHERE "
		    "referral_id = ? AND recipient = ?", "tt", id,
		    sp->sp_track));
	return (REFX_OK);
}

/*
 * POST /v1/cases/ID/{accept,decline,advise,follow-up,close,cancel}: one
 * signed step of one loop.
 */
enum refx_err
h_case_step(struct request *rq, struct store_tx *tx)
{
	const char *verb = strrchr(rq->rq_path, '/');
	struct case_track ct;
	struct case_ref cr;
	struct step sp;
	json_t *body;
	enum refx_err err;
	char now[21], due[11];
	size_t i;
	int rc;

	memset(&sp, 0, sizeof(sp));
	for (i = 0; verb != NULL && i < sizeof(step_rules) /
	    sizeof(step_rules[0]); i++)
		if (strcmp(verb + 1, step_rules[i].sr_verb) == 0)
			sp.sp_rule = &step_rules[i];
	if (sp.sp_rule == NULL)
		return (request_fail(rq, REFX_ENOTFOUND, "no such step"));
	rq->rq_audit.ra_object_type = "referral";
	snprintf(rq->rq_audit.ra_object_id, sizeof(rq->rq_audit.ra_object_id),
	    "%s", rq->rq_param);
	if ((body = request_json(rq)) == NULL)
		return (REFX_EINVAL);
	if ((rc = case_ref_get(tx, rq->rq_param, &cr)) < 0) {
		err = REFX_ESTORE;
		goto out;
	}
	if (rc == 1) {
		err = request_fail(rq, REFX_ENOTFOUND, "no case %s for your "
		    "unit", rq->rq_param);
		goto out;
	}
	rq->rq_audit.ra_basis = cr.cr_consent[0] ? "consent" :
	    "report-of-concern";
	clock_stamp(now);
	if ((err = parse_step(rq, body, &sp)) ||
	    (err = check_step(rq, tx, &sp, &cr, &ct)) ||
	    (err = store_step_row(rq, tx, &sp, &ct, now, due)))
		goto out;
	rq->rq_status = 201;
	rq->rq_resp = json_pack("{s:s, s:s, s:s, s:I, s:s?}", "id",
	    rq->rq_param, "track", sp.sp_track, "state",
	    sp.sp_rule->sr_event, "seq", (json_int_t)sp.sp_seq,
	    "follow_up_due", due[0] ? due : NULL);
	err = rq->rq_resp ? REFX_OK : REFX_ENOMEM;
out:
	step_free(&sp);
	json_decref(body);
	return (err);
}

/* ---- reading the loops -------------------------------------------------- */

/* A blob column as base64, or null if NULL (deleted, or never there). */
static json_t *
blob_or_null(struct store_stmt *st, int col)
{
	size_t len;

	return (store_col_blob(st, col, &len) != NULL ?
	    json_b64_column(st, col) : json_null());
}

/* The events of one track, as the viewing unit ${unit} may see them. */
static json_t *
track_events(struct store_tx *tx, const char *id, const char *track,
    const char *unit)
{
	struct store_stmt *st;
	json_t *list, *e, *m;

	if ((list = json_array()) == NULL)
		return (NULL);
	st = store_query(tx, "SELECT e.seq, e.event, e.author_unit, "
	    "e.author_person, e.at, e.code, e.statement, e.signature, "
	    "e.certificate, e.message_id, e.message, (SELECT sealed FROM "
	    "case_message_envelopes WHERE event_id = e.id AND unit = ?3) "
	    "FROM case_events e WHERE e.referral_id = ?1 AND e.track = ?2 "
	    "ORDER BY e.seq", "ttt", id, track, unit);
	if (st == NULL)
		goto fail;
	while (store_step(st) == STORE_ROW) {
		m = NULL;
		if (store_col_text(st, 9) != NULL)
			m = json_pack("{s:s, s:o, s:o}", "id",
			    store_col_text(st, 9), "blob", blob_or_null(st, 10),
			    "sealed", blob_or_null(st, 11));
		e = json_pack("{s:I, s:s, s:{s:s, s:s}, s:s, s:s?, s:o, s:o, "
		    "s:s?, s:o}", "seq", (json_int_t)store_col_int(st, 0),
		    "event", store_col_text(st, 1), "author", "unit",
		    store_col_text(st, 2), "person", store_col_text(st, 3),
		    "at", store_col_text(st, 4), "code", store_col_text(st, 5),
		    "statement", blob_or_null(st, 6), "signature",
		    blob_or_null(st, 7), "certificate", store_col_text(st, 8),
		    "message", m ? m : json_null());
		if (e == NULL || json_array_append_new(list, e))
			goto fail;
	}
	store_finalize(st);
	return (list);
fail:
	store_finalize(st);
	json_decref(list);
	return (NULL);
}

/*
 * GET /v1/cases/ID: where the referral stands.  The sending school sees
 * every loop; a recipient sees its own loop only, never what another
 * recipient answered.
 */
enum refx_err
h_case_status(struct request *rq, struct store_tx *tx)
{
	const struct refx_identity *who = rq->rq_who;
	const char *id = rq->rq_param;
	struct store_stmt *st = NULL;
	struct case_ref cr;
	json_t *tracks = NULL, *t, *events;
	int rc, sender;
	enum refx_err err = REFX_ESTORE;

	rq->rq_audit.ra_object_type = "referral";
	snprintf(rq->rq_audit.ra_object_id, sizeof(rq->rq_audit.ra_object_id),
	    "%s", id);
	if ((rc = case_ref_get(tx, id, &cr)) < 0)
		return (REFX_ESTORE);
	sender = rc == 0 && strcmp(cr.cr_sender, who->id_agency) == 0 &&
	    who->id_role == REFX_ROLE_SUBMITTER;
	if ((tracks = json_array()) == NULL)
		return (REFX_ENOMEM);
	if (rc == 0 && (sender || who->id_role == REFX_ROLE_CASEWORKER))
		st = store_query(tx, "SELECT recipient, kind, state, "
		    "follow_up_due, last_entry_at, purged_at FROM "
		    "referral_recipients WHERE referral_id = ?1 AND (?2 OR "
		    "recipient = ?3) ORDER BY recipient", "tit", id,
		    (int64_t)sender, who->id_agency);
	while (st != NULL && store_step(st) == STORE_ROW) {
		if ((events = track_events(tx, id, store_col_text(st, 0),
		    who->id_agency)) == NULL)
			goto out;
		t = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:o}", "unit",
		    store_col_text(st, 0), "kind", store_col_text(st, 1),
		    "state", store_col_text(st, 2), "follow_up_due",
		    store_col_text(st, 3), "last_entry_at",
		    store_col_text(st, 4), "purged_at", store_col_text(st, 5),
		    "events", events);
		if (t == NULL || json_array_append_new(tracks, t))
			goto out;
	}
	if (json_array_size(tracks) == 0) {
		err = request_fail(rq, REFX_ENOTFOUND, "no case %s for your "
		    "unit", id);
		goto out;
	}
	rq->rq_resp = json_pack("{s:s, s:s, s:s, s:O}", "id", id, "sender",
	    cr.cr_sender, "basis", cr.cr_basis, "tracks", tracks);
	err = rq->rq_resp ? REFX_OK : REFX_ENOMEM;
out:
	store_finalize(st);
	json_decref(tracks);
	return (err);
}

/*
 * The loops the caller's unit takes part in: as the sending school's
 * submitter, every loop of its referrals; as a caseworker, its unit's
 * own loops.  ${overdue_only}: advised loops whose follow-up is late.
 */
static enum refx_err
case_rows(struct request *rq, struct store_tx *tx, int overdue_only)
{
	const struct refx_identity *who = rq->rq_who;
	struct store_stmt *st;
	json_t *list, *e;
	char today[11];
	int sender = who->id_role == REFX_ROLE_SUBMITTER;

	clock_today(today);
	if ((list = json_array()) == NULL)
		return (REFX_ENOMEM);
	st = store_query(tx, "SELECT rr.referral_id, r.sender_unit, "
	    "rr.recipient, rr.kind, rr.state, rr.follow_up_due, "
	    "rr.last_entry_at, rr.state = 'advised' AND rr.follow_up_due < ?1 "
	    "FROM referral_recipients rr JOIN referrals r ON r.id = "
	    "rr.referral_id WHERE (CASE WHEN ?2 THEN r.sender_unit ELSE "
	    "rr.recipient END) = ?3 AND (NOT ?4 OR (rr.state = 'advised' AND "
	    "rr.follow_up_due < ?1)) AND rr.purged_at IS NULL "
	    "ORDER BY rr.follow_up_due IS NULL, rr.follow_up_due, "
	    "rr.last_entry_at, rr.referral_id, rr.recipient LIMIT 10000",
	    "titi", today, (int64_t)sender, who->id_agency,
	    (int64_t)overdue_only);
	if (st == NULL)
		goto fail;
	while (store_step(st) == STORE_ROW) {
		e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:b, "
		    "s:s}", "id", store_col_text(st, 0), "sender",
		    store_col_text(st, 1), "unit", store_col_text(st, 2),
		    "kind", store_col_text(st, 3), "state",
		    store_col_text(st, 4), "follow_up_due",
		    store_col_text(st, 5), "last_entry_at",
		    store_col_text(st, 6), "overdue", store_col_int(st, 7) != 0,
		    "direction", sender ? "out" : "in");
		if (e == NULL || json_array_append_new(list, e))
			goto fail;
	}
	store_finalize(st);
	rq->rq_resp = json_pack("{s:s, s:o}", "today", today, "cases", list);
	return (rq->rq_resp ? REFX_OK : REFX_ENOMEM);
fail:
	store_finalize(st);
	json_decref(list);
	return (REFX_ESTORE);
}

/* GET /v1/cases: the loops of the caller's unit, with due dates. */
enum refx_err
h_case_list(struct request *rq, struct store_tx *tx)
{

	return (case_rows(rq, tx, 0));
}

/* GET /v1/cases/overdue: advised loops whose follow-up is late. */
enum refx_err
h_case_overdue(struct request *rq, struct store_tx *tx)
{

	return (case_rows(rq, tx, 1));
}
