/* The disclosure policy: etc/policy.json, the parser, the decision. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "refx/file.h"
#include "refx/policy.h"

#define POLICY_FILE	"etc/policy.json"
#define POLICY_DOC	"docs/policy.md"

struct test_context {
	uint8_t			*bytes;		/* etc/policy.json */
	size_t			 len;
	json_t			*doc;		/* the same, read by jansson */
	struct refx_policy	*p;		/* the same, read by librefx */
	char			 err[512];
};

static int
setup(void **state)
{
	struct test_context *tc;
	json_error_t je;

	if ((tc = calloc(1, sizeof(*tc))) == NULL)
		return (-1);
	if (refx_file_read(POLICY_FILE, REFX_POLICY_MAX, &tc->bytes, &tc->len))
		return (-1);
	if ((tc->doc = json_loadb((const char *)tc->bytes, tc->len, 0, &je)) ==
	    NULL)
		return (-1);
	tc->p = refx_policy_parse(tc->bytes, tc->len, tc->err,
	    sizeof(tc->err));
	if (tc->p == NULL) {
		print_error("%s: %s\n", POLICY_FILE, tc->err);
		return (-1);
	}
	*state = tc;
	return (0);
}

static int
teardown(void **state)
{
	struct test_context *tc = *state;

	refx_policy_free(tc->p);
	json_decref(tc->doc);
	free(tc->bytes);
	free(tc);
	return (0);
}

/* --- A synthetic policy: every cell "never", refs "ref-CLASS-KIND" ------ */

static json_t *
synthetic(void)
{
	json_t *root, *rules, *row;
	char ref[96];
	int c, k;

	root = json_pack("{s:s, s:s, s:{}, s:{s:[s], s:[s], s:s}}",
	    "document", "refx-policy", "version", "test.1", "rules",
	    "report_of_concern", "to_kinds", "ifo", "classes", "diagnoses",
	    "ref", "concern-ref");
	assert_non_null(root);
	rules = json_object_get(root, "rules");
	for (c = 0; c < REFX_CLASS_COUNT; c++) {
		assert_non_null(row = json_object());
		for (k = 0; k < REFX_KIND_COUNT; k++) {
			snprintf(ref, sizeof(ref), "ref-%s-%s",
			    refx_class_name((enum refx_class)c),
			    refx_kind_name((enum refx_kind)k));
			assert_int_equal(json_object_set_new(row,
			    refx_kind_name((enum refx_kind)k), json_pack(
			    "{s:s, s:s}", "rule", "never", "ref", ref)), 0);
		}
		assert_int_equal(json_object_set_new(rules,
		    refx_class_name((enum refx_class)c), row), 0);
	}
	return (root);
}

/* The cell object rules.${cls}.${kind} of ${root}. */
static json_t *
cell(json_t *root, const char *cls, const char *kind)
{

	return (json_object_get(json_object_get(json_object_get(root, "rules"),
	    cls), kind));
}

/* Serialise ${root} (reference taken) and parse it as a policy. */
static struct refx_policy *
parse_json(json_t *root, char *err, size_t errlen)
{
	struct refx_policy *p;
	char *s;

	assert_non_null(s = json_dumps(root, JSON_INDENT(1)));
	json_decref(root);
	p = refx_policy_parse((const uint8_t *)s, strlen(s), err, errlen);
	free(s);
	return (p);
}

/* ${root} (reference taken) must be rejected with ${want} in the message. */
static void
expect_reject(json_t *root, const char *want)
{
	struct refx_policy *p;
	char err[512] = "";

	if ((p = parse_json(root, err, sizeof(err))) != NULL) {
		refx_policy_free(p);
		fail_msg("accepted, wanted \"%s\"", want);
	}
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\", wanted \"%s\"", err, want);
}

static void
expect_reject_text(const char *text, size_t len, const char *want)
{
	struct refx_policy *p;
	char err[512] = "";

	if ((p = refx_policy_parse((const uint8_t *)text, len, err,
	    sizeof(err))) != NULL) {
		refx_policy_free(p);
		fail_msg("accepted, wanted \"%s\"", want);
	}
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\", wanted \"%s\"", err, want);
}

/* --- The shipped policy -------------------------------------------------- */

