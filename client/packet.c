/*
 * Referral and consent packets on the client: consent files, allowed
 * fields, the manifest, building a submission and checking a pulled one.
 * Pure: no network and no terminal.  See packet.h and docs/api.md.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "refx/cert.h"
#include "refx/envelope.h"
#include "refx/identity.h"
#include "refx/policy.h"
#include "refx/schema.h"
#include "refx/secret.h"

#include "packet.h"

#define CANON_FLAGS	(JSON_COMPACT | JSON_SORT_KEYS)
#define METHOD_MAX	256	/* bytes: how consent was obtained */
#define ASSESSMENT_MAX	2048	/* bytes: the maturity assessment */
#define NOTES_MAX	4096	/* bytes: free-text notes */
#define ROLE_MAX	16
#define CERT_PEM_MAX	(64 * 1024)
#define ENVELOPE_MAX	(64 * 1024)	/* decoded bytes of one envelope */
#define BLOB_MAX	(4 * 1024 * 1024)	/* decoded bytes of a blob */
#define PRIVATE_MAX	(64 * 1024)	/* bytes of a consent private part */
#define PATH_MAX_LEN	64		/* "recipients[7].itemised[12]" */

/* Fill ${err} and return -1. */
static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return (-1);
}

/* --- small helpers ------------------------------------------------------ */

/** packet_now(out): The current UTC time as YYYY-MM-DDTHH:MM:SSZ. */
void
packet_now(char out[PACKET_TIME_LEN + 1])
{
	struct tm tm;
	time_t t = time(NULL);

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, PACKET_TIME_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) !=
	    PACKET_TIME_LEN)
		snprintf(out, PACKET_TIME_LEN + 1, "1970-01-01T00:00:00Z");
}

/** packet_today(out): The current UTC date as YYYY-MM-DD. */
void
packet_today(char out[PACKET_DATE_LEN + 1])
{
	char now[PACKET_TIME_LEN + 1];

	packet_now(now);
	memcpy(out, now, PACKET_DATE_LEN);
	out[PACKET_DATE_LEN] = '\0';
}

/* The value of the ${n} decimal digits at ${s}, or -1. */
static int
digits(const char *s, size_t n)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (s[i] - '0');
	}
	return (v);
}

/* Check a date at ${s} without looking past its 10 characters. */
static int
date_ok(const char *s)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int y, m, d, leap;

	if (s[4] != '-' || s[7] != '-' || (y = digits(s, 4)) < 1 ||
	    (m = digits(s + 5, 2)) < 1 || m > 12 || (d = digits(s + 8, 2)) < 1)
		return (0);
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return (d <= mdays[m - 1] + (m == 2 && leap));
}

/** packet_date_valid(s): 1 if ${s} is a real calendar date YYYY-MM-DD. */
int
packet_date_valid(const char *s)
{

	return (strlen(s) == PACKET_DATE_LEN && date_ok(s));
}

/** packet_time_valid(s): 1 if ${s} is a real UTC time as packet_now. */
int
packet_time_valid(const char *s)
{
	int h, m, sec;

	return (strlen(s) == PACKET_TIME_LEN && date_ok(s) && s[10] == 'T' &&
	    s[13] == ':' && s[16] == ':' && s[19] == 'Z' &&
	    (h = digits(s + 11, 2)) >= 0 && h < 24 &&
	    (m = digits(s + 14, 2)) >= 0 && m < 60 &&
	    (sec = digits(s + 17, 2)) >= 0 && sec < 61);
}

/** packet_field_name_valid(s): 1 if ${s} is 1-32 of [a-z0-9_-]. */
int
packet_field_name_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > REFX_FIELD_NAME_MAX)
		return (0);
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return (0);
	return (1);
}

/* The string of ${v} if it is one without NUL, else NULL. */
static const char *
str_of(json_t *v)
{

	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return (NULL);
	return (json_string_value(v));
}

/*
 * Copy at most ${max} bytes of the untrusted string ${s} into ${buf} of
 * ${len} bytes (at least 4 * max + 1) for a message: printable ASCII as
 * itself, every other byte as \xNN, so that no control, C1 or
 * bidirectional character of a server's answer reaches a terminal.
 */
static const char *
shown(char *buf, size_t len, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, o = 0;

	for (i = 0; p[i] != '\0' && i < max && o + 5 <= len; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			buf[o++] = (char)p[i];
		else
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x",
			    p[i]);
	}
	buf[o] = '\0';
	return (buf);
}

/*
 * Check that the object ${o} has no key outside ${keys} (NULL-ended);
 * name the first stranger, under ${path} ("" at the top).
 */
static int
only_keys(json_t *o, const char *const *keys, const char *path, char *err,
    size_t errlen)
{
	char kb[4 * 64 + 1];
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(o, k, v) {
		for (i = 0; keys[i] != NULL; i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		if (keys[i] == NULL)
			return (fail(err, errlen, "%s%s%s: unknown key",
			    path, path[0] != '\0' ? "." : "",
			    shown(kb, sizeof(kb), k, 64)));
	}
	return (0);
}

/*
 * Return 1 if ${s} is text for people: no control characters (but
 * newlines and tabs if ${multiline}), and none of the characters that
 * forge terminal lines or reorder them.
 */
static int
text_ok(const char *s, int multiline)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++) {
		if (*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t')))
			return (0);
		if (*p == 0x7f)
			return (0);
		/* C1, U+200E/F, U+2028/9, U+202A-E, U+2066-9, U+FEFF. */
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			return (0);
		if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0x8e ||
		    p[2] == 0x8f))
			return (0);
		if (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
			return (0);
		if (p[0] == 0xe2 && p[1] == 0x80 && p[2] >= 0xa8 &&
		    p[2] <= 0xae)
			return (0);
		if (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 &&
		    p[2] <= 0xa9)
			return (0);
	}
	return (1);
}

/*
 * Get the text member ${key} of ${o} (under ${path}): a string of 1 to
 * ${max} bytes, printable (see text_ok).  ${*out} is NULL if it is
 * absent and not ${required}.
 */
static int
get_text(json_t *o, const char *key, size_t max, int required, int multiline,
    const char *path, const char **out, char *err, size_t errlen)
{
	const char *dot = path[0] != '\0' ? "." : "";
	json_t *v;

	*out = NULL;
	if ((v = json_object_get(o, key)) == NULL) {
		if (required)
			return (fail(err, errlen, "%s%s%s: missing", path, dot,
			    key));
		return (0);
	}
	if ((*out = str_of(v)) == NULL)
		return (fail(err, errlen, "%s%s%s: must be a string", path,
		    dot, key));
	if (**out == '\0')
		return (fail(err, errlen, "%s%s%s: must not be empty", path,
		    dot, key));
	if (strlen(*out) > max)
		return (fail(err, errlen, "%s%s%s: too long (more than %zu "
		    "bytes)", path, dot, key, max));
	if (!text_ok(*out, multiline))
		return (fail(err, errlen, "%s%s%s: contains a control "
		    "character", path, dot, key));
	return (0);
}

/* Get the boolean member ${key} of ${o}; -1 if absent or not one. */
static int
get_bool(json_t *o, const char *key, const char *path, int *out, char *err,
    size_t errlen)
{
	json_t *v;

	if ((v = json_object_get(o, key)) == NULL)
		return (fail(err, errlen, "%s.%s: missing", path, key));
	if (!json_is_boolean(v))
		return (fail(err, errlen, "%s.%s: must be true or false", path,
		    key));
	*out = json_is_true(v);
	return (0);
}

/* --- consents ------------------------------------------------------------ */

/*
 * Parse the array ${a} of class names at ${path} into ${set}; each known
 * and given once.  ${empty_ok}: whether [] is allowed.
 */
static int
parse_classes(json_t *a, const char *path, int empty_ok, refx_classes *set,
    char *err, size_t errlen)
{
	enum refx_class cls;
	char sb[4 * 40 + 1];
	const char *s;
	json_t *v;
	size_t i;

	*set = 0;
	if (!json_is_array(a) || json_array_size(a) > REFX_CLASS_COUNT ||
	    (!empty_ok && json_array_size(a) == 0))
		return (fail(err, errlen, "%s: must be a %slist of classes",
		    path, empty_ok ? "" : "non-empty "));
	json_array_foreach(a, i, v) {
		if ((s = str_of(v)) == NULL)
			return (fail(err, errlen, "%s[%zu]: must be a class "
			    "name", path, i));
		if (refx_class_parse(s, &cls))
			return (fail(err, errlen, "%s[%zu]: unknown class "
			    "'%s'", path, i, shown(sb, sizeof(sb), s, 40)));
		if (*set & REFX_CLASS_BIT(cls))
			return (fail(err, errlen, "%s[%zu]: '%s' is listed "
			    "twice", path, i, refx_class_name(cls)));
		*set |= REFX_CLASS_BIT(cls);
	}
	return (0);
}

/*
 * Parse one scope entry ${o} at ${path}: the recipient under ${unitkey}
 * ("unit" in a consent file, "recipient" from the server), its classes
 * and the itemised ones among them.
 */
static int
parse_scope(json_t *o, const char *unitkey, const char *path,
    struct consent_scope *sc, char *err, size_t errlen)
{
	const char *const keys[] = { unitkey, "classes", "itemised",
	    "feedback", strcmp(unitkey, "recipient") == 0 ? "withdrawn_at" :
	    NULL, NULL };
	char sub[PATH_MAX_LEN + 16], ub[4 * 64 + 1];
	enum refx_class cls;
	const char *unit, *s;
	json_t *it, *v;
	size_t i;

	memset(sc, 0, sizeof(*sc));
	if (!json_is_object(o))
		return (fail(err, errlen, "%s: must be an object", path));
	if (only_keys(o, keys, path, err, errlen))
		return (-1);

	/* From the server: when it was withdrawn for this recipient. */
	if ((v = json_object_get(o, "withdrawn_at")) != NULL &&
	    !json_is_null(v)) {
		if ((s = str_of(v)) == NULL || !packet_time_valid(s))
			return (fail(err, errlen, "%s.withdrawn_at: must be a "
			    "time or null", path));
		memcpy(sc->cs_withdrawn_at, s, PACKET_TIME_LEN + 1);
	}
	if ((unit = str_of(json_object_get(o, unitkey))) == NULL)
		return (fail(err, errlen, "%s.%s: missing", path, unitkey));
	if (!refx_agency_id_valid(unit))
		return (fail(err, errlen, "%s.%s: '%s' is not a valid unit "
		    "id", path, unitkey, shown(ub, sizeof(ub), unit, 64)));
	memcpy(sc->cs_unit, unit, strlen(unit) + 1);

