"""The WSGI adapter (PEP 3333): a `RequestHead` becomes an environ and an app call.

`WSGIAdapter.start` runs the app up to its first non-empty body piece (PEP 3333: headers go out
with the first byte of body, not before) and returns a `WSGIResponse` that the worker drains at
the client's pace. Every call into app code (the call, each `next()`, `close()`) runs in the
request's own `contextvars.Context`, so a context variable set by one request never leaks into
the next one on the same thread, even when a response is resumed on another worker.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any
from urllib.parse import unquote_to_bytes

from beemo import __version__
from beemo.adapters.wsgi_streams import ErrorStream, FileWrapper, InputStream
from beemo.errors import AppProtocolError
from beemo.server.http.exchange import Exchange
from beemo.server.http.messages import RequestHead, ResponseHead

__all__ = ["WSGIAdapter", "WSGIResponse", "response_head"]

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_ENVIRON_KEYS: dict[bytes, str] = {}
_ENVIRON_KEYS_MAX = 4096
_PROTOCOLS = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0"}


def _environ_key(name: bytes) -> str:
    """HTTP_* key of a header name; "" for names with "_" (they could spoof a "-" name)."""
    key = _ENVIRON_KEYS.get(name)
    if key is None:
        text = name.decode("latin-1").upper()
        if "_" in text:
            key = ""
        elif text in ("CONTENT-TYPE", "CONTENT-LENGTH"):
            key = text.replace("-", "_")
        else:
            key = "HTTP_" + text.replace("-", "_")
        if len(_ENVIRON_KEYS) >= _ENVIRON_KEYS_MAX:
            _ENVIRON_KEYS.clear()
        _ENVIRON_KEYS[name] = key
    return key


_HEADS: dict[tuple[object, ...], ResponseHead] = {}
_NO_HEAD = ResponseHead(500, ())  # WSGIResponse.head before the app committed to one
_HEADS_MAX = 512


def response_head(status: str, headers: list[tuple[str, str]]) -> ResponseHead:
    """The HTTP layer's `ResponseHead` for a WSGI status ("200 OK") and str header pairs.

    Cached by value (most apps send a few fixed header sets); the HTTP layer then checks the
    names and values for what no interface may send (bad tokens, CR, LF, NUL).

    Raises:
        AppProtocolError: the status or the headers are not what PEP 3333 asks for.
    """
    try:
        key = (status, *headers)
        head = _HEADS.get(key)
    except TypeError:  # an unhashable header: _convert reports what is wrong with it
        key = None
        head = None
    if head is None:
        head = _convert(status, headers)
        if key is not None:
            if len(_HEADS) >= _HEADS_MAX:
                _HEADS.clear()
            _HEADS[key] = head
    return head


def _convert(status: str, headers: list[tuple[str, str]]) -> ResponseHead:
    if not isinstance(status, str):
        raise AppProtocolError(f"the status must be a str, not {type(status).__name__}")
    code = status[:3]
    if (
        len(status) < 3
        or not code.isascii()
        or not code.isdigit()
        or (len(status) > 3 and status[3] != " ")
    ):
        raise AppProtocolError(f"malformed status {status!r}: expected '200 OK' style")
    # Any list or tuple of 2-tuples (NamedTuples too): the cache key cannot tell them apart,
    # so accepting them all keeps a cache hit and a miss in agreement.
    if not isinstance(headers, (list, tuple)):
        raise AppProtocolError("the headers must be a list of (name, value) tuples")
    pairs = []
    try:
        reason = status[4:].encode("latin-1")
        for header in headers:
            if not isinstance(header, tuple) or len(header) != 2:
                raise AppProtocolError(f"a header must be a (name, value) tuple, not {header!r}")
            name, value = header
            if not isinstance(name, str):
                raise AppProtocolError(f"invalid response header name {name!r}")
            if not isinstance(value, str):
                raise AppProtocolError(f"the value of header {name!r} is not a str: {value!r}")
            pairs.append((name.encode("latin-1"), value.encode("latin-1")))
    except UnicodeEncodeError:
        raise AppProtocolError("response status and headers must be latin-1 strings") from None
    return ResponseHead(int(code), tuple(pairs), reason)


class WSGIResponse:
    """The app's answer, drained by the worker: status, headers, then body pieces."""

    # Slots, all set in __init__: the worker reads these attributes on every request, and
    # CPython 3.11 only specialises attribute reads that hit the instance (a class-level
    # default goes through the generic lookup, measured ~250 instructions a read).
    __slots__ = (
        "_committed",
        "_context",
        "_exchange",
        "_iterator",
        "_result",
        "body_length",
        "file",
        "head",
        "head_sent",
        "headers",
        "pieces",
        "status",
    )

    def __init__(self, exchange: Exchange) -> None:
        self._exchange = exchange
        self.status = ""
        self.headers: list[tuple[str, str]] = []
        self.head = _NO_HEAD  # status and headers for the HTTP layer, once committed
        self.head_sent = False  # write() already sent the head
        self.pieces: list[bytes] | tuple[bytes, ...] = ()  # body ready to send now
        self.body_length = -1  # total body length when the app gave it whole
        self.file: FileWrapper | None = None  # a real file to send with sendfile
        self._result: Any = None
        self._iterator: Iterator[bytes] | None = None
        self._context: contextvars.Context | None = None
        self._committed = False  # start() returned: the head goes out with the first piece

    # start_response and write are methods rather than closures made per request: one bound
    # method is all a request allocates for them.

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> Callable[[bytes], None]:
        """PEP 3333 start_response: record the status and headers, with its exc_info rules."""
        if exc_info is not None:
            try:
                if self.head_sent or self._committed:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # PEP 3333: break the traceback reference cycle
        elif self.status:
            raise AppProtocolError("start_response() called twice without exc_info")
        if type(status) is not str or type(headers) is not list:
            raise AppProtocolError("start_response() needs a str status and a list of headers")
        self.status = status
        self.headers = headers
        return self.write

    def write(self, data: bytes) -> None:
        """PEP 3333 write(): send the head if needed, then `data`, before returning."""
        if not self.status:
            raise AppProtocolError("write() called before start_response()")
        if not self.head_sent:
            self._exchange.write_head(response_head(self.status, self.headers))
            self.head_sent = True
        self._exchange.write_body(_check_bytes(data))

    def next_piece(self) -> bytes | None:
        """The next body piece from the app's iterable, None at the end."""
        if self._iterator is None or self._context is None:
            return None
        try:
            piece = self._context.run(next, self._iterator)
        except StopIteration:
            self._iterator = None
            return None
        if type(piece) is not bytes:
            piece = _check_bytes(piece)
        return piece

    def close(self) -> None:
        """Call the iterable's close(), always, exactly once (PEP 3333)."""
        result = self._result
        if result is None:
            return
        self._result = None
        self._iterator = None
        close = getattr(result, "close", None)
        if close is not None and self._context is not None:
            self._context.run(close)


