"""lms_common - what the Moodle and Canvas test servers share.

A threading HTTP/1.1 server (keep-alive) on 127.0.0.1 with counters and
fault injection, driven by two endpoints the tests call with curl:

  GET /_reset?KEY=VALUE...  clear the counters and set the faults below
  GET /_stats               the counters as JSON
  GET /_state               the server's data as JSON (what writes did)

/_reset also reloads the server's data from its fixture (Handler.reload),
so writes of one test do not leak into the next.

Faults (query keys of /_reset; also the server's --delay-ms option):
  fault=429|403|500|502|503|drop|nothing|slow|lost|echo
            429/403 are throttling replies (403 with "Rate Limit
            Exceeded"), drop sends half a reply then closes the
            connection, nothing closes it without a reply, slow waits
            slow_ms before replying, lost does what was asked (a write
            takes effect) and then closes the connection without a reply;
            echo replies with the request itself, as servers that quote
            a bad request do: "METHOD PATH?QUERY | AUTHORIZATION |
            BODY" after echo_pad=N bytes of "x", cut after echo_cut=N
            characters when given; with
            echo_status=S (default 400) as text/plain, or with
            echo_moodle=1 as a Moodle exception object in HTTP 200
  every=K   the fault hits every K-th distinct request (by arrival: the
            1st, K+1th, ...); random=P hits each with probability P
            (seed=S) instead
  match=S   only requests whose "METHOD PATH?QUERY BODY" holds S can be
            hit (and only they are counted by every=K)
  times=T   how many attempts of a hit request fail (default 1)
  retry_after=S   Retry-After on throttling and 503 replies
  slow_ms=MS      delay of the slow fault (default 1500)
  delay_ms=MS     delay of every reply
  jitter_ms=MS    a further random delay (0..MS) of every reply
  remaining=F     X-Rate-Limit-Remaining on every reply
  expire=1        the token is refused as expired

Counters: requests (API requests), keys (distinct ones), faults (faulty
replies sent), retries (requests - keys), max_inflight, connections,
early_retries (a retry that came before its Retry-After), token_in_url
(a token seen in a query string), methods.
"""
import json
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()