	/* Whether this recipient may answer the school in full. */
	if ((v = json_object_get(o, "feedback")) != NULL) {
		if (!json_is_boolean(v))
			return (fail(err, errlen, "%s.feedback: must be true "
			    "or false", path));
		sc->cs_feedback = json_is_true(v);
	}

	snprintf(sub, sizeof(sub), "%s.classes", path);
	if (parse_classes(json_object_get(o, "classes"), sub, 0,
	    &sc->cs_classes, err, errlen))
		return (-1);

	/* Itemised: optional, each one of its classes. */
	if ((it = json_object_get(o, "itemised")) == NULL)
		return (0);
	snprintf(sub, sizeof(sub), "%s.itemised", path);
	if (parse_classes(it, sub, 1, &sc->cs_itemised, err, errlen))
		return (-1);
	json_array_foreach(it, i, v) {
		if (refx_class_parse(json_string_value(v), &cls) == 0 &&
		    (sc->cs_classes & REFX_CLASS_BIT(cls)) == 0)
			return (fail(err, errlen, "%s: '%s' is not among its "
			    "classes", sub, refx_class_name(cls)));
	}
	return (0);
}

/* Parse the scope array ${a} (under ${key}) into ${out}, ${n}. */
static int
parse_scope_list(json_t *a, const char *key, const char *unitkey,
    struct consent_scope *out, size_t *n, char *err, size_t errlen)
{
	char path[PATH_MAX_LEN];
	json_t *v;
	size_t i, j;

	*n = 0;
	if (!json_is_array(a) || json_array_size(a) == 0 ||
	    json_array_size(a) > CONSENT_MAX_SCOPE)
		return (fail(err, errlen, "%s: must be a list of 1 to %d "
		    "recipients", key, CONSENT_MAX_SCOPE));
	json_array_foreach(a, i, v) {
		snprintf(path, sizeof(path), "%s[%zu]", key, i);
		if (parse_scope(v, unitkey, path, &out[i], err, errlen))
			return (-1);
		for (j = 0; j < i; j++)
			if (strcmp(out[j].cs_unit, out[i].cs_unit) == 0)
				return (fail(err, errlen, "%s.%s: '%s' is "
				    "listed twice", path, unitkey,
				    out[i].cs_unit));
		*n = i + 1;
	}
	return (0);
}

/* Parse the public fields of one party ${o} at ${path}. */
static int
parse_party_public(json_t *o, const char *path, struct consent_party *cp,
    char *err, size_t errlen)
{
	const char *role, *dec;

	memset(cp, 0, sizeof(*cp));
	if ((role = str_of(json_object_get(o, "role"))) == NULL ||
	    (strcmp(role, "guardian") != 0 && strcmp(role, "pupil") != 0))
		return (fail(err, errlen, "%s.role: must be guardian or pupil",
		    path));
	cp->cp_pupil = strcmp(role, "pupil") == 0;

	/* custody for guardians, mature for the pupil, never both. */
	if (json_object_get(o, cp->cp_pupil ? "custody" : "mature") != NULL)
		return (fail(err, errlen, "%s.%s: only for %s", path,
		    cp->cp_pupil ? "custody" : "mature",
		    cp->cp_pupil ? "guardians" : "the pupil"));
	if (get_bool(o, cp->cp_pupil ? "mature" : "custody", path,
	    &cp->cp_flag, err, errlen))
		return (-1);

	if ((dec = str_of(json_object_get(o, "decision"))) == NULL ||
	    (strcmp(dec, "yes") != 0 && strcmp(dec, "no") != 0))
		return (fail(err, errlen, "%s.decision: must be yes or no",
		    path));
	cp->cp_yes = strcmp(dec, "yes") == 0;
	return (0);
}

/* Check a date member: required, valid, and on the right side of today. */
static int
get_date(json_t *o, const char *key, const char *path, const char *today,
    int not_before_today, char out[PACKET_DATE_LEN + 1], char *err,
    size_t errlen)
{
	const char *dot = path[0] != '\0' ? "." : "";
	const char *s;

	if ((s = str_of(json_object_get(o, key))) == NULL ||
	    !packet_date_valid(s))
		return (fail(err, errlen, "%s%s%s: must be a date YYYY-MM-DD",
		    path, dot, key));
	if (not_before_today && strcmp(s, today) < 0)
		return (fail(err, errlen, "%s%s%s: %s is in the past", path,
		    dot, key, s));
	if (!not_before_today && strcmp(s, today) > 0)
		return (fail(err, errlen, "%s%s%s: %s is in the future", path,
		    dot, key, s));
	memcpy(out, s, PACKET_DATE_LEN + 1);
	return (0);
}

/*
 * Parse one party of a consent file into its public part ${cp} and a
 * new private object ${priv}.
 */
static int
parse_party_file(json_t *o, const char *path, const char *today,
    struct consent_party *cp, json_t *priv, char *err, size_t errlen)
{
	static const char *const keys[] = { "role", "name", "custody",
	    "mature", "decision", "date", "method", "maturity_assessment",
	    NULL };
	char date[PACKET_DATE_LEN + 1];
	const char *name, *method, *ma;

	if (!json_is_object(o))
		return (fail(err, errlen, "%s: must be an object", path));
	if (only_keys(o, keys, path, err, errlen) ||
	    parse_party_public(o, path, cp, err, errlen))
		return (-1);

	/* The details, for the sealed part only. */
	if ((name = str_of(json_object_get(o, "name"))) == NULL ||
	    !refx_name_valid(name))
		return (fail(err, errlen, "%s.name: must be 1 to %d bytes of "
		    "printable text", path, REFX_NAME_MAX));
	if (get_date(o, "date", path, today, 0, date, err, errlen) ||
	    get_text(o, "method", METHOD_MAX, 1, 0, path, &method, err,
	    errlen) ||
	    get_text(o, "maturity_assessment", ASSESSMENT_MAX, 0, 1, path, &ma,
	    err, errlen))
		return (-1);
	if (!cp->cp_pupil && ma != NULL)
		return (fail(err, errlen, "%s.maturity_assessment: only for "
		    "the pupil", path));
	if (cp->cp_pupil && cp->cp_flag && ma == NULL)
		return (fail(err, errlen, "%s.maturity_assessment: required "
		    "when the pupil is judged mature", path));

	if (json_object_set_new(priv, "role",
	    json_string(cp->cp_pupil ? "pupil" : "guardian")) ||
	    json_object_set_new(priv, cp->cp_pupil ? "mature" : "custody",
	    json_boolean(cp->cp_flag)) ||
	    json_object_set_new(priv, "decision",
	    json_string(cp->cp_yes ? "yes" : "no")) ||
	    json_object_set_new(priv, "name", json_string(name)) ||
	    json_object_set_new(priv, "date", json_string(date)) ||
	    json_object_set_new(priv, "method", json_string(method)) ||
	    (ma != NULL && json_object_set_new(priv, "maturity_assessment",
	    json_string(ma))))
		return (fail(err, errlen, "out of memory"));
	return (0);
}

/**
 * consent_file_parse(json, len, today, doc, err, errlen): Parse and
 * validate a consent file (see refx(1)) as of the date ${today}.  Fill
 * ${doc} (free with consent_doc_free), or return -1 with a message
 * naming the field in ${err} ("parties[1].decision: must be yes or no").
 */
int
consent_file_parse(const uint8_t *data, size_t len, const char *today,
    struct consent_doc *doc, char *err, size_t errlen)
{
	static const char *const keys[] = { "valid_until", "recipients",
	    "parties", "notes", NULL };
	char path[PATH_MAX_LEN];
	json_error_t je;
	json_t *root, *parties, *plist, *p, *v;
	const char *notes;
	size_t i, pupils = 0;

	memset(doc, 0, sizeof(*doc));
	if (len > CONSENT_FILE_MAX)
		return (fail(err, errlen, "larger than %d bytes",
		    CONSENT_FILE_MAX));
	if ((root = json_loadb((const char *)data, len,
	    JSON_REJECT_DUPLICATES, &je)) == NULL)
		return (fail(err, errlen, "line %d, column %d: %s", je.line,
		    je.column, je.text));
	if (!json_is_object(root)) {
		fail(err, errlen, "must be a JSON object");
		goto err1;
	}
	if (only_keys(root, keys, "", err, errlen) ||
	    get_date(root, "valid_until", "", today, 1, doc->cd_valid_until,
	    err, errlen) ||
	    parse_scope_list(json_object_get(root, "recipients"),
	    "recipients", "unit", doc->cd_scope, &doc->cd_nscope, err,
	    errlen) ||
	    get_text(root, "notes", NOTES_MAX, 0, 1, "", &notes, err, errlen))
		goto err1;

	/* The private part: each party's details, and the notes. */
	if ((doc->cd_private = json_object()) == NULL ||
	    (plist = json_array()) == NULL) {
		fail(err, errlen, "out of memory");
		goto err1;
	}
	if (json_object_set_new(doc->cd_private, "parties", plist) ||
	    json_object_set_new(doc->cd_private, "v", json_integer(1)) ||
	    (notes != NULL && json_object_set_new(doc->cd_private, "notes",
	    json_string(notes)))) {
		fail(err, errlen, "out of memory");
		goto err1;
	}

	parties = json_object_get(root, "parties");
	if (!json_is_array(parties) || json_array_size(parties) == 0 ||
	    json_array_size(parties) > CONSENT_MAX_PARTIES) {
		fail(err, errlen, "parties: must be a list of 1 to %d parties",
		    CONSENT_MAX_PARTIES);
		goto err1;
	}
	json_array_foreach(parties, i, v) {
		snprintf(path, sizeof(path), "parties[%zu]", i);
		if ((p = json_object()) == NULL ||
		    json_array_append_new(plist, p)) {
			fail(err, errlen, "out of memory");
			goto err1;
		}
		if (parse_party_file(v, path, today, &doc->cd_parties[i], p,
		    err, errlen))
			goto err1;
		if (doc->cd_parties[i].cp_pupil && ++pupils > 1) {
			fail(err, errlen, "%s.role: there can be only one "
			    "pupil", path);
			goto err1;
		}
		doc->cd_nparties = i + 1;
	}
	json_decref(root);
	return (0);

err1:
	json_decref(root);
	consent_doc_free(doc);
	return (-1);
}

/** consent_doc_free(doc): Free what ${doc} holds; it may be reused. */
void
consent_doc_free(struct consent_doc *doc)
{

	json_decref(doc->cd_private);
	memset(doc, 0, sizeof(*doc));
}

