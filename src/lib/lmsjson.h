/*
 * lmsjson.h - reading LMS API replies (lms-fetch, lms-push).
 */
#ifndef EP_LMSJSON_H
#define EP_LMSJSON_H

#include <jansson.h>

#include "http.h"
#include "msg.h"

/*
 * The reply body of r as JSON (any value), or NULL with err (69, naming
 * what and the byte where parsing failed).  The caller owns the result.
 */
json_t *ep_lms_reply_json(const struct ep_http_req *r, const char *what,
    struct ep_error *err);

/*
 * A Moodle Web Services reply: transport and HTTP failures (ep_http_check),
 * a body that is not JSON, and Moodle's error object - which Moodle sends
 * with HTTP 200 - become NULL with err: 77 for a refused token
 * (invalidtoken, or accessexception saying "Invalid token", which is what
 * an expired token gets), other_code for any other Moodle error.
 */
json_t *ep_moodle_reply(const struct ep_http_req *r, const char *what,
    int other_code, struct ep_error *err);

/*
 * The same two on a reply body alone (len bytes, body NULL when len is 0),
 * once the transport and HTTP status have been checked: no request and no
 * network needed, so they can be tested and fuzzed on their own.
 */
json_t *ep_lms_json(const char *body, size_t len, const char *what,
    struct ep_error *err);
json_t *ep_moodle_json(const char *body, size_t len, const char *what,
    int other_code, struct ep_error *err);

#endif
