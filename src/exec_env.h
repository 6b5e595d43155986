/*
 * exec_env.h: the environment of a program started for a connection (pure:
 * strings in, strings out; no I/O).
 *
 * Nothing of ksockd's own environment is passed on. The program sees, in
 * this order: PATH (a fixed default unless exec_env sets it), the exec_env
 * entries, then the UCSPI variables tcpserver and s6-tcpserver programs
 * expect:
 *
 *   PROTO          TCP, or SSL on a tls listener (as ucspi-ssl's sslserver)
 *   TCPREMOTEIP, TCPREMOTEPORT   the client (the PROXY header's, if one came)
 *   TCPLOCALIP, TCPLOCALPORT     the address it reached (the header's destination)
 *   SSLREMOTEIP ... SSLLOCALPORT the same four again when PROTO=SSL
 *   SSL_PROTOCOL, SSL_CIPHER, SSL_SERVER_NAME (SNI), SSL_ALPN,
 *   SSL_CLIENT_DN (verified client certificate subject, as stunnel) on tls
 *   PROXYREMOTEIP, PROXYREMOTEPORT  the balancer that sent the PROXY header
 *   PROXYLOCALIP, PROXYLOCALPORT    the socket's own local end behind PROXY
 *
 * Values that came from the network (SNI, ALPN, DN) are byte-safe: control
 * characters (newline, CR, tab, DEL, ...) become '?', and they are cut at
 * EXEC_ENV_VALUE_MAX bytes.
 */
#ifndef KSOCKD_EXEC_ENV_H
#define KSOCKD_EXEC_ENV_H

#include <stddef.h>

struct exec_conf;
struct session_info;

#define EXEC_ENV_VALUE_MAX 1024 /* bytes kept of a network-derived value */
#define EXEC_ENV_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* A NULL-terminated "NAME=value" vector (one allocation each); NULL when out of memory. */
char **exec_env_build(const struct exec_conf *ec, const struct session_info *si);
void exec_env_free(char **env);
/* True if name is one ksockd sets itself (exec_env must not set it). */
int exec_env_reserved(const char *name, size_t len);

#endif
