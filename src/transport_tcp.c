/*
 * transport_tcp.c: the plain TCP transport: the socket itself, with no state
 * of its own (so no allocation per connection). Its context pointer carries
 * the fd; conn owns and closes the socket. A failure's errno is classified
 * by tcp_error, which conn calls at once after the failing call.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>

#include "transport.h"

static int tcp_fd(const void *ctx)
{
	return (int)(intptr_t)ctx;
}

static int tcp_open(const struct transport_env *env, void **ctx, enum conn_reason *why)
{
	(void)why;
	*ctx = (void *)(intptr_t)env->fd;
	return 0;
}

static ssize_t tcp_read(void *ctx, void *buf, size_t len)
{
	ssize_t n = recv(tcp_fd(ctx), buf, len, 0);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return TRANSPORT_AGAIN;
	return TRANSPORT_ERROR;
}

static ssize_t tcp_write(void *ctx, const void *buf, size_t len)
{
	ssize_t n = send(tcp_fd(ctx), buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0)
		return n;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return TRANSPORT_AGAIN;
	if (n == 0)
		errno = EIO; /* send never returns 0 for len > 0; if it did, it is an error */
	return TRANSPORT_ERROR;
}

static size_t tcp_pending(const void *ctx)
{
	(void)ctx;
	return 0; /* the kernel announces every byte it holds */
}

static bool tcp_wants_write(const void *ctx)
{
	(void)ctx;
	return false; /* a read only ever waits for readability */
}

static enum conn_reason tcp_error(const void *ctx)
{
	(void)ctx;
	return errno == ECONNRESET || errno == EPIPE ? REASON_RESET : REASON_IO_ERROR;
}

static void tcp_close(void *ctx, enum conn_reason why)
{
	(void)ctx; /* nothing held: close(fd), by conn, sends the FIN */
	(void)why;
}

const struct transport transport_tcp = {
    .name = "tcp",
    .open = tcp_open,
    .read = tcp_read,
    .write = tcp_write,
    .pending = tcp_pending,
    .wants_write = tcp_wants_write,
    .error = tcp_error,
    .close = tcp_close,
};