/* The scope entry ${sc} as JSON: {recipient, classes, itemised}. */
static json_t *
scope_json(const struct consent_scope *sc)
{
	json_t *o, *cl, *it;
	int c;

	if ((o = json_object()) == NULL)
		return (NULL);
	if (json_object_set_new(o, "recipient", json_string(sc->cs_unit)) ||
	    json_object_set_new(o, "classes", cl = json_array()) ||
	    json_object_set_new(o, "itemised", it = json_array()))
		goto err;
	/* Only when given: statements without it keep their bytes. */
	if (sc->cs_feedback &&
	    json_object_set_new(o, "feedback", json_true()))
		goto err;
	for (c = 0; c < REFX_CLASS_COUNT; c++) {
		if ((sc->cs_classes & REFX_CLASS_BIT(c)) &&
		    json_array_append_new(cl,
		    json_string(refx_class_name((enum refx_class)c))))
			goto err;
		if ((sc->cs_itemised & REFX_CLASS_BIT(c)) &&
		    json_array_append_new(it,
		    json_string(refx_class_name((enum refx_class)c))))
			goto err;
	}
	return (o);

err:
	json_decref(o);
	return (NULL);
}

/**
 * consent_public(doc, id): The public part of POST /v1/consents: id,
 * valid_until, parties (role, custody or mature, decision) and scope.
 * Return a new object, or NULL if out of memory.
 */
json_t *
consent_public(const struct consent_doc *doc, const char *id)
{
	const struct consent_party *cp;
	json_t *o, *parties, *scope, *p;
	size_t i;

	if ((o = json_object()) == NULL)
		return (NULL);
	if (json_object_set_new(o, "id", json_string(id)) ||
	    json_object_set_new(o, "valid_until",
	    json_string(doc->cd_valid_until)) ||
	    json_object_set_new(o, "parties", parties = json_array()) ||
	    json_object_set_new(o, "scope", scope = json_array()))
		goto err;
	for (i = 0; i < doc->cd_nparties; i++) {
		cp = &doc->cd_parties[i];
		if (json_array_append_new(parties, p = json_object()) ||
		    json_object_set_new(p, "role",
		    json_string(cp->cp_pupil ? "pupil" : "guardian")) ||
		    json_object_set_new(p, cp->cp_pupil ? "mature" : "custody",
		    json_boolean(cp->cp_flag)) ||
		    json_object_set_new(p, "decision",
		    json_string(cp->cp_yes ? "yes" : "no")))
			goto err;
	}
	for (i = 0; i < doc->cd_nscope; i++)
		if (json_array_append_new(scope, scope_json(&doc->cd_scope[i])))
			goto err;
	return (o);

err:
	json_decref(o);
	return (NULL);
}

/* Copy the jansson string ${s} into sodium_malloc'd memory; free ${s}. */
static int
to_secret(char *s, uint8_t **pt, size_t *len)
{
	size_t n = strlen(s);

	if ((*pt = sodium_malloc(n + 1)) == NULL) {
		sodium_memzero(s, n);
		free(s);
		return (-1);
	}
	memcpy(*pt, s, n + 1);
	*len = n;
	sodium_memzero(s, n);
	free(s);
	return (0);
}

/**
 * consent_private(doc, pt, len): The private part as canonical JSON (in
 * sodium_malloc'd memory; free with refx_secret_free(pt, len)).  Return
 * 0 or -1.
 */
int
consent_private(const struct consent_doc *doc, uint8_t **pt, size_t *len)
{
	char *s;

	*pt = NULL;
	*len = 0;
	if (doc->cd_private == NULL ||
	    (s = json_dumps(doc->cd_private, CANON_FLAGS)) == NULL)
		return (-1);
	return (to_secret(s, pt, len));
}

/* The name of party ${i} from the private part, or "". */
static const char *
party_name(const struct consent_doc *doc, size_t i)
{
	const char *s;

	s = str_of(json_object_get(json_array_get(json_object_get(
	    doc->cd_private, "parties"), i), "name"));
	return (s != NULL ? s : "");
}

/**
 * consent_check_parties(doc, msg, msglen): Say in ${msg} whether every
 * guardian with custody, and a mature pupil, agreed (domain rules: one
 * "no" and there is no consent).  Return 0 if so, else 1 with the
 * reasons in ${msg}.
 */
int
consent_check_parties(const struct consent_doc *doc, char *msg,
    size_t msglen)
{
	const struct consent_party *cp;
	size_t i, o = 0, voices = 0;
	int n, bad = 0;

	msg[0] = '\0';
	for (i = 0; i < doc->cd_nparties; i++) {
		cp = &doc->cd_parties[i];
		if (cp->cp_flag)
			voices++;
		if (!cp->cp_flag || cp->cp_yes)
			continue;
		bad = 1;
		n = snprintf(msg + o, msglen - o, "%s%s (%s) said no",
		    o > 0 ? "; " : "", party_name(doc, i), cp->cp_pupil ?
		    "the pupil, judged mature" : "guardian with custody");
		if (n < 0 || (size_t)n >= msglen - o)
			return (1);
		o += (size_t)n;
	}
	if (voices == 0) {
		snprintf(msg + o, msglen - o, "%sneither a guardian with "
		    "custody nor a mature pupil is recorded",
		    o > 0 ? "; " : "");
		return (1);
	}
	return (bad);
}

/**
 * consent_scope_parse(scope, out, n, err, errlen): Parse the "scope"
 * array of a consent as the server returns it, strictly.  Return 0 or
 * -1 with a message.
 */
int
consent_scope_parse(json_t *scope, struct consent_scope *out, size_t *n,
    char *err, size_t errlen)
{

	return (parse_scope_list(scope, "scope", "recipient", out, n, err,
	    errlen));
}

/**
 * consent_parties_parse(parties, doc, err, errlen): Parse the public
 * "parties" array as the server returns it into ${doc}.  Return 0 or -1.
 */
int
consent_parties_parse(json_t *parties, struct consent_doc *doc, char *err,
    size_t errlen)
{
	static const char *const gkeys[] = { "role", "custody", "decision",
	    NULL };
	static const char *const pkeys[] = { "role", "mature", "decision",
	    NULL };
	char path[PATH_MAX_LEN];
	json_t *v;
	size_t i;

	doc->cd_nparties = 0;
	if (!json_is_array(parties) || json_array_size(parties) == 0 ||
	    json_array_size(parties) > CONSENT_MAX_PARTIES)
		return (fail(err, errlen, "parties: must be a list of 1 to %d "
		    "parties", CONSENT_MAX_PARTIES));
	json_array_foreach(parties, i, v) {
		snprintf(path, sizeof(path), "parties[%zu]", i);
		if (!json_is_object(v))
			return (fail(err, errlen, "%s: must be an object",
			    path));
		if (parse_party_public(v, path, &doc->cd_parties[i], err,
		    errlen) ||
		    only_keys(v, doc->cd_parties[i].cp_pupil ? pkeys : gkeys,
		    path, err, errlen))
			return (-1);
		doc->cd_nparties = i + 1;
	}
	return (0);
}

/**
 * consent_private_parse(pt, len, pub, err, errlen): Parse and check a
 * decrypted private part against the public parties of ${pub}: as many,
 * and each with the same role, custody or maturity, and decision, so that
 * the names shown are never put next to positions changed on the server.
 * Return the object (json_decref it) or NULL with a message.
 */
json_t *
consent_private_parse(const uint8_t *pt, size_t len,
    const struct consent_doc *pub, char *err, size_t errlen)
{
	static const char *const keys[] = { "v", "parties", "notes", NULL };
	static const char *const pkeys[] = { "role", "name", "custody",
	    "mature", "decision", "date", "method", "maturity_assessment",
	    NULL };
	char path[PATH_MAX_LEN];
	struct consent_party cp;
	const char *s;
	json_t *root, *parties, *v;
	size_t i;

	if (len > PRIVATE_MAX || (root = json_loadb((const char *)pt, len,
	    JSON_REJECT_DUPLICATES, NULL)) == NULL) {
		fail(err, errlen, "the private part is not JSON");
		return (NULL);
	}
	if (!json_is_object(root) || only_keys(root, keys, "", err, errlen) ||
	    !json_is_integer(json_object_get(root, "v")) ||
	    json_integer_value(json_object_get(root, "v")) != 1 ||
	    get_text(root, "notes", NOTES_MAX, 0, 1, "", &s, err, errlen))
		goto bad;
	parties = json_object_get(root, "parties");
	if (!json_is_array(parties) ||
	    json_array_size(parties) != pub->cd_nparties)
		goto bad;
	json_array_foreach(parties, i, v) {
		snprintf(path, sizeof(path), "parties[%zu]", i);
		if (!json_is_object(v) ||
		    only_keys(v, pkeys, path, err, errlen) ||
		    parse_party_public(v, path, &cp, err, errlen) ||
		    (s = str_of(json_object_get(v, "name"))) == NULL ||
		    !refx_name_valid(s) ||
		    (s = str_of(json_object_get(v, "date"))) == NULL ||
		    !packet_date_valid(s) ||
		    get_text(v, "method", METHOD_MAX, 1, 0, path, &s, err,
		    errlen) ||
		    get_text(v, "maturity_assessment", ASSESSMENT_MAX, 0, 1,
		    path, &s, err, errlen))
			goto bad;
		if (cp.cp_pupil != pub->cd_parties[i].cp_pupil ||
		    cp.cp_flag != pub->cd_parties[i].cp_flag ||
		    cp.cp_yes != pub->cd_parties[i].cp_yes) {
			fail(err, errlen, "the private part does not match the "
			    "recorded parties (party %zu)", i + 1);
			goto err;
		}
	}
	return (root);

bad:
	fail(err, errlen, "the private part is malformed");
err:
	json_decref(root);
	return (NULL);
}

/**
 * consent_seal(id, pt, len, units, n, err, errlen): Encrypt the private
 * part ${pt} under a fresh key as field CONSENT_FIELD of ${id} and seal
 * the key to each unit.  Return {"blob": b64, "envelopes": {unit: b64}}
 * or NULL with a message.
 */
