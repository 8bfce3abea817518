"""The asyncio driver: one connection served on one event loop (ASGI).

`HTTPProtocol` is an `asyncio.Protocol`: the loop calls it with bytes, it feeds them to the
connection's `HTTPConnection` and carries out what the `ConnectionPolicy` decides, exactly as
the thread driver does on the shared poller, and it implements the `AsyncExchange` the ASGI
adapter talks to. It decides nothing about deadlines, keep-alive, errors or logging itself.

Ownership: T0 gives each connection to one loop (`beemo.server.loops`) for its whole life; only
that loop touches it. T0 enforces deadlines by asking the loop (`expire`, once a second).

Flow control both ways: reading pauses while more than `HIGH_WATER` bytes of request body wait
for the app, or while a pipelined request waits for the current response; the app's `send`
waits while the transport's write buffer is above its high-water mark (a slow reader).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from beemo.config import Config
from beemo.errors import AppProtocolError, ClientDisconnected, ProtocolError
from beemo.server.aio_files import copy_file
from beemo.server.aio_websocket import WebSocketProtocol
from beemo.server.events import READ, WRITE
from beemo.server.http.connection import HTTPConnection
from beemo.server.http.exchange import AsyncExchange
from beemo.server.http.messages import (
    NEED_DATA,
    PAUSED,
    Body,
    EndOfMessage,
    Header,
    RequestHead,
    ResponseHead,
)
from beemo.server.http.policy import CLOSE, NEXT, ConnectionPolicy, ServerState
from beemo.server.transport import HIGH_WATER
from beemo.server.websocket import Refusal, WebSocketSession

__all__ = ["AsyncHandler", "HTTPProtocol", "LoopShared"]

error_log = logging.getLogger("beemo.error")
_monotonic = time.monotonic

# The adapter: `connect(server, client)` once per connection, `handler(request, exchange,
# state)` is the coroutine run as one task per request.
AsyncHandler = Callable[[RequestHead, AsyncExchange, Any], Coroutine[Any, Any, None]]
# Bodies up to this size are joined with their head into one write; bigger ones are not copied.
_JOIN_LIMIT = 16384


# Python 3.12's eager tasks run the app at once, up to its first real wait: a response sent
# without waiting goes out in the same call, a loop iteration earlier.
_EAGER = {"eager_start": True} if sys.version_info >= (3, 12) else None
_Task = asyncio.Task


class LoopShared:
    """What every connection on one loop reads (set up by its `LoopWorker`)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        handler: AsyncHandler,
        connect: Callable[[tuple[str, int], Any], Any],
        state: ServerState,
        config: Config,
    ) -> None:
        self.loop = loop
        self.handler = handler
        self.connect = connect
        self.state = state
        self.config = config
        self.limits = config.limits
        self.connections: set[HTTPProtocol] = set()


