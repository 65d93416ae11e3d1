#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "refx/buf.h"
#include "refx/log.h"
#include "refx/secret.h"

#include "config.h"
#include "http.h"
#include "server.h"
#include "tls.h"

#define CONN_MAGIC	0x72656678u	/* "refx" */

struct http {
	struct MHD_Daemon	*h_daemon;
	struct server		*h_srv;
	atomic_uint		 h_inflight;
};

/* Per connection: the verified peer, cached for its requests. */
struct conn {
	uint32_t		 c_magic;
	struct tls_peer		 c_peer;
	int			 c_tried;
	unsigned		 c_requests;
	char			 c_addr[INET6_ADDRSTRLEN + 8];
};

/* Per request: the body as it arrives. */
struct req_state {
	struct refx_buf		 rs_body;
	int			 rs_too_big;
	struct timespec		 rs_start;
};

/* The one mapping from error to HTTP status. */
static const unsigned status_table[] = {
	[REFX_OK] = MHD_HTTP_OK,
	[REFX_ENOMEM] = MHD_HTTP_INTERNAL_SERVER_ERROR,
	[REFX_EINVAL] = MHD_HTTP_BAD_REQUEST,
	[REFX_ENOTFOUND] = MHD_HTTP_NOT_FOUND,
	[REFX_EEXIST] = MHD_HTTP_CONFLICT,
	[REFX_EDENIED] = MHD_HTTP_FORBIDDEN,
	[REFX_ETOOBIG] = MHD_HTTP_CONTENT_TOO_LARGE,
	[REFX_ESTORE] = MHD_HTTP_SERVICE_UNAVAILABLE,
	[REFX_ECRYPTO] = MHD_HTTP_UNPROCESSABLE_CONTENT,
	[REFX_EIO] = MHD_HTTP_INTERNAL_SERVER_ERROR,
	[REFX_EUNAVAIL] = MHD_HTTP_SERVICE_UNAVAILABLE,
};

/** http_status(err): The HTTP status for an enum refx_err. */
unsigned
http_status(int err)
{

	if (err < 0 || (size_t)err >= sizeof(status_table) /
	    sizeof(status_table[0]))
		return (MHD_HTTP_INTERNAL_SERVER_ERROR);
	return (status_table[err]);
}

/* Route libmicrohttpd's own messages into our log. */
static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	log_warnx("mhd: %s", msg);
}

/* Send ${body} (consumed) with status ${status}; close if ${close}. */
static enum MHD_Result
send_json(struct MHD_Connection *c, unsigned status, json_t *body,
    const char *request_id, const char *allow, int close)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text;

	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL)
		return (MHD_NO);		/* MHD closes the connection */
	resp = MHD_create_response_from_buffer(strlen(text), text,
	    MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return (MHD_NO);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (request_id != NULL)
		MHD_add_response_header(resp, "X-Request-Id", request_id);
	if (allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	if (close)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
		    "close");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return (ret);
}

/* An error body: a stable code and a human message. */
static enum MHD_Result
send_error(struct MHD_Connection *c, enum refx_err err, unsigned status,
    const char *msg, const char *request_id, const char *allow, int close)
{
	json_t *body;

	body = json_pack("{s:{s:s, s:s}, s:s?}", "error",
	    "code", status == MHD_HTTP_METHOD_NOT_ALLOWED ?
	    "method_not_allowed" : refx_err_code(err),
	    "message", msg, "request_id", request_id);
	return (send_json(c, status, body, request_id, allow, close));
}

/* The GnuTLS session of ${c}, as an opaque pointer for tls.c. */
static void *
session_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	return (ci != NULL ? ci->tls_session : NULL);
}

/* Connection start and end: require the certificate, free the cache. */
static void
on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	struct http *h = cls;
	struct conn *cn = *socket_context;
	const union MHD_ConnectionInfo *ci;
	void *session;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		if ((cn = calloc(1, sizeof(*cn))) == NULL)
			return;		/* no context: every request is refused */
		cn->c_magic = CONN_MAGIC;
		snprintf(cn->c_addr, sizeof(cn->c_addr), "?");
		ci = MHD_get_connection_info(c,
		    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci != NULL && ci->client_addr != NULL)
			(void)getnameinfo(ci->client_addr,
			    ci->client_addr->sa_family == AF_INET6 ?
			    sizeof(struct sockaddr_in6) :
			    sizeof(struct sockaddr_in), cn->c_addr,
			    sizeof(cn->c_addr), NULL, 0, NI_NUMERICHOST);
		/* Before any handshake byte: make the certificate required. */
		session = session_of(c);
		if (tls_session_setup(h->h_srv->sv_tls, session))
			log_warnx("http: cannot set up TLS session for %s",
			    cn->c_addr);
		*socket_context = cn;
		return;
	}
	if (cn == NULL)
		return;
	if (cn->c_requests == 0 && !cn->c_peer.tp_identified) {
		atomic_fetch_add(&h->h_srv->sv_refused, 1);
		tls_refusal_note(h->h_srv->sv_tls, NULL, "connection closed "
		    "before any request (no valid certificate, or TLS failure)");
		log_info("tls: connection from %s closed before any request "
		    "(no valid client certificate, or TLS handshake failed)",
		    cn->c_addr);
	}
	refx_wipe(cn, sizeof(*cn));
	free(cn);
	*socket_context = NULL;
}

