#!/usr/bin/env python3
"""The comparison for bench/rec-hash/run: what rec-hash does, in Python.

usage: hash.py ALGO FIELD [KEYFILE] <in.ndjson >out.ndjson
Reads NDJSON, replaces FIELD with the hex digest of its UTF-8 text
(ripemd160, sha256 via hashlib; hmac-sha256 via hmac), writes NDJSON in
the same compact form as rec-hash.
"""
import hashlib
import hmac
import json
import sys


def main():
    algo, field = sys.argv[1], sys.argv[2]
    if algo == "hmac-sha256":
        with open(sys.argv[3], "rb") as f:
            key = f.readline().rstrip(b"\r\n")
        base = hmac.new(key, digestmod=hashlib.sha256)

        def digest(b):
            h = base.copy()
            h.update(b)
            return h.hexdigest()
    else:
        hashlib.new(algo)  # fail early when this build lacks it

        def digest(b):
            return hashlib.new(algo, b).hexdigest()
    out = sys.stdout
    for line in sys.stdin:
        r = json.loads(line)
        v = r.get(field)
        if v is not None and v != "":
            if not isinstance(v, str):
                v = json.dumps(v)
            r[field] = digest(v.encode("utf-8"))
        out.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")))
        out.write("\n")


main()