class HTTPProtocol(asyncio.Protocol):
    """One connection on one loop (see the module docstring)."""

    def __init__(self, shared: LoopShared, server: tuple[str, int], client: Any) -> None:
        self._shared = shared
        self._loop = shared.loop
        self.http = HTTPConnection(shared.limits)
        self.policy = ConnectionPolicy(self.http, shared.state, client, _monotonic())
        self._base = shared.connect(server, client)  # the adapter's per-connection state
        self._transport: asyncio.Transport | None = None
        self._request: RequestHead | None = None  # the request the app is handling
        # The request's task: the loop holds tasks only weakly, this keeps it alive.
        self._task: asyncio.Task[None] | None = None
        self._body: collections.deque[bytes] = collections.deque()
        self._body_size = 0
        self._body_end = False
        self._head: ResponseHead | None = None  # held until the first body bytes
        self._waiter: asyncio.Future[None] | None = None  # the app waits in receive()
        self._drain: asyncio.Future[None] | None = None  # the app waits in send()
        self._reading_paused = False
        self._writing_paused = False
        self._disconnected = False
        self._websocket: WebSocketProtocol | None = None  # the protocol after a switch
        self._advancing = False
        self._held = False  # the next request waits for the client to read (resume_writing)

    # ---- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a stream transport
        self._shared.connections.add(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.http.receive_data(data)
        except ProtocolError as exc:
            return self._refuse(exc)
        self._advance()

    def eof_received(self) -> bool:
        self.http.receive_data(b"")
        self._advance()
        return True  # keep the transport open to finish a response; closed by _advance

    def connection_lost(self, exc: Exception | None) -> None:
        self._disconnected = True
        self._shared.connections.discard(self)
        self.http.release()
        self._wake()
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True
        self.policy.wait(WRITE, _monotonic())

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._request is not None:
            self.policy.busy()
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)
        if self._held:
            self._held = False
            self._resume_reading()
            self._advance()

    # ---- input --------------------------------------------------------------------------

    def _advance(self) -> None:
        """Take what the HTTP layer parsed: start a request, queue its body, or wait."""
        http = self.http
        self._advancing = True  # an eager task completing its response does not recurse
        try:
            while not self._held:  # an eager task's response may have filled the buffer
                event = http.next_event()
                kind = type(event)
                if kind is Body:
                    self._body.append(event.data)  # type: ignore[union-attr]  # `type() is`
                    self._body_size += len(event.data)  # type: ignore[union-attr]
                    if self._body_size > HIGH_WATER and not self._reading_paused:
                        self._pause_reading()
                    if self._waiter is not None:
                        self.policy.received()  # progress: the app's next wait is timed anew
                        self._wake()
                elif kind is EndOfMessage:
                    self._body_end = True
                    if self._waiter is not None:
                        self._wake()
                    if self._request is not None and not http.pipelined:
                        # The app has its whole request and nothing follows it yet: the next
                        # bytes or the response's end look again. A pipelined request
                        # behind it gives PAUSED next: reading stops until this response
                        # is out, or the parsed backlog would grow with every read.
                        return
                elif kind is RequestHead:
                    self._start(event)  # type: ignore[arg-type]
                elif event is NEED_DATA:
                    if self._request is None and not self.policy.wait(READ, _monotonic()):
                        self._close()  # the server drains: no new request here
                    return
                elif event is PAUSED:
                    self._pause_reading()  # the next request waits for this response
                    return
                else:  # CONNECTION_CLOSED
                    if self._request is None:
                        self._close()
                    elif not self._body_end or (
                        self._waiter is not None and not self._waiter.done()
                    ):
                        # The client left mid-body, or while the app waits in receive() for
                        # what can now only be http.disconnect.
                        self._disconnect()
                    return
        except ProtocolError as exc:
            self._refuse(exc)
        finally:
            self._advancing = False

    def _start(self, request: RequestHead) -> None:
        self.policy.begin(_monotonic())
        self._request = request
        self._body_end = False
        self._body_size = 0
        self._head = None
        if self._reading_paused:
            self._resume_reading()
        coro = self._shared.handler(request, self, self._base)
        if _EAGER is None:
            self._task = self._loop.create_task(coro)
        else:
            self._task = _Task(coro, loop=self._loop, **_EAGER)  # type: ignore[arg-type]  # 3.12+

    def _pause_reading(self) -> None:
        transport = self._transport
        if transport is not None and not self._reading_paused:
            self._reading_paused = True
            transport.pause_reading()

    def _resume_reading(self) -> None:
        transport = self._transport
        if transport is not None and self._reading_paused and not transport.is_closing():
            self._reading_paused = False
            transport.resume_reading()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # ---- AsyncExchange: what the adapter asks -------------------------------------------

    @property
    def disconnected(self) -> bool:
        return self._disconnected

    def read_body(self) -> tuple[bytes, bool] | None:
        body = self._body
        if body:
            # Everything buffered at once (at most about HIGH_WATER: reading pauses above it).
            piece = body.popleft() if len(body) == 1 else b"".join(body)
            body.clear()
            self._body_size = 0
            if self._reading_paused:
                self._resume_reading()
            return piece, not self._body_end
        if self._body_end:
            return b"", False
        http = self.http
        if http.wants_continue() and self._transport is not None:
            self._transport.write(http.send_continue())
        return None

    def wait(self) -> Awaitable[None]:
        waiter = self._waiter
        # A waiter is done only when it was cancelled with the task awaiting it (wait_for,
        # anyio's is_disconnected()): the next wait needs a fresh one.
        if waiter is None or waiter.done():
            waiter = self._waiter = self._loop.create_future()
            if self._request is not None:
                if self.http.peer_closed:
                    # After the client's EOF nothing can arrive but http.disconnect (a
                    # response may still go out to a client that only half-closed).
                    self._disconnect()
                elif not self._body_end:
                    self.policy.wait(READ, _monotonic())  # the app waits for the client
        return waiter

    def send_head(self, head: ResponseHead) -> None:
        self._head = head

    def send_body(self, data: bytes, more: bool) -> Awaitable[None] | None:
        transport = self._transport
        if self._disconnected or transport is None or transport.is_closing():
            raise ClientDisconnected("the client closed the connection")
        policy = self.policy
        head = self._head
        if head is not None:
            self._head = None
            if not more and len(data) <= _JOIN_LIMIT:
                transport.write(policy.send_response(head, data))
                self._complete()
                return None
            # A big body goes out beside its head in one writev, never copied into one bytes
            # with it: written apart, the head would be a segment of its own that the client
            # wakes up and reads for (a third fewer responses a second at 1 MiB).
            parts = [policy.send_head(head, -1 if more else len(data)), policy.send_body(data)]
            if not more:
                parts.append(policy.send_end())
            transport.writelines([part for part in parts if part])
        else:
            out = policy.send_body(data)
            if not more:
                out += policy.send_end()
            if out:
                transport.write(out)
        if not more:
            self._complete()
            return None
        return self._drained() if self._writing_paused else None

    def send_trailers(self, trailers: list[Header]) -> None:
        transport = self._transport
        if self._disconnected or transport is None or transport.is_closing():
            raise ClientDisconnected("the client closed the connection")
        transport.write(self.policy.send_end(trailers))
        self._complete()

    def send_file(self, fd: int, offset: int, count: int, more: bool) -> Awaitable[None] | None:
        self._writable()
        if count < 0:
            count = max(0, os.fstat(fd).st_size - offset)
        head = self._head
        first = b""
        if head is not None:
            self._head = None
            first = self.policy.send_head(head, -1 if more else count)
        return self._send_file(first, fd, offset, count, more)

    async def _send_file(self, first: bytes, fd: int, offset: int, count: int, more: bool) -> None:
        transport = self._transport
        assert transport is not None
        frame = self.policy.frame_file(count)
        if frame is not None and count:
            before, after = frame
            try:
                sent = await copy_file(
                    self._loop, transport, fd, offset, count, first + before, self._writable
                )
            except ConnectionError as exc:  # the client reset the connection mid-file
                self._disconnect()
                raise ClientDisconnected("the client closed the connection") from exc
            if sent < count:
                raise AppProtocolError("the file is shorter than the bytes it was to send")
            if after:
                transport.write(after)
        elif first:
            transport.write(first)
        if not more:
            end = self.policy.send_end()
            if end:
                transport.write(end)
            self._complete()
        elif self._writing_paused:
            await self._drained()

    def _writable(self) -> Awaitable[None] | None:
        """None when the app's output may go on, a future while the client is slow to read.

        Raises:
            ClientDisconnected: the client is gone.
        """
        transport = self._transport
        if self._disconnected or transport is None or transport.is_closing():
            raise ClientDisconnected("the client closed the connection")
        return self._drained() if self._writing_paused else None

    def _drained(self) -> asyncio.Future[None]:
        drain = self._drain
        if drain is None or drain.done():  # done: cancelled with the send that awaited it
            drain = self._drain = self._loop.create_future()
        return drain

    # ---- WebSocket: switching protocols ------------------------------------------------------

    @property
    def upgrade(self) -> bytes:
        """The protocol the request asks to switch to (b"websocket"), b"" for none."""
        return self.http.upgrade

    def accept_websocket(
        self, subprotocol: str | None, headers: list[Header]
    ) -> WebSocketProtocol | None:
        """Switch the connection to WebSocket: the 101 goes out and a `WebSocketProtocol`
        takes the transport over. None when the handshake is broken: it was refused with an
        HTTP error and the connection closes.

        Raises:
            ClientDisconnected: the client is gone.
            AppProtocolError: a malformed header.
        """
        transport = self._transport
        request = self._request
        if self._disconnected or transport is None or request is None:
            raise ClientDisconnected("the client closed the connection")
        config = self._shared.config
        session = WebSocketSession(config.ws_max_size, config.ws_per_message_deflate)
        answer = session.handshake(request, subprotocol, headers)
        if type(answer) is Refusal:
            head = ResponseHead(answer.status, answer.headers)
            transport.write(self.policy.send_response(head, answer.body))
            self._complete()
            return None
        transport.write(self.http.send_switch(answer, self._shared.state.stamp))  # type: ignore[arg-type]
        self.policy.finish(_monotonic())
        self._request = None
        websocket = self._websocket = WebSocketProtocol(
            session,
            transport,
            self._loop,
            config.ws_ping_interval,
            config.ws_ping_timeout,
            self._forget,
        )
        transport.set_protocol(websocket)
        if self._reading_paused:
            self._resume_reading()
        leftover = self.http.switched_data()
        if leftover:
            websocket.data_received(leftover)
        return websocket

    def _forget(self) -> None:
        self._disconnected = True
        self._shared.connections.discard(self)

    def fail(self, exc: BaseException) -> None:
        data = self.policy.fail(exc, "ASGI", _monotonic())
        self._request = None
        transport = self._transport
        if data is not None and transport is not None and not self._disconnected:
            transport.write(data)
        self._close()

    # ---- the end of a response, a connection ---------------------------------------------

    def _complete(self) -> None:
        """The response is out: log it, then read on (keep-alive) or close."""
        self._request = None
        self._task = None
        if self._body:
            self._body.clear()
        self._body_size = 0
        if self._waiter is not None:
            self._wake()  # an app waiting in receive() gets http.disconnect
        after = self.policy.complete(_monotonic())
        if after == CLOSE:
            return self._close()
        if self._writing_paused:
            # The client does not read what was sent: no further request (and no reading)
            # until it does, or pipelined responses would pile up in the write buffer.
            self._held = True
            self._pause_reading()
            return
        if self._reading_paused:
            self._resume_reading()
        if after == NEXT and not self._advancing:
            self._advance()  # a pipelined request, an EOF or a drain is next

    def _disconnect(self) -> None:
        """The client is gone while the app runs: it gets http.disconnect."""
        self._disconnected = True
        self._wake()
        self._close()

    def _refuse(self, exc: ProtocolError) -> None:
        data = self.policy.refuse(exc)
        transport = self._transport
        if data is not None and transport is not None:
            transport.write(data)
        if self._request is not None:
            self._disconnected = True  # the body is broken: the app gets http.disconnect
            self._wake()
        self._close()

    def _close(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.close()  # sends what is buffered first

    def expire(self, now: float, draining: bool) -> None:
        """The loop, once a second: close the connection if it waited past its deadline, or
        if the server drains and it is idle between requests."""
        if self._websocket is not None:
            return self._websocket.expire(draining)
        policy = self.policy
        if policy.expired(now) or (draining and policy.idle and self._request is None):
            if self._request is not None:
                self._disconnected = True
                self._wake()
            transport = self._transport
            if transport is None:
                return
            if policy.expired(now):
                transport.abort()  # a stalled client: nothing it is owed can reach it
            else:
                transport.close()
