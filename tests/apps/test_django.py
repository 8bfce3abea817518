"""A real Django project (tests/apps/django_project) served by `beemo myproject.wsgi:application`.

The sqlite database is created once per test session (`django_env` in conftest.py) and passed
to the servers as $MYPROJECT_DB. Each test runs against two servers started once per
module: epoll with four threads and select with one. The `prefixed` server adds
`--root-path /prefix`, so Django sees SCRIPT_NAME and reverse() must build /prefix/... URLs.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.apps.wire import exchange, split_head, wait_until
from tests.support import Running, serve

PROJECT = Path(__file__).resolve().parent / "django_project"
APP = "myproject.wsgi:application"
TIMEOUT = 10


@dataclass(frozen=True)
class Variant:
    poller: str
    threads: int


VARIANTS = [
    pytest.param(Variant("epoll", 4), id="epoll-threads4"),
    pytest.param(Variant("select", 1), id="select"),
]


@pytest.fixture(scope="module", params=VARIANTS)
def variant(request: pytest.FixtureRequest) -> Variant:
    return request.param


def _serve(variant: Variant, env: dict[str, str], *args: str) -> Iterator[Running]:
    with serve(
        APP, "--threads", str(variant.threads), *args, poller=variant.poller, cwd=PROJECT, env=env
    ) as running:
        yield running
        assert running.stop() == 0, running.read_log()


@pytest.fixture(scope="module")
def server(variant: Variant, django_env: dict[str, str]) -> Iterator[Running]:
    yield from _serve(variant, django_env)


@pytest.fixture(scope="module")
def prefixed(variant: Variant, django_env: dict[str, str]) -> Iterator[Running]:
    yield from _serve(variant, django_env, "--root-path", "/prefix")


@pytest.fixture
def url(server: Running) -> str:
    return server.url


@pytest.fixture
def client() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def _unique(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:8]}"


def _csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def test_poller_and_threads_in_use(server: Running, variant: Variant) -> None:
    expected = f"Using poller: {variant.poller}, threads: {variant.threads}"
    wait_until(lambda: expected in server.read_log())  # logged just after "Listening at"
    assert expected in server.read_log()


def test_form_post_with_csrf_orm_and_redirect(client: requests.Session, url: str) -> None:
    page = client.get(f"{url}/", timeout=TIMEOUT)
    assert page.status_code == 200
    assert "csrftoken" in client.cookies
    assert '<form method="post" action="/">' in page.text
    title = _unique("Tea & <biscuits> ü")
    form = {
        "title": title,
        "body": "line one\r\nline two",
        "csrfmiddlewaretoken": _csrf_token(page.text),
    }
    response = client.post(f"{url}/", data=form, timeout=TIMEOUT)
    assert [r.status_code for r in response.history] == [302]
    assert re.fullmatch(r"/notes/\d+/", response.history[0].headers["Location"])
    assert response.status_code == 200
    assert (
        f"<h1>{title.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</h1>"
        in response.text
    )
    # Read back through the ORM on a fresh connection.
    notes = requests.get(f"{url}/api/notes/", params={"title": title}, timeout=TIMEOUT).json()
    assert [(n["title"], n["body"]) for n in notes["notes"]] == [(title, "line one\r\nline two")]


def test_form_post_without_csrf_token_is_403(client: requests.Session, url: str) -> None:
    client.get(f"{url}/", timeout=TIMEOUT)
    response = client.post(f"{url}/", data={"title": "x", "body": ""}, timeout=TIMEOUT)
    assert response.status_code == 403
    assert "CSRF" in response.text


def test_json_api_orm_write_and_read(client: requests.Session, url: str) -> None:
    title = _unique("json ✓")
    response = client.post(
        f"{url}/api/notes/", json={"title": title, "body": "from JSON"}, timeout=TIMEOUT
    )
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    created = response.json()
    assert created["title"] == title
    assert response.headers["Location"] == f"/notes/{created['id']}/"
    listed = client.get(f"{url}/api/notes/", timeout=TIMEOUT).json()["notes"]
    assert created in listed
    detail = client.get(f"{url}{response.headers['Location']}", timeout=TIMEOUT)
    assert f"<h1>{title}</h1>" in detail.text


def test_concurrent_orm_writes(url: str) -> None:
    titles = [_unique(f"parallel {n}") for n in range(16)]

    def create(title: str) -> int:
        response = requests.post(f"{url}/api/notes/", json={"title": title}, timeout=TIMEOUT)
        assert response.status_code == 201
        return response.json()["id"]

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(create, titles))
    assert len(set(ids)) == len(ids)
    listed = requests.get(f"{url}/api/notes/", params={"title": titles}, timeout=TIMEOUT)
    assert sorted(n["title"] for n in listed.json()["notes"]) == sorted(titles)


def test_session_cookie(client: requests.Session, url: str) -> None:
    visits = [client.get(f"{url}/session/", timeout=TIMEOUT).json()["visits"] for _ in range(3)]
    assert visits == [1, 2, 3]
    assert "sessionid" in client.cookies
    assert requests.get(f"{url}/session/", timeout=TIMEOUT).json() == {"visits": 1}


def test_multipart_upload_exact_bytes(client: requests.Session, url: str, blob: bytes) -> None:
    response = client.post(
        f"{url}/upload/",
        data={"note": "ünïcode"},
        files={"file": ("blob.bin", blob, "application/octet-stream")},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert response.json() == {
        "size": len(blob),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "filename": "blob.bin",
        "note": "ünïcode",
    }


def test_file_response_download(client: requests.Session, url: str, blob: bytes) -> None:
    response = client.get(f"{url}/download/", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(blob))
    assert response.headers["Content-Disposition"] == 'attachment; filename="blob.bin"'
    assert "Transfer-Encoding" not in response.headers
    assert response.content == blob
    # The file was closed and the request finished: the connection serves the next request.
    assert client.get(f"{url}/session/", timeout=TIMEOUT).status_code == 200


def test_downloads_leave_no_open_file(url: str, server: Running, open_blobs) -> None:
    """FileResponse.close() (via wsgi.file_wrapper) runs after complete, aborted and HEAD
    downloads (test_django_asgi.py has the ASGI counterpart)."""
    for _ in range(3):
        with requests.get(f"{url}/download/", stream=True, timeout=TIMEOUT) as response:
            response.raw.read(1000)
            assert open_blobs(server.proc.pid) == 1  # parked mid-file: the counter works
        requests.get(f"{url}/download/", timeout=TIMEOUT)
    requests.head(f"{url}/download/", timeout=TIMEOUT)
    wait_until(lambda: open_blobs(server.proc.pid) == 0)
    assert open_blobs(server.proc.pid) == 0


def test_head_file_response_on_the_wire(url: str, blob: bytes) -> None:
    """Django hands over the file even for HEAD (WSGI: to wsgi.file_wrapper): no byte of it
    may go out."""
    data = exchange(
        url,
        b"HEAD /download/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        b"GET /urls/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    head, rest = split_head(data)
    assert head[":status"] == "HTTP/1.1 200 OK"
    assert head["content-length"] == str(len(blob))
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n")
    assert rest.endswith(b'"script_name": ""}')


def test_head(client: requests.Session, url: str) -> None:
    get = client.get(f"{url}/", timeout=TIMEOUT)
    head = client.head(f"{url}/", timeout=TIMEOUT)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"] == "text/html; charset=utf-8"
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    assert client.get(f"{url}/session/", timeout=TIMEOUT).status_code == 200


def test_streaming_http_response(client: requests.Session, url: str) -> None:
    response = client.get(f"{url}/stream/", params={"count": "40"}, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in response.headers
    assert response.text == "".join(f"line {n} /stream/\n" for n in range(40))


def test_streaming_csv_export_from_orm_iterator_slow_reader(url: str) -> None:
    """Django's "streaming large CSV files" recipe, read slowly: the generator (and its open
    sqlite cursor) is resumed after the connection parked, on whichever worker gets it."""
    prefix = _unique("export")
    body = "b" * 3000  # 9 MB in all: more than the socket buffers hold, so it must park
    response = requests.post(
        f"{url}/api/notes/bulk/",
        timeout=TIMEOUT,
        json={"prefix": prefix, "count": 3000, "body": body},
    )
    assert response.json() == {"created": 3000}
    with requests.get(
        f"{url}/export.csv", params={"prefix": prefix}, stream=True, timeout=TIMEOUT
    ) as response:
        assert response.headers["Content-Type"] == "text/csv"
        first = response.raw.read(65536)
        time.sleep(0.3)
        rows = (first + response.raw.read()).decode().splitlines()
    assert len(rows) == 3000
    assert [row.split(",")[1:] for row in rows] == [
        [f"{prefix} {n:05d}", body] for n in range(3000)
    ]
    ids = [int(row.split(",")[0]) for row in rows]
    assert ids == sorted(ids)


def test_redirects(client: requests.Session, url: str) -> None:
    response = client.get(f"{url}/go/", timeout=TIMEOUT)
    assert [r.status_code for r in response.history] == [302]
    assert response.url == f"{url}/urls/"
    # CommonMiddleware's APPEND_SLASH redirect
    response = client.get(f"{url}/urls", timeout=TIMEOUT)
    assert [r.status_code for r in response.history] == [301]
    assert response.history[0].headers["Location"] == "/urls/"
    assert response.json()["path"] == "/urls/"


def test_404(client: requests.Session, url: str) -> None:
    response = client.get(f"{url}/no/such/page/", timeout=TIMEOUT)
    assert response.status_code == 404
    assert client.get(f"{url}/notes/999999999/", timeout=TIMEOUT).status_code == 404
    assert client.get(f"{url}/session/", timeout=TIMEOUT).status_code == 200


def test_view_exception_is_500_and_server_goes_on(
    client: requests.Session, url: str, server: Running
) -> None:
    response = client.get(f"{url}/boom/", timeout=TIMEOUT)
    assert response.status_code == 500
    assert "Server Error (500)" in response.text
    assert client.get(f"{url}/session/", timeout=TIMEOUT).status_code == 200
    assert server.proc.poll() is None


# ---- --root-path /prefix ---------------------------------------------------------------------


def test_root_path_reverse(prefixed: Running) -> None:
    response = requests.get(f"{prefixed.url}/prefix/urls/?a=1", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json() == {
        "index": "/prefix/",
        "detail": "/prefix/notes/7/",
        "absolute": f"{prefixed.url}/prefix/notes/7/",
        "path": "/prefix/urls/",
        "path_info": "/urls/",
        "full_path": "/prefix/urls/?a=1",
        "script_name": "/prefix",
    }


def test_root_path_alone_is_the_index(prefixed: Running) -> None:
    response = requests.get(f"{prefixed.url}/prefix", timeout=TIMEOUT)
    assert response.status_code == 200
    assert '<form method="post" action="/prefix/">' in response.text


def test_root_path_redirects(prefixed: Running) -> None:
    response = requests.get(f"{prefixed.url}/prefix/go/", timeout=TIMEOUT)
    assert response.history[0].headers["Location"] == "/prefix/urls/"
    assert response.url == f"{prefixed.url}/prefix/urls/"
    response = requests.get(f"{prefixed.url}/prefix/urls", timeout=TIMEOUT)
    assert response.history[0].headers["Location"] == "/prefix/urls/"
    assert response.json()["script_name"] == "/prefix"


def test_root_path_form_flow(prefixed: Running) -> None:
    base = f"{prefixed.url}/prefix"
    with requests.Session() as client:
        page = client.get(f"{base}/", timeout=TIMEOUT)
        assert '<form method="post" action="/prefix/">' in page.text
        title = _unique("prefixed")
        response = client.post(
            f"{base}/",
            timeout=TIMEOUT,
            data={"title": title, "body": "", "csrfmiddlewaretoken": _csrf_token(page.text)},
        )
        assert re.fullmatch(r"/prefix/notes/\d+/", response.history[0].headers["Location"])
        assert f"<h1>{title}</h1>" in response.text
        assert '<a href="/prefix/">all notes</a>' in response.text
        index = client.get(f"{base}/", timeout=TIMEOUT).text
        assert re.search(rf'<a href="/prefix/notes/\d+/">{title}</a>', index)


def test_root_path_streaming_reverse(prefixed: Running) -> None:
    """reverse() runs inside the generator, after the view returned: the prefix must hold."""
    response = requests.get(f"{prefixed.url}/prefix/stream/?count=3", timeout=TIMEOUT)
    assert response.text == "".join(f"line {n} /prefix/stream/\n" for n in range(3))
