"""The contract every poller backend fulfils, and the readiness bits they report.

- `register`/`rearm` arm an fd for one event (READ or WRITE);
- `poll` hands each ready fd to exactly one caller and disarms it, so the caller owns that
  connection until it re-arms it (or closes it);
- `poll` may return fds nobody registered (a wakeup socket, or one stale event for a closed fd):
  callers ignore fds they do not know;
- `unregister` is called before an fd is closed;
- `wake` makes every pending and future `poll` return, to stop the workers.
"""

from __future__ import annotations

from typing import Protocol

READ = 0x001  # the values of Linux's EPOLLIN and EPOLLOUT
WRITE = 0x004

__all__ = ["READ", "WRITE", "Poller"]


class Poller(Protocol):
    """What the workers need from an OS readiness backend."""

    def register(self, fd: int, interest: int) -> None: ...

    def rearm(self, fd: int, interest: int) -> None: ...

    def unregister(self, fd: int) -> None: ...

    def poll(self, timeout: float | None, max_events: int) -> list[tuple[int, int]]: ...

    def wake(self) -> None: ...

    def close(self) -> None: ...
