#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <curl/curl.h>

#include "refx/buf.h"
#include "refx/file.h"
#include "refx/log.h"
#include "refx/secret.h"

#include "config.h"
#include "net.h"

#define PASSPHRASE_MAX	1024	/* largest passphrase file */
#define URL_MAX		(CLICONF_VALUE_MAX + 256)

/* TLS 1.3 only, with the suites and groups of Mozilla's "modern" profile. */
#define TLS13_SUITES	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
			"TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS	"X25519:P-256:P-384"

struct refx_net {
	CURL			*n_curl;	/* reused: one connection */
	struct curl_slist	*n_hdr;		/* without a body */
	struct curl_slist	*n_hdr_body;	/* with a JSON body */
	struct refx_buf		*n_resp;	/* during a request */
	int			 n_werr;	/* errno of a failed add */
	int			 n_verbose;
	/* The URL without a trailing '/', and files for messages. */
	char			 n_base[CLICONF_VALUE_MAX + 1];
	char			 n_ca[CLICONF_VALUE_MAX + 1];
	char			 n_cert[CLICONF_VALUE_MAX + 1];
	char			 n_key[CLICONF_VALUE_MAX + 1];
	char			 n_errbuf[CURL_ERROR_SIZE];
};

/* Fill ${err}. */
static void __attribute__((format(printf, 3, 4)))
fail(struct net_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	err->ne_exit = code;
	va_start(ap, fmt);
	vsnprintf(err->ne_msg, sizeof(err->ne_msg), fmt, ap);
	va_end(ap);
}

/* libcurl's detail for a failure: its error buffer, else its text. */
static const char *
detail(const struct refx_net *n, CURLcode rc)
{

	return (n->n_errbuf[0] != '\0' ? n->n_errbuf : curl_easy_strerror(rc));
}

/*
 * Turn a libcurl failure into plain words and an exit code.  In TLS 1.3
 * the server checks our certificate after we consider the handshake
 * done, so its refusal shows up as a failed handshake, an empty reply
 * or a broken connection on the first read or write.
 */
static void
fail_curl(const struct refx_net *n, CURLcode rc, struct net_error *err)
{
	char more[CURL_ERROR_SIZE + 8] = "";

	if (n->n_verbose)
		snprintf(more, sizeof(more), " [%s]", detail(n, rc));
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
		fail(err, EX_UNAVAILABLE, "server unreachable at %s: %s",
		    n->n_base, detail(n, rc));
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_ISSUER_ERROR:
		fail(err, EX_UNAVAILABLE, "the server's certificate is not "
		    "from your exchange's CA (or its name does not match %s); "
		    "CA file: %s%s", n->n_base, n->n_ca, more);
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		fail(err, EX_NOPERM, "the server refused the connection: "
		    "your certificate was probably rejected (revoked, "
		    "expired, or not from this exchange)%s", more);
		break;
	case CURLE_SSL_CERTPROBLEM:
		fail(err, EX_CONFIG, "cannot use your certificate or key "
		    "(wrong passphrase?): %s, %s%s", n->n_cert, n->n_key, more);
		break;
	case CURLE_SSL_CACERT_BADFILE:
		fail(err, EX_CONFIG, "cannot load the exchange CA "
		    "certificate: %s%s", n->n_ca, more);
		break;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		fail(err, EX_CONFIG, "invalid server URL %s: %s", n->n_base,
		    detail(n, rc));
		break;
	case CURLE_FILESIZE_EXCEEDED:
		fail(err, EX_PROTOCOL, "the server's response is too large "
		    "(more than %zu bytes)", n->n_resp->b_cap);
		break;
	case CURLE_WRITE_ERROR:
		if (n->n_werr == EFBIG)
			fail(err, EX_PROTOCOL, "the server's response is too "
			    "large (more than %zu bytes)", n->n_resp->b_cap);
		else
			fail(err, EX_OSERR, "cannot store the server's "
			    "response: %s", strerror(n->n_werr));
		break;
	case CURLE_SSL_CIPHER:
	case CURLE_NOT_BUILT_IN:
	case CURLE_UNKNOWN_OPTION:
		fail(err, EX_SOFTWARE, "the TLS library refused our TLS 1.3 "
		    "settings: %s", detail(n, rc));
		break;
	case CURLE_OUT_OF_MEMORY:
		fail(err, EX_OSERR, "out of memory");
		break;
	default:
		fail(err, EX_UNAVAILABLE, "request to %s failed: %s",
		    n->n_base, detail(n, rc));
		break;
	}
}

