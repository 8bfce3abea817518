"""The house rules a machine can check: ruff clean, mypy clean (strict on server/, os/ and
config.py, on both the Linux and the Windows platform), as STYLE.md asks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import ROOT


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_check_is_clean() -> None:
    result = run("ruff", "check", "beemo", "tests", "loadtests")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("platform", ["linux", "win32"])
def test_mypy_is_clean(platform: str) -> None:
    targets = ["beemo"] if platform == "linux" else ["beemo/os", "beemo/server", "beemo/config.py"]
    result = run("mypy", "--platform", platform, *targets)
    assert result.returncode == 0, result.stdout + result.stderr
