#ifndef REFX_SCHEMA_H
#define REFX_SCHEMA_H

/*
 * The referral schema: field classes and the validation of a referral
 * draft (a JSON file written at the school).  The machine-readable
 * schema is schema/referral-v1.json, compiled into librefx; the human
 * description is docs/referral-schema.md.
 *
 * Each top-level field of a draft is one field class and is encrypted as
 * one unit with its own key.  Attachments are extra fields named
 * "attachment-1", "attachment-2", ... each of a declared class.
 */
#include <stddef.h>
#include <stdint.h>

#define REFX_SCHEMA_ID		"refx-referral-1"
#define REFX_FIELD_NAME_MAX	32
#define REFX_MAX_FIELDS		32
#define REFX_MAX_RECIPIENTS	8
#define REFX_ATTACHMENT_MAX	(2 * 1024 * 1024)	/* bytes, raw file */
#define REFX_MAX_ATTACHMENTS	4
#define REFX_DRAFT_MAX		(64 * 1024)		/* bytes of draft JSON */

/* Field classes, after the redaction matrix of domain.md section 6. */
enum refx_class {
	REFX_CLASS_IDENTITY,		/* name, personnummer */
	REFX_CLASS_SCHOOL,		/* school and class */
	REFX_CLASS_ABSENCE_STATS,	/* absence statistics */
	REFX_CLASS_ABSENCE_PATTERN,	/* days, lessons, times */
	REFX_CLASS_GUARDIANS,		/* guardian contacts */
	REFX_CLASS_PEDAGOGICAL,		/* pedagogical assessment */
	REFX_CLASS_EMI_MEDICAL,		/* elevhälsa medical notes */
	REFX_CLASS_PSYCHOLOGICAL,	/* psychological assessment */
	REFX_CLASS_DIAGNOSES,		/* known diagnoses */
	REFX_CLASS_HOME,		/* social situation at home */
	REFX_CLASS_INTERVENTIONS,	/* prior interventions */
	REFX_CLASS_PUPIL_VIEW,		/* the pupil's own view */
	REFX_CLASS_REASON,		/* reason for referral */
	REFX_CLASS_COUNT
};

/* A set of classes, bit (1u << class). */
typedef uint32_t refx_classes;
#define REFX_CLASS_BIT(c)	((refx_classes)1 << (c))
#define REFX_CLASSES_ALL	(REFX_CLASS_BIT(REFX_CLASS_COUNT) - 1)

/** refx_class_name(c): The schema name of ${c} ("diagnoses"), or "?". */
const char *refx_class_name(enum refx_class);

/** refx_class_parse(s, c): Parse a class name.  Return 0 or -1. */
int refx_class_parse(const char *, enum refx_class *);

/** refx_class_title(c): A short English title of ${c}, for people. */
const char *refx_class_title(enum refx_class);

/* One field of a draft, ready to encrypt. */
struct refx_field {
	char		 f_name[REFX_FIELD_NAME_MAX + 1];  /* "diagnoses" */
	enum refx_class	 f_class;
	uint8_t		*f_value;	/* canonical JSON (UTF-8), owned */
	size_t		 f_len;
};

/* A validated draft. */
struct refx_draft {
	struct refx_field	 d_fields[REFX_MAX_FIELDS];
	size_t			 d_nfields;
	char			 d_recipients[REFX_MAX_RECIPIENTS][64];
	size_t			 d_nrecipients;
	int			 d_concern;	/* "basis": "report-of-concern" */
};

/**
 * refx_draft_load(path, err, errlen): Read and validate the draft file
 * ${path} (attachment paths are relative to its directory).  On success
 * return a draft (free with refx_draft_free).  On failure return NULL
 * with a message naming the field in ${err}, e.g.
 * "fields.identity.personnummer: invalid check digit".
 */
struct refx_draft *refx_draft_load(const char *, char *, size_t);

/**
 * refx_draft_parse(json, len, basedir, err, errlen): As refx_draft_load,
 * from memory; attachments are read relative to ${basedir}.
 */
struct refx_draft *refx_draft_parse(const uint8_t *, size_t, const char *,
    char *, size_t);

/** refx_draft_free(d): Wipe and free ${d}; NULL is a no-op. */
void refx_draft_free(struct refx_draft *);

/**
 * refx_field_validate(name, cls, value, len, err, errlen): Validate one
 * decrypted field value against the schema (recipients use this on what
 * they decrypt).  Return 0 or -1 with a message.
 */
int refx_field_validate(const char *, enum refx_class, const uint8_t *,
    size_t, char *, size_t);

/**
 * refx_personnummer_valid(s): Return 1 if ${s} is a Swedish personal
 * identity number (or coordination number) with a valid date and check
 * digit, in the forms YYMMDD-NNNC, YYMMDD+NNNC, YYYYMMDDNNNC,
 * YYYYMMDD-NNNC or YYMMDDNNNC; else 0.
 */
int refx_personnummer_valid(const char *);

/** refx_schema_json(len): The compiled-in schema document. */
const char *refx_schema_json(size_t *);

/**
 * refx_utf8_valid(s, len, allow_newlines): Return 1 if the ${len} bytes at
 * ${s} are well-formed UTF-8 without NUL, control, line-separator or
 * bidirectional-control characters (newline and tab are allowed if
 * ${allow_newlines}), else 0.
 */
int refx_utf8_valid(const char *, size_t, int);

#endif /* !REFX_SCHEMA_H */
