"""ASGI apps the integration tests serve: `beemo tests.integration.asgi_apps:NAME`.

Plain ASGI 3 callables, no framework. `app` routes HTTP requests on the path and WebSocket
sessions on `/ws/...`; query parameters tune a route. It runs the lifespan protocol too: with
$BEEMO_TEST_LIFESPAN naming a file, it appends one line per lifespan event to it. The other
apps exist for one test each: a failing or hanging lifespan, an ASGI 2 class, a WSGI function.

`MARKERS` records what an app saw after its client left (http.disconnect, a WebSocket close
code); `/marker?token=T` reads it back through another request.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PATTERN = bytes(range(256)) * 256  # 64 KiB
LIFESPAN_FILE = "BEEMO_TEST_LIFESPAN"
MARKERS: dict[str, str] = {}
_SLEEPING = threading.Lock()


def _query(scope: Scope) -> dict[str, str]:
    parsed = parse_qs(scope["query_string"].decode("latin-1"))
    return {key: values[-1] for key, values in parsed.items()}


async def _respond(
    send: Send, body: bytes, status: int = 200, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    head = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body)), *headers]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> list[bytes]:
    pieces = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise RuntimeError(f"unexpected {message['type']} while reading the body")
        if message.get("body"):
            pieces.append(message["body"])
        if not message.get("more_body", False):
            return pieces


def _record(line: str) -> None:
    path = os.environ.get(LIFESPAN_FILE)
    if path:
        with open(path, "a") as record:
            record.write(line + "\n")


# ---- HTTP routes ------------------------------------------------------------------------------


def _shown(value: Any) -> Any:
    """A scope value as JSON: bytes as latin-1 text, tuples as lists."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (list, tuple)):
        return [_shown(item) for item in value]
    if isinstance(value, dict):
        return {key: _shown(item) for key, item in value.items()}
    return value


async def scope_json(scope: Scope, receive: Receive, send: Send) -> None:
    """The scope as JSON; then this request's copy of the lifespan state is mutated."""
    shown = {key: _shown(value) for key, value in scope.items() if key != "extensions"}
    shown["extension_names"] = sorted(scope.get("extensions") or {})
    shown["body"] = b"".join(await _read_body(receive)).decode("latin-1")
    await _respond(send, json.dumps(shown).encode())
    if "state" in scope:
        scope["state"]["mutated_by"] = scope["path"]
        scope["state"]["counter"] = scope["state"].get("counter", 0) + 1


