"""The WSGI adapter (PEP 3333) driven through a typed fake Exchange."""

from __future__ import annotations

import contextvars
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.validate import validator

import pytest

from beemo.adapters.wsgi import WSGIAdapter, WSGIResponse
from beemo.adapters.wsgi_streams import FileWrapper, InputStream
from beemo.errors import AppProtocolError
from beemo.server.http.messages import RequestHead, ResponseHead
from tests.unit.adapters.exchange import FakeExchange, request

SERVER = ("127.0.0.1", 8000)
CLIENT = ("10.0.0.7", 54321)
Environ = dict[str, Any]
StartResponse = Callable[..., Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]


def start(
    app: App, req: RequestHead | None = None, exchange: FakeExchange | None = None, **options: Any
) -> tuple[WSGIResponse, FakeExchange]:
    exchange = exchange or FakeExchange()
    adapter = WSGIAdapter(app, **options)
    response = adapter.start(req or request(), exchange, adapter.connection(SERVER, CLIENT))
    return response, exchange


def drain(response: WSGIResponse) -> bytes:
    """What the worker does after start(): send the ready pieces, pull the rest, close."""
    out = list(response.pieces)
    while (piece := response.next_piece()) is not None:
        out.append(piece)
    response.close()
    return b"".join(out)


def environ_of(
    req: RequestHead, root_path: str = "", client: tuple[str, int] | None = CLIENT
) -> Environ:
    adapter = WSGIAdapter(hello, root_path=root_path)
    return adapter.environ(
        req, InputStream(FakeExchange().read_body), adapter.connection(SERVER, client)
    )


def hello(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


# ---- environ --------------------------------------------------------------------------------

REQUIRED_STR = [
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
]


def test_every_required_environ_key_with_its_type() -> None:
    environ = environ_of(
        request(
            b"/p?q=1",
            "POST",
            headers=[
                (b"Host", b"example.com"),
                (b"Content-Type", b"text/plain"),
                (b"Content-Length", b"3"),
            ],
        )
    )
    for key in REQUIRED_STR:
        assert type(environ[key]) is str, key
    assert environ["wsgi.version"] == (1, 0) and type(environ["wsgi.version"]) is tuple
    assert environ["wsgi.url_scheme"] == "http"
    for key in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once"):
        assert type(environ[key]) is bool, key
    for method in ("read", "readline", "readlines", "__iter__"):
        assert callable(getattr(environ["wsgi.input"], method))
    for method in ("write", "writelines", "flush"):
        assert callable(getattr(environ["wsgi.errors"], method))
    assert environ["wsgi.file_wrapper"] is FileWrapper
    assert (environ["REQUEST_METHOD"], environ["SERVER_PROTOCOL"]) == ("POST", "HTTP/1.1")
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("127.0.0.1", "8000")
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("10.0.0.7", "54321")
    assert (environ["CONTENT_TYPE"], environ["CONTENT_LENGTH"]) == ("text/plain", "3")
    assert all(type(value) is str for key, value in environ.items() if "." not in key)


def test_http10_and_no_client_address() -> None:
    environ = environ_of(request(version="1.0", headers=[]), client=None)
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert environ["REMOTE_ADDR"] == "" and "REMOTE_PORT" not in environ
    assert "CONTENT_TYPE" not in environ and "CONTENT_LENGTH" not in environ


def test_environ_flags() -> None:
    adapter = WSGIAdapter(hello, multithread=False)
    environ = adapter.environ(
        request(), InputStream(FakeExchange().read_body), adapter.connection(SERVER, CLIENT)
    )
    assert environ["wsgi.multithread"] is False
    assert environ["wsgi.multiprocess"] is False and environ["wsgi.run_once"] is False


@pytest.mark.parametrize(
    ("root", "target", "script", "path", "query"),
    [
        ("", b"/", "", "/", ""),
        ("", b"/a/b?x=1&y=%20", "", "/a/b", "x=1&y=%20"),
        ("", b"/a%20b", "", "/a b", ""),
        ("", b"/caf%C3%A9", "", "/caf\xc3\xa9", ""),  # PEP 3333: bytes decoded as latin-1
        ("", b"/caf\xc3\xa9", "", "/caf\xc3\xa9", ""),
        ("", b"/a%2Fb%3f", "", "/a/b?", ""),
        ("", b"/bad%zz%", "", "/bad%zz%", ""),
        ("", b"/?", "", "/", ""),
        ("", b"/a?b?c", "", "/a", "b?c"),
        ("", b"/a?caf%C3%A9", "", "/a", "caf%C3%A9"),  # the query string stays encoded
        ("", b"*", "", "*", ""),
        ("", b"http://example.com/x?y=1", "", "/x", "y=1"),
        ("", b"http://example.com", "", "/", ""),
        ("/app", b"/app/x", "/app", "/x", ""),
        ("/app", b"/app", "/app", "", ""),
        ("/app", b"/app/", "/app", "/", ""),
        ("/app/", b"/app/x?q", "/app", "/x", "q"),
        ("/app", b"/app%2Fx", "/app", "/x", ""),
        ("/app", b"/apple", "/app", "/apple", ""),  # not under the prefix: nothing stripped
    ],
)
def test_script_name_path_info_and_query(
    root: str, target: bytes, script: str, path: str, query: str
) -> None:
    environ = environ_of(request(target), root_path=root)
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"], environ["QUERY_STRING"]) == (
        script,
        path,
        query,
    )
    assert environ["RAW_URI"] == target.decode("latin-1")


