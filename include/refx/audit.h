#ifndef REFX_AUDIT_H
#define REFX_AUDIT_H

/*
 * Audit entries: the canonical binary encoding that is hashed into each
 * unit's Merkle log (docs/audit.md).  Not JSON: one encoding, one hash.
 *
 *   "refx/audit-entry/v1" 0x00
 *   u64 index            position in its log (binds entry to index)
 *   u64 time_ms          UTC, milliseconds since the epoch
 *   bytes16 event        random; the same in each unit log it is written to
 *   u8 action, u8 outcome, u16 status
 *   str actor_unit, u8 actor_kind, u8 actor_role, str actor_person,
 *   bytes32 actor_cert   SHA-256 of the actor's certificate
 *   str object_type, str object_id, str other_unit
 *   u8 nclasses, nclasses x str class     field classes disclosed, names only
 *   str basis, str reason
 *   bytes32 policy, str request_id, u32 count, bytes32 salt
 *
 * Integers are big-endian; str is u16 length + UTF-8 bytes (at most
 * REFX_AUDIT_STR_MAX).  Decoding is strict: every byte is accounted for.
 */
#include <stddef.h>
#include <stdint.h>

#include "refx/schema.h"

#define REFX_AUDIT_NAMESPACE	"refx/audit-entry/v1"
#define REFX_AUDIT_STR_MAX	512
#define REFX_AUDIT_ENTRY_MAX	8192
#define REFX_AUDIT_EVENT_LEN	16

enum refx_audit_action {
	REFX_AUDIT_OTHER,		/* unknown path or method */
	REFX_AUDIT_WHOAMI,
	REFX_AUDIT_HEALTH,
	REFX_AUDIT_DIRECTORY,
	REFX_AUDIT_POLICY,
	REFX_AUDIT_CONSENT_RECORD,
	REFX_AUDIT_CONSENT_LIST,
	REFX_AUDIT_CONSENT_SHOW,
	REFX_AUDIT_CONSENT_WITHDRAW,
	REFX_AUDIT_REFERRAL_SUBMIT,
	REFX_AUDIT_REFERRAL_LIST,
	REFX_AUDIT_REFERRAL_PULL,
	REFX_AUDIT_AUDIT_READ,		/* an auditor read a log */
	REFX_AUDIT_TLS_REFUSED,		/* handshakes refused (aggregated) */
	REFX_AUDIT_REQUEST_REFUSED,	/* refused before a handler */
	REFX_AUDIT_CONSENT_EXPIRED,	/* keys deleted at expiry */
	REFX_AUDIT_CASE_READ,		/* case status, list, overdue */
	REFX_AUDIT_CASE_ACCEPT,
	REFX_AUDIT_CASE_DECLINE,
	REFX_AUDIT_CASE_ADVISE,
	REFX_AUDIT_CASE_FOLLOW_UP,
	REFX_AUDIT_CASE_CLOSE,
	REFX_AUDIT_CASE_CANCEL,
	REFX_AUDIT_PURGE,		/* deleted at the end of retention */
	REFX_AUDIT_ACTION_COUNT
};

enum refx_audit_outcome {
	REFX_AUDIT_ALLOWED,
	REFX_AUDIT_DENIED,
	REFX_AUDIT_FAILED,
};

/* One entry, decoded; strings point into the caller's storage. */
struct refx_audit_entry {
	uint64_t		 ae_index;
	uint64_t		 ae_time_ms;
	uint8_t			 ae_event[REFX_AUDIT_EVENT_LEN];
	enum refx_audit_action	 ae_action;
	enum refx_audit_outcome	 ae_outcome;
	unsigned		 ae_status;
	char			 ae_actor_unit[REFX_AUDIT_STR_MAX + 1];
	unsigned		 ae_actor_kind;		/* enum refx_kind, or 255 */
	unsigned		 ae_actor_role;		/* enum refx_role, or 255 */
	char			 ae_actor_person[REFX_AUDIT_STR_MAX + 1];
	uint8_t			 ae_actor_cert[32];
	char			 ae_object_type[32];
	char			 ae_object_id[REFX_AUDIT_STR_MAX + 1];
	char			 ae_other_unit[REFX_AUDIT_STR_MAX + 1];
	refx_classes		 ae_classes;
	char			 ae_basis[32];
	char			 ae_reason[REFX_AUDIT_STR_MAX + 1];
	uint8_t			 ae_policy[32];
	char			 ae_request_id[64];
	uint32_t		 ae_count;
	uint8_t			 ae_salt[32];
};

/** refx_audit_action_name(a): "referral-pull", ... or "?". */
const char *refx_audit_action_name(enum refx_audit_action);

/** refx_audit_action_parse(s, a): Parse an action name.  0 or -1. */
int refx_audit_action_parse(const char *, enum refx_audit_action *);

/** refx_audit_outcome_name(o): "allowed", "denied", "failed" or "?". */
const char *refx_audit_outcome_name(enum refx_audit_outcome);

/**
 * refx_audit_encode(e, out, outlen): Encode ${e} into ${out} (at least
 * REFX_AUDIT_ENTRY_MAX bytes).  Return 0 with the length in ${outlen},
 * or -1 if a string is too long or not UTF-8 without control characters.
 */
int refx_audit_encode(const struct refx_audit_entry *, uint8_t *, size_t *);

/**
 * refx_audit_decode(in, len, e): Decode one entry strictly.  Return 0 or
 * -1 (wrong namespace, truncated, trailing bytes, unknown action or
 * class, bad string).
 */
int refx_audit_decode(const uint8_t *, size_t, struct refx_audit_entry *);

#endif /* !REFX_AUDIT_H */
