"""The access log: one line per response, in gunicorn's default (Apache combined) format plus
the request time in seconds:

    127.0.0.1 - - [27/Nov/2026:21:34:14 +0000] "GET / HTTP/1.1" 200 64 "-" "curl/8.0" 0.000412

The time of day comes in as text (refreshed once a second by T0), so this stays sans-I/O.
"""

from __future__ import annotations

import logging

from beemo.server.http.messages import RequestHead

__all__ = ["log_access"]

access_log = logging.getLogger("beemo.access")


def log_access(
    request: RequestHead, client: object, status: int, size: int, seconds: float, when: str
) -> None:
    """Write the access-log line of one response (only called when the access log is on)."""
    referer = user_agent = b"-"
    for name, value in request.headers:
        lowered = name.lower()
        if lowered == b"referer":
            referer = value
        elif lowered == b"user-agent":
            user_agent = value
    address = client[0] if isinstance(client, tuple) else "-"
    access_log.info(
        '%s - - [%s] "%s %s HTTP/%s" %d %d "%s" "%s" %.6f',
        address,
        when,
        request.method,
        request.target.decode("latin-1"),
        request.http_version,
        status,
        size,
        referer.decode("latin-1"),
        user_agent.decode("latin-1"),
        seconds,
    )