async def count(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the body, keep none of it: `pieces size sha256`. `delay` seconds are slept before
    the first receive and `pause` seconds after each piece (a slow reader)."""
    query = _query(scope)
    await asyncio.sleep(float(query.get("delay", "0")))
    pause = float(query.get("pause", "0"))
    digest = hashlib.sha256()
    pieces = size = 0
    while True:
        message = await receive()
        assert message["type"] == "http.request", message
        body = message.get("body", b"")
        if body:
            pieces += 1
            size += len(body)
            digest.update(body)
            if pause:
                await asyncio.sleep(pause)
        if not message.get("more_body", False):
            break
    await _respond(send, f"{pieces} {size} {digest.hexdigest()}".encode())


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    await _respond(send, b"".join(await _read_body(receive)))


async def stream(scope: Scope, receive: Receive, send: Send) -> None:
    """`n` pieces "piece 0\\n"... with more_body and no Content-Length (chunked)."""
    query = _query(scope)
    delay = float(query.get("delay", "0"))
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for index in range(int(query.get("n", "5"))):
        if delay:
            await asyncio.sleep(delay)
        await send({"type": "http.response.body", "body": b"piece %d\n" % index, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def big(scope: Scope, receive: Receive, send: Send) -> None:
    """`size` bytes of the pattern in 64 KiB pieces, under a Content-Length."""
    size = int(_query(scope)["size"])
    headers = [(b"content-length", b"%d" % size)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    left = size
    while left > 0:
        piece = PATTERN if left >= len(PATTERN) else PATTERN[:left]
        left -= len(piece)
        await send({"type": "http.response.body", "body": piece, "more_body": left > 0})


async def early(scope: Scope, receive: Receive, send: Send) -> None:
    """Start the response, and send its first piece, before reading the request body."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"started\n", "more_body": True})
    size = sum(len(piece) for piece in await _read_body(receive))
    await send({"type": "http.response.body", "body": b"got %d\n" % size})


async def progress(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer each piece of the request body as it arrives: a chunk "N\\n" per piece of N
    bytes, then "end TOTAL\\n"."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    total = 0
    while True:
        message = await receive()
        body = message.get("body", b"")
        if body:
            total += len(body)
            await send(
                {"type": "http.response.body", "body": b"%d\n" % len(body), "more_body": True}
            )
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.body", "body": b"end %d\n" % total})


async def wait_disconnect(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the body, start a streaming response, then wait in receive() for the client to
    leave; MARKERS[token] records what receive() gave."""
    token = _query(scope)["token"]
    MARKERS[token] = "reading"
    message = await receive()
    while message["type"] == "http.request" and message.get("more_body", False):
        message = await receive()
    if message["type"] == "http.disconnect":
        MARKERS[token] = "http.disconnect while reading"
        return
    MARKERS[token] = "waiting"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"waiting\n", "more_body": True})
    message = await receive()
    MARKERS[token] = message["type"]


async def stream_until_gone(scope: Scope, receive: Receive, send: Send) -> None:
    """Stream 64 KiB pieces until send() raises; MARKERS[token] records the exception's
    class and whether it is an OSError (as the spec asks of a send on a closed connection)."""
    token = _query(scope)["token"]
    await send({"type": "http.response.start", "status": 200, "headers": []})
    try:
        for _ in range(1 << 14):  # 1 GiB at most
            await send({"type": "http.response.body", "body": PATTERN, "more_body": True})
    except Exception as exc:
        MARKERS[token] = f"{isinstance(exc, OSError)} {type(exc).__name__}"
        raise
    MARKERS[token] = "sent everything"


async def status(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with `code` and, whatever the code, the body `body`."""
    query = _query(scope)
    head = {"type": "http.response.start", "status": int(query["code"]), "headers": []}
    await send(head)
    await send({"type": "http.response.body", "body": query.get("body", "").encode()})


async def marker(scope: Scope, receive: Receive, send: Send) -> None:
    await _respond(send, MARKERS.get(_query(scope)["token"], "").encode())


def _count_sleeping(change: int) -> None:
    with _SLEEPING:  # --threads N: the loops run in N threads
        MARKERS["sleeping"] = str(int(MARKERS.get("sleeping", "0")) + change)


async def sleep(scope: Scope, receive: Receive, send: Send) -> None:
    """Sleep `ms`, then answer; MARKERS["sleeping"] counts the requests asleep right now."""
    milliseconds = int(_query(scope).get("ms", "1000"))
    _count_sleeping(1)
    try:
        await asyncio.sleep(milliseconds / 1000)
    finally:
        _count_sleeping(-1)
    await _respond(send, b"slept %d\n" % milliseconds)


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await _respond(send, b"hello\n")


async def raise_early(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("boom before http.response.start")


async def raise_mid(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"first piece\n", "more_body": True})
    raise RuntimeError("boom mid-stream")


async def no_response(scope: Scope, receive: Receive, send: Send) -> None:
    return None


_START = {"type": "http.response.start", "status": 200, "headers": []}

# Each sends these messages in turn: the last one breaks the ASGI contract.
BROKEN: dict[str, list[Message]] = {
    "unknown-type": [{"type": "http.response.nonsense"}],
    "start-twice": [_START, _START],
    "body-before-start": [{"type": "http.response.body", "body": b"x"}],
    "status-str": [{"type": "http.response.start", "status": "200", "headers": []}],
    "str-body": [_START, {"type": "http.response.body", "body": "a str, not bytes"}],
    "crlf-header": [
        {"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"a\r\nx-b: c")]},
        {"type": "http.response.body", "body": b"should not be sent"},
    ],
    "too-long": [
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"3")]},
        {"type": "http.response.body", "body": b"more than three"},
    ],
    "too-short": [
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]},
        {"type": "http.response.body", "body": b"short"},
    ],
    "too-short-streamed": [
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]},
        {"type": "http.response.body", "body": b"short", "more_body": True},
        {"type": "http.response.body", "body": b""},
    ],
    "too-long-streamed": [
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"8")]},
        {"type": "http.response.body", "body": b"first", "more_body": True},
        {"type": "http.response.body", "body": b"second", "more_body": True},
    ],
    "str-header": [
        {"type": "http.response.start", "status": 200, "headers": [("x-a", "str")]},
        {"type": "http.response.body", "body": b"should not be sent"},
    ],
    "status-99": [
        {"type": "http.response.start", "status": 99, "headers": []},
        {"type": "http.response.body", "body": b"should not be sent"},
    ],
    "body-after-end": [
        _START,
        {"type": "http.response.body", "body": b"done"},
        {"type": "http.response.body", "body": b"again"},
    ],
}


