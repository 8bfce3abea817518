"""The WSGI response head: a PEP 3333 status ("200 OK") and str header pairs become the HTTP
layer's `ResponseHead` (`response_head`), checked on the way for what PEP 3333 asks; the HTTP
layer then refuses what no interface may send (tests/unit/server/http/test_response.py). Each
refusal is checked where it happens and through `render_head`, as a response goes out."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from beemo.adapters import wsgi as wsgi_module
from beemo.adapters.wsgi import WSGIAdapter, WSGIResponse, response_head
from beemo.errors import AppProtocolError
from beemo.server.http.messages import ResponseHead
from beemo.server.http.response import render_head
from tests.unit.adapters.exchange import FakeExchange, request

STAMP = "date: Thu, 01 Jan 2026 00:00:00 GMT\r\nserver: beemo\r\n"
Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def rendered(status: object, headers: object = None) -> bytes:
    """The head's bytes, the way a WSGI response goes out: converted, then rendered."""
    head = response_head(status, [] if headers is None else headers)  # type: ignore[arg-type]
    return render_head(head, False, False, True, STAMP, 0)[0]


def refused(status: object, headers: object = None) -> None:
    """Refused on the way out, whichever of the two steps finds it."""
    with pytest.raises(AppProtocolError):
        rendered(status, headers)


# ---- the status line --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        ("200 OK", 200, b"OK"),
        ("404 Not Found", 404, b"Not Found"),
        ("599 Whatever", 599, b"Whatever"),
        ("200", 200, b""),
        ("204 ", 204, b""),
        ("418 I'm a teapot", 418, b"I'm a teapot"),
        ("200 \xd6K", 200, b"\xd6K"),  # latin-1, as PEP 3333 asks
    ],
)
def test_the_status_becomes_a_code_and_a_reason(status: str, code: int, reason: bytes) -> None:
    assert response_head(status, []) == ResponseHead(code, (), reason)


@pytest.mark.parametrize(
    ("status", "line"),
    [
        ("201 Made", b"HTTP/1.1 201 Made\r\n"),
        ("200 \xd6K", b"HTTP/1.1 200 \xd6K\r\n"),
        ("200", b"HTTP/1.1 200 OK\r\n"),  # no reason: the standard one
        ("404 ", b"HTTP/1.1 404 Not Found\r\n"),
    ],
)
def test_the_app_reason_goes_out(status: str, line: bytes) -> None:
    assert rendered(status).startswith(line)


MALFORMED = [
    "",
    "OK",
    "20",
    "20 OK",
    "2000 OK",
    "200OK",
    "abc OK",
    " 200 OK",
    "-20 OK",
    "2x0 OK",
    "\u00b200 OK",  # superscript two: str.isdigit() says yes
    "\u0662\u0660\u0660 OK",  # Arabic-Indic digits: so does it here
    b"200 OK",
    200,
    None,
    ["200 OK"],  # unhashable
]


@pytest.mark.parametrize("status", MALFORMED, ids=repr)
def test_a_malformed_status_is_refused(status: object) -> None:
    with pytest.raises(AppProtocolError):
        response_head(status, [])  # type: ignore[arg-type]
    refused(status)


@pytest.mark.parametrize(
    "status",
    ["099 Too Low", "000 Zero", "600 Custom", "100 Continue", "101 Switching Protocols", "103 Hi"],
)
def test_a_status_that_cannot_end_a_response_is_refused(status: str) -> None:
    """Well-formed, but not 200-599: a 1xx would leave the client waiting for another."""
    with pytest.raises(AppProtocolError, match="cannot end a response"):
        rendered(status)


@pytest.mark.parametrize(
    "status", ["200 OK\r\nSet-Cookie: a=b", "200 OK\n", "200 OK\r", "200 OK\r\n\r\n<html>"]
)
def test_cr_or_lf_in_the_status_is_refused(status: str) -> None:
    refused(status)
    refused(status)  # and refused again: a cached status is no bypass


@pytest.mark.parametrize("status", ["200 \u20ac", "200 \U0001f600"])
def test_a_status_that_is_not_latin1_is_refused(status: str) -> None:
    with pytest.raises(AppProtocolError, match="latin-1"):
        response_head(status, [])


