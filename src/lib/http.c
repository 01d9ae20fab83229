/*
 * http.c - the request pool of http.h over libcurl multi.
 *
 * The loop in ep_http_run: move delayed requests whose time has come into
 * the queue (ordered by prio), start queued requests while fewer than the
 * current limit run and the pool is not paused, let curl work, hand each
 * finished transfer to finish(), which either schedules a retry or runs the
 * callback, then sleep in curl_multi_poll until a socket or the next timer.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "http.h"
#include "secret.h"

struct ep_http {
	struct ep_http_opts o;
	CURLM *multi;
	struct ep_http_req *queue;	/* by prio, then submit order */
	struct ep_http_req *waiting;	/* delayed: unordered */
	struct ep_http_req *active;	/* in flight */
	int running;
	int limit;			/* concurrency now, 1..o.jobs */
	long long hold_until;		/* no new starts before this */
	long seq;
	bool stop;
	unsigned int rnd;
	struct ep_http_stats st;
	char *auth_header;
	char *extra_header;		/* our copy of o.auth_header */
};

static void queue_insert(struct ep_http *h, struct ep_http_req *r);
static void active_remove(struct ep_http *h, struct ep_http_req *r);

long long
ep_http_now_ms(void)
{
	return ep_now_ms();
}

void
ep_http_opts_default(struct ep_http_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->jobs = 8;
	o->retries = 5;
	o->retry_base_ms = 1000;
	o->retry_max_ms = 60000;
	o->retry_after_max_ms = 600000;
	o->timeout_ms = 300000;
	o->connect_timeout_ms = 30000;
	o->low_remaining = 100;
	o->max_reply = (size_t)64 << 20;
}

struct ep_http *
ep_http_new(const struct ep_http_opts *o, struct ep_error *err)
{
	static bool global_done;
	struct ep_http *h;

	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			ep_error_set(err, EP_EXIT_SOFTWARE,
			    "cannot initialise libcurl");
			return NULL;
		}
		global_done = true;
	}
	h = ep_xcalloc(1, sizeof(*h));
	h->o = *o;
	if (o->auth_header != NULL)
		h->o.auth_header = h->extra_header =
		    ep_xstrdup(o->auth_header);
	if (h->o.jobs < 1)
		h->o.jobs = 1;
	h->limit = h->o.jobs;
	h->st.limit = h->limit;
	h->rnd = (unsigned int)ep_http_now_ms() ^ 0x9e3779b9u;
	h->multi = curl_multi_init();
	if (h->multi == NULL) {
		free(h->extra_header);
		free(h);
		ep_error_set(err, EP_EXIT_SOFTWARE,
		    "cannot initialise libcurl");
		return NULL;
	}
	/* Connections stay open between requests; HTTP/2 multiplexes. */
	curl_multi_setopt(h->multi, CURLMOPT_PIPELINING,
	    (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)h->o.jobs + 4);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    (long)h->o.jobs);
	if (o->bearer != NULL)
		h->auth_header = ep_xasprintf("Authorization: Bearer %s",
		    o->bearer);
	return h;
}

static void
req_reset_reply(struct ep_http_req *r)
{
	free(r->resp);
	free(r->next_url);
	free(r->content_type);
	r->resp = NULL;
	r->resp_len = 0;
	r->next_url = NULL;
	r->content_type = NULL;
	r->status = 0;
}

static void
req_drop_easy(struct ep_http *h, struct ep_http_req *r)
{
	if (r->easy_ != NULL) {
		if (h != NULL)
			curl_multi_remove_handle(h->multi, r->easy_);
		curl_easy_cleanup(r->easy_);
		r->easy_ = NULL;
	}
	curl_slist_free_all(r->hlist_);
	r->hlist_ = NULL;
}

struct ep_http_req *
ep_http_req_new(const char *method, const char *url)
{
	struct ep_http_req *r = ep_xcalloc(1, sizeof(*r));

	r->method = ep_xstrdup(method);
	r->url = ep_xstrdup(url);
	r->idempotent = strcmp(method, "POST") != 0;
	r->auth = true;
	r->prio = -1;
	return r;
}

void
ep_http_req_free(struct ep_http_req *r)
{
	if (r == NULL)
		return;
	req_drop_easy(NULL, r);
	req_reset_reply(r);
	for (size_t i = 0; i < r->nheaders; i++)
		free(r->headers[i]);
	free(r->headers);
	free(r->method);
	free(r->url);
	free(r->body);
	free(r);
}

static void
append_encoded(char **buf, size_t *len, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *o;

	*buf = ep_xrealloc(*buf, *len + 3 * n + 1);
	o = *buf + *len;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	*len = (size_t)(o - *buf);
}

void
ep_http_req_form(struct ep_http_req *r, const char *name, const char *value)
{
	if (r->body != NULL) {
		r->body = ep_xrealloc(r->body, r->body_len + 2);
		r->body[r->body_len++] = '&';
		r->body[r->body_len] = '\0';
	}
	append_encoded(&r->body, &r->body_len, name);
	r->body = ep_xrealloc(r->body, r->body_len + 2);
	r->body[r->body_len++] = '=';
	r->body[r->body_len] = '\0';
	append_encoded(&r->body, &r->body_len, value);
}

void
ep_http_req_header(struct ep_http_req *r, const char *line)
{
	r->headers = ep_xrealloc(r->headers,
	    (r->nheaders + 1) * sizeof(*r->headers));
	r->headers[r->nheaders++] = ep_xstrdup(line);
}

