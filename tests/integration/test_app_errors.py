"""App failures: a 500 before the response started, a close once it has, one log entry with
the traceback, and the iterable's close() called even when the client goes away."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from tests.integration.conftest import (
    RawConn,
    get,
    log_entries,
    request_bytes,
    running,
    wait_until,
)


@pytest.fixture(scope="module")
def server(poller):
    with running("--threads", "2", poller=poller) as server:
        yield server


@pytest.mark.parametrize("path", ["/raise", "/garbage", "/no-start"])
def test_app_failing_before_the_response_gets_500(server, path):
    with RawConn.to(server) as conn:
        response = conn.exchange(request_bytes("GET", path))
        assert response.status == 500
        assert response.header("content-length") is not None
        assert b"boom" not in response.body  # no traceback or message leaks to the client
        assert conn.closed_within(3)
    assert get(server, "/").body == b"hello\n"  # a new connection works


def test_500_logs_exactly_one_entry_with_the_traceback(poller):
    with running(poller=poller) as server:
        assert get(server, "/raise").status == 500
        assert get(server, "/").status == 200
        assert server.stop() == 0
        log = server.read_log()
    errors = [entry for entry in log_entries(log) if "[ERROR]" in entry.splitlines()[0]]
    assert len(errors) == 1, log
    entry = errors[0]
    assert "/raise" in entry.splitlines()[0]
    assert entry.count("Traceback (most recent call last)") == 1
    assert "RuntimeError: boom before start_response" in entry
    assert "raise_early" in entry  # the app's own frame is in the traceback
    assert log.count("Traceback") == 1


def test_exception_mid_stream_closes_the_connection(server):
    with RawConn.to(server) as conn:
        conn.send(request_bytes("GET", "/raise-mid"))
        head = conn.read_head()
        assert head.status == 200
        assert head.header("transfer-encoding") == "chunked"
        rest = conn.read_all(timeout=5)
        assert rest.startswith(b"c\r\nfirst piece\n\r\n")
        assert not rest.endswith(b"0\r\n\r\n"), "a failed body must not look complete"
    assert get(server, "/").status == 200


def test_exception_mid_stream_with_content_length_closes_short(server):
    with RawConn.to(server) as conn:
        conn.send(request_bytes("GET", "/raise-mid-cl"))
        head = conn.read_head()
        assert head.header("content-length") == "100"
        rest = conn.read_all(timeout=5)
        assert rest == b"first piece\n"  # short of 100 bytes, then EOF: the client sees an error


def test_exception_mid_stream_is_logged(poller):
    with running(poller=poller) as server:
        with RawConn.to(server) as conn:
            conn.send(request_bytes("GET", "/raise-mid"))
            conn.read_all(timeout=5)
        server.stop()
        log = server.read_log()
    errors = [entry for entry in log_entries(log) if "[ERROR]" in entry.splitlines()[0]]
    assert len(errors) == 1, log
    assert "RuntimeError: boom mid-stream" in errors[0]


def _disconnect_mid_response(server, path: str, reset: bool) -> None:
    conn = RawConn.to(server)
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    conn.send(request_bytes("GET", path))
    received = 0
    while received < 300_000:
        data = conn.sock.recv(65536)
        assert data
        received += len(data)
    if reset:
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


@pytest.mark.parametrize("route", ["/record-close", "/record-close-gen"])
@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_close_is_called_when_the_client_disconnects(server, tmp_path, route, reset):
    record = tmp_path / "closed.txt"
    _disconnect_mid_response(server, f"{route}?path={record}", reset)
    assert wait_until(record.exists, timeout=10), "close() was not called"
    time.sleep(0.2)
    assert len(record.read_text().splitlines()) == 1  # exactly once
    assert get(server, "/").status == 200


def test_close_is_called_when_the_client_leaves_before_reading(server, tmp_path):
    record = tmp_path / "closed.txt"
    with RawConn.to(server) as conn:
        conn.send(request_bytes("GET", f"/record-close?path={record}"))
    assert wait_until(record.exists, timeout=10), "close() was not called"


# ---- apps that break the contract -------------------------------------------------------------


@pytest.mark.parametrize("size, declared", [(12, 100), (12, 5)], ids=["short", "long"])
def test_list_body_not_matching_content_length_gets_500(server, size, declared):
    # Nothing was sent when the mismatch is found, so a 500 is still possible.
    with RawConn.to(server) as conn:
        conn.send(request_bytes("GET", f"/wrong-length?size={size}&cl={declared}"))
        everything = conn.read_all(timeout=5)
    assert everything.startswith(b"HTTP/1.1 500 ")


@pytest.mark.parametrize("size, declared", [(12, 100), (12, 5)], ids=["short", "long"])
def test_streamed_body_not_matching_content_length_closes(server, size, declared):
    with RawConn.to(server) as conn:
        conn.send(request_bytes("GET", f"/wrong-length?size={size}&cl={declared}&gen=1"))
        head = conn.read_head()
        assert head.header("content-length") == str(declared)
        rest = conn.read_all(timeout=5)
    # The client sees a short body and the close: it can tell the response is broken. Never
    # more bytes than declared, which would be read as the start of the next response.
    assert len(rest) < declared
    assert get(server, "/").status == 200


def test_header_with_a_line_break_gets_500_and_is_not_sent(server):
    with RawConn.to(server) as conn:
        conn.send(request_bytes("GET", "/bad-header"))
        everything = conn.read_all(timeout=5)
    assert everything.startswith(b"HTTP/1.1 500 ")
    assert b"X-Injected" not in everything
    assert b"should not be sent" not in everything


def test_close_raising_is_logged_and_the_response_stands(poller):
    with running(poller=poller) as server:
        with RawConn.to(server) as conn:
            response = conn.exchange(request_bytes("GET", "/close-raises"))
            assert response.status == 200 and response.body == b"body\n"
        assert get(server, "/").status == 200
        server.stop()
        log = server.read_log()
    assert "RuntimeError: boom in close()" in log


def test_start_response_with_exc_info_before_output(server):
    response = get(server, "/error-page")
    assert response.status == 503
    assert response.body == b"app error page\n"


def test_client_leaving_mid_request_is_not_an_error(poller):
    with running("--threads", "1", poller=poller) as server:
        with RawConn.to(server) as conn:  # leaves while the app reads a Content-Length body
            conn.send(request_bytes("POST", "/echo", [("Content-Length", "100000")]) + b"x" * 10)
            time.sleep(0.2)
        with RawConn.to(server) as conn:  # resets while the app reads a chunked body
            conn.send(
                request_bytes("POST", "/echo", [("Transfer-Encoding", "chunked")])
                + b"5\r\nhello\r\n"
            )
            time.sleep(0.2)
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with RawConn.to(server) as conn:  # leaves while the app runs
            conn.send(request_bytes("GET", "/sleep?ms=300"))
        time.sleep(0.5)
        assert get(server, "/").status == 200
        assert server.stop() == 0
        log = server.read_log()
    assert "[ERROR]" not in log and "Traceback" not in log, log
