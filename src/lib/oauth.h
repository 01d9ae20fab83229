/*
 * oauth.h - OAuth 2 client credentials (RFC 6749 section 4.4): an access
 * token from a token endpoint, for an API gateway in front of Canvas and
 * for Zoom's Server-to-Server OAuth.
 *
 * The client id and secret go to the token endpoint as HTTP Basic
 * (client_secret_basic, which every server must accept); the form body
 * carries grant_type and scope when configured (Zoom wants them in the
 * URL instead).  The token is kept in memory only, for its expires_in,
 * and fetched again a little before that (a quarter of its life, at most
 * 60 s early) or when the API refuses it (ep_oauth_expire).  Every token
 * is registered with ep_secret_register before anything can print it;
 * the id and secret came through ep_secret_get and are registered too.
 *
 * The token request is synchronous (one blocking transfer, retried on
 * 429, 5xx and dropped connections): a pool waits for it, which is what
 * it would do anyway without a token.
 */
#ifndef EP_OAUTH_H
#define EP_OAUTH_H

#include <stddef.h>

#include "msg.h"

struct ep_oauth_conf {
	const char *token_url;	/* checked by the caller (https, or http
				 * to this machine); may hold a query */
	const char *client_id;
	const char *client_secret;
	const char *grant_type;	/* form field, or NULL: none in the body */
	const char *scope;	/* form field, or NULL */
	const char *cacert;	/* or NULL: the system's CA bundle */
	const char *user_agent;	/* or NULL */
	long timeout_ms;	/* one attempt */
	long connect_timeout_ms;
	size_t max_reply;	/* bytes of the token reply at most */
	int retries;		/* after the first attempt */
	long retry_base_ms;	/* doubled each time */
};

struct ep_oauth;

/* A token source (strings copied).  Nothing is fetched yet. */
struct ep_oauth *ep_oauth_new(const struct ep_oauth_conf *c);
void ep_oauth_free(struct ep_oauth *o);

/*
 * The current token: fetched when there is none or it is about to
 * expire.  Borrowed until the next call.  *gen (when not NULL) numbers
 * the token, for ep_oauth_expire.  NULL with err: 77 when the endpoint
 * refused the client (400/401/403), 75 when it stayed unavailable
 * (retries spent), 69 for a reply that is not a token (not JSON, no
 * access_token, a token_type other than bearer, an expires_in that is
 * not a positive number, larger than the conf's max_reply), naming the
 * endpoint's URL and never the id, secret or token.
 */
const char *ep_oauth_token(struct ep_oauth *o, unsigned *gen,
    struct ep_error *err);

/*
 * The API refused token number gen (HTTP 401): the next ep_oauth_token
 * fetches a new one.  A stale gen (a token already replaced) is ignored,
 * so many requests refused at once cause one fetch.
 */
void ep_oauth_expire(struct ep_oauth *o, unsigned gen);

/* Tokens fetched so far (for messages and tests). */
unsigned long ep_oauth_fetches(const struct ep_oauth *o);

/* A token is never kept longer than this (s), whatever expires_in says. */
#define EP_OAUTH_MAX_LIFE 86400

#endif
