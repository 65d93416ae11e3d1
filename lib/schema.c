#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "refx/buf.h"
#include "refx/file.h"
#include "refx/identity.h"
#include "refx/schema.h"

/* Made by scripts/embed.sh from schema/referral-v1.json. */
extern const char refx_schema_data[];
extern const size_t refx_schema_data_len;

static const struct {
	const char	*name;
	const char	*title;
} classes[REFX_CLASS_COUNT] = {
	[REFX_CLASS_IDENTITY] = { "identity", "Pupil identity" },
	[REFX_CLASS_SCHOOL] = { "school", "School and class" },
	[REFX_CLASS_ABSENCE_STATS] = { "absence_stats", "Absence statistics" },
	[REFX_CLASS_ABSENCE_PATTERN] = { "absence_pattern", "Absence pattern" },
	[REFX_CLASS_GUARDIANS] = { "guardian_contacts", "Guardian contacts" },
	[REFX_CLASS_PEDAGOGICAL] = { "pedagogical_assessment",
	    "Pedagogical assessment" },
	[REFX_CLASS_EMI_MEDICAL] = { "emi_medical",
	    "School health (EMI) medical notes" },
	[REFX_CLASS_PSYCHOLOGICAL] = { "psychological_assessment",
	    "Psychological assessment" },
	[REFX_CLASS_DIAGNOSES] = { "diagnoses", "Known diagnoses" },
	[REFX_CLASS_HOME] = { "home_situation", "Social situation at home" },
	[REFX_CLASS_INTERVENTIONS] = { "prior_interventions",
	    "Prior interventions" },
	[REFX_CLASS_PUPIL_VIEW] = { "pupil_view", "The pupil's own view" },
	[REFX_CLASS_REASON] = { "referral_reason", "Reason for referral" },
};

#define ATTACHMENT_PREFIX	"attachment-"
#define DEFAULT_MEDIA_TYPE	"application/octet-stream"
#define PATH_LEN		160	/* "fields.guardian_contacts[3].name" */

/* --- The compiled schema: validation tables ----------------------------- */

enum stype {
	T_STRING,
	T_INTEGER,
	T_NUMBER,
	T_BOOLEAN,
	T_OBJECT,
	T_ARRAY,
};

enum sformat {
	F_NONE,
	F_PERSONNUMMER,
	F_DATE,
	F_MEDIA_TYPE,
	F_BASE64,
};

/* Where a schema node sits, which decides the keywords it may have. */
enum sctx {
	CTX_FIELD,	/* a top-level field: has "class" */
	CTX_PROP,	/* a property of an object */
	CTX_ITEM,	/* the items of an array */
	CTX_ATTACH,	/* the value of an attachment field */
};

#define NODES_MAX	64
#define PROP_NAME_MAX	32
#define NONE		((size_t)-1)

struct snode {
	char		 n_name[PROP_NAME_MAX + 1];	/* property name */
	enum stype	 n_type;
	enum sformat	 n_format;
	int		 n_required;
	int		 n_multiline;	/* may hold \n and \t */
	size_t		 n_minlen;	/* code points */
	size_t		 n_maxlen;	/* code points, or NONE */
	size_t		 n_maxdecoded;	/* base64: decoded bytes, or NONE */
	int		 n_hasmin;
	int		 n_hasmax;
	double		 n_min;
	double		 n_max;
	size_t		 n_minitems;
	size_t		 n_maxitems;	/* or NONE */
	size_t		 n_atleast;	/* sibling property index, or NONE */
	size_t		 n_atmost;	/* sibling property index, or NONE */
	size_t		 n_props;	/* first property node */
	size_t		 n_nprops;
	size_t		 n_items;	/* item node, or NONE */
};

static struct {
	struct snode	 s_nodes[NODES_MAX];
	size_t		 s_nnodes;
	size_t		 s_field[REFX_CLASS_COUNT];	/* node of each class */
	size_t		 s_attachment;			/* attachment node */
	int		 s_ok;
	char		 s_err[200];
} sch;

static pthread_once_t sch_once = PTHREAD_ONCE_INIT;

static int fail(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* Write a message to ${err}; return -1. */
static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return (-1);
}

/* Record why the schema did not load; return -1. */
static int schema_fail(const char *, ...)
    __attribute__((format(printf, 1, 2)));

static int
schema_fail(const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(sch.s_err, sizeof(sch.s_err), "internal error: schema: ");
	if (n < 0 || (size_t)n >= sizeof(sch.s_err))
		return (-1);
	va_start(ap, fmt);
	vsnprintf(sch.s_err + n, sizeof(sch.s_err) - (size_t)n, fmt, ap);
	va_end(ap);
	return (-1);
}

/* Join ${a} and ${b} with ${sep} into ${out}; -1 if it does not fit. */
static int
join(char *out, size_t outlen, const char *a, const char *sep, const char *b)
{
	int n;

	n = snprintf(out, outlen, "%s%s%s", a, sep, b);
	if (n < 0 || (size_t)n >= outlen)
		return (-1);
	return (0);
}

/* ${path}[${i}] into ${out}; -1 if it does not fit. */
static int
index_path(char *out, size_t outlen, const char *path, size_t i)
{
	int n;

	n = snprintf(out, outlen, "%s[%zu]", path, i);
	if (n < 0 || (size_t)n >= outlen)
		return (-1);
	return (0);
}


/* --- Text ---------------------------------------------------------------- */

enum utf8_result {
	U_OK,
	U_NUL,		/* a NUL byte */
	U_BAD,		/* malformed UTF-8 */
	U_CTRL,		/* a control or display-forging character */
};

/* Check ${len} bytes at ${s}; count code points into ${ncp}. */
static enum utf8_result
utf8_scan(const char *s, size_t len, int allow_newlines, size_t *ncp)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned long cp;
	size_t k, count = 0;

	while (len > 0) {
		if (*p == '\0')
			return (U_NUL);
		if ((k = refx_utf8_decode(p, len, &cp)) == 0)
			return (U_BAD);
		if (refx_char_forbidden(cp) &&
		    !(allow_newlines && (cp == '\n' || cp == '\t')))
			return (U_CTRL);
		p += k;
		len -= k;
		count++;
	}
	if (ncp != NULL)
		*ncp = count;
	return (U_OK);
}

/**
 * refx_utf8_valid(s, len, allow_newlines): Return 1 if the ${len} bytes at
 * ${s} are well-formed UTF-8 without NUL, control, line-separator or
 * bidirectional-control characters (newline and tab are allowed if
 * ${allow_newlines}), else 0.
 */
int
refx_utf8_valid(const char *s, size_t len, int allow_newlines)
{

	if (s == NULL)
		return (0);
	return (utf8_scan(s, len, allow_newlines, NULL) == U_OK);
}

/* --- Formats ------------------------------------------------------------- */

enum pnr_result {
	PNR_OK,
	PNR_FORM,	/* not one of the accepted forms */
	PNR_DATE,	/* no such date */
	PNR_CHECK,	/* wrong check digit */
};

