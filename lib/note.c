/*
 * C2SP signed notes, tlog checkpoints and tlog cosignatures with Ed25519
 * (docs/internals/note.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "refx/identity.h"
#include "refx/note.h"

/* Signature lines: U+2014 (em dash), a space, name, a space, base64. */
#define SIG_PREFIX	"\xe2\x80\x94 "
#define SIG_PREFIX_LEN	(sizeof(SIG_PREFIX) - 1)

/* Signature payloads, before base64. */
#define ID_LEN		4			/* key id, big-endian */
#define TIME_LEN	8			/* cosignature time, BE */
#define SIG_LEN		crypto_sign_BYTES
#define ED25519_PAYLOAD	(ID_LEN + SIG_LEN)		/* 68 bytes */
#define COSIG_PAYLOAD	(ID_LEN + TIME_LEN + SIG_LEN)	/* 76 bytes */
#define PAYLOAD_MAX	COSIG_PAYLOAD		/* bytes kept per line */
#define DECODE_MAX	(REFX_NOTE_MAX / 4 * 3)	/* any base64 in a note */

/* Base64 text of ${n} bytes, without the NUL. */
#define B64_LEN(n)	(sodium_base64_ENCODED_LEN((n), \
			    sodium_base64_VARIANT_ORIGINAL) - 1)
#define ROOT_B64_LEN	B64_LEN(REFX_CHECKPOINT_HASH_LEN)
#define VKEY_B64_LEN	B64_LEN(1 + REFX_NOTE_PK_LEN)

/* The cosigned message: COSIG_HEADER time "\n" text. */
#define COSIG_HEADER	"cosignature/v1\ntime "
#define U64_DIGITS	20			/* decimal digits of 2^64 - 1 */
#define COSIG_HDR_MAX	(sizeof(COSIG_HEADER) - 1 + U64_DIGITS + 1)

_Static_assert(REFX_NOTE_SEED_LEN == crypto_sign_SEEDBYTES, "seed size");
_Static_assert(REFX_NOTE_PK_LEN == crypto_sign_PUBLICKEYBYTES, "pk size");
_Static_assert(REFX_NOTE_SK_LEN == crypto_sign_SECRETKEYBYTES, "sk size");
_Static_assert(REFX_NOTE_VKEY_MAX == REFX_NOTE_NAME_MAX + 1 + 2 * ID_LEN +
    1 + VKEY_B64_LEN + 1, "vkey size");
_Static_assert(REFX_NOTE_MAX_SIGS >= 16, "C2SP: accept at least 16");

struct refx_note_key {
	char		 nk_name[REFX_NOTE_NAME_MAX + 1];
	size_t		 nk_namelen;
	enum refx_note_type nk_type;
	uint32_t	 nk_id;
	uint8_t		 nk_pk[REFX_NOTE_PK_LEN];
	uint8_t		*nk_sk;		/* sodium_malloc'd, or NULL */
};

/* One signature line of a parsed note. */
struct sigline {
	const char	*sl_name;	/* in the note, not NUL-terminated */
	size_t		 sl_namelen;
	uint32_t	 sl_id;
	size_t		 sl_len;	/* bytes of the decoded payload */
	uint8_t		 sl_payload[PAYLOAD_MAX];	/* its first bytes */
};

/* A parsed note; it points into the caller's buffer. */
struct parsed {
	const char	*p_text;
	size_t		 p_textlen;	/* including the final '\n' */
	size_t		 p_nsig;
	struct sigline	 p_sig[REFX_NOTE_MAX_SIGS];
};

static uint32_t
be32dec(const uint8_t *p)
{

	return (((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | (uint32_t)p[3]);
}

static void
be32enc(uint8_t *p, uint32_t x)
{

	p[0] = (uint8_t)(x >> 24);
	p[1] = (uint8_t)(x >> 16);
	p[2] = (uint8_t)(x >> 8);
	p[3] = (uint8_t)x;
}

static uint64_t
be64dec(const uint8_t *p)
{

	return (((uint64_t)be32dec(p) << 32) | be32dec(p + 4));
}

static void
be64enc(uint8_t *p, uint64_t x)
{

	be32enc(p, (uint32_t)(x >> 32));
	be32enc(p + 4, (uint32_t)x);
}

/* Write ${x} in decimal, without NUL, to ${out}; return the length. */
static size_t
u64_fmt(char out[U64_DIGITS], uint64_t x)
{
	char tmp[U64_DIGITS];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + x % 10);
		x /= 10;
	} while (x != 0);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return (n);
}

