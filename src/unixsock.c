/*
 * unixsock.c: unix-domain listeners (unixsock.h): the socket file (probe,
 * bind, mode and owner, removal), peer credentials and the uid/gid rules.
 * Master side except unixsock_peer and unixsock_admit, which workers call.
 * Must not touch listeners of other families.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "generation.h"
#include "log.h"
#include "unixsock.h"

/* "FILE:LINE: listener 'NAME': " before a unix listener's message. */
#define UFAIL(err, errlen, lc, line, fmt, ...)                                                     \
	snprintf(err, errlen, "%s:%d: listener '%s': " fmt, (lc)->file ? (lc)->file : "?", line,   \
	         (lc)->name, __VA_ARGS__)

/* A user (or group) name or number; false if there is no such one. */
static bool unixsock_id(const char *v, bool group, unsigned long *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (v[0] >= '0' && v[0] <= '9' && *end == '\0' && errno == 0 && n < 4294967295UL) {
		*out = n;
		return true;
	}
	if (group) {
		const struct group *gr = getgrnam(v);
		if (gr)
			*out = gr->gr_gid;
		return gr != NULL;
	}
	const struct passwd *pw = getpwnam(v);
	if (pw)
		*out = pw->pw_uid;
	return pw != NULL;
}

/* Resolves names[0..n) into *ids (uid_t and gid_t are both 32-bit unsigned here). */
static int unixsock_ids(char *const *names, size_t n, bool group, uid_t **ids, const char *what,
                        char *why, size_t len)
{
	*ids = calloc(n ? n : 1, sizeof **ids);
	if (!*ids) {
		snprintf(why, len, "out of memory for '%s'", what);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned long id;
		if (!unixsock_id(names[i], group, &id)) {
			snprintf(why, len, "'%s': no %s named '%s' on this system", what,
			         group ? "group" : "user", names[i]);
			return -1;
		}
		(*ids)[i] = (uid_t)id;
	}
	return 0;
}

void unixsock_free(struct unix_ids *u)
{
	if (!u)
		return;
	free(u->allow_uid);
	free(u->allow_gid);
	free(u->deny_uid);
	free(u);
}

int unixsock_prepare(struct gen_listener *gl, char *why, size_t len)
{
	const struct unix_conf *uc = &gl->conf->un;
	struct sockaddr_un *sun = (struct sockaddr_un *)&gl->addr;
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	snprintf(sun->sun_path, sizeof sun->sun_path, "%s", uc->path); /* length checked by conf */
	gl->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(uc->path) + 1);
	struct unix_ids *u = calloc(1, sizeof *u);
	if (!u) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	gl->un = u;
	u->owner = (uid_t)-1;
	u->group = (gid_t)-1;
	unsigned long id;
	if (uc->owner && !unixsock_id(uc->owner, false, &id)) {
		snprintf(why, len, "'owner': no user named '%s' on this system", uc->owner);
		return -1;
	}
	if (uc->owner)
		u->owner = (uid_t)id;
	if (uc->group && !unixsock_id(uc->group, true, &id)) {
		snprintf(why, len, "'group': no group named '%s' on this system", uc->group);
		return -1;
	}
	if (uc->group)
		u->group = (gid_t)id;
	u->chown = uc->owner || uc->group;
	u->n_allow_uid = uc->n_allow_uid;
	u->n_allow_gid = uc->n_allow_gid;
	u->n_deny_uid = uc->n_deny_uid;
	if (unixsock_ids(uc->allow_uid, uc->n_allow_uid, false, &u->allow_uid, "allow_uid", why,
	                 len) < 0 ||
	    unixsock_ids(uc->allow_gid, uc->n_allow_gid, true, &u->allow_gid, "allow_gid", why,
	                 len) < 0 ||
	    unixsock_ids(uc->deny_uid, uc->n_deny_uid, false, &u->deny_uid, "deny_uid", why, len) <
	        0)
		return -1;
	return 0;
}

/* 1: something serves the socket at sun; 0: nobody does (stale); -1: cannot tell (errno). */
static int unixsock_probe(const struct sockaddr_un *sun, socklen_t len)
{
	static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		/* Non-blocking: a listener with a full backlog answers EAGAIN, not a hang. */
		int fd = socket(AF_UNIX, types[i] | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		int rc = connect(fd, (const struct sockaddr *)sun, len), e = errno;
		close(fd);
		if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
			return 1;
		if (e == ECONNREFUSED)
			return 0;
		if (e != EPROTOTYPE) {
			errno = e;
			return -1;
		}
	}
	return 0;
}

