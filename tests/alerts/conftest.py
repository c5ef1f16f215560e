"""A real HTTP receiver on localhost (a tiny server in a thread) that records every POST, can be
told to refuse the first few, and a clock the tests move by hand."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

T0 = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    refused: list[Received] = field(default_factory=list)
    refuse_next: int = 0  # answer 503 to this many requests before accepting
    condition: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def wait_for(self, count: int, *, timeout: float = 15.0) -> list[Received]:
        with self.condition:
            self.condition.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            item = Received(self.path, dict(self.headers.items()), json.loads(self.rfile.read(length)))
            with receiver.condition:
                refuse = receiver.refuse_next > 0
                if refuse:
                    receiver.refuse_next -= 1
                    receiver.refused.append(item)
                else:
                    receiver.received.append(item)
                receiver.condition.notify_all()
            self.send_response(503 if refuse else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    found = Receiver(server=server)
    server.RequestHandlerClass = _handler(found)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


class Clock:
    """``clock()`` is the time the test set; ``advance`` moves it."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()
