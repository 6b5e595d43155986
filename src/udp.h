/*
 * udp.h: serving a UDP listener in a worker.
 *
 * Every worker reads the listener's shared socket with recvmmsg() and answers
 * with sendmmsg(), UDP_BATCH datagrams per system call. Each datagram is one
 * request, whatever it holds (RFC 862-868): it goes whole, as one line, to
 * the listener's handler (handler.h, with session_info.datagram set) and what
 * the handler queues becomes one reply datagram. A datagram is not answered,
 * and is counted by reason, when:
 *
 *   port       its source port is a reflector or ksockd's own (udpfilter.c)
 *   too_big    it (or its reply) is larger than max_datagram
 *   bcast      it was sent to a broadcast or multicast address
 *   rate       its source is over udp_rate/udp_burst (ratelimit.c)
 *   denied     its source is refused by allow/deny (guard.c)
 *   ratio      its reply would be more than udp_max_reply_ratio times it,
 *              both measured on the wire, headers included (udpfilter.h)
 *   send_full  the socket's send buffer is full (never blocks the loop)
 *   error      sending failed otherwise
 *   no_reply   the handler has nothing to send (discard, by design)
 *
 * The socket's own receive-queue overflows (datagrams the kernel dropped
 * before any worker saw them) are reported as kernel=N, a total since the
 * socket was bound. Counts are logged at most once per UDP_LOG_INTERVAL when
 * something was dropped, and always when the listener closes (worker exit).
 */
#ifndef KSOCKD_UDP_H
#define KSOCKD_UDP_H

#include "conf.h"
#include "generation.h"

struct listener;
struct worker;

#define UDP_LOG_INTERVAL 10. /* seconds between drop summaries */

/* Serves fd for gl in worker w; l is the worker's listener slot for it. */
void udp_start(struct listener *l, struct worker *w, const struct gen_listener *gl, int fd);
/* Stops serving, logs the final counts, closes the socket and frees the state. */
void udp_close(struct listener *l);

#endif
