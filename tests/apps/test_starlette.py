"""A real Starlette app (tests/apps/starlette_app/app.py) served by `beemo app:app`, driven by
httpx, requests and the websockets client: lifespan state, a WebSocket route, StaticFiles.

Each test runs against two servers, started once per module: the asyncio loop on one thread
and uvloop on two.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.apps.conftest import LOOP_VARIANTS, LoopVariant
from tests.apps.wire import exchange, split_head, wait_until
from tests.support import Running, serve

APP_DIR = Path(__file__).resolve().parent / "starlette_app"
TIMEOUT = 10
BIG_SIZE = 64 * 1024 * 1024


@pytest.fixture(scope="module", params=LOOP_VARIANTS)
def variant(request: pytest.FixtureRequest) -> LoopVariant:
    return request.param


@pytest.fixture(scope="session")
def big_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding a sparse blob.bin far larger than the socket buffers: a client that
    leaves early always leaves mid-file (and `open_blobs` counts this file too)."""
    directory = tmp_path_factory.mktemp("starlette-big")
    with open(directory / "blob.bin", "wb") as file:
        file.truncate(BIG_SIZE)
    return directory


@contextlib.contextmanager
def _serve(
    variant: LoopVariant, blob_dir: Path, big_dir: Path, markers: Path, *args: str
) -> Iterator[Running]:
    with serve(
        "app:app",
        *variant.flags,
        *args,
        cwd=APP_DIR,
        env={
            "BEEMO_APPS_DATA": str(blob_dir),
            "STARLETTE_BIG_DIR": str(big_dir),
            "STARLETTE_LIFESPAN_FILE": str(markers),
        },
    ) as running:
        yield running


@pytest.fixture(scope="module")
def server(
    variant: LoopVariant, blob_dir: Path, big_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    markers = tmp_path_factory.mktemp("starlette") / "lifespan.txt"
    with _serve(variant, blob_dir, big_dir, markers) as running:
        yield running
        assert running.stop() == 0, running.read_log()
        # Clients that left mid-file are no app error.
        log = running.read_log()
        assert "[ERROR]" not in log, log
        assert "socket.send() raised exception." not in log, log  # asyncio: writes after a reset


@pytest.fixture
def url(server: Running) -> str:
    return server.url


@pytest.fixture
def client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=TIMEOUT) as session:
        yield session


def _sent(client: httpx.Client, token: str) -> list[str]:
    return client.get(f"/sent/{token}").json()


# ---- lifespan and request.state ----------------------------------------------------------------


def test_lifespan_startup_and_shutdown_run_once_each(
    variant: LoopVariant, blob_dir: Path, big_dir: Path, tmp_path: Path
) -> None:
    markers = tmp_path / "lifespan.txt"
    with _serve(variant, blob_dir, big_dir, markers, "--threads", "4") as running:
        assert markers.read_text() == "startup\n"  # before the server listened
        for _ in range(8):  # spread over the four loops
            assert requests.get(f"{running.url}/state", timeout=TIMEOUT).status_code == 200
        assert markers.read_text() == "startup\n"
        assert running.stop() == 0
        log = running.read_log()
    assert markers.read_text() == "startup\nshutdown\n"
    assert log.count("Application startup complete.") == 1
    assert log.count("Application shutdown complete.") == 1
    assert "[ERROR]" not in log


def test_request_state_comes_from_the_lifespan(client: httpx.Client) -> None:
    first = client.get("/state").json()
    assert first["greeting"] == "hello from the lifespan"
    # What a request sets on request.state stays in its own copy of the state ...
    assert first["scratch"] is None
    second = client.get("/state").json()
    assert second["scratch"] is None
    # ... while the objects inside are the lifespan's own: the counter is shared.
    assert second["hits"] > first["hits"]


def test_state_counter_across_connections_and_loops(url: str) -> None:
    before = requests.get(f"{url}/state", timeout=TIMEOUT).json()["hits"]
    for _ in range(6):  # new connections: round-robin over the loops
        requests.get(f"{url}/state", timeout=TIMEOUT)
    after = requests.get(f"{url}/state", timeout=TIMEOUT).json()["hits"]
    assert after - before >= 7  # other tests on this server may count too


# ---- WebSocket -------------------------------------------------------------------------------


def test_websocket_route(server: Running) -> None:
    with connect(
        f"ws://127.0.0.1:{server.port}/ws",
        subprotocols=["chat.v2", "chat.v1"],  # type: ignore[list-item]  # Subprotocol is a str
        open_timeout=TIMEOUT,
    ) as websocket:
        assert websocket.subprotocol == "chat.v1"
        assert json.loads(websocket.recv(TIMEOUT)) == {
            "greeting": "hello from the lifespan",
            "subprotocol": "chat.v1",
        }
        for message in ["text ✓", {"nested": [1, 2.5, None]}, 42]:
            websocket.send(json.dumps(message))
            assert json.loads(websocket.recv(TIMEOUT)) == {"echo": message}
        websocket.send(json.dumps("bye"))
        with pytest.raises(ConnectionClosed) as closed:  # not "OK": only 1000 and 1001 are
            websocket.recv(TIMEOUT)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "bye bye")
    assert websocket.close_code == 4000


