#ifndef REFX_CLI_PACKET_H
#define REFX_CLI_PACKET_H

/*
 * The pure parts of referrals and consents on the client: no network,
 * no terminal, so that refx and the test tool refx-craft share them and
 * unit tests reach them (docs/api.md has the formats).
 *
 *  consent file   the school's description of a consent (refx consent
 *                 record FILE): parsed, validated, split into the public
 *                 part the server sees and the private part (names,
 *                 dates, methods) that is sealed to the units.
 *  allowed set    which draft fields one recipient may read: policy of
 *                 its kind, intersected with what the consent covers.
 *  manifest       the signed statement of a referral: canonical JSON.
 *  packet         a whole submission: fields encrypted with fresh keys,
 *                 envelopes of keys per recipient, the signed manifest
 *                 (packet_build, then packet_body for the POST).
 *  received       a pulled packet, verified step by step before any of
 *                 it is decrypted (packet_check, then packet_decrypt).
 *
 * WARNING: field values and consent private parts are personal data.
 * Plaintexts handed out here are in sodium_malloc'd memory and are wiped
 * by the matching free function; keys never leave this module.
 */
#include <stddef.h>
#include <stdint.h>

#include "refx/envelope.h"
#include "refx/identity.h"
#include "refx/policy.h"
#include "refx/schema.h"

struct json_t;
struct x509_st;
struct X509_crl_st;

#define PACKET_HASH_HEX		64	/* SHA-256 in hex */
#define PACKET_TIME_LEN		20	/* YYYY-MM-DDTHH:MM:SSZ */
#define PACKET_DATE_LEN		10	/* YYYY-MM-DD */
#define PACKET_MAX_ENVELOPES	(REFX_MAX_RECIPIENTS + 1)  /* + sender */
#define PACKET_MANIFEST_MAX	(64 * 1024)	/* bytes of a manifest */
#define PACKET_ERR_LEN		512
#define PACKET_WHY_MAX		384	/* why a field is withheld */

#define CONSENT_FILE_MAX	(64 * 1024)	/* bytes of a consent file */
#define CONSENT_MAX_PARTIES	8
#define CONSENT_MAX_SCOPE	8
#define CONSENT_FIELD		"consent-parties"	/* sealed field name */

/* --- small helpers ------------------------------------------------------ */

/** packet_now(out): The current UTC time as YYYY-MM-DDTHH:MM:SSZ. */
void packet_now(char[PACKET_TIME_LEN + 1]);

/** packet_today(out): The current UTC date as YYYY-MM-DD. */
void packet_today(char[PACKET_DATE_LEN + 1]);

/** packet_date_valid(s): 1 if ${s} is a real calendar date YYYY-MM-DD. */
int packet_date_valid(const char *);

/** packet_time_valid(s): 1 if ${s} is a real UTC time as packet_now. */
int packet_time_valid(const char *);


/** packet_field_name_valid(s): 1 if ${s} is 1-32 of [a-z0-9_-]. */
int packet_field_name_valid(const char *);

/* --- consents ------------------------------------------------------------ */

/* What a consent covers for one recipient. */
struct consent_scope {
	char		cs_unit[REFX_AGENCY_ID_MAX + 1];
	refx_classes	cs_classes;
	refx_classes	cs_itemised;	/* subset of cs_classes */
	int		cs_feedback;	/* may answer the school in full */
	char		cs_withdrawn_at[PACKET_TIME_LEN + 1];	/* or "" */
};

/* One party's position, the public part. */
struct consent_party {
	int		cp_pupil;	/* role: 0 guardian, 1 pupil */
	int		cp_flag;	/* guardian: custody; pupil: mature */
	int		cp_yes;		/* decision */
};

/* A consent file, validated and split. */
struct consent_doc {
	char			cd_valid_until[PACKET_DATE_LEN + 1];
	struct consent_party	cd_parties[CONSENT_MAX_PARTIES];
	size_t			cd_nparties;
	struct consent_scope	cd_scope[CONSENT_MAX_SCOPE];
	size_t			cd_nscope;
	struct json_t		*cd_private;	/* parties' details, notes */
};

/**
 * consent_file_parse(json, len, today, doc, err, errlen): Parse and
 * validate a consent file (see refx(1)) as of the date ${today}.  Fill
 * ${doc} (free with consent_doc_free), or return -1 with a message
 * naming the field in ${err} ("parties[1].decision: must be yes or no").
 */
int consent_file_parse(const uint8_t *, size_t, const char *,
    struct consent_doc *, char *, size_t)
    __attribute__((warn_unused_result));

