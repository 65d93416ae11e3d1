#ifndef REFX_SANDBOX_H
#define REFX_SANDBOX_H

/*
 * Privilege reduction hook, called at the same points in each program.
 * The backend is chosen at build time (make SANDBOX=...); "noop" today,
 * seccomp or landlock later.
 */
enum refx_sandbox_phase {
	REFX_SANDBOX_STARTUP,	/* files may still be opened */
	REFX_SANDBOX_SERVING,	/* keys loaded, socket bound, privileges dropped */
};

/** refx_sandbox_enter(phase): Restrict the process.  Return 0 or -1. */
int refx_sandbox_enter(enum refx_sandbox_phase);

#endif /* !REFX_SANDBOX_H */
