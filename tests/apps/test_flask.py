"""A real Flask app (tests/apps/flask_app/app.py) served by `beemo app:app`, driven by requests.

Each test runs against two servers, started once per module: the epoll poller with one thread
and the select poller with four.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.apps.wire import exchange, split_head, wait_until
from tests.support import Running, serve

APP_DIR = Path(__file__).resolve().parent / "flask_app"
TIMEOUT = 10


@dataclass(frozen=True)
class Variant:
    poller: str
    threads: int


VARIANTS = [
    pytest.param(Variant("epoll", 1), id="epoll"),
    pytest.param(Variant("select", 4), id="select-threads4"),
]


@pytest.fixture(scope="module", params=VARIANTS)
def variant(request: pytest.FixtureRequest) -> Variant:
    return request.param


@pytest.fixture(scope="module")
def server(variant: Variant, blob_dir: Path) -> Iterator[Running]:
    with serve(
        "app:app",
        "--threads",
        str(variant.threads),
        poller=variant.poller,
        cwd=APP_DIR,
        env={"BEEMO_APPS_DATA": str(blob_dir)},
    ) as running:
        yield running
        assert running.stop() == 0, running.read_log()


@pytest.fixture
def url(server: Running) -> str:
    return server.url


@pytest.fixture
def client() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def test_poller_and_threads_in_use(server: Running, variant: Variant) -> None:
    expected = f"Using poller: {variant.poller}, threads: {variant.threads}"
    wait_until(lambda: expected in server.read_log())  # logged just after "Listening at"
    assert expected in server.read_log()


def test_get_and_environ(client: requests.Session, url: str, variant: Variant) -> None:
    response = client.get(f"{url}/environ", params={"q": "a&b", "x": "é"}, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    env = response.json()
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/environ"
    assert env["QUERY_STRING"] == "q=a%26b&x=%C3%A9"
    assert env["args"] == {"q": ["a&b"], "x": ["é"]}
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is (variant.threads > 1)
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.run_once"] is False
    assert env["SERVER_SOFTWARE"].startswith("beemo/")


def test_percent_encoded_utf8_path(client: requests.Session, url: str) -> None:
    response = client.get(f"{url}/hello/J%C3%BCrgen%20Z", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.text == "Hello, Jürgen Z!"


def test_keep_alive_reuses_one_connection(client: requests.Session, url: str) -> None:
    ports = {client.get(f"{url}/environ", timeout=TIMEOUT).json()["REMOTE_PORT"] for _ in range(5)}
    client.get(f"{url}/no-such-page", timeout=TIMEOUT)  # a 404 keeps the connection too
    ports.add(client.get(f"{url}/environ", timeout=TIMEOUT).json()["REMOTE_PORT"])
    assert len(ports) == 1


def test_html_form_post_redirect_and_session(client: requests.Session, url: str) -> None:
    page = client.get(f"{url}/form", timeout=TIMEOUT)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert 'action="/form"' in page.text
    response = client.post(
        f"{url}/form", data={"name": "Zoë & <co>", "color": ["red", "blue"]}, timeout=TIMEOUT
    )
    assert [r.status_code for r in response.history] == [303]
    assert (
        response.history[0].request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert response.url == f"{url}/greet?colors=red,blue"
    assert response.text == "<p>Hello, Zoë &amp; &lt;co&gt;! Colors: red,blue</p>"
    assert "session" in client.cookies
    # The session cookie alone carries the name to a later request.
    assert "Hello, Zoë" in client.get(f"{url}/greet", timeout=TIMEOUT).text


def test_json_post(client: requests.Session, url: str) -> None:
    payload = {"numbers": [1, 2, 3.5], "text": "ünïcode ✓", "nested": {"a": None}}
    response = client.post(f"{url}/json", json=payload, timeout=TIMEOUT)
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"received": payload, "total": 6.5}


def test_multipart_upload_exact_bytes(client: requests.Session, url: str, blob: bytes) -> None:
    response = client.post(
        f"{url}/upload",
        data={"note": "ünïcode note"},
        files={"file": ("blob.bin", blob, "application/x-test")},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert response.json() == {
        "size": len(blob),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "filename": "blob.bin",
        "note": "ünïcode note",
        "content_type": "application/x-test",
    }


def test_chunked_request_body(client: requests.Session, url: str, blob: bytes) -> None:
    pieces = [blob[i : i + 100_000] for i in range(0, 1_000_000, 100_000)]
    response = client.post(f"{url}/raw", data=iter(pieces), timeout=TIMEOUT)
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.json() == {
        "size": 1_000_000,
        "sha256": hashlib.sha256(blob[:1_000_000]).hexdigest(),
    }


def test_expect_100_continue(url: str) -> None:
    """curl's way to upload: the body follows only once the server says 100 Continue."""
    with socket.create_connection(
        (urlsplit(url).hostname, urlsplit(url).port), timeout=TIMEOUT
    ) as sock:
        sock.sendall(
            b"POST /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        assert sock.recv(1000) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, body = split_head(received)
    assert head[":status"] == "HTTP/1.1 200 OK"
    assert json.loads(body) == {"size": 5, "sha256": hashlib.sha256(b"hello").hexdigest()}


def test_raw_body_with_content_length(client: requests.Session, url: str, blob: bytes) -> None:
    response = client.post(f"{url}/raw", data=blob[:1_000_000], timeout=TIMEOUT)
    assert response.json() == {
        "size": 1_000_000,
        "sha256": hashlib.sha256(blob[:1_000_000]).hexdigest(),
    }


def test_send_file_download(client: requests.Session, url: str, blob: bytes) -> None:
    response = client.get(f"{url}/download", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(blob))
    assert "Transfer-Encoding" not in response.headers
    assert response.headers["Content-Disposition"] == "attachment; filename=blob.bin"
    assert response.content == blob


def test_send_file_range(client: requests.Session, url: str, blob: bytes) -> None:
    response = client.get(f"{url}/download", headers={"Range": "bytes=1000-1999"}, timeout=TIMEOUT)
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 1000-1999/{len(blob)}"
    assert response.headers["Content-Length"] == "1000"
    assert response.content == blob[1000:2000]


def test_send_file_slow_reader(url: str, blob: bytes) -> None:
    """A client slower than sendfile makes the server park the connection and resume it."""
    with requests.get(f"{url}/download", stream=True, timeout=TIMEOUT) as response:
        first = response.raw.read(65536)
        time.sleep(0.3)  # ~4 MB fit in the socket buffers: sendfile hits EAGAIN and parks
        rest = response.raw.read()
    assert first + rest == blob


def test_send_file_in_memory(client: requests.Session, url: str, blob: bytes) -> None:
    response = client.get(f"{url}/download-memory", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "300000"
    assert response.content == blob[:300_000]


def test_large_body_not_a_file(client: requests.Session, url: str, blob: bytes) -> None:
    response = client.get(f"{url}/big", timeout=TIMEOUT)
    assert response.headers["Content-Length"] == str(len(blob))
    assert response.content == blob


def test_client_gone_mid_download_server_keeps_serving(url: str) -> None:
    with requests.get(f"{url}/download", stream=True, timeout=TIMEOUT) as response:
        assert len(response.raw.read(1000)) == 1000
    assert requests.get(url, timeout=TIMEOUT).text == "Hello from Flask!"


def test_downloads_leave_no_open_file(url: str, server: Running, open_blobs) -> None:
    """wsgi.file_wrapper's close() runs after complete, aborted, HEAD and Range downloads."""
    for _ in range(3):
        with requests.get(f"{url}/download", stream=True, timeout=TIMEOUT) as response:
            response.raw.read(1000)
            assert open_blobs(server.proc.pid) == 1  # parked mid-file: the counter works
        requests.get(f"{url}/download", timeout=TIMEOUT)
    requests.head(f"{url}/download", timeout=TIMEOUT)
    requests.get(f"{url}/download", headers={"Range": "bytes=0-9"}, timeout=TIMEOUT)
    wait_until(lambda: open_blobs(server.proc.pid) == 0)
    assert open_blobs(server.proc.pid) == 0


def test_client_gone_mid_stream_still_closes_the_response(url: str) -> None:
    """PEP 3333: the iterable's close() runs even when the client left (call_on_close)."""
    token = uuid.uuid4().hex
    with requests.get(
        f"{url}/stream",
        params={"count": "150000", "pad": "60", "token": token},
        stream=True,
        timeout=TIMEOUT,
    ) as response:
        assert response.raw.read(1000)
    wait_until(lambda: requests.get(f"{url}/closed/{token}", timeout=TIMEOUT).json())
    assert requests.get(f"{url}/closed/{token}", timeout=TIMEOUT).json() is True


def test_streamed_response_complete_and_chunked(client: requests.Session, url: str) -> None:
    response = client.get(f"{url}/stream", params={"count": "50"}, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in response.headers
    assert response.text == "".join(f"line {n} of 50\n" for n in range(50))


def test_streamed_response_arrives_incrementally(url: str) -> None:
    started = time.monotonic()
    with requests.get(
        f"{url}/stream", params={"count": "3", "pause": "0.6"}, stream=True, timeout=TIMEOUT
    ) as response:
        chunks = response.iter_content(chunk_size=None)
        first = next(chunks)
        first_at = time.monotonic() - started
        rest = b"".join(chunks)
        done_at = time.monotonic() - started
    assert first == b"line 0 of 3\n"
    assert rest == b"line 1 of 3\nline 2 of 3\n"
    assert done_at >= 0.6
    assert first_at < done_at - 0.4  # the first line did not wait for the pause


def test_streamed_response_slow_reader(url: str) -> None:
    """The generator parks on WRITE and resumes (maybe on another worker) in its context."""
    # ~11 MB: more than loopback's socket buffers hold (about 4 MB here), so it must park.
    with requests.get(
        f"{url}/stream", params={"count": "150000", "pad": "60"}, stream=True, timeout=TIMEOUT
    ) as response:
        first = response.raw.read(65536)
        time.sleep(0.3)
        rest = response.raw.read()
    pad = "x" * 60
    assert (first + rest).decode() == "".join(f"line {n} of 150000{pad}\n" for n in range(150000))


def test_exception_mid_stream_cuts_the_response(url: str) -> None:
    """Headers are out: the server can only close, and the client must see a broken body."""
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{url}/stream-fail", timeout=TIMEOUT)
    assert requests.get(url, timeout=TIMEOUT).status_code == 200


def test_cookies_set_and_read_back(client: requests.Session, url: str) -> None:
    response = client.get(f"{url}/cookies/set", params={"flavor": "ginger"}, timeout=TIMEOUT)
    # Two Set-Cookie fields stay two fields (they must never be folded into one line).
    assert response.raw.headers.getlist("Set-Cookie") == [
        "flavor=ginger; HttpOnly; Path=/",
        "size=large; Path=/cookies",
    ]
    assert client.cookies["flavor"] == "ginger"
    assert client.cookies["size"] == "large"
    client.cookies.set("extra", "yes")
    # Two cookies travel in one Cookie header; the app sees both.
    assert client.get(f"{url}/cookies/get", timeout=TIMEOUT).json() == {
        "flavor": "ginger",
        "size": "large",
        "extra": "yes",
    }


def test_redirects_followed(client: requests.Session, url: str) -> None:
    response = client.get(f"{url}/old", timeout=TIMEOUT)
    assert [r.status_code for r in response.history] == [301]
    assert response.history[0].headers["Location"] == "/hello/redirected"
    assert response.text == "Hello, redirected!"
    response = client.get(f"{url}/chain/4", timeout=TIMEOUT)
    assert [r.status_code for r in response.history] == [302] * 4
    assert response.url == f"{url}/chain/0"
    assert response.text == "end of chain"


def test_redirect_not_followed(client: requests.Session, url: str) -> None:
    response = client.get(f"{url}/old", allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code == 301
    assert response.headers["Location"] == "/hello/redirected"


@pytest.mark.parametrize("path", ["/", "/download", "/stream", "/big"])
def test_head_has_headers_and_no_body(client: requests.Session, url: str, path: str) -> None:
    get = client.get(f"{url}{path}", timeout=TIMEOUT)
    head = client.head(f"{url}{path}", timeout=TIMEOUT)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    if "Content-Length" in get.headers:
        assert head.headers["Content-Length"] == get.headers["Content-Length"]
    # The same connection still frames the next response correctly.
    assert client.get(f"{url}{path}", timeout=TIMEOUT).content == get.content


@pytest.mark.parametrize("path", ["/", "/download"])
def test_head_on_the_wire(url: str, path: str, blob: bytes) -> None:
    """A pipelined GET right after the HEAD must start where the HEAD's head ends."""
    data = exchange(
        url,
        f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /hello/next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
    )
    head, rest = split_head(data)
    assert head[":status"] == "HTTP/1.1 200 OK"
    expected = str(len(blob)) if path == "/download" else str(len(b"Hello from Flask!"))
    assert head["content-length"] == expected
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n")
    assert rest.endswith(b"\r\n\r\nHello, next!")


def test_404(client: requests.Session, url: str) -> None:
    response = client.get(f"{url}/no-such-page", timeout=TIMEOUT)
    assert response.status_code == 404
    assert "Not Found" in response.text
    assert client.get(url, timeout=TIMEOUT).status_code == 200


def test_405(client: requests.Session, url: str) -> None:
    response = client.delete(f"{url}/json", timeout=TIMEOUT)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}


def test_view_exception_is_flask_500_and_server_goes_on(
    client: requests.Session, url: str, server: Running
) -> None:
    response = client.get(f"{url}/boom", timeout=TIMEOUT)
    assert response.status_code == 500
    assert "Internal Server Error" in response.text
    assert client.get(url, timeout=TIMEOUT).text == "Hello from Flask!"
    assert server.proc.poll() is None


def test_app_exception_is_server_500_and_server_goes_on(
    client: requests.Session, url: str, server: Running
) -> None:
    response = client.get(f"{url}/crash", timeout=TIMEOUT)
    assert response.status_code == 500
    assert response.headers["Connection"] == "close"
    assert client.get(url, timeout=TIMEOUT).text == "Hello from Flask!"
    wait_until(lambda: "the app crashed on purpose" in server.read_log())
    assert "RuntimeError: the app crashed on purpose, outside Flask" in server.read_log()


def test_many_concurrent_clients(url: str, blob: bytes) -> None:
    digest = hashlib.sha256(blob[:200_000]).hexdigest()

    def one(n: int) -> None:
        with requests.Session() as session:
            assert session.get(f"{url}/hello/{n}", timeout=TIMEOUT).text == f"Hello, {n}!"
            response = session.post(f"{url}/raw", data=blob[:200_000], timeout=TIMEOUT)
            assert response.json()["sha256"] == digest
            assert session.get(f"{url}/stream", timeout=TIMEOUT).text.count("\n") == 5

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(48)))


def test_slow_view_does_not_block_others(url: str, variant: Variant) -> None:
    if variant.threads == 1:
        pytest.skip("one worker thread runs one view at a time")
    slow = threading.Thread(
        target=requests.get, args=(f"{url}/sleep?s=1.5",), kwargs={"timeout": TIMEOUT}
    )
    slow.start()
    time.sleep(0.1)
    started = time.monotonic()
    assert requests.get(url, timeout=TIMEOUT).status_code == 200
    assert time.monotonic() - started < 1.0
    slow.join()
