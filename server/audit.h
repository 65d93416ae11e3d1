#ifndef REFXD_AUDIT_H
#define REFXD_AUDIT_H

/*
 * The audit log: one append-only Merkle log per unit plus a system log,
 * each with its own Ed25519 key (issued by refx-pki, certified by the
 * CA), and signed checkpoints in the C2SP tlog-checkpoint format.
 *
 * Entries are appended inside the caller's store transaction, so that an
 * audit entry commits if and only if the request's effect commits.  The
 * complete-subtree hashes are stored with each append (at most log2 n + 1
 * rows), so roots and proofs cost O(log n).
 */
#include <stddef.h>
#include <stdint.h>

#include "refx/audit.h"
#include "refx/err.h"

struct audit;
struct store;
struct store_tx;
struct json_t;

#define AUDIT_SYSTEM	"system"	/* the log of no unit */

/**
 * audit_open(st, keydir, err, errlen): Load the log keys from ${keydir}
 * (one "<unit>.key" per log, "system.key" for the system log).  Return
 * the audit context or NULL with a message.
 */
struct audit *audit_open(struct store *, const char *, char *, size_t);

/** audit_reload(a, err, errlen): Re-read the log keys (SIGHUP).  0 or -1. */
int audit_reload(struct audit *, char *, size_t);

/** audit_close(a): Stop the checkpoint thread and free; NULL is a no-op. */
void audit_close(struct audit *);

/**
 * audit_start(a, interval): Publish checkpoints every ${interval} seconds
 * for logs that grew.  Return 0 or -1.
 */
int audit_start(struct audit *, unsigned);

/**
 * audit_append(a, tx, e, units, nunits, fresh): Append entry ${e} to the
 * log of each unit in ${units} ("system" for the system log) inside
 * ${tx}; its index and salt are set per log.  With ${fresh}, a new event
 * id and time are set first; without, those of ${e} are kept, so that
 * the twin entries in other units' logs share them.  Return REFX_OK or
 * REFX_ESTORE (the caller must then roll back and answer 503).
 */
enum refx_err audit_append(struct audit *, struct store_tx *,
    struct refx_audit_entry *, const char *const *, size_t, int);

/**
 * audit_set_source(a, fn, cookie): Before each round of checkpoints, the
 * publisher calls ${fn}(${cookie}, a, tx) in a write transaction of its
 * own, to append entries gathered elsewhere (refused handshakes).
 */
void audit_set_source(struct audit *, int (*)(void *, struct audit *,
    struct store_tx *), void *);

/**
 * audit_publish(a, unit): Sign and store a checkpoint for ${unit}'s log
 * if it grew since the last one.  Return 0 or -1.
 */
int audit_publish(struct audit *, const char *);

/**
 * audit_publish_tx(a, tx, unit): As audit_publish, inside ${tx} (for a
 * checkpoint on demand).  Return 0 or -1.
 */
int audit_publish_tx(struct audit *, struct store_tx *, const char *);

/**
 * audit_log_json(a, tx, unit, from, to, out): The entries [from, to) of
 * ${unit}'s log (base64), its latest checkpoint, its size, origin and
 * certificate, as a JSON object in ${out}.  Return REFX_OK,
 * REFX_ENOTFOUND, or REFX_ESTORE.
 */
enum refx_err audit_log_json(struct audit *, struct store_tx *, const char *,
    uint64_t, uint64_t, struct json_t **);

/** audit_logs_json(a, tx, out): Every log's unit, origin and size. */
enum refx_err audit_logs_json(struct audit *, struct store_tx *,
    struct json_t **);

#endif /* !REFXD_AUDIT_H */