async def broken(scope: Scope, receive: Receive, send: Send) -> None:
    for message in BROKEN[_query(scope)["kind"]]:
        await send(dict(message))


async def pathsend(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.pathsend", "path": _query(scope)["path"]})


async def zerocopysend(scope: Scope, receive: Receive, send: Send) -> None:
    query = _query(scope)
    headers = [(b"content-length", query["length"].encode())] if "length" in query else []
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    with open(query["path"], "rb") as file:
        if "parts" in query:
            # The file in `parts` messages without an offset: each continues from where the
            # previous one left the file's position (as sendfile(2) without an offset does).
            size = os.fstat(file.fileno()).st_size
            parts = int(query["parts"])
            for index in range(parts):
                count = size // parts if index < parts - 1 else size - size // parts * index
                more = index < parts - 1
                message = {"type": "http.response.zerocopysend", "file": file, "count": count}
                await send({**message, "more_body": more})
            return
        message: Message = {"type": "http.response.zerocopysend", "file": file}
        if "offset" in query:
            message["offset"] = int(query["offset"])
        if "count" in query:
            message["count"] = int(query["count"])
        await send(message)


async def trailers(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
    await send({"type": "http.response.body", "body": b"body ", "more_body": True})
    await send({"type": "http.response.body", "body": b"then trailers"})
    await send(
        {
            "type": "http.response.trailers",
            "headers": [(b"x-checksum", b"abc123"), (b"x-rows", b"2")],
        }
    )


ROUTES: dict[str, Callable[[Scope, Receive, Send], Awaitable[None]]] = {
    "/": hello,
    "/count": count,
    "/echo": echo,
    "/stream": stream,
    "/big": big,
    "/early": early,
    "/progress": progress,
    "/wait-disconnect": wait_disconnect,
    "/marker": marker,
    "/stream-until-gone": stream_until_gone,
    "/status": status,
    "/sleep": sleep,
    "/raise": raise_early,
    "/raise-mid": raise_mid,
    "/no-response": no_response,
    "/broken": broken,
    "/pathsend": pathsend,
    "/zerocopysend": zerocopysend,
    "/trailers": trailers,
}


# ---- WebSocket routes -------------------------------------------------------------------------


async def ws_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept (with the first subprotocol offered and an extra header), echo every message;
    MARKERS[token] gets the close code seen in websocket.disconnect."""
    token = _query(scope).get("token", "")
    assert (await receive())["type"] == "websocket.connect"
    offered = scope["subprotocols"]
    await send(
        {
            "type": "websocket.accept",
            "subprotocol": offered[0] if offered else None,
            "headers": [(b"x-extra", b"accepted")],
        }
    )
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            MARKERS[token] = f"disconnect {message['code']}"
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def ws_close(scope: Scope, receive: Receive, send: Send) -> None:
    code = int(_query(scope).get("code", "1000"))
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": "closing"})
    await send({"type": "websocket.close", "code": code, "reason": "app closes"})


async def ws_reject(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.close"})


async def ws_deny(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"14")]
    await send({"type": "websocket.http.response.start", "status": 401, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": b"go away", "more_body": True})
    await send({"type": "websocket.http.response.body", "body": b", thief"})


async def ws_raise(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    if _query(scope).get("when") == "after":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "accepted"})
    raise RuntimeError("boom in a WebSocket app")


async def ws_return(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": "bye"})


async def ws_scope(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept and send the scope as one JSON text message."""
    await receive()
    await send({"type": "websocket.accept"})
    shown = {key: _shown(value) for key, value in scope.items() if key != "extensions"}
    shown["extension_names"] = sorted(scope.get("extensions") or {})
    await send({"type": "websocket.send", "text": json.dumps(shown)})
    await send({"type": "websocket.close"})


async def ws_flood(scope: Scope, receive: Receive, send: Send) -> None:
    """Send `n` binary messages of 64 KiB, then MARKERS[token] = "sent"; never receive."""
    query = _query(scope)
    await receive()
    await send({"type": "websocket.accept"})
    for _ in range(int(query["n"])):
        await send({"type": "websocket.send", "bytes": PATTERN})
    MARKERS[query["token"]] = "sent"


async def ws_deaf(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept, then wait `ms` before receiving anything; then count what arrives (bytes) until
    the client closes, and send the count."""
    query = _query(scope)
    await receive()
    await send({"type": "websocket.accept"})
    await asyncio.sleep(int(query.get("ms", "1000")) / 1000)
    total = 0
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("bytes") or b""
        if data == b"done":
            return await send({"type": "websocket.send", "text": str(total)})
        total += len(data)


WS_ROUTES: dict[str, Callable[[Scope, Receive, Send], Awaitable[None]]] = {
    "/ws/echo": ws_echo,
    "/ws/close": ws_close,
    "/ws/reject": ws_reject,
    "/ws/deny": ws_deny,
    "/ws/raise": ws_raise,
    "/ws/return": ws_return,
    "/ws/scope": ws_scope,
    "/ws/flood": ws_flood,
    "/ws/deaf": ws_deaf,
}


# ---- the apps ---------------------------------------------------------------------------------


async def _lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _record("startup")
            scope["state"]["greeting"] = "hello from startup"
            scope["state"]["shared"] = []  # a mutable value: shallow copies share it
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            _record("shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    kind = scope["type"]
    if kind == "lifespan":
        return await _lifespan(scope, receive, send)
    path = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    if kind == "websocket":
        route = WS_ROUTES.get(path)
        if route is None:
            await receive()
            return await send({"type": "websocket.close", "code": 1000})
        return await route(scope, receive, send)
    route = ROUTES.get(path)
    if route is None:
        if path.startswith("/scope"):
            return await scope_json(scope, receive, send)
        return await _respond(send, b"not found\n", 404)
    await route(scope, receive, send)


async def startup_failed(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "lifespan"
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "the database is down"})


async def startup_raises(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await receive()
        raise RuntimeError("cannot start: no configuration found")
    await hello(scope, receive, send)


async def lifespan_unsupported(scope: Scope, receive: Receive, send: Send) -> None:
    """Like Django: any scope but http raises at once."""
    if scope["type"] != "http":
        _record(f"called with {scope['type']}")
        raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
    await hello(scope, receive, send)


async def lifespan_recorded(scope: Scope, receive: Receive, send: Send) -> None:
    """Records every scope type it is called with (to see --lifespan off never sends one)."""
    if scope["type"] == "lifespan":
        _record("lifespan scope")
        return await _lifespan(scope, receive, send)
    await hello(scope, receive, send)


async def shutdown_hangs(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "lifespan":
        return await hello(scope, receive, send)
    await receive()
    await send({"type": "lifespan.startup.complete"})
    await receive()
    _record("shutdown started")
    await asyncio.Event().wait()  # never answers


class ASGI2App:
    """An ASGI 2 ("double callable") app: the class takes the scope, the instance is called."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, receive: Receive, send: Send) -> None:
        if self.scope["type"] == "lifespan":
            return await _lifespan(self.scope, receive, send)
        await _respond(send, b"asgi2 " + self.scope["path"].encode())


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"wsgi\n"]
