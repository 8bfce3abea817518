"""The ASGI adapter, WebSocket part (www.rst "WebSocket"), driven through typed fakes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from beemo.adapters.asgi import ASGIAdapter, Message, Receive, Scope, Send
from beemo.adapters.asgi import ASGIApp as App
from beemo.adapters.asgi_websocket import WebSocketCycle, subprotocols
from beemo.errors import AppProtocolError, ClientDisconnected
from beemo.server.http.messages import Header, RequestHead, ResponseHead
from tests.unit.adapters.asgi_exchange import LEAVE, Closed, FakeAsyncExchange, FakeWebSocket, Sent

SERVER = ("127.0.0.1", 8000)
CLIENT = ("10.0.0.7", 54321)
HANDSHAKE = [
    (b"Host", b"example.com"),
    (b"Upgrade", b"websocket"),
    (b"Connection", b"Upgrade"),
    (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    (b"Sec-WebSocket-Version", b"13"),
]
ACCEPT = {"type": "websocket.accept"}
CONNECT = {"type": "websocket.connect"}
FORBIDDEN = ResponseHead(403, ((b"content-length", b"0"),))
CLOSE_FORBIDDEN = ResponseHead(403, ((b"content-type", b"text/plain; charset=utf-8"),))


@pytest.fixture(autouse=True)
def _propagating_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logging.getLogger("beemo.error"), "propagate", True)


def handshake(target: bytes = b"/ws", extra: list[Header] | None = None) -> RequestHead:
    """A WebSocket handshake request as the parser gives it (an Upgrade never keeps alive)."""
    return RequestHead("GET", target, "1.1", HANDSHAKE + (extra or []), False, False)


def run(
    app: App,
    exchange: FakeAsyncExchange | None = None,
    req: RequestHead | None = None,
    **options: Any,
) -> FakeAsyncExchange:
    exchange = exchange or FakeAsyncExchange(upgrade=b"websocket")
    adapter = ASGIAdapter(app, **options)
    base = adapter.connection(SERVER, CLIENT)
    asyncio.run(asyncio.wait_for(adapter.run(req or handshake(), exchange, base), 5))
    return exchange


def upgrading(*inbox: str | bytes, later: Any = (), **options: Any) -> FakeAsyncExchange:
    """An exchange for a handshake whose socket holds `inbox` and gets `later`."""
    socket = FakeWebSocket(*inbox, later=later, slow=options.pop("slow", False))
    return FakeAsyncExchange(upgrade=b"websocket", websocket=socket, **options)


def socket_of(exchange: FakeAsyncExchange) -> FakeWebSocket:
    socket = exchange._socket
    assert exchange.accepted, "the app did not accept"
    return socket


def script(*steps: Any, log: list[Any] | None = None) -> App:
    """An app that runs `steps`: "receive" appends what it got to `log`; a dict is sent."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for step in steps:
            if step == "receive":
                message = await receive()
                if log is not None:
                    log.append(message)
            else:
                await send(step)

    return app


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "beemo.error" and r.levelno >= logging.ERROR]


# ---- the scope --------------------------------------------------------------------------------


def test_the_websocket_scope() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)

    extra = [(b"Sec-WebSocket-Protocol", b"chat, superchat"), (b"X-A", b"1")]
    run(app, req=handshake(b"/ws/room%201?x=1", extra))
    [scope] = scopes
    assert scope["type"] == "websocket"
    assert scope["scheme"] == "ws"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == (
        "/ws/room 1",
        b"/ws/room%201",
        b"x=1",
    )
    assert scope["subprotocols"] == ["chat", "superchat"]
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert "method" not in scope
    assert (b"x-a", b"1") in scope["headers"] and scope["client"] == CLIENT


@pytest.mark.parametrize(
    ("headers", "offered"),
    [
        ([], []),
        ([(b"sec-websocket-protocol", b"a")], ["a"]),
        ([(b"sec-websocket-protocol", b" a ,b,, c ")], ["a", "b", "c"]),
        (
            [(b"sec-websocket-protocol", b"a"), (b"x", b"y"), (b"sec-websocket-protocol", b"b")],
            ["a", "b"],
        ),
        ([(b"sec-websocket-protocol", b"")], []),
    ],
)
def test_subprotocols_in_the_order_offered(headers: list[Header], offered: list[str]) -> None:
    assert subprotocols(headers) == offered


