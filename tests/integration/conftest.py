"""Helpers for the integration tests: a raw HTTP/1.1 client, server fixtures, /proc readers.

Every test that exercises the core runs on both pollers: module-scoped fixtures take the
`poller` fixture, which is parametrized over `support.POLLERS`, so each module starts one
server per poller (pytest orders the tests to keep that to one start each).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.support import POLLERS, ROOT, Running, serve

APPS = "tests.integration.apps"
ASGI_APPS = "tests.integration.asgi_apps"
LOOPS = ("asyncio", "uvloop")
TIMEOUT = 10.0  # seconds any single socket operation may take before a test fails


def app(name: str) -> str:
    """The `module:attr` spec of a test app in tests/integration/apps.py."""
    return f"{APPS}:{name}"


def asgi_app(name: str) -> str:
    """The `module:attr` spec of a test app in tests/integration/asgi_apps.py."""
    return f"{ASGI_APPS}:{name}"


@pytest.fixture(scope="module", params=POLLERS)
def poller(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module", params=LOOPS)
def loop(request: pytest.FixtureRequest) -> str:
    """The ASGI event loop (`--loop`): module-scoped, like `poller`."""
    return request.param


@contextlib.contextmanager
def running(*args: str, poller: str, name: str = "app", **kwargs: object) -> Iterator[Running]:
    """`serve()` one of our test apps."""
    with serve(app(name), *args, poller=poller, **kwargs) as server:  # type: ignore[arg-type]
        yield server


@contextlib.contextmanager
def asgi_running(
    *args: str, loop: str | None = None, name: str = "app", **kwargs: object
) -> Iterator[Running]:
    """`serve()` one of the ASGI test apps, on `loop` (the default, auto, when None)."""
    loop_args = ("--loop", loop) if loop else ()
    with serve(asgi_app(name), *loop_args, *args, **kwargs) as server:  # type: ignore[arg-type]
        yield server


# ---- a byte-exact HTTP/1.1 client -----------------------------------------------------------


def request_bytes(
    method: str = "GET",
    path: str = "/",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    version: str = "1.1",
    host: bool = True,
) -> bytes:
    """A request head (and body) as bytes; adds Host and, for a body, Content-Length."""
    lines = [f"{method} {path} HTTP/{version}"]
    given = {name.lower() for name, _ in headers or []}
    if host and "host" not in given:
        lines.append("Host: test")
    lines += [f"{name}: {value}" for name, value in headers or []]
    if body and "content-length" not in given and "transfer-encoding" not in given:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(*pieces: bytes, trailers: list[tuple[str, str]] | None = None) -> bytes:
    """A chunked request body made of `pieces`, with optional trailer fields."""
    out = b"".join(b"%x\r\n%b\r\n" % (len(piece), piece) for piece in pieces if piece)
    tail = "".join(f"{name}: {value}\r\n" for name, value in trailers or [])
    return out + b"0\r\n" + tail.encode("latin-1") + b"\r\n"


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]  # names lower-cased, in order
    body: bytes = b""
    trailers: list[tuple[str, str]] = field(default_factory=list)
    raw: bytes = b""

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key == name.lower()]
        return ", ".join(values) if values else None

    def names(self) -> list[str]:
        return [key for key, _ in self.headers]


class Closed(Exception):
    """The server closed the connection before a complete response."""


class RawConn:
    """A blocking socket with a read buffer that parses responses byte-exactly."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.eof = False

    @classmethod
    def to(cls, server: Running | str | tuple[str, int], timeout: float = TIMEOUT) -> RawConn:
        if isinstance(server, Running):
            address: str | tuple[str, int] = (
                server.url if server.url.startswith("unix:") else (server.host, server.port)
            )
        else:
            address = server
        if isinstance(address, str):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(address.removeprefix("unix:"))
        else:
            sock = socket.create_connection(address, timeout=timeout)
        return cls(sock)

    def __enter__(self) -> RawConn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise Closed(f"EOF after {len(self.buffer)} of {size} bytes")
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if not self._fill():
                raise Closed(f"EOF in a line: {self.buffer[:200]!r}")
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def read_head(self) -> Response:
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise Closed(f"EOF in a response head: {self.buffer[:200]!r}")
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        match = re.fullmatch(r"HTTP/(\d\.\d) (\d{3}) ?(.*)", status_line)
        assert match, f"bad status line {status_line!r}"
        headers = []
        for line in lines:
            name, sep, value = line.partition(":")
            assert sep and name == name.strip(), f"bad header line {line!r}"
            headers.append((name.lower(), value.strip()))
        return Response(match[1], int(match[2]), match[3], headers, raw=head + b"\r\n\r\n")

    def read_chunk(self) -> bytes:
        """One chunk of a chunked body whose head was read; b"" for the last chunk (its
        trailer section is read too)."""
        size = int(self._line().split(b";")[0], 16)
        if not size:
            while self._line():
                pass
            return b""
        piece = self._take(size + 2)
        assert piece.endswith(b"\r\n"), "chunk not followed by CRLF"
        return piece[:-2]

    def read_response(self, method: str = "GET") -> Response:
        """One complete response (an interim 1xx is returned as it is: call again)."""
        response = self.read_head()
        if method == "HEAD" or response.status < 200 or response.status in (204, 304):
            return response
        encoding = response.header("transfer-encoding")
        length = response.header("content-length")
        raw = []
        if encoding is not None:
            assert encoding.lower() == "chunked", encoding
            assert length is None, "both Content-Length and Transfer-Encoding"
            pieces = []
            while True:
                size_line = self._line()
                raw.append(size_line + b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    break
                piece = self._take(size + 2)
                assert piece.endswith(b"\r\n"), "chunk not followed by CRLF"
                raw.append(piece)
                pieces.append(piece[:-2])
            while line := self._line():
                raw.append(line + b"\r\n")
                name, _, value = line.decode("latin-1").partition(":")
                response.trailers.append((name.lower(), value.strip()))
            raw.append(b"\r\n")
            response.body = b"".join(pieces)
        elif length is not None:
            response.body = self._take(int(length))
            raw.append(response.body)
        else:
            response.body = self.read_all()
            raw.append(response.body)
        response.raw += b"".join(raw)
        return response

    def read_all(self, timeout: float = TIMEOUT) -> bytes:
        """Everything until the server closes; fails if it does not close within `timeout`."""
        self.sock.settimeout(timeout)
        try:
            while self._fill():
                pass
        finally:
            self.sock.settimeout(TIMEOUT)
        data, self.buffer = self.buffer, b""
        return data

    def closed_within(self, timeout: float) -> bool:
        """True when the server closes within `timeout` without sending anything more."""
        self.sock.settimeout(timeout)
        try:
            more = self._fill()
        except TimeoutError:
            return False
        finally:
            self.sock.settimeout(TIMEOUT)
        assert not more, f"unexpected bytes after the response: {self.buffer[:200]!r}"
        return True

    def exchange(self, data: bytes, method: str = "GET") -> Response:
        self.send(data)
        return self.read_response(method)


def fetch(server: Running, data: bytes, method: str = "GET") -> Response:
    """Send `data` on a fresh connection and read one response."""
    with RawConn.to(server) as conn:
        return conn.exchange(data, method)


def get(server: Running, path: str = "/", **kwargs: object) -> Response:
    method = str(kwargs.pop("method", "GET"))
    return fetch(server, request_bytes(method, path, **kwargs), method)  # type: ignore[arg-type]


# ---- processes --------------------------------------------------------------------------------


def proc_status(pid: int, key: str) -> int:
    """A `kB` value of /proc/PID/status (VmRSS, VmHWM), in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def wait_until(
    predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.02
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def listening_urls(server: Running, count: int, timeout: float = 5.0) -> list[str]:
    """Every "Listening at" URL of the server, once `count` of them were logged."""

    def found() -> list[str]:
        return re.findall(r"Listening at: (\S+)", server.read_log())

    wait_until(lambda: len(found()) >= count, timeout)
    return found()


def log_entries(log: str) -> list[str]:
    """The error log split into entries: a "[date] [pid] [LEVEL] ..." line and what follows."""
    entries: list[str] = []
    for line in log.splitlines(keepends=True):
        if re.match(r"\[[^\]]+\] \[\d+\] \[[A-Z]+\] ", line) or not entries:
            entries.append(line)
        else:
            entries[-1] += line
    return entries


def beemo_cli(
    *args: str, timeout: float = 15.0, cwd: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m beemo ARGS` to completion (for the command-line error cases)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "beemo", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env=env,
    )


def stop_and_wait(
    server: Running, sig: int = signal.SIGTERM, timeout: float = 15.0
) -> tuple[int, float]:
    """Signal the server; its exit status and how long it took to exit."""
    started = time.monotonic()
    status = server.stop(sig, timeout)
    return status, time.monotonic() - started


def ipv6_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True
