"""The ASGI lifespan protocol: startup before the first request and shutdown after the last,
once each; a failed startup stops the server with exit status 3 and the app's message; `auto`
carries on without an app that rejects the lifespan scope, `off` never sends it; the graceful
timeout bounds a shutdown the app never finishes."""

from __future__ import annotations

import json

import pytest

from tests.integration.asgi_apps import LIFESPAN_FILE
from tests.integration.conftest import (
    asgi_app,
    asgi_running,
    beemo_cli,
    get,
    log_entries,
    stop_and_wait,
)


def _lines(path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _errors(log: str) -> list[str]:
    return [entry for entry in log_entries(log) if "[ERROR]" in entry.splitlines()[0]]


def test_startup_and_shutdown_run_once_each(loop, tmp_path):
    record = tmp_path / "lifespan.log"
    env = {LIFESPAN_FILE: str(record)}
    with asgi_running("--threads", "3", loop=loop, env=env) as server:
        assert _lines(record) == ["startup"]  # done before the server listened
        for _ in range(6):  # round-robin over the three loops
            assert get(server, "/").body == b"hello\n"
        assert _lines(record) == ["startup"]
        status, _ = stop_and_wait(server)
        log = server.read_log()
    assert status == 0
    assert _lines(record) == ["startup", "shutdown"]
    assert log.index("Application startup complete.") < log.index("Listening at:")
    assert "Application shutdown complete." in log
    assert not _errors(log), log


def test_startup_failed_message_exits_3():
    result = beemo_cli(asgi_app("startup_failed"), "--bind", "127.0.0.1:0")
    assert result.returncode == 3, result.stderr
    assert "Listening at" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("beemo: error:") and "the database is down" in last, result.stderr


def test_startup_raising_with_lifespan_on_exits_3():
    result = beemo_cli(asgi_app("startup_raises"), "--lifespan", "on", "--bind", "127.0.0.1:0")
    assert result.returncode == 3, result.stderr
    assert "Listening at" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("beemo: error:"), result.stderr
    assert "RuntimeError: cannot start: no configuration found" in last


@pytest.mark.parametrize("name", ["lifespan_unsupported", "startup_raises"])
def test_lifespan_auto_carries_on_without_an_app_that_rejects_it(tmp_path, name):
    record = tmp_path / "lifespan.log"
    with asgi_running(name=name, env={LIFESPAN_FILE: str(record)}) as server:
        assert get(server, "/").body == b"hello\n"
        status, _ = stop_and_wait(server)
        log = server.read_log()
    assert status == 0
    assert "ASGI 'lifespan' protocol appears unsupported." in log
    assert not _errors(log) and "Traceback" not in log, log
    if name == "lifespan_unsupported":
        assert _lines(record) == ["called with lifespan"]  # once, never for shutdown


def test_lifespan_off_never_sends_it(tmp_path):
    record = tmp_path / "lifespan.log"
    with asgi_running("--lifespan", "off", env={LIFESPAN_FILE: str(record)}) as server:
        scope = json.loads(get(server, "/scope").body)
        assert "state" not in scope  # no lifespan, no state
        status, _ = stop_and_wait(server)
        log = server.read_log()
    assert status == 0
    assert not record.exists()
    assert "application startup" not in log.lower()
    assert "application shutdown" not in log.lower()


def test_a_hanging_shutdown_is_bounded_by_the_graceful_timeout(tmp_path):
    record = tmp_path / "lifespan.log"
    env = {LIFESPAN_FILE: str(record)}
    with asgi_running("--graceful-timeout", "1", name="shutdown_hangs", env=env) as server:
        assert get(server, "/").status == 200
        status, took = stop_and_wait(server)
        log = server.read_log()
    assert _lines(record) == ["shutdown started"]
    assert "Application shutdown timed out" in log
    assert status == 0
    assert 0.9 < took < 4.0, f"exit took {took:.2f} s with --graceful-timeout 1"
