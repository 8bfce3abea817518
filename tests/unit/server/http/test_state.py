"""The connection state table: every legal move, and every other move raises StateError."""

from __future__ import annotations

import itertools

import pytest

from beemo.errors import BeemoError, StateError
from beemo.server.http.state import Phase, Step, advance

# The rules of state.py's docstring, written out independently of its table.
LEGAL = {
    (Phase.AWAIT_REQUEST, Step.REQUEST_HEAD): Phase.HANDLING,
    (Phase.HANDLING, Step.RESPONSE_HEAD): Phase.RESPONDING,
    (Phase.RESPONDING, Step.RESPONSE_END): Phase.AWAIT_REQUEST,
    **{(phase, Step.CLOSE): Phase.CLOSING for phase in Phase},
}
ILLEGAL = [move for move in itertools.product(Phase, Step) if move not in LEGAL]


def test_the_table_covers_every_phase_and_step() -> None:
    assert len(LEGAL) + len(ILLEGAL) == len(Phase) * len(Step) == 16
    assert {phase for phase, _ in LEGAL} == set(Phase)


@pytest.mark.parametrize(("phase", "step"), list(LEGAL), ids=lambda x: x.name)
def test_legal_moves(phase: Phase, step: Step) -> None:
    assert advance(phase, step) is LEGAL[(phase, step)]


@pytest.mark.parametrize(("phase", "step"), ILLEGAL, ids=lambda x: x.name)
def test_illegal_moves_raise(phase: Phase, step: Step) -> None:
    with pytest.raises(StateError) as caught:
        advance(phase, step)
    assert isinstance(caught.value, BeemoError)


def test_closing_is_terminal() -> None:
    for step in Step:
        if step is not Step.CLOSE:
            with pytest.raises(StateError):
                advance(Phase.CLOSING, step)


def test_a_keep_alive_cycle_returns_to_await_request() -> None:
    phase = Phase.AWAIT_REQUEST
    for _ in range(3):
        for step in (Step.REQUEST_HEAD, Step.RESPONSE_HEAD, Step.RESPONSE_END):
            phase = advance(phase, step)
    assert phase is Phase.AWAIT_REQUEST