static void
every_cell_present(void **state)
{
	struct test_context *tc = *state;
	const char *ref;
	enum refx_rule r;
	int c, k;

	for (c = 0; c < REFX_CLASS_COUNT; c++)
		for (k = 0; k < REFX_KIND_COUNT; k++) {
			ref = NULL;
			r = refx_policy_rule(tc->p, (enum refx_kind)k,
			    (enum refx_class)c, &ref);
			assert_true((unsigned)r <= REFX_RULE_CONCERN);
			assert_non_null(ref);
			assert_true(strlen(ref) > 0);
		}
	assert_string_equal(refx_policy_version(tc->p), json_string_value(
	    json_object_get(tc->doc, "version")));
	assert_int_equal(json_object_size(json_object_get(tc->doc, "rules")),
	    REFX_CLASS_COUNT);
}

/* The cells of domain.md section 6 that the design turns on. */
static void
spot_cells(void **state)
{
	struct test_context *tc = *state;
	const char *ref;
	int c, k;

#define RULE(kind, cls) refx_policy_rule(tc->p, REFX_KIND_##kind, \
	REFX_CLASS_##cls, NULL)
	assert_int_equal(RULE(BUP, DIAGNOSES), REFX_RULE_ITEMISED);
	assert_int_equal(RULE(BUP, EMI_MEDICAL), REFX_RULE_ITEMISED);
	assert_int_equal(RULE(BUP, PSYCHOLOGICAL), REFX_RULE_ITEMISED);
	assert_int_equal(RULE(BUP, IDENTITY), REFX_RULE_CONSENT);
	assert_int_equal(RULE(BUP, HOME), REFX_RULE_CONSENT);
	assert_int_equal(RULE(IFO, IDENTITY), REFX_RULE_CONSENT);
	assert_int_equal(RULE(IFO, HOME), REFX_RULE_CONSENT);
	assert_int_equal(RULE(IFO, EMI_MEDICAL), REFX_RULE_ITEMISED);
	assert_int_equal(RULE(IFO, DIAGNOSES), REFX_RULE_ITEMISED);
	assert_int_equal(RULE(PRIMARY_CARE, PSYCHOLOGICAL), REFX_RULE_ITEMISED);
	assert_int_equal(RULE(PRIMARY_CARE, ABSENCE_STATS), REFX_RULE_CONSENT);
	assert_int_equal(RULE(FORUM, GUARDIANS), REFX_RULE_NEVER);
	assert_int_equal(RULE(FORUM, DIAGNOSES), REFX_RULE_ITEMISED);
	assert_int_equal(RULE(FORUM, IDENTITY), REFX_RULE_CONSENT);
	assert_int_equal(RULE(SCHOOL, IDENTITY), REFX_RULE_CONSENT);
#undef RULE

	/* The references say what the rule rests on. */
	refx_policy_rule(tc->p, REFX_KIND_BUP, REFX_CLASS_DIAGNOSES, &ref);
	assert_non_null(strstr(ref, "GDPR art. 9"));
	refx_policy_rule(tc->p, REFX_KIND_IFO, REFX_CLASS_IDENTITY, &ref);
	assert_non_null(strstr(ref, "OSL 12 kap. 2 §"));

	/* Supervisors and auditors: metadata only, never a field. */
	for (c = 0; c < REFX_CLASS_COUNT; c++)
		assert_int_equal(refx_policy_rule(tc->p, REFX_KIND_SUPERVISOR,
		    (enum refx_class)c, NULL), REFX_RULE_NEVER);

	/* A report of concern goes to IFO only. */
	for (k = 0; k < REFX_KIND_COUNT; k++)
		for (c = 0; c < REFX_CLASS_COUNT; c++)
			if (k != REFX_KIND_IFO)
				assert_false(refx_policy_concern(tc->p,
				    (enum refx_kind)k, (enum refx_class)c,
				    NULL));
	assert_true(refx_policy_concern(tc->p, REFX_KIND_IFO,
	    REFX_CLASS_IDENTITY, &ref));
	assert_non_null(strstr(ref, "OSL 10 kap. 28 §"));
	assert_true(refx_policy_concern(tc->p, REFX_KIND_IFO, REFX_CLASS_HOME,
	    NULL));
	assert_true(refx_policy_concern(tc->p, REFX_KIND_IFO,
	    REFX_CLASS_REASON, NULL));
	assert_int_equal(refx_policy_allowed_set(tc->p, REFX_BASIS_CONCERN,
	    REFX_KIND_BUP, REFX_CLASSES_ALL, REFX_CLASSES_ALL), 0);
	assert_int_equal(refx_policy_allowed_set(tc->p, REFX_BASIS_CONSENT,
	    REFX_KIND_SUPERVISOR, REFX_CLASSES_ALL, REFX_CLASSES_ALL), 0);
	assert_int_equal(refx_policy_allowed_set(tc->p, REFX_BASIS_CONSENT,
	    REFX_KIND_BUP, 0, 0), 0);
}

