/*
 * addr.h: socket address formatting ("127.0.0.1:7007", "[::1]:7007").
 */
#ifndef KSOCKD_ADDR_H
#define KSOCKD_ADDR_H

#include <sys/socket.h>

#define ADDR_STRLEN 64 /* fits "[v6%scope]:port" */

/* Formats sa into buf (at least ADDR_STRLEN bytes) and returns buf. */
const char *addr_format(const struct sockaddr *sa, char *buf);

#endif
