#!/usr/bin/env python3
"""sqlldr-pair.py CTL DAT NDJSON [SEED_CTL]: read DAT as the control file
CTL tells SQL*Loader to (stream records ended by its STR string, fields
terminated by its character, optionally enclosed, TRAILING NULLCOLS) and
compare the rows with the records of NDJSON.  With SEED_CTL, CTL must
also have the seed's statements in the seed's order.  Exit 1 with the
difference."""
import json
import re
import sys

SKELETON = [r"LOAD DATA", r"CHARACTERSET \w+",
            r"INFILE '[^']+' \"(?i:str) '([^']*)'\"",
            r"BADFILE '[^']+'", r"(APPEND|INSERT|REPLACE|TRUNCATE)",
            r"INTO TABLE \S+",
            r"FIELDS TERMINATED BY '(.)' OPTIONALLY ENCLOSED BY '(.)'",
            r"TRAILING NULLCOLS", r"\("]


def parse(path):
    lines = open(path, encoding="utf-8").read().splitlines()
    m = [re.fullmatch(p, lines[i]) for i, p in enumerate(SKELETON)]
    bad = [SKELETON[i] for i, x in enumerate(m) if x is None]
    if bad:
        sys.exit(f"{path}: not the seed's control-file syntax: {bad}")
    cols = []
    for line in lines[len(SKELETON):]:
        if line == ")":
            break
        name = re.match(r'\s*("[^"]+"|[A-Za-z][\w$#]*)', line).group(1)
        cols.append((name.strip('"'), line))
    eor = m[2].group(1).encode().decode("unicode_escape")
    return eor, m[6].group(1), m[6].group(2), cols, m[4].group(1)


def fields(rec, sep, enc):
    out, i = [], 0
    while True:
        if rec[i:i + 1] == enc:
            j, val = i + 1, ""
            while True:
                k = rec.index(enc, j)
                val += rec[j:k]
                if rec[k + 1:k + 2] == enc:
                    val += enc
                    j = k + 2
                else:
                    i = k + 1
                    break
        else:
            k = rec.find(sep, i)
            k = len(rec) if k < 0 else k
            val, i = rec[i:k], k
        out.append(val)
        if i >= len(rec):
            return out
        i += 1


eor, sep, enc, cols, mode = parse(sys.argv[1])
if len(sys.argv) > 4:
    parse(sys.argv[4])
data = open(sys.argv[2], encoding="utf-8", newline="").read()
if data and not data.endswith(eor):
    sys.exit("the data does not end with the record terminator")
recs = data.split(eor)[:-1] if data else []
want = [json.loads(line) for line in open(sys.argv[3], encoding="utf-8")
        if line.strip()]
if len(recs) != len(want):
    sys.exit(f"{len(recs)} records in the data, {len(want)} wanted")
for n, (rec, w) in enumerate(zip(recs, want), 1):
    vals = fields(rec, sep, enc)
    vals += [""] * (len(cols) - len(vals))  # TRAILING NULLCOLS
    got = {c: v for (c, _), v in zip(cols, vals)}
    exp = {c: "" if w.get(c) is None else str(w[c]) for c, _ in cols}
    if got != exp:
        sys.exit(f"record {n}: {got} != {exp}")
print(mode, len(recs))