void
ep_http_submit_after(struct ep_http *h, struct ep_http_req *r,
    long delay_ms, ep_http_done_fn fn, void *arg)
{
	r->fn_ = fn;
	r->fn_arg_ = arg;
	if (r->prio < 0)
		r->prio = h->seq;
	h->seq++;
	if (delay_ms > 0) {
		r->ready_at_ = ep_http_now_ms() + delay_ms;
		r->next_ = h->waiting;
		h->waiting = r;
	} else {
		queue_insert(h, r);
	}
}

void
ep_http_submit(struct ep_http *h, struct ep_http_req *r, ep_http_done_fn fn,
    void *arg)
{
	ep_http_submit_after(h, r, 0, fn, arg);
}

static void
queue_insert(struct ep_http *h, struct ep_http_req *r)
{
	struct ep_http_req **pp = &h->queue;

	while (*pp != NULL && (*pp)->prio <= r->prio)
		pp = &(*pp)->next_;
	r->next_ = *pp;
	*pp = r;
}

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct ep_http_req *r = arg;
	size_t len = size * n;

	/* Counted after libcurl undid any Content-Encoding: a small gzip
	 * bomb is stopped as early as a large body. */
	if (len > r->limit_ || r->resp_len > r->limit_ - len) {
		r->too_big_ = true;
		return 0;	/* libcurl aborts the transfer */
	}
	r->resp = ep_xrealloc(r->resp, r->resp_len + len + 1);
	memcpy(r->resp + r->resp_len, p, len);
	r->resp_len += len;
	r->resp[r->resp_len] = '\0';
	return len;
}

bool
ep_http_same_origin(const char *a, const char *b)
{
	const char *ea = strstr(a, "://"), *eb = strstr(b, "://");
	size_t na, nb;

	if (ea == NULL || eb == NULL)
		return false;
	na = (size_t)(ea + 3 - a) + strcspn(ea + 3, "/?#");
	nb = (size_t)(eb + 3 - b) + strcspn(eb + 3, "/?#");
	return na == nb && strncasecmp(a, b, na) == 0;
}

static int
start(struct ep_http *h, struct ep_http_req *r, struct ep_error *err)
{
	CURL *e = curl_easy_init();
	struct curl_slist *hl = NULL;
	bool https = strncasecmp(r->url, "https:", 6) == 0;

	if (e == NULL) {
		ep_error_set(err, EP_EXIT_SOFTWARE, "cannot create a transfer");
		return -1;
	}
	req_reset_reply(r);
	r->errbuf_[0] = '\0';
	r->limit_ = h->o.max_reply;
	r->too_big_ = false;
	/* A declared Content-Length over the limit stops before the body. */
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)h->o.max_reply);
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf_);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	/* Never let a redirect downgrade https to http. */
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR,
	    https ? "https" : "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, r->follow ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->o.cacert != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, h->o.cacert);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_2TLS);
	if (https)
		curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->o.timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    h->o.connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_USERAGENT, h->o.user_agent ?
	    h->o.user_agent : "edpipe/" EP_VERSION);
	if (strcmp(r->method, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(r->method, "POST") == 0) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
	} else {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	}
	/*
	 * libcurl silently sends a request again when a reused connection
	 * dies before any reply byte: a write could then happen twice.  A
	 * non-idempotent request gets a connection of its own.
	 */
	if (!r->idempotent)
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	if (r->body != NULL || strcmp(r->method, "POST") == 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE,
		    (long)r->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS,
		    r->body ? r->body : "");
	}
	/* The token goes only to the host it was issued for. */
	if (h->o.oauth != NULL && r->auth) {
		const char *tok = ep_oauth_token(h->o.oauth, &r->auth_gen_,
		    err);
		char *line;

		if (tok == NULL) {
			curl_easy_cleanup(e);
			return -1;
		}
		line = ep_xasprintf("Authorization: Bearer %s", tok);
		hl = curl_slist_append(hl, line);
		explicit_bzero(line, strlen(line));
		free(line);
	} else if (h->auth_header != NULL && r->auth) {
		hl = curl_slist_append(hl, h->auth_header);
	}
	if (h->o.auth_header != NULL && r->auth)
		hl = curl_slist_append(hl, h->o.auth_header);
	for (size_t i = 0; i < r->nheaders; i++)
		hl = curl_slist_append(hl, r->headers[i]);
	if (hl != NULL)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
	r->easy_ = e;
	r->hlist_ = hl;
	r->attempts++;
	h->st.attempts++;
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		req_drop_easy(NULL, r);
		ep_error_set(err, EP_EXIT_SOFTWARE, "cannot start a transfer");
		return -1;
	}
	h->running++;
	r->next_ = h->active;
	h->active = r;
	return 0;
}

/* The value of header name in the last response, or NULL.  Borrowed. */
static const char *
header(CURL *e, const char *name, size_t index)
{
	struct curl_header *hd;

	if (curl_easy_header(e, name, index, CURLH_HEADER, -1, &hd) !=
	    CURLHE_OK)
		return NULL;
	return hd->value;
}

