#ifndef REFX_CLI_DIRECTORY_H
#define REFX_CLI_DIRECTORY_H

/*
 * What the exchange tells refx about the world, checked before use:
 * the units of the directory (GET /v1/directory) with their X25519
 * encryption keys, and who the caller is (GET /v1/whoami).
 *
 * The server is not trusted for keys.  Every unit certificate is
 * verified against the configured exchange CA and the CRL that came with
 * the directory (whose own signature is checked against the same CA),
 * with the unit-encryption purpose; the id, kind and name used are the
 * certificate's.  A unit whose certificate fails stays in the list,
 * marked unusable with the reason, so that commands can name it.
 */
#include <stddef.h>
#include <stdint.h>

#include "refx/cert.h"
#include "refx/identity.h"

struct cmd_ctx;
struct json_t;

#define DIR_WHY_MAX	192	/* bytes of an unusable unit's reason */
#define DIR_FPR_HEX	(2 * REFX_FINGERPRINT_LEN)

/* One unit of the directory. */
struct dir_unit {
	char		du_id[REFX_AGENCY_ID_MAX + 1];
	enum refx_kind	du_kind;	/* from the certificate if du_ok */
	char		du_name[REFX_NAME_MAX + 1];
	uint8_t		du_pk[REFX_X25519_LEN];	/* valid only if du_ok */
	char		du_fpr[DIR_FPR_HEX + 1];	/* "" if not du_ok */
	int		du_ok;		/* the certificate verified */
	char		du_why[DIR_WHY_MAX];	/* else why not */
};

/* The verified directory, with the CA and CRL it was checked against. */
struct directory {
	struct dir_unit		*d_units;
	size_t			 d_n;
	struct x509_st		*d_ca;		/* the configured CA */
	struct X509_crl_st	*d_crl;		/* the directory's CRL */
};

/* Who the exchange says the caller is (GET /v1/whoami), checked. */
struct dir_me {
	char		dm_unit[REFX_AGENCY_ID_MAX + 1];
	enum refx_kind	dm_kind;
	enum refx_role	dm_role;
	char		dm_person[REFX_PERSON_ID_MAX + 1];
	char		dm_name[REFX_NAME_MAX + 1];
	char		dm_fpr[DIR_FPR_HEX + 1];
};

/**
 * directory_parse(root, ca_path, err, errlen): Check the shape of the
 * answer ${root} of GET /v1/directory, read the CA certificate
 * ${ca_path} and the answer's CRL, and verify every unit.  Return the
 * directory (free with directory_free), or NULL with a message in ${err}
 * if the answer is malformed or the CA or CRL cannot be read (a unit
 * that fails verification is not an error: it is marked).
 */
struct directory *directory_parse(struct json_t *, const char *, char *,
    size_t);

/**
 * directory_fetch(c, dir, root): GET /v1/directory and parse it against
 * the configured CA.  ${root} may be NULL; else it receives the answer
 * (json_decref it).  Return EX_OK, or a sysexits(3) code after reporting
 * the failure.
 */
int directory_fetch(struct cmd_ctx *, struct directory **, struct json_t **)
    __attribute__((warn_unused_result));

/** directory_free(d): Free ${d}; NULL is a no-op. */
void directory_free(struct directory *);

/** directory_get(d, id): The unit ${id}, usable or not, or NULL. */
const struct dir_unit *directory_get(const struct directory *, const char *);

/**
 * directory_usable(d, id, u): Find the unit ${id} and check that its
 * certificate verified.  Return EX_OK with ${u}, or report in plain
 * words which unit cannot be used and why, and return EX_DATAERR.
 */
int directory_usable(const struct directory *, const char *,
    const struct dir_unit **) __attribute__((warn_unused_result));

/**
 * directory_me_check(me, cert, err, errlen): Check that what the server
 * says about us in ${me} is what our own certificate ${cert} says: the
 * same fingerprint, unit, kind, role, person and name.  Return 0, or -1
 * with a message in ${err}.
 */
int directory_me_check(const struct dir_me *, struct x509_st *, char *,
    size_t) __attribute__((warn_unused_result));

/**
 * directory_me(c, me): GET /v1/whoami, check its form, and check it
 * against our own certificate (directory_me_check).  Return EX_OK or a
 * sysexits(3) code after reporting the failure.
 */
int directory_me(struct cmd_ctx *, struct dir_me *)
    __attribute__((warn_unused_result));

#endif /* !REFX_CLI_DIRECTORY_H */
