#include <stdio.h>
#include <string.h>

#include "refx/identity.h"

static const char *const kinds[REFX_KIND_COUNT] = {
	[REFX_KIND_SCHOOL] = "school",
	[REFX_KIND_IFO] = "ifo",
	[REFX_KIND_BUP] = "bup",
	[REFX_KIND_PRIMARY_CARE] = "primary-care",
	[REFX_KIND_FORUM] = "forum",
	[REFX_KIND_SUPERVISOR] = "supervisor",
};

static const char *const roles[REFX_ROLE_COUNT] = {
	[REFX_ROLE_SUBMITTER] = "submitter",
	[REFX_ROLE_CASEWORKER] = "caseworker",
	[REFX_ROLE_AUDITOR] = "auditor",
	[REFX_ROLE_ADMIN] = "admin",
};

/* Find ${s} in ${names}; return its index or -1. */
static int
lookup(const char *s, const char *const *names, int n)
{
	int i;

	if (s == NULL)
		return (-1);
	for (i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (i);
	return (-1);
}

/** refx_kind_parse(s, kind): Parse a kind name.  Return 0 or -1. */
int
refx_kind_parse(const char *s, enum refx_kind *kind)
{
	int i;

	if ((i = lookup(s, kinds, REFX_KIND_COUNT)) < 0)
		return (-1);
	*kind = (enum refx_kind)i;
	return (0);
}

/** refx_kind_name(kind): Return the name of ${kind}, or "?" if invalid. */
const char *
refx_kind_name(enum refx_kind kind)
{

	if ((unsigned)kind >= REFX_KIND_COUNT)
		return ("?");
	return (kinds[kind]);
}

/** refx_role_parse(s, role): Parse a role name.  Return 0 or -1. */
int
refx_role_parse(const char *s, enum refx_role *role)
{
	int i;

	if ((i = lookup(s, roles, REFX_ROLE_COUNT)) < 0)
		return (-1);
	*role = (enum refx_role)i;
	return (0);
}

/** refx_role_name(role): Return the name of ${role}, or "?" if invalid. */
const char *
refx_role_name(enum refx_role role)
{

	if ((unsigned)role >= REFX_ROLE_COUNT)
		return ("?");
	return (roles[role]);
}

static int
is_lower_alnum(char c)
{

	return ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
}

/**
 * refx_agency_id_valid(s): Return 1 if ${s} is 1-63 of [a-z0-9-], not
 * starting or ending with '-', else 0.
 */
int
refx_agency_id_valid(const char *s)
{
	size_t i, n;

	if (s == NULL || (n = strlen(s)) == 0 || n > REFX_AGENCY_ID_MAX)
		return (0);
	for (i = 0; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return (0);
	return (s[0] != '-' && s[n - 1] != '-');
}

/**
 * refx_person_id_valid(s): Return 1 if ${s} is 1-64 of [a-z0-9._-]
 * starting with a letter or digit, else 0.
 */
int
refx_person_id_valid(const char *s)
{
	size_t i, n;

	if (s == NULL || (n = strlen(s)) == 0 || n > REFX_PERSON_ID_MAX)
		return (0);
	if (!is_lower_alnum(s[0]))
		return (0);
	for (i = 1; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '.' && s[i] != '-' &&
		    s[i] != '_')
			return (0);
	return (1);
}

/**
 * refx_utf8_decode(p, n, cp): Decode one UTF-8 sequence at ${p} (at most
 * ${n} > 0 bytes).  Return its length and the code point in ${cp}, or 0
 * if malformed (overlong, surrogate, beyond U+10FFFF, truncated).
 */
size_t
refx_utf8_decode(const unsigned char *p, size_t n, unsigned long *cp)
{
	size_t len, i;
	unsigned long c, min;

	if (p[0] < 0x80) {
		*cp = p[0];
		return (1);
	} else if ((p[0] & 0xe0) == 0xc0) {
		len = 2; c = p[0] & 0x1f; min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3; c = p[0] & 0x0f; min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4; c = p[0] & 0x07; min = 0x10000;
	} else
		return (0);
	if (len > n)
		return (0);
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (0);
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return (0);
	*cp = c;
	return (len);
}

/**
 * refx_char_forbidden(cp): Return 1 for code points that forge lines or
 * reorder text on a terminal or in a log: C0 and C1 controls, DEL, line
 * separators, bidirectional controls and marks, the BOM.
 */
int
refx_char_forbidden(unsigned long c)
{

	return (c < 0x20 || (c >= 0x7f && c <= 0x9f) ||
	    c == 0x2028 || c == 0x2029 ||		/* line separators */
	    (c >= 0x202a && c <= 0x202e) ||		/* bidi embeddings */
	    (c >= 0x2066 && c <= 0x2069) ||		/* bidi isolates */
	    c == 0x200e || c == 0x200f || c == 0xfeff);
}

/**
 * refx_name_valid(s): Return 1 if ${s} is 1-128 bytes of well-formed
 * UTF-8 with no control, line-separator or bidirectional-override
 * characters (they forge log lines and terminal output), else 0.
 */
int
refx_name_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, k;
	unsigned long cp;

	if (s == NULL || (n = strlen(s)) == 0 || n > REFX_NAME_MAX)
		return (0);
	while (n > 0) {
		if ((k = refx_utf8_decode(p, n, &cp)) == 0 || refx_char_forbidden(cp))
			return (0);
		p += k;
		n -= k;
	}
	/* No leading or trailing blanks: they make look-alike names. */
	return (s[0] != ' ' && s[strlen(s) - 1] != ' ');
}

/* Fold the Latin letters common in Swedish names to ASCII, or 0. */
static char
fold(unsigned long cp)
{
	static const struct {
		unsigned long cp;
		char c;
	} map[] = {
		{ 0xe5, 'a' }, { 0xc5, 'a' }, { 0xe4, 'a' }, { 0xc4, 'a' },
		{ 0xe1, 'a' }, { 0xe0, 'a' }, { 0xf6, 'o' }, { 0xd6, 'o' },
		{ 0xf8, 'o' }, { 0xd8, 'o' }, { 0xe9, 'e' }, { 0xc9, 'e' },
		{ 0xe8, 'e' }, { 0xfc, 'u' }, { 0xdc, 'u' }, { 0xe6, 'a' },
	};
	size_t i;

	if (cp < 0x80) {
		if (cp >= 'A' && cp <= 'Z')
			return ((char)(cp - 'A' + 'a'));
		if (is_lower_alnum((char)cp))
			return ((char)cp);
		if (cp == ' ' || cp == '.' || cp == '-')
			return ('.');
		return (0);
	}
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].cp == cp)
			return (map[i].c);
	return (0);
}