static bool
rel_has_next(const char *p, size_t n)
{
	/* p..n is one link's parameter list: look for rel containing next. */
	const char *end = p + n;

	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *pe = semi ? semi : end;

		while (p < pe && isspace((unsigned char)*p))
			p++;
		if (pe - p > 4 && strncasecmp(p, "rel", 3) == 0) {
			const char *v = p + 3;

			while (v < pe && isspace((unsigned char)*v))
				v++;
			if (v < pe && *v == '=') {
				v++;
				while (v < pe) {
					size_t k;

					while (v < pe && (isspace(
					    (unsigned char)*v) || *v == '"'))
						v++;
					k = 0;
					while (v + k < pe && !isspace(
					    (unsigned char)v[k]) && v[k] != '"')
						k++;
					if (k == 4 && strncasecmp(v, "next", 4)
					    == 0)
						return true;
					v += k;
				}
			}
		}
		p = semi ? semi + 1 : end;
	}
	return false;
}

char *
ep_http_link_next(const char *v, const char *base)
{
	const char *p = v;

	while ((p = strchr(p, '<')) != NULL) {
		const char *gt = strchr(p, '>');
		const char *q;
		bool inq = false;

		if (gt == NULL)
			return NULL;
		for (q = gt + 1; *q && (inq || *q != ','); q++)
			if (*q == '"')
				inq = !inq;
		if (rel_has_next(gt + 1, (size_t)(q - gt - 1))) {
			char *u = ep_xstrndup(p + 1, (size_t)(gt - p - 1));
			CURLU *cu = curl_url();
			char *abs = NULL;

			if (cu != NULL &&
			    curl_url_set(cu, CURLUPART_URL, base, 0) ==
			    CURLUE_OK &&
			    curl_url_set(cu, CURLUPART_URL, u, 0) ==
			    CURLUE_OK &&
			    curl_url_get(cu, CURLUPART_URL, &abs, 0) ==
			    CURLUE_OK) {
				free(u);
				u = ep_xstrdup(abs);
				curl_free(abs);
			}
			curl_url_cleanup(cu);
			return u;
		}
		p = *q ? q + 1 : q;
	}
	return NULL;
}

static bool
throttled(const struct ep_http_req *r)
{
	if (r->status == 429)
		return true;
	return r->status == 403 && r->resp != NULL &&
	    strcasestr(r->resp, "rate limit exceeded") != NULL;
}

static bool
retry_curl_code(CURLcode c, bool idempotent)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
		return true;
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_BAD_CONTENT_ENCODING:
		return idempotent;
	default:
		return false;
	}
}

static long
backoff_ms(struct ep_http *h, int attempt)
{
	long d = h->o.retry_base_ms;
	long half;

	for (int i = 1; i < attempt && d < h->o.retry_max_ms; i++)
		d *= 2;
	if (d > h->o.retry_max_ms)
		d = h->o.retry_max_ms;
	half = d / 2;
	h->rnd = h->rnd * 1103515245u + 12345u;
	return half + (half > 0 ? (long)((h->rnd >> 8) % (unsigned)(half + 1))
	    : 0);
}

static char *
masked(const char *url)
{
	char *m = ep_url_mask(url), *s = ep_mask_secrets(m);

	free(m);
	return s;
}

static void
fail_msg(struct ep_http_req *r, int code, const char *why)
{
	char *u = masked(r->url);

	ep_error_set(&r->err, code, "%s %s: %s", r->method, u, why);
	free(u);
}

/* n bytes as "64M", "1536K" or "1000": in the unit --max-reply took. */
static void
size_text(char *buf, size_t size, size_t n)
{
	if (n >= (1u << 30) && n % (1u << 30) == 0)
		snprintf(buf, size, "%zuG", n >> 30);
	else if (n >= (1u << 20) && n % (1u << 20) == 0)
		snprintf(buf, size, "%zuM", n >> 20);
	else if (n >= 1024 && n % 1024 == 0)
		snprintf(buf, size, "%zuK", n >> 10);
	else
		snprintf(buf, size, "%zu bytes", n);
}