/** consent_doc_free(doc): Free what ${doc} holds; it may be reused. */
void consent_doc_free(struct consent_doc *);

/**
 * consent_public(doc, id): The public part of POST /v1/consents: id,
 * valid_until, parties (role, custody or mature, decision) and scope.
 * Return a new object, or NULL if out of memory.
 */
struct json_t *consent_public(const struct consent_doc *, const char *);

/**
 * consent_private(doc, pt, len): The private part as canonical JSON (in
 * sodium_malloc'd memory; free with refx_secret_free(pt, len)).  Return
 * 0 or -1.
 */
int consent_private(const struct consent_doc *, uint8_t **, size_t *)
    __attribute__((warn_unused_result));

/**
 * consent_check_parties(doc, msg, msglen): Say in ${msg} whether every
 * guardian with custody, and a mature pupil, agreed (domain rules: one
 * "no" and there is no consent).  Return 0 if so, else 1 with the
 * reasons in ${msg}.
 */
int consent_check_parties(const struct consent_doc *, char *, size_t);

/**
 * consent_scope_parse(scope, out, n, err, errlen): Parse the "scope"
 * array of a consent as the server returns it, strictly; an entry may
 * carry "withdrawn_at" (a time, or null), the moment the consent was
 * withdrawn for that recipient.  Return 0 or -1 with a message.
 */
int consent_scope_parse(struct json_t *, struct consent_scope *, size_t *,
    char *, size_t) __attribute__((warn_unused_result));

/**
 * consent_parties_parse(parties, doc, err, errlen): Parse the public
 * "parties" array as the server returns it into ${doc}.  Return 0 or -1.
 */
int consent_parties_parse(struct json_t *, struct consent_doc *, char *,
    size_t) __attribute__((warn_unused_result));

/**
 * consent_private_parse(pt, len, pub, err, errlen): Parse and check a
 * decrypted private part against the public parties of ${pub}: as many,
 * and each with the same role, custody or maturity, and decision.
 * Return the object (json_decref it) or NULL with a message.
 */
struct json_t *consent_private_parse(const uint8_t *, size_t,
    const struct consent_doc *, char *, size_t);

/* A unit to seal something to. */
struct packet_rcpt {
	char		pr_unit[REFX_AGENCY_ID_MAX + 1];
	uint8_t		pr_pk[REFX_X25519_KEY_LEN];
	uint32_t	pr_fields;	/* bit i: draft field i (referrals) */
};

/**
 * consent_seal(id, pt, len, units, n, err, errlen): Encrypt the private
 * part ${pt} under a fresh key as field CONSENT_FIELD of ${id} and seal
 * the key to each unit.  Return {"blob": b64, "envelopes": {unit: b64}}
 * or NULL with a message.
 */
struct json_t *consent_seal(const char *, const uint8_t *, size_t,
    const struct packet_rcpt *, size_t, char *, size_t);

/**
 * consent_unseal(id, unit, pk, sk, blob, env, pt, len, err, errlen): Open
 * the envelope ${env} (base64) of ${unit} and decrypt the private part
 * ${blob} (base64) of consent ${id}.  ${pt} is sodium_malloc'd (free
 * with refx_secret_free).  Return 0 or -1 with a message.
 */
int consent_unseal(const char *, const char *,
    const uint8_t[REFX_X25519_KEY_LEN], const uint8_t[REFX_X25519_KEY_LEN],
    const char *, const char *, uint8_t **, size_t *, char *, size_t)
    __attribute__((warn_unused_result));

/* --- the consent statement --------------------------------------------- */

#define CONSENT_STATEMENT_MAX	(16 * 1024)	/* bytes of a statement */
#define CONSENT_MISMATCH	"the server's copy does not match what the " \
				"school signed"

/* A consent as the school signed it, checked against the server's copy. */
struct consent_signed {
	char			cg_id[REFX_REFERRAL_ID_LEN + 1];
	char			cg_owner[REFX_AGENCY_ID_MAX + 1];
	char			cg_by[REFX_PERSON_ID_MAX + 1];
	struct consent_doc	cg_doc;	/* valid_until, parties, scope */
};

/**
 * consent_statement(doc, id, owner, person, out, len): The statement the
 * school signs for consent ${id}, recorded by ${person} of unit ${owner}:
 * canonical JSON (sorted keys, compact, no reals) of {"v":1, "consent",
 * "owner", "recorded_by", "valid_until", "parties", "scope"}, the scope
 * sorted by recipient and its classes in schema order.  ${out} (caller
 * frees) holds ${len} bytes.  Return 0 or -1.
 */
