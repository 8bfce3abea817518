"""ASGI over HTTP/1.1, on both event loops: the scope, the request body streamed with flow
control, streamed responses and disconnects, keep-alive and pipelining, and the response
extensions (pathsend, zerocopysend, trailers). Failures are in test_asgi_errors.py."""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import threading
import time

import pytest

from tests.integration.asgi_apps import PATTERN
from tests.integration.conftest import (
    RawConn,
    asgi_running,
    chunked,
    fetch,
    get,
    request_bytes,
    wait_until,
)
from tests.integration.test_streaming import MemoryWatch

MB = 1 << 20


@pytest.fixture(scope="module")
def server(loop):
    with asgi_running(loop=loop) as server:
        yield server


def _scope(server, path: str = "/scope", **kwargs: object) -> dict:
    response = get(server, path, **kwargs)
    assert response.status == 200, response.raw[:300]
    return json.loads(response.body)


# ---- the scope --------------------------------------------------------------------------------


def test_http_scope_is_complete(server):
    headers = [("X-Custom", "One"), ("x-custom", "Two"), ("X-Mixed-Case", "Value; Kept")]
    with RawConn.to(server) as conn:
        response = conn.exchange(
            request_bytes("GET", "/scope/caf%C3%A9%20x/a%2Fb?a=1&b=%20+c", headers)
        )
        client = list(conn.sock.getsockname())
    scope = json.loads(response.body)
    assert scope["type"] == "http"
    assert scope["asgi"]["version"] == "3.0"
    assert scope["asgi"]["spec_version"] in ("2.3", "2.4")
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/scope/café x/a/b"  # percent-decoded as UTF-8
    assert scope["raw_path"] == "/scope/caf%C3%A9%20x/a%2Fb"  # as sent, without the query
    assert scope["query_string"] == "a=1&b=%20+c"  # not decoded
    assert scope["root_path"] == ""
    assert scope["headers"] == [
        ["host", "test"],
        ["x-custom", "One"],
        ["x-custom", "Two"],
        ["x-mixed-case", "Value; Kept"],
    ]
    assert scope["client"] == client
    assert scope["server"] == ["127.0.0.1", server.port]
    assert scope["state"]["greeting"] == "hello from startup"
    assert "http.response.trailers" in scope["extension_names"]


def test_http_10_scope_and_post_method(server):
    response = fetch(
        server, request_bytes("POST", "/scope", body=b"sent body", version="1.0", host=False)
    )
    scope = json.loads(response.body)
    assert scope["http_version"] == "1.0"
    assert scope["method"] == "POST"
    assert scope["body"] == "sent body"
    assert ["content-length", "9"] in scope["headers"]


def test_header_bytes_are_passed_through_as_bytes(server):
    # Header values are bytes in the scope: latin-1 octets arrive unchanged.
    request = b"GET /scope HTTP/1.1\r\nHost: test\r\nX-Latin: caf\xe9\r\n\r\n"
    scope = json.loads(fetch(server, request).body)
    assert ["x-latin", "caf\xe9"] in scope["headers"]


def test_state_is_a_shallow_copy_per_request(server):
    with RawConn.to(server) as conn:
        for _ in range(3):
            scope = json.loads(conn.exchange(request_bytes("GET", "/scope")).body)
            # The previous request set these on its copy after responding: nothing leaked.
            assert "mutated_by" not in scope["state"]
            assert "counter" not in scope["state"]
            assert scope["state"]["greeting"] == "hello from startup"


def test_root_path_is_in_the_scope_and_in_path():
    with asgi_running("--root-path", "/api/") as server:
        scope = _scope(server, "/scope/x%20y?q=1")
        assert scope["root_path"] == "/api"
        assert scope["path"] == "/api/scope/x y"  # path includes root_path, as uvicorn does
        assert scope["raw_path"] == "/api/scope/x%20y"
        assert scope["query_string"] == "q=1"
        # A path that already carries the prefix (a proxy that does not strip it) keeps it once.
        scope = _scope(server, "/api/scope/z")
        assert scope["path"] == "/api/scope/z"
        assert scope["raw_path"] == "/api/scope/z"


def test_unix_socket_scope_has_no_port_and_no_client(tmp_path):
    with asgi_running(bind=f"unix:{tmp_path}/beemo.sock") as server:
        with RawConn.to(server) as conn:
            scope = json.loads(conn.exchange(request_bytes("GET", "/scope")).body)
    assert scope["server"] == [f"{tmp_path}/beemo.sock", None]
    assert scope["client"] is None


