/*
 * tlsrecord.c: a TLS client controlled at the record level, for tests.
 *
 *   tlsrecord [-p PRIORITY] [-c CERT -k KEY] PORT CASE
 *
 * Does a real handshake with GnuTLS to 127.0.0.1:PORT, then plays CASE: a
 * well-formed exchange, or a record GnuTLS would never send, built here with
 * the session's own traffic keys (gnutls_record_get_state) and encrypted
 * with gnutls_aead_cipher_encrypt (TLS 1.3, and TLS 1.2 with an AEAD suite),
 * or corrupted on its way out by the push function. Then it reports, one
 * line each, what the server answered, decrypted by the session:
 *
 *   handshake ok VERSION CIPHER | handshake failed TEXT
 *   data N BYTES            application data (printable, escaped)
 *   alert LEVEL NUMBER NAME an alert (1 warning, 2 fatal)
 *   close_notify            the server's close_notify
 *   error TEXT              anything else GnuTLS reports
 *   tcp eof | tcp reset | tcp open   what the socket did afterwards
 *
 * Exit 0 when the case ran (whatever the server answered), 2 on bad usage,
 * 1 when the client itself failed. Every wait is bounded (SO_RCVTIMEO).
 */
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define WAIT_SECONDS 5          /* longest wait for any answer */
#define STUCK_BYTES (12u << 20) /* sent by the "stuck" case: more than the socket buffers */
#define MAX_EVENTS 16           /* records read after the case */
#define MAX_RECORD 16384        /* TLS plaintext limit, 2^14 (RFC 8446 §5.1) */
#define CT_CCS 20               /* record content types */
#define CT_ALERT 21
#define CT_HANDSHAKE 22
#define CT_APPDATA 23
#define HS_KEY_UPDATE 24 /* handshake message type */

struct peer {
	gnutls_session_t gs; /* the client session */
	int fd;              /* its socket */
	int corrupt_next;    /* the push function flips the last byte of the next record */
};

static void die(const char *what, int r)
{
	fprintf(stderr, "tlsrecord: %s: %s\n", what, r ? gnutls_strerror(r) : strerror(errno));
	exit(1);
}

/* The client certificate, sent whatever CA names the server asks for: GnuTLS's own
 * choice would send none to a server whose client_ca did not issue it. */
static gnutls_pcert_st client_pcert;
static gnutls_privkey_t client_key;

static int peer_retrieve(gnutls_session_t gs, const gnutls_datum_t *req_ca, int n_req,
                         const gnutls_pk_algorithm_t *algos, int n_algos, gnutls_pcert_st **pcert,
                         unsigned *n_pcert, gnutls_privkey_t *key)
{
	(void)gs, (void)req_ca, (void)n_req, (void)algos, (void)n_algos;
	*pcert = &client_pcert;
	*n_pcert = 1;
	*key = client_key;
	return 0;
}

