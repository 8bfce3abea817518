"""The asyncio driver's writes, over a transport that records them (no socket).

What goes to the transport, in how many calls, decides how many segments the client wakes up
for: these tests pin that a response is never split where it need not be, and never copied
where it need not be.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest

from beemo.config import Config
from beemo.server.aio import HTTPProtocol, LoopShared
from beemo.server.http.exchange import AsyncExchange
from beemo.server.http.messages import RequestHead, ResponseHead
from beemo.server.http.policy import ServerState

GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
BIG = b"x" * (1 << 20)
SMALL = b"hello"
TEXT = ResponseHead(200, ((b"content-type", b"text/plain"),))


class RecordingTransport(asyncio.Transport):
    """Each write call, as the list of buffers it was given (a writev is one call)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[bytes]] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.calls.append([bytes(data)])

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.calls.append(list(list_of_data))  # type: ignore[arg-type]  # bytes in these tests

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def wire(self) -> bytes:
        return b"".join(b"".join(call) for call in self.calls)


def serve(respond: Any) -> tuple[RecordingTransport, list[list[bytes]]]:
    """One GET served by `respond(exchange)` on a real loop; the transport's write calls."""
    loop = asyncio.new_event_loop()
    done: asyncio.Future[None] = loop.create_future()

    async def handler(request: RequestHead, exchange: AsyncExchange, base: Any) -> None:
        try:
            await respond(exchange)
        finally:
            done.set_result(None)

    state = ServerState(keep_alive=5.0, client_timeout=5.0, access_log=False)
    state.stamp = "date: x\r\nserver: beemo\r\n"
    shared = LoopShared(loop, handler, lambda server, client: None, state, Config())
    transport = RecordingTransport()
    try:
        protocol = HTTPProtocol(shared, ("127.0.0.1", 8000), ("127.0.0.1", 5000))
        protocol.connection_made(transport)
        protocol.data_received(GET)
        loop.run_until_complete(asyncio.wait_for(done, 5))
    finally:
        loop.close()
    return transport, transport.calls


async def _whole(exchange: AsyncExchange, data: bytes) -> None:
    exchange.send_head(TEXT)
    result = exchange.send_body(data, False)
    if result is not None:
        await result


def test_a_small_body_goes_out_with_its_head_in_one_write() -> None:
    async def respond(exchange: AsyncExchange) -> None:
        await _whole(exchange, SMALL)

    transport, calls = serve(respond)
    assert len(calls) == 1
    assert transport.wire().endswith(b"\r\n\r\nhello")


def test_a_big_body_goes_out_beside_its_head_in_one_call_without_a_copy() -> None:
    async def respond(exchange: AsyncExchange) -> None:
        await _whole(exchange, BIG)

    transport, calls = serve(respond)
    assert len(calls) == 1  # one writev: the head is not a segment of its own
    head, body = calls[0]
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"content-length: 1048576\r\n" in head
    assert body == BIG


def test_a_streamed_first_piece_goes_out_with_the_head() -> None:
    async def respond(exchange: AsyncExchange) -> None:
        exchange.send_head(TEXT)
        for piece, more in ((BIG, True), (SMALL, False)):
            result = exchange.send_body(piece, more)
            if result is not None:
                await result

    transport, calls = serve(respond)
    assert len(calls) == 2
    assert b"transfer-encoding: chunked\r\n" in calls[0][0]
    assert transport.wire().endswith(b"\r\n100000\r\n" + BIG + b"\r\n5\r\nhello\r\n0\r\n\r\n")


@pytest.mark.parametrize("size", [0, 16384, 16385])
def test_the_wire_holds_exactly_one_response(size: int) -> None:
    data = b"y" * size

    async def respond(exchange: AsyncExchange) -> None:
        await _whole(exchange, data)

    transport, _ = serve(respond)
    wire = transport.wire()
    head, _, body = wire.partition(b"\r\n\r\n")
    assert f"content-length: {size}".encode() in head
    assert body == data
