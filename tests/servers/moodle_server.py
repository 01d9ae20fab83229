#!/usr/bin/env python3
"""moodle_server - a Moodle Web Services (REST protocol) stand-in for tests.

    moodle_server.py PORT --token TOKEN (--fixture SITE.json | --synthetic C:U)
                     [--delay-ms MS]

Serves /webservice/rest/server.php as Moodle does (moodle webservice/rest/
locallib.php): parameters in the query string or an x-www-form-urlencoded
body; wstoken, wsfunction, moodlewsrestformat=json; failures are HTTP 200
with {"exception", "errorcode", "message"}.  Functions:

  core_enrol_get_enrolled_users courseid=N [options[i][name]=onlyactive,
      options[i][value]=1]   the users of course N, each with roles[]
      {roleid, name, shortname, sortorder}; with onlyactive=1 only those
      whose enrolment is active (not suspended: "_status" 1, see below)
  core_course_get_courses_by_field [field, value]   {"courses": [...],
      "warnings": []}; field '' (all), id, ids, shortname, idnumber,
      category
  core_user_get_users_by_field field, values[i]   the users whose field
      (id, idnumber, username, email) is one of the values (firstname and
      lastname split from a fixture user's fullname when it has none)
  enrol_manual_enrol_users enrolments[i][roleid, userid, courseid,
      suspend]   all or nothing, as Moodle's delegated transaction: the
      first bad enrolment fails the call (wsnoinstance for a course with
      "manual": false, wsusercannotassign for an unknown role, invalidrecord
      for an unknown user or course, invalidparameter for a suspend other
      than 0 or 1) and nothing is applied; null on success.  suspend=1
      sets the enrolment's status to suspended (1), suspend=0 to active
      (0), as enrol_plugin::enrol_user does for an existing enrolment;
      absent leaves it.  The status shows in /_state as "_status" and,
      as in Moodle, not in core_enrol_get_enrolled_users
  enrol_manual_unenrol_users enrolments[i][userid, courseid]   the same;
      the user loses every role in the course
  core_role_unassign_roles unassignments[i][roleid, userid, contextlevel
      course, instanceid]   one role taken away, the enrolment kept
  core_user_create_users users[i][username, firstname, lastname, email,
      idnumber, auth, createpassword]   all or nothing; the users created
      as [{id, username}]; errors as Moodle's invalidparameter: a missing
      required field, auth manual without createpassword=1 ("Invalid
      password: you must provide a password, or set createpassword."),
      an e-mail without '@', a username taken ("Username already exists:
      NAME"); a password is refused (the tests send none)
  core_user_update_users users[i][id, username, firstname, ...]   the
      fields given; {"warnings": [...]} with invaliduserid for an unknown
      id; a username taken by another user fails the call

SITE.json: {"courses": [{id, shortname, fullname, ..., manual}],
            "enrolled": {"<courseid>": [user, ...]},
            "users": [user, ...] (optional: users enrolled nowhere),
            "roles": [{id, shortname}] (optional: default the standard
            ones, 1 manager .. 5 student)}
Writes change the site in memory; /_reset reloads it, /_state shows it.
/_reset?twin=USERNAME adds a second user (id 9000 + its id, username
USERNAME-twin, enrolled nowhere) with the same idnumber and email, as a
site allowing duplicate e-mail addresses, or with careless idnumbers, has.
/_reset?course_lookup=notarray|twin|other makes
core_course_get_courses_by_field lie: "courses" an object instead of a
list; a second course (id + 9000, shortname + "-twin") beside the first
one found, as a site whose idnumbers are not unique has; or every course
found with an idnumber that is not the one asked for.
/_reset?users_error=1 makes core_user_get_users_by_field answer a Moodle
error (nopermissions), as a token without moodle/user:viewdetails gets.
Counters add ws_FUNCTION (calls per function).
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
    def reload(self):
        global SITE
        if FIXTURE:
            with open(FIXTURE) as f:
                SITE = json.load(f)
        twin = self.state.extra.get("twin")
        if twin:
            u = next(u for u in all_users().values()
                     if u.get("username") == twin)
            SITE.setdefault("users", []).append(
                dict(u, id=9000 + u["id"], username=twin + "-twin"))

    def data(self):
        return SITE.get("enrolled", {})

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
        with lms_common.LOCK:
            st = self.state.stats
            st["ws_" + str(fn)] = st.get("ws_" + str(fn), 0) + 1
        if fn in WRITES:
            with lms_common.LOCK:
                res = WRITES[fn](p)
            self.send(200, res)
        elif fn == "core_user_get_users_by_field":
            if self.state.extra.get("users_error"):
                self.send(200, err(
                    "required_capability_exception", "nopermissions",
                    "Sorry, but you do not currently have permissions to "
                    "do that (View user details)."))
                return
            field = one("field", "")
            vals = {v[0] for k, v in p.items() if k.startswith("values[")}
            self.send(200, [u for u in all_users().values()
                            if str(u.get(field, "")) in vals])
        elif fn == "core_enrol_get_enrolled_users":
            cid = one("courseid")
            if cid is None:
                self.send(200, err(
                    "invalid_parameter_exception", "invalidparameter",
                    "Invalid parameter value detected (Missing required "
                    "key in single structure: courseid)"))
                return
            users = enrolled(cid, option(p, "onlyactive") == "1")
            if users is None:
                self.send(200, err(
                    "dml_missing_record_exception", "invalidrecord",
                    "Can't find data record in database table course."))
                return
            self.send(200, users)
        elif fn == "core_course_get_courses_by_field":
            field, value = one("field", ""), one("value", "")
            found = courses_by(field, value)
            lie = self.state.extra.get("course_lookup")
            if lie == "notarray":
                self.send(200, {"courses": {"0": found}, "warnings": []})
                return
            if lie == "twin" and found:
                found = found + [dict(found[0], id=found[0]["id"] + 9000,
                                      shortname=found[0]["shortname"] +
                                      "-twin")]
            if lie == "other":
                found = [dict(c, idnumber=c.get("idnumber", "") + "-X")
                         for c in found]
            self.send(200, {"courses": found, "warnings": []})
        else:
            self.send(200, err(
                "dml_missing_record_exception", "invalidrecord",
                "Can't find data record in database table "
                "external_functions."))


def option(p, name):
    """The value of options[i][name]=NAME, options[i][value]=V, or None."""
    for o in items(p, "options", None):
        if o.get("name") == name:
            return o.get("value")
    return None


def enrolled(cid, onlyactive=False):
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
    return [{k: v for k, v in u.items() if not k.startswith("_")}
            for u in SITE["enrolled"].get(cid, [])
            if not (onlyactive and u.get("_status") == 1)]


FIXTURE = None
STD_ROLES = [{"id": 1, "shortname": "manager"},
             {"id": 2, "shortname": "coursecreator"},
             {"id": 3, "shortname": "editingteacher"},
             {"id": 4, "shortname": "teacher"},
             {"id": 5, "shortname": "student"}]


def all_users():
    """Every user of the site by id: the fixture's list and the enrolled."""
    us = {}
    for u in SITE.get("users", []):
        us[u["id"]] = u
    for lst in SITE.get("enrolled", {}).values():
        for u in lst:
            us.setdefault(u["id"], {k: v for k, v in u.items()
                                    if k != "roles" and k[0] != "_"})
    # Moodle's user record has firstname and lastname; a fixture user
    # with only a fullname is split at its first space.
    for u in us.values():
        if "firstname" not in u and "fullname" in u:
            u = us[u["id"]] = dict(u)
            first, _, last = u["fullname"].partition(" ")
            u["firstname"], u["lastname"] = first, last
    return us


