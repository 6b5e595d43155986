/*
 * tls_client.c: GnuTLS credentials and client sessions for ksock.
 * Owns struct tls_client and everything it loads; the sessions it creates
 * belong to the caller (gnutls_deinit).
 */
#include "config.h"

#include <arpa/inet.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_client.h"

static bool tls_is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int tls_client_alpn(struct tls_client *tc, const char *list, char *err, size_t errlen)
{
	tc->alpn_copy = strdup(list);
	if (!tc->alpn_copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	char *save = NULL;
	for (char *p = strtok_r(tc->alpn_copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		if (tc->n_alpn == sizeof tc->alpn / sizeof tc->alpn[0]) {
			snprintf(err, errlen, "--alpn: at most 8 protocols");
			return -1;
		}
		tc->alpn[tc->n_alpn].data = (unsigned char *)p;
		tc->alpn[tc->n_alpn].size = (unsigned)strlen(p);
		tc->n_alpn++;
	}
	return 0;
}

static int tls_client_trust(struct tls_client *tc, const struct tls_client_opts *o, char *err,
                            size_t errlen)
{
	int rc;
	if (o->insecure) {
		fprintf(stderr, "ksock: WARNING: --insecure: the server's certificate is NOT "
		                "verified; anyone on the path can read and change this "
		                "connection\n");
		return 0;
	}
	if (o->cafile) {
		rc = gnutls_certificate_set_x509_trust_file(tc->cred, o->cafile,
		                                            GNUTLS_X509_FMT_PEM);
		if (rc <= 0) {
			snprintf(err, errlen, "--cafile %s: %s", o->cafile,
			         rc == 0 ? "no certificate found in it" : gnutls_strerror(rc));
			return -1;
		}
		return 0;
	}
	rc = gnutls_certificate_set_x509_system_trust(tc->cred);
	if (rc <= 0) {
		snprintf(err, errlen, "cannot load the system trust store: %s (use --cafile FILE)",
		         rc == 0 ? "it is empty" : gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

int tls_client_init(struct tls_client *tc, const struct tls_client_opts *o, const char *host,
                    char *err, size_t errlen)
{
	memset(tc, 0, sizeof *tc);
	tc->o = o;
	tc->name = o->servername ? o->servername : host;
	tc->name_is_ip = tls_is_ip(tc->name);
	int rc = gnutls_certificate_allocate_credentials(&tc->cred);
	if (rc < 0) {
		snprintf(err, errlen, "gnutls: %s", gnutls_strerror(rc));
		return -1;
	}
	if (tls_client_trust(tc, o, err, errlen) < 0)
		return -1;
	if ((o->cert != NULL) != (o->key != NULL)) {
		snprintf(err, errlen, "--cert and --key go together");
		return -1;
	}
	if (o->cert) {
		rc = gnutls_certificate_set_x509_key_file(tc->cred, o->cert, o->key,
		                                          GNUTLS_X509_FMT_PEM);
		if (rc < 0) {
			snprintf(err, errlen, "--cert %s / --key %s: %s", o->cert, o->key,
			         gnutls_strerror(rc));
			return -1;
		}
	}
	if (o->priority) {
		const char *where = NULL;
		rc = gnutls_priority_init(&tc->prio, o->priority, &where);
		if (rc < 0) {
			snprintf(err, errlen, "--priority: %s at '%s'", gnutls_strerror(rc),
			         where ? where : "?");
			return -1;
		}
	}
	if (o->alpn && tls_client_alpn(tc, o->alpn, err, errlen) < 0)
		return -1;
	return 0;
}

void tls_client_free(struct tls_client *tc)
{
	if (tc->cred)
		gnutls_certificate_free_credentials(tc->cred);
	if (tc->prio)
		gnutls_priority_deinit(tc->prio);
	free(tc->alpn_copy);
	memset(tc, 0, sizeof *tc);
}

gnutls_session_t tls_client_session(const struct tls_client *tc, int fd, char *err, size_t errlen)
{
	gnutls_session_t s = NULL;
	int rc = gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
	if (rc < 0)
		goto fail;
	rc = tc->prio ? gnutls_priority_set(s, tc->prio) : gnutls_set_default_priority(s);
	if (rc < 0)
		goto fail;
	rc = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, tc->cred);
	if (rc < 0)
		goto fail;
	if (!tc->name_is_ip &&
	    (rc = gnutls_server_name_set(s, GNUTLS_NAME_DNS, tc->name, strlen(tc->name))) < 0)
		goto fail;
	if (!tc->o->insecure)
		gnutls_session_set_verify_cert(s, tc->name, 0);
	if (tc->n_alpn && (rc = gnutls_alpn_set_protocols(s, tc->alpn, tc->n_alpn, 0)) < 0)
		goto fail;
	gnutls_transport_set_int(s, fd);
	gnutls_handshake_set_timeout(s, 0);
	return s;
fail:
	snprintf(err, errlen, "TLS session setup: %s", gnutls_strerror(rc));
	if (s)
		gnutls_deinit(s);
	return NULL;
}

static void tls_client_verify_reason(const struct tls_client *tc, gnutls_session_t s, char *err,
                                     size_t errlen)
{
	unsigned status = gnutls_session_get_verify_cert_status(s);
	gnutls_datum_t out = {0};
	int rc = gnutls_certificate_verification_status_print(
	    status, gnutls_certificate_type_get(s), &out, 0);
	const char *hint = "";
	if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
		hint = tc->o->cafile ? " (is --cafile the CA that signed it?)"
		                     : " (give the CA that signed it with --cafile FILE)";
	else if (status & GNUTLS_CERT_UNEXPECTED_OWNER)
		hint = " (connect with the name in the certificate, or set --servername)";
	else if (status & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED))
		hint = " (check the certificate's dates and this machine's clock)";
	const char *why = rc == 0 ? (const char *)out.data : "unknown reason";
	size_t len = strlen(why);
	while (len > 0 && why[len - 1] == ' ')
		len--;
	snprintf(err, errlen, "certificate verification failed for '%s': %.*s%s", tc->name,
	         (int)len, why, hint);
	if (rc == 0)
		gnutls_free(out.data);
}

int tls_client_handshake(const struct tls_client *tc, gnutls_session_t s, char *err, size_t errlen)
{
	int rc = gnutls_handshake(s);
	if (rc == GNUTLS_E_SUCCESS)
		return 0;
	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
		return 1;
	if (!gnutls_error_is_fatal(rc))
		return 1; /* a warning alert: keep going */
	if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR)
		tls_client_verify_reason(tc, s, err, errlen);
	else if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED)
		snprintf(err, errlen, "TLS handshake failed: the server sent alert '%s'",
		         gnutls_alert_get_name(gnutls_alert_get(s)));
	else
		snprintf(err, errlen, "TLS handshake failed: %s", gnutls_strerror(rc));
	return -1;
}

void tls_client_describe(gnutls_session_t s, char *buf, size_t len)
{
	char *desc = gnutls_session_get_desc(s);
	gnutls_datum_t alpn = {0};
	char proto[64] = "";
	if (gnutls_alpn_get_selected_protocol(s, &alpn) == 0)
		snprintf(proto, sizeof proto, ", ALPN %.*s", (int)alpn.size, alpn.data);
	snprintf(buf, len, "%s%s%s", desc ? desc : "?", proto,
	         gnutls_session_is_resumed(s) ? ", resumed" : "");
	gnutls_free(desc);
}
