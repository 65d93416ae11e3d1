/* Which roles reach which action; unknown actions fail closed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "../../server/access.h"
#include "../../server/routes.h"

static void
every_role_of_every_kind_may_ask_who_it_is(void **state)
{
	struct refx_identity id;
	int k, r;

	(void)state;
	memset(&id, 0, sizeof(id));
	for (k = 0; k < REFX_KIND_COUNT; k++)
		for (r = 0; r < REFX_ROLE_COUNT; r++) {
			id.id_kind = (enum refx_kind)k;
			id.id_role = (enum refx_role)r;
			assert_true(access_allows(&id, ACTION_WHOAMI));
			assert_true(access_allows(&id, ACTION_HEALTH));
			assert_true(access_allows(&id, ACTION_DIRECTORY));
			assert_true(access_allows(&id, ACTION_POLICY));
		}
}

/* Who, at which kind of unit, with which role. */
static struct refx_identity
person(enum refx_kind kind, enum refx_role role)
{
	struct refx_identity id;

	memset(&id, 0, sizeof(id));
	id.id_kind = kind;
	id.id_role = role;
	return (id);
}

static void
only_school_submitters_record_consent_and_submit(void **state)
{
	struct refx_identity id;
	int k, r;

	(void)state;
	for (k = 0; k < REFX_KIND_COUNT; k++)
		for (r = 0; r < REFX_ROLE_COUNT; r++) {
			int want = (k == REFX_KIND_SCHOOL &&
			    r == REFX_ROLE_SUBMITTER);

			id = person((enum refx_kind)k, (enum refx_role)r);
			assert_int_equal(access_allows(&id,
			    ACTION_REFERRAL_SUBMIT), want);
			assert_int_equal(access_allows(&id,
			    ACTION_CONSENT_RECORD), want);
			assert_int_equal(access_allows(&id,
			    ACTION_CONSENT_WITHDRAW), want);
		}
}

static void
auditors_and_admins_never_reach_case_content(void **state)
{
	static const enum access_action content[] = { ACTION_REFERRAL_PULL,
	    ACTION_REFERRAL_LIST, ACTION_CONSENT_SHOW, ACTION_CONSENT_LIST,
	    ACTION_REFERRAL_SUBMIT, ACTION_CONSENT_RECORD };
	struct refx_identity id;
	size_t i;
	int k;

	(void)state;
	for (k = 0; k < REFX_KIND_COUNT; k++)
		for (i = 0; i < sizeof(content) / sizeof(content[0]); i++) {
			id = person((enum refx_kind)k, REFX_ROLE_AUDITOR);
			assert_false(access_allows(&id, content[i]));
			id = person((enum refx_kind)k, REFX_ROLE_ADMIN);
			assert_false(access_allows(&id, content[i]));
		}
	/* Caseworkers pull (their own unit's packet, checked later). */
	id = person(REFX_KIND_BUP, REFX_ROLE_CASEWORKER);
	assert_true(access_allows(&id, ACTION_REFERRAL_PULL));
	assert_false(access_allows(&id, ACTION_REFERRAL_SUBMIT));
}

/*
 * The case flow: the recipient's caseworkers answer, the school's
 * submitters report back and cancel, everyone on a case reads it; never
 * auditors, admins or a supervisor's staff.  Every cell is checked.
 */
static void
case_steps_by_role_and_kind(void **state)
{
	static const enum access_action answer[] = { ACTION_CASE_ACCEPT,
	    ACTION_CASE_DECLINE, ACTION_CASE_ADVISE, ACTION_CASE_CLOSE };
	static const enum access_action report[] = { ACTION_CASE_FOLLOW_UP,
	    ACTION_CASE_CANCEL };
	struct refx_identity id;
	size_t i;
	int k, r, want;

	(void)state;
	for (k = 0; k < REFX_KIND_COUNT; k++)
		for (r = 0; r < REFX_ROLE_COUNT; r++) {
			id = person((enum refx_kind)k, (enum refx_role)r);
			for (i = 0; i < sizeof(answer) / sizeof(answer[0]);
			    i++) {
				want = r == REFX_ROLE_CASEWORKER &&
				    k != REFX_KIND_SUPERVISOR;
				assert_int_equal(access_allows(&id, answer[i]),
				    want);
			}
			for (i = 0; i < sizeof(report) / sizeof(report[0]);
			    i++) {
				want = r == REFX_ROLE_SUBMITTER &&
				    k == REFX_KIND_SCHOOL;
				assert_int_equal(access_allows(&id, report[i]),
				    want);
			}
			want = r == REFX_ROLE_SUBMITTER ||
			    r == REFX_ROLE_CASEWORKER;
			assert_int_equal(access_allows(&id, ACTION_CASE_READ),
			    want);
		}
}

static void
fails_closed(void **state)
{
	struct refx_identity id;

	(void)state;
	memset(&id, 0, sizeof(id));
	assert_false(access_allows(NULL, ACTION_WHOAMI));
	assert_false(access_allows(&id, ACTION_COUNT));
	assert_false(access_allows(&id, (enum access_action)-1));
	id.id_role = REFX_ROLE_COUNT;
	assert_false(access_allows(&id, ACTION_WHOAMI));
	id.id_role = REFX_ROLE_ADMIN;
	id.id_kind = (enum refx_kind)42;
	assert_false(access_allows(&id, ACTION_WHOAMI));
	assert_string_equal(access_action_name(ACTION_COUNT), "?");
}

static void
routes_match_exactly(void **state)
{
	char param[PARAM_MAX + 1];
	const char *allow;
	const struct route *rt;

	(void)state;
	rt = routes_match("GET", "/v1/whoami", param, &allow);
	assert_non_null(rt);
	assert_int_equal(rt->rt_action, ACTION_WHOAMI);
	assert_null(routes_match("GET", "/v1/whoami/", param, &allow));
	assert_null(allow);
	assert_null(routes_match("GET", "/v1/whoam", param, &allow));
	assert_null(routes_match("GET", "/v1/../v1/whoami", param, &allow));
	assert_null(routes_match("GET", "", param, &allow));
	/* Known path, wrong method: 405 with the allowed method. */
	assert_null(routes_match("POST", "/v1/health", param, &allow));
	assert_non_null(allow);
	assert_string_equal(allow, "GET");

	/* "overdue" is its own route, not a case id. */
	rt = routes_match("GET", "/v1/cases/overdue", param, &allow);
	assert_non_null(rt);
	assert_int_equal(rt->rt_action, ACTION_CASE_READ);
	assert_string_equal(param, "");
	rt = routes_match("POST", "/v1/cases/0123abcd/advise", param, &allow);
	assert_non_null(rt);
	assert_int_equal(rt->rt_action, ACTION_CASE_ADVISE);
	assert_string_equal(param, "0123abcd");
	assert_null(routes_match("POST", "/v1/cases/0123abcd/reopen", param,
	    &allow));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_role_of_every_kind_may_ask_who_it_is),
		cmocka_unit_test(
		    only_school_submitters_record_consent_and_submit),
		cmocka_unit_test(auditors_and_admins_never_reach_case_content),
		cmocka_unit_test(case_steps_by_role_and_kind),
		cmocka_unit_test(fails_closed),
		cmocka_unit_test(routes_match_exactly),
	};

	return (cmocka_run_group_tests_name("refxd policy and routes", tests,
	    NULL, NULL));
}
