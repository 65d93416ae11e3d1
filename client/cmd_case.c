/*
 * refx case ...: the closed loop of a referral (docs/workflow.md).
 *
 * Every step a person takes is a statement signed with their own key,
 * naming the referral, the loop (the recipient unit), its place in the
 * loop and the hash of the loop's previous signed step.  Before signing
 * on top of a loop, and before showing one, refx checks every signed
 * step it is shown against the exchange CA: the server cannot invent,
 * reorder or alter a step without it showing.  A step's message is
 * sealed, like a referral field, to the two units of the loop only.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "refx/cert.h"
#include "refx/envelope.h"
#include "refx/file.h"
#include "refx/identity.h"
#include "refx/log.h"
#include "refx/schema.h"
#include "refx/secret.h"

#include "cmd.h"
#include "directory.h"

#define CASE_ANSWER_MAX		(8 * 1024 * 1024)
#define LIST_ANSWER_MAX		(16 * 1024 * 1024)
#define STEP_ANSWER_MAX		(64 * 1024)
#define MESSAGE_TEXT_MAX	(32 * 1024)	/* bytes of a message */
#define CASE_PATH_LEN		(sizeof("/v1/cases//follow-up") + \
				    REFX_REFERRAL_ID_LEN)
#define MESSAGE_FIELD		"message"

enum {
	OPT_JSON = 256,
	OPT_REASON,
	OPT_OUTCOME,
	OPT_MESSAGE,
	OPT_MESSAGE_FILE,
	OPT_TO,
};

/* What a step command was asked to do. */
struct step_req {
	const char	*st_verb;	/* accept, decline, ... */
	const char	*st_event;	/* accepted, declined, ... */
	int		 st_by_sender;
	const char	*st_id;
	const char	*st_to;		/* --to, or NULL */
	const char	*st_code;	/* --reason / --outcome */
	char		*st_text;	/* the message, or NULL (owned) */
	size_t		 st_text_len;
};

/* One loop as shown by the server, after checking. */
struct loop {
	json_t		*lp_track;	/* borrowed from the answer */
	const char	*lp_unit;
	const char	*lp_state;
	int64_t		 lp_seq;	/* events so far */
	char		 lp_head[65];	/* hash of the last signed step */
};

/* The string member ${key} of ${o}, or NULL (then also if null). */
static const char *
str_or_null(json_t *o, const char *key, size_t max, int *bad)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return (NULL);
	if (cmd_json_str(o, key, max) == NULL)
		*bad = 1;
	return (cmd_json_str(o, key, max));
}

/* Is ${v} the string ${s}? */
static int
str_is(json_t *v, const char *s)
{

	return (s != NULL && json_is_string(v) &&
	    strcmp(json_string_value(v), s) == 0);
}

/* Decode the base64 member ${key} of ${o}; NULL if absent or bad. */
static uint8_t *
b64_of(json_t *o, const char *key, size_t max, size_t *len)
{
	const char *s = json_string_value(json_object_get(o, key));
	uint8_t *out;

	if (s == NULL || refx_b64_decode(s, max, &out, len))
		return (NULL);
	return (out);
}

/*
 * Check one signed step against the CA: its certificate is a person's
 * of this exchange whose subject is the author, its signature verifies,
 * and the statement says what the row says, chained to ${prev}.
 */