/* What the file says, recomputed here with jansson. */
static refx_classes
expected_set(json_t *doc, enum refx_basis basis, enum refx_kind kind,
    refx_classes consented, refx_classes itemised)
{
	json_t *roc, *a;
	const char *rule, *cn, *kn = refx_kind_name(kind);
	refx_classes set = 0, bit;
	size_t i;
	int c, in_kinds = 0, in_classes;

	roc = json_object_get(doc, "report_of_concern");
	a = json_object_get(roc, "to_kinds");
	for (i = 0; i < json_array_size(a); i++)
		if (strcmp(json_string_value(json_array_get(a, i)), kn) == 0)
			in_kinds = 1;
	for (c = 0; c < REFX_CLASS_COUNT; c++) {
		cn = refx_class_name((enum refx_class)c);
		bit = REFX_CLASS_BIT(c);
		if (basis == REFX_BASIS_CONCERN) {
			a = json_object_get(roc, "classes");
			in_classes = 0;
			for (i = 0; i < json_array_size(a); i++)
				if (strcmp(json_string_value(json_array_get(a,
				    i)), cn) == 0)
					in_classes = 1;
			if (in_kinds && in_classes)
				set |= bit;
			continue;
		}
		rule = json_string_value(json_object_get(cell(doc, cn, kn),
		    "rule"));
		assert_non_null(rule);
		if (strcmp(rule, "consent") == 0 &&
		    ((consented | itemised) & bit))
			set |= bit;
		else if (strcmp(rule, "itemised") == 0 && (itemised & bit))
			set |= bit;
	}
	return (set);
}

static void
allowed_set_follows_the_file(void **state)
{
	struct test_context *tc = *state;
	static const refx_classes masks[] = {
		0, REFX_CLASSES_ALL, 0x0555, 0x1aaa, 0x01c0, 0x1e3f
	};
	size_t ci, ii;
	int b, k;

	for (b = REFX_BASIS_CONSENT; b <= REFX_BASIS_CONCERN; b++)
		for (k = 0; k < REFX_KIND_COUNT; k++)
			for (ci = 0; ci < sizeof(masks) / sizeof(masks[0]);
			    ci++)
				for (ii = 0; ii < sizeof(masks) /
				    sizeof(masks[0]); ii++)
					assert_int_equal(
					    refx_policy_allowed_set(tc->p,
					    (enum refx_basis)b,
					    (enum refx_kind)k, masks[ci],
					    masks[ii] & masks[ci]),
					    expected_set(tc->doc,
					    (enum refx_basis)b,
					    (enum refx_kind)k, masks[ci],
					    masks[ii] & masks[ci]));

	/* One class at a time, too. */
	for (k = 0; k < REFX_KIND_COUNT; k++)
		for (ci = 0; ci < REFX_CLASS_COUNT; ci++) {
			assert_int_equal(refx_policy_allowed_set(tc->p,
			    REFX_BASIS_CONSENT, (enum refx_kind)k,
			    REFX_CLASS_BIT(ci), 0), expected_set(tc->doc,
			    REFX_BASIS_CONSENT, (enum refx_kind)k,
			    REFX_CLASS_BIT(ci), 0));
			assert_int_equal(refx_policy_allowed_set(tc->p,
			    REFX_BASIS_CONSENT, (enum refx_kind)k,
			    REFX_CLASS_BIT(ci), REFX_CLASS_BIT(ci)),
			    expected_set(tc->doc, REFX_BASIS_CONSENT,
			    (enum refx_kind)k, REFX_CLASS_BIT(ci),
			    REFX_CLASS_BIT(ci)));
		}
}

