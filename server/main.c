/*
 * refxd: the refx exchange server.
 *
 * Start-up order: read the config, load TLS material, open the database,
 * bind, then drop privileges and serve.  Signals are taken synchronously
 * by the main thread: SIGHUP reloads the CRL and the directory, SIGTERM
 * and SIGINT finish the requests in flight and exit 0.  `refxd --purge`
 * starts the same way up to the database, drops privileges without
 * binding, runs the retention purge once and exits.
 */
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <jansson.h>

#include "refx/audit.h"
#include "refx/file.h"
#include "refx/policy.h"
#include "refx/log.h"
#include "refx/sandbox.h"
#include "refx/secret.h"

#include "audit.h"
#include "clock.h"
#include "config.h"
#include "directory.h"
#include "http.h"
#include "purge.h"
#include "server.h"
#include "store.h"
#include "tls.h"

#define PEM_MAX		(1024 * 1024)
#define SHUTDOWN_GRACE	10	/* seconds for requests in flight */

static void
usage(void)
{

	fprintf(stderr,
	    "usage: refxd [-t] [-v] [--purge] [-c config]\n"
	    "       refxd --version\n"
	    "  -c FILE  configuration (default /etc/refx/refxd.ini)\n"
	    "  -t       check the configuration and files, then exit\n"
	    "  -v       more logging\n"
	    "  --purge  delete what is past retention, then exit\n");
	exit(EX_USAGE);
}

/* Read a PEM file named by config key ${what}; NULL after logging. */
static char *
read_pem(const char *what, const char *path, size_t *lenp, int secret)
{
	uint8_t *data;
	size_t len;

	if (secret && refx_file_check_private(path)) {
		if (errno == EPERM)
			log_warnx("%s: %s: readable by group or others; "
			    "chmod 600 it", what, path);
		else
			log_warn("%s: %s", what, path);
		return (NULL);
	}
	if (refx_file_read(path, PEM_MAX, &data, &len)) {
		log_warn("%s: %s", what, path);
		return (NULL);
	}
	if (lenp != NULL)
		*lenp = len;
	return ((char *)data);
}

/* Give the database files to the unprivileged user we are to become. */
static int
chown_database(const char *db, uid_t uid, gid_t gid)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	char path[PATH_MAX], dir[PATH_MAX];
	size_t i;

	snprintf(dir, sizeof(dir), "%s", db);
	if (chown(dirname(dir), uid, gid) == -1) {
		log_warn("[storage] database: chown of its directory");
		return (-1);
	}
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", db, suffixes[i]);
		if (chown(path, uid, gid) == -1 && errno != ENOENT) {
			log_warn("[storage] database: chown %s", path);
			return (-1);
		}
	}
	return (0);
}

/* setgroups, setresgid, setresuid, each checked; then verify. */
static void
drop_privileges(const struct passwd *pw)
{

	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("cannot drop privileges to %s", pw->pw_name);
	if (setuid(0) != -1 || geteuid() == 0)
		fatalx("still root after dropping privileges");
	log_info("running as %s", pw->pw_name);
}

/* Block the signals the main thread will wait for (threads inherit). */
static void
block_signals(sigset_t *set)
{

	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, set, NULL))
		fatalx("cannot block signals");
	signal(SIGPIPE, SIG_IGN);
}

/* SIGHUP: new CRL (revocations) and directory, without a restart. */
static void
reload(struct server *sv)
{
	char err[512];

	if (tls_reload(sv->sv_tls, err, sizeof(err)))
		log_warnx("reload: keeping the old CRL: %s", err);
	else
		log_info("reload: CRL reloaded");
	if (audit_reload(sv->sv_audit, err, sizeof(err)))
		log_warnx("reload: keeping the old audit log keys: %s", err);
	if (directory_reload(sv->sv_dir, err, sizeof(err)))
		log_warnx("reload: keeping the old directory: %s", err);
	else
		log_info("reload: directory has %u units",
		    directory_count(sv->sv_dir));
}

/*
 * Refused handshakes, counted in tls.c, go into the system log as one
 * entry per (certificate fingerprint, reason) per checkpoint interval,
 * so that a flood of bad handshakes cannot flood the log.
 */
struct refusal_sink {
	struct server		*rs_sv;
	struct store_tx		*rs_tx;
	struct audit		*rs_audit;
};

