/*
 * refx-load: the benchmark's load generator.  One libcurl multi handle
 * drives N connections over mutual TLS 1.3, each with the certificate of
 * one of several people (so authorization and audit paths of several
 * units are exercised), on keep-alive connections or a new connection
 * per request; every request's time is recorded.
 *
 *   refx-load --url URL --ca CA --id CERT,KEY [--id CERT,KEY]...
 *       [--method GET|POST] (--path P... | --paths FILE | --bodies FILE)
 *       [--conns N] [--requests M] [--max-seconds S] [--fresh]
 *       [--warmup] [--idle S] [--label NAME] [--out FILE]
 *
 * Request k goes to path k mod (number of paths); with --bodies, request
 * k POSTs line k of FILE, each line once (a signed submit cannot be
 * replayed: the server refuses a referral id it has seen).  --warmup
 * first sends one untimed request per connection (so the timed phase of
 * a keep-alive run measures requests, not handshakes); --idle S then
 * leaves those connections idle for S seconds before the timed phase.
 * Every run ends by itself: after M requests, or after --max-seconds
 * (then the requests not sent are counted as not sent, not as failed).
 *
 * Output: one line of JSON on stdout (and in --out): requests sent,
 * answered 2xx, failed, wall seconds of the timed phase, requests per
 * second, p50/p99/max latency in milliseconds, new connections made,
 * and the first failure's status and body.  Exit 0 if no request
 * failed, 1 if any did, 64 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <curl/curl.h>

#define MAX_IDS		16
#define MAX_PATHS	100000
#define MAX_CONNS	1024
#define MAX_REQUESTS	10000000
#define LINE_MAX_LEN	(1024 * 1024)	/* one body or path line */
#define ERRBODY_MAX	300		/* bytes of a failure's body kept */
#define HELP_SHOWN	(-1)		/* parse_args: --help, exit 0 */

/* The same TLS 1.3 suites and groups as the refx CLI (client/net.c). */
#define TLS13_SUITES	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
			"TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS	"X25519:P-256:P-384"

/* A list of lines read from a file or given on the command line. */
struct lines {
	char	**l_v;
	size_t	 *l_len;
	size_t	  l_n;
};

/* One connection's easy handle and the request it carries. */
struct slot {
	CURL		*s_curl;
	size_t		 s_req;		/* index of the request in flight */
	int		 s_timed;	/* 0: a warm-up request */
	char		 s_body[ERRBODY_MAX + 1];
	size_t		 s_body_len;
	char		 s_url[2048];
};

struct run {
	const char	*r_url;
	const char	*r_ca;
	const char	*r_certs[MAX_IDS];
	const char	*r_keys[MAX_IDS];
	size_t		 r_nids;
	int		 r_post;
	struct lines	 r_paths;
	struct lines	 r_bodies;
	int		 r_have_bodies;
	size_t		 r_conns;
	size_t		 r_requests;
	double		 r_max_seconds;
	int		 r_fresh;
	int		 r_warmup;
	double		 r_idle;
	const char	*r_label;
	const char	*r_out;
	struct curl_slist *r_hdr;

	/* Results. */
	double		*r_lat_ms;	/* one per timed request answered */
	size_t		 r_sent;	/* timed requests started */
	size_t		 r_done;	/* timed requests finished */
	size_t		 r_ok;
	size_t		 r_failed;
	size_t		 r_warm_ok;	/* warm-up requests answered 2xx */
	size_t		 r_warm_failed;
	long		 r_new_conns;	/* during the timed phase */
	long		 r_first_status;
	char		 r_first_error[ERRBODY_MAX + CURL_ERROR_SIZE + 64];
	uint64_t	 r_bytes;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static void
usage(FILE *f)
{

	fprintf(f, "usage: refx-load --url URL --ca CA --id CERT,KEY "
	    "[--id CERT,KEY]...\n"
	    "           [--method GET|POST] (--path P... | --paths FILE | "
	    "--bodies FILE)\n"
	    "           [--conns N] [--requests M] [--max-seconds S] "
	    "[--fresh] [--warmup]\n"
	    "           [--idle S] [--label NAME] [--out FILE]\n");
}

/* Append a copy of ${s} (${len} bytes) to ${l}. */
static int
lines_add(struct lines *l, const char *s, size_t len)
{
	char **v;
	size_t *lens;
	char *copy;

	if (l->l_n >= MAX_REQUESTS)
		return (-1);
	if ((copy = malloc(len + 1)) == NULL)
		return (-1);
	memcpy(copy, s, len);
	copy[len] = '\0';
	if ((v = realloc(l->l_v, (l->l_n + 1) * sizeof(*v))) == NULL) {
		free(copy);
		return (-1);
	}
	l->l_v = v;
	if ((lens = realloc(l->l_len, (l->l_n + 1) * sizeof(*lens))) ==
	    NULL) {
		free(copy);
		return (-1);
	}
	l->l_len = lens;
	l->l_v[l->l_n] = copy;
	l->l_len[l->l_n++] = len;
	return (0);
}

/* Read the non-empty lines of ${path}, at most ${max}. */
static int
lines_read(struct lines *l, const char *path, size_t max)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = -1;