/* Return 1 if the ${n} bytes at ${s} are all ASCII digits. */
static int
all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return (0);
	return (1);
}

/* The value of the two digits at ${s}. */
static int
num2(const char *s)
{

	return ((s[0] - '0') * 10 + (s[1] - '0'));
}

/* Days in ${month} (1-12) of a year that ${leap} says is a leap year. */
static int
month_days(int month, int leap)
{
	static const int days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	if (month == 2 && leap)
		return (29);
	return (days[month - 1]);
}

/* Gregorian leap year. */
static int
is_leap(int year)
{

	return ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0);
}

/* Check a personnummer or samordningsnummer and say what is wrong. */
static enum pnr_result
pnr_check(const char *s)
{
	char d[10];		/* YYMMDDNNNC */
	int century = -1, leap, month, day, i, t, sum;

	switch (strlen(s)) {
	case 10:		/* YYMMDDNNNC */
		if (!all_digits(s, 10))
			return (PNR_FORM);
		memcpy(d, s, 10);
		break;
	case 11:		/* YYMMDD-NNNC, YYMMDD+NNNC */
		if ((s[6] != '-' && s[6] != '+') || !all_digits(s, 6) ||
		    !all_digits(s + 7, 4))
			return (PNR_FORM);
		memcpy(d, s, 6);
		memcpy(d + 6, s + 7, 4);
		break;
	case 12:		/* YYYYMMDDNNNC */
		if (!all_digits(s, 12))
			return (PNR_FORM);
		century = num2(s);
		memcpy(d, s + 2, 10);
		break;
	case 13:		/* YYYYMMDD-NNNC */
		if (s[8] != '-' || !all_digits(s, 8) || !all_digits(s + 9, 4))
			return (PNR_FORM);
		century = num2(s);
		memcpy(d, s + 2, 6);
		memcpy(d + 6, s + 9, 4);
		break;
	default:
		return (PNR_FORM);
	}

	/*
	 * The date.  Without the century, 29 February is accepted in every
	 * year divisible by four (2000 was a leap year, 1900 was not).
	 */
	if (century != -1) {
		if (century < 18 || century > 20)
			return (PNR_DATE);
		leap = is_leap(century * 100 + num2(d));
	} else
		leap = (num2(d) % 4 == 0);
	month = num2(d + 2);
	day = num2(d + 4);
	if (day > 60)		/* samordningsnummer: day + 60 */
		day -= 60;
	if (month < 1 || month > 12 || day < 1 || day > month_days(month, leap))
		return (PNR_DATE);

	/* Luhn over YYMMDDNNN: weights 2, 1, 2, ...; the sum's complement. */
	sum = 0;
	for (i = 0; i < 9; i++) {
		t = (d[i] - '0') * (i % 2 == 0 ? 2 : 1);
		sum += t > 9 ? t - 9 : t;
	}
	if ((10 - sum % 10) % 10 != d[9] - '0')
		return (PNR_CHECK);
	return (PNR_OK);
}

/**
 * refx_personnummer_valid(s): Return 1 if ${s} is a Swedish personal
 * identity number (or coordination number) with a valid date and check
 * digit, in the forms YYMMDD-NNNC, YYMMDD+NNNC, YYYYMMDDNNNC,
 * YYYYMMDD-NNNC or YYMMDDNNNC; else 0.
 */
int
refx_personnummer_valid(const char *s)
{

	if (s == NULL)
		return (0);
	return (pnr_check(s) == PNR_OK);
}

/* Return 1 if ${s} (${len} bytes) is a date YYYY-MM-DD in 1900-2199. */
static int
date_valid(const char *s, size_t len)
{
	int year, month, day;

	if (len != 10 || s[4] != '-' || s[7] != '-' || !all_digits(s, 4) ||
	    !all_digits(s + 5, 2) || !all_digits(s + 8, 2))
		return (0);
	year = num2(s) * 100 + num2(s + 2);
	month = num2(s + 5);
	day = num2(s + 8);
	if (year < 1900 || year > 2199 || month < 1 || month > 12)
		return (0);
	return (day >= 1 && day <= month_days(month, is_leap(year)));
}

/* RFC 6838 restricted-name: 1-63 characters, a letter or digit first. */
static int
restricted_name(const char *s, size_t n)
{
	size_t i;
	char c;

	if (n == 0 || n > 63)
		return (0);
	for (i = 0; i < n; i++) {
		c = s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9'))
			continue;
		if (i > 0 && strchr("!#$&-^_.+", c) != NULL)
			continue;
		return (0);
	}
	return (1);
}

/* Return 1 if ${s} is "type/subtype" without parameters. */
static int
media_type_valid(const char *s, size_t len)
{
	const char *slash;

	if ((slash = memchr(s, '/', len)) == NULL)
		return (0);
	return (restricted_name(s, (size_t)(slash - s)) &&
	    restricted_name(slash + 1, len - (size_t)(slash - s) - 1));
}

/* The value of base64 character ${c}, or -1. */
static int
b64_value(char c)
{

	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == '+')
		return (62);
	if (c == '/')
		return (63);
	return (-1);
}

/*
 * Check standard base64 with padding (RFC 4648 section 4) in its one
 * canonical spelling (unused bits zero); give the decoded length.
 */
static int
base64_valid(const char *s, size_t len, size_t *declen)
{
	size_t i, pad = 0;

	if (len % 4 != 0)
		return (0);
	if (len > 0 && s[len - 1] == '=')
		pad++;
	if (len > 1 && s[len - 2] == '=')
		pad++;
	for (i = 0; i < len - pad; i++)
		if (b64_value(s[i]) < 0)
			return (0);
	if (pad == 1 && (b64_value(s[len - 2]) & 0x03) != 0)
		return (0);
	if (pad == 2 && (b64_value(s[len - 3]) & 0x0f) != 0)
		return (0);
	*declen = len / 4 * 3 - pad;
	return (1);
}

/* --- Loading the schema -------------------------------------------------- */

/* Keywords a schema node may have, and the types they apply to. */
#define TB(t)	(1u << (t))
#define TANY	0xffu
static const struct {
	const char	*kw;
	unsigned	 types;
} keywords[] = {
	{ "type", TANY },
	{ "title", TANY },
	{ "description", TANY },
	{ "class", TANY },
	{ "required", TANY },
	{ "minLength", TB(T_STRING) },
	{ "maxLength", TB(T_STRING) },
	{ "multiline", TB(T_STRING) },
	{ "format", TB(T_STRING) },
	{ "maxDecodedLength", TB(T_STRING) },
	{ "minimum", TB(T_INTEGER) | TB(T_NUMBER) },
	{ "maximum", TB(T_INTEGER) | TB(T_NUMBER) },
	{ "atLeast", TB(T_STRING) | TB(T_INTEGER) | TB(T_NUMBER) },
	{ "atMost", TB(T_STRING) | TB(T_INTEGER) | TB(T_NUMBER) },
	{ "minItems", TB(T_ARRAY) },
	{ "maxItems", TB(T_ARRAY) },
	{ "items", TB(T_ARRAY) },
	{ "properties", TB(T_OBJECT) },
	{ "additionalProperties", TB(T_OBJECT) },
};

