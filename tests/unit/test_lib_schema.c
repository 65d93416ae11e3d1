/* The referral schema: drafts, field classes, personnummer, canonical bytes. */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "refx/file.h"
#include "refx/schema.h"

/* A minimal valid draft; tests splice variations into it. */
#define PNR	"811218-9876"
#define DRAFT_HEAD \
	"{\"schema\": \"refx-referral-1\", " \
	"\"recipients\": [\"ludvika-ifo-intake\"], "
#define IDENTITY \
	"\"identity\": {\"name\": \"Elsa Svensson\", " \
	"\"personnummer\": \"" PNR "\"}"
#define SCHOOL \
	"\"school\": {\"school\": \"Marn\xc3\xa4sskolan\", \"class\": \"6B\"}"
#define REASON	"\"referral_reason\": \"H\xc3\xb6g fr\xc3\xa5nvaro.\""
#define BASE_FIELDS	IDENTITY ", " SCHOOL ", " REASON
#define DRAFT(fields)	DRAFT_HEAD "\"fields\": {" fields "}}"
#define DRAFT_WITH(extra) DRAFT("" BASE_FIELDS ", " extra)

struct test_context {
	char	dir[64];
	char	err[512];
};

static int
setup(void **state)
{
	struct test_context *tc;

	if ((tc = calloc(1, sizeof(*tc))) == NULL)
		return (-1);
	snprintf(tc->dir, sizeof(tc->dir), "/tmp/refx-schema.XXXXXX");
	if (mkdtemp(tc->dir) == NULL)
		return (-1);
	*state = tc;
	return (0);
}

static int
teardown(void **state)
{
	struct test_context *tc = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tc->dir);
	if (system(cmd) != 0)
		return (-1);
	free(tc);
	return (0);
}

/* Write ${len} bytes to ${dir}/${name}. */
static void
put_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(refx_file_write(path, data, len, 0600, 0), 0);
}

/* Parse ${json}; it must fail with a message containing ${want}. */
static void
expect_error_len(struct test_context *tc, const char *json, size_t len,
    const char *want)
{
	struct refx_draft *d;

	tc->err[0] = '\0';
	d = refx_draft_parse((const uint8_t *)json, len, tc->dir, tc->err,
	    sizeof(tc->err));
	if (d != NULL) {
		refx_draft_free(d);
		fail_msg("accepted, wanted \"%s\": %s", want, json);
	}
	if (strstr(tc->err, want) == NULL)
		fail_msg("error \"%s\", wanted \"%s\"", tc->err, want);
}

static void
expect_error(struct test_context *tc, const char *json, const char *want)
{

	expect_error_len(tc, json, strlen(json), want);
}

/* Parse ${json}; it must succeed. */
static struct refx_draft *
expect_ok(struct test_context *tc, const char *json)
{
	struct refx_draft *d;

	d = refx_draft_parse((const uint8_t *)json, strlen(json), tc->dir,
	    tc->err, sizeof(tc->err));
	if (d == NULL)
		fail_msg("rejected: %s", tc->err);
	return (d);
}

/* The field ${name} of ${d}, or NULL. */
static const struct refx_field *
field(const struct refx_draft *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->d_nfields; i++)
		if (strcmp(d->d_fields[i].f_name, name) == 0)
			return (&d->d_fields[i]);
	return (NULL);
}

/* The Luhn check digit of nine digits. */
static char
luhn(const char *d9)
{
	int i, t, sum = 0;

	for (i = 0; i < 9; i++) {
		t = (d9[i] - '0') * (i % 2 == 0 ? 2 : 1);
		sum += t > 9 ? t - 9 : t;
	}
	return ((char)('0' + (10 - sum % 10) % 10));
}

/* YYMMDD-NNN plus its check digit, into ${out} (12 bytes). */
static const char *
pnr(char *out, const char *yymmdd, const char *nnn)
{
	char d9[10];

	snprintf(d9, sizeof(d9), "%s%s", yymmdd, nnn);
	snprintf(out, 12, "%s-%s%c", yymmdd, nnn, luhn(d9));
	return (out);
}

static void *
validate_in_thread(void *arg)
{
	static const char v[] = "{\"name\":\"A\",\"personnummer\":\"" PNR "\"}";
	char err[256];

	(void)arg;
	return ((void *)(intptr_t)refx_field_validate("identity",
	    REFX_CLASS_IDENTITY, (const uint8_t *)v, sizeof(v) - 1, err,
	    sizeof(err)));
}

/* First test: the schema loads once, whichever thread comes first. */
static void
schema_loads_once_under_threads(void **state)
{
	pthread_t t[8];
	void *rc;
	size_t i;

	(void)state;
	for (i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL,
		    validate_in_thread, NULL), 0);
	for (i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(t[i], &rc), 0);
		assert_int_equal((intptr_t)rc, 0);
	}
}

static void
embedded_schema_is_the_file(void **state)
{
	json_t *root, *data;
	json_error_t je;
	uint8_t *disk;
	const char *s;
	size_t len, dlen;

	(void)state;
	s = refx_schema_json(&len);
	assert_non_null(s);
	assert_int_equal(strlen(s), len);
	assert_int_equal(refx_file_read("schema/referral-v1.json", 1 << 20,
	    &disk, &dlen), 0);
	assert_int_equal(len, dlen);
	assert_memory_equal(s, disk, len);
	free(disk);

	/* The attachment limit in the schema is the header's. */
	root = json_loadb(s, len, JSON_REJECT_DUPLICATES, &je);
	assert_non_null(root);
	assert_string_equal(json_string_value(json_object_get(root, "schema")),
	    REFX_SCHEMA_ID);
	data = json_object_get(json_object_get(json_object_get(root,
	    "attachment"), "properties"), "data");
	assert_int_equal(json_integer_value(json_object_get(data,
	    "maxDecodedLength")), REFX_ATTACHMENT_MAX);
	assert_int_equal(json_object_size(json_object_get(root, "fields")),
	    REFX_CLASS_COUNT);
	json_decref(root);
}

