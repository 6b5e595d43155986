/*
 * master.h: the prefork master: binds listeners, forks and supervises worker
 * generations, reloads on SIGHUP, stops on SIGTERM/SIGINT (gracefully) and
 * SIGQUIT (at once).
 */
#ifndef KSOCKD_MASTER_H
#define KSOCKD_MASTER_H

#include <stdbool.h>

#include "conf.h"

/* Runs the master on an already loaded conf (ownership passes). Returns the exit status. */
int master_run(const char *conf_path, struct conf *conf, bool foreground);

#endif
