/*
 * The case flow (docs/workflow.md): each referral runs one closed loop
 * per recipient unit, its "track":
 *
 *   submitted -> received -> accepted -> advised -> followed-up -> closed
 *                         \-> declined
 *   and the sender may cancel a track that is not yet answered in full.
 *
 * Every step is a row of case_events; the steps people take are signed
 * statements, checked here against the person on the connection, the
 * role and unit allowed the step, and the chain of the track's earlier
 * statements.  A step's message (advice, a decline's explanation, the
 * follow-up report) is ciphertext sealed to the units of the loop only;
 * what the school may be told at all is the policy's answer rule.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "refx/cert.h"
#include "refx/envelope.h"
#include "refx/policy.h"
#include "refx/secret.h"

#include "cases.h"
#include "clock.h"
#include "directory.h"
#include "handlers.h"
#include "store.h"

/*
 * Append a step the exchange itself observes (submitted, received) to
 * the track (${id}, ${track}) and make it the track's state.
 */
enum refx_err
case_event_observed(struct store_tx *tx, const char *id, const char *track,
    const char *event, const struct refx_identity *who, const char *now)
{
	enum refx_err err;

	if ((err = store_run(tx, "INSERT INTO case_events (referral_id, "
	    "track, seq, event, author_unit, author_person, at) VALUES "
	    "(?1, ?2, (SELECT count(*) FROM case_events WHERE referral_id = "
	    "?1 AND track = ?2), ?3, ?4, ?5, ?6)", "tttttt", id, track, event,
	    who->id_agency, who->id_person, now)))
		return (err);
	return (store_run(tx, "UPDATE referral_recipients SET state = ?, "
	    "last_entry_at = ? WHERE referral_id = ? AND recipient = ?",
	    "tttt", event, now, id, track));
}

/* The first pull by a caseworker of the track's unit is its receipt. */
enum refx_err
case_received(struct store_tx *tx, const char *id, const char *track,
    const struct refx_identity *who, const char *now)
{
	struct store_stmt *st;
	int submitted;

	st = store_query(tx, "SELECT state = 'submitted' FROM "
	    "referral_recipients WHERE referral_id = ? AND recipient = ?",
	    "tt", id, track);
	if (st == NULL)
		return (REFX_ESTORE);
	submitted = store_step(st) == STORE_ROW && store_col_int(st, 0) != 0;
	store_finalize(st);
	if (!submitted)
		return (REFX_OK);
	return (case_event_observed(tx, id, track, "received", who, now));
}
