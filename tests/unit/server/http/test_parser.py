"""Request parsing limits and rules that need more than one corpus file to state."""

from __future__ import annotations

from collections import deque

import pytest

from beemo.config import Limits
from beemo.errors import ProtocolError
from beemo.server.http.messages import Body, RequestHead
from beemo.server.http.parser import Message, RequestParser
from tests.unit.server.http.driver import byte_at_a_time, drive, heads, random_splits

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
    data = (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        + b"".join(b"T-%d: v\r\n" % i for i in range(count))
        + b"\r\n"
    )
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


BODY_FOLLOWED = (
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n"
    + b"x" * 1000
    + b"GET /next HTTP/1.1\r\n"
)


@pytest.mark.parametrize(
    "chunks",
    [
        [BODY_FOLLOWED],
        [BODY_FOLLOWED[:60], BODY_FOLLOWED[60:]],
    ],
    ids=["one chunk", "head, then body and next head"],
)
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


# ---- the HTTP version: read off the request line, or from llhttp ----------------------------

PIPELINE = (
    b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\nX: HTTP/1.1\r\n\r\n"
    b"GET /HTTP/1.0 HTTP/1.1\r\nHost: a\r\n\r\n"
    b"\r\nGET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"  # after an empty line
    b"POST /d HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
    b"GET /e HTTP/1.1\r\nHost: HTTP/1.0\r\n\r\n"
)
VERSIONS = [(b"/a", "1.0"), (b"/HTTP/1.0", "1.1"), (b"/c", "1.0"), (b"/d", "1.1"), (b"/e", "1.1")]


def cut_at(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *cuts, len(data)]
    return [data[start:end] for start, end in zip(edges, edges[1:], strict=False)]


HEAD_ENDS = [i for i in range(len(PIPELINE)) if PIPELINE.startswith(b"\r\n\r\n", i)]


@pytest.mark.parametrize(
    "chunks",
    [
        [PIPELINE],  # the first head is read off the chunk, the others come from llhttp
        byte_at_a_time(PIPELINE),  # no head is whole in its first chunk
        cut_at(PIPELINE, [end + 2 for end in HEAD_ENDS]),  # heads cut just before their end
        cut_at(PIPELINE, [end + 4 for end in HEAD_ENDS]),  # each message starts a chunk
        *[random_splits(PIPELINE, seed) for seed in range(10)],
    ],
    ids=lambda chunks: f"{len(chunks)} chunks",
)
def test_the_http_version_is_the_request_lines_however_the_bytes_arrive(
    chunks: list[bytes],
) -> None:
    assert b"".join(chunks) == PIPELINE
    outcome = drive(chunks)
    assert outcome.status is None
    assert [(head.target, head.http_version) for head in heads(outcome.messages)] == VERSIONS
    assert [head.keep_alive for head in heads(outcome.messages)] == [True] * 5


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/1.2", b"HTTP/0.9"])
@pytest.mark.parametrize("pipelined", [False, True], ids=["first", "pipelined"])
def test_an_unsupported_version_is_505_read_either_way(version: bytes, pipelined: bool) -> None:
    data = b"GET / %s\r\nHost: a\r\n\r\n" % version
    chunks = [get() + data] if pipelined else [data]
    assert status_of(chunks) == 505


# ---- the head-size bound and the first bytes of a head (_track_head) -------------------------


def test_a_head_that_began_inside_a_chunk_is_still_bounded() -> None:
    """The part of the head in the chunk where the previous message ended is not counted (its
    size there is unknown); every later chunk is."""
    chunks = [get() + b"GET / HTTP/1.1\r\nX: "] + [b"a" * 40] * 20
    outcome = drive(chunks, SMALL)
    assert outcome.status == 431
    assert [head.target for head in heads(outcome.messages)] == [b"/"]
    # The same bytes within the bound are a valid second request.
    assert (
        drive([get() + b"GET /2 HTTP/1.1\r\nX: ", b"a" * 40, b"\r\nHost: a\r\n\r\n"], SMALL).status
        is None
    )


