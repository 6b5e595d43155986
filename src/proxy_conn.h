/*
 * proxy_conn.h: a connection's PROXY header phase.
 *
 * On listeners with proxy_protocol set, conn_create hands the new connection
 * here instead of starting the session: the header is read off the socket
 * (exactly the header's bytes, nothing after it), checked against the
 * listener's mode and proxy_trusted, and applied (c->peer becomes the
 * original client). Then conn_begin() starts the session; a bad, missing,
 * late or untrusted header closes the connection and is counted on the
 * listener, logged at most once per 10 s.
 *
 *   accepted --untrusted (v1/v2/any)--> refused
 *      |
 *   HEADER --more bytes--> HEADER --DONE / NONE (optional)--> conn_begin()
 *      |
 *      +--garbled / oversized / EOF / proxy_timeout--> refused
 */
#ifndef KSOCKD_PROXY_CONN_H
#define KSOCKD_PROXY_CONN_H

struct conn;

/* Starts reading the header; may free c (then returns -1). */
int proxy_conn_start(struct conn *c);
/* Releases the header buffer and the kept header info (called by conn_free). */
void proxy_conn_free(struct conn *c);

#endif
