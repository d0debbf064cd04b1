# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""A fault-injecting HTTP reverse proxy, for the reliability tests.

TEST INFRASTRUCTURE ONLY: this file is not part of the collection's runtime
and is never imported by a plugin. It sits on the loopback interface in front
of one backend (moto, OpenBao, the SCIM server, ...) and, at a configured rate
and only for the requests a rule matches, answers with a fault instead of
(or besides) passing the request on:

``429``          HTTP 429 with ``Retry-After`` (AWS ``Throttling`` / Vault JSON body)
``500``, ``503`` HTTP 500 / 503 (``InternalFailure`` / ``ServiceUnavailable``)
``reset``        the socket is closed (RST) without an answer; the request
                 never reaches the backend
``stall``        nothing is answered for ``stall_seconds`` (set it past the
                 client's timeout), then the socket is closed; the request
                 never reaches the backend
``slow``         ``slow_seconds`` of added latency, then the request is passed on
``reset_after``  the request IS passed on and the backend acts on it, but the
                 answer is dropped (RST): the ambiguous case, "did it happen?"
``stall_after``  as ``reset_after``, after a stall of ``stall_seconds``

Everything else is passed through unchanged: method, path and query, body
bytes and headers, ``Host`` included (AWS SigV4 signs ``Host``; clients are
pointed at the proxy, sign the proxy's address, and the backend checks that
same signed header). Only hop-by-hop headers (``Connection``, ``Keep-Alive``,
``Transfer-Encoding``...) are not forwarded; a chunked body is forwarded
de-chunked with a ``Content-Length``.

Configuration (JSON; every field optional)::

    {"seed": 7,
     "rules": [
       {"name": "mint",                      # label in the stats
        "method": "POST",                    # regex on the method (full match, case-insensitive)
        "path": "^/$",                       # regex searched in the path with its query
        "body": "Action=CreateAccessKey",    # regex searched in the body (decoded as latin-1)
        "rate": 0.5,                         # probability of a fault for a matching request
        "kinds": {"503": 1, "reset": 1},     # weights; or a list of kinds (equal weights)
        "limit": 3,                          # at most this many faults from this rule (null: no limit)
        "retry_after": 1, "stall_seconds": 4, "slow_seconds": 0.3,
        "style": "auto"}                     # error body: auto | aws | json | text
     ]}

Rules are tried in order and the first one that matches a request decides
(a matching rule with ``rate`` 0 therefore shields a request from later
rules). The top-level keys ``rate``, ``kinds``, ``retry_after``,
``stall_seconds``, ``slow_seconds`` and ``style`` are the defaults of every
rule; a config without ``rules`` applies them to every request.

Randomness comes from one ``random.Random(seed)``, drawn under a lock in
arrival order: the same seed and the same request order give the same faults.

Control endpoints (answered by the proxy itself, never passed on):

``GET /_faults/stats``    counters: requests, forwarded, injected per kind and per rule
``POST /_faults/config``  replace the configuration (JSON body as above); also resets the RNG
``POST /_faults/reset``   zero the counters

Use it from pytest::

    with FaultProxy("http://127.0.0.1:8200", {"rate": 0.1, "kinds": ["503", "reset"]}, seed=1) as proxy:
        env["VAULT_ADDR"] = proxy.url
        ...
        print(proxy.stats())

or as a process (prints ``PORT <n>`` on its first line, then serves until SIGTERM)::

    python tests/faults/proxy.py --listen 127.0.0.1:0 --upstream http://127.0.0.1:8200 --config faults.json
"""

from __future__ import annotations

import argparse
import copy
import http.client
import http.server
import json
import random
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import urllib.parse

KINDS = ("429", "500", "503", "reset", "stall", "slow", "reset_after", "stall_after")
ALL_FAULTS = ("429", "500", "503", "reset", "stall", "slow")

RULE_DEFAULTS = {
    "rate": 0.0,
    "kinds": list(ALL_FAULTS),
    "retry_after": 1,
    "stall_seconds": 3.0,
    "slow_seconds": 0.3,
    "style": "auto",
    "limit": None,
}

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "trailers", "transfer-encoding", "upgrade", "proxy-connection"}

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "LIST")

_STATUS_TEXT = {
    "429": ("Throttling", "Rate exceeded (injected by the fault proxy)"),
    "500": ("InternalFailure", "internal error (injected by the fault proxy)"),
    "503": ("ServiceUnavailable", "service unavailable (injected by the fault proxy)"),
}


class ConfigError(ValueError):
    """The fault configuration is not valid."""


def _weights(kinds, where):
    if isinstance(kinds, str):
        kinds = [kinds]
    if isinstance(kinds, (list, tuple)):
        kinds = {str(k): 1.0 for k in kinds}
    if not isinstance(kinds, dict) or not kinds:
        raise ConfigError("%s.kinds: expected a non-empty list or {kind: weight}" % where)
    out = []
    for kind, weight in kinds.items():
        kind = str(kind)
        if kind not in KINDS:
            raise ConfigError("%s.kinds: unknown kind %r (known: %s)" % (where, kind, ", ".join(KINDS)))
        try:
            weight = float(weight)
        except (TypeError, ValueError) as exc:
            raise ConfigError("%s.kinds.%s: weight must be a number" % (where, kind)) from exc
        if weight < 0:
            raise ConfigError("%s.kinds.%s: weight cannot be negative" % (where, kind))
        if weight:
            out.append((kind, weight))
    if not out:
        raise ConfigError("%s.kinds: every weight is 0" % where)
    return out


def _regex(value, where, flags=0):
    if value in (None, ""):
        return None
    try:
        return re.compile(str(value), flags)
    except re.error as exc:
        raise ConfigError("%s: invalid regex %r (%s)" % (where, value, exc)) from exc


class Rule(object):
    def __init__(self, spec, defaults, index):
        where = "rules[%d]" % index
        merged = dict(RULE_DEFAULTS)
        merged.update({k: v for k, v in defaults.items() if k in RULE_DEFAULTS})
        merged.update(spec)
        unknown = set(spec) - set(RULE_DEFAULTS) - {"name", "method", "path", "body"}
        if unknown:
            raise ConfigError("%s: unknown keys %s" % (where, ", ".join(sorted(unknown))))
        self.name = str(spec.get("name") or "rule%d" % index)
        self.method = _regex(spec.get("method"), where + ".method", re.I)
        self.path = _regex(spec.get("path"), where + ".path")
        self.body = _regex(spec.get("body"), where + ".body")
        try:
            self.rate = float(merged["rate"])
            self.retry_after = merged["retry_after"]
            self.stall_seconds = float(merged["stall_seconds"])
            self.slow_seconds = float(merged["slow_seconds"])
        except (TypeError, ValueError) as exc:
            raise ConfigError("%s: %s" % (where, exc)) from exc
        if not 0.0 <= self.rate <= 1.0:
            raise ConfigError("%s.rate: must be between 0 and 1, got %r" % (where, merged["rate"]))
        self.limit = merged["limit"]
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 0):
            raise ConfigError("%s.limit: must be a non-negative integer or null" % where)
        self.style = merged["style"]
        if self.style not in ("auto", "aws", "json", "text"):
            raise ConfigError("%s.style: must be auto, aws, json or text" % where)
        self.kinds = _weights(merged["kinds"], where)
        self.injected = 0

    def matches(self, method, path, body):
        if self.method is not None and not self.method.fullmatch(method):
            return False
        if self.path is not None and not self.path.search(path):
            return False
        if self.body is not None and not self.body.search(body.decode("latin-1")):
            return False
        return True


class Config(object):
    def __init__(self, raw=None, seed=None):
        raw = dict(raw or {})
        if not isinstance(raw, dict):
            raise ConfigError("the configuration must be a JSON object")
        unknown = set(raw) - set(RULE_DEFAULTS) - {"seed", "rules"}
        if unknown:
            raise ConfigError("unknown top-level keys %s" % ", ".join(sorted(unknown)))
        self.raw = copy.deepcopy(raw)
        self.seed = raw.get("seed") if seed is None else seed
        defaults = {k: v for k, v in raw.items() if k in RULE_DEFAULTS}
        specs = raw.get("rules")
        if specs is None:
            specs = [{"name": "all"}] if defaults.get("rate") else []
        if not isinstance(specs, list):
            raise ConfigError("rules: expected a list")
        self.rules = []
        for index, spec in enumerate(specs):
            if not isinstance(spec, dict):
                raise ConfigError("rules[%d]: expected an object" % index)
            self.rules.append(Rule(spec, defaults, index))


class Decision(object):
    __slots__ = ("kind", "rule")

    def __init__(self, kind, rule):
        self.kind = kind
        self.rule = rule


class FaultProxy(object):
    """The proxy; ``start()`` serves in a daemon thread, ``stop()`` ends it."""

    def __init__(self, upstream, config=None, seed=None, listen=("127.0.0.1", 0), upstream_timeout=120.0):
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ConfigError("upstream must be an http:// URL, got %r" % upstream)
        self.upstream = upstream
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port or 80
        self.upstream_prefix = parsed.path.rstrip("/")
        self.upstream_timeout = upstream_timeout
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._config = Config(config, seed)
        self._rng = random.Random(self._config.seed)
        self._stats = self._empty_stats()
        self._server = _Server(tuple(listen), _Handler)
        self._server.proxy = self
        self._thread = None

    # --- lifecycle -----------------------------------------------------------
    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def host(self):
        return self._server.server_address[0]

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="fault-proxy-%d" % self.port, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- configuration and counters ---------------------------------------
    def configure(self, config, seed=None):
        """Replace the configuration (and reseed); counters are kept."""
        new = Config(config, seed)
        with self._lock:
            self._config = new
            self._rng = random.Random(new.seed)
            for rule in new.rules:
                self._stats["by_rule"].setdefault(rule.name, dict.fromkeys(KINDS, 0))

    def config(self):
        with self._lock:
            return copy.deepcopy(self._config.raw)

    def _empty_stats(self):
        return {"requests": 0, "forwarded": 0, "answered": 0, "upstream_errors": 0,
                "injected": dict.fromkeys(KINDS, 0),
                "by_rule": {rule.name: dict.fromkeys(KINDS, 0) for rule in self._config.rules}}

    def reset_stats(self):
        with self._lock:
            self._stats = self._empty_stats()
            for rule in self._config.rules:
                rule.injected = 0

    def stats(self):
        """A copy of the counters; ``injected_total`` counts every fault."""
        with self._lock:
            out = copy.deepcopy(self._stats)
        out["injected_total"] = sum(out["injected"].values())
        return out

    def _count(self, field, kind=None, rule=None):
        with self._lock:
            if kind is None:
                self._stats[field] += 1
                return
            self._stats["injected"][kind] += 1
            self._stats["by_rule"].setdefault(rule, dict.fromkeys(KINDS, 0))[kind] += 1

    # --- the decision ------------------------------------------------------
    def decide(self, method, path, body):
        """Return the fault for one request (a :class:`Decision`), or None."""
        with self._lock:
            self._stats["requests"] += 1
            for rule in self._config.rules:
                if not rule.matches(method, path, body):
                    continue
                if rule.rate <= 0 or (rule.limit is not None and rule.injected >= rule.limit):
                    return None
                if self._rng.random() >= rule.rate:
                    return None
                total = sum(w for _k, w in rule.kinds)
                point = self._rng.random() * total
                kind = rule.kinds[-1][0]
                for candidate, weight in rule.kinds:
                    if point < weight:
                        kind = candidate
                        break
                    point -= weight
                rule.injected += 1
                self._stats["injected"][kind] += 1
                self._stats["by_rule"].setdefault(rule.name, dict.fromkeys(KINDS, 0))[kind] += 1
                return Decision(kind, rule)
        return None

    def wait(self, seconds):
        """Sleep, but wake up when the proxy stops. True when it slept the whole time."""
        return not self._stopping.wait(seconds)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def _error_body(decision, status, body, headers):
    code, message = _STATUS_TEXT[status]
    style = decision.rule.style
    if style == "auto":
        ctype = (headers.get("Content-Type") or "").lower()
        if "x-www-form-urlencoded" in ctype and b"Action=" in body:
            style = "aws"
        elif "x-amz-json" in ctype or headers.get("X-Amz-Target"):
            style = "awsjson"
        else:
            style = "json"
    if style == "aws":
        text = ("<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error>"
                "<RequestId>fault-proxy</RequestId></ErrorResponse>"
                % ("Sender" if status == "429" else "Receiver", code, message))
        return text.encode(), "text/xml"
    if style == "awsjson":
        return json.dumps({"__type": code, "message": message}).encode(), "application/x-amz-json-1.1"
    if style == "json":
        return json.dumps({"errors": [message]}).encode(), "application/json"
    return (message + "\n").encode(), "text/plain"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nhi-fault-proxy"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002  pylint: disable=redefined-builtin
        return  # quiet: the tests read the counters instead

    @property
    def proxy(self):
        return self.server.proxy

    # Every method goes through one handler.
    def _dispatch(self):
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        if self.path.startswith("/_faults/"):
            self._control(body)
            return
        decision = self.proxy.decide(self.command, self.path, body)
        kind = decision.kind if decision else None
        if kind in ("429", "500", "503"):
            self._answer_error(decision, kind, body)
            return
        if kind == "reset":
            self._reset()
            return
        if kind == "stall":
            self.proxy.wait(decision.rule.stall_seconds)
            self._reset()
            return
        if kind == "slow":
            if not self.proxy.wait(decision.rule.slow_seconds):
                self._reset()
                return
        response = self._forward(body)
        if kind in ("reset_after", "stall_after"):
            if kind == "stall_after":
                self.proxy.wait(decision.rule.stall_seconds)
            self._reset()
            return
        if response is None:
            return
        status, reason, headers, data = response
        self.send_response(status, reason)
        for name, value in headers:
            if name.lower() in HOP_BY_HOP or name.lower() == "content-length":
                continue
            self.send_header(name, value)
        upstream_length = dict((n.lower(), v) for n, v in headers).get("content-length", "0")
        # A HEAD answer keeps the backend's length (of the body it did not send).
        self.send_header("Content-Length", upstream_length if self.command == "HEAD" else str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)
        self.proxy._count("answered")  # pylint: disable=protected-access

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reset(self):
        """Close the client's socket with an RST and no answer."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass

    def _answer_error(self, decision, status, body):
        data, ctype = _error_body(decision, status, body, self.headers)
        self.send_response(int(status))
        self.send_header("Content-Type", ctype)
        if status in ("429", "503") and decision.rule.retry_after is not None:
            self.send_header("Retry-After", str(decision.rule.retry_after))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Nhi-Fault", status)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _forward(self, body):
        proxy = self.proxy
        conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=proxy.upstream_timeout)
        try:
            conn.putrequest(self.command, proxy.upstream_prefix + self.path, skip_host=True,
                            skip_accept_encoding=True)
            chunked = False
            for name, value in self.headers.items():
                lower = name.lower()
                if lower in HOP_BY_HOP:
                    chunked = chunked or (lower == "transfer-encoding" and "chunked" in value.lower())
                    continue
                if lower == "content-length" and chunked:
                    continue
                conn.putheader(name, value)
            if chunked or (body and self.headers.get("Content-Length") is None):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body if body else None)
            proxy._count("forwarded")  # pylint: disable=protected-access
            response = conn.getresponse()
            data = response.read()
            return response.status, response.reason, response.getheaders(), data
        except (OSError, http.client.HTTPException) as exc:
            proxy._count("upstream_errors")  # pylint: disable=protected-access
            message = ("fault proxy: upstream %s failed: %s" % (proxy.upstream, exc)).encode()
            try:
                self.send_response(502)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(message)))
                self.end_headers()
                self.wfile.write(message)
            except OSError:
                self.close_connection = True
            return None
        finally:
            conn.close()

    def _control(self, body):
        proxy = self.proxy
        path = self.path.split("?", 1)[0]
        status, payload = 200, None
        if path == "/_faults/stats" and self.command == "GET":
            payload = proxy.stats()
        elif path == "/_faults/config" and self.command == "GET":
            payload = proxy.config()
        elif path == "/_faults/config" and self.command in ("POST", "PUT"):
            try:
                proxy.configure(json.loads(body.decode("utf-8") or "{}"))
                payload = {"ok": True, "config": proxy.config()}
            except (ValueError, ConfigError) as exc:
                status, payload = 400, {"error": str(exc)}
        elif path == "/_faults/reset" and self.command == "POST":
            proxy.reset_stats()
            payload = {"ok": True}
        else:
            status, payload = 404, {"error": "unknown control endpoint %s %s" % (self.command, path)}
        data = json.dumps(payload, sort_keys=True).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


