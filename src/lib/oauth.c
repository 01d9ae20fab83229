/*
 * oauth.c - OAuth 2 client credentials tokens (see oauth.h).
 */
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "oauth.h"
#include "secret.h"

struct ep_oauth {
	struct ep_oauth_conf c;
	char *token;
	long long refresh_at;	/* ep_now_ms(): fetch again from here */
	unsigned gen;
	unsigned long fetches;
};

struct reply {
	char *buf;
	size_t len, max;
	bool too_big;
};

static char *
dup_or_null(const char *s)
{
	return s != NULL ? ep_xstrdup(s) : NULL;
}

struct ep_oauth *
ep_oauth_new(const struct ep_oauth_conf *c)
{
	struct ep_oauth *o = ep_xcalloc(1, sizeof(*o));

	o->c = *c;
	o->c.token_url = dup_or_null(c->token_url);
	o->c.client_id = dup_or_null(c->client_id);
	o->c.client_secret = dup_or_null(c->client_secret);
	o->c.grant_type = dup_or_null(c->grant_type);
	o->c.scope = dup_or_null(c->scope);
	o->c.cacert = dup_or_null(c->cacert);
	o->c.user_agent = dup_or_null(c->user_agent);
	if (o->c.max_reply == 0)
		o->c.max_reply = 1 << 20;
	if (o->c.timeout_ms <= 0)
		o->c.timeout_ms = 60000;
	if (o->c.connect_timeout_ms <= 0 ||
	    o->c.connect_timeout_ms > o->c.timeout_ms)
		o->c.connect_timeout_ms = o->c.timeout_ms;
	if (o->c.client_id != NULL)
		ep_secret_register(o->c.client_id);
	if (o->c.client_secret != NULL)
		ep_secret_register(o->c.client_secret);
	return o;
}

static void
wipe(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void
ep_oauth_free(struct ep_oauth *o)
{
	if (o == NULL)
		return;
	wipe(o->token);
	free((char *)o->c.token_url);
	wipe((char *)o->c.client_id);
	wipe((char *)o->c.client_secret);
	free((char *)o->c.grant_type);
	free((char *)o->c.scope);
	free((char *)o->c.cacert);
	free((char *)o->c.user_agent);
	free(o);
}

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;

	n *= size;
	if (r->len + n > r->max) {
		r->too_big = true;
		return 0;
	}
	r->buf = ep_xrealloc(r->buf, r->len + n + 1);
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	r->buf[r->len] = '\0';
	return n;
}

/* The start of the reply, masked, for a message. */
static char *
excerpt(const struct reply *r)
{
	return ep_mask_excerpt(r->buf ? r->buf : "", r->len, 200);
}

/*
 * Take the token out of a 200 reply: 0, or -1 with err (69).  Sets
 * o->token and o->refresh_at.
 */
