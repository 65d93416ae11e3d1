#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "refx/secret.h"
#include "refx/file.h"
#include "refx/identity.h"
#include "refx/log.h"

#include "pki.h"

/*
 * index.json:
 *
 *   { "version": 1, "crl_number": N, "certificates": [ {
 *       "serial": hex, "type": "person"|"unit"|"server",
 *       "agency", "kind", "role", "person", "name", "san": as the type has,
 *       "not_before", "not_after": "YYYY-MM-DDTHH:MM:SSZ",
 *       "fingerprint": SHA-256 hex of the DER,
 *       "status": "valid"|"revoked", "revoked_at": time or null,
 *       "reason": name or null }, ... ] }
 */
#define INDEX_VERSION	1
#define INDEX_FILE_MAX	(64 * 1024 * 1024)

static const char *const types[PKI_TYPE_COUNT] = {
	[PKI_PERSON] = "person",
	[PKI_UNIT] = "unit",
	[PKI_SERVER] = "server",
};

/** index_type_name(type): "person", "unit" or "server". */
const char *
index_type_name(enum pki_type type)
{

	if ((unsigned)type >= PKI_TYPE_COUNT)
		return ("?");
	return (types[type]);
}

/** index_init(ix): Make ${ix} empty. */
void
index_init(struct index *ix)
{

	ix->ix_ent = NULL;
	ix->ix_n = 0;
	ix->ix_alloc = 0;
	ix->ix_crl_number = 0;
}

/** index_free(ix): Free ${ix}; it may be initialised again. */
void
index_free(struct index *ix)
{

	if (ix == NULL)
		return;
	free(ix->ix_ent);
	index_init(ix);
}

/** index_add(ix, e): Append a copy of ${e}.  Return 0 or -1. */
int
index_add(struct index *ix, const struct index_entry *e)
{
	struct index_entry *p;
	size_t n;

	if (ix->ix_n == ix->ix_alloc) {
		n = ix->ix_alloc ? ix->ix_alloc * 2 : 16;
		if (n > SIZE_MAX / sizeof(*p)) {
			errno = ENOMEM;
			return (-1);
		}
		if ((p = realloc(ix->ix_ent, n * sizeof(*p))) == NULL)
			return (-1);
		ix->ix_ent = p;
		ix->ix_alloc = n;
	}
	ix->ix_ent[ix->ix_n++] = *e;
	return (0);
}

/** index_find_serial(ix, serial): The entry with that canonical serial. */
struct index_entry *
index_find_serial(struct index *ix, const char *serial)
{
	size_t i;

	for (i = 0; i < ix->ix_n; i++)
		if (strcmp(ix->ix_ent[i].ie_serial, serial) == 0)
			return (&ix->ix_ent[i]);
	return (NULL);
}

/**
 * index_find(ix, type, key, revoked): The last entry of ${type} for the
 * unit id (PKI_UNIT) or person id (PKI_PERSON) ${key} that is revoked or
 * not, as ${revoked} says; or NULL.
 */
struct index_entry *
index_find(struct index *ix, enum pki_type type, const char *key,
    int revoked)
{
	struct index_entry *e;
	size_t i;

	for (i = ix->ix_n; i > 0; i--) {
		e = &ix->ix_ent[i - 1];
		if (e->ie_type != type || !e->ie_revoked != !revoked)
			continue;
		if (strcmp(type == PKI_PERSON ? e->ie_person : e->ie_agency,
		    key) == 0)
			return (e);
	}
	return (NULL);
}

/**
 * index_find_current(ix, type, key, now): As index_find, but the last
 * entry that is neither revoked nor expired at ${now}; or NULL.
 */
struct index_entry *
index_find_current(struct index *ix, enum pki_type type, const char *key,
    time_t now)
{
	struct index_entry *e;
	size_t i;

	for (i = ix->ix_n; i > 0; i--) {
		e = &ix->ix_ent[i - 1];
		if (e->ie_type != type || e->ie_revoked ||
		    e->ie_not_after < now)
			continue;
		if (strcmp(type == PKI_PERSON ? e->ie_person : e->ie_agency,
		    key) == 0)
			return (e);
	}
	return (NULL);
}

/* Set ${key} of ${o} to the string ${v}; NULL makes it null. */
static int
set_str(json_t *o, const char *key, const char *v)
{

	return (json_object_set_new(o, key, v != NULL ? json_string(v) :
	    json_null()));
}

/* Set ${key} of ${o} to the time ${t}. */
static int
set_time(json_t *o, const char *key, time_t t)
{
	char buf[CA_TIME_LEN];

	ca_time_format(t, buf);
	return (set_str(o, key, buf));
}