@pytest.mark.parametrize(
    ("first", "rest", "status"),
    [
        (b"PO", b"SX / HTTP/1.1\r\nHost: a\r\n\r\n", 501),  # "POSX": a token, so unknown: 501
        (b"PO", b"S\x01 / HTTP/1.1\r\nHost: a\r\n\r\n", 400),  # not a token: 400
        (b"M-SEA", b"RCHX / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
    ],
)
def test_an_unknown_method_is_judged_from_the_message_start_across_chunks(
    first: bytes, rest: bytes, status: int
) -> None:
    assert status_of([first, rest]) == status
    assert status_of(byte_at_a_time(first + rest)) == status
    assert status_of([first + rest]) == status
    assert status_of([get(), first, rest]) == status  # after a request in its own chunk


@pytest.mark.parametrize("cut", [None, 3], ids=["one chunk", "cut after POS"])
def test_an_unknown_pipelined_method_is_501_however_the_bytes_arrive(cut: int | None) -> None:
    data = get() + b"POS / HTTP/1.1\r\nHost: a\r\n\r\n"
    assert status_of([get(), data[len(get()) :]]) == 501  # the reference split
    end = len(get()) + cut if cut is not None else len(data)
    assert status_of([data[:end], data[end:]] if cut is not None else [data]) == 501


# ---- Transfer-Encoding (RFC 9112 6.1) --------------------------------------------------------


def post_te(value: bytes, version: bytes = b"HTTP/1.1") -> bytes:
    return b"POST / %s\r\nHost: a\r\nTransfer-Encoding: %s\r\n\r\n0\r\n\r\n" % (version, value)


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (b"chunked", None),
        (b"Chunked", None),
        (b"gzip, chunked", 501),
        (b"GZIP , Chunked", 501),
        (b"deflate,chunked", 501),
        (b"gzip", 400),
        (b"identity", 400),
        (b"chunked, gzip", 400),
    ],
)
def test_transfer_codings(value: bytes, status: int | None) -> None:
    """chunked must be the final coding (400); another coding before it is not implemented."""
    assert status_of([post_te(value)]) == status


def test_chunked_not_final_is_refused_by_beemo_not_only_by_llhttp() -> None:
    with pytest.raises(ProtocolError, match="chunked is not the final") as caught:
        RequestParser(DEFAULT, deque()).feed(post_te(b"gzip"))
    assert caught.value.status == 400


@pytest.mark.parametrize("value", [b"chunked", b"gzip, chunked", b"gzip"])
def test_transfer_encoding_in_http10_is_400(value: bytes) -> None:
    with pytest.raises(ProtocolError, match="HTTP/1.0") as caught:
        RequestParser(DEFAULT, deque()).feed(post_te(value, b"HTTP/1.0"))
    assert caught.value.status == 400


def test_transfer_codings_on_two_lines_are_judged_together() -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    assert status_of([data]) == status_of([post_te(b"gzip, chunked")]) == 501


# ---- --limit-request-line counts the whole line ----------------------------------------------


@pytest.mark.parametrize("method", [b"GET", b"DELETE", b"OPTIONS", b"UNSUBSCRIBE"])
@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytes"])
def test_the_line_limit_counts_the_method(method: bytes, bytewise: bool) -> None:
    limits = Limits(request_line=60)
    for extra, status in [(0, None), (1, 414)]:
        target = b"/" + b"t" * (60 - 10 - len(method) - 1 + extra)
        data = b"%s %s HTTP/1.1\r\nHost: a\r\n\r\n" % (method, target)
        assert len(data.split(b"\r\n")[0]) == 60 + extra
        chunks = byte_at_a_time(data) if bytewise else [data]
        assert status_of(chunks, limits) == status, extra


def test_the_line_limit_applies_to_each_pipelined_request() -> None:
    limits = Limits(request_line=40)
    line = b"GET /" + b"a" * 26 + b" HTTP/1.1\r\nHost: a\r\n\r\n"  # exactly 40 bytes long
    outcome = drive([line * 3], limits)
    assert outcome.status is None and len(heads(outcome.messages)) == 3
    assert status_of([line * 2 + line.replace(b"/a", b"/aa")], limits) == 414


# ---- --limit-request-body --------------------------------------------------------------------

LIMITED = Limits(request_body=10)


def post_length(size: int) -> bytes:
    return b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s" % (size, b"b" * size)