for _method in METHODS:
    setattr(_Handler, "do_" + _method, _Handler._dispatch)  # pylint: disable=protected-access


def parse_listen(text):
    host, sep, port = text.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text)
    try:
        return host or "127.0.0.1", int(port)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text) from exc


def main(argv=None):
    parser = argparse.ArgumentParser(description="Fault-injecting HTTP reverse proxy (test infrastructure).")
    parser.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 0),
                        help="HOST:PORT to listen on (port 0: any free port; default 127.0.0.1:0)")
    parser.add_argument("--upstream", required=True, help="the backend, e.g. http://127.0.0.1:8200")
    parser.add_argument("--config", help="JSON file with the fault configuration (default: no faults)")
    parser.add_argument("--seed", type=int, help="seed of the fault RNG (overrides the config's seed)")
    args = parser.parse_args(argv)
    config = {}
    if args.config:
        with open(args.config, "r", encoding="utf-8") as handle:
            config = json.load(handle)
    try:
        proxy = FaultProxy(args.upstream, config, seed=args.seed, listen=args.listen)
    except ConfigError as exc:
        parser.error(str(exc))
    done = threading.Event()

    def stop(_signum, _frame):
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    proxy.start()
    sys.stdout.write("PORT %d\n" % proxy.port)
    sys.stdout.flush()
    while not done.wait(0.5):
        pass
    proxy.stop()
    sys.stdout.write(json.dumps(proxy.stats(), sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
