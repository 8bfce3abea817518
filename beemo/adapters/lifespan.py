"""The ASGI lifespan protocol (lifespan.rst): startup before the first connection, shutdown
after the last one.

`--lifespan auto` (the default) runs it and carries on without it when the app rejects the
lifespan scope by raising before startup completes (Django's ASGI handler does); `on` treats that
as a failure; `off` never calls the app with it. A `lifespan.startup.failed` message, or an
app that raises during startup with `on`, stops the server: `LifespanFailure`, exit status 3.
The `state` dict the app fills during startup is shallow-copied into each request's scope.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from beemo.adapters.asgi import ASGIApp, Message
from beemo.errors import AppProtocolError, LifespanFailure

__all__ = ["Lifespan"]

log = logging.getLogger("beemo.error")

_ASGI = {"version": "3.0", "spec_version": "2.0"}


class Lifespan:
    """Runs one app's lifespan scope on one event loop.

    Args:
        app: the ASGI 3 app.
        mode: "auto", "on" or "off".
    """

    def __init__(self, app: ASGIApp, mode: str) -> None:
        self.app = app
        self.mode = mode
        self.state: dict[str, Any] = {}
        self.supported = mode != "off"
        self._events: asyncio.Queue[Message] | None = None
        self._started: asyncio.Future[None] | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._failure = ""

    async def startup(self) -> None:
        """Send lifespan.startup and wait for the app's answer.

        Raises:
            LifespanFailure: the app reported a failure, or raised (with `on`).
        """
        if not self.supported:
            return
        loop = asyncio.get_running_loop()
        self._events = asyncio.Queue()
        self._started = loop.create_future()
        self._stopped = loop.create_future()
        self._task = loop.create_task(self._run())
        log.info("Waiting for application startup.")
        await self._events.put({"type": "lifespan.startup"})
        await asyncio.wait([self._started, self._task], return_when=asyncio.FIRST_COMPLETED)
        if self._failure:
            raise LifespanFailure(self._failure)
        if self.supported:
            log.info("Application startup complete.")

    async def shutdown(self, timeout: float) -> None:
        """Send lifespan.shutdown and wait, at most `timeout` seconds, for the answer."""
        if not self.supported or self._events is None or self._task is None:
            return
        assert self._stopped is not None
        log.info("Waiting for application shutdown.")
        await self._events.put({"type": "lifespan.shutdown"})
        done, _ = await asyncio.wait(
            [self._stopped, self._task], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if not done:
            log.warning("Application shutdown timed out after %g s", timeout)
            self._task.cancel()
        elif self._failure:
            log.error("Application shutdown failed: %s", self._failure)
        else:
            log.info("Application shutdown complete.")

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": _ASGI, "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except Exception as exc:
            assert self._started is not None
            if self._started.done():
                log.error("Exception in the lifespan protocol", exc_info=exc)
                self._failure = self._failure or f"{type(exc).__name__}: {exc}"
            elif self.mode == "auto":
                log.info("ASGI 'lifespan' protocol appears unsupported.")
                self.supported = False
            else:
                log.error("Exception in 'lifespan' protocol", exc_info=exc)
                self._failure = f"the application's startup raised {type(exc).__name__}: {exc}"
        finally:
            for future in (self._started, self._stopped):
                if future is not None and not future.done():
                    future.set_result(None)

    async def _receive(self) -> Message:
        assert self._events is not None
        return await self._events.get()

    async def _send(self, message: Message) -> None:
        assert self._started is not None and self._stopped is not None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "lifespan.startup.complete" and not self._started.done():
            self._started.set_result(None)
        elif kind == "lifespan.startup.failed" and not self._started.done():
            self._failure = str(message.get("message", "")) or "application startup failed"
            self._started.set_result(None)
        elif kind == "lifespan.shutdown.complete" and self._started.done():
            self._stopped.set_result(None)
        elif kind == "lifespan.shutdown.failed" and self._started.done():
            self._failure = str(message.get("message", "")) or "application shutdown failed"
            self._stopped.set_result(None)
        else:
            raise AppProtocolError(f"unexpected lifespan message {message!r}")
