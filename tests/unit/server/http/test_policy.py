"""ConnectionPolicy, sans-I/O: deadlines, draining, error responses and the access log line,
decided from bytes fed to a real `HTTPConnection` and "now" passed in as a number."""

from __future__ import annotations

import logging

import pytest

from beemo.config import Limits
from beemo.errors import AppProtocolError, ProtocolError
from beemo.server.http import connection
from beemo.server.http import policy as policy_module
from beemo.server.http.connection import HTTPConnection
from beemo.server.http.messages import (
    CONNECTION_CLOSED,
    NEED_DATA,
    PAUSED,
    Body,
    EndOfMessage,
    RequestHead,
    ResponseHead,
)
from beemo.server.http.policy import (
    CLOSE,
    IDLE,
    NEXT,
    READ,
    WRITE,
    ConnectionPolicy,
    ServerState,
    log_app_error,
)
from tests.unit.server.http.driver import OK, STAMP

KEEP_ALIVE = 5.0
CLIENT_TIMEOUT = 30.0
ACCEPTED = 1000.0  # the monotonic time the connection was accepted
CLIENT = ("10.0.0.7", 54321)
WHEN = "01/Jan/2026:00:00:00 +0000"

GET = b"GET /p?q=1 HTTP/1.1\r\nHost: a\r\n\r\n"
GET2 = b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"
POST = b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"
GARBAGE = b"\x00 garbage\r\n\r\n"


@pytest.fixture(autouse=True)
def _propagating_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """caplog listens on the root logger: make sure Beemo's loggers reach it."""
    for name in ("beemo.error", "beemo.access"):
        monkeypatch.setattr(logging.getLogger(name), "propagate", True)


def state(*, access_log: bool = True, draining: bool = False) -> ServerState:
    server = ServerState(
        keep_alive=KEEP_ALIVE, client_timeout=CLIENT_TIMEOUT, access_log=access_log
    )
    server.stamp = STAMP
    server.log_time = WHEN
    server.draining = draining
    return server


def policy(
    *chunks: bytes, server: ServerState | None = None, client: object = CLIENT
) -> ConnectionPolicy:
    http = HTTPConnection(Limits())
    for chunk in chunks:
        http.receive_data(chunk)
    return ConnectionPolicy(http, server or state(), client, ACCEPTED)


def handling(*chunks: bytes, server: ServerState | None = None) -> ConnectionPolicy:
    """A policy whose first request was handed out (its head)."""
    conn = policy(*chunks, server=server)
    assert type(conn.http.next_event()) is RequestHead
    return conn


def answered(
    *chunks: bytes, server: ServerState | None = None, head: ResponseHead = OK
) -> ConnectionPolicy:
    """A policy whose first request (without a body) was read whole and answered with
    b"ok", begun at ACCEPTED; `complete` is left to the test."""
    conn = handling(*chunks, server=server)
    conn.begin(ACCEPTED)
    assert conn.http.next_event() == EndOfMessage()
    conn.send_response(head, b"ok")
    return conn


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "beemo.access"]


def error_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "beemo.error" and r.levelno >= logging.ERROR]


def test_server_state_starts_blank() -> None:
    server = ServerState(keep_alive=1.0, client_timeout=2.0, access_log=False)
    assert (server.keep_alive, server.client_timeout, server.access_log) == (1.0, 2.0, False)
    assert (server.stamp, server.log_time, server.draining) == ("", "", False)


def test_what_follows_a_response_is_told_by_the_same_numbers_in_both_layers() -> None:
    """`complete` passes `HTTPConnection.after_response` through unless it is IDLE."""
    assert (CLOSE, IDLE, NEXT) == (0, 1, 2)
    assert connection.CLOSE == CLOSE  # next_interest()'s "close" is after_response()'s too
    assert {"CLOSE", "IDLE", "NEXT", "log_app_error"} <= set(policy_module.__all__)


# ---- deadlines --------------------------------------------------------------------------------


def test_a_new_connection_is_idle_under_the_keep_alive_timeout() -> None:
    conn = policy()
    assert conn.idle and conn.deadline == ACCEPTED + KEEP_ALIVE
    assert not conn.expired(ACCEPTED + KEEP_ALIVE)  # due, not past
    assert conn.expired(ACCEPTED + KEEP_ALIVE + 0.001)


