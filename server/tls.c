#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "refx/file.h"
#include "refx/identity.h"
#include "refx/log.h"
#include "refx/secret.h"

#include "tls.h"

#define PEM_MAX		(4 * 1024 * 1024)	/* CA, CRL, directory files */
#define CHAIN_MAX	4			/* peer certificates accepted */

/*
 * TLS 1.3 only (the default "NORMAL" admits TLS 1.0), the three TLS 1.3
 * AEAD suites and the groups of Mozilla's "modern" profile.
 */
static const char priorities[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:"
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"
    "-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1";

/* A revoked serial, without leading zero bytes. */
struct serial {
	size_t	s_len;
	uint8_t	s_bytes[REFX_SERIAL_MAX + 1];
};

/* One generation of trust: swapped whole on reload, freed when unused. */
struct trust {
	gnutls_x509_trust_list_t tr_list;
	gnutls_x509_crt_t	 tr_ca;		/* for CRL checks */
	struct serial		*tr_revoked;
	size_t			 tr_nrevoked;
	unsigned		 tr_generation;
	unsigned		 tr_refs;
};

/* Refused handshakes, counted per (fingerprint, reason) until drained. */
#define REFUSALS_MAX	256
struct refusal {
	uint8_t		 rf_fp[REFX_FINGERPRINT_LEN];	/* zero: none */
	const char	*rf_reason;
	unsigned long	 rf_count;
};

/*
 * A client certificate the handshake just verified, so that the first
 * request of its connection need not verify the chain again (a tenth of
 * a new connection's CPU in the benchmark).  Valid only under the trust
 * generation it was verified in; expiry is checked per request anyway.
 */
#define VERIFIED_MAX	64
struct verified {
	uint8_t			 v_fp[REFX_FINGERPRINT_LEN];
	unsigned		 v_generation;
	int			 v_set;
	struct refx_identity	 v_id;
	time_t			 v_not_after;
};

struct tls {
	pthread_mutex_t	 t_lock;
	struct verified	 t_verified[VERIFIED_MAX];	/* under t_lock */
	size_t		 t_verified_next;
	struct refusal	 t_refused[REFUSALS_MAX];	/* under t_lock */
	size_t		 t_nrefused;
	struct trust	*t_trust;	/* current; under t_lock */
	char		*t_ca_path;
	char		*t_crl_path;
	unsigned	 t_generation;
	atomic_ulong	 t_refusals;
};

/* The handshake hook has no user pointer: it finds the context here. */
static struct tls *the_tls;

/* The key purpose every person certificate must carry. */
static gnutls_typed_vdata_st purpose_client = {
	GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0
};

/** tls_priorities(): The GnuTLS priority string: TLS 1.3 only. */
const char *
tls_priorities(void)
{

	return (priorities);
}

/* Copy a serial, dropping the leading zeros DER may add. */
static void
serial_set(struct serial *s, const uint8_t *b, size_t len)
{

	while (len > 1 && b[0] == 0) {
		b++;
		len--;
	}
	if (len > sizeof(s->s_bytes))
		len = sizeof(s->s_bytes);
	memcpy(s->s_bytes, b, len);
	s->s_len = len;
}

static void
trust_free(struct trust *tr)
{

	if (tr == NULL)
		return;
	if (tr->tr_list != NULL)
		gnutls_x509_trust_list_deinit(tr->tr_list, 1);
	if (tr->tr_ca != NULL)
		gnutls_x509_crt_deinit(tr->tr_ca);
	free(tr->tr_revoked);
	free(tr);
}

/* Take a reference to the current trust generation. */
static struct trust *
trust_get(struct tls *t)
{
	struct trust *tr;

	pthread_mutex_lock(&t->t_lock);
	tr = t->t_trust;
	tr->tr_refs++;
	pthread_mutex_unlock(&t->t_lock);
	return (tr);
}

static void
trust_put(struct tls *t, struct trust *tr)
{
	int last;

	pthread_mutex_lock(&t->t_lock);
	last = (--tr->tr_refs == 0);
	pthread_mutex_unlock(&t->t_lock);
	if (last)
		trust_free(tr);
}

/* Read the revoked serials of a CRL that ${ca} has signed. */
static int
load_revoked(struct trust *tr, const gnutls_datum_t *crl_pem, char *err,
    size_t errlen)
{
	gnutls_x509_crl_t crl;
	unsigned int verify = 0;
	int i, n;
	uint8_t serial[64];
	size_t slen;
	time_t next;

	if (gnutls_x509_crl_init(&crl) < 0) {
		snprintf(err, errlen, "out of memory");
		goto err0;
	}
	if (gnutls_x509_crl_import(crl, crl_pem, GNUTLS_X509_FMT_PEM) < 0) {
		snprintf(err, errlen, "CRL is not a PEM X.509 CRL");
		goto err1;
	}
	if (gnutls_x509_crl_verify(crl, &tr->tr_ca, 1, 0, &verify) < 0 ||
	    verify != 0) {
		snprintf(err, errlen, "CRL is not signed by the CA");
		goto err1;
	}
	next = gnutls_x509_crl_get_next_update(crl);
	if (next != (time_t)-1 && next < time(NULL))
		log_warnx("tls: CRL is past its next update: "
		    "issue a new one with refx-pki crl");
	if ((n = gnutls_x509_crl_get_crt_count(crl)) < 0) {
		snprintf(err, errlen, "CRL cannot be read");
		goto err1;
	}
	if (n > 0 && (tr->tr_revoked = calloc((size_t)n,
	    sizeof(*tr->tr_revoked))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err1;
	}
	for (i = 0; i < n; i++) {
		slen = sizeof(serial);
		if (gnutls_x509_crl_get_crt_serial(crl, (unsigned)i, serial,
		    &slen, NULL) < 0) {
			snprintf(err, errlen, "CRL entry %d cannot be read", i);
			goto err1;
		}
		serial_set(&tr->tr_revoked[i], serial, slen);
	}
	tr->tr_nrevoked = (size_t)n;
	gnutls_x509_crl_deinit(crl);
	return (0);

err1:
	gnutls_x509_crl_deinit(crl);
err0:
	return (-1);
}

/* Build a trust generation from the CA and CRL files. */
static struct trust *
trust_load(const char *ca_path, const char *crl_path, char *err,
    size_t errlen)
{
	struct trust *tr;
	uint8_t *ca = NULL, *crl = NULL;
	size_t calen, crllen;
	gnutls_datum_t cad, crld;
	int n;

	if ((tr = calloc(1, sizeof(*tr))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err0;
	}
	if (refx_file_read(ca_path, PEM_MAX, &ca, &calen)) {
		snprintf(err, errlen, "[tls] ca: %s: %s", ca_path,
		    strerror(errno));
		goto err1;
	}
	if (refx_file_read(crl_path, PEM_MAX, &crl, &crllen)) {
		snprintf(err, errlen, "[tls] crl: %s: %s", crl_path,
		    strerror(errno));
		goto err2;
	}
	cad.data = ca;
	cad.size = (unsigned)calen;
	crld.data = crl;
	crld.size = (unsigned)crllen;

	/* The CA alone, for checking the CRL and parsing units. */
	if (gnutls_x509_crt_init(&tr->tr_ca) < 0 ||
	    gnutls_x509_crt_import(tr->tr_ca, &cad, GNUTLS_X509_FMT_PEM) < 0) {
		snprintf(err, errlen, "[tls] ca: %s: not a PEM certificate",
		    ca_path);
		goto err3;
	}
	if (load_revoked(tr, &crld, err, errlen)) {
		char why[128];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "[tls] crl: %s: %s", crl_path, why);
		goto err3;
	}
	if (gnutls_x509_trust_list_init(&tr->tr_list, 0) < 0) {
		snprintf(err, errlen, "out of memory");
		goto err3;
	}
	/* The CRL is verified against the CA as it is added. */
	n = gnutls_x509_trust_list_add_trust_mem(tr->tr_list, &cad, &crld,
	    GNUTLS_X509_FMT_PEM, GNUTLS_TL_VERIFY_CRL, 0);
	if (n < 1) {
		snprintf(err, errlen, "[tls] ca: %s: cannot be used as a trust "
		    "anchor", ca_path);
		goto err3;
	}
	free(ca);
	free(crl);
	return (tr);

err3:
	free(crl);
err2:
	free(ca);
err1:
	trust_free(tr);
err0:
	return (NULL);
}

/** tls_open(ca, crl, err, errlen): Load the CA and CRL files. */
struct tls *
tls_open(const char *ca_path, const char *crl_path, char *err, size_t errlen)
{
	struct tls *t;

	if (the_tls != NULL) {
		snprintf(err, errlen, "tls context already open");
		goto err0;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err0;
	}
	if (pthread_mutex_init(&t->t_lock, NULL))
		goto err1;
	if ((t->t_ca_path = strdup(ca_path)) == NULL ||
	    (t->t_crl_path = strdup(crl_path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err2;
	}
	if ((t->t_trust = trust_load(ca_path, crl_path, err, errlen)) == NULL)
		goto err2;
	t->t_trust->tr_refs = 1;
	t->t_trust->tr_generation = t->t_generation = 1;
	atomic_init(&t->t_refusals, 0);
	the_tls = t;
	return (t);

err2:
	free(t->t_crl_path);
	free(t->t_ca_path);
	pthread_mutex_destroy(&t->t_lock);
err1:
	free(t);
err0:
	return (NULL);
}

/** tls_reload(t, err, errlen): Re-read the CA and CRL files. */
int
tls_reload(struct tls *t, char *err, size_t errlen)
{
	struct trust *tr, *old;

	if ((tr = trust_load(t->t_ca_path, t->t_crl_path, err, errlen)) == NULL)
		return (-1);
	tr->tr_refs = 1;
	pthread_mutex_lock(&t->t_lock);
	old = t->t_trust;
	tr->tr_generation = ++t->t_generation;
	t->t_trust = tr;
	pthread_mutex_unlock(&t->t_lock);
	trust_put(t, old);
	return (0);
}

/** tls_close(t): Free ${t}; NULL is a no-op. */
void
tls_close(struct tls *t)
{

	if (t == NULL)
		return;
	if (the_tls == t)
		the_tls = NULL;
	trust_put(t, t->t_trust);
	free(t->t_crl_path);
	free(t->t_ca_path);
	pthread_mutex_destroy(&t->t_lock);
	free(t);
}

/** tls_refusals(t): Handshakes refused by the verify hook so far. */
unsigned long
tls_refusals(struct tls *t)
{

	return (atomic_load(&t->t_refusals));
}

/* Count ${n} refusals under (fingerprint, reason). */
static void
note_n(struct tls *t, const uint8_t *fp, const char *reason, unsigned long n);

/** tls_refusal_note(t, fingerprint, reason): Count a refused connection. */
void
tls_refusal_note(struct tls *t, const uint8_t *fp, const char *reason)
{

	note_n(t, fp, reason, 1);
}

static void
note_n(struct tls *t, const uint8_t *fp, const char *reason, unsigned long n)
{
	uint8_t zero[REFX_FINGERPRINT_LEN] = { 0 };
	size_t i;

	if (fp == NULL)
		fp = zero;
	pthread_mutex_lock(&t->t_lock);
	for (i = 0; i < t->t_nrefused; i++)
		if (memcmp(t->t_refused[i].rf_fp, fp, sizeof(zero)) == 0 &&
		    strcmp(t->t_refused[i].rf_reason, reason) == 0)
			break;
	if (i == t->t_nrefused) {
		if (i == REFUSALS_MAX) {
			/* Full: the last bucket takes every newcomer. */
			i = REFUSALS_MAX - 1;
			memset(t->t_refused[i].rf_fp, 0, sizeof(zero));
			t->t_refused[i].rf_reason = "many distinct refusals "
			    "(aggregated)";
		} else {
			memcpy(t->t_refused[i].rf_fp, fp, sizeof(zero));
			t->t_refused[i].rf_reason = reason;
			t->t_refused[i].rf_count = 0;
			t->t_nrefused++;
		}
	}
	t->t_refused[i].rf_count += n;
	pthread_mutex_unlock(&t->t_lock);
}

/** tls_refusals_drain(t, cb, cookie): Hand over and reset the counts. */
int
tls_refusals_drain(struct tls *t, int (*cb)(void *, const uint8_t *,
    const char *, unsigned long), void *cookie)
{
	struct refusal batch[REFUSALS_MAX];
	size_t n, i;

	pthread_mutex_lock(&t->t_lock);
	n = t->t_nrefused;
	memcpy(batch, t->t_refused, n * sizeof(batch[0]));
	t->t_nrefused = 0;
	pthread_mutex_unlock(&t->t_lock);
	for (i = 0; i < n; i++)
		if (cb(cookie, batch[i].rf_fp, batch[i].rf_reason,
		    batch[i].rf_count)) {
			/* Put back what was not recorded. */
			for (; i < n; i++)
				note_n(t, batch[i].rf_fp, batch[i].rf_reason,
				    batch[i].rf_count);
			return (-1);
		}
	return (0);
}

/* A short, stable reason for a GnuTLS verification status. */
static const char *
status_reason(unsigned int status)
{

	if (status & GNUTLS_CERT_REVOKED)
		return ("certificate revoked");
	if (status & GNUTLS_CERT_EXPIRED)
		return ("certificate expired");
	if (status & GNUTLS_CERT_NOT_ACTIVATED)
		return ("certificate not yet valid");
	if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND |
	    GNUTLS_CERT_SIGNER_NOT_CA))
		return ("certificate not issued by this exchange's CA");
	if (status & GNUTLS_CERT_PURPOSE_MISMATCH)
		return ("certificate not for client authentication");
	if (status & GNUTLS_CERT_SIGNATURE_FAILURE)
		return ("certificate signature invalid");
	if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
		return ("certificate uses an insecure algorithm");
	return ("certificate not trusted");
}

/* Import up to CHAIN_MAX peer certificates; return how many or -1. */
static int
import_chain(const gnutls_datum_t *raw, unsigned n, gnutls_x509_crt_t *crts)
{
	unsigned i;

	if (n > CHAIN_MAX)
		n = CHAIN_MAX;
	for (i = 0; i < n; i++) {
		if (gnutls_x509_crt_init(&crts[i]) < 0)
			goto err;
		if (gnutls_x509_crt_import(crts[i], &raw[i],
		    GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(crts[i]);
			goto err;
		}
	}
	return ((int)n);
err:
	while (i-- > 0)
		gnutls_x509_crt_deinit(crts[i]);
	return (-1);
}

static void
free_chain(gnutls_x509_crt_t *crts, int n)
{

	while (n-- > 0)
		gnutls_x509_crt_deinit(crts[n]);
}

/*
 * Copy the single value of attribute ${oid} from ${dn} into ${out}.
 * Fail if it is absent, repeated, not a UTF8String or PrintableString,
 * holds a NUL, or does not fit.
 */
static int
dn_get_one(gnutls_x509_dn_t dn, const char *oid, char *out, size_t outlen)
{
	gnutls_x509_ava_st ava;
	int irdn, iava, found = 0, rc;
	size_t oidlen = strlen(oid);

	for (irdn = 0; irdn < 64; irdn++) {
		for (iava = 0; iava < 8; iava++) {
			rc = gnutls_x509_dn_get_rdn_ava(dn, irdn, iava, &ava);
			if (rc == GNUTLS_E_ASN1_ELEMENT_NOT_FOUND)
				break;
			if (rc < 0)
				return (-1);
			/* GnuTLS counts the OID string's NUL in its size. */
			if ((ava.oid.size != oidlen &&
			    ava.oid.size != oidlen + 1) ||
			    memcmp(ava.oid.data, oid, oidlen) != 0 ||
			    (ava.oid.size == oidlen + 1 &&
			    ava.oid.data[oidlen] != '\0'))
				continue;
			if (found++)
				return (-1);		/* repeated */
			/* 12 = UTF8String, 19 = PrintableString. */
			if (ava.value_tag != 12 && ava.value_tag != 19)
				return (-1);
			if (ava.value.size >= outlen ||
			    memchr(ava.value.data, 0, ava.value.size) != NULL)
				return (-1);
			memcpy(out, ava.value.data, ava.value.size);
			out[ava.value.size] = '\0';
		}
		if (iava == 0)
			break;			/* no such RDN: end of the DN */
	}
	return (found == 1 ? 0 : -1);
}

/* Verify ${crts} against the current trust for ${purpose}. */
static int
verify_chain(struct tls *t, gnutls_x509_crt_t *crts, int n,
    gnutls_typed_vdata_st *purpose, const char **why)
{
	struct trust *tr;
	unsigned int status = 0;
	int rc;

	tr = trust_get(t);
	rc = gnutls_x509_trust_list_verify_crt2(tr->tr_list, crts,
	    (unsigned)n, purpose, purpose != NULL ? 1 : 0, 0, &status, NULL);
	trust_put(t, tr);
	/* A zero return does not mean trusted: only status == 0 does. */
	if (rc < 0) {
		*why = "certificate chain cannot be verified";
		return (-1);
	}
	if (status != 0) {
		*why = status_reason(status);
		return (-1);
	}
	return (0);
}

/* Fill ${id} from the subject of a verified person certificate. */
static int
person_identity(gnutls_x509_crt_t crt, struct refx_identity *id,
    time_t *not_after, const char **why)
{
	gnutls_x509_dn_t dn;
	char o[REFX_AGENCY_ID_MAX + 2], kind[32], ou[32];
	char uid[REFX_PERSON_ID_MAX + 2], cn[REFX_NAME_MAX + 2];
	size_t len;

	if (gnutls_x509_crt_get_subject(crt, &dn) < 0) {
		*why = "certificate subject cannot be read";
		return (-1);
	}
	if (dn_get_one(dn, REFX_OID_O, o, sizeof(o)) ||
	    dn_get_one(dn, REFX_OID_KIND, kind, sizeof(kind)) ||
	    dn_get_one(dn, REFX_OID_OU, ou, sizeof(ou)) ||
	    dn_get_one(dn, REFX_OID_UID, uid, sizeof(uid)) ||
	    dn_get_one(dn, REFX_OID_CN, cn, sizeof(cn))) {
		*why = "certificate subject lacks exactly one of O, "
		    "businessCategory, OU, UID, CN";
		return (-1);
	}
	if (refx_identity_from_subject(o, kind, ou, uid, cn, id, why))
		return (-1);
	len = sizeof(id->id_fingerprint);
	if (gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256,
	    id->id_fingerprint, &len) < 0 || len != REFX_FINGERPRINT_LEN) {
		*why = "certificate fingerprint cannot be computed";
		return (-1);
	}
	{
		uint8_t serial[64];
		struct serial s;

		len = sizeof(serial);
		if (gnutls_x509_crt_get_serial(crt, serial, &len) < 0) {
			*why = "certificate serial cannot be read";
			return (-1);
		}
		serial_set(&s, serial, len);
		if (s.s_len > sizeof(id->id_serial)) {
			*why = "certificate serial too long";
			return (-1);
		}
		memcpy(id->id_serial, s.s_bytes, s.s_len);
		id->id_serial_len = s.s_len;
	}
	*not_after = gnutls_x509_crt_get_expiration_time(crt);
	return (0);
}

/* Remember a certificate the handshake verified (see struct verified). */
static void
verified_note(struct tls *t, const struct refx_identity *id,
    time_t not_after, unsigned generation)
{
	struct verified *v;

	pthread_mutex_lock(&t->t_lock);
	v = &t->t_verified[t->t_verified_next++ % VERIFIED_MAX];
	memcpy(v->v_fp, id->id_fingerprint, sizeof(v->v_fp));
	v->v_generation = generation;
	v->v_id = *id;
	v->v_not_after = not_after;
	v->v_set = 1;
	pthread_mutex_unlock(&t->t_lock);
}

/*
 * Was the certificate with DER ${der} verified by a handshake under the
 * current trust generation?  Fill ${peer} and return 1 if so.
 */
static int
verified_find(struct tls *t, const gnutls_datum_t *der, struct tls_peer *peer)
{
	uint8_t fp[REFX_FINGERPRINT_LEN];
	size_t i;
	int found = 0;

	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, der->data, der->size, fp) < 0)
		return (0);
	pthread_mutex_lock(&t->t_lock);
	for (i = 0; i < VERIFIED_MAX && !found; i++) {
		struct verified *v = &t->t_verified[i];

		if (!v->v_set || v->v_generation != t->t_generation ||
		    !refx_ct_equal(v->v_fp, fp, sizeof(fp)))
			continue;
		peer->tp_id = v->v_id;
		peer->tp_not_after = v->v_not_after;
		peer->tp_generation = v->v_generation;
		found = 1;
	}
	pthread_mutex_unlock(&t->t_lock);
	return (found);
}

