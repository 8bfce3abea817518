"""Response heads: status and header validation, framing, keep-alive, the Date/Server stamp."""

from __future__ import annotations

import pytest

from beemo.errors import AppProtocolError
from beemo.server.http import response as response_module
from beemo.server.http.response import Framing, render_error, render_head, status_code
from tests.unit.server.http.driver import STAMP

DATE = "Thu, 01 Jan 2026 00:00:00 GMT"


def render(
    status: str = "200 OK",
    headers: list[tuple[str, str]] | None = None,
    *,
    head_request: bool = False,
    http10: bool = False,
    keep_alive: bool = True,
    stamp: str = STAMP,
    body_length: int = -1,
) -> tuple[bytes, Framing, int, bool]:
    data, framing, length, reusable = render_head(
        status,
        headers or [],
        head_request=head_request,
        http10=http10,
        keep_alive=keep_alive,
        stamp=stamp,
        body_length=body_length,
    )
    return data, framing, length, reusable


def lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n\r\n")
    return data[:-4].split(b"\r\n")


# ---- status ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("200 OK", 200),
        ("404 Not Found", 404),
        ("599 Whatever", 599),
        ("200", 200),
        ("204 ", 204),
        ("418 I'm a teapot", 418),
    ],
)
def test_status_code(status: str, code: int) -> None:
    assert status_code(status) == code


@pytest.mark.parametrize(
    "status",
    [
        "",
        "OK",
        "20",
        "20 OK",
        "2000 OK",
        "200OK",
        "099 Too Low",
        "000 Zero",
        "abc OK",
        " 200 OK",
        "-20 OK",
        "2x0 OK",
        b"200 OK",
        200,
        None,
    ],
)
def test_malformed_status(status: object) -> None:
    with pytest.raises(AppProtocolError):
        status_code(status)  # type: ignore[arg-type]
    with pytest.raises(AppProtocolError):
        render(status)  # type: ignore[arg-type]


def test_superscript_digits_in_the_status() -> None:
    with pytest.raises(AppProtocolError):
        status_code("²00 OK")


def test_status_above_599() -> None:
    with pytest.raises(AppProtocolError):
        status_code("600 Custom")


@pytest.mark.parametrize(
    "status", ["200 OK\r\nSet-Cookie: a=b", "200 OK\n", "200 OK\r", "200 OK\r\n\r\n<html>"]
)
def test_cr_or_lf_in_the_status_is_refused(status: str) -> None:
    with pytest.raises(AppProtocolError):
        render(status)
    with pytest.raises(AppProtocolError):  # and refused again: a cached status is no bypass
        render(status)


def test_non_latin1_status_is_refused() -> None:
    with pytest.raises(AppProtocolError):
        render("200 \u20ac")
    assert render("200 \xd6K")[0].startswith(b"HTTP/1.1 200 \xd6K\r\n")


# ---- header names and values ----------------------------------------------------------------


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
        b"X-Bytes",
        None,
        5,
    ],
)
def test_invalid_header_names_are_refused(name: object) -> None:
    with pytest.raises(AppProtocolError):
        render(headers=[(name, "v")])  # type: ignore[list-item]


def test_every_token_character_is_a_valid_name() -> None:
    name = "!#$%&'*+-.^_`|~09azAZ"
    assert f"{name}: v\r\n".encode() in render(headers=[(name, "v")])[0]


@pytest.mark.parametrize(
    "value",
    ["a\r\nSet-Cookie: x=y", "a\nb", "a\rb", "\r\n", "a\r\n\r\nb", "x\r\n\r\nHTTP/1.1 200 OK"],
)
@pytest.mark.parametrize("name", ["X-Custom", "Date", "Server", "Content-Type", "Location"])
def test_cr_or_lf_in_a_header_value_is_refused(name: str, value: str) -> None:
    with pytest.raises(AppProtocolError):
        render(headers=[(name, value)])


@pytest.mark.parametrize("value", ["\u20ac", "\u0100", "\U0001f600"])
def test_non_latin1_values_are_refused(value: str) -> None:
    with pytest.raises(AppProtocolError):
        render(headers=[("X-Custom", value)])


def test_latin1_values_and_tabs_pass() -> None:
    data = render(headers=[("X-A", "caf\xe9"), ("X-B", "a\tb"), ("X-C", "")])[0]
    assert b"X-A: caf\xe9\r\n" in data and b"X-B: a\tb\r\n" in data and b"X-C: \r\n" in data