static void
classes_round_trip(void **state)
{
	enum refx_class c;
	int i;

	(void)state;
	for (i = 0; i < REFX_CLASS_COUNT; i++) {
		assert_int_equal(refx_class_parse(refx_class_name(
		    (enum refx_class)i), &c), 0);
		assert_int_equal(c, i);
		assert_string_not_equal(refx_class_title((enum refx_class)i),
		    "?");
	}
	assert_string_equal(refx_class_name(REFX_CLASS_DIAGNOSES),
	    "diagnoses");
	assert_string_equal(refx_class_name(REFX_CLASS_GUARDIANS),
	    "guardian_contacts");
	assert_string_equal(refx_class_name(REFX_CLASS_REASON),
	    "referral_reason");
	assert_int_equal(refx_class_parse("colour", &c), -1);
	assert_int_equal(refx_class_parse("Diagnoses", &c), -1);
	assert_int_equal(refx_class_parse("", &c), -1);
	assert_int_equal(refx_class_parse(NULL, &c), -1);
	assert_string_equal(refx_class_name((enum refx_class)99), "?");
	assert_string_equal(refx_class_title((enum refx_class)-1), "?");
	assert_int_equal(REFX_CLASSES_ALL, (1u << REFX_CLASS_COUNT) - 1);
}

static void
personnummer_forms_dates_and_check_digits(void **state)
{
	char b[16];

	(void)state;
	/* The given vectors: Luhn over 811218987 gives 6. */
	assert_int_equal(luhn("811218987"), '6');
	assert_true(refx_personnummer_valid("811218-9876"));
	assert_true(refx_personnummer_valid("19811218-9876"));
	assert_true(refx_personnummer_valid("198112189876"));
	assert_true(refx_personnummer_valid("8112189876"));
	assert_true(refx_personnummer_valid("811218+9876"));
	assert_false(refx_personnummer_valid("811218-9875"));
	assert_false(refx_personnummer_valid("19811218-9875"));
	assert_false(refx_personnummer_valid("20811218-9875"));
	assert_true(refx_personnummer_valid("20120314-2847"));

	/* Computed ones. */
	assert_true(refx_personnummer_valid(pnr(b, "121014", "246")));
	assert_true(refx_personnummer_valid(pnr(b, "050311", "456")));
	b[10] = (char)(b[10] == '9' ? '0' : b[10] + 1);
	assert_false(refx_personnummer_valid(b));

	/* Dates: months, days, leap years. */
	assert_false(refx_personnummer_valid(pnr(b, "811318", "987")));
	assert_false(refx_personnummer_valid(pnr(b, "810018", "987")));
	assert_false(refx_personnummer_valid(pnr(b, "811200", "987")));
	assert_false(refx_personnummer_valid(pnr(b, "810431", "987")));
	assert_true(refx_personnummer_valid(pnr(b, "000229", "123")));
	assert_true(refx_personnummer_valid(pnr(b, "120229", "123")));
	assert_false(refx_personnummer_valid(pnr(b, "130229", "123")));
	assert_true(refx_personnummer_valid("20000229-1235"));
	assert_false(refx_personnummer_valid("19000229-1235"));
	assert_false(refx_personnummer_valid("17811218-9876"));

	/* Samordningsnummer: day + 60. */
	assert_true(refx_personnummer_valid(pnr(b, "080761", "234")));
	assert_true(refx_personnummer_valid(pnr(b, "080791", "234")));
	assert_false(refx_personnummer_valid(pnr(b, "080792", "234")));
	assert_false(refx_personnummer_valid(pnr(b, "080760", "234")));
	assert_false(refx_personnummer_valid(pnr(b, "080232", "234")));

	/* Forms. */
	assert_false(refx_personnummer_valid(""));
	assert_false(refx_personnummer_valid(NULL));
	assert_false(refx_personnummer_valid("811218 9876"));
	assert_false(refx_personnummer_valid("81121-89876"));
	assert_false(refx_personnummer_valid("811218-987"));
	assert_false(refx_personnummer_valid("19811218+9876"));
	assert_false(refx_personnummer_valid("1981121-89876"));
	assert_false(refx_personnummer_valid("811218-98760"));
	assert_false(refx_personnummer_valid("81121x-9876"));
	assert_false(refx_personnummer_valid("\xef\xbc\x98" "11218-9876"));
}

static void
utf8_rules(void **state)
{

	(void)state;
	assert_true(refx_utf8_valid("\xc3\x85sa \xc3\x96" "berg", 10, 0));
	assert_true(refx_utf8_valid("", 0, 0));
	assert_false(refx_utf8_valid("\xc3\x28", 2, 0));
	assert_false(refx_utf8_valid("\xc0\xaf", 2, 0));
	assert_false(refx_utf8_valid("\xed\xa0\x80", 3, 0));
	assert_false(refx_utf8_valid("\xf4\x90\x80\x80", 4, 0));
	assert_false(refx_utf8_valid("\xe2\x82", 2, 0));
	assert_false(refx_utf8_valid("a\0b", 3, 1));
	assert_false(refx_utf8_valid("a\nb", 3, 0));
	assert_true(refx_utf8_valid("a\nb\tc", 5, 1));
	assert_false(refx_utf8_valid("a\rb", 3, 1));
	assert_false(refx_utf8_valid("\x1b[31m", 5, 1));
	assert_false(refx_utf8_valid("\xc2\x9b", 2, 1));
	assert_false(refx_utf8_valid("\xe2\x80\xae", 3, 1));	/* RLO */
	assert_false(refx_utf8_valid("\xe2\x80\xa8", 3, 1));	/* LS */
	assert_false(refx_utf8_valid(NULL, 0, 0));
}

