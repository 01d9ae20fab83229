#!/usr/bin/env python3
"""canvas_server - a Canvas REST API stand-in for tests.

    canvas_server.py PORT --token TOKEN --fixture DIR [--delay-ms MS]
                     [--tls CERT KEY]

Follows the Canvas API documentation (doc/api/pagination.md, throttling.md,
account_reports_controller.rb): Authorization: Bearer TOKEN; lists are
paged with per_page (default 10, at most max_per_page, 100) and a Link
header of absolute URLs with opaque bookmark page tokens (rel current,
first, next; no last); an unknown token gives 401 with WWW-Authenticate.

  GET  /api/v1/accounts/:id/courses    enrollment_term_id filters
  GET  /api/v1/courses/:id/enrollments  type[] filters (course 403:
       a permission refusal)
  GET  /api/v1/accounts/:id/users
  POST /api/v1/accounts/:id/reports/provisioning_csv   parameters[PART]
  GET  /api/v1/accounts/:id/reports/provisioning_csv/:rid
  GET  /files/:rid/download?verifier=V  302 to /_blob/:rid (the CSV; a
       zip when the report asked for several parts)

DIR holds site.json {"courses": [...], "users": [...], "enrollments":
{"<course id>": [...]}} and report-PART.csv files.

Extra /_reset keys: max_per_page=N, link_lower=1 (header named "link"),
report_polls=N (status polls before complete, default 2),
report_status=error|aborted, expire_downloads=N (the first N downloads of
each report answer 403 as an expired signed URL would).  Counters (see
lms_common.py) add reports_started, report_polls, downloads,
auth_on_blob (a token sent to the file host).
"""
import argparse
import base64
import io
import json
import os
import re
import sys
import zipfile
from urllib.parse import urlencode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lms_common  # noqa: E402

SITE = {}
FIXDIR = ""
TOKEN = ""
REPORTS = {}


def bookmark(n):
    return "bookmark:" + base64.urlsafe_b64encode(
        json.dumps([n]).encode()).decode().rstrip("=")


def unbookmark(s):
    s = s[len("bookmark:"):]
    return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))[0]


def bump(name, n=1):
    with lms_common.LOCK:
        st = Canvas.state.stats
        st[name] = st.get(name, 0) + n