@pytest.mark.parametrize(
    "header", [("Content-Type", b"text/plain"), ("X-Count", 5), ("Content-Length", 5)]
)
def test_non_str_header_values_are_refused(header: tuple[str, object]) -> None:
    with pytest.raises(AppProtocolError):
        render(headers=[header])  # type: ignore[list-item]


# ---- framing --------------------------------------------------------------------------------


def test_chunked_by_default_for_http11() -> None:
    data, framing, length, reusable = render(headers=[("Content-Type", "text/plain")])
    assert data == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        + STAMP.encode()
        + b"transfer-encoding: chunked\r\n\r\n"
    )
    assert (framing, length, reusable) == (Framing.CHUNKED, -1, True)


def test_app_content_length() -> None:
    data, framing, length, reusable = render(headers=[("Content-Length", "12")])
    assert data == b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n" + STAMP.encode() + b"\r\n"
    assert (framing, length, reusable) == (Framing.LENGTH, 12, True)


def test_body_length_becomes_content_length() -> None:
    data, framing, length, _ = render(body_length=7)
    assert data == b"HTTP/1.1 200 OK\r\n" + STAMP.encode() + b"content-length: 7\r\n\r\n"
    assert (framing, length) == (Framing.LENGTH, 7)
    assert render(body_length=0)[1:3] == (Framing.LENGTH, 0)


def test_app_content_length_must_match_the_whole_body() -> None:
    """A whole body that contradicts the app's Content-Length is refused before anything is
    sent, so the client gets a clean 500 instead of a truncated or overlong response."""
    data, framing, length, _ = render(headers=[("Content-Length", "9")], body_length=9)
    assert (framing, length) == (Framing.LENGTH, 9)
    assert data.lower().count(b"content-length") == 1
    with pytest.raises(AppProtocolError, match="does not match"):
        render(headers=[("Content-Length", "3")], body_length=9)
    # HEAD: the app may declare the length of the body it would have sent.
    _, framing, length, _ = render(
        headers=[("Content-Length", "3")], head_request=True, body_length=0
    )
    assert (framing, length) == (Framing.NONE, 3)


def test_equal_content_lengths_are_accepted_different_ones_refused() -> None:
    assert render(headers=[("Content-Length", "3"), ("content-length", "3")])[2] == 3
    with pytest.raises(AppProtocolError):
        render(headers=[("Content-Length", "3"), ("Content-Length", "4")])


@pytest.mark.parametrize(
    "value", ["", "-1", "abc", " 5", "5 ", "+5", "1.0", "0x10", "\u0665", "\xb2", "1_000"]
)
def test_invalid_content_length_is_refused(value: str) -> None:
    with pytest.raises(AppProtocolError):
        render(headers=[("Content-Length", value)])


@pytest.mark.parametrize("value", ["chunked", "gzip, chunked", "identity"])
def test_app_transfer_encoding_is_dropped(value: str) -> None:
    data, framing, _, _ = render(headers=[("Transfer-Encoding", value)])
    assert data.lower().count(b"transfer-encoding") == 1
    assert b"transfer-encoding: chunked\r\n" in data and value.encode() not in data.replace(
        b"transfer-encoding: chunked", b""
    )
    assert framing is Framing.CHUNKED
    data, framing, _, _ = render(headers=[("Transfer-Encoding", value), ("Content-Length", "2")])
    assert b"transfer-encoding" not in data.lower() and framing is Framing.LENGTH


def test_http10_without_length_is_close_delimited() -> None:
    data, framing, length, reusable = render(http10=True)
    assert data == b"HTTP/1.1 200 OK\r\n" + STAMP.encode() + b"connection: close\r\n\r\n"
    assert (framing, length, reusable) == (Framing.UNTIL_CLOSE, -1, False)


def test_http10_keep_alive_with_a_length() -> None:
    data, framing, _, reusable = render(http10=True, body_length=2)
    assert data.endswith(b"content-length: 2\r\nconnection: keep-alive\r\n\r\n")
    assert (framing, reusable) == (Framing.LENGTH, True)


def test_http10_without_keep_alive() -> None:
    data, _, _, reusable = render(http10=True, keep_alive=False, body_length=2)
    assert data.endswith(b"connection: close\r\n\r\n") and b"keep-alive" not in data
    assert not reusable