json_t *
consent_seal(const char *id, const uint8_t *pt, size_t len,
    const struct packet_rcpt *units, size_t n, char *err, size_t errlen)
{
	struct refx_keyset *ks = NULL;
	uint8_t *key, *blob = NULL, *env;
	size_t bloblen = 0, envlen, i;
	json_t *out = NULL, *envs;
	char *b64 = NULL;

	if ((key = sodium_malloc(REFX_FIELD_KEY_LEN)) == NULL) {
		fail(err, errlen, "out of memory");
		goto err0;
	}
	randombytes_buf(key, REFX_FIELD_KEY_LEN);

	/* The private part, as a field blob bound to the consent id. */
	if (refx_field_seal(id, CONSENT_FIELD, key, pt, len, &blob,
	    &bloblen)) {
		fail(err, errlen, "cannot encrypt the private part");
		goto err1;
	}
	if ((ks = refx_keyset_new()) == NULL ||
	    refx_keyset_add(ks, CONSENT_FIELD, key)) {
		fail(err, errlen, "out of memory");
		goto err1;
	}
	if ((out = json_object()) == NULL ||
	    json_object_set_new(out, "blob", json_string(b64 =
	    refx_b64_encode(blob, bloblen))) ||
	    json_object_set_new(out, "envelopes", envs = json_object())) {
		free(b64);
		fail(err, errlen, "out of memory");
		goto err1;
	}
	free(b64);

	/* The key, sealed to each unit. */
	for (i = 0; i < n; i++) {
		if (refx_envelope_seal(id, units[i].pr_unit, ks, units[i].pr_pk,
		    &env, &envlen)) {
			fail(err, errlen, "cannot seal the key to unit %s",
			    units[i].pr_unit);
			goto err1;
		}
		b64 = refx_b64_encode(env, envlen);
		free(env);
		if (json_object_set_new(envs, units[i].pr_unit,
		    json_string(b64))) {
			free(b64);
			fail(err, errlen, "out of memory");
			goto err1;
		}
		free(b64);
	}
	refx_keyset_free(ks);
	free(blob);
	sodium_free(key);
	return (out);

err1:
	json_decref(out);
	refx_keyset_free(ks);
	free(blob);
	sodium_free(key);
err0:
	return (NULL);
}

/**
 * consent_unseal(id, unit, pk, sk, blob, env, pt, len, err, errlen): Open
 * the envelope ${env} (base64) of ${unit} and decrypt the private part
 * ${blob} (base64) of consent ${id}.  ${pt} is sodium_malloc'd (free
 * with refx_secret_free).  Return 0 or -1 with a message.
 */
int
consent_unseal(const char *id, const char *unit,
    const uint8_t pk[REFX_X25519_KEY_LEN],
    const uint8_t sk[REFX_X25519_KEY_LEN], const char *blob64,
    const char *env64, uint8_t **pt, size_t *len, char *err, size_t errlen)
{
	struct refx_keyset *ks = NULL;
	const uint8_t *key;
	uint8_t *blob, *env;
	size_t bloblen, envlen;
	int rc = -1;

	*pt = NULL;
	*len = 0;
	if (refx_b64_decode(blob64, PRIVATE_MAX + 256, &blob, &bloblen))
		return (fail(err, errlen, "the sealed blob is not base64"));
	if (refx_b64_decode(env64, ENVELOPE_MAX, &env, &envlen)) {
		fail(err, errlen, "the envelope is not base64");
		goto err1;
	}
	if (refx_envelope_open(env, envlen, pk, sk, id, unit, &ks) != REFX_OK) {
		fail(err, errlen, "the envelope does not open with your unit "
		    "key, or is not for this consent and unit");
		goto err2;
	}
	if ((key = refx_keyset_get(ks, CONSENT_FIELD)) == NULL ||
	    refx_keyset_count(ks) != 1) {
		fail(err, errlen, "the envelope does not hold exactly the key "
		    "of the private part");
		goto err3;
	}
	if (refx_field_open(id, CONSENT_FIELD, key, blob, bloblen, pt, len)) {
		fail(err, errlen, "the private part does not decrypt");
		goto err3;
	}
	rc = 0;

err3:
	refx_keyset_free(ks);
err2:
	free(env);
err1:
	free(blob);
	return (rc);
}

/* --- the consent statement --------------------------------------------- */

/* Order scope entries by recipient (qsort). */
static int
scope_cmp(const void *a, const void *b)
{
	const struct consent_scope *x = *(const struct consent_scope *const *)a;
	const struct consent_scope *y = *(const struct consent_scope *const *)b;

	return (strcmp(x->cs_unit, y->cs_unit));
}

/**
 * consent_statement(doc, id, owner, person, out, len): The statement the
 * school signs for consent ${id}, recorded by ${person} of unit ${owner}:
 * canonical JSON (sorted keys, compact, no reals) of {"v":1, "consent",
 * "owner", "recorded_by", "valid_until", "parties", "scope"}, the scope
 * sorted by recipient and its classes in schema order.  ${out} (caller
 * frees) holds ${len} bytes.  Return 0 or -1.
 */
int
consent_statement(const struct consent_doc *doc, const char *id,
    const char *owner, const char *person, uint8_t **out, size_t *len)
{
	const struct consent_scope *sorted[CONSENT_MAX_SCOPE];
	json_t *pub, *o, *scope;
	char *s;
	size_t i;

	*out = NULL;
	*len = 0;
	if (doc->cd_nscope > CONSENT_MAX_SCOPE)
		goto err0;
	if ((pub = consent_public(doc, id)) == NULL)
		goto err0;
	if ((o = json_object()) == NULL)
		goto err1;
	if (json_object_set_new(o, "v", json_integer(1)) ||
	    json_object_set_new(o, "consent", json_string(id)) ||
	    json_object_set_new(o, "owner", json_string(owner)) ||
	    json_object_set_new(o, "recorded_by", json_string(person)) ||
	    json_object_set_new(o, "valid_until",
	    json_string(doc->cd_valid_until)) ||
	    json_object_set(o, "parties", json_object_get(pub, "parties")) ||
	    json_object_set_new(o, "scope", scope = json_array()))
		goto err2;
	for (i = 0; i < doc->cd_nscope; i++)
		sorted[i] = &doc->cd_scope[i];
	qsort(sorted, doc->cd_nscope, sizeof(sorted[0]), scope_cmp);
	for (i = 0; i < doc->cd_nscope; i++)
		if (json_array_append_new(scope, scope_json(sorted[i])))
			goto err2;
	if ((s = json_dumps(o, CANON_FLAGS)) == NULL)
		goto err2;
	json_decref(o);
	json_decref(pub);
	*out = (uint8_t *)s;
	*len = strlen(s);
	return (0);

err2:
	json_decref(o);
err1:
	json_decref(pub);
err0:
	return (-1);
}

/**
 * consent_sign(doc, id, owner, person, keyfile, passphrase, cert_pem,
 * body, err, errlen): Sign the statement of ${doc} (consent_statement)
 * with the identity key ${keyfile} under REFX_CONSENT_CONTEXT and add
 * "statement" and "signature" (base64) and "certificate" (${cert_pem})
 * to ${body}.  Return 0 or -1 with a message.
 */
int
consent_sign(const struct consent_doc *doc, const char *id,
    const char *owner, const char *person, const char *keyfile,
    const char *passphrase, const char *cert_pem, json_t *body, char *err,
    size_t errlen)
{
	uint8_t *st, sig[REFX_SIG_LEN];
	char *b64st = NULL, *b64sig = NULL;
	size_t len;
	int rc = -1;

	if (consent_statement(doc, id, owner, person, &st, &len))
		return (fail(err, errlen, "out of memory"));
	if (refx_sign_ctx(keyfile, passphrase, REFX_CONSENT_CONTEXT, st, len,
	    sig)) {
		fail(err, errlen, "cannot sign the consent with %s: wrong "
		    "passphrase, or not a private Ed25519 key file", keyfile);
		goto done;
	}
	if ((b64st = refx_b64_encode(st, len)) == NULL ||
	    (b64sig = refx_b64_encode(sig, sizeof(sig))) == NULL ||
	    json_object_set_new(body, "statement", json_string(b64st)) ||
	    json_object_set_new(body, "signature", json_string(b64sig)) ||
	    json_object_set_new(body, "certificate", json_string(cert_pem))) {
		fail(err, errlen, "out of memory");
		goto done;
	}
	rc = 0;

done:
	free(b64sig);
	free(b64st);
	free(st);
	return (rc);
}

/* Decode the base64 member ${key} of ${o}: at most ${max} bytes. */
static uint8_t *
b64_of(json_t *o, const char *key, size_t max, size_t *len)
{
	const char *s;
	uint8_t *out;

	if ((s = str_of(json_object_get(o, key))) == NULL ||
	    refx_b64_decode(s, max, &out, len))
		return (NULL);
	return (out);
}

/*
 * Check the signer's certificate and signature over the statement ${st}
 * of ${len} bytes; the signer's identity goes to ${who}.
 */
static int
check_consent_signer(json_t *answer, struct x509_st *ca,
    struct X509_crl_st *crl, const uint8_t *st, size_t len,
    struct refx_identity *who, char *err, size_t errlen)
{
	struct x509_st *cert;
	const char *pem, *why;
	uint8_t *sig;
	size_t siglen;
	int rc = -1;

	/* Room beyond 64: refx_b64_decode's bound is not exact. */
	if ((sig = b64_of(answer, "signature", REFX_SIG_LEN + 8, &siglen)) ==
	    NULL)
		return (fail(err, errlen, "the school's signature is "
		    "missing or malformed"));
	if (siglen != REFX_SIG_LEN) {
		fail(err, errlen, "the school's signature is malformed");
		goto err1;
	}
	if ((pem = str_of(json_object_get(answer, "certificate"))) == NULL ||
	    strlen(pem) > CERT_PEM_MAX || (cert = refx_cert_parse_pem(
	    (const uint8_t *)pem, strlen(pem))) == NULL) {
		fail(err, errlen, "the signer's certificate is missing or "
		    "malformed");
		goto err1;
	}
	if (refx_cert_verify(ca, crl, cert, REFX_CERT_PERSON, &why)) {
		fail(err, errlen, "the signer's certificate: %s",
		    why != NULL ? why : "not valid");
		goto err2;
	}
	if (refx_cert_person(cert, who, &why)) {
		fail(err, errlen, "the signer's certificate: %s",
		    why != NULL ? why : "no identity");
		goto err2;
	}
	if (who->id_kind != REFX_KIND_SCHOOL ||
	    who->id_role != REFX_ROLE_SUBMITTER) {
		fail(err, errlen, "the consent was signed by a %s at a unit "
		    "of kind %s, not a submitter at a school",
		    refx_role_name(who->id_role), refx_kind_name(who->id_kind));
		goto err2;
	}
	if (refx_verify_ctx(cert, REFX_CONSENT_CONTEXT, st, len, sig) !=
	    REFX_OK) {
		fail(err, errlen, "the school's signature over the consent "
		    "does not verify");
		goto err2;
	}
	rc = 0;

err2:
	refx_cert_free(cert);
err1:
	free(sig);
	return (rc);
}

