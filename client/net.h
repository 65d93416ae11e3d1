#ifndef REFX_CLI_NET_H
#define REFX_CLI_NET_H

/*
 * HTTPS requests to the exchange over mutual TLS 1.3.  net.c is the only
 * file that includes <curl/curl.h>.
 *
 * One struct refx_net holds one libcurl easy handle, so every request a
 * command makes goes over the same TLS connection.  The server is
 * trusted only through the exchange CA named in the settings, never
 * the system store.  Failures come back as one line of plain words and
 * the sysexits(3) code refx exits with (see EXIT STATUS in refx(1)).
 */
#include <stddef.h>
#include <stdint.h>

struct cliconf;
struct refx_buf;
struct refx_net;

/* Largest response body accepted, unless the caller's buffer is smaller. */
#define NET_RESP_MAX	(16 * 1024 * 1024)
#define NET_ERR_LEN	1024

enum net_method {
	NET_GET,
	NET_POST,
	NET_PUT,
	NET_DELETE,
};

/* Why a request failed, for the user. */
struct net_error {
	int	ne_exit;		/* sysexits(3) code */
	char	ne_msg[NET_ERR_LEN];	/* one line, no "refx: " */
};

/**
 * net_global_init(): Initialise libcurl; call once in main before any
 * net_open, with no other threads running.  Return 0 or -1.
 */
int net_global_init(void) __attribute__((warn_unused_result));

/** net_global_cleanup(): Undo net_global_init once every handle is closed. */
void net_global_cleanup(void);

/**
 * net_open(cf, verbose, err): Prepare requests to the server of the
 * checked settings ${cf} with its CA, certificate and key (reading and
 * wiping the passphrase file, if any).  curl_global_init must have been
 * called.  Return a handle (free with net_close), or NULL with ${err}.
 */
struct refx_net *net_open(const struct cliconf *, int, struct net_error *);

/** net_close(n): Close the connection and free ${n}; NULL is a no-op. */
void net_close(struct refx_net *);

/**
 * net_request(n, method, path, body, len, status, resp, err): Send
 * ${method} ${path} (absolute, e.g. "/v1/whoami") with the JSON ${body}
 * of ${len} bytes (NULL for none) and put the response body in ${resp},
 * which the caller initialised with its cap (at most NET_RESP_MAX is
 * used).  Return 0 if the server answered, whatever the HTTP status in
 * ${status}; or -1 with ${err} if there was no answer (unreachable,
 * untrusted server, our certificate refused, response too large, ...).
 */
int net_request(struct refx_net *, enum net_method, const char *,
    const uint8_t *, size_t, long *, struct refx_buf *, struct net_error *)
    __attribute__((warn_unused_result));

/**
 * net_status_exit(status): Return the sysexits(3) code for an HTTP error
 * ${status}: 400, 404, 413, 422 and other 4xx give EX_DATAERR, 401 and
 * 403 EX_NOPERM, 429 EX_TEMPFAIL, 5xx EX_UNAVAILABLE, anything else not
 * 2xx EX_PROTOCOL; 2xx gives EX_OK.
 */
int net_status_exit(long);

#endif /* !REFX_CLI_NET_H */
