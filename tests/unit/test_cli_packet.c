/*
 * Tests of refx's pure packet code (client/packet.c) and directory
 * verification (client/directory.c): consent files, the allowed fields
 * per recipient, the manifest, a submission built, signed, checked and
 * decrypted as a recipient would, and unit certificates checked against
 * the CA and CRL.
 *
 * Certificates are real ones made with refx-pki's pki/ca.c (included
 * here, as test_lib_cert does), in a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "refx/cert.h"
#include "refx/envelope.h"
#include "refx/file.h"
#include "refx/policy.h"
#include "refx/schema.h"
#include "refx/secret.h"

#include "../../client/directory.h"
#include "../../client/packet.h"

#include "../../pki/ca.c"

#define TODAY		"2026-11-23"
#define SCHOOL		"ludvika-school-1"
#define IFO		"ludvika-ifo-intake"
#define BUP		"dalarna-bup"
#define PERSON		"sara.lind"
#define CONSENT_ID	"00112233445566778899aabbccddeeff"
#define HASH		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
			"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* A consent file as refx(1) documents it. */
static const char consent_good[] =
    "{\"valid_until\": \"2027-06-30\",\n"
    " \"recipients\": [\n"
    "  {\"unit\": \"" IFO "\", \"classes\": [\"identity\", \"school\", "
    "\"home_situation\"], \"itemised\": []},\n"
    "  {\"unit\": \"" BUP "\", \"classes\": [\"identity\", \"diagnoses\"], "
    "\"itemised\": [\"diagnoses\"]}],\n"
    " \"parties\": [\n"
    "  {\"role\": \"guardian\", \"name\": \"Maria Svensson\", \"custody\": "
    "true, \"decision\": \"yes\", \"date\": \"2026-11-20\", \"method\": "
    "\"signed form at meeting\"},\n"
    "  {\"role\": \"guardian\", \"name\": \"Johan Svensson\", \"custody\": "
    "true, \"decision\": \"yes\", \"date\": \"2026-11-21\", \"method\": "
    "\"phone, confirmed in writing\"},\n"
    "  {\"role\": \"pupil\", \"name\": \"Elsa Svensson\", \"mature\": true, "
    "\"decision\": \"yes\", \"date\": \"2026-11-21\", \"method\": "
    "\"conversation with school counsellor\", \"maturity_assessment\": "
    "\"14 years old, understands what is shared\"}],\n"
    " \"notes\": \"first meeting\\nsecond line\"}\n";

/* A draft with five fields. */
static const char draft_json[] =
    "{\"schema\": \"refx-referral-1\", \"basis\": \"consent\",\n"
    " \"recipients\": [\"" IFO "\", \"" BUP "\"],\n"
    " \"fields\": {\n"
    "  \"identity\": {\"name\": \"Elsa Svensson\", \"personnummer\": "
    "\"20121015-1237\"},\n"
    "  \"school\": {\"school\": \"Ludvika skola 1\", \"class\": \"6B\"},\n"
    "  \"diagnoses\": [\"ADHD\"],\n"
    "  \"home_situation\": \"parents separated in spring\",\n"
    "  \"referral_reason\": \"absence rising for three months\"}}\n";

/* One CA: its key, certificate and CRL. */
struct ca {
	EVP_PKEY	*key;
	X509		*crt;
	X509_CRL	*crl;
};

struct test_context {
	char		 dir[64];
	char		 ca_path[128];
	char		 key_path[128];	/* the sender's Ed25519 key */
	time_t		 now;
	struct ca	 ca;
	struct ca	 other;		/* a CA that is not ours */
	X509		*person;	/* sara.lind, submitter at SCHOOL */
	char		*person_pem;
	struct refx_draft *draft;
	uint8_t		 pk[3][32], sk[3][32];	/* SCHOOL, IFO, BUP */
	char		 err[PACKET_ERR_LEN];
};

static void
ca_setup(struct ca *ca, const char *name, time_t now)
{
	struct ca_issue ci;

	memset(&ci, 0, sizeof(ci));
	assert_non_null(ca->key = ca_keygen("ED25519"));
	ci.ci_cakey = ca->key;
	ci.ci_not_before = now - 300;
	ci.ci_days = 3650;
	assert_int_equal(ca_serial_new(ci.ci_serial), 0);
	assert_non_null(ca->crt = ca_make_root(&ci, name));
	assert_non_null(ca->crl = ca_make_crl(ca->crt, ca->key, NULL, 0, 1,
	    now, 30));
}

static void
ca_teardown(struct ca *ca)
{

	X509_CRL_free(ca->crl);
	X509_free(ca->crt);
	EVP_PKEY_free(ca->key);
}

static void
issue_init(struct ca_issue *ci, struct ca *ca, EVP_PKEY *key, time_t now)
{

	memset(ci, 0, sizeof(*ci));
	ci->ci_ca = ca->crt;
	ci->ci_cakey = ca->key;
	ci->ci_key = key;
	ci->ci_not_before = now - 300;
	ci->ci_days = 365;
	assert_int_equal(ca_serial_new(ci->ci_serial), 0);
}

