/*
 * tls_reason.h: what a TLS failure means, in an operator's words, and which
 * alert a rejected client certificate gets.
 *
 * Two tables, no state: GnuTLS error codes to plain words ("client aborted
 * the handshake", "bad record MAC", ...), and certificate verification status
 * bits to the alert RFC 5246 §7.2.2 / RFC 8446 §6.2 name for them. tls.c logs
 * the words followed by GnuTLS's own text (kept so a search finds it).
 */
#ifndef KSOCKD_TLS_REASON_H
#define KSOCKD_TLS_REASON_H

#include <stdbool.h>
#include <stddef.h>

/* Plain words for GnuTLS error r, during the handshake or after it; NULL if none. */
const char *tls_reason_words(int r, bool in_handshake);
/* Whether the transport is gone after r (reset, EPIPE, TCP end): no alert can be sent. */
bool tls_reason_transport_gone(int r);
/* The fatal alert (gnutls_alert_description_t) for a nonzero verification status. */
int tls_reason_cert_alert(unsigned status);
/* Plain words for a nonzero verification status (its most telling bit). */
const char *tls_reason_cert_words(unsigned status);
/* The RFC name of an alert ("bad_record_mac"), in buf; "alert N" if GnuTLS has none. */
const char *tls_reason_alert_name(int alert, char *buf, size_t len);
/* Words for a first byte that cannot start a TLS record, NULL if it can. */
const char *tls_reason_first_byte(int byte);

#endif