/* One entry as a JSON object, or NULL. */
static json_t *
entry_json(const struct index_entry *e)
{
	json_t *o;
	int rc = 0;

	if ((o = json_object()) == NULL)
		return (NULL);
	rc |= set_str(o, "serial", e->ie_serial);
	rc |= set_str(o, "type", index_type_name(e->ie_type));
	switch (e->ie_type) {
	case PKI_PERSON:
		rc |= set_str(o, "agency", e->ie_agency);
		rc |= set_str(o, "kind", refx_kind_name(e->ie_kind));
		rc |= set_str(o, "role", refx_role_name(e->ie_role));
		rc |= set_str(o, "person", e->ie_person);
		rc |= set_str(o, "name", e->ie_name);
		break;
	case PKI_UNIT:
		rc |= set_str(o, "agency", e->ie_agency);
		rc |= set_str(o, "kind", refx_kind_name(e->ie_kind));
		rc |= set_str(o, "name", e->ie_name);
		break;
	default:
		rc |= set_str(o, "name", e->ie_name);
		rc |= set_str(o, "san", e->ie_san);
		break;
	}
	rc |= set_time(o, "not_before", e->ie_not_before);
	rc |= set_time(o, "not_after", e->ie_not_after);
	rc |= set_str(o, "fingerprint", e->ie_fingerprint);
	rc |= set_str(o, "status", e->ie_revoked ? "revoked" : "valid");
	if (e->ie_revoked) {
		rc |= set_time(o, "revoked_at", e->ie_revoked_at);
		rc |= set_str(o, "reason", ca_reason_name(e->ie_reason));
	} else {
		rc |= set_str(o, "revoked_at", NULL);
		rc |= set_str(o, "reason", NULL);
	}
	if (rc) {
		json_decref(o);
		return (NULL);
	}
	return (o);
}

/**
 * index_dump(ix): Return ${ix} as indented JSON ending in a newline
 * (caller frees), or NULL.
 */
char *
index_dump(const struct index *ix)
{
	json_t *root, *arr, *o;
	char *s, *t;
	size_t i, n;

	if ((root = json_object()) == NULL)
		goto err0;
	if ((arr = json_array()) == NULL)
		goto err1;
	if (json_object_set_new(root, "version", json_integer(INDEX_VERSION)) ||
	    json_object_set_new(root, "crl_number",
	    json_integer(ix->ix_crl_number)) ||
	    json_object_set_new(root, "certificates", arr))
		goto err1;
	for (i = 0; i < ix->ix_n; i++) {
		if ((o = entry_json(&ix->ix_ent[i])) == NULL ||
		    json_array_append_new(arr, o))
			goto err1;
	}
	if ((s = json_dumps(root, JSON_INDENT(2))) == NULL)
		goto err1;
	json_decref(root);

	/* Text files end in a newline. */
	n = strlen(s);
	if ((t = realloc(s, n + 2)) == NULL) {
		free(s);
		goto err0;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	return (t);

err1:
	json_decref(root);
err0:
	log_warnx("cannot encode the index");
	return (NULL);
}

/** index_save(ix, path): Write ${ix} atomically, mode 0600.  0 or -1. */
int
index_save(const struct index *ix, const char *path)
{
	char *s;
	int saved;

	if ((s = index_dump(ix)) == NULL)
		return (-1);
	if (refx_file_write(path, s, strlen(s), 0600, 0)) {
		saved = errno;
		log_warn("%s", path);
		free(s);
		errno = saved;
		return (-1);
	}
	free(s);
	return (0);
}

/*
 * Copy the string member ${key} of ${o} into ${dst} of ${dstlen} bytes.
 * Return 0, or -1 if it is missing, not a string or too long.
 */
static int
get_str(const json_t *o, const char *key, char *dst, size_t dstlen)
{
	const json_t *v;
	size_t n;

	if ((v = json_object_get(o, key)) == NULL || !json_is_string(v))
		return (-1);
	n = json_string_length(v);
	if (n >= dstlen || strlen(json_string_value(v)) != n)
		return (-1);
	memcpy(dst, json_string_value(v), n + 1);
	return (0);
}

/* Get the time member ${key} of ${o}. */
static int
get_time(const json_t *o, const char *key, time_t *t)
{
	char buf[CA_TIME_LEN];

	if (get_str(o, key, buf, sizeof(buf)))
		return (-1);
	return (ca_time_parse(buf, t));
}


/* Is ${s} a list of "DNS:" and "IP:" names as ca_make_server takes? */
static int
san_valid(const char *s)
{
	const char *p;

	if (*s == '\0')
		return (0);
	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr(".:,-", *p) != NULL))
			return (0);
	return (1);
}

/*
 * Parse and check one entry.  Return 0, or -1 with a static reason in
 * ${why}.
 */