static int
setup(void **state)
{
	struct test_context *t;
	struct ca_issue ci;
	EVP_PKEY *k;
	size_t len;
	int i;

	assert_non_null(t = calloc(1, sizeof(*t)));
	snprintf(t->dir, sizeof(t->dir), "/tmp/test_cli_packet.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	t->now = time(NULL);
	ca_setup(&t->ca, "Test", t->now);
	ca_setup(&t->other, "Elsewhere", t->now);
	snprintf(t->ca_path, sizeof(t->ca_path), "%s/ca.crt", t->dir);
	/* The CLI's state (CRL numbers seen) stays in the test's folder. */
	assert_int_equal(setenv("XDG_STATE_HOME", t->dir, 1), 0);
	assert_int_equal(ca_cert_write(t->ca_path, t->ca.crt, 0), 0);

	/* The sender: a submitter at the school, key in a file. */
	assert_non_null(k = ca_keygen("ED25519"));
	issue_init(&ci, &t->ca, k, t->now);
	assert_non_null(t->person = ca_make_person(&ci, SCHOOL,
	    REFX_KIND_SCHOOL, REFX_ROLE_SUBMITTER, PERSON, "Sara Lind"));
	snprintf(t->key_path, sizeof(t->key_path), "%s/sara.key", t->dir);
	assert_int_equal(ca_key_write(t->key_path, k, NULL, 0), 0);
	EVP_PKEY_free(k);
	assert_int_equal(ca_cert_pem(t->person, &t->person_pem, &len), 0);

	/* The units' key pairs and the draft. */
	for (i = 0; i < 3; i++)
		crypto_box_keypair(t->pk[i], t->sk[i]);
	if ((t->draft = refx_draft_parse((const uint8_t *)draft_json,
	    strlen(draft_json), t->dir, t->err, sizeof(t->err))) == NULL)
		fail_msg("draft: %s", t->err);
	*state = t;
	return (0);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{

	(void)sb;
	(void)flag;
	(void)ftw;
	return (remove(path));
}

static int
teardown(void **state)
{
	struct test_context *t = *state;

	refx_draft_free(t->draft);
	free(t->person_pem);
	X509_free(t->person);
	ca_teardown(&t->ca);
	ca_teardown(&t->other);
	nftw(t->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(t);
	return (0);
}

/* Assert that ${hay} contains ${needle}. */
static void
assert_has(const char *hay, const char *needle)
{

	if (strstr(hay, needle) == NULL)
		fail_msg("'%s' does not contain '%s'", hay, needle);
}

/* --- consent files ------------------------------------------------------- */

/* Parse ${text} as a consent file as of TODAY. */
static int
parse_consent(const char *text, struct consent_doc *doc, char *err,
    size_t errlen)
{

	return (consent_file_parse((const uint8_t *)text, strlen(text), TODAY,
	    doc, err, errlen));
}

/* Apply the jq-like change ${set} (a JSON path setter) to the good file. */
static char *
mutate(void (*f)(json_t *))
{
	json_t *root;
	char *s;

	assert_non_null(root = json_loads(consent_good, 0, NULL));
	f(root);
	assert_non_null(s = json_dumps(root, JSON_COMPACT));
	json_decref(root);
	return (s);
}

static void
test_consent_good(void **state)
{
	struct test_context *t = *state;
	struct consent_doc doc, pub2;
	char msg[256], *pub;
	uint8_t *pt;
	size_t len;
	json_t *o;

	assert_int_equal(parse_consent(consent_good, &doc, t->err,
	    sizeof(t->err)), 0);
	assert_string_equal(doc.cd_valid_until, "2027-06-30");
	assert_int_equal(doc.cd_nscope, 2);
	assert_string_equal(doc.cd_scope[1].cs_unit, BUP);
	assert_int_equal(doc.cd_scope[1].cs_classes,
	    REFX_CLASS_BIT(REFX_CLASS_IDENTITY) |
	    REFX_CLASS_BIT(REFX_CLASS_DIAGNOSES));
	assert_int_equal(doc.cd_scope[1].cs_itemised,
	    REFX_CLASS_BIT(REFX_CLASS_DIAGNOSES));
	assert_int_equal(doc.cd_nparties, 3);
	assert_true(doc.cd_parties[2].cp_pupil && doc.cd_parties[2].cp_flag);
	assert_int_equal(consent_check_parties(&doc, msg, sizeof(msg)), 0);

	/* The public part names no one and carries no dates or methods. */
	assert_non_null(o = consent_public(&doc, CONSENT_ID));
	assert_non_null(pub = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS));
	assert_null(strstr(pub, "Svensson"));
	assert_null(strstr(pub, "2026-11-2"));
	assert_null(strstr(pub, "counsellor"));
	assert_has(pub, "\"recipient\":\"" BUP "\"");
	assert_has(pub, "\"itemised\":[\"diagnoses\"]");
	assert_has(pub, "{\"custody\":true,\"decision\":\"yes\","
	    "\"role\":\"guardian\"}");
	free(pub);
	json_decref(o);

	/* The private part: canonical JSON with the details. */
	assert_int_equal(consent_private(&doc, &pt, &len), 0);
	assert_has((const char *)pt, "\"name\":\"Johan Svensson\"");
	assert_has((const char *)pt, "\"maturity_assessment\":");
	assert_has((const char *)pt, "\"notes\":\"first meeting\\nsecond");
	assert_true(strncmp((const char *)pt, "{\"notes\"", 8) == 0);
	assert_non_null(o = consent_private_parse(pt, len, &doc, t->err,
	    sizeof(t->err)));
	json_decref(o);
	pub2 = doc;
	pub2.cd_private = NULL;
	pub2.cd_nparties = 2;
	assert_null(consent_private_parse(pt, len, &pub2, t->err,
	    sizeof(t->err)));

	/* Public positions changed on the server: the sealed ones differ. */
	pub2.cd_nparties = 3;
	pub2.cd_parties[1].cp_yes = 0;
	assert_null(consent_private_parse(pt, len, &pub2, t->err,
	    sizeof(t->err)));
	assert_has(t->err, "does not match the recorded parties (party 2)");
	pub2.cd_parties[1].cp_yes = 1;
	pub2.cd_parties[2].cp_flag = 0;
	assert_null(consent_private_parse(pt, len, &pub2, t->err,
	    sizeof(t->err)));
	assert_has(t->err, "(party 3)");
	refx_secret_free(pt, len);
	consent_doc_free(&doc);
}

static void set_decision(json_t *r) {
	json_object_set_new(json_array_get(json_object_get(r, "parties"), 1),
	    "decision", json_string("maybe"));
}
static void set_colour(json_t *r) {
	json_array_append_new(json_object_get(json_array_get(
	    json_object_get(r, "recipients"), 0), "classes"),
	    json_string("colour"));
}
static void set_itemised(json_t *r) {
	json_array_append_new(json_object_get(json_array_get(
	    json_object_get(r, "recipients"), 1), "itemised"),
	    json_string("home_situation"));
}
static void set_past(json_t *r) {
	json_object_set_new(r, "valid_until", json_string("2026-11-22"));
}
static void set_baddate(json_t *r) {
	json_object_set_new(json_array_get(json_object_get(r, "parties"), 0),
	    "date", json_string("2026-02-30"));
}
static void set_future(json_t *r) {
	json_object_set_new(json_array_get(json_object_get(r, "parties"), 0),
	    "date", json_string("2026-11-24"));
}
static void set_unknown(json_t *r) {
	json_object_set_new(json_array_get(json_object_get(r, "parties"), 0),
	    "nickname", json_string("Mia"));
}
static void set_topunknown(json_t *r) {
	json_object_set_new(r, "colour", json_string("blue"));
}
static void set_mature(json_t *r) {
	json_object_set_new(json_array_get(json_object_get(r, "parties"), 0),
	    "mature", json_true());
}
static void set_noassess(json_t *r) {
	json_object_del(json_array_get(json_object_get(r, "parties"), 2),
	    "maturity_assessment");
}
static void set_twopupils(json_t *r) {
	json_array_append(json_object_get(r, "parties"),
	    json_array_get(json_object_get(r, "parties"), 2));
}
static void set_dupunit(json_t *r) {
	json_object_set_new(json_array_get(json_object_get(r, "recipients"), 1),
	    "unit", json_string(IFO));
}
static void set_badunit(json_t *r) {
	json_object_set_new(json_array_get(json_object_get(r, "recipients"), 0),
	    "unit", json_string("Not A Unit"));
}
static void set_badname(json_t *r) {
	json_object_set_new(json_array_get(json_object_get(r, "parties"), 0),
	    "name", json_string("Maria\x1b[2J"));
}
static void set_custody(json_t *r) {
	json_object_set_new(json_array_get(json_object_get(r, "parties"), 0),
	    "custody", json_string("yes"));
}
static void set_noparties(json_t *r) {
	json_object_set_new(r, "parties", json_array());
}

static void
test_consent_errors(void **state)
{
	static const struct {
		void		(*set)(json_t *);
		const char	*want;
	} cases[] = {
		{ set_decision, "parties[1].decision: must be yes or no" },
		{ set_colour, "recipients[0].classes[3]: unknown class "
		    "'colour'" },
		{ set_itemised, "recipients[1].itemised: 'home_situation' is "
		    "not among its classes" },
		{ set_past, "valid_until: 2026-11-22 is in the past" },
		{ set_baddate, "parties[0].date: must be a date YYYY-MM-DD" },
		{ set_future, "parties[0].date: 2026-11-24 is in the future" },
		{ set_unknown, "parties[0].nickname: unknown key" },
		{ set_topunknown, "colour: unknown key" },
		{ set_mature, "parties[0].mature: only for the pupil" },
		{ set_noassess, "parties[2].maturity_assessment: required" },
		{ set_twopupils, "parties[3].role: there can be only one "
		    "pupil" },
		{ set_dupunit, "recipients[1].unit: '" IFO "' is listed "
		    "twice" },
		{ set_badunit, "recipients[0].unit: 'Not A Unit' is not a "
		    "valid unit id" },
		{ set_badname, "parties[0].name: must be" },
		{ set_custody, "parties[0].custody: must be true or false" },
		{ set_noparties, "parties: must be a list of 1 to 8" },
	};
	struct test_context *t = *state;
	struct consent_doc doc;
	size_t i;
	char *s;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = mutate(cases[i].set);
		t->err[0] = '\0';
		if (parse_consent(s, &doc, t->err, sizeof(t->err)) != -1)
			fail_msg("case %zu accepted", i);
		assert_has(t->err, cases[i].want);
		assert_null(doc.cd_private);
		free(s);
	}

	/* Syntax, duplicates and size. */
	assert_int_equal(parse_consent("{\"notes\": \"a\", \"notes\": \"b\"}",
	    &doc, t->err, sizeof(t->err)), -1);
	assert_int_equal(parse_consent("[1]", &doc, t->err, sizeof(t->err)),
	    -1);
	assert_has(t->err, "must be a JSON object");
	assert_int_equal(consent_file_parse((const uint8_t *)consent_good,
	    CONSENT_FILE_MAX + 1, TODAY, &doc, t->err, sizeof(t->err)), -1);
}

static void set_half(json_t *r) {
	json_object_set_new(json_array_get(json_object_get(r, "parties"), 1),
	    "decision", json_string("no"));
}
static void set_pupil_no(json_t *r) {
	json_object_set_new(json_array_get(json_object_get(r, "parties"), 2),
	    "decision", json_string("no"));
}
static void set_no_custody(json_t *r) {
	json_t *p = json_object_get(r, "parties");

	json_object_set_new(json_array_get(p, 0), "custody", json_false());
	json_object_set_new(json_array_get(p, 1), "custody", json_false());
	json_object_set_new(json_array_get(p, 2), "mature", json_false());
	json_object_del(json_array_get(p, 2), "maturity_assessment");
}

static void
test_consent_parties(void **state)
{
	struct test_context *t = *state;
	struct consent_doc doc;
	char msg[256], *s;

	/* One custodial guardian said no: recorded, but flagged. */
	s = mutate(set_half);
	assert_int_equal(parse_consent(s, &doc, t->err, sizeof(t->err)), 0);
	assert_int_equal(consent_check_parties(&doc, msg, sizeof(msg)), 1);
	assert_has(msg, "Johan Svensson (guardian with custody) said no");
	consent_doc_free(&doc);
	free(s);

	s = mutate(set_pupil_no);
	assert_int_equal(parse_consent(s, &doc, t->err, sizeof(t->err)), 0);
	assert_int_equal(consent_check_parties(&doc, msg, sizeof(msg)), 1);
	assert_has(msg, "the pupil, judged mature");
	consent_doc_free(&doc);
	free(s);

	s = mutate(set_no_custody);
	assert_int_equal(parse_consent(s, &doc, t->err, sizeof(t->err)), 0);
	assert_int_equal(consent_check_parties(&doc, msg, sizeof(msg)), 1);
	assert_has(msg, "neither a guardian with custody nor a mature pupil");
	consent_doc_free(&doc);
	free(s);
}

/* The server's public parts parse back the same. */
static void
test_consent_public_roundtrip(void **state)
{
	struct test_context *t = *state;
	struct consent_doc doc, back;
	struct consent_scope sc[CONSENT_MAX_SCOPE];
	size_t n;
	json_t *o, *bad;

	assert_int_equal(parse_consent(consent_good, &doc, t->err,
	    sizeof(t->err)), 0);
	assert_non_null(o = consent_public(&doc, CONSENT_ID));
	memset(&back, 0, sizeof(back));
	assert_int_equal(consent_parties_parse(json_object_get(o, "parties"),
	    &back, t->err, sizeof(t->err)), 0);
	assert_int_equal(back.cd_nparties, 3);
	assert_memory_equal(back.cd_parties, doc.cd_parties,
	    sizeof(doc.cd_parties[0]) * 3);
	assert_int_equal(consent_scope_parse(json_object_get(o, "scope"), sc,
	    &n, t->err, sizeof(t->err)), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(sc, doc.cd_scope, sizeof(sc[0]) * 2);

	/* Strict: a stray key in a party from the server is refused. */
	bad = json_array_get(json_object_get(o, "parties"), 0);
	json_object_set_new(bad, "name", json_string("Maria"));
	assert_int_equal(consent_parties_parse(json_object_get(o, "parties"),
	    &back, t->err, sizeof(t->err)), -1);
	assert_has(t->err, "parties[0].name: unknown key");
	json_decref(o);
	consent_doc_free(&doc);
}

/* The sealed private part opens for each unit it was sealed to only. */
static void
test_consent_seal(void **state)
{
	struct test_context *t = *state;
	struct packet_rcpt units[2];
	const char *blob, *env;
	uint8_t *pt;
	size_t len;
	json_t *s;

	memset(units, 0, sizeof(units));
	snprintf(units[0].pr_unit, sizeof(units[0].pr_unit), SCHOOL);
	memcpy(units[0].pr_pk, t->pk[0], 32);
	snprintf(units[1].pr_unit, sizeof(units[1].pr_unit), IFO);
	memcpy(units[1].pr_pk, t->pk[1], 32);
	assert_non_null(s = consent_seal(CONSENT_ID,
	    (const uint8_t *)"{\"v\":1}", 7, units, 2, t->err,
	    sizeof(t->err)));
	assert_int_equal(json_object_size(json_object_get(s, "envelopes")),
	    2);
	blob = json_string_value(json_object_get(s, "blob"));
	env = json_string_value(json_object_get(json_object_get(s,
	    "envelopes"), IFO));
	assert_int_equal(consent_unseal(CONSENT_ID, IFO, t->pk[1], t->sk[1],
	    blob, env, &pt, &len, t->err, sizeof(t->err)), 0);
	assert_int_equal(len, 7);
	assert_memory_equal(pt, "{\"v\":1}", 7);
	refx_secret_free(pt, len);

	/* Not with another unit's key, not as another unit or consent. */
	assert_int_equal(consent_unseal(CONSENT_ID, IFO, t->pk[2], t->sk[2],
	    blob, env, &pt, &len, t->err, sizeof(t->err)), -1);
	assert_int_equal(consent_unseal(CONSENT_ID, BUP, t->pk[1], t->sk[1],
	    blob, env, &pt, &len, t->err, sizeof(t->err)), -1);
	assert_int_equal(consent_unseal("ffeeddccbbaa99887766554433221100",
	    IFO, t->pk[1], t->sk[1], blob, env, &pt, &len, t->err,
	    sizeof(t->err)), -1);
	json_decref(s);
}

/* --- allowed fields ---------------------------------------------------- */

/*
 * A synthetic policy: consent everywhere (ref "ref-CLASS-KIND") except
 * diagnoses itemised for every kind, emi_medical never for ifo, and
 * supervisors never; reports of concern to ifo, without emi_medical.
 */
static struct refx_policy *
synthetic_policy(void)
{
	struct refx_policy *p;
	json_t *root, *rules, *row, *cls;
	char ref[96], err[512], *s;
	const char *rule;
	int c, k;

	root = json_object();
	json_object_set_new(root, "document", json_string("refx-policy"));
	json_object_set_new(root, "version", json_string("test-1"));
	json_object_set_new(root, "rules", rules = json_object());
	for (c = 0; c < REFX_CLASS_COUNT; c++) {
		row = json_object();
		for (k = 0; k < REFX_KIND_COUNT; k++) {
			rule = "consent";
			if (c == REFX_CLASS_DIAGNOSES)
				rule = "itemised";
			if ((c == REFX_CLASS_EMI_MEDICAL &&
			    k == REFX_KIND_IFO) || k == REFX_KIND_SUPERVISOR)
				rule = "never";
			snprintf(ref, sizeof(ref), "ref-%s-%s",
			    refx_class_name((enum refx_class)c),
			    refx_kind_name((enum refx_kind)k));
			json_object_set_new(row,
			    refx_kind_name((enum refx_kind)k),
			    json_pack("{s:s, s:s}", "rule", rule, "ref", ref));
		}
		json_object_set_new(rules, refx_class_name((enum refx_class)c),
		    row);
	}
	cls = json_array();
	for (c = 0; c < REFX_CLASS_COUNT; c++)
		if (c != REFX_CLASS_EMI_MEDICAL)
			json_array_append_new(cls, json_string(
			    refx_class_name((enum refx_class)c)));
	json_object_set_new(root, "report_of_concern", json_pack(
	    "{s:[s], s:o, s:s}", "to_kinds", "ifo", "classes", cls, "ref",
	    "concern-ref"));
	s = json_dumps(root, JSON_COMPACT);
	p = refx_policy_parse((const uint8_t *)s, strlen(s), err, sizeof(err));
	if (p == NULL)
		fail_msg("synthetic policy: %s", err);
	free(s);
	json_decref(root);
	return (p);
}

/* The bit of the draft field named ${name}. */
static uint32_t
field_bit(const struct refx_draft *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->d_nfields; i++)
		if (strcmp(d->d_fields[i].f_name, name) == 0)
			return ((uint32_t)1 << i);
	fail_msg("no field %s", name);
	return (0);
}

static void
test_allowed(void **state)
{
	struct test_context *t = *state;
	struct refx_policy *p = synthetic_policy();
	struct consent_scope sc;
	refx_classes a;
	char why[PACKET_WHY_MAX];
	uint32_t m;

	/* IFO's consent covers identity, home, diagnoses (not itemised). */
	memset(&sc, 0, sizeof(sc));
	sc.cs_classes = REFX_CLASS_BIT(REFX_CLASS_IDENTITY) |
	    REFX_CLASS_BIT(REFX_CLASS_HOME) |
	    REFX_CLASS_BIT(REFX_CLASS_DIAGNOSES);
	a = packet_allowed(p, REFX_BASIS_CONSENT, REFX_KIND_IFO, &sc);
	assert_int_equal(a, REFX_CLASS_BIT(REFX_CLASS_IDENTITY) |
	    REFX_CLASS_BIT(REFX_CLASS_HOME));
	m = packet_field_mask(t->draft, a);
	assert_int_equal(m, field_bit(t->draft, "identity") |
	    field_bit(t->draft, "home_situation"));

	/* Why the others are withheld. */
	packet_withheld_why(p, REFX_BASIS_CONSENT, REFX_KIND_IFO, &sc,
	    REFX_CLASS_REASON, why, sizeof(why));
	assert_string_equal(why, "not covered by consent");
	packet_withheld_why(p, REFX_BASIS_CONSENT, REFX_KIND_IFO, &sc,
	    REFX_CLASS_DIAGNOSES, why, sizeof(why));
	assert_has(why, "itemised");
	assert_has(why, "ref-diagnoses-ifo");
	packet_withheld_why(p, REFX_BASIS_CONSENT, REFX_KIND_IFO, &sc,
	    REFX_CLASS_EMI_MEDICAL, why, sizeof(why));
	assert_has(why, "never");
	assert_has(why, "ref-emi_medical-ifo");

	/* Itemised, it passes. */
	sc.cs_itemised = REFX_CLASS_BIT(REFX_CLASS_DIAGNOSES);
	a = packet_allowed(p, REFX_BASIS_CONSENT, REFX_KIND_BUP, &sc);
	assert_true(a & REFX_CLASS_BIT(REFX_CLASS_DIAGNOSES));

	/* Never beyond the consent, whatever the policy. */
	assert_int_equal(packet_allowed(p, REFX_BASIS_CONSENT, REFX_KIND_BUP,
	    NULL), 0);
	assert_int_equal(packet_allowed(p, REFX_BASIS_CONSENT,
	    REFX_KIND_SUPERVISOR, &sc), 0);

	/* A report of concern: IFO only, its list, no consent. */
	a = packet_allowed(p, REFX_BASIS_CONCERN, REFX_KIND_IFO, NULL);
	assert_int_equal(a, REFX_CLASSES_ALL &
	    ~REFX_CLASS_BIT(REFX_CLASS_EMI_MEDICAL));
	assert_int_equal(packet_field_mask(t->draft, a),
	    (1u << t->draft->d_nfields) - 1);
	assert_int_equal(packet_allowed(p, REFX_BASIS_CONCERN, REFX_KIND_BUP,
	    NULL), 0);
	refx_policy_free(p);
}

/* --- manifest ------------------------------------------------------------ */

static void
fill_manifest(struct manifest *m)
{

	memset(m, 0, sizeof(*m));
	snprintf(m->m_referral, sizeof(m->m_referral), CONSENT_ID);
	m->m_basis = REFX_BASIS_CONSENT;
	snprintf(m->m_consent, sizeof(m->m_consent), CONSENT_ID);
	snprintf(m->m_unit, sizeof(m->m_unit), SCHOOL);
	snprintf(m->m_person, sizeof(m->m_person), PERSON);
	snprintf(m->m_created_at, sizeof(m->m_created_at),
	    "2026-11-23T18:00:00Z");
	snprintf(m->m_policy, sizeof(m->m_policy), HASH);
	m->m_nfields = 2;
	snprintf(m->m_fields[0].mf_name, sizeof(m->m_fields[0].mf_name),
	    "identity");
	m->m_fields[0].mf_class = REFX_CLASS_IDENTITY;
	snprintf(m->m_fields[0].mf_sha256, PACKET_HASH_HEX + 1, HASH);
	snprintf(m->m_fields[1].mf_name, sizeof(m->m_fields[1].mf_name),
	    "attachment-1");
	m->m_fields[1].mf_class = REFX_CLASS_PSYCHOLOGICAL;
	snprintf(m->m_fields[1].mf_sha256, PACKET_HASH_HEX + 1, HASH);
	m->m_nenvs = 2;
	snprintf(m->m_envs[0].me_unit, sizeof(m->m_envs[0].me_unit), SCHOOL);
	m->m_envs[0].me_fields = 3;
	snprintf(m->m_envs[0].me_sha256, PACKET_HASH_HEX + 1, HASH);
	snprintf(m->m_envs[1].me_unit, sizeof(m->m_envs[1].me_unit), BUP);
	m->m_envs[1].me_fields = 2;
	snprintf(m->m_envs[1].me_sha256, PACKET_HASH_HEX + 1, HASH);
}

/* Decode ${text} and expect failure with ${want} in the message. */
static void
expect_bad_manifest(struct test_context *t, const char *text,
    const char *want)
{
	struct manifest m;

	if (manifest_decode((const uint8_t *)text, strlen(text), &m, t->err,
	    sizeof(t->err)) != -1)
		fail_msg("accepted: %s", text);
	assert_has(t->err, want);
}

static void
test_manifest(void **state)
{
	struct test_context *t = *state;
	struct manifest m, back;
	uint8_t *enc;
	size_t len;
	char *s, *p;

	fill_manifest(&m);
	assert_int_equal(manifest_encode(&m, &enc, &len), 0);
	s = (char *)enc;

	/* Canonical: sorted keys, compact, in the documented shape. */
	assert_true(strncmp(s, "{\"basis\":\"consent\",\"consent\":\""
	    CONSENT_ID "\",\"created_at\":", 60) == 0);
	assert_has(s, "\"envelopes\":[{\"fields\":[\"identity\","
	    "\"attachment-1\"],\"recipient\":\"" SCHOOL "\"");
	assert_has(s, "{\"fields\":[\"attachment-1\"],\"recipient\":\"" BUP);
	assert_has(s, "{\"class\":\"psychological_assessment\","
	    "\"name\":\"attachment-1\"");
	assert_has(s, "\"schema\":\"refx-referral-1\"");
	assert_has(s, "\"sender\":{\"person\":\"" PERSON "\",\"unit\":\""
	    SCHOOL "\"}");
	assert_has(s, "\"v\":1}");
	assert_null(strchr(s, ' '));

	assert_int_equal(manifest_decode(enc, len, &back, t->err,
	    sizeof(t->err)), 0);
	assert_memory_equal(&back, &m, sizeof(m));

	/* A report of concern has consent null. */
	m.m_basis = REFX_BASIS_CONCERN;
	m.m_consent[0] = '\0';
	free(enc);
	assert_int_equal(manifest_encode(&m, &enc, &len), 0);
	assert_has((char *)enc, "\"consent\":null");
	assert_int_equal(manifest_decode(enc, len, &back, t->err,
	    sizeof(t->err)), 0);

	/* Not canonical: a space, or keys out of order. */
	assert_non_null(p = malloc(len + 2));
	p[0] = ' ';
	memcpy(p + 1, enc, len + 1);
	expect_bad_manifest(t, p, "not in canonical form");
	free(p);
	free(enc);

	expect_bad_manifest(t, "[]", "not a JSON object");
	expect_bad_manifest(t, "{\"v\":2}", "unknown version");
	expect_bad_manifest(t, "{\"v\":1,\"extra\":1}", "unknown key");
	fill_manifest(&m);
	assert_int_equal(manifest_encode(&m, &enc, &len), 0);
	s = (char *)enc;

	/* A consent basis with a null consent. */
	p = strdup(s);
	memcpy(strstr(p, "\"consent\":\"") + 10,
	    "null,\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 36);
	expect_bad_manifest(t, p, "");
	free(p);

	/* An envelope naming a field that is not listed. */
	p = strdup(s);
	memcpy(strstr(p, "[\"attachment-1\"]") + 2, "attachment-2", 12);
	expect_bad_manifest(t, p, "unknown or repeated field");
	free(p);

	/* Two envelopes for one unit. */
	free(enc);
	snprintf(m.m_envs[1].me_unit, sizeof(m.m_envs[1].me_unit), SCHOOL);
	assert_int_equal(manifest_encode(&m, &enc, &len), 0);
	expect_bad_manifest(t, (char *)enc, "has two envelopes");
	free(enc);
}

/* --- a submission, end to end ------------------------------------------ */

/* Build and sign a packet: school all, IFO identity+home, BUP identity. */
static struct packet *
build(struct test_context *t, const char *id)
{
	struct packet_rcpt r[3];
	struct packet_spec spec;
	struct packet *pk;
	const char *units[3] = { SCHOOL, IFO, BUP };
	int i;

	memset(r, 0, sizeof(r));
	for (i = 0; i < 3; i++) {
		snprintf(r[i].pr_unit, sizeof(r[i].pr_unit), "%s", units[i]);
		memcpy(r[i].pr_pk, t->pk[i], 32);
	}
	r[0].pr_fields = (1u << t->draft->d_nfields) - 1;
	r[1].pr_fields = field_bit(t->draft, "identity") |
	    field_bit(t->draft, "home_situation");
	r[2].pr_fields = field_bit(t->draft, "identity");
	memset(&spec, 0, sizeof(spec));
	spec.ps_draft = t->draft;
	spec.ps_id = id;
	spec.ps_basis = REFX_BASIS_CONSENT;
	spec.ps_consent = CONSENT_ID;
	spec.ps_unit = SCHOOL;
	spec.ps_person = PERSON;
	spec.ps_created_at = "2026-11-23T18:00:00Z";
	spec.ps_policy = HASH;
	spec.ps_rcpt = r;
	spec.ps_nrcpt = 3;
	pk = packet_build(&spec, t->err, sizeof(t->err));
	if (pk == NULL)
		fail_msg("packet_build: %s", t->err);
	if (packet_sign(pk, t->key_path, NULL, t->err, sizeof(t->err)))
		fail_msg("packet_sign: %s", t->err);
	return (pk);
}

/* The answer the server gives ${unit} (index ${u}) for ${body}. */
static json_t *
answer_for(json_t *body, const char *id, const char *unit, int u,
    const struct packet *pk)
{
	json_t *a, *fields, *f;
	size_t i, j;
	const char *name;

	a = json_pack("{s:s, s:O, s:O, s:O, s:{s:s, s:O}}", "id", id,
	    "manifest", json_object_get(body, "manifest"), "signature",
	    json_object_get(body, "signature"), "certificate",
	    json_object_get(body, "certificate"), "envelope", "recipient", unit,
	    "sealed", json_object_get(json_array_get(json_object_get(body,
	    "envelopes"), u), "sealed"));
	assert_non_null(a);
	fields = json_array();
	json_array_foreach(json_object_get(body, "fields"), i, f) {
		name = json_string_value(json_object_get(f, "name"));
		for (j = 0; j < pk->p_m.m_nfields; j++)
			if (strcmp(pk->p_m.m_fields[j].mf_name, name) == 0 &&
			    (pk->p_m.m_envs[u].me_fields & (1u << j)))
				json_array_append(fields, f);
	}
	json_object_set_new(a, "fields", fields);
	return (a);
}

/* packet_check then packet_decrypt with ${u}'s key; 0 or -1. */
static int
receive(struct test_context *t, json_t *a, const char *id, const char *unit,
    int u, struct packet_recv *rv)
{

	if (packet_check(a, id, unit, t->ca.crt, t->ca.crl, rv, t->err,
	    sizeof(t->err)))
		return (-1);
	if (packet_decrypt(rv, t->pk[u], t->sk[u], t->err, sizeof(t->err))) {
		packet_recv_free(rv);
		return (-1);
	}
	return (0);
}

static void
test_packet_roundtrip(void **state)
{
	struct test_context *t = *state;
	char id[REFX_REFERRAL_ID_LEN + 1];
	struct packet_recv rv;
	struct packet *pk;
	json_t *body, *a;
	size_t i;

	refx_referral_id_new(id);
	pk = build(t, id);
	assert_non_null(body = packet_body(pk, t->person_pem));
	assert_int_equal(json_array_size(json_object_get(body, "fields")), 5);
	assert_int_equal(json_array_size(json_object_get(body, "envelopes")),
	    3);

	/* IFO: exactly identity and home_situation, decrypted and valid. */
	a = answer_for(body, id, IFO, 1, pk);
	if (receive(t, a, id, IFO, 1, &rv))
		fail_msg("IFO: %s", t->err);
	assert_int_equal(rv.rv_n, 2);
	assert_string_equal(rv.rv_sender.id_person, PERSON);
	for (i = 0; i < rv.rv_n; i++)
		if (strcmp(rv.rv_m.m_fields[rv.rv_f[i].rf_idx].mf_name,
		    "home_situation") == 0)
			assert_string_equal((char *)rv.rv_f[i].rf_pt,
			    "\"parents separated in spring\"");
	packet_recv_free(&rv);
	json_decref(a);

	/* The school's own copy: all five. */
	a = answer_for(body, id, SCHOOL, 0, pk);
	if (receive(t, a, id, SCHOOL, 0, &rv))
		fail_msg("school: %s", t->err);
	assert_int_equal(rv.rv_n, 5);
	packet_recv_free(&rv);
	json_decref(a);

	json_decref(body);
	packet_free(pk);
}

/* Expect the answer ${a} to fail for BUP with ${want}. */
static void
expect_refused(struct test_context *t, json_t *a, const char *id,
    const char *want)
{
	struct packet_recv rv;

	if (receive(t, a, id, BUP, 2, &rv) == 0)
		fail_msg("accepted; expected '%s'", want);
	assert_has(t->err, want);
}

static void
test_packet_tampering(void **state)
{
	struct test_context *t = *state;
	char id[REFX_REFERRAL_ID_LEN + 1], *s;
	struct packet *pk;
	struct packet_recv rv;
	json_t *body, *a, *f;
	struct ca_issue ci;
	EVP_PKEY *k;
	X509 *x;
	size_t len;

	refx_referral_id_new(id);
	pk = build(t, id);
	body = packet_body(pk, t->person_pem);

	/* As sent, BUP reads its one field. */
	a = answer_for(body, id, BUP, 2, pk);
	assert_int_equal(receive(t, a, id, BUP, 2, &rv), 0);
	assert_int_equal(rv.rv_n, 1);
	packet_recv_free(&rv);

	/* An extra field the manifest does not list for BUP. */
	json_array_append(json_object_get(a, "fields"), json_array_get(
	    json_object_get(body, "fields"), 1));
	expect_refused(t, a, id, "is not listed for your unit");
	json_decref(a);

	/* A missing field. */
	a = answer_for(body, id, BUP, 2, pk);
	json_array_clear(json_object_get(a, "fields"));
	expect_refused(t, a, id, "field identity is missing");
	json_decref(a);

	/* Another unit's envelope, relabelled. */
	a = answer_for(body, id, BUP, 1, pk);
	json_object_set_new(json_object_get(a, "envelope"), "recipient",
	    json_string(BUP));
	f = answer_for(body, id, BUP, 2, pk);
	json_object_set(a, "fields", json_object_get(f, "fields"));
	json_decref(f);
	expect_refused(t, a, id, "the envelope does not match the manifest");
	json_decref(a);

	/* The answer for another referral. */
	a = answer_for(body, id, BUP, 2, pk);
	expect_refused(t, a, "ffffffffffffffffffffffffffffffff",
	    "another referral");
	json_decref(a);

	/* A flipped signature. */
	pk->p_sig[5] ^= 1;
	json_decref(body);
	body = packet_body(pk, t->person_pem);
	a = answer_for(body, id, BUP, 2, pk);
	expect_refused(t, a, id, "signature does not verify");
	json_decref(a);
	pk->p_sig[5] ^= 1;

	/* A flipped field blob. */
	pk->p_blob[0][pk->p_blob_len[0] - 1] ^= 1;
	json_decref(body);
	body = packet_body(pk, t->person_pem);
	a = answer_for(body, id, BUP, 2, pk);
	expect_refused(t, a, id, "does not match the manifest");
	json_decref(a);
	pk->p_blob[0][pk->p_blob_len[0] - 1] ^= 1;

	/* The wrong unit key. */
	json_decref(body);
	body = packet_body(pk, t->person_pem);
	a = answer_for(body, id, BUP, 2, pk);
	assert_int_equal(packet_check(a, id, BUP, t->ca.crt, t->ca.crl, &rv,
	    t->err, sizeof(t->err)), 0);
	assert_int_equal(packet_decrypt(&rv, t->pk[1], t->sk[1], t->err,
	    sizeof(t->err)), -1);
	assert_has(t->err, "does not open");
	packet_recv_free(&rv);

	/* A signer whose certificate is from another CA. */
	assert_non_null(k = ca_keygen("ED25519"));
	issue_init(&ci, &t->other, k, t->now);
	assert_non_null(x = ca_make_person(&ci, SCHOOL, REFX_KIND_SCHOOL,
	    REFX_ROLE_SUBMITTER, PERSON, "Sara Lind"));
	assert_int_equal(ca_cert_pem(x, &s, &len), 0);
	json_object_set_new(a, "certificate", json_string(s));
	expect_refused(t, a, id, "the sender's certificate");
	free(s);
	X509_free(x);
	EVP_PKEY_free(k);

	/* A caseworker of the school as signer (right CA, wrong role). */
	assert_non_null(k = ca_keygen("ED25519"));
	issue_init(&ci, &t->ca, k, t->now);
	assert_non_null(x = ca_make_person(&ci, SCHOOL, REFX_KIND_SCHOOL,
	    REFX_ROLE_CASEWORKER, PERSON, "Sara Lind"));
	assert_int_equal(ca_cert_pem(x, &s, &len), 0);
	json_object_set_new(a, "certificate", json_string(s));
	expect_refused(t, a, id, "not a submitter at a school");
	free(s);
	X509_free(x);
	EVP_PKEY_free(k);
	json_decref(a);

	/* Malformed base64 anywhere. */
	a = answer_for(body, id, BUP, 2, pk);
	f = json_array_get(json_object_get(a, "fields"), 0);
	json_object_set_new(f, "blob", json_string("not base64!"));
	expect_refused(t, a, id, "malformed");
	json_decref(a);

	json_decref(body);
	packet_free(pk);
}

/* --- the directory ------------------------------------------------------- */

/* A unit certificate of ${ca} as PEM (caller frees). */
static char *
unit_pem(struct test_context *t, struct ca *ca, const char *id,
    enum refx_kind kind, const char *name, char serial[CA_SERIAL_HEX_MAX + 1])
{
	struct ca_issue ci;
	EVP_PKEY *k;
	X509 *x;
	char *pem;
	size_t len;

	assert_non_null(k = ca_keygen("X25519"));
	issue_init(&ci, ca, k, t->now);
	assert_non_null(x = ca_make_unit(&ci, id, kind, name));
	assert_int_equal(ca_cert_pem(x, &pem, &len), 0);
	if (serial != NULL)
		assert_int_equal(ca_cert_serial(x, serial), 0);
	X509_free(x);
	EVP_PKEY_free(k);
	return (pem);
}

/* A CRL as PEM (caller frees). */
static char *
crl_pem(X509_CRL *crl)
{
	BIO *bio;
	char *data, *s;
	long len;

	assert_non_null(bio = BIO_new(BIO_s_mem()));
	assert_int_equal(PEM_write_bio_X509_CRL(bio, crl), 1);
	assert_true((len = BIO_get_mem_data(bio, &data)) > 0);
	assert_non_null(s = strndup(data, (size_t)len));
	BIO_free(bio);
	return (s);
}

static void
add_unit(json_t *units, const char *id, const char *kind, const char *name,
    char *pem)
{

	json_array_append_new(units, json_pack("{s:s, s:s, s:s, s:s}", "id",
	    id, "kind", kind, "name", name, "certificate", pem));
	free(pem);
}

static void
test_directory(void **state)
{
	struct test_context *t = *state;
	struct ca_revoked rev;
	struct directory *d;
	const struct dir_unit *u;
	char serial[CA_SERIAL_HEX_MAX + 1], *crl;
	X509_CRL *revoking;
	json_t *root, *units;

	root = json_object();
	units = json_array();
	json_object_set_new(root, "units", units);
	add_unit(units, IFO, "ifo", "Ludvika IFO", unit_pem(t, &t->ca, IFO,
	    REFX_KIND_IFO, "Ludvika IFO", NULL));
	add_unit(units, BUP, "bup", "Region Dalarna, BUP", unit_pem(t,
	    &t->other, BUP, REFX_KIND_BUP, "Region Dalarna, BUP", NULL));
	add_unit(units, "fake-ifo", "ifo", "Fake", unit_pem(t, &t->ca, IFO,
	    REFX_KIND_IFO, "Ludvika IFO", NULL));
	add_unit(units, "kind-liar", "bup", "Kind liar", unit_pem(t, &t->ca,
	    "kind-liar", REFX_KIND_IFO, "Kind liar", NULL));
	add_unit(units, "revoked-unit", "ifo", "Revoked", unit_pem(t, &t->ca,
	    "revoked-unit", REFX_KIND_IFO, "Revoked", serial));

	/* No CRL: refused outright. */
	assert_null(directory_parse(root, t->ca_path, t->err,
	    sizeof(t->err)));
	assert_has(t->err, "no CRL");

	/* A CRL revoking one unit. */
	memset(&rev, 0, sizeof(rev));
	rev.cr_serial = serial;
	rev.cr_when = t->now - 60;
	rev.cr_reason = 1;
	assert_non_null(revoking = ca_make_crl(t->ca.crt, t->ca.key, &rev, 1,
	    2, t->now - 60, 30));
	crl = crl_pem(revoking);
	json_object_set_new(root, "crl", json_string(crl));
	free(crl);
	assert_non_null(d = directory_parse(root, t->ca_path, t->err,
	    sizeof(t->err)));
	assert_int_equal(d->d_n, 5);

	assert_non_null(u = directory_get(d, IFO));
	assert_true(u->du_ok);
	assert_int_equal(u->du_kind, REFX_KIND_IFO);
	assert_int_equal(directory_usable(d, IFO, &u), 0);

	assert_non_null(u = directory_get(d, BUP));
	assert_false(u->du_ok);
	assert_has(u->du_why, "failed verification");
	assert_int_not_equal(directory_usable(d, BUP, &u), 0);
	assert_null(u);

	assert_false(directory_get(d, "fake-ifo")->du_ok);
	assert_has(directory_get(d, "fake-ifo")->du_why, "another unit");
	assert_false(directory_get(d, "kind-liar")->du_ok);
	assert_has(directory_get(d, "kind-liar")->du_why, "kind");
	assert_false(directory_get(d, "revoked-unit")->du_ok);
	assert_has(directory_get(d, "revoked-unit")->du_why, "revoked");
	assert_int_not_equal(directory_usable(d, "nowhere", &u), 0);
	directory_free(d);

	/* A CRL from another CA makes the whole directory unusable. */
	crl = crl_pem(t->other.crl);
	json_object_set_new(root, "crl", json_string(crl));
	free(crl);
	assert_null(directory_parse(root, t->ca_path, t->err,
	    sizeof(t->err)));
	assert_has(t->err, "CRL not signed by this exchange's CA");

	/* An older CRL (number 1) than the one seen (2) is refused. */
	crl = crl_pem(t->ca.crl);
	json_object_set_new(root, "crl", json_string(crl));
	free(crl);
	assert_null(directory_parse(root, t->ca_path, t->err,
	    sizeof(t->err)));
	assert_has(t->err, "older CRL");
	{
		char fresh[160];

		/* The rest uses the older CRL with a state that never saw 2. */
		snprintf(fresh, sizeof(fresh), "%s/fresh", t->dir);
		assert_int_equal(setenv("XDG_STATE_HOME", fresh, 1), 0);
	}

	/* Malformed: a duplicate id. */
	json_array_append(units, json_array_get(units, 0));
	assert_null(directory_parse(root, t->ca_path, t->err,
	    sizeof(t->err)));
	assert_has(t->err, "malformed");

	X509_CRL_free(revoking);
	json_decref(root);
}

/* Assert that ${s} is printable ASCII only. */
static void
assert_ascii(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p >= 0x7f)
			fail_msg("byte 0x%02x in '%s'", *p, s);
}

/* A server's strings in messages: no bidi, C1 or C0 characters. */
static void
test_scope_messages(void **state)
{
	struct test_context *t = *state;
	struct consent_scope sc[CONSENT_MAX_SCOPE];
	json_t *scope;
	size_t n;

	(void)t;
	/* An unknown key with U+202E (right-to-left override). */
	scope = json_pack("[{s:s, s:[s], s:s}]", "recipient", IFO, "classes",
	    "identity", "x\xe2\x80\xae" "cba", "y");
	assert_int_equal(consent_scope_parse(scope, sc, &n, t->err,
	    sizeof(t->err)), -1);
	assert_ascii(t->err);
	assert_has(t->err, "x\\xe2\\x80\\xaecba: unknown key");
	json_decref(scope);

	/* An unknown class with U+009B (CSI) and ESC. */
	scope = json_pack("[{s:s, s:[s]}]", "recipient", IFO, "classes",
	    "\xc2\x9b" "2J\x1b[0m");
	assert_int_equal(consent_scope_parse(scope, sc, &n, t->err,
	    sizeof(t->err)), -1);
	assert_ascii(t->err);
	assert_has(t->err, "unknown class '\\xc2\\x9b2J\\x1b[0m'");
	json_decref(scope);

	/* A unit id with a line separator. */
	scope = json_pack("[{s:s, s:[s]}]", "recipient", "ifo\xe2\x80\xa8",
	    "classes", "identity");
	assert_int_equal(consent_scope_parse(scope, sc, &n, t->err,
	    sizeof(t->err)), -1);
	assert_ascii(t->err);
	assert_has(t->err, "'ifo\\xe2\\x80\\xa8' is not a valid unit id");
	json_decref(scope);
}

/* Whoami answers are checked against our own certificate. */
static void
test_directory_me(void **state)
{
	struct test_context *t = *state;
	struct dir_me good, me;
	uint8_t fpr[REFX_FINGERPRINT_LEN];

	memset(&good, 0, sizeof(good));
	snprintf(good.dm_unit, sizeof(good.dm_unit), "%s", SCHOOL);
	good.dm_kind = REFX_KIND_SCHOOL;
	good.dm_role = REFX_ROLE_SUBMITTER;
	snprintf(good.dm_person, sizeof(good.dm_person), "%s", PERSON);
	snprintf(good.dm_name, sizeof(good.dm_name), "Sara Lind");
	assert_int_equal(refx_cert_fingerprint(t->person, fpr), 0);
	refx_hex(good.dm_fpr, sizeof(good.dm_fpr), fpr, sizeof(fpr));
	assert_int_equal(directory_me_check(&good, t->person, t->err,
	    sizeof(t->err)), 0);

	/* The right fingerprint, but another unit: the full copy's key. */
	me = good;
	snprintf(me.dm_unit, sizeof(me.dm_unit), "%s", BUP);
	assert_int_equal(directory_me_check(&me, t->person, t->err,
	    sizeof(t->err)), -1);
	assert_has(t->err, "your certificate " PERSON " (submitter) of "
	    SCHOOL);

	me = good;
	me.dm_kind = REFX_KIND_BUP;
	assert_int_equal(directory_me_check(&me, t->person, t->err,
	    sizeof(t->err)), -1);
	me = good;
	me.dm_role = REFX_ROLE_CASEWORKER;
	assert_int_equal(directory_me_check(&me, t->person, t->err,
	    sizeof(t->err)), -1);
	me = good;
	snprintf(me.dm_person, sizeof(me.dm_person), "anna.berg");
	assert_int_equal(directory_me_check(&me, t->person, t->err,
	    sizeof(t->err)), -1);
	me = good;
	snprintf(me.dm_name, sizeof(me.dm_name), "Sara Lindh");
	assert_int_equal(directory_me_check(&me, t->person, t->err,
	    sizeof(t->err)), -1);
	me = good;
	me.dm_fpr[0] = me.dm_fpr[0] == '0' ? '1' : '0';
	assert_int_equal(directory_me_check(&me, t->person, t->err,
	    sizeof(t->err)), -1);
	assert_has(t->err, "another certificate");
}

/* ---- the consent statement ------------------------------------------- */

/* The server's answer to GET /v1/consents/ID for a consent signed so. */
static json_t *
consent_answer(json_t *body)
{
	json_t *a, *scope, *e;
	size_t i;

	assert_non_null(a = json_pack("{s:O, s:s, s:s, s:O, s:O, s:O, s:O, "
	    "s:O, s:s, s:b}", "id", json_object_get(body, "id"),
	    "owner", SCHOOL, "recorded_by", PERSON, "valid_until",
	    json_object_get(body, "valid_until"), "parties",
	    json_object_get(body, "parties"), "statement",
	    json_object_get(body, "statement"), "signature",
	    json_object_get(body, "signature"), "certificate",
	    json_object_get(body, "certificate"), "status", "active", "valid",
	    1));
	assert_non_null(scope = json_deep_copy(json_object_get(body,
	    "scope")));
	json_array_foreach(scope, i, e)
		json_object_set_new(e, "withdrawn_at", json_null());
	json_object_set_new(a, "scope", scope);
	return (a);
}

/* The scope entry of ${unit} in the answer ${a}. */
static json_t *
answer_scope(json_t *a, const char *unit)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(a, "scope"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "recipient")),
		    unit) == 0)
			return (e);
	fail_msg("no scope entry for %s", unit);
	return (NULL);
}