static const char *const type_names[] = {
	[T_STRING] = "string",
	[T_INTEGER] = "integer",
	[T_NUMBER] = "number",
	[T_BOOLEAN] = "boolean",
	[T_OBJECT] = "object",
	[T_ARRAY] = "array",
};

static const char *const format_names[] = {
	[F_NONE] = "",
	[F_PERSONNUMMER] = "personnummer",
	[F_DATE] = "date",
	[F_MEDIA_TYPE] = "media-type",
	[F_BASE64] = "base64",
};

/* Reserve ${n} consecutive nodes; return the first, or NONE. */
static size_t
node_alloc(size_t n)
{
	size_t first;

	if (n > NODES_MAX - sch.s_nnodes)
		return (NONE);
	first = sch.s_nnodes;
	sch.s_nnodes += n;
	return (first);
}

/* A non-negative integer keyword. */
static int
load_size(json_t *j, const char *path, const char *kw, size_t *out)
{
	json_t *v;

	if ((v = json_object_get(j, kw)) == NULL)
		return (0);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return (schema_fail("%s.%s: must be a non-negative integer",
		    path, kw));
	*out = (size_t)json_integer_value(v);
	return (0);
}

/* A boolean keyword. */
static int
load_bool(json_t *j, const char *path, const char *kw, int *out)
{
	json_t *v;

	if ((v = json_object_get(j, kw)) == NULL)
		return (0);
	if (!json_is_boolean(v))
		return (schema_fail("%s.%s: must be a boolean", path, kw));
	*out = json_is_true(v);
	return (0);
}

/* A number keyword. */
static int
load_number(json_t *j, const char *path, const char *kw, int *has,
    double *out)
{
	json_t *v;

	if ((v = json_object_get(j, kw)) == NULL)
		return (0);
	if (!json_is_number(v))
		return (schema_fail("%s.%s: must be a number", path, kw));
	*has = 1;
	*out = json_number_value(v);
	return (0);
}

/* Find property ${name} of object node ${n}: its index, or NONE. */
static size_t
prop_find(const struct snode *n, const char *name)
{
	size_t i;

	for (i = 0; i < n->n_nprops; i++)
		if (strcmp(sch.s_nodes[n->n_props + i].n_name, name) == 0)
			return (n->n_props + i);
	return (NONE);
}

static int load_node(json_t *, const char *, size_t, enum sctx);

/* Load the keywords of an object node: its properties. */
static int
load_object(json_t *j, const char *path, struct snode *n)
{
	json_t *props, *pj, *v;
	const char *key, *kw;
	char sub[PATH_LEN];
	size_t i, k, sib;
	int ap = 1;

	if (load_bool(j, path, "additionalProperties", &ap))
		return (-1);
	if (ap)
		return (schema_fail("%s: additionalProperties must be false",
		    path));
	props = json_object_get(j, "properties");
	if (!json_is_object(props) || json_object_size(props) == 0)
		return (schema_fail("%s.properties: must be a non-empty object",
		    path));
	n->n_nprops = json_object_size(props);
	if ((n->n_props = node_alloc(n->n_nprops)) == NONE)
		return (schema_fail("%s: too many nodes", path));

	/* Each property in turn; children go after the siblings. */
	i = 0;
	json_object_foreach(props, key, pj) {
		if (strlen(key) > PROP_NAME_MAX ||
		    strcmp(refx_quotable(key), key) != 0)
			return (schema_fail("%s.properties: bad name", path));
		memcpy(sch.s_nodes[n->n_props + i].n_name, key,
		    strlen(key) + 1);
		if (join(sub, sizeof(sub), path, ".properties.", key))
			return (schema_fail("%s: path too long", path));
		if (load_node(pj, sub, n->n_props + i, CTX_PROP))
			return (-1);
		i++;
	}

	/* Resolve atLeast / atMost to sibling indices of the same kind. */
	for (i = 0; i < n->n_nprops; i++) {
		struct snode *c = &sch.s_nodes[n->n_props + i];

		pj = json_object_get(props, c->n_name);
		for (k = 0; k < 2; k++) {
			kw = k == 0 ? "atLeast" : "atMost";
			if ((v = json_object_get(pj, kw)) == NULL)
				continue;
			sib = json_is_string(v) ?
			    prop_find(n, json_string_value(v)) : NONE;
			if (sib == NONE ||
			    sib == n->n_props + i ||
			    sch.s_nodes[sib].n_type != c->n_type ||
			    sch.s_nodes[sib].n_format != c->n_format ||
			    (c->n_type == T_STRING && c->n_format != F_DATE))
				return (schema_fail("%s.%s.%s: must name a "
				    "sibling of the same type", path,
				    c->n_name, kw));
			if (k == 0)
				c->n_atleast = sib;
			else
				c->n_atmost = sib;
		}
	}
	return (0);
}

/* Load node ${idx} from ${j}. */
static int
load_node(json_t *j, const char *path, size_t idx, enum sctx ctx)
{
	struct snode *n = &sch.s_nodes[idx];
	json_t *v;
	const char *key, *s;
	char sub[PATH_LEN];
	size_t i, t;

	if (!json_is_object(j))
		return (schema_fail("%s: must be an object", path));
	n->n_maxlen = NONE;
	n->n_maxdecoded = NONE;
	n->n_maxitems = NONE;
	n->n_atleast = NONE;
	n->n_atmost = NONE;
	n->n_items = NONE;

	/* The type first: it decides which keywords are allowed. */
	s = json_string_value(json_object_get(j, "type"));
	for (t = 0; s != NULL && t < sizeof(type_names) / sizeof(type_names[0]);
	    t++)
		if (strcmp(s, type_names[t]) == 0)
			break;
	if (s == NULL || t == sizeof(type_names) / sizeof(type_names[0]))
		return (schema_fail("%s.type: missing or unknown", path));
	n->n_type = (enum stype)t;

	/* No unknown or misplaced keywords: a typo must not drop a limit. */
	json_object_foreach(j, key, v) {
		for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
			if (strcmp(key, keywords[i].kw) == 0)
				break;
		if (i == sizeof(keywords) / sizeof(keywords[0]) ||
		    (keywords[i].types & TB(n->n_type)) == 0 ||
		    (strcmp(key, "class") == 0 && ctx != CTX_FIELD) ||
		    (strcmp(key, "required") == 0 && ctx != CTX_FIELD &&
		    ctx != CTX_PROP))
			return (schema_fail("%s: unexpected keyword '%s'", path,
			    refx_quotable(key)));
	}
	if (load_bool(j, path, "required", &n->n_required) ||
	    load_bool(j, path, "multiline", &n->n_multiline) ||
	    load_size(j, path, "minLength", &n->n_minlen) ||
	    load_size(j, path, "maxLength", &n->n_maxlen) ||
	    load_size(j, path, "maxDecodedLength", &n->n_maxdecoded) ||
	    load_size(j, path, "minItems", &n->n_minitems) ||
	    load_size(j, path, "maxItems", &n->n_maxitems) ||
	    load_number(j, path, "minimum", &n->n_hasmin, &n->n_min) ||
	    load_number(j, path, "maximum", &n->n_hasmax, &n->n_max))
		return (-1);
	if ((v = json_object_get(j, "format")) != NULL) {
		s = json_string_value(v);
		for (t = 1; s != NULL &&
		    t < sizeof(format_names) / sizeof(format_names[0]); t++)
			if (strcmp(s, format_names[t]) == 0)
				break;
		if (s == NULL ||
		    t == sizeof(format_names) / sizeof(format_names[0]))
			return (schema_fail("%s.format: unknown", path));
		n->n_format = (enum sformat)t;
	}
	if (n->n_maxdecoded != NONE && n->n_format != F_BASE64)
		return (schema_fail("%s: maxDecodedLength needs base64", path));

	/* Containers. */
	if (n->n_type == T_OBJECT)
		return (load_object(j, path, n));
	if (n->n_type == T_ARRAY) {
		if ((v = json_object_get(j, "items")) == NULL)
			return (schema_fail("%s.items: missing", path));
		if ((n->n_items = node_alloc(1)) == NONE)
			return (schema_fail("%s: too many nodes", path));
		if (join(sub, sizeof(sub), path, ".", "items"))
			return (schema_fail("%s: path too long", path));
		return (load_node(v, sub, n->n_items, CTX_ITEM));
	}
	return (0);
}

