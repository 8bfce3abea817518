"""The asyncio driver after a switch to WebSocket: the protocol that takes over the transport.

`HTTPProtocol.accept_websocket` renders the 101 through the HTTP layer, then hands the
transport to a `WebSocketProtocol` (`transport.set_protocol`) with the bytes that followed the
handshake. From then on this protocol feeds bytes to the connection's `WebSocketSession`
(sans-I/O) and implements the `WebSocketExchange` the ASGI adapter talks to. It pings the
client every `--ws-ping-interval` seconds and closes with 1011 when no pong comes within
`--ws-ping-timeout`; a close handshake the client does not finish is cut after the same time.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable

from beemo.errors import ClientDisconnected
from beemo.server.websocket import Message, WebSocketSession

__all__ = ["WebSocketProtocol"]

_INBOX_LIMIT = 16  # whole messages waiting for the app before reading pauses
_CLOSE_WAIT = 5.0  # seconds a close handshake may take without a ping timeout to bound it


class WebSocketProtocol(asyncio.Protocol):
    """One switched connection (see the module docstring).

    Args:
        session: the connection's WebSocket state.
        transport: the transport taken over from the HTTP protocol.
        loop: the loop that owns the connection.
        ping_interval, ping_timeout: seconds; 0 disables.
        gone: called once when the connection is lost (the loop forgets it).
    """

    def __init__(
        self,
        session: WebSocketSession,
        transport: asyncio.Transport,
        loop: asyncio.AbstractEventLoop,
        ping_interval: float,
        ping_timeout: float,
        gone: Callable[[], None],
    ) -> None:
        self._session = session
        self._transport = transport
        self._loop = loop
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._gone = gone
        self._inbox: collections.deque[Message] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._writing_paused = False
        self._reading_paused = False
        self._disconnected = False
        self._timer: asyncio.TimerHandle | None = None
        if ping_interval > 0:
            self._timer = loop.call_later(ping_interval, self._ping)

    # ---- asyncio.Protocol ---------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        messages = self._session.receive(data)
        if messages:
            self._inbox.extend(messages)
            if len(self._inbox) >= _INBOX_LIMIT and not self._reading_paused:
                self._reading_paused = True
                self._transport.pause_reading()
            self._wake()
        self._flush()

    def eof_received(self) -> bool:
        self._session.receive(b"")
        self._flush()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        if self._disconnected:
            return
        self._disconnected = True
        if self._timer is not None:
            self._timer.cancel()
        self._wake()
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)
        self._gone()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    # ---- WebSocketExchange: what the adapter asks ----------------------------------------

    @property
    def disconnected(self) -> bool:
        return self._disconnected

    @property
    def close_code(self) -> tuple[int, str]:
        return self._session.close_code

    def receive(self) -> str | bytes | None:
        """The next whole message, or None when none is waiting (await `wait()`)."""
        inbox = self._inbox
        if not inbox:
            return None
        message = inbox.popleft()
        if self._reading_paused and len(inbox) < _INBOX_LIMIT // 2:
            self._reading_paused = False
            self._transport.resume_reading()
        return message.data

    def wait(self) -> Awaitable[None]:
        waiter = self._waiter
        if waiter is None or waiter.done():  # done: cancelled with the task that awaited it
            waiter = self._waiter = self._loop.create_future()
        return waiter

    def send(self, data: str | bytes) -> Awaitable[None] | None:
        """Send a text (str) or binary (bytes) message; an awaitable while the client is slow.

        Raises:
            ClientDisconnected: the connection is closed or closing.
        """
        if self._disconnected or not self._session.open:
            raise ClientDisconnected("the WebSocket is closed")
        self._session.send(data)
        self._flush()
        if self._writing_paused:
            drain = self._drain
            if drain is None or drain.done():
                drain = self._drain = self._loop.create_future()
            return drain
        return None

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake; the connection ends when the client answers."""
        if self._disconnected:
            return
        self._session.close(code, reason)
        self._flush()
        if not self._transport.is_closing():
            self._rearm(self._ping_timeout or _CLOSE_WAIT, self._abort)

    # ---- internals ----------------------------------------------------------------------

    def _flush(self) -> None:
        data = self._session.data_to_send()
        transport = self._transport
        if data and not transport.is_closing():
            transport.write(data)
        if self._session.closed and not transport.is_closing():
            transport.close()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _rearm(self, delay: float, callback: Callable[[], None]) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(delay, callback)

    def _ping(self) -> None:
        if self._disconnected or not self._session.open:
            return
        pongs = self._session.pongs
        self._session.ping(b"")
        self._flush()
        if self._ping_timeout > 0:
            self._rearm(self._ping_timeout, lambda: self._check_pong(pongs))
        else:
            self._rearm(self._ping_interval, self._ping)

    def _check_pong(self, pongs: int) -> None:
        if self._session.pongs > pongs:
            delay = max(0.0, self._ping_interval - self._ping_timeout)
            self._rearm(delay, self._ping)
            return
        self._session.fail(1011, "keepalive ping timeout")
        self._flush()
        self._abort()

    def _abort(self) -> None:
        if not self._transport.is_closing():
            self._transport.close()

    def expire(self, draining: bool) -> None:
        """The loop, once a second: a draining server closes its WebSockets with 1012
        (service restart), as the app would see from any restart."""
        if draining and self._session.open:
            self.close(1012, "server shutting down")
