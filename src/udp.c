/*
 * udp.c: the UDP listener of one worker: batch receive, reflection checks,
 * the handler run for each datagram, batch send, and drop accounting.
 *
 * Owns struct udp (hung off the worker's struct listener) and, in this
 * process, the listener's socket. Must not touch stream connections; the
 * handler sees one datagram as one request and an outbuf, never the socket.
 */
#include "config.h"

#include <errno.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "handler.h"
#include "listener.h"
#include "guard.h"
#include "log.h"
#include "ratelimit.h"
#include "stats.h"
#include "udp.h"
#include "udpfilter.h"
#include "worker.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define UDP_BATCH 32 /* datagrams per recvmmsg/sendmmsg */
#define UDP_ROUNDS 8 /* batches per wake-up before yielding to other watchers */

/* Room for one IPv6 and one IPv4 packet-info message (or a unix sender's credentials). */
union udp_cmsg {
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
	char cred[CMSG_SPACE(sizeof(struct ucred))]; /* SCM_CREDENTIALS (unixgram) */
	struct cmsghdr align;                        /* alignment only */
};

struct udp_counts {
	unsigned long answered;  /* replies handed to the kernel */
	unsigned long too_big;   /* request or reply larger than max_datagram */
	unsigned long rate;      /* source over its token bucket */
	unsigned long port;      /* source port a reflector or our own */
	unsigned long ratio;     /* reply over udp_max_reply_ratio x request */
	unsigned long bcast;     /* sent to a broadcast or multicast address */
	unsigned long send_full; /* send buffer full (EAGAIN) */
	unsigned long error;     /* other send errors */
	unsigned long denied;    /* source refused by allow/deny (guard.c) */
	unsigned long no_reply;  /* the handler had nothing to send (discard) */
};

struct udp {
	struct listener *l;               /* the worker's listener slot */
	const struct listener_conf *conf; /* its configuration */
	const struct limits *lim;         /* its limits */
	bool pktinfo;                     /* wildcard address: reply from the request's address */
	bool un;                  /* unixgram: credentials per datagram, no reflection rules */
	bool limited;             /* udp_rate > 0: rl is in use */
	struct ratelimit rl;      /* per-source token buckets */
	struct udpfilter filter;  /* source ports never answered */
	size_t slot_size;         /* receive buffer per datagram: max_datagram + 1 */
	char *rbuf;               /* UDP_BATCH slots of slot_size */
	void *state;              /* handler state for the datagram being served */
	struct udp_counts n;      /* counts since the worker started */
	struct udp_counts logged; /* counts at the last summary */
	unsigned kernel_logged;   /* kernel drops at the last summary */
	ev_timer log_timer;       /* periodic drop summary */
	struct mmsghdr rmsg[UDP_BATCH];          /* receive batch */
	struct iovec riov[UDP_BATCH];            /* one slot each */
	struct sockaddr_storage peer[UDP_BATCH]; /* sources */
	union udp_cmsg rctl[UDP_BATCH];          /* packet info received */
	struct mmsghdr smsg[UDP_BATCH];          /* send batch */
	struct iovec siov[UDP_BATCH];            /* one reply each */
	union udp_cmsg sctl[UDP_BATCH];          /* packet info to send with */
	struct outbuf out[UDP_BATCH];            /* replies, storage kept between batches */
};

/* Datagrams the kernel dropped on this socket since it was bound (all workers). */
static unsigned udp_kernel_drops(const struct udp *u)
{
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = sizeof mem;
	if (getsockopt(u->l->fd, SOL_SOCKET, SO_MEMINFO, mem, &len) < 0 ||
	    len <= SK_MEMINFO_DROPS * sizeof mem[0])
		return 0;
	return mem[SK_MEMINFO_DROPS];
}

