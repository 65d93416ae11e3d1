#include <string.h>

#include "cases.h"
#include "handlers.h"
#include "routes.h"

static const struct route routes[] = {
	{ "GET", "/v1/whoami", h_whoami, ACTION_WHOAMI, 0, NULL, NULL },
	{ "GET", "/v1/health", h_health, ACTION_HEALTH, 0, NULL, NULL },
	{ "GET", "/v1/directory", h_directory, ACTION_DIRECTORY, 0, NULL, NULL },
	{ "GET", "/v1/policy", h_policy, ACTION_POLICY, 0, NULL, NULL },
	/* Case routes expire consents first; pulls record disclosures. */
	{ "POST", "/v1/consents", h_consent_record, ACTION_CONSENT_RECORD, 1,
	    &consent_expiry, NULL },
	{ "GET", "/v1/consents", h_consent_list, ACTION_CONSENT_LIST, 0,
	    &consent_expiry, NULL },
	{ "GET", "/v1/consents/*", h_consent_show, ACTION_CONSENT_SHOW, 0,
	    &consent_expiry, NULL },
	{ "POST", "/v1/consents/*/withdraw", h_consent_withdraw,
	    ACTION_CONSENT_WITHDRAW, 1, &consent_expiry, NULL },
	{ "POST", "/v1/referrals", h_referral_submit, ACTION_REFERRAL_SUBMIT,
	    1, &consent_expiry, prepare_referral_submit },
	{ "GET", "/v1/referrals", h_referral_list, ACTION_REFERRAL_LIST, 0,
	    &consent_expiry, NULL },
	{ "GET", "/v1/referrals/*", h_referral_pull, ACTION_REFERRAL_PULL, 1,
	    &consent_expiry, NULL },
	{ "GET", "/v1/referrals/*/receipts", h_referral_receipts,
	    ACTION_REFERRAL_LIST, 0, NULL, NULL },
	/* The case flow; "overdue" before the id pattern that would match it. */
	{ "GET", "/v1/cases", h_case_list, ACTION_CASE_READ, 0, NULL, NULL },
	{ "GET", "/v1/cases/overdue", h_case_overdue, ACTION_CASE_READ, 0,
	    NULL, NULL },
	{ "GET", "/v1/cases/*", h_case_status, ACTION_CASE_READ, 0, NULL, NULL },
	{ "POST", "/v1/cases/*/accept", h_case_step, ACTION_CASE_ACCEPT, 1,
	    &consent_expiry, NULL },
	{ "POST", "/v1/cases/*/decline", h_case_step, ACTION_CASE_DECLINE, 1,
	    &consent_expiry, NULL },
	{ "POST", "/v1/cases/*/advise", h_case_step, ACTION_CASE_ADVISE, 1,
	    &consent_expiry, NULL },
	{ "POST", "/v1/cases/*/follow-up", h_case_step, ACTION_CASE_FOLLOW_UP,
	    1, &consent_expiry, NULL },
	{ "POST", "/v1/cases/*/close", h_case_step, ACTION_CASE_CLOSE, 1,
	    &consent_expiry, NULL },
	{ "POST", "/v1/cases/*/cancel", h_case_step, ACTION_CASE_CANCEL, 1,
	    &consent_expiry, NULL },
	{ "GET", "/v1/audit/logs", h_audit_logs, ACTION_AUDIT_LIST, 0, NULL, NULL },
	{ "GET", "/v1/audit/logs/*", h_audit_log, ACTION_AUDIT_READ, 0, NULL, NULL },
	{ "POST", "/v1/audit/logs/*/checkpoint", h_audit_checkpoint,
	    ACTION_AUDIT_READ, 1, NULL, NULL },
};

/* An id segment: 1-64 of [A-Za-z0-9_-]; nothing else reaches a handler. */
static size_t
id_segment(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0' && s[n] != '/'; n++) {
		if (n >= PARAM_MAX)
			return (0);
		if (!((s[n] >= 'a' && s[n] <= 'z') ||
		    (s[n] >= 'A' && s[n] <= 'Z') ||
		    (s[n] >= '0' && s[n] <= '9') || s[n] == '-' || s[n] == '_'))
			return (0);
	}
	return (n);
}

/* Match ${path} against ${pattern}; copy the '*' segment to ${param}. */
static int
path_match(const char *pattern, const char *path, char *param)
{
	size_t n;

	while (*pattern != '\0') {
		if (*pattern == '*') {
			if ((n = id_segment(path)) == 0)
				return (0);
			memcpy(param, path, n);
			param[n] = '\0';
			path += n;
			pattern++;
			continue;
		}
		if (*pattern++ != *path++)
			return (0);
	}
	return (*path == '\0');
}

/**
 * routes_match(method, path, param, allow): Find the route for ${method}
 * and ${path}, copying a '*' segment into ${param} (PARAM_MAX + 1 bytes).
 * Return it, or NULL with ${allow} set to the methods the path accepts
 * (405) or NULL (404).
 */
const struct route *
routes_match(const char *method, const char *path, char *param,
    const char **allow)
{
	size_t i;

	*allow = NULL;
	param[0] = '\0';
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!path_match(routes[i].rt_path, path, param))
			continue;
		if (strcmp(routes[i].rt_method, method) == 0)
			return (&routes[i]);
		*allow = routes[i].rt_method;
	}
	return (NULL);
}