/*
 * The handshake hook: runs inside gnutls_handshake() when the client's
 * Certificate message arrives.  Non-zero aborts the handshake, so no
 * HTTP request of this connection is ever read.
 */
static int
verify_during_handshake(gnutls_session_t s)
{
	struct tls *t = the_tls;
	const gnutls_datum_t *raw;
	gnutls_x509_crt_t crts[CHAIN_MAX];
	struct refx_identity id;
	unsigned int n = 0, generation;
	time_t not_after;
	const char *why = "no client certificate";
	char fp[2 * REFX_FINGERPRINT_LEN + 1] = "-";
	int nc;

	if (t == NULL)
		return (-1);
	raw = gnutls_certificate_get_peers(s, &n);
	if (raw == NULL || n == 0)
		goto refuse;
	if ((nc = import_chain(raw, n, crts)) < 0) {
		why = "client certificate cannot be parsed";
		goto refuse;
	}
	memset(&id, 0, sizeof(id));
	pthread_mutex_lock(&t->t_lock);
	generation = t->t_generation;	/* at most the one verified with */
	pthread_mutex_unlock(&t->t_lock);
	if (verify_chain(t, crts, nc, &purpose_client, &why) == 0 &&
	    person_identity(crts[0], &id, &not_after, &why) == 0) {
		verified_note(t, &id, not_after, generation);
		free_chain(crts, nc);
		return (0);
	}
	{
		uint8_t d[REFX_FINGERPRINT_LEN];
		size_t len = sizeof(d);

		if (gnutls_x509_crt_get_fingerprint(crts[0],
		    GNUTLS_DIG_SHA256, d, &len) == 0 && len == sizeof(d)) {
			refx_hex(fp, sizeof(fp), d, len);
			tls_refusal_note(t, d, why);
		} else
			tls_refusal_note(t, NULL, why);
	}
	free_chain(crts, nc);
	atomic_fetch_add(&t->t_refusals, 1);
	log_warnx("tls: refused client certificate sha256:%s: %s", fp, why);
	return (-1);
refuse:
	tls_refusal_note(t, NULL, why);
	atomic_fetch_add(&t->t_refusals, 1);
	log_warnx("tls: refused client certificate sha256:%s: %s", fp, why);
	return (-1);
}

