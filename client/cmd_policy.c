/*
 * refx policy show, and the policy fetch the referral commands share.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "refx/identity.h"
#include "refx/log.h"
#include "refx/policy.h"
#include "refx/secret.h"
#include "refx/schema.h"

#include "cmd.h"
#include "packet.h"

#define POLICY_ANSWER_MAX	(REFX_POLICY_MAX + 64 * 1024)
#define VERSION_MAX		128	/* bytes of a policy version */
#define REF_ESC_MAX		(4 * 1024 + 1)	/* an escaped legal reference */
#define NEVER_SIGN		"\xe2\x80\x94"	/* U+2014 em dash */

/**
 * cmd_policy_get(c, policy, hash, root): GET /v1/policy and parse its
 * document.  ${hash} (65 bytes) receives the server's hash of the policy
 * file, the value manifests must carry; ${root} (or NULL) the answer.
 * Return EX_OK or a sysexits(3) code after reporting.
 */
int
cmd_policy_get(struct cmd_ctx *c, struct refx_policy **policy, char *hash,
    json_t **rootp)
{
	char err[512], vb[4 * VERSION_MAX + 1], mine[2 * REFX_HASH_LEN + 1];
	const char *version, *h, *b64;
	uint8_t *bytes;
	size_t len;
	json_t *root;
	int ex;

	*policy = NULL;
	if (rootp != NULL)
		*rootp = NULL;
	if ((ex = cmd_call(c, NET_GET, "/v1/policy", NULL, POLICY_ANSWER_MAX,
	    &root)) != EX_OK)
		return (ex);
	version = cmd_json_str(root, "version", VERSION_MAX);
	h = cmd_json_str(root, "hash", PACKET_HASH_HEX);
	b64 = cmd_json_str(root, "bytes", REFX_POLICY_MAX / 3 * 4 + 8);
	if (version == NULL || h == NULL || b64 == NULL ||
	    !refx_hex_valid(h, PACKET_HASH_HEX)) {
		log_warnx("policy: the server's answer is malformed");
		ex = EX_PROTOCOL;
		goto done;
	}

	/*
	 * Evaluate exactly the bytes the server enforces, and hash them
	 * ourselves: the hash must be the server's, and the one pinned in
	 * our settings if there is one (a server cannot then widen what
	 * may be disclosed without every client refusing it).
	 */
	if (refx_b64_decode(b64, REFX_POLICY_MAX, &bytes, &len)) {
		log_warnx("policy: the server's policy bytes are malformed");
		ex = EX_PROTOCOL;
		goto done;
	}
	*policy = refx_policy_parse(bytes, len, err, sizeof(err));
	free(bytes);
	if (*policy == NULL) {
		log_warnx("policy: the server's policy cannot be used: %s",
		    err);
		ex = EX_PROTOCOL;
		goto done;
	}
	refx_hex(mine, sizeof(mine), refx_policy_hash(*policy),
	    REFX_HASH_LEN);
	if (strcmp(mine, h) != 0) {
		log_warnx("policy: the server's policy does not match the "
		    "hash it gives for it");
		ex = EX_PROTOCOL;
		goto fail;
	}
	if (c->c_cf.cc_policy[0] != '\0' &&
	    strcmp(c->c_cf.cc_policy, mine) != 0) {
		log_warnx("policy: the server enforces policy sha256:%s, not "
		    "the one pinned in your settings (policy_sha256); "
		    "refusing to use it", mine);
		ex = EX_PROTOCOL;
		goto fail;
	}
	if (strcmp(refx_policy_version(*policy), version) != 0) {
		log_warnx("policy: the server's answer gives version %s for a "
		    "document of version %s", cmd_escape(vb, sizeof(vb),
		    version), refx_policy_version(*policy));
		ex = EX_PROTOCOL;
		goto fail;
	}
	memcpy(hash, h, PACKET_HASH_HEX + 1);
	if (rootp != NULL) {
		*rootp = root;
		root = NULL;
	}

done:
	json_decref(root);
	return (ex);
fail:
	refx_policy_free(*policy);
	*policy = NULL;
	goto done;
}

/* The columns of a terminal that ${s} (UTF-8) takes, roughly. */
static int
width(const char *s)
{
	int w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return (w);
}

/* Print ${s} left-aligned in ${w} columns. */
static void
pad(const char *s, int w)
{
	int n;

	fputs(s, stdout);
	for (n = width(s); n < w; n++)
		putchar(' ');
}