/* Load the top-level fields, one per class. */
static int
load_fields(json_t *fields)
{
	json_t *fj;
	const char *key, *s;
	char sub[PATH_LEN];
	enum refx_class c;
	size_t i, idx;

	for (i = 0; i < REFX_CLASS_COUNT; i++)
		sch.s_field[i] = NONE;
	if (!json_is_object(fields))
		return (schema_fail("fields: must be an object"));
	json_object_foreach(fields, key, fj) {
		if (refx_class_parse(key, &c))
			return (schema_fail("fields.%s: not a class",
			    refx_quotable(key)));
		if (join(sub, sizeof(sub), "fields", ".", key))
			return (schema_fail("fields: path too long"));
		/* The field name is the class name. */
		s = json_string_value(json_object_get(fj, "class"));
		if (s == NULL || strcmp(s, key) != 0)
			return (schema_fail("%s.class: must be \"%s\"", sub,
			    key));
		s = json_string_value(json_object_get(fj, "title"));
		if (s == NULL || strcmp(s, classes[c].title) != 0)
			return (schema_fail("%s.title: must be \"%s\"", sub,
			    classes[c].title));
		if ((idx = node_alloc(1)) == NONE)
			return (schema_fail("%s: too many nodes", sub));
		memcpy(sch.s_nodes[idx].n_name, key, strlen(key) + 1);
		if (load_node(fj, sub, idx, CTX_FIELD))
			return (-1);
		sch.s_field[c] = idx;
	}
	for (i = 0; i < REFX_CLASS_COUNT; i++)
		if (sch.s_field[i] == NONE)
			return (schema_fail("fields: no field for class '%s'",
			    classes[i].name));
	return (0);
}

/* Parse the embedded schema into the tables; once per process. */
static void
schema_load(void)
{
	static const char *const top[] = {
		"schema", "title", "description", "fields", "attachment"
	};
	json_t *root, *v;
	json_error_t je;
	const char *key;
	size_t i;

	if ((root = json_loadb(refx_schema_data, refx_schema_data_len,
	    JSON_REJECT_DUPLICATES, &je)) == NULL) {
		schema_fail("line %d: %s", je.line, je.text);
		goto err0;
	}
	if (!json_is_object(root)) {
		schema_fail("not an object");
		goto err1;
	}
	json_object_foreach(root, key, v) {
		for (i = 0; i < sizeof(top) / sizeof(top[0]); i++)
			if (strcmp(key, top[i]) == 0)
				break;
		if (i == sizeof(top) / sizeof(top[0])) {
			schema_fail("unknown key '%s'", refx_quotable(key));
			goto err1;
		}
	}
	if ((key = json_string_value(json_object_get(root, "schema"))) ==
	    NULL || strcmp(key, REFX_SCHEMA_ID) != 0) {
		schema_fail("schema: must be \"%s\"", REFX_SCHEMA_ID);
		goto err1;
	}
	if (load_fields(json_object_get(root, "fields")))
		goto err1;
	if ((sch.s_attachment = node_alloc(1)) == NONE) {
		schema_fail("too many nodes");
		goto err1;
	}
	if (load_node(json_object_get(root, "attachment"), "attachment",
	    sch.s_attachment, CTX_ATTACH))
		goto err1;
	if (sch.s_nodes[sch.s_attachment].n_type != T_OBJECT) {
		schema_fail("attachment: must be of type object");
		goto err1;
	}
	json_decref(root);
	sch.s_ok = 1;
	return;

err1:
	json_decref(root);
err0:
	return;
}

/* Load the schema if needed; return 0, or -1 with a message. */
static int
schema_get(char *err, size_t errlen)
{

	if (pthread_once(&sch_once, schema_load) != 0)
		return (fail(err, errlen, "internal error: pthread_once"));
	if (!sch.s_ok)
		return (fail(err, errlen, "%s", sch.s_err));
	return (0);
}

/** refx_schema_json(len): The compiled-in schema document. */
const char *
refx_schema_json(size_t *len)
{

	if (len != NULL)
		*len = refx_schema_data_len;
	return (refx_schema_data);
}

/* --- Classes ------------------------------------------------------------- */

/** refx_class_name(c): The schema name of ${c} ("diagnoses"), or "?". */
const char *
refx_class_name(enum refx_class c)
{

	if ((unsigned)c >= REFX_CLASS_COUNT)
		return ("?");
	return (classes[c].name);
}

/** refx_class_parse(s, c): Parse a class name.  Return 0 or -1. */
int
refx_class_parse(const char *s, enum refx_class *c)
{
	int i;

	if (s == NULL)
		return (-1);
	for (i = 0; i < REFX_CLASS_COUNT; i++)
		if (strcmp(s, classes[i].name) == 0) {
			*c = (enum refx_class)i;
			return (0);
		}
	return (-1);
}

/** refx_class_title(c): A short English title of ${c}, for people. */
const char *
refx_class_title(enum refx_class c)
{

	if ((unsigned)c >= REFX_CLASS_COUNT)
		return ("?");
	return (classes[c].title);
}

/* --- Validation ---------------------------------------------------------- */

static int validate(const struct snode *, json_t *, const char *, char *,
    size_t);

