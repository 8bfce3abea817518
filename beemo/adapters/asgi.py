"""The ASGI 3 adapter, HTTP part: a `RequestHead` becomes a scope and one app call.

`ASGIAdapter.connection` builds, once per connection, the scope entries its requests share;
`ASGIAdapter.run` is the coroutine the asyncio driver runs as one task per request. The app's
`receive` and `send` are the methods of an `HTTPCycle`, which checks every message against the
spec (www.rst, and the extensions Beemo offers: `http.response.trailers`,
`http.response.pathsend`, `http.response.zerocopysend`) and turns it into calls on the driver's
`AsyncExchange`. A message out of order or malformed raises `AppProtocolError` in the app's
`send`; the app's exception then reaches `run`, which has the driver answer 500 (no response
started) or close (one had).

ASGI 2 apps (a class taking the scope, returning an instance to call with receive and send)
are wrapped with asgiref's `guarantee_single_callable`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

from beemo.adapters.asgi_websocket import WebSocketCycle, subprotocols
from beemo.errors import AppProtocolError, ClientDisconnected
from beemo.server.http.exchange import AsyncExchange
from beemo.server.http.messages import RequestHead, ResponseHead
from beemo.server.http.policy import log_app_error

__all__ = ["ASGIAdapter", "ASGIApp", "HTTPCycle"]

Scope = dict[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

error_log = logging.getLogger("beemo.error")

_ASGI = {"version": "3.0", "spec_version": "2.4"}
_EXTENSIONS: dict[str, dict[str, object]] = {
    "http.response.trailers": {},
    "http.response.pathsend": {},
    "http.response.zerocopysend": {},
}
_WS_EXTENSIONS: dict[str, dict[str, object]] = {"websocket.http.response": {}}
_DISCONNECT = {"type": "http.disconnect"}
_NO_WEBSOCKET = ResponseHead(501, ((b"content-type", b"text/plain; charset=utf-8"),))
_NO_WEBSOCKET_TEXT = b"WebSocket support is not installed: pip install 'beemo[standard]'\n"
_FORBIDDEN = ResponseHead(403, ((b"content-length", b"0"),))

# HTTPCycle states: what the next send() may be.
_START = 0  # http.response.start
_BODY = 1  # http.response.body (or pathsend / zerocopysend)
_TRAILERS = 2  # http.response.trailers
_DONE = 3  # nothing: the response is complete

_LOWER: dict[bytes, bytes] = {}
_LOWER_MAX = 4096


def _lower(name: bytes) -> bytes:
    lowered = _LOWER.get(name)
    if lowered is None:
        if len(_LOWER) >= _LOWER_MAX:
            _LOWER.clear()
        lowered = _LOWER[name] = name.lower()
    return lowered


class HTTPCycle:
    """One request's `receive` and `send` (see the module docstring)."""

    __slots__ = ("_exchange", "_request_done", "_state", "_trailers", "target")

    def __init__(self, exchange: AsyncExchange, target: bytes) -> None:
        self._exchange = exchange
        self._state = _START
        self._trailers = False
        self._request_done = False  # the last http.request message was given
        self.target = target

    async def receive(self) -> Message:
        """ASGI receive: the request body in pieces, then http.disconnect once the client
        is gone or the response is complete."""
        exchange = self._exchange
        while True:
            if self._state == _DONE or exchange.disconnected:
                return _DISCONNECT
            if not self._request_done:
                read = exchange.read_body()
                if read is not None:
                    body, more = read
                    if not more:
                        self._request_done = True
                    return {"type": "http.request", "body": body, "more_body": more}
            await exchange.wait()

    async def send(self, message: Message) -> None:
        """ASGI send: check the message against the spec and hand it to the driver.

        Raises:
            AppProtocolError: a message of the wrong type, out of order, or malformed.
            ClientDisconnected: the client is gone (an OSError, as the spec asks).
        """
        try:
            kind = message["type"]
        except (KeyError, TypeError):
            raise AppProtocolError(
                f"an ASGI message must be a dict with a type: {message!r}"
            ) from None
        state = self._state
        if kind == "http.response.body" and state == _BODY:
            body = message.get("body", b"")
            if type(body) is not bytes:
                body = _bytes(body, "http.response.body")
            more = bool(message.get("more_body", False))
            waiter = self._exchange.send_body(body, more or self._trailers)
            # The state moves only once the driver took the message: a body it refused
            # (a bad head, a wrong length) leaves the response incomplete, so `run` answers
            # 500 or closes instead of holding the connection open.
            if not more:
                self._state = _TRAILERS if self._trailers else _DONE
            if waiter is not None:
                await waiter
        elif kind == "http.response.start" and state == _START:
            status = message.get("status")
            headers = message.get("headers", ())
            if type(status) is int and (type(headers) is list or type(headers) is tuple):
                head = _new_head(ResponseHead, (status, tuple(headers), b""))
            else:
                head = _response_head(status, headers)  # checked, converted
            self._exchange.send_head(head)
            self._trailers = bool(message.get("trailers", False))
            self._state = _BODY
        elif kind == "http.response.trailers" and state == _TRAILERS:
            headers = message.get("headers", [])
            more = bool(message.get("more_trailers", False))
            if more:
                raise AppProtocolError("more_trailers is not supported: send them in one message")
            try:
                trailers = list(headers)
            except TypeError:
                raise AppProtocolError(
                    f"http.response.trailers headers must be an iterable of pairs, not {headers!r}"
                ) from None
            self._exchange.send_trailers(trailers)
            self._state = _DONE
        elif kind == "http.response.pathsend" and state == _BODY:
            await self._send_path(message)
        elif kind == "http.response.zerocopysend" and state == _BODY:
            await self._send_file(message)
        else:
            raise AppProtocolError(self._out_of_order(kind))

    def _out_of_order(self, kind: object) -> str:
        expected = ("http.response.start", "http.response.body", "http.response.trailers", "")
        wanted = expected[self._state]
        if not wanted:
            return f"ASGI message {kind!r} sent after the response was complete"
        return f"unexpected ASGI message {kind!r}: expected {wanted!r}"

    async def _send_path(self, message: Message) -> None:
        path = message.get("path")
        if not isinstance(path, str) or not os.path.isabs(path):
            raise AppProtocolError(f"http.response.pathsend needs an absolute path, not {path!r}")
        with open(path, "rb") as file:
            waiter = self._exchange.send_file(file.fileno(), 0, -1, self._trailers)
            if waiter is not None:
                await waiter
        self._state = _TRAILERS if self._trailers else _DONE

    async def _send_file(self, message: Message) -> None:
        file = message.get("file")
        try:
            fd = file if isinstance(file, int) else file.fileno()  # type: ignore[union-attr]
        except (AttributeError, OSError, ValueError):
            raise AppProtocolError(
                "http.response.zerocopysend needs a file with a file descriptor"
            ) from None
        offset = message.get("offset")
        count = message.get("count")
        more = bool(message.get("more_body", False))
        if offset is None:
            offset = os.lseek(fd, 0, os.SEEK_CUR)
        waiter = self._exchange.send_file(fd, offset, -1 if count is None else count, more)
        if waiter is not None:
            await waiter
        if not more:
            self._state = _TRAILERS if self._trailers else _DONE

    @property
    def complete(self) -> bool:
        return self._state == _DONE

    @property
    def started(self) -> bool:
        return self._state != _START