static int
check_signed(const struct directory *dir, const char *id, const char *unit,
    json_t *ev, const char *prev, char head[65], char *err, size_t errlen)
{
	struct refx_identity who;
	struct x509_st *cert = NULL;
	uint8_t *stmt = NULL, *sig = NULL, *blob = NULL;
	size_t stlen, siglen, bloblen;
	const char *pem, *why, *code, *s;
	json_t *st = NULL, *author, *m, *mm;
	char sha[65];
	int rc = -1, bad = 0;

	pem = cmd_json_str(ev, "certificate", 16 * 1024);
	if (pem == NULL || (stmt = b64_of(ev, "statement", 8 * 1024,
	    &stlen)) == NULL || (sig = b64_of(ev, "signature", REFX_SIG_LEN,
	    &siglen)) == NULL || siglen != REFX_SIG_LEN) {
		snprintf(err, errlen, "a signed step lacks its statement, "
		    "signature or certificate");
		goto out;
	}
	if ((cert = refx_cert_parse_pem((const uint8_t *)pem,
	    strlen(pem))) == NULL ||
	    refx_cert_verify(dir->d_ca, NULL, cert, REFX_CERT_PERSON, &why) !=
	    REFX_OK || refx_cert_person(cert, &who, &why) != REFX_OK) {
		snprintf(err, errlen, "a step's certificate is not a person's "
		    "of this exchange");
		goto out;
	}
	if (refx_verify_ctx(cert, REFX_CASE_CONTEXT, stmt, stlen, sig) != REFX_OK) {
		snprintf(err, errlen, "a step's signature does not verify");
		goto out;
	}
	if ((st = json_loadb((const char *)stmt, stlen,
	    JSON_REJECT_DUPLICATES, NULL)) == NULL) {
		snprintf(err, errlen, "a step's statement is not JSON");
		goto out;
	}
	author = json_object_get(st, "author");
	code = str_or_null(ev, "code", 64, &bad);
	s = json_string_value(json_object_get(st, "code"));
	if (!json_is_integer(json_object_get(st, "seq")) ||
	    json_integer_value(json_object_get(st, "seq")) !=
	    json_integer_value(json_object_get(ev, "seq")) ||
	    json_integer_value(json_object_get(st, "v")) != 1 ||
	    !str_is(json_object_get(st, "type"), "refx-case-step") ||
	    !str_is(json_object_get(st, "referral"), id) ||
	    !str_is(json_object_get(st, "track"), unit) ||
	    !str_is(json_object_get(st, "prev"), prev) ||
	    !str_is(json_object_get(st, "event"),
	    json_string_value(json_object_get(ev, "event"))) ||
	    !json_equal(author, json_object_get(ev, "author")) ||
	    !str_is(json_object_get(author, "unit"), who.id_agency) ||
	    !str_is(json_object_get(author, "person"), who.id_person) || bad ||
	    (code == NULL) != (s == NULL) ||
	    (code != NULL && strcmp(code, s) != 0)) {
		snprintf(err, errlen, "step %lld: the signed statement does "
		    "not say what the exchange shows",
		    (long long)json_integer_value(json_object_get(ev, "seq")));
		goto out;
	}
	/* The message shown is the one signed for (unless deleted). */
	m = json_object_get(ev, "message");
	mm = json_object_get(st, "message");
	if (json_is_object(m) != json_is_object(mm) || (json_is_object(m) &&
	    !json_equal(json_object_get(m, "id"),
	    json_object_get(mm, "id")))) {
		snprintf(err, errlen, "a step's message is not the one signed");
		goto out;
	}
	if (json_is_object(m) && json_is_string(json_object_get(m, "blob"))) {
		if ((blob = b64_of(m, "blob", 64 * 1024, &bloblen)) == NULL)
			goto badmsg;
		refx_sha256_hex(blob, bloblen, sha);
		if (!str_is(json_object_get(mm, "sha256"), sha))
			goto badmsg;
	}
	refx_sha256_hex(stmt, stlen, head);
	rc = 0;
	goto out;
badmsg:
	snprintf(err, errlen, "a step's message is not the one signed");
out:
	json_decref(st);
	free(blob);
	free(sig);
	free(stmt);
	refx_cert_free(cert);
	return (rc);
}

/*
 * Check a loop as the server shows it: steps numbered from 0, the
 * exchange's own observations (submitted, received) unsigned, every
 * other step signed and chained.  Fill ${lp}.
 */
static int
check_loop(const struct directory *dir, const char *id, json_t *track,
    struct loop *lp, char *err, size_t errlen)
{
	json_t *events, *ev;
	const char *event;
	size_t i;
	int observed;

	memset(lp, 0, sizeof(*lp));
	lp->lp_track = track;
	lp->lp_unit = cmd_json_str(track, "unit", REFX_AGENCY_ID_MAX);
	lp->lp_state = cmd_json_str(track, "state", 16);
	events = json_object_get(track, "events");
	if (lp->lp_unit == NULL || !refx_agency_id_valid(lp->lp_unit) ||
	    lp->lp_state == NULL || !json_is_array(events)) {
		snprintf(err, errlen, "the exchange's answer is malformed");
		return (-1);
	}
	snprintf(lp->lp_head, sizeof(lp->lp_head), "%s", REFX_CASE_GENESIS);
	json_array_foreach(events, i, ev) {
		event = cmd_json_str(ev, "event", 16);
		if (event == NULL || json_integer_value(json_object_get(ev,
		    "seq")) != (json_int_t)i) {
			snprintf(err, errlen, "the steps of %s are not "
			    "numbered in order", lp->lp_unit);
			return (-1);
		}
		observed = strcmp(event, "submitted") == 0 ||
		    strcmp(event, "received") == 0;
		if (observed != json_is_null(json_object_get(ev,
		    "statement"))) {
			snprintf(err, errlen, "step %zu (%s) of %s: %s", i,
			    event, lp->lp_unit, observed ? "the exchange "
			    "shows a signature it cannot have" : "unsigned");
			return (-1);
		}
		if (!observed && check_signed(dir, id, lp->lp_unit, ev,
		    lp->lp_head, lp->lp_head, err, errlen))
			return (-1);
	}
	if (json_array_size(events) > 0 && !str_is(json_object_get(
	    json_array_get(events, json_array_size(events) - 1), "event"),
	    lp->lp_state)) {
		snprintf(err, errlen, "the state of %s is not its last step",
		    lp->lp_unit);
		return (-1);
	}
	lp->lp_seq = (int64_t)json_array_size(events);
	return (0);
}