def test_headers_become_http_keys() -> None:
    environ = environ_of(
        request(
            headers=[
                (b"Host", b"example.com"),
                (b"x-custom-thing", b"caf\xe9"),
                (b"ACCEPT", b"*/*"),
                (b"X-Multi", b"1"),
                (b"x-multi", b"2"),
                (b"X-Multi", b"3"),
                (b"Cookie", b"a=1"),
                (b"cookie", b"b=2"),
                (b"Content-Type", b"text/plain"),
                (b"Content-Length", b"3"),
            ]
        )
    )
    assert environ["HTTP_HOST"] == "example.com"
    assert environ["HTTP_X_CUSTOM_THING"] == "caf\xe9"
    assert environ["HTTP_ACCEPT"] == "*/*"
    assert environ["HTTP_X_MULTI"] == "1,2,3"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert environ["CONTENT_TYPE"] == "text/plain" and environ["CONTENT_LENGTH"] == "3"
    assert "HTTP_CONTENT_TYPE" not in environ and "HTTP_CONTENT_LENGTH" not in environ


def test_headers_with_underscores_are_dropped() -> None:
    """ "X_Forwarded_For" would be indistinguishable from "X-Forwarded-For" (a spoof)."""
    environ = environ_of(
        request(
            headers=[
                (b"Host", b"example.com"),
                (b"X_Forwarded_For", b"6.6.6.6"),
                (b"X-Forwarded-For", b"1.2.3.4"),
                (b"Content_Length", b"999"),
                (b"Content_Type", b"evil"),
            ]
        )
    )
    assert environ["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"
    assert "CONTENT_LENGTH" not in environ and "CONTENT_TYPE" not in environ
    assert {key for key in environ if key.startswith("HTTP_")} == {
        "HTTP_HOST",
        "HTTP_X_FORWARDED_FOR",
    }


def test_the_environ_key_cache_is_bounded() -> None:
    headers = [(b"Host", b"h")] + [(b"X-Many-%d" % i, b"%d" % i) for i in range(5000)]
    environ = environ_of(request(headers=headers))
    assert environ["HTTP_X_MANY_0"] == "0" and environ["HTTP_X_MANY_4999"] == "4999"
    assert sum(key.startswith("HTTP_X_MANY_") for key in environ) == 5000


def test_a_header_with_an_underscore_is_dropped_every_time() -> None:
    """The second time, the name's cached key is "": it must still be dropped."""
    adapter = WSGIAdapter(hello)
    base = adapter.connection(SERVER, CLIENT)
    for _ in range(2):
        environ = adapter.environ(
            request(headers=[(b"Host", b"h"), (b"X_Twice", b"1"), (b"X_Twice", b"2")]),
            InputStream(FakeExchange().read_body),
            base,
        )
        assert not [key for key in environ if "TWICE" in key]


def test_the_connection_entries() -> None:
    adapter = WSGIAdapter(hello)
    tcp = adapter.connection(("0.0.0.0", 80), ("192.0.2.1", 40000))
    assert (tcp["SERVER_NAME"], tcp["SERVER_PORT"]) == ("0.0.0.0", "80")
    assert (tcp["REMOTE_ADDR"], tcp["REMOTE_PORT"]) == ("192.0.2.1", "40000")
    unix = adapter.connection(("/run/beemo.sock", 0), None)  # a unix socket: no client
    assert unix["REMOTE_ADDR"] == "" and "REMOTE_PORT" not in unix
    assert unix["SERVER_NAME"] == "/run/beemo.sock"
    assert tcp["REMOTE_PORT"] == "40000"  # each connection has its own entries
    assert tcp["wsgi.errors"] is unix["wsgi.errors"]  # one stream serves every request


def test_the_connection_entries_are_not_changed_by_requests() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        environ["REMOTE_ADDR"] = "spoofed by middleware"
        start_response("200 OK", [])
        return [environ["PATH_INFO"].encode()]

    adapter = WSGIAdapter(app)
    base = adapter.connection(SERVER, None)
    before = dict(base)
    first = adapter.start(
        request(b"/one?q", headers=[(b"Host", b"h"), (b"X-A", b"1")]), FakeExchange(), base
    )
    second = adapter.environ(request(b"/two"), InputStream(FakeExchange().read_body), base)
    assert base == before
    assert drain(first) == b"/one"
    assert second["REMOTE_ADDR"] == "" and "HTTP_X_A" not in second
    assert second["QUERY_STRING"] == "" and second["PATH_INFO"] == "/two"


def test_each_request_gets_its_own_environ() -> None:
    seen: list[Environ] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(environ)
        environ["HTTP_X_ADDED"] = "by the app"
        start_response("200 OK", [])
        return []

    adapter = WSGIAdapter(app)
    for _ in range(2):
        adapter.start(request(), FakeExchange(), adapter.connection(SERVER, CLIENT))
    assert seen[0] is not seen[1]
    assert len(seen) == 2


# ---- wsgi.input through the adapter ---------------------------------------------------------


def test_the_body_is_read_only_when_the_app_asks() -> None:
    response, exchange = start(hello, request(method="POST"), FakeExchange(b"ignored"))
    assert drain(response) == b"hello"
    assert exchange.reads == 0


def test_the_app_reads_a_body_delivered_in_odd_pieces() -> None:
    def echo(environ: Environ, start_response: StartResponse) -> list[bytes]:
        body = environ["wsgi.input"]
        first = body.readline()
        some = body.read(3)
        rest = b"".join(body)
        start_response("200 OK", [])
        return [first, b"|", some, b"|", rest]

    exchange = FakeExchange(b"li", b"ne one\nab", b"c", b"de\nf", b"g")
    response, _ = start(echo, request(method="POST"), exchange)
    assert drain(response) == b"line one\n|abc|de\nfg"


# ---- start_response -------------------------------------------------------------------------


def test_start_response_returns_write_and_sets_status_and_headers() -> None:
    writes = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        writes.append(start_response("201 Created", [("X-A", "1")]))
        return [b"a", b"bc"]

    response, exchange = start(app)
    assert callable(writes[0])
    assert (response.status, response.headers) == ("201 Created", [("X-A", "1")])
    assert response.pieces == [b"a", b"bc"] and response.body_length == 3
    assert not response.head_sent and exchange.heads == []


def test_start_response_twice_without_exc_info_raises() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        start_response("200 OK", [])
        return []

    with pytest.raises(AppProtocolError):
        start(app)


def test_exc_info_replaces_the_head_before_it_is_sent() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("X-Ok", "1")])
        try:
            raise ValueError("boom")
        except ValueError:
            start_response("500 Internal Server Error", [("X-Error", "1")], sys.exc_info())
        return [b"error page"]

    response, _ = start(app)
    assert response.status == "500 Internal Server Error"
    assert response.headers == [("X-Error", "1")]
    assert drain(response) == b"error page"