/* A finished transfer: retry it, or run its callback. */
static int
finish(struct ep_http *h, struct ep_http_req *r, CURLcode res)
{
	CURL *e = r->easy_;
	bool retry = false, thr = false;
	long long now = ep_http_now_ms();
	curl_off_t ra = 0;
	char why[512];
	long delay;

	r->err.code = 0;
	r->err.msg[0] = '\0';
	if (res == CURLE_OK) {
		const char *v;
		char *ct = NULL;

		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
		h->st.bytes += r->resp_len;
		if (curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct) ==
		    CURLE_OK && ct != NULL)
			r->content_type = ep_xstrdup(ct);
		for (size_t i = 0; !r->next_url &&
		    (v = header(e, "Link", i)) != NULL; i++)
			r->next_url = ep_http_link_next(v, r->url);
		v = header(e, "X-Rate-Limit-Remaining", 0);
		if (v != NULL) {
			double rem = strtod(v, NULL);

			if (rem < h->o.low_remaining) {
				/* Nearly out of quota: one at a time, and
				 * longer pauses the closer to empty. */
				long p = (long)((double)h->o.retry_base_ms *
				    (1.0 - rem / h->o.low_remaining));

				if (h->limit > 1)
					ep_info(1, "X-Rate-Limit-Remaining is "
					    "%.1f: slowing down to one request "
					    "at a time", rem);
				h->limit = 1;
				if (h->hold_until < now + p)
					h->hold_until = now + p;
			} else if (h->limit < h->o.jobs &&
			    r->status < 300) {
				h->limit++;
			}
		} else if (r->status < 300 && h->limit < h->o.jobs) {
			h->limit++;
		}
		thr = throttled(r);
		v = header(e, "X-RateLimit-Type", 0);
		if (thr && v != NULL && strncasecmp(v, "Daily-limit", 11) == 0) {
			/* Zoom: the day's quota is spent; retrying before
			 * it resets only spends the next one. */
			h->st.throttled++;
			thr = false;
			snprintf(why, sizeof(why), "HTTP %ld: the daily rate "
			    "limit is spent (X-RateLimit-Type: Daily-limit)",
			    r->status);
			fail_msg(r, EP_EXIT_TEMPFAIL, why);
		} else if (thr) {
			h->st.throttled++;
			retry = true;
			snprintf(why, sizeof(why), "HTTP %ld (throttled)",
			    r->status);
		} else if (r->status >= 500 && r->status != 501 &&
		    r->status != 505) {
			retry = r->idempotent || r->status == 503;
			snprintf(why, sizeof(why), "HTTP %ld", r->status);
		}
		curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &ra);
	} else if (r->too_big_ || res == CURLE_FILESIZE_EXCEEDED) {
		char sz[32];

		/* Not retried: the same reply would come again. */
		size_text(sz, sizeof(sz), h->o.max_reply);
		snprintf(why, sizeof(why), "the reply is larger than %s "
		    "(--max-reply)", sz);
		fail_msg(r, EP_EXIT_UNAVAILABLE, why);
		free(r->resp);
		r->resp = NULL;
		r->resp_len = 0;
	} else {
		const char *s = r->errbuf_[0] ? r->errbuf_ :
		    curl_easy_strerror(res);

		snprintf(why, sizeof(why), "%s", s);
		why[strcspn(why, "\n")] = '\0';
		retry = retry_curl_code(res, r->idempotent);
		if (!retry)
			fail_msg(r, EP_EXIT_UNAVAILABLE, why);
	}
	req_drop_easy(h, r);
	active_remove(h, r);
	h->running--;
	if (res == CURLE_OK && r->status == 401 && r->auth &&
	    h->o.oauth != NULL && !r->reauth_) {
		/* The token ran out early (or was revoked): one new token
		 * and one more try, not counted as a retry.  Nothing was
		 * done with a refused request, so a POST may go again. */
		char *u = masked(r->url);

		ep_info(1, "%s %s: HTTP 401: fetching a new token", r->method,
		    u);
		free(u);
		ep_oauth_expire(h->o.oauth, r->auth_gen_);
		r->reauth_ = true;
		r->ready_at_ = now;
		r->next_ = h->waiting;
		h->waiting = r;
		return 0;
	}
	if (retry && r->attempts > h->o.retries) {
		char m[600];

		snprintf(m, sizeof(m), "%s after %d attempts", why,
		    r->attempts);
		fail_msg(r, EP_EXIT_TEMPFAIL, m);
		retry = false;
	}
	if (retry && ra > 0 && ra * 1000 > h->o.retry_after_max_ms) {
		char m[600];

		snprintf(m, sizeof(m), "%s: the server asks to retry after "
		    "%lld s", why, (long long)ra);
		fail_msg(r, EP_EXIT_TEMPFAIL, m);
		retry = false;
	}
	if (retry) {
		delay = backoff_ms(h, r->attempts);
		if (ra > 0 && delay < (long)ra * 1000)
			delay = (long)ra * 1000;
		if (thr) {
			/* The quota belongs to the token: everyone waits. */
			if (h->hold_until < now + delay)
				h->hold_until = now + delay;
			h->limit = h->limit > 1 ? h->limit / 2 : 1;
		}
		h->st.retries++;
		{
			char *u = masked(r->url);

			ep_info(1, "%s %s: %s; retry %d of %d in %ld ms",
			    r->method, u, why, r->attempts, h->o.retries,
			    delay);
			free(u);
		}
		r->ready_at_ = now + delay;
		r->next_ = h->waiting;
		h->waiting = r;
		return 0;
	}
	h->st.done++;
	{
		int rc = r->fn_(h, r, r->fn_arg_);

		ep_http_req_free(r);
		return rc;
	}
}

/* Free a request whose callback will never run, and its callback arg. */
static void
drop(struct ep_http_req *r)
{
	if (r->arg_free != NULL && r->fn_arg_ != NULL)
		r->arg_free(r->fn_arg_);
	ep_http_req_free(r);
}

static void
free_list(struct ep_http_req *r)
{
	while (r != NULL) {
		struct ep_http_req *n = r->next_;

		drop(r);
		r = n;
	}
}

/* Abandon everything in flight and queued. */
static void
abandon(struct ep_http *h)
{
	struct ep_http_req *r;

	while ((r = h->active) != NULL) {
		h->active = r->next_;
		req_drop_easy(h, r);
		drop(r);
	}
	h->running = 0;
	free_list(h->queue);
	free_list(h->waiting);
	h->queue = h->waiting = NULL;
}

static void
active_remove(struct ep_http *h, struct ep_http_req *r)
{
	struct ep_http_req **pp = &h->active;

	while (*pp != NULL && *pp != r)
		pp = &(*pp)->next_;
	if (*pp == r)
		*pp = r->next_;
	r->next_ = NULL;
}