def post_chunked(*sizes: int) -> bytes:
    return (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"%x\r\n%s\r\n" % (size, b"c" * size) for size in sizes)
        + b"0\r\n\r\n"
    )


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytes"])
def test_a_content_length_over_the_body_limit_is_413_before_the_head(bytewise: bool) -> None:
    data = post_length(11)
    outcome = drive(byte_at_a_time(data) if bytewise else [data], LIMITED)
    assert outcome.status == 413 and outcome.messages == ()  # nothing reached the app
    head_only = data[: data.index(b"\r\n\r\n") + 4]  # refused before any body byte came
    assert drive([head_only], LIMITED).status == 413


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytes"])
def test_a_body_at_the_limit_passes(bytewise: bool) -> None:
    for data in (post_length(10), post_chunked(4, 6)):
        outcome = drive(byte_at_a_time(data) if bytewise else [data], LIMITED)
        assert outcome.status is None
        assert len(b"".join(m.data for m in outcome.messages if isinstance(m, Body))) == 10


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytes"])
def test_a_chunked_body_is_refused_while_streaming_past_the_limit(bytewise: bool) -> None:
    queue: deque[Message] = deque()
    parser = RequestParser(LIMITED, queue)
    data = post_chunked(6, 5, 100) + get()
    with pytest.raises(ProtocolError) as caught:
        for chunk in byte_at_a_time(data) if bytewise else [data]:
            parser.feed(chunk)
    assert caught.value.status == 413
    assert type(queue[0]) is RequestHead and len(queue) >= 2  # refused while streaming
    assert all(type(message) is Body for message in list(queue)[1:])  # no end, no next head
    assert sum(len(message.data) for message in queue if type(message) is Body) <= 10
    assert parser.finished  # the rest of the body is never parsed as a request
    parser.feed(get())
    assert type(queue[-1]) is Body


def test_the_body_limit_counts_each_request_alone() -> None:
    data = post_chunked(6, 4) + post_chunked(10) + post_length(10)
    outcome = drive([data], LIMITED)
    assert outcome.status is None and len(heads(outcome.messages)) == 3


def test_no_body_limit_by_default() -> None:
    assert DEFAULT.request_body == 0
    assert status_of([post_length(100_000), post_chunked(100_000)]) is None


# ---- Upgrade ---------------------------------------------------------------------------------


UPGRADE_POST = b"POST /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"


def test_the_body_of_an_upgrade_request_is_delivered() -> None:
    """Beemo does not switch protocols, so it serves the request whole (RFC 9110 7.8)."""
    data = UPGRADE_POST + b"Content-Length: 3\r\n\r\nabc"
    for chunks in ([data], byte_at_a_time(data)):
        outcome = drive(chunks)
        assert outcome.status is None
        assert b"".join(m.data for m in outcome.messages if type(m) is Body) == b"abc"


def test_an_upgrade_request_with_a_chunked_body_is_refused() -> None:
    """llhttp stops at an upgrade head; a chunked body after it is not decoded: 400."""
    data = UPGRADE_POST + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    assert drive([data]).status == 400


def test_the_rest_after_messages_is_unknown_without_a_blank_line_for_each() -> None:
    """`_after_messages` finds where the messages that ended in a chunk stop by their blank
    lines; when the chunk holds fewer than one per message it says "unknown" (None) rather
    than guess. llhttp gives every body-less message one, so this guards what it would not."""
    parser = RequestParser(DEFAULT, deque())
    data = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nrest"
    assert parser._after_messages(data, True, 2, 0) == b"rest"
    assert parser._after_messages(data, True, 3, 0) is None
    assert parser._after_messages(data, False, 1, 0) is None  # the chunk began mid-message


def test_a_released_connection_is_freed_without_the_cyclic_collector() -> None:
    """llhttp holds the parser's callbacks and the parser holds llhttp: release() breaks that
    cycle, so a closed connection is freed at once (not one gc pass per connection)."""
    import gc
    import weakref

    from beemo.server.http.connection import HTTPConnection

    enabled = gc.isenabled()
    gc.disable()
    try:
        kept = HTTPConnection(DEFAULT)
        kept.receive_data(get())
        kept_ref = weakref.ref(kept._parser)
        del kept
        assert kept_ref() is not None  # the cycle: only the collector would free it
        gc.collect()

        conn = HTTPConnection(DEFAULT)
        conn.receive_data(get())
        conn.release()
        parser_ref = weakref.ref(conn._parser)
        del conn
        assert parser_ref() is None
    finally:
        if enabled:
            gc.enable()


def test_a_released_parser_parses_nothing_more() -> None:
    queue: deque[Message] = deque()
    parser = RequestParser(DEFAULT, queue)
    parser.feed(get()[:10])
    parser.release()
    parser.feed(get()[10:] + get())
    assert not queue
    assert parser.finished
