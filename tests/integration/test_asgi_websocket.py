"""WebSocket over ASGI, on both event loops, with the `websockets` client library (and a raw
socket where the client must misbehave): the handshake and its answers (accept, 403, the app's
own denial), echo of text, binary, fragmented and large messages, close codes both ways, the
message size limit, and keepalive pings."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import struct
import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.integration.asgi_apps import PATTERN
from tests.integration.conftest import TIMEOUT, RawConn, asgi_running, get, wait_until
from tests.integration.test_streaming import MemoryWatch

MIB = 1 << 20


@pytest.fixture(scope="module")
def server(loop):
    with asgi_running(loop=loop) as server:
        yield server


def _connect(server, path: str, **kwargs: object) -> ClientConnection:
    return connect(
        f"ws://127.0.0.1:{server.port}{path}",
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
        proxy=None,
        **kwargs,  # type: ignore[arg-type]
    )


def _marker(server, token: str) -> str:
    return get(server, f"/marker?token={token}").body.decode()


# ---- the handshake ----------------------------------------------------------------------------


def test_accept_with_a_subprotocol_and_extra_headers(server):
    with _connect(server, "/ws/echo", subprotocols=["chat.v2", "chat.v1"]) as ws:
        assert ws.subprotocol == "chat.v2"
        assert ws.response.status_code == 101
        assert ws.response.headers["x-extra"] == "accepted"
        ws.send("ping?")
        assert ws.recv(timeout=TIMEOUT) == "ping?"


def test_close_before_accept_is_a_403(server):
    with pytest.raises(InvalidStatus) as caught:
        _connect(server, "/ws/reject")
    assert caught.value.response.status_code == 403


def test_denial_response_from_the_app(server):
    with pytest.raises(InvalidStatus) as caught:
        _connect(server, "/ws/deny")
    response = caught.value.response
    assert response.status_code == 401
    assert response.body == b"go away, thief"
    assert response.headers["content-type"] == "text/plain"


def test_the_server_still_serves_http_after_websockets(server):
    with _connect(server, "/ws/echo") as ws:
        ws.send("x")
        assert ws.recv(timeout=TIMEOUT) == "x"
        assert get(server, "/").body == b"hello\n"  # HTTP meanwhile, on the same loop
    assert get(server, "/").body == b"hello\n"


def test_websocket_scope(server):
    with _connect(server, "/ws/scope?x=1", subprotocols=["one", "two"]) as ws:
        scope = json.loads(ws.recv(timeout=TIMEOUT))
    assert scope["type"] == "websocket"
    assert scope["asgi"]["version"] == "3.0"
    assert scope["scheme"] == "ws"
    assert scope["http_version"] == "1.1"
    assert scope["path"] == "/ws/scope" and scope["raw_path"] == "/ws/scope"
    assert scope["query_string"] == "x=1"
    assert scope["subprotocols"] == ["one", "two"]
    assert "method" not in scope
    assert ["upgrade", "websocket"] in scope["headers"]
    assert scope["server"] == ["127.0.0.1", server.port]
    assert scope["client"][0] == "127.0.0.1"
    assert scope["state"]["greeting"] == "hello from startup"
    assert scope["extension_names"] == ["websocket.http.response"]


@pytest.mark.parametrize(
    "headers, problem",
    [
        ("Sec-WebSocket-Version: 13\r\n", b"Sec-WebSocket-Key"),
        ("Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n", b"Sec-WebSocket-Key"),
        ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b"Sec-WebSocket-Version"),
    ],
    ids=["no_key", "short_key", "no_version"],
)
def test_broken_handshake_is_refused_with_400(server, headers, problem):
    with RawConn.to(server) as conn:
        conn.send(
            (
                "GET /ws/echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\n{headers}\r\n"
            ).encode()
        )
        response = conn.read_response()
        assert response.status == 400
        assert problem in response.body
        assert conn.read_all(timeout=5) == b""


# ---- messages ---------------------------------------------------------------------------------


def test_text_and_binary_echo(server):
    with _connect(server, "/ws/echo") as ws:
        for message in ["héllo wörld ✓", b"\x00\x01\xfe\xff", "", b""]:
            ws.send(message)
            echoed = ws.recv(timeout=TIMEOUT)
            assert echoed == message and type(echoed) is type(message)


@pytest.mark.parametrize("pieces", [["frag", "men", "ted ✓"], [b"\x00" * 10, b"\x01", b"\x02" * 5]])
def test_fragmented_message_from_the_client_arrives_whole(server, pieces):
    with _connect(server, "/ws/echo") as ws:
        ws.send(iter(pieces))  # one frame per piece: a fragmented message
        joined = "".join(pieces) if isinstance(pieces[0], str) else b"".join(pieces)
        assert ws.recv(timeout=TIMEOUT) == joined


def test_one_mib_binary_echo(server):
    data = os.urandom(MIB)
    with _connect(server, "/ws/echo", max_size=None) as ws:
        ws.send(data)
        assert ws.recv(timeout=TIMEOUT) == data


@pytest.mark.parametrize("compression", ["deflate", None], ids=["deflate", "plain"])
def test_many_messages_in_order(server, compression):
    with _connect(server, "/ws/echo", compression=compression) as ws:
        for index in range(200):
            ws.send(f"message {index}")
        assert [ws.recv(timeout=TIMEOUT) for _ in range(200)] == [
            f"message {index}" for index in range(200)
        ]


def test_invalid_utf8_text_closes_with_1007(server):
    with _RawWebSocket(server, "/ws/echo") as raw:
        raw.send_frame(0x1, b"\xff\xfe")
        opcode, payload = raw.read_frame()
        assert opcode == 0x8 and struct.unpack("!H", payload[:2]) == (1007,)


def test_a_client_that_does_not_read_keeps_memory_bounded(server):
    """The app sends 64 MiB of messages to a client that reads none: send() waits while the
    write buffer is full, so nothing piles up in the server."""
    token = f"flood-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", server.port))
    path = f"/ws/flood?n=1024&token={token}"
    with MemoryWatch(server.proc.pid) as memory:
        # max_queue=1: the client library stops reading once one message waits for recv().
        with _connect(server, path, sock=sock, compression=None, max_queue=1) as ws:
            time.sleep(1.0)  # an unbounded server would have buffered all 64 MiB by now
            stalled = memory.peak - memory.start
            assert _marker(server, token) == ""  # the app is held back in send()
            for _ in range(1024):
                assert ws.recv(timeout=TIMEOUT) == PATTERN
    assert stalled < 20 * MIB, f"RSS grew by {stalled / MIB:.1f} MiB"
    assert _marker(server, token) == "sent"


def test_an_app_that_does_not_read_keeps_memory_bounded(server):
    """The client sends 50 MiB while the app receives nothing for a second: reading pauses
    once a few messages wait, so they wait in the kernel's buffers, not in the server."""
    block = bytes(65536)
    with MemoryWatch(server.proc.pid) as memory:
        with _connect(server, "/ws/deaf?ms=1000", compression=None) as ws:
            sender = threading.Thread(target=_send_all, args=(ws, block, 800), daemon=True)
            sender.start()
            assert ws.recv(timeout=30) == str(800 * len(block))
            sender.join(TIMEOUT)
    assert memory.growth < 20 * MIB, f"RSS grew by {memory.growth / MIB:.1f} MiB"


