"""The connection policy: every decision about a connection that is not I/O, made once.

Both drivers (worker threads on the shared poller for WSGI, asyncio loops for ASGI) own a
`ConnectionPolicy` per connection and carry out what it answers; neither decides on its own:

- which deadline applies while the connection waits (`wait`): an idle keep-alive connection
  gets the keep-alive timeout from now; a client that owes bytes (a partial request head or
  body) gets the client timeout from when it started owing them, so trickling a byte at a time
  does not extend it; a slow reader gets the client timeout from now; a server that is draining
  closes a connection between requests instead of waiting for another one. `expired(now)`
  tells the owner when to close;
- how responses are framed for this server's state (`send_head`, `send_response`: draining
  forces `Connection: close`), and when a response is finished, what is logged for it and what
  comes next (`finish`, `complete`);
- what a malformed request (`refuse`) or a failed app (`fail`) gets: the bytes of an error
  response, or None when only closing is left.

It takes "now" as an argument and touches no socket, thread or clock.
"""

from __future__ import annotations

import logging

from beemo.errors import AppProtocolError, ProtocolError
from beemo.server.events import READ, WRITE
from beemo.server.http.access import log_access
from beemo.server.http.connection import HTTPConnection
from beemo.server.http.messages import (
    Header,
    ResponseHead,
)

__all__ = [
    "CLOSE",
    "IDLE",
    "NEXT",
    "READ",
    "WRITE",
    "ConnectionPolicy",
    "ServerState",
    "log_app_error",
]

# complete(): what follows a response.
CLOSE = 0
IDLE = 1
NEXT = 2

error_log = logging.getLogger("beemo.error")


_INTERNAL_ERROR = "Internal Server Error"


def log_app_error(target: bytes, exc: BaseException, interface: str) -> None:
    """One error log entry, with the traceback, for an app that raised (or broke the
    `interface`'s contract: the message names the violation) handling `target`."""
    path = target.decode("latin-1")
    if isinstance(exc, AppProtocolError):
        # The violation on the entry's first line, where a log search finds it; the traceback
        # still shows the app's call that made it.
        error_log.error(
            "App broke the %s contract handling request %s: %s", interface, path, exc, exc_info=exc
        )
    else:
        error_log.error("Error handling request %s", path, exc_info=exc)


class ServerState:
    """What every connection of one server reads: set up by the server, updated by T0.

    `stamp` ("date: ...\\r\\nserver: beemo\\r\\n") and `log_time` (the access log's clock) are
    refreshed once a second; `draining` turns on when the server stops.
    """

    __slots__ = ("access_log", "client_timeout", "draining", "keep_alive", "log_time", "stamp")

    def __init__(self, *, keep_alive: float, client_timeout: float, access_log: bool) -> None:
        self.keep_alive = keep_alive
        self.client_timeout = client_timeout
        self.access_log = access_log
        self.stamp = ""
        self.log_time = ""
        self.draining = False