	if ((f = fopen(path, "re")) == NULL) {
		fprintf(stderr, "refx-load: %s: %s\n", path, strerror(errno));
		return (-1);
	}
	while (l->l_n < max && (n = getline(&line, &cap, f)) != -1) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		if ((size_t)n > LINE_MAX_LEN || lines_add(l, line, (size_t)n)) {
			fprintf(stderr, "refx-load: %s: line too long or out "
			    "of memory\n", path);
			goto out;
		}
	}
	if (ferror(f)) {
		fprintf(stderr, "refx-load: %s: read error\n", path);
		goto out;
	}
	rc = 0;
out:
	free(line);
	fclose(f);
	return (rc);
}

static void
lines_free(struct lines *l)
{
	size_t i;

	for (i = 0; i < l->l_n; i++)
		free(l->l_v[i]);
	free(l->l_v);
	free(l->l_len);
	memset(l, 0, sizeof(*l));
}

/* Keep the first bytes of each answer, to explain a failure. */
static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *user)
{
	struct slot *s = user;
	size_t n = size * nmemb, room;

	room = ERRBODY_MAX - s->s_body_len;
	if (room > n)
		room = n;
	memcpy(s->s_body + s->s_body_len, ptr, room);
	s->s_body_len += room;
	s->s_body[s->s_body_len] = '\0';
	return (n);
}

/* The settings of a connection: TLS 1.3 only, the exchange CA only. */
static CURLcode
slot_setup(struct run *r, struct slot *s, size_t idx)
{
	CURL *h = s->s_curl;
	size_t id = idx % r->r_nids;
	CURLcode rc;

	if ((rc = curl_easy_setopt(h, CURLOPT_SSLVERSION,
	    (long)(CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_DEFAULT))) ||
	    (rc = curl_easy_setopt(h, CURLOPT_TLS13_CIPHERS, TLS13_SUITES)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_SSL_EC_CURVES, TLS_GROUPS)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_CAINFO, r->r_ca)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_CAPATH, NULL)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_SSLCERT, r->r_certs[id])) ||
	    (rc = curl_easy_setopt(h, CURLOPT_SSLKEY, r->r_keys[id])) ||
	    /* Every new connection is a full handshake, as for refxd. */
	    (rc = curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, 0L)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_1_1)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_IPRESOLVE,
	    (long)CURL_IPRESOLVE_V4)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->r_hdr)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_WRITEDATA, s)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_PRIVATE, s)))
		return (rc);
	if (r->r_fresh &&
	    ((rc = curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L)) ||
	    (rc = curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L))))
		return (rc);
	return (CURLE_OK);
}

/* Point ${s} at request ${k} and hand it to the multi handle. */
static int
slot_start(struct run *r, CURLM *m, struct slot *s, size_t k, int timed)
{
	const struct lines *p = &r->r_paths;
	const char *path;
	CURLcode rc;
	int w;

	path = p->l_n > 0 ? p->l_v[k % p->l_n] : "/";
	w = snprintf(s->s_url, sizeof(s->s_url), "%s%s", r->r_url, path);
	if (w < 0 || (size_t)w >= sizeof(s->s_url))
		return (-1);
	s->s_req = k;
	s->s_timed = timed;
	s->s_body_len = 0;
	s->s_body[0] = '\0';
	if ((rc = curl_easy_setopt(s->s_curl, CURLOPT_URL, s->s_url)))
		return (-1);
	if (r->r_post) {
		/* Not copied: the pool outlives the transfer. */
		if ((rc = curl_easy_setopt(s->s_curl, CURLOPT_POSTFIELDSIZE,
		    (long)r->r_bodies.l_len[k])) ||
		    (rc = curl_easy_setopt(s->s_curl, CURLOPT_POSTFIELDS,
		    r->r_bodies.l_v[k])))
			return (-1);
	}
	if (curl_multi_add_handle(m, s->s_curl) != CURLM_OK)
		return (-1);
	return (0);
}

