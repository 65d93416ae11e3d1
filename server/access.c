#include <stdint.h>

#include "access.h"

#define ROLE(r)		(1u << (r))
#define KIND(k)		(1u << (k))
#define ALL_ROLES	(ROLE(REFX_ROLE_SUBMITTER) | ROLE(REFX_ROLE_CASEWORKER) | \
			 ROLE(REFX_ROLE_AUDITOR) | ROLE(REFX_ROLE_ADMIN))
#define ALL_KINDS	((1u << REFX_KIND_COUNT) - 1)
/* Those who handle case content: never auditors or admins. */
#define CASE_ROLES	(ROLE(REFX_ROLE_SUBMITTER) | ROLE(REFX_ROLE_CASEWORKER))

/* For each action, the roles and the kinds of unit allowed it. */
static const struct {
	const char	*name;
	uint32_t	 roles;
	uint32_t	 kinds;
} actions[ACTION_COUNT] = {
	/* Anyone holding a valid certificate may learn who they are. */
	[ACTION_WHOAMI] = { "whoami", ALL_ROLES, ALL_KINDS },
	[ACTION_HEALTH] = { "health", ALL_ROLES, ALL_KINDS },
	/* Unit keys and the policy are public within the exchange. */
	[ACTION_DIRECTORY] = { "directory", ALL_ROLES, ALL_KINDS },
	[ACTION_POLICY] = { "policy", ALL_ROLES, ALL_KINDS },
	/* Consent is recorded and withdrawn at the school. */
	[ACTION_CONSENT_RECORD] = { "consent-record",
	    ROLE(REFX_ROLE_SUBMITTER), KIND(REFX_KIND_SCHOOL) },
	[ACTION_CONSENT_WITHDRAW] = { "consent-withdraw",
	    ROLE(REFX_ROLE_SUBMITTER), KIND(REFX_KIND_SCHOOL) },
	[ACTION_CONSENT_LIST] = { "consent-list", CASE_ROLES, ALL_KINDS },
	[ACTION_CONSENT_SHOW] = { "consent-show", CASE_ROLES, ALL_KINDS },
	/* Only a school's submitter sends referrals. */
	[ACTION_REFERRAL_SUBMIT] = { "referral-submit",
	    ROLE(REFX_ROLE_SUBMITTER), KIND(REFX_KIND_SCHOOL) },
	[ACTION_REFERRAL_LIST] = { "referral-list", CASE_ROLES, ALL_KINDS },
	[ACTION_REFERRAL_PULL] = { "referral-pull", CASE_ROLES, ALL_KINDS },
	/*
	 * The case flow: the recipient unit's caseworkers answer, the
	 * sending school's submitters report back or cancel; which loop is
	 * decided per case (server/caseflow.c).
	 */
	[ACTION_CASE_READ] = { "case-read", CASE_ROLES, ALL_KINDS },
	[ACTION_CASE_ACCEPT] = { "case-accept", ROLE(REFX_ROLE_CASEWORKER),
	    ALL_KINDS & ~KIND(REFX_KIND_SUPERVISOR) },
	[ACTION_CASE_DECLINE] = { "case-decline", ROLE(REFX_ROLE_CASEWORKER),
	    ALL_KINDS & ~KIND(REFX_KIND_SUPERVISOR) },
	[ACTION_CASE_ADVISE] = { "case-advise", ROLE(REFX_ROLE_CASEWORKER),
	    ALL_KINDS & ~KIND(REFX_KIND_SUPERVISOR) },
	[ACTION_CASE_CLOSE] = { "case-close", ROLE(REFX_ROLE_CASEWORKER),
	    ALL_KINDS & ~KIND(REFX_KIND_SUPERVISOR) },
	[ACTION_CASE_FOLLOW_UP] = { "case-follow-up",
	    ROLE(REFX_ROLE_SUBMITTER), KIND(REFX_KIND_SCHOOL) },
	[ACTION_CASE_CANCEL] = { "case-cancel", ROLE(REFX_ROLE_SUBMITTER),
	    KIND(REFX_KIND_SCHOOL) },
	/* Auditors read logs; which ones is decided per log. */
	[ACTION_AUDIT_LIST] = { "audit-list", ROLE(REFX_ROLE_AUDITOR),
	    ALL_KINDS },
	[ACTION_AUDIT_READ] = { "audit-read", ROLE(REFX_ROLE_AUDITOR),
	    ALL_KINDS },
};

/**
 * access_allows(who, action): Return 1 if ${who} may perform ${action},
 * 0 otherwise (including for an unknown action: fail closed).
 */
int
access_allows(const struct refx_identity *who, enum access_action action)
{

	if (who == NULL || (unsigned)action >= ACTION_COUNT)
		return (0);
	if ((unsigned)who->id_role >= REFX_ROLE_COUNT ||
	    (unsigned)who->id_kind >= REFX_KIND_COUNT)
		return (0);
	return ((actions[action].roles & ROLE(who->id_role)) != 0 &&
	    (actions[action].kinds & KIND(who->id_kind)) != 0);
}

/** access_action_name(action): A stable name for logs, "?" if unknown. */
const char *
access_action_name(enum access_action action)
{

	if ((unsigned)action >= ACTION_COUNT)
		return ("?");
	return (actions[action].name);
}
