"""Worker threads on the shared poller: the thread driver's half of the multithreaded loop.

T0 (`beemo.server.acceptor.Server`) accepts and hands each connection to `ThreadPool.adopt`,
which creates its `Channel` and arms it for READ in the shared poller. Every worker thread
blocks in `poller.poll`; the one-shot contract hands each ready connection to exactly one of
them, which claims the channel and runs it until the channel parks itself or closes. An idle
keep-alive connection is only an armed fd: it holds no thread.

T0 enforces deadlines through `tick` (once a second) and `drain` (while stopping): it claims
each due channel as a worker would, so it never does I/O on a socket a worker owns.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from beemo.config import Config
from beemo.server.channel import Channel, Connect, Handler, Shared
from beemo.server.events import READ, create_poller, poller_name
from beemo.server.http.connection import HTTPConnection
from beemo.server.http.policy import ServerState
from beemo.server.transport import Transport

__all__ = ["ThreadPool"]

# With one worker, taking many events per poll() saves system calls. With several, a worker
# takes one event at a time, so a connection never waits behind a slow request on a worker
# while another worker is free.
_BATCH_ALONE = 64


class ThreadPool:
    """The poller and the worker threads that serve WSGI connections.

    Args:
        config: the settings (threads, limits, poller).
        state: the server state every connection reads.
        handler: the adapter entry point called for each request.
        connect: the adapter's per-connection setup, called once per accepted connection.
    """

    def __init__(
        self, config: Config, state: ServerState, handler: Handler, connect: Connect
    ) -> None:
        self.name = poller_name(config.poller)
        self.poller = create_poller(self.name, consumers=config.threads)
        self.channels: dict[int, Channel] = {}
        self._shared = Shared(self.poller, handler, connect, self.channels, state)
        self._limits = config.limits
        self._threads = config.threads
        self._running = True
        self._workers: list[threading.Thread] = []

    def describe(self) -> str:
        return f"poller: {self.name}, threads: {self._threads}"

    def start(self) -> None:
        for index in range(self._threads):
            worker = threading.Thread(target=self._work, name=f"beemo-worker-{index}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def adopt(self, sock: socket.socket, client: object, server: tuple[str, int]) -> None:
        """T0: take an accepted socket and arm it for its first request."""
        sock.setblocking(False)
        if client is not None:  # TCP (a unix socket has no peer address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = Transport(sock, client)
        channel = Channel(
            transport, HTTPConnection(self._limits), self._shared, server, client, time.monotonic()
        )
        self.channels[transport.fd] = channel
        self.poller.register(transport.fd, READ)

    @property
    def open_connections(self) -> int:
        return len(self.channels)

    def tick(self, now: float) -> None:
        """T0, once a second: close the channels that waited past their deadline."""
        for channel in list(self.channels.values()):
            if channel.policy.expired(now) and channel.claim(False):
                channel.expire(now, draining=False)

    def drain(self, now: float) -> None:
        """T0, while stopping: close idle channels (a request already waiting is served)."""
        for channel in list(self.channels.values()):
            policy = channel.policy
            if (policy.idle or policy.expired(now)) and channel.claim(False):
                channel.expire(now, draining=True)

    def stop(self) -> None:
        """Wake and join the workers, then close what is left."""
        self._running = False
        self.poller.wake()
        for worker in self._workers:
            worker.join(timeout=1.0)
        for channel in list(self.channels.values()):
            with contextlib.suppress(OSError):
                channel.transport.sock.close()
        self.poller.close()

    def _work(self) -> None:
        poll = self.poller.poll
        channels = self.channels
        batch = _BATCH_ALONE if self._threads == 1 else 1
        while self._running:
            for fd, bits in poll(None, batch):
                channel = channels.get(fd)
                if channel is not None and channel.claim(False):
                    channel.handle(bits)
