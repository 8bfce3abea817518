"""Streaming both ways: a 200 MB upload read in pieces with the server's memory bounded, and a
large download to a slow reader that does not pin the only worker thread."""

from __future__ import annotations

import hashlib
import socket
import threading
import time

import pytest

from tests.integration.apps import pattern
from tests.integration.conftest import RawConn, get, proc_status, request_bytes, running

MB = 1 << 20
BLOCK = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture(scope="module")
def server(poller):
    # One worker thread: every test here also proves nothing pins it.
    with running("--threads", "1", poller=poller) as server:
        yield server


class MemoryWatch:
    """Samples the server's VmRSS while a test runs; `growth` is the peak minus the start."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = proc_status(pid, "VmRSS")
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, proc_status(self.pid, "VmRSS"))

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, proc_status(self.pid, "VmRSS"))

    @property
    def growth(self) -> int:
        return self.peak - self.start


def _upload(server, head: bytes, blocks: int, frame) -> tuple[bytes, str]:
    digest = hashlib.sha256()
    with RawConn.to(server, timeout=60) as conn:
        conn.send(head)
        for _ in range(blocks):
            conn.send(frame(BLOCK))
            digest.update(BLOCK)
        conn.send(frame(b""))
        response = conn.read_response()
        assert response.status == 200
        return response.body, digest.hexdigest()


def test_200_mb_upload_with_content_length_keeps_memory_bounded(server):
    get(server, "/count", method="POST", body=b"warm up")
    blocks = 200
    head = request_bytes("POST", "/count", [("Content-Length", str(blocks * MB))])
    with MemoryWatch(server.proc.pid) as memory:
        body, expected = _upload(server, head, blocks, lambda data: data)
    assert body == f"{blocks * MB} {expected}".encode()
    assert memory.growth < 50 * MB, f"RSS grew by {memory.growth / MB:.1f} MB"


def test_chunked_upload_keeps_memory_bounded(server):
    get(server, "/count", method="POST", body=b"warm up")
    blocks = 100
    head = request_bytes("POST", "/count?piece=10000", [("Transfer-Encoding", "chunked")])

    def frame(data: bytes) -> bytes:
        return b"%x\r\n%b\r\n" % (len(data), data) if data else b"0\r\n\r\n"

    with MemoryWatch(server.proc.pid) as memory:
        body, expected = _upload(server, head, blocks, frame)
    assert body == f"{blocks * MB} {expected}".encode()
    assert memory.growth < 50 * MB, f"RSS grew by {memory.growth / MB:.1f} MB"


def test_upload_by_requests_generator(server):
    import requests

    def generate():
        for _ in range(16):
            yield BLOCK

    response = requests.post(server.url + "/count", data=generate(), timeout=30)
    expected = hashlib.sha256(BLOCK * 16).hexdigest()
    assert response.text == f"{16 * MB} {expected}"


# ---- a slow reader does not pin the worker ----------------------------------------------------


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("download") / "big.bin"
    path.write_bytes(pattern(20 * MB))
    return path


@pytest.mark.parametrize("mode", ["gen", "gencl", "one", "file"])
def test_slow_reader_does_not_block_other_clients(server, big_file, mode):
    size = 20 * MB
    path = f"/file?path={big_file}" if mode == "file" else f"/big?size={size}&mode={mode}"
    slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    slow.settimeout(10)
    slow.connect((server.host, server.port))
    reader = RawConn(slow)
    received = bytearray()
    hurry = threading.Event()
    failures: list[BaseException] = []

    def read_slowly() -> None:
        # 8 KiB every 20 ms (400 KB/s: the 20 MB would take 50 s) until told to hurry.
        try:
            while True:
                data = slow.recv(8192 if not hurry.is_set() else 1 << 20)
                if not data:
                    return
                received.extend(data)
                if _complete(bytes(received[-16:]), len(received), size, mode):
                    return
                if not hurry.is_set():
                    time.sleep(0.02)
        except BaseException as exc:
            failures.append(exc)

    try:
        reader.send(request_bytes("GET", path))
        head = reader.read_head()
        assert head.status == 200
        received.extend(reader.buffer)
        thread = threading.Thread(target=read_slowly)
        thread.start()
        time.sleep(0.2)
        # The slow client is mid-download. The one worker must serve others meanwhile.
        timings = []
        for _ in range(20):
            started = time.monotonic()
            assert get(server, "/").body == b"hello\n"
            timings.append(time.monotonic() - started)
        mid_download = len(received)
        hurry.set()
        thread.join(30)
    finally:
        hurry.set()
        slow.close()
    assert not failures, failures
    assert max(timings) < 1.0, f"slowest fast request: {max(timings):.3f} s"
    assert mid_download < size // 2, "the slow client was not slow"
    body = _dechunk(bytes(received)) if mode == "gen" else bytes(received)
    assert len(body) == size
    assert body == pattern(size)


def _complete(tail: bytes, received: int, size: int, mode: str) -> bool:
    if mode == "gen":
        return tail.endswith(b"\r\n0\r\n\r\n")
    return received >= size


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    view = memoryview(data)
    position = 0
    while True:
        end = data.index(b"\r\n", position)
        size = int(data[position:end], 16)
        position = end + 2
        if size == 0:
            return bytes(out)
        out += view[position : position + size]
        position += size + 2


def test_many_concurrent_downloads(server):
    results: list[bool] = []

    def download() -> None:
        response = get(server, "/big?size=3000000&mode=gencl")
        results.append(response.body == pattern(3_000_000))

    threads = [threading.Thread(target=download) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [True] * 6


def test_a_pipelining_client_that_never_reads_cannot_grow_memory(server):
    """Up to 400,000 pipelined requests and not one response read: once the kernel's socket
    buffers are full of responses, the server parks the connection and stops reading, so its
    memory stays flat and the client's sends block, however much it tries to send."""
    get(server, "/")  # warm up
    request = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
    flood = request * 1000
    with MemoryWatch(server.proc.pid) as watch:
        with socket.create_connection((server.host, server.port), timeout=2) as greedy:
            sent = 0
            deadline = time.monotonic() + 8
            try:
                while sent < 400 * len(flood) and time.monotonic() < deadline:
                    greedy.sendall(flood)
                    sent += len(flood)
            except TimeoutError:
                pass  # the server stopped reading: back-pressure reached the client
            # Another client is still served meanwhile.
            assert get(server, "/").status == 200
    assert watch.growth < 30 * 1024 * 1024, watch.growth
    assert sent < 400 * len(flood)  # back-pressure: the server did not swallow everything
