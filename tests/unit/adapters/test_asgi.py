"""The ASGI adapter, HTTP part (www.rst), driven through a typed fake AsyncExchange."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from beemo.adapters import asgi as asgi_module
from beemo.adapters.asgi import ASGIAdapter, HTTPCycle, Message, Receive, Scope, Send
from beemo.errors import AppProtocolError, ClientDisconnected
from beemo.server.http.messages import RequestHead, ResponseHead
from tests.unit.adapters.asgi_driver import (
    CLIENT,
    SERVER,
    START,
    TEXT,
    App,
    body,
    errors,
    failure,
    hello,
    run,
    sending,
)
from tests.unit.adapters.asgi_exchange import END, LEAVE, FakeAsyncExchange, Sent
from tests.unit.adapters.exchange import request


def scope_of(
    req: RequestHead,
    root_path: str = "",
    server: tuple[str, int] = SERVER,
    client: tuple[str, int] | None = CLIENT,
) -> Scope:
    adapter = ASGIAdapter(hello, root_path=root_path)
    return adapter.scope(req, adapter.connection(server, client))


# ---- the scope --------------------------------------------------------------------------------


def test_every_scope_key_with_its_type() -> None:
    scope = scope_of(request(b"/p?q=1", "POST", headers=[(b"Host", b"example.com")]))
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "POST"
    assert scope["scheme"] == "http"
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == ("/p", b"/p", b"q=1")
    assert scope["root_path"] == ""
    assert scope["headers"] == [(b"host", b"example.com")]
    assert scope["server"] == SERVER and scope["client"] == CLIENT
    assert set(scope["extensions"]) == {
        "http.response.trailers",
        "http.response.pathsend",
        "http.response.zerocopysend",
    }
    assert "state" not in scope  # no lifespan ran
    assert type(scope["path"]) is str and type(scope["raw_path"]) is bytes


def test_the_app_gets_the_scope_of_its_request() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        await hello(scope, receive, send)

    run(app, request(b"/x?y", "PUT"))
    assert (seen[0]["method"], seen[0]["path"], seen[0]["query_string"]) == ("PUT", "/x", b"y")


def test_http10_and_no_client_address() -> None:
    scope = scope_of(request(version="1.0", headers=[]), client=None)
    assert scope["http_version"] == "1.0" and scope["client"] is None and scope["headers"] == []


def test_a_unix_socket_server_has_no_port() -> None:
    """www.rst: server is (host, port) or (path, None) for a unix socket."""
    assert scope_of(request(), server=("/run/beemo.sock", 0))["server"] == ("/run/beemo.sock", None)


@pytest.mark.parametrize(
    ("root", "target", "path", "raw_path", "query"),
    [
        ("", b"/", "/", b"/", b""),
        ("", b"/a/b?x=1&y=%20", "/a/b", b"/a/b", b"x=1&y=%20"),
        ("", b"/a%20b", "/a b", b"/a%20b", b""),
        ("", b"/caf%C3%A9", "/caf\xe9", b"/caf%C3%A9", b""),  # %-escapes decoded as UTF-8
        ("", b"/caf\xc3\xa9", "/caf\xe9", b"/caf\xc3\xa9", b""),  # raw UTF-8 decoded
        ("", b"/%E2%82%AC%20\xe2\x82\xac", "/\u20ac \u20ac", b"/%E2%82%AC%20\xe2\x82\xac", b""),
        ("", b"/a%2Fb%3f", "/a/b?", b"/a%2Fb%3f", b""),
        ("", b"/bad%zz%", "/bad%zz%", b"/bad%zz%", b""),  # not an escape: kept
        ("", b"/%FF", "/\udcff", b"/%FF", b""),  # not UTF-8: kept as a surrogate escape
        ("", b"/?", "/", b"/", b""),
        ("", b"/a?b?c", "/a", b"/a", b"b?c"),
        ("", b"/a?caf%C3%A9", "/a", b"/a", b"caf%C3%A9"),  # the query string stays encoded
        ("", b"*", "*", b"*", b""),
        ("", b"http://example.com/x?y=1", "/x", b"/x", b"y=1"),  # absolute-form
        ("", b"http://example.com", "/", b"/", b""),
        ("", b"example.com:443", "/", b"/", b""),  # authority-form
        ("/app", b"/x", "/app/x", b"/app/x", b""),  # ASGI 2.4: path includes root_path
        ("/app", b"/app/x", "/app/x", b"/app/x", b""),  # already under it: not doubled
        ("/app", b"/app", "/app", b"/app", b""),
        ("/app/", b"/x?q", "/app/x", b"/app/x", b"q"),
        ("/app", b"/apple", "/app/apple", b"/app/apple", b""),  # not under the prefix
        ("/app", b"/app%2Fx", "/app/x", b"/app%2Fx", b""),
        ("/caf\xe9", b"/x", "/caf\xe9/x", b"/caf\xc3\xa9/x", b""),
    ],
)
def test_path_raw_path_and_query(
    root: str, target: bytes, path: str, raw_path: bytes, query: bytes
) -> None:
    scope = scope_of(request(target), root_path=root)
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == (path, raw_path, query)
    assert scope["root_path"] == root.rstrip("/")


def test_header_names_are_lower_cased_in_order_and_values_kept() -> None:
    headers = [
        (b"Host", b"example.com"),
        (b"X-Multi", b"1"),
        (b"x-multi", b"2"),
        (b"ACCEPT", b"*/*"),
        (b"X-Value", b"Caf\xe9 MiXeD"),
    ]
    assert scope_of(request(headers=headers))["headers"] == [
        (b"host", b"example.com"),
        (b"x-multi", b"1"),
        (b"x-multi", b"2"),
        (b"accept", b"*/*"),
        (b"x-value", b"Caf\xe9 MiXeD"),
    ]


def test_the_lower_case_name_cache_is_bounded() -> None:
    names = [b"X-Name-%d" % i for i in range(asgi_module._LOWER_MAX + 10)]
    scope = scope_of(request(headers=[(name, b"v") for name in names]))
    assert [name for name, _ in scope["headers"]] == [name.lower() for name in names]
    assert len(asgi_module._LOWER) <= asgi_module._LOWER_MAX


def test_a_name_cached_as_empty_is_looked_up_again() -> None:
    """The parser never yields an empty name; the cache lookup treats its cached b"" as a
    miss (`get() or _lower()`), and the second lookup still finds it."""
    for _ in range(2):
        assert scope_of(request(headers=[(b"", b"v")]))["headers"] == [(b"", b"v")]


def test_the_lifespan_state_is_copied_into_each_scope() -> None:
    """lifespan.rst: each request gets a shallow copy of what startup put in the state."""
    adapter = ASGIAdapter(hello)
    shared = {"db": ["connection"]}
    adapter.state = shared
    base = adapter.connection(SERVER, CLIENT)
    first, second = adapter.scope(request(), base), adapter.scope(request(), base)
    assert first["state"] == shared and first["state"] is not shared
    first["state"]["added"] = 1
    assert "added" not in second["state"] and "added" not in shared
    assert first["state"]["db"] is shared["db"]  # shallow


def test_each_request_gets_its_own_scope() -> None:
    adapter = ASGIAdapter(hello)
    base = adapter.connection(SERVER, CLIENT)
    scope = adapter.scope(request(b"/a"), base)
    scope["path"] = "/changed"
    assert adapter.scope(request(b"/b"), base)["path"] == "/b"
    assert "path" not in base


# ---- receive ----------------------------------------------------------------------------------


def receiving(count: int, log: list[Message]) -> App:
    """An app that receives `count` messages, logging them, then answers."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for _ in range(count):
            log.append(await receive())
        await hello(scope, receive, send)

    return app