# ---- the request body -------------------------------------------------------------------------


def test_chunked_upload_arrives_in_pieces_as_they_are_sent(server):
    pieces = [b"a" * 10, b"b" * 300, b"c" * 5000, b"d"]
    with RawConn.to(server) as conn:
        conn.send(request_bytes("POST", "/progress", [("Transfer-Encoding", "chunked")]))
        for index, piece in enumerate(pieces):
            conn.send(b"%x\r\n%b\r\n" % (len(piece), piece))
            if not index:  # the head goes out with the first body bytes
                assert conn.read_head().header("transfer-encoding") == "chunked"
            # The app answered this piece before the next one was sent: it was streamed.
            assert conn.read_chunk() == b"%d\n" % len(piece)
        conn.send(b"0\r\n\r\n")
        assert conn.read_chunk() == b"end %d\n" % sum(map(len, pieces))
        assert conn.read_chunk() == b""


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_upload_in_many_pieces_totals_right(server, framing):
    body = PATTERN * 32  # 2 MiB
    if framing == "chunked":
        pieces = [body[i : i + 100_000] for i in range(0, len(body), 100_000)]
        data = request_bytes(
            "POST", "/count", [("Transfer-Encoding", "chunked")], body=chunked(*pieces)
        )
    else:
        data = request_bytes("POST", "/count", body=body)
    response = fetch(server, data)
    count, size, digest = response.body.decode().split()
    assert int(count) > 1  # more_body: more than one http.request message
    assert int(size) == len(body)
    assert digest == hashlib.sha256(body).hexdigest()


def test_big_upload_to_a_slow_app_keeps_memory_bounded(server):
    """50 MB to an app that waits, then reads slowly: reading pauses above the high-water
    mark, so the bytes wait in the kernel's socket buffers, not in the server."""
    blocks = 50
    block = PATTERN * 16  # 1 MiB
    fetch(server, request_bytes("POST", "/count", body=b"warm up"))
    head = request_bytes(
        "POST", "/count?delay=0.5&pause=0.002", [("Content-Length", str(blocks * MB))]
    )
    with MemoryWatch(server.proc.pid) as memory, RawConn.to(server, timeout=30) as conn:
        conn.send(head)
        for _ in range(blocks):
            conn.send(block)
        response = conn.read_response()
    _, size, digest = response.body.decode().split()
    assert int(size) == blocks * MB
    assert digest == hashlib.sha256(block * blocks).hexdigest()
    assert memory.growth < 20 * MB, f"RSS grew by {memory.growth / MB:.1f} MB"


def test_response_starts_before_the_body_is_read(server):
    with RawConn.to(server) as conn:
        conn.send(request_bytes("POST", "/early", [("Content-Length", "10")]))
        head = conn.read_head()  # no body byte was sent yet
        assert head.status == 200
        assert conn.read_chunk() == b"started\n"
        conn.send(b"0123456789")
        assert conn.read_chunk() == b"got 10\n"
        assert conn.read_chunk() == b""
        assert conn.exchange(request_bytes("GET", "/")).body == b"hello\n"


def test_expect_100_continue_goes_out_when_the_app_reads(server):
    with RawConn.to(server) as conn:
        conn.send(
            request_bytes("POST", "/echo", [("Expect", "100-continue"), ("Content-Length", "5")])
        )
        interim = conn.read_head()
        assert interim.status == 100
        conn.send(b"hello")
        assert conn.read_response().body == b"hello"


def test_expect_100_continue_is_not_sent_when_the_app_does_not_read(server):
    with RawConn.to(server) as conn:
        conn.send(request_bytes("POST", "/", [("Expect", "100-continue"), ("Content-Length", "5")]))
        response = conn.read_response()
        assert response.status == 200 and response.body == b"hello\n"
        # The body never came: the connection cannot be reused, and says so.
        assert response.header("connection") == "close"
        assert conn.closed_within(2)


# ---- the response -----------------------------------------------------------------------------


def test_streamed_response_is_chunked(server):
    response = get(server, "/stream?n=4")
    assert response.header("transfer-encoding") == "chunked"
    assert response.header("content-length") is None
    assert response.body == b"piece 0\npiece 1\npiece 2\npiece 3\n"


