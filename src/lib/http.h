/*
 * http.h - a pool of concurrent HTTP requests over libcurl multi, shared by
 * the programs that talk to LMS APIs (lms-fetch reads, lms-push writes).
 *
 * A caller makes requests (method, URL, optional form body and headers),
 * submits them with a completion callback, and runs the pool.  The pool
 * keeps at most opts.jobs transfers in flight, reuses connections
 * (keep-alive, HTTP/2 multiplexing where the server offers it) and retries
 * what is worth retrying:
 *
 *   - 429, and 403 whose body says "Rate Limit Exceeded" (Canvas before and
 *     after its 2025-10 change), with the Retry-After delay when given;
 *   - 5xx other than 501 and 505;
 *   - timeouts, refused or dropped connections, truncated replies.
 *
 * Delays grow exponentially from opts.retry_base_ms with jitter (each
 * delay is drawn from [d/2, d]), capped at opts.retry_max_ms; Retry-After
 * is a lower bound.  A throttled reply also pauses new starts for the whole
 * pool and halves its concurrency (it grows back by one per success); an
 * X-Rate-Limit-Remaining under opts.low_remaining drops the pool to one
 * transfer at a time with a pause between starts until the quota recovers.
 *
 * A request that was not idempotent (POST by default) is retried only when
 * the server cannot have acted on it: refused connections, 429, throttling
 * 403 and 503.  TLS peer and host verification are always on; opts.cacert
 * names another CA bundle, and there is no way to turn verification off.
 *
 * The callback runs once per request, with the final reply or the final
 * failure.  It may submit more requests (the next page), and it may stop
 * the whole run by returning -1.  The pool frees the request when the
 * callback returns; a callback that wants the body takes it by setting
 * r->resp to NULL.  No function here prints anything: messages name URLs
 * through ep_url_mask, so tokens in query strings never leak.
 */
#ifndef EP_HTTP_H
#define EP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "msg.h"
#include "oauth.h"

struct ep_http_opts {
	int jobs;		/* transfers in flight at most (default 8) */
	int retries;		/* retries after the first attempt (5) */
	long retry_base_ms;	/* first backoff delay (1000) */
	long retry_max_ms;	/* backoff cap (60000) */
	long retry_after_max_ms; /* a longer Retry-After gives up (600000) */
	long timeout_ms;	/* one attempt, from connect to last byte */
	long connect_timeout_ms; /* (30000) */
	double low_remaining;	/* X-Rate-Limit-Remaining that slows (100) */
	const char *cacert;	/* CA bundle file, NULL: the system's */
	const char *bearer;	/* "Authorization: Bearer" token, or NULL */
	struct ep_oauth *oauth;	/* instead of bearer: a token from an OAuth
				 * 2 endpoint (oauth.h), fetched when needed
				 * and once more when a reply is 401; the
				 * pool frees it */
	const char *auth_header; /* a further "Name: value" line sent with
				 * the token (an API gateway's client id) */
	const char *user_agent;	/* NULL: "edpipe/VERSION" */
	size_t max_reply;	/* bytes of one reply body, after any
				 * Content-Encoding is undone (64 MiB) */
};

/* Fill o with the defaults above (timeout_ms 300000). */
void ep_http_opts_default(struct ep_http_opts *o);

struct ep_http;
struct ep_http_req;

/*
 * The completion callback: 0 to go on, -1 to stop the run (every other
 * transfer is abandoned and ep_http_run returns -1).
 */
typedef int (*ep_http_done_fn)(struct ep_http *h, struct ep_http_req *r,
    void *arg);

