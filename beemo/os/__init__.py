"""Picks the OS backend: the only place that chooses by `sys.platform` or `$BEEMO_POLLER`.

Two backends share one contract (see `beemo.server.events.Poller`): registrations are one-shot,
a ready fd goes to exactly one `poll()` caller and stays disarmed until `rearm()`. The portable
`select()` one imports everywhere, so Linux CI runs it too; the Linux modules assert their
platform so that `mypy --platform win32` skips them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from beemo.os.contract import Poller
from beemo.os.windows.select_poller import SelectPoller

__all__ = ["Poller", "SelectPoller", "create_poller", "poller_name", "sendfile", "wait_ready"]

sendfile: Callable[[int, int, int, int], int] | None
if sys.platform == "linux":
    from beemo.os.linux.epoll import EpollPoller
    from beemo.os.linux.io import sendfile, wait_ready

    __all__ += ["EpollPoller"]
else:
    from beemo.os.windows.io import sendfile, wait_ready


def poller_name(requested: str = "auto") -> str:
    """The backend to use: `requested` unless "auto", then $BEEMO_POLLER, then the platform's."""
    name = requested if requested != "auto" else os.environ.get("BEEMO_POLLER", "auto") or "auto"
    if name == "auto":
        return "epoll" if sys.platform == "linux" else "select"
    if name not in ("epoll", "select"):
        raise ValueError(f"unknown poller {name!r} (expected epoll or select)")
    if name == "epoll" and sys.platform != "linux":
        raise ValueError("the epoll poller needs Linux")
    return name


def create_poller(requested: str = "auto", consumers: int = 2) -> Poller:
    """A new poller of the backend `poller_name(requested)` picks, for `consumers` threads
    calling `poll` (with one, the epoll backend skips the per-event re-arm)."""
    if sys.platform == "linux" and poller_name(requested) == "epoll":
        return EpollPoller(one_shot=consumers > 1)
    return SelectPoller()
