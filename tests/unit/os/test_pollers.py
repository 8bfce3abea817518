"""Both poller backends against the contract in beemo.os.contract, with real socketpairs.

One-shot delivery, re-arming, several threads sharing one poller, wake(), and the select()
backend past one 512-socket chunk. Waits are bounded and short.
"""

from __future__ import annotations

import resource
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from beemo.os import SelectPoller
from beemo.os.contract import READ, WRITE, Poller

if sys.platform == "linux":
    from beemo.os import EpollPoller

    FACTORIES: dict[str, Callable[[], Poller]] = {"epoll": EpollPoller, "select": SelectPoller}
else:  # pragma: no cover - the suite runs on Linux
    FACTORIES = {"select": SelectPoller}

NOTHING = 0.05  # seconds to wait when nothing should happen
Pairs = Callable[[], tuple[socket.socket, socket.socket]]


@pytest.fixture(params=sorted(FACTORIES))
def poller(request: pytest.FixtureRequest) -> Iterator[Poller]:
    instance = FACTORIES[request.param]()
    yield instance
    instance.close()


@pytest.fixture
def pairs() -> Iterator[Pairs]:
    made: list[socket.socket] = []

    def make() -> tuple[socket.socket, socket.socket]:
        a, b = socket.socketpair()
        made.extend((a, b))
        return a, b

    yield make
    for sock in made:
        sock.close()


def ready(
    poller: Poller, known: set[int], timeout: float = 2.0, max_events: int = 64
) -> dict[int, int]:
    """One poll, keeping only the fds the test registered (a wakeup fd may come too)."""
    return {fd: bits for fd, bits in poller.poll(timeout, max_events) if fd in known}


def test_a_ready_fd_fires_once_until_rearmed(poller: Poller, pairs: Pairs) -> None:
    a, b = pairs()
    poller.register(a.fileno(), READ)
    b.send(b"x")
    assert ready(poller, {a.fileno()}).keys() == {a.fileno()}
    assert ready(poller, {a.fileno()}, NOTHING) == {}  # still readable, but disarmed
    poller.rearm(a.fileno(), READ)
    events = ready(poller, {a.fileno()})
    assert events.keys() == {a.fileno()} and events[a.fileno()] & READ


def test_nothing_is_reported_before_the_fd_is_ready(poller: Poller, pairs: Pairs) -> None:
    a, b = pairs()
    poller.register(a.fileno(), READ)
    started = time.monotonic()
    assert ready(poller, {a.fileno()}, NOTHING) == {}
    assert time.monotonic() - started < 1.0
    b.send(b"x")
    assert ready(poller, {a.fileno()}).keys() == {a.fileno()}


def test_write_interest(poller: Poller, pairs: Pairs) -> None:
    a, _ = pairs()
    poller.register(a.fileno(), WRITE)
    events = ready(poller, {a.fileno()})
    assert events.keys() == {a.fileno()} and events[a.fileno()] & WRITE
    assert ready(poller, {a.fileno()}, NOTHING) == {}
    poller.rearm(a.fileno(), WRITE)
    assert ready(poller, {a.fileno()}).keys() == {a.fileno()}


def test_rearm_can_switch_interest(poller: Poller, pairs: Pairs) -> None:
    a, b = pairs()
    poller.register(a.fileno(), WRITE)
    assert ready(poller, {a.fileno()}).keys() == {a.fileno()}
    poller.rearm(a.fileno(), READ)
    assert ready(poller, {a.fileno()}, NOTHING) == {}  # writable, but READ is asked now
    b.send(b"x")
    assert ready(poller, {a.fileno()})[a.fileno()] & READ


def test_a_closed_peer_reads_as_ready(poller: Poller, pairs: Pairs) -> None:
    a, b = pairs()
    poller.register(a.fileno(), READ)
    b.close()
    assert ready(poller, {a.fileno()})[a.fileno()] & READ


def test_an_fd_unregistered_and_closed_is_not_reported(poller: Poller, pairs: Pairs) -> None:
    a, b = pairs()
    c, d = pairs()
    gone = a.fileno()
    poller.register(gone, READ)
    poller.register(c.fileno(), READ)
    b.send(b"x")
    poller.unregister(gone)
    a.close()
    d.send(b"y")
    assert ready(poller, {gone, c.fileno()}).keys() == {c.fileno()}


def test_only_the_ready_fds_are_reported(poller: Poller, pairs: Pairs) -> None:
    sockets = [pairs() for _ in range(10)]
    for a, _ in sockets:
        poller.register(a.fileno(), READ)
    for _, b in sockets[::3]:
        b.send(b"x")
    known = {a.fileno() for a, _ in sockets}
    found: dict[int, int] = {}
    deadline = time.monotonic() + 2.0
    while len(found) < 4 and time.monotonic() < deadline:
        found.update(ready(poller, known, 0.5))
    assert found.keys() == {a.fileno() for a, _ in sockets[::3]}