struct ep_http_req {
	/* Set by ep_http_req_new and the ep_http_req_* setters. */
	char *method;		/* "GET", "POST", "PUT", "DELETE" */
	char *url;
	char *body;		/* form body (x-www-form-urlencoded), or NULL */
	size_t body_len;
	char **headers;		/* extra "Name: value" lines */
	size_t nheaders;
	bool follow;		/* follow redirects (file downloads) */
	bool idempotent;	/* retry even after it may have been acted on;
				 * default: every method but POST */
	bool auth;		/* send the bearer token (default true); never
				 * sent to another host after a redirect */
	long prio;		/* lower starts first; default: submit order */
	void *udata;		/* the caller's, untouched */
	void (*arg_free)(void *arg); /* frees the callback's arg when the
				 * request is abandoned (run stopped or
				 * pool freed) before its callback ran */

	/* Filled before the callback runs. */
	long status;		/* HTTP status of the last attempt, 0: none */
	char *resp;		/* reply body, NUL-terminated (owned) */
	size_t resp_len;
	char *next_url;		/* absolute Link rel="next", or NULL */
	char *content_type;	/* or NULL */
	int attempts;
	struct ep_error err;	/* code 0: a reply arrived (any status, see
				 * ep_http_check); 75: retries exhausted;
				 * 69: a failure not worth retrying, such
				 * as a reply over opts.max_reply */

	/* Private to http.c. */
	void *easy_;
	void *hlist_;
	long long ready_at_;
	ep_http_done_fn fn_;
	void *fn_arg_;
	struct ep_http_req *next_;
	size_t limit_;		/* opts.max_reply */
	unsigned auth_gen_;	/* the OAuth token it was sent with */
	bool reauth_;		/* retried once after a 401 already */
	bool too_big_;		/* the reply passed limit_: aborted */
	char errbuf_[256];
};

/*
 * A new pool.  NULL with err (70) when libcurl cannot be set up.  Free with
 * ep_http_free, which abandons anything still queued.
 */
struct ep_http *ep_http_new(const struct ep_http_opts *o,
    struct ep_error *err);
void ep_http_free(struct ep_http *h);

/* A new request (method and url copied).  Free unsubmitted ones with
 * ep_http_req_free; NULL is a no-op. */
struct ep_http_req *ep_http_req_new(const char *method, const char *url);
void ep_http_req_free(struct ep_http_req *r);
/* Append name=value, both percent-encoded, to the form body. */
void ep_http_req_form(struct ep_http_req *r, const char *name,
    const char *value);
/* Add a header line "Name: value" (copied). */
void ep_http_req_header(struct ep_http_req *r, const char *line);

/*
 * Queue r (the pool now owns it); fn(h, r, arg) runs when it is done.
 * Callable from a callback.  With delay_ms > 0 it starts no sooner than
 * that (polling a report).
 */
void ep_http_submit(struct ep_http *h, struct ep_http_req *r,
    ep_http_done_fn fn, void *arg);
void ep_http_submit_after(struct ep_http *h, struct ep_http_req *r,
    long delay_ms, ep_http_done_fn fn, void *arg);

/*
 * Run until every submitted request (and every one the callbacks submit)
 * is done.  0, or -1 when a callback stopped the run, or with err (70)
 * when libcurl failed.
 */
int ep_http_run(struct ep_http *h, struct ep_error *err);

/*
 * Turn a finished request into an error unless it succeeded: 0 when
 * r->err.code is 0 and the status is 2xx; otherwise -1 with err filled:
 * r->err as is, 401 and 403 as 77, other statuses as 69, each naming the
 * method and masked URL, the status and the start of the reply.
 */
int ep_http_check(const struct ep_http_req *r, struct ep_error *err);

/*
 * Print "METHOD URL" and, when there is one, the body on the next line
 * indented by two spaces, with the URL and body masked (ep_url_mask) and
 * every registered secret replaced: what a --dry-run shows.
 */
void ep_http_describe(FILE *fp, const struct ep_http_req *r);

/* Counters since ep_http_new. */
struct ep_http_stats {
	unsigned long done;	/* requests completed (callbacks run) */
	unsigned long attempts;	/* transfers started */
	unsigned long retries;
	unsigned long throttled; /* 429 and rate-limit 403 replies */
	unsigned long long bytes; /* reply bytes received */
	int limit;		/* current concurrency limit */
};
void ep_http_get_stats(const struct ep_http *h, struct ep_http_stats *st);

