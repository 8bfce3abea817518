"""Response heads: status and header validation, framing, keep-alive, the Date/Server stamp,
and the trailer block of a chunked body.

The head comes in as the HTTP layer takes it from every adapter: an int status, (name, value)
byte pairs and a byte reason phrase. How a WSGI "200 OK" status and str headers become one is
the adapter's business (tests/unit/adapters/test_wsgi_heads.py).
"""

from __future__ import annotations

from http import HTTPStatus

import pytest

from beemo.errors import AppProtocolError
from beemo.server.http import response as response_module
from beemo.server.http.messages import ResponseHead
from beemo.server.http.response import Framing, render_error, render_head, render_trailers
from tests.unit.server.http.driver import STAMP

DATE = "Thu, 01 Jan 2026 00:00:00 GMT"


def render(
    status: object = 200,
    headers: object = (),
    *,
    reason: object = b"",
    head_request: bool = False,
    http10: bool = False,
    keep_alive: bool = True,
    stamp: str = STAMP,
    body_length: int = -1,
) -> tuple[bytes, Framing, int, bool]:
    """`render_head` of ResponseHead(status, headers, reason); a list of headers is passed
    as the tuple a ResponseHead holds (other shapes are passed as they are)."""
    if type(headers) is list:
        headers = tuple(headers)
    data, framing, length, reusable = render_head(
        ResponseHead(status, headers, reason),  # type: ignore[arg-type]
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


# ---- status and reason phrase ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (200, b"HTTP/1.1 200 OK"),
        (404, b"HTTP/1.1 404 Not Found"),
        (418, b"HTTP/1.1 418 I'm a Teapot"),
        (204, b"HTTP/1.1 204 No Content"),
        (599, b"HTTP/1.1 599 "),  # no standard phrase: empty (RFC 9112 4 keeps the space)
    ],
)
def test_an_empty_reason_is_the_standard_phrase(status: int, line: bytes) -> None:
    assert lines(render(status, body_length=0)[0])[0] == line


@pytest.mark.parametrize(
    ("reason", "line"),
    [
        (b"Fine", b"HTTP/1.1 200 Fine"),
        (b"\xd6K", b"HTTP/1.1 200 \xd6K"),  # obs-text (RFC 9112 4): any byte but CR, LF, NUL
        (b"a\tb c", b"HTTP/1.1 200 a\tb c"),
    ],
)
def test_a_reason_replaces_the_standard_phrase(reason: bytes, line: bytes) -> None:
    assert lines(render(reason=reason, body_length=0)[0])[0] == line


@pytest.mark.parametrize(
    "status", [200, 201, 299, 301, 404, 500, 599, HTTPStatus.OK, HTTPStatus.NOT_FOUND]
)
def test_every_final_status_is_accepted(status: int) -> None:
    data = render(status, body_length=0)[0]
    assert data.startswith(b"HTTP/1.1 %d " % status)


@pytest.mark.parametrize("status", [-200, 0, 1, 99, 100, 101, 103, 199, 600, 999, 2000])
def test_a_status_outside_200_to_599_is_refused(status: int) -> None:
    """RFC 9110 15: codes are 100-599, and a 1xx is never a final response."""
    with pytest.raises(AppProtocolError, match="cannot end a response"):
        render(status)


@pytest.mark.parametrize("status", ["200", b"200", "200 OK", 200.5, None, True])
def test_a_status_that_is_not_an_int_is_refused(status: object) -> None:
    with pytest.raises(AppProtocolError):
        render(status)


@pytest.mark.parametrize("status", [100, 101, 103])
def test_an_interim_status_cannot_end_a_response(status: int) -> None:
    """A response's status is final; a 1xx would leave the client waiting for another."""
    with pytest.raises(AppProtocolError, match="cannot end a response"):
        render(status)


@pytest.mark.parametrize(
    "reason",
    [b"OK\r\nSet-Cookie: a=b", b"OK\n", b"OK\r", b"OK\r\n\r\n<html>", b"O\x00K", b"\r\n"],
)
def test_cr_lf_or_nul_in_the_reason_is_refused(reason: bytes) -> None:
    with pytest.raises(AppProtocolError):
        render(reason=reason)
    with pytest.raises(AppProtocolError):  # and refused again: a cached head is no bypass
        render(reason=reason)


