/*
 * test_tls_reason.c: the tables that name TLS failures and pick the alert for a
 * rejected client certificate (tls_reason.c).
 */
#include "config.h"

#include <check.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>

#include "tls_reason.h"

static const struct {
	unsigned status; /* verification status bits */
	int alert;       /* expected alert */
	const char *has; /* expected in the words */
} cert_cases[] = {
    {GNUTLS_CERT_INVALID | GNUTLS_CERT_SIGNER_NOT_FOUND, GNUTLS_A_UNKNOWN_CA, "client_ca"},
    {GNUTLS_CERT_INVALID | GNUTLS_CERT_EXPIRED, GNUTLS_A_CERTIFICATE_EXPIRED, "expired"},
    {GNUTLS_CERT_INVALID | GNUTLS_CERT_NOT_ACTIVATED, GNUTLS_A_CERTIFICATE_EXPIRED, "not yet"},
    {GNUTLS_CERT_INVALID | GNUTLS_CERT_PURPOSE_MISMATCH, GNUTLS_A_UNSUPPORTED_CERTIFICATE,
     "key purpose"},
    {GNUTLS_CERT_INVALID | GNUTLS_CERT_REVOKED | GNUTLS_CERT_EXPIRED, GNUTLS_A_CERTIFICATE_REVOKED,
     "revoked"}, /* the most telling bit wins */
    {GNUTLS_CERT_INVALID | GNUTLS_CERT_SIGNATURE_FAILURE, GNUTLS_A_BAD_CERTIFICATE, "signature"},
    {GNUTLS_CERT_INVALID, GNUTLS_A_BAD_CERTIFICATE, "not trusted"}, /* the general case */
};

START_TEST(certificate_status_names_its_alert)
{
	ck_assert_int_eq(tls_reason_cert_alert(cert_cases[_i].status), cert_cases[_i].alert);
	ck_assert_ptr_nonnull(
	    strstr(tls_reason_cert_words(cert_cases[_i].status), cert_cases[_i].has));
}
END_TEST

START_TEST(errors_have_plain_words_by_phase)
{
	ck_assert_str_eq(tls_reason_words(GNUTLS_E_PULL_ERROR, true),
	                 "client aborted the handshake (connection reset)");
	ck_assert_str_eq(tls_reason_words(GNUTLS_E_PULL_ERROR, false),
	                 "connection reset by the client");
	ck_assert_str_eq(tls_reason_words(GNUTLS_E_UNSUPPORTED_VERSION_PACKET, false),
	                 "client offered no common protocol version");
	ck_assert_ptr_nonnull(
	    strstr(tls_reason_words(GNUTLS_E_DECRYPTION_FAILED, false), "bad record MAC"));
	ck_assert_ptr_null(tls_reason_words(GNUTLS_E_SUCCESS, true)); /* GnuTLS's text alone */
}
END_TEST

START_TEST(no_alert_once_the_transport_is_gone)
{
	ck_assert(tls_reason_transport_gone(GNUTLS_E_PULL_ERROR));
	ck_assert(tls_reason_transport_gone(GNUTLS_E_PREMATURE_TERMINATION));
	ck_assert(tls_reason_transport_gone(GNUTLS_E_FATAL_ALERT_RECEIVED));
	ck_assert(!tls_reason_transport_gone(GNUTLS_E_DECRYPTION_FAILED));
	ck_assert(!tls_reason_transport_gone(GNUTLS_E_RECORD_OVERFLOW));
}
END_TEST

START_TEST(first_byte_tells_plain_text_from_tls)
{
	ck_assert_ptr_null(tls_reason_first_byte(-1));   /* nothing read */
	ck_assert_ptr_null(tls_reason_first_byte(0x16)); /* handshake */
	ck_assert_ptr_null(tls_reason_first_byte(0x14)); /* change_cipher_spec */
	ck_assert_str_eq(tls_reason_first_byte('G'), "plain text sent to a TLS port");
	ck_assert_ptr_nonnull(strstr(tls_reason_first_byte(0x80), "SSLv2"));
	ck_assert_ptr_nonnull(strstr(tls_reason_first_byte(0x00), "binary"));
}
END_TEST

START_TEST(alerts_by_their_rfc_names)
{
	char buf[48];
	ck_assert_str_eq(tls_reason_alert_name(GNUTLS_A_BAD_RECORD_MAC, buf, sizeof buf),
	                 "bad_record_mac");
	ck_assert_str_eq(tls_reason_alert_name(GNUTLS_A_NO_RENEGOTIATION, buf, sizeof buf),
	                 "no_renegotiation");
	ck_assert_str_eq(tls_reason_alert_name(200, buf, sizeof buf), "alert 200");
	ck_assert_str_eq(tls_reason_alert_name(GNUTLS_A_UNKNOWN_CA, buf, 4), "unk"); /* bounded */
}
END_TEST

static Suite *tls_reason_suite(void)
{
	Suite *s = suite_create("tls_reason");
	TCase *tc = tcase_create("tables");
	tcase_add_loop_test(tc, certificate_status_names_its_alert, 0,
	                    sizeof cert_cases / sizeof cert_cases[0]);
	tcase_add_test(tc, errors_have_plain_words_by_phase);
	tcase_add_test(tc, no_alert_once_the_transport_is_gone);
	tcase_add_test(tc, first_byte_tells_plain_text_from_tls);
	tcase_add_test(tc, alerts_by_their_rfc_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tls_reason_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