/* The hand-written table in docs/policy.md matches the file. */
static void
doc_table_matches_the_file(void **state)
{
	struct test_context *tc = *state;
	uint8_t *md;
	char *line, *next, *cells[16], *p, *end;
	enum refx_kind kinds[16];
	enum refx_class cls;
	refx_classes seen = 0;
	size_t len, n, i, ncols = 0;
	int in_table = 0;

	assert_int_equal(refx_file_read(POLICY_DOC, 1 << 20, &md, &len), 0);
	for (line = (char *)md; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strstr(line, "<!-- matrix:begin") != NULL) {
			in_table = 1;
			continue;
		}
		if (strstr(line, "<!-- matrix:end") != NULL)
			break;
		if (!in_table || line[0] != '|' || strstr(line, "---") != NULL)
			continue;

		/* Split "| a | b |" into trimmed cells without backticks. */
		n = 0;
		for (p = line + 1; *p != '\0' && n < 16; p = end + 1) {
			if ((end = strchr(p, '|')) == NULL)
				break;
			*end = '\0';
			while (*p == ' ' || *p == '`')
				p++;
			for (i = strlen(p); i > 0 && (p[i - 1] == ' ' ||
			    p[i - 1] == '`'); i--)
				p[i - 1] = '\0';
			cells[n++] = p;
		}
		if (ncols == 0) {
			/* The header names the kinds. */
			for (i = 1; i < n; i++)
				if (refx_kind_parse(cells[i], &kinds[ncols]) ==
				    0)
					ncols++;
			assert_int_equal(ncols, REFX_KIND_COUNT);
			continue;
		}
		if (refx_class_parse(cells[0], &cls))
			fail_msg("%s: unknown class '%s'", POLICY_DOC,
			    cells[0]);
		assert_true(n >= ncols + 1);
		seen |= REFX_CLASS_BIT(cls);
		for (i = 0; i < ncols; i++) {
			const char *want = refx_rule_name(refx_policy_rule(
			    tc->p, kinds[i], cls, NULL));

			if (strncmp(cells[i + 1], want, strlen(want)) != 0 ||
			    (cells[i + 1][strlen(want)] != '\0' &&
			    cells[i + 1][strlen(want)] != ' '))
				fail_msg("%s: %s/%s says \"%s\", %s says %s",
				    POLICY_DOC, cells[0],
				    refx_kind_name(kinds[i]), cells[i + 1],
				    POLICY_FILE, want);
		}
	}
	assert_int_equal(seen, REFX_CLASSES_ALL);
	free(md);
}

/* --- The parser and the decision, on synthetic policies ----------------- */

static void
allows_truth_table(void **state)
{
	static const char *const phrase[] = {
		[REFX_RULE_NEVER] = "may never go to bup",
		[REFX_RULE_CONSENT] = "may go to bup only with consent",
		[REFX_RULE_ITEMISED] =
		    "may go to bup only with itemised consent",
		[REFX_RULE_CONCERN] =
		    "may go to bup only in a report of concern",
	};
	struct refx_policy *p;
	json_t *root;
	const char *ref;
	char err[512], why[512];
	int r, c, i, want;

	(void)state;
	for (r = REFX_RULE_NEVER; r <= REFX_RULE_CONCERN; r++) {
		root = synthetic();
		json_object_set_new(cell(root, "diagnoses", "bup"), "rule",
		    json_string(refx_rule_name((enum refx_rule)r)));
		json_object_set_new(cell(root, "diagnoses", "ifo"), "rule",
		    json_string(refx_rule_name((enum refx_rule)r)));
		p = parse_json(root, err, sizeof(err));
		if (p == NULL)
			fail_msg("%s", err);
		assert_int_equal(refx_policy_rule(p, REFX_KIND_BUP,
		    REFX_CLASS_DIAGNOSES, &ref), r);
		assert_string_equal(ref, "ref-diagnoses-bup");

		for (c = 0; c <= 1; c++)
			for (i = 0; i <= 1; i++) {
				/* Consent: the cell decides. */
				want = (r == REFX_RULE_CONSENT && (c || i)) ||
				    (r == REFX_RULE_ITEMISED && i);
				why[0] = 'x';
				assert_int_equal(refx_policy_allows(p,
				    REFX_BASIS_CONSENT, REFX_KIND_BUP,
				    REFX_CLASS_DIAGNOSES, c, i, why,
				    sizeof(why)), want);
				if (want)
					assert_string_equal(why, "");
				else {
					assert_non_null(strstr(why,
					    "class 'diagnoses'"));
					assert_non_null(strstr(why, phrase[r]));
					assert_non_null(strstr(why,
					    "(ref-diagnoses-bup)"));
				}

				/* Report of concern: the list decides. */
				assert_int_equal(refx_policy_allows(p,
				    REFX_BASIS_CONCERN, REFX_KIND_BUP,
				    REFX_CLASS_DIAGNOSES, c, i, why,
				    sizeof(why)), 0);
				assert_non_null(strstr(why, "class 'diagnoses' "
				    "may not go to bup in a report of concern "
				    "(concern-ref)"));
				assert_int_equal(refx_policy_allows(p,
				    REFX_BASIS_CONCERN, REFX_KIND_IFO,
				    REFX_CLASS_DIAGNOSES, c, i, why,
				    sizeof(why)), 1);
				assert_int_equal(refx_policy_allows(p,
				    REFX_BASIS_CONCERN, REFX_KIND_IFO,
				    REFX_CLASS_IDENTITY, c, i, why,
				    sizeof(why)), 0);
			}
		refx_policy_free(p);
	}

	/* Out of range, and NULL/short buffers for the reason. */
	root = synthetic();
	p = parse_json(root, err, sizeof(err));
	assert_non_null(p);
	assert_int_equal(refx_policy_allows(p, REFX_BASIS_CONSENT,
	    (enum refx_kind)REFX_KIND_COUNT, REFX_CLASS_IDENTITY, 1, 1, why,
	    sizeof(why)), 0);
	assert_int_equal(refx_policy_allows(p, REFX_BASIS_CONSENT,
	    REFX_KIND_IFO, (enum refx_class)REFX_CLASS_COUNT, 1, 1, why,
	    sizeof(why)), 0);
	assert_int_equal(refx_policy_allows(p, (enum refx_basis)7,
	    REFX_KIND_IFO, REFX_CLASS_IDENTITY, 1, 1, why, sizeof(why)), 0);
	assert_int_equal(refx_policy_allows(p, REFX_BASIS_CONSENT,
	    REFX_KIND_IFO, REFX_CLASS_IDENTITY, 1, 1, NULL, 0), 0);
	assert_int_equal(refx_policy_allows(p, REFX_BASIS_CONSENT,
	    REFX_KIND_IFO, REFX_CLASS_IDENTITY, 1, 1, why, 4), 0);
	assert_int_equal(strlen(why), 3);
	assert_int_equal(refx_policy_rule(p, (enum refx_kind)-1,
	    REFX_CLASS_IDENTITY, &ref), REFX_RULE_NEVER);
	assert_string_equal(ref, "");
	refx_policy_free(p);
	refx_policy_free(NULL);
}

