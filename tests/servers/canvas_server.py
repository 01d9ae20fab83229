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
  GET  /api/v1/accounts/:id/terms       {"enrollment_terms": [...]}, paged
  GET  /api/v1/courses/:id              one course (an object)
  GET  /api/v1/audit/course/courses/:id  {"events": [...]} newest first,
       from "course_events" {"<course id>": [...]}, paged
  GET  /api/v1/courses/:id/sections     those of "sections" for the course,
       else one per course_section_id of its enrollments (named by its
       sis_section_id, else the course name, as Canvas's default section)
  POST /api/v1/accounts/:id/reports/provisioning_csv   parameters[PART]
  GET  /api/v1/accounts/:id/reports/provisioning_csv/:rid
  GET  /files/:rid/download?verifier=V  302 to /_blob/:rid (the CSV; a
       zip when the report asked for several parts)

  POST /api/v1/courses/:ref/enrollments, /api/v1/sections/:ref/enrollments
       enrollment[user_id], enrollment[type] or enrollment[role_id],
       enrollment[enrollment_state]; an existing enrollment of the user in
       that section and role is made active and returned, as Canvas does
  DELETE /api/v1/courses/:ref/enrollments/:id?task=conclude|delete|
       inactivate|deactivate   sets enrollment_state completed, deleted,
       inactive
  POST /api/v1/accounts/:id/sis_imports   a raw enrollments.csv body;
  GET  /api/v1/accounts/:id/sis_imports/:iid   created, then importing,
       then (after sis_polls polls, default 2) imported or
       imported_with_messages with processing_warnings for rows naming an
       unknown user or course; /_reset sis_status=failed makes it end
       failed_with_messages with processing_errors and nothing applied
  POST /api/v1/accounts/:id/sis_imports also takes a zip (enrollments.csv
       in it) and the query parameters diffing_data_set_identifier,
       diffing_drop_status (deleted|completed|inactive, else 400 {"message":
       "Invalid diffing_drop_status"}), diffing_remaster_data_set and
       change_threshold, as sis_imports_api_controller.rb and sis_csv.md
       describe: the rows are compared with the last import of the
       identifier that ended imported[_with_messages]; only new or changed
       rows are applied, and rows gone since get the drop status (default
       deleted); remaster applies the whole file; a file over
       change_threshold percent smaller or larger than the one compared is
       imported whole.  The reply and the status carry
       diffing_data_set_identifier, diffed_against_import_id and
       data.counts.enrollments (rows applied).  /_reset keys:
       sis_disabled=1 (403 {"errors": ["SIS imports are not enabled for
       this account"]}), sis_never_end=1 (every poll says importing),
       sis_status=aborted.
  POST /api/v1/accounts/:ref/admins    user_id (an id or sis_user_id:X),
       role (default AccountAdmin) or role_id, as AdminsController#create:
       the user's admin of that role is made active again if there is one
  DELETE /api/v1/accounts/:ref/admins/:user  role or role_id: that admin
       is deleted and returned, else 404
  GET /_admins  (no token) the admins {"<account id>": [...]}
An account :ref is an id or sis_account_id:X ("accounts" of site.json).
A :ref is an id or sis_course_id:X / sis_section_id:X; user ids may be
sis_user_id:X.  GET enrollments filters user_id and state[] (default
active and invited).

DIR holds site.json {"courses": [...], "users": [...], "enrollments":
{"<course id>": [...]}, "sections": [{id, sis_section_id, course_id}],
"roles": [{id, label, base_role_type}]} and report-PART.csv files.
Writes change the site in memory; /_reset reloads it, /_state shows the
enrollments.  Counters add enroll_posts, enroll_deletes, sis_imports,
sis_polls.

Extra /_reset keys: max_per_page=N, link_lower=1 (header named "link"),
report_polls=N (status polls before complete, default 2),
report_status=error|aborted, expire_downloads=N (the first N downloads of
each report answer 403 as an expired signed URL would),
attachment_host=localhost (the attachment URL names another host: this
server as localhost).  A report's CSV is report-PART-TERM.csv when there
is one for its enrollment_term_id, else report-PART.csv; /files/ downloads
need only their verifier, as on Canvas.  Counters (see lms_common.py) add
reports_started, reports_term_ID (reports started for term ID; _none:
without a term), report_polls, downloads, auth_on_blob (a token sent to
the file host), auth_on_other_host (a token sent to the attachment's
other host).

A hostile server, for the limits lms-fetch and lms-push keep (/_reset
keys, acting on every list page: course, enrollment and user lists):
  next_loop=same     rel="next" names the page just sent, again and again
  next_loop=cycle2   rel="next" goes to page 2, and from page 2 to page 1
  next_loop=endless  rel="next" always names a new (empty) page
  big_body=N         the page is N bytes of valid JSON ('[', spaces, ']')
  gzip_bomb=N        the same N bytes, sent gzip-compressed
                     (Content-Encoding: gzip: a few KB on the wire)
  endless_chunked=1  a chunked body of spaces that never ends (the server
                     stops after 256 MB or when the client hangs up)
  ignore_user_filter=1  GET .../enrollments?user_id= answers with every
                     user's enrollments in the course
  twin_enrollments=1 GET .../enrollments lists each enrollment twice, the
                     copy with id + 100000 (same user, role and section)

The Zoom links of courses (FORMATS.md A3), from DIR/zoom.json {"tabs":
{"<course id>": [tab...]}, "syllabus": {"<course id>": HTML},
"calendar_events": {"<course id>": [event...]}} when it exists:
  GET /api/v1/courses/:id/tabs         Home, then the course's tabs
  GET /api/v1/courses/:id?include[]=syllabus_body
  GET /api/v1/calendar_events?context_codes[]=course_:id  paged

An OAuth 2 API gateway in front of it (as the U-M API Directory, an IBM
API Connect gateway), with --client-id ID --client-secret S [--prefix P]
[--token-ttl S]:
  POST /oauth2/token  client credentials grant (RFC 6749 4.4): HTTP Basic
       ID:S (else 401 invalid_client), grant_type=client_credentials (else
       400 unsupported_grant_type); replies {"access_token": TOKEN-N,
       "token_type": "bearer", "expires_in": TTL, "scope": ...} where
       TOKEN is --token and N counts the tokens issued
  every API path must start with P (else 404) and carry X-IBM-Client-Id:
  ID (else 401) and a token issued here that has not expired (else 401
  {"errors": [{"message": "Invalid access token."}]}).  Counters add
  tokens_issued, token_requests, expired_refused.
  Extra /_reset keys for the token endpoint: token_ttl=S (how long a
  token really lives: a lying expires_in when it differs from
  token_claim), token_claim=V (the expires_in sent, as JSON text: -5,
  "soon", 1e400), token_reply=html|none|big|short (an HTML page; JSON
  without access_token; an endless chunked body of spaces; a 3-byte
  token), and the faults of lms_common (match=oauth2 fault=slow ...).
"""
import argparse
import base64
import gzip
import io
import json
import os
import re
import sys
import time
import zipfile
from urllib.parse import urlencode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lms_common  # noqa: E402

SITE = {}
FIXDIR = ""
TOKEN = ""
REPORTS = {}
GATEWAY = None      # {"id", "secret", "prefix", "ttl"} in gateway mode
ZOOM = {}           # DIR/zoom.json: tabs, syllabus, calendar_events
ISSUED = {}         # token -> expiry (time.monotonic())


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


BASE_TYPES = {"StudentEnrollment": "student", "TeacherEnrollment": "teacher",
              "TaEnrollment": "ta", "ObserverEnrollment": "observer",
              "DesignerEnrollment": "designer"}
DIFFS = {}
TASK_STATE = {"conclude": "completed", "delete": "deleted",
              "inactivate": "inactive", "deactivate": "inactive"}
IMPORTS = {}


def im_id(im):
    return next(k for k, v in IMPORTS.items() if v is im)


def find_course(ref):
    for c in SITE["courses"]:
        if ref == str(c["id"]) or ref == "sis_course_id:%s" % \
                c.get("sis_course_id"):
            return c
    return None


def find_user(ref):
    for u in SITE["users"]:
        if ref == str(u["id"]) or ref == "sis_user_id:%s" % \
                u.get("sis_user_id"):
            return u
    return None


def find_section(ref):
    for s in SITE.get("sections", []):
        if ref == str(s["id"]) or ref == "sis_section_id:%s" % \
                s.get("sis_section_id"):
            return s
    return None


def default_section(course):
    return {"id": 90000 + course["id"], "sis_section_id": None,
            "course_id": course["id"]}


def enroll(course, section, user, type_, role, role_id, state):
    """Create (or reactivate) an enrollment; the enrollment object."""
    lst = SITE["enrollments"].setdefault(str(course["id"]), [])
    for e in lst:
        if e["user_id"] == user["id"] and e["role"] == role and \
                e["course_section_id"] == section["id"] and \
                e["enrollment_state"] != "deleted":
            e["enrollment_state"] = state
            return e
    e = {"id": 70000 + sum(len(v) for v in SITE["enrollments"].values()),
         "course_id": course["id"],
         "sis_course_id": course.get("sis_course_id"),
         "course_section_id": section["id"],
         "sis_section_id": section.get("sis_section_id"),
         "user_id": user["id"], "sis_user_id": user.get("sis_user_id"),
         "type": type_, "role": role, "role_id": role_id,
         "enrollment_state": state,
         "limit_privileges_to_course_section": False,
         "created_at": "2024-09-01T00:00:00Z",
         "user": {k: user.get(k) for k in ("id", "name", "sortable_name",
                                            "short_name", "sis_user_id",
                                            "login_id")}}
    lst.append(e)
    return e


def base_role(name):
    """(type, role, role_id) of a role name or id, or None."""
    for t, n in BASE_TYPES.items():
        if name == n or name == t:
            return t, t, None
    for r in SITE.get("roles", []):
        if name in (r["label"], str(r["id"])):
            return r["base_role_type"], r["label"], r["id"]
    return None


class Canvas(lms_common.Handler):
    def reload(self):
        global SITE, ZOOM
        with open(os.path.join(FIXDIR, "site.json")) as f:
            SITE = json.load(f)
        z = os.path.join(FIXDIR, "zoom.json")
        ZOOM = json.load(open(z)) if os.path.exists(z) else {}
        IMPORTS.clear()
        DIFFS.clear()

    def data(self):
        return SITE["enrollments"]

    def base(self):
        pre = GATEWAY["prefix"] if GATEWAY else ""
        return "http://%s%s" % (self.headers.get("Host"), pre)

    def token_endpoint(self, form):
        ex = self.state.extra
        bump("token_requests")
        want = "Basic " + base64.b64encode(("%s:%s" % (
            GATEWAY["id"], GATEWAY["secret"])).encode()).decode()
        if self.headers.get("Authorization") != want:
            return self.send(401, {"error": "invalid_client"},
                             headers=[("WWW-Authenticate", "Basic")])
        if form.get("grant_type") != ["client_credentials"]:
            return self.send(400, {"error": "unsupported_grant_type"})
        kind = ex.get("token_reply", "")
        if kind == "html":
            return self.send(200, "<html><body>Gateway maintenance"
                             "</body></html>", "text/html")
        if kind == "big":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b" " * 65536
            try:
                self.wfile.write(b"1\r\n{\r\n")
                for _ in range(65536):      # 4 GiB at most
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                pass
            self.close_connection = True
            return None
        with lms_common.LOCK:
            n = self.state.stats.get("tokens_issued", 0) + 1
            self.state.stats["tokens_issued"] = n
            tok = "%s-%d" % (TOKEN, n)
            if kind == "short":
                tok = "abc"
            ttl = float(ex.get("token_ttl", GATEWAY["ttl"]))
            ISSUED[tok] = time.monotonic() + ttl
        claim = ex.get("token_claim", json.dumps(max(1, int(ttl))))
        reply = '{%s"token_type": "bearer", "expires_in": %s, ' \
            '"scope": %s}' % (
                "" if kind == "none" else '"access_token": %s, ' %
                json.dumps(tok), claim,
                json.dumps(form.get("scope", [""])[0]))
        return self.send(200, reply)

    def gateway_auth(self):
        """Whether the request carries a live token (and the client id)."""
        if self.headers.get("X-IBM-Client-Id") != GATEWAY["id"]:
            bump("no_client_id")
            return False
        auth = self.headers.get("Authorization", "")
        tok = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        with lms_common.LOCK:
            exp = ISSUED.get(tok)
        if exp is None:
            return False
        if time.monotonic() >= exp:
            bump("expired_refused")
            return False
        return True

    def not_found(self):
        self.send(404, {"errors": [
            {"message": "The specified resource does not exist."}]})

    def hostile_body(self, ex):
        """Send a reply too large to hold, when asked; True if sent."""
        if "big_body" in ex or "gzip_bomb" in ex:
            n = int(ex.get("big_body") or ex.get("gzip_bomb"))
            body = b"[" + b" " * n + b"]"
            hdrs = []
            if "gzip_bomb" in ex:
                body = gzip.compress(body)
                hdrs = [("Content-Encoding", "gzip")]
            bump("hostile_replies")
            self.send(200, body, headers=hdrs)
            return True
        if ex.get("endless_chunked"):
            bump("hostile_replies")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b" " * 65536
            try:
                self.wfile.write(b"1\r\n[\r\n")
                for _ in range(4096):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                pass
            self.close_connection = True
            return True
        return False

    def page(self, u, q, items, wrap=None):
        ex = self.state.extra
        if self.hostile_body(ex):
            return
        cap = int(ex.get("max_per_page", 100))
        per = min(int(q.get("per_page", ["10"])[0]), cap)
        start = unbookmark(q["page"][0]) if "page" in q else 0
        chunk = items[start:start + per]
        keep = [(k, v) for k, vs in q.items() if k != "page" for v in vs]
        links = ['<%s%s?%s>; rel="current"' % (
            self.base(), u.path, urlencode(keep + [("page", bookmark(
                start))]))]
        loop = ex.get("next_loop")
        nxt = None
        if loop == "same":
            nxt = start
        elif loop == "cycle2":
            nxt = per if start == 0 else 0
        elif loop == "endless" or start + per < len(items):
            nxt = start + per
        if nxt is not None:
            links.append('<%s%s?%s>; rel="next"' % (
                self.base(), u.path, urlencode(keep + [("page", bookmark(
                    nxt))])))
        links.append('<%s%s?%s>; rel="first"' % (
            self.base(), u.path, urlencode(keep + [("page", bookmark(0))])))
        name = "link" if ex.get("link_lower") else "Link"
        self.send(200, {wrap: chunk} if wrap else chunk,
                  headers=[(name, ",".join(links))])

    def api(self, u, q, form, body):
        if u.path == "/_admins":
            with lms_common.LOCK:
                return self.send(200, SITE.get("admins", {}))
        if GATEWAY:
            if u.path == "/oauth2/token" and self.command == "POST":
                return self.token_endpoint(form)
            if not u.path.startswith(GATEWAY["prefix"] + "/"):
                return self.not_found()
            u = u._replace(path=u.path[len(GATEWAY["prefix"]):])
        if u.path.startswith("/_blob/"):
            if self.headers.get("Authorization"):
                bump("auth_on_blob")
            return self.blob(u.path[len("/_blob/"):])
        m = re.fullmatch(r"/files/(\d+)/download", u.path)
        if m and self.command == "GET":
            # The verifier is the authorization, as on Canvas.
            if self.headers.get("Authorization") and \
                    self.headers.get("Host", "").startswith("localhost"):
                bump("auth_on_other_host")
            return self.download(int(m.group(1)), q)
        auth = self.headers.get("Authorization", "")
        if (not self.gateway_auth() if GATEWAY else
                auth != "Bearer " + TOKEN) or self.state.cfg["expire"]:
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
        m = re.fullmatch(r"/api/v1/(courses|sections)/([^/]+)/enrollments",
                         u.path)
        if m and self.command == "POST":
            return self.post_enrollment(m.group(1), m.group(2), form)
        m = re.fullmatch(r"/api/v1/courses/([^/]+)/enrollments/(\d+)",
                         u.path)
        if m and self.command == "DELETE":
            return self.delete_enrollment(m.group(1), int(m.group(2)), q)
        m = re.fullmatch(r"/api/v1/accounts/([^/]+)/admins(?:/([^/]+))?",
                         u.path)
        if m and self.command == "POST" and m.group(2) is None:
            return self.post_admin(m.group(1), form)
        if m and self.command == "DELETE" and m.group(2) is not None:
            return self.delete_admin(m.group(1), m.group(2), q)
        m = re.fullmatch(r"/api/v1/accounts/(\w+)/sis_imports", u.path)
        if m and self.command == "POST":
            return self.start_import(body, q)
        m = re.fullmatch(r"/api/v1/accounts/(\w+)/sis_imports/(\d+)",
                         u.path)
        if m and self.command == "GET":
            return self.poll_import(int(m.group(2)))
        m = re.fullmatch(r"/api/v1/courses/([^/]+)/enrollments", u.path)
        if m and self.command == "GET" and m.group(1) == "403":
            # A real permission refusal: 403 without "Rate Limit".
            return self.send(403, {"status": "unauthorized", "errors": [
                {"message": "user not authorized to perform that action"}]})
        if m and self.command == "GET":
            c = find_course(m.group(1))
            es = SITE["enrollments"].get(str(c["id"])) if c else None
            if es is None:
                return self.not_found()
            types = q.get("type[]")
            if types:
                es = [e for e in es if e["type"] in types]
            states = q.get("state[]", ["active", "invited"])
            es = [e for e in es if e["enrollment_state"] in states]
            if "user_id" in q and not self.state.extra.get(
                    "ignore_user_filter"):
                usr = find_user(q["user_id"][0])
                es = [e for e in es if usr and e["user_id"] == usr["id"]]
            if self.state.extra.get("twin_enrollments"):
                es = [x for e in es for x in (e, dict(e, id=e["id"] +
                                                       100000))]
            return self.page(u, q, es)
        m = re.fullmatch(r"/api/v1/accounts/(\w+)/users", u.path)
        if m and self.command == "GET":
            return self.page(u, q, SITE["users"])
        m = re.fullmatch(r"/api/v1/accounts/(\w+)/terms", u.path)
        if m and self.command == "GET":
            return self.page(u, q, SITE.get("terms", []),
                             wrap="enrollment_terms")
        m = re.fullmatch(r"/api/v1/courses/(\d+|sis_course_id:[^/]+)",
                         u.path)
        if m and self.command == "GET":
            c = find_course(m.group(1))
            if c and "syllabus_body" in q.get("include[]", []):
                c = dict(c, syllabus_body=ZOOM.get("syllabus", {}).get(
                    str(c["id"])))
            return self.send(200, c) if c else self.not_found()
        m = re.fullmatch(r"/api/v1/courses/(\d+)/tabs", u.path)
        if m and self.command == "GET":
            c = find_course(m.group(1))
            if c is None:
                return self.not_found()
            tabs = [{"id": "home", "label": "Home", "type": "internal",
                     "position": 1, "visibility": "public"}]
            tabs += ZOOM.get("tabs", {}).get(str(c["id"]), [])
            return self.send(200, tabs)
        if u.path == "/api/v1/calendar_events" and self.command == "GET":
            evs = []
            for code in q.get("context_codes[]", []):
                evs += ZOOM.get("calendar_events", {}).get(
                    code[len("course_"):], [])
            return self.page(u, q, evs)
        m = re.fullmatch(r"/api/v1/audit/course/courses/(\d+)", u.path)
        if m and self.command == "GET":
            c = find_course(m.group(1))
            if c is None:
                return self.not_found()
            return self.page(u, q, SITE.get("course_events", {}).get(
                str(c["id"]), []), wrap="events")
        m = re.fullmatch(r"/api/v1/courses/([^/]+)/sections", u.path)
        if m and self.command == "GET":
            c = find_course(m.group(1))
            if c is None:
                return self.not_found()
            ss = [s for s in SITE.get("sections", [])
                  if s.get("course_id") == c["id"]]
            if not ss:
                seen = {}
                for e in SITE["enrollments"].get(str(c["id"]), []):
                    sid = e["course_section_id"]
                    if seen.get(sid) is None:
                        seen[sid] = {"id": sid, "course_id": c["id"],
                                     "sis_section_id": e["sis_section_id"],
                                     "name": e["sis_section_id"] or c["name"]}
                ss = list(seen.values())
            return self.page(u, q, ss)
        m = re.fullmatch(r"/api/v1/accounts/(\w+)/reports/provisioning_csv",
                         u.path)
        if m and self.command == "POST":
            return self.start_report(form)
        m = re.fullmatch(
            r"/api/v1/accounts/(\w+)/reports/provisioning_csv/(\d+)", u.path)
        if m and self.command == "GET":
            return self.poll_report(int(m.group(2)))
        self.not_found()

    def post_enrollment(self, kind, ref, form):
        bump("enroll_posts")

        def one(k):
            return form.get("enrollment[%s]" % k, [None])[0]
        with lms_common.LOCK:
            if kind == "courses":
                course = find_course(ref)
                section = default_section(course) if course else None
            else:
                section = find_section(ref)
                course = find_course(str(section["course_id"])) \
                    if section else None
            user = find_user(one("user_id") or "")
            if course is None or user is None:
                return self.not_found()
            br = base_role(one("role_id") or one("type") or "")
            if br is None:
                return self.send(400, {"errors": {"type": [{
                    "attribute": "type", "type": "invalid",
                    "message": "invalid enrollment type"}]}})
            e = enroll(course, section, user, br[0], br[1], br[2],
                       one("enrollment_state") or "invited")
            e = dict(e)
        self.send(200, e)

    def delete_enrollment(self, ref, eid, q):
        bump("enroll_deletes")
        task = q.get("task", ["conclude"])[0]
        with lms_common.LOCK:
            c = find_course(ref)
            e = next((e for e in SITE["enrollments"].get(
                str(c["id"]) if c else "", []) if e["id"] == eid), None)
            if e is None or task not in TASK_STATE:
                return self.not_found()
            e["enrollment_state"] = TASK_STATE[task]
            e = dict(e)
        self.send(200, e)

    def find_account(self, ref):
        for a in SITE.get("accounts", [{"id": 1}]):
            if ref == str(a["id"]) or ref == "sis_account_id:%s" % \
                    a.get("sis_account_id"):
                return a
        return None

    def post_admin(self, ref, form):
        bump("admin_posts")

        def one(k):
            return form.get(k, [None])[0]
        with lms_common.LOCK:
            acct = self.find_account(ref)
            user = find_user(one("user_id") or "")
            if acct is None or user is None:
                return self.not_found()
            role = self.admin_role(one("role"), one("role_id"))
            if role is None:
                return self.send(400, {"errors": [
                    {"message": "role not found"}]})
            lst = SITE.setdefault("admins", {}).setdefault(
                str(acct["id"]), [])
            a = next((a for a in lst if a["user"]["id"] == user["id"] and
                      a["role"] == role[0]), None)
            if a is None:
                a = {"id": 30000 + sum(len(v) for v in
                                       SITE["admins"].values()),
                     "role": role[0], "role_id": role[1],
                     "user": {k: user.get(k) for k in (
                         "id", "name", "sis_user_id", "login_id")}}
                lst.append(a)
            a["workflow_state"] = "active"
            a = dict(a)
        self.send(200, a)

    def admin_role(self, name, rid):
        """(label, id) of an account role by name or id, or None."""
        roles = [("AccountAdmin", 1)] + [
            (r["label"], r["id"]) for r in SITE.get("account_roles", [])]
        for label, i in roles:
            if (rid is not None and rid == str(i)) or \
                    (rid is None and (name or "AccountAdmin") == label):
                return label, i
        return None

    def delete_admin(self, ref, uref, q):
        bump("admin_deletes")
        with lms_common.LOCK:
            acct = self.find_account(ref)
            user = find_user(uref)
            role = self.admin_role(q.get("role", [None])[0],
                                   q.get("role_id", [None])[0])
            lst = SITE.get("admins", {}).get(str(acct["id"]), []) \
                if acct else []
            a = next((a for a in lst if user and role and
                      a["user"]["id"] == user["id"] and
                      a["role"] == role[0] and
                      a["workflow_state"] == "active"), None)
            if a is None:
                return self.not_found()
            a["workflow_state"] = "deleted"
            a = dict(a)
        self.send(200, a)

    def start_import(self, body, q):
        ex = self.state.extra
        if ex.get("sis_disabled"):
            return self.send(403, {"errors": [
                "SIS imports are not enabled for this account"]})
        drop = q.get("diffing_drop_status", [None])[0]
        if drop is not None and drop not in ("deleted", "completed",
                                             "inactive"):
            return self.send(400, {"message": "Invalid diffing_drop_status"})
        bump("sis_imports")
        ident = q.get("diffing_data_set_identifier", [None])[0]
        opts = {"ident": ident, "drop": drop or "deleted",
                "remaster": q.get("diffing_remaster_data_set",
                                  [""])[0] in ("true", "1"),
                "threshold": int(q["change_threshold"][0])
                if "change_threshold" in q else None}
        raw = body.encode("utf-8", "surrogateescape")
        if raw[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(raw)) as z:
                body = z.read("enrollments.csv").decode()
        with lms_common.LOCK:
            iid = len(IMPORTS) + 1
            IMPORTS[iid] = {"csv": body, "polls": 0, "result": None,
                            "ctype": self.headers.get("Content-Type", ""),
                            "opts": opts}
        self.send(200, {"id": iid, "workflow_state": "created",
                        "progress": 0, "diffing_data_set_identifier": ident,
                        "data": {
                            "import_type": q.get("import_type", [""])[0]}})

    def poll_import(self, iid):
        im = IMPORTS.get(iid)
        if im is None:
            return self.not_found()
        bump("sis_polls")
        ex = self.state.extra
        with lms_common.LOCK:
            im["polls"] += 1
            if im["polls"] < int(ex.get("sis_polls", 2)) or \
                    ex.get("sis_never_end"):
                obj = {"id": iid, "workflow_state": "importing",
                       "progress": 50}
            else:
                if im["result"] is None:
                    im["result"] = self.run_import(im, ex)
                obj = dict(im["result"], id=iid, progress=100)
        self.send(200, obj)

    def run_import(self, im, ex):
        import csv as csvmod
        if ex.get("sis_status") == "aborted":
            return {"workflow_state": "aborted", "processing_errors": [],
                    "processing_warnings": []}
        if ex.get("sis_status") == "failed":
            return {"workflow_state": "failed_with_messages",
                    "processing_errors": [["enrollments.csv", "Error while "
                                           "importing CSV. Please contact "
                                           "support."]],
                    "processing_warnings": []}
        warns = []
        if not im["ctype"].startswith(("text/csv", "application/zip")):
            warns.append(["", "Couldn't find Canvas CSV import headers"])
        rows = list(csvmod.DictReader(io.StringIO(im["csv"])))
        opts = im.get("opts") or {"ident": None}
        ident, diffed = opts["ident"], None
        full = rows
        prev = DIFFS.get(ident) if ident else None
        if prev and not opts["remaster"] and not (
                opts["threshold"] and prev[1] and
                abs(len(rows) - len(prev[1])) * 100 >
                opts["threshold"] * len(prev[1])):
            def key(r):
                return (r["course_id"], r["user_id"], r["role"],
                        r.get("section_id") or "")
            old = {tuple(sorted(r.items())) for r in prev[1]}
            keys = {key(r) for r in rows}
            rows = [r for r in rows if tuple(sorted(r.items())) not in old]
            rows += [dict(r, status=opts["drop"]) for r in prev[1]
                     if key(r) not in keys]
            diffed = prev[0]
        applied = 0
        for row in rows:
            course = find_course("sis_course_id:%s" % row["course_id"])
            user = find_user("sis_user_id:%s" % row["user_id"])
            sec = find_section("sis_section_id:%s" % row["section_id"]) \
                if row.get("section_id") else None
            if course is None or user is None:
                warns.append(["enrollments.csv", (
                    "Neither course nor section existed for user enrollment "
                    "(Course ID: %s, Section ID: %s, User ID: %s)" if not
                    course else "User not found for enrollment (User ID: "
                    "%s, Course ID: %s, Section ID: %s, Role: %s)") % ((
                        row["course_id"], row["section_id"], row["user_id"])
                    if not course else (row["user_id"], row["course_id"],
                                        row["section_id"], row["role"]))])
                continue
            br = base_role(row["role"])
            if br is None:
                warns.append(["enrollments.csv", "Improper role \"%s\" for "
                              "an enrollment (User ID: %s, Course ID: %s)" % (
                                  row["role"], row["user_id"],
                                  row["course_id"])])
                continue
            section = sec or default_section(course)
            applied += 1
            st = row["status"]
            if st == "active":
                enroll(course, section, user, br[0], br[1], br[2], "active")
                continue
            for e in SITE["enrollments"].get(str(course["id"]), []):
                if e["user_id"] == user["id"] and e["role"] == br[1] and \
                        (sec is None or e["course_section_id"] == sec["id"]):
                    e["enrollment_state"] = st
        if ident:
            DIFFS[ident] = (im_id(im), full)
        return {"workflow_state": "imported_with_messages" if warns else
                "imported", "processing_warnings": warns,
                "processing_errors": [], "diffing_data_set_identifier": ident,
                "diffed_against_import_id": diffed,
                "data": {"import_type": "instructure_csv",
                         "counts": {"enrollments": applied}}}

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
        bump("reports_term_" + (REPORTS[rid]["term"] or "none"))
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
            base = self.base()
            if ex.get("attachment_host"):
                base = "http://%s:%d" % (ex["attachment_host"],
                                         self.server.server_address[1])
            obj["attachment"] = {
                "id": rid, "filename": name,
                "url": "%s/files/%d/download?download_frd=1&verifier=v%d" % (
                    base, rid, r["verifier"])}
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
            # report-PART-TERM.csv for that term's report, when there is
            # one; else report-PART.csv.
            name = os.path.join(FIXDIR, "report-%s-%s.csv" % (part,
                                                               r["term"]))
            if not os.path.exists(name):
                name = os.path.join(FIXDIR, "report-%s.csv" % part)
            with open(name, "rb") as f:
                return f.read()
        if len(r["parts"]) == 1:
            return self.send(200, csv(r["parts"][0]), "text/csv")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for p in r["parts"]:
                z.writestr(p + ".csv", csv(p))
        self.send(200, buf.getvalue(), "application/zip")


def main():
    global SITE, FIXDIR, TOKEN, GATEWAY
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--token", required=True)
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--client-id")
    ap.add_argument("--client-secret")
    ap.add_argument("--prefix", default="")
    ap.add_argument("--token-ttl", type=float, default=3600)
    a = ap.parse_args()
    TOKEN = a.token
    if a.client_id:
        GATEWAY = {"id": a.client_id, "secret": a.client_secret,
                   "prefix": "/" + a.prefix.strip("/") if a.prefix else "",
                   "ttl": a.token_ttl}
    FIXDIR = a.fixture
    Canvas.reload(None)
    lms_common.serve(Canvas, a.port, a.delay_ms, a.tls)


if __name__ == "__main__":
    main()