def test_a_busy_connection_has_no_deadline() -> None:
    conn = policy()
    conn.busy()
    assert conn.deadline == 0.0 and not conn.idle
    assert not conn.expired(ACCEPTED + 1e9)  # the owner is working: nothing to enforce


def test_begin_makes_the_connection_busy() -> None:
    """`begin` does what `busy` does: the app runs, no deadline is enforced meanwhile."""
    conn = policy()
    assert conn.wait(READ, ACCEPTED + 1)  # waiting between requests: idle, with a deadline
    assert conn.idle and conn.deadline == ACCEPTED + 1 + KEEP_ALIVE
    conn.http.receive_data(GET)
    assert type(conn.http.next_event()) is RequestHead
    conn.begin(ACCEPTED + 2)
    assert conn.deadline == 0.0 and not conn.idle
    assert not conn.expired(ACCEPTED + 1e9)


def test_an_idle_keep_alive_wait_counts_from_now() -> None:
    conn = policy()
    for now in (ACCEPTED + 1, ACCEPTED + 4, ACCEPTED + 9):
        conn.busy()
        assert conn.wait(READ, now)
        assert conn.idle and conn.deadline == now + KEEP_ALIVE


def test_a_client_that_owes_bytes_is_timed_from_when_it_started_owing() -> None:
    """Trickling a request a byte at a time does not extend its deadline."""
    conn = policy()
    http = conn.http
    started = ACCEPTED + 2
    for i, byte in enumerate(GET[:10]):
        conn.busy()
        http.receive_data(bytes([byte]))
        assert http.next_event() is NEED_DATA
        assert conn.wait(READ, started + i)
        assert not conn.idle
        assert conn.deadline == started + CLIENT_TIMEOUT
    assert not conn.expired(started + CLIENT_TIMEOUT)
    assert conn.expired(started + CLIENT_TIMEOUT + 0.001)


def test_the_body_is_owed_since_the_head_was() -> None:
    """A head, then a body still arriving: the same request, so the same client timeout."""
    conn = policy(POST[:5])
    assert conn.http.next_event() is NEED_DATA
    assert conn.wait(READ, ACCEPTED + 1)
    conn.http.receive_data(POST[5:] + b"12")
    assert type(conn.http.next_event()) is RequestHead
    assert conn.wait(READ, ACCEPTED + 20)  # the driver waits for the rest of the small body
    assert conn.deadline == ACCEPTED + 1 + CLIENT_TIMEOUT


def test_a_new_request_starts_a_new_client_timeout() -> None:
    conn = handling(GET)
    conn.busy()
    conn.http.receive_data(b"GET /2 HT")  # the next request, pipelined but partial
    conn.begin(ACCEPTED + 1)
    assert conn.http.next_event() == EndOfMessage()
    conn.send_response(OK, b"")
    assert conn.complete(ACCEPTED + 2) == NEXT  # a head started: next_event says more
    assert conn.http.next_event() is NEED_DATA
    assert conn.wait(READ, ACCEPTED + 50)
    assert not conn.idle and conn.deadline == ACCEPTED + 50 + CLIENT_TIMEOUT


def test_received_starts_a_new_client_timeout() -> None:
    conn = policy(b"GET / HT")
    assert conn.wait(READ, ACCEPTED + 1)
    conn.received()
    assert conn.deadline == 0.0  # the owner has work: no deadline until it waits again
    assert conn.wait(READ, ACCEPTED + 7)
    assert conn.deadline == ACCEPTED + 7 + CLIENT_TIMEOUT


def test_a_slow_reader_is_timed_from_now() -> None:
    conn = handling(GET)
    conn.busy()
    for now in (ACCEPTED + 1, ACCEPTED + 25, ACCEPTED + 70):
        assert conn.wait(WRITE, now)  # each flush that made progress waits anew
        assert conn.deadline == now + CLIENT_TIMEOUT and not conn.idle
    assert not conn.expired(ACCEPTED + 70 + CLIENT_TIMEOUT)
    assert conn.expired(ACCEPTED + 70 + CLIENT_TIMEOUT + 1)


