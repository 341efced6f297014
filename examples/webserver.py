"""A tiny HTTP server for the examples and the agent tests.

``GET /`` answers ``<VERSION> <pod name>``; ``GET /healthz`` answers ``ok``. It
listens on ``127.0.0.1:$PORT`` (the agent sets PORT to the host port it gave the
container's first declared port). On SIGTERM it stops accepting, finishes the
requests in flight and exits 0.
"""

from __future__ import annotations

import http.server
import os
import signal
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        text = "ok\n" if self.path == "/healthz" else f"{VERSION} {POD}\n"
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


VERSION = os.environ.get("VERSION", "v1")
POD = os.environ.get("KV_POD_NAME", os.environ.get("HOSTNAME", "?"))


def main() -> None:
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", int(os.environ.get("PORT", "8080"))), Handler
    )
    server.daemon_threads = False
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"serving {VERSION} as {POD} on port {server.server_address[1]}", flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