@pytest.mark.parametrize("reason", ["OK", None, 5, bytearray(b"OK")])
def test_a_reason_that_is_not_bytes_is_refused(reason: object) -> None:
    with pytest.raises(AppProtocolError, match="reason"):
        render(reason=reason)


def test_an_unhashable_status_is_an_app_error() -> None:
    with pytest.raises(AppProtocolError):
        render([200])


# ---- header names and values ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        b"",
        b"X Y",
        b"X:Y",
        b"X\r\nY",
        b"X\n",
        b"X\r",
        b"(x)",
        b"X\x00",
        b"caf\xe9",
        b"X/Y",
        b'"X"',
        b"X\t",
        "X-Str",
        bytearray(b"X-Bytearray"),
        None,
        5,
    ],
)
def test_invalid_header_names_are_refused(name: object) -> None:
    with pytest.raises(AppProtocolError):
        render(headers=[(name, b"v")])


def test_every_token_character_is_a_valid_name() -> None:
    name = b"!#$%&'*+-.^_`|~09azAZ"
    assert name + b": v\r\n" in render(headers=[(name, b"v")])[0]


@pytest.mark.parametrize(
    "value",
    [
        b"a\r\nSet-Cookie: x=y",
        b"a\nb",
        b"a\rb",
        b"\r\n",
        b"a\r\n\r\nb",
        b"x\r\n\r\nHTTP/1.1 200 OK",
    ],
)
@pytest.mark.parametrize("name", [b"X-Custom", b"Date", b"Server", b"Content-Type", b"Location"])
def test_cr_or_lf_in_a_header_value_is_refused(name: bytes, value: bytes) -> None:
    with pytest.raises(AppProtocolError):
        render(headers=[(name, value)])


@pytest.mark.parametrize("value", [b"a\x00b", b"\x00"])
def test_nul_in_a_header_value_is_refused(value: bytes) -> None:
    with pytest.raises(AppProtocolError, match="NUL"):
        render(headers=[(b"X-Nul", value)])


def test_obs_text_values_and_tabs_pass() -> None:
    data = render(headers=[(b"X-A", b"caf\xe9"), (b"X-B", b"a\tb"), (b"X-C", b"")])[0]
    assert b"X-A: caf\xe9\r\n" in data and b"X-B: a\tb\r\n" in data and b"X-C: \r\n" in data


@pytest.mark.parametrize(
    "header",
    [
        (b"Content-Type", "text/plain"),
        (b"X-Count", 5),
        (b"X-None", None),
        (b"X-Bytearray", bytearray(b"v")),
        (b"Content-Length", 5),
        (b"Content-Length", "5"),
    ],
)
def test_header_values_that_are_not_bytes_are_refused(header: tuple[bytes, object]) -> None:
    with pytest.raises(AppProtocolError, match="not bytes"):
        render(headers=[header])


# ---- framing --------------------------------------------------------------------------------


def test_chunked_by_default_for_http11() -> None:
    data, framing, length, reusable = render(headers=[(b"Content-Type", b"text/plain")])
    assert data == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        + STAMP.encode()
        + b"transfer-encoding: chunked\r\n\r\n"
    )
    assert (framing, length, reusable) == (Framing.CHUNKED, -1, True)


def test_app_content_length() -> None:
    data, framing, length, reusable = render(headers=[(b"Content-Length", b"12")])
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
    data, framing, length, _ = render(headers=[(b"Content-Length", b"9")], body_length=9)
    assert (framing, length) == (Framing.LENGTH, 9)
    assert data.lower().count(b"content-length") == 1
    with pytest.raises(AppProtocolError, match="does not match"):
        render(headers=[(b"Content-Length", b"3")], body_length=9)
    # HEAD: the app may declare the length of the body it would have sent.
    _, framing, length, _ = render(
        headers=[(b"Content-Length", b"3")], head_request=True, body_length=0
    )
    assert (framing, length) == (Framing.NONE, 3)


def test_equal_content_lengths_are_accepted_different_ones_refused() -> None:
    assert render(headers=[(b"Content-Length", b"3"), (b"content-length", b"3")])[2] == 3
    with pytest.raises(AppProtocolError):
        render(headers=[(b"Content-Length", b"3"), (b"Content-Length", b"4")])


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"-1",
        b"abc",
        b" 5",
        b"5 ",
        b"+5",
        b"1.0",
        b"0x10",
        "\u0665".encode(),
        b"\xb2",
        b"1_000",
    ],
)
def test_invalid_content_length_is_refused(value: bytes) -> None:
    with pytest.raises(AppProtocolError):
        render(headers=[(b"Content-Length", value)])


