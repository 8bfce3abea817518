"""Expect: 100-continue: the interim response goes out only when the app starts reading the
body, and an app that answers without reading leaves the connection either closed or in sync."""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import RawConn, chunked, request_bytes, running


@pytest.fixture(scope="module")
def server(poller):
    with running("--threads", "2", poller=poller) as server:
        yield server


def _expect(path: str, length: int, extra: list[tuple[str, str]] | None = None) -> bytes:
    return request_bytes(
        "POST", path, [("Expect", "100-continue"), ("Content-Length", str(length)), *(extra or [])]
    )


def test_100_continue_only_once_the_app_reads(server):
    with RawConn.to(server) as conn:
        started = time.monotonic()
        conn.send(_expect("/read-later?ms=500", 5))
        assert not conn.closed_within(0.25)  # nothing at all while the app has not read
        assert conn.buffer == b""
        interim = conn.read_head()
        waited = time.monotonic() - started
        assert interim.status == 100
        assert interim.raw == b"HTTP/1.1 100 Continue\r\n\r\n"
        assert waited >= 0.45, f"100 Continue after {waited:.3f} s, before the app read"
        conn.send(b"hello")
        response = conn.read_response("POST")
        assert response.status == 200
        assert response.body == b"hello"
        # The connection stays usable.
        assert conn.exchange(request_bytes("GET", "/")).body == b"hello\n"


def test_100_continue_with_a_chunked_body(server):
    with RawConn.to(server) as conn:
        conn.send(
            request_bytes(
                "POST", "/echo", [("Expect", "100-continue"), ("Transfer-Encoding", "chunked")]
            )
        )
        assert conn.read_head().status == 100
        conn.send(chunked(b"abc", b"def"))
        response = conn.read_response()
        assert response.body == b"abcdef"


def test_100_continue_for_a_large_body_read_in_pieces(server):
    size = 3_000_000
    with RawConn.to(server) as conn:
        conn.send(_expect("/count", size))
        assert conn.read_head().status == 100
        conn.send(b"z" * size)
        response = conn.read_response()
        assert response.status == 200
        assert response.body.split()[0] == str(size).encode()


def test_app_answers_without_reading_gets_no_100_and_the_connection_closes(server):
    with RawConn.to(server) as conn:
        conn.send(_expect("/", 1000))
        response = conn.read_response()
        assert response.status == 200
        assert response.body == b"hello\n"
        assert b"100 Continue" not in response.raw
        # The client never got a 100, so it may never send the body: the server must not
        # wait to drain it, and cannot reuse the connection.
        assert conn.closed_within(3)


def test_app_answers_without_reading_announces_the_close(server):
    # RFC 9110 10.1.1: a server that answers before reading the content SHOULD say whether it
    # will close. Without the header a client reuses the connection and loses its next request.
    with RawConn.to(server) as conn:
        conn.send(_expect("/", 1000))
        response = conn.read_response()
        assert response.status == 200
        assert response.header("connection") == "close"


def test_body_sent_anyway_is_not_read_as_a_request(server):
    # A client that sends its body without waiting for the 100 (allowed by RFC 9110 10.1.1);
    # the body looks like a request, which must never be answered.
    hidden = request_bytes("GET", "/smuggled")
    with RawConn.to(server) as conn:
        conn.send(_expect("/", len(hidden)) + hidden)
        response = conn.read_response()
        assert response.status == 200
        assert response.body == b"hello\n"
        assert b"100 Continue" not in response.raw
        # Either the server closes (and nothing answers the hidden request: closed_within
        # fails on any byte) or it drained the body and stays in sync.
        if not conn.closed_within(1):
            # Drained: the connection is in sync and the next response answers the next real
            # request, not the hidden one.
            after = conn.exchange(request_bytes("GET", "/environ?after"))
            assert b'"QUERY_STRING": "after"' in after.body
            assert not conn.closed_within(0.2)


def test_http10_expect_is_not_answered_with_100(server):
    # 100 Continue is an HTTP/1.1 interim response; HTTP/1.0 clients do not wait for it.
    with RawConn.to(server) as conn:
        conn.send(
            request_bytes("POST", "/echo", [("Expect", "100-continue")], body=b"abc", version="1.0")
        )
        response = conn.read_response()
        assert response.status == 200
        assert response.body == b"abc"


def test_unknown_expectation_gets_417(server):
    with RawConn.to(server) as conn:
        conn.send(request_bytes("POST", "/echo", [("Expect", "something-else")], body=b"abc"))
        response = conn.read_response()
        assert response.status == 417
        assert conn.closed_within(3)