def test_a_body_that_arrived_whole_is_one_message() -> None:
    messages: list[Message] = []
    exchange = run(receiving(1, messages), exchange=FakeAsyncExchange(b"ab", b"cd"))
    assert messages == [{"type": "http.request", "body": b"abcd", "more_body": False}]
    assert exchange.waits == 0 and exchange.complete


def test_no_body_is_one_empty_message() -> None:
    messages: list[Message] = []
    run(receiving(1, messages))
    assert messages == [{"type": "http.request", "body": b"", "more_body": False}]


def test_the_body_comes_in_pieces_as_it_arrives_then_ends() -> None:
    messages: list[Message] = []
    exchange = FakeAsyncExchange(b"a", end=False, later=[b"b", b"c", END])
    run(receiving(4, messages), exchange=exchange)
    assert messages == [
        {"type": "http.request", "body": b"a", "more_body": True},
        {"type": "http.request", "body": b"b", "more_body": True},
        {"type": "http.request", "body": b"c", "more_body": True},
        {"type": "http.request", "body": b"", "more_body": False},
    ]
    assert exchange.waits == 3 and exchange.reads == [b"a", b"b", b"c", b""]


def test_receive_waits_until_the_first_piece_arrives() -> None:
    messages: list[Message] = []
    exchange = FakeAsyncExchange(end=False, later=[b"late"])

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        messages.append(await receive())
        exchange.arrive(END)  # the end arrives before the app asks again: no wait
        messages.append(await receive())
        await hello(scope, receive, send)

    run(app, exchange=exchange)
    assert messages == [
        {"type": "http.request", "body": b"late", "more_body": True},
        {"type": "http.request", "body": b"", "more_body": False},
    ]
    assert exchange.waits == 1


