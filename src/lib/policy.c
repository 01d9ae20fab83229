/*
 * policy.c - drop policy names (see policy.h).
 */
#include <stddef.h>
#include <string.h>

#include "policy.h"

static const char *const names[] = { "unenrol", "suspend", "conclude",
    "keep" };

static const struct {
	const char *word;
	enum ep_drop_policy p;
} words[] = {
	{ "unenrol", EP_DROP_UNENROL }, { "suspend", EP_DROP_SUSPEND },
	{ "conclude", EP_DROP_CONCLUDE }, { "keep", EP_DROP_KEEP },
	/* Canvas: the DELETE task, and the enrollment state it leaves. */
	{ "delete", EP_DROP_UNENROL }, { "deleted", EP_DROP_UNENROL },
	{ "inactivate", EP_DROP_SUSPEND }, { "inactive", EP_DROP_SUSPEND },
	{ "completed", EP_DROP_CONCLUDE },
};

enum ep_drop_policy
ep_drop_policy_parse(const char *s)
{
	for (size_t i = 0; s != NULL && i < sizeof(words) / sizeof(words[0]);
	    i++)
		if (strcmp(s, words[i].word) == 0)
			return words[i].p;
	return EP_DROP_BAD;
}

const char *
ep_drop_policy_name(enum ep_drop_policy p)
{
	return p >= EP_DROP_UNENROL && p <= EP_DROP_KEEP ? names[p] : "";
}
