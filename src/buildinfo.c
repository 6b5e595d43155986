/*
 * buildinfo.c: see buildinfo.h. Library versions are asked of the loaded
 * libraries where they can say (libev, GnuTLS); the others are the headers'.
 */
#include "config.h"

#include <ev.h>
#include <gnutls/gnutls.h>
#include <libconfig.h>
#include <stdio.h>

#include "buildinfo.h"

void buildinfo_get(struct buildinfo *bi)
{
	snprintf(bi->libev, sizeof bi->libev, "%d.%d", ev_version_major(), ev_version_minor());
	bi->gnutls = gnutls_check_version(NULL);
	snprintf(bi->libconfig, sizeof bi->libconfig, "%d.%d.%d", LIBCONFIG_VER_MAJOR,
	         LIBCONFIG_VER_MINOR, LIBCONFIG_VER_REVISION);
	bi->libsystemd = KSOCKD_LIBSYSTEMD_VERSION;
	bi->configure = KSOCKD_CONFIGURE_OPTIONS;
	bi->sanitizers = KSOCKD_SANITIZERS;
}

void buildinfo_print(FILE *out)
{
	struct buildinfo bi;
	buildinfo_get(&bi);
	fprintf(out,
	        "ksockd %s\n"
	        "libev %s (built with %d.%d)\n"
	        "GnuTLS %s (built with %s)\n"
	        "libconfig %s (at build time)\n"
	        "libsystemd %s (at build time)\n"
	        "configure options: %s\n"
	        "sanitizers: %s\n",
	        PACKAGE_VERSION, bi.libev, EV_VERSION_MAJOR, EV_VERSION_MINOR, bi.gnutls,
	        GNUTLS_VERSION, bi.libconfig, bi.libsystemd,
	        bi.configure[0] ? bi.configure : "(none)", bi.sanitizers);
}
