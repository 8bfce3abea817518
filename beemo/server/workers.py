"""The multithreaded event loop: T0 accepts, N worker threads serve.

T0 (the thread that calls `Server.run`, normally the main thread, so it also receives signals)
binds nothing itself: it gets listening sockets, accepts in batches, creates a `Channel` for
each connection and arms it for READ in the shared poller. Every worker thread blocks in
`poller.poll`; the one-shot contract hands each ready connection to exactly one of them, which
runs the channel until the channel re-arms itself or closes. An idle keep-alive connection is
only an armed fd: it holds no thread.

Once a second T0 refreshes the Date stamp and expires overdue channels (`Channel.deadline`)
by shutting their socket down, which wakes their owner through the poller with an EOF.

Stopping (SIGTERM/SIGINT, or `stop()`): close the listeners, close idle connections at once,
let in-flight requests finish (no new request is started on their connection) for at most the
graceful timeout, then wake and join the workers. A second SIGINT, or SIGQUIT, stops at once.
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

from beemo.config import Config
from beemo.server.channel import Channel, Connect, Handler, Shared
from beemo.server.events import READ, create_poller, poller_name
from beemo.server.http.connection import HTTPConnection
from beemo.server.listeners import Listener
from beemo.server.transport import Transport

__all__ = ["Server"]

log = logging.getLogger("beemo.error")

_ACCEPT_BATCH = 64
# With one worker, taking many events per poll() saves system calls. With several, a worker
# takes one event at a time, so a connection never waits behind a slow request on a worker
# while another worker is free.
_BATCH_ALONE = 64


class Server:
    """One process's server: listeners, a poller, T0 and the worker threads.

    Args:
        config: the settings (threads, timeouts, limits, poller, logging).
        handler: the adapter entry point called for each request.
        connect: the adapter's per-connection setup, called once per accepted connection.
        listeners: bound, listening, non-blocking sockets.
    """

    def __init__(
        self, config: Config, handler: Handler, connect: Connect, listeners: Sequence[Listener]
    ) -> None:
        self.config = config
        self.listeners = list(listeners)
        self.poller_name = poller_name(config.poller)
        self.poller = create_poller(self.poller_name, consumers=config.threads)
        self.channels: dict[int, Channel] = {}
        self.shared = Shared(
            self.poller,
            handler,
            connect,
            self.channels,
            keep_alive=config.keep_alive,
            client_timeout=config.client_timeout,
            access_log=config.access_log,
        )
        self._limits = config.limits
        self._running = True
        self._stop_requested = False
        self._graceful = config.graceful_timeout
        self._interrupts = 0
        self._signals: list[str] = []  # received, not yet logged
        self._accept_error_logged = 0.0
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._workers: list[threading.Thread] = []
        self._second = 0
        self.started = threading.Event()  # set once the workers run (for embedding and tests)
        self._refresh_stamp()

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
        for index in range(self.config.threads):
            worker = threading.Thread(target=self._work, name=f"beemo-worker-{index}", daemon=True)
            worker.start()
            self._workers.append(worker)
        selector = selectors.DefaultSelector()
        for listener in self.listeners:
            selector.register(listener.sock, selectors.EVENT_READ, listener)
        selector.register(self._wake_reader, selectors.EVENT_READ, None)
        for listener in self.listeners:
            log.info("Listening at: %s (%d)", listener.url, os.getpid())
        log.info("Using poller: %s, threads: %d", self.poller_name, self.config.threads)
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
        accept = listener.sock.accept
        shared = self.shared
        server = (listener.server_name, listener.server_port)
        tcp = not listener.unix
        for _ in range(_ACCEPT_BATCH):
            try:
                sock, peer = accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE, ENFILE, ECONNABORTED...: keep serving
                now = time.monotonic()
                if now - self._accept_error_logged >= 1.0:  # the listener stays readable:
                    self._accept_error_logged = now  # one line a second, not one per retry
                    log.error("accept() failed: %s", exc)
                time.sleep(0.01)  # out of fds: let workers close some before retrying
                return
            sock.setblocking(False)
            if tcp:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            transport = Transport(sock, peer)
            channel = Channel(
                transport, HTTPConnection(self._limits), shared, server, peer if tcp else None
            )
            self.channels[transport.fd] = channel
            self.poller.register(transport.fd, READ)

    def _log_signals(self) -> None:
        while self._signals:
            log.info("Handling signal: %s", self._signals.pop(0))

    def _tick(self) -> None:
        self._log_signals()
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._refresh_stamp()
            self._expire()

    def _refresh_stamp(self) -> None:
        self.shared.stamp = f"date: {formatdate(usegmt=True)}\r\nserver: beemo\r\n"

    def _expire(self) -> None:
        now = time.monotonic()
        for channel in list(self.channels.values()):
            deadline = channel.deadline
            # Bytes waiting mean a request (or more of one) arrived and waits for a busy worker:
            # that is not an idle or stalled client.
            if deadline and deadline < now and not channel.transport.input_waiting():
                channel.transport.shutdown()  # its owner sees EOF and closes it

    def _drain_wakeups(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_reader.recv(4096):
                pass

    def _shutdown(self) -> None:
        """Stop accepting, close idle connections, let in-flight requests finish, stop workers."""
        self._log_signals()
        self.shared.draining = True
        for listener in self.listeners:
            listener.sock.close()
            if listener.unix:
                with contextlib.suppress(OSError):
                    os.unlink(listener.address.host)
        started = time.monotonic()
        # self._graceful is read on every pass: a second SIGINT during the wait sets it to 0.
        while self.channels and time.monotonic() < started + self._graceful:
            for channel in list(self.channels.values()):
                # Idle means parked between requests; a request that already arrived and
                # waits for a worker is served (its response then closes the connection).
                if channel.idle and not channel.transport.input_waiting():
                    channel.transport.shutdown()
            time.sleep(0.01)
            self._tick()
        if self.channels:
            log.warning("Graceful timeout: %d connection(s) still open", len(self.channels))
        self._running = False
        self.poller.wake()
        for worker in self._workers:
            worker.join(timeout=1.0)
        for channel in list(self.channels.values()):
            with contextlib.suppress(OSError):
                channel.transport.sock.close()
        self.poller.close()
        self._wake_reader.close()
        self._wake_writer.close()
        self._log_signals()
        log.info("Shutting down: beemo")

    # ---- workers -------------------------------------------------------------------------

    def _work(self) -> None:
        poll = self.poller.poll
        channels = self.channels
        batch = _BATCH_ALONE if self.config.threads == 1 else 1
        while self._running:
            for fd, bits in poll(None, batch):
                channel = channels.get(fd)
                if channel is not None:
                    channel.handle(bits)
