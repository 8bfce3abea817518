"""Linux waits and zero-copy sends for one socket."""

from __future__ import annotations

import os
import select
import sys

assert sys.platform == "linux"  # tells mypy --platform win32 to skip this module

__all__ = ["sendfile", "wait_ready"]


def wait_ready(fd: int, writable: bool, timeout: float) -> bool:
    """Block until `fd` is readable (or writable); False after `timeout` seconds."""
    poller = select.poll()
    poller.register(fd, select.POLLOUT if writable else select.POLLIN)
    return bool(poller.poll(timeout * 1000))


def sendfile(out_fd: int, in_fd: int, offset: int, count: int) -> int:
    """Send up to `count` bytes of `in_fd` from `offset` without copying them through Python."""
    return os.sendfile(out_fd, in_fd, offset, count)