static void
example_drafts_load(void **state)
{
	struct test_context *tc = *state;
	struct refx_draft *d;
	const struct refx_field *f;
	size_t i;

	d = refx_draft_load("examples/referral-draft.json", tc->err,
	    sizeof(tc->err));
	if (d == NULL)
		fail_msg("%s", tc->err);
	assert_int_equal(d->d_nfields, REFX_CLASS_COUNT);
	assert_int_equal(d->d_nrecipients, 2);
	assert_string_equal(d->d_recipients[0], "ludvika-ifo-intake");
	assert_string_equal(d->d_recipients[1], "dalarna-bup");
	assert_int_equal(d->d_concern, 0);
	for (i = 0; i < d->d_nfields; i++) {
		f = &d->d_fields[i];
		/* In class order, named after their class. */
		assert_int_equal(f->f_class, i);
		assert_string_equal(f->f_name, refx_class_name(f->f_class));
		if (refx_field_validate(f->f_name, f->f_class, f->f_value,
		    f->f_len, tc->err, sizeof(tc->err)))
			fail_msg("%s", tc->err);
	}
	refx_draft_free(d);

	d = refx_draft_load("examples/concern-draft.json", tc->err,
	    sizeof(tc->err));
	if (d == NULL)
		fail_msg("%s", tc->err);
	assert_int_equal(d->d_concern, 1);
	assert_int_equal(d->d_nrecipients, 1);
	assert_non_null(field(d, "home_situation"));
	assert_null(field(d, "diagnoses"));
	refx_draft_free(d);

	refx_draft_free(NULL);
}

static void
bad_top_level(void **state)
{
	struct test_context *tc = *state;
	char big[REFX_DRAFT_MAX + 64];
	size_t n;

	expect_error(tc, "[1, 2]", "draft: must be a JSON object");
	expect_error(tc, "{", "draft: invalid JSON at line 1");
	expect_error(tc, "{\"schema\": \"refx-referral-1\", \"colour\": 1}",
	    "colour: unknown key");
	expect_error(tc, "{\"recipients\": [], \"fields\": {}}",
	    "draft: missing required key 'schema'");
	expect_error(tc, "{\"schema\": \"refx-referral-2\", \"fields\": {}}",
	    "schema: must be \"refx-referral-1\"");
	expect_error(tc, "{\"schema\": \"refx-referral-1\", "
	    "\"basis\": \"gossip\", \"fields\": {}}",
	    "basis: must be \"consent\" or \"report-of-concern\"");
	expect_error(tc, DRAFT_HEAD "\"attachments\": []}",
	    "draft: missing required key 'fields'");
	expect_error(tc, "{\"schema\": \"refx-referral-1\", \"fields\": {}}",
	    "draft: missing required key 'recipients'");
	expect_error(tc, DRAFT_HEAD "\"fields\": []}",
	    "fields: must be an object");

	/* Bounded before parsing. */
	memset(big, ' ', sizeof(big));
	n = (size_t)snprintf(big, sizeof(big), "%s", DRAFT(BASE_FIELDS));
	big[n] = ' ';
	expect_error_len(tc, big, REFX_DRAFT_MAX + 1, "draft: larger than");
	big[REFX_DRAFT_MAX] = '\0';
	refx_draft_free(expect_ok(tc, big));
}

static void
bad_recipients(void **state)
{
	struct test_context *tc = *state;

#define RCPT(list) "{\"schema\": \"refx-referral-1\", \"recipients\": " \
	list ", \"fields\": {" BASE_FIELDS "}}"
	expect_error(tc, RCPT("[]"), "recipients: must have at least 1");
	expect_error(tc, RCPT("\"ludvika-ifo-intake\""),
	    "recipients: must be an array");
	expect_error(tc, RCPT("[\"a1\", \"a2\", \"a3\", \"a4\", \"a5\", "
	    "\"a6\", \"a7\", \"a8\", \"a9\"]"),
	    "recipients: more than 8 recipients");
	expect_error(tc, RCPT("[\"dalarna-bup\", \"dalarna-bup\"]"),
	    "recipients[1]: duplicate");
	expect_error(tc, RCPT("[\"dalarna-bup\", \"Ludvika IFO\"]"),
	    "recipients[1]: invalid unit id");
	expect_error(tc, RCPT("[\"dalarna-bup\", 7]"),
	    "recipients[1]: invalid unit id");
	expect_error(tc, RCPT("[\"dalarna-bup\\u0000x\"]"),
	    "recipients[0]: invalid unit id");
	refx_draft_free(expect_ok(tc, RCPT("[\"a1\", \"a2\", \"a3\", \"a4\", "
	    "\"a5\", \"a6\", \"a7\", \"a8\"]")));
#undef RCPT
}

