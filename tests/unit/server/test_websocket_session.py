"""WebSocketSession (RFC 6455) against the websockets library's sans-I/O client: real frames,
no sockets. The handshake request goes through Beemo's own HTTP parser, the 101 through its
`render_switch`, as the asyncio driver does it."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any

import pytest
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from beemo.config import Limits
from beemo.server import websocket as websocket_module
from beemo.server.http.connection import HTTPConnection
from beemo.server.http.messages import EndOfMessage, Header, RequestHead
from beemo.server.http.response import render_switch
from beemo.server.websocket import BinaryMessage, Refusal, TextMessage, WebSocketSession

STAMP = "date: Thu, 01 Jan 2026 00:00:00 GMT\r\nserver: beemo\r\n"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 1.3


def client_of(deflate: bool = False, offered: Sequence[str] = ()) -> ClientProtocol:
    extensions = [ClientPerMessageDeflateFactory()] if deflate else None
    return ClientProtocol(
        parse_uri("ws://example.com/chat"),
        extensions=extensions,
        subprotocols=[Subprotocol(name) for name in offered] or None,
    )


def handshake_request(client: ClientProtocol) -> RequestHead:
    """The client's handshake, parsed by Beemo's HTTP layer as the driver receives it."""
    client.send_request(client.connect())
    conn = HTTPConnection(Limits())
    conn.receive_data(b"".join(client.data_to_send()))
    head = conn.next_event()
    assert type(head) is RequestHead and conn.next_event() == EndOfMessage()
    assert conn.upgrade == b"websocket"
    return head


def opened(
    *,
    max_size: int = 1 << 20,
    deflate: bool = False,
    offer_deflate: bool = False,
    offered: Sequence[str] = (),
    subprotocol: str | None = None,
    extra: Sequence[Header] = (),
) -> tuple[WebSocketSession, ClientProtocol, tuple[Header, ...]]:
    """A session and a client that completed the handshake, and the 101's fields."""
    client = client_of(offer_deflate, offered)
    session = WebSocketSession(max_size, deflate)
    answer = session.handshake(handshake_request(client), subprotocol, extra)
    assert not isinstance(answer, Refusal), answer
    client.receive_data(render_switch(answer, STAMP))
    [response] = client.events_received()
    assert isinstance(response, Response) and response.status_code == 101
    assert client.state is State.OPEN, client.handshake_exc
    return session, client, answer


def to_server(session: WebSocketSession, client: ClientProtocol) -> list[Any]:
    """What the client sent, fed to the session: the whole messages it completed."""
    return session.receive(b"".join(client.data_to_send()))


def to_client(session: WebSocketSession, client: ClientProtocol) -> list[Frame]:
    client.receive_data(session.data_to_send())
    return [event for event in client.events_received() if isinstance(event, Frame)]


def field(headers: Sequence[Header], name: bytes) -> bytes | None:
    values = [value for key, value in headers if key.lower() == name]
    assert len(values) <= 1, values
    return values[0] if values else None


# ---- the handshake ----------------------------------------------------------------------------


def test_the_library_is_available() -> None:
    assert websocket_module.AVAILABLE


def test_an_accepted_handshake_gives_the_101_fields() -> None:
    client = client_of()
    request = handshake_request(client)
    key = field(request.headers, b"sec-websocket-key")
    assert key is not None
    answer = WebSocketSession(1 << 20, False).handshake(request, None, [])
    assert not isinstance(answer, Refusal), answer
    expected = base64.b64encode(hashlib.sha1(key + GUID).digest())
    assert field(answer, b"sec-websocket-accept") == expected
    assert field(answer, b"upgrade") == b"websocket"
    # Connection, Date: the HTTP layer writes them; no extension nor subprotocol was asked.
    assert field(answer, b"connection") is None and field(answer, b"date") is None
    assert field(answer, b"sec-websocket-extensions") is None
    assert field(answer, b"sec-websocket-protocol") is None


def test_the_apps_subprotocol_and_headers_go_into_the_101() -> None:
    _, client, answer = opened(
        offered=["chat", "superchat"], subprotocol="chat", extra=[(b"x-room", b"7")]
    )
    assert field(answer, b"sec-websocket-protocol") == b"chat"
    assert (b"x-room", b"7") in answer
    assert client.subprotocol == "chat"  # the client accepted it


