/*
 * tls_client.h: ksock's TLS side, on GnuTLS: one shared context (trust store,
 * client certificate, priority, ALPN, the name to verify) and sessions over
 * non-blocking sockets. Knows nothing of event loops: callers wait for the
 * direction gnutls_record_get_direction() reports.
 */
#ifndef KSOCK_TLS_CLIENT_H
#define KSOCK_TLS_CLIENT_H

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>

#include "client.h"

struct tls_client {
	gnutls_certificate_credentials_t cred; /* trust anchors and client certificate */
	gnutls_priority_t prio;                /* --priority, or NULL for the default */
	const struct tls_client_opts *o;       /* the options it was built from */
	const char *name;                      /* SNI and the name verified */
	bool name_is_ip;                       /* no SNI for an IP address */
	gnutls_datum_t alpn[8];                /* --alpn protocols */
	unsigned n_alpn;                       /* how many */
	char *alpn_copy;                       /* storage for alpn[] */
};

/* Loads trust, client certificate and priority; prints the --insecure
 * warning. Returns 0, or -1 with err set. */
int tls_client_init(struct tls_client *tc, const struct tls_client_opts *o, const char *host,
                    char *err, size_t errlen);
void tls_client_free(struct tls_client *tc);

/* A new client session on fd, ready to handshake. Returns NULL with err set. */
gnutls_session_t tls_client_session(const struct tls_client *tc, int fd, char *err, size_t errlen);

/* One handshake step: 0 done, 1 again (see gnutls_record_get_direction), or
 * -1 failed with a reason a person can act on in err. */
int tls_client_handshake(const struct tls_client *tc, gnutls_session_t s, char *err, size_t errlen);

/* "TLS1.3, ECDHE-X25519, ..., ALPN x, resumed" on one line. */
void tls_client_describe(gnutls_session_t s, char *buf, size_t len);

#endif
