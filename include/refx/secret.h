#ifndef REFX_SECRET_H
#define REFX_SECRET_H

/*
 * The few libsodium helpers every program needs; the rest of the code
 * does not include <sodium.h> for these.
 */
#include <stddef.h>
#include <stdint.h>

/**
 * refx_crypto_init(): Initialise libsodium and disable core dumps (a core
 * file would hold keys).  Call first in main().  Return 0 or -1.
 */
int refx_crypto_init(void) __attribute__((warn_unused_result));

/**
 * refx_json_wipe_enable(): Make jansson zero every block it frees (its
 * copies of parsed strings may be personal data or keys).  Called by
 * refx_crypto_init, so before any JSON is parsed.
 */
void refx_json_wipe_enable(void);

/** refx_wipe(p, n): Zero ${n} bytes at ${p} in a way the compiler keeps. */
void refx_wipe(void *, size_t);

/**
 * refx_ct_equal(a, b, n): Return 1 if the ${n} bytes at ${a} and ${b} are
 * equal, 0 otherwise, in time independent of their contents.
 */
int refx_ct_equal(const void *, const void *, size_t);

/**
 * refx_hex(out, outlen, in, inlen): Write lower-case hex of ${in} to
 * ${out}, NUL-terminated.  ${outlen} must be at least 2 * inlen + 1.
 * Return ${out}.
 */
char *refx_hex(char *, size_t, const uint8_t *, size_t);

/** refx_hex_valid(s, n): 1 if ${s} is exactly ${n} lower-case hex digits. */
int refx_hex_valid(const char *, size_t);

/** refx_random(buf, n): Fill ${buf} with ${n} random bytes. */
void refx_random(void *, size_t);

/**
 * refx_b64_encode(in, len): Standard base64 (with padding) of ${in}, as a
 * new NUL-terminated string (caller frees), or NULL.
 */
char *refx_b64_encode(const uint8_t *, size_t);

/**
 * refx_b64_decode(in, max, out, outlen): Decode the standard base64
 * string ${in} (no whitespace) into a new buffer (caller frees), refusing
 * results longer than ${max} bytes.  Return 0 or -1.
 */
int refx_b64_decode(const char *, size_t, uint8_t **, size_t *)
    __attribute__((warn_unused_result));

/** refx_sha256_hex(in, len, out): Lower-case hex SHA-256 of ${in}. */
void refx_sha256_hex(const uint8_t *, size_t, char[65]);

#endif /* !REFX_SECRET_H */