def test_exc_info_reraises_once_write_sent_the_head() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        write = start_response("200 OK", [])
        write(b"partial")
        try:
            raise ValueError("boom")
        except ValueError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        return [b"never"]

    exchange = FakeExchange()
    with pytest.raises(ValueError, match="boom"):
        start(app, exchange=exchange)
    assert exchange.heads == [ResponseHead(200, (), b"OK")] and exchange.written == [b"partial"]


def test_exc_info_reraises_once_the_first_piece_went_out() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"first"  # start() returns here and the worker sends the head with this piece
        try:
            raise ValueError("boom")
        except ValueError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        yield b"error page"

    response, _ = start(app)
    assert response.pieces == (b"first",)
    with pytest.raises(ValueError, match="boom"):
        response.next_piece()


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (b"200 OK", []),
        (200, []),
        ("200 OK", ()),
        ("200 OK", None),
        ("200 OK", {"X": "y"}),
    ],
)
def test_start_response_type_checks(status: object, headers: object) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response(status, headers)
        return []

    with pytest.raises(AppProtocolError):
        start(app)


@pytest.mark.parametrize("result", [[], [b"x"], iter([b"x"]), iter([])])
def test_an_app_that_never_calls_start_response(result: Iterable[bytes]) -> None:
    with pytest.raises(AppProtocolError):
        start(lambda environ, start_response: result)


