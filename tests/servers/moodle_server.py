#!/usr/bin/env python3
"""moodle_server - a Moodle Web Services (REST protocol) stand-in for tests.

    moodle_server.py PORT --token TOKEN (--fixture SITE.json | --synthetic C:U)
                     [--delay-ms MS]

Serves /webservice/rest/server.php as Moodle does (moodle webservice/rest/
locallib.php): parameters in the query string or an x-www-form-urlencoded
body; wstoken, wsfunction, moodlewsrestformat=json; failures are HTTP 200
with {"exception", "errorcode", "message"}.  Functions:

  core_enrol_get_enrolled_users courseid=N   the users of course N, each
      with roles[] {roleid, name, shortname, sortorder}
  core_course_get_courses_by_field [field, value]   {"courses": [...],
      "warnings": []}; field '' (all), id, ids, shortname, idnumber,
      category

SITE.json: {"courses": [{id, shortname, fullname, ...}],
            "enrolled": {"<courseid>": [user, ...]}}
--synthetic C:U makes C courses (ids 1..C) of U users each.
Fault injection and counters: see lms_common.py.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lms_common  # noqa: E402

SITE = {}
TOKEN = ""


def err(exception, code, message):
    return {"exception": exception, "errorcode": code, "message": message}


class Moodle(lms_common.Handler):
    def api(self, u, q, form, body):
        p = dict(q)
        p.update(form)

        def one(k, d=None):
            return p[k][0] if k in p else d
        if u.path != "/webservice/rest/server.php":
            self.send(404, "<html>Not found</html>", "text/html")
            return
        if one("moodlewsrestformat") != "json":
            self.send(200, "<?xml version=\"1.0\"?><EXCEPTION/>",
                      "application/xml")
            return
        tok = one("wstoken")
        if tok != TOKEN:
            self.send(200, err("moodle_exception", "invalidtoken",
                               "Invalid token - token not found"))
            return
        if self.state.cfg["expire"]:
            self.send(200, err(
                "webservice_access_exception", "accessexception",
                "Access control exception (Invalid token - token expired "
                "- check validuntil time for the token)"))
            return
        fn = one("wsfunction")
        if fn == "core_enrol_get_enrolled_users":
            cid = one("courseid")
            if cid is None:
                self.send(200, err(
                    "invalid_parameter_exception", "invalidparameter",
                    "Invalid parameter value detected (Missing required "
                    "key in single structure: courseid)"))
                return
            users = enrolled(cid)
            if users is None:
                self.send(200, err(
                    "dml_missing_record_exception", "invalidrecord",
                    "Can't find data record in database table course."))
                return
            self.send(200, users)
        elif fn == "core_course_get_courses_by_field":
            field, value = one("field", ""), one("value", "")
            self.send(200, {"courses": courses_by(field, value),
                            "warnings": []})
        else:
            self.send(200, err(
                "dml_missing_record_exception", "invalidrecord",
                "Can't find data record in database table "
                "external_functions."))


def enrolled(cid):
    if "synthetic" in SITE:
        c, n = SITE["synthetic"]
        i = int(cid)
        if not 1 <= i <= c:
            return None
        return [{"id": i * 100000 + k, "username": "u%d" % k,
                 "fullname": "User %d" % k, "email": "u%d@example.edu" % k,
                 "idnumber": "%06d" % k,
                 "roles": [{"roleid": 5, "name": "", "shortname": "student",
                            "sortorder": 0}]} for k in range(n)]
    if not any(str(c["id"]) == cid for c in SITE["courses"]):
        return None
    return SITE["enrolled"].get(cid, [])


def courses_by(field, value):
    if "synthetic" in SITE:
        all_c = [{"id": i, "shortname": "C%d" % i, "fullname": "Course %d"
                  % i} for i in range(1, SITE["synthetic"][0] + 1)]
    else:
        all_c = SITE["courses"]
    if field == "":
        return all_c
    if field == "ids":
        want = set(value.split(","))
        return [c for c in all_c if str(c["id"]) in want]
    if field == "category":
        field = "categoryid"
    return [c for c in all_c if str(c.get(field, "")) == value]


def main():
    global SITE, TOKEN
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--token", required=True)
    ap.add_argument("--fixture")
    ap.add_argument("--synthetic")
    ap.add_argument("--delay-ms", type=int, default=0)
    a = ap.parse_args()
    TOKEN = a.token
    if a.synthetic:
        c, n = a.synthetic.split(":")
        SITE = {"synthetic": (int(c), int(n))}
    else:
        with open(a.fixture) as f:
            SITE = json.load(f)
    lms_common.serve(Moodle, a.port, a.delay_ms)


if __name__ == "__main__":
    main()