static void udp_log_counts(struct udp *u, int prio, unsigned kernel, const char *when)
{
	const struct udp_counts *n = &u->n;
	log_emit(prio,
	         "udp '%s': worker %u: answered=%lu dropped: too_big=%lu rate=%lu port=%lu "
	         "ratio=%lu bcast=%lu send_full=%lu error=%lu denied=%lu no_reply=%lu kernel=%u%s",
	         u->conf->name, u->l->w->slot, n->answered, n->too_big, n->rate, n->port, n->ratio,
	         n->bcast, n->send_full, n->error, n->denied, n->no_reply, kernel, when);
	u->logged = *n;
	u->kernel_logged = kernel;
}

/* Logs the counts if anything was dropped since the last summary. */
static void udp_log_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct udp *u = container_of(t, struct udp, log_timer);
	(void)loop;
	(void)revents;
	unsigned kernel = udp_kernel_drops(u);
	struct udp_counts now = u->n, was = u->logged;
	now.answered = was.answered = 0;
	now.no_reply = was.no_reply = 0; /* by design (discard): not worth a summary */
	bool local = u->n.send_full != u->logged.send_full || u->n.error != u->logged.error ||
	             kernel != u->kernel_logged;
	if (local || memcmp(&now, &was, sizeof now) != 0)
		udp_log_counts(u, local ? LOG_WARNING : LOG_INFO, kernel, "");
}

/* The destination of received datagram i from its packet info; false if none. */
static bool udp_dest(struct udp *u, int i, struct sockaddr_storage *dst, bool *bcast)
{
	struct msghdr *mh = &u->rmsg[i].msg_hdr;
	*bcast = false;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof pi);
			struct sockaddr_in *sin = (struct sockaddr_in *)dst;
			memset(sin, 0, sizeof *sin);
			sin->sin_family = AF_INET;
			sin->sin_addr = pi.ipi_addr;
			sin->sin_port = htons((uint16_t)u->conf->port);
			uint32_t a = ntohl(pi.ipi_addr.s_addr);
			/* The kernel's local address differs from the header's for broadcasts. */
			*bcast = IN_MULTICAST(a) || a == INADDR_BROADCAST ||
			         pi.ipi_addr.s_addr != pi.ipi_spec_dst.s_addr;
			return true;
		}
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof pi);
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)dst;
			memset(sin6, 0, sizeof *sin6);
			sin6->sin6_family = AF_INET6;
			sin6->sin6_addr = pi.ipi6_addr;
			sin6->sin6_port = htons((uint16_t)u->conf->port);
			sin6->sin6_scope_id = pi.ipi6_ifindex;
			uint32_t a = ntohl(pi.ipi6_addr.s6_addr32[3]);
			*bcast = IN6_IS_ADDR_MULTICAST(&pi.ipi6_addr) ||
			         (IN6_IS_ADDR_V4MAPPED(&pi.ipi6_addr) &&
			          (IN_MULTICAST(a) || a == INADDR_BROADCAST));
			return true;
		}
	}
	return false;
}

/* Sets reply j's packet info so that it leaves from dst, the request's address. */
static void udp_set_source(struct udp *u, int j, const struct sockaddr_storage *dst)
{
	struct msghdr *mh = &u->smsg[j].msg_hdr;
	memset(&u->sctl[j], 0, sizeof u->sctl[j]);
	mh->msg_control = u->sctl[j].buf;
	struct cmsghdr *c = (struct cmsghdr *)u->sctl[j].buf;
	if (dst->ss_family == AF_INET) {
		struct in_pktinfo pi = {0}; /* ifindex 0: the route decides the interface */
		pi.ipi_spec_dst = ((const struct sockaddr_in *)dst)->sin_addr;
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof pi);
		memcpy(CMSG_DATA(c), &pi, sizeof pi);
		mh->msg_controllen = CMSG_SPACE(sizeof pi);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)dst;
		struct in6_pktinfo pi = {.ipi6_addr = sin6->sin6_addr};
		/* Link-local addresses only make sense on the interface they came in on. */
		if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr))
			pi.ipi6_ifindex = sin6->sin6_scope_id;
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof pi);
		memcpy(CMSG_DATA(c), &pi, sizeof pi);
		mh->msg_controllen = CMSG_SPACE(sizeof pi);
	}
}