def test_a_write_wait_between_requests_is_still_a_client_timeout() -> None:
    """The response's last bytes wait in the buffer: the client owes reading them, and the
    keep-alive timeout only starts once they are out."""
    conn = handling(GET)
    assert conn.http.next_event() == EndOfMessage()
    conn.send_response(OK, b"ok")
    assert conn.http.between_requests
    assert conn.wait(WRITE, ACCEPTED + 3)
    assert conn.deadline == ACCEPTED + 3 + CLIENT_TIMEOUT


# ---- wait, and draining -----------------------------------------------------------------------


def test_need_data_between_requests_is_waiting_when_not_draining() -> None:
    conn = policy()
    assert conn.http.next_event() is NEED_DATA
    assert conn.wait(READ, ACCEPTED + 1)
    assert conn.idle and conn.deadline == ACCEPTED + 1 + KEEP_ALIVE
    assert conn.http.next_interest() == READ and conn.after_output()


def test_draining_closes_a_connection_between_requests() -> None:
    conn = policy(server=state(draining=True))
    assert conn.http.next_event() is NEED_DATA
    assert conn.wait(READ, ACCEPTED + 1) is False  # close instead of waiting
    assert conn.http.next_interest() == connection.CLOSE and not conn.after_output()
    assert conn.http.after_response() == CLOSE
    conn.http.receive_data(GET)
    assert conn.http.next_event() is CONNECTION_CLOSED  # no request is read any more


def test_draining_closes_a_kept_alive_connection_at_its_next_wait() -> None:
    """The server starts draining while a connection idles after a response: the next wait
    closes it (the driver calls wait when next_event says NEED_DATA)."""
    server = state()
    conn = answered(GET, server=server)
    assert conn.complete(ACCEPTED + 1) == IDLE
    server.draining = True
    assert conn.http.next_event() is NEED_DATA
    assert not conn.wait(READ, ACCEPTED + 2)
    assert conn.http.next_event() is CONNECTION_CLOSED and not conn.after_output()


def test_draining_still_flushes_a_response_between_requests() -> None:
    """A write wait is no wait for a new request: draining does not cut the response off."""
    conn = answered(GET, server=state(draining=True))
    assert conn.wait(WRITE, ACCEPTED + 3)
    assert conn.deadline == ACCEPTED + 3 + CLIENT_TIMEOUT


def test_draining_serves_the_request_in_flight_then_closes() -> None:
    server = state()
    conn = handling(POST + b"12345", server=server)
    conn.begin(ACCEPTED)
    server.draining = True  # the server stops while the body arrives
    http = conn.http
    assert http.next_event() == Body(b"12345")
    assert http.next_event() is NEED_DATA  # mid-request: wait for the rest of the body
    assert conn.wait(READ, ACCEPTED + 1)
    assert not conn.idle and conn.deadline == ACCEPTED + 1 + CLIENT_TIMEOUT
    http.receive_data(b"67890" + GET2)
    assert http.next_event() == Body(b"67890")
    assert http.next_event() == EndOfMessage()
    out = conn.send_response(OK, b"ok")
    assert b"connection: close\r\n" in out  # draining forces the close
    assert conn.complete(ACCEPTED + 2) == CLOSE
    assert http.next_event() is CONNECTION_CLOSED and not conn.after_output()


def test_draining_lets_a_partial_head_arrive() -> None:
    conn = policy(b"GET / HT", server=state(draining=True))
    conn.busy()  # the owner took the connection up to read what arrived
    assert conn.http.next_event() is NEED_DATA
    assert conn.wait(READ, ACCEPTED + 1)  # a request is under way: it is served
    assert not conn.idle and conn.deadline == ACCEPTED + 1 + CLIENT_TIMEOUT
    conn.http.receive_data(b"TP/1.1\r\nHost: a\r\n\r\n")
    assert type(conn.http.next_event()) is RequestHead


def test_a_partial_head_is_not_idle_even_without_busy() -> None:
    """The asyncio driver feeds bytes and calls wait() on NEED_DATA without busy() first."""
    conn = policy(b"GET / HT")  # a fresh connection starts idle
    assert conn.http.next_event() is NEED_DATA
    assert conn.wait(READ, ACCEPTED + 1)
    assert conn.deadline == ACCEPTED + 1 + CLIENT_TIMEOUT  # this much holds already
    assert not conn.idle  # draining would close it at once (aio expire, workers.drain)