static void
rejects_bad_policies(void **state)
{
	static char big[REFX_POLICY_MAX + 2];
	static const char dup[] = "{\"document\": \"refx-policy\", "
	    "\"document\": \"refx-policy\"}";
	static const char trunc[] = "{\"document\": ";
	json_t *root;

	(void)state;
	root = synthetic();
	json_object_del(json_object_get(json_object_get(root, "rules"),
	    "diagnoses"), "bup");
	expect_reject(root, "rules.diagnoses.bup: missing");

	root = synthetic();
	json_object_del(json_object_get(root, "rules"), "diagnoses");
	expect_reject(root, "rules.diagnoses: missing");

	root = synthetic();
	json_object_set_new(cell(root, "diagnoses", "bup"), "rule",
	    json_string("maybe"));
	expect_reject(root, "rules.diagnoses.bup.rule: unknown rule 'maybe'");

	root = synthetic();
	json_object_del(cell(root, "diagnoses", "bup"), "rule");
	expect_reject(root, "rules.diagnoses.bup.rule: missing");

	root = synthetic();
	json_object_set_new(cell(root, "diagnoses", "bup"), "note",
	    json_string("x"));
	expect_reject(root, "rules.diagnoses.bup.note: unknown key");

	root = synthetic();
	json_object_set_new(cell(root, "diagnoses", "bup"), "ref",
	    json_string(""));
	expect_reject(root, "rules.diagnoses.bup.ref: must be a non-empty "
	    "string");

	root = synthetic();
	json_object_del(cell(root, "diagnoses", "bup"), "ref");
	expect_reject(root, "rules.diagnoses.bup.ref: missing");

	root = synthetic();
	json_object_set_new(cell(root, "diagnoses", "bup"), "ref",
	    json_string("OSL\x1b[2J"));
	expect_reject(root, "rules.diagnoses.bup.ref: contains a control "
	    "character");

	root = synthetic();
	json_object_set_new(cell(root, "diagnoses", "bup"), "ref",
	    json_integer(25));
	expect_reject(root, "rules.diagnoses.bup.ref: must be a non-empty "
	    "string");

	root = synthetic();
	json_object_set_new(json_object_get(root, "rules"), "colour",
	    json_object());
	expect_reject(root, "rules.colour: unknown class");

	root = synthetic();
	json_object_set_new(json_object_get(json_object_get(root, "rules"),
	    "diagnoses"), "police", json_pack("{s:s, s:s}", "rule", "never",
	    "ref", "x"));
	expect_reject(root, "rules.diagnoses.police: unknown kind");

	root = synthetic();
	json_object_set_new(root, "colour", json_string("red"));
	expect_reject(root, "colour: unknown key");

	root = synthetic();
	json_object_set_new(json_object_get(root, "report_of_concern"),
	    "extra", json_true());
	expect_reject(root, "report_of_concern.extra: unknown key");

	root = synthetic();
	json_object_set_new(json_object_get(root, "report_of_concern"),
	    "to_kinds", json_pack("[s]", "police"));
	expect_reject(root, "report_of_concern.to_kinds[0]: unknown kind");

	root = synthetic();
	json_object_set_new(json_object_get(root, "report_of_concern"),
	    "classes", json_pack("[s, s]", "identity", "identity"));
	expect_reject(root, "report_of_concern.classes[1]: duplicate");

	root = synthetic();
	json_object_set_new(json_object_get(root, "report_of_concern"),
	    "ref", json_string(""));
	expect_reject(root, "report_of_concern.ref: must be a non-empty "
	    "string");

	root = synthetic();
	json_object_del(root, "report_of_concern");
	expect_reject(root, "report_of_concern: missing");

	root = synthetic();
	json_object_set_new(root, "document", json_string("refx-policy-2"));
	expect_reject(root, "document: must be \"refx-policy\"");

	root = synthetic();
	json_object_del(root, "version");
	expect_reject(root, "version: missing");

	root = synthetic();
	json_object_set_new(root, "version", json_string("1 2"));
	expect_reject(root, "version: must be");

	/* Text-level: duplicates, syntax, size. */
	expect_reject_text(dup, strlen(dup), "duplicate");
	expect_reject_text(trunc, strlen(trunc), "policy: invalid JSON");
	expect_reject_text("[]", 2, "policy: must be a JSON object");
	memset(big, ' ', sizeof(big));
	expect_reject_text(big, REFX_POLICY_MAX + 1, "policy: larger than");
	expect_reject_text(NULL, 0, "policy: no input");
}