/* Request end: free its state, whatever the outcome. */
static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http *h = cls;
	struct req_state *rs = *con_cls;

	(void)c;
	(void)toe;
	if (rs == NULL)
		return;
	refx_buf_free(&rs->rs_body);
	free(rs);
	*con_cls = NULL;
	atomic_fetch_sub(&h->h_inflight, 1);
}

/* Find our per-connection state and check it is ours. */
static struct conn *
conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;
	struct conn *cn;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci == NULL || (cn = ci->socket_context) == NULL ||
	    cn->c_magic != CONN_MAGIC)
		return (NULL);
	return (cn);
}

/* Parse a Content-Length strictly; return -1 if absent or malformed. */
static long long
content_length(struct MHD_Connection *c)
{
	const char *v;
	char *end;
	unsigned long long n;

	v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (v == NULL || *v < '0' || *v > '9')
		return (-1);
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end != '\0' || n > (unsigned long long)LLONG_MAX)
		return (LLONG_MAX);
	return ((long long)n);
}

/* A whole-number query argument, or ${dflt} if absent or malformed. */
static uint64_t
query_uint(struct MHD_Connection *c, const char *name, uint64_t dflt)
{
	const char *v;
	char *end;
	unsigned long long n;

	v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
	if (v == NULL || *v < '0' || *v > '9')
		return (dflt);
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end != '\0')
		return (dflt);
	return ((uint64_t)n);
}

/*
 * First call of a request: headers only.  Establish who is calling
 * (once per connection) and refuse early what must be refused.
 */
static enum MHD_Result
first_call(struct http *h, struct MHD_Connection *c, void **con_cls)
{
	struct server *sv = h->h_srv;
	struct conn *cn;
	struct req_state *rs;
	const char *why = "no connection state";
	long long cl;

	if ((cn = conn_of(c)) == NULL)
		goto refuse;
	if (!cn->c_tried) {
		cn->c_tried = 1;
		if (tls_peer_identify(sv->sv_tls, session_of(c), &cn->c_peer,
		    &why)) {
			log_warnx("http: refused %s at first request: %s",
			    cn->c_addr, why);
			goto refuse;
		}
	}
	if (tls_peer_current(sv->sv_tls, &cn->c_peer, &why)) {
		log_warnx("http: refused %s (%s/%s): %s", cn->c_addr,
		    cn->c_peer.tp_id.id_agency, cn->c_peer.tp_id.id_person,
		    why);
		pipeline_refused(sv, &cn->c_peer.tp_id, why,
		    MHD_HTTP_FORBIDDEN);
		goto refuse;
	}
	cn->c_requests++;
	cl = content_length(c);
	if (cl > (long long)sv->sv_cfg->c_max_body) {
		/* Refused before a byte of the body is read. */
		atomic_fetch_add(&sv->sv_refused, 1);
		pipeline_refused(sv, &cn->c_peer.tp_id, "request body too large",
		    MHD_HTTP_CONTENT_TOO_LARGE);
		return (send_error(c, REFX_ETOOBIG, MHD_HTTP_CONTENT_TOO_LARGE,
		    "request body too large", NULL, NULL, 1));
	}
	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		return (MHD_NO);
	refx_buf_init(&rs->rs_body, sv->sv_cfg->c_max_body);
	clock_gettime(CLOCK_MONOTONIC, &rs->rs_start);
	*con_cls = rs;
	atomic_fetch_add(&h->h_inflight, 1);
	return (MHD_YES);

refuse:
	atomic_fetch_add(&sv->sv_refused, 1);
	return (send_error(c, REFX_EDENIED, MHD_HTTP_FORBIDDEN, why, NULL,
	    NULL, 1));
}