/* Record the end of one transfer. */
static void
finish(struct run *r, struct slot *s, CURLcode res)
{
	long status = 0, conns = 0;
	curl_off_t us = 0;
	int ok;

	(void)curl_easy_getinfo(s->s_curl, CURLINFO_RESPONSE_CODE, &status);
	(void)curl_easy_getinfo(s->s_curl, CURLINFO_TOTAL_TIME_T, &us);
	(void)curl_easy_getinfo(s->s_curl, CURLINFO_NUM_CONNECTS, &conns);
	ok = res == CURLE_OK && status >= 200 && status <= 299;
	if (!s->s_timed) {
		if (ok)
			r->r_warm_ok++;
		else
			r->r_warm_failed++;
	} else {
		r->r_done++;
		r->r_new_conns += conns;
		r->r_bytes += (uint64_t)s->s_body_len;
		if (ok) {
			r->r_lat_ms[r->r_ok++] = (double)us / 1000.0;
		} else
			r->r_failed++;
	}
	if (!ok && r->r_first_error[0] == '\0') {
		r->r_first_status = status;
		snprintf(r->r_first_error, sizeof(r->r_first_error),
		    "%s%s: %s", s->s_timed ? "" : "warm-up: ",
		    res != CURLE_OK ? curl_easy_strerror(res) : "HTTP",
		    s->s_body);
	}
}

/*
 * Drive the multi handle until no transfer is in flight; in the timed
 * phase, start the next of ${total} requests on each connection that
 * finishes, until ${deadline}.
 */
static int
drive(struct run *r, CURLM *m, size_t *next, size_t total, int timed,
    double deadline)
{
	struct slot *s;
	CURLMsg *msg;
	int running = 0, left;
	double hard = deadline + 15.0;

	do {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			return (-1);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			(void)curl_easy_getinfo(msg->easy_handle,
			    CURLINFO_PRIVATE, (char **)&s);
			finish(r, s, msg->data.result);
			curl_multi_remove_handle(m, s->s_curl);
			if (timed && *next < total && now_s() < deadline) {
				if (slot_start(r, m, s, (*next)++, 1))
					return (-1);
				r->r_sent++;
				running++;
			}
		}
		if (running > 0 &&
		    curl_multi_poll(m, NULL, 0, 100, NULL) != CURLM_OK)
			return (-1);
		/* Bounded: past the deadline, stragglers get 15 s. */
		if (now_s() > hard) {
			fprintf(stderr, "refx-load: transfers still running "
			    "15 s after the deadline: giving up\n");
			return (-1);
		}
	} while (running > 0);
	return (0);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x < y ? -1 : x > y);
}