def test_the_101_passes_the_clients_checks() -> None:
    """Beemo's render_switch adds `connection: upgrade` and the stamp; the client opens."""
    _, client, _ = opened()
    assert client.state is State.OPEN


@pytest.mark.parametrize(
    ("drop", "status", "words"),
    [
        (b"sec-websocket-key", 400, b"missing Sec-WebSocket-Key"),
        (b"sec-websocket-version", 400, b"Sec-WebSocket-Version"),
        (b"upgrade", 426, b"Upgrade"),
    ],
)
def test_a_broken_handshake_is_refused_with_an_http_error(
    drop: bytes, status: int, words: bytes
) -> None:
    request = handshake_request(client_of())
    broken = request._replace(headers=[(k, v) for k, v in request.headers if k.lower() != drop])
    answer = WebSocketSession(1 << 20, False).handshake(broken, "chat", [(b"x", b"y")])
    assert type(answer) is Refusal
    assert answer.status == status and words in answer.body
    names = {name.lower() for name, _ in answer.headers}
    # The HTTP layer frames and stamps the refusal: the library's own fields are dropped.
    assert not names & {b"date", b"connection", b"content-length"}
    assert b"x" not in names  # the app's headers go with an accept only


def test_a_bad_key_is_refused() -> None:
    request = handshake_request(client_of())
    headers = [
        (k, b"short" if k.lower() == b"sec-websocket-key" else v) for k, v in request.headers
    ]
    answer = WebSocketSession(1 << 20, False).handshake(request._replace(headers=headers), None, [])
    assert type(answer) is Refusal and answer.status == 400


# ---- messages -----------------------------------------------------------------------------------


def test_text_and_binary_messages() -> None:
    session, client, _ = opened()
    client.send_text("h\u00e9llo \u20ac".encode())
    client.send_binary(b"\x00\x01\xff")
    assert to_server(session, client) == [
        TextMessage("h\u00e9llo \u20ac"),
        BinaryMessage(b"\x00\x01\xff"),
    ]


def test_messages_fed_a_byte_at_a_time() -> None:
    session, client, _ = opened()
    client.send_text(b"hello")
    client.send_binary(b"bin")
    data = b"".join(client.data_to_send())
    messages = [m for i in range(len(data)) for m in session.receive(data[i : i + 1])]
    assert messages == [TextMessage("hello"), BinaryMessage(b"bin")]


def test_the_session_sends_text_and_binary() -> None:
    session, client, _ = opened()
    session.send("hi \u20ac")
    session.send(b"\x00\xff")
    frames = to_client(session, client)
    assert [(f.opcode, f.data) for f in frames] == [
        (Opcode.TEXT, "hi \u20ac".encode()),
        (Opcode.BINARY, b"\x00\xff"),
    ]


def test_fragmented_messages_are_reassembled() -> None:
    session, client, _ = opened()
    euro = "\u20ac".encode()
    client.send_text(b"he" + euro[:1], fin=False)  # a character split across fragments
    client.send_ping(b"between")  # a control frame may come between fragments
    client.send_continuation(euro[1:] + b"l", fin=False)
    client.send_continuation(b"lo", fin=True)
    client.send_binary(b"ab", fin=False)
    client.send_continuation(b"cd", fin=True)
    assert to_server(session, client) == [
        TextMessage("he\u20acllo"),
        BinaryMessage(b"abcd"),
    ]
    pongs = to_client(session, client)
    assert [(f.opcode, f.data) for f in pongs] == [(Opcode.PONG, b"between")]


def test_fragments_fed_one_at_a_time() -> None:
    session, client, _ = opened()
    client.send_text(b"a", fin=False)
    assert to_server(session, client) == []
    client.send_continuation(b"b", fin=False)
    assert to_server(session, client) == []
    client.send_continuation(b"c", fin=True)
    assert to_server(session, client) == [TextMessage("abc")]


@pytest.mark.parametrize("fragmented", [False, True])
def test_invalid_utf8_closes_with_1007(fragmented: bool) -> None:
    """RFC 6455 8.1: a text message that is not UTF-8 fails the connection (1007); nothing
    after it counts."""
    session, client, _ = opened()
    if fragmented:
        client.send_text(b"ok\xc3", fin=False)
        client.send_continuation(b"(", fin=True)
    else:
        client.send_text(b"\xff\xfe")
    client.send_text(b"after")
    assert to_server(session, client) == []
    assert not session.open and session.closed
    assert session.close_code == (1007, "invalid UTF-8 in a text message")
    to_client(session, client)
    assert client.close_rcvd is not None and client.close_rcvd.code == 1007


