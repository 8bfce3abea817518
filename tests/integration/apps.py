"""WSGI apps the integration tests serve: `beemo tests.integration.apps:NAME`.

`app` routes on PATH_INFO; each route exercises one piece of the server (framing, body reading,
streaming, errors, file_wrapper, context variables). Query parameters tune a route (sizes,
delays, a file to record `close()` in). `validated` is a smaller app wrapped in
`wsgiref.validate.validator`. `NOT_CALLABLE` exists for the command-line tests.
"""

from __future__ import annotations

import contextvars
import hashlib
import io
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs
from wsgiref.validate import validator

NOT_CALLABLE = 42
PATTERN = bytes(range(256)) * 256  # 64 KiB, so a multiple of 256 bytes is whole patterns
REQUEST = contextvars.ContextVar("REQUEST")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def pattern(size: int) -> bytes:
    """`size` bytes of the repeating 0..255 pattern (what the download routes send)."""
    whole, rest = divmod(size, len(PATTERN))
    return PATTERN * whole + PATTERN[:rest]


def _query(environ: Environ) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(environ["QUERY_STRING"]).items()}


def _plain(
    start_response: StartResponse,
    body: bytes,
    status: str = "200 OK",
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    start_response(
        status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), *(extra or [])]
    )
    return [body]


def _read_all(environ: Environ, piece: int = 65536) -> Iterator[bytes]:
    read = environ["wsgi.input"].read
    while True:
        data = read(piece)
        if not data:
            return
        yield data


# ---- routes ----------------------------------------------------------------------------------


