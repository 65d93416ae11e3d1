#include <string.h>

#include "refx/audit.h"
#include "refx/identity.h"

static const char *const action_names[REFX_AUDIT_ACTION_COUNT] = {
	[REFX_AUDIT_OTHER] = "other",
	[REFX_AUDIT_WHOAMI] = "whoami",
	[REFX_AUDIT_HEALTH] = "health",
	[REFX_AUDIT_DIRECTORY] = "directory",
	[REFX_AUDIT_POLICY] = "policy",
	[REFX_AUDIT_CONSENT_RECORD] = "consent-record",
	[REFX_AUDIT_CONSENT_LIST] = "consent-list",
	[REFX_AUDIT_CONSENT_SHOW] = "consent-show",
	[REFX_AUDIT_CONSENT_WITHDRAW] = "consent-withdraw",
	[REFX_AUDIT_REFERRAL_SUBMIT] = "referral-submit",
	[REFX_AUDIT_REFERRAL_LIST] = "referral-list",
	[REFX_AUDIT_REFERRAL_PULL] = "referral-pull",
	[REFX_AUDIT_AUDIT_READ] = "audit-read",
	[REFX_AUDIT_TLS_REFUSED] = "tls-refused",
	[REFX_AUDIT_REQUEST_REFUSED] = "request-refused",
	[REFX_AUDIT_CONSENT_EXPIRED] = "consent-expired",
	[REFX_AUDIT_CASE_READ] = "case-read",
	[REFX_AUDIT_CASE_ACCEPT] = "case-accept",
	[REFX_AUDIT_CASE_DECLINE] = "case-decline",
	[REFX_AUDIT_CASE_ADVISE] = "case-advise",
	[REFX_AUDIT_CASE_FOLLOW_UP] = "case-follow-up",
	[REFX_AUDIT_CASE_CLOSE] = "case-close",
	[REFX_AUDIT_CASE_CANCEL] = "case-cancel",
	[REFX_AUDIT_PURGE] = "purge",
};

static const char *const outcome_names[] = { "allowed", "denied", "failed" };

/** refx_audit_action_name(a): "referral-pull", ... or "?". */
const char *
refx_audit_action_name(enum refx_audit_action a)
{

	if ((unsigned)a >= REFX_AUDIT_ACTION_COUNT)
		return ("?");
	return (action_names[a]);
}

/** refx_audit_action_parse(s, a): Parse an action name.  0 or -1. */
int
refx_audit_action_parse(const char *s, enum refx_audit_action *a)
{
	int i;

	for (i = 0; i < REFX_AUDIT_ACTION_COUNT; i++)
		if (strcmp(s, action_names[i]) == 0) {
			*a = (enum refx_audit_action)i;
			return (0);
		}
	return (-1);
}

/** refx_audit_outcome_name(o): "allowed", "denied", "failed" or "?". */
const char *
refx_audit_outcome_name(enum refx_audit_outcome o)
{

	if ((unsigned)o > REFX_AUDIT_FAILED)
		return ("?");
	return (outcome_names[o]);
}

/*
 * Is ${p} (${n} bytes) UTF-8 without forbidden characters?  Printable
 * ASCII, nearly every byte of an entry, is taken without decoding: the
 * check was half of verifying a long log offline.
 */
static int
text_ok(const unsigned char *p, size_t n)
{
	unsigned long cp;
	size_t i = 0, k;

	while (i < n) {
		if (p[i] >= 0x20 && p[i] < 0x7f) {
			i++;
			continue;
		}
		if ((k = refx_utf8_decode(p + i, n - i, &cp)) == 0 ||
		    refx_char_forbidden(cp))
			return (0);
		i += k;
	}
	return (1);
}

/* A bounded writer: every put checks room first. */
struct wr {
	uint8_t	*w_p;
	size_t	 w_len;
	size_t	 w_cap;
	int	 w_bad;
};

static void
put(struct wr *w, const void *p, size_t n)
{

	if (w->w_bad || n > w->w_cap - w->w_len) {
		w->w_bad = 1;
		return;
	}
	memcpy(w->w_p + w->w_len, p, n);
	w->w_len += n;
}

