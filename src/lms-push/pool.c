/*
 * pool.c - lms-push's run state: each change's result, the job pool's
 * run, and what the backends (moodle.c, canvas.c) ask of the options.
 * See pool.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

/* A result message: formatted, then masked (a server's text may quote
 * the request, token and all). */
static char *
vmasked(const char *fmt, va_list ap)
{
	char *t, *m;

	if (vasprintf(&t, fmt, ap) < 0)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	m = ep_mask_secrets(t);
	free(t);
	return m;
}

void
change_ok(struct change *c, const char *fmt, ...)
{
	va_list ap;

	if (c->done)
		return;
	c->done = c->ok = true;
	free(c->msg);
	c->msg = NULL;
	if (fmt != NULL) {
		va_start(ap, fmt);
		c->msg = vmasked(fmt, ap);
		va_end(ap);
	}
}

void
change_failf(struct change *c, const char *fmt, ...)
{
	va_list ap;

	if (c->done)
		return;
	c->done = true;
	c->ok = false;
	free(c->msg);
	va_start(ap, fmt);
	c->msg = vmasked(fmt, ap);
	va_end(ap);
}

int
change_fail(struct push *p, struct change *c, const struct ep_error *e)
{
	bool stop = e->code == EP_EXIT_NOPERM || e->code == EP_EXIT_SOFTWARE;

	if (stop) {
		/* The whole run is refused: leave c to "not attempted". */
		if (p->fatal.code == 0)
			p->fatal = *e;
		return -1;
	}
	if (c != NULL && !c->done) {
		change_failf(c, "%s", e->msg);
		c->unreachable = e->code == EP_EXIT_TEMPFAIL;
	}
	return 0;
}

long long
opt_role_id(const struct opts *o, const char *name)
{
	for (size_t i = 0; name != NULL && i < o->nroles; i++)
		if (strcmp(o->roles[i].name, name) == 0)
			return o->roles[i].id;
	return 0;
}

bool
outcome_unknown(const struct ep_http_req *r)
{
	/*
	 * http.c retries a write only when the server cannot have acted
	 * (refused connection, 429, 503), and gives 75 when those run out.
	 * A transport failure after that (69 with no status: a dropped
	 * connection, a timeout) or a 5xx other than 503 may have come
	 * after the server did the work.
	 */
	if (r->err.code == EP_EXIT_UNAVAILABLE && r->status == 0)
		return true;
	return r->err.code == 0 && r->status >= 500 && r->status != 503 &&
	    r->status != 501 && r->status != 505;
}

void
run_pool(struct push *p)
{
	struct ep_error err = { 0, "" };

	if (ep_http_run(p->http, &err) < 0 && p->fatal.code == 0 &&
	    err.code != 0)
		p->fatal = err;
}

void
push_finish(struct push *p, bool *failed, bool *unreachable)
{
	*failed = *unreachable = false;
	for (size_t i = 0; i < p->n; i++) {
		struct change *c = &p->ch[i];

		if (!c->done) {
			struct ep_error e;

			if (p->fatal.code == 0)
				ep_error_set(&p->fatal, EP_EXIT_SOFTWARE,
				    "internal error: change %zu never "
				    "finished", i + 1);
			ep_error_set(&e, 1, "not attempted: %s",
			    p->fatal.msg);
			c->done = true;
			c->msg = ep_xstrdup(e.msg);
		}
		*failed |= !c->ok;
		*unreachable |= c->unreachable;
	}
}

void
push_free(struct push *p)
{
	ep_http_free(p->http);
	for (size_t i = 0; i < p->n; i++) {
		ep_rec_free(p->ch[i].rec);
		free(p->ch[i].msg);
	}
	free(p->ch);
	free(p->base);
	free(p->token);
}
