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

/** refx_random(buf, n): Fill ${buf} with ${n} random bytes. */
void
refx_random(void *buf, size_t n)
{

	randombytes_buf(buf, n);
}
