"""The asyncio driver's connection setup, run without a Task (`beemo.server.loops._advance`)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from beemo.server.loops import _advance


def test_setup_runs_through_its_waits_and_finishes() -> None:
    seen: list[Any] = []

    async def setup(waiter: asyncio.Future[int]) -> None:
        seen.append(await waiter)
        await asyncio.sleep(0)  # a bare yield
        seen.append("done")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[int] = loop.create_future()
        _advance(setup(waiter), None)
        assert seen == []  # waiting
        loop.call_soon(waiter.set_result, 7)
        for _ in range(5):
            await asyncio.sleep(0)
        assert seen == [7, "done"]

    asyncio.run(main())


@pytest.mark.parametrize("failure", ["raises", "cancelled"])
def test_a_failed_setup_is_logged_and_does_not_escape(
    failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def setup(waiter: asyncio.Future[None]) -> None:
        await waiter
        raise OSError("bad descriptor")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        _advance(setup(waiter), None)
        if failure == "raises":
            waiter.set_result(None)
        else:
            waiter.cancel()
        for _ in range(3):
            await asyncio.sleep(0)

    with caplog.at_level(logging.DEBUG, logger="beemo.error"):
        asyncio.run(main())
    assert "Could not set up a connection" in caplog.text
