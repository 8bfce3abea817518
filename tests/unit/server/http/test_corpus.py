"""Every corpus request, fed whole, byte at a time, in random splits and with trailing data.

The outcome must be the same every way: the same messages (Body pieces joined) and the same
end (NEED_DATA, CONNECTION_CLOSED or the ProtocolError status).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from beemo.server.http.messages import RequestHead
from tests.unit.server.http.corpus import ROOT, InvalidCase, ValidCase, invalid_cases, valid_cases
from tests.unit.server.http.driver import Outcome, drive, heads, splittings

VALID = valid_cases()
INVALID = invalid_cases()
FEEDINGS = ("whole", "bytes", "random", "trailing")
# After a valid request: the start of a next request, which must stay unread (no head yet).
PARTIAL_NEXT = b"GET /next HTTP/1.1\r\nHost: example.com\r\n"
# After an invalid request: a complete valid one, which must never be read.
COMPLETE_NEXT = b"GET /next HTTP/1.1\r\nHost: example.com\r\n\r\n"

KNOWN_BUGS: dict[tuple[str, str], str] = {}


def feeds(raw: bytes, feeding: str, trailer: bytes) -> Iterator[tuple[str, list[bytes]]]:
    if feeding == "trailing":
        yield from splittings(raw + trailer, seeds=5)
        return
    for label, chunks in splittings(raw):
        if feeding == "random" and label.startswith("seed"):
            yield label, chunks
        elif label == feeding:
            yield label, chunks


def params(cases: list[ValidCase] | list[InvalidCase]) -> list[Any]:
    out = []
    for case in cases:
        for feeding in FEEDINGS:
            reason = KNOWN_BUGS.get((case.name, feeding))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            out.append(pytest.param(case, feeding, marks=marks, id=f"{case.name}-{feeding}"))
    return out


def early_outcome(case: ValidCase) -> Outcome:
    """What an app that answers before reading the body sees: the heads, up to the first that
    ends the connection (no keep-alive, or a 100 Continue never sent)."""
    answered: list[RequestHead] = []
    for head in heads(case.messages):
        answered.append(head)
        if not head.keep_alive or head.expect_continue:
            return Outcome(tuple(answered), None, True)
    return Outcome(tuple(answered), None, case.closed)


def test_corpus_files_come_in_pairs() -> None:
    for kind in ("valid", "invalid"):
        stems = {path.stem for path in (ROOT / kind).glob("*.http")}
        assert stems == {path.stem for path in (ROOT / kind).glob("*.json")}
        assert len(stems) >= 20


@pytest.mark.parametrize(("case", "feeding"), params(VALID))
def test_valid_request(case: ValidCase, feeding: str) -> None:
    expected = Outcome(case.messages, None, case.closed)
    for label, chunks in feeds(case.raw, feeding, PARTIAL_NEXT):
        assert drive(chunks, case.limits) == expected, label


@pytest.mark.parametrize("case", VALID, ids=lambda case: case.name)
def test_valid_request_answered_before_its_body(case: ValidCase) -> None:
    expected = early_outcome(case)
    waits_for_continue = any(head.expect_continue for head in heads(expected.messages))
    for label, chunks in splittings(case.raw, seeds=5):
        outcome = drive(chunks, case.limits, early=True)
        if not waits_for_continue:
            assert outcome == expected, label
            continue
        # A client waiting for 100 Continue may never send the body to drain, so the connection
        # closes, unless the whole body had already arrived when the answer went out.
        assert outcome.messages == expected.messages, label
        if label == "whole":
            assert not outcome.closed, label
        elif label == "bytes":
            assert outcome.closed, label


@pytest.mark.parametrize(("case", "feeding"), params(INVALID))
def test_invalid_request(case: InvalidCase, feeding: str) -> None:
    for label, chunks in feeds(case.raw, feeding, COMPLETE_NEXT):
        outcome = drive(chunks, case.limits)
        assert outcome.status == case.status, (label, outcome)
        assert all(head.target != b"/next" for head in heads(outcome.messages)), label
