"""--bind addresses (the parsing only: binding is an integration test)."""

from __future__ import annotations

import socket

import pytest

from beemo.errors import ConfigError
from beemo.server.listeners import Address, parse_address

INET, INET6, UNIX = socket.AF_INET, socket.AF_INET6, socket.AF_UNIX


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("127.0.0.1:8000", Address(INET, "127.0.0.1", 8000)),
        ("0.0.0.0:0", Address(INET, "0.0.0.0", 0)),
        ("localhost:65535", Address(INET, "localhost", 65535)),
        (":9000", Address(INET, "0.0.0.0", 9000)),
        ("9000", Address(INET, "127.0.0.1", 9000)),
        ("example.com", Address(INET, "example.com", 8000)),
        ("[::1]:8080", Address(INET6, "::1", 8080)),
        ("[::]:80", Address(INET6, "::", 80)),
        ("[::1]", Address(INET6, "::1", 8000)),
        ("[fe80::1%eth0]:80", Address(INET6, "fe80::1%eth0", 80)),
        ("unix:/tmp/beemo.sock", Address(UNIX, "/tmp/beemo.sock", 0)),
        ("unix:relative.sock", Address(UNIX, "relative.sock", 0)),
    ],
)
def test_parse_address(text: str, address: Address) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize(
    "text",
    [
        "unix:",
        "::1:8000",
        "::1",
        "[::1",
        "[::1]8000",
        "[::1]:",
        "[::1]:http",
        "host:",
        "host:http",
        "host:-1",
        "host:65536",
        "host:99999999",
        "127.0.0.1:80:80",
        "[::1]:8000:1",
    ],
)
def test_bad_addresses(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_address(text)
    assert text in str(caught.value) and "\n" not in str(caught.value)


def test_non_ascii_digits_in_the_port() -> None:
    with pytest.raises(ConfigError):
        parse_address("127.0.0.1:\xb2")


@pytest.mark.parametrize(
    ("address", "port", "url"),
    [
        (Address(INET, "127.0.0.1", 0), 8123, "http://127.0.0.1:8123"),
        (Address(INET, "127.0.0.1", 8000), None, "http://127.0.0.1:8000"),
        (Address(INET6, "::1", 80), None, "http://[::1]:80"),
        (Address(UNIX, "/tmp/s", 0), None, "unix:/tmp/s"),
    ],
)
def test_address_url(address: Address, port: int | None, url: str) -> None:
    assert address.url(port) == url


def test_sockets_read_family_and_type_as_plain_ints() -> None:
    """socket.socket's properties build an enum per read; uvloop reads both per connection."""
    from beemo.server.listeners import Socket

    listening = Socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        assert type(listening.family) is int and listening.family == socket.AF_INET
        assert type(listening.type) is int and listening.type == socket.SOCK_STREAM
        assert isinstance(listening, socket.socket)  # uvloop detaches socket.socket on close
    finally:
        listening.close()