int consent_statement(const struct consent_doc *, const char *,
    const char *, const char *, uint8_t **, size_t *)
    __attribute__((warn_unused_result));

/**
 * consent_sign(doc, id, owner, person, keyfile, passphrase, cert_pem,
 * body, err, errlen): Sign the statement of ${doc} (consent_statement)
 * with the identity key ${keyfile} under REFX_CONSENT_CONTEXT and add
 * "statement" and "signature" (base64) and "certificate" (${cert_pem})
 * to ${body}.  Return 0 or -1 with a message.
 */
int consent_sign(const struct consent_doc *, const char *, const char *,
    const char *, const char *, const char *, const char *, struct json_t *,
    char *, size_t) __attribute__((warn_unused_result));

/**
 * consent_verify(answer, id, ca, crl, cg, err, errlen): Verify the answer
 * to GET /v1/consents/${id}: its certificate against ${ca} and ${crl} as
 * a person's, a submitter at a school; the signature over its statement;
 * the statement (canonical, for ${id}, owned and recorded by the
 * certificate's unit and person); and that the server's owner,
 * recorded_by, valid_until, parties and scope say exactly what it says.
 * Fill ${cg} from the signed statement, with each recipient's
 * withdrawn_at taken from the server (free with consent_doc_free on
 * cg_doc).  Return 0, or -1 with a message (CONSENT_MISMATCH and what
 * differs, when the server's copy is not the signed one).
 */
int consent_verify(struct json_t *, const char *, struct x509_st *,
    struct X509_crl_st *, struct consent_signed *, char *, size_t)
    __attribute__((warn_unused_result));

/* --- what a recipient may read ------------------------------------------ */

/**
 * packet_allowed(p, basis, kind, scope): The classes a recipient of
 * ${kind} may read: the policy's allowed set for ${basis}, and for a
 * consent also within the classes ${scope} covers (NULL for a report of
 * concern).
 */
refx_classes packet_allowed(const struct refx_policy *, enum refx_basis,
    enum refx_kind, const struct consent_scope *);

/**
 * packet_field_mask(draft, allowed): The fields of ${draft} whose class
 * is in ${allowed}, as bits (bit i: field i).
 */
uint32_t packet_field_mask(const struct refx_draft *, refx_classes);

/**
 * packet_withheld_why(p, basis, kind, scope, cls, why, len): Explain
 * why a field of class ${cls} is withheld from the recipient: "not
 * covered by consent" when the consent does not name the class but the
 * policy would allow it, else the policy's own sentence.
 */
void packet_withheld_why(const struct refx_policy *, enum refx_basis,
    enum refx_kind, const struct consent_scope *, enum refx_class, char *,
    size_t);

/* --- manifest ----------------------------------------------------------- */

struct manifest_field {
	char		mf_name[REFX_FIELD_NAME_MAX + 1];
	enum refx_class	mf_class;
	char		mf_sha256[PACKET_HASH_HEX + 1];
};

struct manifest_env {
	char		me_unit[REFX_AGENCY_ID_MAX + 1];
	uint32_t	me_fields;	/* bit i: m_fields[i] */
	char		me_sha256[PACKET_HASH_HEX + 1];
};

struct manifest {
	char			m_referral[REFX_REFERRAL_ID_LEN + 1];
	enum refx_basis		m_basis;
	char			m_consent[REFX_REFERRAL_ID_LEN + 1]; /* or "" */
	char			m_unit[REFX_AGENCY_ID_MAX + 1];
	char			m_person[REFX_PERSON_ID_MAX + 1];
	char			m_created_at[PACKET_TIME_LEN + 1];
	char			m_policy[PACKET_HASH_HEX + 1];
	struct manifest_field	m_fields[REFX_MAX_FIELDS];
	size_t			m_nfields;
	struct manifest_env	m_envs[PACKET_MAX_ENVELOPES];
	size_t			m_nenvs;
};

/**
 * manifest_encode(m, out, len): The canonical JSON of ${m} (sorted keys,
 * compact, integers only; caller frees ${out}).  Return 0 or -1.
 */
int manifest_encode(const struct manifest *, uint8_t **, size_t *)
    __attribute__((warn_unused_result));

/**
 * manifest_decode(data, len, m, err, errlen): Parse a manifest strictly:
 * known keys only, every value checked, and the bytes must be exactly
 * the canonical encoding of what they say.  Return 0 or -1 with a
 * message.
 */
int manifest_decode(const uint8_t *, size_t, struct manifest *, char *,
    size_t) __attribute__((warn_unused_result));

/* --- building a submission ---------------------------------------------- */