/*
 * Parse the ${n} bytes at ${s} as a decimal number without sign or
 * leading zeros ("0" alone is zero).  Return 0 or -1.
 */
static int
u64_parse(const char *s, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	unsigned d;
	size_t i;

	if (n == 0 || n > U64_DIGITS || (s[0] == '0' && n > 1))
		return (-1);
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		d = (unsigned)(s[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return (-1);
		x = x * 10 + d;
	}
	*out = x;
	return (0);
}

/*
 * Decode the ${n} characters of standard, padded base64 at ${s} into at
 * most ${max} bytes at ${out}, length in ${outlen}.  libsodium refuses
 * any other character, missing or extra padding and non-zero spare bits,
 * so each byte string has one encoding.  Return 0 or -1.
 */
static int
b64_dec(uint8_t *out, size_t max, const char *s, size_t n, size_t *outlen)
{

	if (sodium_base642bin(out, max, s, n, NULL, outlen, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0)
		return (-1);
	return (0);
}

/* Is ${c} a control character: C0, DEL or C1? */
static int
is_control(unsigned long c)
{

	return (c < 0x20 || (c >= 0x7f && c <= 0x9f));
}

/* Is ${c} a Unicode space (White_Space, as Go's unicode.IsSpace)? */
static int
is_space(unsigned long c)
{

	return ((c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 ||
	    c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
	    c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
	    c == 0x3000);
}

/*
 * Are the ${n} bytes at ${s} a key name or origin: 1-REFX_NOTE_NAME_MAX
 * bytes of UTF-8 without spaces, '+' or control characters?
 */
static int
name_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned long c;
	size_t k;

	if (n == 0 || n > REFX_NOTE_NAME_MAX)
		return (0);
	while (n > 0) {
		if ((k = refx_utf8_decode(p, n, &c)) == 0 || is_control(c) ||
		    is_space(c) || c == '+')
			return (0);
		p += k;
		n -= k;
	}
	return (1);
}

/*
 * Are the ${n} bytes at ${s} note text: non-empty UTF-8 without control
 * characters other than '\n' (C1 and DEL included), ending in '\n'?
 */
static int
text_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned long c;
	size_t k;

	if (n == 0 || s[n - 1] != '\n')
		return (0);
	while (n > 0) {
		if ((k = refx_utf8_decode(p, n, &c)) == 0 ||
		    (c != '\n' && is_control(c)))
			return (0);
		p += k;
		n -= k;
	}
	return (1);
}

/* SHA-256(name || 0x0A || type || pk)[:4], big-endian. */
static uint32_t
key_id(const char *name, size_t namelen, enum refx_note_type type,
    const uint8_t pk[REFX_NOTE_PK_LEN])
{
	crypto_hash_sha256_state st;
	uint8_t h[crypto_hash_sha256_BYTES];
	const uint8_t sep[2] = { '\n', (uint8_t)type };

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)name, namelen);
	crypto_hash_sha256_update(&st, sep, sizeof(sep));
	crypto_hash_sha256_update(&st, pk, REFX_NOTE_PK_LEN);
	crypto_hash_sha256_final(&st, h);
	return (be32dec(h));
}

/* A key of ${type} named by the ${namelen} bytes at ${name}, no secret. */
static struct refx_note_key *
key_new(const char *name, size_t namelen, enum refx_note_type type,
    const uint8_t pk[REFX_NOTE_PK_LEN])
{
	struct refx_note_key *k;

	/* libsodium must be initialised before we hash, sign or verify. */
	if (sodium_init() < 0)
		goto err0;
	if (!name_valid(name, namelen))
		goto err0;
	if (type != REFX_NOTE_ED25519 && type != REFX_NOTE_COSIG_V1)
		goto err0;
	if ((k = malloc(sizeof(*k))) == NULL)
		goto err0;
	memcpy(k->nk_name, name, namelen);
	k->nk_name[namelen] = '\0';
	k->nk_namelen = namelen;
	k->nk_type = type;
	memcpy(k->nk_pk, pk, REFX_NOTE_PK_LEN);
	k->nk_id = key_id(name, namelen, type, pk);
	k->nk_sk = NULL;

	/* Success! */
	return (k);

err0:
	/* Failure! */
	return (NULL);
}

/**
 * refx_note_key_from_seed(name, type, seed): A signing key of ${type}
 * named ${name}, from the 32-byte Ed25519 ${seed}.  Return it, or NULL if
 * the name is invalid (empty, more than REFX_NOTE_NAME_MAX bytes, not
 * UTF-8, or holding a space, '+' or control character), the type unknown
 * or memory short.  The caller wipes its ${seed}.
 */