@pytest.mark.parametrize("value", [b"chunked", b"gzip, chunked", b"identity"])
def test_app_transfer_encoding_is_dropped(value: bytes) -> None:
    data, framing, _, _ = render(headers=[(b"Transfer-Encoding", value)])
    assert data.lower().count(b"transfer-encoding") == 1
    assert b"transfer-encoding: chunked\r\n" in data and value not in data.replace(
        b"transfer-encoding: chunked", b""
    )
    assert framing is Framing.CHUNKED
    data, framing, _, _ = render(headers=[(b"Transfer-Encoding", value), (b"Content-Length", b"2")])
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


@pytest.mark.parametrize("status", [204, 304])
@pytest.mark.parametrize("http10", [False, True])
def test_statuses_without_a_body(status: int, http10: bool) -> None:
    data, framing, _, reusable = render(status, http10=http10, body_length=5)
    assert framing is Framing.NONE
    assert b"transfer-encoding" not in data and b"content-length" not in data
    assert reusable is not http10 or b"connection: keep-alive" in data


def test_head_keeps_the_app_headers_and_sends_no_body() -> None:
    data, framing, length, reusable = render(
        headers=[(b"Content-Length", b"100")], head_request=True
    )
    assert data == b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n" + STAMP.encode() + b"\r\n"
    assert framing is Framing.NONE and reusable
    data, framing, _, _ = render(head_request=True, body_length=5)
    assert framing is Framing.NONE and b"transfer-encoding" not in data


# ---- keep-alive -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [b"close", b"Close", b"CLOSE", b"keep-alive, close"])
def test_app_connection_close_closes(value: bytes) -> None:
    data, _, _, reusable = render(headers=[(b"Connection", value)], body_length=0)
    assert not reusable
    assert lines(data)[-1] == b"connection: close"
    assert b"Connection:" not in data


def test_app_connection_keep_alive_is_dropped() -> None:
    data, _, _, reusable = render(headers=[(b"Connection", b"keep-alive")], body_length=0)
    assert reusable and b"onnection" not in data


def test_request_without_keep_alive_closes() -> None:
    data, _, _, reusable = render(keep_alive=False, body_length=0)
    assert not reusable and lines(data)[-1] == b"connection: close"


# ---- the Date/Server stamp ------------------------------------------------------------------


def test_the_stamp_follows_the_app_headers() -> None:
    data = render(headers=[(b"X-A", b"1")], body_length=0)[0]
    assert lines(data) == [
        b"HTTP/1.1 200 OK",
        b"X-A: 1",
        f"date: {DATE}".encode(),
        b"server: beemo",
        b"content-length: 0",
    ]


@pytest.mark.parametrize("name", [b"Date", b"date", b"DATE"])
def test_an_app_date_replaces_the_stamp_date(name: bytes) -> None:
    data = render(headers=[(name, b"Mon, 01 Jan 2001 00:00:00 GMT")], body_length=0)[0]
    assert data.lower().count(b"date:") == 1
    assert name + b": Mon, 01 Jan 2001 00:00:00 GMT\r\n" in data
    assert b"server: beemo\r\n" in data


def test_an_app_server_replaces_the_stamp_server() -> None:
    data = render(headers=[(b"Server", b"my-app")], body_length=0)[0]
    assert data.lower().count(b"server:") == 1 and b"Server: my-app\r\n" in data
    assert f"date: {DATE}\r\n".encode() in data


def test_an_app_date_and_server_replace_the_whole_stamp() -> None:
    data = render(headers=[(b"Server", b"s"), (b"Date", b"d")], body_length=0)[0]
    assert lines(data) == [b"HTTP/1.1 200 OK", b"Server: s", b"Date: d", b"content-length: 0"]