/* The whole datagram as one request: a final "\r\n" or "\n" is its terminator. */
static void udp_request(const char *data, size_t len, struct line *line)
{
	size_t eol = 0;
	if (len >= 1 && data[len - 1] == '\n')
		eol = len >= 2 && data[len - 2] == '\r' ? 2 : 1;
	line->data = data;
	line->len = len - eol;
	line->eol = data + len - eol;
	line->eol_len = eol;
}

/*
 * Runs the handler over one datagram, the request, whatever it holds (empty
 * included): open, one line(), close. max_line does not apply: max_datagram
 * already bounds the request.
 */
static void udp_run_handler(struct udp *u, const char *data, size_t len,
                            const struct session_info *si, struct outbuf *out)
{
	const struct handler *h = u->conf->handler;
	memset(u->state, 0, h->state_size);
	enum handler_result r = h->open ? h->open(u->state, si, out) : HANDLER_OK;
	if (r == HANDLER_OK) {
		struct line line;
		udp_request(data, len, &line);
		h->line(u->state, &line, out);
		stats_add(u->l->stats, STAT_LINES_IN, 1);
	}
	if (h->close)
		h->close(u->state);
}

/*
 * A unixgram sender: its credentials (SCM_CREDENTIALS) as a struct sockaddr_cred,
 * and whether it can be answered: only a sender bound to a path (or an abstract
 * name) has an address to reply to.
 */
static void udp_unix_sender(struct udp *u, int i, struct sockaddr_cred *cred, bool *named)
{
	struct msghdr *mh = &u->rmsg[i].msg_hdr;
	memset(cred, 0, sizeof *cred);
	cred->family = AF_UNIX;
	cred->cred.uid = (uid_t)-1; /* unknown unless the kernel says: matches no allow rule */
	cred->cred.gid = (gid_t)-1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred uc;
			memcpy(&uc, CMSG_DATA(c), sizeof uc);
			cred->cred.pid = uc.pid;
			cred->cred.uid = uc.uid;
			cred->cred.gid = uc.gid;
		}
	*named = mh->msg_namelen > offsetof(struct sockaddr_un, sun_path);
}

