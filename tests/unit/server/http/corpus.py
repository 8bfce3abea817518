"""The request corpus in tests/unit/requests/, loaded as expected message sequences."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from beemo.config import Limits
from beemo.server.http.messages import Body, EndOfMessage, RequestHead

ROOT = Path(__file__).resolve().parents[2] / "requests"
Message = RequestHead | Body | EndOfMessage


@dataclass(frozen=True)
class ValidCase:
    name: str
    description: str
    raw: bytes
    limits: Limits
    messages: tuple[Message, ...]  # Body pieces joined, one per request with a body
    closed: bool  # the last request ends the connection


@dataclass(frozen=True)
class InvalidCase:
    name: str
    description: str
    raw: bytes
    limits: Limits
    status: int


def _bytes(text: str) -> bytes:
    return text.encode("latin-1")


def _pairs(pairs: list[list[str]]) -> list[tuple[bytes, bytes]]:
    return [(_bytes(name), _bytes(value)) for name, value in pairs]


def _messages(requests: list[dict[str, Any]]) -> tuple[Message, ...]:
    messages: list[Message] = []
    for request in requests:
        messages.append(
            RequestHead(
                request["method"],
                _bytes(request["target"]),
                request["http_version"],
                _pairs(request["headers"]),
                request["keep_alive"],
                request["expect_continue"],
            )
        )
        if request["body"]:
            messages.append(Body(_bytes(request["body"])))
        messages.append(EndOfMessage(tuple(_pairs(request["trailers"]))))
    return tuple(messages)


def _load(kind: str) -> list[tuple[str, bytes, dict[str, Any]]]:
    cases = []
    for path in sorted((ROOT / kind).glob("*.http")):
        expect = json.loads(path.with_suffix(".json").read_text())
        cases.append((f"{kind}/{path.stem}", path.read_bytes(), expect))
    return cases


def valid_cases() -> list[ValidCase]:
    return [
        ValidCase(
            name,
            expect["description"],
            raw,
            Limits(**expect.get("limits", {})),
            _messages(expect["requests"]),
            not expect["requests"][-1]["keep_alive"],
        )
        for name, raw, expect in _load("valid")
    ]


def invalid_cases() -> list[InvalidCase]:
    return [
        InvalidCase(
            name, expect["description"], raw, Limits(**expect.get("limits", {})), expect["status"]
        )
        for name, raw, expect in _load("invalid")
    ]