/* GET /v1/cases/ID and check every loop in it. */
static int
fetch_case(struct cmd_ctx *c, const struct directory *dir, const char *id,
    json_t **ans, struct loop *loops, size_t max, size_t *n)
{
	char path[CASE_PATH_LEN], err[256];
	json_t *tracks, *t;
	size_t i;
	int ex;

	*n = 0;
	snprintf(path, sizeof(path), "/v1/cases/%s", id);
	if ((ex = cmd_call(c, NET_GET, path, NULL, CASE_ANSWER_MAX, ans)) !=
	    EX_OK)
		return (ex);
	tracks = json_object_get(*ans, "tracks");
	if (!json_is_array(tracks) || json_array_size(tracks) > max ||
	    !str_is(json_object_get(*ans, "id"), id) ||
	    cmd_json_str(*ans, "sender", REFX_AGENCY_ID_MAX) == NULL) {
		log_warnx("case %s: the exchange's answer is malformed", id);
		return (EX_PROTOCOL);
	}
	json_array_foreach(tracks, i, t) {
		if (check_loop(dir, id, t, &loops[i], err, sizeof(err))) {
			log_warnx("case %s failed verification: %s", id, err);
			return (EX_DATAERR);
		}
		*n = i + 1;
	}
	return (EX_OK);
}

/* Read the message of a step from --message or --message-file. */
static int
read_message(const char *text, const char *file, char **out, size_t *len)
{
	uint8_t *data;
	size_t n;

	*out = NULL;
	*len = 0;
	if (text == NULL && file == NULL)
		return (EX_OK);
	if (text != NULL && file != NULL) {
		log_warnx("give --message or --message-file, not both");
		return (EX_USAGE);
	}
	if (text != NULL) {
		n = strlen(text);
		if ((data = (uint8_t *)strdup(text)) == NULL) {
			log_warnx("out of memory");
			return (EX_OSERR);
		}
	} else if (refx_file_read(file, MESSAGE_TEXT_MAX, &data, &n)) {
		log_warn("%s", file);
		return (EX_NOINPUT);
	}
	if (n == 0 || n > MESSAGE_TEXT_MAX ||
	    !refx_utf8_valid((const char *)data, n, 1)) {
		log_warnx("the message must be 1 to %d bytes of UTF-8 text "
		    "without control characters", MESSAGE_TEXT_MAX);
		refx_wipe(data, n);
		free(data);
		return (EX_DATAERR);
	}
	*out = (char *)data;
	*len = n;
	return (EX_OK);
}

/*
 * Seal ${text} to the two units of the loop, like a referral field: a
 * fresh key, XChaCha20-Poly1305 under the message id, the key sealed to
 * each unit.  Fill the statement's and the body's message parts.
 */