static void
bad_fields(void **state)
{
	struct test_context *tc = *state;
	char *long_text;
	size_t n;

	/* Unknown, missing, wrong type. */
	expect_error(tc, DRAFT_WITH("\"colour\": \"red\""),
	    "fields.colour: unknown field");
	expect_error(tc, DRAFT_WITH("\"attachment-1\": \"x\""),
	    "fields.attachment-1: unknown field");
	expect_error(tc, DRAFT(IDENTITY ", " SCHOOL),
	    "fields: missing required field 'referral_reason'");
	expect_error(tc, DRAFT("\"identity\": {\"name\": \"Elsa\"}, " SCHOOL
	    ", " REASON), "fields.identity: missing required field "
	    "'personnummer'");
	expect_error(tc, DRAFT("\"identity\": {\"name\": \"Elsa\", "
	    "\"personnummer\": \"" PNR "\", \"age\": 12}, " SCHOOL ", " REASON),
	    "fields.identity.age: unknown field");
	expect_error(tc, DRAFT("\"identity\": \"Elsa\", " SCHOOL ", " REASON),
	    "fields.identity: must be an object");
	expect_error(tc, DRAFT(IDENTITY ", " SCHOOL ", \"referral_reason\": "
	    "42"), "fields.referral_reason: must be a string");
	expect_error(tc, DRAFT(IDENTITY ", " SCHOOL ", \"referral_reason\": "
	    "null"), "fields.referral_reason: must be a string");
	expect_error(tc, DRAFT(IDENTITY ", " SCHOOL ", \"referral_reason\": "
	    "\"\""), "fields.referral_reason: must not be empty");

	/* Sizes. */
	expect_error(tc, DRAFT(IDENTITY ", \"school\": {\"school\": \"M\", "
	    "\"class\": \"6B-with-a-long-name\"}, " REASON),
	    "fields.school.class: longer than 16 characters");
	/* 16 characters of two bytes each are 16, not 32. */
	refx_draft_free(expect_ok(tc, DRAFT(IDENTITY ", \"school\": "
	    "{\"school\": \"M\", \"class\": \"\xc3\xa5\xc3\xa5\xc3\xa5\xc3\xa5"
	    "\xc3\xa5\xc3\xa5\xc3\xa5\xc3\xa5\xc3\xa5\xc3\xa5\xc3\xa5\xc3\xa5"
	    "\xc3\xa5\xc3\xa5\xc3\xa5\xc3\xa5\"}, " REASON)));
	assert_non_null(long_text = malloc(9000));
	n = (size_t)snprintf(long_text, 9000, DRAFT_HEAD "\"fields\": {"
	    BASE_FIELDS ", \"absence_pattern\": \"");
	memset(long_text + n, 'x', 8001);
	snprintf(long_text + n + 8001, 9000 - n - 8001, "\"}}");
	expect_error(tc, long_text,
	    "fields.absence_pattern: longer than 8000 characters");
	snprintf(long_text + n + 8000, 9000 - n - 8000, "\"}}");
	refx_draft_free(expect_ok(tc, long_text));
	free(long_text);

	/* Numbers and ranges. */
	expect_error(tc, DRAFT(IDENTITY ", \"school\": {\"school\": \"M\", "
	    "\"class\": \"6B\", \"grade\": 6.5}, " REASON),
	    "fields.school.grade: must be an integer");
	expect_error(tc, DRAFT(IDENTITY ", \"school\": {\"school\": \"M\", "
	    "\"class\": \"6B\", \"grade\": 11}, " REASON),
	    "fields.school.grade: must be at most 10");
	expect_error(tc, DRAFT(IDENTITY ", \"school\": {\"school\": \"M\", "
	    "\"class\": \"6B\", \"grade\": \"6\"}, " REASON),
	    "fields.school.grade: must be an integer");
}

#define STATS(start, end, abs, unex) \
	"\"absence_stats\": {\"period_start\": \"" start "\", " \
	"\"period_end\": \"" end "\", \"absence_percent\": " abs ", " \
	"\"unexcused_percent\": " unex "}"

static void
bad_absence_stats(void **state)
{
	struct test_context *tc = *state;

	refx_draft_free(expect_ok(tc, DRAFT_WITH(STATS("2024-08-19",
	    "2024-12-20", "38.5", "21"))));
	refx_draft_free(expect_ok(tc, DRAFT_WITH(STATS("2024-02-29",
	    "2024-02-29", "0", "0"))));
	expect_error(tc, DRAFT_WITH(STATS("2024-08-19", "2024-12-20",
	    "\"12\"", "1")),
	    "fields.absence_stats.absence_percent: must be a number");
	expect_error(tc, DRAFT_WITH(STATS("2024-08-19", "2024-12-20", "101",
	    "1")), "fields.absence_stats.absence_percent: must be at most 100");
	expect_error(tc, DRAFT_WITH(STATS("2024-08-19", "2024-12-20", "10",
	    "-1")),
	    "fields.absence_stats.unexcused_percent: must be at least 0");
	expect_error(tc, DRAFT_WITH(STATS("2024-08-19", "2024-12-20", "10",
	    "10.5")), "fields.absence_stats.unexcused_percent: greater than "
	    "absence_percent");
	expect_error(tc, DRAFT_WITH(STATS("2023-02-29", "2024-12-20", "10",
	    "1")), "fields.absence_stats.period_start: not a valid date");
	expect_error(tc, DRAFT_WITH(STATS("2024-08-19", "2024-13-01", "10",
	    "1")), "fields.absence_stats.period_end: not a valid date");
	expect_error(tc, DRAFT_WITH(STATS("2024-8-19", "2024-12-20", "10",
	    "1")), "fields.absence_stats.period_start: not a valid date");
	expect_error(tc, DRAFT_WITH(STATS("2024-12-20", "2024-08-19", "10",
	    "1")), "fields.absence_stats.period_end: before period_start");
	expect_error(tc, DRAFT_WITH("\"absence_stats\": {\"period_start\": "
	    "\"2024-08-19\", \"period_end\": \"2024-12-20\", "
	    "\"absence_percent\": 5}"), "fields.absence_stats: missing "
	    "required field 'unexcused_percent'");
}

static void
bad_personnummer(void **state)
{
	struct test_context *tc = *state;

#define WITH_PNR(p) DRAFT("\"identity\": {\"name\": \"Elsa\", " \
	"\"personnummer\": \"" p "\"}, " SCHOOL ", " REASON)
	expect_error(tc, WITH_PNR("811218-9875"),
	    "fields.identity.personnummer: invalid check digit");
	expect_error(tc, WITH_PNR("811318-9876"),
	    "fields.identity.personnummer: invalid date");
	expect_error(tc, WITH_PNR("81121-89876"),
	    "fields.identity.personnummer: not a personnummer");
	refx_draft_free(expect_ok(tc, WITH_PNR("19811218-9876")));
