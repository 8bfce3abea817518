"""Portable backend: the epoll one-shot contract emulated on `select()`.

Windows has no epoll. This poller keeps the armed fds in a table; one `poll()` caller at a time
(the leader) runs `select()` on them while the other callers wait on a condition. Ready fds are
disarmed under the lock and queued, and each queued event is taken by exactly one caller, so a
ready connection goes to exactly one worker, as with EPOLLONESHOT.

Limits of `select()` that shape the code (`selectmodule.c`, `selectors.SelectSelector`):
- Windows accepts at most 512 sockets per call, so fds are passed in chunks of `MAX_PER_SELECT`;
  with more than one chunk the leader polls each chunk without blocking and then naps on the
  first one for at most `_MULTI_CHUNK_NAP` seconds, a bounded poll rather than a busy loop;
- a failed `connect` is reported in the exception set, so it counts as ready;
- only sockets may be passed (Beemo only registers sockets);
- on Linux, fds must stay below FD_SETSIZE (1024); this backend is for tests there.

A registration made while the leader is in `select()` interrupts it through a socketpair, so the
new fd is watched without waiting for a timeout.
"""

from __future__ import annotations

import collections
import select
import socket
import threading
import time

from beemo.os.contract import READ, WRITE

__all__ = ["MAX_PER_SELECT", "SelectPoller"]

MAX_PER_SELECT = 512
_MULTI_CHUNK_NAP = 0.005


class SelectPoller:
    """One-shot poller on select(): same contract as `EpollPoller`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready_or_free = threading.Condition(self._lock)
        self._armed: dict[int, int] = {}
        self._ready: collections.deque[tuple[int, int]] = collections.deque()
        self._leader_busy = False
        self._in_select = False
        self._woken = False
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)

    def register(self, fd: int, interest: int) -> None:
        """Start watching `fd`, armed once for `interest` (READ or WRITE)."""
        with self._lock:
            self._armed[fd] = interest
            interrupt = self._in_select
        if interrupt:
            self._interrupt()

    rearm = register

    def unregister(self, fd: int) -> None:
        """Stop watching `fd`; a no-op when it is already gone.

        An fd still armed may be in the leader's select(), which holds the socket open until
        it returns (Linux): interrupt it, so that closing the socket closes the connection.
        """
        with self._lock:
            armed = self._armed.pop(fd, None)
            interrupt = armed is not None and self._in_select
        if interrupt:
            self._interrupt()

    def poll(self, timeout: float | None, max_events: int) -> list[tuple[int, int]]:
        """Wait for ready fds: a list of (fd, readiness bits), each fd now disarmed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                while not self._ready and self._leader_busy and not self._woken:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return []
                    self._ready_or_free.wait(remaining)
                if self._ready:
                    count = min(max_events, len(self._ready))
                    return [self._ready.popleft() for _ in range(count)]
                if self._woken:
                    return []
                self._leader_busy = True
                self._in_select = True
                armed = list(self._armed.items())
            try:
                found = self._select(armed, deadline)
            finally:
                with self._lock:
                    self._in_select = False
                    self._leader_busy = False
                    for fd, bits in found:
                        if self._armed.pop(fd, None) is not None:
                            self._ready.append((fd, bits))
                    self._ready_or_free.notify_all()
            if not found and deadline is not None and time.monotonic() >= deadline:
                return []

    def _select(
        self, armed: list[tuple[int, int]], deadline: float | None
    ) -> list[tuple[int, int]]:
        wake_fd = self._wake_reader.fileno()
        chunks = [
            armed[i : i + MAX_PER_SELECT - 1] for i in range(0, len(armed), MAX_PER_SELECT - 1)
        ] or [[]]
        if len(chunks) > 1:
            for chunk in chunks:
                found = self._select_chunk(chunk, None, 0.0)
                if found:
                    return found
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        if len(chunks) > 1:
            timeout = _MULTI_CHUNK_NAP if timeout is None else min(timeout, _MULTI_CHUNK_NAP)
        return self._select_chunk(chunks[0], wake_fd, timeout)

    def _select_chunk(
        self, chunk: list[tuple[int, int]], wake_fd: int | None, timeout: float | None
    ) -> list[tuple[int, int]]:
        readers = [fd for fd, interest in chunk if interest & READ]
        writers = [fd for fd, interest in chunk if interest & WRITE]
        every = [fd for fd, _ in chunk]
        if wake_fd is not None:
            readers.append(wake_fd)
        try:
            readable, writable, failed = select.select(readers, writers, every, timeout)
        except (OSError, ValueError):
            return self._find_dead(chunk)
        bits: dict[int, int] = {}
        for fd in readable:
            bits[fd] = bits.get(fd, 0) | READ
        for fd in writable:
            bits[fd] = bits.get(fd, 0) | WRITE
        for fd in failed:
            bits[fd] = bits.get(fd, 0) | READ | WRITE
        if wake_fd is not None and bits.pop(wake_fd, 0):
            self._drain_wakeups()
        return list(bits.items())

    def _find_dead(self, chunk: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """A closed fd makes select() fail: report it ready so its owner sees the error."""
        dead = []
        for fd, _ in chunk:
            try:
                select.select([fd], [], [], 0)
            except (OSError, ValueError):
                dead.append((fd, READ | WRITE))
        return dead

    def _interrupt(self) -> None:
        try:
            self._wake_writer.send(b"\0")
        except BlockingIOError:
            pass

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_reader.recv(4096):
                pass
        except BlockingIOError:
            pass

    def wake(self) -> None:
        """Make every `poll` return now and from now on (used to stop the workers)."""
        with self._lock:
            self._woken = True
            self._ready_or_free.notify_all()
        self._interrupt()

    def close(self) -> None:
        self._wake_reader.close()
        self._wake_writer.close()