static int
seal_message(const struct directory *dir, const char *units[2],
    const char *text, size_t len, json_t *decl, json_t *body)
{
	uint8_t key[REFX_FIELD_KEY_LEN], *blob = NULL, *sealed = NULL;
	struct refx_keyset *ks = NULL;
	const struct dir_unit *u;
	char id[REFX_REFERRAL_ID_LEN + 1], sha[65], *b64 = NULL;
	json_t *envs, *to, *msg;
	size_t bloblen, slen, i;
	int ex = EX_SOFTWARE;

	refx_referral_id_new(id);
	refx_random(key, sizeof(key));
	if ((ks = refx_keyset_new()) == NULL ||
	    refx_keyset_add(ks, MESSAGE_FIELD, key) ||
	    refx_field_seal(id, MESSAGE_FIELD, key, (const uint8_t *)text,
	    len, &blob, &bloblen))
		goto out;
	refx_sha256_hex(blob, bloblen, sha);
	if ((b64 = refx_b64_encode(blob, bloblen)) == NULL ||
	    (msg = json_pack("{s:s, s:[]}", "blob", b64, "envelopes")) ==
	    NULL)
		goto out;
	json_object_set_new(body, "message", msg);
	envs = json_object_get(msg, "envelopes");
	if ((to = json_array()) == NULL ||
	    json_object_set_new(decl, "to", to) ||
	    json_object_set_new(decl, "id", json_string(id)) ||
	    json_object_set_new(decl, "sha256", json_string(sha)))
		goto out;
	for (i = 0; i < 2; i++) {
		if ((ex = directory_usable(dir, units[i], &u)) != EX_OK)
			goto out;
		ex = EX_SOFTWARE;
		if (refx_envelope_seal(id, units[i], ks, u->du_pk, &sealed,
		    &slen))
			goto out;
		free(b64);
		b64 = refx_b64_encode(sealed, slen);
		free(sealed);
		sealed = NULL;
		if (b64 == NULL || json_array_append_new(to,
		    json_string(units[i])) || json_array_append_new(envs,
		    json_pack("{s:s, s:s}", "unit", units[i], "sealed", b64)))
			goto out;
	}
	ex = EX_OK;
out:
	if (ex == EX_SOFTWARE)
		log_warnx("could not seal the message");
	refx_wipe(key, sizeof(key));
	refx_keyset_free(ks);
	free(sealed);
	free(b64);
	free(blob);
	return (ex);
}

/* Which loop a step is for: ours, or the sender's choice among them. */
static struct loop *
pick_loop(const struct step_req *sr, const char *me, struct loop *loops,
    size_t n, const char *const *states)
{
	struct loop *found = NULL;
	size_t i, j, candidates = 0;

	for (i = 0; i < n; i++) {
		if (!sr->st_by_sender) {
			if (strcmp(loops[i].lp_unit, me) == 0)
				return (&loops[i]);
			continue;
		}
		if (sr->st_to != NULL) {
			if (strcmp(loops[i].lp_unit, sr->st_to) == 0)
				return (&loops[i]);
			continue;
		}
		for (j = 0; states[j] != NULL; j++)
			if (strcmp(loops[i].lp_state, states[j]) == 0) {
				found = &loops[i];
				candidates++;
			}
	}
	if (sr->st_by_sender && sr->st_to == NULL && candidates > 1) {
		log_warnx("case %s: %zu recipients could take this step; "
		    "name one with --to UNIT", sr->st_id, candidates);
		return (NULL);
	}
	if (!sr->st_by_sender)
		log_warnx("case %s: your unit (%s) is not one of its "
		    "recipients", sr->st_id, me);
	else if (found == NULL)
		log_warnx("case %s: %s", sr->st_id, sr->st_to != NULL ?
		    "--to names none of its recipients" : "no recipient is "
		    "in a state where this step can be taken");
	return (found);
}