def hello(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    return _plain(start_response, b"hello\n")


def echo(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    return _plain(start_response, b"".join(_read_all(environ)))


def count(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Read the body in pieces, keep none of it: answer with its size and SHA-256."""
    digest = hashlib.sha256()
    size = 0
    piece = int(_query(environ).get("piece", "65536"))
    for data in _read_all(environ, piece):
        size += len(data)
        digest.update(data)
    return _plain(start_response, f"{size} {digest.hexdigest()}".encode())


def stream(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """n pieces "piece 0\\n", "piece 1\\n"... with no Content-Length (chunked)."""
    query = _query(environ)
    start_response("200 OK", [("Content-Type", "text/plain")])
    delay = float(query.get("delay", "0"))

    def pieces() -> Iterator[bytes]:
        for index in range(int(query.get("n", "5"))):
            if delay:
                time.sleep(delay)
            yield f"piece {index}\n".encode()

    return pieces()


def big(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """`size` bytes of the pattern: `mode=gen` yields 64 KiB pieces with no Content-Length,
    `mode=one` returns one bytes object (Content-Length known), `mode=gencl` yields pieces
    under a Content-Length."""
    query = _query(environ)
    size = int(query["size"])
    mode = query.get("mode", "gen")
    if mode == "one":
        return _plain(start_response, pattern(size))
    headers = [("Content-Type", "application/octet-stream")]
    if mode == "gencl":
        headers.append(("Content-Length", str(size)))
    start_response("200 OK", headers)

    def pieces() -> Iterator[bytes]:
        left = size
        while left > 0:
            piece = PATTERN if left >= len(PATTERN) else PATTERN[:left]
            left -= len(piece)
            yield piece

    return pieces()


def status(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Answer with `code`; `body` is what the app (wrongly, for 204/304) returns."""
    query = _query(environ)
    body = query.get("body", "").encode()
    start_response(query["code"] + " Whatever", [("X-Status", query["code"])])
    return [body]


def close(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    return _plain(start_response, b"bye\n", extra=[("Connection", "close")])


def sleep(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    milliseconds = int(_query(environ).get("ms", "1000"))
    time.sleep(milliseconds / 1000)
    return _plain(start_response, f"slept {milliseconds}\n".encode())


def raise_early(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    raise RuntimeError("boom before start_response")


def raise_mid(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])

    def pieces() -> Iterator[bytes]:
        yield b"first piece\n"
        raise RuntimeError("boom mid-stream")

    return pieces()


def raise_mid_cl(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "100")])

    def pieces() -> Iterator[bytes]:
        yield b"first piece\n"
        raise RuntimeError("boom mid-stream")

    return pieces()


def garbage(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["a str, not bytes"]  # type: ignore[list-item]


def no_start(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    return [b"never called start_response"]


class Recorded:
    """An endless response body whose close() writes "closed" to the file `path`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self.sent > 1 << 30:  # 1 GiB: a client that never goes away ends the test anyway
            raise StopIteration
        self.sent += len(PATTERN)
        return PATTERN

    def close(self) -> None:
        with open(self.path, "a") as record:
            record.write(f"closed after {self.sent}\n")


def record_close(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return Recorded(_query(environ)["path"])


def record_close_gen(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    path = _query(environ)["path"]
    start_response("200 OK", [("Content-Type", "application/octet-stream")])

    def pieces() -> Iterator[bytes]:
        sent = 0
        try:
            while sent < 1 << 30:
                sent += len(PATTERN)
                yield PATTERN
        finally:
            with open(path, "a") as record:
                record.write(f"generator closed after {sent}\n")

    return pieces()


def file(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    query = _query(environ)
    path = query["path"]
    headers = [("Content-Type", "application/octet-stream")]
    if query.get("cl", "1") == "1":
        size = os.path.getsize(path) - int(query.get("seek", "0"))
        headers.append(("Content-Length", query.get("length", str(size))))
    start_response("200 OK", headers)
    handle = open(path, "rb")
    handle.seek(int(query.get("seek", "0")))
    return environ["wsgi.file_wrapper"](handle, 32768)


def bytesio(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    query = _query(environ)
    size = int(query["size"])
    headers = [("Content-Type", "application/octet-stream")]
    if query.get("cl", "1") == "1":
        headers.append(("Content-Length", str(size)))
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](io.BytesIO(pattern(size)), 10000)


def context(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Report what REQUEST holds (should always be unset), then set it for this request."""
    seen = REQUEST.get("unset")
    REQUEST.set(environ["QUERY_STRING"] or "set")
    return _plain(start_response, f"{seen} {threading.get_ident()}".encode())


def context_stream(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Like `context`, but the variable is read and set while the body is iterated; `pad`
    pieces of 64 KiB between make a slow client park the response (to resume it later)."""
    query = _query(environ)
    start_response("200 OK", [("Content-Type", "text/plain")])

    def pieces() -> Iterator[bytes]:
        seen = REQUEST.get("unset")
        REQUEST.set(query.get("token", "set in a generator"))
        yield f"{seen} {threading.get_ident()} ".encode()
        for _ in range(int(query.get("pad", "0"))):
            yield b"." * len(PATTERN)
        yield f" {REQUEST.get()}".encode()

    return pieces()


def environ_json(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    shown = {key: value for key, value in environ.items() if isinstance(value, str | bool | int)}
    return _plain(start_response, json.dumps(shown).encode())


def write_callable(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    write(b"by write()\n")
    return [b"then returned\n"]


def smuggled(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    return _plain(start_response, b"SMUGGLED\n")


def read_later(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Wait `ms`, then read the body (the 100 Continue must go out only now)."""
    time.sleep(int(_query(environ).get("ms", "300")) / 1000)
    return _plain(start_response, b"".join(_read_all(environ)))


def wrong_length(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Declare Content-Length `cl` but return `size` bytes (in one list, or `gen=1` pieces)."""
    query = _query(environ)
    body = b"x" * int(query["size"])
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", query["cl"])])
    if query.get("gen") == "1":
        return iter([body[:1], body[1:]])
    return [body]


def bad_header(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("X-Split", "a\r\nX-Injected: yes")])
    return [b"should not be sent\n"]


class _CloseRaises:
    def __iter__(self) -> Iterator[bytes]:
        return iter([b"body\n"])

    def close(self) -> None:
        raise RuntimeError("boom in close()")


def close_raises(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return _CloseRaises()


def error_page(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """PEP 3333 error handling: start_response again with exc_info before any output."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("handled by the app")
    except ValueError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"app error page\n"]


ROUTES: dict[str, Callable[[Environ, StartResponse], Iterable[bytes]]] = {
    "/": hello,
    "/echo": echo,
    "/count": count,
    "/stream": stream,
    "/big": big,
    "/status": status,
    "/close": close,
    "/sleep": sleep,
    "/raise": raise_early,
    "/raise-mid": raise_mid,
    "/raise-mid-cl": raise_mid_cl,
    "/garbage": garbage,
    "/no-start": no_start,
    "/record-close": record_close,
    "/record-close-gen": record_close_gen,
    "/file": file,
    "/bytesio": bytesio,
    "/context": context,
    "/context-stream": context_stream,
    "/environ": environ_json,
    "/write": write_callable,
    "/smuggled": smuggled,
    "/read-later": read_later,
    "/wrong-length": wrong_length,
    "/bad-header": bad_header,
    "/close-raises": close_raises,
    "/error-page": error_page,
}


def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    route = ROUTES.get("/environ" if path.startswith("/environ/") else path)
    if route is None:
        return _plain(start_response, b"not found\n", "404 Not Found")
    return route(environ, start_response)


# ---- an app that wsgiref.validate checks ------------------------------------------------------


def _validated_inner(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    stream_in = environ["wsgi.input"]
    if path == "/echo":
        pieces = []
        while True:
            data = stream_in.read(4096)
            if not data:
                break
            pieces.append(data)
        body = b"".join(pieces)
        start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))],
        )
        return [body]
    if path == "/lines":
        lines = [stream_in.readline()]
        lines += list(stream_in.readlines())
        body = b"|".join(lines)
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        )
        return [body]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (f"line {n}\n".encode() for n in range(3))
    if path == "/empty":
        start_response("204 No Content", [])
        return []
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"via write\n")
        return [b"and iterable\n"]
    if path == "/file":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"file body\n"))
    if path == "/errors":
        environ["wsgi.errors"].write("a line for wsgi.errors\n")
        environ["wsgi.errors"].flush()
    body = json.dumps(
        {"method": environ["REQUEST_METHOD"], "path": path, "query": environ["QUERY_STRING"]}
    ).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


validated = validator(_validated_inner)
