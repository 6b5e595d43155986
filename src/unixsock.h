/*
 * unixsock.h: unix-domain listeners: the socket file and who may use it.
 *
 * The master binds a unix listener's path (unixsock_bind), after checking
 * what is already there:
 *
 *   nothing ---------------------------------------------> bind
 *   a socket nobody listens on (connect: ECONNREFUSED) --> unlink, bind
 *   a socket something listens on (connect succeeds) ----> error, left alone
 *   anything else (file, directory, symlink...) ---------> error, never removed
 *
 * then applies mode (through the umask, so the file never has wider bits),
 * owner and group. The file is removed (unixsock_unlink) when its socket is
 * retired (stop, or a reload that drops the listener) and only if it is
 * still the file this daemon created (same device and inode): a kept socket
 * keeps its file, a socket passed by the service manager is the manager's.
 *
 * Peers are known by SO_PEERCRED (streams, at accept) or SCM_CREDENTIALS
 * (datagrams): allow_uid / allow_gid / deny_uid decide (unixsock_admit),
 * names resolved when the generation is prepared (unixsock_prepare).
 */
#ifndef KSOCKD_UNIXSOCK_H
#define KSOCKD_UNIXSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "addr.h"

struct gen_listener;
struct listener_conf;

/* A unix listener's resolved ids and its socket file (one per listener per generation). */
struct unix_ids {
	bool chown;         /* owner or group set: chown the file */
	uid_t owner;        /* owner of the file ((uid_t)-1: unchanged) */
	gid_t group;        /* group of the file ((gid_t)-1: unchanged) */
	uid_t *allow_uid;   /* peers admitted by uid */
	size_t n_allow_uid; /* entries in allow_uid */
	gid_t *allow_gid;   /* peers admitted by gid */
	size_t n_allow_gid; /* entries in allow_gid */
	uid_t *deny_uid;    /* peers refused by uid (before any allow) */
	size_t n_deny_uid;  /* entries in deny_uid */
	bool owned;         /* this daemon created the file below: remove it when retired */
	dev_t dev;          /* the file's device, when owned */
	ino_t ino;          /* the file's inode, when owned */
};

/* Resolves gl's owner, group and id lists into gl->un and sets gl->addr. 0, or -1 with why. */
int unixsock_prepare(struct gen_listener *gl, char *why, size_t len);
void unixsock_free(struct unix_ids *u);
/* Master: checks the path (diagram), binds, applies mode/owner/group, listens. fd or -1. */
int unixsock_bind(const struct gen_listener *gl, char *err, size_t errlen);
/* Master: gl's fd was just bound by unixsock_bind: remember the file as ours. */
void unixsock_note_bound(struct gen_listener *gl);
/* Master: gl kept the previous generation's socket: gives its file the (new) mode, owner
   and group. 0, or -1 with err set (the reload is refused). */
int unixsock_reapply(const struct gen_listener *gl, char *err, size_t errlen);
/* Master: gl's socket is being closed for good: remove its file if still ours. */
void unixsock_unlink(const struct gen_listener *gl);
/* The peer of an accepted unix stream socket as a struct sockaddr_cred. 0, or -1 (errno). */
int unixsock_peer(int fd, struct sockaddr_cred *out);
/* True if u (NULL: no rules) admits cred. */
bool unixsock_admit(const struct unix_ids *u, const struct peer_cred *cred);

#endif
