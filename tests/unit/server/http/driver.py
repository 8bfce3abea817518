"""Drive an `HTTPConnection` the way `beemo.server.channel` does and record what it yields.

`drive` feeds the chunks one `receive_data` at a time and, after each, calls `next_event`
until it returns NEED_DATA. It answers each request (send_head, send_body, send_end) once the
request's EndOfMessage came out, or, with `early=True`, right after its RequestHead, the way an
app that never reads the body is served: the connection then drains the body itself.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from beemo.config import Limits
from beemo.errors import ProtocolError
from beemo.server.http.connection import HTTPConnection
from beemo.server.http.messages import (
    CONNECTION_CLOSED,
    NEED_DATA,
    PAUSED,
    Body,
    EndOfMessage,
    RequestHead,
    ResponseHead,
)

STAMP = "date: Thu, 01 Jan 2026 00:00:00 GMT\r\nserver: beemo\r\n"
Message = RequestHead | Body | EndOfMessage
OK = ResponseHead(200, ())
TEXT = ResponseHead(200, ((b"Content-Type", b"text/plain"),))


@dataclass(frozen=True)
class Outcome:
    messages: tuple[Message, ...]  # adjacent Body pieces joined
    status: int | None = None  # the status of the ProtocolError raised, if any
    closed: bool = False  # next_event said CONNECTION_CLOSED


def respond(conn: HTTPConnection) -> bytes:
    """A complete 200 response with a 2-byte body of known length."""
    return conn.send_head(TEXT, STAMP, body_length=2) + conn.send_body(b"ok") + conn.send_end()


def joined(messages: list[Message]) -> tuple[Message, ...]:
    """`messages` with adjacent Body pieces joined; an empty piece is a failure."""
    out: list[Message] = []
    for message in messages:
        if type(message) is Body:
            assert message.data, "the connection yielded an empty Body piece"
            if out and type(out[-1]) is Body:
                out[-1] = Body(out[-1].data + message.data)
                continue
        out.append(message)
    return tuple(out)


def drive(chunks: list[bytes], limits: Limits | None = None, *, early: bool = False) -> Outcome:
    conn = HTTPConnection(limits or Limits())
    messages: list[Message] = []
    closed = False
    try:
        for chunk in chunks:
            conn.receive_data(chunk)
            while True:
                event = conn.next_event()
                if event is NEED_DATA:
                    break
                if event is CONNECTION_CLOSED:
                    closed = True
                    break
                assert event is not PAUSED, "PAUSED although every response was finished"
                assert isinstance(event, (RequestHead, Body, EndOfMessage)), event
                if isinstance(event, RequestHead):
                    assert not closed, f"a request read after the connection closed: {event}"
                    messages.append(event)
                    if early:
                        respond(conn)
                elif not early:
                    messages.append(event)
                    if isinstance(event, EndOfMessage):
                        respond(conn)
    except ProtocolError as exc:
        return Outcome(joined(messages), exc.status, closed)
    return Outcome(joined(messages), None, closed)


def heads(messages: tuple[Message, ...]) -> list[RequestHead]:
    return [message for message in messages if isinstance(message, RequestHead)]


def byte_at_a_time(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def random_splits(data: bytes, seed: int, max_cuts: int = 8) -> list[bytes]:
    """`data` cut at up to `max_cuts` seeded random places."""
    rng = random.Random(seed)
    if len(data) < 2:
        return [data]
    cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, min(max_cuts, len(data) - 1))))
    return [data[start:end] for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def splittings(data: bytes, seeds: int = 20) -> Iterator[tuple[str, list[bytes]]]:
    """Every way the corpus tests feed `data`: whole, byte at a time, seeded random splits."""
    yield "whole", [data]
    yield "bytes", byte_at_a_time(data)
    for seed in range(seeds):
        yield f"seed {seed}", random_splits(data, seed)


__all__ = [
    "OK",
    "STAMP",
    "TEXT",
    "Outcome",
    "byte_at_a_time",
    "drive",
    "heads",
    "joined",
    "random_splits",
    "respond",
    "splittings",
]