/* What is at gl's path may be replaced by a new socket: 0, or -1 with err set. */
static int unixsock_clear(const struct gen_listener *gl, char *err, size_t errlen)
{
	const struct listener_conf *lc = gl->conf;
	const char *path = lc->un.path;
	int line = lc->un.path_line;
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		UFAIL(err, errlen, lc, line, "cannot check socket path %s: %s", path,
		      strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		UFAIL(err, errlen, lc, line,
		      "%s exists and is not a socket (not removed); remove it or choose another "
		      "'path'",
		      path);
		return -1;
	}
	int live = unixsock_probe((const struct sockaddr_un *)&gl->addr, gl->addrlen);
	if (live != 0) {
		if (live > 0)
			UFAIL(
			    err, errlen, lc, line,
			    "%s is in use: a process is listening on it (another ksockd?); stop it "
			    "or choose another 'path'",
			    path);
		else
			UFAIL(err, errlen, lc, line, "cannot check whether %s is in use: %s", path,
			      strerror(errno));
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		UFAIL(err, errlen, lc, line, "cannot remove stale socket %s: %s", path,
		      strerror(errno));
		return -1;
	}
	log_notice("listener '%s': removed stale socket %s (nothing was listening on it)", lc->name,
	           path);
	return 0;
}

int unixsock_bind(const struct gen_listener *gl, char *err, size_t errlen)
{
	const struct listener_conf *lc = gl->conf;
	const struct unix_ids *u = gl->un;
	const char *path = lc->un.path;
	int line = lc->un.path_line;
	int type = lc->protocol == PROTO_UNIXGRAM ? SOCK_DGRAM : SOCK_STREAM;
	if (unixsock_clear(gl, err, errlen) < 0)
		return -1;
	int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		UFAIL(err, errlen, lc, line, "socket: %s", strerror(errno));
		return -1;
	}
	/* The file is created with exactly 'mode': no moment with wider permissions. */
	mode_t old = 0;
	if (lc->un.mode >= 0)
		old = umask((mode_t)(~lc->un.mode & 0777));
	int rc = bind(fd, (const struct sockaddr *)&gl->addr, gl->addrlen), e = errno;
	if (lc->un.mode >= 0)
		umask(old);
	if (rc < 0) {
		UFAIL(err, errlen, lc, line, "cannot bind %s %s: %s%s", proto_name(lc->protocol),
		      path, strerror(e),
		      e == ENOENT   ? "; create its directory first"
		      : e == EACCES ? "; the "
		                      "directory is not writable by the master"
		                    : "");
		close(fd);
		return -1;
	}
	if (u && u->chown && chown(path, u->owner, u->group) < 0) {
		UFAIL(err, errlen, lc, lc->un.cred_line, "cannot chown %s to %s:%s: %s", path,
		      lc->un.owner ? lc->un.owner : "-", lc->un.group ? lc->un.group : "-",
		      strerror(errno));
		goto fail;
	}
	if (type == SOCK_STREAM && listen(fd, lc->backlog) < 0) {
		UFAIL(err, errlen, lc, line, "listen on %s: %s", path, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	unlink(path);
	return -1;
}

int unixsock_reapply(const struct gen_listener *gl, char *err, size_t errlen)
{
	const struct listener_conf *lc = gl->conf;
	const struct unix_ids *u = gl->un;
	if (!u || !u->owned) /* a passed socket's file is the service manager's */
		return 0;
	if (lc->un.mode >= 0 && chmod(lc->un.path, (mode_t)lc->un.mode) < 0) {
		UFAIL(err, errlen, lc, lc->un.path_line, "cannot chmod %s to 0%03o: %s",
		      lc->un.path, (unsigned)lc->un.mode, strerror(errno));
		return -1;
	}
	if (u->chown && chown(lc->un.path, u->owner, u->group) < 0) {
		UFAIL(err, errlen, lc, lc->un.cred_line, "cannot chown %s: %s", lc->un.path,
		      strerror(errno));
		return -1;
	}
	return 0;
}

void unixsock_note_bound(struct gen_listener *gl)
{
	struct stat st;
	if (!gl->un || lstat(gl->conf->un.path, &st) < 0)
		return;
	gl->un->owned = true;
	gl->un->dev = st.st_dev;
	gl->un->ino = st.st_ino;
}

void unixsock_unlink(const struct gen_listener *gl)
{
	struct stat st;
	const struct unix_ids *u = gl->un;
	if (!u || !u->owned || lstat(gl->conf->un.path, &st) < 0)
		return;
	/* Someone else's file now (a new daemon's socket at the same path): leave it. */
	if (!S_ISSOCK(st.st_mode) || st.st_dev != u->dev || st.st_ino != u->ino)
		return;
	(void)unlink(gl->conf->un.path);
}

int unixsock_peer(int fd, struct sockaddr_cred *out)
{
	struct ucred uc;
	socklen_t len = sizeof uc;
	memset(out, 0, sizeof *out);
	out->family = AF_UNIX;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -1;
	out->cred.pid = uc.pid;
	out->cred.uid = uc.uid;
	out->cred.gid = uc.gid;
	return 0;
}

static bool unixsock_in(const uid_t *v, size_t n, uid_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == id)
			return true;
	return false;
}

bool unixsock_admit(const struct unix_ids *u, const struct peer_cred *cred)
{
	if (!u)
		return true;
	if (unixsock_in(u->deny_uid, u->n_deny_uid, cred->uid))
		return false;
	if (u->n_allow_uid == 0 && u->n_allow_gid == 0)
		return true;
	return unixsock_in(u->allow_uid, u->n_allow_uid, cred->uid) ||
	       unixsock_in(u->allow_gid, u->n_allow_gid, (uid_t)cred->gid);
}
