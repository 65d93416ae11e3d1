#ifndef REFX_NOTE_H
#define REFX_NOTE_H

/*
 * C2SP signed notes, tlog checkpoints and tlog cosignatures with Ed25519
 * (docs/internals/note.md):
 *
 *  note        text (ends in '\n') "\n" then one line per signature:
 *              U+2014 " " name " " base64(key id[4] || signature) "\n"
 *  key id      SHA-256(name || 0x0A || type || public key)[:4], big-endian
 *  vkey        name "+" 8 lower-case hex digits of the key id "+"
 *              base64(type || public key)
 *  type 0x01   signed-note Ed25519: signature = Ed25519(text)
 *  type 0x04   tlog-cosignature/v1: signature = u64 BE time T ||
 *              Ed25519("cosignature/v1\ntime " T "\n" || text)
 *  checkpoint  text = origin "\n" size "\n" base64(32-byte root) "\n"
 *
 * Pure: no I/O.  Parsing treats its input as hostile: bounded sizes,
 * strict syntax, and every signature line must be well-formed even when
 * its key is unknown.  A key is an Ed25519 public key with a name and a
 * type; a signer also holds the secret key, in sodium_malloc'd memory.
 */
#include <stddef.h>
#include <stdint.h>

#include "refx/err.h"

#define REFX_NOTE_MAX		8192	/* bytes of a whole signed note */
#define REFX_NOTE_MAX_SIGS	16	/* signature lines in a note */
#define REFX_NOTE_NAME_MAX	255	/* bytes of a key name or origin */
#define REFX_NOTE_SEED_LEN	32	/* Ed25519 seed */
#define REFX_NOTE_PK_LEN	32	/* Ed25519 public key */
#define REFX_NOTE_SK_LEN	64	/* libsodium Ed25519 secret key */
#define REFX_NOTE_VKEY_MAX	(REFX_NOTE_NAME_MAX + 1 + 8 + 1 + 44 + 1)
					/* bytes of a vkey and its NUL */
#define REFX_CHECKPOINT_HASH_LEN 32	/* a checkpoint's root hash */
#define REFX_COSIG_TIME_MAX	UINT64_C(0x7fffffffffffffff)

/* Signature types (the C2SP signed-note registry). */
enum refx_note_type {
	REFX_NOTE_ED25519 = 0x01,	/* signed-note Ed25519 */
	REFX_NOTE_COSIG_V1 = 0x04,	/* tlog-cosignature/v1 Ed25519 */
};

/* A named Ed25519 key of one signature type. */
struct refx_note_key;

/**
 * refx_note_key_from_seed(name, type, seed): A signing key of ${type}
 * named ${name}, from the 32-byte Ed25519 ${seed}.  Return it, or NULL if
 * the name is invalid (empty, more than REFX_NOTE_NAME_MAX bytes, not
 * UTF-8, or holding a space, '+' or control character), the type unknown
 * or memory short.  The caller wipes its ${seed}.
 */
struct refx_note_key *refx_note_key_from_seed(const char *,
    enum refx_note_type, const uint8_t[REFX_NOTE_SEED_LEN])
    __attribute__((warn_unused_result, nonnull));

/**
 * refx_note_key_from_secret(name, type, sk): As refx_note_key_from_seed,
 * from a libsodium 64-byte secret key (seed || public key).  Return NULL
 * also if the public half does not belong to the seed.
 */
struct refx_note_key *refx_note_key_from_secret(const char *,
    enum refx_note_type, const uint8_t[REFX_NOTE_SK_LEN])
    __attribute__((warn_unused_result, nonnull));

/**
 * refx_note_key_from_public(name, type, pk): A verifying key of ${type}
 * named ${name}.  Return it, or NULL as for refx_note_key_from_seed.
 */
struct refx_note_key *refx_note_key_from_public(const char *,
    enum refx_note_type, const uint8_t[REFX_NOTE_PK_LEN])
    __attribute__((warn_unused_result, nonnull));

/**
 * refx_note_key_parse_vkey(vkey): The verifying key of the vkey text
 * ${vkey} (no surrounding whitespace): name "+" key id "+" base64(type ||
 * public key), of type 0x01 or 0x04.  The base64 may itself contain '+':
 * only the first two separate.  Return NULL if it is malformed or the
 * key id is not the one its name, type and key give.
 */
