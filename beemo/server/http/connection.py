"""One HTTP/1.1 server connection, sans-I/O: bytes in, messages out; responses in, bytes out.

The caller feeds received bytes with `receive_data` (b"" for EOF) and pulls messages with
`next_event`: a `RequestHead`, then `Body` pieces, then `EndOfMessage`, or a `Signal` when it
must read more (NEED_DATA), finish the current response first (PAUSED: a pipelined request is
queued behind it), or close (CONNECTION_CLOSED). Responses go out through `send_head`,
`send_body` and `send_end` (or `send_response` for a body given whole), which return the bytes
to write. `next_interest` tells the caller what to wait for next. No sockets, threads or
clocks: the Date/Server stamp comes in as text.

Errors: a malformed request raises `ProtocolError` (answer with `send_error`, then close). Whole
requests parsed before the bad bytes are handed out first and the error comes after them, as
h11 does; the malformed request itself is dropped whole and never reaches the app. Bad bytes in
the body of a request already answered only close the connection: no second response.

Keep-alive is decided here: the request's (HTTP/1.1 default, HTTP/1.0 on request), the
response's framing, and whether the request body was read. Body left unread after a response is
drained (read and discarded) up to `DRAIN_LIMIT` bytes; past that, or when the client still
waits for a 100 Continue that never came, the connection closes instead.
"""

from __future__ import annotations

from collections import deque

from beemo.config import Limits
from beemo.errors import AppProtocolError, ProtocolError, StateError
from beemo.server.events import READ
from beemo.server.http.messages import (
    CONNECTION_CLOSED,
    NEED_DATA,
    PAUSED,
    Body,
    EndOfMessage,
    Header,
    RequestHead,
    ResponseHead,
    Signal,
)
from beemo.server.http.parser import Message, RequestParser
from beemo.server.http.response import (
    Framing,
    render_error,
    render_head,
    render_switch,
    render_trailers,
)
from beemo.server.http.state import Phase, Step, advance, illegal, moves

__all__ = ["CLOSE", "CONTINUE", "DRAIN_LIMIT", "HTTPConnection", "READ"]

CLOSE = 0  # next_interest(): the connection is finished
DRAIN_LIMIT = 1 << 20
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

# Enum members as module constants: in CPython 3.11 EnumType defines __getattr__, which makes
# each `Phase.X` lookup ~10x slower than reading a global (74 ns vs 7 ns), ~10 times a request.
_AWAIT_REQUEST = Phase.AWAIT_REQUEST
_HANDLING = Phase.HANDLING
_RESPONDING = Phase.RESPONDING
_CLOSING = Phase.CLOSING
_REQUEST_HEAD = Step.REQUEST_HEAD
_RESPONSE_HEAD = Step.RESPONSE_HEAD
_RESPONSE_END = Step.RESPONSE_END
_CLOSE = Step.CLOSE
_SWITCH = Step.SWITCH
# The table's moves of the steps every request takes, looked up without a call.
_ON_REQUEST_HEAD = moves(_REQUEST_HEAD)
_ON_RESPONSE_HEAD = moves(_RESPONSE_HEAD)
_ON_RESPONSE_END = moves(_RESPONSE_END)
_NONE = Framing.NONE
_LENGTH = Framing.LENGTH
_CHUNKED = Framing.CHUNKED
_UNTIL_CLOSE = Framing.UNTIL_CLOSE