def test_a_keep_alive_request_is_never_a_websocket() -> None:
    """An Upgrade request never keeps the connection: a keep-alive one is served as HTTP."""
    types: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        types.append(scope["type"])
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body"})

    req = handshake()._replace(keep_alive=True)
    run(app, req=req)
    assert types == ["http"]


def test_an_upgrade_to_another_protocol_is_served_as_http() -> None:
    types: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        types.append(scope["type"])
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body"})

    run(app, FakeAsyncExchange(upgrade=b"h2c"))
    assert types == ["http"]


def test_without_websocket_support_the_answer_is_501() -> None:
    called: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope)

    exchange = run(app, websocket=False)
    assert called == []
    assert exchange.heads == [ResponseHead(501, ((b"content-type", b"text/plain; charset=utf-8"),))]
    assert exchange.body == b"WebSocket support is not installed: pip install 'beemo[standard]'\n"
    assert exchange.complete


# ---- connect, accept, messages ------------------------------------------------------------------


def test_connect_accept_and_messages_both_ways() -> None:
    log: list[Message] = []
    app = script(
        "receive",
        {"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-a", b"1")]},
        "receive",
        "receive",
        {"type": "websocket.send", "text": "hi \u20ac"},
        {"type": "websocket.send", "bytes": b"\x00\xff"},
        log=log,
    )
    exchange = run(app, upgrading("hello", b"\x01\x02"))
    assert log == [
        CONNECT,
        {"type": "websocket.receive", "text": "hello"},
        {"type": "websocket.receive", "bytes": b"\x01\x02"},
    ]
    assert exchange.accepted == [("chat", [(b"x-a", b"1")])]
    socket = socket_of(exchange)
    assert socket.messages == ["hi \u20ac", b"\x00\xff"]
    assert socket.closes == [(1000, "")]  # the app returned: a normal close
    assert exchange.heads == [] and exchange.failures == []


def test_accept_defaults_to_no_subprotocol_and_no_headers() -> None:
    exchange = run(script("receive", ACCEPT | {"headers": None}), upgrading())
    assert exchange.accepted == [(None, [])]


def test_messages_that_arrive_while_the_app_waits() -> None:
    log: list[Message] = []
    app = script("receive", ACCEPT, "receive", "receive", "receive", log=log)
    exchange = run(app, upgrading(later=["one", b"two", Closed(1001, "going away")]))
    assert log[1:] == [
        {"type": "websocket.receive", "text": "one"},
        {"type": "websocket.receive", "bytes": b"two"},
        {"type": "websocket.disconnect", "code": 1001, "reason": "going away"},
    ]
    assert socket_of(exchange).closes == []  # the client closed first: nothing to close


def test_a_dropped_connection_is_1006() -> None:
    log: list[Message] = []
    run(script("receive", ACCEPT, "receive", log=log), upgrading(later=[Closed(1006)]))
    assert log[-1] == {"type": "websocket.disconnect", "code": 1006, "reason": ""}


@pytest.mark.parametrize("data", [bytearray(b"ab"), memoryview(b"ab")])
def test_bytes_like_messages_go_out_as_bytes(data: bytes) -> None:
    exchange = run(
        script("receive", ACCEPT, {"type": "websocket.send", "bytes": data}), upgrading()
    )
    assert socket_of(exchange).messages == [b"ab"]


def test_a_slow_client_makes_send_wait() -> None:
    sends = [{"type": "websocket.send", "text": "x"}] * 3
    exchange = run(script("receive", ACCEPT, *sends), upgrading(slow=True))
    socket = socket_of(exchange)
    assert socket.drains == 3 and socket.messages == ["x", "x", "x"]


def test_the_app_closes_with_its_code_and_reason() -> None:
    log: list[Message] = []
    close = {"type": "websocket.close", "code": 4000, "reason": "bye"}
    exchange = run(script("receive", ACCEPT, close, "receive", log=log), upgrading())
    assert socket_of(exchange).closes == [(4000, "bye")]  # and no second close on return
    assert log[-1] == {"type": "websocket.disconnect", "code": 4000, "reason": "bye"}