/* Parse the signed statement ${st} strictly into ${cg}. */
static int
parse_statement(const uint8_t *st, size_t len, const char *id,
    const struct refx_identity *who, struct consent_signed *cg, char *err,
    size_t errlen)
{
	static const char *const keys[] = { "v", "consent", "owner",
	    "recorded_by", "valid_until", "parties", "scope", NULL };
	const char *cid, *owner, *by, *until;
	uint8_t *again;
	size_t alen;
	json_t *root, *v;
	int rc = -1;

	if ((root = json_loadb((const char *)st, len, JSON_REJECT_DUPLICATES,
	    NULL)) == NULL || !json_is_object(root)) {
		fail(err, errlen, "the signed statement is not a JSON object");
		goto done;
	}
	if (only_keys(root, keys, "statement", err, errlen))
		goto done;
	v = json_object_get(root, "v");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		fail(err, errlen, "statement.v: must be 1");
		goto done;
	}
	cid = str_of(json_object_get(root, "consent"));
	owner = str_of(json_object_get(root, "owner"));
	by = str_of(json_object_get(root, "recorded_by"));
	until = str_of(json_object_get(root, "valid_until"));
	if (cid == NULL || strcmp(cid, id) != 0) {
		fail(err, errlen, "the signed statement is for another "
		    "consent");
		goto done;
	}
	if (owner == NULL || by == NULL || strcmp(owner, who->id_agency) != 0 ||
	    strcmp(by, who->id_person) != 0) {
		fail(err, errlen, "the signed statement does not name its "
		    "signer %s of %s as owner and recorder", who->id_person,
		    who->id_agency);
		goto done;
	}
	if (until == NULL || !packet_date_valid(until)) {
		fail(err, errlen, "statement.valid_until: must be a date");
		goto done;
	}
	memcpy(cg->cg_id, id, REFX_REFERRAL_ID_LEN + 1);
	snprintf(cg->cg_owner, sizeof(cg->cg_owner), "%s", owner);
	snprintf(cg->cg_by, sizeof(cg->cg_by), "%s", by);
	memcpy(cg->cg_doc.cd_valid_until, until, PACKET_DATE_LEN + 1);
	if (consent_parties_parse(json_object_get(root, "parties"),
	    &cg->cg_doc, err, errlen) ||
	    parse_scope_list(json_object_get(root, "scope"), "statement.scope",
	    "recipient", cg->cg_doc.cd_scope, &cg->cg_doc.cd_nscope, err,
	    errlen))
		goto done;

	/* Exactly the canonical bytes of what it says: no room for more. */
	if (consent_statement(&cg->cg_doc, cg->cg_id, cg->cg_owner,
	    cg->cg_by, &again, &alen)) {
		fail(err, errlen, "out of memory");
		goto done;
	}
	if (alen != len || memcmp(again, st, len) != 0)
		fail(err, errlen, "the signed statement is not in canonical "
		    "form");
	else
		rc = 0;
	free(again);

done:
	json_decref(root);
	return (rc);
}

/* Does the server's copy in ${answer} say what ${cg} says?  0 or -1. */
static int
match_server(json_t *answer, struct consent_signed *cg, char *err,
    size_t errlen)
{
	struct consent_doc srv;
	struct consent_scope *sc;
	const struct consent_party *a, *b;
	const char *owner, *by, *until;
	size_t i, j;

	owner = str_of(json_object_get(answer, "owner"));
	by = str_of(json_object_get(answer, "recorded_by"));
	until = str_of(json_object_get(answer, "valid_until"));
	if (owner == NULL || strcmp(owner, cg->cg_owner) != 0)
		return (fail(err, errlen, CONSENT_MISMATCH " (owner)"));
	if (by == NULL || strcmp(by, cg->cg_by) != 0)
		return (fail(err, errlen, CONSENT_MISMATCH " (recorded_by)"));
	if (until == NULL || strcmp(until, cg->cg_doc.cd_valid_until) != 0)
		return (fail(err, errlen, CONSENT_MISMATCH " (valid_until)"));

	memset(&srv, 0, sizeof(srv));
	if (consent_parties_parse(json_object_get(answer, "parties"), &srv,
	    err, errlen) || consent_scope_parse(json_object_get(answer,
	    "scope"), srv.cd_scope, &srv.cd_nscope, err, errlen))
		return (-1);
	if (srv.cd_nparties != cg->cg_doc.cd_nparties)
		return (fail(err, errlen, CONSENT_MISMATCH " (parties)"));
	for (i = 0; i < srv.cd_nparties; i++) {
		a = &srv.cd_parties[i];
		b = &cg->cg_doc.cd_parties[i];
		if (a->cp_pupil != b->cp_pupil || a->cp_flag != b->cp_flag ||
		    a->cp_yes != b->cp_yes)
			return (fail(err, errlen, CONSENT_MISMATCH
			    " (parties[%zu])", i));
	}

	/* The same recipients, each with the same classes. */
	if (srv.cd_nscope != cg->cg_doc.cd_nscope)
		return (fail(err, errlen, CONSENT_MISMATCH " (scope: "
		    "recipients)"));
	for (i = 0; i < srv.cd_nscope; i++) {
		for (j = 0; j < cg->cg_doc.cd_nscope; j++)
			if (strcmp(cg->cg_doc.cd_scope[j].cs_unit,
			    srv.cd_scope[i].cs_unit) == 0)
				break;
		if (j == cg->cg_doc.cd_nscope)
			return (fail(err, errlen, CONSENT_MISMATCH " (scope: "
			    "recipient %s)", srv.cd_scope[i].cs_unit));
		sc = &cg->cg_doc.cd_scope[j];
		if (sc->cs_classes != srv.cd_scope[i].cs_classes ||
		    sc->cs_itemised != srv.cd_scope[i].cs_itemised ||
		    sc->cs_feedback != srv.cd_scope[i].cs_feedback)
			return (fail(err, errlen, CONSENT_MISMATCH " (scope "
			    "of %s)", sc->cs_unit));
		/* Withdrawal is the server's state: it may only shrink. */
		memcpy(sc->cs_withdrawn_at, srv.cd_scope[i].cs_withdrawn_at,
		    sizeof(sc->cs_withdrawn_at));
	}
	return (0);
}

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
int
consent_verify(json_t *answer, const char *id, struct x509_st *ca,
    struct X509_crl_st *crl, struct consent_signed *cg, char *err,
    size_t errlen)
{
	struct refx_identity who;
	uint8_t *st;
	size_t len;
	int rc = -1;

	memset(cg, 0, sizeof(*cg));
	if (!refx_referral_id_valid(id))
		return (fail(err, errlen, "not a consent id"));
	if ((st = b64_of(answer, "statement", CONSENT_STATEMENT_MAX, &len)) ==
	    NULL || len == 0) {
		free(st);
		return (fail(err, errlen, "the server holds no statement "
		    "signed by the school (or a malformed one)"));
	}
	if (check_consent_signer(answer, ca, crl, st, len, &who, err,
	    errlen) ||
	    parse_statement(st, len, id, &who, cg, err, errlen) ||
	    match_server(answer, cg, err, errlen))
		goto done;
	rc = 0;

done:
	free(st);
	if (rc)
		consent_doc_free(&cg->cg_doc);
	return (rc);
}

/* --- what a recipient may read ------------------------------------------ */

/**
 * packet_allowed(p, basis, kind, scope): The classes a recipient of
 * ${kind} may read: the policy's allowed set for ${basis}, and for a
 * consent also within the classes ${scope} covers (NULL for a report of
 * concern).
 */
refx_classes
packet_allowed(const struct refx_policy *p, enum refx_basis basis,
    enum refx_kind kind, const struct consent_scope *scope)
{
	refx_classes set;

	if (basis == REFX_BASIS_CONCERN)
		return (refx_policy_allowed_set(p, basis, kind, 0, 0) &
		    REFX_CLASSES_ALL);
	if (scope == NULL)
		return (0);

	/* Within the consent, whatever the policy says (defence in depth). */
	set = refx_policy_allowed_set(p, basis, kind, scope->cs_classes,
	    scope->cs_itemised & scope->cs_classes);
	return (set & scope->cs_classes & REFX_CLASSES_ALL);
}

/**
 * packet_field_mask(draft, allowed): The fields of ${draft} whose class
 * is in ${allowed}, as bits (bit i: field i).
 */
uint32_t
packet_field_mask(const struct refx_draft *d, refx_classes allowed)
{
	uint32_t mask = 0;
	size_t i;

	for (i = 0; i < d->d_nfields && i < REFX_MAX_FIELDS; i++)
		if ((unsigned)d->d_fields[i].f_class < REFX_CLASS_COUNT &&
		    (allowed & REFX_CLASS_BIT(d->d_fields[i].f_class)))
			mask |= (uint32_t)1 << i;
	return (mask);
}

/**
 * packet_withheld_why(p, basis, kind, scope, cls, why, len): Explain
 * why a field of class ${cls} is withheld from the recipient: "not
 * covered by consent" when the consent does not name the class but the
 * policy would allow it, else the policy's own sentence.
 */
void
packet_withheld_why(const struct refx_policy *p, enum refx_basis basis,
    enum refx_kind kind, const struct consent_scope *scope,
    enum refx_class cls, char *why, size_t len)
{
	int consented, itemised;

	consented = scope != NULL &&
	    (scope->cs_classes & REFX_CLASS_BIT(cls)) != 0;
	itemised = scope != NULL &&
	    (scope->cs_itemised & REFX_CLASS_BIT(cls)) != 0;
	why[0] = '\0';
	if (basis == REFX_BASIS_CONSENT && !consented &&
	    refx_policy_allows(p, basis, kind, cls, 1, 1, why, len)) {
		snprintf(why, len, "not covered by consent");
		return;
	}
	if (!refx_policy_allows(p, basis, kind, cls, consented, itemised, why,
	    len)) {
		if (why[0] == '\0')
			snprintf(why, len, "the policy does not allow it");
		return;
	}
	snprintf(why, len, "withheld");
}

/* --- manifest ----------------------------------------------------------- */

