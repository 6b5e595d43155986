/*
 * handler.h: the interface between transports and line protocols, and the
 * registry of handlers by name (built-in ones and those of loaded plug-ins).
 *
 * The interface itself is public (include/ksockd/handler.h, installed for
 * plug-in authors); this header adds what only the daemon uses.
 *
 * A handler is pure: it sees its own state, one line at a time, and an output
 * queue to append replies to. It never sees a socket, a watcher or TLS, so
 * every transport (TCP, TLS, UDP) feeds the same handler and each handler is
 * unit-tested without a network. The connection allocates state_size bytes
 * of zeroed state for each session and calls open, line..., close.
 *
 * Streams: open may queue a greeting and return HANDLER_CLOSE ("send what is
 * queued, then close": daytime, time, qotd). Datagrams (si->datagram): each
 * datagram is one session of its own (open, one line(), close) and gets at
 * most one reply datagram. The line is the whole datagram, whatever it holds
 * (embedded newlines, nothing at all): a final "\r\n" or "\n" is its
 * terminator, everything before it its text. open must not reply.
 */
#ifndef KSOCKD_HANDLER_H
#define KSOCKD_HANDLER_H

#include <ksockd/handler.h>

#include "linebuf.h"
#include "outbuf.h"

/* Looks a handler up by name (built-in first, then plug-ins); NULL if unknown. */
const struct handler *handler_find(const char *name);
/* The built-in handler called name, NULL if none. */
const struct handler *handler_builtin(const char *name);
/* "echo, hello, ...": built-in and plug-in names, for error messages. */
const char *handler_names(void);

#endif