static void
hash_is_of_the_exact_bytes(void **state)
{
	struct test_context *tc = *state;
	struct refx_policy *p;
	uint8_t h[REFX_HASH_LEN], *copy;
	char *v;

	crypto_hash_sha256(h, tc->bytes, tc->len);
	assert_memory_equal(refx_policy_hash(tc->p), h, REFX_HASH_LEN);

	/* One byte of the version changed. */
	assert_non_null(copy = malloc(tc->len + 1));
	memcpy(copy, tc->bytes, tc->len);
	copy[tc->len] = '\0';
	assert_non_null(v = strstr((char *)copy, refx_policy_version(tc->p)));
	v[strlen(refx_policy_version(tc->p)) - 1] ^= 1;
	p = refx_policy_parse(copy, tc->len, tc->err, sizeof(tc->err));
	assert_non_null(p);
	assert_memory_not_equal(refx_policy_hash(p), h, REFX_HASH_LEN);
	assert_string_not_equal(refx_policy_version(p),
	    refx_policy_version(tc->p));
	refx_policy_free(p);

	/* Same meaning, one more byte of white space: another policy. */
	memcpy(copy, tc->bytes, tc->len);
	copy[tc->len] = '\n';
	p = refx_policy_parse(copy, tc->len + 1, tc->err, sizeof(tc->err));
	assert_non_null(p);
	assert_memory_not_equal(refx_policy_hash(p), h, REFX_HASH_LEN);
	refx_policy_free(p);
	free(copy);
}

/* A case_flow section answering for every kind. */
static json_t *
case_flow(void)
{
	json_t *cf, *answers;
	int k;

	cf = json_pack("{s:i, s:s, s:{}}", "follow_up_months", 6,
	    "follow_up_ref", "local routine", "answers");
	assert_non_null(cf);
	answers = json_object_get(cf, "answers");
	for (k = 0; k < REFX_KIND_COUNT; k++)
		assert_int_equal(json_object_set_new(answers,
		    refx_kind_name((enum refx_kind)k), json_pack(
		    "{s:[s], s:s, s:s}", "outcomes", "advice-given", "message",
		    k == REFX_KIND_IFO ? "consent" : "never", "ref",
		    "answer-ref")), 0);
	return (cf);
}

