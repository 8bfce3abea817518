"""PEP 3333 over real sockets: wsgi.file_wrapper (the sendfile path and the iteration path)
and an app wrapped in wsgiref.validate.validator."""

from __future__ import annotations

import json
import os

import pytest
import requests

from tests.integration.apps import pattern
from tests.integration.conftest import RawConn, chunked, fetch, get, request_bytes, running


@pytest.fixture(scope="module")
def server(poller):
    with running("--threads", "2", poller=poller) as server:
        yield server


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    made = {}
    for name, size in (("empty", 0), ("small", 1000), ("large", 3 * 1024 * 1024 + 17)):
        path = folder / f"{name}.bin"
        path.write_bytes(os.urandom(size))
        made[name] = path
    return made


# ---- wsgi.file_wrapper ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["empty", "small", "large"])
def test_file_wrapper_with_a_real_file(server, files, name):
    # With a Content-Length, a real file goes out with sendfile on Linux.
    content = files[name].read_bytes()
    with RawConn.to(server) as conn:
        response = conn.exchange(request_bytes("GET", f"/file?path={files[name]}"))
        assert response.status == 200
        assert response.header("content-length") == str(len(content))
        assert response.header("transfer-encoding") is None
        assert response.body == content
        # The connection is in sync after it.
        assert conn.exchange(request_bytes("GET", "/")).body == b"hello\n"


@pytest.mark.parametrize("name", ["small", "large"])
def test_file_wrapper_with_a_real_file_and_no_length(server, files, name):
    content = files[name].read_bytes()
    with RawConn.to(server) as conn:
        response = conn.exchange(request_bytes("GET", f"/file?path={files[name]}&cl=0"))
        assert response.header("transfer-encoding") == "chunked"
        assert response.body == content
        assert conn.exchange(request_bytes("GET", "/")).body == b"hello\n"


def test_file_wrapper_head(server, files):
    with RawConn.to(server) as conn:
        conn.send(request_bytes("HEAD", f"/file?path={files['large']}"))
        head = conn.read_head()
        assert head.header("content-length") == str(files["large"].stat().st_size)
        assert conn.exchange(request_bytes("GET", "/")).body == b"hello\n"


def test_file_wrapper_over_http10(server, files):
    with RawConn.to(server) as conn:
        response = conn.exchange(
            request_bytes("GET", f"/file?path={files['large']}", version="1.0")
        )
        assert response.body == files["large"].read_bytes()
        assert conn.closed_within(3)


@pytest.mark.parametrize("size", [0, 1, 10000, 10001, 2_500_000])
def test_file_wrapper_with_bytesio(server, size):
    with RawConn.to(server) as conn:
        response = conn.exchange(request_bytes("GET", f"/bytesio?size={size}"))
        assert response.header("content-length") == str(size)
        assert response.body == pattern(size)
        assert conn.exchange(request_bytes("GET", "/")).body == b"hello\n"


def test_file_wrapper_with_bytesio_and_no_length(server):
    response = get(server, "/bytesio?size=123456&cl=0")
    assert response.header("transfer-encoding") == "chunked"
    assert response.body == pattern(123456)


def test_file_wrapper_with_requests(server, files):
    response = requests.get(server.url + f"/file?path={files['large']}", timeout=10)
    assert response.content == files["large"].read_bytes()
    assert response.headers["Content-Length"] == str(len(response.content))


# ---- wsgiref.validate -------------------------------------------------------------------------


def test_validator_sees_no_violation(poller):
    with running("--threads", "2", poller=poller, name="validated") as server:
        with RawConn.to(server) as conn:
            checks = [
                (request_bytes("GET", "/"), "GET", 200),
                (request_bytes("GET", "/x?a=1&b=2"), "GET", 200),
                (request_bytes("HEAD", "/"), "HEAD", 200),
                (request_bytes("POST", "/echo", body=b"posted"), "POST", 200),
                (
                    request_bytes(
                        "POST",
                        "/echo",
                        [("Transfer-Encoding", "chunked")],
                        body=chunked(b"chun", b"ked"),
                    ),
                    "POST",
                    200,
                ),
                (request_bytes("POST", "/lines", body=b"a\nb\nc"), "POST", 200),
                (request_bytes("GET", "/stream"), "GET", 200),
                (request_bytes("GET", "/empty"), "GET", 204),
                (request_bytes("GET", "/write"), "GET", 200),
                (request_bytes("GET", "/file"), "GET", 200),
                (request_bytes("GET", "/errors"), "GET", 200),
                (request_bytes("GET", "/", version="1.0", host=False), "GET", 200),
            ]
            bodies = []
            for data, method, status in checks:
                response = conn.exchange(data, method)
                assert response.status == status, response.raw[:300]
                bodies.append(response.body)
        assert bodies[3] == b"posted"
        assert bodies[4] == b"chunked"
        assert bodies[5] == b"a\n|b\n|c"
        assert bodies[6] == b"line 0\nline 1\nline 2\n"
        assert bodies[8] == b"via write\nand iterable\n"
        assert bodies[9] == b"file body\n"
        assert server.stop() == 0
        log = server.read_log()
    assert "a line for wsgi.errors" in log
    for bad in ("AssertionError", "Traceback", "WSGIWarning", "Exception ignored"):
        assert bad not in log, log


def test_environ_from_a_raw_request(server):
    response = get(
        server,
        "/environ/caf%C3%A9/a%2Fb?q=%41",
        headers=[
            ("Cookie", "a=1"),
            ("Cookie", "b=2"),
            ("X-Dup", "1"),
            ("X-Dup", "2"),
            ("X_Under", "spoof"),
            ("X-Under", "real"),
            ("Content-Type", "text/x"),
        ],
    )
    environ = json.loads(response.body)
    # PEP 3333: PATH_INFO is the percent-decoded path as latin-1 text.
    assert environ["PATH_INFO"] == "/environ/caf\u00c3\u00a9/a/b"
    assert environ["QUERY_STRING"] == "q=%41"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert environ["HTTP_X_DUP"] == "1,2"
    assert environ["HTTP_X_UNDER"] == "real"  # a "_" name must not spoof a "-" one
    assert environ["CONTENT_TYPE"] == "text/x"
    assert "HTTP_CONTENT_TYPE" not in environ


def test_environ_for_an_absolute_form_target(server):
    response = fetch(server, b"GET http://example.com/environ/x?y=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    environ = json.loads(response.body)
    assert environ["PATH_INFO"] == "/environ/x"
    assert environ["QUERY_STRING"] == "y=1"


def test_file_wrapper_from_the_current_position(server, files):
    # PEP 3333: transmission starts at the file's current position.
    content = files["large"].read_bytes()
    response = get(server, f"/file?path={files['large']}&seek=1000")
    assert response.header("content-length") == str(len(content) - 1000)
    assert response.body == content[1000:]


def test_file_shorter_than_its_content_length_closes(server, files):
    size = files["small"].stat().st_size
    with RawConn.to(server) as conn:
        conn.send(request_bytes("GET", f"/file?path={files['small']}&length={size + 500}"))
        head = conn.read_head()
        assert head.header("content-length") == str(size + 500)
        rest = conn.read_all(timeout=5)
    assert rest == files["small"].read_bytes()  # short, then the close
    assert get(server, "/").status == 200


def test_root_path(poller):
    with running("--root-path", "/mount", poller=poller) as server:
        environ = requests.get(server.url + "/mount/environ", timeout=10).json()
        assert environ["SCRIPT_NAME"] == "/mount"
        assert environ["PATH_INFO"] == "/environ"