def items(p, name, fields):
    """enrolments[i][field] form values as a list of dicts, by i."""
    out = {}
    for k, v in p.items():
        if not k.startswith(name + "["):
            continue
        i, f = k[len(name) + 1:].rstrip("]").split("][")
        out.setdefault(int(i), {})[f] = v[0]
    return [out[i] for i in sorted(out)]


def check(e, need_role):
    """The Moodle error for enrolment e, or None."""
    cid, uid = e.get("courseid", e.get("instanceid")), e.get("userid")
    course = next((c for c in SITE["courses"] if str(c["id"]) == cid), None)
    if course is None:
        return err("dml_missing_record_exception", "invalidrecord",
                   "Can't find data record in database table course.")
    if not course.get("manual", True):
        return err("moodle_exception", "wsnoinstance",
                   "Manual enrolment plugin instance doesn't exist or is "
                   "disabled for the course (id = %s)" % cid)
    if not any(str(u) == uid for u in all_users()):
        return err("dml_missing_record_exception", "invalidrecord",
                   "Can't find data record in database table user.")
    if need_role and role_of(e.get("roleid")) is None:
        return err("moodle_exception", "wsusercannotassign",
                   "You don't have the permission to assign this role "
                   "(%s) to this user (%s) in this course(%s)."
                   % (e.get("roleid"), uid, cid))
    return None


def role_of(rid):
    return next((r for r in SITE.get("roles", STD_ROLES)
                 if str(r["id"]) == str(rid)), None)


def member(cid, uid):
    return next((u for u in SITE["enrolled"].setdefault(cid, [])
                 if str(u["id"]) == uid), None)