class HTTPConnection:
    """The server side of one HTTP/1.1 connection."""

    def __init__(self, limits: Limits) -> None:
        self._queue: deque[Message] = deque()
        self._parser = RequestParser(limits, self._queue)
        self.phase = _AWAIT_REQUEST
        self.request: RequestHead | None = None
        self._heads = 0  # request heads handed out so far
        self._body_started = False
        self._continue_sent = False
        self._drained = 0
        self._peer_closed = False
        self._error: ProtocolError | None = None  # held back until queued messages are out
        self._keep_alive = False
        self._framing = _NONE
        self._remaining = -1
        self.status = 0  # the status of the response being sent (or last sent)

    # ---- input ---------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the socket (b"" when the client closed its side).

        Raises:
            ProtocolError: the bytes are not valid HTTP/1.1 or break a limit; answer with
                `send_error` and close. When whole requests were parsed before the bad bytes,
                the error is held back and raised by `next_event` once they are handed out,
                so each request gets its own answer.
        """
        if not data:
            self._peer_closed = True
            return
        try:
            self._parser.feed(data)
        except ProtocolError as exc:
            queue = self._queue
            # What the bad message queued is dropped: a malformed request never reaches the app.
            while queue and type(queue[-1]) is not EndOfMessage:
                if type(queue.pop()) is RequestHead:
                    break
            if queue:  # whole requests came before the bad bytes: answer them first
                self._error = exc
            else:
                self._fail(exc)

    def _fail(self, exc: ProtocolError) -> None:
        if self.can_answer_error:
            raise exc
        # The bad bytes are in the body of a request already answered: no second response
        # may follow, so the connection just closes (next_event says CONNECTION_CLOSED).
        self.phase = advance(self.phase, _CLOSE)

    def next_event(self) -> RequestHead | Body | EndOfMessage | Signal:
        """The next message, or a `Signal` saying why there is none yet."""
        phase = self.phase
        if phase is _CLOSING:
            return CONNECTION_CLOSED
        queue = self._queue
        while queue:
            message = queue.popleft()
            kind = type(message)
            if kind is RequestHead:
                if phase is not _AWAIT_REQUEST:
                    queue.appendleft(message)
                    return PAUSED
                self.phase = _ON_REQUEST_HEAD.get(phase) or illegal(phase, _REQUEST_HEAD)
                self.request = message  # type: ignore[assignment]  # `type() is` does not narrow
                self._heads += 1
                self._body_started = self._continue_sent = False
                return message
            if kind is Body:
                self._body_started = True
                if phase is _AWAIT_REQUEST:  # body of a request already answered: drain
                    self._drained += len(message.data)  # type: ignore[union-attr]  # ditto
                    if self._drained > DRAIN_LIMIT:
                        self.phase = advance(phase, _CLOSE)
                        return CONNECTION_CLOSED
                    continue
                return message
            if phase is not _AWAIT_REQUEST:
                return message  # EndOfMessage of the request being handled
        error = self._error
        if error is not None:
            self._error = None
            self._fail(error)
            return CONNECTION_CLOSED
        if self._peer_closed:
            return CONNECTION_CLOSED
        return NEED_DATA

    def awaiting_body(self, limit: int) -> bool:
        """True while the current request's body is still arriving, the client does not wait
        for a 100 Continue, and fewer than `limit` bytes of it are buffered.

        Worth waiting for in the poller before the app runs: a slow uploader of a small body
        then never holds a worker, and a bigger body is streamed to the app as it comes.
        """
        parser = self._parser
        if parser.completed >= self._heads or self._error is not None or self._peer_closed:
            return False
        request = self.request
        if request is None or request.expect_continue:
            return False
        return parser.body_received < limit

    @property
    def request_received(self) -> bool:
        """True when the current request arrived whole (its end was parsed, maybe not read)."""
        return self._parser.completed >= self._heads

    @property
    def carries_body(self) -> bool:
        """True when the response being sent has a body on the wire (not HEAD, 204, 304)."""
        return self._framing is not _NONE

    @property
    def can_answer_error(self) -> bool:
        """True when an error response may still be sent: no response for this request has
        started, or the error is in a new request (not in the body of one already answered)."""
        phase = self.phase
        return phase is _HANDLING or (phase is _AWAIT_REQUEST and self.request_received)

    def wants_continue(self) -> bool:
        """True when the client waits for a 100 Continue before it sends the body."""
        request = self.request
        return (
            request is not None
            and request.expect_continue
            and not self._continue_sent
            and not self._body_started
            and self.phase is _HANDLING
        )

    def send_continue(self) -> bytes:
        """The interim 100 Continue, sent when the app starts reading the body."""
        self._continue_sent = True
        return CONTINUE

    # ---- output --------------------------------------------------------------------------

    def send_head(
        self,
        head: ResponseHead,
        stamp: str,
        close: bool = False,
        body_length: int = -1,
    ) -> bytes:
        """Render the response head.

        Args:
            head: the status and header fields.
            stamp: the current Date and Server lines.
            close: force `Connection: close` (the server is draining).
            body_length: the whole body's length when the app gave it at once: used as the
                Content-Length when the app set none, instead of chunked encoding.

        Raises:
            AppProtocolError: the status or headers are malformed.
        """
        request = self.request
        if request is None:
            raise StateError("send_head() before any request")
        keep_alive = request.keep_alive and not close
        if keep_alive and self._parser.completed < self._heads:  # not request_received
            keep_alive = self._drainable(request)
        data, self._framing, self._remaining, self._keep_alive = render_head(
            head,
            request.method == "HEAD",
            request.http_version == "1.0",
            keep_alive,
            stamp,
            body_length,
        )
        phase = self.phase
        self.phase = _ON_RESPONSE_HEAD.get(phase) or illegal(phase, _RESPONSE_HEAD)
        self.status = head.status
        return data

    def send_body(self, data: bytes) -> bytes:
        """Frame a piece of the response body.

        Raises:
            AppProtocolError: more bytes than the declared Content-Length.
        """
        framing = self._framing
        if framing is _LENGTH:
            self._remaining -= len(data)
            if self._remaining < 0:
                self._keep_alive = False
                raise AppProtocolError("response body longer than its Content-Length")
            return data
        if framing is _CHUNKED:
            return b"%x\r\n%b\r\n" % (len(data), data) if data else b""
        if framing is _UNTIL_CLOSE:
            return data
        return b""

    def raw_body_remaining(self) -> int:
        """Bytes still owed under Content-Length framing (for sendfile), else -1."""
        return self._remaining if self._framing is _LENGTH else -1

    def frame_raw_body(self, count: int) -> tuple[bytes, bytes] | None:
        """The bytes to write before and after `count` body bytes the caller writes itself
        (a file sent zero-copy), or None when the response has no body.

        Raises:
            AppProtocolError: more bytes than the declared Content-Length.
        """
        framing = self._framing
        if framing is _LENGTH:
            if count > self._remaining:
                self._keep_alive = False
                raise AppProtocolError("response body longer than its Content-Length")
            self._remaining -= count
            return b"", b""
        if framing is _CHUNKED:
            return (b"%x\r\n" % count, b"\r\n") if count else (b"", b"")
        if framing is _UNTIL_CLOSE:
            return b"", b""
        return None

    def count_raw_body(self, sent: int) -> None:
        """Account for `sent` body bytes written without `send_body` (sendfile)."""
        self._remaining -= sent

    def send_response(self, head: ResponseHead, stamp: str, close: bool, body: bytes) -> bytes:
        """A whole response at once: head, complete body and end (`send_head`, `send_body`,
        `send_end` in one call, for the common app that returns its body in one piece).

        Raises:
            AppProtocolError: the status or headers are malformed, or the app's Content-Length
                is not the length of `body`.
        """
        data = self.send_head(head, stamp, close, len(body))
        # The end, as send_end() makes it for a body of known length (never chunked), in
        # line: this runs on every such response.
        phase = self.phase
        self.phase = _ON_RESPONSE_END.get(phase) or illegal(phase, _RESPONSE_END)
        if self._keep_alive and not self._peer_closed:
            self._drained = 0
        else:
            self.phase = advance(self.phase, _CLOSE)
        if self._framing is _LENGTH:  # send_head checked len(body) == Content-Length
            self._remaining = 0
            return data + body
        return data  # HEAD, 204, 304: no body

    def send_end(self, trailers: tuple[Header, ...] | list[Header] = ()) -> bytes:
        """Finish the response and decide whether the connection is reused.

        Args:
            trailers: trailer fields, sent when the body is chunked (dropped otherwise: with
                any other framing there is nowhere to put them).

        Raises:
            AppProtocolError: fewer bytes than the declared Content-Length (the connection
                closes, since the client can no longer frame the stream), or a bad trailer.
        """
        framing = self._framing
        phase = self.phase
        self.phase = _ON_RESPONSE_END.get(phase) or illegal(phase, _RESPONSE_END)
        if framing is _LENGTH and self._remaining > 0:
            self.phase = advance(self.phase, _CLOSE)
            raise AppProtocolError("response body shorter than its Content-Length")
        end = b""
        if framing is _CHUNKED:
            try:
                end = render_trailers(trailers) if trailers else b"0\r\n\r\n"
            except AppProtocolError:
                # The last chunk cannot go out: like a short body, the client can no longer
                # frame the stream, and no error response may follow the body's bytes.
                self.phase = advance(self.phase, _CLOSE)
                raise
        # Whether an unread body can be drained was decided by _drainable() before the head
        # went out, and is in _keep_alive (with the app's and the client's wishes).
        if self._keep_alive and not self._peer_closed:
            self._drained = 0
        else:
            self.phase = advance(self.phase, _CLOSE)
        return end

    def _drainable(self, request: RequestHead) -> bool:
        """Whether the unread rest of the request body can be drained to reuse the connection,
        decided before the response head so that it can announce `Connection: close`."""
        if request.expect_continue and not self._body_started:
            return False  # the client waits for a 100 Continue and may never send the body
        for name, value in request.headers:
            if len(name) == 14 and name.lower() == b"content-length":
                return int(value) <= DRAIN_LIMIT
        return True  # chunked: drained up to DRAIN_LIMIT, then closed

    # ---- switching protocols (RFC 9110 7.8) ------------------------------------------------

    @property
    def upgrade(self) -> bytes:
        """The protocol the request being handled asks to switch to (its Upgrade header,
        lower-cased), or b"" when it may not switch (no Upgrade, or a request with a body)."""
        parser = self._parser
        # Nothing is parsed after an Upgrade request: a request pipelined before it, handled
        # while it waits (more requests were completed than handed out), is not it.
        if self.phase is _HANDLING and parser.completed == self._heads:
            return parser.switch_to
        return b""

    def send_switch(self, headers: tuple[Header, ...] | list[Header], stamp: str) -> bytes:
        """Accept the upgrade: the 101 response's bytes; the connection leaves HTTP/1.1.

        Raises:
            StateError: the request being handled is no switchable Upgrade request.
            AppProtocolError: a malformed header.
        """
        if not self.upgrade:
            raise StateError("send_switch() without an Upgrade request to accept")
        data = render_switch(headers, stamp)
        self.phase = advance(self.phase, _SWITCH)
        self.status = 101
        return data

    def switched_data(self) -> bytes:
        """The bytes the client sent after the Upgrade request's head (the new protocol's
        first bytes), handed over once."""
        kept = self._parser.switched_data
        data = b"".join(kept)
        kept.clear()
        return data

    def send_error(self, status: int, message: str, stamp: str) -> bytes:
        """A complete error response; the connection closes after it."""
        self.phase = advance(self.phase, _CLOSE)
        self.status = status
        return render_error(status, message, stamp)

    def close(self) -> None:
        """Read no further requests (an error, or the server is stopping)."""
        self.phase = advance(self.phase, _CLOSE)

    def release(self) -> None:
        """The socket closed: free the parser now (see `RequestParser.release`)."""
        self._parser.release()

    @property
    def pipelined(self) -> bool:
        """True when messages of a later request are already parsed (the client pipelines)."""
        return bool(self._queue)

    @property
    def peer_closed(self) -> bool:
        """True once the client's EOF was received: nothing more can arrive."""
        return self._peer_closed

    def after_response(self) -> int:
        """What follows a finished response: 0 to close once the output is flushed (also
        after the client's EOF), 1 when nothing more is here (wait for the client), 2 when
        `next_event` has more to say (a pipelined request, an error held back) or a request
        is still arriving (its body, a new head)."""
        phase = self.phase
        if phase is _CLOSING or self._peer_closed:
            return 0
        parser = self._parser
        if (
            phase is _AWAIT_REQUEST
            and not self._queue
            and self._error is None
            and not parser.head_started
            and parser.completed >= self._heads
        ):
            return 1
        return 2

    @property
    def between_requests(self) -> bool:
        """True when no request is in progress or partly received: safe to close now."""
        return (
            self.phase is _AWAIT_REQUEST
            and not self._queue
            and not self._parser.head_started
            and self._parser.completed >= self._heads
        )

    @property
    def responding(self) -> bool:
        """True when a response head is out and its body is not finished."""
        return self.phase is _RESPONDING

    def next_interest(self) -> int:
        """READ to wait for more of a request, or CLOSE once the output is flushed."""
        return CLOSE if self.phase is _CLOSING or self._peer_closed else READ
