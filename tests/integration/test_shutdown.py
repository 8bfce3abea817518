"""Graceful shutdown on SIGTERM and SIGINT: in-flight requests finish, idle keep-alive
connections close at once, the process exits 0; the graceful timeout bounds the wait."""

from __future__ import annotations

import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from tests.integration.conftest import (
    Closed,
    RawConn,
    get,
    request_bytes,
    running,
    stop_and_wait,
)

SIGNALS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGINT, id="SIGINT")]


@dataclass
class Attempt:
    connected: float  # when connect() returned
    outcome: str  # "ok", "refused", "closed" (EOF or reset, no byte of a response), "partial"
    detail: str = ""


def _hammer(server, stop: threading.Event, attempts: list[Attempt]) -> None:
    while not stop.is_set():
        try:
            conn = RawConn.to(server)
        except OSError:
            attempts.append(Attempt(time.monotonic(), "refused"))
            return
        connected = time.monotonic()
        try:
            conn.send(request_bytes("GET", "/sleep?ms=200"))
            response = conn.read_response()
        except (Closed, OSError) as exc:
            outcome = "partial" if conn.buffer else "closed"
            attempts.append(Attempt(connected, outcome, repr(exc)))
            continue
        finally:
            conn.close()
        ok = response.status == 200 and response.body == b"slept 200\n"
        attempts.append(Attempt(connected, "ok" if ok else "partial", repr(response.raw[:200])))


@pytest.mark.parametrize("sig", SIGNALS)
def test_in_flight_requests_complete_on_stop(poller, sig):
    with running("--threads", "4", "--graceful-timeout", "10", poller=poller) as server:
        attempts: list[Attempt] = []
        stop = threading.Event()
        clients = [
            threading.Thread(target=_hammer, args=(server, stop, attempts)) for _ in range(4)
        ]
        for client in clients:
            client.start()
        time.sleep(0.7)
        signalled = time.monotonic()
        status, took = stop_and_wait(server, sig)
        stop.set()
        for client in clients:
            client.join(10)
    assert status == 0
    assert took < 3.0, f"exit took {took:.2f} s with 200 ms requests in flight"
    early = [a for a in attempts if a.connected < signalled - 0.1]
    assert len(early) >= 8, attempts
    assert all(a.outcome == "ok" for a in early), [a for a in early if a.outcome != "ok"]
    # Later attempts may be refused or closed, but a response is never cut in half.
    assert not [a for a in attempts if a.outcome == "partial"]


@pytest.mark.parametrize("sig", SIGNALS)
def test_idle_connections_close_at_once_and_in_flight_ones_finish(poller, sig):
    with running("--threads", "2", "--graceful-timeout", "10", poller=poller) as server:
        idle = [RawConn.to(server) for _ in range(3)]
        for conn in idle:
            assert conn.exchange(request_bytes("GET", "/")).status == 200
        fresh = RawConn.to(server)  # connected, no request yet: idle too
        busy = RawConn.to(server)
        busy.send(request_bytes("GET", "/sleep?ms=1500"))
        time.sleep(0.3)
        started = time.monotonic()
        server.proc.send_signal(sig)
        for conn in [*idle, fresh]:
            assert conn.closed_within(1.0), "an idle connection was not closed at once"
        assert time.monotonic() - started < 1.0
        response = busy.read_response()
        assert response.status == 200 and response.body == b"slept 1500\n"
        assert response.header("connection") == "close"  # no further request on it
        assert busy.closed_within(2)
        assert server.proc.wait(10) == 0
        took = time.monotonic() - started
        for conn in [*idle, fresh, busy]:
            conn.close()
    assert 1.0 < took < 3.0
    log = server.read_log()
    assert "Traceback" not in log


def test_a_response_parked_on_a_slow_reader_completes_on_stop(poller):
    size = 8 * 1024 * 1024
    with running("--threads", "1", "--graceful-timeout", "10", poller=poller) as server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        sock.settimeout(10)
        sock.connect((server.host, server.port))
        with RawConn(sock) as conn:
            conn.send(request_bytes("GET", f"/big?size={size}&mode=gen"))
            time.sleep(0.3)  # the response is parked on WRITE, far from done
            server.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            response = conn.read_response()
            assert response.status == 200
            assert len(response.body) == size
            assert conn.closed_within(3)
        assert server.proc.wait(10) == 0


def test_new_connections_are_refused_while_draining(poller):
    with running("--threads", "2", "--graceful-timeout", "10", poller=poller) as server:
        busy = RawConn.to(server)
        busy.send(request_bytes("GET", "/sleep?ms=1000"))
        time.sleep(0.2)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(OSError):
            socket.create_connection((server.host, server.port), timeout=2).close()
        assert busy.read_response().status == 200
        assert server.proc.wait(10) == 0


def test_a_queued_request_is_served_on_stop(poller):
    # --threads 1: the worker sleeps in the first request; the second connection is accepted
    # and its request fully received before the signal, but no worker has picked it yet.
    with running("--threads", "1", "--graceful-timeout", "10", poller=poller) as server:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(get, server, "/sleep?ms=1000")
            time.sleep(0.2)
            second = pool.submit(get, server, "/")
            time.sleep(0.3)
            server.proc.send_signal(signal.SIGTERM)
            assert first.result(10).status == 200
            assert server.proc.wait(10) == 0
            response = second.result(10)
    assert response.status == 200 and response.body == b"hello\n"


def test_graceful_timeout_bounds_the_wait(poller):
    with running("--threads", "2", "--graceful-timeout", "1", poller=poller) as server:
        stuck = RawConn.to(server)
        stuck.send(request_bytes("GET", "/sleep?ms=10000"))
        time.sleep(0.3)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        status = server.proc.wait(10)
        took = time.monotonic() - started
        # The unfinished request gets no response (not a fake one) and the socket closes.
        assert stuck.read_all(timeout=5) == b""
        stuck.close()
    assert took < 3.5, f"exit took {took:.2f} s with --graceful-timeout 1"
    assert status == 0
    assert "Graceful timeout" in server.read_log()


def test_sigquit_stops_at_once(poller):
    with running("--threads", "2", poller=poller) as server:  # default graceful timeout: 30 s
        stuck = RawConn.to(server)
        stuck.send(request_bytes("GET", "/sleep?ms=5000"))
        time.sleep(0.3)
        _, took = stop_and_wait(server, signal.SIGQUIT)
        stuck.close()
    assert took < 3.0, f"exit took {took:.2f} s"


def test_second_sigint_stops_at_once(poller):
    with running("--threads", "2", poller=poller) as server:  # default graceful timeout: 30 s
        stuck = RawConn.to(server)
        stuck.send(request_bytes("GET", "/sleep?ms=5000"))
        time.sleep(0.3)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        server.proc.send_signal(signal.SIGINT)
        server.proc.wait(10)
        took = time.monotonic() - started
        stuck.close()
    assert took < 3.0, f"exit took {took:.2f} s"


def test_stop_with_nothing_in_flight_is_quick(poller):
    with running(poller=poller) as server:
        assert get(server, "/").status == 200
        status, took = stop_and_wait(server, signal.SIGTERM)
        log = server.read_log()
    assert status == 0
    assert took < 1.5
    assert "Shutting down" in log
    with pytest.raises(OSError):
        socket.create_connection((server.host, server.port), timeout=2).close()