/* The manifest ${m} as a JSON object, or NULL. */
static json_t *
manifest_json(const struct manifest *m)
{
	const struct manifest_field *f;
	const struct manifest_env *e;
	json_t *root, *sender, *fields, *envs, *o, *names;
	size_t i, j;

	if ((root = json_object()) == NULL)
		return (NULL);
	if (json_object_set_new(root, "v", json_integer(1)) ||
	    json_object_set_new(root, "referral",
	    json_string(m->m_referral)) ||
	    json_object_set_new(root, "schema", json_string(REFX_SCHEMA_ID)) ||
	    json_object_set_new(root, "basis",
	    json_string(refx_basis_name(m->m_basis))) ||
	    json_object_set_new(root, "consent", m->m_consent[0] != '\0' ?
	    json_string(m->m_consent) : json_null()) ||
	    json_object_set_new(root, "sender", sender = json_object()) ||
	    json_object_set_new(sender, "unit", json_string(m->m_unit)) ||
	    json_object_set_new(sender, "person", json_string(m->m_person)) ||
	    json_object_set_new(root, "created_at",
	    json_string(m->m_created_at)) ||
	    json_object_set_new(root, "policy", json_string(m->m_policy)) ||
	    json_object_set_new(root, "fields", fields = json_array()) ||
	    json_object_set_new(root, "envelopes", envs = json_array()))
		goto err;
	for (i = 0; i < m->m_nfields; i++) {
		f = &m->m_fields[i];
		if (json_array_append_new(fields, o = json_object()) ||
		    json_object_set_new(o, "name", json_string(f->mf_name)) ||
		    json_object_set_new(o, "class",
		    json_string(refx_class_name(f->mf_class))) ||
		    json_object_set_new(o, "sha256", json_string(f->mf_sha256)))
			goto err;
	}
	for (i = 0; i < m->m_nenvs; i++) {
		e = &m->m_envs[i];
		if (json_array_append_new(envs, o = json_object()) ||
		    json_object_set_new(o, "recipient",
		    json_string(e->me_unit)) ||
		    json_object_set_new(o, "fields", names = json_array()) ||
		    json_object_set_new(o, "sha256", json_string(e->me_sha256)))
			goto err;
		for (j = 0; j < m->m_nfields; j++)
			if ((e->me_fields & ((uint32_t)1 << j)) &&
			    json_array_append_new(names,
			    json_string(m->m_fields[j].mf_name)))
				goto err;
	}
	return (root);

err:
	json_decref(root);
	return (NULL);
}

/**
 * manifest_encode(m, out, len): The canonical JSON of ${m} (sorted keys,
 * compact, integers only; caller frees ${out}).  Return 0 or -1.
 */
int
manifest_encode(const struct manifest *m, uint8_t **out, size_t *len)
{
	json_t *root;
	char *s;

	*out = NULL;
	*len = 0;
	if ((root = manifest_json(m)) == NULL)
		return (-1);
	s = json_dumps(root, CANON_FLAGS);
	json_decref(root);
	if (s == NULL)
		return (-1);
	*out = (uint8_t *)s;
	*len = strlen(s);
	return (0);
}

/* Copy the checked string member ${key} of ${o} to ${dst} (${max}). */
static int
take_str(json_t *o, const char *key, char *dst, size_t max)
{
	const char *s;

	if ((s = str_of(json_object_get(o, key))) == NULL ||
	    strlen(s) > max)
		return (-1);
	memcpy(dst, s, strlen(s) + 1);
	return (0);
}

/* Decode the "fields" array of a manifest. */
static int
decode_fields(json_t *a, struct manifest *m, char *err, size_t errlen)
{
	static const char *const keys[] = { "name", "class", "sha256", NULL };
	struct manifest_field *f;
	char cls[REFX_FIELD_NAME_MAX + 1];
	json_t *v;
	size_t i, j;

	if (!json_is_array(a) || json_array_size(a) == 0 ||
	    json_array_size(a) > REFX_MAX_FIELDS)
		return (fail(err, errlen, "manifest: fields must be a list of "
		    "1 to %d fields", REFX_MAX_FIELDS));
	json_array_foreach(a, i, v) {
		f = &m->m_fields[i];
		if (!json_is_object(v) ||
		    only_keys(v, keys, "manifest.fields[]", err, errlen) ||
		    take_str(v, "name", f->mf_name, REFX_FIELD_NAME_MAX) ||
		    !packet_field_name_valid(f->mf_name) ||
		    take_str(v, "class", cls, REFX_FIELD_NAME_MAX) ||
		    refx_class_parse(cls, &f->mf_class) ||
		    take_str(v, "sha256", f->mf_sha256, PACKET_HASH_HEX) ||
		    !refx_hex_valid(f->mf_sha256, PACKET_HASH_HEX))
			return (fail(err, errlen, "manifest: fields[%zu] is "
			    "malformed", i));
		for (j = 0; j < i; j++)
			if (strcmp(m->m_fields[j].mf_name, f->mf_name) == 0)
				return (fail(err, errlen, "manifest: field %s "
				    "is listed twice", f->mf_name));
		m->m_nfields = i + 1;
	}
	return (0);
}

/* Decode the "envelopes" array of a manifest (after the fields). */
static int
decode_envs(json_t *a, struct manifest *m, char *err, size_t errlen)
{
	static const char *const keys[] = { "recipient", "fields", "sha256",
	    NULL };
	struct manifest_env *e;
	const char *name;
	json_t *v, *names, *n;
	size_t i, j, k;

	if (!json_is_array(a) || json_array_size(a) == 0 ||
	    json_array_size(a) > PACKET_MAX_ENVELOPES)
		return (fail(err, errlen, "manifest: envelopes must be a list "
		    "of 1 to %d envelopes", PACKET_MAX_ENVELOPES));
	json_array_foreach(a, i, v) {
		e = &m->m_envs[i];
		if (!json_is_object(v) ||
		    only_keys(v, keys, "manifest.envelopes[]", err, errlen) ||
		    take_str(v, "recipient", e->me_unit, REFX_AGENCY_ID_MAX) ||
		    !refx_agency_id_valid(e->me_unit) ||
		    take_str(v, "sha256", e->me_sha256, PACKET_HASH_HEX) ||
		    !refx_hex_valid(e->me_sha256, PACKET_HASH_HEX))
			return (fail(err, errlen, "manifest: envelopes[%zu] is "
			    "malformed", i));
		for (j = 0; j < i; j++)
			if (strcmp(m->m_envs[j].me_unit, e->me_unit) == 0)
				return (fail(err, errlen, "manifest: unit %s "
				    "has two envelopes", e->me_unit));

		/* Its fields: names of the manifest's fields, each once. */
		names = json_object_get(v, "fields");
		if (!json_is_array(names) || json_array_size(names) == 0 ||
		    json_array_size(names) > m->m_nfields)
			return (fail(err, errlen, "manifest: envelopes[%zu] "
			    "must list 1 to %zu fields", i, m->m_nfields));
		json_array_foreach(names, j, n) {
			if ((name = str_of(n)) == NULL)
				return (fail(err, errlen, "manifest: "
				    "envelopes[%zu] is malformed", i));
			for (k = 0; k < m->m_nfields; k++)
				if (strcmp(m->m_fields[k].mf_name, name) == 0)
					break;
			if (k == m->m_nfields ||
			    (e->me_fields & ((uint32_t)1 << k)))
				return (fail(err, errlen, "manifest: the "
				    "envelope of %s lists an unknown or "
				    "repeated field", e->me_unit));
			e->me_fields |= (uint32_t)1 << k;
		}
		m->m_nenvs = i + 1;
	}
	return (0);
}

/**
 * manifest_decode(data, len, m, err, errlen): Parse a manifest strictly:
 * known keys only, every value checked, and the bytes must be exactly
 * the canonical encoding of what they say.  Return 0 or -1 with a
 * message.
 */
int
manifest_decode(const uint8_t *data, size_t len, struct manifest *m,
    char *err, size_t errlen)
{
	static const char *const keys[] = { "v", "referral", "schema",
	    "basis", "consent", "sender", "created_at", "policy", "fields",
	    "envelopes", NULL };
	static const char *const skeys[] = { "unit", "person", NULL };
	char basis[32];
	const char *schema;
	uint8_t *canon;
	size_t clen;
	json_t *root, *v, *sender;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	if (len > PACKET_MANIFEST_MAX)
		return (fail(err, errlen, "manifest: larger than %d bytes",
		    PACKET_MANIFEST_MAX));
	if ((root = json_loadb((const char *)data, len,
	    JSON_REJECT_DUPLICATES, NULL)) == NULL || !json_is_object(root)) {
		fail(err, errlen, "manifest: not a JSON object");
		goto done;
	}
	if (only_keys(root, keys, "manifest", err, errlen))
		goto done;

	/* Version, referral, schema, basis and consent. */
	v = json_object_get(root, "v");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		fail(err, errlen, "manifest: unknown version");
		goto done;
	}
	if (take_str(root, "referral", m->m_referral, REFX_REFERRAL_ID_LEN) ||
	    !refx_referral_id_valid(m->m_referral)) {
		fail(err, errlen, "manifest: malformed referral id");
		goto done;
	}
	if ((schema = str_of(json_object_get(root, "schema"))) == NULL ||
	    strcmp(schema, REFX_SCHEMA_ID) != 0) {
		fail(err, errlen, "manifest: unknown schema");
		goto done;
	}
	if (take_str(root, "basis", basis, sizeof(basis) - 1) ||
	    refx_basis_parse(basis, &m->m_basis)) {
		fail(err, errlen, "manifest: unknown basis");
		goto done;
	}
	v = json_object_get(root, "consent");
	if (m->m_basis == REFX_BASIS_CONSENT ? (take_str(root, "consent",
	    m->m_consent, REFX_REFERRAL_ID_LEN) ||
	    !refx_referral_id_valid(m->m_consent)) : !json_is_null(v)) {
		fail(err, errlen, "manifest: the consent does not fit the "
		    "basis");
		goto done;
	}

	/* Sender, time, policy. */
	sender = json_object_get(root, "sender");
	if (!json_is_object(sender) ||
	    only_keys(sender, skeys, "manifest.sender", err, errlen) ||
	    take_str(sender, "unit", m->m_unit, REFX_AGENCY_ID_MAX) ||
	    !refx_agency_id_valid(m->m_unit) ||
	    take_str(sender, "person", m->m_person, REFX_PERSON_ID_MAX) ||
	    !refx_person_id_valid(m->m_person)) {
		fail(err, errlen, "manifest: malformed sender");
		goto done;
	}
	if (take_str(root, "created_at", m->m_created_at, PACKET_TIME_LEN) ||
	    !packet_time_valid(m->m_created_at) ||
	    take_str(root, "policy", m->m_policy, PACKET_HASH_HEX) ||
	    !refx_hex_valid(m->m_policy, PACKET_HASH_HEX)) {
		fail(err, errlen, "manifest: malformed time or policy hash");
		goto done;
	}
	if (decode_fields(json_object_get(root, "fields"), m, err, errlen) ||
	    decode_envs(json_object_get(root, "envelopes"), m, err, errlen))
		goto done;

	/* What was signed must be the one encoding of what it says. */
	if (manifest_encode(m, &canon, &clen)) {
		fail(err, errlen, "out of memory");
		goto done;
	}
	if (clen != len || memcmp(canon, data, len) != 0)
		fail(err, errlen, "manifest: not in canonical form");
	else
		rc = 0;
	free(canon);

