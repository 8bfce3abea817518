"""The thread driver: one accepted connection served by worker threads on the shared poller.

A channel wires the transport below to the HTTP state machine and the adapter above, and
carries out what its `ConnectionPolicy` decides; it decides nothing about deadlines, keep-alive,
errors or logging itself.

Ownership: a channel has one owner at a time, and only the owner does I/O on its socket. The
claim (`claim()`, a non-blocking lock) is what makes it one: a worker that receives the
channel's one-shot event claims it before it runs `handle`, and gives it back when it parks
it (`_park`: set the deadline, release the claim, re-arm). T0 enforces a deadline by claiming a
parked channel the same way: it then owns it and closes it, or gives it back and re-arms it
(`expire`). A worker whose claim fails drops the event: the holder re-arms the channel.

Data flows one way: bytes -> `HTTPConnection` -> messages -> adapter -> app, and back.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from beemo.errors import ClientDisconnected, ProtocolError
from beemo.server.events import READ, WRITE, Poller
from beemo.server.http.connection import HTTPConnection
from beemo.server.http.messages import (
    CONNECTION_CLOSED,
    NEED_DATA,
    Body,
    EndOfMessage,
    RequestHead,
    ResponseHead,
)
from beemo.server.http.policy import ConnectionPolicy, ServerState
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

    head_sent: bool
    pieces: list[bytes] | tuple[bytes, ...]
    body_length: int
    file: Any

    @property
    def head(self) -> ResponseHead: ...

    def next_piece(self) -> bytes | None: ...

    def close(self) -> None: ...


# The adapter: `connect(server, client)` once per connection gives a per-connection state;
# `handler(request, exchange, state)` runs the app for each request.
Handler = Callable[[RequestHead, "Exchange", Any], AppResponse]
Connect = Callable[[tuple[str, int], Any], Any]


class Shared:
    """What every channel of one server reads: set up by the server."""

    def __init__(
        self,
        poller: Poller,
        handler: Handler,
        connect: Connect,
        channels: dict[int, Channel],
        state: ServerState,
    ) -> None:
        self.poller = poller
        self.handler = handler
        self.connect = connect
        self.channels = channels
        self.state = state


class Channel:
    """One accepted connection being served (see the module docstring for ownership)."""

    __slots__ = (
        "_claim",
        "_flushing",
        "_interest",
        "_response",
        "_shared",
        "_state",
        "_waiting",
        "claim",
        "client",
        "http",
        "policy",
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
        now: float,
    ) -> None:
        self.transport = transport
        self.http = http
        self.policy = ConnectionPolicy(http, shared.state, client, now)
        self.server = server
        self.client = client
        self._shared = shared
        self._state = shared.connect(server, client)  # the adapter's per-connection state
        self._response: AppResponse | None = None
        self._waiting: RequestHead | None = None  # a request whose body is still arriving
        self._flushing = False  # only buffered output is left; then close or read on
        self._interest = READ  # what the channel is armed for while parked
        self._claim = threading.Lock()
        self.claim = self._claim.acquire  # claim(False): take ownership, or fail at once

    # ---- entry point: one one-shot event --------------------------------------------------

    def handle(self, bits: int) -> None:
        """Serve what the event made possible; the caller holds the claim."""
        self.policy.busy()
        transport = self.transport
        try:
            if self._flushing:
                if transport.flush():
                    return self._park(WRITE)
                self._flushing = False
                if not self.policy.after_output():
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
        """Give the connection back to the poller, armed for `interest`, under the deadline
        the policy sets; the claim is released first, so the next event finds it free."""
        if not self.policy.wait(interest, _monotonic()):
            return self.close()  # the server drains: no new request on this connection
        self._interest = interest
        self._claim.release()
        try:
            self._shared.poller.rearm(self.transport.fd, interest)
        except OSError:
            pass  # T0 closed it meanwhile (its deadline was already due): nothing to arm

    def expire(self, now: float, draining: bool) -> None:
        """T0, holding the claim: close the channel when it waited past its deadline (or is
        idle while the server drains), unless a request arrived and waits for a worker;
        otherwise give it back to the poller."""
        policy = self.policy
        if (policy.expired(now) or (draining and policy.idle)) and not (
            self.transport.input_waiting()
        ):
            self.close()
            return
        self._claim.release()
        try:
            self._shared.poller.rearm(self.transport.fd, self._interest)
        except OSError:
            pass

    # ---- one request ----------------------------------------------------------------------

    def _respond(self, request: RequestHead) -> bool:
        """Run the app for `request`; False when the channel is parked or closed."""
        http = self.http
        policy = self.policy
        shared = self._shared
        policy.begin(_monotonic())
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
                    whole = policy.send_response(response.head, pieces[0])
                else:
                    head = policy.send_head(response.head, response.body_length)
        except (ClientDisconnected, ProtocolError):
            raise
        except Exception as exc:
            if response is not None:
                self._close_response(response)
            self._app_failed(exc)
            return False
        self._response = response  # closed by _finish, or by close() if the client is gone
        if whole is not None:
            return self._finish(response, self.transport.write(whole))
        if response.head_sent:
            for piece in response.pieces:
                self.write_body(piece)
            return self._produce(response)
        parts = [head, *map(policy.send_body, response.pieces)]
        if response.file is None and response.body_length >= 0:
            parts.append(http.send_end())
            return self._finish(response, self.transport.write_parts(parts))
        self.transport.write_parts(parts)
        return self._produce(response)

    def _produce(self, response: AppResponse) -> bool:
        """Send the rest of the body at the client's pace; False when parked on WRITE."""
        policy = self.policy
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
                transport.write(policy.send_body(piece))
            pending = transport.write(policy.send_end())
        except ClientDisconnected:
            self._close_response(response)
            raise
        except Exception as exc:
            self._close_response(response)
            self._app_failed(exc)
            return False
        return self._finish(response, pending)

    def _send_file(self, response: AppResponse) -> bool:
        """Send a `wsgi.file_wrapper` file with sendfile; False when parked on WRITE."""
        transport = self.transport
        file = response.file
        remaining = self.http.raw_body_remaining()
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
            self.policy.count(sent)
            remaining -= sent
        response.file = None
        return True

    def _finish(self, response: AppResponse, pending: int) -> bool:
        """The response is produced: close it, log it; False if output waits on WRITE."""
        self._response = None
        try:
            response.close()
        except Exception as exc:
            self.policy.log_app_error(exc, "WSGI")
        self.policy.finish(_monotonic())
        if pending:
            self._flushing = True
            self._park(WRITE)
            return False
        return True

    def _close_response(self, response: AppResponse) -> None:
        try:
            response.close()
        except Exception as exc:
            self.policy.log_app_error(exc, "WSGI")

    def _app_failed(self, exc: Exception) -> None:
        data = self.policy.fail(exc, "WSGI", _monotonic())
        if data is None:
            return self.close()
        self.transport.write(data)
        self._after_error()

    def _refuse(self, exc: ProtocolError) -> None:
        """Answer a malformed request with its 4xx/5xx, then close."""
        data = self.policy.refuse(exc)
        if data is None:
            return self.close()  # a response went out already: only closing is left
        try:
            self.transport.write(data)
        except ClientDisconnected:
            return self.close()
        return self._after_error()

    def _after_error(self) -> None:
        if self.transport.buffered:
            self._flushing = True
            return self._park(WRITE)
        return self.close()

    def close(self) -> None:
        """Forget the connection and close its socket (only its owner does this)."""
        response, self._response = self._response, None
        if response is not None:
            self._close_response(response)
        fd = self.transport.fd
        self._shared.channels.pop(fd, None)
        self._shared.poller.unregister(fd)
        self.transport.close(linger=not self.http.peer_closed)
        self.http.release()

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
                    transport.wait_readable(self._shared.state.client_timeout)
                    continue
                http.receive_data(data)
            else:
                return b""  # PAUSED: this body is complete, the next request is queued

    def write_head(self, head: ResponseHead) -> None:
        self._write_now(self.policy.send_head(head))

    def write_body(self, data: bytes) -> None:
        self._write_now(self.policy.send_body(data))

    def _write_now(self, data: bytes) -> None:
        transport = self.transport
        transport.write(data)
        while transport.buffered > HIGH_WATER:
            transport.wait_writable(self._shared.state.client_timeout)
            transport.flush()


def _file_size(file: Any) -> int:
    return os.fstat(file.fileno()).st_size
