"""Drive the ASGI adapter the way `beemo.server.aio` does: one task per request, its
`AsyncExchange` a `FakeAsyncExchange`; plus the small apps and checks the HTTP tests share."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from beemo.adapters.asgi import ASGIAdapter, Message, Receive, Scope, Send
from beemo.adapters.asgi import ASGIApp as App
from beemo.server.http.messages import RequestHead, ResponseHead
from tests.unit.adapters.asgi_exchange import FakeAsyncExchange
from tests.unit.adapters.exchange import request

SERVER = ("127.0.0.1", 8000)
CLIENT = ("10.0.0.7", 54321)
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain")],
}
TEXT = ResponseHead(200, ((b"content-type", b"text/plain"),))


def run(
    app: App,
    req: RequestHead | None = None,
    exchange: FakeAsyncExchange | None = None,
    **options: Any,
) -> FakeAsyncExchange:
    """What the driver does: one task per request, here bounded so a hang fails the test."""
    exchange = exchange or FakeAsyncExchange()
    adapter = ASGIAdapter(app, **options)
    base = adapter.connection(SERVER, CLIENT)
    asyncio.run(asyncio.wait_for(adapter.run(req or request(), exchange, base), 5))
    return exchange


def sending(*messages: Any) -> App:
    """An app that sends `messages` in order."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for message in messages:
            await send(message)

    return app


def body(data: object = b"hello", more: bool = False) -> Message:
    """An http.response.body message."""
    return {"type": "http.response.body", "body": data, "more_body": more}


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    """The smallest complete response."""
    await send(START)
    await send(body())


def failure(exchange: FakeAsyncExchange) -> BaseException:
    """The one exception the adapter handed to `fail()`."""
    assert len(exchange.failures) == 1, exchange.failures
    return exchange.failures[0]


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The error log entries (the adapter logs what it cannot answer any more)."""
    return [r for r in caplog.records if r.name == "beemo.error" and r.levelno >= logging.ERROR]


__all__ = [
    "CLIENT",
    "SERVER",
    "START",
    "TEXT",
    "App",
    "body",
    "errors",
    "failure",
    "hello",
    "run",
    "sending",
]