#undef WITH_PNR
}

static void
bad_lists(void **state)
{
	struct test_context *tc = *state;

#define G(n) "{\"name\": \"" n "\"}"
	refx_draft_free(expect_ok(tc, DRAFT_WITH("\"guardian_contacts\": ["
	    G("A") ", {\"name\": \"B\", \"relation\": \"pappa\", \"phone\": "
	    "\"070-174 06 12\", \"email\": \"b@example.org\", "
	    "\"custody\": false}]")));
	expect_error(tc, DRAFT_WITH("\"guardian_contacts\": []"),
	    "fields.guardian_contacts: must have at least 1 item");
	expect_error(tc, DRAFT_WITH("\"guardian_contacts\": [" G("A") ", "
	    G("B") ", " G("C") ", " G("D") ", " G("E") "]"),
	    "fields.guardian_contacts: more than 4 items");
	expect_error(tc, DRAFT_WITH("\"guardian_contacts\": [" G("A") ", "
	    "{\"name\": \"B\", \"age\": 40}]"),
	    "fields.guardian_contacts[1].age: unknown field");
	expect_error(tc, DRAFT_WITH("\"guardian_contacts\": [{\"phone\": "
	    "\"1\"}]"), "fields.guardian_contacts[0]: missing required field "
	    "'name'");
	expect_error(tc, DRAFT_WITH("\"guardian_contacts\": [{\"name\": \"A\", "
	    "\"custody\": \"yes\"}]"),
	    "fields.guardian_contacts[0].custody: must be a boolean");
	expect_error(tc, DRAFT_WITH("\"guardian_contacts\": [{\"name\": \"A\", "
	    "\"phone\": \"070-174 06 12 070-174 06 12 070-1\"}]"),
	    "fields.guardian_contacts[0].phone: longer than 32 characters");
	expect_error(tc, DRAFT_WITH("\"diagnoses\": [\"a\", \"b\", \"c\", "
	    "\"d\", \"e\", \"f\", \"g\", \"h\", \"i\", \"j\", \"k\", \"l\", "
	    "\"m\", \"n\", \"o\", \"p\", \"q\"]"),
	    "fields.diagnoses: more than 16 items");
	expect_error(tc, DRAFT_WITH("\"diagnoses\": [1]"),
	    "fields.diagnoses[0]: must be a string");
	expect_error(tc, DRAFT_WITH("\"diagnoses\": \"ADHD\""),
	    "fields.diagnoses: must be an array");
	refx_draft_free(expect_ok(tc, DRAFT_WITH("\"diagnoses\": []")));
#undef G
}

static void
bad_text(void **state)
{
	struct test_context *tc = *state;
	struct refx_draft *d;

	/* Duplicate keys, at any depth. */
	expect_error(tc, DRAFT("\"identity\": {\"name\": \"A\", \"name\": "
	    "\"B\", \"personnummer\": \"" PNR "\"}, " SCHOOL ", " REASON),
	    "duplicate");
	expect_error(tc, DRAFT_WITH(REASON), "duplicate");

	/* NUL, named by field. */
	expect_error(tc, DRAFT("\"identity\": {\"name\": \"Elsa\\u0000x\", "
	    "\"personnummer\": \"" PNR "\"}, " SCHOOL ", " REASON),
	    "fields.identity.name: contains a NUL character");
	expect_error(tc, DRAFT_WITH("\"diagnoses\": [\"a\\u0000\"]"),
	    "fields.diagnoses[0]: contains a NUL character");

	/* Invalid UTF-8: the parser refuses it and says where. */
	expect_error(tc, DRAFT("\"identity\": {\"name\": \"Elsa \xff\", "
	    "\"personnummer\": \"" PNR "\"}, " SCHOOL ", " REASON),
	    "draft: invalid JSON at line 1 column");
	expect_error(tc, DRAFT("\"identity\": {\"name\": \"Elsa \xc0\xaf\", "
	    "\"personnummer\": \"" PNR "\"}, " SCHOOL ", " REASON),
	    "draft: invalid JSON at line 1 column");

	/* Control characters: escaped, or raw (which the parser refuses). */
	expect_error(tc, DRAFT("\"identity\": {\"name\": "
	    "\"\\u001b[31mElsa\", \"personnummer\": \"" PNR "\"}, " SCHOOL
	    ", " REASON), "fields.identity.name: contains a control character");
	expect_error(tc, DRAFT("\"identity\": {\"name\": \"Elsa\\nSvensson\", "
	    "\"personnummer\": \"" PNR "\"}, " SCHOOL ", " REASON),
	    "fields.identity.name: contains a control character");
	expect_error(tc, DRAFT_WITH("\"pupil_view\": \"abc\\u202edcb\""),
	    "fields.pupil_view: contains a control character");
	expect_error(tc, DRAFT_WITH("\"pupil_view\": \"a\\rb\""),
	    "fields.pupil_view: contains a control character");
	expect_error(tc, DRAFT_WITH("\"pupil_view\": \"a\\u0085b\""),
	    "fields.pupil_view: contains a control character");
	expect_error(tc, DRAFT("\"identity\": {\"name\": \"Elsa\x1b\", "
	    "\"personnummer\": \"" PNR "\"}, " SCHOOL ", " REASON),
	    "draft: invalid JSON");

	/* Long text may hold newlines and tabs. */
	d = expect_ok(tc, DRAFT_WITH("\"pupil_view\": \"a\\n\\tb\""));
	assert_memory_equal(field(d, "pupil_view")->f_value, "\"a\\n\\tb\"",
	    8);
	refx_draft_free(d);

	/* Messages quote no control characters from the input. */
	expect_error(tc, DRAFT_WITH("\"co\\u001blour\": 1"),
	    "fields.(unprintable): unknown field");
	expect_error(tc, DRAFT("\"identity\": {\"name\": \"E\x1b[2J\"}}"),
	    "draft: invalid JSON");
	assert_null(strchr(tc->err, 0x1b));
}

