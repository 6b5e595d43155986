/*
 * proxy.h: the PROXY protocol (v1 text, v2 binary) header parser, receive side.
 *
 * Pure code: no sockets, no allocation, no logging. The caller accumulates
 * the first bytes of a connection and calls proxy_parse() on all of them each
 * time more arrive; the parser says whether a complete header is there (and
 * how long it is), whether more bytes are needed, whether (in optional mode)
 * the connection carries no header at all, or why the bytes are refused.
 * While the answer is PROXY_MORE every byte seen so far belongs to the
 * header, so the caller may consume them from the socket.
 *
 *   bytes --> MORE --more bytes--> DONE (header_len, info) | NONE | ERROR (why)
 */
#ifndef KSOCKD_PROXY_H
#define KSOCKD_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_V1_MAX 107                             /* longest v1 line, CRLF included (spec) */
#define PROXY_V2_MAX_PAYLOAD 2048                    /* longest v2 address+TLV block we accept */
#define PROXY_MAX_HEADER (16 + PROXY_V2_MAX_PAYLOAD) /* buffer a caller needs */
#define PROXY_TLV_STRLEN 128                         /* kept TLV strings, escaped and truncated */

enum proxy_mode {
	PROXY_OFF = 0,  /* no PROXY header expected */
	PROXY_V1,       /* v1 text header required */
	PROXY_V2,       /* v2 binary header required */
	PROXY_ANY,      /* v1 or v2 header required */
	PROXY_OPTIONAL, /* v1, v2, or no header at all */
};

enum proxy_status {
	PROXY_MORE,  /* a valid prefix so far: feed more bytes */
	PROXY_DONE,  /* a complete header: see header_len and info */
	PROXY_NONE,  /* optional mode: the bytes are not a PROXY header (plain client) */
	PROXY_ERROR, /* garbled, oversized or not allowed by the mode: see why */
};

/* What a header said. Strings are NUL-terminated, non-printable bytes escaped. */
struct proxy_info {
	int version;                        /* 1 or 2 */
	bool local;                         /* v2 LOCAL, v1 UNKNOWN or an unsupported family:
	                                       the socket addresses stay the real ones */
	struct sockaddr_storage src;        /* original client (when !local) */
	struct sockaddr_storage dst;        /* address the client reached (when !local) */
	unsigned n_tlvs;                    /* v2 TLVs seen, including ignored ones */
	char alpn[PROXY_TLV_STRLEN];        /* PP2_TYPE_ALPN, "" if absent */
	char authority[PROXY_TLV_STRLEN];   /* PP2_TYPE_AUTHORITY (SNI), "" if absent */
	char unique_id[PROXY_TLV_STRLEN];   /* PP2_TYPE_UNIQUE_ID, "" if absent */
	bool ssl;                           /* PP2_TYPE_SSL present */
	uint8_t ssl_client;                 /* its client bit field */
	uint32_t ssl_verify;                /* its verify result (0: verified) */
	char ssl_version[PROXY_TLV_STRLEN]; /* PP2_SUBTYPE_SSL_VERSION */
	char ssl_cipher[PROXY_TLV_STRLEN];  /* PP2_SUBTYPE_SSL_CIPHER */
	char ssl_cn[PROXY_TLV_STRLEN];      /* PP2_SUBTYPE_SSL_CN */
};

/*
 * Parses buf[0..len), the first bytes of a connection. On PROXY_DONE sets
 * *header_len and fills *info; on PROXY_ERROR sets *why (static text).
 */
enum proxy_status proxy_parse(const uint8_t *buf, size_t len, enum proxy_mode mode,
                              struct proxy_info *info, size_t *header_len, const char **why);

/* "v1", "v2", "any", "optional" (and "off") <-> mode; -1 if unknown. */
int proxy_mode_from_name(const char *name);
const char *proxy_mode_name(enum proxy_mode mode);

#endif
