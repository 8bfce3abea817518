"""A typed fake of `beemo.server.http.exchange.Exchange` for adapter tests (no mocks)."""

from __future__ import annotations

from collections import deque

from beemo.server.http.exchange import Exchange
from beemo.server.http.messages import Header, RequestHead, ResponseHead


class FakeExchange:
    """Serves a request body in the given pieces and records what the adapter sends."""

    def __init__(self, *pieces: bytes) -> None:
        assert all(pieces), "b'' ends the body: give non-empty pieces"
        self._pieces = deque(pieces)
        self.reads = 0  # read_body calls
        self.heads: list[ResponseHead] = []
        self.written: list[bytes] = []

    def read_body(self) -> bytes:
        self.reads += 1
        return self._pieces.popleft() if self._pieces else b""

    def write_head(self, head: ResponseHead) -> None:
        assert not self.heads, "the head was sent twice"
        assert type(head) is ResponseHead, head
        self.heads.append(head)

    def write_body(self, data: bytes) -> None:
        assert self.heads, "body before head"
        self.written.append(data)


_TYPED: Exchange = FakeExchange()  # mypy checks that the fake satisfies the Protocol


def request(
    target: bytes = b"/",
    method: str = "GET",
    *,
    version: str = "1.1",
    headers: list[Header] | None = None,
) -> RequestHead:
    fields = [(b"Host", b"example.com")] if headers is None else headers
    return RequestHead(method, target, version, fields, True, False)
