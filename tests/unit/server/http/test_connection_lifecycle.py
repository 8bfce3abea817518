"""HTTPConnection: whole responses (send_response), the keep-alive announced while a body is
unread, whether an error can still be answered, and the client's EOF."""

from __future__ import annotations

import pytest

from beemo.config import Limits
from beemo.errors import AppProtocolError, ProtocolError, StateError
from beemo.server.http.connection import CLOSE, DRAIN_LIMIT, READ, HTTPConnection
from beemo.server.http.messages import (
    CONNECTION_CLOSED,
    NEED_DATA,
    Body,
    EndOfMessage,
    RequestHead,
    ResponseHead,
)
from beemo.server.http.state import Phase
from tests.unit.server.http.driver import OK, STAMP, TEXT, drive, respond

GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
GET2 = b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"
HEAD = b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"
GET10 = b"GET / HTTP/1.0\r\n\r\n"
GET10_KEEP = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
CHUNKED = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"


def post_head(length: int, *fields: bytes) -> bytes:
    return b"POST / HTTP/1.1\r\nHost: a\r\n%sContent-Length: %d\r\n\r\n" % (
        b"".join(field + b"\r\n" for field in fields),
        length,
    )


def handling(*chunks: bytes, limits: Limits | None = None) -> HTTPConnection:
    """A connection whose first request head was handed out."""
    conn = HTTPConnection(limits or Limits())
    for chunk in chunks:
        conn.receive_data(chunk)
    assert type(conn.next_event()) is RequestHead
    return conn


def received(request: bytes) -> HTTPConnection:
    """A connection whose first request was read to its end."""
    conn = handling(request)
    while type(event := conn.next_event()) is Body:
        pass
    assert type(event) is EndOfMessage
    return conn


# ---- send_response: head, whole body and end in one call --------------------------------------


LENGTH_5 = ResponseHead(200, ((b"Content-Length", b"5"),))

RESPONSES = [
    (GET, TEXT, b"hello"),
    (GET, LENGTH_5, b"hello"),
    (GET, OK, b""),
    (GET, ResponseHead(404, ((b"Connection", b"close"),)), b"gone"),
    (HEAD, LENGTH_5, b"hello"),
    (HEAD, OK, b"hello"),
    (GET, ResponseHead(204, ()), b""),
    (GET, ResponseHead(304, ((b"ETag", b'"x"'),)), b""),
    (GET10, OK, b"hello"),
    (GET10_KEEP, OK, b"hello"),
]


@pytest.mark.parametrize(("request_", "head", "body"), RESPONSES)
@pytest.mark.parametrize("close", [False, True])
def test_send_response_is_send_head_body_and_end_in_one(
    request_: bytes, head: ResponseHead, body: bytes, close: bool
) -> None:
    one = received(request_)
    whole = one.send_response(head, STAMP, close, body)
    three = received(request_)
    parts = (
        three.send_head(head, STAMP, close, len(body)) + three.send_body(body) + three.send_end()
    )
    assert whole == parts
    assert (one.phase, one.next_interest()) == (three.phase, three.next_interest())


def test_send_response_bytes() -> None:
    conn = received(GET)
    assert conn.send_response(ResponseHead(200, ((b"X-A", b"1"),)), STAMP, False, b"hello") == (
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\n" + STAMP.encode() + b"content-length: 5\r\n\r\nhello"
    )
    assert conn.phase is Phase.AWAIT_REQUEST and conn.next_interest() == READ
    conn.receive_data(GET2)
    assert type(head := conn.next_event()) is RequestHead and head.target == b"/2"


def test_send_response_of_a_head_request_sends_no_body() -> None:
    conn = received(HEAD)
    out = conn.send_response(LENGTH_5, STAMP, False, b"hello")
    assert out == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n" + STAMP.encode() + b"\r\n"
    assert conn.next_interest() == READ