/* A string value: encoding, length, format. */
static int
validate_string(const struct snode *n, json_t *v, const char *path,
    char *err, size_t errlen)
{
	const char *s;
	size_t len, ncp, declen;

	if (!json_is_string(v))
		return (fail(err, errlen, "%s: must be a string", path));
	s = json_string_value(v);
	len = json_string_length(v);
	switch (utf8_scan(s, len, n->n_multiline, &ncp)) {
	case U_OK:
		break;
	case U_NUL:
		return (fail(err, errlen, "%s: contains a NUL character",
		    path));
	case U_BAD:
		return (fail(err, errlen, "%s: invalid UTF-8", path));
	case U_CTRL:
		return (fail(err, errlen, "%s: contains a control character%s",
		    path, n->n_multiline ? " (only newline and tab allowed)" :
		    ""));
	}
	if (ncp < n->n_minlen)
		return (n->n_minlen == 1 ?
		    fail(err, errlen, "%s: must not be empty", path) :
		    fail(err, errlen, "%s: shorter than %zu characters", path,
		    n->n_minlen));
	if (n->n_maxlen != NONE && ncp > n->n_maxlen)
		return (fail(err, errlen, "%s: longer than %zu characters",
		    path, n->n_maxlen));

	switch (n->n_format) {
	case F_NONE:
		break;
	case F_PERSONNUMMER:
		switch (pnr_check(s)) {
		case PNR_OK:
			break;
		case PNR_FORM:
			return (fail(err, errlen, "%s: not a personnummer "
			    "(YYMMDD-NNNC or YYYYMMDD-NNNC)", path));
		case PNR_DATE:
			return (fail(err, errlen, "%s: invalid date", path));
		case PNR_CHECK:
			return (fail(err, errlen, "%s: invalid check digit",
			    path));
		}
		break;
	case F_DATE:
		if (!date_valid(s, len))
			return (fail(err, errlen, "%s: not a valid date "
			    "(YYYY-MM-DD)", path));
		break;
	case F_MEDIA_TYPE:
		if (!media_type_valid(s, len))
			return (fail(err, errlen, "%s: not a media type "
			    "(type/subtype)", path));
		break;
	case F_BASE64:
		if (!base64_valid(s, len, &declen))
			return (fail(err, errlen, "%s: not base64", path));
		if (n->n_maxdecoded != NONE && declen > n->n_maxdecoded)
			return (fail(err, errlen, "%s: larger than %zu bytes",
			    path, n->n_maxdecoded));
		break;
	}
	return (0);
}

/* An integer or number value: type and bounds. */
static int
validate_number(const struct snode *n, json_t *v, const char *path,
    char *err, size_t errlen)
{
	double x;

	if (n->n_type == T_INTEGER && !json_is_integer(v))
		return (fail(err, errlen, "%s: must be an integer", path));
	if (!json_is_number(v))
		return (fail(err, errlen, "%s: must be a number", path));
	x = json_number_value(v);
	if (n->n_hasmin && x < n->n_min)
		return (fail(err, errlen, "%s: must be at least %g", path,
		    n->n_min));
	if (n->n_hasmax && x > n->n_max)
		return (fail(err, errlen, "%s: must be at most %g", path,
		    n->n_max));
	return (0);
}

/* Compare two validated values of one type: <0, 0, >0. */
static int
compare(json_t *a, json_t *b)
{
	double x, y;

	if (json_is_string(a))
		return (strcmp(json_string_value(a), json_string_value(b)));
	x = json_number_value(a);
	y = json_number_value(b);
	return (x < y ? -1 : x > y ? 1 : 0);
}

/* An object value: no unknown keys, required keys, each property. */
static int
validate_object(const struct snode *n, json_t *v, const char *path,
    char *err, size_t errlen)
{
	const struct snode *p;
	json_t *pv, *sv;
	const char *key;
	char sub[PATH_LEN];
	size_t i;

	if (!json_is_object(v))
		return (fail(err, errlen, "%s: must be an object", path));
	json_object_foreach(v, key, pv)
		if (prop_find(n, key) == NONE)
			return (fail(err, errlen, "%s.%s: unknown field", path,
			    refx_quotable(key)));
	for (i = 0; i < n->n_nprops; i++) {
		p = &sch.s_nodes[n->n_props + i];
		if ((pv = json_object_get(v, p->n_name)) == NULL) {
			if (p->n_required)
				return (fail(err, errlen, "%s: missing "
				    "required field '%s'", path, p->n_name));
			continue;
		}
		if (join(sub, sizeof(sub), path, ".", p->n_name))
			return (fail(err, errlen, "%s: path too long", path));
		if (validate(p, pv, sub, err, errlen))
			return (-1);
	}

	/* Order between siblings: an end not before its start, ... */
	for (i = 0; i < n->n_nprops; i++) {
		p = &sch.s_nodes[n->n_props + i];
		if ((pv = json_object_get(v, p->n_name)) == NULL)
			continue;
		if (p->n_atleast != NONE && (sv = json_object_get(v,
		    sch.s_nodes[p->n_atleast].n_name)) != NULL &&
		    compare(pv, sv) < 0)
			return (fail(err, errlen, "%s.%s: %s %s", path,
			    p->n_name, p->n_type == T_STRING ? "before" :
			    "less than", sch.s_nodes[p->n_atleast].n_name));
		if (p->n_atmost != NONE && (sv = json_object_get(v,
		    sch.s_nodes[p->n_atmost].n_name)) != NULL &&
		    compare(pv, sv) > 0)
			return (fail(err, errlen, "%s.%s: %s %s", path,
			    p->n_name, p->n_type == T_STRING ? "after" :
			    "greater than", sch.s_nodes[p->n_atmost].n_name));
	}
	return (0);
}

/* An array value: its length and each item. */
static int
validate_array(const struct snode *n, json_t *v, const char *path,
    char *err, size_t errlen)
{
	char sub[PATH_LEN];
	size_t i, len;

	if (!json_is_array(v))
		return (fail(err, errlen, "%s: must be an array", path));
	len = json_array_size(v);
	if (len < n->n_minitems)
		return (fail(err, errlen, "%s: must have at least %zu item%s",
		    path, n->n_minitems, n->n_minitems == 1 ? "" : "s"));
	if (n->n_maxitems != NONE && len > n->n_maxitems)
		return (fail(err, errlen, "%s: more than %zu items", path,
		    n->n_maxitems));
	for (i = 0; i < len; i++) {
		if (index_path(sub, sizeof(sub), path, i))
			return (fail(err, errlen, "%s: path too long", path));
		if (validate(&sch.s_nodes[n->n_items], json_array_get(v, i),
		    sub, err, errlen))
			return (-1);
	}
	return (0);
}