struct refx_note_key *
refx_note_key_from_seed(const char *name, enum refx_note_type type,
    const uint8_t seed[REFX_NOTE_SEED_LEN])
{
	struct refx_note_key *k;
	uint8_t pk[REFX_NOTE_PK_LEN];
	uint8_t *sk;

	/* The secret key goes straight into guarded memory. */
	if (sodium_init() < 0)
		goto err0;
	if ((sk = sodium_malloc(REFX_NOTE_SK_LEN)) == NULL)
		goto err0;
	if (crypto_sign_seed_keypair(pk, sk, seed) != 0)
		goto err1;
	if ((k = key_new(name, strnlen(name, REFX_NOTE_NAME_MAX + 1), type,
	    pk)) == NULL)
		goto err1;
	k->nk_sk = sk;

	/* Success! */
	return (k);

err1:
	sodium_free(sk);
err0:
	/* Failure! */
	return (NULL);
}

/**
 * refx_note_key_from_secret(name, type, sk): As refx_note_key_from_seed,
 * from a libsodium 64-byte secret key (seed || public key).  Return NULL
 * also if the public half does not belong to the seed.
 */
struct refx_note_key *
refx_note_key_from_secret(const char *name, enum refx_note_type type,
    const uint8_t sk[REFX_NOTE_SK_LEN])
{
	struct refx_note_key *k;
	uint8_t seed[REFX_NOTE_SEED_LEN];

	/* Rebuild the key from its seed, then check the public half. */
	crypto_sign_ed25519_sk_to_seed(seed, sk);
	k = refx_note_key_from_seed(name, type, seed);
	sodium_memzero(seed, sizeof(seed));
	if (k == NULL)
		goto err0;
	if (sodium_memcmp(k->nk_pk, sk + REFX_NOTE_SEED_LEN,
	    REFX_NOTE_PK_LEN) != 0)
		goto err1;

	/* Success! */
	return (k);

err1:
	refx_note_key_free(k);
err0:
	/* Failure! */
	return (NULL);
}

/**
 * refx_note_key_from_public(name, type, pk): A verifying key of ${type}
 * named ${name}.  Return it, or NULL as for refx_note_key_from_seed.
 */
struct refx_note_key *
refx_note_key_from_public(const char *name, enum refx_note_type type,
    const uint8_t pk[REFX_NOTE_PK_LEN])
{

	return (key_new(name, strnlen(name, REFX_NOTE_NAME_MAX + 1), type,
	    pk));
}

/**
 * refx_note_key_parse_vkey(vkey): The verifying key of the vkey text
 * ${vkey} (no surrounding whitespace): name "+" key id "+" base64(type ||
 * public key), of type 0x01 or 0x04.  The base64 may itself contain '+':
 * only the first two separate.  Return NULL if it is malformed or the
 * key id is not the one its name, type and key give.
 */
struct refx_note_key *
refx_note_key_parse_vkey(const char *vkey)
{
	struct refx_note_key *k;
	uint8_t bin[1 + REFX_NOTE_PK_LEN];
	const char *plus, *hex, *b64;
	size_t n, namelen, binlen, i;
	uint32_t id = 0;

	/* The name ends at the first '+': names cannot hold one. */
	if ((n = strnlen(vkey, REFX_NOTE_VKEY_MAX)) == REFX_NOTE_VKEY_MAX)
		goto err0;
	if ((plus = memchr(vkey, '+', n)) == NULL)
		goto err0;
	namelen = (size_t)(plus - vkey);

	/* Then 8 lower-case hex digits and the second '+'. */
	hex = plus + 1;
	if (n - namelen - 1 < 2 * ID_LEN + 1 || hex[2 * ID_LEN] != '+')
		goto err0;
	for (i = 0; i < 2 * ID_LEN; i++) {
		if (hex[i] >= '0' && hex[i] <= '9')
			id = (id << 4) | (uint32_t)(hex[i] - '0');
		else if (hex[i] >= 'a' && hex[i] <= 'f')
			id = (id << 4) | (uint32_t)(hex[i] - 'a' + 10);
		else
			goto err0;
	}

	/* The rest, '+' included, is the base64 of the type and key. */
	b64 = hex + 2 * ID_LEN + 1;
	if (b64_dec(bin, sizeof(bin), b64, (size_t)(vkey + n - b64),
	    &binlen) != 0 || binlen != sizeof(bin))
		goto err0;
	if ((k = key_new(vkey, namelen, (enum refx_note_type)bin[0],
	    bin + 1)) == NULL)
		goto err0;

	/* The key id is redundant: it must be the one we compute. */
	if (k->nk_id != id)
		goto err1;

	/* Success! */
	return (k);

err1:
	refx_note_key_free(k);
err0:
	/* Failure! */
	return (NULL);
}