@pytest.mark.parametrize("close", [False, True], ids=["app", "server"])
def test_send_response_that_closes(close: bool) -> None:
    conn = received(GET + GET2)
    headers = () if close else ((b"Connection", b"close"),)
    out = conn.send_response(ResponseHead(200, headers), STAMP, close, b"bye")
    assert out.endswith(b"connection: close\r\n\r\nbye")
    assert conn.next_interest() == CLOSE and conn.next_event() is CONNECTION_CLOSED


@pytest.mark.parametrize("declared", [b"0", b"4", b"6"])
def test_send_response_with_a_wrong_content_length_sends_nothing(declared: bytes) -> None:
    """The mismatch is found before any byte is produced: the connection can still answer
    with a clean 500 rather than a truncated or overlong response."""
    conn = received(GET)
    with pytest.raises(AppProtocolError, match="does not match"):
        conn.send_response(
            ResponseHead(200, ((b"Content-Length", declared),)), STAMP, False, b"hello"
        )
    assert conn.phase is Phase.HANDLING and not conn.responding and conn.can_answer_error
    assert conn.send_error(500, "Internal Server Error", STAMP).startswith(b"HTTP/1.1 500 ")
    assert conn.next_interest() == CLOSE


def test_send_response_before_any_request_is_a_state_error() -> None:
    conn = HTTPConnection(Limits())
    with pytest.raises(StateError):
        conn.send_response(OK, STAMP, False, b"x")
    with pytest.raises(StateError):
        conn.send_head(OK, STAMP)
    conn.receive_data(GET)  # still usable
    assert type(conn.next_event()) is RequestHead


def test_send_response_twice_is_a_state_error() -> None:
    conn = received(GET + GET2)
    conn.send_response(OK, STAMP, False, b"x")
    with pytest.raises(StateError):
        conn.send_response(OK, STAMP, False, b"x")


# ---- Connection: close announced when the unread body cannot be drained ----------------------


def announced_close(out: bytes) -> bool:
    head = out[: out.index(b"\r\n\r\n") + 4]
    return head.endswith(b"connection: close\r\n\r\n")


@pytest.mark.parametrize(
    ("length", "closes"), [(0, False), (DRAIN_LIMIT, False), (DRAIN_LIMIT + 1, True)]
)
def test_an_unread_content_length_body_over_the_drain_limit_announces_close(
    length: int, closes: bool
) -> None:
    conn = handling(post_head(length) + b"x" * min(length, 10))
    out = conn.send_response(OK, STAMP, False, b"ok")
    assert announced_close(out) is closes
    assert conn.next_interest() == (CLOSE if closes else READ)


def test_a_body_read_whole_is_never_a_reason_to_close() -> None:
    conn = HTTPConnection(Limits())
    conn.receive_data(post_head(DRAIN_LIMIT + 1))
    assert type(conn.next_event()) is RequestHead
    conn.receive_data(b"x" * (DRAIN_LIMIT + 1))
    while type(conn.next_event()) is Body:
        pass
    assert conn.request_received
    out = conn.send_response(OK, STAMP, False, b"ok")
    assert not announced_close(out) and conn.next_interest() == READ


def test_a_continue_never_sent_announces_close() -> None:
    """The client waits for 100 Continue: it may never send the body, which cannot be
    drained, so the response says the connection closes."""
    conn = handling(post_head(5, b"Expect: 100-continue"))
    assert conn.wants_continue()
    out = conn.send_response(ResponseHead(417, ()), STAMP, False, b"no")
    assert announced_close(out)
    assert conn.next_interest() == CLOSE and conn.next_event() is CONNECTION_CLOSED


def test_a_continue_body_that_started_is_drained_instead() -> None:
    conn = handling(post_head(5, b"Expect: 100-continue"), b"he")
    assert conn.next_event() == Body(b"he")
    out = conn.send_response(OK, STAMP, False, b"ok")
    assert not announced_close(out)
    conn.receive_data(b"llo" + GET2)
    assert type(head := conn.next_event()) is RequestHead and head.target == b"/2"


def test_a_big_continue_body_that_started_still_announces_close() -> None:
    conn = handling(post_head(DRAIN_LIMIT + 1, b"Expect: 100-continue"), b"he")
    assert conn.next_event() == Body(b"he")
    assert announced_close(conn.send_response(OK, STAMP, False, b"ok"))


