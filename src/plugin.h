/*
 * plugin.h: loading handler plug-ins (shared objects built against
 * <ksockd/handler.h>) and finding their handlers by name.
 *
 * Plug-ins are loaded by the master while it reads the config, before it
 * forks workers and drops privileges, so they are trusted code: a file is
 * refused unless it and every directory above it are owned by root (or the
 * user running ksockd) and writable by no one else (a world-writable
 * directory is accepted only with the sticky bit, as /tmp has, since then no
 * one else can rename or replace what it holds).
 *
 * A plug-in stays loaded for the life of the process (workers of an older
 * generation may still run its code). Loading a file that is already loaded
 * (same device and inode) does nothing; a rebuilt file at the same path (new
 * inode) is loaded again and its handlers replace the old ones for the
 * configurations read from then on.
 *
 * The registry is process-global on purpose: dlopen's handles are.
 */
#ifndef KSOCKD_PLUGIN_H
#define KSOCKD_PLUGIN_H

#include <stddef.h>

struct handler;

/*
 * Loads path and registers its handlers. Returns 0, or -1 with err set to
 * the reason and what to do (the caller adds FILE:LINE).
 */
int plugin_load(const char *path, char *err, size_t errlen);
/* The plug-in handler called name, NULL if none. */
const struct handler *plugin_find(const char *name);
/* Appends ", name" for each plug-in handler to buf (for error messages). */
void plugin_names(char *buf, size_t len);
/*
 * Whether path and the directories above it are safe to load code from;
 * returns 0, or -1 with err set.
 */
int plugin_check_path(const char *path, char *err, size_t errlen);

#endif