static void
canonical_bytes(void **state)
{
	struct test_context *tc = *state;
	struct refx_draft *a, *b;
	size_t i;

	a = expect_ok(tc, DRAFT_WITH(STATS("2024-08-19", "2024-12-20", "38.5",
	    "21") ", \"guardian_contacts\": [{\"name\": \"A\", \"custody\": "
	    "true, \"phone\": \"1\"}]"));
	b = expect_ok(tc, "{\"fields\":{\"guardian_contacts\":[{\"phone\":"
	    "\"1\",\"custody\":true,\"name\":\"A\"}],\n\"referral_reason\":"
	    "\"H\xc3\xb6g fr\xc3\xa5nvaro.\",\"absence_stats\":{"
	    "\"unexcused_percent\":21,\"absence_percent\":38.5,\"period_end\":"
	    "\"2024-12-20\",\"period_start\":\"2024-08-19\"},\"school\":{"
	    "\"class\":\"6B\",\"school\":\"Marn\\u00e4sskolan\"},\"identity\":{"
	    "\"personnummer\":\"" PNR "\",\"name\":\"Elsa Svensson\"}},"
	    "\"recipients\":[\"ludvika-ifo-intake\"],\"basis\":\"consent\","
	    "\"schema\":\"refx-referral-1\"}");
	assert_int_equal(a->d_nfields, b->d_nfields);
	for (i = 0; i < a->d_nfields; i++) {
		assert_string_equal(a->d_fields[i].f_name,
		    b->d_fields[i].f_name);
		assert_int_equal(a->d_fields[i].f_len, b->d_fields[i].f_len);
		assert_memory_equal(a->d_fields[i].f_value,
		    b->d_fields[i].f_value, a->d_fields[i].f_len);
	}

	/* Compact, sorted keys, UTF-8 kept as UTF-8. */
	assert_string_equal((const char *)field(a, "identity")->f_value,
	    "{\"name\":\"Elsa Svensson\",\"personnummer\":\"" PNR "\"}");
	assert_string_equal((const char *)field(a, "school")->f_value,
	    "{\"class\":\"6B\",\"school\":\"Marn\xc3\xa4sskolan\"}");
	assert_string_equal((const char *)field(a, "referral_reason")->f_value,
	    "\"H\xc3\xb6g fr\xc3\xa5nvaro.\"");
	assert_string_equal(
	    (const char *)field(a, "guardian_contacts")->f_value,
	    "[{\"custody\":true,\"name\":\"A\",\"phone\":\"1\"}]");
	refx_draft_free(a);
	refx_draft_free(b);
}

static void
field_validate_checks_decrypted_values(void **state)
{
	struct test_context *tc = *state;
	struct refx_draft *d;
	const struct refx_field *f;
	char v[128];

	d = expect_ok(tc, DRAFT(BASE_FIELDS));
	f = field(d, "identity");
	assert_int_equal(refx_field_validate("identity", REFX_CLASS_IDENTITY,
	    f->f_value, f->f_len, tc->err, sizeof(tc->err)), 0);

	/* A tampered value: one digit changed. */
	assert_true(f->f_len < sizeof(v));
	memcpy(v, f->f_value, f->f_len);
	v[f->f_len - 3] = v[f->f_len - 3] == '7' ? '8' : '7';
	assert_int_equal(refx_field_validate("identity", REFX_CLASS_IDENTITY,
	    (uint8_t *)v, f->f_len, tc->err, sizeof(tc->err)), -1);
	assert_non_null(strstr(tc->err,
	    "identity.personnummer: invalid check digit"));

	/* The same value in another spelling. */
	snprintf(v, sizeof(v), "{\"personnummer\":\"" PNR "\",\"name\":"
	    "\"Elsa Svensson\"}");
	assert_int_equal(refx_field_validate("identity", REFX_CLASS_IDENTITY,
	    (uint8_t *)v, strlen(v), tc->err, sizeof(tc->err)), -1);
	assert_non_null(strstr(tc->err, "identity: not in canonical form"));

	/* Wrong name for the class, unknown names, junk. */
	assert_int_equal(refx_field_validate("school", REFX_CLASS_IDENTITY,
	    f->f_value, f->f_len, tc->err, sizeof(tc->err)), -1);
	assert_non_null(strstr(tc->err, "school: unknown field"));
	assert_int_equal(refx_field_validate("attachment-5",
	    REFX_CLASS_IDENTITY, f->f_value, f->f_len, tc->err,
	    sizeof(tc->err)), -1);
	assert_int_equal(refx_field_validate("attachment-01",
	    REFX_CLASS_IDENTITY, f->f_value, f->f_len, tc->err,
	    sizeof(tc->err)), -1);
	assert_int_equal(refx_field_validate("identity",
	    (enum refx_class)REFX_CLASS_COUNT, f->f_value, f->f_len, tc->err,
	    sizeof(tc->err)), -1);
	assert_int_equal(refx_field_validate("identity", REFX_CLASS_IDENTITY,
	    (const uint8_t *)"{\"name\":", 8, tc->err, sizeof(tc->err)), -1);
	assert_non_null(strstr(tc->err, "identity: invalid JSON"));
	assert_int_equal(refx_field_validate("referral_reason",
	    REFX_CLASS_REASON, (const uint8_t *)"\"a\\u0000b\"", 10, tc->err,
	    sizeof(tc->err)), -1);
	assert_non_null(strstr(tc->err, "referral_reason: contains a NUL"));
	assert_int_equal(refx_field_validate("referral_reason",
	    REFX_CLASS_REASON, (const uint8_t *)"\"ok\"", 4, tc->err,
	    sizeof(tc->err)), 0);

	/* Attachments: {name, media_type, data}. */
#define ATT(name, mt, data) "{\"data\":\"" data "\",\"media_type\":\"" mt \
	"\",\"name\":\"" name "\"}"
	snprintf(v, sizeof(v), ATT("r.pdf", "application/pdf", "AAEC"));
	assert_int_equal(refx_field_validate("attachment-1",
	    REFX_CLASS_PSYCHOLOGICAL, (uint8_t *)v, strlen(v), tc->err,
	    sizeof(tc->err)), 0);
	snprintf(v, sizeof(v), ATT("r.pdf", "application/pdf", "AAE="));
	assert_int_equal(refx_field_validate("attachment-4",
	    REFX_CLASS_PSYCHOLOGICAL, (uint8_t *)v, strlen(v), tc->err,
	    sizeof(tc->err)), 0);
	snprintf(v, sizeof(v), ATT("r.pdf", "application/pdf", "AAF="));
	assert_int_equal(refx_field_validate("attachment-1",
	    REFX_CLASS_PSYCHOLOGICAL, (uint8_t *)v, strlen(v), tc->err,
	    sizeof(tc->err)), -1);
	assert_non_null(strstr(tc->err, "attachment-1.data: not base64"));
	snprintf(v, sizeof(v), ATT("r.pdf", "application/pdf", "AA-_"));
	assert_int_equal(refx_field_validate("attachment-1",
	    REFX_CLASS_PSYCHOLOGICAL, (uint8_t *)v, strlen(v), tc->err,
	    sizeof(tc->err)), -1);
	snprintf(v, sizeof(v), ATT("r.pdf", "pdf", "AAEC"));
	assert_int_equal(refx_field_validate("attachment-1",
	    REFX_CLASS_PSYCHOLOGICAL, (uint8_t *)v, strlen(v), tc->err,
	    sizeof(tc->err)), -1);
	assert_non_null(strstr(tc->err,
	    "attachment-1.media_type: not a media type"));
	snprintf(v, sizeof(v), "{\"data\":\"AAEC\",\"name\":\"r.pdf\"}");
	assert_int_equal(refx_field_validate("attachment-1",
	    REFX_CLASS_PSYCHOLOGICAL, (uint8_t *)v, strlen(v), tc->err,
	    sizeof(tc->err)), -1);
	assert_non_null(strstr(tc->err,
	    "attachment-1: missing required field 'media_type'"));
#undef ATT
	refx_draft_free(d);
}

