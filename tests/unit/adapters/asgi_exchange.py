"""Typed fakes of `AsyncExchange` and `WebSocketExchange` for ASGI adapter tests (no mocks).

`FakeAsyncExchange` serves a request body as it arrives (what arrived since the last read,
joined, and whether more follows) and records what the adapter sends. It keeps the contract
the asyncio driver keeps: the head waits for the first body bytes, a declared Content-Length
is enforced (`AppProtocolError`), a send after the client left raises `ClientDisconnected`, and
`wait()` resolves when something changed. What happens while the app waits is scripted with
`later`: each `wait()` lets the next item arrive (a body piece, `END` of the body, or `LEAVE`:
the client disconnects). With nothing scripted, a wait lasts until a test calls `arrive` or
`leave` itself.

`FakeWebSocket` does the same for a switched connection: messages in `inbox` wait for the app,
`later` holds messages (str or bytes) or a `Closed` that arrive while it waits.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import NamedTuple

from beemo.errors import AppProtocolError, ClientDisconnected, StateError
from beemo.server.http.exchange import AsyncExchange, WebSocketExchange
from beemo.server.http.messages import Header, ResponseHead
from beemo.server.http.response import render_switch

__all__ = ["END", "LEAVE", "Closed", "FakeAsyncExchange", "FakeWebSocket", "Sent", "SentFile"]

STAMP = "date: Thu, 01 Jan 2026 00:00:00 GMT\r\nserver: beemo\r\n"
END = b""  # `later`: the request body is complete
LEAVE = None  # `later`: the client disconnects


class Closed(NamedTuple):
    """`later` for a WebSocket: the client closed with this code (1006: it just dropped)."""

    code: int = 1000
    reason: str = ""


class Sent(NamedTuple):
    """One `send_body` call."""

    data: bytes
    more: bool


class SentFile(NamedTuple):
    """One `send_file` call, with the bytes it sent."""

    offset: int
    size: int  # the count asked for (-1: to the end), resolved
    more: bool
    data: bytes


class _Waiting:
    """A future resolved by the next change, plus the script of what changes."""

    def __init__(self) -> None:
        self.future: asyncio.Future[None] | None = None
        self.waits = 0  # wait() calls

    def wait(self, step: Callable[[], None] | None) -> Awaitable[None]:
        """The future to await; `step` (a callable or None) makes the next change happen."""
        self.waits += 1
        future = self.future
        if future is None:
            loop = asyncio.get_running_loop()
            future = self.future = loop.create_future()
            if step is not None:
                loop.call_soon(step)
        return future

    def wake(self) -> None:
        future, self.future = self.future, None
        if future is not None and not future.done():
            future.set_result(None)


def _drain() -> Awaitable[None]:
    """What a slow client's send returns: resolves on the next loop iteration."""
    return asyncio.sleep(0)


