"""ASGI failures, on both event loops: an app that raises or returns without a response, every
kind of contract violation (one error log entry naming it, then a 500 or a close, never a
corrupt response), and what the client gets wrong (a body over the limit, malformed HTTP,
a stalled request)."""

from __future__ import annotations

import time

import pytest

from tests.integration.asgi_apps import BROKEN
from tests.integration.conftest import (
    RawConn,
    asgi_running,
    chunked,
    fetch,
    get,
    log_entries,
    request_bytes,
    wait_until,
)


@pytest.fixture(scope="module")
def server(loop):
    with asgi_running(loop=loop) as server:
        yield server


# ---- app failures -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/raise", "/no-response"])
def test_app_failing_before_the_response_gets_500(server, path):
    with RawConn.to(server) as conn:
        response = conn.exchange(request_bytes("GET", path))
        assert response.status == 500
        assert b"boom" not in response.body
        assert conn.closed_within(3)
    assert get(server, "/").body == b"hello\n"  # the server keeps serving


def test_app_raising_after_the_start_closes_the_connection(server):
    with RawConn.to(server) as conn:
        conn.send(request_bytes("GET", "/raise-mid"))
        head = conn.read_head()
        assert head.status == 200 and head.header("transfer-encoding") == "chunked"
        rest = conn.read_all(timeout=5)
    assert rest.startswith(b"c\r\nfirst piece\n\r\n")
    assert not rest.endswith(b"0\r\n\r\n"), "a failed body must not look complete"
    assert get(server, "/").body == b"hello\n"


VIOLATIONS = {
    "unknown-type": "'http.response.nonsense'",
    "start-twice": "unexpected ASGI message 'http.response.start'",
    "body-before-start": "unexpected ASGI message 'http.response.body'",
    "status-str": "status must be an int",
    "str-body": "body must be bytes",
    "crlf-header": "CR, LF or NUL",
    "too-long": "Content-Length 3",
    "too-short": "Content-Length 100",
    "too-short-streamed": "shorter than its Content-Length",
    "too-long-streamed": "Content-Length",
    "str-header": "must be bytes",
    "status-99": "status 99",
    "body-after-end": "after the response was complete",
}
assert set(VIOLATIONS) == set(BROKEN)


@pytest.fixture(scope="module")
def quiet_server(loop):
    """A server of its own for the contract violations, so its log holds only theirs."""
    with asgi_running(loop=loop) as server:
        yield server


@pytest.mark.parametrize("kind", VIOLATIONS)
def test_contract_violation_is_logged_once_and_answered_500_or_closed(quiet_server, kind):
    server = quiet_server
    path = f"/broken?kind={kind}&id={time.monotonic_ns()}"
    with RawConn.to(server) as conn:
        conn.send(request_bytes("GET", path))
        if kind == "body-after-end":
            # The response was complete before the app broke the contract: it stands.
            response = conn.read_response()
            assert response.status == 200 and response.body == b"done"
            assert conn.exchange(request_bytes("GET", "/")).body == b"hello\n"
        else:
            everything = conn.read_all(timeout=5)
            _assert_500_or_cut(everything, kind)

    def entries() -> list[str]:
        return [e for e in log_entries(server.read_log()) if path in e.splitlines()[0]]

    assert wait_until(lambda: entries(), timeout=5)
    (entry,) = entries()
    assert "[ERROR]" in entry.splitlines()[0] and "ASGI" in entry.splitlines()[0]
    assert VIOLATIONS[kind] in entry, entry
    assert get(server, "/").body == b"hello\n"


def _assert_500_or_cut(everything: bytes, kind: str) -> None:
    """A 500 when nothing was sent yet; else the head and what was sent, then the close."""
    assert everything.count(b"HTTP/1.1 ") == 1, everything[:500]
    if everything.startswith(b"HTTP/1.1 500 "):
        assert b"should not be sent" not in everything and b"x-b:" not in everything.lower()
        return
    assert kind.endswith("-streamed"), everything[:300]
    head, _, body = everything.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    assert len(body) <= length, "more bytes than the Content-Length went out"
    assert body in (b"short", b"first")


# ---- client errors and timeouts ---------------------------------------------------------------


def test_limit_request_body_gives_413(loop):
    with asgi_running("--limit-request-body", "1000", loop=loop) as server:
        assert fetch(server, request_bytes("POST", "/echo", body=b"x" * 1000)).status == 200
        for data in (
            request_bytes("POST", "/echo", body=b"x" * 2000),
            request_bytes(
                "POST",
                "/echo",
                [("Transfer-Encoding", "chunked")],
                body=chunked(b"x" * 600, b"y" * 600),
            ),
        ):
            with RawConn.to(server) as conn:
                conn.send(data)
                response = conn.read_response()
                assert response.status == 413
                assert conn.read_all(timeout=5) == b""


@pytest.mark.parametrize(
    "data, status",
    [
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: t\r\nX A: b\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    ],
    ids=["missing_host", "space_in_name", "two_lengths", "http_2", "long_url"],
)
def test_malformed_request_gets_its_status_like_wsgi(server, data, status):
    with RawConn.to(server) as conn:
        conn.send(data)
        response = conn.read_response()
        assert response.status == status
        assert response.header("connection") == "close"
        assert conn.read_all(timeout=5) == b""


def test_bad_chunk_while_the_app_reads_gives_400(server):
    with RawConn.to(server) as conn:
        conn.send(
            request_bytes("POST", "/echo", [("Transfer-Encoding", "chunked")]) + b"5\r\nhello\r\n"
        )
        conn.send(b"zz\r\nmore\r\n0\r\n\r\n")
        response = conn.read_response()
        assert response.status == 400
        assert conn.read_all(timeout=5) == b""


def test_timeouts_close_idle_and_stalled_connections(loop):
    """--keep-alive closes an idle connection; --client-timeout one whose client owes a
    request head or body (the app waiting for the body gets http.disconnect)."""
    with asgi_running("--keep-alive", "1", "--client-timeout", "1", loop=loop) as server:
        token = f"stalled-{time.monotonic_ns()}"
        idle = RawConn.to(server)
        assert idle.exchange(request_bytes("GET", "/")).status == 200
        partial_head = RawConn.to(server)
        partial_head.send(b"GET / HTTP/1.1\r\nHost: te")
        partial_body = RawConn.to(server)
        partial_body.send(
            request_bytes("POST", f"/wait-disconnect?token={token}", [("Content-Length", "10")])
            + b"12345"
        )
        started = time.monotonic()
        for conn in (idle, partial_head, partial_body):
            assert conn.closed_within(4), "not closed after its timeout"
            conn.close()
        assert time.monotonic() - started < 4
        assert get(server, f"/marker?token={token}").body == b"http.disconnect while reading"