def test_app_exceptions_propagate() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        raise KeyError("from the app")

    with pytest.raises(KeyError):
        start(app)


# ---- write() --------------------------------------------------------------------------------


def test_write_sends_the_head_then_the_body() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        write = start_response("200 OK", [("X-A", "1")])
        write(b"one")
        write(bytearray(b"two"))
        write(memoryview(b"three"))
        return [b"four"]

    response, exchange = start(app)
    assert exchange.heads == [ResponseHead(200, ((b"X-A", b"1"),), b"OK")]
    assert exchange.written == [b"one", b"two", b"three"]
    assert all(type(piece) is bytes for piece in exchange.written)
    assert response.head_sent and response.body_length == -1
    assert drain(response) == b"four"


def test_an_empty_status_counts_as_no_start_response() -> None:
    def writer(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("", [])(b"x")
        return []

    def returner(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("", [])
        return []

    for app in (writer, returner):
        with pytest.raises(AppProtocolError):
            start(app)


def test_a_generator_after_write_keeps_an_unknown_length() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])(b"all of it")
        yield b""

    response, exchange = start(app)
    assert exchange.written == [b"all of it"]
    assert response.head_sent and response.body_length == -1 and response.pieces == ()


def test_write_refuses_str() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])("text")
        return []

    with pytest.raises(AppProtocolError):
        start(app)


# ---- the returned iterable ------------------------------------------------------------------


@pytest.mark.parametrize(
    "result", [[b"ab", b"", b"cde"], (b"ab", b"cde"), [bytearray(b"ab"), memoryview(b"cde")]]
)
def test_a_sequence_gets_its_body_length(result: Iterable[bytes]) -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])
        return result

    response, _ = start(app)
    assert response.body_length == 5
    assert all(type(piece) is bytes for piece in response.pieces)
    assert drain(response) == b"abcde"


def test_a_generator_whose_first_pieces_are_empty() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        yield b""
        start_response("200 OK", [])  # late, but before the first byte of body: allowed
        yield b""
        yield b"x"
        yield b""
        yield b"y"

    response, _ = start(app)
    assert response.status == "200 OK"
    assert response.pieces == (b"x",) and response.body_length == -1
    assert response.next_piece() == b""
    assert response.next_piece() == b"y"
    assert response.next_piece() is None
    assert response.next_piece() is None


def test_a_generator_with_no_body_gets_length_zero() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("204 No Content", [])
        yield b""

    response, _ = start(app)
    assert response.body_length == 0 and response.pieces == ()
    assert response.next_piece() is None


@pytest.mark.parametrize("piece", ["text", 5, None])
def test_non_bytes_pieces_are_refused(piece: object) -> None:
    def listing(environ: Environ, start_response: StartResponse) -> list[object]:
        start_response("200 OK", [])
        return [b"ok", piece]

    def generator(environ: Environ, start_response: StartResponse) -> Iterator[object]:
        start_response("200 OK", [])
        yield b"ok"
        yield piece

    with pytest.raises(AppProtocolError):
        start(listing)  # type: ignore[arg-type]
    response, _ = start(generator)  # type: ignore[arg-type]
    with pytest.raises(AppProtocolError):
        response.next_piece()


