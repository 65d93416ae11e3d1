/* Audit entries: one canonical encoding, decoded strictly. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "refx/audit.h"

static void
sample(struct refx_audit_entry *e)
{

	memset(e, 0, sizeof(*e));
	e->ae_index = 41;
	e->ae_time_ms = 1795458636123ULL;
	memset(e->ae_event, 0xab, sizeof(e->ae_event));
	e->ae_action = REFX_AUDIT_REFERRAL_PULL;
	e->ae_outcome = REFX_AUDIT_ALLOWED;
	e->ae_status = 200;
	strcpy(e->ae_actor_unit, "dalarna-bup");
	e->ae_actor_kind = 2;
	e->ae_actor_role = 1;
	strcpy(e->ae_actor_person, "bjorn.akesson");
	memset(e->ae_actor_cert, 0x11, sizeof(e->ae_actor_cert));
	strcpy(e->ae_object_type, "referral");
	strcpy(e->ae_object_id, "0123456789abcdef0123456789abcdef");
	strcpy(e->ae_other_unit, "ludvika-school-1");
	e->ae_classes = REFX_CLASS_BIT(REFX_CLASS_IDENTITY) |
	    REFX_CLASS_BIT(REFX_CLASS_DIAGNOSES);
	strcpy(e->ae_basis, "consent");
	strcpy(e->ae_request_id, "feedface");
	e->ae_count = 1;
	memset(e->ae_salt, 0x5a, sizeof(e->ae_salt));
}

static void
round_trip(void **state)
{
	struct refx_audit_entry e, d;
	uint8_t buf[REFX_AUDIT_ENTRY_MAX], buf2[REFX_AUDIT_ENTRY_MAX];
	size_t len, len2;

	(void)state;
	sample(&e);
	assert_int_equal(refx_audit_encode(&e, buf, &len), 0);
	assert_memory_equal(buf, REFX_AUDIT_NAMESPACE,
	    sizeof(REFX_AUDIT_NAMESPACE));
	assert_int_equal(refx_audit_decode(buf, len, &d), 0);
	assert_int_equal(d.ae_index, 41);
	assert_true(d.ae_time_ms == 1795458636123ULL);
	assert_int_equal(d.ae_action, REFX_AUDIT_REFERRAL_PULL);
	assert_string_equal(d.ae_actor_person, "bjorn.akesson");
	assert_string_equal(d.ae_other_unit, "ludvika-school-1");
	assert_int_equal(d.ae_classes, e.ae_classes);
	assert_memory_equal(d.ae_salt, e.ae_salt, sizeof(e.ae_salt));
	/* Canonical: decoding and encoding again gives the same bytes. */
	assert_int_equal(refx_audit_encode(&d, buf2, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(buf2, buf, len);
}

static void
decoding_is_strict(void **state)
{
	struct refx_audit_entry e, d;
	uint8_t buf[REFX_AUDIT_ENTRY_MAX + 1];
	size_t len, i;

	(void)state;
	sample(&e);
	assert_int_equal(refx_audit_encode(&e, buf, &len), 0);
	/* Every truncation fails; so does one trailing byte. */
	for (i = 0; i < len; i++)
		assert_int_equal(refx_audit_decode(buf, i, &d), -1);
	buf[len] = 0;
	assert_int_equal(refx_audit_decode(buf, len + 1, &d), -1);
	/* Another namespace fails. */
	buf[0] ^= 1;
	assert_int_equal(refx_audit_decode(buf, len, &d), -1);
	buf[0] ^= 1;
	/* An unknown action fails. */
	buf[sizeof(REFX_AUDIT_NAMESPACE) + 8 + 8 + 16] = 0xee;
	assert_int_equal(refx_audit_decode(buf, len, &d), -1);
}

static void
encoding_refuses_forgery_characters(void **state)
{
	struct refx_audit_entry e;
	uint8_t buf[REFX_AUDIT_ENTRY_MAX];
	size_t len;

	(void)state;
	sample(&e);
	strcpy(e.ae_reason, "denied\nrefxd: granted");
	assert_int_equal(refx_audit_encode(&e, buf, &len), -1);
	sample(&e);
	strcpy(e.ae_actor_person, "bad\xc3");	/* truncated UTF-8 */
	assert_int_equal(refx_audit_encode(&e, buf, &len), -1);
	sample(&e);
	strcpy(e.ae_other_unit, "a\xe2\x80\xae" "b");	/* RLO */
	assert_int_equal(refx_audit_encode(&e, buf, &len), -1);
	sample(&e);
	strcpy(e.ae_reason, "del\x7f");		/* DEL, at the ASCII edge */
	assert_int_equal(refx_audit_encode(&e, buf, &len), -1);
	sample(&e);
	strcpy(e.ae_reason, "us\x1f");		/* below space */
	assert_int_equal(refx_audit_encode(&e, buf, &len), -1);
	sample(&e);
	strcpy(e.ae_reason, "nel\xc2\x85");	/* C1 control NEL */
	assert_int_equal(refx_audit_encode(&e, buf, &len), -1);
	sample(&e);
	strcpy(e.ae_reason, "~ åäö \xe2\x82\xac");	/* edge and non-ASCII */
	assert_int_equal(refx_audit_encode(&e, buf, &len), 0);
	/* Decoding checks the same: a DEL written into an entry fails it. */
	{
		uint8_t *at = memmem(buf, len, "~ \xc3\xa5", 4);

		assert_non_null(at);
		*at = 0x7f;
		assert_int_equal(refx_audit_decode(buf, len, &e), -1);
		*at = '~';
		assert_int_equal(refx_audit_decode(buf, len, &e), 0);
	}
	sample(&e);
	e.ae_action = REFX_AUDIT_ACTION_COUNT;
	assert_int_equal(refx_audit_encode(&e, buf, &len), -1);
}

static void
names(void **state)
{
	enum refx_audit_action a;
	int i;

	(void)state;
	for (i = 0; i < REFX_AUDIT_ACTION_COUNT; i++) {
		assert_int_equal(refx_audit_action_parse(
		    refx_audit_action_name((enum refx_audit_action)i), &a), 0);
		assert_int_equal(a, i);
	}
	assert_int_equal(refx_audit_action_parse("nope", &a), -1);
	assert_string_equal(refx_audit_outcome_name(REFX_AUDIT_DENIED),
	    "denied");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(decoding_is_strict),
		cmocka_unit_test(encoding_refuses_forgery_characters),
		cmocka_unit_test(names),
	};

	return (cmocka_run_group_tests_name("audit entry", tests, NULL, NULL));
}