static int
entry_parse(const json_t *o, struct index_entry *e, const char **why)
{
	char buf[REFX_NAME_MAX + 1], canon[CA_SERIAL_HEX_MAX + 1];
	const json_t *v;
	int i;

	memset(e, 0, sizeof(*e));
	*why = "not an object";
	if (!json_is_object(o))
		return (-1);

	/* Serial and type. */
	*why = "bad serial";
	if (get_str(o, "serial", e->ie_serial, sizeof(e->ie_serial)) ||
	    ca_serial_parse(e->ie_serial, canon) ||
	    strcmp(canon, e->ie_serial) != 0)
		return (-1);
	*why = "bad type";
	if (get_str(o, "type", buf, sizeof(buf)))
		return (-1);
	for (i = 0; i < PKI_TYPE_COUNT; i++)
		if (strcmp(buf, types[i]) == 0)
			break;
	if (i == PKI_TYPE_COUNT)
		return (-1);
	e->ie_type = (enum pki_type)i;

	/* The subject, with the rules of the certificates themselves. */
	*why = "bad name";
	if (get_str(o, "name", e->ie_name, sizeof(e->ie_name)) ||
	    !refx_name_valid(e->ie_name))
		return (-1);
	if (e->ie_type != PKI_SERVER) {
		*why = "bad agency";
		if (get_str(o, "agency", e->ie_agency, sizeof(e->ie_agency)) ||
		    !refx_agency_id_valid(e->ie_agency))
			return (-1);
		*why = "bad kind";
		if (get_str(o, "kind", buf, sizeof(buf)) ||
		    refx_kind_parse(buf, &e->ie_kind))
			return (-1);
	}
	if (e->ie_type == PKI_PERSON) {
		*why = "bad role";
		if (get_str(o, "role", buf, sizeof(buf)) ||
		    refx_role_parse(buf, &e->ie_role))
			return (-1);
		*why = "bad person";
		if (get_str(o, "person", e->ie_person, sizeof(e->ie_person)) ||
		    !refx_person_id_valid(e->ie_person))
			return (-1);
	}
	if (e->ie_type == PKI_SERVER) {
		*why = "bad san";
		if (get_str(o, "san", e->ie_san, sizeof(e->ie_san)) ||
		    !san_valid(e->ie_san))
			return (-1);
	}

	/* Dates and fingerprint. */
	*why = "bad dates";
	if (get_time(o, "not_before", &e->ie_not_before) ||
	    get_time(o, "not_after", &e->ie_not_after))
		return (-1);
	*why = "bad fingerprint";
	if (get_str(o, "fingerprint", e->ie_fingerprint,
	    sizeof(e->ie_fingerprint)) ||
	    !refx_hex_valid(e->ie_fingerprint, 2 * REFX_FINGERPRINT_LEN))
		return (-1);

	/* Status. */
	*why = "bad status";
	if (get_str(o, "status", buf, sizeof(buf)))
		return (-1);
	if (strcmp(buf, "revoked") == 0) {
		e->ie_revoked = 1;
		*why = "bad revoked_at";
		if (get_time(o, "revoked_at", &e->ie_revoked_at))
			return (-1);
		*why = "bad reason";
		if (get_str(o, "reason", buf, sizeof(buf)) ||
		    ca_reason_parse(buf, &e->ie_reason))
			return (-1);
	} else if (strcmp(buf, "valid") == 0) {
		*why = "revoked_at or reason on a valid certificate";
		if (((v = json_object_get(o, "revoked_at")) != NULL &&
		    !json_is_null(v)) ||
		    ((v = json_object_get(o, "reason")) != NULL &&
		    !json_is_null(v)))
			return (-1);
	} else
		return (-1);
	return (0);
}

/**
 * index_load(ix, path): Read and validate ${path} into the empty ${ix}.
 * Return 0, or -1 with errno = EINVAL if it is malformed, else as
 * refx_file_read.
 */
int
index_load(struct index *ix, const char *path)
{
	struct index_entry e;
	json_error_t jerr;
	json_t *root, *v, *arr;
	uint8_t *data;
	size_t len, i;
	const char *why;
	int error = EINVAL;

	if (refx_file_read(path, INDEX_FILE_MAX, &data, &len)) {
		log_warn("%s", path);
		goto err0;
	}
	root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES,
	    &jerr);
	free(data);
	if (root == NULL) {
		log_warnx("%s:%d: %s", path, jerr.line, jerr.text);
		goto err1;
	}

	/* Header. */
	if (!json_is_object(root) ||
	    (v = json_object_get(root, "version")) == NULL ||
	    !json_is_integer(v) || json_integer_value(v) != INDEX_VERSION) {
		log_warnx("%s: not a version %d refx-pki index", path,
		    INDEX_VERSION);
		goto err2;
	}
	if ((v = json_object_get(root, "crl_number")) == NULL ||
	    !json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > LONG_MAX / 2) {
		log_warnx("%s: bad crl_number", path);
		goto err2;
	}
	ix->ix_crl_number = (long)json_integer_value(v);

	/* Entries, each validated; serials must be unique. */
	if ((arr = json_object_get(root, "certificates")) == NULL ||
	    !json_is_array(arr)) {
		log_warnx("%s: no certificates array", path);
		goto err2;
	}
	for (i = 0; i < json_array_size(arr); i++) {
		if (entry_parse(json_array_get(arr, i), &e, &why)) {
			log_warnx("%s: certificate %zu: %s", path, i + 1, why);
			goto err3;
		}
		if (index_find_serial(ix, e.ie_serial) != NULL) {
			log_warnx("%s: certificate %zu: duplicate serial",
			    path, i + 1);
			goto err3;
		}
		if (index_add(ix, &e)) {
			log_warn("%s", path);
			error = errno;
			goto err3;
		}
	}
	json_decref(root);
	return (0);

err3:
	index_free(ix);
err2:
	json_decref(root);
err1:
	errno = error;
err0:
	return (-1);
}
