#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "refx/identity.h"
#include "refx/log.h"

#include "cmd.h"

#define DIRECTORY_MAX	NET_RESP_MAX	/* bytes of answer we accept */
#define UNITS_MAX	100000		/* units we accept */
#define CERT_PEM_MAX	(64 * 1024)	/* bytes of a unit certificate */
#define PEM_BEGIN	"-----BEGIN CERTIFICATE-----"

/* Check one unit of the directory; fill its id, kind and name. */
static int
check_unit(json_t *u, const char **id, enum refx_kind *kind,
    const char **name)
{
	const char *k, *pem;

	if (!json_is_object(u))
		return (-1);
	*id = cmd_json_str(u, "id", REFX_AGENCY_ID_MAX);
	k = cmd_json_str(u, "kind", 32);
	*name = cmd_json_str(u, "name", REFX_NAME_MAX);
	pem = cmd_json_str(u, "certificate", CERT_PEM_MAX);
	if (*id == NULL || !refx_agency_id_valid(*id) || k == NULL ||
	    refx_kind_parse(k, kind) || *name == NULL || pem == NULL ||
	    strncmp(pem, PEM_BEGIN, strlen(PEM_BEGIN)) != 0)
		return (-1);
	return (0);
}

/*
 * refx directory: GET /v1/directory and list the units (id, kind, name).
 *
 * NOT YET: each unit's certificate must be verified against the exchange
 * CA (refx_cert_verify, REFX_CERT_UNIT) before anything is encrypted to
 * it; that comes with the referral commands.  Until then the listing is
 * only as trustworthy as the TLS connection it came over, and --json
 * passes the certificates on unverified.
 */
int
cmd_directory(struct cmd_ctx *c, int argc, char **argv)
{
	char nb[4 * REFX_NAME_MAX + 1];
	const char *id, *name;
	enum refx_kind kind;
	json_t *root, *units, *u;
	size_t i;
	int ex, w = 2;

	if ((ex = cmd_no_args(argc, argv)) != 0)
		return (ex);
	if ((ex = cmd_call(c, NET_GET, "/v1/directory", NULL, DIRECTORY_MAX,
	    &root)) != EX_OK)
		return (ex);

	/* Check every unit before printing any. */
	units = json_object_get(root, "units");
	if (!json_is_array(units) || json_array_size(units) > UNITS_MAX)
		goto bad;
	json_array_foreach(units, i, u) {
		if (check_unit(u, &id, &kind, &name))
			goto bad;
		if ((int)strlen(id) > w)
			w = (int)strlen(id);
	}

	if (c->c_json) {
		ex = cmd_print_json(root);
		goto done;
	}
	printf("%-*s  %-12s  %s\n", w, "ID", "KIND", "NAME");
	json_array_foreach(units, i, u) {
		(void)check_unit(u, &id, &kind, &name);
		printf("%-*s  %-12s  %s\n", w, id, refx_kind_name(kind),
		    cmd_escape(nb, sizeof(nb), name));
	}
	goto done;

bad:
	log_warnx("directory: the server's answer is malformed");
	ex = EX_PROTOCOL;
done:
	json_decref(root);
	return (ex);
}