/* Expect consent_verify to refuse ${a} with ${want} in the message. */
static void
expect_unsigned(struct test_context *t, json_t *a, const char *want)
{
	struct consent_signed cg;

	if (consent_verify(a, CONSENT_ID, t->ca.crt, t->ca.crl, &cg, t->err,
	    sizeof(t->err)) == 0) {
		consent_doc_free(&cg.cg_doc);
		fail_msg("accepted; expected '%s'", want);
	}
	assert_has(t->err, want);
}

/* Replace member ${key} of ${a} with base64 of ${data}. */
static void
set_b64(json_t *a, const char *key, const uint8_t *data, size_t len)
{
	char *b;

	assert_non_null(b = refx_b64_encode(data, len));
	json_object_set_new(a, key, json_string(b));
	free(b);
}

static void
test_consent_statement(void **state)
{
	struct test_context *t = *state;
	struct consent_doc doc;
	struct consent_signed cg;
	uint8_t *st, sig[REFX_SIG_LEN];
	size_t len;
	json_t *body, *a, *e;
	char *text;

	assert_int_equal(parse_consent(consent_good, &doc, t->err,
	    sizeof(t->err)), 0);

	/* Canonical: sorted keys, compact, scope sorted by recipient. */
	assert_int_equal(consent_statement(&doc, CONSENT_ID, SCHOOL, PERSON,
	    &st, &len), 0);
	assert_non_null(text = strndup((char *)st, len));
	assert_has(text, "{\"consent\":\"" CONSENT_ID "\",\"owner\":\""
	    SCHOOL "\",\"parties\":[{\"custody\":true,\"decision\":\"yes\","
	    "\"role\":\"guardian\"},");
	assert_has(text, "\"recorded_by\":\"" PERSON "\",\"scope\":[{"
	    "\"classes\":[\"identity\",\"diagnoses\"],\"itemised\":"
	    "[\"diagnoses\"],\"recipient\":\"" BUP "\"},{");
	assert_has(text, "\"v\":1,\"valid_until\":\"2027-06-30\"}");
	assert_null(strstr(text, "Svensson"));
	free(text);

	/* Signed as the person; the server's faithful copy verifies. */
	assert_non_null(body = consent_public(&doc, CONSENT_ID));
	assert_int_equal(consent_sign(&doc, CONSENT_ID, SCHOOL, PERSON,
	    t->key_path, NULL, t->person_pem, body, t->err, sizeof(t->err)),
	    0);
	a = consent_answer(body);
	if (consent_verify(a, CONSENT_ID, t->ca.crt, t->ca.crl, &cg, t->err,
	    sizeof(t->err)))
		fail_msg("consent_verify: %s", t->err);
	assert_string_equal(cg.cg_owner, SCHOOL);
	assert_string_equal(cg.cg_by, PERSON);
	assert_int_equal(cg.cg_doc.cd_nparties, 3);
	assert_int_equal(cg.cg_doc.cd_nscope, 2);
	assert_string_equal(cg.cg_doc.cd_scope[0].cs_unit, BUP);
	assert_int_equal(cg.cg_doc.cd_scope[0].cs_classes,
	    REFX_CLASS_BIT(REFX_CLASS_IDENTITY) |
	    REFX_CLASS_BIT(REFX_CLASS_DIAGNOSES));
	consent_doc_free(&cg.cg_doc);

	/* Withdrawal is the server's to say: the scope may only shrink. */
	json_object_set_new(answer_scope(a, BUP), "withdrawn_at",
	    json_string("2026-11-24T10:00:00Z"));
	if (consent_verify(a, CONSENT_ID, t->ca.crt, t->ca.crl, &cg, t->err,
	    sizeof(t->err)))
		fail_msg("consent_verify: %s", t->err);
	assert_string_equal(cg.cg_doc.cd_scope[0].cs_withdrawn_at,
	    "2026-11-24T10:00:00Z");
	assert_string_equal(cg.cg_doc.cd_scope[1].cs_withdrawn_at, "");
	consent_doc_free(&cg.cg_doc);
	json_decref(a);

	/* A scope widened by the server: refused. */
	a = consent_answer(body);
	json_array_append_new(json_object_get(answer_scope(a, IFO), "classes"),
	    json_string("diagnoses"));
	expect_unsigned(t, a, CONSENT_MISMATCH " (scope of " IFO ")");
	json_decref(a);
	a = consent_answer(body);
	json_array_clear(json_object_get(answer_scope(a, BUP), "itemised"));
	expect_unsigned(t, a, CONSENT_MISMATCH);
	json_decref(a);
	a = consent_answer(body);
	json_array_append_new(json_object_get(a, "scope"), json_pack(
	    "{s:s, s:[s], s:[]}", "recipient", "borlange-ifo", "classes",
	    "identity", "itemised"));
	expect_unsigned(t, a, CONSENT_MISMATCH);
	json_decref(a);
	a = consent_answer(body);
	json_array_remove(json_object_get(a, "scope"), 0);
	expect_unsigned(t, a, CONSENT_MISMATCH);
	json_decref(a);

	/* Parties, date, owner, recorder changed by the server: refused. */
	a = consent_answer(body);
	e = json_array_get(json_object_get(a, "parties"), 1);
	json_object_set_new(e, "custody", json_false());
	expect_unsigned(t, a, CONSENT_MISMATCH " (parties[1])");
	json_decref(a);
	a = consent_answer(body);
	json_object_set_new(a, "valid_until", json_string("2028-06-30"));
	expect_unsigned(t, a, CONSENT_MISMATCH " (valid_until)");
	json_decref(a);
	a = consent_answer(body);
	json_object_set_new(a, "recorded_by", json_string("eva.ek"));
	expect_unsigned(t, a, CONSENT_MISMATCH " (recorded_by)");
	json_decref(a);

	/* The statement itself widened, without the school's key. */
	a = consent_answer(body);
	doc.cd_scope[0].cs_classes |= REFX_CLASS_BIT(REFX_CLASS_DIAGNOSES);
	free(st);
	assert_int_equal(consent_statement(&doc, CONSENT_ID, SCHOOL, PERSON,
	    &st, &len), 0);
	set_b64(a, "statement", st, len);
	expect_unsigned(t, a, "does not verify");

	/* ...signed, but under the manifest's context. */
	assert_int_equal(refx_manifest_sign(t->key_path, NULL, st, len, sig),
	    0);
	set_b64(a, "signature", sig, sizeof(sig));
	expect_unsigned(t, a, "does not verify");

	/* ...signed properly, but not in canonical form. */
	assert_non_null(text = malloc(len + 1));
	memcpy(text, st, len);
	text[len] = ' ';
	assert_int_equal(refx_sign_ctx(t->key_path, NULL,
	    REFX_CONSENT_CONTEXT, (uint8_t *)text, len + 1, sig), 0);
	set_b64(a, "statement", (uint8_t *)text, len + 1);
	set_b64(a, "signature", sig, sizeof(sig));
	expect_unsigned(t, a, "canonical");
	free(text);
	json_decref(a);

	/* No statement; another consent's; a certificate of another CA. */
	a = consent_answer(body);
	json_object_del(a, "statement");
	expect_unsigned(t, a, "no statement signed by the school");
	json_decref(a);
	a = consent_answer(body);
	assert_int_equal(consent_verify(a, "ffeeddccbbaa99887766554433221100",
	    t->ca.crt, t->ca.crl, &cg, t->err, sizeof(t->err)), -1);
	assert_has(t->err, "another consent");
	assert_int_equal(consent_verify(a, CONSENT_ID, t->other.crt,
	    t->other.crl, &cg, t->err, sizeof(t->err)), -1);
	assert_has(t->err, "the signer's certificate");
	json_decref(a);

	free(st);
	json_decref(body);
	consent_doc_free(&doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_consent_good),
		T(test_consent_errors),
		T(test_consent_parties),
		T(test_consent_public_roundtrip),
		T(test_consent_seal),
		T(test_consent_statement),
		T(test_allowed),
		T(test_manifest),
		T(test_packet_roundtrip),
		T(test_packet_tampering),
		T(test_directory),
		T(test_directory_me),
		T(test_scope_messages),
#undef T
	};

	if (refx_crypto_init())
		return (1);
	return (cmocka_run_group_tests_name("test_cli_packet", tests, NULL,
	    NULL));
}