/* libcurl write callback: append to the capped response buffer. */
static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *user)
{
	struct refx_net *n = user;

	if (nmemb != 0 && size > SIZE_MAX / nmemb) {
		n->n_werr = EFBIG;
		return (0);
	}
	if (refx_buf_add(n->n_resp, ptr, size * nmemb)) {
		n->n_werr = errno;
		return (0);
	}
	return (size * nmemb);
}

/* Hand the first line of the passphrase file to libcurl, then wipe it. */
static int
set_passphrase(struct refx_net *n, const char *path, struct net_error *err)
{
	uint8_t *data;
	size_t len, i;
	CURLcode rc;

	if (refx_file_read(path, PASSPHRASE_MAX, &data, &len)) {
		fail(err, EX_CONFIG, "cannot read passphrase file %s: %s", path,
		    errno == EFBIG ? "file too large" : strerror(errno));
		goto err0;
	}
	for (i = 0; i < len && data[i] != '\n' && data[i] != '\r'; i++)
		continue;
	data[i] = '\0';
	if (i == 0) {
		fail(err, EX_CONFIG, "passphrase file %s is empty", path);
		goto err1;
	}

	/* libcurl keeps its own copy until net_close. */
	if ((rc = curl_easy_setopt(n->n_curl, CURLOPT_KEYPASSWD,
	    (char *)data)) != CURLE_OK) {
		fail(err, EX_SOFTWARE, "libcurl: %s", curl_easy_strerror(rc));
		goto err1;
	}
	refx_wipe(data, len);
	free(data);
	return (0);

err1:
	refx_wipe(data, len);
	free(data);
err0:
	return (-1);
}

/* Copy ${src} to a CLICONF_VALUE_MAX + 1 buffer; cliconf bounded it. */
static void
copy(char *dst, const char *src)
{

	snprintf(dst, CLICONF_VALUE_MAX + 1, "%s", src);
}

/**
 * net_global_init(): Initialise libcurl; call once in main before any
 * net_open, with no other threads running.  Return 0 or -1.
 */
int
net_global_init(void)
{

	return (curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1);
}

/** net_global_cleanup(): Undo net_global_init once every handle is closed. */
void
net_global_cleanup(void)
{

	curl_global_cleanup();
}

/**
 * net_open(cf, verbose, err): Prepare requests to the server of the
 * checked settings ${cf} with its CA, certificate and key (reading and
 * wiping the passphrase file, if any).  curl_global_init must have been
 * called.  Return a handle (free with net_close), or NULL with ${err}.
 */
