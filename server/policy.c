#include <stdint.h>

#include "policy.h"

#define ROLE(r)		(1u << (r))
#define ALL_ROLES	(ROLE(REFX_ROLE_SUBMITTER) | ROLE(REFX_ROLE_CASEWORKER) | \
			 ROLE(REFX_ROLE_AUDITOR) | ROLE(REFX_ROLE_ADMIN))

/* For each action, the set of roles allowed it. */
static const struct {
	const char	*name;
	uint32_t	 roles;
} actions[ACTION_COUNT] = {
	/* Anyone holding a valid certificate may learn who they are. */
	[ACTION_WHOAMI] = { "whoami", ALL_ROLES },
	[ACTION_HEALTH] = { "health", ALL_ROLES },
	/* Unit keys are public data: every sender must be able to fetch them. */
	[ACTION_DIRECTORY] = { "directory", ALL_ROLES },
};

/**
 * policy_allows(who, action): Return 1 if ${who} may perform ${action},
 * 0 otherwise (including for an unknown action: fail closed).
 */
int
policy_allows(const struct refx_identity *who, enum policy_action action)
{

	if (who == NULL || (unsigned)action >= ACTION_COUNT)
		return (0);
	if ((unsigned)who->id_role >= REFX_ROLE_COUNT ||
	    (unsigned)who->id_kind >= REFX_KIND_COUNT)
		return (0);
	return ((actions[action].roles & ROLE(who->id_role)) != 0);
}

/** policy_action_name(action): A stable name for logs, "?" if unknown. */
const char *
policy_action_name(enum policy_action action)
{

	if ((unsigned)action >= ACTION_COUNT)
		return ("?");
	return (actions[action].name);
}