int
ep_http_run(struct ep_http *h, struct ep_error *err)
{
	while (h->running > 0 || h->queue != NULL || h->waiting != NULL) {
		long long now = ep_http_now_ms(), wake = now + 1000;
		struct ep_http_req **pp = &h->waiting;
		int still, left;
		CURLMsg *m;
		CURLMcode mc;

		while (*pp != NULL) {
			struct ep_http_req *r = *pp;

			if (r->ready_at_ <= now) {
				*pp = r->next_;
				queue_insert(h, r);
			} else {
				if (r->ready_at_ < wake)
					wake = r->ready_at_;
				pp = &r->next_;
			}
		}
		while (h->queue != NULL && h->running < h->limit &&
		    now >= h->hold_until) {
			struct ep_http_req *r = h->queue;

			h->queue = r->next_;
			r->next_ = NULL;
			if (start(h, r, err) < 0) {
				drop(r);
				abandon(h);
				return -1;
			}
		}
		if (h->queue != NULL && h->hold_until > now &&
		    h->hold_until < wake)
			wake = h->hold_until;
		mc = curl_multi_perform(h->multi, &still);
		if (mc != CURLM_OK) {
			ep_error_set(err, EP_EXIT_SOFTWARE, "libcurl: %s",
			    curl_multi_strerror(mc));
			abandon(h);
			return -1;
		}
		while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
			struct ep_http_req *r = NULL;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
			    &r);
			if (finish(h, r, m->data.result) < 0) {
				abandon(h);
				return -1;
			}
		}
		h->st.limit = h->limit;
		if (h->queue != NULL && h->running < h->limit &&
		    ep_http_now_ms() >= h->hold_until)
			continue;
		if (h->running == 0 && h->queue == NULL && h->waiting == NULL)
			break;
		/* Retries queued by the callbacks above wake us too. */
		for (struct ep_http_req *w = h->waiting; w; w = w->next_)
			if (w->ready_at_ < wake)
				wake = w->ready_at_;
		now = ep_http_now_ms();
		if (wake > now) {
			mc = curl_multi_poll(h->multi, NULL, 0,
			    (int)(wake - now), NULL);
			if (mc != CURLM_OK) {
				ep_error_set(err, EP_EXIT_SOFTWARE,
				    "libcurl: %s", curl_multi_strerror(mc));
				abandon(h);
				return -1;
			}
		}
	}
	return 0;
}

void
ep_http_free(struct ep_http *h)
{
	if (h == NULL)
		return;
	abandon(h);
	curl_multi_cleanup(h->multi);
	free(h->auth_header);
	free(h->extra_header);
	ep_oauth_free(h->o.oauth);
	free(h);
}

/*
 * The first line of a reply for messages: masked before it is cut to 200
 * bytes (ep_mask_excerpt), so a secret the server echoes back shows
 * neither whole nor in part.  Only the first 64 KiB are looked at; what
 * lies beyond cannot reach the 200 bytes kept.  Malloc'd.
 */
static char *
excerpt(const struct ep_http_req *r)
{
	size_t n = 0;

	if (r->resp == NULL)
		return ep_xstrdup("");
	while (n < r->resp_len && n < 65536 && r->resp[n] != '\n' &&
	    r->resp[n] != '\r' && r->resp[n] != '\0')
		n++;
	return ep_mask_excerpt(r->resp, n, 200);
}

int
ep_http_check(const struct ep_http_req *r, struct ep_error *err)
{
	char *ex, *u;
	int code;

	if (r->err.code != 0) {
		if (err)
			*err = r->err;
		return -1;
	}
	if (r->status >= 200 && r->status < 300)
		return 0;
	code = r->status == 401 || r->status == 403 ? EP_EXIT_NOPERM :
	    EP_EXIT_UNAVAILABLE;
	ex = excerpt(r);
	u = masked(r->url);
	ep_error_set(err, code, "%s %s: HTTP %ld%s%s", r->method, u,
	    r->status, ex[0] ? ": " : "", ex);
	free(u);
	free(ex);
	return -1;
}

void
ep_http_describe(FILE *fp, const struct ep_http_req *r)
{
	char *u = masked(r->url);

	fprintf(fp, "%s %s\n", r->method, u);
	free(u);
	if (r->body != NULL) {
		/* ep_url_mask masks query parameters: dress the body up
		 * as a query string. */
		char *q = ep_xasprintf("?%s", r->body);
		char *m = masked(q);

		fprintf(fp, "  %s\n", m + 1);
		free(m);
		free(q);
	}
}

void
ep_http_get_stats(const struct ep_http *h, struct ep_http_stats *st)
{
	*st = h->st;
	st->limit = h->limit;
}

/*
 * url as libcurl normalises it, the host in lower case and a default port
 * left out (malloc'd); a copy when it cannot be parsed.
 */
static char *
url_normal(const char *url)
{
	CURLU *cu = curl_url();
	char *u = NULL, *host = NULL, *out;

	if (cu != NULL && curl_url_set(cu, CURLUPART_URL, url, 0) ==
	    CURLUE_OK && curl_url_get(cu, CURLUPART_HOST, &host, 0) ==
	    CURLUE_OK) {
		for (char *c = host; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		curl_url_set(cu, CURLUPART_HOST, host, 0);
		curl_free(host);
	}
	if (cu != NULL && curl_url_get(cu, CURLUPART_URL, &u,
	    CURLU_NO_DEFAULT_PORT) == CURLUE_OK) {
		out = ep_xstrdup(u);
		curl_free(u);
	} else {
		out = ep_xstrdup(url);
	}
	curl_url_cleanup(cu);
	return out;
}

static size_t
str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)h;
}

