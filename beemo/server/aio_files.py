"""Copying a file region to an asyncio transport (ASGI's pathsend and zerocopysend).

Zero-copy `loop.sendfile` where the loop and the transport allow it (asyncio over a plain TCP
or unix socket); otherwise the file is read and written in pieces, under the transport's flow
control. The framing around the bytes is the caller's (`ConnectionPolicy.frame_file`): this
module only moves them, and leaves the file's offset just past what it sent, as
`loop.sendfile` does, so a zerocopysend without an offset continues from there on either loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

__all__ = ["copy_file"]

_PIECE = 1 << 18  # bytes read at a time when a file cannot be sent zero-copy
_UNSUPPORTED = asyncio.AbstractEventLoop.sendfile  # raises NotImplementedError

# Flow control: None when writing may go on, an awaitable while the client is slow to read.
# Raises ClientDisconnected once the client is gone.
Writable = Callable[[], Awaitable[None] | None]


async def copy_file(
    loop: asyncio.AbstractEventLoop,
    transport: asyncio.Transport,
    fd: int,
    offset: int,
    count: int,
    prefix: bytes,
    writable: Writable,
) -> int:
    """Write `prefix`, then up to `count` bytes of the file from `offset`; the file bytes sent
    (fewer than `count` when the file is shorter).

    Raises:
        ConnectionError: the client reset the connection during a zero-copy send.
        ClientDisconnected: the client went away (from `writable`).
    """
    with open(fd, "rb", closefd=False) as file:
        if type(loop).sendfile is not _UNSUPPORTED:  # asyncio's loops; not uvloop's
            if prefix:
                transport.write(prefix)
                prefix = b""
            try:
                return await loop.sendfile(transport, file, offset, count, fallback=False)
            except RuntimeError:
                # Nothing was sent: a transport that cannot (TLS, asyncio says with a plain
                # RuntimeError) or a file that is not a regular one (SendfileNotAvailableError,
                # a RuntimeError too). Read and write.
                pass
        file.seek(offset)
        sent = 0
        while sent < count:
            wait = writable()
            if wait is not None:
                await wait
            piece = file.read(min(_PIECE, count - sent))
            if not piece:
                break
            if prefix:  # the head goes out with the first piece, not as a segment of its own
                transport.writelines((prefix, piece))
                prefix = b""
            else:
                transport.write(piece)
            sent += len(piece)
        if prefix:
            transport.write(prefix)
        os.lseek(fd, offset + sent, os.SEEK_SET)  # not at the read-ahead
        return sent
