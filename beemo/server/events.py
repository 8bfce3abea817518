"""The events API: register interest in a socket and be told, once, when it is ready.

The contract is `beemo.os.contract.Poller`; `create_poller` picks the OS backend. This module is
what the layers above import, so none of them reaches into `beemo.os` for events.
"""

from __future__ import annotations

from beemo.os import create_poller, poller_name
from beemo.os.contract import READ, WRITE, Poller

__all__ = ["READ", "WRITE", "Poller", "create_poller", "poller_name"]
