#ifndef REFXD_HTTP_H
#define REFXD_HTTP_H

/*
 * The libmicrohttpd glue: the only file that includes <microhttpd.h>.
 * It owns the daemon, turns HTTP exchanges into struct request for the
 * pipeline, and holds the one table from enum refx_err to HTTP status.
 */
#include <stddef.h>

struct http;
struct server;

/* The server's own TLS credentials, in memory. */
struct http_tls {
	char	*ht_key_pem;	/* wiped by http_start once loaded */
	size_t	 ht_key_len;
	char	*ht_cert_pem;
	char	*ht_ca_pem;
};

/**
 * http_start(sv, creds, err, errlen): Bind the listening socket and start
 * the worker threads.  The key PEM is wiped once GnuTLS has it.  Return
 * the daemon or NULL with a message in ${err}.
 */
struct http *http_start(struct server *, struct http_tls *, char *, size_t);

/**
 * http_stop(h, grace): Stop accepting, let requests in flight finish for
 * up to ${grace} seconds, then close everything.  NULL is a no-op.
 */
void http_stop(struct http *, unsigned);

/** http_status(err): The HTTP status for an enum refx_err. */
unsigned http_status(int);

#endif /* !REFXD_HTTP_H */