static void load_client_cert(gnutls_certificate_credentials_t cred, const char *cert,
                             const char *key)
{
	gnutls_datum_t c, k;
	int r;
	if ((r = gnutls_load_file(cert, &c)) < 0 || (r = gnutls_load_file(key, &k)) < 0 ||
	    (r = gnutls_pcert_import_x509_raw(&client_pcert, &c, GNUTLS_X509_FMT_PEM, 0)) < 0 ||
	    (r = gnutls_privkey_init(&client_key)) < 0 ||
	    (r = gnutls_privkey_import_x509_raw(client_key, &k, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0)
		die(cert, r);
	gnutls_certificate_set_retrieve_function2(cred, peer_retrieve);
	gnutls_free(c.data);
	gnutls_free(k.data);
}

static ssize_t peer_push(gnutls_transport_ptr_t p, const giovec_t *iov, int iovcnt)
{
	struct peer *pr = p;
	unsigned char buf[MAX_RECORD + 2048];
	size_t len = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (len + iov[i].iov_len > sizeof buf) {
			errno = EMSGSIZE;
			return -1;
		}
		memcpy(buf + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	if (pr->corrupt_next && len > 5) {
		buf[len - 1] ^= 0x01; /* the last byte of the AEAD tag */
		pr->corrupt_next = 0;
	}
	return send(pr->fd, buf, len, MSG_NOSIGNAL);
}

static ssize_t peer_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	const struct peer *pr = p;
	return recv(pr->fd, buf, len, 0);
}

/* small_window: a tiny receive buffer, so that the server's replies fill its socket. */
static int peer_connect(int port, int small_window)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = {.tv_sec = WAIT_SECONDS};
	int rcvbuf = 4096;
	if (fd < 0 ||
	    (small_window && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
		die("connect", 0);
	return fd;
}

static void put_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

/*
 * Sends one record of content type `type` carrying body[0..len), protected
 * with the session's current write key, IV and sequence number, straight to
 * the socket. TLS 1.3 (RFC 8446 §5.2): an application_data record whose inner
 * plaintext ends with the real type, nonce = IV xor sequence, the header as
 * additional data. TLS 1.2 AEAD: the real type outside, additional data =
 * sequence, type, version, length; AES-GCM (RFC 5288) sends the 8-byte
 * explicit nonce after a 4-byte salt, ChaCha20-Poly1305 (RFC 7905) builds
 * its nonce as TLS 1.3 does. Then the session's write sequence number is
 * advanced past it, so the session may go on sending.
 */
static void send_sealed(struct peer *pr, int type, const void *body, size_t len)
{
	gnutls_datum_t mac, iv, key;
	unsigned char seq[8], nonce[12], hdr[5], aad[13];
	int r = gnutls_record_get_state(pr->gs, 0, &mac, &iv, &key, seq);
	if (r < 0)
		die("gnutls_record_get_state", r);
	int tls13 = gnutls_protocol_get_version(pr->gs) == GNUTLS_TLS1_3;
	size_t explicit_nonce = !tls13 && iv.size == 4 ? 8 : 0;
	if (iv.size != sizeof nonce && !explicit_nonce)
		die("hand-built records need an AEAD suite", GNUTLS_E_INVALID_REQUEST);
	gnutls_cipher_algorithm_t alg = gnutls_cipher_get(pr->gs);
	size_t tag = gnutls_cipher_get_tag_size(alg);
	size_t plen = len + (size_t)tls13, clen = explicit_nonce + plen + tag;
	unsigned char *plain = malloc(plen + 1), *rec = malloc(sizeof hdr + clen);
	if (!plain || !rec)
		die("malloc", 0);
	memcpy(plain, body, len);
	plain[len] = (unsigned char)type; /* TLSInnerPlaintext's type (TLS 1.3 only) */
	if (explicit_nonce) {
		memcpy(nonce, iv.data, 4);
		memcpy(nonce + 4, seq, 8); /* any unique value: the sequence number is one */
		memcpy(rec + sizeof hdr, seq, 8);
	} else {
		memcpy(nonce, iv.data, sizeof nonce);
		for (int i = 0; i < 8; i++)
			nonce[4 + i] ^= seq[i]; /* IV xor the 64-bit sequence number */
	}
	hdr[0] = (unsigned char)(tls13 ? CT_APPDATA : type);
	hdr[1] = 3;
	hdr[2] = 3;
	put_be(hdr + 3, clen, 2);
	memcpy(aad, seq, 8);
	memcpy(aad + 8, hdr, 3);
	put_be(aad + 11, plen, 2);
	gnutls_aead_cipher_hd_t h;
	if ((r = gnutls_aead_cipher_init(&h, alg, &key)) < 0)
		die("gnutls_aead_cipher_init", r);
	size_t out = clen - explicit_nonce;
	r = gnutls_aead_cipher_encrypt(h, nonce, sizeof nonce, tls13 ? hdr : aad,
	                               tls13 ? sizeof hdr : sizeof aad, tag, plain, plen,
	                               rec + sizeof hdr + explicit_nonce, &out);
	if (r < 0 || out != clen - explicit_nonce)
		die("gnutls_aead_cipher_encrypt", r);
	gnutls_aead_cipher_deinit(h);
	memcpy(rec, hdr, sizeof hdr);
	if (send(pr->fd, rec, sizeof hdr + clen, MSG_NOSIGNAL) != (ssize_t)(sizeof hdr + clen))
		die("send", 0);
	for (int i = 7; i >= 0 && ++seq[i] == 0; i--)
		; /* big-endian increment */
	if ((r = gnutls_record_set_state(pr->gs, 0, seq)) < 0)
		die("gnutls_record_set_state", r);
	free(plain);
	free(rec);
}

static void send_raw(struct peer *pr, const void *bytes, size_t len)
{
	if (send(pr->fd, bytes, len, MSG_NOSIGNAL) != (ssize_t)len)
		die("send", 0);
}

/* A send the server may already have refused (it closed after an alert): the
 * report that follows still reads what it sent. */
static void send_data(struct peer *pr, const char *text)
{
	ssize_t r = gnutls_record_send(pr->gs, text, strlen(text));
	if (r < 0)
		printf("send failed %s\n", gnutls_strerror((int)r));
}

static void print_data(const char *buf, ssize_t n)
{
	printf("data %zd ", n);
	for (ssize_t i = 0; i < n; i++)
		putchar(buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : '.');
	putchar('\n');
}

static void report_tcp(int fd);

/* Reports what the session reads until the server's end, then what the socket does. */
static void report(struct peer *pr)
{
	char buf[MAX_RECORD + 1];
	time_t deadline = time(NULL) + WAIT_SECONDS;
	for (int i = 0; i < MAX_EVENTS; i++) {
		ssize_t r = gnutls_record_recv(pr->gs, buf, sizeof buf);
		if (r > 0) {
			print_data(buf, r);
			continue;
		}
		if (r == 0) {
			printf("close_notify\n");
			break;
		}
		if (r == GNUTLS_E_WARNING_ALERT_RECEIVED || r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
			int a = (int)gnutls_alert_get(pr->gs);
			printf("alert %d %d %s\n", r == GNUTLS_E_FATAL_ALERT_RECEIVED ? 2 : 1, a,
			       gnutls_alert_get_name((gnutls_alert_description_t)a));
			if (r == GNUTLS_E_FATAL_ALERT_RECEIVED)
				break;
			continue;
		}
		/* AGAIN also follows a post-handshake message (a TLS 1.3 session ticket). */
		if (r == GNUTLS_E_INTERRUPTED || (r == GNUTLS_E_AGAIN && time(NULL) < deadline)) {
			i--;
			continue;
		}
		printf("error %s\n", r == GNUTLS_E_AGAIN ? "timeout" : gnutls_strerror((int)r));
		break;
	}
	report_tcp(pr->fd);
}

/* What the socket does once GnuTLS stopped reading: the server's TCP end, or not. */
static void report_tcp(int fd)
{
	char buf[4096];
	for (int i = 0; i < MAX_EVENTS; i++) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n > 0)
			continue; /* what follows the last record GnuTLS read */
		printf(n == 0 ? "tcp eof\n" : errno == ECONNRESET ? "tcp reset\n" : "tcp open\n");
		return;
	}
	printf("tcp open\n");
}

static void play(struct peer *pr, const char *name)
{
	static const unsigned char ccs[] = {CT_CCS, 3, 3, 0, 1, 1};
	static const unsigned char ku_value[] = {HS_KEY_UPDATE, 0, 0, 1, 5};
	static const unsigned char ku_len[] = {HS_KEY_UPDATE, 0, 0, 2, 0, 0};
	if (strcmp(name, "echo") == 0) {
		send_data(pr, "ping\n");
	} else if (strcmp(name, "badmac") == 0) {
		pr->corrupt_next = 1;
		send_data(pr, "this record is corrupted on its way\n");
	} else if (strcmp(name, "overflow") == 0) {
		static char big[MAX_RECORD + 1];
		memset(big, 'x', sizeof big);
		send_sealed(pr, CT_APPDATA, big, sizeof big);
	} else if (strcmp(name, "ccs") == 0) {
		/* TLS 1.3: in the clear, as during a handshake; TLS 1.2: under the keys. */
		if (gnutls_protocol_get_version(pr->gs) == GNUTLS_TLS1_3)
			send_raw(pr, ccs, sizeof ccs);
		else
			send_sealed(pr, CT_CCS, ccs + 5, 1);
	} else if (strcmp(name, "emptyalert") == 0) {
		/* An alert record without content, then a line and close_notify. */
		send_sealed(pr, CT_ALERT, "", 0);
		send_data(pr, "after\n");
		int r = gnutls_bye(pr->gs, GNUTLS_SHUT_WR);
		if (r < 0)
			printf("send failed %s\n", gnutls_strerror(r));
	} else if (strcmp(name, "keyupdate-value") == 0) {
		send_sealed(pr, CT_HANDSHAKE, ku_value, sizeof ku_value);
	} else if (strcmp(name, "keyupdate-length") == 0) {
		send_sealed(pr, CT_HANDSHAKE, ku_len, sizeof ku_len);
	} else if (strcmp(name, "keyupdate") == 0) {
		/* A well-formed KeyUpdate asking the server to update too, then a line. */
		int r = gnutls_session_key_update(pr->gs, GNUTLS_KU_PEER);
		if (r < 0)
			die("gnutls_session_key_update", r);
		send_data(pr, "after key update\n");
		if ((r = gnutls_bye(pr->gs, GNUTLS_SHUT_WR)) < 0)
			printf("send failed %s\n", gnutls_strerror(r));
	} else if (strcmp(name, "reneg") == 0) {
		send_data(pr, "before\n");
		int r = gnutls_handshake(pr->gs); /* a second ClientHello (TLS 1.2) */
		if (r == GNUTLS_E_WARNING_ALERT_RECEIVED || r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
			int a = (int)gnutls_alert_get(pr->gs);
			printf("alert %d %d %s\n", r == GNUTLS_E_FATAL_ALERT_RECEIVED ? 2 : 1, a,
			       gnutls_alert_get_name((gnutls_alert_description_t)a));
		} else {
			printf("rehandshake %s\n", r == 0 ? "accepted" : gnutls_strerror(r));
		}
	} else if (strcmp(name, "close") == 0) {
		/* A partial line, then close_notify, still reading: TLS 1.3's half-close. */
		send_data(pr, "line\npartial");
		int r = gnutls_bye(pr->gs, GNUTLS_SHUT_WR);
		if (r < 0)
			printf("send failed %s\n", gnutls_strerror(r));
	} else if (strcmp(name, "fin") == 0) {
		/* A partial line, then a TCP end without close_notify. */
		send_data(pr, "partial");
		if (shutdown(pr->fd, SHUT_WR) < 0)
			die("shutdown", 0);
	} else if (strcmp(name, "stuck") == 0) {
		/*
		 * Never reads: STUCK_BYTES of lines whose echo fills the server's socket
		 * (the server must queue them: its output_buffer must be larger), then
		 * a corrupted record. Prints "stuck" and waits for stdin's end, still
		 * not reading, so the test sees whether the server's alert waited.
		 */
		static char lines[MAX_RECORD];
		for (size_t i = 0; i < sizeof lines; i++)
			lines[i] = i % 64 == 63 ? '\n' : 'y';
		for (size_t sent = 0; sent < STUCK_BYTES; sent += sizeof lines)
			if (gnutls_record_send(pr->gs, lines, sizeof lines) < 0)
				die("gnutls_record_send", 0);
		pr->corrupt_next = 1;
		send_data(pr, "corrupted\n");
		printf("stuck\n");
		fflush(stdout);
		while (read(0, lines, sizeof lines) > 0)
			;
		exit(0);
	} else {
		fprintf(stderr, "tlsrecord: unknown case %s\n", name);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	const char *prio = "NORMAL:-VERS-ALL:+VERS-TLS1.3", *cert = NULL, *key = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "p:c:k:")) != -1) {
		if (opt == 'p')
			prio = optarg;
		else if (opt == 'c')
			cert = optarg;
		else if (opt == 'k')
			key = optarg;
		else
			return 2;
	}
	if (argc - optind != 2 || (!cert != !key)) {
		fprintf(stderr, "usage: tlsrecord [-p PRIORITY] [-c CERT -k KEY] PORT CASE\n");
		return 2;
	}
	struct peer pr = {
	    .fd = peer_connect(atoi(argv[optind]), strcmp(argv[optind + 1], "stuck") == 0)};
	gnutls_certificate_credentials_t cred;
	int r;
	if ((r = gnutls_certificate_allocate_credentials(&cred)) < 0)
		die("credentials", r);
	if (cert)
		load_client_cert(cred, cert, key);
	if ((r = gnutls_init(&pr.gs, GNUTLS_CLIENT)) < 0 ||
	    (r = gnutls_priority_set_direct(pr.gs, prio, NULL)) < 0 ||
	    (r = gnutls_credentials_set(pr.gs, GNUTLS_CRD_CERTIFICATE, cred)) < 0 ||
	    (r = gnutls_server_name_set(pr.gs, GNUTLS_NAME_DNS, "localhost", 9)) < 0)
		die("client setup", r);
	gnutls_transport_set_ptr(pr.gs, &pr);
	gnutls_transport_set_vec_push_function(pr.gs, peer_push);
	gnutls_transport_set_pull_function(pr.gs, peer_pull);
	do
		r = gnutls_handshake(pr.gs);
	while (r < 0 && !gnutls_error_is_fatal(r) && r != GNUTLS_E_AGAIN);
	if (r < 0) {
		if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
			int a = (int)gnutls_alert_get(pr.gs);
			printf("handshake failed\nalert 2 %d %s\n", a,
			       gnutls_alert_get_name((gnutls_alert_description_t)a));
		} else {
			printf("handshake failed %s\n", gnutls_strerror(r));
		}
		report_tcp(pr.fd);
	} else {
		printf("handshake ok %s %s\n",
		       gnutls_protocol_get_name(gnutls_protocol_get_version(pr.gs)),
		       gnutls_cipher_get_name(gnutls_cipher_get(pr.gs)));
		fflush(stdout);
		play(&pr, argv[optind + 1]);
		report(&pr);
	}
	fflush(stdout);
	gnutls_deinit(pr.gs);
	gnutls_certificate_free_credentials(cred);
	close(pr.fd);
	return 0;
}
