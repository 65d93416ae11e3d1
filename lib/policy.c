#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "refx/identity.h"
#include "refx/policy.h"

#define POLICY_DOCUMENT	"refx-policy"
#define VERSION_MAX	64	/* bytes of "version" */
#define REF_MAX		1024	/* bytes of a legal reference */

/* One cell of the matrix: the rule and its legal reference. */
struct cell {
	enum refx_rule	 c_rule;
	char		*c_ref;
};

/* What a unit of one kind may answer the school (docs/workflow.md). */
struct answer {
	char		*a_outcomes[REFX_OUTCOMES_MAX];
	size_t		 a_noutcomes;
	enum refx_rule	 a_message;	/* never or consent */
	char		*a_ref;
};

/* A retention rule: years after the last entry, or kept (0). */
struct retention {
	unsigned	 r_years;
	char		*r_ref;
};

#define FOLLOW_UP_DEFAULT	12	/* months */
#define FOLLOW_UP_MAX		120
#define RETENTION_MAX_YEARS	200

struct refx_policy {
	char		*p_version;
	uint8_t		 p_hash[REFX_HASH_LEN];
	struct cell	 p_cells[REFX_CLASS_COUNT][REFX_KIND_COUNT];
	refx_classes	 p_concern_classes;	/* report of concern: what */
	unsigned	 p_concern_kinds;	/* ... and to which kinds */
	char		*p_concern_ref;
	struct answer	 p_answers[REFX_KIND_COUNT];
	unsigned	 p_follow_up_months;
	char		*p_follow_up_ref;
	struct retention p_retention[REFX_KIND_COUNT][REFX_RECORD_COUNT];
};

static const char *const records[REFX_RECORD_COUNT] = {
	[REFX_RECORD_REFERRAL] = "referral",
	[REFX_RECORD_CONSENT] = "consent",
};

static const char *const rules[] = {
	[REFX_RULE_NEVER] = "never",
	[REFX_RULE_CONSENT] = "consent",
	[REFX_RULE_ITEMISED] = "itemised",
	[REFX_RULE_CONCERN] = "concern",
};
#define NRULES	(sizeof(rules) / sizeof(rules[0]))

static const char *const bases[] = {
	[REFX_BASIS_CONSENT] = "consent",
	[REFX_BASIS_CONCERN] = "report-of-concern",
};
#define NBASES	(sizeof(bases) / sizeof(bases[0]))

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

/*
 * A legal reference or other text for people: a non-empty string of at
 * most ${max} bytes of UTF-8 without control characters.  Return a copy
 * (caller frees), or NULL with a message.
 */
static char *
text_dup(json_t *v, size_t max, const char *path, char *err, size_t errlen)
{
	char *s;

	if (v == NULL) {
		fail(err, errlen, "%s: missing", path);
		return (NULL);
	}
	if (!json_is_string(v) || json_string_length(v) == 0) {
		fail(err, errlen, "%s: must be a non-empty string", path);
		return (NULL);
	}
	if (json_string_length(v) > max) {
		fail(err, errlen, "%s: longer than %zu bytes", path, max);
		return (NULL);
	}
	if (!refx_utf8_valid(json_string_value(v), json_string_length(v), 0)) {
		fail(err, errlen, "%s: contains a control character", path);
		return (NULL);
	}
	if ((s = strdup(json_string_value(v))) == NULL)
		fail(err, errlen, "%s: out of memory", path);
	return (s);
}

