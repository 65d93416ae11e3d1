#ifndef REFXD_POLICY_H
#define REFXD_POLICY_H

/*
 * Who may do what: pure functions, no I/O, so that every rule can be
 * tested exhaustively.  The referral redaction matrix joins this module
 * in a later issue; today it decides which roles reach which action.
 */
#include "refx/identity.h"

enum policy_action {
	ACTION_WHOAMI,
	ACTION_HEALTH,
	ACTION_DIRECTORY,
	ACTION_COUNT
};

/**
 * policy_allows(who, action): Return 1 if ${who} may perform ${action},
 * 0 otherwise (including for an unknown action: fail closed).
 */
int policy_allows(const struct refx_identity *, enum policy_action);

/** policy_action_name(action): A stable name for logs, "?" if unknown. */
const char *policy_action_name(enum policy_action);

#endif /* !REFXD_POLICY_H */