static int
refusal_entry(void *cookie, const uint8_t *fp, const char *reason,
    unsigned long count)
{
	struct refusal_sink *rs = cookie;
	struct refx_audit_entry e;
	const char *unit[1] = { AUDIT_SYSTEM };

	memset(&e, 0, sizeof(e));
	e.ae_action = REFX_AUDIT_TLS_REFUSED;
	e.ae_outcome = REFX_AUDIT_DENIED;
	e.ae_actor_kind = 255;
	e.ae_actor_role = 255;
	memcpy(e.ae_actor_cert, fp, sizeof(e.ae_actor_cert));
	snprintf(e.ae_reason, sizeof(e.ae_reason), "%s", reason);
	e.ae_count = count > UINT32_MAX ? UINT32_MAX : (uint32_t)count;
	memcpy(e.ae_policy, refx_policy_hash(rs->rs_sv->sv_policy),
	    sizeof(e.ae_policy));
	return (audit_append(rs->rs_audit, rs->rs_tx, &e, unit, 1, 1) ==
	    REFX_OK ? 0 : -1);
}

static int
drain_refusals(void *cookie, struct audit *a, struct store_tx *tx)
{
	struct refusal_sink rs = { cookie, tx, a };

	return (tls_refusals_drain(rs.rs_sv->sv_tls, refusal_entry, &rs));
}

/* Load the disclosure policy and the answer to GET /v1/policy. */
static int
load_policy(struct server *sv, const char *cfpath)
{
	uint8_t *data;
	size_t len;
	char err[256], *b64;
	json_t *doc;

	if (refx_file_read(sv->sv_cfg->c_policy, REFX_POLICY_MAX, &data,
	    &len)) {
		log_warn("%s: [policy] file: %s", cfpath, sv->sv_cfg->c_policy);
		return (-1);
	}
	if ((sv->sv_policy = refx_policy_parse(data, len, err,
	    sizeof(err))) == NULL) {
		log_warnx("%s: [policy] file: %s: %s", cfpath,
		    sv->sv_cfg->c_policy, err);
		free(data);
		return (-1);
	}
	refx_hex(sv->sv_policy_hash, sizeof(sv->sv_policy_hash),
	    refx_policy_hash(sv->sv_policy), REFX_HASH_LEN);
	doc = json_loadb((const char *)data, len, 0, NULL);
	/* The exact bytes, so that clients can hash what they evaluate. */
	b64 = refx_b64_encode(data, len);
	free(data);
	sv->sv_policy_json = json_pack("{s:s, s:s, s:o, s:s?}", "version",
	    refx_policy_version(sv->sv_policy), "hash", sv->sv_policy_hash,
	    "document", doc, "bytes", b64);
	free(b64);
	if (sv->sv_policy_json == NULL)
		return (-1);
	log_info("policy %s sha256:%s", refx_policy_version(sv->sv_policy),
	    sv->sv_policy_hash);
	return (0);
}

/* Free what main() set up, in reverse order; NULL members are fine. */
static void
teardown(struct server *sv, struct http_tls *creds)
{

	audit_close(sv->sv_audit);
	store_close(sv->sv_store);
	json_decref(sv->sv_policy_json);
	refx_policy_free(sv->sv_policy);
	directory_close(sv->sv_dir);
	tls_close(sv->sv_tls);
	if (creds->ht_key_pem != NULL)
		refx_wipe(creds->ht_key_pem, creds->ht_key_len);
	free(creds->ht_key_pem);
	free(creds->ht_cert_pem);
	free(creds->ht_ca_pem);
	config_free(sv->sv_cfg);
}

