"""WebSocket (RFC 6455) once a connection has switched: the `websockets` library's sans-I/O
protocol, wrapped into typed values. Bytes in, messages out; messages in, bytes out.

The handshake request was parsed by Beemo's HTTP layer (one HTTP parser): `handshake` checks
it with the library (key, version, extensions such as permessage-deflate) and answers with the
101's header fields, or with the refusal to send instead. Frames are then assembled into whole
messages (`TextMessage`, `BinaryMessage`) here; pings are answered by the library; a close
from either side ends in `closed` with the code to report.

`websockets` is optional (the `standard` extra): `AVAILABLE` tells whether it imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from beemo.server.http.messages import Header, RequestHead

try:
    from websockets.datastructures import Headers
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
    from websockets.frames import Opcode
    from websockets.http11 import Request
    from websockets.protocol import State
    from websockets.server import ServerProtocol

    AVAILABLE = True
except ImportError:  # the `standard` extra is not installed
    AVAILABLE = False

__all__ = [
    "AVAILABLE",
    "BinaryMessage",
    "Refusal",
    "TextMessage",
    "WebSocketSession",
]


class TextMessage(NamedTuple):
    data: str


class BinaryMessage(NamedTuple):
    data: bytes


class Refusal(NamedTuple):
    """The HTTP response that refuses a broken handshake."""

    status: int
    headers: tuple[Header, ...]
    body: bytes


Message = TextMessage | BinaryMessage


class WebSocketSession:
    """One WebSocket connection's protocol state.

    Args:
        max_size: the largest message accepted (a bigger one closes with 1009).
        per_message_deflate: offer the permessage-deflate extension.
    """

    def __init__(self, max_size: int, per_message_deflate: bool) -> None:
        extensions = [ServerPerMessageDeflateFactory()] if per_message_deflate else None
        self._protocol = ServerProtocol(
            extensions=extensions,
            select_subprotocol=_no_subprotocol,  # the app chooses, in websocket.accept
            max_size=max_size,
        )
        self._fragments: list[bytes] = []
        self._fragment_kind: Any = None
        self.pongs = 0  # pong frames received (the driver's ping timer reads it)

    def handshake(
        self, request: RequestHead, subprotocol: str | None, headers: Sequence[Header]
    ) -> tuple[Header, ...] | Refusal:
        """Check the handshake request: the 101's header fields to switch with, or the
        refusal to send instead. `subprotocol` and `headers` are the app's."""
        target = request.target.decode("latin-1")
        fields = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers])
        protocol = self._protocol
        response = protocol.accept(Request(target, fields))
        if response.status_code != 101:
            pairs = tuple(
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in response.headers.raw_items()
                if k.lower() not in ("date", "connection", "content-length")
            )
            return Refusal(response.status_code, pairs, bytes(response.body or b""))
        protocol.send_response(response)
        protocol.data_to_send()  # the library's own 101 rendering: Beemo's HTTP layer renders
        # The handshake parser the library started at construction waits for a request line
        # Beemo already parsed; in OPEN state a fresh one reads frames from the first byte.
        protocol.parser = protocol.parse()
        next(protocol.parser)
        out = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in response.headers.raw_items()
            if k.lower() not in ("date", "connection")
        ]
        if subprotocol is not None:
            out.append((b"sec-websocket-protocol", subprotocol.encode("latin-1")))
        out.extend(headers)
        return tuple(out)

    def receive(self, data: bytes) -> list[Message]:
        """Feed bytes from the client (b"" at EOF): the whole messages they completed."""
        protocol = self._protocol
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        messages: list[Message] = []
        try:
            self._assemble(protocol.events_received(), messages)
        except _InvalidText:
            pass  # the protocol failed with 1007: nothing after the bad message counts
        return messages

    def _assemble(self, frames: list[Any], messages: list[Message]) -> None:
        for frame in frames:
            opcode = frame.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                if frame.fin:
                    messages.append(self._message(opcode, frame.data))
                else:
                    self._fragment_kind = opcode
                    self._fragments = [frame.data]
            elif opcode is Opcode.CONT:
                self._fragments.append(frame.data)
                if frame.fin:
                    data, self._fragments = b"".join(self._fragments), []
                    messages.append(self._message(self._fragment_kind, data))
            elif opcode is Opcode.PONG:
                self.pongs += 1

    def _message(self, opcode: Any, data: bytes) -> Message:
        if opcode is Opcode.BINARY:
            return BinaryMessage(bytes(data))
        try:
            return TextMessage(bytes(data).decode("utf-8"))
        except UnicodeDecodeError:
            self._protocol.fail(1007, "invalid UTF-8 in a text message")  # RFC 6455 8.1
            raise _InvalidText() from None

    def send(self, data: str | bytes) -> None:
        if isinstance(data, str):
            self._protocol.send_text(data.encode("utf-8"))
        else:
            self._protocol.send_binary(data)

    def ping(self, payload: bytes) -> None:
        self._protocol.send_ping(payload)

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake (a no-op once it has started)."""
        if self._protocol.state is State.OPEN:
            self._protocol.send_close(code, reason)

    def fail(self, code: int, reason: str) -> None:
        """Close at once, without waiting for the client's close frame."""
        if self._protocol.state is State.OPEN:
            self._protocol.fail(code, reason)

    def data_to_send(self) -> bytes:
        """The bytes to write now; b"" when there are none (an EOF marker is dropped: the
        driver closes the transport when `closed`)."""
        return b"".join(self._protocol.data_to_send())

    @property
    def open(self) -> bool:
        return self._protocol.state is State.OPEN

    @property
    def closed(self) -> bool:
        """True once the close handshake is complete (or the protocol failed)."""
        # The library's server sends its EOF exactly then; close_expected() is True as soon
        # as a close frame went out, before the client could answer it.
        return self._protocol.state is State.CLOSED or self._protocol.eof_sent

    @property
    def close_code(self) -> tuple[int, str]:
        """The code and reason to report to the app: the client's close frame, else 1006."""
        received = self._protocol.close_rcvd
        if received is not None:
            return int(received.code), received.reason
        sent = self._protocol.close_sent
        if sent is not None:
            return int(sent.code), sent.reason
        return 1006, ""


class _InvalidText(Exception):
    pass


def _no_subprotocol(protocol: Any, subprotocols: Sequence[str]) -> None:
    return None