/* One cell: {"rule": ..., "ref": ...}. */
static int
parse_cell(struct cell *c, json_t *v, const char *path, char *err,
    size_t errlen)
{
	static const char *const keys[] = { "rule", "ref" };
	char sub[160];
	const char *s;
	size_t i;
	int n;

	if (!json_is_object(v))
		return (fail(err, errlen, "%s: must be an object", path));
	if (known_keys(v, keys, sizeof(keys) / sizeof(keys[0]), path, err,
	    errlen))
		return (-1);
	if (json_object_get(v, "rule") == NULL)
		return (fail(err, errlen, "%s.rule: missing", path));
	s = json_string_value(json_object_get(v, "rule"));
	for (i = 0; s != NULL && i < NRULES; i++)
		if (strcmp(s, rules[i]) == 0)
			break;
	if (s == NULL || i == NRULES)
		return (fail(err, errlen, "%s.rule: unknown rule '%s' (never, "
		    "consent, itemised or concern)", path,
		    s != NULL ? refx_quotable(s) : "(not a string)"));
	c->c_rule = (enum refx_rule)i;
	n = snprintf(sub, sizeof(sub), "%s.ref", path);
	if (n < 0 || (size_t)n >= sizeof(sub))
		return (fail(err, errlen, "%s: path too long", path));
	if ((c->c_ref = text_dup(json_object_get(v, "ref"), REF_MAX, sub, err,
	    errlen)) == NULL)
		return (-1);
	return (0);
}

/* "rules": class -> kind -> cell, complete. */
static int
parse_rules(struct refx_policy *p, json_t *v, char *err, size_t errlen)
{
	json_t *row, *cv;
	const char *ckey, *kkey;
	char path[160];
	enum refx_class c;
	enum refx_kind k;
	int i, j, n;

	if (v == NULL)
		return (fail(err, errlen, "rules: missing"));
	if (!json_is_object(v))
		return (fail(err, errlen, "rules: must be an object"));
	json_object_foreach(v, ckey, row) {
		if (refx_class_parse(ckey, &c))
			return (fail(err, errlen, "rules.%s: unknown class",
			    refx_quotable(ckey)));
		if (!json_is_object(row))
			return (fail(err, errlen, "rules.%s: must be an object",
			    ckey));
		json_object_foreach(row, kkey, cv) {
			if (refx_kind_parse(kkey, &k))
				return (fail(err, errlen, "rules.%s.%s: "
				    "unknown kind", ckey, refx_quotable(kkey)));
			n = snprintf(path, sizeof(path), "rules.%s.%s", ckey,
			    kkey);
			if (n < 0 || (size_t)n >= sizeof(path))
				return (fail(err, errlen, "rules: path too "
				    "long"));
			if (parse_cell(&p->p_cells[c][k], cv, path, err,
			    errlen))
				return (-1);
		}
	}

	/* Every class x every kind: a missing cell is an error, not "never". */
	for (i = 0; i < REFX_CLASS_COUNT; i++) {
		if (json_object_get(v, refx_class_name((enum refx_class)i)) ==
		    NULL)
			return (fail(err, errlen, "rules.%s: missing",
			    refx_class_name((enum refx_class)i)));
		for (j = 0; j < REFX_KIND_COUNT; j++)
			if (p->p_cells[i][j].c_ref == NULL)
				return (fail(err, errlen,
				    "rules.%s.%s: missing",
				    refx_class_name((enum refx_class)i),
				    refx_kind_name((enum refx_kind)j)));
	}
	return (0);
}

/* "report_of_concern": {"to_kinds": [...], "classes": [...], "ref"}. */
static int
parse_concern(struct refx_policy *p, json_t *v, char *err, size_t errlen)
{
	static const char *const keys[] = { "to_kinds", "classes", "ref" };
	json_t *a;
	const char *s;
	enum refx_class c;
	enum refx_kind k;
	size_t i;

	if (v == NULL)
		return (fail(err, errlen, "report_of_concern: missing"));
	if (!json_is_object(v))
		return (fail(err, errlen, "report_of_concern: must be an "
		    "object"));
	if (known_keys(v, keys, sizeof(keys) / sizeof(keys[0]),
	    "report_of_concern", err, errlen))
		return (-1);

	/* To which kinds. */
	if (!json_is_array(a = json_object_get(v, "to_kinds")))
		return (fail(err, errlen, "report_of_concern.to_kinds: must "
		    "be an array"));
	for (i = 0; i < json_array_size(a); i++) {
		s = json_string_value(json_array_get(a, i));
		if (refx_kind_parse(s, &k))
			return (fail(err, errlen, "report_of_concern.to_kinds"
			    "[%zu]: unknown kind", i));
		if (p->p_concern_kinds & (1u << k))
			return (fail(err, errlen, "report_of_concern.to_kinds"
			    "[%zu]: duplicate", i));
		p->p_concern_kinds |= 1u << k;
	}

	/* Which classes. */
	if (!json_is_array(a = json_object_get(v, "classes")))
		return (fail(err, errlen, "report_of_concern.classes: must "
		    "be an array"));
	for (i = 0; i < json_array_size(a); i++) {
		s = json_string_value(json_array_get(a, i));
		if (refx_class_parse(s, &c))
			return (fail(err, errlen, "report_of_concern.classes"
			    "[%zu]: unknown class", i));
		if (p->p_concern_classes & REFX_CLASS_BIT(c))
			return (fail(err, errlen, "report_of_concern.classes"
			    "[%zu]: duplicate", i));
		p->p_concern_classes |= REFX_CLASS_BIT(c);
	}

	if ((p->p_concern_ref = text_dup(json_object_get(v, "ref"), REF_MAX,
	    "report_of_concern.ref", err, errlen)) == NULL)
		return (-1);
	return (0);
}

