#!/usr/bin/env python3
"""zoom_server - a Zoom REST API (v2) stand-in for tests, on 127.0.0.1.

    zoom_server.py PORT --token TOKEN --fixture DIR --client-id ID
                   --client-secret S --account A [--delay-ms MS]

Follows Zoom's documentation (developers.zoom.us: Server-to-Server OAuth,
Meetings API, rate limits):

  POST /oauth/token?grant_type=account_credentials&account_id=A
       HTTP Basic ID:S (else 401 {"reason": "Invalid client_id or
       client_secret", "error": "invalid_client"}); another account id
       gives 400 invalid_request.  Replies {"access_token": TOKEN-N,
       "token_type": "bearer", "expires_in": 3599, "scope": ...}.
  GET  /v2/meetings/:id   one meeting of the fixture, else 404
       {"code": 3001, "message": "Meeting does not exist: ID."}
  GET  /v2/past_meetings/:id/participants?page_size=N&next_page_token=T
       {"page_count", "page_size", "total_records", "next_page_token",
       "participants": [...]}; page_size default 30, at most 300 (or
       max_page_size); the token is opaque, "" on the last page.
  A missing, unknown or expired token: 401 {"code": 124, "message":
  "Invalid access token."}.

Throttling as Zoom documents it: 429 {"code": 429, "message": "You have
reached the maximum per-second rate limit for this API. Try again
later."} with Retry-After, X-RateLimit-Category (Light), X-RateLimit-Type
(QPS, or Daily-limit with /_reset daily=1), X-RateLimit-Limit and
X-RateLimit-Remaining: the lms_common fault=429 (match=, every=, times=,
retry_after=).

DIR/site.json: {"meetings": {"<id>": {...}}, "participants": {"<id>":
[...]}}.  Extra /_reset keys: max_page_size=N, next_loop=same (the
next_page_token of every page is the one just used, or the first page's
again), token_ttl=S (a token dies after S seconds whatever expires_in
says), gone=ID[,ID...] (those meetings' participants answer 404 code
3001, as for a meeting deleted after it was listed; with gone_from=N
only the pages from offset N on: a meeting deleted while it is read).
Counters (lms_common) add tokens_issued, token_requests.
"""
import argparse
import base64
import json
import os
import sys
import time
from urllib.parse import parse_qs

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lms_common  # noqa: E402

SITE = {}
FIXDIR = ""
TOKEN = ""
CONF = {}
ISSUED = {}


def bump(name, n=1):
    with lms_common.LOCK:
        st = Zoom.state.stats
        st[name] = st.get(name, 0) + n


def page_token(n):
    return base64.urlsafe_b64encode(b"zp:%d" % n).decode().rstrip("=")


def page_offset(t):
    return int(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))[3:])


class Zoom(lms_common.Handler):
    def reload(self):
        global SITE
        with open(os.path.join(FIXDIR, "site.json")) as f:
            SITE = json.load(f)

    def fault(self, fault, key):
        if fault != "429":
            return super().fault(fault, key)
        ra = self.state.cfg["retry_after"]
        if ra:
            with lms_common.LOCK:
                self.state.not_before[key] = time.monotonic() + ra
        daily = self.state.extra.get("daily")
        hdrs = [("X-RateLimit-Category", "Light"),
                ("X-RateLimit-Type", "Daily-limit" if daily else "QPS"),
                ("X-RateLimit-Limit", "30"),
                ("X-RateLimit-Remaining", "0")]
        if ra:
            hdrs.append(("Retry-After", str(ra)))
        self.send(429, {"code": 429, "message": "You have reached the "
                        "maximum per-second rate limit for this API. Try "
                        "again later."}, headers=hdrs)

    def token(self, q):
        bump("token_requests")
        want = "Basic " + base64.b64encode(("%s:%s" % (
            CONF["id"], CONF["secret"])).encode()).decode()
        if self.headers.get("Authorization") != want:
            return self.send(401, {"reason": "Invalid client_id or "
                                   "client_secret", "error":
                                   "invalid_client"})
        if q.get("grant_type") != ["account_credentials"] or \
                q.get("account_id") != [CONF["account"]]:
            return self.send(400, {"reason": "Invalid account_id",
                                   "error": "invalid_request"})
        ttl = float(self.state.extra.get("token_ttl", 3599))
        with lms_common.LOCK:
            n = self.state.stats.get("tokens_issued", 0) + 1
            self.state.stats["tokens_issued"] = n
            tok = "%s-%d" % (TOKEN, n)
            ISSUED[tok] = time.monotonic() + ttl
        return self.send(200, {"access_token": tok, "token_type": "bearer",
                               "expires_in": 3599,
                               "scope": "meeting:read:admin "
                               "report:read:admin",
                               "api_url": "https://api.zoom.us"})

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        tok = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        with lms_common.LOCK:
            exp = ISSUED.get(tok)
        return exp is not None and time.monotonic() < exp

    def api(self, u, q, form, body):
        if u.path == "/oauth/token" and self.command == "POST":
            return self.token(q)
        if not self.authorized():
            return self.send(401, {"code": 124,
                                   "message": "Invalid access token."})
        parts = u.path.strip("/").split("/")
        if len(parts) == 3 and parts[:2] == ["v2", "meetings"]:
            m = SITE["meetings"].get(parts[2])
            if m is None:
                return self.send(404, {"code": 3001, "message":
                                       "Meeting does not exist: %s." %
                                       parts[2]})
            return self.send(200, m)
        if len(parts) == 4 and parts[:2] == ["v2", "past_meetings"] and \
                parts[3] == "participants":
            ps = SITE["participants"].get(parts[2])
            ex = self.state.extra
            tok = q.get("next_page_token", [""])[0]
            start = page_offset(tok) if tok else 0
            if parts[2] in ex.get("gone", "").split(",") and \
                    start >= int(ex.get("gone_from", 0)):
                ps = None
            if ps is None:
                return self.send(404, {"code": 3001, "message":
                                       "Meeting does not exist: %s." %
                                       parts[2]})
            cap = int(ex.get("max_page_size", 300))
            size = min(int(q.get("page_size", ["30"])[0]), cap)
            chunk = ps[start:start + size]
            nxt = ""
            if ex.get("next_loop") == "same":
                nxt = tok or page_token(start)
            elif start + size < len(ps):
                nxt = page_token(start + size)
            return self.send(200, {
                "page_count": (len(ps) + size - 1) // size,
                "page_size": size, "total_records": len(ps),
                "next_page_token": nxt, "participants": chunk})
        return self.send(404, {"code": 404, "message": "Not Found"})


def main():
    global FIXDIR, TOKEN
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--token", required=True)
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--client-secret", required=True)
    ap.add_argument("--account", required=True)
    ap.add_argument("--delay-ms", type=int, default=0)
    a = ap.parse_args()
    TOKEN = a.token
    FIXDIR = a.fixture
    CONF.update(id=a.client_id, secret=a.client_secret, account=a.account)
    Zoom.reload(None)
    lms_common.serve(Zoom, a.port, a.delay_ms)


if __name__ == "__main__":
    main()
