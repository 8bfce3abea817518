"""T0: the thread that accepts connections and hands each to exactly one worker.

T0 (the thread that calls `Server.run`, normally the main thread, so it also receives signals)
binds nothing itself: it gets listening sockets, accepts one connection per readiness event
and gives each to the pool of workers (`ThreadPool` for WSGI: threads on a shared one-shot
poller; `LoopPool` for ASGI: one asyncio loop per thread). Once a second it refreshes the Date
stamp and the access log's clock and lets the pool enforce deadlines; T0 never does I/O on a
socket a worker owns.

Stopping (SIGTERM/SIGINT, or `stop()`): close the listeners, let the pool close idle
connections at once and in-flight requests finish (no new request is started on their
connection) for at most the graceful timeout, then stop the workers. A second SIGINT, or
SIGQUIT, stops at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import threading
import time
from collections.abc import Sequence
from email.utils import formatdate
from types import FrameType
from typing import Protocol

from beemo.config import Config
from beemo.server.http.policy import ServerState
from beemo.server.listeners import Listener, Socket

__all__ = ["Pool", "Server", "server_state"]

log = logging.getLogger("beemo.error")


class Pool(Protocol):
    """The workers T0 hands connections to."""

    @property
    def open_connections(self) -> int: ...

    def describe(self) -> str: ...

    def start(self) -> None: ...

    def adopt(self, sock: socket.socket, client: object, server: tuple[str, int]) -> None: ...

    def tick(self, now: float) -> None: ...

    def drain(self, now: float) -> None: ...

    def stop(self) -> None: ...


def server_state(config: Config) -> ServerState:
    """The state every connection of a server reads, from the settings."""
    return ServerState(
        keep_alive=config.keep_alive,
        client_timeout=config.client_timeout,
        access_log=config.access_log,
    )


class Server:
    """One process's server: listeners, T0 and a pool of workers.

    Args:
        config: the settings (timeouts, graceful timeout).
        state: the server state the pool's connections read (T0 updates it).
        pool: the workers that serve the connections T0 accepts.
        listeners: bound, listening, non-blocking sockets.
    """

    def __init__(
        self, config: Config, state: ServerState, pool: Pool, listeners: Sequence[Listener]
    ) -> None:
        self.config = config
        self.state = state
        self.pool = pool
        self.listeners = list(listeners)
        self._stop_requested = False
        self._graceful = config.graceful_timeout
        self._interrupts = 0
        self._signals: list[str] = []  # received, not yet logged
        self._accept_error_logged = 0.0
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._second = 0
        self.started = threading.Event()  # set once the workers run (for embedding and tests)
        self._refresh_clock()

    # ---- control -------------------------------------------------------------------------

    def stop(self, graceful: bool = True) -> None:
        """Ask T0 to stop (thread-safe); `graceful=False` skips the wait for in-flight work."""
        if not graceful:
            self._graceful = 0.0
        self._stop_requested = True
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Signal handlers only enqueue: T0's loop does the work.
        if signum == signal.SIGINT:
            self._interrupts += 1
        self._signals.append(signal.Signals(signum).name[3:].lower())  # logged by T0's loop
        immediate = self._interrupts > 1 or signum == getattr(signal, "SIGQUIT", None)
        self.stop(graceful=not immediate)

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for name in ("SIGTERM", "SIGINT", "SIGQUIT"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), self._on_signal)

    # ---- T0 ------------------------------------------------------------------------------

    def run(self) -> None:
        """Serve until stopped; returns once every worker has exited."""
        self._install_signals()
        self.pool.start()
        selector = selectors.DefaultSelector()
        for listener in self.listeners:
            selector.register(listener.sock, selectors.EVENT_READ, listener)
        selector.register(self._wake_reader, selectors.EVENT_READ, None)
        for listener in self.listeners:
            log.info("Listening at: %s (%d)", listener.url, os.getpid())
        log.info("Using %s", self.pool.describe())
        self.started.set()
        try:
            while not self._stop_requested:
                timeout = max(0.0, self._second + 1 - time.time())
                for key, _ in selector.select(timeout):
                    if key.data is None:
                        self._drain_wakeups()
                    else:
                        self._accept(key.data)
                self._tick()
        finally:
            selector.close()
            self._shutdown()

    def _accept(self, listener: Listener) -> None:
        """Accept one connection and hand it to the pool.

        One per readiness event: the selector is level-triggered and reports the listener
        again while connections wait, and an accept() that finds none raises, which costs
        about ten select calls. socket.accept() is not used: it converts the family and the
        type to enums on every call (see `listeners.Socket`).
        """
        listening = listener.sock
        try:
            fd, peer = listening._accept()  # type: ignore[attr-defined]  # what accept() calls
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # EMFILE, ENFILE, ECONNABORTED...: keep serving
            now = time.monotonic()
            if now - self._accept_error_logged >= 1.0:  # the listener stays readable:
                self._accept_error_logged = now  # one line a second, not one per retry
                log.error("accept() failed: %s", exc)
            time.sleep(0.01)  # out of fds: let workers close some before retrying
            return
        sock = Socket(listening.family, listening.type, listening.proto, fd)
        if listener.unix:
            peer = None
        self.pool.adopt(sock, peer, (listener.server_name, listener.server_port))

    def _log_signals(self) -> None:
        while self._signals:
            log.info("Handling signal: %s", self._signals.pop(0))

    def _tick(self) -> None:
        self._log_signals()
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._refresh_clock()
            self.pool.tick(time.monotonic())

    def _refresh_clock(self) -> None:
        state = self.state
        state.stamp = f"date: {formatdate(usegmt=True)}\r\nserver: beemo\r\n"
        state.log_time = time.strftime("%d/%b/%Y:%H:%M:%S %z")

    def _drain_wakeups(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_reader.recv(4096):
                pass

    def _shutdown(self) -> None:
        """Stop accepting, close idle connections, let in-flight requests finish, stop workers."""
        self._log_signals()
        self.state.draining = True
        for listener in self.listeners:
            listener.sock.close()
            if listener.unix:
                with contextlib.suppress(OSError):
                    os.unlink(listener.address.host)
        pool = self.pool
        started = time.monotonic()
        # self._graceful is read on every pass: a second SIGINT during the wait sets it to 0.
        while pool.open_connections and time.monotonic() < started + self._graceful:
            pool.drain(time.monotonic())
            time.sleep(0.01)
            self._tick()
        if pool.open_connections:
            log.warning("Graceful timeout: %d connection(s) still open", pool.open_connections)
        pool.stop()
        self._wake_reader.close()
        self._wake_writer.close()
        self._log_signals()
        log.info("Shutting down: beemo")