/* Validate ${v} against node ${n}; ${path} names it in messages. */
static int
validate(const struct snode *n, json_t *v, const char *path, char *err,
    size_t errlen)
{

	switch (n->n_type) {
	case T_STRING:
		return (validate_string(n, v, path, err, errlen));
	case T_INTEGER:
	case T_NUMBER:
		return (validate_number(n, v, path, err, errlen));
	case T_BOOLEAN:
		if (!json_is_boolean(v))
			return (fail(err, errlen, "%s: must be a boolean",
			    path));
		return (0);
	case T_OBJECT:
		return (validate_object(n, v, path, err, errlen));
	case T_ARRAY:
		return (validate_array(n, v, path, err, errlen));
	}
	return (fail(err, errlen, "%s: internal error", path));
}

/*
 * The canonical bytes of ${v}: compact, keys sorted, UTF-8 kept.  The
 * same value always gives the same bytes.  Caller frees; NULL on ENOMEM.
 */
static char *
canonical(json_t *v, size_t *len)
{
	char *s;

	if ((s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_ENCODE_ANY)) == NULL)
		return (NULL);
	*len = strlen(s);
	return (s);
}

/* The attachment number of field name ${name} (1..), or 0. */
static size_t
attachment_number(const char *name)
{
	const char *p;
	size_t n = 0;

	if (strncmp(name, ATTACHMENT_PREFIX, strlen(ATTACHMENT_PREFIX)) != 0)
		return (0);
	p = name + strlen(ATTACHMENT_PREFIX);
	if (*p < '1' || *p > '9')
		return (0);
	for (; *p >= '0' && *p <= '9' && n <= REFX_MAX_ATTACHMENTS; p++)
		n = n * 10 + (size_t)(*p - '0');
	if (*p != '\0' || n > REFX_MAX_ATTACHMENTS)
		return (0);
	return (n);
}

/**
 * refx_field_validate(name, cls, value, len, err, errlen): Validate one
 * decrypted field value against the schema (recipients use this on what
 * they decrypt).  Return 0 or -1 with a message.
 */
int
refx_field_validate(const char *name, enum refx_class cls,
    const uint8_t *value, size_t len, char *err, size_t errlen)
{
	const struct snode *n;
	json_t *v;
	json_error_t je;
	char *canon;
	size_t clen, max;

	if (schema_get(err, errlen))
		goto err0;
	if (name == NULL || value == NULL ||
	    (unsigned)cls >= REFX_CLASS_COUNT) {
		fail(err, errlen, "field: invalid arguments");
		goto err0;
	}

	/* The name says which node: the class's own, or an attachment's. */
	if (strcmp(name, classes[cls].name) == 0) {
		n = &sch.s_nodes[sch.s_field[cls]];
		max = REFX_DRAFT_MAX;
	} else if (attachment_number(name) != 0) {
		n = &sch.s_nodes[sch.s_attachment];
		max = sodium_base64_ENCODED_LEN(REFX_ATTACHMENT_MAX,
		    sodium_base64_VARIANT_ORIGINAL) + 2 * REFX_DRAFT_MAX;
	} else {
		fail(err, errlen, "%s: unknown field for class '%s'",
		    refx_quotable(name), classes[cls].name);
		goto err0;
	}
	if (len > max) {
		fail(err, errlen, "%s: larger than %zu bytes", name, max);
		goto err0;
	}

	if ((v = json_loadb((const char *)value, len, JSON_DECODE_ANY |
	    JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je)) == NULL) {
		refx_ascii_scrub(je.text);
		fail(err, errlen, "%s: invalid JSON at column %d: %s", name,
		    je.column, je.text);
		goto err0;
	}
	if (validate(n, v, name, err, errlen))
		goto err1;

	/* One value, one spelling: what a draft produces is canonical. */
	if ((canon = canonical(v, &clen)) == NULL) {
		fail(err, errlen, "%s: out of memory", name);
		goto err1;
	}
	if (clen != len || memcmp(canon, value, len) != 0) {
		fail(err, errlen, "%s: not in canonical form", name);
		goto err2;
	}
	sodium_memzero(canon, clen);
	free(canon);
	json_decref(v);
	return (0);

err2:
	sodium_memzero(canon, clen);
	free(canon);
err1:
	json_decref(v);
err0:
	return (-1);
}

/* --- Drafts -------------------------------------------------------------- */

/* Append field ${name} of class ${cls} with the canonical bytes of ${v}. */
static int
add_field(struct refx_draft *d, const char *name, enum refx_class cls,
    json_t *v, char *err, size_t errlen)
{
	struct refx_field *f;

	if (d->d_nfields >= REFX_MAX_FIELDS)
		return (fail(err, errlen, "fields: more than %d fields",
		    REFX_MAX_FIELDS));
	f = &d->d_fields[d->d_nfields];
	if (strlen(name) > REFX_FIELD_NAME_MAX)
		return (fail(err, errlen, "%s: name too long", name));
	memcpy(f->f_name, name, strlen(name) + 1);
	f->f_class = cls;
	if ((f->f_value = (uint8_t *)canonical(v, &f->f_len)) == NULL)
		return (fail(err, errlen, "%s: out of memory", name));
	d->d_nfields++;
	return (0);
}

/* The string value of ${v}, or NULL if it is none or holds a NUL. */
static const char *
string_value(json_t *v)
{

	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return (NULL);
	return (json_string_value(v));
}

/* Check that every key of object ${v} is in ${keys}. */
static int
known_keys(json_t *v, const char *const *keys, size_t nkeys,
    const char *path, char *err, size_t errlen)
{
	json_t *x;
	const char *key;
	size_t i;

	json_object_foreach(v, key, x) {
		for (i = 0; i < nkeys; i++)
			if (strcmp(key, keys[i]) == 0)
				break;
		if (i == nkeys && path[0] == '\0')
			return (fail(err, errlen, "%s: unknown key",
			    refx_quotable(key)));
		if (i == nkeys)
			return (fail(err, errlen, "%s.%s: unknown key", path,
			    refx_quotable(key)));
	}
	return (0);
}

/* "recipients": 1..REFX_MAX_RECIPIENTS distinct unit ids. */
static int
parse_recipients(struct refx_draft *d, json_t *v, char *err, size_t errlen)
{
	const char *s;
	size_t i, k, n;

	if (v == NULL)
		return (fail(err, errlen, "draft: missing required key "
		    "'recipients'"));
	if (!json_is_array(v))
		return (fail(err, errlen, "recipients: must be an array"));
	if ((n = json_array_size(v)) == 0)
		return (fail(err, errlen, "recipients: must have at least 1 "
		    "recipient"));
	if (n > REFX_MAX_RECIPIENTS)
		return (fail(err, errlen, "recipients: more than %d recipients",
		    REFX_MAX_RECIPIENTS));
	for (i = 0; i < n; i++) {
		s = string_value(json_array_get(v, i));
		if (s == NULL || !refx_agency_id_valid(s))
			return (fail(err, errlen, "recipients[%zu]: invalid "
			    "unit id", i));
		for (k = 0; k < i; k++)
			if (strcmp(d->d_recipients[k], s) == 0)
				return (fail(err, errlen, "recipients[%zu]: "
				    "duplicate of recipients[%zu]", i, k));
		memcpy(d->d_recipients[i], s, strlen(s) + 1);
		d->d_nrecipients++;
	}
	return (0);
}