void
ep_http_pages_init(struct ep_http_pages *pg, long max)
{
	memset(pg, 0, sizeof(*pg));
	pg->max = max;
}

/* Put u (taken) into the set; false when it was there (u freed). */
static bool
pages_insert(struct ep_http_pages *pg, char *u)
{
	size_t i;

	if (2 * (pg->n + 1) > pg->cap) {
		size_t ncap = pg->cap ? pg->cap * 2 : 64;
		char **nset = ep_xcalloc(ncap, sizeof(*nset));

		for (size_t k = 0; k < pg->cap; k++) {
			if (pg->set[k] == NULL)
				continue;
			for (i = str_hash(pg->set[k]) & (ncap - 1);
			    nset[i] != NULL; i = (i + 1) & (ncap - 1))
				;
			nset[i] = pg->set[k];
		}
		free(pg->set);
		pg->set = nset;
		pg->cap = ncap;
	}
	for (i = str_hash(u) & (pg->cap - 1); pg->set[i] != NULL;
	    i = (i + 1) & (pg->cap - 1)) {
		if (strcmp(pg->set[i], u) == 0) {
			free(u);
			return false;
		}
	}
	pg->set[i] = u;
	pg->n++;
	return true;
}

int
ep_http_pages_add(struct ep_http_pages *pg, const char *url,
    const char *what, struct ep_error *err)
{
	if (!pages_insert(pg, url_normal(url))) {
		char *m = masked(url);

		ep_error_set(err, EP_EXIT_UNAVAILABLE, "%s: the server's Link "
		    "rel=\"next\" leads back to a page already fetched, after "
		    "%zu pages ('%s')", what, pg->n, m);
		free(m);
		return -1;
	}
	if (pg->max > 0 && pg->n > (size_t)pg->max) {
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "%s: more than %ld "
		    "pages (--max-pages): the server's Link rel=\"next\" "
		    "does not end", what, pg->max);
		return -1;
	}
	return 0;
}

void
ep_http_pages_free(struct ep_http_pages *pg)
{
	for (size_t i = 0; i < pg->cap; i++)
		free(pg->set[i]);
	free(pg->set);
	memset(pg, 0, sizeof(*pg));
}

/*
 * Whether host, as libcurl gives it (IPv6 in brackets), is this machine,
 * where plain http exposes nothing: the name localhost (which libcurl
 * resolves itself, without DNS), an IPv4 literal in 127.0.0.0/8 or ::1.
 * Literals are parsed, never prefix-matched: "127.attacker.example" and
 * "127.0.0.1.nip.io" are names anyone can point anywhere.
 */
static bool
loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char buf[INET6_ADDRSTRLEN];
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (n > 2 && host[0] == '[' && host[n - 1] == ']' &&
	    n - 2 < sizeof(buf)) {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		return inet_pton(AF_INET6, buf, &a6) == 1 &&
		    IN6_IS_ADDR_LOOPBACK(&a6);
	}
	return false;
}

/*
 * Check the site URL (from src, "--url" or "$CANVAS_URL") with libcurl's
 * parser, the one that will connect, and set *out to it as libcurl
 * normalised it.  No message quotes the URL: it may hold a password.
 */
