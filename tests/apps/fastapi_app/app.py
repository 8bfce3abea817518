"""A small but real FastAPI app, served in the tests as `beemo app:app` from this directory.

What happened after a response was sent (a background task ran, a streaming generator saw its
client leave, a WebSocket closed) is recorded in `MARKERS` under the request's token and read
back with `GET /markers/{token}`, on another request. A background task or a stream can wait at
a gate until the test opens it (`POST /gates/{name}`, once per pass), so a test sees what
arrived before without timing anything: the gate is a thread semaphore, as the opening request
may run on another loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import (
    BackgroundTasks,
    FastAPI,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    UploadFile,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.responses import StreamingResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field

app = FastAPI()
MARKERS: dict[str, str] = {}
_GATES: dict[str, threading.Semaphore] = {}
_GATE_TIMEOUT = 10.0  # seconds a gate waits before the handler fails (a test gave up)


class Item(BaseModel):
    name: str = Field(min_length=1)
    price: float = Field(gt=0)
    tags: list[str] = []
    quantity: int = 1


@app.get("/")
async def index() -> dict[str, str]:
    return {"hello": "FastAPI"}


@app.api_route("/page", methods=["GET", "HEAD"])
async def page() -> dict[str, str]:
    """GET and HEAD (FastAPI routes do not add HEAD to GET by themselves)."""
    return {"page": "a body HEAD must not carry"}


@app.get("/items/{item_id}")
async def read_item(
    item_id: int,
    q: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    tag: Annotated[list[str] | None, Query()] = None,
) -> dict[str, object]:
    return {"item_id": item_id, "q": q, "limit": limit, "tags": tag or []}


@app.post("/items", status_code=201)
async def create_item(item: Item) -> dict[str, object]:
    return {"item": item.model_dump(), "total": item.price * item.quantity}


@app.get("/missing/{name}")
async def missing(name: str) -> None:
    raise HTTPException(status_code=404, detail=f"no {name} here")


@app.get("/boom")
async def boom() -> None:
    raise ZeroDivisionError("a FastAPI handler failed on purpose")


@app.get("/boom-sync")
def boom_sync() -> None:
    raise ValueError("a sync FastAPI handler (run in the thread pool) failed on purpose")


# ---- gates and background tasks --------------------------------------------------------------


def _gate(name: str) -> threading.Semaphore:
    return _GATES.setdefault(name, threading.Semaphore(0))


async def _pass(name: str) -> None:
    if not await asyncio.to_thread(_gate(name).acquire, True, _GATE_TIMEOUT):
        raise TimeoutError(f"gate {name} was never opened")


@app.post("/gates/{name}")
async def open_gate(name: str) -> dict[str, str]:
    _gate(name).release()
    return {"opened": name}


async def _background(token: str, gate: str) -> None:
    MARKERS[token] = "running"
    if gate:
        await _pass(gate)
    MARKERS[token] = "done"


@app.post("/tasks/{token}", status_code=202)
async def start_task(token: str, tasks: BackgroundTasks, gate: str = "") -> dict[str, str]:
    tasks.add_task(_background, token, gate)
    return {"queued": token}


@app.get("/markers/{token}")
async def read_marker(token: str) -> dict[str, str | None]:
    return {"marker": MARKERS.get(token)}


# ---- streaming -------------------------------------------------------------------------------


@app.get("/stream")
async def stream(count: int = 5, gate: str = "", pad: int = 0) -> StreamingResponse:
    """`count` lines; with a gate, each line after the first waits for it to open."""

    async def lines() -> AsyncIterator[bytes]:
        for n in range(count):
            if gate and n:
                await _pass(gate)
            yield f"chunk {n} of {count}{'x' * pad}\n".encode()

    return StreamingResponse(lines(), media_type="text/plain")


@app.get("/events", response_class=EventSourceResponse)
async def events(token: str = "", count: int = 3, gate: str = "") -> AsyncIterator[object]:
    """FastAPI's own SSE: `count` events (0: until the client leaves), each after the first
    waiting for the gate when there is one. The generator records how it ended: a client that
    left shows up as a cancellation."""
    n = 0
    try:
        while count == 0 or n < count:
            if gate and n:
                await _pass(gate)
            yield ServerSentEvent(data={"n": n}, event="tick", id=str(n))
            n += 1
            await asyncio.sleep(0.01)
        MARKERS[token] = "finished"
    except BaseException as exc:
        MARKERS[token] = f"{type(exc).__name__} after {n}"
        raise


@app.get("/watch")
async def watch(request: Request, token: str) -> StreamingResponse:
    """Starlette's disconnect poll (`request.is_disconnected()`) between chunks."""

    async def ticks() -> AsyncIterator[bytes]:
        n = 0
        while not await request.is_disconnected():
            yield b"tick %d\n" % n
            n += 1
            await asyncio.sleep(0.01)
        MARKERS[token] = f"disconnected after {n}"

    return StreamingResponse(ticks(), media_type="text/plain")


@app.get("/linger")
async def linger(request: Request, token: str) -> StreamingResponse:
    """Polls receive() under a timeout (asyncio.wait_for) between chunks until it gives
    http.disconnect: every timed-out poll must leave receive() usable for the next."""
    await request.body()

    async def ticks() -> AsyncIterator[bytes]:
        n = 0
        while True:
            yield b"tick %d\n" % n
            n += 1
            try:
                message = await asyncio.wait_for(request.receive(), 0.01)
            except asyncio.TimeoutError:
                continue
            MARKERS[token] = f"{message['type']} after {n}"
            return

    return StreamingResponse(ticks(), media_type="text/plain")


# ---- uploads and WebSocket -------------------------------------------------------------------


@app.post("/upload")
async def upload(
    file: Annotated[UploadFile, File()], note: Annotated[str, Form()]
) -> dict[str, object]:
    digest = hashlib.sha256()
    size = 0
    while chunk := await file.read(1 << 16):
        digest.update(chunk)
        size += len(chunk)
    return {
        "filename": file.filename,
        "content_type": file.content_type,
        "size": size,
        "sha256": digest.hexdigest(),
        "note": note,
    }


@app.websocket("/ws")
async def websocket_echo(websocket: WebSocket, token: str = "") -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect as exc:
        MARKERS[token] = f"closed {exc.code}"
