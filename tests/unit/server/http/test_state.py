"""The connection state table: every legal move, and every other move raises StateError."""

from __future__ import annotations

import itertools

import pytest

from beemo.errors import BeemoError, StateError
from beemo.server.http.state import Phase, Step, advance, illegal, moves

# The rules of state.py's docstring, written out independently of its table.
LEGAL = {
    (Phase.AWAIT_REQUEST, Step.REQUEST_HEAD): Phase.HANDLING,
    (Phase.HANDLING, Step.RESPONSE_HEAD): Phase.RESPONDING,
    (Phase.RESPONDING, Step.RESPONSE_END): Phase.AWAIT_REQUEST,
    (Phase.HANDLING, Step.SWITCH): Phase.SWITCHED,  # only a request being handled switches
    **{(phase, Step.CLOSE): Phase.CLOSING for phase in Phase},
}
ILLEGAL = [move for move in itertools.product(Phase, Step) if move not in LEGAL]


def test_the_table_covers_every_phase_and_step() -> None:
    assert len(LEGAL) + len(ILLEGAL) == len(Phase) * len(Step) == 25
    assert {phase for phase, _ in LEGAL} == set(Phase)
    assert {step for _, step in LEGAL} == set(Step)


@pytest.mark.parametrize(("phase", "step"), list(LEGAL), ids=lambda x: x.name)
def test_legal_moves(phase: Phase, step: Step) -> None:
    assert advance(phase, step) is LEGAL[(phase, step)]


@pytest.mark.parametrize(("phase", "step"), ILLEGAL, ids=lambda x: x.name)
def test_illegal_moves_raise(phase: Phase, step: Step) -> None:
    with pytest.raises(StateError) as caught:
        advance(phase, step)
    assert isinstance(caught.value, BeemoError)
    assert str(caught.value) == f"cannot take step {step.name} in phase {phase.name}"


@pytest.mark.parametrize("step", list(Step), ids=lambda x: x.name)
def test_moves_of_a_step_are_the_tables(step: Step) -> None:
    """The hot paths' per-step lookup holds the same moves as `advance`."""
    assert moves(step) == {phase: after for (phase, taken), after in LEGAL.items() if taken is step}


@pytest.mark.parametrize(("phase", "step"), ILLEGAL, ids=lambda x: x.name)
def test_illegal_raises_what_advance_raises(phase: Phase, step: Step) -> None:
    assert moves(step).get(phase) is None
    with pytest.raises(StateError) as caught:
        illegal(phase, step)
    assert str(caught.value) == f"cannot take step {step.name} in phase {phase.name}"


def test_closing_is_terminal() -> None:
    for step in Step:
        if step is not Step.CLOSE:
            with pytest.raises(StateError):
                advance(Phase.CLOSING, step)


def test_a_switched_connection_can_only_close() -> None:
    phase = advance(advance(Phase.AWAIT_REQUEST, Step.REQUEST_HEAD), Step.SWITCH)
    assert phase is Phase.SWITCHED
    for step in Step:
        if step is not Step.CLOSE:
            with pytest.raises(StateError):
                advance(phase, step)
    assert advance(phase, Step.CLOSE) is Phase.CLOSING


def test_a_keep_alive_cycle_returns_to_await_request() -> None:
    phase = Phase.AWAIT_REQUEST
    for _ in range(3):
        for step in (Step.REQUEST_HEAD, Step.RESPONSE_HEAD, Step.RESPONSE_END):
            phase = advance(phase, step)
    assert phase is Phase.AWAIT_REQUEST
