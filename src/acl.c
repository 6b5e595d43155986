/*
 * acl.c: decides whether a peer may be served (see acl.h for the order);
 * prefixes are parsed and matched by prefix.c. Owns the rule array of a struct acl; acl_free() is
 * the one place it is released.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

int acl_add(struct acl *acl, const char *cidr, bool allow, char *err, size_t errlen)
{
	struct acl_rule r = {.allow = allow};
	if (prefix_parse(cidr, &r.p, err, errlen) < 0)
		return -1;
	struct acl_rule *rules = realloc(acl->rules, (acl->n + 1) * sizeof *rules);
	if (!rules) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	acl->rules = rules;
	acl->rules[acl->n++] = r;
	acl->has_allow |= allow;
	return 0;
}

bool acl_check(const struct acl *acl, const struct sockaddr *peer)
{
	if (acl->n == 0)
		return true;
	int best = -1;
	bool verdict = !acl->has_allow;
	for (size_t i = 0; i < acl->n; i++) {
		const struct acl_rule *r = &acl->rules[i];
		if (!prefix_match(&r->p, peer))
			continue;
		if (r->p.len > best || (r->p.len == best && !r->allow)) {
			best = r->p.len;
			verdict = r->allow;
		}
	}
	return verdict;
}

void acl_free(struct acl *acl)
{
	free(acl->rules);
	*acl = (struct acl){0};
}