def test_max_events_is_respected(poller: Poller, pairs: Pairs) -> None:
    sockets = [pairs() for _ in range(5)]
    for a, b in sockets:
        poller.register(a.fileno(), READ)
        b.send(b"x")
    known = {a.fileno() for a, _ in sockets}
    seen: list[int] = []
    deadline = time.monotonic() + 2.0
    while len(seen) < 5 and time.monotonic() < deadline:
        batch = ready(poller, known, 0.5, max_events=2)
        assert len(batch) <= 2
        seen.extend(batch)
    assert sorted(seen) == sorted(known)


@pytest.mark.parametrize("threads", [2, 4])
def test_threads_sharing_a_poller_never_get_the_same_event(
    poller: Poller, pairs: Pairs, threads: int
) -> None:
    sockets = [pairs() for _ in range(40)]
    known = {a.fileno() for a, _ in sockets}
    got: list[list[int]] = [[] for _ in range(threads)]
    finished = threading.Event()

    def worker(mine: list[int]) -> None:
        deadline = time.monotonic() + 5.0
        while not finished.is_set() and time.monotonic() < deadline:
            mine.extend(ready(poller, known, 0.02, max_events=4))

    for a, _ in sockets:
        poller.register(a.fileno(), READ)
    runners = [threading.Thread(target=worker, args=(mine,)) for mine in got]
    for runner in runners:
        runner.start()
    for round_ in range(3):  # rounds: every fd is re-armed and fires again
        for _, b in sockets:
            b.send(b"x")
        deadline = time.monotonic() + 5.0
        while sum(map(len, got)) < len(known) * (round_ + 1) and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(NOTHING)  # room for a duplicate to show up
        delivered = [fd for mine in got for fd in mine]
        assert sorted(delivered) == sorted(list(known) * (round_ + 1))
        for a, _ in sockets:
            a.recv(16)
            poller.rearm(a.fileno(), READ)
    finished.set()
    for runner in runners:
        runner.join(5.0)
    assert not any(runner.is_alive() for runner in runners)


def test_wake_returns_a_blocked_poll_and_every_later_one(poller: Poller) -> None:
    returned = threading.Event()

    def blocked() -> None:
        poller.poll(None, 8)
        returned.set()

    runner = threading.Thread(target=blocked, daemon=True)
    runner.start()
    time.sleep(0.02)
    assert not returned.is_set()
    poller.wake()
    assert returned.wait(2.0)
    runner.join(2.0)
    later = threading.Event()

    def again() -> None:
        poller.poll(None, 8)
        later.set()

    second = threading.Thread(target=again, daemon=True)
    second.start()
    assert later.wait(2.0)


def test_a_registration_during_a_poll_is_watched(poller: Poller, pairs: Pairs) -> None:
    a, b = pairs()
    b.send(b"x")
    found: list[dict[int, int]] = []
    runner = threading.Thread(target=lambda: found.append(ready(poller, {a.fileno()}, 3.0)))
    started = time.monotonic()
    runner.start()
    time.sleep(0.02)
    poller.register(a.fileno(), READ)
    runner.join(5.0)
    assert found == [{a.fileno(): found[0][a.fileno()]}]
    assert time.monotonic() - started < 2.0  # woken by the registration, not the timeout


def test_select_poller_past_one_select_chunk(pairs: Pairs) -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 800:
        pytest.skip(f"needs about 700 file descriptors, the limit is {soft}")
    poller = SelectPoller()
    try:
        sockets = [pairs() for _ in range(300)]  # 600 fds registered: two select() chunks
        fds = [sock.fileno() for pair in sockets for sock in pair]
        assert max(fds) < 1000  # select() on Linux takes fds below FD_SETSIZE (1024) only
        for fd in fds:
            poller.register(fd, READ)
        chosen = [sockets[0], sockets[200], sockets[299]]  # fds in both chunks
        for _, b in chosen:
            b.send(b"x")
        want = {a.fileno() for a, _ in chosen}
        found: dict[int, int] = {}
        deadline = time.monotonic() + 3.0
        while len(found) < len(want) and time.monotonic() < deadline:
            found.update(ready(poller, set(fds), 0.5))
        assert found.keys() == want
        assert ready(poller, set(fds), NOTHING) == {}
    finally:
        poller.close()


@pytest.mark.skipif(sys.platform != "linux", reason="epoll is Linux only")
def test_level_triggered_epoll_for_a_single_consumer(pairs: Pairs) -> None:
    """With one consumer the epoll backend skips one-shot: an fd keeps firing until read, and
    rearm with the same interest is free."""
    poller = EpollPoller(one_shot=False)
    try:
        a, b = pairs()
        poller.register(a.fileno(), READ)
        assert ready(poller, {a.fileno()}, NOTHING) == {}
        b.send(b"x")
        assert ready(poller, {a.fileno()}).keys() == {a.fileno()}
        assert ready(poller, {a.fileno()}).keys() == {a.fileno()}  # level-triggered
        a.recv(1)
        poller.rearm(a.fileno(), READ)
        assert ready(poller, {a.fileno()}, NOTHING) == {}
        poller.rearm(a.fileno(), WRITE)
        assert ready(poller, {a.fileno()})[a.fileno()] & WRITE
    finally:
        poller.close()