@pytest.mark.parametrize("status", ["100 Continue", "101 Switching Protocols", "103 Early Hints"])
def test_an_interim_status_cannot_end_a_response(status: str) -> None:
    """A WSGI app's status is final; a 1xx would leave the client waiting for another."""
    with pytest.raises(AppProtocolError, match="cannot end a response"):
        render(status)


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
@pytest.mark.parametrize("http10", [False, True])
def test_statuses_without_a_body(status: str, http10: bool) -> None:
    data, framing, _, reusable = render(status, http10=http10, body_length=5)
    assert framing is Framing.NONE
    assert b"transfer-encoding" not in data and b"content-length" not in data
    assert reusable is not http10 or b"connection: keep-alive" in data


def test_head_keeps_the_app_headers_and_sends_no_body() -> None:
    data, framing, length, reusable = render(headers=[("Content-Length", "100")], head_request=True)
    assert data == b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n" + STAMP.encode() + b"\r\n"
    assert framing is Framing.NONE and reusable
    data, framing, _, _ = render(head_request=True, body_length=5)
    assert framing is Framing.NONE and b"transfer-encoding" not in data


# ---- keep-alive -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["close", "Close", "CLOSE", "keep-alive, close"])
def test_app_connection_close_closes(value: str) -> None:
    data, _, _, reusable = render(headers=[("Connection", value)], body_length=0)
    assert not reusable
    assert lines(data)[-1] == b"connection: close"
    assert b"Connection:" not in data


def test_app_connection_keep_alive_is_dropped() -> None:
    data, _, _, reusable = render(headers=[("Connection", "keep-alive")], body_length=0)
    assert reusable and b"onnection" not in data


def test_request_without_keep_alive_closes() -> None:
    data, _, _, reusable = render(keep_alive=False, body_length=0)
    assert not reusable and lines(data)[-1] == b"connection: close"


# ---- the Date/Server stamp ------------------------------------------------------------------


def test_the_stamp_follows_the_app_headers() -> None:
    data = render(headers=[("X-A", "1")], body_length=0)[0]
    assert lines(data) == [
        b"HTTP/1.1 200 OK",
        b"X-A: 1",
        f"date: {DATE}".encode(),
        b"server: beemo",
        b"content-length: 0",
    ]


@pytest.mark.parametrize("name", ["Date", "date", "DATE"])
def test_an_app_date_replaces_the_stamp_date(name: str) -> None:
    data = render(headers=[(name, "Mon, 01 Jan 2001 00:00:00 GMT")], body_length=0)[0]
    assert data.lower().count(b"date:") == 1
    assert f"{name}: Mon, 01 Jan 2001 00:00:00 GMT\r\n".encode() in data
    assert b"server: beemo\r\n" in data


def test_an_app_server_replaces_the_stamp_server() -> None:
    data = render(headers=[("Server", "my-app")], body_length=0)[0]
    assert data.lower().count(b"server:") == 1 and b"Server: my-app\r\n" in data
    assert f"date: {DATE}\r\n".encode() in data


def test_an_app_date_and_server_replace_the_whole_stamp() -> None:
    data = render(headers=[("Server", "s"), ("Date", "d")], body_length=0)[0]
    assert lines(data) == [b"HTTP/1.1 200 OK", b"Server: s", b"Date: d", b"content-length: 0"]


# ---- error responses ------------------------------------------------------------------------


def test_render_error() -> None:
    assert render_error(400, "Bad Request: bad chunk", STAMP) == (
        b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: 23\r\nconnection: close\r\n"
        + STAMP.encode()
        + b"\r\nBad Request: bad chunk\n"
    )


@pytest.mark.parametrize("status", [400, 413, 414, 417, 431, 500, 501, 505])
def test_render_error_statuses(status: int) -> None:
    data = render_error(status, "d\xe9j\xe0", STAMP)
    head, body = data.split(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status)
    assert body == "d\xe9j\xe0\n".encode()
    assert b"content-length: %d" % len(body) in head