/* What to build. */
struct packet_spec {
	const struct refx_draft		*ps_draft;
	const char			*ps_id;		/* referral id */
	enum refx_basis			 ps_basis;
	const char			*ps_consent;	/* or NULL */
	const char			*ps_unit;	/* sender */
	const char			*ps_person;
	const char			*ps_created_at;
	const char			*ps_policy;	/* hash, hex */
	const struct packet_rcpt	*ps_rcpt;	/* sender's own too */
	size_t				 ps_nrcpt;
};

/* A built submission, every part in its final bytes. */
struct packet {
	struct manifest	 p_m;
	uint8_t		*p_manifest;
	size_t		 p_manifest_len;
	uint8_t		 p_sig[REFX_SIG_LEN];
	uint8_t		*p_blob[REFX_MAX_FIELDS];	/* p_m.m_nfields */
	size_t		 p_blob_len[REFX_MAX_FIELDS];
	uint8_t		*p_env[PACKET_MAX_ENVELOPES];	/* p_m.m_nenvs */
	size_t		 p_env_len[PACKET_MAX_ENVELOPES];
};

/**
 * packet_build(spec, err, errlen): Encrypt every field of the draft with
 * a fresh random key, seal to each recipient exactly the keys of its
 * fields, and write the manifest (canonical JSON).  Nothing is checked
 * against policy here: the caller decides the field lists.  Every key is
 * wiped before return.  Return the packet, still to be signed (free with
 * packet_free), or NULL with a message.
 */
struct packet *packet_build(const struct packet_spec *, char *, size_t);

/**
 * packet_sign(pk, keyfile, passphrase, err, errlen): Sign the manifest
 * of ${pk} with the sender's Ed25519 key file (${passphrase} may be
 * NULL).  Return 0 or -1 with a message.
 */
int packet_sign(struct packet *, const char *, const char *, char *, size_t)
    __attribute__((warn_unused_result));

/**
 * packet_body(pk, cert_pem): The body of POST /v1/referrals for ${pk}
 * signed by the certificate ${cert_pem}.  Return it or NULL (no memory).
 */
struct json_t *packet_body(const struct packet *, const char *);

/** packet_free(pk): Free ${pk}; NULL is a no-op. */
void packet_free(struct packet *);

/* --- receiving ---------------------------------------------------------- */

/* One field of a received packet. */
struct recv_field {
	size_t		 rf_idx;	/* in rv_m.m_fields */
	uint8_t		*rf_blob;
	size_t		 rf_blob_len;
	uint8_t		*rf_pt;		/* after packet_decrypt: secret */
	size_t		 rf_pt_len;
};

/* A pulled packet (GET /v1/referrals/ID), verified by packet_check. */
struct packet_recv {
	char			 rv_unit[REFX_AGENCY_ID_MAX + 1];  /* ours */
	struct manifest		 rv_m;
	struct refx_identity	 rv_sender;	/* from its certificate */
	size_t			 rv_env;	/* our entry in rv_m.m_envs */
	uint8_t			*rv_sealed;
	size_t			 rv_sealed_len;
	struct recv_field	 rv_f[REFX_MAX_FIELDS];	/* manifest order */
	size_t			 rv_n;
};

/**
 * packet_check(answer, id, unit, ca, crl, rv, err, errlen): Verify the
 * answer to GET /v1/referrals/${id} for our unit ${unit} before anything
 * is decrypted: decode everything; the manifest is canonical and names
 * ${id}; the sender's certificate verifies against ${ca} and ${crl} as a
 * person's, names the manifest's sender, a submitter of a school; the
 * signature verifies; our envelope and each field blob match their
 * hashes; the blobs received are exactly the fields our entry lists.
 * Fill ${rv} (free with packet_recv_free) or return -1 with a message
 * saying what failed.
 */
int packet_check(struct json_t *, const char *, const char *,
    struct x509_st *, struct X509_crl_st *, struct packet_recv *, char *,
    size_t) __attribute__((warn_unused_result));

/**
 * packet_decrypt(rv, pk, sk, err, errlen): Open our envelope with the
 * unit's key pair, check that it holds exactly the keys of the fields
 * listed for us, decrypt each field and validate it against its class.
 * Return 0 or -1 with a message.
 */
int packet_decrypt(struct packet_recv *, const uint8_t[REFX_X25519_KEY_LEN],
    const uint8_t[REFX_X25519_KEY_LEN], char *, size_t)
    __attribute__((warn_unused_result));

/** packet_recv_free(rv): Wipe and free what ${rv} holds. */
void packet_recv_free(struct packet_recv *);

#endif /* !REFX_CLI_PACKET_H */
