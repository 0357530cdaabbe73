"""The tutorial's sample backend: it accepts only `Authorization: Bearer 1234`.

`python -m demo.backend --port 9090` serves it on 127.0.0.1. Any request with that
header gets 200 `Request Received`; any other gets 401. Tests use the same server with
a list that records every request it receives.
"""

from __future__ import annotations

import argparse
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACCEPTED_AUTHORIZATION = "Bearer 1234"


@dataclass
class ReceivedRequest:
    """One request as the backend received it."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """Return the first value of header `name`, or None."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


@dataclass
class Recorder:
    requests: list[ReceivedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class TutorialBackend(BaseHTTPRequestHandler):
    """Answers `Request Received` to `Bearer 1234` and 401 to anything else."""

    server_version = "TutorialBackend/1.0"
    protocol_version = "HTTP/1.1"
    recorder: Recorder | None = None

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.recorder is not None:
            with self.recorder.lock:
                self.recorder.requests.append(
                    ReceivedRequest(self.command, self.path, list(self.headers.items()), body)
                )
        if self.headers.get("Authorization") == ACCEPTED_AUTHORIZATION:
            status, reply = 200, b"Request Received"
        else:
            status, reply = 401, b"Unauthorized: the backend accepts only its own token"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

    def log_message(self, format: str, *args: object) -> None:
        if self.recorder is None:
            super().log_message(format, *args)


def make_server(port: int = 0, recorder: Recorder | None = None) -> ThreadingHTTPServer:
    """Return the backend bound to 127.0.0.1:`port` (0 picks a free port)."""
    handler = type("RecordingBackend", (TutorialBackend,), {"recorder": recorder})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9090, help="port on 127.0.0.1 (default: 9090)")
    args = parser.parse_args()
    server = make_server(args.port)
    print(f"sample backend listening at http://127.0.0.1:{args.port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
