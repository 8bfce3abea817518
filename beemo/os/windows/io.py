"""Portable waits for one socket; no zero-copy send (callers read the file instead)."""

from __future__ import annotations

import select

__all__ = ["sendfile", "wait_ready"]

sendfile = None


def wait_ready(fd: int, writable: bool, timeout: float) -> bool:
    """Block until `fd` is readable (or writable); False after `timeout` seconds."""
    readers, writers = ([], [fd]) if writable else ([fd], [])
    return any(select.select(readers, writers, [fd], timeout))
