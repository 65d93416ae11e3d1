#ifndef REFXD_HANDLERS_H
#define REFXD_HANDLERS_H

#include "server.h"

handler_fn h_whoami;
handler_fn h_health;
handler_fn h_directory;

#endif /* !REFXD_HANDLERS_H */
