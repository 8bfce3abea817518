"""Connection reuse: HTTP/1.1 keep-alive by default, HTTP/1.0 on request, `Connection: close`
from either side, and pipelined requests answered in order."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time

import pytest
import requests

from tests.integration.apps import pattern
from tests.integration.conftest import RawConn, chunked, request_bytes, running


@pytest.fixture(scope="module")
def server(poller):
    with running("--threads", "2", poller=poller) as server:
        yield server


# ---- keep-alive -------------------------------------------------------------------------------


def test_http11_keeps_the_connection_open_for_many_requests(server):
    with RawConn.to(server) as conn:
        for index in range(50):
            response = conn.exchange(request_bytes("GET", f"/?n={index}"))
            assert response.status == 200
            assert response.body == b"hello\n"
            assert response.header("connection") is None  # HTTP/1.1: keep-alive is implied
        assert not conn.closed_within(0.2)


def test_requests_session_reuses_one_connection(server):
    with requests.Session() as session:
        ports = set()
        for _ in range(10):
            response = session.get(server.url + "/environ", timeout=10)
            assert response.status_code == 200
            ports.add(response.json()["REMOTE_PORT"])
    assert len(ports) == 1


def test_http10_closes_by_default(server):
    with RawConn.to(server) as conn:
        response = conn.exchange(request_bytes("GET", "/", version="1.0", host=False))
        assert response.status == 200
        assert response.body == b"hello\n"
        assert response.header("connection") == "close"
        assert conn.closed_within(2)


def test_http10_keep_alive_on_request(server):
    with RawConn.to(server) as conn:
        for _ in range(3):
            response = conn.exchange(
                request_bytes("GET", "/", [("Connection", "keep-alive")], version="1.0")
            )
            assert response.status == 200
            assert response.header("connection") == "keep-alive"
            assert response.body == b"hello\n"
        assert not conn.closed_within(0.2)


def test_http10_keep_alive_without_length_is_closed_after_the_body(server):
    # No Content-Length and no chunked coding for HTTP/1.0: the close delimits the body.
    with RawConn.to(server) as conn:
        response = conn.exchange(
            request_bytes("GET", "/stream?n=3", [("Connection", "keep-alive")], version="1.0")
        )
        assert response.status == 200
        assert response.header("transfer-encoding") is None
        assert response.body == b"piece 0\npiece 1\npiece 2\n"
        assert conn.eof


def test_client_connection_close(server):
    with RawConn.to(server) as conn:
        response = conn.exchange(request_bytes("GET", "/", [("Connection", "close")]))
        assert response.status == 200
        assert response.header("connection") == "close"
        assert response.body == b"hello\n"
        assert conn.closed_within(2)


def test_client_connection_close_on_a_later_request(server):
    with RawConn.to(server) as conn:
        assert conn.exchange(request_bytes("GET", "/")).status == 200
        response = conn.exchange(
            request_bytes("POST", "/echo", [("Connection", "close")], body=b"last")
        )
        assert response.body == b"last"
        assert response.header("connection") == "close"
        assert conn.closed_within(2)


def test_app_connection_close(server):
    with RawConn.to(server) as conn:
        response = conn.exchange(request_bytes("GET", "/close"))
        assert response.status == 200
        assert response.body == b"bye\n"
        assert response.header("connection") == "close"
        assert conn.closed_within(2)


def test_unread_request_body_is_drained_and_the_connection_reused(server):
    with RawConn.to(server) as conn:
        response = conn.exchange(request_bytes("POST", "/", body=b"x" * 10000))
        assert response.status == 200
        response = conn.exchange(request_bytes("POST", "/echo", body=b"second"))
        assert response.body == b"second"


def test_large_unread_body_is_drained_or_announced(server):
    # The app answers without reading a 5 MB body (more than the server drains). Either the
    # server drains it and answers the next request, or it must say Connection: close.
    body = b"y" * 5_000_000
    with RawConn.to(server) as conn:
        sender = threading.Thread(
            target=_send_quietly,
            args=(
                conn,
                request_bytes("POST", "/", body=body) + request_bytes("GET", "/environ?second"),
            ),
        )
        sender.start()
        try:
            first = conn.read_response()
            assert first.status == 200
            if first.header("connection") != "close":
                second = conn.read_response()
                assert b"second" in second.body
        finally:
            sender.join(10)


def _send_quietly(conn: RawConn, data: bytes) -> None:
    with contextlib.suppress(OSError):
        conn.send(data)


def test_http_client_keep_alive(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        for index in range(5):
            conn.request("POST", "/echo", body=f"body {index}".encode())
            response = conn.getresponse()
            assert response.status == 200
            assert response.read() == f"body {index}".encode()
            assert not response.will_close
    finally:
        conn.close()


# ---- pipelining -------------------------------------------------------------------------------


def test_pipelined_requests_are_answered_in_order(server):
    requests_ = [
        (request_bytes("GET", "/"), "GET", b"hello\n"),
        (request_bytes("POST", "/echo", body=b"one"), "POST", b"one"),
        (request_bytes("GET", "/stream?n=2"), "GET", b"piece 0\npiece 1\n"),
        (request_bytes("HEAD", "/"), "HEAD", b""),
        (
            request_bytes(
                "POST", "/echo", [("Transfer-Encoding", "chunked")], body=chunked(b"chun", b"ked")
            ),
            "POST",
            b"chunked",
        ),
        (request_bytes("GET", "/sleep?ms=200"), "GET", b"slept 200\n"),
        (request_bytes("POST", "/echo", body=b"two"), "POST", b"two"),
        (request_bytes("GET", "/status?code=204"), "GET", b""),
        (request_bytes("POST", "/echo", body=b"three"), "POST", b"three"),
    ]
    with RawConn.to(server) as conn:
        conn.send(b"".join(data for data, _, _ in requests_))
        for _, method, body in requests_:
            response = conn.read_response(method)
            assert response.body == body
            assert response.status in (200, 204)
        assert not conn.closed_within(0.2)


def test_pipelined_requests_ending_with_connection_close(server):
    data = (
        request_bytes("POST", "/echo", body=b"a")
        + request_bytes("POST", "/echo", body=b"b")
        + request_bytes("GET", "/", [("Connection", "close")])
        + request_bytes("GET", "/smuggled")
    )
    with RawConn.to(server) as conn:
        conn.send(data)
        assert conn.read_response().body == b"a"
        assert conn.read_response().body == b"b"
        last = conn.read_response()
        assert last.body == b"hello\n" and last.header("connection") == "close"
        assert conn.read_all() == b""  # the request after Connection: close is never answered


def test_many_pipelined_requests_in_one_send(server):
    # 2000 requests (~130 KB) cross several recv() calls on the server; read concurrently so
    # neither side blocks on a full socket buffer.
    total = 2000
    data = b"".join(request_bytes("GET", f"/environ?i={index}") for index in range(total))
    with RawConn.to(server) as conn:
        sender = threading.Thread(target=conn.send, args=(data,))
        sender.start()
        try:
            for index in range(total):
                response = conn.read_response()
                assert response.status == 200
                assert json.loads(response.body)["QUERY_STRING"] == f"i={index}"
        finally:
            sender.join(10)


def test_pipelined_large_responses_to_a_slow_reader(server):
    # Each large response parks on WRITE half-way; the queued requests wait their turn.
    size = 1_000_000
    data = (
        request_bytes("GET", f"/big?size={size}&mode=gen")
        + request_bytes("GET", f"/big?size={size}&mode=one")
        + request_bytes("GET", f"/bytesio?size={size}")
        + request_bytes("GET", "/")
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.settimeout(10)
    sock.connect((server.host, server.port))
    with RawConn(sock) as conn:
        conn.send(data)
        time.sleep(0.3)
        for _ in range(3):
            assert conn.read_response().body == pattern(size)
        assert conn.read_response().body == b"hello\n"


def test_pipelined_requests_split_byte_by_byte(server):
    data = request_bytes("POST", "/echo", body=b"first") + request_bytes("GET", "/")
    with RawConn.to(server) as conn:
        for index in range(len(data)):
            conn.send(data[index : index + 1])
        assert conn.read_response().body == b"first"
        assert conn.read_response().body == b"hello\n"
