"""beemo.os picks the backend: the argument, then $BEEMO_POLLER, then the platform."""

from __future__ import annotations

import sys

import pytest

from beemo.os import SelectPoller, create_poller, poller_name

LINUX = sys.platform == "linux"


@pytest.mark.parametrize(
    ("requested", "env", "expected"),
    [
        ("auto", None, "epoll" if LINUX else "select"),
        ("auto", "", "epoll" if LINUX else "select"),
        ("auto", "select", "select"),
        ("select", "epoll", "select"),  # an explicit choice beats the environment
        ("auto", "auto", "epoll" if LINUX else "select"),
    ],
)
def test_poller_name(
    requested: str, env: str | None, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if env is None:
        monkeypatch.delenv("BEEMO_POLLER", raising=False)
    else:
        monkeypatch.setenv("BEEMO_POLLER", env)
    assert poller_name(requested) == expected


@pytest.mark.parametrize(("requested", "env"), [("kqueue", None), ("auto", "iocp")])
def test_unknown_pollers_are_refused(
    requested: str, env: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BEEMO_POLLER", raising=False)
    if env is not None:
        monkeypatch.setenv("BEEMO_POLLER", env)
    with pytest.raises(ValueError):
        poller_name(requested)


def test_create_poller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BEEMO_POLLER", raising=False)
    poller = create_poller("select")
    try:
        assert isinstance(poller, SelectPoller)
    finally:
        poller.close()
    if LINUX:
        from beemo.os import EpollPoller

        for consumers in (1, 4):
            poller = create_poller("auto", consumers)
            try:
                assert isinstance(poller, EpollPoller)
            finally:
                poller.close()
