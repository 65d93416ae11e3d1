/* Identity rules: what a certificate subject may and may not say. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "refx/identity.h"

static void
kinds_and_roles_round_trip(void **state)
{
	enum refx_kind k;
	enum refx_role r;
	int i;

	(void)state;
	for (i = 0; i < REFX_KIND_COUNT; i++) {
		assert_int_equal(refx_kind_parse(refx_kind_name(
		    (enum refx_kind)i), &k), 0);
		assert_int_equal(k, i);
	}
	for (i = 0; i < REFX_ROLE_COUNT; i++) {
		assert_int_equal(refx_role_parse(refx_role_name(
		    (enum refx_role)i), &r), 0);
		assert_int_equal(r, i);
	}
	assert_int_equal(refx_kind_parse("police", &k), -1);
	assert_int_equal(refx_kind_parse("IFO", &k), -1);
	assert_int_equal(refx_kind_parse(NULL, &k), -1);
	assert_int_equal(refx_role_parse("root", &r), -1);
	assert_int_equal(refx_role_parse("", &r), -1);
	assert_string_equal(refx_kind_name((enum refx_kind)99), "?");
	assert_string_equal(refx_role_name((enum refx_role)-1), "?");
}

static void
agency_ids(void **state)
{
	char long_id[80];

	(void)state;
	assert_true(refx_agency_id_valid("ludvika-ifo-intake"));
	assert_true(refx_agency_id_valid("a"));
	assert_true(refx_agency_id_valid("bup2"));
	assert_false(refx_agency_id_valid(""));
	assert_false(refx_agency_id_valid(NULL));
	assert_false(refx_agency_id_valid("-ifo"));
	assert_false(refx_agency_id_valid("ifo-"));
	assert_false(refx_agency_id_valid("Ludvika"));
	assert_false(refx_agency_id_valid("ifo intake"));
	assert_false(refx_agency_id_valid("ifo/../x"));
	assert_false(refx_agency_id_valid("ifo\n"));
	memset(long_id, 'a', 63);
	long_id[63] = '\0';
	assert_true(refx_agency_id_valid(long_id));
	long_id[63] = 'a';
	long_id[64] = '\0';
	assert_false(refx_agency_id_valid(long_id));
}

static void
person_ids(void **state)
{

	(void)state;
	assert_true(refx_person_id_valid("anna.berg"));
	assert_true(refx_person_id_valid("a_b-c.9"));
	assert_false(refx_person_id_valid(".anna"));
	assert_false(refx_person_id_valid("Anna"));
	assert_false(refx_person_id_valid("anna berg"));
	assert_false(refx_person_id_valid(""));
}

static void
names_reject_forgery_characters(void **state)
{
	char big[200];

	(void)state;
	assert_true(refx_name_valid("Björn Åkesson"));
	assert_true(refx_name_valid("Region Dalarna, BUP"));
	assert_false(refx_name_valid(""));
	assert_false(refx_name_valid(" Anna"));
	assert_false(refx_name_valid("Anna "));
	assert_false(refx_name_valid("Anna\nBerg"));		/* log forging */
	assert_false(refx_name_valid("Anna\x1b[31mBerg"));	/* ANSI */
	assert_false(refx_name_valid("Anna\xe2\x80\xa8" "Berg"));	/* U+2028 */
	assert_false(refx_name_valid("Anna\xe2\x80\xae" "greB"));	/* RLO */
	assert_false(refx_name_valid("\xc0\xae"));		/* overlong */
	assert_false(refx_name_valid("\xed\xa0\x80"));		/* surrogate */
	assert_false(refx_name_valid("\xf4\x90\x80\x80"));	/* > U+10FFFF */
	assert_false(refx_name_valid("Bj\xc3"));		/* truncated */
	assert_false(refx_name_valid("\xc2\x85"));		/* C1 NEL */
	memset(big, 'x', 128);
	big[128] = '\0';
	assert_true(refx_name_valid(big));
	big[128] = 'x';
	big[129] = '\0';
	assert_false(refx_name_valid(big));
}

static void
person_id_from_name(void **state)
{
	char out[REFX_PERSON_ID_MAX + 1];

	(void)state;
	assert_int_equal(refx_person_id_from_name("Åsa Öberg", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "asa.oberg");
	assert_int_equal(refx_person_id_from_name("Björn  Åkesson-Lind",
	    out, sizeof(out)), 0);
	assert_string_equal(out, "bjorn.akesson.lind");
	assert_int_equal(refx_person_id_from_name("   ", out, sizeof(out)),
	    -1);
	assert_int_equal(refx_person_id_from_name("\xe4\xb8\xad", out,
	    sizeof(out)), -1);
	assert_int_equal(refx_person_id_from_name("Ab", out, 2), 0);
	assert_string_equal(out, "a");
}

static void
identity_from_subject(void **state)
{
	struct refx_identity id;
	const char *why = NULL;

	(void)state;
	memset(&id, 0, sizeof(id));
	assert_int_equal(refx_identity_from_subject("dalarna-bup", "bup",
	    "caseworker", "bjorn.akesson", "Björn Åkesson", &id, &why),
	    REFX_OK);
	assert_string_equal(id.id_agency, "dalarna-bup");
	assert_int_equal(id.id_kind, REFX_KIND_BUP);
	assert_int_equal(id.id_role, REFX_ROLE_CASEWORKER);
	assert_string_equal(id.id_person, "bjorn.akesson");
	assert_string_equal(id.id_name, "Björn Åkesson");

	/* Each part is checked, and the reason names it. */
	assert_int_equal(refx_identity_from_subject("Dalarna BUP", "bup",
	    "caseworker", "b", "B", &id, &why), REFX_EINVAL);
	assert_non_null(strstr(why, "agency"));
	assert_int_equal(refx_identity_from_subject("dalarna-bup", "hospital",
	    "caseworker", "b", "B", &id, &why), REFX_EINVAL);
	assert_non_null(strstr(why, "kind"));
	assert_int_equal(refx_identity_from_subject("dalarna-bup", "bup",
	    "superuser", "b", "B", &id, &why), REFX_EINVAL);
	assert_non_null(strstr(why, "role"));
	assert_int_equal(refx_identity_from_subject("dalarna-bup", "bup",
	    "caseworker", NULL, "B", &id, &why), REFX_EINVAL);
	assert_non_null(strstr(why, "person"));
	assert_int_equal(refx_identity_from_subject("dalarna-bup", "bup",
	    "caseworker", "b", "B\r\nrefxd: granted", &id, &why),
	    REFX_EINVAL);
	assert_non_null(strstr(why, "name"));
}

static void
quoting_peer_strings(void **state)
{
	char s[] = "a\x1b[31m\xc3\xa5z";

	(void)state;
	assert_string_equal(refx_quotable("dalarna-bup"), "dalarna-bup");
	assert_string_equal(refx_quotable("Bad Key"), "(unprintable)");
	assert_string_equal(refx_quotable("x\xe2\x80\xaey"), "(unprintable)");
	assert_string_equal(refx_quotable(""), "(unprintable)");
	assert_string_equal(refx_quotable(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), "(unprintable)");
	refx_ascii_scrub(s);
	assert_string_equal(s, "a?[31m??z");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kinds_and_roles_round_trip),
		cmocka_unit_test(agency_ids),
		cmocka_unit_test(person_ids),
		cmocka_unit_test(names_reject_forgery_characters),
		cmocka_unit_test(person_id_from_name),
		cmocka_unit_test(identity_from_subject),
		cmocka_unit_test(quoting_peer_strings),
	};

	return (cmocka_run_group_tests_name("identity", tests, NULL, NULL));
}