def test_draining_forces_connection_close_on_a_streamed_head() -> None:
    conn = handling(GET, server=state(draining=True))
    assert conn.send_head(OK).endswith(b"connection: close\r\n\r\n")
    conn.send_body(b"x")
    conn.send_end()
    assert not conn.after_output()


def test_a_keep_alive_response_reads_on() -> None:
    conn = handling(GET)
    out = conn.send_head(OK, 2) + conn.send_body(b"ok") + conn.send_end()
    assert out.endswith(b"content-length: 2\r\n\r\nok")
    assert conn.after_output()


# ---- complete: the end of a response and what follows -----------------------------------------


def test_complete_logs_the_response_and_starts_the_keep_alive_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = answered(GET)
    with caplog.at_level(logging.INFO, logger="beemo.access"):
        assert conn.complete(ACCEPTED + 3) == IDLE
    assert conn.idle and conn.deadline == ACCEPTED + 3 + KEEP_ALIVE
    assert not conn.expired(ACCEPTED + 3 + KEEP_ALIVE)
    assert conn.expired(ACCEPTED + 3 + KEEP_ALIVE + 0.001)
    assert access_lines(caplog) == [
        f'10.0.0.7 - - [{WHEN}] "GET /p?q=1 HTTP/1.1" 200 2 "-" "-" 3.000000'
    ]
    assert conn.http.next_event() is NEED_DATA and conn.after_output()


def test_complete_idles_again_after_each_keep_alive_response() -> None:
    conn = answered(GET)
    assert conn.complete(ACCEPTED + 1) == IDLE
    conn.http.receive_data(GET2)
    assert type(conn.http.next_event()) is RequestHead
    conn.begin(ACCEPTED + 2)
    assert conn.http.next_event() == EndOfMessage()
    conn.send_response(OK, b"")
    assert conn.complete(ACCEPTED + 4) == IDLE
    assert conn.idle and conn.deadline == ACCEPTED + 4 + KEEP_ALIVE


def test_complete_of_a_pipelined_request_is_next(caplog: pytest.LogCaptureFixture) -> None:
    conn = answered(GET, GET2)
    with caplog.at_level(logging.INFO, logger="beemo.access"):
        assert conn.complete(ACCEPTED + 1) == NEXT
    assert not conn.idle and conn.deadline == 0.0  # still the owner's: next_event says more
    assert len(access_lines(caplog)) == 1  # the finished response is logged all the same
    request = conn.http.next_event()
    assert type(request) is RequestHead and request.target == b"/2"


def test_complete_of_a_request_pipelined_while_it_ran_is_next() -> None:
    """The next request came while the response was under way (next_event said PAUSED)."""
    conn = handling(GET)
    conn.begin(ACCEPTED)
    assert conn.http.next_event() == EndOfMessage()
    conn.http.receive_data(GET2)
    assert conn.http.next_event() is PAUSED
    conn.send_response(OK, b"ok")
    assert conn.complete(ACCEPTED + 1) == NEXT
    assert type(conn.http.next_event()) is RequestHead


def test_complete_with_a_partial_head_behind_is_next() -> None:
    conn = answered(GET, b"GET /2 H")
    assert conn.complete(ACCEPTED + 1) == NEXT
    assert not conn.idle and conn.deadline == 0.0
    assert conn.http.next_event() is NEED_DATA
    assert conn.wait(READ, ACCEPTED + 2)  # the client owes the rest of that head
    assert not conn.idle and conn.deadline == ACCEPTED + 2 + CLIENT_TIMEOUT


def test_complete_with_an_error_held_back_is_next() -> None:
    """Bad bytes came after a whole request: it is answered first, then next_event raises."""
    conn = answered(GET, GARBAGE)
    assert conn.complete(ACCEPTED + 1) == NEXT
    assert not conn.idle and conn.deadline == 0.0
    with pytest.raises(ProtocolError) as caught:
        conn.http.next_event()
    data = conn.refuse(caught.value)
    assert data is not None and data.startswith(b"HTTP/1.1 400 ")
    assert not conn.after_output()


