"""Linux backend: one epoll set shared by every worker thread, with EPOLLONESHOT.

Why one-shot: when an fd fires, the kernel disarms it before any other `epoll_wait` can see it,
so exactly one worker owns a ready connection until it calls `rearm` (EPOLL_CTL_MOD). Several
threads may block in `poll` on the same set; Linux wakes one waiter per ready event.

Facts this relies on (trio's `_io_epoll.py` notes):
- an fd silenced by ONESHOT stays in the set until it is closed, so closing is the unregister;
- a stale fd can deliver at most one spurious event, so callers must ignore fds they do not know;
- re-arming is MOD, with ADD as the fallback on ENOENT;
- ONESHOT cannot be combined with EPOLLEXCLUSIVE.

With a single consumer (`one_shot=False`, used when the server runs one worker thread) the
one-shot flag buys nothing, since no other thread can receive the event, and costs an
`epoll_ctl(MOD)` per request to re-arm. Then fds are registered level-triggered and `rearm` only
calls MOD when the interest changes (READ <-> WRITE): one system call fewer per request.

`wake()` makes every current and future `poll` return at once: the wakeup socket is registered
level-triggered and never drained, which is only used to stop the workers.
"""

from __future__ import annotations

import select
import socket
import sys

from beemo.os.contract import READ

__all__ = ["EpollPoller"]

assert sys.platform == "linux"  # tells mypy --platform win32 to skip this module

_ONESHOT = select.EPOLLONESHOT


class EpollPoller:
    """One-shot epoll set shared by all worker threads."""

    def __init__(self, one_shot: bool = True) -> None:
        self._one_shot = _ONESHOT if one_shot else 0
        self._interest: dict[int, int] | None = None if one_shot else {}
        self._epoll = select.epoll()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._epoll.register(self._wake_reader.fileno(), READ)
        self._modify = self._epoll.modify
        self._poll = self._epoll.poll

    def register(self, fd: int, interest: int) -> None:
        """Start watching `fd`, armed once for `interest` (READ or WRITE)."""
        if self._interest is not None:
            self._interest[fd] = interest
        self._epoll.register(fd, interest | self._one_shot)

    def rearm(self, fd: int, interest: int) -> None:
        """Arm `fd` again after its one-shot event was delivered."""
        known = self._interest
        if known is not None:
            if known.get(fd) == interest:
                return  # level-triggered and unchanged: still armed
            known[fd] = interest
        try:
            self._modify(fd, interest | self._one_shot)
        except FileNotFoundError:
            self._epoll.register(fd, interest | self._one_shot)

    def unregister(self, fd: int) -> None:
        """Forget `fd` before it is closed (closing removes it from the epoll set)."""
        if self._interest is not None:
            self._interest.pop(fd, None)

    def poll(self, timeout: float | None, max_events: int) -> list[tuple[int, int]]:
        """Wait for ready fds: a list of (fd, readiness bits), each fd now disarmed.

        May contain fds the caller never registered (the wakeup socket): ignore them.
        """
        return self._poll(-1 if timeout is None else timeout, max_events)

    def wake(self) -> None:
        """Make every `poll` return now and from now on (used to stop the workers)."""
        try:
            self._wake_writer.send(b"\0")
        except BlockingIOError:
            pass  # the buffer is full: a wakeup is already pending

    def close(self) -> None:
        self._epoll.close()
        self._wake_reader.close()
        self._wake_writer.close()