/* An outcome code: 1-40 of [a-z0-9-]; it is shown to people and logged. */
static int
outcome_code_ok(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (n >= REFX_OUTCOME_MAX || !((s[n] >= 'a' && s[n] <= 'z') ||
		    (s[n] >= '0' && s[n] <= '9') || s[n] == '-'))
			return (0);
	return (n > 0);
}

/* One kind's answer: {"outcomes": [...], "message": ..., "ref": ...}. */
static int
parse_answer(struct answer *a, json_t *v, const char *path, char *err,
    size_t errlen)
{
	static const char *const keys[] = { "outcomes", "message", "ref" };
	json_t *arr;
	const char *s;
	size_t i, j;

	if (!json_is_object(v))
		return (fail(err, errlen, "%s: must be an object", path));
	if (known_keys(v, keys, sizeof(keys) / sizeof(keys[0]), path, err,
	    errlen))
		return (-1);
	arr = json_object_get(v, "outcomes");
	if (!json_is_array(arr) || json_array_size(arr) > REFX_OUTCOMES_MAX)
		return (fail(err, errlen, "%s.outcomes: must be an array of at "
		    "most %d codes", path, REFX_OUTCOMES_MAX));
	for (i = 0; i < json_array_size(arr); i++) {
		s = json_string_value(json_array_get(arr, i));
		if (s == NULL || !outcome_code_ok(s))
			return (fail(err, errlen, "%s.outcomes[%zu]: must be "
			    "1-%d of [a-z0-9-]", path, i, REFX_OUTCOME_MAX));
		for (j = 0; j < a->a_noutcomes; j++)
			if (strcmp(a->a_outcomes[j], s) == 0)
				return (fail(err, errlen, "%s.outcomes[%zu]: "
				    "duplicate", path, i));
		if ((a->a_outcomes[a->a_noutcomes] = strdup(s)) == NULL)
			return (fail(err, errlen, "%s: out of memory", path));
		a->a_noutcomes++;
	}
	s = json_string_value(json_object_get(v, "message"));
	if (s != NULL && strcmp(s, "never") == 0)
		a->a_message = REFX_RULE_NEVER;
	else if (s != NULL && strcmp(s, "consent") == 0)
		a->a_message = REFX_RULE_CONSENT;
	else
		return (fail(err, errlen, "%s.message: must be \"never\" or "
		    "\"consent\"", path));
	if ((a->a_ref = text_dup(json_object_get(v, "ref"), REF_MAX, path,
	    err, errlen)) == NULL)
		return (-1);
	return (0);
}

/*
 * "case_flow": {"follow_up_months": N, "follow_up_ref": ...,
 * "answers": {KIND: answer, ...}}; every kind must be answered for.
 */