def test_a_client_that_leaves_mid_body_gives_http_disconnect() -> None:
    messages: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        messages.extend([await receive(), await receive(), await receive()])
        with pytest.raises(ClientDisconnected):  # an OSError, as www.rst asks of send
            await send(START | {"headers": [(b"content-length", b"2")]})
            await send(body(b"ok"))

    exchange = run(app, exchange=FakeAsyncExchange(b"a", end=False, later=[LEAVE]))
    assert messages == [
        {"type": "http.request", "body": b"a", "more_body": True},
        {"type": "http.disconnect"},
        {"type": "http.disconnect"},
    ]
    assert exchange.heads == [] and exchange.failures == []  # handled quietly


def test_after_the_body_receive_waits_for_the_response_to_complete() -> None:
    """www.rst: http.disconnect once the response is sent or the connection closed; an app
    listening for it in another task learns when its response is complete."""
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["more_body"] is False

        async def listen() -> None:
            events.append((await receive())["type"])

        listener = asyncio.ensure_future(listen())
        await asyncio.sleep(0)
        assert not listener.done()  # nothing to say before the response is complete
        await send(START)
        events.append("start")
        await send(body())
        await listener

    exchange = run(app)
    assert events == ["start", "http.disconnect"]
    assert exchange.complete and exchange.reads == [b""]  # the body is not read past its end


def test_after_the_body_receive_gives_disconnect_when_the_client_leaves() -> None:
    messages: list[Message] = []
    exchange = FakeAsyncExchange(later=[LEAVE])
    run(receiving(2, messages), exchange=exchange)
    assert messages[1] == {"type": "http.disconnect"}
    assert exchange.sent == [] and exchange.failures == []  # send raised ClientDisconnected


def test_receive_after_the_response_is_http_disconnect() -> None:
    messages: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await hello(scope, receive, send)
        messages.append(await receive())

    exchange = run(app, exchange=FakeAsyncExchange(b"unread"))
    assert messages == [{"type": "http.disconnect"}]
    assert exchange.waits == 0 and exchange.reads == []


# ---- send: the response -----------------------------------------------------------------------


def test_a_response_in_one_body_message() -> None:
    exchange = run(hello)
    assert exchange.heads == [TEXT]
    assert exchange.sent == [Sent(b"hello", False)]
    assert exchange.complete and exchange.failures == []


def test_a_streamed_response() -> None:
    exchange = run(sending(START, body(b"a", True), body(b"", True), body(b"b", True), body(b"")))
    assert exchange.sent == [Sent(b"a", True), Sent(b"", True), Sent(b"b", True), Sent(b"", False)]
    assert exchange.body == b"ab" and exchange.complete


def test_body_and_more_body_default_to_empty_and_false() -> None:
    exchange = run(sending(START, {"type": "http.response.body"}))
    assert exchange.sent == [Sent(b"", False)] and exchange.complete


def test_the_headers_default_to_none_and_may_be_any_iterable() -> None:
    exchange = run(sending({"type": "http.response.start", "status": 204}, body(b"")))
    assert exchange.heads == [ResponseHead(204, ())]
    pairs = iter([(b"a", b"1"), [b"b", b"2"]])
    exchange = run(
        sending({"type": "http.response.start", "status": 200, "headers": pairs}, body())
    )
    given: Any = exchange.heads[0].headers  # the pairs are checked by the HTTP layer
    assert given == ((b"a", b"1"), [b"b", b"2"])
    tupled = ((b"a", b"1"),)
    exchange = run(
        sending({"type": "http.response.start", "status": 200, "headers": tupled}, body())
    )
    assert exchange.heads[0].headers is tupled


