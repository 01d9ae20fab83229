#!/usr/bin/env python3
"""diff.py DESIRED ACTUAL - the dict-based enroll-diff a site would write.

Reads DESIRED (NDJSON) into a dict keyed on (course, user, role), streams
ACTUAL against it, and prints add and drop change records sorted by key.
"""
import json
import sys


def key(r):
    return (str(r["course"]), str(r["user"]), str(r["role"]))


def main():
    desired = {}
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                desired.setdefault(key(r), r)
    drops = {}
    with open(sys.argv[2], encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                k = key(r)
                if desired.pop(k, None) is None:
                    drops.setdefault(k, r)
    changes = [(k, "add", r) for k, r in desired.items()]
    changes += [(k, "drop", r) for k, r in drops.items()]
    changes.sort(key=lambda c: ([s.encode() for s in c[0]], c[1]))
    out = sys.stdout
    for k, op, r in changes:
        rec = {"op": op}
        rec.update(r)
        out.write(json.dumps(rec, ensure_ascii=False,
                             separators=(",", ":")) + "\n")


main()
