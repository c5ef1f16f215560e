"""A real SMTP server on loopback (aiosmtpd) that keeps the messages it receives, for the report
mail tests: ``with smtp_server() as server: ... server.messages``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import prometheusservers


@dataclass
class Received:
    port: int
    raw: list[bytes] = field(default_factory=list)

    @property
    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(raw, policy=policy.default) for raw in self.raw]  # type: ignore[misc]


class _Keeping:
    def __init__(self, received: Received) -> None:
        self.received = received

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.received.raw.append(envelope.content)
        return "250 OK"


@contextmanager
def smtp_server(port: int | None = None) -> Iterator[Received]:
    from aiosmtpd.controller import Controller

    received = Received(port or prometheusservers.free_port())
    controller = Controller(_Keeping(received), hostname="127.0.0.1", port=received.port)
    controller.start()
    try:
        yield received
    finally:
        controller.stop()
