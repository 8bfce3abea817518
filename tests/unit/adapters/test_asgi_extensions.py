"""The ASGI adapter's HTTP extensions (http.response.trailers, http.response.pathsend,
http.response.zerocopysend), driven through a typed fake AsyncExchange."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from beemo.adapters.asgi import Message
from beemo.errors import AppProtocolError
from tests.unit.adapters.asgi_driver import START, body, errors, failure, run, sending
from tests.unit.adapters.asgi_exchange import FakeAsyncExchange, Sent


@pytest.fixture(autouse=True)
def _propagating_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """caplog listens on the root logger: make sure Beemo's error log reaches it."""
    monkeypatch.setattr(logging.getLogger("beemo.error"), "propagate", True)


# ---- trailers ----------------------------------------------------------------------------------


TRAILING = START | {"trailers": True}
TRAILERS = {"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")]}


def test_trailers_follow_the_last_body_piece() -> None:
    exchange = run(sending(TRAILING, body(b"a", True), body(b"b"), TRAILERS))
    # The last body piece is not the end of the response: the trailers are.
    assert exchange.sent == [Sent(b"a", True), Sent(b"b", True)]
    assert exchange.trailers == [[(b"x-checksum", b"abc")]] and exchange.complete


def test_trailers_without_headers_end_the_response() -> None:
    exchange = run(sending(TRAILING, body(), {"type": "http.response.trailers"}))
    assert exchange.trailers == [[]] and exchange.complete


@pytest.mark.parametrize(
    ("messages", "words"),
    [
        ([TRAILING, body()], "the app returned before its response was complete"),
        ([TRAILING, body(), body()], "expected 'http.response.trailers'"),
        ([TRAILING, TRAILERS], "expected 'http.response.body'"),
        (
            [TRAILING, body(), TRAILERS | {"more_trailers": True}],
            "more_trailers is not supported",
        ),
        (
            [TRAILING, body(), {"type": "http.response.trailers", "headers": 5}],
            "http.response.trailers headers must be an iterable of pairs, not 5",
        ),
        (
            [TRAILING, body(), {"type": "http.response.trailers", "headers": [("x", "1")]}],
            "a bad trailer",  # refused by the exchange: the response is not complete
        ),
    ],
)
def test_trailers_out_of_order_or_malformed(messages: list[Message], words: str) -> None:
    exc = failure(run(sending(*messages)))
    assert isinstance(exc, AppProtocolError) and words in str(exc)


def test_trailers_after_a_response_without_them_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exchange = run(sending(START, body(), TRAILERS))
    assert exchange.complete and exchange.failures == [] and exchange.trailers == []
    [record] = errors(caplog)
    assert "'http.response.trailers' sent after the response was complete" in str(
        record.exc_info and record.exc_info[1]
    )


# ---- pathsend, zerocopysend ------------------------------------------------------------------


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789")
    return path


def test_pathsend_sends_the_whole_file(data_file: Path) -> None:
    exchange = run(sending(START, {"type": "http.response.pathsend", "path": str(data_file)}))
    [sent] = exchange.files
    assert (sent.offset, sent.size, sent.more, sent.data) == (0, 10, False, b"0123456789")
    assert exchange.complete and exchange.failures == []


def test_pathsend_then_trailers(data_file: Path) -> None:
    pathsend = {"type": "http.response.pathsend", "path": str(data_file)}
    exchange = run(sending(TRAILING, pathsend, TRAILERS))
    assert exchange.files[0].more is True and exchange.trailers and exchange.complete


def test_pathsend_to_a_slow_client_waits(data_file: Path) -> None:
    pathsend = {"type": "http.response.pathsend", "path": str(data_file)}
    exchange = FakeAsyncExchange(slow=True)
    run(sending(TRAILING, pathsend, TRAILERS), exchange=exchange)
    assert exchange.drains == 1 and exchange.complete


def test_pathsend_of_a_missing_file_is_a_500_not_a_hang(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    exchange = run(sending(START, {"type": "http.response.pathsend", "path": missing}))
    assert isinstance(failure(exchange), FileNotFoundError)


def zerocopy(file: object, **fields: object) -> Message:
    return {"type": "http.response.zerocopysend", "file": file, **fields}


def test_zerocopysend_from_the_file_position_to_its_end(data_file: Path) -> None:
    with open(data_file, "rb") as file:
        file.seek(4)
        exchange = run(sending(START, zerocopy(file)))
    [sent] = exchange.files
    assert (sent.offset, sent.size, sent.more, sent.data) == (4, 6, False, b"456789")
    assert exchange.complete


def test_zerocopysend_with_offset_count_and_more_body(data_file: Path) -> None:
    with open(data_file, "rb") as file:
        pieces = [zerocopy(file, offset=0, count=3, more_body=True), zerocopy(file, offset=7)]
        exchange = run(sending(START, *pieces), exchange=FakeAsyncExchange(slow=True))
    assert [(f.offset, f.size, f.more, f.data) for f in exchange.files] == [
        (0, 3, True, b"012"),
        (7, 3, False, b"789"),
    ]
    assert exchange.drains == 1 and exchange.complete


def test_zerocopysend_takes_a_file_descriptor(data_file: Path) -> None:
    with open(data_file, "rb") as file:
        exchange = run(sending(START, zerocopy(file.fileno(), count=2)))
    assert exchange.files[0].data == b"01"


def test_zerocopysend_then_trailers(data_file: Path) -> None:
    with open(data_file, "rb") as file:
        exchange = run(sending(TRAILING, zerocopy(file), TRAILERS))
    assert exchange.files[0].more is False and exchange.trailers and exchange.complete


def test_zerocopysend_of_a_closed_file_names_the_violation(data_file: Path) -> None:
    file = open(data_file, "rb")
    file.close()
    exc = failure(run(sending(START, zerocopy(file))))
    assert "needs a file with a file descriptor" in str(exc)


def test_a_file_longer_than_the_content_length_is_a_broken_contract(data_file: Path) -> None:
    start = START | {"headers": [(b"content-length", b"4")]}
    exchange = run(sending(start, {"type": "http.response.pathsend", "path": str(data_file)}))
    assert "longer than its Content-Length" in str(failure(exchange))
