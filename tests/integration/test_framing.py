"""Message framing over real sockets: chunked request bodies (with trailers), chunked
responses, HEAD, 204/304, and the Date and Server headers every response carries."""

from __future__ import annotations

import email.utils
import socket
import time

import pytest
import requests

from tests.integration.conftest import RawConn, chunked, get, request_bytes, running


@pytest.fixture(scope="module")
def server(poller):
    with running(poller=poller) as server:
        yield server


def test_chunked_request_body_with_trailers(server):
    body = chunked(
        b"Hello, ", b"chunked ", b"world" * 1000, trailers=[("X-Checksum", "abc"), ("X-Other", "1")]
    )
    with RawConn.to(server) as conn:
        response = conn.exchange(
            request_bytes(
                "POST",
                "/echo",
                [("Transfer-Encoding", "chunked"), ("Trailer", "X-Checksum")],
                body=body,
            )
        )
        assert response.status == 200
        assert response.body == b"Hello, chunked " + b"world" * 1000
        # The trailers were consumed as part of the request: the connection is in sync.
        assert conn.exchange(request_bytes("GET", "/")).body == b"hello\n"


def test_chunked_request_body_with_extensions_sent_in_pieces(server):
    body = b"5;name=value\r\nHello\r\n1;x\r\n \r\n6\r\nWorld!\r\n0\r\nX-T: y\r\n\r\n"
    with RawConn.to(server) as conn:
        conn.send(request_bytes("POST", "/echo", [("Transfer-Encoding", "chunked")]))
        for index in range(0, len(body), 3):
            conn.send(body[index : index + 3])
            time.sleep(0.001)
        response = conn.read_response()
        assert response.status == 200
        assert response.body == b"Hello World!"


def test_empty_chunked_request_body(server):
    response = get(
        server,
        "/echo",
        method="POST",
        headers=[("Transfer-Encoding", "chunked")],
        body=b"0\r\n\r\n",
    )
    assert response.status == 200
    assert response.body == b""


def test_chunked_response_when_the_app_sets_no_length(server):
    with RawConn.to(server) as conn:
        response = conn.exchange(request_bytes("GET", "/stream?n=4"))
        assert response.status == 200
        assert response.header("transfer-encoding") == "chunked"
        assert response.header("content-length") is None
        assert response.body == b"piece 0\npiece 1\npiece 2\npiece 3\n"
        # One chunk per yielded piece, then the last chunk.
        assert response.raw.endswith(b"8\r\npiece 3\n\r\n0\r\n\r\n")
        assert conn.exchange(request_bytes("GET", "/")).status == 200


def test_chunked_response_with_delays_between_pieces(server):
    response = requests.get(server.url + "/stream?n=3&delay=0.05", stream=True, timeout=10)
    pieces = list(response.iter_content(chunk_size=None))
    assert b"".join(pieces) == b"piece 0\npiece 1\npiece 2\n"
    assert response.headers["Transfer-Encoding"] == "chunked"


def test_write_callable_then_iterable(server):
    response = get(server, "/write")
    assert response.status == 200
    assert response.body == b"written by write()\nthen returned\n"


def test_content_length_set_from_a_list_body(server):
    # A one-element list whose length is known goes out with Content-Length, not chunked.
    response = get(server, "/big?size=1000&mode=one")
    assert response.header("content-length") == "1000"
    assert response.header("transfer-encoding") is None


@pytest.mark.parametrize(
    "path", ["/", "/stream?n=3", "/big?size=100000&mode=one", "/big?size=200000&mode=gencl"]
)
def test_head_gets_the_headers_and_no_body(server, path):
    with RawConn.to(server) as conn:
        conn.send(request_bytes("HEAD", path))
        head = conn.read_head()
        assert head.status == 200
        if path == "/":
            assert head.header("content-length") == "6"
        # No body bytes: the next response starts right after the head.
        response = conn.exchange(request_bytes("GET", "/"))
        assert response.status == 200 and response.body == b"hello\n"
        assert head.raw == head.raw.split(b"\r\n\r\n")[0] + b"\r\n\r\n"


@pytest.mark.parametrize("code", [204, 304])
@pytest.mark.parametrize("app_body", ["", "oops"])
def test_no_body_for_204_and_304(server, code, app_body):
    with RawConn.to(server) as conn:
        conn.send(request_bytes("GET", f"/status?code={code}&body={app_body}"))
        head = conn.read_head()
        assert head.status == code
        assert head.header("transfer-encoding") is None
        assert head.header("content-length") in (None, "0")
        response = conn.exchange(request_bytes("GET", "/"))
        assert response.body == b"hello\n"  # no stray body bytes before this response


def test_date_and_server_headers(server):
    for path in ("/", "/stream", "/status?code=204", "/nope"):
        response = get(server, path)
        date = response.header("date")
        assert date is not None, path
        parsed = email.utils.parsedate_to_datetime(date)
        assert abs(parsed.timestamp() - time.time()) < 5
        assert date.endswith(" GMT")
        assert response.header("server") is not None
        assert response.names().count("date") == 1
        assert response.names().count("server") == 1


def test_error_responses_have_date_and_server(server):
    response = get(server, "/", host=False)
    assert response.status == 400
    assert response.header("date") is not None
    assert response.header("server") is not None


def test_environ_basics(server):
    response = requests.get(server.url + "/environ?a=1&b=%20", headers={"X-Thing": "v"}, timeout=10)
    environ = response.json()
    assert environ["REQUEST_METHOD"] == "GET"
    assert environ["PATH_INFO"] == "/environ"
    assert environ["QUERY_STRING"] == "a=1&b=%20"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["HTTP_X_THING"] == "v"
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["SERVER_PORT"] == str(server.port)
    assert environ["SCRIPT_NAME"] == ""


def test_many_small_requests_with_nodelay_client(server):
    with RawConn.to(server) as conn:
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for index in range(200):
            body = str(index).encode()
            assert conn.exchange(request_bytes("POST", "/echo", body=body)).body == body
