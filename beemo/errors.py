"""The one exception hierarchy of Beemo.

Every error Beemo raises on purpose is a `BeemoError`. Each class is defined here once; callers
pick the response or the exit code from the exception, never from a ladder of `except` clauses.
"""

from __future__ import annotations

__all__ = [
    "AppLoadError",
    "AppProtocolError",
    "BeemoError",
    "ClientDisconnected",
    "ConfigError",
    "LifespanFailure",
    "ProtocolError",
    "StateError",
]


class BeemoError(Exception):
    """Base class of every error Beemo raises on purpose."""


class ProtocolError(BeemoError):
    """The peer broke HTTP/1.1: answer with `status`, then close the connection.

    Args:
        status: the 4xx/5xx status code the client gets.
        message: a short reason, sent as the response body and logged at debug level.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ClientDisconnected(BeemoError, OSError):
    """The client went away (reset, EOF or a timeout) while it still owed or was owed bytes.

    An `OSError`, as the ASGI spec asks of a `send` on a closed connection (and as an app
    reading WSGI's `wsgi.input` expects of a broken socket)."""


class ConfigError(BeemoError):
    """A configuration or command-line mistake: printed as one line, exit status 2."""

    exit_status = 2


class AppLoadError(BeemoError):
    """The application named on the command line cannot be imported or is not callable."""

    exit_status = 1


class AppProtocolError(BeemoError):
    """The application broke its interface contract (PEP 3333): a 500, and an error log entry."""


class LifespanFailure(BeemoError):
    """The app's lifespan startup failed: Beemo stops with the app's message, exit status 3."""

    exit_status = 3


class StateError(BeemoError):
    """A layer asked the HTTP state machine for a move its transition table forbids."""