/** tls_session_setup(t, session): Require and verify a client cert. */
int
tls_session_setup(struct tls *t, void *session)
{
	gnutls_session_t s = session;

	(void)t;
	if (s == NULL)
		return (-1);
	gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
	gnutls_session_set_verify_function(s, verify_during_handshake);
	return (0);
}

/** tls_peer_identify(t, session, peer, why): Verify again, fill ${peer}. */
int
tls_peer_identify(struct tls *t, void *session, struct tls_peer *peer,
    const char **why)
{
	gnutls_session_t s = session;
	const gnutls_datum_t *raw;
	gnutls_x509_crt_t crts[CHAIN_MAX];
	unsigned int n = 0;
	int nc, rc = -1;

	memset(peer, 0, sizeof(*peer));
	if (s == NULL) {
		*why = "not a TLS connection";
		return (-1);
	}
	if (gnutls_protocol_get_version(s) != GNUTLS_TLS1_3) {
		*why = "TLS version below 1.3";
		return (-1);
	}
	raw = gnutls_certificate_get_peers(s, &n);
	if (raw == NULL || n == 0) {
		*why = "no client certificate";
		return (-1);
	}
	if (verified_find(t, &raw[0], peer)) {
		snprintf(peer->tp_version, sizeof(peer->tp_version), "TLS1.3");
		peer->tp_identified = 1;
		return (0);
	}
	if ((nc = import_chain(raw, n, crts)) < 0) {
		*why = "client certificate cannot be parsed";
		return (-1);
	}
	pthread_mutex_lock(&t->t_lock);
	peer->tp_generation = t->t_generation;
	pthread_mutex_unlock(&t->t_lock);
	if (verify_chain(t, crts, nc, &purpose_client, why) == 0 &&
	    person_identity(crts[0], &peer->tp_id, &peer->tp_not_after,
	    why) == 0) {
		snprintf(peer->tp_version, sizeof(peer->tp_version), "TLS1.3");
		peer->tp_identified = 1;
		rc = 0;
	}
	free_chain(crts, nc);
	return (rc);
}