/**
 * refx_note_key_vkey(key, out, outlen): Write the vkey text of ${key},
 * NUL-terminated, to ${out}.  Return 0, or -1 if ${outlen} is too small
 * (REFX_NOTE_VKEY_MAX always suffices).
 */
int
refx_note_key_vkey(const struct refx_note_key *key, char *out, size_t outlen)
{
	static const char xdigit[] = "0123456789abcdef";
	uint8_t bin[1 + REFX_NOTE_PK_LEN];
	size_t off, i;

	if (outlen < key->nk_namelen + 1 + 2 * ID_LEN + 1 + VKEY_B64_LEN + 1)
		return (-1);
	memcpy(out, key->nk_name, key->nk_namelen);
	off = key->nk_namelen;
	out[off++] = '+';
	for (i = 0; i < 2 * ID_LEN; i++)
		out[off++] = xdigit[(key->nk_id >> (28 - 4 * i)) & 0xf];
	out[off++] = '+';
	bin[0] = (uint8_t)key->nk_type;
	memcpy(bin + 1, key->nk_pk, REFX_NOTE_PK_LEN);
	sodium_bin2base64(out + off, outlen - off, bin, sizeof(bin),
	    sodium_base64_VARIANT_ORIGINAL);
	return (0);
}

/** refx_note_key_id(key): The key id of ${key}. */
uint32_t
refx_note_key_id(const struct refx_note_key *key)
{

	return (key->nk_id);
}

/** refx_note_key_name(key): The name of ${key}. */
const char *
refx_note_key_name(const struct refx_note_key *key)
{

	return (key->nk_name);
}

/** refx_note_key_type(key): The signature type of ${key}. */
enum refx_note_type
refx_note_key_type(const struct refx_note_key *key)
{

	return (key->nk_type);
}

/** refx_note_key_free(key): Wipe and free ${key}; NULL is a no-op. */
void
refx_note_key_free(struct refx_note_key *key)
{

	if (key == NULL)
		return;
	sodium_free(key->nk_sk);	/* wipes; NULL is a no-op */
	sodium_memzero(key, sizeof(*key));
	free(key);
}

/* Bytes of the signature line of ${key} with a ${n}-byte payload. */
static size_t
sigline_len(const struct refx_note_key *key, size_t n)
{

	return (SIG_PREFIX_LEN + key->nk_namelen + 1 + B64_LEN(n) + 1);
}

/*
 * Write the signature line of ${key} with the ${n}-byte ${payload} at
 * ${buf} + *${off}, and advance *${off}.  The caller made room for
 * sigline_len(key, n) + 1 bytes there.
 */
static void
put_sigline(char *buf, size_t *off, const struct refx_note_key *key,
    const uint8_t *payload, size_t n)
{
	char *p = buf + *off;

	memcpy(p, SIG_PREFIX, SIG_PREFIX_LEN);
	p += SIG_PREFIX_LEN;
	memcpy(p, key->nk_name, key->nk_namelen);
	p += key->nk_namelen;
	*p++ = ' ';
	sodium_bin2base64(p, B64_LEN(n) + 1, payload, n,
	    sodium_base64_VARIANT_ORIGINAL);
	p += B64_LEN(n);
	*p++ = '\n';
	*off = (size_t)(p - buf);
}

/*
 * Write the cosigned message "cosignature/v1\ntime " ${t} "\n" ${text} to
 * ${out}, which has COSIG_HDR_MAX + ${textlen} bytes; return its length.
 */
static size_t
cosig_message(char *out, uint64_t t, const char *text, size_t textlen)
{
	size_t off;

	memcpy(out, COSIG_HEADER, sizeof(COSIG_HEADER) - 1);
	off = sizeof(COSIG_HEADER) - 1;
	off += u64_fmt(out + off, t);
	out[off++] = '\n';
	memcpy(out + off, text, textlen);
	return (off + textlen);
}

/**
 * refx_note_sign(text, signer, note): Sign ${text} with the type 0x01
 * signing key ${signer} and return in ${note} (caller frees) the signed
 * note: ${text}, a blank line and the signature line.  ${text} must be
 * UTF-8 without control characters other than '\n', end in '\n', and
 * leave the note within REFX_NOTE_MAX bytes.  Return 0 or -1.
 */
