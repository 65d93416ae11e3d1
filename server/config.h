#ifndef REFXD_CONFIG_H
#define REFXD_CONFIG_H

#include <stddef.h>

/* refxd's settings, from the INI file; see etc/refxd.ini.example. */
struct config {
	char		*c_listen;		/* [server] listen */
	unsigned	 c_port;		/* [server] port */
	char		*c_user;		/* [server] user (drop to) */
	unsigned	 c_threads;		/* [server] threads */
	char		*c_cert;		/* [tls] certificate */
	char		*c_key;			/* [tls] key */
	char		*c_ca;			/* [tls] ca */
	char		*c_crl;			/* [tls] crl */
	char		*c_database;		/* [storage] database */
	char		*c_directory;		/* [directory] units */
	char		*c_policy;		/* [policy] file */
	char		*c_audit_keys;		/* [audit] keys */
	unsigned	 c_checkpoint;		/* [audit] checkpoint_interval */
	unsigned	 c_max_conns;		/* [limits] connections */
	unsigned	 c_max_conns_ip;	/* [limits] connections_per_ip */
	unsigned	 c_idle_timeout;	/* [limits] idle_timeout (s) */
	size_t		 c_header_mem;		/* [limits] header_memory */
	size_t		 c_max_body;		/* [limits] max_body */
	unsigned	 c_purge_interval;	/* [retention] purge_interval */
};

#define CONFIG_ERR_LEN	512

/**
 * config_load(path, err): Parse the INI file ${path}.  Return a config
 * (free with config_free), or NULL with a one-line message naming the
 * file, line and key in ${err} (CONFIG_ERR_LEN bytes).
 */
struct config *config_load(const char *, char *);

/** config_free(cf): Free ${cf}; NULL is a no-op. */
void config_free(struct config *);

#endif /* !REFXD_CONFIG_H */