static void
attachment_too_large_when_decrypted(void **state)
{
	struct test_context *tc = *state;
	char *v;
	size_t b64 = (REFX_ATTACHMENT_MAX + 3) / 3 * 4, n;

	/* REFX_ATTACHMENT_MAX + 3 bytes of zeros, in base64. */
	assert_non_null(v = malloc(b64 + 128));
	n = (size_t)snprintf(v, b64 + 128, "{\"data\":\"");
	memset(v + n, 'A', b64);
	n += b64;
	n += (size_t)snprintf(v + n, b64 + 128 - n,
	    "\",\"media_type\":\"a/b\",\"name\":\"x\"}");
	assert_int_equal(refx_field_validate("attachment-2", REFX_CLASS_HOME,
	    (uint8_t *)v, n, tc->err, sizeof(tc->err)), -1);
	assert_non_null(strstr(tc->err, "attachment-2.data: larger than"));
	free(v);
}

static void
attachments(void **state)
{
	struct test_context *tc = *state;
	static const uint8_t pdf[] = { '%', 'P', 'D', 'F', 0x00, 0xff, 0x10 };
	struct refx_draft *d;
	const struct refx_field *f;
	json_t *v;
	json_error_t je;
	uint8_t bin[16];
	size_t binlen;
	char draft[1024], path[256];

	put_file(tc->dir, "psych-report.pdf", pdf, sizeof(pdf));
	put_file(tc->dir, "empty.txt", "", 0);
	d = expect_ok(tc, DRAFT_HEAD "\"fields\": {" BASE_FIELDS "}, "
	    "\"attachments\": [{\"file\": \"psych-report.pdf\", \"class\": "
	    "\"psychological_assessment\", \"name\": \"Psykolog"
	    "utl\xc3\xa5tande\", \"media_type\": \"application/pdf\"}, "
	    "{\"file\": \"empty.txt\", \"class\": \"home_situation\"}]}");
	assert_int_equal(d->d_nfields, 5);
	f = field(d, "attachment-1");
	assert_non_null(f);
	assert_int_equal(f->f_class, REFX_CLASS_PSYCHOLOGICAL);
	assert_string_equal((const char *)f->f_value, "{\"data\":\"JVBERgD/EA=="
	    "\",\"media_type\":\"application/pdf\",\"name\":\"Psykolog"
	    "utl\xc3\xa5tande\"}");
	assert_int_equal(refx_field_validate(f->f_name, f->f_class, f->f_value,
	    f->f_len, tc->err, sizeof(tc->err)), 0);
	v = json_loadb((const char *)f->f_value, f->f_len, 0, &je);
	assert_non_null(v);
	assert_int_equal(sodium_base642bin(bin, sizeof(bin),
	    json_string_value(json_object_get(v, "data")),
	    json_string_length(json_object_get(v, "data")), NULL, &binlen,
	    NULL, sodium_base64_VARIANT_ORIGINAL), 0);
	assert_int_equal(binlen, sizeof(pdf));
	assert_memory_equal(bin, pdf, sizeof(pdf));
	json_decref(v);

	/* Defaults: the base name, application/octet-stream. */
	f = field(d, "attachment-2");
	assert_non_null(f);
	assert_int_equal(f->f_class, REFX_CLASS_HOME);
	assert_string_equal((const char *)f->f_value, "{\"data\":\"\","
	    "\"media_type\":\"application/octet-stream\",\"name\":"
	    "\"empty.txt\"}");
	refx_draft_free(d);

	/* Absolute paths, and loading from a file in another directory. */
	snprintf(draft, sizeof(draft), DRAFT_HEAD "\"fields\": {" BASE_FIELDS
	    "}, \"attachments\": [{\"file\": \"%s/psych-report.pdf\", "
	    "\"class\": \"diagnoses\"}]}", tc->dir);
	refx_draft_free(expect_ok(tc, draft));
	snprintf(draft, sizeof(draft), DRAFT_HEAD "\"fields\": {" BASE_FIELDS
	    "}, \"attachments\": [{\"file\": \"psych-report.pdf\", "
	    "\"class\": \"diagnoses\"}]}");
	put_file(tc->dir, "draft.json", draft, strlen(draft));
	snprintf(path, sizeof(path), "%s/draft.json", tc->dir);
	d = refx_draft_load(path, tc->err, sizeof(tc->err));
	if (d == NULL)
		fail_msg("%s", tc->err);
	assert_non_null(field(d, "attachment-1"));
	refx_draft_free(d);
	d = refx_draft_load("/nonexistent/draft.json", tc->err,
	    sizeof(tc->err));
	assert_null(d);
	assert_non_null(strstr(tc->err, "draft: cannot read"));
}