/** tls_peer_current(t, peer, why): Cheap per-request recheck. */
int
tls_peer_current(struct tls *t, struct tls_peer *peer, const char **why)
{
	struct trust *tr;
	struct serial s;
	size_t i;
	int revoked = 0;

	if (!peer->tp_identified) {
		*why = "connection not authenticated";
		return (-1);
	}
	if (time(NULL) > peer->tp_not_after) {
		*why = "certificate expired";
		return (-1);
	}
	/* Cheap unless a CRL was loaded since this peer was checked. */
	pthread_mutex_lock(&t->t_lock);
	i = (t->t_generation == peer->tp_generation);
	pthread_mutex_unlock(&t->t_lock);
	if (i)
		return (0);
	serial_set(&s, peer->tp_id.id_serial, peer->tp_id.id_serial_len);
	tr = trust_get(t);
	for (i = 0; i < tr->tr_nrevoked; i++)
		if (tr->tr_revoked[i].s_len == s.s_len &&
		    memcmp(tr->tr_revoked[i].s_bytes, s.s_bytes, s.s_len) == 0)
			revoked = 1;
	peer->tp_generation = tr->tr_generation;
	trust_put(t, tr);
	if (revoked) {
		peer->tp_identified = 0;
		*why = "certificate revoked";
		return (-1);
	}
	return (0);
}

