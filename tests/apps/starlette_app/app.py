"""A small but real Starlette app, served in the tests as `beemo app:app` from this directory.

Its lifespan yields state that the handlers read through `request.state`, and appends
"startup" and "shutdown" to the file named by $STARLETTE_LIFESPAN_FILE. `/static` serves
$BEEMO_APPS_DATA with StaticFiles, which sends whole files with `http.response.pathsend` when
the server offers it; `/big` serves $STARLETTE_BIG_DIR (a file larger than socket buffers).
The `_Recorder` middleware keeps the response message types sent for each request carrying an
`X-Token` header; `GET /sent/{token}` reads them back.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

DATA = Path(os.environ.get("BEEMO_APPS_DATA", "."))
BIG = Path(os.environ.get("STARLETTE_BIG_DIR", "."))
SENT: dict[str, list[str]] = {}


def _mark(event: str) -> None:
    path = os.environ.get("STARLETTE_LIFESPAN_FILE")
    if path:
        with open(path, "a") as markers:
            markers.write(f"{event}\n")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    _mark("startup")
    # The dict is copied shallowly into each request: the counter inside is shared.
    yield {"greeting": "hello from the lifespan", "hits": {"count": 0}, "lock": threading.Lock()}
    _mark("shutdown")


async def index(request: Request) -> PlainTextResponse:
    return PlainTextResponse("Hello from Starlette!")


async def state(request: Request) -> JSONResponse:
    with request.state.lock:  # requests on other loops (threads) count too
        request.state.hits["count"] += 1
        hits = request.state.hits["count"]
    seen_scratch = getattr(request.state, "scratch", None)
    request.state.scratch = "set by an earlier request"  # this request's copy only
    return JSONResponse({"greeting": request.state.greeting, "hits": hits, "scratch": seen_scratch})


async def sent(request: Request) -> JSONResponse:
    return JSONResponse(SENT.get(request.path_params["token"], []))


async def chat(websocket: WebSocket) -> None:
    """Picks the first subprotocol it knows, greets with the lifespan state, echoes JSON and
    closes with 4000 on "bye". `?deny=1` closes before accepting (an HTTP 403)."""
    if websocket.query_params.get("deny"):
        await websocket.close()
        return
    offered = websocket.scope["subprotocols"]
    chosen = next((p for p in offered if p in ("chat.v1", "chat.v0")), None)
    await websocket.accept(subprotocol=chosen)
    await websocket.send_json({"greeting": websocket.state.greeting, "subprotocol": chosen})
    try:
        while True:
            message = await websocket.receive_json()
            if message == "bye":
                await websocket.close(code=4000, reason="bye bye")
                return
            await websocket.send_json({"echo": message})
    except WebSocketDisconnect:
        pass


class _Recorder:
    """Records the type of every message the app sends for a request with X-Token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = dict(scope.get("headers", [])).get(b"x-token")
        if scope["type"] != "http" or token is None:
            return await self.app(scope, receive, send)
        kinds = SENT.setdefault(token.decode(), [])

        async def recording_send(message: Message) -> None:
            kinds.append(message["type"])
            await send(message)

        await self.app(scope, receive, recording_send)


app = Starlette(
    routes=[
        Route("/", index),
        Route("/state", state),
        Route("/sent/{token}", sent),
        WebSocketRoute("/ws", chat),
        Mount("/static", StaticFiles(directory=DATA), name="static"),
        Mount("/big", StaticFiles(directory=BIG), name="big"),
    ],
    lifespan=lifespan,
)
app.add_middleware(_Recorder)