def test_the_announcement_follows_the_head_through_send_head_too() -> None:
    conn = handling(post_head(DRAIN_LIMIT + 1))
    assert announced_close(conn.send_head(OK, STAMP))
    conn = handling(post_head(DRAIN_LIMIT))
    assert not announced_close(conn.send_head(OK, STAMP))


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def test_an_unread_chunked_body_is_drained_up_to_the_limit_then_closes() -> None:
    """Its size is unknown up front: the head keeps the connection, and draining stops it."""
    conn = handling(CHUNKED)
    assert not announced_close(conn.send_response(OK, STAMP, False, b"ok"))
    piece = b"x" * (1 << 16)
    events = []
    for _ in range(DRAIN_LIMIT // len(piece)):
        conn.receive_data(chunk(piece))
        events.append(conn.next_event())
    assert set(events) == {NEED_DATA}  # exactly DRAIN_LIMIT bytes drained: still open
    conn.receive_data(chunk(b"y"))
    assert conn.next_event() is CONNECTION_CLOSED
    assert conn.next_interest() == CLOSE
    conn.receive_data(b"0\r\n\r\n" + GET2)
    assert conn.next_event() is CONNECTION_CLOSED  # the next request is never read


def test_a_drained_chunked_body_within_the_limit_keeps_the_connection() -> None:
    conn = handling(CHUNKED + chunk(b"x" * 1000))
    respond(conn)
    conn.receive_data(chunk(b"y" * (DRAIN_LIMIT - 1000)) + b"0\r\n\r\n" + GET2)
    assert type(head := conn.next_event()) is RequestHead and head.target == b"/2"


# ---- can_answer_error --------------------------------------------------------------------------


def test_can_answer_error_through_a_request() -> None:
    conn = HTTPConnection(Limits())
    assert conn.can_answer_error  # a new request may fail
    conn.receive_data(post_head(5) + b"ab")
    assert conn.can_answer_error  # still nothing sent
    assert type(conn.next_event()) is RequestHead
    assert conn.can_answer_error  # HANDLING: no response byte yet
    conn.send_head(OK, STAMP)
    assert not conn.can_answer_error  # RESPONDING: a response is going out
    conn.send_end()
    assert not conn.can_answer_error  # the rest of the answered body is still owed
    conn.receive_data(b"cde")
    assert conn.can_answer_error  # the body is complete: an error is in a new request
    conn.receive_data(b"GET / HT")
    assert conn.can_answer_error
    conn.close()
    assert not conn.can_answer_error  # closing: nothing more is sent


# ---- receive_data closes instead of raising when no response can follow --------------------


@pytest.mark.parametrize("bad", [b"zz\r\n", b"3\r\nabcX"], ids=["chunk size", "chunk end"])
def test_an_error_in_the_body_while_responding_closes_without_raising(bad: bytes) -> None:
    conn = handling(CHUNKED + chunk(b"ok"))
    assert conn.next_event() == Body(b"ok")
    conn.send_head(OK, STAMP)
    conn.receive_data(bad)  # no ProtocolError: the response already started
    event = conn.next_event()
    if event == Body(b"abc"):  # the good bytes before the bad ones are still handed out
        event = conn.next_event()
    assert event is CONNECTION_CLOSED
    assert conn.next_interest() == CLOSE and not conn.can_answer_error


def test_an_error_held_back_behind_a_request_being_answered_only_closes() -> None:
    """Bad bytes after a whole request are held back until it is handed out; found while its
    response is going out, they close the connection: no second response may follow."""
    conn = handling(post_head(2) + b"ab\x00garbage\r\n\r\n")
    conn.send_head(OK, STAMP)
    assert conn.next_event() == Body(b"ab")
    assert conn.next_event() == EndOfMessage()
    assert conn.next_event() is CONNECTION_CLOSED  # no ProtocolError
    assert conn.next_interest() == CLOSE and not conn.can_answer_error


@pytest.mark.parametrize("bad", [b"zz\r\n", b"3\r\nabcX"], ids=["chunk size", "chunk end"])
def test_an_error_in_the_body_before_the_response_raises(bad: bytes) -> None:
    conn = handling(CHUNKED)
    with pytest.raises(ProtocolError) as caught:
        conn.receive_data(bad)
        # The good bytes before the bad ones are handed out first, then the error is raised.
        while conn.next_event() == Body(b"abc"):
            pass
    assert caught.value.status == 400 and conn.can_answer_error


def test_a_body_over_the_limit_while_the_app_reads_it_is_413() -> None:
    conn = handling(CHUNKED, limits=Limits(request_body=8))
    conn.receive_data(chunk(b"12345"))
    assert conn.next_event() == Body(b"12345")
    with pytest.raises(ProtocolError) as caught:
        conn.receive_data(chunk(b"6789"))
    assert caught.value.status == 413
    conn.send_error(413, "Content Too Large", STAMP)
    conn.receive_data(chunk(b"x") + b"0\r\n\r\n" + GET2)  # ignored, not parsed as requests
    assert conn.next_event() is CONNECTION_CLOSED


def test_a_body_over_the_limit_after_the_response_closes_without_raising() -> None:
    conn = handling(
        post_head(0).replace(b"Content-Length: 0", b"Transfer-Encoding: chunked"),
        limits=Limits(request_body=8),
    )
    respond(conn)
    conn.receive_data(chunk(b"123456789"))
    assert conn.next_event() is CONNECTION_CLOSED


@pytest.mark.parametrize(
    "bad",
    [b"\x00garbage\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"],
    ids=["garbage", "no host", "version"],
)
def test_a_valid_request_is_served_before_the_error_after_it(bad: bytes) -> None:
    assert drive([GET + bad]) == drive([GET, bad])


# ---- the client's EOF --------------------------------------------------------------------------


def test_peer_closed_is_set_by_the_empty_read() -> None:
    conn = HTTPConnection(Limits())
    assert not conn.peer_closed and conn.next_interest() == READ
    conn.receive_data(b"")
    assert conn.peer_closed
    assert conn.next_event() is CONNECTION_CLOSED and conn.next_interest() == CLOSE


def test_peer_closed_mid_head() -> None:
    conn = HTTPConnection(Limits())
    conn.receive_data(b"GET / HTTP/1.1\r\nHo")
    conn.receive_data(b"")
    assert conn.peer_closed and conn.next_event() is CONNECTION_CLOSED


def test_a_response_after_the_eof_ends_the_connection() -> None:
    """A keep-alive response cannot be followed by another request once the client closed."""
    conn = received(GET)
    conn.receive_data(b"")
    assert conn.peer_closed
    out = conn.send_response(OK, STAMP, False, b"ok")
    assert out.endswith(b"\r\n\r\nok")
    assert conn.phase is Phase.CLOSING and conn.next_interest() == CLOSE


# ---- awaiting_body: small bodies are read before the app runs ------------------------------


def test_awaiting_body_until_the_body_is_in() -> None:
    conn = handling(post_head(10) + b"12345")
    assert conn.awaiting_body(64)  # 5 of 10 bytes: wait for the rest in the poller
    conn.receive_data(b"67890")
    assert not conn.awaiting_body(64)  # whole: run the app
    assert conn.next_event() == Body(b"12345")
    assert conn.next_event() == Body(b"67890")


def test_awaiting_body_stops_at_the_limit() -> None:
    conn = handling(post_head(100) + b"x" * 40)
    assert conn.awaiting_body(64)
    conn.receive_data(b"x" * 30)
    assert not conn.awaiting_body(64)  # 70 buffered: the app streams the rest


def test_awaiting_body_never_for_a_continue_or_a_closed_client() -> None:
    expecting = handling(post_head(10, b"Expect: 100-continue"))
    assert not expecting.awaiting_body(64)  # the client waits for the app to read first
    gone = handling(post_head(10) + b"123")
    gone.receive_data(b"")
    assert not gone.awaiting_body(64)
    assert not handling(GET).awaiting_body(64)  # no body at all
