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
	json_t		*d_json;	/* { "units": [...] }; under d_lock */
	unsigned	 d_count;
};

/* tls_units_parse callback: append one unit to the array. */
static int
add_unit(void *cookie, const struct tls_unit *u)
{
	json_t *units = cookie, *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s%}", "id", u->tu_id,
	    "kind", u->tu_kind, "name", u->tu_name,
	    "fingerprint", u->tu_fingerprint, "not_after", u->tu_not_after,
	    "certificate", u->tu_pem, u->tu_pem_len);
	if (o == NULL || json_array_append_new(units, o))
		return (-1);
	return (0);
}

/* Build a fresh listing from the bundle file. */
static json_t *
load(struct tls *tls, const char *path, unsigned *count, char *err,
    size_t errlen)
{
	uint8_t *pem;
	size_t len;
	json_t *units, *top;
	int n;

	if (refx_file_read(path, BUNDLE_MAX, &pem, &len)) {
		snprintf(err, errlen, "[directory] units: %s: %s", path,
		    strerror(errno));
		return (NULL);
	}
	if ((units = json_array()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err1;
	}
	if ((n = tls_units_parse(tls, (const char *)pem, len, add_unit,
	    units)) < 0) {
		snprintf(err, errlen, "[directory] units: %s: not a PEM "
		    "certificate bundle", path);
		goto err2;
	}
	if ((top = json_pack("{s:o}", "units", units)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err1;
	}
	free(pem);
	*count = (unsigned)n;
	return (top);

err2:
	json_decref(units);
err1:
	free(pem);
	return (NULL);
}

/** directory_open(tls, path, err, errlen): Load the PEM bundle ${path}. */
struct directory *
directory_open(struct tls *tls, const char *path, char *err, size_t errlen)
{
	struct directory *d;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err0;
	}
	d->d_tls = tls;
	if ((d->d_path = strdup(path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err1;
	}
	if ((d->d_json = load(tls, path, &d->d_count, err, errlen)) == NULL)
		goto err2;
	if (pthread_mutex_init(&d->d_lock, NULL)) {
		snprintf(err, errlen, "cannot create a mutex");
		goto err3;
	}
	return (d);

err3:
	json_decref(d->d_json);
err2:
	free(d->d_path);
err1:
	free(d);
err0:
	return (NULL);
}

/** directory_reload(dir, err, errlen): Re-read the bundle.  0 or -1. */
int
directory_reload(struct directory *d, char *err, size_t errlen)
{
	json_t *fresh, *old;
	unsigned count;

	if ((fresh = load(d->d_tls, d->d_path, &count, err, errlen)) == NULL)
		return (-1);
	pthread_mutex_lock(&d->d_lock);
	old = d->d_json;
	d->d_json = fresh;
	d->d_count = count;
	pthread_mutex_unlock(&d->d_lock);
	json_decref(old);
	return (0);
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
	pthread_mutex_destroy(&d->d_lock);
	free(d->d_path);
	free(d);
}