def test_websocket_without_subprotocol_and_denied(server: Running, url: str) -> None:
    with connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=TIMEOUT) as websocket:
        assert websocket.subprotocol is None
        assert json.loads(websocket.recv(TIMEOUT))["subprotocol"] is None
    with pytest.raises(InvalidStatus) as caught:
        connect(f"ws://127.0.0.1:{server.port}/ws?deny=1", open_timeout=TIMEOUT)
    assert caught.value.response.status_code == 403
    assert requests.get(url, timeout=TIMEOUT).text == "Hello from Starlette!"


# ---- StaticFiles -----------------------------------------------------------------------------


def test_static_file_is_sent_with_pathsend(client: httpx.Client, blob: bytes) -> None:
    token = uuid.uuid4().hex
    response = client.get("/static/blob.bin", headers={"X-Token": token})
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(blob))
    assert response.headers["accept-ranges"] == "bytes"
    assert "transfer-encoding" not in response.headers
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(blob).digest()
    assert _sent(client, token) == ["http.response.start", "http.response.pathsend"]
    assert client.get("/").text == "Hello from Starlette!"  # the same connection goes on


def test_static_file_headers(client: httpx.Client, blob_dir: Path) -> None:
    response = client.get("/static/blob.bin")
    stat = (blob_dir / "blob.bin").stat()
    assert response.headers["last-modified"] == formatdate(stat.st_mtime, usegmt=True)
    assert response.headers["etag"].startswith('"')
    assert response.headers["content-type"] == "application/octet-stream"


def test_static_file_range(client: httpx.Client, blob: bytes) -> None:
    token = uuid.uuid4().hex
    response = client.get(
        "/static/blob.bin", headers={"Range": "bytes=1000-1999", "X-Token": token}
    )
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 1000-1999/{len(blob)}"
    assert response.headers["content-length"] == "1000"
    assert response.content == blob[1000:2000]
    assert "http.response.pathsend" not in _sent(client, token)  # a range is sent as body
    suffix = client.get("/static/blob.bin", headers={"Range": "bytes=-10"})
    assert (suffix.status_code, suffix.content) == (206, blob[-10:])
    beyond = client.get("/static/blob.bin", headers={"Range": f"bytes={len(blob)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(blob)}"


def test_static_file_multiple_ranges(client: httpx.Client, blob: bytes) -> None:
    response = client.get("/static/blob.bin", headers={"Range": "bytes=0-9,100-109"})
    assert response.status_code == 206
    assert response.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert int(response.headers["content-length"]) == len(response.content)
    assert blob[0:10] in response.content
    assert blob[100:110] in response.content


def test_static_file_head_and_not_modified(client: httpx.Client, url: str, blob: bytes) -> None:
    get = client.get("/static/blob.bin")
    head = client.head("/static/blob.bin")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(blob))
    not_modified = client.get("/static/blob.bin", headers={"If-None-Match": get.headers["etag"]})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert client.get("/").text == "Hello from Starlette!"
    # On the wire: nothing of the file follows the HEAD's head; the next response starts there.
    data = exchange(
        url,
        b"HEAD /static/blob.bin HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    first, rest = split_head(data)
    assert first[":status"] == "HTTP/1.1 200 OK"
    assert first["content-length"] == str(len(blob))
    second, body = split_head(rest)
    assert second[":status"] == "HTTP/1.1 200 OK"
    assert body == b"Hello from Starlette!"


def test_static_missing_file_and_method(client: httpx.Client) -> None:
    missing = client.get("/static/no-such-file")
    assert (missing.status_code, missing.text) == (404, "Not Found")
    post = client.post("/static/blob.bin")
    assert post.status_code == 405
    assert client.get("/nowhere").status_code == 404


def test_aborted_static_downloads_leave_no_open_file(
    url: str, server: Running, blob: bytes, open_blobs
) -> None:
    """A client that resets the connection mid-file: the file is closed, nothing is logged
    as an app error (checked when the server stops), and the server goes on."""
    for _ in range(3):
        with requests.get(f"{url}/big/blob.bin", stream=True, timeout=TIMEOUT) as response:
            assert response.headers["content-length"] == str(BIG_SIZE)
            assert response.raw.read(1000) == bytes(1000)
            assert open_blobs(server.proc.pid) >= 1  # mid-file (an earlier one may be closing)
    assert requests.get(f"{url}/static/blob.bin", timeout=TIMEOUT).content == blob
    wait_until(lambda: open_blobs(server.proc.pid) == 0)
    assert open_blobs(server.proc.pid) == 0
    assert requests.get(url, timeout=TIMEOUT).text == "Hello from Starlette!"