def test_complete_after_an_eof_with_the_request_closes() -> None:
    """The client closed its side after the request: the response ends the connection."""
    conn = answered(GET, b"")
    assert conn.complete(ACCEPTED + 1) == CLOSE
    assert not conn.idle and conn.deadline == 0.0
    assert conn.http.next_event() is CONNECTION_CLOSED and not conn.after_output()


def test_complete_after_an_eof_during_the_response_closes() -> None:
    """The EOF arrives after the response ended but before it was completed."""
    conn = answered(GET)
    conn.http.receive_data(b"")
    assert conn.complete(ACCEPTED + 1) == CLOSE
    assert not conn.idle and conn.deadline == 0.0
    assert conn.http.next_event() is CONNECTION_CLOSED and not conn.after_output()


def test_complete_is_next_when_the_server_started_draining() -> None:
    """Nothing more is here, but the server drains: next_event says NEED_DATA, and the wait
    that follows closes the connection instead of starting a keep-alive wait."""
    server = state()
    conn = answered(GET, server=server)  # a keep-alive response: draining came after it
    server.draining = True
    assert conn.http.after_response() == IDLE
    assert conn.complete(ACCEPTED + 1) == NEXT
    assert not conn.idle and conn.deadline == 0.0  # no keep-alive wait was started
    assert conn.http.next_event() is NEED_DATA
    assert not conn.wait(READ, ACCEPTED + 1)
    assert conn.http.next_event() is CONNECTION_CLOSED and not conn.after_output()


@pytest.mark.parametrize(
    ("request_bytes", "head"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", OK),
        (b"GET / HTTP/1.0\r\n\r\n", OK),
        (GET, ResponseHead(200, ((b"Connection", b"close"),))),
    ],
    ids=["client asks", "HTTP/1.0", "app asks"],
)
def test_complete_of_a_response_that_closes_is_close(
    caplog: pytest.LogCaptureFixture, request_bytes: bytes, head: ResponseHead
) -> None:
    conn = answered(request_bytes, GET2, head=head)  # a pipelined request is not served
    with caplog.at_level(logging.INFO, logger="beemo.access"):
        assert conn.complete(ACCEPTED + 1) == CLOSE
    assert not conn.idle and conn.deadline == 0.0
    assert len(access_lines(caplog)) == 1
    assert conn.http.next_event() is CONNECTION_CLOSED and not conn.after_output()


def test_complete_while_a_request_is_handled_is_no_keep_alive_wait() -> None:
    conn = handling(GET, server=state(access_log=False))
    conn.begin(ACCEPTED)
    assert conn.complete(ACCEPTED) == NEXT
    assert not conn.idle and conn.deadline == 0.0


# ---- HTTPConnection.after_response ------------------------------------------------------------


def test_after_response_of_a_fresh_connection_is_idle() -> None:
    assert HTTPConnection(Limits()).after_response() == IDLE


def test_after_response_is_next_while_a_request_is_handled_or_answered() -> None:
    conn = handling(GET)
    http = conn.http
    assert http.after_response() == NEXT  # the head is out, its end is not
    assert http.next_event() == EndOfMessage()
    assert http.after_response() == NEXT  # handling
    conn.send_head(OK)
    assert http.responding and http.after_response() == NEXT
    conn.send_body(b"ok")
    conn.send_end()
    assert http.after_response() == IDLE


@pytest.mark.parametrize(
    "after", [GET2, b"GET /2 H", GARBAGE], ids=["pipelined", "partial head", "held-back error"]
)
def test_after_response_is_next_while_next_event_has_more_to_say(after: bytes) -> None:
    conn = answered(GET, after)
    assert conn.http.after_response() == NEXT
    assert conn.http.after_response() == NEXT  # it only looks


def test_after_response_is_next_while_an_unread_body_waits_to_be_drained() -> None:
    conn = handling(POST + b"12345")
    conn.send_response(OK, b"ok")  # answered before reading the body: it is drained
    assert conn.after_output() and conn.http.after_response() == NEXT
    assert conn.http.next_event() is NEED_DATA  # the queued piece is drained
    assert conn.http.after_response() == NEXT  # the rest of the body is still owed