class ConnectionPolicy:
    """The decisions for one connection (see the module docstring).

    Args:
        http: the connection's HTTP state machine.
        server: the server's shared state.
        client: the peer address, None for a unix socket.
        now: the monotonic time the connection was accepted.
    """

    __slots__ = (
        "_owed_since",
        "_sent",
        "_server",
        "_started",
        "client",
        "deadline",
        "http",
        "idle",
    )

    def __init__(
        self, http: HTTPConnection, server: ServerState, client: object, now: float
    ) -> None:
        self.http = http
        self.client = client
        self._server = server
        self._owed_since = 0.0  # when the client started owing the current request's bytes
        self._started = 0.0  # when the current request was handed to the app
        self._sent = 0  # body bytes sent for the current response
        self.deadline = now + server.keep_alive  # 0.0 while the connection's owner is busy
        self.idle = True  # waiting between requests: may be closed at once on shutdown

    # ---- input --------------------------------------------------------------------------

    def busy(self) -> None:
        """The owner works on the connection: no deadline runs meanwhile."""
        self.deadline = 0.0
        self.idle = False

    def wait(self, interest: int, now: float) -> bool:
        """The connection waits for the client: set the deadline that applies (see above).
        False when it should close instead: the server drains and it is between requests."""
        server = self._server
        if interest == WRITE:
            self.deadline = now + server.client_timeout
        elif self.http.between_requests:
            if server.draining:
                self.http.close()
                return False
            self.idle = True
            self.deadline = now + server.keep_alive
        else:
            self.idle = False  # a request is partly here: it is served, even when draining
            if not self._owed_since:
                self._owed_since = now
            self.deadline = self._owed_since + server.client_timeout
        return True

    def complete(self, now: float) -> int:
        """The response is out (`finish`), and what comes next: CLOSE (once the output is
        flushed; also after the client's EOF), IDLE (nothing more is here: the keep-alive wait
        started) or NEXT (ask `next_event`: a pipelined request, an error held back, the rest
        of a request body still arriving, or draining)."""
        server = self._server
        if server.access_log:
            self.finish(now)
        after = self.http.after_response()
        if after != IDLE:
            return after
        if server.draining:
            return NEXT
        self.idle = True
        self.deadline = now + server.keep_alive
        return IDLE

    def expired(self, now: float) -> bool:
        """True when the connection waited past its deadline: the owner closes it."""
        deadline = self.deadline
        return 0.0 < deadline < now

    def received(self) -> None:
        """The client sent body bytes an app waits for: the owner has work again (no
        deadline), and its next wait starts a new client timeout, as a WSGI app's read does.
        """
        self.deadline = 0.0
        self._owed_since = 0.0

    # ---- one request --------------------------------------------------------------------

    def begin(self, now: float) -> None:
        """The current request goes to the app: the owner is busy, no deadline runs."""
        self.deadline = 0.0
        self.idle = False
        self._owed_since = 0.0
        self._sent = 0
        self._started = now

    def send_head(self, head: ResponseHead, body_length: int = -1) -> bytes:
        """The response head's bytes (`HTTPConnection.send_head` with this server's state)."""
        server = self._server
        return self.http.send_head(head, server.stamp, server.draining, body_length)

    def send_response(self, head: ResponseHead, body: bytes) -> bytes:
        """A whole response's bytes: head, body and end in one."""
        server = self._server
        http = self.http
        data = http.send_response(head, server.stamp, server.draining, body)
        # A body the response cannot carry (HEAD, 204, 304) is dropped, and not logged as sent.
        self._sent = len(body) if http.carries_body else 0
        return data

    def send_body(self, data: bytes) -> bytes:
        """A framed piece of the response body."""
        out = self.http.send_body(data)
        if out:  # b"" when the response carries no body (HEAD, 204, 304): nothing was sent
            self._sent += len(data)
        return out

    def send_end(self, trailers: tuple[Header, ...] | list[Header] = ()) -> bytes:
        """The end of the response body."""
        return self.http.send_end(trailers)

    def count(self, sent: int) -> None:
        """Body bytes sent without `send_body` (sendfile)."""
        self._sent += sent
        self.http.count_raw_body(sent)

    def frame_file(self, count: int) -> tuple[bytes, bytes] | None:
        """The bytes around `count` raw body bytes sent from a file (zero-copy), or None
        when the response carries no body (HEAD, 204, 304)."""
        frame = self.http.frame_raw_body(count)
        if frame is not None:
            self._sent += count
        return frame

    def finish(self, now: float) -> None:
        """The response is complete: log it."""
        server = self._server
        if server.access_log:
            http = self.http
            request = http.request
            if request is not None:
                seconds = now - self._started
                log_access(request, self.client, http.status, self._sent, seconds, server.log_time)

    def after_output(self) -> bool:
        """True when the connection reads on once its output is flushed, False to close."""
        return self.http.next_interest() != 0

    # ---- errors -------------------------------------------------------------------------

    def refuse(self, exc: ProtocolError) -> bytes | None:
        """A malformed request: the error response to send before closing, or None when a
        response already went out and only closing is left."""
        error_log.debug("Refused a request from %s: %d %s", self.client, exc.status, exc.message)
        http = self.http
        if not http.can_answer_error:
            http.close()
            return None
        return http.send_error(exc.status, exc.message, self._server.stamp)

    def log_app_error(self, exc: BaseException, interface: str) -> None:
        """One error log entry, with the traceback, for an app that raised or broke its
        interface's contract."""
        request = self.http.request
        log_app_error(request.target if request else b"?", exc, interface)

    def fail(self, exc: BaseException, interface: str, now: float) -> bytes | None:
        """The app raised or broke its contract: log it; the 500 response to send before
        closing, or None when its response had started (only closing is left)."""
        self.log_app_error(exc, interface)
        http = self.http
        if http.responding or not http.can_answer_error:
            http.close()
            return None
        data = http.send_error(500, _INTERNAL_ERROR, self._server.stamp)
        self._sent = len(_INTERNAL_ERROR) + 1
        self.finish(now)
        return data