def _check_bytes(piece: object) -> bytes:
    if isinstance(piece, bytes):
        return piece
    if isinstance(piece, (bytearray, memoryview)):
        return bytes(piece)
    raise AppProtocolError(f"the app yielded {type(piece).__name__}, not bytes")


class WSGIAdapter:
    """Calls a WSGI app for each request.

    Args:
        app: the WSGI callable.
        root_path: the URL prefix the app is mounted at (SCRIPT_NAME).
        multithread: the value of `wsgi.multithread`.
        error_logger: where `wsgi.errors` writes.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        root_path: str = "",
        multithread: bool = True,
        error_logger: logging.Logger | None = None,
    ) -> None:
        self.app = app
        self.root_path = root_path.rstrip("/")
        self._errors = ErrorStream(error_logger or logging.getLogger("beemo.error"))
        self._base: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": self._errors,
            "wsgi.multithread": multithread,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            # wsgi.input ends at the end of the body, chunked or not: Werkzeug reads a body
            # without Content-Length only when this is set (as gunicorn and mod_wsgi do).
            "wsgi.input_terminated": True,
            "SCRIPT_NAME": self.root_path,
            "SERVER_SOFTWARE": f"beemo/{__version__}",
        }

    def connection(self, server: tuple[str, int], client: tuple[str, int] | None) -> dict[str, Any]:
        """The environ entries shared by every request on one connection, built once when it
        is accepted: the server's and the client's addresses beside the constant keys."""
        base = dict(self._base, SERVER_NAME=server[0], SERVER_PORT=str(server[1]))
        if client is not None:
            base["REMOTE_ADDR"] = client[0]
            base["REMOTE_PORT"] = str(client[1])
        else:
            base["REMOTE_ADDR"] = ""  # a unix socket has no client address
        return base

    def environ(
        self, request: RequestHead, body: InputStream, base: dict[str, Any]
    ) -> dict[str, Any]:
        """The PEP 3333 environ of `request` on the connection whose `connection()` is `base`."""
        environ = base.copy()
        target = request.target
        # bytes.find, not `in`: CPython 3.11's bytes `in` first tries the needle as an int and
        # formats a TypeError it then discards, ~20x the cost of the search (callgrind).
        if target.find(b"?") >= 0:
            path, _, query = target.partition(b"?")
            environ["QUERY_STRING"] = query.decode("latin-1")
        else:
            path = target
            environ["QUERY_STRING"] = ""
        if path[:1] != b"/" and path != b"*":  # absolute-form (RFC 9112 3.2.2)
            path = b"/" + path.split(b"://", 1)[-1].partition(b"/")[2]
        path_info = (unquote_to_bytes(path) if path.find(b"%") >= 0 else path).decode("latin-1")
        root = self.root_path
        if root and (path_info == root or path_info.startswith(root + "/")):
            path_info = path_info[len(root) :]
        environ["REQUEST_METHOD"] = request.method
        environ["PATH_INFO"] = path_info
        environ["RAW_URI"] = target.decode("latin-1")
        environ["SERVER_PROTOCOL"] = _PROTOCOLS[request.http_version]
        environ["wsgi.input"] = body
        keys = _ENVIRON_KEYS
        for name, value in request.headers:
            key = keys.get(name) or _environ_key(name)
            if not key:
                continue
            if key in environ:
                glue = "; " if key == "HTTP_COOKIE" else ","
                environ[key] += glue + value.decode("latin-1")
            else:
                environ[key] = value.decode("latin-1")
        return environ

    def start(self, request: RequestHead, exchange: Exchange, base: dict[str, Any]) -> WSGIResponse:
        """Call the app and run it up to its first body piece.

        Raises:
            Exception: whatever the app raised; the caller answers 500 and logs it.
        """
        response = WSGIResponse(exchange)
        environ = self.environ(request, InputStream(exchange.read_body), base)
        start_response = response.start_response
        context = response._context = contextvars.Context()
        result = response._result = context.run(self.app, environ, start_response)
        if type(result) is list or type(result) is tuple:
            for piece in result:
                if type(piece) is not bytes:
                    result = [_check_bytes(p) for p in result]
                    break
            response.pieces = result
            response._result = None  # a plain list or tuple has no close()
            if not response.head_sent:
                response.body_length = sum(map(len, result))
        elif isinstance(result, FileWrapper) and _has_fileno(result):
            response.file = result  # sent with sendfile; iterated if that is not possible
            response._iterator = iter(result)
        else:
            self._pull_first(response, result)
        if not response.status:
            raise AppProtocolError("the app returned without calling start_response()")
        # Converted once the app committed to a status: start_response may have been
        # called again (with exc_info) until now.
        try:
            head = _HEADS.get((response.status, *response.headers))
        except TypeError:
            head = None
        response.head = head or response_head(response.status, response.headers)
        response._committed = True
        return response

    @staticmethod
    def _pull_first(response: WSGIResponse, result: Iterable[bytes]) -> None:
        """Iterate until the first non-empty piece, so start_response has been called."""
        assert response._context is not None
        response._iterator = response._context.run(iter, result)
        while True:
            piece = response.next_piece()
            if piece is None:
                if not response.head_sent:
                    response.body_length = 0
                return
            if piece:
                response.pieces = (piece,)
                return


def _has_fileno(wrapper: FileWrapper) -> bool:
    try:
        wrapper.fileno()
        wrapper.filelike.tell()
    except (OSError, AttributeError, ValueError):  # io.UnsupportedOperation is both
        return False
    return True