class State:
    def __init__(self, delay_ms=0):
        self.base_delay = delay_ms
        self.reset({})

    def reset(self, q):
        def num(k, d, f=int):
            return f(q[k][0]) if k in q else d
        self.cfg = {
            "fault": q.get("fault", [""])[0],
            "every": num("every", 0),
            "random": num("random", 0.0, float),
            "seed": num("seed", 1),
            "times": num("times", 1),
            "retry_after": num("retry_after", 0),
            "slow_ms": num("slow_ms", 1500),
            "delay_ms": num("delay_ms", self.base_delay),
            "remaining": q.get("remaining", [None])[0],
            "expire": num("expire", 0),
            "jitter_ms": num("jitter_ms", 0),
            "match": q.get("match", [""])[0],
        }
        self.extra = {k: v[0] for k, v in q.items() if k not in self.cfg}
        self.rng = random.Random(self.cfg["seed"])
        self.keys = {}          # key -> [index, attempts, hit]
        self.eligible = 0
        self.not_before = {}
        self.stats = {"requests": 0, "keys": 0, "faults": 0,
                      "max_inflight": 0, "inflight": 0,
                      "connections": 0, "early_retries": 0,
                      "token_in_url": 0, "methods": {}}

    def snapshot(self):
        s = dict(self.stats)
        s["retries"] = s["requests"] - s["keys"]
        return s


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as real servers set it: headers and body go out in
    # separate writes, and on a kept-alive connection the body would
    # otherwise wait for the client's delayed ACK (~40 ms a request).
    disable_nagle_algorithm = True
    server_version = "lms-test/1.0"
    state = None

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        with LOCK:
            self.state.stats["connections"] += 1

    # -- plumbing -------------------------------------------------------
    def send(self, status, body, ctype="application/json; charset=utf-8",
             headers=()):
        if isinstance(body, (dict, list)) or body is None:
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        if getattr(self, "discard", False):
            return
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        rem = self.state.cfg["remaining"]
        if rem is not None:
            self.send_header("X-Rate-Limit-Remaining", rem)
        self.send_header("X-Request-Cost", "0.5")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        # surrogateescape: a binary body (a zip) survives as text and
        # comes back with .encode("utf-8", "surrogateescape").
        return self.rfile.read(n).decode("utf-8", "surrogateescape") \
            if n else ""

    def control(self, u):
        if u.path == "/_reset":
            with LOCK:
                self.state.reset(parse_qs(u.query))
                self.reload()
            self.send(200, {"ok": True})
            return True
        if u.path == "/_state":
            with LOCK:
                snap = self.data()
            self.send(200, snap)
            return True
        if u.path == "/_stats":
            with LOCK:
                snap = self.state.snapshot()
            self.send(200, snap)
            return True
        return False

    def handle_any(self):
        u = urlsplit(self.path)
        body = self.read_body() if self.command in ("POST", "PUT") else ""
        if self.control(u):
            return
        st = self.state
        key = (self.command, u.path, u.query, body)
        now = time.monotonic()
        with LOCK:
            s = st.stats
            s["requests"] += 1
            s["methods"][self.command] = s["methods"].get(self.command, 0) + 1
            s["inflight"] += 1
            s["max_inflight"] = max(s["max_inflight"], s["inflight"])
            if "access_token=" in u.query or "wstoken=" in u.query:
                s["token_in_url"] += 1
            k = st.keys.get(key)
            if k is None:
                c = st.cfg
                idx = st.eligible
                eligible = not c["match"] or c["match"] in "%s %s?%s %s" % (
                    self.command, u.path, u.query, body)
                st.eligible += eligible
                if not eligible:
                    hit = False
                elif c["random"] > 0:
                    hit = st.rng.random() < c["random"]
                elif c["every"] > 0:
                    hit = idx % c["every"] == 0
                else:
                    hit = False
                k = st.keys[key] = [idx, 0, hit and bool(c["fault"])]
                s["keys"] += 1
            else:
                if now < st.not_before.get(key, 0):
                    s["early_retries"] += 1
            k[1] += 1
            fault = st.cfg["fault"] if k[2] and k[1] <= st.cfg["times"] \
                else ""
            if fault:
                s["faults"] += 1
            delay = st.cfg["delay_ms"]
            if st.cfg["jitter_ms"]:
                delay += st.rng.randint(0, st.cfg["jitter_ms"])
        try:
            if delay:
                time.sleep(delay / 1000)
            if fault == "lost":
                self.discard = True
                self.api(u, parse_qs(u.query), parse_qs(body), body)
                self.discard = False
                self.hangup()
            elif fault:
                self.fault(fault, key)
            else:
                self.api(u, parse_qs(u.query), parse_qs(body), body)
        finally:
            with LOCK:
                st.stats["inflight"] -= 1

    def fault(self, fault, key):
        c = self.state.cfg
        ra = c["retry_after"]
        hdrs = [("Retry-After", str(ra))] if ra else []
        if ra:
            with LOCK:
                self.state.not_before[key] = time.monotonic() + ra
        if fault == "429":
            self.send(429, {"errors": [{"message": "Too Many Requests"}]},
                      headers=hdrs)
        elif fault == "403":
            self.send(403, "403 Forbidden (Rate Limit Exceeded)",
                      "text/plain", hdrs)
        elif fault in ("500", "502", "503"):
            self.send(int(fault), "<html>server error</html>", "text/html",
                      hdrs if fault == "503" else [])
        elif fault == "slow":
            time.sleep(c["slow_ms"] / 1000)
            self.send(200, [])
        elif fault == "drop":
            body = json.dumps([{"id": 1, "name": "x" * 4000}]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.hangup()
        elif fault == "nothing":
            self.hangup()
        elif fault == "echo":
            self.echo(key)

    def echo(self, key):
        ex = self.state.extra
        method, path, query, body = key
        text = "x" * int(ex.get("echo_pad", 0)) + "%s %s?%s | %s | %s" % (
            method, path, query, self.headers.get("Authorization", ""), body)
        if "echo_cut" in ex:
            text = text[:int(ex["echo_cut"])]
        if ex.get("echo_moodle"):
            self.send(200, {"exception": "invalid_parameter_exception",
                            "errorcode": "invalidparameter",
                            "message": text})
        else:
            self.send(int(ex.get("echo_status", 400)), text, "text/plain")

    def hangup(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def do_DELETE(self):
        self.handle_any()

    def api(self, u, q, form, body):
        raise NotImplementedError

    def reload(self):
        """Reload the data from the fixture (called under LOCK)."""

    def data(self):
        """The data writes change, for /_state (called under LOCK)."""
        return {}


def serve(handler_cls, port, delay_ms, tls=None):
    """Serve forever; tls is (certfile, keyfile) for https."""
    handler_cls.state = State(delay_ms)
    srv = ThreadingHTTPServer(("127.0.0.1", port), handler_cls)
    srv.daemon_threads = True
    srv.request_queue_size = 128
    if tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()
