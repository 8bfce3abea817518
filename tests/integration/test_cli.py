"""The command line: every mistake is one line on stderr and a non-zero exit, never a
traceback; --version and --help; binding to unix sockets, IPv6 and several addresses."""

from __future__ import annotations

import os
import socket
import tempfile
import time

import pytest

from tests.integration.conftest import (
    RawConn,
    app,
    beemo_cli,
    get,
    ipv6_available,
    listening_urls,
    request_bytes,
    running,
    wait_until,
)
from tests.support import ROOT


def _one_line_error(result) -> str:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


@pytest.fixture(scope="module")
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


ERRORS = {
    "bad_module": (
        [app("x").replace("tests.integration.apps", "no_such_module_xyz")],
        "no_such_module_xyz",
    ),
    "bad_package": (["tests.integration.no_such_module:app"], "no_such_module"),
    "missing_attribute": ([app("no_such_attribute")], "no_such_attribute"),
    "missing_nested_attribute": ([app("app.nope")], "nope"),
    "not_callable": ([app("NOT_CALLABLE")], "not callable"),
    "empty_attribute": (["tests.integration.apps:"], "MODULE:ATTRIBUTE"),
    "bad_bind_port": ([app("app"), "--bind", "127.0.0.1:notaport"], "notaport"),
    "bad_bind_range": ([app("app"), "--bind", "127.0.0.1:70000"], "70000"),
    "bad_bind_ipv6": ([app("app"), "--bind", "::1:8000"], "::1:8000"),
    "bad_bind_host": ([app("app"), "--bind", "no-such-host.invalid:8000"], "no-such-host"),
    "bad_bind_unix": ([app("app"), "--bind", "unix:"], "unix:"),
    "unknown_flag": ([app("app"), "--no-such-flag"], "--no-such-flag"),
    "bad_threads": ([app("app"), "--threads", "many"], "many"),
    "zero_threads": ([app("app"), "--threads", "0"], "threads"),
    "bad_timeout": ([app("app"), "--keep-alive", "soon"], "soon"),
    "bad_choice": ([app("app"), "--log-level", "loud"], "loud"),
    "missing_app": ([], ""),
}


@pytest.mark.parametrize("name", ERRORS)
def test_mistake_is_one_line_and_a_non_zero_exit(name):
    args, mentioned = ERRORS[name]
    if "--bind" not in args and args:
        args = [*args, "--bind", "127.0.0.1:0"]
    started = time.monotonic()
    result = beemo_cli(*args)
    line = _one_line_error(result)
    assert mentioned in line, line
    assert time.monotonic() - started < 10


def test_port_already_in_use(busy_port):
    result = beemo_cli(app("app"), "--bind", f"127.0.0.1:{busy_port}")
    line = _one_line_error(result)
    assert "in use" in line and str(busy_port) in line


def test_bad_environment_value():
    env = dict(os.environ, PYTHONPATH=str(ROOT), BEEMO_THREADS="lots")
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "beemo", app("app"), "--bind", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=15,
        cwd=ROOT,
        env=env,
    )
    assert "BEEMO_THREADS" in _one_line_error(result)


def test_version():
    result = beemo_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip().startswith("beemo ")
    import beemo

    assert beemo.__version__ in result.stdout


def test_version_from_the_console_script():
    import subprocess
    import sys

    script = os.path.join(os.path.dirname(sys.executable), "beemo")
    if not os.path.exists(script):
        pytest.skip("the beemo console script is not installed next to this interpreter")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=15)
    assert result.returncode == 0
    assert result.stdout.startswith("beemo ")


def test_help():
    result = beemo_cli("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: beemo")
    for flag in (
        "--bind",
        "--threads",
        "--keep-alive",
        "--client-timeout",
        "--graceful-timeout",
        "--access-log",
        "--limit-request-line",
    ):
        assert flag in result.stdout


# ---- binding ----------------------------------------------------------------------------------


def test_unix_socket(poller):
    folder = tempfile.mkdtemp(prefix="beemo-")  # short: AF_UNIX paths are limited to 108 bytes
    path = os.path.join(folder, "b.sock")
    try:
        with running(poller=poller, bind=f"unix:{path}") as server:
            assert server.url == f"unix:{path}"
            with RawConn.to(server.url) as conn:
                for _ in range(3):  # keep-alive works over AF_UNIX too
                    response = conn.exchange(request_bytes("GET", "/environ"))
                    assert response.status == 200
                    assert b'"REMOTE_ADDR": ""' in response.body
                response = conn.exchange(request_bytes("POST", "/echo", body=b"over unix"))
                assert response.body == b"over unix"
            assert server.stop() == 0
        assert not os.path.exists(path), "the socket file was left behind"
    finally:
        if os.path.exists(path):
            os.unlink(path)
        os.rmdir(folder)


def test_stale_unix_socket_is_replaced(poller):
    folder = tempfile.mkdtemp(prefix="beemo-")
    path = os.path.join(folder, "b.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens: what a crashed server leaves
    try:
        with running(poller=poller, bind=f"unix:{path}") as server:
            with RawConn.to(server.url) as conn:
                assert conn.exchange(request_bytes("GET", "/")).status == 200
    finally:
        if os.path.exists(path):
            os.unlink(path)
        os.rmdir(folder)


@pytest.mark.skipif(not ipv6_available(), reason="IPv6 is not available")
def test_ipv6_loopback(poller):
    with running(poller=poller, bind="[::1]:0") as server:
        assert server.url.startswith("http://[::1]:")
        with RawConn.to(("::1", server.port)) as conn:
            response = conn.exchange(request_bytes("GET", "/environ"))
            assert response.status == 200
            assert b'"REMOTE_ADDR": "::1"' in response.body


def test_several_binds(poller):
    folder = tempfile.mkdtemp(prefix="beemo-")
    path = os.path.join(folder, "b.sock")
    extra = ["--bind", "127.0.0.1:0", "--bind", f"unix:{path}"]
    if ipv6_available():
        extra += ["--bind", "[::1]:0"]
    try:
        with running(*extra, poller=poller) as server:
            urls = listening_urls(server, len(extra) // 2 + 1)
            assert len(urls) == len(extra) // 2 + 1, urls
            assert len(set(urls)) == len(urls)
            for url in urls:
                if url.startswith("unix:"):
                    target: str | tuple[str, int] = url
                else:
                    host, port = url.removeprefix("http://").rsplit(":", 1)
                    target = (host.strip("[]"), int(port))
                with RawConn.to(target) as conn:
                    assert conn.exchange(request_bytes("GET", "/")).body == b"hello\n"
            assert get(server, "/").status == 200
    finally:
        if os.path.exists(path):
            os.unlink(path)
        os.rmdir(folder)


def test_env_var_setting(poller):
    with running(poller=poller, env={"BEEMO_THREADS": "3"}) as server:
        assert wait_until(lambda: "threads: 3" in server.read_log())
        assert get(server, "/").status == 200
        environ = get(server, "/environ").body
        assert b'"wsgi.multithread": true' in environ