struct refx_net *
net_open(const struct cliconf *cf, int verbose, struct net_error *err)
{
	struct refx_net *n;
	size_t len;
	CURL *h;
	CURLcode rc;

	if ((n = calloc(1, sizeof(*n))) == NULL) {
		fail(err, EX_OSERR, "out of memory");
		goto err0;
	}
	n->n_verbose = verbose;
	copy(n->n_base, cf->cc_url);
	copy(n->n_ca, cf->cc_ca);
	copy(n->n_cert, cf->cc_cert);
	copy(n->n_key, cf->cc_key);
	len = strlen(n->n_base);
	while (len > 0 && n->n_base[len - 1] == '/')
		n->n_base[--len] = '\0';

	/* Headers: we speak JSON, and never wait for "100 Continue". */
	if ((n->n_hdr = curl_slist_append(NULL, "Accept: application/json"))
	    == NULL ||
	    (n->n_hdr_body = curl_slist_append(NULL,
	    "Accept: application/json")) == NULL ||
	    curl_slist_append(n->n_hdr, "Expect:") == NULL ||
	    curl_slist_append(n->n_hdr_body, "Expect:") == NULL ||
	    curl_slist_append(n->n_hdr_body,
	    "Content-Type: application/json") == NULL) {
		fail(err, EX_OSERR, "out of memory");
		goto err1;
	}
	if ((h = n->n_curl = curl_easy_init()) == NULL) {
		fail(err, EX_SOFTWARE, "cannot initialise libcurl");
		goto err1;
	}

	/* https only, TLS 1.3 only, the exchange CA only. */
	if ((rc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https")) ||
	    (rc = curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https")) ||
	    (rc = curl_easy_setopt(h, CURLOPT_SSLVERSION,
	    (long)(CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_DEFAULT))) ||
	    (rc = curl_easy_setopt(h, CURLOPT_TLS13_CIPHERS, TLS13_SUITES)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_SSL_EC_CURVES, TLS_GROUPS)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_CAINFO, n->n_ca)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_CAPATH, NULL)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L)))
		goto err_opt;

	/* Our identity: certificate and key files (PEM). */
	if ((rc = curl_easy_setopt(h, CURLOPT_SSLCERT, n->n_cert)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM")) ||
	    (rc = curl_easy_setopt(h, CURLOPT_SSLKEY, n->n_key)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM")))
		goto err_opt;
	if (cf->cc_passfile[0] != '\0' &&
	    set_passphrase(n, cf->cc_passfile, err))
		goto err2;

	/* HTTP/1.1, bounded in time, no redirects, no signals. */
	if ((rc = curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_1_1)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_USERAGENT, "refx")) ||
	    (rc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, n->n_errbuf)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_WRITEDATA, n)))
		goto err_opt;
	return (n);

err_opt:
	fail(err, EX_SOFTWARE, "libcurl refused a setting: %s",
	    curl_easy_strerror(rc));
err2:
	curl_easy_cleanup(n->n_curl);
err1:
	curl_slist_free_all(n->n_hdr_body);
	curl_slist_free_all(n->n_hdr);
	free(n);
err0:
	return (NULL);
}

/** net_close(n): Close the connection and free ${n}; NULL is a no-op. */
void
net_close(struct refx_net *n)
{

	if (n == NULL)
		return;
	curl_easy_cleanup(n->n_curl);
	curl_slist_free_all(n->n_hdr_body);
	curl_slist_free_all(n->n_hdr);
	free(n);
}

/* Set the method, body and headers of the next request. */
static CURLcode
set_method(struct refx_net *n, enum net_method method, const uint8_t *body,
    size_t len)
{
	static const char *const names[] = {
		[NET_GET] = "GET", [NET_POST] = "POST", [NET_PUT] = "PUT",
		[NET_DELETE] = "DELETE",
	};
	CURL *h = n->n_curl;
	CURLcode rc;

	/* POST and PUT always carry a body, if only an empty one. */
	if (body == NULL && (method == NET_POST || method == NET_PUT)) {
		body = (const uint8_t *)"";
		len = 0;
	}

	/* The handle is reused: undo what the last request set. */
	if ((rc = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_HTTPHEADER,
	    body != NULL ? n->n_hdr_body : n->n_hdr)))
		return (rc);
	if (body == NULL) {
		if ((rc = curl_easy_setopt(h, CURLOPT_HTTPGET, 1L)))
			return (rc);
	} else {
		/* Not copied: ${body} outlives curl_easy_perform. */
		if ((rc = curl_easy_setopt(h, CURLOPT_POST, 1L)) ||
		    (rc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)len)) ||
		    (rc = curl_easy_setopt(h, CURLOPT_POSTFIELDS, body)))
			return (rc);
	}
	if ((method == NET_GET && body == NULL) ||
	    (method == NET_POST && body != NULL))
		return (CURLE_OK);
	return (curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, names[method]));
}

