"""Fuzz invariant: whatever bytes arrive, HTTPConnection yields only messages and signals, or
raises ProtocolError with a 4xx/5xx status; never another exception, never a malformed message.

Seeded, so a failure reproduces; a few thousand cases in well under a second.
"""

from __future__ import annotations

import random

import pytest

from beemo.config import Limits
from beemo.server.http.messages import Body, EndOfMessage, RequestHead
from tests.unit.server.http.corpus import invalid_cases, valid_cases
from tests.unit.server.http.driver import Outcome, drive, random_splits

STATUSES = {400, 413, 414, 417, 431, 501, 505}
SMALL = Limits(request_line=64, request_fields=4, request_field_size=40)
CORPUS = [case.raw for case in valid_cases()] + [
    case.raw for case in invalid_cases() if len(case.raw) < 2000
]
TOKENS = [
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"FOO",
    b" ",
    b"/",
    b"/a?b=c",
    b"*",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"\r\n",
    b"\r\n\r\n",
    b"\n",
    b"\r",
    b":",
    b": ",
    b"Host",
    b"Content-Length",
    b"Transfer-Encoding",
    b"chunked",
    b"Connection",
    b"close",
    b"keep-alive",
    b"Expect",
    b"100-continue",
    b"Upgrade",
    b"0",
    b"5",
    b"a",
    b"ff",
    b";x=y",
    b"\x00",
    b"\x7f",
    b"\xff",
    b"\t",
    b",",
    b"12345",
    b"-1",
    b"hello",
]
METHODS = [b"GET", b"POST"] * 4 + [b"HEAD", b"PUT", b"OPTIONS", b"FOO"]
TARGETS = [b"/", b"/a?b=c", b"*", b"http://h/x", b"/%00", b"/" + b"x" * 70]
VERSIONS = [b"HTTP/1.1"] * 8 + [b"HTTP/1.0"] * 3 + [b"HTTP/2.0"]
FIELDS = [
    b"Content-Length: 5\r\n",
    b"Content-Length: 0\r\n",
    b"Content-Length: 99\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip\r\n",
    b"Connection: close\r\n",
    b"Connection: keep-alive\r\n",
    b"Expect: 100-continue\r\n",
    b"Expect: x\r\n",
    b"Upgrade: h2c\r\n",
    b"X-Long: " + b"v" * 50 + b"\r\n",
    b"Cookie: a=b\r\n",
]
BODIES = [b""] * 3 + [
    b"hello",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
    b"zz\r\n",
    b"0\r\n\r\n",
    b"x" * 99,
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        where = rng.randrange(len(buffer) + 1)
        match rng.randrange(6):
            case 0 if buffer:
                buffer[min(where, len(buffer) - 1)] = rng.randrange(256)
            case 1:
                buffer[where:where] = rng.choice(TOKENS)
            case 2:
                del buffer[where : where + rng.randint(1, 8)]
            case 3:
                buffer[where:where] = buffer[where : where + rng.randint(1, 40)]
            case 4:
                buffer[where:where] = rng.choice(CORPUS)
            case _:
                buffer[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
    return bytes(buffer)


def check(outcome: Outcome, early: bool) -> None:
    """Messages come as head, body pieces, end of message, again and again (only the heads
    when the driver answered early: the connection then drains the bodies itself)."""
    in_message = False
    for message in outcome.messages:
        if isinstance(message, RequestHead):
            assert early or not in_message, "a head inside the previous message"
            assert isinstance(message.method, str) and message.method.isascii()
            assert isinstance(message.target, bytes) and message.target
            assert message.http_version in ("1.0", "1.1")
            assert all(type(n) is bytes and type(v) is bytes and n for n, v in message.headers)
            assert isinstance(message.keep_alive, bool)
            assert isinstance(message.expect_continue, bool)
            in_message = True
        elif isinstance(message, Body):
            assert in_message and message.data
        else:
            assert isinstance(message, EndOfMessage) and in_message
            assert all(type(n) is bytes and type(v) is bytes for n, v in message.trailers)
            in_message = False
    assert outcome.status is None or outcome.status in STATUSES


def run(data: bytes, rng: random.Random) -> Outcome:
    chunks = random_splits(data, rng.randrange(1 << 30)) if rng.random() < 0.7 else [data]
    limits = SMALL if rng.random() < 0.2 else Limits()
    early = rng.random() < 0.3
    outcome = drive([*chunks, b""], limits, early=early)  # ProtocolError becomes .status
    check(outcome, early)
    return outcome


@pytest.mark.parametrize("seed", range(4))
def test_random_bytes(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(400):
        run(rng.randbytes(rng.randrange(120)), rng)


def structured(rng: random.Random) -> bytes:
    """A request built from plausible and tricky parts, often several in a row."""
    out = b""
    for _ in range(rng.randint(1, 3)):
        out += b"%s %s %s\r\n" % (rng.choice(METHODS), rng.choice(TARGETS), rng.choice(VERSIONS))
        out += b"Host: a\r\n" if rng.random() < 0.9 else b""
        out += b"".join(rng.sample(FIELDS, rng.randint(0, 3)))
        out += b"\r\n" + rng.choice(BODIES)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_structured_requests(seed: int) -> None:
    rng = random.Random(100 + seed)
    for _ in range(400):
        data = structured(rng)
        run(mutate(rng, data) if rng.random() < 0.3 else data, rng)


@pytest.mark.parametrize("seed", range(4))
def test_mutated_corpus_requests(seed: int) -> None:
    rng = random.Random(200 + seed)
    for _ in range(500):
        run(mutate(rng, rng.choice(CORPUS)), rng)
