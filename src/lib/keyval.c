/*
 * keyval.c - refuse values that cannot be keys (see keyval.h).
 */
#include <string.h>

#include "keyval.h"

const char *
ep_key_value_why(const struct ep_field *f)
{
	size_t i;

	if (f == NULL)
		return NULL;
	switch (f->type) {
	case EP_T_NULL:
	case EP_T_STR:
		return NULL;
	case EP_T_BOOL:
		return "true or false";
	case EP_T_NUM:
		/* JSON already rules out leading zeros and a lone '-'. */
		i = f->vlen > 0 && f->val[0] == '-';
		if (i == f->vlen)
			return "a number that is not an integer";
		for (; i < f->vlen; i++)
			if (f->val[i] < '0' || f->val[i] > '9')
				return "a number that is not an integer";
		return NULL;
	case EP_T_RAW:
		return f->vlen > 0 && f->val[0] == '{' ? "an object" :
		    "an array";
	}
	return "not a string";
}

const struct ep_field *
ep_rec_key_check(const struct ep_rec *r, const char *const *names,
    const char **why)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct ep_field *f = &r->f[i];

		if (f->type == EP_T_STR || f->type == EP_T_NULL)
			continue;
		for (const char *const *n = names; *n; n++)
			if (strcmp(f->name, *n) == 0 &&
			    (*why = ep_key_value_why(f)) != NULL)
				return f;
	}
	return NULL;
}