/* The shipped file: IFO's three outcomes, 12 months, retention rows. */
static void
case_flow_and_retention_of_the_file(void **state)
{
	struct test_context *tc = *state;
	const char *const *codes;
	const char *ref;
	unsigned years;
	size_t n;

	codes = refx_policy_outcomes(tc->p, REFX_KIND_IFO, &n, &ref);
	assert_int_equal(n, 3);
	assert_string_equal(codes[0], "investigation-opened");
	assert_non_null(strstr(ref, "14 kap. 1 b"));
	assert_true(refx_policy_outcome_allowed(tc->p, REFX_KIND_IFO,
	    "investigation-ongoing"));
	assert_false(refx_policy_outcome_allowed(tc->p, REFX_KIND_IFO,
	    "advice-given"));
	assert_false(refx_policy_outcome_allowed(tc->p, REFX_KIND_BUP,
	    "investigation-opened"));
	assert_false(refx_policy_outcome_allowed(tc->p, REFX_KIND_IFO, NULL));
	assert_int_equal(refx_policy_answer_message(tc->p, REFX_KIND_IFO),
	    REFX_RULE_CONSENT);
	assert_int_equal(refx_policy_answer_message(tc->p,
	    REFX_KIND_SUPERVISOR), REFX_RULE_NEVER);
	assert_int_equal(refx_policy_follow_up_months(tc->p, &ref), 12);
	assert_non_null(ref);

	assert_int_equal(refx_policy_retention(tc->p, REFX_KIND_BUP,
	    REFX_RECORD_REFERRAL, &years, &ref), 1);
	assert_int_equal(years, 10);
	assert_non_null(strstr(ref, "PDL"));
	assert_int_equal(refx_policy_retention(tc->p, REFX_KIND_IFO,
	    REFX_RECORD_REFERRAL, &years, &ref), 1);
	assert_int_equal(years, 5);
	/* Kept: by "keep", and by saying nothing. */
	assert_int_equal(refx_policy_retention(tc->p, REFX_KIND_SUPERVISOR,
	    REFX_RECORD_REFERRAL, &years, &ref), 0);
	assert_int_equal(years, 0);
	assert_non_null(ref);
	assert_int_equal(refx_policy_retention(tc->p, REFX_KIND_IFO,
	    REFX_RECORD_CONSENT, &years, &ref), 0);
	assert_null(ref);
	assert_string_equal(refx_record_name(REFX_RECORD_CONSENT), "consent");
	assert_string_equal(refx_record_name(REFX_RECORD_COUNT), "?");
}

