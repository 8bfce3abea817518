"""asyncio loops on the seed's worker threads: the asyncio driver's half of the loop (ASGI).

`--threads N` threads each run one event loop (uvloop when installed and `--loop` allows). T0
(`beemo.server.acceptor.Server`) accepts and gives each connection to one loop, round-robin,
for its whole life: `adopt` queues the socket and wakes the loop once per batch, and the loop
makes its transport and `HTTPProtocol`. Requests then run as tasks on that loop, with no thread
hand-off.

T0 asks the loops, never their connections: once a second to enforce deadlines (`tick`), once
to drain (`drain`). The lifespan runs on the first loop, before T0 accepts (in `start`) and
after the last connection closed (in `stop`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import importlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from beemo.config import Config
from beemo.errors import ConfigError
from beemo.server.aio import AsyncHandler, HTTPProtocol, LoopShared
from beemo.server.http.policy import ServerState

__all__ = ["Lifecycle", "LoopPool", "loop_factory"]

log = logging.getLogger("beemo.error")


class Lifecycle(Protocol):
    """The app's lifespan, as the pool runs it (`beemo.adapters.lifespan.Lifespan`)."""

    async def startup(self) -> None: ...

    async def shutdown(self, timeout: float) -> None: ...


def loop_factory(name: str) -> tuple[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The event loop implementation for `--loop` (auto, asyncio or uvloop), and its name.

    Raises:
        ConfigError: uvloop was asked for and is not installed.
    """
    if name in ("auto", "uvloop"):
        try:
            uvloop: Any = importlib.import_module("uvloop")
        except ImportError:
            if name == "uvloop":
                raise ConfigError(
                    "--loop uvloop: uvloop is not installed (pip install 'beemo[standard]')"
                ) from None
        else:
            return "uvloop", uvloop.new_event_loop
    return "asyncio", asyncio.new_event_loop


class LoopWorker:
    """One thread running one event loop and the connections T0 gave it."""

    def __init__(self, index: int, shared: LoopShared) -> None:
        self.loop = shared.loop
        self.shared = shared
        self._pending: collections.deque[tuple[socket.socket, Any, tuple[str, int]]] = (
            collections.deque()
        )
        self._scheduled = False
        self.thread = threading.Thread(target=self._run, name=f"beemo-loop-{index}", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def adopt(self, sock: socket.socket, client: Any, server: tuple[str, int]) -> None:
        """T0: queue an accepted socket; the loop is woken once per batch."""
        self._pending.append((sock, client, server))
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon_threadsafe(self._take)

    def _take(self) -> None:
        self._scheduled = False  # before draining: a socket queued from now on wakes us again
        pending = self._pending
        loop = self.loop
        shared = self.shared
        while pending:
            sock, client, server = pending.popleft()
            protocol = HTTPProtocol(shared, server, client)
            _advance(loop.connect_accepted_socket(_returning(protocol), sock), None)

    def expire(self, now: float, draining: bool) -> None:
        """In the loop: close the connections that waited past their deadline."""
        for protocol in list(self.shared.connections):
            protocol.expire(now, draining)


def _returning(protocol: HTTPProtocol) -> Callable[[], HTTPProtocol]:
    return lambda: protocol


def _advance(setup: Coroutine[Any, Any, Any], _done: object) -> None:
    """Run a connection's setup coroutine (connect_accepted_socket) to its next wait.

    It is driven without a Task: it only waits for the transport's connection_made, it needs
    no current task, and a Task would cost a tenth of a short connection (the object, its
    registration in asyncio's weak set of all tasks, and one more loop iteration to start).
    """
    try:
        awaited = setup.send(None)
    except StopIteration:
        return
    except (Exception, asyncio.CancelledError) as exc:
        log.debug("Could not set up a connection: %s", exc)
        return
    if awaited is None:  # a bare yield: resume on the next iteration
        asyncio.get_running_loop().call_soon(_advance, setup, None)
    else:  # a future, as a Task would see it
        awaited._asyncio_future_blocking = False
        awaited.add_done_callback(functools.partial(_advance, setup))


class LoopPool:
    """The loops that serve ASGI connections.

    Args:
        config: the settings (threads, limits, loop).
        state: the server state every connection reads.
        handler: the adapter's per-request coroutine.
        connect: the adapter's per-connection setup.
        lifespan: the app's lifespan, run on the first loop.
    """

    def __init__(
        self,
        config: Config,
        state: ServerState,
        handler: AsyncHandler,
        connect: Callable[[tuple[str, int], Any], Any],
        lifespan: Lifecycle,
    ) -> None:
        self.name, factory = loop_factory(config.loop)
        self._threads = config.threads
        self._state = state
        self._graceful = config.graceful_timeout
        self._lifespan = lifespan
        self._workers = [
            LoopWorker(index, LoopShared(factory(), handler, connect, state, config))
            for index in range(config.threads)
        ]
        self._next = 0
        self._drain_asked = False

    def describe(self) -> str:
        return f"event loop: {self.name}, threads: {self._threads}"

    def start(self) -> None:
        """Start the loops and run the lifespan startup on the first.

        Raises:
            LifespanFailure: the app's startup failed (the loops are stopped again).
        """
        for worker in self._workers:
            worker.thread.start()
        first = self._workers[0].loop
        try:
            asyncio.run_coroutine_threadsafe(self._lifespan.startup(), first).result()
        except BaseException:
            self._stop_loops()
            raise

    def adopt(self, sock: socket.socket, client: object, server: tuple[str, int]) -> None:
        workers = self._workers
        index = self._next
        self._next = (index + 1) % len(workers)
        workers[index].adopt(sock, client, server)

    @property
    def open_connections(self) -> int:
        return sum(len(worker.shared.connections) for worker in self._workers)

    def tick(self, now: float) -> None:
        for worker in self._workers:
            worker.loop.call_soon_threadsafe(worker.expire, now, self._state.draining)

    def drain(self, now: float) -> None:
        if not self._drain_asked:
            self._drain_asked = True
            for worker in self._workers:
                worker.loop.call_soon_threadsafe(worker.expire, now, True)

    def stop(self) -> None:
        """Run the lifespan shutdown on the first loop, then stop and close every loop."""
        first = self._workers[0].loop
        future = asyncio.run_coroutine_threadsafe(self._lifespan.shutdown(self._graceful), first)
        with contextlib.suppress(Exception):
            future.result(self._graceful + 1.0)
        self._stop_loops()

    def _stop_loops(self) -> None:
        for worker in self._workers:
            with contextlib.suppress(RuntimeError):
                worker.loop.call_soon_threadsafe(worker.loop.stop)
        deadline = time.monotonic() + 2.0
        for worker in self._workers:
            worker.thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if not worker.thread.is_alive():
                with contextlib.suppress(Exception):
                    worker.loop.close()
