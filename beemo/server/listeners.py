"""Listening sockets: parse `--bind` addresses, then bind and listen, non-blocking.

Accepted forms: HOST:PORT, :PORT (0.0.0.0), PORT (127.0.0.1), HOST (port 8000), [IPV6]:PORT
and unix:PATH. A mistake is a `ConfigError` with one clear line.
"""

from __future__ import annotations

import _socket
import contextlib
import errno
import os
import socket
import stat
from dataclasses import dataclass

from beemo.errors import ConfigError

__all__ = ["Address", "Listener", "Socket", "bind", "parse_address"]

# Windows' socket module may lack AF_UNIX; -1 matches no real family there.
_AF_UNIX: int = getattr(socket, "AF_UNIX", -1)


class Socket(socket.socket):
    """A listening or accepted socket whose `family` and `type` read as plain ints.

    socket.socket's own properties build an enum member on each read, and socket.accept()
    and uvloop's connect_accepted_socket read them several times per connection: about a
    tenth of what a short connection costs the acceptor and the loop together.
    """

    __slots__ = ()
    family = _socket.socket.family  # type: ignore[assignment]
    type = _socket.socket.type  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Address:
    family: socket.AddressFamily
    host: str  # the unix socket path for AF_UNIX
    port: int

    def url(self, port: int | None = None) -> str:
        if self.family == _AF_UNIX:
            return f"unix:{self.host}"
        host = f"[{self.host}]" if self.family == socket.AF_INET6 else self.host
        return f"http://{host}:{self.port if port is None else port}"


@dataclass(frozen=True, slots=True)
class Listener:
    sock: socket.socket
    address: Address
    server_name: str  # SERVER_NAME and SERVER_PORT of requests accepted here
    server_port: int

    @property
    def url(self) -> str:
        return self.address.url(self.server_port)

    @property
    def unix(self) -> bool:
        return self.address.family == _AF_UNIX


def parse_address(text: str) -> Address:
    """Parse one --bind value; ConfigError when it is not a valid address."""
    if not text.strip():
        raise ConfigError("empty bind address")
    if text.startswith("unix:"):
        path = text[5:]
        if not path or _AF_UNIX == -1:
            raise ConfigError(f"bad bind address {text!r}: expected unix:PATH")
        return Address(socket.AddressFamily(_AF_UNIX), path, 0)
    family = socket.AF_INET
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ConfigError(f"bad bind address {text!r}: expected [IPV6]:PORT")
        port_text = rest[1:] if rest else "8000"
        family = socket.AF_INET6
    elif text.count(":") > 1:
        raise ConfigError(f"bad bind address {text!r}: put IPv6 addresses in brackets, [::1]:8000")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            host, port_text = (
                ("127.0.0.1", text) if text.isascii() and text.isdigit() else (text, "8000")
            )
        host = host or "0.0.0.0"
    if not port_text.isascii() or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"bad bind address {text!r}: the port must be a number 0-65535")
    return Address(family, host, int(port_text))


def bind(text: str, backlog: int) -> Listener:
    """Create a non-blocking listening socket for one --bind value."""
    address = parse_address(text)
    if address.family == _AF_UNIX:
        return _bind_unix(address, backlog)
    try:
        infos = socket.getaddrinfo(
            address.host, address.port, address.family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )
    except socket.gaierror:
        raise ConfigError(f"cannot bind {text}: unknown host {address.host!r}") from None
    family, kind, proto, _, sockaddr = infos[0]
    sock = Socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot bind {text}: {_reason(exc)}") from None
    sock.setblocking(False)
    bound = sock.getsockname()
    return Listener(sock, address, str(bound[0]), int(bound[1]))


def _bind_unix(address: Address, backlog: int) -> Listener:
    path = address.host
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.stat(path).st_mode) and not _in_use(path):
            os.unlink(path)  # a stale socket left by a server that died
    sock = Socket(_AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot bind unix:{path}: {_reason(exc)}") from None
    sock.setblocking(False)
    return Listener(sock, address, path, 0)


def _in_use(path: str) -> bool:
    probe = socket.socket(_AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "address already in use"
    if exc.errno == errno.EACCES:
        return "permission denied"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "address not available on this machine"
    return exc.strerror or str(exc)
