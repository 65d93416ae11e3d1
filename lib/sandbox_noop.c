#include "refx/sandbox.h"

/** refx_sandbox_enter(phase): Restrict the process.  Return 0 or -1. */
int
refx_sandbox_enter(enum refx_sandbox_phase phase)
{

	(void)phase;
	return (0);
}
