"""Logging setup: gunicorn's line format for the error log (stderr) and the access log (stdout).

[2026-11-27 21:34:14 +0000] [1234] [INFO] Listening at: http://127.0.0.1:8000 (1234)
"""

from __future__ import annotations

import logging
import sys

__all__ = ["configure"]

_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
_DATE = "%Y-%m-%d %H:%M:%S %z"


def configure(level: str, access_log: bool) -> None:
    """Send "beemo.error" to stderr at `level`, and "beemo.access" to stdout when enabled."""
    error = logging.getLogger("beemo.error")
    error.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT, _DATE))
    error.addHandler(handler)
    error.setLevel(level.upper())
    error.propagate = False

    access = logging.getLogger("beemo.access")
    access.handlers.clear()
    access.propagate = False
    if access_log:
        out = logging.StreamHandler(sys.stdout)
        out.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(out)
        access.setLevel(logging.INFO)
    else:
        access.setLevel(logging.CRITICAL + 1)
