#ifndef REFX_IDENTITY_H
#define REFX_IDENTITY_H

/*
 * Who a certificate says its holder is, and the rules for each part.
 *
 * A person's client certificate carries its identity in the subject:
 *   O = agency (unit) id, the "function address", e.g. ludvika-ifo-intake
 *   businessCategory (2.5.4.15) = kind of the unit: school, ifo, ...
 *   OU = role: submitter, caseworker, auditor, admin
 *   UID (0.9.2342.19200300.100.1.1) = person id, e.g. anna.berg
 *   CN = display name (UTF-8)
 * Each attribute must occur exactly once.  A unit's encryption
 * certificate carries O, businessCategory and CN.  See docs/DESIGN.md.
 *
 * This module only validates strings; extracting them from a
 * certificate is done with GnuTLS in refxd and OpenSSL in the tools.
 */
#include <stddef.h>
#include <stdint.h>

#include "refx/err.h"

#define REFX_OID_O		"2.5.4.10"
#define REFX_OID_OU		"2.5.4.11"
#define REFX_OID_CN		"2.5.4.3"
#define REFX_OID_KIND		"2.5.4.15"	/* businessCategory */
#define REFX_OID_UID		"0.9.2342.19200300.100.1.1"
/* Extended key usage of a unit's X25519 encryption certificate. */
#define REFX_OID_EKU_UNIT_ENC	"2.25.65482959021478356673096403763145731319"
/* Extended key usage of an audit log's checkpoint-signing certificate. */
#define REFX_OID_EKU_AUDIT_LOG	"2.25.29741692932590555166311272888445882664"

#define REFX_AGENCY_ID_MAX	63	/* bytes, without NUL */
#define REFX_PERSON_ID_MAX	64
#define REFX_NAME_MAX		128	/* bytes of UTF-8 */
#define REFX_FINGERPRINT_LEN	32	/* SHA-256 of the DER certificate */
#define REFX_SERIAL_MAX		20	/* RFC 5280 4.1.2.2 */

enum refx_kind {
	REFX_KIND_SCHOOL,
	REFX_KIND_IFO,
	REFX_KIND_BUP,
	REFX_KIND_PRIMARY_CARE,
	REFX_KIND_FORUM,
	REFX_KIND_SUPERVISOR,
	REFX_KIND_COUNT
};

enum refx_role {
	REFX_ROLE_SUBMITTER,
	REFX_ROLE_CASEWORKER,
	REFX_ROLE_AUDITOR,
	REFX_ROLE_ADMIN,
	REFX_ROLE_COUNT
};

/* A verified person: a value type, copied freely. */
struct refx_identity {
	char		id_agency[REFX_AGENCY_ID_MAX + 1];
	enum refx_kind	id_kind;
	enum refx_role	id_role;
	char		id_person[REFX_PERSON_ID_MAX + 1];
	char		id_name[REFX_NAME_MAX + 1];
	uint8_t		id_fingerprint[REFX_FINGERPRINT_LEN];
	uint8_t		id_serial[REFX_SERIAL_MAX];
	size_t		id_serial_len;
};

/** refx_kind_parse(s, kind): Parse a kind name.  Return 0 or -1. */
int refx_kind_parse(const char *, enum refx_kind *);

/** refx_kind_name(kind): Return the name of ${kind}, or "?" if invalid. */
const char *refx_kind_name(enum refx_kind);

/** refx_role_parse(s, role): Parse a role name.  Return 0 or -1. */
int refx_role_parse(const char *, enum refx_role *);

/** refx_role_name(role): Return the name of ${role}, or "?" if invalid. */
const char *refx_role_name(enum refx_role);

/**
 * refx_agency_id_valid(s): Return 1 if ${s} is 1-63 of [a-z0-9-], not
 * starting or ending with '-', else 0.
 */
int refx_agency_id_valid(const char *);

/**
 * refx_person_id_valid(s): Return 1 if ${s} is 1-64 of [a-z0-9._-]
 * starting with a letter or digit, else 0.
 */
int refx_person_id_valid(const char *);

/**
 * refx_utf8_decode(p, n, cp): Decode one UTF-8 sequence at ${p} (at most
 * ${n} > 0 bytes).  Return its length and the code point in ${cp}, or 0
 * if malformed (overlong, surrogate, beyond U+10FFFF, truncated).
 */
size_t refx_utf8_decode(const unsigned char *, size_t, unsigned long *);

/**
 * refx_char_forbidden(cp): Return 1 for code points that forge lines or
 * reorder text on a terminal or in a log: C0 and C1 controls, DEL, line
 * separators, bidirectional controls and marks, the BOM.
 */
int refx_char_forbidden(unsigned long);

#define REFX_QUOTE_MAX	40	/* longest peer string quoted in a message */

/**
 * refx_quotable(s): ${s} itself if it is 1-40 of [A-Za-z0-9._-] and so
 * safe to quote in an error message that may reach a terminal, a log or
 * a JSON answer (never cut inside a character); else "(unprintable)".
 */
const char *refx_quotable(const char *);

/** refx_ascii_scrub(s): Replace every byte outside printable ASCII with '?'. */
void refx_ascii_scrub(char *);

/**
 * refx_name_valid(s): Return 1 if ${s} is 1-128 bytes of well-formed
 * UTF-8 with no control, line-separator or bidirectional-override
 * characters (they forge log lines and terminal output), else 0.
 */
int refx_name_valid(const char *);

/**
 * refx_person_id_from_name(name, out, outlen): Derive a person id from a
 * display name ("Åsa Öberg" -> "asa.oberg").  Return 0, or -1 if no
 * valid id results.
 */
int refx_person_id_from_name(const char *, char *, size_t);

/**
 * refx_identity_from_subject(o, kind, ou, uid, cn, id, why): Validate the
 * subject attributes of a person certificate and fill the name fields of
 * ${id} (fingerprint and serial are left alone).  On failure return
 * REFX_EINVAL and point ${why} at a static reason.
 */
enum refx_err refx_identity_from_subject(const char *, const char *,
    const char *, const char *, const char *, struct refx_identity *,
    const char **);

#endif /* !REFX_IDENTITY_H */
