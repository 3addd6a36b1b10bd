"""Bounded HTTP load with per-request accounting (run inside the client namespace).

Two kinds of traffic at once: a new connection every `--new-interval-ms` (each request has `--deadline-ms` in
total; a connect attempt that gets no answer in `--connect-timeout-ms` or is refused is retried within that
deadline, as a patient client would), and `--keepalive N` persistent connections sending requests back to back
(a request lost on an established connection fails: it may have reached the server and is not replayed,
except when a reused connection is closed or reset before any byte of the answer: that GET is resent once on
a new connection, as browsers and HTTP libraries do; HAProxy closes that way so that clients retry).

The run stops at `--max-requests`, at `--max-seconds`, or on SIGTERM/SIGINT, then writes every request as
`[kind, start, end, status, reconnects, backend]` (times from CLOCK_MONOTONIC, shared with the parent;
status 0 = failed, and then the last field says why: `!timeout`, `!reset`, ...) to `--out` as JSON.
It prints `ready` once the first request succeeded.

`--source A,B,C` spreads the load over several client addresses (keep-alive connection i uses the i-th,
new connections take the rest in turn), so a per-client rate limit sees each address below its limit.
`--ca-file F` speaks TLS and verifies the server against F (the lab's throwaway certificate, with the VIP
as its IP address). `--method POST` sends a one-byte body, and is never resent; `--request-id P` numbers
the requests `X-Request-Id: P-1, P-2, ...` (in the order they were started) so a backend can count them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import ssl
import sys
import time
from dataclasses import dataclass, field

Record = tuple[str, float, float, int, int, str]


@dataclass
class LoadConfig:
    """What to send, how fast, and the bounds."""

    host: str
    port: int = 80
    path: str = "/"
    new_interval_ms: float = 10.0
    keepalive: int = 1
    keepalive_interval_ms: float = 2.0
    deadline_ms: float = 1000.0
    connect_timeout_ms: float = 100.0
    max_requests: int = 20000
    max_seconds: float = 10.0
    source: str | None = None
    ca_file: str | None = None
    method: str = "GET"
    request_id: str | None = None

    def sources(self) -> list[str | None]:
        """The client addresses to bind, in order (`[None]`: let the kernel choose)."""
        found = [part.strip() for part in (self.source or "").split(",") if part.strip()]
        return list(found) or [None]

    def replayable(self) -> bool:
        """May a request lost on a reused connection be resent (RFC 9110: idempotent methods only)?"""
        return self.method in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")


@dataclass
class _Run:
    config: LoadConfig
    records: list[Record] = field(default_factory=list)
    sent: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ready: bool = False

    def claim(self) -> int:
        """Reserve one request of the budget: its number (1, 2, ...), 0 once the budget or stop is reached."""
        if self.stop.is_set() or self.sent >= self.config.max_requests:
            self.stop.set()
            return 0
        self.sent += 1
        return self.sent

    def record(self, record: Record) -> None:
        self.records.append(record)
        if record[3] and not self.ready:
            self.ready = True
            print("ready", flush=True)


class _Failed(Exception):
    """The request did not get a complete response (`retries`: connect attempts retried before giving up)."""

    def __init__(self, reason: str, retries: int = 0) -> None:
        super().__init__(reason)
        self.retries = retries


class _Closed(_Failed):
    """The server closed the connection cleanly before sending a byte of the answer."""


def _request_bytes(config: LoadConfig, close: bool, number: int = 0) -> bytes:
    connection = "Connection: close\r\n" if close else ""
    head = f"{config.method} {config.path} HTTP/1.1\r\nHost: {config.host}\r\nUser-Agent: hakit-lab\r\n"
    if config.request_id:
        head += f"X-Request-Id: {config.request_id}-{number}\r\n"
    body = ""
    if config.method in ("POST", "PUT", "PATCH"):
        head += "Content-Type: text/plain\r\nContent-Length: 1\r\n"
        body = "x"
    return f"{head}{connection}\r\n{body}".encode()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, str, bool]:
    """Read one response: (status, X-Backend, server wants to close)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as err:
        raise (_Closed("closed before answering") if not err.partial else _Failed("incomplete head")) from err
    except asyncio.LimitOverrunError as err:
        raise _Failed("head too long") from err
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise _Failed(f"bad status line {lines[0]!r}")
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    try:
        if "content-length" in headers:
            await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            await reader.readuntil(b"0\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as err:
        raise _Failed("incomplete body") from err
    close = headers.get("connection", "").lower() == "close"
    return status, headers.get("x-backend", ""), close


_TLS: dict[str, ssl.SSLContext] = {}


def _tls_context(ca_file: str) -> ssl.SSLContext:
    """A client context trusting only the lab's certificate (verified, with its IP address as the name)."""
    if ca_file not in _TLS:
        _TLS[ca_file] = ssl.create_default_context(cafile=ca_file)
    return _TLS[ca_file]


async def _connect(
    config: LoadConfig, deadline: float, source: str | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int]:
    """Connect, retrying unanswered or refused attempts until the deadline; returns the retry count too."""
    retries = 0
    local = (source, 0) if source else None
    tls = _tls_context(config.ca_file) if config.ca_file else None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Failed("connect deadline", retries)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(config.host, config.port, local_addr=local, ssl=tls),
                timeout=min(left, config.connect_timeout_ms / 1000),
            )
            return reader, writer, retries
        except (TimeoutError, OSError):  # ssl.SSLError is an OSError
            retries += 1
            # A refusal comes back at once: pause a little so the retry is not a busy loop.
            await asyncio.sleep(min(0.01, max(0.0, deadline - time.monotonic())))


