#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "refx/file.h"
#include "refx/log.h"

#include "directory.h"
#include "tls.h"

#define BUNDLE_MAX	(8 * 1024 * 1024)

struct directory {
	pthread_mutex_t	 d_lock;
	struct tls	*d_tls;
	char		*d_path;
	char		*d_crl_path;
	json_t		*d_json;	/* { "crl": ..., "units": [...] } */
	json_t		*d_kinds;	/* { unit id: kind } */
	unsigned	 d_count;
};

/* tls_units_parse callback: append one unit to the listing. */
static int
add_unit(void *cookie, const struct tls_unit *u)
{
	json_t *top = cookie, *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s%}", "id", u->tu_id,
	    "kind", u->tu_kind, "name", u->tu_name,
	    "fingerprint", u->tu_fingerprint, "not_after", u->tu_not_after,
	    "certificate", u->tu_pem, u->tu_pem_len);
	if (o == NULL || json_array_append_new(json_object_get(top, "units"),
	    o))
		return (-1);
	/* A unit id listed twice is ambiguous: the first one wins. */
	if (json_object_get(json_object_get(top, "kinds"), u->tu_id) == NULL &&
	    json_object_set_new(json_object_get(top, "kinds"), u->tu_id,
	    json_string(u->tu_kind)))
		return (-1);
	return (0);
}

/* Build a fresh listing from the bundle and CRL files. */
static json_t *
load(struct tls *tls, const char *path, const char *crl_path,
    unsigned *count, char *err, size_t errlen)
{
	uint8_t *pem, *crl;
	size_t len, crllen;
	json_t *top;
	int n;

	if (refx_file_read(path, BUNDLE_MAX, &pem, &len)) {
		snprintf(err, errlen, "[directory] units: %s: %s", path,
		    strerror(errno));
		goto err0;
	}
	if (refx_file_read(crl_path, BUNDLE_MAX, &crl, &crllen)) {
		snprintf(err, errlen, "[tls] crl: %s: %s", crl_path,
		    strerror(errno));
		goto err1;
	}
	if ((top = json_pack("{s:s%, s:[], s:{}}", "crl", (char *)crl, crllen,
	    "units", "kinds")) == NULL) {
		snprintf(err, errlen, "out of memory (or CRL not text)");
		goto err2;
	}
	if ((n = tls_units_parse(tls, (const char *)pem, len, add_unit,
	    top)) < 0) {
		snprintf(err, errlen, "[directory] units: %s: not a PEM "
		    "certificate bundle", path);
		goto err3;
	}
	free(crl);
	free(pem);
	*count = (unsigned)n;
	return (top);

err3:
	json_decref(top);
err2:
	free(crl);
err1:
	free(pem);
err0:
	return (NULL);
}

/* Split the loaded document into the public listing and the kind map. */
static void
install(struct directory *d, json_t *top, unsigned count)
{
	json_t *old_json, *old_kinds, *kinds;

	kinds = json_incref(json_object_get(top, "kinds"));
	json_object_del(top, "kinds");
	pthread_mutex_lock(&d->d_lock);
	old_json = d->d_json;
	old_kinds = d->d_kinds;
	d->d_json = top;
	d->d_kinds = kinds;
	d->d_count = count;
	pthread_mutex_unlock(&d->d_lock);
	json_decref(old_json);
	json_decref(old_kinds);
}

/**
 * directory_open(tls, path, crl, err, errlen): Load the PEM bundle ${path}
 * and the CRL ${crl} served with it.
 */
struct directory *
directory_open(struct tls *tls, const char *path, const char *crl_path,
    char *err, size_t errlen)
{
	struct directory *d;
	unsigned count;
	json_t *top;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err0;
	}
	d->d_tls = tls;
	if ((d->d_path = strdup(path)) == NULL ||
	    (d->d_crl_path = strdup(crl_path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err1;
	}
	if (pthread_mutex_init(&d->d_lock, NULL)) {
		snprintf(err, errlen, "cannot create a mutex");
		goto err1;
	}
	if ((top = load(tls, path, crl_path, &count, err, errlen)) == NULL)
		goto err2;
	install(d, top, count);
	return (d);

err2:
	pthread_mutex_destroy(&d->d_lock);
err1:
	free(d->d_crl_path);
	free(d->d_path);
	free(d);
err0:
	return (NULL);
}

/** directory_reload(dir, err, errlen): Re-read the bundle.  0 or -1. */
int
directory_reload(struct directory *d, char *err, size_t errlen)
{
	json_t *top;
	unsigned count;

	if ((top = load(d->d_tls, d->d_path, d->d_crl_path, &count, err,
	    errlen)) == NULL)
		return (-1);
	install(d, top, count);
	return (0);
}

/** directory_unit_kind(dir, id, kind): Look up a unit.  0 or -1. */
int
directory_unit_kind(struct directory *d, const char *id,
    enum refx_kind *kind)
{
	const char *k;
	int rc = -1;

	pthread_mutex_lock(&d->d_lock);
	k = json_string_value(json_object_get(d->d_kinds, id));
	if (k != NULL && refx_kind_parse(k, kind) == 0)
		rc = 0;
	pthread_mutex_unlock(&d->d_lock);
	return (rc);
}

/** directory_get(dir): A new reference to the JSON listing. */
json_t *
directory_get(struct directory *d)
{
	json_t *j;

	pthread_mutex_lock(&d->d_lock);
	j = json_incref(d->d_json);
	pthread_mutex_unlock(&d->d_lock);
	return (j);
}

/** directory_count(dir): The number of units listed. */
unsigned
directory_count(struct directory *d)
{
	unsigned n;

	pthread_mutex_lock(&d->d_lock);
	n = d->d_count;
	pthread_mutex_unlock(&d->d_lock);
	return (n);
}

/** directory_close(dir): Free ${dir}; NULL is a no-op. */
void
directory_close(struct directory *d)
{

	if (d == NULL)
		return;
	json_decref(d->d_json);
	json_decref(d->d_kinds);
	pthread_mutex_destroy(&d->d_lock);
	free(d->d_crl_path);
	free(d->d_path);
	free(d);
}
