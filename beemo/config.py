"""The one frozen `Config`: every setting is declared here once.

Each field carries its command-line flags, its help text and how to parse it from a string;
`beemo.cli` builds the argument parser and reads the `BEEMO_*` environment from that metadata,
so a setting is never spelled twice. Precedence: command line > environment > defaults.
Config does no I/O; components receive the Config or a frozen slice of it (`Limits`, `Timeouts`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from beemo.errors import ConfigError

__all__ = ["Config", "Limits", "Option", "Timeouts", "options"]

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
INTERFACES = ("auto", "wsgi", "asgi", "asgi2")
LOOPS = ("auto", "asyncio", "uvloop")
LIFESPANS = ("auto", "on", "off")
POLLERS = ("auto", "epoll", "select")


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected a boolean (true/false), got {text!r}")


def _parse_words(text: str) -> tuple[str, ...]:
    return tuple(text.replace(",", " ").split())


@dataclass(frozen=True, slots=True)
class Option:
    """How one Config field appears on the command line and in the environment."""

    flags: tuple[str, ...]
    help: str
    parse: Callable[[str], Any] = str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    kind: str = "value"  # "value", "flag" (on/off pair), "append" or "positional"
    env: bool = True


def _setting(default: Any, option: Option) -> Any:
    return field(default=default, metadata={"option": option})


@dataclass(frozen=True, slots=True)
class Limits:
    """Request size limits, in bytes and counts (gunicorn's names and defaults)."""

    request_line: int = 4094
    request_fields: int = 100
    request_field_size: int = 8190
    request_body: int = 0  # 0: no limit

    @property
    def max_head_size(self) -> int:
        """The most bytes a request head may take before it is refused (431)."""
        return self.request_line + self.request_fields * (self.request_field_size + 2) + 4


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long Beemo waits, in seconds."""

    keep_alive: float = 5.0
    client: float = 30.0
    graceful: float = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """Everything a Beemo server needs to know, validated at construction."""

    app: str = _setting(
        "",
        Option(
            ("app",),
            "the application, as MODULE:ATTRIBUTE",
            metavar="MODULE:ATTR",
            kind="positional",
            env=False,
        ),
    )
    factory: bool = _setting(
        False,
        Option(
            ("--factory",),
            "treat APP as a factory: call it with no arguments to get the app",
            parse=_parse_bool,
            kind="flag",
        ),
    )
    interface: str = _setting(
        "auto",
        Option(
            ("--interface",),
            "application interface: auto tells WSGI, ASGI 3 and ASGI 2 apps apart",
            choices=INTERFACES,
        ),
    )
    loop: str = _setting(
        "auto",
        Option(
            ("--loop",),
            "ASGI event loop: auto uses uvloop when it is installed",
            choices=LOOPS,
        ),
    )
    lifespan: str = _setting(
        "auto",
        Option(
            ("--lifespan",),
            "ASGI lifespan: auto runs it when the app supports it, on requires it",
            choices=LIFESPANS,
        ),
    )
    ws_max_size: int = _setting(
        16777216,
        Option(
            ("--ws-max-size",),
            "largest WebSocket message in bytes (close 1009 beyond)",
            parse=int,
            metavar="BYTES",
        ),
    )
    ws_ping_interval: float = _setting(
        20.0,
        Option(
            ("--ws-ping-interval",),
            "seconds between WebSocket pings, 0 for none",
            parse=float,
            metavar="SECONDS",
        ),
    )
    ws_ping_timeout: float = _setting(
        20.0,
        Option(
            ("--ws-ping-timeout",),
            "seconds to wait for a WebSocket pong before closing, 0 to wait forever",
            parse=float,
            metavar="SECONDS",
        ),
    )
    ws_per_message_deflate: bool = _setting(
        True,
        Option(
            ("--ws-per-message-deflate",),
            "offer the permessage-deflate WebSocket extension",
            parse=_parse_bool,
            kind="flag",
        ),
    )
    bind: tuple[str, ...] = _setting(
        ("127.0.0.1:8000",),
        Option(
            ("--bind", "-b"),
            "where to listen: HOST:PORT, [IPV6]:PORT or unix:PATH (repeatable)",
            parse=_parse_words,
            metavar="ADDRESS",
            kind="append",
        ),
    )
    threads: int = _setting(
        1,
        Option(
            ("--threads",),
            "worker threads running the event loop and the app",
            parse=int,
            metavar="N",
        ),
    )
    backlog: int = _setting(
        2048,
        Option(("--backlog",), "listen() backlog of pending connections", parse=int, metavar="N"),
    )
    chdir: str = _setting(
        "", Option(("--chdir",), "change to this directory before loading the app", metavar="DIR")
    )
    root_path: str = _setting(
        "",
        Option(
            ("--root-path",),
            "URL prefix the app is mounted at (WSGI SCRIPT_NAME, ASGI root_path)",
            metavar="PATH",
        ),
    )
    log_level: str = _setting(
        "info", Option(("--log-level",), "error log level", choices=LOG_LEVELS)
    )
    access_log: bool = _setting(
        False,
        Option(
            ("--access-log",),
            "write one line per request to stdout",
            parse=_parse_bool,
            kind="flag",
        ),
    )
    keep_alive: float = _setting(
        5.0,
        Option(
            ("--keep-alive",),
            "seconds an idle keep-alive connection waits for its next request",
            parse=float,
            metavar="SECONDS",
        ),
    )
    client_timeout: float = _setting(
        30.0,
        Option(
            ("--client-timeout",),
            "seconds to wait on a client that owes bytes (a request head or "
            "body, or reading the response)",
            parse=float,
            metavar="SECONDS",
        ),
    )
    graceful_timeout: float = _setting(
        30.0,
        Option(
            ("--graceful-timeout",),
            "seconds in-flight requests get to finish on shutdown",
            parse=float,
            metavar="SECONDS",
        ),
    )
    limit_request_line: int = _setting(
        4094,
        Option(
            ("--limit-request-line",),
            "longest request line in bytes (414 beyond)",
            parse=int,
            metavar="BYTES",
        ),
    )
    limit_request_fields: int = _setting(
        100,
        Option(
            ("--limit-request-fields",),
            "most header fields in a request (431 beyond)",
            parse=int,
            metavar="N",
        ),
    )
    limit_request_field_size: int = _setting(
        8190,
        Option(
            ("--limit-request-field-size",),
            "largest header field in bytes (431 beyond)",
            parse=int,
            metavar="BYTES",
        ),
    )
    limit_request_body: int = _setting(
        0,
        Option(
            ("--limit-request-body",),
            "largest request body in bytes, 0 for no limit (413 beyond)",
            parse=int,
            metavar="BYTES",
        ),
    )
    poller: str = _setting(
        "auto",
        Option(
            ("--poller",),
            "event backend: epoll (Linux) or select (portable); auto picks the "
            "platform's, or $BEEMO_POLLER",
            choices=POLLERS,
            env=False,
        ),
    )

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {self.threads}")
        if self.backlog < 1:
            raise ConfigError(f"--backlog must be at least 1, got {self.backlog}")
        if not self.bind:
            raise ConfigError("--bind needs at least one address")
        if self.ws_max_size < 1:
            raise ConfigError(f"--ws-max-size must be at least 1, got {self.ws_max_size}")
        for name in (
            "keep_alive",
            "client_timeout",
            "graceful_timeout",
            "ws_ping_interval",
            "ws_ping_timeout",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must not be negative")
        for name in ("limit_request_line", "limit_request_fields", "limit_request_field_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        if self.limit_request_body < 0:
            raise ConfigError("--limit-request-body must not be negative")
        choices = {
            "interface": INTERFACES,
            "log_level": LOG_LEVELS,
            "poller": POLLERS,
            "loop": LOOPS,
            "lifespan": LIFESPANS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be one of "
                    f"{', '.join(allowed)}, got {getattr(self, name)!r}"
                )

    @property
    def limits(self) -> Limits:
        return Limits(
            self.limit_request_line,
            self.limit_request_fields,
            self.limit_request_field_size,
            self.limit_request_body,
        )

    @property
    def timeouts(self) -> Timeouts:
        return Timeouts(self.keep_alive, self.client_timeout, self.graceful_timeout)


def options() -> list[tuple[str, Option, Any]]:
    """Every setting as (field name, its Option, its default), in declaration order."""
    return [(f.name, f.metadata["option"], f.default) for f in fields(Config)]