class Canvas(lms_common.Handler):
    def base(self):
        return "http://%s" % self.headers.get("Host")

    def not_found(self):
        self.send(404, {"errors": [
            {"message": "The specified resource does not exist."}]})

    def page(self, u, q, items):
        ex = self.state.extra
        cap = int(ex.get("max_per_page", 100))
        per = min(int(q.get("per_page", ["10"])[0]), cap)
        start = unbookmark(q["page"][0]) if "page" in q else 0
        chunk = items[start:start + per]
        keep = [(k, v) for k, vs in q.items() if k != "page" for v in vs]
        links = ['<%s%s?%s>; rel="current"' % (
            self.base(), u.path, urlencode(keep + [("page", bookmark(
                start))]))]
        if start + per < len(items):
            links.append('<%s%s?%s>; rel="next"' % (
                self.base(), u.path, urlencode(keep + [("page", bookmark(
                    start + per))])))
        links.append('<%s%s?%s>; rel="first"' % (
            self.base(), u.path, urlencode(keep + [("page", bookmark(0))])))
        name = "link" if ex.get("link_lower") else "Link"
        self.send(200, chunk, headers=[(name, ",".join(links))])

    def api(self, u, q, form, body):
        if u.path.startswith("/_blob/"):
            if self.headers.get("Authorization"):
                bump("auth_on_blob")
            return self.blob(u.path[len("/_blob/"):])
        auth = self.headers.get("Authorization", "")
        if auth != "Bearer " + TOKEN or self.state.cfg["expire"]:
            self.send(401, {"errors": [{"message":
                                        "Invalid access token."}]},
                      headers=[("WWW-Authenticate",
                                'Bearer realm="canvas-lms"')])
            return
        m = re.fullmatch(r"/api/v1/accounts/(\w+)/courses", u.path)
        if m and self.command == "GET":
            cs = [c for c in SITE["courses"]
                  if str(c.get("account_id")) == m.group(1)]
            if "enrollment_term_id" in q:
                t = q["enrollment_term_id"][0]
                cs = [c for c in cs if str(c.get("enrollment_term_id")) == t]
            return self.page(u, q, cs)
        m = re.fullmatch(r"/api/v1/courses/(\w+)/enrollments", u.path)
        if m and self.command == "GET" and m.group(1) == "403":
            # A real permission refusal: 403 without "Rate Limit".
            return self.send(403, {"status": "unauthorized", "errors": [
                {"message": "user not authorized to perform that action"}]})
        if m and self.command == "GET":
            es = SITE["enrollments"].get(m.group(1))
            if es is None:
                return self.not_found()
            types = q.get("type[]")
            if types:
                es = [e for e in es if e["type"] in types]
            return self.page(u, q, es)
        m = re.fullmatch(r"/api/v1/accounts/(\w+)/users", u.path)
        if m and self.command == "GET":
            return self.page(u, q, SITE["users"])
        m = re.fullmatch(r"/api/v1/accounts/(\w+)/reports/provisioning_csv",
                         u.path)
        if m and self.command == "POST":
            return self.start_report(form)
        m = re.fullmatch(
            r"/api/v1/accounts/(\w+)/reports/provisioning_csv/(\d+)", u.path)
        if m and self.command == "GET":
            return self.poll_report(int(m.group(2)))
        m = re.fullmatch(r"/files/(\d+)/download", u.path)
        if m and self.command == "GET":
            return self.download(int(m.group(1)), q)
        self.not_found()

    def start_report(self, form):
        parts = [k[len("parameters["):-1] for k, v in form.items()
                 if k.startswith("parameters[") and v[0] == "true"
                 and k not in ("parameters[skip_message]",)]
        with lms_common.LOCK:
            rid = len(REPORTS) + 1
            REPORTS[rid] = {"parts": parts, "polls": 0, "verifier": 0,
                            "downloads": 0,
                            "term": form.get(
                                "parameters[enrollment_term_id]", [""])[0]}
        bump("reports_started")
        self.send(200, {"id": rid, "report": "provisioning_csv",
                        "status": "created", "progress": 0,
                        "parameters": {p: True for p in parts}})

    def poll_report(self, rid):
        r = REPORTS.get(rid)
        if r is None:
            return self.not_found()
        bump("report_polls")
        ex = self.state.extra
        with lms_common.LOCK:
            r["polls"] += 1
            polls = r["polls"]
        obj = {"id": rid, "report": "provisioning_csv", "progress": 50,
               "parameters": {"enrollment_term_id": r["term"]}}
        if polls < int(ex.get("report_polls", 2)):
            obj["status"] = "running"
        elif ex.get("report_status"):
            obj["status"] = ex["report_status"]
            obj["parameters"]["extra_text"] = "Generating the report failed."
        else:
            with lms_common.LOCK:
                r["verifier"] += 1
            obj["status"] = "complete"
            obj["progress"] = 100
            name = "provisioning.zip" if len(r["parts"]) > 1 else \
                "provisioning_%s.csv" % r["parts"][0]
            obj["attachment"] = {
                "id": rid, "filename": name,
                "url": "%s/files/%d/download?download_frd=1&verifier=v%d" % (
                    self.base(), rid, r["verifier"])}
        self.send(200, obj)

    def download(self, rid, q):
        r = REPORTS.get(rid)
        if r is None:
            return self.not_found()
        bump("downloads")
        with lms_common.LOCK:
            r["downloads"] += 1
            n = r["downloads"]
        if n <= int(self.state.extra.get("expire_downloads", 0)) or \
                q.get("verifier", [""])[0] != "v%d" % r["verifier"]:
            self.send(403, {"errors": [{"message":
                                        "The signed URL has expired"}]})
            return
        self.send(302, "", "text/plain",
                  [("Location", "%s/_blob/%d?sig=abc" % (self.base(), rid))])

    def blob(self, rid):
        r = REPORTS.get(int(rid))
        if r is None:
            return self.not_found()

        def csv(part):
            with open(os.path.join(FIXDIR, "report-%s.csv" % part), "rb") as f:
                return f.read()
        if len(r["parts"]) == 1:
            return self.send(200, csv(r["parts"][0]), "text/csv")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for p in r["parts"]:
                z.writestr(p + ".csv", csv(p))
        self.send(200, buf.getvalue(), "application/zip")


def main():
    global SITE, FIXDIR, TOKEN
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--token", required=True)
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    a = ap.parse_args()
    TOKEN = a.token
    FIXDIR = a.fixture
    with open(os.path.join(FIXDIR, "site.json")) as f:
        SITE = json.load(f)
    lms_common.serve(Canvas, a.port, a.delay_ms, a.tls)


if __name__ == "__main__":
    main()
