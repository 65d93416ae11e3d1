#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "refx/secret.h"
#include "refx/identity.h"
#include "refx/log.h"

#include "cmd.h"

#define WHOAMI_MAX	(64 * 1024)	/* bytes of answer we accept */
#define FPR_HEX_LEN	(2 * REFX_FINGERPRINT_LEN)


/*
 * refx whoami: GET /v1/whoami and show who the exchange says we are,
 * that is, what our client certificate names.
 */
int
cmd_whoami(struct cmd_ctx *c, int argc, char **argv)
{
	const char *agency, *kind, *role, *person, *name, *fpr;
	char nb[4 * REFX_NAME_MAX + 1];
	enum refx_kind k;
	enum refx_role r;
	json_t *root;
	int ex;

	if ((ex = cmd_no_args(argc, argv)) != 0)
		return (ex);
	if ((ex = cmd_call(c, NET_GET, "/v1/whoami", NULL, WHOAMI_MAX,
	    &root)) != EX_OK)
		return (ex);

	/* Check the type and form of every field we rely on. */
	agency = cmd_json_str(root, "agency", REFX_AGENCY_ID_MAX);
	kind = cmd_json_str(root, "kind", 32);
	role = cmd_json_str(root, "role", 32);
	person = cmd_json_str(root, "person", REFX_PERSON_ID_MAX);
	name = cmd_json_str(root, "name", REFX_NAME_MAX);
	fpr = cmd_json_str(root, "fingerprint", FPR_HEX_LEN);
	if (agency == NULL || !refx_agency_id_valid(agency) ||
	    kind == NULL || refx_kind_parse(kind, &k) ||
	    role == NULL || refx_role_parse(role, &r) ||
	    person == NULL || !refx_person_id_valid(person) ||
	    name == NULL || fpr == NULL || !refx_hex_valid(fpr, FPR_HEX_LEN)) {
		log_warnx("whoami: the server's answer is malformed");
		ex = EX_PROTOCOL;
		goto done;
	}

	/* JSON output escapes on its own; the name is escaped for a tty. */
	if (c->c_json)
		ex = cmd_print_json(root);
	else
		printf("person:      %s (%s)\n"
		    "agency:      %s (%s)\n"
		    "role:        %s\n"
		    "certificate: sha256:%s\n",
		    cmd_escape(nb, sizeof(nb), name), person, agency,
		    refx_kind_name(k), refx_role_name(r), fpr);

done:
	json_decref(root);
	return (ex);
}
