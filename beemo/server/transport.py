"""Non-blocking socket I/O for one connection: the only layer that touches the socket.

Writes follow asyncio's transports: `write` tries `send()` at once and keeps whatever the kernel
did not take; the caller then waits for WRITE readiness and calls `flush`. Above
`HIGH_WATER` buffered bytes the caller stops producing (a slow reader parks the connection in
the poller instead of holding a worker). Every `OSError` is caught here and becomes
`ClientDisconnected`, so the layers above deal with one failure, per connection.

The blocking helpers (`wait_readable`, `wait_writable`) exist for WSGI's blocking contract: an
app reading `wsgi.input` or calling `write()` runs on its worker thread and may wait, bounded by
the client timeout.
"""

from __future__ import annotations

import collections
import itertools
import socket

from beemo.errors import ClientDisconnected
from beemo.os import sendfile, wait_ready

__all__ = ["HIGH_WATER", "RECV_SIZE", "Transport"]

RECV_SIZE = 65536
HIGH_WATER = 65536
_IOV_MAX = 64  # buffers per sendmsg; Linux allows 1024


class Transport:
    """A connected, non-blocking stream socket with a write buffer.

    The buffer is a queue of memoryviews: a partial send never copies what is left, and a large
    body is never concatenated with its head (`write_parts` hands both to one `sendmsg`).
    """

    __slots__ = ("_buffered", "_pending", "_recv", "_send", "_sendmsg", "fd", "peer", "sock")

    def __init__(self, sock: socket.socket, peer: object) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self._recv = sock.recv
        self._send = sock.send
        self._sendmsg = getattr(sock, "sendmsg", None)  # absent on Windows
        self._pending: collections.deque[memoryview] = collections.deque()
        self._buffered = 0

    def recv(self) -> bytes | None:
        """Bytes from the peer, b"" at EOF, or None when nothing is there yet."""
        try:
            return self._recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            raise ClientDisconnected(str(exc)) from exc

    def write(self, data: bytes) -> int:
        """Send what the kernel takes now, buffer the rest; returns the bytes still buffered."""
        if self._buffered:
            self._queue(memoryview(data))
            return self.flush()
        try:
            sent = self._send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            raise ClientDisconnected(str(exc)) from exc
        if sent < len(data):
            self._queue(memoryview(data)[sent:])
        return self._buffered

    def write_parts(self, parts: list[bytes]) -> int:
        """`write` for several buffers at once, without joining them (one sendmsg)."""
        if self._sendmsg is None:
            return self.write(b"".join(parts))
        for part in parts:
            if part:
                self._queue(memoryview(part))
        return self.flush()

    def _queue(self, view: memoryview) -> None:
        self._pending.append(view)
        self._buffered += len(view)

    def flush(self) -> int:
        """Send buffered bytes; returns how many are still buffered."""
        pending = self._pending
        while pending:
            try:
                if len(pending) == 1 or self._sendmsg is None:
                    sent = self._send(pending[0])
                else:
                    sent = self._sendmsg(list(itertools.islice(pending, _IOV_MAX)))
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                raise ClientDisconnected(str(exc)) from exc
            if not sent:
                break
            self._buffered -= sent
            while sent:
                head = pending[0]
                if len(head) <= sent:
                    sent -= len(head)
                    pending.popleft()
                else:
                    pending[0] = head[sent:]
                    sent = 0
        return self._buffered

    @property
    def buffered(self) -> int:
        return self._buffered

    def sendfile(self, fileno: int, offset: int, count: int) -> int:
        """Zero-copy send of a file region (Linux); returns the bytes sent, 0 if it would block.

        Raises:
            ClientDisconnected: the peer went away.
            OSError: sendfile is not usable for this file (the caller falls back to reads).
        """
        if sendfile is None:
            raise OSError("sendfile is not available on this platform")
        try:
            return sendfile(self.fd, fileno, offset, count)
        except (BlockingIOError, InterruptedError):
            return 0
        except (BrokenPipeError, ConnectionError) as exc:
            raise ClientDisconnected(str(exc)) from exc

    def wait_readable(self, timeout: float) -> None:
        """Block until readable; ClientDisconnected after `timeout` seconds."""
        self._wait(False, timeout)

    def wait_writable(self, timeout: float) -> None:
        """Block until writable; ClientDisconnected after `timeout` seconds."""
        self._wait(True, timeout)

    def _wait(self, writable: bool, timeout: float) -> None:
        try:
            ready = wait_ready(self.fd, writable, timeout)
        except (OSError, ValueError) as exc:
            raise ClientDisconnected(str(exc)) from exc
        if not ready:
            raise ClientDisconnected(f"client timed out after {timeout:g} s")

    def input_waiting(self) -> bool:
        """True when the peer sent bytes nobody has read yet (peeked, not consumed)."""
        try:
            return bool(self.sock.recv(1, socket.MSG_PEEK))
        except OSError:  # BlockingIOError: nothing waiting; others: the owner will see it
            return False

    def shutdown(self) -> None:
        """Wake whoever waits on this socket: it reads EOF (used by timeouts and shutdown)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self, linger: bool = True) -> None:
        """Close the socket. With `linger`, first read what the peer already sent: closing
        with unread bytes makes the kernel answer with a reset, which can destroy the last
        response before the client reads it. Without (the peer's EOF was read), just close."""
        sock = self.sock
        if linger:
            try:
                for _ in range(4):
                    if not sock.recv(RECV_SIZE):
                        break
            except OSError:
                pass
        sock.close()
