/*
 * shared.h: the page the master shares with all its workers (every
 * generation): an anonymous MAP_SHARED mapping created before the first fork,
 * so a store by the master is seen by every worker without a signal.
 * Workers only read it.
 */
#ifndef KSOCKD_SHARED_H
#define KSOCKD_SHARED_H

struct shared {
	volatile int draining; /* non-zero: stop requested, health answers "draining" */
};

/* Maps the page (zeroed); NULL with errno set on failure. */
struct shared *shared_create(void);
void shared_destroy(struct shared *sh);

#endif