/* Serves received datagram i; queues its reply as send slot *ns when there is one. */
static void udp_serve(struct udp *u, int i, int *ns)
{
	const struct msghdr *mh = &u->rmsg[i].msg_hdr;
	const struct sockaddr *peer = (const struct sockaddr *)&u->peer[i];
	size_t len = u->rmsg[i].msg_len;
	struct sockaddr_cred ucred;
	bool named = true;
	if (u->un) { /* the sender is its credentials for the guard, the limiter and the handler */
		udp_unix_sender(u, i, &ucred, &named);
		peer = (const struct sockaddr *)&ucred;
	}
	uint16_t port = u->un ? 0
	                : peer->sa_family == AF_INET
	                    ? ntohs(((const struct sockaddr_in *)peer)->sin_port)
	                    : ntohs(((const struct sockaddr_in6 *)peer)->sin6_port);
	stats_add(u->l->stats, STAT_DGRAM_IN, 1);
	stats_add(u->l->stats, STAT_BYTES_IN, len);
	if (!u->un && udpfilter_port_blocked(&u->filter, port)) {
		u->n.port++;
		stats_add(u->l->stats, STAT_DGRAM_DROP_PORT, 1);
		return;
	}
	/* allow/deny (and connect_rate, if set) per datagram: nothing is held. */
	if (guard_admit(&u->l->guard, peer, ev_now(u->l->w->loop), NULL) != GUARD_OK) {
		u->n.denied++;
		stats_add(u->l->stats, STAT_DGRAM_DROP_DENIED, 1);
		return;
	}
	if ((mh->msg_flags & MSG_TRUNC) || len > u->lim->max_datagram) {
		u->n.too_big++;
		stats_add(u->l->stats, STAT_DGRAM_DROP_TOO_BIG, 1);
		return;
	}
	struct sockaddr_storage dst;
	bool bcast = false, have_dst = u->pktinfo && udp_dest(u, i, &dst, &bcast);
	if (bcast) {
		u->n.bcast++;
		stats_add(u->l->stats, STAT_DGRAM_DROP_BCAST, 1);
		return;
	}
	struct ratelimit_key key;
	if (u->limited && ratelimit_key_from_addr(peer, &key) &&
	    !ratelimit_allow(&u->rl, &key, ev_now(u->l->w->loop))) {
		u->n.rate++;
		stats_add(u->l->stats, STAT_DGRAM_DROP_RATE, 1);
		return;
	}
	struct outbuf *out = &u->out[*ns];
	outbuf_reset(out);
	/* The reply-ratio rule limits reflection off spoofed IP sources; a unix sender is local. */
	size_t hdr = u->un ? 0 : udpfilter_overhead(peer);
	size_t ratio_limit = u->un ? u->lim->max_datagram
	                           : udpfilter_reply_max(len, u->lim->udp_max_reply_ratio, hdr);
	size_t room = ratio_limit < u->lim->max_datagram ? ratio_limit : u->lim->max_datagram;
	struct session_info si = {
	    .listener = u->conf->name,
	    .peer = peer,
	    .local = have_dst ? (struct sockaddr *)&dst : (struct sockaddr *)&u->l->gl->addr,
	    .datagram = true,
	    .qotd = u->l->gl->qotd,
	    .stats = u->l->w->stats,
	    .sock_peer = peer,
	    .draining = u->l->w->drain_flag,
	    .reply_room = room,
	    .cred = addr_cred(peer),
	};
	udp_run_handler(u, u->riov[i].iov_base, len, &si, out);
	size_t rlen = outbuf_len(out);
	if ((rlen == 0 && !u->conf->handler->empty_reply) || !named) {
		/* !named: an unbound unixgram sender has no address to answer to. */
		u->n.no_reply++; /* nothing to say (discard, or a handler that ignored it) */
		stats_add(u->l->stats, STAT_DGRAM_DROP_NO_REPLY, 1);
		return;
	}
	if (!u->un && !udpfilter_reply_ok(len, rlen, u->lim->udp_max_reply_ratio, hdr)) {
		u->n.ratio++;
		stats_add(u->l->stats, STAT_DGRAM_DROP_RATIO, 1);
		return;
	}
	if (rlen > u->lim->max_datagram) {
		u->n.too_big++;
		stats_add(u->l->stats, STAT_DGRAM_DROP_TOO_BIG, 1);
		return;
	}
	struct msghdr *sh = &u->smsg[*ns].msg_hdr;
	memset(sh, 0, sizeof *sh);
	u->siov[*ns].iov_base = rlen ? (void *)outbuf_head(out) : NULL;
	u->siov[*ns].iov_len = rlen;
	sh->msg_iov = &u->siov[*ns];
	sh->msg_iovlen = 1;
	sh->msg_name = &u->peer[i];
	sh->msg_namelen = mh->msg_namelen;
	if (have_dst)
		udp_set_source(u, *ns, &dst);
	(*ns)++;
}

/* Shared counters for replies first..first+n-1, just sent. */
static void udp_count_sent(struct udp *u, int first, int n)
{
	uint64_t bytes = 0, lines = 0;
	for (int j = first; j < first + n; j++) {
		size_t len = u->siov[j].iov_len;
		if (len == 0)
			continue;
		const char *p = u->siov[j].iov_base, *end = p + len;
		bytes += len;
		while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			lines++;
			p++;
		}
	}
	stats_add(u->l->stats, STAT_DGRAM_ANSWERED, (uint64_t)n);
	stats_add(u->l->stats, STAT_BYTES_OUT, bytes);
	stats_add(u->l->stats, STAT_LINES_OUT, lines);
}

