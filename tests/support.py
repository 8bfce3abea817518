"""Shared test helpers: run a real `beemo` process on a free loopback port.

`serve(...)` starts `python -m beemo APP --bind 127.0.0.1:0 ...`, waits for its
"Listening at: URL" log line and yields a `Running` with the URL and the process. On exit it
sends SIGTERM and waits, so every test leaves no process behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POLLERS = ("epoll", "select")
_LISTENING = re.compile(r"Listening at: (\S+)")


@dataclass
class Running:
    proc: subprocess.Popen[str]
    url: str  # "http://127.0.0.1:PORT" or "unix:/path"
    log: list[str] = field(default_factory=list)  # stderr lines read so far
    out: list[str] = field(default_factory=list)  # stdout lines (the access log)
    _readers: list[threading.Thread] = field(default_factory=list)

    @property
    def host(self) -> str:
        return self.url.split("//", 1)[1].rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def read_log(self, timeout: float = 5.0) -> str:
        """What the server wrote to stderr so far; all of it once the process has exited."""
        if self.proc.poll() is not None:
            for reader in self._readers:
                reader.join(timeout)
        return "".join(self.log)

    def read_access_log(self, timeout: float = 5.0) -> str:
        if self.proc.poll() is not None:
            for reader in self._readers:
                reader.join(timeout)
        return "".join(self.out)

    def _drain(self) -> None:
        """Keep reading both pipes so a chatty server never blocks on a full pipe."""
        for stream, sink in ((self.proc.stderr, self.log), (self.proc.stdout, self.out)):
            reader = threading.Thread(target=_pump, args=(stream, sink), daemon=True)
            reader.start()
            self._readers.append(reader)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


def beemo_command(app: str, *args: str, bind: str = "127.0.0.1:0") -> list[str]:
    return [sys.executable, "-m", "beemo", app, "--bind", bind, *args]


@contextlib.contextmanager
def serve(
    app: str,
    *args: str,
    poller: str = "epoll",
    bind: str = "127.0.0.1:0",
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    startup_timeout: float = 15.0,
) -> Iterator[Running]:
    """Run `beemo APP ARGS` and yield once it listens; stop it (SIGTERM) afterwards."""
    full_env = dict(os.environ)
    full_env["BEEMO_POLLER"] = poller
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(cwd or ROOT), full_env.get("PYTHONPATH", "")]
    )
    full_env["PYTHONUNBUFFERED"] = "1"
    full_env.update(env or {})
    proc = subprocess.Popen(
        beemo_command(app, *args, bind=bind),
        cwd=cwd or ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = Running(proc, "")
    running._drain()
    try:
        running.url = _wait_listening(running, startup_timeout)
        yield running
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            running.stop()
        for reader in running._readers:
            reader.join(5)


def _pump(stream: object, sink: list[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.append(line)


def _wait_listening(running: Running, timeout: float) -> str:
    """Wait for the "Listening at: URL" line the pump threads collect."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(running.log):
            match = _LISTENING.search(line)
            if match:
                return match.group(1)
        if running.proc.poll() is not None:
            break
        time.sleep(0.01)
    running.proc.kill()
    running.proc.wait()
    for reader in running._readers:
        reader.join(5)
    raise RuntimeError("beemo did not start:\n" + "".join(running.log))