static int
parse_case_flow(struct refx_policy *p, json_t *v, char *err, size_t errlen)
{
	static const char *const keys[] = { "follow_up_months",
	    "follow_up_ref", "answers" };
	json_t *answers, *x;
	json_int_t months;
	char path[64];
	int k;

	p->p_follow_up_months = FOLLOW_UP_DEFAULT;
	for (k = 0; k < REFX_KIND_COUNT; k++)
		p->p_answers[k].a_message = REFX_RULE_NEVER;
	if (v == NULL)
		return (0);
	if (!json_is_object(v))
		return (fail(err, errlen, "case_flow: must be an object"));
	if (known_keys(v, keys, sizeof(keys) / sizeof(keys[0]), "case_flow",
	    err, errlen))
		return (-1);
	x = json_object_get(v, "follow_up_months");
	months = json_integer_value(x);
	if (!json_is_integer(x) || months < 1 || months > FOLLOW_UP_MAX)
		return (fail(err, errlen, "case_flow.follow_up_months: must be "
		    "an integer from 1 to %d", FOLLOW_UP_MAX));
	p->p_follow_up_months = (unsigned)months;
	if ((p->p_follow_up_ref = text_dup(json_object_get(v,
	    "follow_up_ref"), REF_MAX, "case_flow.follow_up_ref", err,
	    errlen)) == NULL)
		return (-1);
	answers = json_object_get(v, "answers");
	if (!json_is_object(answers))
		return (fail(err, errlen, "case_flow.answers: must be an "
		    "object"));
	for (k = 0; k < REFX_KIND_COUNT; k++) {
		const char *name = refx_kind_name((enum refx_kind)k);

		snprintf(path, sizeof(path), "case_flow.answers.%s", name);
		if ((x = json_object_get(answers, name)) == NULL)
			return (fail(err, errlen, "%s: missing", path));
		if (parse_answer(&p->p_answers[k], x, path, err, errlen))
			return (-1);
	}
	if (json_object_size(answers) != REFX_KIND_COUNT)
		return (fail(err, errlen, "case_flow.answers: unknown kind"));
	return (0);
}

/*
 * "retention": {KIND: {RECORD: {"years": N, "ref": ...} or
 * {"keep": true, "ref": ...}}}.  Kinds and records left out are kept.
 */
static int
parse_retention(struct refx_policy *p, json_t *v, char *err, size_t errlen)
{
	static const char *const rkeys[] = { "years", "keep", "ref" };
	const char *kname, *rname;
	json_t *kv, *rv, *x;
	enum refx_kind kind;
	json_int_t years;
	char path[96];
	int r;

	if (v == NULL)
		return (0);
	if (!json_is_object(v))
		return (fail(err, errlen, "retention: must be an object"));
	json_object_foreach(v, kname, kv) {
		if (refx_kind_parse(kname, &kind))
			return (fail(err, errlen, "retention.%s: unknown kind",
			    refx_quotable(kname)));
		if (!json_is_object(kv))
			return (fail(err, errlen, "retention.%s: must be an "
			    "object", kname));
		json_object_foreach(kv, rname, rv) {
			for (r = 0; r < REFX_RECORD_COUNT; r++)
				if (strcmp(rname, records[r]) == 0)
					break;
			if (r == REFX_RECORD_COUNT)
				return (fail(err, errlen, "retention.%s.%s: "
				    "unknown record type (referral, consent)",
				    kname, refx_quotable(rname)));
			snprintf(path, sizeof(path), "retention.%s.%s", kname,
			    rname);
			if (!json_is_object(rv))
				return (fail(err, errlen, "%s: must be an "
				    "object", path));
			if (known_keys(rv, rkeys, 3, path, err, errlen))
				return (-1);
			x = json_object_get(rv, "years");
			years = json_integer_value(x);
			if (json_is_true(json_object_get(rv, "keep")) &&
			    x == NULL)
				years = 0;
			else if (!json_is_integer(x) || years < 1 ||
			    years > RETENTION_MAX_YEARS ||
			    json_object_get(rv, "keep") != NULL)
				return (fail(err, errlen, "%s: needs \"years\" "
				    "(1 to %d) or \"keep\": true", path,
				    RETENTION_MAX_YEARS));
			p->p_retention[kind][r].r_years = (unsigned)years;
			if ((p->p_retention[kind][r].r_ref = text_dup(
			    json_object_get(rv, "ref"), REF_MAX, path, err,
			    errlen)) == NULL)
				return (-1);
		}
	}
	return (0);
}