done:
	json_decref(root);
	if (rc)
		memset(m, 0, sizeof(*m));
	return (rc);
}

/* --- building a submission ---------------------------------------------- */

/* Copy the non-empty string ${src} to ${dst} of ${size}, or fail. */
static int
copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n == 0 || n >= size)
		return (-1);
	memcpy(dst, src, n + 1);
	return (0);
}

/**
 * packet_build(spec, err, errlen): Encrypt every field of the draft with
 * a fresh random key, seal to each recipient exactly the keys of its
 * fields, and write the manifest (canonical JSON).  Nothing is checked
 * against policy here: the caller decides the field lists.  Every key is
 * wiped before return.  Return the packet, still to be signed (free with
 * packet_free), or NULL with a message.
 */
struct packet *
packet_build(const struct packet_spec *s, char *err, size_t errlen)
{
	const struct refx_draft *d = s->ps_draft;
	const struct refx_field *f;
	struct manifest *m;
	struct refx_keyset *ks;
	struct packet *pk;
	uint8_t *keys;
	uint32_t all;
	size_t i, j, keylen;

	/* The shape of the request. */
	if (d->d_nfields == 0 || d->d_nfields > REFX_MAX_FIELDS ||
	    s->ps_nrcpt == 0 || s->ps_nrcpt > PACKET_MAX_ENVELOPES) {
		fail(err, errlen, "a referral needs 1 to %d fields and 1 to %d "
		    "envelopes", REFX_MAX_FIELDS, PACKET_MAX_ENVELOPES);
		goto err0;
	}
	all = d->d_nfields == 32 ? UINT32_MAX :
	    ((uint32_t)1 << d->d_nfields) - 1;
	for (i = 0; i < s->ps_nrcpt; i++) {
		if ((s->ps_rcpt[i].pr_fields & ~all) != 0) {
			fail(err, errlen, "envelope of %s: no such field",
			    s->ps_rcpt[i].pr_unit);
			goto err0;
		}
		for (j = 0; j < i; j++)
			if (strcmp(s->ps_rcpt[i].pr_unit,
			    s->ps_rcpt[j].pr_unit) == 0) {
				fail(err, errlen, "unit %s is listed twice",
				    s->ps_rcpt[i].pr_unit);
				goto err0;
			}
	}
	if ((pk = calloc(1, sizeof(*pk))) == NULL) {
		fail(err, errlen, "out of memory");
		goto err0;
	}
	keylen = d->d_nfields * REFX_FIELD_KEY_LEN;
	if ((keys = sodium_malloc(keylen)) == NULL) {
		fail(err, errlen, "out of memory");
		goto err1;
	}
	randombytes_buf(keys, keylen);

	/* The manifest's statements, as far as known now. */
	m = &pk->p_m;
	if (copy_str(m->m_referral, sizeof(m->m_referral), s->ps_id) ||
	    copy_str(m->m_unit, sizeof(m->m_unit), s->ps_unit) ||
	    copy_str(m->m_person, sizeof(m->m_person), s->ps_person) ||
	    copy_str(m->m_created_at, sizeof(m->m_created_at),
	    s->ps_created_at) ||
	    copy_str(m->m_policy, sizeof(m->m_policy), s->ps_policy) ||
	    (s->ps_consent != NULL && copy_str(m->m_consent,
	    sizeof(m->m_consent), s->ps_consent))) {
		fail(err, errlen, "malformed referral id, sender, time, "
		    "consent or policy hash");
		goto err2;
	}
	m->m_basis = s->ps_basis;

	/* Each field under its own fresh key. */
	for (i = 0; i < d->d_nfields; i++) {
		f = &d->d_fields[i];
		if (refx_field_seal(s->ps_id, f->f_name,
		    keys + i * REFX_FIELD_KEY_LEN, f->f_value, f->f_len,
		    &pk->p_blob[i], &pk->p_blob_len[i])) {
			fail(err, errlen, "cannot encrypt field %s", f->f_name);
			goto err2;
		}
		snprintf(m->m_fields[i].mf_name, sizeof(m->m_fields[i].mf_name),
		    "%s", f->f_name);
		m->m_fields[i].mf_class = f->f_class;
		refx_sha256_hex(pk->p_blob[i], pk->p_blob_len[i],
		    m->m_fields[i].mf_sha256);
		m->m_nfields = i + 1;
	}

	/* Each recipient: exactly the keys of its fields. */
	for (i = 0; i < s->ps_nrcpt; i++) {
		if ((ks = refx_keyset_new()) == NULL) {
			fail(err, errlen, "out of memory");
			goto err2;
		}
		for (j = 0; j < d->d_nfields; j++)
			if ((s->ps_rcpt[i].pr_fields & ((uint32_t)1 << j)) &&
			    refx_keyset_add(ks, d->d_fields[j].f_name,
			    keys + j * REFX_FIELD_KEY_LEN)) {
				refx_keyset_free(ks);
				fail(err, errlen, "out of memory");
				goto err2;
			}
		if (refx_envelope_seal(s->ps_id, s->ps_rcpt[i].pr_unit, ks,
		    s->ps_rcpt[i].pr_pk, &pk->p_env[i], &pk->p_env_len[i])) {
			refx_keyset_free(ks);
			fail(err, errlen, "cannot seal the keys to unit %s",
			    s->ps_rcpt[i].pr_unit);
			goto err2;
		}
		refx_keyset_free(ks);
		snprintf(m->m_envs[i].me_unit, sizeof(m->m_envs[i].me_unit),
		    "%s", s->ps_rcpt[i].pr_unit);
		m->m_envs[i].me_fields = s->ps_rcpt[i].pr_fields;
		refx_sha256_hex(pk->p_env[i], pk->p_env_len[i],
		    m->m_envs[i].me_sha256);
		m->m_nenvs = i + 1;
	}
	sodium_memzero(keys, keylen);
	sodium_free(keys);
	keys = NULL;

	/* The statement of all that, to be signed. */
	if (manifest_encode(m, &pk->p_manifest, &pk->p_manifest_len)) {
		fail(err, errlen, "out of memory");
		goto err1;
	}
	return (pk);

err2:
	sodium_memzero(keys, keylen);
	sodium_free(keys);
err1:
	packet_free(pk);
err0:
	return (NULL);
}

/**
 * packet_sign(pk, keyfile, passphrase, err, errlen): Sign the manifest
 * of ${pk} with the sender's Ed25519 key file (${passphrase} may be
 * NULL).  Return 0 or -1 with a message.
 */
int
packet_sign(struct packet *pk, const char *keyfile, const char *passphrase,
    char *err, size_t errlen)
{

	if (refx_manifest_sign(keyfile, passphrase, pk->p_manifest,
	    pk->p_manifest_len, pk->p_sig))
		return (fail(err, errlen, "cannot sign the manifest with %s "
		    "(not an Ed25519 key, or wrong passphrase?)", keyfile));
	return (0);
}

/**
 * packet_body(pk, cert_pem): The body of POST /v1/referrals for ${pk}
 * signed by the certificate ${cert_pem}.  Return it or NULL (no memory).
 */
json_t *
packet_body(const struct packet *pk, const char *cert_pem)
{
	json_t *o, *fields, *envs, *e;
	char *b64;
	size_t i;

	if ((o = json_object()) == NULL)
		return (NULL);
	b64 = refx_b64_encode(pk->p_manifest, pk->p_manifest_len);
	if (json_object_set_new(o, "manifest", json_string(b64))) {
		free(b64);
		goto err;
	}
	free(b64);
	b64 = refx_b64_encode(pk->p_sig, sizeof(pk->p_sig));
	if (json_object_set_new(o, "signature", json_string(b64))) {
		free(b64);
		goto err;
	}
	free(b64);
	if (json_object_set_new(o, "certificate", json_string(cert_pem)) ||
	    json_object_set_new(o, "fields", fields = json_array()) ||
	    json_object_set_new(o, "envelopes", envs = json_array()))
		goto err;
	for (i = 0; i < pk->p_m.m_nfields; i++) {
		b64 = refx_b64_encode(pk->p_blob[i], pk->p_blob_len[i]);
		if (json_array_append_new(fields, e = json_object()) ||
		    json_object_set_new(e, "name",
		    json_string(pk->p_m.m_fields[i].mf_name)) ||
		    json_object_set_new(e, "blob", json_string(b64))) {
			free(b64);
			goto err;
		}
		free(b64);
	}
	for (i = 0; i < pk->p_m.m_nenvs; i++) {
		b64 = refx_b64_encode(pk->p_env[i], pk->p_env_len[i]);
		if (json_array_append_new(envs, e = json_object()) ||
		    json_object_set_new(e, "recipient",
		    json_string(pk->p_m.m_envs[i].me_unit)) ||
		    json_object_set_new(e, "sealed", json_string(b64))) {
			free(b64);
			goto err;
		}
		free(b64);
	}
	return (o);

err:
	json_decref(o);
	return (NULL);
}

/** packet_free(pk): Free ${pk}; NULL is a no-op. */
void
packet_free(struct packet *pk)
{
	size_t i;

	if (pk == NULL)
		return;
	for (i = 0; i < REFX_MAX_FIELDS; i++)
		free(pk->p_blob[i]);
	for (i = 0; i < PACKET_MAX_ENVELOPES; i++)
		free(pk->p_env[i]);
	free(pk->p_manifest);
	free(pk);
}

/* --- receiving ---------------------------------------------------------- */