/** tls_units_parse(t, pem, len, cb, cookie): Parse a directory bundle. */
int
tls_units_parse(struct tls *t, const char *pem, size_t len,
    int (*cb)(void *, const struct tls_unit *), void *cookie)
{
	gnutls_x509_crt_t *crts = NULL;
	gnutls_x509_dn_t dn;
	gnutls_datum_t in, out;
	unsigned int n = 0, i, ku;
	struct tls_unit u;
	const char *why;
	uint8_t fp[REFX_FINGERPRINT_LEN];
	size_t fplen;
	time_t na;
	struct tm tm;
	int count = 0, rc = -1;

	if (len == 0)
		return (0);
	in.data = (unsigned char *)(uintptr_t)pem;
	in.size = (unsigned)len;
	if (gnutls_x509_crt_list_import2(&crts, &n, &in, GNUTLS_X509_FMT_PEM,
	    0) < 0) {
		log_warnx("directory: not a PEM certificate bundle");
		return (-1);
	}
	for (i = 0; i < n; i++) {
		memset(&u, 0, sizeof(u));
		/*
		 * GnuTLS 3.7 cannot match our UUID-arc EKU (its 128-bit arc
		 * overflows libtasn1's OID arcs), so check the chain without
		 * a purpose and require an X25519 key-agreement key instead;
		 * clients check the EKU itself with OpenSSL.
		 */
		if (verify_chain(t, &crts[i], 1, NULL, &why)) {
			log_warnx("directory: skipping unit certificate %u: %s",
			    i, why);
			continue;
		}
		if (gnutls_x509_crt_get_pk_algorithm(crts[i], NULL) !=
		    GNUTLS_PK_ECDH_X25519 ||
		    gnutls_x509_crt_get_key_usage(crts[i], &ku, NULL) < 0 ||
		    !(ku & GNUTLS_KEY_KEY_AGREEMENT)) {
			log_warnx("directory: skipping unit certificate %u: not "
			    "an X25519 key-agreement certificate", i);
			continue;
		}
		if (gnutls_x509_crt_get_subject(crts[i], &dn) < 0 ||
		    dn_get_one(dn, REFX_OID_O, u.tu_id, sizeof(u.tu_id)) ||
		    dn_get_one(dn, REFX_OID_KIND, u.tu_kind,
		    sizeof(u.tu_kind)) ||
		    dn_get_one(dn, REFX_OID_CN, u.tu_name, sizeof(u.tu_name)) ||
		    !refx_agency_id_valid(u.tu_id) ||
		    !refx_name_valid(u.tu_name)) {
			log_warnx("directory: skipping unit certificate %u: "
			    "bad subject", i);
			continue;
		}
		{
			enum refx_kind k;

			if (refx_kind_parse(u.tu_kind, &k)) {
				log_warnx("directory: skipping unit %s: bad "
				    "kind", u.tu_id);
				continue;
			}
		}
		fplen = sizeof(fp);
		if (gnutls_x509_crt_get_fingerprint(crts[i], GNUTLS_DIG_SHA256,
		    fp, &fplen) < 0)
			goto out;
		refx_hex(u.tu_fingerprint, sizeof(u.tu_fingerprint), fp,
		    sizeof(fp));
		na = gnutls_x509_crt_get_expiration_time(crts[i]);
		gmtime_r(&na, &tm);
		strftime(u.tu_not_after, sizeof(u.tu_not_after),
		    "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (gnutls_x509_crt_export2(crts[i], GNUTLS_X509_FMT_PEM,
		    &out) < 0)
			goto out;
		u.tu_pem = (const char *)out.data;
		u.tu_pem_len = out.size;
		rc = cb(cookie, &u);
		gnutls_free(out.data);
		if (rc)
			goto out;
		count++;
	}
	rc = count;
out:
	for (i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	return (rc < 0 ? -1 : rc);
}
