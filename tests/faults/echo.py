# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""A local HTTP backend for proxy and retry tests: it answers every request with what it received.

``serve()`` starts it on a free loopback port and returns the server; its
``seen`` list holds ``(method, path with query)`` of every request that
reached it, in order. The answer is 201 with a JSON body: ``method``,
``path``, ``headers`` and ``body`` (decoded as latin-1), except that with
``serve(deletes=True)`` a DELETE of a path already deleted answers 404, as
a real API does. Stop it with ``stop(server)``.
"""

from __future__ import annotations

import http.server
import json
import socketserver
import threading


class _Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # pylint: disable=arguments-differ
        return

    def _any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path))
        if self.command == "DELETE" and self.server.deletes:
            if self.path in self.server.deleted:
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
                return
            self.server.deleted.add(self.path)
        payload = json.dumps({"method": self.command, "path": self.path, "headers": self.headers.items(),
                              "body": body.decode("latin-1")}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Echo", "yes")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_LIST = do_HEAD = _any


class _EchoServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def serve(deletes=False):
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    server.seen = []
    server.deletes = deletes
    server.deleted = set()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop(server):
    server.shutdown()
    server.server_close()
