"""The HTTP server behind an upstream stub: HTTP/1.1 keep-alive, one thread per connection.

It only moves bytes: each request becomes a ``StubRequest`` for the stub's ``serve``, whose
``Reply`` goes back; None means hang up without an answer, as a crashed or stuck upstream would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from labctl.upstreams._types import Reply, StubRequest

Serve = Callable[[StubRequest], Reply | None]  # None: hang up without an answer

_MAX_BODY = 1 << 20


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: don't wait for an ACK
    server: StubServer

    def handle_one_request(self) -> None:
        with suppress(ConnectionError, TimeoutError):
            super().handle_one_request()

    def do_request(self) -> None:
        request = self._read()
        if request is None:
            return
        reply = self.server.serve(request)
        if reply is None:
            self.close_connection = True
            return
        self._write(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_request

    def _read(self) -> StubRequest | None:
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > _MAX_BODY:
            self._write(Reply.json(400, {"error": "send a Content-Length of at most 1 MiB"}))
            self.close_connection = True
            return None
        path, _, query = self.path.partition("?")
        return StubRequest(
            method=self.command,
            path=path,
            query=query,
            headers=tuple(self.headers.items()),
            body=self.rfile.read(int(length)),
        )

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # every request is recorded by the Upstream; nothing goes to stderr


class StubServer(ThreadingHTTPServer):
    daemon_threads = True  # a keep-alive connection the service never closes must not block exit
    request_queue_size = 128

    def __init__(self, host: str, serve: Serve, name: str) -> None:
        super().__init__((host, 0), _Handler)
        self.serve = serve
        self.name = name
        self.port = int(self.server_address[1])
        self._thread: threading.Thread | None = None

    def serve_in_background(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"stub-{self.name}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        with suppress(Exception):
            self.shutdown()
            self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)