static int
take_token(struct ep_oauth *o, const struct reply *r, const char *url,
    const char *ctype, struct ep_error *err)
{
	json_error_t je;
	json_t *j = json_loadb(r->buf ? r->buf : "", r->len, 0, &je);
	json_t *tok, *type, *exp;
	double life = 3600;
	long long now = ep_now_ms(), early;
	int rc = -1;

	if (j == NULL || !json_is_object(j)) {
		/* Not quoted: a reply that is almost JSON may hold a
		 * token that was never registered, so never masked. */
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "token endpoint %s: "
		    "the reply is not a JSON object (%s, %zu bytes)", url,
		    ctype != NULL ? ctype : "no Content-Type", r->len);
		goto out;
	}
	tok = json_object_get(j, "access_token");
	type = json_object_get(j, "token_type");
	exp = json_object_get(j, "expires_in");
	if (!json_is_string(tok) || json_string_length(tok) == 0) {
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "token endpoint %s: "
		    "the reply holds no access_token", url);
		goto out;
	}
	if (json_string_length(tok) < EP_SECRET_MIN_LEN ||
	    strlen(json_string_value(tok)) != json_string_length(tok) ||
	    strpbrk(json_string_value(tok), "\r\n") != NULL) {
		/* Registered as a secret below, a short one could not
		 * be masked safely; a NUL or line break would cut or
		 * split the Authorization header. */
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "token endpoint %s: "
		    "the access_token is shorter than %d bytes or holds a "
		    "NUL or line break", url, EP_SECRET_MIN_LEN);
		goto out;
	}
	ep_secret_register(json_string_value(tok));
	if (type != NULL && (!json_is_string(type) ||
	    strcasecmp(json_string_value(type), "bearer") != 0)) {
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "token endpoint %s: "
		    "token_type is not 'bearer'", url);
		goto out;
	}
	if (exp != NULL && !json_is_null(exp)) {
		/* A number, or a string of digits (some gateways). */
		if (json_is_number(exp))
			life = json_number_value(exp);
		else if (json_is_string(exp) &&
		    strspn(json_string_value(exp), "0123456789") ==
		    json_string_length(exp) && json_string_length(exp) > 0 &&
		    json_string_length(exp) < 12)
			life = strtod(json_string_value(exp), NULL);
		else
			life = -1;
		if (!(life >= 1) || !isfinite(life)) {
			ep_error_set(err, EP_EXIT_UNAVAILABLE, "token endpoint "
			    "%s: expires_in is not a positive number of "
			    "seconds", url);
			goto out;
		}
	}
	if (life > EP_OAUTH_MAX_LIFE) {
		ep_info(1, "token endpoint %s: expires_in %.0f s; keeping the "
		    "token %d s at most", url, life, EP_OAUTH_MAX_LIFE);
		life = EP_OAUTH_MAX_LIFE;
	}
	/* Fetch again before it runs out: a quarter early, 60 s at most. */
	early = (long long)(life * 250);
	if (early > 60000)
		early = 60000;
	wipe(o->token);
	o->token = ep_xstrdup(json_string_value(tok));
	o->refresh_at = now + (long long)(life * 1000) - early;
	o->gen++;
	o->fetches++;
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* One attempt: 0 (a token), 1 (worth retrying, err set), -1 (err). */
static int
attempt(struct ep_oauth *o, const char *url, struct ep_error *err)
{
	CURL *e = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct reply r = { NULL, 0, o->c.max_reply, false };
	char *body = NULL, *x;
	CURLcode res;
	long status = 0;
	int rc = -1;

	if (e == NULL) {
		ep_error_set(err, EP_EXIT_SOFTWARE, "cannot create a transfer");
		return -1;
	}
	if (o->c.grant_type != NULL || o->c.scope != NULL) {
		char *g = o->c.grant_type ? curl_easy_escape(e,
		    o->c.grant_type, 0) : NULL;
		char *s = o->c.scope ? curl_easy_escape(e, o->c.scope, 0) :
		    NULL;

		body = ep_xasprintf("%s%s%s%s%s", g ? "grant_type=" : "",
		    g ? g : "", g && s ? "&" : "", s ? "scope=" : "",
		    s ? s : "");
		curl_free(g);
		curl_free(s);
	}
	curl_easy_setopt(e, CURLOPT_URL, o->c.token_url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->c.cacert != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, o->c.cacert);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->c.timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->c.connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_USERAGENT, o->c.user_agent ?
	    o->c.user_agent : "edpipe/" EP_VERSION);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)o->c.max_reply);
	curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	curl_easy_setopt(e, CURLOPT_USERNAME, o->c.client_id ?
	    o->c.client_id : "");
	curl_easy_setopt(e, CURLOPT_PASSWORD, o->c.client_secret ?
	    o->c.client_secret : "");
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(body ?
	    strlen(body) : 0));
	hl = curl_slist_append(hl, "Accept: application/json");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &r);
	res = curl_easy_perform(e);
	if (res == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (r.too_big || res == CURLE_FILESIZE_EXCEEDED) {
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "token endpoint %s: the "
		    "reply is larger than %zu bytes (--max-reply)", url,
		    o->c.max_reply);
	} else if (res != CURLE_OK) {
		ep_error_set(err, EP_EXIT_TEMPFAIL, "token endpoint %s: %s",
		    url, curl_easy_strerror(res));
		rc = 1;
	} else if (status == 429 || (status >= 500 && status != 501 &&
	    status != 505)) {
		ep_error_set(err, EP_EXIT_TEMPFAIL, "token endpoint %s: HTTP "
		    "%ld", url, status);
		rc = 1;
	} else if (status == 400 || status == 401 || status == 403) {
		x = excerpt(&r);
		ep_error_set(err, EP_EXIT_NOPERM, "token endpoint %s refused "
		    "the client: HTTP %ld: %s", url, status, x);
		free(x);
	} else if (status != 200) {
		x = excerpt(&r);
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "token endpoint %s: "
		    "HTTP %ld: %s", url, status, x);
		free(x);
	} else {
		char *ct = NULL;

		curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
		rc = take_token(o, &r, url, ct, err);
	}
	curl_slist_free_all(hl);
	curl_easy_cleanup(e);
	if (r.buf != NULL)
		explicit_bzero(r.buf, r.len);
	free(r.buf);
	free(body);
	return rc;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

const char *
ep_oauth_token(struct ep_oauth *o, unsigned *gen, struct ep_error *err)
{
	char *url;
	long delay = o->c.retry_base_ms > 0 ? o->c.retry_base_ms : 1000;
	int rc = -1;

	if (o->token != NULL && ep_now_ms() < o->refresh_at) {
		if (gen != NULL)
			*gen = o->gen;
		return o->token;
	}
	url = ep_url_mask(o->c.token_url);
	for (int i = 0; i <= o->c.retries; i++) {
		if (i > 0) {
			ep_info(1, "%s; retry %d of %d in %ld ms", err->msg, i,
			    o->c.retries, delay);
			sleep_ms(delay);
			if (delay < 60000)
				delay *= 2;
		}
		rc = attempt(o, url, err);
		if (rc != 1)
			break;
	}
	if (rc == 1) {
		char m[sizeof(err->msg)];

		snprintf(m, sizeof(m), "%s", err->msg);
		ep_error_set(err, EP_EXIT_TEMPFAIL, "%s after %d attempts", m,
		    o->c.retries + 1);
	}
	free(url);
	if (rc != 0)
		return NULL;
	ep_info(2, "fetched access token %lu", o->fetches);
	if (gen != NULL)
		*gen = o->gen;
	return o->token;
}

void
ep_oauth_expire(struct ep_oauth *o, unsigned gen)
{
	if (o != NULL && gen == o->gen)
		o->refresh_at = 0;
}

unsigned long
ep_oauth_fetches(const struct ep_oauth *o)
{
	return o->fetches;
}
