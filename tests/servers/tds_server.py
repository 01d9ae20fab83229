#!/usr/bin/env python3
"""tds_server.py - a small SQL Server stand-in that speaks TDS 7.4, backed
by SQLite, for the mssql:// tests of edpipe.

Written from the MS-TDS specification ([MS-TDS], Tabular Data Stream
Protocol): PRELOGIN (2.2.6.5), LOGIN7 (2.2.6.4), SQLBatch (2.2.6.7) and RPC
Request (2.2.6.6) messages in; LOGINACK, ENVCHANGE, INFO, ERROR,
COLMETADATA, ROW, NBCROW, RETURNSTATUS, DONE, DONEPROC and DONEINPROC
tokens out (2.2.7).

    tds_server.py --port PORT --db FILE.sqlite [--user U --password P]
                  [--database NAME] [--die-after N] [--log FILE]

What it does and does not do:
- PRELOGIN is answered with ENCRYPT_NOT_SUP: no TLS, ever.
- LOGIN7: the password is de-obfuscated (nibble swap, XOR 0xA5) and
  checked; a wrong user or password gets ERROR 18456 "Login failed for
  user 'x'." and no LOGINACK, as SQL Server does.  With --database, a
  login naming another database gets ERROR 4060.
- The SQL is SQLite's dialect, run by Python's sqlite3 module.  T-SQL
  session statements (SET ..., USE db) are acknowledged without effect.
- RPC: sp_executesql (ProcID 10 or by name) with @stmt, @params and the
  values.  The values are BOUND into SQLite (the @name placeholders are
  SQLite named parameters too), never pasted into the SQL text.
- Column types in COLMETADATA come from the declared types of the SQLite
  columns (found through a temporary view): INT/INTEGER/BIGINT -> INTNTYPE,
  BIT/BOOLEAN -> BITNTYPE, DECIMAL(p,s)/NUMERIC(p,s) -> DECIMALNTYPE,
  DATETIME -> DATETIMNTYPE, DATE -> DATENTYPE, REAL/FLOAT -> FLTNTYPE,
  BLOB -> BIGVARBINARYTYPE, TEXT -> NVARCHAR(MAX) (PLP), anything else
  NVARCHARTYPE with a collation.  Expressions without a declared type take
  the type of their value in the first row.
- Rows with a NULL go as NBCROW, the others as ROW.
- --die-after N: after N rows of a result the connection is cut in the
  middle of the response (no DONE), to test clients against a lost link.
- WAITFOR DELAY 'hh:mm:ss' waits that long before its DONE, as T-SQL
  does, but stalled: the connection is not read meanwhile, so an
  ATTENTION (cancel) is only answered afterwards, as from a server that
  hangs.  A client that waits for that answer hangs with it.
"""

import argparse
import datetime
import decimal
import re
import socket
import socketserver
import sqlite3
import struct
import sys
import threading
import time

# Packet types (2.2.3.1.1)
PKT_SQLBATCH = 0x01
PKT_RPC = 0x03
PKT_REPLY = 0x04
PKT_ATTENTION = 0x06
PKT_LOGIN7 = 0x10
PKT_PRELOGIN = 0x12

# Tokens (2.2.7)
TOK_COLMETADATA = 0x81
TOK_ERROR = 0xAA
TOK_INFO = 0xAB
TOK_RETURNSTATUS = 0x79
TOK_LOGINACK = 0xAD
TOK_FEATUREEXTACK = 0xAE
TOK_ROW = 0xD1
TOK_NBCROW = 0xD2
TOK_ENVCHANGE = 0xE3
TOK_DONE = 0xFD
TOK_DONEPROC = 0xFE
TOK_DONEINPROC = 0xFF

DONE_FINAL = 0x00
DONE_MORE = 0x01
DONE_ERROR = 0x02
DONE_COUNT = 0x10
DONE_ATTN = 0x20

# Data types (2.2.5.4)
INTNTYPE = 0x26
BITNTYPE = 0x68
DECIMALNTYPE = 0x6A
FLTNTYPE = 0x6D
DATETIMNTYPE = 0x6F
DATENTYPE = 0x28
NVARCHARTYPE = 0xE7
NCHARTYPE = 0xEF
BIGVARCHARTYPE = 0xA7
BIGCHARTYPE = 0xAF
BIGVARBINARYTYPE = 0xA5
TEXTTYPE = 0x23
NTEXTTYPE = 0x63

