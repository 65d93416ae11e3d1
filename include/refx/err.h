#ifndef REFX_ERR_H
#define REFX_ERR_H

/*
 * One error convention for librefx, refxd, refx and refx-pki.
 *
 * Functions that only succeed or fail return 0 / -1 (or a pointer /
 * NULL).  Functions whose callers branch on the reason return an
 * enum refx_err; REFX_OK is 0 so "if (rc)" reads as "if failed".
 */
enum refx_err {
	REFX_OK = 0,
	REFX_ENOMEM,	/* out of memory */
	REFX_EINVAL,	/* malformed or out-of-range input */
	REFX_ENOTFOUND,	/* no such object */
	REFX_EEXIST,	/* object already exists */
	REFX_EDENIED,	/* authenticated, but not allowed */
	REFX_ETOOBIG,	/* input exceeds a configured bound */
	REFX_ESTORE,	/* database failure */
	REFX_ECRYPTO,	/* signature, MAC or certificate check failed */
	REFX_EIO,	/* file or network I/O failure */
	REFX_EUNAVAIL,	/* temporarily unavailable: retry later */
};

/** refx_strerror(e): Return a static English description of ${e}. */
const char *refx_strerror(enum refx_err);

/** refx_err_code(e): Return the stable machine code of ${e} ("denied"). */
const char *refx_err_code(enum refx_err);

#endif /* !REFX_ERR_H */
