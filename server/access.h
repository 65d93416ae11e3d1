#ifndef REFXD_ACCESS_H
#define REFXD_ACCESS_H

/*
 * Which role, at which kind of unit, may reach which action: pure
 * functions, no I/O, so that every rule can be tested exhaustively.
 * Object-level rules (own unit, addressed recipient) are checked by the
 * handlers; the disclosure policy (which field may go where) is the
 * shared refx/policy.h.
 */
#include "refx/identity.h"

enum access_action {
	ACTION_WHOAMI,
	ACTION_HEALTH,
	ACTION_DIRECTORY,
	ACTION_POLICY,
	ACTION_CONSENT_RECORD,
	ACTION_CONSENT_LIST,
	ACTION_CONSENT_SHOW,
	ACTION_CONSENT_WITHDRAW,
	ACTION_REFERRAL_SUBMIT,
	ACTION_REFERRAL_LIST,
	ACTION_REFERRAL_PULL,
	ACTION_CASE_READ,
	ACTION_CASE_ACCEPT,
	ACTION_CASE_DECLINE,
	ACTION_CASE_ADVISE,
	ACTION_CASE_CLOSE,
	ACTION_CASE_FOLLOW_UP,
	ACTION_CASE_CANCEL,
	ACTION_AUDIT_LIST,
	ACTION_AUDIT_READ,
	ACTION_COUNT
};

/**
 * access_allows(who, action): Return 1 if ${who} may perform ${action},
 * 0 otherwise (including for an unknown action: fail closed).
 */
int access_allows(const struct refx_identity *, enum access_action);

/** access_action_name(action): A stable name for logs, "?" if unknown. */
const char *access_action_name(enum access_action);

#endif /* !REFXD_ACCESS_H */