# SQL_Latin1_General_CP1_CI_AS: LCID 0x0409, flags 0xD0, sort id 52.
COLLATION = bytes([0x09, 0x04, 0xD0, 0x00, 0x34])

TDS74 = 0x74000004
SP_EXECUTESQL = 10
PLP_NULL = 0xFFFFFFFFFFFFFFFF
PLP_UNKNOWN = 0xFFFFFFFFFFFFFFFE

EPOCH1900 = datetime.date(1900, 1, 1)
EPOCH0001 = datetime.date(1, 1, 1)


class SqlError(Exception):
    """An error reported to the client as an ERROR token."""

    def __init__(self, number, text, severity=16, state=1):
        super().__init__(text)
        self.number = number
        self.text = text
        self.severity = severity
        self.state = state


class Dropped(Exception):
    """The connection is to be cut now (--die-after)."""


def ucs2(s):
    return s.encode("utf-16-le")


def b_varchar(s):
    data = ucs2(s)
    return bytes([len(data) // 2]) + data


def us_varchar(s):
    data = ucs2(s)
    return struct.pack("<H", len(data) // 2) + data


# ---------------------------------------------------------------- tokens

def tok_envchange(kind, new, old):
    if kind == 7:  # SQL collation: B_VARBYTE values
        body = bytes([kind, len(new)]) + new + bytes([len(old)]) + old
    else:
        body = bytes([kind]) + b_varchar(new) + b_varchar(old)
    return bytes([TOK_ENVCHANGE]) + struct.pack("<H", len(body)) + body


def tok_msg(token, number, text, severity, state=1, server="edpipe-tds",
            proc="", line=1):
    body = (struct.pack("<iBB", number, state, severity) + us_varchar(text)
            + b_varchar(server) + b_varchar(proc) + struct.pack("<i", line))
    return bytes([token]) + struct.pack("<H", len(body)) + body


def tok_loginack():
    body = (bytes([1]) + struct.pack(">I", TDS74) + b_varchar("edpipe TDS")
            + bytes([15, 0, 0x07, 0xD0]))
    return bytes([TOK_LOGINACK]) + struct.pack("<H", len(body)) + body


def tok_done(token, status, curcmd=0xC1, count=0):
    return bytes([token]) + struct.pack("<HHQ", status, curcmd, count)


# ------------------------------------------------------------ SQL helpers

def split_sql(sql):
    """Yield (kind, text) pieces: 'code', 'str', 'ident', 'comment'."""
    i, n, start = 0, len(sql), 0
    while i < n:
        c = sql[i]
        if c in "'\"[`":
            close = "]" if c == "[" else c
            if i > start:
                yield "code", sql[start:i]
            j = i + 1
            while j < n:
                if sql[j] == close:
                    if close != "]" and j + 1 < n and sql[j + 1] == close:
                        j += 2
                        continue
                    break
                j += 1
            yield ("str" if c == "'" else "ident"), sql[i:j + 1]
            i = start = j + 1
        elif sql.startswith("--", i) or sql.startswith("/*", i):
            if i > start:
                yield "code", sql[start:i]
            end = sql.find("\n" if sql[i] == "-" else "*/", i + 2)
            end = n if end < 0 else end + (1 if sql[i] == "-" else 2)
            yield "comment", sql[i:end]
            i = start = end
        else:
            i += 1
    if start < n:
        yield "code", sql[start:]


WAITFOR_RE = re.compile(r"(?i)^WAITFOR\s+DELAY\s+'(\d+):(\d+):(\d+)'$")
PARAM_RE = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
SET_EMPTY_RE = re.compile(r"\s*SET\s+@([A-Za-z_][A-Za-z0-9_]*)\s*=\s*N''\s*;\s*",
                          re.I)


def params_to_null(sql):
    """The SQL with every @name placeholder replaced by NULL (for the
    metadata view only: views cannot hold parameters)."""
    out = []
    for kind, text in split_sql(sql):
        out.append(PARAM_RE.sub("NULL", text) if kind == "code" else text)
    return "".join(out)


def split_statements(sql):
    """The statements of a batch, split at the semicolons outside
    literals and comments (SQLite runs one statement per call)."""
    stmts, cur = [], []
    for kind, text in split_sql(sql):
        if kind != "code":
            cur.append(text)
            continue
        parts = text.split(";")
        for part in parts[:-1]:
            cur.append(part)
            stmts.append("".join(cur))
            cur = []
        cur.append(parts[-1])
    stmts.append("".join(cur))
    return [x for x in stmts if x.strip() and
            any(k == "code" and t.strip() for k, t in split_sql(x))] or [""]


def param_names(sql):
    """The @names used in sql, as written, each once (case-insensitive
    as in T-SQL); @@globals are not parameters."""
    names = []
    for kind, text in split_sql(sql):
        if kind == "code":
            for m in PARAM_RE.finditer(text):
                if m.start() > 0 and text[m.start() - 1] == "@":
                    continue
                if m.group(1).lower() not in [n.lower() for n in names]:
                    names.append(m.group(1))
    return names


# ------------------------------------------------------------ the types

class Col:
    """One result column: its TDS type and how to encode a value."""

    def __init__(self, name, decl, first):
        self.name = name or ""
        d = (decl or "").upper()
        self.size = 0
        self.prec = self.scale = 0
        m = re.search(r"\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)", d)
        if d.startswith("DATETIME") or "TIMESTAMP" in d:
            self.kind = "datetime"
        elif d.startswith("DATE"):
            self.kind = "date"
        elif "BIGINT" in d or d == "INTEGER":
            self.kind, self.size = "int", 8
        elif "SMALLINT" in d:
            self.kind, self.size = "int", 2
        elif "TINYINT" in d:
            self.kind, self.size = "int", 1
        elif "INT" in d:
            self.kind, self.size = "int", 4
        elif d.startswith("BIT") or d.startswith("BOOL"):
            self.kind = "bit"
        elif "DECIMAL" in d or "NUMERIC" in d:
            self.kind = "decimal"
            self.prec = int(m.group(1)) if m else 18
            self.scale = int(m.group(2)) if m and m.group(2) else 0
            if not 1 <= self.prec <= 38 or self.scale > self.prec:
                self.prec, self.scale = 18, 0
        elif any(k in d for k in ("REAL", "FLOA", "DOUB")):
            self.kind = "float"
        elif "BLOB" in d or "BINARY" in d:
            self.kind = "binary"
        elif d == "TEXT" or "CLOB" in d or "MAX" in d:
            self.kind = "plp"
        elif d:
            self.kind = "nvarchar"
            self.size = int(m.group(1)) if m else 4000
            if not 1 <= self.size <= 4000:
                self.size = 4000
        elif isinstance(first, bool) or isinstance(first, int):
            self.kind, self.size = "int", 8
        elif isinstance(first, float):
            self.kind = "float"
        elif isinstance(first, bytes):
            self.kind = "binary"
        else:
            self.kind, self.size = "nvarchar", 4000

    def metadata(self):
        # UserType (ULONG), Flags (nullable, updatable unknown), TYPE_INFO
        head = struct.pack("<IH", 0, 0x0001 | 0x0008)
        k = self.kind
        if k == "int":
            ti = bytes([INTNTYPE, self.size])
        elif k == "bit":
            ti = bytes([BITNTYPE, 1])
        elif k == "decimal":
            ti = bytes([DECIMALNTYPE, 17, self.prec, self.scale])
        elif k == "float":
            ti = bytes([FLTNTYPE, 8])
        elif k == "datetime":
            ti = bytes([DATETIMNTYPE, 8])
        elif k == "date":
            ti = bytes([DATENTYPE])
        elif k == "binary":
            ti = bytes([BIGVARBINARYTYPE]) + struct.pack("<H", 8000)
        elif k == "plp":
            ti = bytes([NVARCHARTYPE]) + struct.pack("<H", 0xFFFF) + COLLATION
        else:
            ti = (bytes([NVARCHARTYPE]) + struct.pack("<H", self.size * 2)
                  + COLLATION)
        return head + ti + b_varchar(self.name)

    def null(self):
        if self.kind == "plp":
            return struct.pack("<Q", PLP_NULL)
        if self.kind in ("nvarchar", "binary"):
            return struct.pack("<H", 0xFFFF)
        return b"\x00"

    def conv_error(self, v, tname):
        return SqlError(245, "Conversion failed when converting the value "
                        "'%s' to data type %s." % (v, tname))

    def encode(self, v):
        k = self.kind
        if k == "int":
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if isinstance(v, str):
                try:
                    v = int(v.strip())
                except ValueError:
                    raise self.conv_error(v, "int") from None
            if not isinstance(v, int):
                raise self.conv_error(v, "int")
            lim = 1 << (self.size * 8 - 1)
            if self.size == 1:
                if not 0 <= v <= 255:
                    raise SqlError(8115, "Arithmetic overflow error "
                                   "converting expression to data type "
                                   "tinyint.")
                return bytes([1, v])
            if not -lim <= v < lim:
                raise SqlError(8115, "Arithmetic overflow error converting "
                               "expression to data type int.")
            fmt = {2: "<h", 4: "<i", 8: "<q"}[self.size]
            return bytes([self.size]) + struct.pack(fmt, v)
        if k == "bit":
            if isinstance(v, str):
                v = v.strip().lower() in ("1", "true")
            return bytes([1, 1 if v else 0])
        if k == "decimal":
            try:
                d = decimal.Decimal(repr(v) if isinstance(v, float)
                                    else str(v).strip())
            except decimal.InvalidOperation:
                raise self.conv_error(v, "numeric") from None
            ctx = decimal.Context(prec=80, rounding=decimal.ROUND_HALF_UP)
            q = d.quantize(decimal.Decimal(1).scaleb(-self.scale),
                           context=ctx)
            n = int(q.scaleb(self.scale, context=ctx))
            if abs(n) >= 10 ** self.prec:
                raise SqlError(8115, "Arithmetic overflow error converting "
                               "numeric to data type numeric.")
            return (bytes([17, 0 if n < 0 else 1])
                    + abs(n).to_bytes(16, "little"))
        if k == "float":
            try:
                return bytes([8]) + struct.pack("<d", float(v))
            except ValueError:
                raise self.conv_error(v, "float") from None
        if k in ("datetime", "date"):
            try:
                t = datetime.datetime.fromisoformat(str(v).strip())
            except ValueError:
                raise self.conv_error(v, k) from None
            if k == "date":
                days = (t.date() - EPOCH0001).days
                return bytes([3]) + days.to_bytes(3, "little")
            days = (t.date() - EPOCH1900).days
            ms = ((t.hour * 60 + t.minute) * 60 + t.second) * 1000 \
                + t.microsecond // 1000
            ticks = (ms * 3 + 5) // 10      # 1/300 s
            return bytes([8]) + struct.pack("<iI", days, ticks)
        if k == "binary":
            data = v if isinstance(v, bytes) else str(v).encode()
            if len(data) > 8000:
                raise SqlError(8152, "String or binary data would be "
                               "truncated.")
            return struct.pack("<H", len(data)) + data
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        s = v if isinstance(v, str) else (repr(v) if isinstance(v, float)
                                          else str(v))
        data = ucs2(s)
        if k == "plp":
            out = [struct.pack("<Q", len(data))]
            for i in range(0, len(data), 4000):
                chunk = data[i:i + 4000]
                out.append(struct.pack("<I", len(chunk)) + chunk)
            out.append(struct.pack("<I", 0))
            return b"".join(out)
        if len(data) > self.size * 2:
            raise SqlError(8152, "String or binary data would be truncated.")
        return struct.pack("<H", len(data)) + data


# ------------------------------------------------------------ connection

class Conn(socketserver.BaseRequestHandler):
    """One client connection."""

    def setup(self):
        self.sock = self.request
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.packet_size = 4096
        self.packet_id = 1
        self.out = bytearray()
        self.db = None
        self.rows_sent = 0

    def log(self, fmt, *args):
        self.server.log(fmt % args)

    # --- packets
    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            got = self.sock.recv(n - len(buf))
            if not got:
                return None
            buf += got
        return bytes(buf)

    def read_message(self):
        """(type, payload) of the next message, or None at EOF."""
        payload = bytearray()
        while True:
            head = self.recv_exact(8)
            if head is None:
                return None
            ptype, status, length = struct.unpack(">BBH", head[:4])
            body = self.recv_exact(length - 8) if length > 8 else b""
            if body is None:
                return None
            payload += body
            if status & 0x01:
                return ptype, bytes(payload)

    def send_packet(self, data, last, ptype=PKT_REPLY):
        head = struct.pack(">BBHHBB", ptype, 1 if last else 0,
                           len(data) + 8, 0x33, self.packet_id, 0)
        self.packet_id = (self.packet_id + 1) % 256
        self.sock.sendall(head + data)

    def put(self, data):
        """Queue reply bytes, sending full packets as they fill."""
        self.out += data
        room = self.packet_size - 8
        while len(self.out) > room:
            self.send_packet(bytes(self.out[:room]), False)
            del self.out[:room]

    def flush(self):
        self.send_packet(bytes(self.out), True)
        self.out.clear()

    def die(self):
        """Cut the link in the middle of a reply (--die-after)."""
        room = self.packet_size - 8
        if self.out:
            self.send_packet(bytes(self.out[:room]), False)
        self.out.clear()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise Dropped()

    # --- main loop
    def handle(self):
        try:
            while True:
                msg = self.read_message()
                if msg is None:
                    return
                ptype, payload = msg
                if ptype == PKT_PRELOGIN:
                    self.prelogin(payload)
                elif ptype == PKT_LOGIN7:
                    if not self.login(payload):
                        return
                elif ptype == PKT_SQLBATCH and self.db:
                    self.batch(payload)
                elif ptype == PKT_RPC and self.db:
                    self.rpc(payload)
                elif ptype == PKT_ATTENTION:
                    self.put(tok_done(TOK_DONE, DONE_ATTN, 0, 0))
                    self.flush()
                else:
                    self.log("unexpected packet type %d; closing", ptype)
                    return
        except (Dropped, ConnectionError, BrokenPipeError):
            return
        finally:
            if self.db:
                self.db.close()

    # --- PRELOGIN (2.2.6.5)
    def prelogin(self, payload):
        i, opts = 0, {}
        while i < len(payload) and payload[i] != 0xFF:
            tok, off, ln = struct.unpack(">BHH", payload[i:i + 5])
            opts[tok] = payload[off:off + ln]
            i += 5
        enc = opts.get(1, b"\x02")[:1]
        self.log("prelogin: client encryption %d", enc[0] if enc else -1)
        # VERSION, ENCRYPTION=NOT_SUP, INSTOPT, THREADID, MARS
        items = [(0, bytes([15, 0]) + struct.pack(">HH", 2000, 0)),
                 (1, b"\x02"), (2, b"\x00"), (3, b""), (4, b"\x00")]
        off = len(items) * 5 + 1
        head, data = bytearray(), bytearray()
        for tok, val in items:
            head += struct.pack(">BHH", tok, off + len(data), len(val))
            data += val
        head.append(0xFF)
        self.put(bytes(head + data))
        self.flush()

    # --- LOGIN7 (2.2.6.4)
    def login(self, p):
        def field(at):
            ib, cch = struct.unpack("<HH", p[at:at + 4])
            return p[ib:ib + 2 * cch]

        tdsver, psize = struct.unpack("<II", p[4:12])
        typeflags, flags3 = p[26], p[27]
        user = field(40).decode("utf-16-le")
        raw = field(44)
        pw = bytes((((b ^ 0xA5) << 4) & 0xF0) | ((b ^ 0xA5) >> 4)
                   for b in raw).decode("utf-16-le")
        database = field(68).decode("utf-16-le")
        self.log("login: user %r database %r tds %08x%s", user, database,
                 tdsver, " read-only intent" if typeflags & 0x20 else "")
        if psize >= 512:
            self.packet_size = min(psize, 32767)
        srv = self.server
        if user != srv.user or pw != srv.password:
            self.put(tok_msg(TOK_ERROR, 18456, "Login failed for user "
                             "'%s'." % user, 14))
            self.put(tok_done(TOK_DONE, DONE_ERROR, 0, 0))
            self.flush()
            return False
        if srv.database and database and database != srv.database:
            self.put(tok_msg(TOK_ERROR, 4060, 'Cannot open database "%s" '
                             'requested by the login. The login failed.'
                             % database, 11))
            self.put(tok_msg(TOK_ERROR, 18456, "Login failed for user "
                             "'%s'." % user, 14))
            self.put(tok_done(TOK_DONE, DONE_ERROR, 0, 0))
            self.flush()
            return False
        dbname = database or srv.database or "master"
        self.db = sqlite3.connect(srv.dbpath, check_same_thread=False,
                                  isolation_level=None)
        self.put(tok_envchange(1, dbname, "master"))
        self.put(tok_msg(TOK_INFO, 5701, "Changed database context to "
                         "'%s'." % dbname, 0, 2))
        self.put(tok_envchange(7, COLLATION, b""))
        self.put(tok_envchange(2, "us_english", ""))
        self.put(tok_msg(TOK_INFO, 5703, "Changed language setting to "
                         "us_english.", 0))
        self.put(tok_loginack())
        self.put(tok_envchange(4, str(self.packet_size), "4096"))
        if flags3 & 0x10:      # fExtension: acknowledge no feature
            self.put(bytes([TOK_FEATUREEXTACK, 0xFF]))
        self.put(tok_done(TOK_DONE, DONE_FINAL, 0, 0))
        self.flush()
        return True

    # --- SQLBatch (2.2.6.7)
    def skip_headers(self, p):
        if len(p) >= 4:
            total = struct.unpack("<I", p[:4])[0]
            if 4 <= total <= len(p):
                return total
        return 0

    def batch(self, p):
        sql = p[self.skip_headers(p):].decode("utf-16-le")
        self.log("batch: %r", sql)
        try:
            for stmt in split_statements(sql):
                self.run(stmt, {}, TOK_DONE)
            self.put(tok_done(TOK_DONE, DONE_FINAL, 0, 0))
        except SqlError as e:
            self.put(tok_msg(TOK_ERROR, e.number, e.text, e.severity,
                             e.state))
            self.put(tok_done(TOK_DONE, DONE_ERROR, 0, 0))
        self.flush()

    # --- RPC Request (2.2.6.6)
    def rpc(self, p):
        i = self.skip_headers(p)
        (namelen,) = struct.unpack("<H", p[i:i + 2])
        i += 2
        if namelen == 0xFFFF:
            (procid,) = struct.unpack("<H", p[i:i + 2])
            i += 2
            name = "#%d" % procid
            is_exec = procid == SP_EXECUTESQL
        else:
            name = p[i:i + 2 * namelen].decode("utf-16-le")
            i += 2 * namelen
            is_exec = name.lower().split(".")[-1] == "sp_executesql"
        i += 2  # OptionFlags
        params = []
        try:
            while i < len(p) and p[i] not in (0x80, 0xFF, 0xFE):
                pname, val, i = self.rpc_param(p, i)
                params.append((pname, val))
            if not is_exec:
                raise SqlError(2812, "Could not find stored procedure "
                               "'%s'." % name)
            self.exec_sql(params)
            self.put(bytes([TOK_RETURNSTATUS]) + struct.pack("<i", 0))
            self.put(tok_done(TOK_DONEPROC, DONE_FINAL, 0xE0, 0))
        except SqlError as e:
            self.put(tok_msg(TOK_ERROR, e.number, e.text, e.severity,
                             e.state, proc=name))
            self.put(bytes([TOK_RETURNSTATUS]) + struct.pack("<i", -6))
            self.put(tok_done(TOK_DONEPROC, DONE_ERROR, 0xE0, 0))
        self.flush()

    def rpc_param(self, p, i):
        """Decode one ParamMetaData + value at p[i]: (name, value, next)."""
        n = p[i]
        name = p[i + 1:i + 1 + 2 * n].decode("utf-16-le")
        i += 1 + 2 * n
        i += 1  # StatusFlags
        t = p[i]
        i += 1
        self.log("rpc param %s type 0x%02X", name, t)
        if t in (NVARCHARTYPE, NCHARTYPE, BIGVARCHARTYPE, BIGCHARTYPE):
            (maxlen,) = struct.unpack("<H", p[i:i + 2])
            i += 2 + 5  # max length, collation
            wide = t in (NVARCHARTYPE, NCHARTYPE)
            if maxlen == 0xFFFF:  # PLP (varchar(max))
                (total,) = struct.unpack("<Q", p[i:i + 8])
                i += 8
                if total == PLP_NULL:
                    return name, None, i
                data = bytearray()
                while True:
                    (cl,) = struct.unpack("<I", p[i:i + 4])
                    i += 4
                    if cl == 0:
                        break
                    data += p[i:i + cl]
                    i += cl
            else:
                (ln,) = struct.unpack("<H", p[i:i + 2])
                i += 2
                if ln == 0xFFFF:
                    return name, None, i
                data = p[i:i + ln]
                i += ln
            return name, bytes(data).decode("utf-16-le" if wide
                                            else "cp1252"), i
        if t in (NTEXTTYPE, TEXTTYPE):
            i += 4 + 5  # max length, collation
            (ln,) = struct.unpack("<i", p[i:i + 4])
            i += 4
            if ln < 0:
                return name, None, i
            data = p[i:i + ln]
            return name, data.decode("utf-16-le" if t == NTEXTTYPE
                                     else "cp1252"), i + ln
        if t == INTNTYPE:
            i += 1
            ln = p[i]
            i += 1
            if ln == 0:
                return name, None, i
            return name, int.from_bytes(p[i:i + ln], "little",
                                        signed=True), i + ln
        raise SqlError(8016, "The incoming tabular data stream (TDS) remote "
                       "procedure call (RPC) protocol stream is incorrect. "
                       "Parameter %s: data type 0x%02X is not supported "
                       "by this test server." % (name, t))

    def exec_sql(self, params):
        if not params:
            raise SqlError(201, "Procedure or function 'sp_executesql' "
                           "expects parameter '@stmt', which was not "
                           "supplied.")
        stmt = params[0][1]
        if stmt is None:
            raise SqlError(201, "Procedure expects parameter '@stmt'.")
        decl = params[1][1] if len(params) > 1 else ""
        declared = [m.group(1).lower() for m in
                    PARAM_RE.finditer(decl or "")]
        values = {}
        for k, (pname, val) in enumerate(params[2:]):
            key = pname.lstrip("@").lower() if pname else (
                declared[k] if k < len(declared) else "")
            if key not in declared:
                raise SqlError(8145, "%s is not a parameter for procedure "
                               "sp_executesql." % pname)
            values[key] = val
        self.log("rpc sp_executesql: %r %r", stmt, values)
        # db-lib sends empty strings as NULL: the client sets them with
        # leading "SET @P1 = N'';" statements, run here as T-SQL would.
        while True:
            m = SET_EMPTY_RE.match(stmt)
            if not m:
                break
            if m.group(1).lower() not in declared:
                raise SqlError(137, 'Must declare the scalar variable '
                               '"@%s".' % m.group(1))
            values[m.group(1).lower()] = ""
            stmt = stmt[m.end():]
        bind = {}
        for name in param_names(stmt):
            if name.lower() not in declared:
                raise SqlError(137, 'Must declare the scalar variable '
                               '"@%s".' % name)
            if name.lower() not in values:
                raise SqlError(8178, "The parameterized query '(%s)%s' "
                               "expects the parameter '@%s', which was not "
                               "supplied." % (decl, stmt[:40], name))
            bind[name] = values[name.lower()]
        for one in split_statements(stmt):
            used = {k: v for k, v in bind.items()
                    if k.lower() in [n.lower() for n in param_names(one)]}
            self.run(one, used, TOK_DONEINPROC)

    # --- running SQL
    def run(self, sql, values, donetok):
        """Run sql (SQLite dialect, @name parameters bound from values)
        and queue COLMETADATA, the rows and a DONE-type token."""
        text = sql.strip().rstrip(";").strip()
        word = text.split(None, 1)[0].upper() if text else ""
        m = WAITFOR_RE.match(text)
        if m:
            h, mi, se = (int(x) for x in m.groups())
            self.log("stalling for %d s (WAITFOR)", h * 3600 + mi * 60 + se)
            time.sleep(h * 3600 + mi * 60 + se)
            self.put(tok_done(donetok, DONE_MORE, 0, 0))
            return
        if word in ("SET", "USE", "") or text.upper() == "SELECT @@SPID":
            if word == "USE":
                name = text.split(None, 1)[1].strip("[]\"")
                self.put(tok_envchange(1, name, name))
            if text.upper() == "SELECT @@SPID":
                text = "SELECT 51 AS spid"
            else:
                self.put(tok_done(donetok, DONE_MORE, 0, 0))
                return
        try:
            cur = self.db.execute(text, values)
        except sqlite3.Error as e:
            raise self.sql_error(e) from None
        if cur.description is None:
            self.put(tok_done(donetok, DONE_MORE | DONE_COUNT, 0xC3,
                              max(cur.rowcount, 0)))
            return
        try:
            first = cur.fetchone()
            decls = self.decltypes(text, len(cur.description))
            cols = [Col(d[0], decls[k], first[k] if first else None)
                    for k, d in enumerate(cur.description)]
            self.put(bytes([TOK_COLMETADATA]) + struct.pack("<H", len(cols))
                     + b"".join(c.metadata() for c in cols))
            count = 0
            row = first
            while row is not None:
                self.put(self.encode_row(cols, row))
                count += 1
                self.rows_sent += 1
                if self.server.die_after is not None and \
                        self.rows_sent >= self.server.die_after:
                    self.log("dying after %d rows", self.rows_sent)
                    self.die()
                row = cur.fetchone()
        except sqlite3.Error as e:
            raise self.sql_error(e) from None
        finally:
            cur.close()
        self.put(tok_done(donetok, DONE_MORE | DONE_COUNT, 0xC1, count))

    def encode_row(self, cols, row):
        if any(v is None for v in row):
            bitmap = bytearray((len(cols) + 7) // 8)
            parts = []
            for k, v in enumerate(row):
                if v is None:
                    bitmap[k // 8] |= 1 << (k % 8)
                else:
                    parts.append(cols[k].encode(v))
            return bytes([TOK_NBCROW]) + bytes(bitmap) + b"".join(parts)
        return bytes([TOK_ROW]) + b"".join(c.encode(v)
                                           for c, v in zip(cols, row))

    def decltypes(self, sql, n):
        """The declared types of the result columns of sql, through a
        temporary view (PRAGMA table_info shows a view's column types)."""
        try:
            self.db.execute("CREATE TEMP VIEW _tds_meta AS "
                            + params_to_null(sql))
            try:
                info = self.db.execute(
                    "PRAGMA temp.table_info(_tds_meta)").fetchall()
            finally:
                self.db.execute("DROP VIEW temp._tds_meta")
            types = [r[2] for r in info]
        except sqlite3.Error:
            types = []
        return (types + [""] * n)[:n]

    @staticmethod
    def sql_error(e):
        text = str(e)
        m = re.match(r"no such table: (\S+)", text)
        if m:
            return SqlError(208, "Invalid object name '%s'." % m.group(1))
        m = re.match(r"no such column: (\S+)", text)
        if m:
            return SqlError(207, "Invalid column name '%s'." % m.group(1))
        m = re.match(r'near "(.*)": syntax error', text)
        if m:
            return SqlError(102, "Incorrect syntax near '%s'." % m.group(1),
                            15)
        return SqlError(50000, text)


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, args):
        self.dbpath = args.db
        self.user = args.user
        self.password = args.password
        self.database = args.database
        self.die_after = args.die_after
        self.logfp = open(args.log, "a") if args.log else None
        self.loglock = threading.Lock()
        super().__init__(("127.0.0.1", args.port), Conn)

    def log(self, text):
        if self.logfp:
            with self.loglock:
                self.logfp.write(text + "\n")
                self.logfp.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--db", required=True, help="SQLite database file")
    ap.add_argument("--user", default="sis")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--database", default=None)
    ap.add_argument("--die-after", type=int, default=None)
    ap.add_argument("--log", default=None)
    args = ap.parse_args()
    srv = Server(args)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
