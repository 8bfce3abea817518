"""wsgi.input, wsgi.errors and wsgi.file_wrapper."""

from __future__ import annotations

import io
import logging
import random
import tempfile
import threading

import pytest

from beemo.adapters.wsgi_streams import ErrorStream, FileWrapper, InputStream
from tests.unit.adapters.exchange import FakeExchange
from tests.unit.server.http.driver import random_splits

BODY = b"first line\nsecond line\r\nxy\n\nlast without newline"
PIECES = [b"fi", b"rst line\nsec", b"ond line\r\n", b"x", b"y\n", b"\nlast", b" without newline"]


def stream(pieces: list[bytes] = PIECES) -> tuple[InputStream, FakeExchange]:
    exchange = FakeExchange(*pieces)
    return InputStream(exchange.read_body), exchange


def test_nothing_is_pulled_before_the_app_reads() -> None:
    _, exchange = stream()
    assert exchange.reads == 0


def test_read_all() -> None:
    body, exchange = stream()
    assert body.read() == BODY
    assert body.read() == b"" and body.read(5) == b"" and body.readline() == b""
    assert exchange.reads == len(PIECES) + 1  # the end is pulled once, then remembered


@pytest.mark.parametrize("size", [1, 2, 3, 7, 11, 100])
def test_read_in_sizes(size: int) -> None:
    body, _ = stream()
    parts: list[bytes] = []
    while part := body.read(size):
        assert len(part) == size or len(b"".join(parts) + part) == len(BODY)
        parts.append(part)
    assert b"".join(parts) == BODY


def test_read_pulls_no_more_than_it_needs() -> None:
    body, exchange = stream()
    assert body.read(2) == b"fi"
    assert exchange.reads == 1
    assert body.read(3) == b"rst"
    assert exchange.reads == 2


def test_readline() -> None:
    body, _ = stream()
    assert [body.readline() for _ in range(6)] == [
        b"first line\n",
        b"second line\r\n",
        b"xy\n",
        b"\n",
        b"last without newline",
        b"",
    ]


def test_readline_with_a_limit() -> None:
    body, _ = stream()
    assert body.readline(5) == b"first"
    assert body.readline(100) == b" line\n"
    assert body.readline(0) == b""
    assert body.readline(6) == b"second"
    assert body.readline(None) == b" line\r\n"


def test_readlines_and_iteration() -> None:
    expected = [b"first line\n", b"second line\r\n", b"xy\n", b"\n", b"last without newline"]
    body, _ = stream()
    assert body.readlines() == expected
    body, _ = stream()
    assert list(body) == expected
    body, _ = stream()
    assert body.readlines(12) == expected[:2]  # stops once the hint is reached
    assert body.readlines(None) == expected[2:]


def test_empty_body() -> None:
    body, _ = stream([])
    assert (body.read(), body.read(3), body.readline(), body.readlines()) == (b"", b"", b"", [])
    assert list(body) == []


def test_close_is_a_no_op() -> None:
    body, _ = stream()
    body.close()
    assert body.read() == BODY


@pytest.mark.parametrize("seed", range(30))
def test_behaves_like_bytesio(seed: int) -> None:
    """Random reads over a body cut at random places match io.BytesIO, the reference."""
    rng = random.Random(seed)
    data = bytes(rng.choice(b"ab\n\r") for _ in range(rng.randrange(80)))
    pieces = [piece for piece in random_splits(data, seed) if piece]
    body, _ = stream(pieces)
    reference = io.BytesIO(data)
    for _ in range(20):
        name = rng.choice(["read", "readline", "readlines"])
        arg = rng.choice([None, -1, 0, 1, 2, 5, 17])
        got = getattr(body, name)(arg)
        want = getattr(reference, name)(arg)
        assert got == want, (name, arg, pieces)


class CountedPiece(bytes):
    """A received piece that counts the bytes copied out of it by slicing."""

    copied = 0

    def __getitem__(self, index: slice | int) -> bytes | int:  # type: ignore[override]
        result = super().__getitem__(index)
        if isinstance(index, slice):
            self.copied += len(result)  # type: ignore[arg-type]
        return result


@pytest.mark.parametrize("method", ["read", "readline"])
def test_many_small_reads_of_one_big_piece_copy_each_byte_once(method: str) -> None:
    """The unread part is an index into the piece, not a new copy of the rest per read: a
    re-slicing buffer would copy ~n^2/2 bytes here."""
    piece = CountedPiece(b"x\n" * 20_000)
    pieces = [piece]
    body = InputStream(lambda: pieces.pop() if pieces else b"")

    def read() -> bytes:
        return body.read(1) if method == "read" else body.readline()

    out = []
    returned = 0
    while part := read():
        out.append(part)
        returned += len(part)
        assert piece.copied == returned  # only what was returned was ever copied
    assert b"".join(out) == piece
    assert len(out) == (len(piece) if method == "read" else 20_000)