def test_streamed_response_to_http_10_is_delimited_by_the_close(server):
    with RawConn.to(server) as conn:
        response = conn.exchange(request_bytes("GET", "/stream?n=3", version="1.0", host=False))
        assert response.header("transfer-encoding") is None
        assert response.body == b"piece 0\npiece 1\npiece 2\n"
        assert conn.eof


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_goes_out_with_204_and_304(server, code):
    with RawConn.to(server) as conn:
        conn.send(
            request_bytes("GET", f"/status?code={code}&body=oops") + request_bytes("GET", "/")
        )
        response = conn.read_response()
        assert response.status == code and response.body == b""
        assert response.header("content-length") is None
        assert conn.read_response().body == b"hello\n"  # not "oops" + a broken head


@pytest.mark.parametrize("path, length", [("/", "6"), ("/stream?n=3", None)])
def test_head_gets_the_headers_but_no_body(server, path, length):
    with RawConn.to(server) as conn:
        response = conn.exchange(request_bytes("HEAD", path), "HEAD")
        assert response.status == 200
        assert response.header("content-length") == length
        # No body bytes followed the head: the next response on the connection parses.
        assert conn.exchange(request_bytes("GET", "/")).body == b"hello\n"


def test_slow_reader_keeps_memory_bounded(server):
    """An app streaming 64 MB to a client that does not read: send() waits while the write
    buffer is above its high-water mark, so the app cannot pile the body up in memory."""
    size = 64 * MB
    get(server, "/big?size=1000")  # warm up
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.settimeout(30)
    sock.connect((server.host, server.port))
    with MemoryWatch(server.proc.pid) as memory, RawConn(sock) as conn:
        conn.send(request_bytes("GET", f"/big?size={size}"))
        time.sleep(1.0)  # not reading: an unbounded server would have buffered it all by now
        stalled = memory.peak - memory.start
        head = conn.read_head()
        digest = _digest(conn, int(head.header("content-length") or 0))
    assert digest == hashlib.sha256(PATTERN * (size // len(PATTERN))).hexdigest()
    assert stalled < 20 * MB, f"RSS grew by {stalled / MB:.1f} MB while the client did not read"
    assert memory.growth < 40 * MB, f"RSS grew by {memory.growth / MB:.1f} MB"


def _digest(conn: RawConn, length: int) -> str:
    """The SHA-256 of the next `length` bytes (read without keeping them)."""
    digest = hashlib.sha256(conn.buffer[:length])
    left = length - len(conn.buffer)
    conn.buffer = b""
    chunk = bytearray(1 << 20)
    while left > 0:
        received = conn.sock.recv_into(chunk, min(left, len(chunk)))
        assert received, f"EOF with {left} bytes to go"
        digest.update(memoryview(chunk)[:received])
        left -= received
    return digest.hexdigest()


def test_many_concurrent_streams(server):
    results: list[bool] = []

    def download() -> None:
        results.append(len(get(server, f"/big?size={3 * MB}").body) == 3 * MB)

    threads = [threading.Thread(target=download) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [True] * 6


@pytest.mark.parametrize("how", ["close", "reset"])
def test_disconnect_reaches_an_app_waiting_in_receive(server, how):
    token = f"disconnect-{how}-{time.monotonic_ns()}"
    conn = RawConn.to(server)
    conn.send(request_bytes("GET", f"/wait-disconnect?token={token}"))
    assert conn.read_head().status == 200
    assert conn.read_chunk() == b"waiting\n"  # the app now waits in receive()
    assert get(server, f"/marker?token={token}").body == b"waiting"
    if how == "reset":
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()

    def seen() -> bytes:
        return get(server, f"/marker?token={token}").body

    assert wait_until(lambda: seen() == b"http.disconnect", timeout=5), seen()


def test_send_after_the_client_left_raises_an_oserror(server):
    token = f"gone-{time.monotonic_ns()}"
    with RawConn.to(server) as conn:
        conn.send(request_bytes("GET", f"/stream-until-gone?token={token}"))
        assert conn.read_head().status == 200
        assert len(conn.read_chunk()) == len(PATTERN)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def seen() -> bytes:
        return get(server, f"/marker?token={token}").body

    assert wait_until(seen, timeout=5)
    assert seen() == b"True ClientDisconnected"  # an OSError, as the spec asks


# ---- keep-alive and pipelining ----------------------------------------------------------------


def test_keep_alive_serves_many_requests_on_one_connection(server):
    with RawConn.to(server) as conn:
        for index in range(20):
            body = b"request %d" % index
            response = conn.exchange(request_bytes("POST", "/echo", body=body))
            assert response.status == 200 and response.body == body
            assert response.header("connection") is None
        assert not conn.closed_within(0.2)


def test_two_pipelined_requests_in_one_packet(server):
    with RawConn.to(server) as conn:
        conn.send(
            request_bytes("POST", "/echo", body=b"first") + request_bytes("GET", "/stream?n=2")
        )
        assert conn.read_response().body == b"first"
        assert conn.read_response().body == b"piece 0\npiece 1\n"


def test_pipelined_requests_behind_a_slow_one_stay_in_order(server):
    requests_ = [
        (request_bytes("GET", "/sleep?ms=200"), b"slept 200\n"),
        (request_bytes("POST", "/echo", body=b"two"), b"two"),
        (request_bytes("HEAD", "/"), b""),
        (request_bytes("GET", "/stream?n=1"), b"piece 0\n"),
        (request_bytes("POST", "/echo", [("Connection", "close")], body=b"last"), b"last"),
    ]
    with RawConn.to(server) as conn:
        conn.send(b"".join(data for data, _ in requests_))
        for data, body in requests_:
            response = conn.read_response("HEAD" if data.startswith(b"HEAD") else "GET")
            assert response.status == 200 and response.body == body
        assert conn.closed_within(2)


def test_a_pipelining_client_that_never_reads_cannot_grow_memory(server):
    """Pipelined requests by the thousand and not one response read: once the write buffer
    is full, the server takes no further request and stops reading, so its memory stays flat
    and the client's sends block."""
    get(server, "/")  # warm up
    flood = request_bytes("GET", "/") * 1000
    with MemoryWatch(server.proc.pid) as memory:
        with socket.create_connection((server.host, server.port), timeout=2) as greedy:
            sent = 0
            deadline = time.monotonic() + 5
            try:
                while sent < 400 * len(flood) and time.monotonic() < deadline:
                    greedy.sendall(flood)
                    sent += len(flood)
            except TimeoutError:
                pass  # the server stopped reading: back-pressure reached the client
            assert get(server, "/").status == 200  # another client is served meanwhile
    assert memory.growth < 30 * MB, f"RSS grew by {memory.growth / MB:.1f} MB"
    assert sent < 400 * len(flood)


# ---- extensions -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("asgi") / "data.bin"
    path.write_bytes(PATTERN * 48 + b"tail")  # 3 MiB and a bit
    return path


def test_pathsend_sends_the_file(server, data_file):
    response = get(server, f"/pathsend?path={data_file}")
    assert response.status == 200
    assert response.header("content-length") == str(data_file.stat().st_size)
    assert response.body == data_file.read_bytes()


@pytest.mark.parametrize(
    "query, part",
    [("", slice(None)), ("&offset=1000&count=5000", slice(1000, 6000))],
    ids=["whole", "range"],
)
def test_zerocopysend_sends_the_file_object(server, data_file, query, part):
    response = get(server, f"/zerocopysend?path={data_file}{query}")
    assert response.status == 200
    assert response.body == data_file.read_bytes()[part]
    assert response.header("content-length") == str(len(response.body))


def test_zerocopysend_in_parts_continues_from_the_file_position(server, data_file):
    response = get(server, f"/zerocopysend?path={data_file}&parts=5")
    assert response.header("transfer-encoding") == "chunked"
    assert response.body == data_file.read_bytes()


def test_zerocopysend_in_parts_to_http_10_is_delimited_by_the_close(server, data_file):
    with RawConn.to(server) as conn:
        request = request_bytes("GET", f"/zerocopysend?path={data_file}&parts=3", version="1.0")
        response = conn.exchange(request)
        assert response.header("transfer-encoding") is None
        assert response.body == data_file.read_bytes()
        assert conn.eof


def test_trailers_follow_a_chunked_body(server):
    with RawConn.to(server) as conn:
        conn.send(request_bytes("GET", "/trailers", [("TE", "trailers")]))
        response = conn.read_response()
        assert response.header("transfer-encoding") == "chunked"
        assert response.body == b"body then trailers"
        assert response.trailers == [("x-checksum", "abc123"), ("x-rows", "2")]
        assert response.raw.endswith(b"0\r\nx-checksum: abc123\r\nx-rows: 2\r\n\r\n")
        assert conn.exchange(request_bytes("GET", "/")).body == b"hello\n"