def test_a_new_stamp_is_encoded_again() -> None:
    """The encoded stamp is kept for the string it came from: a new one is not missed."""
    other = "date: Sat, 03 Jan 2026 00:00:00 GMT\r\nserver: beemo\r\n"
    for stamp in (STAMP, STAMP, other, other, STAMP):
        assert stamp.encode() in render(body_length=0, stamp=stamp)[0]


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
    names = [b"X-Bounded-%d" % i for i in range(5000)]  # more than the cache holds
    for start in range(0, len(names), 500):
        batch = [(name, b"v") for name in names[start : start + 500]]
        assert render(headers=batch)[0].count(b": v\r\n") == 500
    assert response_module._NAME_CACHE_MAX < len(names)
    assert len(response_module._NAME_CACHE) <= response_module._NAME_CACHE_MAX
    with pytest.raises(AppProtocolError):  # validation still happens after the cache emptied
        render(headers=[(b"Bad Name", b"v")])


# ---- the cache of rendered status+header blocks ---------------------------------------------
# Each test uses header names of its own, so that the first render is a cache miss whatever ran
# before it; the second render of the same values is then a hit.


def test_a_cached_block_renders_the_same_bytes_and_framing() -> None:
    head = ResponseHead(200, ((b"X-Cache-Same", b"1"), (b"Content-Length", b"4")))
    first = render_head(head, False, False, True, STAMP)
    assert render_head(ResponseHead(*head), False, False, True, STAMP) == first  # a hit
    assert first == (
        b"HTTP/1.1 200 OK\r\nX-Cache-Same: 1\r\nContent-Length: 4\r\n" + STAMP.encode() + b"\r\n",
        Framing.LENGTH,
        4,
        True,
    )


def test_a_cached_block_still_takes_the_per_response_arguments() -> None:
    """The block caches only the status and app headers: framing, keep-alive and the stamp
    come from the call, so a hit must not replay the previous call's choices."""
    headers = [(b"X-Cache-Args", b"1")]
    assert render(headers=headers)[1] is Framing.CHUNKED
    data, framing, length, reusable = render(headers=headers, http10=True, keep_alive=False)
    assert (framing, length, reusable) == (Framing.UNTIL_CLOSE, -1, False)
    assert data.endswith(b"connection: close\r\n\r\n")
    assert render(headers=headers, body_length=3)[1:3] == (Framing.LENGTH, 3)
    other = "date: Fri, 02 Jan 2026 00:00:00 GMT\r\nserver: beemo\r\n"
    assert b"Fri, 02 Jan 2026" in render(headers=headers, stamp=other)[0]
    assert render(headers=headers, head_request=True)[1] is Framing.NONE


def test_a_cached_block_is_keyed_by_the_reason_too() -> None:
    headers = [(b"X-Cache-Reason", b"1")]
    assert render(headers=headers, body_length=0)[0].startswith(b"HTTP/1.1 200 OK\r\n")
    own = render(headers=headers, reason=b"Fine", body_length=0)[0]
    assert own.startswith(b"HTTP/1.1 200 Fine\r\n")
    assert render(201, headers, body_length=0)[0].startswith(b"HTTP/1.1 201 Created\r\n")


def test_an_app_connection_close_is_cached_with_the_block() -> None:
    headers = [(b"X-Cache-Close", b"1"), (b"Connection", b"close")]
    for _ in range(2):
        data, _, _, reusable = render(headers=headers, body_length=0)
        assert not reusable and data.endswith(b"connection: close\r\n\r\n")


def test_a_bad_block_is_refused_every_time() -> None:
    headers = [(b"X-Cache-Bad", b"a\r\nb")]
    for _ in range(2):
        with pytest.raises(AppProtocolError):
            render(headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        ((b"X-Unhashable", [b"v"]),),  # a list value
        ((b"X-Unhashable", b"v"), {b"X": b"y"}),  # a dict header
        (([b"X-Unhashable"], b"v"),),  # a list name
        ((b"X-Unhashable", bytearray(b"v")),),  # a bytearray value
    ],
    ids=["list value", "dict header", "list name", "bytearray value"],
)
def test_unhashable_headers_are_refused_as_app_errors(headers: tuple[object, ...]) -> None:
    for _ in range(2):
        with pytest.raises(AppProtocolError):
            render(headers=headers)