int
refx_note_sign(const char *text, const struct refx_note_key *signer,
    char **note)
{
	uint8_t payload[ED25519_PAYLOAD];
	size_t textlen, len, off;
	char *buf;

	*note = NULL;
	if (signer->nk_type != REFX_NOTE_ED25519 || signer->nk_sk == NULL)
		goto err0;

	/* The text must be one a verifier accepts, in a note we accept. */
	textlen = strnlen(text, REFX_NOTE_MAX + 1);
	if (textlen > REFX_NOTE_MAX || !text_valid(text, textlen))
		goto err0;
	len = textlen + 1 + sigline_len(signer, sizeof(payload));
	if (len > REFX_NOTE_MAX)
		goto err0;

	/* Key id, then the signature of the text with its final newline. */
	be32enc(payload, signer->nk_id);
	crypto_sign_detached(payload + ID_LEN, NULL, (const uint8_t *)text,
	    textlen, signer->nk_sk);

	/* The text, a blank line, the signature line. */
	if ((buf = malloc(len + 1)) == NULL)
		goto err0;
	memcpy(buf, text, textlen);
	buf[textlen] = '\n';
	off = textlen + 1;
	put_sigline(buf, &off, signer, payload, sizeof(payload));
	buf[off] = '\0';
	*note = buf;

	/* Success! */
	return (0);

err0:
	/* Failure! */
	return (-1);
}

/*
 * Parse the ${n}-byte signature line ${line} (without its '\n') into
 * ${sl}: em dash, space, a valid name, space, the base64 of a key id and
 * at least one byte.  Return 0 or -1.
 */
static int
parse_sigline(const char *line, size_t n, struct sigline *sl)
{
	uint8_t buf[DECODE_MAX];
	const char *name, *sp, *b64;
	size_t binlen;

	/* An ASCII '-' or any other dash is not the em dash. */
	if (n < SIG_PREFIX_LEN || memcmp(line, SIG_PREFIX, SIG_PREFIX_LEN) != 0)
		return (-1);

	/* The name ends at the first space; exactly one follows it. */
	name = line + SIG_PREFIX_LEN;
	if ((sp = memchr(name, ' ', n - SIG_PREFIX_LEN)) == NULL)
		return (-1);
	if (!name_valid(name, (size_t)(sp - name)))
		return (-1);

	/* The rest is base64 (a second space is not) of id || signature. */
	b64 = sp + 1;
	if (b64_dec(buf, sizeof(buf), b64, (size_t)(line + n - b64),
	    &binlen) != 0 || binlen <= ID_LEN)
		return (-1);
	sl->sl_name = name;
	sl->sl_namelen = (size_t)(sp - name);
	sl->sl_id = be32dec(buf);
	sl->sl_len = binlen;
	memcpy(sl->sl_payload, buf,
	    binlen < sizeof(sl->sl_payload) ? binlen : sizeof(sl->sl_payload));
	return (0);
}

/*
 * Parse the ${len}-byte note ${note} into ${p}: at most REFX_NOTE_MAX
 * bytes of UTF-8 without control characters other than '\n', ending in
 * '\n'; the text up to the last blank line; then 1 to REFX_NOTE_MAX_SIGS
 * well-formed signature lines.  Return REFX_OK, REFX_ETOOBIG or
 * REFX_EINVAL.
 */
static enum refx_err
parse(const char *note, size_t len, struct parsed *p)
{
	const char *line, *end, *nl;
	size_t i;

	/* Bounded, valid text, final newline. */
	if (len > REFX_NOTE_MAX)
		return (REFX_ETOOBIG);
	if (!text_valid(note, len))
		return (REFX_EINVAL);

	/* Split at the last blank line: note[i - 1] and note[i] are '\n'. */
	for (i = len - 1; i > 0; i--)
		if (note[i - 1] == '\n' && note[i] == '\n')
			break;
	if (i == 0)
		return (REFX_EINVAL);
	p->p_text = note;
	p->p_textlen = i;

	/* Signature lines, at least one; the last ends the note. */
	p->p_nsig = 0;
	line = note + i + 1;
	end = note + len;
	if (line == end)
		return (REFX_EINVAL);
	while (line < end) {
		nl = memchr(line, '\n', (size_t)(end - line));
		if (p->p_nsig == REFX_NOTE_MAX_SIGS)
			return (REFX_ETOOBIG);
		if (parse_sigline(line, (size_t)(nl - line),
		    &p->p_sig[p->p_nsig]) != 0)
			return (REFX_EINVAL);
		p->p_nsig++;
		line = nl + 1;
	}
	return (REFX_OK);
}

