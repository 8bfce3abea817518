"""Response heads: validate the app's status and headers, choose the framing, render bytes.

Framing (RFC 9112 section 6): no body for HEAD, 1xx, 204 and 304; the app's Content-Length when
it gives one; otherwise chunked for HTTP/1.1 clients and close-delimited for HTTP/1.0 ones.
Hop-by-hop fields are the server's business: an app's Transfer-Encoding is dropped (Beemo frames
the body itself) and an app's `Connection: close` closes the connection after the response.

The head comes in typed (`ResponseHead`: an int status, byte header pairs); each adapter turns
its application interface's values into one. Header names and values are checked so no app can
split a response: a name must be an RFC 9110 token, and the rendered head must hold exactly the
line breaks Beemo put there.
"""

from __future__ import annotations

import enum
import re
from http import HTTPStatus

from beemo.errors import AppProtocolError
from beemo.server.http.messages import Header, ResponseHead

__all__ = [
    "Framing",
    "RenderedHead",
    "render_error",
    "render_head",
    "render_switch",
    "render_trailers",
]

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SPECIAL = frozenset((b"content-length", b"transfer-encoding", b"connection", b"date", b"server"))
_NAME_CACHE: dict[bytes, bytes] = {}  # validated header name -> its lower-case form
_NAME_CACHE_MAX = 4096
_BAD_VALUE = re.compile(rb"[\r\n\0]")  # RFC 9110 5.5: never in a field value


class Framing(enum.Enum):
    NONE = "no body"
    LENGTH = "content-length"
    CHUNKED = "chunked"
    UNTIL_CLOSE = "until close"


_NONE = Framing.NONE
_LENGTH = Framing.LENGTH
_CHUNKED = Framing.CHUNKED
_UNTIL_CLOSE = Framing.UNTIL_CLOSE

# (head bytes, framing, declared Content-Length or -1, connection reusable). A plain tuple:
# this is built once per response, and a NamedTuple costs a Python-level __new__.
RenderedHead = tuple[bytes, Framing, int, bool]

_PHRASES = {status.value: status.phrase.encode("ascii") for status in HTTPStatus}


def _lower_name(name: object) -> bytes:
    # isinstance, not `type() is`, here and below: an int or bytes subclass (HTTPStatus.OK) is
    # equal to the plain value and hits the cache, so a miss must accept it too.
    if not isinstance(name, bytes):
        raise AppProtocolError(f"a response header name must be bytes, not {name!r}")
    lowered = _NAME_CACHE.get(name)
    if lowered is None:
        if not _TOKEN.fullmatch(name):
            raise AppProtocolError(f"invalid response header name {name!r}")
        if len(_NAME_CACHE) >= _NAME_CACHE_MAX:
            _NAME_CACHE.clear()
        lowered = _NAME_CACHE[name] = name.lower()
    return lowered


def render_head(
    head: ResponseHead,
    head_request: bool,
    http10: bool,
    keep_alive: bool,
    stamp: str,
    body_length: int = -1,
) -> RenderedHead:
    """Render a response head.

    Args:
        head: the status, reason and (name, value) byte pairs.
        head_request: the request was HEAD: keep the headers, send no body.
        http10: the request was HTTP/1.0: no chunked encoding, keep-alive only if asked.
        keep_alive: the request allows the connection to be reused.
        stamp: "date: ...\\r\\nserver: beemo\\r\\n", refreshed once a second by the caller.
        body_length: the length of the whole body when known up front; it becomes the
            Content-Length when the app set none (no chunked encoding needed).

    Returns:
        The bytes, the framing of the body, the declared length (or -1), and whether the
        connection may be reused after this response.

    Raises:
        AppProtocolError: malformed status, header name, value or Content-Length.
    """
    # The same head object again (an adapter's own cache of heads, as WSGI's): found by
    # identity, without hashing its headers. The entry holds the head, so its id is not reused.
    known = _BY_ID.get(id(head))
    block: _Block | None
    if known is not None and known[0] is head:
        block = known[1]
    else:
        try:
            block = _BLOCKS.get(head)
        except TypeError:  # an unhashable header: _app_block reports what is wrong with it
            block = None
    if block is None:
        block = _app_block(head)
    code, prefix, length, app_close, custom_stamp = block
    if app_close:
        keep_alive = False
    if head_request or code == 204 or code == 304:
        framing = _NONE
        tail = b""
    elif length >= 0:
        framing = _LENGTH
        tail = b""
        if 0 <= body_length != length:
            raise AppProtocolError(
                f"Content-Length {length} does not match the body's {body_length} bytes"
            )
    elif body_length >= 0:
        framing = _LENGTH
        length = body_length
        tail = b"content-length: %d\r\n" % length
    elif http10:
        framing = _UNTIL_CLOSE
        keep_alive = False
        tail = b""
    else:
        framing = _CHUNKED
        tail = b"transfer-encoding: chunked\r\n"
    if not keep_alive:
        tail += b"connection: close\r\n\r\n"
    elif http10:
        tail += b"connection: keep-alive\r\n\r\n"
    else:
        tail += b"\r\n"
    last = _last_stamp
    if custom_stamp:
        stamp_bytes = _merge_stamp(stamp, head.headers)
    elif last[0] is stamp:  # the stamp string changes once a second: encode it once
        stamp_bytes = last[1]
    else:
        stamp_bytes = _encode_stamp(stamp)
    return prefix + stamp_bytes + tail, framing, length, keep_alive


