/*
 * shared.c: creates and removes the master/worker shared page (shared.h).
 */
#include "config.h"

#include <stddef.h>
#include <sys/mman.h>

#include "shared.h"

struct shared *shared_create(void)
{
	void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void shared_destroy(struct shared *sh)
{
	if (sh)
		munmap(sh, sizeof *sh);
}
