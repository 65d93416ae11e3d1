/* Which roles reach which action; unknown actions fail closed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "../../server/policy.h"
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
			assert_true(policy_allows(&id, ACTION_WHOAMI));
			assert_true(policy_allows(&id, ACTION_HEALTH));
			assert_true(policy_allows(&id, ACTION_DIRECTORY));
		}
}

static void
fails_closed(void **state)
{
	struct refx_identity id;

	(void)state;
	memset(&id, 0, sizeof(id));
	assert_false(policy_allows(NULL, ACTION_WHOAMI));
	assert_false(policy_allows(&id, ACTION_COUNT));
	assert_false(policy_allows(&id, (enum policy_action)-1));
	id.id_role = REFX_ROLE_COUNT;
	assert_false(policy_allows(&id, ACTION_WHOAMI));
	id.id_role = REFX_ROLE_ADMIN;
	id.id_kind = (enum refx_kind)42;
	assert_false(policy_allows(&id, ACTION_WHOAMI));
	assert_string_equal(policy_action_name(ACTION_COUNT), "?");
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
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_role_of_every_kind_may_ask_who_it_is),
		cmocka_unit_test(fails_closed),
		cmocka_unit_test(routes_match_exactly),
	};

	return (cmocka_run_group_tests_name("refxd policy and routes", tests,
	    NULL, NULL));
}