# ---- header names and values ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "",
        "X Y",
        "X:Y",
        "X\r\nY",
        "X\n",
        "X\r",
        "(x)",
        "X\x00",
        "caf\xe9",
        "X/Y",
        '"X"',
        "X-\u20ac",
        b"X-Bytes",
        None,
        5,
    ],
    ids=repr,
)
def test_invalid_header_names_are_refused(name: object) -> None:
    refused("200 OK", [(name, "v")])


@pytest.mark.parametrize("name", [b"X-Bytes", None, 5])
def test_a_header_name_that_is_not_a_str_is_refused_by_the_adapter(name: object) -> None:
    with pytest.raises(AppProtocolError, match="header name"):
        response_head("200 OK", [(name, "v")])  # type: ignore[list-item]


def test_every_token_character_is_a_valid_name() -> None:
    name = "!#$%&'*+-.^_`|~09azAZ"
    assert f"{name}: v\r\n".encode() in rendered("200 OK", [(name, "v")])


@pytest.mark.parametrize("value", ["a\r\nSet-Cookie: x=y", "a\nb", "a\rb", "a\x00b"])
def test_cr_lf_or_nul_in_a_header_value_is_refused(value: str) -> None:
    refused("200 OK", [("X-Custom", value)])


@pytest.mark.parametrize("value", ["\u20ac", "\u0100", "\U0001f600"])
def test_non_latin1_values_are_refused(value: str) -> None:
    with pytest.raises(AppProtocolError, match="latin-1"):
        response_head("200 OK", [("X-Custom", value)])


def test_latin1_values_and_tabs_pass() -> None:
    head = response_head("200 OK", [("X-A", "caf\xe9"), ("X-B", "a\tb"), ("X-C", "")])
    assert head.headers == ((b"X-A", b"caf\xe9"), (b"X-B", b"a\tb"), (b"X-C", b""))
    data = render_head(head, False, False, True, STAMP)[0]
    assert b"X-A: caf\xe9\r\n" in data and b"X-B: a\tb\r\n" in data and b"X-C: \r\n" in data


@pytest.mark.parametrize(
    "header", [("Content-Type", b"text/plain"), ("X-Count", 5), ("Content-Length", 5)]
)
def test_non_str_header_values_are_refused(header: tuple[str, object]) -> None:
    with pytest.raises(AppProtocolError, match="not a str"):
        response_head("200 OK", [header])  # type: ignore[list-item]


# ---- the shape of the header list -------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [None, {"X-Not-A-List": "1"}, "X-Not-A-List: 1"], ids=["None", "dict", "str"]
)
def test_headers_that_are_not_a_list_are_refused(headers: object) -> None:
    with pytest.raises(AppProtocolError, match="must be a list"):
        response_head("200 OK", headers)  # type: ignore[arg-type]


def test_a_tuple_of_headers_converts_like_a_list() -> None:
    """The cache cannot tell a tuple of headers from an equal list, so both are accepted
    (start_response insists on a list for WSGI apps)."""
    as_tuple = response_head("200 OK", (("X-A", "1"),))  # type: ignore[arg-type]
    assert as_tuple == response_head("200 OK", [("X-A", "1")])
    assert as_tuple == ResponseHead(200, ((b"X-A", b"1"),), b"OK")


@pytest.mark.parametrize(
    "header",
    [("X-A",), ("X-A", "1", "2"), "X-A: 1", b"X-A", None, ["X-A", "1"]],
    ids=["1-tuple", "3-tuple", "str", "bytes", "None", "list"],
)
def test_a_list_of_non_pairs_is_refused(header: object) -> None:
    with pytest.raises(AppProtocolError, match="tuple"):
        response_head("200 OK", [("X-Fine", "1"), header])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Unhashable", ["v"])],  # a list value
        [["X-Unhashable", "v"]],  # a list instead of a tuple
        [("X-Unhashable", "v"), {"X": "y"}],
        [(["X-Name"], "v")],  # a list name
    ],
    ids=["list value", "list header", "dict header", "list name"],
)
def test_unhashable_headers_are_refused_as_app_errors(headers: list[object]) -> None:
    for _ in range(2):
        with pytest.raises(AppProtocolError):
            response_head("200 OK", headers)  # type: ignore[arg-type]


# ---- the cache of converted heads -------------------------------------------------------------