/* Build, sign and send one step; print where the loop stands. */
static int
send_step(struct cmd_ctx *c, const struct step_req *sr,
    const struct directory *dir, const struct dir_me *me, struct loop *lp,
    const char *sender)
{
	uint8_t sig[REFX_SIG_LEN];
	char path[CASE_PATH_LEN], *pem = NULL, *pass = NULL, *stmt = NULL;
	char *b64s = NULL, *b64g = NULL;
	const char *units[2] = { sender, lp->lp_unit };
	json_t *st = NULL, *body = NULL, *decl = NULL, *ans = NULL;
	const char *state, *due;
	int ex;

	if ((ex = cmd_own_cert(c, me, &pem)) != EX_OK)
		goto out;
	if (c->c_cf.cc_passfile[0] != '\0' &&
	    (ex = cmd_passphrase_file(c->c_cf.cc_passfile, &pass)) != EX_OK)
		goto out;
	ex = EX_OSERR;
	st = json_pack("{s:i, s:s, s:s, s:s, s:I, s:s, s:s, s:{s:s, s:s}, "
	    "s:s?, s:n}", "v", 1, "type", "refx-case-step", "referral",
	    sr->st_id, "track", lp->lp_unit, "seq", (json_int_t)lp->lp_seq,
	    "prev", lp->lp_head, "event", sr->st_event, "author", "unit",
	    me->dm_unit, "person", me->dm_person, "code", sr->st_code,
	    "message");
	if (st == NULL || (body = json_object()) == NULL)
		goto oom;
	if (json_object_get(st, "code") == NULL &&
	    json_object_set_new(st, "code", json_null()))
		goto oom;
	if (sr->st_text != NULL) {
		if ((decl = json_object()) == NULL)
			goto oom;
		if ((ex = seal_message(dir, units, sr->st_text,
		    sr->st_text_len, decl, body)) != EX_OK)
			goto out;
		ex = EX_OSERR;
		if (json_object_set(st, "message", decl))
			goto oom;
	}
	/* Canonical bytes: the server stores and shows exactly these. */
	if ((stmt = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		goto oom;
	if (refx_sign_ctx(c->c_cf.cc_key, pass, REFX_CASE_CONTEXT,
	    (const uint8_t *)stmt, strlen(stmt), sig)) {
		log_warnx("could not sign with %s", c->c_cf.cc_key);
		ex = EX_CONFIG;
		goto out;
	}
	if ((b64s = refx_b64_encode((const uint8_t *)stmt, strlen(stmt))) ==
	    NULL || (b64g = refx_b64_encode(sig, sizeof(sig))) == NULL ||
	    json_object_set_new(body, "statement", json_string(b64s)) ||
	    json_object_set_new(body, "signature", json_string(b64g)) ||
	    json_object_set_new(body, "certificate", json_string(pem)))
		goto oom;
	snprintf(path, sizeof(path), "/v1/cases/%s/%s", sr->st_id,
	    sr->st_verb);
	if ((ex = cmd_call(c, NET_POST, path, body, STEP_ANSWER_MAX, &ans)) !=
	    EX_OK)
		goto out;
	state = cmd_json_str(ans, "state", 16);
	if (state == NULL || strcmp(state, sr->st_event) != 0) {
		log_warnx("case %s: the exchange's answer is malformed",
		    sr->st_id);
		ex = EX_PROTOCOL;
		goto out;
	}
	if (c->c_json) {
		ex = cmd_print_json(ans);
		goto out;
	}
	due = cmd_json_str(ans, "follow_up_due", 10);
	printf("case %s: %s is now %s", sr->st_id, lp->lp_unit, state);
	if (due != NULL)
		printf("; the school's follow-up report is due by %s", due);
	printf("\n");
	ex = EX_OK;
	goto out;
oom:
	log_warnx("out of memory");
out:
	json_decref(ans);
	json_decref(decl);
	json_decref(body);
	json_decref(st);
	free(b64g);
	free(b64s);
	free(stmt);
	cmd_passphrase_free(pass);
	free(pem);
	return (ex);
}

/* The steps: the verb, the event, who, from which states. */
static const struct {
	const char	*verb;
	const char	*event;
	int		 by_sender;
	int		 code;		/* 0 none, 1 --reason, 2 --outcome */
	int		 message;
	const char	*from[5];
} steps[] = {
	{ "accept", "accepted", 0, 0, 0, { "received", NULL } },
	{ "decline", "declined", 0, 1, 1, { "received", NULL } },
	{ "advise", "advised", 0, 2, 1, { "accepted", NULL } },
	{ "follow-up", "followed-up", 1, 0, 1, { "advised", NULL } },
	{ "close", "closed", 0, 0, 0, { "followed-up", NULL } },
	{ "cancel", "cancelled", 1, 0, 0, { "submitted", "received",
	    "accepted", "advised", NULL } },
};

/*
 * refx case accept|decline|advise|follow-up|close|cancel ID [--reason
 * CODE] [--outcome CODE] [--message TEXT | --message-file FILE] [--to
 * UNIT] [--json]
 */
static int
case_step(struct cmd_ctx *c, int argc, char **argv, size_t which)
{
	static const struct option o[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "reason", required_argument, NULL, OPT_REASON },
		{ "outcome", required_argument, NULL, OPT_OUTCOME },
		{ "message", required_argument, NULL, OPT_MESSAGE },
		{ "message-file", required_argument, NULL, OPT_MESSAGE_FILE },
		{ "to", required_argument, NULL, OPT_TO },
		{ NULL, 0, NULL, 0 },
	};
	struct loop loops[REFX_MAX_RECIPIENTS + 1], *lp;
	struct directory *dir = NULL;
	struct step_req sr;
	struct dir_me me;
	const char *text = NULL, *file = NULL, *reason = NULL;
	const char *outcome = NULL;
	json_t *ans = NULL;
	size_t n;
	int ch, ex;

	memset(&sr, 0, sizeof(sr));
	sr.st_verb = steps[which].verb;
	sr.st_event = steps[which].event;
	sr.st_by_sender = steps[which].by_sender;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", o, NULL)) != -1) {
		switch (ch) {
		case OPT_JSON:
			c->c_json = 1;
			break;
		case OPT_REASON:
			reason = optarg;
			break;
		case OPT_OUTCOME:
			outcome = optarg;
			break;
		case OPT_MESSAGE:
			text = optarg;
			break;
		case OPT_MESSAGE_FILE:
			file = optarg;
			break;
		case OPT_TO:
			sr.st_to = optarg;
			break;
		default:
			return (cmd_opt_error(argv, ch));
		}
	}
	if ((ex = cmd_operands(argc, argv, optind, 1, "ID")) != 0 ||
	    (ex = cmd_check_id(argv, "referral", argv[optind])) != 0)
		return (ex);
	sr.st_id = argv[optind];
	if ((reason != NULL && steps[which].code != 1) ||
	    (outcome != NULL && steps[which].code != 2) ||
	    ((text != NULL || file != NULL) && !steps[which].message) ||
	    (sr.st_to != NULL && !steps[which].by_sender)) {
		log_warnx("%s: that option does not go with this step (see "
		    "refx case --help)", argv[0]);
		return (EX_USAGE);
	}
	if (sr.st_to != NULL && !refx_agency_id_valid(sr.st_to)) {
		log_warnx("%s: --to must be a unit id", argv[0]);
		return (EX_USAGE);
	}
	sr.st_code = steps[which].code == 1 ? reason : outcome;
	if (steps[which].code != 0 && sr.st_code == NULL) {
		log_warnx("%s: needs %s CODE", argv[0], steps[which].code == 1 ?
		    "--reason" : "--outcome");
		return (EX_USAGE);
	}
	if ((ex = read_message(text, file, &sr.st_text, &sr.st_text_len)) !=
	    EX_OK)
		return (ex);

	if ((ex = directory_me(c, &me)) != EX_OK ||
	    (ex = directory_fetch(c, &dir, NULL)) != EX_OK ||
	    (ex = fetch_case(c, dir, sr.st_id, &ans, loops,
	    sizeof(loops) / sizeof(loops[0]), &n)) != EX_OK)
		goto out;
	if ((lp = pick_loop(&sr, me.dm_unit, loops, n,
	    steps[which].from)) == NULL) {
		ex = EX_DATAERR;
		goto out;
	}
	ex = send_step(c, &sr, dir, &me, lp, cmd_json_str(ans, "sender",
	    REFX_AGENCY_ID_MAX));
out:
	json_decref(ans);
	directory_free(dir);
	if (sr.st_text != NULL) {
		refx_wipe(sr.st_text, sr.st_text_len);
		free(sr.st_text);
	}
	return (ex);
}