/*
 * Check the signature lines of ${p} by ${key} (same name and key id; the
 * others are ignored): each must verify, and there must be one.  For a
 * cosignature key, return the latest time signed in ${tmax}.  Return
 * REFX_OK, REFX_ECRYPTO or REFX_ENOMEM.
 */
static enum refx_err
check_sigs(const struct parsed *p, const struct refx_note_key *key,
    uint64_t *tmax)
{
	const struct sigline *sl;
	enum refx_err rc;
	char *msg = NULL;
	size_t i, nok = 0, msglen;
	uint64_t t;

	*tmax = 0;
	for (i = 0; i < p->p_nsig; i++) {
		sl = &p->p_sig[i];
		if (sl->sl_namelen != key->nk_namelen ||
		    memcmp(sl->sl_name, key->nk_name, sl->sl_namelen) != 0 ||
		    sl->sl_id != key->nk_id)
			continue;

		/* A signature by our key: it must verify. */
		rc = REFX_ECRYPTO;
		if (key->nk_type == REFX_NOTE_ED25519) {
			if (sl->sl_len != ED25519_PAYLOAD ||
			    crypto_sign_verify_detached(sl->sl_payload +
			    ID_LEN, (const uint8_t *)p->p_text, p->p_textlen,
			    key->nk_pk) != 0)
				goto err1;
		} else {
			if (sl->sl_len != COSIG_PAYLOAD)
				goto err1;
			t = be64dec(sl->sl_payload + ID_LEN);
			if (t > REFX_COSIG_TIME_MAX)
				goto err1;
			if (msg == NULL && (msg = malloc(COSIG_HDR_MAX +
			    p->p_textlen)) == NULL) {
				rc = REFX_ENOMEM;
				goto err0;
			}
			msglen = cosig_message(msg, t, p->p_text, p->p_textlen);
			if (crypto_sign_verify_detached(sl->sl_payload +
			    ID_LEN + TIME_LEN, (const uint8_t *)msg, msglen,
			    key->nk_pk) != 0)
				goto err1;
			if (t > *tmax)
				*tmax = t;
		}
		nok++;
	}
	free(msg);

	/* Unknown signatures do not count. */
	return (nok > 0 ? REFX_OK : REFX_ECRYPTO);

err1:
	free(msg);
err0:
	/* Failure! */
	return (rc);
}

/**
 * refx_note_verify(note, len, key, text): Parse the ${len}-byte signed
 * note ${note} strictly and check it carries a valid signature by the
 * type 0x01 key ${key}.  Signatures by other keys (another name or key
 * id) are ignored; one by ${key} that fails rejects the note.  Return
 * REFX_OK with the note's text, NUL-terminated, in ${text} (caller
 * frees); REFX_ETOOBIG if the note exceeds REFX_NOTE_MAX bytes or
 * REFX_NOTE_MAX_SIGS signatures; REFX_EINVAL if it is malformed;
 * REFX_ECRYPTO if no signature by ${key} verifies or one fails; or
 * REFX_ENOMEM.  ${text} is NULL on failure.
 */
enum refx_err
refx_note_verify(const char *note, size_t len, const struct refx_note_key *key,
    char **text)
{
	struct parsed p;
	enum refx_err rc;
	uint64_t t;
	char *buf;

	*text = NULL;
	if (key->nk_type != REFX_NOTE_ED25519)
		return (REFX_EINVAL);
	if ((rc = parse(note, len, &p)) != REFX_OK)
		goto err0;
	if ((rc = check_sigs(&p, key, &t)) != REFX_OK)
		goto err0;

	/* Hand out the text only once it is verified. */
	if ((buf = malloc(p.p_textlen + 1)) == NULL) {
		rc = REFX_ENOMEM;
		goto err0;
	}
	memcpy(buf, p.p_text, p.p_textlen);
	buf[p.p_textlen] = '\0';
	*text = buf;

	/* Success! */
	return (REFX_OK);

err0:
	/* Failure! */
	return (rc);
}

/**
 * refx_checkpoint_text(origin, size, root, text): The checkpoint text
 * ${origin} "\n" ${size} "\n" base64(${root}) "\n", in ${text} (caller
 * frees).  ${origin} must be a valid key name (no spaces or '+').  Return
 * 0 or -1.
 */