def test_a_list_pair_is_a_header_but_no_cache_key() -> None:
    """ASGI gives header pairs as any iterable of two byte strings, lists too: a list pair
    renders like the tuple pair, every time, although it cannot key the cache."""
    listed = [[b"X-List-Pair", b"1"]]
    first = render(headers=tuple(listed))
    assert first[0].startswith(b"HTTP/1.1 200 OK\r\nX-List-Pair: 1\r\n")
    assert render(headers=tuple(listed)) == first
    assert render(headers=((b"X-List-Pair", b"1"),)) == first
    assert render_head(ResponseHead(200, listed), False, False, True, STAMP) == first  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "headers", [None, {b"X-Not-A-List": b"1"}, b"X-Not-A-List: 1", "X"], ids=repr
)
def test_headers_that_are_not_a_sequence_are_refused(headers: object) -> None:
    with pytest.raises(AppProtocolError, match="must be a sequence"):
        render(headers=headers)


def test_a_list_of_headers_renders_like_a_tuple() -> None:
    """A ResponseHead holds a tuple, but a list of the same pairs is accepted alike (and then
    cached under the tuple)."""
    as_list = render_head(ResponseHead(200, [(b"X-A", b"1")]), False, False, True, STAMP)  # type: ignore[arg-type]
    assert as_list == render_head(ResponseHead(200, ((b"X-A", b"1"),)), False, False, True, STAMP)


@pytest.mark.parametrize(
    "header",
    [(b"X-A",), (b"X-A", b"1", b"2"), b"X-A: 1", b"XA", "X-A: 1", None, 5],
    ids=["1-tuple", "3-tuple", "bytes", "2 bytes", "str", "None", "int"],
)
def test_a_list_of_non_pairs_is_refused(header: object) -> None:
    with pytest.raises(AppProtocolError, match="pair"):
        render(headers=[(b"X-Fine", b"1"), header])


class Pair(tuple[bytes, bytes]):
    """A tuple subclass (as a NamedTuple is)."""


class Name(bytes):
    """A bytes subclass."""


def odd_shapes(shape: str, tag: str) -> tuple[ResponseHead, ResponseHead]:
    """A head in an odd but valid shape, and the same values in the plain one (a header name
    of their own, made from `shape` and `tag`)."""
    name = f"X-Cache-Shape-{shape}-{tag}".replace(" ", "-").encode()
    plain = ResponseHead(201, ((name, b"1"),))
    if shape == "tuple subclass":
        return ResponseHead(201, (Pair((name, b"1")),)), plain
    if shape == "list of headers":
        return ResponseHead(201, [(name, b"1")]), plain  # type: ignore[arg-type]
    if shape == "list pair":
        return ResponseHead(201, ([name, b"1"],)), plain  # type: ignore[arg-type]
    if shape == "bytes subclass":
        return ResponseHead(201, ((Name(name), Name(b"1")),), Name(b"")), plain
    assert shape == "int enum"
    return ResponseHead(HTTPStatus.CREATED, ((name, b"1"),)), plain


@pytest.mark.parametrize(
    "shape", ["tuple subclass", "list of headers", "list pair", "bytes subclass", "int enum"]
)
@pytest.mark.parametrize("plain_first", [False, True], ids=["odd first", "plain first"])
def test_whether_a_head_is_accepted_does_not_depend_on_the_cache(
    shape: str, plain_first: bool
) -> None:
    """The cache is keyed by value, so a head equal to a cached one is answered from the
    cache: what a miss accepts and what it renders must then be the same for every shape
    that compares equal, whichever came first."""
    odd, plain = odd_shapes(shape, "plain" if plain_first else "odd")
    order = [plain, odd, plain, odd] if plain_first else [odd, plain, odd, plain]
    rendered = [render_head(head, False, False, True, STAMP) for head in order]
    assert rendered == [rendered[0]] * 4
    assert rendered[0][0].startswith(b"HTTP/1.1 201 Created\r\nX-Cache-Shape-")


def test_the_block_cache_is_bounded_and_still_validates() -> None:
    limit = response_module._BLOCKS_MAX
    for i in range(limit + 10):
        header = (b"X-Fill-%d" % i, b"v")
        assert render(headers=[header])[0].count(b"X-Fill-%d: v\r\n" % i) == 1
        assert len(response_module._BLOCKS) <= limit
    with pytest.raises(AppProtocolError):  # validation still happens after the cache emptied
        render(headers=[(b"X-Fill-0", b"a\nb")])
    assert render(headers=[(b"X-Fill-0", b"v")])[0].count(b"X-Fill-0: v\r\n") == 1


