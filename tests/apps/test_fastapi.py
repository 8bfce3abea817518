"""A real FastAPI app (tests/apps/fastapi_app/app.py) served by `beemo app:app`, driven by httpx,
requests and the websockets client.

Each test runs against two servers, started once per module: the asyncio loop on one thread
and uvloop on two. Nothing waits on a clock: what must happen before something else is held
at one of the app's gates, which the test opens.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
from websockets.sync.client import connect

from tests.apps.conftest import LOOP_VARIANTS, LoopVariant
from tests.apps.wire import exchange, split_head, wait_until
from tests.support import Running, serve

APP_DIR = Path(__file__).resolve().parent / "fastapi_app"
TIMEOUT = 10


@pytest.fixture(scope="module", params=LOOP_VARIANTS)
def variant(request: pytest.FixtureRequest) -> LoopVariant:
    return request.param


@pytest.fixture(scope="module")
def server(variant: LoopVariant) -> Iterator[Running]:
    with serve("app:app", *variant.flags, cwd=APP_DIR) as running:
        yield running
        assert running.stop() == 0, running.read_log()
        assert "Application shutdown complete." in running.read_log()


@pytest.fixture
def url(server: Running) -> str:
    return server.url


@pytest.fixture
def client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=TIMEOUT) as session:
        yield session


def _token() -> str:
    return uuid.uuid4().hex


def _marker(client: httpx.Client, token: str) -> str | None:
    return client.get(f"/markers/{token}").json()["marker"]


def test_loop_threads_and_lifespan(server: Running, variant: LoopVariant) -> None:
    expected = f"Using event loop: {variant.loop}, threads: {variant.threads}"
    wait_until(lambda: expected in server.read_log())  # logged just after "Listening at"
    log = server.read_log()
    assert expected in log
    assert "Application startup complete." in log  # FastAPI's default lifespan


def test_path_and_query_parameters(client: httpx.Client) -> None:
    response = client.get("/items/42", params={"q": "café & co", "limit": 5, "tag": ["a", "b"]})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"item_id": 42, "q": "café & co", "limit": 5, "tags": ["a", "b"]}
    assert client.get("/items/7").json() == {"item_id": 7, "q": None, "limit": 10, "tags": []}


def test_bad_parameters_are_422(client: httpx.Client) -> None:
    response = client.get("/items/forty-two")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["type"], error["loc"], error["input"]) == (
        "int_parsing",
        ["path", "item_id"],
        "forty-two",
    )
    [error] = client.get("/items/1", params={"limit": 0}).json()["detail"]
    assert (error["type"], error["loc"]) == ("greater_than_equal", ["query", "limit"])


def test_json_body_model(client: httpx.Client) -> None:
    item = {"name": "Tee ✓", "price": 2.5, "tags": ["x"], "quantity": 4}
    response = client.post("/items", json=item)
    assert response.status_code == 201
    assert response.json() == {"item": item, "total": 10.0}
    # Defaults fill in what the body leaves out.
    response = requests.post(
        f"{client.base_url}/items", json={"name": "a", "price": 1}, timeout=TIMEOUT
    )
    assert response.json() == {
        "item": {"name": "a", "price": 1.0, "tags": [], "quantity": 1},
        "total": 1.0,
    }


def test_bad_json_body_is_422_with_detail(client: httpx.Client) -> None:
    response = client.post("/items", json={"name": "", "price": -1, "quantity": "many"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [(e["type"], e["loc"]) for e in detail] == [
        ("string_too_short", ["body", "name"]),
        ("greater_than", ["body", "price"]),
        ("int_parsing", ["body", "quantity"]),
    ]
    assert detail[1]["msg"] == "Input should be greater than 0"
    response = client.post(
        "/items", content=b'{"name": "a", ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["type"], error["loc"]) == ("json_invalid", ["body", 14])
    missing = client.post("/items", json={"price": 1}).json()["detail"]
    assert [(e["type"], e["loc"]) for e in missing] == [("missing", ["body", "name"])]


def test_background_task_runs_after_the_response(client: httpx.Client) -> None:
    token = _token()
    response = client.post(f"/tasks/{token}", params={"gate": token})
    assert response.status_code == 202
    assert response.json() == {"queued": token}
    # The response arrived while its task still waits at the gate; the same keep-alive
    # connection serves the next requests meanwhile.
    assert _marker(client, token) == "running"
    client.post(f"/gates/{token}")
    wait_until(lambda: _marker(client, token) == "done")
    assert _marker(client, token) == "done"


def test_background_task_without_a_gate(client: httpx.Client) -> None:
    token = _token()
    assert client.post(f"/tasks/{token}").status_code == 202
    wait_until(lambda: _marker(client, token) == "done")
    assert _marker(client, token) == "done"


def test_streaming_response_is_chunked(client: httpx.Client) -> None:
    response = client.get("/stream", params={"count": 50})
    assert response.status_code == 200
    assert response.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.headers
    assert response.text == "".join(f"chunk {n} of 50\n" for n in range(50))


def test_streaming_response_arrives_chunk_by_chunk(client: httpx.Client) -> None:
    """Each chunk after the first waits at the gate: it must have arrived before we open it."""
    gate = _token()
    with client.stream("GET", "/stream", params={"count": 3, "gate": gate}) as response:
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        chunks = response.iter_bytes()
        received = [next(chunks)]
        assert received == [b"chunk 0 of 3\n"]
        for _ in range(2):
            httpx.post(f"{client.base_url}/gates/{gate}", timeout=TIMEOUT)
            received.append(next(chunks))
        assert list(chunks) == []
    assert received == [b"chunk 0 of 3\n", b"chunk 1 of 3\n", b"chunk 2 of 3\n"]


def test_large_streaming_response(client: httpx.Client) -> None:
    """~6 MB: more than the socket buffers hold, so the app's send waits for the reader."""
    response = client.get("/stream", params={"count": 15_000, "pad": 400})
    pad = "x" * 400
    assert response.text == "".join(f"chunk {n} of 15000{pad}\n" for n in range(15_000))


