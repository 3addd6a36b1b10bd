"""A small, fast stdlib HTTP backend for the lab (run inside a backend namespace).

`python -m hakit.lab.backend --bind ADDR --port N --name web1 [--mode ok|500] [--health-path /health]`

Thousands of requests/s need two things from http.server: Nagle off (the response is written in pieces)
and buffered writes (one send per response instead of one per header line).
SIGUSR1 switches to answering 500 (except on the health path: the app is broken, its health check is not,
which is what `observe layer7` exists for); SIGUSR2 switches back to 200. A hang is a SIGSTOP from outside.
SIGHUP reads the mode from `--mode-file` (`ok`, `500`, `503`, or `hang`: answer only after `--hang-ms`).

With `--post-log F`, every POST/PUT/PATCH/DELETE it receives appends its `X-Request-Id` to F (one line, one
write, before answering): the drills count how often a request reached a backend.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType


class _State:
    mode = "ok"
    name = "backend"
    health_path = "/health"
    mode_file = ""
    hang_s = 3.0
    post_log: int | None = None  # an O_APPEND descriptor: one os.write per line, whole lines only
    lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    """Answers every GET/HEAD with the backend's name (or 500 in error mode)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = -1  # buffered: headers and body leave in one write

    def do_GET(self) -> None:
        """Serve a request."""
        self._answer(body=True)

    def do_HEAD(self) -> None:
        """Serve a HEAD request (health checks)."""
        self._answer(body=False)

    def do_OPTIONS(self) -> None:
        """Serve OPTIONS (HAProxy's default check method)."""
        self._answer(body=False)

    def do_POST(self) -> None:
        """Serve a request with a body, counting it first."""
        self._receive()
        self._answer(body=True)

    do_PUT = do_POST
    do_PATCH = do_POST

    def do_DELETE(self) -> None:
        """Serve DELETE, counting it."""
        self._receive()
        self._answer(body=True)

    def _receive(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 20))
        if _State.post_log is not None:
            line = f"{self.headers.get('X-Request-Id', '-')} {_State.name} {self.command}\n".encode()
            with _State.lock:
                os.write(_State.post_log, line)

    def _answer(self, body: bool) -> None:
        broken = not self.path.startswith(_State.health_path)
        mode = _State.mode if broken else "ok"
        if mode == "hang":
            time.sleep(_State.hang_s)
        status = int(mode) if mode in ("500", "503") else 200
        payload = f"{_State.name} {status}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Backend", _State.name)
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        """Silence per-request logging (it would cost more than the request)."""


class NaiveHandler(Handler):
    """http.server's defaults (Nagle on, one send per header line): for the benchmark's comparison only."""

    disable_nagle_algorithm = False
    wbufsize = 0


class Server(ThreadingHTTPServer):
    """Threaded server with a deep accept queue and reusable address."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients (and proxies giving up) reset connections: that is normal in a drill, not worth a trace."""


def _set_mode(mode: str) -> object:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        _State.mode = mode

    return handler


def _read_mode(_signum: int, _frame: FrameType | None) -> None:
    try:
        with open(_State.mode_file) as handle:
            mode = handle.read().strip()
    except OSError:
        return
    if mode in ("ok", "500", "503", "hang"):
        _State.mode = mode


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Run the backend until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--name", default="backend")
    parser.add_argument("--mode", choices=["ok", "500"], default="ok")
    parser.add_argument("--health-path", default="/health")
    parser.add_argument("--naive", action="store_true", help="http.server defaults (slow; for comparison)")
    parser.add_argument("--mode-file", default="", help="read on SIGHUP: ok, 500, 503 or hang")
    parser.add_argument("--hang-ms", type=float, default=3000.0)
    parser.add_argument("--post-log", default="", help="append the X-Request-Id of every POST here")
    args = parser.parse_args(argv)
    _State.mode, _State.name, _State.health_path = args.mode, args.name, args.health_path
    _State.mode_file, _State.hang_s = args.mode_file, min(args.hang_ms, 30_000.0) / 1000
    if args.post_log:
        _State.post_log = os.open(args.post_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    signal.signal(signal.SIGHUP, _read_mode)
    signal.signal(signal.SIGUSR1, _set_mode("500"))  # type: ignore[arg-type]
    signal.signal(signal.SIGUSR2, _set_mode("ok"))  # type: ignore[arg-type]
    signal.signal(signal.SIGTERM, _terminate)
    server = Server((args.bind, args.port), NaiveHandler if args.naive else Handler)
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