@pytest.mark.parametrize("closing", ["close", "send_error", "refused"])
def test_after_response_is_close_once_the_connection_closes(closing: str) -> None:
    conn = handling(GET)
    http = conn.http
    if closing == "close":
        http.close()
    elif closing == "send_error":
        http.send_error(503, "Service Unavailable", STAMP)
    else:
        http.receive_data(b"\x00")  # a second request's first byte is bad: held back
        assert http.next_event() == EndOfMessage()
        conn.send_response(OK, b"ok")
        assert http.after_response() == NEXT
        with pytest.raises(ProtocolError):
            http.next_event()
        assert conn.refuse(ProtocolError(400, "bad")) is not None
    assert http.after_response() == CLOSE


def test_after_response_is_close_after_the_client_s_eof() -> None:
    conn = answered(GET)
    assert conn.http.after_response() == IDLE
    conn.http.receive_data(b"")
    assert conn.http.peer_closed and conn.http.after_response() == CLOSE
    fresh = HTTPConnection(Limits())
    fresh.receive_data(b"")
    assert fresh.after_response() == CLOSE


# ---- refuse: a malformed request --------------------------------------------------------------


def test_refuse_answers_a_malformed_request_and_logs_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = policy()
    with pytest.raises(ProtocolError) as caught:
        conn.http.receive_data(GARBAGE)
    with caplog.at_level(logging.DEBUG, logger="beemo.error"):
        data = conn.refuse(caught.value)
    assert data is not None and data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"connection: close\r\n" in data and STAMP.encode() in data
    assert not conn.after_output() and conn.http.status == 400
    [record] = [r for r in caplog.records if r.name == "beemo.error"]
    assert record.levelno == logging.DEBUG
    assert record.getMessage().startswith(f"Refused a request from {CLIENT}: 400 ")


def test_refuse_once_a_response_went_out_only_closes() -> None:
    conn = handling(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    conn.send_head(OK)
    assert conn.refuse(ProtocolError(400, "bad chunk")) is None
    assert not conn.after_output() and conn.http.next_event() is CONNECTION_CLOSED


# ---- fail: the app raised or broke its contract -----------------------------------------------


def test_fail_before_the_response_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    conn = handling(GET)
    conn.begin(ACCEPTED + 1)
    try:
        raise KeyError("boom")
    except KeyError as exc:
        with caplog.at_level(logging.INFO):
            data = conn.fail(exc, "WSGI", ACCEPTED + 1.5)
    assert data is not None and data.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert data.endswith(b"\r\n\r\nInternal Server Error\n")
    assert not conn.after_output()
    [record] = error_records(caplog)
    assert record.getMessage() == "Error handling request /p?q=1"
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    body = len(b"Internal Server Error\n")
    assert access_lines(caplog) == [
        f'10.0.0.7 - - [{WHEN}] "GET /p?q=1 HTTP/1.1" 500 {body} "-" "-" 0.500000'
    ]


def test_fail_names_a_broken_contract(caplog: pytest.LogCaptureFixture) -> None:
    conn = handling(GET, server=state(access_log=False))
    with caplog.at_level(logging.INFO):
        data = conn.fail(AppProtocolError("write() before start_response()"), "ASGI", ACCEPTED)
    assert data is not None and data.startswith(b"HTTP/1.1 500 ")
    [record] = error_records(caplog)
    assert record.getMessage() == (
        "App broke the ASGI contract handling request /p?q=1: write() before start_response()"
    )
    assert access_lines(caplog) == []  # the access log is off


def test_fail_while_responding_only_closes(caplog: pytest.LogCaptureFixture) -> None:
    conn = handling(GET + GET2)
    conn.begin(ACCEPTED)
    conn.send_head(OK)
    conn.send_body(b"partial")
    with caplog.at_level(logging.INFO):
        assert conn.fail(RuntimeError("mid-body"), "WSGI", ACCEPTED + 1) is None
    assert len(error_records(caplog)) == 1
    assert access_lines(caplog) == []  # no response completed
    assert not conn.after_output() and conn.http.next_event() is CONNECTION_CLOSED


def test_fail_when_no_error_can_be_answered_only_closes(caplog: pytest.LogCaptureFixture) -> None:
    conn = handling(GET)
    conn.http.close()  # closing already (the server stops, the client left)
    with caplog.at_level(logging.INFO):
        assert conn.fail(RuntimeError("late"), "WSGI", ACCEPTED) is None
    assert len(error_records(caplog)) == 1 and access_lines(caplog) == []


def test_an_app_error_without_a_request_names_none(caplog: pytest.LogCaptureFixture) -> None:
    conn = policy()
    with caplog.at_level(logging.INFO):
        conn.log_app_error(RuntimeError("in close()"), "WSGI")
    [record] = error_records(caplog)
    assert record.getMessage() == "Error handling request ?"


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (ValueError("x"), "Error handling request /caf\xe9"),
        (AppProtocolError("bad"), "App broke the WSGI contract handling request /caf\xe9: bad"),
    ],
)
def test_log_app_error_logs_the_target_with_the_traceback(
    caplog: pytest.LogCaptureFixture, exc: BaseException, message: str
) -> None:
    """The module-level function, for a caller that holds only the target's bytes."""
    with caplog.at_level(logging.INFO):
        log_app_error(b"/caf\xe9", exc, "WSGI")
    [record] = error_records(caplog)
    assert record.levelno == logging.ERROR and record.getMessage() == message
    assert record.exc_info is not None and record.exc_info[1] is exc