/*
 * The short code of a cell: C consent, C+ itemised, O report of concern
 * only, em dash never; "/O" if a report of concern may carry it too.
 */
static const char *
cell_code(const struct refx_policy *p, enum refx_kind k, enum refx_class cls,
    char *buf, size_t len)
{
	const char *ref, *code = NEVER_SIGN;
	int concern;

	concern = refx_policy_concern(p, k, cls, NULL);
	switch (refx_policy_rule(p, k, cls, &ref)) {
	case REFX_RULE_CONSENT:
		code = "C";
		break;
	case REFX_RULE_ITEMISED:
		code = "C+";
		break;
	case REFX_RULE_CONCERN:
		code = "O";
		concern = 0;
		break;
	case REFX_RULE_NEVER:
		code = concern ? "O" : NEVER_SIGN;
		concern = 0;
		break;
	}
	snprintf(buf, len, "%s%s", code, concern ? "/O" : "");
	return (buf);
}

/* Print the matrix and the legal references of ${p}. */
static void
print_policy(const struct refx_policy *p, const char *hash)
{
	char code[16], rb[REF_ESC_MAX];
	const char *ref, *cref = NULL;
	int cls, k, tw = 5, kw[REFX_KIND_COUNT], concern = 0;

	printf("policy  %s\nsha256  %s\n\n", refx_policy_version(p), hash);

	/* Rows: classes; columns: recipient kinds. */
	for (cls = 0; cls < REFX_CLASS_COUNT; cls++)
		if (width(refx_class_title((enum refx_class)cls)) > tw)
			tw = width(refx_class_title((enum refx_class)cls));
	for (k = 0; k < REFX_KIND_COUNT; k++) {
		kw[k] = (int)strlen(refx_kind_name((enum refx_kind)k));
		if (kw[k] < 4)
			kw[k] = 4;
	}
	kw[REFX_KIND_COUNT - 1] = -2;	/* no padding after the last */
	pad("CLASS", tw + 2);
	for (k = 0; k < REFX_KIND_COUNT; k++)
		pad(refx_kind_name((enum refx_kind)k), kw[k] + 2);
	putchar('\n');
	for (cls = 0; cls < REFX_CLASS_COUNT; cls++) {
		pad(refx_class_title((enum refx_class)cls), tw + 2);
		for (k = 0; k < REFX_KIND_COUNT; k++)
			pad(cell_code(p, (enum refx_kind)k,
			    (enum refx_class)cls, code, sizeof(code)),
			    kw[k] + 2);
		putchar('\n');
	}
	printf("\nC consent naming the recipient and the class;  C+ separate, "
	    "itemised consent;\nO only in a report of concern;  " NEVER_SIGN
	    " never;  /O also in a report of concern.\n");

	/* The legal reference of every cell, never included: it says why. */
	printf("\nLegal references:\n");
	for (cls = 0; cls < REFX_CLASS_COUNT; cls++) {
		printf("%s\n", refx_class_title((enum refx_class)cls));
		for (k = 0; k < REFX_KIND_COUNT; k++) {
			(void)refx_policy_rule(p, (enum refx_kind)k,
			    (enum refx_class)cls, &ref);
			if (refx_policy_concern(p, (enum refx_kind)k,
			    (enum refx_class)cls, &cref))
				concern = 1;
			printf("  %s (%s): %s\n",
			    refx_kind_name((enum refx_kind)k),
			    cell_code(p, (enum refx_kind)k,
			    (enum refx_class)cls, code, sizeof(code)),
			    ref != NULL ?
			    cmd_escape(rb, sizeof(rb), ref) : "-");
		}
	}

	/* The report-of-concern channel has one reference for all its cells. */
	if (concern && cref != NULL)
		printf("Report of concern (every O and /O cell)\n  %s\n",
		    cmd_escape(rb, sizeof(rb), cref));
}

/*
 * refx policy show [--json]: the policy the exchange enforces, as a
 * matrix of classes and recipient kinds with the legal references.
 */
int
cmd_policy_show(struct cmd_ctx *c, int argc, char **argv)
{
	char hash[PACKET_HASH_HEX + 1];
	struct refx_policy *p;
	json_t *root;
	int ex;

	if ((ex = cmd_json_operands(c, argc, argv, 0, "")) != 0)
		return (ex);
	if ((ex = cmd_policy_get(c, &p, hash, &root)) != EX_OK)
		return (ex);
	if (c->c_json)
		ex = cmd_print_json(root);
	else
		print_policy(p, hash);
	refx_policy_free(p);
	json_decref(root);
	return (ex);
}