/* Sends replies 0..n-1; a full send buffer drops the rest, never waits. */
static void udp_send(struct udp *u, int n)
{
	int i = 0;
	while (i < n) {
		int r = sendmmsg(u->l->fd, u->smsg + i, (unsigned)(n - i), MSG_DONTWAIT);
		if (r > 0) {
			u->n.answered += (unsigned long)r;
			udp_count_sent(u, i, r);
			i += r;
		} else if (r < 0 && errno == EINTR) {
			continue;
		} else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
			u->n.send_full += (unsigned long)(n - i);
			stats_add(u->l->stats, STAT_DGRAM_DROP_SEND_FULL, (uint64_t)(n - i));
			return;
		} else {
			if (log_enabled(LOG_DEBUG))
				log_warn("udp '%s': sendmmsg", u->conf->name);
			u->n.error++;
			stats_add(u->l->stats, STAT_DGRAM_DROP_ERROR, 1);
			i++; /* skip the reply that failed */
		}
	}
}

/* Prepares receive slot i for the next recvmmsg. */
static void udp_arm_slot(struct udp *u, int i)
{
	struct msghdr *mh = &u->rmsg[i].msg_hdr;
	mh->msg_name = &u->peer[i];
	mh->msg_namelen = sizeof u->peer[i];
	mh->msg_iov = &u->riov[i];
	mh->msg_iovlen = 1;
	mh->msg_control = u->pktinfo || u->un ? u->rctl[i].buf : NULL;
	mh->msg_controllen = u->pktinfo || u->un ? sizeof u->rctl[i].buf : 0;
	mh->msg_flags = 0;
}

static void udp_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct listener *l = container_of(io, struct listener, io);
	struct udp *u = l->udp;
	(void)loop;
	(void)revents;
	for (int round = 0; round < UDP_ROUNDS; round++) {
		for (int i = 0; i < UDP_BATCH; i++)
			udp_arm_slot(u, i);
		int n = recvmmsg(l->fd, u->rmsg, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("udp '%s': recvmmsg", u->conf->name);
			return;
		}
		int ns = 0;
		for (int i = 0; i < n; i++)
			udp_serve(u, i, &ns);
		if (ns > 0)
			udp_send(u, ns);
		if (n < UDP_BATCH)
			return;
	}
}

/* Asks the kernel for each datagram's destination address (wildcard listeners). */
static void udp_enable_pktinfo(struct udp *u)
{
	int one = 1, rc;
	if (u->l->gl->addr.ss_family == AF_INET)
		rc = setsockopt(u->l->fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
	else
		rc = setsockopt(u->l->fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
	if (rc < 0) {
		log_warn("udp '%s': cannot enable packet info: replies leave from the routed "
		         "address",
		         u->conf->name);
		u->pktinfo = false;
	}
}

/* Asks for a receive queue that absorbs bursts; the kernel caps it at net.core.rmem_max. */
static void udp_set_rcvbuf(struct udp *u)
{
	int want = (int)u->lim->udp_rcvbuf, got = 0;
	socklen_t len = sizeof got;
	if (want == 0)
		return;
	if (setsockopt(u->l->fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want) < 0 ||
	    getsockopt(u->l->fd, SOL_SOCKET, SO_RCVBUF, &got, &len) < 0) {
		log_warn("udp '%s': cannot set the receive buffer to %d bytes", u->conf->name,
		         want);
		return;
	}
	/* The kernel reports twice what it grants (bookkeeping overhead included). */
	if (got / 2 < want && u->l->w->slot == 0)
		log_notice("udp '%s': receive buffer is %d bytes, not the %d of udp_rcvbuf: raise "
		           "net.core.rmem_max to absorb larger bursts",
		           u->conf->name, got / 2, want);
}

static bool udp_is_wildcard(const struct sockaddr_storage *addr)
{
	if (addr->ss_family == AF_INET)
		return ((const struct sockaddr_in *)addr)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)addr)->sin6_addr);
}

