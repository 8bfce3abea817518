"""Request parsing: the only module that imports httptools.

httptools (llhttp) is strict by default and already rejects most of what RFC 9112 says a server
must: Content-Length together with Transfer-Encoding, repeated or malformed Content-Length, a
final transfer coding other than chunked, bad chunk framing, bare CR or LF, control bytes in
header values, whitespace before a colon, obsolete line folding. This module adds what llhttp
leaves to the server: the size limits, the Host rules, the HTTP version, Expect, and the
"Transfer-Encoding in HTTP/1.0" rule (RFC 9112 section 6.1).

The callbacks only append messages to the queue given at construction. After a message that
ends the connection (no keep-alive, or an Upgrade request), nothing more is parsed: no byte
after it can ever be read as a new request. The bytes after a body-less Upgrade request's head
are kept for the protocol it asks for, in case the connection switches.
"""

from __future__ import annotations

import re
from collections import deque

import httptools

from beemo.config import Limits
from beemo.errors import ProtocolError
from beemo.server.http.messages import END_OF_MESSAGE, Body, EndOfMessage, Header, RequestHead

__all__ = ["RequestParser"]

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_METHODS: dict[bytes, str] = {}
_VERSIONS = {b"HTTP/1.1": "1.1", b"HTTP/1.0": "1.0"}
_LONGEST_METHOD = 16  # llhttp's longest method name, with room to spare
_START_KEPT = 32  # bytes of a message's start kept to tell a bad method (400) from unknown (501)
# Bytes of a new protocol a client may send before the server agreed to switch to it.
_SWITCHED_LIMIT = 1 << 20
# NamedTuple's generated __new__ is a Python function; building the tuple directly skips it.
_new_head = tuple.__new__
Message = RequestHead | Body | EndOfMessage
_RELEASED = httptools.HttpRequestParser(None)  # what a released parser holds instead


