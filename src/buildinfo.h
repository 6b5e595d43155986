/*
 * buildinfo.h: versions of ksockd and of the libraries it runs with, and the
 * options it was built with: "ksockd -V" and the ksockd_build_info metric.
 */
#ifndef KSOCKD_BUILDINFO_H
#define KSOCKD_BUILDINFO_H

#include <stdio.h>

struct buildinfo {
	char libev[16];         /* run-time ev_version_major().ev_version_minor() */
	const char *gnutls;     /* run-time gnutls_check_version(NULL) */
	char libconfig[16];     /* LIBCONFIG_VER_* (no run-time call in 1.5) */
	const char *libsystemd; /* pkg-config's version at build time */
	const char *configure;  /* configure's --options */
	const char *sanitizers; /* "address,undefined" or "none" */
};

void buildinfo_get(struct buildinfo *bi);
/* The -V text: one line per item. */
void buildinfo_print(FILE *out);

#endif