def _reason(err: BaseException) -> str:
    """Why a request failed, for the record's last field: `!timeout`, `!reset`, `!incomplete head`..."""
    if isinstance(err, TimeoutError):
        return "!timeout"
    if isinstance(err, ConnectionResetError):
        return "!reset"
    return f"!{err}" if str(err) else f"!{type(err).__name__}"


def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        with contextlib.suppress(Exception):
            writer.close()


async def _one_new_connection(run: _Run, number: int, source: str | None) -> None:
    config = run.config
    start = time.monotonic()
    deadline = start + config.deadline_ms / 1000
    retries = 0
    writer = None
    try:
        reader, writer, retries = await _connect(config, deadline, source)
        writer.write(_request_bytes(config, close=True, number=number))
        status, backend, _ = await asyncio.wait_for(_read_response(reader), deadline - time.monotonic())
        run.record(("n", start, time.monotonic(), status, retries, backend))
    except _Failed as err:
        run.record(("n", start, time.monotonic(), 0, max(retries, err.retries), _reason(err)))
    except (TimeoutError, OSError) as err:
        run.record(("n", start, time.monotonic(), 0, retries, _reason(err)))
    finally:
        _close(writer)


async def _new_connections(run: _Run) -> None:
    interval = run.config.new_interval_ms / 1000
    sources = run.config.sources()
    # The keep-alive connections have the first addresses to themselves when there are enough.
    own = sources[run.config.keepalive :] if len(sources) > run.config.keepalive else sources
    tasks: set[asyncio.Task[None]] = set()
    next_at = time.monotonic()
    turn = 0
    while number := run.claim():
        task = asyncio.create_task(_one_new_connection(run, number, own[turn % len(own)]))
        turn += 1
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        next_at += interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.stop.wait(), max(0.0, next_at - time.monotonic()))
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


async def _keepalive_connection(run: _Run, index: int) -> None:
    config = run.config
    interval = config.keepalive_interval_ms / 1000
    sources = config.sources()
    source = sources[index % len(sources)]
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while number := run.claim():
        start = time.monotonic()
        deadline = start + config.deadline_ms / 1000
        retries = 0
        try:
            if writer is None or reader is None:
                reader, writer, retries = await _connect(config, deadline, source)
                reused = False
            else:
                reused = True
            writer.write(_request_bytes(config, close=False, number=number))
            try:
                status, backend, close = await asyncio.wait_for(
                    _read_response(reader), deadline - time.monotonic()
                )
            except (_Closed, ConnectionResetError, BrokenPipeError):
                if not reused or not config.replayable():
                    raise
                # A reused connection closed or reset before any byte of the answer: like browsers and
                # HTTP libraries (RFC 9112 9.3.1), resend an idempotent request once on a new connection.
                _close(writer)
                reader, writer, more = await _connect(config, deadline, source)
                retries += 1 + more
                writer.write(_request_bytes(config, close=False, number=number))
                status, backend, close = await asyncio.wait_for(
                    _read_response(reader), deadline - time.monotonic()
                )
            run.record(("k", start, time.monotonic(), status, retries, backend))
            if close:
                _close(writer)
                reader = writer = None
        except (_Failed, TimeoutError, OSError) as err:
            retries = max(retries, err.retries) if isinstance(err, _Failed) else retries
            run.record(("k", start, time.monotonic(), 0, retries, _reason(err)))
            _close(writer)
            reader = writer = None
        if interval:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.stop.wait(), interval)
    _close(writer)


async def run_load(config: LoadConfig) -> list[Record]:
    """Run the load until a bound or a stop signal; return every request's record."""
    run = _Run(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, run.stop.set)
    loop.call_later(config.max_seconds, run.stop.set)
    workers = [_keepalive_connection(run, index) for index in range(config.keepalive)]
    if config.new_interval_ms > 0:
        workers.append(_new_connections(run))
    await asyncio.gather(*workers)
    return sorted(run.records, key=lambda r: r[1])


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--path", default="/")
    parser.add_argument("--new-interval-ms", type=float, default=10.0)
    parser.add_argument("--keepalive", type=int, default=1)
    parser.add_argument("--keepalive-interval-ms", type=float, default=2.0)
    parser.add_argument("--deadline-ms", type=float, default=1000.0)
    parser.add_argument("--connect-timeout-ms", type=float, default=100.0)
    parser.add_argument("--max-requests", type=int, default=20000)
    parser.add_argument("--max-seconds", type=float, default=10.0)
    parser.add_argument("--source", help="client address(es) to bind, comma-separated")
    parser.add_argument("--ca-file", help="speak TLS and trust this certificate")
    parser.add_argument("--method", default="GET", choices=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"])
    parser.add_argument("--request-id", help="send X-Request-Id: ID-<n>")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    config = LoadConfig(
        host=args.host,
        port=args.port,
        path=args.path,
        new_interval_ms=args.new_interval_ms,
        keepalive=args.keepalive,
        keepalive_interval_ms=args.keepalive_interval_ms,
        deadline_ms=args.deadline_ms,
        connect_timeout_ms=args.connect_timeout_ms,
        max_requests=args.max_requests,
        max_seconds=min(args.max_seconds, 600.0),
        source=args.source,
        ca_file=args.ca_file,
        method=args.method,
        request_id=args.request_id,
    )
    records = asyncio.run(run_load(config))
    with open(args.out, "w") as out:
        json.dump(records, out)
    sys.exit(0)


if __name__ == "__main__":
    main()