def _send_all(ws: ClientConnection, block: bytes, count: int) -> None:
    for _ in range(count):
        ws.send(block)
    ws.send(b"done")


# ---- closing ----------------------------------------------------------------------------------


def test_client_close_code_reaches_the_app(server):
    token = f"close-{time.monotonic_ns()}"
    with _connect(server, f"/ws/echo?token={token}") as ws:
        ws.send("hi")
        assert ws.recv(timeout=TIMEOUT) == "hi"
        ws.close(4001, "client leaves")
        assert ws.close_code == 4001  # the server answered the close with the same code
    assert wait_until(lambda: _marker(server, token) == "disconnect 4001", timeout=5)


def test_app_close_code_reaches_the_client(server):
    with _connect(server, "/ws/close?code=4002") as ws:
        assert ws.recv(timeout=TIMEOUT) == "closing"
        with pytest.raises(ConnectionClosed) as caught:
            ws.recv(timeout=TIMEOUT)
    assert caught.value.rcvd is not None
    assert caught.value.rcvd.code == 4002
    assert caught.value.rcvd.reason == "app closes"


def test_app_raising_before_accept_is_a_500(server):
    with pytest.raises(InvalidStatus) as caught:
        _connect(server, "/ws/raise?when=before")
    assert caught.value.response.status_code == 500


@pytest.mark.parametrize("path, code", [("/ws/raise?when=after", 1011), ("/ws/return", 1000)])
def test_app_ending_an_open_websocket_closes_it(server, path, code):
    with _connect(server, path) as ws:
        assert ws.recv(timeout=TIMEOUT) in ("accepted", "bye")
        with pytest.raises(ConnectionClosed) as caught:
            ws.recv(timeout=TIMEOUT)
    assert caught.value.rcvd is not None and caught.value.rcvd.code == code