/* The ${q} quantile (nearest rank) of the sorted ${v}. */
static double
quantile(const double *v, size_t n, double q)
{
	size_t k;

	if (n == 0)
		return (0);
	k = (size_t)(q * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return (v[k - 1]);
}

/* Write ${s} as a JSON string. */
static void
json_str(FILE *f, const char *s)
{
	const unsigned char *p;

	fputc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void
report(FILE *f, const struct run *r, double secs)
{

	fprintf(f, "{\"label\":");
	json_str(f, r->r_label);
	fprintf(f, ",\"conns\":%zu,\"fresh\":%s,\"requests\":%zu,"
	    "\"sent\":%zu,\"ok\":%zu,\"failed\":%zu,\"warmup_ok\":%zu,"
	    "\"warmup_failed\":%zu,\"seconds\":%.3f,\"rps\":%.1f,"
	    "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
	    "\"new_connections\":%ld,\"bytes\":%llu,\"first_status\":%ld,"
	    "\"first_error\":", r->r_conns, r->r_fresh ? "true" : "false",
	    r->r_requests, r->r_sent, r->r_ok, r->r_failed, r->r_warm_ok,
	    r->r_warm_failed, secs, secs > 0 ? (double)r->r_ok / secs : 0.0,
	    quantile(r->r_lat_ms, r->r_ok, 0.50),
	    quantile(r->r_lat_ms, r->r_ok, 0.99),
	    quantile(r->r_lat_ms, r->r_ok, 1.0), r->r_new_conns,
	    (unsigned long long)r->r_bytes, r->r_first_status);
	json_str(f, r->r_first_error);
	fprintf(f, "}\n");
}

/* Parse a whole number in [lo, hi]. */
static int
number(const char *s, size_t lo, size_t hi, size_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < lo || v > hi)
		return (-1);
	*out = (size_t)v;
	return (0);
}

enum {
	O_URL = 256, O_CA, O_ID, O_METHOD, O_PATH, O_PATHS, O_BODIES, O_CONNS,
	O_REQUESTS, O_MAXSEC, O_FRESH, O_WARMUP, O_IDLE, O_LABEL, O_OUT,
	O_HELP,
};

static const struct option opts[] = {
	{ "url", required_argument, NULL, O_URL },
	{ "ca", required_argument, NULL, O_CA },
	{ "id", required_argument, NULL, O_ID },
	{ "method", required_argument, NULL, O_METHOD },
	{ "path", required_argument, NULL, O_PATH },
	{ "paths", required_argument, NULL, O_PATHS },
	{ "bodies", required_argument, NULL, O_BODIES },
	{ "conns", required_argument, NULL, O_CONNS },
	{ "requests", required_argument, NULL, O_REQUESTS },
	{ "max-seconds", required_argument, NULL, O_MAXSEC },
	{ "fresh", no_argument, NULL, O_FRESH },
	{ "warmup", no_argument, NULL, O_WARMUP },
	{ "idle", required_argument, NULL, O_IDLE },
	{ "label", required_argument, NULL, O_LABEL },
	{ "out", required_argument, NULL, O_OUT },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

/*
 * Parse the command line into ${r}; return EX_OK, HELP_SHOWN, or an exit
 * code.
 */
static int
parse_args(int argc, char *argv[], struct run *r)
{
	char *comma;
	size_t n;
	int ch;

	r->r_conns = 16;
	r->r_requests = 1000;
	r->r_max_seconds = 60;
	r->r_label = "";
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_URL: r->r_url = optarg; break;
		case O_CA: r->r_ca = optarg; break;
		case O_ID:
			if (r->r_nids == MAX_IDS ||
			    (comma = strchr(optarg, ',')) == NULL) {
				fprintf(stderr, "refx-load: --id CERT,KEY (at "
				    "most %d)\n", MAX_IDS);
				return (EX_USAGE);
			}
			*comma = '\0';
			r->r_certs[r->r_nids] = optarg;
			r->r_keys[r->r_nids++] = comma + 1;
			break;
		case O_METHOD:
			if (strcmp(optarg, "POST") == 0)
				r->r_post = 1;
			else if (strcmp(optarg, "GET") != 0) {
				fprintf(stderr, "refx-load: --method GET or "
				    "POST\n");
				return (EX_USAGE);
			}
			break;
		case O_PATH:
			if (optarg[0] != '/' ||
			    lines_add(&r->r_paths, optarg, strlen(optarg)))
				return (EX_USAGE);
			break;
		case O_PATHS:
			if (lines_read(&r->r_paths, optarg, MAX_PATHS))
				return (EX_NOINPUT);
			break;
		case O_BODIES:
			if (lines_read(&r->r_bodies, optarg, MAX_REQUESTS))
				return (EX_NOINPUT);
			r->r_have_bodies = 1;
			break;
		case O_CONNS:
			if (number(optarg, 1, MAX_CONNS, &r->r_conns))
				return (EX_USAGE);
			break;
		case O_REQUESTS:
			if (number(optarg, 1, MAX_REQUESTS, &r->r_requests))
				return (EX_USAGE);
			break;
		case O_MAXSEC:
			if (number(optarg, 1, 3600, &n))
				return (EX_USAGE);
			r->r_max_seconds = (double)n;
			break;
		case O_FRESH: r->r_fresh = 1; break;
		case O_WARMUP: r->r_warmup = 1; break;
		case O_IDLE:
			if (number(optarg, 0, 600, &n))
				return (EX_USAGE);
			r->r_idle = (double)n;
			r->r_warmup = 1;
			break;
		case O_LABEL: r->r_label = optarg; break;
		case O_OUT: r->r_out = optarg; break;
		case O_HELP:
			usage(stdout);
			return (HELP_SHOWN);
		default:
			return (EX_USAGE);
		}
	}
	if (optind != argc || r->r_url == NULL || r->r_ca == NULL ||
	    r->r_nids == 0 || (r->r_paths.l_n == 0 && !r->r_have_bodies))
		return (EX_USAGE);
	if (r->r_post && !r->r_have_bodies) {
		fprintf(stderr, "refx-load: POST needs --bodies\n");
		return (EX_USAGE);
	}
	if (r->r_have_bodies) {
		/* Each body once; warm-up requests would use some up. */
		if (r->r_warmup) {
			fprintf(stderr, "refx-load: --bodies and --warmup "
			    "do not mix\n");
			return (EX_USAGE);
		}
		if (r->r_requests > r->r_bodies.l_n)
			r->r_requests = r->r_bodies.l_n;
		if (r->r_requests == 0) {
			fprintf(stderr, "refx-load: no bodies\n");
			return (EX_DATAERR);
		}
	}
	if (r->r_paths.l_n == 0 && lines_add(&r->r_paths, "/", 1))
		return (EX_OSERR);
	if (r->r_conns > r->r_requests)
		r->r_conns = r->r_requests;
	return (EX_OK);
}

