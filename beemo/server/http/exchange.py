"""What an adapter may ask of the connection serving its request (implemented by the workers).

Adapters never touch sockets: they read the request body and, for WSGI's `write()` callable,
push response bytes through this interface. Both calls may block the calling worker thread,
bounded by the client timeout.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Exchange"]


class Exchange(Protocol):
    def read_body(self) -> bytes:
        """The next piece of the request body, b"" once it is complete.

        Raises:
            ClientDisconnected: the client went away or stopped sending.
            ProtocolError: the body is malformed (bad chunk framing).
        """
        ...

    def write_head(self, status: str, headers: list[tuple[str, str]]) -> None:
        """Send the response head now (WSGI `write()` before the app returned)."""
        ...

    def write_body(self, data: bytes) -> None:
        """Send a piece of the response body now, waiting while the client is slow to read."""
        ...