class RequestParser:
    """Feeds bytes to llhttp and queues `RequestHead`, `Body` and `EndOfMessage` values.

    Args:
        limits: the request size limits.
        queue: where parsed messages are appended, in order.
    """

    def __init__(self, limits: Limits, queue: deque[Message]) -> None:
        self._limits = limits
        self._max_line = limits.request_line
        self._max_field = limits.request_field_size - 2  # name + value, without ": "
        self._max_fields = limits.request_fields
        self._max_body = limits.request_body or -1
        self.body_received = 0  # body bytes of the message being parsed
        self._bodies = 0  # body pieces parsed so far (tells whether a chunk held a body)
        self._queue = queue
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._fields: list[Header] = []  # the head's header fields, then the trailers
        # A message began and its head is not complete yet: bytes of it are buffered.
        self.head_started = False
        self._head_bytes = 0
        self._in_message = False
        self._start: bytes | None = b""  # first bytes of the current message, if known
        self._chunk: bytes | None = None  # the chunk being parsed, if a message starts at [0]
        self.completed = 0  # messages parsed to their end
        self._upgrade_body = 0  # body bytes still owed by an Upgrade request served plainly
        self._closing = False  # the head being parsed is the connection's last request
        self.finished = False  # no further request may be parsed on this connection
        # A body-less Upgrade request was parsed: the bytes after its head belong to the
        # protocol it asks for, kept here until the connection switches or closes.
        self.switch_to = b""  # its Upgrade header, lower-cased
        self.switched_data: list[bytes] = []
        self._switched_size = 0

    def release(self) -> None:
        """The connection is gone: parse nothing more, and let llhttp's parser go.

        llhttp holds this object's bound callbacks and this object holds llhttp's parser: a
        reference cycle that only the cyclic collector would free, once per connection.
        """
        self.finished = True
        self._upgrade_body = 0
        self._parser = _RELEASED

    def feed(self, data: bytes) -> None:
        """Parse `data`; raises `ProtocolError` on a malformed or over-limit request."""
        if self.finished:
            if self._upgrade_body:
                self._take_upgrade_body(data)
            elif self.switch_to:
                self._keep_switched(data)
            return
        fresh = not self._in_message  # a new message would start at data[0]
        self._chunk = data if fresh else None
        completed = self.completed
        bodies = self._bodies
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self.finished = True  # no further HTTP/1.1 request on this connection
            self._upgrade(data[int(exc.args[0]) :] if exc.args else b"")
            return
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, ProtocolError):
                raise exc.__context__ from None
            raise ProtocolError(400, "Bad Request") from exc
        except httptools.HttpParserError as exc:
            if self.finished:
                return
            if self.completed != completed:  # the bad message began inside this chunk
                start = self._after_messages(data, fresh, self.completed - completed, bodies)
            else:
                start = data if fresh else (self._start or b"") + data
            raise _error_for(exc, start) from None
        if self.head_started:
            ended = self.completed - completed
            self._track_head(data, fresh, ended, self._after_messages(data, fresh, ended, bodies))

    def _after_messages(self, data: bytes, fresh: bool, count: int, bodies: int) -> bytes | None:
        """The bytes of `data` after the `count` messages that ended in it, when that is known:
        the first began at data[0] and none had a body, so each ended at a blank line."""
        if not fresh or bodies != self._bodies:
            return None
        end = -4
        for _ in range(count):
            end = data.find(b"\r\n\r\n", end + 4)
            if end < 0:
                return None
        return data[end + 4 :]

    def _track_head(self, data: bytes, fresh: bool, ended: int, rest: bytes | None) -> None:
        """Bound what llhttp buffers for an incomplete head, and keep its first bytes.

        When `ended` messages ended inside this chunk, the new head is `rest` when that is
        known; otherwise how much of the chunk it holds is unknown (at most one chunk): it is
        not counted, rather than guessed, so that a body's bytes never count against it.
        """
        if ended:
            self._head_bytes = len(rest) if rest is not None else 0
            self._start = rest[:_START_KEPT] if rest is not None else None
        elif fresh:
            self._head_bytes = len(data)
            self._start = data[:_START_KEPT]
        else:
            self._head_bytes += len(data)
            if self._start is not None and len(self._start) < _START_KEPT:
                self._start = (self._start + data)[:_START_KEPT]
        if self._head_bytes > self._limits.max_head_size:
            raise ProtocolError(431, "Request Header Fields Too Large")

    def _upgrade(self, rest: bytes) -> None:
        """An Upgrade request ended its head (llhttp stops parsing there).

        A body-less one may switch protocols: the bytes after its head are kept for the new
        protocol (`switched_data`). One with a body is served as a plain request (RFC 9110 7.8
        lets a server ignore Upgrade), its body read here: a Content-Length body from the
        bytes that follow; a chunked one is refused.
        """
        queue = self._queue
        head = queue[-2] if len(queue) >= 2 else None
        if type(head) is not RequestHead or type(queue[-1]) is not EndOfMessage:
            return  # a CONNECT: nothing more to read
        length = 0
        protocol = b""
        for name, value in head.headers:
            lowered = name.lower()
            if lowered == b"upgrade":
                protocol = value.lower()
            elif lowered == b"transfer-encoding":
                queue.pop()
                queue.pop()
                raise ProtocolError(400, "Bad Request: an Upgrade request with a chunked body")
            if lowered == b"content-length":
                length = int(value)
        if length:
            queue.pop()  # the end of message comes after the body
            self.completed -= 1
            self._upgrade_body = length
            self._take_upgrade_body(rest)
        else:
            self.switch_to = protocol
            self._keep_switched(rest)

    def _keep_switched(self, data: bytes) -> None:
        if not data:
            return
        self._switched_size += len(data)
        if self._switched_size > _SWITCHED_LIMIT:
            # A client that streams before it was told to switch: the handshake is broken.
            self.switch_to = b""
            self.switched_data.clear()
            raise ProtocolError(400, "Bad Request: data sent before the protocol switched")
        self.switched_data.append(data)

    def _take_upgrade_body(self, data: bytes) -> None:
        piece = data[: self._upgrade_body]
        if piece:
            self._queue.append(Body(piece))
            self._upgrade_body -= len(piece)
        if not self._upgrade_body:
            self._queue.append(END_OF_MESSAGE)
            self.completed += 1

    # httptools callbacks: they only validate and append.

    def on_message_begin(self) -> None:
        self._in_message = True
        self.head_started = True
        self._head_bytes = 0

    def on_url(self, url: bytes) -> None:
        url = self._url + url if self._url else url
        self._url = url
        # --limit-request-line counts the whole line: method SP target SP HTTP/x.y (10 bytes
        # beside the method and target). The method is only looked up near the limit.
        if len(url) + 10 + _LONGEST_METHOD > self._max_line and (
            len(self._parser.get_method()) + len(url) + 10 > self._max_line
        ):
            raise ProtocolError(414, "URI Too Long")

    def on_header(self, name: bytes, value: bytes) -> None:
        fields = self._fields
        # llhttp skips the whitespace before a value but keeps the one after (RFC 9110 5.5).
        fields.append((name, value.rstrip(b" \t")))
        if len(name) + len(value) > self._max_field or len(fields) > self._max_fields:
            raise ProtocolError(431, "Request Header Fields Too Large")

    def on_headers_complete(self) -> None:
        parser = self._parser
        # The HTTP version read off the request line, when this head began at the start of
        # the chunk being parsed (its line is whole there). httptools' get_http_version()
        # formats a new string with str.format on every call (~2,000 machine instructions,
        # measured with callgrind); llhttp has already checked that the line ends in
        # "HTTP/x.y" CRLF, so the 8 bytes before the first CRLF are it.
        version = ""
        chunk = self._chunk
        if chunk is not None:
            self._chunk = None  # later messages in this chunk start at unknown offsets
            end = chunk.find(b"\r\n")
            if end > 8:
                version = _VERSIONS.get(chunk[end - 8 : end], "")
        version = version or parser.get_http_version()
        if version != "1.1" and version != "1.0":
            raise ProtocolError(505, "HTTP Version Not Supported")
        raw_method = parser.get_method()
        method = _METHODS.get(raw_method)
        if method is None:
            method = _METHODS.setdefault(raw_method, raw_method.decode("ascii"))
        headers = self._fields
        expect_continue = _check_headers(headers, version, self._max_body)
        keep_alive = parser.should_keep_alive()
        if keep_alive and parser.should_upgrade():
            keep_alive = False
        self._queue.append(
            _new_head(
                RequestHead, (method, self._url, version, headers, keep_alive, expect_continue)
            )
        )
        self._url = b""
        self._fields = []
        self.head_started = False
        if not keep_alive:
            self._closing = True

    def on_body(self, body: bytes) -> None:
        self._bodies += 1
        self.body_received += len(body)
        if self._max_body >= 0:
            if self.body_received > self._max_body:
                self.finished = True  # the rest of this body must never parse as a request
                raise ProtocolError(413, "Content Too Large")
        self._queue.append(Body(body))

    def on_message_complete(self) -> None:
        trailers = self._fields
        if trailers:
            self._queue.append(EndOfMessage(tuple(trailers)))
            self._fields = []
        else:
            self._queue.append(END_OF_MESSAGE)
        self.completed += 1
        self._in_message = False
        self.body_received = 0
        if self._closing:
            self.finished = True


