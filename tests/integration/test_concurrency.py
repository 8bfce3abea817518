"""The threading model: a slow app call holds one worker and no other, an idle keep-alive
connection holds none, and context variables never leak from one request to the next."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.conftest import RawConn, get, request_bytes, running


@pytest.fixture(scope="module")
def four(poller):
    with running("--threads", "4", poller=poller) as server:
        yield server


@pytest.fixture(scope="module")
def one(poller):
    with running("--threads", "1", poller=poller) as server:
        yield server


def test_a_slow_app_call_does_not_stop_other_workers(four):
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        slow = pool.submit(get, four, "/sleep?ms=1000")
        time.sleep(0.1)
        fast_started = time.monotonic()
        assert get(four, "/").body == b"hello\n"
        fast = time.monotonic() - fast_started
        assert not slow.done()
        assert slow.result(10).body == b"slept 1000\n"
    assert fast < 0.5, f"the fast request took {fast:.3f} s"
    assert time.monotonic() - started >= 1.0


def test_three_slow_calls_leave_the_fourth_worker_free(four):
    with ThreadPoolExecutor(3) as pool:
        slow = [pool.submit(get, four, "/sleep?ms=1000") for _ in range(3)]
        time.sleep(0.2)
        for _ in range(5):
            started = time.monotonic()
            assert get(four, "/").status == 200
            assert time.monotonic() - started < 0.5
        assert not any(future.done() for future in slow)
        assert [future.result(10).status for future in slow] == [200] * 3


def test_slow_calls_run_in_parallel(four):
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: get(four, "/sleep?ms=500"), range(4)))
    elapsed = time.monotonic() - started
    assert [response.status for response in results] == [200] * 4
    assert elapsed < 1.5, f"4 x 0.5 s on 4 threads took {elapsed:.2f} s"


def test_a_slow_request_on_a_pipelined_connection_does_not_block_others(four):
    with RawConn.to(four) as conn:
        conn.send(request_bytes("GET", "/sleep?ms=800") + request_bytes("GET", "/"))
        time.sleep(0.1)
        started = time.monotonic()
        assert get(four, "/").status == 200
        assert time.monotonic() - started < 0.5
        assert conn.read_response().body == b"slept 800\n"
        assert conn.read_response().body == b"hello\n"


def test_idle_keep_alive_connections_hold_no_thread(one):
    idle = []
    try:
        for index in range(50):
            conn = RawConn.to(one)
            idle.append(conn)
            if index % 2 == 0:  # half have had a request and wait for the next one
                assert conn.exchange(request_bytes("GET", "/")).status == 200
        started = time.monotonic()
        for _ in range(5):
            assert get(one, "/").body == b"hello\n"
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, f"5 requests next to 50 idle connections took {elapsed:.2f} s"
        # And the idle ones still work, each in turn.
        for conn in idle:
            assert conn.exchange(request_bytes("GET", "/")).status == 200
    finally:
        for conn in idle:
            conn.close()


def test_many_clients_on_one_thread(one):
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(
                lambda index: get(one, f"/echo?{index}", method="POST", body=str(index).encode()),
                range(200),
            )
        )
    assert [response.body for response in results] == [str(i).encode() for i in range(200)]


def test_burst_of_connections(four):
    # A bounded burst: 1000 requests from 16 client threads, each on a new connection.
    errors: list[BaseException] = []

    def client(count: int) -> None:
        try:
            for _ in range(count):
                assert get(four, "/").body == b"hello\n"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(1000 // 16 + 1,)) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors[:3]


def test_keep_alive_clients_in_parallel(four):
    def client(index: int) -> int:
        with RawConn.to(four) as conn:
            for request in range(100):
                body = f"{index}-{request}".encode()
                assert conn.exchange(request_bytes("POST", "/echo", body=body)).body == body
        return index

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(client, range(8))) == list(range(8))


# ---- context isolation ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/context", "/context-stream"])
def test_context_variable_does_not_leak_to_the_next_request(one, path):
    threads = set()
    with RawConn.to(one) as conn:
        for index in range(10):
            body = conn.exchange(request_bytes("GET", f"{path}?r{index}")).body.decode()
            seen, thread = body.split()[:2]
            assert seen == "unset", f"request {index} saw {seen!r}"
            threads.add(thread)
    for index in range(5):
        seen, thread = get(one, f"{path}?new{index}").body.decode().split()[:2]
        assert seen == "unset"
        threads.add(thread)
    assert len(threads) == 1  # --threads 1: every request ran on the same thread


def test_context_variable_inside_a_generator_is_its_own(one):
    body = get(one, "/context-stream").body.decode()
    assert body.endswith(" set in a generator")  # what a piece set, the next piece sees


def test_context_is_isolated_across_interleaved_requests(one):
    # Two large streaming responses to clients that do not read yet: each parks on WRITE
    # half-way, the one thread interleaves them, and each resumes in its own context.
    with RawConn.to(one) as first, RawConn.to(one) as second:
        for conn in (first, second):
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        first.send(request_bytes("GET", "/context-stream?token=first&pad=64"))
        time.sleep(0.1)
        second.send(request_bytes("GET", "/context-stream?token=second&pad=64"))
        time.sleep(0.1)
        for conn, token in ((first, "first"), (second, "second")):
            words = conn.read_response().body.decode().split()
            assert words[0] == "unset"
            assert words[-1] == token


def test_a_slow_uploader_holds_no_worker(one):
    """With one worker, a client that sends half of a small body and stalls must not stop
    another client: the body is read in the poller before the app runs."""
    body = b"x" * 20_000
    head = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
    with socket.create_connection((one.host, one.port), timeout=10) as slow:
        slow.sendall(head + body[:7_000])
        time.sleep(0.2)  # the worker has seen the head and half the body
        started = time.monotonic()
        assert get(one, "/").status == 200
        assert time.monotonic() - started < 2.0
        slow.sendall(body[7_000:])
        with RawConn(slow) as conn:
            response = conn.read_response()
        assert response.status == 200 and response.body == body
