"""Fixtures shared by the framework tests: the data file both apps serve and receive."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

BLOB_SIZE = 5 * 1024 * 1024 + 123  # not a multiple of any block size


@pytest.fixture(scope="session")
def blob_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding blob.bin, passed to the apps as $BEEMO_APPS_DATA."""
    directory = tmp_path_factory.mktemp("apps-data")
    (directory / "blob.bin").write_bytes(random.Random(3333).randbytes(BLOB_SIZE))
    return directory


@pytest.fixture(scope="session")
def blob(blob_dir: Path) -> bytes:
    return (blob_dir / "blob.bin").read_bytes()