int
main(int argc, char *argv[])
{
	const char *cfpath = "/etc/refx/refxd.ini";
	struct server sv;
	struct http_tls creds;
	struct http *h;
	struct passwd *pw = NULL;
	struct purger *pg = NULL;
	char err[CONFIG_ERR_LEN];
	sigset_t set;
	int i, check_only = 0, purge_only = 0, verbose = 1, sig;
	int rc = EX_CONFIG;

	log_init("refxd", 1);
	if (refx_crypto_init())
		fatalx("cannot initialise libsodium");
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			cfpath = argv[++i];
		else if (strcmp(argv[i], "-t") == 0)
			check_only = 1;
		else if (strcmp(argv[i], "-v") == 0)
			verbose++;
		else if (strcmp(argv[i], "--purge") == 0)
			purge_only = 1;
		else if (strcmp(argv[i], "--version") == 0) {
			printf("refxd %s\n", REFX_VERSION);
			return (0);
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			printf("refxd: the refx exchange server "
			    "(see refxd(8))\n");
			usage();
		} else
			usage();
	}
	log_init("refxd", verbose);
	log_set_timestamps(1);

	memset(&sv, 0, sizeof(sv));
	memset(&creds, 0, sizeof(creds));
	if ((sv.sv_cfg = config_load(cfpath, err)) == NULL) {
		log_warnx("%s", err);
		goto out;
	}
	if (geteuid() == 0) {
		if (sv.sv_cfg->c_user == NULL) {
			log_warnx("%s: refusing to run as root: set 'user' in "
			    "[server] to the account to drop to", cfpath);
			goto out;
		}
		if ((pw = getpwnam(sv.sv_cfg->c_user)) == NULL) {
			log_warnx("%s: [server] user: no such user '%s'",
			    cfpath, sv.sv_cfg->c_user);
			goto out;
		}
	}

	/* TLS material; the key only ever lives in this process's memory. */
	if ((creds.ht_key_pem = read_pem("[tls] key", sv.sv_cfg->c_key,
	    &creds.ht_key_len, 1)) == NULL ||
	    (creds.ht_cert_pem = read_pem("[tls] certificate",
	    sv.sv_cfg->c_cert, NULL, 0)) == NULL ||
	    (creds.ht_ca_pem = read_pem("[tls] ca", sv.sv_cfg->c_ca, NULL,
	    0)) == NULL)
		goto out;
	if ((sv.sv_tls = tls_open(sv.sv_cfg->c_ca, sv.sv_cfg->c_crl, err,
	    sizeof(err))) == NULL) {
		log_warnx("%s: %s", cfpath, err);
		goto out;
	}
	if ((sv.sv_dir = directory_open(sv.sv_tls, sv.sv_cfg->c_directory,
	    sv.sv_cfg->c_crl, err, sizeof(err))) == NULL) {
		log_warnx("%s: %s", cfpath, err);
		goto out;
	}
	if (load_policy(&sv, cfpath))
		goto out;
	if (clock_init() != 0)
		log_warnx("REFXD_TEST_CLOCK_OFFSET is set: the clock is shifted "
		    "by %ld s (for tests only)", clock_init());
	if (check_only) {
		printf("%s: configuration ok\n", cfpath);
		rc = 0;
		goto out;
	}

	if ((sv.sv_store = store_open(sv.sv_cfg->c_database,
	    sv.sv_cfg->c_threads, err)) == NULL) {
		log_warnx("%s", err);
		goto out;
	}
	if ((sv.sv_audit = audit_open(sv.sv_store, sv.sv_cfg->c_audit_keys,
	    err, sizeof(err))) == NULL) {
		log_warnx("%s: %s", cfpath, err);
		goto out;
	}
	if (pw != NULL && chown_database(sv.sv_cfg->c_database, pw->pw_uid,
	    pw->pw_gid)) {
		rc = EX_NOPERM;
		goto out;
	}
	if (purge_only) {
		/* As the service user, like the server: no root-owned files. */
		if (pw != NULL)
			drop_privileges(pw);
		if (refx_sandbox_enter(REFX_SANDBOX_SERVING))
			fatalx("cannot enter the sandbox");
		rc = purge_command(&sv);
		goto out;
	}
	sv.sv_started = time(NULL);
	atomic_init(&sv.sv_requests, 0);
	atomic_init(&sv.sv_refused, 0);

	block_signals(&set);
	if ((h = http_start(&sv, &creds, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		rc = EX_UNAVAILABLE;
		goto out;
	}
	free(creds.ht_key_pem);
	creds.ht_key_pem = NULL;
	creds.ht_key_len = 0;
	if (pw != NULL)
		drop_privileges(pw);
	if (refx_sandbox_enter(REFX_SANDBOX_SERVING))
		fatalx("cannot enter the sandbox");
	audit_set_source(sv.sv_audit, drain_refusals, &sv);
	if (audit_start(sv.sv_audit, sv.sv_cfg->c_checkpoint))
		fatalx("cannot start the checkpoint publisher");
	if (sv.sv_cfg->c_purge_interval != 0 && (pg = purge_start(&sv,
	    sv.sv_cfg->c_purge_interval)) == NULL)
		fatalx("cannot start the retention purge");
	log_info("listening on %s port %u (TLS 1.3, client certificates "
	    "required), %u units in directory, schema version %d",
	    sv.sv_cfg->c_listen, sv.sv_cfg->c_port,
	    directory_count(sv.sv_dir), store_schema_version(sv.sv_store));

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload(&sv);
			continue;
		}
		break;
	}
	log_info("shutting down: finishing requests in flight");
	http_stop(h, SHUTDOWN_GRACE);
	/* A purge in progress finishes its batch, records included. */
	purge_stop(pg);
	/* Last refusals and a final checkpoint of every log. */
	audit_close(sv.sv_audit);
	sv.sv_audit = NULL;
	log_info("stopped");
	rc = 0;
out:
	teardown(&sv, &creds);
	return (rc);
}