def _events(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """Parse text/event-stream lines into events (fields by name) as they arrive."""
    event: dict[str, str] = {}
    for line in lines:
        if not line:
            if event:
                yield event
            event = {}
            continue
        name, _, value = line.partition(":")
        event[name] = value.removeprefix(" ")


def test_server_sent_events_read_incrementally(client: httpx.Client) -> None:
    gate = _token()
    with client.stream("GET", "/events", params={"count": 3, "gate": gate}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["transfer-encoding"] == "chunked"
        events = _events(response.iter_lines())
        received = [next(events)]
        for _ in range(2):
            httpx.post(f"{client.base_url}/gates/{gate}", timeout=TIMEOUT)
            received.append(next(events))
        assert list(events) == []
    assert received == [
        {"event": "tick", "data": json.dumps({"n": n}), "id": str(n)} for n in range(3)
    ]


def test_client_leaving_an_event_stream_cancels_the_generator(
    client: httpx.Client, server: Running
) -> None:
    token = _token()
    with httpx.stream(
        "GET", f"{client.base_url}/events", params={"count": 0, "token": token}, timeout=TIMEOUT
    ) as response:
        events = _events(response.iter_lines())
        assert [next(events)["id"] for _ in range(3)] == ["0", "1", "2"]
    wait_until(lambda: (_marker(client, token) or "").startswith("CancelledError"))
    assert (_marker(client, token) or "").startswith("CancelledError after ")
    assert client.get("/").json() == {"hello": "FastAPI"}
    assert server.proc.poll() is None


@pytest.mark.parametrize(
    ("path", "seen"),
    [
        # Starlette's request.is_disconnected(): receive() under an already-cancelled scope
        ("/watch", "disconnected after "),
        # asyncio.wait_for(receive(), 0.01): a timed-out receive() cancels the task awaiting
        ("/linger", "http.disconnect after "),
    ],
)
def test_client_leaving_is_seen_by_a_polling_app(
    client: httpx.Client, path: str, seen: str
) -> None:
    """Each poll that times out must leave receive() usable for the next one."""
    token = _token()
    with httpx.stream("GET", f"{client.base_url}{path}", params={"token": token}) as response:
        lines = response.iter_lines()
        assert [next(lines) for _ in range(5)] == [f"tick {n}" for n in range(5)]
    wait_until(lambda: (_marker(client, token) or "").startswith(seen))
    assert (_marker(client, token) or "").startswith(seen)
    assert client.get("/").status_code == 200


def test_file_upload(url: str, blob: bytes) -> None:
    response = requests.post(
        f"{url}/upload",
        data={"note": "ünïcode note"},
        files={"file": ("blob.bin", blob, "application/x-test")},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert response.json() == {
        "filename": "blob.bin",
        "content_type": "application/x-test",
        "size": len(blob),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "note": "ünïcode note",
    }


def test_file_upload_missing_field_is_422(client: httpx.Client) -> None:
    response = client.post("/upload", files={"file": ("a.txt", b"abc")})
    assert response.status_code == 422
    assert [(e["type"], e["loc"]) for e in response.json()["detail"]] == [
        ("missing", ["body", "note"])
    ]


def test_websocket_echo_text_and_binary(client: httpx.Client, server: Running) -> None:
    token = _token()
    big = random.Random(7).randbytes(1 << 20)
    with connect(
        f"ws://127.0.0.1:{server.port}/ws?token={token}", max_size=2 << 20, open_timeout=TIMEOUT
    ) as websocket:
        websocket.send("héllo ✓")
        assert websocket.recv(TIMEOUT) == "héllo ✓"
        websocket.send(big)
        assert websocket.recv(TIMEOUT) == big
        websocket.send(b"")
        assert websocket.recv(TIMEOUT) == b""
    wait_until(lambda: _marker(client, token) == "closed 1000")
    assert _marker(client, token) == "closed 1000"


def test_websocket_on_an_http_route_is_refused(server: Running) -> None:
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as caught:
        connect(f"ws://127.0.0.1:{server.port}/items/1", open_timeout=TIMEOUT)
    assert caught.value.response.status_code == 403


def test_head_on_a_get_and_head_route(client: httpx.Client, url: str) -> None:
    get = client.get("/page")
    head = client.head("/page")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["content-type"] == "application/json"
    assert client.get("/page").content == get.content  # the connection is still framed right
    # On the wire: the pipelined GET starts exactly where the HEAD's head ends.
    data = exchange(
        url,
        b"HEAD /page HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    first, rest = split_head(data)
    assert first[":status"] == "HTTP/1.1 200 OK"
    second, body = split_head(rest)
    assert second[":status"] == "HTTP/1.1 200 OK"
    assert json.loads(body) == {"hello": "FastAPI"}


def test_405_and_404_as_fastapi_means_them(client: httpx.Client) -> None:
    # A FastAPI GET route takes no HEAD of itself: 405 with the allowed methods.
    head = client.head("/")
    assert head.status_code == 405
    assert head.headers["allow"] == "GET"
    assert head.content == b""
    post = client.post("/")
    assert (post.status_code, post.headers["allow"]) == (405, "GET")
    assert post.json() == {"detail": "Method Not Allowed"}
    missing = client.get("/no/such/page")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
    raised = client.get("/missing/teapot")
    assert (raised.status_code, raised.json()) == (404, {"detail": "no teapot here"})
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("path", ["/boom", "/boom-sync"])
def test_handler_exception_is_500_and_server_goes_on(
    client: httpx.Client, server: Running, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert client.get("/").json() == {"hello": "FastAPI"}
    logged = f"Error handling request {path}\n"
    wait_until(lambda: logged in server.read_log())
    assert logged in server.read_log()
    assert server.proc.poll() is None