def test_the_header_name_cache_is_bounded() -> None:
    names = [f"X-Bounded-{i}" for i in range(5000)]  # more than the cache holds
    for start in range(0, len(names), 500):
        batch = [(name, "v") for name in names[start : start + 500]]
        assert render(headers=batch)[0].count(b": v\r\n") == 500
    assert response_module._NAME_CACHE_MAX < len(names)
    assert len(response_module._NAME_CACHE) <= response_module._NAME_CACHE_MAX
    with pytest.raises(AppProtocolError):  # validation still happens after the cache emptied
        render(headers=[("Bad Name", "v")])


# ---- the cache of rendered status+header blocks ---------------------------------------------
# Each test uses header names of its own, so that the first render is a cache miss whatever ran
# before it; the second render of the same values is then a hit.


def test_a_cached_block_renders_the_same_bytes_and_framing() -> None:
    headers = [("X-Cache-Same", "1"), ("Content-Length", "4")]
    first = render(headers=headers)
    assert render(headers=list(headers)) == first  # an equal list: a hit
    assert first == (
        b"HTTP/1.1 200 OK\r\nX-Cache-Same: 1\r\nContent-Length: 4\r\n" + STAMP.encode() + b"\r\n",
        Framing.LENGTH,
        4,
        True,
    )


def test_a_cached_block_still_takes_the_per_response_arguments() -> None:
    """The block caches only the status and app headers: framing, keep-alive and the stamp
    come from the call, so a hit must not replay the previous call's choices."""
    headers = [("X-Cache-Args", "1")]
    assert render(headers=headers)[1] is Framing.CHUNKED
    data, framing, length, reusable = render(headers=headers, http10=True, keep_alive=False)
    assert (framing, length, reusable) == (Framing.UNTIL_CLOSE, -1, False)
    assert data.endswith(b"connection: close\r\n\r\n")
    assert render(headers=headers, body_length=3)[1:3] == (Framing.LENGTH, 3)
    other = "date: Fri, 02 Jan 2026 00:00:00 GMT\r\nserver: beemo\r\n"
    assert b"Fri, 02 Jan 2026" in render(headers=headers, stamp=other)[0]
    assert render(headers=headers, head_request=True)[1] is Framing.NONE


def test_an_app_connection_close_is_cached_with_the_block() -> None:
    headers = [("X-Cache-Close", "1"), ("Connection", "close")]
    for _ in range(2):
        data, _, _, reusable = render(headers=headers, body_length=0)
        assert not reusable and data.endswith(b"connection: close\r\n\r\n")


def test_a_bad_block_is_refused_every_time() -> None:
    headers = [("X-Cache-Bad", "a\r\nb")]
    for _ in range(2):
        with pytest.raises(AppProtocolError):
            render(headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Unhashable", ["v"])],  # a list value
        [["X-Unhashable", "v"]],  # a list instead of a tuple
        [("X-Unhashable", "v"), {"X": "y"}],
    ],
    ids=["list value", "list header", "dict header"],
)
def test_unhashable_headers_are_refused_as_app_errors(headers: list[object]) -> None:
    with pytest.raises(AppProtocolError):
        render(headers=headers)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "headers", [None, {"X-Not-A-List": "1"}, "X-Not-A-List: 1"], ids=["None", "dict", "str"]
)
def test_headers_that_are_not_a_list_are_refused(headers: object) -> None:
    with pytest.raises(AppProtocolError, match="must be a list"):
        render_head("200 OK", headers, False, False, True, STAMP)  # type: ignore[arg-type]


def test_a_tuple_of_headers_renders_like_a_list() -> None:
    """The cache cannot tell a tuple of headers from an equal list, so both are accepted
    (start_response insists on a list for WSGI apps)."""
    as_tuple = render_head("200 OK", (("X-A", "1"),), False, False, True, STAMP)  # type: ignore[arg-type]
    assert as_tuple == render_head("200 OK", [("X-A", "1")], False, False, True, STAMP)


@pytest.mark.parametrize(
    "header",
    [("X-A",), ("X-A", "1", "2"), "X-A: 1", b"X-A", None],
    ids=["1-tuple", "3-tuple", "str", "bytes", "None"],
)
def test_a_list_of_non_pairs_is_refused(header: object) -> None:
    with pytest.raises(AppProtocolError, match="tuple"):
        render(headers=[("X-Fine", "1"), header])  # type: ignore[list-item]


class Pair(tuple[str, str]):
    """A tuple subclass (as a NamedTuple is)."""


