#!/usr/bin/env python3
"""kaltura_server - a Kaltura API v3 test server for lms-fetch kaltura.

  kaltura_server.py PORT --token SECRET --fixture FILE [--partner-id N]
                    [--generate N] [--ks-log FILE]

Listens on 127.0.0.1:PORT and answers, as the Kaltura API documents:

  POST /api_v3/service/session/action/start   secret, partnerId, type
      -> the KS as a JSON string (format=1), or a KalturaAPIException
         START_SESSION_ERROR in HTTP 200 for a wrong secret or partner
  POST /api_v3/service/media/action/list      ks, filter[...], pager[...]
      -> {"objectType": "KalturaMediaListResponse", "totalCount",
          "objects": [KalturaMediaEntry...]}
         filter: categoriesFullNameIn (an entry matches when one of its
         categories is a named one or below it), createdAtGreaterThanOrEqual,
         idNotIn, orderBy +createdAt; pager: pageSize (at most 500),
         pageIndex from 1.  Past the max_matches'th match (10000, as
         Kaltura) the reply is QUERY_EXCEEDED_MAX_MATCHES_ALLOWED; a bad
         ks is INVALID_KS; both as exception objects in HTTP 200.

The media come from FIXTURE (a JSON list of entries: id, name, createdAt,
updatedAt, duration, categories, ...), read again on every /_reset, and
--generate N adds N synthetic entries (three per second).  --ks-log FILE
gets every KS issued, one a line, appended as it is issued, so that a
test can look for them in what the program wrote.

Test endpoints:
  GET /_reset?KEY=VALUE...   reload the fixture, clear counters, faults:
      fault=exception   media.list answers an exception object (HTTP 200)
      fault=invalid_ks  media.list answers INVALID_KS quoting the KS sent,
                        as Kaltura does for an expired session
      fault=repeat      page 2 and later repeat page 1
      fault=huge        media.list answers 2 MB of entries
      fault=stall       media.list never answers (sleeps 60 s)
      max_matches=N     Kaltura's match limit (default 10000)
      generate=N        N synthetic entries instead of --generate's
  GET /_stats   {"requests", "sessions", "lists", "secret_in_url",
                 "windows": [createdAtGreaterThanOrEqual of each page 1]}
"""
import argparse
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()


def exception(code, message):
    return {"objectType": "KalturaAPIException", "code": code,
            "message": message, "args": {}}


class State:
    def __init__(self, args):
        self.args = args
        self.reset({})

    def reset(self, q):
        with open(self.args.fixture, encoding="utf-8") as fp:
            media = json.load(fp)
        base = 1600000000
        for i in range(int(q.get("generate", [self.args.generate])[0])):
            media.append({"objectType": "KalturaMediaEntry",
                          "id": "1_g%06d" % i, "name": "generated %d" % i,
                          "createdAt": base + i // 3,
                          "updatedAt": base + i // 3, "duration": i % 600,
                          "categories": "Canvas_UMich>site>channels>%d"
                          % (100 + i % 7), "mediaType": 1})
        self.media = media
        self.fault = q.get("fault", [""])[0]
        self.max_matches = int(q.get("max_matches", ["10000"])[0])
        self.ks = set()
        self.stats = {"requests": 0, "sessions": 0, "lists": 0,
                      "secret_in_url": 0, "windows": []}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def reply(self, obj, status=200, raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query)
        st = self.server.state
        if u.path == "/_reset":
            with LOCK:
                st.reset(q)
            return self.reply({"ok": True})
        if u.path == "/_stats":
            with LOCK:
                return self.reply(st.stats)
        return self.reply(exception("SERVICE_DOES_NOT_EXISTS",
                                    "use POST"), 404)

    def do_POST(self):
        u = urlsplit(self.path)
        n = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in
                parse_qs(self.rfile.read(n).decode(),
                         keep_blank_values=True).items()}
        st = self.server.state
        args = st.args
        with LOCK:
            st.stats["requests"] += 1
            if args.token in u.query or any(
                    k in u.query for k in st.ks):
                st.stats["secret_in_url"] += 1
        if form.get("format") != "1":
            return self.reply(None, raw=b"<xml><result/></xml>")
        if u.path == "/api_v3/service/session/action/start":
            with LOCK:
                st.stats["sessions"] += 1
            if (form.get("secret") != args.token or
                    form.get("partnerId") != str(args.partner_id)):
                return self.reply(exception(
                    "START_SESSION_ERROR", "Error while starting session "
                    "for partner [%s]" % form.get("partnerId")))
            ks = "djJ8" + secrets.token_hex(24)
            with LOCK:
                st.ks.add(ks)
                if args.ks_log:
                    with open(args.ks_log, "a", encoding="utf-8") as fp:
                        fp.write(ks + "\n")
            return self.reply(ks)
        if u.path != "/api_v3/service/media/action/list":
            return self.reply(exception("SERVICE_DOES_NOT_EXISTS",
                                        "no such service"))
        with LOCK:
            st.stats["lists"] += 1
            known = form.get("ks") in st.ks
        if not known or st.fault == "invalid_ks":
            return self.reply(exception("INVALID_KS",
                                        "Invalid KS \"%s\"" %
                                        form.get("ks", "")))
        if st.fault == "exception":
            return self.reply(exception("INTERNAL_SERVERERROR",
                                        "Internal server error occurred"))
        if st.fault == "stall":
            time.sleep(60)
            return None
        since = int(form.get("filter[createdAtGreaterThanOrEqual]", "0"))
        cats = [c for c in form.get("filter[categoriesFullNameIn]",
                                    "").split(",") if c]
        not_in = set(x for x in form.get("filter[idNotIn]", "").split(",")
                     if x)
        size = min(int(form.get("pager[pageSize]", "30")), 500)
        page = int(form.get("pager[pageIndex]", "1"))
        if page == 1:
            with LOCK:
                st.stats["windows"].append(since)

        def in_cats(e):
            if not cats:
                return True
            for c in (e.get("categories") or "").split(","):
                for want in cats:
                    if c == want or c.startswith(want + ">"):
                        return True
            return False
        hits = [e for e in st.media if e["createdAt"] >= since
                and e["id"] not in not_in and in_cats(e)]
        if form.get("filter[orderBy]") == "+createdAt":
            hits.sort(key=lambda e: e["createdAt"])
        if page * size > st.max_matches:
            return self.reply(exception(
                "QUERY_EXCEEDED_MAX_MATCHES_ALLOWED",
                "Unable to generate list. max matches value was reached"))
        if st.fault == "repeat":
            page = 1
        objs = hits[(page - 1) * size:page * size]
        if st.fault == "huge":
            objs = [{"objectType": "KalturaMediaEntry", "id": "1_h%d" % i,
                     "name": "x" * 2000, "createdAt": since}
                    for i in range(1000)]
        return self.reply({"objectType": "KalturaMediaListResponse",
                           "totalCount": len(hits), "objects": objs})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--token", required=True)
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--partner-id", type=int, default=1234567)
    ap.add_argument("--generate", type=int, default=0)
    ap.add_argument("--ks-log")
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.state = State(args)
    srv.serve_forever()


if __name__ == "__main__":
    main()