/* Whether URLs a and b have the same scheme://host:port (case-blind):
 * to decide whether a download URL may see the token. */
bool ep_http_same_origin(const char *a, const char *b);

/*
 * Find rel="next" in one Link header value ("<u>; rel=next, <v>; ...").
 * Returns a malloc'd URL, resolved against base when relative, or NULL.
 */
char *ep_http_link_next(const char *v, const char *base);

/*
 * One paged listing's guard against a server whose Link rel="next" never
 * ends.  Give it every page URL of the listing, the first one too, before
 * the page is asked for: ep_http_pages_add fails (69, naming what) when a
 * URL comes round a second time or the listing passes max pages.  URLs
 * are compared as libcurl normalises them ("HTTP://Host:80/x" is
 * "http://host/x"), so a trivially respelt URL is still the same page.
 */
struct ep_http_pages {
	char **set;		/* open addressing, cap a power of two */
	size_t n, cap;
	long max;
};
void ep_http_pages_init(struct ep_http_pages *pg, long max);
int ep_http_pages_add(struct ep_http_pages *pg, const char *url,
    const char *what, struct ep_error *err);
void ep_http_pages_free(struct ep_http_pages *pg);

/* Milliseconds on a monotonic clock. */
long long ep_http_now_ms(void);

/* s with every byte but A-Z a-z 0-9 - . _ ~ : percent-encoded (malloc'd). */
char *ep_url_escape(const char *s);
/* base followed by the printf-formatted rest (malloc'd). */
char *ep_url_join(const char *base, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The connection options lms-fetch and lms-push share, parsed one way:
 * put EP_LMS_LONGOPTS in the getopt table and "j:" in the short options,
 * start from ep_lms_conn_init, and offer every option getopt returns to
 * ep_lms_conn_opt first.
 */
enum {
	EP_OPT_LMS_URL = 0x1080, EP_OPT_LMS_TOKEN_FILE, EP_OPT_LMS_CACERT,
	EP_OPT_LMS_RETRIES, EP_OPT_LMS_RETRY_BASE, EP_OPT_LMS_TIMEOUT,
	EP_OPT_LMS_MAX_REPLY, EP_OPT_LMS_MAX_PAGES,
	EP_OPT_OAUTH_TOKEN_URL, EP_OPT_OAUTH_ID_FILE, EP_OPT_OAUTH_SECRET_FILE,
	EP_OPT_OAUTH_SCOPE, EP_OPT_OAUTH_PREFIX, EP_OPT_OAUTH_ID_HEADER
};
#define EP_LMS_LONGOPTS \
	{ "url", required_argument, NULL, EP_OPT_LMS_URL }, \
	{ "token-file", required_argument, NULL, EP_OPT_LMS_TOKEN_FILE }, \
	{ "cacert", required_argument, NULL, EP_OPT_LMS_CACERT }, \
	{ "jobs", required_argument, NULL, 'j' }, \
	{ "retries", required_argument, NULL, EP_OPT_LMS_RETRIES }, \
	{ "retry-base-ms", required_argument, NULL, EP_OPT_LMS_RETRY_BASE }, \
	{ "timeout", required_argument, NULL, EP_OPT_LMS_TIMEOUT }, \
	{ "max-reply", required_argument, NULL, EP_OPT_LMS_MAX_REPLY }, \
	{ "max-pages", required_argument, NULL, EP_OPT_LMS_MAX_PAGES }
/*
 * Canvas behind an OAuth 2 API gateway (lms-fetch): ep_lms_conn_opt takes
 * these too.  With --token-url the token comes from that endpoint
 * (client credentials from --client-id-file and --client-secret-file, or
 * $CANVAS_CLIENT_ID and $CANVAS_CLIENT_SECRET), --scope-prefix goes
 * between the site URL and /api/v1, and --client-id-header names a
 * header that carries the client id on every API request.
 */
#define EP_OAUTH_LONGOPTS \
	{ "token-url", required_argument, NULL, EP_OPT_OAUTH_TOKEN_URL }, \
	{ "client-id-file", required_argument, NULL, EP_OPT_OAUTH_ID_FILE }, \
	{ "client-secret-file", required_argument, NULL, \
	    EP_OPT_OAUTH_SECRET_FILE }, \
	{ "scope", required_argument, NULL, EP_OPT_OAUTH_SCOPE }, \
	{ "scope-prefix", required_argument, NULL, EP_OPT_OAUTH_PREFIX }, \
	{ "client-id-header", required_argument, NULL, EP_OPT_OAUTH_ID_HEADER }

struct ep_lms_conn {
	const char *url;		/* --url, or NULL: $MOODLE_URL, ... */
	const char *token_file;		/* --token-file, or NULL */
	struct ep_http_opts http;	/* --jobs, --retries, --retry-base-ms,
					 * --timeout, --cacert, --max-reply */
	long max_pages;			/* --max-pages: of one listing */
	const char *token_url;		/* --token-url, or NULL */
	const char *client_id_file;	/* --client-id-file */
	const char *client_secret_file;	/* --client-secret-file */
	const char *scope;		/* --scope */
	const char *scope_prefix;	/* --scope-prefix */
	const char *client_id_header;	/* --client-id-header */
	const char *account_id;		/* Zoom: --account, or NULL:
					 * $ZOOM_ACCOUNT_ID */
};

/* Defaults: ep_http_opts_default, no URL, no token file, 10000 pages. */
void ep_lms_conn_init(struct ep_lms_conn *c);
/* Take option opt (a getopt result) with argument arg into c: true when
 * it was one of EP_LMS_LONGOPTS; a bad value is a usage error. */
bool ep_lms_conn_opt(struct ep_lms_conn *c, int opt, const char *arg,
    const char *usage);

/*
 * Open an LMS site for lms-fetch and lms-push.  lms is "moodle",
 * "canvas" or "kaltura"; conn->url is --url or NULL for $MOODLE_URL /
 * $CANVAS_URL / $KALTURA_URL (the token: $KALTURA_SECRET, no bearer),
 * which must be https (plain http only to this machine, where a token
 * crosses no network: an IPv4 literal in 127.0.0.0/8, [::1] or the name
 * localhost) and must hold no user name, password, query or fragment; it
 * is parsed by libcurl, the parser that will connect.  The token comes from conn->token_file or
 * $MOODLE_TOKEN / $CANVAS_TOKEN (optional when dry_run).  The pool runs
 * with conn->http, as "edpipe/VERSION (PROGRAM)"; the Canvas token
 * becomes its bearer.  Sets *base (the URL as libcurl normalised it,
 * without trailing slashes) and *token (malloc'd; NULL possible in a dry
 * run) and, unless dry_run, *http.  0, or -1 with err (78 bad URL or no
 * token, 77/66 token file refused or missing).
 * With conn->token_url (Canvas only) the pool gets its token from that
 * OAuth 2 endpoint instead (*token stays NULL) and *base ends with
 * conn->scope_prefix.  lms "zoom" always does: Server-to-Server OAuth
 * (conn->token_url, else $ZOOM_TOKEN_URL, else https://zoom.us/oauth/token,
 * with grant_type=account_credentials and account_id=conn->account_id or
 * $ZOOM_ACCOUNT_ID), the id and secret from the files or $ZOOM_CLIENT_ID
 * and $ZOOM_CLIENT_SECRET, and the site $ZOOM_URL or https://api.zoom.us.
 */
int ep_lms_site_open(const char *lms, const struct ep_lms_conn *conn,
    bool dry_run, char **base, char **token, struct ep_http **http,
    struct ep_error *err);


#endif