@pytest.mark.parametrize(
    ("pieces", "lines"),
    [
        ([b"ab", b"cd", b"e\nf"], [b"abcde\n", b"f"]),
        ([b"a", b"", b"b\n"], [b"a"]),  # b"" ends the body: what follows is never pulled
        ([b"ab\ncd", b"ef\n", b"\n"], [b"ab\n", b"cdef\n", b"\n"]),
        ([b"\n", b"\n\nx", b"y"], [b"\n", b"\n", b"\n", b"xy"]),
        ([b"no newline", b" at all"], [b"no newline at all"]),
    ],
    ids=["three pieces", "empty piece", "rest joins next", "empty lines", "no newline"],
)
def test_readline_across_pieces(pieces: list[bytes], lines: list[bytes]) -> None:
    queue = list(reversed(pieces))
    body = InputStream(lambda: queue.pop() if queue else b"")
    assert [body.readline() for _ in range(len(lines) + 1)] == [*lines, b""]


@pytest.mark.parametrize(
    ("limit", "first", "rest"),
    [
        (3, b"abc", b"de\n"),  # the limit falls in the second piece
        (5, b"abcde", b"\n"),  # just before the newline
        (6, b"abcde\n", b"fg"),  # the newline is the last byte allowed
        (7, b"abcde\n", b"fg"),  # the line is shorter than the limit
        (100, b"abcde\n", b"fg"),
        (0, b"", b"abcde\n"),
    ],
)
def test_readline_with_a_limit_across_pieces(limit: int, first: bytes, rest: bytes) -> None:
    queue = [b"g", b"de\nf", b"c", b"ab"]
    body = InputStream(lambda: queue.pop() if queue else b"")
    assert body.readline(limit) == first
    assert body.readline() == rest


def test_readline_with_a_limit_pulls_no_more_than_it_needs() -> None:
    body, exchange = stream([b"abcdef", b"gh\n"])
    assert body.readline(4) == b"abcd" and exchange.reads == 1
    assert body.readline(2) == b"ef" and exchange.reads == 1
    assert body.readline(2) == b"gh" and exchange.reads == 2


def test_readline_with_a_limit_at_the_end_of_the_body() -> None:
    body, exchange = stream([b"abc", b"de"])
    assert body.readline(10) == b"abcde"
    assert body.readline(10) == b"" and exchange.reads == 3  # the end is pulled once


# ---- wsgi.errors ----------------------------------------------------------------------------


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def records() -> Records:
    logger = logging.getLogger("tests.unit.wsgi.errors")
    logger.propagate = False
    logger.handlers[:] = [handler := Records()]
    return handler


def test_errors_are_logged_one_entry_per_line(records: Records) -> None:
    errors = ErrorStream(logging.getLogger("tests.unit.wsgi.errors"))
    assert errors.write("one\ntw") == 6
    assert records.messages == ["one"]
    errors.write("o\nthree\n")
    assert records.messages == ["one", "two", "three"]
    errors.flush()  # nothing pending
    assert records.messages == ["one", "two", "three"]
    errors.write("pending")
    errors.flush()
    errors.writelines(["a\n", "b\n"])
    assert records.messages == ["one", "two", "three", "pending", "a", "b"]


def test_two_threads_writing_partial_lines_never_merge(records: Records) -> None:
    """Two requests on two worker threads write parts of their lines in turn."""
    errors = ErrorStream(logging.getLogger("tests.unit.wsgi.errors"))
    turns = [threading.Event() for _ in range(4)]

    def first() -> None:
        errors.write("a1 ")
        turns[0].set()
        assert turns[1].wait(5)
        errors.write("a2\na3")
        errors.flush()
        turns[2].set()

    def second() -> None:
        assert turns[0].wait(5)
        errors.write("b1 ")
        turns[1].set()
        assert turns[2].wait(5)
        errors.flush()  # only this thread's partial line: the other one's went already
        errors.write("b2\n")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert records.messages == ["a1 a2", "a3", "b1 ", "b2"]


def test_a_flush_in_one_thread_leaves_another_threads_partial_line(records: Records) -> None:
    errors = ErrorStream(logging.getLogger("tests.unit.wsgi.errors"))
    errors.write("main partial")

    def work() -> None:
        errors.write("worker line")
        errors.flush()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(5)
    assert records.messages == ["worker line"]
    errors.write(" done\n")
    assert records.messages == ["worker line", "main partial done"]


# ---- wsgi.file_wrapper ----------------------------------------------------------------------


def test_file_wrapper_iterates_in_blocks_and_closes_the_file() -> None:
    file = io.BytesIO(b"x" * 10)
    wrapper = FileWrapper(file, blksize=4)
    assert list(wrapper) == [b"xxxx", b"xxxx", b"xx"]
    wrapper.close()
    assert file.closed


def test_file_wrapper_fileno() -> None:
    with pytest.raises(OSError):
        FileWrapper(io.BytesIO(b"")).fileno()
    with pytest.raises(OSError):
        FileWrapper(iter([b"no fileno"])).fileno()
    with tempfile.TemporaryFile() as file:
        assert FileWrapper(file).fileno() == file.fileno()