static int
site_url(const char *url, const char *src, char **out, struct ep_error *err)
{
	CURLU *cu = curl_url();
	char *scheme = NULL, *host = NULL, *part = NULL, *norm = NULL;
	int rc = -1;

	if (cu == NULL)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	if (curl_url_set(cu, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(cu, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(cu, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)) {
		ep_error_set(err, EP_EXIT_CONFIG, "the site URL (%s) is not "
		    "an http(s) URL", src);
		goto out;
	}
	if (curl_url_get(cu, CURLUPART_USER, &part, 0) != CURLUE_NO_USER ||
	    curl_url_get(cu, CURLUPART_PASSWORD, &part, 0) !=
	    CURLUE_NO_PASSWORD) {
		ep_error_set(err, EP_EXIT_CONFIG, "the site URL (%s) holds a "
		    "user name or password (host '%s'): give the site's "
		    "address alone, and the token with --token-file", src,
		    host);
		goto out;
	}
	if (curl_url_get(cu, CURLUPART_QUERY, &part, 0) != CURLUE_NO_QUERY ||
	    curl_url_get(cu, CURLUPART_FRAGMENT, &part, 0) !=
	    CURLUE_NO_FRAGMENT) {
		ep_error_set(err, EP_EXIT_CONFIG, "the site URL (%s) has a "
		    "'?query' or '#fragment' part (host '%s'): give the "
		    "site's address alone, and the token with --token-file",
		    src, host);
		goto out;
	}
	if (strcmp(scheme, "http") == 0 && !loopback(host)) {
		ep_error_set(err, EP_EXIT_CONFIG, "refusing to send a token "
		    "over plain http to '%s': use https (plain http only to "
		    "127.0.0.0/8, [::1] or localhost)", host);
		goto out;
	}
	if (curl_url_get(cu, CURLUPART_URL, &norm, 0) != CURLUE_OK) {
		ep_error_set(err, EP_EXIT_CONFIG, "the site URL (%s) is not "
		    "an http(s) URL", src);
		goto out;
	}
	*out = ep_xstrdup(norm);
	rc = 0;
out:
	curl_free(part);
	curl_free(norm);
	curl_free(host);
	curl_free(scheme);
	curl_url_cleanup(cu);
	return rc;
}

char *
ep_url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = ep_xmalloc(strlen(s) * 3 + 1), *o = out;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~:", c) != NULL) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

char *
ep_url_join(const char *base, const char *fmt, ...)
{
	va_list ap;
	char *tail, *u;

	va_start(ap, fmt);
	if (vasprintf(&tail, fmt, ap) < 0)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	va_end(ap);
	u = ep_xasprintf("%s%s", base, tail);
	free(tail);
	return u;
}

void
ep_lms_conn_init(struct ep_lms_conn *c)
{
	memset(c, 0, sizeof(*c));
	ep_http_opts_default(&c->http);
	c->max_pages = 10000;
}

bool
ep_lms_conn_opt(struct ep_lms_conn *c, int opt, const char *arg,
    const char *usage)
{
	switch (opt) {
	case EP_OPT_LMS_URL:
		c->url = arg;
		return true;
	case EP_OPT_LMS_TOKEN_FILE:
		c->token_file = arg;
		return true;
	case EP_OPT_LMS_CACERT:
		c->http.cacert = arg;
		return true;
	case 'j':
		c->http.jobs = (int)ep_cli_long(usage, "--jobs", arg, 256);
		if (c->http.jobs < 1)
			ep_usage_error(usage, "option '--jobs' must be at "
			    "least 1");
		return true;
	case EP_OPT_LMS_RETRIES:
		c->http.retries = (int)ep_cli_long(usage, "--retries", arg,
		    100);
		return true;
	case EP_OPT_LMS_RETRY_BASE:
		c->http.retry_base_ms = ep_cli_long(usage, "--retry-base-ms",
		    arg, 600000);
		return true;
	case EP_OPT_LMS_MAX_REPLY:
		c->http.max_reply = ep_size_arg(usage, "--max-reply", arg,
		    "64M", 1024, 16ull << 30);
		return true;
	case EP_OPT_LMS_MAX_PAGES:
		c->max_pages = ep_cli_long(usage, "--max-pages", arg,
		    100000000);
		if (c->max_pages < 1)
			ep_usage_error(usage, "option '--max-pages' must be at "
			    "least 1");
		return true;
	case EP_OPT_OAUTH_TOKEN_URL:
		c->token_url = arg;
		return true;
	case EP_OPT_OAUTH_ID_FILE:
		c->client_id_file = arg;
		return true;
	case EP_OPT_OAUTH_SECRET_FILE:
		c->client_secret_file = arg;
		return true;
	case EP_OPT_OAUTH_SCOPE:
		c->scope = arg;
		return true;
	case EP_OPT_OAUTH_PREFIX:
		if (arg[strspn(arg, "/")] == '\0' || strpbrk(arg, "?#%\\ ") ||
		    strstr(arg, "..") != NULL)
			ep_usage_error(usage, "option '--scope-prefix' takes a "
			    "path such as aa/CanvasReadOnly, not '%s'", arg);
		c->scope_prefix = arg;
		return true;
	case EP_OPT_OAUTH_ID_HEADER:
		if (*arg == '\0' || arg[strspn(arg, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")] != '\0')
			ep_usage_error(usage, "option '--client-id-header' "
			    "takes a header name such as X-IBM-Client-Id, not "
			    "'%s'", arg);
		c->client_id_header = arg;
		return true;
	case EP_OPT_LMS_TIMEOUT:
		c->http.timeout_ms = 1000 * ep_cli_long(usage, "--timeout",
		    arg, 86400);
		if (c->http.timeout_ms < 1000)
			ep_usage_error(usage, "option '--timeout' must be at "
			    "least 1");
		return true;
	default:
		return false;
	}
}

/*
 * Canvas behind an OAuth 2 gateway: the token URL checked as the site URL
 * is, the client id and secret read, the scope prefix put after the site
 * URL, and the pool given the token source.
 */
static int
gateway_open(const char *lms, const struct ep_lms_conn *conn, bool dry_run,
    struct ep_http_opts *ho, char **base, char **token, struct ep_http **http,
    struct ep_error *err)
{
	struct ep_oauth_conf oc;
	char *turl = NULL, *id = NULL, *secret = NULL, *hdr = NULL;
	const char *p, *tu = conn->token_url, *acct = conn->account_id;
	bool zoom = strcmp(lms, "zoom") == 0;
	int rc = -1;

	*token = NULL;
	if (zoom) {
		if (tu == NULL)
			tu = getenv("ZOOM_TOKEN_URL");
		if (tu == NULL || *tu == '\0')
			tu = "https://zoom.us/oauth/token";
		if (acct == NULL)
			acct = getenv("ZOOM_ACCOUNT_ID");
		if (acct == NULL || *acct == '\0') {
			ep_error_set(err, EP_EXIT_CONFIG, "no Zoom account id: "
			    "give --account or set ZOOM_ACCOUNT_ID");
			return -1;
		}
	} else if (strcmp(lms, "canvas") != 0 || tu == NULL) {
		ep_error_set(err, EP_EXIT_CONFIG, "%s", strcmp(lms, "canvas")
		    ? "--token-url, --client-id-file, --client-secret-file, "
		    "--scope, --scope-prefix and --client-id-header are for "
		    "Canvas" : "--client-id-file, --client-secret-file, "
		    "--scope, --scope-prefix and --client-id-header need "
		    "--token-url");
		return -1;
	}
	if (conn->token_file != NULL) {
		ep_error_set(err, EP_EXIT_CONFIG, "give either --token-file "
		    "or --token-url");
		return -1;
	}
	if (site_url(tu, conn->token_url ? "--token-url" : zoom &&
	    getenv("ZOOM_TOKEN_URL") ? "$ZOOM_TOKEN_URL" : "the token URL",
	    &turl, err) < 0)
		return -1;
	if (zoom) {
		char *a = ep_url_escape(acct);
		char *t = ep_xasprintf("%s?grant_type=account_credentials&"
		    "account_id=%s", turl, a);

		free(a);
		free(turl);
		turl = t;
	}
	if (conn->scope_prefix != NULL) {
		char *b;

		for (p = conn->scope_prefix; *p == '/'; p++)
			;
		b = ep_xasprintf("%s/%s", *base, p);
		free(*base);
		*base = b;
		for (size_t n = strlen(b); n > 0 && b[n - 1] == '/'; n--)
			b[n - 1] = '\0';
	}
	id = ep_secret_get(zoom ? "ZOOM_CLIENT_ID" : "CANVAS_CLIENT_ID",
	    conn->client_id_file, !dry_run, err);
	if (id == NULL && (err->code != 0 || !dry_run))
		goto out;
	secret = ep_secret_get(zoom ? "ZOOM_CLIENT_SECRET" :
	    "CANVAS_CLIENT_SECRET",
	    conn->client_secret_file, !dry_run, err);
	if (secret == NULL && (err->code != 0 || !dry_run))
		goto out;
	if (dry_run) {
		rc = 0;
		goto out;
	}
	memset(&oc, 0, sizeof(oc));
	oc.token_url = turl;
	oc.client_id = id;
	oc.client_secret = secret;
	oc.grant_type = zoom ? NULL : "client_credentials";
	oc.scope = conn->scope;
	oc.cacert = ho->cacert;
	oc.user_agent = ho->user_agent;
	oc.timeout_ms = ho->timeout_ms;
	oc.connect_timeout_ms = ho->connect_timeout_ms;
	oc.max_reply = ho->max_reply;
	oc.retries = ho->retries;
	oc.retry_base_ms = ho->retry_base_ms;
	ho->oauth = ep_oauth_new(&oc);
	if (conn->client_id_header != NULL) {
		hdr = ep_xasprintf("%s: %s", conn->client_id_header, id);
		ho->auth_header = hdr;
	}
	*http = ep_http_new(ho, err);
	if (*http == NULL)
		ep_oauth_free(ho->oauth);
	else
		rc = 0;
	/* The pool keeps its own copy of the header line. */
out:
	free(hdr);
	free(turl);
	if (id != NULL)
		explicit_bzero(id, strlen(id));
	if (secret != NULL)
		explicit_bzero(secret, strlen(secret));
	free(id);
	free(secret);
	return rc;
}

int
ep_lms_site_open(const char *lms, const struct ep_lms_conn *conn,
    bool dry_run, char **base, char **token, struct ep_http **http,
    struct ep_error *err)
{
	bool moodle = strcmp(lms, "moodle") == 0;
	bool kaltura = strcmp(lms, "kaltura") == 0;
	bool zoom = strcmp(lms, "zoom") == 0;
	const char *url = conn->url;
	struct ep_http_opts ho = conn->http;
	/* The pool keeps the pointer: one agent string for the process. */
	static char agent[80];
	const char *env_url = moodle ? "MOODLE_URL" : kaltura ?
	    "KALTURA_URL" : zoom ? "ZOOM_URL" : "CANVAS_URL";
	const char *env_tok = moodle ? "MOODLE_TOKEN" : kaltura ?
	    "KALTURA_SECRET" : "CANVAS_TOKEN";
	char src[32];
	size_t n;

	snprintf(src, sizeof(src), url ? "--url" : "$%s", env_url);
	if (url == NULL)
		url = getenv(env_url);
	if (zoom && (url == NULL || *url == '\0'))
		url = "https://api.zoom.us";
	if (url == NULL || *url == '\0') {
		ep_error_set(err, EP_EXIT_CONFIG, "no %s URL: give --url or "
		    "set %s", lms, env_url);
		return -1;
	}
	if (site_url(url, src, base, err) < 0)
		return -1;
	n = strlen(*base);
	while (n > 0 && (*base)[n - 1] == '/')
		(*base)[--n] = '\0';
	snprintf(agent, sizeof(agent), "edpipe/%s (%.40s)", EP_VERSION,
	    ep_progname());
	if (ho.retry_max_ms < ho.retry_base_ms)
		ho.retry_max_ms = ho.retry_base_ms;
	if (ho.connect_timeout_ms > ho.timeout_ms)
		ho.connect_timeout_ms = ho.timeout_ms;
	ho.user_agent = agent;
	if (zoom || conn->token_url != NULL || conn->scope_prefix != NULL ||
	    conn->client_id_header != NULL || conn->scope != NULL ||
	    conn->client_id_file != NULL || conn->client_secret_file != NULL)
		return gateway_open(lms, conn, dry_run, &ho, base, token, http,
		    err);
	*token = ep_secret_get(env_tok, conn->token_file, !dry_run, err);
	if (*token == NULL && (err->code != 0 || !dry_run))
		return -1;
	if (dry_run)
		return 0;
	ho.bearer = moodle || kaltura ? NULL : *token;
	*http = ep_http_new(&ho, err);
	return *http == NULL ? -1 : 0;
}
