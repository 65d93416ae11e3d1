#ifndef REFX_CLI_CONFIG_H
#define REFX_CLI_CONFIG_H

/*
 * refx's settings: an INI file ($REFX_CONFIG, else
 * ~/.config/refx/config.ini) overridden by global flags.  See refx(1).
 *
 *   [server]   url, ca, policy_sha256 (optional pin)
 *   [identity] certificate, key, passphrase_file
 *   [unit]     key, passphrase_file   (optional: the unit's X25519 key)
 *
 * Loading, overriding and checking are separate steps so that tests can
 * drive them without argv: cliconf_init, cliconf_load, cliconf_set for
 * each flag, then cliconf_check.
 */
#include <stddef.h>

#define CLICONF_VALUE_MAX	1023		/* bytes in one value */
#define CLICONF_FILE_MAX	(64 * 1024)	/* largest config file */
#define CLICONF_ERR_LEN		768		/* room for a message */

/* One per INI key and global flag. */
enum cliconf_key {
	CLICONF_URL,		/* [server] url, --server */
	CLICONF_CA,		/* [server] ca, --ca */
	CLICONF_CERT,		/* [identity] certificate, --cert */
	CLICONF_KEY,		/* [identity] key, --key */
	CLICONF_PASSFILE,	/* [identity] passphrase_file,
				   --passphrase-file */
	CLICONF_UNITKEY,	/* [unit] key, --unit-key */
	CLICONF_UNITPASS,	/* [unit] passphrase_file,
				   --unit-passphrase-file */
	CLICONF_POLICY,		/* [server] policy_sha256, --policy-sha256 */
	CLICONF_NKEYS
};

/* A value type; an empty string means "not set". */
struct cliconf {
	char	cc_url[CLICONF_VALUE_MAX + 1];
	char	cc_ca[CLICONF_VALUE_MAX + 1];
	char	cc_cert[CLICONF_VALUE_MAX + 1];
	char	cc_key[CLICONF_VALUE_MAX + 1];
	char	cc_passfile[CLICONF_VALUE_MAX + 1];
	char	cc_unitkey[CLICONF_VALUE_MAX + 1];
	char	cc_unitpass[CLICONF_VALUE_MAX + 1];
	char	cc_policy[CLICONF_VALUE_MAX + 1];
	char	cc_path[CLICONF_VALUE_MAX + 1];	/* the file, or "" */
	int	cc_found;			/* cc_path existed */
	int	cc_line[CLICONF_NKEYS];		/* 0, -1 (flag) or line */
};

/** cliconf_init(cf): Make ${cf} empty: no file, no values. */
void cliconf_init(struct cliconf *);

/**
 * cliconf_default_path(buf, len): Write the config file to use when no
 * --config is given to ${buf}: $REFX_CONFIG if set, else
 * ~/.config/refx/config.ini.  Return 0, or -1 if there is no home
 * directory or the path does not fit.
 */
int cliconf_default_path(char *, size_t)
    __attribute__((warn_unused_result));

/**
 * cliconf_load(cf, path, must_exist, err, errlen): Parse the INI file
 * ${path} into ${cf}, remembering ${path}.  A missing file is not an
 * error unless ${must_exist}.  Return 0, or -1 with one line in ${err}
 * naming the file, line and key of the first problem (unknown section or
 * key, repeated key, empty or over-long value, syntax).
 */
int cliconf_load(struct cliconf *, const char *, int, char *, size_t)
    __attribute__((warn_unused_result));

/**
 * cliconf_set(cf, key, value, err, errlen): Override ${key} with
 * ${value} from a flag.  Return 0, or -1 with a message naming the flag
 * in ${err} if the value is empty or longer than CLICONF_VALUE_MAX.
 */
int cliconf_set(struct cliconf *, enum cliconf_key, const char *, char *,
    size_t) __attribute__((warn_unused_result));

/**
 * cliconf_check(cf, err, errlen): Check the final settings: url, ca,
 * certificate and key are set, url is https:// with a host and no
 * credentials, query or fragment, and the key and passphrase files
 * (the unit's too, when set) are regular files no group or other user
 * can access.  Return 0, or -1 with a message naming the key, its flag
 * and the config file in ${err}.
 */
int cliconf_check(const struct cliconf *, char *, size_t)
    __attribute__((warn_unused_result));

#endif /* !REFX_CLI_CONFIG_H */
