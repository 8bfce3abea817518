"""Fixtures shared by the framework tests: the data file the apps serve and receive, and the
Django project's database (its WSGI and ASGI tests share it)."""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

BLOB_SIZE = 5 * 1024 * 1024 + 123  # not a multiple of any block size
DJANGO_PROJECT = Path(__file__).resolve().parent / "django_project"


@dataclass(frozen=True)
class LoopVariant:
    """How an ASGI app is served: which event loop, how many loop threads."""

    loop: str
    threads: int

    @property
    def flags(self) -> tuple[str, ...]:
        return ("--loop", self.loop, "--threads", str(self.threads))


# Every ASGI framework test runs on both loops, one with several loop threads.
LOOP_VARIANTS = [
    pytest.param(LoopVariant("asyncio", 1), id="asyncio"),
    pytest.param(LoopVariant("uvloop", 2), id="uvloop-threads2"),
]


@pytest.fixture(scope="session")
def blob_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding blob.bin, passed to the apps as $BEEMO_APPS_DATA."""
    directory = tmp_path_factory.mktemp("apps-data")
    (directory / "blob.bin").write_bytes(random.Random(3333).randbytes(BLOB_SIZE))
    return directory


@pytest.fixture(scope="session")
def blob(blob_dir: Path) -> bytes:
    return (blob_dir / "blob.bin").read_bytes()


@pytest.fixture(scope="session")
def open_blobs() -> Callable[[int], int]:
    """How many descriptors process `pid` holds open on blob.bin (Linux /proc)."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc/PID/fd")

    def count(pid: int) -> int:
        found = 0
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):  # the fd closed while we looked
                found += os.readlink(fd).endswith("/blob.bin")
        return found

    return count


@pytest.fixture(scope="session")
def django_env(tmp_path_factory: pytest.TempPathFactory, blob_dir: Path) -> dict[str, str]:
    """A migrated sqlite database for this session, as the environment the servers get."""
    env = {
        "MYPROJECT_DB": str(tmp_path_factory.mktemp("django") / "db.sqlite3"),
        "BEEMO_APPS_DATA": str(blob_dir),
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=DJANGO_PROJECT,
        env={**os.environ, **env},
        check=True,
        timeout=60,
    )
    return env