@pytest.mark.parametrize("data", [bytearray(b"hello"), memoryview(b"hello")])
def test_a_bytes_like_body_is_sent_as_bytes(data: bytes) -> None:
    exchange = run(sending(START, body(data)))
    assert exchange.sent == [Sent(b"hello", False)]


def test_a_slow_client_makes_send_wait() -> None:
    exchange = FakeAsyncExchange(slow=True)
    run(sending(START, body(b"a", True), body(b"b", True), body(b"")), exchange=exchange)
    assert exchange.drains == 2 and exchange.body == b"ab"


def test_a_declared_content_length_is_kept() -> None:
    start = START | {"headers": [(b"content-length", b"5")]}
    exchange = run(sending(start, body(b"hel", True), body(b"lo")))
    assert exchange.body == b"hello" and exchange.failures == []


# ---- send: invalid messages -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("messages", "words"),
    [
        ([{"status": 200}], "must be a dict with a type"),
        (["http.response.start"], "must be a dict with a type"),
        ([None], "must be a dict with a type"),
        ([{"type": "http.response.body", "body": b""}], "expected 'http.response.start'"),
        ([{"type": "http.response.trailers"}], "expected 'http.response.start'"),
        ([{"type": "http.response.pathsend", "path": "/"}], "expected 'http.response.start'"),
        ([{"type": "websocket.send", "text": "x"}], "unexpected ASGI message 'websocket.send'"),
        ([START, START], "expected 'http.response.body'"),
        ([START, {"type": "http.response.trailers"}], "expected 'http.response.body'"),
        ([START, {"type": "http.response.bodyy"}], "unexpected ASGI message"),
        ([{"type": "http.response.start", "status": "200"}], "status must be an int"),
        ([{"type": "http.response.start"}], "status must be an int, not None"),
        ([{"type": "http.response.start", "status": 200.0}], "status must be an int"),
        ([{"type": "http.response.start", "status": True}], "status must be an int"),
        ([{"type": "http.response.start", "status": 200, "headers": 5}], "iterable of pairs"),
        ([START, body("text")], "body must be bytes, not str"),
        ([START, body(None)], "body must be bytes, not NoneType"),
        ([START, {"type": "http.response.pathsend"}], "needs an absolute path, not None"),
        ([START, {"type": "http.response.pathsend", "path": "rel/x"}], "absolute path"),
        ([START, {"type": "http.response.pathsend", "path": b"/x"}], "absolute path"),
        ([START, {"type": "http.response.zerocopysend"}], "needs a file with a file descriptor"),
        ([START, {"type": "http.response.zerocopysend", "file": "x"}], "file descriptor"),
    ],
)
def test_an_invalid_message_is_an_app_error_naming_it(messages: list[Any], words: str) -> None:
    """The AppProtocolError is raised in the app's send; not caught, it becomes a 500."""
    raised: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            for message in messages:
                await send(message)
        except AppProtocolError as exc:
            raised.append(exc)
            raise

    exchange = run(app)
    assert raised and failure(exchange) is raised[0]
    assert words in str(raised[0])


# ---- run: what a failing app gets ---------------------------------------------------------------


@pytest.fixture(autouse=True)
def _propagating_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """caplog listens on the root logger: make sure Beemo's error log reaches it."""
    monkeypatch.setattr(logging.getLogger("beemo.error"), "propagate", True)


def test_an_app_that_raises_before_responding_gets_a_500() -> None:
    boom = RuntimeError("boom")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise boom

    exchange = run(app)
    assert failure(exchange) is boom  # the driver answers 500 (it logs through its policy)
    assert exchange.heads == []


def test_an_app_that_raises_mid_response_is_closed() -> None:
    """The driver's fail() closes once a response started; the adapter asks the same."""
    boom = RuntimeError("boom")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await send(body(b"part", True))
        raise boom

    exchange = run(app)
    assert failure(exchange) is boom and exchange.heads == [TEXT]


