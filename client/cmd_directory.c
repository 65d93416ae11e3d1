#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "refx/identity.h"
#include "refx/log.h"

#include "cmd.h"
#include "directory.h"

/*
 * refx directory: GET /v1/directory, verify every unit's certificate
 * against the exchange CA and the directory's CRL (directory.c), and
 * list the units (id, kind, name, status).  A unit whose certificate
 * fails is listed as unusable with the reason, and nothing is ever
 * encrypted to it.  --json prints the server's answer with, per unit,
 * "verified" and, if false, "problem".
 */
int
cmd_directory(struct cmd_ctx *c, int argc, char **argv)
{
	char nb[4 * REFX_NAME_MAX + 1];
	const struct dir_unit *u;
	struct directory *d;
	json_t *root, *units, *e;
	size_t i;
	int ex, w = 2, bad = 0;

	if ((ex = cmd_no_args(argc, argv)) != 0)
		return (ex);
	if ((ex = directory_fetch(c, &d, &root)) != EX_OK)
		return (ex);
	for (i = 0; i < d->d_n; i++) {
		if ((int)strlen(d->d_units[i].du_id) > w)
			w = (int)strlen(d->d_units[i].du_id);
		if (!d->d_units[i].du_ok)
			bad++;
	}

	/* The server's JSON, with our verdict on each unit. */
	if (c->c_json) {
		units = json_object_get(root, "units");
		json_array_foreach(units, i, e) {
			u = &d->d_units[i];
			if (json_object_set_new(e, "verified",
			    json_boolean(u->du_ok)) ||
			    (!u->du_ok && json_object_set_new(e, "problem",
			    json_string(u->du_why)))) {
				log_warnx("out of memory");
				ex = EX_OSERR;
				goto done;
			}
		}
		ex = cmd_print_json(root);
		goto done;
	}

	/* Names are the certificates' once verified; escaped either way. */
	printf("%-*s  %-12s  %-8s  %s\n", w, "ID", "KIND", "STATUS", "NAME");
	for (i = 0; i < d->d_n; i++) {
		u = &d->d_units[i];
		printf("%-*s  %-12s  %-8s  %s\n", w, u->du_id,
		    refx_kind_name(u->du_kind), u->du_ok ? "ok" : "UNUSABLE",
		    cmd_escape(nb, sizeof(nb), u->du_name));
	}
	for (i = 0; i < d->d_n; i++)
		if (!d->d_units[i].du_ok)
			log_warnx("unit %s cannot be used: %s",
			    d->d_units[i].du_id, d->d_units[i].du_why);
	if (bad > 0)
		log_warnx("%d unit%s of the directory cannot be used; nothing "
		    "will be encrypted to %s", bad, bad == 1 ? "" : "s",
		    bad == 1 ? "it" : "them");

done:
	json_decref(root);
	directory_free(d);
	return (ex);
}