/**
 * net_request(n, method, path, body, len, status, resp, err): Send
 * ${method} ${path} (absolute, e.g. "/v1/whoami") with the JSON ${body}
 * of ${len} bytes (NULL for none) and put the response body in ${resp},
 * which the caller initialised with its cap (at most NET_RESP_MAX is
 * used).  Return 0 if the server answered, whatever the HTTP status in
 * ${status}; or -1 with ${err} if there was no answer (unreachable,
 * untrusted server, our certificate refused, response too large, ...).
 */
int
net_request(struct refx_net *n, enum net_method method, const char *path,
    const uint8_t *body, size_t len, long *status, struct refx_buf *resp,
    struct net_error *err)
{
	char url[URL_MAX];
	long conns = 0;
	CURLcode rc;
	int w;

	/* The caller's path goes after the base URL, nothing else. */
	if ((unsigned)method > NET_DELETE || path[0] != '/' ||
	    (w = snprintf(url, sizeof(url), "%s%s", n->n_base, path)) < 0 ||
	    (size_t)w >= sizeof(url) || (method == NET_GET && body != NULL) ||
	    len > (uint64_t)INT64_MAX) {
		fail(err, EX_SOFTWARE, "invalid request for %s", path);
		return (-1);
	}

	/* A fresh, capped response buffer. */
	refx_buf_reset(resp);
	if (resp->b_cap > NET_RESP_MAX)
		resp->b_cap = NET_RESP_MAX;
	n->n_resp = resp;
	n->n_werr = 0;
	n->n_errbuf[0] = '\0';

	if ((rc = curl_easy_setopt(n->n_curl, CURLOPT_URL, url)) ||
	    (rc = curl_easy_setopt(n->n_curl, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)resp->b_cap)) ||
	    (rc = set_method(n, method, body, len))) {
		fail(err, EX_SOFTWARE, "libcurl: %s", curl_easy_strerror(rc));
		goto err0;
	}
	if ((rc = curl_easy_perform(n->n_curl)) != CURLE_OK) {
		fail_curl(n, rc, err);
		goto err0;
	}
	if ((rc = curl_easy_getinfo(n->n_curl, CURLINFO_RESPONSE_CODE,
	    status)) != CURLE_OK) {
		fail(err, EX_SOFTWARE, "libcurl: %s", curl_easy_strerror(rc));
		goto err0;
	}
	if (n->n_verbose) {
		(void)curl_easy_getinfo(n->n_curl, CURLINFO_NUM_CONNECTS,
		    &conns);
		log_info("%s: HTTP %ld, %zu bytes, %s connection", path,
		    *status, resp->b_len, conns > 0 ? "new" : "reused");
	}
	n->n_resp = NULL;
	return (0);

err0:
	n->n_resp = NULL;
	return (-1);
}

/**
 * net_status_exit(status): Return the sysexits(3) code for an HTTP error
 * ${status}: 400, 404, 413, 422 and other 4xx give EX_DATAERR, 401 and
 * 403 EX_NOPERM, 429 EX_TEMPFAIL, 5xx EX_UNAVAILABLE, anything else not
 * 2xx EX_PROTOCOL; 2xx gives EX_OK.
 */
int
net_status_exit(long status)
{

	if (status >= 200 && status <= 299)
		return (EX_OK);
	if (status == 401 || status == 403)
		return (EX_NOPERM);
	if (status == 429)
		return (EX_TEMPFAIL);
	if (status >= 400 && status <= 499)
		return (EX_DATAERR);
	if (status >= 500 && status <= 599)
		return (EX_UNAVAILABLE);
	return (EX_PROTOCOL);
}
