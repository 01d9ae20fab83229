/*
 * lmsjson.c - JSON replies of the LMS APIs, and Moodle's error object.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lmsjson.h"

json_t *
ep_lms_json(const char *body, size_t len, const char *what,
    struct ep_error *err)
{
	json_error_t je;
	json_t *j = json_loadb(body ? body : "", body ? len : 0,
	    JSON_DECODE_ANY, &je);

	if (j == NULL)
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "%s: the reply is not "
		    "JSON: %s (byte %zu of %zu)", what, je.text,
		    (size_t)je.position, body ? len : 0);
	return j;
}

json_t *
ep_lms_reply_json(const struct ep_http_req *r, const char *what,
    struct ep_error *err)
{
	return ep_lms_json(r->resp, r->resp_len, what, err);
}

json_t *
ep_moodle_reply(const struct ep_http_req *r, const char *what,
    int other_code, struct ep_error *err)
{
	if (ep_http_check(r, err) < 0)
		return NULL;
	return ep_moodle_json(r->resp, r->resp_len, what, other_code, err);
}

json_t *
ep_moodle_json(const char *body, size_t len, const char *what,
    int other_code, struct ep_error *err)
{
	json_t *j, *exc;

	j = ep_lms_json(body, len, what, err);
	if (j == NULL)
		return NULL;
	exc = json_is_object(j) ? json_object_get(j, "exception") : NULL;
	if (exc != NULL) {
		const char *code = json_string_value(json_object_get(j,
		    "errorcode"));
		const char *msg = json_string_value(json_object_get(j,
		    "message"));
		bool auth = code != NULL && (strcmp(code, "invalidtoken") == 0 ||
		    (strcmp(code, "accessexception") == 0 && msg != NULL &&
		    strcasestr(msg, "invalid token") != NULL));

		const char *text = msg ? msg : json_string_value(exc) ?
		    json_string_value(exc) : "(no message)";
		/* Moodle's text may quote the request (wstoken and all),
		 * whole or cut short: a masked excerpt of it. */
		char *ex = ep_mask_excerpt(text, strlen(text),
		    EP_SERVER_TEXT_MAX);

		ep_error_set(err, auth ? EP_EXIT_NOPERM : other_code,
		    "%s: Moodle error %s: %s", what, code ? code : "(none)",
		    ex);
		free(ex);
		json_decref(j);
		return NULL;
	}
	return j;
}
