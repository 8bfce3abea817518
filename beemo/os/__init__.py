"""Picks the poller backend: the only place that reads `sys.platform` or `$BEEMO_POLLER`.

Both backends import on every platform, so Linux CI runs the portable one too. They share one
contract (see `beemo.server.events.Poller`): registrations are one-shot, a ready fd goes to exactly
one `poll()` caller and stays disarmed until `rearm()`.
"""

from __future__ import annotations

import os
import sys

from beemo.os.linux.epoll import EpollPoller
from beemo.os.windows.select_poller import SelectPoller

__all__ = ["EpollPoller", "SelectPoller", "create_poller", "poller_name"]


def poller_name(requested: str = "auto") -> str:
    """The backend to use: `requested` unless "auto", then $BEEMO_POLLER, then the platform's."""
    name = requested if requested != "auto" else os.environ.get("BEEMO_POLLER", "auto") or "auto"
    if name == "auto":
        return "epoll" if sys.platform.startswith("linux") else "select"
    if name not in ("epoll", "select"):
        raise ValueError(f"unknown poller {name!r} (expected epoll or select)")
    if name == "epoll" and not sys.platform.startswith("linux"):
        raise ValueError("the epoll poller needs Linux")
    return name


def create_poller(requested: str = "auto", consumers: int = 2) -> EpollPoller | SelectPoller:
    """A new poller of the backend `poller_name(requested)` picks, for `consumers` threads
    calling `poll` (with one, the epoll backend skips the per-event re-arm)."""
    if poller_name(requested) == "epoll":
        return EpollPoller(one_shot=consumers > 1)
    return SelectPoller()