int
cmd_case_accept(struct cmd_ctx *c, int argc, char **argv)
{
	return (case_step(c, argc, argv, 0));
}

int
cmd_case_decline(struct cmd_ctx *c, int argc, char **argv)
{
	return (case_step(c, argc, argv, 1));
}

int
cmd_case_advise(struct cmd_ctx *c, int argc, char **argv)
{
	return (case_step(c, argc, argv, 2));
}

int
cmd_case_follow_up(struct cmd_ctx *c, int argc, char **argv)
{
	return (case_step(c, argc, argv, 3));
}

int
cmd_case_close(struct cmd_ctx *c, int argc, char **argv)
{
	return (case_step(c, argc, argv, 4));
}

int
cmd_case_cancel(struct cmd_ctx *c, int argc, char **argv)
{
	return (case_step(c, argc, argv, 5));
}

/* --- status ------------------------------------------------------------- */

/*
 * Open a step's message sealed to our unit.  Return the text (caller
 * wipes and frees), or NULL with ${why} set (deleted, not for us, or
 * does not open: the last is an error the caller reports).
 */
static char *
open_message(json_t *m, const char *unit, const uint8_t *pk,
    const uint8_t *sk, const char **why, int *bad)
{
	struct refx_keyset *ks = NULL;
	uint8_t *blob = NULL, *sealed = NULL, *pt = NULL;
	size_t bloblen, slen, ptlen = 0;
	const char *id = cmd_json_str(m, "id", REFX_REFERRAL_ID_LEN);
	const uint8_t *key;
	char *text = NULL;

	*why = NULL;
	if ((blob = b64_of(m, "blob", 64 * 1024, &bloblen)) == NULL) {
		*why = "deleted at the end of retention";
		goto out;
	}
	if ((sealed = b64_of(m, "sealed", 4 * 1024, &slen)) == NULL) {
		*why = "not sealed to your unit";
		goto out;
	}
	*bad = 1;
	*why = "does not open with your unit key";
	if (id == NULL || refx_envelope_open(sealed, slen, pk, sk, id, unit,
	    &ks) != REFX_OK || (key = refx_keyset_get(ks,
	    MESSAGE_FIELD)) == NULL || refx_field_open(id, MESSAGE_FIELD,
	    key, blob, bloblen, &pt, &ptlen))
		goto out;
	if (!refx_utf8_valid((const char *)pt, ptlen, 1) ||
	    (text = strdup((const char *)pt)) == NULL)
		goto out;
	*bad = 0;
	*why = NULL;
out:
	refx_secret_free(pt, ptlen);
	refx_keyset_free(ks);
	free(sealed);
	free(blob);
	return (text);
}