def test_equal_values_give_the_cached_head() -> None:
    headers = [("X-Head-Cache", "1")]
    first = response_head("201 Created", headers)
    assert response_head("201 Created", list(headers)) is first
    assert response_head("202 Accepted", headers) == ResponseHead(202, first.headers, b"Accepted")


class Pair(tuple[str, str]):
    """A tuple subclass (as a NamedTuple is)."""


@pytest.mark.parametrize("shape", ["tuple subclass", "tuple of headers"])
def test_whether_headers_are_accepted_does_not_depend_on_the_cache(shape: str) -> None:
    """The cache is keyed by value, so equal headers in another shape must get the same
    answer whether or not they hit it: these shapes are accepted, before and after."""
    pair = ("X-Head-Shape-" + shape.replace(" ", "-"), "1")
    odd: object = [Pair(pair)] if shape == "tuple subclass" else (pair,)
    first = response_head("200 OK", odd)  # type: ignore[arg-type]
    assert response_head("200 OK", [pair]) == first  # the same values in a plain list: a hit
    assert response_head("200 OK", odd) == first  # type: ignore[arg-type]


class UnhashablePair(tuple[str, str]):
    """A pair that cannot key the cache (a tuple subclass that drops hashing)."""

    __hash__ = None  # type: ignore[assignment]


def test_a_valid_head_that_cannot_key_the_cache_is_converted_every_time() -> None:
    headers = [UnhashablePair(("X-Head-Unhashable", "1"))]
    for _ in range(2):
        head = response_head("200 OK", headers)
        assert head == ResponseHead(200, ((b"X-Head-Unhashable", b"1"),), b"OK")
    assert all(key[1:] != tuple(headers) for key in wsgi_module._HEADS)


def test_a_refused_head_is_not_cached() -> None:
    for _ in range(2):
        with pytest.raises(AppProtocolError):
            response_head("200 OK", [("X-Head-Refused", "\u20ac")])


def test_the_head_cache_is_bounded_and_still_validates() -> None:
    limit = wsgi_module._HEADS_MAX
    for i in range(limit + 10):
        head = response_head("200 OK", [(f"X-Head-Fill-{i}", "v")])
        assert head.headers == ((b"X-Head-Fill-%d" % i, b"v"),)
        assert len(wsgi_module._HEADS) <= limit
    with pytest.raises(AppProtocolError):  # validation still happens after the cache emptied
        response_head("2x0 OK", [("X-Head-Fill-0", "v")])


# ---- through the adapter ----------------------------------------------------------------------


def start(app: Callable[[Environ, StartResponse], Iterable[bytes]]) -> tuple[WSGIResponse, Any]:
    exchange = FakeExchange()
    adapter = WSGIAdapter(app)
    response = adapter.start(request(), exchange, adapter.connection(("h", 80), None))
    return response, exchange


def test_the_response_head_of_an_app() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("X-A", "caf\xe9")])
        return [b"gone"]

    response, exchange = start(app)
    assert response.head == ResponseHead(
        404, ((b"Content-Type", b"text/plain"), (b"X-A", b"caf\xe9")), b"Not Found"
    )
    assert exchange.heads == []  # the worker sends it, with the body


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        ("2x0 OK", []),
        ("200 \u20ac", []),
        ("200 OK", [("X-A", 5)]),
        ("200 OK", [("X-A",)]),
        ("200 OK", [("X-\u20ac", "1")]),
    ],
)
def test_a_bad_head_from_an_app_is_an_app_error(status: str, headers: list[object]) -> None:
    """start_response only checks the types it is given; the head is checked once the app
    committed to it (start() returns), or when write() sends it."""

    def returner(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response(status, headers)
        return [b"body"]

    def writer(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response(status, headers)(b"body")
        return []

    with pytest.raises(AppProtocolError):
        start(returner)
    with pytest.raises(AppProtocolError):
        start(writer)


def test_write_sends_the_converted_head() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("201 Made", [("X-A", "1")])(b"one")
        return []

    response, exchange = start(app)
    assert exchange.heads == [ResponseHead(201, ((b"X-A", b"1"),), b"Made")]
    assert response.head == exchange.heads[0] and response.head_sent


def test_unhashable_headers_are_converted_without_the_cache() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("X-A", "1"), ["X-B", "2"]])  # type: ignore[list-item]
        return [b"body"]

    with pytest.raises(AppProtocolError):  # a list is no header pair, cached or not
        start(app)