/* "fields": the classes, each validated and stored canonically. */
static int
parse_fields(struct refx_draft *d, json_t *v, char *err, size_t errlen)
{
	const struct snode *n;
	json_t *fv;
	const char *key;
	char path[PATH_LEN];
	enum refx_class c;
	int i;

	if (v == NULL)
		return (fail(err, errlen, "draft: missing required key "
		    "'fields'"));
	if (!json_is_object(v))
		return (fail(err, errlen, "fields: must be an object"));
	json_object_foreach(v, key, fv)
		if (refx_class_parse(key, &c))
			return (fail(err, errlen, "fields.%s: unknown field",
			    refx_quotable(key)));
	for (i = 0; i < REFX_CLASS_COUNT; i++) {
		n = &sch.s_nodes[sch.s_field[i]];
		if (n->n_required && json_object_get(v, n->n_name) == NULL)
			return (fail(err, errlen, "fields: missing required "
			    "field '%s'", n->n_name));
	}

	/* In class order, so the same draft gives the same field list. */
	for (i = 0; i < REFX_CLASS_COUNT; i++) {
		n = &sch.s_nodes[sch.s_field[i]];
		if ((fv = json_object_get(v, n->n_name)) == NULL)
			continue;
		if (join(path, sizeof(path), "fields", ".", n->n_name))
			return (fail(err, errlen, "fields: path too long"));
		if (validate(n, fv, path, err, errlen) ||
		    add_field(d, n->n_name, (enum refx_class)i, fv, err,
		    errlen))
			return (-1);
	}
	return (0);
}

/*
 * Read the attachment file ${path}: a regular file of at most
 * REFX_ATTACHMENT_MAX bytes.  O_NONBLOCK: opening a FIFO must not hang.
 */
static int
read_attachment(const char *path, const char *where, uint8_t **data,
    size_t *len, char *err, size_t errlen)
{
	struct refx_buf b;
	struct stat sb;
	uint8_t chunk[8192];
	ssize_t n;
	int fd;

	refx_buf_init(&b, REFX_ATTACHMENT_MAX);
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)) ==
	    -1) {
		fail(err, errlen, "%s: cannot open: %s", where,
		    strerror(errno));
		goto err0;
	}
	if (fstat(fd, &sb) == -1) {
		fail(err, errlen, "%s: %s", where, strerror(errno));
		goto err1;
	}
	if (!S_ISREG(sb.st_mode)) {
		fail(err, errlen, "%s: not a regular file", where);
		goto err1;
	}
	if (sb.st_size > REFX_ATTACHMENT_MAX) {
		fail(err, errlen, "%s: larger than %d bytes", where,
		    REFX_ATTACHMENT_MAX);
		goto err1;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == -1) {
			fail(err, errlen, "%s: %s", where, strerror(errno));
			goto err1;
		}
		if (n == 0)
			break;
		/* The file may have grown since fstat. */
		if (refx_buf_add(&b, chunk, (size_t)n)) {
			fail(err, errlen, "%s: larger than %d bytes", where,
			    REFX_ATTACHMENT_MAX);
			goto err1;
		}
	}
	close(fd);
	sodium_memzero(chunk, sizeof(chunk));
	if ((*data = refx_buf_take(&b, len)) == NULL) {
		fail(err, errlen, "%s: out of memory", where);
		goto err0;
	}
	return (0);

err1:
	close(fd);
err0:
	sodium_memzero(chunk, sizeof(chunk));
	refx_buf_free(&b);
	return (-1);
}

/* Build the value {name, media_type, data} of one attachment. */
static json_t *
attachment_value(const char *path, const char *where, const char *name,
    const char *media_type, char *err, size_t errlen)
{
	json_t *v;
	uint8_t *data;
	char *b64;
	size_t len, b64len;

	if (read_attachment(path, where, &data, &len, err, errlen))
		goto err0;
	b64len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	if ((b64 = malloc(b64len)) == NULL) {
		fail(err, errlen, "%s: out of memory", where);
		goto err1;
	}
	sodium_bin2base64(b64, b64len, data, len,
	    sodium_base64_VARIANT_ORIGINAL);
	if ((v = json_pack("{s:s, s:s, s:s}", "name", name, "media_type",
	    media_type, "data", b64)) == NULL) {
		fail(err, errlen, "%s: out of memory", where);
		goto err2;
	}
	sodium_memzero(b64, b64len);
	free(b64);
	sodium_memzero(data, len);
	free(data);
	return (v);

err2:
	sodium_memzero(b64, b64len);
	free(b64);
err1:
	sodium_memzero(data, len);
	free(data);
err0:
	return (NULL);
}

/* One entry of "attachments": read the file, add the field. */
static int
parse_attachment(struct refx_draft *d, json_t *a, size_t i,
    const char *basedir, char *err, size_t errlen)
{
	static const char *const keys[] = {
		"file", "class", "name", "media_type"
	};
	const struct snode *an = &sch.s_nodes[sch.s_attachment];
	json_t *name, *mt, *v, *x;
	const char *file, *base;
	char where[PATH_LEN], fpath[PATH_LEN], npath[PATH_LEN];
	char mpath[PATH_LEN], path[PATH_MAX];
	char fname[REFX_FIELD_NAME_MAX + 1];
	enum refx_class c;
	int n;

	if (index_path(where, sizeof(where), "attachments", i) ||
	    join(fpath, sizeof(fpath), where, ".", "file") ||
	    join(npath, sizeof(npath), where, ".", "name") ||
	    join(mpath, sizeof(mpath), where, ".", "media_type")) {
		fail(err, errlen, "attachments: path too long");
		goto err0;
	}
	if (!json_is_object(a)) {
		fail(err, errlen, "%s: must be an object", where);
		goto err0;
	}
	if (known_keys(a, keys, sizeof(keys) / sizeof(keys[0]), where, err,
	    errlen))
		goto err0;

	/* The class it is disclosed as. */
	if ((x = json_object_get(a, "class")) == NULL) {
		fail(err, errlen, "%s: missing required key 'class'", where);
		goto err0;
	}
	if (refx_class_parse(string_value(x), &c)) {
		fail(err, errlen, "%s.class: unknown class", where);
		goto err0;
	}

	/* The file: relative to the draft's directory unless absolute. */
	if ((x = json_object_get(a, "file")) == NULL) {
		fail(err, errlen, "%s: missing required key 'file'", where);
		goto err0;
	}
	if ((file = string_value(x)) == NULL || file[0] == '\0') {
		fail(err, errlen, "%s: must be a file name", fpath);
		goto err0;
	}
	if (file[0] == '/' || basedir == NULL || basedir[0] == '\0')
		n = snprintf(path, sizeof(path), "%s", file);
	else
		n = snprintf(path, sizeof(path), "%s/%s", basedir, file);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		fail(err, errlen, "%s: path too long", fpath);
		goto err0;
	}

	/* Its name (by default the file's base name) and media type. */
	base = strrchr(file, '/') != NULL ? strrchr(file, '/') + 1 : file;
	if ((name = json_object_get(a, "name")) != NULL)
		json_incref(name);
	else if ((name = json_string(base)) == NULL) {
		fail(err, errlen, "%s: must be valid UTF-8", fpath);
		goto err0;
	}
	if (validate(&sch.s_nodes[prop_find(an, "name")], name, npath, err,
	    errlen))
		goto err1;
	if ((mt = json_object_get(a, "media_type")) != NULL)
		json_incref(mt);
	else if ((mt = json_string(DEFAULT_MEDIA_TYPE)) == NULL) {
		fail(err, errlen, "%s: out of memory", where);
		goto err1;
	}
	if (validate(&sch.s_nodes[prop_find(an, "media_type")], mt, mpath,
	    err, errlen))
		goto err2;

	/* Read it and add it as field attachment-N. */
	if ((v = attachment_value(path, fpath, json_string_value(name),
	    json_string_value(mt), err, errlen)) == NULL)
		goto err2;
	n = snprintf(fname, sizeof(fname), ATTACHMENT_PREFIX "%zu", i + 1);
	if (n < 0 || (size_t)n >= sizeof(fname)) {
		fail(err, errlen, "%s: bad index", where);
		goto err3;
	}
	if (validate(an, v, where, err, errlen) ||
	    add_field(d, fname, c, v, err, errlen))
		goto err3;
	json_decref(v);
	json_decref(mt);
	json_decref(name);
	return (0);