def test_an_app_that_raises_after_its_response_is_only_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await hello(scope, receive, send)
        raise RuntimeError("after")

    exchange = run(app, request(b"/late"))
    assert exchange.complete and exchange.failures == []
    [record] = errors(caplog)
    assert record.getMessage() == "Error handling request /late"
    assert isinstance(record.exc_info and record.exc_info[1], RuntimeError)


def test_a_message_after_the_response_is_logged_as_a_broken_contract(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exchange = run(sending(START, body(), body()))
    assert exchange.complete and exchange.failures == []
    [record] = errors(caplog)
    exc = record.exc_info[1] if record.exc_info else None
    assert isinstance(exc, AppProtocolError)
    assert record.getMessage() == f"App broke the ASGI contract handling request /: {exc}"
    assert "'http.response.body' sent after the response was complete" in str(exc)


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        ([], "the app returned without sending a response"),
        ([START], "the app returned before its response was complete"),
        ([START, body(b"a", True)], "the app returned before its response was complete"),
    ],
)
def test_an_app_that_returns_too_early_broke_the_contract(
    messages: list[Message], problem: str
) -> None:
    exc = failure(run(sending(*messages)))
    assert type(exc) is AppProtocolError and str(exc) == problem


def test_an_app_that_returns_too_early_after_the_client_left_is_quiet() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert await receive() == {"type": "http.disconnect"}

    exchange = run(app, exchange=FakeAsyncExchange(end=False, later=[LEAVE]))
    assert exchange.failures == []


def test_client_disconnected_from_send_is_handled_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An app that lets send's ClientDisconnected escape: the driver already closed."""
    exchange = FakeAsyncExchange()
    exchange.leave()
    exchange = run(hello, exchange=exchange)
    assert exchange.failures == [] and exchange.sent == [] and errors(caplog) == []


def test_an_error_from_the_last_body_piece_is_a_500_not_a_hang() -> None:
    """A whole body that is not its declared Content-Length: the exchange refuses it before
    anything went out, and the app's error must still reach fail() (a 500), not be taken for
    an error after a complete response."""
    start = START | {"headers": [(b"content-length", b"10")]}
    exchange = run(sending(start, body(b"short")))
    exc = failure(exchange)
    assert type(exc) is AppProtocolError and "Content-Length" in str(exc)
    assert exchange.heads == []


def test_a_body_short_of_its_content_length_at_the_end_is_closed() -> None:
    start = START | {"headers": [(b"content-length", b"10")]}
    exchange = run(sending(start, body(b"12345", True), body(b"")))
    exc = failure(exchange)
    assert type(exc) is AppProtocolError and "shorter" in str(exc)


# ---- HTTPCycle on its own ----------------------------------------------------------------------


def test_the_cycle_reports_started_and_complete() -> None:
    exchange = FakeAsyncExchange()
    cycle = HTTPCycle(exchange, b"/t")

    async def respond() -> list[tuple[bool, bool]]:
        states = [(cycle.started, cycle.complete)]
        await cycle.send(START)
        states.append((cycle.started, cycle.complete))
        await cycle.send(body(b"a", True))
        states.append((cycle.started, cycle.complete))
        await cycle.send(body(b""))
        states.append((cycle.started, cycle.complete))
        return states

    states = asyncio.run(respond())
    assert states == [(False, False), (True, False), (True, False), (True, True)]
    assert cycle.target == b"/t"


@pytest.mark.parametrize("started", [False, True])
def test_a_cancellation_escaping_the_app_fails_the_request_and_propagates(started: bool) -> None:
    """A CancelledError the app lets out would otherwise leave the connection waiting for a
    response that never comes: the driver is told to fail it, and the task ends cancelled."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if started:
            await send(START)
        raise asyncio.CancelledError

    exchange = FakeAsyncExchange()
    with pytest.raises(asyncio.CancelledError):
        run(app, exchange=exchange)
    assert isinstance(failure(exchange), AppProtocolError)
    assert "cancelled" in str(failure(exchange))


def test_a_cancellation_after_the_response_is_complete_only_propagates() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await hello(scope, receive, send)
        raise asyncio.CancelledError

    exchange = FakeAsyncExchange()
    with pytest.raises(asyncio.CancelledError):
        run(app, exchange=exchange)
    assert exchange.failures == []