/* Does any step of the answer carry a message sealed to us? */
static int
has_sealed_message(json_t *ans)
{
	json_t *t, *ev, *m;
	size_t i, j;

	json_array_foreach(json_object_get(ans, "tracks"), i, t)
		json_array_foreach(json_object_get(t, "events"), j, ev) {
			m = json_object_get(ev, "message");
			if (json_is_string(json_object_get(m, "sealed")))
				return (1);
		}
	return (0);
}

/* Print one loop for people. */
static void
print_loop(const struct loop *lp)
{
	char b[4 * 64 + 1];
	json_t *ev, *m;
	const char *s;
	size_t i;

	printf("  %s (%s): %s", lp->lp_unit,
	    cmd_escape(b, sizeof(b), json_string_value(json_object_get(
	    lp->lp_track, "kind"))), lp->lp_state);
	if ((s = json_string_value(json_object_get(lp->lp_track,
	    "follow_up_due"))) != NULL)
		printf(", follow-up due %s", cmd_escape(b, sizeof(b), s));
	if ((s = json_string_value(json_object_get(lp->lp_track,
	    "purged_at"))) != NULL)
		printf(", records deleted %s", cmd_escape(b, sizeof(b), s));
	printf("\n");
	json_array_foreach(json_object_get(lp->lp_track, "events"), i, ev) {
		printf("    %-20s  %-12s", cmd_escape(b, sizeof(b),
		    json_string_value(json_object_get(ev, "at"))),
		    json_string_value(json_object_get(ev, "event")));
		printf("  %s", cmd_escape(b, sizeof(b), json_string_value(
		    json_object_get(json_object_get(ev, "author"), "person"))));
		printf(" (%s)", cmd_escape(b, sizeof(b), json_string_value(
		    json_object_get(json_object_get(ev, "author"), "unit"))));
		if ((s = json_string_value(json_object_get(ev, "code"))) !=
		    NULL)
			printf("  %s", cmd_escape(b, sizeof(b), s));
		printf("%s\n", json_is_null(json_object_get(ev, "statement")) ?
		    "" : "  [signed]");
		m = json_object_get(ev, "message");
		if ((s = json_string_value(json_object_get(m, "text"))) !=
		    NULL) {
			printf("      message:\n");
			cmd_print_lines(stdout, 8, s);
		} else if ((s = json_string_value(json_object_get(m,
		    "not_shown"))) != NULL)
			printf("      message: not shown (%s)\n", s);
	}
}