# ---- app Date/Server headers merged with the stamp (also through the cache) ------------------


@pytest.mark.parametrize("own", [(b"Date", b"d"), (b"server", b"s")])
def test_an_app_stamp_header_is_merged_on_every_render(own: tuple[bytes, bytes]) -> None:
    headers = [(b"X-Merge", own[1]), own]
    stamps = [STAMP, "date: Fri, 02 Jan 2026 00:00:00 GMT\r\nserver: beemo\r\n"]
    for stamp in stamps * 2:  # the second round hits the cache
        data = render(headers=headers, stamp=stamp, body_length=0)[0]
        kept = [
            line
            for line in stamp.split("\r\n")
            if line and not line.startswith(own[0].decode().lower() + ":")
        ]
        assert lines(data) == [
            b"HTTP/1.1 200 OK",
            b"X-Merge: " + own[1],
            own[0] + b": " + own[1],
            *map(str.encode, kept),
            b"content-length: 0",
        ]


def test_a_header_that_only_starts_like_a_stamp_field_keeps_the_stamp() -> None:
    data = render(headers=[(b"X-Date", b"d"), (b"Server-Timing", b"x")], body_length=0)[0]
    assert f"date: {DATE}\r\nserver: beemo\r\n".encode() in data


# ---- app Content-Length against the whole body ----------------------------------------------


@pytest.mark.parametrize(("declared", "body_length"), [(b"0", 1), (b"5", 0), (b"5", 4), (b"5", 6)])
def test_a_content_length_that_contradicts_the_whole_body_is_refused(
    declared: bytes, body_length: int
) -> None:
    with pytest.raises(AppProtocolError, match="does not match"):
        render(headers=[(b"Content-Length", declared)], body_length=body_length)


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses_do_not_check_the_length(status: int) -> None:
    """304 may carry the Content-Length of the representation (RFC 9110 8.6)."""
    data, framing, length, _ = render(status, [(b"Content-Length", b"7")], body_length=0)
    assert (framing, length) == (Framing.NONE, 7) and b"Content-Length: 7\r\n" in data


def test_head_with_an_app_content_length_and_a_whole_body() -> None:
    """HEAD: the app's Content-Length is what a GET would send; nothing is checked against the
    body, which is not sent, and no content-length of Beemo's own is added."""
    data, framing, length, reusable = render(
        headers=[(b"Content-Length", b"100")], head_request=True, body_length=100
    )
    assert (framing, length, reusable) == (Framing.NONE, 100, True)
    assert data.lower().count(b"content-length") == 1
    _, framing, length, _ = render(
        headers=[(b"Content-Length", b"100")], head_request=True, body_length=3
    )
    assert (framing, length) == (Framing.NONE, 100)


# ---- trailers (RFC 9112 7.1.2) ----------------------------------------------------------------


def test_no_trailers_is_the_plain_last_chunk() -> None:
    assert render_trailers(()) == render_trailers([]) == b"0\r\n\r\n"


def test_trailers_follow_the_last_chunk_in_order() -> None:
    trailers = ((b"X-Checksum", b"abc"), (b"Server-Timing", b"db;dur=5"), (b"X-Empty", b""))
    assert render_trailers(trailers) == (
        b"0\r\nX-Checksum: abc\r\nServer-Timing: db;dur=5\r\nX-Empty: \r\n\r\n"
    )
    assert render_trailers([list(pair) for pair in trailers]) == render_trailers(trailers)  # type: ignore[misc]


@pytest.mark.parametrize(
    "trailer",
    [
        (b"Bad Name", b"v"),
        (b"X:Y", b"v"),
        (b"", b"v"),
        ("X-Str", b"v"),
        (b"X-A", "str"),
        (b"X-A", 5),
        (b"X-A", b"a\r\nSet-Cookie: x"),
        (b"X-A", b"a\nb"),
        (b"X-A", b"a\rb"),
        (b"X-A", b"a\x00b"),
        (b"X-A",),
        (b"X-A", b"1", b"2"),
        b"X-A: 1",
        None,
    ],
    ids=repr,
)
def test_a_bad_trailer_is_refused(trailer: object) -> None:
    with pytest.raises(AppProtocolError):
        render_trailers([(b"X-Fine", b"1"), trailer])  # type: ignore[list-item]