int
main(int argc, char *argv[])
{
	struct run r;
	struct slot *slots = NULL;
	CURLM *m = NULL;
	FILE *f;
	size_t i, next = 0, warm = 0;
	double t0, t1, deadline;
	struct timespec nap;
	int ex;

	memset(&r, 0, sizeof(r));
	if ((ex = parse_args(argc, argv, &r)) != EX_OK) {
		if (ex == HELP_SHOWN)
			ex = EX_OK;
		else if (ex == EX_USAGE)
			usage(stderr);
		goto out0;
	}
	ex = EX_SOFTWARE;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto out0;
	if ((r.r_lat_ms = calloc(r.r_requests, sizeof(*r.r_lat_ms))) == NULL ||
	    (slots = calloc(r.r_conns, sizeof(*slots))) == NULL ||
	    (m = curl_multi_init()) == NULL)
		goto out1;
	/* No "Expect: 100-continue" round trip, as the CLI. */
	if ((r.r_hdr = curl_slist_append(NULL, "Expect:")) == NULL ||
	    curl_slist_append(r.r_hdr, "Accept: application/json") == NULL ||
	    (r.r_post && curl_slist_append(r.r_hdr,
	    "Content-Type: application/json") == NULL))
		goto out1;
	(void)curl_multi_setopt(m, CURLMOPT_MAXCONNECTS,
	    (long)(r.r_conns * 2));
	for (i = 0; i < r.r_conns; i++) {
		if ((slots[i].s_curl = curl_easy_init()) == NULL ||
		    slot_setup(&r, &slots[i], i) != CURLE_OK) {
			fprintf(stderr, "refx-load: cannot set up libcurl\n");
			goto out1;
		}
	}

	/* Warm-up: one request per connection, the first path, untimed. */
	if (r.r_warmup) {
		for (i = 0; i < r.r_conns; i++)
			if (slot_start(&r, m, &slots[i], 0, 0))
				goto out1;
		if (drive(&r, m, &warm, 0, 0, now_s() + r.r_max_seconds))
			goto out1;
		if (r.r_idle > 0) {
			nap.tv_sec = (time_t)r.r_idle;
			nap.tv_nsec = 0;
			while (nanosleep(&nap, &nap) == -1 && errno == EINTR)
				continue;
		}
	}

	/* The timed phase. */
	t0 = now_s();
	deadline = t0 + r.r_max_seconds;
	for (i = 0; i < r.r_conns && next < r.r_requests; i++) {
		if (slot_start(&r, m, &slots[i], next++, 1))
			goto out1;
		r.r_sent++;
	}
	if (drive(&r, m, &next, r.r_requests, 1, deadline))
		goto out1;
	t1 = now_s();

	qsort(r.r_lat_ms, r.r_ok, sizeof(*r.r_lat_ms), cmp_double);
	report(stdout, &r, t1 - t0);
	if (r.r_out != NULL) {
		if ((f = fopen(r.r_out, "we")) == NULL) {
			fprintf(stderr, "refx-load: %s: %s\n", r.r_out,
			    strerror(errno));
			ex = EX_CANTCREAT;
			goto out1;
		}
		report(f, &r, t1 - t0);
		if (fclose(f) == EOF) {
			ex = EX_IOERR;
			goto out1;
		}
	}
	ex = r.r_failed == 0 && r.r_warm_failed == 0 ? EX_OK : 1;

out1:
	for (i = 0; slots != NULL && i < r.r_conns; i++) {
		if (slots[i].s_curl == NULL)
			continue;
		if (m != NULL)
			curl_multi_remove_handle(m, slots[i].s_curl);
		curl_easy_cleanup(slots[i].s_curl);
	}
	if (m != NULL)
		curl_multi_cleanup(m);
	curl_slist_free_all(r.r_hdr);
	free(slots);
	free(r.r_lat_ms);
	curl_global_cleanup();
out0:
	lines_free(&r.r_paths);
	lines_free(&r.r_bodies);
	return (ex);
}
