#include "refx/err.h"

static const struct {
	const char *code;
	const char *text;
} errs[] = {
	[REFX_OK] = { "ok", "success" },
	[REFX_ENOMEM] = { "no_memory", "out of memory" },
	[REFX_EINVAL] = { "invalid", "invalid input" },
	[REFX_ENOTFOUND] = { "not_found", "not found" },
	[REFX_EEXIST] = { "exists", "already exists" },
	[REFX_EDENIED] = { "denied", "permission denied" },
	[REFX_ETOOBIG] = { "too_large", "input too large" },
	[REFX_ESTORE] = { "storage", "storage failure" },
	[REFX_ECRYPTO] = { "crypto", "cryptographic check failed" },
	[REFX_EIO] = { "io", "input/output error" },
	[REFX_EUNAVAIL] = { "unavailable", "temporarily unavailable" },
};

/** refx_strerror(e): Return a static English description of ${e}. */
const char *
refx_strerror(enum refx_err e)
{

	if ((unsigned)e >= sizeof(errs) / sizeof(errs[0]))
		return ("unknown error");
	return (errs[e].text);
}

/** refx_err_code(e): Return the stable machine code of ${e} ("denied"). */
const char *
refx_err_code(enum refx_err e)
{

	if ((unsigned)e >= sizeof(errs) / sizeof(errs[0]))
		return ("unknown");
	return (errs[e].code);
}
