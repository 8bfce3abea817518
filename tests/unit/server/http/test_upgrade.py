"""The Upgrade phase of the HTTP layer (RFC 9110 7.8, 15.2.2): a body-less Upgrade request
keeps the bytes after its head for the new protocol; `send_switch` renders the 101 and moves
the connection to SWITCHED. Every request is fed whole, byte at a time and in random splits.
"""

from __future__ import annotations

from collections import deque

import pytest

from beemo.config import Limits
from beemo.errors import AppProtocolError, ProtocolError, StateError
from beemo.server.http import parser as parser_module
from beemo.server.http.connection import CLOSE, READ, HTTPConnection
from beemo.server.http.messages import (
    CONNECTION_CLOSED,
    NEED_DATA,
    Body,
    EndOfMessage,
    RequestHead,
    ResponseHead,
)
from beemo.server.http.parser import Message, RequestParser
from beemo.server.http.response import render_switch
from beemo.server.http.state import Phase
from tests.unit.server.http.driver import STAMP, drive, respond, splittings

UPGRADE = (
    b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
FRAMES = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"  # a masked "Hello" text frame
PLAIN = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
SWITCH_HEADERS = [
    (b"Upgrade", b"websocket"),
    (b"Sec-WebSocket-Accept", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
]
LIMIT = parser_module._SWITCHED_LIMIT


def fed(chunks: list[bytes], limits: Limits | None = None) -> HTTPConnection:
    conn = HTTPConnection(limits or Limits())
    for chunk in chunks:
        conn.receive_data(chunk)
    return conn


def handled(conn: HTTPConnection) -> RequestHead:
    """Hand out the next request as a driver would: its head, then its end."""
    head = conn.next_event()
    assert type(head) is RequestHead, head
    assert conn.next_event() == EndOfMessage()
    return head


# ---- the request ------------------------------------------------------------------------------


@pytest.mark.parametrize("after", [b"", FRAMES, FRAMES + PLAIN], ids=["alone", "frames", "more"])
def test_a_bodyless_upgrade_request_keeps_the_bytes_after_its_head(after: bytes) -> None:
    for label, chunks in splittings(UPGRADE + after):
        conn = fed(chunks)
        head = handled(conn)
        assert (head.target, head.keep_alive) == (b"/chat", False), label
        assert conn.upgrade == b"websocket", label  # lower-cased
        assert conn.next_event() is NEED_DATA, label  # the bytes after it are no request
        assert conn.switched_data() == after, label
        assert conn.switched_data() == b"", label  # handed over once


def test_bytes_that_arrive_after_the_head_are_kept_too() -> None:
    conn = fed([UPGRADE, FRAMES[:3]])
    handled(conn)
    conn.receive_data(FRAMES[3:])
    assert conn.switched_data() == FRAMES
    conn.receive_data(b"more")
    assert conn.switched_data() == b"more"


def test_the_parser_keeps_the_protocol_and_the_bytes() -> None:
    queue: deque[Message] = deque()
    parser = RequestParser(Limits(), queue)
    parser.feed(UPGRADE + b"abc")
    parser.feed(b"")  # nothing to keep
    parser.feed(b"def")
    assert parser.switch_to == b"websocket" and parser.finished
    assert parser.switched_data == [b"abc", b"def"]
    assert [type(m) for m in queue] == [RequestHead, EndOfMessage]


def test_an_upgrade_request_with_a_content_length_body_is_served_plainly() -> None:
    """RFC 9110 7.8 lets a server ignore Upgrade: no switch, the body is the request's, and
    nothing after it is read."""
    data = UPGRADE.replace(b"\r\n\r\n", b"\r\nContent-Length: 3\r\n\r\n") + b"abc" + PLAIN
    for label, chunks in splittings(data):
        conn = fed(chunks)
        head = conn.next_event()
        assert type(head) is RequestHead and not head.keep_alive, label
        assert conn.upgrade == b"", label
        body = b""
        while type(event := conn.next_event()) is Body:
            body += event.data
        assert (body, event) == (b"abc", EndOfMessage()), label
        assert conn.next_event() is NEED_DATA, label
        assert conn.switched_data() == b"", label
        respond(conn)
        assert conn.phase is Phase.CLOSING and conn.next_interest() == CLOSE, label


def test_an_upgrade_request_with_a_zero_content_length_may_switch() -> None:
    conn = fed([UPGRADE.replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n") + FRAMES])
    handled(conn)
    assert conn.upgrade == b"websocket" and conn.switched_data() == FRAMES


@pytest.mark.parametrize("split", [False, True], ids=["whole", "bytes"])
def test_an_upgrade_request_with_a_chunked_body_is_refused(split: bool) -> None:
    data = UPGRADE.replace(b"\r\n\r\n", b"\r\nTransfer-Encoding: chunked\r\n\r\n") + b"0\r\n\r\n"
    chunks = [data[i : i + 1] for i in range(len(data))] if split else [data]
    assert drive(chunks).status == 400


def test_an_upgrade_not_taken_is_served_then_the_connection_closes() -> None:
    """WSGI, or an ASGI app that answers plainly: the request is served, the bytes kept for
    the new protocol are never parsed as a request, and the connection closes."""
    for label, chunks in splittings(UPGRADE + PLAIN):
        conn = fed(chunks)
        handled(conn)
        respond(conn)
        assert conn.phase is Phase.CLOSING, label
        assert conn.next_event() is CONNECTION_CLOSED, label
        assert conn.upgrade == b"", label


def test_an_upgrade_without_connection_upgrade_is_a_plain_request() -> None:
    conn = fed([b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n" + PLAIN])
    head = handled(conn)
    assert head.keep_alive and conn.upgrade == b""
    respond(conn)
    assert handled(conn).target == b"/"  # the next request is read as usual


def test_a_connect_request_cannot_switch() -> None:
    conn = fed([b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\nxyz"])
    head = handled(conn)
    assert (head.method, head.keep_alive) == ("CONNECT", False)
    assert conn.upgrade == b""


def test_only_the_request_being_handled_may_switch() -> None:
    """A plain request pipelined before an Upgrade one: it is no Upgrade request itself."""
    for label, chunks in splittings(PLAIN + UPGRADE + FRAMES):
        conn = fed(chunks)
        handled(conn)
        assert conn.upgrade == b"", label
        with pytest.raises(StateError):
            conn.send_switch(SWITCH_HEADERS, STAMP)
        respond(conn)
        handled(conn)
        assert conn.upgrade == b"websocket", label
        assert conn.switched_data() == FRAMES, label


# ---- the limit on bytes before the switch -------------------------------------------------------


def test_up_to_the_limit_of_early_bytes_is_kept() -> None:
    conn = fed([UPGRADE + b"x" * (LIMIT - 1), b"y"])
    handled(conn)
    assert conn.switched_data() == b"x" * (LIMIT - 1) + b"y"


def test_more_early_bytes_than_the_limit_is_400_while_the_app_handles_the_request() -> None:
    conn = fed([UPGRADE, b"x" * LIMIT])
    handled(conn)
    with pytest.raises(ProtocolError) as caught:
        conn.receive_data(b"y")
    assert caught.value.status == 400
    assert "before the protocol switched" in caught.value.message
    assert conn.upgrade == b"" and conn.switched_data() == b""  # no switch any more
    assert conn.can_answer_error
    conn.send_error(400, caught.value.message, STAMP)
    assert conn.phase is Phase.CLOSING


def test_more_early_bytes_than_the_limit_before_the_head_was_taken_is_held_back() -> None:
    """The request is handed out first; the error comes after it, as for any bad bytes."""
    for label, chunks in [
        ("whole", [UPGRADE + b"x" * (LIMIT + 1)]),
        ("split", [UPGRADE, b"x" * (LIMIT + 1)]),
    ]:
        conn = fed(chunks)
        handled(conn)
        with pytest.raises(ProtocolError) as caught:
            conn.next_event()
        assert caught.value.status == 400, label
        assert conn.upgrade == b"", label


def test_bytes_after_the_limit_was_broken_are_dropped() -> None:
    conn = fed([UPGRADE, b"x" * LIMIT])
    handled(conn)
    with pytest.raises(ProtocolError):
        conn.receive_data(b"y")
    conn.receive_data(b"more")  # no second error: the parser has finished
    assert conn.switched_data() == b""


# ---- switching --------------------------------------------------------------------------------


def test_send_switch_renders_the_101_and_leaves_http() -> None:
    for label, chunks in splittings(UPGRADE + FRAMES):
        conn = fed(chunks)
        handled(conn)
        data = conn.send_switch(SWITCH_HEADERS, STAMP)
        assert data == (
            b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            + STAMP.encode()
            + b"connection: upgrade\r\n\r\n"
        ), label
        assert (conn.phase, conn.status) == (Phase.SWITCHED, 101), label
        assert conn.upgrade == b"", label  # switched: nothing more to accept
        assert conn.switched_data() == FRAMES, label  # the new protocol's first bytes
        assert not conn.between_requests and not conn.responding, label
        assert conn.next_interest() == READ, label


def test_a_switched_connection_can_only_close() -> None:
    conn = fed([UPGRADE])
    handled(conn)
    conn.send_switch((), STAMP)
    with pytest.raises(StateError):
        conn.send_switch((), STAMP)
    with pytest.raises(StateError):
        conn.send_head(ResponseHead(200, ()), STAMP)
    conn.close()
    assert conn.phase is Phase.CLOSING and conn.next_interest() == CLOSE
    assert conn.next_event() is CONNECTION_CLOSED


@pytest.mark.parametrize(
    "data",
    [PLAIN, UPGRADE.replace(b"\r\n\r\n", b"\r\nContent-Length: 1\r\n\r\nx")],
    ids=["no upgrade", "with a body"],
)
def test_send_switch_without_a_switchable_upgrade_is_a_state_error(data: bytes) -> None:
    conn = fed([data])
    assert type(conn.next_event()) is RequestHead
    with pytest.raises(StateError):
        conn.send_switch(SWITCH_HEADERS, STAMP)
    assert conn.phase is Phase.HANDLING


def test_send_switch_before_any_request_or_while_responding_is_a_state_error() -> None:
    conn = fed([UPGRADE])
    with pytest.raises(StateError):
        conn.send_switch((), STAMP)  # not handed out yet
    handled(conn)
    conn.send_head(ResponseHead(200, ()), STAMP)
    with pytest.raises(StateError):
        conn.send_switch((), STAMP)


@pytest.mark.parametrize(
    "headers",
    [[("x", b"1")], [(b"bad name", b"1")], [(b"x", b"1\r\nset-cookie: a")], [(b"x", "1")], [b"x"]],
)
def test_a_bad_switch_header_is_an_app_error_and_an_error_can_still_be_sent(
    headers: list[object],
) -> None:
    conn = fed([UPGRADE])
    handled(conn)
    with pytest.raises(AppProtocolError):
        conn.send_switch(headers, STAMP)  # type: ignore[arg-type]
    assert conn.phase is Phase.HANDLING and conn.can_answer_error
    assert conn.upgrade == b"websocket"
    conn.send_error(500, "Internal Server Error", STAMP)
    assert conn.status == 500


# ---- render_switch ------------------------------------------------------------------------------


def test_render_switch_drops_the_apps_connection_and_adds_its_own() -> None:
    data = render_switch([(b"Upgrade", b"websocket"), (b"Connection", b"close")], STAMP)
    assert data == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        + STAMP.encode()
        + b"connection: upgrade\r\n\r\n"
    )


def test_render_switch_drops_a_transfer_encoding() -> None:
    data = render_switch([(b"Transfer-Encoding", b"chunked")], STAMP)
    assert b"chunked" not in data.lower()


@pytest.mark.parametrize(
    ("headers", "kept"),
    [
        ([(b"Server", b"custom")], [b"Server: custom", b"date: Thu, 01 Jan 2026 00:00:00 GMT"]),
        ([(b"date", b"then")], [b"date: then", b"server: beemo"]),
        ([(b"Date", b"then"), (b"SERVER", b"mine")], [b"Date: then", b"SERVER: mine"]),
    ],
)
def test_render_switch_merges_the_stamp_with_the_apps_date_and_server(
    headers: list[tuple[bytes, bytes]], kept: list[bytes]
) -> None:
    lines = render_switch(headers, STAMP).split(b"\r\n")
    for line in kept:
        assert line in lines
    assert len([line for line in lines if line.lower().startswith((b"date:", b"server:"))]) == 2


def test_render_switch_takes_a_tuple_or_a_list() -> None:
    assert render_switch(tuple(SWITCH_HEADERS), STAMP) == render_switch(SWITCH_HEADERS, STAMP)


def test_an_upgrade_signal_without_a_complete_request_switches_nothing() -> None:
    """llhttp signals an upgrade once the request it ends was queued whole (head and end, a
    CONNECT too); without one, as a different llhttp could signal, nothing may switch."""
    queue: deque[Message] = deque()
    parser = RequestParser(Limits(), queue)
    parser._upgrade(b"xyz")
    queue.append(RequestHead("CONNECT", b"a:443", "1.1", [], False, False))
    parser._upgrade(b"xyz")
    assert parser.switch_to == b"" and parser.switched_data == []