/* The libmicrohttpd access handler: headers, body chunks, then answer. */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http *h = cls;
	struct req_state *rs = *con_cls;
	struct conn *cn;
	struct request rq;
	struct timespec end;
	uint8_t rid[REQUEST_ID_LEN / 2];
	unsigned status;
	enum MHD_Result ret;
	long ms;

	(void)version;
	if (rs == NULL)
		return (first_call(h, c, con_cls));

	/* Body chunks: keep them up to the cap, then only count. */
	if (*upload_data_size != 0) {
		if (!rs->rs_too_big && refx_buf_add(&rs->rs_body, upload_data,
		    *upload_data_size)) {
			rs->rs_too_big = 1;
			refx_buf_free(&rs->rs_body);
		}
		*upload_data_size = 0;
		return (MHD_YES);
	}
	if (rs->rs_too_big) {
		atomic_fetch_add(&h->h_srv->sv_refused, 1);
		if ((cn = conn_of(c)) != NULL && cn->c_peer.tp_identified)
			pipeline_refused(h->h_srv, &cn->c_peer.tp_id,
			    "request body too large",
			    MHD_HTTP_CONTENT_TOO_LARGE);
		return (send_error(c, REFX_ETOOBIG, MHD_HTTP_CONTENT_TOO_LARGE,
		    "request body too large", NULL, NULL, 1));
	}
	if ((cn = conn_of(c)) == NULL || !cn->c_peer.tp_identified)
		return (MHD_NO);

	memset(&rq, 0, sizeof(rq));
	rq.rq_srv = h->h_srv;
	rq.rq_method = method;
	rq.rq_path = url;
	rq.rq_who = &cn->c_peer.tp_id;
	rq.rq_tls_version = cn->c_peer.tp_version;
	rq.rq_from = query_uint(c, "from", 0);
	rq.rq_to = query_uint(c, "to", UINT64_MAX);
	rq.rq_body = rs->rs_body.b_data;
	rq.rq_body_len = rs->rs_body.b_len;
	refx_random(rid, sizeof(rid));
	refx_hex(rq.rq_id, sizeof(rq.rq_id), rid, sizeof(rid));

	pipeline_run(&rq);

	status = http_status(rq.rq_err);
	if (rq.rq_err == REFX_OK && rq.rq_status != 0)
		status = rq.rq_status;
	if (rq.rq_err == REFX_OK) {
		ret = send_json(c, status, rq.rq_resp, rq.rq_id, NULL, 0);
	} else {
		json_decref(rq.rq_resp);
		if (rq.rq_allow != NULL)
			status = MHD_HTTP_METHOD_NOT_ALLOWED;
		ret = send_error(c, rq.rq_err, status, rq.rq_errmsg, rq.rq_id,
		    rq.rq_allow, 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	ms = (end.tv_sec - rs->rs_start.tv_sec) * 1000 +
	    (end.tv_nsec - rs->rs_start.tv_nsec) / 1000000;
	log_info("req %s %s/%s %s %s -> %u (%ld ms)", rq.rq_id,
	    rq.rq_who->id_agency, rq.rq_who->id_person, method, url, status,
	    ms);
	return (ret);
}

/* Resolve the numeric listen address. */
static int
listen_addr(const struct config *cf, struct sockaddr_storage *ss,
    char *err, size_t errlen)
{
	struct addrinfo hints, *res;
	char port[8];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", cf->c_port);
	if ((rc = getaddrinfo(cf->c_listen, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "[server] listen: '%s' is not a numeric "
		    "IP address: %s", cf->c_listen, gai_strerror(rc));
		return (-1);
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return (0);
}

/** http_start(sv, creds, err, errlen): Bind and start the workers. */
struct http *
http_start(struct server *sv, struct http_tls *creds, char *err,
    size_t errlen)
{
	const struct config *cf = sv->sv_cfg;
	struct sockaddr_storage ss;
	struct http *h;
	unsigned int flags;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err0;
	}
	h->h_srv = sv;
	atomic_init(&h->h_inflight, 0);
	if (listen_addr(cf, &ss, err, errlen))
		goto err1;
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	    MHD_USE_TLS | MHD_USE_ERROR_LOG | MHD_USE_ITC;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->h_daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_HTTPS_MEM_KEY, creds->ht_key_pem,
	    MHD_OPTION_HTTPS_MEM_CERT, creds->ht_cert_pem,
	    MHD_OPTION_HTTPS_MEM_TRUST, creds->ht_ca_pem,
	    MHD_OPTION_HTTPS_PRIORITIES, tls_priorities(),
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cf->c_threads,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cf->c_max_conns,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned int)cf->c_max_conns_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cf->c_idle_timeout,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cf->c_header_mem,
	    MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
	    MHD_OPTION_END);
	/* GnuTLS has its own copy of the key now: wipe ours. */
	refx_wipe(creds->ht_key_pem, creds->ht_key_len);
	if (h->h_daemon == NULL) {
		snprintf(err, errlen, "cannot listen on %s port %u (address in "
		    "use, no permission, or bad TLS key/certificate)",
		    cf->c_listen, cf->c_port);
		goto err1;
	}
	return (h);

err1:
	free(h);
err0:
	return (NULL);
}

/** http_stop(h, grace): Stop accepting, drain, close.  NULL is a no-op. */
void
http_stop(struct http *h, unsigned grace)
{
	struct timespec nap = { 0, 50 * 1000 * 1000 };
	unsigned i, rounds = grace * 20;
	MHD_socket fd;

	if (h == NULL)
		return;
	/* Stop accepting; requests already being read still complete. */
	fd = MHD_quiesce_daemon(h->h_daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	for (i = 0; i < rounds && atomic_load(&h->h_inflight) > 0; i++)
		nanosleep(&nap, NULL);
	if (atomic_load(&h->h_inflight) > 0)
		log_warnx("http: %u requests still in flight after %u s",
		    atomic_load(&h->h_inflight), grace);
	MHD_stop_daemon(h->h_daemon);
	free(h);
}
