/*
 * preflight.h: what "ksockd -t" checks beyond the config's own validity.
 *
 * generation_prepare() accepts a config that is well formed and resolvable;
 * preflight asks whether
 * this host and this user could start it (each address is on the host, each
 * port below the unprivileged limit comes with CAP_NET_BIND_SERVICE) and
 * warns about risky but legal choices (a stats or metrics listener open on
 * every address, a private key other users can read). In a sandbox that
 * allows no IP sockets at all (a socket-activated unit) the bind checks are
 * skipped: the service manager binds. Reads the system
 * (sockets bound to port 0 and closed at once, /proc, stat); changes nothing.
 */
#ifndef KSOCKD_PREFLIGHT_H
#define KSOCKD_PREFLIGHT_H

#include <stdio.h>

struct generation;

struct preflight_result {
	unsigned errors;   /* problems that would stop the start */
	unsigned warnings; /* risky choices that start anyway */
};

/* Runs every check on a prepared generation (addresses resolved, nothing bound), writing
 * one "LEVEL: FILE:LINE: listener 'NAME': ..." line each. */
void preflight_run(const struct generation *g, FILE *out, struct preflight_result *r);

#endif