/**
 * refx_person_id_from_name(name, out, outlen): Derive a person id from a
 * display name ("Åsa Öberg" -> "asa.oberg").  Return 0, or -1 if no
 * valid id results.
 */
int
refx_person_id_from_name(const char *name, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t n = strlen(name), k, o = 0;
	unsigned long cp;
	char c;

	if (outlen == 0)
		return (-1);
	while (n > 0) {
		if ((k = refx_utf8_decode(p, n, &cp)) == 0)
			return (-1);
		p += k;
		n -= k;
		if ((c = fold(cp)) == 0)
			continue;
		/* Collapse separators and never start with one. */
		if (c == '.' && (o == 0 || out[o - 1] == '.'))
			continue;
		if (o + 1 >= outlen || o >= REFX_PERSON_ID_MAX)
			break;
		out[o++] = c;
	}
	while (o > 0 && out[o - 1] == '.')
		o--;
	out[o] = '\0';
	return (refx_person_id_valid(out) ? 0 : -1);
}

/* Copy a validated string; the caller checked the length. */
static void
copy(char *dst, size_t dstlen, const char *src)
{

	snprintf(dst, dstlen, "%s", src);
}

/**
 * refx_identity_from_subject(o, kind, ou, uid, cn, id, why): Validate the
 * subject attributes of a person certificate and fill the name fields of
 * ${id} (fingerprint and serial are left alone).  On failure return
 * REFX_EINVAL and point ${why} at a static reason.
 */
enum refx_err
refx_identity_from_subject(const char *o, const char *kind, const char *ou,
    const char *uid, const char *cn, struct refx_identity *id,
    const char **why)
{

	if (!refx_agency_id_valid(o)) {
		*why = "subject O (agency id) missing or invalid";
		return (REFX_EINVAL);
	}
	if (refx_kind_parse(kind, &id->id_kind)) {
		*why = "subject businessCategory (agency kind) missing or invalid";
		return (REFX_EINVAL);
	}
	if (refx_role_parse(ou, &id->id_role)) {
		*why = "subject OU (role) missing or invalid";
		return (REFX_EINVAL);
	}
	if (!refx_person_id_valid(uid)) {
		*why = "subject UID (person id) missing or invalid";
		return (REFX_EINVAL);
	}
	if (!refx_name_valid(cn)) {
		*why = "subject CN (name) missing or invalid";
		return (REFX_EINVAL);
	}
	copy(id->id_agency, sizeof(id->id_agency), o);
	copy(id->id_person, sizeof(id->id_person), uid);
	copy(id->id_name, sizeof(id->id_name), cn);
	return (REFX_OK);
}

/**
 * refx_quotable(s): ${s} itself if it is 1-40 of [A-Za-z0-9._-] and so
 * safe to quote in an error message that may reach a terminal, a log or
 * a JSON answer (never cut inside a character); else "(unprintable)".
 */
const char *
refx_quotable(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > REFX_QUOTE_MAX)
		return ("(unprintable)");
	for (i = 0; i < n; i++)
		if (!(is_lower_alnum(s[i]) || (s[i] >= 'A' && s[i] <= 'Z') ||
		    s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return ("(unprintable)");
	return (s);
}

/** refx_ascii_scrub(s): Replace every byte outside printable ASCII with '?'. */
void
refx_ascii_scrub(char *s)
{

	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}
