"""A small but real Flask app, served in the tests as `beemo app:app` from this directory.

It reads its download file from $BEEMO_APPS_DATA/blob.bin (written by tests/apps/conftest.py).
`/crash` is answered by a WSGI middleware that raises before Flask sees the request, so the
server's own 500 path runs; `/boom` raises inside a view, where Flask answers 500 itself.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from flask import (
    Flask,
    Response,
    jsonify,
    redirect,
    render_template_string,
    request,
    send_file,
    session,
    stream_with_context,
    url_for,
)

DATA = Path(os.environ.get("BEEMO_APPS_DATA", "."))
BLOB = DATA / "blob.bin"

app = Flask(__name__)
CLOSED: set[str] = set()  # ?token= values of responses whose close() ran (PEP 3333)
app.secret_key = "tests-only-not-secret"

FORM = """<!doctype html>
<form method="post" action="{{ url_for('form_submit') }}">
  <input name="name"> <input type="checkbox" name="color" value="red">
  <input type="checkbox" name="color" value="blue"> <button>Send</button>
</form>
"""


def _digest(data: bytes) -> dict[str, Any]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@app.get("/")
def index() -> str:
    return "Hello from Flask!"


@app.get("/hello/<name>")
def hello(name: str) -> str:
    return f"Hello, {name}!"


@app.get("/environ")
def environ() -> Response:
    keys = (
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "SERVER_PROTOCOL",
        "REMOTE_ADDR",
        "REMOTE_PORT",
        "wsgi.url_scheme",
        "wsgi.multithread",
        "wsgi.multiprocess",
        "wsgi.run_once",
        "SERVER_SOFTWARE",
    )
    return jsonify(
        {key: request.environ.get(key) for key in keys} | {"args": request.args.to_dict(flat=False)}
    )


@app.get("/form")
def form_page() -> str:
    return render_template_string(FORM)


@app.post("/form")
def form_submit() -> Response:
    session["name"] = request.form["name"]
    colors = ",".join(request.form.getlist("color"))
    return redirect(url_for("greet", colors=colors), code=303)  # POST/redirect/GET


@app.get("/greet")
def greet() -> str:
    return render_template_string(
        "<p>Hello, {{ name }}! Colors: {{ colors }}</p>",
        name=session.get("name", "stranger"),
        colors=request.args.get("colors", ""),
    )


@app.post("/json")
def json_echo() -> tuple[Response, int]:
    payload = request.get_json()
    return jsonify(received=payload, total=sum(payload["numbers"])), 201


@app.post("/upload")
def upload() -> Response:
    file = request.files["file"]
    data = file.read()
    return jsonify(
        _digest(data)
        | {"filename": file.filename, "note": request.form["note"], "content_type": file.mimetype}
    )


@app.post("/raw")
def raw() -> Response:
    return jsonify(_digest(request.get_data()))


@app.get("/download")
def download() -> Response:
    return send_file(
        BLOB, mimetype="application/octet-stream", as_attachment=True, download_name="blob.bin"
    )


@app.get("/download-memory")
def download_memory() -> Response:
    return send_file(io.BytesIO(BLOB.read_bytes()[:300_000]), mimetype="application/x-test")


@app.get("/big")
def big() -> Response:
    return Response(BLOB.read_bytes(), mimetype="application/octet-stream")


@app.get("/stream")
def stream() -> Response:
    count = int(request.args.get("count", "5"))
    pause = float(request.args.get("pause", "0"))
    pad = "x" * int(request.args.get("pad", "0"))

    @stream_with_context
    def lines() -> Iterator[str]:
        for n in range(count):
            # request is only reachable here because stream_with_context kept the context
            yield f"line {n} of {request.args.get('count', '5')}{pad}\n"
            if n == 0 and pause:
                time.sleep(pause)

    response = Response(lines(), mimetype="text/plain")
    token = request.args.get("token")
    if token:
        response.call_on_close(lambda: CLOSED.add(token))
    return response


@app.get("/closed/<token>")
def closed(token: str) -> Response:
    return jsonify(token in CLOSED)


@app.get("/stream-fail")
def stream_fail() -> Response:
    def lines() -> Iterator[bytes]:
        yield b"first\n"
        yield b"second\n"
        raise RuntimeError("the stream broke on purpose")

    return Response(lines(), mimetype="text/plain")


@app.get("/cookies/set")
def cookies_set() -> Response:
    response = jsonify(ok=True)
    response.set_cookie("flavor", request.args.get("flavor", "oatmeal"), httponly=True)
    response.set_cookie("size", "large", path="/cookies")
    return response


@app.get("/cookies/get")
def cookies_get() -> Response:
    return jsonify(dict(request.cookies))


@app.get("/old")
def old() -> Response:
    return redirect(url_for("hello", name="redirected"), code=301)


@app.get("/chain/<int:hops>")
def chain(hops: int) -> Response | str:
    if hops:
        return redirect(url_for("chain", hops=hops - 1))
    return "end of chain"


@app.get("/boom")
def boom() -> str:
    raise ZeroDivisionError("a view failed on purpose")


@app.get("/sleep")
def sleep() -> str:
    time.sleep(float(request.args.get("s", "0.5")))
    return "slept"


class _CrashBeforeFlask:
    """Raise for /crash before Flask can turn the exception into its own 500."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/crash":
            raise RuntimeError("the app crashed on purpose, outside Flask")
        return self.wsgi_app(environ, start_response)


app.wsgi_app = _CrashBeforeFlask(app.wsgi_app)  # type: ignore[method-assign]
