"""Response heads: status and header validation, framing, keep-alive, the Date/Server stamp."""

from __future__ import annotations

import pytest

from beemo.errors import AppProtocolError
from beemo.server.http import response as response_module
from beemo.server.http.response import Framing, render_error, render_head, status_code
from tests.unit.server.http.driver import STAMP

DATE = "Thu, 01 Jan 2026 00:00:00 GMT"


def render(status: str = "200 OK", headers: list[tuple[str, str]] | None = None, *,
           head_request: bool = False, http10: bool = False, keep_alive: bool = True,
           stamp: str = STAMP, body_length: int = -1) -> tuple[bytes, Framing, int, bool]:
    data, framing, length, reusable = render_head(
        status, headers or [], head_request=head_request, http10=http10, keep_alive=keep_alive,
        stamp=stamp, body_length=body_length)
    return data, framing, length, reusable


def lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n\r\n")
    return data[:-4].split(b"\r\n")


# ---- status ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "code"), [
    ("200 OK", 200), ("404 Not Found", 404), ("599 Whatever", 599),
    ("200", 200), ("204 ", 204), ("418 I'm a teapot", 418),
])
def test_status_code(status: str, code: int) -> None:
    assert status_code(status) == code


@pytest.mark.parametrize("status", [
    "", "OK", "20", "20 OK", "2000 OK", "200OK", "099 Too Low", "000 Zero", "abc OK",
    " 200 OK", "-20 OK", "2x0 OK", b"200 OK", 200, None,
])
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


@pytest.mark.parametrize("status", ["200 OK\r\nSet-Cookie: a=b", "200 OK\n", "200 OK\r",
                                    "200 OK\r\n\r\n<html>"])
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


@pytest.mark.parametrize("name", ["", "X Y", "X:Y", "X\r\nY", "X\n", "X\r", "(x)", "X\x00",
                                  "caf\xe9", "X/Y", '"X"', b"X-Bytes", None, 5])
def test_invalid_header_names_are_refused(name: object) -> None:
    with pytest.raises(AppProtocolError):
        render(headers=[(name, "v")])  # type: ignore[list-item]


def test_every_token_character_is_a_valid_name() -> None:
    name = "!#$%&'*+-.^_`|~09azAZ"
    assert f"{name}: v\r\n".encode() in render(headers=[(name, "v")])[0]


@pytest.mark.parametrize("value", ["a\r\nSet-Cookie: x=y", "a\nb", "a\rb", "\r\n", "a\r\n\r\nb",
                                   "x\r\n\r\nHTTP/1.1 200 OK"])
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


@pytest.mark.parametrize("header", [("Content-Type", b"text/plain"), ("X-Count", 5),
                                    ("Content-Length", 5)])
def test_non_str_header_values_are_refused(header: tuple[str, object]) -> None:
    with pytest.raises(AppProtocolError):
        render(headers=[header])  # type: ignore[list-item]


# ---- framing --------------------------------------------------------------------------------


def test_chunked_by_default_for_http11() -> None:
    data, framing, length, reusable = render(headers=[("Content-Type", "text/plain")])
    assert data == (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + STAMP.encode()
                    + b"transfer-encoding: chunked\r\n\r\n")
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
    _, framing, length, _ = render(headers=[("Content-Length", "3")], head_request=True,
                                   body_length=0)
    assert (framing, length) == (Framing.NONE, 3)


def test_equal_content_lengths_are_accepted_different_ones_refused() -> None:
    assert render(headers=[("Content-Length", "3"), ("content-length", "3")])[2] == 3
    with pytest.raises(AppProtocolError):
        render(headers=[("Content-Length", "3"), ("Content-Length", "4")])


@pytest.mark.parametrize("value", ["", "-1", "abc", " 5", "5 ", "+5", "1.0", "0x10", "\u0665",
                                   "\xb2", "1_000"])
def test_invalid_content_length_is_refused(value: str) -> None:
    with pytest.raises(AppProtocolError):
        render(headers=[("Content-Length", value)])


@pytest.mark.parametrize("value", ["chunked", "gzip, chunked", "identity"])
def test_app_transfer_encoding_is_dropped(value: str) -> None:
    data, framing, _, _ = render(headers=[("Transfer-Encoding", value)])
    assert data.lower().count(b"transfer-encoding") == 1
    assert b"transfer-encoding: chunked\r\n" in data and value.encode() not in data.replace(
        b"transfer-encoding: chunked", b"")
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
    data, framing, length, reusable = render(headers=[("Content-Length", "100")],
                                             head_request=True)
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
    assert lines(data) == [b"HTTP/1.1 200 OK", b"X-A: 1", f"date: {DATE}".encode(),
                           b"server: beemo", b"content-length: 0"]


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
        b"content-length: 23\r\nconnection: close\r\n" + STAMP.encode()
        + b"\r\nBad Request: bad chunk\n")


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
        batch = [(name, "v") for name in names[start:start + 500]]
        assert render(headers=batch)[0].count(b": v\r\n") == 500
    assert response_module._NAME_CACHE_MAX < len(names)
    assert len(response_module._NAME_CACHE) <= response_module._NAME_CACHE_MAX
    with pytest.raises(AppProtocolError):  # validation still happens after the cache emptied
        render(headers=[("Bad Name", "v")])
