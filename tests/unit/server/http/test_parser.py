"""Request parsing limits and rules that need more than one corpus file to state."""

from __future__ import annotations

from collections import deque

import pytest

from beemo.config import Limits
from beemo.errors import ProtocolError
from beemo.server.http.parser import Message, RequestParser
from tests.unit.server.http.driver import byte_at_a_time, drive, heads

DEFAULT = Limits()
SMALL = Limits(request_line=100, request_fields=5, request_field_size=50)  # head bound: 364


def status_of(chunks: list[bytes], limits: Limits = DEFAULT) -> int | None:
    return drive(chunks, limits).status


def get(target: bytes = b"/", fields: bytes = b"") -> bytes:
    return b"GET %s HTTP/1.1\r\nHost: a\r\n%s\r\n" % (target, fields)


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytes"])
@pytest.mark.parametrize(("size", "status"), [(4094 - 13, None), (4094 - 12, 414)])
def test_target_length_limit(size: int, status: int | None, bytewise: bool) -> None:
    """--limit-request-line bounds the whole line: "GET " + target + " HTTP/1.1" (gunicorn)."""
    data = get(b"/" + b"a" * (size - 1))
    assert status_of(byte_at_a_time(data) if bytewise else [data]) == status


def test_request_line_length_limit() -> None:
    limits = Limits(request_line=30)
    line = b"GET /" + b"a" * 16 + b" HTTP/1.1"  # a 17-byte target in a 30-byte line
    assert status_of([line + b"\r\nHost: a\r\n\r\n"], limits) is None
    assert status_of([line.replace(b"GET", b"POST") + b"\r\nHost: a\r\n\r\n"], limits) == 414


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytes"])
@pytest.mark.parametrize(("size", "status"), [(8190, None), (8191, 431)])
def test_field_size_limit(size: int, status: int | None, bytewise: bool) -> None:
    data = get(fields=b"X: " + b"a" * (size - 3) + b"\r\n")  # name + ": " + value
    assert status_of(byte_at_a_time(data) if bytewise else [data]) == status


@pytest.mark.parametrize(("count", "status"), [(100, None), (101, 431)])
def test_field_count_limit(count: int, status: int | None) -> None:
    data = get(fields=b"".join(b"X-%d: v\r\n" % i for i in range(count - 1)))  # plus Host
    assert status_of([data]) == status


@pytest.mark.parametrize(("count", "status"), [(5, None), (6, 431)])
def test_trailer_count_limit(count: int, status: int | None) -> None:
    data = (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
            + b"".join(b"T-%d: v\r\n" % i for i in range(count)) + b"\r\n")
    assert status_of([data], SMALL) == status


@pytest.mark.parametrize("piece", [1 << 10, 1 << 16])
def test_an_endless_header_is_refused_by_the_head_bound(piece: int) -> None:
    """No field ever completes, so only the head-size bound (~820 KB by default) stops it."""
    data = get(fields=b"")[:-2] + b"X: "
    conn_chunks = [data] + [b"a" * piece] * ((DEFAULT.max_head_size // piece) + 2)
    outcome = drive(conn_chunks)
    assert outcome.status == 431 and outcome.messages == ()


def test_an_endless_run_of_small_fields_is_refused() -> None:
    chunks = [b"GET / HTTP/1.1\r\n"] + [b"X: y\r\n"] * 200
    assert status_of(chunks) == 431


def test_head_size_bound_with_small_limits() -> None:
    assert SMALL.max_head_size == 364
    assert status_of([get(fields=b"")[:-2] + b"X: " + b"a" * 400], SMALL) == 431
    assert status_of(byte_at_a_time(get(fields=b"")[:-2] + b"X: " + b"a" * 400), SMALL) == 431


BODY_FOLLOWED = (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000
                 + b"GET /next HTTP/1.1\r\n")


@pytest.mark.parametrize("chunks", [
    [BODY_FOLLOWED],
    [BODY_FOLLOWED[:60], BODY_FOLLOWED[60:]],
], ids=["one chunk", "head, then body and next head"])
def test_body_bytes_do_not_count_toward_the_next_head(chunks: list[bytes]) -> None:
    outcome = drive(chunks, SMALL)
    assert outcome.status is None
    assert [head.method for head in heads(outcome.messages)] == ["POST"]


def test_trailing_whitespace_is_not_part_of_a_field_value() -> None:
    outcome = drive([get(fields=b"Content-Type: text/plain \t\r\n")])
    assert heads(outcome.messages)[0].headers[1] == (b"Content-Type", b"text/plain")


def test_garbage_after_a_request_in_the_same_chunk_is_400() -> None:
    assert status_of([get() + b"\x00\x01garbage\r\n\r\n"]) == 400


def test_garbage_after_a_request_in_its_own_chunk_is_400() -> None:
    assert status_of([get(), b"\x00\x01garbage\r\n\r\n"]) == 400


def test_one_empty_line_before_a_request_is_ignored() -> None:
    """RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request line."""
    outcome = drive([b"\r\n" + get()])
    assert outcome.status is None and heads(outcome.messages)[0].target == b"/"


def test_head_started_tracks_a_partial_head() -> None:
    queue: deque[Message] = deque()
    parser = RequestParser(DEFAULT, queue)
    assert not parser.head_started
    parser.feed(b"GET / HTTP/1.1\r\nHo")
    assert parser.head_started and not queue
    parser.feed(b"st: a\r\n\r\n")
    assert not parser.head_started
    assert [type(m).__name__ for m in queue] == ["RequestHead", "EndOfMessage"]


def test_the_parser_stops_after_the_last_request() -> None:
    queue: deque[Message] = deque()
    parser = RequestParser(DEFAULT, queue)
    parser.feed(b"GET / HTTP/1.0\r\n\r\n")
    assert parser.finished
    parser.feed(b"\x00 not even http")  # ignored, not an error
    assert len(queue) == 2


class RefusingQueue(deque[Message]):
    """A queue that cannot take a message: a callback failing for a reason of its own."""

    def append(self, message: Message) -> None:
        raise RuntimeError("no room")


def test_a_callback_failing_otherwise_is_a_400() -> None:
    parser = RequestParser(DEFAULT, RefusingQueue())
    with pytest.raises(ProtocolError) as caught:
        parser.feed(get())
    assert caught.value.status == 400
