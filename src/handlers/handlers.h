/*
 * handlers/handlers.h: the built-in line handlers, one file each.
 */
#ifndef KSOCKD_HANDLERS_H
#define KSOCKD_HANDLERS_H

#include "../handler.h"

extern const struct handler handler_echo;  /* each line back, terminator included */
extern const struct handler handler_hello; /* "Please enter your name" / "Hello, NAME!" */
extern const struct handler handler_whoami; /* what the server sees of the client */
extern const struct handler handler_health; /* "ready" / "draining", for balancers */

#endif