def enrol(p):
    es = items(p, "enrolments", None)
    for e in es:
        bad = check(e, True)
        if bad:
            return bad
        if e.get("suspend", "0") not in ("0", "1"):
            return err("invalid_parameter_exception", "invalidparameter",
                       "Invalid parameter value detected (enrolments => "
                       "suspend => Invalid external api parameter: the "
                       "value is \"%s\", the server was expecting "
                       "\"int\" type)" % e["suspend"])
    for e in es:
        m = member(e["courseid"], e["userid"])
        if m is None:
            m = dict(all_users()[int(e["userid"])])
            m["roles"] = []
            SITE["enrolled"][e["courseid"]].append(m)
            SITE["enrolled"][e["courseid"]].sort(key=lambda u: u["id"])
        if "suspend" in e:
            m["_status"] = int(e["suspend"])
        r = role_of(e["roleid"])
        if not any(x["roleid"] == r["id"] for x in m["roles"]):
            m["roles"].append({"roleid": r["id"], "name": "",
                               "shortname": r["shortname"],
                               "sortorder": 0})
    return None


def unenrol(p):
    es = items(p, "enrolments", None)
    for e in es:
        bad = check(e, False)
        if bad:
            return bad
    for e in es:
        lst = SITE["enrolled"].setdefault(e["courseid"], [])
        lst[:] = [u for u in lst if str(u["id"]) != e["userid"]]
    return None


def unassign(p):
    es = items(p, "unassignments", None)
    for e in es:
        if e.get("contextlevel") != "course":
            return err("invalid_parameter_exception", "invalidparameter",
                       "Invalid parameter value detected")
        bad = check(e, True)
        if bad:
            return bad
    for e in es:
        m = member(e["instanceid"], e["userid"])
        if m is not None:
            m["roles"] = [r for r in m["roles"]
                          if str(r["roleid"]) != e["roleid"]]
    return None


def invalid(why):
    return err("invalid_parameter_exception", "invalidparameter",
               "Invalid parameter value detected (%s)" % why)


def create_users(p):
    us = items(p, "users", None)
    have = all_users()
    names = set()
    for u in us:
        for f in ("username", "firstname", "lastname", "email"):
            if not u.get(f):
                return invalid("users => Missing required key in single "
                               "structure: %s" % f)
        if "password" in u:
            return invalid("the test site takes no passwords")
        auth = u.get("auth", "manual")
        if auth == "manual" and u.get("createpassword") != "1":
            return invalid("Invalid password: you must provide a "
                           "password, or set createpassword.")
        if "@" not in u["email"]:
            return invalid("Email address is invalid: " + u["email"])
        if u["username"] in names or any(
                x.get("username") == u["username"] for x in have.values()):
            return invalid("Username already exists: " + u["username"])
        names.add(u["username"])
    out = []
    nid = max([1000] + list(have)) + 1
    for u in us:
        rec = {k: v for k, v in u.items() if k != "createpassword"}
        rec["id"] = nid
        rec.setdefault("auth", "manual")
        rec["fullname"] = rec["firstname"] + " " + rec["lastname"]
        SITE.setdefault("users", []).append(rec)
        out.append({"id": nid, "username": u["username"]})
        nid += 1
    return out


def update_users(p):
    us = items(p, "users", None)
    have = all_users()
    warnings = []
    for u in us:
        if "password" in u:
            return invalid("the test site takes no passwords")
        if u.get("username") and any(
                x.get("username") == u["username"] and str(x["id"]) !=
                u.get("id") for x in have.values()):
            return invalid("Username already exists: " + u["username"])
    for u in us:
        uid = int(u.get("id", "0"))
        if uid not in have:
            warnings.append({"item": "user", "itemid": uid,
                             "warningcode": "invaliduserid",
                             "message": "Invalid user ID"})
            continue
        # The user everywhere it is kept: the site's list and rosters.
        recs = [x for x in SITE.get("users", []) if x["id"] == uid]
        for lst in SITE.get("enrolled", {}).values():
            recs += [x for x in lst if x["id"] == uid]
        if not recs:
            SITE.setdefault("users", []).append(dict(have[uid]))
            recs = [SITE["users"][-1]]
        for x in recs:
            x.update({k: v for k, v in u.items() if k != "id"})
            if "firstname" in x and "lastname" in x:
                x["fullname"] = x["firstname"] + " " + x["lastname"]
    return {"warnings": warnings}


WRITES = {"enrol_manual_enrol_users": enrol,
          "core_user_create_users": create_users,
          "core_user_update_users": update_users,
          "enrol_manual_unenrol_users": unenrol,
          "core_role_unassign_roles": unassign}


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
    global SITE, TOKEN, FIXTURE
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
        FIXTURE = a.fixture
        with open(a.fixture) as f:
            SITE = json.load(f)
    lms_common.serve(Moodle, a.port, a.delay_ms)


if __name__ == "__main__":
    main()
