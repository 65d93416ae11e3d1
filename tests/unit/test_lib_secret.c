/* libsodium helpers: base64 at its exact bounds, constant-time compare. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "refx/secret.h"

static int
setup(void **state)
{

	(void)state;
	return (refx_crypto_init());
}

static void
b64_round_trip_at_every_length(void **state)
{
	uint8_t in[70], *out;
	size_t n, len;
	char *b;

	(void)state;
	for (n = 0; n < sizeof(in); n++) {
		refx_random(in, n);
		assert_non_null(b = refx_b64_encode(in, n));
		/* A limit of exactly n bytes must admit n bytes... */
		assert_int_equal(refx_b64_decode(b, n, &out, &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(out, in, n);
		free(out);
		/* ...and one byte less must refuse them. */
		if (n > 0)
			assert_int_equal(refx_b64_decode(b, n - 1, &out, &len),
			    -1);
		free(b);
	}
}

static void
b64_refuses_malformed(void **state)
{
	uint8_t *out;
	size_t len;

	(void)state;
	assert_int_equal(refx_b64_decode("AAA", 10, &out, &len), -1);
	assert_int_equal(refx_b64_decode("AA A", 10, &out, &len), -1);
	assert_int_equal(refx_b64_decode("AA\nA", 10, &out, &len), -1);
	assert_int_equal(refx_b64_decode("AA==AA==", 10, &out, &len), -1);
	assert_int_equal(refx_b64_decode("A-_A", 10, &out, &len), -1);
	assert_int_equal(refx_b64_decode("", 10, &out, &len), 0);
	assert_int_equal(len, 0);
	free(out);
}

static void
compare_and_hash(void **state)
{
	char hex[65];

	(void)state;
	assert_true(refx_ct_equal("abcd", "abcd", 4));
	assert_false(refx_ct_equal("abcd", "abce", 4));
	refx_sha256_hex((const uint8_t *)"abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(b64_round_trip_at_every_length),
		cmocka_unit_test(b64_refuses_malformed),
		cmocka_unit_test(compare_and_hash),
	};

	return (cmocka_run_group_tests_name("secret", tests, setup, NULL));
}
