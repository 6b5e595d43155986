/*
 * tls_reason.c: the tables of tls_reason.h. Pure lookups: no GnuTLS session,
 * no I/O, no logging.
 */
#include "config.h"

#include <ctype.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>

#include "tls_reason.h"

/* GnuTLS errors a peer causes, in the words an operator searches for. */
static const struct {
	int code;            /* GnuTLS error */
	const char *hs;      /* words while handshaking */
	const char *after;   /* words once the session is open; NULL: same as hs */
	bool transport_gone; /* the socket is unusable: no alert can follow */
} tls_words[] = {
    {GNUTLS_E_PULL_ERROR, "client aborted the handshake (connection reset)",
     "connection reset by the client", true},
    {GNUTLS_E_PUSH_ERROR, "client went away while the handshake was sent",
     "client went away while a reply was sent", true},
    {GNUTLS_E_PREMATURE_TERMINATION, "client closed the connection during the handshake",
     "client closed TCP without close_notify", true},
    {GNUTLS_E_UNSUPPORTED_VERSION_PACKET, "client offered no common protocol version", NULL, false},
    {GNUTLS_E_UNKNOWN_CIPHER_SUITE, "client offered no common cipher suite", NULL, false},
    {GNUTLS_E_NO_CIPHER_SUITES, "client offered no common cipher suite", NULL, false},
    {GNUTLS_E_INSUFFICIENT_CREDENTIALS, "client offered no cipher suite our certificate can serve",
     NULL, false},
    {GNUTLS_E_NO_COMMON_KEY_SHARE, "client offered no common key exchange group", NULL, false},
    {GNUTLS_E_NO_APPLICATION_PROTOCOL, "client offered no common ALPN protocol", NULL, false},
    {GNUTLS_E_INAPPROPRIATE_FALLBACK, "client fell back to an older version it did not need", NULL,
     false},
    {GNUTLS_E_SAFE_RENEGOTIATION_FAILED, "client failed the secure renegotiation check", NULL,
     false},
    {GNUTLS_E_DECRYPTION_FAILED, "bad record MAC: a record was corrupted or forged",
     "bad record MAC: a record was corrupted or forged", false},
    {GNUTLS_E_RECORD_OVERFLOW, "record larger than TLS allows", NULL, false},
    {GNUTLS_E_UNEXPECTED_PACKET_LENGTH, "malformed message (wrong length)", NULL, false},
    {GNUTLS_E_UNEXPECTED_PACKET, "unexpected message at this stage of the protocol", NULL, false},
    {GNUTLS_E_UNEXPECTED_HANDSHAKE_PACKET, "unexpected handshake message", NULL, false},
    {GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER, "client sent an illegal parameter", NULL, false},
    {GNUTLS_E_ILLEGAL_PARAMETER, "client sent an illegal parameter", NULL, false},
    {GNUTLS_E_RECEIVED_DISALLOWED_NAME, "client sent a server name that is not allowed", NULL,
     false},
    {GNUTLS_E_UNEXPECTED_EXTENSIONS_LENGTH, "malformed hello extension", NULL, false},
    {GNUTLS_E_MISSING_EXTENSION, "client left out a required hello extension", NULL, false},
    {GNUTLS_E_ERROR_IN_FINISHED_PACKET, "handshake transcripts differ (bad Finished)", NULL, false},
    {GNUTLS_E_PK_SIG_VERIFY_FAILED, "client's signature does not verify", NULL, false},
    {GNUTLS_E_TOO_MANY_EMPTY_PACKETS, "too many empty records (a stalling pattern)", NULL, false},
    {GNUTLS_E_TOO_MANY_HANDSHAKE_PACKETS, "too many handshake messages", NULL, false},
    {GNUTLS_E_HANDSHAKE_TOO_LARGE, "handshake message too large", NULL, false},
    {GNUTLS_E_NO_CERTIFICATE_FOUND, "client sent no certificate", NULL, false},
    {GNUTLS_E_CERTIFICATE_REQUIRED, "client sent no certificate", NULL, false},
    {GNUTLS_E_FATAL_ALERT_RECEIVED, "client sent a fatal alert", NULL, true},
    {GNUTLS_E_WARNING_ALERT_RECEIVED, "client sent a warning alert", NULL, false},
    {GNUTLS_E_REHANDSHAKE, "client asked to renegotiate", NULL, false},
    {GNUTLS_E_INVALID_SESSION, "session already ended", NULL, true},
    {GNUTLS_E_MEMORY_ERROR, "out of memory (ours)", NULL, false},
};