/* refx case status ID [--json]: where each loop stands, checked. */
int
cmd_case_status(struct cmd_ctx *c, int argc, char **argv)
{
	struct loop loops[REFX_MAX_RECIPIENTS + 1];
	uint8_t pk[REFX_X25519_KEY_LEN], sk[REFX_X25519_KEY_LEN];
	struct directory *dir = NULL;
	const struct dir_unit *own;
	struct dir_me me;
	const char *id, *why;
	char *text, b[4 * 64 + 1];
	json_t *ans = NULL, *t, *ev, *m;
	size_t n, i, j;
	int ex, bad = 0, keyed = 0;

	if ((ex = cmd_json_operands(c, argc, argv, 1, "ID")) != 0 ||
	    (ex = cmd_check_id(argv, "referral", argv[optind])) != 0)
		return (ex);
	id = argv[optind];
	if ((ex = directory_me(c, &me)) != EX_OK ||
	    (ex = directory_fetch(c, &dir, NULL)) != EX_OK ||
	    (ex = fetch_case(c, dir, id, &ans, loops,
	    sizeof(loops) / sizeof(loops[0]), &n)) != EX_OK)
		goto out;

	/* Open the messages sealed to us, with the unit key. */
	if (has_sealed_message(ans)) {
		own = directory_get(dir, me.dm_unit);
		if ((ex = cmd_unitkey(c, me.dm_unit, own != NULL &&
		    own->du_ok ? own->du_pk : NULL, pk, sk)) != EX_OK)
			goto out;
		keyed = 1;
	}
	json_array_foreach(json_object_get(ans, "tracks"), i, t)
		json_array_foreach(json_object_get(t, "events"), j, ev) {
			m = json_object_get(ev, "message");
			if (!json_is_object(m))
				continue;
			why = json_is_string(json_object_get(m, "blob")) ?
			    "not sealed to your unit" :
			    "deleted at the end of retention";
			text = keyed ? open_message(m, me.dm_unit, pk, sk,
			    &why, &bad) : NULL;
			if (bad) {
				log_warnx("case %s failed verification: a "
				    "message %s", id, why);
				ex = EX_DATAERR;
				goto out;
			}
			json_object_del(m, "sealed");
			json_object_del(m, "blob");
			if (text != NULL) {
				json_object_set_new(m, "text",
				    json_string(text));
				refx_wipe(text, strlen(text));
				free(text);
			} else
				json_object_set_new(m, "not_shown",
				    json_string(why ? why :
				    "not sealed to your unit"));
		}

	if (c->c_json) {
		json_object_set_new(ans, "verified", json_true());
		ex = cmd_print_json(ans);
		goto out;
	}
	printf("case %s, sent by %s on %s\n", id, cmd_escape(b, sizeof(b),
	    json_string_value(json_object_get(ans, "sender"))),
	    cmd_escape(b + 128, sizeof(b) - 128, json_string_value(
	    json_object_get(ans, "basis"))));
	for (i = 0; i < n; i++)
		print_loop(&loops[i]);
	printf("every signed step verified\n");
	ex = EX_OK;
out:
	refx_wipe(sk, sizeof(sk));
	json_decref(ans);
	directory_free(dir);
	return (ex);
}

/* --- list and overdue --------------------------------------------------- */

static int
case_rows(struct cmd_ctx *c, int argc, char **argv, const char *path)
{
	char b[6][4 * 64 + 1];
	const char *id, *unit, *state, *due;
	json_t *ans = NULL, *list, *e;
	size_t i;
	int ex;

	if ((ex = cmd_json_operands(c, argc, argv, 0, "")) != 0)
		return (ex);
	if ((ex = cmd_call(c, NET_GET, path, NULL, LIST_ANSWER_MAX, &ans)) !=
	    EX_OK)
		return (ex);
	list = json_object_get(ans, "cases");
	if (!json_is_array(list)) {
		log_warnx("the exchange's answer is malformed");
		ex = EX_PROTOCOL;
		goto out;
	}
	if (c->c_json) {
		ex = cmd_print_json(ans);
		goto out;
	}
	if (json_array_size(list) == 0)
		printf("%s\n", strcmp(path, "/v1/cases") == 0 ? "no cases" :
		    "no overdue follow-ups");
	json_array_foreach(list, i, e) {
		id = json_string_value(json_object_get(e, "id"));
		unit = json_string_value(json_object_get(e, "unit"));
		state = json_string_value(json_object_get(e, "state"));
		due = json_string_value(json_object_get(e, "follow_up_due"));
		printf("%s  %s -> %s  %-12s  %s%s\n", cmd_escape(b[0],
		    sizeof(b[0]), id), cmd_escape(b[1], sizeof(b[1]),
		    json_string_value(json_object_get(e, "sender"))),
		    cmd_escape(b[2], sizeof(b[2]), unit), cmd_escape(b[3],
		    sizeof(b[3]), state), due ? "follow-up due " : "",
		    due ? cmd_escape(b[4], sizeof(b[4]), due) : "");
		if (json_is_true(json_object_get(e, "overdue")))
			printf("    OVERDUE: the school's follow-up report is "
			    "late\n");
	}
	ex = EX_OK;
out:
	json_decref(ans);
	return (ex);
}

/* refx case list [--json]: the loops of our unit, with due dates. */
int
cmd_case_list(struct cmd_ctx *c, int argc, char **argv)
{
	return (case_rows(c, argc, argv, "/v1/cases"));
}

/* refx case overdue [--json]: advised loops whose follow-up is late. */
int
cmd_case_overdue(struct cmd_ctx *c, int argc, char **argv)
{
	return (case_rows(c, argc, argv, "/v1/cases/overdue"));
}
