"""What an adapter may ask of the connection serving its request (implemented by the drivers).

Adapters never touch sockets: they read the request body and push the response through these
interfaces. `Exchange` is the thread driver's (WSGI): its calls may block the calling worker
thread, bounded by the client timeout. `AsyncExchange` is the asyncio driver's (ASGI): nothing
blocks, waiting is an awaitable.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from beemo.server.http.messages import Header, ResponseHead

__all__ = ["AsyncExchange", "Exchange", "WebSocketExchange"]


class Exchange(Protocol):
    def read_body(self) -> bytes:
        """The next piece of the request body, b"" once it is complete.

        Raises:
            ClientDisconnected: the client went away or stopped sending.
            ProtocolError: the body is malformed (bad chunk framing).
        """
        ...

    def write_head(self, head: ResponseHead) -> None:
        """Send the response head now (WSGI `write()` before the app returned)."""
        ...

    def write_body(self, data: bytes) -> None:
        """Send a piece of the response body now, waiting while the client is slow to read."""
        ...


class AsyncExchange(Protocol):
    """What the ASGI adapter may ask of the connection serving its request (asyncio driver).

    Nothing here blocks: a call that would have to wait returns an awaitable, which the adapter
    awaits on the connection's event loop.
    """

    @property
    def disconnected(self) -> bool:
        """True once the client is gone (or the connection was closed under the app)."""
        ...

    def read_body(self) -> tuple[bytes, bool] | None:
        """The request body that arrived so far and whether more follows (b"", False once
        it is complete); None when nothing has arrived yet (await `wait()`, then ask
        again)."""
        ...

    def wait(self) -> Awaitable[None]:
        """Resolves when something changed: body arrived or ended, the client left, or the
        response completed."""
        ...

    def send_head(self, head: ResponseHead) -> None:
        """Keep the response head; it goes out with the first body bytes.

        Raises:
            AppProtocolError: the head is malformed.
        """
        ...

    def send_body(self, data: bytes, more: bool) -> Awaitable[None] | None:
        """Send body bytes (the last piece when not `more`); an awaitable when the client is
        slow to read and the app should wait before it sends more.

        Raises:
            AppProtocolError: more bytes than the declared Content-Length, or too few at the
                end.
        """
        ...

    def send_file(self, fd: int, offset: int, count: int, more: bool) -> Awaitable[None] | None:
        """Send `count` bytes of a file from `offset`, zero-copy where the OS can; like
        `send_body`. `count` < 0 means up to the end of the file."""
        ...

    def send_trailers(self, trailers: list[Header]) -> None:
        """Finish a response whose body ended with trailer fields to come."""
        ...

    def fail(self, exc: BaseException) -> None:
        """The app raised or broke its contract: a 500 if no response started, else close."""
        ...

    @property
    def upgrade(self) -> bytes:
        """The protocol the request asks to switch to (its Upgrade header, lower-cased), or
        b"" when it cannot switch."""
        ...

    def accept_websocket(
        self, subprotocol: str | None, headers: list[Header]
    ) -> WebSocketExchange | None:
        """Switch to WebSocket (101 with the app's subprotocol and headers); None when the
        handshake is broken and was refused with an HTTP error instead.

        Raises:
            ClientDisconnected: the client is gone.
            AppProtocolError: a malformed header.
        """
        ...


class WebSocketExchange(Protocol):
    """What the ASGI adapter may ask of a connection that switched to WebSocket."""

    @property
    def disconnected(self) -> bool:
        """True once the connection is closed (either side)."""
        ...

    @property
    def close_code(self) -> tuple[int, str]:
        """The close code and reason to report (1006 when the connection just dropped)."""
        ...

    def receive(self) -> str | bytes | None:
        """The next whole message (str for text, bytes for binary), None when none waits."""
        ...

    def wait(self) -> Awaitable[None]:
        """Resolves when a message arrived or the connection closed."""
        ...

    def send(self, data: str | bytes) -> Awaitable[None] | None:
        """Send a text or binary message; an awaitable while the client is slow to read.

        Raises:
            ClientDisconnected: the connection is closed or closing.
        """
        ...

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake."""
        ...