struct refx_note_key *refx_note_key_parse_vkey(const char *)
    __attribute__((warn_unused_result, nonnull));

/**
 * refx_note_key_vkey(key, out, outlen): Write the vkey text of ${key},
 * NUL-terminated, to ${out}.  Return 0, or -1 if ${outlen} is too small
 * (REFX_NOTE_VKEY_MAX always suffices).
 */
int refx_note_key_vkey(const struct refx_note_key *, char *, size_t)
    __attribute__((warn_unused_result, nonnull));

/** refx_note_key_id(key): The key id of ${key}. */
uint32_t refx_note_key_id(const struct refx_note_key *)
    __attribute__((nonnull));

/** refx_note_key_name(key): The name of ${key}. */
const char *refx_note_key_name(const struct refx_note_key *)
    __attribute__((nonnull));

/** refx_note_key_type(key): The signature type of ${key}. */
enum refx_note_type refx_note_key_type(const struct refx_note_key *)
    __attribute__((nonnull));

/** refx_note_key_free(key): Wipe and free ${key}; NULL is a no-op. */
void refx_note_key_free(struct refx_note_key *);

/**
 * refx_note_sign(text, signer, note): Sign ${text} with the type 0x01
 * signing key ${signer} and return in ${note} (caller frees) the signed
 * note: ${text}, a blank line and the signature line.  ${text} must be
 * UTF-8 without control characters other than '\n', end in '\n', and
 * leave the note within REFX_NOTE_MAX bytes.  Return 0 or -1.
 */
int refx_note_sign(const char *, const struct refx_note_key *, char **)
    __attribute__((warn_unused_result, nonnull));

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
enum refx_err refx_note_verify(const char *, size_t,
    const struct refx_note_key *, char **)
    __attribute__((warn_unused_result, nonnull));

/**
 * refx_checkpoint_text(origin, size, root, text): The checkpoint text
 * ${origin} "\n" ${size} "\n" base64(${root}) "\n", in ${text} (caller
 * frees).  ${origin} must be a valid key name (no spaces or '+').  Return
 * 0 or -1.
 */
int refx_checkpoint_text(const char *, uint64_t,
    const uint8_t[REFX_CHECKPOINT_HASH_LEN], char **)
    __attribute__((warn_unused_result, nonnull));

/**
 * refx_checkpoint_parse(text, origin, originlen, size, root): Parse the
 * checkpoint text ${text}: exactly three lines (extension lines are
 * refused), an origin as for a key name, a size in decimal without
 * leading zeros ("0" for the empty tree), and a root that is the base64
 * of exactly 32 bytes.  Copy the origin, NUL-terminated, to ${origin}.
 * Return REFX_OK, REFX_EINVAL if ${text} is malformed or REFX_ETOOBIG if
 * the origin does not fit ${originlen} bytes.
 */
enum refx_err refx_checkpoint_parse(const char *, char *, size_t,
    uint64_t *, uint8_t[REFX_CHECKPOINT_HASH_LEN])
    __attribute__((warn_unused_result, nonnull));

/**
 * refx_checkpoint_open(note, len, key, origin, size, root): Verify the
 * signed checkpoint ${note} with the log key ${key} (refx_note_verify),
 * parse its text (refx_checkpoint_parse) and check its origin is
 * ${origin}.  Return REFX_OK with the tree ${size} and ${root}, an error
 * of refx_note_verify or refx_checkpoint_parse, or REFX_EDENIED if the
 * checkpoint is validly signed for another origin.
 */
enum refx_err refx_checkpoint_open(const char *, size_t,
    const struct refx_note_key *, const char *, uint64_t *,
    uint8_t[REFX_CHECKPOINT_HASH_LEN])
    __attribute__((warn_unused_result, nonnull));

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
int refx_note_cosign(const char *, size_t, const struct refx_note_key *,
    uint64_t, char **)
    __attribute__((warn_unused_result, nonnull));

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
enum refx_err refx_note_verify_cosignature(const char *, size_t,
    const struct refx_note_key *, uint64_t *)
    __attribute__((warn_unused_result, nonnull));

#endif /* !REFX_NOTE_H */
