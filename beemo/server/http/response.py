"""Response heads: validate the app's status and headers, choose the framing, render bytes.

Framing (RFC 9112 section 6): no body for HEAD, 1xx, 204 and 304; the app's Content-Length when
it gives one; otherwise chunked for HTTP/1.1 clients and close-delimited for HTTP/1.0 ones.
Hop-by-hop fields are the server's business: an app's Transfer-Encoding is dropped (Beemo frames
the body itself) and an app's `Connection: close` closes the connection after the response.

Header names and values are checked so no app can split a response: a name must be an RFC 9110
token, and the rendered head must hold exactly the line breaks Beemo put there.
"""

from __future__ import annotations

import enum
import re
from http import HTTPStatus

from beemo.errors import AppProtocolError

__all__ = ["Framing", "RenderedHead", "render_error", "render_head", "status_code"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SPECIAL = frozenset(("content-length", "transfer-encoding", "connection", "date", "server"))
_NAME_CACHE: dict[str, str] = {}  # validated header name -> its lower-case form
_NAME_CACHE_MAX = 4096


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


_STATUS_CACHE: dict[str, int] = {}


def status_code(status: str) -> int:
    """The numeric code of a WSGI-style status line ("200 OK"); AppProtocolError if malformed."""
    if not isinstance(status, str):
        raise AppProtocolError(f"the status must be a str, not {type(status).__name__}")
    known = _STATUS_CACHE.get(status)
    if known is not None:
        return known
    code = status[:3]
    if (
        len(status) < 3
        or not code.isascii()
        or not code.isdigit()
        or (len(status) > 3 and status[3] != " ")
    ):
        raise AppProtocolError(f"malformed status {status!r}: expected '200 OK' style")
    value = int(code)
    if not 200 <= value <= 599:
        # RFC 9110 15: codes are 100-599, and a 1xx is never a final response.
        raise AppProtocolError(f"status {status!r} cannot end a response (200-599 expected)")
    if len(_STATUS_CACHE) < _NAME_CACHE_MAX and "\n" not in status and "\r" not in status:
        _STATUS_CACHE[status] = value
    return value


def _lower_name(name: str) -> str:
    if not isinstance(name, str):
        raise AppProtocolError(f"invalid response header name {name!r}")
    lowered = _NAME_CACHE.get(name)
    if lowered is None:
        if not _TOKEN.fullmatch(name):
            raise AppProtocolError(f"invalid response header name {name!r}")
        if len(_NAME_CACHE) >= _NAME_CACHE_MAX:
            _NAME_CACHE.clear()
        lowered = _NAME_CACHE[name] = name.lower()
    return lowered


def render_head(
    status: str,
    headers: list[tuple[str, str]],
    head_request: bool,
    http10: bool,
    keep_alive: bool,
    stamp: str,
    body_length: int = -1,
) -> RenderedHead:
    """Render a response head.

    Args:
        status: "200 OK" style status line, without the protocol.
        headers: the app's (name, value) pairs, latin-1 strings.
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
    try:
        block = _BLOCKS.get((status, *headers))
    except TypeError:  # an unhashable header: _app_block reports what is wrong with it
        block = None
    if block is None:
        block = _app_block(status, headers)
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
        stamp_bytes = _merge_stamp(stamp, headers).encode("latin-1")
    elif last[0] is stamp:  # the stamp string changes once a second: encode it once
        stamp_bytes = last[1]
    else:
        stamp_bytes = _encode_stamp(stamp)
    return prefix + stamp_bytes + tail, framing, length, keep_alive


# (status, *headers) -> what they render to; most apps send a few fixed header sets.
_Block = tuple[int, bytes, int, bool, bool]  # code, prefix, Content-Length, close, own stamp
_BLOCKS: dict[tuple[object, ...], _Block] = {}
_BLOCKS_MAX = 512
_last_stamp: tuple[str, bytes] = ("", b"")


def _app_block(status: str, headers: list[tuple[str, str]]) -> _Block:
    """Validate and render the status line and the app's headers (cached by value)."""
    code = status_code(status)
    # Any list or tuple of 2-tuples (NamedTuples too): the cache key cannot tell them apart,
    # so accepting them all keeps a cache hit and a miss in agreement.
    if not isinstance(headers, (list, tuple)):
        raise AppProtocolError("the headers must be a list of (name, value) tuples")
    lines = ["HTTP/1.1 ", status, "\r\n"]
    length = -1
    app_close = False
    custom_stamp = False
    for header in headers:
        if not isinstance(header, tuple) or len(header) != 2:
            raise AppProtocolError(f"a header must be a (name, value) tuple, not {header!r}")
        name, value = header
        lowered = _lower_name(name)
        if not isinstance(value, str):
            raise AppProtocolError(f"the value of header {name!r} is not a str: {value!r}")
        if lowered in _SPECIAL:
            if lowered == "content-length":
                if not value.isdigit() or not value.isascii() or length not in (-1, int(value)):
                    raise AppProtocolError(f"invalid Content-Length {value!r}")
                length = int(value)
            elif lowered == "transfer-encoding":
                continue  # Beemo frames the body itself
            elif lowered == "connection":
                app_close = "close" in [token.strip() for token in value.lower().split(",")]
                continue
            else:
                custom_stamp = True
        lines.append(f"{name}: {value}\r\n")
    text = "".join(lines)
    # Every element from index 2 on ends with the one CRLF Beemo wrote there.
    breaks = len(lines) - 2
    if text.count("\n") != breaks or text.count("\r") != breaks or "\0" in text:
        raise AppProtocolError("a response status, header name or value contains CR, LF or NUL")
    try:
        prefix = text.encode("latin-1")
    except UnicodeEncodeError:
        raise AppProtocolError("response status and headers must be latin-1 strings") from None
    block = (code, prefix, length, app_close, custom_stamp)
    if len(_BLOCKS) >= _BLOCKS_MAX:
        _BLOCKS.clear()
    key = (status, *headers)
    _BLOCKS[key] = block
    return block


def _encode_stamp(stamp: str) -> bytes:
    global _last_stamp
    data = stamp.encode("latin-1")
    _last_stamp = (stamp, data)
    return data


def _merge_stamp(stamp: str, headers: list[tuple[str, str]]) -> str:
    """Keep only the stamp lines (date, server) the app did not set itself."""
    own = {name.lower() for name, _ in headers}
    return "".join(
        line + "\r\n" for line in stamp.split("\r\n") if line and line.split(":", 1)[0] not in own
    )


def render_error(status: int, message: str, stamp: str) -> bytes:
    """A complete plain-text error response that closes the connection."""
    body = (message + "\n").encode("utf-8")
    reason = HTTPStatus(status).phrase
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n{stamp}\r\n"
    ).encode("latin-1") + body
