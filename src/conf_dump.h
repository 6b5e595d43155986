/*
 * conf_dump.h: "ksockd -T": prints a loaded conf back as a libconfig file
 * with every default filled in (see conf_dump.c).
 */
#ifndef KSOCKD_CONF_DUMP_H
#define KSOCKD_CONF_DUMP_H

#include <stdio.h>

struct conf;

void conf_dump(const struct conf *conf, FILE *out);

#endif
