"""The ASGI lifespan protocol (lifespan.rst), run on a small event loop with plain test apps."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from beemo.adapters.asgi import ASGIApp as App
from beemo.adapters.asgi import Message, Receive, Scope, Send
from beemo.adapters.lifespan import Lifespan
from beemo.errors import AppProtocolError, LifespanFailure


@pytest.fixture(autouse=True)
def _propagating_logs(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(logging.getLogger("beemo.error"), "propagate", True)
    caplog.set_level(logging.INFO, "beemo.error")


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "beemo.error"]


def serve(lifespan: Lifespan, timeout: float = 1.0, between: Any = None) -> None:
    """What the loop pool does: startup, serve (run `between`), shutdown."""

    async def main() -> None:
        await lifespan.startup()
        if between is not None:
            await between()
        await lifespan.shutdown(timeout)

    asyncio.run(asyncio.wait_for(main(), 5))


def complete_app(log: list[Any]) -> App:
    """A well-behaved app: it answers startup and shutdown, and logs what it got."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        log.append(scope)
        message = await receive()
        log.append(message)
        scope["state"]["db"] = "open"
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        log.append(message)
        await send({"type": "lifespan.shutdown.complete"})

    return app


def test_startup_and_shutdown_complete(caplog: pytest.LogCaptureFixture) -> None:
    log: list[Any] = []
    lifespan = Lifespan(complete_app(log), "auto")
    serve(lifespan)
    scope, startup, shutdown = log
    assert scope["type"] == "lifespan"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.0"}
    assert scope["state"] is lifespan.state and lifespan.state == {"db": "open"}
    assert (startup, shutdown) == ({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"})
    assert lifespan.supported
    assert lines(caplog) == [
        (logging.INFO, "Waiting for application startup."),
        (logging.INFO, "Application startup complete."),
        (logging.INFO, "Waiting for application shutdown."),
        (logging.INFO, "Application shutdown complete."),
    ]


def test_the_app_runs_on_while_the_server_serves() -> None:
    log: list[Any] = []
    lifespan = Lifespan(complete_app(log), "on")

    async def between() -> None:
        await asyncio.sleep(0.01)
        assert len(log) == 2  # startup is answered; shutdown is not sent yet

    serve(lifespan, between=between)
    assert len(log) == 3


@pytest.mark.parametrize("mode", ["auto", "on"])
@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"type": "lifespan.startup.failed", "message": "no database"}, "no database"),
        ({"type": "lifespan.startup.failed"}, "application startup failed"),
        ({"type": "lifespan.startup.failed", "message": ""}, "application startup failed"),
    ],
)
def test_startup_failed_stops_the_server(mode: str, message: Message, reason: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(message)
        await receive()  # the server never sends shutdown after a failed startup

    lifespan = Lifespan(app, mode)
    with pytest.raises(LifespanFailure) as caught:
        serve(lifespan)
    assert str(caught.value) == reason and caught.value.exit_status == 3


def test_startup_failed_then_raising_keeps_the_apps_message() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})
        raise RuntimeError("and then this")

    with pytest.raises(LifespanFailure, match="^no database$"):
        serve(Lifespan(app, "on"))


def test_an_app_that_rejects_the_scope_in_auto_mode_runs_without_lifespan(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Django's ASGI handler raises on any scope but http: auto carries on without it."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")

    lifespan = Lifespan(app, "auto")
    serve(lifespan)
    assert not lifespan.supported
    assert lines(caplog) == [
        (logging.INFO, "Waiting for application startup."),
        (logging.INFO, "ASGI 'lifespan' protocol appears unsupported."),
    ]  # no shutdown is sent


def test_an_app_that_raises_after_receiving_startup_in_auto_mode_is_unsupported() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise RuntimeError("no lifespan here")

    lifespan = Lifespan(app, "auto")
    serve(lifespan)
    assert not lifespan.supported


def test_an_app_that_raises_at_startup_in_on_mode_stops_the_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise RuntimeError("boom")

    with pytest.raises(LifespanFailure) as caught:
        serve(Lifespan(app, "on"))
    assert str(caught.value) == "the application's startup raised RuntimeError: boom"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == ["Exception in 'lifespan' protocol"]
    assert errors[0].exc_info is not None


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_an_app_that_returns_early_counts_as_started(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An app that returns from the lifespan scope without a word: startup is not blocked,
    and shutdown does not wait for an answer that cannot come."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        return

    lifespan = Lifespan(app, mode)
    serve(lifespan, timeout=30)  # would time out the test if shutdown waited
    assert lifespan.supported
    assert (logging.INFO, "Application shutdown complete.") in lines(caplog)


def test_an_app_that_returns_after_startup_completes_shuts_down_at_once() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})

    serve(Lifespan(app, "on"), timeout=30)


@pytest.mark.parametrize(
    ("message", "logged"),
    [
        ({"type": "lifespan.shutdown.failed", "message": "flush failed"}, "flush failed"),
        ({"type": "lifespan.shutdown.failed"}, "application shutdown failed"),
    ],
)
def test_shutdown_failed_is_logged(
    message: Message, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send(message)

    serve(Lifespan(app, "on"))
    assert lines(caplog)[-1] == (logging.ERROR, f"Application shutdown failed: {logged}")


def test_an_app_that_raises_at_shutdown_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        raise RuntimeError("boom")

    serve(Lifespan(app, "auto"))
    assert lines(caplog)[-2:] == [
        (logging.ERROR, "Exception in the lifespan protocol"),
        (logging.ERROR, "Application shutdown failed: RuntimeError: boom"),
    ]


def test_a_shutdown_that_takes_too_long_is_cancelled(caplog: pytest.LogCaptureFixture) -> None:
    cancelled: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        lifespan = Lifespan(app, "on")
        await lifespan.startup()
        await lifespan.shutdown(0.01)
        await asyncio.sleep(0)  # the cancellation reaches the app

    asyncio.run(asyncio.wait_for(main(), 5))
    assert cancelled == [True]
    assert (logging.WARNING, "Application shutdown timed out after 0.01 s") in lines(caplog)


@pytest.mark.parametrize(
    ("message", "after_startup"),
    [
        ({"type": "lifespan.shutdown.complete"}, False),
        ({"type": "lifespan.shutdown.failed"}, False),
        ({"type": "http.response.start", "status": 200}, False),
        ({"status": 200}, False),
        (["type", "lifespan.startup.complete"], False),
        ({"type": "lifespan.startup.complete"}, True),
        ({"type": "lifespan.startup.failed"}, True),
    ],
)
def test_an_unexpected_message_raises_in_the_apps_send(message: Any, after_startup: bool) -> None:
    raised: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        if after_startup:
            await send({"type": "lifespan.startup.complete"})
        try:
            await send(message)
        except AppProtocolError as exc:
            raised.append(exc)
        if not after_startup:
            await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    serve(Lifespan(app, "on"))
    [exc] = raised
    assert str(exc) == f"unexpected lifespan message {message!r}"


def test_mode_off_never_calls_the_app(caplog: pytest.LogCaptureFixture) -> None:
    called: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope)

    lifespan = Lifespan(app, "off")
    serve(lifespan)
    assert called == [] and not lifespan.supported and lines(caplog) == []


def test_shutdown_without_startup_does_nothing(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("never called")

    asyncio.run(Lifespan(app, "on").shutdown(1.0))
    assert lines(caplog) == []
