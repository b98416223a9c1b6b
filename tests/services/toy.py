"""A service for the toy lab: /healthz and /ok answer 200, /sleep answers after 3 s."""

import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.startswith("/sleep"):
            time.sleep(3)
        body = b"ok"
        self.send_response(200 if self.path.split("?")[0] in ("/healthz", "/ok", "/sleep") else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
