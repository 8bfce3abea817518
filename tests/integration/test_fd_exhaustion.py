"""Running out of file descriptors: the server logs it (at most once a second), keeps the
connections it has, and serves again as soon as descriptors are free."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import time

from tests.integration.conftest import get, wait_until
from tests.support import ROOT, Running, beemo_command


def _served(server: Running) -> bool:
    try:
        return get(server, "/").status == 200
    except OSError:
        return False


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))


def test_out_of_descriptors_then_recovers(poller: str) -> None:
    env = dict(os.environ, BEEMO_POLLER=poller, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        beemo_command("tests.integration.apps:app"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_low_fd_limit,
    )
    server = Running(proc, "")
    server._drain()
    try:
        assert wait_until(lambda: "Listening at" in server.read_log(), timeout=15)
        server.url = server.read_log().split("Listening at: ", 1)[1].split()[0]
        hogs = []
        for _ in range(60):  # more than the server can hold
            hogs.append(socket.create_connection((server.host, server.port), timeout=5))
        time.sleep(1.5)
        for hog in hogs:
            hog.close()
        # Descriptors come back as the server sees the closes; then it serves again.
        assert wait_until(lambda: _served(server), timeout=15)
        log = server.read_log()
        assert "accept() failed" in log
        assert log.count("accept() failed") <= 5  # rate-limited, not one line per retry
        assert proc.poll() is None
    finally:
        server.stop()
        for reader in server._readers:
            reader.join(5)