# ---- finish: the access log line --------------------------------------------------------------


def test_finish_logs_one_line_when_the_access_log_is_on(caplog: pytest.LogCaptureFixture) -> None:
    conn = handling(GET)
    conn.begin(ACCEPTED + 10)
    assert conn.http.next_event() == EndOfMessage()
    conn.send_response(ResponseHead(201, (), b"Made"), b"hello")
    with caplog.at_level(logging.INFO, logger="beemo.access"):
        conn.finish(ACCEPTED + 10.25)
    assert access_lines(caplog) == [
        f'10.0.0.7 - - [{WHEN}] "GET /p?q=1 HTTP/1.1" 201 5 "-" "-" 0.250000'
    ]


def test_finish_logs_nothing_when_the_access_log_is_off(caplog: pytest.LogCaptureFixture) -> None:
    conn = handling(GET, server=state(access_log=False))
    conn.begin(ACCEPTED)
    conn.send_response(OK, b"hello")
    with caplog.at_level(logging.DEBUG):
        conn.finish(ACCEPTED + 1)
        assert conn.complete(ACCEPTED + 1) == NEXT  # the body is unread: drained next
    assert caplog.records == []


def test_finish_before_any_request_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    conn = policy()
    with caplog.at_level(logging.INFO, logger="beemo.access"):
        conn.finish(ACCEPTED)
    assert access_lines(caplog) == []