def _bytes(body: object, kind: str) -> bytes:
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    raise AppProtocolError(f"{kind} body must be bytes, not {type(body).__name__}")


def _response_head(status: object, headers: Any) -> ResponseHead:
    if type(status) is not int:
        raise AppProtocolError(f"http.response.start status must be an int, not {status!r}")
    try:
        pairs = tuple(headers)
    except TypeError:
        raise AppProtocolError(
            f"http.response.start headers must be an iterable of pairs, not {headers!r}"
        ) from None
    return _new_head(ResponseHead, (status, pairs, b""))


# NamedTuple's generated __new__ is a Python function; building the tuple directly skips it.
_new_head = tuple.__new__


class ASGIAdapter:
    """Calls an ASGI 3 app for each request.

    Args:
        app: the ASGI 3 callable.
        root_path: the URL prefix the app is mounted at.
    """

    def __init__(self, app: ASGIApp, *, root_path: str = "", websocket: bool = True) -> None:
        self.app = app
        self.root_path = root_path.rstrip("/")
        self.websocket = websocket  # the websockets library is installed
        self.state: dict[str, Any] | None = None  # lifespan state, once startup ran

    def connection(self, server: tuple[str, int], client: tuple[str, int] | None) -> Scope:
        """The scope entries shared by every request on one connection."""
        return {
            "type": "http",
            "asgi": _ASGI,
            "scheme": "http",
            "server": server if server[1] else (server[0], None),
            "client": client,
            "root_path": self.root_path,
            "extensions": _EXTENSIONS,
        }

    def scope(self, request: RequestHead, base: Scope) -> Scope:
        """The HTTP scope of `request` on the connection whose `connection()` is `base`."""
        scope = base.copy()
        target = request.target
        # bytes.find, not `in`: CPython 3.11's bytes `in` formats and discards a TypeError.
        if target.find(b"?") >= 0:
            raw_path, _, query = target.partition(b"?")
        else:
            raw_path = target
            query = b""
        if raw_path[:1] != b"/" and raw_path != b"*":  # absolute-form (RFC 9112 3.2.2)
            raw_path = b"/" + raw_path.split(b"://", 1)[-1].partition(b"/")[2]
        path = raw_path.decode("latin-1")
        if raw_path.find(b"%") >= 0 or not raw_path.isascii():
            path = unquote(raw_path.decode("utf-8", "surrogateescape"), errors="surrogateescape")
        root = self.root_path
        if root:
            # ASGI 2.4 / Starlette: path and raw_path include root_path.
            if not (path == root or path.startswith(root + "/")):
                path = root + path
                raw_path = root.encode("utf-8") + raw_path
        scope["method"] = request.method
        scope["path"] = path
        scope["raw_path"] = raw_path
        scope["query_string"] = query
        scope["http_version"] = request.http_version
        lower = _LOWER
        scope["headers"] = [
            (lower.get(name) or _lower(name), value) for name, value in request.headers
        ]
        state = self.state
        if state is not None:
            scope["state"] = state.copy()
        return scope

    async def run(self, request: RequestHead, exchange: AsyncExchange, base: Scope) -> None:
        """Run the app for one request (the task the driver starts)."""
        # Upgrade requests never keep the connection alive: most requests skip the lookup.
        if not request.keep_alive and exchange.upgrade == b"websocket":
            return await self._run_websocket(request, exchange, base)
        cycle = HTTPCycle(exchange, request.target)
        try:
            await self.app(self.scope(request, base), cycle.receive, cycle.send)
        except ClientDisconnected:
            return  # send() told the app the client is gone; the driver has closed
        except Exception as exc:
            if cycle._state == _DONE:
                log_app_error(cycle.target, exc, "ASGI")
            else:
                exchange.fail(exc)
            return
        except asyncio.CancelledError:
            # The app let a cancellation escape (its own, or a library's): its response
            # will never be finished, so the connection must not wait for it.
            if cycle._state != _DONE and not exchange.disconnected:
                exchange.fail(AppProtocolError("the app was cancelled before it responded"))
            raise
        if cycle._state != _DONE:
            if cycle.started:
                problem = "the app returned before its response was complete"
            else:
                problem = "the app returned without sending a response"
            if not exchange.disconnected:
                exchange.fail(AppProtocolError(problem))

    async def _run_websocket(
        self, request: RequestHead, exchange: AsyncExchange, base: Scope
    ) -> None:
        if not self.websocket:
            exchange.send_head(_NO_WEBSOCKET)
            exchange.send_body(
                b"WebSocket support is not installed: pip install 'beemo[standard]'\n", False
            )
            return
        scope = self.scope(request, base)
        scope["type"] = "websocket"
        scope["scheme"] = "wss" if scope["scheme"] == "https" else "ws"
        scope["subprotocols"] = subprotocols(scope["headers"])
        scope["extensions"] = _WS_EXTENSIONS
        del scope["method"]
        cycle = WebSocketCycle(exchange)
        try:
            await self.app(scope, cycle.receive, cycle.send)
        except ClientDisconnected:
            return
        except Exception as exc:
            if cycle.answered:
                log_app_error(request.target, exc, "ASGI")
                cycle.fail()
            else:
                exchange.fail(exc)  # no handshake answer yet: a 500
            return
        if not cycle.answered:
            if exchange.disconnected:
                return
            if cycle.denying:  # its own response started: no 403 in its place
                problem = "the app returned before its response was complete"
                return exchange.fail(AppProtocolError(problem))
            # www.rst: an app that returns without accepting is treated as a close: 403.
            exchange.send_head(_FORBIDDEN)
            exchange.send_body(b"", False)
        else:
            cycle.abort()