def test_client_vanishing_is_a_1006_disconnect(server):
    token = f"vanish-{time.monotonic_ns()}"
    with _RawWebSocket(server, f"/ws/echo?token={token}") as raw:
        raw.send_frame(0x1, b"hello")
        assert raw.read_frame() == (0x1, b"hello")
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert wait_until(lambda: _marker(server, token) == "disconnect 1006", timeout=5)


def test_message_over_ws_max_size_closes_with_1009(loop):
    with asgi_running("--ws-max-size", "1024", loop=loop) as server:
        with _connect(server, "/ws/echo") as ws:
            ws.send(b"x" * 1024)  # at the limit: fine
            assert ws.recv(timeout=TIMEOUT) == b"x" * 1024
            ws.send(b"x" * 1025)
            with pytest.raises(ConnectionClosed) as caught:
                ws.recv(timeout=TIMEOUT)
        assert caught.value.rcvd is not None and caught.value.rcvd.code == 1009


def test_shutdown_closes_websockets_with_1012(loop):
    with asgi_running("--graceful-timeout", "5", loop=loop) as server:
        with _connect(server, "/ws/echo") as ws:
            ws.send("before")
            assert ws.recv(timeout=TIMEOUT) == "before"
            started = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as caught:
                ws.recv(timeout=TIMEOUT)
        assert caught.value.rcvd is not None and caught.value.rcvd.code == 1012
        assert server.proc.wait(TIMEOUT) == 0
        assert time.monotonic() - started < 4.0


# ---- pings ------------------------------------------------------------------------------------


class _RawWebSocket:
    """A WebSocket client on a bare socket: it does the handshake by hand, then sends and reads
    frames exactly as told (so it can ignore pings, or send a pong nobody asked for)."""

    def __init__(self, server, path: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head

    def __enter__(self) -> _RawWebSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the server closed the connection")
        self.buffer += data

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def send_frame(self, opcode: int, payload: bytes) -> None:
        assert len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def read_frame(self) -> tuple[int, bytes]:
        first, second = self._take(2)
        assert not second & 0x80, "a server frame must not be masked"
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", self._take(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", self._take(8))
        return first & 0x0F, self._take(size)

    def closed(self) -> bool:
        """True when the server has closed the connection (EOF or a reset)."""
        try:
            self._fill()
        except (EOFError, ConnectionResetError):
            return True
        return False


@pytest.fixture(scope="module")
def pinging(loop):
    with asgi_running("--ws-ping-interval", "0.5", "--ws-ping-timeout", "0.5", loop=loop) as server:
        yield server


def test_a_client_that_does_not_answer_pings_is_closed(pinging):
    with _RawWebSocket(pinging, "/ws/echo") as raw:
        raw.sock.settimeout(3)  # a ping after 0.5 s, the close 0.5 s later
        started = time.monotonic()
        frames = []
        while True:
            try:
                frames.append(raw.read_frame())
            except (EOFError, ConnectionResetError):
                break
        took = time.monotonic() - started
    opcodes = [opcode for opcode, _ in frames]
    assert opcodes[0] == 0x9, frames  # a ping, never answered
    assert opcodes[-1] == 0x8, frames  # then a close frame: 1011, keepalive ping timeout
    assert struct.unpack("!H", frames[-1][1][:2]) == (1011,)
    assert 0.8 < took < 2.5, f"closed after {took:.2f} s"


def test_unsolicited_pongs_are_ignored(pinging):
    with _RawWebSocket(pinging, "/ws/echo") as raw:
        raw.send_frame(0xA, b"unasked")
        raw.send_frame(0xA, b"")
        raw.send_frame(0x1, b"still here")
        opcode, payload = raw.read_frame()
        while opcode == 0x9:  # a ping may come first: answer it
            raw.send_frame(0xA, payload)
            opcode, payload = raw.read_frame()
        assert (opcode, payload) == (0x1, b"still here")


def test_a_client_that_answers_pings_stays_connected(pinging):
    with _connect(pinging, "/ws/echo", ping_interval=None) as ws:  # the library answers pings
        deadline = time.monotonic() + 1.6  # three ping rounds
        while time.monotonic() < deadline:
            ws.send("alive")
            assert ws.recv(timeout=TIMEOUT) == "alive"
            time.sleep(0.2)
