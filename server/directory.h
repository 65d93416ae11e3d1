#ifndef REFXD_DIRECTORY_H
#define REFXD_DIRECTORY_H

/*
 * The units of the exchange and their CA-certified encryption keys, as
 * refx-pki wrote them to its directory bundle.  The server only relays
 * them: clients verify each certificate against the CA themselves.
 */
struct directory;
struct json_t;
struct tls;

#include "refx/identity.h"

/**
 * directory_open(tls, path, crl, err, errlen): Load the PEM bundle ${path}
 * and the CRL ${crl} served with it.  Return the directory or NULL with a
 * message in ${err}.
 */
struct directory *directory_open(struct tls *, const char *, const char *,
    char *, size_t);

/** directory_unit_kind(dir, id, kind): Look up a unit.  0 or -1. */
int directory_unit_kind(struct directory *, const char *, enum refx_kind *);

/** directory_reload(dir, err, errlen): Re-read the bundle.  0 or -1. */
int directory_reload(struct directory *, char *, size_t);

/** directory_get(dir): A new reference to the JSON listing. */
struct json_t *directory_get(struct directory *);

/** directory_count(dir): The number of units listed. */
unsigned directory_count(struct directory *);

/** directory_close(dir): Free ${dir}; NULL is a no-op. */
void directory_close(struct directory *);

#endif /* !REFXD_DIRECTORY_H */