/* Check the sender's certificate and signature against the manifest. */
static int
check_sender(json_t *answer, struct x509_st *ca, struct X509_crl_st *crl,
    const uint8_t *man, size_t manlen, struct packet_recv *rv, char *err,
    size_t errlen)
{
	const struct manifest *m = &rv->rv_m;
	struct x509_st *cert;
	const char *pem, *s, *why;
	uint8_t *sig;
	size_t siglen;
	int rc = -1;

	/* Room beyond 64: refx_b64_decode's bound is not exact. */
	if ((s = str_of(json_object_get(answer, "signature"))) == NULL ||
	    refx_b64_decode(s, REFX_SIG_LEN + 8, &sig, &siglen))
		return (fail(err, errlen, "the signature is malformed"));
	if (siglen != REFX_SIG_LEN) {
		fail(err, errlen, "the signature is malformed");
		goto err1;
	}
	if ((pem = str_of(json_object_get(answer, "certificate"))) == NULL ||
	    strlen(pem) > CERT_PEM_MAX || (cert = refx_cert_parse_pem(
	    (const uint8_t *)pem, strlen(pem))) == NULL) {
		fail(err, errlen, "the sender's certificate is malformed");
		goto err1;
	}

	/* A person of this exchange, not revoked, a submitter at a school. */
	if (refx_cert_verify(ca, crl, cert, REFX_CERT_PERSON, &why)) {
		fail(err, errlen, "the sender's certificate: %s",
		    why != NULL ? why : "not valid");
		goto err2;
	}
	if (refx_cert_person(cert, &rv->rv_sender, &why)) {
		fail(err, errlen, "the sender's certificate: %s",
		    why != NULL ? why : "no identity");
		goto err2;
	}
	if (strcmp(rv->rv_sender.id_agency, m->m_unit) != 0 ||
	    strcmp(rv->rv_sender.id_person, m->m_person) != 0) {
		fail(err, errlen, "the manifest names sender %s of %s, the "
		    "certificate %s of %s", m->m_person, m->m_unit,
		    rv->rv_sender.id_person, rv->rv_sender.id_agency);
		goto err2;
	}
	if (rv->rv_sender.id_kind != REFX_KIND_SCHOOL ||
	    rv->rv_sender.id_role != REFX_ROLE_SUBMITTER) {
		fail(err, errlen, "the sender is a %s at a unit of kind %s, "
		    "not a submitter at a school",
		    refx_role_name(rv->rv_sender.id_role),
		    refx_kind_name(rv->rv_sender.id_kind));
		goto err2;
	}
	if (refx_manifest_verify(cert, man, manlen, sig) != REFX_OK) {
		fail(err, errlen, "the manifest's signature does not verify");
		goto err2;
	}
	rc = 0;

err2:
	refx_cert_free(cert);
err1:
	free(sig);
	return (rc);
}

/* Take our envelope from the answer and match it with the manifest. */
static int
check_envelope(json_t *answer, struct packet_recv *rv, char *err,
    size_t errlen)
{
	const struct manifest *m = &rv->rv_m;
	char hex[PACKET_HASH_HEX + 1];
	const char *unit, *sealed;
	json_t *env;
	size_t i;

	env = json_object_get(answer, "envelope");
	if (!json_is_object(env) ||
	    (unit = str_of(json_object_get(env, "recipient"))) == NULL ||
	    (sealed = str_of(json_object_get(env, "sealed"))) == NULL)
		return (fail(err, errlen, "the envelope is missing"));
	if (strcmp(unit, rv->rv_unit) != 0)
		return (fail(err, errlen, "the envelope is not for your unit"));
	for (i = 0; i < m->m_nenvs; i++)
		if (strcmp(m->m_envs[i].me_unit, rv->rv_unit) == 0)
			break;
	if (i == m->m_nenvs)
		return (fail(err, errlen, "the manifest has no envelope for "
		    "unit %s", rv->rv_unit));
	rv->rv_env = i;
	if (refx_b64_decode(sealed, ENVELOPE_MAX, &rv->rv_sealed,
	    &rv->rv_sealed_len))
		return (fail(err, errlen, "the envelope is malformed"));
	refx_sha256_hex(rv->rv_sealed, rv->rv_sealed_len, hex);
	if (!refx_ct_equal(hex, m->m_envs[i].me_sha256, PACKET_HASH_HEX))
		return (fail(err, errlen, "the envelope does not match the "
		    "manifest"));
	return (0);
}

/* Take the field blobs: exactly our entry's fields, each as hashed. */
static int
check_fields(json_t *answer, struct packet_recv *rv, char *err,
    size_t errlen)
{
	const struct manifest *m = &rv->rv_m;
	uint32_t want = m->m_envs[rv->rv_env].me_fields, got = 0;
	uint8_t *blob[REFX_MAX_FIELDS] = { NULL };
	size_t bloblen[REFX_MAX_FIELDS] = { 0 };
	char hex[PACKET_HASH_HEX + 1];
	const char *name, *b64;
	json_t *fields, *v;
	size_t i, k;
	int rc = -1;

	fields = json_object_get(answer, "fields");
	if (!json_is_array(fields) || json_array_size(fields) >
	    REFX_MAX_FIELDS)
		return (fail(err, errlen, "the field list is malformed"));
	json_array_foreach(fields, i, v) {
		if ((name = str_of(json_object_get(v, "name"))) == NULL ||
		    (b64 = str_of(json_object_get(v, "blob"))) == NULL) {
			fail(err, errlen, "fields[%zu] is malformed", i);
			goto done;
		}
		for (k = 0; k < m->m_nfields; k++)
			if (strcmp(m->m_fields[k].mf_name, name) == 0)
				break;
		if (k == m->m_nfields || !(want & ((uint32_t)1 << k))) {
			fail(err, errlen, "field %s is not listed for your "
			    "unit", packet_field_name_valid(name) ? name :
			    "(malformed name)");
			goto done;
		}
		if (got & ((uint32_t)1 << k)) {
			fail(err, errlen, "field %s was sent twice", name);
			goto done;
		}
		got |= (uint32_t)1 << k;
		if (refx_b64_decode(b64, BLOB_MAX, &blob[k], &bloblen[k])) {
			fail(err, errlen, "field %s is malformed", name);
			goto done;
		}
		refx_sha256_hex(blob[k], bloblen[k], hex);
		if (!refx_ct_equal(hex, m->m_fields[k].mf_sha256,
		    PACKET_HASH_HEX)) {
			fail(err, errlen, "field %s does not match the "
			    "manifest", name);
			goto done;
		}
	}
	if (got != want) {
		for (k = 0; k < m->m_nfields; k++)
			if ((want & ~got) & ((uint32_t)1 << k))
				break;
		fail(err, errlen, "field %s is missing",
		    k < m->m_nfields ? m->m_fields[k].mf_name : "?");
		goto done;
	}

	/* In manifest order; rv takes the blobs. */
	for (k = 0; k < m->m_nfields; k++) {
		if (!(want & ((uint32_t)1 << k)))
			continue;
		rv->rv_f[rv->rv_n].rf_idx = k;
		rv->rv_f[rv->rv_n].rf_blob = blob[k];
		rv->rv_f[rv->rv_n].rf_blob_len = bloblen[k];
		blob[k] = NULL;
		rv->rv_n++;
	}
	rc = 0;

done:
	for (k = 0; k < REFX_MAX_FIELDS; k++)
		free(blob[k]);
	return (rc);
}

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
int
packet_check(json_t *answer, const char *id, const char *unit,
    struct x509_st *ca, struct X509_crl_st *crl, struct packet_recv *rv,
    char *err, size_t errlen)
{
	const char *s;
	uint8_t *man = NULL;
	size_t manlen;

	memset(rv, 0, sizeof(*rv));
	if (strlen(unit) > REFX_AGENCY_ID_MAX)
		return (fail(err, errlen, "unit id too long"));
	memcpy(rv->rv_unit, unit, strlen(unit) + 1);
	if (!json_is_object(answer) ||
	    (s = str_of(json_object_get(answer, "id"))) == NULL ||
	    strcmp(s, id) != 0) {
		fail(err, errlen, "the answer is for another referral");
		goto err0;
	}

	/* The manifest: canonical, about this referral. */
	if ((s = str_of(json_object_get(answer, "manifest"))) == NULL ||
	    refx_b64_decode(s, PACKET_MANIFEST_MAX + 3, &man, &manlen)) {
		fail(err, errlen, "the manifest is malformed");
		goto err0;
	}
	if (manifest_decode(man, manlen, &rv->rv_m, err, errlen))
		goto err1;
	if (strcmp(rv->rv_m.m_referral, id) != 0) {
		fail(err, errlen, "the manifest is for another referral");
		goto err1;
	}

	/* Who signed it, then what it covers. */
	if (check_sender(answer, ca, crl, man, manlen, rv, err, errlen) ||
	    check_envelope(answer, rv, err, errlen) ||
	    check_fields(answer, rv, err, errlen))
		goto err1;
	free(man);
	return (0);

err1:
	free(man);
err0:
	packet_recv_free(rv);
	return (-1);
}

/**
 * packet_decrypt(rv, pk, sk, err, errlen): Open our envelope with the
 * unit's key pair, check that it holds exactly the keys of the fields
 * listed for us, decrypt each field and validate it against its class.
 * Return 0 or -1 with a message.
 */
int
packet_decrypt(struct packet_recv *rv, const uint8_t pk[REFX_X25519_KEY_LEN],
    const uint8_t sk[REFX_X25519_KEY_LEN], char *err, size_t errlen)
{
	const struct manifest_field *mf;
	struct recv_field *rf;
	struct refx_keyset *ks;
	const uint8_t *key;
	char verr[PACKET_ERR_LEN];
	size_t i;
	int rc = -1;

	if (refx_envelope_open(rv->rv_sealed, rv->rv_sealed_len, pk, sk,
	    rv->rv_m.m_referral, rv->rv_unit, &ks) != REFX_OK)
		return (fail(err, errlen, "the envelope does not open with "
		    "your unit key, or is not for this referral and unit"));
	if (refx_keyset_count(ks) != rv->rv_n) {
		fail(err, errlen, "the envelope holds %zu keys for %zu fields",
		    refx_keyset_count(ks), rv->rv_n);
		goto done;
	}
	for (i = 0; i < rv->rv_n; i++) {
		rf = &rv->rv_f[i];
		mf = &rv->rv_m.m_fields[rf->rf_idx];
		if ((key = refx_keyset_get(ks, mf->mf_name)) == NULL) {
			fail(err, errlen, "the envelope holds no key for field "
			    "%s", mf->mf_name);
			goto done;
		}
		if (refx_field_open(rv->rv_m.m_referral, mf->mf_name, key,
		    rf->rf_blob, rf->rf_blob_len, &rf->rf_pt, &rf->rf_pt_len)) {
			rf->rf_pt = NULL;
			fail(err, errlen, "field %s does not decrypt",
			    mf->mf_name);
			goto done;
		}
		if (refx_field_validate(mf->mf_name, mf->mf_class, rf->rf_pt,
		    rf->rf_pt_len, verr, sizeof(verr))) {
			fail(err, errlen, "field %s is not a valid %s: %s",
			    mf->mf_name, refx_class_name(mf->mf_class), verr);
			goto done;
		}
	}
	rc = 0;

done:
	refx_keyset_free(ks);
	return (rc);
}

/** packet_recv_free(rv): Wipe and free what ${rv} holds. */
void
packet_recv_free(struct packet_recv *rv)
{
	size_t i;

	for (i = 0; i < REFX_MAX_FIELDS; i++) {
		free(rv->rv_f[i].rf_blob);
		refx_secret_free(rv->rv_f[i].rf_pt, rv->rv_f[i].rf_pt_len);
	}
	free(rv->rv_sealed);
	memset(rv, 0, sizeof(*rv));
}