# ---- ping, pong, close --------------------------------------------------------------------------


def test_a_ping_is_answered_with_a_pong() -> None:
    session, client, _ = opened()
    client.send_ping(b"are you there")
    assert to_server(session, client) == []
    frames = to_client(session, client)
    assert [(f.opcode, f.data) for f in frames] == [(Opcode.PONG, b"are you there")]


def test_pongs_are_counted() -> None:
    session, client, _ = opened()
    assert session.pongs == 0
    session.ping(b"1")
    [ping] = to_client(session, client)
    assert (ping.opcode, ping.data) == (Opcode.PING, b"1")
    to_server(session, client)  # the client's automatic pong
    assert session.pongs == 1
    client.send_pong(b"unsolicited")  # RFC 6455 5.5.3: allowed, and it counts
    to_server(session, client)
    assert session.pongs == 2


def test_the_client_closes() -> None:
    session, client, _ = opened()
    client.send_close(1001, "going away")
    assert to_server(session, client) == []
    assert not session.open and session.closed
    assert session.close_code == (1001, "going away")
    [echo] = to_client(session, client)  # the server answers the close frame
    assert echo.opcode is Opcode.CLOSE
    assert client.close_rcvd is not None and client.close_rcvd.code == 1001


def test_the_session_closes_and_the_client_answers() -> None:
    session, client, _ = opened()
    session.close(1000, "done")
    assert not session.open and not session.closed  # waiting for the client's answer
    assert session.close_code == (1000, "done")  # the code sent, until one is received
    session.close(1011, "again")  # a no-op once the handshake started
    [frame] = to_client(session, client)
    assert frame.opcode is Opcode.CLOSE
    to_server(session, client)  # the client's echo
    assert session.closed and session.close_code == (1000, "done")
    assert session.data_to_send() == b""  # the library's EOF marker is not data


def test_fail_closes_at_once() -> None:
    session, client, _ = opened()
    session.fail(1011, "keepalive ping timeout")
    assert session.closed and session.close_code == (1011, "keepalive ping timeout")
    session.fail(1001, "again")  # a no-op once closed
    [frame] = to_client(session, client)
    assert (
        frame.opcode is Opcode.CLOSE
        and client.close_rcvd is not None
        and client.close_rcvd.code == 1011
    )


def test_an_eof_without_a_close_frame_is_1006() -> None:
    session, _, _ = opened()
    assert session.receive(b"") == []
    assert session.closed and session.close_code == (1006, "")


def test_a_message_over_max_size_closes_with_1009() -> None:
    session, client, _ = opened(max_size=10)
    client.send_text(b"x" * 10)
    assert to_server(session, client) == [TextMessage("x" * 10)]
    client.send_text(b"x" * 11)
    assert to_server(session, client) == []
    assert session.close_code[0] == 1009 and not session.open
    to_client(session, client)
    assert client.close_rcvd is not None and client.close_rcvd.code == 1009


# ---- permessage-deflate -------------------------------------------------------------------------


def test_permessage_deflate_is_negotiated_when_offered() -> None:
    session, client, answer = opened(deflate=True, offer_deflate=True)
    extensions = field(answer, b"sec-websocket-extensions")
    assert extensions is not None and extensions.startswith(b"permessage-deflate")
    assert [type(e).__name__ for e in client.extensions] == ["PerMessageDeflate"]
    text = "compress me " * 20
    client.send_text(text.encode())
    wire = b"".join(client.data_to_send())
    assert len(wire) < len(text)  # it went compressed
    assert session.receive(wire) == [TextMessage(text)]
    session.send(text)
    [frame] = to_client(session, client)
    assert frame.data == text.encode()  # the client inflated it


def test_no_permessage_deflate_unless_both_sides_want_it() -> None:
    _, client, answer = opened(deflate=False, offer_deflate=True)
    assert field(answer, b"sec-websocket-extensions") is None and client.extensions == []
    _, client, answer = opened(deflate=True, offer_deflate=False)
    assert field(answer, b"sec-websocket-extensions") is None and client.extensions == []