err3:
	json_decref(v);
err2:
	json_decref(mt);
err1:
	json_decref(name);
err0:
	return (-1);
}

/* "attachments": up to REFX_MAX_ATTACHMENTS files. */
static int
parse_attachments(struct refx_draft *d, json_t *v, const char *basedir,
    char *err, size_t errlen)
{
	size_t i;

	if (v == NULL)
		return (0);
	if (!json_is_array(v))
		return (fail(err, errlen, "attachments: must be an array"));
	if (json_array_size(v) > REFX_MAX_ATTACHMENTS)
		return (fail(err, errlen, "attachments: more than %d "
		    "attachments", REFX_MAX_ATTACHMENTS));
	for (i = 0; i < json_array_size(v); i++)
		if (parse_attachment(d, json_array_get(v, i), i, basedir, err,
		    errlen))
			return (-1);
	return (0);
}

/**
 * refx_draft_parse(json, len, basedir, err, errlen): As refx_draft_load,
 * from memory; attachments are read relative to ${basedir}.
 */
struct refx_draft *
refx_draft_parse(const uint8_t *json, size_t len, const char *basedir,
    char *err, size_t errlen)
{
	static const char *const keys[] = {
		"schema", "basis", "recipients", "fields", "attachments"
	};
	struct refx_draft *d;
	json_t *root, *v;
	json_error_t je;
	const char *s;

	if (schema_get(err, errlen))
		goto err0;
	if (json == NULL) {
		fail(err, errlen, "draft: no input");
		goto err0;
	}
	if (len > REFX_DRAFT_MAX) {
		fail(err, errlen, "draft: larger than %d bytes",
		    REFX_DRAFT_MAX);
		goto err0;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		fail(err, errlen, "draft: out of memory");
		goto err0;
	}

	/*
	 * NULs are let through the parser so that the validator can name
	 * the field that holds one; every string is checked for them.
	 */
	if ((root = json_loadb((const char *)json, len,
	    JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je)) == NULL) {
		refx_ascii_scrub(je.text);
		fail(err, errlen, "draft: invalid JSON at line %d column %d: "
		    "%s", je.line, je.column, je.text);
		goto err1;
	}
	if (!json_is_object(root)) {
		fail(err, errlen, "draft: must be a JSON object");
		goto err2;
	}
	if (known_keys(root, keys, sizeof(keys) / sizeof(keys[0]), "", err,
	    errlen))
		goto err2;

	/* What it is, and on which legal basis it is sent. */
	if ((v = json_object_get(root, "schema")) == NULL) {
		fail(err, errlen, "draft: missing required key 'schema'");
		goto err2;
	}
	if ((s = string_value(v)) == NULL || strcmp(s, REFX_SCHEMA_ID) != 0) {
		fail(err, errlen, "schema: must be \"%s\"", REFX_SCHEMA_ID);
		goto err2;
	}
	if ((v = json_object_get(root, "basis")) != NULL) {
		if ((s = string_value(v)) != NULL &&
		    strcmp(s, "report-of-concern") == 0)
			d->d_concern = 1;
		else if (s == NULL || strcmp(s, "consent") != 0) {
			fail(err, errlen, "basis: must be \"consent\" or "
			    "\"report-of-concern\"");
			goto err2;
		}
	}

	if (parse_recipients(d, json_object_get(root, "recipients"), err,
	    errlen) ||
	    parse_fields(d, json_object_get(root, "fields"), err, errlen) ||
	    parse_attachments(d, json_object_get(root, "attachments"),
	    basedir, err, errlen))
		goto err2;
	json_decref(root);
	return (d);

err2:
	json_decref(root);
err1:
	refx_draft_free(d);
err0:
	return (NULL);
}

/**
 * refx_draft_load(path, err, errlen): Read and validate the draft file
 * ${path} (attachment paths are relative to its directory).  On success
 * return a draft (free with refx_draft_free).  On failure return NULL
 * with a message naming the field in ${err}, e.g.
 * "fields.identity.personnummer: invalid check digit".
 */
struct refx_draft *
refx_draft_load(const char *path, char *err, size_t errlen)
{
	struct refx_draft *d;
	uint8_t *data;
	char dir[PATH_MAX];
	size_t len;

	if (path == NULL || strlen(path) >= sizeof(dir)) {
		fail(err, errlen, "draft: invalid path");
		goto err0;
	}
	if (refx_file_read(path, REFX_DRAFT_MAX, &data, &len)) {
		if (errno == EFBIG)
			fail(err, errlen, "draft: larger than %d bytes",
			    REFX_DRAFT_MAX);
		else
			fail(err, errlen, "draft: cannot read: %s",
			    strerror(errno));
		goto err0;
	}
	memcpy(dir, path, strlen(path) + 1);
	d = refx_draft_parse(data, len, dirname(dir), err, errlen);
	sodium_memzero(data, len);
	free(data);
	return (d);

err0:
	return (NULL);
}

/** refx_draft_free(d): Wipe and free ${d}; NULL is a no-op. */
void
refx_draft_free(struct refx_draft *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->d_nfields; i++) {
		if (d->d_fields[i].f_value == NULL)
			continue;
		sodium_memzero(d->d_fields[i].f_value, d->d_fields[i].f_len);
		free(d->d_fields[i].f_value);
	}
	sodium_memzero(d, sizeof(*d));
	free(d);
}
