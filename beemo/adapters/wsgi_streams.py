"""The file-like objects of a WSGI environ: `wsgi.input`, `wsgi.errors`, `wsgi.file_wrapper`.

`InputStream` pulls the request body from the connection as the app reads it: nothing is read
before the app asks, and at most one received piece is held beyond what the app consumed, so a
1 GB upload never sits in memory.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

__all__ = ["ErrorStream", "FileWrapper", "InputStream"]


class InputStream:
    """`wsgi.input`: read, readline, readlines and iteration over the request body.

    The unread part of the current piece is `_buffer[_pos:]`: reads advance an index instead of
    re-slicing the rest, so many small reads of a large piece stay linear.
    """

    __slots__ = ("_buffer", "_done", "_pos", "_pull")

    def __init__(self, pull: Callable[[], bytes]) -> None:
        self._pull = pull
        self._buffer = b""
        self._pos = 0
        self._done = False

    def _fill(self) -> bool:
        """Append the next received piece to the unread bytes; False at the end of the body."""
        if self._done:
            return False
        piece = self._pull()
        if not piece:
            self._done = True
            return False
        if self._pos >= len(self._buffer):
            self._buffer = piece
        else:
            self._buffer = self._buffer[self._pos :] + piece
        self._pos = 0
        return True

    def _take(self, end: int) -> bytes:
        data = self._buffer[self._pos : end]
        self._pos = end
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size == 0:
            return b""
        unread = len(self._buffer) - self._pos
        if size is not None and 0 <= size <= unread:
            return self._take(self._pos + size)
        # Gather whole pieces and join once: growing one buffer piece by piece would copy the
        # bytes read so far again for every piece.
        parts = [self._take(len(self._buffer))] if unread else []
        wanted = -1 if size is None or size < 0 else size - unread
        while wanted != 0:
            piece = self._next_piece()
            if not piece:
                break
            if 0 <= wanted < len(piece):
                parts.append(piece[:wanted])
                self._buffer, self._pos = piece, wanted
                break
            parts.append(piece)
            if wanted > 0:
                wanted -= len(piece)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _next_piece(self) -> bytes:
        """The next received piece of the body, b"" at its end (the buffer must be empty)."""
        if self._done:
            return b""
        piece = self._pull()
        if not piece:
            self._done = True
        return piece

    def readline(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None else size
        scan = self._pos
        while True:
            newline = self._buffer.find(b"\n", scan)
            if newline >= 0:
                end = newline + 1
                break
            if 0 <= limit <= len(self._buffer) - self._pos:
                end = self._pos + limit
                break
            scan = len(self._buffer)
            old = self._pos
            if not self._fill():
                end = len(self._buffer)
                break
            scan -= old  # the unread bytes moved to the front of the new buffer
        if 0 <= limit < end - self._pos:
            end = self._pos + limit
        return self._take(end)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self) -> None:
        """Apps sometimes close wsgi.input; the server owns it, so this is a no-op."""


class ErrorStream:
    """`wsgi.errors`: text written here goes to the error log, one entry per line.

    One stream serves every request; each thread keeps its own unfinished line, so lines
    written by two requests at once never merge.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._local = threading.local()

    def _partial(self) -> io.StringIO:
        partial: io.StringIO | None = getattr(self._local, "partial", None)
        if partial is None:
            partial = self._local.partial = io.StringIO()
        return partial

    def write(self, text: str) -> int:
        partial = self._partial()
        lines = text.split("\n")
        partial.write(lines[0])
        for line in lines[1:]:
            self._emit(partial)
            partial.write(line)
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        partial = self._partial()
        if partial.tell():
            self._emit(partial)

    def _emit(self, partial: io.StringIO) -> None:
        self._logger.error("%s", partial.getvalue())
        partial.seek(0)
        partial.truncate()


class FileWrapper:
    """`wsgi.file_wrapper`: iterates a file in blocks; a real file goes out with sendfile."""

    def __init__(self, filelike: IO[bytes] | Any, blksize: int = 65536) -> None:
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def fileno(self) -> int:
        """The file's descriptor, or OSError when it has none (an in-memory file)."""
        if not hasattr(self.filelike, "fileno"):
            raise OSError("not a real file")
        fileno: int = self.filelike.fileno()
        return fileno

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        while True:
            block = read(self.blksize)
            if not block:
                return
            yield block