/* Verification status bits, most telling first, and the alert each one gets. */
static const struct {
	unsigned bit;      /* gnutls_certificate_status_t */
	int alert;         /* gnutls_alert_description_t */
	const char *words; /* for the log */
} tls_cert_alerts[] = {
    {GNUTLS_CERT_REVOKED, GNUTLS_A_CERTIFICATE_REVOKED, "client certificate revoked"},
    {GNUTLS_CERT_EXPIRED, GNUTLS_A_CERTIFICATE_EXPIRED, "client certificate expired"},
    {GNUTLS_CERT_NOT_ACTIVATED, GNUTLS_A_CERTIFICATE_EXPIRED, "client certificate not yet valid"},
    {GNUTLS_CERT_SIGNER_NOT_FOUND, GNUTLS_A_UNKNOWN_CA,
     "client certificate not issued by client_ca"},
    {GNUTLS_CERT_SIGNER_NOT_CA, GNUTLS_A_UNKNOWN_CA,
     "client certificate issued by a certificate that is not a CA"},
    {GNUTLS_CERT_PURPOSE_MISMATCH, GNUTLS_A_UNSUPPORTED_CERTIFICATE,
     "client certificate not meant for TLS client authentication (key purpose)"},
    {GNUTLS_CERT_INSECURE_ALGORITHM, GNUTLS_A_BAD_CERTIFICATE,
     "client certificate signed with an insecure algorithm"},
    {GNUTLS_CERT_SIGNATURE_FAILURE, GNUTLS_A_BAD_CERTIFICATE,
     "client certificate signature does not verify"},
    {GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS, GNUTLS_A_UNSUPPORTED_CERTIFICATE,
     "client certificate has an unknown critical extension"},
    {GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE, GNUTLS_A_BAD_CERTIFICATE,
     "client certificate outside its issuer's constraints"},
};

#define TLS_TYPE_FIRST 20 /* change_cipher_spec: the lowest TLS record type */
#define TLS_TYPE_LAST 24  /* heartbeat: the highest */
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

const char *tls_reason_words(int r, bool in_handshake)
{
	for (size_t i = 0; i < N_OF(tls_words); i++)
		if (tls_words[i].code == r)
			return in_handshake || !tls_words[i].after ? tls_words[i].hs
			                                           : tls_words[i].after;
	return NULL;
}

bool tls_reason_transport_gone(int r)
{
	for (size_t i = 0; i < N_OF(tls_words); i++)
		if (tls_words[i].code == r)
			return tls_words[i].transport_gone;
	return false;
}

int tls_reason_cert_alert(unsigned status)
{
	for (size_t i = 0; i < N_OF(tls_cert_alerts); i++)
		if (status & tls_cert_alerts[i].bit)
			return tls_cert_alerts[i].alert;
	return GNUTLS_A_BAD_CERTIFICATE; /* RFC 5246 §7.2.2: the general case */
}

const char *tls_reason_cert_words(unsigned status)
{
	for (size_t i = 0; i < N_OF(tls_cert_alerts); i++)
		if (status & tls_cert_alerts[i].bit)
			return tls_cert_alerts[i].words;
	return "client certificate not trusted";
}

const char *tls_reason_first_byte(int byte)
{
	if (byte < 0 || (byte >= TLS_TYPE_FIRST && byte <= TLS_TYPE_LAST))
		return NULL; /* nothing read yet, or a TLS record type */
	if (byte & 0x80)
		return "not a TLS client (an SSLv2 hello or binary data)";
	if (byte >= 0x20 && byte < 0x7f)
		return "plain text sent to a TLS port";
	return "not a TLS client (binary data)";
}

const char *tls_reason_alert_name(int alert, char *buf, size_t len)
{
	static const char prefix[] = "GNUTLS_A_";
	const char *n = gnutls_alert_get_strname((gnutls_alert_description_t)alert);
	if (!n || strncmp(n, prefix, sizeof prefix - 1) != 0) {
		snprintf(buf, len, "alert %d", alert);
		return buf;
	}
	n += sizeof prefix - 1;
	size_t i = 0;
	for (; n[i] && i + 1 < len; i++)
		buf[i] = (char)tolower((unsigned char)n[i]);
	buf[i] = '\0';
	return buf;
}