/* "version": 1-64 of [A-Za-z0-9._-]. */
static int
parse_version(struct refx_policy *p, json_t *v, char *err, size_t errlen)
{
	const char *s;

	if (v == NULL)
		return (fail(err, errlen, "version: missing"));
	s = json_string_value(v);
	if (s == NULL || strlen(s) > VERSION_MAX ||
	    strcmp(refx_quotable(s), s) != 0)
		return (fail(err, errlen, "version: must be 1-%d of "
		    "[A-Za-z0-9._-]", VERSION_MAX));
	if ((p->p_version = strdup(s)) == NULL)
		return (fail(err, errlen, "version: out of memory"));
	return (0);
}

/**
 * refx_policy_parse(json, len, err, errlen): Parse and check a policy
 * document: every class x every kind must have a rule and a non-empty
 * legal reference; unknown keys are errors.  Return it (free with
 * refx_policy_free) or NULL with a message naming the offending key.
 */
struct refx_policy *
refx_policy_parse(const uint8_t *json, size_t len, char *err, size_t errlen)
{
	static const char *const keys[] = {
		"document", "version", "description", "rules",
		"report_of_concern", "case_flow", "retention"
	};
	struct refx_policy *p;
	json_t *root, *v;
	json_error_t je;
	const char *s;
	char *desc;

	if (json == NULL) {
		fail(err, errlen, "policy: no input");
		goto err0;
	}
	if (len > REFX_POLICY_MAX) {
		fail(err, errlen, "policy: larger than %d bytes",
		    REFX_POLICY_MAX);
		goto err0;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		fail(err, errlen, "policy: out of memory");
		goto err0;
	}
	if ((root = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES,
	    &je)) == NULL) {
		refx_ascii_scrub(je.text);
		fail(err, errlen, "policy: invalid JSON at line %d column %d: "
		    "%s", je.line, je.column, je.text);
		goto err1;
	}
	if (!json_is_object(root)) {
		fail(err, errlen, "policy: must be a JSON object");
		goto err2;
	}
	if (known_keys(root, keys, sizeof(keys) / sizeof(keys[0]), "", err,
	    errlen))
		goto err2;
	s = json_string_value(json_object_get(root, "document"));
	if (s == NULL || strcmp(s, POLICY_DOCUMENT) != 0) {
		fail(err, errlen, "document: must be \"%s\"", POLICY_DOCUMENT);
		goto err2;
	}
	if ((v = json_object_get(root, "description")) != NULL) {
		if ((desc = text_dup(v, REFX_POLICY_MAX, "description", err,
		    errlen)) == NULL)
			goto err2;
		free(desc);
	}
	if (parse_version(p, json_object_get(root, "version"), err, errlen) ||
	    parse_rules(p, json_object_get(root, "rules"), err, errlen) ||
	    parse_concern(p, json_object_get(root, "report_of_concern"), err,
	    errlen) ||
	    parse_case_flow(p, json_object_get(root, "case_flow"), err,
	    errlen) ||
	    parse_retention(p, json_object_get(root, "retention"), err,
	    errlen))
		goto err2;

	/* What the policy is, exactly: clients compare this hash. */
	crypto_hash_sha256(p->p_hash, json, len);
	json_decref(root);
	return (p);

err2:
	json_decref(root);
err1:
	refx_policy_free(p);
err0:
	return (NULL);
}

/** refx_policy_free(p): Free ${p}; NULL is a no-op. */
void
refx_policy_free(struct refx_policy *p)
{
	int i, j;

	if (p == NULL)
		return;
	for (i = 0; i < REFX_CLASS_COUNT; i++)
		for (j = 0; j < REFX_KIND_COUNT; j++)
			free(p->p_cells[i][j].c_ref);
	for (i = 0; i < REFX_KIND_COUNT; i++) {
		for (j = 0; j < (int)p->p_answers[i].a_noutcomes; j++)
			free(p->p_answers[i].a_outcomes[j]);
		free(p->p_answers[i].a_ref);
		for (j = 0; j < REFX_RECORD_COUNT; j++)
			free(p->p_retention[i][j].r_ref);
	}
	free(p->p_follow_up_ref);
	free(p->p_concern_ref);
	free(p->p_version);
	free(p);
}

/** refx_policy_version(p): The document's "version" string. */
const char *
refx_policy_version(const struct refx_policy *p)
{

	return (p->p_version);
}

