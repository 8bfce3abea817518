"""A channel wires one accepted connection: transport below, HTTP state machine, adapter above.

Ownership: a channel is touched by one thread at a time. The acceptor (T0) creates it and arms
READ; from then on only the worker that received its one-shot event runs `handle`, until it
re-arms the channel or closes it. T0 only reads `deadline` and `idle` and may call
`transport.shutdown()`, which makes the socket readable at EOF, so the owner sees it and closes:
a timeout or a server shutdown never closes a socket under a worker's feet.

Data flows one way: bytes -> `HTTPConnection` -> messages -> adapter -> app, and back.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from beemo.errors import AppProtocolError, ClientDisconnected, ProtocolError
from beemo.server.access import log_access
from beemo.server.events import READ, WRITE, Poller
from beemo.server.http.connection import CLOSE, HTTPConnection
from beemo.server.http.messages import (
    CONNECTION_CLOSED,
    NEED_DATA,
    Body,
    EndOfMessage,
    RequestHead,
)
from beemo.server.transport import HIGH_WATER, Transport

if TYPE_CHECKING:
    from beemo.server.http.exchange import Exchange

__all__ = ["AppResponse", "Channel", "Connect", "Handler", "Shared"]

error_log = logging.getLogger("beemo.error")
_monotonic = time.monotonic
# Bodies up to this size are joined with their head into one bytes object; bigger ones are
# handed to sendmsg beside it, never copied.
_JOIN_LIMIT = 16384
# A request body up to this size is read in the poller before the app runs (a slow uploader
# holds no worker); past it, the app streams the rest from wsgi.input as it arrives.
_BODY_BUFFER = 65536


class AppResponse(Protocol):
    """What an adapter returns for one request (see `beemo.adapters.wsgi.WSGIResponse`)."""

    status: str
    headers: list[tuple[str, str]]
    head_sent: bool
    pieces: list[bytes] | tuple[bytes, ...]
    body_length: int
    file: Any

    def next_piece(self) -> bytes | None: ...

    def close(self) -> None: ...


# The adapter: `connect(server, client)` once per connection gives a per-connection state;
# `handler(request, exchange, state)` runs the app for each request.
Handler = Callable[[RequestHead, "Exchange", Any], AppResponse]
Connect = Callable[[tuple[str, int], Any], Any]


class Shared:
    """State every channel of one server reads: set up by the server, updated by T0."""

    def __init__(
        self,
        poller: Poller,
        handler: Handler,
        connect: Connect,
        channels: dict[int, Channel],
        *,
        keep_alive: float,
        client_timeout: float,
        access_log: bool,
    ) -> None:
        self.poller = poller
        self.handler = handler
        self.connect = connect
        self.channels = channels
        self.keep_alive = keep_alive
        self.client_timeout = client_timeout
        self.access_log = access_log
        self.stamp = ""  # "date: ...\r\nserver: beemo\r\n", refreshed every second by T0
        self.draining = False  # the server is stopping: finish in-flight requests, then close


class Channel:
    """One accepted connection being served (see the module docstring for ownership)."""

    __slots__ = (
        "_bytes_sent",
        "_flushing",
        "_owed_since",
        "_response",
        "_shared",
        "_started",
        "_state",
        "_waiting",
        "client",
        "deadline",
        "http",
        "idle",
        "server",
        "transport",
    )

    def __init__(
        self,
        transport: Transport,
        http: HTTPConnection,
        shared: Shared,
        server: tuple[str, int],
        client: Any,
    ) -> None:
        self.transport = transport
        self.http = http
        self.server = server
        self.client = client
        self._shared = shared
        self._state = shared.connect(server, client)  # the adapter's per-connection state
        self._response: AppResponse | None = None
        self._waiting: RequestHead | None = None  # a request whose body is still arriving
        self._flushing = False  # only buffered output is left; then close or read on
        self._started = 0.0
        self._owed_since = 0.0  # when the client started owing the current request's bytes
        self._bytes_sent = 0
        self.deadline = _monotonic() + shared.keep_alive  # 0.0 while a worker owns it
        self.idle = True  # parked between requests: may be closed at once on shutdown

    # ---- entry point: one one-shot event --------------------------------------------------

    def handle(self, bits: int) -> None:
        """Serve what the event made possible; runs on the worker that received it."""
        self.deadline = 0.0
        self.idle = False
        transport = self.transport
        try:
            if self._flushing:
                if transport.flush():
                    return self._park(WRITE)
                self._flushing = False
                if self.http.next_interest() == CLOSE:
                    return self.close()
            elif self._response is not None:
                if transport.flush():
                    return self._park(WRITE)
                if not self._produce(self._response):
                    return None
            else:
                data = transport.recv()
                if data is None:
                    return self._park(READ)
                self.http.receive_data(data)
                if self._waiting is not None and not self._resume_waiting():
                    return None
            self._serve()
        except ClientDisconnected:
            self.close()
        except ProtocolError as exc:
            self._refuse(exc)
        except Exception:
            error_log.exception("Unexpected error on a connection from %s", self.client)
            self.close()
        return None

    def _serve(self) -> None:
        http = self.http
        while True:
            event = http.next_event()
            kind = type(event)
            if kind is RequestHead:
                if http.awaiting_body(_BODY_BUFFER):
                    self._waiting = event  # type: ignore[assignment]  # `type() is` narrows nothing
                    if not self._resume_waiting():
                        return
                elif not self._respond(event):  # type: ignore[arg-type]
                    return
            elif event is NEED_DATA:
                if self._shared.draining and http.between_requests:
                    return self.close()
                return self._park(READ)
            elif event is CONNECTION_CLOSED:
                return self.close()
            # Body and EndOfMessage of an answered request are drained by next_event;
            # PAUSED cannot happen here: every response completes or parks before this loop.

    def _resume_waiting(self) -> bool:
        """A request waits for its body: run it once the body is in (or big enough to stream);
        False when the channel is parked again or closed."""
        http = self.http
        while http.awaiting_body(_BODY_BUFFER):
            # The rest is most often in the socket already (one recv stops at RECV_SIZE):
            # read it now rather than after a round trip through the poller.
            data = self.transport.recv()
            if data is None:
                self._park(READ)
                return False
            http.receive_data(data)
        request, self._waiting = self._waiting, None
        assert request is not None
        if http.peer_closed and not http.request_received:
            self.close()  # the client left mid-body: the app never sees half a request
            return False
        return self._respond(request)

    def _park(self, interest: int) -> None:
        """Give the connection back to the poller, armed for `interest`.

        Deadlines: an idle connection gets the keep-alive timeout from now; a client that owes
        bytes (a partial request) gets the client timeout from when it started owing them, so
        trickling a byte at a time does not extend it; a slow reader gets it from now.
        """
        shared = self._shared
        now = _monotonic()
        if interest == WRITE:
            self.deadline = now + shared.client_timeout
        elif self.http.between_requests:
            self.idle = True
            self.deadline = now + shared.keep_alive
        else:
            if not self._owed_since:
                self._owed_since = now
            self.deadline = self._owed_since + shared.client_timeout
        shared.poller.rearm(self.transport.fd, interest)

    # ---- one request ----------------------------------------------------------------------

    def _respond(self, request: RequestHead) -> bool:
        """Run the app for `request`; False when the channel is parked or closed."""
        http = self.http
        shared = self._shared
        self._owed_since = 0.0
        self._bytes_sent = 0
        if shared.access_log:
            self._started = _monotonic()
        response = None
        whole = None
        try:
            response = shared.handler(request, self, self._state)
            if not response.head_sent:
                pieces = response.pieces
                if (
                    len(pieces) == 1
                    and response.body_length >= 0
                    and response.file is None
                    and len(pieces[0]) <= _JOIN_LIMIT
                ):
                    # The common case: the whole body in one small piece, one write.
                    whole = http.send_response(
                        response.status, response.headers, shared.stamp, shared.draining, pieces[0]
                    )
                else:
                    head = http.send_head(
                        response.status,
                        response.headers,
                        shared.stamp,
                        shared.draining,
                        response.body_length,
                    )
        except (ClientDisconnected, ProtocolError):
            raise
        except Exception as exc:
            if response is not None:
                self._close_response(response)
            self._app_failed(exc)
            return False
        self._response = response  # closed by _finish, or by close() if the client is gone
        if whole is not None:
            self._bytes_sent = response.body_length
            return self._finish(response, self.transport.write(whole))
        if response.head_sent:
            for piece in response.pieces:
                self.write_body(piece)
            return self._produce(response)
        pieces = response.pieces
        self._bytes_sent = sum(map(len, pieces))
        parts = [head, *map(http.send_body, pieces)]
        if response.file is None and response.body_length >= 0:
            parts.append(http.send_end())
            return self._finish(response, self.transport.write_parts(parts))
        self.transport.write_parts(parts)
        return self._produce(response)

    def _produce(self, response: AppResponse) -> bool:
        """Send the rest of the body at the client's pace; False when parked on WRITE."""
        http = self.http
        transport = self.transport
        try:
            if response.file is not None and not self._send_file(response):
                return False
            while True:
                if transport.buffered > HIGH_WATER:
                    self._park(WRITE)
                    return False
                piece = response.next_piece()
                if piece is None:
                    break
                self._bytes_sent += len(piece)
                transport.write(http.send_body(piece))
            pending = transport.write(http.send_end())
        except ClientDisconnected:
            self._close_response(response)
            raise
        except Exception as exc:
            self._close_response(response)
            self._log_app_error(exc)
            self.close()
            return False
        return self._finish(response, pending)

    def _send_file(self, response: AppResponse) -> bool:
        """Send a `wsgi.file_wrapper` file with sendfile; False when parked on WRITE."""
        http = self.http
        transport = self.transport
        file = response.file
        remaining = http.raw_body_remaining()
        if remaining < 0:  # no Content-Length: iterate the file like any other iterable
            response.file = None
            return True
        while remaining > 0:
            if transport.flush():
                self._park(WRITE)
                return False
            offset = file.filelike.tell()
            try:
                sent = transport.sendfile(file.fileno(), offset, remaining)
            except ClientDisconnected:
                raise
            except OSError:
                response.file = None  # not sendfile-able after all: read it instead
                return True
            if sent == 0:
                if offset >= _file_size(file):
                    break  # the file is shorter than its Content-Length
                self._park(WRITE)
                return False
            file.filelike.seek(offset + sent)
            http.count_raw_body(sent)
            self._bytes_sent += sent
            remaining -= sent
        response.file = None
        return True

    def _finish(self, response: AppResponse, pending: int) -> bool:
        """The response is produced: close it, log it; False if output waits on WRITE."""
        self._response = None
        self._close_response(response)
        if self._shared.access_log:
            self._log_access(response.status)
        if pending:
            self._flushing = True
            self._park(WRITE)
            return False
        return True

    def _close_response(self, response: AppResponse) -> None:
        try:
            response.close()
        except Exception as exc:
            self._log_app_error(exc)

    def _app_failed(self, exc: Exception) -> None:
        self._log_app_error(exc)
        if self.http.responding:
            self.close()
            return
        self.transport.write(self.http.send_error(500, "Internal Server Error", self._shared.stamp))
        if self._shared.access_log:
            self._log_access("500 Internal Server Error")
        self._after_error()

    def _log_app_error(self, exc: Exception) -> None:
        request = self.http.request
        target = request.target.decode("latin-1") if request else "?"
        label = "App broke the WSGI contract" if isinstance(exc, AppProtocolError) else "Error"
        error_log.error("%s handling request %s", label, target, exc_info=exc)

    def _refuse(self, exc: ProtocolError) -> None:
        """Answer a malformed request with its 4xx/5xx, then close."""
        error_log.debug("Refused a request from %s: %d %s", self.client, exc.status, exc.message)
        if not self.http.can_answer_error:
            return self.close()  # a response went out already: only closing is left
        try:
            self.transport.write(self.http.send_error(exc.status, exc.message, self._shared.stamp))
        except ClientDisconnected:
            return self.close()
        return self._after_error()

    def _after_error(self) -> None:
        self.http.close()
        if self.transport.buffered:
            self._flushing = True
            return self._park(WRITE)
        return self.close()

    def _log_access(self, status: str) -> None:
        request = self.http.request
        if request is not None:
            log_access(request, self.client, status, self._bytes_sent, _monotonic() - self._started)

    def close(self) -> None:
        """Forget the connection and close its socket (the owner's job, never T0's)."""
        response, self._response = self._response, None
        if response is not None:
            self._close_response(response)
        fd = self.transport.fd
        self._shared.channels.pop(fd, None)
        self._shared.poller.unregister(fd)
        self.transport.close(linger=not self.http.peer_closed)

    # ---- Exchange: what the adapter may ask while the app runs (blocking) ------------------

    def read_body(self) -> bytes:
        http = self.http
        transport = self.transport
        while True:
            event = http.next_event()
            kind = type(event)
            if kind is Body:
                return event.data  # type: ignore[union-attr]
            if kind is EndOfMessage or kind is RequestHead:
                return b""
            if event is CONNECTION_CLOSED:
                raise ClientDisconnected("the client closed the connection mid-request")
            if event is NEED_DATA:
                if http.wants_continue():
                    self._write_now(http.send_continue())
                data = transport.recv()
                if data is None:
                    transport.wait_readable(self._shared.client_timeout)
                    continue
                http.receive_data(data)
            else:
                return b""  # PAUSED: this body is complete, the next request is queued

    def write_head(self, status: str, headers: list[tuple[str, str]]) -> None:
        self._write_now(
            self.http.send_head(status, headers, self._shared.stamp, self._shared.draining)
        )

    def write_body(self, data: bytes) -> None:
        self._bytes_sent += len(data)
        self._write_now(self.http.send_body(data))

    def _write_now(self, data: bytes) -> None:
        transport = self.transport
        transport.write(data)
        while transport.buffered > HIGH_WATER:
            transport.wait_writable(self._shared.client_timeout)
            transport.flush()


def _file_size(file: Any) -> int:
    return os.fstat(file.fileno()).st_size