int
refx_checkpoint_text(const char *origin, uint64_t size,
    const uint8_t root[REFX_CHECKPOINT_HASH_LEN], char **text)
{
	char digits[U64_DIGITS];
	size_t olen, dlen, len, off;
	char *buf;

	*text = NULL;
	olen = strnlen(origin, REFX_NOTE_NAME_MAX + 1);
	if (!name_valid(origin, olen))
		goto err0;
	dlen = u64_fmt(digits, size);
	len = olen + 1 + dlen + 1 + ROOT_B64_LEN + 1;
	if ((buf = malloc(len + 1)) == NULL)
		goto err0;

	/* Origin, size, root: one line each. */
	memcpy(buf, origin, olen);
	off = olen;
	buf[off++] = '\n';
	memcpy(buf + off, digits, dlen);
	off += dlen;
	buf[off++] = '\n';
	sodium_bin2base64(buf + off, ROOT_B64_LEN + 1, root,
	    REFX_CHECKPOINT_HASH_LEN, sodium_base64_VARIANT_ORIGINAL);
	off += ROOT_B64_LEN;
	buf[off++] = '\n';
	buf[off] = '\0';
	*text = buf;

	/* Success! */
	return (0);

err0:
	/* Failure! */
	return (-1);
}

/* refx_checkpoint_parse, on the ${len} bytes at ${text}. */
static enum refx_err
checkpoint_parse(const char *text, size_t len, char *origin,
    size_t originlen, uint64_t *size, uint8_t root[REFX_CHECKPOINT_HASH_LEN])
{
	uint8_t r[REFX_CHECKPOINT_HASH_LEN];
	const char *line[3], *p, *end, *nl;
	size_t linelen[3], rlen, i;
	uint64_t sz;

	/* Exactly three lines, each ending in '\n'. */
	p = text;
	end = text + len;
	for (i = 0; i < 3; i++) {
		if (p == end ||
		    (nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return (REFX_EINVAL);
		line[i] = p;
		linelen[i] = (size_t)(nl - p);
		p = nl + 1;
	}
	if (p != end)
		return (REFX_EINVAL);

	/* Origin; size without leading zeros; a root of exactly 32 bytes. */
	if (!name_valid(line[0], linelen[0]))
		return (REFX_EINVAL);
	if (u64_parse(line[1], linelen[1], &sz) != 0)
		return (REFX_EINVAL);
	if (b64_dec(r, sizeof(r), line[2], linelen[2], &rlen) != 0 ||
	    rlen != sizeof(r))
		return (REFX_EINVAL);
	if (linelen[0] >= originlen)
		return (REFX_ETOOBIG);

	memcpy(origin, line[0], linelen[0]);
	origin[linelen[0]] = '\0';
	*size = sz;
	memcpy(root, r, sizeof(r));
	return (REFX_OK);
}

/**
 * refx_checkpoint_parse(text, origin, originlen, size, root): Parse the
 * checkpoint text ${text}: exactly three lines (extension lines are
 * refused), an origin as for a key name, a size in decimal without
 * leading zeros ("0" for the empty tree), and a root that is the base64
 * of exactly 32 bytes.  Copy the origin, NUL-terminated, to ${origin}.
 * Return REFX_OK, REFX_EINVAL if ${text} is malformed or REFX_ETOOBIG if
 * the origin does not fit ${originlen} bytes.
 */
enum refx_err
refx_checkpoint_parse(const char *text, char *origin, size_t originlen,
    uint64_t *size, uint8_t root[REFX_CHECKPOINT_HASH_LEN])
{
	size_t len;

	if ((len = strnlen(text, REFX_NOTE_MAX + 1)) > REFX_NOTE_MAX)
		return (REFX_EINVAL);
	return (checkpoint_parse(text, len, origin, originlen, size, root));
}

/**
 * refx_checkpoint_open(note, len, key, origin, size, root): Verify the
 * signed checkpoint ${note} with the log key ${key} (refx_note_verify),
 * parse its text (refx_checkpoint_parse) and check its origin is
 * ${origin}.  Return REFX_OK with the tree ${size} and ${root}, an error
 * of refx_note_verify or refx_checkpoint_parse, or REFX_EDENIED if the
 * checkpoint is validly signed for another origin.
 */
enum refx_err
refx_checkpoint_open(const char *note, size_t len,
    const struct refx_note_key *key, const char *origin, uint64_t *size,
    uint8_t root[REFX_CHECKPOINT_HASH_LEN])
{
	char o[REFX_NOTE_NAME_MAX + 1];
	uint8_t r[REFX_CHECKPOINT_HASH_LEN];
	enum refx_err rc;
	uint64_t sz;
	char *text;

	if ((rc = refx_note_verify(note, len, key, &text)) != REFX_OK)
		goto err0;
	rc = refx_checkpoint_parse(text, o, sizeof(o), &sz, r);
	free(text);
	if (rc != REFX_OK)
		goto err0;

	/* A log's key must not vouch for another log. */
	if (strcmp(o, origin) != 0) {
		rc = REFX_EDENIED;
		goto err0;
	}
	*size = sz;
	memcpy(root, r, sizeof(r));

	/* Success! */
	return (REFX_OK);

err0:
	/* Failure! */
	return (rc);
}

/**
 * refx_note_cosign(note, len, witness, timestamp, note_out): Append to
 * the signed checkpoint ${note} the tlog-cosignature/v1 line of the type
 * 0x04 signing key ${witness} for time ${timestamp} (POSIX seconds, at
 * most REFX_COSIG_TIME_MAX), and return the new note in ${note_out}
 * (caller frees).  ${note} must parse strictly, its text must be a
 * checkpoint, and the result must stay within REFX_NOTE_MAX bytes and
 * REFX_NOTE_MAX_SIGS signatures.  Return 0 or -1.
 * WARNING: this checks no signature.  A cosignature states that the
 * witness verified the log's signature and the checkpoint's consistency
 * with every one it saw before; do that first.
 */
int
refx_note_cosign(const char *note, size_t len,
    const struct refx_note_key *witness, uint64_t timestamp, char **note_out)
{
	struct parsed p;
	char o[REFX_NOTE_NAME_MAX + 1];
	uint8_t r[REFX_CHECKPOINT_HASH_LEN];
	uint8_t payload[COSIG_PAYLOAD];
	size_t outlen, msglen, off;
	uint64_t sz;
	char *msg, *buf;

	*note_out = NULL;
	if (witness->nk_type != REFX_NOTE_COSIG_V1 || witness->nk_sk == NULL ||
	    timestamp > REFX_COSIG_TIME_MAX)
		goto err0;

	/* A strict note whose text is a checkpoint, with room for a line. */
	if (parse(note, len, &p) != REFX_OK || p.p_nsig == REFX_NOTE_MAX_SIGS)
		goto err0;
	if (checkpoint_parse(p.p_text, p.p_textlen, o, sizeof(o), &sz,
	    r) != REFX_OK)
		goto err0;
	outlen = len + sigline_len(witness, sizeof(payload));
	if (outlen > REFX_NOTE_MAX)
		goto err0;

	/* Key id, time, signature of the cosigned message. */
	if ((msg = malloc(COSIG_HDR_MAX + p.p_textlen)) == NULL)
		goto err0;
	msglen = cosig_message(msg, timestamp, p.p_text, p.p_textlen);
	be32enc(payload, witness->nk_id);
	be64enc(payload + ID_LEN, timestamp);
	crypto_sign_detached(payload + ID_LEN + TIME_LEN, NULL,
	    (const uint8_t *)msg, msglen, witness->nk_sk);

	/* The note as it was, then the cosignature line. */
	if ((buf = malloc(outlen + 1)) == NULL)
		goto err1;
	memcpy(buf, note, len);
	off = len;
	put_sigline(buf, &off, witness, payload, sizeof(payload));
	buf[off] = '\0';
	free(msg);
	*note_out = buf;

	/* Success! */
	return (0);

err1:
	free(msg);
err0:
	/* Failure! */
	return (-1);
}

/**
 * refx_note_verify_cosignature(note, len, witness, timestamp): Parse the
 * signed checkpoint ${note} strictly and check it carries a valid
 * cosignature by the type 0x04 key ${witness}; other signature lines are
 * ignored.  Return REFX_OK with the cosignature's time in ${timestamp}
 * (the latest, if the witness signed more than once), or an error as for
 * refx_note_verify (REFX_EINVAL also if the text is not a checkpoint).
 * WARNING: this does not check the log's signature, nor the time against
 * the clock.
 */
enum refx_err
refx_note_verify_cosignature(const char *note, size_t len,
    const struct refx_note_key *witness, uint64_t *timestamp)
{
	struct parsed p;
	char o[REFX_NOTE_NAME_MAX + 1];
	uint8_t r[REFX_CHECKPOINT_HASH_LEN];
	enum refx_err rc;
	uint64_t sz, t;

	if (witness->nk_type != REFX_NOTE_COSIG_V1)
		return (REFX_EINVAL);
	if ((rc = parse(note, len, &p)) != REFX_OK)
		return (rc);
	if (checkpoint_parse(p.p_text, p.p_textlen, o, sizeof(o), &sz,
	    r) != REFX_OK)
		return (REFX_EINVAL);
	if ((rc = check_sigs(&p, witness, &t)) != REFX_OK)
		return (rc);
	*timestamp = t;
	return (REFX_OK);
}