def test_the_logged_size_counts_every_way_the_body_went_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Pieces framed by send_body, bytes sent with sendfile (count), and file bytes framed
    around (frame_file) all count; the head does not."""
    conn = handling(GET + GET)
    for _ in range(2):  # the count restarts with each request
        conn.begin(ACCEPTED)
        assert conn.http.next_event() == EndOfMessage()
        conn.send_head(ResponseHead(200, ((b"Content-Length", b"10"),)))
        conn.send_body(b"abc")
        conn.count(4)
        assert conn.http.raw_body_remaining() == 3  # count told the HTTP layer too
        assert conn.frame_file(3) == (b"", b"")
        conn.send_end()
        with caplog.at_level(logging.INFO, logger="beemo.access"):
            conn.finish(ACCEPTED)
        assert type(conn.http.next_event()) in (RequestHead, type(NEED_DATA))
    assert [line.split('" ')[1].split(" ")[:2] for line in access_lines(caplog)] == [
        ["200", "10"],
        ["200", "10"],
    ]


def test_frame_file_frames_a_chunked_file_and_counts_it(caplog: pytest.LogCaptureFixture) -> None:
    conn = handling(GET)
    conn.begin(ACCEPTED)
    assert conn.http.next_event() == EndOfMessage()
    conn.send_head(OK)  # no length: chunked
    assert conn.frame_file(5) == (b"5\r\n", b"\r\n")
    assert conn.frame_file(0) == (b"", b"")
    conn.send_end()
    with caplog.at_level(logging.INFO, logger="beemo.access"):
        assert conn.complete(ACCEPTED) == IDLE
    [line] = access_lines(caplog)
    assert '"GET /p?q=1 HTTP/1.1" 200 5 ' in line


def test_frame_file_without_a_body_is_none() -> None:
    conn = handling(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
    conn.send_head(ResponseHead(200, ((b"Content-Length", b"3"),)))
    assert conn.frame_file(3) is None  # HEAD: the file's bytes are not sent


HEAD = b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"
NO_CONTENT = b"GET /gone HTTP/1.1\r\nHost: a\r\n\r\n"


@pytest.mark.parametrize("how", ["whole", "pieces", "file"])
@pytest.mark.parametrize(("request_bytes", "status"), [(HEAD, 200), (NO_CONTENT, 204)])
def test_a_response_without_a_body_logs_no_body_bytes(
    caplog: pytest.LogCaptureFixture, how: str, request_bytes: bytes, status: int
) -> None:
    """The app's body for HEAD or a 204 is dropped: the log says what went out (like
    gunicorn and Apache), not what the app produced."""
    conn = handling(request_bytes)
    conn.begin(ACCEPTED)
    assert conn.http.next_event() == EndOfMessage()
    head = ResponseHead(status, ((b"Content-Length", b"5"),) if status == 200 else ())
    if how == "whole":
        assert conn.send_response(head, b"hello").endswith(b"\r\n\r\n")
    elif how == "pieces":
        conn.send_head(head)
        assert conn.send_body(b"hello") == b""
        conn.send_end()
    else:
        conn.send_head(head)
        assert conn.frame_file(5) is None
        conn.send_end()
    with caplog.at_level(logging.INFO, logger="beemo.access"):
        conn.finish(ACCEPTED)
    [line] = access_lines(caplog)
    assert f'HTTP/1.1" {status} 0 ' in line


def test_a_chunked_response_logs_its_body_bytes(caplog: pytest.LogCaptureFixture) -> None:
    conn = handling(GET)
    conn.begin(ACCEPTED)
    conn.send_head(ResponseHead(404, ()))
    for piece in (b"not ", b"", b"found"):
        conn.send_body(piece)
    conn.send_end(((b"X-Checksum", b"1"),))
    with caplog.at_level(logging.INFO, logger="beemo.access"):
        conn.finish(ACCEPTED)
    [line] = access_lines(caplog)
    assert '"GET /p?q=1 HTTP/1.1" 404 9 ' in line


@pytest.mark.parametrize(
    ("client", "address"), [(CLIENT, "10.0.0.7"), (None, "-"), ("/run/beemo.sock", "-")]
)
def test_the_access_line_names_the_client_referer_and_user_agent(
    caplog: pytest.LogCaptureFixture, client: object, address: str
) -> None:
    request = (
        b"GET /x HTTP/1.0\r\nReferer: http://r\xe9f/\r\nX-Other: 1\r\nuser-agent: curl/8.0\r\n\r\n"
    )
    conn = policy(request, client=client)
    assert type(conn.http.next_event()) is RequestHead
    conn.begin(ACCEPTED)
    conn.send_response(OK, b"body")
    with caplog.at_level(logging.INFO, logger="beemo.access"):
        assert conn.complete(ACCEPTED + 0.000412) == CLOSE  # HTTP/1.0 without keep-alive
    assert access_lines(caplog) == [
        f'{address} - - [{WHEN}] "GET /x HTTP/1.0" 200 4 "http://r\xe9f/" "curl/8.0" 0.000412'
    ]


def test_a_body_still_arriving_after_an_early_response_is_not_idle() -> None:
    """The app answered before the body was all here: the rest is drained, under the client
    timeout, not the keep-alive one (draining must not cut the client off mid-body)."""
    conn = policy(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345")
    assert type(conn.http.next_event()) is RequestHead
    conn.begin(ACCEPTED)
    conn.send_response(ResponseHead(200, ()), b"ok")
    assert conn.http.after_response() == 2
    assert conn.complete(ACCEPTED + 1) == NEXT
