"""Timeouts: --keep-alive closes idle connections, --client-timeout closes clients that owe
bytes (and a stalled client never holds the only worker)."""

from __future__ import annotations

import socket
import time

import pytest

from tests.integration.conftest import RawConn, get, request_bytes, running


@pytest.fixture(scope="module")
def keep_alive(poller):
    with running("--keep-alive", "1", "--client-timeout", "30", poller=poller) as server:
        yield server


@pytest.fixture(scope="module")
def client_timeout(poller):
    with running(
        "--threads", "1", "--keep-alive", "30", "--client-timeout", "1", poller=poller
    ) as server:
        yield server


def _time_to_close(conn: RawConn, limit: float = 5.0) -> float:
    started = time.monotonic()
    assert conn.closed_within(limit), f"still open after {limit} s"
    return time.monotonic() - started


# ---- --keep-alive ---------------------------------------------------------------------------


def test_idle_connection_is_closed_after_keep_alive(keep_alive):
    with RawConn.to(keep_alive) as conn:
        assert conn.exchange(request_bytes("GET", "/")).status == 200
        took = _time_to_close(conn)
    assert 0.8 <= took <= 2.5, f"closed after {took:.2f} s with --keep-alive 1"


def test_connection_without_a_request_is_closed_after_keep_alive(keep_alive):
    with RawConn.to(keep_alive) as conn:
        took = _time_to_close(conn)
    assert 0.8 <= took <= 2.5, f"closed after {took:.2f} s with --keep-alive 1"


def test_active_connection_outlives_keep_alive(keep_alive):
    with RawConn.to(keep_alive) as conn:
        for _ in range(5):
            assert conn.exchange(request_bytes("GET", "/")).status == 200
            time.sleep(0.4)  # 2 s in all, each pause shorter than the keep-alive
        assert conn.exchange(request_bytes("GET", "/")).status == 200


def test_slow_app_is_not_cut_by_keep_alive(keep_alive):
    assert get(keep_alive, "/sleep?ms=2000").body == b"slept 2000\n"


# ---- --client-timeout -------------------------------------------------------------------------


def test_half_a_request_head_is_closed_after_client_timeout(client_timeout):
    with RawConn.to(client_timeout) as stalled:
        stalled.send(b"GET / HTTP/1.1\r\nHost: te")
        time.sleep(0.2)
        # The only worker is not held by the stalled client.
        started = time.monotonic()
        assert get(client_timeout, "/").body == b"hello\n"
        assert time.monotonic() - started < 0.5
        took = _time_to_close(stalled)
    assert took <= 3.0, f"closed {took:.2f} s later with --client-timeout 1"


def test_trickling_head_cannot_extend_the_deadline(client_timeout):
    with RawConn.to(client_timeout) as conn:
        conn.send(b"GET / HTTP/1.1\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 6:
            try:
                conn.send(b"X")  # one header byte every 0.2 s
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if conn.closed_within(0.2):
                closed = True
                break
        took = time.monotonic() - started
    assert closed, "a trickling client kept its connection for 6 s"
    assert took <= 3.5


def test_stalled_request_body_is_closed_after_client_timeout(client_timeout):
    with RawConn.to(client_timeout) as conn:
        conn.send(request_bytes("POST", "/echo", [("Content-Length", "100")]) + b"x" * 10)
        everything = conn.read_all(timeout=5)
    # Either a plain close or a 408-style error; never a 200 for a body that never came.
    assert not everything.startswith(b"HTTP/1.1 200")
    assert get(client_timeout, "/").status == 200


def test_client_that_stops_reading_is_closed_after_client_timeout(client_timeout):
    size = 20 * 1024 * 1024
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    sock.connect((client_timeout.host, client_timeout.port))
    with RawConn(sock) as conn:
        conn.send(request_bytes("GET", f"/big?size={size}&mode=gencl"))
        time.sleep(3)  # longer than --client-timeout, reading nothing
        received = 0
        try:
            while chunk := sock.recv(1 << 20):
                received += len(chunk)
        except ConnectionResetError:
            pass
    assert received < size, "the server waited forever for a client that stopped reading"
    assert get(client_timeout, "/").status == 200


def test_idle_keep_alive_uses_keep_alive_not_client_timeout(client_timeout):
    # Between requests the keep-alive (30 s here) applies, not the 1 s client timeout.
    with RawConn.to(client_timeout) as conn:
        assert conn.exchange(request_bytes("GET", "/")).status == 200
        assert not conn.closed_within(2.2)
        assert conn.exchange(request_bytes("GET", "/")).status == 200
