"""Malformed requests: the right status, then a close; and never a second response for bytes
that follow a framing error (request smuggling)."""

from __future__ import annotations

import re
import time

import pytest

from tests.integration.conftest import RawConn, chunked, request_bytes, running

HOST = b"Host: test\r\n"


@pytest.fixture(scope="module")
def server(poller):
    with running("--threads", "2", poller=poller) as server:
        yield server


def _refused(server, data: bytes, status: int) -> bytes:
    """Send `data`; expect exactly one response with `status`, then the close."""
    with RawConn.to(server) as conn:
        try:
            conn.send(data)
        except (BrokenPipeError, ConnectionResetError):  # the server may stop reading early
            pass
        response = conn.read_response()
        assert response.status == status, response.raw[:300]
        assert response.header("connection") == "close"
        rest = conn.read_all(timeout=5)
        assert rest == b"", f"bytes after the error response: {rest[:300]!r}"
        return response.raw


CASES = {
    "cl_and_te": (
        b"POST /echo HTTP/1.1\r\n" + HOST + b"Content-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "te_and_cl": (
        b"POST /echo HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n"
        b"Content-Length: 5\r\n\r\n0\r\n\r\n",
        400,
    ),
    "bad_chunk_size": (
        b"POST /echo HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
        b"zz\r\nhello\r\n0\r\n\r\n",
        400,
    ),
    "bad_chunk_size_unread": (
        b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n"
        b"\r\nzz\r\nhello\r\n0\r\n\r\n",
        400,
    ),
    "chunk_without_crlf": (
        b"POST /echo HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n"
        b"\r\n5\r\nhelloXX0\r\n\r\n",
        400,
    ),
    "bare_lf": (b"GET / HTTP/1.1\nHost: test\n\n", 400),
    "bare_lf_in_headers": (b"GET / HTTP/1.1\r\nHost: test\nX-A: b\r\n\r\n", 400),
    "bare_cr": (b"GET / HTTP/1.1\r\nHost: test\rX-A: b\r\n\r\n", 400),
    "control_char_in_value": (b"GET / HTTP/1.1\r\n" + HOST + b"X-A: a\x01b\r\n\r\n", 400),
    "nul_in_value": (b"GET / HTTP/1.1\r\n" + HOST + b"X-A: a\x00b\r\n\r\n", 400),
    "control_char_in_target": (b"GET /a\x01b HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    "space_in_header_name": (b"GET / HTTP/1.1\r\n" + HOST + b"X A: b\r\n\r\n", 400),
    "space_before_colon": (b"GET / HTTP/1.1\r\n" + HOST + b"X-A : b\r\n\r\n", 400),
    "obs_fold": (b"GET / HTTP/1.1\r\n" + HOST + b"X-A: b\r\n c\r\n\r\n", 400),
    "missing_host": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "two_hosts": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "two_content_lengths": (
        b"POST /echo HTTP/1.1\r\n" + HOST + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
    ),
    "bad_content_length": (
        b"POST /echo HTTP/1.1\r\n" + HOST + b"Content-Length: 3x\r\n\r\nabc",
        400,
    ),
    "negative_content_length": (
        b"POST /echo HTTP/1.1\r\n" + HOST + b"Content-Length: -1\r\n\r\n",
        400,
    ),
    "te_not_chunked_last": (
        b"POST /echo HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        400,
    ),
    "te_in_http10": (b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "garbage": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello\r\n\r\n", 400),
    "long_url": (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n" + HOST + b"\r\n", 414),
    "too_many_headers": (
        b"GET / HTTP/1.1\r\n" + HOST + b"".join(b"X-H%d: v\r\n" % i for i in range(101)) + b"\r\n",
        431,
    ),
    "header_too_big": (b"GET / HTTP/1.1\r\n" + HOST + b"X-Big: " + b"v" * 9000 + b"\r\n\r\n", 431),
    "unknown_method": (b"BREW / HTTP/1.1\r\n" + HOST + b"\r\n", 501),
    "http_2": (b"GET / HTTP/2.0\r\n" + HOST + b"\r\n", 505),
    "http_1_2": (b"GET / HTTP/1.2\r\n" + HOST + b"\r\n", 505),
    "http_3": (b"GET / HTTP/3.0\r\n" + HOST + b"\r\n", 505),
}


@pytest.mark.parametrize("name", CASES)
def test_malformed_request_gets_its_status_and_a_close(server, name):
    data, status = CASES[name]
    _refused(server, data, status)


def test_request_line_without_version(server):
    # An HTTP/0.9-style request line: 400 (malformed) and 505 (unsupported version) both fit.
    with RawConn.to(server) as conn:
        response = conn.exchange(b"GET /\r\n" + HOST + b"\r\n")
        assert response.status in (400, 505)
        assert conn.read_all(timeout=5) == b""


@pytest.mark.parametrize(
    "name",
    ["bad_chunk_size", "long_url", "too_many_headers", "unknown_method", "http_2", "missing_host"],
)
def test_malformed_request_after_a_good_one_on_the_same_connection(server, name):
    data, status = CASES[name]
    with RawConn.to(server) as conn:
        assert conn.exchange(request_bytes("GET", "/")).status == 200
        conn.send(data)
        response = conn.read_response()
        assert response.status == status
        assert conn.read_all(timeout=5) == b""


def test_bad_chunk_arriving_while_the_app_reads(server):
    with RawConn.to(server) as conn:
        conn.send(
            request_bytes("POST", "/echo", [("Transfer-Encoding", "chunked")]) + b"5\r\nhello\r\n"
        )
        time.sleep(0.2)  # the app is now blocked reading the body
        conn.send(b"zz\r\nmore\r\n0\r\n\r\n")
        response = conn.read_response()
        assert response.status == 400
        assert conn.read_all(timeout=5) == b""


def test_headers_sent_byte_by_byte_over_the_limit(server):
    # The limit holds however the head is split across recv() calls.
    with RawConn.to(server) as conn:
        conn.send(b"GET / HTTP/1.1\r\n" + HOST)
        big = b"X-Big: " + b"v" * 9000 + b"\r\n\r\n"
        try:
            for index in range(0, len(big), 500):
                conn.send(big[index : index + 500])
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = conn.read_response()
        assert response.status == 431


def test_endless_head_is_refused_without_buffering_it(server):
    with RawConn.to(server) as conn:
        conn.send(b"GET / HTTP/1.1\r\n" + HOST)
        sent = 0
        line = b"X-H: " + b"v" * 100 + b"\r\n"
        try:
            while sent < 10_000_000:
                conn.send(line * 100)
                sent += len(line) * 100
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = conn.read_response()
        assert response.status == 431
        assert sent < 10_000_000


def test_limits_are_configurable(poller):
    with running(
        "--limit-request-line",
        "100",
        "--limit-request-fields",
        "5",
        "--limit-request-field-size",
        "200",
        poller=poller,
    ) as small:
        ok = request_bytes("GET", "/" + "a" * 80, [(f"X-{i}", "v") for i in range(3)])
        with RawConn.to(small) as conn:
            assert conn.exchange(ok).status == 404
        _refused(small, request_bytes("GET", "/" + "a" * 150), 414)
        _refused(small, request_bytes("GET", "/", [(f"X-{i}", "v") for i in range(6)]), 431)
        _refused(small, request_bytes("GET", "/", [("X-Big", "v" * 300)]), 431)


# ---- smuggling: the bytes after a framing error are never a second request -------------------

HIDDEN = b"GET /smuggled HTTP/1.1\r\n" + HOST + b"\r\n"

SMUGGLING = {
    "cl_te": b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: %d\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % (5 + len(HIDDEN)) + HIDDEN,
    "te_cl": b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n"
    b"Content-Length: 4\r\n\r\n%x\r\n" % len(HIDDEN) + HIDDEN + b"\r\n0\r\n\r\n",
    "te_space_colon": b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: %d\r\n"
    b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n" % (5 + len(HIDDEN)) + HIDDEN,
    "te_obs_fold": b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: %d\r\nTransfer-Encoding:\r\n"
    b" chunked\r\n\r\n0\r\n\r\n" % (5 + len(HIDDEN)) + HIDDEN,
    "te_identity_chunked": b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: identity\r\n"
    b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n\r\n0\r\n\r\n"
    % (5 + len(HIDDEN))
    + HIDDEN,
    "two_cl": b"POST / HTTP/1.1\r\n"
    + HOST
    + b"Content-Length: 0\r\nContent-Length: %d\r\n\r\n" % len(HIDDEN)
    + HIDDEN,
    "cl_comma": b"POST / HTTP/1.1\r\n"
    + HOST
    + b"Content-Length: 0, %d\r\n\r\n" % len(HIDDEN)
    + HIDDEN,
    "bad_chunk_then_request": b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n"
    b"\r\n3x\r\nabc\r\n0\r\n\r\n" + HIDDEN,
    "chunk_size_overflow": b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
    b"10000000000000001\r\na\r\n0\r\n\r\n" + HIDDEN,
    "lf_chunk_terminator": b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
    b"1\na\r\n0\r\n\r\n" + HIDDEN,
    "http10_te": b"POST / HTTP/1.0\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0\r\n\r\n" % (5 + len(HIDDEN)) + HIDDEN,
    "bad_request_line": b"GET /a b HTTP/1.1\r\n" + HOST + b"\r\n" + HIDDEN,
    "bare_lf_header": b"GET / HTTP/1.1\r\n"
    + HOST
    + b"X-A: b\nContent-Length: %d\r\n\r\n" % len(HIDDEN)
    + HIDDEN,
}


@pytest.mark.parametrize("name", SMUGGLING)
def test_smuggling_attempt_gets_exactly_one_response(server, name):
    with RawConn.to(server) as conn:
        conn.send(SMUGGLING[name])
        everything = conn.read_all(timeout=5)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", everything)
    assert len(statuses) == 1, everything[:500]
    assert b"SMUGGLED" not in everything
    assert statuses[0].startswith(b"4"), everything[:300]


def test_smuggling_split_across_sends(server):
    with RawConn.to(server) as conn:
        data = SMUGGLING["cl_te"]
        cut = data.index(b"\r\n\r\n") + 4
        conn.send(data[:cut])
        time.sleep(0.1)
        try:
            conn.send(data[cut:])
        except (BrokenPipeError, ConnectionResetError):
            pass
        everything = conn.read_all(timeout=5)
    assert everything.count(b"HTTP/1.1 ") == 1
    assert b"SMUGGLED" not in everything


def test_server_keeps_serving_after_bad_requests(server):
    for data, _ in list(CASES.values())[:10]:
        with RawConn.to(server) as conn:
            conn.send(data)
            conn.read_all(timeout=5)
    with RawConn.to(server) as conn:
        assert conn.exchange(request_bytes("GET", "/")).body == b"hello\n"


def test_request_body_limit(poller):
    with running("--limit-request-body", "1000", poller=poller) as small:
        with RawConn.to(small) as conn:
            response = conn.exchange(request_bytes("POST", "/echo", body=b"x" * 1000))
            assert response.status == 200 and len(response.body) == 1000
        _refused(small, request_bytes("POST", "/echo", body=b"x" * 2000), 413)
        _refused(small, request_bytes("POST", "/", body=b"x" * 2000), 413)
        big_chunked = chunked(b"x" * 600, b"y" * 600)
        _refused(
            small,
            request_bytes("POST", "/echo", [("Transfer-Encoding", "chunked")], body=big_chunked),
            413,
        )
        # Refused from the head alone: no 100 Continue, so the client never sends the body.
        expect = [("Expect", "100-continue"), ("Content-Length", "5000")]
        raw = _refused(small, request_bytes("POST", "/echo", expect), 413)
        assert b"100 Continue" not in raw
