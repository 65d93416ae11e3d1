#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <sodium.h>

#include "refx/secret.h"

/**
 * refx_crypto_init(): Initialise libsodium and disable core dumps (a core
 * file would hold keys).  Call first in main().  Return 0 or -1.
 */
int
refx_crypto_init(void)
{
	struct rlimit rl = { 0, 0 };

	if (sodium_init() < 0)
		return (-1);
	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		return (-1);
	refx_json_wipe_enable();
	return (0);
}

/** refx_wipe(p, n): Zero ${n} bytes at ${p} in a way the compiler keeps. */
void
refx_wipe(void *p, size_t n)
{

	if (p != NULL)
		sodium_memzero(p, n);
}

/**
 * refx_ct_equal(a, b, n): Return 1 if the ${n} bytes at ${a} and ${b} are
 * equal, 0 otherwise, in time independent of their contents.
 */
int
refx_ct_equal(const void *a, const void *b, size_t n)
{

	return (sodium_memcmp(a, b, n) == 0);
}

/**
 * refx_hex(out, outlen, in, inlen): Write lower-case hex of ${in} to
 * ${out}, NUL-terminated.  ${outlen} must be at least 2 * inlen + 1.
 * Return ${out}.
 */
char *
refx_hex(char *out, size_t outlen, const uint8_t *in, size_t inlen)
{

	return (sodium_bin2hex(out, outlen, in, inlen));
}

/** refx_hex_valid(s, n): 1 if ${s} is exactly ${n} lower-case hex digits. */
int
refx_hex_valid(const char *s, size_t n)
{
	size_t i;

	if (strlen(s) != n)
		return (0);
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return (0);
	return (1);
}

/** refx_random(buf, n): Fill ${buf} with ${n} random bytes. */
void
refx_random(void *buf, size_t n)
{

	randombytes_buf(buf, n);
}

/**
 * refx_b64_encode(in, len): Standard base64 (with padding) of ${in}, as a
 * new NUL-terminated string (caller frees), or NULL.
 */
char *
refx_b64_encode(const uint8_t *in, size_t len)
{
	size_t n;
	char *out;

	if (len > (SIZE_MAX / 4) * 3 - 3)
		return (NULL);
	n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	if ((out = malloc(n)) == NULL)
		return (NULL);
	sodium_bin2base64(out, n, in, len, sodium_base64_VARIANT_ORIGINAL);
	return (out);
}

/**
 * refx_b64_decode(in, max, out, outlen): Decode the standard base64
 * string ${in} (no whitespace) into a new buffer (caller frees), refusing
 * results longer than ${max} bytes.  Return 0 or -1.
 */
int
refx_b64_decode(const char *in, size_t max, uint8_t **out, size_t *outlen)
{
	size_t inlen = strlen(in), cap, n;
	const char *end;
	uint8_t *buf;

	/* Padded base64: 4 characters per 3 bytes, '=' for the shortfall. */
	if (inlen % 4 != 0)
		return (-1);
	cap = inlen / 4 * 3;
	if (inlen > 0 && in[inlen - 1] == '=')
		cap--;
	if (inlen > 1 && in[inlen - 2] == '=')
		cap--;
	if (cap > max)
		return (-1);
	if ((buf = malloc(cap + 1)) == NULL)
		return (-1);
	if (sodium_base642bin(buf, cap + 1, in, inlen, NULL, &n, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || end != in + inlen ||
	    n > max) {
		free(buf);
		return (-1);
	}
	buf[n] = 0;
	*out = buf;
	*outlen = n;
	return (0);
}

/** refx_sha256_hex(in, len, out): Lower-case hex SHA-256 of ${in}. */
void
refx_sha256_hex(const uint8_t *in, size_t len, char out[65])
{
	uint8_t h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, in, len);
	sodium_bin2hex(out, 65, h, sizeof(h));
}
