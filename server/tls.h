#ifndef REFXD_TLS_H
#define REFXD_TLS_H

/*
 * Client-certificate verification for refxd (GnuTLS).  This module and
 * http.c are the only ones that see GnuTLS types; sessions are passed as
 * void * so that callers need not include <gnutls/gnutls.h>.
 *
 * Two checks, both against the exchange CA and the current CRL:
 *  1. during the handshake (tls_session_setup installs a verify
 *     function and requires a certificate), so a client without a valid
 *     certificate of our PKI never gets an HTTP exchange at all;
 *  2. once per connection, at its first request (tls_peer_identify),
 *     as defence in depth should the handshake hook ever be bypassed;
 *     the identity is then cached for the connection's later requests.
 * After a CRL reload, tls_peer_current() rechecks cached identities by
 * serial, so a revoked person loses even an open keep-alive connection.
 */
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "refx/identity.h"

struct tls;

/* What the server knows about the peer of one connection. */
struct tls_peer {
	int			 tp_identified;
	struct refx_identity	 tp_id;
	time_t			 tp_not_after;
	unsigned		 tp_generation;	/* CRL generation checked */
	char			 tp_version[16];	/* "TLS1.3" */
};

/* A unit as listed in the directory, parsed from its certificate. */
struct tls_unit {
	char		 tu_id[REFX_AGENCY_ID_MAX + 1];
	char		 tu_kind[16];
	char		 tu_name[REFX_NAME_MAX + 1];
	char		 tu_fingerprint[2 * REFX_FINGERPRINT_LEN + 1];
	char		 tu_not_after[32];
	const char	*tu_pem;	/* points into the caller's bundle */
	size_t		 tu_pem_len;
};

/** tls_priorities(): The GnuTLS priority string: TLS 1.3 only. */
const char *tls_priorities(void);

/**
 * tls_open(ca, crl, err, errlen): Load the CA and CRL files.  Return the
 * context or NULL with a message in ${err}.  Only one context may exist:
 * the handshake hook reaches it through a module variable.
 */
struct tls *tls_open(const char *, const char *, char *, size_t);

/**
 * tls_reload(t, err, errlen): Re-read the CA and CRL files and swap them
 * in atomically; on failure keep the old ones.  Return 0 or -1.
 */
int tls_reload(struct tls *, char *, size_t);

/** tls_close(t): Free ${t}; NULL is a no-op. */
void tls_close(struct tls *);

/**
 * tls_session_setup(t, session): Require a client certificate on the
 * GnuTLS ${session} and verify it during the handshake.  Return 0 or -1.
 */
int tls_session_setup(struct tls *, void *);

/**
 * tls_peer_identify(t, session, peer, why): Verify the peer of ${session}
 * again and fill ${peer}.  Return 0, or -1 with a static reason in ${why}.
 */
int tls_peer_identify(struct tls *, void *, struct tls_peer *,
    const char **);

/**
 * tls_peer_current(t, peer, why): Cheap per-request check that a cached
 * identity is still valid (not expired, not revoked by a CRL loaded
 * since).  Return 0 or -1 with a static reason in ${why}.
 */
int tls_peer_current(struct tls *, struct tls_peer *, const char **);

/** tls_refusals(t): Handshakes refused by the verify hook so far. */
unsigned long tls_refusals(struct tls *);

/**
 * tls_refusal_note(t, fingerprint, reason): Count a refused connection
 * under (${fingerprint}, ${reason}); ${fingerprint} may be NULL (no
 * certificate).  ${reason} must be a static string.  The table is
 * bounded: a flood of distinct certificates is counted in one bucket.
 */
void tls_refusal_note(struct tls *, const uint8_t *, const char *);

/**
 * tls_refusals_drain(t, cb, cookie): Hand each counted (fingerprint,
 * reason, count) to ${cb} and reset the counts.  If ${cb} fails, the
 * remaining counts are kept for the next drain.  Return 0 or -1.
 */
int tls_refusals_drain(struct tls *, int (*)(void *, const uint8_t *,
    const char *, unsigned long), void *);

/**
 * tls_units_parse(t, pem, len, cb, cookie): Split the PEM bundle ${pem}
 * into unit encryption certificates, verify each against the CA, CRL and
 * the unit EKU, and call ${cb} for each valid one (invalid ones are
 * logged and skipped).  Return the number of units or -1.
 */
int tls_units_parse(struct tls *, const char *, size_t,
    int (*)(void *, const struct tls_unit *), void *);

#endif /* !REFXD_TLS_H */