/* Allocates what serving needs; false when out of memory. */
static bool udp_alloc(struct udp *u)
{
	uint64_t seed = 0;
	if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
		log_warn("udp '%s': getrandom: the rate limiter's hash is predictable",
		         u->conf->name);
	if (u->limited && ratelimit_init(&u->rl, u->lim->udp_rate, u->lim->udp_burst,
	                                 u->lim->udp_sources, seed) < 0)
		return false;
	u->slot_size = (size_t)u->lim->max_datagram + 1;
	/* Large but mostly untouched: small datagrams only fault in a page per slot. */
	u->rbuf = malloc(UDP_BATCH * u->slot_size);
	u->state = calloc(1, u->conf->handler->state_size + 1);
	return u->rbuf && u->state;
}

void udp_start(struct listener *l, struct worker *w, const struct gen_listener *gl, int fd)
{
	const struct listener_conf *lc = gl->conf;
	listener_init(l, w, gl, fd); /* its guard checks allow/deny per datagram */
	struct udp *u = calloc(1, sizeof *u);
	if (!u)
		fatal("udp '%s': calloc", lc->name);
	l->udp = u;
	u->l = l;
	u->conf = lc;
	u->lim = &lc->limits;
	u->limited = lc->limits.udp_rate > 0;
	u->un = lc->protocol == PROTO_UNIXGRAM;
	u->pktinfo = !u->un && udp_is_wildcard(&gl->addr);
	int one = 1;
	if (u->un && setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0)
		log_warn("unixgram '%s': SO_PASSCRED: senders have no credentials (allow_uid and "
		         "allow_gid admit none)",
		         lc->name);
	if (!udp_alloc(u))
		fatal("udp '%s': out of memory for %u receive buffers", lc->name, UDP_BATCH);
	for (int i = 0; i < UDP_BATCH; i++) {
		u->riov[i].iov_base = u->rbuf + (size_t)i * u->slot_size;
		u->riov[i].iov_len = u->slot_size;
	}
	for (size_t i = 0; i < w->conf->n_listeners; i++)
		if (w->conf->listeners[i].protocol == PROTO_UDP &&
		    udpfilter_add_own(&u->filter, (uint16_t)w->conf->listeners[i].port) < 0)
			log_warnx("udp '%s': more than %d UDP listeners: port %u is not filtered",
			          lc->name, UDPFILTER_MAX_OWN, w->conf->listeners[i].port);
	if (u->pktinfo)
		udp_enable_pktinfo(u);
	udp_set_rcvbuf(u);
	ev_io_init(&l->io, udp_read_cb, fd, EV_READ);
	ev_io_start(w->loop, &l->io);
	ev_timer_init(&u->log_timer, udp_log_cb, UDP_LOG_INTERVAL, UDP_LOG_INTERVAL);
	ev_timer_start(w->loop, &u->log_timer);
}

void udp_close(struct listener *l)
{
	struct udp *u = l->udp;
	if (l->state == LISTENER_CLOSED)
		return;
	/* The final line only when something happened: a reload closes every
	 * worker's UDP listeners, and all-zero lines hide the ones that matter. */
	static const struct udp_counts zero;
	unsigned kernel = udp_kernel_drops(u);
	if (memcmp(&u->n, &zero, sizeof zero) != 0 || kernel != u->kernel_logged)
		udp_log_counts(u, LOG_INFO, kernel, " (final)");
	ev_io_stop(l->w->loop, &l->io);
	ev_timer_stop(l->w->loop, &u->log_timer);
	close(l->fd);
	l->fd = -1;
	l->state = LISTENER_CLOSED;
	for (int i = 0; i < UDP_BATCH; i++)
		outbuf_free(&u->out[i]);
	if (u->limited)
		ratelimit_free(&u->rl);
	free(u->rbuf);
	free(u->state);
	free(u);
	l->udp = NULL;
}