class FakeAsyncExchange:
    """Serves a request in pieces and records what the adapter sends (see the module).

    Args:
        pieces: body pieces arrived at once (non-empty; one read gives them joined).
        end: the body is complete after them (else `later` or `arrive` must end it).
        later: what arrives while the app waits, one item per wait.
        upgrade: the protocol the request asks to switch to.
        slow: every send returns an awaitable, as for a client that is slow to read.
        refuse: `accept_websocket` refuses the handshake (returns None).
        websocket: what `accept_websocket` returns (a fresh `FakeWebSocket` by default).
    """

    def __init__(
        self,
        *pieces: bytes,
        end: bool = True,
        later: Iterable[bytes | None] = (),
        upgrade: bytes = b"",
        slow: bool = False,
        refuse: bool = False,
        websocket: FakeWebSocket | None = None,
    ) -> None:
        assert all(pieces), "END ends the body: give non-empty pieces"
        self._pieces: deque[bytes] = deque(pieces)
        self._end = end
        self._later: deque[bytes | None] = deque(later)
        self._waiting = _Waiting()
        self._upgrade = upgrade
        self._slow = slow
        self._refuse = refuse
        self._socket = websocket or FakeWebSocket()
        self._disconnected = False
        self._head: ResponseHead | None = None
        self._remaining = -1  # bytes the declared Content-Length still expects
        self.reads: list[bytes] = []  # what each read_body call gave
        self.heads: list[ResponseHead] = []  # heads that went out
        self.sent: list[Sent] = []
        self.files: list[SentFile] = []
        self.trailers: list[list[Header]] = []
        self.failures: list[BaseException] = []
        self.accepted: list[tuple[str | None, list[Header]]] = []
        self.drains = 0  # awaitables returned by a slow send
        self.complete = False  # the response is finished (sent, failed or refused)

    # ---- what the test makes happen -----------------------------------------------------

    def arrive(self, item: bytes | None) -> None:
        """A body piece, `END` or `LEAVE` happens now."""
        if item is None:
            self._disconnected = True
        elif item:
            self._pieces.append(item)
        else:
            self._end = True
        self._waiting.wake()

    def leave(self) -> None:
        self.arrive(LEAVE)

    def _next(self) -> None:
        if self._later:
            self.arrive(self._later.popleft())

    @property
    def waits(self) -> int:
        return self._waiting.waits

    @property
    def body(self) -> bytes:
        """Every body byte sent, from send_body and send_file, in order of the calls."""
        return b"".join(piece.data for piece in self.sent) + b"".join(f.data for f in self.files)

    # ---- AsyncExchange -------------------------------------------------------------------

    @property
    def disconnected(self) -> bool:
        return self._disconnected

    def read_body(self) -> tuple[bytes, bool] | None:
        pieces = self._pieces
        if not pieces and not self._end:
            return None
        data = b"".join(pieces)
        pieces.clear()
        self.reads.append(data)
        return data, not self._end

    def wait(self) -> Awaitable[None]:
        return self._waiting.wait(self._next if self._later else None)

    def send_head(self, head: ResponseHead) -> None:
        assert type(head) is ResponseHead, head
        if self.heads:  # what the driver's HTTP layer says to a second head
            raise StateError("send_head() while responding")
        self._head = head

    def _start(self, length: int) -> None:
        """The kept head goes out with the first body bytes (`length` of them if known)."""
        if self._disconnected:
            raise ClientDisconnected("the client closed the connection")
        head = self._head
        assert head is not None, "body before head"
        if self.heads:
            return
        declared = [int(v) for n, v in head.headers if n.lower() == b"content-length"]
        self._remaining = declared[0] if declared else -1
        if length >= 0 and self._remaining >= 0 and length != self._remaining:
            raise AppProtocolError("Content-Length does not match the body")
        self.heads.append(head)

    def _count(self, size: int, more: bool) -> Awaitable[None] | None:
        if self._remaining >= 0:
            self._remaining -= size
            if self._remaining < 0:
                raise AppProtocolError("response body longer than its Content-Length")
            if not more and self._remaining > 0:
                raise AppProtocolError("response body shorter than its Content-Length")
        if not more:
            self._finish()
            return None
        if self._slow:
            self.drains += 1
            return _drain()
        return None

    def _finish(self) -> None:
        self.complete = True
        self._waiting.wake()  # an app waiting in receive() gets http.disconnect

    def send_body(self, data: bytes, more: bool) -> Awaitable[None] | None:
        assert type(data) is bytes, data
        self._start(-1 if more or self.heads else len(data))
        self.sent.append(Sent(data, more))
        return self._count(len(data), more)

    def send_file(self, fd: int, offset: int, count: int, more: bool) -> Awaitable[None] | None:
        self._start(-1)
        if count < 0:
            count = max(0, os.fstat(fd).st_size - offset)
        data = os.pread(fd, count, offset)
        self.files.append(SentFile(offset, count, more, data))
        return self._count(len(data), more)

    def send_trailers(self, trailers: list[Header]) -> None:
        if self._disconnected:
            raise ClientDisconnected("the client closed the connection")
        for name, value in trailers:
            if type(name) is not bytes or type(value) is not bytes:
                raise AppProtocolError(f"a bad trailer {(name, value)!r}")
        self.trailers.append(trailers)
        self._finish()

    def fail(self, exc: BaseException) -> None:
        assert not self.complete, "fail() after the response was complete"
        self.failures.append(exc)
        self._finish()

    @property
    def upgrade(self) -> bytes:
        return self._upgrade

    def accept_websocket(
        self, subprotocol: str | None, headers: list[Header]
    ) -> WebSocketExchange | None:
        if self._disconnected:
            raise ClientDisconnected("the client closed the connection")
        render_switch(headers, STAMP)  # the HTTP layer's header checks (AppProtocolError)
        self.accepted.append((subprotocol, headers))
        if self._refuse:
            self._finish()
            return None
        return self._socket


class FakeWebSocket:
    """A switched connection: messages for the app, and what the app sent (see the module).

    Args:
        inbox: messages waiting for the app at once.
        later: what arrives while the app waits, one item per wait: a message, or `Closed`.
        slow: every send returns an awaitable.
    """

    def __init__(
        self, *inbox: str | bytes, later: Iterable[str | bytes | Closed] = (), slow: bool = False
    ) -> None:
        self._inbox: deque[str | bytes] = deque(inbox)
        self._later: deque[str | bytes | Closed] = deque(later)
        self._waiting = _Waiting()
        self._slow = slow
        self._code: tuple[int, str] = (1006, "")
        self._disconnected = False
        self.messages: list[str | bytes] = []  # what the app sent
        self.closes: list[tuple[int, str]] = []  # close() calls
        self.drains = 0

    def arrive(self, item: str | bytes | Closed) -> None:
        if isinstance(item, Closed):
            self._disconnected = True
            if not self.closes:
                self._code = (item.code, item.reason)
        else:
            self._inbox.append(item)
        self._waiting.wake()

    def _next(self) -> None:
        if self._later:
            self.arrive(self._later.popleft())

    @property
    def disconnected(self) -> bool:
        return self._disconnected

    @property
    def close_code(self) -> tuple[int, str]:
        return self._code

    def receive(self) -> str | bytes | None:
        return self._inbox.popleft() if self._inbox else None

    def wait(self) -> Awaitable[None]:
        return self._waiting.wait(self._next if self._later else None)

    def send(self, data: str | bytes) -> Awaitable[None] | None:
        assert type(data) in (str, bytes), data
        if self._disconnected or self.closes:
            raise ClientDisconnected("the WebSocket is closed")
        self.messages.append(data)
        if self._slow:
            self.drains += 1
            return _drain()
        return None

    def close(self, code: int, reason: str) -> None:
        """The closing handshake starts; the client answers with the same code at once."""
        self.closes.append((code, reason))
        if not self._disconnected:
            self._code = (code, reason)
            self._disconnected = True
            self._waiting.wake()


# mypy checks that the fakes satisfy the Protocols.
_TYPED: AsyncExchange = FakeAsyncExchange()
_TYPED_SOCKET: WebSocketExchange = FakeWebSocket()
