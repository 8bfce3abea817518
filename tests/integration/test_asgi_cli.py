"""The command line with ASGI apps: `--interface auto` tells ASGI 3, ASGI 2 and WSGI apart; a
forced interface that cannot fit is one line and a non-zero exit; `--loop` picks the event
loop; SIGTERM under load loses no in-flight request."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from tests.integration.conftest import (
    RawConn,
    app,
    asgi_app,
    asgi_running,
    beemo_cli,
    get,
    request_bytes,
    stop_and_wait,
    wait_until,
)
from tests.integration.test_shutdown import Attempt, _hammer
from tests.support import serve


@pytest.mark.parametrize(
    "spec, body, pool",
    [
        (asgi_app("app"), b"hello\n", "event loop:"),
        (asgi_app("ASGI2App"), b"asgi2 /", "event loop:"),
        (asgi_app("wsgi_app"), b"wsgi\n", "poller:"),
        (app("app"), b"hello\n", "poller:"),
    ],
    ids=["asgi3", "asgi2", "wsgi", "wsgi_routes"],
)
def test_interface_auto_detects_the_app(spec, body, pool):
    with serve(spec) as server:
        assert get(server, "/").body == body
        log = server.read_log()
    assert f"Using {pool}" in log, log


@pytest.mark.parametrize(
    "spec, interface",
    [
        (asgi_app("app"), "wsgi"),
        (asgi_app("app"), "asgi2"),
        (asgi_app("ASGI2App"), "wsgi"),
        (asgi_app("wsgi_app"), "asgi"),
        (asgi_app("wsgi_app"), "asgi2"),
    ],
    ids=["asgi3_as_wsgi", "asgi3_as_asgi2", "asgi2_as_wsgi", "wsgi_as_asgi", "wsgi_as_asgi2"],
)
def test_a_forced_wrong_interface_is_one_line(spec, interface):
    result = beemo_cli(spec, "--interface", interface, "--bind", "127.0.0.1:0")
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("beemo: error:") and "--interface" in lines[0], lines[0]
    assert "Listening" not in result.stderr


def test_a_forced_right_interface_serves(loop):
    with asgi_running("--interface", "asgi", loop=loop) as server:
        assert get(server, "/").body == b"hello\n"


def test_loop_flag_picks_the_event_loop(loop):
    with asgi_running("--threads", "2", loop=loop) as server:
        for _ in range(4):
            assert get(server, "/").body == b"hello\n"
        log = server.read_log()
    assert f"Using event loop: {loop}, threads: 2" in log, log


def test_loop_auto_prefers_uvloop():
    with asgi_running() as server:
        assert get(server, "/").body == b"hello\n"
    assert "Using event loop: uvloop" in server.read_log()


def test_sigterm_completes_every_in_flight_request(loop):
    """Eight requests asleep in the app when SIGTERM arrives: each gets its whole 200."""
    with asgi_running("--threads", "2", "--graceful-timeout", "10", loop=loop) as server:
        conns = [RawConn.to(server) for _ in range(8)]
        for conn in conns:
            conn.send(request_bytes("GET", "/sleep?ms=1000"))
        assert wait_until(lambda: get(server, "/marker?token=sleeping").body == b"8", timeout=5)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        for conn in conns:
            response = conn.read_response()
            assert response.status == 200 and response.body == b"slept 1000\n"
            assert response.header("connection") == "close"
            assert conn.closed_within(2)
            conn.close()
        assert server.proc.wait(10) == 0
    assert time.monotonic() - started < 3.0


def test_sigterm_under_load_loses_no_request(loop):
    with asgi_running("--threads", "2", "--graceful-timeout", "10", loop=loop) as server:
        attempts: list[Attempt] = []
        stop = threading.Event()
        clients = [
            threading.Thread(target=_hammer, args=(server, stop, attempts)) for _ in range(6)
        ]
        for client in clients:
            client.start()
        assert wait_until(lambda: len(attempts) >= 12, timeout=10)
        signalled = time.monotonic()
        status, took = stop_and_wait(server)
        stop.set()
        for client in clients:
            client.join(10)
    assert status == 0
    assert took < 3.0, f"exit took {took:.2f} s with 200 ms requests in flight"
    early = [a for a in attempts if a.connected < signalled - 0.1]
    assert len(early) >= 12, attempts
    assert all(a.outcome == "ok" for a in early), [a for a in early if a.outcome != "ok"]
    assert not [a for a in attempts if a.outcome == "partial"]
