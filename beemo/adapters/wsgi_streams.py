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
    """`wsgi.input`: read, readline, readlines and iteration over the request body."""

    __slots__ = ("_buffer", "_done", "_pull")

    def __init__(self, pull: Callable[[], bytes]) -> None:
        self._pull = pull
        self._buffer = b""
        self._done = False

    def _fill(self) -> bool:
        """Append the next received piece to the buffer; False at the end of the body."""
        if self._done:
            return False
        piece = self._pull()
        if not piece:
            self._done = True
            return False
        self._buffer += piece
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._fill():
                pass
            data, self._buffer = self._buffer, b""
            return data
        if not self._buffer:
            self._fill()
        while len(self._buffer) < size and self._fill():
            pass
        data = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None else size
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end >= 0:
                cut = end + 1
                break
            if 0 <= limit <= len(self._buffer):
                cut = limit
                break
            start = len(self._buffer)
            if not self._fill():
                cut = len(self._buffer)
                break
        if 0 <= limit < cut:
            cut = limit
        line = self._buffer[:cut]
        self._buffer = self._buffer[cut:]
        return line

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
    """`wsgi.errors`: text written here goes to the error log, one entry per line."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._partial = io.StringIO()
        self._lock = threading.Lock()  # one stream is shared by every request

    def write(self, text: str) -> int:
        lines = text.split("\n")
        with self._lock:
            self._partial.write(lines[0])
            for line in lines[1:]:
                self._emit()
                self._partial.write(line)
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        with self._lock:
            if self._partial.tell():
                self._emit()

    def _emit(self) -> None:
        self._logger.error("%s", self._partial.getvalue())
        self._partial.seek(0)
        self._partial.truncate()


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