static void
bad_attachments(void **state)
{
	struct test_context *tc = *state;
	char path[256];
	int fd;

#define ATTACH(list) DRAFT_HEAD "\"fields\": {" BASE_FIELDS "}, " \
	"\"attachments\": " list "}"
#define A(file) "{\"file\": \"" file "\", \"class\": \"diagnoses\"}"
	put_file(tc->dir, "a.txt", "a", 1);

	/* Too large: a sparse file one byte over the limit. */
	snprintf(path, sizeof(path), "%s/big.bin", tc->dir);
	assert_true((fd = open(path, O_WRONLY | O_CREAT, 0600)) >= 0);
	assert_int_equal(ftruncate(fd, REFX_ATTACHMENT_MAX + 1), 0);
	close(fd);
	expect_error(tc, ATTACH("[" A("big.bin") "]"),
	    "attachments[0].file: larger than 2097152 bytes");
	expect_error(tc, ATTACH("[" A("a.txt") ", " A("missing.pdf") "]"),
	    "attachments[1].file: cannot open: No such file or directory");

	/* Not regular: a directory, a FIFO (which must not hang). */
	expect_error(tc, ATTACH("[" A(".") "]"),
	    "attachments[0].file: not a regular file");
	snprintf(path, sizeof(path), "%s/fifo", tc->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	expect_error(tc, ATTACH("[" A("fifo") "]"),
	    "attachments[0].file: not a regular file");

	expect_error(tc, ATTACH("[" A("a.txt") ", " A("a.txt") ", " A("a.txt")
	    ", " A("a.txt") ", " A("a.txt") "]"),
	    "attachments: more than 4 attachments");
	refx_draft_free(expect_ok(tc, ATTACH("[" A("a.txt") ", " A("a.txt")
	    ", " A("a.txt") ", " A("a.txt") "]")));
	expect_error(tc, ATTACH("{}"), "attachments: must be an array");
	expect_error(tc, ATTACH("[\"a.txt\"]"),
	    "attachments[0]: must be an object");
	expect_error(tc, ATTACH("[{\"file\": \"a.txt\", \"class\": "
	    "\"colour\"}]"),
	    "attachments[0].class: unknown class");
	expect_error(tc, ATTACH("[{\"file\": \"a.txt\"}]"),
	    "attachments[0]: missing required key 'class'");
	expect_error(tc, ATTACH("[{\"class\": \"diagnoses\"}]"),
	    "attachments[0]: missing required key 'file'");
	expect_error(tc, ATTACH("[{\"file\": \"\", \"class\": \"diagnoses\"}]"),
	    "attachments[0].file: must be a file name");
	expect_error(tc, ATTACH("[{\"file\": \"a.txt\", \"class\": "
	    "\"diagnoses\", \"path\": \"x\"}]"),
	    "attachments[0].path: unknown key");
	expect_error(tc, ATTACH("[{\"file\": \"a.txt\", \"class\": "
	    "\"diagnoses\", \"media_type\": \"pdf\"}]"),
	    "attachments[0].media_type: not a media type");
	expect_error(tc, ATTACH("[{\"file\": \"a.txt\", \"class\": "
	    "\"diagnoses\", \"name\": \"a\\nb\"}]"),
	    "attachments[0].name: contains a control character");
	expect_error(tc, ATTACH("[{\"file\": \"a.txt\\u0000.pdf\", \"class\": "
	    "\"diagnoses\"}]"), "attachments[0].file: must be a file name");
#undef A
#undef ATTACH
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(schema_loads_once_under_threads),
		cmocka_unit_test(embedded_schema_is_the_file),
		cmocka_unit_test(classes_round_trip),
		cmocka_unit_test(personnummer_forms_dates_and_check_digits),
		cmocka_unit_test(utf8_rules),
		cmocka_unit_test_setup_teardown(example_drafts_load, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(bad_top_level, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(bad_recipients, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(bad_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_absence_stats, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(bad_personnummer, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(bad_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_text, setup, teardown),
		cmocka_unit_test_setup_teardown(canonical_bytes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    field_validate_checks_decrypted_values, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    attachment_too_large_when_decrypted, setup, teardown),
		cmocka_unit_test_setup_teardown(attachments, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_attachments, setup,
		    teardown),
	};

	if (sodium_init() < 0)
		return (1);
	return (cmocka_run_group_tests_name("schema", tests, NULL, NULL));
}