/** refx_policy_hash(p): SHA-256 of the exact bytes parsed. */
const uint8_t *
refx_policy_hash(const struct refx_policy *p)
{

	return (p->p_hash);
}

/* Return 1 if ${kind} and ${cls} are in range. */
static int
in_range(enum refx_kind kind, enum refx_class cls)
{

	return ((unsigned)kind < REFX_KIND_COUNT &&
	    (unsigned)cls < REFX_CLASS_COUNT);
}

/** refx_policy_rule(p, kind, cls, ref): The cell, and its legal reference. */
enum refx_rule
refx_policy_rule(const struct refx_policy *p, enum refx_kind kind,
    enum refx_class cls, const char **ref)
{

	if (!in_range(kind, cls)) {
		if (ref != NULL)
			*ref = "";
		return (REFX_RULE_NEVER);
	}
	if (ref != NULL)
		*ref = p->p_cells[cls][kind].c_ref;
	return (p->p_cells[cls][kind].c_rule);
}

/**
 * refx_policy_concern(p, kind, cls, ref): Return 1 if a report of concern
 * may carry class ${cls} to a unit of kind ${kind}, else 0; ${ref} gets
 * the legal reference of the report-of-concern rule.
 */
int
refx_policy_concern(const struct refx_policy *p, enum refx_kind kind,
    enum refx_class cls, const char **ref)
{

	if (ref != NULL)
		*ref = p->p_concern_ref;
	if (!in_range(kind, cls))
		return (0);
	return ((p->p_concern_kinds & (1u << kind)) != 0 &&
	    (p->p_concern_classes & REFX_CLASS_BIT(cls)) != 0);
}

/**
 * refx_policy_allows(p, basis, kind, cls, consented, itemised, why,
 * whylen): May a field of class ${cls} go to a unit of kind ${kind} under
 * ${basis}?  ${consented} and ${itemised} say what the consent covers for
 * that recipient (ignored for a report of concern).  Return 1, or 0 with
 * a sentence naming the class, the rule and its legal reference in ${why}.
 */
int
refx_policy_allows(const struct refx_policy *p, enum refx_basis basis,
    enum refx_kind kind, enum refx_class cls, int consented, int itemised,
    char *why, size_t whylen)
{
	const struct cell *c;
	const char *cn, *kn;

	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (p == NULL || !in_range(kind, cls)) {
		fail(why, whylen, "unknown class or recipient kind");
		return (0);
	}
	cn = refx_class_name(cls);
	kn = refx_kind_name(kind);

	/* A report of concern: its own list, whatever the consent says. */
	if (basis == REFX_BASIS_CONCERN) {
		if (refx_policy_concern(p, kind, cls, NULL))
			return (1);
		fail(why, whylen, "class '%s' may not go to %s in a report of "
		    "concern (%s)", cn, kn, p->p_concern_ref);
		return (0);
	}
	if (basis != REFX_BASIS_CONSENT) {
		fail(why, whylen, "unknown legal basis");
		return (0);
	}

	/* Consent: the cell decides; itemised consent is consent too. */
	c = &p->p_cells[cls][kind];
	switch (c->c_rule) {
	case REFX_RULE_CONSENT:
		if (consented || itemised)
			return (1);
		fail(why, whylen, "class '%s' may go to %s only with consent "
		    "(%s)", cn, kn, c->c_ref);
		return (0);
	case REFX_RULE_ITEMISED:
		if (itemised)
			return (1);
		fail(why, whylen, "class '%s' may go to %s only with itemised "
		    "consent (%s)", cn, kn, c->c_ref);
		return (0);
	case REFX_RULE_CONCERN:
		fail(why, whylen, "class '%s' may go to %s only in a report of "
		    "concern (%s)", cn, kn, c->c_ref);
		return (0);
	case REFX_RULE_NEVER:
		break;
	}
	fail(why, whylen, "class '%s' may never go to %s (%s)", cn, kn,
	    c->c_ref);
	return (0);
}

/**
 * refx_policy_allowed_set(p, basis, kind, consented, itemised): The set of
 * classes allowed to a recipient of ${kind} whose consent covers the
 * classes ${consented}, of which ${itemised} were itemised.
 */
