"""Client-side helpers: raw-socket checks that `requests` cannot make (exact bytes on the
wire), and waiting for something the server does after it answered (a log line, a close)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit


def exchange(url: str, data: bytes, timeout: float = 10.0) -> bytes:
    """Send `data` on one new connection and return everything read until the server closes."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(data)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    return bytes(received)


def split_head(response: bytes) -> tuple[dict[str, str], bytes]:
    """The status line and lower-cased headers of the first response, and what follows them."""
    head, _, rest = response.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {":status": status}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers, rest


def wait_until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll `condition` until it is true or `timeout` seconds passed; the caller asserts."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