class Closing:
    """An iterable with close(), as PEP 3333 requires the server to call."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.pieces)

    def close(self) -> None:
        self.closed += 1


@pytest.mark.parametrize("pieces", [[b"a", b"b"], [], [b"", b""]])
def test_close_is_called_once(pieces: list[bytes]) -> None:
    result = Closing(pieces)

    def app(environ: Environ, start_response: StartResponse) -> Closing:
        start_response("200 OK", [])
        return result

    response, _ = start(app)
    assert drain(response) == b"".join(pieces)
    response.close()
    assert result.closed == 1


def test_close_is_called_when_the_body_is_abandoned() -> None:
    result = Closing([b"a", b"b", b"c"])

    def app(environ: Environ, start_response: StartResponse) -> Closing:
        start_response("200 OK", [])
        return result

    response, _ = start(app)
    response.close()  # the client went away after the first piece
    assert result.closed == 1
    assert response.next_piece() is None


# ---- contextvars ----------------------------------------------------------------------------

REQUEST_ID: contextvars.ContextVar[int] = contextvars.ContextVar("REQUEST_ID")


def test_each_request_runs_in_a_fresh_context() -> None:
    seen: list[int | None] = []
    counter = iter(range(1, 100))

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        seen.append(REQUEST_ID.get(None))
        REQUEST_ID.set(next(counter))
        start_response("200 OK", [])
        yield b"a"
        seen.append(REQUEST_ID.get(None))  # the same request's context, on next()
        yield b"b"

    adapter = WSGIAdapter(app)
    first = adapter.start(request(), FakeExchange(), adapter.connection(SERVER, CLIENT))
    second = adapter.start(request(), FakeExchange(), adapter.connection(SERVER, CLIENT))
    assert drain(second) == b"ab"
    assert drain(first) == b"ab"
    assert seen == [None, None, 2, 1]
    assert REQUEST_ID.get(None) is None  # nothing leaked into the worker's own context


def test_close_runs_in_the_request_context() -> None:
    seen: list[int | None] = []

    class Result(Closing):
        def close(self) -> None:
            seen.append(REQUEST_ID.get(None))

    def app(environ: Environ, start_response: StartResponse) -> Result:
        REQUEST_ID.set(42)
        start_response("200 OK", [])
        return Result([b"x", b"y"])

    response, _ = start(app)
    drain(response)
    assert seen == [42]


# ---- wsgiref.validate -----------------------------------------------------------------------


def validated_hello(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def validated_reader(environ: Environ, start_response: StartResponse) -> list[bytes]:
    body = environ["wsgi.input"]
    first = body.readline()
    part = body.read(2)
    lines = body.readlines()
    environ["wsgi.errors"].write("a log line\n")
    environ["wsgi.errors"].flush()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [first, part, *lines]


def validated_generator(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"one"
    yield b"two"


def validated_writer(environ: Environ, start_response: StartResponse) -> list[bytes]:
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written")
    return [b"returned"]


def validated_error(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        start_response(
            "500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info()
        )
    return [b"sorry"]


@pytest.mark.parametrize(
    ("app", "body"),
    [
        (validated_hello, b"hello"),
        (validated_reader, b"line 1\nline 2\nline 3"),
        (validated_generator, b"onetwo"),
        (validated_writer, b"returned"),
        (validated_error, b"sorry"),
    ],
)
@pytest.mark.parametrize("root_path", ["", "/mount"])
def test_apps_under_wsgiref_validator(app: App, body: bytes, root_path: str) -> None:
    req = request(
        b"/mount/path?q=1",
        "POST",
        headers=[
            (b"Host", b"example.com"),
            (b"Content-Type", b"text/plain"),
            (b"Content-Length", b"21"),
        ],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # wsgiref.validate warns about lesser violations
        response, _ = start(
            validator(app), req, FakeExchange(b"line 1\nli", b"ne 2\nline 3"), root_path=root_path
        )
        assert drain(response) == body