# ResponseHead -> what it renders to; most apps send a few fixed header sets.
_Block = tuple[int, bytes, int, bool, bool]  # code, prefix, Content-Length, close, own stamp
_BLOCKS: dict[object, _Block] = {}
_BY_ID: dict[int, tuple[ResponseHead, _Block]] = {}
_BLOCKS_MAX = 512
_last_stamp: tuple[str, bytes] = ("", b"")


def _app_block(head: ResponseHead, final: bool = True) -> _Block:
    """Validate and render the status line and the app's headers (cached by value, when
    `final`: a 101 is rendered by `render_switch` alone)."""
    code, headers, reason = head
    if final and (not isinstance(code, int) or not 200 <= code <= 599):
        # RFC 9110 15: codes are 100-599, and a 1xx is never a final response.
        raise AppProtocolError(f"status {code!r} cannot end a response (200-599 expected)")
    if not isinstance(reason, bytes):
        raise AppProtocolError(f"the reason phrase must be bytes, not {reason!r}")
    if not isinstance(headers, (list, tuple)):
        raise AppProtocolError("the headers must be a sequence of (name, value) pairs")
    lines = [b"HTTP/1.1 %d %s\r\n" % (code, reason or _PHRASES.get(code, b""))]
    length = -1
    app_close = False
    custom_stamp = False
    for header in headers:
        if not isinstance(header, (tuple, list)) or len(header) != 2:
            raise AppProtocolError(f"a header must be a (name, value) pair, not {header!r}")
        name, value = header
        lowered = _lower_name(name)
        if not isinstance(value, bytes):
            raise AppProtocolError(f"the value of header {name!r} is not bytes: {value!r}")
        if lowered in _SPECIAL:
            if lowered == b"content-length":
                if not value.isdigit() or length not in (-1, int(value)):
                    raise AppProtocolError(f"invalid Content-Length {value!r}")
                length = int(value)
            elif lowered == b"transfer-encoding":
                continue  # Beemo frames the body itself
            elif lowered == b"connection":
                app_close = b"close" in [token.strip() for token in value.lower().split(b",")]
                continue
            else:
                custom_stamp = True
        lines.append(b"%s: %s\r\n" % (name, value))
    prefix = b"".join(lines)
    # Every line ends with the one CRLF Beemo wrote there.
    if prefix.count(b"\n") != len(lines) or prefix.count(b"\r") != len(lines) or b"\0" in prefix:
        raise AppProtocolError("a response reason, header name or value contains CR, LF or NUL")
    block = (code, prefix, length, app_close, custom_stamp)
    if not final:
        return block
    try:
        key = head if type(headers) is tuple else head._replace(headers=tuple(headers))
        hash(key)
    except TypeError:  # header pairs given as lists: valid, but not a cache key
        return block
    if len(_BLOCKS) >= _BLOCKS_MAX:
        _BLOCKS.clear()
        _BY_ID.clear()
    _BLOCKS[key] = block
    if key is head:  # the very object given: found by identity from now on
        _BY_ID[id(head)] = (head, block)
    return block


def _encode_stamp(stamp: str) -> bytes:
    global _last_stamp
    data = stamp.encode("latin-1")
    _last_stamp = (stamp, data)
    return data


def _merge_stamp(stamp: str, headers: tuple[Header, ...] | list[Header]) -> bytes:
    """Keep only the stamp lines (date, server) the app did not set itself."""
    own = {name.lower().decode("latin-1") for name, _ in headers}
    return "".join(
        line + "\r\n" for line in stamp.split("\r\n") if line and line.split(":", 1)[0] not in own
    ).encode("latin-1")


def render_switch(headers: tuple[Header, ...] | list[Header], stamp: str) -> bytes:
    """A 101 Switching Protocols head with the given fields (RFC 9110 15.2.2).

    Raises:
        AppProtocolError: a malformed header name or value.
    """
    code, prefix, _, _, custom_stamp = _app_block(ResponseHead(101, tuple(headers)), final=False)
    stamp_bytes = _merge_stamp(stamp, headers) if custom_stamp else stamp.encode("latin-1")
    # Connection is hop-by-hop, the server's to write (an app's was dropped by _app_block).
    return prefix + stamp_bytes + b"connection: upgrade\r\n\r\n"


def render_trailers(trailers: tuple[Header, ...] | list[Header]) -> bytes:
    """The last chunk of a chunked body with its trailer fields (RFC 9112 7.1.2).

    Raises:
        AppProtocolError: a malformed trailer name or value.
    """
    lines = [b"0\r\n"]
    for header in trailers:
        if not isinstance(header, (tuple, list)) or len(header) != 2:
            raise AppProtocolError(f"a trailer must be a (name, value) pair, not {header!r}")
        name, value = header
        _lower_name(name)
        if not isinstance(value, bytes) or _BAD_VALUE.search(value):
            raise AppProtocolError(f"invalid value of trailer {name!r}: {value!r}")
        lines.append(b"%s: %s\r\n" % (name, value))
    lines.append(b"\r\n")
    return b"".join(lines)


def render_error(status: int, message: str, stamp: str) -> bytes:
    """A complete plain-text error response that closes the connection."""
    body = (message + "\n").encode("utf-8")
    reason = HTTPStatus(status).phrase
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n{stamp}\r\n"
    ).encode("latin-1") + body
