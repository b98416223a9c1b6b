"""A service for interruption tests: healthy, then hangs in the first graded request.

When that request arrives it creates the file named by $MARKER, so a test knows a check is
running, then sleeps far longer than any test waits.
"""

import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/healthz":
            self._hang()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        self._hang()

    def _hang(self) -> None:
        Path(os.environ["MARKER"]).touch()
        time.sleep(600)


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