static void
put_uint(struct wr *w, uint64_t v, int bytes)
{
	uint8_t b[8];
	int i;

	for (i = bytes - 1; i >= 0; i--) {
		b[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
	put(w, b, (size_t)bytes);
}

/* Strings are checked as they are written: no control characters. */
static void
put_str(struct wr *w, const char *s)
{
	size_t n = strlen(s);

	if (n > REFX_AUDIT_STR_MAX || !text_ok((const unsigned char *)s, n)) {
		w->w_bad = 1;
		return;
	}
	put_uint(w, n, 2);
	put(w, s, n);
}

/** refx_audit_encode(e, out, outlen): Encode ${e}.  0 or -1. */
int
refx_audit_encode(const struct refx_audit_entry *e, uint8_t *out,
    size_t *outlen)
{
	struct wr w = { out, 0, REFX_AUDIT_ENTRY_MAX, 0 };
	uint8_t n = 0;
	int c;

	put(&w, REFX_AUDIT_NAMESPACE, sizeof(REFX_AUDIT_NAMESPACE));
	put_uint(&w, e->ae_index, 8);
	put_uint(&w, e->ae_time_ms, 8);
	put(&w, e->ae_event, sizeof(e->ae_event));
	put_uint(&w, (uint64_t)e->ae_action, 1);
	put_uint(&w, (uint64_t)e->ae_outcome, 1);
	put_uint(&w, e->ae_status, 2);
	put_str(&w, e->ae_actor_unit);
	put_uint(&w, e->ae_actor_kind & 0xff, 1);
	put_uint(&w, e->ae_actor_role & 0xff, 1);
	put_str(&w, e->ae_actor_person);
	put(&w, e->ae_actor_cert, sizeof(e->ae_actor_cert));
	put_str(&w, e->ae_object_type);
	put_str(&w, e->ae_object_id);
	put_str(&w, e->ae_other_unit);
	for (c = 0; c < REFX_CLASS_COUNT; c++)
		if (e->ae_classes & REFX_CLASS_BIT(c))
			n++;
	put_uint(&w, n, 1);
	for (c = 0; c < REFX_CLASS_COUNT; c++)
		if (e->ae_classes & REFX_CLASS_BIT(c))
			put_str(&w, refx_class_name((enum refx_class)c));
	put_str(&w, e->ae_basis);
	put_str(&w, e->ae_reason);
	put(&w, e->ae_policy, sizeof(e->ae_policy));
	put_str(&w, e->ae_request_id);
	put_uint(&w, e->ae_count, 4);
	put(&w, e->ae_salt, sizeof(e->ae_salt));
	if (w.w_bad || (unsigned)e->ae_action >= REFX_AUDIT_ACTION_COUNT ||
	    (unsigned)e->ae_outcome > REFX_AUDIT_FAILED ||
	    e->ae_status > 0xffff)
		return (-1);
	*outlen = w.w_len;
	return (0);
}

/* A bounded reader: every get checks what is left. */
struct rd {
	const uint8_t	*r_p;
	size_t		 r_left;
	int		 r_bad;
};

static void
get(struct rd *r, void *out, size_t n)
{

	if (r->r_bad || n > r->r_left) {
		r->r_bad = 1;
		memset(out, 0, n);
		return;
	}
	memcpy(out, r->r_p, n);
	r->r_p += n;
	r->r_left -= n;
}

static uint64_t
get_uint(struct rd *r, int bytes)
{
	uint8_t b[8];
	uint64_t v = 0;
	int i;

	get(r, b, (size_t)bytes);
	for (i = 0; i < bytes; i++)
		v = (v << 8) | b[i];
	return (r->r_bad ? 0 : v);
}

static void
get_str(struct rd *r, char *out, size_t outlen)
{
	size_t n = (size_t)get_uint(r, 2);

	out[0] = '\0';
	if (r->r_bad || n >= outlen || n > REFX_AUDIT_STR_MAX) {
		r->r_bad = 1;
		return;
	}
	get(r, out, n);
	out[n] = '\0';
	if (r->r_bad)
		return;
	if (!text_ok((const unsigned char *)out, n)) {
		r->r_bad = 1;
		out[0] = '\0';
	}
}

/** refx_audit_decode(in, len, e): Decode one entry strictly.  0 or -1. */
int
refx_audit_decode(const uint8_t *in, size_t len, struct refx_audit_entry *e)
{
	struct rd r = { in, len, 0 };
	char ns[sizeof(REFX_AUDIT_NAMESPACE)], cls[40];
	enum refx_class c;
	unsigned n, i;

	memset(e, 0, sizeof(*e));
	get(&r, ns, sizeof(ns));
	if (r.r_bad || memcmp(ns, REFX_AUDIT_NAMESPACE, sizeof(ns)) != 0)
		return (-1);
	e->ae_index = get_uint(&r, 8);
	e->ae_time_ms = get_uint(&r, 8);
	get(&r, e->ae_event, sizeof(e->ae_event));
	e->ae_action = (enum refx_audit_action)get_uint(&r, 1);
	e->ae_outcome = (enum refx_audit_outcome)get_uint(&r, 1);
	e->ae_status = (unsigned)get_uint(&r, 2);
	get_str(&r, e->ae_actor_unit, sizeof(e->ae_actor_unit));
	e->ae_actor_kind = (unsigned)get_uint(&r, 1);
	e->ae_actor_role = (unsigned)get_uint(&r, 1);
	get_str(&r, e->ae_actor_person, sizeof(e->ae_actor_person));
	get(&r, e->ae_actor_cert, sizeof(e->ae_actor_cert));
	get_str(&r, e->ae_object_type, sizeof(e->ae_object_type));
	get_str(&r, e->ae_object_id, sizeof(e->ae_object_id));
	get_str(&r, e->ae_other_unit, sizeof(e->ae_other_unit));
	n = (unsigned)get_uint(&r, 1);
	for (i = 0; i < n && !r.r_bad; i++) {
		get_str(&r, cls, sizeof(cls));
		if (r.r_bad || refx_class_parse(cls, &c) ||
		    (e->ae_classes & REFX_CLASS_BIT(c)))
			return (-1);
		e->ae_classes |= REFX_CLASS_BIT(c);
	}
	get_str(&r, e->ae_basis, sizeof(e->ae_basis));
	get_str(&r, e->ae_reason, sizeof(e->ae_reason));
	get(&r, e->ae_policy, sizeof(e->ae_policy));
	get_str(&r, e->ae_request_id, sizeof(e->ae_request_id));
	e->ae_count = (uint32_t)get_uint(&r, 4);
	get(&r, e->ae_salt, sizeof(e->ae_salt));
	if (r.r_bad || r.r_left != 0 ||
	    (unsigned)e->ae_action >= REFX_AUDIT_ACTION_COUNT ||
	    (unsigned)e->ae_outcome > REFX_AUDIT_FAILED)
		return (-1);
	return (0);
}