@pytest.mark.parametrize("shape", ["tuple subclass", "tuple of headers"])
def test_whether_headers_are_accepted_does_not_depend_on_the_cache(shape: str) -> None:
    """The cache is keyed by value, so equal headers in another shape must get the same
    answer whether or not they hit it: these shapes are accepted, before and after."""
    pair = ("X-Cache-Shape-" + shape.replace(" ", "-"), "1")
    odd: object = [Pair(pair)] if shape == "tuple subclass" else (pair,)
    first = render(headers=odd)  # type: ignore[arg-type]
    assert render(headers=[pair]) == first  # the same values in a plain list: a cache hit
    assert render(headers=odd) == first  # type: ignore[arg-type]


def test_an_unhashable_header_name_is_an_app_error() -> None:
    with pytest.raises(AppProtocolError):
        render(headers=[(["X-Name"], "v")])  # type: ignore[list-item]


def test_an_unhashable_status_is_an_app_error() -> None:
    with pytest.raises(AppProtocolError):
        status_code(["200 OK"])  # type: ignore[arg-type]


def test_the_block_cache_is_bounded_and_still_validates() -> None:
    limit = response_module._BLOCKS_MAX
    for i in range(limit + 10):
        header = (f"X-Fill-{i}", "v")
        assert render(headers=[header])[0].count(b"X-Fill-%d: v\r\n" % i) == 1
        assert len(response_module._BLOCKS) <= limit
    with pytest.raises(AppProtocolError):  # validation still happens after the cache emptied
        render(headers=[("X-Fill-0", "a\nb")])
    assert render(headers=[("X-Fill-0", "v")])[0].count(b"X-Fill-0: v\r\n") == 1


# ---- app Date/Server headers merged with the stamp (also through the cache) ------------------


@pytest.mark.parametrize("own", [("Date", "d"), ("server", "s")])
def test_an_app_stamp_header_is_merged_on_every_render(own: tuple[str, str]) -> None:
    headers = [("X-Merge", own[1]), own]
    stamps = [STAMP, "date: Fri, 02 Jan 2026 00:00:00 GMT\r\nserver: beemo\r\n"]
    for stamp in stamps * 2:  # the second round hits the cache
        data = render(headers=headers, stamp=stamp, body_length=0)[0]
        kept = [
            line
            for line in stamp.split("\r\n")
            if line and not line.startswith(own[0].lower() + ":")
        ]
        assert lines(data) == [
            b"HTTP/1.1 200 OK",
            b"X-Merge: " + own[1].encode(),
            f"{own[0]}: {own[1]}".encode(),
            *map(str.encode, kept),
            b"content-length: 0",
        ]


def test_a_header_that_only_starts_like_a_stamp_field_keeps_the_stamp() -> None:
    data = render(headers=[("X-Date", "d"), ("Server-Timing", "x")], body_length=0)[0]
    assert f"date: {DATE}\r\nserver: beemo\r\n".encode() in data


# ---- app Content-Length against the whole body ----------------------------------------------


@pytest.mark.parametrize(("declared", "body_length"), [("0", 1), ("5", 0), ("5", 4), ("5", 6)])
def test_a_content_length_that_contradicts_the_whole_body_is_refused(
    declared: str, body_length: int
) -> None:
    with pytest.raises(AppProtocolError, match="does not match"):
        render(headers=[("Content-Length", declared)], body_length=body_length)


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
def test_no_body_statuses_do_not_check_the_length(status: str) -> None:
    """304 may carry the Content-Length of the representation (RFC 9110 8.6)."""
    data, framing, length, _ = render(status, [("Content-Length", "7")], body_length=0)
    assert (framing, length) == (Framing.NONE, 7) and b"Content-Length: 7\r\n" in data


def test_head_with_an_app_content_length_and_a_whole_body() -> None:
    """HEAD: the app's Content-Length is what a GET would send; nothing is checked against the
    body, which is not sent, and no content-length of Beemo's own is added."""
    data, framing, length, reusable = render(
        headers=[("Content-Length", "100")], head_request=True, body_length=100
    )
    assert (framing, length, reusable) == (Framing.NONE, 100, True)
    assert data.lower().count(b"content-length") == 1
    _, framing, length, _ = render(
        headers=[("Content-Length", "100")], head_request=True, body_length=3
    )
    assert (framing, length) == (Framing.NONE, 100)
