"""{{lab_title}}: your service. It answers GET {{health}} and nothing else yet.

labctl starts it with PORT and the URLs of its dependencies in the environment (see README.md).
"""

from __future__ import annotations

import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

PORT = int(os.environ.get("PORT", "8080"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")  # postgresql://...: accounts and transfers


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep connections open between requests

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        if self.path == "{{health}}":
            self.answer(200, {"status": "ok"})
        else:
            self.answer(404, {"error": f"no route for GET {self.path}"})

    def do_POST(self) -> None:  # noqa: N802
        # Read the whole body, even when unused: the connection's next request follows it.
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))  # json.loads(body)
        # Start here: stage `{{first_stage}}`, {{first_stage_title}}.
        self.answer(404, {"error": f"no route for POST {self.path}"})

    def answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        print(format % args, flush=True)  # a line per request on stdout: labctl shows them


def main() -> None:
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)

    def stop(signum: int, frame: FrameType | None) -> None:
        # SIGTERM is how labctl stops the service: stop accepting, then exit 0.
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on 0.0.0.0:{PORT}", flush=True)
    server.serve_forever(poll_interval=0.05)
    server.server_close()


if __name__ == "__main__":
    main()