refx_classes
refx_policy_allowed_set(const struct refx_policy *p, enum refx_basis basis,
    enum refx_kind kind, refx_classes consented, refx_classes itemised)
{
	refx_classes set = 0;
	int i;

	for (i = 0; i < REFX_CLASS_COUNT; i++)
		if (refx_policy_allows(p, basis, kind, (enum refx_class)i,
		    (consented & REFX_CLASS_BIT(i)) != 0,
		    (itemised & REFX_CLASS_BIT(i)) != 0, NULL, 0))
			set |= REFX_CLASS_BIT(i);
	return (set);
}

/** refx_rule_name(r): "never", "consent", "itemised", "concern". */
const char *
refx_rule_name(enum refx_rule r)
{

	if ((unsigned)r >= NRULES)
		return ("?");
	return (rules[r]);
}

/** refx_basis_name(b) / refx_basis_parse(s, b): "consent", "report-of-concern". */
const char *
refx_basis_name(enum refx_basis b)
{

	if ((unsigned)b >= NBASES)
		return ("?");
	return (bases[b]);
}

/** refx_basis_name(b) / refx_basis_parse(s, b): "consent", "report-of-concern". */
int
refx_basis_parse(const char *s, enum refx_basis *b)
{
	size_t i;

	if (s == NULL)
		return (-1);
	for (i = 0; i < NBASES; i++)
		if (strcmp(s, bases[i]) == 0) {
			*b = (enum refx_basis)i;
			return (0);
		}
	return (-1);
}

/** refx_policy_outcome_allowed(p, kind, code): 1 if listed, else 0. */
int
refx_policy_outcome_allowed(const struct refx_policy *p, enum refx_kind kind,
    const char *code)
{
	size_t i;

	if ((unsigned)kind >= REFX_KIND_COUNT || code == NULL)
		return (0);
	for (i = 0; i < p->p_answers[kind].a_noutcomes; i++)
		if (strcmp(p->p_answers[kind].a_outcomes[i], code) == 0)
			return (1);
	return (0);
}

/** refx_policy_outcomes(p, kind, n, ref): The kind's outcome codes. */
const char *const *
refx_policy_outcomes(const struct refx_policy *p, enum refx_kind kind,
    size_t *n, const char **ref)
{

	if ((unsigned)kind >= REFX_KIND_COUNT) {
		*n = 0;
		if (ref != NULL)
			*ref = NULL;
		return (NULL);
	}
	*n = p->p_answers[kind].a_noutcomes;
	if (ref != NULL)
		*ref = p->p_answers[kind].a_ref;
	return ((const char *const *)p->p_answers[kind].a_outcomes);
}

/** refx_policy_answer_message(p, kind): never or consent. */
enum refx_rule
refx_policy_answer_message(const struct refx_policy *p, enum refx_kind kind)
{

	if ((unsigned)kind >= REFX_KIND_COUNT)
		return (REFX_RULE_NEVER);
	return (p->p_answers[kind].a_message);
}

/** refx_policy_follow_up_months(p, ref): Months from advice to follow-up. */
unsigned
refx_policy_follow_up_months(const struct refx_policy *p, const char **ref)
{

	if (ref != NULL)
		*ref = p->p_follow_up_ref;
	return (p->p_follow_up_months);
}

/** refx_policy_retention(p, kind, record, years, ref): See policy.h. */
int
refx_policy_retention(const struct refx_policy *p, enum refx_kind kind,
    enum refx_record record, unsigned *years, const char **ref)
{

	*years = 0;
	if (ref != NULL)
		*ref = NULL;
	if ((unsigned)kind >= REFX_KIND_COUNT ||
	    (unsigned)record >= REFX_RECORD_COUNT)
		return (0);
	if (ref != NULL)
		*ref = p->p_retention[kind][record].r_ref;
	*years = p->p_retention[kind][record].r_years;
	return (*years > 0);
}

/** refx_record_name(r): "referral", "consent", or "?". */
const char *
refx_record_name(enum refx_record r)
{

	if ((unsigned)r >= REFX_RECORD_COUNT)
		return ("?");
	return (records[r]);
}
