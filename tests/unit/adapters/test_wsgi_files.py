"""`wsgi.file_wrapper` results through the adapter: sent with sendfile when the file has a
descriptor and an offset, iterated otherwise; and results that have no close()."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Iterable

import pytest

from beemo.adapters.wsgi_streams import FileWrapper
from tests.unit.adapters.test_wsgi import Environ, StartResponse, drain, start


def test_file_wrapper_of_a_real_file_is_left_to_sendfile() -> None:
    with tempfile.TemporaryFile() as file:
        file.write(b"file body")
        file.seek(0)

        def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
            start_response("200 OK", [("Content-Length", "9")])
            wrapper: FileWrapper = environ["wsgi.file_wrapper"](file, 4)
            return wrapper

        response, _ = start(app)
        assert isinstance(response.file, FileWrapper) and response.pieces == ()
        response.close()
        assert file.closed


def test_file_wrapper_of_an_in_memory_file_is_iterated() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])
        wrapper: FileWrapper = environ["wsgi.file_wrapper"](io.BytesIO(b"in memory"), 4)
        return wrapper

    response, _ = start(app)
    assert response.file is None
    assert drain(response) == b"in memory"


def test_a_file_wrapper_falls_back_to_iteration_where_sendfile_stopped() -> None:
    """The worker sets `file` to None when sendfile is not possible (no Content-Length, or
    an OSError after some bytes went out) and then pulls pieces: they start where the file's
    offset is and end at its end."""
    with tempfile.TemporaryFile() as file:
        file.write(b"0123456789")
        file.seek(0)

        def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
            start_response("200 OK", [])
            wrapper: FileWrapper = environ["wsgi.file_wrapper"](file, 4)
            return wrapper

        response, _ = start(app)
        assert response.file is not None and response.pieces == ()
        file.seek(3)  # sendfile sent 3 bytes, then failed
        response.file = None
        assert drain(response) == b"3456789"
        assert file.closed


class NoTell:
    """A file-like object with a descriptor but no offset (a pipe or socket wrapper)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def fileno(self) -> int:
        return 0

    def read(self, size: int) -> bytes:
        return self._data.read(size)


class Unseekable(NoTell):
    def tell(self) -> int:
        raise OSError(29, "Illegal seek")


@pytest.mark.parametrize("filelike", [NoTell, Unseekable])
def test_a_file_wrapper_without_an_offset_is_iterated(filelike: type[NoTell]) -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])
        wrapper: FileWrapper = environ["wsgi.file_wrapper"](filelike(b"streamed"), 3)
        return wrapper

    response, _ = start(app)
    assert response.file is None
    assert response.pieces == (b"str",) and drain(response) == b"streamed"


@pytest.mark.parametrize(
    "make",
    [lambda: iter([b"a", b"b"]), lambda: FileWrapper(NoTell(b"ab"), 1)],
    ids=["iterator", "file wrapper"],
)
def test_a_result_without_close_is_closed_quietly(make: Callable[[], Iterable[bytes]]) -> None:
    result = make()
    assert not hasattr(result, "close")

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])
        return result

    response, _ = start(app)
    assert response.pieces == (b"a",)
    response.close()
    response.close()
    assert response.next_piece() is None  # abandoned: nothing more is pulled
