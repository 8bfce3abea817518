"""The ASGI 3 adapter, WebSocket part (www.rst, "WebSocket"; spec version 2.4).

A request that asks to switch to WebSocket runs the app with a websocket scope and a
`WebSocketCycle`: `receive` first gives websocket.connect; the app answers with
websocket.accept (the driver switches protocols), websocket.close (a 403, before accepting),
or an HTTP response of its own (the `websocket.http.response` extension). After the accept,
messages flow both ways until either side closes; then `receive` gives websocket.disconnect
with the close code, and `send` raises `ClientDisconnected` (an OSError, as the spec asks).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from beemo.errors import AppProtocolError, ClientDisconnected
from beemo.server.http.exchange import AsyncExchange, WebSocketExchange
from beemo.server.http.messages import Header, ResponseHead

__all__ = ["WebSocketCycle", "subprotocols"]

Message = MutableMapping[str, Any]

_CONNECTING = 0  # before websocket.accept
_DENYING = 1  # sending an HTTP response instead (websocket.http.response)
_OPEN = 2
_CLOSED = 3
_FORBIDDEN = ResponseHead(403, ((b"content-type", b"text/plain; charset=utf-8"),))


def subprotocols(headers: list[tuple[bytes, bytes]]) -> list[str]:
    """The subprotocols the client offers (Sec-WebSocket-Protocol), in order."""
    offered: list[str] = []
    for name, value in headers:
        if name == b"sec-websocket-protocol":
            offered.extend(p.strip() for p in value.decode("latin-1").split(",") if p.strip())
    return offered


class WebSocketCycle:
    """One WebSocket session's `receive` and `send` (see the module docstring)."""

    __slots__ = ("_connected", "_exchange", "_socket", "_state")

    def __init__(self, exchange: AsyncExchange) -> None:
        self._exchange = exchange
        self._socket: WebSocketExchange | None = None
        self._state = _CONNECTING
        self._connected = False  # websocket.connect was given

    async def receive(self) -> Message:
        if not self._connected:
            self._connected = True
            return {"type": "websocket.connect"}
        socket = self._socket
        if socket is None:
            # Not accepted: the next event can only be the client leaving (or the denial).
            while not self._exchange.disconnected and self._state != _CLOSED:
                await self._exchange.wait()
            return {"type": "websocket.disconnect", "code": 1006, "reason": ""}
        while True:
            data = socket.receive()
            if data is not None:
                if type(data) is str:
                    return {"type": "websocket.receive", "text": data}
                return {"type": "websocket.receive", "bytes": data}
            if socket.disconnected:
                self._state = _CLOSED
                code, reason = socket.close_code
                return {"type": "websocket.disconnect", "code": code, "reason": reason}
            await socket.wait()

    async def send(self, message: Message) -> None:
        """Raises:
        AppProtocolError: a message of the wrong type, out of order, or malformed.
        ClientDisconnected: the connection is closed.
        """
        kind = message.get("type") if isinstance(message, dict) else None
        if kind is None:
            raise AppProtocolError(f"an ASGI message must be a dict with a type: {message!r}")
        state = self._state
        if state == _OPEN:
            await self._send_open(kind, message)
        elif state == _CONNECTING:
            await self._send_connecting(kind, message)
        elif state == _DENYING and kind == "websocket.http.response.body":
            await self._send_denial_body(message)
        elif state == _CLOSED and kind in ("websocket.send", "websocket.close"):
            raise ClientDisconnected("the WebSocket is closed")
        else:
            raise AppProtocolError(f"unexpected ASGI message {kind!r} in this WebSocket state")

    async def _send_open(self, kind: object, message: Message) -> None:
        socket = self._socket
        assert socket is not None
        if kind == "websocket.send":
            text = message.get("text")
            data = message.get("bytes")
            if (text is None) == (data is None):
                raise AppProtocolError("websocket.send needs exactly one of bytes and text")
            if text is not None and type(text) is not str:
                raise AppProtocolError(f"websocket.send text must be a str, not {text!r}")
            if data is not None and not isinstance(data, (bytes, bytearray, memoryview)):
                raise AppProtocolError(f"websocket.send bytes must be bytes, not {data!r}")
            if socket.disconnected:
                self._state = _CLOSED
                raise ClientDisconnected("the WebSocket is closed")
            waiter = socket.send(text if text is not None else bytes(data))  # type: ignore[arg-type]  # checked above
            if waiter is not None:
                await waiter
        elif kind == "websocket.close":
            code, reason = _close_code(message), _close_reason(message)  # before the state:
            self._state = _CLOSED  # a bad close leaves the socket open for `fail` to close
            socket.close(code, reason)
        else:
            raise AppProtocolError(f"unexpected ASGI message {kind!r} on an open WebSocket")

    async def _send_connecting(self, kind: object, message: Message) -> None:
        exchange = self._exchange
        if kind == "websocket.accept":
            subprotocol = message.get("subprotocol")
            if subprotocol is not None and type(subprotocol) is not str:
                raise AppProtocolError(
                    f"websocket.accept subprotocol must be a str: {subprotocol!r}"
                )
            headers = list(_headers(message))
            socket = exchange.accept_websocket(subprotocol, headers)
            if socket is None:  # a broken handshake: refused with an HTTP error
                self._state = _CLOSED
                return
            self._socket = socket
            self._state = _OPEN
        elif kind == "websocket.close":
            # Closing before accepting: an HTTP 403 (www.rst, "Close - send event").
            self._state = _CLOSED
            exchange.send_head(_FORBIDDEN)
            exchange.send_body(b"", False)
        elif kind == "websocket.http.response.start":
            status = message.get("status")
            if type(status) is not int:
                raise AppProtocolError(f"the denial status must be an int, not {status!r}")
            exchange.send_head(ResponseHead(status, _headers(message)))
            self._state = _DENYING
        else:
            raise AppProtocolError(f"unexpected ASGI message {kind!r} before websocket.accept")

    async def _send_denial_body(self, message: Message) -> None:
        body = message.get("body", b"")
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise AppProtocolError(f"websocket.http.response.body must be bytes: {body!r}")
        more = bool(message.get("more_body", False))
        waiter = self._exchange.send_body(bytes(body), more)
        # Answered only once the driver took the last piece: a body it refused (a wrong
        # Content-Length) leaves the denial unfinished, so `run` has the driver fail it.
        if not more:
            self._state = _CLOSED
        if waiter is not None:
            await waiter

    @property
    def denying(self) -> bool:
        """True while an HTTP response in place of the handshake is unfinished."""
        return self._state == _DENYING

    @property
    def answered(self) -> bool:
        """True when the handshake got an answer (accepted, denied or refused)."""
        return self._state != _CONNECTING and self._state != _DENYING

    def abort(self) -> None:
        """The app ended or failed while the WebSocket is open: close it (1011 on failure is
        the caller's choice through `close`)."""
        socket = self._socket
        if socket is not None and self._state == _OPEN:
            self._state = _CLOSED
            socket.close(1000, "")

    def fail(self) -> None:
        socket = self._socket
        if socket is not None and self._state == _OPEN:
            self._state = _CLOSED
            socket.close(1011, "")


def _headers(message: Message) -> tuple[Header, ...]:
    headers = message.get("headers") or ()
    try:
        return tuple(headers)
    except TypeError:
        raise AppProtocolError(
            f"{message['type']} headers must be an iterable of pairs, not {headers!r}"
        ) from None


def _close_code(message: Message) -> int:
    code = message.get("code", 1000)
    if code is None:
        return 1000
    # RFC 6455 7.4: 1005 and 1006 never go in a close frame; 1004 and 1015 are reserved.
    if type(code) is not int or not (
        1000 <= code <= 1014 and code not in (1004, 1005, 1006) or 3000 <= code <= 4999
    ):
        raise AppProtocolError(f"invalid WebSocket close code {code!r}")
    return code


def _close_reason(message: Message) -> str:
    reason = message.get("reason") or ""
    try:
        size = len(reason.encode("utf-8"))
    except (AttributeError, UnicodeEncodeError):  # not a str, or a lone surrogate
        size = -1
    # RFC 6455 5.5: a control frame's payload is at most 125 bytes, 2 of them the code.
    if type(reason) is not str or not 0 <= size <= 123:
        raise AppProtocolError(
            f"invalid WebSocket close reason {reason!r}: a str of at most 123 UTF-8 bytes"
        )
    return reason
