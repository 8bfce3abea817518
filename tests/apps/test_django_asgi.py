"""The Django project of test_django.py served through ASGI: `beemo myproject.asgi:application`.

The checks that hold for both interfaces are test_django.py's own, collected here a second
time: pytest resolves their fixtures (`server`, `prefixed`, `url`, `client`) in this module,
which serves the project through ASGI, on the asyncio loop with one thread and on uvloop with
two. The tests below them are ASGI's own: Django rejects the lifespan scope, which the default
`--lifespan auto` must take in its stride, and async views.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.apps import test_django as wsgi
from tests.apps.conftest import LOOP_VARIANTS, LoopVariant
from tests.apps.wire import wait_until
from tests.support import Running, serve

APP = "myproject.asgi:application"
TIMEOUT = 10


@pytest.fixture(scope="module", params=LOOP_VARIANTS)
def variant(request: pytest.FixtureRequest) -> LoopVariant:
    return request.param


def _serve(variant: LoopVariant, env: dict[str, str], *args: str) -> Iterator[Running]:
    with serve(
        APP,
        *variant.flags,
        *args,
        cwd=wsgi.PROJECT,
        env=env,
    ) as running:
        yield running
        assert running.stop() == 0, running.read_log()
        # Nothing at error level: not the rejected lifespan, not a client that left early,
        # not /boom/ (Django answers its own 500).
        log = running.read_log()
        assert "[ERROR]" not in log, log
        assert "socket.send() raised exception." not in log, log  # asyncio: writes after a reset


@pytest.fixture(scope="module")
def server(variant: LoopVariant, django_env: dict[str, str]) -> Iterator[Running]:
    yield from _serve(variant, django_env)


@pytest.fixture(scope="module")
def prefixed(variant: LoopVariant, django_env: dict[str, str]) -> Iterator[Running]:
    yield from _serve(variant, django_env, "--root-path", "/prefix")


@pytest.fixture
def url(server: Running) -> str:
    return server.url


@pytest.fixture
def client() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


# ---- the checks shared with WSGI (test_django.py) ------------------------------------------------

test_form_post_with_csrf_orm_and_redirect = wsgi.test_form_post_with_csrf_orm_and_redirect
test_form_post_without_csrf_token_is_403 = wsgi.test_form_post_without_csrf_token_is_403
test_json_api_orm_write_and_read = wsgi.test_json_api_orm_write_and_read
test_concurrent_orm_writes = wsgi.test_concurrent_orm_writes
test_session_cookie = wsgi.test_session_cookie
test_multipart_upload_exact_bytes = wsgi.test_multipart_upload_exact_bytes
test_file_response_download = wsgi.test_file_response_download
test_head_file_response_on_the_wire = wsgi.test_head_file_response_on_the_wire
test_head = wsgi.test_head
test_streaming_http_response = wsgi.test_streaming_http_response
test_streaming_csv_export_from_orm_iterator_slow_reader = (
    wsgi.test_streaming_csv_export_from_orm_iterator_slow_reader
)
test_redirects = wsgi.test_redirects
test_404 = wsgi.test_404
test_view_exception_is_500_and_server_goes_on = wsgi.test_view_exception_is_500_and_server_goes_on
test_root_path_reverse = wsgi.test_root_path_reverse
test_root_path_alone_is_the_index = wsgi.test_root_path_alone_is_the_index
test_root_path_redirects = wsgi.test_root_path_redirects
test_root_path_form_flow = wsgi.test_root_path_form_flow
test_root_path_streaming_reverse = wsgi.test_root_path_streaming_reverse


# ---- ASGI's own ------------------------------------------------------------------------------


def test_downloads_leave_no_open_file(url: str, server: Running, open_blobs) -> None:
    """FileResponse is closed after complete and HEAD downloads. After an aborted one, Django
    5.2's ASGIHandler does not call close() when send() raises the OSError the ASGI spec asks
    for (it handles only its own cancellation), and a reference cycle through its tasks keeps
    the file open: the cyclic collector frees it, so the server holds no reference of its own.
    """
    requests.get(f"{url}/download/", timeout=TIMEOUT)
    requests.head(f"{url}/download/", timeout=TIMEOUT)
    wait_until(lambda: open_blobs(server.proc.pid) == 0)
    assert open_blobs(server.proc.pid) == 0
    for _ in range(3):
        with requests.get(f"{url}/download/", stream=True, timeout=TIMEOUT) as response:
            response.raw.read(1000)
            assert open_blobs(server.proc.pid) >= 1  # mid-file: the counter works
    assert requests.get(f"{url}/session/", timeout=TIMEOUT).status_code == 200

    def collected() -> bool:
        requests.get(f"{url}/gc/", timeout=TIMEOUT)
        return open_blobs(server.proc.pid) == 0

    wait_until(collected)
    assert open_blobs(server.proc.pid) == 0


def test_rejected_lifespan_is_tolerated(server: Running, variant: LoopVariant) -> None:
    """Django raises on the lifespan scope; `--lifespan auto` notes it at INFO and serves."""
    expected = f"Using event loop: {variant.loop}, threads: {variant.threads}"
    wait_until(lambda: expected in server.read_log())
    log = server.read_log()
    assert expected in log
    [line] = [line for line in log.splitlines() if "lifespan" in line.lower()]
    assert "[INFO] ASGI 'lifespan' protocol appears unsupported." in line
    assert "Application startup complete." not in log
    assert "Traceback" not in log
    assert requests.get(f"{server.url}/session/", timeout=TIMEOUT).json() == {"visits": 1}


def test_async_view_with_the_async_orm(url: str) -> None:
    prefix = f"async {uuid.uuid4().hex[:8]}"
    titles = [f"{prefix} {n}" for n in range(3)]
    for title in titles:
        response = requests.post(f"{url}/api/notes/", json={"title": title}, timeout=TIMEOUT)
        assert response.status_code == 201
    response = requests.get(f"{url}/async/notes/", params={"prefix": prefix}, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json() == {"count": 3, "titles": titles, "in_loop": True}


def test_async_streaming_response(client: requests.Session, url: str) -> None:
    token = uuid.uuid4().hex
    response = client.get(
        f"{url}/async/stream/", params={"count": "30", "token": token}, timeout=TIMEOUT
    )
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.text == "".join(f"async line {n}\n" for n in range(30))
    marker = client.get(f"{url}/async/markers/{token}/", timeout=TIMEOUT).json()["marker"]
    assert marker == "finished"


def test_client_leaving_an_async_stream_cancels_it(client: requests.Session, url: str) -> None:
    """Django's handler listens for http.disconnect while the response streams and cancels
    the view's task: the async generator sees the cancellation."""
    token = uuid.uuid4().hex
    with requests.get(
        f"{url}/async/stream/", params={"count": "0", "token": token}, stream=True, timeout=TIMEOUT
    ) as response:
        lines = response.iter_lines()
        assert [next(lines) for _ in range(3)] == [f"async line {n}".encode() for n in range(3)]

    def marker() -> str:
        return client.get(f"{url}/async/markers/{token}/", timeout=TIMEOUT).json()["marker"] or ""

    wait_until(lambda: marker().startswith("CancelledError"))
    assert marker().startswith("CancelledError after ")
    assert client.get(f"{url}/session/", timeout=TIMEOUT).status_code == 200