def _error_for(exc: httptools.HttpParserError, start: bytes | None) -> ProtocolError:
    """The response status for an llhttp error; `start` is the message's first bytes, or
    None when they are unknown."""
    message = str(exc) or "Bad Request"
    if isinstance(exc, httptools.HttpParserInvalidMethodError):
        # RFC 9110 9.1: a well-formed but unknown method is 501; bytes that are no token, 400.
        method = start.split(b" ", 1)[0] if start is not None else b""
        if method and _TOKEN.fullmatch(method):
            return ProtocolError(501, "Not Implemented: unknown method")
        return ProtocolError(400, "Bad Request: invalid method")
    if "HTTP version" in message:
        return ProtocolError(505, "HTTP Version Not Supported")
    return ProtocolError(400, f"Bad Request: {message}")


def _check_headers(headers: list[Header], version: str, max_body: int) -> bool:
    """Apply the Host, Transfer-Encoding, Expect and body-size rules; True when 100-continue is
    expected. A declared Content-Length over `max_body` (when >= 0) is refused up front."""
    hosts = 0
    expect_continue = False
    codings: list[bytes] = []
    for name, value in headers:
        size = len(name)
        if size == 4 and name.lower() == b"host":
            hosts += 1
        elif size == 14 and max_body >= 0 and name.lower() == b"content-length":
            if value.isdigit() and int(value) > max_body:
                raise ProtocolError(413, "Content Too Large")
        elif size == 17 and name.lower() == b"transfer-encoding":
            codings.append(value)
        elif size == 6 and name.lower() == b"expect":
            if value.lower() != b"100-continue":
                raise ProtocolError(417, "Expectation Failed")
            expect_continue = version == "1.1"
    if codings:  # field lines of one name are one comma-separated list (RFC 9110 5.3)
        _check_transfer_encoding(b",".join(codings), version)
    if hosts > 1:
        raise ProtocolError(400, "Bad Request: more than one Host header")
    if hosts == 0 and version == "1.1":
        raise ProtocolError(400, "Bad Request: missing Host header")  # RFC 9112 3.2
    return expect_continue


def _check_transfer_encoding(value: bytes, version: str) -> None:
    if version == "1.0":
        # RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 means the framing cannot be trusted.
        raise ProtocolError(400, "Bad Request: Transfer-Encoding in an HTTP/1.0 request")
    codings = [coding.strip() for coding in value.lower().split(b",")]
    if codings[-1] != b"chunked":
        raise ProtocolError(400, "Bad Request: chunked is not the final transfer coding")
    if len(codings) > 1:
        # RFC 9112 6.1: a transfer coding the server does not understand is a 501.
        raise ProtocolError(501, "Not Implemented: transfer coding")