@pytest.mark.parametrize(
    ("fields", "closed"),
    [({}, (1000, "")), ({"code": None, "reason": None}, (1000, "")), ({"code": 1001}, (1001, ""))],
)
def test_the_close_code_and_reason_default(fields: Message, closed: tuple[int, str]) -> None:
    close = {"type": "websocket.close", **fields}
    exchange = run(script("receive", ACCEPT, close), upgrading())
    assert socket_of(exchange).closes == [closed]


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999])
def test_close_codes_an_app_may_send(code: int) -> None:
    exchange = run(
        script("receive", ACCEPT, {"type": "websocket.close", "code": code}), upgrading()
    )
    assert socket_of(exchange).closes == [(code, "")]


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 2999, 5000, "1000", 1000.0, True])
def test_a_close_code_no_close_frame_may_carry_is_refused(
    code: object, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 6455 7.4: 1005 and 1006 are never sent, 1004 and 1015 are reserved. The app's
    error is logged and the socket still closes, with 1011."""
    exchange = run(
        script("receive", ACCEPT, {"type": "websocket.close", "code": code}), upgrading()
    )
    [record] = errors(caplog)
    exc = record.exc_info[1] if record.exc_info else None
    assert isinstance(exc, AppProtocolError) and f"invalid WebSocket close code {code!r}" in str(
        exc
    )
    assert socket_of(exchange).closes == [(1011, "")]


def test_a_close_reason_too_long_for_a_close_frame_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """RFC 6455 5.5: a control frame's payload is at most 125 bytes: code + 123 of reason."""
    fits = {"type": "websocket.close", "code": 1000, "reason": "\u20ac" * 41}  # 123 bytes
    exchange = run(script("receive", ACCEPT, fits), upgrading())
    assert socket_of(exchange).closes == [(1000, "\u20ac" * 41)]
    too_long = {"type": "websocket.close", "reason": "x" * 124}
    exchange = run(script("receive", ACCEPT, too_long), upgrading())
    [record] = errors(caplog)
    assert "reason" in str(record.exc_info[1] if record.exc_info else None)
    assert socket_of(exchange).closes == [(1011, "")]


@pytest.mark.parametrize("reason", [b"bytes", 5, "lone \udc80 surrogate"])
def test_a_close_reason_that_is_no_utf8_text_is_refused(
    reason: object, caplog: pytest.LogCaptureFixture
) -> None:
    close = {"type": "websocket.close", "reason": reason}
    exchange = run(script("receive", ACCEPT, close), upgrading())
    [record] = errors(caplog)
    assert "invalid WebSocket close reason" in str(record.exc_info and record.exc_info[1])
    assert socket_of(exchange).closes == [(1011, "")]


def test_send_after_close_raises_client_disconnected() -> None:
    raised: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await send({"type": "websocket.close"})
        for message in ({"type": "websocket.send", "text": "late"}, {"type": "websocket.close"}):
            try:
                await send(message)
            except ClientDisconnected as exc:  # an OSError, as www.rst asks
                raised.append(exc)

    exchange = run(app, upgrading())
    assert len(raised) == 2 and all(isinstance(exc, OSError) for exc in raised)
    assert socket_of(exchange).messages == [] and socket_of(exchange).closes == [(1000, "")]


def test_send_after_the_client_left_raises_client_disconnected() -> None:
    raised: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        assert (await receive())["type"] == "websocket.disconnect"
        for _ in range(2):
            try:
                await send({"type": "websocket.send", "text": "late"})
            except ClientDisconnected as exc:
                raised.append(exc)

    exchange = run(app, upgrading(later=[Closed(1000)]))
    assert len(raised) == 2 and socket_of(exchange).messages == []


def test_a_send_the_socket_refuses_ends_the_app_quietly(caplog: pytest.LogCaptureFixture) -> None:
    socket = FakeWebSocket()
    socket.arrive(Closed(1001))  # the client left; the app has not looked
    exchange = FakeAsyncExchange(upgrade=b"websocket", websocket=socket)
    run(script("receive", ACCEPT, {"type": "websocket.send", "text": "x"}), exchange)
    assert errors(caplog) == [] and exchange.failures == []


# ---- invalid messages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ({"type": "websocket.send"}, "needs exactly one of bytes and text"),
        ({"type": "websocket.send", "text": "a", "bytes": b"b"}, "exactly one of bytes and text"),
        ({"type": "websocket.send", "text": b"a"}, "text must be a str"),
        ({"type": "websocket.send", "bytes": "a"}, "bytes must be bytes"),
        ({"type": "websocket.accept"}, "unexpected ASGI message 'websocket.accept' on an open"),
        ({"type": "http.response.start", "status": 200}, "on an open WebSocket"),
        ({"code": 1000}, "must be a dict with a type"),
    ],
)
def test_an_invalid_message_after_accept_is_logged_and_closes_1011(
    message: Message, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    exchange = run(script("receive", ACCEPT, message), upgrading())
    [record] = errors(caplog)
    assert record.getMessage().startswith("App broke the ASGI contract handling request /ws: ")
    assert words in record.getMessage()  # the violation is named on the first line
    assert socket_of(exchange).closes == [(1011, "")]
    assert exchange.failures == []


@pytest.mark.parametrize(
    ("messages", "words"),
    [
        ([{"type": "websocket.send", "text": "x"}], "'websocket.send' before websocket.accept"),
        ([{"type": "http.response.start", "status": 200}], "before websocket.accept"),
        ([ACCEPT | {"subprotocol": b"chat"}], "subprotocol must be a str"),
        ([ACCEPT | {"headers": [("x-a", "1")]}], "header name must be bytes"),
        ([ACCEPT | {"headers": [(b"x-a", b"1\r\nx: 2")]}], "CR, LF or NUL"),
        ([{"type": "websocket.http.response.start", "status": "403"}], "status must be an int"),
        ([{"type": "websocket.http.response.start"}], "status must be an int, not None"),
        (
            [{"type": "websocket.http.response.start", "status": 403, "headers": 5}],
            "iterable of pairs",
        ),
        (
            [
                {"type": "websocket.http.response.start", "status": 403},
                {"type": "websocket.http.response.body", "body": "text"},
            ],
            "websocket.http.response.body must be bytes",
        ),
        (
            [
                {"type": "websocket.http.response.start", "status": 403},
                {"type": "websocket.send", "text": "x"},
            ],
            "'websocket.send' in this WebSocket state",
        ),
        ([[("type", "websocket.accept")]], "must be a dict with a type"),
    ],
)
def test_an_invalid_message_before_the_answer_is_a_500(messages: list[Message], words: str) -> None:
    exchange = run(script("receive", *messages))
    [exc] = exchange.failures
    assert isinstance(exc, AppProtocolError) and words in str(exc)
    assert exchange.accepted == []


# ---- refusing ---------------------------------------------------------------------------------


def test_close_before_accept_is_a_403() -> None:
    """www.rst: websocket.close before websocket.accept answers HTTP 403."""
    log: list[Message] = []
    exchange = run(script("receive", {"type": "websocket.close"}, "receive", log=log))
    assert exchange.heads == [CLOSE_FORBIDDEN] and exchange.sent == [Sent(b"", False)]
    assert log == [CONNECT, {"type": "websocket.disconnect", "code": 1006, "reason": ""}]
    assert exchange.accepted == [] and exchange.complete


def test_an_app_that_returns_without_accepting_is_refused_403() -> None:
    exchange = run(script("receive"))
    assert exchange.heads == [FORBIDDEN] and exchange.sent == [Sent(b"", False)]
    assert exchange.failures == []


def test_an_app_that_returns_without_accepting_after_the_client_left_sends_nothing() -> None:
    log: list[Message] = []
    exchange = run(
        script("receive", "receive", log=log),
        FakeAsyncExchange(upgrade=b"websocket", later=[LEAVE]),
    )
    assert log[-1] == {"type": "websocket.disconnect", "code": 1006, "reason": ""}
    assert exchange.heads == [] and exchange.sent == [] and exchange.failures == []


def test_a_denial_response_through_the_extension() -> None:
    """The websocket.http.response extension: an HTTP response instead of the handshake."""
    log: list[Message] = []
    start = {
        "type": "websocket.http.response.start",
        "status": 401,
        "headers": [(b"content-type", b"text/plain")],
    }
    pieces = [
        {"type": "websocket.http.response.body", "body": b"no ", "more_body": True},
        {"type": "websocket.http.response.body", "body": bytearray(b"entry")},
    ]
    exchange = run(script("receive", start, *pieces, "receive", log=log))
    assert exchange.heads == [ResponseHead(401, ((b"content-type", b"text/plain"),))]
    assert exchange.sent == [Sent(b"no ", True), Sent(b"entry", False)]
    assert log[-1] == {"type": "websocket.disconnect", "code": 1006, "reason": ""}
    assert exchange.accepted == [] and exchange.failures == [] and exchange.complete


def test_a_denial_with_an_empty_body_and_no_headers() -> None:
    start = {"type": "websocket.http.response.start", "status": 404}
    exchange = run(script("receive", start, {"type": "websocket.http.response.body"}))
    assert exchange.heads == [ResponseHead(404, ())] and exchange.sent == [Sent(b"", False)]


def test_a_denial_to_a_slow_client_waits() -> None:
    start = {"type": "websocket.http.response.start", "status": 403}
    piece = {"type": "websocket.http.response.body", "body": b"x", "more_body": True}
    end = {"type": "websocket.http.response.body"}
    exchange = FakeAsyncExchange(upgrade=b"websocket", slow=True)
    run(script("receive", start, piece, end), exchange)
    assert exchange.drains == 1 and exchange.complete


def test_a_message_after_the_denial_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    start = {"type": "websocket.http.response.start", "status": 403}
    messages = [start, {"type": "websocket.http.response.body"}, ACCEPT]
    exchange = run(script("receive", *messages))
    [record] = errors(caplog)
    assert "'websocket.accept' in this WebSocket state" in str(
        record.exc_info and record.exc_info[1]
    )
    assert exchange.complete and exchange.failures == []


def test_a_denial_body_the_exchange_refuses_is_a_500_not_a_hang() -> None:
    """A denial body that is not its declared Content-Length: the app's error must reach
    fail(), not be taken for an error after a complete answer."""
    start = {
        "type": "websocket.http.response.start",
        "status": 403,
        "headers": [(b"content-length", b"10")],
    }
    exchange = run(script("receive", start, {"type": "websocket.http.response.body", "body": b"x"}))
    [exc] = exchange.failures
    assert isinstance(exc, AppProtocolError)


@pytest.mark.parametrize("more", [False, True], ids=["head only", "part of the body"])
def test_an_app_that_returns_mid_denial_broke_the_contract(more: bool) -> None:
    """Not a 403 in place of the app's own response (nor a second head after its first)."""
    start = {"type": "websocket.http.response.start", "status": 401}
    steps: list[Any] = ["receive", start]
    if more:
        steps.append({"type": "websocket.http.response.body", "body": b"x", "more_body": True})
    exchange = run(script(*steps))
    [exc] = exchange.failures
    assert isinstance(exc, AppProtocolError)
    assert str(exc) == "the app returned before its response was complete"
    assert ResponseHead(403, ((b"content-length", b"0"),)) not in exchange.heads


def test_a_handshake_the_server_refuses() -> None:
    """accept_websocket answered with an HTTP error (a broken handshake): the app sees the
    connection closed."""
    log: list[Message] = []
    raised: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        log.append(await receive())
        await send(ACCEPT)
        log.append(await receive())
        try:
            await send({"type": "websocket.send", "text": "x"})
        except ClientDisconnected as exc:
            raised.append(exc)

    exchange = run(app, FakeAsyncExchange(upgrade=b"websocket", refuse=True))
    assert log == [CONNECT, {"type": "websocket.disconnect", "code": 1006, "reason": ""}]
    assert len(raised) == 1 and exchange.failures == [] and exchange.heads == []


def test_accept_after_the_client_left_ends_the_app_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exchange = FakeAsyncExchange(upgrade=b"websocket")
    exchange.leave()
    run(script("receive", ACCEPT), exchange)
    assert exchange.failures == [] and errors(caplog) == [] and exchange.heads == []


# ---- an app that raises -----------------------------------------------------------------------


def test_an_app_that_raises_before_accepting_gets_a_500() -> None:
    boom = RuntimeError("boom")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise boom

    exchange = run(app)
    assert exchange.failures == [boom] and exchange.accepted == []


def test_an_app_that_raises_after_accepting_is_logged_and_closed_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        raise RuntimeError("boom")

    exchange = run(app, upgrading())
    [record] = errors(caplog)
    assert record.getMessage() == "Error handling request /ws"
    assert socket_of(exchange).closes == [(1011, "")] and exchange.failures == []


def test_an_app_that_raises_after_closing_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await send({"type": "websocket.close", "code": 1001})
        raise RuntimeError("boom")

    exchange = run(app, upgrading())
    assert len(errors(caplog)) == 1
    assert socket_of(exchange).closes == [(1001, "")]


# ---- the cycle on its own -----------------------------------------------------------------------


def test_abort_and_fail_only_close_an_open_socket() -> None:
    cycle = WebSocketCycle(FakeAsyncExchange(upgrade=b"websocket"))
    cycle.abort()
    cycle.fail()  # nothing accepted: nothing to close
    assert not cycle.answered

    async def accept() -> None:
        await cycle.receive()
        await cycle.send(ACCEPT)

    exchange = FakeAsyncExchange(upgrade=b"websocket")
    cycle = WebSocketCycle(exchange)
    asyncio.run(accept())
    assert cycle.answered
    cycle.abort()
    cycle.fail()
    cycle.abort()
    assert socket_of(exchange).closes == [(1000, "")]
