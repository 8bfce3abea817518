"""The access log: one line per request on stdout with --access-log, nothing without it."""

from __future__ import annotations

import re

from tests.integration.conftest import RawConn, get, request_bytes, running

LINE = re.compile(
    r'(?P<client>\S+) - - \[[^\]]+\] "(?P<method>\S+) (?P<target>\S+) '
    r'HTTP/(?P<version>1\.[01])" (?P<status>\d{3}) (?P<size>\d+) '
)


def _requests(server) -> None:
    with RawConn.to(server) as conn:
        assert conn.exchange(request_bytes("GET", "/?q=1")).body == b"hello\n"
        assert conn.exchange(request_bytes("POST", "/echo", body=b"x" * 1234)).status == 200
        assert conn.exchange(request_bytes("GET", "/stream?n=3")).status == 200
        assert conn.exchange(request_bytes("GET", "/missing")).status == 404
        assert conn.exchange(request_bytes("GET", "/big?size=300000&mode=gencl")).status == 200
    assert get(server, "/raise").status == 500


def test_one_line_per_request(poller):
    with running("--access-log", poller=poller) as server:
        _requests(server)
        assert server.stop() == 0
        out = server.read_access_log()
        log = server.read_log()
    lines = out.splitlines()
    assert len(lines) == 6, out
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), out
    rows = [(m["method"], m["target"], m["status"], int(m["size"])) for m in parsed]
    assert rows == [
        ("GET", "/?q=1", "200", 6),
        ("POST", "/echo", "200", 1234),
        ("GET", "/stream?n=3", "200", len(b"piece 0\npiece 1\npiece 2\n")),
        ("GET", "/missing", "404", 10),
        ("GET", "/big?size=300000&mode=gencl", "200", 300000),
        ("GET", "/raise", "500", rows[5][3]),
    ]
    assert all(m["client"] == "127.0.0.1" for m in parsed)
    assert "GET /?q=1" not in log  # the access log goes to stdout, not to the error log


def test_nothing_without_the_flag(poller):
    with running(poller=poller) as server:
        _requests(server)
        assert server.stop() == 0
        assert server.read_access_log() == ""


def test_no_access_log_flag(poller):
    with running("--access-log", "--no-access-log", poller=poller) as server:
        assert get(server, "/").status == 200
        assert server.stop() == 0
        assert server.read_access_log() == ""