/* Without the sections: no answers, 12 months, everything kept. */
static void
case_flow_defaults_and_errors(void **state)
{
	struct refx_policy *p;
	unsigned years;
	size_t n;
	json_t *root;
	char err[512];

	(void)state;
	assert_non_null(p = parse_json(synthetic(), err, sizeof(err)));
	(void)refx_policy_outcomes(p, REFX_KIND_IFO, &n, NULL);
	assert_int_equal(n, 0);
	assert_int_equal(refx_policy_answer_message(p, REFX_KIND_IFO),
	    REFX_RULE_NEVER);
	assert_int_equal(refx_policy_follow_up_months(p, NULL), 12);
	assert_int_equal(refx_policy_retention(p, REFX_KIND_BUP,
	    REFX_RECORD_REFERRAL, &years, NULL), 0);
	refx_policy_free(p);

	root = synthetic();
	json_object_set_new(root, "case_flow", case_flow());
	json_object_set_new(root, "retention", json_pack("{s:{s:{s:i, s:s}}}",
	    "ifo", "referral", "years", 3, "ref", "r"));
	assert_non_null(p = parse_json(root, err, sizeof(err)));
	assert_int_equal(refx_policy_follow_up_months(p, NULL), 6);
	assert_int_equal(refx_policy_retention(p, REFX_KIND_IFO,
	    REFX_RECORD_REFERRAL, &years, NULL), 1);
	assert_int_equal(years, 3);
	refx_policy_free(p);

	root = synthetic();
	json_object_set_new(root, "case_flow", case_flow());
	json_object_del(json_object_get(json_object_get(root, "case_flow"),
	    "answers"), "bup");
	expect_reject(root, "case_flow.answers.bup: missing");

	root = synthetic();
	json_object_set_new(root, "case_flow", case_flow());
	json_object_set_new(json_object_get(json_object_get(root, "case_flow"),
	    "answers"), "police", json_object());
	expect_reject(root, "case_flow.answers: unknown kind");

	root = synthetic();
	json_object_set_new(root, "case_flow", case_flow());
	json_object_set_new(json_object_get(root, "case_flow"),
	    "follow_up_months", json_integer(0));
	expect_reject(root, "case_flow.follow_up_months: must be");

	root = synthetic();
	json_object_set_new(root, "case_flow", case_flow());
	json_object_set_new(json_object_get(json_object_get(json_object_get(
	    root, "case_flow"), "answers"), "ifo"), "message",
	    json_string("always"));
	expect_reject(root, "case_flow.answers.ifo.message: must be");

	root = synthetic();
	json_object_set_new(root, "case_flow", case_flow());
	json_array_append_new(json_object_get(json_object_get(json_object_get(
	    json_object_get(root, "case_flow"), "answers"), "ifo"),
	    "outcomes"), json_string("Opened!"));
	expect_reject(root, "case_flow.answers.ifo.outcomes[1]: must be");

	root = synthetic();
	json_object_set_new(root, "case_flow", case_flow());
	json_array_append_new(json_object_get(json_object_get(json_object_get(
	    json_object_get(root, "case_flow"), "answers"), "ifo"),
	    "outcomes"), json_string("advice-given"));
	expect_reject(root, "case_flow.answers.ifo.outcomes[1]: duplicate");

	root = synthetic();
	json_object_set_new(root, "retention", json_pack("{s:{s:{s:i, s:s}}}",
	    "ifo", "referral", "years", 0, "ref", "r"));
	expect_reject(root, "retention.ifo.referral: needs \"years\"");

	root = synthetic();
	json_object_set_new(root, "retention", json_pack(
	    "{s:{s:{s:i, s:b, s:s}}}", "ifo", "referral", "years", 5, "keep",
	    1, "ref", "r"));
	expect_reject(root, "retention.ifo.referral: needs");

	root = synthetic();
	json_object_set_new(root, "retention", json_pack("{s:{s:{s:i, s:s}}}",
	    "ifo", "diary", "years", 5, "ref", "r"));
	expect_reject(root, "retention.ifo.diary: unknown record type");

	root = synthetic();
	json_object_set_new(root, "retention", json_pack("{s:{s:{s:i, s:s}}}",
	    "police", "referral", "years", 5, "ref", "r"));
	expect_reject(root, "retention.police: unknown kind");

	root = synthetic();
	json_object_set_new(root, "retention", json_pack("{s:{s:{s:i}}}",
	    "ifo", "referral", "years", 5));
	expect_reject(root, "retention.ifo.referral: missing");
}

static void
names_round_trip(void **state)
{
	enum refx_basis b;

	(void)state;
	assert_string_equal(refx_rule_name(REFX_RULE_NEVER), "never");
	assert_string_equal(refx_rule_name(REFX_RULE_CONSENT), "consent");
	assert_string_equal(refx_rule_name(REFX_RULE_ITEMISED), "itemised");
	assert_string_equal(refx_rule_name(REFX_RULE_CONCERN), "concern");
	assert_string_equal(refx_rule_name((enum refx_rule)9), "?");
	assert_int_equal(refx_basis_parse("consent", &b), 0);
	assert_int_equal(b, REFX_BASIS_CONSENT);
	assert_int_equal(refx_basis_parse("report-of-concern", &b), 0);
	assert_int_equal(b, REFX_BASIS_CONCERN);
	assert_string_equal(refx_basis_name(b), "report-of-concern");
	assert_string_equal(refx_basis_name((enum refx_basis)5), "?");
	assert_int_equal(refx_basis_parse("orosanmälan", &b), -1);
	assert_int_equal(refx_basis_parse(NULL, &b), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(every_cell_present, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(spot_cells, setup, teardown),
		cmocka_unit_test_setup_teardown(allowed_set_follows_the_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(doc_table_matches_the_file,
		    setup, teardown),
		cmocka_unit_test(allows_truth_table),
		cmocka_unit_test(rejects_bad_policies),
		cmocka_unit_test_setup_teardown(hash_is_of_the_exact_bytes,
		    setup, teardown),
		cmocka_unit_test(names_round_trip),
		cmocka_unit_test_setup_teardown(
		    case_flow_and_retention_of_the_file, setup, teardown),
		cmocka_unit_test(case_flow_defaults_and_errors),
	};

	if (sodium_init() < 0)
		return (1);
	return (cmocka_run_group_tests_name("policy", tests, NULL, NULL));
}
