"""The asyncio driver's writes, over a transport that records them (no socket).

What goes to the transport, in how many calls, decides how many segments the client wakes up
for: these tests pin that a response is never split where it need not be, and never copied
where it need not be.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path
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


def serve(
    respond: Any, new_loop: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
) -> tuple[RecordingTransport, list[list[bytes]]]:
    """One GET served by `respond(exchange)` on a real loop; the transport's write calls."""
    loop = new_loop()
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


uvloop = pytest.importorskip("uvloop")


@pytest.mark.parametrize("size", [1, 1 << 20])
def test_a_file_read_and_written_goes_out_with_its_head_in_the_first_write(
    tmp_path: Path, size: int
) -> None:
    """uvloop has no loop.sendfile: the head leaves with the file's first piece, and the
    file's offset ends just past the bytes sent."""
    path = tmp_path / "f"
    path.write_bytes(b"z" * size + b"tail")
    with path.open("rb") as file:
        fd = file.fileno()

        async def respond(exchange: AsyncExchange) -> None:
            exchange.send_head(TEXT)
            result = exchange.send_file(fd, 0, size, False)
            if result is not None:
                await result

        transport, calls = serve(respond, uvloop.new_event_loop)
        assert file.tell() == size
    assert len(calls[0]) == 2 and calls[0][0].startswith(b"HTTP/1.1 200 OK\r\n")
    head, _, body = transport.wire().partition(b"\r\n\r\n")
    assert f"content-length: {size}".encode() in head and body == b"z" * size


def test_a_file_on_asyncio_without_sendfile_still_goes_out_whole(tmp_path: Path) -> None:
    """asyncio tries loop.sendfile first (it refuses this transport), then reads and writes."""
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    with path.open("rb") as file:
        fd = file.fileno()

        async def respond(exchange: AsyncExchange) -> None:
            exchange.send_head(TEXT)
            result = exchange.send_file(fd, 2, 5, False)
            if result is not None:
                await result

        transport, _ = serve(respond)
        assert file.tell() == 7
    head, _, body = transport.wire().partition(b"\r\n\r\n")
    assert b"content-length: 5" in head and body == b"23456"
